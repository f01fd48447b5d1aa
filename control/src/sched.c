/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched.c: the scheduler core: tables of hosts, tasks and peers, their state machines, the
 * per-task parent heaps, the parent->child edges with their reservations, origin (back-to-source)
 * policy, the trusted manifest and the queue of server pushes. Parent choice itself is in
 * sched_pick.c. spec/control.md has the state tables that sched_*_legal[] below encode:
 *
 *   peer:  PENDING -> RECEIVED -> RUNNING -> SUCCEEDED
 *             |          |          |    \-> FAILED
 *             +----------+----------+-> BACK_TO_SOURCE -> SUCCEEDED | FAILED
 *          (every state) -> FREE (leave)
 *   task:  PENDING -> RUNNING <-> SUCCEEDED ; RUNNING <-> FAILED ; (every state) -> FREE
 *   host:  ACTIVE <-> SILENT ; (both) -> FREE
 */
#include "vx_sched.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_bitmap.h"
#include "vx_err.h"
#include "vx_hash.h"
#include "vx_log.h"
#include "vx_piece_plan.h"

#include "sched_int.h"

/* ---------------------------------------------------------------- State tables */

#define P(x) VX_SCHED_PEER_##x
static const bool sched_peer_legal[VX_SCHED_PEER_STATE_NR][VX_SCHED_PEER_STATE_NR] = {
	[P(FREE)] = { [P(PENDING)] = true },
	[P(PENDING)] = { [P(RECEIVED)] = true,
			 [P(BACK_TO_SOURCE)] = true,
			 [P(SUCCEEDED)] = true,
			 [P(FAILED)] = true,
			 [P(FREE)] = true },
	[P(RECEIVED)] = { [P(RUNNING)] = true,
			  [P(BACK_TO_SOURCE)] = true,
			  [P(SUCCEEDED)] = true,
			  [P(FAILED)] = true,
			  [P(FREE)] = true },
	[P(RUNNING)] = { [P(BACK_TO_SOURCE)] = true,
			 [P(SUCCEEDED)] = true,
			 [P(FAILED)] = true,
			 [P(FREE)] = true },
	[P(BACK_TO_SOURCE)] = { [P(SUCCEEDED)] = true, [P(FAILED)] = true, [P(FREE)] = true },
	[P(SUCCEEDED)] = { [P(FREE)] = true },
	[P(FAILED)] = { [P(FREE)] = true },
};
#undef P

#define T(x) VX_SCHED_TASK_##x
static const bool sched_task_legal[VX_SCHED_TASK_STATE_NR][VX_SCHED_TASK_STATE_NR] = {
	[T(FREE)] = { [T(PENDING)] = true },
	[T(PENDING)] = { [T(RUNNING)] = true, [T(FREE)] = true },
	[T(RUNNING)] = { [T(SUCCEEDED)] = true, [T(FAILED)] = true, [T(FREE)] = true },
	[T(SUCCEEDED)] = { [T(RUNNING)] = true, [T(FREE)] = true },
	[T(FAILED)] = { [T(RUNNING)] = true, [T(FREE)] = true },
};
#undef T

#define H(x) VX_SCHED_HOST_##x
static const bool sched_host_legal[VX_SCHED_HOST_STATE_NR][VX_SCHED_HOST_STATE_NR] = {
	[H(FREE)] = { [H(ACTIVE)] = true },
	[H(ACTIVE)] = { [H(SILENT)] = true, [H(FREE)] = true },
	[H(SILENT)] = { [H(ACTIVE)] = true, [H(FREE)] = true },
};
#undef H

bool vx_sched_peer_legal(enum vx_sched_peer_state from, enum vx_sched_peer_state to)
{
	return from < VX_SCHED_PEER_STATE_NR && to < VX_SCHED_PEER_STATE_NR &&
	       sched_peer_legal[from][to];
}

bool vx_sched_task_legal(enum vx_sched_task_state from, enum vx_sched_task_state to)
{
	return from < VX_SCHED_TASK_STATE_NR && to < VX_SCHED_TASK_STATE_NR &&
	       sched_task_legal[from][to];
}

bool vx_sched_host_legal(enum vx_sched_host_state from, enum vx_sched_host_state to)
{
	return from < VX_SCHED_HOST_STATE_NR && to < VX_SCHED_HOST_STATE_NR &&
	       sched_host_legal[from][to];
}

static const char *const peer_state_names[VX_SCHED_PEER_STATE_NR] = {
	"free", "pending", "received", "running", "back-to-source", "succeeded", "failed",
};
static const char *const task_state_names[VX_SCHED_TASK_STATE_NR] = {
	"free", "pending", "running", "succeeded", "failed",
};

const char *vx_sched_peer_state_name(enum vx_sched_peer_state st)
{
	return st < VX_SCHED_PEER_STATE_NR ? peer_state_names[st] : "unknown";
}

const char *vx_sched_task_state_name(enum vx_sched_task_state st)
{
	return st < VX_SCHED_TASK_STATE_NR ? task_state_names[st] : "unknown";
}

/* The only way a state changes: the table is checked on every move. */
static void peer_set_state(struct sched_peer *p, enum vx_sched_peer_state to)
{
	VX_ASSERT(sched_peer_legal[p->state][to]);
	p->state = (uint8_t)to;
}

static void task_set_state(struct sched_task *t, enum vx_sched_task_state to)
{
	if (t->state == to)
		return;
	VX_ASSERT(sched_task_legal[t->state][to]);
	t->state = (uint8_t)to;
}

static void host_set_state(struct sched_host *h, enum vx_sched_host_state to)
{
	VX_ASSERT(sched_host_legal[h->state][to]);
	h->state = (uint8_t)to;
}

/* ---------------------------------------------------------------- Small helpers */

uint64_t vx__sched_rand(struct vx_sched *s)
{
	/* splitmix64: seeded, reproducible, good enough for sampling */
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static char *dup_str(struct vx_ctl_str s)
{
	return vx_strndup(s.ptr ? s.ptr : "", s.len);
}

static bool str_is(const char *a, struct vx_ctl_str b)
{
	return strlen(a) == b.len && memcmp(a, b.ptr, b.len) == 0;
}

/* ---------------------------------------------------------------- Maps */

enum map_kind {
	MAP_HOST,
	MAP_TASK,
	MAP_PEER,
};

struct map_key {
	struct vx_ctl_str str; /* hosts, tasks */
	uint64_t pair;	       /* peers: host << 32 | task */
};

static int map_init(struct sched_map *m, uint32_t cap)
{
	uint32_t n = 16;

	while (n < cap * 2u)
		n <<= 1;
	m->slot = vx_mallocarray(n, sizeof(*m->slot));
	if (!m->slot)
		return -ENOMEM;
	memset(m->slot, 0xff, (size_t)n * sizeof(*m->slot));
	m->mask = n - 1;
	return 0;
}

static uint32_t map_hash(enum map_kind k, const struct map_key *key)
{
	return k == MAP_PEER ? (uint32_t)vx_hash_mix64(key->pair)
			     : vx_hash_fnv1a(key->str.ptr, key->str.len);
}

static uint32_t entry_hash(const struct vx_sched *s, enum map_kind k, uint32_t idx)
{
	struct map_key key = { 0 };

	if (k == MAP_HOST)
		key.str = vx_ctl_str_of(s->hosts[idx].id);
	else if (k == MAP_TASK)
		key.str = (struct vx_ctl_str){ s->tasks[idx].id, VX_TASK_ID_LEN };
	else
		key.pair = (uint64_t)s->peers[idx].host << 32 | s->peers[idx].task;
	return map_hash(k, &key);
}

static bool entry_eq(const struct vx_sched *s, enum map_kind k, uint32_t idx,
		     const struct map_key *key)
{
	if (k == MAP_HOST)
		return str_is(s->hosts[idx].id, key->str);
	if (k == MAP_TASK)
		return key->str.len == VX_TASK_ID_LEN &&
		       memcmp(s->tasks[idx].id, key->str.ptr, VX_TASK_ID_LEN) == 0;
	return ((uint64_t)s->peers[idx].host << 32 | s->peers[idx].task) == key->pair;
}

static struct sched_map *map_of(struct vx_sched *s, enum map_kind k)
{
	return k == MAP_HOST ? &s->host_map : k == MAP_TASK ? &s->task_map : &s->peer_map;
}

static uint32_t map_find(const struct vx_sched *s, enum map_kind k, const struct map_key *key)
{
	const struct sched_map *m = k == MAP_HOST   ? &s->host_map
				    : k == MAP_TASK ? &s->task_map
						    : &s->peer_map;
	uint32_t i = map_hash(k, key) & m->mask;

	while (m->slot[i] != SCHED_NONE) {
		if (entry_eq(s, k, m->slot[i], key))
			return m->slot[i];
		i = (i + 1) & m->mask;
	}
	return SCHED_NONE;
}

/* The table is sized at twice the entry cap, so there is always a free slot. */
static void map_insert(struct vx_sched *s, enum map_kind k, uint32_t idx)
{
	struct sched_map *m = map_of(s, k);
	uint32_t i = entry_hash(s, k, idx) & m->mask;

	while (m->slot[i] != SCHED_NONE)
		i = (i + 1) & m->mask;
	m->slot[i] = idx;
}

/* Linear-probing delete with backward shift: no tombstones, lookups stay short. */
static void map_remove(struct vx_sched *s, enum map_kind k, uint32_t idx)
{
	struct sched_map *m = map_of(s, k);
	uint32_t i = entry_hash(s, k, idx) & m->mask, j, h;

	while (m->slot[i] != idx) {
		VX_ASSERT(m->slot[i] != SCHED_NONE);
		i = (i + 1) & m->mask;
	}
	j = i;
	for (;;) {
		m->slot[i] = SCHED_NONE;
		for (;;) {
			j = (j + 1) & m->mask;
			if (m->slot[j] == SCHED_NONE)
				return;
			h = entry_hash(s, k, m->slot[j]) & m->mask;
			/* move j back to i unless its home lies cyclically in (i, j] */
			if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
				continue;
			break;
		}
		m->slot[i] = m->slot[j];
		i = j;
	}
}

static uint32_t find_host(const struct vx_sched *s, struct vx_ctl_str id)
{
	struct map_key key = { .str = id };

	return map_find(s, MAP_HOST, &key);
}

static uint32_t find_task(const struct vx_sched *s, struct vx_ctl_str id)
{
	struct map_key key = { .str = id };

	if (id.len != VX_TASK_ID_LEN)
		return SCHED_NONE;
	return map_find(s, MAP_TASK, &key);
}

uint32_t vx__sched_task_find(const struct vx_sched *s, struct vx_ctl_str id)
{
	return find_task(s, id);
}

static uint32_t find_peer(const struct vx_sched *s, uint32_t host, uint32_t task)
{
	struct map_key key = { .pair = (uint64_t)host << 32 | task };

	return map_find(s, MAP_PEER, &key);
}

static struct sched_host *host_get(const struct vx_sched *s, uint32_t h)
{
	if (h >= s->cfg.hosts_max || s->hosts[h].state == VX_SCHED_HOST_FREE)
		return NULL;
	return &s->hosts[h];
}

/* ---------------------------------------------------------------- Life cycle */

void vx_sched_cfg_default(struct vx_sched_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->policy = VX_SCHED_POLICY_VX;
	cfg->hosts_max = 16384;
	cfg->tasks_max = 16384;
	cfg->peers_max = 131072;
	cfg->task_peers_max = 65536;
	cfg->pieces_max = 65536;
	cfg->cands = 4;
	cfg->origin_max = 1;
	cfg->origin_stalled_max = 2;
	cfg->origin_stall_ms = 30000;
	cfg->host_grace_ms = 60000;
	cfg->task_stale_ms = 300000;
	cfg->bootstrap_done = 2;
	cfg->default_bps = 1000000000ull;
	cfg->rng_seed = 0x5eed;
	cfg->events_max = 65536;
	cfg->child_min_bps = 40000000ull;
	cfg->host_peers_max = 1024;
	cfg->seed_peers_max = 16384; /* every task of the default table */
	cfg->mesh = true;
	cfg->rack_fetchers = 1;
}

static bool cfg_ok(const struct vx_sched_cfg *c)
{
	return c->hosts_max > 0 && c->hosts_max < (1u << 20) && c->tasks_max > 0 &&
	       c->tasks_max < (1u << 24) && c->peers_max > 0 &&
	       c->peers_max < UINT32_MAX / VX_SCHED_CANDS_MAX && c->task_peers_max > 0 &&
	       c->pieces_max > 0 && c->pieces_max <= (1u << 20) && c->cands > 0 &&
	       c->cands <= VX_SCHED_CANDS_MAX && c->origin_max > 0 &&
	       c->origin_stalled_max >= c->origin_max && c->events_max > 0 &&
	       c->host_peers_max > 0 && c->seed_peers_max > 0 &&
	       c->policy <= VX_SCHED_POLICY_DRAGONFLY;
}

int vx_sched_new(struct vx_sched **out, const struct vx_sched_cfg *cfg)
{
	struct vx_sched *s;
	uint32_t i;

	VX_ASSERT(out);
	VX_ASSERT(cfg);
	*out = NULL;
	if (!cfg_ok(cfg))
		return -EINVAL;
	s = vx_calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->rng = cfg->rng_seed;
	s->scratch_cap = VX_MIN(cfg->pieces_max, (uint32_t)VX_CTL_DIGESTS_MAX);
	s->hosts = vx_calloc(cfg->hosts_max, sizeof(*s->hosts));
	s->tasks = vx_calloc(cfg->tasks_max, sizeof(*s->tasks));
	s->peers = vx_calloc(cfg->peers_max, sizeof(*s->peers));
	s->ev = vx_calloc(cfg->events_max, sizeof(*s->ev));
	s->scratch = vx_calloc(s->scratch_cap, sizeof(*s->scratch));
	s->chk_color = vx_calloc(cfg->peers_max, 1);
	s->chk_stack = vx_calloc(cfg->peers_max, sizeof(*s->chk_stack));
	s->chk_edge = vx_calloc(cfg->peers_max, sizeof(*s->chk_edge));
	if (!s->hosts || !s->tasks || !s->peers || !s->ev || !s->scratch || !s->chk_color ||
	    !s->chk_stack || !s->chk_edge || map_init(&s->host_map, cfg->hosts_max) ||
	    map_init(&s->task_map, cfg->tasks_max) || map_init(&s->peer_map, cfg->peers_max)) {
		vx_sched_free(s);
		return -ENOMEM;
	}
	for (i = 0; i < cfg->hosts_max; i++)
		s->hosts[i].free_next = i + 1 < cfg->hosts_max ? i + 1 : SCHED_NONE;
	for (i = 0; i < cfg->tasks_max; i++)
		s->tasks[i].free_next = i + 1 < cfg->tasks_max ? i + 1 : SCHED_NONE;
	for (i = 0; i < cfg->peers_max; i++)
		s->peers[i].free_next = i + 1 < cfg->peers_max ? i + 1 : SCHED_NONE;
	*out = s;
	return 0;
}

static void host_strings_free(struct sched_host *h)
{
	vx_free(h->id);
	vx_free(h->addr);
	vx_free(h->idc);
	vx_free(h->loc);
	h->id = h->addr = h->idc = h->loc = NULL;
}

static void task_arrays_free(struct sched_task *t)
{
	vx__sched_source_free(t);
	vx__sched_flows_free(t);
	vx_free(t->peers);
	vx_free(t->heap);
	vx_free(t->digests);
	vx_free(t->mlog);
	t->peers = t->mlog = NULL;
	t->heap = NULL;
	t->digests = NULL;
}

void vx_sched_free(struct vx_sched *s)
{
	if (!s)
		return;
	if (s->hosts) {
		for (uint32_t i = 0; i < s->cfg.hosts_max; i++)
			host_strings_free(&s->hosts[i]);
	}
	if (s->tasks) {
		for (uint32_t i = 0; i < s->cfg.tasks_max; i++)
			task_arrays_free(&s->tasks[i]);
	}
	if (s->peers) {
		for (uint32_t i = 0; i < s->cfg.peers_max; i++)
			vx_free(s->peers[i].bits);
	}
	vx__sched_banned_free(s);
	vx_free(s->host_map.slot);
	vx_free(s->task_map.slot);
	vx_free(s->peer_map.slot);
	vx_free(s->hosts);
	vx_free(s->tasks);
	vx_free(s->peers);
	vx_free(s->ev);
	vx_free(s->scratch);
	vx_free(s->chk_color);
	vx_free(s->chk_stack);
	vx_free(s->chk_edge);
	vx_free(s);
}

/* ---------------------------------------------------------------- Events */

static void ev_push(struct vx_sched *s, uint32_t host, uint32_t task, enum vx_ctl_event kind)
{
	struct sched_event *e;

	if (s->ev_len == s->cfg.events_max) {
		s->st.events_dropped++;
		return;
	}
	e = &s->ev[(s->ev_head + s->ev_len) % s->cfg.events_max];
	e->host = host;
	e->host_gen = s->hosts[host].gen;
	e->task = task;
	e->task_gen = s->tasks[task].gen;
	e->kind = (uint8_t)kind;
	s->ev_len++;
}

/* ---------------------------------------------------------------- Heap of parents */

static void heap_set(struct vx_sched *s, struct sched_task *t, uint32_t pos, struct sched_hent e)
{
	t->heap[pos] = e;
	s->peers[e.pi].heap_pos = pos;
}

static void heap_up(struct vx_sched *s, struct sched_task *t, uint32_t pos)
{
	struct sched_hent e = t->heap[pos];

	while (pos > 0) {
		uint32_t up = (pos - 1) / 2;

		if (t->heap[up].score >= e.score)
			break;
		heap_set(s, t, pos, t->heap[up]);
		pos = up;
	}
	heap_set(s, t, pos, e);
}

static void heap_down(struct vx_sched *s, struct sched_task *t, uint32_t pos)
{
	struct sched_hent e = t->heap[pos];

	for (;;) {
		uint32_t c = pos * 2 + 1;

		if (c >= t->heap_len)
			break;
		if (c + 1 < t->heap_len && t->heap[c].score < t->heap[c + 1].score)
			c++;
		if (e.score >= t->heap[c].score)
			break;
		heap_set(s, t, pos, t->heap[c]);
		pos = c;
	}
	heap_set(s, t, pos, e);
}

static void heap_remove(struct vx_sched *s, struct sched_task *t, uint32_t pi)
{
	uint32_t pos = s->peers[pi].heap_pos;
	struct sched_hent last;

	if (pos == SCHED_NONE)
		return;
	last = t->heap[--t->heap_len];
	s->peers[pi].heap_pos = SCHED_NONE;
	if (last.pi == pi)
		return;
	heap_set(s, t, pos, last);
	heap_up(s, t, pos);
	heap_down(s, t, s->peers[last.pi].heap_pos);
}

uint32_t vx__sched_host_slots(const struct vx_sched *s, const struct sched_host *h)
{
	(void)s;
	return h->slots_eff;
}

/* Children a host may take: its slots, and for vx what its rate can feed at child_min_bps. */
static void host_slots_update(const struct vx_sched *s, struct sched_host *h)
{
	double cap = (double)h->bw_bps, n;

	h->slots_eff = h->slots;
	if (s->cfg.policy != VX_SCHED_POLICY_VX || !s->cfg.child_min_bps)
		return;
	/* by what it declared or (when lower) what it was measured to deliver */
	if (h->thr_bps > 0 && h->thr_bps < cap)
		cap = h->thr_bps;
	n = cap / (double)s->cfg.child_min_bps;
	if (n < 1)
		n = 1;
	if (n < (double)h->slots)
		h->slots_eff = (uint32_t)n;
}

/*
 * Two limits. The host's declared slots bound its edges (one upload slot per child task, as the
 * upload server sees them). Under vx, what its rate can feed (slots_eff) bounds its distinct
 * child *hosts*: a host pulling L layers (tasks) from one parent host shares that parent's
 * uplink once, whatever L is, and refusing its other layers sent them to the origin.
 * Dragonfly's model counts edges against both.
 */
uint32_t vx__sched_host_load(const struct vx_sched *s, const struct sched_host *h)
{
	return s->cfg.policy == VX_SCHED_POLICY_VX ? h->child_hosts : h->children;
}

bool vx__sched_host_full(const struct vx_sched *s, const struct sched_host *h)
{
	return h->children >= h->slots || vx__sched_host_load(s, h) >= h->slots_eff;
}

uint32_t vx__sched_host_edges(const struct vx_sched *s, uint32_t ch, uint32_t ph)
{
	uint32_t n = 0;

	for (uint32_t qi = s->hosts[ch].peer_head; qi != SCHED_NONE; qi = s->peers[qi].host_next) {
		const struct sched_peer *q = &s->peers[qi];

		for (uint32_t k = 0; k < VX_SCHED_CANDS_MAX && q->nr_parents; k++)
			n += q->in[k].parent != SCHED_NONE && s->peers[q->in[k].parent].host == ph;
	}
	return n;
}

bool vx__sched_eligible(const struct vx_sched *s, const struct sched_peer *p)
{
	const struct sched_host *h = &s->hosts[p->host];

	return !vx__sched_host_full(s, h) && vx__sched_eligible_state(s, p);
}

bool vx__sched_eligible_state(const struct vx_sched *s, const struct sched_peer *p)
{
	const struct sched_host *h = &s->hosts[p->host];

	if (p->liar || h->state != VX_SCHED_HOST_ACTIVE)
		return false;
	switch (p->state) {
	case VX_SCHED_PEER_BACK_TO_SOURCE:
	case VX_SCHED_PEER_SUCCEEDED:
		return true;
	case VX_SCHED_PEER_RUNNING:
		return p->finished > 0;
	default:
		return false;
	}
}

void vx__sched_heap_update(struct vx_sched *s, uint32_t pi)
{
	struct sched_peer *p = &s->peers[pi];
	struct sched_task *t = &s->tasks[p->task];

	if (!vx__sched_eligible(s, p)) {
		heap_remove(s, t, pi);
		return;
	}
	p->score = vx__sched_score(s, p);
	if (p->heap_pos == SCHED_NONE) {
		VX_ASSERT(t->heap_len < t->cap);
		p->heap_pos = t->heap_len++;
	}
	t->heap[p->heap_pos] = (struct sched_hent){ p->score, pi, sched_rank(p) };
	heap_up(s, t, p->heap_pos);
	heap_down(s, t, p->heap_pos);
}

/* A host's load changed: every peer it has re-scores (hosts hold few peers). */
static void host_rescore(struct vx_sched *s, uint32_t hi)
{
	for (uint32_t pi = s->hosts[hi].peer_head; pi != SCHED_NONE; pi = s->peers[pi].host_next)
		vx__sched_heap_update(s, pi);
}

/* ---------------------------------------------------------------- Edges */

int vx__sched_edge_add(struct vx_sched *s, uint32_t child, uint32_t parent)
{
	struct sched_peer *c = &s->peers[child], *p = &s->peers[parent];
	struct sched_host *ph = &s->hosts[p->host];
	uint32_t slot, e;

	for (slot = 0; slot < VX_SCHED_CANDS_MAX; slot++) {
		if (c->in[slot].parent == SCHED_NONE)
			break;
	}
	if (slot == VX_SCHED_CANDS_MAX)
		return -ENOSPC;
	e = sched_edge_id(child, slot);
	c->in[slot].parent = parent;
	c->in[slot].prev = SCHED_NONE;
	c->in[slot].next = p->child_head;
	if (p->child_head != SCHED_NONE) {
		uint32_t hc = p->child_head / VX_SCHED_CANDS_MAX;

		s->peers[hc].in[p->child_head % VX_SCHED_CANDS_MAX].prev = e;
	}
	p->child_head = e;
	p->nr_children++;
	c->nr_parents++;
	ph->children++;
	if (vx__sched_host_edges(s, c->host, p->host) == 1)
		ph->child_hosts++;
	if (s->tasks[c->task].content_len > 0)
		ph->upload_bytes += (uint64_t)s->tasks[c->task].content_len;
	host_rescore(s, p->host);
	return 0;
}

static void edge_del(struct vx_sched *s, uint32_t child, uint32_t slot)
{
	struct sched_peer *c = &s->peers[child];
	struct sched_edge *ed = &c->in[slot];
	struct sched_peer *p = &s->peers[ed->parent];
	struct sched_host *ph = &s->hosts[p->host];
	int64_t len = s->tasks[c->task].content_len;

	if (ed->prev == SCHED_NONE)
		p->child_head = ed->next;
	else
		s->peers[ed->prev / VX_SCHED_CANDS_MAX].in[ed->prev % VX_SCHED_CANDS_MAX].next =
			ed->next;
	if (ed->next != SCHED_NONE)
		s->peers[ed->next / VX_SCHED_CANDS_MAX].in[ed->next % VX_SCHED_CANDS_MAX].prev =
			ed->prev;
	VX_ASSERT(p->nr_children > 0);
	VX_ASSERT(ph->children > 0);
	p->nr_children--;
	ph->children--;
	if (len > 0 && ph->upload_bytes >= (uint64_t)len)
		ph->upload_bytes -= (uint64_t)len;
	c->nr_parents--;
	ed->parent = SCHED_NONE;
	ed->next = ed->prev = SCHED_NONE;
	if (vx__sched_host_edges(s, c->host, p->host) == 0) {
		VX_ASSERT(ph->child_hosts > 0);
		ph->child_hosts--;
	}
	host_rescore(s, p->host);
}

/* Drops every in-edge of @child and the reservations they held on the parents' hosts. */
void vx__sched_edges_release(struct vx_sched *s, uint32_t child)
{
	for (uint32_t slot = 0; slot < VX_SCHED_CANDS_MAX && s->peers[child].nr_parents; slot++) {
		if (s->peers[child].in[slot].parent != SCHED_NONE)
			edge_del(s, child, slot);
	}
}

/* Drops every out-edge of @parent and asks each child's host to take new parents. */
static void children_reschedule(struct vx_sched *s, uint32_t parent)
{
	struct sched_peer *p = &s->peers[parent];

	while (p->child_head != SCHED_NONE) {
		uint32_t e = p->child_head, child = e / VX_SCHED_CANDS_MAX;

		edge_del(s, child, e % VX_SCHED_CANDS_MAX);
		ev_push(s, s->peers[child].host, s->peers[child].task, VX_CTL_EV_PARENTS);
	}
}

bool vx__sched_blocked(const struct vx_sched *s, const struct sched_task *t, uint32_t host)
{
	uint32_t tag = host | s->hosts[host].gen << 20;

	for (uint32_t i = 0; i < t->nr_blocked; i++) {
		if (t->blocked[i] == tag)
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------- Hosts */

/* The tenant of @h's certificate (the server checked it); a longer one is no tenant's. */
static void host_set_tenant(struct sched_host *h, struct vx_ctl_str tenant)
{
	size_t n = tenant.len < sizeof(h->tenant) ? tenant.len : 0;

	if (n)
		memcpy(h->tenant, tenant.ptr, n);
	h->tenant[n] = '\0';
}

int vx_sched_hello(struct vx_sched *s, const struct vx_sched_host_info *info, uint64_t now_ms)
{
	struct sched_host *h;
	uint32_t hi;

	VX_ASSERT(s);
	VX_ASSERT(info);
	if (info->id.len == 0 || info->id.len > VX_CTL_ID_MAX ||
	    memchr(info->id.ptr, '\0', info->id.len))
		return -EINVAL;
	hi = find_host(s, info->id);
	if (hi == SCHED_NONE) {
		if (s->host_free == SCHED_NONE)
			return -ENOSPC;
		hi = s->host_free;
		h = &s->hosts[hi];
		h->id = dup_str(info->id);
		if (!h->id)
			return -ENOMEM;
		s->host_free = h->free_next;
		h->gen = (h->gen + 1) & 0xfff;
		h->peer_head = SCHED_NONE;
		h->nr_peers = 0;
		h->children = 0;
		h->child_hosts = 0;
		h->upload_bytes = 0;
		h->thr_bps = 0;
		h->rx_peer = h->rx_origin = h->tx_bytes = h->tx_bps = 0;
		h->banned = vx__sched_banned_id(s, h->id);
		h->ctx = NULL;
		h->hash = vx_hash_fnv1a(info->id.ptr, info->id.len);
		host_set_state(h, VX_SCHED_HOST_ACTIVE);
		map_insert(s, MAP_HOST, hi);
		s->st.hosts++;
	} else {
		h = &s->hosts[hi];
		if (h->role == VX_CTL_ROLE_SEED && h->state == VX_SCHED_HOST_ACTIVE)
			s->nr_seeds--;
		if (h->state == VX_SCHED_HOST_SILENT)
			host_set_state(h, VX_SCHED_HOST_ACTIVE);
		vx_free(h->addr);
		vx_free(h->idc);
		vx_free(h->loc);
		h->addr = h->idc = h->loc = NULL;
	}
	h->addr = dup_str(info->addr);
	h->idc = dup_str(info->idc);
	h->loc = dup_str(info->location);
	h->port = info->port;
	h->role = (uint8_t)(info->role == VX_CTL_ROLE_SEED ? VX_CTL_ROLE_SEED : VX_CTL_ROLE_NORMAL);
	host_set_tenant(h, info->tenant);
	h->slots = info->slots ? info->slots : (h->role == VX_CTL_ROLE_SEED ? 2000u : 200u);
	h->bw_bps = info->bandwidth_bps ? info->bandwidth_bps : s->cfg.default_bps;
	h->seen_ms = now_ms;
	if (h->role == VX_CTL_ROLE_SEED)
		s->nr_seeds++;
	if (!h->addr || !h->idc || !h->loc) {
		vx_sched_host_leave(s, hi, now_ms);
		return -ENOMEM;
	}
	host_slots_update(s, h);
	host_rescore(s, hi);
	return (int)hi;
}

int vx_sched_announce(struct vx_sched *s, uint32_t host, uint32_t uploads, uint64_t tx_bps,
		      uint64_t now_ms)
{
	struct sched_host *h = host_get(s, host);

	if (!h)
		return -ENOENT;
	h->uploads = uploads;
	h->tx_bps = tx_bps;
	h->seen_ms = now_ms;
	return 0;
}

void vx_sched_host_set_ctx(struct vx_sched *s, uint32_t host, void *ctx)
{
	struct sched_host *h = host_get(s, host);

	if (h)
		h->ctx = ctx;
}

void *vx_sched_host_ctx(const struct vx_sched *s, uint32_t host)
{
	struct sched_host *h = host_get(s, host);

	return h ? h->ctx : NULL;
}

const char *vx_sched_host_id(const struct vx_sched *s, uint32_t host)
{
	struct sched_host *h = host_get(s, host);

	return h ? h->id : NULL;
}

/* Tasks @h may register at once: a seed keeps every task it fetched registered (a cache that
 * preheats and syncs fill), a peer a working set. */
static uint32_t host_peers_cap(const struct vx_sched *s, const struct sched_host *h)
{
	return h->role == VX_CTL_ROLE_SEED ? s->cfg.seed_peers_max : s->cfg.host_peers_max;
}

bool vx_sched_host_full(const struct vx_sched *s, uint32_t host)
{
	struct sched_host *h = host_get(s, host);

	return h && h->nr_peers >= host_peers_cap(s, h);
}

/* ---------------------------------------------------------------- Tasks and peers */

static void peer_free(struct vx_sched *s, uint32_t pi);

/* Frees every peer of @ti, and so the task, promoting nobody on the way. */
static void task_drop(struct vx_sched *s, uint32_t ti)
{
	struct sched_task *t = &s->tasks[ti];

	t->deleting = true;
	while (t->state != VX_SCHED_TASK_FREE && t->nr_peers)
		peer_free(s, t->peers[t->nr_peers - 1]);
}

/*
 * The task table is full: frees the stale task idle longest (no full copy on any host, no
 * progress from any of its peers for cfg.task_stale_ms). One scan of the table, only when it
 * is full. True when a slot was freed.
 */
static bool task_evict_stale(struct vx_sched *s, uint64_t now_ms)
{
	uint32_t best = SCHED_NONE;
	uint64_t best_ms = UINT64_MAX;

	for (uint32_t ti = 0; ti < s->cfg.tasks_max; ti++) {
		const struct sched_task *t = &s->tasks[ti];
		uint64_t last = 0;

		if (t->state == VX_SCHED_TASK_FREE || t->nr_done || t->deleting)
			continue;
		for (uint32_t k = 0; k < t->nr_peers; k++)
			last = VX_MAX(last, s->peers[t->peers[k]].progress_ms);
		if (last > now_ms || now_ms - last < s->cfg.task_stale_ms || last >= best_ms)
			continue;
		best = ti;
		best_ms = last;
	}
	if (best == SCHED_NONE)
		return false;
	if (!(s->st.tasks_evicted & 1023))
		vx_warn("sched: the task table is full (%u): dropped task %.12s, idle %" PRIu64
			" s with no full copy (%" PRIu64 " dropped so far)",
			s->cfg.tasks_max, s->tasks[best].id, (now_ms - best_ms) / 1000,
			s->st.tasks_evicted + 1);
	task_drop(s, best);
	s->st.tasks_evicted++;
	return true;
}

static int task_new(struct vx_sched *s, struct vx_ctl_str id, uint64_t now_ms, uint32_t *out)
{
	struct sched_task *t;
	uint32_t ti = s->task_free;

	if (ti == SCHED_NONE && task_evict_stale(s, now_ms))
		ti = s->task_free;
	if (ti == SCHED_NONE)
		return -ENOSPC;
	t = &s->tasks[ti];
	t->cap = VX_MIN(64u, s->cfg.task_peers_max);
	t->peers = vx_mallocarray(t->cap, sizeof(*t->peers));
	t->heap = vx_mallocarray(t->cap, sizeof(*t->heap));
	if (!t->peers || !t->heap) {
		task_arrays_free(t);
		return -ENOMEM;
	}
	s->task_free = t->free_next;
	memcpy(t->id, id.ptr, VX_TASK_ID_LEN);
	t->id[VX_TASK_ID_LEN] = '\0';
	t->gen++;
	t->nr_peers = t->heap_len = 0;
	t->nr_origin = t->nr_done = t->nr_done_normal = t->nr_waiting = 0;
	t->nr_blocked = 0;
	t->piece_len = 0;
	t->content_len = -1;
	t->piece_count = 0;
	t->digest_cap = 0;
	t->mlog_len = 0;
	t->stalled = false;
	t->deleting = false;
	t->geometry_trusted = false;
	t->seed_tries = 0;
	t->requester[0] = '\0';
	t->requester_local = false;
	t->tenant[0] = '\0';
	t->origin_ms = 0;
	task_set_state(t, VX_SCHED_TASK_PENDING);
	map_insert(s, MAP_TASK, ti);
	s->st.tasks++;
	*out = ti;
	return 0;
}

static void task_free(struct vx_sched *s, uint32_t ti)
{
	struct sched_task *t = &s->tasks[ti];

	VX_ASSERT(t->nr_peers == 0);
	map_remove(s, MAP_TASK, ti);
	task_arrays_free(t);
	task_set_state(t, VX_SCHED_TASK_FREE);
	t->free_next = s->task_free;
	s->task_free = ti;
	s->st.tasks--;
}

static int task_grow(struct sched_task *t, uint32_t limit)
{
	uint32_t cap;
	uint32_t *np;
	struct sched_hent *nh;

	if (t->nr_peers < t->cap)
		return 0;
	if (t->cap >= limit)
		return -ENOSPC;
	cap = t->cap * 2 > limit ? limit : t->cap * 2;
	np = vx_realloc(t->peers, (size_t)cap * sizeof(*np));
	if (!np)
		return -ENOMEM;
	t->peers = np;
	nh = vx_realloc(t->heap, (size_t)cap * sizeof(*nh));
	if (!nh)
		return -ENOMEM;
	t->heap = nh;
	t->cap = cap;
	return 0;
}

/*
 * Sets the piece geometry. What a registrant says is a hint, kept until an origin peer reports
 * what the source said (@trusted), which then wins: one registrant must not be able to shrink
 * the task for everyone. Piece counts beyond pieces_max are refused.
 */
static int task_set_geometry(struct vx_sched *s, struct sched_task *t, uint64_t piece_len,
			     int64_t content_len, bool trusted)
{
	uint64_t count;

	if (trusted && t->geometry_trusted)
		trusted = false; /* the first origin report stands */
	if (piece_len && (!t->piece_len || trusted))
		t->piece_len = piece_len;
	if (content_len >= 0 && (t->content_len < 0 || trusted))
		t->content_len = content_len;
	if (trusted) {
		t->geometry_trusted = true;
		t->piece_count = 0;
	}
	if (t->piece_count || !t->piece_len || t->content_len < 0)
		return 0;
	count = vx_piece_count((uint64_t)t->content_len, t->piece_len);
	if (count > s->cfg.pieces_max)
		return -EINVAL;
	t->piece_count = (uint32_t)count;
	return 0;
}

static int peer_new(struct vx_sched *s, uint32_t hi, uint32_t ti, uint32_t *out)
{
	struct sched_task *t = &s->tasks[ti];
	struct sched_host *h = &s->hosts[hi];
	struct sched_peer *p;
	uint32_t pi = s->peer_free;
	int rc;

	if (pi == SCHED_NONE)
		return -ENOSPC;
	rc = task_grow(t, s->cfg.task_peers_max);
	if (rc)
		return rc;
	p = &s->peers[pi];
	s->peer_free = p->free_next;
	vx_free(p->bits);
	memset(p, 0, sizeof(*p));
	p->host = hi;
	p->task = ti;
	p->heap_pos = SCHED_NONE;
	p->child_head = SCHED_NONE;
	for (uint32_t i = 0; i < VX_SCHED_CANDS_MAX; i++) {
		p->in[i].parent = SCHED_NONE;
		p->in[i].next = p->in[i].prev = SCHED_NONE;
	}
	peer_set_state(p, VX_SCHED_PEER_PENDING);
	p->task_pos = t->nr_peers;
	t->peers[t->nr_peers++] = pi;
	p->host_prev = SCHED_NONE;
	p->host_next = h->peer_head;
	if (h->peer_head != SCHED_NONE)
		s->peers[h->peer_head].host_prev = pi;
	h->peer_head = pi;
	h->nr_peers++;
	map_insert(s, MAP_PEER, pi);
	s->st.peers++;
	*out = pi;
	return 0;
}

/* Marks @piece held; returns 1 when new, 0 when known, -EINVAL beyond the limit. */
static int peer_mark(struct vx_sched *s, struct sched_peer *p, uint32_t piece)
{
	uint32_t w = piece / 64;

	if (piece >= s->cfg.pieces_max)
		return -EINVAL;
	if (w >= p->nr_words) {
		uint32_t n = VX_MAX(w + 1, p->nr_words * 2);
		uint64_t *nb;

		n = VX_MIN(n, (s->cfg.pieces_max + 63) / 64);
		nb = vx_realloc(p->bits, (size_t)n * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		memset(nb + p->nr_words, 0, (size_t)(n - p->nr_words) * sizeof(*nb));
		p->bits = nb;
		p->nr_words = n;
	}
	if (p->bits[w] >> (piece % 64) & 1)
		return 0;
	p->bits[w] |= 1ull << (piece % 64);
	p->finished++;
	return 1;
}

static int peer_mark_bitmap(struct vx_sched *s, struct sched_peer *p, uint32_t base,
			    const uint8_t *bm, uint32_t len)
{
	int rc;

	for (uint32_t i = 0; i < len * 8; i++) {
		if (!bm[i / 8]) {
			i += 7; /* an empty byte: skip its bits */
			continue;
		}
		if (!vx_bit_get(bm, i))
			continue;
		rc = peer_mark(s, p, base + i);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static bool peer_complete(const struct sched_task *t, const struct sched_peer *p)
{
	return t->piece_count && p->finished >= t->piece_count;
}

/*
 * Does @t's bound source name an anonymous http(s) URL, the only kind a seed fetches for
 * another host (spec/peer.md: never with its own credentials)? A source is bound only when it
 * derives the task id (sched_source.c), so no registrant can claim another kind for a task.
 */
static bool source_seedable(const char *u)
{
	const char *auth;

	if (strncasecmp(u, "http://", 7) == 0)
		auth = u + 7;
	else if (strncasecmp(u, "https://", 8) == 0)
		auth = u + 8;
	else
		return false;
	return !memchr(auth, '@', strcspn(auth, "/?#"));
}

/*
 * May @host's peer be made the origin of @t? A seed always; a normal host only when no seed is
 * in the cluster, or when the task's bound source is one no seed fetches (s3, oci, hdfs, ftp,
 * user-info: a requester fetches it with its own credentials). Otherwise the manifest comes
 * from a seed only, never from whoever registered first, even after a seed failed (a
 * registrant could make it fail with a source the origin rejects, and the source is unbound
 * then): normal peers that give up waiting fetch the origin for themselves, and their digests
 * never become the manifest (spec/control.md 5). Registrants' own claims (private, content id)
 * never widen this.
 */
static bool origin_role_ok(const struct vx_sched *s, const struct sched_task *t, uint32_t host)
{
	return s->nr_seeds == 0 || s->hosts[host].role == VX_CTL_ROLE_SEED ||
	       (t->url && !source_seedable(t->url));
}

/* Picks the non-origin peer that holds the most pieces and makes it fetch from the origin. */
static bool origin_promote(struct vx_sched *s, uint32_t ti)
{
	struct sched_task *t = &s->tasks[ti];
	uint32_t best = SCHED_NONE;

	for (uint32_t i = 0; i < t->nr_peers; i++) {
		struct sched_peer *p = &s->peers[t->peers[i]];

		if ((p->state != VX_SCHED_PEER_RECEIVED && p->state != VX_SCHED_PEER_RUNNING) ||
		    s->hosts[p->host].state != VX_SCHED_HOST_ACTIVE ||
		    !origin_role_ok(s, t, p->host))
			continue;
		if (best == SCHED_NONE || p->finished > s->peers[best].finished)
			best = t->peers[i];
	}
	if (best == SCHED_NONE)
		return false;
	vx__sched_edges_release(s, best);
	peer_set_state(&s->peers[best], VX_SCHED_PEER_BACK_TO_SOURCE);
	if (s->peers[best].waiting) {
		s->peers[best].waiting = false;
		t->nr_waiting--;
	}
	t->nr_origin++;
	t->origin_ms = s->peers[best].progress_ms;
	vx__sched_heap_update(s, best);
	ev_push(s, s->peers[best].host, ti, VX_CTL_EV_BACK_TO_SOURCE);
	task_set_state(t, VX_SCHED_TASK_RUNNING);
	return true;
}

/* An origin peer stopped fetching (failed, left, silent): hand the role on. */
static void origin_lost(struct vx_sched *s, uint32_t ti)
{
	struct sched_task *t = &s->tasks[ti];

	if (t->nr_origin > 0 || t->nr_done > 0)
		return;
	if (!origin_promote(s, ti) && t->state == VX_SCHED_TASK_RUNNING)
		task_set_state(t, VX_SCHED_TASK_FAILED);
}

/* Takes @pi out of the swarm graph: no heap entry, no edges; children rescheduled. */
static void peer_detach(struct vx_sched *s, uint32_t pi)
{
	struct sched_peer *p = &s->peers[pi];
	struct sched_task *t = &s->tasks[p->task];

	vx__sched_edges_release(s, pi);
	children_reschedule(s, pi);
	/* last: dropping edges re-scores this host's peers, which could re-insert it */
	heap_remove(s, t, pi);
	if (p->waiting) {
		p->waiting = false;
		t->nr_waiting--;
	}
}

static void peer_fail(struct vx_sched *s, uint32_t pi)
{
	struct sched_peer *p = &s->peers[pi];
	struct sched_task *t = &s->tasks[p->task];
	bool was_origin = p->state == VX_SCHED_PEER_BACK_TO_SOURCE;

	VX_ASSERT(p->state != VX_SCHED_PEER_SUCCEEDED);
	peer_detach(s, pi);
	if (was_origin)
		t->nr_origin--;
	peer_set_state(p, VX_SCHED_PEER_FAILED);
	if (was_origin)
		origin_lost(s, p->task);
}

static void peer_free(struct vx_sched *s, uint32_t pi)
{
	struct sched_peer *p = &s->peers[pi];
	uint32_t ti = p->task, hi = p->host;
	struct sched_task *t = &s->tasks[ti];
	struct sched_host *h = &s->hosts[hi];
	bool was_origin = p->state == VX_SCHED_PEER_BACK_TO_SOURCE;
	bool was_done = p->state == VX_SCHED_PEER_SUCCEEDED;
	uint32_t last;

	peer_detach(s, pi);
	if (was_origin)
		t->nr_origin--;
	if (was_done) {
		t->nr_done--;
		if (h->role == VX_CTL_ROLE_NORMAL)
			t->nr_done_normal--;
	}
	map_remove(s, MAP_PEER, pi);
	last = t->peers[--t->nr_peers];
	t->peers[p->task_pos] = last;
	s->peers[last].task_pos = p->task_pos;
	if (p->host_prev == SCHED_NONE)
		h->peer_head = p->host_next;
	else
		s->peers[p->host_prev].host_next = p->host_next;
	if (p->host_next != SCHED_NONE)
		s->peers[p->host_next].host_prev = p->host_prev;
	h->nr_peers--;
	peer_set_state(p, VX_SCHED_PEER_FREE);
	p->free_next = s->peer_free;
	s->peer_free = pi;
	s->st.peers--;
	if (t->nr_peers == 0) {
		task_free(s, ti);
		return;
	}
	if (t->deleting)
		return;
	if (was_origin)
		origin_lost(s, ti);
	if (was_done && t->nr_done == 0 && t->state == VX_SCHED_TASK_SUCCEEDED) {
		/* the last full copy left: someone must go back to the origin */
		task_set_state(t, VX_SCHED_TASK_RUNNING);
		if (t->nr_origin == 0)
			origin_lost(s, ti);
	}
}

void vx_sched_host_leave(struct vx_sched *s, uint32_t host, uint64_t now_ms)
{
	struct sched_host *h = host_get(s, host);

	(void)now_ms;
	if (!h)
		return;
	while (h->peer_head != SCHED_NONE)
		peer_free(s, h->peer_head);
	if (h->role == VX_CTL_ROLE_SEED && h->state == VX_SCHED_HOST_ACTIVE)
		s->nr_seeds--;
	VX_ASSERT(h->children == 0 && h->child_hosts == 0);
	map_remove(s, MAP_HOST, host);
	host_strings_free(h);
	host_set_state(h, VX_SCHED_HOST_FREE);
	h->free_next = s->host_free;
	s->host_free = host;
	s->st.hosts--;
}

void vx_sched_host_silent(struct vx_sched *s, uint32_t host, uint64_t now_ms)
{
	struct sched_host *h = host_get(s, host);

	if (!h || h->state != VX_SCHED_HOST_ACTIVE)
		return;
	host_set_state(h, VX_SCHED_HOST_SILENT);
	h->seen_ms = now_ms;
	h->ctx = NULL;
	if (h->role == VX_CTL_ROLE_SEED)
		s->nr_seeds--;
	for (uint32_t pi = h->peer_head; pi != SCHED_NONE; pi = s->peers[pi].host_next) {
		struct sched_peer *p = &s->peers[pi];
		struct sched_task *t = &s->tasks[p->task];

		peer_detach(s, pi);
		if (p->state == VX_SCHED_PEER_BACK_TO_SOURCE && t->nr_origin == 1 &&
		    t->nr_done == 0) {
			/* the origin fetch is gone with the connection: hand it on */
			t->nr_origin--;
			peer_set_state(p, VX_SCHED_PEER_FAILED);
			origin_lost(s, p->task);
		}
	}
}

/* ---------------------------------------------------------------- Register */

static struct vx_ctl_digest *manifest_fill(struct vx_sched *s, struct sched_peer *p, uint32_t *nr)
{
	struct sched_task *t = &s->tasks[p->task];
	uint32_t n = 0;

	while (p->manifest_sent < t->mlog_len && n < s->scratch_cap) {
		uint32_t piece = t->mlog[p->manifest_sent++];
		const char *d = t->digests + (size_t)piece * (VX_CTL_DIGEST_MAX + 1);

		s->scratch[n].piece = piece;
		s->scratch[n].digest = vx_ctl_str_of(d);
		n++;
	}
	p->notified = p->manifest_sent < t->mlog_len;
	*nr = n;
	return s->scratch;
}

static void answer_init(struct vx_sched *s, struct sched_peer *p, struct vx_sched_answer *ans)
{
	struct sched_task *t = &s->tasks[p->task];

	memset(ans, 0, sizeof(*ans));
	ans->piece_count = t->piece_count;
	ans->piece_len = t->piece_len;
	ans->content_len = t->content_len;
	ans->digests = manifest_fill(s, p, &ans->nr_digests);
	ans->priv = t->priv;
	/* a seed serves every tenant's hosts: it learns whose each task is (spec/peer.md "TLS") */
	if (s->hosts[p->host].role == VX_CTL_ROLE_SEED && !s->hosts[p->host].tenant[0])
		ans->tenant = t->tenant;
}

static void make_origin(struct vx_sched *s, uint32_t pi, uint64_t now_ms)
{
	struct sched_peer *p = &s->peers[pi];
	struct sched_task *t = &s->tasks[p->task];

	vx__sched_edges_release(s, pi);
	peer_set_state(p, VX_SCHED_PEER_BACK_TO_SOURCE);
	t->nr_origin++;
	t->origin_ms = now_ms;
	p->progress_ms = now_ms;
	task_set_state(t, VX_SCHED_TASK_RUNNING);
	vx__sched_heap_update(s, pi);
}

static uint32_t origin_limit(const struct vx_sched *s, const struct sched_task *t)
{
	return t->stalled ? s->cfg.origin_stalled_max : s->cfg.origin_max;
}

/* Origin fetches under way on @host (its peers fetching from the source). */
static uint32_t host_origin_fetches(const struct vx_sched *s, uint32_t host)
{
	uint32_t n = 0;

	for (uint32_t pi = s->hosts[host].peer_head; pi != SCHED_NONE; pi = s->peers[pi].host_next)
		n += s->peers[pi].state == VX_SCHED_PEER_BACK_TO_SOURCE;
	return n;
}

/*
 * Rendezvous hashing of the task id over the active seed hosts, with two choices: of the two
 * seeds the task ranks highest, the one with fewer origin fetches under way (the first on a
 * tie). The same task goes to the same one or two seeds, and the layers of one image, which
 * arrive together, are spread over the seeds' downlinks instead of sharing one (a seed
 * fetching two layers takes twice as long to put the last piece of each in the swarm).
 */
static uint32_t seed_for(const struct vx_sched *s, const struct sched_task *t)
{
	uint32_t best = SCHED_NONE, second = SCHED_NONE, th = vx_hash_fnv1a(t->id, VX_TASK_ID_LEN);
	uint32_t hb = 0, hs = 0;

	for (uint32_t hi = 0; hi < s->cfg.hosts_max && s->nr_seeds; hi++) {
		const struct sched_host *h = &s->hosts[hi];
		uint32_t w;

		if (h->state != VX_SCHED_HOST_ACTIVE || h->role != VX_CTL_ROLE_SEED)
			continue;
		w = (uint32_t)vx_hash_mix64((uint64_t)h->hash << 32 | th);
		if (best == SCHED_NONE || w > hb) {
			second = best;
			hs = hb;
			best = hi;
			hb = w;
		} else if (second == SCHED_NONE || w > hs) {
			second = hi;
			hs = w;
		}
	}
	if (second != SCHED_NONE && host_origin_fetches(s, second) < host_origin_fetches(s, best))
		return second;
	return best;
}

/* No origin, no copy, nobody with a piece: the task needs a source. */
static bool task_sourceless(const struct sched_task *t)
{
	return t->nr_origin == 0 && t->nr_done == 0 && t->heap_len == 0;
}

/* The origin's word says the content is empty: nothing to fetch, from anyone. */
static bool task_empty(const struct sched_task *t)
{
	return t->geometry_trusted && t->content_len == 0;
}

static void answer_parents(struct vx_sched *s, uint32_t pi, const struct vx_ctl_str *avoid,
			   uint32_t nr_avoid, uint64_t now_ms, struct vx_sched_answer *ans)
{
	struct sched_peer *p = &s->peers[pi];
	struct sched_task *t = &s->tasks[p->task];

	s->st.decisions++;
	if (task_empty(t)) {
		/* no parent holds a piece of an empty task: a WAIT would never end */
		ans->kind = VX_CTL_ANS_EMPTY;
		if (p->waiting) {
			p->waiting = false;
			t->nr_waiting--;
		}
		return;
	}
	if (vx__sched_pick(s, pi, avoid, nr_avoid, ans) > 0) {
		ans->kind = VX_CTL_ANS_PARENTS;
		s->st.cands_given += ans->nr_cands;
		if (p->waiting) {
			p->waiting = false;
			t->nr_waiting--;
		}
		return;
	}
	if (t->nr_origin < origin_limit(s, t) && t->nr_done == 0 && origin_role_ok(s, t, p->host)) {
		make_origin(s, pi, now_ms);
		ans->kind = VX_CTL_ANS_BACK_TO_SOURCE;
		s->st.answers_bts++;
		return;
	}
	ans->kind = VX_CTL_ANS_WAIT;
	s->st.answers_wait++;
	if (!p->waiting) {
		p->waiting = true;
		t->nr_waiting++;
	}
}

static int register_existing(struct vx_sched *s, uint32_t pi, const struct vx_sched_reg *req)
{
	struct sched_peer *p = &s->peers[pi];
	int rc = 0;

	if (req->bitmap_len)
		rc = peer_mark_bitmap(s, p, req->bitmap_base, req->bitmap, req->bitmap_len);
	return rc;
}

/*
 * A task belongs to the tenant of the host that registered it first (a seed's register makes it
 * public, tenant ""): a host of another tenant may not join it (-EACCES), so it is never offered
 * a parent in it, never a parent to it, and its reports never reach it. Seeds serve every tenant.
 */
static int reg_tenant(const struct vx_sched *s, const struct sched_host *h,
		      const struct vx_sched_reg *req)
{
	uint32_t ti = find_task(s, req->task_id);
	const struct sched_task *t;

	if (ti == SCHED_NONE || (h->role == VX_CTL_ROLE_SEED && !h->tenant[0]))
		return 0; /* a seed of a tenant joins as its tenant */
	t = &s->tasks[ti];
	if (t->nr_peers == 0 || strcmp(t->tenant, h->tenant) == 0)
		return 0;
	vx_info("scheduler: host %s (tenant '%s') may not join task %.12s of another tenant", h->id,
		h->tenant, t->id);
	return -EACCES;
}

static int reg_task(struct vx_sched *s, const struct vx_sched_reg *req, uint64_t now_ms,
		    uint32_t *ti)
{
	int rc;

	*ti = find_task(s, req->task_id);
	if (*ti == SCHED_NONE) {
		rc = task_new(s, req->task_id, now_ms, ti);
		if (rc)
			return rc;
	}
	/* a URL that does not derive the id is not the task's source; the register goes on */
	rc = vx__sched_source_bind(&s->tasks[*ti], req);
	if (rc == -ENOMEM && s->tasks[*ti].nr_peers == 0) {
		task_free(s, *ti);
		return rc;
	}
	return 0;
}

/*
 * A seed is chosen for a sourceless task with a bound source: it gets a peer fetching from the
 * origin at once. The trigger names @requester's address, so the seed fetches only what the
 * requester could reach itself, and says whether the requester is on the seed's own host: both
 * connect from the same address as the scheduler sees them (two loopback addresses are equal
 * only when both hosts run beside the scheduler, i.e. on one host). The seed never guesses
 * that from the address itself (a loopback requester is on the scheduler's host, not its own).
 */
static void trigger_seed(struct vx_sched *s, uint32_t ti, uint32_t requester, uint64_t now_ms)
{
	struct sched_task *t = &s->tasks[ti];
	uint32_t sh = seed_for(s, t), spi;
	const char *addr = s->hosts[requester].addr, *seed_addr;

	if (sh == SCHED_NONE || !t->url || !source_seedable(t->url) ||
	    find_peer(s, sh, ti) != SCHED_NONE || t->seed_tries >= SCHED_SEED_TRIES)
		return;
	if (peer_new(s, sh, ti, &spi))
		return;
	t->seed_tries++;
	seed_addr = s->hosts[sh].addr;
	snprintf(t->requester, sizeof(t->requester), "%s", addr ? addr : "");
	t->requester_local = addr && seed_addr && strcmp(addr, seed_addr) == 0;
	make_origin(s, spi, now_ms);
	ev_push(s, sh, ti, VX_CTL_EV_TRIGGER);
}

int vx_sched_register(struct vx_sched *s, uint32_t host, const struct vx_sched_reg *req,
		      uint64_t now_ms, struct vx_sched_answer *ans)
{
	struct sched_host *h = host_get(s, host);
	struct sched_task *t;
	struct sched_peer *p;
	uint32_t ti, pi;
	bool fresh = false;
	int rc;

	VX_ASSERT(req);
	VX_ASSERT(ans);
	memset(ans, 0, sizeof(*ans));
	if (!h || h->state != VX_SCHED_HOST_ACTIVE)
		return -ENOENT;
	if (req->task_id.len != VX_TASK_ID_LEN)
		return -EINVAL;
	rc = reg_tenant(s, h, req);
	if (rc)
		return rc;
	rc = reg_task(s, req, now_ms, &ti);
	if (rc)
		return rc;
	t = &s->tasks[ti];
	if (t->nr_peers == 0 && (h->role != VX_CTL_ROLE_SEED || h->tenant[0]))
		memcpy(t->tenant, h->tenant, sizeof(t->tenant));
	t->priv = t->priv || req->priv; /* once private, always private */
	rc = task_set_geometry(s, t, req->piece_len, req->content_len, false);
	if (rc)
		goto err_free_task;
	pi = find_peer(s, host, ti);
	if (pi != SCHED_NONE && s->peers[pi].state == VX_SCHED_PEER_FAILED) {
		peer_free(s, pi); /* a failed peer registering again starts over */
		ti = find_task(s, req->task_id);
		if (ti == SCHED_NONE)
			return vx_sched_register(s, host, req, now_ms, ans);
		t = &s->tasks[ti];
		pi = SCHED_NONE;
	}
	if (pi == SCHED_NONE) {
		rc = h->nr_peers >= host_peers_cap(s, h) ? -ENOSPC : peer_new(s, host, ti, &pi);
		if (rc)
			goto err_free_task;
		fresh = true;
	}
	p = &s->peers[pi];
	rc = register_existing(s, pi, req);
	if (rc)
		goto err_free_peer;
	p->progress_ms = now_ms;
	if (p->state == VX_SCHED_PEER_PENDING && p->finished > 0)
		peer_set_state(p, VX_SCHED_PEER_RECEIVED);
	if (p->state == VX_SCHED_PEER_RECEIVED && p->finished > 0)
		peer_set_state(p, VX_SCHED_PEER_RUNNING);
	if (peer_complete(t, p) && p->state != VX_SCHED_PEER_SUCCEEDED) {
		/* re-announce of a full copy after a failover */
		if (p->state == VX_SCHED_PEER_BACK_TO_SOURCE)
			t->nr_origin--;
		vx__sched_edges_release(s, pi);
		if (p->waiting) {
			p->waiting = false;
			t->nr_waiting--;
		}
		peer_set_state(p, VX_SCHED_PEER_SUCCEEDED);
		t->nr_done++;
		if (h->role == VX_CTL_ROLE_NORMAL)
			t->nr_done_normal++;
		task_set_state(t, VX_SCHED_TASK_RUNNING);
		task_set_state(t, VX_SCHED_TASK_SUCCEEDED);
	}
	vx__sched_heap_update(s, pi);
	answer_init(s, p, ans);
	if (p->state == VX_SCHED_PEER_SUCCEEDED) {
		ans->kind = VX_CTL_ANS_PARENTS; /* nothing to fetch; no parents */
		return 0;
	}
	/* empty only on the registrant's own word, or the origin's: never on another peer's */
	if (req->content_len == 0 || task_empty(t)) {
		if (p->state == VX_SCHED_PEER_PENDING)
			peer_set_state(p, VX_SCHED_PEER_RECEIVED);
		task_set_state(t, VX_SCHED_TASK_RUNNING);
		ans->kind = VX_CTL_ANS_EMPTY;
		return 0;
	}
	if (p->state == VX_SCHED_PEER_BACK_TO_SOURCE) {
		ans->kind = VX_CTL_ANS_BACK_TO_SOURCE; /* re-register of the origin peer */
		return 0;
	}
	if ((req->need_bts && t->nr_origin < origin_limit(s, t) && t->nr_done == 0 &&
	     origin_role_ok(s, t, host)) ||
	    (task_sourceless(t) && origin_role_ok(s, t, host))) {
		s->st.decisions++;
		make_origin(s, pi, now_ms);
		ans->kind = VX_CTL_ANS_BACK_TO_SOURCE;
		s->st.answers_bts++;
		return 0;
	}
	if (task_sourceless(t))
		trigger_seed(s, ti, host, now_ms);
	if (p->state == VX_SCHED_PEER_PENDING)
		peer_set_state(p, VX_SCHED_PEER_RECEIVED);
	task_set_state(t, VX_SCHED_TASK_RUNNING);
	vx__sched_edges_release(s, pi);
	answer_parents(s, pi, NULL, 0, now_ms, ans);
	return 0;

err_free_peer:
	if (fresh) {
		peer_free(s, pi); /* frees the task too when it was its only peer */
		return rc;
	}
	return rc;
err_free_task:
	if (s->tasks[ti].nr_peers == 0)
		task_free(s, ti);
	return rc;
}

/* ---------------------------------------------------------------- Progress */

static uint32_t peer_lookup(const struct vx_sched *s, uint32_t host, struct vx_ctl_str task_id)
{
	uint32_t ti;

	if (!host_get(s, host))
		return SCHED_NONE;
	ti = find_task(s, task_id);
	if (ti == SCHED_NONE)
		return SCHED_NONE;
	return find_peer(s, host, ti);
}

/*
 * Stores digests sent by an origin peer (BACK_TO_SOURCE: a seed, or a peer the scheduler made
 * the origin); the first digest of a piece is the trusted one.
 */
static int manifest_add(struct vx_sched *s, uint32_t ti, const struct vx_ctl_digest *d, uint32_t n)
{
	struct sched_task *t = &s->tasks[ti];
	const size_t w = VX_CTL_DIGEST_MAX + 1;
	int rc = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t piece = d[i].piece;
		char *slot;

		if (piece >= s->cfg.pieces_max || (t->piece_count && piece >= t->piece_count) ||
		    d[i].digest.len == 0 || d[i].digest.len > VX_CTL_DIGEST_MAX) {
			rc = -EINVAL;
			continue;
		}
		if (piece >= t->digest_cap) {
			uint32_t cap =
				VX_MIN(VX_MAX(piece + 1, t->digest_cap * 2), s->cfg.pieces_max);
			char *nd = vx_realloc(t->digests, cap * w);
			uint32_t *nl;

			if (!nd)
				return -ENOMEM;
			memset(nd + t->digest_cap * w, 0, (cap - t->digest_cap) * w);
			t->digests = nd;
			nl = vx_realloc(t->mlog, cap * sizeof(*nl));
			if (!nl)
				return -ENOMEM;
			t->mlog = nl;
			t->digest_cap = cap;
		}
		slot = t->digests + (size_t)piece * w;
		if (slot[0]) {
			if (!str_is(slot, d[i].digest))
				rc = -EPROTO; /* two origins disagree: keep the first */
			continue;
		}
		memcpy(slot, d[i].digest.ptr, d[i].digest.len);
		slot[d[i].digest.len] = '\0';
		t->mlog[t->mlog_len++] = piece;
	}
	return rc;
}

static void manifest_notify(struct vx_sched *s, uint32_t ti)
{
	struct sched_task *t = &s->tasks[ti];

	for (uint32_t i = 0; i < t->nr_peers; i++) {
		struct sched_peer *p = &s->peers[t->peers[i]];

		if (p->notified || p->manifest_sent >= t->mlog_len ||
		    (p->state != VX_SCHED_PEER_RECEIVED && p->state != VX_SCHED_PEER_RUNNING))
			continue;
		p->notified = true;
		ev_push(s, p->host, ti, VX_CTL_EV_MANIFEST);
	}
}

/*
 * Measured transfers from a child's progress. A slow transfer says something about the parent
 * only when the child itself was not the bottleneck: when the child received, in total, well
 * under its own capacity (its declared bandwidth stands in for its downlink), the parent is
 * what held it back, and the parent's aggregate rate (this transfer times the transfers it
 * carries) becomes its measured capacity. A child that was saturated tells us nothing new
 * about its parents, unless the sample shows more than was known (a faster parent).
 */
/* Bytes of pieces @before..@after of an origin peer (fetched in order; the last is short). */
static uint64_t origin_bytes(const struct sched_task *t, uint32_t before, uint32_t after)
{
	uint64_t n = (uint64_t)(after - before) * t->piece_len;

	if (t->content_len >= 0 && t->piece_count && after == t->piece_count &&
	    (uint64_t)t->content_len > (uint64_t)before * t->piece_len)
		n = (uint64_t)t->content_len - (uint64_t)before * t->piece_len;
	return n;
}

/* Bytes an origin peer fetched since last counted, once the task's geometry is known. */
static void origin_account(struct vx_sched *s, uint32_t pi)
{
	struct sched_peer *p = &s->peers[pi];
	const struct sched_task *t = &s->tasks[p->task];

	if (t->piece_len && p->finished > p->origin_acc) {
		vx__sched_flow_add(s, p->task, SCHED_NONE, p->host,
				   origin_bytes(t, p->origin_acc, p->finished));
		p->origin_acc = p->finished;
	}
}

static void costs_apply(struct vx_sched *s, uint32_t ti, uint32_t child_host,
			const struct vx_ctl_cost *c, uint32_t n)
{
	double total = 0, child_cap = (double)s->hosts[child_host].bw_bps;
	bool child_limited;

	for (uint32_t i = 0; i < n; i++) {
		if (c[i].cost_us)
			total += (double)c[i].bytes * 8e6 / (double)c[i].cost_us;
	}
	child_limited = total >= 0.5 * child_cap;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t hi = find_host(s, c[i].host_id);
		struct sched_host *h;
		double sample;

		if (hi != SCHED_NONE && c[i].bytes)
			vx__sched_flow_add(s, ti, hi, child_host, c[i].bytes);
		if (hi == SCHED_NONE || c[i].cost_us == 0 || c[i].bytes == 0)
			continue;
		h = &s->hosts[hi];
		sample = (double)c[i].bytes * 8e6 / (double)c[i].cost_us *
			 (double)VX_MAX(1u, h->children);
		if (sample > (double)(1ull << 40))
			sample = (double)(1ull << 40);
		if (child_limited && (h->thr_bps == 0 || sample <= h->thr_bps))
			continue;
		h->thr_bps = h->thr_bps > 0 ? 0.7 * h->thr_bps + 0.3 * sample : sample;
		host_slots_update(s, h);
		host_rescore(s, hi);
	}
}

/*
 * Mesh: peer @pi just became a parent candidate. Peers of its task that have fewer parents
 * than an answer gives get a fresh set, which may now include it, so that its uplink carries
 * pieces from the start instead of after someone's next reschedule. At most 2 x cands pushes
 * per new candidate, spread from a rotating start so no peer is always first.
 */
static void mesh_offer(struct vx_sched *s, uint32_t pi)
{
	struct sched_task *t = &s->tasks[s->peers[pi].task];
	uint32_t budget = 2 * s->cfg.cands, n = t->nr_peers;

	for (uint32_t k = 0; k < n && budget; k++) {
		uint32_t qi = t->peers[(t->offer_rot + k) % n];
		struct sched_peer *q = &s->peers[qi];

		if (qi == pi || q->host == s->peers[pi].host || q->nr_parents >= s->cfg.cands ||
		    (q->state != VX_SCHED_PEER_RECEIVED && q->state != VX_SCHED_PEER_RUNNING) ||
		    q->waiting)
			continue;
		ev_push(s, q->host, s->peers[pi].task, VX_CTL_EV_PARENTS);
		budget--;
	}
	t->offer_rot = n ? (t->offer_rot + 1) % n : 0;
}

/* Peers waiting for a parent get one now that @ti has a new source. */
static void waiting_wake(struct vx_sched *s, uint32_t ti)
{
	struct sched_task *t = &s->tasks[ti];

	for (uint32_t i = 0; i < t->nr_peers && t->nr_waiting; i++) {
		struct sched_peer *p = &s->peers[t->peers[i]];

		if (!p->waiting)
			continue;
		p->waiting = false;
		t->nr_waiting--;
		ev_push(s, p->host, ti, VX_CTL_EV_PARENTS);
	}
}

/*
 * vx policy: drops in-edges that no longer go down the rank order (the child caught up with its
 * parent) or whose parent now holds nothing the child lacks. They carry no data, hold a
 * reservation, and the rank order is what keeps the graph acyclic. The child learns its parent
 * set changed (or it would keep using a parent we no longer count) and gets a fresh one. The
 * dragonfly policy keeps Dragonfly's behaviour: edges change only on reschedule and exits.
 */
static void edges_prune(struct vx_sched *s, uint32_t pi)
{
	struct sched_peer *p = &s->peers[pi];
	bool pruned = false;

	if (s->cfg.policy != VX_SCHED_POLICY_VX)
		return;
	for (uint32_t slot = 0; slot < VX_SCHED_CANDS_MAX && p->nr_parents; slot++) {
		uint32_t qi = p->in[slot].parent;
		struct sched_peer *q;

		if (qi == SCHED_NONE)
			continue;
		q = &s->peers[qi];
		if ((s->cfg.mesh || vx__sched_ahead(s, qi, pi)) &&
		    (q->state == VX_SCHED_PEER_SUCCEEDED ||
		     q->state == VX_SCHED_PEER_BACK_TO_SOURCE || vx__sched_lack(q, p) > 0))
			continue;
		edge_del(s, pi, slot);
		pruned = true;
	}
	if (pruned && !peer_complete(&s->tasks[p->task], p))
		ev_push(s, p->host, p->task, VX_CTL_EV_PARENTS);
}

int vx_sched_progress(struct vx_sched *s, uint32_t host, const struct vx_sched_progress *pr,
		      uint64_t now_ms, struct vx_ctl_digest **digests, uint32_t *nr_digests)
{
	uint32_t pi = peer_lookup(s, host, pr->task_id);
	struct sched_peer *p;
	struct sched_task *t;
	uint32_t before, mlog_before;
	bool was_eligible;
	int rc = 0, mrc = 0;

	*digests = NULL;
	*nr_digests = 0;
	if (pi == SCHED_NONE)
		return -ENOENT;
	p = &s->peers[pi];
	t = &s->tasks[p->task];
	if (p->state == VX_SCHED_PEER_FAILED)
		return -ENOENT;
	before = p->finished;
	was_eligible = p->heap_pos != SCHED_NONE;
	p->progress_ms = now_ms;
	s->hosts[host].seen_ms = now_ms;
	if (pr->bitmap_len)
		rc = peer_mark_bitmap(s, p, pr->bitmap_base, pr->bitmap, pr->bitmap_len);
	costs_apply(s, p->task, host, pr->costs, pr->nr_costs);
	mlog_before = t->mlog_len;
	if (p->state == VX_SCHED_PEER_BACK_TO_SOURCE) {
		t->origin_ms = now_ms;
		if ((pr->piece_len_hint || pr->content_len_hint) &&
		    task_set_geometry(s, t, pr->piece_len_hint,
				      pr->content_len_hint ? (int64_t)pr->content_len_hint : -1,
				      true))
			rc = -EINVAL;
		if (pr->nr_digests)
			mrc = manifest_add(s, p->task, pr->digests, pr->nr_digests);
		origin_account(s, pi);
	}
	if (p->state == VX_SCHED_PEER_RECEIVED && p->finished > before)
		peer_set_state(p, VX_SCHED_PEER_RUNNING);
	if (p->finished != before) {
		vx__sched_heap_update(s, pi);
		edges_prune(s, pi);
	}
	if (!was_eligible && p->heap_pos != SCHED_NONE && t->nr_waiting)
		waiting_wake(s, p->task);
	if (!was_eligible && p->heap_pos != SCHED_NONE && s->cfg.mesh &&
	    s->cfg.policy == VX_SCHED_POLICY_VX)
		mesh_offer(s, pi);
	if (t->mlog_len != mlog_before)
		manifest_notify(s, p->task);
	*digests = manifest_fill(s, p, nr_digests);
	if (rc == -ENOMEM || mrc == -ENOMEM)
		return -ENOMEM;
	return rc ? rc : mrc;
}

int vx_sched_reschedule(struct vx_sched *s, uint32_t host, struct vx_ctl_str task_id,
			const struct vx_ctl_str *avoid, uint32_t nr_avoid, uint64_t now_ms,
			struct vx_sched_answer *ans)
{
	uint32_t pi = peer_lookup(s, host, task_id);
	struct sched_peer *p;

	memset(ans, 0, sizeof(*ans));
	if (pi == SCHED_NONE)
		return -ENOENT;
	p = &s->peers[pi];
	answer_init(s, p, ans);
	switch (p->state) {
	case VX_SCHED_PEER_RECEIVED:
	case VX_SCHED_PEER_RUNNING:
		break;
	case VX_SCHED_PEER_BACK_TO_SOURCE:
		ans->kind = VX_CTL_ANS_BACK_TO_SOURCE;
		return 0;
	default:
		return -ENOENT;
	}
	vx__sched_edges_release(s, pi);
	answer_parents(s, pi, avoid, nr_avoid, now_ms, ans);
	return 0;
}

int vx_sched_mismatch(struct vx_sched *s, uint32_t host, struct vx_ctl_str task_id,
		      struct vx_ctl_str parent_id, uint32_t piece, uint64_t now_ms)
{
	uint32_t pi = peer_lookup(s, host, task_id), phi, ppi = SCHED_NONE;
	struct sched_peer *p;
	struct sched_task *t;

	(void)piece;
	(void)now_ms;
	if (pi == SCHED_NONE)
		return -ENOENT;
	p = &s->peers[pi];
	t = &s->tasks[p->task];
	phi = find_host(s, parent_id);
	if (phi == SCHED_NONE)
		return -EPERM;
	for (uint32_t i = 0; i < VX_SCHED_CANDS_MAX; i++) {
		if (p->in[i].parent != SCHED_NONE && s->peers[p->in[i].parent].host == phi)
			ppi = p->in[i].parent;
	}
	if (ppi == SCHED_NONE)
		return -EPERM; /* only a child of that parent is believed */
	if (!vx__sched_blocked(s, t, phi)) {
		if (t->nr_blocked == VX_SCHED_BLOCKED_MAX)
			memmove(t->blocked, t->blocked + 1,
				(VX_SCHED_BLOCKED_MAX - 1) * sizeof(t->blocked[0]));
		else
			t->nr_blocked++;
		t->blocked[t->nr_blocked - 1] = phi | s->hosts[phi].gen << 20;
	}
	s->peers[ppi].liar = true;
	heap_remove(s, t, ppi);
	children_reschedule(s, ppi);
	return 0;
}

/* @ti turned out empty: every peer still after it is told so (an EV_PARENTS answers EMPTY). */
static void empty_wake(struct vx_sched *s, uint32_t ti, uint32_t origin)
{
	struct sched_task *t = &s->tasks[ti];

	for (uint32_t i = 0; i < t->nr_peers; i++) {
		struct sched_peer *q = &s->peers[t->peers[i]];

		if (t->peers[i] != origin &&
		    (q->state == VX_SCHED_PEER_RECEIVED || q->state == VX_SCHED_PEER_RUNNING))
			ev_push(s, q->host, ti, VX_CTL_EV_PARENTS);
	}
}

int vx_sched_finished(struct vx_sched *s, uint32_t host, struct vx_ctl_str task_id, uint64_t now_ms)
{
	uint32_t pi = peer_lookup(s, host, task_id);
	struct sched_peer *p;
	struct sched_task *t;

	(void)now_ms;
	if (pi == SCHED_NONE)
		return -ENOENT;
	p = &s->peers[pi];
	t = &s->tasks[p->task];
	if (p->state == VX_SCHED_PEER_SUCCEEDED)
		return 0;
	if (p->state == VX_SCHED_PEER_FAILED || p->state == VX_SCHED_PEER_PENDING)
		return -ENOENT;
	if (t->content_len != 0 && !peer_complete(t, p) &&
	    !(p->state == VX_SCHED_PEER_BACK_TO_SOURCE && t->piece_count == 0))
		return -EPROTO;
	if (p->state == VX_SCHED_PEER_BACK_TO_SOURCE) {
		origin_account(s, pi);
		t->nr_origin--;
		/* an origin peer done without a piece fetched an empty object (a length the
		 * source did report comes with the first progress): that is the origin's word */
		if (t->piece_count == 0 && !t->geometry_trusted &&
		    task_set_geometry(s, t, t->piece_len, 0, true) == 0)
			empty_wake(s, p->task, pi);
	}
	vx__sched_edges_release(s, pi);
	if (p->waiting) {
		p->waiting = false;
		t->nr_waiting--;
	}
	peer_set_state(p, VX_SCHED_PEER_SUCCEEDED);
	t->nr_done++;
	if (s->hosts[host].role == VX_CTL_ROLE_NORMAL)
		t->nr_done_normal++;
	task_set_state(t, VX_SCHED_TASK_RUNNING);
	task_set_state(t, VX_SCHED_TASK_SUCCEEDED);
	vx__sched_heap_update(s, pi);
	if (p->heap_pos != SCHED_NONE && t->nr_waiting)
		waiting_wake(s, p->task);
	if (s->hosts[host].role == VX_CTL_ROLE_NORMAL &&
	    t->nr_done_normal == s->cfg.bootstrap_done) {
		/* seeds become shielded: re-score them */
		for (uint32_t i = 0; i < t->nr_peers; i++)
			vx__sched_heap_update(s, t->peers[i]);
	}
	return 0;
}

/*
 * A seed fetching the origin for the task failed or refused: not a lost origin (nobody is
 * promoted in its place) but a bad source, so the source is unbound. The next register's URL
 * binds when it derives the id and triggers a seed again, up to SCHED_SEED_TRIES per task; a
 * registrant that bound a URL the origin rejects holds the task up only that long.
 */
static void seed_gave_up(struct vx_sched *s, uint32_t pi)
{
	struct sched_peer *p = &s->peers[pi];
	struct sched_task *t = &s->tasks[p->task];

	if (p->state == VX_SCHED_PEER_BACK_TO_SOURCE) {
		peer_detach(s, pi);
		t->nr_origin--;
		peer_set_state(p, VX_SCHED_PEER_FAILED);
	}
	if (t->nr_origin == 0 && t->nr_done == 0)
		vx__sched_source_free(t);
	peer_free(s, pi); /* the next register triggers a seed again, for that requester */
}

int vx_sched_failed(struct vx_sched *s, uint32_t host, struct vx_ctl_str task_id, uint64_t now_ms)
{
	uint32_t pi = peer_lookup(s, host, task_id);

	(void)now_ms;
	if (pi == SCHED_NONE)
		return -ENOENT;
	if (s->peers[pi].state == VX_SCHED_PEER_FAILED)
		return 0;
	if (s->hosts[host].role == VX_CTL_ROLE_SEED &&
	    s->peers[pi].state == VX_SCHED_PEER_BACK_TO_SOURCE) {
		seed_gave_up(s, pi);
		return 0;
	}
	if (s->peers[pi].state == VX_SCHED_PEER_SUCCEEDED) {
		peer_free(s, pi); /* its copy is gone: same as leaving */
		return 0;
	}
	peer_fail(s, pi);
	return 0;
}

int vx_sched_refused(struct vx_sched *s, uint32_t host, struct vx_ctl_str task_id, uint64_t now_ms)
{
	uint32_t pi = peer_lookup(s, host, task_id);
	struct sched_peer *p;

	if (pi == SCHED_NONE)
		return -ENOENT;
	p = &s->peers[pi];
	if (s->hosts[host].role != VX_CTL_ROLE_SEED || p->state == VX_SCHED_PEER_SUCCEEDED)
		return vx_sched_failed(s, host, task_id, now_ms);
	seed_gave_up(s, pi);
	return 0;
}

int vx_sched_leave(struct vx_sched *s, uint32_t host, struct vx_ctl_str task_id, uint64_t now_ms)
{
	uint32_t pi = peer_lookup(s, host, task_id);

	(void)now_ms;
	if (pi == SCHED_NONE)
		return -ENOENT;
	peer_free(s, pi);
	return 0;
}

int vx_sched_stat(const struct vx_sched *s, struct vx_ctl_str task_id,
		  struct vx_sched_task_stat *st)
{
	uint32_t ti = find_task(s, task_id);
	const struct sched_task *t;

	if (ti == SCHED_NONE)
		return -ENOENT;
	t = &s->tasks[ti];
	st->state = (enum vx_sched_task_state)t->state;
	st->peers = t->nr_peers;
	st->done_peers = t->nr_done;
	st->origin_peers = t->nr_origin;
	st->piece_count = t->piece_count;
	st->manifest_pieces = t->mlog_len;
	st->piece_len = t->piece_len;
	st->content_len = t->content_len;
	return 0;
}

int vx_sched_delete_task(struct vx_sched *s, struct vx_ctl_str task_id, uint64_t now_ms)
{
	uint32_t ti = find_task(s, task_id);

	(void)now_ms;
	if (ti == SCHED_NONE)
		return -ENOENT;
	task_drop(s, ti); /* nobody is promoted while everyone leaves */
	return 0;
}

enum vx_sched_peer_state vx_sched_peer_state(const struct vx_sched *s, uint32_t host,
					     struct vx_ctl_str task_id)
{
	uint32_t pi = peer_lookup(s, host, task_id);

	return pi == SCHED_NONE ? VX_SCHED_PEER_FREE : (enum vx_sched_peer_state)s->peers[pi].state;
}

/* ---------------------------------------------------------------- Timers, events */

void vx_sched_tick(struct vx_sched *s, uint64_t now_ms)
{
	for (uint32_t hi = 0; hi < s->cfg.hosts_max; hi++) {
		struct sched_host *h = &s->hosts[hi];

		if (h->state == VX_SCHED_HOST_SILENT && now_ms - h->seen_ms >= s->cfg.host_grace_ms)
			vx_sched_host_leave(s, hi, now_ms);
	}
	for (uint32_t ti = 0; ti < s->cfg.tasks_max; ti++) {
		struct sched_task *t = &s->tasks[ti];

		if (t->state != VX_SCHED_TASK_RUNNING || t->nr_origin == 0 || t->nr_done)
			continue;
		if (now_ms - t->origin_ms < s->cfg.origin_stall_ms)
			continue;
		/* every origin peer is silent: allow one more (spec/control.md, origin policy) */
		t->stalled = true;
		if (t->nr_origin < origin_limit(s, t) && origin_promote(s, ti))
			t->origin_ms = now_ms;
	}
}

bool vx_sched_next_event(struct vx_sched *s, struct vx_sched_event *ev, uint64_t now_ms)
{
	while (s->ev_len) {
		struct sched_event e = s->ev[s->ev_head];
		struct sched_task *t = &s->tasks[e.task];
		struct sched_peer *p;
		uint32_t pi;

		s->ev_head = (s->ev_head + 1) % s->cfg.events_max;
		s->ev_len--;
		if (s->hosts[e.host].state != VX_SCHED_HOST_ACTIVE ||
		    s->hosts[e.host].gen != e.host_gen || t->state == VX_SCHED_TASK_FREE ||
		    t->gen != e.task_gen)
			continue;
		pi = find_peer(s, e.host, e.task);
		if (pi == SCHED_NONE)
			continue;
		p = &s->peers[pi];
		memset(ev, 0, sizeof(*ev));
		ev->host = e.host;
		ev->kind = (enum vx_ctl_event)e.kind;
		memcpy(ev->task_id, t->id, sizeof(ev->task_id));
		if (e.kind == VX_CTL_EV_TRIGGER) {
			ev->url = vx_ctl_str_of(t->url);
			ev->tag = vx_ctl_str_of(t->tag);
			ev->app = vx_ctl_str_of(t->app);
			ev->fixed_piece_len = t->fixed_piece_len;
			ev->filtered = t->filtered_str;
			ev->nr_filtered = t->nr_filtered;
			ev->requester = vx_ctl_str_of(t->requester);
			ev->requester_local = t->requester_local;
		}
		if (e.kind == VX_CTL_EV_PARENTS) {
			if (p->state != VX_SCHED_PEER_RECEIVED && p->state != VX_SCHED_PEER_RUNNING)
				continue;
			answer_init(s, p, &ev->ans);
			vx__sched_edges_release(s, pi);
			answer_parents(s, pi, NULL, 0, now_ms, &ev->ans);
			/* a WAIT is sent too: the peer must drop the parents it had; it is woken
			 * with another EV_PARENTS when a parent appears */
			if (ev->ans.kind == VX_CTL_ANS_BACK_TO_SOURCE)
				ev->kind = VX_CTL_EV_BACK_TO_SOURCE;
		} else if (e.kind == VX_CTL_EV_MANIFEST) {
			answer_init(s, p, &ev->ans);
			if (ev->ans.nr_digests == 0)
				continue;
		} else {
			if (p->state != VX_SCHED_PEER_BACK_TO_SOURCE)
				continue;
			answer_init(s, p, &ev->ans);
			ev->ans.kind = VX_CTL_ANS_BACK_TO_SOURCE;
		}
		return true;
	}
	return false;
}

void vx_sched_get_stats(const struct vx_sched *s, struct vx_sched_stats *st)
{
	*st = s->st;
}

/* ---------------------------------------------------------------- Invariants */

/* Logs the first broken invariant, so a failing check says which. */
#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			vx_warn("sched: invariant broken: %s (line %d)", #cond, __LINE__); \
			return false;                                                      \
		}                                                                          \
	} while (0)

static bool check_peer(const struct vx_sched *s, uint32_t pi)
{
	const struct sched_peer *p = &s->peers[pi];
	const struct sched_task *t = &s->tasks[p->task];
	uint32_t n = 0, kids = 0;

	CHECK(t->peers[p->task_pos] == pi);
	CHECK(find_peer(s, p->host, p->task) == pi);
	CHECK(p->heap_pos == SCHED_NONE || t->heap[p->heap_pos].pi == pi);
	CHECK((p->heap_pos != SCHED_NONE) == vx__sched_eligible(s, p));
	for (uint32_t i = 0; i < VX_SCHED_CANDS_MAX; i++) {
		if (p->in[i].parent == SCHED_NONE)
			continue;
		n++;
		CHECK(s->peers[p->in[i].parent].task == p->task);
		CHECK(p->in[i].parent != pi);
		/* vx: every edge goes down the rank order, which is what rules out cycles (the
		 * mesh allows them on purpose) */
		CHECK(s->cfg.policy != VX_SCHED_POLICY_VX || s->cfg.mesh ||
		      vx__sched_ahead(s, p->in[i].parent, pi));
	}
	for (uint32_t e = p->child_head; e != SCHED_NONE;
	     e = s->peers[e / VX_SCHED_CANDS_MAX].in[e % VX_SCHED_CANDS_MAX].next) {
		CHECK(s->peers[e / VX_SCHED_CANDS_MAX].in[e % VX_SCHED_CANDS_MAX].parent == pi);
		kids++;
	}
	CHECK(n == p->nr_parents);
	CHECK(kids == p->nr_children);
	/* sources, full copies and failed peers hold no in-edges */
	CHECK(n == 0 || (p->state != VX_SCHED_PEER_BACK_TO_SOURCE &&
			 p->state != VX_SCHED_PEER_SUCCEEDED && p->state != VX_SCHED_PEER_FAILED));
	/* only a peer that can still download waits */
	CHECK(!p->waiting || n == 0);
	return true;
}

/*
 * Depth-first search over the task's edges, iterative, on scratch arrays allocated at
 * vx_sched_new() (a check must not fail for want of memory); true when no peer is its own
 * ancestor.
 */
static bool acyclic(const struct vx_sched *s, const struct sched_task *t)
{
	uint8_t *color = s->chk_color; /* 0 new, 1 on the path, 2 done */
	uint32_t *stack = s->chk_stack, *edge = s->chk_edge;
	bool ok = true;

	for (uint32_t r = 0; r < t->nr_peers; r++)
		color[t->peers[r]] = 0;
	for (uint32_t r = 0; ok && r < t->nr_peers; r++) {
		uint32_t n = 0;

		if (color[t->peers[r]])
			continue;
		stack[n] = t->peers[r];
		edge[n++] = s->peers[t->peers[r]].child_head;
		color[t->peers[r]] = 1;
		while (ok && n) {
			uint32_t e = edge[n - 1], k;

			if (e == SCHED_NONE) {
				color[stack[--n]] = 2;
				continue;
			}
			k = e / VX_SCHED_CANDS_MAX;
			edge[n - 1] = s->peers[k].in[e % VX_SCHED_CANDS_MAX].next;
			if (color[k] == 1) {
				ok = false; /* back edge: a cycle */
			} else if (color[k] == 0 && n < s->cfg.peers_max) {
				color[k] = 1;
				stack[n] = k;
				edge[n++] = s->peers[k].child_head;
			}
		}
	}
	return ok;
}

static bool check_task(const struct vx_sched *s, uint32_t ti)
{
	const struct sched_task *t = &s->tasks[ti];
	uint32_t origin = 0, done = 0, waiting = 0;

	CHECK(find_task(s, (struct vx_ctl_str){ t->id, VX_TASK_ID_LEN }) == ti);
	CHECK(t->nr_peers > 0);
	for (uint32_t i = 1; i < t->heap_len; i++)
		CHECK(t->heap[(i - 1) / 2].score >= t->heap[i].score);
	for (uint32_t i = 0; i < t->heap_len; i++) {
		CHECK(t->heap[i].score == s->peers[t->heap[i].pi].score);
		CHECK(t->heap[i].rank == sched_rank(&s->peers[t->heap[i].pi]));
	}
	for (uint32_t i = 0; i < t->nr_peers; i++) {
		const struct sched_peer *p = &s->peers[t->peers[i]];

		origin += p->state == VX_SCHED_PEER_BACK_TO_SOURCE;
		done += p->state == VX_SCHED_PEER_SUCCEEDED;
		waiting += p->waiting;
		if (!check_peer(s, t->peers[i]))
			return false;
	}
	CHECK(s->cfg.mesh && s->cfg.policy == VX_SCHED_POLICY_VX ? true : acyclic(s, t));
	CHECK(origin == t->nr_origin);
	CHECK(done == t->nr_done);
	CHECK(waiting == t->nr_waiting);
	return true;
}

/* Whether an edge of host @ch's peers before (@qi, @k) leads to host @ph. */
static bool parent_host_seen(const struct vx_sched *s, uint32_t ch, uint32_t qi, uint32_t k,
			     uint32_t ph)
{
	for (uint32_t qj = s->hosts[ch].peer_head; qj != SCHED_NONE; qj = s->peers[qj].host_next) {
		for (uint32_t j = 0; j < VX_SCHED_CANDS_MAX; j++) {
			uint32_t par = s->peers[qj].in[j].parent;

			if (qj == qi && j == k)
				return false;
			if (par != SCHED_NONE && s->peers[par].host == ph)
				return true;
		}
	}
	return false;
}

/* Distinct parent hosts of the peers of host @ch (for the invariants). */
static uint32_t parent_hosts_of(const struct vx_sched *s, uint32_t ch)
{
	uint32_t n = 0;

	for (uint32_t qi = s->hosts[ch].peer_head; qi != SCHED_NONE; qi = s->peers[qi].host_next) {
		for (uint32_t k = 0; k < VX_SCHED_CANDS_MAX; k++) {
			uint32_t par = s->peers[qi].in[k].parent;

			n += par != SCHED_NONE &&
			     !parent_host_seen(s, ch, qi, k, s->peers[par].host);
		}
	}
	return n;
}

bool vx_sched_check(const struct vx_sched *s)
{
	uint32_t hosts = 0, tasks = 0, child_hosts = 0, parent_hosts = 0;

	for (uint32_t hi = 0; hi < s->cfg.hosts_max; hi++) {
		const struct sched_host *h = &s->hosts[hi];
		uint32_t children = 0, np = 0;

		if (h->state == VX_SCHED_HOST_FREE)
			continue;
		hosts++;
		for (uint32_t pi = h->peer_head; pi != SCHED_NONE; pi = s->peers[pi].host_next) {
			children += s->peers[pi].nr_children;
			np++;
		}
		CHECK(children == h->children);
		CHECK(h->child_hosts <= h->children && !h->child_hosts == !h->children);
		child_hosts += h->child_hosts;
		parent_hosts += parent_hosts_of(s, hi);
		CHECK(np == h->nr_peers);
		CHECK(find_host(s, vx_ctl_str_of(h->id)) == hi);
	}
	for (uint32_t ti = 0; ti < s->cfg.tasks_max; ti++) {
		if (s->tasks[ti].state == VX_SCHED_TASK_FREE)
			continue;
		tasks++;
		if (!check_task(s, ti))
			return false;
	}
	CHECK(hosts == s->st.hosts);
	CHECK(tasks == s->st.tasks);
	CHECK(child_hosts == parent_hosts);
	return true;
}
