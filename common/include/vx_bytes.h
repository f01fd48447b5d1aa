/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_bytes.h: big-endian loads and stores for wire formats. Never cast a struct over wire
 * bytes; read each field through these.
 */
#ifndef VX_BYTES_H
#define VX_BYTES_H

#include <stdint.h>

static inline uint16_t vx_get_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | (uint16_t)p[1]);
}

static inline uint32_t vx_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t vx_get_be64(const uint8_t *p)
{
	return (uint64_t)vx_get_be32(p) << 32 | (uint64_t)vx_get_be32(p + 4);
}

static inline void vx_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void vx_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void vx_put_be64(uint8_t *p, uint64_t v)
{
	vx_put_be32(p, (uint32_t)(v >> 32));
	vx_put_be32(p + 4, (uint32_t)v);
}

#endif /* VX_BYTES_H */
