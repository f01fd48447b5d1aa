/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctl_reader.c: a control-frame stream read through vortex's incremental decoder. Only the
 * three control tags are frames here; anything else (a data-plane tag, Close, Error) breaks
 * the stream, as a reserved tag does.
 *
 * The value buffer grows as bytes arrive, never by what a header declares: the decoder is told
 * it has VX_CTL_FRAME_MAX bytes (the length check stays its own), but each feed hands it no more
 * than the real buffer holds, growing it first to what the input at hand fills (at most twice
 * that). A header announcing 1 MiB therefore costs memory only once the bytes come, and a
 * buffer a large frame grew shrinks back before the next frame.
 */
#include "vx_ctl_cbor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_compiler.h"

_Static_assert(VX_CTL_FRAME_MAX >= VX_FRAME_DEC_BUF_MIN, "one buffer serves every frame");
#define READER_BUF VX_CTL_FRAME_MAX /* what the decoder is told */

static int reader_resize(struct vx_ctl_reader *r, size_t cap)
{
	uint8_t *nb = vx_realloc(r->buf, cap);

	if (!nb)
		return -ENOMEM;
	r->buf = nb;
	r->cap = cap;
	r->dec.buf = nb; /* lent: the decoder keeps no other pointer into it */
	return 0;
}

int vx_ctl_reader_init(struct vx_ctl_reader *r)
{
	VX_ASSERT(r);
	memset(r, 0, sizeof(*r));
	r->buf = vx_malloc(VX_CTL_READER_START);
	if (!r->buf)
		return -ENOMEM;
	r->cap = VX_CTL_READER_START;
	vx_ctl_reader_reset(r);
	return 0;
}

void vx_ctl_reader_reset(struct vx_ctl_reader *r)
{
	VX_ASSERT(r->buf);
	vx_frame_dec_init(&r->dec, r->buf, READER_BUF, VX_FRAME_DEC_F_CONTROL, VX_CTL_FRAME_MAX);
	r->err = 0;
	r->why[0] = '\0';
}

void vx_ctl_reader_free(struct vx_ctl_reader *r)
{
	if (!r)
		return;
	if (r->buf)
		vx_frame_dec_release(&r->dec);
	vx_free(r->buf);
	memset(r, 0, sizeof(*r));
}

size_t vx_ctl_reader_mem(const struct vx_ctl_reader *r)
{
	return r->cap;
}

/*
 * How many of @len input bytes the decoder may take now without writing past the real buffer,
 * after growing it for them. Header bytes are fed alone (up to the header's end), so the value
 * length is known before any value byte is copied. 0 with -ENOMEM in *@err.
 */
static size_t reader_room(struct vx_ctl_reader *r, size_t len, int *err)
{
	const struct vx_frame_dec *d = &r->dec;
	size_t off, need, want;

	*err = 0;
	switch (d->state) {
	case VX_FRAME_DEC_VALUE:
	case VX_FRAME_DEC_META_LEN:
		off = 0;
		break;
	case VX_FRAME_DEC_META:
		off = 4;
		break;
	default: /* header (its own small array), or failed: the decoder says so */
		return VX_MIN(len, (size_t)(d->need - d->have));
	}
	need = off + d->need; /* the end of what this state collects */
	want = VX_MIN(need, off + d->have + len);
	if (want > r->cap && reader_resize(r, VX_MIN(need, VX_MAX(want, r->cap * 2)))) {
		*err = -ENOMEM;
		return 0;
	}
	return VX_MIN(len, (size_t)(d->need - d->have));
}

ssize_t vx_ctl_reader_feed(struct vx_ctl_reader *r, const uint8_t *in, size_t len,
			   struct vx_frame *f)
{
	size_t used = 0;
	ssize_t n;

	VX_ASSERT(r->buf);
	if (r->err)
		return r->err;
	/* the last frame's value is given back now: a buffer it grew shrinks */
	if (r->dec.state == VX_FRAME_DEC_HDR && r->dec.have == 0 && r->cap > VX_CTL_READER_KEEP &&
	    reader_resize(r, VX_CTL_READER_START))
		return -ENOMEM;
	do {
		int err;
		size_t take = reader_room(r, len - used, &err);

		if (err)
			return err; /* nothing taken this round; the stream is intact */
		n = vx_frame_dec_feed(&r->dec, in + used, take, f);
		if (n == -EAGAIN) {
			used += take;
			continue;
		}
		if (n < 0)
			return n;
		if (!vx_ctl_tag_ok(f->hdr.tag)) {
			snprintf(r->why, sizeof(r->why),
				 "%s frame (tag 0x%02x) on a control stream",
				 vx_tag_name(f->hdr.tag), f->hdr.tag);
			r->err = -EPROTO;
			return r->err;
		}
		return (ssize_t)(used + (size_t)n);
	} while (used < len);
	return -EAGAIN;
}

const char *vx_ctl_reader_why(const struct vx_ctl_reader *r)
{
	if (r->err)
		return r->why;
	return vx_frame_dec_reason_str(&r->dec);
}
