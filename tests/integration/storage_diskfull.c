/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage_diskfull.c: the piece store on a small tmpfs that the test mounts itself, in a
 * private mount namespace (unshare), so nothing outside the test sees it. Checks that a task
 * that cannot fit is refused at admission and leaves no file; that a preallocated task keeps
 * its space when the filesystem fills up later; and that a full disk in the middle of a sparse
 * download fails the task with -ENOSPC, wakes its waiters, keeps its finished pieces and leaves
 * a store that reopens consistently and completes the task once space is back.
 * Skips (exit 77) with the reason when it cannot create the namespace or mount.
 */
#include "vx_test.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <zlib.h>

#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_store.h"

#include "storage_util.h"

#define FS_BYTES (12u << 20) /* the tmpfs */
#define PL	 (256u * 1024)

static char g_mnt[1024];
static char g_dir[1100];
static uint8_t *g_buf;

static int mount_private_tmpfs(void)
{
	char opts[64];

	if (unshare(CLONE_NEWNS) == -1) {
		/* Not privileged: try a user namespace that maps us to root. */
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) == -1) {
			fprintf(stderr, "storage_diskfull: SKIP: unshare: %s\n", strerror(errno));
			return -1;
		}
	}
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1) {
		fprintf(stderr, "storage_diskfull: SKIP: make / private: %s\n", strerror(errno));
		return -1;
	}
	snprintf(opts, sizeof(opts), "size=%u", FS_BYTES);
	if (mount("tmpfs", g_mnt, "tmpfs", 0, opts) == -1) {
		fprintf(stderr, "storage_diskfull: SKIP: mount tmpfs: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static struct vx_store *open_store(bool prealloc)
{
	struct vx_store_cfg cfg;
	struct vx_store *s = NULL;

	vx_store_cfg_init(&cfg);
	cfg.dir = g_dir;
	cfg.no_flush_thread = true;
	cfg.no_preallocate = !prealloc;
	cfg.gc_high_pct = 100;
	cfg.gc_low_pct = 100;
	assert_int_equal(vx_store_open(&s, &cfg), 0);
	return s;
}

static struct vx_store_task *new_task(struct vx_store *s, unsigned int seed, uint64_t len, int *err)
{
	struct vx_store_task_params p = { 0 };
	struct vx_store_task *t = NULL;
	char id[65];

	st_task_id(seed, id);
	p.id = id;
	p.content_length = len;
	p.piece_length = PL;
	*err = vx_store_task_open(s, &p, VX_STORE_USE_DOWNLOAD, &t);
	return t;
}

/* Fills the filesystem with a filler file until fewer than @leave bytes are free. */
static void fill_fs(const char *name, uint64_t leave)
{
	char path[1200];
	struct statvfs v;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", g_mnt, name);
	fd = open(path, O_CREAT | O_WRONLY | O_APPEND, 0644);
	assert_true(fd >= 0);
	memset(g_buf, 0xee, PL);
	for (;;) {
		assert_int_equal(statvfs(g_mnt, &v), 0);
		if ((uint64_t)v.f_bavail * v.f_frsize < leave)
			break;
		if (write(fd, g_buf, 4096) != 4096)
			break;
	}
	close(fd);
}

static void drop_filler(const char *name)
{
	char path[1200];

	snprintf(path, sizeof(path), "%s/%s", g_mnt, name);
	unlink(path);
}

static int write_piece(struct vx_store_task *t, unsigned int seed, uint32_t n, uint64_t len)
{
	uint64_t off = (uint64_t)n * PL;
	size_t sz = (size_t)(len - off < PL ? len - off : PL);

	st_fill(g_buf, sz, seed, n);
	return vx_store_piece_write(t, n, g_buf, sz, true, (uint32_t)crc32(0, g_buf, (uInt)sz),
				    NULL);
}

static void test_task_open__refused_when_it_cannot_fit(void **state)
{
	struct vx_store *s = open_store(true);
	struct vx_store_task *t;
	char path[1300], id[65];
	int err;

	(void)state;
	t = new_task(s, 1, 2ull * FS_BYTES, &err);
	assert_int_equal(err, -ENOSPC);
	assert_null(t);
	st_task_id(1, id);
	snprintf(path, sizeof(path), "%s/content/tasks/%.3s/%s", g_dir, id, id);
	assert_int_not_equal(access(path, F_OK), 0);
	vx_store_close(s);
}

static void test_piece_write__preallocated_task_keeps_its_space(void **state)
{
	struct vx_store *s = open_store(true);
	const uint64_t len = 4u << 20;
	struct vx_store_task *t;
	char id[65];
	int err;

	(void)state;
	t = new_task(s, 2, len, &err);
	assert_int_equal(err, 0);
	fill_fs("filler-a", 4096);
	for (uint32_t n = 0; n < len / PL; n++)
		assert_int_equal(write_piece(t, 2, n, len), 0);
	/* The metadata may not fit on a full disk: the pieces stay pending, nothing breaks. */
	err = vx_store_flush(s);
	assert_true(err == 0 || err == -ENOSPC);
	drop_filler("filler-a");
	assert_int_equal(vx_store_flush(s), 0);
	for (uint32_t n = 0; n < len / PL; n++)
		assert_int_equal(vx_store_piece_verify(t, n), 0);
	memcpy(id, vx_store_task_id(t), sizeof(id));
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	assert_int_equal(vx_store_task_remove(s, id), 0);
	vx_store_close(s);
}

struct wctx {
	int calls;
	int status;
};

static void on_wait(struct vx_store_waiter *w, int status)
{
	struct wctx *c = w->arg;

	c->calls++;
	c->status = status;
}

static void test_piece_write__disk_full_midway_fails_task_cleanly(void **state)
{
	struct vx_store *s = open_store(false);
	const uint64_t len = 6u << 20;
	const uint32_t npieces = (uint32_t)(len / PL);
	struct vx_store_notifier *n = NULL;
	struct vx_store_waiter w = { 0 };
	struct wctx c = { 0 };
	struct vx_store_task *t;
	struct vx_store_task_info info;
	uint32_t written = 0;
	char id[65];
	int err = 0;

	(void)state;
	t = new_task(s, 3, len, &err);
	assert_int_equal(err, 0);
	memcpy(id, vx_store_task_id(t), sizeof(id));
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(write_piece(t, 3, i, len), 0);
	assert_int_equal(vx_store_flush(s), 0);
	written = 4;
	{
		struct vx_store_stats st;

		/* A sparse task counts the blocks it really holds, not its length. */
		vx_store_stats(s, &st);
		assert_true(st.disk_bytes >= 4ull * PL);
		assert_true(st.disk_bytes < len);
	}
	assert_int_equal(vx_store_notifier_new(s, &n), 0);
	w.fn = on_wait;
	w.arg = &c;
	assert_int_equal(vx_store_wait_piece(t, npieces - 1, &w, n), 0);
	/* Someone else fills the disk while we download. */
	fill_fs("filler-b", 3 * PL / 2);
	for (uint32_t i = 4; i < npieces; i++) {
		err = write_piece(t, 3, i, len);
		if (err)
			break;
		written++;
	}
	assert_int_equal(err, -ENOSPC);
	assert_true(written < npieces);
	vx_store_task_info(t, &info);
	assert_int_equal(info.state, VX_STORE_TASK_FAILED);
	assert_int_equal(info.error, -ENOSPC);
	assert_int_equal(vx_store_notifier_drain(n, 8), 1);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.status, -ENOSPC);
	assert_int_equal(write_piece(t, 3, npieces - 1, len), -ENOSPC);
	/* Every finished piece is intact. */
	for (uint32_t i = 0; i < npieces; i++) {
		if (vx_store_piece_is_finished(t, i))
			assert_int_equal(vx_store_piece_verify(t, i), 0);
	}
	err = vx_store_flush(s);
	assert_true(err == 0 || err == -ENOSPC);
	vx_store_notifier_free(n);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	vx_store_close(s);

	/* Space comes back: the store reopens, keeps the durable pieces and finishes the task. */
	drop_filler("filler-b");
	s = open_store(false);
	t = new_task(s, 3, len, &err);
	assert_int_equal(err, 0);
	vx_store_task_info(t, &info);
	assert_int_equal(info.state, VX_STORE_TASK_DOWNLOADING);
	assert_true(info.finished_count >= 4);
	for (uint32_t i = 0; i < npieces; i++) {
		if (vx_store_piece_is_finished(t, i)) {
			assert_int_equal(vx_store_piece_verify(t, i), 0);
			continue;
		}
		assert_int_equal(write_piece(t, 3, i, len), 0);
	}
	vx_store_task_info(t, &info);
	assert_int_equal(info.state, VX_STORE_TASK_COMPLETE);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	assert_int_equal(vx_store_task_remove(s, id), 0);
	vx_store_close(s);
}

static void test_store_open__direct_policy_on_tmpfs(void **state)
{
	struct vx_store_cfg cfg;
	struct vx_store *s = NULL;
	struct vx_store_stats st;
	bool supported;

	(void)state;
	s = open_store(true);
	vx_store_stats(s, &st);
	supported = st.direct_io;
	vx_store_close(s);
	printf("tmpfs here %s O_DIRECT\n", supported ? "supports" : "does not support");
	vx_store_cfg_init(&cfg);
	cfg.dir = g_dir;
	cfg.no_flush_thread = true;
	cfg.direct_io = VX_STORE_DIRECT_REQUIRED;
	s = NULL;
	assert_int_equal(vx_store_open(&s, &cfg), supported ? 0 : -EINVAL);
	vx_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_open__direct_policy_on_tmpfs),
		cmocka_unit_test(test_task_open__refused_when_it_cannot_fit),
		cmocka_unit_test(test_piece_write__preallocated_task_keeps_its_space),
		cmocka_unit_test(test_piece_write__disk_full_midway_fails_task_cleanly),
	};
	int rc;

	setvbuf(stdout, NULL, _IONBF, 0);
	vx_log_set_level(VX_LOG_ERROR);
	if (st_mkdtemp("storage-diskfull", g_mnt, sizeof(g_mnt)) != 0) {
		perror("mkdtemp");
		return 1;
	}
	if (mount_private_tmpfs() != 0) {
		rmdir(g_mnt);
		return VX_TEST_SKIP;
	}
	snprintf(g_dir, sizeof(g_dir), "%s/store", g_mnt);
	g_buf = vx_aligned_alloc(4096, PL);
	rc = cmocka_run_group_tests_name("storage_diskfull", tests, NULL, NULL);
	vx_free(g_buf);
	umount2(g_mnt, MNT_DETACH);
	rmdir(g_mnt);
	return rc;
}
