/* SPDX-License-Identifier: Apache-2.0 */
/*
 * serve_relay.h: `vx serve`'s part in clusters of clusters (spec/sources.md "Upstream
 * cluster"): the upstream cluster its back-to-source goes through (source.upstream_cluster.*),
 * and the token and metadata rules of its own forward proxy (proxy.forward_token_file,
 * proxy.direct_rules).
 */
#ifndef VX_SERVE_RELAY_H
#define VX_SERVE_RELAY_H

#include "config.h"

struct vx_peer_cfg;
struct vx_proxy_cfg;

/*
 * vx_serve_relay_peer() - sets @pc's upstream_* from @c: the token read from its file (0600,
 * kept for the process's life, never logged), the rules compiled. Returns 0, or -EINVAL with
 * the reason on stderr.
 */
int vx_serve_relay_peer(const struct vx_config *c, struct vx_peer_cfg *pc);

/*
 * vx_serve_relay_proxy() - sets @pc's direct_rules and forward_token from @c (the token read
 * from its file; vx_proxy_start() copies it). Returns 0, or -EINVAL with the reason on
 * stderr.
 */
int vx_serve_relay_proxy(const struct vx_config *c, struct vx_proxy_cfg *pc);

/* Wipes the tokens read for the proxy once vx_proxy_start() has copied them. */
void vx_serve_relay_proxy_done(void);

#endif /* VX_SERVE_RELAY_H */
