/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crc32_int.h: the CRC-32 kernels behind vx_crc32(), shared inside vortex/ only. Every kernel
 * takes and returns the CRC with zlib semantics (pre- and post-inversion inside).
 */
#ifndef VX_CRC32_INT_H
#define VX_CRC32_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* zlib's crc32_z: the portable kernel, and the tail of the SIMD ones. */
uint32_t vx__crc32_zlib(uint32_t crc, const uint8_t *buf, size_t len);
/* PCLMULQDQ folding; only call when vx__crc32_pclmul_supported(). */
uint32_t vx__crc32_pclmul(uint32_t crc, const uint8_t *buf, size_t len);
bool vx__crc32_pclmul_supported(void);
/* VPCLMULQDQ on AVX-512 registers; only call when vx__crc32_vpclmul_supported(). */
uint32_t vx__crc32_vpclmul(uint32_t crc, const uint8_t *buf, size_t len);
bool vx__crc32_vpclmul_supported(void);
/* isa-l's crc32_gzip_refl; vx__crc32_isal_supported() is false when built without isa-l. */
uint32_t vx__crc32_isal(uint32_t crc, const uint8_t *buf, size_t len);
bool vx__crc32_isal_supported(void);

#endif /* VX_CRC32_INT_H */
