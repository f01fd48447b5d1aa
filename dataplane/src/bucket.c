/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bucket.c: the data plane's token bucket (upload and fetch rate limits).
 */
#include "dataplane_int.h"

void vx__bucket_init(struct vx__bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ms)
{
	b->rate = rate;
	b->burst = burst ? burst : rate / 10 + 1;
	b->tokens = b->burst;
	b->last_ms = now_ms;
}

uint64_t vx__bucket_peek(struct vx__bucket *b, uint64_t want, uint64_t now_ms)
{
	if (b->rate == 0)
		return want;
	if (now_ms > b->last_ms) {
		uint64_t add = (now_ms - b->last_ms) * b->rate / 1000;

		b->tokens = VX_MIN(b->burst, b->tokens + add);
		b->last_ms = now_ms;
	}
	return VX_MIN(want, b->tokens);
}

void vx__bucket_take(struct vx__bucket *b, uint64_t n)
{
	if (b->rate == 0)
		return;
	b->tokens = n > b->tokens ? 0 : b->tokens - n;
}
