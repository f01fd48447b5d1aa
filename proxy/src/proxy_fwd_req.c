/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxy_fwd_req.c: the forward proxy's parsers (vx_proxy_fwd.h): the absolute-form target and
 * the P2P rules; and the CONNECT head (a small bounded parser of our own: Debian's
 * libhttp-parser is the archived nodejs/http-parser, and llhttp has no C package in Debian;
 * a CONNECT head needs only its request line, the header lines checked and skipped).
 */
#include "vx_proxy_fwd.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *const vx_proxy_rules_default[] = {
	/* an OCI registry's blob, by digest */
	"/v2/.+/blobs/sha256:[0-9a-f]{64}([?]|$)",
	/* archives, packages, disk images, model weights */
	"\\.(tar|tgz|gz|bz2|xz|zst|lz4|zip|7z|iso|img|qcow2|vmdk|raw|deb|rpm|apk|whl|jar|war|"
	"nupkg|crate|gem|bin|safetensors|gguf|ggml|pt|pth|ckpt|onnx|h5|npz|parquet)([?]|$)",
	NULL,
};

/*
 * Package repositories' metadata: it changes under the same URL (a task keyed by the URL would
 * serve yesterday's index), so it goes straight through even where a package rule (.gz, .xz)
 * would match it. APT: Release, InRelease, Packages, Sources (flat repositories too) and
 * dists/'s Contents, Translation, by-hash; Yum/DNF: repodata/ (repomd.xml, primary.xml.gz, ...); Maven:
 * maven-metadata.xml and its checksums; Alpine: APKINDEX.
 */
const char *const vx_proxy_direct_default[] = {
	"/(In)?Release(\\.gpg)?([?]|$)",
	"/(Packages|Sources)(\\.(gz|xz|bz2|lzma|zst))?([?]|$)",
	"/dists/[^?]*/(Contents-|Translation-|Components-|Commands-|icons-|by-hash/)",
	"/repodata/[^/?]+([?]|$)",
	"/maven-metadata\\.xml(\\.(sha1|sha256|sha512|md5|asc))?([?]|$)",
	"/APKINDEX\\.tar\\.gz([?]|$)",
	NULL,
};

/* A DNS name: labels of 1..63 letters, digits and '-', no '-' at either end. */
static bool dns_name(const char *h, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > VX_PROXY_HOST_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = h[i];

		if (c == '.') {
			if (label == 0 || h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-')
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && h[len - 1] != '-';
}

static int parse_port(const char *p, size_t len, uint16_t *out)
{
	uint32_t v = 0;

	if (len == 0 || len > 5 || (p[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint32_t)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* "[IPv6]" at @a (before @end) into @host (VX_PROXY_HOST_MAX + 1 bytes, no brackets): what
 * follows the ']', or NULL when it is not one inet_pton() takes. */
static const char *ipv6_literal(const char *a, const char *end, char *host)
{
	const char *rb = memchr(a, ']', (size_t)(end - a));
	unsigned char bin[16];
	char tmp[64];

	if (!rb || rb - a - 1 <= 0 || (size_t)(rb - a - 1) >= sizeof(tmp))
		return NULL;
	memcpy(tmp, a + 1, (size_t)(rb - a - 1));
	tmp[rb - a - 1] = '\0';
	if (inet_pton(AF_INET6, tmp, bin) != 1)
		return NULL;
	snprintf(host, VX_PROXY_HOST_MAX + 1, "%s", tmp);
	return rb + 1;
}

static int target_parse(const char *s, size_t len, struct vx_proxy_target *t)
{
	const char *a, *end = s + len, *host_end, *auth_end;
	size_t hl;

	if (len > VX_PROXY_FWD_URL_MAX)
		return -E2BIG;
	if (len >= 9 && strncasecmp(s, "https://", 8) == 0)
		t->https = true;
	else if (len < 8 || strncasecmp(s, "http://", 7) != 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '#')
			return -EINVAL;
	}
	a = s + (t->https ? 8 : 7);
	auth_end = a;
	while (auth_end < end && *auth_end != '/' && *auth_end != '?')
		auth_end++;
	if (memchr(a, '@', (size_t)(auth_end - a)))
		return -EINVAL;
	t->port = t->https ? 443 : 80;
	if (*a == '[') {
		host_end = ipv6_literal(a, auth_end, t->host);
		if (!host_end)
			return -EINVAL;
		t->ipv6 = true;
		if (host_end < auth_end && *host_end != ':')
			return -EINVAL;
	} else {
		host_end = memchr(a, ':', (size_t)(auth_end - a));
		if (!host_end)
			host_end = auth_end;
		hl = (size_t)(host_end - a);
		if (!dns_name(a, hl))
			return -EINVAL;
		for (size_t i = 0; i < hl; i++)
			t->host[i] = (char)tolower((unsigned char)a[i]);
		t->host[hl] = '\0';
	}
	if (host_end < auth_end &&
	    parse_port(host_end + 1, (size_t)(auth_end - host_end - 1), &t->port))
		return -EINVAL;
	/* scheme and host lowercased, the rest as given */
	for (size_t i = 0; i < len; i++)
		t->url[i] = s + i < auth_end ? (char)tolower((unsigned char)s[i]) : s[i];
	t->url[len] = '\0';
	return 0;
}

/* "host:port" of @len bytes into @c (host as target_parse() takes it, port required). */
static int authority_parse(const char *a, size_t len, struct vx_proxy_connect *c)
{
	const char *end = a + len, *colon;

	if (len == 0)
		return -EINVAL;
	if (*a == '[') {
		colon = ipv6_literal(a, end, c->host);
		if (!colon)
			return -EINVAL;
		c->ipv6 = true;
		if (colon >= end || *colon != ':')
			return -EINVAL;
	} else {
		colon = memchr(a, ':', len);
		if (!colon || !dns_name(a, (size_t)(colon - a)))
			return -EINVAL;
		for (size_t i = 0; i < (size_t)(colon - a); i++)
			c->host[i] = (char)tolower((unsigned char)a[i]);
		c->host[colon - a] = '\0';
	}
	return parse_port(colon + 1, (size_t)(end - colon - 1), &c->port);
}

/* One header line (without its CRLF): a token, ':', then visible ASCII, SP and HTAB. */
static bool header_line_ok(const char *s, size_t len)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	size_t i = 0;

	while (i < len && (isalnum((unsigned char)s[i]) || (s[i] && strchr(tchar, s[i]))))
		i++;
	if (i == 0 || i >= len || s[i] != ':')
		return false;
	for (i++; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static int connect_parse(const char *buf, size_t len, struct vx_proxy_connect *c)
{
	const char *eol = NULL, *sp1, *sp2, *p, *end = buf + len;

	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] == '\r' && buf[i + 1] == '\n') {
			eol = buf + i;
			break;
		}
	}
	if (!eol || (size_t)(eol - buf) < 8 || memcmp(buf, "CONNECT ", 8) != 0)
		return -EINVAL;
	sp1 = buf + 7;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (!sp2 || eol - sp2 != 9 ||
	    (memcmp(sp2 + 1, "HTTP/1.1", 8) != 0 && memcmp(sp2 + 1, "HTTP/1.0", 8) != 0))
		return -EINVAL;
	if (authority_parse(sp1 + 1, (size_t)(sp2 - sp1 - 1), c))
		return -EINVAL;
	/* header lines up to the empty one (the caller found "\r\n\r\n" at the end) */
	for (p = eol + 2; p < end;) {
		const char *e = NULL;

		for (const char *q = p; q + 1 < end; q++) {
			if (*q == '\r' && q[1] == '\n') {
				e = q;
				break;
			}
		}
		if (!e)
			return -EINVAL;
		if (e == p)
			return e + 2 == end ? 0 : -EINVAL;
		if (!header_line_ok(p, (size_t)(e - p)))
			return -EINVAL;
		p = e + 2;
	}
	return -EINVAL;
}

int vx_proxy_connect_parse(const char *buf, size_t len, size_t max, struct vx_proxy_connect *out)
{
	static const struct vx_proxy_connect none;
	struct vx_proxy_connect c = none;
	size_t head = 0;
	int rc;

	*out = none;
	if (max > VX_PROXY_CONNECT_HEAD_MAX)
		max = VX_PROXY_CONNECT_HEAD_MAX;
	/* the head ends at the first empty line; the request line itself may not be empty */
	for (size_t i = 2; i + 1 < len && i + 2 <= max; i++) {
		if (buf[i - 2] == '\r' && buf[i - 1] == '\n' && buf[i] == '\r' &&
		    buf[i + 1] == '\n') {
			head = i + 2;
			break;
		}
	}
	/* only CRLF ends a line: a bare LF (or CR) in the head is refused at once, not waited
	 * on (what follows the head is the tunnel's data, any bytes) */
	for (size_t i = 0, n = head ? head : VX_MIN(len, max); i < n; i++) {
		if ((buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')) ||
		    (buf[i] == '\r' && i + 1 < len && buf[i + 1] != '\n'))
			return -EINVAL;
	}
	if (!head) {
		if (len >= max)
			return -E2BIG;
		/* refuse early what can never become a CONNECT head */
		if (memcmp(buf, "CONNECT ", VX_MIN(len, (size_t)8)) != 0)
			return -EINVAL;
		return 0;
	}
	rc = connect_parse(buf, head, &c);
	if (rc)
		return rc;
	*out = c;
	return (int)head;
}

int vx_proxy_target_parse(const char *s, size_t len, struct vx_proxy_target *out)
{
	static const struct vx_proxy_target none;
	struct vx_proxy_target t = none;
	int rc = target_parse(s, len, &t);

	*out = rc ? none : t;
	return rc;
}

/*
 * Whether @p (@len bytes) stays within what regcomp() compiles in bounded memory and time:
 * no back-reference, no quantifier right after another ("a++": glibc's automaton grows with
 * each), at most RULE_QUANTS_MAX quantifiers, bounds {n,m} of at most RULE_BOUND_MAX.
 */
#define RULE_QUANTS_MAX 16
#define RULE_BOUND_MAX	100

static const char *rule_too_costly(const char *p, size_t len)
{
	uint32_t quants = 0;
	bool after_quant = false;

	for (size_t k = 0; k < len; k++) {
		char c = p[k];
		bool quant = c == '*' || c == '+' || c == '?' || c == '{';

		if (c == '\\' && k + 1 < len) {
			if (p[k + 1] >= '1' && p[k + 1] <= '9')
				return "back-references are refused";
			k++;
		} else if (c == '[') {
			/* a bracket expression: its characters are literals ("[]...]" too) */
			k += (k + 1 < len && p[k + 1] == ']') ? 2 : 1;
			while (k < len && p[k] != ']')
				k++;
		} else if (quant) {
			if (after_quant)
				return "a quantifier after a quantifier is refused";
			if (++quants > RULE_QUANTS_MAX)
				return "more than 16 quantifiers";
			if (c == '{') {
				unsigned long v = 0;

				for (k++; k < len && p[k] != '}'; k++) {
					if (p[k] >= '0' && p[k] <= '9')
						v = v * 10 + (unsigned long)(p[k] - '0');
					else
						v = 0;
					if (v > RULE_BOUND_MAX)
						return "a bound {n,m} over 100";
				}
			}
		}
		after_quant = quant;
	}
	return NULL;
}

int vx_proxy_rules_compile(struct vx_proxy_rules *r, const char *const *pats, uint32_t n, char *err,
			   size_t err_len)
{
	return vx_proxy_rules_compile_as(r, pats, n, vx_proxy_rules_default, "proxy.rules", err,
					 err_len);
}

int vx_proxy_rules_compile_as(struct vx_proxy_rules *r, const char *const *pats, uint32_t n,
			      const char *const *defaults, const char *key, char *err,
			      size_t err_len)
{
	uint32_t i;

	memset(r, 0, sizeof(*r));
	if (n == 0) {
		pats = defaults;
		while (pats[n])
			n++;
	}
	if (n > VX_PROXY_RULES_MAX) {
		snprintf(err, err_len, "at most %d %s", VX_PROXY_RULES_MAX, key);
		return -E2BIG;
	}
	for (i = 0; i < n; i++) {
		const char *p = pats[i], *why;
		size_t len = strnlen(p, VX_PROXY_RULE_MAX + 1);
		int rc;

		if (len > VX_PROXY_RULE_MAX) {
			snprintf(err, err_len, "%s[%u]: longer than %d bytes", key, i,
				 VX_PROXY_RULE_MAX);
			vx_proxy_rules_free(r);
			return -E2BIG;
		}
		why = rule_too_costly(p, len);
		if (why) {
			snprintf(err, err_len, "%s[%u]: %s", key, i, why);
			vx_proxy_rules_free(r);
			return -EINVAL;
		}
		rc = regcomp(&r->re[i], p, REG_EXTENDED | REG_ICASE | REG_NOSUB);
		if (rc) {
			char msg[128];

			regerror(rc, &r->re[i], msg, sizeof(msg));
			snprintf(err, err_len, "%s[%u]: %s", key, i, msg);
			vx_proxy_rules_free(r);
			return -EINVAL;
		}
		r->n++;
	}
	return 0;
}

bool vx_proxy_rules_match(const struct vx_proxy_rules *r, const char *url)
{
	for (uint32_t i = 0; i < r->n; i++) {
		if (regexec(&r->re[i], url, 0, NULL, 0) == 0)
			return true;
	}
	return false;
}

void vx_proxy_rules_free(struct vx_proxy_rules *r)
{
	for (uint32_t i = 0; i < r->n; i++)
		regfree(&r->re[i]);
	r->n = 0;
}
