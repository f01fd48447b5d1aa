/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_outbound.c: may a preheat URL be fetched? The daemons' outbound policy (vx_outbound.h):
 * loopback, link-local (cloud metadata), unspecified, multicast and broadcast addresses are
 * refused unless `vx scheduler --allow-outbound CIDR` names them; private ranges are allowed
 * unless `--deny-outbound CIDR` names them (deny wins). The URL's host is resolved (BLOCKING,
 * on the scheduler thread) and every address must pass; the daemons that fetch check again at
 * connect time and on every redirect with their own policy.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "mgr_int.h"
#include "vx_outbound.h"

int vx__mgr_outbound_policy(const struct vx_manager_cfg *cfg, struct vx_outbound_policy *p)
{
	memset(p, 0, sizeof(*p));
	for (uint32_t i = 0; i < cfg->nr_allow_outbound; i++) {
		if (vx_outbound_add(p, cfg->allow_outbound[i], false))
			return -EINVAL;
	}
	for (uint32_t i = 0; i < cfg->nr_deny_outbound; i++) {
		if (vx_outbound_add(p, cfg->deny_outbound[i], true))
			return -EINVAL;
	}
	return 0;
}

int vx__mgr_outbound_check(const struct vx_outbound_policy *p, const char *url, char *err,
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
		if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
			rc = vx_outbound_check(p, false, ai->ai_addr, NULL, 0);
	}
	freeaddrinfo(res);
	if (rc)
		snprintf(err, err_len,
			 "args.url names an address the outbound policy refuses (loopback, "
			 "link-local, unspecified, or --deny-outbound); --allow-outbound CIDR on "
			 "vx scheduler lets a special range through");
	return rc;
}
