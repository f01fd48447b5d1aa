/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_bitmap.h: piece bitmaps over uint8_t, most significant bit first: bit n is bit (7 - n % 8)
 * of byte n / 8, the order of Vortex's BITFIELD and BitTorrent. The caller owns the bytes and
 * knows the bit count; nothing here allocates. Pure; any thread.
 */
#ifndef VX_BITMAP_H
#define VX_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes that hold @nbits bits. */
static inline size_t vx_bitmap_bytes(uint64_t nbits)
{
	return (size_t)((nbits + 7) / 8);
}

static inline bool vx_bit_get(const uint8_t *b, uint64_t n)
{
	return ((unsigned)b[n / 8] >> (7u - (unsigned)(n % 8))) & 1u;
}

static inline void vx_bit_set(uint8_t *b, uint64_t n)
{
	b[n / 8] |= (uint8_t)(0x80u >> (n % 8));
}

static inline void vx_bit_clear(uint8_t *b, uint64_t n)
{
	b[n / 8] &= (uint8_t) ~(0x80u >> (n % 8));
}

/*
 * The bits of the last byte of an @nbits-bit map that hold bits (0xff when @nbits is a multiple
 * of 8); the others are spare, and zero on the wire.
 */
static inline uint8_t vx_bitmap_last_mask(uint64_t nbits)
{
	return (uint8_t)(0xff00u >> (nbits % 8 ? nbits % 8 : 8));
}

/* Set bits among bits [0, @nbits) of @b; bits past @nbits in the last byte are ignored. */
uint64_t vx_bitmap_count(const uint8_t *b, uint64_t nbits);

/* The first clear bit in [@from, @nbits) of @b, or @nbits when every one is set. */
uint64_t vx_bitmap_first_zero(const uint8_t *b, uint64_t from, uint64_t nbits);

#endif /* VX_BITMAP_H */
