/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_metrics.c: the control plane's /metrics (mgr_metrics.h). The route needs a bearer token
 * with the metrics:read scope like every other route but /healthy: a Prometheus scrape job
 * gives it with authorization.credentials_file. Hosts and tasks are read from the scheduler
 * core, jobs from the jobs table, at scrape time (same thread, no lock).
 */
#include "mgr_metrics.h"

#include <string.h>

#include "mgr_int.h"
#include "vx_alloc.h"
#include "vx_metrics.h"
#include "vx_sched.h"
#include "vx_sched_server.h"

static int64_t sched_count(void *arg, uint32_t v)
{
	struct vx_sched_stats st;

	vx_sched_get_stats(vx_sched_server_core(arg), &st);
	return (int64_t)(v ? st.tasks : st.hosts);
}

static int64_t sched_hosts(void *arg, uint32_t v)
{
	(void)v;
	return sched_count(arg, 0);
}

static int64_t sched_tasks(void *arg, uint32_t v)
{
	(void)v;
	return sched_count(arg, 1);
}

/* Jobs of series @v's type and state kept in the table (names as the metric's labels), through
 * the manager's SQL layer (sqlite or PostgreSQL). */
static int64_t jobs(void *arg, uint32_t v)
{
	static const char *const types[] = { "preheat", "get_task", "delete_task", "gc",
					     "sync_peers" };
	static const char *const states[] = { "PENDING", "SUCCESS", "FAILURE" };
	struct mgr_rows *rows = NULL;
	int64_t n = 0;

	_Static_assert(sizeof(types) / sizeof(types[0]) == VX_M_JOB_TYPE_NR, "job types");
	_Static_assert(sizeof(states) / sizeof(states[0]) == VX_M_JOB_STATE_NR, "job states");
	if (vx__mgr_sql(arg, &rows, "SELECT count(*) FROM mgr_jobs WHERE type = ? AND state = ?",
			"ss", types[v / VX_M_JOB_STATE_NR], states[v % VX_M_JOB_STATE_NR]) == 0 &&
	    vx__mgr_rows_n(rows) == 1)
		n = vx__mgr_rows_i(rows, 0, 0);
	vx__mgr_rows_free(rows);
	return n;
}

void vx__mgr_metrics_init(struct mgr_db *db, struct vx_sched_server *srv)
{
	if (srv) { /* --role manager has no scheduler: those series stay 0 */
		vx_metric_set_reader(&vx_m_sched_hosts, sched_hosts, srv);
		vx_metric_set_reader(&vx_m_sched_tasks, sched_tasks, srv);
	}
	vx_metric_set_reader(&vx_m_jobs, jobs, db);
}

void vx__mgr_metrics_fini(void)
{
	vx_metric_set_reader(&vx_m_sched_hosts, NULL, NULL);
	vx_metric_set_reader(&vx_m_sched_tasks, NULL, NULL);
	vx_metric_set_reader(&vx_m_jobs, NULL, NULL);
}

enum MHD_Result vx__mgr_metrics_reply(struct MHD_Connection *c, unsigned *status)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *out;
	size_t len;

	*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	if (vx_metrics_write(VX_METRICS_SCHED, &out, &len))
		return MHD_NO;
	r = MHD_create_response_from_buffer(len, out, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		vx_free(out);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", VX_METRICS_CONTENT_TYPE);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	*status = MHD_HTTP_OK;
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

void vx__mgr_metrics_request(const char *path, unsigned status)
{
	static const struct {
		const char *prefix;
		uint32_t route;
	} map[] = {
		{ "/healthy", VX_M_ROUTE_HEALTHY },	  { "/metrics", VX_M_ROUTE_METRICS },
		{ "/oapi/v1/jobs", VX_M_ROUTE_JOBS },	  { "/oapi/v1/audits", VX_M_ROUTE_AUDITS },
		{ "/oapi/v1/tokens", VX_M_ROUTE_TOKENS },
	};
	uint32_t route = VX_M_ROUTE_OTHER;

	for (size_t i = 0; path && i < sizeof(map) / sizeof(map[0]); i++) {
		if (strncmp(path, map[i].prefix, strlen(map[i].prefix)) == 0)
			route = map[i].route;
	}
	vx_metric_inc(&vx_m_api_requests, VX_M_API(route, vx_m_code_of(status)));
}
