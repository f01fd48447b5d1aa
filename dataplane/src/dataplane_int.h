/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dataplane_int.h: what the upload server and the fetcher share, private to dataplane/: the
 * limits the data plane enforces on top of spec/vortex.md (expressed through vortex's names),
 * a token bucket and a cheap PRNG. No wire format lives here: every tag, length, encoder and
 * decoder is vortex's (vx_frame.h, vx_frame_ext.h, vx_piece.h).
 */
#ifndef VX_DATAPLANE_INT_H
#define VX_DATAPLANE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_bucket.h"
#include "vx_compiler.h"
#include "vx_frame_ext.h"

/*
 * Most pieces a data-plane task may have, so the largest bitfield vx sends or takes: a quarter
 * of what the format allows (2^17); no piece plan gets near.
 */
#define VX__BITFIELD_PIECES_MAX (VX_BITFIELD_PIECES_MAX / 4)
#define VX__BITFIELD_VALUE_MAX	(VX_BITFIELD_HDR_LEN + VX__BITFIELD_PIECES_MAX / 8)

/* A cheap per-owner PRNG (xorshift64*), for packet ids and random piece starts. */
static inline uint64_t vx__rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

#endif /* VX_DATAPLANE_INT_H */
