/* SPDX-License-Identifier: Apache-2.0 */
/* serve_ccfg.h: the daemon's side of the cluster configuration (spec/peer.md). */
#ifndef VX_CLI_SERVE_CCFG_H
#define VX_CLI_SERVE_CCFG_H

#include <pthread.h>

#include "config.h"
#include "vx_peer.h"
#include "vx_proxy.h"

struct serve_ccfg {
	pthread_mutex_t lock;	    /* the proxy and the effective rules (loop and main thread) */
	struct vx_proxy *proxy;	    /* whose proxy.rules / proxy.direct_rules follow; NULL: none */
	struct vx_config base;	    /* the daemon's own file and flags */
	struct vx_config effective; /* base with the cluster's keys */
	char cache[VX_CONFIG_PATH_MAX + 32];
	uint64_t version;
	bool told_local; /* "kept local" said once */
};

/*
 * At start: remembers @cfg as the base, and applies the cached document of DATA_DIR (if any)
 * to @cfg and @pc (the log says so). Then sets @pc's callback. @cc lives as long as the peer.
 */
void vx_serve_ccfg_start(struct serve_ccfg *cc, struct vx_config *cfg, struct vx_peer_cfg *pc);
/*
 * The proxy whose rules follow the cluster configuration from now on (applies the effective
 * ones at once: a document may have come since @px was configured); NULL before stopping it.
 */
void vx_serve_ccfg_proxy(struct serve_ccfg *cc, struct vx_proxy *px);
/*
 * The regexes of @c (proxy.rules, proxy.direct_rules, proxy.hijack.hosts,
 * source.upstream_cluster.rules) compiled as the daemon will: 0, or -EINVAL with the first
 * refused one in @err. `vx config check`, the control plane's cluster-config check and every
 * document the daemon merges go through it, so none of them accepts what a start refuses.
 */
int vx_serve_rules_check(const struct vx_config *c, char *err, size_t err_len);
/* The daemon's rates as configuration @c says. */
struct vx_peer_rates vx_serve_rates(const struct vx_config *c);

#endif
