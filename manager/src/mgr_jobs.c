/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_jobs.c: the jobs of the open API, run on the scheduler's thread with the core at hand.
 *
 *   get_task     which hosts hold the task and how far they are: the core's peers of it.
 *   delete_task  EV_EVICT to every host with a peer of it, then the core forgets it.
 *   preheat      EV_PREHEAT to each chosen host; every tick reads the core's peer state of
 *                each (SUCCEEDED: done, FAILED or the host gone: failed) until all are known
 *                or the timeout passes. With a preheat rate, every fetch in flight gets an
 *                equal share of it in its event, sent again when the count changes
 *                (preheat_share()).
 *   gc           removes jobs and audit records past the retention.
 *
 * A job is a row of mgr_jobs (state PENDING, SUCCESS or FAILURE; result in Dragonfly's shape).
 * A PENDING job carries a lease: the process running it (owner) renews it every third of
 * lease; when a process dies its lease runs out and another process sharing the database (or
 * this one after a restart) claims the job and runs it again from its stored request (a
 * preheat's hosts that hold a blob already count as done). Only the owner may end a job, so a
 * job is run by one process at a time. A request whose URL carries a credential is not stored
 * (kept in memory only): such a job is failed with a reason when another process claims it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

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
	bool pushed;   /* told (concurrent_* may hold it back) */
	uint64_t rate; /* the share of the preheat rate it was last told; 0: none */
	int done;      /* 0 pending, 1 holds it, -1 failed */
	const char *why;
};

struct mgr_blob {
	char task_id[VX_TASK_ID_LEN + 1];
	char content[VX_CTL_CONTENT_MAX + 1]; /* a registry blob's digest: what task_id is of */
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
	uint32_t nr, nr_hosts; /* targets: blob-major, nr_hosts per blob */
	struct mgr_target *t;
	uint32_t inflight_saved; /* the job row's inflight column as last written; UINT32_MAX:
				  * not yet by this run */
};

struct mgr_jobs {
	struct vx_outbound_policy outbound;
	uint64_t next_renew_ms, next_claim_ms;
	struct mgr_db *db;
	struct vx_sched_server *srv;
	struct vx_manager_cfg cfg;
	struct mgr_run runs[RUNS_MAX];
	struct vx_sched_host_view *hv;
	struct vx_sched_holder *hold;
	struct mgr_hooks *hooks;
	uint64_t share; /* the preheat rate's share last computed; 0: none yet */
};

void vx__mgr_rfc3339(int64_t t, char out[32])
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

	vx__mgr_rfc3339(vx_wall_s(), now);
	return json_pack("{s:s, s:s, s:[{s:s, s:s, s:s, s:[o]}]}", "state", state, "updated_at",
			 now, "job_states", "task_name", task_name, "state", state, "error",
			 error ? error : "", "results", res);
}

static json_t *tasks_result(void)
{
	return json_pack("{s:i, s:[], s:[]}", "scheduler_cluster_id", 1, "success_tasks",
			 "failure_tasks");
}

/* Stores a new job, owned by this process when @mine (else for any process to claim). */
static int64_t row_insert(struct mgr_jobs *j, const struct vx_mgr_job_req *r, int64_t token,
			  int64_t deadline, bool mine)
{
	json_t *args = vx__mgr_job_args(r);
	/* a sync's preheat (many blobs, r->url its prefix) is not resumable from its request:
	 * its sync runs it again */
	char *a = json_dumps(args, JSON_COMPACT), *q = r->sync ? NULL : vx__mgr_job_req_encode(r);
	struct mgr_rows *rows = NULL;
	int64_t id = -1, now = vx_wall_s();

	if (a &&
	    !vx__mgr_sql(j->db, &rows,
			 "INSERT INTO mgr_jobs(type, state, args, token_id, created, updated,"
			 " req, owner, lease, deadline, webhook) VALUES(?, 'PENDING', ?, ?, ?,"
			 " ?, ?, ?, ?, ?, ?) RETURNING id",
			 "ssiiissiis", vx__mgr_job_type_name(r->type), a, token, now, now, q,
			 mine ? j->db->owner : NULL, mine ? now + (int64_t)j->cfg.job_lease_s : 0,
			 deadline, r->webhook[0] ? r->webhook : NULL) &&
	    vx__mgr_rows_n(rows) == 1)
		id = vx__mgr_rows_i(rows, 0, 0);
	vx__mgr_rows_free(rows);
	json_decref(args);
	free(q);
	free(a);
	return id;
}

/* A job ended (@rows: its id and webhook): call its webhook, if it names one. */
static void notify(struct mgr_jobs *j, const struct mgr_rows *rows)
{
	const char *url = vx__mgr_rows_s(rows, 0, 1, NULL);
	json_t *o;

	if (!vx__mgr_rows_n(rows) || !url)
		return;
	o = vx__mgr_job_get(j, vx__mgr_rows_i(rows, 0, 0));
	vx__mgr_hook_add(j->hooks, vx__mgr_rows_i(rows, 0, 0), url,
			 o ? json_dumps(o, JSON_COMPACT) : NULL);
	json_decref(o);
}

/* Ends job @id with @state and @result (taken), if this process still owns it. */
static void row_end(struct mgr_jobs *j, int64_t id, const char *state, json_t *result)
{
	char *r = json_dumps(result, JSON_COMPACT);
	struct mgr_rows *rows = NULL;

	json_decref(result);
	if (r && vx__mgr_sql(j->db, &rows,
			     "UPDATE mgr_jobs SET state = ?, result = ?, updated = ?, owner = NULL,"
			     " lease = 0 WHERE id = ? AND owner = ? AND state = 'PENDING'"
			     " RETURNING id, webhook",
			     "ssiis", state, r, vx_wall_s(), id, j->db->owner))
		vx_err("manager: job %" PRId64 " not saved", id);
	else if (r && !vx__mgr_rows_n(rows))
		vx_warn("manager: job %" PRId64 " ended elsewhere (cancelled, or its lease was"
			" lost): this result is dropped",
			id);
	else if (r)
		notify(j, rows);
	vx__mgr_rows_free(rows);
	free(r);
}

static void run_free(struct mgr_run *run)
{
	vx__mgr_image_free(run->image);
	vx_free(run->t);
	vx_free(run->blobs);
	if (run->req)
		OPENSSL_cleanse(run->req->headers, sizeof(run->req->headers)); /* credentials */
	vx_free(run->req);
	memset(run, 0, sizeof(*run));
}

int vx__mgr_jobs_new(struct mgr_jobs **out, struct mgr_db *d, struct vx_sched_server *srv,
		     const struct vx_manager_cfg *cfg)
{
	struct mgr_jobs *j = vx_calloc(1, sizeof(*j));

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
	if (vx__mgr_hooks_new(&j->hooks, &j->outbound)) {
		vx__mgr_jobs_free(j);
		return -ENOMEM;
	}
	/* jobs that were running when a process stopped are claimed once their lease ran out
	 * (vx__mgr_jobs_tick) */
	*out = j;
	return 0;
}

void vx__mgr_jobs_free(struct mgr_jobs *j)
{
	if (!j)
		return;
	for (uint32_t i = 0; i < RUNS_MAX; i++)
		run_free(&j->runs[i]);
	vx__mgr_hooks_free(j->hooks);
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
		rc = vx_sched_server_push(
			j->srv, h->host,
			&(struct vx_sched_push){ .kind = VX_CTL_EV_EVICT, .task_id = tid });
		json_array_append_new(rc ? bad : ok,
				      host_json(h->id, h->addr, h->role == VX_CTL_ROLE_SEED, tid,
						NULL, rc ? "the host is not connected" : NULL));
	}
	(void)vx_sched_server_forget_task(j->srv, tid);
	vx_info("manager: job %" PRId64 ": task %.12s deleted on %u host(s)", id, tid, n);
	row_end(j, id, "SUCCESS", result_json("delete_task", "SUCCESS", NULL, res));
}

/* The hosts this process's scheduler knows, as Dragonfly's sync_peers would store them. */
static void job_sync_peers(struct mgr_jobs *j, int64_t id)
{
	struct vx_sched *s = vx_sched_server_core(j->srv);
	uint32_t nh = vx_sched_hosts_list(s, j->hv, HOSTS_MAX);
	json_t *peers = json_array();

	for (uint32_t i = 0; i < nh; i++) {
		const struct vx_sched_host_view *h = &j->hv[i];
		json_t *e = json_pack("{s:s, s:s, s:s, s:b}", "hostname", h->id, "ip", h->addr,
				      "host_type", h->role == VX_CTL_ROLE_SEED ? "super" : "normal",
				      "active", (int)h->active);

		json_array_append_new(peers, e);
	}
	row_end(j, id, "SUCCESS",
		result_json("sync_peers", "SUCCESS", NULL,
			    json_pack("{s:i, s:o}", "scheduler_cluster_id", 1, "peers", peers)));
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

/* Tells target @t of @run to fetch its blob at @rate bytes/s from the origin (0: no limit). */
static int target_tell(struct mgr_jobs *j, const struct mgr_run *run, struct mgr_target *t,
		       uint64_t rate)
{
	const struct mgr_blob *bl = &run->blobs[t->blob];
	const char *hdrs[MGR_HEADERS_MAX];
	struct vx_sched_push ev = {
		.kind = run->req->to_memory ? VX_CTL_EV_PREHEAT_MEMORY : VX_CTL_EV_PREHEAT,
		.task_id = bl->task_id,
		.url = bl->url,
		.piece_len = run->req->piece_length,
		.headers = hdrs,
		.nr_headers = run->req->nr_headers,
		.rate_bps = rate,
		.content = bl->content[0] ? bl->content : NULL,
	};
	int rc;

	for (uint32_t i = 0; i < run->req->nr_headers; i++)
		hdrs[i] = run->req->headers[i];
	rc = vx_sched_server_push(j->srv, t->host, &ev);
	if (!rc)
		t->rate = rate;
	return rc;
}

/*
 * Blobs of @run in flight: told to a host that is not yet known to be done. A blob, not a host,
 * is what costs the origin: the scheduler lets one host of a task fetch it from the origin at a
 * time (--origin-max, 1 by default) and gives the others parents.
 */
static uint32_t run_inflight(const struct mgr_run *run)
{
	uint32_t n = 0;

	for (uint32_t b = 0; b < run->nr_blobs; b++) {
		bool in = false;

		for (uint32_t h = 0; h < run->nr_hosts && !in; h++) {
			const struct mgr_target *t = &run->t[b * run->nr_hosts + h];

			in = t->pushed && !t->done;
		}
		n += in;
	}
	return n;
}

/*
 * The preheat rate (cfg.preheat_rate_bps) split evenly over the blobs in flight on every
 * process sharing the database: each run writes its count into its job's row (column
 * inflight), and n is the sum over the PENDING jobs whose lease holds (this process's own
 * count when the database is away). Every host fetching one is told the share (a blob's
 * other hosts take it from the one fetching it from the origin); one told another share is
 * told again.
 */
static void preheat_share(struct mgr_jobs *j)
{
	uint64_t local = 0, total;
	struct mgr_rows *rows = NULL;

	if (!j->cfg.preheat_rate_bps)
		return;
	for (uint32_t i = 0; i < RUNS_MAX; i++) {
		struct mgr_run *run = &j->runs[i];
		uint32_t n;

		if (!run->used || run->image)
			continue;
		n = run_inflight(run);
		local += n;
		if (n != run->inflight_saved &&
		    !vx__mgr_sql(j->db, NULL,
				 "UPDATE mgr_jobs SET inflight = ? WHERE id = ? AND owner = ?",
				 "iis", (int64_t)n, run->id, j->db->owner))
			run->inflight_saved = n;
	}
	if (!local)
		return;
	total = local;
	if (!vx__mgr_sql(j->db, &rows,
			 "SELECT CAST(COALESCE(SUM(inflight), 0) AS BIGINT) FROM mgr_jobs"
			 " WHERE state = 'PENDING' AND lease >= ?",
			 "i", vx_wall_s()) &&
	    vx__mgr_rows_n(rows) == 1 && vx__mgr_rows_i(rows, 0, 0) > 0)
		total = VX_MAX(total, (uint64_t)vx__mgr_rows_i(rows, 0, 0));
	vx__mgr_rows_free(rows);
	j->share = VX_MAX(j->cfg.preheat_rate_bps / total, (uint64_t)1);
	for (uint32_t i = 0; i < RUNS_MAX; i++) {
		struct mgr_run *run = &j->runs[i];

		for (uint32_t k = 0; run->used && !run->image && k < run->nr; k++) {
			struct mgr_target *t = &run->t[k];

			if (t->pushed && !t->done && t->rate != j->share)
				(void)target_tell(j, run, t,
						  j->share); /* a lost host: the tick sees it */
		}
	}
}

/*
 * Tells the targets not yet told to fetch their blob, within the request's
 * concurrent_task_count (blobs in flight at once) and concurrent_peer_count (hosts in flight at
 * once); a host that holds a blob already is done without being told.
 */
static void run_push(struct mgr_jobs *j, struct mgr_run *run)
{
	struct vx_sched *s = vx_sched_server_core(j->srv);
	uint32_t tl = run->req->concurrent_tasks ? run->req->concurrent_tasks : UINT32_MAX;
	uint32_t pl = run->req->concurrent_peers ? run->req->concurrent_peers : UINT32_MAX;
	bool *bin = vx_calloc(run->nr_blobs + 1, sizeof(bool));
	bool *hin = vx_calloc(run->nr_hosts + 1, sizeof(bool));
	uint32_t nb = 0, nh = 0;
	int rc;

	if (!bin || !hin)
		goto out;
	for (uint32_t i = 0; i < run->nr; i++) {
		const struct mgr_target *t = &run->t[i];

		if (!t->pushed || t->done)
			continue;
		nb += !bin[t->blob];
		bin[t->blob] = true;
		nh += !hin[i % run->nr_hosts];
		hin[i % run->nr_hosts] = true;
	}
	for (uint32_t i = 0; i < run->nr; i++) {
		struct mgr_target *t = &run->t[i];
		const struct mgr_blob *bl = &run->blobs[t->blob];
		uint32_t h = i % run->nr_hosts;
		/* the last share until preheat_share() counts this one in */
		uint64_t rate = j->cfg.preheat_rate_bps
					? (j->share ? j->share : j->cfg.preheat_rate_bps)
					: 0;

		if (t->pushed || t->done || (!bin[t->blob] && nb >= tl) || (!hin[h] && nh >= pl))
			continue;
		if (vx_sched_peer_state(s, t->host, vx_ctl_str_of(bl->task_id)) ==
		    VX_SCHED_PEER_SUCCEEDED) {
			t->done = 1; /* holds it already */
			continue;
		}
		t->pushed = true;
		rc = target_tell(j, run, t, rate);
		if (rc) {
			t->done = -1;
			t->why = rc == -EPERM ? "the job's credentials are not sent to a host "
						"connected without TLS"
					      : "the host is not connected";
			continue;
		}
		nb += !bin[t->blob];
		bin[t->blob] = true;
		nh += !hin[h];
		hin[h] = true;
		if ((run->req->concurrent_tasks || run->req->concurrent_peers) && !run->req->sync)
			vx_info("manager: job %" PRId64
				": %s told to fetch blob %u (%u host(s), %u "
				"blob(s) in flight)",
				run->id, t->id, t->blob, nh, nb);
	}
out:
	vx_free(bin);
	vx_free(hin);
}

/* The blobs are known: choose the hosts and tell each to fetch each blob. */
static void run_dispatch(struct mgr_jobs *j, struct mgr_run *run)
{
	uint32_t hosts = preheat_pick(j, run->req, run);

	/* preheat_pick wrote one target per host; make one per host and blob */
	for (uint32_t b = run->nr_blobs; b-- > 0;) {
		for (uint32_t h = 0; h < hosts; h++) {
			struct mgr_target *t = &run->t[b * hosts + h];

			*t = run->t[h];
			t->blob = b;
		}
	}
	run->nr_hosts = hosts;
	run->nr = hosts * run->nr_blobs;
	if (run->nr) {
		run_push(j, run);
		preheat_share(j);
	}
	vx_info("manager: job %" PRId64 ": preheat of %u blob(s) on %u host(s)", run->id,
		run->nr_blobs, hosts);
}

static int blob_set_id(struct mgr_run *run, uint32_t i, const char *url, char *err, size_t err_len)
{
	struct vx_mgr_job_req r = { 0 };
	struct mgr_blob *b = &run->blobs[i];

	snprintf(b->url, sizeof(b->url), "%s", url);
	vx_url_redact_str(url, b->safe_url, sizeof(b->safe_url));
	if (run->req->image) {
		/* a blob's task id: its digest's (vx__mgr_req_task_id()) */
		r = *run->req;
		r.task_id[0] = '\0';
		snprintf(r.url, sizeof(r.url), "%s", url);
		return vx__mgr_req_task_id(&r, b->task_id, err, err_len);
	}
	return vx__mgr_req_task_id(run->req, b->task_id, err, err_len);
}

/* A registry blob's task id is its digest's: the daemons are told the digest (key 77) to derive
 * the id from and to check the bytes against. */
static void blob_content(struct mgr_blob *b)
{
	char id[VX_TASK_ID_LEN + 1];

	b->content[0] = '\0';
	if (vx__mgr_blob_digest(b->url, b->content, sizeof(b->content)) &&
	    (vx_task_id_from_content(b->content, strlen(b->content), id) ||
	     strcmp(id, b->task_id) != 0))
		b->content[0] = '\0'; /* an id the caller gave: the URL's rules */
}

static int blob_set(struct mgr_run *run, uint32_t i, const char *url, char *err, size_t err_len)
{
	int rc = blob_set_id(run, i, url, err, err_len);

	if (!rc)
		blob_content(&run->blobs[i]);
	return rc;
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

/* A free run slot for job @id of @r (copied), due in @tmo_s; NULL with @err when none. */
static struct mgr_run *run_take(struct mgr_jobs *j, int64_t id, uint64_t tmo_s,
				const struct vx_mgr_job_req *r, char *err, size_t err_len)
{
	struct mgr_run *run = NULL;

	for (uint32_t i = 0; i < RUNS_MAX && !run; i++) {
		if (!j->runs[i].used)
			run = &j->runs[i];
	}
	if (!run) {
		snprintf(err, err_len, "too many preheat jobs running; try again later");
		return NULL;
	}
	run->used = true;
	run->id = id;
	/* the row's inflight is written at the first tick: a job claimed from a process that
	 * died holds that process's count until then */
	run->inflight_saved = UINT32_MAX;
	run->deadline_ms = vx_now_ms() + tmo_s * 1000;
	run->req = vx_malloc(sizeof(*run->req));
	if (run->req)
		*run->req = *r;
	return run;
}

static int job_preheat(struct mgr_jobs *j, const struct vx_mgr_job_req *r, int64_t id,
		       int64_t deadline, char *err, size_t err_len)
{
	int64_t left = deadline - vx_wall_s();
	struct mgr_run *run = run_take(j, id, left > 0 ? (uint64_t)left : 0, r, err, err_len);

	if (!run)
		return 503;
	if (run->req && r->image) {
		if (!vx__mgr_image_start(&run->image, r, &j->outbound)) {
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

/* Runs job @id (stored, owned by this process) of request @r until @deadline (Unix s). 0, or
 * an HTTP status with @err (the job is then ended as failed). */
static int job_run(struct mgr_jobs *j, const struct vx_mgr_job_req *r, int64_t id, int64_t deadline,
		   char *err, size_t err_len)
{
	char tid[VX_TASK_ID_LEN + 1] = "";
	int rc = 0;

	if (r->type != MGR_JOB_GC && r->type != MGR_JOB_SYNC_PEERS && !r->image &&
	    vx__mgr_req_task_id(r, tid, err, err_len))
		rc = 400;
	else if (r->type == MGR_JOB_PREHEAT &&
		 vx__mgr_outbound_check(&j->outbound, r->url, err, err_len))
		rc = 400;
	if (rc) {
		row_end(j, id, "FAILURE",
			result_json(vx__mgr_job_type_name(r->type), "FAILURE", err,
				    tasks_result()));
		return rc;
	}
	switch (r->type) {
	case MGR_JOB_GET_TASK:
		job_get_task(j, id, tid);
		break;
	case MGR_JOB_DELETE_TASK:
		job_delete_task(j, id, tid);
		break;
	case MGR_JOB_SYNC_PEERS:
		job_sync_peers(j, id);
		break;
	case MGR_JOB_GC: {
		uint32_t days = r->retention_days ? r->retention_days : j->cfg.retention_days;
		int64_t n = vx__mgr_gc(j->db, vx_wall_s() - (int64_t)days * 86400);

		row_end(j, id, "SUCCESS",
			result_json("gc", "SUCCESS", NULL, json_pack("{s:I}", "removed", n)));
		break;
	}
	case MGR_JOB_PCACHE_IMPORT:
	case MGR_JOB_PCACHE_REPLICATE:
	case MGR_JOB_PCACHE_DELETE: {
		bool ok = false;
		json_t *res = vx__mgr_pcache_job(j->srv, r, tid, &ok, err, err_len);

		row_end(j, id, ok ? "SUCCESS" : "FAILURE",
			result_json(vx__mgr_job_type_name(r->type), ok ? "SUCCESS" : "FAILURE",
				    ok ? NULL : err, res));
		break;
	}
	case MGR_JOB_PREHEAT:
		rc = job_preheat(j, r, id, deadline, err, err_len);
		if (rc)
			row_end(j, id, "FAILURE",
				result_json("preheat", "FAILURE", err, tasks_result()));
		break;
	}
	return rc;
}

int vx__mgr_job_create(struct mgr_jobs *j, const struct vx_mgr_job_req *r, int64_t token_id,
		       int64_t *id, char *err, size_t err_len)
{
	char tid[VX_TASK_ID_LEN + 1] = "";
	uint32_t tmo = r->timeout_s ? r->timeout_s : j->cfg.preheat_timeout_s;
	int64_t deadline = vx_wall_s() + (int64_t)tmo;
	bool local;

	if (r->type != MGR_JOB_GC && r->type != MGR_JOB_SYNC_PEERS && !r->image &&
	    vx__mgr_req_task_id(r, tid, err, err_len))
		return 400;
	if (r->type == MGR_JOB_PREHEAT &&
	    vx__mgr_outbound_check(&j->outbound, r->url, err, err_len))
		return 400;
	if (r->webhook[0] && vx__mgr_outbound_check(&j->outbound, r->webhook, err, err_len)) {
		snprintf(err, err_len,
			 "webhook names an address the outbound policy refuses (or does not "
			 "resolve); --allow-outbound CIDR on vx scheduler lets a special range "
			 "through");
		return 400;
	}
	/* the manager role runs no scheduler: a scheduler process claims the job (gc needs
	 * none and runs here) */
	local = j->srv || r->type == MGR_JOB_GC;
	*id = row_insert(j, r, token_id, deadline, local);
	if (*id < 0) {
		snprintf(err, err_len, "the job could not be stored");
		return 500;
	}
	return local ? job_run(j, r, *id, deadline, err, err_len) : 0;
}

int vx__mgr_job_create_blobs(struct mgr_jobs *j, const struct vx_mgr_job_req *r,
			     const char *const *urls, const char *const *tids, uint32_t n,
			     int64_t token_id, int64_t *id, char *err, size_t err_len)
{
	uint32_t tmo = r->timeout_s ? r->timeout_s : j->cfg.preheat_timeout_s;
	struct mgr_run *run;

	if (!j->srv || !n || !r->sync) {
		snprintf(err, err_len, "a sync's preheat runs beside a scheduler");
		return 500;
	}
	*id = row_insert(j, r, token_id, vx_wall_s() + (int64_t)tmo, true);
	if (*id < 0) {
		snprintf(err, err_len, "the job could not be stored");
		return 500;
	}
	run = run_take(j, *id, tmo, r, err, err_len);
	if (!run) {
		row_end(j, *id, "FAILURE", result_json("preheat", "FAILURE", err, tasks_result()));
		return 503;
	}
	run->blobs = vx_calloc(n, sizeof(*run->blobs));
	if (!run->req || !run->blobs) {
		run_finish(j, run, "out of memory");
		snprintf(err, err_len, "out of memory");
		return 500;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct mgr_blob *b = &run->blobs[i];

		snprintf(b->url, sizeof(b->url), "%s", urls[i]);
		vx_url_redact_str(urls[i], b->safe_url, sizeof(b->safe_url));
		snprintf(b->task_id, sizeof(b->task_id), "%s", tids[i]);
		blob_content(b);
	}
	run->nr_blobs = n;
	run_dispatch(j, run);
	return 0;
}

/* A job claimed from a process that stopped (or from before a restart): run it again from its
 * stored request, or fail it with the reason it cannot be. */
static void job_resume(struct mgr_jobs *j, const struct mgr_rows *rows)
{
	int64_t id = vx__mgr_rows_i(rows, 0, 0), deadline = vx__mgr_rows_i(rows, 0, 3);
	const char *type = vx__mgr_rows_s(rows, 0, 1, NULL);
	size_t len = 0;
	const char *req = vx__mgr_rows_s(rows, 0, 2, &len);
	struct vx_mgr_job_req *r = vx_malloc(sizeof(*r));
	char err[256] = "";

	vx_warn("manager: job %" PRId64 " (%s): claimed here (made by a manager role, or its runner"
		" stopped)",
		id, type ? type : "?");
	if (!req)
		snprintf(err, sizeof(err),
			 "the control plane running it stopped (killed or restarted) and its "
			 "request cannot be resumed (a URL with a credential is kept in memory "
			 "only); run it again");
	else if (deadline <= vx_wall_s())
		snprintf(err, sizeof(err),
			 "timed out while the control plane running it was stopped (restarted)");
	else if (!r)
		snprintf(err, sizeof(err), "out of memory");
	else if (vx_mgr_job_req_decode(req, len, r, err, sizeof(err)))
		vx_err("manager: job %" PRId64 ": its stored request does not decode", id);
	if (!err[0]) {
		vx_info("manager: job %" PRId64 ": resumed", id);
		(void)job_run(j, r, id, deadline, err, sizeof(err));
	} else {
		row_end(j, id, "FAILURE",
			result_json(type ? type : "?", "FAILURE", err, tasks_result()));
	}
	vx_free(r);
}

/* Renews the lease of every job this process runs; a run whose job is no longer ours
 * (cancelled elsewhere, or claimed after a lease ran out) is dropped. */
static void lease_renew(struct mgr_jobs *j)
{
	struct mgr_rows *rows = NULL;

	if (vx__mgr_sql(j->db, &rows,
			"UPDATE mgr_jobs SET lease = ? WHERE owner = ? AND state = 'PENDING'"
			" RETURNING id",
			"is", vx_wall_s() + (int64_t)j->cfg.job_lease_s, j->db->owner))
		return; /* the database is away: keep running, try again */
	for (uint32_t i = 0; i < RUNS_MAX; i++) {
		bool mine = false;

		if (!j->runs[i].used)
			continue;
		for (uint32_t k = 0; k < vx__mgr_rows_n(rows) && !mine; k++)
			mine = vx__mgr_rows_i(rows, k, 0) == j->runs[i].id;
		if (!mine) {
			vx_warn("manager: job %" PRId64
				" ended or was taken elsewhere: stopped here",
				j->runs[i].id);
			run_free(&j->runs[i]);
		}
	}
	vx__mgr_rows_free(rows);
}

/* Claims PENDING jobs whose lease ran out, while a run slot is free. */
static void lease_claim(struct mgr_jobs *j)
{
	static const char lite[] =
		"UPDATE mgr_jobs SET owner = ?, lease = ? WHERE id = (SELECT id FROM mgr_jobs"
		" WHERE state = 'PENDING' AND lease < ? ORDER BY id LIMIT 1) AND state = 'PENDING'"
		" AND lease < ? RETURNING id, type, req, deadline";
	/* the same, and concurrent claimers skip the row another is claiming */
	static const char pg[] =
		"UPDATE mgr_jobs SET owner = ?, lease = ? WHERE id = (SELECT id FROM mgr_jobs"
		" WHERE state = 'PENDING' AND lease < ? ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
		" AND state = 'PENDING' AND lease < ? RETURNING id, type, req, deadline";

	for (uint32_t n = 0; n < 8; n++) {
		struct mgr_rows *rows = NULL;
		int64_t now = vx_wall_s();
		bool free_slot = false;

		for (uint32_t i = 0; i < RUNS_MAX && !free_slot; i++)
			free_slot = !j->runs[i].used;
		if (!free_slot ||
		    vx__mgr_sql(j->db, &rows, j->db->pg ? pg : lite, "siii", j->db->owner,
				now + (int64_t)j->cfg.job_lease_s, now, now))
			return;
		if (!vx__mgr_rows_n(rows)) {
			vx__mgr_rows_free(rows);
			return;
		}
		job_resume(j, rows);
		vx__mgr_rows_free(rows);
	}
}

void vx__mgr_jobs_tick(struct mgr_jobs *j, uint64_t now_ms)
{
	struct vx_sched *s;

	vx__mgr_hooks_tick(j->hooks, now_ms);
	if (!j->srv)
		return; /* the manager role: no runs, no claims */
	s = vx_sched_server_core(j->srv);
	if (now_ms >= j->next_renew_ms) {
		lease_renew(j);
		j->next_renew_ms = now_ms + j->cfg.job_lease_s * 1000 / 3;
	}
	if (now_ms >= j->next_claim_ms) {
		lease_claim(j);
		j->next_claim_ms = now_ms + 1000;
	}

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

			if (t->done || !t->pushed)
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
			} else if (ps == VX_SCHED_PEER_FREE && vx_sched_host_full(s, t->host)) {
				/* its register is refused (-ENOSPC): the task would never show up */
				t->done = -1;
				t->why = "the host holds as many tasks as the scheduler registers "
					 "per host (--host-tasks-max, --seed-tasks-max)";
			}
		}
		run_push(j, run);
		for (uint32_t k = 0; k < run->nr && !pending; k++)
			pending = !run->t[k].done;
		if (!pending)
			run_finish(j, run, NULL);
		else if (now_ms >= run->deadline_ms)
			run_finish(j, run, "timed out");
	}
	preheat_share(j);
}

static json_t *row_json(const struct mgr_rows *rows, uint32_t i)
{
	char c[32], u[32];
	const char *args = vx__mgr_rows_s(rows, i, 3, NULL);
	const char *res = vx__mgr_rows_s(rows, i, 4, NULL);
	json_t *a = args ? json_loads(args, 0, NULL) : NULL;
	json_t *r = res ? json_loads(res, 0, NULL) : NULL;

	vx__mgr_rfc3339(vx__mgr_rows_i(rows, i, 6), c);
	vx__mgr_rfc3339(vx__mgr_rows_i(rows, i, 7), u);
	return json_pack(
		"{s:I, s:s, s:s, s:o, s:o, s:I, s:s, s:s, s:[{s:i, s:s}]}", "id",
		(json_int_t)vx__mgr_rows_i(rows, i, 0), "type", vx__mgr_rows_s(rows, i, 1, NULL),
		"state", vx__mgr_rows_s(rows, i, 2, NULL), "args", a ? a : json_object(), "result",
		r ? r : json_null(), "token_id", (json_int_t)vx__mgr_rows_i(rows, i, 5),
		"created_at", c, "updated_at", u, "scheduler_clusters", "id", 1, "name", "default");
}

#define JOB_COLS "SELECT id, type, state, args, result, token_id, created, updated FROM mgr_jobs"

json_t *vx__mgr_job_get(struct mgr_jobs *j, int64_t id)
{
	struct mgr_rows *rows = NULL;
	json_t *o = NULL;

	if (vx__mgr_sql(j->db, &rows, JOB_COLS " WHERE id = ?", "i", id))
		return NULL;
	if (vx__mgr_rows_n(rows))
		o = row_json(rows, 0);
	vx__mgr_rows_free(rows);
	return o;
}

/* A job's tenant: that of the token that made it ("" none). */
#define JOB_TENANT \
	"COALESCE((SELECT tenant FROM mgr_token_tenants WHERE token_id = mgr_jobs.token_id), '')"

bool vx__mgr_job_seen(struct mgr_jobs *j, int64_t id, const char *tenant)
{
	struct mgr_rows *rows = NULL;
	bool seen;

	if (!tenant[0])
		return true;
	if (vx__mgr_sql(j->db, &rows, "SELECT " JOB_TENANT " FROM mgr_jobs WHERE id = ?", "i", id))
		return false;
	seen = vx__mgr_rows_n(rows) == 1 && vx__mgr_rows_s(rows, 0, 0, NULL) &&
	       strcmp(vx__mgr_rows_s(rows, 0, 0, NULL), tenant) == 0;
	vx__mgr_rows_free(rows);
	return seen;
}

json_t *vx__mgr_job_list(struct mgr_jobs *j, const char *tenant, uint32_t page, uint32_t per_page)
{
	json_t *a = json_array();
	struct mgr_rows *rows = NULL;

	if (vx__mgr_sql(j->db, &rows,
			JOB_COLS " WHERE ? = '' OR " JOB_TENANT
				 " = ? ORDER BY id DESC LIMIT ? OFFSET ?",
			"ssii", tenant, tenant, (int64_t)per_page, (int64_t)(page - 1) * per_page))
		return a;
	for (uint32_t i = 0; i < vx__mgr_rows_n(rows); i++)
		json_array_append_new(a, row_json(rows, i));
	vx__mgr_rows_free(rows);
	return a;
}

int vx__mgr_job_cancel(struct mgr_jobs *j, int64_t id)
{
	struct mgr_rows *rows = NULL;
	json_t *o, *res;
	char *r;
	int rc;

	for (uint32_t i = 0; i < RUNS_MAX; i++) {
		if (j->runs[i].used && j->runs[i].id == id) {
			run_finish(j, &j->runs[i], "cancelled");
			return 0;
		}
	}
	/* run by another process (or by none right now): end it in the database; its runner
	 * sees at its next lease renewal that the job is no longer its own */
	o = vx__mgr_job_get(j, id);
	if (!o)
		return -ENOENT;
	res = result_json(json_string_value(json_object_get(o, "type")), "FAILURE", "cancelled",
			  tasks_result());
	json_decref(o);
	r = json_dumps(res, JSON_COMPACT);
	json_decref(res);
	rc = r ? vx__mgr_sql(j->db, &rows,
			     "UPDATE mgr_jobs SET state = 'FAILURE', result = ?, updated = ?,"
			     " owner = NULL, lease = 0 WHERE id = ? AND state = 'PENDING'"
			     " RETURNING id, webhook",
			     "sii", r, vx_wall_s(), id)
	       : -ENOMEM;
	free(r);
	if (!rc && !vx__mgr_rows_n(rows))
		rc = -EALREADY;
	else if (!rc)
		notify(j, rows);
	vx__mgr_rows_free(rows);
	return rc;
}
