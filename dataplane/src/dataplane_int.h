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

#define VX__HDR_LEN	   6
#define VX__TASK_ID_LEN	   64
#define VX__DOWNLOAD_LEN   68
#define VX__BODY_MAX	   (1ull << 30)
#define VX__DIGEST_STR_MAX 17
#define VX__HAVE_LEN	   (VX__TASK_ID_LEN + 4)
/*
 * Most pieces a data-plane task may have, so the largest bitfield vx sends or takes: 2^17 (the
 * format allows 2^19; no piece plan gets near).
 */
#define VX__BITFIELD_PIECES_MAX (1u << 17)
#define VX__BITFIELD_VALUE_MAX	(VX_BITFIELD_HDR_LEN + VX__BITFIELD_PIECES_MAX / 8)
_Static_assert(VX__BITFIELD_PIECES_MAX <= VX_BITFIELD_PIECES_MAX, "a limit on top of vortex's");

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

/* Pipelined requests a vx server accepts at once (announced in its HELLO). */
#define VX__MAX_INFLIGHT 32
#define VX__INTEREST_LEN (VX__TASK_ID_LEN + 1)
#define VX__HELLO_LEN	 16
#define VX__HELLO_MAX	 256

static inline bool vx__tag_is_download(uint8_t tag)
{
	return tag <= VX__TAG_DOWNLOAD_CACHE_PIECE && (tag & 1) == 0;
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
 * Encodes a whole PieceContent head (6-byte header, u32 metadata length, metadata) with tag
 * @tag into @out. Returns the bytes written or -ENOBUFS.
 */
ssize_t vx__content_head_encode(uint8_t *out, size_t out_len, uint8_t packet_id, uint8_t tag,
				const struct vx__meta *m);

/* Encodes an Error frame; the message is cut to fit. Returns the bytes written or -ENOBUFS. */
ssize_t vx__error_encode(uint8_t *out, size_t out_len, uint8_t packet_id, uint8_t code,
			 const char *msg);

/* Formats "crc32:<decimal>" into @out (VX__DIGEST_STR_MAX bytes); returns its length. */
uint32_t vx__crc32_format(uint32_t crc, char out[VX__DIGEST_STR_MAX]);

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
