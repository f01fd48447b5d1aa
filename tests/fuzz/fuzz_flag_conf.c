/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_flag_conf.c: a command's flags from YAML (flag_conf.h, `vx scheduler --config`). Any
 * input gives words that each start "--" and name a flag of the table, or a terminated error;
 * never a crash, a leak or a read past the input.
 */
#include <getopt.h>
#include <stdint.h>
#include <string.h>

#include "flag_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct option opts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "insecure-open", no_argument, NULL, 'I' },
	{ "allow-outbound", required_argument, NULL, 'O' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const refused[] = { "help", NULL }, *const lists[] = { "allow-outbound",
										  NULL };
	struct vx_flagconf fc;
	char err[256] = "";

	if (vx_flagconf_load("fuzz", (const char *)data, size, opts, refused, lists, &fc, err,
			     sizeof(err)) == 0) {
		for (int i = 0; i < fc.n; i++) {
			if (strncmp(fc.words[i], "--listen", 8) != 0 &&
			    strcmp(fc.words[i], "--insecure-open") != 0 &&
			    strncmp(fc.words[i], "--allow-outbound=", 17) != 0)
				__builtin_trap(); /* a word naming no flag of the table */
		}
		vx_flagconf_free(&fc);
		return 0;
	}
	if (fc.n != 0 || memchr(err, '\0', sizeof(err)) == NULL)
		__builtin_trap(); /* a failure leaves nothing, and says why */
	return 0;
}
