/* SPDX-License-Identifier: Apache-2.0 */
/*
 * frame.c: the 6-byte Vortex header and the incremental frame decoder.
 *
 * The decoder is a byte-driven state machine whose whole state lives in struct vx_frame_dec,
 * so it resumes across any split of the stream:
 *
 *        +-----+  header complete, length checked against the tag's maximum
 *        | HDR | ----------------------------------------------+-------------------+
 *        +-----+                                               |                   |
 *          ^  ^     value complete, validated   +-------+      | content tag       |
 *          |  +-------------------------------- | VALUE | <----+ other tags        |
 *          |                                    +-------+                          v
 *          |   body done  +------+  metadata ok  +------+  4 bytes  +----------+   |
 *          +------------- | BODY | <------------ | META | <-------- | META_LEN | <-+
 *                         +------+   (length>0)  +------+           +----------+
 *   Any check that fails moves to FAILED, which is sticky.
 *
 * Invariants: have <= need in HDR/VALUE/META_LEN/META; need <= buf_cap for buffered states;
 * body_left > 0 exactly in BODY.
 */
#include "vx_frame.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vx_assert.h"
#include "vx_bytes.h"
#include "vx_frame_ext.h"
#include "vx_utf8.h"

_Static_assert(VX_FRAME_DEC_BUF_MIN >= VX_BITFIELD_MAX, "bitfield fits the decoder buffer");
_Static_assert(VX_FRAME_DEC_BUF_MIN >= VX_COMPRESSED_VALUE_MAX, "compressed value fits");
_Static_assert(VX_FRAME_DEC_BUF_MIN >= VX_HAVE_MAX, "have fits");
_Static_assert(VX_FRAME_DEC_REQ_BUF_MIN >= VX_HELLO_MAX, "a request decoder holds a HELLO");
_Static_assert(VX_FRAME_DEC_REQ_BUF_MIN >= VX_INTEREST_LEN, "and an INTEREST");
_Static_assert(VX_FRAME_DEC_REQ_BUF_MIN >= VX_DOWNLOAD_PIECE_LEN, "and a DownloadPiece");
_Static_assert(VX_FRAME_DEC_REQ_BUF_MIN >= VX_ERROR_VALUE_MAX, "and an Error");

void vx_frame_hdr_encode(uint8_t out[VX_FRAME_HDR_LEN], const struct vx_frame_hdr *h)
{
	out[0] = h->packet_id;
	out[1] = h->tag;
	vx_put_be32(out + 2, h->length);
}

void vx_frame_hdr_decode(const uint8_t in[VX_FRAME_HDR_LEN], struct vx_frame_hdr *h)
{
	h->packet_id = in[0];
	h->tag = in[1];
	h->length = vx_get_be32(in + 2);
}

void vx_frame_starttls_encode(uint8_t out[VX_FRAME_HDR_LEN])
{
	const struct vx_frame_hdr h = { .tag = VX_TAG_CONTROL_REQUEST, .length = 0 };

	vx_frame_hdr_encode(out, &h);
}

bool vx_frame_is_starttls(const uint8_t *b, size_t len)
{
	struct vx_frame_hdr h;

	if (len < VX_FRAME_HDR_LEN)
		return false;
	vx_frame_hdr_decode(b, &h);
	return h.tag == VX_TAG_CONTROL_REQUEST && h.length == 0;
}

ssize_t vx_frame_encode(uint8_t *out, size_t out_len, uint8_t packet_id, uint8_t tag,
			const void *value, uint32_t len)
{
	struct vx_frame_hdr h = { .packet_id = packet_id, .tag = tag, .length = len };

	VX_ASSERT(value != NULL || len == 0);
	if (out_len < (size_t)VX_FRAME_HDR_LEN + len)
		return -ENOSPC;
	vx_frame_hdr_encode(out, &h);
	if (len)
		memcpy(out + VX_FRAME_HDR_LEN, value, len);
	return (ssize_t)(VX_FRAME_HDR_LEN + (size_t)len);
}

ssize_t vx_frame_encode_download(uint8_t *out, size_t out_len, uint8_t packet_id, uint8_t tag,
				 const struct vx_download_piece *r)
{
	struct vx_frame_hdr h = { .packet_id = packet_id,
				  .tag = tag,
				  .length = VX_DOWNLOAD_PIECE_LEN };
	int rc;

	VX_ASSERT(vx_tag_is_download(tag) || tag == VX_TAG_CANCEL);
	if (out_len < VX_FRAME_HDR_LEN + VX_DOWNLOAD_PIECE_LEN)
		return -ENOSPC;
	rc = vx_download_piece_encode(r, out + VX_FRAME_HDR_LEN);
	if (rc)
		return rc;
	vx_frame_hdr_encode(out, &h);
	return VX_FRAME_HDR_LEN + VX_DOWNLOAD_PIECE_LEN;
}

ssize_t vx_frame_encode_content_head(uint8_t *out, size_t out_len, uint8_t packet_id, uint8_t tag,
				     const struct vx_piece_content *m)
{
	struct vx_frame_hdr h = { .packet_id = packet_id, .tag = tag };
	ssize_t n;

	VX_ASSERT(vx_tag_is_content(tag));
	if (out_len < VX_FRAME_HDR_LEN)
		return -ENOSPC;
	n = vx_piece_content_encode(m, out + VX_FRAME_HDR_LEN, out_len - VX_FRAME_HDR_LEN);
	if (n < 0)
		return n;
	h.length = (uint32_t)n;
	vx_frame_hdr_encode(out, &h);
	return VX_FRAME_HDR_LEN + n;
}

ssize_t vx_frame_encode_error(uint8_t *out, size_t out_len, uint8_t packet_id, uint8_t code,
			      const char *msg, size_t msg_len)
{
	struct vx_frame_hdr h = { .packet_id = packet_id, .tag = VX_TAG_ERROR };
	ssize_t n;

	if (out_len <= VX_FRAME_HDR_LEN)
		return -ENOSPC;
	n = vx_error_encode(code, msg, msg_len, out + VX_FRAME_HDR_LEN, out_len - VX_FRAME_HDR_LEN);
	if (n < 0)
		return n;
	h.length = (uint32_t)n;
	vx_frame_hdr_encode(out, &h);
	return VX_FRAME_HDR_LEN + n;
}

bool vx_tag_is_download(uint8_t tag)
{
	return tag <= VX_TAG_CACHE_PIECE_CONTENT && (tag & 1) == 0;
}

bool vx_tag_is_content(uint8_t tag)
{
	return tag <= VX_TAG_CACHE_PIECE_CONTENT && (tag & 1) == 1;
}

uint8_t vx_tag_content_for(uint8_t tag)
{
	VX_ASSERT(vx_tag_is_download(tag));
	return (uint8_t)(tag + 1);
}

const char *vx_tag_name(uint8_t tag)
{
	switch (tag) {
	case VX_TAG_DOWNLOAD_PIECE:
		return "DownloadPiece";
	case VX_TAG_PIECE_CONTENT:
		return "PieceContent";
	case VX_TAG_DOWNLOAD_PERSISTENT_PIECE:
		return "DownloadPersistentPiece";
	case VX_TAG_PERSISTENT_PIECE_CONTENT:
		return "PersistentPieceContent";
	case VX_TAG_DOWNLOAD_PERSISTENT_CACHE_PIECE:
		return "DownloadPersistentCachePiece";
	case VX_TAG_PERSISTENT_CACHE_PIECE_CONTENT:
		return "PersistentCachePieceContent";
	case VX_TAG_DOWNLOAD_CACHE_PIECE:
		return "DownloadCachePiece";
	case VX_TAG_CACHE_PIECE_CONTENT:
		return "CachePieceContent";
	case VX_TAG_HELLO:
		return "Hello";
	case VX_TAG_INTEREST:
		return "Interest";
	case VX_TAG_BITFIELD:
		return "Bitfield";
	case VX_TAG_HAVE:
		return "Have";
	case VX_TAG_CANCEL:
		return "Cancel";
	case VX_TAG_COMPRESSED_PIECE_CONTENT:
		return "CompressedPieceContent";
	case VX_TAG_CONTROL_REQUEST:
		return "ControlRequest";
	case VX_TAG_CONTROL_RESPONSE:
		return "ControlResponse";
	case VX_TAG_CONTROL_EVENT:
		return "ControlEvent";
	case VX_TAG_CLOSE:
		return "Close";
	case VX_TAG_ERROR:
		return "Error";
	default:
		return "reserved";
	}
}

/* True for the tags a downloader sends to an uploader (control tags: F_CONTROL decides). */
static bool tag_is_request(uint8_t tag)
{
	return vx_tag_is_download(tag) || tag == VX_TAG_HELLO || tag == VX_TAG_INTEREST ||
	       tag == VX_TAG_CANCEL || tag == VX_TAG_CLOSE || tag == VX_TAG_ERROR ||
	       (tag >= VX_TAG_CONTROL_FIRST && tag <= VX_TAG_CONTROL_LAST);
}

/* Length rule of one tag: [min, max]; for content tags the whole header length. */
struct tag_rule {
	uint64_t min;
	uint64_t max;
	enum vx_frame_dec_reason reject; /* VX_FRAME_DEC_OK when the tag is accepted */
};

static struct tag_rule rule_for(uint8_t tag, unsigned int flags, uint32_t control_max)
{
	struct tag_rule r = { 0, 0, VX_FRAME_DEC_OK };

	if (vx_tag_is_download(tag) || tag == VX_TAG_CANCEL) {
		r.min = r.max = VX_DOWNLOAD_PIECE_LEN;
	} else if (vx_tag_is_content(tag)) {
		/* 4 + metadata, or (crate test framing) 4 + metadata + body */
		r.min = 4;
		r.max = VX_PIECE_CONTENT_VALUE_MAX + VX_PIECE_BODY_MAX;
	} else if (tag == VX_TAG_CLOSE) {
		r.min = r.max = 0;
	} else if (tag == VX_TAG_ERROR) {
		r.min = 1;
		r.max = VX_ERROR_VALUE_MAX;
	} else if (tag >= VX_TAG_EXT_FIRST && tag <= VX_TAG_EXT_LAST) {
		switch (tag) {
		case VX_TAG_HELLO:
			r.min = VX_HELLO_LEN;
			r.max = VX_HELLO_MAX;
			break;
		case VX_TAG_INTEREST:
			r.min = r.max = VX_INTEREST_LEN;
			break;
		case VX_TAG_BITFIELD:
			r.min = VX_BITFIELD_HDR_LEN;
			r.max = VX_BITFIELD_MAX;
			break;
		case VX_TAG_HAVE:
			r.min = VX_TASK_ID_LEN + 4;
			r.max = VX_HAVE_MAX;
			break;
		case VX_TAG_COMPRESSED_PIECE_CONTENT:
			r.min = 4 + VX_PIECE_CONTENT_META_FIXED + VX_COMPRESSED_TRAILER_LEN;
			r.max = VX_COMPRESSED_VALUE_MAX;
			break;
		default:
			r.reject = VX_FRAME_DEC_RESERVED_TAG;
			return r;
		}
		if (!(flags & VX_FRAME_DEC_F_EXT))
			r.reject = VX_FRAME_DEC_EXT_TAG;
	} else if (tag >= VX_TAG_CONTROL_FIRST && tag <= VX_TAG_CONTROL_LAST) {
		if (tag > VX_TAG_CONTROL_EVENT) {
			r.reject = VX_FRAME_DEC_RESERVED_TAG;
			return r;
		}
		r.min = 1;
		r.max = control_max;
		if (!(flags & VX_FRAME_DEC_F_CONTROL))
			r.reject = VX_FRAME_DEC_CONTROL_TAG;
	} else {
		r.reject = VX_FRAME_DEC_RESERVED_TAG;
	}
	if (r.reject == VX_FRAME_DEC_OK && (flags & VX_FRAME_DEC_F_REQUESTS) &&
	    !tag_is_request(tag))
		r.reject = VX_FRAME_DEC_NOT_REQUEST;
	return r;
}

uint64_t vx_frame_tag_max_len(uint8_t tag, unsigned int flags, uint32_t control_max, bool *ok)
{
	struct tag_rule r;

	if (control_max == 0)
		control_max = VX_FRAME_CONTROL_MAX;
	r = rule_for(tag, flags, control_max);
	*ok = r.reject == VX_FRAME_DEC_OK;
	if (!*ok)
		return 0;
	if (vx_tag_is_content(tag))
		return VX_PIECE_CONTENT_VALUE_MAX;
	return r.max;
}

void vx_frame_dec_init(struct vx_frame_dec *d, uint8_t *buf, size_t buf_cap, unsigned int flags,
		       uint32_t control_max)
{
	VX_ASSERT(d != NULL);
	VX_ASSERT(buf != NULL);
	VX_ASSERT(buf_cap >= ((flags & VX_FRAME_DEC_F_REQUESTS) ? VX_FRAME_DEC_REQ_BUF_MIN
								: VX_FRAME_DEC_BUF_MIN));
	if (control_max == 0)
		control_max = VX_FRAME_CONTROL_MAX;
	VX_ASSERT(!(flags & VX_FRAME_DEC_F_CONTROL) || buf_cap >= control_max);
	memset(d, 0, sizeof(*d));
	d->buf = buf;
	d->buf_cap = buf_cap > UINT32_MAX ? UINT32_MAX : (uint32_t)buf_cap;
	d->control_max = control_max;
	d->flags = flags;
	d->state = VX_FRAME_DEC_HDR;
	d->need = VX_FRAME_HDR_LEN;
}

void vx_frame_dec_release(struct vx_frame_dec *d)
{
	memset(d, 0, sizeof(*d));
	d->state = VX_FRAME_DEC_FAILED;
	d->err = -EINVAL;
}

static const char *const reason_names[VX_FRAME_DEC_REASON_NR] = {
	[VX_FRAME_DEC_OK] = "no error",
	[VX_FRAME_DEC_RESERVED_TAG] = "reserved tag",
	[VX_FRAME_DEC_EXT_TAG] = "vx extension tag not negotiated",
	[VX_FRAME_DEC_CONTROL_TAG] = "control tag on a data connection",
	[VX_FRAME_DEC_BAD_LENGTH] = "length impossible for the tag",
	[VX_FRAME_DEC_TOO_LONG] = "length above the tag's maximum",
	[VX_FRAME_DEC_BAD_VALUE] = "malformed value",
	[VX_FRAME_DEC_META_TOO_LONG] = "PieceContent metadata above 64 KiB",
	[VX_FRAME_DEC_BODY_TOO_LONG] = "piece body above 1 GiB",
	[VX_FRAME_DEC_LENGTH_MISMATCH] = "content header length matches neither framing",
	[VX_FRAME_DEC_NOT_REQUEST] = "tag not sent to an uploader",
};

static ssize_t fail(struct vx_frame_dec *d, enum vx_frame_dec_reason why, uint64_t detail)
{
	d->state = VX_FRAME_DEC_FAILED;
	d->reason = why;
	d->err = (why == VX_FRAME_DEC_TOO_LONG || why == VX_FRAME_DEC_META_TOO_LONG ||
		  why == VX_FRAME_DEC_BODY_TOO_LONG)
			 ? -EMSGSIZE
			 : -EPROTO;
	snprintf(d->reason_text, sizeof(d->reason_text), "%s: tag 0x%02x (%s), length %llu",
		 reason_names[why], d->hdr.tag, vx_tag_name(d->hdr.tag),
		 (unsigned long long)detail);
	return d->err;
}

const char *vx_frame_dec_reason_str(const struct vx_frame_dec *d)
{
	if (d->state != VX_FRAME_DEC_FAILED || d->reason == VX_FRAME_DEC_OK)
		return reason_names[VX_FRAME_DEC_OK];
	return d->reason_text;
}

static void expect(struct vx_frame_dec *d, enum vx_frame_dec_state s, uint32_t need)
{
	d->state = s;
	d->have = 0;
	d->need = need;
}

/* The header is complete: check the tag and its length before collecting anything. */
static ssize_t on_header(struct vx_frame_dec *d)
{
	struct tag_rule r;

	vx_frame_hdr_decode(d->hdr_bytes, &d->hdr);
	r = rule_for(d->hdr.tag, d->flags, d->control_max);
	if (r.reject != VX_FRAME_DEC_OK)
		return fail(d, r.reject, d->hdr.length);
	if (d->hdr.length > r.max)
		return fail(d, r.min == r.max ? VX_FRAME_DEC_BAD_LENGTH : VX_FRAME_DEC_TOO_LONG,
			    d->hdr.length);
	if (d->hdr.length < r.min)
		return fail(d, VX_FRAME_DEC_BAD_LENGTH, d->hdr.length);
	if (vx_tag_is_content(d->hdr.tag))
		expect(d, VX_FRAME_DEC_META_LEN, 4);
	else
		expect(d, VX_FRAME_DEC_VALUE, d->hdr.length);
	VX_DASSERT(d->need <= d->buf_cap);
	return 0;
}

static ssize_t on_meta_len(struct vx_frame_dec *d)
{
	uint32_t mlen = vx_get_be32(d->buf);

	if (mlen > VX_PIECE_CONTENT_META_MAX)
		return fail(d, VX_FRAME_DEC_META_TOO_LONG, mlen);
	if (4ull + mlen > d->hdr.length)
		return fail(d, VX_FRAME_DEC_LENGTH_MISMATCH, d->hdr.length);
	expect(d, VX_FRAME_DEC_META, mlen);
	return 0;
}

/* The metadata is complete: decode it and arm the body. Returns 1 (frame ready) or error. */
static ssize_t on_meta(struct vx_frame_dec *d, struct vx_frame *f)
{
	uint32_t value_len = 4 + d->need;
	ssize_t r;

	memset(f, 0, sizeof(*f));
	r = vx_piece_content_decode(d->buf, value_len, &f->content);
	if (r < 0 && value_len >= 4 + 20 && vx_get_be64(d->buf + 4 + 12) > VX_PIECE_BODY_MAX)
		return fail(d, VX_FRAME_DEC_BODY_TOO_LONG, vx_get_be64(d->buf + 4 + 12));
	if (r < 0)
		return fail(d, VX_FRAME_DEC_BAD_VALUE, value_len);
	/* Real framing: header length = 4 + metadata; the crate's test adds the body. */
	if (d->hdr.length != value_len && d->hdr.length != value_len + f->content.length)
		return fail(d, VX_FRAME_DEC_LENGTH_MISMATCH, d->hdr.length);
	f->hdr = d->hdr;
	f->value = d->buf;
	f->value_len = value_len;
	f->body_len = f->content.length;
	d->body_left = f->body_len;
	if (d->body_left > 0)
		expect(d, VX_FRAME_DEC_BODY, 0);
	else
		expect(d, VX_FRAME_DEC_HDR, VX_FRAME_HDR_LEN);
	return 1;
}

static bool value_ok(const struct vx_frame_dec *d, struct vx_frame *f)
{
	const uint8_t *v = d->buf;
	uint32_t n = d->hdr.length;
	union {
		struct vx_download_piece dp;
		struct vx_error_value ev;
		struct vx_hello hello;
		struct vx_interest interest;
		struct vx_bitfield bitfield;
		struct vx_have have;
	} u;
	uint32_t clen;

	switch (d->hdr.tag) {
	case VX_TAG_DOWNLOAD_PIECE:
	case VX_TAG_DOWNLOAD_PERSISTENT_PIECE:
	case VX_TAG_DOWNLOAD_PERSISTENT_CACHE_PIECE:
	case VX_TAG_DOWNLOAD_CACHE_PIECE:
	case VX_TAG_CANCEL:
		return vx_download_piece_decode(v, n, &u.dp) == 0;
	case VX_TAG_ERROR:
		return vx_error_decode(v, n, &u.ev) == 0;
	case VX_TAG_HELLO:
		return vx_hello_decode(v, n, &u.hello) == 0;
	case VX_TAG_INTEREST:
		return vx_interest_decode(v, n, &u.interest) == 0;
	case VX_TAG_BITFIELD:
		return vx_bitfield_decode(v, n, &u.bitfield) == 0;
	case VX_TAG_HAVE:
		return vx_have_decode(v, n, &u.have) == 0;
	case VX_TAG_COMPRESSED_PIECE_CONTENT:
		if (vx_compressed_content_decode(v, n, &f->content, &f->compression, &clen) != 0)
			return false;
		f->body_len = clen;
		return true;
	default:
		return true; /* Close (empty) and control values (CBOR, checked upstairs) */
	}
}

/* A buffered value is complete. Returns 1 (frame ready) or error. */
static ssize_t on_value(struct vx_frame_dec *d, struct vx_frame *f)
{
	memset(f, 0, sizeof(*f));
	if (!value_ok(d, f))
		return fail(d, VX_FRAME_DEC_BAD_VALUE, d->hdr.length);
	f->hdr = d->hdr;
	f->value = d->buf;
	f->value_len = d->hdr.length;
	d->body_left = f->body_len;
	if (d->body_left > 0)
		expect(d, VX_FRAME_DEC_BODY, 0);
	else
		expect(d, VX_FRAME_DEC_HDR, VX_FRAME_HDR_LEN);
	return 1;
}

ssize_t vx_frame_dec_feed(struct vx_frame_dec *d, const uint8_t *in, size_t len, struct vx_frame *f)
{
	size_t used = 0;

	VX_ASSERT(d != NULL);
	VX_ASSERT(f != NULL);
	VX_ASSERT(in != NULL || len == 0);
	if (d->state == VX_FRAME_DEC_FAILED)
		return d->err;
	VX_ASSERT(d->state != VX_FRAME_DEC_BODY);
	for (;;) {
		uint8_t *dst;
		size_t take;
		ssize_t r;

		VX_DASSERT(d->have <= d->need);
		switch (d->state) {
		case VX_FRAME_DEC_HDR:
			dst = d->hdr_bytes;
			break;
		case VX_FRAME_DEC_META:
			dst = d->buf + 4;
			break;
		default:
			dst = d->buf;
			break;
		}
		take = VX_MIN((size_t)(d->need - d->have), len - used);
		if (take) {
			memcpy(dst + d->have, in + used, take);
			d->have += (uint32_t)take;
			used += take;
		}
		if (d->have < d->need)
			return -EAGAIN;
		switch (d->state) {
		case VX_FRAME_DEC_HDR:
			r = on_header(d);
			break;
		case VX_FRAME_DEC_META_LEN:
			r = on_meta_len(d);
			break;
		case VX_FRAME_DEC_META:
			r = on_meta(d, f);
			break;
		case VX_FRAME_DEC_VALUE:
			r = on_value(d, f);
			break;
		default:
			VX_ASSERT(d->state == VX_FRAME_DEC_VALUE); /* unreachable */
			return -EPROTO;
		}
		if (r < 0)
			return r;
		if (r == 1)
			return (ssize_t)used;
	}
}

size_t vx_frame_dec_body(struct vx_frame_dec *d, size_t avail)
{
	size_t n;

	if (d->state != VX_FRAME_DEC_BODY)
		return 0;
	n = (size_t)VX_MIN((uint64_t)avail, d->body_left);
	d->body_left -= n;
	if (d->body_left == 0)
		expect(d, VX_FRAME_DEC_HDR, VX_FRAME_HDR_LEN);
	return n;
}

uint64_t vx_frame_dec_body_left(const struct vx_frame_dec *d)
{
	return d->state == VX_FRAME_DEC_BODY ? d->body_left : 0;
}

uint32_t vx_frame_dec_want(const struct vx_frame_dec *d)
{
	if (d->state == VX_FRAME_DEC_BODY || d->state == VX_FRAME_DEC_FAILED)
		return 0;
	return d->need - d->have;
}

const struct vx_frame_hdr *vx_frame_dec_hdr(const struct vx_frame_dec *d)
{
	if (d->state == VX_FRAME_DEC_HDR || d->state == VX_FRAME_DEC_BODY ||
	    d->state == VX_FRAME_DEC_FAILED)
		return NULL;
	return &d->hdr;
}

bool vx_frame_dec_at_boundary(const struct vx_frame_dec *d)
{
	return d->state == VX_FRAME_DEC_HDR && d->have == 0;
}
