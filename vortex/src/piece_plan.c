/* SPDX-License-Identifier: Apache-2.0 */
/*
 * piece_plan.c: Dragonfly's piece-length rule and the arithmetic of cutting content into
 * pieces.
 */
#include "vx_piece_plan.h"

#include "vx_assert.h"

static uint64_t next_power_of_two(uint64_t v)
{
	if (v <= 1)
		return 1;
	if (v > (1ull << 63))
		return 0; /* overflow: callers clamp */
	return 1ull << (64 - __builtin_clzll(v - 1));
}

uint64_t vx_piece_length_for(uint64_t content_length)
{
	uint64_t p = next_power_of_two(content_length / VX_PIECE_PLAN_TARGET_COUNT);

	if (p == 0 || p > VX_PIECE_LENGTH_MAX)
		return VX_PIECE_LENGTH_MAX;
	if (p < VX_PIECE_LENGTH_MIN)
		return VX_PIECE_LENGTH_MIN;
	return p;
}

uint32_t vx_piece_count(uint64_t content_length, uint64_t piece_length)
{
	uint64_t n;

	VX_ASSERT(piece_length > 0);
	n = content_length / piece_length + (content_length % piece_length != 0);
	if (n >= UINT32_MAX)
		return UINT32_MAX;
	return (uint32_t)n;
}

uint64_t vx_piece_offset(uint32_t number, uint64_t piece_length)
{
	VX_ASSERT(piece_length > 0);
	return (uint64_t)number * piece_length;
}

uint64_t vx_piece_size(uint32_t number, uint64_t content_length, uint64_t piece_length)
{
	uint64_t off;

	VX_ASSERT(number < vx_piece_count(content_length, piece_length));
	off = (uint64_t)number * piece_length;
	return VX_MIN(piece_length, content_length - off);
}
