/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxy_req.c: the registry mirror's path and Range parsers (vx_proxy_req.h). The grammar is
 * the distribution spec's: a name is components of [a-z0-9]+ joined by ".", "_", "__" or runs
 * of "-", separated by "/"; a tag is [A-Za-z0-9_][A-Za-z0-9._-]{0,127}; a digest is
 * algorithm ":" encoded, and a sha256 one is 64 lowercase hex digits.
 */
#include "vx_proxy_req.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "vx_compiler.h"

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool alnum(char c)
{
	return lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* One path component of a name: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool name_component_ok(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (!lower_alnum(s[i]))
			return false;
		while (i < len && lower_alnum(s[i]))
			i++;
		if (i == len)
			return true;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i += (i + 1 < len && s[i + 1] == '_') ? 2 : 1;
		} else if (s[i] == '-') {
			while (i < len && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i == len)
			return false; /* a separator must be followed by a letter or digit */
	}
	return len > 0;
}

static bool name_ok(const char *s, size_t len)
{
	size_t start = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '/') {
			if (!name_component_ok(s + start, i - start))
				return false;
			start = i + 1;
		}
	}
	return true;
}

static bool tag_ok(const char *s, size_t len)
{
	if (len == 0 || len > 128 || !(alnum(s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++) {
		if (!(alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return false;
	}
	return true;
}

/* algorithm ":" encoded; sets *sha256 for a well-formed sha256 digest. */
static bool digest_ok(const char *s, size_t len, bool *sha256)
{
	const char *colon = memchr(s, ':', len);
	size_t alen, elen;

	*sha256 = false;
	if (!colon)
		return false;
	alen = (size_t)(colon - s);
	elen = len - alen - 1;
	if (alen == 0 || elen == 0 || !lower_alnum(s[0]) || !lower_alnum(s[alen - 1]))
		return false;
	for (size_t i = 1; i < alen; i++) {
		char c = s[i];

		if (!lower_alnum(c) &&
		    !((c == '+' || c == '.' || c == '_' || c == '-') && lower_alnum(s[i + 1])))
			return false;
	}
	for (size_t i = 0; i < elen; i++) {
		char c = colon[1 + i];

		if (!(alnum(c) || c == '=' || c == '_' || c == '-'))
			return false;
	}
	if (alen == 6 && memcmp(s, "sha256", 6) == 0) {
		if (elen != 64)
			return false;
		for (size_t i = 0; i < elen; i++) {
			char c = colon[1 + i];

			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
				return false;
		}
		*sha256 = true;
	}
	return true;
}

static bool ends_with(const char *s, size_t len, const char *suffix, size_t *cut)
{
	size_t n = strlen(suffix);

	if (len <= n || memcmp(s + len - n, suffix, n) != 0)
		return false;
	*cut = len - n;
	return true;
}

static int parse(const char *path, size_t len, struct vx_proxy_req *out)
{
	const char *rest, *slash;
	size_t rlen, head, tlen, name_len;

	if (len > VX_PROXY_PATH_MAX)
		return -E2BIG;
	if (len < 4 || memcmp(path, "/v2/", 4) != 0 || memchr(path, '\0', len))
		return -EINVAL;
	if (len == 4) {
		out->route = VX_PROXY_ROUTE_BASE;
		return 0;
	}
	rest = path + 4;
	rlen = len - 4;
	slash = NULL;
	for (size_t i = rlen; i > 0; i--) {
		if (rest[i - 1] == '/') {
			slash = rest + i - 1;
			break;
		}
	}
	if (!slash)
		return -ENOENT;
	head = (size_t)(slash - rest);
	tlen = rlen - head - 1;
	if (tlen == 4 && memcmp(slash + 1, "list", 4) == 0 &&
	    ends_with(rest, head, "/tags", &name_len)) {
		out->route = VX_PROXY_ROUTE_TAGS;
	} else if (ends_with(rest, head, "/blobs", &name_len)) {
		out->route = VX_PROXY_ROUTE_BLOB;
	} else if (ends_with(rest, head, "/manifests", &name_len)) {
		out->route = VX_PROXY_ROUTE_MANIFEST;
	} else {
		return -ENOENT; /* uploads, referrers, anything else */
	}
	if (name_len > VX_PROXY_NAME_MAX || tlen > VX_PROXY_REF_MAX)
		return -E2BIG;
	if (!name_ok(rest, name_len))
		return -EINVAL;
	memcpy(out->name, rest, name_len);
	out->name[name_len] = '\0';
	if (out->route == VX_PROXY_ROUTE_TAGS)
		return 0;
	if (tlen == 0)
		return -EINVAL;
	if (memchr(slash + 1, ':', tlen)) {
		if (!digest_ok(slash + 1, tlen, &out->sha256))
			return -EINVAL;
	} else if (out->route == VX_PROXY_ROUTE_BLOB || !tag_ok(slash + 1, tlen)) {
		return -EINVAL;
	}
	memcpy(out->ref, slash + 1, tlen);
	out->ref[tlen] = '\0';
	return 0;
}

int vx_proxy_req_parse(const char *path, size_t len, struct vx_proxy_req *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = parse(path, len, out);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* Decimal digits at s[*i..] into *v; false when there are none or it overflows. */
static bool decimal(const char *s, size_t len, size_t *i, uint64_t *v)
{
	size_t start = *i;

	*v = 0;
	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		uint64_t d = (uint64_t)(s[*i] - '0');

		if (*v > (UINT64_MAX - d) / 10)
			return false;
		*v = *v * 10 + d;
		(*i)++;
	}
	return *i > start;
}

int vx_proxy_range_parse(const char *s, size_t len, uint64_t length, struct vx_proxy_range *out)
{
	uint64_t a = 0, b = 0;
	bool has_a, has_b;
	size_t i = 6;

	memset(out, 0, sizeof(*out));
	if (len < 7 || strncasecmp(s, "bytes=", 6) != 0 || memchr(s, ',', len))
		return 0;
	has_a = decimal(s, len, &i, &a);
	if (i >= len || s[i] != '-')
		return 0;
	i++;
	has_b = decimal(s, len, &i, &b);
	if (i != len || (!has_a && !has_b))
		return 0; /* trailing bytes, overflow or "bytes=-": ignored */
	if (!has_a) {	  /* suffix: the last b bytes */
		if (b == 0 || length == 0)
			return -ERANGE;
		out->start = b >= length ? 0 : length - b;
		out->end = length - 1;
		return 1;
	}
	if (has_b && b < a)
		return 0;
	if (a >= length)
		return -ERANGE;
	out->start = a;
	out->end = has_b && b < length - 1 ? b : length - 1;
	return 1;
}
