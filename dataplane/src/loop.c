/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loop.c: one worker thread's event loop. The loop owns three kinds of operation of its own:
 * the eventfd read that lets other threads wake it, the periodic tick timeout, and async
 * cancels. Everything else belongs to an owner (listener, connection) that registered a
 * handler for its op kinds. Handlers run from the CQE drain; anything that could re-enter the
 * loop is queued with vx_loop_defer() and runs after the drain.
 */
#include "vx_loop.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_log.h"
#include "vx_time.h"

struct vx_loop {
	struct io_uring ring;
	unsigned int ring_flags; /* IORING_SETUP_* in force */
	vx_op_handler_fn handlers[VX_OP_KIND_NR];
	uint32_t inflight;     /* owners' SQEs not yet finally completed */
	uint32_t own_inflight; /* the loop's own: wake, tick, cancels */
	uint64_t now_ms;       /* cached at the start of each iteration */
	uint32_t tick_ms;
	uint64_t next_tick_ms;
	struct vx_op wake_op;
	struct vx_op tick_op;
	struct vx_op cancel_op; /* shared by every cancel SQE; never armed */
	struct __kernel_timespec tick_ts;
	uint64_t wake_buf; /* the eventfd counter lands here */
	int wake_fd;
	bool freeing; /* vx_loop_free() is draining: do not re-arm */
	bool stop_seen;
	atomic_bool stop_requested;
	struct vx_list deferred;   /* struct vx_loop_work */
	struct vx_list tickers;	   /* struct vx_loop_ticker */
	struct vx_list *tick_next; /* run_tickers()'s next node: a ticker may delete it */
	void (*on_stop)(struct vx_loop *loop, void *arg);
	void *on_stop_arg;
	void (*on_wake)(struct vx_loop *loop, void *arg);
	void *on_wake_arg;
};

static void arm_wake(struct vx_loop *loop)
{
	struct io_uring_sqe *sqe = vx_loop_sqe(loop);

	io_uring_prep_read(sqe, loop->wake_fd, &loop->wake_buf, sizeof(loop->wake_buf), 0);
	io_uring_sqe_set_data(sqe, &loop->wake_op);
	loop->wake_op.flags |= VX_OP_F_ARMED;
	loop->own_inflight++;
}

static void arm_tick(struct vx_loop *loop)
{
	struct io_uring_sqe *sqe = vx_loop_sqe(loop);

	loop->tick_ts.tv_sec = loop->tick_ms / 1000;
	loop->tick_ts.tv_nsec = (long long)(loop->tick_ms % 1000) * 1000000ll;
	io_uring_prep_timeout(sqe, &loop->tick_ts, 0, 0);
	io_uring_sqe_set_data(sqe, &loop->tick_op);
	loop->tick_op.flags |= VX_OP_F_ARMED;
	loop->own_inflight++;
}

int vx_loop_new(struct vx_loop **out, const struct vx_loop_cfg *cfg)
{
	struct vx_loop *loop;
	int ret;

	VX_ASSERT(out != NULL);
	*out = NULL;
	loop = vx_calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	loop->tick_ms = cfg && cfg->tick_ms ? cfg->tick_ms : 100;
	vx_list_init(&loop->deferred);
	vx_list_init(&loop->tickers);
	atomic_init(&loop->stop_requested, false);
	loop->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (loop->wake_fd == -1) {
		ret = -errno;
		goto err_free_loop;
	}
	ret = vx_ring_init(&loop->ring, cfg && cfg->sq_entries ? cfg->sq_entries : 256,
			   &loop->ring_flags);
	if (ret < 0)
		goto err_close_wake;
	vx_op_init(&loop->wake_op, VX_OP_WAKE, loop, NULL);
	vx_op_init(&loop->tick_op, VX_OP_TICK, loop, NULL);
	vx_op_init(&loop->cancel_op, VX_OP_CANCEL, loop, NULL);
	loop->now_ms = vx_now_ms();
	arm_wake(loop);
	arm_tick(loop);
	*out = loop;
	return 0;

err_close_wake:
	close(loop->wake_fd);
err_free_loop:
	vx_free(loop);
	return ret;
}

void vx_loop_free(struct vx_loop *loop)
{
	if (!loop)
		return;
	VX_ASSERT(loop->inflight == 0);
	loop->freeing = true;
	vx_loop_cancel(loop, &loop->wake_op);
	vx_loop_cancel(loop, &loop->tick_op);
	while (loop->own_inflight > 0) {
		if (vx_loop_run_once(loop, 100) < 0)
			break;
	}
	VX_ASSERT(loop->own_inflight == 0);
	io_uring_queue_exit(&loop->ring);
	close(loop->wake_fd);
	vx_free(loop);
}

struct io_uring *vx_loop_ring(struct vx_loop *loop)
{
	return &loop->ring;
}

void vx_loop_set_handler(struct vx_loop *loop, enum vx_op_kind kind, vx_op_handler_fn fn)
{
	VX_ASSERT(kind > VX_OP_CANCEL);
	VX_ASSERT(kind < VX_OP_KIND_NR);
	loop->handlers[kind] = fn;
}

struct io_uring_sqe *vx_loop_sqe(struct vx_loop *loop)
{
	return vx_ring_get_sqe(&loop->ring);
}

void vx_loop_arm(struct vx_loop *loop, struct vx_op *op, struct io_uring_sqe *sqe, bool multishot)
{
	VX_ASSERT(!vx_op_armed(op));
	VX_ASSERT(op->kind > VX_OP_CANCEL);
	VX_DASSERT(loop->handlers[op->kind] != NULL);
	op->gen = op->owner_gen ? *op->owner_gen : 0;
	op->flags = VX_OP_F_ARMED | (multishot ? VX_OP_F_MULTISHOT : 0);
	io_uring_sqe_set_data(sqe, op);
	loop->inflight++;
}

void vx_loop_cancel(struct vx_loop *loop, struct vx_op *op)
{
	struct io_uring_sqe *sqe;

	if (!vx_op_armed(op))
		return;
	sqe = vx_loop_sqe(loop);
	io_uring_prep_cancel(sqe, op, 0);
	io_uring_sqe_set_data(sqe, &loop->cancel_op);
	loop->own_inflight++;
}

void vx_loop_cancel_fd(struct vx_loop *loop, int fd)
{
	struct io_uring_sqe *sqe = vx_loop_sqe(loop);

	io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data(sqe, &loop->cancel_op);
	loop->own_inflight++;
}

void vx_loop_defer(struct vx_loop *loop, struct vx_loop_work *work)
{
	VX_ASSERT(work->fn != NULL);
	if (work->queued)
		return;
	work->queued = true;
	vx_list_add_tail(&loop->deferred, &work->node);
}

void vx_loop_add_ticker(struct vx_loop *loop, struct vx_loop_ticker *t)
{
	VX_ASSERT(t->fn != NULL);
	vx_list_add_tail(&loop->tickers, &t->node);
}

void vx_loop_del_ticker(struct vx_loop *loop, struct vx_loop_ticker *t)
{
	if (loop->tick_next == &t->node)
		loop->tick_next = t->node.next; /* a walk in progress skips it */
	vx_list_del(&t->node);
}

uint64_t vx_loop_now_ms(const struct vx_loop *loop)
{
	return loop->now_ms;
}

uint32_t vx_loop_inflight(const struct vx_loop *loop)
{
	return loop->inflight;
}

bool vx_loop_stopping(const struct vx_loop *loop)
{
	return loop->stop_seen || atomic_load(&loop->stop_requested);
}

void vx_loop_set_on_stop(struct vx_loop *loop, void (*fn)(struct vx_loop *loop, void *arg),
			 void *arg)
{
	loop->on_stop = fn;
	loop->on_stop_arg = arg;
}

void vx_loop_set_on_wake(struct vx_loop *loop, void (*fn)(struct vx_loop *loop, void *arg),
			 void *arg)
{
	loop->on_wake = fn;
	loop->on_wake_arg = arg;
}

void vx_loop_wake(struct vx_loop *loop)
{
	uint64_t one = 1;

	/* A full counter (EAGAIN) already means "woken"; nothing else can fail here. */
	if (write(loop->wake_fd, &one, sizeof(one)) == -1)
		return;
}

void vx_loop_stop(struct vx_loop *loop)
{
	atomic_store(&loop->stop_requested, true);
	vx_loop_wake(loop);
}

/*
 * A ticker may delete itself or any other ticker (a peer frees a task's fetcher from its own
 * tick): the walk keeps its next node in the loop, where vx_loop_del_ticker() moves it on.
 */
static void run_tickers(struct vx_loop *loop)
{
	struct vx_list *pos;

	for (pos = loop->tickers.next; pos != &loop->tickers; pos = loop->tick_next) {
		struct vx_loop_ticker *t = vx_list_entry(pos, struct vx_loop_ticker, node);

		loop->tick_next = pos->next;
		t->fn(loop, t, loop->now_ms);
	}
	loop->tick_next = NULL;
}

/* The loop's own completions: wake, tick, cancel. */
static void dispatch_own(struct vx_loop *loop, struct vx_op *op, int res)
{
	VX_ASSERT(loop->own_inflight > 0);
	loop->own_inflight--;
	switch (op->kind) {
	case VX_OP_WAKE:
		op->flags &= (uint8_t)~VX_OP_F_ARMED;
		if (res < 0 && res != -ECANCELED && res != -EINTR)
			vx_warn("loop: eventfd read failed: %s", strerror(-res));
		if (!loop->freeing)
			arm_wake(loop);
		if (res > 0 && loop->on_wake)
			loop->on_wake(loop, loop->on_wake_arg);
		break;
	case VX_OP_TICK:
		op->flags &= (uint8_t)~VX_OP_F_ARMED;
		if (!loop->freeing)
			arm_tick(loop);
		break;
	case VX_OP_CANCEL:
		/* -ENOENT / -EALREADY: the target finished first; its own CQE still counts. */
		break;
	default:
		VX_ASSERT(!"not a loop op");
	}
}

static void dispatch(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	vx_op_handler_fn fn;

	VX_ASSERT(op != NULL);
	VX_ASSERT(op->kind < VX_OP_KIND_NR);
	if (op->kind <= VX_OP_CANCEL) {
		dispatch_own(loop, op, res);
		return;
	}
	VX_ASSERT(vx_op_armed(op));
	VX_ASSERT(op->owner_gen == NULL || *op->owner_gen == op->gen);
	if (!(cflags & IORING_CQE_F_MORE)) {
		op->flags = 0;
		VX_ASSERT(loop->inflight > 0);
		loop->inflight--;
	}
	fn = loop->handlers[op->kind];
	VX_ASSERT(fn != NULL);
	fn(loop, op, res, cflags);
}

static void run_deferred(struct vx_loop *loop)
{
	/* Work may queue more work; a bound keeps one iteration from running forever. */
	unsigned int budget = 4096;

	while (!vx_list_empty(&loop->deferred) && budget-- > 0) {
		struct vx_loop_work *w = vx_list_first(&loop->deferred, struct vx_loop_work, node);

		vx_list_del(&w->node);
		w->queued = false;
		w->fn(loop, w);
	}
}

int vx_loop_run_once(struct vx_loop *loop, uint32_t timeout_ms)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	unsigned int head;
	unsigned int n = 0;
	int ret;

	if (!vx_list_empty(&loop->deferred))
		timeout_ms = 0;
	ts.tv_sec = timeout_ms / 1000;
	ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000ll;
	vx_ring_sanitize(&loop->ring);
	ret = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &ts, NULL);
	if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN)
		return ret;
	loop->now_ms = vx_now_ms();
	io_uring_for_each_cqe(&loop->ring, head, cqe) {
		n++;
		dispatch(loop, io_uring_cqe_get_data(cqe), cqe->res, cqe->flags);
	}
	io_uring_cq_advance(&loop->ring, n);
	if (loop->now_ms >= loop->next_tick_ms) {
		loop->next_tick_ms = loop->now_ms + loop->tick_ms;
		run_tickers(loop);
	}
	if (!loop->stop_seen && atomic_load(&loop->stop_requested)) {
		loop->stop_seen = true;
		if (loop->on_stop)
			loop->on_stop(loop, loop->on_stop_arg);
	}
	run_deferred(loop);
	return (int)n;
}

int vx_loop_run(struct vx_loop *loop)
{
	int ret;

	for (;;) {
		ret = vx_loop_run_once(loop, loop->tick_ms);
		if (ret < 0)
			return ret;
		if (loop->stop_seen && loop->inflight == 0 && vx_list_empty(&loop->deferred))
			return 0;
	}
}
