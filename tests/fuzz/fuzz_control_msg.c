/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_control_msg.c: the control channel as a peer sees it: a byte stream cut into frames by
 * vx_ctl_frame_peek(), each value decoded by vx_ctl_msg_decode(). A message that decodes must
 * encode again and decode to the same fields (round trip), so the encoder never emits what the
 * decoder refuses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_ctl_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t vx_fuzz_out[VX_CTL_FRAME_MAX + VX_CTL_HDR_LEN];

static void check_roundtrip(const struct vx_ctl_msg *m)
{
	struct vx_ctl_frame f;
	struct vx_ctl_msg again;
	ssize_t n;

	n = vx_ctl_msg_encode(m, vx_fuzz_out, sizeof(vx_fuzz_out));
	if (n < 0)
		abort();
	if (vx_ctl_frame_peek(vx_fuzz_out, (size_t)n, VX_CTL_FRAME_MAX, &f) != n)
		abort();
	if (vx_ctl_msg_decode(f.tag, vx_fuzz_out + VX_CTL_HDR_LEN, f.length, &again) != 0)
		abort();
	if (again.type != m->type || again.rid != m->rid || again.has != m->has ||
	    again.nr_cands != m->nr_cands || again.nr_digests != m->nr_digests ||
	    again.nr_costs != m->nr_costs || again.nr_avoid != m->nr_avoid ||
	    again.bitmap_len != m->bitmap_len || again.task_id.len != m->task_id.len)
		abort();
	vx_ctl_msg_release(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx_ctl_frame f;
	struct vx_ctl_msg m;
	ssize_t n;

	while (size > 0) {
		n = vx_ctl_frame_peek(data, size, VX_CTL_FRAME_MAX, &f);
		if (n < 0)
			break;
		if (vx_ctl_msg_decode(f.tag, data + VX_CTL_HDR_LEN, f.length, &m) == 0) {
			check_roundtrip(&m);
			vx_ctl_msg_release(&m);
		}
		data += n;
		size -= (size_t)n;
	}
	return 0;
}
