/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_outbound.c: may a preheat URL be fetched? Loopback, link-local (cloud metadata) and
 * unspecified addresses are refused unless an --api-allow-outbound CIDR names them; private
 * ranges are allowed. The check is here, behind vx__mgr_outbound_check() alone, so it can
 * call the daemons' outbound policy (issue 16: --allow-outbound/--deny-outbound and the CIDR
 * parser in common/) once that lands; until then this small CIDR match stands in. Names are
 * resolved (BLOCKING, on the scheduler thread) and every address must pass. The daemon that
 * fetches checks again at connect time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgr_int.h"

/* @a (16 bytes, v4 mapped) inside "ADDR/BITS"? */
static bool cidr_has(const char *cidr, const uint8_t a[16])
{
	char buf[64], *slash;
	uint8_t net[16] = { 0 };
	long bits;
	int off = 0;

	if (strlen(cidr) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", cidr);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, net + 12) == 1) {
		net[10] = net[11] = 0xff;
		off = 96;
	} else if (inet_pton(AF_INET6, buf, net) != 1) {
		return false;
	}
	bits = slash ? strtol(slash + 1, NULL, 10) + off : 128;
	if (bits < off || bits > 128)
		return false;
	for (long i = 0; i < bits; i++) {
		uint8_t m = (uint8_t)(0x80u >> (i % 8));

		if ((a[i / 8] & m) != (net[i / 8] & m))
			return false;
	}
	return true;
}

int vx__mgr_cidr_valid(const char *cidr)
{
	char buf[64], *slash;
	uint8_t tmp[16];
	long bits;
	char *end;

	if (strlen(cidr) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", cidr);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	bits = strtol(slash + 1, &end, 10);
	if (*end || slash[1] == '\0')
		return -EINVAL;
	if (inet_pton(AF_INET, buf, tmp) == 1)
		return bits >= 0 && bits <= 32 ? 0 : -EINVAL;
	if (inet_pton(AF_INET6, buf, tmp) == 1)
		return bits >= 0 && bits <= 128 ? 0 : -EINVAL;
	return -EINVAL;
}

static const char *const refused[] = { "127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/8",
				       "::1/128",     "fe80::/10",	"::/128" };

static int check_addr(const struct vx_manager_cfg *cfg, const uint8_t a[16])
{
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		if (!cidr_has(refused[i], a))
			continue;
		for (uint32_t k = 0; k < cfg->nr_allow_outbound; k++) {
			if (cidr_has(cfg->allow_outbound[k], a))
				return 0;
		}
		return -EACCES;
	}
	return 0;
}

int vx__mgr_outbound_check(const struct vx_manager_cfg *cfg, const char *url, char *err,
			   size_t err_len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	char host[256];
	size_t hl;
	int rc = 0;

	if (vx__mgr_url_host(url, host, sizeof(host))) {
		snprintf(err, err_len, "args.url must be an http or https URL with a host");
		return -EINVAL;
	}
	hl = strlen(host);
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	if (getaddrinfo(host, NULL, &hints, &res) != 0) {
		snprintf(err, err_len, "args.url: its host does not resolve");
		return -EINVAL;
	}
	for (ai = res; ai && !rc; ai = ai->ai_next) {
		uint8_t a[16] = { 0 };

		if (ai->ai_family == AF_INET) {
			a[10] = a[11] = 0xff;
			memcpy(a + 12, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
		} else if (ai->ai_family == AF_INET6) {
			memcpy(a, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		rc = check_addr(cfg, a);
	}
	freeaddrinfo(res);
	if (rc)
		snprintf(err, err_len,
			 "args.url names a loopback, link-local or unspecified address; the "
			 "control plane refuses it unless --api-allow-outbound names it");
	return rc;
}
