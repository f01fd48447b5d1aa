/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_loop.c: the vx_loop.h functions an owner calls, and vx_op_init() / vx_ring_reserve()
 * from vx_ring.h, over a list of pending operations instead of a ring (see fake_loop.h). The
 * checks are loop.c's: an op is armed once, its generation still matches when it completes.
 */
#include "fake_loop.h"

#include <string.h>

#include "vx_assert.h"

void vx_fake_loop_init(struct vx_loop *loop, uint64_t now_ms)
{
	memset(loop, 0, sizeof(*loop));
	vx_list_init(&loop->deferred);
	vx_list_init(&loop->tickers);
	loop->now_ms = now_ms;
}

void vx_op_init(struct vx_op *op, enum vx_op_kind kind, void *owner, const uint32_t *owner_gen)
{
	VX_ASSERT(kind > VX_OP_NONE && kind < VX_OP_KIND_NR);
	VX_ASSERT(!vx_op_armed(op));
	op->kind = (uint8_t)kind;
	op->flags = 0;
	op->gen = owner_gen ? *owner_gen : 0;
	op->owner_gen = owner_gen;
	op->owner = owner;
}

void vx_ring_reserve(struct io_uring *ring, unsigned int nr)
{
	(void)ring;
	(void)nr;
}

struct io_uring *vx_loop_ring(struct vx_loop *loop)
{
	(void)loop;
	return NULL; /* only ever passed to vx_ring_reserve() above */
}

void vx_loop_set_handler(struct vx_loop *loop, enum vx_op_kind kind, vx_op_handler_fn fn)
{
	VX_ASSERT(kind < VX_OP_KIND_NR);
	loop->handlers[kind] = fn;
}

struct io_uring_sqe *vx_loop_sqe(struct vx_loop *loop)
{
	struct io_uring_sqe *sqe = &loop->scratch[loop->scratch_next++ % 8];

	memset(sqe, 0, sizeof(*sqe));
	return sqe;
}

void vx_loop_arm(struct vx_loop *loop, struct vx_op *op, struct io_uring_sqe *sqe, bool multishot)
{
	struct vx_fake_pending *p;

	VX_ASSERT(!vx_op_armed(op));
	VX_ASSERT(op->kind > VX_OP_CANCEL);
	VX_ASSERT(loop->handlers[op->kind] != NULL);
	VX_ASSERT(loop->npending < VX_FAKE_PENDING_MAX);
	op->gen = op->owner_gen ? *op->owner_gen : 0;
	op->flags = VX_OP_F_ARMED | (multishot ? VX_OP_F_MULTISHOT : 0);
	io_uring_sqe_set_data(sqe, op);
	p = &loop->pending[loop->npending++];
	p->op = op;
	p->sqe = *sqe;
	p->cancel = false;
}

void vx_loop_cancel(struct vx_loop *loop, struct vx_op *op)
{
	for (uint32_t i = 0; i < loop->npending; i++) {
		if (loop->pending[i].op == op)
			loop->pending[i].cancel = true;
	}
}

void vx_loop_cancel_fd(struct vx_loop *loop, int fd)
{
	for (uint32_t i = 0; i < loop->npending; i++) {
		if (loop->pending[i].sqe.fd == fd &&
		    loop->pending[i].sqe.opcode != IORING_OP_LINK_TIMEOUT)
			loop->pending[i].cancel = true;
	}
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
	vx_list_add_tail(&loop->tickers, &t->node);
}

void vx_loop_del_ticker(struct vx_loop *loop, struct vx_loop_ticker *t)
{
	(void)loop;
	vx_list_del(&t->node);
}

uint64_t vx_loop_now_ms(const struct vx_loop *loop)
{
	return loop->now_ms;
}

void vx_fake_loop_complete(struct vx_loop *loop, uint32_t i, int res, uint32_t cflags)
{
	struct vx_op *op;
	vx_op_handler_fn fn;

	VX_ASSERT(i < loop->npending);
	op = loop->pending[i].op;
	VX_ASSERT(vx_op_armed(op));
	VX_ASSERT(op->owner_gen == NULL || *op->owner_gen == op->gen);
	if (!(cflags & IORING_CQE_F_MORE)) {
		op->flags = 0;
		memmove(&loop->pending[i], &loop->pending[i + 1],
			(loop->npending - i - 1) * sizeof(loop->pending[0]));
		loop->npending--;
	}
	fn = loop->handlers[op->kind];
	VX_ASSERT(fn != NULL);
	fn(loop, op, res, cflags);
}

void vx_fake_loop_run_deferred(struct vx_loop *loop)
{
	unsigned int budget = 4096;

	while (!vx_list_empty(&loop->deferred) && budget-- > 0) {
		struct vx_loop_work *w = vx_list_first(&loop->deferred, struct vx_loop_work, node);

		vx_list_del(&w->node);
		w->queued = false;
		w->fn(loop, w);
	}
}

void vx_fake_loop_tick(struct vx_loop *loop, uint64_t ms)
{
	struct vx_list *pos, *next;

	loop->now_ms += ms;
	for (pos = loop->tickers.next; pos != &loop->tickers; pos = next) {
		struct vx_loop_ticker *t = vx_list_entry(pos, struct vx_loop_ticker, node);

		next = pos->next;
		t->fn(loop, t, loop->now_ms);
	}
}
