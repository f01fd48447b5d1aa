/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_sched_tokens.c: the scheduler's tokens file parser and the daemon's one-token file
 * parser (vx_sched_tokens.h), the ones `vx scheduler` and `vx serve` use. The first byte picks
 * the parser. Properties: a refusal leaves every token empty and says why; an accepted file
 * names at least one token, each well-formed, no two roles sharing one, and every token it
 * returns occurs in the input; vx_sched_tokens_check() finds each role by its token.
 */
#include <stdlib.h>
#include <string.h>

#include "vx_sched_tokens.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool well_formed(const char *t, const uint8_t *in, size_t size)
{
	size_t n = strlen(t);

	if (n < VX_SCHED_TOKEN_MIN || n > VX_SCHED_TOKEN_MAX)
		return false;
	return size >= n && memmem(in, size, t, n) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx_sched_tokens t;
	char err[256] = "", one[VX_SCHED_TOKEN_MAX + 1];
	unsigned nr = 0;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		if (vx_sched_token_parse((const char *)data + 1, size - 1, one, err, sizeof(err))) {
			if (one[0] || !err[0])
				abort();
		} else if (!well_formed(one, data + 1, size - 1)) {
			abort();
		}
		return 0;
	}
	memset(&t, 0x5a, sizeof(t));
	if (vx_sched_tokens_parse((const char *)data + 1, size - 1, &t, err, sizeof(err))) {
		for (int a = 0; a < VX_SCHED_AUTH_NR; a++) {
			if (t.tok[a][0])
				abort();
		}
		if (!err[0])
			abort();
		return 0;
	}
	for (int a = VX_SCHED_AUTH_PEER; a <= VX_SCHED_AUTH_ADMIN; a++) {
		if (!t.tok[a][0])
			continue;
		nr++;
		if (!well_formed(t.tok[a], data + 1, size - 1) ||
		    vx_sched_tokens_check(&t, (struct vx_ctl_str){ t.tok[a], strlen(t.tok[a]) }) !=
			    (enum vx_sched_auth)a)
			abort();
	}
	if (nr == 0 || t.tok[VX_SCHED_AUTH_NONE][0] || t.tok[VX_SCHED_AUTH_OPEN][0])
		abort();
	return 0;
}
