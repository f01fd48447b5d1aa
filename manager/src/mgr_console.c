/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_console.c: the web console's files and the cluster views its pages read (mgr_console.h).
 *
 * The files are public: they are the same for everyone and hold no data; every byte of data
 * comes from the API routes, which refuse a call without a token like every other route. They
 * are served with a Content-Security-Policy that allows scripts, styles and fetches from this
 * origin only (no inline script, no eval), and an ETag so a browser revalidates instead of
 * keeping a stale console after an upgrade.
 *
 * The views read the scheduler core in this process (same thread, no lock). Every 2 s the
 * cluster's byte totals go into a ring of RING_N samples (15 minutes, fixed memory) and each
 * host's counters are compared with the last sample to give its download and upload rates.
 */
#include "mgr_console.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mgr_int.h"
#include "vx_alloc.h"
#include "vx_ctl_cbor.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_sched.h"
#include "vx_sched_server.h"
#include "vx_time.h"
#include "vx_url.h"

#define CSP                                                                               \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

#define SAMPLE_MS   2000
#define RING_N	    450	 /* samples: 15 minutes */
#define RATE_N	    1024 /* hosts whose rates are kept (by handle) */
#define HOSTS_N	    4096 /* hosts shown */
#define TASKS_CHUNK 256
#define FLOWS_N	    VX_SCHED_FLOWS_MAX

/* ---------------------------------------------------------------- Files */

bool vx__mgr_console_url(const char *url)
{
	return strcmp(url, "/console") == 0 || strncmp(url, "/console/", 9) == 0;
}

static const char *content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".txt", "text/plain; charset=utf-8" },
	};
	size_t n = strlen(path);

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t e = strlen(types[i].ext);

		if (n > e && strcmp(path + n - e, types[i].ext) == 0)
			return types[i].type;
	}
	return "text/plain; charset=utf-8";
}

static void secure_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "Content-Security-Policy", CSP);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r,
			     unsigned *out)
{
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	secure_headers(r);
	*out = status;
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result vx__mgr_console_reply(struct MHD_Connection *c, const char *url, unsigned *status)
{
	const char *path = url[8] ? url + 9 : "";
	const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
	const struct mgr_asset *a;
	struct MHD_Response *r;
	char etag[80];

	if (!url[8]) { /* "/console": the pages are relative to "/console/" */
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (r)
			MHD_add_response_header(r, "Location", "/console/");
		return queue(c, MHD_HTTP_PERMANENT_REDIRECT, r, status);
	}
	if (!*path)
		path = "index.html";
	for (a = vx__mgr_console_files; a->path && strcmp(a->path, path) != 0; a++)
		;
	if (!a->path) {
		static const char msg[] = "no such file\n";

		r = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
						    MHD_RESPMEM_PERSISTENT);
		if (r)
			MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
		return queue(c, MHD_HTTP_NOT_FOUND, r, status);
	}
	snprintf(etag, sizeof(etag), "\"%.64s\"", a->sha256);
	if (inm && strcmp(inm, etag) == 0) {
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (r)
			MHD_add_response_header(r, "ETag", etag);
		return queue(c, MHD_HTTP_NOT_MODIFIED, r, status);
	}
	r = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
	if (r) {
		MHD_add_response_header(r, "Content-Type", content_type(path));
		MHD_add_response_header(r, "Cache-Control", "no-cache");
		MHD_add_response_header(r, "ETag", etag);
	}
	return queue(c, MHD_HTTP_OK, r, status);
}

/* ---------------------------------------------------------------- Views */

struct sample {
	int64_t t; /* Unix ms */
	uint64_t peer, origin;
};

struct rate {
	char id[VX_CTL_ID_MAX + 1];
	uint64_t rx, tx; /* counters at the last sample */
	uint64_t rx_bps, tx_bps;
};

struct mgr_view {
	struct vx_sched_server *srv;
	struct mgr_db *db;
	struct sample ring[RING_N];
	uint32_t head, len;
	uint64_t next_ms, last_ms;
	struct rate *rates; /* RATE_N */
	struct vx_sched_host_view *hv;
	struct vx_sched_holder *hold;
	struct vx_sched_task_view *tv;
	struct vx_sched_flow_view fv[FLOWS_N];
};

int vx__mgr_view_new(struct mgr_view **out, struct vx_sched_server *srv, struct mgr_db *db)
{
	struct mgr_view *v = vx_calloc(1, sizeof(*v));
	struct mgr_rows *rows = NULL;

	*out = NULL;
	if (!v)
		return -ENOMEM;
	v->srv = srv;
	v->db = db;
	v->rates = vx_calloc(RATE_N, sizeof(*v->rates));
	v->hv = vx_calloc(HOSTS_N, sizeof(*v->hv));
	v->hold = vx_calloc(HOSTS_N, sizeof(*v->hold));
	v->tv = vx_calloc(TASKS_CHUNK, sizeof(*v->tv));
	if (!v->rates || !v->hv || !v->hold || !v->tv) {
		vx__mgr_view_free(v);
		return -ENOMEM;
	}
	/* the blocklist outlives the process: the core learns it again */
	if (srv && vx__mgr_sql(db, &rows, "SELECT host FROM mgr_blocklist", "") == 0) {
		for (uint32_t i = 0; i < vx__mgr_rows_n(rows); i++) {
			if (vx_sched_ban(vx_sched_server_core(srv),
					 vx__mgr_rows_s(rows, i, 0, NULL), true))
				vx_warn("manager: a blocklisted host could not be listed again");
		}
	}
	vx__mgr_rows_free(rows);
	*out = v;
	return 0;
}

void vx__mgr_view_free(struct mgr_view *v)
{
	if (!v)
		return;
	vx_free(v->rates);
	vx_free(v->hv);
	vx_free(v->hold);
	vx_free(v->tv);
	vx_free(v);
}

void vx__mgr_view_tick(struct mgr_view *v, uint64_t now_ms)
{
	struct vx_sched *s;
	struct vx_sched_stats st;
	uint64_t dt;
	uint32_t n;

	if (!v->srv || now_ms < v->next_ms)
		return;
	s = vx_sched_server_core(v->srv);
	dt = v->last_ms ? now_ms - v->last_ms : 0;
	v->next_ms = now_ms + SAMPLE_MS;
	v->last_ms = now_ms;
	vx_sched_get_stats(s, &st);
	v->ring[(v->head + v->len) % RING_N] = (struct sample){
		.t = vx_wall_s() * 1000,
		.peer = st.bytes_from_peers,
		.origin = st.bytes_from_origin,
	};
	if (v->len < RING_N)
		v->len++;
	else
		v->head = (v->head + 1) % RING_N;
	n = vx_sched_hosts_list(s, v->hv, HOSTS_N);
	for (uint32_t i = 0; i < n; i++) {
		const struct vx_sched_host_view *h = &v->hv[i];
		struct rate *r = &v->rates[h->host % RATE_N];
		uint64_t rx = h->rx_peer + h->rx_origin;

		if (strcmp(r->id, h->id) != 0 || !dt || rx < r->rx || h->tx_bytes < r->tx) {
			snprintf(r->id, sizeof(r->id), "%s", h->id);
			r->rx_bps = r->tx_bps = 0;
		} else {
			r->rx_bps = (rx - r->rx) * 8000 / dt;
			r->tx_bps = (h->tx_bytes - r->tx) * 8000 / dt;
		}
		r->rx = rx;
		r->tx = h->tx_bytes;
	}
}

static const struct rate *rate_of(const struct mgr_view *v, const struct vx_sched_host_view *h)
{
	const struct rate *r = &v->rates[h->host % RATE_N];

	return strcmp(r->id, h->id) == 0 ? r : NULL;
}

/* Whether a token of @tenant ("": the operator) sees host @h: a tenant only its own hosts. */
static bool host_seen(const struct vx_sched_host_view *h, const char *tenant)
{
	return !tenant[0] || strcmp(h->tenant ? h->tenant : "", tenant) == 0;
}

json_t *vx__mgr_view_hosts(struct mgr_view *v, const char *tenant)
{
	json_t *a;
	uint32_t n;

	if (!v->srv)
		return NULL;
	a = json_array();
	n = vx_sched_hosts_list(vx_sched_server_core(v->srv), v->hv, HOSTS_N);
	for (uint32_t i = 0; i < n; i++) {
		const struct vx_sched_host_view *h = &v->hv[i];
		const struct rate *r = rate_of(v, h);

		if (!host_seen(h, tenant))
			continue;
		json_array_append_new(
			a,
			json_pack("{s:s, s:s, s:i, s:s, s:b, s:b, s:i, s:i, s:I, s:I, s:I, s:I, "
				  "s:I, s:I}",
				  "id", h->id, "ip", h->addr, "port", (int)h->port, "type",
				  h->role == VX_CTL_ROLE_SEED ? "seed" : "peer", "active",
				  (int)h->active, "blocked", (int)h->banned, "tasks",
				  (int)h->nr_peers, "uploads", (int)h->uploads, "announced_tx_bps",
				  (json_int_t)h->tx_bps, "rx_bps", (json_int_t)(r ? r->rx_bps : 0),
				  "tx_bps", (json_int_t)(r ? r->tx_bps : 0), "rx_peer_bytes",
				  (json_int_t)h->rx_peer, "rx_origin_bytes",
				  (json_int_t)h->rx_origin, "tx_bytes", (json_int_t)h->tx_bytes));
	}
	return json_pack("{s:o}", "hosts", a);
}

static json_t *task_json(const struct vx_sched_task_view *t)
{
	char safe[1024];

	return json_pack("{s:s, s:o, s:b, s:s, s:s, s:i, s:i, s:i, s:I, s:I}", "id", t->id, "url",
			 t->url ? json_string(vx_url_redact_str(t->url, safe, sizeof(safe)))
				: json_null(),
			 "private", (int)t->priv, "tenant", t->tenant, "state",
			 vx_sched_task_state_name(t->state), "peers", (int)t->peers, "done_peers",
			 (int)t->done_peers, "piece_count", (int)t->piece_count, "piece_length",
			 (json_int_t)t->piece_len, "content_length", (json_int_t)t->content_len);
}

static bool task_match(const struct vx_sched_task_view *t, const char *q)
{
	char safe[1024];

	if (!q || !*q || strncmp(t->id, q, strlen(q)) == 0)
		return true;
	return t->url && strstr(vx_url_redact_str(t->url, safe, sizeof(safe)), q);
}

/* The tenant rule of vx__mgr_view_task_allowed() for a task of @owner. */
static bool tenant_may(const char *owner, const char *tenant, bool evict)
{
	return !tenant[0] || strcmp(owner, tenant) == 0 || (!evict && !owner[0]);
}

bool vx__mgr_view_task_allowed(struct mgr_view *v, const char *id, const char *tenant, bool evict)
{
	const char *owner;

	if (!tenant[0])
		return true;
	owner = v->srv ? vx_sched_task_tenant(vx_sched_server_core(v->srv), vx_ctl_str_of(id))
		       : NULL;
	return owner && tenant_may(owner, tenant, evict);
}

json_t *vx__mgr_view_tasks(struct mgr_view *v, const char *q, const char *tenant, uint32_t page,
			   uint32_t per_page)
{
	struct vx_sched *s;
	uint64_t first = (uint64_t)(page - 1) * per_page, seen = 0;
	uint32_t skip = 0, n;
	json_t *a;

	if (!v->srv)
		return NULL;
	s = vx_sched_server_core(v->srv);
	a = json_array();
	while ((n = vx_sched_tasks_list(s, v->tv, skip, TASKS_CHUNK)) > 0) {
		for (uint32_t i = 0; i < n; i++) {
			if (!task_match(&v->tv[i], q) ||
			    !tenant_may(v->tv[i].tenant, tenant, false))
				continue;
			if (seen >= first && json_array_size(a) < per_page)
				json_array_append_new(a, task_json(&v->tv[i]));
			seen++;
		}
		skip += n;
	}
	return json_pack("{s:o, s:I}", "tasks", a, "total", (json_int_t)seen);
}

static const struct vx_sched_host_view *host_by(const struct mgr_view *v, uint32_t n, uint32_t h)
{
	for (uint32_t i = 0; i < n; i++) {
		if (v->hv[i].host == h)
			return &v->hv[i];
	}
	return NULL;
}

json_t *vx__mgr_view_task(struct mgr_view *v, const char *id, bool *sched)
{
	struct vx_sched *s;
	struct vx_sched_task_stat st;
	json_t *o, *holders, *flows;
	uint32_t nh, n, dropped, skip = 0, k;

	*sched = v->srv != NULL;
	if (!v->srv)
		return NULL;
	s = vx_sched_server_core(v->srv);
	if (vx_sched_stat(s, vx_ctl_str_of(id), &st))
		return NULL;
	o = NULL;
	while (!o && (n = vx_sched_tasks_list(s, v->tv, skip, TASKS_CHUNK)) > 0) {
		for (k = 0; k < n && strcmp(v->tv[k].id, id) != 0; k++)
			;
		if (k < n)
			o = task_json(&v->tv[k]);
		skip += n;
	}
	if (!o)
		return NULL;
	nh = vx_sched_hosts_list(s, v->hv, HOSTS_N);
	n = vx_sched_task_holders(s, vx_ctl_str_of(id), v->hold, HOSTS_N);
	holders = json_array();
	for (uint32_t i = 0; i < n; i++) {
		const struct vx_sched_host_view *h = host_by(v, nh, v->hold[i].host);

		if (!h)
			continue;
		json_array_append_new(holders,
				      json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "host", h->id,
						"ip", h->addr, "type",
						h->role == VX_CTL_ROLE_SEED ? "seed" : "peer",
						"state", vx_sched_peer_state_name(v->hold[i].state),
						"finished_pieces", (int)v->hold[i].finished,
						"piece_count", (int)v->hold[i].piece_count));
	}
	n = vx_sched_task_flows(s, vx_ctl_str_of(id), v->fv, FLOWS_N, &dropped);
	flows = json_array();
	for (uint32_t i = 0; i < n; i++) {
		json_array_append_new(
			flows,
			json_pack("{s:o, s:s, s:I}", "from",
				  v->fv[i].parent ? json_string(v->fv[i].parent) : json_null(),
				  "to", v->fv[i].child, "bytes", (json_int_t)v->fv[i].bytes));
	}
	json_object_set_new(o, "holders", holders);
	json_object_set_new(o, "flows", flows);
	json_object_set_new(o, "flows_dropped", json_integer(dropped));
	return o;
}

/* The stats of @tenant's own hosts and tasks (the cluster's decisions are not its own). */
static void tenant_stats(struct mgr_view *v, const char *tenant, struct vx_sched_stats *st)
{
	struct vx_sched *s = vx_sched_server_core(v->srv);
	uint32_t n = vx_sched_hosts_list(s, v->hv, HOSTS_N), skip = 0;

	*st = (struct vx_sched_stats){ 0 };
	for (uint32_t i = 0; i < n; i++) {
		if (!host_seen(&v->hv[i], tenant))
			continue;
		st->hosts++;
		st->peers += v->hv[i].nr_peers;
		st->bytes_from_peers += v->hv[i].rx_peer;
		st->bytes_from_origin += v->hv[i].rx_origin;
	}
	while ((n = vx_sched_tasks_list(s, v->tv, skip, TASKS_CHUNK)) > 0) {
		for (uint32_t i = 0; i < n; i++)
			st->tasks += strcmp(v->tv[i].tenant, tenant) == 0;
		skip += n;
	}
}

json_t *vx__mgr_view_stats(struct mgr_view *v, const char *tenant)
{
	struct vx_sched_stats st;
	json_t *series;

	if (!v->srv)
		return NULL;
	series = json_array();
	if (tenant[0]) {
		tenant_stats(v, tenant, &st);
		goto out;
	}
	vx_sched_get_stats(vx_sched_server_core(v->srv), &st);
	for (uint32_t i = 0; i < v->len; i++) {
		const struct sample *p = &v->ring[(v->head + i) % RING_N];

		json_array_append_new(series,
				      json_pack("[I, I, I]", (json_int_t)p->t, (json_int_t)p->peer,
						(json_int_t)p->origin));
	}
out:
	return json_pack("{s:i, s:o, s:{s:I, s:I}, s:{s:i, s:i, s:i, s:I}}", "interval_ms",
			 SAMPLE_MS, "series", series, "totals", "bytes_from_peers",
			 (json_int_t)st.bytes_from_peers, "bytes_from_origin",
			 (json_int_t)st.bytes_from_origin, "scheduler", "hosts", (int)st.hosts,
			 "tasks", (int)st.tasks, "peers", (int)st.peers, "decisions",
			 (json_int_t)st.decisions);
}

/* A blocklist entry's tenant: that of the token that made it ("" none). */
#define BLOCK_TENANT                                                                               \
	"COALESCE((SELECT tenant FROM mgr_token_tenants WHERE token_id = mgr_blocklist.token_id)," \
	" '')"

json_t *vx__mgr_view_blocklist(struct mgr_view *v, const char *tenant)
{
	struct mgr_rows *rows = NULL;
	json_t *a = json_array();

	if (vx__mgr_sql(v->db, &rows,
			"SELECT host, created, token_id FROM mgr_blocklist WHERE ? = '' "
			"OR " BLOCK_TENANT " = ? ORDER BY created",
			"ss", tenant, tenant)) {
		json_decref(a);
		return NULL;
	}
	for (uint32_t i = 0; i < vx__mgr_rows_n(rows); i++)
		json_array_append_new(
			a, json_pack("{s:s, s:I, s:I}", "host", vx__mgr_rows_s(rows, i, 0, NULL),
				     "created", (json_int_t)vx__mgr_rows_i(rows, i, 1), "token_id",
				     (json_int_t)vx__mgr_rows_i(rows, i, 2)));
	vx__mgr_rows_free(rows);
	return json_pack("{s:o}", "blocklist", a);
}

/* Whether a host of @tenant by the id @host is known to the scheduler. */
static bool tenant_host(struct mgr_view *v, const char *host, const char *tenant)
{
	uint32_t n = vx_sched_hosts_list(vx_sched_server_core(v->srv), v->hv, HOSTS_N);

	for (uint32_t i = 0; i < n; i++) {
		if (strcmp(v->hv[i].id, host) == 0)
			return host_seen(&v->hv[i], tenant);
	}
	return false;
}

int vx__mgr_view_ban(struct mgr_view *v, const char *host, bool on, int64_t token_id,
		     const char *tenant)
{
	struct mgr_rows *rows = NULL;
	bool listed, mine = true;
	int rc;

	if (!v->srv)
		return -ENODEV;
	if (!*host || strlen(host) > VX_CTL_ID_MAX)
		return -EINVAL;
	for (const char *p = host; *p; p++) {
		if ((unsigned char)*p < 0x21 || *p == 0x7f)
			return -EINVAL;
	}
	/* a tenant blocks hosts of its own and lifts what its own tenant listed */
	if (tenant[0] && on && !tenant_host(v, host, tenant))
		return -ENOENT;
	if (vx__mgr_sql(v->db, &rows, "SELECT " BLOCK_TENANT " FROM mgr_blocklist WHERE host = ?",
			"s", host))
		return VX_EDB;
	listed = vx__mgr_rows_n(rows) > 0;
	if (listed && tenant[0]) {
		const char *by = vx__mgr_rows_s(rows, 0, 0, NULL);

		mine = by && strcmp(by, tenant) == 0;
	}
	vx__mgr_rows_free(rows);
	if (!on && (!listed || !mine))
		return -ENOENT;
	rc = vx_sched_ban(vx_sched_server_core(v->srv), host, on);
	if (rc)
		return rc;
	if (on && !listed)
		return vx__mgr_sql(v->db, NULL,
				   "INSERT INTO mgr_blocklist(host, created, token_id) "
				   "VALUES(?, ?, ?)",
				   "sii", host, vx_wall_s(), token_id);
	if (!on)
		return vx__mgr_sql(v->db, NULL, "DELETE FROM mgr_blocklist WHERE host = ?", "s",
				   host);
	return 0;
}
