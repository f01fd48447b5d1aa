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
	uint32_t n = 0;

	if (task_id.len != VX_TASK_ID_LEN)
		return 0;
	for (uint32_t i = 0; i < s->cfg.tasks_max; i++) {
		const struct sched_task *t = &s->tasks[i];

		if (t->state == VX_SCHED_TASK_FREE || memcmp(t->id, task_id.ptr, VX_TASK_ID_LEN))
			continue;
		for (uint32_t k = 0; k < t->nr_peers && n < max; k++) {
			const struct sched_peer *p = &s->peers[t->peers[k]];

			out[n].host = p->host;
			out[n].state = p->state;
			out[n].finished = p->finished;
			out[n].piece_count = t->piece_count;
			n++;
		}
		break;
	}
	return n;
}
