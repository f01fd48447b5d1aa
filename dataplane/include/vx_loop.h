/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_loop.h: the event loop of one data-plane worker thread. It owns one io_uring ring, runs
 * the uniform completion loop (submit_and_wait_timeout, for each CQE dispatch on the op kind,
 * one cq_advance), keeps the count of operations in flight, runs deferred work after each
 * drain, ticks a coarse clock for timeouts and rate limits, and can be woken from any thread
 * through an eventfd. See spec/dataplane.md, "Ring and loop".
 *
 * Threading: everything here is loop-thread only, except vx_loop_wake() and vx_loop_stop().
 */
#ifndef VX_LOOP_H
#define VX_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "vx_compiler.h"
#include "vx_list.h"
#include "vx_ring.h"

struct vx_loop;

/*
 * A completion handler: interprets @res (the CQE result, already a negative errno on
 * failure), moves its owner's state machine and queues the next SQEs. Never blocks. @op has
 * already been disarmed unless @cflags has IORING_CQE_F_MORE.
 */
typedef void (*vx_op_handler_fn)(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags);

/* Work queued to run after the current CQE drain (never inside a handler's stack). */
struct vx_loop_work {
	struct vx_list node; /* on the loop's deferred list while queued */
	void (*fn)(struct vx_loop *loop, struct vx_loop_work *work);
	bool queued;
};

/* A callback run on every tick (vx_loop_cfg.tick_ms) on the loop thread. */
struct vx_loop_ticker {
	struct vx_list node;
	void (*fn)(struct vx_loop *loop, struct vx_loop_ticker *ticker, uint64_t now_ms);
};

struct vx_loop_cfg {
	uint32_t sq_entries; /* SQ size; 0: 256 */
	uint32_t tick_ms;    /* period of tickers; 0: 100 */
};

/*
 * vx_loop_new() - create a loop and its ring on the calling thread, which becomes its owner.
 * @out: OUT: the loop, returned owned (free with vx_loop_free()); NULL on failure.
 * Returns 0, or a negative errno from ring setup (run vx_ring_probe() for a diagnosis).
 */
VX_MUST_CHECK int vx_loop_new(struct vx_loop **out, const struct vx_loop_cfg *cfg);

/*
 * vx_loop_free() - take @loop and free it. Every owner must have been shut down first: the
 * loop asserts that nothing of theirs is in flight. NULL is a no-op. Loop thread only.
 */
void vx_loop_free(struct vx_loop *loop);

/* The ring, lent until vx_loop_free(). Loop thread only. */
struct io_uring *vx_loop_ring(struct vx_loop *loop);

/* Registers @fn for CQEs of @kind; one handler per kind, set before the first op is armed. */
void vx_loop_set_handler(struct vx_loop *loop, enum vx_op_kind kind, vx_op_handler_fn fn);

/* Returns an SQE (vx_ring_get_sqe() on the loop's ring). Never NULL. */
struct io_uring_sqe *vx_loop_sqe(struct vx_loop *loop);

/*
 * vx_loop_arm() - make @sqe carry @op (borrowed until its final CQE) and count it in flight.
 * @op must not be armed already. Set @multishot for multishot opcodes, which stay armed while
 * their CQEs have IORING_CQE_F_MORE.
 */
void vx_loop_arm(struct vx_loop *loop, struct vx_op *op, struct io_uring_sqe *sqe, bool multishot);

/*
 * vx_loop_cancel() - ask the kernel to cancel @op if it is armed; a no-op otherwise. The
 * op's own CQE still arrives (usually -ECANCELED) and must be handled as usual.
 */
void vx_loop_cancel(struct vx_loop *loop, struct vx_op *op);

/* Cancels every request on @fd (IORING_ASYNC_CANCEL_FD | ALL). */
void vx_loop_cancel_fd(struct vx_loop *loop, int fd);

/* Queues @work to run after the current drain; a no-op if already queued. */
void vx_loop_defer(struct vx_loop *loop, struct vx_loop_work *work);

/* Adds @t (borrowed until vx_loop_del_ticker()) to the tickers. */
void vx_loop_add_ticker(struct vx_loop *loop, struct vx_loop_ticker *t);
void vx_loop_del_ticker(struct vx_loop *loop, struct vx_loop_ticker *t);

/* The monotonic time in ms cached at the start of the current iteration. */
uint64_t vx_loop_now_ms(const struct vx_loop *loop);

/* Number of SQEs (counting a multishot once) whose final CQE has not been seen. */
uint32_t vx_loop_inflight(const struct vx_loop *loop);

/*
 * vx_loop_run_once() - submit what is queued, wait up to @timeout_ms for at least one CQE,
 * dispatch every CQE there is, then run deferred work. Returns the number of CQEs handled or a
 * negative errno from the ring.
 */
VX_MUST_CHECK int vx_loop_run_once(struct vx_loop *loop, uint32_t timeout_ms);

/*
 * vx_loop_run() - iterate until vx_loop_stop() has been called and (after the stop) the only
 * operations in flight are the loop's own. Returns 0 or a negative errno from the ring.
 */
VX_MUST_CHECK int vx_loop_run(struct vx_loop *loop);

/* True once vx_loop_stop() has been called. */
bool vx_loop_stopping(const struct vx_loop *loop);

/*
 * vx_loop_set_on_stop() - @fn runs once on the loop thread when a stop is first seen, so owners
 * can start their shutdown (cancel, close). @arg is borrowed.
 */
void vx_loop_set_on_stop(struct vx_loop *loop, void (*fn)(struct vx_loop *loop, void *arg),
			 void *arg);

/*
 * vx_loop_set_on_wake() - @fn runs on the loop thread after each wakeup from another thread
 * (vx_loop_wake()), so it can drain whatever mailbox the waker filled. @arg is borrowed.
 */
void vx_loop_set_on_wake(struct vx_loop *loop, void (*fn)(struct vx_loop *loop, void *arg),
			 void *arg);

/* Wakes the loop from any thread (eventfd write). Async-signal-safe. */
void vx_loop_wake(struct vx_loop *loop);

/* Asks the loop to stop, from any thread. */
void vx_loop_stop(struct vx_loop *loop);

#endif /* VX_LOOP_H */
