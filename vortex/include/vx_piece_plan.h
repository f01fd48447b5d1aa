/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_piece_plan.h: how a task's content is cut into pieces, by Dragonfly's rule: the piece
 * length is next_power_of_two(content_length / 500) clamped to [4 MiB, 64 MiB]; every piece
 * has that length except the last, which is shorter when the length does not divide evenly.
 * A piece length fixed by the user is used as given (and becomes part of the task id).
 * Pure arithmetic, no allocation.
 */
#ifndef VX_PIECE_PLAN_H
#define VX_PIECE_PLAN_H

#include <stdint.h>

#define VX_PIECE_LENGTH_MIN (4ull << 20)
#define VX_PIECE_LENGTH_MAX (64ull << 20)
/* How many pieces Dragonfly aims at before clamping: content_length / 500. */
#define VX_PIECE_PLAN_TARGET_COUNT 500ull

/*
 * vx_piece_length_for() - the piece length Dragonfly chooses for @content_length bytes:
 * next_power_of_two(floor(@content_length / 500)) clamped to [VX_PIECE_LENGTH_MIN,
 * VX_PIECE_LENGTH_MAX]. 1 GiB -> 4 MiB, 4 GiB -> 16 MiB, 30 GiB -> 64 MiB; 0 -> 4 MiB.
 */
uint64_t vx_piece_length_for(uint64_t content_length);

/*
 * vx_piece_count() - number of pieces of @piece_length bytes (> 0, asserted) needed to cover
 * @content_length bytes: ceil(content_length / piece_length); 0 for empty content.
 * Returns UINT32_MAX when the count does not fit in 32 bits (callers treat that as too large;
 * piece numbers are u32 on the wire).
 */
uint32_t vx_piece_count(uint64_t content_length, uint64_t piece_length);

/*
 * vx_piece_offset() / vx_piece_size() - where piece @number starts, and how long it is, for
 * @content_length bytes cut into @piece_length pieces. @number must be below
 * vx_piece_count() (asserted). The last piece may be shorter.
 */
uint64_t vx_piece_offset(uint32_t number, uint64_t piece_length);
uint64_t vx_piece_size(uint32_t number, uint64_t content_length, uint64_t piece_length);

#endif /* VX_PIECE_PLAN_H */
