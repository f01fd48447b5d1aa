/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_proxy_connect.c: the CONNECT head parser (vx_proxy_connect_parse(), vx_proxy_fwd.h),
 * the one proxy/src/connect.c uses on what a client sends. The first byte picks the limit
 * (max = 16 * (byte + 1)). Properties: a refused or incomplete head leaves the output zeroed
 * and only the documented codes come back; a complete one is at most max bytes, ends in an
 * empty line, has a host and a port, and parses the same way again on exactly its bytes and
 * on any longer input; an incomplete one is never longer than max.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_proxy_fwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx_proxy_connect c, again, zero;
	const char *s = (const char *)data + 1;
	size_t len, max;
	int rc;

	if (size < 1 || size > 2 * VX_PROXY_CONNECT_HEAD_MAX)
		return 0;
	len = size - 1;
	max = 16u * ((size_t)data[0] + 1);
	memset(&zero, 0, sizeof(zero));
	rc = vx_proxy_connect_parse(s, len, max, &c);
	if (rc <= 0) {
		if (memcmp(&c, &zero, sizeof(c)) != 0 || (rc != 0 && rc != -EINVAL && rc != -E2BIG))
			abort();
		if (rc == 0 && len >= max)
			abort();
		return 0;
	}
	if ((size_t)rc > max || (size_t)rc > len || (size_t)rc < 4 ||
	    memcmp(s + rc - 4, "\r\n\r\n", 4) != 0 || !c.host[0] || c.port == 0)
		abort();
	if (vx_proxy_connect_parse(s, (size_t)rc, max, &again) != rc ||
	    memcmp(&c, &again, sizeof(c)) != 0)
		abort();
	/* whatever follows the head (the tunnel's data) does not change it */
	if (len > (size_t)rc) {
		char *longer = malloc(len + 1);

		if (!longer)
			return 0;
		memcpy(longer, s, (size_t)rc);
		memset(longer + rc, '\n', len + 1 - (size_t)rc);
		if (vx_proxy_connect_parse(longer, len + 1, max, &again) != rc ||
		    memcmp(&c, &again, sizeof(c)) != 0)
			abort();
		free(longer);
	}
	return 0;
}
