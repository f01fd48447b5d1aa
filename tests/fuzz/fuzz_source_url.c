/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_source_url.c: vx_source_url_parse(), vx_source_url_redact(), vx_url_redact(),
 * vx_url_redact_keys() and vx_url_has_credentials(_keys)() on any bytes. A parsed URL's members must be NUL-terminated strings
 * inside its own buffer; redaction stays inside its buffer and is idempotent (a redacted URL
 * redacts to itself: nothing it keeps looks like a credential any more).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_source_parse.h"
#include "vx_url.h"

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
	{
		size_t cap = size + 64 + 9 * (size + 1);
		char *r1 = malloc(cap), *r2 = malloc(cap);

		if (r1 && r2 && !memchr(data, 0, size)) {
			(void)vx_url_has_credentials((const char *)data, size);
			vx_url_redact((const char *)data, size, r1, cap);
			vx_url_redact(r1, strlen(r1), r2, cap);
			if (strcmp(r1, r2) != 0)
				abort();
			/* with a request's own filtered keys (an empty and a NULL entry among them):
			 * a URL with credentials of either kind is redacted, idempotently */
			{
				static const char *const keys[] = { "cdn_tok", "", NULL, "X" };

				if (vx_url_has_credentials((const char *)data, size) &&
				    !vx_url_has_credentials_keys((const char *)data, size, keys, 4))
					abort();
				vx_url_redact_keys((const char *)data, size, keys, 4, r1, cap);
				vx_url_redact_keys(r1, strlen(r1), keys, 4, r2, cap);
				if (strcmp(r1, r2) != 0)
					abort();
			}
		}
		free(r1);
		free(r2);
	}
	free(u);
	return 0;
}
