/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_piece_content.c: the value decoders that take variable-length input: PieceContent
 * metadata, the compressed variant, Error, HELLO, BITFIELD, HAVE. The first byte picks the
 * decoder. Accepted values must re-encode to the same bytes where the encoding is canonical.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_frame_ext.h"
#include "vx_piece.h"
#include "vx_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[VX_BITFIELD_MAX + VX_COMPRESSED_VALUE_MAX];

static void piece_content(const uint8_t *in, size_t n)
{
	struct vx_piece_content m;
	ssize_t r = vx_piece_content_decode(in, n, &m);

	if (r == -EAGAIN || r == -EPROTO || r == -EMSGSIZE)
		return;
	if (r < 4 + VX_PIECE_CONTENT_META_FIXED || (size_t)r > n)
		abort();
	if (!vx_utf8_valid((const uint8_t *)m.digest, m.digest_len) ||
	    (const uint8_t *)m.digest < in || (const uint8_t *)m.digest + m.digest_len > in + r)
		abort();
	if (vx_piece_content_value_len(&m) == (size_t)r &&
	    (vx_piece_content_encode(&m, out, sizeof(out)) != r || memcmp(out, in, (size_t)r) != 0))
		abort();
}

static void compressed(const uint8_t *in, size_t n)
{
	struct vx_piece_content m;
	uint32_t clen;
	uint8_t comp;

	if (vx_compressed_content_decode(in, n, &m, &comp, &clen) != 0)
		return;
	if (vx_piece_content_value_len(&m) + VX_COMPRESSED_TRAILER_LEN == n &&
	    (vx_compressed_content_encode(&m, comp, clen, out, sizeof(out)) != (ssize_t)n ||
	     memcmp(out, in, n) != 0))
		abort();
}

static void error_value(const uint8_t *in, size_t n)
{
	struct vx_error_value e;

	if (vx_error_decode(in, n, &e) != 0)
		return;
	if (vx_error_encode(e.code, e.message, e.message_len, out, sizeof(out)) != (ssize_t)n ||
	    memcmp(out, in, n) != 0)
		abort();
}

static void ext(const uint8_t *in, size_t n)
{
	struct vx_hello h;
	struct vx_bitfield b;
	struct vx_have hv;
	uint32_t nums[VX_HAVE_NUMBERS_MAX];

	if (vx_hello_decode(in, n, &h) == 0 && vx_hello_encode(&h, out) == 0 &&
	    memcmp(out, in, VX_HELLO_LEN) != 0)
		abort();
	if (vx_bitfield_decode(in, n, &b) == 0) {
		if (vx_bitfield_encode(b.task_id, b.piece_count, b.bits, out, sizeof(out)) !=
			    (ssize_t)n ||
		    memcmp(out, in, n) != 0)
			abort();
		for (uint32_t i = 0; i < b.piece_count; i += 97)
			(void)vx_bitfield_has(&b, i);
	}
	if (vx_have_decode(in, n, &hv) == 0) {
		for (uint32_t i = 0; i < hv.count; i++)
			nums[i] = vx_have_number(&hv, i);
		if (vx_have_encode(hv.task_id, nums, hv.count, out, sizeof(out)) != (ssize_t)n ||
		    memcmp(out, in, n) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		piece_content(data + 1, size - 1);
		break;
	case 1:
		compressed(data + 1, size - 1);
		break;
	case 2:
		error_value(data + 1, size - 1);
		break;
	default:
		ext(data + 1, size - 1);
		break;
	}
	return 0;
}
