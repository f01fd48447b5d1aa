/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c: one line per call, assembled on the stack and written with a single write(2) so
 * lines from several threads never interleave. Text or JSON (vx_log.h); a thread's request id
 * is thread-local, so the lines of one request carry it without passing it down every call.
 */
#include "vx_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static atomic_int vx_log_level = VX_LOG_INFO;
static atomic_int vx_log_fd = 2;
static atomic_int vx_log_format = VX_LOG_TEXT;
static char vx_log_room[24] = "vx";
static _Thread_local char vx_log_req[VX_REQUEST_ID_MAX + 1];

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

void vx_log_set_format(enum vx_log_format f)
{
	atomic_store(&vx_log_format, (int)f);
}

int vx_log_set_format_name(const char *name)
{
	if (strcmp(name, "text") == 0)
		vx_log_set_format(VX_LOG_TEXT);
	else if (strcmp(name, "json") == 0)
		vx_log_set_format(VX_LOG_JSON);
	else
		return -EINVAL;
	return 0;
}

void vx_log_set_room(const char *room)
{
	snprintf(vx_log_room, sizeof(vx_log_room), "%s", room);
}

bool vx_request_id_valid(const char *s, size_t len)
{
	if (len == 0 || len > VX_REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

void vx_log_set_request_id(const char *id)
{
	if (id && vx_request_id_valid(id, strlen(id)))
		snprintf(vx_log_req, sizeof(vx_log_req), "%s", id);
	else
		vx_log_req[0] = '\0';
}

const char *vx_log_request_id(void)
{
	return vx_log_req;
}

void vx_request_id_new(char *out)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[8] = { 0 };

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		memcpy(b, &ts.tv_nsec, sizeof(ts.tv_nsec) < 8 ? sizeof(ts.tv_nsec) : 8);
		b[7] ^= (uint8_t)getpid();
	}
	for (size_t i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * sizeof(b)] = '\0';
}

void vx_log_set_fd(int fd)
{
	atomic_store(&vx_log_fd, fd);
}

int vx_log_enabled(enum vx_log_level level)
{
	return (int)level <= atomic_load(&vx_log_level);
}

/* The length of a leading "room:" of @msg (lower-case letters, digits, _ or -), or 0. */
static size_t room_of(const char *msg)
{
	size_t i = 0;

	while (i < 16 && ((msg[i] >= 'a' && msg[i] <= 'z') || (msg[i] >= '0' && msg[i] <= '9') ||
			  msg[i] == '_' || msg[i] == '-'))
		i++;
	return i > 0 && msg[i] == ':' && msg[i + 1] == ' ' ? i : 0;
}

/* Appends @s JSON-escaped to @out (@n used of @cap); returns the new length. */
static size_t json_str(char *out, size_t n, size_t cap, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len && n + 7 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(out + n, "\\u00", 4);
			out[n + 4] = hex[c >> 4];
			out[n + 5] = hex[c & 15];
			n += 6;
		} else {
			out[n++] = (char)c; /* UTF-8 passes as is; invalid bytes are the caller's */
		}
	}
	return n;
}

static size_t json_line(char *line, size_t cap, const char *ts, enum vx_log_level level,
			const char *msg, size_t len)
{
	size_t room = room_of(msg), n;
	int r;

	r = snprintf(line, cap, "{\"ts\":\"%s\",\"level\":\"%s\",\"room\":\"", ts,
		     vx_log_names[level]);
	n = r > 0 ? (size_t)r : 0;
	n = room ? json_str(line, n, cap, msg, room)
		 : json_str(line, n, cap, vx_log_room, strlen(vx_log_room));
	if (room) {
		msg += room + 2;
		len -= room + 2;
	}
	if (n + 9 < cap) {
		memcpy(line + n, "\",\"msg\":\"", 9);
		n += 9;
	}
	/* room kept for the request id and the closing quote and brace: the line stays whole */
	n = json_str(line, n, cap - (sizeof("\",\"request_id\":\"\"}") + VX_REQUEST_ID_MAX), msg,
		     len);
	if (vx_log_req[0]) {
		r = snprintf(line + n, cap - n, "\",\"request_id\":\"%s", vx_log_req);
		n += r > 0 ? (size_t)r : 0;
	}
	if (n + 3 <= cap) {
		memcpy(line + n, "\"}", 2);
		n += 2;
	}
	return n;
}

void vx_log(enum vx_log_level level, const char *fmt, ...)
{
	char msg[1024], line[2200], ts[64];
	struct timespec t;
	struct tm tm;
	va_list ap;
	size_t n, len;
	int r;

	if (!vx_log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &t);
	gmtime_r(&t.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, t.tv_nsec / 1000000);
	va_start(ap, fmt);
	r = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	len = r < 0 ? 0 : (size_t)r < sizeof(msg) ? (size_t)r : sizeof(msg) - 1;
	if (atomic_load(&vx_log_format) == VX_LOG_JSON) {
		n = json_line(line, sizeof(line) - 1, ts, level, msg, len);
	} else {
		r = snprintf(line, sizeof(line) - 1, "%s %-5s %.*s%s%s", ts, vx_log_names[level],
			     (int)len, msg, vx_log_req[0] ? " req=" : "", vx_log_req);
		n = r > 0 ? (size_t)r : 0;
		if (n > sizeof(line) - 2)
			n = sizeof(line) - 2; /* truncated: keep the newline */
	}
	line[n++] = '\n';
	/* Logging never fails the caller; a short write to a full pipe loses a line. */
	if (write(atomic_load(&vx_log_fd), line, n) < 0)
		return;
}
