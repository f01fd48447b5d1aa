/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_dataplane_wire.c: the data plane's own parsers on hostile bytes: the PieceContent
 * value decoder the fetcher runs on a parent's answer, and its task-id check. A decoded value
 * is re-encoded with vortex's encoder (the upload server's) and decoded again; both must agree.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dataplane_int.h"
#include "vx_assert.h"
#include "vx_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[VX_PIECE_CONTENT_VALUE_MAX + 16];
	struct vx__meta m, m2;
	struct vx_piece_content pc;
	ssize_t n;

	if (size >= VX__TASK_ID_LEN)
		(void)vx__task_id_valid((const char *)data);
	if (vx__content_value_decode(data, size, &m) < 0)
		return 0;
	VX_ASSERT(m.digest_len <= size);
	VX_ASSERT(m.parent_id_len <= size);
	pc = (struct vx_piece_content){
		.number = m.number,
		.offset = m.offset,
		.length = m.length,
		.digest = m.digest,
		.digest_len = m.digest_len,
		.parent_id = m.parent_id,
		.parent_id_len = m.parent_id_len,
		.traffic_type = m.traffic_type,
		.cost_s = m.cost_s,
		.created_at_s = m.created_s,
	};
	n = vx_frame_encode_content_head(out, sizeof(out), 0, VX_TAG_PIECE_CONTENT, &pc);
	if (n < 0)
		return 0;
	VX_ASSERT(vx__content_value_decode(out + VX_FRAME_HDR_LEN, (size_t)n - VX_FRAME_HDR_LEN,
					   &m2) == 0);
	VX_ASSERT(m2.number == m.number);
	VX_ASSERT(m2.offset == m.offset);
	VX_ASSERT(m2.length == m.length);
	VX_ASSERT(m2.digest_len == m.digest_len);
	VX_ASSERT(memcmp(m2.digest, m.digest, m.digest_len) == 0);
	VX_ASSERT(m2.parent_id_len == m.parent_id_len);
	VX_ASSERT(m2.cost_s == m.cost_s);
	VX_ASSERT(m2.created_s == m.created_s);
	return 0;
}
