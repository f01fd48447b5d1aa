/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_hash.h: small non-cryptographic hashes for tables and rendezvous hashing (never for
 * anything an attacker may choose to collide on purpose at scale). Pure; any thread.
 */
#ifndef VX_HASH_H
#define VX_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a over @n bytes of @p. */
static inline uint32_t vx_hash_fnv1a(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

/* MurmurHash3's 64-bit finalizer: every input bit affects every output bit. */
static inline uint64_t vx_hash_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

#endif /* VX_HASH_H */
