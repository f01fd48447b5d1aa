/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_hex.h: hexadecimal digits, once. Encoding is lowercase (task ids, digests on the wire);
 * decoding takes either case (digests a user typed). Pure; any thread.
 */
#ifndef VX_HEX_H
#define VX_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"

/* The value 0..15 of hex digit @c (either case), or -1. */
static inline int vx_hex_val(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* True when @s holds at least @n bytes and the first @n are all lowercase hex digits. */
bool vx_hex_is_lower(const char *s, size_t n);

/* Writes the 2 * @n lowercase digits of @in[0..@n) and a NUL to @out (2 * @n + 1 bytes). */
void vx_hex_encode(const uint8_t *in, size_t n, char *out);

/*
 * vx_hex_decode() - the @out_len bytes spelled by @s[0..@len) (digits of either case).
 * Returns 0, or -EINVAL when @len is not 2 * @out_len or a character is not a hex digit (@out
 * may then be partly written).
 */
VX_MUST_CHECK int vx_hex_decode(const char *s, size_t len, uint8_t *out, size_t out_len);

#endif /* VX_HEX_H */
