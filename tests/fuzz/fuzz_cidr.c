/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_cidr.c: common's CIDR parser (vx_cidr_parse), which reads --allow-outbound and
 * --deny-outbound and the source.allow_outbound / source.deny_outbound config lists.
 * Properties: a refusal leaves the output untouched; an accepted range has a known family,
 * at most 32/128 bits and no host bit set; its own network address matches it; and the text
 * inet_ntop() prints for it parses back to the same range.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_outbound.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx_cidr c, again;
	struct sockaddr_storage ss = { 0 };
	char ip[INET6_ADDRSTRLEN], text[80];
	unsigned max;

	memset(&c, 0x5a, sizeof(c));
	if (vx_cidr_parse((const char *)data, size, &c)) {
		for (size_t i = 0; i < sizeof(c); i++) {
			if (((const uint8_t *)&c)[i] != 0x5a)
				abort(); /* a refusal wrote something */
		}
		return 0;
	}
	if (c.family != AF_INET && c.family != AF_INET6)
		abort();
	max = c.family == AF_INET ? 32 : 128;
	if (c.bits > max)
		abort();
	for (unsigned b = c.bits; b < max; b++) {
		if (c.addr[b / 8] & (0x80u >> (b % 8)))
			abort();
	}
	if (c.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, c.addr, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, c.addr, 16);
	}
	/* a mapped IPv6 range is compared as IPv4, so only check the others */
	if (!(c.family == AF_INET6 && c.addr[10] == 0xff && c.addr[11] == 0xff &&
	      !memcmp(c.addr, "\0\0\0\0\0\0\0\0\0\0", 10)) &&
	    !vx_cidr_match(&c, (struct sockaddr *)&ss))
		abort();
	if (!inet_ntop(c.family, c.addr, ip, sizeof(ip)))
		abort();
	snprintf(text, sizeof(text), "%s/%u", ip, c.bits);
	if (vx_cidr_parse(text, strlen(text), &again) || again.family != c.family ||
	    again.bits != c.bits || memcmp(again.addr, c.addr, sizeof(c.addr)))
		abort();
	return 0;
}
