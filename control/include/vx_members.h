/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_members.h: who the members of a scheduler-less cluster are (`vx serve --members`,
 * spec/peer.md "Members"). A member is named by its Vortex listen address; the list is static
 * ("IP:PORT,IP:PORT,...") or one DNS name ("NAME" or "NAME:PORT", a Kubernetes headless
 * service) resolved with getaddrinfo() to every address it has, again at every re-resolve.
 * Ownership of a task is the scheduler client's rendezvous hashing over this list
 * (vx_sched_client.h): one fact, one place.
 */
#ifndef VX_MEMBERS_H
#define VX_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"
#include "vx_net.h"
#include "vx_sched_client.h"

#define VX_MEMBERS_MAX	    VX_SCHED_CLIENT_SERVERS_MAX /* members a daemon can schedule with */
#define VX_MEMBERS_SPEC_MAX 4096			/* bytes of a --members value */

/* A parsed --members value. */
struct vx_members_spec {
	bool dns;		    /* one name, resolved into @addrs by vx_members_resolve() */
	char name[VX_NET_HOST_MAX]; /* dns: the name */
	uint16_t port;		    /* dns: the port of every address */
	uint32_t nr;		    /* static: the members */
	char addrs[VX_MEMBERS_MAX][VX_NET_ADDR_STR_MAX]; /* static: "IP:PORT", "[V6]:PORT" */
};

/*
 * vx_members_parse() - @s (@len bytes, not NUL-terminated): a comma-separated list of 1 to
 * VX_MEMBERS_MAX "IP:PORT" / "[V6]:PORT" (no name, no port 0, no repeat), or one host name
 * with an optional ":PORT" (@default_port without). Pure. Returns 0, or -EINVAL with @err
 * (one line; @out zeroed).
 */
VX_MUST_CHECK int vx_members_parse(const char *s, size_t len, uint16_t default_port,
				   struct vx_members_spec *out, char *err, size_t err_len);

/*
 * vx_members_resolve() - the member addresses of @sp into @addrs, sorted and without repeats
 * (so every member sees one list): a static list as it is, a name through getaddrinfo()
 * (BLOCKING), at most VX_MEMBERS_MAX. Returns how many (>= 1), or -EHOSTUNREACH.
 */
VX_MUST_CHECK int vx_members_resolve(const struct vx_members_spec *sp,
				     char addrs[VX_MEMBERS_MAX][VX_NET_ADDR_STR_MAX]);

struct sockaddr;
/*
 * vx_members_has_addr() - true when @sa (a connection's peer; v4-mapped IPv6 counts as IPv4)
 * has the IP of one of the @nr members @addrs; its text goes to @ip (VX_NET_ADDR_STR_MAX).
 */
bool vx_members_has_addr(char addrs[VX_MEMBERS_MAX][VX_NET_ADDR_STR_MAX], uint32_t nr,
			 const struct sockaddr *sa, char *ip);

#endif /* VX_MEMBERS_H */
