/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dataplane_loop.c: the ring layer and the event loop on a real io_uring: dispatch by op
 * kind, SQ overflow through vx_ring_get_sqe(), cancellation, linked timeouts, multishot
 * accept on loopback, cross-thread wakeup and stop, deferred work, clean shutdown.
 */
#include "vx_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vx_loop.h"
#include "vx_ring.h"

struct counter {
	uint32_t gen;
	int calls;
	int last_res;
	int results[64];
	uint32_t more_seen;
};

static void on_test_done(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	struct counter *c = op->owner;

	(void)loop;
	if (c->calls < (int)VX_ARRAY_SIZE(c->results))
		c->results[c->calls] = res;
	c->calls++;
	c->last_res = res;
	if (cflags & IORING_CQE_F_MORE)
		c->more_seen++;
}

static int setup_loop(void **state)
{
	struct vx_loop *loop = NULL;
	struct vx_loop_cfg cfg = { .sq_entries = 8, .tick_ms = 10 };
	char diag[256];
	int ret = vx_ring_probe(diag, sizeof(diag));

	if (ret < 0) {
		fprintf(stderr, "skip: %s\n", diag);
		exit(VX_TEST_SKIP);
	}
	assert_int_equal(vx_loop_new(&loop, &cfg), 0);
	vx_loop_set_handler(loop, VX_OP_TEST, on_test_done);
	vx_loop_set_handler(loop, VX_OP_ACCEPT, on_test_done);
	*state = loop;
	return 0;
}

static int teardown_loop(void **state)
{
	vx_loop_free(*state);
	return 0;
}

static void run_until(struct vx_loop *loop, const int *calls, int want)
{
	int i;

	for (i = 0; i < 500 && *calls < want; i++)
		assert_true(vx_loop_run_once(loop, 10) >= 0);
	assert_int_equal(*calls, want);
}

static void test_vx_ring_probe__ok(void **state)
{
	char diag[256];

	(void)state;
	assert_int_equal(vx_ring_probe(diag, sizeof(diag)), 0);
	assert_string_equal(diag, "");
}

static void test_vx_loop_arm__nops_overflow_sq(void **state)
{
	struct vx_loop *loop = *state;
	struct counter c = { 0 };
	struct vx_op ops[40];
	int i;

	/* 40 NOPs through an 8-entry SQ: vx_ring_get_sqe() must flush, never fail. */
	for (i = 0; i < 40; i++) {
		struct io_uring_sqe *sqe = vx_loop_sqe(loop);

		memset(&ops[i], 0, sizeof(ops[i]));
		vx_op_init(&ops[i], VX_OP_TEST, &c, &c.gen);
		io_uring_prep_nop(sqe);
		vx_loop_arm(loop, &ops[i], sqe, false);
	}
	assert_int_equal(vx_loop_inflight(loop), 40);
	run_until(loop, &c.calls, 40);
	assert_int_equal(vx_loop_inflight(loop), 0);
	for (i = 0; i < 40; i++)
		assert_false(vx_op_armed(&ops[i]));
}

static void test_vx_loop_cancel__timeout(void **state)
{
	struct vx_loop *loop = *state;
	struct counter c = { 0 };
	struct __kernel_timespec ts = { .tv_sec = 60 };
	struct vx_op op = { 0 };
	struct io_uring_sqe *sqe;

	vx_op_init(&op, VX_OP_TEST, &c, &c.gen);
	sqe = vx_loop_sqe(loop);
	io_uring_prep_timeout(sqe, &ts, 0, 0);
	vx_loop_arm(loop, &op, sqe, false);
	assert_true(vx_loop_run_once(loop, 0) >= 0);
	assert_true(vx_op_armed(&op));
	vx_loop_cancel(loop, &op);
	run_until(loop, &c.calls, 1);
	assert_int_equal(c.last_res, -ECANCELED);
	assert_int_equal(vx_loop_inflight(loop), 0);
}

static void test_vx_loop_arm__linked_timeout_fires(void **state)
{
	struct vx_loop *loop = *state;
	struct counter c = { 0 };
	struct __kernel_timespec ts = { .tv_nsec = 20 * 1000000 };
	struct vx_op recv_op = { 0 }, to_op = { 0 };
	struct io_uring_sqe *sqe;
	char buf[16];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	vx_op_init(&recv_op, VX_OP_TEST, &c, &c.gen);
	vx_op_init(&to_op, VX_OP_TEST, &c, &c.gen);
	vx_ring_reserve(vx_loop_ring(loop), 2);
	sqe = vx_loop_sqe(loop);
	io_uring_prep_recv(sqe, sv[0], buf, sizeof(buf), 0);
	sqe->flags |= IOSQE_IO_LINK;
	vx_loop_arm(loop, &recv_op, sqe, false);
	sqe = vx_loop_sqe(loop);
	io_uring_prep_link_timeout(sqe, &ts, 0);
	vx_loop_arm(loop, &to_op, sqe, false);
	run_until(loop, &c.calls, 2);
	/* Nobody wrote: the recv is cancelled and the timeout reports it fired. */
	assert_true((c.results[0] == -ECANCELED && c.results[1] == -ETIME) ||
		    (c.results[0] == -ETIME && c.results[1] == -ECANCELED));
	close(sv[0]);
	close(sv[1]);
}

static void test_vx_loop_arm__multishot_accept(void **state)
{
	struct vx_loop *loop = *state;
	struct counter c = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	struct vx_op op = { 0 };
	struct io_uring_sqe *sqe;
	int lfd, cfd[3], i;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 16), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &salen), 0);
	vx_op_init(&op, VX_OP_ACCEPT, &c, &c.gen);
	sqe = vx_loop_sqe(loop);
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	vx_loop_arm(loop, &op, sqe, true);
	for (i = 0; i < 3; i++) {
		cfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_int_equal(connect(cfd[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	run_until(loop, &c.calls, 3);
	assert_int_equal(c.more_seen, 3);
	assert_true(vx_op_armed(&op));
	for (i = 0; i < 3; i++) {
		assert_true(c.results[i] >= 0);
		close(c.results[i]);
		close(cfd[i]);
	}
	/* Cancelling ends the multishot with a final CQE without F_MORE. */
	vx_loop_cancel(loop, &op);
	run_until(loop, &c.calls, 4);
	assert_int_equal(c.last_res, -ECANCELED);
	assert_false(vx_op_armed(&op));
	assert_int_equal(vx_loop_inflight(loop), 0);
	close(lfd);
}

struct wake_ctx {
	int wakes;
};

static void on_wake(struct vx_loop *loop, void *arg)
{
	struct wake_ctx *w = arg;

	(void)loop;
	w->wakes++;
}

static void *stopper(void *arg)
{
	struct vx_loop *loop = arg;

	usleep(20000);
	vx_loop_wake(loop);
	usleep(20000);
	vx_loop_stop(loop);
	return NULL;
}

static void test_vx_loop_stop__from_other_thread(void **state)
{
	struct vx_loop *loop = *state;
	struct wake_ctx w = { 0 };
	pthread_t t;

	vx_loop_set_on_wake(loop, on_wake, &w);
	assert_int_equal(pthread_create(&t, NULL, stopper, loop), 0);
	assert_int_equal(vx_loop_run(loop), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(vx_loop_stopping(loop));
	assert_true(w.wakes >= 1);
}

struct defer_ctx {
	struct vx_loop_work work;
	struct vx_loop_ticker ticker;
	int ran;
	int ticks;
};

static void on_work(struct vx_loop *loop, struct vx_loop_work *work)
{
	struct defer_ctx *d = vx_container_of(work, struct defer_ctx, work);

	(void)loop;
	d->ran++;
}

static void on_tick(struct vx_loop *loop, struct vx_loop_ticker *t, uint64_t now_ms)
{
	struct defer_ctx *d = vx_container_of(t, struct defer_ctx, ticker);

	(void)loop;
	(void)now_ms;
	d->ticks++;
}

static void test_vx_loop_defer__runs_once_after_drain(void **state)
{
	struct vx_loop *loop = *state;
	struct defer_ctx d = { 0 };
	int i;

	d.work.fn = on_work;
	d.ticker.fn = on_tick;
	vx_loop_defer(loop, &d.work);
	vx_loop_defer(loop, &d.work);
	assert_int_equal(d.ran, 0);
	assert_true(vx_loop_run_once(loop, 0) >= 0);
	assert_int_equal(d.ran, 1);
	vx_loop_add_ticker(loop, &d.ticker);
	for (i = 0; i < 100 && d.ticks < 2; i++)
		assert_true(vx_loop_run_once(loop, 20) >= 0);
	vx_loop_del_ticker(loop, &d.ticker);
	assert_true(d.ticks >= 2);
}

/* Two tickers; the first deletes the second on its tick (a peer freeing a task's fetcher). */
struct killer_ctx {
	struct vx_loop_ticker first, second;
	int first_ticks, second_ticks;
	bool second_live;
};

static void on_tick_second(struct vx_loop *loop, struct vx_loop_ticker *t, uint64_t now_ms)
{
	struct killer_ctx *k = vx_container_of(t, struct killer_ctx, second);

	(void)loop;
	(void)now_ms;
	assert_true(k->second_live); /* never after its deletion */
	k->second_ticks++;
}

static void on_tick_first(struct vx_loop *loop, struct vx_loop_ticker *t, uint64_t now_ms)
{
	struct killer_ctx *k = vx_container_of(t, struct killer_ctx, first);

	(void)now_ms;
	k->first_ticks++;
	if (k->second_live && k->first_ticks == 2) {
		vx_loop_del_ticker(loop, &k->second);
		/* poison what the walk would have followed */
		k->second.node.next = NULL;
		k->second_live = false;
	}
}

static void test_vx_loop_ticker__may_delete_the_next_one(void **state)
{
	struct vx_loop *loop = *state;
	struct killer_ctx k = { 0 };

	k.first.fn = on_tick_first;
	k.second.fn = on_tick_second;
	k.second_live = true;
	vx_loop_add_ticker(loop, &k.first);
	vx_loop_add_ticker(loop, &k.second);
	for (int i = 0; i < 200 && k.first_ticks < 4; i++)
		assert_true(vx_loop_run_once(loop, 20) >= 0);
	vx_loop_del_ticker(loop, &k.first);
	assert_true(k.first_ticks >= 4);
	assert_int_equal(k.second_ticks, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_ring_probe__ok),
		cmocka_unit_test_setup_teardown(test_vx_loop_arm__nops_overflow_sq, setup_loop,
						teardown_loop),
		cmocka_unit_test_setup_teardown(test_vx_loop_cancel__timeout, setup_loop,
						teardown_loop),
		cmocka_unit_test_setup_teardown(test_vx_loop_arm__linked_timeout_fires, setup_loop,
						teardown_loop),
		cmocka_unit_test_setup_teardown(test_vx_loop_arm__multishot_accept, setup_loop,
						teardown_loop),
		cmocka_unit_test_setup_teardown(test_vx_loop_stop__from_other_thread, setup_loop,
						teardown_loop),
		cmocka_unit_test_setup_teardown(test_vx_loop_defer__runs_once_after_drain,
						setup_loop, teardown_loop),
		cmocka_unit_test_setup_teardown(test_vx_loop_ticker__may_delete_the_next_one,
						setup_loop, teardown_loop),
	};

	return cmocka_run_group_tests_name("dataplane_loop", tests, NULL, NULL);
}
