/* SPDX-License-Identifier: Apache-2.0 */
/* serve_ccfg.h: the daemon's side of the cluster configuration (spec/peer.md). */
#ifndef VX_CLI_SERVE_CCFG_H
#define VX_CLI_SERVE_CCFG_H

#include "config.h"
#include "vx_peer.h"

struct serve_ccfg {
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

#endif
