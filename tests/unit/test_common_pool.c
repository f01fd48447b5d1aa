/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_pool.c: the bounded work pool (vx_pool.h): @done runs on the owner thread in the
 * order items finished, concurrency never exceeds the worker count (measured by a counter), a
 * full queue answers -EAGAIN, and freeing the pool cancels what has not started and waits for
 * what runs.
 */
#include "vx_test.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "vx_compiler.h"
#include "vx_pool.h"

struct item {
	struct vx_work w;
	int id;
	unsigned sleep_ms;
	pthread_t ran_on;
	int status;
	bool done;
};

static _Atomic int running, running_max;
/* Items wait (at most 5 s) until this many run at once: concurrency measured, not hoped for. */
static int gate;
static pthread_t owner;
static int order[64], nr_order;

static void item_work(struct vx_work *w)
{
	struct item *it = vx_container_of(w, struct item, w);
	int now = atomic_fetch_add(&running, 1) + 1, max = atomic_load(&running_max);

	while (now > max && !atomic_compare_exchange_weak(&running_max, &max, now))
		;
	it->ran_on = pthread_self();
	for (int i = 0; i < 5000 && atomic_load(&running_max) < gate; i++)
		usleep(1000);
	if (it->sleep_ms)
		usleep(it->sleep_ms * 1000);
	atomic_fetch_sub(&running, 1);
}

static void item_done(struct vx_work *w, int status)
{
	struct item *it = vx_container_of(w, struct item, w);

	assert_true(pthread_equal(pthread_self(), owner));
	assert_false(it->done);
	it->done = true;
	it->status = status;
	order[nr_order++] = it->id;
}

static void reset(struct item *items, int n, unsigned sleep_ms)
{
	atomic_store(&running, 0);
	atomic_store(&running_max, 0);
	gate = 0;
	owner = pthread_self();
	nr_order = 0;
	for (int i = 0; i < n; i++) {
		items[i] = (struct item){ .id = i, .sleep_ms = sleep_ms };
		items[i].w.work = item_work;
		items[i].w.done = item_done;
	}
}

/* Polls the pool's fd and drains until @n dones ran in all. */
static void drain_until(struct vx_pool *p, int n)
{
	struct pollfd pf = { .fd = vx_pool_fd(p), .events = POLLIN };

	while (nr_order < n) {
		assert_int_equal(poll(&pf, 1, 10000), 1);
		vx_pool_drain(p);
	}
}

static void test_pool__one_worker_keeps_order_and_done_on_owner(void **state)
{
	struct item items[16];
	struct vx_pool *p;

	(void)state;
	reset(items, 16, 0);
	assert_int_equal(vx_pool_new(&p, 1, 16), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(vx_pool_submit(p, &items[i].w), 0);
	assert_int_equal(vx_pool_pending(p), 16);
	drain_until(p, 16);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(order[i], i);
		assert_int_equal(items[i].status, 0);
		assert_false(pthread_equal(items[i].ran_on, owner));
	}
	assert_int_equal(vx_pool_pending(p), 0);
	assert_int_equal(vx_pool_drain(p), 0);
	vx_pool_free(p);
}

static void test_pool__bounded_concurrency_and_backpressure(void **state)
{
	struct item items[12];
	struct vx_pool *p;
	int next = 0;

	(void)state;
	reset(items, 12, 30);
	gate = 3; /* a pool running fewer at once leaves running_max below 3 after the wait */
	assert_int_equal(vx_pool_new(&p, 3, 2), 0);
	/* Submit as fast as the queue takes them; a full queue says -EAGAIN, never blocks. */
	while (next < 12) {
		int rc = vx_pool_submit(p, &items[next].w);

		if (rc == -EAGAIN) {
			struct pollfd pf = { .fd = vx_pool_fd(p), .events = POLLIN };

			assert_true(vx_pool_pending(p) >= 2);
			assert_int_equal(poll(&pf, 1, 10000), 1);
			vx_pool_drain(p);
			continue;
		}
		assert_int_equal(rc, 0);
		next++;
	}
	drain_until(p, 12);
	assert_int_equal(atomic_load(&running_max), 3);
	vx_pool_free(p);
}

static void test_pool__free_cancels_queued_waits_running(void **state)
{
	struct item items[6];
	struct vx_pool *p;
	int cancelled = 0;

	(void)state;
	reset(items, 6, 0);
	items[0].sleep_ms = 100;
	assert_int_equal(vx_pool_new(&p, 1, 8), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(vx_pool_submit(p, &items[i].w), 0);
	while (atomic_load(&running) == 0)
		usleep(1000); /* item 0 is running; 1..5 wait */
	vx_pool_free(p);
	assert_int_equal(nr_order, 6);
	assert_true(items[0].done);
	assert_int_equal(items[0].status, 0);
	for (int i = 1; i < 6; i++) {
		assert_true(items[i].done);
		cancelled += items[i].status == -ECANCELED;
	}
	assert_int_equal(cancelled, 5);
	vx_pool_free(NULL);
}

static void test_pool__bad_sizes(void **state)
{
	struct vx_pool *p = NULL;

	(void)state;
	assert_int_equal(vx_pool_new(&p, VX_POOL_THREADS_MAX + 1, 1), -EINVAL);
	assert_int_equal(vx_pool_new(&p, 0, 0), 0);
	vx_pool_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool__one_worker_keeps_order_and_done_on_owner),
		cmocka_unit_test(test_pool__bounded_concurrency_and_backpressure),
		cmocka_unit_test(test_pool__free_cancels_queued_waits_running),
		cmocka_unit_test(test_pool__bad_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
