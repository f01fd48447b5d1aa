/* SPDX-License-Identifier: Apache-2.0 */
/*
 * url.c: the URL normalization Dragonfly hashes into task ids (vx_url.h). It follows the
 * WHATWG URL parser as Rust's `url` crate implements it, writing the serialization straight
 * into the caller's buffer (dot segments are resolved by truncating that buffer, as the crate
 * does), then applies the task-id query filter and the trailing-slash rule.
 *
 * No allocation: the cleaned input and the percent-decoded query pairs live in two bounded
 * stack buffers of VX_URL_INPUT_MAX bytes.
 */
#include "vx_url.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vx_assert.h"
#include "vx_err.h"
#include "vx_hex.h"
#include "vx_utf8.h"

static const char *const default_filters[] = {
	/* S3 */
	"X-Amz-Algorithm",
	"X-Amz-Credential",
	"X-Amz-Date",
	"X-Amz-Expires",
	"X-Amz-SignedHeaders",
	"X-Amz-Signature",
	"X-Amz-Security-Token",
	"X-Amz-User-Agent",
	/* GCS */
	"X-Goog-Algorithm",
	"X-Goog-Credential",
	"X-Goog-Date",
	"X-Goog-Expires",
	"X-Goog-SignedHeaders",
	"X-Goog-Signature",
	/* OSS */
	"OSSAccessKeyId",
	"Expires",
	"Signature",
	"SecurityToken",
	/* OBS */
	"AccessKeyId",
	"X-Obs-Date",
	"X-Obs-Security-Token",
	/* COS */
	"q-sign-algorithm",
	"q-ak",
	"q-sign-time",
	"q-key-time",
	"q-header-list",
	"q-url-param-list",
	"q-signature",
	"x-cos-security-token",
	/* containerd */
	"ns",
};

const char *const *vx_url_default_filtered_query_params(size_t *nr)
{
	*nr = VX_ARRAY_SIZE(default_filters);
	return default_filters;
}

/* ---- percent-encode sets (WHATWG, as the url crate spells them) ---- */

enum pct_set {
	SET_C0 = 1u << 0,	/* C0 controls and DEL (non-ASCII bytes are always encoded) */
	SET_FRAGMENT = 1u << 1, /* C0 + space " < > ` */
	SET_PATH = 1u << 2,	/* fragment + # ? { } */
	SET_USERINFO = 1u << 3, /* path + / : ; = @ [ \ ] ^ | */
};

static uint8_t set_of(uint8_t c)
{
	uint8_t m = 0;

	if (c >= 0x80 || c < 0x20 || c == 0x7F)
		return SET_C0 | SET_FRAGMENT | SET_PATH | SET_USERINFO;
	switch (c) {
	case ' ':
	case '"':
	case '<':
	case '>':
	case '`':
		m = SET_FRAGMENT | SET_PATH | SET_USERINFO;
		break;
	case '#':
	case '?':
	case '{':
	case '}':
		m = SET_PATH | SET_USERINFO;
		break;
	case '/':
	case ':':
	case ';':
	case '=':
	case '@':
	case '[':
	case '\\':
	case ']':
	case '^':
	case '|':
		m = SET_USERINFO;
		break;
	default:
		break;
	}
	return m;
}

/* ---- output writer: keeps one byte for the NUL; overflow is sticky ---- */

struct wr {
	char *p;
	size_t cap;
	size_t len;
	bool full;
};

static void put(struct wr *w, char c)
{
	if (w->len + 1 < w->cap)
		w->p[w->len++] = c;
	else
		w->full = true;
}

static void put_mem(struct wr *w, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put(w, s[i]);
}

static void put_str(struct wr *w, const char *s)
{
	put_mem(w, s, strlen(s));
}

static void put_pct(struct wr *w, uint8_t b)
{
	static const char hex[] = "0123456789ABCDEF";

	put(w, '%');
	put(w, hex[b >> 4]);
	put(w, hex[b & 15]);
}

static void put_encoded(struct wr *w, const char *s, size_t n, enum pct_set set)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i];

		if (set_of(c) & set)
			put_pct(w, c);
		else
			put(w, (char)c);
	}
}

static bool ends_with_slash(const struct wr *w)
{
	return w->len > 0 && w->p[w->len - 1] == '/';
}

/* ---- parser state ---- */

struct url {
	const char *s; /* cleaned input */
	size_t n;
	size_t i; /* cursor */
	struct wr w;
	enum vx_url_error err;
	bool special;
	bool file;
	int default_port; /* -1: none */
	size_t path_start;
	size_t path_end;
	bool opaque_path;
	bool has_host;
	char *scratch; /* VX_URL_INPUT_MAX bytes: decoded host, then decoded query pairs */
};

static int peek(const struct url *u)
{
	return u->i < u->n ? (unsigned char)u->s[u->i] : -1;
}

static ssize_t url_fail(struct url *u, enum vx_url_error why)
{
	u->err = why;
	return VX_EURL;
}

/* ---- hosts ---- */

/* IPv6 literal without brackets, WHATWG IPv6 parser. Returns 0 and the 8 pieces, or -1. */
static int parse_ipv6(const char *s, size_t n, uint16_t addr[8])
{
	size_t p = 0;
	int piece = 0, compress = -1;

	memset(addr, 0, 8 * sizeof(addr[0]));
#define C() (p < n ? (unsigned char)s[p] : -1)
	if (C() == ':') {
		if (p + 1 >= n || s[p + 1] != ':')
			return -1;
		p += 2;
		piece++;
		compress = piece;
	}
	while (C() != -1) {
		unsigned int value = 0, length = 0;

		if (piece == 8)
			return -1;
		if (C() == ':') {
			if (compress != -1)
				return -1;
			p++;
			piece++;
			compress = piece;
			continue;
		}
		while (length < 4 && C() != -1 && vx_hex_val((uint8_t)C()) >= 0) {
			value = value * 16 + (unsigned int)vx_hex_val((uint8_t)C());
			p++;
			length++;
		}
		if (C() == '.') {
			int seen = 0;

			if (length == 0)
				return -1;
			p -= length;
			if (piece > 6)
				return -1;
			while (C() != -1) {
				int v4 = -1;

				if (seen > 0) {
					if (C() == '.' && seen < 4)
						p++;
					else
						return -1;
				}
				if (C() < '0' || C() > '9')
					return -1;
				while (C() >= '0' && C() <= '9') {
					int d = C() - '0';

					if (v4 == -1)
						v4 = d;
					else if (v4 == 0)
						return -1;
					else
						v4 = v4 * 10 + d;
					if (v4 > 255)
						return -1;
					p++;
				}
				addr[piece] = (uint16_t)(addr[piece] * 0x100 + v4);
				seen++;
				if (seen == 2 || seen == 4)
					piece++;
			}
			if (seen != 4)
				return -1;
			break;
		} else if (C() == ':') {
			p++;
			if (C() == -1)
				return -1;
		} else if (C() != -1) {
			return -1;
		}
		addr[piece] = (uint16_t)value;
		piece++;
	}
#undef C
	if (compress != -1) {
		int swaps = piece - compress;

		piece = 7;
		while (piece != 0 && swaps > 0) {
			uint16_t t = addr[piece];

			addr[piece] = addr[compress + swaps - 1];
			addr[compress + swaps - 1] = t;
			piece--;
			swaps--;
		}
	} else if (piece != 8) {
		return -1;
	}
	return 0;
}

static void put_ipv6(struct wr *w, const uint16_t a[8])
{
	int best = -1, best_len = 1, i;
	bool ignore0 = false;
	char num[8];

	for (i = 0; i < 8;) {
		int j = i;

		while (j < 8 && a[j] == 0)
			j++;
		if (j - i > best_len) {
			best = i;
			best_len = j - i;
		}
		i = j > i ? j : i + 1;
	}
	put(w, '[');
	for (i = 0; i < 8; i++) {
		if (ignore0 && a[i] == 0)
			continue;
		ignore0 = false;
		if (best == i) {
			put_str(w, i == 0 ? "::" : ":");
			ignore0 = true;
			continue;
		}
		snprintf(num, sizeof(num), "%x", a[i]);
		put_str(w, num);
		if (i != 7)
			put(w, ':');
	}
	put(w, ']');
}

static ssize_t host_ipv6(struct url *u, const char *h, size_t n)
{
	uint16_t a[8];

	/* h includes the brackets */
	if (n < 2 || h[n - 1] != ']' || parse_ipv6(h + 1, n - 2, a) != 0)
		return url_fail(u, VX_URL_ERR_BAD_IPV6);
	put_ipv6(&u->w, a);
	return 0;
}

/*
 * One IPv4 part: 0 and *out set; 1 when the number overflows 32 bits; -1 when it is not a
 * number ("0x" hex and leading-zero octal accepted).
 */
static int ipv4_number(const char *s, size_t n, uint32_t *out)
{
	unsigned int radix = 10;
	uint64_t v = 0;

	if (n == 0)
		return -1;
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		n -= 2;
		radix = 16;
	} else if (n >= 2 && s[0] == '0') {
		s++;
		n--;
		radix = 8;
	}
	if (n == 0) {
		*out = 0;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		int d = vx_hex_val((uint8_t)s[i]);

		if (d < 0 || (unsigned int)d >= radix)
			return -1;
	}
	for (size_t i = 0; i < n; i++) {
		v = v * radix + (uint64_t)vx_hex_val((uint8_t)s[i]);
		if (v > UINT32_MAX)
			return 1;
	}
	*out = (uint32_t)v;
	return 0;
}

static bool ends_in_a_number(const char *h, size_t n)
{
	size_t end = n, start;
	uint32_t v;
	bool digits = true;

	if (end > 0 && h[end - 1] == '.') {
		if (end == 1)
			return false;
		end--;
	}
	start = end;
	while (start > 0 && h[start - 1] != '.')
		start--;
	if (start == end)
		return false;
	for (size_t i = start; i < end; i++) {
		if (h[i] < '0' || h[i] > '9')
			digits = false;
	}
	if (digits)
		return true;
	return ipv4_number(h + start, end - start, &v) >= 0;
}

static ssize_t host_ipv4(struct url *u, const char *h, size_t n)
{
	uint32_t nums[4], v4;
	size_t nr = 0, start = 0;
	char text[16];

	if (n > 0 && h[n - 1] == '.')
		n--;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && h[i] != '.')
			continue;
		if (nr == 4 || ipv4_number(h + start, i - start, &nums[nr]) != 0)
			return url_fail(u, VX_URL_ERR_BAD_IPV4);
		nr++;
		start = i + 1;
	}
	v4 = nums[nr - 1];
	if (nr > 1 && v4 > (UINT32_MAX >> (8 * (nr - 1))))
		return url_fail(u, VX_URL_ERR_BAD_IPV4);
	for (size_t i = 0; i + 1 < nr; i++) {
		if (nums[i] > 255)
			return url_fail(u, VX_URL_ERR_BAD_IPV4);
		v4 += nums[i] << (8 * (3 - i));
	}
	snprintf(text, sizeof(text), "%u.%u.%u.%u", v4 >> 24, (v4 >> 16) & 255, (v4 >> 8) & 255,
		 v4 & 255);
	put_str(&u->w, text);
	return 0;
}

static bool forbidden_host(uint8_t c)
{
	switch (c) {
	case 0:
	case '\t':
	case '\n':
	case '\r':
	case ' ':
	case '#':
	case '/':
	case ':':
	case '<':
	case '>':
	case '?':
	case '@':
	case '[':
	case '\\':
	case ']':
	case '^':
	case '|':
		return true;
	default:
		return false;
	}
}

static bool forbidden_domain(uint8_t c)
{
	return forbidden_host(c) || c < 0x20 || c == '%' || c == 0x7F;
}

/* A special-scheme host: percent-decode, lowercase, check, IPv4. @localhost_empty for file. */
static ssize_t host_special(struct url *u, const char *h, size_t n, bool localhost_empty)
{
	char *d = u->scratch;
	size_t dn = 0;

	if (n > 0 && h[0] == '[')
		return host_ipv6(u, h, n);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)h[i];

		if (c == '%' && i + 2 < n && vx_hex_val((uint8_t)h[i + 1]) >= 0 &&
		    vx_hex_val((uint8_t)h[i + 2]) >= 0) {
			c = (uint8_t)(vx_hex_val((uint8_t)h[i + 1]) * 16 +
				      vx_hex_val((uint8_t)h[i + 2]));
			i += 2;
		}
		if (c >= 0x80)
			return url_fail(u, VX_URL_ERR_IDN);
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c - 'A' + 'a');
		if (forbidden_domain(c))
			return url_fail(u, VX_URL_ERR_BAD_HOST);
		d[dn++] = (char)c;
	}
	if (dn == 0) {
		if (localhost_empty)
			return 0;
		return url_fail(u, VX_URL_ERR_EMPTY_HOST);
	}
	if (ends_in_a_number(d, dn))
		return host_ipv4(u, d, dn);
	if (localhost_empty && dn == 9 && memcmp(d, "localhost", 9) == 0)
		return 0;
	put_mem(&u->w, d, dn);
	return 0;
}

static ssize_t host_opaque(struct url *u, const char *h, size_t n)
{
	if (n > 0 && h[0] == '[')
		return host_ipv6(u, h, n);
	for (size_t i = 0; i < n; i++) {
		if (forbidden_host((uint8_t)h[i]))
			return url_fail(u, VX_URL_ERR_BAD_HOST);
	}
	put_encoded(&u->w, h, n, SET_C0);
	return 0;
}

/* ---- path ---- */

static bool seg_is(const char *seg, size_t n, const char *const *forms)
{
	for (; *forms; forms++) {
		if (strlen(*forms) == n && strncasecmp(seg, *forms, n) == 0)
			return true;
	}
	return false;
}

static void pop_path(struct url *u)
{
	struct wr *w = &u->w;
	size_t slash;

	if (w->len <= u->path_start)
		return;
	slash = w->len;
	while (slash > u->path_start && w->p[slash - 1] != '/')
		slash--;
	/* slash is one past the last '/' (the region always starts with '/') */
	w->len = slash;
}

/* rust-url's parse_path: segments are written, then dot segments undone in the buffer. */
static void parse_path(struct url *u)
{
	static const char *const dotdot[] = { "..", ".%2e", "%2e.", "%2e%2e", NULL };
	static const char *const dot[] = { ".", "%2e", NULL };
	struct wr *w = &u->w;

	for (;;) {
		size_t seg_start = w->len, seg_len;
		bool slash = false;

		while (u->i < u->n) {
			char c = u->s[u->i];

			if (c == '/' || (c == '\\' && u->special)) {
				put(w, '/');
				u->i++;
				slash = true;
				break;
			}
			if (c == '?' || c == '#')
				break;
			put_encoded(w, &c, 1, SET_PATH);
			u->i++;
		}
		if (w->full)
			return;
		seg_len = w->len - seg_start - (slash ? 1 : 0);
		if (seg_is(w->p + seg_start, seg_len, dotdot)) {
			w->len = seg_start;
			if (ends_with_slash(w)) {
				/* last_slash_can_be_removed: another '/' inside the path */
				size_t k = w->len - 1;

				while (k > 0 && w->p[k - 1] != '/')
					k--;
				if (k > 0 && k - 1 >= u->path_start)
					w->len--;
			}
			if (w->len != u->path_start)
				pop_path(u);
			if (slash && !ends_with_slash(w))
				put(w, '/');
		} else if (seg_is(w->p + seg_start, seg_len, dot)) {
			w->len = seg_start;
			if (!ends_with_slash(w))
				put(w, '/');
		}
		if (!slash)
			break;
	}
	if (u->file) {
		/* file paths keep a single leading slash */
		size_t k = u->path_start;

		while (k < w->len && w->p[k] == '/')
			k++;
		if (k > u->path_start + 1) {
			memmove(w->p + u->path_start + 1, w->p + k, w->len - k);
			w->len -= k - u->path_start - 1;
		}
	}
}

/* ---- authority ---- */

static bool auth_end(const struct url *u, char c)
{
	return c == '/' || c == '?' || c == '#' || (c == '\\' && u->special);
}

static ssize_t parse_authority(struct url *u)
{
	size_t end = u->i, at = SIZE_MAX, before = u->w.len, hs, he;
	ssize_t r;

	put_str(&u->w, "//");
	before = u->w.len;
	while (end < u->n && !auth_end(u, u->s[end])) {
		if (u->s[end] == '@')
			at = end;
		end++;
	}
	if (u->file && at != SIZE_MAX)
		return url_fail(u, VX_URL_ERR_BAD_HOST); /* '@' is a forbidden host code point */
	if (at == u->i) {
		if (at + 1 < u->n && auth_end(u, u->s[at + 1]))
			return url_fail(u, VX_URL_ERR_EMPTY_HOST);
		u->i = at + 1;
	} else if (at != SIZE_MAX) {
		size_t colon = SIZE_MAX;
		bool has_user = false, has_pass = false;

		for (size_t k = u->i; k < at; k++) {
			if (u->s[k] == ':' && colon == SIZE_MAX) {
				colon = k;
				if (k + 1 < at) {
					put(&u->w, ':');
					has_pass = true;
				}
				continue;
			}
			if (!has_pass)
				has_user = true;
			put_encoded(&u->w, &u->s[k], 1, SET_USERINFO);
		}
		if (has_user || has_pass)
			put(&u->w, '@');
		u->i = at + 1;
	}
	if (u->file && u->w.len != before)
		return url_fail(u, VX_URL_ERR_FILE_PORT);

	/* host: up to ':' outside brackets, or the end of the authority */
	hs = u->i;
	{
		bool in_brackets = false;

		he = hs;
		while (he < u->n && !auth_end(u, u->s[he])) {
			char c = u->s[he];

			if (c == ':' && !in_brackets)
				break;
			if (c == '[')
				in_brackets = true;
			else if (c == ']')
				in_brackets = false;
			he++;
		}
	}
	if (u->special && !u->file && he == hs)
		return url_fail(u, VX_URL_ERR_EMPTY_HOST);
	{
		size_t host_at = u->w.len;

		if (u->special)
			r = host_special(u, u->s + hs, he - hs, u->file);
		else
			r = host_opaque(u, u->s + hs, he - hs);
		if (r < 0)
			return r;
		u->has_host = u->w.len != host_at;
	}
	u->i = he;
	if (!u->has_host && !u->file) {
		if (peek(u) == ':' || u->w.len != before)
			return url_fail(u, VX_URL_ERR_EMPTY_HOST);
	}
	if (peek(u) == ':') {
		uint32_t port = 0;
		bool digits = false;
		char text[8];

		if (u->file)
			return url_fail(u, VX_URL_ERR_FILE_PORT);
		u->i++;
		while (u->i < u->n) {
			char c = u->s[u->i];

			if (c >= '0' && c <= '9') {
				port = port * 10 + (uint32_t)(c - '0');
				if (port > 65535)
					return url_fail(u, VX_URL_ERR_BAD_PORT);
				digits = true;
			} else if (c == '/' || c == '\\' || c == '?' || c == '#') {
				break;
			} else {
				return url_fail(u, VX_URL_ERR_BAD_PORT);
			}
			u->i++;
		}
		if (digits && (int)port != u->default_port) {
			snprintf(text, sizeof(text), ":%u", port);
			put_str(&u->w, text);
		}
	}
	return 0;
}

/* ---- query (task-id filter + form-urlencoded re-serialization) and fragment ---- */

/* Percent-decodes @n bytes at @s into @out ("+" is space). Returns the decoded length. */
static size_t form_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%' && i + 2 < n && vx_hex_val((uint8_t)s[i + 1]) >= 0 &&
			   vx_hex_val((uint8_t)s[i + 2]) >= 0) {
			c = (char)(vx_hex_val((uint8_t)s[i + 1]) * 16 +
				   vx_hex_val((uint8_t)s[i + 2]));
			i += 2;
		}
		out[o++] = c;
	}
	return o;
}

/* Equality of a lossily UTF-8 decoded @d (invalid subparts read as U+FFFD) with @f. */
static bool lossy_equals(const char *d, size_t n, const char *f)
{
	static const char fffd[] = "\xEF\xBF\xBD";
	size_t fl = strlen(f), fi = 0;

	while (n > 0) {
		size_t bad, ok = vx_utf8_next_error((const uint8_t *)d, n, &bad);

		if (ok > fl - fi || memcmp(d, f + fi, ok) != 0)
			return false;
		fi += ok;
		d += ok;
		n -= ok;
		if (bad) {
			if (fl - fi < 3 || memcmp(f + fi, fffd, 3) != 0)
				return false;
			fi += 3;
			d += bad;
			n -= bad;
		}
	}
	return fi == fl;
}

/* form_urlencoded byte_serialize of the lossy UTF-8 decoding of @d. */
static void put_form(struct wr *w, const char *d, size_t n)
{
	while (n > 0) {
		size_t bad, ok = vx_utf8_next_error((const uint8_t *)d, n, &bad);

		for (size_t i = 0; i < ok; i++) {
			uint8_t c = (uint8_t)d[i];

			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '*' || c == '-' || c == '.' || c == '_')
				put(w, (char)c);
			else if (c == ' ')
				put(w, '+');
			else
				put_pct(w, c);
		}
		d += ok;
		n -= ok;
		if (bad) {
			put_str(w, "%EF%BF%BD");
			d += bad;
			n -= bad;
		}
	}
}

static void filter_query(struct url *u, const char *q, size_t qn, const char *const *filters,
			 size_t nr_filters, char *scratch)
{
	size_t mark = u->w.len, start = 0;
	bool any = false;

	for (size_t i = 0; i <= qn; i++) {
		const char *pair = q + start;
		size_t pn = i - start, eq = 0, kn, vn;
		bool drop = false;

		if (i < qn && q[i] != '&')
			continue;
		start = i + 1;
		if (pn == 0)
			continue;
		while (eq < pn && pair[eq] != '=')
			eq++;
		kn = form_decode(pair, eq, scratch);
		vn = form_decode(pair + VX_MIN(eq + 1, pn), eq < pn ? pn - eq - 1 : 0,
				 scratch + kn);
		if (vx_utf8_valid((const uint8_t *)scratch, kn)) {
			/* the common case: a valid key compares byte for byte */
			for (size_t f = 0; f < nr_filters && !drop; f++)
				drop = strlen(filters[f]) == kn &&
				       memcmp(filters[f], scratch, kn) == 0;
		} else {
			for (size_t f = 0; f < nr_filters && !drop; f++)
				drop = lossy_equals(scratch, kn, filters[f]);
		}
		if (drop)
			continue;
		put(&u->w, any ? '&' : '?');
		any = true;
		put_form(&u->w, scratch, kn);
		put(&u->w, '=');
		put_form(&u->w, scratch + kn, vn);
	}
	if (!any)
		u->w.len = mark;
}

/* Scheme: lowercased into the output; sets special/file/default port. */
static ssize_t parse_scheme(struct url *u)
{
	static const struct {
		const char *name;
		int port;
	} specials[] = {
		{ "http", 80 }, { "https", 443 }, { "ws", 80 },
		{ "wss", 443 }, { "ftp", 21 },	  { "file", -1 },
	};
	const char *s = u->s;
	size_t j = 0;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return url_fail(u, VX_URL_ERR_NO_SCHEME);
	while (j < u->n && s[j] != ':') {
		char c = s[j];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '-' || c == '.'))
			break;
		put(&u->w, (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c);
		j++;
	}
	if (j == u->n || s[j] != ':')
		return url_fail(u, VX_URL_ERR_NO_SCHEME);
	for (size_t k = 0; k < VX_ARRAY_SIZE(specials) && !u->w.full; k++) {
		if (strlen(specials[k].name) == j && memcmp(u->w.p, specials[k].name, j) == 0) {
			u->special = true;
			u->default_port = specials[k].port;
			u->file = specials[k].port == -1;
		}
	}
	put(&u->w, ':');
	u->i = j + 1;
	return 0;
}

static bool is_slash(const struct url *u, size_t at)
{
	return at < u->n && (u->s[at] == '/' || u->s[at] == '\\');
}

/* Everything between the scheme and the query: authority (if any) and path. */
static ssize_t parse_hier(struct url *u)
{
	ssize_t r = 0;

	if (u->special) {
		if (!u->file) {
			while (is_slash(u, u->i))
				u->i++; /* any run of slashes and backslashes */
			r = parse_authority(u);
		} else if (is_slash(u, u->i) && is_slash(u, u->i + 1)) {
			u->i += 2;
			r = parse_authority(u);
		} else {
			put_str(&u->w, "//");
		}
		if (r < 0)
			return r;
		u->path_start = u->w.len;
		put(&u->w, '/');
		if (is_slash(u, u->i))
			u->i++;
		parse_path(u);
	} else if (u->i + 1 < u->n && u->s[u->i] == '/' && u->s[u->i + 1] == '/') {
		u->i += 2;
		r = parse_authority(u);
		if (r < 0)
			return r;
		u->path_start = u->w.len;
		if (peek(u) != '?' && peek(u) != '#' && peek(u) != -1) {
			if (peek(u) != '/')
				put(&u->w, '/');
			parse_path(u);
		}
	} else if (peek(u) == '/') {
		u->path_start = u->w.len;
		put(&u->w, '/');
		u->i++;
		parse_path(u);
	} else {
		u->path_start = u->w.len;
		u->opaque_path = true;
		while (u->i < u->n && u->s[u->i] != '?' && u->s[u->i] != '#') {
			put_encoded(&u->w, &u->s[u->i], 1, SET_C0);
			u->i++;
		}
	}
	u->path_end = u->w.len;
	return 0;
}

/* A host-less path starting with "//" would read back as an authority: the crate adds "/.". */
static void protect_hostless_path(struct url *u)
{
	struct wr *w = &u->w;

	if (u->has_host || u->opaque_path || u->special || w->full ||
	    u->path_end - u->path_start < 2 || w->p[u->path_start] != '/' ||
	    w->p[u->path_start + 1] != '/' || w->p[u->path_start - 1] != ':')
		return;
	put_str(w, "/.");
	if (w->full)
		return;
	memmove(w->p + u->path_start + 2, w->p + u->path_start, u->path_end - u->path_start);
	memcpy(w->p + u->path_start, "/.", 2);
	u->path_start += 2;
	u->path_end += 2;
}

/* Query through the task-id filter, fragment, and Dragonfly's trailing-slash rule. */
static void parse_query_fragment(struct url *u, const char *const *filters, size_t nr_filters)
{
	struct wr *w = &u->w;

	if (peek(u) == '?') {
		size_t qs = ++u->i, qe = qs;

		while (qe < u->n && u->s[qe] != '#')
			qe++;
		if (!filters)
			filters = vx_url_default_filtered_query_params(&nr_filters);
		filter_query(u, u->s + qs, qe - qs, filters, nr_filters, u->scratch);
		u->i = qe;
	}
	if (u->opaque_path && w->len == u->path_end && peek(u) != '#') {
		/* query gone, no fragment: the crate strips trailing spaces of an opaque path */
		while (w->len > u->path_start && w->p[w->len - 1] == ' ')
			w->len--;
	}
	if (peek(u) == '#') {
		put(w, '#');
		u->i++;
		put_encoded(w, u->s + u->i, u->n - u->i, SET_FRAGMENT);
	}
	/* Dragonfly: a URL whose path is exactly "/" loses its trailing slashes. */
	if (!w->full && u->path_end - u->path_start == 1 && w->p[u->path_start] == '/') {
		while (w->len > 0 && w->p[w->len - 1] == '/')
			w->len--;
	}
}

ssize_t vx_url_normalize_for_task_id(const char *url, size_t url_len, const char *const *filters,
				     size_t nr_filters, char *out, size_t out_len,
				     enum vx_url_error *why)
{
	char s[VX_URL_INPUT_MAX];
	char scratch[VX_URL_INPUT_MAX];
	struct url u;
	size_t b = 0, e = url_len, n = 0;
	ssize_t r;

	VX_ASSERT(url != NULL || url_len == 0);
	VX_ASSERT(out != NULL || out_len == 0);
	if (out_len)
		out[0] = '\0';
	if (why)
		*why = VX_URL_OK;
	if (url_len > VX_URL_INPUT_MAX) {
		if (why)
			*why = VX_URL_ERR_TOO_LONG;
		return -E2BIG;
	}
	memset(&u, 0, sizeof(u));
	u.default_port = -1;
	u.w.p = out;
	u.w.cap = out_len;
	u.s = s;
	u.scratch = scratch;
	if (!vx_utf8_valid((const uint8_t *)url, url_len)) {
		r = url_fail(&u, VX_URL_ERR_NOT_UTF8);
		goto out_fail;
	}
	/* Trim C0 controls and spaces at both ends; drop tabs and newlines everywhere. */
	while (b < e && (uint8_t)url[b] <= 0x20)
		b++;
	while (e > b && (uint8_t)url[e - 1] <= 0x20)
		e--;
	for (size_t i = b; i < e; i++) {
		if (url[i] != '\t' && url[i] != '\n' && url[i] != '\r')
			s[n++] = url[i];
	}
	u.n = n;
	if (n == 0) {
		r = url_fail(&u, VX_URL_ERR_EMPTY);
		goto out_fail;
	}
	r = parse_scheme(&u);
	if (r == 0)
		r = parse_hier(&u);
	if (r < 0)
		goto out_fail;
	protect_hostless_path(&u);
	parse_query_fragment(&u, filters, nr_filters);
	if (u.w.full) {
		u.err = VX_URL_ERR_NO_SPACE;
		r = -ENOSPC;
		goto out_fail;
	}
	out[u.w.len] = '\0';
	return (ssize_t)u.w.len;
out_fail:
	if (why)
		*why = u.err;
	if (out_len)
		out[0] = '\0';
	return r;
}

static const char *const url_errors[VX_URL_ERR_NR] = {
	[VX_URL_OK] = "no error",
	[VX_URL_ERR_EMPTY] = "URL is empty",
	[VX_URL_ERR_TOO_LONG] = "URL is longer than 8192 bytes",
	[VX_URL_ERR_NOT_UTF8] = "URL is not valid UTF-8",
	[VX_URL_ERR_NO_SCHEME] = "URL has no scheme (relative URLs are not accepted)",
	[VX_URL_ERR_EMPTY_HOST] = "URL has an empty host",
	[VX_URL_ERR_BAD_HOST] = "URL host contains a forbidden character",
	[VX_URL_ERR_IDN] = "internationalized (non-ASCII) host names are not supported",
	[VX_URL_ERR_BAD_IPV4] = "URL host is not a valid IPv4 address",
	[VX_URL_ERR_BAD_IPV6] = "URL host is not a valid [IPv6] address",
	[VX_URL_ERR_BAD_PORT] = "URL port is not a number from 0 to 65535",
	[VX_URL_ERR_NO_SPACE] = "output buffer too small for the normalized URL",
	[VX_URL_ERR_FILE_PORT] = "file: URLs cannot carry credentials or a port",
};

const char *vx_url_strerror(enum vx_url_error why)
{
	if ((unsigned int)why >= VX_URL_ERR_NR)
		return "unknown URL error";
	return url_errors[why];
}

/* ---- redaction for logs and stored records ---- */

/*
 * Query keys whose values are secrets (or grant access by themselves): every signed-URL key of
 * the task-id filter list above except containerd's "ns", plus the keys below (S3 SigV2, GCS
 * v2, WebHDFS, Azure SAS, CloudFront and the usual bearer-token names). Matched
 * case-insensitively on the percent-decoded key.
 */
static const char *const credential_extra[] = {
	"AWSAccessKeyId",
	"GoogleAccessId",
	"delegation",
	"sig",
	"se",
	"st",
	"sv",
	"sp",
	"sr",
	"ss",
	"srt",
	"spr",
	"skoid",
	"sktid",
	"skt",
	"ske",
	"sks",
	"skv",
	"Policy",
	"Key-Pair-Id",
	"token",
	"access_token",
	"id_token",
	"refresh_token",
	"api_key",
	"apikey",
	"password",
	"passwd",
	"secret",
	"auth",
	"authorization",
	/* GitLab, generic API keys, OSS V4 signatures, Akamai and Alibaba/Tencent CDN auth */
	"private_token",
	"key",
	"x-oss-signature",
	"x-oss-credential",
	"x-oss-security-token",
	"hdnts",
	"sign",
	"auth_key",
};

static bool in_list(const char *const *list, size_t nr, const char *d, size_t dn)
{
	for (size_t i = 0; i < nr; i++) {
		if (strlen(list[i]) == dn && strncasecmp(list[i], d, dn) == 0)
			return true;
	}
	return false;
}

/* A request's own filtered query keys (NULL, 0: none), credentials for that request. */
struct url_keys {
	const char *const *keys;
	uint32_t nr;
};

/* Whether @d (@dn decoded bytes) is one of @k's keys; NULL and empty entries match nothing. */
static bool in_keys(const struct url_keys *k, const char *d, size_t dn)
{
	for (uint32_t i = 0; k && i < k->nr; i++) {
		if (k->keys[i] && k->keys[i][0] && in_list(&k->keys[i], 1, d, dn))
			return true;
	}
	return false;
}

/*
 * Whether the query key @k (@n raw bytes) names a credential: one of the lists, or a key the
 * request's own filter list @extra removes from the task id (it would not filter a key that
 * made no difference to who may read the object).
 */
static bool credential_key(const char *k, size_t n, const struct url_keys *extra)
{
	char d[256];
	size_t dn;

	if (n >= sizeof(d))
		return false; /* longer than every name in the lists, even encoded */
	dn = form_decode(k, n, d);
	if (in_keys(extra, d, dn))
		return true;
	if (dn == 2 && strncmp(d, "ns", 2) == 0)
		return false; /* containerd's namespace: a filter, not a secret */
	return in_list(default_filters, VX_ARRAY_SIZE(default_filters), d, dn) ||
	       in_list(credential_extra, VX_ARRAY_SIZE(credential_extra), d, dn);
}

/* Bounds of the parts of @url that redaction cares about; no validation beyond that. */
struct url_parts {
	size_t auth, at;   /* authority start; end of user-info ("@" index + 1) or 0 */
	size_t query, end; /* "?" index (or @end); end of the query (fragment or NUL) */
};

static void url_split(const char *url, size_t len, struct url_parts *u)
{
	const char *sep = NULL;
	size_t auth_end;

	memset(u, 0, sizeof(*u));
	for (size_t i = 0; i + 2 < len && !strchr("/?#", url[i]); i++) {
		if (url[i] == ':' && url[i + 1] == '/' && url[i + 2] == '/') {
			sep = url + i + 3;
			break;
		}
	}
	u->auth = sep ? (size_t)(sep - url) : 0;
	auth_end = u->auth;
	while (sep && auth_end < len && !strchr("/?#\\", url[auth_end])) {
		if (url[auth_end] == '@')
			u->at = auth_end + 1;
		auth_end++;
	}
	u->query = auth_end;
	while (u->query < len && url[u->query] != '?' && url[u->query] != '#')
		u->query++;
	u->end = u->query;
	while (u->end < len && url[u->end] != '#')
		u->end++;
	if (u->query < len && url[u->query] == '#')
		u->end = u->query; /* no query, only a fragment */
}

static bool has_credentials(const char *url, size_t len, const struct url_keys *extra)
{
	struct url_parts u;

	url_split(url, len, &u);
	if (u.at)
		return true;
	for (size_t k = u.query + 1; k < u.end;) {
		size_t e = k, eq;

		while (e < u.end && url[e] != '&' && url[e] != ';')
			e++;
		for (eq = k; eq < e && url[eq] != '='; eq++)
			;
		if (credential_key(url + k, eq - k, extra))
			return true;
		k = e + 1;
	}
	return false;
}

bool vx_url_has_credentials(const char *url, size_t len)
{
	return has_credentials(url, len, NULL);
}

bool vx_url_has_credentials_keys(const char *url, size_t len, const char *const *keys,
				 uint32_t nr_keys)
{
	const struct url_keys k = { keys, nr_keys };

	return has_credentials(url, len, &k);
}

static const char *redact(const char *url, size_t len, const struct url_keys *extra, char *out,
			  size_t out_len)
{
	struct wr w = { out, out_len, 0, false };
	struct url_parts u;

	if (out_len == 0)
		return "";
	if (!url) {
		url = "";
		len = 0;
	}
	url_split(url, len, &u);
	put_mem(&w, url, u.auth);
	if (u.at)
		put_str(&w, VX_URL_REDACTED "@");
	put_mem(&w, url + (u.at ? u.at : u.auth), u.query - (u.at ? u.at : u.auth));
	for (size_t k = u.query; k < u.end;) {
		size_t e = k + 1, eq;

		while (e < u.end && url[e] != '&' && url[e] != ';')
			e++;
		for (eq = k + 1; eq < e && url[eq] != '='; eq++)
			;
		if (eq < e && credential_key(url + k + 1, eq - k - 1, extra)) {
			put_mem(&w, url + k, eq + 1 - k);
			put_str(&w, VX_URL_REDACTED);
		} else {
			put_mem(&w, url + k, e - k);
		}
		k = e;
	}
	if (u.end < len)
		put_str(&w, "#" VX_URL_REDACTED);
	out[w.len] = '\0';
	return out;
}

const char *vx_url_redact(const char *url, size_t len, char *out, size_t out_len)
{
	return redact(url, len, NULL, out, out_len);
}

const char *vx_url_redact_keys(const char *url, size_t len, const char *const *keys,
			       uint32_t nr_keys, char *out, size_t out_len)
{
	const struct url_keys k = { keys, nr_keys };

	return redact(url, len, &k, out, out_len);
}

const char *vx_url_redact_str(const char *url, char *out, size_t out_len)
{
	return vx_url_redact(url, url ? strlen(url) : 0, out, out_len);
}
