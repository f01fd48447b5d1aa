/* SPDX-License-Identifier: Apache-2.0 */
/*
 * args.c: strict number and size parsing for the command line.
 */
#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_u64_prefix(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
			return -ERANGE;
	}
	*out = v;
	*end = p;
	return 0;
}

int vx_args_parse_u64(const char *s, uint64_t *out)
{
	const char *end;
	int rc = parse_u64_prefix(s, out, &end);

	if (rc)
		return rc;
	return *end ? -EINVAL : 0;
}

int vx_args_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		unsigned shift;
	} units[] = {
		{ "", 0 },     { "b", 0 },   { "k", 10 },   { "kb", 10 },  { "kib", 10 },
		{ "m", 20 },   { "mb", 20 }, { "mib", 20 }, { "g", 30 },   { "gb", 30 },
		{ "gib", 30 }, { "t", 40 },  { "tb", 40 },  { "tib", 40 },
	};
	const char *end;
	uint64_t v;
	int rc = parse_u64_prefix(s, &v, &end);

	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end, units[i].unit) == 0) {
			if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
				return -ERANGE;
			*out = v << units[i].shift;
			return 0;
		}
	}
	return -EINVAL;
}

int vx_args_parse_duration_ms(const char *s, uint64_t *out_ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
	};
	const char *end;
	uint64_t v;
	int rc = parse_u64_prefix(s, &v, &end);

	if (rc)
		return rc;
	if (*end == '\0' && v == 0) {
		*out_ms = 0;
		return 0;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			if (__builtin_mul_overflow(v, units[i].ms, out_ms))
				return -ERANGE;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port,
			  bool allow_port0)
{
	const char *colon, *h = s;
	size_t hlen;
	uint64_t p;

	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL; /* bare IPv6 needs brackets */
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= host_len)
		return -EINVAL;
	if (vx_args_parse_u64(colon + 1, &p) || (p == 0 && !allow_port0) || p > 65535)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (uint16_t)p;
	return 0;
}

int vx_args_parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port)
{
	return parse_hostport(s, host, host_len, port, false);
}

int vx_args_parse_listen(const char *s, char *host, size_t host_len, uint16_t *port)
{
	return parse_hostport(s, host, host_len, port, true);
}
