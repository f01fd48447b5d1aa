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

#include "vx_net.h"

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

int vx_args_parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port)
{
	return vx_net_parse_hostport(s, 0, host, host_len, port);
}

int vx_args_parse_listen(const char *s, char *host, size_t host_len, uint16_t *port)
{
	return vx_net_parse_hostport(s, VX_NET_PORT0, host, host_len, port);
}
