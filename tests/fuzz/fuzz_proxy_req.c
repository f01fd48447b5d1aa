/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_proxy_req.c: the registry mirror's request parsers (vx_proxy_req.h), the ones proxy.c
 * uses. The first byte picks the parser: even, the path; odd, a Range header against a length
 * taken from the next 8 bytes. Properties: an error leaves the output zeroed; a parsed name is
 * non-empty lowercase text of the grammar's characters, a blob's ref is a digest, and the
 * same path parses the same way again; a range lies inside the content.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_proxy_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_path(const char *s, size_t len)
{
	struct vx_proxy_req r, again, zero;
	int rc = vx_proxy_req_parse(s, len, &r);

	memset(&zero, 0, sizeof(zero));
	if (rc) {
		if (memcmp(&r, &zero, sizeof(r)) != 0 ||
		    (rc != -EINVAL && rc != -E2BIG && rc != -ENOENT))
			abort();
		return;
	}
	if (r.route != VX_PROXY_ROUTE_BASE) {
		size_t n = strlen(r.name);

		if (n == 0 || n > VX_PROXY_NAME_MAX ||
		    strspn(r.name, "abcdefghijklmnopqrstuvwxyz0123456789._-/") != n)
			abort();
	}
	if (r.route == VX_PROXY_ROUTE_BLOB && !strchr(r.ref, ':'))
		abort();
	if (r.sha256 && (strncmp(r.ref, "sha256:", 7) != 0 || strlen(r.ref) != 71))
		abort();
	if (vx_proxy_req_parse(s, len, &again) != 0 || memcmp(&r, &again, sizeof(r)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx_proxy_range rg;
	uint64_t length = 0;
	char *s;

	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		s = malloc(size - 1 ? size - 1 : 1);
		if (!s)
			return 0;
		memcpy(s, data + 1, size - 1);
		check_path(s, size - 1);
		free(s);
		return 0;
	}
	if (size < 9)
		return 0;
	memcpy(&length, data + 1, 8);
	s = malloc(size - 9 ? size - 9 : 1);
	if (!s)
		return 0;
	memcpy(s, data + 9, size - 9);
	switch (vx_proxy_range_parse(s, size - 9, length, &rg)) {
	case 1:
		if (rg.start > rg.end || rg.end >= length)
			abort();
		break;
	case 0:
	case -ERANGE:
		break;
	default:
		abort();
	}
	free(s);
	return 0;
}
