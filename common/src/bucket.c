/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bucket.c: the token bucket (vx_bucket.h).
 */
#include "vx_bucket.h"

#include "vx_compiler.h"
#include "vx_time.h"

void vx_bucket_init(struct vx_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ms)
{
	b->rate = rate;
	b->burst = burst ? burst : rate / 10 + 1;
	b->tokens = b->burst;
	b->frac = 0;
	b->last_ms = now_ms;
}

uint64_t vx_bucket_peek(struct vx_bucket *b, uint64_t want, uint64_t now_ms)
{
	if (b->rate == 0)
		return want;
	if (now_ms > b->last_ms) {
		/* the fraction of a unit earned is kept (@frac, in unit-milliseconds): peeking
		 * every millisecond at 200/s must not lose the 0.2 of each */
		uint64_t um = (now_ms - b->last_ms) * b->rate + b->frac;

		b->last_ms = now_ms;
		b->frac = um % 1000;
		b->tokens += um / 1000;
		if (b->tokens >= b->burst) {
			b->tokens = b->burst;
			b->frac = 0;
		}
	}
	return VX_MIN(want, b->tokens);
}

void vx_bucket_take(struct vx_bucket *b, uint64_t n)
{
	if (b->rate == 0)
		return;
	b->tokens = n > b->tokens ? 0 : b->tokens - n;
}

/* ---- struct vx_rate: one bucket, several threads ---------------------------------------- */

static uint64_t rate_burst(const struct vx_rate *r, uint64_t rate)
{
	return VX_MAX(rate / 10, r->burst_min);
}

void vx_rate_init(struct vx_rate *r, uint64_t rate, uint64_t burst_min)
{
	pthread_mutex_init(&r->lock, NULL);
	r->burst_min = burst_min ? burst_min : 1;
	r->debt = 0;
	vx_bucket_init(&r->b, rate, rate_burst(r, rate), vx_now_ms());
}

void vx_rate_destroy(struct vx_rate *r)
{
	pthread_mutex_destroy(&r->lock);
}

void vx_rate_set(struct vx_rate *r, uint64_t rate)
{
	pthread_mutex_lock(&r->lock);
	if (rate != r->b.rate) {
		vx_bucket_init(&r->b, rate, rate_burst(r, rate), vx_now_ms());
		r->debt = 0;
	}
	pthread_mutex_unlock(&r->lock);
}

uint64_t vx_rate_get(struct vx_rate *r)
{
	uint64_t rate;

	pthread_mutex_lock(&r->lock);
	rate = r->b.rate;
	pthread_mutex_unlock(&r->lock);
	return rate;
}

uint64_t vx_rate_peek(struct vx_rate *r, uint64_t want)
{
	uint64_t n, pay;

	if (!r)
		return want;
	pthread_mutex_lock(&r->lock);
	n = vx_bucket_peek(&r->b, UINT64_MAX, vx_now_ms()); /* the refill */
	if (r->b.rate && r->debt) {
		pay = VX_MIN(r->debt, n);
		vx_bucket_take(&r->b, pay);
		r->debt -= pay;
		n -= pay;
	}
	pthread_mutex_unlock(&r->lock);
	return VX_MIN(want, n);
}

void vx_rate_take(struct vx_rate *r, uint64_t n)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	/* several spenders may have peeked the same tokens: what is over them is owed, so the
	 * rate over time holds whatever the interleaving (a bucket alone would forgive it) */
	if (r->b.rate && n > r->b.tokens)
		r->debt += n - r->b.tokens;
	vx_bucket_take(&r->b, n);
	pthread_mutex_unlock(&r->lock);
}

bool vx_rate_try(struct vx_rate *const *rs, uint32_t nr, uint64_t n)
{
	for (uint32_t i = 0; i < nr; i++) {
		if (rs[i] && vx_rate_peek(rs[i], n) < n)
			return false;
	}
	for (uint32_t i = 0; i < nr; i++)
		vx_rate_take(rs[i], n);
	return true;
}
