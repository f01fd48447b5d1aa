/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_storage_meta.c: the store's metadata loader against corrupt or hostile rows. The input
 * describes task rows (kind, lengths, state), their content files (absent, right size, short)
 * and piece rows (number, offset, length, crc, parent, time), written straight into a fresh
 * metadata/store.db; then vx_store_open() must load it without crashing, and every piece it
 * reports finished must lie inside its task's plan. Runs in a scratch directory under $TMPDIR
 * (or the working directory), wiped after each input.
 */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_assert.h"
#include "vx_log.h"
#include "vx_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rd {
	const uint8_t *p;
	size_t left;
};

static uint64_t rd_bytes(struct rd *r, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++) {
		v <<= 8;
		if (r->left) {
			v |= *r->p++;
			r->left--;
		}
	}
	return v;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static const char *scratch_dir(void)
{
	static char dir[PATH_MAX];

	if (!dir[0]) {
		const char *base = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/vx-fuzz-storage-XXXXXX", base && *base ? base : ".");
		if (!mkdtemp(dir))
			abort();
		vx_log_set_level(VX_LOG_ERROR);
	}
	return dir;
}

static void task_id(unsigned int i, char out[65])
{
	for (int k = 0; k < 64; k++)
		out[k] = "0123456789abcdef"[(i * 7 + (unsigned)k * 13) & 15];
	out[64] = '\0';
}

/* Writes the task and piece rows the input describes, and the content files. */
static void build(const char *dir, struct rd *r, unsigned int *nr_tasks)
{
	char path[PATH_MAX + 128];
	sqlite3 *db;
	sqlite3_stmt *ts, *ps;

	snprintf(path, sizeof(path), "%s/metadata/store.db", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		abort();
	if (sqlite3_prepare_v2(
		    db,
		    "INSERT OR REPLACE INTO task (id, kind, url, content_length,"
		    " piece_length, digest, state, error, ttl_s, replicas, created_s,"
		    " access_s) VALUES (?1, ?2, NULL, ?3, ?4, NULL, ?5, ?6, ?7, 0, ?8, ?8)",
		    -1, &ts, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
		    db,
		    "INSERT OR REPLACE INTO piece (task_id, number, offset, length, crc32,"
		    " state, parent, cost_ms, finished_s)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, 2, ?6, 0, ?7)",
		    -1, &ps, NULL) != SQLITE_OK)
		abort();
	*nr_tasks = (unsigned int)rd_bytes(r, 1) % 4;
	for (unsigned int i = 0; i < *nr_tasks; i++) {
		char id[65];
		int64_t clen = (int64_t)rd_bytes(r, 8), plen = (int64_t)rd_bytes(r, 8);
		int kind = (int)(int8_t)rd_bytes(r, 1);
		unsigned int file = (unsigned int)rd_bytes(r, 1) % 3;
		unsigned int npieces = (unsigned int)rd_bytes(r, 1) % 16;

		task_id(i, id);
		sqlite3_bind_text(ts, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int(ts, 2, kind);
		sqlite3_bind_int64(ts, 3, clen);
		sqlite3_bind_int64(ts, 4, plen);
		sqlite3_bind_int(ts, 5, (int)(int8_t)rd_bytes(r, 1));
		sqlite3_bind_int(ts, 6, (int)(int32_t)rd_bytes(r, 4));
		sqlite3_bind_int64(ts, 7, (int64_t)rd_bytes(r, 8));
		sqlite3_bind_int64(ts, 8, (int64_t)rd_bytes(r, 8));
		sqlite3_step(ts);
		sqlite3_reset(ts);
		if (file && clen >= 0 && clen < (1ll << 40)) {
			int fd;

			snprintf(path, sizeof(path), "%s/content/%s/%.3s", dir,
				 kind == 1 ? "persistent-cache-tasks" : "tasks", id);
			mkdir(path, 0755);
			snprintf(path, sizeof(path), "%s/content/%s/%.3s/%s", dir,
				 kind == 1 ? "persistent-cache-tasks" : "tasks", id, id);
			fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
			if (fd >= 0) {
				if (ftruncate(fd, file == 1 ? clen : clen / 2) != 0)
					(void)0;
				close(fd);
			}
		}
		for (unsigned int k = 0; k < npieces; k++) {
			char parent[48];
			unsigned int plen_s = (unsigned int)rd_bytes(r, 1) % sizeof(parent);

			for (unsigned int c = 0; c < plen_s; c++)
				parent[c] = (char)rd_bytes(r, 1);
			sqlite3_bind_text(ps, 1, id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(ps, 2, (int64_t)rd_bytes(r, 4));
			sqlite3_bind_int64(ps, 3, (int64_t)rd_bytes(r, 8));
			sqlite3_bind_int64(ps, 4, (int64_t)rd_bytes(r, 8));
			sqlite3_bind_int64(ps, 5, (int64_t)rd_bytes(r, 8));
			sqlite3_bind_text(ps, 6, parent, (int)plen_s, SQLITE_TRANSIENT);
			sqlite3_bind_int64(ps, 7, (int64_t)rd_bytes(r, 8));
			sqlite3_step(ps);
			sqlite3_reset(ps);
		}
	}
	sqlite3_finalize(ts);
	sqlite3_finalize(ps);
	sqlite3_close(db);
}

static void check_task(struct vx_store *s, const char *id)
{
	struct vx_store_task *t;
	struct vx_store_task_info info;
	uint32_t finished = 0;

	if (vx_store_task_acquire(s, id, VX_STORE_USE_READ, &t) != 0)
		return;
	vx_store_task_info(t, &info);
	VX_ASSERT(info.piece_length > 0);
	VX_ASSERT(info.piece_count <= VX_STORE_PIECES_MAX);
	for (uint32_t n = 0; n < info.piece_count; n++) {
		struct vx_store_piece_ref ref;

		if (vx_store_piece_get(t, n, &ref) != 0)
			continue;
		finished++;
		VX_ASSERT(ref.length > 0 && ref.length <= info.piece_length);
		VX_ASSERT(ref.offset + ref.length <= info.content_length);
		VX_ASSERT(strlen(ref.parent_id) < VX_STORE_PARENT_ID_MAX);
	}
	VX_ASSERT(finished == info.finished_count);
	VX_ASSERT((info.state == VX_STORE_TASK_COMPLETE) == (finished == info.piece_count) ||
		  info.state == VX_STORE_TASK_FAILED);
	vx_store_task_release(t, VX_STORE_USE_READ);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dir = scratch_dir();
	struct rd r = { data, size };
	struct vx_store_cfg cfg;
	struct vx_store *s = NULL;
	unsigned int nr_tasks = 0;

	vx_store_cfg_init(&cfg);
	cfg.dir = dir;
	cfg.no_flush_thread = true;
	cfg.direct_io = VX_STORE_DIRECT_DISABLED;
	cfg.wipe = true;
	/* First open creates the layout and schema; then the rows go in behind its back. */
	if (vx_store_open(&s, &cfg) != 0)
		abort();
	vx_store_close(s);
	build(dir, &r, &nr_tasks);
	cfg.wipe = false;
	if (vx_store_open(&s, &cfg) == 0) {
		for (unsigned int i = 0; i < nr_tasks; i++) {
			char id[65];

			task_id(i, id);
			check_task(s, id);
		}
		vx_store_close(s);
	}
	return 0;
}

/* libFuzzer never returns; the replay binary removes the scratch directory at exit. */
__attribute__((destructor)) static void fuzz_storage_cleanup(void)
{
	const char *dir = scratch_dir();

	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
