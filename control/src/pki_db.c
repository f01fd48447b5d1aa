/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pki_db.c: the CA's tables in the scheduler's sqlite database (vx_pki.h): join tokens (the
 * secret only as its sha256), issued certificates and revoked serials. Its own connection, in
 * autocommit: a revoke from `vx cert revoke` in another process is seen at once.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "pki_int.h"
#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_hex.h"
#include "vx_log.h"
#include "vx_time.h"
#include "vx_tls.h"

#define REVOKED_MAX  100000u /* serials one CRL lists */
#define REVOKED_KEEP 86400   /* a revoked serial stays listed this long after it expired */

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS pki_tokens ("
	" id TEXT PRIMARY KEY, secret_sha256 TEXT NOT NULL, role INTEGER,"
	" expires INTEGER, uses INTEGER, created INTEGER);"
	"CREATE TABLE IF NOT EXISTS pki_certs ("
	" serial TEXT PRIMARY KEY, host_id TEXT NOT NULL, role INTEGER,"
	" not_after INTEGER, issued INTEGER);"
	"CREATE INDEX IF NOT EXISTS pki_certs_host ON pki_certs(host_id);"
	"CREATE TABLE IF NOT EXISTS pki_revoked ("
	" serial TEXT PRIMARY KEY, revoked INTEGER, not_after INTEGER);"
	/* tenants (spec/control.md 10): a token's, and the certificates' it got */
	"CREATE TABLE IF NOT EXISTS pki_token_tenants ("
	" id TEXT PRIMARY KEY, tenant TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS pki_cert_tenants ("
	" serial TEXT PRIMARY KEY, tenant TEXT NOT NULL);";

static int db_fail(struct vx_pki *p, const char *what)
{
	vx_err("pki db: %s: %s", what, sqlite3_errmsg(p->db));
	return VX_EDB;
}

int vx__pki_db_open(struct vx_pki *p, const char *path, char *err, size_t err_len)
{
	char *msg = NULL;
	int rc = sqlite3_open_v2(path, &p->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);

	if (rc != SQLITE_OK) {
		snprintf(err, err_len, "cannot open the database '%s': %s", path,
			 p->db ? sqlite3_errmsg(p->db) : sqlite3_errstr(rc));
		return VX_EDB;
	}
	sqlite3_busy_timeout(p->db, 5000);
	if (sqlite3_exec(p->db, "PRAGMA journal_mode=WAL;", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(p->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, err_len, "cannot create the PKI tables in '%s': %s", path,
			 msg ? msg : sqlite3_errmsg(p->db));
		sqlite3_free(msg);
		return VX_EDB;
	}
	return 0;
}

/* Prepares @sql; NULL on failure (logged). */
static sqlite3_stmt *prep(struct vx_pki *p, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) != SQLITE_OK) {
		(void)db_fail(p, "prepare");
		return NULL;
	}
	return st;
}

/* Runs a statement that returns no row; 0 or VX_EDB. Finalizes @st. */
static int exec_done(struct vx_pki *p, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(p, what);
}

/* Records @tenant (none: nothing) for @key in @table (pki_token_tenants, pki_cert_tenants). */
static int tenant_put(struct vx_pki *p, const char *sql, const char *key, const char *tenant)
{
	sqlite3_stmt *st;

	if (!tenant || !tenant[0])
		return 0;
	st = prep(p, sql);
	if (!st)
		return VX_EDB;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, tenant, -1, SQLITE_TRANSIENT);
	return exec_done(p, st, "record a tenant");
}

/* Column @col of @st as a tenant into @out (VX_TLS_TENANT_MAX + 1 bytes; NULL: not wanted). */
static void tenant_get(sqlite3_stmt *st, int col, char *out)
{
	const char *t = (const char *)sqlite3_column_text(st, col);

	if (out)
		snprintf(out, VX_TLS_TENANT_MAX + 1, "%s",
			 t && vx_tls_tenant_ok(t, strlen(t)) ? t : "");
}

int vx__pki_db_cert_add(struct vx_pki *p, const char *serial, const char *host_id,
			enum vx_pki_role role, const char *tenant, int64_t not_after)
{
	sqlite3_stmt *st = prep(p, "INSERT INTO pki_certs VALUES (?1,?2,?3,?4,?5)");
	int rc;

	if (!st)
		return VX_EDB;
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, host_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, (int)role);
	sqlite3_bind_int64(st, 4, not_after);
	sqlite3_bind_int64(st, 5, vx_wall_s());
	rc = exec_done(p, st, "record a certificate");
	return rc ? rc
		  : tenant_put(p, "INSERT INTO pki_cert_tenants VALUES (?1,?2)", serial, tenant);
}

int64_t vx__pki_db_revoked_nr(struct vx_pki *p)
{
	sqlite3_stmt *st = prep(p, "SELECT count(*) FROM pki_revoked WHERE not_after>?1");
	int64_t n = -1;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, vx_wall_s() - REVOKED_KEEP);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n > REVOKED_MAX ? REVOKED_MAX : n;
}

int vx__pki_db_revoked(struct vx_pki *p, struct pki_revoked **out, uint32_t *nr)
{
	sqlite3_stmt *st = prep(p, "SELECT serial, revoked FROM pki_revoked WHERE not_after>?1 "
				   "ORDER BY serial LIMIT ?2");
	struct pki_revoked *rv = NULL;
	uint32_t n = 0, cap = 0;
	int rc;

	*out = NULL;
	*nr = 0;
	if (!st)
		return VX_EDB;
	sqlite3_bind_int64(st, 1, vx_wall_s() - REVOKED_KEEP);
	sqlite3_bind_int(st, 2, (int)REVOKED_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);

		if (!s || strlen(s) != VX_PKI_SERIAL_HEX || !vx_hex_is_lower(s, VX_PKI_SERIAL_HEX))
			continue; /* not ours */
		if (n == cap) {
			struct pki_revoked *g;

			cap = cap ? 2 * cap : 64;
			g = vx_realloc(rv, (size_t)cap * sizeof(*rv));
			if (!g) {
				vx_free(rv);
				sqlite3_finalize(st);
				return -ENOMEM;
			}
			rv = g;
		}
		memcpy(rv[n].serial, s, VX_PKI_SERIAL_HEX + 1);
		rv[n].when = sqlite3_column_int64(st, 1);
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		vx_free(rv);
		return db_fail(p, "list revoked serials");
	}
	*out = rv;
	*nr = n;
	return 0;
}

int64_t vx__pki_db_certs_live(struct vx_pki *p, const char *host_id)
{
	sqlite3_stmt *st = prep(p, "SELECT count(*) FROM pki_certs WHERE host_id=?1 AND "
				   "not_after>?2");
	int64_t n = -1;

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, host_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, vx_wall_s());
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/*
 * The newest certificate decides: when it is revoked (or expired) the host holds none, even
 * if an older one issued before its last renewal is still valid (else revoking a host's
 * current serial would not stop its renewals).
 */
int vx_pki_host_role(struct vx_pki *p, const char *host_id, size_t id_len, enum vx_pki_role *role,
		     char *tenant)
{
	sqlite3_stmt *st =
		prep(p, "SELECT role, (SELECT tenant FROM pki_cert_tenants t WHERE "
			"t.serial=c.serial) FROM (SELECT serial, role, not_after FROM pki_certs "
			"WHERE host_id=?1 ORDER BY issued DESC, rowid DESC LIMIT 1) c "
			"WHERE not_after>?2 AND serial NOT IN (SELECT serial FROM "
			"pki_revoked)");
	int rc;

	if (!st)
		return VX_EDB;
	sqlite3_bind_text(st, 1, host_id, (int)id_len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, vx_wall_s());
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int r = sqlite3_column_int(st, 0);

		*role = r == VX_PKI_ROLE_SEED ? VX_PKI_ROLE_SEED : VX_PKI_ROLE_PEER;
		tenant_get(st, 1, tenant);
		rc = r == VX_PKI_ROLE_SCHEDULER ? -ENOENT : 0;
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : db_fail(p, "find a host's certificate");
	}
	sqlite3_finalize(st);
	return rc;
}

int vx_pki_revoke(struct vx_pki *p, const char *what)
{
	bool serial = strlen(what) == VX_PKI_SERIAL_HEX && vx_hex_is_lower(what, VX_PKI_SERIAL_HEX);
	sqlite3_stmt *st;
	const char *pem;
	size_t len;
	int rc, known;

	st = prep(p, serial ? "SELECT count(*) FROM pki_certs WHERE serial=?1"
			    : "SELECT count(*) FROM pki_certs WHERE host_id=?1");
	if (!st)
		return VX_EDB;
	sqlite3_bind_text(st, 1, what, -1, SQLITE_TRANSIENT);
	known = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	if (known < 0)
		return db_fail(p, "find a certificate");
	if (known == 0)
		return -ENOENT;
	st = prep(p, serial ? "INSERT OR IGNORE INTO pki_revoked SELECT serial, ?2, not_after "
			      "FROM pki_certs WHERE serial=?1"
			    : "INSERT OR IGNORE INTO pki_revoked SELECT serial, ?2, not_after "
			      "FROM pki_certs WHERE host_id=?1 AND not_after>?2");
	if (!st)
		return VX_EDB;
	sqlite3_bind_text(st, 1, what, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, vx_wall_s());
	rc = exec_done(p, st, "revoke");
	if (rc)
		return rc;
	known = sqlite3_changes(p->db);
	rc = vx_pki_crl(p, true, &pem, &len);
	return rc ? rc : known;
}

/* ---------------------------------------------------------------- Join tokens */

static int sha256_hex(const char *s, size_t n, char *out)
{
	uint8_t md[32];
	unsigned len = 0;

	if (!EVP_Digest(s, n, md, &len, EVP_sha256(), NULL) || len != sizeof(md))
		return -EIO;
	vx_hex_encode(md, sizeof(md), out);
	out[64] = '\0';
	return 0;
}

int vx_pki_token_create(struct vx_pki *p, enum vx_pki_role role, const char *tenant, uint64_t ttl_s,
			uint32_t uses, char *out, char *id)
{
	uint8_t rnd[6 + 16];
	char sec[VX_PKI_TOKEN_SECRET_HEX + 1], hash[65];
	sqlite3_stmt *st;
	int rc;

	/* a seed serves and joins every tenant's tasks: a seed of one tenant is not issued */
	if (role > VX_PKI_ROLE_SEED || ttl_s == 0 || ttl_s > VX_PKI_TOKEN_TTL_MAX || uses == 0 ||
	    (tenant && tenant[0] &&
	     (role == VX_PKI_ROLE_SEED || !vx_tls_tenant_ok(tenant, strlen(tenant)))))
		return -EINVAL;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	vx_hex_encode(rnd, 6, id);
	id[VX_PKI_TOKEN_ID_HEX] = '\0';
	vx_hex_encode(rnd + 6, 16, sec);
	sec[VX_PKI_TOKEN_SECRET_HEX] = '\0';
	OPENSSL_cleanse(rnd, sizeof(rnd));
	rc = sha256_hex(sec, VX_PKI_TOKEN_SECRET_HEX, hash);
	st = rc ? NULL : prep(p, "INSERT INTO pki_tokens VALUES (?1,?2,?3,?4,?5,?6)");
	if (!st) {
		OPENSSL_cleanse(sec, sizeof(sec));
		return rc ? rc : VX_EDB;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, (int)role);
	sqlite3_bind_int64(st, 4, vx_wall_s() + (int64_t)ttl_s);
	sqlite3_bind_int64(st, 5, uses);
	sqlite3_bind_int64(st, 6, vx_wall_s());
	rc = exec_done(p, st, "store a join token");
	if (!rc)
		rc = tenant_put(p, "INSERT INTO pki_token_tenants VALUES (?1,?2)", id, tenant);
	if (!rc)
		snprintf(out, VX_PKI_TOKEN_LEN + 1, "vxj1.%s.%s.%s", id, sec, p->pin);
	OPENSSL_cleanse(sec, sizeof(sec));
	return rc;
}

/*
 * Checks join token @tok (@len bytes) without spending it: 0 with @t's id, *@role and its
 * tenant in @tenant (NULL: not wanted).
 */
static int token_find(struct vx_pki *p, const char *tok, size_t len, struct vx_pki_token *t,
		      int *role, char *tenant)
{
	char hash[65];
	sqlite3_stmt *st;
	int rc;
	bool match = false;

	*role = 0;
	if (vx_pki_token_parse(tok, len, t))
		return -EACCES;
	rc = sha256_hex(t->secret, VX_PKI_TOKEN_SECRET_HEX, hash);
	OPENSSL_cleanse(t->secret, sizeof(t->secret));
	if (rc)
		return rc;
	if (CRYPTO_memcmp(t->pin, p->pin, VX_PKI_PIN_HEX) != 0)
		return -EACCES; /* made for another CA */
	st = prep(p, "SELECT secret_sha256, role, (SELECT tenant FROM pki_token_tenants t WHERE "
		     "t.id=?1) FROM pki_tokens WHERE id=?1 AND expires>?2 AND uses>0");
	if (!st)
		return VX_EDB;
	sqlite3_bind_text(st, 1, t->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, vx_wall_s());
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 0);

		match = h && strlen(h) == 64 && CRYPTO_memcmp(h, hash, 64) == 0;
		*role = sqlite3_column_int(st, 1);
		tenant_get(st, 2, tenant);
	} else if (rc != SQLITE_DONE) {
		sqlite3_finalize(st);
		return db_fail(p, "find a join token");
	}
	sqlite3_finalize(st);
	return match && *role <= VX_PKI_ROLE_SEED ? 0 : -EACCES;
}

int vx_pki_token_check(struct vx_pki *p, const char *tok, size_t len)
{
	struct vx_pki_token t;
	int r;

	return token_find(p, tok, len, &t, &r, NULL);
}

int vx_pki_token_use(struct vx_pki *p, const char *tok, size_t len, enum vx_pki_role *role,
		     char *tenant)
{
	struct vx_pki_token t;
	sqlite3_stmt *st;
	int rc, r = 0;

	rc = token_find(p, tok, len, &t, &r, tenant);
	if (rc)
		return rc;
	/* spend one use; a racing join that took the last one leaves no row changed */
	st = prep(p, "UPDATE pki_tokens SET uses=uses-1 WHERE id=?1 AND uses>0 AND expires>?2");
	if (!st)
		return VX_EDB;
	sqlite3_bind_text(st, 1, t.id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, vx_wall_s());
	rc = exec_done(p, st, "spend a join token");
	if (rc)
		return rc;
	if (sqlite3_changes(p->db) != 1)
		return -EACCES;
	*role = (enum vx_pki_role)r;
	return 0;
}

int vx_pki_token_delete(struct vx_pki *p, const char *id)
{
	sqlite3_stmt *st = prep(p, "DELETE FROM pki_tokens WHERE id=?1");
	int rc;

	if (!st)
		return VX_EDB;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	rc = exec_done(p, st, "delete a join token");
	if (!rc && sqlite3_changes(p->db) != 1)
		return -ENOENT;
	st = rc ? NULL : prep(p, "DELETE FROM pki_token_tenants WHERE id=?1");
	if (!st)
		return rc ? rc : VX_EDB;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	return exec_done(p, st, "delete a join token's tenant");
}
