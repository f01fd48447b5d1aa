/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_mgmt.c: the daemon's side of the management plane's jobs (manager/, spec/manager.md).
 * The scheduler pushes them over the control channel the daemon already trusts:
 *
 *   EV_PREHEAT task url [piece_len]: fetch url as task and keep it, like a seed trigger but
 *     registered as an ordinary download (the scheduler picks parents or the origin), so a
 *     preheat to every peer costs the origin one copy. A task already running here is left alone.
 *   EV_EVICT task: remove task from the store. A task still running here is cancelled first
 *     by letting it fail; what is stored is removed.
 */
#include <stdio.h>
#include <string.h>

#include "peer_int.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_store.h"
#include "vx_url.h"

static void on_preheat(struct vx_peer *p, const char *id, const struct vx_ctl_msg *m)
{
	char url[VX_CTL_STR_MAX + 1];

	if (!(m->has & VX_CTL_F_URL) || !m->url.len || vx__peer_task_find(p, id) ||
	    p->shutting_down)
		return;
	snprintf(url, sizeof(url), "%.*s", (int)m->url.len, m->url.ptr);
	if (!vx__peer_task_start(p, id, url, (m->has & VX_CTL_F_PIECE_LEN) ? m->piece_len : 0,
				 CAUSE_PREHEAT)) {
		vx_warn("peer: preheat of %.12s dropped: task table full", id);
		return;
	}
	vx_info("peer: preheat: fetching %s", VX_URL_SAFE(url));
}

static void on_evict(struct vx_peer *p, const char *id)
{
	int rc;

	if (vx__peer_task_find(p, id)) {
		vx_info("peer: evict of %.12s: the task is running here, left as is", id);
		return;
	}
	rc = vx_store_task_remove(p->store, id);
	if (rc && rc != -ENOENT)
		vx_warn("peer: evict of %.12s failed: %s", id, vx_strerror(rc));
	else if (!rc)
		vx_info("peer: evicted %.12s on the manager's delete_task", id);
}

void vx__peer_on_mgmt_event(struct vx_peer *p, const struct vx_ctl_msg *m)
{
	char id[VX_TASK_ID_LEN + 1];

	if (m->task_id.len != VX_TASK_ID_LEN || !vx_task_id_valid(m->task_id.ptr, m->task_id.len))
		return;
	memcpy(id, m->task_id.ptr, VX_TASK_ID_LEN);
	id[VX_TASK_ID_LEN] = '\0';
	if (m->event == VX_CTL_EV_PREHEAT)
		on_preheat(p, id, m);
	else if (m->event == VX_CTL_EV_REPLICATE)
		vx__peer_cache_replicate(p, m);
	else
		on_evict(p, id);
}
