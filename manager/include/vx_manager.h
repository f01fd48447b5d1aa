/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_manager.h: the management plane (spec/manager.md): an HTTP open API compatible with
 * Dragonfly's manager (jobs: preheat, get_task, delete_task, gc), personal access tokens and
 * a hash-chained audit log, kept in the scheduler's sqlite file or in PostgreSQL. It runs inside `vx scheduler`
 * on the scheduler's one thread (a vx_sched_server hook): no locks, no second thread.
 */
#ifndef VX_MANAGER_H
#define VX_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"

struct vx_manager;
struct vx_sched_server;

/* Token scopes (bits); names in spec/manager.md. */
#define VX_MGR_SCOPE_JOB_READ	   (1u << 0)
#define VX_MGR_SCOPE_JOB_WRITE	   (1u << 1)
#define VX_MGR_SCOPE_PREHEAT	   (1u << 2)
#define VX_MGR_SCOPE_TASK_DELETE   (1u << 3)
#define VX_MGR_SCOPE_TOKEN_ADMIN   (1u << 4)
#define VX_MGR_SCOPE_AUDIT_READ	   (1u << 5)
#define VX_MGR_SCOPE_METRICS_READ  (1u << 6)
#define VX_MGR_SCOPE_CLUSTER_READ  (1u << 7)  /* hosts, tasks, swarms, traffic, the blocklist */
#define VX_MGR_SCOPE_CLUSTER_ADMIN (1u << 8)  /* change the blocklist */
#define VX_MGR_SCOPE_PUBLISH	   (1u << 9)  /* append to channels (creating them) */
#define VX_MGR_SCOPE_SUBSCRIBE	   (1u << 10) /* read channels */
#define VX_MGR_SCOPE_ALL	   0x7ffu

#define VX_MGR_TOKEN_MAX 128 /* bytes of a token as text, NUL included */

/* What a control-plane process runs (vx scheduler --role). */
enum vx_manager_role {
	VX_MGR_ROLE_ALL = 0,   /* the API and the jobs, beside the scheduler */
	VX_MGR_ROLE_MANAGER,   /* the API alone, no scheduler: jobs are run by a scheduler */
	VX_MGR_ROLE_SCHEDULER, /* no API: runs the jobs the managers made */
};

struct vx_manager_cfg {
	enum vx_manager_role role;
	const char *listen;  /* "HOST:PORT" of the API; port 0 picks one (borrowed) */
	const char *db_path; /* a sqlite file, or a postgres:// URI shared by several (borrowed) */
	size_t body_max;     /* request body bytes (default 64 KiB) */
	uint32_t jobs_per_min;		   /* job creations per token per minute (burst the same) */
	uint32_t preheat_timeout_s;	   /* default preheat timeout */
	uint32_t retention_days;	   /* gc: jobs and audit records older than this go */
	const char *const *allow_outbound; /* CIDRs a preheat URL may name though refused */
	uint32_t nr_allow_outbound;	   /* by default (loopback, link-local, unspecified) */
	const char *const *deny_outbound;  /* CIDRs a preheat URL may never name */
	uint32_t nr_deny_outbound;
	/* the cluster configuration document (spec/manager.md): @cluster_check validates a
	 * decoded JSON object (a json_t *) with the daemon's own config parser, naming a bad key
	 * in @err; @cluster_seed (JSON text, borrowed) is stored as version 1 when the database
	 * holds none */
	int (*cluster_check)(const void *root, char *err, size_t err_len);
	const char *cluster_seed;
	uint32_t job_lease_s; /* a running job's lease: another process claims it this long
			       * after its runner stopped renewing (default 15) */
	/* PEM files (borrowed) of the API's TLS certificate (chain) and key (mode 0600 or
	 * stricter): the API speaks HTTPS (libmicrohttpd's GnuTLS); NULL: plain HTTP */
	const char *tls_cert, *tls_key;
	/* bytes/s every preheat fetch from an origin in flight takes together, on all the chosen
	 * daemons of all the processes sharing the database (each fetch gets an equal share in its
	 * preheat event, sent again as the count changes); 0: none */
	uint64_t preheat_rate_bps;
	const char *const *sync_dirs; /* directories a sync's file:// prefix may lie under */
	uint32_t nr_sync_dirs;	      /* (none: file:// prefixes are refused) */
};

void vx_manager_cfg_default(struct vx_manager_cfg *cfg);

/*
 * vx_manager_new() - open the tables, bind the API (not in the scheduler role) and hook it into
 * @srv's loop; @srv is NULL exactly in the manager role (then vx_manager_run() is the loop).
 * Returns 0 and *@out, VX_EDB (database unusable), -EINVAL (bad listen address or CIDR, or
 * @srv not matching the role), or a socket errno.
 */
VX_MUST_CHECK int vx_manager_new(struct vx_manager **out, struct vx_sched_server *srv,
				 const struct vx_manager_cfg *cfg);
uint16_t vx_manager_port(const struct vx_manager *m);

/*
 * vx_manager_run() - the loop of the manager role (made with @srv NULL): serves the API and
 * ticks the jobs until @stop_fd is readable (a signalfd). Returns 0 or -errno.
 */
VX_MUST_CHECK int vx_manager_run(struct vx_manager *m, int stop_fd);
/* Unhooks and frees @m (taken); NULL is a no-op. */
void vx_manager_free(struct vx_manager *m);

/*
 * vx_manager_token_create() - create a token straight in the database @db_path (the bootstrap
 * path, beside the running control plane): @scopes (VX_MGR_SCOPE_* bits), valid @ttl_s
 * seconds. The token is written to @out (VX_MGR_TOKEN_MAX bytes) and shown nowhere else.
 * Returns 0 (and *@id), -EINVAL, VX_EDB.
 */
VX_MUST_CHECK int vx_manager_token_create(const char *db_path, const char *name, uint32_t scopes,
					  uint64_t ttl_s, char *out, int64_t *id);

/* Scope names: "job:read,preheat" into bits; "all" for every scope. Returns 0 or -EINVAL. */
VX_MUST_CHECK int vx_manager_scopes_parse(const char *s, uint32_t *out);

/* The routes of the API, "METHOD PATH" lines ({id} for an id), for tests and docs. */
const char *vx_manager_route(uint32_t i);

#endif /* VX_MANAGER_H */
