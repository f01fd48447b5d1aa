/* SPDX-License-Identifier: Apache-2.0 */
/*
 * members.c: the member list of a scheduler-less cluster (vx_members.h): parse a --members
 * value, resolve it into the sorted addresses every member hashes tasks over, and tell whether
 * a connection comes from a member.
 */
#include "vx_members.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int fail(struct vx_members_spec *out, char *err, size_t err_len, const char *what, size_t n,
		const char *s)
{
	memset(out, 0, sizeof(*out));
	if (err && err_len)
		snprintf(err, err_len, "--members: %s '%.*s'", what, (int)(n > 64 ? 64 : n), s);
	return -EINVAL;
}

/* One static member "IP:PORT" (@n bytes) into canonical text @out. */
static int one_addr(const char *s, size_t n, char *out)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char tmp[VX_NET_ADDR_STR_MAX];

	if (n == 0 || n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (vx_net_parse_addr(tmp, VX_NET_IP_ONLY, &ss, &sl))
		return -EINVAL;
	vx_net_addr_str((const struct sockaddr *)&ss, out, VX_NET_ADDR_STR_MAX);
	return 0;
}

/* A DNS name: letters, digits, '-', '.', not starting with '-' or '.'. */
static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n >= VX_NET_HOST_MAX || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

static int parse_name(const char *s, size_t len, uint16_t default_port, struct vx_members_spec *out,
		      char *err, size_t err_len)
{
	const char *colon = memchr(s, ':', len);
	size_t n = colon ? (size_t)(colon - s) : len;
	uint32_t port = default_port;

	if (!name_ok(s, n))
		return fail(out, err, err_len, "not IP:PORT,... nor a DNS name:", len, s);
	if (colon) {
		size_t pl = len - n - 1;

		port = 0;
		if (pl == 0 || pl > 5)
			return fail(out, err, err_len, "bad port in", len, s);
		for (size_t i = 0; i < pl; i++) {
			if (colon[1 + i] < '0' || colon[1 + i] > '9')
				return fail(out, err, err_len, "bad port in", len, s);
			port = port * 10 + (uint32_t)(colon[1 + i] - '0');
		}
	}
	if (port == 0 || port > 65535)
		return fail(out, err, err_len, "bad port in", len, s);
	out->dns = true;
	memcpy(out->name, s, n);
	out->name[n] = '\0';
	out->port = (uint16_t)port;
	return 0;
}

int vx_members_parse(const char *s, size_t len, uint16_t default_port, struct vx_members_spec *out,
		     char *err, size_t err_len)
{
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > VX_MEMBERS_SPEC_MAX)
		return fail(out, err, err_len, "empty or too long:", len, s);
	if (!memchr(s, ',', len)) {
		char tmp[VX_NET_ADDR_STR_MAX] = { 0 };

		if (one_addr(s, len, tmp) == 0) {
			memcpy(out->addrs[0], tmp, sizeof(tmp));
			out->nr = 1;
			return 0;
		}
		return parse_name(s, len, default_port, out, err, err_len);
	}
	while (off <= len) {
		const char *e = memchr(s + off, ',', len - off);
		size_t n = e ? (size_t)(e - (s + off)) : len - off;
		char a[VX_NET_ADDR_STR_MAX] = { 0 };

		if (out->nr == VX_MEMBERS_MAX)
			return fail(out, err, err_len, "more than 16 members in", len, s);
		if (one_addr(s + off, n, a))
			return fail(out, err, err_len, "a list names members by IP:PORT, not", n,
				    s + off);
		for (uint32_t i = 0; i < out->nr; i++)
			if (strcmp(out->addrs[i], a) == 0)
				return fail(out, err, err_len, "member listed twice:", n, s + off);
		memcpy(out->addrs[out->nr++], a, sizeof(a));
		off += n + 1;
		if (!e)
			break;
	}
	return 0;
}

static int cmp_addr(const void *a, const void *b)
{
	return strcmp(a, b);
}

int vx_members_resolve(const struct vx_members_spec *sp,
		       char addrs[VX_MEMBERS_MAX][VX_NET_ADDR_STR_MAX])
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	char port[8];
	uint32_t nr = 0;

	if (!sp->dns) {
		memcpy(addrs, sp->addrs, sizeof(sp->addrs));
		nr = sp->nr;
	} else {
		snprintf(port, sizeof(port), "%u", sp->port);
		if (getaddrinfo(sp->name, port, &hints, &res) != 0)
			return -EHOSTUNREACH;
		for (ai = res; ai && nr < VX_MEMBERS_MAX; ai = ai->ai_next) {
			char a[VX_NET_ADDR_STR_MAX] = { 0 };
			bool dup = false;

			vx_net_addr_str(ai->ai_addr, a, sizeof(a));
			for (uint32_t i = 0; i < nr && !dup; i++)
				dup = strcmp(addrs[i], a) == 0;
			if (!dup)
				memcpy(addrs[nr++], a, sizeof(a));
		}
		freeaddrinfo(res);
	}
	if (!nr)
		return -EHOSTUNREACH;
	qsort(addrs, nr, VX_NET_ADDR_STR_MAX, cmp_addr);
	return (int)nr;
}

bool vx_members_has_addr(char addrs[VX_MEMBERS_MAX][VX_NET_ADDR_STR_MAX], uint32_t nr,
			 const struct sockaddr *sa, char *ip)
{
	char host[VX_NET_HOST_MAX];
	uint16_t port;

	ip[0] = '\0';
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip,
			  VX_NET_ADDR_STR_MAX);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
			&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], ip, VX_NET_ADDR_STR_MAX);
		else
			inet_ntop(AF_INET6, a, ip, VX_NET_ADDR_STR_MAX);
	}
	if (!ip[0])
		return false;
	for (uint32_t i = 0; i < nr; i++)
		if (vx_net_parse_hostport(addrs[i], 0, host, sizeof(host), &port) == 0 &&
		    strcmp(host, ip) == 0)
			return true;
	return false;
}
