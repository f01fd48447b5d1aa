/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dp_lz4.c: lz4 piece bodies between vx peers (see dp_lz4.h): the decision, the checked
 * block codec calls and the uploader's cache of compressed pieces.
 */
#include "dp_lz4.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <lz4.h>

#include "vx_alloc.h"
#include "vx_assert.h"

_Static_assert(VX_LZ4_PIECE_MAX <= LZ4_MAX_INPUT_SIZE, "every compressible piece fits lz4");
_Static_assert(LZ4_COMPRESSBOUND(VX_LZ4_PIECE_MAX) <= UINT32_MAX, "bounds fit a u32");

uint32_t vx__lz4_bound(uint64_t len)
{
	if (len == 0 || len > VX_LZ4_PIECE_MAX)
		return 0;
	return (uint32_t)LZ4_compressBound((int)len);
}

bool vx__lz4_worth(uint64_t link_rate, uint64_t lz4_rate, uint32_t ratio_pm, bool cached)
{
	uint64_t cpu_pm = 0; /* compression time per raw send time, in thousandths */

	if (ratio_pm >= 1000)
		return false;
	if (link_rate == 0)
		return true;
	if (!cached) {
		if (lz4_rate == 0)
			return false;
		/* link/lz4 in thousandths; a link 10x faster than lz4 is raw whatever the ratio */
		if (link_rate / 10 >= lz4_rate)
			return false;
		cpu_pm = link_rate * 1000 / lz4_rate;
	}
	return 11 * (cpu_pm + ratio_pm) <= 10000;
}

int vx__lz4_decode(const uint8_t *src, uint32_t clen, uint8_t *dst, uint64_t len)
{
	uint32_t bound = vx__lz4_bound(len);
	int n;

	if (clen == 0 || bound == 0 || clen > bound)
		return -EPROTO;
	n = LZ4_decompress_safe((const char *)src, (char *)dst, (int)clen, (int)len);
	return n >= 0 && (uint64_t)n == len ? 0 : -EPROTO;
}

uint32_t vx__lz4_encode(const uint8_t *src, uint64_t len, uint8_t *dst, uint32_t cap)
{
	int n;

	VX_ASSERT(len > 0 && len <= VX_LZ4_PIECE_MAX);
	n = LZ4_compress_default((const char *)src, (char *)dst, (int)len,
				 (int)VX_MIN(cap, (uint32_t)INT_MAX));
	return n > 0 ? (uint32_t)n : 0;
}

/* ---- cache ----------------------------------------------------------------------------- */

static void lz4_entry_free(struct vx__lz4_cache *lc, struct vx__lz4_piece *p)
{
	VX_ASSERT(p->refs == 0);
	lc->bytes -= p->clen;
	vx_free(p->data);
	p->data = NULL;
}

struct vx__lz4_piece *vx__lz4_cache_get(struct vx__lz4_cache *lc, const char *task, uint32_t number,
					uint64_t len)
{
	for (uint32_t i = 0; i < VX_LZ4_CACHE_ENTRIES; i++) {
		struct vx__lz4_piece *p = &lc->e[i];

		if (p->data && p->number == number && p->len == len &&
		    memcmp(p->task, task, VX_TASK_ID_LEN) == 0) {
			p->refs++;
			p->used_at = ++lc->clock;
			return p;
		}
	}
	return NULL;
}

struct vx__lz4_piece *vx__lz4_cache_put(struct vx__lz4_cache *lc, const char *task, uint32_t number,
					uint64_t len, uint8_t *data, uint32_t clen)
{
	struct vx__lz4_piece *slot;

	for (;;) {
		struct vx__lz4_piece *lru = NULL;

		slot = NULL;
		for (uint32_t i = 0; i < VX_LZ4_CACHE_ENTRIES; i++) {
			struct vx__lz4_piece *p = &lc->e[i];

			if (!p->data)
				slot = p;
			else if (p->refs == 0 && (!lru || p->used_at < lru->used_at))
				lru = p;
		}
		if (slot && lc->bytes + clen <= VX_LZ4_CACHE_BYTES)
			break;
		if (!lru) {
			vx_free(data);
			return NULL;
		}
		lz4_entry_free(lc, lru);
	}
	memcpy(slot->task, task, VX_TASK_ID_LEN);
	slot->number = number;
	slot->len = len;
	slot->clen = clen;
	slot->refs = 1;
	slot->used_at = ++lc->clock;
	slot->data = data;
	lc->bytes += clen;
	lc->bytes_max = VX_MAX(lc->bytes_max, lc->bytes);
	return slot;
}

void vx__lz4_cache_unref(struct vx__lz4_piece *p)
{
	VX_ASSERT(p->refs > 0);
	p->refs--;
}

void vx__lz4_cache_clear(struct vx__lz4_cache *lc)
{
	for (uint32_t i = 0; i < VX_LZ4_CACHE_ENTRIES; i++) {
		if (lc->e[i].data)
			lz4_entry_free(lc, &lc->e[i]);
	}
}
