/* SPDX-License-Identifier: Apache-2.0 */
/*
 * utf8.c: strict UTF-8 validation (RFC 3629), with the "maximal subpart" error length that
 * lossy decoders (WHATWG, Rust's from_utf8_lossy) replace with one U+FFFD.
 */
#include "vx_utf8.h"

/*
 * Length of the invalid sequence at @s[0..len): how many bytes a lossy decoder replaces with a
 * single U+FFFD. Always >= 1.
 */
static size_t bad_len_at(const uint8_t *s, size_t len)
{
	uint8_t c = s[0];
	uint8_t lo = 0x80, hi = 0xBF;
	size_t need, i;

	if (c >= 0xC2 && c <= 0xDF) {
		need = 1;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 1;
	}
	for (i = 1; i <= need; i++) {
		if (i >= len || s[i] < lo || s[i] > hi)
			return i;
		lo = 0x80;
		hi = 0xBF;
	}
	return 0; /* valid: caller never asks */
}

size_t vx_utf8_next_error(const uint8_t *s, size_t len, size_t *bad_len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		size_t n;

		if (c < 0x80) {
			i++;
			continue;
		}
		n = bad_len_at(s + i, len - i);
		if (n != 0) {
			*bad_len = n;
			return i;
		}
		i += c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
	}
	*bad_len = 0;
	return len;
}

bool vx_utf8_valid(const uint8_t *s, size_t len)
{
	size_t bad;

	if (len == 0)
		return true;
	return vx_utf8_next_error(s, len, &bad) == len && bad == 0;
}

size_t vx_utf8_truncate(const uint8_t *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	/* Step back over continuation bytes to the start of the character at @max. */
	while (max > 0 && (s[max] & 0xC0) == 0x80)
		max--;
	return max;
}
