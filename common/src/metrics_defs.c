/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics_defs.c: the definitions behind vx_metrics_defs.h: names, help, label values,
 * buckets and the cells, all static (no registration, no allocation). spec/metrics.md is the
 * reader's list; deploy/ dashboards and alerts use these names.
 */
#include "vx_metrics.h"

#include <string.h>
#include <strings.h>

#define NR(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

/* One metric: var, cells (static), then the struct. */
#define DEF(var, rooms_, type_, name_, help_, nr_cells, ...) \
	static _Atomic int64_t var##_cells[nr_cells];        \
	struct vx_metric var = { .name = name_,              \
				 .help = help_,              \
				 .type = type_,              \
				 .rooms = rooms_,            \
				 .cells = var##_cells,       \
				 __VA_ARGS__ }

static const char *const sources[] = { "peer", "origin", "local" };
static const char *const piece_results[] = { "ok", "digest_mismatch", "timeout", "refused" };
static const char *const task_results[] = { "ok", "failed" };
static const char *const schemes[] = { "http", "https", "ftp", "s3",   "gs",   "abs",
				       "oci",  "hdfs",	"hf",  "file", "other" };
static const char *const proxy_results[] = { "p2p", "upstream", "refused", "error" };
static const char *const cache_results[] = { "hit", "miss" };
static const char *const decisions[] = { "parents", "back_to_source", "wait", "refused" };
static const char *const job_types[] = { "preheat", "get_task", "delete_task", "gc", "sync_peers" };
static const char *const job_states[] = { "PENDING", "SUCCESS", "FAILURE" };
static const char *const routes[] = { "healthy", "metrics", "jobs", "audits", "tokens", "other" };
static const char *const codes[] = { "2xx", "3xx", "4xx", "5xx" };
static const char *const tls_results[] = { "ok", "refused" };
static const char *const tiers[] = { "memory", "disk" };
static const char *const directions[] = { "sent", "received" };

_Static_assert(NR(sources) == VX_M_SRC_NR, "one name per source");
_Static_assert(NR(piece_results) == VX_M_PIECE_NR, "one name per piece result");
_Static_assert(NR(task_results) == VX_M_TASK_NR, "one name per task result");
_Static_assert(NR(schemes) == VX_M_SCHEME_NR, "one name per scheme");
_Static_assert(NR(proxy_results) == VX_M_PROXY_NR, "one name per proxy result");
_Static_assert(NR(cache_results) == VX_M_CACHE_NR, "one name per cache result");
_Static_assert(NR(decisions) == VX_M_DECISION_NR, "one name per decision");
_Static_assert(NR(job_types) == VX_M_JOB_TYPE_NR, "one name per job type");
_Static_assert(NR(job_states) == VX_M_JOB_STATE_NR, "one name per job state");
_Static_assert(NR(routes) == VX_M_ROUTE_NR, "one name per route");
_Static_assert(NR(codes) == VX_M_CODE_NR, "one name per status class");
_Static_assert(NR(tls_results) == VX_M_TLS_NR, "one name per handshake result");
_Static_assert(NR(tiers) == VX_M_TIER_NR, "one name per store tier");
_Static_assert(NR(directions) == VX_M_DIR_NR, "one name per direction");

/* Piece latency and scheduler decisions, in µs: 100 µs .. 10 s. */
static const uint64_t us_bounds[] = { 100,   500,    1000,   2500,   5000,    10000,   25000,
				      50000, 100000, 250000, 500000, 1000000, 2500000, 10000000 };
/* Task duration, in ms: 100 ms .. 1 h. */
static const uint64_t ms_bounds[] = { 100,   250,   500,   1000,   2500,   5000,
				      10000, 30000, 60000, 300000, 900000, 3600000 };
#define US_HIST(nr) ((nr) * (NR(us_bounds) + 2))
#define MS_HIST(nr) ((nr) * (NR(ms_bounds) + 2))

#define PEER  VX_METRICS_PEER
#define SCHED VX_METRICS_SCHED

DEF(vx_m_download_bytes, PEER, VX_METRIC_COUNTER, "vx_download_bytes_total",
    "Content bytes a download got, by where they came from", VX_M_SRC_NR, .label = "source",
    .values = sources, .nr_values = VX_M_SRC_NR);
DEF(vx_m_upload_bytes, PEER, VX_METRIC_COUNTER, "vx_upload_bytes_total",
    "Content bytes sent to other peers", 1, .label = NULL);
DEF(vx_m_pieces, PEER, VX_METRIC_COUNTER, "vx_pieces_total",
    "Pieces asked of peers, by how the answer ended", VX_M_PIECE_NR, .label = "result",
    .values = piece_results, .nr_values = VX_M_PIECE_NR);
DEF(vx_m_piece_seconds, PEER, VX_METRIC_HISTOGRAM, "vx_piece_duration_seconds",
    "Time from asking a peer for a piece to its last byte", US_HIST(1), .label = NULL,
    .bounds = us_bounds, .nr_bounds = NR(us_bounds), .scale = 1000000);
DEF(vx_m_pieces_uploaded, PEER, VX_METRIC_COUNTER, "vx_upload_pieces_total",
    "Pieces sent to other peers", 1, .label = NULL);
DEF(vx_m_tasks_active, PEER, VX_METRIC_GAUGE, "vx_tasks_active", "Downloads running now", 1,
    .label = NULL);
DEF(vx_m_tasks, PEER, VX_METRIC_COUNTER, "vx_tasks_total", "Downloads ended, by result",
    VX_M_TASK_NR, .label = "result", .values = task_results, .nr_values = VX_M_TASK_NR);
DEF(vx_m_task_seconds, PEER, VX_METRIC_HISTOGRAM, "vx_task_duration_seconds",
    "Time a download ran, start to end", MS_HIST(VX_M_TASK_NR), .label = "result",
    .values = task_results, .nr_values = VX_M_TASK_NR, .bounds = ms_bounds,
    .nr_bounds = NR(ms_bounds), .scale = 1000);
DEF(vx_m_lz4_pieces, PEER, VX_METRIC_COUNTER, "vx_lz4_pieces_total",
    "Pieces that crossed the wire lz4-compressed between vx peers (the rest went raw)", VX_M_DIR_NR,
    .label = "direction", .values = directions, .nr_values = VX_M_DIR_NR);
DEF(vx_m_lz4_saved_bytes, PEER, VX_METRIC_COUNTER, "vx_lz4_saved_bytes_total",
    "Piece bytes lz4 kept off the wire (uncompressed minus compressed), by direction", VX_M_DIR_NR,
    .label = "direction", .values = directions, .nr_values = VX_M_DIR_NR);
DEF(vx_m_lz4_cache_bytes, PEER, VX_METRIC_GAUGE, "vx_upload_lz4_cache_bytes",
    "Bytes of compressed pieces the upload server keeps for the next child", 1, .label = NULL);
DEF(vx_m_upload_conns, PEER, VX_METRIC_GAUGE, "vx_upload_connections",
    "Peers connected to the upload server now", 1, .label = NULL);
DEF(vx_m_fetch_conns, PEER, VX_METRIC_GAUGE, "vx_fetch_connections",
    "Connections to parents open now", 1, .label = NULL);
DEF(vx_m_source_requests, PEER, VX_METRIC_COUNTER, "vx_source_requests_total",
    "Back-to-source downloads started, by scheme", VX_M_SCHEME_NR, .label = "scheme",
    .values = schemes, .nr_values = VX_M_SCHEME_NR);
DEF(vx_m_source_errors, PEER, VX_METRIC_COUNTER, "vx_source_errors_total",
    "Back-to-source downloads that failed, by scheme", VX_M_SCHEME_NR, .label = "scheme",
    .values = schemes, .nr_values = VX_M_SCHEME_NR);
DEF(vx_m_proxy_requests, PEER, VX_METRIC_COUNTER, "vx_proxy_requests_total",
    "Registry mirror requests, by how they were served", VX_M_PROXY_NR, .label = "result",
    .values = proxy_results, .nr_values = VX_M_PROXY_NR);
DEF(vx_m_proxy_cache, PEER, VX_METRIC_COUNTER, "vx_proxy_cache_requests_total",
    "Registry mirror blob requests the local store held whole (hit) or not (miss)", VX_M_CACHE_NR,
    .label = "cache", .values = cache_results, .nr_values = VX_M_CACHE_NR);
DEF(vx_m_store_bytes, PEER, VX_METRIC_GAUGE, "vx_store_used_bytes",
    "Bytes used on the piece store's filesystem", 1, .label = NULL);
DEF(vx_m_store_free_bytes, PEER, VX_METRIC_GAUGE, "vx_store_free_bytes",
    "Bytes free for the piece store on its filesystem", 1, .label = NULL);
DEF(vx_m_store_reads, PEER, VX_METRIC_COUNTER, "vx_store_reads_total",
    "Pieces the store lent for reading (peers, local readers), by the tier that held them",
    VX_M_TIER_NR, .label = "tier", .values = tiers, .nr_values = VX_M_TIER_NR);
DEF(vx_m_store_memory_bytes, PEER, VX_METRIC_GAUGE, "vx_store_memory_tier_bytes",
    "Bytes of task content held in the memory tier", 1, .label = NULL);
DEF(vx_m_ccfg_version, PEER, VX_METRIC_GAUGE, "vx_cluster_config_version",
    "Version of the cluster configuration this daemon applied (0: none)", 1, .label = NULL);
DEF(vx_m_gc_evictions, PEER, VX_METRIC_COUNTER, "vx_gc_evictions_total",
    "Tasks the store's garbage collector removed", 1, .label = NULL);
DEF(vx_m_local_requests, PEER, VX_METRIC_COUNTER, "vx_local_api_requests_total",
    "Requests on the local API socket", 1, .label = NULL);
DEF(vx_m_sched_decisions, SCHED, VX_METRIC_COUNTER, "vx_scheduler_decisions_total",
    "Scheduling answers, by kind", VX_M_DECISION_NR, .label = "decision", .values = decisions,
    .nr_values = VX_M_DECISION_NR);
DEF(vx_m_sched_seconds, SCHED, VX_METRIC_HISTOGRAM, "vx_scheduler_decision_duration_seconds",
    "Time to choose parents for one request", US_HIST(1), .label = NULL, .bounds = us_bounds,
    .nr_bounds = NR(us_bounds), .scale = 1000000);
DEF(vx_m_sched_hosts, SCHED, VX_METRIC_GAUGE, "vx_scheduler_hosts", "Hosts registered now", 1,
    .label = NULL);
DEF(vx_m_sched_tasks, SCHED, VX_METRIC_GAUGE, "vx_scheduler_tasks", "Tasks known now", 1,
    .label = NULL);
DEF(vx_m_jobs, SCHED, VX_METRIC_GAUGE, "vx_jobs",
    "Jobs kept (the retention period's), by type and state", VX_M_JOB_TYPE_NR *VX_M_JOB_STATE_NR,
    .label = "type", .values = job_types, .nr_values = VX_M_JOB_TYPE_NR, .label2 = "state",
    .values2 = job_states, .nr_values2 = VX_M_JOB_STATE_NR);
DEF(vx_m_api_requests, SCHED, VX_METRIC_COUNTER, "vx_api_requests_total",
    "Open API requests, by route and status class", VX_M_ROUTE_NR *VX_M_CODE_NR, .label = "route",
    .values = routes, .nr_values = VX_M_ROUTE_NR, .label2 = "code", .values2 = codes,
    .nr_values2 = VX_M_CODE_NR);
DEF(vx_m_tls_handshakes, VX_METRICS_ALL, VX_METRIC_COUNTER, "vx_tls_handshakes_total",
    "TLS handshakes, by result", VX_M_TLS_NR, .label = "result", .values = tls_results,
    .nr_values = VX_M_TLS_NR);

struct vx_metric *const vx__metrics_all[] = {
	&vx_m_download_bytes,  &vx_m_upload_bytes,
	&vx_m_pieces,	       &vx_m_piece_seconds,
	&vx_m_pieces_uploaded, &vx_m_tasks_active,
	&vx_m_tasks,	       &vx_m_task_seconds,
	&vx_m_upload_conns,    &vx_m_fetch_conns,
	&vx_m_source_requests, &vx_m_source_errors,
	&vx_m_proxy_requests,  &vx_m_proxy_cache,
	&vx_m_store_bytes,     &vx_m_store_free_bytes,
	&vx_m_store_reads,     &vx_m_store_memory_bytes,
	&vx_m_ccfg_version,    &vx_m_gc_evictions,
	&vx_m_local_requests,  &vx_m_sched_decisions,
	&vx_m_sched_seconds,   &vx_m_sched_hosts,
	&vx_m_sched_tasks,     &vx_m_jobs,
	&vx_m_api_requests,    &vx_m_tls_handshakes,
	&vx_m_lz4_pieces,      &vx_m_lz4_saved_bytes,
	&vx_m_lz4_cache_bytes,
};
const uint32_t vx__metrics_nr = NR(vx__metrics_all);

uint32_t vx_m_scheme_of(const char *url)
{
	const char *colon = url ? strchr(url, ':') : NULL;

	if (!colon)
		return VX_M_SCHEME_OTHER;
	for (uint32_t i = 0; i < VX_M_SCHEME_OTHER; i++) {
		if (strlen(schemes[i]) == (size_t)(colon - url) &&
		    strncasecmp(url, schemes[i], (size_t)(colon - url)) == 0)
			return i;
	}
	return VX_M_SCHEME_OTHER;
}

uint32_t vx_m_code_of(unsigned status)
{
	if (status >= 500)
		return VX_M_CODE_5XX;
	if (status >= 400)
		return VX_M_CODE_4XX;
	if (status >= 300)
		return VX_M_CODE_3XX;
	return VX_M_CODE_2XX;
}
