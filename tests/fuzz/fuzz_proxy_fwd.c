/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_proxy_fwd.c: the forward proxy's parsers (vx_proxy_fwd.h), the ones proxy.c uses. The
 * first byte picks: even, the absolute-form target; odd, a rule (up to the first newline)
 * compiled and matched against the rest as a URL. Properties: a refused target leaves the
 * output zeroed; an accepted one has a host, a port, and its URL is the input with only the
 * scheme and authority lowercased, and parses the same way again; a rule compiles or fails
 * with nothing left allocated, and matching is repeatable.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vx_proxy_fwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_target(const char *s, size_t len)
{
	struct vx_proxy_target t, again, zero;
	int rc = vx_proxy_target_parse(s, len, &t);

	memset(&zero, 0, sizeof(zero));
	if (rc) {
		if (memcmp(&t, &zero, sizeof(t)) != 0 || (rc != -EINVAL && rc != -E2BIG))
			abort();
		return;
	}
	if (!t.host[0] || t.port == 0 || strlen(t.url) != len ||
	    strncmp(t.url, t.https ? "https://" : "http://", t.https ? 8 : 7) ||
	    strncasecmp(t.url, s, len) != 0 || strchr(t.url, '#') || strchr(t.url, ' '))
		abort();
	if (vx_proxy_target_parse(s, len, &again) != 0 || memcmp(&t, &again, sizeof(t)) != 0)
		abort();
}

static void check_rule(const char *s, size_t len)
{
	const char *nl = memchr(s, '\n', len);
	char *pat, *url, err[256];
	const char *pats[1];
	struct vx_proxy_rules r;
	size_t pl = nl ? (size_t)(nl - s) : len;

	pat = malloc(pl + 1);
	url = malloc(len - pl + 1);
	if (!pat || !url)
		goto out;
	memcpy(pat, s, pl);
	pat[pl] = '\0';
	memcpy(url, s + pl, len - pl);
	url[len - pl] = '\0';
	if (strlen(pat) != pl || strlen(url) != len - pl)
		goto out; /* NULs: not a config string */
	pats[0] = pat;
	if (vx_proxy_rules_compile(&r, pats, 1, err, sizeof(err)) == 0) {
		bool m = vx_proxy_rules_match(&r, url);

		if (r.n != 1 || vx_proxy_rules_match(&r, url) != m)
			abort();
		vx_proxy_rules_free(&r);
	} else if (r.n != 0 || !err[0]) {
		abort();
	}
out:
	free(pat);
	free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 8192)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	if (data[0] & 1)
		check_rule(s, size - 1);
	else
		check_target(s, size - 1);
	free(s);
	return 0;
}
