/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched_db.c: the scheduler's records in sqlite (WAL): hosts it has seen and tasks it has
 * scheduled, for operators and for the manager. Never on the decision path: host and task
 * records are queued in memory and written in one transaction per event-loop turn
 * (vx__sched_db_flush()). The file is shared with the manager (and other processes: `vx token
 * create`, a manager of its own): when another writer holds it, the flush does not wait and loses
 * nothing; the queue (bounded) is written at a later turn.
 */
#include "sched_db.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>

#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_url.h"

struct sched_db {
	sqlite3 *db;
	sqlite3_stmt *host_up;
	sqlite3_stmt *task_up;
	sqlite3_stmt *task_del;
	sqlite3_stmt *key_get;
	sqlite3_stmt *key_put;
	sqlite3_stmt *key_count;
	sqlite3_stmt *key_count_all;
	sqlite3_stmt *key_expire_all;
	sqlite3_stmt *key_seen;
	sqlite3_stmt *key_expire;
	bool in_txn;
	struct db_rec *q; /* records not yet written, in order */
	uint32_t nq, capq;
	uint64_t dropped; /* records given up on a full queue */
	bool busy_said;
};

/* Waits for another writer only where the answer is needed now (a host key, the expiry). */
#define DB_BUSY_MS 2000
/* Records kept while another writer holds the file; beyond, the newest are given up. */
#define DB_QUEUE_MAX 16384

enum db_rec_kind { REC_HOST, REC_TASK, REC_TASK_DEL };

/* One queued record; the strings are owned (vx_free). */
struct db_rec {
	enum db_rec_kind kind;
	char *id, *a, *idc, *loc; /* a: a host's address or a task's redacted URL */
	int64_t now_s, n1, n2;	  /* host: port, role; task: piece and content length */
	const char *state;	  /* static */
};

static const char schema[] = "PRAGMA journal_mode=WAL;"
			     "PRAGMA synchronous=NORMAL;"
			     "CREATE TABLE IF NOT EXISTS hosts ("
			     " id TEXT PRIMARY KEY, addr TEXT NOT NULL, port INTEGER NOT NULL,"
			     " idc TEXT NOT NULL, location TEXT NOT NULL, role INTEGER NOT NULL,"
			     " first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL);"
			     "CREATE TABLE IF NOT EXISTS tasks ("
			     " id TEXT PRIMARY KEY, url TEXT NOT NULL, piece_len INTEGER NOT NULL,"
			     " content_len INTEGER NOT NULL, state TEXT NOT NULL,"
			     " created INTEGER NOT NULL, updated INTEGER NOT NULL);"
			     "CREATE INDEX IF NOT EXISTS hosts_seen ON hosts(last_seen);"
			     "CREATE INDEX IF NOT EXISTS tasks_updated ON tasks(updated);";

static void rec_free(struct db_rec *r);
static int flush(struct sched_db *d, bool wait);

static int db_err(struct sched_db *d, const char *what)
{
	vx_err("scheduler db: %s: %s", what, sqlite3_errmsg(d->db));
	return VX_EDB;
}

/*
 * Host keys: host id -> sha256 of the key the host sent in its first hello, and the address it
 * came from (to bound how many ids one address may bind). A lookup per hello, off the decision
 * path; the insert commits with the loop turn's transaction (or at once when none is open).
 */
static int keys_open(struct sched_db *d)
{
	char *msg = NULL;

	if (sqlite3_exec(d->db,
			 "CREATE TABLE IF NOT EXISTS host_keys ("
			 " id TEXT PRIMARY KEY, key_sha256 TEXT NOT NULL, src TEXT NOT NULL,"
			 " created INTEGER NOT NULL, seen INTEGER NOT NULL);"
			 "CREATE INDEX IF NOT EXISTS host_keys_src ON host_keys(src);",
			 NULL, NULL, &msg) != SQLITE_OK) {
		vx_err("scheduler db: host keys: %s", msg ? msg : "schema failed");
		sqlite3_free(msg);
		return VX_EDB;
	}
	if (sqlite3_prepare_v2(d->db, "SELECT key_sha256 FROM host_keys WHERE id=?1", -1,
			       &d->key_get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d->db, "INSERT INTO host_keys VALUES (?1,?2,?3,?4,?4)", -1,
			       &d->key_put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d->db, "SELECT count(*) FROM host_keys WHERE src=?1", -1,
			       &d->key_count, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d->db, "UPDATE host_keys SET seen=?2 WHERE id=?1", -1, &d->key_seen,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d->db, "DELETE FROM host_keys WHERE src=?1 AND seen<?2", -1,
			       &d->key_expire, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d->db, "SELECT count(*) FROM host_keys", -1, &d->key_count_all,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d->db, "DELETE FROM host_keys WHERE seen<?1", -1, &d->key_expire_all,
			       NULL) != SQLITE_OK)
		return db_err(d, "prepare host keys");
	return 0;
}

int vx__sched_db_open(struct sched_db **out, const char *path)
{
	struct sched_db *d;
	char *msg = NULL;
	int rc;

	*out = NULL;
	d = vx_calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	rc = sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		vx_err("scheduler db: cannot open %s: %s", path,
		       d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
		goto err_close;
	}
	sqlite3_busy_timeout(d->db, DB_BUSY_MS);
	if (sqlite3_exec(d->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		vx_err("scheduler db: %s: %s", path, msg ? msg : "schema failed");
		sqlite3_free(msg);
		goto err_close;
	}
	if (sqlite3_prepare_v2(d->db,
			       "INSERT INTO hosts VALUES (?1,?2,?3,?4,?5,?6,?7,?7) ON CONFLICT(id) "
			       "DO UPDATE SET addr=?2, port=?3, idc=?4, location=?5, role=?6, "
			       "last_seen=?7",
			       -1, &d->host_up, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d->db,
			       "INSERT INTO tasks VALUES (?1,?2,?3,?4,?5,?6,?6) ON CONFLICT(id) "
			       "DO UPDATE SET url=CASE WHEN ?2='' THEN url ELSE ?2 END, "
			       "piece_len=?3, content_len=?4, state=?5, updated=?6",
			       -1, &d->task_up, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d->db, "DELETE FROM tasks WHERE id=?1", -1, &d->task_del, NULL) !=
		    SQLITE_OK) {
		db_err(d, "prepare");
		goto err_close;
	}
	if (keys_open(d))
		goto err_close;
	*out = d;
	return 0;

err_close:
	vx__sched_db_close(d);
	return VX_EDB;
}

void vx__sched_db_close(struct sched_db *d)
{
	if (!d)
		return;
	if (d->db && (d->in_txn || d->nq) && flush(d, true) == 0 && d->nq)
		vx_warn("scheduler db: %u record(s) not written at close: the file is locked by "
			"another writer",
			d->nq);
	for (uint32_t i = 0; i < d->nq; i++)
		rec_free(&d->q[i]);
	vx_free(d->q);
	sqlite3_finalize(d->host_up);
	sqlite3_finalize(d->task_up);
	sqlite3_finalize(d->task_del);
	sqlite3_finalize(d->key_get);
	sqlite3_finalize(d->key_put);
	sqlite3_finalize(d->key_count);
	sqlite3_finalize(d->key_count_all);
	sqlite3_finalize(d->key_expire_all);
	sqlite3_finalize(d->key_seen);
	sqlite3_finalize(d->key_expire);
	sqlite3_close(d->db);
	vx_free(d);
}

/*
 * IMMEDIATE: the write lock is taken (or waited for) here, where the busy handler runs; a
 * deferred transaction that read first would fail at once on its first write when another
 * writer committed in between (SQLITE_BUSY_SNAPSHOT).
 */
static int begin(struct sched_db *d)
{
	if (d->in_txn)
		return 0;
	if (sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_err(d, "begin");
	d->in_txn = true;
	return 0;
}

static void rec_free(struct db_rec *r)
{
	vx_free(r->id);
	vx_free(r->a);
	vx_free(r->idc);
	vx_free(r->loc);
}

static char *dup_str(struct vx_ctl_str s)
{
	char *p = vx_malloc((size_t)s.len + 1);

	if (p) {
		if (s.len)
			memcpy(p, s.ptr, s.len);
		p[s.len] = '\0';
	}
	return p;
}

/* Appends @r (its strings owned from here on, also on failure). */
static int enqueue(struct sched_db *d, struct db_rec *r)
{
	if (!r->id || !r->a || !r->idc || !r->loc) {
		rec_free(r);
		return -ENOMEM;
	}
	if (d->nq == d->capq) {
		uint32_t cap = d->capq ? d->capq * 2 : 64;
		struct db_rec *q = cap <= DB_QUEUE_MAX ? vx_realloc(d->q, cap * sizeof(*q)) : NULL;

		if (!q) {
			if (!d->dropped++)
				vx_warn("scheduler db: the file stays locked by another writer: "
					"records past %u are given up",
					d->nq);
			rec_free(r);
			return -ENOSPC;
		}
		d->q = q;
		d->capq = cap;
	}
	d->q[d->nq++] = *r;
	return 0;
}

static int step(struct sched_db *d, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : db_err(d, what);
}

static void bind_str(sqlite3_stmt *st, int i, struct vx_ctl_str s)
{
	sqlite3_bind_text(st, i, s.ptr ? s.ptr : "", (int)s.len, SQLITE_TRANSIENT);
}

int vx__sched_db_host(struct sched_db *d, const struct vx_sched_host_info *h, int64_t now_s)
{
	struct db_rec r = { .kind = REC_HOST,
			    .id = dup_str(h->id),
			    .a = dup_str(h->addr),
			    .idc = dup_str(h->idc),
			    .loc = dup_str(h->location),
			    .now_s = now_s,
			    .n1 = h->port,
			    .n2 = (int64_t)h->role };

	return enqueue(d, &r);
}

int vx__sched_db_task(struct sched_db *d, struct vx_ctl_str id, struct vx_ctl_str url,
		      const struct vx_sched_task_stat *st, int64_t now_s)
{
	char safe[VX_URL_LOG_MAX];
	/* the database outlives the process and is read by operators: never a credential */
	const char *u = vx_url_redact(url.ptr, url.len, safe, sizeof(safe));
	struct db_rec r = { .kind = REC_TASK,
			    .id = dup_str(id),
			    .a = dup_str(vx_ctl_str_of(u)),
			    .idc = dup_str((struct vx_ctl_str){ 0 }),
			    .loc = dup_str((struct vx_ctl_str){ 0 }),
			    .now_s = now_s,
			    .n1 = (int64_t)st->piece_len,
			    .n2 = st->content_len,
			    .state = vx_sched_task_state_name(st->state) };

	return enqueue(d, &r);
}

int vx__sched_db_task_delete(struct sched_db *d, struct vx_ctl_str id)
{
	struct db_rec r = { .kind = REC_TASK_DEL,
			    .id = dup_str(id),
			    .a = dup_str((struct vx_ctl_str){ 0 }),
			    .idc = dup_str((struct vx_ctl_str){ 0 }),
			    .loc = dup_str((struct vx_ctl_str){ 0 }) };

	return enqueue(d, &r);
}

static void bind_z(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

static int rec_write(struct sched_db *d, const struct db_rec *r)
{
	switch (r->kind) {
	case REC_HOST:
		bind_z(d->host_up, 1, r->id);
		bind_z(d->host_up, 2, r->a);
		sqlite3_bind_int(d->host_up, 3, (int)r->n1);
		bind_z(d->host_up, 4, r->idc);
		bind_z(d->host_up, 5, r->loc);
		sqlite3_bind_int(d->host_up, 6, (int)r->n2);
		sqlite3_bind_int64(d->host_up, 7, r->now_s);
		return step(d, d->host_up, "host");
	case REC_TASK:
		bind_z(d->task_up, 1, r->id);
		bind_z(d->task_up, 2, r->a);
		sqlite3_bind_int64(d->task_up, 3, r->n1);
		sqlite3_bind_int64(d->task_up, 4, r->n2);
		sqlite3_bind_text(d->task_up, 5, r->state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(d->task_up, 6, r->now_s);
		return step(d, d->task_up, "task");
	case REC_TASK_DEL:
		bind_z(d->task_del, 1, r->id);
		return step(d, d->task_del, "task delete");
	}
	return VX_EDB;
}

/*
 * Takes the write lock without waiting: 0, -EBUSY (another writer holds the file), VX_EDB.
 * The event loop does not stall behind another process's (or the manager's) transaction.
 */
static int begin_now(struct sched_db *d, bool wait)
{
	int rc;

	if (d->in_txn)
		return 0;
	if (!wait)
		sqlite3_busy_timeout(d->db, 0);
	rc = sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (!wait)
		sqlite3_busy_timeout(d->db, DB_BUSY_MS);
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
		if (!d->busy_said)
			vx_info("scheduler db: the file is locked by another writer: %u record(s) "
				"kept for a later turn",
				d->nq);
		d->busy_said = true;
		return -EBUSY;
	}
	if (rc != SQLITE_OK)
		return db_err(d, "begin");
	d->in_txn = true;
	return 0;
}

/* @wait: for another writer as long as the busy timeout (at close). */
static int flush(struct sched_db *d, bool wait)
{
	uint32_t done = 0;
	int rc;

	if (!d->in_txn && !d->nq)
		return 0;
	rc = begin_now(d, wait);
	if (rc)
		return rc == -EBUSY ? 0 : rc;
	for (; done < d->nq && !rc; done++)
		rc = rec_write(d, &d->q[done]);
	d->in_txn = false;
	if (rc || sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		if (!rc)
			db_err(d, "commit");
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
		/* a record the database refuses is given up, the rest kept */
		if (rc && done) {
			rec_free(&d->q[done - 1]);
			memmove(&d->q[done - 1], &d->q[done], (d->nq - done) * sizeof(*d->q));
			d->nq--;
		}
		return VX_EDB;
	}
	for (uint32_t i = 0; i < d->nq; i++)
		rec_free(&d->q[i]);
	if (d->busy_said && d->nq)
		vx_info("scheduler db: %u kept record(s) written", d->nq);
	d->nq = 0;
	d->busy_said = false;
	return 0;
}

int vx__sched_db_flush(struct sched_db *d)
{
	return flush(d, false);
}

int vx__sched_db_expire(struct sched_db *d, int64_t now_s, int64_t keep_s, int64_t rows_max)
{
	static const char *const sql[] = {
		"DELETE FROM hosts WHERE last_seen < ?1",
		"DELETE FROM tasks WHERE updated < ?1",
		"DELETE FROM hosts WHERE id IN (SELECT id FROM hosts ORDER BY last_seen DESC "
		"LIMIT -1 OFFSET ?2)",
		"DELETE FROM tasks WHERE id IN (SELECT id FROM tasks ORDER BY updated DESC "
		"LIMIT -1 OFFSET ?2)",
	};
	int rc = begin(d), n = 0;

	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		sqlite3_stmt *st = NULL;

		if (sqlite3_prepare_v2(d->db, sql[i], -1, &st, NULL) != SQLITE_OK)
			return db_err(d, "prepare expire");
		if (i < 2)
			sqlite3_bind_int64(st, 1, now_s - keep_s);
		else
			sqlite3_bind_int64(st, 2, rows_max);
		rc = step(d, st, "expire");
		n += rc ? 0 : sqlite3_changes(d->db);
		sqlite3_finalize(st);
		if (rc)
			return rc;
	}
	if (n)
		vx_info("scheduler db: %d host and task record(s) past their keep time or the row "
			"cap "
			"removed",
			n);
	return vx__sched_db_flush(d);
}

#define HOST_KEY_EXPIRE_S (7 * 86400)

/* Rows bound by @src, or by anyone when @src is NULL. */
static int64_t src_count(struct sched_db *d, const char *src)
{
	sqlite3_stmt *st = src ? d->key_count : d->key_count_all;
	int64_t n = INT64_MAX;

	if (src)
		sqlite3_bind_text(st, 1, src, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

/* Room for one more id of @src (NULL: of anyone): ids unseen for a week may be taken again. */
static int key_room(struct sched_db *d, const char *src, uint32_t max, int64_t now_s)
{
	sqlite3_stmt *st = src ? d->key_expire : d->key_expire_all;

	if (src_count(d, src) < max)
		return 0;
	if (src) {
		sqlite3_bind_text(st, 1, src, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, now_s - HOST_KEY_EXPIRE_S);
	} else {
		sqlite3_bind_int64(st, 1, now_s - HOST_KEY_EXPIRE_S);
	}
	if (step(d, st, "host key expire") || src_count(d, src) >= max)
		return -ENOSPC;
	return 0;
}

int vx__sched_db_host_key(struct sched_db *d, struct vx_ctl_str id, const char *key_sha256,
			  const char *src, uint32_t per_src_max, uint32_t total_max, int64_t now_s)
{
	int rc = begin(d);

	if (rc)
		return rc;
	bind_str(d->key_get, 1, id);
	rc = sqlite3_step(d->key_get);
	if (rc == SQLITE_ROW) {
		const unsigned char *have = sqlite3_column_text(d->key_get, 0);
		bool same = have && strcmp((const char *)have, key_sha256) == 0;

		sqlite3_reset(d->key_get);
		if (!same)
			return -EACCES;
		bind_str(d->key_seen, 1, id);
		sqlite3_bind_int64(d->key_seen, 2, now_s);
		return step(d, d->key_seen, "host key seen");
	}
	sqlite3_reset(d->key_get);
	if (rc != SQLITE_DONE)
		return db_err(d, "host key");
	rc = key_room(d, src, per_src_max, now_s);
	if (!rc)
		rc = key_room(d, NULL, total_max, now_s);
	if (rc)
		return rc;
	bind_str(d->key_put, 1, id);
	sqlite3_bind_text(d->key_put, 2, key_sha256, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(d->key_put, 3, src, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(d->key_put, 4, now_s);
	return step(d, d->key_put, "host key");
}

int vx__sched_db_host_key_check(struct sched_db *d, struct vx_ctl_str id, const char *key_sha256)
{
	const unsigned char *have;
	bool same = false;
	int rc;

	bind_str(d->key_get, 1, id);
	rc = sqlite3_step(d->key_get);
	if (rc == SQLITE_ROW) {
		have = sqlite3_column_text(d->key_get, 0);
		same = have && strcmp((const char *)have, key_sha256) == 0;
	}
	sqlite3_reset(d->key_get);
	sqlite3_clear_bindings(d->key_get);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_err(d, "host key");
	return same ? 0 : -EACCES;
}
