/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_mgmt.c: the daemon's side of the management plane's jobs (manager/, spec/manager.md).
 * The scheduler pushes them over the control channel the daemon already trusts:
 *
 *   EV_PREHEAT task url [piece_len] [rate]: fetch url as task and keep it (from the origin
 *   at rate bytes/s at most: the task's share of the control plane's preheat rate, sent again
 *   when it changes), like a seed trigger but
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

/*
 * A preheat that found the task table full (VX_PEER_TASKS_MAX running) waits here, in order,
 * instead of being dropped: a job of many blobs at a high concurrency would otherwise lose
 * the ones past the table and only time out. At most PREHEAT_QUEUE_MAX wait; more are dropped
 * with a warning.
 */
#define PREHEAT_QUEUE_MAX 4096

struct preheat_wait {
	struct vx_list node;
	char id[VX_TASK_ID_LEN + 1];
	char *url;
	uint64_t piece_len;
	bool memory;
	char **headers;
	uint32_t nr_headers;
	uint64_t rate_bps; /* the control plane's share for its origin fetch; 0: none */
	char *content;	   /* what the id derives from (a registry blob's digest); NULL: the URL */
};

static void wait_free(struct preheat_wait *w)
{
	vx__peer_headers_free(w->headers, w->nr_headers);
	vx_free(w->url);
	vx_free(w->content);
	vx_free(w);
}

static struct preheat_wait *queued(struct vx_peer *p, const char *id)
{
	struct vx_list *pos;

	vx_list_for_each(pos, &p->preheat_q) {
		struct preheat_wait *w = vx_list_entry(pos, struct preheat_wait, node);

		if (strcmp(w->id, id) == 0)
			return w;
	}
	return NULL;
}

/* A preheat's task fetches from its origin at @rate_bps at most (its share of the control
 * plane's preheat rate, key 76); 0: no share. */
static void preheat_rate(struct peer_task *t, uint64_t rate_bps)
{
	vx_rate_set(&t->source_rate, rate_bps);
}

/*
 * A preheat of a content task (key 77): @t's id derives from @content (a registry blob's
 * digest), as the registry mirror's task of that blob does, and the fetch from @t's URL is
 * checked against it (peer_work.c). False when @content is given and cannot be kept.
 */
static bool preheat_content(struct peer_task *t, const char *content)
{
	if (!content)
		return true;
	t->id_content = vx_strdup(content);
	return t->id_content != NULL;
}

/* The content of preheat event @m into @out ("" none); -EPERM when it does not derive @id. */
static int event_content(const struct vx_ctl_msg *m, const char *id, char *out, size_t cap)
{
	char want[VX_TASK_ID_LEN + 1];

	out[0] = '\0';
	if (!(m->has & VX_CTL_F_CONTENT))
		return 0;
	if (!m->content.len || m->content.len >= cap)
		return -EINVAL;
	snprintf(out, cap, "%.*s", (int)m->content.len, m->content.ptr);
	if (vx_task_id_from_content(out, strlen(out), want) || memcmp(want, id, VX_TASK_ID_LEN))
		return -EPERM;
	return 0;
}

/* Takes @headers (freed here when the preheat cannot wait). */
static void preheat_wait(struct vx_peer *p, const char *id, const char *url, uint64_t piece_len,
			 bool memory, char **headers, uint32_t nr_headers, uint64_t rate_bps,
			 const char *content)
{
	struct preheat_wait *w = queued(p, id);

	if (w) {
		w->rate_bps = rate_bps; /* a new share for the one waiting */
		vx__peer_headers_free(headers, nr_headers);
		return;
	}
	w = p->nr_preheat_q < PREHEAT_QUEUE_MAX ? vx_calloc(1, sizeof(*w)) : NULL;
	if (w) {
		w->url = vx_strdup(url);
		w->content = content ? vx_strdup(content) : NULL;
	}
	if (!w || !w->url || (content && !w->content)) {
		if (w)
			vx_free(w->url);
		vx_free(w);
		vx__peer_headers_free(headers, nr_headers);
		vx_warn("peer: preheat of %.12s dropped: task table full and %u preheats waiting",
			id, p->nr_preheat_q);
		return;
	}
	memcpy(w->id, id, sizeof(w->id));
	w->piece_len = piece_len;
	w->memory = memory;
	w->headers = headers;
	w->nr_headers = nr_headers;
	w->rate_bps = rate_bps;
	vx_list_add_tail(&p->preheat_q, &w->node);
	p->nr_preheat_q++;
	if (p->nr_preheat_q == 1 || (p->nr_preheat_q & (p->nr_preheat_q - 1)) == 0)
		vx_info("peer: task table full: %u preheats wait for a slot", p->nr_preheat_q);
}

void vx__peer_mgmt_tick(struct vx_peer *p)
{
	while (!vx_list_empty(&p->preheat_q) && !p->shutting_down) {
		struct preheat_wait *w = vx_list_first(&p->preheat_q, struct preheat_wait, node);
		struct peer_task *t = vx__peer_task_find(p, w->id);

		if (!t) {
			t = vx__peer_task_start(p, w->id, w->url, w->piece_len, CAUSE_PREHEAT,
						w->memory, w->headers, w->nr_headers);
			if (!t)
				return;	   /* still full: the next tick tries again */
			w->headers = NULL; /* the task took them */
			w->nr_headers = 0;
			t->id_content = w->content; /* before any answer: the source check */
			w->content = NULL;
			preheat_rate(t, w->rate_bps);
			vx_info("peer: preheat: fetching %s (it waited for a task slot)",
				VX_URL_SAFE(w->url));
		}
		vx_list_del(&w->node);
		p->nr_preheat_q--;
		wait_free(w);
	}
}

void vx__peer_mgmt_free(struct vx_peer *p)
{
	while (!vx_list_empty(&p->preheat_q)) {
		struct preheat_wait *w = vx_list_first(&p->preheat_q, struct preheat_wait, node);

		vx_list_del(&w->node);
		wait_free(w);
	}
	p->nr_preheat_q = 0;
}

static void on_preheat(struct vx_peer *p, const char *id, const struct vx_ctl_msg *m)
{
	bool memory = m->event == VX_CTL_EV_PREHEAT_MEMORY;
	uint64_t rate = (m->has & VX_CTL_F_RATE) ? m->rate_bps : 0;
	char url[VX_CTL_STR_MAX + 1], content[VX_CTL_CONTENT_MAX + 1], **headers;
	struct peer_task *t;
	uint32_t nr_headers;
	int rc;

	if (!(m->has & VX_CTL_F_URL) || !m->url.len || p->shutting_down)
		return;
	t = vx__peer_task_find(p, id);
	if (t) {
		/* the event again: a new share of the preheat rate (a task a client started
		 * keeps its own rate: only a preheat's task takes a share) */
		if (t->cause == CAUSE_PREHEAT)
			preheat_rate(t, rate);
		if (memory) {
			t->to_memory = true;
			vx__peer_task_to_memory(p, t); /* when it is complete already */
		}
		return;
	}
	snprintf(url, sizeof(url), "%.*s", (int)m->url.len, m->url.ptr);
	rc = event_content(m, id, content, sizeof(content));
	if (rc) {
		vx_warn("peer: preheat of %.12s dropped: its content does not derive its id", id);
		return;
	}
	rc = preheat_headers(m, &headers, &nr_headers);
	if (rc) {
		vx_warn("peer: preheat of %.12s dropped: its headers: %s", id, vx_strerror(rc));
		return;
	}
	t = vx__peer_task_start(p, id, url, (m->has & VX_CTL_F_PIECE_LEN) ? m->piece_len : 0,
				CAUSE_PREHEAT, memory, headers, nr_headers);
	if (!t) {
		preheat_wait(p, id, url, (m->has & VX_CTL_F_PIECE_LEN) ? m->piece_len : 0, memory,
			     headers, nr_headers, rate, content[0] ? content : NULL);
		return;
	}
	if (!preheat_content(t, content[0] ? content : NULL))
		vx_warn("peer: preheat of %.12s: out of memory (its source check will refuse it)",
			id);
	preheat_rate(t, rate);
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
