/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wire.c: the upload server's few Vortex frame helpers over vortex/, and the token bucket.
 * Byte layouts follow spec/vortex.md (Dragonfly's v0.1.5 wire format); the extension frames
 * are described in spec/dataplane.md.
 */
#include "dataplane_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "vx_assert.h"
#include "vx_digest.h"
#include "vx_frame.h"
#include "vx_piece.h"

bool vx__task_id_valid(const char *id)
{
	int i;

	for (i = 0; i < VX__TASK_ID_LEN; i++) {
		char c = id[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

ssize_t vx__content_head_encode(uint8_t *out, size_t out_len, uint8_t packet_id, uint8_t tag,
				const struct vx__meta *m)
{
	struct vx_piece_content pc = {
		.number = m->number,
		.offset = m->offset,
		.length = m->length,
		.digest = m->digest,
		.digest_len = m->digest_len,
		.parent_id = m->parent_id ? m->parent_id : "",
		.parent_id_len = m->parent_id_len,
		.traffic_type = m->traffic_type,
		.cost_s = m->cost_s,
		.created_at_s = m->created_s,
	};
	ssize_t n;

	VX_ASSERT(vx_tag_is_content(tag));
	if (out_len < VX__HDR_LEN)
		return -ENOBUFS;
	/* vortex's encoder validates lengths and UTF-8; the header length is the value's. */
	n = vx_piece_content_encode(&pc, out + VX__HDR_LEN, out_len - VX__HDR_LEN);
	if (n < 0)
		return n == -ENOSPC ? -ENOBUFS : n;
	vx__hdr_put(out, packet_id, tag, (uint32_t)n);
	return VX__HDR_LEN + n;
}

ssize_t vx__error_encode(uint8_t *out, size_t out_len, uint8_t packet_id, uint8_t code,
			 const char *msg)
{
	ssize_t n;

	if (out_len < VX__HDR_LEN + 1)
		return -ENOBUFS;
	n = vx_error_encode(code, msg, strlen(msg), out + VX__HDR_LEN, out_len - VX__HDR_LEN);
	if (n < 0)
		return -ENOBUFS;
	vx__hdr_put(out, packet_id, VX__TAG_ERROR, (uint32_t)n);
	return VX__HDR_LEN + n;
}

uint32_t vx__crc32_format(uint32_t crc, char out[VX__DIGEST_STR_MAX])
{
	int n = snprintf(out, VX__DIGEST_STR_MAX, "crc32:%u", crc);

	VX_ASSERT(n > 0 && n < VX__DIGEST_STR_MAX);
	return (uint32_t)n;
}

uint32_t vx__crc32(uint32_t crc, const void *buf, size_t len)
{
	/* vortex's CRC-32 picks the fastest kernel here (PCLMUL or isa-l, else zlib). */
	return vx_crc32(crc, buf, len);
}

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
