/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pool.c: the bounded work pool (vx_pool.h). One mutex guards the queue, the completion list
 * and the stop flag; workers sleep on @cond. A worker that finishes an item moves it to
 * @finished and adds 1 to the eventfd; the owner's drain reads the eventfd first and then
 * empties the list, so a completion posted in between is either drained now or leaves the
 * fd readable for the next poll.
 */
#include "vx_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_assert.h"

struct vx_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;  /* workers: an item is queued, or stop */
	struct vx_list queue; /* submitted, not started */
	struct vx_list finished;
	uint32_t queued, queue_max;
	bool stop;
	/* owner thread only */
	pthread_t owner;
	uint32_t pending;
	int efd;
	uint32_t nr_threads;
	pthread_t threads[];
};

static void pool_notify(struct vx_pool *p)
{
	uint64_t one = 1;

	/* Cannot fail short of a bad fd: the counter would need 2^64 - 1 posts to saturate. */
	while (write(p->efd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
}

static void *pool_worker(void *arg)
{
	struct vx_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct vx_work *w;

		while (!p->stop && vx_list_empty(&p->queue))
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop)
			break;
		w = vx_list_first(&p->queue, struct vx_work, node);
		vx_list_del(&w->node);
		p->queued--;
		pthread_mutex_unlock(&p->lock);

		w->work(w);

		pthread_mutex_lock(&p->lock);
		w->status = 0;
		vx_list_add_tail(&p->finished, &w->node);
		pool_notify(p);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void pool_assert_owner(const struct vx_pool *p)
{
	VX_DASSERT(pthread_equal(p->owner, pthread_self()));
	(void)p;
}

int vx_pool_new(struct vx_pool **out, uint32_t threads, uint32_t queue_max)
{
	struct vx_pool *p;
	int rc = 0;

	if (!threads)
		threads = VX_POOL_THREADS_DEFAULT;
	if (threads > VX_POOL_THREADS_MAX)
		return -EINVAL;
	p = vx_calloc(1, sizeof(*p) + threads * sizeof(p->threads[0]));
	if (!p)
		return -ENOMEM;
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd == -1) {
		rc = -errno;
		vx_free(p);
		return rc;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	vx_list_init(&p->queue);
	vx_list_init(&p->finished);
	p->queue_max = queue_max ? queue_max : threads;
	p->owner = pthread_self();
	for (; p->nr_threads < threads; p->nr_threads++) {
		rc = -pthread_create(&p->threads[p->nr_threads], NULL, pool_worker, p);
		if (rc) {
			vx_pool_free(p);
			return rc;
		}
	}
	*out = p;
	return 0;
}

int vx_pool_fd(const struct vx_pool *p)
{
	return p->efd;
}

int vx_pool_submit(struct vx_pool *p, struct vx_work *w)
{
	pool_assert_owner(p);
	VX_ASSERT(w->work && w->done);
	pthread_mutex_lock(&p->lock);
	if (p->stop || p->queued >= p->queue_max) {
		int rc = p->stop ? -ESHUTDOWN : -EAGAIN;

		pthread_mutex_unlock(&p->lock);
		return rc;
	}
	vx_list_add_tail(&p->queue, &w->node);
	p->queued++;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	p->pending++;
	return 0;
}

uint32_t vx_pool_drain(struct vx_pool *p)
{
	struct vx_list done;
	uint64_t v;
	uint32_t n = 0;

	pool_assert_owner(p);
	while (read(p->efd, &v, sizeof(v)) == -1 && errno == EINTR)
		;
	vx_list_init(&done);
	pthread_mutex_lock(&p->lock);
	while (!vx_list_empty(&p->finished)) {
		struct vx_list *e = p->finished.next;

		vx_list_del(e);
		vx_list_add_tail(&done, e);
	}
	pthread_mutex_unlock(&p->lock);
	while (!vx_list_empty(&done)) {
		struct vx_work *w = vx_list_first(&done, struct vx_work, node);

		vx_list_del(&w->node);
		vx_list_init(&w->node);
		VX_ASSERT(p->pending > 0);
		p->pending--;
		n++;
		w->done(w, w->status);
	}
	return n;
}

uint32_t vx_pool_pending(const struct vx_pool *p)
{
	pool_assert_owner(p);
	return p->pending;
}

void vx_pool_free(struct vx_pool *p)
{
	struct vx_list cancelled;

	if (!p)
		return;
	pool_assert_owner(p);
	vx_list_init(&cancelled);
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	while (!vx_list_empty(&p->queue)) {
		struct vx_list *e = p->queue.next;

		vx_list_del(e);
		vx_list_add_tail(&cancelled, e);
	}
	p->queued = 0;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	/* A worker finishes the item it runs before it sees the stop flag. */
	for (uint32_t i = 0; i < p->nr_threads; i++)
		pthread_join(p->threads[i], NULL);
	while (!vx_list_empty(&cancelled)) {
		struct vx_work *w = vx_list_first(&cancelled, struct vx_work, node);

		vx_list_del(&w->node);
		vx_list_init(&w->node);
		p->pending--;
		w->done(w, -ECANCELED);
	}
	vx_pool_drain(p);
	VX_ASSERT(p->pending == 0);
	close(p->efd);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	vx_free(p);
}
