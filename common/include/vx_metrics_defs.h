/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_metrics_defs.h: every metric of vx, one place (spec/metrics.md lists them with their
 * meaning). The label values of each are the enum beside it, in the same order as the names
 * in metrics_defs.c (asserted there). Included by vx_metrics.h.
 */
#ifndef VX_METRICS_DEFS_H
#define VX_METRICS_DEFS_H

#include <stdint.h>

struct vx_metric;

/* ---- the peer daemon (vx serve) */

enum vx_m_source { VX_M_SRC_PEER, VX_M_SRC_ORIGIN, VX_M_SRC_LOCAL, VX_M_SRC_NR };
extern struct vx_metric vx_m_download_bytes; /* vx_download_bytes_total{source} */
extern struct vx_metric vx_m_upload_bytes;   /* vx_upload_bytes_total */

enum vx_m_piece {
	VX_M_PIECE_OK,
	VX_M_PIECE_DIGEST_MISMATCH,
	VX_M_PIECE_TIMEOUT,
	VX_M_PIECE_REFUSED,
	VX_M_PIECE_NR
};
extern struct vx_metric vx_m_pieces;	      /* vx_pieces_total{result} (from peers) */
extern struct vx_metric vx_m_piece_seconds;   /* vx_piece_duration_seconds, observe µs */
extern struct vx_metric vx_m_pieces_uploaded; /* vx_upload_pieces_total */

enum vx_m_task { VX_M_TASK_OK, VX_M_TASK_FAILED, VX_M_TASK_NR };
extern struct vx_metric vx_m_tasks_active; /* vx_tasks_active */
extern struct vx_metric vx_m_tasks;	   /* vx_tasks_total{result} */
extern struct vx_metric vx_m_task_seconds; /* vx_task_duration_seconds, observe ms */

/* lz4 piece bodies between vx peers (spec/vortex.md 5.5) */
enum vx_m_dir { VX_M_DIR_SENT, VX_M_DIR_RECEIVED, VX_M_DIR_NR };
extern struct vx_metric vx_m_lz4_pieces;      /* vx_lz4_pieces_total{direction} */
extern struct vx_metric vx_m_lz4_saved_bytes; /* vx_lz4_saved_bytes_total{direction} */
extern struct vx_metric vx_m_lz4_cache_bytes; /* vx_upload_lz4_cache_bytes */

extern struct vx_metric vx_m_upload_conns; /* vx_upload_connections */
extern struct vx_metric vx_m_fetch_conns;  /* vx_fetch_connections */

/* Back-to-source schemes (vx_m_scheme_of() maps a URL's scheme). */
enum vx_m_scheme {
	VX_M_SCHEME_HTTP,
	VX_M_SCHEME_HTTPS,
	VX_M_SCHEME_FTP,
	VX_M_SCHEME_S3,
	VX_M_SCHEME_GS,
	VX_M_SCHEME_ABS,
	VX_M_SCHEME_OCI,
	VX_M_SCHEME_HDFS,
	VX_M_SCHEME_HF,
	VX_M_SCHEME_FILE,
	VX_M_SCHEME_OTHER,
	VX_M_SCHEME_NR
};
extern struct vx_metric vx_m_source_requests; /* vx_source_requests_total{scheme} */
extern struct vx_metric vx_m_source_errors;   /* vx_source_errors_total{scheme} */
/* The label index of @url's scheme (VX_M_SCHEME_OTHER for anything else or NULL). */
uint32_t vx_m_scheme_of(const char *url);

enum vx_m_proxy {
	VX_M_PROXY_P2P,
	VX_M_PROXY_UPSTREAM,
	VX_M_PROXY_REFUSED,
	VX_M_PROXY_ERROR,
	VX_M_PROXY_NR
};
enum vx_m_cache { VX_M_CACHE_HIT, VX_M_CACHE_MISS, VX_M_CACHE_NR };
extern struct vx_metric vx_m_proxy_requests; /* vx_proxy_requests_total{result} */
extern struct vx_metric vx_m_proxy_cache;    /* vx_proxy_cache_requests_total{cache} */

extern struct vx_metric vx_m_store_bytes;      /* vx_store_used_bytes (read at scrape) */
extern struct vx_metric vx_m_store_free_bytes; /* vx_store_free_bytes (read at scrape) */
enum vx_m_tier { VX_M_TIER_MEMORY, VX_M_TIER_DISK, VX_M_TIER_NR };
extern struct vx_metric vx_m_store_reads;	 /* vx_store_reads_total{tier} (at scrape) */
extern struct vx_metric vx_m_store_memory_bytes; /* vx_store_memory_tier_bytes (at scrape) */
extern struct vx_metric vx_m_gc_evictions;	 /* vx_gc_evictions_total */
extern struct vx_metric vx_m_ccfg_version;	 /* vx_cluster_config_version */

extern struct vx_metric vx_m_local_requests; /* vx_local_api_requests_total */

/* ---- the control plane (vx scheduler) */

enum vx_m_decision {
	VX_M_DECISION_PARENTS,
	VX_M_DECISION_BACK_TO_SOURCE,
	VX_M_DECISION_WAIT,
	VX_M_DECISION_REFUSED,
	VX_M_DECISION_NR
};
extern struct vx_metric vx_m_sched_decisions; /* vx_scheduler_decisions_total{decision} */
extern struct vx_metric vx_m_sched_seconds;   /* vx_scheduler_decision_duration_seconds, µs */
extern struct vx_metric vx_m_sched_hosts;     /* vx_scheduler_hosts (read at scrape) */
extern struct vx_metric vx_m_sched_tasks;     /* vx_scheduler_tasks (read at scrape) */

enum vx_m_job_type {
	VX_M_JOB_PREHEAT,
	VX_M_JOB_GET_TASK,
	VX_M_JOB_DELETE_TASK,
	VX_M_JOB_GC,
	VX_M_JOB_SYNC_PEERS,
	VX_M_JOB_TYPE_NR
};
enum vx_m_job_state { VX_M_JOB_PENDING, VX_M_JOB_SUCCESS, VX_M_JOB_FAILURE, VX_M_JOB_STATE_NR };
/* vx_jobs{type,state} (read at scrape): series VX_M_JOB(type, state) */
extern struct vx_metric vx_m_jobs;
#define VX_M_JOB(type, state) ((uint32_t)(type)*VX_M_JOB_STATE_NR + (uint32_t)(state))

enum vx_m_route {
	VX_M_ROUTE_HEALTHY,
	VX_M_ROUTE_METRICS,
	VX_M_ROUTE_JOBS,
	VX_M_ROUTE_AUDITS,
	VX_M_ROUTE_TOKENS,
	VX_M_ROUTE_OTHER,
	VX_M_ROUTE_NR
};
enum vx_m_code { VX_M_CODE_2XX, VX_M_CODE_3XX, VX_M_CODE_4XX, VX_M_CODE_5XX, VX_M_CODE_NR };
/* vx_api_requests_total{route,code}: series VX_M_API(route, vx_m_code_of(status)) */
extern struct vx_metric vx_m_api_requests;
#define VX_M_API(route, code) ((uint32_t)(route)*VX_M_CODE_NR + (uint32_t)(code))
uint32_t vx_m_code_of(unsigned status);

/* ---- both */

enum vx_m_tls { VX_M_TLS_OK, VX_M_TLS_REFUSED, VX_M_TLS_NR };
/* vx_tls_handshakes_total{result}: for the TLS listeners and dialers to bump */
extern struct vx_metric vx_m_tls_handshakes;

#endif /* VX_METRICS_DEFS_H */
