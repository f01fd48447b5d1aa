/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dataplane_alloc.c: every allocation of the data plane's constructors fails in turn
 * (vx_fault_arm): each must return -ENOMEM with nothing leaked (ASan's leak check runs at
 * exit) and nothing left armed on the loop, and the first run that gets all its memory must
 * work and shut down cleanly.
 */
#include "vx_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_alloc.h"
#include "vx_fetcher.h"
#include "vx_loop.h"
#include "vx_ring.h"
#include "vx_upload.h"

#define TASK "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int fake_get(void *ctx, const char *task_id, uint32_t number, struct vx_upload_piece *out)
{
	(void)ctx;
	(void)task_id;
	(void)number;
	(void)out;
	return -ENOENT;
}

static void fake_put(void *ctx, struct vx_upload_piece *p)
{
	(void)ctx;
	(void)p;
}

static const struct vx_upload_source_ops fake_source = { .get = fake_get, .put = fake_put };

static int fake_begin(void *ctx, uint32_t number, struct vx_fetch_piece_io *io)
{
	(void)ctx;
	(void)number;
	(void)io;
	return -EIO;
}

static int fake_commit(void *ctx, uint32_t number, uint32_t crc32, const char *parent_id)
{
	(void)ctx;
	(void)number;
	(void)crc32;
	(void)parent_id;
	return 0;
}

static void fake_abort(void *ctx, uint32_t number, int err)
{
	(void)ctx;
	(void)number;
	(void)err;
}

static const struct vx_fetch_sink_ops fake_sink = {
	.begin = fake_begin,
	.commit = fake_commit,
	.abort = fake_abort,
};

static void test_vx_loop_new__every_alloc_fails(void **state)
{
	unsigned long n;

	(void)state;
	for (n = 1; n < 64; n++) {
		struct vx_loop *loop = NULL;
		int ret;

		vx_fault_arm(VX_FAULT_ALLOC, n);
		ret = vx_loop_new(&loop, NULL);
		vx_fault_arm(VX_FAULT_ALLOC, 0);
		if (ret == 0) {
			assert_true(n > 1); /* the faults really fired */
			vx_loop_free(loop);
			return;
		}
		assert_int_equal(ret, -ENOMEM);
		assert_null(loop);
	}
	fail_msg("vx_loop_new never succeeded");
}

static void test_vx_upload_new__every_alloc_fails(void **state)
{
	struct vx_loop *loop = NULL;
	unsigned long n;

	(void)state;
	assert_int_equal(vx_loop_new(&loop, NULL), 0);
	for (n = 1; n < 64; n++) {
		struct vx_upload_cfg cfg;
		struct vx_upload *up = NULL;
		int ret;

		vx_upload_cfg_init(&cfg);
		((struct sockaddr_in *)&cfg.addr)->sin_port = 0;
		cfg.ops = &fake_source;
		cfg.max_conns = 8;
		cfg.max_sends = 2;
		vx_fault_arm(VX_FAULT_ALLOC, n);
		ret = vx_upload_new(&up, loop, &cfg);
		vx_fault_arm(VX_FAULT_ALLOC, 0);
		if (ret == 0) {
			assert_true(n > 3);
			vx_upload_shutdown(up);
			while (!vx_upload_idle(up))
				assert_true(vx_loop_run_once(loop, 10) >= 0);
			vx_upload_free(up);
			assert_int_equal(vx_loop_inflight(loop), 0);
			vx_loop_free(loop);
			return;
		}
		assert_int_equal(ret, -ENOMEM);
		assert_null(up);
		assert_int_equal(vx_loop_inflight(loop), 0);
	}
	fail_msg("vx_upload_new never succeeded");
}

static void test_vx_fetcher_new__every_alloc_fails(void **state)
{
	static const uint32_t crcs[3] = { 1, 2, 3 };
	struct vx_loop *loop = NULL;
	unsigned long n;

	(void)state;
	assert_int_equal(vx_loop_new(&loop, NULL), 0);
	for (n = 1; n < 256; n++) {
		struct vx_fetcher_cfg cfg;
		struct vx_fetcher *f = NULL;
		int ret;

		vx_fetcher_cfg_init(&cfg);
		cfg.task_id = TASK;
		cfg.content_length = 3 * 4096;
		cfg.piece_length = 4096;
		cfg.piece_crc32 = crcs;
		cfg.sink = &fake_sink;
		cfg.max_parents = 2;
		cfg.buffers = 2;
		cfg.chunk_bytes = 4096;
		vx_fault_arm(VX_FAULT_ALLOC, n);
		ret = vx_fetcher_new(&f, loop, &cfg);
		vx_fault_arm(VX_FAULT_ALLOC, 0);
		if (ret == 0) {
			assert_true(n > 10);
			vx_fetcher_cancel(f);
			while (!vx_fetcher_idle(f))
				assert_true(vx_loop_run_once(loop, 10) >= 0);
			vx_fetcher_free(f);
			vx_loop_free(loop);
			return;
		}
		assert_int_equal(ret, -ENOMEM);
		assert_null(f);
	}
	fail_msg("vx_fetcher_new never succeeded");
}

static void test_vx_fetcher_new__rejects_bad_cfg(void **state)
{
	static const uint32_t crcs[1] = { 0 };
	struct vx_loop *loop = NULL;
	struct vx_fetcher_cfg cfg;
	struct vx_fetcher *f = NULL;

	(void)state;
	assert_int_equal(vx_loop_new(&loop, NULL), 0);
	vx_fetcher_cfg_init(&cfg);
	cfg.task_id = "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef";
	cfg.content_length = 10;
	cfg.piece_length = 4096;
	cfg.piece_crc32 = crcs;
	cfg.sink = &fake_sink;
	assert_int_equal(vx_fetcher_new(&f, loop, &cfg), -EINVAL); /* uppercase id */
	cfg.task_id = TASK;
	cfg.request_tag = 1; /* a content tag is not a request */
	assert_int_equal(vx_fetcher_new(&f, loop, &cfg), -EINVAL);
	cfg.request_tag = 0;
	cfg.chunk_bytes = 1000; /* not a multiple of 4096 */
	assert_int_equal(vx_fetcher_new(&f, loop, &cfg), -EINVAL);
	cfg.chunk_bytes = 4096;
	cfg.pipeline_depth = 17;
	assert_int_equal(vx_fetcher_new(&f, loop, &cfg), -EINVAL);
	assert_null(f);
	vx_loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_loop_new__every_alloc_fails),
		cmocka_unit_test(test_vx_upload_new__every_alloc_fails),
		cmocka_unit_test(test_vx_fetcher_new__every_alloc_fails),
		cmocka_unit_test(test_vx_fetcher_new__rejects_bad_cfg),
	};
	char diag[256];

	if (vx_ring_probe(diag, sizeof(diag)) < 0) {
		fprintf(stderr, "skip: %s\n", diag);
		return VX_TEST_SKIP;
	}
	return cmocka_run_group_tests_name("dataplane_alloc", tests, NULL, NULL);
}
