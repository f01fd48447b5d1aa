/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_int.h: the peer's private state, shared by peer.c (life cycle, loop, mailbox, scheduler
 * glue), peer_task.c (the task state machine) and peer_work.c (blocking work on the pool).
 *
 * Threading: everything in struct vx_peer and struct peer_task belongs to the loop thread,
 * except the fields marked "mailbox" (under @mail_lock) and the atomics. Blocking work (store
 * open, source stat and fetch, digest checks, exports) runs on the peer's bounded work pool
 * (vx_pool.h); an item reads the task fields that were fixed before it started and writes only
 * its own struct peer_work, whose completion the loop runs from the pool's eventfd.
 */
#ifndef VX_PEER_INT_H
#define VX_PEER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vx_bucket.h"
#include "vx_ctl_msg.h"
#include "vx_fetcher.h"
#include "vx_list.h"
#include "vx_log.h"
#include "vx_loop.h"
#include "vx_metrics.h"
#include "vx_origin.h"
#include "vx_peer.h"
#include "vx_pool.h"
#include "vx_ring.h"
#include "vx_sched_client.h"
#include "vx_source.h"
#include "vx_store.h"
#include "vx_task_id.h"
#include "vx_upload.h"

/* Housekeeping period of the loop: scheduler timers, progress batches, deadlines. */
#define PEER_TICK_MS 20u
/* A progress report goes out at least this often while pieces land, or at this many. */
#define PEER_REPORT_MS	   200u
#define PEER_REPORT_PIECES 16u
/* Digests in one progress message (the codec allows 32768; frames stay far below 1 MiB). */
#define PEER_DIGESTS_PER_MSG 4096u
/* Per-parent cost records kept between reports. */
#define PEER_COSTS_MAX 16u
/* Parents a task dropped for a stall, which its reschedules ask the scheduler to avoid and
 * its pushed answers skip, for PEER_AVOID_MS after the drop */
#define PEER_AVOID_MAX 8u
#define PEER_AVOID_MS  30000u
/* No scheduler answered a registration for this long: go to the source (if allowed). */
#define PEER_SCHED_WAIT_MS 5000u
/*
 * The scheduler answered WAIT (no parent free) for this long: go to the source, or fail when
 * back-to-source is disabled (vx_peer_cfg.wait_parents_ms overrides). In between the task
 * registers again, first after PEER_REREGISTER_MS, then twice as late each time.
 */
#define PEER_WAIT_PARENTS_MS 5000u
#define PEER_REREGISTER_MS   250u
/* A task fetching from peers got no piece for this long: ask for new parents. */
#define PEER_STALL_MS 10000u
/* A handover (upgrade): how long the old daemon's upload connections may take to finish the
 * answers they are sending (vx_upload_drain()); the rest is closed then. */
#define PEER_DRAIN_MS 10000u
/*
 * Parent failures in a row, with no piece from any parent in between, after which a running
 * task goes to the origin (or fails when back-to-source is disabled), whatever the scheduler
 * keeps answering: a parent the fetcher dropped (unreachable, garbage, stalled), an answer that
 * leaves the fetcher without a live parent (every candidate refused or banned), a PEER_STALL_MS
 * without a piece. Dragonfly's scheduler sends a peer back to the source after 5 failed
 * schedules (RetryBackToSourceLimit); without a bound here a scheduler that keeps naming bad
 * parents kept the task from its origin for ever.
 */
#define PEER_PARENT_FAILS_MAX 5u
/*
 * Piece bodies a peer sends at once; further answers wait their turn (FIFO). Few slots make
 * each piece arrive whole sooner, so children can pass it on sooner (BitTorrent's upload
 * slots); vx-bench swarm measured the value.
 */
#define PEER_UPLOAD_SLOTS 4u
/* A running task asks the scheduler for a fresh parent set this often. */
#define PEER_REFRESH_MS 2000u
/* Job progress callbacks at most this often (the final one always). */
#define PEER_JOB_PROGRESS_MS 100u
/* Candidates remembered while the task's geometry is not known yet. */
#define PEER_PENDING_CANDS 64u
/* Proven accesses to private tasks (peer_access.c): remembered this long, at most this many. */
#define PEER_ACCESS_TTL_MS  60000u
#define PEER_ACCESS_SLOTS   256u
#define PEER_ACCESS_KEY_LEN 32u /* sha256 of the URL and the credential headers */

struct vx_peer;
struct peer_task;
struct peer_probe;

/* One proven access: this URL and credential headers may read this private task. */
struct peer_access {
	uint8_t key[PEER_ACCESS_KEY_LEN];
	char task_id[VX_TASK_ID_LEN];
	uint64_t expires_ms; /* 0: free slot */
};

/* A foreign fd polled on the loop (multishot POLL_ADD). */
struct peer_poll {
	struct vx_op op;
	int fd;
	void (*fn)(struct vx_peer *p);
};

/* One download request waiting on a task. */
#define PEER_CREDS_SAVED_MAX 1024 /* supplementary groups of the daemon itself we restore */

/* What vx__peer_creds_enter() replaced. */
struct peer_creds_saved {
	uint32_t fsuid, fsgid;
	uint32_t nr_groups;
	uint32_t groups[PEER_CREDS_SAVED_MAX];
};

/*
 * vx__peer_creds_enter() - switch the calling thread's filesystem uid/gid and supplementary
 * groups to @j's client (peer_creds.c), saving the old ones in @s. Returns 0, or -errno with
 * nothing changed. vx__peer_creds_leave() switches back (and aborts the process if it cannot).
 */
struct peer_job;
VX_MUST_CHECK int vx__peer_creds_enter(const struct peer_job *j, struct peer_creds_saved *s);
void vx__peer_creds_leave(const struct peer_creds_saved *s);

struct peer_job {
	struct vx_list node; /* mailbox inbox, then the task's job list */
	struct vx_peer *peer;
	struct peer_task *task;
	char *url, *output, *digest, *tag, *app;
	char *id_content; /* the task id's content (vx_download_request.task_id_content), or NULL */
	char request_id[VX_REQUEST_ID_MAX + 1]; /* the client's, or "" */
	char **headers;
	uint32_t nr_headers;
	char **filtered;
	uint32_t nr_filtered;
	uint64_t piece_length;
	uint32_t timeout_ms;
	bool overwrite, no_bts, exporting, fd_sent;
	bool memory; /* vx_download_request.memory: keep the task in the store's memory tier */
	bool public_content; /* vx_download_request.public_content */
	/* a root daemon for an unprivileged client: act on files with the client's uid, gid
	 * and supplementary groups */
	bool as_client;
	uint32_t uid, gid;
	uint32_t nr_groups;
	uint32_t groups[VX_DOWNLOAD_GROUPS_MAX];
	/*
	 * Opened at the job's start (with the client's rights when as_client): the output's
	 * directory (O_PATH; every later step is relative to it, out_name one component) and a
	 * file:// source, -1 when none. The export never resolves the output path again.
	 */
	int out_dirfd;
	const char *out_name;	       /* points into output */
	struct vx_store_output *early; /* the output written during the download, or NULL */
	int src_fd;
	struct vx_peer_job_ops ops;
	void *arg;
	uint64_t start_ms, deadline_ms, last_progress_ms;
	uint64_t base_peers, base_source; /* task counters when the job attached */
	uint64_t reused;
	/* private tasks: the job reads nothing until its access is proven (peer_access.c) */
	uint8_t access_key[PEER_ACCESS_KEY_LEN];
	bool access_ok;		  /* proven (or the task is not private) */
	bool probe_retry;	  /* the pool was full: the tick starts the probe */
	struct peer_probe *probe; /* in flight, or NULL */
	atomic_bool cancelled;	  /* set by vx_peer_job_cancel() from any thread */
	struct vx_download_result res;
};

enum work_kind {
	WORK_OPEN = 0,	 /* stat the origin when needed, open the task in the store */
	WORK_FETCH = 1,	 /* fetch the missing pieces from the origin */
	WORK_EXPORT = 2, /* check the user's digest, put the content at a job's output */
	WORK_MEMORY = 3, /* put a complete task in the store's memory tier (preheat to memory) */
};

/* One blocking step, run on the peer's work pool; its result comes back on the loop. */
struct peer_work {
	struct vx_work item; /* the pool's from submit until done */
	struct vx_list node; /* peer->works_waiting while the pool's queue is full */
	enum work_kind kind;
	struct vx_peer *peer;
	struct peer_task *task;
	struct peer_job *job; /* WORK_EXPORT */
	int mem_fd; /* WORK_EXPORT of a stream-mode memory job: the memory copy, read-only, or -1 */
	bool stat_origin; /* WORK_OPEN: ask the origin for the length first */
	int rc;
	struct vx_download_result res;
	/* WORK_OPEN results */
	struct vx_store_task *st;
	uint64_t content_length, piece_length;
	bool regeometry; /* the origin's length differs from the stored task's: start over */
	struct vx_origin origin;
	bool have_origin;
};

/*
 * The task state machine (peer_task.c holds the diagram, the transition table and the
 * invariants). TASK_FREE is a table slot without a task: a zeroed struct peer_task.
 */
enum peer_task_state {
	TASK_FREE = 0,	  /* slot unused */
	TASK_LOOKUP,	  /* created: looking in the store */
	TASK_OPENING,	  /* WORK_OPEN runs; in.opening.then says what follows */
	TASK_REGISTERING, /* REGISTER sent, no answer yet */
	TASK_WAITING,	  /* the scheduler said wait, or gave parents before the geometry */
	TASK_RUNNING,	  /* content open: fetcher and/or origin fetch */
	TASK_COMPLETE,	  /* every piece is in the store (final) */
	TASK_FAILED,	  /* gave up; jobs got the error (final) */
	TASK_STATES,
};

/* What an open leads to once the content file is there. */
enum peer_open_then {
	OPEN_THEN_REGISTER = 0, /* a resumed partial copy: ask the scheduler (or the source) */
	OPEN_THEN_SOURCE = 1,	/* fetch from the origin */
	OPEN_THEN_PARENTS = 2,	/* fetch from the parents the scheduler named */
};

/* Who started the task: decides what happens when its last job leaves. */
enum peer_task_cause {
	CAUSE_JOB = 0,	   /* a download request: abandoned when its last job leaves */
	CAUSE_RESUME = 1,  /* found unfinished in the store at start: goes on alone */
	CAUSE_TRIGGER = 2, /* a seed asked by the scheduler to fetch from the origin */
	CAUSE_PREHEAT = 3, /* the manager's preheat job: fetched like any download, kept alone */
};

/* The task's standing with the scheduler (one small machine beside the task's own). */
enum peer_task_link {
	LINK_NONE = 0,	   /* no scheduler for this task: none configured, or given up on */
	LINK_IDLE = 1,	   /* a scheduler is configured; nothing sent yet */
	LINK_SENT = 2,	   /* REGISTER sent, no answer or event yet */
	LINK_ANSWERED = 3, /* answered: progress reports flow */
	LINK_FINISHED = 4, /* FINISHED sent: nothing more to say */
};

/* Work items of a task in flight, as bits of peer_task.busy. */
#define TASK_BUSY_OPEN	 (1u << WORK_OPEN)
#define TASK_BUSY_FETCH	 (1u << WORK_FETCH)
#define TASK_BUSY_MEMORY (1u << WORK_MEMORY)

/* A trusted digest kept until the geometry is known. */
struct peer_digest {
	uint32_t piece;
	uint32_t crc32;
};

struct peer_cand {
	char host_id[VX_CTL_ID_MAX + 1];
	struct sockaddr_storage addr;
	socklen_t addr_len;
};

/* One task the peer drives. Loop thread only, except the atomics. */
struct peer_task {
	enum peer_task_state state; /* set by task_set_state() only */
	uint32_t slot, gen;	    /* the scheduler callbacks' handle: slot and generation */
	char id[VX_TASK_ID_LEN + 1];
	char *url;
	/*
	 * What the origin steps read instead of @url, "": @url. A file:// source opened with a
	 * client's rights is read through that descriptor (@src_fd, owned; -1 none) as
	 * "file:///proc/self/fd/N": the same file, never the path again (task_source_url()).
	 */
	char src_url[48];
	int src_fd;
	char **headers; /* of the first job, for the origin */
	uint32_t nr_headers;
	uint64_t user_piece_length;
	/* what the id is derived from besides url and user_piece_length (peer_source.c) */
	char *tag;
	char *app;
	char **filtered; /* none: the default list */
	uint32_t nr_filtered;
	/* a content task (vx_download_request.task_id_content): the id is sha256 of this, not of
	 * the URL's fields; the source is still url, its bytes checked by the request's digest */
	char *id_content;
	char requester[VX_CTL_ADDR_MAX + 1]; /* trigger: IP of the host the seed fetches for */
	bool requester_local;		     /* trigger: the scheduler says that host is this one */
	struct vx_list jobs;
	struct vx_peer *peer;
	enum peer_task_cause cause;
	bool reused_complete;	   /* the store held every piece when the task started */
	bool no_bts;		   /* every job disabled back-to-source */
	bool priv;		   /* private: fetched with credentials (sticky; peer_access.c) */
	bool priv_stored;	   /* the store holds the private mark */
	uint8_t busy;		   /* TASK_BUSY_* work items in flight */
	bool to_memory;		   /* preheated to memory: once complete, into the memory tier */
	uint64_t metrics_start_ms; /* when the task left TASK_FREE (peer_metrics.c) */
	char request_id[VX_REQUEST_ID_MAX + 1]; /* its first job's, for the scheduler and logs */

	/* per-state data, valid in the state named only; zeroed on entry by task_set_state() */
	union {
		struct {
			enum peer_open_then then;
		} opening;
		struct {
			uint64_t since_ms;
		} registering;
		struct {
			uint64_t since_ms;	   /* the first WAIT (the bound counts from it) */
			uint64_t next_register_ms; /* the next re-register */
			uint32_t backoff_ms;	   /* doubles after each re-register */
		} waiting;
		struct {
			uint64_t last_piece_ms, last_resched_ms;
			uint64_t wait_since_ms; /* a WAIT not followed by a piece or parents, 0 */
			uint32_t parent_fails;	/* since the last piece (PEER_PARENT_FAILS_MAX) */
		} running;
	} in;

	/* geometry, once known (piece_length != 0: see task_has_geometry()) */
	uint64_t content_length, piece_length;
	uint32_t piece_count;
	struct vx_store_task *st; /* held for DOWNLOAD once opened */
	uint8_t *from_fetcher;	  /* bitmap: pieces the fetcher committed */
	uint8_t *done;		  /* bitmap: finished pieces seen through the waiter */
	uint32_t pieces_done, prefix;
	uint64_t bytes_done;
	uint32_t *crc;	   /* trusted digests (scheduler manifest) */
	uint8_t *trusted;  /* bitmap of @crc entries that are set */
	uint32_t *pending; /* finished pieces not reported yet */
	uint32_t nr_pending;
	uint8_t *scratch_bits; /* bitmap scratch of a progress message */

	/* the scheduler */
	enum peer_task_link link;
	bool origin;	     /* the scheduler made this peer the task's origin peer */
	bool resend_digests; /* an origin peer sends every digest it holds at the next report */
	uint64_t last_report_ms;
	struct peer_cand cands[PEER_PENDING_CANDS]; /* until the geometry is known */
	uint32_t nr_cands;
	struct peer_digest *early; /* digests that came before the geometry */
	uint32_t nr_early, cap_early;
	struct vx_ctl_cost costs[PEER_COSTS_MAX];
	char cost_ids[PEER_COSTS_MAX][VX_CTL_ID_MAX + 1];
	uint32_t nr_costs;
	char parent_ids[16][VX_CTL_ID_MAX + 1]; /* fetcher parent index -> host id */
	char avoid_ids[PEER_AVOID_MAX][VX_CTL_ID_MAX + 1];
	uint64_t avoid_until[PEER_AVOID_MAX]; /* 0: the slot is free */

	/* fetching */
	struct vx_fetcher *fetcher; /* from the first go at parents until the task is freed */
	struct ssl_ctx_st *fx_tls;  /* the fetcher's TLS context (a reference); NULL: plain */
	struct vx_origin origin_info;
	bool have_origin;
	atomic_bool cancel_source;
	/* What this task downloads, origin and peers together (cfg.rates.task_bps): spent by the
	 * origin's reads on source threads and by the fetcher on the loop */
	struct vx_rate rate;
	/* What a preheat's task fetches from its origin: the share of the control plane's
	 * preheat rate it was given (key 76), 0 none; spent by the origin's reads only */
	struct vx_rate source_rate;
	/* the upstream cluster failed and source.upstream_cluster.fallback let the task go
	 * to its origin (peer_work.c) */
	atomic_bool upstream_off;
	_Atomic uint64_t from_source; /* bytes, written by the origin fetch thread */
	_Atomic uint64_t source_seen; /* bytes in from the source, unfinished pieces included */
	uint64_t from_peers;

	/* the store's piece feed (armed or not: the waiter's own state says) */
	struct vx_store_waiter waiter;
	uint32_t cursor;
	int content_fd; /* read-only fd for stream jobs, -1 */
};

/* The geometry (content and piece length, piece count) is known once a piece length is. */
static inline bool task_has_geometry(const struct peer_task *t)
{
	return t->piece_length != 0;
}

struct peer_pki;

struct vx_peer_members;

struct vx_peer {
	struct vx_peer_cfg cfg;
	struct vx_source_upstream upstream; /* from cfg.upstream_*; proxy NULL: none */
	struct vx_peer_members *members;    /* members mode (peer_members.c); NULL: off */
	struct peer_pki *pki; /* certificate renewal and CRL refresh (peer_join.c); NULL: none */
	struct vx_tls_ctx *own_tls;   /* client context from DATA_DIR/tls (peer_tls.c); NULL */
	struct vx_tls_ctx *dp_srv;    /* the upload port's server context; NULL: plaintext */
	struct peer_tenants *tenants; /* a seed's: each task's tenant (peer_tenants.c); NULL */
	const void *fx_tls_seen;      /* the client SSL_CTX fetchers were last given (peer_tls.c) */
	uint64_t tls_check_ms;	      /* last look at the TLS files (loop thread) */
	char *data_dir;
	char host_id[VX_CTL_ID_MAX + 1];
	char host_key[65]; /* DATA_DIR/host.key (peer_hostkey.c), sent in hello */
	char addr[64];
	char hostname[128];
	struct sockaddr_storage listen_addr;
	socklen_t listen_len;
	uint16_t port;

	struct vx_store *store;
	struct vx_source_ctx *src;
	struct vx_loop *loop;
	struct vx_upload *up;
	struct vx_sched_client *sc;
	struct vx_store_notifier *notifier;
	struct peer_poll sc_poll, nt_poll;
	struct vx_loop_ticker ticker;
	pthread_t thread;
	bool thread_started;

	/* start-up handshake with vx_peer_new() */
	pthread_mutex_t mail_lock;
	pthread_cond_t ready_cond;
	bool ready;
	int start_rc;
	char *start_err;
	size_t start_err_len;

	/* mailbox (under mail_lock) */
	struct vx_list inbox_jobs;
	struct vx_list inbox_cache; /* scheduler requests of cache threads (peer_cache.c) */
	struct vx_list inbox_haves; /* pieces cache fetches finished, for the upload server */
	struct vx_list preheat_q;   /* preheats waiting for a task slot (peer_mgmt.c; loop) */
	uint32_t nr_preheat_q;
	atomic_uint cache_live;	       /* cache threads running */
	atomic_bool cache_stop;	       /* the peer stops: cache threads give up */
	atomic_bool cache_reann;       /* the re-announce thread runs */
	atomic_bool cache_reann_again; /* a scheduler came up since it started its pass */
	bool stopping;		       /* no new jobs */
	bool handover;		       /* vx_peer_handover(): stop without LEAVE (mail_lock) */
	/* download.rate_limit: what every fetcher of the daemon (tasks' and cache fetches') takes
	 * from parents, together; any thread */
	struct vx_rate download_rate;
	_Atomic uint64_t task_bps;     /* download.task_rate_limit now (cache threads read it) */
	struct ssl_ctx_st *fx_tls_cur; /* client SSL_CTX for new and cache fetchers (a reference;
					* the loop sets it, peer_tls.c); NULL: plaintext */
	uint32_t nr_jobs;	       /* jobs accepted and not done */

	/* loop thread */
	struct peer_task tasks[VX_PEER_TASKS_MAX];
	uint32_t gen;
	struct vx_pool *pool;	      /* blocking work: opens, origin fetches, exports */
	struct peer_poll pool_poll;   /* the pool's completion eventfd */
	struct vx_list works_waiting; /* peer_work items the full pool queue could not take */
	bool shutting_down;
	uint64_t last_load_ms;
	struct vx_ctl_digest *dig;		      /* PEER_DIGESTS_PER_MSG */
	char (*dig_str)[VX_STORE_DIGEST_STR_MAX];     /* PEER_DIGESTS_PER_MSG */
	struct peer_access access[PEER_ACCESS_SLOTS]; /* proven accesses (loop thread) */
	/* the cluster configuration (peer_ccfg.c, loop thread) */
	uint64_t ccfg_version; /* applied last */
	uint64_t ccfg_want;    /* the newest told */
	bool ccfg_fetching;
};

/* peer_ccfg.c: event 9 or a hello answer's cfg_version: fetch the document when newer */
void vx__peer_ccfg_event(struct vx_peer *p, const struct vx_ctl_msg *m);
/* Wakes the loop thread; requires p->mail_lock (the thread clears p->loop under it before it
 * frees the loop, so a waker never writes to a freed loop). */
void vx__peer_wake_locked(struct vx_peer *p);

/* peer.c */
int vx__peer_sched_send(struct vx_peer *p, struct vx_ctl_msg *m);

/* peer_tls.c: the TLS contexts of both planes (built after the join, before the loop). */
int vx__peer_tls_setup(struct vx_peer *p, char *err, size_t err_len);
void vx__peer_tls_free(struct vx_peer *p);
void vx__peer_tls_upload(struct vx_peer *p, struct vx_upload_cfg *uc);

/* peer_members.c: members mode. Start (before the loop thread: parses and resolves
 * cfg.members into cfg.schedulers and runs the embedded scheduler), the Vortex port's hand-over
 * of control connections (vx_upload_cfg.on_control, ctx the peer), the scheduler client's
 * silence limit, and stop (after the loop thread ended). */
int vx__peer_members_start(struct vx_peer *p, char *err, size_t err_len);
void vx__peer_members_on_control(void *ctx, int fd, const uint8_t *pre, size_t len);
uint32_t vx__peer_members_heartbeat_ms(const struct vx_peer *p);
uint32_t vx__peer_members_silence_ms(const struct vx_peer *p);
/* Loop thread, every tick: a DNS name that resolves to another list now updates the client. */
void vx__peer_members_tick(struct vx_peer *p);
void vx__peer_members_stop(struct vx_peer *p);
/* A reference of the client SSL_CTX for a fetcher (SSL_CTX_free() it after), NULL: plain. */
struct ssl_ctx_st *vx__peer_tls_fetcher(struct vx_peer *p);
/*
 * For a fetcher on another thread (a cache fetch) holding @mine: a reference of the client
 * SSL_CTX when it is not @mine any more (a renewal, a new CRL: vx_fetcher_set_tls() it, then
 * SSL_CTX_free(@mine)), else NULL. Any thread.
 */
struct ssl_ctx_st *vx__peer_tls_fetcher_if_new(struct vx_peer *p, struct ssl_ctx_st *mine);
void vx__peer_tls_tick(struct vx_peer *p, uint64_t now_ms);

/* peer_task.c */
/*
 * vx__peer_fetch_mirror() - @fx writes every piece it fetches from now on to the output @o
 * too (attached to @st's geometry here; vx_fetcher_set_mirror()). Loop thread of @fx; BLOCKING
 * for the output's fallocate. Returns 0 when set, 1 when @o cannot take it (attached before,
 * or unusable: the export copies instead), -errno when @fx refuses.
 */
int vx__peer_fetch_mirror(struct vx_fetcher *fx, struct vx_store_output *o,
			  struct vx_store_task *st);
void vx__peer_job_start(struct vx_peer *p, struct peer_job *j);
void vx__peer_job_finish(struct vx_peer *p, struct peer_job *j);
void vx__peer_job_fail(struct vx_peer *p, struct peer_job *j, int rc, enum vx_download_stage stage,
		       const char *fmt, ...) VX_PRINTF(5, 6);
void vx__peer_work_done(struct vx_peer *p, struct peer_work *w);
void vx__peer_on_answer(struct vx_peer *p, struct peer_task *t, int status,
			const struct vx_ctl_msg *m);
/* peer_source.c: a task's source and the checks before anything is fetched from it. */
int vx__peer_source_set(struct peer_task *t, const char *tag, const char *app,
			const char *const *filtered, uint32_t nr_filtered);
int vx__peer_source_from_trigger(struct peer_task *t, const struct vx_ctl_msg *m);
void vx__peer_source_free(struct peer_task *t);
int vx__peer_source_check(const struct peer_task *t, char *why, size_t why_len);
void vx__peer_source_outbound(const struct vx_peer *p, struct peer_task *t,
			      struct vx_origin_opts *o);
const struct vx_source_upstream *vx__peer_source_upstream(const struct vx_peer *p,
							  const struct peer_task *t);
void vx__peer_source_reg(const struct peer_task *t, struct vx_sched_client_task *rt,
			 struct vx_ctl_str *filt);

void vx__peer_on_event(struct vx_peer *p, const struct vx_ctl_msg *m);
void vx__peer_on_progress_answer(struct vx_peer *p, struct peer_task *t, int status,
				 const struct vx_ctl_msg *m);
void vx__peer_tick(struct vx_peer *p, uint64_t now);
void vx__peer_drain_notifier(struct vx_peer *p);
void vx__peer_resume(struct vx_peer *p);
void vx__peer_shutdown_tasks(struct vx_peer *p);
/* Reads DATA_DIR/host.key into @key (65 bytes), creating it (0600) on first start. */
int vx__peer_host_key(const char *dir, char *key, char *err, size_t err_len);
/*
 * vx__peer_pki_start() - with schedulers and no operator PKI: join with @join_token when
 * DATA_DIR/tls/cert.pem is missing (NULL: stay unjoined), then renew and refresh the CRL in a
 * thread of its own. Returns 0 or a negative errno with @err (no secret in it).
 */
int vx__peer_pki_start(struct vx_peer *p, const char *join_token, char *err, size_t err_len);
/* Stops the renewal thread; a no-op without one. */
void vx__peer_pki_stop(struct vx_peer *p);
/*
 * The host id sent in hello: "HOSTNAME-H" with H the first 16 hex digits of sha256(@key), so
 * only the holder of the key can name it (a squatter cannot bind it first) and it survives
 * restarts with the key. Without a key (no scheduler): "IP-HOSTNAME-PORT", never sent.
 */
/*
 * vx__peer_pick_addr() - p->addr, the address given to the schedulers (peer_addr.c): @cfg's
 * advertise, else @p->listen_addr's IP, the host's routable one for a wildcard. Returns 0, or
 * -EINVAL with @err (not an IP; a loopback address for a scheduler not on loopback).
 */
int vx__peer_pick_addr(struct vx_peer *p, const struct vx_peer_cfg *cfg, char *err, size_t err_len);

void vx__peer_host_id(const char *key, const char *hostname, const char *ip, uint16_t port,
		      char *out, size_t len);
bool vx__peer_tasks_idle(struct vx_peer *p);
struct peer_task *vx__peer_task_find(struct vx_peer *p, const char *id);

/* peer_tenants.c: a seed without a tenant learns each task's from the scheduler (key 89) */
void vx__peer_tenant_learn(struct vx_peer *p, const char *task_id, const struct vx_ctl_msg *m);
bool vx__peer_tenant_may_read(struct vx_peer *p, const char *task_id, const char *tenant);
bool vx__peer_tenant_cache_task(struct vx_peer *p, const char *task_id);
void vx__peer_tenants_free(struct vx_peer *p);
/*
 * Starts task @id for @url alone (no job waits on it) and registers it, with @nr_headers origin
 * request headers (taken on success; NULL, 0: none; credentials make the task private);
 * @to_memory: once complete it goes to the store's memory tier. NULL: table full.
 */
struct peer_task *vx__peer_task_start(struct vx_peer *p, const char *id, const char *url,
				      uint64_t piece_len, enum peer_task_cause cause,
				      bool to_memory, char **headers, uint32_t nr_headers);
/* A complete task with to_memory set: load it into the memory tier on the work pool. */
void vx__peer_task_to_memory(struct vx_peer *p, struct peer_task *t);
/* peer_mgmt.c: the manager's events (VX_CTL_EV_PREHEAT[_MEMORY], VX_CTL_EV_EVICT). */
void vx__peer_on_mgmt_event(struct vx_peer *p, const struct vx_ctl_msg *m);
/* starts the preheats that waited for a task slot, as slots free (loop thread, each tick) */
void vx__peer_mgmt_tick(struct vx_peer *p);
/* frees the preheats still waiting (the loop has ended) */
void vx__peer_mgmt_free(struct vx_peer *p);

void vx__peer_access_proved(struct vx_peer *p, struct peer_job *j, int rc,
			    const struct vx_download_result *res);

/* peer_access.c */
/* whether @j's request makes its task private (credentials in its URL, filter list, headers) */
bool vx__peer_request_private(const struct peer_job *j);
/* whether one of @nr header lines carries a credential (Authorization, Cookie, ...) */
bool vx__peer_headers_private(char *const *headers, uint32_t nr);
/* wipes (they may hold credentials) and frees @nr header lines and their array; NULL is a no-op */
void vx__peer_headers_free(char **headers, uint32_t nr);
void vx__peer_access_key(const char *url, char *const *headers, uint32_t nr_headers,
			 uint8_t key[PEER_ACCESS_KEY_LEN]);
bool vx__peer_access_cached(struct vx_peer *p, const uint8_t key[PEER_ACCESS_KEY_LEN],
			    const char *task_id);
void vx__peer_access_remember(struct vx_peer *p, const uint8_t key[PEER_ACCESS_KEY_LEN],
			      const char *task_id);
/* Starts @j's access probe on the pool: 0, -EAGAIN (queue full: try again), -ENOMEM. */
int vx__peer_probe_start(struct vx_peer *p, struct peer_job *j);
/* @j goes: a probe in flight forgets it. */
void vx__peer_probe_detach(struct peer_job *j);

/* peer_work.c */
bool vx__peer_works_idle(struct vx_peer *p);
/* After the pool is freed: completes every item still waiting with -ECANCELED. */
void vx__peer_works_cancel_waiting(struct vx_peer *p);
int vx__peer_work_start(struct vx_peer *p, struct peer_task *t, struct peer_job *j,
			enum work_kind kind, bool stat_origin);
void vx__peer_job_free(struct peer_job *j);

/* peer_metrics.c: a task's transition; a back-to-source fetch of @url that ended with @rc */
void vx__peer_metrics_task(struct peer_task *t, enum peer_task_state from, enum peer_task_state to);
void vx__peer_metrics_source(const char *url, int rc);

/* peer_cache.c: sends the cache threads' scheduler requests (loop thread, from on_wake). */
void vx__peer_cache_drain(struct vx_peer *p);
/* peer_cache.c: stop the cache threads and wait for them (vx_peer_free, loop joined). */
void vx__peer_cache_quiesce(struct vx_peer *p);
/* peer_cache.c: an EV_REPLICATE event: fetch the persistent cache task (loop thread). */
void vx__peer_cache_replicate(struct vx_peer *p, const struct vx_ctl_msg *m);
/* a scheduler answered our hello: tell the schedulers of the persistent cache copies held here
 * (in the background, one pass at a time) */
void vx__peer_cache_reannounce(struct vx_peer *p);

#endif /* VX_PEER_INT_H */
