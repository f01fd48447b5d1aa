/* SPDX-License-Identifier: Apache-2.0 */
/*
 * frame_ext.c: values of the vx data-plane extension frames (HELLO, INTEREST, BITFIELD, HAVE,
 * CANCEL, COMPRESSED_PIECE_CONTENT); layouts in spec/vortex.md.
 */
#include "vx_frame_ext.h"

#include <errno.h>
#include <string.h>

#include "vx_assert.h"
#include "vx_bitmap.h"
#include "vx_bytes.h"

static bool task_id_ok(const char *id)
{
	return id != NULL && vx_task_id_valid(id, strnlen(id, VX_TASK_ID_LEN + 1));
}

static void task_id_copy(char dst[VX_TASK_ID_LEN + 1], const uint8_t *src)
{
	memcpy(dst, src, VX_TASK_ID_LEN);
	dst[VX_TASK_ID_LEN] = '\0';
}

int vx_hello_encode(const struct vx_hello *h, uint8_t out[VX_HELLO_LEN])
{
	VX_ASSERT(h != NULL);
	if (h->version == 0 || h->max_inflight == 0)
		return -EINVAL;
	out[0] = 'V';
	out[1] = 'X';
	vx_put_be16(out + 2, h->version);
	vx_put_be32(out + 4, h->features);
	vx_put_be32(out + 8, h->max_inflight);
	vx_put_be32(out + 12, h->max_value_len);
	return 0;
}

int vx_hello_decode(const uint8_t *in, size_t len, struct vx_hello *h)
{
	struct vx_hello t;

	VX_ASSERT(h != NULL);
	if (len > VX_HELLO_MAX)
		return -EMSGSIZE;
	if (len < VX_HELLO_LEN || in[0] != 'V' || in[1] != 'X')
		return -EPROTO;
	t.version = vx_get_be16(in + 2);
	t.features = vx_get_be32(in + 4);
	t.max_inflight = vx_get_be32(in + 8);
	t.max_value_len = vx_get_be32(in + 12);
	if (t.version == 0 || t.max_inflight == 0)
		return -EPROTO;
	*h = t;
	return 0;
}

int vx_interest_encode(const struct vx_interest *i, uint8_t out[VX_INTEREST_LEN])
{
	VX_ASSERT(i != NULL);
	if (!task_id_ok(i->task_id) || i->op > VX_INTEREST_SUBSCRIBE)
		return -EINVAL;
	memcpy(out, i->task_id, VX_TASK_ID_LEN);
	out[VX_TASK_ID_LEN] = i->op;
	return 0;
}

int vx_interest_decode(const uint8_t *in, size_t len, struct vx_interest *i)
{
	VX_ASSERT(i != NULL);
	if (len != VX_INTEREST_LEN || !vx_task_id_valid((const char *)in, VX_TASK_ID_LEN) ||
	    in[VX_TASK_ID_LEN] > VX_INTEREST_SUBSCRIBE)
		return -EPROTO;
	task_id_copy(i->task_id, in);
	i->op = in[VX_TASK_ID_LEN];
	return 0;
}

size_t vx_bitfield_value_len(uint32_t piece_count)
{
	return VX_BITFIELD_HDR_LEN + vx_bitmap_bytes(piece_count);
}

ssize_t vx_bitfield_encode_in_place(const char *task_id, uint32_t piece_count, uint8_t *out,
				    size_t out_len)
{
	size_t n = vx_bitfield_value_len(piece_count);

	if (!task_id_ok(task_id) || piece_count > VX_BITFIELD_PIECES_MAX)
		return -EINVAL;
	if (out_len < n)
		return -ENOSPC;
	memcpy(out, task_id, VX_TASK_ID_LEN);
	vx_put_be32(out + VX_TASK_ID_LEN, piece_count);
	if (piece_count)
		out[n - 1] &= vx_bitmap_last_mask(piece_count);
	return (ssize_t)n;
}

ssize_t vx_bitfield_encode(const char *task_id, uint32_t piece_count, const uint8_t *bits,
			   uint8_t *out, size_t out_len)
{
	size_t nbytes = vx_bitmap_bytes(piece_count);

	VX_ASSERT(bits != NULL || piece_count == 0);
	if (!task_id_ok(task_id) || piece_count > VX_BITFIELD_PIECES_MAX)
		return -EINVAL;
	if (out_len < VX_BITFIELD_HDR_LEN + nbytes)
		return -ENOSPC;
	if (nbytes)
		memcpy(out + VX_BITFIELD_HDR_LEN, bits, nbytes);
	return vx_bitfield_encode_in_place(task_id, piece_count, out, out_len);
}

int vx_bitfield_decode(const uint8_t *in, size_t len, struct vx_bitfield *b)
{
	uint32_t count;

	VX_ASSERT(b != NULL);
	if (len < VX_BITFIELD_HDR_LEN || !vx_task_id_valid((const char *)in, VX_TASK_ID_LEN))
		return -EPROTO;
	count = vx_get_be32(in + VX_TASK_ID_LEN);
	if (count > VX_BITFIELD_PIECES_MAX)
		return -EMSGSIZE;
	if (len != vx_bitfield_value_len(count))
		return -EPROTO;
	if (count && (in[len - 1] & (uint8_t)~vx_bitmap_last_mask(count)) != 0)
		return -EPROTO; /* spare bits must be zero */
	task_id_copy(b->task_id, in);
	b->piece_count = count;
	b->bits = in + VX_BITFIELD_HDR_LEN;
	return 0;
}

bool vx_bitfield_has(const struct vx_bitfield *b, uint32_t i)
{
	VX_ASSERT(i < b->piece_count);
	return vx_bit_get(b->bits, i);
}

ssize_t vx_have_encode(const char *task_id, const uint32_t *numbers, uint32_t count, uint8_t *out,
		       size_t out_len)
{
	size_t n = VX_TASK_ID_LEN + 4u * (size_t)count;

	if (!task_id_ok(task_id) || count == 0 || count > VX_HAVE_NUMBERS_MAX)
		return -EINVAL;
	VX_ASSERT(numbers != NULL);
	if (out_len < n)
		return -ENOSPC;
	memcpy(out, task_id, VX_TASK_ID_LEN);
	for (uint32_t i = 0; i < count; i++)
		vx_put_be32(out + VX_TASK_ID_LEN + 4u * i, numbers[i]);
	return (ssize_t)n;
}

int vx_have_decode(const uint8_t *in, size_t len, struct vx_have *h)
{
	size_t count;

	VX_ASSERT(h != NULL);
	if (len < VX_TASK_ID_LEN + 4 || (len - VX_TASK_ID_LEN) % 4 != 0 ||
	    !vx_task_id_valid((const char *)in, VX_TASK_ID_LEN))
		return -EPROTO;
	count = (len - VX_TASK_ID_LEN) / 4;
	if (count > VX_HAVE_NUMBERS_MAX)
		return -EMSGSIZE;
	task_id_copy(h->task_id, in);
	h->count = (uint32_t)count;
	h->numbers = in + VX_TASK_ID_LEN;
	return 0;
}

uint32_t vx_have_number(const struct vx_have *h, uint32_t i)
{
	VX_ASSERT(i < h->count);
	return vx_get_be32(h->numbers + 4u * i);
}

ssize_t vx_compressed_content_encode(const struct vx_piece_content *m, uint8_t compression,
				     uint32_t compressed_len, uint8_t *out, size_t out_len)
{
	size_t n = vx_piece_content_value_len(m) + VX_COMPRESSED_TRAILER_LEN;
	ssize_t r;

	if (compression != VX_COMPRESSION_LZ4 || compressed_len == 0 ||
	    compressed_len > VX_PIECE_BODY_MAX)
		return -EINVAL;
	if (out_len < n)
		return -ENOSPC;
	r = vx_piece_content_encode(m, out, out_len - VX_COMPRESSED_TRAILER_LEN);
	if (r < 0)
		return r;
	out[r] = compression;
	vx_put_be32(out + r + 1, compressed_len);
	return r + VX_COMPRESSED_TRAILER_LEN;
}

int vx_compressed_content_decode(const uint8_t *in, size_t len, struct vx_piece_content *m,
				 uint8_t *compression, uint32_t *compressed_len)
{
	struct vx_piece_content t;
	uint32_t clen;
	ssize_t r;

	if (len > VX_COMPRESSED_VALUE_MAX)
		return -EMSGSIZE;
	if (len < VX_COMPRESSED_TRAILER_LEN)
		return -EPROTO;
	r = vx_piece_content_decode(in, len - VX_COMPRESSED_TRAILER_LEN, &t);
	if (r == -EMSGSIZE)
		return (int)r;
	if (r < 0 || (size_t)r != len - VX_COMPRESSED_TRAILER_LEN)
		return -EPROTO;
	clen = vx_get_be32(in + r + 1);
	if (in[r] != VX_COMPRESSION_LZ4 || clen == 0 || clen > VX_PIECE_BODY_MAX)
		return -EPROTO;
	*m = t;
	*compression = in[r];
	*compressed_len = clen;
	return 0;
}
