/* SPDX-License-Identifier: Apache-2.0 */
/*
 * meta.c: the store's metadata in sqlite (WAL): the schema, loading tasks and their finished
 * pieces at open, task rows, and the batched flush that makes finished pieces durable. The
 * flush is the crash-consistency point: content files are fdatasync'ed first, and only then are
 * the piece rows committed, so a row never names bytes that are not on disk. spec/storage.md
 * has the schema and the argument. Every function requires s->db_lock.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_piece_plan.h"

#define VX_META_SCHEMA_VERSION 1

static const char vx_meta_schema[] = "CREATE TABLE IF NOT EXISTS task ("
				     " id TEXT PRIMARY KEY NOT NULL,"
				     " kind INTEGER NOT NULL,"
				     " url TEXT,"
				     " content_length INTEGER NOT NULL,"
				     " piece_length INTEGER NOT NULL,"
				     " digest TEXT,"
				     " state INTEGER NOT NULL,"
				     " error INTEGER NOT NULL DEFAULT 0,"
				     " ttl_s INTEGER NOT NULL DEFAULT 0,"
				     " replicas INTEGER NOT NULL DEFAULT 0,"
				     " created_s INTEGER NOT NULL,"
				     " access_s INTEGER NOT NULL"
				     ") WITHOUT ROWID;"
				     "CREATE TABLE IF NOT EXISTS piece ("
				     " task_id TEXT NOT NULL,"
				     " number INTEGER NOT NULL,"
				     " offset INTEGER NOT NULL,"
				     " length INTEGER NOT NULL,"
				     " crc32 INTEGER NOT NULL,"
				     " state INTEGER NOT NULL,"
				     " parent TEXT NOT NULL DEFAULT '',"
				     " cost_ms INTEGER NOT NULL DEFAULT 0,"
				     " finished_s INTEGER NOT NULL,"
				     " PRIMARY KEY (task_id, number)"
				     ") WITHOUT ROWID;"
				     "CREATE TABLE IF NOT EXISTS task_private ("
				     " id TEXT PRIMARY KEY NOT NULL"
				     ") WITHOUT ROWID;";

int vx__meta_err(struct vx_store *s, int rc, const char *what)
{
	vx_err("store: %s: %s (sqlite %d)", what, s->db ? sqlite3_errmsg(s->db) : "no database",
	       rc);
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return VX_EDB_BUSY;
	if (rc == SQLITE_FULL)
		return -ENOSPC;
	return VX_EDB;
}

/* Runs @sql (no rows); returns 0 or a mapped error. */
static int meta_exec(struct vx_store *s, const char *sql)
{
	int rc;

	if (vx_fault_hit(VX_FAULT_DB))
		return vx__meta_err(s, SQLITE_IOERR, "injected fault");
	rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return vx__meta_err(s, rc, sql);
	return 0;
}

static int meta_prepare(struct vx_store *s, const char *sql, sqlite3_stmt **st)
{
	int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);

	if (rc != SQLITE_OK)
		return vx__meta_err(s, rc, sql);
	return 0;
}

/* Steps @st to completion and resets it; returns 0 or a mapped error. */
static int meta_step_done(struct vx_store *s, sqlite3_stmt *st, const char *what)
{
	int rc;

	if (vx_fault_hit(VX_FAULT_DB)) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return vx__meta_err(s, SQLITE_IOERR, "injected fault");
	}
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return vx__meta_err(s, rc, what);
	return 0;
}

int vx__meta_open(struct vx_store *s)
{
	char path[PATH_MAX];
	int rc, err;

	if (snprintf(path, sizeof(path), "%s/metadata/store.db", s->dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (vx_fault_hit(VX_FAULT_DB))
		return vx__meta_err(s, SQLITE_CANTOPEN, "injected fault");
	{
		/* 0600 before sqlite opens it (its -wal and -shm files take the same mode): the
		 * rows hold full source URLs, signatures and user-info included (resume needs them) */
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd == -1 || fchmod(fd, 0600) == -1) {
			err = -errno;
			vx_err("store: cannot create %s: %s", path, strerror(errno));
			if (fd != -1)
				close(fd);
			return err;
		}
		close(fd);
	}
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		err = vx__meta_err(s, rc, "open metadata");
		goto err_close;
	}
	sqlite3_busy_timeout(s->db, 5000);
	/*
	 * WAL with synchronous=NORMAL: a commit may be lost at power failure but never torn. A lost
	 * commit only forgets pieces, which are fetched again: the safe direction.
	 */
	err = meta_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
	if (err)
		goto err_close;
	err = meta_exec(s, vx_meta_schema);
	if (err)
		goto err_close;
	err = meta_exec(s, "PRAGMA user_version=1;");
	if (err)
		goto err_close;
	err = meta_prepare(s,
			   "INSERT OR REPLACE INTO task (id, kind, url, content_length,"
			   " piece_length, digest, state, error, ttl_s, replicas, created_s,"
			   " access_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
			   &s->st_task_insert);
	if (err)
		goto err_close;
	err = meta_prepare(s, "UPDATE task SET state = ?2, error = ?3, access_s = ?4 WHERE id = ?1",
			   &s->st_task_update);
	if (err)
		goto err_close;
	err = meta_prepare(s, "DELETE FROM task WHERE id = ?1", &s->st_task_delete);
	if (err)
		goto err_close;
	err = meta_prepare(s, "DELETE FROM piece WHERE task_id = ?1", &s->st_piece_delete_task);
	if (err)
		goto err_close;
	err = meta_prepare(s,
			   "INSERT OR REPLACE INTO piece (task_id, number, offset, length, crc32,"
			   " state, parent, cost_ms, finished_s)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, 2, ?6, ?7, ?8)",
			   &s->st_piece_insert);
	if (err)
		goto err_close;
	return 0;
err_close:
	vx__meta_close(s);
	return err;
}

void vx__meta_close(struct vx_store *s)
{
	sqlite3_finalize(s->st_task_insert);
	sqlite3_finalize(s->st_task_update);
	sqlite3_finalize(s->st_task_delete);
	sqlite3_finalize(s->st_piece_insert);
	sqlite3_finalize(s->st_piece_delete_task);
	s->st_task_insert = NULL;
	s->st_task_update = NULL;
	s->st_task_delete = NULL;
	s->st_piece_insert = NULL;
	s->st_piece_delete_task = NULL;
	sqlite3_close(s->db);
	s->db = NULL;
}

static uint64_t col_u64(sqlite3_stmt *st, int col)
{
	sqlite3_int64 v = sqlite3_column_int64(st, col);

	return v < 0 ? 0 : (uint64_t)v;
}

static char *col_strdup(sqlite3_stmt *st, int col)
{
	const unsigned char *txt = sqlite3_column_text(st, col);

	if (!txt || !*txt)
		return NULL;
	return vx_strdup((const char *)txt);
}

/* Fills @t from task row @st. Returns false when the row cannot describe a task of ours. */
static bool meta_task_from_row(struct vx_store_task *t, sqlite3_stmt *st)
{
	t->kind = (enum vx_store_kind)sqlite3_column_int(st, 1);
	t->url = col_strdup(st, 2);
	t->content_length = col_u64(st, 3);
	t->piece_length = col_u64(st, 4);
	t->digest = col_strdup(st, 5);
	t->state = (enum vx_store_task_state)sqlite3_column_int(st, 6);
	t->error = sqlite3_column_int(st, 7);
	t->ttl_s = col_u64(st, 8);
	t->replicas = (uint32_t)sqlite3_column_int(st, 9);
	t->created_s = sqlite3_column_int64(st, 10);
	t->access_s = sqlite3_column_int64(st, 11);
	/* Rows are input like any other: a state we never write becomes DOWNLOADING. */
	if (t->state != VX_STORE_TASK_DOWNLOADING && t->state != VX_STORE_TASK_COMPLETE &&
	    t->state != VX_STORE_TASK_FAILED)
		t->state = VX_STORE_TASK_DOWNLOADING;
	if (t->state == VX_STORE_TASK_FAILED && t->error >= 0)
		t->error = -EIO;
	if (t->state != VX_STORE_TASK_FAILED)
		t->error = 0;
	if (t->kind != VX_STORE_KIND_NORMAL && t->kind != VX_STORE_KIND_PERSISTENT_CACHE)
		return false;
	if (sqlite3_column_int64(st, 3) < 0 || sqlite3_column_int64(st, 8) < 0)
		return false;
	if (t->piece_length == 0 || t->piece_length > VX_STORE_PIECE_LEN_MAX)
		return false;
	if (vx_piece_count(t->content_length, t->piece_length) > VX_STORE_PIECES_MAX)
		return false;
	t->piece_count = vx_piece_count(t->content_length, t->piece_length);
	return true;
}

/* True when @t's content file exists and covers its length; sets its disk usage. */
static bool meta_task_file_ok(struct vx_store *s, struct vx_store_task *t)
{
	char path[PATH_MAX];
	struct stat sb;

	if (vx__store_content_path(s, t->kind, t->id, path, sizeof(path)))
		return false;
	if (stat(path, &sb) == -1 || (uint64_t)sb.st_size < t->content_length) {
		vx_warn("store: task %.12s: content file missing or short, dropping it", t->id);
		unlink(path);
		return false;
	}
	t->disk_bytes = (uint64_t)sb.st_blocks * 512u;
	return true;
}

/* Marks @t's pieces that have a valid row FINISHED (and durable). */
static int meta_load_pieces(struct vx_store *s, struct vx_store_task *t, sqlite3_stmt *pst)
{
	int rc;

	sqlite3_bind_text(pst, 1, t->id, VX_TASK_ID_LEN, SQLITE_STATIC);
	while ((rc = sqlite3_step(pst)) == SQLITE_ROW) {
		sqlite3_int64 n = sqlite3_column_int64(pst, 0);
		uint64_t off = col_u64(pst, 1), len = col_u64(pst, 2);

		if (n < 0 || n >= t->piece_count ||
		    off != vx_piece_offset((uint32_t)n, t->piece_length) ||
		    len != vx_piece_size((uint32_t)n, t->content_length, t->piece_length))
			continue; /* a row that does not fit the plan: the piece is missing */
		vx__task_load_piece(t, (uint32_t)n, (uint32_t)sqlite3_column_int64(pst, 3),
				    (const char *)sqlite3_column_text(pst, 4), col_u64(pst, 5),
				    sqlite3_column_int64(pst, 6));
	}
	sqlite3_reset(pst);
	sqlite3_clear_bindings(pst);
	if (rc != SQLITE_DONE)
		return vx__meta_err(s, rc, "load pieces");
	t->durable_count = atomic_load(&t->finished_count);
	if (t->piece_count == t->durable_count)
		t->state = VX_STORE_TASK_COMPLETE;
	else if (t->state == VX_STORE_TASK_COMPLETE)
		t->state = VX_STORE_TASK_DOWNLOADING;
	return 0;
}

/*
 * Builds one task from a task row and loads its finished pieces; a row that is not valid, or
 * whose content file is gone or too short, is deleted instead. Returns 0 or an error.
 */
static int meta_load_task(struct vx_store *s, sqlite3_stmt *st, sqlite3_stmt *pst)
{
	const unsigned char *id = sqlite3_column_text(st, 0);
	struct vx_store_task *t;
	int err;

	if (!id || strlen((const char *)id) != VX_TASK_ID_LEN)
		return 0; /* not ours: ignore */
	t = vx_calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->store = s;
	t->fd = -1;
	t->fd_direct = -1;
	t->in_db = true;
	memcpy(t->id, id, VX_TASK_ID_LEN + 1);
	if (!meta_task_from_row(t, st) || !meta_task_file_ok(s, t)) {
		err = vx__meta_task_delete(s, t->id);
		goto err_free;
	}
	err = vx__task_alloc_pieces(t);
	if (err)
		goto err_free;
	err = meta_load_pieces(s, t, pst);
	if (err)
		goto err_free;
	/* The caller (vx_store_open) holds the store exclusively. */
	vx__store_insert(s, t);
	return 0;
err_free:
	vx__task_free(t);
	return err;
}

/* Marks task @id private (@on) or forgets the mark; its own statement, no transaction. */
static int meta_private(struct vx_store *s, const char *id, bool on)
{
	sqlite3_stmt *st;
	int err = meta_prepare(s,
			       on ? "INSERT OR IGNORE INTO task_private (id) VALUES (?1)"
				  : "DELETE FROM task_private WHERE id = ?1",
			       &st);

	if (err)
		return err;
	sqlite3_bind_text(st, 1, id, VX_TASK_ID_LEN, SQLITE_STATIC);
	err = meta_step_done(s, st, "mark task private");
	sqlite3_finalize(st);
	return err;
}

int vx__meta_task_private(struct vx_store *s, const char *id)
{
	return meta_private(s, id, true);
}

/* Sets ->priv of the loaded tasks listed in task_private. */
static int meta_load_private(struct vx_store *s)
{
	sqlite3_stmt *st;
	int err = meta_prepare(s, "SELECT id FROM task_private", &st), rc;

	if (err)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		struct vx_store_task *t =
			id && strlen(id) == VX_TASK_ID_LEN ? vx__store_lookup(s, id) : NULL;

		if (t)
			t->priv = true;
	}
	if (rc != SQLITE_DONE)
		err = vx__meta_err(s, rc, "load private marks");
	sqlite3_finalize(st);
	return err;
}

int vx__meta_load(struct vx_store *s)
{
	sqlite3_stmt *st = NULL, *pst = NULL;
	int err, rc;

	err = meta_prepare(
		s,
		"SELECT id, kind, url, content_length, piece_length, digest, state,"
		" error, ttl_s, replicas, created_s, access_s FROM task ORDER BY access_s",
		&st);
	if (err)
		return err;
	err = meta_prepare(s,
			   "SELECT number, offset, length, crc32, parent, cost_ms, finished_s"
			   " FROM piece WHERE task_id = ?1 ORDER BY finished_s, number",
			   &pst);
	if (err)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (s->nr_tasks >= s->cfg.max_tasks) {
			vx_warn("store: more tasks on disk than max_tasks (%u); ignoring the rest",
				s->cfg.max_tasks);
			s->load_truncated = true;
			break;
		}
		err = meta_load_task(s, st, pst);
		if (err)
			goto out;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = vx__meta_err(s, rc, "load tasks");
	if (!err)
		err = meta_load_private(s);
out:
	sqlite3_finalize(pst);
	sqlite3_finalize(st);
	return err;
}

static void bind_text_or_null(sqlite3_stmt *st, int col, const char *s)
{
	if (s)
		sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, col);
}

/* Inserts (or replaces) @t's row in its own transaction. */
int vx__meta_task_insert(struct vx_store *s, struct vx_store_task *t)
{
	sqlite3_stmt *st = s->st_task_insert;

	sqlite3_bind_text(st, 1, t->id, VX_TASK_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)t->kind);
	bind_text_or_null(st, 3, t->url);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)t->content_length);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)t->piece_length);
	bind_text_or_null(st, 6, t->digest);
	sqlite3_bind_int(st, 7, (int)t->state);
	sqlite3_bind_int(st, 8, t->error);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)t->ttl_s);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)t->replicas);
	sqlite3_bind_int64(st, 11, t->created_s);
	sqlite3_bind_int64(st, 12, t->access_s);
	return meta_step_done(s, st, "insert task");
}

/* Deletes task @id and its pieces in one transaction. */
int vx__meta_task_delete(struct vx_store *s, const char *id)
{
	int err;

	err = meta_exec(s, "BEGIN IMMEDIATE");
	if (err)
		return err;
	sqlite3_bind_text(s->st_piece_delete_task, 1, id, VX_TASK_ID_LEN, SQLITE_STATIC);
	err = meta_step_done(s, s->st_piece_delete_task, "delete pieces");
	if (err)
		goto err_rollback;
	sqlite3_bind_text(s->st_task_delete, 1, id, VX_TASK_ID_LEN, SQLITE_STATIC);
	err = meta_step_done(s, s->st_task_delete, "delete task");
	if (!err)
		err = meta_private(s, id, false);
	if (err)
		goto err_rollback;
	err = meta_exec(s, "COMMIT");
	if (err)
		goto err_rollback;
	pthread_mutex_lock(&s->lock); /* vx_store_stats() reads it under s->lock */
	s->commits++;
	pthread_mutex_unlock(&s->lock);
	return 0;
err_rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

/* Writes the rows of @t's pieces in finish_log[from, to). Inside the flush transaction. */
static int meta_write_pieces(struct vx_store *s, struct vx_store_task *t, uint32_t from,
			     uint32_t to)
{
	sqlite3_stmt *st = s->st_piece_insert;
	int err;

	for (uint32_t i = from; i < to; i++) {
		uint32_t n = t->finish_log[i];
		const struct vx__piece *p = &t->pieces[n];
		uint64_t off = vx_piece_offset(n, t->piece_length);

		VX_DASSERT(p->state == VX__PIECE_FINISHED);
		sqlite3_bind_text(st, 1, t->id, VX_TASK_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)n);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)off);
		sqlite3_bind_int64(
			st, 4, (sqlite3_int64)vx_piece_size(n, t->content_length, t->piece_length));
		sqlite3_bind_int64(st, 5, (sqlite3_int64)p->crc32);
		sqlite3_bind_text(st, 6, p->parent_idx ? t->parents[p->parent_idx - 1] : "", -1,
				  SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, (sqlite3_int64)p->cost_ms);
		sqlite3_bind_int64(st, 8, p->finished_s);
		err = meta_step_done(s, st, "insert piece");
		if (err)
			return err;
	}
	return 0;
}

static int meta_write_task_row(struct vx_store *s, struct vx_store_task *t,
			       enum vx_store_task_state state, int error, int64_t access_s)
{
	sqlite3_stmt *st = s->st_task_update;

	sqlite3_bind_text(st, 1, t->id, VX_TASK_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)state);
	sqlite3_bind_int(st, 3, error);
	sqlite3_bind_int64(st, 4, access_s);
	return meta_step_done(s, st, "update task");
}

/* One dirty task as the flush saw it. */
struct meta_flush_item {
	struct vx_store_task *t;
	uint32_t from; /* finish_log range to persist */
	uint32_t to;
	enum vx_store_task_state state;
	int error;
	int64_t access_s;
};

/* Takes the dirty list: each task gets a flush ref and leaves the list. Returns the count. */
static uint32_t meta_collect_dirty(struct vx_store *s)
{
	uint32_t nr = 0;

	pthread_mutex_lock(&s->lock);
	while (!vx_list_empty(&s->dirty) && nr < s->cfg.max_tasks) {
		struct vx_store_task *t =
			vx_list_first(&s->dirty, struct vx_store_task, dirty_link);

		vx_list_del(&t->dirty_link);
		t->on_dirty = false;
		t->flush_refs++;
		s->scratch[nr++] = t;
	}
	pthread_mutex_unlock(&s->lock);
	return nr;
}

/* Puts the tasks of a failed flush back on the dirty list and drops the flush refs. */
static void meta_release_items(struct vx_store *s, uint32_t nr, bool failed)
{
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < nr; i++) {
		struct vx_store_task *t = s->scratch[i];

		t->flush_refs--;
		if (!t->on_idle)
			vx__file_idle_update(t); /* a user released it during the flush */
		if (failed && !t->on_dirty && !t->removing && t->in_db) {
			t->on_dirty = true;
			vx_list_add_tail(&s->dirty, &t->dirty_link);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

static void meta_refresh_db_bytes(struct vx_store *s)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	uint64_t total = 0;

	for (size_t i = 0; i < VX_ARRAY_SIZE(suffix); i++) {
		char path[PATH_MAX];
		struct stat sb;

		snprintf(path, sizeof(path), "%s/metadata/store.db%s", s->dir, suffix[i]);
		if (stat(path, &sb) == 0)
			total += (uint64_t)sb.st_blocks * 512u;
	}
	pthread_mutex_lock(&s->lock);
	s->db_bytes = total;
	pthread_mutex_unlock(&s->lock);
}

/*
 * Usage counts allocated blocks: sparse files (no fallocate) grow as pieces land, so their
 * count is refreshed whenever the flusher has synced them.
 */
static void meta_refresh_task_bytes(struct vx_store *s, struct vx_store_task *t)
{
	struct stat sb;
	uint64_t bytes;

	if (fstat(t->fd, &sb) == -1)
		return;
	bytes = (uint64_t)sb.st_blocks * 512u;
	pthread_mutex_lock(&s->lock);
	if (!t->removing && bytes != t->disk_bytes) {
		s->disk_bytes = s->disk_bytes - t->disk_bytes + bytes;
		t->disk_bytes = bytes;
	}
	pthread_mutex_unlock(&s->lock);
}

/*
 * Snapshots each item's not-yet-durable range of the finish log and fdatasyncs its content
 * file. The bytes first: a row must never describe bytes that are not on disk.
 */
static int meta_sync_items(struct vx_store *s, struct meta_flush_item *items, uint32_t nr,
			   uint32_t *syncs)
{
	for (uint32_t i = 0; i < nr; i++) {
		struct vx_store_task *t = s->scratch[i];
		struct meta_flush_item *it = &items[i];
		int err = 0;

		it->t = t;
		pthread_mutex_lock(&t->lock);
		it->from = t->durable_count;
		it->to = atomic_load(&t->finished_count);
		it->state = t->state;
		it->error = t->error;
		pthread_mutex_unlock(&t->lock);
		pthread_mutex_lock(&s->lock);
		it->access_s = t->access_s;
		pthread_mutex_unlock(&s->lock);
		if (it->from == it->to || t->kind == VX_STORE_KIND_MEMORY || s->cfg.no_sync)
			continue;
		if (vx__task_synced(t, it->to)) {
			meta_refresh_task_bytes(s, t); /* the export's fdatasync covered them */
			continue;
		}
		if (vx_fault_hit(VX_FAULT_IO))
			err = -EIO;
		else if (fdatasync(t->fd) == -1)
			err = -errno;
		if (err) {
			vx_err("store: task %.12s: fdatasync: %s", t->id, strerror(-err));
			return err;
		}
		(*syncs)++;
		meta_refresh_task_bytes(s, t);
	}
	return 0;
}

/* Writes every item's piece rows and task row in one transaction. */
static int meta_commit_items(struct vx_store *s, const struct meta_flush_item *items, uint32_t nr,
			     uint32_t *pieces)
{
	int err;

	err = meta_exec(s, "BEGIN IMMEDIATE");
	if (err)
		return err;
	for (uint32_t i = 0; i < nr; i++) {
		const struct meta_flush_item *it = &items[i];

		if (it->t->kind == VX_STORE_KIND_MEMORY || !it->t->in_db)
			continue;
		err = meta_write_pieces(s, it->t, it->from, it->to);
		if (err)
			goto err_rollback;
		err = meta_write_task_row(s, it->t, it->state, it->error, it->access_s);
		if (err)
			goto err_rollback;
		*pieces += it->to - it->from;
	}
	err = meta_exec(s, "COMMIT");
	if (err)
		goto err_rollback;
	return 0;
err_rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

/* After the commit: the snapshotted ranges are durable now. */
static void meta_publish_items(struct vx_store *s, const struct meta_flush_item *items, uint32_t nr,
			       uint32_t pieces, uint32_t syncs)
{
	for (uint32_t i = 0; i < nr; i++) {
		struct vx_store_task *t = items[i].t;

		pthread_mutex_lock(&t->lock);
		VX_ASSERT(t->durable_count == items[i].from);
		t->durable_count = items[i].to;
		pthread_mutex_unlock(&t->lock);
	}
	atomic_fetch_sub(&s->pending_pieces, VX_MIN(pieces, atomic_load(&s->pending_pieces)));
	pthread_mutex_lock(&s->lock);
	s->commits++;
	s->pieces_persisted += pieces;
	s->syncs += syncs;
	pthread_mutex_unlock(&s->lock);
}

/*
 * The batched flush. For every dirty task: snapshot the finished-but-not-durable range of its
 * finish log, fdatasync its content file, then write all rows in ONE transaction and commit.
 * Only after the commit do the ranges count as durable. Memory tasks have no rows.
 */
int vx__meta_flush(struct vx_store *s)
{
	struct meta_flush_item items_stack[64];
	struct meta_flush_item *items = items_stack;
	uint32_t nr, pieces = 0, syncs = 0;
	int err;

	nr = meta_collect_dirty(s);
	if (nr == 0)
		return 0;
	if (nr > VX_ARRAY_SIZE(items_stack)) {
		items = vx_calloc(nr, sizeof(*items));
		if (!items) {
			meta_release_items(s, nr, true);
			return -ENOMEM;
		}
	}
	err = meta_sync_items(s, items, nr, &syncs);
	if (!err)
		err = meta_commit_items(s, items, nr, &pieces);
	if (!err)
		meta_publish_items(s, items, nr, pieces, syncs);
	meta_release_items(s, nr, err != 0);
	if (items != items_stack)
		vx_free(items);
	if (!err)
		meta_refresh_db_bytes(s);
	return err;
}
