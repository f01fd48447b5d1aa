/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_net_addr.c: common's HOST:PORT parsers, which read config, the command line and the
 * candidate parent addresses a scheduler sends. The first byte picks the flags (port 0 or not)
 * and a host buffer size. Properties: a refusal writes nothing; an accepted host is
 * NUL-terminated and fits; port 0 only with VX_NET_PORT0; an address vx_net_parse_addr()
 * accepts is one vx_net_parse_hostport() accepts too, with the same port.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char host[VX_NET_HOST_MAX], s[512];
	struct sockaddr_storage ss;
	socklen_t len = 0;
	unsigned flags;
	size_t host_len;
	uint16_t port = 7, aport;
	int rc;

	if (size < 1 || size - 1 >= sizeof(s))
		return 0;
	flags = (data[0] & 1) ? VX_NET_PORT0 : 0;
	host_len = (data[0] & 2) ? 8 : sizeof(host);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	memset(host, 0x5a, sizeof(host));
	rc = vx_net_parse_hostport(s, flags, host, host_len, &port);
	if (rc) {
		if (port != 7 || host[0] != 0x5a)
			abort(); /* a refusal wrote something */
	} else {
		if (memchr(host, '\0', host_len) == NULL)
			abort();
		if (port == 0 && !(flags & VX_NET_PORT0))
			abort();
	}
	if (vx_net_parse_addr(s, flags, &ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			aport = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			aport = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		else
			abort();
		if (host_len == sizeof(host) && (rc != 0 || aport != port))
			abort();
		if (len == 0 || len > sizeof(ss))
			abort();
	}
	return 0;
}
