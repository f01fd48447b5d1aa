/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flag_conf.h: a command's flags from a YAML file (`vx scheduler --config FILE`). The file is
 * a flat map whose keys are the command's long options ('_' and '-' alike): a scalar for a
 * flag that takes a value, a list of scalars for one given several times, true or false for
 * a flag without a value. The words go through the command's own getopt parser, so a key
 * checks and means exactly what its flag does (spec/manager.md "Configuration file").
 */
#ifndef VX_CLI_FLAG_CONF_H
#define VX_CLI_FLAG_CONF_H

#include <getopt.h>
#include <stddef.h>

#include "vx_compiler.h"

#define VX_FLAGCONF_WORDS_MAX 512  /* "--name=value" words one file gives */
#define VX_FLAGCONF_VALUE_MAX 4096 /* bytes of one value */

struct vx_flagconf {
	char **words; /* "--name" or "--name=value", in the file's order */
	int n;
};

/*
 * vx_flagconf_load() - parses @text (@len bytes, named @name in errors) against @opts (a
 * getopt_long table ending in a zero entry); keys in @refused (NULL-terminated, may be NULL)
 * are refused as not settable from a file (help, the file flag itself), and only the flags in
 * @lists (the same) may be given a list (the repeatable ones). Returns 0 with @out
 * filled (vx_flagconf_free() it), or -EINVAL with "NAME:LINE:COL: why" in @err (-ENOMEM,
 * -EMSGSIZE); @out is then empty.
 */
VX_MUST_CHECK int vx_flagconf_load(const char *name, const char *text, size_t len,
				   const struct option *opts, const char *const *refused,
				   const char *const *lists, struct vx_flagconf *out, char *err,
				   size_t err_len);
/* vx_flagconf_load() of the file at @path. */
VX_MUST_CHECK int vx_flagconf_load_file(const char *path, const struct option *opts,
					const char *const *refused, const char *const *lists,
					struct vx_flagconf *out, char *err, size_t err_len);
void vx_flagconf_free(struct vx_flagconf *c);

#endif
