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
#include <sys/stat.h>

#include "mgr_int.h"
#include "vx_err.h"
#include "vx_hex.h"
#include "vx_log.h"
#include "vx_time.h"
#include "vx_tls.h"

/* hosts the operator keeps from being parents (mgr_console.c); the same SQL for both */
#define BLOCKLIST_TABLE                                                                            \
	"CREATE TABLE IF NOT EXISTS mgr_blocklist(host TEXT PRIMARY KEY, created BIGINT NOT NULL," \
	" token_id BIGINT NOT NULL);"                                                              \
	"CREATE TABLE IF NOT EXISTS mgr_cluster_config(id INTEGER PRIMARY KEY, version BIGINT NOT" \
	" NULL, sha TEXT NOT NULL, doc TEXT NOT NULL, updated BIGINT NOT NULL,"                    \
	" token_id BIGINT NOT NULL);"                                                              \
	"CREATE TABLE IF NOT EXISTS mgr_token_tenants(token_id BIGINT PRIMARY KEY,"                \
	" tenant TEXT NOT NULL);"

static const char *const schema_lite =
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
	" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;" BLOCKLIST_TABLE;

/* columns added after the first release of the sqlite tables (the job lease, for resuming) */
static const char *const jobs_added[] = { "req TEXT",
					  "owner TEXT",
					  "lease INTEGER NOT NULL DEFAULT 0",
					  "deadline INTEGER NOT NULL DEFAULT 0",
					  "webhook TEXT",
					  "inflight INTEGER NOT NULL DEFAULT 0" };

static const char *const schema_pg =
	"CREATE TABLE IF NOT EXISTS mgr_tokens(id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL,"
	" hash TEXT NOT NULL, scopes BIGINT NOT NULL, created BIGINT NOT NULL,"
	" expires BIGINT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS mgr_jobs(id BIGSERIAL PRIMARY KEY, type TEXT NOT NULL,"
	" state TEXT NOT NULL, args TEXT NOT NULL, result TEXT, token_id BIGINT NOT NULL,"
	" created BIGINT NOT NULL, updated BIGINT NOT NULL, req TEXT, owner TEXT,"
	" lease BIGINT NOT NULL DEFAULT 0, deadline BIGINT NOT NULL DEFAULT 0, webhook TEXT);"
	"ALTER TABLE mgr_jobs ADD COLUMN IF NOT EXISTS webhook TEXT;"
	"ALTER TABLE mgr_jobs ADD COLUMN IF NOT EXISTS inflight BIGINT NOT NULL DEFAULT 0;"
	"CREATE INDEX IF NOT EXISTS mgr_jobs_state ON mgr_jobs(state, lease);"
	"CREATE TABLE IF NOT EXISTS mgr_audit(seq BIGINT PRIMARY KEY, time BIGINT NOT NULL,"
	" token_id BIGINT NOT NULL, source TEXT NOT NULL, action TEXT NOT NULL,"
	" target TEXT NOT NULL, result INTEGER NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);"
	"CREATE OR REPLACE FUNCTION mgr_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS"
	" $f$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $f$;"
	"CREATE OR REPLACE TRIGGER mgr_audit_append_only BEFORE UPDATE ON mgr_audit"
	" FOR EACH ROW EXECUTE FUNCTION mgr_audit_append_only();" BLOCKLIST_TABLE;

static const char *const scope_names[] = { "job:read",	   "job:write",	   "preheat",
					   "task:delete",  "token:admin",  "audit:read",
					   "metrics:read", "cluster:read", "cluster:admin",
					   "publish",	   "subscribe" };

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
	struct mgr_rows *r = NULL;
	const char *h;

	memset(d->last_hash, '0', 64);
	d->last_hash[64] = '\0';
	d->last_seq = 0;
	if (vx__mgr_sql(d, &r, "SELECT seq, hash FROM mgr_audit ORDER BY seq DESC LIMIT 1", NULL))
		return;
	h = vx__mgr_rows_s(r, 0, 1, NULL);
	if (vx__mgr_rows_n(r)) {
		d->last_seq = vx__mgr_rows_i(r, 0, 0);
		if (h && strlen(h) == 64)
			memcpy(d->last_hash, h, 64);
	}
	vx__mgr_rows_free(r);
}

static int script(struct mgr_db *d, const char *sql)
{
	char *msg = NULL;

	if (d->pg)
		return vx__mgr_pg_script(d, sql);
	if (sqlite3_exec(d->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		vx_err("manager: cannot set up tables: %s", msg ? msg : sqlite3_errmsg(d->db));
		sqlite3_free(msg);
		return VX_EDB;
	}
	return 0;
}

/* Adds the columns of jobs_added an older sqlite file lacks. */
static int migrate_lite(struct mgr_db *d)
{
	for (size_t i = 0; i < sizeof(jobs_added) / sizeof(jobs_added[0]); i++) {
		char name[32], q[160];
		struct mgr_rows *r = NULL;
		bool have;

		sscanf(jobs_added[i], "%31s", name);
		if (vx__mgr_sql(d, &r, "SELECT 1 FROM pragma_table_info('mgr_jobs') WHERE name = ?",
				"s", name))
			return VX_EDB;
		have = vx__mgr_rows_n(r) > 0;
		vx__mgr_rows_free(r);
		snprintf(q, sizeof(q), "ALTER TABLE mgr_jobs ADD COLUMN %s", jobs_added[i]);
		if (!have && vx__mgr_sql(d, NULL, q, NULL))
			return VX_EDB;
	}
	return 0;
}

/* The sqlite file and its WAL files, 0600: a job's webhook URL may carry a token. */
static void lite_private(const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char p[4096];

	for (size_t i = 0; i < 3; i++) {
		struct stat st;

		if (snprintf(p, sizeof(p), "%s%s", path, sfx[i]) >= (int)sizeof(p) ||
		    stat(p, &st) != 0 || !(st.st_mode & 077))
			continue;
		if (chmod(p, st.st_mode & 0600) != 0)
			vx_warn("manager: cannot make the database file private: %s",
				strerror(errno));
	}
}

int vx__mgr_db_open(struct mgr_db *d, const char *path)
{
	uint8_t rnd[16];
	int rc;

	memset(d, 0, sizeof(*d));
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return VX_EDB;
	vx_hex_encode(rnd, sizeof(rnd), d->owner);
	if (vx__mgr_db_is_pg(path)) {
		rc = vx__mgr_pg_connect(d, path);
		if (rc)
			return rc;
		/* several processes may start at once: one sets the tables up */
		rc = vx__mgr_db_begin(d);
		if (!rc) {
			int end;

			rc = script(d, schema_pg);
			end = vx__mgr_db_end(d, !rc);
			rc = rc ? rc : end;
		}
		if (rc) {
			vx__mgr_db_close(d);
			return VX_EDB;
		}
		load_head(d);
		return 0;
	}
	if (sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		vx_err("manager: cannot open database: %s", d->db ? sqlite3_errmsg(d->db) : "");
		vx__mgr_db_close(d);
		return VX_EDB;
	}
	sqlite3_busy_timeout(d->db, 5000);
	if (script(d, "PRAGMA journal_mode=WAL;") || script(d, schema_lite) || migrate_lite(d)) {
		vx__mgr_db_close(d);
		return VX_EDB;
	}
	lite_private(path);
	load_head(d);
	return 0;
}

void vx__mgr_db_close(struct mgr_db *d)
{
	if (d->db)
		sqlite3_close(d->db);
	d->db = NULL;
	vx__mgr_pg_close(d);
}

/* ---------------------------------------------------------------- Tokens */

int vx__mgr_token_create(struct mgr_db *d, const char *name, uint32_t scopes, const char *tenant,
			 uint64_t ttl_s, char *out, int64_t *id)
{
	uint8_t rnd[32], h[32];
	char hex[65], hhex[65];
	struct mgr_rows *r = NULL;
	int64_t now = vx_wall_s();
	int rc;

	if (!name || !*name || strlen(name) > 64 || !scopes || (scopes & ~VX_MGR_SCOPE_ALL) ||
	    !ttl_s || ttl_s > 10ull * 366 * 86400 ||
	    (tenant && *tenant && !vx_tls_tenant_ok(tenant, strlen(tenant))))
		return -EINVAL;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	vx_hex_encode(rnd, sizeof(rnd), hex);
	if (sha256(hex, 64, h))
		return -EIO;
	vx_hex_encode(h, sizeof(h), hhex);
	rc = vx__mgr_sql(d, &r,
			 "INSERT INTO mgr_tokens(name, hash, scopes, created, expires) "
			 "VALUES(?, ?, ?, ?, ?) RETURNING id",
			 "ssiii", name, hhex, (int64_t)scopes, now, now + (int64_t)ttl_s);
	if (!rc && vx__mgr_rows_n(r) != 1)
		rc = VX_EDB;
	if (!rc) {
		*id = vx__mgr_rows_i(r, 0, 0);
		snprintf(out, VX_MGR_TOKEN_MAX, "vxt_%" PRId64 "_%s", *id, hex);
	}
	/* a tenant's token: the row goes before the token is shown, or the token is revoked */
	if (!rc && tenant && *tenant &&
	    vx__mgr_sql(d, NULL, "INSERT INTO mgr_token_tenants(token_id, tenant) VALUES(?, ?)",
			"is", *id, tenant)) {
		(void)vx__mgr_token_revoke(d, *id, "");
		rc = VX_EDB;
	}
	vx__mgr_rows_free(r);
	OPENSSL_cleanse(hex, sizeof(hex));
	OPENSSL_cleanse(rnd, sizeof(rnd));
	return rc ? VX_EDB : 0;
}

int vx__mgr_token_check(struct mgr_db *d, const char *tok, struct mgr_token *t)
{
	uint8_t h[32];
	char hhex[65];
	const char *sec, *want, *tenant;
	char *end;
	struct mgr_rows *r = NULL;
	long long id;
	size_t wl = 0;
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
	vx_hex_encode(h, sizeof(h), hhex);
	if (vx__mgr_sql(
		    d, &r,
		    "SELECT hash, scopes, expires, revoked, (SELECT tenant FROM mgr_token_tenants"
		    " WHERE token_id = mgr_tokens.id) FROM mgr_tokens WHERE id = ?",
		    "i", (int64_t)id))
		return -EACCES;
	want = vx__mgr_rows_s(r, 0, 0, &wl);
	/* the hash as hex; a 32-byte blob in sqlite files written before PostgreSQL came */
	if (want && (wl == 32 || wl == 64)) {
		bool ok = CRYPTO_memcmp(want, wl == 32 ? (const void *)h : hhex, wl) == 0;

		t->id = id;
		t->scopes = (uint32_t)vx__mgr_rows_i(r, 0, 1);
		t->expires = vx__mgr_rows_i(r, 0, 2);
		tenant = vx__mgr_rows_s(r, 0, 4, NULL);
		snprintf(t->tenant, sizeof(t->tenant), "%s",
			 tenant && vx_tls_tenant_ok(tenant, strlen(tenant)) ? tenant : "");
		if (ok && !vx__mgr_rows_i(r, 0, 3) && t->expires > vx_wall_s())
			rc = 0;
	}
	vx__mgr_rows_free(r);
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

/* A token's tenant ("" none), in a statement on mgr_tokens. */
#define TOKEN_TENANT \
	"COALESCE((SELECT tenant FROM mgr_token_tenants WHERE token_id = mgr_tokens.id), '')"

json_t *vx__mgr_token_list(struct mgr_db *d, const char *tenant)
{
	json_t *a = json_array();
	struct mgr_rows *r = NULL;

	if (vx__mgr_sql(d, &r,
			"SELECT id, name, scopes, created, expires, revoked, (SELECT tenant FROM"
			" mgr_token_tenants WHERE token_id = mgr_tokens.id) FROM mgr_tokens "
			"WHERE ? = '' OR " TOKEN_TENANT " = ? ORDER BY id",
			"ss", tenant, tenant))
		return a;
	for (uint32_t i = 0; i < vx__mgr_rows_n(r); i++) {
		const char *owner = vx__mgr_rows_s(r, i, 6, NULL);

		json_array_append_new(
			a, json_pack("{s:I, s:s, s:o, s:I, s:I, s:b, s:s?}", "id",
				     (json_int_t)vx__mgr_rows_i(r, i, 0), "name",
				     vx__mgr_rows_s(r, i, 1, NULL), "scopes",
				     scopes_json((uint32_t)vx__mgr_rows_i(r, i, 2)), "created_at",
				     (json_int_t)vx__mgr_rows_i(r, i, 3), "expires_at",
				     (json_int_t)vx__mgr_rows_i(r, i, 4), "revoked",
				     (int)vx__mgr_rows_i(r, i, 5), "tenant", owner));
	}
	vx__mgr_rows_free(r);
	return a;
}

int vx__mgr_token_revoke(struct mgr_db *d, int64_t id, const char *tenant)
{
	struct mgr_rows *r = NULL;
	int rc = vx__mgr_sql(
		d, &r,
		"UPDATE mgr_tokens SET revoked = 1 WHERE id = ? AND (? = '' OR " TOKEN_TENANT
		" = ?) RETURNING id",
		"iss", id, tenant, tenant);

	if (!rc && !vx__mgr_rows_n(r))
		rc = -ENOENT;
	vx__mgr_rows_free(r);
	return rc;
}

int vx_manager_token_create(const char *db_path, const char *name, uint32_t scopes, uint64_t ttl_s,
			    char *out, int64_t *id)
{
	struct mgr_db d;
	int rc = vx__mgr_db_open(&d, db_path);

	if (rc)
		return rc;
	rc = vx__mgr_token_create(&d, name, scopes, NULL, ttl_s, out, id);
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
	int n, rc;

	/* other processes (vx token create --bootstrap, a second control plane on the same
	 * PostgreSQL) append too: read the head inside the one-writer transaction */
	if (vx__mgr_db_begin(d)) {
		vx_err("manager: audit record not written");
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
		(void)vx__mgr_db_end(d, false);
		return;
	}
	vx_hex_encode(h, sizeof(h), hash);
	rc = vx__mgr_sql(d, NULL,
			 "INSERT INTO mgr_audit(seq, time, token_id, source, action, target,"
			 " result, prev, hash) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
			 "iiisssiss", seq, now, token_id, src, act, tgt, (int64_t)result,
			 d->last_hash, hash);
	if (rc || vx__mgr_db_end(d, true)) {
		if (rc)
			(void)vx__mgr_db_end(d, false);
		vx_err("manager: audit record not written");
		return;
	}
	d->last_seq = seq;
	memcpy(d->last_hash, hash, 65);
}

json_t *vx__mgr_audit_list(struct mgr_db *d, int64_t after, uint32_t limit)
{
	json_t *a = json_array();
	struct mgr_rows *r = NULL;

	if (vx__mgr_sql(d, &r,
			"SELECT seq, time, token_id, source, action, target, result, prev,"
			" hash FROM mgr_audit WHERE seq > ? ORDER BY seq LIMIT ?",
			"ii", after, (int64_t)limit))
		return a;
	for (uint32_t i = 0; i < vx__mgr_rows_n(r); i++) {
		json_array_append_new(a, json_pack("{s:I, s:I, s:I, s:s, s:s, s:s, s:i, s:s, s:s}",
						   "seq", (json_int_t)vx__mgr_rows_i(r, i, 0),
						   "time", (json_int_t)vx__mgr_rows_i(r, i, 1),
						   "token_id", (json_int_t)vx__mgr_rows_i(r, i, 2),
						   "source", vx__mgr_rows_s(r, i, 3, NULL),
						   "action", vx__mgr_rows_s(r, i, 4, NULL),
						   "target", vx__mgr_rows_s(r, i, 5, NULL),
						   "result", (int)vx__mgr_rows_i(r, i, 6), "prev",
						   vx__mgr_rows_s(r, i, 7, NULL), "hash",
						   vx__mgr_rows_s(r, i, 8, NULL)));
	}
	vx__mgr_rows_free(r);
	return a;
}

int64_t vx__mgr_gc(struct mgr_db *d, int64_t before)
{
	static const char *const q[] = {
		"DELETE FROM mgr_jobs WHERE updated < ? AND state != 'PENDING' RETURNING 1",
		"DELETE FROM mgr_audit WHERE time < ? RETURNING 1",
	};
	int64_t n = 0;

	for (size_t i = 0; i < 2; i++) {
		struct mgr_rows *r = NULL;

		if (!vx__mgr_sql(d, &r, q[i], "i", before))
			n += vx__mgr_rows_n(r);
		vx__mgr_rows_free(r);
	}
	return n;
}
