/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_source_url.c: vx_source_url_parse() and vx_source_url_redact() on any bytes. A parsed
 * URL's members must be NUL-terminated strings inside its own buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_source_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const struct vx_source_url *u, const char *s)
{
	if (s < u->buf || s >= u->buf + sizeof(u->buf) ||
	    !memchr(s, '\0', sizeof(u->buf) - (size_t)(s - u->buf)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx_source_url *u = malloc(sizeof(*u));
	char *s, out[600];

	if (!u)
		return 0;
	if (vx_source_url_parse(u, (const char *)data, size) == 0) {
		inside(u, u->scheme);
		inside(u, u->user);
		inside(u, u->password);
		inside(u, u->host);
		inside(u, u->path);
		inside(u, u->query);
	}
	s = malloc(size + 1);
	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
		vx_source_url_redact(s, out, sizeof(out));
		if (strlen(out) >= sizeof(out))
			abort();
		free(s);
	}
	free(u);
	return 0;
}
