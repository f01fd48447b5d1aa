/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_metrics.h: GET /metrics on the open API (scope metrics:read) and the API's own request
 * counts (spec/metrics.md). Scheduler thread only, like the rest of the manager.
 */
#ifndef VX_MGR_METRICS_H
#define VX_MGR_METRICS_H

#include <microhttpd.h>

struct mgr_db;
struct vx_sched_server;

/* Points the scrape-time gauges (hosts, tasks, jobs) at @srv's core and @db. */
void vx__mgr_metrics_init(struct mgr_db *db, struct vx_sched_server *srv);
/* Unhooks them (the manager is going). */
void vx__mgr_metrics_fini(void);
/* Answers a scrape: the control plane's metrics in the Prometheus text format; sets *@status. */
enum MHD_Result vx__mgr_metrics_reply(struct MHD_Connection *c, unsigned *status);
/* One API request on route @path (the route table's, NULL: unknown) ended with @status. */
void vx__mgr_metrics_request(const char *path, unsigned status);

#endif /* VX_MGR_METRICS_H */
