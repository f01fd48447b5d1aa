/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pick.h: the fetcher's piece picker, private to dataplane/. Pure functions over the fetcher's
 * piece table and parent table: no sockets, no loop, no clock (the caller passes the time),
 * no allocation. fetcher.c owns the tables and calls these; tests/unit/test_dataplane_pick.c
 * drives them with tables written by hand. Policy and cost: spec/dataplane.md section 3.
 *
 * Counts. Each piece keeps `holders`: how many *counted* parents hold it, a counted parent
 * being a live vx parent that announces its pieces (not plain, not "assumed to have every
 * piece") and is not in dial back-off. The counts change with the bits (BITFIELD, HAVE, "not
 * found": one count per bit) and when a parent enters or leaves the counted set (added,
 * dropped, HELLO without AVAILABILITY, found to be plain, a connect failed or succeeded
 * again: once, O(pieces), vx__pick_recount()). How many of a piece's
 * holders are partial is `holders` minus the counted parents that hold every piece (those hold
 * it, whatever it is).
 *
 * Index. The pickable pieces (missing and trusted) are kept in bit sets by holder count, and
 * the pieces requested exactly once (endgame candidates) in one more; each set has a summary
 * with one bit per non-zero 64-bit word. Every change of a piece's state, requesters, trust or
 * holders goes through this file (vx__pick_set(), vx__pick_trust(), the bit and recount
 * calls), which moves the piece between sets in O(1). A pick is then one pass over the
 * parents and a search of the sets from the rarest holder count up, from the random start,
 * one step per summary or set word looked at: never one step per piece.
 */
#ifndef VX_DATAPLANE_PICK_H
#define VX_DATAPLANE_PICK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vx_bitmap.h"

#define VX_FX_ID_MAX 128
/* BUSY answers remembered per parent, and for how long a refused piece is not asked again. */
#define VX_FX_BUSY_MAX 16
#define VX_FX_BUSY_MS  1000
/* Holder-count sets: counts 0..31 apart, 32 and more share the last set. */
#define VX_PICK_SETS_MAX 33

enum vx_fx_piece_state {
	VX_FX_MISSING = 0,	/* nobody is asking for it */
	VX_FX_ACTIVE_PIECE = 1, /* requested from one parent, or two in endgame */
	VX_FX_WRITING = 2,	/* received and verified; its writes are finishing */
	VX_FX_DONE = 3,		/* committed */
};

struct vx_fx_piece {
	uint8_t state;
	uint8_t requesters; /* connections that asked for it (2 in endgame) */
	uint8_t trusted;    /* its trusted CRC is known: only then is it requested */
	uint16_t holders;   /* counted parents whose bits say they have it (see above) */
	uint32_t asked_ms;  /* clock (low 32 bits) of its first request out (endgame wait) */
};

struct vx_fx_parent {
	uint32_t index;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char id[VX_FX_ID_MAX];
	bool used;
	bool dropped;
	bool plain;	 /* Dragonfly framing: one request per connection */
	bool mode_known; /* plain or vx decided */
	bool all_pieces; /* no availability: assume it has every piece */
	bool subscribed;
	bool counted;	       /* its bits are in the pieces' holders (vx__pick_recount()) */
	bool announced;	       /* it sent a BITFIELD or HAVE: its bits are its own claims */
	uint32_t features;     /* HELLO features in force */
	uint32_t max_inflight; /* the parent's HELLO max_inflight (pipelined requests it takes) */
	uint32_t conns;	       /* open connections */
	uint32_t writes;       /* piece writers that name it as their origin */
	uint32_t plain_failures;
	/* closes, in a row, of a vx connection at a frame boundary with requests unanswered */
	uint32_t closes_unanswered;
	uint32_t dial_failures; /* connects failed in a row */
	uint64_t dial_at_ms;	/* not dialled again before (back-off after a failed connect) */
	uint32_t nr_bits;	/* bits set in @bits */
	uint8_t *bits;		/* pieces it has (bitfield + HAVE) */
	/* pieces it answered BUSY for (a super-seeding seed): not asked again before @until */
	struct {
		uint32_t piece;
		uint64_t until_ms;
	} busy[VX_FX_BUSY_MAX];
	uint32_t busy_next;
	uint64_t busy_until_ms; /* the latest end of those back-offs */
};

/* The tables the picker works on; the fetcher owns the memory. */
struct vx_pick {
	uint32_t piece_count;
	uint32_t endgame_pieces;      /* duplicate requests when this few pieces remain */
	struct vx_fx_piece *pieces;   /* piece_count entries */
	struct vx_fx_parent *parents; /* nr_parents slots in use (a dropped slot may be reused) */
	uint32_t nr_parents;
	uint64_t wake_ms; /* earliest end of a BUSY back-off not acted on yet; UINT64_MAX: none */
	/* expected time of one piece (EWMA of request to last byte); 0: duplicate at once */
	uint32_t piece_ms;
	uint64_t endgame_wake_ms; /* a piece becomes old enough to duplicate; UINT64_MAX: none */
	uint64_t steps; /* work done: words, parents and back-off entries looked at (tests) */
	/* The index (see the top; vx__pick_index_init()). */
	uint32_t nr_sets;     /* holder-count sets; set nr_sets is the requested-once set */
	uint32_t words;	      /* 64-bit words per set */
	uint32_t sum_words;   /* 64-bit words per set's summary */
	uint32_t nr_pickable; /* pieces missing and trusted */
	uint32_t nr_once;     /* pieces requested exactly once */
	uint64_t *sets;	      /* (nr_sets + 1) x words */
	uint64_t *sums;	      /* (nr_sets + 1) x sum_words */
};

/* What the picker needs to know of the asking connection. */
struct vx_pick_ask {
	uint64_t now_ms;
	uint32_t start;	       /* where the scan starts (random), below piece_count */
	uint32_t remaining;    /* pieces not done yet */
	const uint32_t *asked; /* pieces this connection has requested already */
	uint32_t nr_asked;
};

/* 64-bit words of index memory for @piece_count pieces and up to @max_parents parents. */
size_t vx__pick_index_words(uint32_t piece_count, uint32_t max_parents);

/*
 * Builds the index in @mem (vx__pick_index_words() words, owned by the caller) from the piece
 * table as it stands: O(pieces), once, before any pick. piece_count and pieces must be set.
 */
void vx__pick_index_init(struct vx_pick *pk, uint64_t *mem, uint32_t max_parents);

/* Piece @n becomes @state with @requesters requests out (the only way to change them). */
void vx__pick_set(struct vx_pick *pk, uint32_t n, enum vx_fx_piece_state state, uint8_t requesters);

/* Piece @n's trusted digest is known. */
void vx__pick_trust(struct vx_pick *pk, uint32_t n);

/* True when @p has piece @n (its bits, or it is assumed to have everything). */
bool vx__pick_parent_has(const struct vx_fx_parent *p, uint32_t n);

/* A parent that holds every piece: a seed or a finished peer (or one without availability). */
bool vx__pick_parent_full(const struct vx_pick *pk, const struct vx_fx_parent *p);

/*
 * True when @p is a full parent to spare: another live vx parent holds some pieces but not
 * all. It is then asked one piece per connection, and only for pieces no partial parent
 * holds. Two full parents never spare each other.
 */
bool vx__pick_spare(const struct vx_pick *pk, const struct vx_fx_parent *p);

/*
 * vx__pick_next() - the piece connection @a of parent @p should ask for next: rarest first
 * among the trusted missing pieces @p has, scanning from @a->start, skipping pieces @p refused
 * BUSY less than VX_FX_BUSY_MS ago and, when @p is spared, pieces a partial parent holds. When
 * nothing is left and at most endgame_pieces remain, a piece requested exactly once, not on
 * this connection and not refused by @p (the endgame duplicate; *@dup set).
 * Returns the piece number, or -1.
 */
int64_t vx__pick_next(struct vx_pick *pk, const struct vx_fx_parent *p, const struct vx_pick_ask *a,
		      bool *dup);

/*
 * Piece @n is asked once more at @now_ms (its first request starts its endgame clock).
 * An endgame duplicate is asked only for a piece out for longer than 1.5 x piece_ms (issue 13:
 * layers of 4 to 12 pieces are mostly endgame, and duplicating every last piece at once sent
 * 5 copies to serve 3); a connection left idle by that wait is woken by vx__pick_wake_due().
 */
void vx__pick_request(struct vx_pick *pk, uint32_t n, uint64_t now_ms);

/* A piece arrived @ms after its request: updates piece_ms. */
void vx__pick_piece_time(struct vx_pick *pk, uint64_t ms);

/*
 * True when @p has a piece it could be asked for at @now_ms (opening a plain connection pays):
 * an endgame duplicate counts only once its piece is old enough (vx__pick_request()).
 */
bool vx__pick_has_work(struct vx_pick *pk, const struct vx_fx_parent *p, uint32_t remaining,
		       uint64_t now_ms);

/* @p's bits say it has piece @n (BITFIELD, HAVE). Returns true when that is news. */
bool vx__pick_gain(struct vx_pick *pk, struct vx_fx_parent *p, uint32_t n);

/* @p does not have piece @n after all ("not found"). */
void vx__pick_lose(struct vx_pick *pk, struct vx_fx_parent *p, uint32_t n);

/*
 * @p, assumed to have every piece, answered "not found" for @n: from now on its bits say
 * every piece but @n.
 */
void vx__pick_all_but(struct vx_pick *pk, struct vx_fx_parent *p, uint32_t n);

/*
 * Brings the pieces' holders up to date with @p's standing (live or dropped, plain, assumed
 * to have everything, in dial back-off): O(1) when it did not change, O(pieces) once when it
 * did. vx__pick_next() also does it for every parent.
 */
void vx__pick_recount(struct vx_pick *pk, struct vx_fx_parent *p);

/* @p answered BUSY for piece @n at @now_ms: not asked again before VX_FX_BUSY_MS. */
void vx__pick_refuse(struct vx_pick *pk, struct vx_fx_parent *p, uint32_t n, uint64_t now_ms);

/*
 * True when a BUSY back-off ended at or before @now_ms since the last call: the caller asks
 * its connections again (no frame would wake them). The next wake is the earliest back-off
 * still running, whichever parent and piece it belongs to.
 */
bool vx__pick_wake_due(struct vx_pick *pk, uint64_t now_ms);

#endif /* VX_DATAPLANE_PICK_H */
