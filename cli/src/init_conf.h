/* SPDX-License-Identifier: Apache-2.0 */
/*
 * init_conf.h: the pure part of `vx init`: parsing the mirror and upstream names of its command
 * line and rendering the container runtimes' mirror configuration (containerd hosts.toml,
 * containers-registries.conf v2 drop-ins) and the unified diff --dry-run prints. No I/O but
 * the FILE the diff is written to; fuzzed by tests/fuzz/fuzz_init_conf.c.
 */
#ifndef VX_CLI_INIT_CONF_H
#define VX_CLI_INIT_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Longest endpoint accepted on the command line ("https://" + host + ":" + port). */
#define VX_INIT_ENDPOINT_MAX 300
/* First line of every file vx init writes; a file without it is not replaced without --force. */
#define VX_INIT_MARKER "# Written by vx init"

/*
 * A registry or mirror named as [http://|https://]HOST[:PORT][/]. HOST is a DNS name (letters,
 * digits, '.', '-', '_', no empty label) or an IP literal ([v6] in brackets); anything else,
 * a path, a user part or a query is refused, so the name is safe as a directory name and inside
 * a quoted TOML string.
 */
struct vx_init_endpoint {
	bool tls;			      /* https (the default when no scheme was given and
						  default_tls was asked for) */
	char authority[VX_INIT_ENDPOINT_MAX]; /* HOST[:PORT] as given, brackets kept */
};

/* Parses @s. Returns 0, or -EINVAL with a reason in @why (static text). */
int vx_init_parse_endpoint(const char *s, bool default_tls, struct vx_init_endpoint *out,
			   const char **why);

/*
 * containerd's DIR/<upstream>/hosts.toml: the mirror first (capabilities pull and resolve), the
 * upstream as the server, which containerd uses when every host failed. @upstream NULL renders
 * the _default file (every registry without a file of its own; no server line). docker.io's
 * server is https://registry-1.docker.io. Returns a vx_malloc'ed string or NULL (-ENOMEM).
 */
char *vx_init_render_hosts_toml(const struct vx_init_endpoint *mirror,
				const struct vx_init_endpoint *upstream);

/*
 * A containers-registries.conf(5) v2 drop-in: one [[registry]] per upstream with the mirror as
 * its [[registry.mirror]] (insecure = true for plain http). Returns a vx_malloc'ed string or
 * NULL.
 */
char *vx_init_render_registries_conf(const struct vx_init_endpoint *mirror,
				     const struct vx_init_endpoint *upstreams, size_t nr);

/*
 * Writes a unified diff turning @old (NULL: no file) into @new for @path: one hunk, the lines
 * both share at the start and at the end as context. Prints nothing when they are equal.
 */
void vx_init_write_diff(FILE *f, const char *path, const char *old, const char *new);

#endif /* VX_CLI_INIT_CONF_H */
