/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_init_conf.c: `vx init`'s parser of --mirror and --upstream and the renderers fed from
 * it. The input is split at the first NUL: mirror, then upstream (the rest: the old file for
 * the diff). Any accepted name must be safe where it lands: no quote, backslash, newline or
 * slash (it is a directory name and a quoted TOML string), never "." or "..". Never a crash, a
 * leak or a read past the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init_conf.h"
#include "vx_alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_safe(const struct vx_init_endpoint *e)
{
	if (strpbrk(e->authority, "\"\\\n\r/ \t@?#") || strcmp(e->authority, ".") == 0 ||
	    strcmp(e->authority, "..") == 0 || !e->authority[0])
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx_init_endpoint m, u;
	const char *why = NULL, *up, *old;
	char *buf, *a, *b;
	FILE *null;

	buf = malloc(size + 2);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = '\0';
	up = buf + strlen(buf) + 1;
	old = up < buf + size ? up + strlen(up) + 1 : buf + size + 1;
	if (old > buf + size + 1)
		old = buf + size + 1;
	if (vx_init_parse_endpoint(buf, false, &m, &why) == 0)
		check_safe(&m);
	else if (!why)
		__builtin_trap(); /* every refusal says why */
	why = NULL;
	if (vx_init_parse_endpoint(up, true, &u, &why) == 0) {
		check_safe(&u);
		if (m.authority[0]) {
			a = vx_init_render_hosts_toml(&m, &u);
			b = vx_init_render_registries_conf(&m, &u, 1);
			null = fopen("/dev/null", "w");
			if (null && a) {
				vx_init_write_diff(null, "f", old, a);
				vx_init_write_diff(null, "f", NULL, a);
			}
			if (null)
				fclose(null);
			vx_free(a);
			vx_free(b);
		}
	} else if (!why) {
		__builtin_trap();
	}
	free(buf);
	return 0;
}
