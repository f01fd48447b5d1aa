/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_source.h: the back-to-source layer. One interface over every origin a task can live at:
 * http, https, ftp and file (libcurl), s3 (SigV4), oci registries (v2 flow), hdfs (WebHDFS),
 * the hf and modelscope model hubs, and plug-ins loaded from shared objects.
 *
 * Threading model (spec/sources.md has the measurement behind it): a context owns a fixed
 * set of worker threads (cfg.workers, default 1), each driving one libcurl multi handle.
 * Callers on any thread hand requests over through a bounded submission queue (reqs_max) and a
 * curl_multi_wakeup(); transfers are dealt to the workers round robin, and the transfers of a
 * worker share its connection cache, so parallel ranges to one origin reuse a few keep-alive
 * connections. Sink and completion callbacks of asynchronous reads run ON A WORKER THREAD
 * (plug-in reads: on the plug-in thread): they must not block and must not call a blocking
 * function of this header. The callbacks of one read run on one thread, in order; with more
 * than one worker, callbacks of different reads may run at the same time. Blocking forms
 * (open, list, vx_source_read) submit to the workers and wait; they must never be called from
 * a callback.
 *
 * Object model: vx_source_open() resolves a URL once (stat, redirects, registry tokens,
 * manifest lists, WebHDFS status) into a struct vx_source_obj; ranged reads are then submitted
 * against the object, many in parallel.
 */
#ifndef VX_SOURCE_H
#define VX_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"

struct vx_source_ctx;
struct vx_source_obj;
struct vx_rate;

/* Limits. Every one is explicit; inputs past them are refused with a clear error. */
#define VX_SOURCE_URL_MAX	 8192u	      /* bytes of a URL, NUL included */
#define VX_SOURCE_HEADERS_MAX	 32u	      /* request headers in one struct vx_source_opts */
#define VX_SOURCE_KEPT_MAX	 4096u	      /* bytes of response headers kept by stat */
#define VX_SOURCE_ETAG_MAX	 256u	      /* bytes of an ETag, NUL included */
#define VX_SOURCE_DIGEST_MAX	 160u	      /* "sha256:<64 hex>" and friends, NUL included */
#define VX_SOURCE_DETAIL_MSG_MAX 256u	      /* bytes of an error detail message */
#define VX_SOURCE_REQS_MAX	 4096u	      /* largest reqs_max a context accepts */
#define VX_SOURCE_WORKERS_MAX	 16u	      /* largest workers a context accepts */
#define VX_SOURCE_DOC_MAX	 (4u << 20)   /* largest manifest, listing page or JSON reply */
#define VX_SOURCE_LEN_TO_END	 UINT64_MAX   /* read length: everything from the offset on */
#define VX_SOURCE_LENGTH_UNKNOWN (-1)	      /* stat length when the origin gives none */
#define VX_SOURCE_CHUNK_MAX	 (256u << 10) /* most body bytes one sink call gets */
#define VX_SOURCE_READ_RATES	 2u	      /* rates one read spends beside its context's */

/*
 * Per-request options. Every pointer is borrowed for the duration of the call that takes the
 * options; vx_source_open() copies what later reads need into the object, so the caller may
 * free its strings as soon as open returns. A zeroed struct means: no extra headers, no
 * credentials, verify TLS against the system store, default timeouts and retries.
 * Secrets (password, tokens, secret keys) are never logged and never appear in error details.
 */
struct vx_outbound_policy;

struct vx_source_opts {
	const char *const *headers;  /* "Name: value" lines added to every HTTP request */
	uint32_t nr_headers;	     /* count of @headers, at most VX_SOURCE_HEADERS_MAX */
	const char *username;	     /* basic auth (http, ftp, registry); NULL: none */
	const char *password;	     /* secret */
	const char *bearer_token;    /* "Authorization: Bearer"; secret */
	bool tls_insecure;	     /* skip certificate and host verification: explicit only */
	const char *tls_ca_file;     /* PEM bundle to verify the origin with; NULL: system store */
	const char *tls_cert_file;   /* client certificate (PEM) for mTLS; NULL: none */
	const char *tls_key_file;    /* its private key (PEM); secret path, content never read */
	uint32_t timeout_ms;	     /* whole request; 0: 300000 */
	uint32_t connect_timeout_ms; /* 0: 10000 */
	uint32_t stall_timeout_ms; /* fail a transfer that moves no byte for this long; 0: 30000 */
	uint32_t retries_max;	   /* retries of transient errors; 0: default 2; UINT32_MAX: none */
	uint32_t retry_backoff_ms; /* first backoff, doubled each retry, capped at 4 s; 0: 100 */
	uint64_t length_max; /* refuse objects larger than this (VX_ESOURCE_TOOLARGE); 0: no cap */
	/*
	 * Where a fetch for another host may connect (vx_outbound.h), checked on the resolved
	 * address of every connection, redirects and reused connections included; a refusal is
	 * -EACCES "outbound address X refused by policy". NULL: anywhere (a fetch for oneself).
	 */
	const struct vx_outbound_policy *outbound;
	bool outbound_local; /* the requester is on this host: loopback and link-local allowed */
	/*
	 * Another vx cluster's forward proxy to fetch through (clusters of clusters, spec/sources.md
	 * "Upstream cluster"); NULL: straight to the origin. The outbound policy is then the
	 * proxy's to apply: connections go to the configured proxy only.
	 */
	const struct vx_source_upstream *upstream;
	/* s3:// */
	const char *s3_region;	      /* NULL: $AWS_REGION, $AWS_DEFAULT_REGION, "us-east-1" */
	const char *s3_endpoint;      /* "http://127.0.0.1:9000"; NULL: $AWS_ENDPOINT_URL or AWS */
	const char *s3_access_key;    /* NULL: $AWS_ACCESS_KEY_ID, then the credentials file */
	const char *s3_secret_key;    /* secret; NULL: $AWS_SECRET_ACCESS_KEY, then the file */
	const char *s3_session_token; /* secret; NULL: $AWS_SESSION_TOKEN */
	const char
		*s3_credentials_file; /* NULL: $AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials */
	const char *s3_profile;	      /* NULL: $AWS_PROFILE, "default" */
	bool s3_path_style;	      /* bucket in the path, not the host (forced with endpoints) */
	/* oci:// */
	const char *oci_platform; /* "os/arch[/variant]" to pick from an index; NULL: this host's */
	/* hdfs:// */
	const char *hdfs_delegation_token; /* secret; added as delegation= */
	const char *hdfs_user;		   /* user.name= when no token is given */
	/* hf://, modelscope:// (spec/sources.md, "Model hubs") */
	const char *hub_endpoint; /* base URL; NULL: $HF_ENDPOINT / $MODELSCOPE_ENDPOINT, else
				   * https://huggingface.co / https://modelscope.cn */
	const char *hub_token;	  /* secret; NULL: $HF_TOKEN, else the token file ($HF_TOKEN_PATH,
				   * $HF_HOME/token, ~/.cache/huggingface/token) /
				   * $MODELSCOPE_API_TOKEN; never read for another host */
};

/* An upstream cluster's forward proxy (vx_source_opts.upstream). */
struct vx_source_upstream {
	const char *proxy;   /* "http://HOST:PORT" or "https://HOST:PORT" */
	const char *token;   /* secret, sent as "Proxy-Authorization: Bearer" to the proxy only;
			      * NULL: none */
	const char *ca_file; /* PEM CA that verifies an https proxy; NULL: the system store */
};

/*
 * What an origin says about an object. Filled by vx_source_open(); the strings are inside the
 * struct (no ownership to track).
 */
struct vx_source_stat {
	int64_t length; /* bytes, or VX_SOURCE_LENGTH_UNKNOWN (then read as one stream) */
	bool ranges;	/* the origin honours byte ranges: pieces may be fetched in parallel */
	bool is_dir;	/* a directory or prefix: use vx_source_list() */
	char etag[VX_SOURCE_ETAG_MAX];
	char last_modified[64]; /* as the origin wrote it (HTTP date) */
	char content_type[128];
	char digest[VX_SOURCE_DIGEST_MAX]; /* content digest the origin vouches for ("sha256:..."),
					    * e.g. an OCI blob's; empty when none */
	char final_url[VX_SOURCE_URL_MAX]; /* after redirects, with the query string removed */
	char kept_headers[VX_SOURCE_KEPT_MAX]; /* "Name: value\r\n" lines worth keeping */
};

/*
 * Why a request failed, for the CLI to print. @err is the value the function returned.
 * @url has its user-info and query string removed (signed URLs carry secrets there).
 */
struct vx_source_error {
	int err;	   /* negative errno or VX_E* code; 0 when there was no error */
	int status;	   /* origin status (HTTP/FTP), 0 when the origin gave none */
	int transport;	   /* libcurl's CURLcode, 0 when none */
	bool timed_out;	   /* the last attempt ran out of time (timeout_ms or stall_timeout_ms) */
	uint32_t attempts; /* requests made, retries included */
	char url[512];
	char msg[VX_SOURCE_DETAIL_MSG_MAX];
};

/* One entry of a listing. Borrowed for the duration of the callback. */
struct vx_source_entry {
	const char *url;    /* absolute URL of the entry, usable with vx_source_open() */
	const char *name;   /* path relative to the listed URL, '/'-separated */
	int64_t length;	    /* bytes or VX_SOURCE_LENGTH_UNKNOWN */
	bool is_dir;	    /* only when the listing is not recursive by nature */
	const char *digest; /* "sha256:<hex>" the origin vouches for (hub listings), or NULL */
};

/*
 * Receives body bytes in order. @data is lent for the call. Return 0 to go on, or a negative
 * errno to abort the transfer: the read then completes with that value and is not retried.
 */
typedef int (*vx_source_sink_fn)(void *arg, const void *data, size_t len);

/*
 * Called once per submitted read, last. @err is 0 when exactly the requested bytes were
 * delivered; @detail is lent for the call (NULL when @err is 0).
 */
typedef void (*vx_source_done_fn)(void *arg, int err, const struct vx_source_error *detail);

/* Listing callback; return 0 to go on or a negative errno to stop the listing with it. */
typedef int (*vx_source_entry_fn)(void *arg, const struct vx_source_entry *entry);

struct vx_source_ctx_cfg {
	uint32_t reqs_max;	  /* transfers queued or running at once; 0: 256 */
	uint32_t host_conns_max;  /* parallel connections to one host; 0: 16 */
	uint32_t total_conns_max; /* all connections; 0: 64 */
	/* Worker threads, each with its own multi handle and connections; transfers are dealt
	 * round robin. 0: 1. */
	uint32_t workers;
	const char *user_agent; /* NULL: "vx/<version>" */
	/*
	 * Model hubs (spec/sources.md 3.1), copied: between the options and the environment.
	 * A token file named here must not be readable by group or others. NULL: none.
	 */
	const char *hf_endpoint;
	const char *hf_token_file;
	const char *modelscope_endpoint;
	const char *modelscope_token_file;
};

/*
 * vx_source_ctx_new() - make a context and start its worker thread.
 * @out: OUT: returns owned (free with vx_source_ctx_free()); NULL on failure.
 * @cfg: borrowed; NULL means all defaults.
 * Registers the built-in schemes. Returns 0, -EINVAL for a limit out of range, -ENOMEM, or the
 * negative errno of the failed thread creation.
 */
VX_MUST_CHECK int vx_source_ctx_new(struct vx_source_ctx **out,
				    const struct vx_source_ctx_cfg *cfg);

/*
 * vx_source_ctx_free() - cancel everything in flight (their done callbacks run with
 * -ECANCELED), stop the worker and free the context. Objects still open must have been freed.
 * NULL is a no-op. Not from a callback.
 */
void vx_source_ctx_free(struct vx_source_ctx *ctx);

/*
 * vx_source_ctx_set_rate() - the rate in bytes per second that the body bytes of every read of
 * @ctx spend together, whatever the scheme (the daemon's back-to-source limit); 0: none. Any
 * thread, at any time: reads in flight take the new rate at once. A read over its rate is paused
 * (libcurl keeps the bytes and the TCP window closes), not failed; a plug-in read waits in its
 * sink. Opens, listings and manifests are not counted.
 */
void vx_source_ctx_set_rate(struct vx_source_ctx *ctx, uint64_t bytes_per_s);

/* True when @url's scheme is registered in @ctx (built-in or plug-in). Borrows both. */
bool vx_source_supports(const struct vx_source_ctx *ctx, const char *url);

/*
 * vx_source_file_path() - the local path a file:// @url names (percent-decoded) into @path
 * (@cap bytes), as the file source reads it. Returns 1 for a file:// URL, 0 for another
 * scheme (or an unparsable URL, which the source refuses later), VX_EURL for a file:// URL
 * that names no local path (another host, a bad escape, too long).
 */
VX_MUST_CHECK int vx_source_file_path(const char *url, char *path, size_t cap);

/*
 * vx_source_open() - resolve @url into an object ready for ranged reads. Blocking: stats the
 * origin (HTTP: GET with "Range: bytes=0-0", so signed URLs that refuse HEAD work; a server
 * that ignores the range is cut off after its headers), follows redirects, walks registry
 * auth challenges and manifest lists.
 * @ctx, @url, @opts: borrowed; @opts may be NULL.
 * @out: OUT: returns owned (vx_source_obj_free()); NULL on failure.
 * @detail: OUT, may be NULL: why it failed.
 * Returns 0, VX_EURL, VX_ESCHEME, a VX_ESOURCE_* code, VX_ETLS, VX_EDIGEST or -ENOMEM.
 * Not from a callback.
 */
VX_MUST_CHECK int vx_source_open(struct vx_source_ctx *ctx, const char *url,
				 const struct vx_source_opts *opts, struct vx_source_obj **out,
				 struct vx_source_error *detail);

/* The stat of an open object; lent until vx_source_obj_free(). */
const struct vx_source_stat *vx_source_obj_stat(const struct vx_source_obj *obj);

/*
 * vx_source_obj_free() - drop the caller's reference. Reads still in flight keep the object
 * alive until their done callback has returned. NULL is a no-op.
 */
void vx_source_obj_free(struct vx_source_obj *obj);

/* One asynchronous read of @length bytes at @offset. */
struct vx_source_read {
	uint64_t offset;
	uint64_t length;	/* > 0, or VX_SOURCE_LEN_TO_END */
	vx_source_sink_fn sink; /* required */
	vx_source_done_fn done; /* required */
	void *arg;		/* lent to both until done has returned */
	/* NULL, or rates this read's body bytes spend beside the context's (one task's cap, its
	 * preheat share); lent until done has returned */
	struct vx_rate *rates[VX_SOURCE_READ_RATES];
};

/*
 * vx_source_read_submit() - queue a ranged read. Any thread, including a callback.
 * Transient failures are retried with backoff; a retry resumes after the bytes the sink already
 * took when the origin honours ranges, and fails otherwise. Reading past the object's end, or a
 * range from an origin without ranges at an offset other than 0, fails with
 * VX_ESOURCE_BADREQ at once.
 * @obj: borrowed; the read takes its own reference.
 * @rd: borrowed (copied).
 * @id: OUT, may be NULL: a handle for vx_source_cancel().
 * Returns 0 (done will be called exactly once, on the worker thread), -EINVAL, -ENOBUFS when
 * reqs_max transfers are already queued, -ESHUTDOWN while the context stops, or -ENOMEM; on
 * failure done is never called.
 */
VX_MUST_CHECK int vx_source_read_submit(struct vx_source_obj *obj, const struct vx_source_read *rd,
					uint64_t *id);

/*
 * vx_source_cancel() - ask that read @id stop. Any thread. Its done callback runs soon with
 * -ECANCELED (unless it was already completing). Returns 0, or -ENOENT when @id is unknown or
 * already finished.
 */
int vx_source_cancel(struct vx_source_ctx *ctx, uint64_t id);

/*
 * vx_source_read() - blocking form of vx_source_read_submit(). @sink runs on the worker thread
 * while this thread waits. Returns 0 when all bytes were delivered, else as done would get.
 * @detail: OUT, may be NULL. Not from a callback.
 */
VX_MUST_CHECK int vx_source_read(struct vx_source_obj *obj, uint64_t offset, uint64_t length,
				 vx_source_sink_fn sink, void *arg, struct vx_source_error *detail);

/*
 * vx_source_list() - list a directory or prefix (file, ftp, s3, hdfs, hf, modelscope) or an
 * image's blobs (oci: the config and layers of the platform's manifest). Entries of s3, oci and
 * hub listings are all objects (recursive by nature); file, ftp and hdfs report sub-directories with is_dir and
 * the caller recurses. Blocking; pages (continuation tokens) are followed here.
 * Returns 0, the callback's negative value, or as vx_source_open(). Not from a callback.
 */
VX_MUST_CHECK int vx_source_list(struct vx_source_ctx *ctx, const char *url,
				 const struct vx_source_opts *opts, vx_source_entry_fn fn,
				 void *arg, struct vx_source_error *detail);

/*
 * vx_source_plugin_load() - load a source plug-in from the shared object at @path (borrowed)
 * and register the schemes it serves (spec/sources.md, "Plug-in ABI"). The object stays loaded
 * until vx_source_ctx_free(). Returns 0, -ENOENT/-EACCES/-ENOEXEC when it cannot be loaded,
 * -EPROTO for an ABI version this build does not speak, -EEXIST when a scheme is taken.
 */
VX_MUST_CHECK int vx_source_plugin_load(struct vx_source_ctx *ctx, const char *path);

/*
 * vx_source_error_format() - one line for humans: "<strerror> (HTTP 404) for <url>: <msg>".
 * Writes at most @size bytes into @buf (NUL included) and returns @buf.
 */
char *vx_source_error_format(const struct vx_source_error *detail, char *buf, size_t size);

#endif /* VX_SOURCE_H */
