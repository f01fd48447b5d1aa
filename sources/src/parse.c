/* SPDX-License-Identifier: Apache-2.0 */
/*
 * parse.c: URLs, Content-Range, header lines and WWW-Authenticate challenges. Pure functions
 * over (pointer, length) pairs: nothing here allocates, blocks or trusts a NUL terminator.
 * Each is fuzzed (tests/fuzz/fuzz_source_*.c).
 */
#include "vx_source_parse.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "source_int.h"
#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_hex.h"
#include "vx_source.h"
#include "vx_url.h"

_Static_assert(sizeof(((struct vx_source_url *)0)->buf) >= VX_SOURCE_URL_MAX + 16,
	       "a parsed URL must fit its buffer with all NULs");

/* Appends @n bytes to the url's buffer as one NUL-terminated string; returns it or NULL. */
static const char *url_put(struct vx_source_url *u, size_t *used, const char *p, size_t n)
{
	char *dst = u->buf + *used;

	if (*used + n + 1 > sizeof(u->buf))
		return NULL;
	memcpy(dst, p, n);
	dst[n] = '\0';
	*used += n + 1;
	return dst;
}

ssize_t vx__pct_decode(const char *p, size_t n, char *dst, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (c == '%') {
			if (i + 2 >= n || vx_hex_val((unsigned char)p[i + 1]) < 0 ||
			    vx_hex_val((unsigned char)p[i + 2]) < 0)
				return VX_EURL;
			c = (char)(vx_hex_val((unsigned char)p[i + 1]) << 4 |
				   vx_hex_val((unsigned char)p[i + 2]));
			i += 2;
		}
		if (c == '\0' || o + 1 >= cap)
			return VX_EURL;
		dst[o++] = c;
	}
	if (cap == 0)
		return VX_EURL;
	dst[o] = '\0';
	return (ssize_t)o;
}

/* Percent-decodes @n bytes into the URL's buffer; returns the string or NULL. */
static const char *url_put_decoded(struct vx_source_url *u, size_t *used, const char *p, size_t n)
{
	char *dst = u->buf + *used;
	ssize_t len = vx__pct_decode(p, n, dst, sizeof(u->buf) - *used);

	if (len < 0)
		return NULL;
	*used += (size_t)len + 1;
	return dst;
}

static int url_parse_host(struct vx_source_url *u, size_t *used, const char *p, size_t n)
{
	const char *host = p;
	size_t host_len = n;
	const char *colon = NULL;

	if (n == 0)
		return VX_EURL;
	if (p[0] == '[') {
		const char *close = memchr(p, ']', n);

		if (!close || close == p + 1)
			return VX_EURL;
		host = p + 1;
		host_len = (size_t)(close - host);
		for (size_t i = 0; i < host_len; i++) {
			if (vx_hex_val((unsigned char)host[i]) < 0 && host[i] != ':' &&
			    host[i] != '.')
				return VX_EURL;
		}
		u->ipv6 = true;
		if (close + 1 < p + n) {
			if (close[1] != ':')
				return VX_EURL;
			colon = close + 1;
		}
	} else {
		colon = memchr(p, ':', n);
		if (colon)
			host_len = (size_t)(colon - p);
		if (host_len == 0)
			return VX_EURL;
		for (size_t i = 0; i < host_len; i++) {
			unsigned char c = (unsigned char)host[i];

			if (!isalnum(c) && c != '-' && c != '.' && c != '_' && c != '%')
				return VX_EURL;
		}
	}
	if (colon) {
		unsigned long port = 0;
		const char *q = colon + 1;
		const char *end = p + n;

		if (q == end || end - q > 5)
			return VX_EURL;
		for (; q < end; q++) {
			if (*q < '0' || *q > '9')
				return VX_EURL;
			port = port * 10 + (unsigned long)(*q - '0');
		}
		if (port == 0 || port > 65535) {
			u->why = "invalid port: not a number from 1 to 65535";
			return VX_EURL;
		}
		u->port = (uint16_t)port;
	}
	u->host = url_put(u, used, host, host_len);
	if (!u->host)
		return VX_EURL;
	for (char *h = (char *)u->host; *h; h++)
		*h = (char)tolower((unsigned char)*h);
	return 0;
}

int vx_source_url_parse(struct vx_source_url *u, const char *s, size_t len)
{
	size_t used = 0;
	size_t i;
	const char *auth, *auth_end, *at, *rest, *end;

	memset(u, 0, sizeof(*u));
	if (len == 0 || len >= VX_SOURCE_URL_MAX)
		goto bad;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f)
			goto bad;
	}
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
	for (i = 0; i < len && s[i] != ':'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(isalpha(c) || (i > 0 && (isdigit(c) || c == '+' || c == '-' || c == '.'))))
			goto bad;
	}
	if (i == 0 || i > 32 || len - i < 3 || memcmp(s + i, "://", 3) != 0)
		goto bad;
	u->scheme = url_put(u, &used, s, i);
	if (!u->scheme)
		goto bad;
	for (char *c = (char *)u->scheme; *c; c++)
		*c = (char)tolower((unsigned char)*c);

	end = s + len;
	{
		const char *hash = memchr(s, '#', len);

		if (hash)
			end = hash;
	}
	auth = s + i + 3;
	auth_end = auth;
	while (auth_end < end && *auth_end != '/' && *auth_end != '?')
		auth_end++;
	rest = auth_end;

	at = NULL;
	for (const char *c = auth; c < auth_end; c++) {
		if (*c == '@')
			at = c;
	}
	if (at) {
		const char *colon = memchr(auth, ':', (size_t)(at - auth));
		size_t ulen = colon ? (size_t)(colon - auth) : (size_t)(at - auth);

		u->user = url_put_decoded(u, &used, auth, ulen);
		if (!u->user)
			goto bad;
		if (colon) {
			u->password =
				url_put_decoded(u, &used, colon + 1, (size_t)(at - colon - 1));
			if (!u->password)
				goto bad;
		}
		auth = at + 1;
	}
	if (auth == auth_end && strcmp(u->scheme, "file") == 0) {
		u->host = url_put(u, &used, "", 0); /* file:///path */
	} else if (url_parse_host(u, &used, auth, (size_t)(auth_end - auth)) != 0) {
		goto bad;
	}

	{
		const char *q = memchr(rest, '?', (size_t)(end - rest));
		const char *path_end = q ? q : end;

		u->path = url_put(u, &used, rest, (size_t)(path_end - rest));
		u->query = q ? url_put(u, &used, q + 1, (size_t)(end - q - 1))
			     : url_put(u, &used, "", 0);
		if (!u->path || !u->query)
			goto bad;
	}
	if (!u->user)
		u->user = url_put(u, &used, "", 0);
	if (!u->password)
		u->password = url_put(u, &used, "", 0);
	if (!u->user || !u->password)
		goto bad;
	return 0;
bad : {
	const char *why = u->why;

	memset(u, 0, sizeof(*u));
	u->why = why ? why : "not scheme://host[:port]/path with a valid host";
	return VX_EURL;
}
}

void vx_source_url_redact(const char *s, char *out, size_t size)
{
	(void)vx_url_redact_str(s, out, size);
}

/* Parses a decimal u63 at *p (advancing it); -EPROTO when none or on overflow. */
static int parse_u63(const char **p, const char *end, uint64_t *v)
{
	uint64_t x = 0;
	const char *s = *p;

	if (s == end || *s < '0' || *s > '9')
		return -EPROTO;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (x > ((uint64_t)INT64_MAX - 9) / 10)
			return -EPROTO;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*v = x;
	return 0;
}

int vx_source_content_range_parse(struct vx_source_content_range *cr, const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	uint64_t total;

	memset(cr, 0, sizeof(*cr));
	cr->total = -1;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (end - p < 6 || strncasecmp(p, "bytes", 5) != 0 || (p[5] != ' ' && p[5] != '='))
		goto bad;
	p += 6;
	while (p < end && *p == ' ')
		p++;
	if (p < end && *p == '*') {
		p++;
		if (p == end || *p != '/')
			goto bad;
		p++;
		if (parse_u63(&p, end, &total) != 0 || p != end)
			goto bad;
		cr->unsatisfied = true;
		cr->total = (int64_t)total;
		return 0;
	}
	if (parse_u63(&p, end, &cr->first) != 0 || p == end || *p++ != '-')
		goto bad;
	if (parse_u63(&p, end, &cr->last) != 0 || p == end || *p++ != '/')
		goto bad;
	if (cr->first > cr->last)
		goto bad;
	if (p < end && *p == '*' && p + 1 == end)
		return 0;
	if (parse_u63(&p, end, &total) != 0 || p != end || cr->last >= total)
		goto bad;
	cr->total = (int64_t)total;
	return 0;
bad:
	memset(cr, 0, sizeof(*cr));
	cr->total = -1;
	return -EPROTO;
}

int vx_source_header_split(const char *line, size_t len, const char **name, size_t *name_len,
			   const char **value, size_t *value_len)
{
	const char *colon, *v, *end = line + len;

	*name = NULL;
	*value = NULL;
	*name_len = 0;
	*value_len = 0;
	while (end > line && (end[-1] == '\r' || end[-1] == '\n'))
		end--;
	if (end == line)
		return -ENODATA;
	if ((size_t)(end - line) >= 5 && memcmp(line, "HTTP/", 5) == 0)
		return -ENODATA;
	colon = memchr(line, ':', (size_t)(end - line));
	if (!colon || colon == line)
		return -EPROTO;
	for (const char *c = line; c < colon; c++) {
		unsigned char ch = (unsigned char)*c;

		/* RFC 9110 token characters only; a space before the colon is a smuggling hint. */
		if (ch <= 0x20 || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch))
			return -EPROTO;
	}
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const char *c = v; c < end; c++) {
		if ((unsigned char)*c < 0x20 && *c != '\t')
			return -EPROTO;
	}
	*name = line;
	*name_len = (size_t)(colon - line);
	*value = v;
	*value_len = (size_t)(end - v);
	return 0;
}

static bool is_tchar(char c)
{
	unsigned char ch = (unsigned char)c;

	return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Copies a token or quoted-string at *p into @dst (cap @cap); -EMSGSIZE/-EPROTO on trouble. */
static int challenge_value(const char **p, const char *end, char *dst, size_t cap)
{
	const char *s = *p;
	size_t o = 0;

	if (s < end && *s == '"') {
		s++;
		for (;;) {
			if (s == end)
				return -EPROTO;
			if (*s == '"')
				break;
			if (*s == '\\') {
				if (++s == end)
					return -EPROTO;
			}
			if ((unsigned char)*s < 0x20)
				return -EPROTO;
			if (o + 1 >= cap)
				return -EMSGSIZE;
			dst[o++] = *s++;
		}
		s++;
	} else {
		while (s < end && (is_tchar(*s) || *s == '/')) {
			if (o + 1 >= cap)
				return -EMSGSIZE;
			dst[o++] = *s++;
		}
		if (o == 0)
			return -EPROTO;
	}
	dst[o] = '\0';
	*p = s;
	return 0;
}

static void skip_ows(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
}

int vx_source_challenge_parse(struct vx_source_challenge *c, const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	int rc = -ENOENT;

	memset(c, 0, sizeof(*c));
	while (p < end) {
		const char *scheme;
		size_t scheme_len;
		bool want;
		struct vx_source_challenge tmp;

		memset(&tmp, 0, sizeof(tmp));
		skip_ows(&p, end);
		while (p < end && *p == ',') {
			p++;
			skip_ows(&p, end);
		}
		if (p == end)
			break;
		scheme = p;
		while (p < end && is_tchar(*p))
			p++;
		scheme_len = (size_t)(p - scheme);
		if (scheme_len == 0) {
			rc = -EPROTO;
			goto out;
		}
		want = (scheme_len == 5 && strncasecmp(scheme, "basic", 5) == 0) ||
		       (scheme_len == 6 && strncasecmp(scheme, "bearer", 6) == 0);
		if (want) {
			for (size_t i = 0; i < scheme_len; i++)
				tmp.scheme[i] = (char)tolower((unsigned char)scheme[i]);
		}
		/* auth-params: name=value pairs separated by commas, until the next scheme. */
		for (;;) {
			const char *name, *save;
			size_t name_len;
			char val[VX_SOURCE_CHALLENGE_PARAM_MAX];
			int vrc;

			save = p;
			skip_ows(&p, end);
			if (p < end && *p == ',') {
				p++;
				skip_ows(&p, end);
			}
			name = p;
			while (p < end && is_tchar(*p))
				p++;
			name_len = (size_t)(p - name);
			skip_ows(&p, end);
			if (name_len == 0 || p == end || *p != '=') {
				/* Not a param: the start of the next challenge (or the end). */
				p = name_len ? name : p;
				if (name_len == 0 && p < end && *p != ',') {
					rc = -EPROTO;
					goto out;
				}
				(void)save;
				break;
			}
			p++;
			skip_ows(&p, end);
			vrc = challenge_value(&p, end, val, sizeof(val));
			if (vrc != 0) {
				rc = vrc;
				goto out;
			}
			if (!want)
				continue;
			if (name_len == 5 && strncasecmp(name, "realm", 5) == 0)
				snprintf(tmp.realm, sizeof(tmp.realm), "%s", val);
			else if (name_len == 7 && strncasecmp(name, "service", 7) == 0)
				snprintf(tmp.service, sizeof(tmp.service), "%s", val);
			else if (name_len == 5 && strncasecmp(name, "scope", 5) == 0)
				snprintf(tmp.scope, sizeof(tmp.scope), "%s", val);
			else if (name_len == 5 && strncasecmp(name, "error", 5) == 0)
				snprintf(tmp.error, sizeof(tmp.error), "%.63s", val);
		}
		if (want && rc == -ENOENT) {
			*c = tmp;
			rc = 0;
		}
	}
out:
	if (rc != 0)
		memset(c, 0, sizeof(*c));
	return rc;
}

/* ---------------------------------------------------------------- HTML directory indexes */

/* Case-insensitive prefix test of @w at @p (@end bound). */
static bool ci_at(const char *p, const char *end, const char *w)
{
	size_t n = strlen(w);

	return (size_t)(end - p) >= n && strncasecmp(p, w, n) == 0;
}

/* The five entities an index page writes in an attribute; others stay as written. */
static size_t entity(const char *p, const char *end, char *out)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = { { "&amp;", '&' },	{ "&lt;", '<' },   { "&gt;", '>' },
		     { "&quot;", '"' }, { "&#39;", '\'' }, { "&#x27;", '\'' } };

	for (size_t i = 0; i < VX_ARRAY_SIZE(ents); i++) {
		if (ci_at(p, end, ents[i].name)) {
			*out = ents[i].c;
			return strlen(ents[i].name);
		}
	}
	*out = *p;
	return 1;
}

/*
 * Reads the href value of the <a> tag that starts at @p (after "<a"); its raw bytes, entities
 * resolved, into @href. Returns where the tag ends, and *@n the length (0: none or too long).
 */
static const char *tag_href(const char *p, const char *end, char *href, size_t *n)
{
	*n = 0;
	while (p < end && *p != '>') {
		char q;

		if (!ci_at(p, end, "href") ||
		    !(p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n' || p[-1] == '\r')) {
			if (*p == '"' || *p == '\'') { /* skip another attribute's quoted value */
				const char *c = memchr(p + 1, *p, (size_t)(end - p - 1));

				p = c ? c + 1 : end;
				continue;
			}
			p++;
			continue;
		}
		p += 4;
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (p == end || *p != '=')
			continue;
		p++;
		while (p < end && isspace((unsigned char)*p))
			p++;
		q = p < end && (*p == '"' || *p == '\'') ? *p++ : 0;
		while (p < end && (q ? *p != q : !isspace((unsigned char)*p) && *p != '>')) {
			char c;
			size_t k = entity(p, end, &c);

			if (*n < VX_SOURCE_INDEX_HREF_MAX)
				href[*n] = c;
			++*n;
			p += k;
		}
		if (q && p < end)
			p++;
		if (*n > VX_SOURCE_INDEX_HREF_MAX)
			*n = 0; /* too long: not an entry */
		href[*n] = '\0';
		/* the first href of a tag is the one */
		while (p < end && *p != '>')
			p++;
		return p;
	}
	return p;
}

/* Whether @href (@n bytes) names one plain entry below the page; its decoded name to @name. */
static bool index_entry(const char *href, size_t n, char *name, size_t cap, bool *is_dir)
{
	ssize_t d;

	*is_dir = n > 0 && href[n - 1] == '/';
	if (*is_dir)
		n--;
	if (n == 0 || memchr(href, '/', n) || memchr(href, '?', n) || memchr(href, '#', n) ||
	    memchr(href, ':', n) || memchr(href, '\\', n))
		return false; /* a path, a query, a fragment, a scheme (or a name with ':') */
	d = vx__pct_decode(href, n, name, cap);
	if (d <= 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (ssize_t i = 0; i < d; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
			return false;
	}
	return true;
}

int vx_source_html_index_parse(const char *doc, size_t len, vx_source_index_fn fn, void *arg)
{
	const char *p = doc, *end = doc + len;
	char *href, *name, *last;
	uint32_t count = 0;
	int rc = 0;

	if (len > VX_SOURCE_DOC_MAX)
		return -E2BIG;
	href = vx_malloc(3 * (VX_SOURCE_INDEX_HREF_MAX + 1));
	if (!href)
		return -ENOMEM;
	name = href + VX_SOURCE_INDEX_HREF_MAX + 1;
	last = name + VX_SOURCE_INDEX_HREF_MAX + 1;
	last[0] = '\0';
	while (!rc && p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		size_t n;
		bool dir;

		if (!lt)
			break;
		p = lt + 1;
		if (!ci_at(p, end, "a") || p + 1 >= end || !isspace((unsigned char)p[1]))
			continue;
		p = tag_href(p + 1, end, href, &n);
		if (!n || strcmp(href, last) == 0 ||
		    !index_entry(href, n, name, VX_SOURCE_INDEX_HREF_MAX + 1, &dir))
			continue;
		memcpy(last, href, n + 1);
		if (++count > VX_SOURCE_INDEX_MAX) {
			rc = -E2BIG;
			break;
		}
		rc = fn(arg, href, name, dir);
	}
	vx_free(href);
	return rc;
}
