/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_sql.c: the manager's one way to its database, sqlite (a file, the default) or PostgreSQL
 * (libpq, a "postgres://" or "postgresql://" connection URI), so several control-plane
 * processes can share jobs, tokens and the audit log. Statements are written once with '?'
 * placeholders (turned into $1.. for PostgreSQL) and parameters are passed apart from the SQL
 * text, never spliced into it. Rows come back as text (NULL for SQL NULL).
 *
 * The connection URI may name a password: it is never logged (libpq's ~/.pgpass or PGPASSFILE
 * keeps it off the command line).
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgr_int.h"
#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_log.h"

#define PARAMS_MAX 16

struct mgr_rows {
	uint32_t nr, nc;
	char **v;
	size_t *len;
};

bool vx__mgr_db_is_pg(const char *path)
{
	return strncmp(path, "postgres://", 11) == 0 || strncmp(path, "postgresql://", 13) == 0;
}

uint32_t vx__mgr_rows_n(const struct mgr_rows *r)
{
	return r ? r->nr : 0;
}

const char *vx__mgr_rows_s(const struct mgr_rows *r, uint32_t row, uint32_t col, size_t *len)
{
	if (!r || row >= r->nr || col >= r->nc)
		return NULL;
	if (len)
		*len = r->len[row * r->nc + col];
	return r->v[row * r->nc + col];
}

int64_t vx__mgr_rows_i(const struct mgr_rows *r, uint32_t row, uint32_t col)
{
	const char *s = vx__mgr_rows_s(r, row, col, NULL);

	return s ? strtoll(s, NULL, 10) : 0;
}

void vx__mgr_rows_free(struct mgr_rows *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < r->nr * r->nc; i++)
		vx_free(r->v[i]);
	vx_free(r->v);
	vx_free(r->len);
	vx_free(r);
}

/* Appends row @row of @nc values (NULL: SQL NULL). 0 or -ENOMEM. */
static int rows_add(struct mgr_rows *r, const char *const *vals, const size_t *lens)
{
	uint32_t base = r->nr * r->nc;
	char **v = vx_realloc(r->v, (size_t)(base + r->nc) * sizeof(*v));
	size_t *l;

	if (!v)
		return -ENOMEM;
	r->v = v;
	l = vx_realloc(r->len, (size_t)(base + r->nc) * sizeof(*l));
	if (!l)
		return -ENOMEM;
	r->len = l;
	for (uint32_t c = 0; c < r->nc; c++) {
		r->v[base + c] = NULL;
		r->len[base + c] = 0;
	}
	r->nr++;
	for (uint32_t c = 0; c < r->nc; c++) {
		if (!vals[c])
			continue;
		r->v[base + c] = vx_malloc(lens[c] + 1);
		if (!r->v[base + c])
			return -ENOMEM;
		memcpy(r->v[base + c], vals[c], lens[c]);
		r->v[base + c][lens[c]] = '\0';
		r->len[base + c] = lens[c];
	}
	return 0;
}

struct param {
	char type; /* 'i' or 's' */
	int64_t i;
	const char *s;
	char buf[24];
};

static int run_lite(struct mgr_db *d, struct mgr_rows *out, const char *sql, const struct param *p,
		    uint32_t np)
{
	sqlite3_stmt *st;
	int rc, step;

	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK) {
		vx_err("manager: sql: %s", sqlite3_errmsg(d->db));
		return VX_EDB;
	}
	for (uint32_t k = 0; k < np; k++) {
		if (p[k].type == 'i')
			sqlite3_bind_int64(st, (int)k + 1, p[k].i);
		else if (p[k].s)
			sqlite3_bind_text(st, (int)k + 1, p[k].s, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st, (int)k + 1);
	}
	out->nc = (uint32_t)sqlite3_column_count(st);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *vals[32];
		size_t lens[32];

		if (out->nc > 32)
			break;
		for (uint32_t c = 0; c < out->nc; c++) {
			bool blob = sqlite3_column_type(st, (int)c) == SQLITE_BLOB;

			vals[c] = blob ? sqlite3_column_blob(st, (int)c)
				       : (const char *)sqlite3_column_text(st, (int)c);
			lens[c] = (size_t)sqlite3_column_bytes(st, (int)c);
		}
		if (rows_add(out, vals, lens)) {
			sqlite3_finalize(st);
			return -ENOMEM;
		}
	}
	rc = step == SQLITE_DONE ? 0 : VX_EDB;
	if (rc)
		vx_err("manager: sql: %s", sqlite3_errmsg(d->db));
	sqlite3_finalize(st);
	return rc;
}

/* '?' placeholders into $1.. (the statements of this room hold no '?' in a literal). */
static int pg_sql(const char *sql, char *out, size_t cap)
{
	size_t o = 0;
	unsigned n = 0;

	for (; *sql; sql++) {
		int w = *sql == '?' ? snprintf(out + o, cap - o, "$%u", ++n)
				    : snprintf(out + o, cap - o, "%c", *sql);

		if (w < 0 || (size_t)w >= cap - o)
			return -E2BIG;
		o += (size_t)w;
	}
	return 0;
}

static int run_pg(struct mgr_db *d, struct mgr_rows *out, const char *sql, struct param *p,
		  uint32_t np)
{
	const char *vals[PARAMS_MAX];
	char q[2048];
	PGresult *res = NULL;
	ExecStatusType es;
	int rc = 0;

	if (pg_sql(sql, q, sizeof(q)))
		return -E2BIG;
	for (uint32_t k = 0; k < np; k++) {
		if (p[k].type == 'i') {
			snprintf(p[k].buf, sizeof(p[k].buf), "%" PRId64, p[k].i);
			vals[k] = p[k].buf;
		} else {
			vals[k] = p[k].s;
		}
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		res = PQexecParams(d->pg, q, (int)np, NULL, vals, NULL, NULL, 0);
		if (PQstatus(d->pg) != CONNECTION_BAD || d->in_tx)
			break;
		/* the server went away between statements: one new connection, one retry */
		PQclear(res);
		res = NULL;
		vx_warn("manager: database connection lost; reconnecting");
		PQreset(d->pg);
	}
	es = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) {
		vx_err("manager: sql: %s", PQerrorMessage(d->pg));
		PQclear(res);
		return VX_EDB;
	}
	out->nc = (uint32_t)PQnfields(res);
	for (int r = 0; r < PQntuples(res) && !rc && out->nc <= 32; r++) {
		const char *v[32];
		size_t l[32];

		for (uint32_t c = 0; c < out->nc; c++) {
			v[c] = PQgetisnull(res, r, (int)c) ? NULL : PQgetvalue(res, r, (int)c);
			l[c] = (size_t)PQgetlength(res, r, (int)c);
		}
		rc = rows_add(out, v, l);
	}
	PQclear(res);
	return rc;
}

int vx__mgr_sql(struct mgr_db *d, struct mgr_rows **out, const char *sql, const char *types, ...)
{
	struct param p[PARAMS_MAX];
	struct mgr_rows *r;
	uint32_t np = 0;
	va_list ap;
	int rc;

	if (out)
		*out = NULL;
	va_start(ap, types);
	for (; types && *types && np < PARAMS_MAX; types++, np++) {
		p[np].type = *types;
		if (*types == 'i')
			p[np].i = va_arg(ap, int64_t);
		else
			p[np].s = va_arg(ap, const char *);
	}
	va_end(ap);
	r = vx_calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	rc = d->pg ? run_pg(d, r, sql, p, np) : run_lite(d, r, sql, p, np);
	if (rc || !out)
		vx__mgr_rows_free(r);
	else
		*out = r;
	return rc;
}

int vx__mgr_db_begin(struct mgr_db *d)
{
	int rc;

	if (!d->pg) {
		if (sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
			vx_err("manager: sql: %s", sqlite3_errmsg(d->db));
			return VX_EDB;
		}
		d->in_tx = true;
		return 0;
	}
	rc = vx__mgr_sql(d, NULL, "BEGIN", NULL);
	if (rc)
		return rc;
	d->in_tx = true;
	/* one writer at a time for what must be serial (the audit chain's head, the schema) */
	rc = vx__mgr_sql(d, NULL, "SELECT pg_advisory_xact_lock(7140014)", NULL);
	if (rc)
		vx__mgr_db_end(d, false);
	return rc;
}

int vx__mgr_db_end(struct mgr_db *d, bool commit)
{
	int rc;

	if (!d->pg) {
		rc = sqlite3_exec(d->db, commit ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) ==
				     SQLITE_OK
			     ? 0
			     : VX_EDB;
		if (rc)
			sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	} else {
		rc = vx__mgr_sql(d, NULL, commit ? "COMMIT" : "ROLLBACK", NULL);
		if (rc)
			(void)vx__mgr_sql(d, NULL, "ROLLBACK", NULL);
	}
	d->in_tx = false;
	return rc;
}

static void notice_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg; /* "relation already exists, skipping" and the like */
}

int vx__mgr_pg_connect(struct mgr_db *d, const char *uri)
{
	d->pg = PQconnectdb(uri);
	if (!d->pg || PQstatus(d->pg) != CONNECTION_OK) {
		/* libpq's message names host and port, never the password */
		vx_err("manager: cannot connect to PostgreSQL: %s",
		       d->pg ? PQerrorMessage(d->pg) : "out of memory");
		if (d->pg)
			PQfinish(d->pg);
		d->pg = NULL;
		return VX_EDB;
	}
	PQsetNoticeProcessor(d->pg, notice_quiet, NULL);
	return 0;
}

void vx__mgr_pg_close(struct mgr_db *d)
{
	if (d->pg)
		PQfinish(d->pg);
	d->pg = NULL;
}

int vx__mgr_pg_script(struct mgr_db *d, const char *sql)
{
	PGresult *res = PQexec(d->pg, sql);
	int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : VX_EDB;

	if (rc)
		vx_err("manager: cannot set up tables: %s", PQerrorMessage(d->pg));
	PQclear(res);
	return rc;
}
