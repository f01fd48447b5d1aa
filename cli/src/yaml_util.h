/* SPDX-License-Identifier: Apache-2.0 */
/*
 * yaml_util.h: what the readers of YAML files (config.c, flag_conf.c) share: errors that name
 * the place, and the next event with anchors and aliases refused.
 */
#ifndef VX_CLI_YAML_UTIL_H
#define VX_CLI_YAML_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <yaml.h>

#include "vx_compiler.h"

/* "NAME:LINE:COL: why" into @err; returns -EINVAL. */
int vx_yaml_vfail(const char *name, const yaml_mark_t *m, char *err, size_t err_len,
		  const char *fmt, va_list ap) VX_PRINTF(5, 0);
/* The next event of @p into @ev (yaml_event_delete() it); a syntax error, an anchor or an
 * alias: -EINVAL with the place in @err, and nothing to delete. */
int vx_yaml_next(yaml_parser_t *p, yaml_event_t *ev, const char *name, char *err, size_t err_len);

#endif
