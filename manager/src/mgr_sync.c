/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_sync.c: syncs (spec/manager.md "Syncs"): watch a prefix (file directory, s3, hdfs, ftp,
 * an image's blobs, http listings where sources/ has them) every interval or on demand and
 * preheat what is new or changed to a scope, optionally evicting what disappeared.
 *
 * A sync is a row of mgr_syncs; what its last runs saw is mgr_sync_objects (name, URL, the
 * version the source gave: length, ETag, Last-Modified, digest; the task id; ok, pending or
 * failed), so the state survives restarts and is shared by control planes on one PostgreSQL.
 * A run is claimed with a lease (owner, lease) like a job, in a process that has a scheduler.
 *
 * A run: (1) list the prefix and stat every object on a thread of its own (blocking source
 * calls, bounded by max_objects); (2) on the scheduler's thread, compare with the stored
 * objects: new ones, changed ones (evicted first: the task id is the URL's, so the old copy
 * would count as done) and ones a run before did not finish are preheated as ONE preheat job
 * of many blobs, max_concurrent at once; gone ones are evicted (delete_task jobs) when the
 * sync has "delete", and forgotten; (3) when the job ends, each object it placed is ok, the
 * others failed (tried again at the next run).
 *
 * Deny unless allowed: a file:// prefix must lie under a directory vx scheduler was given
 * with --sync-dir (the control plane's own files are no one's to list); every connection of a
 * listing (s3, http, registries, WebHDFS) goes through the jobs' outbound policy; a sync runs
 * with its creator's token, and stops when that token is revoked or expired.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgr_int.h"
#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_outbound.h"
#include "vx_source.h"
#include "vx_time.h"
#include "vx_url.h"

#define SYNC_RUNS_MAX	  4 /* syncs listing or preheating at once in one process */
#define SYNC_DEPTH_MAX	  32
#define SYNC_OBJECTS_DFLT 10000
#define SYNC_OBJECTS_MAX  100000
#define SYNC_CONCUR_DFLT  32
#define SYNC_CONCUR_MAX	  128 /* below a daemon's 256 tasks at once (VX_PEER_TASKS_MAX) */
#define SYNC_INTERVAL_MIN 10
#define SYNC_INTERVAL_MAX (30 * 86400)
#define SYNC_VER_MAX	  (VX_SOURCE_ETAG_MAX + VX_SOURCE_DIGEST_MAX + 96)
#define SYNC_PROBE_URL	  "http://sync.invalid/x"

struct sync_obj {
	char *name; /* relative to the prefix, '/'-separated */
	char *url;  /* as listed */
	char *ver;  /* "length|etag|last-modified|digest" */
};

/* The listing thread's state, under lock once started. */
struct sync_list {
	pthread_t th;
	pthread_mutex_t lock;
	bool done;
	int rc;
	char err[300];
	char prefix[MGR_URL_MAX];
	uint32_t max;
	const struct vx_outbound_policy *outbound;
	struct sync_obj *o;
	uint32_t n, cap;
	/* directories still to list (file, hdfs, ftp report them) */
	char **dirs;
	uint32_t nr_dirs, cap_dirs;
	const char *rel;     /* the directory being listed, relative */
	char root[PATH_MAX]; /* a file:// prefix's real path: no entry is taken from outside it */
};

struct sync_run {
	bool used;
	int64_t id;
	int64_t token;
	int64_t job; /* the preheat job, 0 before or without one */
	struct sync_list *list;
	json_t *stats;
	char error[300];
};

struct mgr_sync {
	struct mgr_db *db;
	struct mgr_jobs *jobs;
	struct vx_sched_server *srv;
	struct vx_outbound_policy outbound;
	const struct vx_manager_cfg *cfg;
	uint32_t lease_s;
	uint64_t next_claim_ms, next_renew_ms;
	struct sync_run runs[SYNC_RUNS_MAX];
};

#define FAIL(...)                                    \
	do {                                         \
		snprintf(err, err_len, __VA_ARGS__); \
		return -EINVAL;                      \
	} while (0)

/* ---------------------------------------------------------------- Requests */

static int get_url(json_t *root, const char *key, char *out, size_t cap, char *err, size_t err_len)
{
	json_t *v = json_object_get(root, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) >= cap - 1 ||
	    strlen(json_string_value(v)) != json_string_length(v))
		FAIL("%s must be a URL of at most %zu bytes", key, cap - 2);
	for (const char *p = json_string_value(v); *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			FAIL("%s must not hold spaces or control characters", key);
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/*
 * An oci:// or oci+http:// prefix (an image, or a repository's tags: NAME/) lists blobs by
 * digest: the hosts fetch them at the registry's blob URLs, https://HOST/v2/NAME/blobs/
 * (http:// for oci+http), which becomes the fetch base. Anything else: @out stays "".
 */
static void oci_fetch_base(const char *prefix, char *out, size_t cap)
{
	bool plain = strncmp(prefix, "oci+http://", 11) == 0;
	const char *host = prefix + (plain ? 11 : 6), *name, *end, *colon, *slash;
	int n;

	if (!plain && strncmp(prefix, "oci://", 6) != 0)
		return;
	name = strchr(host, '/');
	if (!name || strstr(name, "/blobs/"))
		return;
	name++;
	end = name + strcspn(name, "@");
	colon = memrchr(name, ':', (size_t)(end - name));
	slash = memrchr(name, '/', (size_t)(end - name));
	if (end > name && end[-1] == '/')
		end--; /* the repository */
	else if (colon && (!slash || colon > slash))
		end = colon; /* NAME:TAG */
	if (end == name)
		return;
	n = snprintf(out, cap, "%s://%.*s/v2/%.*s/blobs/", plain ? "http" : "https",
		     (int)(name - 1 - host), host, (int)(end - name), name);
	if (n < 0 || (size_t)n >= cap)
		out[0] = '\0';
}

static const char *const prefix_schemes[] = { "file://", "s3://",    "hdfs://", "ftp://",
					      "http://", "https://", "oci://",	"oci+http://" };

/* Checks what a stored request must not carry: credentials (a sync is stored to run again). */
static int no_secret(const char *key, const char *url, char *err, size_t err_len)
{
	char safe[VX_URL_LOG_MAX];

	if (vx_url_has_credentials(url, strlen(url)) ||
	    strcmp(vx_url_redact_str(url, safe, sizeof(safe)), url) != 0)
		FAIL("%s must not carry credentials or a signed query (a sync is stored; the "
		     "scheduler's and the daemons' own credentials are used)",
		     key);
	return 0;
}

int vx_mgr_sync_req_decode(const char *body, size_t len, struct vx_mgr_sync_req *s, char *err,
			   size_t err_len)
{
	static const char *const keys[] = { "prefix",	   "fetch_base",     "interval", "delete",
					    "max_objects", "max_concurrent", "preheat" };
	static const char *const refused[] = { "url",	   "task_id",  "type",	  "headers",
					       "username", "password", "webhook", "image" };
	struct vx_mgr_job_req *probe = NULL;
	json_t *root, *v, *p = NULL;
	const char *k;
	char *dump = NULL;
	size_t i;
	int rc = -EINVAL;

	memset(s, 0, sizeof(*s));
	s->max_objects = SYNC_OBJECTS_DFLT;
	s->max_concurrent = SYNC_CONCUR_DFLT;
	root = vx__mgr_json_object(body, len, err, err_len);
	if (!root)
		return -EINVAL;
	json_object_foreach(root, k, v)
	{
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]) && strcmp(k, keys[i]) != 0; i++)
			;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			snprintf(err, err_len,
				 "unknown key %.64s (prefix, fetch_base, interval, "
				 "delete, max_objects, max_concurrent, preheat)",
				 k);
			goto out;
		}
	}
	if (get_url(root, "prefix", s->prefix, sizeof(s->prefix), err, err_len) ||
	    get_url(root, "fetch_base", s->fetch_base, sizeof(s->fetch_base), err, err_len) ||
	    vx__mgr_json_u32(root, "", "interval", 0, SYNC_INTERVAL_MAX, &s->interval_s, err,
			     err_len) ||
	    vx__mgr_json_u32(root, "", "max_objects", 1, SYNC_OBJECTS_MAX, &s->max_objects, err,
			     err_len) ||
	    vx__mgr_json_u32(root, "", "max_concurrent", 1, SYNC_CONCUR_MAX, &s->max_concurrent,
			     err, err_len))
		goto out;
	if (!s->prefix[0]) {
		snprintf(err, err_len,
			 "prefix is missing (file:///DIR/, s3://BUCKET/PREFIX/, ...)");
		goto out;
	}
	if (s->interval_s && s->interval_s < SYNC_INTERVAL_MIN) {
		snprintf(err, err_len, "interval must be 0 (on demand) or at least %u s",
			 SYNC_INTERVAL_MIN);
		goto out;
	}
	for (i = 0; i < sizeof(prefix_schemes) / sizeof(prefix_schemes[0]); i++) {
		if (strncmp(s->prefix, prefix_schemes[i], strlen(prefix_schemes[i])) == 0 &&
		    s->prefix[strlen(prefix_schemes[i])])
			break;
	}
	if (i == sizeof(prefix_schemes) / sizeof(prefix_schemes[0])) {
		snprintf(err, err_len,
			 "prefix must be a file, s3, hdfs, ftp, http(s) or oci URL with a path");
		goto out;
	}
	if (no_secret("prefix", s->prefix, err, err_len) ||
	    (s->fetch_base[0] && no_secret("fetch_base", s->fetch_base, err, err_len)))
		goto out;
	if (s->fetch_base[0] && vx__mgr_url_host(s->fetch_base, NULL, 0)) {
		snprintf(err, err_len, "fetch_base must be an http or https URL with a host");
		goto out;
	}
	if (!s->fetch_base[0])
		oci_fetch_base(s->prefix, s->fetch_base, sizeof(s->fetch_base) - 1);
	if (!s->fetch_base[0] && vx__mgr_url_host(s->prefix, NULL, 0)) {
		snprintf(err, err_len,
			 "the objects of this prefix are no http(s) URLs the hosts can fetch: give "
			 "fetch_base, the http(s) URL that serves the same tree");
		goto out;
	}
	/* a directory's listing joins names onto it */
	/* get_url left room for one more byte */
	if (s->fetch_base[0] && s->fetch_base[strlen(s->fetch_base) - 1] != '/')
		memcpy(s->fetch_base + strlen(s->fetch_base), "/", 2);
	if (strncmp(s->prefix, "file://", 7) == 0 && s->prefix[strlen(s->prefix) - 1] != '/')
		memcpy(s->prefix + strlen(s->prefix), "/", 2);
	v = json_object_get(root, "delete");
	if (v && !json_is_null(v)) {
		if (!json_is_boolean(v)) {
			snprintf(err, err_len, "delete must be true or false");
			goto out;
		}
		s->del = json_is_true(v);
	}
	/* the preheat's arguments: what a preheat job takes, but the URL (each object's) */
	v = json_object_get(root, "preheat");
	p = v && !json_is_null(v) ? json_deep_copy(v) : json_object();
	if (!p || !json_is_object(p)) {
		snprintf(err, err_len, "preheat must be an object (a preheat job's args)");
		goto out;
	}
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		if (json_object_get(p, refused[i])) {
			snprintf(err, err_len, "preheat.%s is not taken by a sync", refused[i]);
			goto out;
		}
	}
	dump = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
	if (!dump || strlen(dump) >= sizeof(s->preheat)) {
		snprintf(err, err_len, "preheat is too large");
		goto out;
	}
	memcpy(s->preheat, dump, strlen(dump) + 1);
	probe = vx_malloc(sizeof(*probe));
	if (!probe || vx__mgr_sync_preheat_req(s, SYNC_PROBE_URL, probe, err, err_len))
		goto out;
	rc = 0;
out:
	if (rc && !err[0])
		snprintf(err, err_len, "out of memory");
	vx_free(probe);
	free(dump);
	json_decref(p);
	json_decref(root);
	return rc;
}

int vx__mgr_sync_preheat_req(const struct vx_mgr_sync_req *s, const char *url,
			     struct vx_mgr_job_req *r, char *err, size_t err_len)
{
	json_t *args = json_loads(s->preheat[0] ? s->preheat : "{}", 0, NULL);
	json_t *root;
	char *body;
	int rc = -EINVAL;

	if (!args || !json_is_object(args)) {
		json_decref(args);
		FAIL("preheat must be an object (a preheat job's args)");
	}
	json_object_set_new(args, "url", json_string(url));
	json_object_set_new(args, "concurrent_task_count", json_integer(s->max_concurrent));
	root = json_pack("{s:s, s:o}", "type", "preheat", "args", args);
	body = root ? json_dumps(root, JSON_COMPACT) : NULL;
	if (body)
		rc = vx_mgr_job_req_decode(body, strlen(body), r, err, err_len);
	if (!rc && r->image) {
		snprintf(err, err_len, "preheat.type must be file");
		rc = -EINVAL;
	}
	if (rc && strncmp(err, "args.", 5) == 0) { /* the sync's name for them */
		char tmp[256];

		snprintf(tmp, sizeof(tmp), "preheat.%s", err + 5);
		snprintf(err, err_len, "%s", tmp);
	}
	if (!rc)
		r->sync = true;
	free(body);
	json_decref(root);
	return rc;
}

/* ---------------------------------------------------------------- Tables */

static const char *const tables_lite[] = {
	"CREATE TABLE IF NOT EXISTS mgr_syncs(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" prefix TEXT NOT NULL, req TEXT NOT NULL, token_id INTEGER NOT NULL,"
	" created INTEGER NOT NULL, interval_s INTEGER NOT NULL, next_run INTEGER NOT NULL,"
	" requested INTEGER NOT NULL DEFAULT 0, owner TEXT, lease INTEGER NOT NULL DEFAULT 0,"
	" job INTEGER NOT NULL DEFAULT 0, runs INTEGER NOT NULL DEFAULT 0,"
	" last_run INTEGER NOT NULL DEFAULT 0, last_error TEXT, last_stats TEXT)",
	"CREATE TABLE IF NOT EXISTS mgr_sync_objects(sync_id INTEGER NOT NULL,"
	" name TEXT NOT NULL, url TEXT NOT NULL, ver TEXT NOT NULL, task_id TEXT NOT NULL,"
	" state TEXT NOT NULL, PRIMARY KEY(sync_id, name))",
};
static const char *const tables_pg[] = {
	"CREATE TABLE IF NOT EXISTS mgr_syncs(id BIGSERIAL PRIMARY KEY,"
	" prefix TEXT NOT NULL, req TEXT NOT NULL, token_id BIGINT NOT NULL,"
	" created BIGINT NOT NULL, interval_s BIGINT NOT NULL, next_run BIGINT NOT NULL,"
	" requested INTEGER NOT NULL DEFAULT 0, owner TEXT, lease BIGINT NOT NULL DEFAULT 0,"
	" job BIGINT NOT NULL DEFAULT 0, runs BIGINT NOT NULL DEFAULT 0,"
	" last_run BIGINT NOT NULL DEFAULT 0, last_error TEXT, last_stats TEXT)",
	"CREATE TABLE IF NOT EXISTS mgr_sync_objects(sync_id BIGINT NOT NULL,"
	" name TEXT NOT NULL, url TEXT NOT NULL, ver TEXT NOT NULL, task_id TEXT NOT NULL,"
	" state TEXT NOT NULL, PRIMARY KEY(sync_id, name))",
};

int vx__mgr_sync_new(struct mgr_sync **out, struct mgr_db *d, struct mgr_jobs *jobs,
		     struct vx_sched_server *srv, const struct vx_manager_cfg *cfg)
{
	struct mgr_sync *y = vx_calloc(1, sizeof(*y));

	*out = NULL;
	if (!y)
		return -ENOMEM;
	for (uint32_t i = 0; i < 2; i++) {
		if (vx__mgr_sql(d, NULL, d->pg ? tables_pg[i] : tables_lite[i], NULL)) {
			vx_free(y);
			return VX_EDB;
		}
	}
	if (vx__mgr_outbound_policy(cfg, &y->outbound)) {
		vx_free(y);
		return -EINVAL;
	}
	y->db = d;
	y->jobs = jobs;
	y->srv = srv;
	y->cfg = cfg;
	y->lease_s = cfg->job_lease_s ? cfg->job_lease_s : 15;
	*out = y;
	return 0;
}

/* ---------------------------------------------------------------- Listing (its thread) */

static void objs_free(struct sync_obj *o, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		vx_free(o[i].name);
		vx_free(o[i].url);
		vx_free(o[i].ver);
	}
	vx_free(o);
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = vx_malloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

/*
 * Whether entry @url of a file:// prefix lies under the prefix's real path (checked at the
 * start against --sync-dir): a symbolic link in the tree to a directory or file elsewhere is
 * not followed, else the listing (names, sizes, dates) escaped --sync-dir.
 */
static bool entry_inside(const struct sync_list *l, const char *url)
{
	char path[PATH_MAX], real[PATH_MAX];
	size_t n = strlen(l->root);

	if (!l->root[0])
		return true;
	if (vx_source_file_path(url, path, sizeof(path)) != 1 || !realpath(path, real))
		return false;
	return strncmp(real, l->root, n) == 0 && (real[n] == '/' || n == 1);
}

static int on_entry(void *arg, const struct vx_source_entry *e)
{
	struct sync_list *l = arg;
	char name[MGR_URL_MAX];

	if (!entry_inside(l, e->url))
		return 0;
	if (snprintf(name, sizeof(name), "%s%s%s", l->rel, *l->rel ? "/" : "", e->name) >=
	    (int)sizeof(name))
		return -ENAMETOOLONG;
	if (e->is_dir) {
		char **d;

		if (l->nr_dirs == l->cap_dirs) {
			uint32_t cap = l->cap_dirs ? l->cap_dirs * 2 : 16;

			if (cap > l->max)
				return -E2BIG;
			d = vx_realloc(l->dirs, cap * sizeof(*d));
			if (!d)
				return -ENOMEM;
			l->dirs = d;
			l->cap_dirs = cap;
		}
		l->dirs[l->nr_dirs] = dup_str(name);
		return l->dirs[l->nr_dirs++] ? 0 : -ENOMEM;
	}
	if (l->n == l->max)
		return -E2BIG;
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 256;
		struct sync_obj *o = vx_realloc(l->o, cap * sizeof(*o));

		if (!o)
			return -ENOMEM;
		l->o = o;
		l->cap = cap;
	}
	l->o[l->n].name = dup_str(name);
	l->o[l->n].url = dup_str(e->url);
	l->o[l->n].ver = NULL;
	if (!l->o[l->n].name || !l->o[l->n].url) {
		vx_free(l->o[l->n].name);
		vx_free(l->o[l->n].url);
		return -ENOMEM;
	}
	/* the listing's length, until a stat gives more */
	l->o[l->n].ver = vx_malloc(24);
	if (!l->o[l->n].ver) {
		vx_free(l->o[l->n].name);
		vx_free(l->o[l->n].url);
		return -ENOMEM;
	}
	snprintf(l->o[l->n].ver, 24, "%" PRId64, e->length);
	l->n++;
	return 0;
}

/* Every object's version: the length, ETag, Last-Modified and digest its source gives. */
static void stat_all(struct sync_list *l, struct vx_source_ctx *ctx,
		     const struct vx_source_opts *opts)
{
	for (uint32_t i = 0; i < l->n; i++) {
		struct vx_source_obj *obj = NULL;
		const struct vx_source_stat *st;
		char *v;

		if (vx_source_open(ctx, l->o[i].url, opts, &obj, NULL))
			continue; /* gone since the listing, or unreadable: the listing's length */
		st = vx_source_obj_stat(obj);
		v = vx_malloc(SYNC_VER_MAX);
		if (v) {
			snprintf(v, SYNC_VER_MAX, "%" PRId64 "|%s|%s|%s", st->length, st->etag,
				 st->last_modified, st->digest);
			vx_free(l->o[i].ver);
			l->o[i].ver = v;
		}
		vx_source_obj_free(obj);
	}
}

static int cmp_obj(const void *a, const void *b)
{
	return strcmp(((const struct sync_obj *)a)->name, ((const struct sync_obj *)b)->name);
}

static void *list_main(void *arg)
{
	struct sync_list *l = arg;
	struct vx_source_opts opts = { .outbound = l->outbound };
	struct vx_source_error detail = { 0 };
	struct vx_source_ctx *ctx = NULL;
	char url[MGR_URL_MAX], msg[256] = "";
	uint32_t next = 0, depth = 0;
	int rc;

	rc = vx_source_ctx_new(&ctx, NULL);
	l->rel = "";
	if (!rc && strncmp(l->prefix, "file://", 7) == 0 &&
	    (vx_source_file_path(l->prefix, url, sizeof(url)) != 1 || !realpath(url, l->root)))
		rc = -ENOENT;
	if (!rc)
		rc = vx_source_list(ctx, l->prefix, &opts, on_entry, l, &detail);
	/* sub-directories, breadth first */
	while (!rc && next < l->nr_dirs) {
		uint32_t end = l->nr_dirs;

		if (++depth > SYNC_DEPTH_MAX) {
			rc = -ELOOP;
			break;
		}
		for (; !rc && next < end; next++) {
			if (snprintf(url, sizeof(url), "%s%s/", l->prefix, l->dirs[next]) >=
			    (int)sizeof(url)) {
				rc = -ENAMETOOLONG;
				break;
			}
			l->rel = l->dirs[next];
			rc = vx_source_list(ctx, url, &opts, on_entry, l, &detail);
			l->rel = "";
		}
	}
	if (!rc)
		stat_all(l, ctx, &opts);
	if (!rc)
		qsort(l->o, l->n, sizeof(*l->o), cmp_obj);
	if (rc && rc != -E2BIG && rc != -ELOOP && detail.err)
		vx_source_error_format(&detail, msg, sizeof(msg));
	vx_source_ctx_free(ctx);
	pthread_mutex_lock(&l->lock);
	if (rc == -E2BIG)
		snprintf(l->err, sizeof(l->err),
			 "the prefix holds more than max_objects (%u) objects: nothing was done; "
			 "raise max_objects or sync a narrower prefix",
			 l->max);
	else if (rc == -ELOOP)
		snprintf(l->err, sizeof(l->err), "the prefix is nested deeper than %u directories",
			 SYNC_DEPTH_MAX);
	else if (rc)
		snprintf(l->err, sizeof(l->err), "the prefix cannot be listed: %s",
			 msg[0] ? msg : vx_strerror(rc));
	l->rc = rc;
	l->done = true;
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

static void list_free(struct sync_list *l)
{
	if (!l)
		return;
	pthread_join(l->th, NULL);
	pthread_mutex_destroy(&l->lock);
	objs_free(l->o, l->n);
	for (uint32_t i = 0; i < l->nr_dirs; i++)
		vx_free(l->dirs[i]);
	vx_free(l->dirs);
	vx_free(l);
}

static int list_start(struct sync_list **out, const char *prefix, uint32_t max,
		      const struct vx_outbound_policy *outbound)
{
	struct sync_list *l = vx_calloc(1, sizeof(*l));
	int rc;

	if (!l)
		return -ENOMEM;
	snprintf(l->prefix, sizeof(l->prefix), "%s", prefix);
	l->max = max;
	l->outbound = outbound;
	pthread_mutex_init(&l->lock, NULL);
	rc = -pthread_create(&l->th, NULL, list_main, l);
	if (rc) {
		pthread_mutex_destroy(&l->lock);
		vx_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

/* ---------------------------------------------------------------- File prefixes */

/* A file:// prefix lies under a --sync-dir: 0, or -EACCES/-EINVAL with @err. */
static bool path_under(const char *p, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(p, dir, n) == 0 && (p[n] == '/' || !p[n] || n == 1);
}

static int file_allowed(const struct vx_manager_cfg *cfg, const char *prefix, char *err,
			size_t err_len)
{
	char path[PATH_MAX], real[PATH_MAX], dir[PATH_MAX];
	int e = 0;

	if (strncmp(prefix, "file://", 7) != 0)
		return 0;
	if (vx_source_file_path(prefix, path, sizeof(path)) != 1)
		FAIL("prefix: a file:// URL must name a local absolute path");
	if (!realpath(path, real))
		e = errno;
	for (uint32_t i = 0; i < cfg->nr_sync_dirs; i++) {
		if (!realpath(cfg->sync_dirs[i], dir))
			continue;
		if (!e && path_under(real, dir))
			return 0;
		/* why a path cannot be resolved is told only below a --sync-dir: elsewhere it
		 * would tell whether a path of this host exists */
		if (e && (path_under(path, dir) || path_under(path, cfg->sync_dirs[i]))) {
			snprintf(err, err_len, "prefix: %s", strerror(e));
			return -EINVAL;
		}
	}
	snprintf(err, err_len,
		 "prefix: file:// directories are listed only under a --sync-dir given to vx "
		 "scheduler");
	return -EACCES;
}

/* ---------------------------------------------------------------- API */

int vx__mgr_sync_create(struct mgr_sync *y, const struct vx_mgr_sync_req *s, int64_t token,
			int64_t *id, char *err, size_t err_len)
{
	struct mgr_rows *rows = NULL;
	json_t *o;
	char *req;
	int64_t now = vx_wall_s();
	int rc;

	rc = file_allowed(y->cfg, s->prefix, err, err_len);
	if (rc)
		return rc == -EACCES ? 403 : 400;
	if (vx__mgr_outbound_check(&y->outbound, s->fetch_base[0] ? s->fetch_base : s->prefix, err,
				   err_len))
		return 400;
	o = json_pack("{s:s, s:s, s:i, s:b, s:i, s:i, s:s}", "prefix", s->prefix, "fetch_base",
		      s->fetch_base, "interval", (int)s->interval_s, "delete", (int)s->del,
		      "max_objects", (int)s->max_objects, "max_concurrent", (int)s->max_concurrent,
		      "preheat", s->preheat);
	req = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!req ||
	    vx__mgr_sql(y->db, &rows,
			"INSERT INTO mgr_syncs(prefix, req, token_id, created, interval_s,"
			" next_run, requested) VALUES(?, ?, ?, ?, ?, 0, 1) RETURNING id",
			"ssiii", s->prefix, req, token, now, (int64_t)s->interval_s) ||
	    vx__mgr_rows_n(rows) != 1) {
		free(req);
		vx__mgr_rows_free(rows);
		snprintf(err, err_len, "the sync could not be stored");
		return 500;
	}
	*id = vx__mgr_rows_i(rows, 0, 0);
	vx__mgr_rows_free(rows);
	free(req);
	vx_info("manager: sync %" PRId64 " of %s made", *id, VX_URL_SAFE(s->prefix));
	y->next_claim_ms = 0; /* its first run now */
	return 0;
}

/* The stored request of a sync row's req column. */
static int stored_req(const char *req, struct vx_mgr_sync_req *s)
{
	json_t *o = req ? json_loads(req, 0, NULL) : NULL;
	const char *prefix = NULL, *base = NULL, *pre = NULL;
	int iv = 0, del = 0, mo = 0, mc = 0;
	int rc = -EINVAL;

	memset(s, 0, sizeof(*s));
	if (o &&
	    !json_unpack(o, "{s:s, s:s, s:i, s:b, s:i, s:i, s:s}", "prefix", &prefix, "fetch_base",
			 &base, "interval", &iv, "delete", &del, "max_objects", &mo,
			 "max_concurrent", &mc, "preheat", &pre) &&
	    strlen(prefix) < sizeof(s->prefix) && strlen(base) < sizeof(s->fetch_base) &&
	    strlen(pre) < sizeof(s->preheat)) {
		memcpy(s->prefix, prefix, strlen(prefix) + 1);
		memcpy(s->fetch_base, base, strlen(base) + 1);
		memcpy(s->preheat, pre, strlen(pre) + 1);
		s->interval_s = (uint32_t)iv;
		s->del = del;
		s->max_objects = (uint32_t)mo;
		s->max_concurrent = (uint32_t)mc;
		rc = 0;
	}
	json_decref(o);
	return rc;
}

#define SYNC_COLS                                                                           \
	"SELECT id, req, token_id, created, interval_s, next_run, owner, lease, job, runs," \
	" last_run, last_error, last_stats,"                                                \
	" (SELECT COUNT(*) FROM mgr_sync_objects WHERE sync_id = mgr_syncs.id) FROM mgr_syncs"

static json_t *sync_json(const struct mgr_rows *rows, uint32_t i)
{
	struct vx_mgr_sync_req s;
	char safe[VX_URL_LOG_MAX], c[32], l[32], nx[32];
	const char *owner = vx__mgr_rows_s(rows, i, 6, NULL);
	const char *lerr = vx__mgr_rows_s(rows, i, 11, NULL);
	const char *st = vx__mgr_rows_s(rows, i, 12, NULL);
	int64_t last = vx__mgr_rows_i(rows, i, 10), next = vx__mgr_rows_i(rows, i, 5);
	json_t *stats = st ? json_loads(st, 0, NULL) : NULL, *pre;

	if (stored_req(vx__mgr_rows_s(rows, i, 1, NULL), &s))
		memset(&s, 0, sizeof(s));
	pre = json_loads(s.preheat[0] ? s.preheat : "{}", 0, NULL);
	vx_url_redact_str(s.prefix, safe, sizeof(safe));
	vx__mgr_rfc3339(vx__mgr_rows_i(rows, i, 3), c);
	vx__mgr_rfc3339(last, l);
	vx__mgr_rfc3339(next, nx);
	return json_pack("{s:I, s:s, s:s, s:i, s:b, s:i, s:i, s:o, s:I, s:s, s:s, s:I, s:s?, s:s?,"
			 " s:s?, s:o, s:I, s:I}",
			 "id", (json_int_t)vx__mgr_rows_i(rows, i, 0), "prefix", safe, "fetch_base",
			 s.fetch_base, "interval", (int)s.interval_s, "delete", (int)s.del,
			 "max_objects", (int)s.max_objects, "max_concurrent", (int)s.max_concurrent,
			 "preheat", pre ? pre : json_object(), "token_id",
			 (json_int_t)vx__mgr_rows_i(rows, i, 2), "created_at", c, "state",
			 owner && vx__mgr_rows_i(rows, i, 7) >= vx_wall_s() ? "running" : "idle",
			 "runs", (json_int_t)vx__mgr_rows_i(rows, i, 9), "last_run",
			 last ? l : NULL, "next_run", next ? nx : NULL, "last_error", lerr,
			 "last_stats", stats ? stats : json_object(), "last_job",
			 (json_int_t)vx__mgr_rows_i(rows, i, 8), "objects",
			 (json_int_t)vx__mgr_rows_i(rows, i, 13));
}

json_t *vx__mgr_sync_get(struct mgr_sync *y, int64_t id)
{
	struct mgr_rows *rows = NULL;
	json_t *o = NULL;

	if (vx__mgr_sql(y->db, &rows, SYNC_COLS " WHERE id = ?", "i", id))
		return NULL;
	if (vx__mgr_rows_n(rows))
		o = sync_json(rows, 0);
	vx__mgr_rows_free(rows);
	return o;
}

json_t *vx__mgr_sync_list(struct mgr_sync *y)
{
	struct mgr_rows *rows = NULL;
	json_t *a = json_array();

	if (vx__mgr_sql(y->db, &rows, SYNC_COLS " ORDER BY id LIMIT 1000", NULL))
		return a;
	for (uint32_t i = 0; i < vx__mgr_rows_n(rows); i++)
		json_array_append_new(a, sync_json(rows, i));
	vx__mgr_rows_free(rows);
	return a;
}

int vx__mgr_sync_run_now(struct mgr_sync *y, int64_t id, bool *del)
{
	struct mgr_rows *rows = NULL;
	struct vx_mgr_sync_req s;
	int rc;

	rc = vx__mgr_sql(y->db, &rows,
			 "UPDATE mgr_syncs SET requested = 1 WHERE id = ? RETURNING req", "i", id);
	if (!rc && !vx__mgr_rows_n(rows))
		rc = -ENOENT;
	if (!rc && del)
		*del = !stored_req(vx__mgr_rows_s(rows, 0, 0, NULL), &s) && s.del;
	vx__mgr_rows_free(rows);
	y->next_claim_ms = 0;
	return rc;
}

/* Removes the sync and what it saw (no eviction: the copies stay where they are). */
int vx__mgr_sync_delete(struct mgr_sync *y, int64_t id)
{
	struct mgr_rows *rows = NULL;
	int rc = vx__mgr_sql(y->db, &rows, "DELETE FROM mgr_syncs WHERE id = ? RETURNING id", "i",
			     id);

	if (!rc && !vx__mgr_rows_n(rows))
		rc = -ENOENT;
	vx__mgr_rows_free(rows);
	if (!rc)
		rc = vx__mgr_sql(y->db, NULL, "DELETE FROM mgr_sync_objects WHERE sync_id = ?", "i",
				 id);
	for (uint32_t i = 0; !rc && i < SYNC_RUNS_MAX; i++) {
		if (y->runs[i].used && y->runs[i].id == id) {
			list_free(y->runs[i].list);
			json_decref(y->runs[i].stats);
			memset(&y->runs[i], 0, sizeof(y->runs[i]));
		}
	}
	return rc;
}

/* ---------------------------------------------------------------- Runs */

static void run_end(struct mgr_sync *y, struct sync_run *run)
{
	char *st = run->stats ? json_dumps(run->stats, JSON_COMPACT) : NULL;
	int64_t now = vx_wall_s();

	if (vx__mgr_sql(y->db, NULL,
			"UPDATE mgr_syncs SET owner = NULL, lease = 0, runs = runs + 1,"
			" last_run = ?, last_error = ?, last_stats = ?, job = ?,"
			" next_run = CASE WHEN interval_s > 0 THEN ? + interval_s ELSE 0 END"
			" WHERE id = ? AND owner = ?",
			"issiiis", now, run->error[0] ? run->error : NULL, st, run->job, now,
			run->id, y->db->owner))
		vx_err("manager: sync %" PRId64 ": its run was not saved", run->id);
	if (run->error[0])
		vx_warn("manager: sync %" PRId64 ": %s", run->id, run->error);
	else
		vx_info("manager: sync %" PRId64 ": run done: %s", run->id, st ? st : "");
	free(st);
	list_free(run->list);
	json_decref(run->stats);
	memset(run, 0, sizeof(*run));
}

static void stat_add(struct sync_run *run, const char *key, int64_t n)
{
	json_t *v = json_object_get(run->stats, key);

	json_object_set_new(run->stats, key, json_integer((v ? json_integer_value(v) : 0) + n));
}

/* Is the token that made the sync still good for what it does? */
static bool token_ok(struct mgr_sync *y, int64_t token, bool del)
{
	struct mgr_rows *rows = NULL;
	uint32_t need = VX_MGR_SCOPE_PREHEAT | (del ? VX_MGR_SCOPE_TASK_DELETE : 0);
	bool ok;

	if (vx__mgr_sql(
		    y->db, &rows,
		    "SELECT scopes FROM mgr_tokens WHERE id = ? AND revoked = 0 AND expires > ?",
		    "ii", token, vx_wall_s()))
		return false;
	ok = vx__mgr_rows_n(rows) == 1 && ((uint32_t)vx__mgr_rows_i(rows, 0, 0) & need) == need;
	vx__mgr_rows_free(rows);
	return ok;
}

/* Evicts task @tid from every host (a delete_task job, audited as the sync's token). */
static void evict(struct mgr_sync *y, struct sync_run *run, const char *tid)
{
	struct vx_mgr_job_req *r = vx_calloc(1, sizeof(*r));
	char err[256];
	int64_t id;

	if (!r)
		return;
	r->type = MGR_JOB_DELETE_TASK;
	snprintf(r->task_id, sizeof(r->task_id), "%s", tid);
	if (vx__mgr_job_create(y->jobs, r, run->token, &id, err, sizeof(err)))
		vx_warn("manager: sync %" PRId64 ": eviction of %.12s: %s", run->id, tid, err);
	vx_free(r);
}

/* A URL safe for a path segment list: bytes outside unreserved and '/' escaped. */
static int fetch_url(const struct vx_mgr_sync_req *s, const struct sync_obj *o, char *out,
		     size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n;

	if (!s->fetch_base[0])
		return snprintf(out, cap, "%s", o->url) < (int)cap ? 0 : -ENAMETOOLONG;
	n = (size_t)snprintf(out, cap, "%s", s->fetch_base);
	for (const unsigned char *p = (const unsigned char *)o->name; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || strchr("-._~/", *p);

		if (n + 4 >= cap)
			return -ENAMETOOLONG;
		if (plain) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	out[n] = '\0';
	return 0;
}

struct stored_obj {
	char *name, *ver, *tid, *state;
};

static int cmp_stored(const void *a, const void *b)
{
	return strcmp(((const struct stored_obj *)a)->name, ((const struct stored_obj *)b)->name);
}

/* The listing is in: compare, evict, store, start the preheat. */
static void run_listed(struct mgr_sync *y, struct sync_run *run)
{
	struct sync_list *l = run->list;
	struct mgr_rows *rows = NULL;
	struct vx_mgr_sync_req s;
	struct vx_mgr_job_req *r = NULL;
	struct stored_obj *old = NULL;
	char **urls = NULL, **tids = NULL, err[256] = "", host0[256] = "", host[256];
	char(*gone)[VX_TASK_ID_LEN + 1] = NULL; /* evicted once the transaction is over */
	uint32_t nold = 0, npre = 0, ngone = 0, a = 0, b = 0;
	bool tx = false;
	int rc;

	if (vx__mgr_sql(y->db, &rows, "SELECT req FROM mgr_syncs WHERE id = ?", "i", run->id) ||
	    !vx__mgr_rows_n(rows) || stored_req(vx__mgr_rows_s(rows, 0, 0, NULL), &s)) {
		snprintf(run->error, sizeof(run->error), "the sync's stored request is unusable");
		goto out;
	}
	vx__mgr_rows_free(rows);
	rows = NULL;
	if (vx__mgr_sql(y->db, &rows,
			"SELECT name, ver, task_id, state FROM mgr_sync_objects WHERE sync_id = ?",
			"i", run->id)) {
		snprintf(run->error, sizeof(run->error), "the database failed");
		goto out;
	}
	nold = vx__mgr_rows_n(rows);
	old = vx_calloc(nold + 1, sizeof(*old));
	urls = vx_calloc(l->n + 1, sizeof(*urls));
	tids = vx_calloc(l->n + 1, sizeof(*tids));
	r = vx_malloc(sizeof(*r));
	gone = vx_calloc(nold + 1, sizeof(*gone));
	if (!old || !urls || !tids || !r || !gone) {
		snprintf(run->error, sizeof(run->error), "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < nold; i++) {
		old[i].name = (char *)vx__mgr_rows_s(rows, i, 0, NULL);
		old[i].ver = (char *)vx__mgr_rows_s(rows, i, 1, NULL);
		old[i].tid = (char *)vx__mgr_rows_s(rows, i, 2, NULL);
		old[i].state = (char *)vx__mgr_rows_s(rows, i, 3, NULL);
	}
	qsort(old, nold, sizeof(*old), cmp_stored);
	json_object_set_new(run->stats, "listed", json_integer(l->n));
	rc = vx__mgr_db_begin(y->db);
	tx = !rc;
	/* merge the sorted listing (a) with the sorted stored objects (b) */
	while (!rc && (a < l->n || b < nold)) {
		int c = a == l->n ? 1 : b == nold ? -1 : strcmp(l->o[a].name, old[b].name);
		const struct sync_obj *o = c <= 0 ? &l->o[a] : NULL;
		char url[MGR_URL_MAX], tid[VX_TASK_ID_LEN + 1];

		if (c > 0) { /* gone */
			stat_add(run, "gone", 1);
			if (s.del) {
				snprintf(gone[ngone++], sizeof(gone[0]), "%s", old[b].tid);
				stat_add(run, "evicted", 1);
			}
			rc = vx__mgr_sql(
				y->db, NULL,
				"DELETE FROM mgr_sync_objects WHERE sync_id = ? AND name = ?", "is",
				run->id, old[b].name);
			b++;
			continue;
		}
		if (c == 0 && !strcmp(o->ver, old[b].ver) && !strcmp(old[b].state, "ok")) {
			stat_add(run, "unchanged", 1);
			a++;
			b++;
			continue;
		}
		if (fetch_url(&s, o, url, sizeof(url)) ||
		    vx__mgr_sync_preheat_req(&s, url, r, err, sizeof(err)) ||
		    vx__mgr_req_task_id(r, tid, err, sizeof(err))) {
			snprintf(run->error, sizeof(run->error), "%s: %s", o->name,
				 err[0] ? err : "its URL is too long");
			rc = -EINVAL;
			break;
		}
		/* every host the objects come from goes through the outbound policy */
		if (vx__mgr_url_host(url, host, sizeof(host)) || strcmp(host, host0) != 0) {
			if (vx__mgr_outbound_check(&y->outbound, url, err, sizeof(err))) {
				snprintf(run->error, sizeof(run->error), "%s: %s", o->name, err);
				rc = -EACCES;
				break;
			}
			snprintf(host0, sizeof(host0), "%s", host);
		}
		if (c == 0 && strcmp(o->ver, old[b].ver) != 0) {
			/* changed: the old copy holds the same task id; it goes first */
			stat_add(run, "changed", 1);
			snprintf(gone[ngone++], sizeof(gone[0]), "%s", old[b].tid);
		} else if (c == 0) {
			stat_add(run, "retried", 1);
		} else {
			stat_add(run, "new", 1);
		}
		rc = vx__mgr_sql(y->db, NULL,
				 c == 0 ? "UPDATE mgr_sync_objects SET url = ?, ver = ?,"
					  " task_id = ?, state = 'pending' WHERE sync_id = ?"
					  " AND name = ?"
					: "INSERT INTO mgr_sync_objects(url, ver, task_id, state,"
					  " sync_id, name) VALUES(?, ?, ?, 'pending', ?, ?)",
				 "sssis", url, o->ver, tid, run->id, o->name);
		urls[npre] = dup_str(url);
		tids[npre] = dup_str(tid);
		if (!urls[npre] || !tids[npre]) {
			vx_free(urls[npre]);
			vx_free(tids[npre]);
			rc = -ENOMEM;
			break;
		}
		npre++;
		a++;
		b += c == 0;
	}
	if (tx && vx__mgr_db_end(y->db, !rc) && !rc)
		rc = VX_EDB;
	if (rc) {
		if (!run->error[0])
			snprintf(run->error, sizeof(run->error), "the database failed");
		json_object_clear(run->stats);
		goto out;
	}
	/* the scheduler's own tables (the same sqlite file) are written by an eviction: not
	 * inside this transaction */
	for (uint32_t i = 0; i < ngone; i++)
		evict(y, run, gone[i]);
	json_object_set_new(run->stats, "preheat", json_integer(npre));
	if (npre) {
		/* the job's request: the sync's preheat args, its prefix as the URL shown */
		if (vx__mgr_sync_preheat_req(&s, urls[0], r, err, sizeof(err))) {
			snprintf(run->error, sizeof(run->error), "%s", err);
			goto out;
		}
		snprintf(r->url, sizeof(r->url), "%s", s.prefix);
		rc = vx__mgr_job_create_blobs(y->jobs, r, (const char *const *)urls,
					      (const char *const *)tids, npre, run->token,
					      &run->job, err, sizeof(err));
		if (rc) {
			snprintf(run->error, sizeof(run->error), "the preheat did not start: %s",
				 err);
			(void)vx__mgr_sql(y->db, NULL,
					  "UPDATE mgr_sync_objects SET state = 'failed'"
					  " WHERE sync_id = ? AND state = 'pending'",
					  "i", run->id);
			run->job = 0;
		} else {
			vx_info("manager: sync %" PRId64 ": job %" PRId64 " preheats %u object(s)",
				run->id, run->job, npre);
		}
	}
out:
	for (uint32_t i = 0; urls && i < npre; i++) {
		vx_free(urls[i]);
		vx_free(tids[i]);
	}
	vx_free(urls);
	vx_free(tids);
	vx_free(old);
	vx_free(gone);
	vx_free(r);
	vx__mgr_rows_free(rows);
	list_free(run->list);
	run->list = NULL;
	if (!run->job || run->error[0])
		run_end(y, run);
}

/* The preheat job ended: what it placed is ok, the rest failed. */
static void run_placed(struct mgr_sync *y, struct sync_run *run, const char *res)
{
	json_t *o = res ? json_loads(res, 0, NULL) : NULL;
	json_t *r = json_array_get(
		json_object_get(json_array_get(json_object_get(o, "job_states"), 0), "results"), 0);
	json_t *ok = json_object_get(r, "success_tasks"),
	       *bad = json_object_get(r, "failure_tasks");
	const char *why = json_string_value(
		json_object_get(json_array_get(json_object_get(o, "job_states"), 0), "error"));
	json_t *e;
	size_t i;
	int64_t placed = 0, failed = 0;
	int rc = vx__mgr_db_begin(y->db);

	/* a task with one failed host stays failed: it is tried again */
	json_array_foreach(ok, i, e)
	{
		const char *tid = json_string_value(json_object_get(e, "task_id"));

		if (!rc && tid)
			rc = vx__mgr_sql(y->db, NULL,
					 "UPDATE mgr_sync_objects SET state = 'ok' WHERE sync_id"
					 " = ? AND task_id = ? AND state = 'pending'",
					 "is", run->id, tid);
	}
	json_array_foreach(bad, i, e)
	{
		const char *tid = json_string_value(json_object_get(e, "task_id"));

		if (!rc && tid)
			rc = vx__mgr_sql(
				y->db, NULL,
				"UPDATE mgr_sync_objects SET state = 'failed' WHERE sync_id"
				" = ? AND task_id = ?",
				"is", run->id, tid);
	}
	if (!rc)
		rc = vx__mgr_sql(y->db, NULL,
				 "UPDATE mgr_sync_objects SET state = 'failed' WHERE sync_id = ?"
				 " AND state = 'pending'",
				 "i", run->id);
	if (vx__mgr_db_end(y->db, !rc) && !rc)
		rc = VX_EDB;
	if (!rc) {
		struct mgr_rows *rows = NULL;

		if (!vx__mgr_sql(y->db, &rows,
				 "SELECT state, COUNT(*) FROM mgr_sync_objects WHERE sync_id = ?"
				 " GROUP BY state",
				 "i", run->id)) {
			for (uint32_t k = 0; k < vx__mgr_rows_n(rows); k++) {
				const char *st = vx__mgr_rows_s(rows, k, 0, NULL);

				if (st && !strcmp(st, "failed"))
					failed = vx__mgr_rows_i(rows, k, 1);
			}
		}
		vx__mgr_rows_free(rows);
		placed = json_integer_value(json_object_get(run->stats, "preheat")) - failed;
	}
	json_object_set_new(run->stats, "preheated", json_integer(placed > 0 ? placed : 0));
	json_object_set_new(run->stats, "failed", json_integer(failed));
	if (rc)
		snprintf(run->error, sizeof(run->error), "the database failed");
	else if (failed)
		snprintf(run->error, sizeof(run->error),
			 "%" PRId64 " object(s) not preheated (%s); the next run tries them again",
			 failed, why && *why ? why : "see the job");
	json_decref(o);
	run_end(y, run);
}

static void run_start(struct mgr_sync *y, const struct mgr_rows *rows)
{
	struct sync_run *run = NULL;
	struct vx_mgr_sync_req s;
	char err[256] = "";

	for (uint32_t i = 0; i < SYNC_RUNS_MAX && !run; i++) {
		if (!y->runs[i].used)
			run = &y->runs[i];
	}
	if (!run)
		return;
	run->used = true;
	run->id = vx__mgr_rows_i(rows, 0, 0);
	run->token = vx__mgr_rows_i(rows, 0, 2);
	run->stats = json_object();
	if (stored_req(vx__mgr_rows_s(rows, 0, 1, NULL), &s))
		snprintf(run->error, sizeof(run->error), "the sync's stored request is unusable");
	else if (!token_ok(y, run->token, s.del))
		snprintf(run->error, sizeof(run->error),
			 "the token that made this sync is revoked, expired or lacks preheat%s: "
			 "nothing was done",
			 s.del ? " or task:delete" : "");
	else if (file_allowed(y->cfg, s.prefix, err, sizeof(err)))
		snprintf(run->error, sizeof(run->error), "%s", err);
	else if (list_start(&run->list, s.prefix, s.max_objects, &y->outbound))
		snprintf(run->error, sizeof(run->error), "the listing did not start");
	if (run->error[0]) {
		run_end(y, run);
		return;
	}
	vx_info("manager: sync %" PRId64 ": listing %s", run->id, VX_URL_SAFE(s.prefix));
}

/* Claims due syncs whose lease ran out, while a run slot is free. */
static void claim(struct mgr_sync *y)
{
	static const char sql[] =
		"UPDATE mgr_syncs SET owner = ?, lease = ?, requested = 0 WHERE id = (SELECT id"
		" FROM mgr_syncs WHERE (requested = 1 OR (next_run > 0 AND next_run <= ?))"
		" AND (owner IS NULL OR lease < ?) ORDER BY id LIMIT 1%s) AND (owner IS NULL OR"
		" lease < ?) RETURNING id, req, token_id";
	char q[sizeof(sql) + 32];

	snprintf(q, sizeof(q), sql, y->db->pg ? " FOR UPDATE SKIP LOCKED" : "");
	for (uint32_t n = 0; n < SYNC_RUNS_MAX; n++) {
		struct mgr_rows *rows = NULL;
		int64_t now = vx_wall_s();
		bool free_slot = false;

		for (uint32_t i = 0; i < SYNC_RUNS_MAX && !free_slot; i++)
			free_slot = !y->runs[i].used;
		if (!free_slot || vx__mgr_sql(y->db, &rows, q, "siiii", y->db->owner,
					      now + (int64_t)y->lease_s, now, now, now))
			return;
		if (!vx__mgr_rows_n(rows)) {
			vx__mgr_rows_free(rows);
			return;
		}
		run_start(y, rows);
		vx__mgr_rows_free(rows);
	}
}

void vx__mgr_sync_tick(struct mgr_sync *y, uint64_t now_ms)
{
	if (!y || !y->srv)
		return; /* the manager role: a scheduler's process runs the syncs */
	if (now_ms >= y->next_renew_ms) {
		(void)vx__mgr_sql(y->db, NULL, "UPDATE mgr_syncs SET lease = ? WHERE owner = ?",
				  "is", vx_wall_s() + (int64_t)y->lease_s, y->db->owner);
		y->next_renew_ms = now_ms + y->lease_s * 1000 / 3;
	}
	for (uint32_t i = 0; i < SYNC_RUNS_MAX; i++) {
		struct sync_run *run = &y->runs[i];

		if (!run->used)
			continue;
		if (run->list) {
			bool done;

			pthread_mutex_lock(&run->list->lock);
			done = run->list->done;
			pthread_mutex_unlock(&run->list->lock);
			if (!done)
				continue;
			if (run->list->rc) {
				snprintf(run->error, sizeof(run->error), "%s", run->list->err);
				run_end(y, run);
			} else {
				run_listed(y, run);
			}
		} else if (run->job) {
			struct mgr_rows *rows = NULL;

			if (vx__mgr_sql(y->db, &rows,
					"SELECT state, result FROM mgr_jobs WHERE id = ?", "i",
					run->job))
				continue;
			if (!vx__mgr_rows_n(rows)) {
				snprintf(run->error, sizeof(run->error), "its preheat job is gone");
				run_end(y, run);
			} else if (strcmp(vx__mgr_rows_s(rows, 0, 0, NULL), "PENDING") != 0) {
				run_placed(y, run, vx__mgr_rows_s(rows, 0, 1, NULL));
			}
			vx__mgr_rows_free(rows);
		}
	}
	if (now_ms >= y->next_claim_ms) {
		claim(y);
		y->next_claim_ms = now_ms + 1000;
	}
}

void vx__mgr_sync_free(struct mgr_sync *y)
{
	if (!y)
		return;
	for (uint32_t i = 0; i < SYNC_RUNS_MAX; i++) {
		list_free(y->runs[i].list);
		json_decref(y->runs[i].stats);
	}
	vx_free(y);
}
