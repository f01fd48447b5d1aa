/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c: one line per call, assembled on the stack and written with a single write(2) so
 * lines from several threads never interleave.
 */
#include "vx_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int vx_log_level = VX_LOG_INFO;
static atomic_int vx_log_fd = 2;

static const char *const vx_log_names[] = { "error", "warn", "info", "debug" };

void vx_log_set_level(enum vx_log_level level)
{
	atomic_store(&vx_log_level, (int)level);
}

int vx_log_set_level_name(const char *name)
{
	for (size_t i = 0; i < sizeof(vx_log_names) / sizeof(vx_log_names[0]); i++) {
		if (strcmp(name, vx_log_names[i]) == 0) {
			vx_log_set_level((enum vx_log_level)i);
			return 0;
		}
	}
	return -EINVAL;
}

void vx_log_set_fd(int fd)
{
	atomic_store(&vx_log_fd, fd);
}

int vx_log_enabled(enum vx_log_level level)
{
	return (int)level <= atomic_load(&vx_log_level);
}

void vx_log(enum vx_log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n;
	int r;

	if (!vx_log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	r = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, vx_log_names[level]);
	n = r > 0 ? (size_t)r : 0;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2; /* truncated: keep the newline */
	line[n++] = '\n';
	/* Logging never fails the caller; a short write to a full pipe loses a line. */
	if (write(atomic_load(&vx_log_fd), line, n) < 0)
		return;
}
