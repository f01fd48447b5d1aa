/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_loop.h: vx_loop.h without a ring, for connection-level fuzzing. The owner's code is
 * the production code, compiled against this file instead of loop.c: it prepares SQEs as
 * usual, and arming one records it here as pending. The test then decides what each pending
 * operation returns and when (vx_fake_loop_complete()), runs deferred work and ticks the
 * clock, so every interleaving is a function of the input: no kernel, no socket, no timing.
 */
#ifndef VX_FAKE_LOOP_H
#define VX_FAKE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "vx_loop.h"

#define VX_FAKE_PENDING_MAX 64

struct vx_fake_pending {
	struct vx_op *op;
	struct io_uring_sqe sqe; /* as prepared by the owner */
	bool cancel;		 /* vx_loop_cancel() or vx_loop_cancel_fd() named it */
};

struct vx_loop {
	vx_op_handler_fn handlers[VX_OP_KIND_NR];
	struct io_uring_sqe scratch[8]; /* handed out by vx_loop_sqe(), copied on arm */
	uint32_t scratch_next;
	struct vx_fake_pending pending[VX_FAKE_PENDING_MAX]; /* in arming order */
	uint32_t npending;
	struct vx_list deferred;
	struct vx_list tickers;
	uint64_t now_ms;
};

/* Prepares @loop (caller-owned) with the clock at @now_ms. */
void vx_fake_loop_init(struct vx_loop *loop, uint64_t now_ms);

/*
 * Completes pending operation @i with @res and @cflags exactly as loop.c dispatches a CQE: the
 * op is disarmed (unless IORING_CQE_F_MORE) and its handler runs. Indices after @i shift down.
 */
void vx_fake_loop_complete(struct vx_loop *loop, uint32_t i, int res, uint32_t cflags);

/* Runs the work queued with vx_loop_defer(), as the loop does after a drain. */
void vx_fake_loop_run_deferred(struct vx_loop *loop);

/* Moves the clock on by @ms and runs every ticker. */
void vx_fake_loop_tick(struct vx_loop *loop, uint64_t ms);

#endif /* VX_FAKE_LOOP_H */
