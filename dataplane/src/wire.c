/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wire.c: the few Vortex encoders and decoders the data plane needs, and its token bucket.
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
	size_t meta_len = VX__META_FIXED + (size_t)m->digest_len + (size_t)m->parent_id_len;
	size_t total = VX__HDR_LEN + 4 + meta_len;
	uint8_t *p = out;

	VX_ASSERT(vx__tag_is_content(tag));
	if (meta_len > VX__META_MAX - 4 || total > out_len)
		return -ENOBUFS;
	vx__hdr_put(p, packet_id, tag, (uint32_t)(4 + meta_len));
	p += VX__HDR_LEN;
	vx_put_be32(p, (uint32_t)meta_len);
	p += 4;
	vx_put_be32(p, m->number);
	p += 4;
	vx_put_be64(p, m->offset);
	p += 8;
	vx_put_be64(p, m->length);
	p += 8;
	vx_put_be32(p, m->digest_len);
	p += 4;
	memcpy(p, m->digest, m->digest_len);
	p += m->digest_len;
	vx_put_be32(p, m->parent_id_len);
	p += 4;
	if (m->parent_id_len)
		memcpy(p, m->parent_id, m->parent_id_len);
	p += m->parent_id_len;
	*p++ = m->traffic_type;
	vx_put_be64(p, m->cost_s);
	p += 8;
	vx_put_be64(p, (uint64_t)m->created_s);
	p += 8;
	VX_ASSERT((size_t)(p - out) == total);
	return (ssize_t)total;
}

int vx__content_value_decode(const uint8_t *in, size_t len, struct vx__meta *m)
{
	const uint8_t *p = in, *end;
	uint32_t meta_len;

	if (len < 4)
		return -EPROTO;
	meta_len = vx_get_be32(p);
	if (meta_len < VX__META_FIXED || (size_t)meta_len + 4 > len)
		return -EPROTO;
	p += 4;
	end = p + meta_len;
	m->number = vx_get_be32(p);
	m->offset = vx_get_be64(p + 4);
	m->length = vx_get_be64(p + 12);
	m->digest_len = vx_get_be32(p + 20);
	p += 24;
	if (m->digest_len > (size_t)(end - p))
		return -EPROTO;
	m->digest = (const char *)p;
	p += m->digest_len;
	if ((size_t)(end - p) < 4)
		return -EPROTO;
	m->parent_id_len = vx_get_be32(p);
	p += 4;
	if (m->parent_id_len > (size_t)(end - p))
		return -EPROTO;
	m->parent_id = (const char *)p;
	p += m->parent_id_len;
	if ((size_t)(end - p) < 17)
		return -EPROTO;
	m->traffic_type = p[0];
	m->cost_s = vx_get_be64(p + 1);
	m->created_s = (int64_t)vx_get_be64(p + 9);
	return 0;
}

ssize_t vx__error_encode(uint8_t *out, size_t out_len, uint8_t packet_id, uint8_t code,
			 const char *msg)
{
	size_t mlen = strlen(msg);

	if (out_len < VX__HDR_LEN + 1)
		return -ENOBUFS;
	mlen = VX_MIN(mlen, out_len - VX__HDR_LEN - 1);
	mlen = VX_MIN(mlen, (size_t)VX__ERROR_MAX - 1);
	vx__hdr_put(out, packet_id, VX__TAG_ERROR, (uint32_t)(1 + mlen));
	out[VX__HDR_LEN] = code;
	memcpy(out + VX__HDR_LEN + 1, msg, mlen);
	return (ssize_t)(VX__HDR_LEN + 1 + mlen);
}

void vx__download_encode(uint8_t out[VX__HDR_LEN + VX__DOWNLOAD_LEN], uint8_t packet_id,
			 uint8_t tag, const char *task_id, uint32_t number)
{
	VX_ASSERT(vx__tag_is_download(tag));
	vx__hdr_put(out, packet_id, tag, VX__DOWNLOAD_LEN);
	memcpy(out + VX__HDR_LEN, task_id, VX__TASK_ID_LEN);
	vx_put_be32(out + VX__HDR_LEN + VX__TASK_ID_LEN, number);
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
