/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_peer.h: the peer. One object wires the piece store, the source layer, the Vortex upload
 * server, one piece fetcher per task and the scheduler client together, and runs them on one
 * io_uring loop thread of its own. `vx serve` runs one for the life of the daemon (and puts the
 * local API in front of it); `vx get --scheduler` runs one for a single download (the embedded
 * one-shot peer), so a bare machine can still join a swarm.
 *
 * A download request names a URL; the peer derives the Dragonfly task id, and every request
 * for the same id shares one task (two `vx get` of one URL fetch it once). A task asks the
 * scheduler what to do: fetch from parents (with the trusted piece manifest, which may grow
 * while the origin peer is still fetching), fetch from the origin (then it reports the digests
 * that become the manifest), or wait. Without a scheduler, or when none answers, it goes to
 * the source unless back-to-source is disabled. Every piece that lands, from a parent or from
 * the source, is offered to this peer's own children at once (HAVE) and reported to the
 * scheduler in batches. spec/peer.md has the task state machine and every limit.
 *
 * Threading: vx_peer_new(), vx_peer_free() and vx_peer_download() may be called from any
 * thread; the job callbacks run on the peer's threads (loop or workers) and must not block.
 */
#ifndef VX_PEER_H
#define VX_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "vx_compiler.h"
#include "vx_download.h"
#include "vx_outbound.h"
#include "vx_task_id.h"

struct vx_peer;
struct vx_peer_job;

#define VX_PEER_SCHEDULERS_MAX 16
/* Tasks the peer drives at once (downloads in flight, triggered seeds, resumed tasks). */
#define VX_PEER_TASKS_MAX 256
/* Threads of the work pool when the config says 0. An origin fetch holds one for its whole
 * length, so this is also how many tasks fetch from their origins at once; more wait. */
#define VX_PEER_WORK_THREADS_DEFAULT 16
/* Requests waiting on tasks at once. */
#define VX_PEER_JOBS_MAX 1024

struct vx_tls_ctx;

/* The daemon's rates, bytes per second, 0 = unlimited. */
struct vx_peer_rates {
	uint64_t upload_bps;   /* upload.rate_limit */
	uint64_t download_bps; /* download.rate_limit: pieces from parents, all tasks together */
	uint64_t source_bps;   /* download.back_to_source_rate_limit: every origin read together */
	uint64_t task_bps;     /* download.task_rate_limit: one task, origin and peers together */
};

struct vx_peer_cfg {
	const char *data_dir; /* store directory; required */
	const char *listen;   /* Vortex upload server "HOST:PORT"; port 0 picks one */
	/* > 0: the upload server's socket, already listening on @listen, handed over by the
	 * daemon this one upgrades (taken once the peer started); 0: bind @listen */
	int listen_fd;
	const char *advertise; /* IP literal given to the scheduler; NULL: from @listen */
	const char *hostname;  /* NULL: gethostname() */
	const char *idc;       /* data centre, or NULL */
	const char *location;  /* "country|province|city|zone|cluster", or NULL */
	const char *token;     /* scheduler token, or NULL */
	/* join token (vx_pki.h): on first start, join the cluster CA and write DATA_DIR/tls/;
	 * NULL: none. Borrowed for vx_peer_new() only. */
	const char *join_token;
	bool tls_external; /* tls.cert/key/ca given: the operator's PKI, no join or renewal */
	const char *schedulers[VX_PEER_SCHEDULERS_MAX]; /* "HOST:PORT" */
	uint32_t nr_schedulers;				/* 0: every task goes to the source */
	/* members mode (spec/peer.md "Members"): "IP:PORT,..." or a DNS name naming every
	 * member's Vortex address (this one's among them); the daemon schedules the tasks it
	 * owns itself. Replaces @schedulers; with @sched_tls, mutual TLS between members (STARTTLS on
	 * the Vortex port). NULL: off */
	const char *members;
	uint32_t members_heartbeat_ms; /* announce (heartbeat) interval; 0: 1000 */
	uint32_t members_misses;       /* heartbeats missed before a member is dropped; 0: 3 */
	bool seed;		       /* announce the seed role */
	bool no_back_to_source; /* never fetch from the origin (config download.back_to_source) */
	bool no_lz4;		/* no lz4 piece bodies, either way (config upload.lz4 false) */
	bool resume;		/* restart unfinished tasks found in the store at start */
	bool wipe;		/* empty the store at start (embedded one-shot peers) */
	struct vx_peer_rates rates;
	uint64_t bandwidth_bps;		 /* declared upload bandwidth, bits/s; 0: not declared */
	uint32_t upload_max_conns;	 /* 0: default */
	uint32_t upload_idle_timeout_ms; /* close an upload connection idle this long; 0: 60 s */
	uint32_t upload_addr_conns;	 /* connections per peer address; 0: 64 */
	uint32_t upload_stall_ms;	 /* no byte taken this long: close; 0: 30 s */
	uint32_t upload_max_inflight;	 /* pipelined requests per vx connection; 0: 32 */
	uint32_t source_parallel;	 /* ranged reads in flight per origin task; 0: default */
	uint32_t work_threads;		 /* threads for blocking work (store opens, origin fetches,
				     * exports); 0: VX_PEER_WORK_THREADS_DEFAULT */
	uint64_t disk_limit_bytes;	 /* store capacity; 0: the filesystem's */
	uint64_t memory_budget_bytes;	 /* memory tier (and memory tasks); 0: none */
	uint32_t gc_high_pct;		 /* store GC starts above this usage percent; 0: 80 */
	uint32_t gc_low_pct;		 /* and evicts down to this one; 0: 60 */
	uint64_t task_ttl_s;		 /* a task unused this long is evicted; 0: 30 days */
	uint32_t gc_interval_s;		 /* the store's GC runs this often; 0: 15 min */
	uint32_t direct_io;		 /* enum vx_store_direct_io */
	uint32_t wait_parents_ms;	 /* a scheduler's WAIT lasts at most this long; 0: 5 s */
	uint32_t access_ttl_ms; /* a proven access to a private task holds this long; 0: 60 s */
	/* where a seed may connect when it fetches for another host (--allow-outbound,
	 * --deny-outbound; vx_outbound.h) */
	struct vx_outbound_policy outbound;
	/*
	 * Another vx cluster's forward proxy this daemon's back-to-source goes through
	 * (source.upstream_cluster.*, spec/sources.md "Upstream cluster"): the URLs
	 * @upstream_match takes (NULL: every http:// URL) are fetched through @upstream_proxy
	 * ("http[s]://HOST:PORT"; NULL: none) with @upstream_token (secret, to the proxy only)
	 * and @upstream_ca (PEM, an https proxy). Failing there, a task is fetched from its
	 * origin only with @upstream_fallback. Strings borrowed for the peer's life.
	 */
	const char *upstream_proxy;
	const char *upstream_token;
	const char *upstream_ca;
	bool (*upstream_match)(void *arg, const char *url);
	void *upstream_arg;
	bool upstream_fallback;
	/* model hubs: vx_source_ctx_cfg's hf_endpoint ... modelscope_token_file; NULL: unset */
	const char *hf_endpoint, *hf_token_file, *modelscope_endpoint, *modelscope_token_file;
	/* a parent that sends no byte for this long with a piece asked of it is dropped; 0: the
	 * fetcher's default (10 s) */
	uint32_t piece_timeout_ms;
	uint32_t concurrent_pieces; /* requests out to parents per task at once; 0: no cap */
	/* TLS to the schedulers (a VX_TLS_CLIENT context, borrowed while the peer lives, used on
	 * the loop thread only); NULL: plaintext. With it the host id is the certificate's. */
	struct vx_tls_ctx *sched_tls;
	/* a new cluster configuration document from the control plane (spec/peer.md "Cluster
	 * configuration"), its sha256 checked; called on the loop thread, where the setters
	 * below may be called. NULL: the daemon does not fetch it. */
	void (*on_cluster_config)(void *arg, struct vx_peer *p, uint64_t version, const char *sha,
				  const uint8_t *doc, uint32_t len);
	void *cluster_config_arg;
};

/* Callbacks of one download; run on the peer's threads; must not block. */
struct vx_peer_job_ops {
	void (*progress)(void *arg, const struct vx_download_progress *p); /* may be NULL */
	/* Stream mode: a read-only fd of the content file (lent for the call; dup it). */
	void (*content_fd)(void *arg, int fd);
	/* Exactly once; @res lent for the call. The job is gone after it returns. */
	void (*done)(void *arg, const struct vx_download_result *res);
};

/*
 * vx_peer_new() - open the store in cfg->data_dir, start the source layer, bind the upload
 * server, connect to the schedulers (in the background) and start the loop thread.
 * @cfg: borrowed for the call. @out: OUT, returns owned (vx_peer_free()).
 * @err: OUT, one line on failure (@err_len bytes).
 * Returns 0, -EINVAL (bad cfg: address, scheduler list), -EADDRINUSE, -ENOMEM, or the store's,
 * the ring's or the socket's error.
 */
VX_MUST_CHECK int vx_peer_new(struct vx_peer **out, const struct vx_peer_cfg *cfg, char *err,
			      size_t err_len);

/* The port the upload server listens on (useful with port 0). Any thread. */
uint16_t vx_peer_port(const struct vx_peer *p);

/* The host id announced to the scheduler, lent while @p lives. Any thread. */
const char *vx_peer_host_id(const struct vx_peer *p);

/* The upload server's listening socket, lent while @p lives (a graceful upgrade hands it to
 * the next daemon). Any thread. */
int vx_peer_listen_fd(const struct vx_peer *p);

/*
 * vx_peer_handover() - the next vx_peer_free() hands the host over to a new daemon on the same
 * data directory (a graceful upgrade): it stops as usual but says no LEAVE, so the schedulers
 * keep this host's peers for their grace time and the new daemon's hello takes them back.
 * Any thread, before vx_peer_free().
 */
void vx_peer_handover(struct vx_peer *p);

/* The IP literal given to the schedulers (vx_peer_cfg.advertise, or the one picked for the
 * listen address: spec/peer.md), lent while @p lives. Any thread. */
const char *vx_peer_addr(const struct vx_peer *p);

/*
 * vx_peer_download() - start downloading @req. Any thread. @ops and @arg are borrowed until
 * done() ran. Returns 0 (done() will be called exactly once, possibly before this returns) or
 * -ENOSPC (too many jobs) / -ESHUTDOWN (the peer is stopping): then done() is never called.
 * @out: OUT, optional: the job, for vx_peer_job_cancel() until done() ran.
 */
VX_MUST_CHECK int vx_peer_download(struct vx_peer *p, const struct vx_download_request *req,
				   const struct vx_peer_job_ops *ops, void *arg,
				   struct vx_peer_job **out);

/*
 * vx_peer_job_cancel() - the requester lost interest (its client went away): done() is called
 * soon with -ECANCELED unless it already ran. The task goes on for other jobs and children.
 * Any thread; only before done() returned.
 */
void vx_peer_job_cancel(struct vx_peer *p, struct vx_peer_job *job);

/* Where vx_peer_stat() and vx_peer_list() put the URL a task points to (longer ones are cut). */
struct vx_peer_url {
	char s[512];
};

/*
 * Store tasks (up to @max into @out; @urls holds @max entries, out[i].url points into them).
 * Any thread. Returns the number of tasks.
 */
uint32_t vx_peer_list(struct vx_peer *p, struct vx_download_task *out, struct vx_peer_url *urls,
		      uint32_t max);
/* One task by id; out->url points into @url. Returns 0 or -ENOENT. Any thread. */
int vx_peer_stat(struct vx_peer *p, const char *task_id, struct vx_download_task *out,
		 struct vx_peer_url *url);
/* Deletes a task from the store (refused with -EBUSY while it downloads). Any thread. */
int vx_peer_remove(struct vx_peer *p, const char *task_id);

/* The answer of a persistent cache verb; @res is lent for the call. */
typedef void (*vx_peer_cache_done_fn)(void *arg, const struct vx_download_result *res);

/*
 * vx_peer_cache() - run the persistent cache verb @req->cache_op (import, export, stat,
 * delete: spec/api.md) on a thread of its own; @done(@arg, result) runs once on that thread.
 * @req is borrowed until then. Returns 0, or -errno (the thread could not start: done() is
 * never called).
 */
VX_MUST_CHECK int vx_peer_cache(struct vx_peer *p, const struct vx_download_request *req,
				vx_peer_cache_done_fn done, void *arg);

/* The persistent cache tasks of the store, as vx_peer_list() (no URLs). Any thread. */
uint32_t vx_peer_cache_list(struct vx_peer *p, struct vx_download_task *out, uint32_t max);

/*
 * vx_peer_free() - graceful stop: tell the schedulers this host leaves, fail waiting jobs with
 * -ECANCELED, cancel fetchers and origin fetches, close uploads, flush the store (unfinished
 * tasks stay for a restart to resume), join the threads. NULL is a no-op.
 */
void vx_peer_free(struct vx_peer *p);

/* From on_cluster_config (the loop thread) only: what the cluster configuration changes live.
 * Rates: the download rate holds for downloads started from now; the others at once, the task
 * rate for the tasks running too.
 * The scheduler list: see vx_sched_client_set_servers(); -ENOTCONN when the daemon has none. */
void vx_peer_set_rates(struct vx_peer *p, const struct vx_peer_rates *r);

/* The store's GC settings, live (vx_store_set_gc(): 0 keeps a value). -EINVAL: low >= high. */
VX_MUST_CHECK int vx_peer_set_gc(struct vx_peer *p, uint32_t high_pct, uint32_t low_pct,
				 uint64_t task_ttl_s, uint32_t interval_s);
int vx_peer_set_schedulers(struct vx_peer *p, const char *const *list, uint32_t n);

/* The local API in front of a peer (`vx serve`): a unix socket served by vx_api.h. */
struct vx_peer_api;

/*
 * vx_peer_api_start() - serve @p's downloads, stat, list and delete on the unix socket
 * @socket_path (mode 0660, group @group or ours; spec/api.md). Clients' downloads become
 * vx_peer_download() jobs; a client that goes away cancels its job. @p is borrowed and must
 * outlive the API. @out: OUT, owned (vx_peer_api_stop()). Returns 0 or vx_api_server_new()'s
 * errors, with one line in @err.
 */
VX_MUST_CHECK int vx_peer_api_start(struct vx_peer_api **out, struct vx_peer *p,
				    const char *socket_path, const char *group, char *err,
				    size_t err_len);

/* Requests per second each client uid may make on @a's socket (api.requests_per_s) and
 * connections it may hold at once (api.max_conns_per_uid); 0: no limit
 * (vx_api_server_set_rate(), vx_api_server_set_conns_per_uid()). */
void vx_peer_api_set_limits(struct vx_peer_api *a, uint32_t per_s, uint32_t conns_per_uid);

/*
 * Closes the socket and frees @a. Call it after vx_peer_free() (which ends every job, so no
 * callback can reach @a any more). NULL is a no-op.
 */
void vx_peer_api_stop(struct vx_peer_api *a);

#endif /* VX_PEER_H */
