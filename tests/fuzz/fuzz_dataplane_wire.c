/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_dataplane_wire.c: the data plane's own wire helpers on hostile bytes: the task-id
 * check the upload server runs on requests, and its PieceContent head encoder, which must
 * write what vortex's decoder (the one the fetcher runs) reads back the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dataplane_int.h"
#include "vx_assert.h"
#include "vx_piece.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[VX_PIECE_CONTENT_VALUE_MAX + 16];
	struct vx_piece_content pc, m2;
	struct vx__meta m;
	ssize_t n;

	if (size >= VX__TASK_ID_LEN)
		(void)vx__task_id_valid((const char *)data);
	if (vx_piece_content_decode(data, size, &pc) < 0)
		return 0;
	m = (struct vx__meta){ .number = pc.number,
			       .offset = pc.offset,
			       .length = pc.length,
			       .digest = pc.digest,
			       .digest_len = pc.digest_len,
			       .parent_id = pc.parent_id,
			       .parent_id_len = pc.parent_id_len,
			       .traffic_type = pc.traffic_type,
			       .cost_s = pc.cost_s,
			       .created_s = pc.created_at_s };
	VX_ASSERT(m.digest_len <= size);
	VX_ASSERT(m.parent_id_len <= size);
	n = vx__content_head_encode(out, sizeof(out), 0, 0x01, &m);
	if (n < 0)
		return 0;
	VX_ASSERT(vx_piece_content_decode(out + VX__HDR_LEN, (size_t)n - VX__HDR_LEN, &m2) ==
		  n - VX__HDR_LEN);
	VX_ASSERT(m2.number == m.number);
	VX_ASSERT(m2.offset == m.offset);
	VX_ASSERT(m2.length == m.length);
	VX_ASSERT(m2.digest_len == m.digest_len);
	VX_ASSERT(memcmp(m2.digest, m.digest, m.digest_len) == 0);
	VX_ASSERT(m2.parent_id_len == m.parent_id_len);
	VX_ASSERT(m2.cost_s == m.cost_s);
	VX_ASSERT(m2.created_at_s == m.created_s);
	return 0;
}
