/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_mgmt.c: the daemon's side of the management plane's jobs (manager/, spec/manager.md).
 * The scheduler pushes them over the control channel the daemon already trusts:
 *
 *   EV_PREHEAT task url [piece_len]: fetch url as task and keep it, like a seed trigger but
 *     registered as an ordinary download (the scheduler picks parents or the origin), so a
 *     preheat to every peer costs the origin one copy. A task already running here is left alone.
 *   EV_PREHEAT_MEMORY: the same, and once complete the task goes to the store's memory tier
 *     (Dragonfly's load_to_cache); memory short, it stays on disk. A task already here (running
 *     or complete) is marked for memory as well.
 *   EV_EVICT task: remove task from the store. A task still running here is cancelled first
 *     by letting it fail; what is stored is removed.
 */
#include <stdio.h>
#include <string.h>

#include "peer_int.h"
#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_store.h"
#include "vx_url.h"

/*
 * The job's origin headers (registry credentials), copied for the task's fetches. A header
 * line with a NUL, CR or LF is refused (it would split the request). 0 or -errno.
 */
static int preheat_headers(const struct vx_ctl_msg *m, char ***out, uint32_t *nr)
{
	char **h;

	*out = NULL;
	*nr = 0;
	if (!m->nr_headers)
		return 0;
	for (uint32_t i = 0; i < m->nr_headers; i++) {
		if (memchr(m->headers[i].ptr, '\0', m->headers[i].len) ||
		    memchr(m->headers[i].ptr, '\r', m->headers[i].len) ||
		    memchr(m->headers[i].ptr, '\n', m->headers[i].len))
			return -EINVAL;
	}
	h = vx_calloc(m->nr_headers, sizeof(*h));
	for (uint32_t i = 0; h && i < m->nr_headers; i++) {
		h[i] = vx_strndup(m->headers[i].ptr, m->headers[i].len);
		if (!h[i]) {
			vx__peer_headers_free(h, i);
			h = NULL;
		}
	}
	if (!h)
		return -ENOMEM;
	*out = h;
	*nr = m->nr_headers;
	return 0;
}

static void on_preheat(struct vx_peer *p, const char *id, const struct vx_ctl_msg *m)
{
	bool memory = m->event == VX_CTL_EV_PREHEAT_MEMORY;
	char url[VX_CTL_STR_MAX + 1], **headers;
	struct peer_task *t;
	uint32_t nr_headers;
	int rc;

	if (!(m->has & VX_CTL_F_URL) || !m->url.len || p->shutting_down)
		return;
	t = vx__peer_task_find(p, id);
	if (t) {
		if (memory) {
			t->to_memory = true;
			vx__peer_task_to_memory(p, t); /* when it is complete already */
		}
		return;
	}
	snprintf(url, sizeof(url), "%.*s", (int)m->url.len, m->url.ptr);
	rc = preheat_headers(m, &headers, &nr_headers);
	if (rc) {
		vx_warn("peer: preheat of %.12s dropped: its headers: %s", id, vx_strerror(rc));
		return;
	}
	t = vx__peer_task_start(p, id, url, (m->has & VX_CTL_F_PIECE_LEN) ? m->piece_len : 0,
				CAUSE_PREHEAT, memory, headers, nr_headers);
	if (!t) {
		vx__peer_headers_free(headers, nr_headers);
		vx_warn("peer: preheat of %.12s dropped: task table full", id);
		return;
	}
	vx_info("peer: preheat: fetching %s%s", VX_URL_SAFE(url),
		nr_headers ? " with the job's credentials" : "");
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
	if (m->event == VX_CTL_EV_PREHEAT || m->event == VX_CTL_EV_PREHEAT_MEMORY)
		on_preheat(p, id, m);
	else if (m->event == VX_CTL_EV_REPLICATE)
		vx__peer_cache_replicate(p, m);
	else
		on_evict(p, id);
}
