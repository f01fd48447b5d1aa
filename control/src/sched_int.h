/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched_int.h: the scheduler core's tables, shared by sched.c (state, edges, events) and
 * sched_pick.c (scoring and parent choice). Not a public header.
 *
 * Handles are table indexes. A peer's in-edges live inline in the peer (at most
 * VX_SCHED_CANDS_MAX); edge id = child * VX_SCHED_CANDS_MAX + slot, and each parent threads its
 * children through those ids, so adding or dropping an edge never allocates.
 */
#ifndef VX_SCHED_INT_H
#define VX_SCHED_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "vx_sched.h"
#include "vx_tls.h"

#define SCHED_NONE UINT32_MAX
/* seed triggers per task: a seed that fails on a source unbinds it for the next register */
#define SCHED_SEED_TRIES 4

/* Open-addressing map from a key to a table index; the key lives in the table entry. */
struct sched_map {
	uint32_t *slot; /* SCHED_NONE = empty */
	uint32_t mask;
};

struct sched_host {
	uint8_t state; /* enum vx_sched_host_state */
	uint8_t role;  /* enum vx_ctl_role */
	uint16_t port;
	uint32_t gen; /* bumped when the slot is reused, so queued events can spot it */
	char *id;
	char *addr;
	char *idc;
	char *loc;
	uint32_t slots;	       /* upload slots */
	uint32_t slots_eff;    /* children it may take now (vx: also bounded by its rate) */
	uint32_t children;     /* edges reserved on this host, all tasks */
	uint32_t child_hosts;  /* distinct hosts those edges lead to (the vx child limit) */
	uint32_t uploads;      /* self-reported uploads running */
	uint64_t bw_bps;       /* declared upload bandwidth (or the default) */
	uint64_t upload_bytes; /* sum of content lengths of its children (dragonfly load) */
	double thr_bps;	       /* EWMA of measured aggregate upload rate; 0 = none yet */
	uint64_t seen_ms;
	void *ctx;
	uint32_t peer_head; /* its peers, via sched_peer.host_next */
	uint32_t nr_peers;
	uint32_t free_next;
	uint32_t hash;	    /* of id, for rendezvous hashing of seeds */
	bool banned;	    /* on the operator's blocklist: never offered as a parent */
	uint64_t rx_peer;   /* bytes it reported fetched from peers (costs) */
	uint64_t rx_origin; /* bytes it fetched from origins (pieces as an origin peer) */
	uint64_t tx_bytes;  /* bytes its children reported fetched from it */
	uint64_t tx_bps;    /* upload rate it announced */
	char tenant[VX_TLS_TENANT_MAX + 1]; /* from its certificate; "": the public tenant */
};

/* One heap entry: the score and rank live here so a walk need not touch the peer. */
struct sched_hent {
	double score;
	uint32_t pi;
	uint32_t rank; /* UINT32_MAX for origin peers and full copies, else pieces held */
};

struct sched_task {
	uint8_t state;	       /* enum vx_sched_task_state */
	bool stalled;	       /* the origin bound was raised for a stall */
	bool deleting;	       /* delete in progress: no promotions */
	bool geometry_trusted; /* piece_len/content_len came from an origin peer */
	bool priv;	       /* some register carried credentials (sticky) */
	uint32_t gen;
	char tenant[VX_TLS_TENANT_MAX + 1]; /* of the host that first registered it (not a
					     * seed); "": public. Only its hosts and seeds join */
	char id[VX_TASK_ID_LEN + 1];
	char *url; /* bound only once it derives id (sched_source.c), with what follows */
	char *tag;
	char *app;
	char **filtered;		 /* query keys left out of the id; none: the default list */
	struct vx_ctl_str *filtered_str; /* the same, lent to trigger events */
	uint32_t nr_filtered;
	uint8_t seed_tries;	  /* seeds triggered for the task (bounded: SCHED_SEED_TRIES) */
	uint64_t fixed_piece_len; /* user-fixed piece length, part of the id */
	char requester[VX_CTL_ADDR_MAX + 1]; /* IP of the host whose register triggered a seed */
	bool requester_local; /* that host connects from the seed's address: the same host */
	uint64_t piece_len;
	int64_t content_len;
	uint32_t piece_count;
	uint32_t *peers; /* every peer of the task (sampling, promotion) */
	uint32_t nr_peers;
	struct sched_hent *heap; /* eligible parents, max-heap on score */
	uint32_t heap_len;
	uint32_t cap; /* of peers and heap */
	uint32_t nr_origin;
	uint32_t nr_done;
	uint32_t nr_done_normal;
	uint32_t nr_waiting;
	uint32_t offer_rot; /* mesh: where the next new candidate's offers start */
	uint64_t origin_ms; /* last progress of an origin peer */
	uint32_t blocked[VX_SCHED_BLOCKED_MAX]; /* hosts that lied: index | gen << 20 */
	uint32_t nr_blocked;
	char *digests; /* piece_cap entries of VX_CTL_DIGEST_MAX + 1 bytes */
	uint32_t digest_cap;
	uint32_t *mlog; /* manifest pieces in arrival order */
	uint32_t mlog_len;
	struct sched_flow *flows; /* who fetched from whom (sched_view.c), VX_SCHED_FLOWS_MAX */
	uint32_t nr_flows;
	uint32_t flows_dropped; /* edges past the bound, not recorded */
	uint32_t free_next;
};

/* Bytes one host fetched from another (or from the origin) for one task. */
struct sched_flow {
	uint32_t parent; /* host index | gen << 20; SCHED_NONE: the origin */
	uint32_t child;
	uint64_t bytes;
};

struct sched_edge {
	uint32_t parent; /* peer index, SCHED_NONE = slot unused */
	uint32_t next;	 /* edge ids in the parent's child list */
	uint32_t prev;
};

struct sched_peer {
	uint8_t state; /* enum vx_sched_peer_state */
	uint8_t nr_parents;
	bool liar;
	bool waiting;
	bool notified; /* an EV_MANIFEST is queued or unanswered */
	bool xrack;    /* took a parent in another rack: its rack's fetcher (sched_pick.c) */
	uint32_t host;
	uint32_t task;
	uint32_t task_pos;
	uint32_t heap_pos; /* SCHED_NONE when not in the heap */
	uint32_t host_next;
	uint32_t host_prev;
	uint32_t child_head; /* edge id */
	uint32_t nr_children;
	struct sched_edge in[VX_SCHED_CANDS_MAX];
	uint32_t finished;   /* pieces held */
	uint32_t origin_acc; /* pieces of an origin peer counted as origin bytes (sched_view.c) */
	uint64_t *bits;
	uint32_t nr_words;
	uint32_t manifest_sent;
	uint64_t progress_ms;
	double score;
	uint32_t epoch; /* descendant marking during a decision */
	uint32_t free_next;
};

/* The task of @id (the task map), or SCHED_NONE. */
uint32_t vx__sched_task_find(const struct vx_sched *s, struct vx_ctl_str id);

/* sched_view.c: traffic accounting and the blocklist, for the management plane. */
/* @child fetched @bytes of task @ti from host @parent (SCHED_NONE: the origin). */
void vx__sched_flow_add(struct vx_sched *s, uint32_t ti, uint32_t parent, uint32_t child,
			uint64_t bytes);
void vx__sched_flows_free(struct sched_task *t);
bool vx__sched_banned_id(const struct vx_sched *s, const char *id);
void vx__sched_banned_free(struct vx_sched *s);

/* sched_source.c: binds a task's source once its fields derive the task id. */
int vx__sched_source_bind(struct sched_task *t, const struct vx_sched_reg *req);
void vx__sched_source_free(struct sched_task *t);

struct sched_event {
	uint32_t host;
	uint32_t host_gen;
	uint32_t task;
	uint32_t task_gen;
	uint8_t kind;
};

struct vx_sched {
	struct vx_sched_cfg cfg;
	struct sched_host *hosts;
	struct sched_task *tasks;
	struct sched_peer *peers;
	uint32_t host_free, task_free, peer_free;
	struct sched_map host_map;
	struct sched_map task_map;
	struct sched_map peer_map; /* (host, task) -> peer */
	struct sched_event *ev;
	uint32_t ev_head, ev_len;
	struct vx_ctl_digest *scratch; /* manifest entries lent to the caller */
	uint32_t scratch_cap;
	uint8_t *chk_color; /* vx_sched_check() scratch, peers_max entries each */
	uint32_t *chk_stack;
	uint32_t *chk_edge;
	uint32_t epoch;
	uint64_t rng;
	uint32_t nr_seeds;		   /* ACTIVE seed hosts */
	char *banned[VX_SCHED_BANNED_MAX]; /* host ids on the blocklist (sched_view.c) */
	uint32_t nr_banned;
	struct vx_sched_stats st;
};

static inline uint32_t sched_edge_id(uint32_t child, uint32_t slot)
{
	return child * VX_SCHED_CANDS_MAX + slot;
}

/* The rank key of a peer for the vx acyclicity rule (see vx__sched_ahead). */
static inline uint32_t sched_rank(const struct sched_peer *p)
{
	if (p->state == VX_SCHED_PEER_SUCCEEDED || p->state == VX_SCHED_PEER_BACK_TO_SOURCE)
		return UINT32_MAX;
	return p->finished;
}

/* sched.c */
/* Children a host may take at once: its slots, and for vx what its rate can feed. */
uint32_t vx__sched_host_slots(const struct vx_sched *s, const struct sched_host *h);
bool vx__sched_eligible(const struct vx_sched *s, const struct sched_peer *p);
/* What the child limit counts: distinct child hosts under vx, edges under dragonfly. */
uint32_t vx__sched_host_load(const struct vx_sched *s, const struct sched_host *h);
/* At a limit: its slots (edges), or under vx its rate's share (child hosts). */
bool vx__sched_host_full(const struct vx_sched *s, const struct sched_host *h);
/* Edges from peers of host @ch to peers of host @ph, all tasks. */
uint32_t vx__sched_host_edges(const struct vx_sched *s, uint32_t ch, uint32_t ph);
/* Eligible but for the child limit. */
bool vx__sched_eligible_state(const struct vx_sched *s, const struct sched_peer *p);
void vx__sched_heap_update(struct vx_sched *s, uint32_t pi);
int vx__sched_edge_add(struct vx_sched *s, uint32_t child, uint32_t parent);
void vx__sched_edges_release(struct vx_sched *s, uint32_t child);
bool vx__sched_blocked(const struct vx_sched *s, const struct sched_task *t, uint32_t host);
uint64_t vx__sched_rand(struct vx_sched *s);

/* sched_pick.c */
/* True when peer @pi ranks ahead of peer @ci (vx rank order: the parent graph stays acyclic). */
bool vx__sched_ahead(const struct vx_sched *s, uint32_t pi, uint32_t ci);
/* Pieces @p holds that @c lacks: exact up to 4096 pieces, estimated from counts beyond. */
uint32_t vx__sched_lack(const struct sched_peer *p, const struct sched_peer *c);
double vx__sched_score(const struct vx_sched *s, const struct sched_peer *p);
/*
 * Chooses parents for peer @ci (whose in-edges are already released), adds the edges and
 * fills ans->cands. Returns the number chosen.
 */
uint32_t vx__sched_pick(struct vx_sched *s, uint32_t ci, const struct vx_ctl_str *avoid,
			uint32_t nr_avoid, struct vx_sched_answer *ans);

#endif /* VX_SCHED_INT_H */
