/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bitmap.c: counting and searching MSB-first bitmaps (vx_bitmap.h), a byte at a time.
 */
#include "vx_bitmap.h"

uint64_t vx_bitmap_count(const uint8_t *b, uint64_t nbits)
{
	uint64_t whole = nbits / 8, n = 0;

	for (uint64_t i = 0; i < whole; i++)
		n += (uint64_t)__builtin_popcount(b[i]);
	if (nbits % 8)
		n += (uint64_t)__builtin_popcount(b[whole] & vx_bitmap_last_mask(nbits));
	return n;
}

uint64_t vx_bitmap_first_zero(const uint8_t *b, uint64_t from, uint64_t nbits)
{
	uint64_t n = from;

	/* Bit by bit up to a byte boundary, then whole 0xff bytes are skipped. */
	while (n < nbits && n % 8 && vx_bit_get(b, n))
		n++;
	while (n + 8 <= nbits && b[n / 8] == 0xff)
		n += 8;
	while (n < nbits && vx_bit_get(b, n))
		n++;
	return n < nbits ? n : nbits;
}
