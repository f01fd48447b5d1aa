/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage_stress.c: every thread of a real peer at once on one store: two writer threads race
 * for the same pieces through begin_write/commit (one wins, the other gets -EBUSY or
 * -EALREADY), an uploader thread waits for pieces through a notifier and its eventfd (never
 * blocking in the store) and checks each piece's bytes through the lent mapping and fd, a
 * HAVE-style subscriber follows the finish log, while the flusher and GC run in the background
 * and a GC thread hammers vx_store_gc(). At the end every task is complete, the finish log
 * lists each piece exactly once, and after a reopen every piece is durable and intact. Meant to
 * run under ASan and TSan too.
 */
#include "vx_test.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "vx_alloc.h"
#include "vx_log.h"
#include "vx_store.h"

#include "storage_util.h"

#define PL	(16u * 1024)
#define NPIECES 64u
#define NTASKS	3u
#define CLEN	((uint64_t)PL * (NPIECES - 1) + 333u)

static char g_dir[1024];
static struct vx_store *g_store;
static struct vx_store_task *g_tasks[NTASKS];
static atomic_bool g_stop;
static atomic_uint g_commits, g_busy;

static size_t psize(uint32_t n)
{
	uint64_t off = (uint64_t)n * PL;

	return (size_t)(CLEN - off < PL ? CLEN - off : PL);
}

static void *writer_main(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;
	uint8_t *buf = vx_aligned_alloc(4096, PL);

	for (uint32_t i = 0; i < NTASKS * NPIECES; i++) {
		uint32_t k = (i * 97u + seed * 31u) % (NTASKS * NPIECES);
		struct vx_store_task *t = g_tasks[k / NPIECES];
		uint32_t n = k % NPIECES;
		struct vx_store_piece_io io;
		struct vx_store_piece_done done = { 0 };
		int err = vx_store_piece_begin_write(t, n, &io);

		if (err == -EBUSY || err == -EALREADY) {
			atomic_fetch_add(&g_busy, 1);
			continue;
		}
		if (err)
			abort();
		st_fill(buf, psize(n), k / NPIECES, n);
		if (pwrite(io.fd, buf, psize(n), (off_t)io.offset) != (ssize_t)psize(n))
			abort();
		done.crc32 = (uint32_t)crc32(0, buf, (uInt)psize(n));
		done.parent_id = seed ? "10.0.0.2-b-peer" : "";
		if (vx_store_piece_commit(t, n, &done) != 0)
			abort();
		atomic_fetch_add(&g_commits, 1);
	}
	vx_free(buf);
	return NULL;
}

struct upl {
	struct vx_store_waiter w;
	int fired;
	int status;
};

static void on_fire(struct vx_store_waiter *w, int status)
{
	struct upl *u = w->arg;

	u->fired++;
	u->status = status;
}

/* Waits for every piece of every task without blocking in the store, and checks its bytes. */
static void *uploader_main(void *arg)
{
	struct vx_store_notifier *n = NULL;
	struct upl u = { 0 };
	uint8_t *want = malloc(PL);

	(void)arg;
	if (vx_store_notifier_new(g_store, &n) != 0)
		abort();
	u.w.fn = on_fire;
	u.w.arg = &u;
	for (uint32_t k = 0; k < NTASKS * NPIECES; k++) {
		struct vx_store_task *t = g_tasks[k / NPIECES];
		uint32_t num = (k * 7u) % NPIECES;
		struct vx_store_piece_ref ref;
		int err;

		while ((err = vx_store_piece_get(t, num, &ref)) == -EAGAIN) {
			struct pollfd pfd = { .fd = vx_store_notifier_fd(n), .events = POLLIN };

			err = vx_store_wait_piece(t, num, &u.w, n);
			if (err == -EALREADY)
				continue;
			if (err)
				abort();
			if (poll(&pfd, 1, 5000) != 1)
				abort(); /* a commit must wake us */
			vx_store_notifier_drain(n, 16);
			if (u.status)
				abort();
		}
		if (err)
			abort();
		st_fill(want, (size_t)ref.length, k / NPIECES, num);
		if (ref.length != psize(num) || memcmp(ref.data, want, (size_t)ref.length) != 0)
			abort();
		if (ref.crc32 != (uint32_t)crc32(0, want, (uInt)ref.length))
			abort();
	}
	vx_store_notifier_free(n);
	free(want);
	return NULL;
}

/* Follows task 0's finish log with a progress waiter, as a HAVE sender would. */
static void *subscriber_main(void *arg)
{
	struct vx_store_notifier *n = NULL;
	struct upl u = { 0 };
	uint32_t cursor = 0, got[NPIECES], seen[NPIECES] = { 0 }, total = 0;
	struct vx_store_task *t = g_tasks[0];

	(void)arg;
	if (vx_store_notifier_new(g_store, &n) != 0)
		abort();
	u.w.fn = on_fire;
	u.w.arg = &u;
	while (total < NPIECES) {
		uint32_t nr = vx_store_task_finished_since(t, &cursor, got, NPIECES);

		for (uint32_t i = 0; i < nr; i++) {
			if (seen[got[i]]++)
				abort(); /* each piece finishes once */
			total++;
		}
		if (total == NPIECES)
			break;
		if (vx_store_wait_progress(t, cursor, &u.w, n) == 0) {
			struct pollfd pfd = { .fd = vx_store_notifier_fd(n), .events = POLLIN };

			if (poll(&pfd, 1, 5000) != 1)
				abort();
			vx_store_notifier_drain(n, 16);
		}
	}
	vx_store_notifier_free(n);
	return NULL;
}

static void *gc_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&g_stop)) {
		struct vx_store_gc_report r;
		struct vx_store_stats st;

		if (vx_store_gc(g_store, &r) != 0)
			abort();
		if (r.evicted || r.expired)
			abort(); /* every task is held: nothing may go */
		vx_store_stats(g_store, &st);
		usleep(1000);
	}
	return NULL;
}

static void open_store(void)
{
	struct vx_store_cfg cfg;

	vx_store_cfg_init(&cfg);
	cfg.dir = g_dir;
	cfg.flush_interval_ms = 2;
	cfg.flush_batch_pieces = 8;
	cfg.gc_interval_s = 1;
	cfg.gc_high_pct = 1; /* constant pressure: GC must still spare held tasks */
	cfg.gc_low_pct = 1;
	assert_int_equal(vx_store_open(&g_store, &cfg), 0);
}

static void test_store__all_threads_at_once(void **state)
{
	pthread_t w[2], up, sub, gc;

	(void)state;
	assert_int_equal(st_mkdtemp("storage-stress", g_dir, sizeof(g_dir)), 0);
	open_store();
	for (unsigned int i = 0; i < NTASKS; i++) {
		struct vx_store_task_params p = { 0 };
		char id[65];

		st_task_id(i, id);
		p.id = id;
		p.content_length = CLEN;
		p.piece_length = PL;
		p.kind = i == 2 ? VX_STORE_KIND_MEMORY : VX_STORE_KIND_NORMAL;
		assert_int_equal(
			vx_store_task_open(g_store, &p, VX_STORE_USE_DOWNLOAD, &g_tasks[i]), 0);
	}
	pthread_create(&gc, NULL, gc_main, NULL);
	pthread_create(&up, NULL, uploader_main, NULL);
	pthread_create(&sub, NULL, subscriber_main, NULL);
	pthread_create(&w[0], NULL, writer_main, (void *)(uintptr_t)0);
	pthread_create(&w[1], NULL, writer_main, (void *)(uintptr_t)1);
	pthread_join(w[0], NULL);
	pthread_join(w[1], NULL);
	pthread_join(up, NULL);
	pthread_join(sub, NULL);
	atomic_store(&g_stop, true);
	pthread_join(gc, NULL);
	/* Each piece was tried by both writers: exactly one commit and one refusal each. */
	assert_int_equal(atomic_load(&g_commits), NTASKS * NPIECES);
	assert_int_equal(atomic_load(&g_busy), NTASKS * NPIECES);
	for (unsigned int i = 0; i < NTASKS; i++) {
		struct vx_store_task_info info;

		vx_store_task_info(g_tasks[i], &info);
		assert_int_equal(info.state, VX_STORE_TASK_COMPLETE);
		vx_store_task_release(g_tasks[i], VX_STORE_USE_DOWNLOAD);
	}
	vx_store_close(g_store);

	/* Disk tasks come back complete and intact; the memory task is gone by design. */
	open_store();
	for (unsigned int i = 0; i < NTASKS; i++) {
		struct vx_store_task *t;
		char id[65];

		st_task_id(i, id);
		if (i == 2) {
			assert_int_equal(vx_store_task_acquire(g_store, id, VX_STORE_USE_READ, &t),
					 -ENOENT);
			continue;
		}
		assert_int_equal(vx_store_task_acquire(g_store, id, VX_STORE_USE_READ, &t), 0);
		for (uint32_t n = 0; n < NPIECES; n++)
			assert_int_equal(vx_store_piece_verify(t, n), 0);
		vx_store_task_release(t, VX_STORE_USE_READ);
	}
	vx_store_close(g_store);
	st_rmtree(g_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store__all_threads_at_once),
	};

	setvbuf(stdout, NULL, _IONBF, 0);
	vx_log_set_level(VX_LOG_ERROR);
	return cmocka_run_group_tests_name("storage_stress", tests, NULL, NULL);
}
