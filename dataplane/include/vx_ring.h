/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_ring.h: the thin layer over one io_uring ring. A ring belongs to the thread that created
 * it (SINGLE_ISSUER | DEFER_TASKRUN when the kernel has them). Every SQE carries as user_data
 * the address of a struct vx_op embedded in its owner (a connection, a listener, the loop);
 * there is no allocation per operation. SQEs are obtained only through vx_ring_get_sqe(), which
 * submits once when the SQ is full. See spec/dataplane.md, "Ring and loop".
 */
#ifndef VX_RING_H
#define VX_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <liburing.h>

#include "vx_compiler.h"

/*
 * What an in-flight operation is for. The loop dispatches each CQE with one table lookup on
 * this value; owners register one handler per kind they use (vx_loop_set_handler()).
 */
enum vx_op_kind {
	VX_OP_NONE = 0,
	VX_OP_WAKE = 1,		       /* eventfd read: another thread woke the loop */
	VX_OP_TICK = 2,		       /* the loop's periodic timeout */
	VX_OP_CANCEL = 3,	       /* an async cancel; its own result is ignored */
	VX_OP_ACCEPT = 4,	       /* multishot accept on a listener */
	VX_OP_UP_RECV = 5,	       /* upload connection: receive requests */
	VX_OP_UP_RECV_TIMEOUT = 6,     /* linked timeout of VX_OP_UP_RECV */
	VX_OP_UP_SEND = 7,	       /* upload connection: send a frame head or an error */
	VX_OP_UP_SPLICE_IN = 8,	       /* upload: file -> pipe */
	VX_OP_UP_SPLICE_OUT = 9,       /* upload: pipe -> socket */
	VX_OP_UP_WAIT = 10,	       /* upload: bound on waiting for an unfinished piece */
	VX_OP_UP_CLOSE = 11,	       /* upload: close of the socket */
	VX_OP_FX_CONNECT = 12,	       /* fetcher: connect */
	VX_OP_FX_CONNECT_TIMEOUT = 13, /* linked timeout of VX_OP_FX_CONNECT */
	VX_OP_FX_SEND = 14,	       /* fetcher: send requests */
	VX_OP_FX_RECV = 15,	       /* fetcher: receive heads and bodies */
	VX_OP_FX_RECV_TIMEOUT = 16,    /* linked timeout of VX_OP_FX_RECV */
	VX_OP_FX_WRITE = 17,	       /* fetcher: write a verified piece to storage */
	VX_OP_FX_CLOSE = 18,	       /* fetcher: close of the socket */
	VX_OP_TEST = 19,	       /* reserved for tests */
	VX_OP_UP_SEND_BODY = 20,       /* upload: body by send / send_zc from a mapping */
	VX_OP_POLL = 21,	       /* poll of a foreign fd (control client, store notifier) */
	VX_OP_UP_POLLOUT = 22,	       /* upload: wait for room in a full socket (splice body) */
	VX_OP_KIND_NR,
};

enum vx_op_flags {
	VX_OP_F_ARMED = 1u << 0,     /* an SQE with this op as user_data is in the kernel */
	VX_OP_F_MULTISHOT = 1u << 1, /* armed as multishot: stays armed while CQE_F_MORE */
};

/*
 * One operation slot, embedded in its owner. At most one SQE may point at an op at a time (a
 * multishot SQE counts as one until its final CQE). @gen is the owner's slot generation copied
 * when the op is armed; the loop asserts on dispatch that it still equals *@owner_gen, so a CQE
 * that outlives the slot it was meant for trips an assertion instead of touching a stranger.
 */
struct vx_op {
	uint8_t kind;		   /* enum vx_op_kind */
	uint8_t flags;		   /* enum vx_op_flags */
	uint32_t gen;		   /* owner generation when armed */
	const uint32_t *owner_gen; /* the owner's live generation; NULL: never reused */
	void *owner;		   /* what the handler works on */
};

/*
 * vx_op_init() - set up @op for @kind on behalf of @owner (borrowed; must outlive every SQE
 * that carries the op). @owner_gen may be NULL for owners that are never recycled.
 */
void vx_op_init(struct vx_op *op, enum vx_op_kind kind, void *owner, const uint32_t *owner_gen);

/* True while an SQE carrying @op is in the kernel. */
static inline bool vx_op_armed(const struct vx_op *op)
{
	return (op->flags & VX_OP_F_ARMED) != 0;
}

/*
 * vx_ring_probe() - check that io_uring works here and has every opcode vx uses (accept with
 * multishot, recv, send, splice, read, write, timeout, link timeout, async cancel, connect,
 * close). Creates and destroys a small ring. Thread-safe.
 * @diag: OUT: on failure a one-line diagnosis naming the likely cause (seccomp, the
 *        kernel.io_uring_disabled sysctl, an old kernel); borrowed, @diag_len bytes.
 * Returns 0, -ENOSYS (no io_uring), -EPERM (disabled or filtered) or -EOPNOTSUPP (an opcode
 * is missing).
 */
VX_MUST_CHECK int vx_ring_probe(char *diag, size_t diag_len);

/*
 * vx_ring_init() - create @ring (caller-owned storage) with @entries SQEs and 4x CQEs, asking
 * for SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN and falling back to plainer setups when the
 * kernel refuses them. Must be called on the thread that will use the ring; only that thread
 * may touch it afterwards. Release with io_uring_queue_exit().
 * @flags_out: OUT, may be NULL: the IORING_SETUP_* flags in force.
 * Returns 0 or a negative errno (the ring is then untouched).
 */
VX_MUST_CHECK int vx_ring_init(struct io_uring *ring, unsigned int entries,
			       unsigned int *flags_out);

/*
 * vx_ring_get_sqe() - the one way to get an SQE. When the SQ is full it submits once and
 * retries; a second failure is a bug (asserts). Never returns NULL.
 */
struct io_uring_sqe *vx_ring_get_sqe(struct io_uring *ring);

/*
 * vx_ring_reserve() - make sure @nr SQEs can be taken without an intervening submit, so a
 * linked chain is never split by vx_ring_get_sqe()'s flush. Call before taking the first SQE
 * of a chain. @nr must be at most the ring's SQ size.
 */
void vx_ring_reserve(struct io_uring *ring, unsigned int nr);

/*
 * vx_ring_sanitize() - in address-sanitizer builds, walk the SQEs not yet submitted and assert
 * that no buffer they name is poisoned (ASan cannot see the kernel touch user memory). A no-op
 * in other builds. Called by the loop before each submit.
 */
void vx_ring_sanitize(struct io_uring *ring);

#endif /* VX_RING_H */
