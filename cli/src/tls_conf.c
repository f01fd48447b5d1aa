/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls_conf.c: see tls_conf.h.
 */
#include "tls_conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "vx_net.h"

bool vx_cli_addr_loopback(const char *hostport)
{
	char host[VX_NET_HOST_MAX];
	uint16_t port;
	struct in6_addr a6;
	struct in_addr a4;

	if (vx_net_parse_hostport(hostport, VX_NET_PORT0, host, sizeof(host), &port))
		return false;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return strcasecmp(host, "localhost") == 0;
}

static int put(char *dst, size_t len, const char *dir, const char *name)
{
	int n = dir ? snprintf(dst, len, "%s/tls/%s", dir, name) : snprintf(dst, len, "%s", name);

	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

int vx_cli_tls_paths(const struct vx_config *c, const char *data_dir, struct vx_cli_tls_paths *out)
{
	memset(out, 0, sizeof(*out));
	if (c->tls.cert[0]) { /* vx_config_validate(): cert, key and ca together */
		if (put(out->cert, sizeof(out->cert), NULL, c->tls.cert) ||
		    put(out->key, sizeof(out->key), NULL, c->tls.key) ||
		    put(out->ca, sizeof(out->ca), NULL, c->tls.ca) ||
		    put(out->crl, sizeof(out->crl), NULL, c->tls.crl))
			return -EINVAL;
		return 1;
	}
	if (put(out->cert, sizeof(out->cert), data_dir, "cert.pem") ||
	    put(out->key, sizeof(out->key), data_dir, "key.pem") ||
	    put(out->ca, sizeof(out->ca), data_dir, "ca.pem") ||
	    put(out->crl, sizeof(out->crl), data_dir, "crl.pem"))
		return -EINVAL;
	if (access(out->cert, F_OK) || access(out->key, F_OK) || access(out->ca, F_OK)) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	if (access(out->crl, F_OK))
		out->crl[0] = '\0';
	return 1;
}

struct vx_tls_files vx_cli_tls_files(const struct vx_cli_tls_paths *p)
{
	return (struct vx_tls_files){
		.cert = p->cert, .key = p->key, .ca = p->ca, .crl = p->crl[0] ? p->crl : NULL
	};
}
