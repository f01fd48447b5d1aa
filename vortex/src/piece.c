/* SPDX-License-Identifier: Apache-2.0 */
/*
 * piece.c: values of the Vortex data tags: DownloadPiece, PieceContent metadata, Error.
 * Every field is read and written through vx_bytes.h; nothing is cast over wire bytes.
 */
#include "vx_piece.h"

#include <errno.h>
#include <string.h>

#include "vx_assert.h"
#include "vx_bytes.h"
#include "vx_utf8.h"

_Static_assert(VX_DOWNLOAD_PIECE_LEN == VX_TASK_ID_LEN + 4, "DownloadPiece is id + u32");
_Static_assert(VX_PIECE_CONTENT_META_FIXED == 4 + 8 + 8 + 4 + 4 + 1 + 8 + 8, "metadata fixed");
_Static_assert(VX_PIECE_CONTENT_META_MAX + 4 == VX_PIECE_CONTENT_VALUE_MAX, "value = 4 + meta");

int vx_download_piece_encode(const struct vx_download_piece *r, uint8_t out[VX_DOWNLOAD_PIECE_LEN])
{
	VX_ASSERT(r != NULL);
	VX_ASSERT(out != NULL);
	if (!vx_task_id_valid(r->task_id, strnlen(r->task_id, VX_TASK_ID_LEN + 1)))
		return -EINVAL;
	memcpy(out, r->task_id, VX_TASK_ID_LEN);
	vx_put_be32(out + VX_TASK_ID_LEN, r->piece_number);
	return 0;
}

int vx_download_piece_decode(const uint8_t *in, size_t len, struct vx_download_piece *r)
{
	VX_ASSERT(r != NULL);
	if (len != VX_DOWNLOAD_PIECE_LEN)
		return -EPROTO;
	if (!vx_task_id_valid((const char *)in, VX_TASK_ID_LEN))
		return -EPROTO;
	memcpy(r->task_id, in, VX_TASK_ID_LEN);
	r->task_id[VX_TASK_ID_LEN] = '\0';
	r->piece_number = vx_get_be32(in + VX_TASK_ID_LEN);
	return 0;
}

size_t vx_piece_content_value_len(const struct vx_piece_content *m)
{
	return 4u + VX_PIECE_CONTENT_META_FIXED + (size_t)m->digest_len + (size_t)m->parent_id_len;
}

ssize_t vx_piece_content_encode(const struct vx_piece_content *m, uint8_t *out, size_t out_len)
{
	size_t n;
	uint8_t *p = out;

	VX_ASSERT(m != NULL);
	VX_ASSERT(m->digest != NULL || m->digest_len == 0);
	VX_ASSERT(m->parent_id != NULL || m->parent_id_len == 0);
	n = vx_piece_content_value_len(m);
	if (n > VX_PIECE_CONTENT_VALUE_MAX)
		return -EMSGSIZE;
	if (m->length > VX_PIECE_BODY_MAX)
		return -EINVAL;
	if (!vx_utf8_valid((const uint8_t *)m->digest, m->digest_len) ||
	    !vx_utf8_valid((const uint8_t *)m->parent_id, m->parent_id_len))
		return -EINVAL;
	if (out_len < n)
		return -ENOSPC;
	vx_put_be32(p, (uint32_t)(n - 4));
	vx_put_be32(p + 4, m->number);
	vx_put_be64(p + 8, m->offset);
	vx_put_be64(p + 16, m->length);
	p += 24;
	vx_put_be32(p, m->digest_len);
	if (m->digest_len)
		memcpy(p + 4, m->digest, m->digest_len);
	p += 4 + m->digest_len;
	vx_put_be32(p, m->parent_id_len);
	if (m->parent_id_len)
		memcpy(p + 4, m->parent_id, m->parent_id_len);
	p += 4 + m->parent_id_len;
	p[0] = m->traffic_type;
	vx_put_be64(p + 1, m->cost_s);
	vx_put_be64(p + 9, (uint64_t)m->created_at_s);
	p += 17;
	VX_DASSERT((size_t)(p - out) == n);
	return (ssize_t)n;
}

ssize_t vx_piece_content_decode(const uint8_t *in, size_t len, struct vx_piece_content *m)
{
	struct vx_piece_content t;
	const uint8_t *p, *end;
	uint32_t mlen, slen;

	VX_ASSERT(m != NULL);
	if (len < 4)
		return -EAGAIN;
	mlen = vx_get_be32(in);
	if (mlen > VX_PIECE_CONTENT_META_MAX)
		return -EMSGSIZE;
	if (len - 4 < mlen)
		return -EAGAIN;
	if (mlen < VX_PIECE_CONTENT_META_FIXED)
		return -EPROTO;
	p = in + 4;
	end = p + mlen;

	t.number = vx_get_be32(p);
	t.offset = vx_get_be64(p + 4);
	t.length = vx_get_be64(p + 12);
	p += 20;
	/* Each string: u32 length, bytes; both must leave room for what follows. */
	slen = vx_get_be32(p);
	p += 4;
	if (slen > (size_t)(end - p))
		return -EPROTO;
	t.digest = (const char *)p;
	t.digest_len = slen;
	p += slen;
	if ((size_t)(end - p) < 4)
		return -EPROTO;
	slen = vx_get_be32(p);
	p += 4;
	if (slen > (size_t)(end - p))
		return -EPROTO;
	t.parent_id = (const char *)p;
	t.parent_id_len = slen;
	p += slen;
	if ((size_t)(end - p) < 17)
		return -EPROTO;
	t.traffic_type = p[0];
	t.cost_s = vx_get_be64(p + 1);
	t.created_at_s = (int64_t)vx_get_be64(p + 9);
	/* Bytes after created_at: a newer peer's fields, ignored by design. */
	if (t.length > VX_PIECE_BODY_MAX)
		return -EPROTO;
	if (!vx_utf8_valid((const uint8_t *)t.digest, t.digest_len) ||
	    !vx_utf8_valid((const uint8_t *)t.parent_id, t.parent_id_len))
		return -EPROTO;
	*m = t;
	return (ssize_t)(4u + mlen);
}

ssize_t vx_error_encode(uint8_t code, const char *msg, size_t msg_len, uint8_t *out, size_t out_len)
{
	size_t room;

	VX_ASSERT(msg != NULL || msg_len == 0);
	VX_ASSERT(out != NULL || out_len == 0);
	if (out_len == 0)
		return -ENOSPC;
	if (!vx_utf8_valid((const uint8_t *)msg, msg_len))
		return -EINVAL;
	room = VX_MIN(out_len, (size_t)VX_ERROR_VALUE_MAX) - 1;
	msg_len = vx_utf8_truncate((const uint8_t *)msg, msg_len, room);
	out[0] = code;
	if (msg_len)
		memcpy(out + 1, msg, msg_len);
	return (ssize_t)(1 + msg_len);
}

int vx_error_decode(const uint8_t *in, size_t len, struct vx_error_value *e)
{
	VX_ASSERT(e != NULL);
	if (len == 0)
		return -EPROTO;
	if (len > VX_ERROR_VALUE_MAX)
		return -EMSGSIZE;
	if (!vx_utf8_valid(in + 1, len - 1))
		return -EPROTO;
	e->code = in[0];
	e->message = (const char *)(in + 1);
	e->message_len = (uint32_t)(len - 1);
	return 0;
}

const char *vx_error_code_name(uint8_t code)
{
	switch (code) {
	case VX_ERROR_CODE_UNKNOWN:
		return "unknown";
	case VX_ERROR_CODE_INVALID_ARGUMENT:
		return "invalid argument";
	case VX_ERROR_CODE_NOT_FOUND:
		return "not found";
	case VX_ERROR_CODE_INTERNAL:
		return "internal";
	case VX_ERROR_CODE_CANCELLED:
		return "cancelled";
	case VX_ERROR_CODE_BUSY:
		return "busy";
	default:
		return "unknown";
	}
}
