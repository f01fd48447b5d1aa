/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_bucket.h: a token bucket, the one rate limiter of vx: bytes for the data plane's upload
 * and fetch rates, requests for the scheduler's control channel. Not thread-safe: one owner.
 */
#ifndef VX_BUCKET_H
#define VX_BUCKET_H

#include <stdint.h>

/* @rate units per second, at most @burst saved up. rate 0 = unlimited. */
struct vx_bucket {
	uint64_t rate;	 /* units per second; 0: unlimited */
	uint64_t burst;	 /* units */
	uint64_t tokens; /* units available now */
	uint64_t frac;	 /* a unit's fraction earned, unit-milliseconds (< 1000) */
	uint64_t last_ms;
};

/* A full bucket at @now_ms; @burst 0: a tenth of a second's worth (at least 1). */
void vx_bucket_init(struct vx_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ms);
/* Units that may be spent now, at most @want (0 when the bucket is empty). */
uint64_t vx_bucket_peek(struct vx_bucket *b, uint64_t want, uint64_t now_ms);
/* Spends @n units (after a peek allowed them). */
void vx_bucket_take(struct vx_bucket *b, uint64_t n);

#endif /* VX_BUCKET_H */
