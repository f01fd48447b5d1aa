/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_sched.h: the scheduler core. Pure logic, no I/O and no clock of its own (every call takes
 * now_ms), so it runs the same in the server, in unit tests and in the in-process swarm bench.
 *
 * It keeps hosts, tasks and peers (one peer = one host downloading one task) in tables sized at
 * vx_sched_new(); each has a state machine written as a legal[from][to] table (spec/control.md)
 * and checked on every transition. Per task it keeps an indexed max-heap of the peers that can
 * serve as parents, keyed by a child-independent score that is updated incrementally, so a
 * decision looks at the top of the heap (O(k log N)) instead of scanning the swarm.
 *
 * Not thread-safe: one thread owns a struct vx_sched.
 */
#ifndef VX_SCHED_H
#define VX_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "vx_compiler.h"
#include "vx_ctl_msg.h"
#include "vx_task_id.h"

struct vx_sched;

#define VX_SCHED_CANDS_MAX   8	/* parents handed out per answer, hard cap */
#define VX_SCHED_BLOCKED_MAX 32 /* lying hosts remembered per task */
#define VX_SCHED_LOC_DEPTH   5	/* location path elements compared */
#define VX_SCHED_FLOWS_MAX   64 /* who-fetched-from-whom edges recorded per task */
#define VX_SCHED_BANNED_MAX  64 /* host ids on the blocklist */
#define VX_SCHED_NO_HOST     UINT32_MAX

enum vx_sched_policy {
	VX_SCHED_POLICY_VX = 0,	       /* whole-swarm heap, measured throughput */
	VX_SCHED_POLICY_DRAGONFLY = 1, /* random 15, 0.6 load + 0.2 idc + 0.1 loc + 0.1 type */
};

enum vx_sched_host_state {
	VX_SCHED_HOST_FREE = 0, /* slot unused */
	VX_SCHED_HOST_ACTIVE = 1,
	VX_SCHED_HOST_SILENT = 2, /* connection lost; kept for a grace period */
	VX_SCHED_HOST_STATE_NR,
};

enum vx_sched_task_state {
	VX_SCHED_TASK_FREE = 0,
	VX_SCHED_TASK_PENDING = 1,   /* known, nobody fetching */
	VX_SCHED_TASK_RUNNING = 2,   /* an origin fetch or peers are under way */
	VX_SCHED_TASK_SUCCEEDED = 3, /* a full copy exists in the swarm */
	VX_SCHED_TASK_FAILED = 4,    /* the origin fetch failed; next registrant restarts it */
	VX_SCHED_TASK_STATE_NR,
};

enum vx_sched_peer_state {
	VX_SCHED_PEER_FREE = 0,
	VX_SCHED_PEER_PENDING = 1,	  /* registered, not answered yet */
	VX_SCHED_PEER_RECEIVED = 2,	  /* answered with parents (or wait) */
	VX_SCHED_PEER_RUNNING = 3,	  /* reported pieces */
	VX_SCHED_PEER_BACK_TO_SOURCE = 4, /* fetching from the origin */
	VX_SCHED_PEER_SUCCEEDED = 5,	  /* holds every piece */
	VX_SCHED_PEER_FAILED = 6,	  /* gave up; kept until leave or GC */
	VX_SCHED_PEER_STATE_NR,
};

struct vx_sched_cfg {
	enum vx_sched_policy policy;
	uint32_t hosts_max; /* table sizes, fixed at start */
	uint32_t tasks_max;
	uint32_t peers_max;
	uint32_t task_peers_max;     /* peers of one task */
	uint32_t host_peers_max;     /* tasks one host may register at once */
	uint32_t seed_peers_max;     /* the same for a seed (it keeps what it fetched: a cache) */
	uint32_t pieces_max;	     /* pieces of one task (manifest and bitmaps) */
	uint32_t cands;		     /* parents per answer (<= VX_SCHED_CANDS_MAX) */
	uint32_t origin_max;	     /* peers fetching one task from the origin at once */
	uint32_t origin_stalled_max; /* the bound once the origin peer stalls */
	uint64_t origin_stall_ms;    /* no progress from every origin peer this long: stalled */
	uint64_t host_grace_ms;	     /* a silent host is dropped after this */
	/*
	 * A full task table frees, to make room, the task idle longest among those no host
	 * holds in full and none of whose peers made progress for this long (failed seeds,
	 * abandoned or phantom registrations); tasks with a full copy are never evicted.
	 */
	uint64_t task_stale_ms;
	uint32_t bootstrap_done; /* full copies on normal hosts after which seeds are shielded */
	uint64_t default_bps;	 /* assumed upload rate of a host that declares none */
	uint64_t rng_seed;	 /* the dragonfly policy's sampling */
	uint32_t events_max;	 /* queued server pushes */
	uint64_t child_min_bps;	 /* vx: a host takes no more children than it can feed at this */
	/*
	 * vx: a parent need not rank ahead of its child; any peer holding pieces the child lacks
	 * may be offered, so pieces flow both ways between running peers (cycles allowed) and
	 * every uplink of the swarm works. A running peer that gets its first pieces is offered
	 * at once to peers that have fewer than @cands parents. Default on; off gives the strict
	 * rank order (a DAG), as Dragonfly keeps.
	 */
	bool mesh;
	/*
	 * vx: peers of one task per rack (hosts of one location label) that take parents
	 * in other racks; the others take parents in their own rack only (sched_pick.c, the rack
	 * rule). Default 1; 0: no rule (remote parents only rank lower by the affinity factor).
	 */
	uint32_t rack_fetchers;
};

/* Fills @cfg with the defaults (documented in spec/control.md). */
void vx_sched_cfg_default(struct vx_sched_cfg *cfg);

/*
 * vx_sched_new() - allocate a scheduler with the tables @cfg (borrowed) asks for. Returns 0 and
 * *@out (owned, free with vx_sched_free()), -EINVAL for a bad cfg, -ENOMEM.
 */
VX_MUST_CHECK int vx_sched_new(struct vx_sched **out, const struct vx_sched_cfg *cfg);
/* Takes @s; NULL is a no-op. */
void vx_sched_free(struct vx_sched *s);

/* What a host says about itself in hello (strings borrowed for the call). */
struct vx_sched_host_info {
	struct vx_ctl_str id;
	struct vx_ctl_str addr;
	uint16_t port;
	struct vx_ctl_str idc;
	struct vx_ctl_str location;
	uint32_t role;		/* enum vx_ctl_role, already authorised by the caller */
	uint32_t slots;		/* 0: default */
	uint64_t bandwidth_bps; /* 0: unknown */
	/* the tenant its certificate names (vx_tls.h; "" or none: the public tenant) */
	struct vx_ctl_str tenant;
};

/*
 * vx_sched_hello() - add or refresh a host (SILENT hosts become ACTIVE again, keeping their
 * peers). Returns the host handle (>= 0) or -ENOSPC (table full), -EINVAL (empty id), -ENOMEM.
 * Handles stay valid until vx_sched_host_leave() or the silent-host GC.
 */
VX_MUST_CHECK int vx_sched_hello(struct vx_sched *s, const struct vx_sched_host_info *info,
				 uint64_t now_ms);
/* Periodic load report. Returns 0 or -ENOENT for a stale handle. */
int vx_sched_announce(struct vx_sched *s, uint32_t host, uint32_t uploads, uint64_t tx_bps,
		      uint64_t now_ms);
/* The connection of @host is gone: its peers stop being parents; children get new ones. */
void vx_sched_host_silent(struct vx_sched *s, uint32_t host, uint64_t now_ms);
/* @host leaves for good: every peer of it leaves. */
void vx_sched_host_leave(struct vx_sched *s, uint32_t host, uint64_t now_ms);
/* The opaque pointer the server keeps per host (its connection); NULL by default. */
void vx_sched_host_set_ctx(struct vx_sched *s, uint32_t host, void *ctx);
void *vx_sched_host_ctx(const struct vx_sched *s, uint32_t host);
/* The host's id (lent until the host goes), or NULL for a stale handle. */
const char *vx_sched_host_id(const struct vx_sched *s, uint32_t host);
/* Whether @host holds cfg.host_peers_max tasks (seed_peers_max for a seed): its next register
 * is refused (-ENOSPC). */
bool vx_sched_host_full(const struct vx_sched *s, uint32_t host);

/* A register request (all borrowed for the call). */
struct vx_sched_reg {
	struct vx_ctl_str task_id; /* 64 lowercase hex */
	struct vx_ctl_str url;
	uint64_t piece_len;  /* 0: unknown yet */
	int64_t content_len; /* -1: unknown */
	bool need_bts;	     /* ask to fetch from the origin (seed triggered by us) */
	bool priv;	     /* the request carried credentials: the task is private for good */
	/* what the task id is derived from besides url: the url is bound to the task only when
	 * these derive its id (vx_task_id_from_url); a trigger hands them to the seed */
	uint32_t id_kind; /* enum vx_ctl_id_kind; only URL tasks get a source */
	struct vx_ctl_str tag;
	struct vx_ctl_str app;
	uint64_t fixed_piece_len;	   /* user-fixed piece length; 0 none */
	const struct vx_ctl_str *filtered; /* none: the default list */
	uint32_t nr_filtered;
	uint32_t bitmap_base; /* pieces already held (re-register after failover) */
	const uint8_t *bitmap;
	uint32_t bitmap_len;
};

/*
 * The answer to register/reschedule. Strings and digests are lent until the next call into
 * the scheduler.
 */
struct vx_sched_answer {
	enum vx_ctl_answer kind;
	uint32_t nr_cands;
	struct vx_ctl_cand cands[VX_SCHED_CANDS_MAX];
	uint32_t piece_count; /* 0: unknown */
	uint64_t piece_len;
	int64_t content_len;
	struct vx_ctl_digest *digests; /* trusted manifest entries this peer has not seen */
	uint32_t nr_digests;
	bool priv; /* the task is private: a peer proves a client's access before serving it */
	/* to a seed without a tenant only: the task's tenant ("" public), which the seed serves
	 * the task's pieces to (spec/peer.md "TLS"); NULL for everyone else */
	const char *tenant;
};

/*
 * vx_sched_register() - @host registers for a task; the answer is written to @ans. Returns 0,
 * -ENOENT (stale host), -ENOSPC (a table is full), -EINVAL (bad task id or piece numbers),
 * -EPERM (the task is being deleted), -ENOMEM.
 */
VX_MUST_CHECK int vx_sched_register(struct vx_sched *s, uint32_t host,
				    const struct vx_sched_reg *req, uint64_t now_ms,
				    struct vx_sched_answer *ans);

/* A progress batch of one peer (all borrowed for the call). */
struct vx_sched_progress {
	struct vx_ctl_str task_id;
	uint32_t bitmap_base; /* newly finished pieces, MSB first */
	const uint8_t *bitmap;
	uint32_t bitmap_len;
	const struct vx_ctl_digest *digests; /* only trusted from origin peers */
	uint32_t nr_digests;
	const struct vx_ctl_cost *costs; /* measured transfers per parent */
	uint32_t nr_costs;
	uint64_t content_len_hint; /* origin peers: the size the source reported, 0 none */
	uint64_t piece_len_hint;
};

/*
 * vx_sched_progress() - record a progress batch. Digests from a peer that is not fetching from
 * the origin are ignored; a digest that disagrees with one already trusted is refused (-EPROTO,
 * nothing else of the batch is lost). Manifest entries the peer has not seen yet are lent in
 * @digests and @nr_digests until the next call. Returns 0, -ENOENT (no such peer), -EINVAL.
 */
VX_MUST_CHECK int vx_sched_progress(struct vx_sched *s, uint32_t host,
				    const struct vx_sched_progress *p, uint64_t now_ms,
				    struct vx_ctl_digest **digests, uint32_t *nr_digests);

/*
 * vx_sched_reschedule() - new parents for a peer, avoiding the hosts named in @avoid (borrowed).
 * Current parents are released first. Returns 0 or -ENOENT.
 */
VX_MUST_CHECK int vx_sched_reschedule(struct vx_sched *s, uint32_t host, struct vx_ctl_str task_id,
				      const struct vx_ctl_str *avoid, uint32_t nr_avoid,
				      uint64_t now_ms, struct vx_sched_answer *ans);

/*
 * vx_sched_mismatch() - @host says parent @parent_id sent piece @piece that failed the trusted
 * digest. Believed only when @parent_id is currently a parent of that peer: the parent's host is
 * then blocked for the task, stops being a parent and its children are rescheduled. Returns 0,
 * -ENOENT (no such peer), -EPERM (not a parent of the reporter).
 */
int vx_sched_mismatch(struct vx_sched *s, uint32_t host, struct vx_ctl_str task_id,
		      struct vx_ctl_str parent_id, uint32_t piece, uint64_t now_ms);

/* The peer holds every piece. Returns 0, -ENOENT, or -EPROTO when pieces are missing. */
int vx_sched_finished(struct vx_sched *s, uint32_t host, struct vx_ctl_str task_id,
		      uint64_t now_ms);
/* The peer gave up. Returns 0 or -ENOENT. */
int vx_sched_failed(struct vx_sched *s, uint32_t host, struct vx_ctl_str task_id, uint64_t now_ms);
/*
 * vx_sched_refused() - a seed refused to fetch the task for the host that triggered it (the
 * URL does not derive the id, a file: URL, an address the requester may not reach): its peer
 * leaves and, unlike a failed origin, no normal peer is made the origin in its place, so a
 * hostile registrant cannot win the origin role (and the manifest) by triggering a refusal.
 * The next register triggers the seed again, for that requester. A normal host's report is
 * vx_sched_failed(). Returns 0 or -ENOENT.
 */
int vx_sched_refused(struct vx_sched *s, uint32_t host, struct vx_ctl_str task_id, uint64_t now_ms);
/* The peer leaves the task (its record is freed). Returns 0 or -ENOENT. */
int vx_sched_leave(struct vx_sched *s, uint32_t host, struct vx_ctl_str task_id, uint64_t now_ms);

struct vx_sched_task_stat {
	enum vx_sched_task_state state;
	uint32_t peers;
	uint32_t done_peers; /* SUCCEEDED peers */
	uint32_t origin_peers;
	uint32_t piece_count;
	uint32_t manifest_pieces; /* trusted digests known */
	uint64_t piece_len;
	int64_t content_len;
};

/* Returns 0 and fills @st, or -ENOENT. */
int vx_sched_stat(const struct vx_sched *s, struct vx_ctl_str task_id,
		  struct vx_sched_task_stat *st);
/* Every peer of the task leaves and the task is forgotten. Returns 0 or -ENOENT. */
int vx_sched_delete_task(struct vx_sched *s, struct vx_ctl_str task_id, uint64_t now_ms);
/* The state of @host's peer for @task_id, or VX_SCHED_PEER_FREE when there is none. */
enum vx_sched_peer_state vx_sched_peer_state(const struct vx_sched *s, uint32_t host,
					     struct vx_ctl_str task_id);

/* One host as the management plane sees it (sched_query.c); strings lent until the next call. */
struct vx_sched_host_view {
	uint32_t host; /* handle */
	const char *id;
	const char *addr;
	uint16_t port;
	uint32_t role;	    /* enum vx_ctl_role */
	bool active;	    /* ACTIVE, not SILENT */
	bool banned;	    /* on the blocklist (vx_sched_ban) */
	uint32_t uploads;   /* uploads running, as announced */
	uint64_t tx_bps;    /* upload rate, as announced */
	uint64_t rx_peer;   /* bytes fetched from peers (from its cost reports) */
	uint64_t rx_origin; /* bytes fetched from origins (its pieces as an origin peer) */
	uint64_t tx_bytes;  /* bytes its children reported fetched from it */
	uint32_t nr_peers;  /* tasks it is a peer of */
	const char *tenant; /* its certificate's tenant; "": the public tenant */
};

/* Fills up to @max hosts (ACTIVE and SILENT) into @out; returns how many. */
uint32_t vx_sched_hosts_list(const struct vx_sched *s, struct vx_sched_host_view *out,
			     uint32_t max);

/*
 * The Vortex address of @host: @addr lent until the host goes. Returns 0, or -ENOENT (stale
 * handle, or a host that gave no address).
 */
int vx_sched_host_addr(const struct vx_sched *s, uint32_t host, struct vx_ctl_str *addr,
		       uint16_t *port);

/* One peer of a task: which host, how far. */
struct vx_sched_holder {
	uint32_t host;
	enum vx_sched_peer_state state;
	uint32_t finished;    /* pieces held */
	uint32_t piece_count; /* 0: unknown yet */
};

/* Fills up to @max peers of @task_id into @out; returns how many (0: unknown task). */
uint32_t vx_sched_task_holders(const struct vx_sched *s, struct vx_ctl_str task_id,
			       struct vx_sched_holder *out, uint32_t max);

/* sched_view.c: views for the management plane's console (linear scans; per API request). */

/* One task; strings lent until the next call into the scheduler. */
struct vx_sched_task_view {
	const char *id;
	const char *url;    /* NULL: not bound (not derived from a URL yet); never redacted here */
	bool priv;	    /* some register carried credentials */
	const char *tenant; /* of the host that registered it first; "": public */
	enum vx_sched_task_state state;
	uint32_t peers;
	uint32_t done_peers;
	uint32_t piece_count;
	uint64_t piece_len;
	int64_t content_len;
};

/* Fills up to @max tasks into @out, skipping the first @skip; returns how many. */
uint32_t vx_sched_tasks_list(const struct vx_sched *s, struct vx_sched_task_view *out,
			     uint32_t skip, uint32_t max);
/* The tenant of task @id ("": public; lent until the task goes), or NULL: no such task. */
const char *vx_sched_task_tenant(const struct vx_sched *s, struct vx_ctl_str id);

/* One recorded edge of a task's swarm: @child fetched @bytes from @parent. */
struct vx_sched_flow_view {
	const char *parent; /* host id; NULL: the origin; "" a host that has gone */
	const char *child;  /* host id; "" a host that has gone */
	uint64_t bytes;
};

/*
 * vx_sched_task_flows() - the edges recorded for @task_id (at most VX_SCHED_FLOWS_MAX; later
 * ones are counted in *@dropped, not kept). Returns how many went into @out (0: unknown task).
 */
uint32_t vx_sched_task_flows(const struct vx_sched *s, struct vx_ctl_str task_id,
			     struct vx_sched_flow_view *out, uint32_t max, uint32_t *dropped);

/*
 * vx_sched_ban() - put host id @id on the blocklist (@on) or take it off: a listed host is never
 * offered as a parent, now or when it comes back. Returns 0, -ENOSPC (VX_SCHED_BANNED_MAX ids
 * listed), -EINVAL (empty or too long id), -ENOMEM.
 */
VX_MUST_CHECK int vx_sched_ban(struct vx_sched *s, const char *id, bool on);

/* Timers: stalled origin peers, silent hosts past their grace. Call about once a second. */
void vx_sched_tick(struct vx_sched *s, uint64_t now_ms);

/* A server push the scheduler wants sent (EV_PARENTS, EV_BACK_TO_SOURCE, EV_TRIGGER). */
struct vx_sched_event {
	uint32_t host; /* the receiver */
	enum vx_ctl_event kind;
	char task_id[VX_TASK_ID_LEN + 1];
	struct vx_sched_answer ans; /* EV_PARENTS: the candidates; others: piece info */
	/* EV_TRIGGER: what to fetch and what its id is derived from (lent like ans) */
	struct vx_ctl_str url;
	struct vx_ctl_str tag;
	struct vx_ctl_str app;
	uint64_t fixed_piece_len;
	const struct vx_ctl_str *filtered;
	uint32_t nr_filtered;
	struct vx_ctl_str requester; /* IP of the host that asked, as the scheduler saw it */
	bool requester_local;	     /* it connects from the seed's own address: the same host */
};

/*
 * vx_sched_next_event() - pop the next queued push into @ev (contents lent until the next call
 * into the scheduler). Candidates are chosen at pop time, so they are fresh. Returns true when
 * an event was popped. Pushes to hosts that left are dropped silently.
 */
bool vx_sched_next_event(struct vx_sched *s, struct vx_sched_event *ev, uint64_t now_ms);

/* Counters for logs and benches. */
struct vx_sched_stats {
	uint64_t decisions;   /* register + reschedule answers computed */
	uint64_t answers_bts; /* answered back-to-source */
	uint64_t answers_wait;
	uint64_t cands_given;
	uint64_t cycles_refused; /* candidates dropped because of a cycle */
	uint64_t rack_refused;	 /* candidates dropped by the rack rule (in another rack) */
	uint64_t events_dropped; /* queue full */
	uint64_t tasks_evicted;	 /* stale tasks freed for room (task_stale_ms) */
	uint32_t hosts;
	uint32_t tasks;
	uint32_t peers;
	uint64_t bytes_from_peers;  /* as hosts reported them (costs), since start */
	uint64_t bytes_from_origin; /* pieces origin peers fetched, since start */
};
void vx_sched_get_stats(const struct vx_sched *s, struct vx_sched_stats *st);

/* Names for logs. */
const char *vx_sched_peer_state_name(enum vx_sched_peer_state st);
const char *vx_sched_task_state_name(enum vx_sched_task_state st);

/* True when @from -> @to is a legal transition of the state machine (spec/control.md). */
bool vx_sched_peer_legal(enum vx_sched_peer_state from, enum vx_sched_peer_state to);
bool vx_sched_task_legal(enum vx_sched_task_state from, enum vx_sched_task_state to);
bool vx_sched_host_legal(enum vx_sched_host_state from, enum vx_sched_host_state to);

/* Debug check of every invariant (heaps, edges, counters); true when all hold. O(N). */
bool vx_sched_check(const struct vx_sched *s);

#endif /* VX_SCHED_H */
