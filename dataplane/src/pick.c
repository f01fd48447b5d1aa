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

/* ---- the index ------------------------------------------------------------------------- */

/* Bit @j of a word is piece 64 w + j, most significant first like vx_bitmap.h. */
static uint64_t word_bit(uint32_t j)
{
	return 1ull << (63 - j);
}

static uint64_t *set_words(const struct vx_pick *pk, uint32_t s)
{
	return pk->sets + (size_t)s * pk->words;
}

static uint64_t *sum_words(const struct vx_pick *pk, uint32_t s)
{
	return pk->sums + (size_t)s * pk->sum_words;
}

static void set_add(struct vx_pick *pk, uint32_t s, uint32_t n)
{
	uint32_t w = n / 64;

	set_words(pk, s)[w] |= word_bit(n % 64);
	sum_words(pk, s)[w / 64] |= word_bit(w % 64);
}

static void set_del(struct vx_pick *pk, uint32_t s, uint32_t n)
{
	uint64_t *word = &set_words(pk, s)[n / 64];

	*word &= ~word_bit(n % 64);
	if (*word == 0)
		sum_words(pk, s)[n / 64 / 64] &= ~word_bit(n / 64 % 64);
}

static uint32_t holder_set(const struct vx_pick *pk, uint32_t holders)
{
	return holders < pk->nr_sets - 1 ? holders : pk->nr_sets - 1;
}

/* Takes piece @n out of the index (@add false) or puts it in, as its fields say. */
static void index_piece(struct vx_pick *pk, uint32_t n, bool add)
{
	const struct vx_fx_piece *pc = &pk->pieces[n];
	uint32_t s;

	if (pk->sets == NULL)
		return;
	if (pc->state == VX_FX_MISSING && pc->trusted) {
		s = holder_set(pk, pc->holders);
		pk->nr_pickable += add ? 1 : (uint32_t)-1;
	} else if (pc->state == VX_FX_ACTIVE_PIECE && pc->requesters == 1) {
		s = pk->nr_sets;
		pk->nr_once += add ? 1 : (uint32_t)-1;
	} else {
		return;
	}
	if (add)
		set_add(pk, s, n);
	else
		set_del(pk, s, n);
}

size_t vx__pick_index_words(uint32_t piece_count, uint32_t max_parents)
{
	uint32_t sets = max_parents < VX_PICK_SETS_MAX - 1 ? max_parents + 2 : VX_PICK_SETS_MAX + 1;
	size_t words = ((size_t)piece_count + 63) / 64;

	return sets * (words + (words + 63) / 64);
}

void vx__pick_index_init(struct vx_pick *pk, uint64_t *mem, uint32_t max_parents)
{
	size_t total = vx__pick_index_words(pk->piece_count, max_parents);

	pk->nr_sets = max_parents < VX_PICK_SETS_MAX - 1 ? max_parents + 1 : VX_PICK_SETS_MAX;
	pk->words = (pk->piece_count + 63) / 64;
	pk->sum_words = (pk->words + 63) / 64;
	pk->sets = mem;
	pk->sums = mem + (size_t)(pk->nr_sets + 1) * pk->words;
	pk->nr_pickable = 0;
	pk->nr_once = 0;
	for (size_t i = 0; i < total; i++)
		mem[i] = 0;
	for (uint32_t n = 0; n < pk->piece_count; n++)
		index_piece(pk, n, true);
}

void vx__pick_set(struct vx_pick *pk, uint32_t n, enum vx_fx_piece_state state, uint8_t requesters)
{
	VX_ASSERT(n < pk->piece_count);
	index_piece(pk, n, false);
	pk->pieces[n].state = (uint8_t)state;
	pk->pieces[n].requesters = requesters;
	index_piece(pk, n, true);
}

void vx__pick_request(struct vx_pick *pk, uint32_t n, uint64_t now_ms)
{
	VX_ASSERT(n < pk->piece_count);
	if (pk->pieces[n].requesters == 0)
		pk->pieces[n].asked_ms = (uint32_t)now_ms;
	vx__pick_set(pk, n, VX_FX_ACTIVE_PIECE, (uint8_t)(pk->pieces[n].requesters + 1));
}

void vx__pick_piece_time(struct vx_pick *pk, uint64_t ms)
{
	uint64_t v = ms > UINT32_MAX / 2 ? UINT32_MAX / 2 : VX_MAX(ms, (uint64_t)1);

	pk->piece_ms = (uint32_t)(pk->piece_ms ? (7 * (uint64_t)pk->piece_ms + 3 * v) / 10 : v);
}

void vx__pick_trust(struct vx_pick *pk, uint32_t n)
{
	VX_ASSERT(n < pk->piece_count);
	index_piece(pk, n, false);
	pk->pieces[n].trusted = 1;
	index_piece(pk, n, true);
}

/* One more (@more) or one fewer holder of piece @n. */
static void holders_move(struct vx_pick *pk, uint32_t n, bool more)
{
	index_piece(pk, n, false);
	if (more) {
		pk->pieces[n].holders++;
	} else {
		VX_ASSERT(pk->pieces[n].holders > 0);
		pk->pieces[n].holders--;
	}
	index_piece(pk, n, true);
}

/* Word @w of @p's pieces, in the index's bit order. */
static uint64_t parent_word(const struct vx_pick *pk, const struct vx_fx_parent *p, uint32_t w)
{
	uint32_t bytes = (pk->piece_count + 7) / 8;
	uint64_t x = 0;

	if (p->all_pieces)
		return ~0ull;
	for (uint32_t i = 0; i < 8; i++) {
		uint32_t b = w * 8 + i;

		x = (x << 8) | (b < bytes ? p->bits[b] : 0u);
	}
	return x;
}

/*
 * The first piece in [@from, @to) of set @s that @p has, or -1: one step per summary word and
 * per set word looked at, so empty stretches cost 1/4096 of a step per piece.
 */
static int64_t set_find(struct vx_pick *pk, uint32_t s, const struct vx_fx_parent *p, uint32_t from,
			uint32_t to)
{
	const uint64_t *set = set_words(pk, s), *sum = sum_words(pk, s);
	uint32_t w = from / 64;
	uint64_t mask = ~0ull >> (from % 64);

	while ((uint64_t)w * 64 < to) {
		uint64_t live = sum[w / 64] & (~0ull >> (w % 64)), x;
		uint32_t next;

		pk->steps++;
		if (live == 0) {
			w = (w / 64 + 1) * 64;
			mask = ~0ull;
			continue;
		}
		next = (w / 64) * 64 + (uint32_t)__builtin_clzll(live);
		if (next != w)
			mask = ~0ull;
		w = next;
		if ((uint64_t)w * 64 >= to)
			break;
		pk->steps++;
		x = set[w] & mask & parent_word(pk, p, w);
		if (x != 0) {
			uint32_t n = w * 64 + (uint32_t)__builtin_clzll(x);

			return n < to ? (int64_t)n : -1;
		}
		w++;
		mask = ~0ull;
	}
	return -1;
}

void vx__pick_recount(struct vx_pick *pk, struct vx_fx_parent *p)
{
	bool want = parent_counts(p);

	if (want == p->counted)
		return;
	p->counted = want;
	for (uint32_t n = 0; n < pk->piece_count && p->nr_bits > 0; n++) {
		pk->steps++;
		if (vx_bit_get(p->bits, n))
			holders_move(pk, n, want);
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

	pk->steps++;
	if (p->busy_until_ms <= now)
		return 0; /* none running: the ring need not be read */
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

/* Pieces a search passes over: the connection's own requests and @p's BUSY refusals. */
struct skip {
	const uint32_t *asked, *refused;
	uint32_t nr_asked, nr_refused;
	uint32_t max_holders; /* spared: pieces with more holders are left to partial parents */
	uint64_t now_ms;
	uint32_t wait_ms; /* endgame: pieces out for less than this are not asked twice */
};

/* Endgame: piece @n has been out for less than @k->wait_ms; arms the wake for when it is not. */
static bool too_young(struct vx_pick *pk, const struct skip *k, uint32_t n)
{
	uint32_t age = (uint32_t)k->now_ms - pk->pieces[n].asked_ms;
	uint64_t at;

	if (!k->wait_ms || age >= k->wait_ms)
		return false;
	at = k->now_ms + (k->wait_ms - age);
	if (at < pk->endgame_wake_ms)
		pk->endgame_wake_ms = at;
	if (at < pk->wake_ms)
		pk->wake_ms = at;
	return true;
}

/*
 * The first piece of set @s from @start (wrapping) that @p has and @k does not skip. In the
 * last holder-count set, which mixes counts, the one with the fewest holders (the first such).
 */
static int64_t set_pick(struct vx_pick *pk, uint32_t s, const struct vx_fx_parent *p,
			uint32_t start, const struct skip *k)
{
	bool mixed = s < pk->nr_sets && s == VX_PICK_SETS_MAX - 1;
	uint32_t best_holders = UINT32_MAX;
	int64_t best = -1;

	for (uint32_t pass = 0; pass < 2; pass++) {
		uint32_t from = pass ? 0 : start, to = pass ? start : pk->piece_count;
		int64_t n;

		while ((n = set_find(pk, s, p, from, to)) >= 0) {
			uint32_t h = pk->pieces[n].holders;

			from = (uint32_t)n + 1;
			if (listed(pk, k->asked, k->nr_asked, (uint32_t)n) ||
			    listed(pk, k->refused, k->nr_refused, (uint32_t)n) ||
			    h > k->max_holders || too_young(pk, k, (uint32_t)n))
				continue;
			if (!mixed)
				return n;
			if (h < best_holders) {
				best = n;
				best_holders = h;
			}
		}
	}
	return best;
}

int64_t vx__pick_next(struct vx_pick *pk, const struct vx_fx_parent *p, const struct vx_pick_ask *a,
		      bool *dup)
{
	uint32_t refused[VX_FX_BUSY_MAX], full, least;
	struct skip k = { .refused = refused, .max_holders = UINT32_MAX };
	bool partial;

	*dup = false;
	if (pk->piece_count == 0 || !parent_live(p))
		return -1;
	VX_ASSERT(a->start < pk->piece_count);
	VX_ASSERT(pk->sets != NULL);
	parents_pass(pk, p, &full, &partial);
	/*
	 * Spared, @p is asked only for pieces no partial parent holds: those held by the full
	 * parents alone (every piece is held by at least those).
	 */
	if (partial && vx__pick_parent_full(pk, p))
		k.max_holders = full;
	k.nr_refused = refusals(pk, p, a->now_ms, refused);
	/* No piece @p has is held by fewer: the full parents, and @p itself when it counts. */
	least = full + (p->counted && !vx__pick_parent_full(pk, p));
	for (uint32_t h = least; h <= k.max_holders; h++) {
		uint32_t s = holder_set(pk, h);
		int64_t n = set_pick(pk, s, p, a->start, &k);

		if (n >= 0)
			return n;
		if (s == pk->nr_sets - 1)
			break; /* the last set held every count from here on */
	}
	if (a->remaining > pk->endgame_pieces)
		return -1;
	/* Endgame: ask a second parent for a piece still in flight elsewhere. */
	k.asked = a->asked;
	k.nr_asked = a->nr_asked;
	k.max_holders = UINT32_MAX;
	k.now_ms = a->now_ms;
	k.wait_ms = pk->piece_ms + pk->piece_ms / 2;
	{
		int64_t n = set_pick(pk, pk->nr_sets, p, a->start, &k);

		*dup = n >= 0;
		return n;
	}
}

/* Endgame: @p has a piece out once elsewhere that is old enough to ask again at @now_ms. */
static bool endgame_ready(struct vx_pick *pk, const struct vx_fx_parent *p, uint64_t now_ms)
{
	struct skip k = { .now_ms = now_ms, .wait_ms = pk->piece_ms + pk->piece_ms / 2 };
	uint32_t from = 0;
	int64_t n;

	while ((n = set_find(pk, pk->nr_sets, p, from, pk->piece_count)) >= 0) {
		if (!too_young(pk, &k, (uint32_t)n))
			return true;
		from = (uint32_t)n + 1;
	}
	return false;
}

bool vx__pick_has_work(struct vx_pick *pk, const struct vx_fx_parent *p, uint32_t remaining,
		       uint64_t now_ms)
{
	bool endgame = remaining <= pk->endgame_pieces;

	VX_ASSERT(pk->sets != NULL);
	pk->steps++;
	if (p->all_pieces && pk->nr_pickable > 0)
		return true;
	for (uint32_t s = 0; s < pk->nr_sets && !p->all_pieces; s++) {
		if (set_find(pk, s, p, 0, pk->piece_count) >= 0)
			return true;
	}
	return endgame && pk->nr_once > 0 && endgame_ready(pk, p, now_ms);
}

bool vx__pick_gain(struct vx_pick *pk, struct vx_fx_parent *p, uint32_t n)
{
	VX_ASSERT(n < pk->piece_count);
	if (vx_bit_get(p->bits, n))
		return false;
	vx_bit_set(p->bits, n);
	p->nr_bits++;
	if (p->counted)
		holders_move(pk, n, true);
	return true;
}

void vx__pick_lose(struct vx_pick *pk, struct vx_fx_parent *p, uint32_t n)
{
	VX_ASSERT(n < pk->piece_count);
	if (!vx_bit_get(p->bits, n))
		return;
	vx_bit_clear(p->bits, n);
	p->nr_bits--;
	if (p->counted)
		holders_move(pk, n, false);
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
	if (until > p->busy_until_ms)
		p->busy_until_ms = until;
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
	/* an endgame wait that ended is acted on now; the picks that follow re-arm the rest */
	if (pk->endgame_wake_ms <= now_ms)
		pk->endgame_wake_ms = UINT64_MAX;
	pk->wake_ms = VX_MIN(next, pk->endgame_wake_ms);
	return true;
}
