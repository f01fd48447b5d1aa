/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_digest.h: piece digests as Dragonfly writes them: "crc32:<decimal>" of CRC-32/IEEE (the
 * zlib/gzip polynomial, reflected 0xEDB88320) over the piece bytes. Not hex, not zero-padded,
 * compared as a string on the wire, as a number inside vx. And the one parser of whole-content
 * digest texts ("sha256:<hex>", "sha512:<hex>", "crc32:<decimal>").
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

/*
 * Digest texts: how a user (`vx get --digest`, the local API's download digest) or a registry
 * (OCI descriptors and references) names whole content. The grammar, once:
 *   "sha256:" 64 hex digits | "sha512:" 128 hex digits | "crc32:" as vx_digest_parse_crc32()
 * The algorithm name is lowercase. Hex digits may be of either case unless the caller asks for
 * VX_DIGEST_LOWER_HEX (the OCI image spec allows only [a-f0-9] for sha256 and sha512).
 */
enum vx_digest_algo {
	VX_DIGEST_CRC32 = 0,
	VX_DIGEST_SHA256 = 1,
	VX_DIGEST_SHA512 = 2,
};

/* What a caller accepts: a set of algorithms, and VX_DIGEST_LOWER_HEX. */
#define VX_DIGEST_ACCEPT_CRC32	(1u << VX_DIGEST_CRC32)
#define VX_DIGEST_ACCEPT_SHA256 (1u << VX_DIGEST_SHA256)
#define VX_DIGEST_ACCEPT_SHA512 (1u << VX_DIGEST_SHA512)
#define VX_DIGEST_LOWER_HEX	(1u << 8)
/* A digest a user gives: any of the three, hex of either case. */
#define VX_DIGEST_USER (VX_DIGEST_ACCEPT_CRC32 | VX_DIGEST_ACCEPT_SHA256 | VX_DIGEST_ACCEPT_SHA512)
/* An OCI content digest: sha256 or sha512, lowercase hex. */
#define VX_DIGEST_OCI (VX_DIGEST_ACCEPT_SHA256 | VX_DIGEST_ACCEPT_SHA512 | VX_DIGEST_LOWER_HEX)

/* Longest digest text: "sha512:" + 128 hex digits. */
#define VX_DIGEST_SPEC_MAX (7 + 128)

struct vx_digest_spec {
	enum vx_digest_algo algo;
	uint32_t len;	   /* bytes of @value used: 4 (crc32, big-endian), 32 or 64 */
	uint8_t value[64]; /* the digest's bytes */
};

/*
 * vx_digest_spec_parse() - parses exactly @len bytes at @s (borrowed, need not be
 * NUL-terminated) as a digest text of an algorithm in @accept (VX_DIGEST_ACCEPT_* bits, and
 * VX_DIGEST_LOWER_HEX to refuse upper-case hex).
 * Returns 0 and fills *@out, or -EINVAL (then *@out is untouched).
 */
VX_MUST_CHECK int vx_digest_spec_parse(const char *s, size_t len, unsigned accept,
				       struct vx_digest_spec *out);

/* True when vx_digest_spec_parse() would accept @s[0..@len) under @accept. */
bool vx_digest_spec_valid(const char *s, size_t len, unsigned accept);

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
