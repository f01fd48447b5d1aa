/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer.c: the peer's life cycle, its loop thread, the mailbox other threads post to, and the
 * glue to the scheduler client (whose epoll fd and the store notifier's eventfd are polled on
 * the loop's ring). The task state machine is in peer_task.c, blocking work in peer_work.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "peer_int.h"
#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_net.h"
#include "vx_store_glue.h"
#include "vx_task_id.h"
#include "vx_time.h"
#include "vx_tls.h"
#include "vx_url.h"

/* ---------------------------------------------------------------- Mailbox */

static void on_wake(struct vx_loop *loop, void *arg)
{
	struct vx_peer *p = arg;
	struct vx_list jobs;

	(void)loop;
	vx_list_init(&jobs);
	pthread_mutex_lock(&p->mail_lock);
	while (!vx_list_empty(&p->inbox_jobs)) {
		struct vx_list *n = p->inbox_jobs.next;

		vx_list_del(n);
		vx_list_add_tail(&jobs, n);
	}
	pthread_mutex_unlock(&p->mail_lock);
	vx__peer_cache_drain(p);

	while (!vx_list_empty(&jobs)) {
		struct peer_job *j = vx_list_first(&jobs, struct peer_job, node);

		vx_list_del(&j->node);
		vx_list_init(&j->node);
		if (p->shutting_down)
			vx__peer_job_fail(p, j, -ECANCELED, VX_DOWNLOAD_STAGE_REQUEST,
					  "the daemon is shutting down");
		else
			vx__peer_job_start(p, j);
	}
}

/* ---------------------------------------------------------------- Polls */

static void poll_arm(struct vx_peer *p, struct peer_poll *pp)
{
	struct io_uring_sqe *sqe = vx_loop_sqe(p->loop);

	io_uring_prep_poll_multishot(sqe, pp->fd, POLLIN);
	vx_loop_arm(p->loop, &pp->op, sqe, true);
}

static void on_poll(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	struct peer_poll *pp = vx_container_of(op, struct peer_poll, op);
	struct vx_peer *p = op->owner;

	(void)loop;
	if (res >= 0 || res == -EAGAIN)
		pp->fn(p);
	if (!(cflags & IORING_CQE_F_MORE) && res != -ECANCELED && !p->shutting_down)
		poll_arm(p, pp); /* a multishot poll ended: arm it again */
}

static void sc_ready(struct vx_peer *p)
{
	(void)vx_sched_client_process(p->sc, 0);
}

static void nt_ready(struct vx_peer *p)
{
	vx__peer_drain_notifier(p);
}

static void pool_ready(struct vx_peer *p)
{
	vx_pool_drain(p->pool);
}

/* ---------------------------------------------------------------- Scheduler glue */

/*
 * Requests go out without a callback: answers of register and reschedule come back through
 * on_sched_event() with the task named, the others need no answer (a lost one is repaired by
 * the task's own timers).
 */
int vx__peer_sched_send(struct vx_peer *p, struct vx_ctl_msg *m)
{
	if (!p->sc)
		return -ENOTCONN;
	return vx_sched_client_send(p->sc, m, NULL, NULL);
}

static void on_sched_event(void *arg, uint32_t server, const struct vx_ctl_msg *m)
{
	struct vx_peer *p = arg;

	(void)server;
	if (m->tag == VX_TAG_CONTROL_RESPONSE &&
	    (m->type == VX_CTL_REGISTER || m->type == VX_CTL_RESCHEDULE ||
	     m->type == VX_CTL_PROGRESS)) {
		struct peer_task *t;
		char id[VX_TASK_ID_LEN + 1];

		if (m->task_id.len != VX_TASK_ID_LEN)
			return;
		memcpy(id, m->task_id.ptr, VX_TASK_ID_LEN);
		id[VX_TASK_ID_LEN] = '\0';
		t = vx__peer_task_find(p, id);
		if (t && m->type == VX_CTL_PROGRESS)
			vx__peer_on_progress_answer(p, t, (int)m->status, m);
		else if (t)
			vx__peer_on_answer(p, t, (int)m->status, m);
		return;
	}
	if (m->tag == VX_TAG_CONTROL_EVENT && m->event == VX_CTL_EV_CLUSTER_CONFIG)
		vx__peer_ccfg_event(p, m);
	else if (m->tag == VX_TAG_CONTROL_EVENT)
		vx__peer_on_event(p, m);
}

/* ---------------------------------------------------------------- Loop thread */

static void on_tick(struct vx_loop *loop, struct vx_loop_ticker *tk, uint64_t now_ms)
{
	struct vx_peer *p = vx_container_of(tk, struct vx_peer, ticker);

	(void)loop;
	if (p->sc)
		(void)vx_sched_client_process(p->sc, 0);
	if (p->sc && now_ms - p->last_load_ms >= 1000) {
		struct vx_upload_stats us;

		vx_upload_stats(p->up, &us);
		vx_sched_client_set_load(p->sc, us.conns, 0);
		p->last_load_ms = now_ms;
	}
	vx__peer_tick(p, now_ms);
	vx__peer_members_tick(p);
	vx__peer_mgmt_tick(p);
	vx__peer_tls_tick(p, now_ms);
	if (p->shutting_down && vx__peer_works_idle(p) && vx__peer_tasks_idle(p) &&
	    (!p->up || vx_upload_idle(p->up)) && !vx_loop_stopping(loop)) {
		vx_loop_cancel(loop, &p->sc_poll.op);
		vx_loop_cancel(loop, &p->nt_poll.op);
		vx_loop_cancel(loop, &p->pool_poll.op);
		vx_loop_stop(loop);
	}
}

/* Tells every scheduler that this host leaves, waiting a little for the bytes to go out. */
static void leave_schedulers(struct vx_peer *p)
{
	uint64_t until = vx_now_ms() + 1000;

	if (!p->sc)
		return;
	for (uint32_t i = 0; i < p->cfg.nr_schedulers; i++) {
		struct vx_ctl_msg m = { 0 };

		if (!vx_sched_client_up(p->sc, i))
			continue;
		m.type = VX_CTL_LEAVE;
		/* without a task id the message goes to the first scheduler that is up; the
		 * others see the connection close and keep our peers only for their grace time */
		if (vx_sched_client_send(p->sc, &m, NULL, NULL))
			vx_debug("peer: could not say goodbye to scheduler %u", i);
		break;
	}
	while (vx_now_ms() < until) {
		if (vx_sched_client_process(p->sc, 50) < 0)
			break;
	}
}

/* Starts the graceful shutdown on the loop thread (from the wake of vx_peer_free()). */
static void begin_shutdown(struct vx_peer *p)
{
	bool handover;

	if (p->shutting_down)
		return;
	p->shutting_down = true;
	vx__peer_shutdown_tasks(p);
	pthread_mutex_lock(&p->mail_lock);
	handover = p->handover;
	pthread_mutex_unlock(&p->mail_lock);
	if (!handover)
		leave_schedulers(p);
	if (p->up && handover)
		vx_upload_drain(p->up, PEER_DRAIN_MS); /* new connections wait in the backlog */
	else if (p->up)
		vx_upload_shutdown(p->up);
}

static void on_wake_or_stop(struct vx_loop *loop, void *arg)
{
	struct vx_peer *p = arg;
	bool stopping;

	on_wake(loop, arg);
	pthread_mutex_lock(&p->mail_lock);
	stopping = p->stopping;
	pthread_mutex_unlock(&p->mail_lock);
	if (stopping)
		begin_shutdown(p);
}

void vx__peer_wake_locked(struct vx_peer *p)
{
	if (p->loop) /* NULL: the loop thread has ended */
		vx_loop_wake(p->loop);
}

/* The loop thread's last step: others wake the loop under mail_lock (vx__peer_wake_locked()),
 * so none is waking it once it is out of p->loop. */
static void loop_release(struct vx_peer *p)
{
	struct vx_loop *loop = p->loop;

	pthread_mutex_lock(&p->mail_lock);
	p->loop = NULL;
	pthread_mutex_unlock(&p->mail_lock);
	vx_loop_free(loop);
}

static void start_done(struct vx_peer *p, int rc, const char *fmt, ...) VX_PRINTF(3, 4);

static void start_done(struct vx_peer *p, int rc, const char *fmt, ...)
{
	pthread_mutex_lock(&p->mail_lock);
	p->start_rc = rc;
	if (rc && fmt && p->start_err && p->start_err_len) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(p->start_err, p->start_err_len, fmt, ap);
		va_end(ap);
	}
	p->ready = true;
	pthread_cond_signal(&p->ready_cond);
	pthread_mutex_unlock(&p->mail_lock);
}

static void on_sched_up(void *arg, uint32_t server)
{
	(void)server;
	vx__peer_cache_reannounce(arg);
}

static int sched_setup(struct vx_peer *p)
{
	struct vx_sched_client_cfg cc = { 0 };

	for (uint32_t i = 0; i < p->cfg.nr_schedulers; i++)
		cc.servers[i] = p->cfg.schedulers[i];
	cc.nr_servers = p->cfg.nr_schedulers;
	cc.hello.host_id = vx_ctl_str_of(p->host_id);
	cc.hello.addr = vx_ctl_str_of(p->addr);
	cc.hello.port = p->port;
	cc.hello.has = VX_CTL_F_HOST_ID | VX_CTL_F_ADDR | VX_CTL_F_PORT | VX_CTL_F_ROLE;
	/* members take no seed role (no token proves it); --seed there only super-seeds */
	cc.hello.role = p->cfg.seed && !p->members ? VX_CTL_ROLE_SEED : VX_CTL_ROLE_NORMAL;
	if (p->cfg.idc && *p->cfg.idc) {
		cc.hello.idc = vx_ctl_str_of(p->cfg.idc);
		cc.hello.has |= VX_CTL_F_IDC;
	}
	if (p->cfg.location && *p->cfg.location) {
		cc.hello.location = vx_ctl_str_of(p->cfg.location);
		cc.hello.has |= VX_CTL_F_LOCATION;
	}
	if (p->cfg.token && *p->cfg.token) {
		cc.hello.token = vx_ctl_str_of(p->cfg.token);
		cc.hello.has |= VX_CTL_F_TOKEN;
	}
	cc.hello.host_key = vx_ctl_str_of(p->host_key);
	cc.hello.has |= VX_CTL_F_HOST_KEY;
	if (p->cfg.bandwidth_bps) {
		cc.hello.bandwidth_bps = p->cfg.bandwidth_bps;
		cc.hello.has |= VX_CTL_F_BANDWIDTH;
	}
	cc.on_event = on_sched_event;
	cc.on_up = on_sched_up;
	cc.arg = p;
	cc.tls = p->cfg.sched_tls;
	cc.starttls = p->members != NULL;
	if (p->members) {
		cc.silence_ms = vx__peer_members_silence_ms(p);
		/* a member back (or started later) is dialled again within one heartbeat */
		cc.backoff_max_ms = vx__peer_members_heartbeat_ms(p);
	}
	return vx_sched_client_new(&p->sc, &cc);
}

/*
 * Waits (at most 2 s) for every scheduler's first hello to be answered or to fail, so a wrong
 * token fails the start with a clear error instead of a retry loop in the log. A scheduler
 * that is down is not an error here: the client keeps reconnecting.
 */
static int sched_check_hello(struct vx_peer *p)
{
	uint64_t until = vx_now_ms() + 2000;

	for (;;) {
		uint32_t settled = 0;

		for (uint32_t i = 0; i < p->cfg.nr_schedulers; i++) {
			int st = vx_sched_client_hello_state(p->sc, i);

			if (st == -EACCES) {
				start_done(p, -EACCES,
					   p->cfg.sched_tls
						   ? "scheduler %s refused our certificate or the "
						     "role (see the log; --seed needs a seed "
						     "certificate)"
						   : "scheduler %s refused our token or host key "
						     "(check the token file and the role: --seed "
						     "needs the seed token)",
					   p->cfg.schedulers[i]);
				return -EACCES;
			}
			settled += st != 0;
		}
		if (settled == p->cfg.nr_schedulers || vx_now_ms() >= until)
			return 0;
		if (vx_sched_client_process(p->sc, 50) < 0)
			return 0;
	}
}

static void *loop_main(void *arg)
{
	struct vx_peer *p = arg;
	struct vx_loop_cfg lc = { .sq_entries = 512, .tick_ms = PEER_TICK_MS };
	struct vx_upload_cfg uc;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	int rc;

	rc = vx_loop_new(&p->loop, &lc);
	if (rc) {
		start_done(p, rc, "cannot set up io_uring: %s", vx_strerror(rc));
		return NULL;
	}
	vx_upload_cfg_init(&uc);
	memcpy(&uc.addr, &p->listen_addr, p->listen_len);
	uc.addr_len = p->listen_len;
	uc.listen_fd = p->cfg.listen_fd;
	uc.ops = vx_store_glue_source_ops();
	uc.ops_ctx = p->store;
	uc.rate_bytes_per_s = p->cfg.rates.upload_bps;
	uc.super_seed = p->cfg.seed; /* a seed sends about one copy; the swarm does the rest */
	uc.lz4 = !p->cfg.no_lz4;
	uc.max_sends = PEER_UPLOAD_SLOTS;
	if (p->cfg.upload_max_conns)
		uc.max_conns = p->cfg.upload_max_conns;
	if (p->cfg.upload_idle_timeout_ms)
		uc.idle_timeout_ms = p->cfg.upload_idle_timeout_ms;
	if (p->cfg.upload_addr_conns)
		uc.max_conns_per_addr = p->cfg.upload_addr_conns;
	if (p->cfg.upload_stall_ms)
		uc.send_stall_ms = p->cfg.upload_stall_ms;
	if (p->cfg.upload_max_inflight)
		uc.max_inflight = p->cfg.upload_max_inflight;
	vx__peer_tls_upload(p, &uc);
	if (p->members) {
		uc.on_control = vx__peer_members_on_control;
		uc.on_control_ctx = p;
	}
	rc = vx_upload_new(&p->up, p->loop, &uc);
	if (rc) {
		start_done(p, rc, "cannot listen on %s: %s", p->cfg.listen, vx_strerror(rc));
		goto out_loop;
	}
	vx_upload_local_addr(p->up, &bound, &blen);
	p->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
						    : ((struct sockaddr_in *)&bound)->sin_port);
	if (p->cfg.sched_tls) /* the certificate names this host (spec/control.md section 10) */
		snprintf(p->host_id, sizeof(p->host_id), "%s",
			 vx_tls_ctx_self(p->cfg.sched_tls)->host_id);
	else
		vx__peer_host_id(p->host_key, p->hostname, p->addr, p->port, p->host_id,
				 sizeof(p->host_id));
	if (p->cfg.nr_schedulers) {
		rc = sched_setup(p);
		if (rc) {
			start_done(p, rc, "bad scheduler list: %s", vx_strerror(rc));
			goto out_up;
		}
		/* members: no token to refuse, and our own member answers only once the loop runs */
		if (!p->members && sched_check_hello(p))
			goto out_sc;
	}
	rc = vx_store_notifier_new(p->store, &p->notifier);
	if (rc) {
		start_done(p, rc, "cannot create the store notifier: %s", vx_strerror(rc));
		goto out_sc;
	}
	rc = vx_pool_new(&p->pool,
			 p->cfg.work_threads ? p->cfg.work_threads : VX_PEER_WORK_THREADS_DEFAULT,
			 0);
	if (rc) {
		start_done(p, rc, "cannot start the work pool: %s", vx_strerror(rc));
		goto out_notifier;
	}
	vx_loop_set_handler(p->loop, VX_OP_POLL, on_poll);
	vx_op_init(&p->nt_poll.op, VX_OP_POLL, p, NULL);
	p->nt_poll.fd = vx_store_notifier_fd(p->notifier);
	p->nt_poll.fn = nt_ready;
	poll_arm(p, &p->nt_poll);
	vx_op_init(&p->pool_poll.op, VX_OP_POLL, p, NULL);
	p->pool_poll.fd = vx_pool_fd(p->pool);
	p->pool_poll.fn = pool_ready;
	poll_arm(p, &p->pool_poll);
	if (p->sc) {
		vx_op_init(&p->sc_poll.op, VX_OP_POLL, p, NULL);
		p->sc_poll.fd = vx_sched_client_fd(p->sc);
		p->sc_poll.fn = sc_ready;
		poll_arm(p, &p->sc_poll);
		(void)vx_sched_client_process(p->sc, 0);
	}
	p->ticker.fn = on_tick;
	vx_loop_add_ticker(p->loop, &p->ticker);
	vx_loop_set_on_wake(p->loop, on_wake_or_stop, p);
	if (p->cfg.resume)
		vx__peer_resume(p);
	start_done(p, 0, NULL);

	rc = vx_loop_run(p->loop);
	if (rc)
		vx_err("peer: loop failed: %s", vx_strerror(rc));
	vx_loop_del_ticker(p->loop, &p->ticker);
	/*
	 * Normally idle by now. After a loop failure this waits for what runs and fails the rest,
	 * each through its completion, so the tasks drop their busy bits and the jobs get their
	 * answer; nothing starts anew once shutting_down is set.
	 */
	p->shutting_down = true;
	vx_pool_free(p->pool);
	p->pool = NULL;
	vx__peer_works_cancel_waiting(p);
out_notifier:
	vx_store_notifier_free(p->notifier);
	p->notifier = NULL;
out_sc:
	vx_sched_client_free(p->sc);
	p->sc = NULL;
out_up:
	if (p->up) {
		if (!vx_upload_idle(p->up)) {
			vx_upload_shutdown(p->up);
			while (!vx_upload_idle(p->up))
				if (vx_loop_run_once(p->loop, 100) < 0)
					break;
		}
		vx_upload_free(p->up);
		p->up = NULL;
	}
out_loop:
	loop_release(p);
	return NULL;
}

/* ---------------------------------------------------------------- Public */

int vx_peer_new(struct vx_peer **out, const struct vx_peer_cfg *cfg, char *err, size_t err_len)
{
	struct vx_store_cfg sc;
	struct vx_peer *p;
	int rc;

	*out = NULL;
	if (err && err_len)
		err[0] = '\0';
	if (!cfg->data_dir || !*cfg->data_dir || cfg->nr_schedulers > VX_PEER_SCHEDULERS_MAX) {
		if (err)
			snprintf(err, err_len, "no data directory, or too many schedulers");
		return -EINVAL;
	}
	p = vx_calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cfg = *cfg;
	p->upstream.proxy = cfg->upstream_proxy;
	p->upstream.token = cfg->upstream_token;
	p->upstream.ca_file = cfg->upstream_ca;
	p->start_err = err;
	p->start_err_len = err_len;
	pthread_mutex_init(&p->mail_lock, NULL);
	pthread_cond_init(&p->ready_cond, NULL);
	vx_rate_init(&p->download_rate, cfg->rates.download_bps, VX_SOURCE_CHUNK_MAX);
	atomic_store(&p->task_bps, cfg->rates.task_bps);
	vx_list_init(&p->inbox_jobs);
	vx_list_init(&p->inbox_cache);
	vx_list_init(&p->inbox_haves);
	vx_list_init(&p->preheat_q);
	vx_list_init(&p->works_waiting);
	rc = vx_net_parse_addr(cfg->listen ? cfg->listen : "0.0.0.0:4005", VX_NET_PORT0,
			       &p->listen_addr, &p->listen_len);
	if (rc) {
		if (err)
			snprintf(err, err_len, "listen address '%s' is not IP:PORT", cfg->listen);
		goto fail;
	}
	rc = vx__peer_pick_addr(p, cfg, err, err_len);
	if (rc)
		goto fail;
	if (cfg->hostname && *cfg->hostname)
		snprintf(p->hostname, sizeof(p->hostname), "%s", cfg->hostname);
	else if (gethostname(p->hostname, sizeof(p->hostname) - 1) != 0)
		snprintf(p->hostname, sizeof(p->hostname), "localhost");
	p->dig = vx_calloc(PEER_DIGESTS_PER_MSG, sizeof(*p->dig));
	p->dig_str = vx_calloc(PEER_DIGESTS_PER_MSG, sizeof(*p->dig_str));
	p->data_dir = vx_strdup(cfg->data_dir);
	if (!p->dig || !p->dig_str || !p->data_dir) {
		rc = -ENOMEM;
		goto fail;
	}
	p->cfg.data_dir = p->data_dir;

	vx_store_cfg_init(&sc);
	sc.dir = cfg->data_dir;
	sc.wipe = cfg->wipe;
	sc.disk_quota_bytes = cfg->disk_limit_bytes;
	sc.memory_budget_bytes = cfg->memory_budget_bytes;
	sc.no_memory = !cfg->memory_budget_bytes;
	sc.gc_high_pct = cfg->gc_high_pct; /* zeros: the store's defaults */
	sc.gc_low_pct = cfg->gc_low_pct;
	sc.task_ttl_s = cfg->task_ttl_s;
	sc.gc_interval_s = cfg->gc_interval_s;
	sc.direct_io = (enum vx_store_direct_io)cfg->direct_io;
	rc = vx_store_open(&p->store, &sc);
	if (rc) {
		if (err)
			snprintf(err, err_len, "cannot open the store in '%s': %s", cfg->data_dir,
				 vx_strerror(rc));
		goto fail;
	}
	if (cfg->members) {
		if (cfg->nr_schedulers || cfg->join_token) {
			rc = -EINVAL;
			if (err)
				snprintf(err, err_len,
					 "--members replaces --scheduler and a join (members "
					 "have no CA: give them tls.cert, tls.key and tls.ca)");
			goto fail;
		}
		rc = vx__peer_members_start(p, err, err_len);
		if (rc)
			goto fail;
	}
	if (p->cfg.nr_schedulers) {
		char kerr[256];

		rc = vx__peer_host_key(cfg->data_dir, p->host_key, kerr, sizeof(kerr));
		if (rc) {
			if (err)
				snprintf(err, err_len, "host key: %s", kerr);
			goto fail;
		}
		/* the id depends on the key and the hostname only: known before the port is */
		vx__peer_host_id(p->host_key, p->hostname, p->addr, 0, p->host_id,
				 sizeof(p->host_id));
		rc = vx__peer_pki_start(p, cfg->join_token, kerr, sizeof(kerr));
		p->cfg.join_token = NULL;
		if (rc) {
			if (err)
				snprintf(err, err_len, "cluster identity: %s", kerr);
			goto fail;
		}
	}
	{
		char terr[VX_TLS_ERR_LEN];

		/* after the join: a first start with --join comes up on TLS */
		rc = vx__peer_tls_setup(p, terr, sizeof(terr));
		if (rc) {
			if (err)
				snprintf(err, err_len, "TLS: %s", terr);
			goto fail;
		}
	}
	{
		struct vx_source_ctx_cfg srcc = {
			.hf_endpoint = p->cfg.hf_endpoint,
			.hf_token_file = p->cfg.hf_token_file,
			.modelscope_endpoint = p->cfg.modelscope_endpoint,
			.modelscope_token_file = p->cfg.modelscope_token_file,
		};

		rc = vx_source_ctx_new(&p->src, &srcc);
		if (!rc)
			vx_source_ctx_set_rate(p->src, p->cfg.rates.source_bps);
	}
	if (rc) {
		if (err)
			snprintf(err, err_len, "cannot start the source layer: %s",
				 vx_strerror(rc));
		goto fail;
	}
	rc = pthread_create(&p->thread, NULL, loop_main, p);
	if (rc) {
		rc = -rc;
		if (err)
			snprintf(err, err_len, "cannot start the loop thread: %s", vx_strerror(rc));
		goto fail;
	}
	p->thread_started = true;
	pthread_mutex_lock(&p->mail_lock);
	while (!p->ready)
		pthread_cond_wait(&p->ready_cond, &p->mail_lock);
	rc = p->start_rc;
	p->start_err = NULL;
	pthread_mutex_unlock(&p->mail_lock);
	if (rc)
		goto fail;
	vx_info("peer: %s serving pieces on port %u%s", p->host_id, p->port,
		p->cfg.nr_schedulers ? "" : " (no scheduler: downloads go to the source)");
	*out = p;
	return 0;
fail:
	p->start_err = NULL;
	vx_peer_free(p);
	return rc;
}

uint16_t vx_peer_port(const struct vx_peer *p)
{
	return p->port;
}

const char *vx_peer_host_id(const struct vx_peer *p)
{
	return p->host_id;
}

void vx_peer_handover(struct vx_peer *p)
{
	pthread_mutex_lock(&p->mail_lock);
	p->handover = true;
	pthread_mutex_unlock(&p->mail_lock);
}

int vx_peer_listen_fd(const struct vx_peer *p)
{
	return vx_upload_listen_fd(p->up);
}

const char *vx_peer_addr(const struct vx_peer *p)
{
	return p->addr;
}

void vx_peer_free(struct vx_peer *p)
{
	if (!p)
		return;
	if (p->thread_started) {
		atomic_store(&p->cache_stop, true);
		pthread_mutex_lock(&p->mail_lock);
		p->stopping = true;
		if (p->ready && p->start_rc == 0)
			vx__peer_wake_locked(p);
		pthread_mutex_unlock(&p->mail_lock);
		pthread_join(p->thread, NULL);
		vx__peer_cache_quiesce(p);
	}
	vx__peer_members_stop(p);
	vx__peer_mgmt_free(p);
	vx__peer_pki_stop(p);
	vx__peer_tls_free(p);
	vx_source_ctx_free(p->src);
	if (p->store) {
		if (vx_store_flush(p->store))
			vx_warn("peer: the store could not be flushed before closing");
		vx_store_close(p->store);
	}
	vx_free(p->dig);
	vx_free(p->dig_str);
	vx_free(p->data_dir);
	pthread_cond_destroy(&p->ready_cond);
	pthread_mutex_destroy(&p->mail_lock);
	vx_rate_destroy(&p->download_rate);
	vx_free(p);
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = vx_strdup(s);
	if (!d)
		*oom = true;
	return d;
}

static char **dup_list(const char *const *v, uint32_t n, bool *oom)
{
	char **d;

	if (!n)
		return NULL;
	d = vx_calloc(n, sizeof(*d));
	if (!d) {
		*oom = true;
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++)
		d[i] = dup_or_null(v[i], oom);
	return d;
}

int vx_peer_download(struct vx_peer *p, const struct vx_download_request *req,
		     const struct vx_peer_job_ops *ops, void *arg, struct vx_peer_job **out)
{
	struct peer_job *j;
	bool oom = false;

	if (out)
		*out = NULL;
	if (!req->url || req->nr_headers > VX_DOWNLOAD_HEADERS_MAX)
		return -EINVAL;
	j = vx_calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	vx_list_init(&j->node);
	j->peer = p;
	j->url = dup_or_null(req->url, &oom);
	j->output = dup_or_null(req->output, &oom);
	j->digest = dup_or_null(req->digest, &oom);
	j->tag = dup_or_null(req->tag, &oom);
	j->app = dup_or_null(req->application, &oom);
	snprintf(j->request_id, sizeof(j->request_id), "%s",
		 req->request_id ? req->request_id : "");
	j->id_content = dup_or_null(req->task_id_content, &oom);
	j->headers = dup_list(req->headers, req->nr_headers, &oom);
	j->nr_headers = req->nr_headers;
	j->filtered = dup_list(req->filtered_params, req->nr_filtered_params, &oom);
	j->nr_filtered = req->nr_filtered_params;
	j->piece_length = req->piece_length;
	j->timeout_ms = req->timeout_ms;
	j->overwrite = req->overwrite;
	j->memory = req->memory;
	j->no_bts = req->disable_back_to_source || p->cfg.no_back_to_source;
	j->public_content = req->public_content;
	j->access_ok = req->public_content; /* declared public: no proof to wait for */
	j->uid = req->uid;
	j->gid = req->gid;
	j->as_client = req->chown_output;
	j->nr_groups = VX_MIN(req->nr_groups, (uint32_t)VX_DOWNLOAD_GROUPS_MAX);
	if (j->nr_groups)
		memcpy(j->groups, req->groups, j->nr_groups * sizeof(j->groups[0]));
	j->out_dirfd = -1;
	j->src_fd = -1;
	j->ops = *ops;
	j->arg = arg;
	j->start_ms = vx_now_ms();
	j->deadline_ms = req->timeout_ms ? j->start_ms + req->timeout_ms : 0;
	if (oom) {
		vx__peer_job_free(j);
		return -ENOMEM;
	}
	pthread_mutex_lock(&p->mail_lock);
	if (p->stopping || p->nr_jobs >= VX_PEER_JOBS_MAX) {
		int rc = p->stopping ? -ESHUTDOWN : -ENOSPC;

		pthread_mutex_unlock(&p->mail_lock);
		vx__peer_job_free(j);
		return rc;
	}
	p->nr_jobs++;
	vx_list_add_tail(&p->inbox_jobs, &j->node);
	vx__peer_wake_locked(p);
	pthread_mutex_unlock(&p->mail_lock);
	if (out)
		*out = (struct vx_peer_job *)j;
	return 0;
}

void vx_peer_job_cancel(struct vx_peer *p, struct vx_peer_job *job)
{
	struct peer_job *j = (struct peer_job *)job;

	atomic_store(&j->cancelled, true);
	pthread_mutex_lock(&p->mail_lock);
	vx__peer_wake_locked(p);
	pthread_mutex_unlock(&p->mail_lock);
}

/* What the store says a task is doing, as the local API reports it. */
static enum vx_download_task_state task_state_of(enum vx_store_task_state s)
{
	switch (s) {
	case VX_STORE_TASK_DOWNLOADING:
		return VX_DOWNLOAD_TASK_RUNNING;
	case VX_STORE_TASK_COMPLETE:
		return VX_DOWNLOAD_TASK_DONE;
	case VX_STORE_TASK_FAILED:
	default:
		return VX_DOWNLOAD_TASK_FAILED;
	}
}

static void info_of(struct vx_store_task *st, struct vx_download_task *out, struct vx_peer_url *url)
{
	struct vx_store_task_info ti;

	vx_store_task_info(st, &ti);
	memset(out, 0, sizeof(*out));
	memcpy(out->task_id, ti.id, sizeof(out->task_id));
	snprintf(url->s, sizeof(url->s), "%s", VX_URL_SAFE(vx_store_task_url(st)));
	out->url = url->s[0] ? url->s : NULL;
	out->state = task_state_of(ti.state);
	out->content_length = (int64_t)ti.content_length;
	out->piece_count = ti.piece_count;
	out->pieces_done = ti.finished_count;
}

int vx_peer_stat(struct vx_peer *p, const char *task_id, struct vx_download_task *out,
		 struct vx_peer_url *url)
{
	struct vx_store_task *st;
	int rc;

	rc = vx_store_task_acquire(p->store, task_id, VX_STORE_USE_READ, &st);
	if (rc)
		return rc;
	info_of(st, out, url);
	vx_store_task_release(st, VX_STORE_USE_READ);
	return 0;
}

uint32_t vx_peer_list(struct vx_peer *p, struct vx_download_task *out, struct vx_peer_url *urls,
		      uint32_t max)
{
	struct vx_store_task_info *ti;
	uint32_t n, got = 0;

	if (!max)
		return vx_store_task_list(p->store, NULL, 0);
	ti = vx_calloc(max, sizeof(*ti));
	if (!ti)
		return 0;
	n = vx_store_task_list(p->store, ti, max);
	for (uint32_t i = 0; i < VX_MIN(n, max); i++) {
		if (vx_peer_stat(p, ti[i].id, &out[got], &urls[got]) == 0)
			got++;
	}
	vx_free(ti);
	return got;
}

int vx_peer_remove(struct vx_peer *p, const char *task_id)
{
	return vx_store_task_remove(p->store, task_id);
}
