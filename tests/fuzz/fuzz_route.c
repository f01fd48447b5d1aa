/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_route.c: common's routing table reader (vx_route_default_if), which `vx serve` runs over
 * /proc/net/route and /proc/net/ipv6_route to pick the address a wildcard listener advertises.
 * The first byte picks the family (odd: IPv6). Properties: a refusal leaves the name untouched;
 * a found name is 1..IF_NAMESIZE-1 bytes with no blank, no newline and no NUL, it is not "lo",
 * and it occurs in the input.
 */
#include <net/if.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "vx_hostaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char ifname[IF_NAMESIZE];
	const char *text;
	size_t n;
	int family;

	if (size < 1)
		return 0;
	family = data[0] & 1 ? AF_INET6 : AF_INET;
	text = (const char *)data + 1;
	memset(ifname, 0x5a, sizeof(ifname));
	if (vx_route_default_if(family, text, size - 1, ifname)) {
		for (size_t i = 0; i < sizeof(ifname); i++) {
			if ((uint8_t)ifname[i] != 0x5a)
				abort(); /* a refusal wrote something */
		}
		return 0;
	}
	n = strnlen(ifname, sizeof(ifname));
	if (n == 0 || n == sizeof(ifname) || strcmp(ifname, "lo") == 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (ifname[i] == ' ' || ifname[i] == '\t' || ifname[i] == '\n' || ifname[i] == '\r')
			abort();
	}
	if (!memmem(text, size - 1, ifname, n))
		abort();
	return 0;
}
