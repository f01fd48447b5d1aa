/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crc32_pclmul.c: CRC-32/IEEE with carry-less multiplication (PCLMULQDQ), folding four 128-bit
 * lanes over 64-byte blocks, then one lane, then a Barrett reduction to 32 bits, after Intel's
 * "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ" (Gopal et al., 2009). The
 * constants are x^k mod P(x) in the bit-reflected domain for the fold distances used.
 * A second kernel does the same with VPCLMULQDQ on AVX-512 registers: four 512-bit lanes (16
 * 128-bit folds) over 256-byte blocks, then down to one 128-bit lane and the same finish.
 * Both are compiled with target attributes and only run after a CPUID check (digest.c).
 */
#include "crc32_int.h"

#if defined(__x86_64__)

#include <immintrin.h>

#define VX_PCLMUL_TARGET __attribute__((target("pclmul,sse4.1")))

/*
 * One 128-bit lane @x1 of folded state, then @len (a multiple of 16) more bytes at @buf:
 * fold them in 16 at a time, reduce 128 -> 64 -> 32 bits (Barrett). Returns the CRC, inverted.
 */
VX_PCLMUL_TARGET static uint32_t finish(__m128i x1, const uint8_t *buf, size_t len)
{
	const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009ell, 0x01751997d0ll);
	const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124ll);
	const __m128i poly = _mm_set_epi64x(0x01f7011641ll, 0x01db710641ll);
	const __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);
	__m128i x2, x5;

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

/* Folds @len bytes at @buf (len >= 64, a multiple of 16) into the pre-inverted CRC @crc. */
VX_PCLMUL_TARGET static uint32_t fold_blocks(const uint8_t *buf, size_t len, uint32_t crc)
{
	const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596ll, 0x0154442bd4ll);
	const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009ell, 0x01751997d0ll);
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

	return finish(x1, buf, len);
}

#define VX_VPCLMUL_TARGET __attribute__((target("vpclmulqdq,avx512f,pclmul,sse4.1")))

/* x folded over D bits (constants k = { x^(D+32), x^(D-32) } mod P, reflected) xor data. */
#define FOLD512(x, k, data)                                                 \
	_mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128((x), (k), 0x00), \
				  _mm512_clmulepi64_epi128((x), (k), 0x11), (data), 0x96)
#define FOLD128(x, k) \
	_mm_xor_si128(_mm_clmulepi64_si128((x), (k), 0x00), _mm_clmulepi64_si128((x), (k), 0x11))

/* Folds @len bytes at @buf (len >= 256, a multiple of 16) into the pre-inverted CRC @crc. */
VX_VPCLMUL_TARGET static uint32_t fold_blocks_512(const uint8_t *buf, size_t len, uint32_t crc)
{
	const __m512i k2048 =
		_mm512_broadcast_i32x4(_mm_set_epi64x(0x01322d1430ll, 0x011542778all));
	const __m512i k512 = _mm512_broadcast_i32x4(_mm_set_epi64x(0x01c6e41596ll, 0x0154442bd4ll));
	const __m128i k384 = _mm_set_epi64x(0x0174359406ll, 0x003db1ecdcll);
	const __m128i k256 = _mm_set_epi64x(0x015a546366ll, 0x00f1da05aall);
	const __m128i k128 = _mm_set_epi64x(0x00ccaa009ell, 0x01751997d0ll);
	__m512i z0, z1, z2, z3;
	__m128i x;

	z0 = _mm512_loadu_si512((const void *)(buf + 0x00));
	z1 = _mm512_loadu_si512((const void *)(buf + 0x40));
	z2 = _mm512_loadu_si512((const void *)(buf + 0x80));
	z3 = _mm512_loadu_si512((const void *)(buf + 0xC0));
	z0 = _mm512_xor_si512(z0, _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)crc)));
	buf += 256;
	len -= 256;

	/* Sixteen 128-bit folds per round, 256 bytes. */
	while (len >= 256) {
		z0 = FOLD512(z0, k2048, _mm512_loadu_si512((const void *)(buf + 0x00)));
		z1 = FOLD512(z1, k2048, _mm512_loadu_si512((const void *)(buf + 0x40)));
		z2 = FOLD512(z2, k2048, _mm512_loadu_si512((const void *)(buf + 0x80)));
		z3 = FOLD512(z3, k2048, _mm512_loadu_si512((const void *)(buf + 0xC0)));
		buf += 256;
		len -= 256;
	}

	/* Four 512-bit lanes into one, then its four 128-bit lanes into one. */
	z1 = FOLD512(z0, k512, z1);
	z2 = FOLD512(z1, k512, z2);
	z3 = FOLD512(z2, k512, z3);
	x = _mm512_extracti32x4_epi32(z3, 3);
	x = _mm_xor_si128(x, FOLD128(_mm512_extracti32x4_epi32(z3, 0), k384));
	x = _mm_xor_si128(x, FOLD128(_mm512_extracti32x4_epi32(z3, 1), k256));
	x = _mm_xor_si128(x, FOLD128(_mm512_extracti32x4_epi32(z3, 2), k128));
	return finish(x, buf, len);
}

uint32_t vx__crc32_vpclmul(uint32_t crc, const uint8_t *buf, size_t len)
{
	if (len >= 256) {
		size_t chunk = len & ~(size_t)15;

		crc = ~fold_blocks_512(buf, chunk, ~crc);
		buf += chunk;
		len -= chunk;
	}
	return vx__crc32_pclmul(crc, buf, len);
}

bool vx__crc32_vpclmul_supported(void)
{
	__builtin_cpu_init();
	return vx__crc32_pclmul_supported() && __builtin_cpu_supports("vpclmulqdq") &&
	       __builtin_cpu_supports("avx512f");
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

uint32_t vx__crc32_vpclmul(uint32_t crc, const uint8_t *buf, size_t len)
{
	return vx__crc32_zlib(crc, buf, len);
}

bool vx__crc32_vpclmul_supported(void)
{
	return false;
}

bool vx__crc32_pclmul_supported(void)
{
	return false;
}

#endif
