/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_control_msg.c: a control-frame stream as a peer or a local client sends it: cut into
 * frames by vortex's control reader (vx_ctl_reader_feed()), each value decoded by both codecs
 * that ride on control frames, the scheduler protocol (vx_ctl_msg_decode()) and the local API
 * (vx_api_msg_decode()). A message that decodes must encode again and decode to the same fields
 * (round trip), so no encoder emits what its decoder refuses. The stream is fed in pieces, as
 * a socket gives it, so the reader's growing buffer is exercised.
 * shared/reference/dragonfly-behaviour.md 5.5 item 12 (fuzz the CBOR decoder); its corpus
 * replays as the ctest fuzz_replay_control_msg.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_api_msg.h"
#include "vx_ctl_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t vx_fuzz_out[VX_CTL_FRAME_MAX + VX_FRAME_HDR_LEN];

static void again_hdr(ssize_t n, struct vx_frame_hdr *h)
{
	if (n < VX_FRAME_HDR_LEN)
		abort();
	vx_frame_hdr_decode(vx_fuzz_out, h);
	if ((size_t)n != VX_FRAME_HDR_LEN + (size_t)h->length)
		abort();
}

static void ctl_roundtrip(const struct vx_ctl_msg *m)
{
	struct vx_frame_hdr h;
	struct vx_ctl_msg again;

	again_hdr(vx_ctl_msg_encode(m, vx_fuzz_out, sizeof(vx_fuzz_out)), &h);
	if (vx_ctl_msg_decode(h.tag, vx_fuzz_out + VX_FRAME_HDR_LEN, h.length, &again) != 0)
		abort();
	if (again.type != m->type || again.rid != m->rid || again.has != m->has ||
	    again.nr_cands != m->nr_cands || again.nr_digests != m->nr_digests ||
	    again.nr_costs != m->nr_costs || again.nr_avoid != m->nr_avoid ||
	    again.bitmap_len != m->bitmap_len || again.task_id.len != m->task_id.len ||
	    again.nr_filtered != m->nr_filtered || again.requester.len != m->requester.len ||
	    again.csr_len != m->csr_len || again.cert_len != m->cert_len ||
	    again.ca_len != m->ca_len || again.crl_len != m->crl_len)
		abort();
	vx_ctl_msg_release(&again);
}

static void api_roundtrip(const struct vx_api_msg *m)
{
	struct vx_frame_hdr h;
	struct vx_api_msg again;

	again_hdr(vx_api_msg_encode(m, vx_fuzz_out, sizeof(vx_fuzz_out)), &h);
	if (vx_api_msg_decode(h.tag, vx_fuzz_out + VX_FRAME_HDR_LEN, h.length, &again) != 0)
		abort();
	if (again.type != m->type || again.rid != m->rid || again.has != m->has ||
	    again.nr_headers != m->nr_headers || again.nr_filtered != m->nr_filtered ||
	    again.nr_tasks != m->nr_tasks || again.url.len != m->url.len ||
	    again.bytes_done != m->bytes_done)
		abort();
	vx_api_msg_release(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vx_ctl_reader rd;
	struct vx_frame f;
	ssize_t n;

	/* the reader grows its buffer as bytes come: most inputs arrive in pieces (the piece size
	 * from the input's length, so the seed corpus keeps its meaning) */
	size_t chunk = size % 7 == 0 ? size : 1 + size % 4093;

	vx_ctl_reader_free(&rd); /* a fresh, small buffer for every input */
	if (vx_ctl_reader_init(&rd))
		abort();
	while (size > 0) {
		struct vx_ctl_msg m;
		struct vx_api_msg a;
		size_t len = size < chunk ? size : chunk;

		n = vx_ctl_reader_feed(&rd, data, len, &f);
		if (n == -EAGAIN) {
			data += len;
			size -= len;
			continue;
		}
		if (n < 0)
			break;
		if (vx_ctl_msg_decode(f.hdr.tag, f.value, f.value_len, &m) == 0) {
			ctl_roundtrip(&m);
			vx_ctl_msg_release(&m);
		}
		if (vx_api_msg_decode(f.hdr.tag, f.value, f.value_len, &a) == 0) {
			api_roundtrip(&a);
			vx_api_msg_release(&a);
		}
		data += n;
		size -= (size_t)n;
	}
	return 0;
}
