/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched_view.c: what the management plane's console shows of the scheduler core: the task
 * table, who fetched from whom per task (bounded: VX_SCHED_FLOWS_MAX edges a task, later ones
 * only counted), bytes from peers and origins per host and for the cluster, and the operator's
 * blocklist of hosts never offered as parents. The accounting runs on the progress path: a
 * scan of at most VX_SCHED_FLOWS_MAX edges of one task, and one allocation the first time.
 */
#include <errno.h>
#include <string.h>

#include "sched_int.h"
#include "vx_alloc.h"

static uint32_t host_tag(const struct vx_sched *s, uint32_t h)
{
	return h == SCHED_NONE ? SCHED_NONE : h | s->hosts[h].gen << 20;
}

void vx__sched_flow_add(struct vx_sched *s, uint32_t ti, uint32_t parent, uint32_t child,
			uint64_t bytes)
{
	struct sched_task *t = &s->tasks[ti];
	uint32_t pt = host_tag(s, parent), ct = host_tag(s, child), i;

	if (parent == SCHED_NONE) {
		s->hosts[child].rx_origin += bytes;
		s->st.bytes_from_origin += bytes;
	} else {
		s->hosts[child].rx_peer += bytes;
		s->hosts[parent].tx_bytes += bytes;
		s->st.bytes_from_peers += bytes;
	}
	for (i = 0; i < t->nr_flows; i++) {
		if (t->flows[i].parent == pt && t->flows[i].child == ct) {
			t->flows[i].bytes += bytes;
			return;
		}
	}
	if (!t->flows)
		t->flows = vx_calloc(VX_SCHED_FLOWS_MAX, sizeof(*t->flows));
	if (!t->flows || t->nr_flows == VX_SCHED_FLOWS_MAX) {
		t->flows_dropped++;
		return;
	}
	t->flows[t->nr_flows++] = (struct sched_flow){ .parent = pt, .child = ct, .bytes = bytes };
}

void vx__sched_flows_free(struct sched_task *t)
{
	vx_free(t->flows);
	t->flows = NULL;
	t->nr_flows = 0;
	t->flows_dropped = 0;
}

uint32_t vx_sched_tasks_list(const struct vx_sched *s, struct vx_sched_task_view *out,
			     uint32_t skip, uint32_t max)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->cfg.tasks_max && n < max; i++) {
		const struct sched_task *t = &s->tasks[i];

		if (t->state == VX_SCHED_TASK_FREE)
			continue;
		if (skip) {
			skip--;
			continue;
		}
		out[n] = (struct vx_sched_task_view){
			.id = t->id,
			.url = t->url,
			.priv = t->priv,
			.tenant = t->tenant,
			.state = t->state,
			.peers = t->nr_peers,
			.done_peers = t->nr_done,
			.piece_count = t->piece_count,
			.piece_len = t->piece_len,
			.content_len = t->content_len,
		};
		n++;
	}
	return n;
}

const char *vx_sched_task_tenant(const struct vx_sched *s, struct vx_ctl_str id)
{
	uint32_t ti = vx__sched_task_find(s, id);

	return ti == SCHED_NONE ? NULL : s->tasks[ti].tenant;
}

static const char *tag_id(const struct vx_sched *s, uint32_t tag)
{
	const struct sched_host *h;

	if (tag == SCHED_NONE)
		return NULL;
	h = &s->hosts[tag & 0xfffff];
	return h->state != VX_SCHED_HOST_FREE && h->gen == tag >> 20 ? h->id : "";
}

uint32_t vx_sched_task_flows(const struct vx_sched *s, struct vx_ctl_str task_id,
			     struct vx_sched_flow_view *out, uint32_t max, uint32_t *dropped)
{
	uint32_t n = 0, ti = vx__sched_task_find(s, task_id);
	const struct sched_task *t;

	*dropped = 0;
	if (ti == SCHED_NONE)
		return 0;
	t = &s->tasks[ti];
	for (; n < t->nr_flows && n < max; n++) {
		out[n].parent = tag_id(s, t->flows[n].parent);
		out[n].child = tag_id(s, t->flows[n].child);
		out[n].bytes = t->flows[n].bytes;
	}
	*dropped = t->flows_dropped + (t->nr_flows - n);
	return n;
}

bool vx__sched_banned_id(const struct vx_sched *s, const char *id)
{
	for (uint32_t i = 0; id && i < s->nr_banned; i++) {
		if (strcmp(s->banned[i], id) == 0)
			return true;
	}
	return false;
}

void vx__sched_banned_free(struct vx_sched *s)
{
	for (uint32_t i = 0; i < s->nr_banned; i++)
		vx_free(s->banned[i]);
	s->nr_banned = 0;
}

int vx_sched_ban(struct vx_sched *s, const char *id, bool on)
{
	size_t len = id ? strlen(id) : 0;
	uint32_t i;

	if (!len || len > VX_CTL_ID_MAX)
		return -EINVAL;
	for (i = 0; i < s->nr_banned && strcmp(s->banned[i], id) != 0; i++)
		;
	if (on && i == s->nr_banned) {
		if (s->nr_banned == VX_SCHED_BANNED_MAX)
			return -ENOSPC;
		s->banned[i] = vx_malloc(len + 1);
		if (!s->banned[i])
			return -ENOMEM;
		memcpy(s->banned[i], id, len + 1);
		s->nr_banned++;
	} else if (!on && i < s->nr_banned) {
		vx_free(s->banned[i]);
		s->banned[i] = s->banned[--s->nr_banned];
	}
	for (uint32_t h = 0; h < s->cfg.hosts_max; h++) {
		if (s->hosts[h].state != VX_SCHED_HOST_FREE && strcmp(s->hosts[h].id, id) == 0)
			s->hosts[h].banned =
				on; /* a parent now stays one until it is rescheduled */
	}
	return 0;
}
