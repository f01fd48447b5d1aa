/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hostaddr.c: this host's routable address (vx_hostaddr.h). The routing table parser is pure
 * (fuzzed by tests/fuzz/fuzz_route.c); the rest reads /proc and calls getifaddrs().
 */
#include "vx_hostaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_file.h"

#define ROUTE_FIELDS_MAX 12
#define ROUTE_FILE_MAX	 (4u << 20)
#define RTF_UP_BIT	 0x1u
#define RTF_REJECT_BIT	 0x200u

struct field {
	const char *s;
	size_t n;
};

/* Hex digits @f into @out (at most 16 digits); false when anything else is in it. */
static bool field_hex(const struct field *f, uint64_t *out)
{
	uint64_t v = 0;

	if (f->n == 0 || f->n > 16)
		return false;
	for (size_t i = 0; i < f->n; i++) {
		char c = f->s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return false;
		v = v << 4 | d;
	}
	*out = v;
	return true;
}

static bool field_dec(const struct field *f, uint64_t *out)
{
	uint64_t v = 0;

	if (f->n == 0 || f->n > 10)
		return false;
	for (size_t i = 0; i < f->n; i++) {
		if (f->s[i] < '0' || f->s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(f->s[i] - '0');
	}
	*out = v;
	return true;
}

/* A string of zeros only (a hex address of any width). */
static bool field_zero(const struct field *f)
{
	if (f->n == 0)
		return false;
	for (size_t i = 0; i < f->n; i++) {
		if (f->s[i] != '0')
			return false;
	}
	return true;
}

/* Splits line [@s, @e) at blanks into at most ROUTE_FIELDS_MAX fields; returns how many. */
static unsigned split(const char *s, const char *e, struct field *f)
{
	unsigned n = 0;

	while (s < e) {
		const char *b;

		while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
			s++;
		if (s == e)
			break;
		b = s;
		while (s < e && *s != ' ' && *s != '\t' && *s != '\r')
			s++;
		if (n == ROUTE_FIELDS_MAX)
			return ROUTE_FIELDS_MAX + 1; /* not a routing table line */
		f[n].s = b;
		f[n].n = (size_t)(s - b);
		n++;
	}
	return n;
}

/* The interface, flags and metric of a default route line, or false. */
static bool line_default(int family, const struct field *f, unsigned n, struct field *ifn,
			 uint64_t *metric)
{
	uint64_t flags, plen;

	if (family == AF_INET) {
		/* Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT */
		if (n < 8 || !field_zero(&f[1]) || f[1].n != 8 || !field_zero(&f[7]) ||
		    f[7].n != 8 || !field_hex(&f[3], &flags) || !field_dec(&f[6], metric))
			return false;
		*ifn = f[0];
	} else {
		/* dest plen src splen nexthop metric refcnt use flags iface */
		if (n != 10 || f[0].n != 32 || !field_zero(&f[0]) || !field_hex(&f[1], &plen) ||
		    plen != 0 || !field_hex(&f[5], metric) || !field_hex(&f[8], &flags))
			return false;
		*ifn = f[9];
	}
	for (size_t i = 0; i < ifn->n; i++) {
		if ((unsigned char)ifn->s[i] <= ' ' || ifn->s[i] == '/' || ifn->s[i] == 0x7f)
			return false; /* not an interface name (NUL, control, blank, slash) */
	}
	return (flags & RTF_UP_BIT) && !(flags & RTF_REJECT_BIT) && ifn->n > 0 &&
	       ifn->n < IF_NAMESIZE && !(ifn->n == 2 && memcmp(ifn->s, "lo", 2) == 0);
}

int vx_route_default_if(int family, const char *text, size_t len, char ifname[IF_NAMESIZE])
{
	const char *p = text, *end = text + len;
	struct field f[ROUTE_FIELDS_MAX], best = { 0 };
	uint64_t best_metric = UINT64_MAX;
	bool found = false;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		struct field ifn;
		uint64_t metric;
		unsigned n;

		if (!e)
			e = end;
		n = split(p, e, f);
		if (n <= ROUTE_FIELDS_MAX && line_default(family, f, n, &ifn, &metric) &&
		    (!found || metric < best_metric)) {
			best = ifn;
			best_metric = metric;
			found = true;
		}
		p = e + (e < end);
	}
	if (!found)
		return -ENOENT;
	memcpy(ifname, best.s, best.n);
	ifname[best.n] = '\0';
	return 0;
}

bool vx_ip_is_loopback(const char *ip)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, ip, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, ip, &a6) != 1)
		return false;
	if (IN6_IS_ADDR_V4MAPPED(&a6))
		return a6.s6_addr[12] == 127;
	return IN6_IS_ADDR_LOOPBACK(&a6);
}

static bool addr_usable(const struct sockaddr *sa)
{
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr);

		return (a >> 24) != 127 && (a >> 16) != 0xa9fe && a != 0;
	}
	return !IN6_IS_ADDR_LOOPBACK(a6) && !IN6_IS_ADDR_LINKLOCAL(a6) &&
	       !IN6_IS_ADDR_UNSPECIFIED(a6) && !IN6_IS_ADDR_V4MAPPED(a6);
}

int vx_host_routable_ip(int family, char *out, size_t out_len)
{
	const char *path = family == AF_INET ? "/proc/net/route" : "/proc/net/ipv6_route";
	char ifname[IF_NAMESIZE], *text = NULL;
	struct ifaddrs *ifa = NULL;
	size_t len = 0;
	int fd, rc;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	rc = vx_file_read_stream(fd, ROUTE_FILE_MAX, &text, &len);
	close(fd);
	if (rc)
		return rc;
	rc = vx_route_default_if(family, text, len, ifname);
	vx_free(text);
	if (rc)
		return rc;
	if (getifaddrs(&ifa) == -1)
		return -errno;
	rc = -ENOENT;
	for (const struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		const void *a;

		if (!i->ifa_addr || i->ifa_addr->sa_family != family ||
		    strcmp(i->ifa_name, ifname) != 0 || !addr_usable(i->ifa_addr))
			continue;
		if (family == AF_INET)
			a = &((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr;
		else
			a = &((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr;
		if (inet_ntop(family, a, out, (socklen_t)out_len))
			rc = 0;
		break;
	}
	freeifaddrs(ifa);
	return rc;
}
