/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hex.c: hexadecimal encode, decode and check (vx_hex.h).
 */
#include "vx_hex.h"

#include <errno.h>

bool vx_hex_is_lower(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

void vx_hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int vx_hex_decode(const char *s, size_t len, uint8_t *out, size_t out_len)
{
	if (len != 2 * out_len)
		return -EINVAL;
	for (size_t i = 0; i < out_len; i++) {
		int hi = vx_hex_val((unsigned char)s[2 * i]);
		int lo = vx_hex_val((unsigned char)s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
