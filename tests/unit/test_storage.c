/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_storage.c: the piece store on real files and real sqlite: layout, task admission,
 * the piece state machine and its errors, direct I/O choice, resume after reopen, waiters and
 * notifiers across threads, the memory tier, removal, export, GC (TTL, watermarks, pinning,
 * in-use protection, page cache) and injected allocation, I/O and database faults.
 */
#include "vx_test.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "vx_alloc.h"
#include "vx_compiler.h"
#include "vx_digest.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_store.h"

#include "../integration/storage_util.h"

/* Fault injection (vx_fault_arm) exists in debug and sanitizer builds only. */
#if defined(VX_DEBUG) && VX_DEBUG
#define FAULTS 1
#else
#define FAULTS 0
#endif

#define PL	(64u * 1024)		    /* piece length of the tests */
#define NPIECES 5u			    /* pieces per test task */
#define CLEN	(PL * (NPIECES - 1) + 1000) /* the last piece is short */

struct fixture {
	char dir[1024];
	struct vx_store *s;
	struct vx_store_cfg cfg;
	int64_t now; /* the fake clock */
	uint8_t *buf;
};

static int64_t fake_clock(void *arg)
{
	/* Atomic: the background flusher (and its GC) reads it too. */
	return __atomic_load_n(&((struct fixture *)arg)->now, __ATOMIC_RELAXED);
}

static int fx_open(struct fixture *f)
{
	f->cfg.dir = f->dir;
	return vx_store_open(&f->s, &f->cfg);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(st_mkdtemp("storage", f->dir, sizeof(f->dir)), 0);
	vx_store_cfg_init(&f->cfg);
	f->cfg.no_flush_thread = true;
	f->cfg.clock = fake_clock;
	f->cfg.clock_arg = f;
	f->now = 1000000;
	f->buf = vx_aligned_alloc(4096, PL);
	assert_non_null(f->buf);
	assert_int_equal(fx_open(f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vx_store_close(f->s);
	st_rmtree(f->dir);
	vx_free(f->buf);
	free(f);
	return 0;
}

static void fx_reopen(struct fixture *f)
{
	vx_store_close(f->s);
	f->s = NULL;
	assert_int_equal(fx_open(f), 0);
}

static struct vx_store_task *fx_task(struct fixture *f, unsigned int seed, uint64_t len,
				     enum vx_store_kind kind, enum vx_store_use use)
{
	struct vx_store_task_params p = { 0 };
	struct vx_store_task *t = NULL;
	char id[65];

	st_task_id(seed, id);
	p.id = id;
	p.url = "https://example.com/blob";
	p.content_length = len;
	p.piece_length = PL;
	p.kind = kind;
	assert_int_equal(vx_store_task_open(f->s, &p, use, &t), 0);
	assert_non_null(t);
	return t;
}

static uint64_t piece_size(uint64_t len, uint32_t n)
{
	uint64_t off = (uint64_t)n * PL;

	return len - off < PL ? len - off : PL;
}

/* Writes piece @n of task seed @seed through the blocking form, checked. */
static void fx_write(struct fixture *f, struct vx_store_task *t, unsigned int seed, uint64_t len,
		     uint32_t n)
{
	size_t sz = (size_t)piece_size(len, n);
	uint32_t crc;

	st_fill(f->buf, sz, seed, n);
	crc = (uint32_t)crc32(0, f->buf, (uInt)sz);
	assert_int_equal(vx_store_piece_write(t, n, f->buf, sz, true, crc, "10.0.0.1-h-peer"), 0);
}

static bool file_exists(const char *path, off_t *size)
{
	struct stat sb;

	if (stat(path, &sb) != 0)
		return false;
	if (size)
		*size = sb.st_size;
	return true;
}

/* ------------------------------------------------------------------------------------------- */

static void test_store_open__layout_and_exclusive_lock(void **state)
{
	struct fixture *f = *state;
	struct vx_store *other = NULL;
	struct vx_store_cfg cfg = f->cfg;
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/metadata/store.db", f->dir);
	assert_true(file_exists(p, NULL));
	snprintf(p, sizeof(p), "%s/content/tasks", f->dir);
	assert_true(file_exists(p, NULL));
	snprintf(p, sizeof(p), "%s/content/persistent-cache-tasks", f->dir);
	assert_true(file_exists(p, NULL));
	assert_int_equal(vx_store_open(&other, &cfg), VX_EDB_BUSY);
	assert_null(other);
}

static void test_store_open__bad_cfg(void **state)
{
	struct fixture *f = *state;
	struct vx_store *s = NULL;
	struct vx_store_cfg cfg = f->cfg;

	cfg.dir = NULL;
	assert_int_equal(vx_store_open(&s, &cfg), -EINVAL);
	cfg.dir = f->dir;
	cfg.gc_low_pct = 90;
	cfg.gc_high_pct = 50;
	assert_int_equal(vx_store_open(&s, &cfg), -EINVAL);
	assert_null(s);
}

static void test_store_open__direct_io_policy(void **state)
{
	struct fixture *f = *state;
	struct vx_store_stats st;
	struct vx_store_task *t;
	struct vx_store_piece_io io;
	bool supported;

	vx_store_stats(f->s, &st); /* OPTIONAL: uses O_DIRECT exactly when the probe passed */
	supported = st.direct_io;
	vx_store_close(f->s);
	f->s = NULL;
	f->cfg.direct_io = VX_STORE_DIRECT_REQUIRED;
	assert_int_equal(fx_open(f), supported ? 0 : -EINVAL);
	if (!supported)
		return; /* teardown closes NULL */
	vx_store_close(f->s);
	f->cfg.direct_io = VX_STORE_DIRECT_DISABLED;
	assert_int_equal(fx_open(f), 0);
	vx_store_stats(f->s, &st);
	assert_false(st.direct_io);
	assert_int_equal(vx_store_direct_align(f->s), 1);
	t = fx_task(f, 87, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	assert_int_equal(vx_store_piece_begin_write(t, 0, &io), 0);
	assert_false(io.direct);
	assert_int_equal(io.fd, io.buffered_fd);
	vx_store_piece_abort(t, 0, 0);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
}

static void test_task_open__creates_preallocated_file(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 1, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	struct vx_store_task_info info;
	char p[PATH_MAX];
	off_t size = 0;
	const char *id = vx_store_task_id(t);

	snprintf(p, sizeof(p), "%s/content/tasks/%.3s/%s", f->dir, id, id);
	assert_true(file_exists(p, &size));
	assert_int_equal(size, CLEN);
	vx_store_task_info(t, &info);
	assert_int_equal(info.piece_count, NPIECES);
	assert_int_equal(info.piece_length, PL);
	assert_int_equal(info.state, VX_STORE_TASK_DOWNLOADING);
	assert_int_equal(info.refs[VX_STORE_USE_DOWNLOAD], 1);
	assert_int_equal(vx_store_task_piece_count(t), NPIECES);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
}

static void test_task_open__rejects_bad_params(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task_params p = { 0 };
	struct vx_store_task *t = NULL;
	char id[65];

	st_task_id(2, id);
	p.id = "ABC";
	p.content_length = 10;
	assert_int_equal(vx_store_task_open(f->s, &p, VX_STORE_USE_READ, &t), -EINVAL);
	p.id = id;
	id[3] = 'G';
	assert_int_equal(vx_store_task_open(f->s, &p, VX_STORE_USE_READ, &t), -EINVAL);
	st_task_id(2, id);
	p.kind = (enum vx_store_kind)7;
	assert_int_equal(vx_store_task_open(f->s, &p, VX_STORE_USE_READ, &t), -EINVAL);
	p.kind = VX_STORE_KIND_NORMAL;
	p.piece_length = 1;
	p.content_length = (uint64_t)VX_STORE_PIECES_MAX + 1;
	assert_int_equal(vx_store_task_open(f->s, &p, VX_STORE_USE_READ, &t), -E2BIG);
	p.piece_length = 0;
	p.content_length = 1ull << 45; /* 32 TiB does not fit here */
	assert_int_equal(vx_store_task_open(f->s, &p, VX_STORE_USE_READ, &t), -ENOSPC);
	p.content_length = 10;
	p.flags = VX_STORE_OPEN_NO_CREATE;
	assert_int_equal(vx_store_task_open(f->s, &p, VX_STORE_USE_READ, &t), -ENOENT);
	assert_null(t);
	assert_int_equal(vx_store_task_acquire(f->s, id, VX_STORE_USE_READ, &t), -ENOENT);
	assert_int_equal(vx_store_task_acquire(f->s, "zz", VX_STORE_USE_READ, &t), -EINVAL);
}

static void test_task_open__existing_keeps_geometry(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 3, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	struct vx_store_task *t2 = NULL;
	struct vx_store_task_params p = { 0 };

	p.id = vx_store_task_id(t);
	p.content_length = CLEN + 1;
	p.piece_length = PL;
	assert_int_equal(vx_store_task_open(f->s, &p, VX_STORE_USE_UPLOAD, &t2), -EEXIST);
	p.content_length = CLEN;
	assert_int_equal(vx_store_task_open(f->s, &p, VX_STORE_USE_UPLOAD, &t2), 0);
	assert_ptr_equal(t, t2);
	vx_store_task_release(t2, VX_STORE_USE_UPLOAD);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
}

static void test_piece_write__read_get_verify_bitmap(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 4, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	struct vx_store_piece_ref ref;
	uint8_t bits[1];
	uint32_t cursor = 0, got[8];
	char want[32];

	fx_write(f, t, 4, CLEN, 2);
	fx_write(f, t, 4, CLEN, 4);
	assert_true(vx_store_piece_is_finished(t, 2));
	assert_false(vx_store_piece_is_finished(t, 1));
	assert_false(vx_store_piece_is_finished(t, 99));
	assert_int_equal(vx_store_task_bitmap(t, bits, sizeof(bits)), 1);
	assert_int_equal(bits[0], 0x20 | 0x08);
	assert_int_equal(vx_store_task_bitmap(t, bits, 0), -ENOBUFS);
	assert_int_equal(vx_store_task_finished_since(t, &cursor, got, 8), 2);
	assert_int_equal(got[0], 2);
	assert_int_equal(got[1], 4);
	assert_int_equal(vx_store_task_finished_since(t, &cursor, got, 8), 0);

	assert_int_equal(vx_store_piece_get(t, 4, &ref), 0);
	assert_int_equal(ref.offset, 4ull * PL);
	assert_int_equal(ref.length, 1000);
	st_fill(f->buf, 1000, 4, 4);
	snprintf(want, sizeof(want), "crc32:%u", (unsigned)crc32(0, f->buf, 1000));
	assert_string_equal(ref.digest, want);
	assert_string_equal(ref.parent_id, "10.0.0.1-h-peer");
	assert_non_null(ref.data);
	assert_memory_equal(ref.data, f->buf, 1000);
	assert_true(ref.fd >= 0);
	assert_int_equal(vx_store_piece_get(t, 1, &ref), -EAGAIN);
	assert_int_equal(vx_store_piece_get(t, 5, &ref), -ERANGE);

	memset(f->buf, 0, PL);
	assert_int_equal(vx_store_piece_read(t, 2, f->buf, PL), PL);
	{
		uint8_t *want2 = malloc(PL);

		st_fill(want2, PL, 4, 2);
		assert_memory_equal(f->buf, want2, PL);
		free(want2);
	}
	assert_int_equal(vx_store_piece_read(t, 2, f->buf, 10), -ENOBUFS);
	assert_int_equal(vx_store_piece_read(t, 0, f->buf, PL), -EAGAIN);
	assert_int_equal(vx_store_piece_verify(t, 2), 0);
	assert_int_equal(vx_store_piece_verify(t, 4), 0);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
}

static void test_piece_begin_write__state_machine(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 5, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	struct vx_store_piece_io io, io2;
	struct vx_store_piece_done done = { 0 };
	struct vx_store_stats st;

	vx_store_stats(f->s, &st);
	assert_int_equal(vx_store_piece_begin_write(t, 0, &io), 0);
	assert_int_equal(io.offset, 0);
	assert_int_equal(io.length, PL);
	/* The build tree is on a real disk filesystem: aligned pieces go direct. */
	assert_int_equal(io.direct, st.direct_io);
	if (io.direct) {
		assert_int_not_equal(io.fd, io.buffered_fd);
		assert_int_equal(io.align, st.direct_align);
	}
	assert_int_equal(vx_store_piece_begin_write(t, 0, &io2), -EBUSY);
	assert_int_equal(vx_store_piece_begin_write(t, NPIECES, &io2), -ERANGE);
	/* The tail piece is never direct: its length is not aligned. */
	assert_int_equal(vx_store_piece_begin_write(t, NPIECES - 1, &io2), 0);
	assert_false(io2.direct);
	assert_int_equal(io2.fd, io2.buffered_fd);
	vx_store_piece_abort(t, NPIECES - 1, 0);
	assert_int_equal(vx_store_piece_commit(t, NPIECES - 1, &done), -EINVAL);

	st_fill(f->buf, PL, 5, 0);
	assert_int_equal(pwrite(io.fd, f->buf, PL, (off_t)io.offset), PL);
	done.crc32 = (uint32_t)crc32(0, f->buf, PL);
	assert_int_equal(vx_store_piece_commit(t, 0, &done), 0);
	assert_int_equal(vx_store_piece_begin_write(t, 0, &io2), -EALREADY);
	assert_int_equal(vx_store_piece_verify(t, 0), 0);

	/* A wrong digest or a wrong length publishes nothing. */
	st_fill(f->buf, PL, 5, 1);
	assert_int_equal(vx_store_piece_write(t, 1, f->buf, PL, true, 12345, NULL), VX_EDIGEST);
	assert_int_equal(vx_store_piece_write(t, 1, f->buf, PL - 1, false, 0, NULL), -EINVAL);
	assert_false(vx_store_piece_is_finished(t, 1));
	/* Unaligned buffers go through the buffered fd. */
	{
		uint8_t *odd = malloc(PL + 1);

		st_fill(odd + 1, PL, 5, 1);
		assert_int_equal(vx_store_piece_write(t, 1, odd + 1, PL, true,
						      (uint32_t)crc32(0, odd + 1, PL), NULL),
				 0);
		assert_int_equal(vx_store_piece_verify(t, 1), 0);
		free(odd);
	}
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
}

static void test_piece_commit__completes_task_and_survives_reopen(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 6, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	struct vx_store_task_info info;
	struct vx_store_stats st;
	char id[65];

	memcpy(id, vx_store_task_id(t), sizeof(id));
	for (uint32_t n = 0; n < NPIECES; n++)
		fx_write(f, t, 6, CLEN, n);
	vx_store_task_info(t, &info);
	assert_int_equal(info.state, VX_STORE_TASK_COMPLETE);
	assert_int_equal(info.finished_count, NPIECES);
	assert_int_equal(info.durable_count, 0);
	assert_int_equal(vx_store_flush(f->s), 0);
	vx_store_task_info(t, &info);
	assert_int_equal(info.durable_count, NPIECES);
	vx_store_stats(f->s, &st);
	assert_true(st.commits >= 2);
	assert_int_equal(st.pieces_persisted, NPIECES);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);

	fx_reopen(f);
	assert_int_equal(vx_store_task_acquire(f->s, id, VX_STORE_USE_UPLOAD, &t), 0);
	vx_store_task_info(t, &info);
	assert_int_equal(info.state, VX_STORE_TASK_COMPLETE);
	assert_int_equal(info.finished_count, NPIECES);
	/* the URL survives too: a restarted daemon resumes tasks from it */
	assert_string_equal(vx_store_task_url(t), "https://example.com/blob");
	for (uint32_t n = 0; n < NPIECES; n++) {
		struct vx_store_piece_ref ref;

		assert_int_equal(vx_store_piece_get(t, n, &ref), 0);
		assert_string_equal(ref.parent_id, "10.0.0.1-h-peer");
		assert_int_equal(vx_store_piece_verify(t, n), 0);
	}
	vx_store_task_release(t, VX_STORE_USE_UPLOAD);
}

/* Whether task @id is marked private, after a reopen of the store. */
static bool reopened_priv(struct fixture *f, const char *id)
{
	struct vx_store_task *t;
	struct vx_store_task_info info;

	fx_reopen(f);
	assert_int_equal(vx_store_task_acquire(f->s, id, VX_STORE_USE_READ, &t), 0);
	vx_store_task_info(t, &info);
	vx_store_task_release(t, VX_STORE_USE_READ);
	return info.priv;
}

/* Mode bits of @sub under the store's directory. */
static unsigned int mode_of(struct fixture *f, const char *sub)
{
	struct stat sb;
	char path[1200];

	snprintf(path, sizeof(path), "%s/%s", f->dir, sub);
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_mode & 0777;
}

/* The private mark survives a restart, goes with the task, and the metadata is 0600 in 0700. */
static void test_task_set_private__survives_reopen_and_goes_with_the_task(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 9, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	struct vx_store_task_info info;
	char id[65];

	memcpy(id, vx_store_task_id(t), sizeof(id));
	vx_store_task_info(t, &info);
	assert_false(info.priv);
	assert_int_equal(vx_store_task_set_private(t), 0);
	assert_int_equal(vx_store_task_set_private(t), 0); /* idempotent */
	vx_store_task_info(t, &info);
	assert_true(info.priv);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	assert_true(reopened_priv(f, id));
	assert_int_equal(vx_store_task_remove(f->s, id), 0);
	t = fx_task(f, 9, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	vx_store_task_info(t, &info);
	assert_false(info.priv); /* a new task of the same id starts public */
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	assert_false(reopened_priv(f, id));
	assert_int_equal(mode_of(f, "metadata"), 0700);
	assert_int_equal(mode_of(f, "metadata/store.db"), 0600);
}

static void test_store_open__resume_keeps_only_durable_pieces(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 7, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	struct vx_store_task_info info;
	char id[65], junk[PATH_MAX];
	int fd;

	memcpy(id, vx_store_task_id(t), sizeof(id));
	fx_write(f, t, 7, CLEN, 0);
	fx_write(f, t, 7, CLEN, 3);
	assert_int_equal(vx_store_flush(f->s), 0);
	fx_write(f, t, 7, CLEN, 1);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	/* An orphan content file (crash between file and row) is removed at open. */
	snprintf(junk, sizeof(junk), "%s/content/tasks/abc", f->dir);
	mkdir(junk, 0755);
	snprintf(junk, sizeof(junk), "%s/content/tasks/abc/%s", f->dir,
		 "abc0000000000000000000000000000000000000000000000000000000000000");
	fd = open(junk, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	fx_reopen(f); /* close flushes: piece 1 survives too */
	assert_false(file_exists(junk, NULL));
	assert_int_equal(vx_store_task_acquire(f->s, id, VX_STORE_USE_DOWNLOAD, &t), 0);
	vx_store_task_info(t, &info);
	assert_int_equal(info.finished_count, 3);
	assert_int_equal(info.state, VX_STORE_TASK_DOWNLOADING);
	assert_true(vx_store_piece_is_finished(t, 1));
	assert_false(vx_store_piece_is_finished(t, 2));
	fx_write(f, t, 7, CLEN, 2);
	fx_write(f, t, 7, CLEN, 4);
	vx_store_task_info(t, &info);
	assert_int_equal(info.state, VX_STORE_TASK_COMPLETE);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
}

static void test_store_open__max_tasks_keeps_unloaded_files(void **state)
{
	struct fixture *f = *state;
	struct vx_store_stats st;
	struct vx_store_task *t;
	char ids[3][65];

	for (unsigned int i = 0; i < 3; i++) {
		t = fx_task(f, 100 + i, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
		memcpy(ids[i], vx_store_task_id(t), 65);
		fx_write(f, t, 100 + i, CLEN, 0);
		vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	}
	vx_store_close(f->s);
	f->cfg.max_tasks = 2;
	assert_int_equal(fx_open(f), 0);
	vx_store_stats(f->s, &st);
	assert_int_equal(st.tasks, 2);
	/* The task left out is not an orphan: a later open with room finds it intact. */
	vx_store_close(f->s);
	f->cfg.max_tasks = 0;
	assert_int_equal(fx_open(f), 0);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(vx_store_task_acquire(f->s, ids[i], VX_STORE_USE_READ, &t), 0);
		assert_int_equal(vx_store_piece_verify(t, 0), 0);
		vx_store_task_release(t, VX_STORE_USE_READ);
	}
}

static void test_store_open__wipe_deletes_everything(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 8, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	char id[65];

	memcpy(id, vx_store_task_id(t), sizeof(id));
	fx_write(f, t, 8, CLEN, 0);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	vx_store_close(f->s);
	f->cfg.wipe = true;
	assert_int_equal(fx_open(f), 0);
	f->cfg.wipe = false;
	assert_int_equal(vx_store_task_acquire(f->s, id, VX_STORE_USE_READ, &t), -ENOENT);
}

/* ------------------------------------------------------------------------------------------- */
/* Waiters                                                                                     */

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

struct writer_arg {
	struct fixture *f;
	struct vx_store_task *t;
	uint32_t number;
	unsigned int seed;
};

static void *writer_thread(void *arg)
{
	struct writer_arg *a = arg;
	uint8_t *buf = vx_aligned_alloc(4096, PL);
	size_t sz = (size_t)piece_size(CLEN, a->number);

	usleep(20000);
	st_fill(buf, sz, a->seed, a->number);
	if (vx_store_piece_write(a->t, a->number, buf, sz, false, 0, NULL) != 0)
		abort();
	vx_free(buf);
	return NULL;
}

static void test_wait_piece__fires_on_owner_thread(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 9, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	struct vx_store_notifier *n = NULL;
	struct vx_store_waiter w = { 0 }, w2 = { 0 }, wp = { 0 };
	struct wctx c = { 0 }, c2 = { 0 }, cp = { 0 };
	struct writer_arg a = { f, t, 3, 9 };
	pthread_t th;
	uint32_t cursor = 0, got[4];

	assert_int_equal(vx_store_notifier_new(f->s, &n), 0);
	assert_true(vx_store_notifier_fd(n) >= 0);
	w.fn = on_wait;
	w.arg = &c;
	w2.fn = on_wait;
	w2.arg = &c2;
	wp.fn = on_wait;
	wp.arg = &cp;
	assert_int_equal(vx_store_wait_piece(t, 3, &w, n), 0);
	assert_int_equal(vx_store_wait_piece(t, 3, &w, n), -EBUSY);
	assert_int_equal(vx_store_wait_piece(t, 9, &w2, n), -ERANGE);
	assert_int_equal(vx_store_wait_piece(t, 2, &w2, n), 0);
	assert_int_equal(vx_store_wait_progress(t, 0, &wp, n), 0);
	assert_int_equal(pthread_create(&th, NULL, writer_thread, &a), 0);
	assert_int_equal(vx_store_piece_wait(t, 3, 5000), 0);
	pthread_join(th, NULL);
	/* Fired but not drained: the callback has not run. */
	assert_int_equal(c.calls, 0);
	{
		uint64_t v;

		/* The eventfd is readable: a ring would complete its read now. */
		assert_int_equal(read(vx_store_notifier_fd(n), &v, sizeof(v)), 8);
	}
	assert_int_equal(vx_store_notifier_drain(n, 16), 2);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.status, 0);
	assert_int_equal(cp.calls, 1);
	assert_int_equal(vx_store_task_finished_since(t, &cursor, got, 4), 1);
	assert_int_equal(got[0], 3);
	assert_int_equal(vx_store_wait_piece(t, 3, &w, n), -EALREADY);
	assert_int_equal(vx_store_wait_progress(t, 0, &wp, n), -EALREADY);
	assert_int_equal(vx_store_piece_wait(t, 0, 30), -ETIMEDOUT);
	assert_int_equal(vx_store_piece_wait(t, 99, 30), -ERANGE);

	/* Cancel after firing, before draining: the callback never runs. */
	fx_write(f, t, 9, CLEN, 2);
	assert_true(vx_store_wait_cancel(&w2));
	assert_false(vx_store_wait_cancel(&w2));
	assert_int_equal(vx_store_notifier_drain(n, 16), 0);
	assert_int_equal(c2.calls, 0);

	/* A failing task wakes its waiters with the error. */
	assert_int_equal(vx_store_wait_piece(t, 0, &w, n), 0);
	vx_store_piece_abort(t, 1, -ENOSPC);
	assert_int_equal(vx_store_notifier_drain(n, 16), 1);
	assert_int_equal(c.status, -ENOSPC);
	assert_int_equal(vx_store_wait_piece(t, 0, &w, n), -ENOSPC);
	assert_int_equal(vx_store_piece_wait(t, 0, 1000), -ENOSPC);
	{
		struct vx_store_piece_io io;
		struct vx_store_piece_ref ref;

		assert_int_equal(vx_store_piece_begin_write(t, 0, &io), -ENOSPC);
		assert_int_equal(vx_store_piece_get(t, 0, &ref), -ENOSPC);
		assert_int_equal(vx_store_piece_get(t, 3, &ref), 0); /* finished pieces stay */
	}
	vx_store_notifier_free(n);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
}

static void test_wait_cancel__armed_and_drain_limit(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 10, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	struct vx_store_notifier *n = NULL;
	struct vx_store_waiter w[3];
	struct wctx c[3];

	memset(w, 0, sizeof(w));
	memset(c, 0, sizeof(c));
	assert_int_equal(vx_store_notifier_new(f->s, &n), 0);
	for (int i = 0; i < 3; i++) {
		w[i].fn = on_wait;
		w[i].arg = &c[i];
		assert_int_equal(vx_store_wait_piece(t, 0, &w[i], n), 0);
	}
	assert_true(vx_store_wait_cancel(&w[1]));
	fx_write(f, t, 10, CLEN, 0);
	assert_int_equal(vx_store_notifier_drain(n, 1), 1);
	assert_int_equal(vx_store_notifier_drain(n, 1), 1);
	assert_int_equal(vx_store_notifier_drain(n, 1), 0);
	assert_int_equal(c[0].calls + c[1].calls + c[2].calls, 2);
	assert_int_equal(c[1].calls, 0);
	vx_store_notifier_free(n);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
}

/* ------------------------------------------------------------------------------------------- */
/* Failure and reopen                                                                          */

static void test_task_fail__reopen_resets_and_keeps_pieces(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 11, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	struct vx_store_task *t2;
	struct vx_store_task_info info;

	fx_write(f, t, 11, CLEN, 0);
	vx_store_task_fail(t, -EIO);
	vx_store_task_info(t, &info);
	assert_int_equal(info.state, VX_STORE_TASK_FAILED);
	assert_int_equal(info.error, -EIO);
	t2 = fx_task(f, 11, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	vx_store_task_info(t2, &info);
	assert_int_equal(info.state, VX_STORE_TASK_DOWNLOADING);
	assert_int_equal(info.finished_count, 1);
	vx_store_task_release(t2, VX_STORE_USE_DOWNLOAD);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
}

static void test_task_list__copies_up_to_max(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task_info infos[4];
	struct vx_store_task *t[3];
	bool seen[3] = { false, false, false };

	for (unsigned int i = 0; i < 3; i++) {
		t[i] = fx_task(f, 110 + i, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
		fx_write(f, t[i], 110 + i, CLEN, 0);
	}
	assert_int_equal(vx_store_task_list(f->s, NULL, 0), 3);
	assert_int_equal(vx_store_task_list(f->s, infos, 2), 3);
	assert_int_equal(vx_store_task_list(f->s, infos, 4), 3);
	for (unsigned int k = 0; k < 3; k++) {
		for (unsigned int i = 0; i < 3; i++) {
			if (strcmp(infos[k].id, vx_store_task_id(t[i])) == 0) {
				seen[i] = true;
				assert_int_equal(infos[k].finished_count, 1);
				assert_int_equal(infos[k].refs[VX_STORE_USE_DOWNLOAD], 1);
			}
		}
	}
	assert_true(seen[0] && seen[1] && seen[2]);
	for (unsigned int i = 0; i < 3; i++)
		vx_store_task_release(t[i], VX_STORE_USE_DOWNLOAD);
}

static void test_task_remove__busy_then_gone(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 12, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_UPLOAD);
	char id[65], p[PATH_MAX];

	memcpy(id, vx_store_task_id(t), sizeof(id));
	snprintf(p, sizeof(p), "%s/content/tasks/%.3s/%s", f->dir, id, id);
	assert_int_equal(vx_store_task_remove(f->s, id), -EBUSY);
	vx_store_task_release(t, VX_STORE_USE_UPLOAD);
	assert_int_equal(vx_store_task_remove(f->s, id), 0);
	assert_false(file_exists(p, NULL));
	assert_int_equal(vx_store_task_remove(f->s, id), -ENOENT);
	assert_int_equal(vx_store_task_remove(f->s, "nope"), -EINVAL);
	fx_reopen(f);
	assert_int_equal(vx_store_task_acquire(f->s, id, VX_STORE_USE_READ, &t), -ENOENT);
}

/* ------------------------------------------------------------------------------------------- */
/* Memory tier                                                                                 */

static void test_memory_task__budget_refuses_spills_and_evicts_idle(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *m1, *m2, *sp = NULL;
	struct vx_store_task_params p = { 0 };
	struct vx_store_stats st;
	char id[65];

	vx_store_close(f->s);
	f->cfg.memory_budget_bytes = 2 * CLEN;
	assert_int_equal(fx_open(f), 0);
	m1 = fx_task(f, 20, CLEN, VX_STORE_KIND_MEMORY, VX_STORE_USE_DOWNLOAD);
	m2 = fx_task(f, 21, CLEN, VX_STORE_KIND_MEMORY, VX_STORE_USE_DOWNLOAD);
	fx_write(f, m1, 20, CLEN, 1);
	assert_int_equal(vx_store_piece_verify(m1, 1), 0);
	{
		struct vx_store_piece_ref ref;

		assert_int_equal(vx_store_piece_get(m1, 1, &ref), 0);
		st_fill(f->buf, PL, 20, 1);
		assert_memory_equal(ref.data, f->buf, PL);
	}
	vx_store_stats(f->s, &st);
	assert_int_equal(st.memory_bytes, 2 * CLEN);

	st_task_id(22, id);
	p.id = id;
	p.content_length = CLEN;
	p.piece_length = PL;
	p.kind = VX_STORE_KIND_MEMORY;
	/* Both memory tasks are in use: a third is refused clearly... */
	assert_int_equal(vx_store_task_open(f->s, &p, VX_STORE_USE_DOWNLOAD, &sp), -ENOSPC);
	/* ...or spills to disk when asked to. */
	p.flags = VX_STORE_OPEN_SPILL;
	assert_int_equal(vx_store_task_open(f->s, &p, VX_STORE_USE_DOWNLOAD, &sp), 0);
	{
		struct vx_store_task_info info;

		vx_store_task_info(sp, &info);
		assert_int_equal(info.kind, VX_STORE_KIND_NORMAL);
	}
	vx_store_task_release(sp, VX_STORE_USE_DOWNLOAD);
	/* Once m1 is idle it is evicted to make room (least recently used first). */
	f->now += 10;
	vx_store_task_release(m1, VX_STORE_USE_DOWNLOAD);
	st_task_id(23, id);
	p.flags = 0;
	assert_int_equal(vx_store_task_open(f->s, &p, VX_STORE_USE_DOWNLOAD, &sp), 0);
	st_task_id(20, id);
	assert_int_equal(vx_store_task_acquire(f->s, id, VX_STORE_USE_READ, &m1), -ENOENT);
	vx_store_task_release(sp, VX_STORE_USE_DOWNLOAD);
	vx_store_task_release(m2, VX_STORE_USE_DOWNLOAD);
	/* Memory tasks do not survive a restart. */
	fx_reopen(f);
	st_task_id(21, id);
	assert_int_equal(vx_store_task_acquire(f->s, id, VX_STORE_USE_READ, &m2), -ENOENT);
}

/* ------------------------------------------------------------------------------------------- */
/* Export                                                                                      */

static void check_file(const char *path, unsigned int seed, uint64_t len)
{
	uint8_t *want = malloc(PL), *got = malloc(PL);
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	for (uint32_t n = 0; (uint64_t)n * PL < len; n++) {
		size_t sz = (size_t)piece_size(len, n);

		st_fill(want, sz, seed, n);
		assert_int_equal(pread(fd, got, sz, (off_t)n * PL), (ssize_t)sz);
		assert_memory_equal(want, got, sz);
	}
	close(fd);
	free(want);
	free(got);
}

/* Entries of @dir other than . and .. */
static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/*
 * export_at acts beneath the directory descriptor only (issue 16, fix first 1): a name is one
 * component, a symlinked output name is replaced rather than followed, and a directory swapped
 * for a symlink after it was opened does not redirect the file.
 */
static void test_task_export_at__beneath_dirfd(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 31, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	char d[PATH_MAX], d2[PATH_MAX], e[PATH_MAX], path[PATH_MAX + 32], buf[8] = { 0 };
	struct stat st;
	int dfd, fd;

	for (uint32_t n = 0; n < NPIECES; n++)
		fx_write(f, t, 31, CLEN, n);
	snprintf(d, sizeof(d), "%s/exp", f->dir);
	snprintf(d2, sizeof(d2), "%s/exp.moved", f->dir);
	snprintf(e, sizeof(e), "%s/elsewhere", f->dir);
	assert_int_equal(mkdir(d, 0755), 0);
	assert_int_equal(mkdir(e, 0755), 0);
	dfd = open(d, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(vx_store_task_export_at(t, dfd, "", 0), -EINVAL);
	assert_int_equal(vx_store_task_export_at(t, dfd, "a/b", 0), -EINVAL);
	assert_int_equal(vx_store_task_export_at(t, dfd, ".", 0), -EINVAL);
	assert_int_equal(vx_store_task_export_at(t, dfd, "..", 0), -EINVAL);
	/* a symlinked name: the link goes, the file it names stays */
	snprintf(path, sizeof(path), "%s/keep", e);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	snprintf(path, sizeof(path), "%s/link", d);
	assert_int_equal(symlink("../elsewhere/keep", path), 0);
	assert_int_equal(vx_store_task_export_at(t, dfd, "link", VX_STORE_EXPORT_NO_LINK), -EEXIST);
	assert_int_equal(
		vx_store_task_export_at(t, dfd, "link",
					VX_STORE_EXPORT_NO_LINK | VX_STORE_EXPORT_OVERWRITE),
		0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	check_file(path, 31, CLEN);
	snprintf(path, sizeof(path), "%s/keep", e);
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	close(fd);
	assert_string_equal(buf, "keep");
	/* the directory swapped for a symlink after it was opened */
	assert_int_equal(rename(d, d2), 0);
	assert_int_equal(symlink("elsewhere", d), 0);
	assert_int_equal(vx_store_task_export_at(t, dfd, "new", VX_STORE_EXPORT_NO_LINK), 0);
	assert_int_equal(vx_store_task_export_at(t, dfd, "new2", 0), 0);
	snprintf(path, sizeof(path), "%s/new", d2);
	check_file(path, 31, CLEN);
	assert_int_equal(dir_entries(e), 1);  /* only keep */
	assert_int_equal(dir_entries(d2), 3); /* link, new, new2: no temporary files */
	close(dfd);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
}

/* Export temporaries (".NAME.vx-XXXXXX") left in @dir. */
static int count_tmp(const char *dir)
{
	int count = 0;
	DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)))
		count += strstr(de->d_name, ".vx-") != NULL;
	closedir(d);
	return count;
}

static void test_task_export__link_copy_and_no_clobber(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 30, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	struct vx_store_task *m;
	char out[PATH_MAX], out2[PATH_MAX], src[PATH_MAX];
	struct stat a, b;
	const char *id = vx_store_task_id(t);

	snprintf(out, sizeof(out), "%s/out-link", f->dir);
	snprintf(out2, sizeof(out2), "%s/out-copy", f->dir);
	snprintf(src, sizeof(src), "%s/content/tasks/%.3s/%s", f->dir, id, id);
	assert_int_equal(vx_store_task_export(t, out, 0), -EAGAIN);
	for (uint32_t n = 0; n < NPIECES; n++)
		fx_write(f, t, 30, CLEN, n);
	assert_int_equal(vx_store_task_export(t, out, VX_STORE_EXPORT_HARDLINK), 0);
	assert_int_equal(stat(out, &a), 0);
	assert_int_equal(stat(src, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(vx_store_task_export(t, out, 0), 0); /* same inode: nothing to do */
	assert_int_equal(vx_store_task_export(t, out2, VX_STORE_EXPORT_NO_LINK), 0);
	assert_int_equal(stat(out2, &a), 0);
	assert_int_not_equal(a.st_ino, b.st_ino);
	check_file(out2, 30, CLEN);
	assert_int_equal(vx_store_task_export(t, out2, VX_STORE_EXPORT_NO_LINK), -EEXIST);
	assert_int_equal(
		vx_store_task_export(t, out2, VX_STORE_EXPORT_OVERWRITE | VX_STORE_EXPORT_HARDLINK),
		0);
	assert_int_equal(stat(out2, &a), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	/* The default is the user's own file (issue 18): writing it leaves the store's bytes. */
	unlink(out2);
	assert_int_equal(vx_store_task_export(t, out2, 0), 0);
	assert_int_equal(stat(out2, &a), 0);
	assert_int_not_equal(a.st_ino, b.st_ino);
	{
		int fd = open(out2, O_WRONLY | O_CLOEXEC);

		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, "XXXX", 4, 0), 4);
		close(fd);
	}
	unlink(out2);
	assert_int_equal(vx_store_task_export(t, out2, 0), 0);
	check_file(out2, 30, CLEN);
	/* A failing copy leaves nothing behind. */
	unlink(out2);
	if (FAULTS) {
		vx_fault_arm(VX_FAULT_IO, 2);
		assert_int_equal(vx_store_task_export(t, out2, VX_STORE_EXPORT_NO_LINK), -EIO);
		vx_fault_arm(VX_FAULT_IO, 0);
		assert_false(file_exists(out2, NULL));
	}
	assert_int_equal(count_tmp(f->dir), 0);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);

	/* Memory tasks are copied. */
	m = fx_task(f, 31, CLEN, VX_STORE_KIND_MEMORY, VX_STORE_USE_DOWNLOAD);
	for (uint32_t n = 0; n < NPIECES; n++)
		fx_write(f, m, 31, CLEN, n);
	snprintf(out, sizeof(out), "%s/out-mem", f->dir);
	assert_int_equal(vx_store_task_export(m, out, VX_STORE_EXPORT_LINK_ONLY), -EXDEV);
	assert_int_equal(vx_store_task_export(m, out, 0), 0);
	check_file(out, 31, CLEN);
	vx_store_task_release(m, VX_STORE_USE_DOWNLOAD);
}

/* Pages of [0, @len) of @path that sit in the page cache. */
static size_t cached_pages(const char *path, uint64_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t n = (size_t)((len + (uint64_t)pg - 1) / (uint64_t)pg), cached = 0;
	unsigned char *vec = malloc(n ? n : 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *map;

	assert_true(fd >= 0);
	assert_non_null(vec);
	map = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(mincore(map, (size_t)len, vec), 0);
	for (size_t i = 0; i < n; i++)
		cached += vec[i] & 1;
	munmap(map, (size_t)len);
	close(fd);
	free(vec);
	return cached;
}

/*
 * An output written during the download (issue 19 goal 4, vx_store_output): made at once as a
 * hidden 0600 temporary beside its name, the name untouched until the export; pieces the
 * fetcher wrote and marked are kept, every other one (never written, or holding bytes nobody
 * marked: a piece that failed its check) is copied from the store, the tail included; then it
 * is placed 0644 with nothing left beside it. An output dropped before its export leaves
 * nothing; one that got no piece is a whole copy.
 */
static void test_task_export__early_output(void **state)
{
	struct fixture *f = *state;
	const uint64_t len = 5 * PL + 1000;
	struct vx_store_stats st0, st1;
	struct vx_store_output *o;
	struct vx_store_task *t;
	char out[PATH_MAX];
	struct stat sb;
	uint32_t align;
	uint8_t *buf;
	bool direct;
	int dfd, fd;

	assert_int_equal(posix_memalign((void **)&buf, 4096, PL), 0);
	dfd = open(f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	snprintf(out, sizeof(out), "%s/early", f->dir);
	t = fx_task(f, 60, len, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	assert_int_equal(vx_store_output_open(dfd, "a/b", &o), -EINVAL);
	assert_int_equal(vx_store_output_open(dfd, "early", &o), 0);
	assert_int_equal(count_tmp(f->dir), 1);
	assert_false(file_exists(out, NULL));
	assert_int_equal(vx_store_output_attach(o, t), 0);
	assert_int_equal(vx_store_output_attach(o, t), -EBUSY);
	fd = vx_store_output_fd(o, &direct, &align);
	for (uint32_t n = 0; n < 5; n++) {
		fx_write(f, t, 60, len, n);
		if (n == 1)
			memset(buf, 0xaa, PL); /* written, never marked: copied over */
		else
			st_fill(buf, PL, 60, n);
		if (n != 3)
			assert_int_equal(pwrite(fd, buf, PL, (off_t)n * PL), (ssize_t)PL);
		if (n % 2 == 0)
			vx_store_output_piece_done(o, n);
	}
	vx_store_output_piece_done(o, 99); /* out of range: ignored */
	assert_int_equal(vx_store_task_export_output(t, o, 0), -EAGAIN);
	fx_write(f, t, 60, len, 5);
	vx_store_stats(f->s, &st0);
	assert_int_equal(vx_store_task_export_output(t, o, 0), 0);
	assert_int_equal(vx_store_task_export_output(t, o, 0), -EALREADY);
	/* the export synced the store's copy: the flush commits its rows without a second
	 * fdatasync (issue 19 goal 7, one of a small file's three syncs) */
	assert_int_equal(vx_store_flush(f->s), 0);
	vx_store_stats(f->s, &st1);
	assert_int_equal(st1.syncs, st0.syncs);
	assert_true(st1.pieces_persisted > st0.pieces_persisted);
	assert_int_equal(stat(out, &sb), 0);
	assert_int_equal((uint64_t)sb.st_size, len);
	assert_int_equal(sb.st_mode & 07777, 0644);
	check_file(out, 60, len);
	assert_int_equal(count_tmp(f->dir), 0);
	vx_store_output_unref(o);
	assert_int_equal(count_tmp(f->dir), 0);
	assert_true(file_exists(out, NULL));

	/* no OVERWRITE: an existing name stays, the temporary goes */
	assert_int_equal(vx_store_output_open(dfd, "early", &o), 0);
	assert_int_equal(vx_store_task_export_output(t, o, 0), -EEXIST);
	vx_store_output_unref(o);
	assert_int_equal(count_tmp(f->dir), 0);

	/* nothing arrived through it: a whole copy, over the old file with OVERWRITE */
	assert_int_equal(vx_store_output_open(dfd, "early", &o), 0);
	assert_int_equal(vx_store_task_export_output(t, o, VX_STORE_EXPORT_OVERWRITE), 0);
	vx_store_output_unref(o);
	check_file(out, 60, len);
	assert_int_equal(count_tmp(f->dir), 0);

	/* dropped before the export (a failed or cancelled job): nothing left */
	assert_int_equal(vx_store_output_open(dfd, "gone", &o), 0);
	assert_int_equal(vx_store_output_attach(o, t), 0);
	vx_store_output_unref(vx_store_output_ref(o));
	assert_int_equal(count_tmp(f->dir), 1);
	vx_store_output_unref(o);
	assert_int_equal(count_tmp(f->dir), 0);
	snprintf(out, sizeof(out), "%s/gone", f->dir);
	assert_false(file_exists(out, NULL));
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	close(dfd);
	free(buf);
}

/*
 * The export copies with direct I/O where both files can (issue 19 goal 4: the buffered copy's
 * memcpy into the output's page cache was most of a download's time): the bytes are right for
 * lengths under one block, exactly aligned, aligned plus a tail and over several 4 MiB chunks,
 * and the output's aligned part is not in the page cache (a buffered copy leaves all of it
 * there). The tail is written through the page cache (O_DIRECT cannot write part of a block).
 */
static void test_task_export__direct_copy(void **state)
{
	static const uint64_t lens[] = { 1000, 2 * PL, 2 * PL + 4097, 4 * PL + 1,
					 (9u << 20) + 4095 };
	struct fixture *f = *state;
	struct vx_store_stats st;

	vx_store_stats(f->s, &st);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint64_t len = lens[i];
		unsigned int seed = 40 + (unsigned int)i;
		struct vx_store_task *t =
			fx_task(f, seed, len, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
		uint64_t whole = st.direct_io ? len / st.direct_align * st.direct_align : 0;
		char out[PATH_MAX];
		struct stat sb;

		for (uint32_t n = 0; (uint64_t)n * PL < len; n++)
			fx_write(f, t, seed, len, n);
		snprintf(out, sizeof(out), "%s/out-direct-%zu", f->dir, i);
		assert_int_equal(vx_store_task_export(t, out, 0), 0);
		assert_int_equal(stat(out, &sb), 0);
		assert_int_equal((uint64_t)sb.st_size, len);
		assert_int_equal(sb.st_mode & 07777, 0644);
		if (whole)
			assert_int_equal(cached_pages(out, whole), 0);
		check_file(out, seed, len);
		vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	}
	/* A content file shorter than its task (cut under the store) fails the export at the
	 * reader's short read, in the second chunk, and leaves nothing at the name or beside it. */
	{
		uint64_t len = (9u << 20) + 4095;
		struct vx_store_task *t =
			fx_task(f, 50, len, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
		const char *id = vx_store_task_id(t);
		char out[PATH_MAX], src[PATH_MAX];

		for (uint32_t n = 0; (uint64_t)n * PL < len; n++)
			fx_write(f, t, 50, len, n);
		snprintf(src, sizeof(src), "%s/content/tasks/%.3s/%s", f->dir, id, id);
		assert_int_equal(truncate(src, 6u << 20), 0);
		snprintf(out, sizeof(out), "%s/out-short", f->dir);
		assert_int_equal(vx_store_task_export(t, out, 0), -EIO);
		assert_false(file_exists(out, NULL));
		assert_int_equal(count_tmp(f->dir), 0);
		vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	}
	if (!st.direct_io)
		print_message("storage: no O_DIRECT in %s: the direct copy was not exercised\n",
			      f->dir);
}

static void test_task_import__copies_digests_and_is_idempotent(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task_params p = { 0 };
	struct vx_store_task *t = NULL, *t2 = NULL;
	struct vx_store_task_info info;
	char src[PATH_MAX], id[65];
	int fd;

	snprintf(src, sizeof(src), "%s/user-file", f->dir);
	fd = open(src, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	for (uint32_t n = 0; n < NPIECES; n++) {
		size_t sz = (size_t)piece_size(CLEN, n);

		st_fill(f->buf, sz, 90, n);
		assert_int_equal(pwrite(fd, f->buf, sz, (off_t)n * PL), (ssize_t)sz);
	}
	close(fd);
	st_task_id(90, id);
	p.id = id;
	p.content_length = CLEN + 1;
	p.piece_length = PL;
	p.kind = VX_STORE_KIND_PERSISTENT_CACHE;
	p.ttl_s = 60;
	assert_int_equal(vx_store_task_import(f->s, &p, src, VX_STORE_USE_UPLOAD, &t), -EINVAL);
	assert_int_equal(vx_store_task_import(f->s, &p, "no-such-file", VX_STORE_USE_UPLOAD, &t),
			 -ENOENT);
	p.content_length = CLEN;
	if (FAULTS) {
		vx_fault_arm(VX_FAULT_IO, 3); /* fails while copying: nothing is left */
		assert_int_not_equal(vx_store_task_import(f->s, &p, src, VX_STORE_USE_UPLOAD, &t),
				     0);
		vx_fault_arm(VX_FAULT_IO, 0);
		assert_null(t);
		assert_int_equal(vx_store_task_acquire(f->s, id, VX_STORE_USE_READ, &t), -ENOENT);
	}
	assert_int_equal(vx_store_task_import(f->s, &p, src, VX_STORE_USE_UPLOAD, &t), 0);
	vx_store_task_info(t, &info);
	assert_int_equal(info.state, VX_STORE_TASK_COMPLETE);
	assert_int_equal(info.durable_count, NPIECES);
	assert_int_equal(info.refs[VX_STORE_USE_UPLOAD], 1);
	assert_int_equal(info.refs[VX_STORE_USE_DOWNLOAD], 0);
	for (uint32_t n = 0; n < NPIECES; n++) {
		struct vx_store_piece_ref ref;
		size_t sz = (size_t)piece_size(CLEN, n);

		assert_int_equal(vx_store_piece_get(t, n, &ref), 0);
		st_fill(f->buf, sz, 90, n);
		assert_int_equal(ref.crc32, (uint32_t)crc32(0, f->buf, (uInt)sz));
		assert_memory_equal(ref.data, f->buf, sz);
	}
	/* Editing the user's file does not change the cached copy. */
	fd = open(src, O_WRONLY);
	assert_int_equal(pwrite(fd, "X", 1, 0), 1);
	close(fd);
	assert_int_equal(vx_store_piece_verify(t, 0), 0);
	assert_int_equal(vx_store_task_import(f->s, &p, src, VX_STORE_USE_READ, &t2), 0);
	assert_ptr_equal(t, t2);
	vx_store_task_release(t2, VX_STORE_USE_READ);
	vx_store_task_release(t, VX_STORE_USE_UPLOAD);
}

static void test_task_check_digest__sha256_sha512_crc32(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 95, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	const EVP_MD *mds[2] = { EVP_sha256(), EVP_sha512() };
	const char *names[2] = { "sha256:", "sha512:" };
	struct vx_digest_spec d;
	uint32_t crc = 0;

	assert_int_equal(vx_digest_spec_parse("crc32:1", 7, VX_DIGEST_USER, &d), 0);
	assert_int_equal(vx_store_task_check_digest(t, &d), -EAGAIN);
	for (uint32_t n = 0; n < NPIECES; n++)
		fx_write(f, t, 95, CLEN, n);
	for (int a = 0; a < 2; a++) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		unsigned char out[64];
		unsigned int len = 0;
		char spec[7 + 129];

		EVP_DigestInit_ex(md, mds[a], NULL);
		for (uint32_t n = 0; n < NPIECES; n++) {
			st_fill(f->buf, (size_t)piece_size(CLEN, n), 95, n);
			EVP_DigestUpdate(md, f->buf, (size_t)piece_size(CLEN, n));
			if (a == 0)
				crc = (uint32_t)crc32(crc, f->buf, (uInt)piece_size(CLEN, n));
		}
		EVP_DigestFinal_ex(md, out, &len);
		EVP_MD_CTX_free(md);
		memcpy(spec, names[a], 7);
		for (unsigned int i = 0; i < len; i++)
			snprintf(spec + 7 + 2 * i, 3, "%02x", out[i]);
		assert_int_equal(vx_digest_spec_parse(spec, 7 + 2 * len, VX_DIGEST_USER, &d), 0);
		assert_int_equal(vx_store_task_check_digest(t, &d), 0);
		d.value[5] ^= 1;
		assert_int_equal(vx_store_task_check_digest(t, &d), VX_EDIGEST);
	}
	{
		char spec[32];

		snprintf(spec, sizeof(spec), "crc32:%u", crc);
		assert_int_equal(vx_digest_spec_parse(spec, strlen(spec), VX_DIGEST_USER, &d), 0);
		if (FAULTS) {
			vx_fault_arm(VX_FAULT_IO, 1);
			assert_int_equal(vx_store_task_check_digest(t, &d), -EIO);
			vx_fault_arm(VX_FAULT_IO, 0);
		}
		assert_int_equal(vx_store_task_check_digest(t, &d), 0);
		if (FAULTS) {
			/* a digest the complete content matched is remembered: not read again */
			vx_fault_arm(VX_FAULT_IO, 1);
			assert_int_equal(vx_store_task_check_digest(t, &d), 0);
			vx_fault_arm(VX_FAULT_IO, 0);
		}
		d.value[0] ^= 1; /* another value of the same algorithm is read and refused */
		assert_int_equal(vx_store_task_check_digest(t, &d), VX_EDIGEST);
	}
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
}

/* ------------------------------------------------------------------------------------------- */
/* GC                                                                                          */

static void test_store_gc__ttl_pin_and_in_use(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task_params p = { 0 };
	struct vx_store_task *a, *b, *pc, *t;
	struct vx_store_gc_report r;
	char ida[65], idb[65], idp[65];

	a = fx_task(f, 40, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_READ);
	b = fx_task(f, 41, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_UPLOAD);
	st_task_id(42, idp);
	p.id = idp;
	p.content_length = CLEN;
	p.piece_length = PL;
	p.kind = VX_STORE_KIND_PERSISTENT_CACHE;
	p.ttl_s = 3600;
	assert_int_equal(vx_store_task_open(f->s, &p, VX_STORE_USE_READ, &pc), 0);
	memcpy(ida, vx_store_task_id(a), 65);
	memcpy(idb, vx_store_task_id(b), 65);
	vx_store_task_release(a, VX_STORE_USE_READ);
	vx_store_task_release(pc, VX_STORE_USE_READ);

	assert_int_equal(vx_store_gc(f->s, &r), 0);
	assert_int_equal(r.expired, 0);

	/* Past the persistent TTL but not the normal one: only the pinned task goes. */
	f->now += 3600;
	assert_int_equal(vx_store_gc(f->s, &r), 0);
	assert_int_equal(r.expired, 1);
	assert_int_equal(vx_store_task_acquire(f->s, idp, VX_STORE_USE_READ, &t), -ENOENT);

	/* Past the normal TTL: a goes, b is in use and stays. */
	f->now += (int64_t)f->cfg.task_ttl_s;
	assert_int_equal(vx_store_gc(f->s, &r), 0);
	assert_int_equal(r.expired, 1);
	assert_int_equal(r.skipped_in_use, 1);
	assert_true(r.freed_bytes >= CLEN);
	assert_int_equal(vx_store_task_acquire(f->s, ida, VX_STORE_USE_READ, &t), -ENOENT);
	assert_int_equal(vx_store_task_acquire(f->s, idb, VX_STORE_USE_READ, &t), 0);
	vx_store_task_release(t, VX_STORE_USE_READ);
	vx_store_task_release(b, VX_STORE_USE_UPLOAD);
}

static void test_store_gc__watermarks_lru_pinned_in_use(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t[6];
	struct vx_store_task_params p = { 0 };
	struct vx_store_gc_report r;
	struct vx_store_stats st;
	char ids[6][65];
	const uint64_t len = 1u << 20;

	vx_store_close(f->s);
	/* Room for ~10 tasks of 1 MiB (plus the metadata). */
	f->cfg.disk_quota_bytes = 10u << 20;
	f->cfg.gc_high_pct = 50;
	f->cfg.gc_low_pct = 30;
	assert_int_equal(fx_open(f), 0);
	for (int i = 0; i < 6; i++) {
		char id[65];

		st_task_id(50 + (unsigned)i, id);
		p.id = id;
		p.content_length = len;
		p.piece_length = PL;
		p.kind = i == 0 ? VX_STORE_KIND_PERSISTENT_CACHE : VX_STORE_KIND_NORMAL;
		p.ttl_s = 1u << 20;
		assert_int_equal(vx_store_task_open(f->s, &p, VX_STORE_USE_READ, &t[i]), 0);
		memcpy(ids[i], id, 65);
		if (i != 1)
			vx_store_task_release(t[i], VX_STORE_USE_READ);
		f->now += 10; /* t[0] is the least recently used, t[5] the most */
	}
	vx_store_stats(f->s, &st);
	assert_true(st.disk_bytes >= 6 * len);
	assert_int_equal(st.disk_capacity_bytes, 10u << 20);
	/* 6 MiB of 10 is above 50%: evict down to 30% = 3 MiB. t[0] is pinned, t[1] in use. */
	assert_int_equal(vx_store_gc(f->s, &r), 0);
	assert_int_equal(r.skipped_pinned, 1);
	assert_int_equal(r.skipped_in_use, 1);
	assert_int_equal(r.evicted, 3);
	assert_true(r.usage_after <= 3u << 20);
	{
		struct vx_store_task *x;

		assert_int_equal(vx_store_task_acquire(f->s, ids[0], VX_STORE_USE_READ, &x), 0);
		vx_store_task_release(x, VX_STORE_USE_READ);
		for (int i = 2; i < 5; i++)
			assert_int_equal(vx_store_task_acquire(f->s, ids[i], VX_STORE_USE_READ, &x),
					 -ENOENT);
		assert_int_equal(vx_store_task_acquire(f->s, ids[5], VX_STORE_USE_READ, &x), 0);
		vx_store_task_release(x, VX_STORE_USE_READ);
	}
	/* Below the high mark nothing more goes. */
	assert_int_equal(vx_store_gc(f->s, &r), 0);
	assert_int_equal(r.evicted, 0);
	vx_store_task_release(t[1], VX_STORE_USE_READ);

	/* Admission evicts idle tasks to make room, and refuses what never fits. */
	{
		char id[65];
		struct vx_store_task *big;

		st_task_id(60, id);
		p.id = id;
		p.kind = VX_STORE_KIND_NORMAL;
		p.content_length = 7u << 20;
		assert_int_equal(vx_store_task_open(f->s, &p, VX_STORE_USE_READ, &big), 0);
		vx_store_task_release(big, VX_STORE_USE_READ);
		st_task_id(61, id);
		p.content_length = 20u << 20;
		assert_int_equal(vx_store_task_open(f->s, &p, VX_STORE_USE_READ, &big), -ENOSPC);
	}
}

static void test_store_gc__drops_page_cache_and_closes_idle_files(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t[3];
	struct vx_store_gc_report r;
	struct vx_store_stats st;

	vx_store_close(f->s);
	f->cfg.max_open_files = 1;
	assert_int_equal(fx_open(f), 0);
	for (unsigned int i = 0; i < 3; i++) {
		t[i] = fx_task(f, 70 + i, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
		fx_write(f, t[i], 70 + i, CLEN, 0);
	}
	assert_int_equal(vx_store_flush(f->s), 0);
	for (unsigned int i = 0; i < 3; i++)
		vx_store_task_release(t[i], VX_STORE_USE_DOWNLOAD);
	assert_int_equal(vx_store_gc(f->s, &r), 0);
	assert_int_equal(r.dropped_cache, 0);
	vx_store_stats(f->s, &st);
	assert_int_equal(st.open_files, 1);
	f->now += (int64_t)f->cfg.page_cache_idle_s;
	assert_int_equal(vx_store_gc(f->s, &r), 0);
	assert_int_equal(r.dropped_cache, 3);
	assert_int_equal(vx_store_gc(f->s, &r), 0);
	assert_int_equal(r.dropped_cache, 0);
	/* A closed file reopens on acquire, with its pieces intact. */
	{
		struct vx_store_task *x;

		assert_int_equal(vx_store_task_acquire(f->s, vx_store_task_id(t[0]),
						       VX_STORE_USE_UPLOAD, &x),
				 0);
		assert_int_equal(vx_store_piece_verify(x, 0), 0);
		vx_store_task_release(x, VX_STORE_USE_UPLOAD);
	}
}

/* ------------------------------------------------------------------------------------------- */
/* Faults                                                                                      */

/* Needs fault injection: registered in debug and sanitizer builds only. */
static VX_UNUSED void test_store_open__every_alloc_and_db_fault_is_clean(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 80, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);

	fx_write(f, t, 80, CLEN, 0);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	vx_store_close(f->s);
	f->s = NULL;
	for (enum vx_fault_kind k = VX_FAULT_ALLOC; k <= VX_FAULT_DB; k++) {
		int ok = 0;

		if (k == VX_FAULT_SQE)
			continue;
		for (unsigned long nth = 1; nth < 200 && !ok; nth++) {
			int err;

			vx_fault_arm(k, nth);
			err = fx_open(f);
			vx_fault_arm(k, 0);
			if (err == 0) {
				struct vx_store_task *x;
				char id[65];

				/* Either the fault did not fire in open, or it hit a tolerated spot. */
				st_task_id(80, id);
				if (vx_store_task_acquire(f->s, id, VX_STORE_USE_READ, &x) == 0) {
					ok = vx_store_piece_is_finished(x, 0);
					vx_store_task_release(x, VX_STORE_USE_READ);
				}
				vx_store_close(f->s);
				f->s = NULL;
			} else {
				assert_null(f->s);
			}
		}
		assert_true(ok);
	}
	assert_int_equal(fx_open(f), 0);
}

/* Needs fault injection: registered in debug and sanitizer builds only. */
static VX_UNUSED void test_task_open__every_fault_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task_params p = { 0 };
	char id[65], path[PATH_MAX];
	bool opened = false;

	st_task_id(81, id);
	snprintf(path, sizeof(path), "%s/content/tasks/%.3s/%s", f->dir, id, id);
	p.id = id;
	p.content_length = CLEN;
	p.piece_length = PL;
	for (unsigned long nth = 1; nth < 100 && !opened; nth++) {
		for (enum vx_fault_kind k = VX_FAULT_ALLOC; k <= VX_FAULT_DB; k++) {
			struct vx_store_task *t = NULL;
			int err;

			vx_fault_arm(k, nth);
			err = vx_store_task_open(f->s, &p, VX_STORE_USE_DOWNLOAD, &t);
			vx_fault_arm(k, 0);
			if (err == 0) {
				vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
				if (k == VX_FAULT_DB)
					opened = true;
				else
					assert_int_equal(vx_store_task_remove(f->s, id), 0);
				continue;
			}
			assert_null(t);
			assert_false(file_exists(path, NULL));
		}
	}
	assert_true(opened);
	fx_reopen(f);
	{
		struct vx_store_task *t;

		assert_int_equal(vx_store_task_acquire(f->s, id, VX_STORE_USE_READ, &t), 0);
		vx_store_task_release(t, VX_STORE_USE_READ);
	}
}

/* Needs fault injection: registered in debug and sanitizer builds only. */
static VX_UNUSED void test_piece_write__io_fault_fails_task(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 82, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	struct vx_store_task_info info;

	st_fill(f->buf, PL, 82, 0);
	vx_fault_arm(VX_FAULT_IO, 1);
	assert_int_equal(vx_store_piece_write(t, 0, f->buf, PL, false, 0, NULL), -EIO);
	vx_fault_arm(VX_FAULT_IO, 0);
	vx_store_task_info(t, &info);
	assert_int_equal(info.state, VX_STORE_TASK_FAILED);
	assert_int_equal(info.error, -EIO);
	assert_false(vx_store_piece_is_finished(t, 0));
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
}

/* Needs fault injection: registered in debug and sanitizer builds only. */
static VX_UNUSED void test_store_flush__faults_keep_pieces_pending(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 83, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	struct vx_store_task_info info;
	char id[65];

	memcpy(id, vx_store_task_id(t), sizeof(id));
	fx_write(f, t, 83, CLEN, 0);
	fx_write(f, t, 83, CLEN, 1);
	vx_fault_arm(VX_FAULT_IO, 1); /* the fdatasync */
	assert_int_equal(vx_store_flush(f->s), -EIO);
	vx_fault_arm(VX_FAULT_IO, 0);
	for (unsigned long nth = 1; nth <= 3; nth++) {
		vx_fault_arm(VX_FAULT_DB, nth); /* BEGIN, a piece row, ... */
		assert_true(vx_store_flush(f->s) < 0);
		vx_fault_arm(VX_FAULT_DB, 0);
		vx_store_task_info(t, &info);
		assert_int_equal(info.durable_count, 0);
	}
	assert_int_equal(vx_store_flush(f->s), 0);
	vx_store_task_info(t, &info);
	assert_int_equal(info.durable_count, 2);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	fx_reopen(f);
	assert_int_equal(vx_store_task_acquire(f->s, id, VX_STORE_USE_READ, &t), 0);
	vx_store_task_info(t, &info);
	assert_int_equal(info.finished_count, 2);
	vx_store_task_release(t, VX_STORE_USE_READ);
}

static void test_store_flush__background_thread_persists(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t;
	struct vx_store_task_info info;

	vx_store_close(f->s);
	f->cfg.no_flush_thread = false;
	f->cfg.flush_interval_ms = 5;
	assert_int_equal(fx_open(f), 0);
	t = fx_task(f, 84, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	for (uint32_t n = 0; n < NPIECES; n++)
		fx_write(f, t, 84, CLEN, n);
	for (int i = 0; i < 2000; i++) { /* up to 10 s on a loaded machine */
		vx_store_task_info(t, &info);
		if (info.durable_count == NPIECES)
			break;
		usleep(5000);
	}
	assert_int_equal(info.durable_count, NPIECES);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
}

static void test_store_gc__runs_in_the_background(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t;
	char id[65];
	int err = 0;

	vx_store_close(f->s);
	f->cfg.no_flush_thread = false;
	f->cfg.flush_interval_ms = 5;
	f->cfg.gc_interval_s = 1;
	assert_int_equal(fx_open(f), 0);
	t = fx_task(f, 86, CLEN, VX_STORE_KIND_NORMAL, VX_STORE_USE_READ);
	memcpy(id, vx_store_task_id(t), sizeof(id));
	vx_store_task_release(t, VX_STORE_USE_READ);
	__atomic_store_n(&f->now, f->now + (int64_t)f->cfg.task_ttl_s + 1, __ATOMIC_RELAXED);
	/* Polls without acquiring: an acquire would refresh the access time. */
	for (int i = 0; i < 1000; i++) { /* up to 10 s on a loaded machine */
		struct vx_store_stats st;

		vx_store_stats(f->s, &st);
		if (st.tasks == 0)
			break;
		usleep(10000);
	}
	err = vx_store_task_acquire(f->s, id, VX_STORE_USE_READ, &t);
	assert_int_equal(err, -ENOENT);
}

static void test_store_buf_alloc__aligned(void **state)
{
	struct fixture *f = *state;
	void *b = vx_store_buf_alloc(f->s, 100);

	assert_non_null(b);
	assert_int_equal((uintptr_t)b % vx_store_direct_align(f->s), 0);
	assert_int_equal((uintptr_t)b % 4096, 0);
	vx_store_buf_free(b);
	vx_store_buf_free(NULL);
}

static void test_task_open__empty_content_is_complete(void **state)
{
	struct fixture *f = *state;
	struct vx_store_task *t = fx_task(f, 85, 0, VX_STORE_KIND_NORMAL, VX_STORE_USE_DOWNLOAD);
	struct vx_store_task_info info;
	char out[PATH_MAX];
	off_t size = 1;

	vx_store_task_info(t, &info);
	assert_int_equal(info.piece_count, 0);
	assert_int_equal(info.state, VX_STORE_TASK_COMPLETE);
	snprintf(out, sizeof(out), "%s/empty", f->dir);
	assert_int_equal(vx_store_task_export(t, out, 0), 0);
	assert_true(file_exists(out, &size));
	assert_int_equal(size, 0);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_store_open__layout_and_exclusive_lock),
		T(test_store_open__bad_cfg),
		T(test_store_open__direct_io_policy),
		T(test_task_open__creates_preallocated_file),
		T(test_task_open__rejects_bad_params),
		T(test_task_open__existing_keeps_geometry),
		T(test_task_open__empty_content_is_complete),
		T(test_piece_write__read_get_verify_bitmap),
		T(test_piece_begin_write__state_machine),
		T(test_piece_commit__completes_task_and_survives_reopen),
		T(test_task_set_private__survives_reopen_and_goes_with_the_task),
		T(test_store_open__resume_keeps_only_durable_pieces),
		T(test_store_open__wipe_deletes_everything),
		T(test_store_open__max_tasks_keeps_unloaded_files),
		T(test_wait_piece__fires_on_owner_thread),
		T(test_wait_cancel__armed_and_drain_limit),
		T(test_task_fail__reopen_resets_and_keeps_pieces),
		T(test_task_list__copies_up_to_max),
		T(test_task_remove__busy_then_gone),
		T(test_memory_task__budget_refuses_spills_and_evicts_idle),
		T(test_task_export__link_copy_and_no_clobber),
		T(test_task_export__early_output),
		T(test_task_export__direct_copy),
		T(test_task_export_at__beneath_dirfd),
		T(test_task_import__copies_digests_and_is_idempotent),
		T(test_task_check_digest__sha256_sha512_crc32),
		T(test_store_gc__ttl_pin_and_in_use),
		T(test_store_gc__watermarks_lru_pinned_in_use),
		T(test_store_gc__drops_page_cache_and_closes_idle_files),
#if FAULTS
		T(test_store_open__every_alloc_and_db_fault_is_clean),
#endif
#if FAULTS
		T(test_task_open__every_fault_leaves_nothing),
#endif
#if FAULTS
		T(test_piece_write__io_fault_fails_task),
#endif
#if FAULTS
		T(test_store_flush__faults_keep_pieces_pending),
#endif
		T(test_store_flush__background_thread_persists),
		T(test_store_gc__runs_in_the_background),
		T(test_store_buf_alloc__aligned),
#undef T
	};

	setvbuf(stdout, NULL, _IONBF, 0);
	vx_log_set_level(VX_LOG_ERROR);
	return cmocka_run_group_tests_name("storage", tests, NULL, NULL);
}
