/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_fconn.c: the framed connection (vx_fconn.h) over a real socketpair: the output
 * limit refuses a queue that would pass it and keeps what was queued, a queue bigger than the
 * socket buffer goes out over several partial flushes in order, a descriptor queued with the
 * first byte arrives at the other end (and the queue's own copy is closed once sent), input
 * pauses when the framer takes less than it got, and close releases the socket and a
 * descriptor that was never sent.
 */
#include "vx_test.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vx_fconn.h"
#include "vx_net.h"

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static void test_fconn__queue_limit(void **state)
{
	struct vx_fconn c;
	uint8_t b[100];
	int sv[2];

	(void)state;
	pair(sv);
	memset(b, 'x', sizeof(b));
	vx_fconn_init(&c, sv[0], 100);
	assert_int_equal(vx_fconn_queue(&c, b, 60, -1), 0);
	assert_int_equal(vx_fconn_queue(&c, b, 41, -1), -ENOBUFS);
	assert_int_equal(vx_fconn_pending(&c), 60); /* the refused one queued nothing */
	assert_int_equal(vx_fconn_queue(&c, b, 40, -1), 0);
	assert_int_equal(vx_fconn_pending(&c), 100);
	assert_int_equal(vx_fconn_queue(&c, b, 1, -1), -ENOBUFS);
	assert_int_equal(vx_fconn_flush(&c), 0);
	assert_int_equal(vx_fconn_pending(&c), 0);
	assert_int_equal(vx_fconn_queue(&c, b, 100, -1), 0); /* room again once sent */
	vx_fconn_close(&c);
	close(sv[1]);
}

static void test_fconn__partial_writes_keep_order(void **state)
{
	enum { LEN = 1u << 20 };
	uint8_t *out = test_malloc(LEN), *in = test_malloc(LEN);
	struct vx_fconn c;
	size_t got = 0;
	int sv[2], partial = 0, small = 4096;

	(void)state;
	pair(sv);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	for (size_t i = 0; i < LEN; i++)
		out[i] = (uint8_t)(i * 31 + i / 251);
	vx_fconn_init(&c, sv[0], LEN);
	assert_int_equal(vx_fconn_queue(&c, out, LEN / 2, -1), 0);
	assert_int_equal(vx_fconn_queue(&c, out + LEN / 2, LEN - LEN / 2, -1), 0);
	while (got < LEN) {
		ssize_t n;

		assert_int_equal(vx_fconn_flush(&c), 0);
		if (vx_fconn_pending(&c))
			partial++;
		n = recv(sv[1], in + got, LEN - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		else
			assert_int_equal(errno, EAGAIN);
	}
	assert_true(partial > 0); /* the socket took it in pieces */
	assert_int_equal(vx_fconn_pending(&c), 0);
	assert_memory_equal(in, out, LEN);
	vx_fconn_close(&c);
	close(sv[1]);
	test_free(out);
	test_free(in);
}

static void test_fconn__passes_descriptor(void **state)
{
	struct vx_fconn c;
	char buf[8];
	int sv[2], p[2], got = -1, dup_fd;

	(void)state;
	pair(sv);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	vx_fconn_init(&c, sv[0], 64);
	assert_int_equal(vx_fconn_queue(&c, "hello", 5, p[1]), 0);
	dup_fd = c.out_fd;
	assert_true(dup_fd >= 0 && dup_fd != p[1]); /* a copy: the caller keeps its own */
	assert_int_equal(vx_fconn_queue(&c, "!", 1, -1), 0);
	assert_int_equal(vx_fconn_flush(&c), 0);
	assert_int_equal(c.out_fd, -1);
	assert_false(fd_open(dup_fd)); /* the kernel holds the passed one */
	assert_int_equal(vx_net_recv_fd(sv[1], buf, sizeof(buf), &got), 6);
	assert_memory_equal(buf, "hello!", 6);
	assert_true(got >= 0);
	close(p[1]);
	assert_int_equal(write(got, "z", 1), 1); /* the received one is the pipe's write end */
	assert_int_equal(read(p[0], buf, 1), 1);
	assert_int_equal(buf[0], 'z');
	close(got);
	close(p[0]);
	vx_fconn_close(&c);
	close(sv[1]);
}

struct taker {
	size_t per_call; /* bytes taken per call before pausing */
	char seen[32];
	size_t nr_seen;
};

static ssize_t take(void *arg, const uint8_t *in, size_t len)
{
	struct taker *t = arg;
	size_t n = len < t->per_call ? len : t->per_call;

	memcpy(t->seen + t->nr_seen, in, n);
	t->nr_seen += n;
	return (ssize_t)n;
}

static ssize_t take_once(void *arg, const uint8_t *in, size_t len)
{
	struct taker *t = arg;
	size_t n = len < t->per_call ? len : t->per_call;

	memcpy(t->seen + t->nr_seen, in, n);
	t->nr_seen += n;
	t->per_call = 0; /* pause after this call */
	return (ssize_t)n;
}

static void test_fconn__input_pauses_and_resumes(void **state)
{
	struct taker t = { .per_call = 2 };
	struct vx_fconn c;
	int sv[2];

	(void)state;
	pair(sv);
	vx_fconn_init(&c, sv[0], 64);
	assert_int_equal(vx_fconn_read(&c, take, &t), 0); /* nothing there yet */
	assert_int_equal(send(sv[1], "abcdef", 6, 0), 6);
	assert_int_equal(vx_fconn_read(&c, take_once, &t), 6);
	assert_int_equal(t.nr_seen, 2);
	assert_int_equal(vx_fconn_buffered(&c), 4); /* paused with the rest kept */
	t.per_call = 3;
	assert_int_equal(vx_fconn_input(&c, take, &t), 0);
	assert_int_equal(vx_fconn_buffered(&c), 1); /* took 3 of 4: paused again */
	assert_int_equal(vx_fconn_input(&c, take, &t), 0);
	assert_int_equal(vx_fconn_buffered(&c), 0);
	assert_memory_equal(t.seen, "abcdef", 6);
	close(sv[1]);
	assert_int_equal(vx_fconn_read(&c, take, &t), -ECONNRESET);
	vx_fconn_close(&c);
}

static void test_fconn__close_releases_unsent_descriptor(void **state)
{
	struct vx_fconn c;
	char b;
	int sv[2], p[2], dup_fd;

	(void)state;
	pair(sv);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	vx_fconn_init(&c, sv[0], 64);
	assert_int_equal(vx_fconn_queue(&c, "x", 1, p[1]), 0);
	dup_fd = c.out_fd;
	vx_fconn_close(&c);
	assert_int_equal(c.fd, -1);
	assert_false(fd_open(sv[0]));
	assert_false(fd_open(dup_fd));
	assert_int_equal(vx_fconn_pending(&c), 0);
	vx_fconn_close(&c);			    /* idempotent */
	assert_int_equal(recv(sv[1], &b, 1, 0), 0); /* the peer sees the end, and no byte */
	close(p[1]);
	assert_int_equal(read(p[0], &b, 1), 0); /* no write end left anywhere */
	close(p[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fconn__queue_limit),
		cmocka_unit_test(test_fconn__partial_writes_keep_order),
		cmocka_unit_test(test_fconn__passes_descriptor),
		cmocka_unit_test(test_fconn__input_pauses_and_resumes),
		cmocka_unit_test(test_fconn__close_releases_unsent_descriptor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
