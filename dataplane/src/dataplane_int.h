/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dataplane_int.h: pieces shared by the upload server and the fetcher, private to dataplane/:
 * thin wrappers that put vortex/'s encoders and decoders (vx_piece.h, vx_frame_ext.h) straight
 * into a connection's fixed buffers, the limits the data plane enforces on top of
 * spec/vortex.md, and a token bucket.
 */
#ifndef VX_DATAPLANE_INT_H
#define VX_DATAPLANE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_bytes.h"
#include "vx_compiler.h"
#include "vx_frame_ext.h"

#define VX__HDR_LEN	 6
#define VX__TASK_ID_LEN	 64
#define VX__DOWNLOAD_LEN 68
#define VX__BODY_MAX	 (1ull << 30)
#define VX__ERROR_MAX	 4096u
/* Largest bitfield vx sends: a quarter of what the format allows; no piece plan gets near. */
#define VX__BITFIELD_PIECES_MAX (VX_BITFIELD_PIECES_MAX / 4)
#define VX__BITFIELD_VALUE_MAX	(VX_BITFIELD_HDR_LEN + VX__BITFIELD_PIECES_MAX / 8)

enum vx__tag {
	VX__TAG_DOWNLOAD_PIECE = 0x00,
	VX__TAG_PIECE_CONTENT = 0x01,
	VX__TAG_DOWNLOAD_PERSISTENT_PIECE = 0x02,
	VX__TAG_PERSISTENT_PIECE_CONTENT = 0x03,
	VX__TAG_DOWNLOAD_PERSISTENT_CACHE_PIECE = 0x04,
	VX__TAG_PERSISTENT_CACHE_PIECE_CONTENT = 0x05,
	VX__TAG_DOWNLOAD_CACHE_PIECE = 0x06,
	VX__TAG_CACHE_PIECE_CONTENT = 0x07,
	VX__TAG_HELLO = 0x40,	 /* vx: negotiation (spec/vortex.md 5.1) */
	VX__TAG_INTEREST = 0x41, /* vx: task id + u8 op (1 subscribe, 0 unsubscribe) */
	VX__TAG_BITFIELD = 0x42, /* vx: task id, u32 piece count, bitfield */
	VX__TAG_HAVE = 0x43,	 /* vx: task id, k x u32 piece number */
	VX__TAG_CANCEL = 0x44,	 /* vx: task id + u32 piece number */
	VX__TAG_CLOSE = 0xFE,
	VX__TAG_ERROR = 0xFF,
};

enum vx__error_code {
	VX__ERR_UNKNOWN = 0,
	VX__ERR_INVALID = 1,
	VX__ERR_NOT_FOUND = 2,
	VX__ERR_INTERNAL = 3,
	VX__ERR_CANCELLED = 0x40,
	VX__ERR_BUSY = 0x41,
};

#define VX__INTEREST_LEN (VX__TASK_ID_LEN + 1)
#define VX__HELLO_LEN	 16
#define VX__HELLO_MAX	 256

static inline bool vx__tag_is_download(uint8_t tag)
{
	return tag <= VX__TAG_DOWNLOAD_CACHE_PIECE && (tag & 1) == 0;
}

static inline bool vx__tag_is_content(uint8_t tag)
{
	return tag <= VX__TAG_CACHE_PIECE_CONTENT && (tag & 1) == 1;
}

static inline void vx__hdr_put(uint8_t *p, uint8_t packet_id, uint8_t tag, uint32_t len)
{
	p[0] = packet_id;
	p[1] = tag;
	vx_put_be32(p + 2, len);
}

/* True when @id is 64 lowercase hex characters. */
bool vx__task_id_valid(const char *id);

/* PieceContent metadata as the data plane sees it. */
struct vx__meta {
	uint32_t number;
	uint64_t offset;
	uint64_t length;
	const char *digest;
	uint32_t digest_len;
	const char *parent_id;
	uint32_t parent_id_len;
	uint8_t traffic_type;
	uint64_t cost_s;
	int64_t created_s;
};

/*
 * Decodes a PieceContent value (u32 metadata length + metadata) of @len bytes. Strings point
 * into @in. Extra trailing metadata bytes are accepted. Returns 0 or -EPROTO.
 */
int vx__content_value_decode(const uint8_t *in, size_t len, struct vx__meta *m);

/* Encodes a 74-byte DownloadPiece frame with tag @tag. */
void vx__download_encode(uint8_t out[VX__HDR_LEN + VX__DOWNLOAD_LEN], uint8_t packet_id,
			 uint8_t tag, const char *task_id, uint32_t number);

/* CRC-32/IEEE (zlib semantics) over @len bytes, continuing from @crc. */
uint32_t vx__crc32(uint32_t crc, const void *buf, size_t len);

/* A token bucket: @rate bytes per second, at most @burst saved up. rate 0 = unlimited. */
struct vx__bucket {
	uint64_t rate;	 /* bytes per second; 0: unlimited */
	uint64_t burst;	 /* bytes */
	uint64_t tokens; /* bytes available now */
	uint64_t last_ms;
};

void vx__bucket_init(struct vx__bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ms);
/* Bytes that may be sent now, at most @want (0 when the bucket is empty). */
uint64_t vx__bucket_peek(struct vx__bucket *b, uint64_t want, uint64_t now_ms);
/* Spends @n bytes (after a peek allowed them). */
void vx__bucket_take(struct vx__bucket *b, uint64_t n);

/* A cheap per-owner PRNG (xorshift64*), for packet ids and random piece starts. */
static inline uint64_t vx__rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

#endif /* VX_DATAPLANE_INT_H */
