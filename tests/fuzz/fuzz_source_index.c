/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_source_index.c: the HTTP directory index parser (vx_source_html_index_parse() in
 * sources/src/parse.c), as http.c's listing uses it. Whatever the page, every entry handed out
 * must be one plain name below the page: a decoded name without '/', '\', NUL or control
 * bytes, never "." or "..", and an href without a scheme, query, fragment or inner '/'.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_source_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_entry(void *arg, const char *href, const char *name, bool is_dir)
{
	size_t hn = strlen(href), nn = strlen(name);

	(void)arg;
	if (hn == 0 || hn > VX_SOURCE_INDEX_HREF_MAX || nn == 0 || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || is_dir != (href[hn - 1] == '/'))
		abort();
	for (size_t i = 0; i < nn; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
			abort();
	}
	if (strpbrk(href, "?#:\\") || memchr(href, '/', hn - is_dir))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int rc = vx_source_html_index_parse((const char *)data, size, on_entry, NULL);

	if (rc != 0 && rc != -E2BIG && rc != -ENOMEM)
		abort();
	return 0;
}
