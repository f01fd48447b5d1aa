/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bucket.c: the token bucket (vx_bucket.h).
 */
#include "vx_bucket.h"

#include "vx_compiler.h"

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
