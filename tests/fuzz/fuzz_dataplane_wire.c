/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_dataplane_wire.c: the data plane's own parsers on hostile bytes: the PieceContent
 * value decoder the fetcher runs on a parent's answer, and the task-id check the upload
 * server runs on requests. A decoded value is re-encoded and decoded again; both must agree.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dataplane_int.h"
#include "vx_assert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[VX__META_MAX + 16];
	struct vx__meta m, m2;
	ssize_t n;

	if (size >= VX__TASK_ID_LEN)
		(void)vx__task_id_valid((const char *)data);
	if (vx__content_value_decode(data, size, &m) < 0)
		return 0;
	VX_ASSERT(m.digest_len <= size);
	VX_ASSERT(m.parent_id_len <= size);
	n = vx__content_head_encode(out, sizeof(out), 0, 0x01, &m);
	if (n < 0)
		return 0;
	VX_ASSERT(vx__content_value_decode(out + VX__HDR_LEN, (size_t)n - VX__HDR_LEN, &m2) == 0);
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
