/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_store.c: the manager's tables in the scheduler's sqlite file: personal access tokens
 * (only a SHA-256 of the secret is kept, compared in constant time), jobs, and the audit log
 * (append-only: a trigger refuses updates; each record carries the SHA-256 of the one before,
 * so a changed or removed record breaks the chain; gc removes the oldest only).
 *
 * A token is "vxt_<id>_<64 hex>": 256 random bits, the id only says which row to compare with.
 */
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mgr_int.h"
#include "vx_err.h"
#include "vx_hex.h"
#include "vx_log.h"
#include "vx_time.h"

static const char *const schema =
	"CREATE TABLE IF NOT EXISTS mgr_tokens(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL, hash BLOB NOT NULL, scopes INTEGER NOT NULL,"
	" created INTEGER NOT NULL, expires INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS mgr_jobs(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" type TEXT NOT NULL, state TEXT NOT NULL, args TEXT NOT NULL, result TEXT,"
	" token_id INTEGER NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS mgr_audit(seq INTEGER PRIMARY KEY, time INTEGER NOT NULL,"
	" token_id INTEGER NOT NULL, source TEXT NOT NULL, action TEXT NOT NULL,"
	" target TEXT NOT NULL, result INTEGER NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);"
	"CREATE TRIGGER IF NOT EXISTS mgr_audit_append_only BEFORE UPDATE ON mgr_audit"
	" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;";

static const char *const scope_names[] = { "job:read",	  "job:write",	 "preheat",
					   "task:delete", "token:admin", "audit:read",
					   "metrics:read" };

const char *vx__mgr_scope_name(uint32_t bit)
{
	for (uint32_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++) {
		if (bit == (1u << i))
			return scope_names[i];
	}
	return "?";
}

int vx_manager_scopes_parse(const char *s, uint32_t *out)
{
	char buf[256], *save = NULL, *tok;
	uint32_t bits = 0;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint32_t i, n = sizeof(scope_names) / sizeof(scope_names[0]);

		if (strcmp(tok, "all") == 0) {
			bits |= VX_MGR_SCOPE_ALL;
			continue;
		}
		for (i = 0; i < n && strcmp(tok, scope_names[i]) != 0; i++)
			;
		if (i == n)
			return -EINVAL;
		bits |= 1u << i;
	}
	if (!bits)
		return -EINVAL;
	*out = bits;
	return 0;
}

static int sha256(const void *in, size_t len, uint8_t out[32])
{
	unsigned int n = 0;

	return EVP_Digest(in, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0 : -EIO;
}

static void load_head(struct mgr_db *d)
{
	sqlite3_stmt *st;

	memset(d->last_hash, '0', 64);
	d->last_hash[64] = '\0';
	d->last_seq = 0;
	if (sqlite3_prepare_v2(d->db, "SELECT seq, hash FROM mgr_audit ORDER BY seq DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *h = sqlite3_column_text(st, 1);

		d->last_seq = sqlite3_column_int64(st, 0);
		if (h && strlen((const char *)h) == 64)
			memcpy(d->last_hash, h, 64);
	}
	sqlite3_finalize(st);
}

int vx__mgr_db_open(struct mgr_db *d, const char *path)
{
	char *msg = NULL;

	memset(d, 0, sizeof(*d));
	if (sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		vx_err("manager: cannot open database: %s", d->db ? sqlite3_errmsg(d->db) : "");
		vx__mgr_db_close(d);
		return VX_EDB;
	}
	sqlite3_busy_timeout(d->db, 5000);
	if (sqlite3_exec(d->db, "PRAGMA journal_mode=WAL;", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(d->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		vx_err("manager: cannot set up tables: %s", msg ? msg : sqlite3_errmsg(d->db));
		sqlite3_free(msg);
		vx__mgr_db_close(d);
		return VX_EDB;
	}
	load_head(d);
	return 0;
}

void vx__mgr_db_close(struct mgr_db *d)
{
	if (d->db)
		sqlite3_close(d->db);
	d->db = NULL;
}

/* ---------------------------------------------------------------- Tokens */

int vx__mgr_token_create(struct mgr_db *d, const char *name, uint32_t scopes, uint64_t ttl_s,
			 char *out, int64_t *id)
{
	uint8_t rnd[32], h[32];
	char hex[65];
	sqlite3_stmt *st;
	int64_t now = vx_wall_s();
	int rc;

	if (!name || !*name || strlen(name) > 64 || !scopes || (scopes & ~VX_MGR_SCOPE_ALL) ||
	    !ttl_s || ttl_s > 10ull * 366 * 86400)
		return -EINVAL;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	vx_hex_encode(rnd, sizeof(rnd), hex);
	if (sha256(hex, 64, h))
		return -EIO;
	if (sqlite3_prepare_v2(d->db,
			       "INSERT INTO mgr_tokens(name, hash, scopes, created, expires) "
			       "VALUES(?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return VX_EDB;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 2, h, sizeof(h), SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, scopes);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, now + (int64_t)ttl_s);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : VX_EDB;
	sqlite3_finalize(st);
	if (rc)
		return rc;
	*id = sqlite3_last_insert_rowid(d->db);
	snprintf(out, VX_MGR_TOKEN_MAX, "vxt_%" PRId64 "_%s", *id, hex);
	OPENSSL_cleanse(hex, sizeof(hex));
	OPENSSL_cleanse(rnd, sizeof(rnd));
	return 0;
}

int vx__mgr_token_check(struct mgr_db *d, const char *tok, struct mgr_token *t)
{
	uint8_t h[32];
	const char *sec;
	char *end;
	sqlite3_stmt *st;
	long long id;
	int rc = -EACCES;

	if (strncmp(tok, "vxt_", 4) != 0 || tok[4] < '1' || tok[4] > '9')
		return -EACCES;
	errno = 0;
	id = strtoll(tok + 4, &end, 10);
	if (errno || *end != '_')
		return -EACCES;
	sec = end + 1;
	if (strlen(sec) != 64 || !vx_hex_is_lower(sec, 64) || sha256(sec, 64, h))
		return -EACCES;
	if (sqlite3_prepare_v2(d->db,
			       "SELECT hash, scopes, expires, revoked FROM mgr_tokens WHERE id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -EACCES;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
		const void *want = sqlite3_column_blob(st, 0);
		bool ok = CRYPTO_memcmp(want, h, 32) == 0;

		t->id = id;
		t->scopes = (uint32_t)sqlite3_column_int64(st, 1);
		t->expires = sqlite3_column_int64(st, 2);
		if (ok && !sqlite3_column_int64(st, 3) && t->expires > vx_wall_s())
			rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

static json_t *scopes_json(uint32_t bits)
{
	json_t *a = json_array();

	for (uint32_t i = 0; i < 32; i++) {
		if (bits & (1u << i))
			json_array_append_new(a, json_string(vx__mgr_scope_name(1u << i)));
	}
	return a;
}

json_t *vx__mgr_token_list(struct mgr_db *d)
{
	json_t *a = json_array();
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(d->db,
			       "SELECT id, name, scopes, created, expires, revoked FROM mgr_tokens "
			       "ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		return a;
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_array_append_new(
			a, json_pack("{s:I, s:s, s:o, s:I, s:I, s:b}", "id",
				     (json_int_t)sqlite3_column_int64(st, 0), "name",
				     (const char *)sqlite3_column_text(st, 1), "scopes",
				     scopes_json((uint32_t)sqlite3_column_int64(st, 2)),
				     "created_at", (json_int_t)sqlite3_column_int64(st, 3),
				     "expires_at", (json_int_t)sqlite3_column_int64(st, 4),
				     "revoked", (int)sqlite3_column_int64(st, 5)));
	}
	sqlite3_finalize(st);
	return a;
}

int vx__mgr_token_revoke(struct mgr_db *d, int64_t id)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(d->db, "UPDATE mgr_tokens SET revoked = 1 WHERE id = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return VX_EDB;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : VX_EDB;
	sqlite3_finalize(st);
	if (!rc && sqlite3_changes(d->db) == 0)
		rc = -ENOENT;
	return rc;
}

int vx_manager_token_create(const char *db_path, const char *name, uint32_t scopes, uint64_t ttl_s,
			    char *out, int64_t *id)
{
	struct mgr_db d;
	int rc = vx__mgr_db_open(&d, db_path);

	if (rc)
		return rc;
	rc = vx__mgr_token_create(&d, name, scopes, ttl_s, out, id);
	if (!rc)
		vx__mgr_audit(&d, *id, "local", "token.bootstrap", name, 201);
	vx__mgr_db_close(&d);
	return rc;
}

/* ---------------------------------------------------------------- Audit */

/* Control characters and the separator become '?', so a record reads back as written. */
static void clean(char *out, size_t cap, const char *in)
{
	size_t i = 0;

	for (; in && *in && i + 1 < cap; in++)
		out[i++] = ((unsigned char)*in < 0x20 || *in == 0x7f || *in == '|') ? '?' : *in;
	out[i] = '\0';
}

void vx__mgr_audit(struct mgr_db *d, int64_t token_id, const char *source, const char *action,
		   const char *target, int result)
{
	char src[64], act[160], tgt[512], line[1024], hash[65];
	uint8_t h[32];
	int64_t now = vx_wall_s(), seq;
	sqlite3_stmt *st;
	int n;

	/* another process (vx token create --bootstrap) may have appended: read the head inside
	 * the write transaction */
	if (sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		vx_err("manager: audit record not written: %s", sqlite3_errmsg(d->db));
		return;
	}
	load_head(d);
	seq = d->last_seq + 1;

	clean(src, sizeof(src), source);
	clean(act, sizeof(act), action);
	clean(tgt, sizeof(tgt), target);
	/* spec/manager.md: hash = sha256(prev|seq|time|token|source|action|target|result) */
	n = snprintf(line, sizeof(line), "%s|%" PRId64 "|%" PRId64 "|%" PRId64 "|%s|%s|%s|%d",
		     d->last_hash, seq, now, token_id, src, act, tgt, result);
	if (n < 0 || (size_t)n >= sizeof(line) || sha256(line, (size_t)n, h)) {
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
		return;
	}
	vx_hex_encode(h, sizeof(h), hash);
	if (sqlite3_prepare_v2(d->db,
			       "INSERT INTO mgr_audit(seq, time, token_id, source, action, target,"
			       " result, prev, hash) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK) {
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
		return;
	}
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, token_id);
	sqlite3_bind_text(st, 4, src, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, act, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, tgt, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 7, result);
	sqlite3_bind_text(st, 8, d->last_hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 9, hash, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_DONE) {
		d->last_seq = seq;
		memcpy(d->last_hash, hash, 65);
	} else {
		vx_err("manager: audit record not written: %s", sqlite3_errmsg(d->db));
	}
	sqlite3_finalize(st);
	if (sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
}

json_t *vx__mgr_audit_list(struct mgr_db *d, int64_t after, uint32_t limit)
{
	json_t *a = json_array();
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(d->db,
			       "SELECT seq, time, token_id, source, action, target, result, prev,"
			       " hash FROM mgr_audit WHERE seq > ? ORDER BY seq LIMIT ?",
			       -1, &st, NULL) != SQLITE_OK)
		return a;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_array_append_new(a,
				      json_pack("{s:I, s:I, s:I, s:s, s:s, s:s, s:i, s:s, s:s}",
						"seq", (json_int_t)sqlite3_column_int64(st, 0),
						"time", (json_int_t)sqlite3_column_int64(st, 1),
						"token_id", (json_int_t)sqlite3_column_int64(st, 2),
						"source", (const char *)sqlite3_column_text(st, 3),
						"action", (const char *)sqlite3_column_text(st, 4),
						"target", (const char *)sqlite3_column_text(st, 5),
						"result", sqlite3_column_int(st, 6), "prev",
						(const char *)sqlite3_column_text(st, 7), "hash",
						(const char *)sqlite3_column_text(st, 8)));
	}
	sqlite3_finalize(st);
	return a;
}

int64_t vx__mgr_gc(struct mgr_db *d, int64_t before)
{
	static const char *const q[] = {
		"DELETE FROM mgr_jobs WHERE updated < ? AND state != 'PENDING'",
		"DELETE FROM mgr_audit WHERE time < ?",
	};
	int64_t n = 0;

	for (size_t i = 0; i < 2; i++) {
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(d->db, q[i], -1, &st, NULL) != SQLITE_OK)
			continue;
		sqlite3_bind_int64(st, 1, before);
		if (sqlite3_step(st) == SQLITE_DONE)
			n += sqlite3_changes(d->db);
		sqlite3_finalize(st);
	}
	return n;
}
