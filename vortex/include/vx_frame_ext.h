/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_frame_ext.h: the vx data-plane extension frames (tags 0x40-0x45), spoken only between
 * two vx peers after a HELLO exchange. A Dragonfly peer drops a connection on these tags, so a
 * vx downloader opens with HELLO and, when the connection closes instead of answering, falls
 * back to plain Vortex (one request per connection) for that peer.
 *
 *   HELLO 0x40        both ways, first frame: "VX", version, feature bits, limits
 *   INTEREST 0x41     downloader -> uploader: (un)subscribe to a task's availability
 *   BITFIELD 0x42     uploader -> downloader: every piece the uploader has of a task
 *   HAVE 0x43         uploader -> downloader: pieces completed since (batched)
 *   CANCEL 0x44       downloader -> uploader: drop a pipelined request not yet started
 *   COMPRESSED_PIECE_CONTENT 0x45  uploader -> downloader: PieceContent with an lz4 body
 *
 * Layouts are in spec/vortex.md ("vx extensions"). All integers are big-endian. Encoders write
 * into caller buffers; decoders borrow from the bytes they decode; nothing allocates.
 */
#ifndef VX_FRAME_EXT_H
#define VX_FRAME_EXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_compiler.h"
#include "vx_piece.h"
#include "vx_task_id.h"

/* HELLO: "VX" + u16 version + u32 features + u32 max_inflight + u32 max_value = 16 bytes. */
#define VX_HELLO_LEN	 16u
#define VX_HELLO_MAX	 256u /* a newer peer may append fields; they are ignored */
#define VX_HELLO_VERSION 1u

/* Feature bits of HELLO; what a connection uses is the AND of both sides. */
enum vx_hello_features {
	VX_HELLO_F_PIPELINE = 1u << 0,	   /* many requests per connection, answered in order */
	VX_HELLO_F_AVAILABILITY = 1u << 1, /* INTEREST, BITFIELD, HAVE */
	VX_HELLO_F_LZ4 = 1u << 2,	   /* COMPRESSED_PIECE_CONTENT may answer a request */
	VX_HELLO_F_CANCEL = 1u << 3,	   /* CANCEL */
};

struct vx_hello {
	uint16_t version;	/* VX_HELLO_VERSION */
	uint32_t features;	/* enum vx_hello_features */
	uint32_t max_inflight;	/* pipelined requests the sender accepts at once (>= 1) */
	uint32_t max_value_len; /* largest extension value the sender accepts */
};

/* INTEREST: task id (64 hex) + u8 op. */
#define VX_INTEREST_LEN 65u
enum vx_interest_op {
	VX_INTEREST_UNSUBSCRIBE = 0,
	VX_INTEREST_SUBSCRIBE = 1,
};
struct vx_interest {
	char task_id[VX_TASK_ID_LEN + 1];
	uint8_t op; /* enum vx_interest_op */
};

/* BITFIELD: task id (64 hex) + u32 piece_count + ceil(piece_count / 8) bytes. */
#define VX_BITFIELD_HDR_LEN    68u
#define VX_BITFIELD_PIECES_MAX (1u << 19) /* 64 KiB of bits */
#define VX_BITFIELD_MAX	       (VX_BITFIELD_HDR_LEN + VX_BITFIELD_PIECES_MAX / 8u)
/*
 * A decoded BITFIELD. Piece i is present when bit (7 - i % 8) of bits[i / 8] is set (most
 * significant bit first, as BitTorrent); spare bits of the last byte are zero. @bits borrows.
 */
struct vx_bitfield {
	char task_id[VX_TASK_ID_LEN + 1];
	uint32_t piece_count;
	const uint8_t *bits; /* ceil(piece_count / 8) bytes */
};

/* HAVE: task id (64 hex) + 1..VX_HAVE_NUMBERS_MAX u32 piece numbers. */
#define VX_HAVE_NUMBERS_MAX 1024u
#define VX_HAVE_MAX	    (VX_TASK_ID_LEN + 4u * VX_HAVE_NUMBERS_MAX)
struct vx_have {
	char task_id[VX_TASK_ID_LEN + 1];
	uint32_t count;		/* piece numbers in the frame */
	const uint8_t *numbers; /* borrowed: @count big-endian u32; read with vx_have_number() */
};

/* CANCEL: the same 68 bytes as DownloadPiece (task id + piece number): use vx_download_piece. */
#define VX_CANCEL_LEN VX_DOWNLOAD_PIECE_LEN

/* COMPRESSED_PIECE_CONTENT: PieceContent value + u8 compression + u32 compressed_length. */
enum vx_compression {
	VX_COMPRESSION_NONE = 0,
	VX_COMPRESSION_LZ4 = 1, /* one LZ4 block (LZ4_compress_default format) */
};
#define VX_COMPRESSED_TRAILER_LEN 5u
#define VX_COMPRESSED_VALUE_MAX	  (VX_PIECE_CONTENT_VALUE_MAX + VX_COMPRESSED_TRAILER_LEN)

/* Returns 0 and writes 16 bytes, or -EINVAL (version 0 or max_inflight 0). */
VX_MUST_CHECK int vx_hello_encode(const struct vx_hello *h, uint8_t out[VX_HELLO_LEN]);
/*
 * Decodes a HELLO of @len bytes; extra bytes after 16 are ignored. Returns 0, -EPROTO (short,
 * bad magic, version 0, max_inflight 0) or -EMSGSIZE (@len > VX_HELLO_MAX).
 */
VX_MUST_CHECK int vx_hello_decode(const uint8_t *in, size_t len, struct vx_hello *h);

/* Returns 0 and writes 65 bytes, or -EINVAL (bad task id or op). */
VX_MUST_CHECK int vx_interest_encode(const struct vx_interest *i, uint8_t out[VX_INTEREST_LEN]);
/* Returns 0 or -EPROTO (length not 65, bad task id, unknown op). */
VX_MUST_CHECK int vx_interest_decode(const uint8_t *in, size_t len, struct vx_interest *i);

/* Value length of a BITFIELD for @piece_count pieces. */
size_t vx_bitfield_value_len(uint32_t piece_count);
/*
 * vx_bitfield_encode() - writes a BITFIELD value: @task_id (64 hex, borrowed), @piece_count and
 * the ceil(@piece_count / 8) bytes at @bits (borrowed; spare bits are cleared in the output).
 * Returns the bytes written, -EINVAL (bad task id, piece_count above VX_BITFIELD_PIECES_MAX)
 * or -ENOSPC.
 */
VX_MUST_CHECK ssize_t vx_bitfield_encode(const char *task_id, uint32_t piece_count,
					 const uint8_t *bits, uint8_t *out, size_t out_len);
/*
 * vx_bitfield_encode_in_place() - the same, for bits already written at
 * @out + VX_BITFIELD_HDR_LEN (an uploader asks its store to fill them there, no copy): writes
 * the task id and count before them and clears the spare bits. Same returns.
 */
VX_MUST_CHECK ssize_t vx_bitfield_encode_in_place(const char *task_id, uint32_t piece_count,
						  uint8_t *out, size_t out_len);
/*
 * Decodes a BITFIELD (*@b borrows the bits from @in). Returns 0, -EPROTO (bad task id, length
 * not 68 + ceil(count / 8), spare bits set) or -EMSGSIZE (count above VX_BITFIELD_PIECES_MAX).
 */
VX_MUST_CHECK int vx_bitfield_decode(const uint8_t *in, size_t len, struct vx_bitfield *b);
/* True when piece @i (< b->piece_count, asserted) is present. */
bool vx_bitfield_has(const struct vx_bitfield *b, uint32_t i);

/*
 * vx_have_encode() - writes a HAVE value for @task_id and @count piece numbers at @numbers
 * (borrowed). Returns the bytes written, -EINVAL (bad task id, @count 0 or above
 * VX_HAVE_NUMBERS_MAX) or -ENOSPC.
 */
VX_MUST_CHECK ssize_t vx_have_encode(const char *task_id, const uint32_t *numbers, uint32_t count,
				     uint8_t *out, size_t out_len);
/* Decodes a HAVE (*@h borrows). Returns 0, -EPROTO (bad task id, no numbers, length not
 * 64 + 4k) or -EMSGSIZE (more than VX_HAVE_NUMBERS_MAX numbers). */
VX_MUST_CHECK int vx_have_decode(const uint8_t *in, size_t len, struct vx_have *h);
/* Piece number @i (< h->count, asserted) of a decoded HAVE. */
uint32_t vx_have_number(const struct vx_have *h, uint32_t i);

/*
 * vx_compressed_content_encode() - writes a COMPRESSED_PIECE_CONTENT value: the PieceContent
 * value of @m (whose length, offset and digest describe the uncompressed piece), then
 * @compression and @compressed_len, the body bytes that follow outside the TLV.
 * Returns the bytes written or the errors of vx_piece_content_encode(); -EINVAL for an
 * unknown @compression or @compressed_len 0 or above VX_PIECE_BODY_MAX.
 */
VX_MUST_CHECK ssize_t vx_compressed_content_encode(const struct vx_piece_content *m,
						   uint8_t compression, uint32_t compressed_len,
						   uint8_t *out, size_t out_len);
/*
 * Decodes a COMPRESSED_PIECE_CONTENT value of exactly @len bytes. Returns 0, -EPROTO (any
 * malformation, trailing bytes, unknown compression) or -EMSGSIZE (too long).
 */
VX_MUST_CHECK int vx_compressed_content_decode(const uint8_t *in, size_t len,
					       struct vx_piece_content *m, uint8_t *compression,
					       uint32_t *compressed_len);

#endif /* VX_FRAME_EXT_H */
