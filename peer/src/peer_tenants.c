/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_tenants.c: whose each task is, on a seed (spec/peer.md "TLS"). A seed without a tenant
 * fetches for every tenant's hosts; the scheduler names the task's tenant in every answer and
 * event it sends such a seed (control key 89), and the upload port serves a task's pieces only
 * to hosts of that tenant (any host for a public task, tenant ""), and to seeds. A task the
 * table does not know (never answered since this start, or pushed out) is served to seeds only:
 * deny unless known. A tenant learnt only narrows: a public task may become one tenant's; a task
 * named for two different tenants is served to neither.
 *
 * Fixed size (PEER_TENANTS_SLOTS entries, allocated at the first answer), open addressing with
 * at most PEER_TENANTS_PROBE probes; an insert finding no room overwrites its home slot. Loop
 * thread only (answers, events and the upload server's requests all run there).
 */
#include <errno.h>
#include <string.h>

#include "peer_int.h"
#include "vx_alloc.h"
#include "vx_hash.h"
#include "vx_hex.h"
#include "vx_log.h"
#include "vx_store.h"
#include "vx_tls.h"

#define PEER_TENANTS_SLOTS 16384u /* a power of two */
#define PEER_TENANTS_PROBE 16u

enum tenant_state {
	TENANT_EMPTY = 0,
	TENANT_KNOWN = 1,    /* @tenant is the task's ("" public) */
	TENANT_CONFLICT = 2, /* named for two tenants: seeds only */
};

struct peer_tenant {
	uint8_t id[VX_TASK_ID_LEN / 2];
	uint8_t state;
	char tenant[VX_TLS_TENANT_MAX + 1];
};

struct peer_tenants {
	struct peer_tenant slot[PEER_TENANTS_SLOTS];
};

void vx__peer_tenants_free(struct vx_peer *p)
{
	vx_free(p->tenants);
	p->tenants = NULL;
}

static uint32_t home(const uint8_t *id)
{
	return vx_hash_fnv1a(id, VX_TASK_ID_LEN / 2) & (PEER_TENANTS_SLOTS - 1);
}

static struct peer_tenant *lookup(struct peer_tenants *tb, const uint8_t *id, bool add)
{
	uint32_t h = home(id);

	for (uint32_t i = 0; i < PEER_TENANTS_PROBE; i++) {
		struct peer_tenant *e = &tb->slot[(h + i) & (PEER_TENANTS_SLOTS - 1)];

		if (e->state == TENANT_EMPTY) {
			if (!add)
				return NULL;
			memcpy(e->id, id, sizeof(e->id));
			return e;
		}
		if (memcmp(e->id, id, sizeof(e->id)) == 0)
			return e;
	}
	if (!add)
		return NULL;
	/* no room near home: the home slot's task is forgotten (served to seeds only again) */
	memset(&tb->slot[h], 0, sizeof(tb->slot[h]));
	memcpy(tb->slot[h].id, id, sizeof(tb->slot[h].id));
	return &tb->slot[h];
}

/* Whether this daemon is a seed without a tenant: the one whose tasks carry their tenant. */
static bool serves_all(const struct vx_peer *p)
{
	const struct vx_tls_id *self = p->dp_srv ? vx_tls_ctx_self(p->dp_srv) : NULL;

	return self && self->role == VX_TLS_ROLE_SEED && !self->tenant[0];
}

void vx__peer_tenant_learn(struct vx_peer *p, const char *task_id, const struct vx_ctl_msg *m)
{
	uint8_t id[VX_TASK_ID_LEN / 2];
	struct peer_tenant *e;
	char name[VX_TLS_TENANT_MAX + 1];

	if (!(m->has & VX_CTL_F_TENANT) || !serves_all(p))
		return;
	if (m->tenant.len && !vx_tls_tenant_ok(m->tenant.ptr, m->tenant.len)) {
		vx_warn("peer: task %.12s: the scheduler named a malformed tenant: ignored",
			task_id);
		return;
	}
	if (vx_hex_decode(task_id, VX_TASK_ID_LEN, id, sizeof(id)))
		return;
	if (!p->tenants) {
		p->tenants = vx_calloc(1, sizeof(*p->tenants));
		if (!p->tenants) {
			vx_warn("peer: no memory for the task tenants table: tasks served to seeds "
				"only");
			return;
		}
	}
	memcpy(name, m->tenant.ptr, m->tenant.len);
	name[m->tenant.len] = '\0';
	e = lookup(p->tenants, id, true);
	if (e->state == TENANT_EMPTY || (e->state == TENANT_KNOWN && !e->tenant[0])) {
		if (e->state == TENANT_EMPTY || name[0])
			vx_debug("peer: task %.12s belongs to tenant '%s'", task_id, name);
		memcpy(e->tenant, name, sizeof(e->tenant));
		e->state = TENANT_KNOWN;
	} else if (e->state == TENANT_KNOWN && name[0] && strcmp(e->tenant, name) != 0) {
		vx_warn("peer: task %.12s named for tenants '%s' and '%s': served to seeds only",
			task_id, e->tenant, name);
		e->state = TENANT_CONFLICT;
	}
}

bool vx__peer_tenant_may_read(struct vx_peer *p, const char *task_id, const char *tenant)
{
	uint8_t id[VX_TASK_ID_LEN / 2];
	const struct peer_tenant *e;

	if (!p->tenants || vx_hex_decode(task_id, VX_TASK_ID_LEN, id, sizeof(id)))
		return false;
	e = lookup(p->tenants, id, false);
	return e && e->state == TENANT_KNOWN && (!e->tenant[0] || strcmp(e->tenant, tenant) == 0);
}

/*
 * A persistent-cache task (spec/peer.md "Persistent cache") has no tenant: the scheduler's cache
 * messages name none, and every member may fetch it, as before. Asked only for a task the table
 * does not know, so the piece path of a known task costs no store lookup.
 */
bool vx__peer_tenant_cache_task(struct vx_peer *p, const char *task_id)
{
	struct vx_store_task *st;
	struct vx_store_task_info info;

	if (!p->store || vx_store_task_acquire(p->store, task_id, VX_STORE_USE_UPLOAD, &st))
		return false;
	vx_store_task_info(st, &info);
	vx_store_task_release(st, VX_STORE_USE_UPLOAD);
	return info.kind == VX_STORE_KIND_PERSISTENT_CACHE;
}
