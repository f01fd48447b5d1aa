/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctl_reader.c: a control-frame stream read through vortex's incremental decoder. Only the
 * three control tags are frames here; anything else (a data-plane tag, Close, Error) breaks
 * the stream, as a reserved tag does.
 */
#include "vx_ctl_cbor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vx_alloc.h"
#include "vx_assert.h"

_Static_assert(VX_CTL_FRAME_MAX >= VX_FRAME_DEC_BUF_MIN, "one buffer serves every frame");
#define READER_BUF VX_CTL_FRAME_MAX

int vx_ctl_reader_init(struct vx_ctl_reader *r)
{
	VX_ASSERT(r);
	memset(r, 0, sizeof(*r));
	r->buf = vx_malloc(READER_BUF);
	if (!r->buf)
		return -ENOMEM;
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

ssize_t vx_ctl_reader_feed(struct vx_ctl_reader *r, const uint8_t *in, size_t len,
			   struct vx_frame *f)
{
	ssize_t n;

	VX_ASSERT(r->buf);
	if (r->err)
		return r->err;
	n = vx_frame_dec_feed(&r->dec, in, len, f);
	if (n > 0 && !vx_ctl_tag_ok(f->hdr.tag)) {
		snprintf(r->why, sizeof(r->why), "%s frame (tag 0x%02x) on a control stream",
			 vx_tag_name(f->hdr.tag), f->hdr.tag);
		r->err = -EPROTO;
		return r->err;
	}
	return n;
}

const char *vx_ctl_reader_why(const struct vx_ctl_reader *r)
{
	if (r->err)
		return r->why;
	return vx_frame_dec_reason_str(&r->dec);
}
