/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_source_challenge.c: WWW-Authenticate values through vx_source_challenge_parse(). Every
 * field of a parsed challenge must be a NUL-terminated string within its array.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_source_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx_source_challenge c;

	if (vx_source_challenge_parse(&c, (const char *)data, size) == 0) {
		if (!memchr(c.scheme, '\0', sizeof(c.scheme)) ||
		    !memchr(c.realm, '\0', sizeof(c.realm)) ||
		    !memchr(c.service, '\0', sizeof(c.service)) ||
		    !memchr(c.scope, '\0', sizeof(c.scope)) ||
		    !memchr(c.error, '\0', sizeof(c.error)))
			abort();
		if (strcmp(c.scheme, "basic") != 0 && strcmp(c.scheme, "bearer") != 0)
			abort();
	}
	return 0;
}
