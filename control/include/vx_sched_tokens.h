/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_sched_tokens.h: the scheduler's join tokens, one per role (peer, seed, admin), kept in a
 * file of `role token` lines (spec/control.md section 9). A hello is accepted only with one of
 * them, and the token decides the role: the role a host claims is never believed.
 */
#ifndef VX_SCHED_TOKENS_H
#define VX_SCHED_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#include "vx_compiler.h"
#include "vx_ctl_msg.h"

enum vx_sched_auth {
	VX_SCHED_AUTH_NONE = 0, /* no valid token */
	VX_SCHED_AUTH_PEER,	/* may join as a normal peer */
	VX_SCHED_AUTH_SEED,	/* may join as a seed (or a normal peer) */
	VX_SCHED_AUTH_ADMIN,	/* operator tools: stat and delete tasks, never a host */
	VX_SCHED_AUTH_OPEN,	/* --insecure-open: token-less, normal peer only */
	VX_SCHED_AUTH_NR
};

#define VX_SCHED_TOKEN_MIN  16	 /* characters */
#define VX_SCHED_TOKEN_MAX  128	 /* characters, within the hello's token field */
#define VX_SCHED_TOKENS_MAX 4096 /* bytes of a tokens file */

struct vx_sched_tokens {
	/* NUL-terminated; "" when the file names no token for the role (nobody gets it) */
	char tok[VX_SCHED_AUTH_NR][VX_SCHED_TOKEN_MAX + 1];
};

/* Name of a role as written in the tokens file ("peer", "seed", "admin"), or "open"/"none". */
const char *vx_sched_auth_name(enum vx_sched_auth a);

/*
 * vx_sched_tokens_parse() - parse a tokens file held in @buf (@len bytes). Lines are
 * `ROLE TOKEN` (one space), ROLE one of peer, seed, admin, each at most once; TOKEN is
 * VX_SCHED_TOKEN_MIN..VX_SCHED_TOKEN_MAX characters of [A-Za-z0-9._~+/=-]; empty lines and lines
 * starting with '#' are skipped; every line ends with '\n' except perhaps the last. At least one
 * token. Returns 0 and fills *@out, or -EINVAL with @err saying which line and why (never the
 * token); *@out is then zeroed.
 */
VX_MUST_CHECK int vx_sched_tokens_parse(const char *buf, size_t len, struct vx_sched_tokens *out,
					char *err, size_t err_len);

/*
 * vx_sched_tokens_load() - read the tokens file @path, or create it when it does not exist
 * (mode 0600, O_EXCL, one fresh 128-bit random hex token per role; *@created is set). An
 * existing file must be a regular file not readable or writable by group or others. Returns 0,
 * -EINVAL (bad content or mode; @err says why), or a negative errno (@err says what failed).
 */
VX_MUST_CHECK int vx_sched_tokens_load(const char *path, struct vx_sched_tokens *out, bool *created,
				       char *err, size_t err_len);

/*
 * vx_sched_tokens_check() - the role @got grants: compares against every role's token in
 * constant time (no early exit), VX_SCHED_AUTH_NONE when none matches.
 */
enum vx_sched_auth vx_sched_tokens_check(const struct vx_sched_tokens *t, struct vx_ctl_str got);

/*
 * vx_sched_token_parse() - a daemon's token file: one token (as above) and at most one '\n'
 * after it. Returns 0 with @out NUL-terminated (VX_SCHED_TOKEN_MAX + 1 bytes), or -EINVAL with
 * @err saying why (never the token).
 */
VX_MUST_CHECK int vx_sched_token_parse(const char *buf, size_t len, char *out, char *err,
				       size_t err_len);

/*
 * vx_sched_token_read() - read and parse the token file @path (a regular file, not open to
 * group or others). Returns 0, -EINVAL (content or mode; @err says why) or a negative errno.
 */
VX_MUST_CHECK int vx_sched_token_read(const char *path, char *out, char *err, size_t err_len);

#endif /* VX_SCHED_TOKENS_H */
