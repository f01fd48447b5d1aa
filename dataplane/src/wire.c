/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wire.c: the fetcher's remaining private Vortex helpers (the upload server uses vortex/'s
 * encoders and decoder directly; these go once the fetcher does too), and the token bucket.
 * Byte layouts follow spec/vortex.md (Dragonfly's v0.1.5 wire format); the extension frames
 * are described in spec/dataplane.md.
 */
#include "dataplane_int.h"

#include <errno.h>
#include <string.h>
#include <sys/types.h>

#include "vx_assert.h"
#include "vx_digest.h"
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

int vx__content_value_decode(const uint8_t *in, size_t len, struct vx__meta *m)
{
	struct vx_piece_content pc;
	ssize_t n = vx_piece_content_decode(in, len, &pc);

	/* Dragonfly frames content as exactly 4 + metadata_length: nothing may trail it. */
	if (n < 0 || (size_t)n != len)
		return -EPROTO;
	m->number = pc.number;
	m->offset = pc.offset;
	m->length = pc.length;
	m->digest = pc.digest;
	m->digest_len = pc.digest_len;
	m->parent_id = pc.parent_id;
	m->parent_id_len = pc.parent_id_len;
	m->traffic_type = pc.traffic_type;
	m->cost_s = pc.cost_s;
	m->created_s = pc.created_at_s;
	return 0;
}

void vx__download_encode(uint8_t out[VX__HDR_LEN + VX__DOWNLOAD_LEN], uint8_t packet_id,
			 uint8_t tag, const char *task_id, uint32_t number)
{
	VX_ASSERT(vx__tag_is_download(tag));
	vx__hdr_put(out, packet_id, tag, VX__DOWNLOAD_LEN);
	memcpy(out + VX__HDR_LEN, task_id, VX__TASK_ID_LEN);
	vx_put_be32(out + VX__HDR_LEN + VX__TASK_ID_LEN, number);
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
