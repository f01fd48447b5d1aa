/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dataplane_fetch_big.c: a sparse file of more than 4 GiB (offsets past 32 bits, a piece
 * length of 64 MiB, a last piece shorter than the rest) moved from a vx upload server to the
 * fetcher over loopback, with O_DIRECT writes, and compared byte for byte.
 */
#include "vx_test.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane_harness.h"
#include "vx_fetcher.h"
#include "vx_ring.h"
#include "vx_time.h"

#define BIG_LEN	  ((4ull << 30) + (100ull << 20) + 12345)
#define BIG_PIECE (64ull << 20)

struct big_dl {
	int done;
	int status;
	uint32_t pieces;
};

static void on_piece(void *arg, uint32_t n)
{
	struct big_dl *d = arg;

	(void)n;
	d->pieces++;
}

static void on_done(void *arg, int status)
{
	struct big_dl *d = arg;

	d->done = 1;
	d->status = status;
}

static void write_island(int fd, uint64_t off, uint32_t seed)
{
	static uint8_t buf[1 << 20];
	uint64_t x = seed;
	size_t i;

	for (i = 0; i < sizeof(buf); i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		buf[i] = (uint8_t)(x >> 56);
	}
	assert_int_equal(pwrite(fd, buf, sizeof(buf), (off_t)off), (ssize_t)sizeof(buf));
}

static void test_vx_fetcher__sparse_file_over_4gib(void **state)
{
	struct vx_file_task_cfg tcfg = { 0 };
	struct vx_file_task *seed = NULL, *dst = NULL;
	struct vx_fetcher_cfg cfg;
	struct vx_fetcher *f = NULL;
	struct vx_loop *loop = NULL;
	struct vx_h_server srv;
	struct big_dl d = { 0 };
	char dir[PATH_MAX], src[PATH_MAX + 16], out[PATH_MAX + 16];
	uint64_t deadline;
	int fd;

	(void)state;
	vx_h_tmpdir(dir);
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(out, sizeof(out), "%s/dst", dir);
	fd = open(src, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)BIG_LEN), 0);
	write_island(fd, 0, 1);
	write_island(fd, (4ull << 30) - (512u << 10), 2); /* straddles the 4 GiB line */
	write_island(fd, BIG_LEN - (1u << 20), 3);
	close(fd);

	/* Trusted digests, as the scheduler would hand them out. */
	tcfg.path = src;
	tcfg.task_id = VX_H_TASK_ID;
	tcfg.content_length = BIG_LEN;
	tcfg.piece_length = BIG_PIECE;
	tcfg.seed = true;
	assert_int_equal(vx_file_task_open(&seed, &tcfg), 0);
	vx_h_server_start(&srv, src, BIG_LEN, BIG_PIECE, NULL);

	assert_int_equal(vx_loop_new(&loop, NULL), 0);
	tcfg.path = out;
	tcfg.seed = false;
	tcfg.direct = true;
	assert_int_equal(vx_file_task_open(&dst, &tcfg), 0);
	vx_fetcher_cfg_init(&cfg);
	cfg.task_id = VX_H_TASK_ID;
	cfg.content_length = BIG_LEN;
	cfg.piece_length = BIG_PIECE;
	cfg.piece_crc32 = vx_file_task_crcs(seed);
	cfg.sink = vx_file_task_sink_ops();
	cfg.sink_ctx = dst;
	cfg.on_piece = on_piece;
	cfg.on_done = on_done;
	cfg.cb_arg = &d;
	cfg.stall_timeout_ms = 30000;
	assert_int_equal(vx_fetcher_new(&f, loop, &cfg), 0);
	assert_int_equal(vx_fetcher_add_parent(f, (const struct sockaddr *)&srv.addr,
					       sizeof(srv.addr), "seed"),
			 0);
	deadline = vx_now_ms() + 400000;
	while (!d.done && vx_now_ms() < deadline)
		assert_true(vx_loop_run_once(loop, 100) >= 0);
	assert_int_equal(d.done, 1);
	assert_int_equal(d.status, 0);
	assert_int_equal(d.pieces, vx_file_task_piece_count(seed));
	while (!vx_fetcher_idle(f))
		assert_true(vx_loop_run_once(loop, 10) >= 0);
	vx_fetcher_free(f);
	vx_loop_free(loop);
	vx_file_task_close(dst);
	vx_file_task_close(seed);
	vx_h_server_stop(&srv);
	assert_true(vx_h_files_equal(src, out));
	vx_h_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_fetcher__sparse_file_over_4gib),
	};
	char diag[256];

	if (vx_ring_probe(diag, sizeof(diag)) < 0) {
		fprintf(stderr, "skip: %s\n", diag);
		return VX_TEST_SKIP;
	}
	return cmocka_run_group_tests_name("dataplane_fetch_big", tests, NULL, NULL);
}
