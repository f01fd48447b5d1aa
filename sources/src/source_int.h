/* SPDX-License-Identifier: Apache-2.0 */
/*
 * source_int.h: what the files of sources/ share and nobody else sees: the context, the
 * object, one transfer on the worker, the scheme table and the blocking fetch helper.
 */
#ifndef VX_SOURCE_INT_H
#define VX_SOURCE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "vx_bucket.h"
#include "vx_list.h"
#include "vx_source.h"
#include "vx_source_parse.h"
#include "vx_source_plugin.h"

#define VX__SCHEMES_MAX	  32u
#define VX__PLUGINS_MAX	  8u
#define VX__ERRBODY_MAX	  512u /* bytes of an error body kept for the detail message */
#define VX__EASY_POOL_MAX 64u  /* idle easy handles kept for reuse, per worker */
#define VX__WORKERS_MAX	  16u  /* worker threads per context */

struct vx_source_obj;
struct vx__xfer;

/*
 * A scheme. open and list block (caller thread); prepare runs on the worker thread and must
 * not block: it turns (object, range) into a concrete request on @x.
 */
struct vx__scheme {
	const char *name;
	int (*open)(struct vx_source_obj *obj, const struct vx_source_url *u,
		    struct vx_source_error *detail);
	int (*prepare)(struct vx_source_obj *obj, struct vx__xfer *x);
	int (*list)(struct vx_source_ctx *ctx, const char *url, const struct vx_source_url *u,
		    const struct vx_source_opts *opts, vx_source_entry_fn fn, void *arg,
		    struct vx_source_error *detail);
	void (*release)(struct vx_source_obj *obj);
	/*
	 * May be NULL. A read got 401 with @challenge: renew obj->auth (blocking; called on the
	 * helper thread, never on a worker) through vx__obj_auth_set().
	 */
	int (*reauth)(struct vx_source_obj *obj, const char *challenge,
		      struct vx_source_error *detail);
	const struct vx_source_plugin_v1 *plugin; /* set for plug-in schemes */
	/* reads this host's files: never for another host (vx_source_opts.outbound set) */
	bool local_files;
};

/* One worker thread and its multi handle. Fields below the line are its own. */
struct vx__worker {
	struct vx_source_ctx *ctx;
	pthread_t thread;
	CURLM *multi;
	struct vx_list submitted; /* under ctx->lock: xfers handed to this worker */
	/* Worker thread only. */
	struct vx_list running;
	struct vx_list waiting; /* backoff before a retry, scanned */
	CURL *easy_pool[VX__EASY_POOL_MAX];
	uint32_t nr_easy_pool;
};

struct vx_source_ctx {
	struct vx__worker workers[VX__WORKERS_MAX];
	uint32_t nr_workers;  /* set before any submission, then read-only */
	uint32_t next_worker; /* under lock: round robin */
	pthread_t plugin_thread;
	bool plugin_thread_started;
	pthread_mutex_t lock;
	pthread_cond_t plugin_cond;
	struct vx_list plugin_q; /* under lock: plug-in reads for the plug-in thread */
	struct vx_list live;	 /* under lock: every xfer not yet completed (for cancel) */
	uint32_t nr_live;	 /* under lock */
	bool stopping;		 /* under lock */
	uint64_t next_id;	 /* under lock */
	/* Set before the worker starts, then read-only (plug-in loads take the lock). */
	struct vx_source_ctx_cfg cfg;
	char user_agent[64];
	/* cfg's hub settings, indexed by enum vx_source_hub; "" when not configured */
	char hub_endpoint[2][1024];
	char hub_token_file[2][4096];
	struct vx_rate rate; /* every read's body bytes together (vx_source_ctx_set_rate) */
	struct vx__scheme schemes[VX__SCHEMES_MAX];
	uint32_t nr_schemes;
	void *plugins[VX__PLUGINS_MAX];
	uint32_t nr_plugins;
};

/* Owned, deep copy of struct vx_source_opts: every string is the copy's own. */
struct vx__opts {
	struct vx_source_opts o;
	char **strs; /* everything to free */
	uint32_t nr_strs;
};

struct vx_source_obj {
	struct vx_source_ctx *ctx;
	const struct vx__scheme *scheme;
	int refs; /* atomic */
	struct vx__opts opts;
	char *url; /* as opened */
	/* "Authorization: ..." header for reads; secret; may be NULL. Under auth_lock once reads
	 * may run: a token refresh replaces it. */
	char *auth;
	pthread_mutex_t auth_lock;
	uint32_t auth_gen;  /* under auth_lock: bumped by each vx__obj_auth_set() */
	char repo[256];	    /* registry repository, for a token's scope; "" when none */
	char *read_url;	    /* what reads fetch; NULL: @url */
	bool range_in_url;  /* the scheme puts the range in the URL (WebHDFS) */
	bool verify_digest; /* check stat.digest on full reads (oci blobs) */
	/* reads send If-Range and must answer with stat's ETag / Last-Modified (plain http) */
	bool check_validators;
	struct vx_source_stat stat;
	void *priv; /* scheme state */
};

/* What came back in the headers of the final response. */
struct vx__resp {
	long status;
	bool headers_done;
	bool have_range;
	struct vx_source_content_range range;
	int64_t content_length; /* -1 when absent */
	bool length_conflict;	/* two Content-Length headers that disagree */
	char etag[VX_SOURCE_ETAG_MAX];
	char last_modified[64];
	char content_type[128];
	char digest[VX_SOURCE_DIGEST_MAX]; /* Docker-Content-Digest */
	char challenge[1024];		   /* WWW-Authenticate */
	char link[2048];		   /* Link (pagination of hub listings) */
	uint32_t retry_after_s;		   /* Retry-After in seconds (0: none or a date) */
	char kept[VX_SOURCE_KEPT_MAX];
	size_t kept_len;
};

enum vx__xfer_kind {
	VX__XFER_READ = 0,  /* a user's ranged read into a sink */
	VX__XFER_FETCH = 1, /* an internal blocking request (struct vx__fetch) */
};

struct vx__fetch;

/* One transfer. Lives from submit to its completion; owned by the worker while running. */
struct vx__xfer {
	struct vx_list node;	  /* submitted / running / waiting / plugin_q */
	struct vx_list live_node; /* ctx->live */
	uint64_t id;
	enum vx__xfer_kind kind;
	struct vx_source_ctx *ctx;
	struct vx_source_obj *obj;	   /* a reference, for reads */
	struct vx__fetch *fetch;	   /* for fetches */
	const struct vx_source_opts *opts; /* borrowed from obj or fetch */
	bool cancel;			   /* atomic */
	CURL *easy;
	/* The request, rebuilt by prepare on every attempt. */
	char *url;		       /* owned */
	struct curl_slist *hdrs;       /* owned */
	struct curl_slist *proxy_hdrs; /* owned: to the upstream cluster's proxy only */
	bool range_in_url;
	bool want_range_hdr;
	/* The range still wanted: [off, off + left) or to the end. */
	uint64_t off;
	uint64_t left; /* VX_SOURCE_LEN_TO_END when unknown */
	uint64_t delivered;
	vx_source_sink_fn sink;
	vx_source_done_fn done;
	void *arg;
	/* Response of the current attempt. */
	struct vx__resp resp;
	bool body_checked; /* status and range validated for this attempt */
	bool cut_ok;	   /* we stopped the transfer on purpose: not an error */
	int abort_err;	   /* why a callback aborted the transfer */
	bool error_body;   /* the status is an error: the body goes to errbody */
	char errbody[VX__ERRBODY_MAX];
	size_t errbody_len;
	void *sha;	   /* EVP_MD_CTX while verifying a full read's digest */
	uint32_t auth_gen; /* obj->auth_gen this attempt was signed with */
	bool reauthed;	   /* a 401 already led to one token refresh */
	int preset_err;	   /* finish with this at the next start (set off the worker) */
	uint32_t attempts;
	uint64_t due_ns; /* when waiting: start again at */
	/* ctx->rate, then the read's own (vx_source_read.rates, NULL: none); borrowed */
	struct vx_rate *rates[1 + VX_SOURCE_READ_RATES];
	bool paused; /* worker: on_body paused the transfer over its rate */
	struct vx_source_error detail;
};

/* A blocking request made by scheme code (stat, tokens, manifests, listings). */
struct vx__fetch {
	const char *url;		   /* borrowed */
	const struct vx_source_opts *opts; /* borrowed; may be NULL */
	const char *const *extra_headers;  /* borrowed, NULL-terminated; secrets allowed */
	const char *username;		   /* basic auth for this fetch only; borrowed */
	const char *password;		   /* borrowed; secret */
	bool stat_range;		   /* "Range: bytes=0-0", cut after headers on 200 */
	bool nobody;			   /* headers only (ftp stat) */
	bool dirlist;			   /* names only (ftp NLST) */
	size_t body_max;		   /* 0: the body is discarded */
	/* Results. */
	int err;
	struct vx__resp resp;
	char *body; /* owned, NUL-terminated; vx__fetch_release() frees */
	size_t body_len;
	char final_url[VX_SOURCE_URL_MAX];
	int64_t curl_length; /* CURLINFO_CONTENT_LENGTH_DOWNLOAD_T */
	int64_t filetime;    /* CURLINFO_FILETIME, -1 unknown */
	struct vx_source_error detail;
	/* Private to the worker / waiter. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool finished;
};

/* parse.c */
/*
 * Percent-decodes @n bytes at @p into @dst (@cap bytes, NUL-terminated on success). Refuses a
 * bad or cut escape, a decoded NUL, and output that does not fit. Returns the decoded length
 * or VX_EURL.
 */
ssize_t vx__pct_decode(const char *p, size_t n, char *dst, size_t cap);

/* worker.c */
int vx__worker_start(struct vx_source_ctx *ctx);
void vx__worker_stop(struct vx_source_ctx *ctx);
void vx__worker_wake_all(struct vx_source_ctx *ctx);
/* Queues @x (taken on success: it may be completed and freed before this returns); its id
 * goes to @id (may be NULL), written under the lock. */
int vx__xfer_submit(struct vx_source_ctx *ctx, struct vx__xfer *x, uint64_t *id);
void vx__xfer_free(struct vx__xfer *x);
int vx__fetch_run(struct vx_source_ctx *ctx, struct vx__fetch *f);
void vx__fetch_release(struct vx__fetch *f);
bool vx__on_worker(const struct vx_source_ctx *ctx);
/* Bytes libcurl hands a write callback at most (CURLOPT_BUFFERSIZE): also the least burst of a
 * read's rates (vx_rate burst_min), so that one callback's bytes can always be granted. */
#define VX__RECV_BUFFER ((long)VX_SOURCE_CHUNK_MAX)
/* How often a worker retries the transfers it paused over their rate. */
#define VX__RATE_TICK_MS 10
/* Spends @n body bytes of @x's rates (the context's, the read's own) if all have them now. */
bool vx__xfer_rate_try(struct vx__xfer *x, uint64_t n);
int vx__map_status(long status);
void vx__detail_set(struct vx_source_error *d, int err, long status, const char *url,
		    const char *fmt, ...) VX_PRINTF(5, 6);
int vx__hdr_append(struct curl_slist **l, const char *fmt, ...) VX_PRINTF(2, 3);
void vx__obj_put(struct vx_source_obj *obj);

/* source.c */
const struct vx__scheme *vx__scheme_find(const struct vx_source_ctx *ctx, const char *name);
int vx__scheme_add(struct vx_source_ctx *ctx, const struct vx__scheme *s);
void vx__stat_from_resp(struct vx_source_stat *st, const struct vx__resp *r);

/*
 * http.c: stat by "Range: bytes=0-0" of @url with @extra headers (NULL-terminated). On a 401
 * the WWW-Authenticate value is copied to @challenge (may be NULL).
 */
/*
 * http.c: true when response @r to a read of @obj comes from another version of the object
 * than its stat saw (a strong ETag, else Last-Modified, that differs); @why says which.
 */
bool vx__http_changed(const struct vx_source_obj *obj, const struct vx__resp *r, char *why,
		      size_t why_size);
int vx__http_stat(struct vx_source_obj *obj, const char *url, const char *const *extra,
		  const char *user, const char *password, char *challenge, size_t challenge_size,
		  struct vx_source_error *detail);

/* oci.c: answers a registry's 401 @challenge for repository @name: sets obj->auth. Blocking. */
int vx__oci_authenticate(struct vx_source_obj *obj, const char *challenge, const char *name,
			 struct vx_source_error *detail);

/* Scheme registrations. */
int vx__http_register(struct vx_source_ctx *ctx);
int vx__file_register(struct vx_source_ctx *ctx);
int vx__s3_register(struct vx_source_ctx *ctx);
/* A listing of a bucket or container (s3.c, abs.c): entries are url_base + encoded key. */
struct vx__bucket_list {
	char url_base[512]; /* "s3://bucket/", "abs://account/container/" */
	const char *prefix; /* keys listed begin with it; the entry's name is the rest */
	size_t prefix_len;
	vx_source_entry_fn fn;
	void *arg;
};
int vx__bucket_item(void *arg, const struct vx_source_s3_item *it);
int vx__abs_register(struct vx_source_ctx *ctx);
int vx__oci_register(struct vx_source_ctx *ctx);
int vx__hdfs_register(struct vx_source_ctx *ctx);
int vx__hub_register(struct vx_source_ctx *ctx);

/* http.c: the read request of an http(s) object (obj->read_url or obj->url, If-Range, auth). */
int vx__http_prepare(struct vx_source_obj *obj, struct vx__xfer *x);

/* source.c: obj->auth under its lock. */
int vx__obj_auth_append(struct vx_source_obj *obj, struct vx__xfer *x);
int vx__obj_auth_set(struct vx_source_obj *obj, const char *line);

/* worker.c: hands an xfer back to a worker (after a token refresh); takes it. */
void vx__xfer_resubmit(struct vx_source_ctx *ctx, struct vx__xfer *x);

/* plugin.c: the helper thread also renews tokens for reads that got 401. */
int vx__helper_reauth(struct vx_source_ctx *ctx, struct vx__xfer *x);

/* plugin.c: blocking reads of plug-in schemes run on their own thread. */
int vx__plugin_submit(struct vx_source_ctx *ctx, struct vx__xfer *x, uint64_t *id);
void vx__plugin_stop(struct vx_source_ctx *ctx);
void vx__plugin_unload(void *handle);

/* Adds the user's headers and TLS/timeout options of @o to an easy handle / header list. */
/* Through the upstream cluster's proxy of @o, if any (upstream.c); 0 or -ENOMEM/-EMSGSIZE. */
int vx__upstream_apply(CURL *easy, const struct vx_source_opts *o, struct curl_slist **hdrs);
int vx__apply_opts(CURL *easy, const struct vx_source_opts *o, struct curl_slist **hdrs);

#endif /* VX_SOURCE_INT_H */
