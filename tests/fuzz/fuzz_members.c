/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_members.c: the --members parser (vx_members_parse), the one `vx serve` and the config
 * file's `members` key go through. Properties: a refusal leaves the output zeroed and says
 * why; an accepted static list holds 1 to VX_MEMBERS_MAX distinct canonical "IP:PORT" that
 * parse again, joined by commas, to the same list; an accepted name is a name with a port.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_members.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vx_members_spec sp, again, zero;
	static char text[VX_MEMBERS_MAX * VX_NET_ADDR_STR_MAX];
	char err[160] = "";
	size_t off = 0;

	memset(&sp, 0x5a, sizeof(sp));
	if (vx_members_parse((const char *)data, size, 4005, &sp, err, sizeof(err))) {
		if (memcmp(&sp, &zero, sizeof(sp)) || !err[0])
			abort(); /* a refusal kept something, or gave no reason */
		return 0;
	}
	if (sp.dns) {
		if (!sp.name[0] || sp.port == 0 || sp.nr)
			abort();
		return 0;
	}
	if (sp.nr < 1 || sp.nr > VX_MEMBERS_MAX)
		abort();
	for (uint32_t i = 0; i < sp.nr; i++) {
		for (uint32_t j = 0; j < i; j++)
			if (!strcmp(sp.addrs[i], sp.addrs[j]))
				abort();
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s%s", i ? "," : "",
					sp.addrs[i]);
	}
	if (vx_members_parse(text, off, 4005, &again, err, sizeof(err)) || again.dns ||
	    again.nr != sp.nr || memcmp(again.addrs, sp.addrs, sizeof(sp.addrs)))
		abort();
	return 0;
}
