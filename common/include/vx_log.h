/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_log.h: leveled logging to stderr (or a file descriptor set at start), one line per call,
 * with a UTC timestamp and the level. Thread-safe: each line is one write(2). Secrets (tokens,
 * credentials, signed query strings) are never passed here.
 */
#ifndef VX_LOG_H
#define VX_LOG_H

#include <stdbool.h>
#include <stddef.h>

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
enum vx_log_format {
	VX_LOG_TEXT = 0, /* "2026-01-02T03:04:05.678Z info  msg" */
	/*
	 * One JSON object a line, keys in this order (spec/metrics.md): "ts" (RFC 3339 UTC, ms),
	 * "level", "room" (the message's leading "word:" or the process's room), "msg" and, when
	 * the calling thread works for one, "request_id".
	 */
	VX_LOG_JSON = 1,
};
void vx_log_set_format(enum vx_log_format f);
/* Parses "text|json"; returns 0 and sets the format, or -EINVAL. */
int vx_log_set_format_name(const char *name);
/* The room named in lines whose message does not start with one ("serve", "scheduler"). */
void vx_log_set_room(const char *room);

/* Longest request id, NUL excluded (spec/api.md: 1..32 of [A-Za-z0-9_-]). */
#define VX_REQUEST_ID_MAX 32
/* True when @s is a valid request id. */
bool vx_request_id_valid(const char *s, size_t len);
/* Sets (or with NULL clears) the calling thread's request id, added to its lines. */
void vx_log_set_request_id(const char *id);
/* The calling thread's request id, or "" */
const char *vx_log_request_id(void);
/* A fresh random request id (16 hex characters) into @out (VX_REQUEST_ID_MAX + 1 bytes). */
void vx_request_id_new(char *out);

/* True when a line at @level would be written. */
int vx_log_enabled(enum vx_log_level level);

void vx_log(enum vx_log_level level, const char *fmt, ...) VX_PRINTF(2, 3);

#define vx_err(...)   vx_log(VX_LOG_ERROR, __VA_ARGS__)
#define vx_warn(...)  vx_log(VX_LOG_WARN, __VA_ARGS__)
#define vx_info(...)  vx_log(VX_LOG_INFO, __VA_ARGS__)
#define vx_debug(...) vx_log(VX_LOG_DEBUG, __VA_ARGS__)

#endif /* VX_LOG_H */
