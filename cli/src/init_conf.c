/* SPDX-License-Identifier: Apache-2.0 */
/*
 * init_conf.c: see init_conf.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "init_conf.h"
#include "vx_alloc.h"
#include "vx_net.h"

/* Room for the fixed text of a rendered file, and per upstream entry. */
#define INIT_RENDER_BASE      1024
#define INIT_RENDER_PER_ENTRY (3 * VX_INIT_ENDPOINT_MAX + 256)

static bool host_name_ok(const char *h)
{
	size_t n = strlen(h);

	if (!n || h[0] == '.' || h[n - 1] == '.' || h[0] == '-' || strstr(h, ".."))
		return false;
	for (const char *c = h; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' || *c == '_'))
			return false;
	}
	return true;
}

static bool host_v6_ok(const char *h)
{
	if (!*h)
		return false;
	for (const char *c = h; *c; c++) {
		if (!((*c >= 'a' && *c <= 'f') || (*c >= 'A' && *c <= 'F') ||
		      (*c >= '0' && *c <= '9') || *c == ':' || *c == '.'))
			return false;
	}
	return strchr(h, ':') != NULL;
}

int vx_init_parse_endpoint(const char *s, bool default_tls, struct vx_init_endpoint *out,
			   const char **why)
{
	char auth[VX_INIT_ENDPOINT_MAX], host[VX_INIT_ENDPOINT_MAX];
	size_t n;
	uint16_t port;

	memset(out, 0, sizeof(*out));
	out->tls = default_tls;
	if (strncasecmp(s, "https://", 8) == 0) {
		out->tls = true;
		s += 8;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		out->tls = false;
		s += 7;
	} else if (strstr(s, "://")) {
		*why = "only http:// and https:// are supported";
		return -EINVAL;
	}
	n = strlen(s);
	if (n && s[n - 1] == '/')
		n--;
	if (!n || n >= sizeof(auth)) {
		*why = n ? "too long" : "no host";
		return -EINVAL;
	}
	memcpy(auth, s, n);
	auth[n] = '\0';
	if (strchr(auth, '/') || strchr(auth, '@') || strchr(auth, '?') || strchr(auth, '#')) {
		*why = "give HOST[:PORT] only (no path, user or query)";
		return -EINVAL;
	}
	if (auth[0] == '[' && auth[n - 1] == ']') {
		/* [v6] without a port */
		memcpy(host, auth + 1, n - 2);
		host[n - 2] = '\0';
		if (!host_v6_ok(host)) {
			*why = "not an IPv6 address in brackets";
			return -EINVAL;
		}
	} else if (strchr(auth, ':')) {
		if (vx_net_parse_hostport(auth, 0, host, sizeof(host), &port)) {
			*why = "not HOST:PORT (port 1..65535, IPv6 in brackets)";
			return -EINVAL;
		}
		if (auth[0] == '[' ? !host_v6_ok(host) : !host_name_ok(host)) {
			*why = "the host is neither a DNS name nor an IP address";
			return -EINVAL;
		}
	} else if (!host_name_ok(auth)) {
		*why = "the host is neither a DNS name nor an IP address";
		return -EINVAL;
	}
	memcpy(out->authority, auth, n + 1);
	return 0;
}

struct strbuf {
	char *p;
	size_t len, cap;
};

VX_PRINTF(2, 3) static void sb_add(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	/* The buffer is sized from the inputs' limits; running out is a bug. */
	if (n > 0)
		b->len += (size_t)n < b->cap - b->len ? (size_t)n : b->cap - b->len - 1;
}

static const char *scheme(const struct vx_init_endpoint *e)
{
	return e->tls ? "https" : "http";
}

char *vx_init_render_hosts_toml(const struct vx_init_endpoint *mirror,
				const struct vx_init_endpoint *upstream)
{
	struct strbuf b = { .cap = INIT_RENDER_BASE + INIT_RENDER_PER_ENTRY };

	b.p = vx_malloc(b.cap);
	if (!b.p)
		return NULL;
	b.p[0] = '\0';
	if (upstream) {
		sb_add(&b,
		       VX_INIT_MARKER ": pulls from %s go to the vx mirror first; the registry\n"
				      "# itself (server) is the fallback when the mirror fails.\n",
		       upstream->authority);
		if (strcmp(upstream->authority, "docker.io") == 0)
			sb_add(&b, "server = \"https://registry-1.docker.io\"\n");
		else
			sb_add(&b, "server = \"%s://%s\"\n", scheme(upstream), upstream->authority);
	} else {
		sb_add(&b, VX_INIT_MARKER
		       ": pulls from every registry without a hosts.toml of\n"
		       "# its own go to the vx mirror first, then to the registry itself.\n");
	}
	sb_add(&b, "\n[host.\"%s://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
	       scheme(mirror), mirror->authority);
	return b.p;
}

char *vx_init_render_registries_conf(const struct vx_init_endpoint *mirror,
				     const struct vx_init_endpoint *upstreams, size_t nr)
{
	struct strbuf b = { .cap = INIT_RENDER_BASE + nr * INIT_RENDER_PER_ENTRY };

	b.p = vx_malloc(b.cap);
	if (!b.p)
		return NULL;
	b.p[0] = '\0';
	sb_add(&b, VX_INIT_MARKER
	       ": pulls from these registries go to the vx mirror first,\n"
	       "# then to the registry itself (containers-registries.conf(5), version 2).\n");
	for (size_t i = 0; i < nr; i++) {
		sb_add(&b, "\n[[registry]]\nlocation = \"%s\"\n", upstreams[i].authority);
		if (!upstreams[i].tls)
			sb_add(&b, "insecure = true\n");
		sb_add(&b, "\n[[registry.mirror]]\nlocation = \"%s\"\n", mirror->authority);
		if (!mirror->tls)
			sb_add(&b, "insecure = true\n");
	}
	return b.p;
}

/* The starts of the lines of @s (NULL: none), vx_malloc'ed, in @out; returns the count. */
static size_t split_lines(const char *s, const char ***out)
{
	size_t n = 0, i = 0;

	*out = NULL;
	if (!s || !*s)
		return 0;
	for (const char *c = s; *c; c++)
		n += *c == '\n';
	n += s[strlen(s) - 1] != '\n';
	*out = vx_mallocarray(n, sizeof(**out));
	if (!*out)
		return 0;
	for (const char *l = s; *l && i < n; i++) {
		const char *e = strchr(l, '\n');

		(*out)[i] = l;
		l = e ? e + 1 : l + strlen(l);
	}
	return n;
}

static size_t line_len(const char *l)
{
	const char *e = strchr(l, '\n');

	return e ? (size_t)(e - l) : strlen(l);
}

static bool line_eq(const char *a, const char *b)
{
	size_t n = line_len(a);

	return n == line_len(b) && memcmp(a, b, n) == 0;
}

static void put_lines(FILE *f, char tag, const char **l, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		fprintf(f, "%c%.*s\n", tag, (int)line_len(l[i]), l[i]);
}

void vx_init_write_diff(FILE *f, const char *path, const char *old, const char *new)
{
	const char **ol, **nl;
	size_t no, nn, pre = 0, suf = 0;

	if (old && strcmp(old, new) == 0)
		return;
	no = split_lines(old, &ol);
	nn = split_lines(new, &nl);
	while (pre < no && pre < nn && line_eq(ol[pre], nl[pre]))
		pre++;
	while (suf < no - pre && suf < nn - pre && line_eq(ol[no - 1 - suf], nl[nn - 1 - suf]))
		suf++;
	fprintf(f, "--- %s\n+++ %s\n", old ? path : "/dev/null", path);
	fprintf(f, "@@ -%zu,%zu +%zu,%zu @@\n", no ? (size_t)1 : 0, no, nn ? (size_t)1 : 0, nn);
	put_lines(f, ' ', nl, 0, pre);
	put_lines(f, '-', ol, pre, no - suf);
	put_lines(f, '+', nl, pre, nn - suf);
	put_lines(f, ' ', nl, nn - suf, nn);
	vx_free(ol);
	vx_free(nl);
}
