/* SPDX-License-Identifier: Apache-2.0 */
/* mgr_int.h: the manager's parts, shared by its files. Not a public header. */
#ifndef VX_MGR_INT_H
#define VX_MGR_INT_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "vx_manager.h"
#include "vx_ctl_msg.h"
#include "vx_task_id.h"
#include "vx_tls.h"

struct vx_sched_server;

/* ---------------------------------------------------------------- mgr_store.c */

struct pg_conn;

struct mgr_db {
	sqlite3 *db;	    /* sqlite, or */
	struct pg_conn *pg; /* PostgreSQL (libpq's PGconn) */
	bool in_tx;
	char owner[33];	    /* this process's name in job leases (random hex) */
	char last_hash[65]; /* the audit chain's head */
	int64_t last_seq;
};

/* @path: a sqlite file, or a postgres:// URI. 0 or VX_EDB. */
int vx__mgr_db_open(struct mgr_db *d, const char *path);
void vx__mgr_db_close(struct mgr_db *d);

/* ---------------------------------------------------------------- mgr_sql.c */

struct mgr_rows;
bool vx__mgr_db_is_pg(const char *path);
/*
 * vx__mgr_sql() - run @sql ('?' placeholders) with parameters after @types, one letter each:
 * 'i' an int64_t, 's' a const char * (NULL: SQL NULL). Rows (text) in *@out when @out is not
 * NULL (free with vx__mgr_rows_free). Returns 0, VX_EDB or -ENOMEM.
 */
int vx__mgr_sql(struct mgr_db *d, struct mgr_rows **out, const char *sql, const char *types, ...);
uint32_t vx__mgr_rows_n(const struct mgr_rows *r);
const char *vx__mgr_rows_s(const struct mgr_rows *r, uint32_t row, uint32_t col, size_t *len);
int64_t vx__mgr_rows_i(const struct mgr_rows *r, uint32_t row, uint32_t col);
void vx__mgr_rows_free(struct mgr_rows *r);
/* A write transaction that is the only writer of its kind (sqlite BEGIN IMMEDIATE; PostgreSQL
 * BEGIN and a transaction-scoped advisory lock). */
int vx__mgr_db_begin(struct mgr_db *d);
int vx__mgr_db_end(struct mgr_db *d, bool commit);
int vx__mgr_pg_connect(struct mgr_db *d, const char *uri);
/* Several statements without parameters (the schema). */
int vx__mgr_pg_script(struct mgr_db *d, const char *sql);
void vx__mgr_pg_close(struct mgr_db *d);

struct mgr_token {
	int64_t id;
	uint32_t scopes;
	int64_t expires;
	char tenant[VX_TLS_TENANT_MAX + 1]; /* "": the operator's, sees every tenant */
};

/*
 * Creates a token, of @tenant (NULL or "": none) when given; @out gets it (VX_MGR_TOKEN_MAX).
 * Returns 0, -EINVAL, VX_EDB.
 */
int vx__mgr_token_create(struct mgr_db *d, const char *name, uint32_t scopes, const char *tenant,
			 uint64_t ttl_s, char *out, int64_t *id);
/* Checks a presented token; 0 and @t, or -EACCES (unknown, bad, expired or revoked). */
int vx__mgr_token_check(struct mgr_db *d, const char *tok, struct mgr_token *t);
/* The tokens a token of @tenant may see: "" every one, a tenant its own tenant's. */
json_t *vx__mgr_token_list(struct mgr_db *d, const char *tenant);
/* 0, -ENOENT (no such token, or one of another tenant than @tenant when that is not ""). */
int vx__mgr_token_revoke(struct mgr_db *d, int64_t id, const char *tenant);
const char *vx__mgr_scope_name(uint32_t bit);

/* Appends one audit record (fields are cleaned of control characters). */
void vx__mgr_audit(struct mgr_db *d, int64_t token_id, const char *source, const char *action,
		   const char *target, int result);
json_t *vx__mgr_audit_list(struct mgr_db *d, int64_t after, uint32_t limit);
/* Deletes jobs and audit records older than @before (Unix s); the number removed. */
int64_t vx__mgr_gc(struct mgr_db *d, int64_t before);

/* mgr_cluster.c: the cluster configuration document */
int vx__mgr_cluster_check(const struct vx_manager_cfg *cfg, const char *body, size_t len,
			  json_t **out, char *err, size_t err_len);
int vx__mgr_cluster_get(struct mgr_db *d, uint64_t *version, char sha[VX_CTL_CFG_SHA_LEN + 1],
			char **doc);
int vx__mgr_cluster_put(struct mgr_db *d, const json_t *root, int64_t token_id, uint64_t *version,
			char sha[VX_CTL_CFG_SHA_LEN + 1]);
/* Hands the database's document to @srv when its version differs (NULL @srv: nothing). */
void vx__mgr_cluster_sync(struct mgr_db *d, struct vx_sched_server *srv);
int vx__mgr_cluster_seed(struct mgr_db *d, const struct vx_manager_cfg *cfg);

/* ---------------------------------------------------------------- mgr_req.c */

enum mgr_job_type {
	MGR_JOB_PREHEAT = 1,
	MGR_JOB_GET_TASK,
	MGR_JOB_DELETE_TASK,
	MGR_JOB_GC,
	MGR_JOB_SYNC_PEERS,
	MGR_JOB_PCACHE_IMPORT,	  /* copy a persistent cache task onto the hosts args.ips names */
	MGR_JOB_PCACHE_REPLICATE, /* set a persistent cache task's replicas (args.replicas) */
	MGR_JOB_PCACHE_DELETE,	  /* drop a persistent cache task on every holder */
	MGR_JOB_LAST = MGR_JOB_PCACHE_DELETE
};
enum mgr_scope { MGR_SCOPE_SINGLE_SEED = 0, MGR_SCOPE_ALL_SEEDS, MGR_SCOPE_ALL_PEERS };

#define MGR_IPS_MAX	64
#define MGR_URL_MAX	4096
#define MGR_FIELD_MAX	256
#define MGR_HEADERS_MAX 16   /* origin request headers of one preheat (args.headers) */
#define MGR_HEADER_MAX	2048 /* bytes of one "Name: value" line, NUL included */

/* A decoded POST /oapi/v1/jobs body (vx_mgr_job_req_decode). */
struct vx_mgr_job_req {
	enum mgr_job_type type;
	char url[MGR_URL_MAX];
	char task_id[VX_TASK_ID_LEN + 1];
	char tag[MGR_FIELD_MAX];
	char application[MGR_FIELD_MAX];
	char filtered[MGR_FIELD_MAX]; /* filtered_query_params, '&'-separated */
	uint64_t piece_length;
	enum mgr_scope scope;
	uint32_t count;	     /* 0: not given */
	uint32_t percentage; /* 0: not given */
	char ips[MGR_IPS_MAX][64];
	uint32_t nr_ips;
	uint32_t timeout_s;	   /* 0: default */
	uint32_t concurrent_tasks; /* blobs preheated at once; 0: all */
	uint32_t concurrent_peers; /* hosts preheating at once; 0: all */
	bool image;		   /* args.type image: url is a manifest URL */
	bool to_memory;		   /* args.load_to_cache: hosts keep it in their memory tier */
	char platform[64];	   /* image: "os/arch[/variant]"; "": the default */
	uint32_t retention_days;   /* gc; 0: default */
	uint32_t replicas;	   /* persistent_cache_replicate: 1..64 */
	uint32_t clusters[16];
	uint32_t nr_clusters;
	char webhook[MGR_URL_MAX]; /* "": none; called with the job when it ends */
	/*
	 * preheat: "Name: value" lines for the origin, from args.headers, with args.username and
	 * args.password as one "Authorization: Basic" line. Secrets: never shown, logged,
	 * stored or audited; a job that has them is not resumed after a restart.
	 */
	char headers[MGR_HEADERS_MAX][MGR_HEADER_MAX];
	uint32_t nr_headers;
	bool sync; /* made by a sync (mgr_sync.c): url is its prefix, the blobs come apart */
};

/*
 * vx_mgr_job_req_decode() - parse and check a job request (@len bytes, not NUL-terminated).
 * Returns 0, or -EINVAL with a message for the caller in @err (never echoing a secret).
 */
int vx_mgr_job_req_decode(const char *body, size_t len, struct vx_mgr_job_req *r, char *err,
			  size_t err_len);
/* @o's integer @key (absent or null: *@out untouched) in @lo..@hi: 0, or -EINVAL with @err
 * naming @pfx@key. */
/* A request body of @len bytes as a JSON object (duplicate keys refused), owned by the caller;
 * NULL with @err filled when it is not one. */
json_t *vx__mgr_json_object(const char *body, size_t len, char *err, size_t err_len);
int vx__mgr_json_u32(json_t *o, const char *pfx, const char *key, uint32_t lo, uint32_t hi,
		     uint32_t *out, char *err, size_t err_len);
/* The request's args as shown back: no header, no credential, the URL redacted. */
json_t *vx__mgr_job_args(const struct vx_mgr_job_req *r);
const char *vx__mgr_job_type_name(enum mgr_job_type t);
/* The request as stored to resume the job ({"type","args"}, read back by
 * vx_mgr_job_req_decode), or NULL when its URL or headers carry a credential (kept in memory
 * only) or memory ran out. Free with free(). */
char *vx__mgr_job_req_encode(const struct vx_mgr_job_req *r);
/* Unix seconds @t as "2006-01-02T15:04:05Z". */
void vx__mgr_rfc3339(int64_t t, char out[32]);
/* True for the persistent cache job types (they name a task by args.task_id only). */
bool vx__mgr_job_is_pcache(enum mgr_job_type t);
/* GET /oapi/v1/persistent-cache-tasks: the scheduler's persistent cache tasks (mgr_pcache.c). */
json_t *vx__mgr_pcache_list(struct vx_sched_server *srv);
/* Runs a persistent cache job on the scheduler's thread; returns its result, sets @ok. */
json_t *vx__mgr_pcache_job(struct vx_sched_server *srv, const struct vx_mgr_job_req *r,
			   const char *tid, bool *ok, char *err, size_t err_len);

/* Computes the task id the request names. 0 or -EINVAL (@err). */
/*
 * The digest a registry blob URL names (…/v2/NAME/blobs/sha256:HEX or sha512:HEX, nothing after)
 * into @out; false for any other URL. Such a URL is preheated under its digest's task id, the
 * one the registry mirror fetches it as (spec/manager.md "Preheat"), not its URL's.
 */
bool vx__mgr_blob_digest(const char *url, char *out, size_t cap);
int vx__mgr_req_task_id(const struct vx_mgr_job_req *r, char out[VX_TASK_ID_LEN + 1], char *err,
			size_t err_len);

/* @url's host (brackets of an IPv6 literal kept) when it is http(s): 0 or -EINVAL. */
int vx__mgr_url_host(const char *url, char *host, size_t host_len);

/* ---------------------------------------------------------------- mgr_image.c */

struct mgr_image;
/* Whether @url is a manifest URL (.../v2/<repo>/manifests/<ref>): 0 or -EINVAL. */
int vx__mgr_image_check(const char *url);
/*
 * Starts resolving @r's url (with its headers) on a thread of its own, every connection (the
 * registry's redirects and token realm too) checked against @outbound (borrowed; it must
 * outlive the resolution). 0 or -errno.
 */
struct vx_outbound_policy;
int vx__mgr_image_start(struct mgr_image **out, const struct vx_mgr_job_req *r,
			const struct vx_outbound_policy *outbound);
/* 1: still resolving; 0: done, *@n blob URLs (vx__mgr_image_url); < 0: failed (@err). */
int vx__mgr_image_poll(struct mgr_image *im, uint32_t *n, char *err, size_t err_len);
const char *vx__mgr_image_url(const struct mgr_image *im, uint32_t i);
/* Joins the thread (bounded by the registry client's timeouts) and frees @im. */
void vx__mgr_image_free(struct mgr_image *im);

/* ---------------------------------------------------------------- mgr_jobs.c */

struct mgr_jobs;
int vx__mgr_jobs_new(struct mgr_jobs **out, struct mgr_db *d, struct vx_sched_server *srv,
		     const struct vx_manager_cfg *cfg);
void vx__mgr_jobs_free(struct mgr_jobs *j);
/* Runs @r for @token_id: 0 and the job's id in *@id, or an HTTP status with @err. */
int vx__mgr_job_create(struct mgr_jobs *j, const struct vx_mgr_job_req *r, int64_t token_id,
		       int64_t *id, char *err, size_t err_len);
/*
 * A sync's preheat (@r->sync): one job of @n blobs, @urls with their task ids @tids (all
 * borrowed), run here (a scheduler's process); not resumed by a job lease (its sync runs the
 * blobs that did not succeed again). 0 and *@id, or an HTTP status with @err.
 */
int vx__mgr_job_create_blobs(struct mgr_jobs *j, const struct vx_mgr_job_req *r,
			     const char *const *urls, const char *const *tids, uint32_t n,
			     int64_t token_id, int64_t *id, char *err, size_t err_len);
json_t *vx__mgr_job_get(struct mgr_jobs *j, int64_t id);
/* The jobs a token of @tenant sees: "" every one, a tenant those its tenant's tokens made. */
json_t *vx__mgr_job_list(struct mgr_jobs *j, const char *tenant, uint32_t page, uint32_t per_page);
/* Whether a token of @tenant sees job @id (false also: no such job). */
bool vx__mgr_job_seen(struct mgr_jobs *j, int64_t id, const char *tenant);
/* 0, -ENOENT, -EALREADY (ended). */
int vx__mgr_job_cancel(struct mgr_jobs *j, int64_t id);
void vx__mgr_jobs_tick(struct mgr_jobs *j, uint64_t now_ms);

/* ---------------------------------------------------------------- mgr_sync.c */

/* A decoded POST /oapi/v1/syncs body (vx_mgr_sync_req_decode). */
struct vx_mgr_sync_req {
	char prefix[MGR_URL_MAX];     /* what is listed */
	char fetch_base[MGR_URL_MAX]; /* "": the listed URLs are fetched; else base + name */
	uint32_t interval_s;	      /* 0: on demand only */
	bool del;		      /* evict what disappeared */
	uint32_t max_objects;	      /* a bigger listing fails the run, nothing done */
	uint32_t max_concurrent;      /* objects preheated at once */
	char preheat[4096];	      /* a preheat job's args (no url): JSON text */
};

/* Parses and checks a sync request (@len bytes). 0, or -EINVAL with @err. */
int vx_mgr_sync_req_decode(const char *body, size_t len, struct vx_mgr_sync_req *s, char *err,
			   size_t err_len);
/* The preheat job request of @s for one object @url (marked r->sync). 0 or -EINVAL. */
int vx__mgr_sync_preheat_req(const struct vx_mgr_sync_req *s, const char *url,
			     struct vx_mgr_job_req *r, char *err, size_t err_len);
struct mgr_sync;
int vx__mgr_sync_new(struct mgr_sync **out, struct mgr_db *d, struct mgr_jobs *jobs,
		     struct vx_sched_server *srv, const struct vx_manager_cfg *cfg);
void vx__mgr_sync_free(struct mgr_sync *y);
/* Stores a sync for @token and asks for its first run: 0 and *@id, or an HTTP status. */
int vx__mgr_sync_create(struct mgr_sync *y, const struct vx_mgr_sync_req *s, int64_t token,
			int64_t *id, char *err, size_t err_len);
json_t *vx__mgr_sync_get(struct mgr_sync *y, int64_t id);
json_t *vx__mgr_sync_list(struct mgr_sync *y);
/* Asks for a run now (*@del: the sync evicts). 0, -ENOENT, VX_EDB. */
int vx__mgr_sync_run_now(struct mgr_sync *y, int64_t id, bool *del);
/* 0, -ENOENT, VX_EDB. */
int vx__mgr_sync_delete(struct mgr_sync *y, int64_t id);
void vx__mgr_sync_tick(struct mgr_sync *y, uint64_t now_ms);

/* ---------------------------------------------------------------- mgr_channel.c */

#define MGR_CHANNEL_MAX 64 /* bytes of a channel name */

/* A decoded POST /oapi/v1/channels/{name} body: one publication. */
struct vx_mgr_pub_req {
	char name[MGR_FIELD_MAX];	  /* the file name subscribers write */
	char task_id[VX_TASK_ID_LEN + 1]; /* a persistent cache task, or */
	char url[MGR_URL_MAX];		  /* an http(s) URL without credentials */
};

/* 0, or -EINVAL with @err. */
int vx_mgr_pub_req_decode(const char *body, size_t len, struct vx_mgr_pub_req *p, char *err,
			  size_t err_len);
/* [a-z0-9._-], 1..MGR_CHANNEL_MAX, not starting with '.' or '-'. */
bool vx__mgr_channel_name_ok(const char *s);
int vx__mgr_channel_tables(struct mgr_db *d);
/* Appends @p to @channel (made on its first publication): 0 and *@seq, -EINVAL, VX_EDB. */
int vx__mgr_channel_publish(struct mgr_db *d, const char *channel, const struct vx_mgr_pub_req *p,
			    int64_t token, int64_t *seq);
/* The publications after @after (at most @limit), or NULL for an unknown channel. */
json_t *vx__mgr_channel_read(struct mgr_db *d, const char *channel, int64_t after, uint32_t limit);
json_t *vx__mgr_channel_list(struct mgr_db *d);

/* ---------------------------------------------------------------- mgr_webhook.c */

struct mgr_hooks;
struct vx_outbound_policy;
/* @policy is borrowed and must outlive the hooks. 0 or -ENOMEM. */
int vx__mgr_hooks_new(struct mgr_hooks **out, const struct vx_outbound_policy *policy);
void vx__mgr_hooks_free(struct mgr_hooks *hs);
/* Queues a POST of @body (taken) to @url for job @job. */
void vx__mgr_hook_add(struct mgr_hooks *hs, int64_t job, const char *url, char *body);
/* Starts due calls and reaps ended ones; never blocks. */
void vx__mgr_hooks_tick(struct mgr_hooks *hs, uint64_t now_ms);

/* mgr_outbound.c: the policy of @cfg's CIDRs (0 or -EINVAL); may a preheat URL's host be
 * fetched (0, -EACCES or -EINVAL with @err)? */
struct vx_outbound_policy;
int vx__mgr_outbound_policy(const struct vx_manager_cfg *cfg, struct vx_outbound_policy *p);
int vx__mgr_outbound_check(const struct vx_outbound_policy *p, const char *url, char *err,
			   size_t err_len);

#endif /* VX_MGR_INT_H */
