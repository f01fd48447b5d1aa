/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_storage_digest.c: vx_store_digest_parse() on arbitrary bytes. It must never read past
 * the input, and whatever it accepts must print back to an equivalent digest.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vx_assert.h"
#include "vx_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx_store_digest d, again;
	char text[VX_STORE_DIGEST_SPEC_MAX + 1];
	int n;

	if (vx_store_digest_parse((const char *)data, size, &d) != 0)
		return 0;
	VX_ASSERT(d.len == 4 || d.len == 32 || d.len == 64);
	if (d.algo == VX_STORE_DIGEST_CRC32) {
		n = snprintf(text, sizeof(text), "crc32:%u",
			     (unsigned)d.value[0] << 24 | (unsigned)d.value[1] << 16 |
				     (unsigned)d.value[2] << 8 | d.value[3]);
	} else {
		n = snprintf(text, sizeof(text),
			     "%s:", d.algo == VX_STORE_DIGEST_SHA256 ? "sha256" : "sha512");
		for (uint32_t i = 0; i < d.len; i++)
			n += snprintf(text + n, sizeof(text) - (size_t)n, "%02x", d.value[i]);
	}
	VX_ASSERT(n > 0 && (size_t)n < sizeof(text));
	VX_ASSERT(vx_store_digest_parse(text, (size_t)n, &again) == 0);
	VX_ASSERT(again.algo == d.algo && again.len == d.len);
	VX_ASSERT(memcmp(again.value, d.value, d.len) == 0);
	return 0;
}
