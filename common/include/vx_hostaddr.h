/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_hostaddr.h: this host's routable address, the one a daemon listening on a wildcard
 * address gives other hosts: the first address of the interface the default route leaves by
 * (as Dragonfly's dfdaemon picks it), read from the kernel's routing table (/proc/net/route,
 * /proc/net/ipv6_route) and getifaddrs(). Any thread; nothing here keeps state.
 */
#ifndef VX_HOSTADDR_H
#define VX_HOSTADDR_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "vx_compiler.h"

/*
 * vx_route_default_if() - the interface of the default route in @text (@len bytes, the text of
 * /proc/net/route for AF_INET, of /proc/net/ipv6_route for AF_INET6): destination and mask (or
 * prefix length) zero, up, not a reject route, not on "lo", the lowest metric first. Lines that
 * do not parse are skipped. Returns 0 with @ifname (IF_NAMESIZE bytes, NUL-terminated), or
 * -ENOENT (no default route; @ifname untouched), -EAFNOSUPPORT (another family).
 */
VX_MUST_CHECK int vx_route_default_if(int family, const char *text, size_t len,
				      char ifname[IF_NAMESIZE]);

/*
 * vx_host_routable_ip() - the IP literal (no brackets) of this host's routable address of
 * @family (AF_INET or AF_INET6) into @out (INET6_ADDRSTRLEN bytes): the first address of the
 * default route's interface that is neither loopback nor link-local. Returns 0, or -ENOENT (no
 * default route, or its interface has no such address) or a read error.
 */
VX_MUST_CHECK int vx_host_routable_ip(int family, char *out, size_t out_len);

/* vx_ip_is_loopback() - true when IP literal @ip is a loopback address (127/8, ::1, and
 * ::ffff:127.0.0.0/104); false for anything else, a name included. */
bool vx_ip_is_loopback(const char *ip);

#endif /* VX_HOSTADDR_H */
