/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crc32_pclmul.c: CRC-32/IEEE with carry-less multiplication (PCLMULQDQ), folding four 128-bit
 * lanes over 64-byte blocks, then one lane, then a Barrett reduction to 32 bits, after Intel's
 * "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ" (Gopal et al., 2009). The
 * constants are x^k mod P(x) in the bit-reflected domain for the fold distances used.
 * Compiled with a target attribute, so it only runs after a CPUID check (crc32.c).
 */
#include "crc32_int.h"

#if defined(__x86_64__)

#include <immintrin.h>

#define VX_PCLMUL_TARGET __attribute__((target("pclmul,sse4.1")))

/* Folds @len bytes at @buf (len >= 64, a multiple of 16) into the pre-inverted CRC @crc. */
VX_PCLMUL_TARGET static uint32_t fold_blocks(const uint8_t *buf, size_t len, uint32_t crc)
{
	const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596ll, 0x0154442bd4ll);
	const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009ell, 0x01751997d0ll);
	const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124ll);
	const __m128i poly = _mm_set_epi64x(0x01f7011641ll, 0x01db710641ll);
	const __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);
	__m128i x1, x2, x3, x4, x5, x6, x7, x8;

	x1 = _mm_loadu_si128((const __m128i *)(const void *)(buf + 0x00));
	x2 = _mm_loadu_si128((const __m128i *)(const void *)(buf + 0x10));
	x3 = _mm_loadu_si128((const __m128i *)(const void *)(buf + 0x20));
	x4 = _mm_loadu_si128((const __m128i *)(const void *)(buf + 0x30));
	x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
	buf += 64;
	len -= 64;

	/* Four lanes, 64 bytes per round: the multiplies of one round are independent. */
	while (len >= 64) {
		x5 = _mm_clmulepi64_si128(x1, k1k2, 0x00);
		x6 = _mm_clmulepi64_si128(x2, k1k2, 0x00);
		x7 = _mm_clmulepi64_si128(x3, k1k2, 0x00);
		x8 = _mm_clmulepi64_si128(x4, k1k2, 0x00);
		x1 = _mm_clmulepi64_si128(x1, k1k2, 0x11);
		x2 = _mm_clmulepi64_si128(x2, k1k2, 0x11);
		x3 = _mm_clmulepi64_si128(x3, k1k2, 0x11);
		x4 = _mm_clmulepi64_si128(x4, k1k2, 0x11);
		x1 = _mm_xor_si128(_mm_xor_si128(x1, x5),
				   _mm_loadu_si128((const __m128i *)(const void *)(buf + 0x00)));
		x2 = _mm_xor_si128(_mm_xor_si128(x2, x6),
				   _mm_loadu_si128((const __m128i *)(const void *)(buf + 0x10)));
		x3 = _mm_xor_si128(_mm_xor_si128(x3, x7),
				   _mm_loadu_si128((const __m128i *)(const void *)(buf + 0x20)));
		x4 = _mm_xor_si128(_mm_xor_si128(x4, x8),
				   _mm_loadu_si128((const __m128i *)(const void *)(buf + 0x30)));
		buf += 64;
		len -= 64;
	}

	/* Four lanes into one. */
	x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
	x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
	x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
	x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
	x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
	x1 = _mm_xor_si128(_mm_xor_si128(x1, x3), x5);
	x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
	x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
	x1 = _mm_xor_si128(_mm_xor_si128(x1, x4), x5);

	/* Remaining 16-byte blocks. */
	while (len >= 16) {
		x2 = _mm_loadu_si128((const __m128i *)(const void *)buf);
		x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
		x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
		x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
		buf += 16;
		len -= 16;
	}

	/* 128 bits to 64. */
	x2 = _mm_clmulepi64_si128(x1, k3k4, 0x10);
	x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
	x2 = _mm_srli_si128(x1, 4);
	x1 = _mm_and_si128(x1, mask32);
	x1 = _mm_clmulepi64_si128(x1, k5k0, 0x00);
	x1 = _mm_xor_si128(x1, x2);

	/* Barrett reduction to 32 bits. */
	x2 = _mm_and_si128(x1, mask32);
	x2 = _mm_clmulepi64_si128(x2, poly, 0x10);
	x2 = _mm_and_si128(x2, mask32);
	x2 = _mm_clmulepi64_si128(x2, poly, 0x00);
	x1 = _mm_xor_si128(x1, x2);
	return (uint32_t)_mm_extract_epi32(x1, 1);
}

uint32_t vx__crc32_pclmul(uint32_t crc, const uint8_t *buf, size_t len)
{
	if (len >= 64) {
		size_t chunk = len & ~(size_t)15;

		crc = ~fold_blocks(buf, chunk, ~crc);
		buf += chunk;
		len -= chunk;
	}
	if (len == 0)
		return crc;
	return vx__crc32_zlib(crc, buf, len);
}

bool vx__crc32_pclmul_supported(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}

#else

uint32_t vx__crc32_pclmul(uint32_t crc, const uint8_t *buf, size_t len)
{
	return vx__crc32_zlib(crc, buf, len);
}

bool vx__crc32_pclmul_supported(void)
{
	return false;
}

#endif
