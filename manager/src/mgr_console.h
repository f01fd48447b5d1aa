/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_console.h: the web console (spec/manager.md, "Console"): its static files, embedded at
 * build time (cmake/gen_embed.cmake) and served under /console/ without a token (they hold no
 * data), and the read-only views of the cluster its pages fetch with the operator's token.
 * Scheduler thread only.
 */
#ifndef VX_MGR_CONSOLE_H
#define VX_MGR_CONSOLE_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mgr_db;
struct vx_sched_server;

/* One embedded file (the generated table ends with a NULL path). */
struct mgr_asset {
	const char *path; /* relative to manager/console/ */
	const unsigned char *data;
	size_t len;
	const char *sha256; /* of the bytes, the ETag */
};
extern const struct mgr_asset vx__mgr_console_files[];

/* Whether @url is the console's (/console or under /console/). */
bool vx__mgr_console_url(const char *url);
/* Answers a GET of a console file (or 404), with the console's CSP and cache headers. */
enum MHD_Result vx__mgr_console_reply(struct MHD_Connection *c, const char *url, unsigned *status);

/* The cluster views: a ring of cluster byte totals sampled every few seconds and per-host rates. */
struct mgr_view;
/* @srv NULL (the manager role): every view answers that no scheduler runs here. */
int vx__mgr_view_new(struct mgr_view **out, struct vx_sched_server *srv, struct mgr_db *db);
void vx__mgr_view_free(struct mgr_view *v);
void vx__mgr_view_tick(struct mgr_view *v, uint64_t now_ms);
/*
 * JSON bodies; NULL: no scheduler in this process. @tenant is the caller's token's: "" sees the
 * whole cluster, a tenant only its own hosts (spec/manager.md, tenants).
 */
json_t *vx__mgr_view_hosts(struct mgr_view *v, const char *tenant);
/* Tasks @tenant may see ("": every task; else its own and public ones, spec/manager.md). */
json_t *vx__mgr_view_tasks(struct mgr_view *v, const char *q, const char *tenant, uint32_t page,
			   uint32_t per_page);
/*
 * Whether a token of @tenant may see task @id (@evict: may also evict it). "" sees and evicts
 * all; a tenant sees its own tasks and public ones, and evicts only its own. False also when
 * no such task is known here (or no scheduler runs here).
 */
bool vx__mgr_view_task_allowed(struct mgr_view *v, const char *id, const char *tenant, bool evict);
/* The task's JSON; NULL with *@sched true: no such task, *@sched false: no scheduler here. */
json_t *vx__mgr_view_task(struct mgr_view *v, const char *id, bool *sched);
/* A tenant's stats count its own hosts and tasks only, without the cluster's series. */
json_t *vx__mgr_view_stats(struct mgr_view *v, const char *tenant);
/* A tenant sees the entries its tenant's tokens made. */
json_t *vx__mgr_view_blocklist(struct mgr_view *v, const char *tenant);
/*
 * 0, -EINVAL (bad id), -ENOSPC (list full), -ENOENT (not listed; for a tenant also: no host of
 * its tenant by that id is known, or another tenant listed it), -ENODEV (no scheduler), VX_EDB.
 */
int vx__mgr_view_ban(struct mgr_view *v, const char *host, bool on, int64_t token_id,
		     const char *tenant);

#endif /* VX_MGR_CONSOLE_H */
