/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_frame.c: the incremental frame decoder. The first input byte picks the decoder flags
 * and the second seeds the byte splits; the rest is the stream. The stream is decoded twice,
 * once whole and once in random splits (body bytes handed out the same way), and the two
 * event logs must be identical. Every frame the decoder accepts must also pass its value
 * decoder, and DownloadPiece / PieceContent values must survive a decode -> encode round trip.
 * With VX_FRAME_DEC_F_REQUESTS the decoder gets a buffer of exactly VX_FRAME_DEC_REQ_BUF_MIN
 * (ASan sees any overrun) and must yield no frame that only an uploader sends.
 * shared/reference/dragonfly-behaviour.md 5.5 item 12 (fuzz the TLV framer); its corpus
 * replays as the ctest fuzz_replay_frame.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_frame.h"
#include "vx_frame_ext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LOG_MAX 4096

struct event {
	uint8_t tag;
	uint32_t value_len;
	uint64_t body_len;
	uint32_t value_crc; /* cheap fingerprint of the value */
};

static uint32_t fingerprint(const uint8_t *p, uint32_t n)
{
	uint32_t h = 2166136261u;

	for (uint32_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void check_value(const struct vx_frame *f)
{
	uint8_t again[VX_PIECE_CONTENT_VALUE_MAX];

	if (vx_tag_is_download(f->hdr.tag) || f->hdr.tag == VX_TAG_CANCEL) {
		struct vx_download_piece dp;

		if (vx_download_piece_decode(f->value, f->value_len, &dp) != 0)
			abort();
		if (vx_download_piece_encode(&dp, again) != 0 ||
		    memcmp(again, f->value, VX_DOWNLOAD_PIECE_LEN) != 0)
			abort();
	} else if (vx_tag_is_content(f->hdr.tag)) {
		struct vx_piece_content m;
		ssize_t n = vx_piece_content_decode(f->value, f->value_len, &m);

		if (n != (ssize_t)f->value_len || m.length != f->body_len)
			abort();
		/* without trailing metadata bytes the encoding is canonical */
		if (vx_piece_content_value_len(&m) == f->value_len) {
			if (vx_piece_content_encode(&m, again, sizeof(again)) != n ||
			    memcmp(again, f->value, (size_t)n) != 0)
				abort();
		}
	} else if (f->hdr.tag == VX_TAG_ERROR) {
		struct vx_error_value e;

		if (vx_error_decode(f->value, f->value_len, &e) != 0)
			abort();
	}
}

/* Decodes @s (@n bytes), splitting with @seed (0: whole). Returns the number of events. */
static size_t run(const uint8_t *s, size_t n, unsigned int flags, uint32_t seed, struct event *log,
		  int *err)
{
	static uint8_t buf[VX_FRAME_DEC_BUF_MIN];
	bool requests = flags & VX_FRAME_DEC_F_REQUESTS;
	uint8_t *small = requests ? malloc(VX_FRAME_DEC_REQ_BUF_MIN) : NULL;
	struct vx_frame_dec d;
	size_t off = 0, nr = 0;

	if (requests && !small)
		abort();
	if (requests)
		vx_frame_dec_init(&d, small, VX_FRAME_DEC_REQ_BUF_MIN, flags, 0);
	else
		vx_frame_dec_init(&d, buf, sizeof(buf), flags, VX_FRAME_DEC_BUF_MIN);
	*err = 0;
	while (off < n) {
		size_t avail = n - off;
		struct vx_frame f;
		ssize_t r;

		if (seed) {
			seed = seed * 1103515245u + 12345u;
			avail = VX_MIN(avail, 1 + (seed >> 16) % 13);
		}
		if (vx_frame_dec_body_left(&d) > 0) {
			off += vx_frame_dec_body(&d, avail);
			continue;
		}
		r = vx_frame_dec_feed(&d, s + off, avail, &f);
		if (r == -EAGAIN) {
			off += avail;
			continue;
		}
		if (r < 0) {
			*err = (int)r;
			if (vx_frame_dec_feed(&d, s, n, &f) != r) /* sticky */
				abort();
			break;
		}
		if (r < 1 || (size_t)r > avail)
			abort();
		off += (size_t)r;
		check_value(&f);
		if (requests && (vx_tag_is_content(f.hdr.tag) || f.hdr.tag == VX_TAG_BITFIELD ||
				 f.hdr.tag == VX_TAG_HAVE))
			abort();
		if (nr < LOG_MAX) {
			log[nr].tag = f.hdr.tag;
			log[nr].value_len = f.value_len;
			log[nr].body_len = f.body_len;
			log[nr].value_crc = fingerprint(f.value, f.value_len);
		}
		nr++;
	}
	free(small);
	return nr;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct event a[LOG_MAX], b[LOG_MAX];
	unsigned int flags;
	size_t na, nb;
	int ea, eb;
	uint32_t seed;

	if (size < 2)
		return 0;
	flags = data[0] & (VX_FRAME_DEC_F_EXT | VX_FRAME_DEC_F_CONTROL | VX_FRAME_DEC_F_REQUESTS);
	if (flags & VX_FRAME_DEC_F_REQUESTS)
		flags &= ~(
			unsigned int)VX_FRAME_DEC_F_CONTROL; /* control values need a big buffer */
	seed = (uint32_t)data[1] * 2654435761u + 1;
	na = run(data + 2, size - 2, flags, 0, a, &ea);
	nb = run(data + 2, size - 2, flags, seed, b, &eb);
	if (na != nb || ea != eb || memcmp(a, b, VX_MIN(na, (size_t)LOG_MAX) * sizeof(a[0])) != 0)
		abort();
	return 0;
}
