/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched_query.c: read-only views of the scheduler core for the management plane (manager/):
 * the hosts it knows and the peers of one task. Linear scans of the tables: called per API
 * request, never on the scheduling path.
 */
#include <errno.h>
#include <string.h>

#include "sched_int.h"

uint32_t vx_sched_hosts_list(const struct vx_sched *s, struct vx_sched_host_view *out, uint32_t max)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->cfg.hosts_max && n < max; i++) {
		const struct sched_host *h = &s->hosts[i];

		if (h->state == VX_SCHED_HOST_FREE)
			continue;
		out[n].host = i;
		out[n].id = h->id;
		out[n].addr = h->addr ? h->addr : "";
		out[n].port = h->port;
		out[n].role = h->role;
		out[n].active = h->state == VX_SCHED_HOST_ACTIVE;
		out[n].banned = h->banned;
		out[n].uploads = h->uploads;
		out[n].tx_bps = h->tx_bps;
		out[n].rx_peer = h->rx_peer;
		out[n].rx_origin = h->rx_origin;
		out[n].tx_bytes = h->tx_bytes;
		out[n].nr_peers = h->nr_peers;
		out[n].tenant = h->tenant;
		n++;
	}
	return n;
}

int vx_sched_host_addr(const struct vx_sched *s, uint32_t host, struct vx_ctl_str *addr,
		       uint16_t *port)
{
	const struct sched_host *h;

	if (host >= s->cfg.hosts_max)
		return -ENOENT;
	h = &s->hosts[host];
	if (h->state == VX_SCHED_HOST_FREE || !h->addr || !*h->addr)
		return -ENOENT;
	*addr = vx_ctl_str_of(h->addr);
	*port = h->port;
	return 0;
}

uint32_t vx_sched_task_holders(const struct vx_sched *s, struct vx_ctl_str task_id,
			       struct vx_sched_holder *out, uint32_t max)
{
	uint32_t n = 0, ti = vx__sched_task_find(s, task_id);
	const struct sched_task *t;

	if (ti == SCHED_NONE)
		return 0;
	t = &s->tasks[ti];
	for (uint32_t k = 0; k < t->nr_peers && n < max; k++) {
		const struct sched_peer *p = &s->peers[t->peers[k]];

		out[n].host = p->host;
		out[n].state = p->state;
		out[n].finished = p->finished;
		out[n].piece_count = t->piece_count;
		n++;
	}
	return n;
}
