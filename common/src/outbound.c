/* SPDX-License-Identifier: Apache-2.0 */
/*
 * outbound.c: the outbound address policy of vx_outbound.h: a strict CIDR parser, range
 * matching, and the special ranges a fetch for another host may not reach.
 */
#include "vx_outbound.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* A decimal number without sign or leading zeros, at most @max. Returns -1 when not. */
static int parse_dec(const char *s, size_t len, int max)
{
	int v = 0;

	if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

static int parse_v4(const char *s, size_t len, uint8_t out[4])
{
	size_t start = 0;
	int n = 0;

	for (size_t i = 0; i <= len; i++) {
		int v;

		if (i < len && s[i] != '.')
			continue;
		if (n == 4)
			return -EINVAL;
		v = parse_dec(s + start, i - start, 255);
		if (v < 0)
			return -EINVAL;
		out[n++] = (uint8_t)v;
		start = i + 1;
	}
	return n == 4 ? 0 : -EINVAL;
}

int vx_cidr_parse(const char *s, size_t len, struct vx_cidr *out)
{
	char buf[VX_CIDR_TEXT_MAX + 1];
	const char *slash;
	struct vx_cidr c = { 0 };
	size_t alen;
	int max, bits;

	if (!s || len == 0 || len > VX_CIDR_TEXT_MAX || memchr(s, '\0', len))
		return -EINVAL;
	slash = memchr(s, '/', len);
	alen = slash ? (size_t)(slash - s) : len;
	if (alen == 0)
		return -EINVAL;
	if (memchr(s, ':', alen)) {
		memcpy(buf, s, alen);
		buf[alen] = '\0';
		if (inet_pton(AF_INET6, buf, c.addr) != 1)
			return -EINVAL;
		c.family = AF_INET6;
		max = 128;
	} else {
		if (parse_v4(s, alen, c.addr))
			return -EINVAL;
		c.family = AF_INET;
		max = 32;
	}
	bits = max;
	if (slash) {
		bits = parse_dec(slash + 1, len - alen - 1, max);
		if (bits < 0)
			return -EINVAL;
	}
	c.bits = (uint8_t)bits;
	/* host bits must be zero: "10.0.0.1/8" is a typo for something, refuse it */
	for (int b = bits; b < max; b++) {
		if (c.addr[b / 8] & (0x80u >> (b % 8)))
			return -EINVAL;
	}
	*out = c;
	return 0;
}

/* @sa as a family and address bytes, mapped IPv6 turned into IPv4. Returns false if neither. */
static bool addr_of(const struct sockaddr *sa, int *family, uint8_t a[16])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (sa->sa_family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		*family = AF_INET;
		return true;
	}
	if (sa->sa_family != AF_INET6)
		return false;
	memcpy(a, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
	*family = AF_INET6;
	if (memcmp(a, mapped, sizeof(mapped)) == 0) {
		memmove(a, a + 12, 4);
		*family = AF_INET;
	}
	return true;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	return rest == 0 || ((a[full] ^ b[full]) & (0xffu << (8 - rest)) & 0xffu) == 0;
}

static bool match(const struct vx_cidr *c, int family, const uint8_t a[16])
{
	return c->family == family && prefix_eq(c->addr, a, c->bits);
}

bool vx_cidr_match(const struct vx_cidr *c, const struct sockaddr *sa)
{
	uint8_t a[16];
	int family;

	return addr_of(sa, &family, a) && match(c, family, a);
}

/*
 * Loopback, link-local, cloud metadata, unspecified, multicast, broadcast: only for a local
 * requester. NAT64's well-known prefix reaches any IPv4 address, metadata included.
 */
static bool special(int family, const uint8_t a[16])
{
	static const uint8_t zero[16];
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };

	if (family == AF_INET)
		return a[0] == 127 || (a[0] == 169 && a[1] == 254) || a[0] == 0 ||
		       (a[0] == 100 && a[1] == 100 && a[2] == 100 && a[3] == 200) || /* Alibaba */
		       (a[0] >= 224);	   /* multicast 224/4, reserved 240/4, broadcast */
	return memcmp(a, zero, 16) == 0 || /* :: */
	       memcmp(a, nat64, sizeof(nat64)) == 0 ||			    /* 64:ff9b::/96 */
	       (memcmp(a, zero, 15) == 0 && a[15] == 1) ||		    /* ::1 */
	       (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||		    /* fe80::/10 */
	       a[0] == 0xff ||						    /* ff00::/8 */
	       (a[0] == 0xfd && a[1] == 0 && a[2] == 0x0e && a[3] == 0xc2); /* fd00:ec2::/32 */
}

int vx_outbound_add(struct vx_outbound_policy *p, const char *cidr, bool deny)
{
	struct vx_cidr c;
	uint32_t *nr = deny ? &p->nr_deny : &p->nr_allow;

	if (!cidr || vx_cidr_parse(cidr, strlen(cidr), &c))
		return -EINVAL;
	if (*nr == VX_OUTBOUND_MAX)
		return -ENOSPC;
	(deny ? p->deny : p->allow)[(*nr)++] = c;
	return 0;
}

static int refuse(int family, const uint8_t a[16], char *why, size_t why_len)
{
	char ip[INET6_ADDRSTRLEN];

	if (!inet_ntop(family, a, ip, sizeof(ip)))
		snprintf(ip, sizeof(ip), "?");
	if (why_len)
		snprintf(why, why_len, "outbound address %s refused by policy", ip);
	return -EACCES;
}

int vx_outbound_check(const struct vx_outbound_policy *p, bool local, const struct sockaddr *sa,
		      char *why, size_t why_len)
{
	uint8_t a[16];
	int family;
	bool allowed;

	if (!addr_of(sa, &family, a)) {
		if (why_len)
			snprintf(why, why_len, "outbound address of family %d refused by policy",
				 sa->sa_family);
		return -EACCES;
	}
	for (uint32_t i = 0; p && i < p->nr_deny; i++) {
		if (match(&p->deny[i], family, a))
			return refuse(family, a, why, why_len);
	}
	if (!special(family, a) || local)
		return 0;
	allowed = false;
	for (uint32_t i = 0; p && i < p->nr_allow && !allowed; i++)
		allowed = match(&p->allow[i], family, a);
	return allowed ? 0 : refuse(family, a, why, why_len);
}

bool vx_addr_is_local(const char *ip)
{
	struct ifaddrs *ifs, *i;
	uint8_t want[16], have[16];
	int family = strchr(ip, ':') ? AF_INET6 : AF_INET, hf;
	bool found = false;

	if (inet_pton(family, ip, want) != 1 || getifaddrs(&ifs) != 0)
		return false;
	for (i = ifs; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || !addr_of(i->ifa_addr, &hf, have) || hf != family)
			continue;
		found = memcmp(want, have, family == AF_INET ? 4 : 16) == 0;
	}
	freeifaddrs(ifs);
	return found;
}
