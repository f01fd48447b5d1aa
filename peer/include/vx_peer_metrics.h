/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_peer_metrics.h: the daemon's observation endpoint (`vx serve --metrics HOST:PORT`,
 * spec/metrics.md): GET /metrics (Prometheus text 0.0.4), GET /healthy (the process answers),
 * GET /ready (the store answers). Plain HTTP on loopback by default; the output holds counts
 * only: no task id, URL, token or host name.
 */
#ifndef VX_PEER_METRICS_H
#define VX_PEER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"

struct vx_peer;
struct vx_peer_metrics;

/* The default listen address (config key metrics_listen). */
#define VX_PEER_METRICS_LISTEN "127.0.0.1:4002"

/*
 * vx_peer_metrics_start() - serve the endpoint on @listen ("HOST:PORT", port 0 picks one) from
 * a thread of its own. @p is borrowed and must outlive the server. Returns 0 and *@out (owned,
 * vx_peer_metrics_stop()), -EINVAL (bad address) or a socket error, with one line in @err.
 */
VX_MUST_CHECK int vx_peer_metrics_start(struct vx_peer_metrics **out, struct vx_peer *p,
					const char *listen, char *err, size_t err_len);
uint16_t vx_peer_metrics_port(const struct vx_peer_metrics *m);
/* Stops the server and frees @m; NULL is a no-op. Call before vx_peer_free(). */
void vx_peer_metrics_stop(struct vx_peer_metrics *m);

#endif /* VX_PEER_METRICS_H */
