/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dataplane_upload.c: the upload server on a real ring and real loopback sockets, driven by a
 * raw-socket client that behaves exactly like Dragonfly's Rust downloader (new connection per
 * piece, TCP_NODELAY, reads header + metadata length + metadata + exactly the piece length).
 * Also: pipelining, errors for unknown pieces, malformed and reserved requests, slowloris and
 * idle limits, waiting for unfinished pieces, availability (SUBSCRIBE/BITFIELD/HAVE), 1,000
 * concurrent connections, the connection limit and the rate limit.
 */
#include "vx_test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zlib.h>

#include "dataplane_harness.h"
#include "vx_bytes.h"
#include "vx_ring.h"
#include "vx_time.h"

struct fixture {
	char dir[PATH_MAX];
	char path[PATH_MAX + 32];
	uint8_t *content;
	uint64_t len;
	uint64_t piece;
	struct vx_h_server srv;
};

static void make_content(struct fixture *f, uint64_t len, uint64_t piece)
{
	int fd;

	vx_h_tmpdir(f->dir);
	snprintf(f->path, sizeof(f->path), "%s/content", f->dir);
	vx_h_write_pattern(f->path, len, 7);
	f->len = len;
	f->piece = piece;
	f->content = malloc(len ? len : 1);
	assert_non_null(f->content);
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, f->content, len), (ssize_t)len);
	close(fd);
}

static void fixture_start(struct fixture *f, uint64_t len, uint64_t piece,
			  const struct vx_upload_cfg *cfg)
{
	make_content(f, len, piece);
	vx_h_server_start(&f->srv, f->path, len, piece, cfg);
}

static void fixture_stop(struct fixture *f)
{
	vx_h_server_stop(&f->srv);
	vx_h_rmdir(f->dir);
	free(f->content);
}

static void check_piece(const struct fixture *f, const struct vx_h_answer *a, uint32_t n)
{
	uint64_t off = (uint64_t)n * f->piece;
	uint64_t len = f->len - off < f->piece ? f->len - off : f->piece;
	char digest[32];

	assert_int_equal(a->tag, 0x01);
	assert_int_equal(a->number, n);
	assert_int_equal(a->offset, off);
	assert_int_equal(a->length, len);
	assert_memory_equal(a->body, f->content + off, len);
	snprintf(digest, sizeof(digest), "crc32:%lu", crc32(0, a->body, (uInt)len));
	assert_string_equal(a->digest, digest);
}

static void expect_closed(int fd)
{
	char b;

	assert_int_equal(recv(fd, &b, 1, 0), 0);
}

static void dragonfly_fetch_all(struct fixture *f)
{
	uint32_t count = (uint32_t)((f->len + f->piece - 1) / f->piece), n;

	for (n = 0; n < count; n++) {
		struct vx_h_answer a;
		int fd = vx_h_connect(&f->srv.addr);

		assert_true(fd >= 0);
		assert_int_equal(vx_h_send_download(fd, VX_H_TASK_ID, n), 0);
		assert_int_equal(vx_h_read_answer(fd, &a), 0);
		check_piece(f, &a, n);
		vx_h_answer_free(&a);
		close(fd);
	}
}

static void test_vx_upload__dragonfly_client_sizes(void **state)
{
	static const uint64_t sizes[] = { 1, 65536, 3 * 65536 + 12345 };
	size_t i;

	(void)state;
	for (i = 0; i < VX_ARRAY_SIZE(sizes); i++) {
		struct fixture f = { 0 };

		fixture_start(&f, sizes[i], 65536, NULL);
		dragonfly_fetch_all(&f);
		fixture_stop(&f);
		assert_int_equal(f.srv.stats.pieces_sent, (sizes[i] + 65535) / 65536);
	}
}

static void test_vx_upload__empty_task_not_found(void **state)
{
	struct fixture f = { 0 };
	struct vx_h_answer a;
	int fd;

	(void)state;
	fixture_start(&f, 0, 65536, NULL);
	fd = vx_h_connect(&f.srv.addr);
	assert_int_equal(vx_h_send_download(fd, VX_H_TASK_ID, 0), 0);
	assert_int_equal(vx_h_read_answer(fd, &a), 0);
	assert_int_equal(a.tag, 0xFF);
	assert_int_equal(a.error_code, 2);
	close(fd);
	fixture_stop(&f);
}

static void test_vx_upload__pipelined_and_not_found(void **state)
{
	struct fixture f = { 0 };
	struct vx_h_answer a;
	uint32_t n;
	int fd;

	(void)state;
	fixture_start(&f, 10 * 4096 + 7, 4096, NULL);
	fd = vx_h_connect(&f.srv.addr);
	/* PIPELINE | AVAILABILITY | LZ4 | CANCEL */
	assert_int_equal(vx_h_hello(fd), 0x0f);
	/* Eleven requests plus an unknown task, all sent before reading anything. */
	for (n = 0; n < 11; n++)
		assert_int_equal(vx_h_send_download(fd, VX_H_TASK_ID, n), 0);
	assert_int_equal(
		vx_h_send_download(
			fd, "f123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0),
		0);
	assert_int_equal(vx_h_send_download(fd, VX_H_TASK_ID, 99), 0);
	assert_int_equal(vx_h_send_download(fd, VX_H_TASK_ID, 3), 0);
	for (n = 0; n < 11; n++) {
		assert_int_equal(vx_h_read_answer(fd, &a), 0);
		check_piece(&f, &a, n);
		vx_h_answer_free(&a);
	}
	assert_int_equal(vx_h_read_answer(fd, &a), 0);
	assert_int_equal(a.tag, 0xFF);
	assert_int_equal(a.error_code, 2);
	assert_int_equal(vx_h_read_answer(fd, &a), 0);
	assert_int_equal(a.error_code, 2);
	/* The connection survives "not found". */
	assert_int_equal(vx_h_read_answer(fd, &a), 0);
	check_piece(&f, &a, 3);
	vx_h_answer_free(&a);
	close(fd);
	fixture_stop(&f);
}

static void test_vx_upload__plain_closes_after_one_answer(void **state)
{
	struct fixture f = { 0 };
	struct vx_h_answer a;
	int fd;

	(void)state;
	fixture_start(&f, 3 * 4096, 4096, NULL);
	fd = vx_h_connect(&f.srv.addr);
	/* No HELLO: Dragonfly framing, so the second request is never answered. */
	assert_int_equal(vx_h_send_download(fd, VX_H_TASK_ID, 0), 0);
	assert_int_equal(vx_h_send_download(fd, VX_H_TASK_ID, 1), 0);
	assert_int_equal(vx_h_read_answer(fd, &a), 0);
	check_piece(&f, &a, 0);
	vx_h_answer_free(&a);
	expect_closed(fd);
	close(fd);
	fixture_stop(&f);
}

static void put_frame(uint8_t *f, uint8_t tag, uint32_t number)
{
	f[0] = 0x5a;
	f[1] = tag;
	vx_put_be32(f + 2, 68);
	memcpy(f + 6, VX_H_TASK_ID, 64);
	vx_put_be32(f + 70, number);
}

static void test_vx_upload__cancel_pipelined_request(void **state)
{
	struct fixture f = { 0 };
	struct vx_h_answer a;
	uint8_t all[5 * 74];
	int fd;

	(void)state;
	fixture_start(&f, 3 * 65536, 65536, NULL);
	fd = vx_h_connect(&f.srv.addr);
	assert_true(vx_h_hello(fd) > 0);
	/* One write, so the CANCEL is buffered before request 1 is parsed. */
	put_frame(all, 0x00, 0);
	put_frame(all + 74, 0x00, 1);
	put_frame(all + 148, 0x44, 1);
	put_frame(all + 222, 0x44, 7); /* unmatched: ignored */
	put_frame(all + 296, 0x00, 2);
	assert_int_equal(vx_h_send_all(fd, all, sizeof(all)), 0);
	assert_int_equal(vx_h_read_answer(fd, &a), 0);
	check_piece(&f, &a, 0);
	vx_h_answer_free(&a);
	assert_int_equal(vx_h_read_answer(fd, &a), 0);
	assert_int_equal(a.tag, 0xFF);
	assert_int_equal(a.error_code, 0x40);
	assert_int_equal(vx_h_read_answer(fd, &a), 0);
	check_piece(&f, &a, 2);
	vx_h_answer_free(&a);
	close(fd);
	fixture_stop(&f);
}

static void test_vx_upload__busy_beyond_max_inflight(void **state)
{
	struct fixture f = { 0 };
	struct vx_h_answer a;
	static uint8_t all[40 * 74];
	uint32_t n, busy = 0;
	int fd;

	(void)state;
	fixture_start(&f, 40 * 262144, 262144, NULL);
	fd = vx_h_connect(&f.srv.addr);
	assert_true(vx_h_hello(fd) > 0);
	/* Our HELLO announced 32; 40 arrive at once: the excess is answered busy, in order. */
	for (n = 0; n < 40; n++)
		put_frame(all + 74 * n, 0x00, n);
	assert_int_equal(vx_h_send_all(fd, all, sizeof(all)), 0);
	for (n = 0; n < 40; n++) {
		assert_int_equal(vx_h_read_answer(fd, &a), 0);
		if (a.tag == 0xFF) {
			assert_int_equal(a.error_code, 0x41);
			assert_true(n >= 32);
			busy++;
		} else {
			check_piece(&f, &a, n);
			vx_h_answer_free(&a);
		}
	}
	assert_true(busy >= 1);
	assert_true(busy <= 8);
	/* The connection goes on: a request within the limit is served. */
	assert_int_equal(vx_h_send_download(fd, VX_H_TASK_ID, 39), 0);
	assert_int_equal(vx_h_read_answer(fd, &a), 0);
	check_piece(&f, &a, 39);
	vx_h_answer_free(&a);
	close(fd);
	fixture_stop(&f);
}

/*
 * Super-seeding: a piece just sent to one vx peer is answered BUSY to the next vx peer (it gets
 * the piece from the swarm), other pieces are served, the refused piece is served when the same
 * connection asks again, and a Dragonfly one-shot request is always served.
 */
static void test_vx_upload__super_seed_sends_each_piece_once(void **state)
{
	struct vx_upload_cfg cfg;
	struct fixture f = { 0 };
	struct vx_h_answer a;
	int fa, fb, fc, fd;

	(void)state;
	vx_upload_cfg_init(&cfg);
	((struct sockaddr_in *)&cfg.addr)->sin_port = 0;
	cfg.super_seed = true;
	cfg.super_seed_window_ms = 60000;
	fixture_start(&f, 8 * 65536, 65536, &cfg);
	fa = vx_h_connect(&f.srv.addr);
	fb = vx_h_connect(&f.srv.addr);
	assert_true(vx_h_hello(fa) > 0);
	assert_true(vx_h_hello(fb) > 0);
	assert_int_equal(vx_h_send_download(fa, VX_H_TASK_ID, 3), 0);
	assert_int_equal(vx_h_read_answer(fa, &a), 0);
	check_piece(&f, &a, 3);
	vx_h_answer_free(&a);
	assert_int_equal(vx_h_send_download(fb, VX_H_TASK_ID, 3), 0);
	assert_int_equal(vx_h_read_answer(fb, &a), 0);
	assert_int_equal(a.tag, 0xFF);
	assert_int_equal(a.error_code, 0x41);
	/* the same connection goes on with a piece nobody has had */
	assert_int_equal(vx_h_send_download(fb, VX_H_TASK_ID, 4), 0);
	assert_int_equal(vx_h_read_answer(fb, &a), 0);
	check_piece(&f, &a, 4);
	vx_h_answer_free(&a);
	/*
	 * Asked again on the connection it was refused to, inside the window, the piece is sent:
	 * a child that found it nowhere else waits one back-off, not the window (issue 13). A third
	 * connection is refused it once as well.
	 */
	assert_int_equal(vx_h_send_download(fb, VX_H_TASK_ID, 3), 0);
	assert_int_equal(vx_h_read_answer(fb, &a), 0);
	check_piece(&f, &a, 3);
	vx_h_answer_free(&a);
	fc = vx_h_connect(&f.srv.addr);
	assert_true(vx_h_hello(fc) > 0);
	assert_int_equal(vx_h_send_download(fc, VX_H_TASK_ID, 3), 0);
	assert_int_equal(vx_h_read_answer(fc, &a), 0);
	assert_int_equal(a.error_code, 0x41);
	close(fc);
	/* Dragonfly's downloader knows nothing of BUSY: it is always served */
	fd = vx_h_connect(&f.srv.addr);
	assert_int_equal(vx_h_send_download(fd, VX_H_TASK_ID, 3), 0);
	assert_int_equal(vx_h_read_answer(fd, &a), 0);
	check_piece(&f, &a, 3);
	vx_h_answer_free(&a);
	close(fd);
	close(fa);
	close(fb);
	fixture_stop(&f);
}

static void send_raw_expect_invalid(struct fixture *f, const uint8_t *buf, size_t len)
{
	struct vx_h_answer a;
	int fd = vx_h_connect(&f->srv.addr);

	assert_true(fd >= 0);
	assert_int_equal(vx_h_send_all(fd, buf, len), 0);
	assert_int_equal(vx_h_read_answer(fd, &a), 0);
	assert_int_equal(a.tag, 0xFF);
	assert_int_equal(a.error_code, 1);
	expect_closed(fd);
	close(fd);
}

static void test_vx_upload__malformed_requests(void **state)
{
	struct fixture f = { 0 };
	uint8_t b[128] = { 0 };
	int fd;

	(void)state;
	fixture_start(&f, 8192, 4096, NULL);
	/* DownloadPiece with a huge length: answered, closed, nothing allocated from it. */
	b[1] = 0x00;
	vx_put_be32(b + 2, 0xFFFFFFFFu);
	send_raw_expect_invalid(&f, b, 6);
	vx_put_be32(b + 2, 67);
	send_raw_expect_invalid(&f, b, 6);
	/* A reserved tag. */
	b[1] = 0x20;
	vx_put_be32(b + 2, 5);
	send_raw_expect_invalid(&f, b, 11);
	/* A content tag sent to a server. */
	b[1] = 0x01;
	vx_put_be32(b + 2, 10);
	send_raw_expect_invalid(&f, b, 16);
	/* Uppercase hex is not a task id. */
	b[1] = 0x00;
	vx_put_be32(b + 2, 68);
	memcpy(b + 6, "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", 64);
	send_raw_expect_invalid(&f, b, 74);
	/* Close frame: the server closes quietly. */
	fd = vx_h_connect(&f.srv.addr);
	b[1] = 0xFE;
	vx_put_be32(b + 2, 0);
	assert_int_equal(vx_h_send_all(fd, b, 6), 0);
	expect_closed(fd);
	close(fd);
	/* The server still works. */
	dragonfly_fetch_all(&f);
	fixture_stop(&f);
	assert_true(f.srv.stats.protocol_errors >= 5);
}

static struct vx_upload_cfg short_limits(void)
{
	struct vx_upload_cfg cfg;

	vx_upload_cfg_init(&cfg);
	((struct sockaddr_in *)&cfg.addr)->sin_port = 0;
	cfg.idle_timeout_ms = 400;
	cfg.header_timeout_ms = 300;
	cfg.piece_wait_ms = 300;
	cfg.max_conns = 4;
	return cfg;
}

static void test_vx_upload__slowloris_and_idle_closed(void **state)
{
	struct vx_upload_cfg cfg = short_limits();
	struct fixture f = { 0 };
	uint8_t b[3] = { 1, 0, 0 };
	int slow, idle, i;

	(void)state;
	fixture_start(&f, 8192, 4096, &cfg);
	slow = vx_h_connect(&f.srv.addr);
	idle = vx_h_connect(&f.srv.addr);
	assert_int_equal(vx_h_send_all(slow, b, 1), 0);
	/* Keep trickling one byte at a time, each within the idle limit. */
	for (i = 0; i < 2; i++) {
		usleep(150000);
		if (send(slow, b + 1 + i, 1, MSG_NOSIGNAL) != 1)
			break;
	}
	expect_closed(slow);
	expect_closed(idle);
	close(slow);
	close(idle);
	fixture_stop(&f);
	assert_true(f.srv.stats.timeouts >= 2);
}

static void test_vx_upload__max_conns_refused(void **state)
{
	struct vx_upload_cfg cfg = short_limits();
	struct fixture f = { 0 };
	struct vx_h_answer a;
	int fds[5], i;

	(void)state;
	cfg.idle_timeout_ms = 10000;
	fixture_start(&f, 8192, 4096, &cfg);
	for (i = 0; i < 5; i++) {
		fds[i] = vx_h_connect(&f.srv.addr);
		assert_true(fds[i] >= 0);
	}
	/* The fifth finds every slot busy and is closed before any byte. */
	expect_closed(fds[4]);
	for (i = 0; i < 4; i++) {
		assert_int_equal(vx_h_send_download(fds[i], VX_H_TASK_ID, 1), 0);
		assert_int_equal(vx_h_read_answer(fds[i], &a), 0);
		check_piece(&f, &a, 1);
		vx_h_answer_free(&a);
	}
	for (i = 0; i < 5; i++)
		close(fds[i]);
	fixture_stop(&f);
	assert_int_equal(f.srv.stats.rejected, 1);
}

static void test_vx_upload__waits_for_unfinished_piece(void **state)
{
	struct vx_upload_cfg cfg = short_limits();
	struct fixture f = { 0 };
	struct vx_h_answer a;
	int fd;

	(void)state;
	cfg.piece_wait_ms = 5000;
	fixture_start(&f, 3 * 4096, 4096, &cfg);
	vx_h_server_set(&f.srv, 1, false);
	fd = vx_h_connect(&f.srv.addr);
	assert_int_equal(vx_h_send_download(fd, VX_H_TASK_ID, 1), 0);
	usleep(100000);
	vx_h_server_set(&f.srv, 1, true);
	assert_int_equal(vx_h_read_answer(fd, &a), 0);
	check_piece(&f, &a, 1);
	vx_h_answer_free(&a);
	close(fd);
	fixture_stop(&f);
}

static void test_vx_upload__wait_is_bounded(void **state)
{
	struct vx_upload_cfg cfg = short_limits();
	struct fixture f = { 0 };
	struct vx_h_answer a;
	int fd;

	(void)state;
	fixture_start(&f, 3 * 4096, 4096, &cfg);
	vx_h_server_set(&f.srv, 2, false);
	fd = vx_h_connect(&f.srv.addr);
	assert_int_equal(vx_h_send_download(fd, VX_H_TASK_ID, 2), 0);
	assert_int_equal(vx_h_read_answer(fd, &a), 0);
	assert_int_equal(a.tag, 0xFF);
	assert_int_equal(a.error_code, 2);
	close(fd);
	fixture_stop(&f);
}

static void test_vx_upload__subscribe_bitfield_have(void **state)
{
	struct fixture f = { 0 };
	uint8_t req[71], hdr[6], val[128];
	uint32_t len;
	int fd;

	(void)state;
	fixture_start(&f, 10 * 4096, 4096, NULL);
	vx_h_server_set(&f.srv, 1, false);
	vx_h_server_set(&f.srv, 9, false);
	fd = vx_h_connect(&f.srv.addr);
	assert_true(vx_h_hello(fd) > 0);
	req[0] = 0;
	req[1] = 0x41;
	vx_put_be32(req + 2, 65);
	memcpy(req + 6, VX_H_TASK_ID, 64);
	req[70] = 1;
	assert_int_equal(vx_h_send_all(fd, req, sizeof(req)), 0);
	assert_int_equal(vx_h_recv_all(fd, hdr, 6), 0);
	assert_int_equal(hdr[1], 0x42);
	len = vx_get_be32(hdr + 2);
	assert_int_equal(len, 64 + 4 + 2);
	assert_int_equal(vx_h_recv_all(fd, val, len), 0);
	assert_memory_equal(val, VX_H_TASK_ID, 64);
	assert_int_equal(vx_get_be32(val + 64), 10);
	/* Pieces 0..9 minus 1 and 9: 1011 1111 10xx xxxx. */
	assert_int_equal(val[68], 0xBF);
	assert_int_equal(val[69], 0x80);
	vx_h_server_set(&f.srv, 9, true);
	assert_int_equal(vx_h_recv_all(fd, hdr, 6), 0);
	assert_int_equal(hdr[1], 0x43);
	assert_int_equal(vx_get_be32(hdr + 2), 68);
	assert_int_equal(vx_h_recv_all(fd, val, 68), 0);
	assert_memory_equal(val, VX_H_TASK_ID, 64);
	assert_int_equal(vx_get_be32(val + 64), 9);
	/*
	 * Pieces finishing in one loop iteration share one HAVE (64 + 4k bytes): the server
	 * flushes after the drain, not per piece.
	 */
	{
		static const uint32_t more[3] = { 1, 7, 8 };
		uint32_t k;

		vx_h_server_set(&f.srv, 7, false);
		vx_h_server_set(&f.srv, 8, false);
		vx_h_server_finish_many(&f.srv, more, 3);
		assert_int_equal(vx_h_recv_all(fd, hdr, 6), 0);
		assert_int_equal(hdr[1], 0x43);
		len = vx_get_be32(hdr + 2);
		assert_int_equal(len, 64 + 3 * 4);
		assert_int_equal(vx_h_recv_all(fd, val, len), 0);
		assert_memory_equal(val, VX_H_TASK_ID, 64);
		for (k = 0; k < 3; k++)
			assert_int_equal(vx_get_be32(val + 64 + 4 * k), more[k]);
	}
	close(fd);
	fixture_stop(&f);
	assert_int_equal(f.srv.stats.haves_sent, 4);
}

static void test_vx_upload__thousand_idle_connections(void **state)
{
	struct vx_upload_cfg cfg;
	struct fixture f = { 0 };
	struct rlimit rl;
	static int fds[1000];
	int i;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 2300) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		if (rl.rlim_cur < 2300 || setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			fprintf(stderr, "skip: RLIMIT_NOFILE too low for 1000 connections\n");
			return;
		}
	}
	vx_upload_cfg_init(&cfg);
	((struct sockaddr_in *)&cfg.addr)->sin_port = 0;
	cfg.max_conns = 1100;
	cfg.max_conns_per_addr = 0; /* all from loopback */
	fixture_start(&f, 1000 * 100, 100, &cfg);
	for (i = 0; i < 1000; i++) {
		fds[i] = vx_h_connect(&f.srv.addr);
		assert_true(fds[i] >= 0);
	}
	/* All idle and held; now every one of them asks for its own piece. */
	for (i = 0; i < 1000; i++)
		assert_int_equal(vx_h_send_download(fds[i], VX_H_TASK_ID, (uint32_t)i), 0);
	for (i = 0; i < 1000; i++) {
		struct vx_h_answer a;

		assert_int_equal(vx_h_read_answer(fds[i], &a), 0);
		check_piece(&f, &a, (uint32_t)i);
		vx_h_answer_free(&a);
		close(fds[i]);
	}
	fixture_stop(&f);
	assert_int_equal(f.srv.stats.accepted, 1000);
	assert_int_equal(f.srv.stats.pieces_sent, 1000);
}

static void test_vx_upload__body_modes_exact(void **state)
{
	static const enum vx_upload_body_mode modes[] = {
		VX_UPLOAD_BODY_SPLICE,
		VX_UPLOAD_BODY_SEND,
		VX_UPLOAD_BODY_SEND_ZC,
	};
	size_t i;

	(void)state;
	for (i = 0; i < VX_ARRAY_SIZE(modes); i++) {
		struct vx_upload_cfg cfg;
		struct fixture f = { 0 };
		struct vx_h_answer a;
		uint32_t n;
		int fd;

		vx_upload_cfg_init(&cfg);
		((struct sockaddr_in *)&cfg.addr)->sin_port = 0;
		cfg.body_mode = modes[i];
		cfg.chunk_bytes = 64u << 10; /* several rounds per piece */
		fixture_start(&f, (3u << 20) + 999, 1u << 20, &cfg);
		dragonfly_fetch_all(&f);
		fd = vx_h_connect(&f.srv.addr);
		assert_true(vx_h_hello(fd) > 0);
		for (n = 0; n < 4; n++)
			assert_int_equal(vx_h_send_download(fd, VX_H_TASK_ID, n), 0);
		for (n = 0; n < 4; n++) {
			assert_int_equal(vx_h_read_answer(fd, &a), 0);
			check_piece(&f, &a, n);
			vx_h_answer_free(&a);
		}
		close(fd);
		fixture_stop(&f);
		assert_int_equal(f.srv.stats.pieces_sent, 8);
	}
}

/* Runs in a child process (its own fd limit); returns 0 or the step that failed. */
static int emfile_child(void)
{
	struct fixture f = { 0 };
	struct rlimit rl, tight;
	struct vx_h_answer a;
	int fds[16], n = 0, i, fd, ret = 0;

	fixture_start(&f, 8192, 4096, NULL);
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 10;
	fd = dup(0);
	close(fd);
	tight = rl;
	tight.rlim_cur = (rlim_t)fd + 4;
	/*
	 * The clients take every descriptor left first, so the server's accept gets EMFILE, as
	 * long as its multishot accept was (re)armed after the setrlimit: the kernel snapshots
	 * RLIMIT_NOFILE when an accept is prepared. Either way the server must keep serving.
	 */
	for (i = 0; i < 4; i++) {
		fds[n] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[n] >= 0)
			n++;
	}
	if (setrlimit(RLIMIT_NOFILE, &tight))
		return 11;
	for (i = 0; i < n; i++) {
		if (connect(fds[i], (struct sockaddr *)&f.srv.addr, sizeof(f.srv.addr)))
			return 17;
	}
	usleep(300000); /* the server hits EMFILE and pauses accepting */
	for (i = 0; i < n; i++)
		close(fds[i]);
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return 12;
	/* The ticker re-arms accept: a new client is served. */
	fd = vx_h_connect(&f.srv.addr);
	if (fd < 0)
		ret = 13;
	else if (vx_h_send_download(fd, VX_H_TASK_ID, 1))
		ret = 15;
	else if (vx_h_read_answer(fd, &a))
		ret = 16;
	else if (a.tag != 0x01 || a.length != 4096 || memcmp(a.body, f.content + 4096, 4096))
		ret = 14;
	vx_h_answer_free(&a);
	if (fd >= 0)
		close(fd);
	fixture_stop(&f);
	return ret;
}

static void test_vx_upload__accept_pauses_on_emfile(void **state)
{
	int status = 0;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(30);
		_exit(emfile_child());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * The rate a limit allows: every byte through a bucket of @rate B/s that starts with @burst
 * saved up. @bytes took @ms. The achieved rate, the burst set aside, must not beat the limit
 * (10 % for clock and tick granularity) and must not fall far below it: a bucket that does
 * nothing fails the first check, one that stalls fails the second.
 */
static void check_rate(uint64_t bytes, uint64_t ms, uint64_t rate, uint64_t burst)
{
	double got = (double)(bytes - burst) * 1000.0 / (double)(ms ? ms : 1);

	fprintf(stderr, "rate: %llu bytes in %llu ms: %.0f B/s past the burst, limit %llu\n",
		(unsigned long long)bytes, (unsigned long long)ms, got, (unsigned long long)rate);
	assert_true(bytes > 4 * burst); /* the burst alone cannot explain the transfer */
	assert_true(got <= (double)rate * 1.10);
	assert_true(got >= (double)rate / 3.0);
}

/* Sends HELLO and requests for pieces [@first, @first + @n) on a new vx connection. */
static int vx_ask(struct fixture *f, uint32_t first, uint32_t n)
{
	int fd = vx_h_connect(&f->srv.addr);

	assert_true(fd >= 0);
	assert_true(vx_h_hello(fd) > 0);
	for (uint32_t i = first; i < first + n; i++)
		assert_int_equal(vx_h_send_download(fd, VX_H_TASK_ID, i), 0);
	return fd;
}

static void vx_read(struct fixture *f, int fd, uint32_t first, uint32_t n)
{
	struct vx_h_answer a;

	for (uint32_t i = first; i < first + n; i++) {
		assert_int_equal(vx_h_read_answer(fd, &a), 0);
		check_piece(f, &a, i);
		vx_h_answer_free(&a);
	}
	close(fd);
}

/*
 * Both limits measured: one connection under the per-connection rate, then two connections
 * in parallel under the server's rate, each moving 4 MiB (16 pieces) pipelined; and a
 * Dragonfly client (a connection per piece) gets exact bytes through both limits.
 */
static void test_vx_upload__rate_limited_transfer_exact(void **state)
{
	const uint64_t rate = 2u << 20, chunk = 256u << 10, len = 4u << 20;
	struct vx_upload_cfg cfg;
	struct fixture f = { 0 };
	uint64_t t0;
	int a, b;

	(void)state;
	vx_upload_cfg_init(&cfg);
	((struct sockaddr_in *)&cfg.addr)->sin_port = 0;
	cfg.chunk_bytes = (uint32_t)chunk;
	/* The bucket's burst: max(rate / 10, chunk) (vx_upload_new). */
	cfg.conn_rate_bytes_per_s = rate;
	fixture_start(&f, len, chunk, &cfg);
	t0 = vx_now_ms();
	vx_read(&f, vx_ask(&f, 0, 16), 0, 16);
	check_rate(len, vx_now_ms() - t0, rate, VX_MAX(rate / 10, chunk));
	fixture_stop(&f);

	cfg.conn_rate_bytes_per_s = 0;
	cfg.rate_bytes_per_s = rate;
	fixture_start(&f, len, chunk, &cfg);
	t0 = vx_now_ms();
	a = vx_ask(&f, 0, 8);
	b = vx_ask(&f, 8, 8);
	vx_read(&f, a, 0, 8);
	vx_read(&f, b, 8, 8);
	check_rate(len, vx_now_ms() - t0, rate, VX_MAX(rate / 10, chunk));
	fixture_stop(&f);

	cfg.rate_bytes_per_s = 8u << 20;
	cfg.conn_rate_bytes_per_s = 4u << 20;
	fixture_start(&f, (2u << 20) + 333, 1u << 20, &cfg);
	dragonfly_fetch_all(&f);
	fixture_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_upload__dragonfly_client_sizes),
		cmocka_unit_test(test_vx_upload__empty_task_not_found),
		cmocka_unit_test(test_vx_upload__pipelined_and_not_found),
		cmocka_unit_test(test_vx_upload__plain_closes_after_one_answer),
		cmocka_unit_test(test_vx_upload__cancel_pipelined_request),
		cmocka_unit_test(test_vx_upload__busy_beyond_max_inflight),
		cmocka_unit_test(test_vx_upload__super_seed_sends_each_piece_once),
		cmocka_unit_test(test_vx_upload__malformed_requests),
		cmocka_unit_test(test_vx_upload__slowloris_and_idle_closed),
		cmocka_unit_test(test_vx_upload__max_conns_refused),
		cmocka_unit_test(test_vx_upload__waits_for_unfinished_piece),
		cmocka_unit_test(test_vx_upload__wait_is_bounded),
		cmocka_unit_test(test_vx_upload__subscribe_bitfield_have),
		cmocka_unit_test(test_vx_upload__thousand_idle_connections),
		cmocka_unit_test(test_vx_upload__body_modes_exact),
		cmocka_unit_test(test_vx_upload__accept_pauses_on_emfile),
		cmocka_unit_test(test_vx_upload__rate_limited_transfer_exact),
	};
	char diag[256];

	if (vx_ring_probe(diag, sizeof(diag)) < 0) {
		fprintf(stderr, "skip: %s\n", diag);
		return VX_TEST_SKIP;
	}
	return cmocka_run_group_tests_name("dataplane_upload", tests, NULL, NULL);
}
