/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_bucket.h: a token bucket, the one rate limiter of vx: bytes for the data plane's upload
 * and fetch rates, requests for the scheduler's control channel. struct vx_bucket is not
 * thread-safe (one owner); struct vx_rate is the same bucket under a lock, for a byte rate that
 * several threads spend together (the daemon's back-to-source rate, one task's cap).
 */
#ifndef VX_BUCKET_H
#define VX_BUCKET_H

#include <pthread.h>
#include <stdbool.h>
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

/*
 * A bucket several threads share, on vx_now_ms() time. Its burst is a tenth of a second's worth
 * and never less than @burst_min (the largest amount one caller asks for at once, so that a
 * try of that much can succeed). rate 0 = unlimited.
 */
struct vx_rate {
	pthread_mutex_t lock;
	uint64_t burst_min; /* read-only after init */
	struct vx_bucket b; /* under lock */
	/* under lock: taken beyond the tokens (spenders that peeked the same tokens before
	 * either took them), paid back from the refill before anyone gets more */
	uint64_t debt;
};

void vx_rate_init(struct vx_rate *r, uint64_t rate, uint64_t burst_min);
void vx_rate_destroy(struct vx_rate *r);
/* A new rate, full bucket. */
void vx_rate_set(struct vx_rate *r, uint64_t rate);
uint64_t vx_rate_get(struct vx_rate *r);
/* As vx_bucket_peek() / vx_bucket_take(), under the lock, on vx_now_ms() time. NULL @r: no
 * limit. */
uint64_t vx_rate_peek(struct vx_rate *r, uint64_t want);
void vx_rate_take(struct vx_rate *r, uint64_t n);
/*
 * Spends @n units of every non-NULL rate of @rs[0..@nr) when each has them now and returns
 * true; else spends none and returns false (try again later). Two spenders racing between the
 * peeks and the takes may overdraw a bucket by one request's worth, which the bucket's zero
 * floor then absorbs.
 */
bool vx_rate_try(struct vx_rate *const *rs, uint32_t nr, uint64_t n);

#endif /* VX_BUCKET_H */
