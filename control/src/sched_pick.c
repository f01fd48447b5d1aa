/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched_pick.c: how parents are scored and chosen.
 *
 * vx policy: every eligible peer of a task sits in the task's max-heap under a child-independent
 * score (expected rate for one more child x availability x role). A decision walks the heap
 * best-first, examining at most PICK_EXAMINE entries and keeping the first PICK_POOL that pass
 * the filters, re-ranks that pool with the child-dependent factors (idc/location affinity,
 * pieces the child lacks) and takes the best cfg.cands. Cost: O(pool log pool + cands log N).
 *
 * dragonfly policy: a random sample of 15 peers of the task, Dragonfly's filters, and its
 * load-aware evaluator (0.6 load + 0.2 idc + 0.1 location + 0.1 host type), top cfg.cands.
 *
 * Both refuse the child's own host, blocked (lying) hosts, hosts the child asked to avoid and
 * full hosts, and both keep the parent graph acyclic. dragonfly walks the child's descendants
 * (its DAG rule). vx ranks peers (origin and full copies first, then by pieces held, ties by
 * index) and only lets a peer ranked ahead be a parent; since every edge goes down the rank
 * order there is no cycle, the check is O(1), and an edge whose child caught up is dropped at
 * the child's progress (sched.c, edges_prune). A walk is needlessly strict in a dense swarm:
 * with four parents each, the descendants of any peer soon cover the whole task.
 */
#include <string.h>
#include <strings.h>

#include "vx_assert.h"

#include "sched_int.h"

#define PICK_POOL	 32  /* candidates re-ranked per decision */
#define PICK_EXAMINE	 128 /* heap entries looked at per decision, at most */
#define PICK_WALK_MAX	 512 /* descendants marked for the cycle check */
#define PICK_DF_SAMPLE	 15  /* dragonfly's filterParentLimit */
#define PICK_EXACT_WORDS 64  /* bitmaps up to 4096 pieces are compared exactly */

static double frac_held(const struct sched_task *t, const struct sched_peer *p)
{
	if (t->piece_count)
		return (double)p->finished / (double)t->piece_count;
	return (double)p->finished / (double)(p->finished + 32);
}

bool vx__sched_ahead(const struct vx_sched *s, uint32_t pi, uint32_t ci)
{
	const struct sched_peer *p = &s->peers[pi], *c = &s->peers[ci];

	if (p->state == VX_SCHED_PEER_SUCCEEDED || p->state == VX_SCHED_PEER_BACK_TO_SOURCE)
		return true;
	if (c->state == VX_SCHED_PEER_SUCCEEDED || c->state == VX_SCHED_PEER_BACK_TO_SOURCE)
		return false;
	return p->finished > c->finished || (p->finished == c->finished && pi < ci);
}

double vx__sched_score(const struct vx_sched *s, const struct sched_peer *p)
{
	const struct sched_host *h = &s->hosts[p->host];
	const struct sched_task *t = &s->tasks[p->task];
	double cap = (double)h->bw_bps, avail, role = 1.0;

	/* measured aggregate upload rate wins over the declared one when it is lower */
	if (h->thr_bps > 0 && h->thr_bps < cap)
		cap = h->thr_bps;
	switch (p->state) {
	case VX_SCHED_PEER_SUCCEEDED:
		avail = 1.0;
		break;
	case VX_SCHED_PEER_BACK_TO_SOURCE:
		avail = 0.6 + 0.4 * frac_held(t, p);
		break;
	default:
		avail = 0.1 + 0.8 * frac_held(t, p);
	}
	if (h->role == VX_CTL_ROLE_SEED)
		role = t->nr_done_normal < s->cfg.bootstrap_done ? 1.5 : 0.25;
	return cap / (double)(h->child_hosts + 1) * avail * role;
}

/* ---------------------------------------------------------------- Filters */

struct pick_ctx {
	struct vx_sched *s;
	uint32_t ci; /* the child */
	const struct sched_peer *c;
	const struct sched_host *ch;
	const struct sched_task *t;
	const struct vx_ctl_str *avoid;
	uint32_t nr_avoid;
	bool walk_overflow; /* too many descendants to mark: only parentless peers are safe */
	bool rank_order;    /* vx: edges only from a peer ranked ahead (no walk needed) */
	bool mesh;	    /* vx mesh: any peer holding what the child lacks (cycles allowed) */
	bool local_only;    /* the rack rule: no parent in another rack */
	bool cross;	    /* the rack rule made the child fetch from other racks */
};

/* Marks every descendant of the child with the current epoch (bounded walk). */
static void mark_descendants(struct pick_ctx *x)
{
	struct vx_sched *s = x->s;
	uint32_t stack[PICK_WALK_MAX], n = 0, seen = 0;

	s->epoch++;
	if (x->c->child_head == SCHED_NONE)
		return;
	stack[n++] = x->ci;
	while (n) {
		uint32_t pi = stack[--n];

		for (uint32_t e = s->peers[pi].child_head; e != SCHED_NONE;
		     e = s->peers[e / VX_SCHED_CANDS_MAX].in[e % VX_SCHED_CANDS_MAX].next) {
			uint32_t k = e / VX_SCHED_CANDS_MAX;

			if (s->peers[k].epoch == s->epoch)
				continue;
			if (++seen >= PICK_WALK_MAX || n == PICK_WALK_MAX) {
				x->walk_overflow = true;
				return;
			}
			s->peers[k].epoch = s->epoch;
			stack[n++] = k;
		}
	}
}

static bool avoided(const struct pick_ctx *x, const struct sched_host *h)
{
	size_t len;

	if (!x->nr_avoid)
		return false;
	len = strlen(h->id);
	for (uint32_t i = 0; i < x->nr_avoid; i++) {
		if (x->avoid[i].len == len && memcmp(x->avoid[i].ptr, h->id, len) == 0)
			return true;
	}
	return false;
}

/*
 * In another rack than @a: both carry a location label ("region|zone|rack") and they differ.
 * An unlabelled host is nobody's remote. The idc stays an affinity factor only (vx_final_score):
 * a faster host in another data centre may still win there.
 */
static bool remote(const struct sched_host *a, const struct sched_host *b)
{
	return a->loc[0] && b->loc[0] && strcasecmp(a->loc, b->loc) != 0;
}

/* Filters every policy shares. */
static bool acceptable(struct pick_ctx *x, uint32_t pi)
{
	const struct sched_peer *p = &x->s->peers[pi];
	const struct sched_host *h;

	/* the acyclicity rule first: for vx it is the cheapest and the most selective */
	if (x->mesh	    ? false
	    : x->rank_order ? !vx__sched_ahead(x->s, pi, x->ci)
			    : (p->epoch == x->s->epoch || (x->walk_overflow && p->nr_parents))) {
		x->s->st.cycles_refused++;
		return false;
	}
	h = &x->s->hosts[p->host];
	if (pi == x->ci || p->host == x->c->host || p->liar)
		return false;
	if (h->state != VX_SCHED_HOST_ACTIVE || h->banned)
		return false;
	/* a host whose rate is shared out still serves a child host it already feeds */
	if (h->children >= h->slots ||
	    (vx__sched_host_full(x->s, h) && (x->s->cfg.policy != VX_SCHED_POLICY_VX ||
					      !vx__sched_host_edges(x->s, x->c->host, p->host))))
		return false;
	if (x->t->nr_blocked && vx__sched_blocked(x->s, x->t, p->host))
		return false;
	if (x->local_only && remote(x->ch, h)) {
		x->s->st.rack_refused++;
		return false;
	}
	return !avoided(x, h);
}

/* ---------------------------------------------------------------- Child-dependent factors */

static unsigned loc_prefix(const char *a, const char *b)
{
	unsigned n = 0;

	if (!*a || !*b)
		return 0;
	if (strcmp(a, b) == 0)
		return VX_SCHED_LOC_DEPTH;
	while (n < VX_SCHED_LOC_DEPTH) {
		const char *ea = strchr(a, '|'), *eb = strchr(b, '|');
		size_t la = ea ? (size_t)(ea - a) : strlen(a),
		       lb = eb ? (size_t)(eb - b) : strlen(b);

		if (la != lb || strncasecmp(a, b, la) != 0)
			break;
		n++;
		if (!ea || !eb)
			break;
		a = ea + 1;
		b = eb + 1;
	}
	return n;
}

static bool same_idc(const struct sched_host *a, const struct sched_host *b)
{
	return a->idc[0] && strcasecmp(a->idc, b->idc) == 0;
}

uint32_t vx__sched_lack(const struct sched_peer *p, const struct sched_peer *c)
{
	uint32_t lack = 0;

	if (p->nr_words > PICK_EXACT_WORDS)
		return p->finished > c->finished ? p->finished - c->finished : 0;
	for (uint32_t w = 0; w < p->nr_words; w++)
		lack += (uint32_t)__builtin_popcountll(p->bits[w] &
						       ~(w < c->nr_words ? c->bits[w] : 0));
	return lack;
}

static uint32_t lack_count(const struct pick_ctx *x, const struct sched_peer *p)
{
	return vx__sched_lack(p, x->c);
}

/* Sources and full copies serve anything; a peer holding nothing the child lacks serves nothing. */
static bool useful(const struct pick_ctx *x, const struct sched_peer *p)
{
	if (p->state == VX_SCHED_PEER_SUCCEEDED || p->state == VX_SCHED_PEER_BACK_TO_SOURCE)
		return true;
	return lack_count(x, p) > 0;
}

/* Share of what the child still needs that the candidate holds, as a factor in [0.2, 1]. */
static double lack_factor(const struct pick_ctx *x, const struct sched_peer *p)
{
	uint32_t need;
	double frac;

	if (p->state == VX_SCHED_PEER_SUCCEEDED || p->state == VX_SCHED_PEER_BACK_TO_SOURCE)
		return 1.0;
	if (x->t->piece_count == 0)
		return 0.6;
	need = x->t->piece_count > x->c->finished ? x->t->piece_count - x->c->finished : 1;
	frac = (double)lack_count(x, p) / (double)need;
	return 0.2 + 0.8 * (frac * 2 > 1 ? 1 : frac * 2);
}

static double vx_final_score(const struct pick_ctx *x, uint32_t pi)
{
	const struct sched_peer *p = &x->s->peers[pi];
	const struct sched_host *h = &x->s->hosts[p->host];
	/* a peer out of the heap (its host full) has no fresh heap score */
	double f = (p->heap_pos != SCHED_NONE ? p->score : vx__sched_score(x->s, p)) *
		   lack_factor(x, p);

	if (same_idc(x->ch, h))
		f *= 1.5;
	if (x->cross && remote(x->ch, h))
		f *= 0.5; /* a rack's fetcher still prefers a rack-mate ahead of it */
	f *= 1.0 + 0.25 * (double)loc_prefix(x->ch->loc, h->loc) / VX_SCHED_LOC_DEPTH;
	return f;
}

/* ---------------------------------------------------------------- Commit */

static uint32_t commit(struct pick_ctx *x, const uint32_t *pool, double *score, uint32_t n,
		       struct vx_sched_answer *ans)
{
	struct vx_sched *s = x->s;
	uint32_t want = VX_MIN(s->cfg.cands, n), got = 0;

	for (uint32_t k = 0; k < want; k++) {
		uint32_t best = k;

		for (uint32_t j = k + 1; j < n; j++) {
			if (score[j] > score[best])
				best = j;
		}
		if (best != k) {
			uint32_t tp = ((uint32_t *)pool)[k];
			double ts = score[k];

			((uint32_t *)pool)[k] = pool[best];
			((uint32_t *)pool)[best] = tp;
			score[k] = score[best];
			score[best] = ts;
		}
	}
	for (uint32_t k = 0; k < want; k++) {
		const struct sched_peer *p = &s->peers[pool[k]];
		const struct sched_host *h = &s->hosts[p->host];
		struct vx_ctl_cand *cd = &ans->cands[got];

		if (vx__sched_edge_add(s, x->ci, pool[k]))
			break;
		cd->host_id = vx_ctl_str_of(h->id);
		cd->addr = vx_ctl_str_of(h->addr);
		cd->port = h->port;
		cd->pieces = p->finished;
		cd->complete = p->state == VX_SCHED_PEER_SUCCEEDED;
		if (x->cross && remote(x->ch, h))
			s->peers[x->ci].xrack = true;
		got++;
	}
	ans->nr_cands = got;
	return got;
}

/* ---------------------------------------------------------------- vx policy */

struct pick_aux {
	double score;
	uint32_t pos; /* in the task heap */
};

static void aux_push(struct pick_aux *aux, uint32_t *na, struct pick_aux e)
{
	uint32_t j = (*na)++;

	while (j > 0 && aux[(j - 1) / 2].score < e.score) {
		aux[j] = aux[(j - 1) / 2];
		j = (j - 1) / 2;
	}
	aux[j] = e;
}

static struct pick_aux aux_pop(struct pick_aux *aux, uint32_t *na)
{
	struct pick_aux top = aux[0], e = aux[--(*na)];
	uint32_t i = 0;

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= *na)
			break;
		if (c + 1 < *na && aux[c + 1].score > aux[c].score)
			c++;
		if (aux[c].score <= e.score)
			break;
		aux[i] = aux[c];
		i = c;
	}
	if (*na)
		aux[i] = e;
	return top;
}

/* Cheap pre-filter on the heap entry alone: the vx rank rule (sched_int.h). */
static bool entry_ahead(const struct pick_ctx *x, const struct sched_hent *e)
{
	uint32_t cr = x->c->finished;

	if (x->mesh)
		return true;
	return e->rank == UINT32_MAX || e->rank > cr || (e->rank == cr && e->pi < x->ci);
}

static bool in_pool(const uint32_t *pool, uint32_t np, uint32_t pi)
{
	for (uint32_t i = 0; i < np; i++) {
		if (pool[i] == pi)
			return true;
	}
	return false;
}

/*
 * Hosts already feeding the child's host (for its other tasks, e.g. the other layers of one
 * image) may be full and so out of the heap; their peers of this task are candidates all the
 * same, since the child host shares their uplink already. Hosts hold few peers.
 */
static uint32_t add_feeding_hosts(struct pick_ctx *x, uint32_t *pool, double *score, uint32_t np)
{
	const struct vx_sched *s = x->s;

	for (uint32_t qi = x->ch->peer_head; qi != SCHED_NONE && np < PICK_POOL;
	     qi = s->peers[qi].host_next) {
		const struct sched_peer *q = &s->peers[qi];

		for (uint32_t k = 0; k < VX_SCHED_CANDS_MAX && q->nr_parents && np < PICK_POOL;
		     k++) {
			uint32_t par = q->in[k].parent, ph;

			if (par == SCHED_NONE)
				continue;
			ph = s->peers[par].host;
			for (uint32_t ri = s->hosts[ph].peer_head;
			     ri != SCHED_NONE && np < PICK_POOL; ri = s->peers[ri].host_next) {
				const struct sched_peer *r = &s->peers[ri];

				if (r->task != x->c->task || r->heap_pos != SCHED_NONE ||
				    in_pool(pool, np, ri) || !vx__sched_eligible_state(s, r) ||
				    !acceptable(x, ri) || !useful(x, r))
					continue;
				pool[np] = ri;
				score[np] = vx_final_score(x, ri);
				np++;
			}
		}
	}
	return np;
}

/* Best-first walk of the task heap into the pool, then the hosts feeding the child's host. */
static uint32_t fill_pool(struct pick_ctx *x, uint32_t *pool, double *score)
{
	const struct sched_task *t = x->t;
	struct pick_aux aux[PICK_EXAMINE * 2 + 2];
	uint32_t na = 0, np = 0, examined = 0;
	uint32_t want_pool = VX_MIN((uint32_t)PICK_POOL, x->s->cfg.cands * 4);

	if (t->heap_len == 0)
		return add_feeding_hosts(x, pool, score, 0);
	aux_push(aux, &na, (struct pick_aux){ t->heap[0].score, 0 });
	/* best-first walk of the heap: aux is a max-heap of heap positions */
	while (na && np < want_pool && examined < PICK_EXAMINE) {
		struct pick_aux top = aux_pop(aux, &na);
		const struct sched_hent *e = &t->heap[top.pos];

		examined++;
		if (entry_ahead(x, e) && acceptable(x, e->pi) && useful(x, &x->s->peers[e->pi])) {
			pool[np] = e->pi;
			score[np] = vx_final_score(x, e->pi);
			np++;
		}
		for (uint32_t c = 2 * top.pos + 1; c <= 2 * top.pos + 2 && c < t->heap_len; c++)
			aux_push(aux, &na, (struct pick_aux){ t->heap[c].score, c });
	}
	return add_feeding_hosts(x, pool, score, np);
}

/*
 * May the child become a fetcher of its rack? Not while cfg.rack_fetchers peers of the task in
 * its rack are (the child aside), nor while its rack holds a full copy or an origin peer (the
 * child waits for them: they are only busy).
 */
static bool rack_may_fetch(const struct pick_ctx *x)
{
	const struct vx_sched *s = x->s;
	uint32_t n = 0;

	for (uint32_t i = 0; i < x->t->nr_peers; i++) {
		const struct sched_peer *q = &s->peers[x->t->peers[i]];

		if (q == x->c || q->state == VX_SCHED_PEER_FAILED ||
		    s->hosts[q->host].state != VX_SCHED_HOST_ACTIVE ||
		    remote(x->ch, &s->hosts[q->host]))
			continue;
		if (q->state == VX_SCHED_PEER_SUCCEEDED || q->state == VX_SCHED_PEER_BACK_TO_SOURCE)
			return false;
		if (q->xrack && ++n >= s->cfg.rack_fetchers)
			return false;
	}
	return true;
}

/*
 * The rack rule (cfg.rack_fetchers > 0, a child with a location label): a child
 * takes parents in its own rack only. When none can serve it and fewer than rack_fetchers
 * peers of the task in its rack fetch across, it becomes one of them (sticky: p->xrack) and may
 * take parents anywhere, remote ones at half their score. Its rack-mates then take from it, so
 * a file crosses the inter-rack link about once per rack. A rack that holds a full copy needs
 * no fetcher. The count walks the task's peers, only when a child finds no parent in its rack.
 */
static uint32_t pick_vx(struct pick_ctx *x, struct vx_sched_answer *ans)
{
	uint32_t pool[PICK_POOL], np;
	double score[PICK_POOL];

	x->cross = x->c->xrack;
	x->local_only = x->s->cfg.rack_fetchers && x->ch->loc[0] && !x->cross;
	np = fill_pool(x, pool, score);
	if (x->local_only && np == 0 && rack_may_fetch(x)) {
		x->local_only = false;
		x->cross = true;
		np = fill_pool(x, pool, score);
	}
	return commit(x, pool, score, np, ans);
}

/* ---------------------------------------------------------------- dragonfly policy */

static double df_load(const struct vx_sched *s, const struct sched_host *h,
		      const struct sched_task *t)
{
	double max = (double)h->bw_bps, peak, dur, conc, per_child, need, assigned;

	if (max <= 0)
		return 0;
	/* reservation per child: pieceLength x concurrentPieceCount(8) x 8 bits per second */
	per_child = (double)(t->piece_len ? t->piece_len : (4u << 20)) * 8.0 * 8.0;
	peak = 1.0 - (double)h->children * per_child / max;
	if (peak < 0)
		peak = 0;
	dur = 1.0 - (double)h->upload_bytes * 8.0 / max / 60.0;
	if (dur < 0)
		dur = 0;
	need = max / (16.0 * 1024 * 1024 * 8);
	assigned = (double)h->children * 8.0;
	if (need < 1)
		conc = 0;
	else if (assigned <= need)
		conc = 1;
	else
		conc = need / assigned;
	(void)s;
	return 0.5 * peak + 0.3 * dur + 0.2 * conc;
}

static double df_score(const struct pick_ctx *x, uint32_t pi)
{
	const struct sched_peer *p = &x->s->peers[pi];
	const struct sched_host *h = &x->s->hosts[p->host];
	double type;

	if (h->role == VX_CTL_ROLE_SEED)
		type = p->state == VX_SCHED_PEER_BACK_TO_SOURCE ? 1.0 : 0.0;
	else
		type = 0.5;
	return 0.6 * df_load(x->s, h, x->t) + 0.2 * (same_idc(x->ch, h) ? 1.0 : 0.0) +
	       0.1 * (double)loc_prefix(x->ch->loc, h->loc) / VX_SCHED_LOC_DEPTH + 0.1 * type;
}

/* Dragonfly's own filters on top of the shared ones (scheduling.go, evaluator IsBadParent). */
static bool df_acceptable(struct pick_ctx *x, uint32_t pi)
{
	const struct sched_peer *p = &x->s->peers[pi];
	const struct sched_host *h = &x->s->hosts[p->host];

	if (p->state != VX_SCHED_PEER_RUNNING && p->state != VX_SCHED_PEER_BACK_TO_SOURCE &&
	    p->state != VX_SCHED_PEER_SUCCEEDED)
		return false;
	/* an idle normal peer fed by nobody is not a parent */
	if (h->role == VX_CTL_ROLE_NORMAL && p->state == VX_SCHED_PEER_RUNNING &&
	    p->nr_parents == 0)
		return false;
	return acceptable(x, pi);
}

static uint32_t pick_dragonfly(struct pick_ctx *x, struct vx_sched_answer *ans)
{
	const struct sched_task *t = x->t;
	uint32_t pool[PICK_DF_SAMPLE], np = 0, n = t->nr_peers;
	uint32_t picked[PICK_DF_SAMPLE], nr_picked = 0;
	double score[PICK_DF_SAMPLE];

	while (nr_picked < VX_MIN(n, (uint32_t)PICK_DF_SAMPLE)) {
		uint32_t idx =
			n <= PICK_DF_SAMPLE ? nr_picked : (uint32_t)(vx__sched_rand(x->s) % n);
		bool dup = false;

		for (uint32_t i = 0; i < nr_picked && n > PICK_DF_SAMPLE; i++)
			dup |= picked[i] == idx;
		if (dup)
			continue;
		picked[nr_picked++] = idx;
		if (df_acceptable(x, t->peers[idx])) {
			pool[np] = t->peers[idx];
			score[np] = df_score(x, t->peers[idx]);
			np++;
		}
	}
	return commit(x, pool, score, np, ans);
}

uint32_t vx__sched_pick(struct vx_sched *s, uint32_t ci, const struct vx_ctl_str *avoid,
			uint32_t nr_avoid, struct vx_sched_answer *ans)
{
	struct pick_ctx x = {
		.s = s,
		.ci = ci,
		.c = &s->peers[ci],
		.ch = &s->hosts[s->peers[ci].host],
		.t = &s->tasks[s->peers[ci].task],
		.avoid = avoid,
		.nr_avoid = nr_avoid,
	};

	VX_ASSERT(s->peers[ci].nr_parents == 0);
	if (s->cfg.policy == VX_SCHED_POLICY_DRAGONFLY) {
		mark_descendants(&x); /* dragonfly: its DAG rule, a walk below the child */
		return pick_dragonfly(&x, ans);
	}
	x.rank_order = true;
	x.mesh = s->cfg.mesh;
	return pick_vx(&x, ans);
}
