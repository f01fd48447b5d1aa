/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_http.c: the open API over HTTP (libmicrohttpd in its external-epoll mode, so every
 * request runs on the scheduler's own thread: the server's loop polls MHD's epoll descriptor
 * through a vx_sched_server hook and calls MHD_run(); no second thread touches the core).
 *
 * Deny unless allowed: every route but GET /healthy needs a bearer token (Authorization
 * header only, never the query string) with the route's scope; an unknown path asks for a
 * token first too. Bodies are bounded (413), JSON is decoded by mgr_req.c. Every mutating call
 * and every refusal is written to the audit log.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "mgr_console.h"
#include "mgr_int.h"
#include "mgr_metrics.h"
#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_list.h"
#include "vx_log.h"
#include "vx_net.h"
#include "vx_sched_server.h"
#include "vx_time.h"
#include "vx_tls.h"
#include "vx_url.h"

#define BUCKETS_MAX 256

struct bucket {
	int64_t token;
	double level;
	uint64_t at_ms;
};

struct vx_manager {
	struct vx_manager_cfg cfg;
	struct vx_sched_server *srv;
	struct MHD_Daemon *d;
	int lfd;
	uint16_t port;
	char *tls_cert, *tls_key; /* PEM text of cfg.tls_cert/tls_key; NULL: plain HTTP */
	size_t tls_cert_len, tls_key_len;
	struct mgr_db db;
	struct mgr_jobs *jobs;
	struct mgr_view *view; /* the console's cluster views */
	struct mgr_sync *sync; /* syncs of prefixes (mgr_sync.c) */
	struct bucket buckets[BUCKETS_MAX];
	uint64_t next_tick_ms;
	uint64_t next_cfg_ms;	/* next look for a new cluster config version in the database */
	int epfd;		/* libmicrohttpd's epoll descriptor; -1 without the API */
	bool hooked;		/* in the scheduler's loop */
	struct vx_list waiters; /* struct req: long-polls of channels */
};

struct req {
	char *body;
	size_t len;
	bool too_big;
	/* A long-poll of a channel (GET ?wait=S, spec/manager.md "Channels"): suspended on
	 * m->waiters until a publication to it or its deadline, then served again. */
	struct vx_list wait_node;
	struct MHD_Connection *c;
	uint64_t deadline_ms;
	bool waiting; /* on m->waiters, suspended */
	bool resumed; /* answer now, whatever there is */
	char channel[MGR_CHANNEL_MAX + 1];
};

#define CHANNEL_WAIT_MAX_S 25u /* under the connection timeout of 30 s */

enum route_id {
	R_HEALTHY,
	R_JOBS_POST,
	R_JOBS_GET,
	R_JOB_GET,
	R_JOB_DEL,
	R_AUDITS,
	R_TOK_POST,
	R_TOK_GET,
	R_TOK_DEL,
	R_METRICS,
	R_HOSTS,
	R_TASKS,
	R_TASK,
	R_STATS,
	R_BLOCK_GET,
	R_BLOCK_POST,
	R_BLOCK_DEL,
	R_CCFG_GET,
	R_CCFG_PUT,
	R_PCACHE_GET,
	R_SYNC_POST,
	R_SYNCS_GET,
	R_SYNC_GET,
	R_SYNC_RUN,
	R_SYNC_DEL,
	R_CHANNELS,
	R_CHANNEL_GET,
	R_CHANNEL_POST
};

static const struct route {
	const char *method;
	const char *path; /* ending in '/' takes an id */
	uint32_t scope;	  /* 0: open */
	const char *text;
} routes[] = {
	[R_HEALTHY] = { "GET", "/healthy", 0, "GET /healthy" },
	[R_JOBS_POST] = { "POST", "/oapi/v1/jobs", VX_MGR_SCOPE_JOB_WRITE, "POST /oapi/v1/jobs" },
	[R_JOBS_GET] = { "GET", "/oapi/v1/jobs", VX_MGR_SCOPE_JOB_READ, "GET /oapi/v1/jobs" },
	[R_JOB_GET] = { "GET", "/oapi/v1/jobs/", VX_MGR_SCOPE_JOB_READ, "GET /oapi/v1/jobs/{id}" },
	[R_JOB_DEL] = { "DELETE", "/oapi/v1/jobs/", VX_MGR_SCOPE_JOB_WRITE,
			"DELETE /oapi/v1/jobs/{id}" },
	[R_AUDITS] = { "GET", "/oapi/v1/audits", VX_MGR_SCOPE_AUDIT_READ, "GET /oapi/v1/audits" },
	[R_PCACHE_GET] = { "GET", "/oapi/v1/persistent-cache-tasks", VX_MGR_SCOPE_JOB_READ,
			   "GET /oapi/v1/persistent-cache-tasks" },
	[R_TOK_POST] = { "POST", "/oapi/v1/tokens", VX_MGR_SCOPE_TOKEN_ADMIN,
			 "POST /oapi/v1/tokens" },
	[R_TOK_GET] = { "GET", "/oapi/v1/tokens", VX_MGR_SCOPE_TOKEN_ADMIN, "GET /oapi/v1/tokens" },
	[R_TOK_DEL] = { "DELETE", "/oapi/v1/tokens/", VX_MGR_SCOPE_TOKEN_ADMIN,
			"DELETE /oapi/v1/tokens/{id}" },
	[R_METRICS] = { "GET", "/metrics", VX_MGR_SCOPE_METRICS_READ, "GET /metrics" },
	/* the console's views of the cluster (mgr_console.c) */
	[R_HOSTS] = { "GET", "/oapi/v1/hosts", VX_MGR_SCOPE_CLUSTER_READ, "GET /oapi/v1/hosts" },
	[R_TASKS] = { "GET", "/oapi/v1/tasks", VX_MGR_SCOPE_CLUSTER_READ, "GET /oapi/v1/tasks" },
	[R_TASK] = { "GET", "/oapi/v1/tasks/", VX_MGR_SCOPE_CLUSTER_READ,
		     "GET /oapi/v1/tasks/{id}" },
	[R_STATS] = { "GET", "/oapi/v1/stats", VX_MGR_SCOPE_CLUSTER_READ, "GET /oapi/v1/stats" },
	[R_BLOCK_GET] = { "GET", "/oapi/v1/blocklist", VX_MGR_SCOPE_CLUSTER_READ,
			  "GET /oapi/v1/blocklist" },
	[R_BLOCK_POST] = { "POST", "/oapi/v1/blocklist", VX_MGR_SCOPE_CLUSTER_ADMIN,
			   "POST /oapi/v1/blocklist" },
	[R_BLOCK_DEL] = { "DELETE", "/oapi/v1/blocklist/", VX_MGR_SCOPE_CLUSTER_ADMIN,
			  "DELETE /oapi/v1/blocklist/{id}" },
	/* the cluster configuration document (mgr_cluster.c) */
	[R_CCFG_GET] = { "GET", "/oapi/v1/cluster-config", VX_MGR_SCOPE_CLUSTER_READ,
			 "GET /oapi/v1/cluster-config" },
	[R_CCFG_PUT] = { "PUT", "/oapi/v1/cluster-config", VX_MGR_SCOPE_CLUSTER_ADMIN,
			 "PUT /oapi/v1/cluster-config" },
	/* syncs of prefixes (mgr_sync.c): POST on one runs it now */
	[R_SYNC_POST] = { "POST", "/oapi/v1/syncs", VX_MGR_SCOPE_JOB_WRITE, "POST /oapi/v1/syncs" },
	[R_SYNCS_GET] = { "GET", "/oapi/v1/syncs", VX_MGR_SCOPE_JOB_READ, "GET /oapi/v1/syncs" },
	[R_SYNC_GET] = { "GET", "/oapi/v1/syncs/", VX_MGR_SCOPE_JOB_READ,
			 "GET /oapi/v1/syncs/{id}" },
	[R_SYNC_RUN] = { "POST", "/oapi/v1/syncs/", VX_MGR_SCOPE_JOB_WRITE,
			 "POST /oapi/v1/syncs/{id}" },
	[R_SYNC_DEL] = { "DELETE", "/oapi/v1/syncs/", VX_MGR_SCOPE_JOB_WRITE,
			 "DELETE /oapi/v1/syncs/{id}" },
	/* publish/subscribe (mgr_channel.c): {name} is a channel's name */
	[R_CHANNELS] = { "GET", "/oapi/v1/channels", VX_MGR_SCOPE_SUBSCRIBE,
			 "GET /oapi/v1/channels" },
	[R_CHANNEL_GET] = { "GET", "/oapi/v1/channels/", VX_MGR_SCOPE_SUBSCRIBE,
			    "GET /oapi/v1/channels/{name}" },
	[R_CHANNEL_POST] = { "POST", "/oapi/v1/channels/", VX_MGR_SCOPE_PUBLISH,
			     "POST /oapi/v1/channels/{name}" },
};
#define NR_ROUTES (sizeof(routes) / sizeof(routes[0]))

const char *vx_manager_route(uint32_t i)
{
	return i < NR_ROUTES ? routes[i].text : NULL;
}

void vx_manager_cfg_default(struct vx_manager_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = "127.0.0.1:8080";
	cfg->body_max = 64 * 1024;
	cfg->jobs_per_min = 60;
	cfg->preheat_timeout_s = 3600;
	cfg->retention_days = 30;
	cfg->job_lease_s = 15;
}

/* ---------------------------------------------------------------- Answers */

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);
	struct MHD_Response *r;
	enum MHD_Result ret;

	json_decref(body);
	if (!s)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_msg(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return send_json(c, status, json_pack("{s:s}", "message", msg));
}

static void source_of(struct MHD_Connection *c, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	snprintf(out, len, "?");
	if (ci && ci->client_addr)
		vx_net_addr_str(ci->client_addr, out, len);
}

/* ---------------------------------------------------------------- Auth */

static bool rate_ok(struct vx_manager *m, int64_t token)
{
	uint64_t now = vx_now_ms();
	struct bucket *b = NULL, *old = &m->buckets[0];
	double cap = m->cfg.jobs_per_min;

	for (uint32_t i = 0; i < BUCKETS_MAX && !b; i++) {
		if (m->buckets[i].token == token)
			b = &m->buckets[i];
		else if (m->buckets[i].at_ms < old->at_ms)
			old = &m->buckets[i];
	}
	if (!b) {
		b = old;
		b->token = token;
		b->level = cap;
		b->at_ms = now;
	}
	b->level += (double)(now - b->at_ms) * cap / 60000.0;
	if (b->level > cap)
		b->level = cap;
	b->at_ms = now;
	if (b->level < 1.0)
		return false;
	b->level -= 1.0;
	return true;
}

/* 0 and @t, or the HTTP status of the refusal with @why. */
static unsigned authorize(struct vx_manager *m, struct MHD_Connection *c, uint32_t scope,
			  struct mgr_token *t, const char **why)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");

	t->id = 0;
	if (!h || strncmp(h, "Bearer ", 7) != 0) {
		*why = "a bearer token is required (Authorization: Bearer TOKEN)";
		return MHD_HTTP_UNAUTHORIZED;
	}
	if (strlen(h + 7) >= VX_MGR_TOKEN_MAX || vx__mgr_token_check(&m->db, h + 7, t)) {
		t->id = 0;
		*why = "the token is unknown, expired or revoked";
		return MHD_HTTP_UNAUTHORIZED;
	}
	if ((t->scopes & scope) != scope) {
		*why = "the token lacks the scope this call needs";
		return MHD_HTTP_FORBIDDEN;
	}
	return 0;
}

/* ---------------------------------------------------------------- Routes */

static bool parse_id(const char *s, int64_t *id)
{
	char *end;
	long long v;

	if (*s < '1' || *s > '9')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*id = v;
	return true;
}

static uint32_t query_u32(struct MHD_Connection *c, const char *key, uint32_t dflt, uint32_t max)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
	char *end;
	unsigned long n;

	if (!v)
		return dflt;
	n = strtoul(v, &end, 10);
	if (*end || n == 0)
		return dflt;
	return n > max ? max : (uint32_t)n;
}

struct call {
	struct vx_manager *m;
	struct MHD_Connection *c;
	struct mgr_token tok;
	char src[VX_NET_ADDR_STR_MAX];
	char action[160];
	char target[320];
	unsigned status;
	bool audit;
	bool suspended; /* a long-poll now waits: no answer yet */
};

static enum MHD_Result answer(struct call *k, unsigned status, json_t *body)
{
	k->status = status;
	return send_json(k->c, status, body);
}

static enum MHD_Result fail(struct call *k, unsigned status, const char *msg)
{
	k->status = status;
	k->audit = true;
	return send_msg(k->c, status, msg);
}

/*
 * A tenant's token (spec/manager.md, tenants): get_task and delete_task only of a task of its
 * own tenant (get_task of a public one too), answered like an unknown task otherwise; no job
 * that spans tenants (gc, sync_peers, the persistent cache's). Preheat is allowed: its tasks
 * are fetched by seeds and are public. True when refused, with @err.
 */
static bool job_tenant_refused(struct call *k, const struct vx_mgr_job_req *r, char *err,
			       size_t err_len)
{
	char tid[VX_TASK_ID_LEN + 1];

	if (r->type == MGR_JOB_PREHEAT)
		return false;
	if (r->type != MGR_JOB_GET_TASK && r->type != MGR_JOB_DELETE_TASK) {
		snprintf(err, err_len, "a tenant's token cannot run this job type");
		return true;
	}
	if (vx__mgr_req_task_id(r, tid, err, err_len) == 0 &&
	    vx__mgr_view_task_allowed(k->m->view, tid, k->tok.tenant,
				      r->type == MGR_JOB_DELETE_TASK))
		return false;
	snprintf(err, err_len, "no such task");
	return true;
}

static enum MHD_Result jobs_post(struct call *k, struct req *q)
{
	static struct vx_mgr_job_req r; /* large; one request at a time on this thread */
	char err[256];
	int64_t id;
	uint32_t need = 0;
	int rc;

	k->audit = true;
	if (vx_mgr_job_req_decode(q->body ? q->body : "", q->len, &r, err, sizeof(err)))
		return fail(k, MHD_HTTP_BAD_REQUEST, err);
	snprintf(k->target, sizeof(k->target), "type=%s", vx__mgr_job_type_name(r.type));
	if (r.type == MGR_JOB_PREHEAT)
		need = VX_MGR_SCOPE_PREHEAT;
	else if (r.type == MGR_JOB_DELETE_TASK || r.type == MGR_JOB_PCACHE_DELETE)
		need = VX_MGR_SCOPE_TASK_DELETE;
	else if (r.type == MGR_JOB_PCACHE_IMPORT || r.type == MGR_JOB_PCACHE_REPLICATE)
		need = VX_MGR_SCOPE_PREHEAT; /* places copies on hosts, as a preheat does */
	else if (r.type == MGR_JOB_GC)
		need = VX_MGR_SCOPE_TOKEN_ADMIN;
	if ((k->tok.scopes & need) != need)
		return fail(k, MHD_HTTP_FORBIDDEN, "the token lacks the scope this job type needs");
	if (k->tok.tenant[0] && job_tenant_refused(k, &r, err, sizeof(err)))
		return fail(k,
			    r.type == MGR_JOB_GET_TASK || r.type == MGR_JOB_DELETE_TASK
				    ? MHD_HTTP_NOT_FOUND
				    : MHD_HTTP_FORBIDDEN,
			    err);
	if (!rate_ok(k->m, k->tok.id))
		return fail(k, MHD_HTTP_TOO_MANY_REQUESTS,
			    "too many jobs from this token; slow down");
	rc = vx__mgr_job_create(k->m->jobs, &r, k->tok.id, &id, err, sizeof(err));
	if (rc)
		return fail(k, (unsigned)rc, err);
	snprintf(k->target, sizeof(k->target), "job=%" PRId64 " type=%s", id,
		 vx__mgr_job_type_name(r.type));
	return answer(k, MHD_HTTP_OK, vx__mgr_job_get(k->m->jobs, id));
}

static enum MHD_Result syncs_post(struct call *k, struct req *q)
{
	static struct vx_mgr_sync_req s; /* large; one request at a time on this thread */
	char err[300] = "";
	int64_t id;
	int rc;

	k->audit = true;
	if (vx_mgr_sync_req_decode(q->body ? q->body : "", q->len, &s, err, sizeof(err)))
		return fail(k, MHD_HTTP_BAD_REQUEST, err);
	vx_url_redact_str(s.prefix, k->target, sizeof(k->target));
	if ((k->tok.scopes & VX_MGR_SCOPE_PREHEAT) != VX_MGR_SCOPE_PREHEAT ||
	    (s.del && !(k->tok.scopes & VX_MGR_SCOPE_TASK_DELETE)))
		return fail(k, MHD_HTTP_FORBIDDEN,
			    s.del ? "a sync needs the preheat scope, and task:delete to evict"
				  : "a sync needs the preheat scope");
	if (!rate_ok(k->m, k->tok.id))
		return fail(k, MHD_HTTP_TOO_MANY_REQUESTS,
			    "too many jobs from this token; slow down");
	rc = vx__mgr_sync_create(k->m->sync, &s, k->tok.id, &id, err, sizeof(err));
	if (rc)
		return fail(k, (unsigned)rc, err);
	snprintf(k->target, sizeof(k->target), "sync=%" PRId64, id);
	return answer(k, MHD_HTTP_OK, vx__mgr_sync_get(k->m->sync, id));
}

static enum MHD_Result sync_id_call(struct call *k, enum route_id r, int64_t id)
{
	bool del = false;
	int rc;

	k->audit = r != R_SYNC_GET;
	snprintf(k->target, sizeof(k->target), "sync=%" PRId64, id);
	if (r == R_SYNC_GET) {
		json_t *o = vx__mgr_sync_get(k->m->sync, id);

		return o ? answer(k, MHD_HTTP_OK, o) : fail(k, MHD_HTTP_NOT_FOUND, "no such sync");
	}
	if (r == R_SYNC_RUN && !(k->tok.scopes & VX_MGR_SCOPE_PREHEAT))
		return fail(k, MHD_HTTP_FORBIDDEN, "running a sync needs the preheat scope");
	rc = r == R_SYNC_RUN ? vx__mgr_sync_run_now(k->m->sync, id, &del)
			     : vx__mgr_sync_delete(k->m->sync, id);
	if (rc == -ENOENT)
		return fail(k, MHD_HTTP_NOT_FOUND, "no such sync");
	if (rc)
		return fail(k, MHD_HTTP_INTERNAL_SERVER_ERROR, "the database failed");
	if (r == R_SYNC_DEL)
		return answer(k, MHD_HTTP_OK,
			      json_pack("{s:I, s:b}", "id", (json_int_t)id, "deleted", 1));
	return answer(k, MHD_HTTP_OK, vx__mgr_sync_get(k->m->sync, id));
}

/*
 * Syncs span tenants (spec/manager.md "Tenants"): a sync has no tenant, its evictions are
 * delete_task jobs made without job_tenant_refused(), and any sync can be listed, run or
 * deleted by id. A tenant's token is refused them all, as gc and sync_peers.
 */
static enum MHD_Result sync_call(struct call *k, enum route_id r, int64_t id, struct req *q)
{
	if (k->tok.tenant[0]) {
		k->audit = true;
		return fail(k, MHD_HTTP_FORBIDDEN, "a tenant's token cannot use syncs");
	}
	if (r == R_SYNC_POST)
		return syncs_post(k, q);
	if (r == R_SYNCS_GET)
		return answer(k, MHD_HTTP_OK, vx__mgr_sync_list(k->m->sync));
	return sync_id_call(k, r, id);
}

/*
 * Resumes the long-polls of @channel (NULL: those whose deadline is past @now_ms); each is
 * served again (resumed: with what there is then).
 */
static void waiters_wake(struct vx_manager *m, const char *channel, uint64_t now_ms)
{
	struct vx_list *pos, *tmp;

	vx_list_for_each_safe(pos, tmp, &m->waiters) {
		struct req *q = vx_list_entry(pos, struct req, wait_node);

		if (channel ? strcmp(q->channel, channel) != 0 : now_ms < q->deadline_ms)
			continue;
		vx_list_del(&q->wait_node);
		q->waiting = false;
		q->resumed = true;
		MHD_resume_connection(q->c);
	}
}

static enum MHD_Result channel_get(struct call *k, const char *channel, struct req *q)
{
	uint32_t wait = q->resumed ? 0 : query_u32(k->c, "wait", 0, CHANNEL_WAIT_MAX_S);
	json_t *o = vx__mgr_channel_read(&k->m->db, channel,
					 (int64_t)query_u32(k->c, "after", 0, UINT32_MAX),
					 query_u32(k->c, "limit", 100, 1000));

	if (!o)
		return fail(k, MHD_HTTP_NOT_FOUND, "no such channel");
	if (wait && json_array_size(json_object_get(o, "publications")) == 0) {
		json_decref(o);
		q->c = k->c;
		q->deadline_ms = vx_now_ms() + wait * 1000ull;
		q->waiting = true;
		snprintf(q->channel, sizeof(q->channel), "%s", channel);
		vx_list_add_tail(&k->m->waiters, &q->wait_node);
		MHD_suspend_connection(k->c);
		k->suspended = true;
		return MHD_YES;
	}
	/* says the wait was honoured: a subscriber asks again at once, no poll interval */
	if (q->resumed || wait)
		json_object_set_new(o, "long_poll", json_true());
	return answer(k, MHD_HTTP_OK, o);
}

static enum MHD_Result channel_post(struct call *k, const char *channel, struct req *q)
{
	static struct vx_mgr_pub_req p; /* one request at a time on this thread */
	char err[256];
	int64_t seq;

	k->audit = true;
	snprintf(k->target, sizeof(k->target), "channel=%.64s", channel);
	if (vx_mgr_pub_req_decode(q->body ? q->body : "", q->len, &p, err, sizeof(err)))
		return fail(k, MHD_HTTP_BAD_REQUEST, err);
	if (!rate_ok(k->m, k->tok.id))
		return fail(k, MHD_HTTP_TOO_MANY_REQUESTS,
			    "too many jobs and publications from this token; slow down");
	if (vx__mgr_channel_publish(&k->m->db, channel, &p, k->tok.id, &seq))
		return fail(k, MHD_HTTP_INTERNAL_SERVER_ERROR, "the database failed");
	snprintf(k->target, sizeof(k->target), "channel=%.64s seq=%" PRId64 " name=%.128s", channel,
		 seq, p.name);
	waiters_wake(k->m, channel, 0);
	return answer(k, MHD_HTTP_OK,
		      json_pack("{s:s, s:I, s:s}", "channel", channel, "seq", (json_int_t)seq,
				"name", p.name));
}

static enum MHD_Result tokens_post(struct call *k, struct req *q)
{
	json_t *root = json_loadb(q->body ? q->body : "", q->len, JSON_REJECT_DUPLICATES, NULL);
	json_t *sc;
	const char *name = NULL, *tenant = NULL;
	char tok[VX_MGR_TOKEN_MAX], list[256] = "";
	json_int_t ttl_days = 90;
	uint32_t scopes;
	int64_t id;
	size_t i;

	k->audit = true;
	if (!root ||
	    json_unpack(root, "{s:s, s:o, s?:I, s?:s}", "name", &name, "scopes", &sc, "ttl_days",
			&ttl_days, "tenant", &tenant) ||
	    !json_is_array(sc) || ttl_days < 1 || ttl_days > 3650 ||
	    (tenant && !vx_tls_tenant_ok(tenant, strlen(tenant)))) {
		json_decref(root);
		return fail(k, MHD_HTTP_BAD_REQUEST,
			    "want {\"name\": S, \"scopes\": [S...], \"ttl_days\": N (1..3650), "
			    "\"tenant\": S ([a-z0-9][a-z0-9._-]{0,62}), optional}");
	}
	/* a tenant's token makes tokens of its own tenant only */
	if (k->tok.tenant[0] && tenant && strcmp(tenant, k->tok.tenant) != 0) {
		json_decref(root);
		return fail(k, MHD_HTTP_FORBIDDEN, "a tenant's token cannot grant another tenant");
	}
	if (k->tok.tenant[0])
		tenant = k->tok.tenant;
	for (i = 0; i < json_array_size(sc); i++) {
		const char *s = json_string_value(json_array_get(sc, i));
		size_t at = strlen(list);
		int n;

		if (!s)
			break;
		n = snprintf(list + at, sizeof(list) - at, "%s%s", i ? "," : "", s);
		if (n < 0 || (size_t)n >= sizeof(list) - at)
			break;
	}
	if (i != json_array_size(sc) || vx_manager_scopes_parse(list, &scopes)) {
		json_decref(root);
		return fail(k, MHD_HTTP_BAD_REQUEST, "unknown scope");
	}
	if ((scopes & k->tok.scopes) != scopes) {
		json_decref(root);
		return fail(k, MHD_HTTP_FORBIDDEN, "a token cannot grant scopes it lacks");
	}
	if (vx__mgr_token_create(&k->m->db, name, scopes, tenant, (uint64_t)ttl_days * 86400, tok,
				 &id)) {
		json_decref(root);
		return fail(k, MHD_HTTP_BAD_REQUEST, "the token could not be created (name?)");
	}
	snprintf(k->target, sizeof(k->target), "token=%" PRId64 " scopes=%s%s%s", id, list,
		 tenant ? " tenant=" : "", tenant ? tenant : "");
	json_decref(root);
	return answer(k, MHD_HTTP_OK, json_pack("{s:I, s:s}", "id", (json_int_t)id, "token", tok));
}

static enum MHD_Result ban_answer(struct call *k, const char *host, bool on)
{
	switch (vx__mgr_view_ban(k->m->view, host, on, k->tok.id, k->tok.tenant)) {
	case 0:
		return answer(k, MHD_HTTP_OK, json_pack("{s:s, s:b}", "host", host, "blocked", on));
	case -EINVAL:
		return fail(k, MHD_HTTP_BAD_REQUEST, "a host id is printable, without spaces");
	case -ENOSPC:
		return fail(k, MHD_HTTP_CONFLICT, "the blocklist is full");
	case -ENOENT:
		return fail(k, MHD_HTTP_NOT_FOUND,
			    on ? "no such host" : "the host is not on the blocklist");
	case -ENODEV:
		return fail(k, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "no scheduler runs in this process (--role manager)");
	default:
		return fail(k, MHD_HTTP_INTERNAL_SERVER_ERROR, "the database failed");
	}
}

static enum MHD_Result blocklist_post(struct call *k, struct req *q)
{
	json_t *root = json_loadb(q->body ? q->body : "", q->len, JSON_REJECT_DUPLICATES, NULL);
	const char *host = NULL;
	enum MHD_Result ret;

	k->audit = true;
	if (!root || json_unpack(root, "{s:s}", "host", &host)) {
		json_decref(root);
		return fail(k, MHD_HTTP_BAD_REQUEST, "want {\"host\": HOST_ID}");
	}
	snprintf(k->target, sizeof(k->target), "host=%.256s", host);
	ret = ban_answer(k, host, true);
	json_decref(root);
	return ret;
}

static enum MHD_Result view_answer(struct call *k, json_t *o)
{
	if (!o)
		return fail(k, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "no scheduler runs in this process (--role manager)");
	return answer(k, MHD_HTTP_OK, o);
}

static enum MHD_Result cluster_get(struct call *k)
{
	char sha[VX_CTL_CFG_SHA_LEN + 1];
	uint64_t v;
	char *doc = NULL;
	json_t *o;

	if (vx__mgr_cluster_get(&k->m->db, &v, sha, &doc))
		return fail(k, MHD_HTTP_INTERNAL_SERVER_ERROR, "the database failed");
	o = json_pack("{s:I, s:s, s:o}", "version", (json_int_t)v, "sha256", sha, "config",
		      doc ? json_loads(doc, 0, NULL) : json_object());
	vx_free(doc);
	return answer(k, MHD_HTTP_OK, o);
}

static enum MHD_Result cluster_put(struct call *k, struct req *q)
{
	char err[512], sha[VX_CTL_CFG_SHA_LEN + 1];
	json_t *root;
	uint64_t v;
	int rc;

	k->audit = true;
	rc = vx__mgr_cluster_check(&k->m->cfg, q->body ? q->body : "", q->len, &root, err,
				   sizeof(err));
	if (rc)
		return fail(k, rc == -EINVAL ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_SERVICE_UNAVAILABLE,
			    err);
	rc = vx__mgr_cluster_put(&k->m->db, root, k->tok.id, &v, sha);
	json_decref(root);
	if (rc == -E2BIG)
		return fail(k, MHD_HTTP_CONTENT_TOO_LARGE, "the document is too large");
	if (rc)
		return fail(k, MHD_HTTP_INTERNAL_SERVER_ERROR, "the database failed");
	snprintf(k->target, sizeof(k->target), "cluster-config version=%llu sha256=%.16s",
		 (unsigned long long)v, sha);
	vx__mgr_cluster_sync(&k->m->db, k->m->srv);
	return answer(k, MHD_HTTP_OK,
		      json_pack("{s:I, s:s}", "version", (json_int_t)v, "sha256", sha));
}

static bool hex_id(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return n == VX_TASK_ID_LEN && !s[n];
}

static enum MHD_Result dispatch(struct call *k, enum route_id r, const char *rest, struct req *q)
{
	int64_t id = 0;
	int rc;

	/* ids are numbers, but a task's (hex) and a host's (its name) */
	if (rest && (r == R_CHANNEL_GET || r == R_CHANNEL_POST) && !vx__mgr_channel_name_ok(rest))
		return fail(k, r == R_CHANNEL_POST ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_NOT_FOUND,
			    "a channel name is 1..64 of [a-z0-9._-], not starting with '.' or '-'");
	if (rest && r != R_CHANNEL_GET && r != R_CHANNEL_POST &&
	    (r == R_TASK ? !hex_id(rest) : r != R_BLOCK_DEL && !parse_id(rest, &id)))
		return fail(k, MHD_HTTP_NOT_FOUND, "no such id");
	switch (r) {
	case R_HEALTHY:
		return answer(k, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
	case R_JOBS_POST:
		return jobs_post(k, q);
	case R_PCACHE_GET:
		if (!k->m->srv)
			return fail(
				k, MHD_HTTP_SERVICE_UNAVAILABLE,
				"this manager runs beside no scheduler (--role manager): ask the "
				"scheduler's API");
		return answer(k, MHD_HTTP_OK, vx__mgr_pcache_list(k->m->srv));
	case R_JOBS_GET:
		return answer(k, MHD_HTTP_OK,
			      vx__mgr_job_list(k->m->jobs, k->tok.tenant,
					       query_u32(k->c, "page", 1, 1000000),
					       query_u32(k->c, "per_page", 50, 1000)));
	case R_JOB_GET: {
		/* another tenant's job is as unknown as a missing one */
		json_t *o = vx__mgr_job_seen(k->m->jobs, id, k->tok.tenant)
				    ? vx__mgr_job_get(k->m->jobs, id)
				    : NULL;

		return o ? answer(k, MHD_HTTP_OK, o) : fail(k, MHD_HTTP_NOT_FOUND, "no such job");
	}
	case R_JOB_DEL:
		k->audit = true;
		snprintf(k->target, sizeof(k->target), "job=%" PRId64, id);
		rc = vx__mgr_job_seen(k->m->jobs, id, k->tok.tenant)
			     ? vx__mgr_job_cancel(k->m->jobs, id)
			     : -ENOENT;
		if (rc == -ENOENT)
			return fail(k, MHD_HTTP_NOT_FOUND, "no such job");
		if (rc == -EALREADY)
			return fail(k, MHD_HTTP_CONFLICT, "the job has ended");
		if (rc)
			return fail(k, MHD_HTTP_INTERNAL_SERVER_ERROR, "the database failed");
		return answer(k, MHD_HTTP_OK, vx__mgr_job_get(k->m->jobs, id));
	case R_AUDITS:
		return answer(k, MHD_HTTP_OK,
			      vx__mgr_audit_list(&k->m->db,
						 (int64_t)query_u32(k->c, "after", 0, UINT32_MAX),
						 query_u32(k->c, "limit", 1000, 10000)));
	case R_TOK_POST:
		return tokens_post(k, q);
	case R_TOK_GET:
		return answer(k, MHD_HTTP_OK, vx__mgr_token_list(&k->m->db, k->tok.tenant));
	case R_TOK_DEL:
		k->audit = true;
		snprintf(k->target, sizeof(k->target), "token=%" PRId64, id);
		if (vx__mgr_token_revoke(&k->m->db, id, k->tok.tenant))
			return fail(k, MHD_HTTP_NOT_FOUND, "no such token");
		return answer(k, MHD_HTTP_OK,
			      json_pack("{s:I, s:b}", "id", (json_int_t)id, "revoked", 1));
	case R_METRICS:
		return vx__mgr_metrics_reply(k->c, &k->status);
	case R_HOSTS:
		return view_answer(k, vx__mgr_view_hosts(k->m->view, k->tok.tenant));
	case R_TASKS:
		return view_answer(
			k, vx__mgr_view_tasks(
				   k->m->view,
				   MHD_lookup_connection_value(k->c, MHD_GET_ARGUMENT_KIND, "q"),
				   k->tok.tenant, query_u32(k->c, "page", 1, 1000000),
				   query_u32(k->c, "per_page", 50, 1000)));
	case R_TASK: {
		bool sched;
		json_t *o = vx__mgr_view_task(k->m->view, rest, &sched);

		/* another tenant's task is as unknown as a missing one */
		if (o && !vx__mgr_view_task_allowed(k->m->view, rest, k->tok.tenant, false)) {
			json_decref(o);
			o = NULL;
		}

		return o || !sched ? view_answer(k, o)
				   : fail(k, MHD_HTTP_NOT_FOUND, "no such task");
	}
	case R_STATS:
		return view_answer(k, vx__mgr_view_stats(k->m->view, k->tok.tenant));
	case R_BLOCK_GET:
		return view_answer(k, vx__mgr_view_blocklist(k->m->view, k->tok.tenant));
	case R_BLOCK_POST:
		return blocklist_post(k, q);
	case R_BLOCK_DEL:
		k->audit = true;
		snprintf(k->target, sizeof(k->target), "host=%.256s", rest);
		return ban_answer(k, rest, false);
	case R_CCFG_GET:
		return cluster_get(k);
	case R_CCFG_PUT:
		return cluster_put(k, q);
	case R_SYNC_POST:
	case R_SYNCS_GET:
	case R_SYNC_GET:
	case R_SYNC_RUN:
	case R_SYNC_DEL:
		return sync_call(k, r, id, q);
	case R_CHANNELS:
		return answer(k, MHD_HTTP_OK, vx__mgr_channel_list(&k->m->db));
	case R_CHANNEL_POST:
		return channel_post(k, rest, q);
	case R_CHANNEL_GET:
		return channel_get(k, rest, q);
	}
	return fail(k, MHD_HTTP_NOT_FOUND, "no such route");
}

static enum MHD_Result serve(struct vx_manager *m, struct MHD_Connection *c, const char *url,
			     const char *method, struct req *q)
{
	struct call k = { .m = m, .c = c };
	const struct route *hit = NULL;
	const char *rest = NULL, *why = NULL;
	bool path_known = false;
	enum MHD_Result ret;
	unsigned st;

	source_of(c, k.src, sizeof(k.src));
	snprintf(k.action, sizeof(k.action), "%s %.128s", method, url);
	if (vx__mgr_console_url(url) && (!strcmp(method, "GET") || !strcmp(method, "HEAD")))
		return vx__mgr_console_reply(c, url, &k.status); /* public files, no data */
	for (uint32_t i = 0; i < NR_ROUTES && !hit; i++) {
		const struct route *r = &routes[i];
		size_t n = strlen(r->path);
		bool takes_id = r->path[n - 1] == '/';

		if (takes_id ? strncmp(url, r->path, n) != 0 || !url[n] || strchr(url + n, '/')
			     : strcmp(url, r->path) != 0)
			continue;
		path_known = true;
		if (strcmp(method, r->method) == 0) {
			hit = r;
			rest = takes_id ? url + n : NULL;
		}
	}
	if (hit && !hit->scope) {
		ret = dispatch(&k, (enum route_id)(hit - routes), rest, q);
		goto audit;
	}
	/* deny unless allowed: a token before anything else, also for unknown paths */
	st = authorize(m, c, hit ? hit->scope : 0, &k.tok, &why);
	if (st) {
		ret = fail(&k, st, why);
	} else if (!hit) {
		ret = fail(&k, path_known ? MHD_HTTP_METHOD_NOT_ALLOWED : MHD_HTTP_NOT_FOUND,
			   path_known ? "method not allowed" : "no such route");
	} else if (q->too_big) {
		ret = fail(&k, MHD_HTTP_CONTENT_TOO_LARGE, "the body is too large");
	} else {
		ret = dispatch(&k, (enum route_id)(hit - routes), rest, q);
	}
audit:
	if (k.suspended)
		return ret; /* counted when it is answered */
	vx__mgr_metrics_request(hit ? hit->path : NULL, k.status);
	if (k.audit || strcmp(method, "GET") != 0)
		vx__mgr_audit(&m->db, k.tok.id, k.src, k.action, k.target, (int)k.status);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **ctx)
{
	struct vx_manager *m = cls;
	struct req *q = *ctx;

	(void)version;
	if (!q) {
		q = vx_calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		*ctx = q;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		if (!q->too_big && q->len + n > m->cfg.body_max) {
			q->too_big = true;
			vx_free(q->body);
			q->body = NULL;
			q->len = 0;
		}
		if (!q->too_big) {
			char *b = vx_realloc(q->body, q->len + n + 1);

			if (!b)
				return MHD_NO;
			memcpy(b + q->len, upload_data, n);
			q->body = b;
			q->len += n;
			q->body[q->len] = '\0';
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return serve(m, c, url, method, q);
}

static void on_done(void *cls, struct MHD_Connection *c, void **ctx,
		    enum MHD_RequestTerminationCode toe)
{
	struct req *q = *ctx;

	(void)cls;
	(void)c;
	(void)toe;
	if (q && q->waiting)
		vx_list_del(&q->wait_node);
	if (q) {
		vx_free(q->body);
		vx_free(q);
	}
	*ctx = NULL;
}

/* ---------------------------------------------------------------- Loop hook */

static void hook_run(void *arg, uint64_t now_ms)
{
	struct vx_manager *m = arg;

	if (m->d)
		(void)MHD_run(m->d);
	if (now_ms >= m->next_tick_ms) {
		vx__mgr_jobs_tick(m->jobs, now_ms);
		vx__mgr_sync_tick(m->sync, now_ms);
		vx__mgr_view_tick(m->view, now_ms);
		waiters_wake(m, NULL, now_ms);
		m->next_tick_ms = now_ms + 500;
	}
	if (now_ms >= m->next_cfg_ms) {
		/* another control plane on the same database may have stored a new version */
		vx__mgr_cluster_sync(&m->db, m->srv);
		m->next_cfg_ms = now_ms + 2000;
	}
}

static int hook_next_ms(void *arg)
{
	struct vx_manager *m = arg;
	MHD_UNSIGNED_LONG_LONG t;
	uint64_t now = vx_now_ms();
	int tick = now >= m->next_tick_ms ? 0 : (int)(m->next_tick_ms - now);

	if (m->d && MHD_get_timeout(m->d, &t) == MHD_YES && t < (MHD_UNSIGNED_LONG_LONG)tick)
		return (int)t;
	return tick;
}

/* Binds the API and starts libmicrohttpd in its external-epoll mode, with TLS (GnuTLS, the
 * library's own) when cfg.tls_cert is set. */
static int api_start(struct vx_manager *m, const struct sockaddr_storage *ss, socklen_t sl)
{
	struct vx_net_opts o = { .flags = VX_NET_NONBLOCK | VX_NET_REUSEADDR, .backlog = 128 };
	char err[VX_NET_ERR_LEN];
	const union MHD_DaemonInfo *di;
	/* suspend/resume: long-polled channel reads wait without a thread */
	unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
	struct MHD_OptionItem tls[4] = { { MHD_OPTION_END, 0, NULL } };
	int rc;

	if (!m->cfg.tls_cert != !m->cfg.tls_key) {
		vx_err("manager: API TLS needs both a certificate and a key");
		return -EINVAL;
	}
	if (m->cfg.tls_cert) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			vx_err("manager: this libmicrohttpd has no TLS");
			return -ENOTSUP;
		}
		rc = vx_tls_pem_read(m->cfg.tls_cert, false, &m->tls_cert, &m->tls_cert_len, err,
				     sizeof(err));
		if (!rc)
			rc = vx_tls_pem_read(m->cfg.tls_key, true, &m->tls_key, &m->tls_key_len,
					     err, sizeof(err));
		if (rc) {
			vx_err("manager: API TLS: %s", err);
			return rc;
		}
		flags |= MHD_USE_TLS;
		tls[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, m->tls_cert };
		tls[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, m->tls_key };
		/* TLS 1.3 and 1.2 (curl, browsers, Go clients), GnuTLS's secure suites only */
		tls[2] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
						  (void *)"SECURE128:-VERS-ALL:+VERS-TLS1.3:"
							  "+VERS-TLS1.2:%SERVER_PRECEDENCE" };
	}

	m->lfd = vx_net_tcp_listen((const struct sockaddr *)ss, sl, &o, err);
	if (m->lfd < 0) {
		vx_err("manager: %s", err);
		return m->lfd;
	}
	rc = vx_net_local_port(m->lfd);
	if (rc < 0)
		return rc;
	m->port = (uint16_t)rc;
	m->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_ARRAY, tls,
				MHD_OPTION_LISTEN_SOCKET, m->lfd, MHD_OPTION_CONNECTION_LIMIT,
				(unsigned)128, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)32,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
				MHD_OPTION_NOTIFY_COMPLETED, on_done, m, MHD_OPTION_END);
	di = m->d ? MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	if (!di) {
		vx_err("manager: the HTTP server did not start");
		return -EIO;
	}
	m->epfd = di->epoll_fd;
	vx_info("manager: open API on port %u (%s)", m->port, m->tls_cert ? "https" : "http");
	return 0;
}

int vx_manager_new(struct vx_manager **out, struct vx_sched_server *srv,
		   const struct vx_manager_cfg *cfg)
{
	struct vx_sched_server_hook h = { 0 };
	struct sockaddr_storage ss;
	char host[VX_NET_HOST_MAX], err[VX_NET_ERR_LEN];
	bool api = cfg->role != VX_MGR_ROLE_SCHEDULER;
	struct vx_manager *m;
	socklen_t sl = 0;
	uint16_t port;
	int rc;

	*out = NULL;
	if ((cfg->role == VX_MGR_ROLE_MANAGER) != !srv)
		return -EINVAL; /* the manager role alone runs without a scheduler */
	if (api && (vx_net_parse_hostport(cfg->listen, VX_NET_PORT0, host, sizeof(host), &port) ||
		    vx_net_resolve(host, port, true, &ss, &sl, err)))
		return -EINVAL;
	m = vx_calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	m->srv = srv;
	m->lfd = -1;
	m->epfd = -1;
	vx_list_init(&m->waiters);
	rc = vx__mgr_db_open(&m->db, cfg->db_path);
	if (rc) {
		vx_free(m);
		return rc;
	}
	rc = vx__mgr_jobs_new(&m->jobs, &m->db, srv, cfg);
	if (!rc)
		rc = vx__mgr_view_new(&m->view, srv, &m->db);
	if (!rc)
		rc = vx__mgr_sync_new(&m->sync, &m->db, m->jobs, srv, &m->cfg);
	if (!rc)
		rc = vx__mgr_channel_tables(&m->db);
	if (!rc && api)
		rc = api_start(m, &ss, sl);
	if (rc)
		goto fail;
	vx__mgr_metrics_init(&m->db, srv);
	rc = vx__mgr_cluster_seed(&m->db, cfg);
	if (rc)
		goto fail;
	vx__mgr_cluster_sync(&m->db, srv);
	if (srv) {
		h.fd = m->epfd;
		h.run = hook_run;
		h.next_ms = hook_next_ms;
		h.arg = m;
		rc = vx_sched_server_set_hook(srv, &h);
		if (rc)
			goto fail;
		m->hooked = true;
	}
	*out = m;
	return 0;
fail:
	vx_manager_free(m);
	return rc;
}

int vx_manager_run(struct vx_manager *m, int stop_fd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	int rc = 0;

	if (ep < 0)
		return -errno;
	ev.data.fd = stop_fd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, stop_fd, &ev) == -1 ||
	    (ev.data.fd = m->epfd, epoll_ctl(ep, EPOLL_CTL_ADD, m->epfd, &ev) == -1)) {
		rc = -errno;
		close(ep);
		return rc;
	}
	for (;;) {
		struct epoll_event got[2];
		int n = epoll_wait(ep, got, 2, hook_next_ms(m));
		bool stop = false;

		if (n < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		for (int i = 0; i < n; i++)
			stop |= got[i].data.fd == stop_fd;
		if (stop)
			break;
		hook_run(m, vx_now_ms());
	}
	close(ep);
	return rc;
}

uint16_t vx_manager_port(const struct vx_manager *m)
{
	return m->port;
}

void vx_manager_free(struct vx_manager *m)
{
	if (!m)
		return;
	vx__mgr_metrics_fini();
	if (m->hooked)
		(void)vx_sched_server_set_hook(m->srv, NULL);
	if (m->d) {
		waiters_wake(m, NULL, UINT64_MAX); /* no suspended connection at the stop */
		MHD_stop_daemon(m->d);
	}
	if (m->lfd >= 0)
		close(m->lfd);
	vx__mgr_sync_free(m->sync); /* before the jobs it makes */
	vx__mgr_jobs_free(m->jobs);
	vx__mgr_view_free(m->view);
	vx__mgr_db_close(&m->db);
	vx_tls_pem_free(m->tls_key, m->tls_key_len);
	vx_tls_pem_free(m->tls_cert, m->tls_cert_len);
	vx_free(m);
}
