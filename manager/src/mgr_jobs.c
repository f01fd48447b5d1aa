/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_jobs.c: the jobs of the open API, run on the scheduler's thread with the core at hand.
 *
 *   get_task     which hosts hold the task and how far they are: the core's peers of it.
 *   delete_task  EV_EVICT to every host with a peer of it, then the core forgets it.
 *   preheat      EV_PREHEAT to each chosen host; every tick reads the core's peer state of
 *                each (SUCCEEDED: done, FAILED or the host gone: failed) until all are known
 *                or the timeout passes.
 *   gc           removes jobs and audit records past the retention.
 *
 * A job is a row of mgr_jobs (state PENDING, SUCCESS or FAILURE; result in Dragonfly's shape).
 * A preheat still PENDING when the process stopped is failed with a reason at the next start:
 * its URL may carry credentials, which are kept in memory only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mgr_int.h"
#include "vx_alloc.h"
#include "vx_log.h"
#include "vx_outbound.h"
#include "vx_sched.h"
#include "vx_sched_server.h"
#include "vx_time.h"
#include "vx_url.h"

#define RUNS_MAX  64
#define HOSTS_MAX 4096

struct mgr_target {
	uint32_t host;
	uint32_t blob; /* index into the run's blobs */
	char id[128];
	char ip[64];
	bool seed;
	int done; /* 0 pending, 1 holds it, -1 failed */
	const char *why;
};

struct mgr_blob {
	char task_id[VX_TASK_ID_LEN + 1];
	char url[MGR_URL_MAX]; /* as given: may carry credentials, kept in memory only */
	char safe_url[VX_URL_LOG_MAX];
};

struct mgr_run {
	bool used;
	int64_t id;
	struct vx_mgr_job_req *req; /* a copy: hosts are chosen once the blobs are known */
	struct mgr_image *image;    /* an image still being resolved */
	struct mgr_blob *blobs;
	uint32_t nr_blobs;
	uint64_t deadline_ms;
	uint32_t nr;
	struct mgr_target *t;
};

struct mgr_jobs {
	struct vx_outbound_policy outbound;
	struct mgr_db *db;
	struct vx_sched_server *srv;
	struct vx_manager_cfg cfg;
	struct mgr_run runs[RUNS_MAX];
	struct vx_sched_host_view *hv;
	struct vx_sched_holder *hold;
};

static void rfc3339(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *host_json(const char *id, const char *ip, bool seed, const char *task_id,
			 const char *url, const char *why)
{
	json_t *h = json_pack("{s:s, s:s, s:s, s:s}", "hostname", id, "ip", ip, "host_type",
			      seed ? "super" : "normal", "task_id", task_id);

	if (url)
		json_object_set_new(h, "url", json_string(url));
	if (why)
		json_object_set_new(h, "description", json_string(why));
	return h;
}

static json_t *result_json(const char *task_name, const char *state, const char *error, json_t *res)
{
	char now[32];

	rfc3339(vx_wall_s(), now);
	return json_pack("{s:s, s:s, s:[{s:s, s:s, s:s, s:[o]}]}", "state", state, "updated_at",
			 now, "job_states", "task_name", task_name, "state", state, "error",
			 error ? error : "", "results", res);
}

static json_t *tasks_result(void)
{
	return json_pack("{s:i, s:[], s:[]}", "scheduler_cluster_id", 1, "success_tasks",
			 "failure_tasks");
}

static int64_t row_insert(struct mgr_jobs *j, const char *type, json_t *args, int64_t token)
{
	char *a = json_dumps(args, JSON_COMPACT);
	sqlite3_stmt *st;
	int64_t id = -1, now = vx_wall_s();

	if (a && sqlite3_prepare_v2(j->db->db,
				    "INSERT INTO mgr_jobs(type, state, args, token_id, created,"
				    " updated) VALUES(?, 'PENDING', ?, ?, ?, ?)",
				    -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, a, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, token);
		sqlite3_bind_int64(st, 4, now);
		sqlite3_bind_int64(st, 5, now);
		if (sqlite3_step(st) == SQLITE_DONE)
			id = sqlite3_last_insert_rowid(j->db->db);
		sqlite3_finalize(st);
	}
	free(a);
	return id;
}

/* Ends job @id with @state and @result (taken). */
static void row_end(struct mgr_jobs *j, int64_t id, const char *state, json_t *result)
{
	char *r = json_dumps(result, JSON_COMPACT);
	sqlite3_stmt *st;

	json_decref(result);
	if (r && sqlite3_prepare_v2(j->db->db,
				    "UPDATE mgr_jobs SET state = ?, result = ?, updated = ? WHERE"
				    " id = ?",
				    -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, vx_wall_s());
		sqlite3_bind_int64(st, 4, id);
		if (sqlite3_step(st) != SQLITE_DONE)
			vx_err("manager: job %" PRId64 " not saved: %s", id,
			       sqlite3_errmsg(j->db->db));
		sqlite3_finalize(st);
	}
	free(r);
}

static void run_free(struct mgr_run *run)
{
	vx__mgr_image_free(run->image);
	vx_free(run->t);
	vx_free(run->blobs);
	vx_free(run->req);
	memset(run, 0, sizeof(*run));
}

int vx__mgr_jobs_new(struct mgr_jobs **out, struct mgr_db *d, struct vx_sched_server *srv,
		     const struct vx_manager_cfg *cfg)
{
	struct mgr_jobs *j = vx_calloc(1, sizeof(*j));
	json_t *res;
	char *r;
	sqlite3_stmt *st;

	if (!j)
		return -ENOMEM;
	j->hv = vx_calloc(HOSTS_MAX, sizeof(*j->hv));
	j->hold = vx_calloc(HOSTS_MAX, sizeof(*j->hold));
	if (!j->hv || !j->hold) {
		vx__mgr_jobs_free(j);
		return -ENOMEM;
	}
	j->db = d;
	j->srv = srv;
	j->cfg = *cfg;
	if (vx__mgr_outbound_policy(cfg, &j->outbound)) {
		vx__mgr_jobs_free(j);
		return -EINVAL;
	}
	/* jobs that were running when the process stopped: failed, with the reason */
	res = result_json("preheat", "FAILURE",
			  "the control plane restarted while the job ran; run it again",
			  tasks_result());
	r = json_dumps(res, JSON_COMPACT);
	json_decref(res);
	if (r && sqlite3_prepare_v2(d->db,
				    "UPDATE mgr_jobs SET state = 'FAILURE', result = ?, updated = ?"
				    " WHERE state = 'PENDING'",
				    -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, r, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, vx_wall_s());
		(void)sqlite3_step(st);
		if (sqlite3_changes(d->db))
			vx_warn("manager: %d job(s) were running at the last stop: failed",
				sqlite3_changes(d->db));
		sqlite3_finalize(st);
	}
	free(r);
	*out = j;
	return 0;
}

void vx__mgr_jobs_free(struct mgr_jobs *j)
{
	if (!j)
		return;
	for (uint32_t i = 0; i < RUNS_MAX; i++)
		run_free(&j->runs[i]);
	vx_free(j->hv);
	vx_free(j->hold);
	vx_free(j);
}

static const struct vx_sched_host_view *find_host(struct mgr_jobs *j, uint32_t n, uint32_t host)
{
	for (uint32_t i = 0; i < n; i++) {
		if (j->hv[i].host == host)
			return &j->hv[i];
	}
	return NULL;
}

static bool ip_listed(const struct vx_mgr_job_req *r, const char *ip)
{
	for (uint32_t i = 0; i < r->nr_ips; i++) {
		if (strcmp(r->ips[i], ip) == 0)
			return true;
	}
	return false;
}

static void job_get_task(struct mgr_jobs *j, int64_t id, const char *tid)
{
	struct vx_sched *s = vx_sched_server_core(j->srv);
	uint32_t nh = vx_sched_hosts_list(s, j->hv, HOSTS_MAX);
	uint32_t n = vx_sched_task_holders(s, vx_ctl_str_of(tid), j->hold, HOSTS_MAX);
	json_t *peers = json_array(), *partial = json_array();

	for (uint32_t i = 0; i < n; i++) {
		const struct vx_sched_host_view *h = find_host(j, nh, j->hold[i].host);
		json_t *e;

		if (!h)
			continue;
		e = host_json(h->id, h->addr, h->role == VX_CTL_ROLE_SEED, tid, NULL, NULL);
		json_object_set_new(e, "state",
				    json_string(vx_sched_peer_state_name(j->hold[i].state)));
		json_object_set_new(e, "finished_pieces", json_integer(j->hold[i].finished));
		json_object_set_new(e, "piece_count", json_integer(j->hold[i].piece_count));
		json_array_append_new(j->hold[i].state == VX_SCHED_PEER_SUCCEEDED ? peers : partial,
				      e);
	}
	row_end(j, id, "SUCCESS",
		result_json("get_task", "SUCCESS", NULL,
			    json_pack("{s:i, s:s, s:o, s:o}", "scheduler_cluster_id", 1, "task_id",
				      tid, "peers", peers, "partial_peers", partial)));
}

static void job_delete_task(struct mgr_jobs *j, int64_t id, const char *tid)
{
	struct vx_sched *s = vx_sched_server_core(j->srv);
	uint32_t nh = vx_sched_hosts_list(s, j->hv, HOSTS_MAX);
	uint32_t n = vx_sched_task_holders(s, vx_ctl_str_of(tid), j->hold, HOSTS_MAX);
	json_t *res = tasks_result();
	json_t *ok = json_object_get(res, "success_tasks");
	json_t *bad = json_object_get(res, "failure_tasks");

	for (uint32_t i = 0; i < n; i++) {
		const struct vx_sched_host_view *h = find_host(j, nh, j->hold[i].host);
		int rc;

		if (!h)
			continue;
		rc = vx_sched_server_push(j->srv, h->host, VX_CTL_EV_EVICT, tid, NULL, 0);
		json_array_append_new(rc ? bad : ok,
				      host_json(h->id, h->addr, h->role == VX_CTL_ROLE_SEED, tid,
						NULL, rc ? "the host is not connected" : NULL));
	}
	(void)vx_sched_server_forget_task(j->srv, tid);
	vx_info("manager: job %" PRId64 ": task %.12s deleted on %u host(s)", id, tid, n);
	row_end(j, id, "SUCCESS", result_json("delete_task", "SUCCESS", NULL, res));
}

/* Chooses the hosts of a preheat; returns how many went into @run->t. */
static uint32_t preheat_pick(struct mgr_jobs *j, const struct vx_mgr_job_req *r,
			     struct mgr_run *run)
{
	struct vx_sched *s = vx_sched_server_core(j->srv);
	uint32_t nh = vx_sched_hosts_list(s, j->hv, HOSTS_MAX), n = 0, want;

	run->t = vx_calloc((nh ? nh : 1) * run->nr_blobs, sizeof(*run->t));
	if (!run->t)
		return 0;
	/* seeds first, so a count or percentage keeps them */
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < nh; i++) {
			const struct vx_sched_host_view *h = &j->hv[i];
			bool seed = h->role == VX_CTL_ROLE_SEED;

			if (!h->active || seed != (pass == 0))
				continue;
			if (!seed && r->scope != MGR_SCOPE_ALL_PEERS)
				continue;
			if (r->nr_ips && !ip_listed(r, h->addr))
				continue;
			run->t[n].host = h->host;
			snprintf(run->t[n].id, sizeof(run->t[n].id), "%s", h->id);
			snprintf(run->t[n].ip, sizeof(run->t[n].ip), "%s", h->addr);
			run->t[n].seed = seed;
			n++;
		}
	}
	want = n;
	if (r->scope == MGR_SCOPE_SINGLE_SEED)
		want = n ? 1 : 0;
	if (r->count && r->count < want)
		want = r->count;
	if (r->percentage)
		want = (want * r->percentage + 99) / 100;
	return want;
}

static void run_finish(struct mgr_jobs *j, struct mgr_run *run, const char *error)
{
	json_t *res = tasks_result();
	json_t *ok = json_object_get(res, "success_tasks");
	json_t *bad = json_object_get(res, "failure_tasks");
	bool all = run->nr > 0;

	for (uint32_t i = 0; i < run->nr; i++) {
		const struct mgr_target *t = &run->t[i];

		all &= t->done == 1;
		json_array_append_new(t->done == 1 ? ok : bad,
				      host_json(t->id, t->ip, t->seed, run->blobs[t->blob].task_id,
						run->blobs[t->blob].safe_url,
						t->done == 1 ? NULL
						: t->why     ? t->why
							     : error));
	}
	if (!error && !all)
		error = run->nr ? "some hosts failed" : "no connected host matches the scope";
	row_end(j, run->id, error ? "FAILURE" : "SUCCESS",
		result_json("preheat", error ? "FAILURE" : "SUCCESS", error, res));
	vx_info("manager: job %" PRId64 ": preheat of %u blob(s) %s", run->id, run->nr_blobs,
		error ? error : "done");
	run_free(run);
}

/* The blobs are known: choose the hosts and tell each to fetch each blob. */
static void run_dispatch(struct mgr_jobs *j, struct mgr_run *run)
{
	struct vx_sched *s = vx_sched_server_core(j->srv);
	uint32_t hosts = preheat_pick(j, run->req, run);

	/* preheat_pick wrote one target per host; make one per host and blob */
	for (uint32_t b = run->nr_blobs; b-- > 0;) {
		for (uint32_t h = 0; h < hosts; h++) {
			struct mgr_target *t = &run->t[b * hosts + h];

			*t = run->t[h];
			t->blob = b;
		}
	}
	run->nr = hosts * run->nr_blobs;
	for (uint32_t i = 0; i < run->nr; i++) {
		struct mgr_target *t = &run->t[i];
		const struct mgr_blob *bl = &run->blobs[t->blob];

		if (vx_sched_peer_state(s, t->host, vx_ctl_str_of(bl->task_id)) ==
		    VX_SCHED_PEER_SUCCEEDED) {
			t->done = 1; /* holds it already */
			continue;
		}
		if (vx_sched_server_push(j->srv, t->host, VX_CTL_EV_PREHEAT, bl->task_id, bl->url,
					 run->req->piece_length)) {
			t->done = -1;
			t->why = "the host is not connected";
		}
	}
	vx_info("manager: job %" PRId64 ": preheat of %u blob(s) on %u host(s)", run->id,
		run->nr_blobs, hosts);
}

static int blob_set(struct mgr_run *run, uint32_t i, const char *url, char *err, size_t err_len)
{
	struct vx_mgr_job_req r = { 0 };
	struct mgr_blob *b = &run->blobs[i];

	snprintf(b->url, sizeof(b->url), "%s", url);
	vx_url_redact_str(url, b->safe_url, sizeof(b->safe_url));
	if (run->req->image) {
		/* a blob's task id is its URL's with the request's tag and application */
		r = *run->req;
		r.task_id[0] = '\0';
		snprintf(r.url, sizeof(r.url), "%s", url);
		return vx__mgr_req_task_id(&r, b->task_id, err, err_len);
	}
	return vx__mgr_req_task_id(run->req, b->task_id, err, err_len);
}

/* An image's resolution ended: its blobs, or the job's failure. */
static void run_resolved(struct mgr_jobs *j, struct mgr_run *run)
{
	char err[200] = "";
	uint32_t n = 0;
	int rc = vx__mgr_image_poll(run->image, &n, err, sizeof(err));

	if (rc == 1)
		return;
	if (!rc) {
		run->blobs = vx_calloc(n, sizeof(*run->blobs));
		if (!run->blobs) {
			rc = -ENOMEM;
			snprintf(err, sizeof(err), "out of memory");
		}
	}
	for (uint32_t i = 0; !rc && i < n; i++) {
		if (blob_set(run, i, vx__mgr_image_url(run->image, i), err, sizeof(err)))
			rc = -EINVAL;
		run->nr_blobs = i + 1;
	}
	vx__mgr_image_free(run->image);
	run->image = NULL;
	if (rc) {
		run->nr = 0;
		run_finish(j, run, err);
		return;
	}
	run_dispatch(j, run);
}

static int job_preheat(struct mgr_jobs *j, const struct vx_mgr_job_req *r, int64_t id, char *err,
		       size_t err_len)
{
	struct mgr_run *run = NULL;
	uint64_t tmo = r->timeout_s ? r->timeout_s : j->cfg.preheat_timeout_s;

	for (uint32_t i = 0; i < RUNS_MAX && !run; i++) {
		if (!j->runs[i].used)
			run = &j->runs[i];
	}
	if (!run) {
		snprintf(err, err_len, "too many preheat jobs running; try again later");
		return 503;
	}
	run->used = true;
	run->id = id;
	run->deadline_ms = vx_now_ms() + tmo * 1000;
	run->req = vx_malloc(sizeof(*run->req));
	if (run->req)
		*run->req = *r;
	if (run->req && r->image) {
		if (!vx__mgr_image_start(&run->image, r->url, r->platform)) {
			vx_info("manager: job %" PRId64 ": resolving the image %s", id,
				VX_URL_SAFE(r->url));
			return 0;
		}
	} else if (run->req) {
		run->blobs = vx_calloc(1, sizeof(*run->blobs));
		run->nr_blobs = 1;
		if (run->blobs && !blob_set(run, 0, r->url, err, err_len)) {
			run_dispatch(j, run);
			vx__mgr_jobs_tick(j, vx_now_ms());
			return 0;
		}
	}
	run_free(run);
	snprintf(err, err_len, "the preheat could not be started");
	return 500;
}

int vx__mgr_job_create(struct mgr_jobs *j, const struct vx_mgr_job_req *r, int64_t token_id,
		       int64_t *id, char *err, size_t err_len)
{
	char tid[VX_TASK_ID_LEN + 1] = "";
	json_t *args;
	int rc = 0;

	if (r->type != MGR_JOB_GC && !r->image && vx__mgr_req_task_id(r, tid, err, err_len))
		return 400;
	if (r->type == MGR_JOB_PREHEAT &&
	    vx__mgr_outbound_check(&j->outbound, r->url, err, err_len))
		return 400;
	args = vx__mgr_job_args(r);
	*id = row_insert(j, vx__mgr_job_type_name(r->type), args, token_id);
	json_decref(args);
	if (*id < 0) {
		snprintf(err, err_len, "the job could not be stored");
		return 500;
	}
	switch (r->type) {
	case MGR_JOB_GET_TASK:
		job_get_task(j, *id, tid);
		break;
	case MGR_JOB_DELETE_TASK:
		job_delete_task(j, *id, tid);
		break;
	case MGR_JOB_GC: {
		uint32_t days = r->retention_days ? r->retention_days : j->cfg.retention_days;
		int64_t n = vx__mgr_gc(j->db, vx_wall_s() - (int64_t)days * 86400);

		row_end(j, *id, "SUCCESS",
			result_json("gc", "SUCCESS", NULL, json_pack("{s:I}", "removed", n)));
		break;
	}
	case MGR_JOB_PREHEAT:
		rc = job_preheat(j, r, *id, err, err_len);
		if (rc)
			row_end(j, *id, "FAILURE",
				result_json("preheat", "FAILURE", err, tasks_result()));
		break;
	}
	return rc;
}

void vx__mgr_jobs_tick(struct mgr_jobs *j, uint64_t now_ms)
{
	struct vx_sched *s = vx_sched_server_core(j->srv);

	for (uint32_t i = 0; i < RUNS_MAX; i++) {
		struct mgr_run *run = &j->runs[i];
		bool pending = false;

		if (!run->used)
			continue;
		if (run->image) {
			if (now_ms >= run->deadline_ms)
				run_finish(j, run, "timed out resolving the image");
			else
				run_resolved(j, run);
			continue;
		}
		for (uint32_t k = 0; k < run->nr; k++) {
			struct mgr_target *t = &run->t[k];
			const char *hid = vx_sched_host_id(s, t->host);
			enum vx_sched_peer_state ps;

			if (t->done)
				continue;
			if (!hid || strcmp(hid, t->id) != 0) {
				t->done = -1;
				t->why = "the host left";
				continue;
			}
			ps = vx_sched_peer_state(s, t->host,
						 vx_ctl_str_of(run->blobs[t->blob].task_id));
			if (ps == VX_SCHED_PEER_SUCCEEDED) {
				t->done = 1;
			} else if (ps == VX_SCHED_PEER_FAILED) {
				t->done = -1;
				t->why = "the download failed on the host";
			} else {
				pending = true;
			}
		}
		if (!pending)
			run_finish(j, run, NULL);
		else if (now_ms >= run->deadline_ms)
			run_finish(j, run, "timed out");
	}
}

static json_t *row_json(sqlite3_stmt *st)
{
	char c[32], u[32];
	const char *args = (const char *)sqlite3_column_text(st, 3);
	const char *res = (const char *)sqlite3_column_text(st, 4);
	json_t *a = args ? json_loads(args, 0, NULL) : NULL;
	json_t *r = res ? json_loads(res, 0, NULL) : NULL;

	rfc3339(sqlite3_column_int64(st, 6), c);
	rfc3339(sqlite3_column_int64(st, 7), u);
	return json_pack("{s:I, s:s, s:s, s:o, s:o, s:I, s:s, s:s, s:[{s:i, s:s}]}", "id",
			 (json_int_t)sqlite3_column_int64(st, 0), "type",
			 (const char *)sqlite3_column_text(st, 1), "state",
			 (const char *)sqlite3_column_text(st, 2), "args", a ? a : json_object(),
			 "result", r ? r : json_null(), "token_id",
			 (json_int_t)sqlite3_column_int64(st, 5), "created_at", c, "updated_at", u,
			 "scheduler_clusters", "id", 1, "name", "default");
}

#define JOB_COLS "SELECT id, type, state, args, result, token_id, created, updated FROM mgr_jobs"

json_t *vx__mgr_job_get(struct mgr_jobs *j, int64_t id)
{
	sqlite3_stmt *st;
	json_t *o = NULL;

	if (sqlite3_prepare_v2(j->db->db, JOB_COLS " WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		o = row_json(st);
	sqlite3_finalize(st);
	return o;
}

json_t *vx__mgr_job_list(struct mgr_jobs *j, uint32_t page, uint32_t per_page)
{
	json_t *a = json_array();
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(j->db->db, JOB_COLS " ORDER BY id DESC LIMIT ? OFFSET ?", -1, &st,
			       NULL) != SQLITE_OK)
		return a;
	sqlite3_bind_int64(st, 1, per_page);
	sqlite3_bind_int64(st, 2, (int64_t)(page - 1) * per_page);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, row_json(st));
	sqlite3_finalize(st);
	return a;
}

int vx__mgr_job_cancel(struct mgr_jobs *j, int64_t id)
{
	json_t *o;

	for (uint32_t i = 0; i < RUNS_MAX; i++) {
		if (j->runs[i].used && j->runs[i].id == id) {
			run_finish(j, &j->runs[i], "cancelled");
			return 0;
		}
	}
	o = vx__mgr_job_get(j, id);
	if (!o)
		return -ENOENT;
	json_decref(o);
	return -EALREADY;
}
