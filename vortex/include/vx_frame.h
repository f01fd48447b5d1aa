/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_frame.h: the Vortex TLV frame. Every frame starts with a 6-byte header: a packet id
 * (random, never matched), a tag, and a big-endian u32 value length. The tag space:
 *
 *   0x00-0x07  Dragonfly data tags (DownloadPiece and PieceContent, four task kinds)
 *   0x08-0x3F  reserved, never used by vx
 *   0x40-0x5F  vx data-plane extensions, vx-to-vx only (vx_frame_ext.h)
 *   0x60-0x7F  vx control plane: TLV + one CBOR map per value
 *   0x80-0xFD  reserved
 *   0xFE       Close (empty value)
 *   0xFF       Error (u8 code + UTF-8 message)
 *
 * Content tags (PieceContent and twins, and the vx compressed variant) are special: the piece
 * body follows the value outside the TLV. The incremental decoder below yields the metadata and
 * then counts the body bytes the caller streams itself; the codec never buffers a body.
 *
 * Pure code, no I/O, no allocation. spec/vortex.md is the full description.
 */
#ifndef VX_FRAME_H
#define VX_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_compiler.h"
#include "vx_piece.h"

#define VX_FRAME_HDR_LEN 6
/* Default largest control-plane value (CBOR map); a decoder may be given a smaller one. */
#define VX_FRAME_CONTROL_MAX (1u << 20)

struct vx_frame_hdr {
	uint8_t packet_id; /* random per frame; never echoed or matched */
	uint8_t tag;	   /* enum vx_tag */
	uint32_t length;   /* value length in bytes (content tags: see vx_frame.h top) */
};

enum vx_tag {
	VX_TAG_DOWNLOAD_PIECE = 0x00,
	VX_TAG_PIECE_CONTENT = 0x01,
	VX_TAG_DOWNLOAD_PERSISTENT_PIECE = 0x02,
	VX_TAG_PERSISTENT_PIECE_CONTENT = 0x03,
	VX_TAG_DOWNLOAD_PERSISTENT_CACHE_PIECE = 0x04,
	VX_TAG_PERSISTENT_CACHE_PIECE_CONTENT = 0x05,
	VX_TAG_DOWNLOAD_CACHE_PIECE = 0x06,
	VX_TAG_CACHE_PIECE_CONTENT = 0x07,
	/* vx data-plane extensions (vx_frame_ext.h), only after a HELLO exchange */
	VX_TAG_HELLO = 0x40,
	VX_TAG_INTEREST = 0x41,
	VX_TAG_BITFIELD = 0x42,
	VX_TAG_HAVE = 0x43,
	VX_TAG_CANCEL = 0x44,
	VX_TAG_COMPRESSED_PIECE_CONTENT = 0x45,
	/* vx control plane: one CBOR map per value */
	VX_TAG_CONTROL_REQUEST = 0x60,
	VX_TAG_CONTROL_RESPONSE = 0x61,
	VX_TAG_CONTROL_EVENT = 0x62,
	VX_TAG_CLOSE = 0xFE,
	VX_TAG_ERROR = 0xFF,
};

#define VX_TAG_EXT_FIRST     0x40
#define VX_TAG_EXT_LAST	     0x5F
#define VX_TAG_CONTROL_FIRST 0x60
#define VX_TAG_CONTROL_LAST  0x7F

/*
 * STARTTLS (members mode over TLS, spec/vortex.md section 6): the plaintext header of a
 * CONTROL_REQUEST with an empty value, sent once before the ClientHello of a control connection
 * to a member's Vortex port, which tells it from a TLS record by its tag byte and hands the
 * connection to its scheduler. No control message is empty, so it is never taken for one.
 * vx_frame_is_starttls(): whether the first @len bytes at @b begin with it.
 */
void vx_frame_starttls_encode(uint8_t out[VX_FRAME_HDR_LEN]);
bool vx_frame_is_starttls(const uint8_t *b, size_t len);

/* Writes @h as 6 bytes into @out. Never fails. */
void vx_frame_hdr_encode(uint8_t out[VX_FRAME_HDR_LEN], const struct vx_frame_hdr *h);
/* Reads 6 bytes at @in into @h. No validation: the decoder below checks tags and lengths. */
void vx_frame_hdr_decode(const uint8_t in[VX_FRAME_HDR_LEN], struct vx_frame_hdr *h);

/*
 * Whole-frame encoders: the 6-byte header followed by the value, into @out (@out_len bytes,
 * borrowed). Each returns the bytes written, or -ENOSPC (nothing written), or the value
 * encoder's error. For content tags only the head is written (header + 4 + metadata); the
 * caller sends the piece body after it, e.g. with sendfile.
 */
/* Any tag with a ready value of @len bytes (borrowed; NULL when @len is 0). */
VX_MUST_CHECK ssize_t vx_frame_encode(uint8_t *out, size_t out_len, uint8_t packet_id, uint8_t tag,
				      const void *value, uint32_t len);
/* DownloadPiece, a twin or CANCEL (other tags asserted against): 74 bytes; -EINVAL on a bad id. */
VX_MUST_CHECK ssize_t vx_frame_encode_download(uint8_t *out, size_t out_len, uint8_t packet_id,
					       uint8_t tag, const struct vx_download_piece *r);
/* PieceContent head (@tag must be a content tag, asserted), Dragonfly framing: length 4+meta. */
VX_MUST_CHECK ssize_t vx_frame_encode_content_head(uint8_t *out, size_t out_len, uint8_t packet_id,
						   uint8_t tag, const struct vx_piece_content *m);
/* Error frame: @code and @msg (@msg_len bytes of UTF-8, cut to fit @out and the 4 KiB limit). */
VX_MUST_CHECK ssize_t vx_frame_encode_error(uint8_t *out, size_t out_len, uint8_t packet_id,
					    uint8_t code, const char *msg, size_t msg_len);

/* True for the four DownloadPiece request tags (0x00, 0x02, 0x04, 0x06). */
bool vx_tag_is_download(uint8_t tag);
/* True for the four PieceContent tags (0x01, 0x03, 0x05, 0x07). */
bool vx_tag_is_content(uint8_t tag);
/* The PieceContent tag that answers DownloadPiece tag @tag (which must be a download tag). */
uint8_t vx_tag_content_for(uint8_t tag);
/* Name for logs and messages: "DownloadPiece", "reserved" for unknown tags. */
const char *vx_tag_name(uint8_t tag);

/* Decoder options. */
enum vx_frame_dec_flags {
	VX_FRAME_DEC_F_EXT = 1u << 0,	  /* accept vx data-plane extension tags 0x40-0x45 */
	VX_FRAME_DEC_F_CONTROL = 1u << 1, /* accept control tags 0x60-0x62 */
	/*
	 * The uploader's side: accept only what a downloader sends (DownloadPiece and twins,
	 * Close, Error and, with F_EXT, HELLO, INTEREST and CANCEL); content, BITFIELD and HAVE
	 * are refused at their header. The value buffer may then be VX_FRAME_DEC_REQ_BUF_MIN.
	 */
	VX_FRAME_DEC_F_REQUESTS = 1u << 2,
};

/* Why a decoder stopped; vx_frame_dec_reason_str() gives the text. */
enum vx_frame_dec_reason {
	VX_FRAME_DEC_OK = 0,
	VX_FRAME_DEC_RESERVED_TAG = 1,	  /* -EPROTO: tag in a reserved range */
	VX_FRAME_DEC_EXT_TAG = 2,	  /* -EPROTO: extension tag not enabled on this decoder */
	VX_FRAME_DEC_CONTROL_TAG = 3,	  /* -EPROTO: control tag not enabled on this decoder */
	VX_FRAME_DEC_BAD_LENGTH = 4,	  /* -EPROTO: length impossible for the tag */
	VX_FRAME_DEC_TOO_LONG = 5,	  /* -EMSGSIZE: length above the tag's maximum */
	VX_FRAME_DEC_BAD_VALUE = 6,	  /* -EPROTO: value malformed for its tag */
	VX_FRAME_DEC_META_TOO_LONG = 7,	  /* -EMSGSIZE: PieceContent metadata above 64 KiB */
	VX_FRAME_DEC_BODY_TOO_LONG = 8,	  /* -EMSGSIZE: piece body above VX_PIECE_BODY_MAX */
	VX_FRAME_DEC_LENGTH_MISMATCH = 9, /* -EPROTO: content header length fits no framing */
	VX_FRAME_DEC_NOT_REQUEST = 10,	  /* -EPROTO: F_REQUESTS and a tag only uploaders send */
	VX_FRAME_DEC_REASON_NR,
};

enum vx_frame_dec_state {
	VX_FRAME_DEC_HDR = 0,	   /* collecting the 6 header bytes */
	VX_FRAME_DEC_VALUE = 1,	   /* collecting a whole value into the buffer */
	VX_FRAME_DEC_META_LEN = 2, /* content tag: collecting the u32 metadata length */
	VX_FRAME_DEC_META = 3,	   /* content tag: collecting the metadata */
	VX_FRAME_DEC_BODY = 4,	   /* content tag: caller streams the body (vx_frame_dec_body) */
	VX_FRAME_DEC_FAILED = 5,   /* sticky: the stream is broken, close the connection */
};

/*
 * Incremental decoder state. The caller embeds it (one per connection) and lends it a value
 * buffer at init; all resumable state lives here. Fields are private: use the functions.
 */
struct vx_frame_dec {
	uint8_t *buf;	      /* lent value buffer */
	uint32_t buf_cap;     /* its size */
	uint32_t control_max; /* largest control value accepted */
	unsigned int flags;   /* enum vx_frame_dec_flags */
	enum vx_frame_dec_state state;
	enum vx_frame_dec_reason reason; /* set when state is FAILED */
	int err;			 /* negative errno returned once FAILED */
	uint8_t hdr_bytes[VX_FRAME_HDR_LEN];
	struct vx_frame_hdr hdr; /* header of the frame being decoded */
	uint32_t have;		 /* bytes collected in the current state */
	uint32_t need;		 /* bytes the current state collects */
	uint64_t body_left;	 /* BODY: body bytes still to come */
	char reason_text[96];	 /* formatted reason, see vx_frame_dec_reason_str() */
};

/*
 * A decoded frame, filled by vx_frame_dec_feed(). @value borrows the decoder's buffer and
 * @content borrows its strings from it: both are valid until the next call on the decoder.
 */
struct vx_frame {
	struct vx_frame_hdr hdr;
	const uint8_t *value;		 /* whole value; for content tags the 4+metadata part */
	uint32_t value_len;		 /* bytes at @value */
	struct vx_piece_content content; /* content tags only: the decoded metadata */
	uint8_t compression;		 /* compressed content only: enum vx_compression */
	uint64_t body_len;		 /* content tags: body bytes that follow outside the TLV */
};

/* Smallest buffer a decoder needs for the data plane (PieceContent metadata, ext frames). */
#define VX_FRAME_DEC_BUF_MIN (VX_PIECE_CONTENT_VALUE_MAX + 128u)
/* Smallest buffer of a VX_FRAME_DEC_F_REQUESTS decoder: the longest value is an Error's. */
#define VX_FRAME_DEC_REQ_BUF_MIN VX_ERROR_VALUE_MAX

/*
 * vx_frame_dec_init() - prepares @d to decode a stream from its first byte.
 * @buf: lent until vx_frame_dec_release() or the next init: frame values are collected here.
 *   @buf_cap must be at least VX_FRAME_DEC_BUF_MIN (VX_FRAME_DEC_REQ_BUF_MIN with
 *   VX_FRAME_DEC_F_REQUESTS), and with VX_FRAME_DEC_F_CONTROL at least @control_max (asserted).
 * @flags: enum vx_frame_dec_flags. @control_max: 0 means VX_FRAME_CONTROL_MAX.
 */
void vx_frame_dec_init(struct vx_frame_dec *d, uint8_t *buf, size_t buf_cap, unsigned int flags,
		       uint32_t control_max);
/* Forgets the lent buffer. The decoder must be initialized again before use. */
void vx_frame_dec_release(struct vx_frame_dec *d);

/*
 * vx_frame_dec_feed() - feeds @len stream bytes at @in (borrowed) to @d.
 * Lengths are checked against the tag's maximum as soon as the header is complete, before any
 * value byte is collected. Returns:
 *   n >= 1   a frame is ready in *@f; n bytes of @in were used, the rest belong to what
 *            follows. For a content tag with f->body_len > 0 the next f->body_len stream bytes
 *            are the body: hand them out with vx_frame_dec_body() before feeding again.
 *   -EAGAIN  every byte of @in was used; more are needed for a frame.
 *   -EPROTO  malformed stream (reserved tag, impossible length, bad value);
 *   -EMSGSIZE a length above its limit. After either error the decoder stays failed (every
 *            later call returns the same error) and vx_frame_dec_reason_str() says why.
 * Must not be called while body bytes are pending (asserted).
 */
VX_MUST_CHECK ssize_t vx_frame_dec_feed(struct vx_frame_dec *d, const uint8_t *in, size_t len,
					struct vx_frame *f);

/*
 * vx_frame_dec_body() - of @avail stream bytes at hand, how many belong to the current piece
 * body: min(@avail, body bytes left). Counts them as consumed; when the body is complete the
 * decoder waits for the next header. Returns 0 when no body is pending.
 */
size_t vx_frame_dec_body(struct vx_frame_dec *d, size_t avail);
/* Body bytes still to come for the current content frame (0 when none). */
uint64_t vx_frame_dec_body_left(const struct vx_frame_dec *d);
/*
 * vx_frame_dec_want() - stream bytes @d needs to finish what it is collecting now: the rest of
 * the header, the value, the metadata length or the metadata; 0 in BODY and FAILED. A reader
 * that gives @d at most this many never hands it bytes past a frame's end, so piece bodies
 * can be received straight into the caller's buffers.
 */
uint32_t vx_frame_dec_want(const struct vx_frame_dec *d);
/*
 * vx_frame_dec_hdr() - the header of the frame being collected, once its 6 bytes are in and
 * passed the tag and length checks; NULL while a header is incomplete, in BODY and FAILED. A
 * reader may apply its own, stricter limits here, before any value byte is collected.
 */
const struct vx_frame_hdr *vx_frame_dec_hdr(const struct vx_frame_dec *d);
/* True when @d sits at a frame boundary (a connection may be closed cleanly here). */
bool vx_frame_dec_at_boundary(const struct vx_frame_dec *d);
/* Why @d failed, as text with the offending tag/length ("DownloadPiece length 67, must be 68"). */
const char *vx_frame_dec_reason_str(const struct vx_frame_dec *d);

/*
 * vx_frame_tag_max_len() - the largest value length a decoder with @flags and @control_max
 * accepts for @tag, or 0 with *@ok false for a tag it rejects. Content tags: the largest
 * 4+metadata part. For tests and for encoders that check before sending.
 */
uint64_t vx_frame_tag_max_len(uint8_t tag, unsigned int flags, uint32_t control_max, bool *ok);

#endif /* VX_FRAME_H */
