/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dataplane_pick.c: the fetcher's piece picker (dataplane/src/pick.c) on tables written
 * by hand: rarest first from the start given, untrusted and requested pieces skipped, a full
 * parent spared only for pieces a partial parent we can reach really holds, the endgame duplicate, BUSY
 * back-offs per piece and parent and the wake when each ends, and the open swarm stall of
 * spec/peer.md section 8 replayed step by step. The cost test checks a pick over 64 Ki pieces
 * and 16 parents against a brute-force reference and counts its steps. No sockets, no clock.
 */
#include "vx_test.h"

#include <stdlib.h>
#include <string.h>

#include "pick.h"
#include "vx_compiler.h"

#define MAXP 16

struct table {
	struct vx_pick pk;
	struct vx_fx_parent parents[MAXP];
	uint64_t *index;
};

/* Rebuilds the picker's index from the piece table (after fields were written by hand). */
static void reindex(struct table *t)
{
	vx__pick_index_init(&t->pk, t->index, MAXP);
}

static void table_init(struct table *t, uint32_t count, uint32_t nr_parents)
{
	memset(t, 0, sizeof(*t));
	assert_true(nr_parents <= MAXP);
	t->pk.piece_count = count;
	t->pk.endgame_pieces = 4;
	t->pk.pieces = calloc(count + 1, sizeof(*t->pk.pieces));
	assert_non_null(t->pk.pieces);
	t->pk.parents = t->parents;
	t->pk.nr_parents = nr_parents;
	t->pk.wake_ms = UINT64_MAX;
	for (uint32_t n = 0; n < count; n++)
		t->pk.pieces[n].trusted = 1;
	t->index = calloc(vx__pick_index_words(count, MAXP) + 1, sizeof(*t->index));
	assert_non_null(t->index);
	reindex(t);
	for (uint32_t i = 0; i < nr_parents; i++) {
		t->parents[i].index = i;
		t->parents[i].used = true;
		t->parents[i].bits = calloc(count / 8 + 1, 1);
		assert_non_null(t->parents[i].bits);
		vx__pick_recount(&t->pk, &t->parents[i]);
	}
}

static void table_free(struct table *t)
{
	for (uint32_t i = 0; i < MAXP; i++)
		free(t->parents[i].bits);
	free(t->pk.pieces);
	free(t->index);
}

/* Parent @i announces pieces [@from, @to). */
static void give(struct table *t, uint32_t i, uint32_t from, uint32_t to)
{
	for (uint32_t n = from; n < to; n++)
		(void)vx__pick_gain(&t->pk, &t->parents[i], n);
}

static void set_state(struct table *t, uint32_t n, enum vx_fx_piece_state s, uint8_t requesters)
{
	vx__pick_set(&t->pk, n, s, requesters);
}

static void drop(struct table *t, uint32_t i)
{
	t->parents[i].dropped = true;
	vx__pick_recount(&t->pk, &t->parents[i]);
}

static int64_t pick_asked(struct table *t, uint32_t i, uint64_t now, uint32_t start,
			  const uint32_t *asked, uint32_t nr_asked, bool *dup)
{
	uint32_t remaining = 0;
	struct vx_pick_ask a;

	for (uint32_t n = 0; n < t->pk.piece_count; n++)
		remaining += t->pk.pieces[n].state != VX_FX_DONE;
	a = (struct vx_pick_ask){ .now_ms = now,
				  .start = start,
				  .remaining = remaining,
				  .asked = asked,
				  .nr_asked = nr_asked };
	return vx__pick_next(&t->pk, &t->parents[i], &a, dup);
}

static int64_t pick(struct table *t, uint32_t i, uint64_t now, uint32_t start)
{
	bool dup;

	return pick_asked(t, i, now, start, NULL, 0, &dup);
}

/* Partial parents P0 {0..5}, P1 {0..3}, P2 {0,1}: holders 3,3,2,2,1,1,0,0. */
static void test_vx__pick__rarest_first(void **state)
{
	static const struct {
		uint32_t parent, start, untrusted, active;
		int64_t want;
	} rows[] = {
		{ 0, 0, 99, 99, 4 }, /* the rarest P0 has, first from the start */
		{ 0, 5, 99, 99, 5 }, /* an equal one found first from another start */
		{ 0, 6, 99, 99, 4 }, /* the scan wraps */
		{ 1, 0, 99, 99, 2 }, /* P1's rarest */
		{ 2, 1, 99, 99, 1 }, /* P2 has only common pieces: still asked */
		{ 0, 0, 4, 99, 5 },  /* untrusted: never asked */
		{ 0, 0, 99, 4, 5 },  /* already requested: not asked twice outside the endgame */
		{ 1, 2, 2, 3, 0 },   /* both rare ones out: the next rarest */
		{ 0, 7, 99, 99, 4 }, /* pieces nobody has are not picked */
	};

	(void)state;
	for (size_t r = 0; r < VX_ARRAY_SIZE(rows); r++) {
		struct table t;

		table_init(&t, 8, 3);
		t.pk.endgame_pieces = 0;
		give(&t, 0, 0, 6);
		give(&t, 1, 0, 4);
		give(&t, 2, 0, 2);
		if (rows[r].untrusted < 8) {
			t.pk.pieces[rows[r].untrusted].trusted = 0;
			reindex(&t);
		}
		if (rows[r].active < 8)
			set_state(&t, rows[r].active, VX_FX_ACTIVE_PIECE, 1);
		assert_int_equal(t.pk.pieces[0].holders, 3);
		assert_int_equal(t.pk.pieces[2].holders, 2);
		assert_int_equal(t.pk.pieces[4].holders, 1);
		assert_int_equal(t.pk.pieces[6].holders, 0);
		print_message("row %zu\n", r);
		assert_int_equal(pick(&t, rows[r].parent, 0, rows[r].start), rows[r].want);
		table_free(&t);
	}
}

/*
 * S (0) holds everything; B (1) is partial. S is spared for the pieces B holds, and only for
 * those: not for pieces B lost ("not found"), not when B is gone, never by another full parent.
 */
static void test_vx__pick__full_parent_spared(void **state)
{
	struct table t;

	(void)state;
	table_init(&t, 8, 3);
	t.pk.endgame_pieces = 0;
	give(&t, 0, 0, 8);
	give(&t, 1, 0, 4);
	assert_true(vx__pick_parent_full(&t.pk, &t.parents[0]));
	assert_true(vx__pick_spare(&t.pk, &t.parents[0]));
	assert_false(vx__pick_spare(&t.pk, &t.parents[1]));
	/* B holds 0..3: S is asked for 4..7 only, even from a start inside 0..3. */
	assert_int_equal(pick(&t, 0, 0, 1), 4);
	for (uint32_t n = 4; n < 8; n++)
		set_state(&t, n, VX_FX_DONE, 0);
	assert_int_equal(pick(&t, 0, 0, 1), -1);
	assert_int_equal(pick(&t, 1, 0, 1), 1); /* B itself is asked */
	/* B cannot be reached (it died; its redial failed): S is asked for what B had. */
	t.parents[1].dial_failures = 1;
	assert_false(vx__pick_spare(&t.pk, &t.parents[0]));
	assert_int_equal(pick(&t, 0, 0, 1), 1);
	assert_int_equal(t.pk.pieces[1].holders, 1);
	t.parents[1].dial_failures = 0; /* reconnected */
	assert_int_equal(pick(&t, 0, 0, 1), -1);
	assert_int_equal(t.pk.pieces[1].holders, 2);
	/* B answered "not found" for 2: S is no longer spared for it. */
	vx__pick_lose(&t.pk, &t.parents[1], 2);
	assert_int_equal(t.pk.pieces[2].holders, 1);
	assert_int_equal(pick(&t, 0, 0, 0), 2);
	/* A second full parent does not spare S: only partial ones do. */
	give(&t, 2, 0, 8);
	assert_true(vx__pick_spare(&t.pk, &t.parents[2]));
	assert_int_equal(pick(&t, 2, 0, 0), 2);
	/* B gone: nothing to spare either full parent for. */
	drop(&t, 1);
	assert_false(vx__pick_spare(&t.pk, &t.parents[0]));
	assert_false(vx__pick_spare(&t.pk, &t.parents[2]));
	assert_int_equal(pick(&t, 0, 0, 1), 1);
	/* A plain parent (Dragonfly, one request per connection) is never counted as partial. */
	t.parents[1].dropped = false;
	t.parents[1].plain = true;
	assert_false(vx__pick_spare(&t.pk, &t.parents[0]));
	table_free(&t);
}

/* The endgame: a piece requested once elsewhere is asked again, but not twice, not on the
 * same connection, not of a parent that refused it BUSY, and not while many pieces remain. */
static void test_vx__pick__endgame(void **state)
{
	static const uint32_t asked3[] = { 3 };
	struct table t;
	bool dup;

	(void)state;
	table_init(&t, 8, 2);
	give(&t, 0, 0, 8);
	give(&t, 1, 0, 8);
	for (uint32_t n = 0; n < 8; n++)
		set_state(&t, n, n == 3 ? VX_FX_ACTIVE_PIECE : VX_FX_DONE, n == 3 ? 1 : 0);
	assert_int_equal(pick_asked(&t, 0, 0, 0, NULL, 0, &dup), 3);
	assert_true(dup);
	assert_int_equal(pick_asked(&t, 0, 0, 0, asked3, 1, &dup), -1);
	assert_false(dup);
	set_state(&t, 3, VX_FX_ACTIVE_PIECE, 2);
	assert_int_equal(pick_asked(&t, 0, 0, 0, NULL, 0, &dup), -1);
	set_state(&t, 3, VX_FX_ACTIVE_PIECE, 1);
	vx__pick_refuse(&t.pk, &t.parents[0], 3, 100);
	assert_int_equal(pick_asked(&t, 0, 500, 0, NULL, 0, &dup), -1);
	assert_int_equal(pick_asked(&t, 1, 500, 0, NULL, 0, &dup), 3); /* the other parent */
	assert_int_equal(pick_asked(&t, 0, 100 + VX_FX_BUSY_MS, 0, NULL, 0, &dup), 3);
	/* Five pieces left with the default four: no duplicates. */
	set_state(&t, 0, VX_FX_WRITING, 0);
	set_state(&t, 1, VX_FX_ACTIVE_PIECE, 2);
	set_state(&t, 2, VX_FX_ACTIVE_PIECE, 2);
	set_state(&t, 4, VX_FX_ACTIVE_PIECE, 2);
	assert_int_equal(pick_asked(&t, 1, 0, 0, NULL, 0, &dup), -1);
	assert_false(dup);
	table_free(&t);
}

/*
 * The endgame waits (issue 13): with piece_ms known, a piece out once is asked again only
 * once it has been out for 1.5 x piece_ms, and the wait arms the picker's wake for that time.
 * Per row: piece_ms, when piece 3 was asked, now; expected pick and wake.
 */
static void test_vx__pick__endgame_waits_for_a_slow_piece(void **state)
{
	static const struct {
		uint32_t piece_ms;
		uint64_t asked, now;
		int64_t want;
		uint64_t wake; /* UINT64_MAX: none armed */
	} rows[] = {
		{ 0, 1000, 1000, 3, UINT64_MAX },   /* unknown time: at once (as before) */
		{ 400, 1000, 1000, -1, 1600 },	    /* just asked: wait 600 ms */
		{ 400, 1000, 1599, -1, 1600 },	    /* still on time */
		{ 400, 1000, 1600, 3, UINT64_MAX }, /* late: the duplicate */
		{ 400, 1000, 9000, 3, UINT64_MAX }, /* very late */
		{ 400, 0xfffffff0ull, 0x100000000ull + 100, -1,
		  0x100000000ull + 584 }, /* clock wrap */
	};
	bool dup;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct table t;
		int64_t n;

		table_init(&t, 8, 2);
		t.pk.endgame_wake_ms = UINT64_MAX;
		give(&t, 0, 0, 8);
		give(&t, 1, 0, 8);
		for (uint32_t k = 0; k < 8; k++)
			set_state(&t, k, VX_FX_DONE, 0);
		set_state(&t, 3, VX_FX_MISSING, 0);
		vx__pick_request(&t.pk, 3, rows[i].asked); /* asked of parent 1 */
		t.pk.piece_ms = rows[i].piece_ms;
		/* a plain connection is opened only when the duplicate may be asked */
		assert_int_equal(vx__pick_has_work(&t.pk, &t.parents[0], 1, rows[i].now),
				 rows[i].want >= 0);
		n = pick_asked(&t, 0, rows[i].now, 0, NULL, 0, &dup);
		if (n != rows[i].want || t.pk.wake_ms != rows[i].wake)
			fail_msg("row %zu: pick %lld wake %llu, want %lld wake %llu", i,
				 (long long)n, (unsigned long long)t.pk.wake_ms,
				 (long long)rows[i].want, (unsigned long long)rows[i].wake);
		assert_true(dup == (n >= 0));
		if (rows[i].wake != UINT64_MAX) {
			/* the wake fires when the wait ends, and then the duplicate is asked */
			assert_false(vx__pick_wake_due(&t.pk, rows[i].wake - 1));
			assert_true(vx__pick_wake_due(&t.pk, rows[i].wake));
			assert_int_equal(pick_asked(&t, 0, rows[i].wake, 0, NULL, 0, &dup), 3);
		}
		table_free(&t);
	}
}

/* A BUSY answer keeps that piece from that parent for VX_FX_BUSY_MS; the ring holds 16. */
static void test_vx__pick__busy_refusals(void **state)
{
	struct table t;

	(void)state;
	table_init(&t, 32, 2);
	t.pk.endgame_pieces = 0;
	give(&t, 0, 0, 32);
	give(&t, 1, 0, 32);
	vx__pick_refuse(&t.pk, &t.parents[0], 5, 1000);
	assert_int_equal(pick(&t, 0, 1000, 5), 6);
	assert_int_equal(pick(&t, 0, 1999, 5), 6);
	assert_int_equal(pick(&t, 0, 2000, 5), 5); /* the back-off is over */
	assert_int_equal(pick(&t, 1, 1000, 5), 5); /* another parent was never refused */
	/* Seventeen refusals: the oldest is forgotten, the sixteen others hold. */
	for (uint32_t n = 0; n < 17; n++)
		vx__pick_refuse(&t.pk, &t.parents[0], n, 3000);
	assert_int_equal(pick(&t, 0, 3000, 0), 0);
	assert_int_equal(pick(&t, 0, 3000, 1), 17);
	table_free(&t);
}

/*
 * Each back-off's end is a wake, the latest as much as the earliest: one piece refused twice,
 * or two pieces, must not leave the later back-off without anyone to act on it (the fetcher's
 * tick used to forget every back-off but the earliest).
 */
static void test_vx__pick__wake_after_each_backoff(void **state)
{
	static const struct {
		uint64_t now;
		bool due;
	} ticks[] = {
		{ 900, false }, { 1000, true },	 { 1100, false }, { 1400, false },
		{ 1500, true }, { 1600, false }, { 1700, true },  { 5000, false },
	};
	struct table t;

	(void)state;
	table_init(&t, 8, 2);
	give(&t, 0, 0, 8);
	assert_false(vx__pick_wake_due(&t.pk, 0));
	vx__pick_refuse(&t.pk, &t.parents[0], 3, 0);
	vx__pick_refuse(&t.pk, &t.parents[0], 3, 500); /* the same piece, refused again */
	vx__pick_refuse(&t.pk, &t.parents[1], 6, 700); /* another parent, another piece */
	for (size_t i = 0; i < VX_ARRAY_SIZE(ticks); i++) {
		print_message("tick at %llu\n", (unsigned long long)ticks[i].now);
		assert_int_equal(vx__pick_wake_due(&t.pk, ticks[i].now), ticks[i].due);
	}
	/* A dropped parent's back-offs wake nobody. */
	vx__pick_refuse(&t.pk, &t.parents[1], 6, 6000);
	vx__pick_refuse(&t.pk, &t.parents[0], 3, 6500);
	drop(&t, 1);
	assert_true(vx__pick_wake_due(&t.pk, 7000));
	assert_true(vx__pick_wake_due(&t.pk, 7500));
	assert_false(vx__pick_wake_due(&t.pk, 9000));
	table_free(&t);
}

/*
 * A model of one fetcher connection to the seed S, one request deep (S is spared), driven the
 * way fetcher.c drives the picker: a pick after each answer and after the death of a parent,
 * and a tick every 100 ms that picks when a back-off ended (vx__pick_wake_due()). S
 * super-seeds: it answers BUSY for piece n until seed_free[n]. Returns the time piece @want
 * was received, or 0 if it never was by @end; counts S's requests in *@asks.
 */
struct seed_sim {
	struct table t;
	uint32_t seed; /* S's slot */
	uint64_t seed_free[8];
	uint64_t latency[8]; /* from request to answer, per piece */
	int64_t out;	     /* the request on S's connection, -1 when idle */
	uint64_t answer_at;
	uint32_t asks;
};

static void sim_fill(struct seed_sim *s, uint64_t now)
{
	bool dup;
	int64_t n;

	if (s->out >= 0)
		return;
	n = pick_asked(&s->t, s->seed, now, 0, NULL, 0, &dup);
	if (n < 0)
		return;
	s->out = n;
	s->answer_at = now + s->latency[n];
	set_state(&s->t, (uint32_t)n, VX_FX_ACTIVE_PIECE,
		  (uint8_t)(s->t.pk.pieces[n].requesters + 1));
	s->asks++;
}

/* The answer to S's request arrived at @now. */
static void sim_answer(struct seed_sim *s, uint64_t now)
{
	struct vx_fx_piece *pc = &s->t.pk.pieces[s->out];

	if (now < s->seed_free[s->out]) {
		vx__pick_refuse(&s->t.pk, &s->t.parents[s->seed], (uint32_t)s->out, now);
		set_state(&s->t, (uint32_t)s->out, pc->requesters == 1 ? VX_FX_MISSING : pc->state,
			  (uint8_t)(pc->requesters - 1));
	} else {
		set_state(&s->t, (uint32_t)s->out, VX_FX_DONE, (uint8_t)(pc->requesters - 1));
	}
	s->out = -1;
	sim_fill(s, now);
}

static uint64_t sim_run(struct seed_sim *s, uint64_t from, uint64_t to, uint32_t want)
{
	for (uint64_t now = from; now < to; now++) {
		if (s->out >= 0 && now >= s->answer_at)
			sim_answer(s, now);
		if (s->t.pk.pieces[want].state == VX_FX_DONE)
			return now;
		if (now % 100 == 0 && vx__pick_wake_due(&s->t.pk, now))
			sim_fill(s, now);
	}
	return 0;
}

/*
 * spec/peer.md section 8, the open stall, seen from survivor A: four pieces, 0..2 done. The
 * seed S (slot 0) sent piece 3 only to C (slot 2), so S answers BUSY for it for 8 s. A asked C
 * for it; the endgame also asks S, which refuses. C dies mid-piece: its request goes back.
 * The other survivor B (slot 1) lacks piece 3 too. Once S's window has passed, A must ask S
 * and get the piece, asking no more than once per back-off meanwhile.
 */
static void test_vx__pick__stall_after_a_peer_died(void **state)
{
	struct seed_sim s;
	uint64_t got;

	(void)state;
	memset(&s, 0, sizeof(s));
	table_init(&s.t, 4, 3);
	s.seed = 0;
	s.latency[3] = 1;
	s.out = -1;
	s.seed_free[3] = 8000;
	give(&s.t, 0, 0, 4); /* S: everything */
	give(&s.t, 1, 0, 3); /* B: all but 3 */
	give(&s.t, 2, 1, 2); /* C: 1, and 3 from S */
	give(&s.t, 2, 3, 4);
	for (uint32_t n = 0; n < 3; n++)
		set_state(&s.t, n, VX_FX_DONE, 0);
	set_state(&s.t, 3, VX_FX_ACTIVE_PIECE, 1); /* asked of C */
	/* Endgame: S is asked for 3 beside C; it refuses, and is not asked again at once. */
	sim_fill(&s, 0);
	assert_int_equal(s.out, 3);
	assert_int_equal(sim_run(&s, 0, 500, 3), 0);
	assert_true(s.asks <= 2);
	/* C dies: dropped, its request given back. Only S holds 3 now. */
	drop(&s.t, 2);
	set_state(&s.t, 3, s.t.pk.pieces[3].requesters == 1 ? VX_FX_MISSING : VX_FX_ACTIVE_PIECE,
		  (uint8_t)(s.t.pk.pieces[3].requesters - 1));
	assert_int_equal(s.t.pk.pieces[3].holders, 1);
	sim_fill(&s, 500);
	got = sim_run(&s, 500, 30000, 3);
	print_message("piece 3 from the seed at %llu ms after %u requests\n",
		      (unsigned long long)got, s.asks);
	assert_true(got >= 8000);
	assert_true(got <= 8000 + VX_FX_BUSY_MS + 100 + 1);
	/* About one request per back-off while the seed refused: never a request storm. */
	assert_true(s.asks <= 8000 / VX_FX_BUSY_MS + 3);
	table_free(&s.t);
}

/*
 * The same connection, two pieces only the seed holds, refused half a second apart: the
 * first back-off ends, its piece is fetched, and the second back-off, still running then,
 * must wake the connection again when it ends (no answer would).
 */
static void test_vx__pick__two_refused_pieces(void **state)
{
	struct seed_sim s;

	(void)state;
	memset(&s, 0, sizeof(s));
	table_init(&s.t, 4, 2);
	s.seed = 0;
	s.out = -1;
	give(&s.t, 0, 0, 4);
	give(&s.t, 1, 0, 2); /* B: partial, so S is spared and asked one piece at a time */
	set_state(&s.t, 0, VX_FX_DONE, 0);
	set_state(&s.t, 1, VX_FX_DONE, 0);
	s.seed_free[2] = 1000; /* asked at 0: BUSY at 1, until 1001 */
	s.latency[2] = 1;
	s.seed_free[3] = 2000; /* asked at 1: BUSY at 501, until 1501 */
	s.latency[3] = 500;
	sim_fill(&s, 0);
	assert_int_equal(s.out, 2);
	/* The tick at 1100 fetches 2; 3 waits for the tick after 1501, then 500 ms. */
	assert_int_equal(sim_run(&s, 0, 30000, 2), 1101);
	assert_true(sim_run(&s, 1101, 30000, 3) > 0);
	table_free(&s.t);
}

/* ---- cost: 64 Ki pieces x 16 parents ------------------------------------------------------ */

static uint64_t xs = 88172645463325252ull;

static uint32_t rnd(void)
{
	xs ^= xs << 13;
	xs ^= xs >> 7;
	xs ^= xs << 17;
	return (uint32_t)xs;
}

static bool ref_counted(const struct vx_fx_parent *q)
{
	return q->used && !q->dropped && !q->plain && !q->all_pieces && q->dial_failures == 0;
}

/* The policy written the slow way: every parent looked at for every piece. */
static int64_t ref_pick(const struct table *t, uint32_t pi, uint64_t now, uint32_t start)
{
	const struct vx_pick *pk = &t->pk;
	const struct vx_fx_parent *p = &t->parents[pi];
	bool full = vx__pick_parent_full(pk, p), partial = false;
	uint32_t best_h = UINT32_MAX;
	int64_t best = -1;

	if (!p->used || p->dropped)
		return -1;
	for (uint32_t i = 0; i < pk->nr_parents; i++) {
		const struct vx_fx_parent *q = &t->parents[i];

		partial |=
			q != p && ref_counted(q) && q->nr_bits > 0 && q->nr_bits < pk->piece_count;
	}
	for (uint32_t k = 0; k < pk->piece_count; k++) {
		uint32_t n = (start + k) % pk->piece_count, h = 0;
		bool by_partial = false, refused = false;

		if (pk->pieces[n].state != VX_FX_MISSING || !pk->pieces[n].trusted ||
		    !vx__pick_parent_has(p, n))
			continue;
		for (uint32_t i = 0; i < pk->nr_parents; i++) {
			const struct vx_fx_parent *q = &t->parents[i];

			if (!ref_counted(q) || !vx_bit_get(q->bits, n))
				continue;
			h++;
			by_partial |= q != p && q->nr_bits < pk->piece_count;
		}
		for (uint32_t b = 0; b < VX_FX_BUSY_MAX; b++)
			refused |= p->busy[b].until_ms > now && p->busy[b].piece == n;
		if ((full && partial && by_partial) || refused)
			continue;
		if (h < best_h) {
			best = n;
			best_h = h;
		}
	}
	return best;
}

static void check_holders(const struct table *t)
{
	for (uint32_t n = 0; n < t->pk.piece_count; n++) {
		uint32_t h = 0;

		for (uint32_t i = 0; i < t->pk.nr_parents; i++)
			h += ref_counted(&t->parents[i]) && vx_bit_get(t->parents[i].bits, n);
		assert_int_equal(t->pk.pieces[n].holders, h);
	}
}

static void test_vx__pick__cost_64ki_pieces_16_parents(void **state)
{
	const uint32_t count = 1u << 16;
	struct table t;
	uint64_t worst = 0;

	(void)state;
	table_init(&t, count, MAXP);
	t.pk.endgame_pieces = 0;
	give(&t, 0, 0, count); /* the seed */
	for (uint32_t i = 1; i < MAXP; i++) {
		for (uint32_t n = 0; n < count; n++) {
			if (rnd() % 4 == 0)
				(void)vx__pick_gain(&t.pk, &t.parents[i], n);
		}
	}
	for (uint32_t n = 0; n < count; n++) {
		uint32_t r = rnd() % 16;

		if (r < 6)
			set_state(&t, n, VX_FX_DONE, 0);
		else if (r == 6)
			set_state(&t, n, VX_FX_ACTIVE_PIECE, 1);
	}
	for (uint32_t b = 0; b < 8; b++)
		vx__pick_refuse(&t.pk, &t.parents[b % 3], rnd() % count, 0);
	check_holders(&t);
	for (uint32_t round = 0; round < 64; round++) {
		uint32_t pi = round % MAXP, start = rnd() % count;
		int64_t got;

		if (round == 32) {
			/* churn: a parent leaves, one loses pieces, one turns out plain */
			drop(&t, 5);
			for (uint32_t n = 0; n < count; n += 3)
				vx__pick_lose(&t.pk, &t.parents[6], n);
			t.parents[7].plain = true;
			t.parents[7].all_pieces = true;
		}
		t.pk.steps = 0;
		got = pick(&t, pi, 500, start);
		assert_int_equal(got, ref_pick(&t, pi, 500, start));
		if (t.pk.steps > worst)
			worst = t.pk.steps;
		if (round == 32)
			check_holders(
				&t); /* the pick brought the plain parent's counts up to date */
	}
	/*
	 * One pass over the pieces plus one over the parents and a back-off ring, and a
	 * recount after the churn: never pieces x parents (16 x 64 Ki = 1 Mi). The steps of a
	 * full scan with the spared seed are counted directly.
	 */
	print_message("worst pick: %llu steps\n", (unsigned long long)worst);
	assert_true(worst <= 2ull * count + 4 * MAXP + 2 * VX_FX_BUSY_MAX);
	for (uint32_t n = 0; n < count; n++) {
		if (t.pk.pieces[n].state == VX_FX_MISSING)
			set_state(&t, n, VX_FX_DONE, 0);
	}
	set_state(&t, count - 1, VX_FX_MISSING, 0);
	t.pk.steps = 0;
	assert_int_equal(pick(&t, 0, 500, 0), ref_pick(&t, 0, 500, 0));
	assert_true(t.pk.steps <= count + 2 * MAXP + 2 * VX_FX_BUSY_MAX);
	table_free(&t);
}

/*
 * A whole download of @count pieces from a seed (slot 0) and 15 peers holding a random quarter
 * each, the way fetcher.c drives the picker: parents asked in turn, 32 requests in flight
 * (the oldest answered first), a peer announcing a piece (HAVE) every other pick, a BUSY
 * refusal now and then, the endgame at the end. Every @check_every-th pick is compared with
 * the reference. Returns the steps of all picks and has_work calls; *@picks counts the picks.
 */
static uint64_t download(uint32_t count, uint32_t check_every, uint64_t *picks)
{
	uint32_t ring[32], head = 0, nr = 0, done = 0;
	uint64_t steps = 0, now = 0, hw = 0;
	struct table t;

	table_init(&t, count, MAXP);
	give(&t, 0, 0, count);
	for (uint32_t i = 1; i < MAXP; i++) {
		for (uint32_t n = 0; n < count; n++) {
			if (rnd() % 4 == 0)
				(void)vx__pick_gain(&t.pk, &t.parents[i], n);
		}
	}
	*picks = 0;
	while (done < count) {
		uint32_t pi = (uint32_t)(*picks % MAXP), start = rnd() % count;
		uint32_t asked[1] = { nr ? ring[(head + nr - 1) % 32] : count };
		struct vx_pick_ask a = { .now_ms = now,
					 .start = start,
					 .remaining = count - done,
					 .asked = asked,
					 .nr_asked = 1 };
		bool dup;
		int64_t n;

		assert_true(*picks < 64ull * count);
		if (*picks % 2 == 0)
			(void)vx__pick_gain(&t.pk, &t.parents[1 + rnd() % (MAXP - 1)],
					    rnd() % count);
		t.pk.steps = 0;
		n = vx__pick_next(&t.pk, &t.parents[pi], &a, &dup);
		steps += t.pk.steps;
		t.pk.steps = 0;
		(void)vx__pick_has_work(&t.pk, &t.parents[pi], count - done, 0);
		hw += t.pk.steps;
		steps += t.pk.steps;
		if (!dup && *picks % check_every == 0)
			assert_int_equal(n, ref_pick(&t, pi, now, start));
		(*picks)++;
		now++;
		if (n >= 0 && !dup && rnd() % 64 == 0) {
			vx__pick_refuse(&t.pk, &t.parents[pi], (uint32_t)n, now);
			continue;
		}
		if (n >= 0) {
			set_state(&t, (uint32_t)n, VX_FX_ACTIVE_PIECE,
				  (uint8_t)(t.pk.pieces[n].requesters + 1));
			ring[(head + nr++) % 32] = (uint32_t)n;
		}
		if (nr == 32 || (n < 0 && nr > 0)) {
			uint32_t m = ring[head];

			head = (head + 1) % 32;
			nr--;
			if (t.pk.pieces[m].state != VX_FX_DONE) {
				set_state(&t, m, VX_FX_DONE, 0);
				done++;
			}
		}
	}
	table_free(&t);
	print_message("has_work %llu\n", (unsigned long long)hw);
	return steps;
}

/* Every pick of a whole download of 4 Ki pieces is the reference's. */
static void test_vx__pick__download_matches_reference(void **state)
{
	uint64_t picks;

	(void)state;
	(void)download(1u << 12, 1, &picks);
	print_message("%llu picks\n", (unsigned long long)picks);
}

/*
 * A whole download of 64 Ki pieces x 16 parents: the picks and has_work calls together cost
 * one pass over the parents and the back-off check per pick, plus some 280 word steps per
 * piece for the searches (measured: a peer whose rarest set holds none of its pieces reads
 * that set's words). A picker that walks the pieces on each pick costs some 2 x 10^9 (30,000
 * per piece).
 */
static void test_vx__pick__download_cost(void **state)
{
	const uint32_t count = 1u << 16;
	uint64_t picks, steps;

	(void)state;
	steps = download(count, 512, &picks);
	print_message("%llu picks, %llu steps, %.2f per piece\n", (unsigned long long)picks,
		      (unsigned long long)steps, (double)steps / count);
	assert_true(picks <= 2ull * count);
	assert_true(steps <= 320ull * count);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx__pick__rarest_first),
		cmocka_unit_test(test_vx__pick__full_parent_spared),
		cmocka_unit_test(test_vx__pick__endgame),
		cmocka_unit_test(test_vx__pick__endgame_waits_for_a_slow_piece),
		cmocka_unit_test(test_vx__pick__busy_refusals),
		cmocka_unit_test(test_vx__pick__wake_after_each_backoff),
		cmocka_unit_test(test_vx__pick__stall_after_a_peer_died),
		cmocka_unit_test(test_vx__pick__two_refused_pieces),
		cmocka_unit_test(test_vx__pick__cost_64ki_pieces_16_parents),
		cmocka_unit_test(test_vx__pick__download_matches_reference),
		cmocka_unit_test(test_vx__pick__download_cost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
