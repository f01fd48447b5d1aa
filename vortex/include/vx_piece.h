/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_piece.h: the values of the Vortex v0.1.5 data tags, encoded into caller buffers and
 * decoded from borrowed bytes, with no allocation:
 *   DownloadPiece (tags 0x00, 0x02, 0x04, 0x06): exactly 68 bytes, 64 lowercase hex characters
 *     of task id, then the u32 big-endian piece number.
 *   PieceContent (tags 0x01, 0x03, 0x05, 0x07): u32 metadata_length, then the metadata
 *     (number u32, offset u64, length u64, digest u32-length string, parent id u32-length
 *     string, traffic type u8, cost u64 seconds, created at i64 Unix seconds, then any extra
 *     bytes a newer peer appends, which are ignored). The piece body of `length` bytes follows
 *     outside the TLV and is never touched here.
 *   Error (tag 0xFF): u8 code, then a UTF-8 message with no separator.
 * All integers are big-endian. spec/vortex.md describes the layouts in full.
 */
#ifndef VX_PIECE_H
#define VX_PIECE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_compiler.h"
#include "vx_task_id.h"

/* DownloadPiece value: task id (64 hex) + u32 piece number, and nothing else. */
#define VX_DOWNLOAD_PIECE_LEN 68
/* PieceContent metadata bytes before the two strings and after them: 4+8+8+4+4+1+8+8. */
#define VX_PIECE_CONTENT_META_FIXED 45
/* The PieceContent value (u32 metadata_length + metadata) is at most this long. */
#define VX_PIECE_CONTENT_VALUE_MAX (64u << 10)
#define VX_PIECE_CONTENT_META_MAX  (VX_PIECE_CONTENT_VALUE_MAX - 4u)
/* Largest piece body vx accepts after a PieceContent value. */
#define VX_PIECE_BODY_MAX (1ull << 30)
/* Error value (code + message) is at most this long. */
#define VX_ERROR_VALUE_MAX 4096u

/* A DownloadPiece request (and its persistent / persistent-cache / cache twins). */
struct vx_download_piece {
	char task_id[VX_TASK_ID_LEN + 1]; /* lowercase hex, NUL-terminated */
	uint32_t piece_number;
};

/* Who the uploader got a piece from. Servers answering a download send REMOTE_PEER. */
enum vx_traffic_type {
	VX_TRAFFIC_BACK_TO_SOURCE = 0,
	VX_TRAFFIC_REMOTE_PEER = 1,
	VX_TRAFFIC_LOCAL_PEER = 2,
};

/*
 * PieceContent metadata. After decoding, @digest and @parent_id point into the decoded bytes
 * (borrowed: valid as long as those bytes are) and are not NUL-terminated.
 */
struct vx_piece_content {
	uint32_t number;	/* piece number */
	uint64_t offset;	/* byte offset of the piece in the task content */
	uint64_t length;	/* piece length in bytes: the body that follows */
	const char *digest;	/* e.g. "crc32:2533597436"; UTF-8 */
	uint32_t digest_len;	/* bytes at @digest */
	const char *parent_id;	/* peer the uploader got it from; empty from source; UTF-8 */
	uint32_t parent_id_len; /* bytes at @parent_id */
	uint8_t traffic_type;	/* enum vx_traffic_type; other values passed through */
	uint64_t cost_s;	/* whole seconds the uploader took to get the piece */
	int64_t created_at_s;	/* Unix seconds */
};

/* Error codes of the Error tag. 0..3 are Dragonfly's; 0x40.. only go to vx peers. */
enum vx_error_code {
	VX_ERROR_CODE_UNKNOWN = 0,
	VX_ERROR_CODE_INVALID_ARGUMENT = 1,
	VX_ERROR_CODE_NOT_FOUND = 2,
	VX_ERROR_CODE_INTERNAL = 3,
	VX_ERROR_CODE_CANCELLED = 0x40, /* vx: a pipelined request was cancelled (CANCEL) */
	VX_ERROR_CODE_BUSY = 0x41,	/* vx: too many pipelined requests in flight */
};

/* A decoded Error value; @message is borrowed from the decoded bytes, not NUL-terminated. */
struct vx_error_value {
	uint8_t code;
	const char *message;
	uint32_t message_len;
};

/*
 * vx_download_piece_encode() - writes the 68-byte value of @r into @out.
 * Returns 0, or -EINVAL when @r->task_id is not 64 lowercase hex characters (nothing written).
 */
VX_MUST_CHECK int vx_download_piece_encode(const struct vx_download_piece *r,
					   uint8_t out[VX_DOWNLOAD_PIECE_LEN]);

/*
 * vx_download_piece_decode() - decodes a DownloadPiece value of @len bytes at @in (borrowed).
 * Returns 0 and fills *@r, -EPROTO when @len is not 68 or the task id is not 64 lowercase hex
 * characters (then *@r is untouched).
 */
VX_MUST_CHECK int vx_download_piece_decode(const uint8_t *in, size_t len,
					   struct vx_download_piece *r);

/*
 * vx_piece_content_value_len() - bytes vx_piece_content_encode() writes for @m:
 * 4 + 45 + digest_len + parent_id_len.
 */
size_t vx_piece_content_value_len(const struct vx_piece_content *m);

/*
 * vx_piece_content_encode() - writes the PieceContent value for @m (u32 metadata_length +
 * metadata) into @out, @out_len bytes (borrowed). The frame header for it carries
 * length = the returned value; the body goes after it, outside the TLV.
 * Returns the bytes written, -ENOSPC if @out is too small, -EMSGSIZE when the value would
 * exceed VX_PIECE_CONTENT_VALUE_MAX, -EINVAL when digest or parent id is not UTF-8 or
 * @m->length exceeds VX_PIECE_BODY_MAX. Nothing is written on failure.
 */
VX_MUST_CHECK ssize_t vx_piece_content_encode(const struct vx_piece_content *m, uint8_t *out,
					      size_t out_len);

/*
 * vx_piece_content_decode() - decodes a PieceContent value from the @len bytes at @in
 * (borrowed; *@m borrows its strings from them). Extra metadata bytes after created_at are
 * accepted and skipped; bytes after the metadata are not looked at.
 * Returns the value length used (4 + metadata_length) and fills *@m; -EAGAIN when @len is
 * shorter than that; -EMSGSIZE when metadata_length exceeds VX_PIECE_CONTENT_META_MAX;
 * -EPROTO for metadata that is too short for its fields, strings that overrun it or are not
 * UTF-8, or a piece length above VX_PIECE_BODY_MAX. *@m is untouched on failure.
 */
VX_MUST_CHECK ssize_t vx_piece_content_decode(const uint8_t *in, size_t len,
					      struct vx_piece_content *m);

/*
 * vx_error_encode() - writes an Error value: @code then @msg (@msg_len bytes, borrowed, UTF-8).
 * A message too long for VX_ERROR_VALUE_MAX or @out_len is cut at a character boundary.
 * Returns the bytes written (>= 1), -ENOSPC when @out_len is 0, -EINVAL when @msg is not
 * UTF-8 (nothing written).
 */
VX_MUST_CHECK ssize_t vx_error_encode(uint8_t code, const char *msg, size_t msg_len, uint8_t *out,
				      size_t out_len);

/*
 * vx_error_decode() - decodes an Error value of @len bytes at @in (borrowed; *@e borrows the
 * message). Returns 0, -EPROTO when @len is 0 or the message is not UTF-8, -EMSGSIZE when
 * @len exceeds VX_ERROR_VALUE_MAX. Unknown codes are passed through.
 */
VX_MUST_CHECK int vx_error_decode(const uint8_t *in, size_t len, struct vx_error_value *e);

/* Name of an error code for messages ("not found"); "unknown" for codes vx does not know. */
const char *vx_error_code_name(uint8_t code);

#endif /* VX_PIECE_H */
