/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_addr.c: the address a daemon gives the schedulers (spec/peer.md, "advertised address").
 * host.ip when set; else the listen address; for a wildcard listener the host's routable
 * address (the default route's interface, vx_hostaddr.h), and loopback only on a host without
 * a default route. A loopback address is never given to a scheduler that is not on loopback:
 * the other hosts of the cluster could not reach it, so the start fails and says so.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "peer_int.h"
#include "vx_hostaddr.h"
#include "vx_log.h"
#include "vx_net.h"

/* The IP literal of @ss (no port) into @out. */
static void addr_ip(const struct sockaddr_storage *ss, char *out, size_t len)
{
	if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, out,
			  (socklen_t)len);
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out,
			  (socklen_t)len);
}

/* The first scheduler of @cfg that is known not to be on loopback (a name that does not
 * resolve is not known to be anywhere: its connection will say), or NULL. */
static const char *remote_scheduler(const struct vx_peer_cfg *cfg)
{
	for (uint32_t i = 0; i < cfg->nr_schedulers; i++) {
		char host[VX_NET_HOST_MAX], ip[INET6_ADDRSTRLEN];
		struct sockaddr_storage ss;
		socklen_t sl;
		uint16_t port;

		if (vx_net_parse_hostport(cfg->schedulers[i], 0, host, sizeof(host), &port) ||
		    vx_net_resolve(host, port, false, &ss, &sl, NULL))
			continue;
		addr_ip(&ss, ip, sizeof(ip));
		if (!vx_ip_is_loopback(ip))
			return cfg->schedulers[i];
	}
	return NULL;
}

int vx__peer_pick_addr(struct vx_peer *p, const struct vx_peer_cfg *cfg, char *err, size_t err_len)
{
	const char *remote;
	bool v6;

	if (cfg->advertise && *cfg->advertise) {
		struct in6_addr a6;
		struct in_addr a4;

		if (inet_pton(AF_INET, cfg->advertise, &a4) != 1 &&
		    inet_pton(AF_INET6, cfg->advertise, &a6) != 1) {
			if (err)
				snprintf(err, err_len, "advertised address '%s' is not an IP",
					 cfg->advertise);
			return -EINVAL;
		}
		snprintf(p->addr, sizeof(p->addr), "%s", cfg->advertise);
	} else {
		addr_ip(&p->listen_addr, p->addr, sizeof(p->addr));
		v6 = strcmp(p->addr, "::") == 0;
		if (v6 || strcmp(p->addr, "0.0.0.0") == 0) {
			/* a wildcard listener: the host's routable address, IPv4 too for a
			 * dual-stack "::" on an IPv4-only host */
			int rc = vx_host_routable_ip(v6 ? AF_INET6 : AF_INET, p->addr,
						     sizeof(p->addr));

			if (rc && v6)
				rc = vx_host_routable_ip(AF_INET, p->addr, sizeof(p->addr));
			if (rc) {
				snprintf(p->addr, sizeof(p->addr), "%s", v6 ? "::1" : "127.0.0.1");
				vx_warn("peer: no default route: advertising %s (set host.ip, "
					"--advertise-ip, for other hosts to reach this one)",
					p->addr);
			}
		}
	}
	if (!vx_ip_is_loopback(p->addr) || !(remote = remote_scheduler(cfg)))
		return 0;
	if (err)
		snprintf(err, err_len,
			 "refusing to advertise the loopback address %s to scheduler %s (not on "
			 "loopback): other hosts cannot reach it; set host.ip (--advertise-ip) to "
			 "an address they reach, or listen on one",
			 p->addr, remote);
	return -EINVAL;
}
