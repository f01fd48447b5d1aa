/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_source_http_head.c: HTTP response head pieces: each line of the input goes through
 * vx_source_header_split(), and Content-Range values through vx_source_content_range_parse().
 * Split results must lie inside the line; parsed ranges must be ordered.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vx_source_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct vx_source_content_range cr;

	if (vx_source_content_range_parse(&cr, p, size) == 0 && !cr.unsatisfied &&
	    (cr.first > cr.last || (cr.total >= 0 && cr.last >= (uint64_t)cr.total)))
		abort();
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		const char *name, *value;
		size_t name_len, value_len;

		if (vx_source_header_split(p, len, &name, &name_len, &value, &value_len) == 0) {
			if (name < p || name + name_len > p + len || value < p ||
			    value + value_len > p + len)
				abort();
			if (name_len == 13 && strncasecmp(name, "content-range", 13) == 0)
				if (vx_source_content_range_parse(&cr, value, value_len) == 0 &&
				    !cr.unsatisfied && cr.first > cr.last)
					abort();
		}
		p += len;
	}
	return 0;
}
