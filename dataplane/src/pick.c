/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pick.c: the fetcher's piece picker (see pick.h). Everything here is a function of the
 * tables and the arguments; the only state it writes is the tables' own counts, the BUSY
 * rings, the next wake and the step counter.
 */
#include "pick.h"

#include "vx_assert.h"

/* A live parent: added and not dropped. */
static bool parent_live(const struct vx_fx_parent *p)
{
	return p->used && !p->dropped;
}

/*
 * Whether @p's bits belong in the holders: a live vx parent that announces its pieces and
 * that we can reach. One whose last connect failed (a peer that died, in dial back-off) holds
 * nothing for now: a seed must not be spared for pieces only a dead peer has.
 */
static bool parent_counts(const struct vx_fx_parent *p)
{
	return parent_live(p) && !p->plain && !p->all_pieces && p->dial_failures == 0;
}

/* A live vx parent holding some pieces but not every one: a peer still downloading. */
static bool parent_partial(const struct vx_pick *pk, const struct vx_fx_parent *p)
{
	return parent_counts(p) && p->nr_bits > 0 && p->nr_bits < pk->piece_count;
}

bool vx__pick_parent_has(const struct vx_fx_parent *p, uint32_t n)
{
	return p->all_pieces || vx_bit_get(p->bits, n);
}

bool vx__pick_parent_full(const struct vx_pick *pk, const struct vx_fx_parent *p)
{
	return p->all_pieces || p->nr_bits >= pk->piece_count;
}

void vx__pick_recount(struct vx_pick *pk, struct vx_fx_parent *p)
{
	bool want = parent_counts(p);

	if (want == p->counted)
		return;
	p->counted = want;
	for (uint32_t n = 0; n < pk->piece_count && p->nr_bits > 0; n++) {
		pk->steps++;
		if (!vx_bit_get(p->bits, n))
			continue;
		if (want) {
			pk->pieces[n].holders++;
		} else {
			VX_ASSERT(pk->pieces[n].holders > 0);
			pk->pieces[n].holders--;
		}
	}
}

/*
 * One pass over the parents: recounts any whose standing changed (the wire code flips plain
 * and all_pieces), and returns how many counted parents hold every piece (*@full) and whether
 * a partial parent other than @p is live (*@partial).
 */
static void parents_pass(struct vx_pick *pk, const struct vx_fx_parent *p, uint32_t *full,
			 bool *partial)
{
	*full = 0;
	*partial = false;
	for (uint32_t i = 0; i < pk->nr_parents; i++) {
		struct vx_fx_parent *q = &pk->parents[i];

		pk->steps++;
		vx__pick_recount(pk, q);
		if (q->counted && q->nr_bits >= pk->piece_count)
			(*full)++;
		if (q != p && parent_partial(pk, q))
			*partial = true;
	}
}

bool vx__pick_spare(const struct vx_pick *pk, const struct vx_fx_parent *p)
{
	if (!vx__pick_parent_full(pk, p))
		return false;
	for (uint32_t i = 0; i < pk->nr_parents; i++) {
		const struct vx_fx_parent *q = &pk->parents[i];

		if (q != p && parent_partial(pk, q))
			return true;
	}
	return false;
}

/* The BUSY back-offs of @p still running at @now: at most VX_FX_BUSY_MAX piece numbers. */
static uint32_t refusals(struct vx_pick *pk, const struct vx_fx_parent *p, uint64_t now,
			 uint32_t *out)
{
	uint32_t nr = 0;

	for (uint32_t i = 0; i < VX_FX_BUSY_MAX; i++) {
		pk->steps++;
		if (p->busy[i].until_ms > now)
			out[nr++] = p->busy[i].piece;
	}
	return nr;
}

static bool listed(struct vx_pick *pk, const uint32_t *list, uint32_t nr, uint32_t n)
{
	for (uint32_t i = 0; i < nr; i++) {
		pk->steps++;
		if (list[i] == n)
			return true;
	}
	return false;
}

int64_t vx__pick_next(struct vx_pick *pk, const struct vx_fx_parent *p, const struct vx_pick_ask *a,
		      bool *dup)
{
	uint32_t refused[VX_FX_BUSY_MAX], nr_refused, full, best_holders = UINT32_MAX, least;
	int64_t best = -1;
	bool partial, spare;

	*dup = false;
	if (pk->piece_count == 0 || !parent_live(p))
		return -1;
	VX_ASSERT(a->start < pk->piece_count);
	parents_pass(pk, p, &full, &partial);
	spare = partial && vx__pick_parent_full(pk, p);
	nr_refused = refusals(pk, p, a->now_ms, refused);
	/* No piece @p has can be held by fewer: the first such one from the start is the pick. */
	least = p->counted ? 1 : 0;
	for (uint32_t i = 0; i < pk->piece_count && best_holders > least; i++) {
		uint32_t n = a->start + i < pk->piece_count ? a->start + i
							    : a->start + i - pk->piece_count;
		const struct vx_fx_piece *pc = &pk->pieces[n];

		pk->steps++;
		if (pc->state != VX_FX_MISSING || !pc->trusted || !vx__pick_parent_has(p, n))
			continue;
		/* A partial parent has it: leave the full parent's uplink alone. */
		if (spare && pc->holders > full)
			continue;
		if (pc->holders >= best_holders || listed(pk, refused, nr_refused, n))
			continue;
		best = n;
		best_holders = pc->holders;
	}
	if (best >= 0 || a->remaining > pk->endgame_pieces)
		return best;
	/* Endgame: ask a second parent for a piece still in flight elsewhere. */
	for (uint32_t i = 0; i < pk->piece_count; i++) {
		uint32_t n = a->start + i < pk->piece_count ? a->start + i
							    : a->start + i - pk->piece_count;
		const struct vx_fx_piece *pc = &pk->pieces[n];

		pk->steps++;
		if (pc->state == VX_FX_ACTIVE_PIECE && pc->requesters == 1 &&
		    vx__pick_parent_has(p, n) && !listed(pk, a->asked, a->nr_asked, n) &&
		    !listed(pk, refused, nr_refused, n)) {
			*dup = true;
			return n;
		}
	}
	return -1;
}

bool vx__pick_has_work(struct vx_pick *pk, const struct vx_fx_parent *p, uint32_t remaining)
{
	bool endgame = remaining <= pk->endgame_pieces;

	for (uint32_t n = 0; n < pk->piece_count; n++) {
		const struct vx_fx_piece *pc = &pk->pieces[n];

		pk->steps++;
		if (!vx__pick_parent_has(p, n))
			continue;
		if ((pc->state == VX_FX_MISSING && pc->trusted) ||
		    (endgame && pc->state == VX_FX_ACTIVE_PIECE && pc->requesters == 1))
			return true;
	}
	return false;
}

bool vx__pick_gain(struct vx_pick *pk, struct vx_fx_parent *p, uint32_t n)
{
	VX_ASSERT(n < pk->piece_count);
	if (vx_bit_get(p->bits, n))
		return false;
	vx_bit_set(p->bits, n);
	p->nr_bits++;
	if (p->counted)
		pk->pieces[n].holders++;
	return true;
}

void vx__pick_lose(struct vx_pick *pk, struct vx_fx_parent *p, uint32_t n)
{
	VX_ASSERT(n < pk->piece_count);
	if (!vx_bit_get(p->bits, n))
		return;
	vx_bit_clear(p->bits, n);
	p->nr_bits--;
	if (p->counted) {
		VX_ASSERT(pk->pieces[n].holders > 0);
		pk->pieces[n].holders--;
	}
}

void vx__pick_all_but(struct vx_pick *pk, struct vx_fx_parent *p, uint32_t n)
{
	p->all_pieces = false;
	for (uint32_t i = 0; i < pk->piece_count; i++) {
		if (i != n)
			(void)vx__pick_gain(pk, p, i);
	}
	vx__pick_lose(pk, p, n);
	vx__pick_recount(pk, p);
}

void vx__pick_refuse(struct vx_pick *pk, struct vx_fx_parent *p, uint32_t n, uint64_t now_ms)
{
	uint64_t until = now_ms + VX_FX_BUSY_MS;

	p->busy[p->busy_next].piece = n;
	p->busy[p->busy_next].until_ms = until;
	p->busy_next = (p->busy_next + 1) % VX_FX_BUSY_MAX;
	if (until < pk->wake_ms)
		pk->wake_ms = until;
}

bool vx__pick_wake_due(struct vx_pick *pk, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;

	if (now_ms < pk->wake_ms)
		return false;
	/*
	 * Several back-offs may run at once (one parent refused two pieces, or one piece twice):
	 * the next wake is the earliest still running, not "none".
	 */
	for (uint32_t i = 0; i < pk->nr_parents; i++) {
		const struct vx_fx_parent *q = &pk->parents[i];

		if (!parent_live(q))
			continue;
		for (uint32_t k = 0; k < VX_FX_BUSY_MAX; k++) {
			pk->steps++;
			if (q->busy[k].until_ms > now_ms && q->busy[k].until_ms < next)
				next = q->busy[k].until_ms;
		}
	}
	pk->wake_ms = next;
	return true;
}
