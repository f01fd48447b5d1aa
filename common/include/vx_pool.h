/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_pool.h: a bounded work pool in libuv's model. A fixed set of worker threads takes items
 * from a bounded queue and runs each item's @work; when it returns, the item goes to a
 * completion list and the pool's eventfd becomes readable. The owner thread (the one that
 * created the pool: an event loop) polls that fd and calls vx_pool_drain(), which runs each
 * finished item's @done on the owner thread. So blocking work (sqlite, fallocate, a stat or a
 * fetch from an origin, a digest over a file) never runs on the loop, and its result is only
 * ever touched by the loop.
 *
 * The queue is bounded: a full queue makes vx_pool_submit() return -EAGAIN and the caller keeps
 * the item in its own list until a completion frees a place. No thread is ever created per
 * item.
 *
 * Threading: vx_pool_new(), _submit(), _drain(), _pending() and _free() on the owner thread
 * only (asserted in debug builds); @work on a worker; @done on the owner thread.
 */
#ifndef VX_POOL_H
#define VX_POOL_H

#include <stdint.h>

#include "vx_compiler.h"
#include "vx_list.h"

/* Worker threads when the caller says 0. */
#define VX_POOL_THREADS_DEFAULT 4u
/* Most worker threads. */
#define VX_POOL_THREADS_MAX 256u

struct vx_pool;

/* One item, embedded in the caller's struct (vx_container_of()); owned by the caller. */
struct vx_work {
	void (*work)(struct vx_work *w); /* on a worker thread */
	/* On the owner thread: @status 0 after @work ran, -ECANCELED when the pool was freed
	 * before @work started (it never runs then). The item is the caller's again. */
	void (*done)(struct vx_work *w, int status);
	struct vx_list node; /* the pool's while submitted */
	int status;	     /* the pool's */
};

/*
 * vx_pool_new() - start @threads workers (0: VX_POOL_THREADS_DEFAULT, at most
 * VX_POOL_THREADS_MAX) over a queue of at most @queue_max items waiting to start (0: as many as
 * @threads). The calling thread becomes the owner. @out: OUT, owned (vx_pool_free()).
 * Returns 0, -EINVAL, -ENOMEM, or -errno of eventfd(2) / pthread_create(3).
 */
VX_MUST_CHECK int vx_pool_new(struct vx_pool **out, uint32_t threads, uint32_t queue_max);

/* The eventfd that is readable while finished items wait for vx_pool_drain(); lent. */
int vx_pool_fd(const struct vx_pool *p);

/*
 * vx_pool_submit() - queue @w (with @work and @done set) for a worker. Returns 0, -EAGAIN
 * when @queue_max items already wait to start (back-pressure: keep @w and submit it again
 * after a completion), or -ESHUTDOWN from a @done that vx_pool_free() runs. @w is the pool's
 * from 0 until its @done runs.
 */
VX_MUST_CHECK int vx_pool_submit(struct vx_pool *p, struct vx_work *w);

/* Runs @done of every finished item, in the order they finished, on the owner thread (a @done
 * may submit again). Returns how many ran. */
uint32_t vx_pool_drain(struct vx_pool *p);

/* Items submitted whose @done has not run yet (waiting, running or finished). */
uint32_t vx_pool_pending(const struct vx_pool *p);

/*
 * vx_pool_free() - stop the pool: items not started yet never run and get @done(-ECANCELED);
 * items running are waited for and get @done(0); then the workers are joined and @p freed.
 * Every @done runs here, on the owner thread. NULL is a no-op.
 */
void vx_pool_free(struct vx_pool *p);

#endif /* VX_POOL_H */
