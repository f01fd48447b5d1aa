/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_pcache.c: the persistent cache tasks in the open API (spec/manager.md): the list
 * `GET /oapi/v1/persistent-cache-tasks` and the jobs persistent_cache_import (copy a task onto
 * the hosts args.ips names), persistent_cache_replicate (set its replicas; the scheduler places
 * or keeps them) and persistent_cache_delete (drop it on every holder). Everything runs on the
 * scheduler's thread (the manager's hook), reading its table directly.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mgr_int.h"
#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_sched_pcache.h"
#include "vx_sched_server.h"
#include "vx_time.h"

#define PC_HOSTS_VIEW 4096

struct list_ctx {
	json_t *arr;
	int64_t now_s;
};

static void list_one(void *arg, const struct vx_pcache_task *t)
{
	struct list_ctx *x = arg;
	json_t *holders = json_array();
	char created[32];

	for (uint32_t i = 0; holders && i < t->nr_holders; i++) {
		if (t->holders[i].state == VX_PCACHE_HOLD)
			json_array_append_new(holders, json_string(t->holders[i].host_id));
	}
	vx__mgr_rfc3339(t->created_s, created);
	json_array_append_new(x->arr,
			      json_pack("{s:s, s:I, s:I, s:i, s:o, s:I, s:s, s:s, s:s}", "id",
					t->id, "size", (json_int_t)t->content_len, "piece_length",
					(json_int_t)t->piece_len, "replicas", (int)t->replicas,
					"holders", holders ? holders : json_array(), "ttl_left_s",
					(json_int_t)vx_pcache_ttl_left(t, x->now_s), "tag",
					t->tag ? t->tag : "", "application", t->app ? t->app : "",
					"created_at", created));
}

json_t *vx__mgr_pcache_list(struct vx_sched_server *srv)
{
	struct list_ctx x = { .arr = json_array(), .now_s = vx_wall_s() };

	if (x.arr)
		vx_pcache_each(vx_sched_server_pcache(srv), list_one, &x);
	return x.arr;
}

/* persistent_cache_import: ask each active host at one of args.ips for a copy. */
static json_t *job_import(struct vx_sched_server *srv, const struct vx_mgr_job_req *r,
			  const char *tid, bool *ok, char *err, size_t err_len)
{
	struct vx_sched_host_view *hv = vx_calloc(PC_HOSTS_VIEW, sizeof(*hv));
	uint32_t nh = hv ? vx_sched_hosts_list(vx_sched_server_core(srv), hv, PC_HOSTS_VIEW) : 0;
	json_t *asked = json_array(), *skipped = json_array();

	if (!hv) {
		snprintf(err, err_len, "out of memory");
		json_decref(asked);
		json_decref(skipped);
		return json_object();
	}

	for (uint32_t i = 0; i < nh; i++) {
		bool named = false;
		int rc;

		for (uint32_t k = 0; k < r->nr_ips && !named; k++)
			named = hv[i].active && strcmp(hv[i].addr, r->ips[k]) == 0;
		if (!named)
			continue;
		rc = vx_sched_server_pcache_ask(srv, tid, hv[i].host);
		if (rc == -ENOENT || rc == -EAGAIN) {
			snprintf(err, err_len, "%s",
				 rc == -ENOENT ? "no such persistent cache task"
					       : "no host holds the task now to copy from");
			json_decref(asked);
			json_decref(skipped);
			vx_free(hv);
			return json_object();
		}
		json_array_append_new(rc ? skipped : asked, json_string(hv[i].id));
	}
	vx_free(hv);
	*ok = true;
	return json_pack("{s:s, s:o, s:o}", "task_id", tid, "asked", asked, "already", skipped);
}

json_t *vx__mgr_pcache_job(struct vx_sched_server *srv, const struct vx_mgr_job_req *r,
			   const char *tid, bool *ok, char *err, size_t err_len)
{
	int rc = 0;

	*ok = false;
	if (!srv) {
		snprintf(err, err_len, "no scheduler runs this job here");
		return json_object();
	}
	switch (r->type) {
	case MGR_JOB_PCACHE_IMPORT:
		return job_import(srv, r, tid, ok, err, err_len);
	case MGR_JOB_PCACHE_REPLICATE:
		rc = vx_pcache_set_replicas(vx_sched_server_pcache(srv), tid, r->replicas);
		break;
	case MGR_JOB_PCACHE_DELETE:
		rc = vx_sched_server_pcache_delete(srv, tid);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc) {
		snprintf(err, err_len, "%s",
			 rc == -ENOENT ? "no such persistent cache task" : vx_strerror(rc));
		return json_object();
	}
	*ok = true;
	return r->type == MGR_JOB_PCACHE_REPLICATE
		       ? json_pack("{s:s, s:i}", "task_id", tid, "replicas", (int)r->replicas)
		       : json_pack("{s:s}", "task_id", tid);
}
