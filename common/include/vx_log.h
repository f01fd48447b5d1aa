/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_log.h: leveled logging to stderr (or a file descriptor set at start), one line per call,
 * with a UTC timestamp and the level. Thread-safe: each line is one write(2). Secrets (tokens,
 * credentials, signed query strings) are never passed here.
 */
#ifndef VX_LOG_H
#define VX_LOG_H

#include "vx_compiler.h"

enum vx_log_level {
	VX_LOG_ERROR = 0,
	VX_LOG_WARN = 1,
	VX_LOG_INFO = 2,
	VX_LOG_DEBUG = 3,
};

/* Sets the most verbose level that is written. Default: VX_LOG_INFO. */
void vx_log_set_level(enum vx_log_level level);
/* Parses "error|warn|info|debug"; returns 0 and sets the level, or -EINVAL. */
int vx_log_set_level_name(const char *name);
/* Sends lines to @fd (borrowed; must outlive logging). Default: 2. */
void vx_log_set_fd(int fd);
/* True when a line at @level would be written. */
int vx_log_enabled(enum vx_log_level level);

void vx_log(enum vx_log_level level, const char *fmt, ...) VX_PRINTF(2, 3);

#define vx_err(...)   vx_log(VX_LOG_ERROR, __VA_ARGS__)
#define vx_warn(...)  vx_log(VX_LOG_WARN, __VA_ARGS__)
#define vx_info(...)  vx_log(VX_LOG_INFO, __VA_ARGS__)
#define vx_debug(...) vx_log(VX_LOG_DEBUG, __VA_ARGS__)

#endif /* VX_LOG_H */
