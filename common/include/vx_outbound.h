/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_outbound.h: which addresses a host may connect to when it fetches for someone else (a seed
 * answering a trigger; later the control plane's preheat). Checked at connect time on the
 * resolved address, so a DNS answer or a redirect cannot get round it (spec/peer.md section 4).
 *
 *   loopback (127/8, ::1), link-local (169.254/16 with cloud metadata, fe80::/10), unspecified,
 *   multicast and broadcast: refused, unless the requester is on this host or an allow CIDR
 *   names the address;
 *   everything else, private ranges (RFC 1918, ULA) included: allowed, unless a deny CIDR names
 *   it. A deny CIDR wins over an allow CIDR.
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are judged as the IPv4 address they carry.
 */
#ifndef VX_OUTBOUND_H
#define VX_OUTBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vx_compiler.h"

#define VX_CIDR_TEXT_MAX 50 /* longest CIDR text accepted ("ffff:...:ffff/128" is 43) */
#define VX_OUTBOUND_MAX	 64 /* allow or deny entries of one policy */

/* One address range: @bits leading bits of @addr (4 bytes used for IPv4). */
struct vx_cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t bits;
	uint8_t addr[16];
};

/*
 * vx_cidr_parse() - strict parse of "ADDR/BITS" or a bare "ADDR" (all bits) from @len bytes at
 * @s (no NUL needed). IPv4 is four decimal octets without leading zeros; IPv6 is what
 * inet_pton() takes, no zone; BITS is decimal without leading zeros, at most 32 or 128; bits
 * beyond BITS must be zero ("10.0.0.1/8" is refused: write 10.0.0.0/8). Returns 0 and fills
 * @out, or -EINVAL with @out untouched.
 */
VX_MUST_CHECK int vx_cidr_parse(const char *s, size_t len, struct vx_cidr *out);

/* True when @sa (AF_INET or AF_INET6; mapped addresses as IPv4) lies inside @c. */
bool vx_cidr_match(const struct vx_cidr *c, const struct sockaddr *sa);

struct vx_outbound_policy {
	struct vx_cidr allow[VX_OUTBOUND_MAX]; /* special ranges allowed anyway */
	uint32_t nr_allow;
	struct vx_cidr deny[VX_OUTBOUND_MAX]; /* refused, whatever the range */
	uint32_t nr_deny;
};

/*
 * vx_outbound_add() - parse @cidr (NUL-terminated) into @p's allow (@deny false) or deny list.
 * Returns 0, -EINVAL (not a CIDR), -ENOSPC (list full).
 */
VX_MUST_CHECK int vx_outbound_add(struct vx_outbound_policy *p, const char *cidr, bool deny);

/*
 * vx_outbound_check() - may a fetch for a requester connect to @sa? @local: the requester is on
 * this host. Returns 0, or -EACCES and writes "outbound address X refused by policy" to @why
 * (@why_len bytes, may be 0).
 */
VX_MUST_CHECK int vx_outbound_check(const struct vx_outbound_policy *p, bool local,
				    const struct sockaddr *sa, char *why, size_t why_len);

/*
 * vx_addr_is_local() - true when the IP literal @ip (NUL-terminated) is one of this host's
 * interface addresses (an exact match: 127.0.0.2 is not 127.0.0.1).
 */
bool vx_addr_is_local(const char *ip);

#endif /* VX_OUTBOUND_H */
