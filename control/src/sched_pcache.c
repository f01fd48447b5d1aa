/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched_pcache.c: the scheduler's persistent cache tasks (vx_sched_pcache.h). A flat table
 * scanned linearly: at most VX_PCACHE_TASKS_MAX tasks, each touched once per tick.
 */
#include "vx_sched_pcache.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vx_alloc.h"
#include "vx_digest.h"
#include "vx_log.h"

/* Hosts looked at per tick (the scheduler's host table is usually far smaller). */
#define PC_HOSTS_VIEW 4096

struct vx_pcache {
	struct vx_pcache_task *tasks[VX_PCACHE_TASKS_MAX];
	uint32_t nr;
	struct vx_sched_host_view *hv; /* PC_HOSTS_VIEW scratch */
};

int vx_pcache_new(struct vx_pcache **out)
{
	struct vx_pcache *pc = vx_calloc(1, sizeof(*pc));

	*out = NULL;
	if (!pc)
		return -ENOMEM;
	pc->hv = vx_calloc(PC_HOSTS_VIEW, sizeof(*pc->hv));
	if (!pc->hv) {
		vx_free(pc);
		return -ENOMEM;
	}
	*out = pc;
	return 0;
}

static void task_free(struct vx_pcache_task *t)
{
	if (!t)
		return;
	vx_free(t->crc);
	vx_free(t->tag);
	vx_free(t->app);
	vx_free(t);
}

void vx_pcache_free(struct vx_pcache *pc)
{
	if (!pc)
		return;
	for (uint32_t i = 0; i < pc->nr; i++)
		task_free(pc->tasks[i]);
	vx_free(pc->hv);
	vx_free(pc);
}

static int find_idx(const struct vx_pcache *pc, const char *id)
{
	for (uint32_t i = 0; i < pc->nr; i++) {
		if (memcmp(pc->tasks[i]->id, id, VX_TASK_ID_LEN) == 0)
			return (int)i;
	}
	return -1;
}

const struct vx_pcache_task *vx_pcache_find(const struct vx_pcache *pc, const char *id)
{
	int i = find_idx(pc, id);

	return i < 0 ? NULL : pc->tasks[i];
}

uint64_t vx_pcache_ttl_left(const struct vx_pcache_task *t, int64_t now_s)
{
	int64_t left = t->created_s + (int64_t)t->ttl_s - now_s;

	return left > 0 ? (uint64_t)left : 0;
}

int vx_pcache_forget(struct vx_pcache *pc, const char *id)
{
	int i = find_idx(pc, id);

	if (i < 0)
		return -ENOENT;
	task_free(pc->tasks[i]);
	pc->tasks[i] = pc->tasks[--pc->nr];
	pc->tasks[pc->nr] = NULL;
	return 0;
}

void vx_pcache_each(const struct vx_pcache *pc,
		    void (*fn)(void *arg, const struct vx_pcache_task *t), void *arg)
{
	for (uint32_t i = 0; i < pc->nr; i++)
		fn(arg, pc->tasks[i]);
}

static struct vx_pcache_holder *holder_of(struct vx_pcache_task *t, const char *host_id)
{
	for (uint32_t i = 0; i < t->nr_holders; i++) {
		if (strcmp(t->holders[i].host_id, host_id) == 0)
			return &t->holders[i];
	}
	return NULL;
}

static struct vx_pcache_holder *holder_add(struct vx_pcache_task *t, const char *host_id)
{
	struct vx_pcache_holder *h = holder_of(t, host_id);

	if (h)
		return h;
	if (t->nr_holders == VX_PCACHE_HOSTS_MAX) {
		/* forget a refusal first: those are only there to not ask again */
		for (uint32_t i = 0; i < t->nr_holders; i++) {
			if (t->holders[i].state == VX_PCACHE_REFUSED) {
				t->holders[i] = t->holders[--t->nr_holders];
				break;
			}
		}
		if (t->nr_holders == VX_PCACHE_HOSTS_MAX)
			return NULL;
	}
	h = &t->holders[t->nr_holders++];
	memset(h, 0, sizeof(*h));
	snprintf(h->host_id, sizeof(h->host_id), "%s", host_id);
	return h;
}

/* The digests of @m as a CRC array of @n pieces, each exactly once. */
static int digests_take(const struct vx_ctl_msg *m, uint32_t n, uint32_t *crc)
{
	uint8_t *seen;
	int rc = 0;

	if (m->nr_digests != n)
		return -EINVAL;
	seen = vx_calloc(n ? n : 1, 1);
	if (!seen)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->nr_digests && !rc; i++) {
		const struct vx_ctl_digest *d = &m->digests[i];

		if (d->piece >= n || seen[d->piece] ||
		    vx_digest_parse_crc32(d->digest.ptr, d->digest.len, &crc[d->piece]))
			rc = -EINVAL;
		else
			seen[d->piece] = 1;
	}
	vx_free(seen);
	return rc;
}

static char *dup_opt(struct vx_ctl_str s, uint64_t has, uint64_t bit, bool *oom)
{
	char *r;

	if (!(has & bit) || !s.len)
		return NULL;
	r = vx_strndup(s.ptr, s.len);
	if (!r)
		*oom = true;
	return r;
}

static int task_make(const struct vx_ctl_msg *m, const char *host_id, uint32_t n, int64_t now_s,
		     struct vx_pcache_task **out)
{
	struct vx_pcache_task *t = vx_calloc(1, sizeof(*t));
	bool oom = false;
	int rc;

	if (!t)
		return -ENOMEM;
	t->crc = vx_calloc(n ? n : 1, sizeof(*t->crc));
	t->tag = dup_opt(m->tg, m->has, VX_CTL_F_TAG, &oom);
	t->app = dup_opt(m->app, m->has, VX_CTL_F_APP, &oom);
	if (!t->crc || oom) {
		task_free(t);
		return -ENOMEM;
	}
	rc = digests_take(m, n, t->crc);
	if (rc) {
		task_free(t);
		return rc;
	}
	memcpy(t->id, m->task_id.ptr, VX_TASK_ID_LEN);
	snprintf(t->importer, sizeof(t->importer), "%s", host_id);
	t->content_len = (uint64_t)m->content_len;
	t->piece_len = m->piece_len;
	t->piece_count = n;
	t->replicas = m->replicas ? m->replicas : 1;
	t->ttl_s = m->ttl_s;
	t->created_s = now_s;
	*out = t;
	return 0;
}

int vx_pcache_import(struct vx_pcache *pc, const char *host_id, const struct vx_ctl_msg *m,
		     uint64_t now_ms, int64_t now_s)
{
	struct vx_pcache_task *t;
	struct vx_pcache_holder *h;
	uint32_t n;
	int i, rc;

	if (m->task_id.len != VX_TASK_ID_LEN || m->content_len < 0 || !m->piece_len ||
	    m->replicas < 1 || m->ttl_s < 1)
		return -EINVAL;
	n = (uint32_t)(((uint64_t)m->content_len + m->piece_len - 1) / m->piece_len);
	if ((uint64_t)m->content_len > (uint64_t)n * m->piece_len || n > VX_CTL_DIGESTS_MAX)
		return -EINVAL;
	i = find_idx(pc, m->task_id.ptr);
	if (i >= 0) {
		uint32_t *crc;

		t = pc->tasks[i];
		if (t->content_len != (uint64_t)m->content_len || t->piece_len != m->piece_len)
			return -EEXIST;
		crc = vx_calloc(n ? n : 1, sizeof(*crc));
		if (!crc)
			return -ENOMEM;
		rc = digests_take(m, n, crc);
		if (!rc && memcmp(crc, t->crc, n * sizeof(*crc)) != 0)
			rc = -EEXIST; /* other bytes under the same id: not a copy of it */
		vx_free(crc);
		if (rc)
			return rc;
	} else {
		uint32_t mine = 0;

		if (pc->nr == VX_PCACHE_TASKS_MAX)
			return -ENOSPC;
		/* one host cannot fill the table for everyone (imports it started and kept) */
		for (uint32_t k = 0; k < pc->nr; k++)
			mine += strcmp(pc->tasks[k]->importer, host_id) == 0;
		if (mine >= VX_PCACHE_HOST_MAX)
			return -EDQUOT;
		rc = task_make(m, host_id, n, now_s, &t);
		if (rc)
			return rc;
		pc->tasks[pc->nr++] = t;
	}
	h = holder_add(t, host_id);
	if (!h)
		return -ENOSPC;
	/* anyone may send the digests cache-stat gave it: only the importer's word (and a
	 * replica the tick asked for) counts towards the replicas */
	if (!(h->state == VX_PCACHE_HOLD && !h->claimed))
		h->claimed = strcmp(t->importer, host_id) != 0;
	h->state = VX_PCACHE_HOLD;
	h->since_ms = now_ms;
	return 0;
}

int vx_pcache_held(struct vx_pcache *pc, const char *host_id, struct vx_ctl_str task_id, int status,
		   uint64_t now_ms)
{
	struct vx_pcache_holder *h;
	int i;

	if (task_id.len != VX_TASK_ID_LEN)
		return -EINVAL;
	i = find_idx(pc, task_id.ptr);
	if (i < 0)
		return -ENOENT;
	h = holder_of(pc->tasks[i], host_id);
	if (!h || (h->state != VX_PCACHE_PENDING && h->state != VX_PCACHE_FETCHING))
		return -ENOENT; /* only a replica asked for or a fetch it said it started */
	/* a host that fetched for its own export was never asked: its word makes it a source for
	 * fetchers (who check every piece against the import's digests), not one of the replicas
	 * the tick keeps, so an unasked claim cannot stop real replicas from being placed */
	h->claimed = h->state == VX_PCACHE_FETCHING;
	h->state = status == 0 ? VX_PCACHE_HOLD : VX_PCACHE_REFUSED;
	h->since_ms = now_ms;
	vx_info("scheduler: persistent cache %.12s on %s: %s", pc->tasks[i]->id, host_id,
		status == 0 ? "replica held" : "replica refused or failed");
	return 0;
}

int vx_pcache_set_replicas(struct vx_pcache *pc, const char *id, uint32_t replicas)
{
	int i = find_idx(pc, id);

	if (i < 0)
		return -ENOENT;
	if (replicas < 1 || replicas > VX_CTL_REPLICAS_MAX)
		return -EINVAL;
	pc->tasks[i]->replicas = replicas;
	return 0;
}

/* The active host view of @id among the @n of pc->hv, or NULL. */
static const struct vx_sched_host_view *host_active(const struct vx_sched_host_view *hv, uint32_t n,
						    const char *id)
{
	for (uint32_t i = 0; i < n; i++) {
		if (hv[i].active && strcmp(hv[i].id, id) == 0)
			return &hv[i];
	}
	return NULL;
}

static uint32_t holders_active(const struct vx_pcache_task *t, const struct vx_sched_host_view *hv,
			       uint32_t nh, uint32_t *out, uint32_t max)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < t->nr_holders && n < max; i++) {
		const struct vx_sched_host_view *v;

		if (t->holders[i].state != VX_PCACHE_HOLD)
			continue;
		v = host_active(hv, nh, t->holders[i].host_id);
		if (v)
			out[n++] = v->host;
	}
	return n;
}

int vx_pcache_fetching(struct vx_pcache *pc, const char *host_id, const char *id, uint32_t pieces,
		       uint64_t now_ms)
{
	struct vx_pcache_holder *h;
	struct vx_pcache_task *t;
	int i = find_idx(pc, id);

	if (i < 0)
		return -ENOENT;
	t = pc->tasks[i];
	h = holder_of(t, host_id);
	if (h && (h->state == VX_PCACHE_HOLD || h->state == VX_PCACHE_PENDING))
		return 0;
	if (!h) {
		h = holder_add(t, host_id);
		if (!h)
			return -ENOSPC;
	}
	h->state = VX_PCACHE_FETCHING;
	h->since_ms = now_ms;
	h->pieces = VX_MIN(pieces, t->piece_count);
	return 0;
}

uint32_t vx_pcache_cands(struct vx_pcache *pc, const struct vx_pcache_task *t,
			 const struct vx_sched *s, const char *asker, uint32_t *out, bool *complete,
			 uint32_t *pieces, uint32_t max)
{
	uint32_t nh = vx_sched_hosts_list(s, pc->hv, PC_HOSTS_VIEW), n = 0;

	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < t->nr_holders && n < max; i++) {
			const struct vx_pcache_holder *h = &t->holders[i];
			const struct vx_sched_host_view *v;
			bool full = h->state == VX_PCACHE_HOLD;

			if (h->state == VX_PCACHE_REFUSED || full != (pass == 0) ||
			    (!full && asker && strcmp(h->host_id, asker) == 0))
				continue;
			v = host_active(pc->hv, nh, h->host_id);
			if (!v)
				continue;
			out[n] = v->host;
			complete[n] = full;
			pieces[n] = full			     ? t->piece_count
				    : h->state == VX_PCACHE_FETCHING ? h->pieces
								     : 0;
			n++;
		}
	}
	return n;
}

uint32_t vx_pcache_holder_hosts(struct vx_pcache *pc, const struct vx_pcache_task *t,
				const struct vx_sched *s, uint32_t *out, uint32_t max)
{
	uint32_t nh = vx_sched_hosts_list(s, pc->hv, PC_HOSTS_VIEW);

	return holders_active(t, pc->hv, nh, out, max);
}

/* Drops holders whose host is gone or silent, and PENDING ones that never answered. */
static void holders_prune(struct vx_pcache_task *t, const struct vx_sched_host_view *hv,
			  uint32_t nh, uint64_t now_ms)
{
	for (uint32_t i = 0; i < t->nr_holders;) {
		struct vx_pcache_holder *h = &t->holders[i];
		bool gone = h->state != VX_PCACHE_REFUSED && !host_active(hv, nh, h->host_id);

		if (h->state == VX_PCACHE_FETCHING && now_ms - h->since_ms > VX_PCACHE_FETCHING_MS)
			gone = true; /* its export ended without a word, or it went quiet */
		if (h->state == VX_PCACHE_PENDING && now_ms - h->since_ms > VX_PCACHE_PENDING_MS) {
			vx_info("scheduler: persistent cache %.12s: %s did not answer; another "
				"host "
				"is asked",
				t->id, h->host_id);
			h->state = VX_PCACHE_REFUSED;
		}
		if (gone) {
			vx_info("scheduler: persistent cache %.12s: holder %s is gone", t->id,
				h->host_id);
			*h = t->holders[--t->nr_holders];
			continue;
		}
		i++;
	}
}

/* Asks hosts that hold nothing of @t yet for the copies missing, seeds first. */
static void place(struct vx_pcache_task *t, const struct vx_sched_host_view *hv, uint32_t nh,
		  uint64_t now_ms, const struct vx_pcache_ops *ops)
{
	uint32_t have = 0, src[VX_PCACHE_HOSTS_MAX], nsrc;

	for (uint32_t i = 0; i < t->nr_holders; i++)
		have += (t->holders[i].state == VX_PCACHE_HOLD && !t->holders[i].claimed) ||
			t->holders[i].state == VX_PCACHE_PENDING;
	if (have >= t->replicas)
		return;
	nsrc = holders_active(t, hv, nh, src, VX_PCACHE_HOSTS_MAX);
	if (!nsrc)
		return; /* nobody to copy from (yet) */
	for (int pass = 0; pass < 2 && have < t->replicas; pass++) {
		for (uint32_t i = 0; i < nh && have < t->replicas; i++) {
			struct vx_pcache_holder *h;

			if (!hv[i].active || (pass == 0) != (hv[i].role == VX_CTL_ROLE_SEED) ||
			    holder_of(t, hv[i].id))
				continue;
			h = holder_add(t, hv[i].id);
			if (!h)
				return;
			h->state = VX_PCACHE_PENDING;
			h->since_ms = now_ms;
			have++;
			vx_info("scheduler: persistent cache %.12s: replica asked from %s", t->id,
				hv[i].id);
			ops->replicate(ops->arg, hv[i].host, t, src, nsrc);
		}
	}
}

static void drop_all(struct vx_pcache_task *t, const struct vx_sched_host_view *hv, uint32_t nh,
		     const struct vx_pcache_ops *ops)
{
	for (uint32_t i = 0; i < t->nr_holders; i++) {
		const struct vx_sched_host_view *v;

		if (t->holders[i].state == VX_PCACHE_REFUSED)
			continue;
		v = host_active(hv, nh, t->holders[i].host_id);
		if (v)
			ops->drop(ops->arg, v->host, t->id);
	}
}

int vx_pcache_drop_everywhere(struct vx_pcache *pc, const struct vx_sched *s, const char *id,
			      const struct vx_pcache_ops *ops)
{
	int i = find_idx(pc, id);
	uint32_t nh;

	if (i < 0)
		return -ENOENT;
	nh = vx_sched_hosts_list(s, pc->hv, PC_HOSTS_VIEW);
	drop_all(pc->tasks[i], pc->hv, nh, ops);
	return vx_pcache_forget(pc, id);
}

void vx_pcache_tick(struct vx_pcache *pc, const struct vx_sched *s, uint64_t now_ms, int64_t now_s,
		    const struct vx_pcache_ops *ops)
{
	uint32_t nh;

	if (!pc->nr)
		return;
	nh = vx_sched_hosts_list(s, pc->hv, PC_HOSTS_VIEW);
	for (uint32_t i = 0; i < pc->nr;) {
		struct vx_pcache_task *t = pc->tasks[i];

		if (vx_pcache_ttl_left(t, now_s) == 0) {
			vx_info("scheduler: persistent cache %.12s: TTL passed; every holder drops "
				"it",
				t->id);
			drop_all(t, pc->hv, nh, ops);
			(void)vx_pcache_forget(pc, t->id);
			continue; /* the last task moved into slot i */
		}
		holders_prune(t, pc->hv, nh, now_ms);
		place(t, pc->hv, nh, now_ms, ops);
		i++;
	}
}

int vx_pcache_ask(struct vx_pcache *pc, const struct vx_sched *s, const char *id, uint32_t host,
		  uint64_t now_ms, const struct vx_pcache_ops *ops)
{
	uint32_t src[VX_PCACHE_HOSTS_MAX], nsrc, nh;
	const char *hid = vx_sched_host_id(s, host);
	struct vx_pcache_holder *h;
	struct vx_pcache_task *t;
	int i = find_idx(pc, id);

	if (i < 0 || !hid)
		return -ENOENT;
	t = pc->tasks[i];
	if (holder_of(t, hid))
		return -EALREADY;
	nh = vx_sched_hosts_list(s, pc->hv, PC_HOSTS_VIEW);
	nsrc = holders_active(t, pc->hv, nh, src, VX_PCACHE_HOSTS_MAX);
	if (!nsrc)
		return -EAGAIN;
	h = holder_add(t, hid);
	if (!h)
		return -ENOSPC;
	h->state = VX_PCACHE_PENDING;
	h->since_ms = now_ms;
	ops->replicate(ops->arg, host, t, src, nsrc);
	return 0;
}
