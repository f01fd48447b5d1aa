/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dataplane_store.c: the data plane wired to real piece stores, the way the daemon wires it:
 * one loop runs an upload server whose pieces come from store A and a fetcher that writes
 * into store B (O_DIRECT where aligned), publishing each piece to the server as it lands. The
 * result is exported from store B and compared with the source byte for byte.
 */
#include "vx_test.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "dataplane_harness.h"
#include "vx_fetcher.h"
#include "vx_ring.h"
#include "vx_store.h"
#include "vx_store_glue.h"
#include "vx_time.h"

struct ctx {
	struct vx_upload *up;
	int done;
	int status;
	uint32_t published;
};

static void on_piece(void *arg, uint32_t n)
{
	struct ctx *c = arg;

	c->published++;
	vx_upload_piece_finished(c->up, VX_H_TASK_ID, n);
}

static void on_done(void *arg, int status)
{
	struct ctx *c = arg;

	c->done = 1;
	c->status = status;
}

static struct vx_store *open_store(const char *dir)
{
	struct vx_store_cfg cfg;
	struct vx_store *s = NULL;

	vx_store_cfg_init(&cfg);
	cfg.dir = dir;
	cfg.no_sync = true;
	assert_int_equal(vx_store_open(&s, &cfg), 0);
	return s;
}

static void run(uint64_t len, uint64_t piece)
{
	char dir[PATH_MAX], a[PATH_MAX + 8], b[PATH_MAX + 8], src[PATH_MAX + 8], out[PATH_MAX + 8];
	struct vx_store_task_params p = { 0 };
	struct vx_store *sa, *sb;
	struct vx_store_task *ta, *tb;
	struct vx_upload_cfg ucfg;
	struct vx_fetcher_cfg fcfg;
	struct vx_fetcher *f = NULL;
	struct vx_loop *loop = NULL;
	struct sockaddr_storage ss;
	struct ctx c = { 0 };
	uint32_t count = (uint32_t)((len + piece - 1) / piece), n, *crc;
	uint64_t deadline;
	uint8_t *content;
	socklen_t sl;
	int fd;

	vx_h_tmpdir(dir);
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	vx_h_write_pattern(src, len, 5);
	content = malloc(len ? len : 1);
	crc = calloc(count + 1, sizeof(*crc));
	fd = open(src, O_RDONLY);
	assert_int_equal(read(fd, content, len), (ssize_t)len);
	close(fd);

	/* Store A holds the task complete, written through the store's blocking form. */
	sa = open_store(a);
	p.id = VX_H_TASK_ID;
	p.content_length = len;
	p.piece_length = piece;
	p.kind = VX_STORE_KIND_NORMAL;
	assert_int_equal(vx_store_task_open(sa, &p, VX_STORE_USE_DOWNLOAD, &ta), 0);
	for (n = 0; n < count; n++) {
		uint64_t off = (uint64_t)n * piece, l = len - off < piece ? len - off : piece;

		crc[n] = (uint32_t)crc32(0, content + off, (uInt)l);
		assert_int_equal(vx_store_piece_write(ta, n, content + off, l, true, crc[n], NULL),
				 0);
	}
	vx_store_task_release(ta, VX_STORE_USE_DOWNLOAD);

	/* Store B gets an empty task; the fetcher fills it. */
	sb = open_store(b);
	assert_int_equal(vx_store_task_open(sb, &p, VX_STORE_USE_DOWNLOAD, &tb), 0);

	assert_int_equal(vx_loop_new(&loop, NULL), 0);
	vx_upload_cfg_init(&ucfg);
	((struct sockaddr_in *)&ucfg.addr)->sin_port = 0;
	ucfg.ops = vx_store_glue_source_ops();
	ucfg.ops_ctx = sa;
	assert_int_equal(vx_upload_new(&c.up, loop, &ucfg), 0);
	vx_upload_local_addr(c.up, &ss, &sl);

	vx_fetcher_cfg_init(&fcfg);
	fcfg.task_id = VX_H_TASK_ID;
	fcfg.content_length = len;
	fcfg.piece_length = piece;
	fcfg.piece_crc32 = crc;
	fcfg.sink = vx_store_glue_sink_ops();
	fcfg.sink_ctx = tb;
	fcfg.chunk_bytes = 16384;
	fcfg.on_piece = on_piece;
	fcfg.on_done = on_done;
	fcfg.cb_arg = &c;
	assert_int_equal(vx_fetcher_new(&f, loop, &fcfg), 0);
	assert_int_equal(vx_fetcher_add_parent(f, (struct sockaddr *)&ss, sl, "store-a"), 0);
	deadline = vx_now_ms() + 60000;
	while (!c.done && vx_now_ms() < deadline)
		assert_true(vx_loop_run_once(loop, 50) >= 0);
	assert_int_equal(c.done, 1);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.published, count);
	while (!vx_fetcher_idle(f))
		assert_true(vx_loop_run_once(loop, 10) >= 0);
	vx_fetcher_free(f);
	vx_upload_shutdown(c.up);
	while (!vx_upload_idle(c.up))
		assert_true(vx_loop_run_once(loop, 10) >= 0);
	vx_upload_free(c.up);
	vx_loop_free(loop);

	for (n = 0; n < count; n++)
		assert_true(vx_store_piece_is_finished(tb, n));
	assert_int_equal(vx_store_task_export(tb, out, VX_STORE_EXPORT_NO_LINK), 0);
	assert_true(vx_h_files_equal(src, out));
	vx_store_task_release(tb, VX_STORE_USE_DOWNLOAD);
	vx_store_close(sb);
	vx_store_close(sa);
	free(content);
	free(crc);
	vx_h_rmtree(dir);
}

static void test_vx_store_glue__store_to_store(void **state)
{
	(void)state;
	run(5 * 65536 + 4097, 65536);
	run(1, 65536);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_store_glue__store_to_store),
	};
	char diag[256];

	if (vx_ring_probe(diag, sizeof(diag)) < 0) {
		fprintf(stderr, "skip: %s\n", diag);
		return VX_TEST_SKIP;
	}
	return cmocka_run_group_tests_name("dataplane_store", tests, NULL, NULL);
}
