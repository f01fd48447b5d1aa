/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_source.c: a task's source (its URL and what its id is derived from: tag, application,
 * user-fixed piece length, filtered query keys) and the check made before any fetch from it.
 * Whatever started the task (a download, a seed trigger, a resume from the stored URL), the id
 * is derived again from the source and a mismatch fetches nothing: a trigger cannot fill a
 * task with another URL's bytes (spec/peer.md section 4).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "peer_int.h"
#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_origin.h"
#include "vx_outbound.h"
#include "vx_task_id.h"

void vx__peer_source_free(struct peer_task *t)
{
	for (uint32_t i = 0; t->filtered && i < t->nr_filtered; i++)
		vx_free(t->filtered[i]);
	vx_free(t->filtered);
	vx_free(t->tag);
	vx_free(t->app);
	t->filtered = NULL;
	t->tag = t->app = NULL;
	t->nr_filtered = 0;
}

int vx__peer_source_set(struct peer_task *t, const char *tag, const char *app,
			const char *const *filtered, uint32_t nr_filtered)
{
	t->tag = tag && *tag ? vx_strdup(tag) : NULL;
	t->app = app && *app ? vx_strdup(app) : NULL;
	if ((tag && *tag && !t->tag) || (app && *app && !t->app))
		return -ENOMEM;
	if (!nr_filtered)
		return 0;
	t->filtered = vx_calloc(nr_filtered, sizeof(*t->filtered));
	if (!t->filtered)
		return -ENOMEM;
	for (uint32_t i = 0; i < nr_filtered; i++) {
		t->filtered[i] = vx_strdup(filtered[i]);
		if (!t->filtered[i])
			return -ENOMEM;
		t->nr_filtered++;
	}
	return 0;
}

int vx__peer_source_from_trigger(struct peer_task *t, const struct vx_ctl_msg *m)
{
	char tag[VX_CTL_ID_MAX + 1], app[VX_CTL_ID_MAX + 1];
	char *filt[VX_CTL_FILTERS_MAX];
	uint32_t n = VX_MIN(m->nr_filtered, (uint32_t)VX_CTL_FILTERS_MAX);
	int rc;

	snprintf(tag, sizeof(tag), "%.*s", (int)m->tg.len, m->tg.ptr ? m->tg.ptr : "");
	snprintf(app, sizeof(app), "%.*s", (int)m->app.len, m->app.ptr ? m->app.ptr : "");
	for (uint32_t i = 0; i < n; i++) {
		filt[i] = vx_strndup(m->filtered[i].ptr, m->filtered[i].len);
		if (!filt[i]) {
			n = i;
			rc = -ENOMEM;
			goto out;
		}
	}
	t->user_piece_length = m->fixed_piece_len;
	snprintf(t->requester, sizeof(t->requester), "%.*s", (int)m->requester.len,
		 m->requester.ptr ? m->requester.ptr : "");
	t->requester_local = (m->has & VX_CTL_F_REQ_LOCAL) && m->requester_local;
	rc = vx__peer_source_set(t, tag, app, (const char *const *)filt, n);
out:
	for (uint32_t i = 0; i < n; i++)
		vx_free(filt[i]);
	return rc;
}

int vx__peer_source_check(const struct peer_task *t, char *why, size_t why_len)
{
	char id[VX_TASK_ID_LEN + 1];
	int rc;

	if (!t->url || !*t->url) {
		snprintf(why, why_len, "the task has no source URL to fetch from");
		return -EINVAL;
	}
	if (t->cause == CAUSE_TRIGGER && strncasecmp(t->url, "file:", 5) == 0) {
		snprintf(why, why_len, "a seed never fetches a file: URL for another host");
		return -EPERM;
	}
	if (t->id_content && t->cause != CAUSE_TRIGGER)
		rc = vx_task_id_from_content(t->id_content, strlen(t->id_content), id);
	else
		rc = vx_task_id_from_source(t->url, t->tag, t->app, t->user_piece_length,
					    (const char *const *)t->filtered, t->nr_filtered, id);
	if (rc) {
		snprintf(why, why_len, "the source URL is not valid: %s", vx_strerror(rc));
		return rc;
	}
	if (memcmp(id, t->id, VX_TASK_ID_LEN) != 0) {
		snprintf(why, why_len,
			 "the source URL does not derive task id %.12s (it derives %.12s): refused",
			 t->id, id);
		return -EPERM;
	}
	return 0;
}

void vx__peer_source_reg(const struct peer_task *t, struct vx_sched_client_task *rt,
			 struct vx_ctl_str *filt)
{
	rt->tag = vx_ctl_str_of(t->tag);
	rt->app = vx_ctl_str_of(t->app);
	rt->request_id = vx_ctl_str_of(t->request_id[0] ? t->request_id : NULL);
	rt->fixed_piece_len = t->user_piece_length;
	for (uint32_t i = 0; i < t->nr_filtered; i++)
		filt[i] = vx_ctl_str_of(t->filtered[i]);
	rt->filtered = filt;
	rt->nr_filtered = t->nr_filtered;
}

/*
 * The upstream cluster a fetch of @t goes through (source.upstream_cluster.*), or NULL: none
 * configured, a URL its rules do not take (every http:// URL without rules; https:// would
 * need a tunnel, which the other cluster's proxy does not open for a token), or the task
 * was let go to its origin after the upstream failed (upstream_off).
 */
const struct vx_source_upstream *vx__peer_source_upstream(const struct vx_peer *p,
							  const struct peer_task *t)
{
	if (!p->upstream.proxy || atomic_load(&t->upstream_off) || !t->url)
		return NULL;
	if (p->cfg.upstream_match ? !p->cfg.upstream_match(p->cfg.upstream_arg, t->url)
				  : strncasecmp(t->url, "http://", 7) != 0)
		return NULL;
	return &p->upstream;
}

/*
 * The outbound policy of a fetch: a seed fetching for another host (a trigger, or a task it
 * resumes, whose requester it no longer knows) connects only where that host could itself
 * (vx_outbound.h); loopback and link-local only for a requester on this host, which only the
 * scheduler can tell (it compares the addresses both connect from): the requester's address
 * is never looked up among this host's own (a requester beside the scheduler is 127.0.0.1,
 * which every host has). Every fetch also spends the task's own rates (its cap, and a
 * preheat's share of the control plane's preheat rate).
 */
void vx__peer_source_outbound(const struct vx_peer *p, struct peer_task *t,
			      struct vx_origin_opts *o)
{
	o->upstream = vx__peer_source_upstream(p, t);
	o->rates[0] = &t->rate;	       /* the task's cap: its bytes from every source */
	o->rates[1] = &t->source_rate; /* a preheat's share of the control plane's rate */
	if (t->cause != CAUSE_TRIGGER && !(t->cause == CAUSE_RESUME && p->cfg.seed))
		return;
	o->outbound = &p->cfg.outbound;
	o->outbound_local = t->cause == CAUSE_TRIGGER && t->requester_local;
}
