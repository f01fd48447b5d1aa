/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_digest.c: vx_digest_spec_parse() on arbitrary bytes under each accept set its callers
 * use. It must never read past the input; whatever it accepts must print back (lowercase hex,
 * plain decimal) to a text that parses to the same digest under the strictest set that holds
 * the algorithm; what the OCI set accepts, the user set accepts too.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vx_assert.h"
#include "vx_digest.h"
#include "vx_hex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned accepts[] = {
	VX_DIGEST_USER,
	VX_DIGEST_OCI,
	VX_DIGEST_ACCEPT_SHA256 | VX_DIGEST_LOWER_HEX,
};

static void check(const char *s, size_t len, unsigned accept)
{
	struct vx_digest_spec d, again;
	char text[VX_DIGEST_SPEC_MAX + 1];
	int n;

	if (vx_digest_spec_parse(s, len, accept, &d) != 0)
		return;
	VX_ASSERT(accept & (1u << d.algo));
	VX_ASSERT(d.len == (d.algo == VX_DIGEST_CRC32	 ? 4u
			    : d.algo == VX_DIGEST_SHA256 ? 32u
							 : 64u));
	if (accept & VX_DIGEST_LOWER_HEX)
		VX_ASSERT(vx_digest_spec_parse(s, len, accept & ~VX_DIGEST_LOWER_HEX, &again) == 0);
	if (d.algo == VX_DIGEST_CRC32) {
		n = snprintf(text, sizeof(text), "crc32:%u",
			     (unsigned)d.value[0] << 24 | (unsigned)d.value[1] << 16 |
				     (unsigned)d.value[2] << 8 | d.value[3]);
	} else {
		memcpy(text, d.algo == VX_DIGEST_SHA256 ? "sha256:" : "sha512:", 7);
		vx_hex_encode(d.value, d.len, text + 7);
		n = 7 + 2 * (int)d.len;
	}
	VX_ASSERT(n > 0 && (size_t)n < sizeof(text));
	VX_ASSERT(vx_digest_spec_parse(text, (size_t)n, (1u << d.algo) | VX_DIGEST_LOWER_HEX,
				       &again) == 0);
	VX_ASSERT(again.algo == d.algo && again.len == d.len);
	VX_ASSERT(memcmp(again.value, d.value, d.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < sizeof(accepts) / sizeof(accepts[0]); i++)
		check((const char *)data, size, accepts[i]);
	if (vx_digest_spec_valid((const char *)data, size, VX_DIGEST_OCI))
		VX_ASSERT(vx_digest_spec_valid((const char *)data, size, VX_DIGEST_USER));
	return 0;
}
