/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_digest.h: piece digests as Dragonfly writes them: "crc32:<decimal>" of CRC-32/IEEE (the
 * zlib/gzip polynomial, reflected 0xEDB88320) over the piece bytes. Not hex, not zero-padded,
 * compared as a string on the wire, as a number inside vx.
 *
 * vx_crc32() picks the fastest implementation once, at first use, from what the CPU offers
 * (isa-l when built with it, our VPCLMULQDQ or PCLMULQDQ folding kernels, zlib otherwise);
 * every implementation gives the same value. Pure functions, no allocation, safe from any thread.
 */
#ifndef VX_DIGEST_H
#define VX_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"

/* "crc32:" + up to 10 decimal digits + NUL. */
#define VX_DIGEST_CRC32_STR_MAX 17

/*
 * vx_crc32() - CRC-32/IEEE of @len bytes at @buf, continuing from @crc, with zlib semantics:
 * start with 0; vx_crc32(vx_crc32(0, a, n), b, m) equals the CRC of a followed by b.
 * @buf: borrowed; may be NULL only when @len is 0. No alignment requirement.
 * Returns the updated CRC. Never fails.
 */
uint32_t vx_crc32(uint32_t crc, const void *buf, size_t len);

/*
 * vx_digest_format_crc32() - writes "crc32:<decimal @crc>" and a NUL into @out.
 * @out: borrowed, @out_len bytes; VX_DIGEST_CRC32_STR_MAX is always enough.
 * Returns the length written (without the NUL), or -ENOSPC when @out is too small (then @out
 * holds an empty string if @out_len > 0).
 */
VX_MUST_CHECK int vx_digest_format_crc32(uint32_t crc, char *out, size_t out_len);

/*
 * vx_digest_parse_crc32() - parses exactly @len bytes at @s as "crc32:<decimal>": the lowercase
 * prefix, then 1 to 10 ASCII digits with a value of at most 4294967295, nothing else (no sign,
 * no spaces, no NUL). Leading zeros are accepted ("crc32:007" is 7). @s: borrowed, need not be
 * NUL-terminated.
 * Returns 0 and sets *@out, or -EINVAL (then *@out is untouched).
 */
VX_MUST_CHECK int vx_digest_parse_crc32(const char *s, size_t len, uint32_t *out);

/* The CRC implementations vx knows, for benchmarks and tests. */
enum vx_crc32_impl {
	VX_CRC32_IMPL_ZLIB = 0,	   /* zlib's crc32_z (portable, slice-by-N tables) */
	VX_CRC32_IMPL_PCLMUL = 1,  /* our PCLMULQDQ folding kernel (x86-64 with SSE4.1+PCLMUL) */
	VX_CRC32_IMPL_ISAL = 2,	   /* isa-l crc32_gzip_refl, when vx was built with isa-l */
	VX_CRC32_IMPL_VPCLMUL = 3, /* our VPCLMULQDQ kernel on AVX-512 registers */
	VX_CRC32_IMPL_NR,
};

/* True when @impl can run here: compiled in and supported by this CPU. */
bool vx_crc32_impl_available(enum vx_crc32_impl impl);
/* Name of @impl for reports: "zlib", "pclmul", "isa-l", "vpclmul". */
const char *vx_crc32_impl_name(enum vx_crc32_impl impl);
/* The implementation vx_crc32() dispatches to on this machine. */
enum vx_crc32_impl vx_crc32_impl_selected(void);
/*
 * vx_crc32_with() - vx_crc32() through a given implementation, which must be available
 * (asserted). Same contract as vx_crc32().
 */
uint32_t vx_crc32_with(enum vx_crc32_impl impl, uint32_t crc, const void *buf, size_t len);

#endif /* VX_DIGEST_H */
