/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_task.c: the task state machine of the peer (spec/peer.md section 3). Loop thread only.
 *
 * A task starts from a download request (a job), a seed trigger or a resume. It looks in the
 * store; asks the scheduler (or, without one, goes to the source); opens its content file once
 * the geometry is known; runs a persistent fetcher for parents and/or a source fetch on a
 * thread; learns of every finished piece through one store waiter (whoever wrote it), offers it
 * to children and reports it to the scheduler in batches; and when complete, hands the content
 * to each job (export, or stream).
 *
 *                          store holds it complete
 *   FREE --> LOOKUP ------------------------------------------------------------> COMPLETE
 *              | partial copy           | no copy, scheduler    | no scheduler        ^
 *              v                        v                       v                     |
 *           OPENING(then) <------- REGISTERING              OPENING(SOURCE)           |
 *              |   ^  \           |    |   \ WAIT, or parents                      |
 *              |   |   \-then-->  |    |    \ before the geometry                  |
 *              |   |   REGISTER    |    |     v                                       |
 *              |   +---------------+----+-- WAITING (re-registers, bounded: then the  |
 *              |     the content file       |          origin, or FAILED)             |
 *              |     is not open yet        |                                         |
 *              v                            v                                         |
 *           RUNNING: origin fetch thread and/or fetcher; every piece arrives through -+
 *                    the store waiter
 *   any live state --(source/store error, no parent and no back-to-source, last job
 *                     gone)--> FAILED;  COMPLETE, FAILED --(nothing refers to it)--> FREE
 *
 * Transitions and the functions that make them:
 *   FREE -> LOOKUP                     task_new()
 *   LOOKUP -> COMPLETE                 task_start(): the store holds a complete copy
 *   LOOKUP -> OPENING(REGISTER)        task_start() -> task_open(): a partial copy (resume)
 *   LOOKUP -> REGISTERING              task_register(): no copy, a scheduler is configured
 *   LOOKUP -> OPENING(SOURCE)          source_start(): no scheduler; stat, then open
 *   OPENING -> REGISTERING             open_done(): then REGISTER and a scheduler
 *   OPENING -> RUNNING                 open_done() -> source_start() / go_parents()
 *   OPENING -> COMPLETE                open_done() -> task_feed(): every piece was held
 *   REGISTERING -> OPENING / RUNNING   on_answer(): BACK_TO_SOURCE, PARENTS, EMPTY
 *   REGISTERING -> WAITING             on_answer(): WAIT, or parents before the geometry
 *   REGISTERING -> COMPLETE            task_feed(): a resumed task (content open) whose last
 *                                      pieces another writer finished while it registered
 *   REGISTERING -> OPENING / RUNNING   tick: no scheduler answers within 5 s: the origin
 *   WAITING -> OPENING                 on_answer() / on_event() / tick: the geometry is
 *                                      known, or the WAIT bound passed (the origin)
 *   RUNNING -> COMPLETE                task_feed() -> task_complete(): the last piece
 *   any live state -> FAILED           task_fail()
 *   COMPLETE, FAILED -> FREE           task_maybe_free()
 *
 * Every assignment of t->state goes through task_set_state(), which refuses a transition the
 * table below does not list and, in debug builds, checks task_invariants() after each one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "peer_int.h"
#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_bitmap.h"
#include "vx_digest.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_net.h"
#include "vx_piece_plan.h"
#include "vx_store_glue.h"
#include "vx_task_id.h"
#include "vx_time.h"
#include "vx_url.h"

static void task_fail(struct vx_peer *p, struct peer_task *t, int rc, enum vx_download_stage stage,
		      uint32_t source_status, const char *msg);
static void task_maybe_free(struct vx_peer *p, struct peer_task *t);
static void task_abandoned(struct vx_peer *p, struct peer_task *t);
static void task_complete(struct vx_peer *p, struct peer_task *t);
static void source_start(struct vx_peer *p, struct peer_task *t);

static uint64_t piece_len_of(const struct peer_task *t, uint32_t n)
{
	return vx_piece_size(n, t->content_length, t->piece_length);
}

/* ---------------------------------------------------------------- The state machine */

static const char *const state_names[TASK_STATES] = {
	[TASK_FREE] = "free",	      [TASK_LOOKUP] = "lookup",
	[TASK_OPENING] = "opening",   [TASK_REGISTERING] = "registering",
	[TASK_WAITING] = "waiting",   [TASK_RUNNING] = "running",
	[TASK_COMPLETE] = "complete", [TASK_FAILED] = "failed",
};

#define T_(s) (1u << (s))
/* legal[from] is the set of states a task may go to from @from (the diagram above). */
static const uint32_t legal[TASK_STATES] = {
	[TASK_FREE] = T_(TASK_LOOKUP),
	[TASK_LOOKUP] =
		T_(TASK_COMPLETE) | T_(TASK_OPENING) | T_(TASK_REGISTERING) | T_(TASK_FAILED),
	[TASK_OPENING] =
		T_(TASK_REGISTERING) | T_(TASK_RUNNING) | T_(TASK_COMPLETE) | T_(TASK_FAILED),
	[TASK_REGISTERING] = T_(TASK_OPENING) | T_(TASK_RUNNING) | T_(TASK_WAITING) |
			     T_(TASK_COMPLETE) | T_(TASK_FAILED),
	[TASK_WAITING] = T_(TASK_OPENING) | T_(TASK_FAILED),
	[TASK_RUNNING] = T_(TASK_COMPLETE) | T_(TASK_FAILED),
	[TASK_COMPLETE] = T_(TASK_FREE),
	[TASK_FAILED] = T_(TASK_FREE),
};
#undef T_

static bool task_final(const struct peer_task *t)
{
	return t->state == TASK_COMPLETE || t->state == TASK_FAILED;
}

static bool task_live(const struct peer_task *t)
{
	return t->state != TASK_FREE && !task_final(t);
}

/*
 * The invariants of spec/peer.md section 3, true after every transition (and between events).
 * Returns true, or logs the first that is broken and returns false, so that
 * VX_DASSERT(task_invariants(t)) names it.
 */
#define INV(cond)                                                                    \
	do {                                                                         \
		if (!(cond)) {                                                       \
			vx_err("peer: task %.12s (%s): invariant broken: %s", t->id, \
			       state_names[t->state], #cond);                        \
			return false;                                                \
		}                                                                    \
	} while (0)

static bool task_invariants(const struct peer_task *t)
{
	const enum peer_task_state s = t->state;

	if (s == TASK_FREE)
		return true;
	INV(s < TASK_STATES);
	INV(strlen(t->id) == VX_TASK_ID_LEN);
	/* the geometry: set once, consistent; the tables exist exactly while the content is open */
	INV(!task_has_geometry(t) ||
	    t->piece_count == vx_piece_count(t->content_length, t->piece_length));
	INV(!t->st || (task_has_geometry(t) && t->done && t->from_fetcher && t->trusted && t->crc &&
		       t->pending && t->scratch_bits));
	INV(t->pieces_done <= t->piece_count && t->prefix <= t->pieces_done);
	INV(t->bytes_done <= t->content_length || !task_has_geometry(t));
	INV(t->nr_pending <= t->piece_count);
	INV(!t->early || !t->crc);
	/* at most one open and one origin fetch; an open runs only while OPENING (or after a
	 * failure, until it comes back), an origin fetch only with the content open */
	INV((s == TASK_OPENING) == !!(t->busy & TASK_BUSY_OPEN) || s == TASK_FAILED);
	INV(s != TASK_OPENING || !t->st);
	INV(!(t->busy & TASK_BUSY_FETCH) || (t->st && (s == TASK_RUNNING || task_final(t))));
	/* the fetcher and the origin fetch exist only while the store task does */
	INV(!t->fetcher || t->st);
	INV(s != TASK_RUNNING || t->st);
	INV(s != TASK_WAITING || (!t->st && t->link == LINK_ANSWERED));
	INV(s != TASK_REGISTERING || t->link == LINK_SENT);
	INV(s != TASK_LOOKUP || (!t->st && !t->busy));
	INV(s != TASK_COMPLETE || (task_has_geometry(t) && t->pieces_done == t->piece_count));
	INV(t->link != LINK_FINISHED || s == TASK_COMPLETE);
	INV(!t->origin || t->link != LINK_IDLE);
	return true;
}
#undef INV

/* The one place a task changes state: refuses an illegal transition, checks the invariants. */
static void task_set_state(struct peer_task *t, enum peer_task_state to)
{
	const enum peer_task_state from = t->state;

	VX_ASSERT(from < TASK_STATES && to < TASK_STATES);
	if (!(legal[from] & (1u << to))) {
		vx_err("peer: task %.12s: illegal transition %s -> %s", t->id, state_names[from],
		       state_names[to]);
		VX_ASSERT(!"illegal task state transition");
	}
	vx_debug("peer: task %.12s: %s -> %s", t->id, state_names[from], state_names[to]);
	t->state = to;
	vx__peer_metrics_task(t, from, to);
	memset(&t->in, 0, sizeof(t->in));
	if (to != TASK_FREE)
		VX_DASSERT(task_invariants(t));
}

struct peer_task *vx__peer_task_find(struct vx_peer *p, const char *id)
{
	for (uint32_t i = 0; i < VX_PEER_TASKS_MAX; i++) {
		if (p->tasks[i].state != TASK_FREE &&
		    memcmp(p->tasks[i].id, id, VX_TASK_ID_LEN) == 0)
			return &p->tasks[i];
	}
	return NULL;
}

/*
 * A local file's task stays on this host: it is never registered with a scheduler (nobody is
 * sent to it, no seed is triggered for it) and the upload server never serves it
 * (vx_store_glue_source_ops(): a file:// task is not found there). Its bytes are the file of
 * the client who asked, read with that client's rights (spec/peer.md, "Local files").
 */
static bool task_url_local(const char *url)
{
	char path[8];

	return url && vx_source_file_path(url, path, sizeof(path)) != 0;
}

static struct peer_task *task_new(struct vx_peer *p, const char *id, const char *url,
				  enum peer_task_cause cause)
{
	struct peer_task *t = NULL;

	for (uint32_t i = 0; i < VX_PEER_TASKS_MAX && !t; i++) {
		if (p->tasks[i].state == TASK_FREE)
			t = &p->tasks[i];
	}
	if (!t)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->url = url ? vx_strdup(url) : NULL;
	if (url && !t->url)
		return NULL;
	t->cause = cause;
	t->peer = p;
	vx_rate_init(&t->rate, p->cfg.rates.task_bps, VX_SOURCE_CHUNK_MAX);
	vx_rate_init(&t->source_rate, 0, VX_SOURCE_CHUNK_MAX);
	t->slot = (uint32_t)(t - p->tasks);
	t->gen = ++p->gen;
	memcpy(t->id, id, VX_TASK_ID_LEN);
	t->id[VX_TASK_ID_LEN] = '\0';
	t->content_fd = -1;
	t->src_fd = -1;
	t->link = p->sc && !task_url_local(url) ? LINK_IDLE : LINK_NONE;
	vx_list_init(&t->jobs);
	atomic_init(&t->cancel_source, false);
	atomic_init(&t->from_source, 0);
	task_set_state(t, TASK_LOOKUP);
	return t;
}

/* ---------------------------------------------------------------- Jobs */

void vx__peer_job_free(struct peer_job *j)
{
	vx__peer_probe_detach(j);
	vx__peer_headers_free(j->headers, j->nr_headers);
	for (uint32_t i = 0; j->filtered && i < j->nr_filtered; i++)
		vx_free(j->filtered[i]);
	vx_free(j->filtered);
	vx_free(j->url);
	vx_store_output_unref(j->early);
	if (j->out_dirfd >= 0)
		close(j->out_dirfd);
	if (j->src_fd >= 0)
		close(j->src_fd);
	vx_free(j->output);
	vx_free(j->digest);
	vx_free(j->tag);
	vx_free(j->app);
	vx_free(j->id_content);
	vx_free(j);
}

static void job_counters(struct peer_job *j, struct vx_download_progress *pr)
{
	struct peer_task *t = j->task;

	memset(pr, 0, sizeof(*pr));
	pr->elapsed_ms = vx_now_ms() - j->start_ms;
	pr->reused = j->reused;
	if (!t)
		return;
	memcpy(pr->task_id, t->id, VX_TASK_ID_LEN + 1);
	pr->content_length = t->content_length;
	pr->piece_count = t->piece_count;
	pr->pieces_done = t->pieces_done;
	pr->bytes_done = t->bytes_done;
	pr->from_peers = t->from_peers - j->base_peers;
	pr->from_source = atomic_load(&t->from_source) - j->base_source;
	pr->contiguous = VX_MIN((uint64_t)t->prefix * t->piece_length, t->content_length);
	pr->received = atomic_load(&t->source_seen);
	if (t->fetcher) {
		struct vx_fetcher_stats fs;

		vx_fetcher_stats(t->fetcher, &fs);
		pr->received += fs.bytes_received;
	}
}

/* Calls done() and forgets @j. */
void vx__peer_job_finish(struct vx_peer *p, struct peer_job *j)
{
	struct peer_task *t = j->task;

	if (t)
		vx_list_del(&j->node);
	job_counters(j, &j->res.totals);
	if (t) {
		memcpy(j->res.task_id, t->id, VX_TASK_ID_LEN + 1);
		j->res.piece_length = t->piece_length;
	}
	if (!j->res.status)
		j->res.stage = VX_DOWNLOAD_STAGE_DONE;
	j->ops.done(j->arg, &j->res);
	pthread_mutex_lock(&p->mail_lock);
	p->nr_jobs--;
	pthread_mutex_unlock(&p->mail_lock);
	vx__peer_job_free(j);
	if (t && vx_list_empty(&t->jobs) && task_live(t))
		task_abandoned(p, t);
	if (t)
		task_maybe_free(p, t);
}

void vx__peer_job_fail(struct vx_peer *p, struct peer_job *j, int rc, enum vx_download_stage stage,
		       const char *fmt, ...)
{
	va_list ap;

	j->res.status = rc;
	j->res.stage = stage;
	va_start(ap, fmt);
	vsnprintf(j->res.msg, sizeof(j->res.msg), fmt, ap);
	va_end(ap);
	vx__peer_job_finish(p, j);
}

static void job_progress(struct peer_job *j, bool force)
{
	struct vx_download_progress pr;
	uint64_t now = vx_now_ms();

	if (!j->ops.progress || (!force && now - j->last_progress_ms < PEER_JOB_PROGRESS_MS))
		return;
	j->last_progress_ms = now;
	job_counters(j, &pr);
	j->ops.progress(j->arg, &pr);
}

/*
 * Whether @j may read @t's bytes now. A private task's bytes go only to a job whose access is
 * proven at the origin (a remembered proof, or a probe it starts here: the probe's answer
 * comes back through vx__peer_access_proved()). peer_access.c says why.
 */
static bool job_may_read(struct vx_peer *p, struct peer_task *t, struct peer_job *j)
{
	if (!t->priv || j->access_ok)
		return true;
	if (j->probe)
		return false;
	if (vx__peer_access_cached(p, j->access_key, t->id)) {
		j->access_ok = true;
		return true;
	}
	j->probe_retry = vx__peer_probe_start(p, j) != 0; /* the tick tries again */
	return false;
}

/* The task turned out private: start the jobs' access proofs now, before any byte is due. */
static void task_check_access(struct vx_peer *p, struct peer_task *t)
{
	struct vx_list *pos;

	vx_list_for_each(pos, &t->jobs) {
		(void)job_may_read(p, t, vx_list_entry(pos, struct peer_job, node));
	}
}

/* Keeps the private mark in the store (once), so a restarted daemon still asks for proofs. */
static void task_store_private(struct peer_task *t)
{
	if (!t->priv || t->priv_stored || !t->st)
		return;
	if (vx_store_task_set_private(t->st) == 0)
		t->priv_stored = true;
	else
		vx_warn("peer: task %.12s: cannot store the private mark", t->id);
}

static void task_make_private(struct vx_peer *p, struct peer_task *t)
{
	if (t->priv)
		return;
	t->priv = true;
	task_store_private(t);
	task_check_access(p, t);
}

/* The task's content file for stream-mode readers, opened once (read-only). */
static void task_open_content_fd(struct vx_peer *p, struct peer_task *t)
{
	char path[4200];

	if (t->content_fd >= 0)
		return;
	snprintf(path, sizeof(path), "%s/content/tasks/%.3s/%s", p->data_dir, t->id, t->id);
	t->content_fd = open(path, O_RDONLY | O_CLOEXEC);
}

/*
 * Stream mode: hand the content file to @j once it exists. A file:// source the daemon opened
 * with its client's rights is handed out instead: the client reads only what it may read.
 */
static void job_send_fd(struct peer_task *t, struct peer_job *j)
{
	if (j->output || j->fd_sent || t->content_fd < 0 || !j->ops.content_fd)
		return;
	/* a memory job's reader waits for the export step: the memory copy, or this file when
	 * no copy could be made (job_send_memory()) */
	if (j->memory && !j->exporting)
		return;
	if (!job_may_read(t->peer, t, j))
		return;
	j->fd_sent = true;
	j->ops.content_fd(j->arg, j->src_fd >= 0 ? j->src_fd : t->content_fd);
}

/*
 * A daemon that is not root, for a client of another uid (not root): it cannot take the
 * client's rights, so it does only what cannot lend it its own (spec/peer.md, "Acting for a
 * client"): no file:// source, an output only in a directory the client owns or everyone may
 * write, never over a file of someone else.
 */
static bool job_foreign(const struct peer_job *j)
{
	return !j->as_client && j->uid != 0 && j->uid != (uint32_t)geteuid();
}

/*
 * Opens @j's output directory once (O_PATH) and checks the output there before anything is
 * fetched, so a bad path fails at once; the export later acts beneath this descriptor only.
 * Runs with the client's rights when the daemon acts for one (job_open_files()).
 */
static int check_output(struct peer_job *j, char *msg, size_t len)
{
	struct stat st;
	int fd;

	if (!j->output)
		return 0;
	if (!*j->output || strlen(j->output) >= 4096) {
		snprintf(msg, len, "output path is empty or too long");
		return -EINVAL;
	}
	fd = vx_store_open_output_dir(j->output, &j->out_name);
	if (fd == -EINVAL) {
		snprintf(msg, len, "output '%.400s' is not a file name", j->output);
		return fd;
	}
	if (fd < 0) {
		snprintf(msg, len, "output directory of '%.400s': %s%s", j->output, vx_strerror(fd),
			 fd == -EACCES && j->as_client ? " (for the client)" : "");
		return fd;
	}
	j->out_dirfd = fd;
	if (fstatat(fd, j->out_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode)) {
			snprintf(msg, len, "output '%.400s' is a directory", j->output);
			return -EISDIR;
		}
		if (!j->overwrite) {
			snprintf(msg, len, "output '%.400s' exists (use --overwrite)", j->output);
			return -EEXIST;
		}
		if ((j->as_client || job_foreign(j)) && st.st_uid != j->uid) {
			/* replaced for a client only when the client owns it (sticky /tmp) */
			snprintf(msg, len, "output '%.400s' belongs to another user", j->output);
			return -EACCES;
		}
	}
	if (job_foreign(j) &&
	    (fstat(fd, &st) != 0 || (st.st_uid != j->uid && !(st.st_mode & S_IWOTH)))) {
		snprintf(msg, len,
			 "output directory of '%.400s' is neither uid %u's nor writable by "
			 "everyone: "
			 "a daemon of another user writes for it only there",
			 j->output, j->uid);
		return -EACCES;
	}
	/* AT_EACCESS: the thread's filesystem credentials, the client's when acting for one */
	if (faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) != 0) {
		int rc = -errno;

		if (j->as_client)
			snprintf(msg, len, "output directory of '%.400s' is not writable by uid %u",
				 j->output, j->uid);
		else
			snprintf(msg, len, "output directory of '%.400s' is not writable: %s",
				 j->output, vx_strerror(rc));
		return rc;
	}
	return 0;
}

/*
 * A file:// source of a job the daemon runs for a client: opened here with the client's
 * rights, so a client gets only a file it may read itself (the export compares the task's
 * bytes with this descriptor's, and stream mode hands out this descriptor).
 */
static int open_source(struct peer_job *j, char *msg, size_t len)
{
	char path[4096];
	struct stat st;
	int rc;

	rc = vx_source_file_path(j->url, path, sizeof(path));
	if (rc < 0) {
		snprintf(msg, len, "'%.400s' names no local file", j->url);
		return rc;
	}
	if (rc == 0)
		return 0; /* not file:// (an unparsable URL is refused by the source as well) */
	j->src_fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (j->src_fd < 0) {
		rc = -errno;
		snprintf(msg, len, "uid %u may not read '%.400s': %s", j->uid, path,
			 vx_strerror(rc));
		return rc;
	}
	if (fstat(j->src_fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		snprintf(msg, len, "'%.400s' is not a regular file", path);
		return -EINVAL;
	}
	return 0;
}

/*
 * A file:// source opened for a client: a task this job creates reads the file through this
 * descriptor (a copy, @keep), never through the path again, so a path swapped after the check
 * cannot make the daemon read another file into its store with root's rights.
 */
static int job_keep_source(struct peer_job *j, int *keep, enum vx_download_stage *stage, char *msg,
			   size_t len)
{
	*keep = -1;
	if (j->src_fd < 0)
		return 0;
	*keep = fcntl(j->src_fd, F_DUPFD_CLOEXEC, 3);
	if (*keep >= 0)
		return 0;
	*stage = VX_DOWNLOAD_STAGE_SOURCE;
	snprintf(msg, len, "cannot keep the file open: %s", vx_strerror(-errno));
	return -errno;
}

/* @t (new) reads its source through @fd (taken) rather than its URL's path. */
static void task_read_from(struct peer_task *t, int fd)
{
	snprintf(t->src_url, sizeof(t->src_url), "file:///proc/self/fd/%d", fd);
	t->src_fd = fd;
}

/*
 * The output's file, made now with the rights the export would use, so the fetcher writes
 * every piece there as well as to the store while it holds the piece's bytes (issue 19 goal
 * 4; vx_store_output_open()). Not for a memory job or a file:// source (the export compares
 * with the client's descriptor). Failing here only costs the copy at the export.
 */
static void job_open_early_output(struct peer_job *j)
{
	int rc;

	if (!j->output || j->memory || j->src_fd >= 0 || j->out_dirfd < 0)
		return;
	rc = vx_store_output_open(j->out_dirfd, j->out_name, &j->early);
	if (rc)
		vx_debug("peer: output of %.12s written after the download: %s", j->request_id,
			 vx_strerror(rc));
}

/*
 * Opens what @j touches on this host before anything is fetched: the output's directory, and
 * for a client of a root daemon a file:// source, both with the client's rights then (this
 * thread only, switched back before return). Fills @stage with where a failure belongs.
 */
static int job_open_files(struct peer_job *j, enum vx_download_stage *stage, char *msg, size_t len)
{
	struct peer_creds_saved *saved = NULL;
	int rc = 0;

	if (j->as_client) {
		saved = vx_malloc(sizeof(*saved));
		rc = saved ? vx__peer_creds_enter(j, saved) : -ENOMEM;
		if (rc) {
			vx_free(saved);
			*stage = VX_DOWNLOAD_STAGE_REQUEST;
			snprintf(msg, len, "the daemon cannot act as uid %u: %s", j->uid,
				 vx_strerror(rc));
			return rc;
		}
		*stage = VX_DOWNLOAD_STAGE_SOURCE;
		rc = open_source(j, msg, len);
	} else if (job_foreign(j) && task_url_local(j->url)) {
		*stage = VX_DOWNLOAD_STAGE_SOURCE;
		snprintf(msg, len,
			 "this daemon runs as uid %u and cannot read files with uid %u's rights: "
			 "file:// sources are refused for other users",
			 (unsigned)geteuid(), j->uid);
		rc = -EACCES;
	}
	if (!rc) {
		*stage = VX_DOWNLOAD_STAGE_OUTPUT;
		rc = check_output(j, msg, len);
	}
	if (!rc)
		job_open_early_output(j);
	if (saved) {
		vx__peer_creds_leave(saved);
		vx_free(saved);
	}
	return rc;
}

/*
 * Stream mode with memory: the sealed memory copy (read-only), or the content file when the
 * copy could not be made (memory short) or the job reads a file:// source with its own rights.
 */
static void job_send_memory(struct vx_peer *p, struct peer_task *t, struct peer_job *j,
			    const struct peer_work *w)
{
	if (w->mem_fd < 0 || j->src_fd >= 0) {
		task_open_content_fd(p, t);
		job_send_fd(t, j);
		return;
	}
	if (j->fd_sent || !j->ops.content_fd || !job_may_read(p, t, j))
		return;
	j->fd_sent = true;
	j->ops.content_fd(j->arg, w->mem_fd); /* borrowed: the API server dups it */
}

void vx__peer_task_to_memory(struct vx_peer *p, struct peer_task *t)
{
	if (!t->to_memory || t->state != TASK_COMPLETE || (t->busy & TASK_BUSY_MEMORY))
		return;
	if (vx__peer_work_start(p, t, NULL, WORK_MEMORY, false) == 0)
		t->busy |= TASK_BUSY_MEMORY;
	else
		vx_warn("peer: task %.12s: cannot start its load to memory", t->id);
}

/* The task is complete: give @j its content. */
static void job_deliver(struct vx_peer *p, struct peer_task *t, struct peer_job *j)
{
	if (j->exporting || !job_may_read(p, t, j))
		return;
	if (!j->output && !j->memory) {
		/* a task the store held complete was never opened here: the reader needs it */
		task_open_content_fd(p, t);
		job_send_fd(t, j);
	}
	if (!j->output && !j->digest && !j->memory) {
		job_progress(j, true);
		vx__peer_job_finish(p, j);
		return;
	}
	j->exporting = true;
	job_progress(j, true);
	if (vx__peer_work_start(p, t, j, WORK_EXPORT, false))
		vx__peer_job_fail(p, j, -ENOMEM, VX_DOWNLOAD_STAGE_EXPORT,
				  "cannot start the export thread");
}

/* ---------------------------------------------------------------- Scheduler */

/* @status (FAILED only, else 0): why; -EPERM/-EACCES tell a seed's refusal from a failure. */
static void send_simple(struct vx_peer *p, struct peer_task *t, enum vx_ctl_type type,
			const char *error, int status)
{
	struct vx_ctl_msg m = { 0 };

	if (t->link == LINK_NONE)
		return;
	m.type = type;
	m.task_id = (struct vx_ctl_str){ t->id, VX_TASK_ID_LEN };
	m.has = VX_CTL_F_TASK_ID;
	if (error) {
		m.error = vx_ctl_str_of(error);
		m.has |= VX_CTL_F_ERROR;
	}
	if (status < 0 && status >= VX_CTL_STATUS_MIN) {
		m.status = status;
		m.has |= VX_CTL_F_STATUS;
	}
	(void)vx__peer_sched_send(p, &m);
}

static void task_register(struct vx_peer *p, struct peer_task *t)
{
	struct vx_sched_client_task rt = { 0 };
	struct vx_ctl_str filt[VX_CTL_FILTERS_MAX];
	int rc;

	rt.task_id = (struct vx_ctl_str){ t->id, VX_TASK_ID_LEN };
	rt.url = vx_ctl_str_of(t->url);
	vx__peer_source_reg(t, &rt, filt);
	rt.piece_len = task_has_geometry(t) ? t->piece_length : t->user_piece_length;
	rt.content_len = task_has_geometry(t) ? (int64_t)t->content_length : -1;
	rt.need_bts = t->cause == CAUSE_TRIGGER;
	rt.priv = t->priv;
	rc = vx_sched_client_register(p->sc, &rt, NULL, NULL);
	if (rc) {
		vx_warn("peer: task %.12s: cannot register: %s", t->id, vx_strerror(rc));
		t->link = LINK_NONE; /* go to the source instead */
		source_start(p, t);
		return;
	}
	if (t->state == TASK_WAITING)
		return; /* a re-register: the answer comes as before */
	t->link = LINK_SENT;
	task_set_state(t, TASK_REGISTERING);
	t->in.registering.since_ms = vx_now_ms();
}

/* Sends the first @nd entries of p->dig as one progress with the origin's geometry. */
static int send_digests(struct vx_peer *p, struct peer_task *t, uint32_t nd)
{
	struct vx_ctl_msg m = { 0 };

	m.type = VX_CTL_PROGRESS;
	m.task_id = (struct vx_ctl_str){ t->id, VX_TASK_ID_LEN };
	m.digests = p->dig;
	m.nr_digests = nd;
	m.content_len = (int64_t)t->content_length;
	m.piece_len = t->piece_length;
	m.has = VX_CTL_F_TASK_ID | VX_CTL_F_DIGESTS | VX_CTL_F_CONTENT_LEN | VX_CTL_F_PIECE_LEN;
	return vx__peer_sched_send(p, &m);
}

/* Sends the pieces finished since the last report (and digests when we are an origin). */
static void task_report(struct vx_peer *p, struct peer_task *t)
{
	struct vx_ctl_msg m = { 0 };
	uint32_t lo = UINT32_MAX, hi = 0, nd = 0, nbytes;
	int rc;

	if (t->link < LINK_ANSWERED || !t->st)
		return;
	if (t->origin && t->resend_digests) {
		/* a new origin (or one after a failover) reports every digest it holds */
		for (uint32_t n = 0; n < t->piece_count; n++) {
			struct vx_store_piece_ref ref;

			if (!vx_bit_get(t->done, n) || vx_store_piece_get(t->st, n, &ref) != 0)
				continue;
			snprintf(p->dig_str[nd], sizeof(p->dig_str[nd]), "crc32:%u", ref.crc32);
			p->dig[nd].piece = n;
			p->dig[nd].digest = vx_ctl_str_of(p->dig_str[nd]);
			if (++nd == PEER_DIGESTS_PER_MSG) {
				if (send_digests(p, t, nd))
					return; /* try again at the next tick */
				nd = 0;
			}
		}
		if (nd && send_digests(p, t, nd))
			return;
		nd = 0;
		t->resend_digests = false;
	}
	if (!t->nr_pending && !t->nr_costs)
		return;
	memset(&m, 0, sizeof(m));
	m.type = VX_CTL_PROGRESS;
	m.task_id = (struct vx_ctl_str){ t->id, VX_TASK_ID_LEN };
	m.has = VX_CTL_F_TASK_ID;
	for (uint32_t i = 0; i < t->nr_pending; i++) {
		lo = VX_MIN(lo, t->pending[i]);
		hi = VX_MAX(hi, t->pending[i]);
	}
	if (t->nr_pending) {
		lo &= ~7u; /* byte-aligned base keeps the bitmap simple */
		nbytes = (hi - lo) / 8 + 1;
		memset(t->scratch_bits, 0, nbytes);
		for (uint32_t i = 0; i < t->nr_pending; i++)
			vx_bit_set(t->scratch_bits, t->pending[i] - lo);
		m.bitmap_base = lo;
		m.bitmap = t->scratch_bits;
		m.bitmap_len = nbytes;
		m.has |= VX_CTL_F_BITMAP;
	}
	if (t->origin) {
		for (uint32_t i = 0; i < t->nr_pending && nd < PEER_DIGESTS_PER_MSG; i++) {
			struct vx_store_piece_ref ref;

			if (vx_store_piece_get(t->st, t->pending[i], &ref) != 0)
				continue;
			snprintf(p->dig_str[nd], sizeof(p->dig_str[nd]), "crc32:%u", ref.crc32);
			p->dig[nd].piece = t->pending[i];
			p->dig[nd].digest = vx_ctl_str_of(p->dig_str[nd]);
			nd++;
		}
		if (nd) {
			m.digests = p->dig;
			m.nr_digests = nd;
			m.has |= VX_CTL_F_DIGESTS;
		}
		m.content_len = (int64_t)t->content_length;
		m.piece_len = t->piece_length;
		m.has |= VX_CTL_F_CONTENT_LEN | VX_CTL_F_PIECE_LEN;
	}
	if (t->nr_costs) {
		m.costs = t->costs;
		m.nr_costs = t->nr_costs;
		m.has |= VX_CTL_F_COSTS;
	}
	rc = vx__peer_sched_send(p, &m);
	if (rc)
		return; /* kept for the next tick */
	t->nr_pending = 0;
	t->nr_costs = 0;
	t->last_report_ms = vx_now_ms();
}

/* ---------------------------------------------------------------- Geometry and parents */

static void trust(struct peer_task *t, uint32_t piece, uint32_t crc)
{
	if (piece >= t->piece_count || vx_bit_get(t->trusted, piece))
		return;
	t->crc[piece] = crc;
	vx_bit_set(t->trusted, piece);
	if (t->fetcher)
		vx_fetcher_trust(t->fetcher, piece, crc);
}

/* Digests of a manifest: trusted at once, or kept until the geometry is known. */
static void take_digests(struct peer_task *t, const struct vx_ctl_msg *m)
{
	for (uint32_t i = 0; i < m->nr_digests; i++) {
		uint32_t crc;

		if (vx_digest_parse_crc32(m->digests[i].digest.ptr, m->digests[i].digest.len, &crc))
			continue;
		if (t->crc) {
			trust(t, m->digests[i].piece, crc);
			continue;
		}
		if (t->nr_early == t->cap_early) {
			uint32_t cap = t->cap_early ? t->cap_early * 2 : 256;
			struct peer_digest *nd;

			if (cap > VX_STORE_PIECES_MAX)
				return;
			nd = vx_realloc(t->early, cap * sizeof(*nd));
			if (!nd)
				return;
			t->early = nd;
			t->cap_early = cap;
		}
		t->early[t->nr_early++] = (struct peer_digest){ m->digests[i].piece, crc };
	}
}

static void fx_on_piece(void *arg, uint32_t number)
{
	struct peer_task *t = arg;

	if (number < t->piece_count && !vx_bit_get(t->from_fetcher, number)) {
		vx_bit_set(t->from_fetcher, number);
		t->from_peers += piece_len_of(t, number);
		vx_metric_add(&vx_m_download_bytes, VX_M_SRC_PEER,
			      (int64_t)piece_len_of(t, number));
	}
	if (t->state == TASK_RUNNING) {
		t->in.running.last_piece_ms = vx_now_ms();
		t->in.running.wait_since_ms = 0; /* parents serve: not waiting */
		t->in.running.parent_fails = 0;
	}
}

static void fx_on_piece_from(void *arg, uint32_t number, uint32_t parent, uint64_t bytes,
			     uint64_t cost_us)
{
	struct peer_task *t = arg;
	const char *id;
	uint32_t i;

	(void)number;
	if (parent >= VX_ARRAY_SIZE(t->parent_ids))
		return;
	id = t->parent_ids[parent];
	for (i = 0; i < t->nr_costs; i++) {
		if (strcmp(t->cost_ids[i], id) == 0)
			break;
	}
	if (i == t->nr_costs) {
		if (t->nr_costs == PEER_COSTS_MAX)
			return;
		memcpy(t->cost_ids[i], id, strnlen(id, sizeof(t->cost_ids[i]) - 1));
		t->cost_ids[i][strnlen(id, sizeof(t->cost_ids[i]) - 1)] = '\0';
		t->costs[i] = (struct vx_ctl_cost){ .host_id = vx_ctl_str_of(t->cost_ids[i]) };
		t->nr_costs++;
	}
	t->costs[i].pieces++;
	t->costs[i].bytes += bytes;
	t->costs[i].cost_us += cost_us;
}

/*
 * Remembers parent @id, dropped for a stall, so the next reschedules ask the scheduler for
 * others and answers pushed to this task skip it for PEER_AVOID_MS: the scheduler would offer
 * the same host again (it learns only of liars, which it stops offering to everyone), and the
 * task would dial it, wait out another piece timeout and drop it again. The oldest entry
 * makes room.
 */
static void avoid_parent(struct peer_task *t, const char *id, uint64_t now)
{
	uint32_t slot = 0;

	if (!id[0])
		return;
	for (uint32_t i = 0; i < PEER_AVOID_MAX; i++) {
		if (t->avoid_until[i] && strcmp(t->avoid_ids[i], id) == 0) {
			slot = i;
			break;
		}
		if (t->avoid_until[i] < t->avoid_until[slot])
			slot = i;
	}
	snprintf(t->avoid_ids[slot], sizeof(t->avoid_ids[slot]), "%s", id);
	t->avoid_until[slot] = now + PEER_AVOID_MS;
}

/* Whether parent @id is one @t avoids now (avoid_parent()). */
static bool avoided(const struct peer_task *t, const char *id, uint64_t now)
{
	for (uint32_t i = 0; i < PEER_AVOID_MAX; i++) {
		if (t->avoid_until[i] > now && strcmp(t->avoid_ids[i], id) == 0)
			return true;
	}
	return false;
}

static void request_parents(struct vx_peer *p, struct peer_task *t)
{
	struct vx_ctl_str avoid[PEER_AVOID_MAX];
	struct vx_ctl_msg m = { 0 };
	uint64_t now = vx_now_ms();

	if (t->link < LINK_ANSWERED || t->state != TASK_RUNNING ||
	    now - t->in.running.last_resched_ms < 1000)
		return;
	t->in.running.last_resched_ms = now;
	m.type = VX_CTL_RESCHEDULE;
	m.task_id = (struct vx_ctl_str){ t->id, VX_TASK_ID_LEN };
	m.has = VX_CTL_F_TASK_ID;
	for (uint32_t i = 0; i < PEER_AVOID_MAX; i++) {
		if (t->avoid_until[i] > now)
			avoid[m.nr_avoid++] = vx_ctl_str_of(t->avoid_ids[i]);
	}
	if (m.nr_avoid) {
		m.avoid = avoid;
		m.has |= VX_CTL_F_AVOID;
	}
	(void)vx__peer_sched_send(p, &m);
}

static void fx_on_no_parents(void *arg)
{
	struct peer_task *t = arg;

	if (t->state == TASK_RUNNING)
		t->in.running.last_resched_ms = 0; /* ask at the next tick */
}

/*
 * A parent that sent bytes failing the trusted digest, or spoke garbage (a BITFIELD for
 * another task, a reserved tag), is reported to the scheduler as a mismatch (spec/control.md
 * section 7), so it stops being offered to every peer of the task, not only to this one. The
 * fetcher's drop does not name the piece; the scheduler does not use it (0 is sent).
 * A stalled or unreachable parent may only be slow or gone: the reschedule replaces it.
 */
static void report_liar(struct peer_task *t, const char *parent_id)
{
	struct vx_ctl_msg m = { 0 };
	int rc;

	if (t->link < LINK_ANSWERED || !parent_id[0])
		return;
	m.type = VX_CTL_MISMATCH;
	m.task_id = (struct vx_ctl_str){ t->id, VX_TASK_ID_LEN };
	m.parent = vx_ctl_str_of(parent_id);
	m.piece = 0;
	m.has = VX_CTL_F_TASK_ID | VX_CTL_F_PARENT | VX_CTL_F_PIECE;
	rc = vx__peer_sched_send(t->peer, &m);
	vx_info("peer: task %.12s: parent %s reported to the scheduler%s%s", t->id, parent_id,
		rc ? ": " : "", rc ? vx_strerror(rc) : "");
}

static void fx_on_dropped(void *arg, uint32_t index, enum vx_fetch_drop why, int err)
{
	struct peer_task *t = arg;
	const char *id = index < VX_ARRAY_SIZE(t->parent_ids) ? t->parent_ids[index] : "?";

	vx_info("peer: task %.12s: parent %s dropped (%d): %s", t->id, id, why, vx_strerror(err));
	if (why == VX_FETCH_DROP_DIGEST || why == VX_FETCH_DROP_PROTOCOL ||
	    why == VX_FETCH_DROP_NOT_FOUND)
		report_liar(t, index < VX_ARRAY_SIZE(t->parent_ids) ? id : "");
	else if (why == VX_FETCH_DROP_STALL && !t->no_bts && index < VX_ARRAY_SIZE(t->parent_ids))
		avoid_parent(t, id, vx_now_ms()); /* a task without the source keeps trying it */
	if (t->state == TASK_RUNNING) {
		t->in.running.last_resched_ms = 0; /* ask for a replacement at the next tick */
		t->in.running.parent_fails++;
	}
}

static void fx_on_done(void *arg, int status)
{
	struct peer_task *t = arg;

	if (status && status != -ECANCELED)
		vx_warn("peer: task %.12s: fetcher stopped: %s", t->id, vx_strerror(status));
}

static void add_parent(struct peer_task *t, const struct peer_cand *c)
{
	int idx;

	/* the scheduler's pushed answers (EV_PARENTS) do not know what this task avoids */
	if (avoided(t, c->host_id, vx_now_ms())) {
		vx_debug("peer: task %.12s: parent %s not added: dropped less than %u s ago", t->id,
			 c->host_id, PEER_AVOID_MS / 1000);
		return;
	}
	idx = vx_fetcher_add_parent(t->fetcher, (const struct sockaddr *)&c->addr, c->addr_len,
				    c->host_id);
	if (idx >= 0 && (uint32_t)idx < VX_ARRAY_SIZE(t->parent_ids))
		snprintf(t->parent_ids[idx], sizeof(t->parent_ids[idx]), "%s", c->host_id);
	else if (idx == -EAGAIN && t->nr_cands < PEER_PENDING_CANDS)
		t->cands[t->nr_cands++] = *c; /* a slot is still closing: the tick retries */
	else if (idx < 0 && idx != -EPERM)
		vx_debug("peer: task %.12s: parent %s not added: %s", t->id, c->host_id,
			 vx_strerror(idx));
}

/* Candidates that found every fetcher slot still closing are offered again. */
static void retry_cands(struct peer_task *t)
{
	struct peer_cand again[PEER_PENDING_CANDS];
	uint32_t n = t->nr_cands;

	memcpy(again, t->cands, n * sizeof(again[0]));
	t->nr_cands = 0;
	for (uint32_t i = 0; i < n; i++)
		add_parent(t, &again[i]);
}

/*
 * A job that reads the content as its prefix grows (vx get -O -, the registry mirror): no
 * output file, the content fd instead.
 */
static bool task_has_reader(struct peer_task *t)
{
	struct vx_list *pos;

	vx_list_for_each(pos, &t->jobs) {
		struct peer_job *j = vx_list_entry(pos, struct peer_job, node);

		if (!j->output && j->ops.content_fd)
			return true;
	}
	return false;
}

static void mirror_done(void *ctx, uint32_t number)
{
	vx_store_output_piece_done(ctx, number);
}

static void mirror_release(void *ctx)
{
	vx_store_output_unref(ctx);
}

int vx__peer_fetch_mirror(struct vx_fetcher *fx, struct vx_store_output *o,
			  struct vx_store_task *st)
{
	struct vx_fetch_mirror m = { .done = mirror_done, .release = mirror_release };
	int rc;

	if (vx_store_output_attach(o, st) != 0)
		return 1;
	m.fd = vx_store_output_fd(o, &m.direct, &m.align);
	m.ctx = vx_store_output_ref(o);
	rc = vx_fetcher_set_mirror(fx, &m);
	if (rc)
		vx_store_output_unref(o);
	return rc;
}

/*
 * Gives the fetcher of @t the first of its jobs' outputs written during the download (one per
 * fetcher; the other jobs' exports copy). Loop thread; BLOCKING for the output's fallocate.
 */
static void task_mirror_output(struct peer_task *t)
{
	struct vx_list *pos;

	if (!t->fetcher || !t->st)
		return;
	vx_list_for_each(pos, &t->jobs) {
		struct peer_job *j = vx_list_entry(pos, struct peer_job, node);

		/* a private task's bytes reach a job's file only once its access is proven: the
		 * temporary output is the client's own file, readable while it is written */
		if (j->early && !(t->priv && !j->access_ok) &&
		    vx__peer_fetch_mirror(t->fetcher, j->early, t->st) <= 0)
			return;
	}
}

static void fetcher_start(struct vx_peer *p, struct peer_task *t)
{
	struct vx_fetcher_cfg fc;
	int rc;

	if (t->fetcher || t->state != TASK_RUNNING)
		return;
	vx_fetcher_cfg_init(&fc);
	fc.task_id = t->id;
	fc.content_length = t->content_length;
	fc.piece_length = t->piece_length;
	fc.piece_crc32 = NULL;
	fc.have = t->done;
	fc.sink = vx_store_glue_sink_ops();
	fc.sink_ctx = t->st;
	fc.persistent = true;
	fc.conns_per_parent = 1;
	fc.pipeline_depth = 2;
	fc.task_rate = &t->rate;
	fc.shared_rate = &p->download_rate;
	if (p->cfg.piece_timeout_ms)
		fc.stall_timeout_ms = p->cfg.piece_timeout_ms;
	fc.max_pieces_out = p->cfg.concurrent_pieces;
	fc.in_order = task_has_reader(t); /* its first bytes first (issue 19 goal 9) */
	fc.on_piece = fx_on_piece;
	fc.on_piece_from = fx_on_piece_from;
	fc.on_no_parents = fx_on_no_parents;
	fc.on_parent_dropped = fx_on_dropped;
	fc.on_done = fx_on_done;
	fc.cb_arg = t;
	fc.tls = t->fx_tls = vx__peer_tls_fetcher(p); /* TLS to parents whenever we have certs */
	fc.lz4 = !p->cfg.no_lz4;
	rc = vx_fetcher_new(&t->fetcher, p->loop, &fc);
	if (rc) {
		SSL_CTX_free(t->fx_tls);
		t->fx_tls = NULL;
		task_fail(p, t, rc, VX_DOWNLOAD_STAGE_PEERS, 0, "cannot start fetching from peers");
		return;
	}
	for (uint32_t n = 0; n < t->piece_count; n++) {
		if (vx_bit_get(t->trusted, n))
			vx_fetcher_trust(t->fetcher, n, t->crc[n]);
	}
	task_mirror_output(t);
	for (uint32_t i = 0; i < t->nr_cands; i++)
		add_parent(t, &t->cands[i]);
	t->nr_cands = 0;
	t->in.running.last_piece_ms = vx_now_ms();
}

static void take_cands(struct vx_peer *p, struct peer_task *t, const struct vx_ctl_msg *m)
{
	for (uint32_t i = 0; i < m->nr_cands; i++) {
		const struct vx_ctl_cand *c = &m->cands[i];
		struct peer_cand pc;
		char hp[128];

		if (!c->addr.len || c->addr.len > 64 || !c->port)
			continue;
		if (memchr(c->addr.ptr, ':', c->addr.len))
			snprintf(hp, sizeof(hp), "[%.*s]:%u", (int)c->addr.len, c->addr.ptr,
				 c->port);
		else
			snprintf(hp, sizeof(hp), "%.*s:%u", (int)c->addr.len, c->addr.ptr, c->port);
		memset(&pc, 0, sizeof(pc));
		if (vx_net_parse_addr(hp, VX_NET_IP_ONLY, &pc.addr, &pc.addr_len))
			continue;
		snprintf(pc.host_id, sizeof(pc.host_id), "%.*s", (int)c->host_id.len,
			 c->host_id.ptr);
		vx_debug("peer: task %.12s: candidate parent %s (%u pieces%s)", t->id, pc.host_id,
			 c->pieces, c->complete ? ", complete" : "");
		if (t->fetcher)
			add_parent(t, &pc);
		else if (t->nr_cands < PEER_PENDING_CANDS)
			t->cands[t->nr_cands++] = pc;
	}
	(void)p;
}

/*
 * Opens the content file (stating the origin first when the geometry is not known), then does
 * what @then says. An open already running only learns the new @then.
 */
static void task_open(struct vx_peer *p, struct peer_task *t, enum peer_open_then then)
{
	VX_ASSERT(!t->st);
	if (t->state == TASK_OPENING) {
		t->in.opening.then = then;
		return;
	}
	t->busy |= TASK_BUSY_OPEN;
	task_set_state(t, TASK_OPENING);
	t->in.opening.then = then;
	if (vx__peer_work_start(p, t, NULL, WORK_OPEN, then == OPEN_THEN_SOURCE)) {
		t->busy &= (uint8_t)~TASK_BUSY_OPEN;
		task_fail(p, t, -ENOMEM, VX_DOWNLOAD_STAGE_STORE, 0, "cannot start a thread");
	}
}

/*
 * Sets the geometry once. Not while an open runs: its work item reads the geometry on a pool
 * thread, and its completion (task_opened(), the busy bit already clear) sets it from the
 * store or the origin; what a scheduler message said meanwhile is not needed then.
 */
static void set_geometry(struct peer_task *t, uint64_t content_length, uint64_t piece_length)
{
	if (task_has_geometry(t) || !piece_length || (t->busy & TASK_BUSY_OPEN))
		return;
	t->content_length = content_length;
	t->piece_length = piece_length;
	t->piece_count = vx_piece_count(content_length, piece_length);
}

/* Takes the geometry a scheduler message gives, when we have none yet. */
static void take_geometry(struct peer_task *t, const struct vx_ctl_msg *m)
{
	if (task_has_geometry(t) || !(m->has & VX_CTL_F_PIECE_LEN) || !m->piece_len ||
	    !(m->has & VX_CTL_F_CONTENT_LEN) || m->content_len < 0)
		return;
	if (!(m->has & VX_CTL_F_PIECE_COUNT) && m->content_len > 0)
		return; /* a registrant's hint, not the origin's word */
	set_geometry(t, (uint64_t)m->content_len, m->piece_len);
}

/* Enters WAITING (or stays): re-registers with back-off, bounded by the WAIT limit. */
static void task_wait(struct vx_peer *p, struct peer_task *t)
{
	if (t->state == TASK_WAITING)
		return;
	task_set_state(t, TASK_WAITING);
	t->in.waiting.since_ms = vx_now_ms();
	t->in.waiting.backoff_ms = PEER_REREGISTER_MS;
	t->in.waiting.next_register_ms = t->in.waiting.since_ms + PEER_REREGISTER_MS;
	(void)p;
}

/* Fetch from parents: open first if needed, then the fetcher. */
static void go_parents(struct vx_peer *p, struct peer_task *t)
{
	if (!task_live(t) || p->shutting_down)
		return;
	if (!t->st) {
		if (t->state == TASK_OPENING)
			return; /* what the open leads to stays */
		if (task_has_geometry(t))
			task_open(p, t, OPEN_THEN_PARENTS);
		else
			task_wait(p, t);
		return;
	}
	if (t->state != TASK_RUNNING)
		task_set_state(t, TASK_RUNNING);
	fetcher_start(p, t);
}

/* Fetch from the origin (the scheduler said so, a seed was triggered, or no scheduler). */
static void source_start(struct vx_peer *p, struct peer_task *t)
{
	if (!task_live(t) || (t->busy & TASK_BUSY_FETCH) || p->shutting_down)
		return; /* a stopping daemon fetches nothing more */
	if (t->no_bts && t->cause != CAUSE_TRIGGER) {
		task_fail(p, t, VX_ENOPEERS, VX_DOWNLOAD_STAGE_PEERS, 0,
			  t->link != LINK_NONE
				  ? "no peer has this file and back-to-source is disabled"
				  : "no scheduler, and back-to-source is disabled");
		return;
	}
	{
		char why[256];
		int rc = vx__peer_source_check(t, why, sizeof(why));

		if (rc) {
			task_fail(p, t, rc, VX_DOWNLOAD_STAGE_SOURCE, 0, why);
			return;
		}
	}
	if (!t->st) {
		task_open(p, t, OPEN_THEN_SOURCE);
		return;
	}
	if (t->state != TASK_RUNNING)
		task_set_state(t, TASK_RUNNING);
	t->busy |= TASK_BUSY_FETCH;
	atomic_store(&t->cancel_source, false);
	if (vx__peer_work_start(p, t, NULL, WORK_FETCH, false)) {
		t->busy &= (uint8_t)~TASK_BUSY_FETCH;
		task_fail(p, t, -ENOMEM, VX_DOWNLOAD_STAGE_SOURCE, 0, "cannot start a thread");
	}
}

static void handle_answer_kind(struct vx_peer *p, struct peer_task *t, uint32_t answer)
{
	switch (answer) {
	case VX_CTL_ANS_BACK_TO_SOURCE:
		t->origin = true;
		t->resend_digests = true;
		source_start(p, t);
		break;
	case VX_CTL_ANS_PARENTS:
		if (t->state == TASK_RUNNING)
			t->in.running.wait_since_ms = 0;
		go_parents(p, t);
		/* parents that are all refused (banned, bad addresses) are no parents */
		if (t->state == TASK_RUNNING && t->fetcher && !t->nr_cands &&
		    vx_fetcher_live_parents(t->fetcher) == 0)
			t->in.running.parent_fails++;
		break;
	case VX_CTL_ANS_EMPTY:
		/* nothing to fetch: an empty content file completes as soon as it is open */
		set_geometry(t, 0, t->user_piece_length ? t->user_piece_length : 4u << 20);
		go_parents(p, t);
		break;
	case VX_CTL_ANS_WAIT:
	default:
		if (t->st) {
			go_parents(p, t); /* keep the fetcher: its parents may still serve */
			if (t->state == TASK_RUNNING && !t->in.running.wait_since_ms)
				t->in.running.wait_since_ms = vx_now_ms();
		} else if (t->state != TASK_OPENING) {
			task_wait(p, t);
		}
		break;
	}
}

void vx__peer_on_answer(struct vx_peer *p, struct peer_task *t, int status,
			const struct vx_ctl_msg *m)
{
	/*
	 * LINK_NONE: the task gave up on the scheduler (no answer in time, or it stalled without
	 * one) and went to the origin. A late answer to its REGISTER must not start a fetcher,
	 * reopen the task or restart the source fetch beside it: ignored, as events are.
	 */
	if (!task_live(t) || p->shutting_down || t->link == LINK_NONE)
		return;
	if (status) {
		vx_warn("peer: task %.12s: scheduler refused: %s", t->id, vx_strerror(status));
		t->link = LINK_NONE;
		source_start(p, t);
		return;
	}
	if (t->link == LINK_SENT)
		t->link = LINK_ANSWERED;
	vx__peer_tenant_learn(p, t->id, m);
	if ((m->has & VX_CTL_F_PRIVATE) && m->priv)
		task_make_private(p, t); /* another host fetched it with credentials */
	if (t->priv && m->answer != VX_CTL_ANS_BACK_TO_SOURCE)
		task_check_access(p, t); /* bytes come from elsewhere: prove the jobs' access */
	take_geometry(t, m);
	take_digests(t, m);
	take_cands(p, t, m);
	handle_answer_kind(p, t, (m->has & VX_CTL_F_ANSWER) ? m->answer : VX_CTL_ANS_WAIT);
}

/* A progress answer carries the manifest digests this peer has not been sent yet. */
void vx__peer_on_progress_answer(struct vx_peer *p, struct peer_task *t, int status,
				 const struct vx_ctl_msg *m)
{
	(void)p;
	if (status || !task_live(t))
		return;
	take_digests(t, m);
}

/*
 * A seed checks a trigger before it fetches anything: a URL task whose source derives its id,
 * never a file: URL. A refused trigger is reported FAILED to the scheduler at once (its seed
 * peer counts as the origin there) and the task ends. Returns true when refused.
 */
static bool trigger_refused(struct vx_peer *p, struct peer_task *t, const struct vx_ctl_msg *m)
{
	char why[256];
	int rc = vx__peer_source_from_trigger(t, m);

	if (rc)
		snprintf(why, sizeof(why), "cannot keep the trigger: %s", vx_strerror(rc));
	else if ((m->has & VX_CTL_F_ID_KIND) && m->id_kind != VX_CTL_ID_URL) {
		rc = -EPERM;
		snprintf(why, sizeof(why), "not a URL task: nothing to fetch");
	} else
		rc = vx__peer_source_check(t, why, sizeof(why));
	if (!rc)
		return false;
	vx_warn("peer: seed: trigger for %.12s refused: %s", t->id, why);
	t->link = LINK_SENT; /* so the scheduler hears FAILED */
	task_fail(p, t, rc, VX_DOWNLOAD_STAGE_SOURCE, 0, why);
	return true;
}

void vx__peer_on_event(struct vx_peer *p, const struct vx_ctl_msg *m)
{
	struct peer_task *t;
	char id[VX_TASK_ID_LEN + 1];

	if (m->task_id.len != VX_TASK_ID_LEN)
		return;
	if (m->event == VX_CTL_EV_PREHEAT || m->event == VX_CTL_EV_PREHEAT_MEMORY ||
	    m->event == VX_CTL_EV_EVICT || m->event == VX_CTL_EV_REPLICATE) {
		vx__peer_on_mgmt_event(p, m);
		return;
	}
	memcpy(id, m->task_id.ptr, VX_TASK_ID_LEN);
	id[VX_TASK_ID_LEN] = '\0';
	t = vx__peer_task_find(p, id);
	vx__peer_tenant_learn(p, id, m);
	if (m->event == VX_CTL_EV_TRIGGER) {
		char url[VX_CTL_STR_MAX + 1];

		if (t || p->shutting_down)
			return;
		snprintf(url, sizeof(url), "%.*s", (int)m->url.len, m->url.ptr);
		t = task_new(p, id, url, CAUSE_TRIGGER);
		if (!t) {
			vx_warn("peer: seed trigger for %.12s dropped: task table full", id);
			return;
		}
		if (trigger_refused(p, t, m))
			return;
		vx_info("peer: seed: fetching %s for the swarm", VX_URL_SAFE(url));
		take_geometry(t, m);
		task_register(p, t);
		return;
	}
	if (!t || !task_live(t) || t->link == LINK_NONE || p->shutting_down)
		return;
	/* a pushed answer says "private" as an answer does: bytes from peers need proof */
	if ((m->has & VX_CTL_F_PRIVATE) && m->priv)
		task_make_private(p, t);
	if (t->priv && m->event == VX_CTL_EV_PARENTS)
		task_check_access(p, t);
	take_geometry(t, m);
	take_digests(t, m);
	switch (m->event) {
	case VX_CTL_EV_PARENTS:
		if (t->link == LINK_SENT)
			t->link = LINK_ANSWERED;
		take_cands(p, t, m);
		handle_answer_kind(p, t, (m->has & VX_CTL_F_ANSWER) ? m->answer : 0);
		break;
	case VX_CTL_EV_BACK_TO_SOURCE:
		if (t->link == LINK_SENT)
			t->link = LINK_ANSWERED;
		handle_answer_kind(p, t, VX_CTL_ANS_BACK_TO_SOURCE);
		break;
	case VX_CTL_EV_MANIFEST:
	default:
		if (task_has_geometry(t) && !t->st && t->state == TASK_WAITING)
			go_parents(p, t);
		break;
	}
}

struct peer_task *vx__peer_task_start(struct vx_peer *p, const char *id, const char *url,
				      uint64_t piece_len, enum peer_task_cause cause,
				      bool to_memory, char **headers, uint32_t nr_headers)
{
	struct peer_task *t = task_new(p, id, url, cause);

	if (!t)
		return NULL;
	t->to_memory = to_memory;
	t->user_piece_length = piece_len;
	t->headers = headers;
	t->nr_headers = nr_headers;
	t->priv = vx__peer_headers_private(headers, nr_headers);
	task_register(p, t);
	return t;
}

/* ---------------------------------------------------------------- The store's feed */

static void on_waiter(struct vx_store_waiter *w, int status);

/* Takes in the pieces finished since the cursor; true when that completed the task. */
static bool task_take_finished(struct vx_peer *p, struct peer_task *t)
{
	uint32_t got[256], n, prefix = t->prefix;
	struct vx_list *pos;

	while ((n = vx_store_task_finished_since(t->st, &t->cursor, got, 256)) > 0) {
		for (uint32_t i = 0; i < n; i++) {
			uint32_t k = got[i];

			if (k >= t->piece_count || vx_bit_get(t->done, k))
				continue;
			vx_bit_set(t->done, k);
			t->pieces_done++;
			t->bytes_done += piece_len_of(t, k);
			t->pending[t->nr_pending++] = k;
			vx_upload_piece_finished(p->up, t->id, k);
			if (t->fetcher && !vx_bit_get(t->from_fetcher, k))
				vx_fetcher_have(t->fetcher, k);
		}
		while (t->prefix < t->piece_count && vx_bit_get(t->done, t->prefix))
			t->prefix++;
	}
	/* a grown prefix is news at once for stream readers (the mirror sends it on); other
	 * progress is throttled */
	vx_list_for_each(pos, &t->jobs) {
		job_progress(vx_list_entry(pos, struct peer_job, node), t->prefix != prefix);
	}
	if (t->nr_pending >= PEER_REPORT_PIECES)
		task_report(p, t);
	if (t->pieces_done < t->piece_count)
		return false;
	task_complete(p, t);
	return true;
}

/*
 * The store's feed: reads what finished, then arms the one waiter for more. The waiter's own
 * state says whether it is armed (the store refuses a second arm with -EBUSY).
 */
static void task_feed(struct vx_peer *p, struct peer_task *t)
{
	int rc;

	while (task_live(t) && !task_take_finished(p, t)) {
		rc = vx_store_wait_progress(t->st, t->cursor, &t->waiter, p->notifier);
		if (rc == -EALREADY)
			continue; /* more finished meanwhile: read them now */
		if (rc && rc != -EBUSY)
			task_fail(p, t, rc, VX_DOWNLOAD_STAGE_STORE, 0, vx_strerror(rc));
		return;
	}
}

static void on_waiter(struct vx_store_waiter *w, int status)
{
	struct peer_task *t = w->arg;

	if (!task_live(t))
		return;
	if (status) {
		task_fail(t->peer, t, status, VX_DOWNLOAD_STAGE_STORE, 0, vx_strerror(status));
		return;
	}
	task_feed(t->peer, t);
}

void vx__peer_drain_notifier(struct vx_peer *p)
{
	while (vx_store_notifier_drain(p->notifier, 256) == 256)
		;
}

/* ---------------------------------------------------------------- Life of a task */

/* The content file is open (WORK_OPEN finished): size the tables, catch up, go on. */
static int task_opened(struct vx_peer *p, struct peer_task *t, struct peer_work *w)
{
	uint32_t bytes;

	if (!task_has_geometry(t))
		set_geometry(t, w->content_length, w->piece_length);
	bytes = t->piece_count / 8 + 1;
	t->done = vx_calloc(bytes, 1);
	t->from_fetcher = vx_calloc(bytes, 1);
	t->trusted = vx_calloc(bytes, 1);
	t->scratch_bits = vx_calloc(bytes, 1);
	t->crc = vx_calloc(t->piece_count + 1, sizeof(*t->crc));
	t->pending = vx_calloc(t->piece_count + 1, sizeof(*t->pending));
	if (!t->done || !t->from_fetcher || !t->trusted || !t->scratch_bits || !t->crc ||
	    !t->pending)
		return -ENOMEM;
	t->st = w->st; /* the tables exist: the content is open */
	w->st = NULL;
	task_store_private(t);
	for (uint32_t i = 0; i < t->nr_early; i++)
		trust(t, t->early[i].piece, t->early[i].crc32);
	vx_free(t->early);
	t->early = NULL;
	t->nr_early = t->cap_early = 0;
	task_open_content_fd(p, t);
	{
		struct vx_list *pos;

		vx_list_for_each(pos, &t->jobs) {
			job_send_fd(t, vx_list_entry(pos, struct peer_job, node));
		}
	}
	t->waiter.fn = on_waiter;
	t->waiter.arg = t;
	return 0;
}

/* COMPLETE: the last report, then FINISHED once nothing is pending (the tick retries). */
static void task_say_finished(struct vx_peer *p, struct peer_task *t)
{
	if (t->link != LINK_ANSWERED)
		return;
	task_report(p, t);
	if (t->nr_pending)
		return;
	send_simple(p, t, VX_CTL_FINISHED, NULL, 0);
	t->link = LINK_FINISHED;
}

static void task_complete(struct vx_peer *p, struct peer_task *t)
{
	struct vx_list *pos, *tmp;
	uint64_t src, kept;

	if (!task_live(t))
		return;
	task_set_state(t, TASK_COMPLETE);
	atomic_store(&t->cancel_source, true);
	vx_log_set_request_id(t->request_id);
	src = atomic_load(&t->from_source);
	/* what neither brought was in the store already (a reused or resumed task) */
	kept = t->content_length > t->from_peers + src ? t->content_length - t->from_peers - src
						       : 0;
	vx_info("peer: task %.12s complete (%" PRIu64 " bytes: %" PRIu64 " from peers, %" PRIu64
		" from the source, %" PRIu64 " already stored)",
		t->id, t->content_length, t->from_peers, src, kept);
	vx_log_set_request_id(NULL);
	task_say_finished(p, t);
	if (t->fetcher)
		vx_fetcher_cancel(t->fetcher);
	vx__peer_task_to_memory(p, t);
	vx_list_for_each_safe(pos, tmp, &t->jobs) {
		job_deliver(p, t, vx_list_entry(pos, struct peer_job, node));
	}
	task_maybe_free(p, t);
}

static void task_fail(struct vx_peer *p, struct peer_task *t, int rc, enum vx_download_stage stage,
		      uint32_t source_status, const char *msg)
{
	struct vx_list *pos, *tmp;

	if (!task_live(t))
		return;
	task_set_state(t, TASK_FAILED);
	vx_warn("peer: task %.12s failed: %s", t->id, msg);
	atomic_store(&t->cancel_source, true);
	if (t->fetcher)
		vx_fetcher_cancel(t->fetcher);
	/* the scheduler drops this peer of the task and the parent slots it held */
	if (t->link >= LINK_SENT)
		send_simple(p, t, VX_CTL_FAILED, msg, rc);
	if (p->sc)
		vx_sched_client_forget(p->sc, (struct vx_ctl_str){ t->id, VX_TASK_ID_LEN });
	t->link = LINK_NONE;
	vx_list_for_each_safe(pos, tmp, &t->jobs) {
		struct peer_job *j = vx_list_entry(pos, struct peer_job, node);

		j->res.source_status = source_status;
		vx__peer_job_fail(p, j, rc, stage, "%s", msg);
	}
	task_maybe_free(p, t);
}

/*
 * The last job of @t left (cancelled or timed out) before the task was done. A task started
 * for jobs is given up then: it would hold the scheduler's parent slots for nobody (FAILED
 * releases them) and, stuck, would never end. What it fetched stays in the store, so a later
 * request resumes it. A task that fetches from the origin for the swarm goes on (the others
 * wait on it, and it holds no parent slot); so do resumed and seed-triggered tasks.
 */
static void task_abandoned(struct vx_peer *p, struct peer_task *t)
{
	if (p->shutting_down || t->cause != CAUSE_JOB || (t->origin && (t->busy & TASK_BUSY_FETCH)))
		return;
	task_fail(p, t, -ECANCELED, VX_DOWNLOAD_STAGE_REQUEST, 0,
		  "no download wants the task any more");
}

/* Frees @t once nothing refers to it: no job, no work, fetcher idle. */
static void task_maybe_free(struct vx_peer *p, struct peer_task *t)
{
	if (t->state == TASK_FREE || !vx_list_empty(&t->jobs) || t->busy)
		return;
	if (task_live(t) && !p->shutting_down)
		return; /* it goes on without a requester: the store keeps what it gets */
	if (t->fetcher) {
		vx_fetcher_cancel(t->fetcher);
		if (!vx_fetcher_idle(t->fetcher))
			return; /* the tick tries again */
		vx_fetcher_free(t->fetcher);
		t->fetcher = NULL;
		SSL_CTX_free(t->fx_tls);
		t->fx_tls = NULL;
	}
	vx_store_wait_cancel(&t->waiter);
	if (t->st)
		vx_store_task_release(t->st, VX_STORE_USE_DOWNLOAD);
	if (t->content_fd >= 0)
		close(t->content_fd);
	if (t->src_fd >= 0)
		close(t->src_fd);
	if (t->have_origin)
		vx_origin_release(&t->origin_info);
	vx__peer_headers_free(t->headers, t->nr_headers);
	vx_free(t->url);
	vx_free(t->id_content);
	vx__peer_source_free(t);
	vx_free(t->done);
	vx_free(t->from_fetcher);
	vx_free(t->trusted);
	vx_free(t->scratch_bits);
	vx_free(t->crc);
	vx_free(t->pending);
	vx_free(t->early);
	if (task_live(t)) /* shutting down: it ends here unfinished (nothing is reported) */
		task_set_state(t, TASK_FAILED);
	task_set_state(t, TASK_FREE);
	vx_rate_destroy(&t->rate);
	vx_rate_destroy(&t->source_rate);
	memset(t, 0, sizeof(*t));
	t->content_fd = -1;
	t->src_fd = -1;
}

/* Looks the task up in the store and decides how to start. */
static void task_start(struct vx_peer *p, struct peer_task *t)
{
	struct vx_store_task *st;
	struct vx_store_task_info ti;

	if (vx_store_task_acquire(p->store, t->id, VX_STORE_USE_READ, &st) == 0) {
		vx_store_task_info(st, &ti);
		vx_store_task_release(st, VX_STORE_USE_READ);
		if (ti.priv)
			task_make_private(p, t);
		t->priv_stored = ti.priv;
		if (ti.piece_length &&
		    (!t->user_piece_length || t->user_piece_length == ti.piece_length)) {
			set_geometry(t, ti.content_length, ti.piece_length);
			if (ti.state == VX_STORE_TASK_COMPLETE) {
				t->pieces_done = t->piece_count;
				t->bytes_done = t->content_length;
				t->prefix = t->piece_count;
				t->reused_complete = true;
				task_complete(p, t);
				return;
			}
			/* a partial task: open it (resume), then ask the scheduler */
			task_open(p, t, OPEN_THEN_REGISTER);
			return;
		}
	}
	if (t->link != LINK_NONE)
		task_register(p, t);
	else
		source_start(p, t);
}

/* A content task remembers what its id is derived from, for vx__peer_source_check(). */
static void task_keep_id_content(struct peer_task *t, const struct peer_job *j)
{
	if (j->id_content && !t->id_content)
		t->id_content = vx_strdup(j->id_content); /* NULL on OOM: the check refuses */
}

void vx__peer_job_start(struct vx_peer *p, struct peer_job *j)
{
	enum vx_download_stage stage;
	struct peer_task *t;
	char id[VX_TASK_ID_LEN + 1], msg[VX_DOWNLOAD_MSG_MAX];
	int rc, keep_fd = -1;

	rc = vx_task_id_from_source(j->url, j->tag, j->app, j->piece_length,
				    (const char *const *)j->filtered, j->nr_filtered, id);
	if (!rc && j->id_content)
		rc = vx_task_id_from_content(j->id_content, strlen(j->id_content), id);
	if (rc) {
		char safe[VX_URL_LOG_MAX];

		vx_url_redact_keys(j->url, j->url ? strlen(j->url) : 0,
				   (const char *const *)j->filtered, j->nr_filtered, safe,
				   sizeof(safe));
		vx__peer_job_fail(p, j, rc, VX_DOWNLOAD_STAGE_REQUEST,
				  "'%s' is not a valid URL: %s", safe, vx_strerror(rc));
		return;
	}
	if (j->digest) {
		struct vx_digest_spec d;

		if (vx_digest_spec_parse(j->digest, strlen(j->digest), VX_DIGEST_USER, &d)) {
			vx__peer_job_fail(p, j, -EINVAL, VX_DOWNLOAD_STAGE_REQUEST,
					  "digest '%s' is not sha256:<hex>, sha512:<hex> or "
					  "crc32:<decimal>",
					  j->digest);
			return;
		}
	}
	rc = job_open_files(j, &stage, msg, sizeof(msg));
	if (!rc)
		rc = job_keep_source(j, &keep_fd, &stage, msg, sizeof(msg));
	if (rc) {
		vx__peer_job_fail(p, j, rc, stage, "%s", msg);
		return;
	}
	vx__peer_access_key(j->url, j->headers, j->nr_headers, j->access_key);
	t = vx__peer_task_find(p, id);
	if (!t) {
		t = task_new(p, id, j->url, CAUSE_JOB);
		if (t && keep_fd >= 0)
			task_read_from(t, keep_fd);
		else if (keep_fd >= 0)
			close(keep_fd);
		if (!t) {
			vx__peer_job_fail(p, j, -ENOSPC, VX_DOWNLOAD_STAGE_REQUEST,
					  "too many tasks at once (%u)", VX_PEER_TASKS_MAX);
			return;
		}
		t->user_piece_length = j->piece_length;
		t->no_bts = j->no_bts;
		memcpy(t->request_id, j->request_id, sizeof(t->request_id));
		t->priv = !j->public_content && vx__peer_request_private(j);
		if (vx__peer_source_set(t, j->tag, j->app, (const char *const *)j->filtered,
					j->nr_filtered)) {
			task_fail(p, t, -ENOMEM, VX_DOWNLOAD_STAGE_REQUEST, 0, "out of memory");
			vx__peer_job_fail(p, j, -ENOMEM, VX_DOWNLOAD_STAGE_REQUEST,
					  "out of memory");
			return;
		}
		if (j->nr_headers) {
			t->headers = vx_calloc(j->nr_headers, sizeof(*t->headers));
			for (uint32_t i = 0; t->headers && i < j->nr_headers; i++)
				t->headers[i] = vx_strdup(j->headers[i]);
			t->nr_headers = t->headers ? j->nr_headers : 0;
		}
		j->task = t;
		task_keep_id_content(t, j);
		vx_list_add_tail(&t->jobs, &j->node);
		task_start(p, t);
		/* the task may be complete already (reuse), or failed at once */
		if (t->state != TASK_FREE && j->task && !vx_list_empty(&j->node))
			j->reused = t->reused_complete ? t->content_length : t->bytes_done;
		return;
	}
	if (keep_fd >= 0)
		close(keep_fd); /* a running task: its source is fixed; the export compares */
	if (!j->no_bts)
		t->no_bts = false;
	j->task = t;
	task_keep_id_content(t, j); /* a task resumed from the store does not know it */
	j->reused = t->bytes_done;
	j->base_peers = t->from_peers;
	j->base_source = atomic_load(&t->from_source);
	vx_list_add_tail(&t->jobs, &j->node);
	if (t->fetcher && !j->output && j->ops.content_fd)
		vx_fetcher_set_in_order(t->fetcher, true); /* a reader joined a running task */
	task_mirror_output(t);
	if (!j->public_content && vx__peer_request_private(j))
		task_make_private(p, t);
	else if (t->priv)
		(void)job_may_read(p, t, j); /* its proof starts now */
	job_send_fd(t, j);
	if (t->state == TASK_COMPLETE)
		job_deliver(p, t, j);
}

/* @j's access probe answered (on the loop): read on, or fail with the origin's answer. */
void vx__peer_access_proved(struct vx_peer *p, struct peer_job *j, int rc,
			    const struct vx_download_result *res)
{
	struct peer_task *t = j->task;

	if (!t)
		return;
	if (rc) {
		j->res.source_status = res->source_status;
		vx__peer_job_fail(p, j, rc, VX_DOWNLOAD_STAGE_SOURCE,
				  "access to a private task not proven at the origin: %s",
				  res->msg[0] ? res->msg : vx_strerror(rc));
		return;
	}
	vx__peer_access_remember(p, j->access_key, t->id);
	j->access_ok = true;
	task_mirror_output(t); /* its output may take the pieces still to come */
	job_send_fd(t, j);
	if (t->state == TASK_COMPLETE)
		job_deliver(p, t, j);
}

/* ---------------------------------------------------------------- Work results */

/* WORK_OPEN came back: take what it learnt, open the tables, then what the open was for. */
static void open_done(struct vx_peer *p, struct peer_task *t, struct peer_work *w)
{
	enum peer_open_then then = t->in.opening.then;

	if (w->have_origin) {
		struct vx_list *pos;
		uint8_t key[PEER_ACCESS_KEY_LEN];

		/* the origin answered this task's own URL and headers: the jobs that sent them
		 * are proven (they need no probe of their own) */
		vx__peer_access_key(t->url, t->headers, t->nr_headers, key);
		vx__peer_access_remember(p, key, t->id);
		vx_list_for_each(pos, &t->jobs) {
			struct peer_job *j = vx_list_entry(pos, struct peer_job, node);

			if (memcmp(j->access_key, key, sizeof(key)) == 0)
				j->access_ok = true;
		}
		if (t->have_origin)
			vx_origin_release(&t->origin_info);
		t->origin_info = w->origin; /* the fetch reads through it */
		t->have_origin = true;
		w->have_origin = false;
	}
	if (t->state != TASK_OPENING)
		return; /* failed meanwhile (the store task goes back with @w) */
	if (w->rc) {
		task_fail(p, t, w->rc, w->res.stage, w->res.source_status,
			  w->res.msg[0] ? w->res.msg : vx_strerror(w->rc));
		return;
	}
	if (w->regeometry)
		t->piece_length = 0; /* the origin's word replaces the stored geometry */
	if (task_opened(p, t, w)) {
		task_fail(p, t, -ENOMEM, VX_DOWNLOAD_STAGE_STORE, 0, "out of memory");
		return;
	}
	task_feed(p, t); /* catch up on the pieces held; may complete the task */
	if (!task_live(t))
		return;
	switch (then) {
	case OPEN_THEN_SOURCE:
		source_start(p, t);
		break;
	case OPEN_THEN_REGISTER:
		if (t->link == LINK_IDLE)
			task_register(p, t); /* the pieces held go out with the first progress */
		else if (t->link == LINK_NONE)
			source_start(p, t); /* no scheduler: the origin has the rest */
		else
			go_parents(p, t);
		break;
	case OPEN_THEN_PARENTS:
		go_parents(p, t);
		break;
	}
}

void vx__peer_work_done(struct vx_peer *p, struct peer_work *w)
{
	struct peer_task *t = w->task;

	switch (w->kind) {
	case WORK_OPEN:
		t->busy &= (uint8_t)~TASK_BUSY_OPEN;
		open_done(p, t, w);
		break;
	case WORK_FETCH:
		t->busy &= (uint8_t)~TASK_BUSY_FETCH;
		if (w->rc && w->rc != -ECANCELED && task_live(t))
			task_fail(p, t, w->rc, w->res.stage, w->res.source_status,
				  w->res.msg[0] ? w->res.msg : vx_strerror(w->rc));
		break;
	case WORK_EXPORT: {
		struct peer_job *j = w->job;

		if (!w->rc && j->memory && !j->output)
			job_send_memory(p, t, j, w);
		j->exporting = false;
		j->res.status = w->rc;
		j->res.stage = w->rc ? w->res.stage : VX_DOWNLOAD_STAGE_DONE;
		snprintf(j->res.msg, sizeof(j->res.msg), "%s", w->res.msg);
		j->res.reused = t->reused_complete;
		vx__peer_job_finish(p, j);
		break;
	}
	case WORK_MEMORY:
		t->busy &= (uint8_t)~TASK_BUSY_MEMORY;
		break;
	}
	if (w->mem_fd >= 0)
		close(w->mem_fd);
	if (w->st)
		vx_store_task_release(w->st, VX_STORE_USE_DOWNLOAD);
	vx_free(w);
	task_maybe_free(p, t);
}

/* ---------------------------------------------------------------- Timers */

/*
 * Parents did not serve (a WAIT past its bound, PEER_PARENT_FAILS_MAX failures): the origin,
 * or a clear failure when back-to-source is disabled. @logged says why in the log, @why in
 * the job's message.
 */
static void parents_gave_up(struct vx_peer *p, struct peer_task *t, const char *logged,
			    const char *why)
{
	vx_warn("peer: task %.12s: %s: fetching from the source", t->id, logged);
	if (t->no_bts && t->cause != CAUSE_TRIGGER) {
		char msg[160];

		snprintf(msg, sizeof(msg), "%s and back-to-source is disabled", why);
		task_fail(p, t, VX_ENOPEERS, VX_DOWNLOAD_STAGE_PEERS, 0, msg);
		return;
	}
	/*
	 * Its parents served nothing all this while: stop them. A body a parent stalled in
	 * holds its piece, and the origin fetch waits for a piece another writer holds: it
	 * waited until download.piece_timeout dropped that parent.
	 */
	if (t->fetcher)
		vx_fetcher_cancel(t->fetcher);
	source_start(p, t);
}

/* The WAIT bound passed. */
static void wait_expired(struct vx_peer *p, struct peer_task *t, uint64_t waited_ms)
{
	char logged[96], why[96];

	snprintf(logged, sizeof(logged), "the scheduler had no parent for %" PRIu64 " ms",
		 waited_ms);
	snprintf(why, sizeof(why), "no parent was free for %" PRIu64 " ms", waited_ms);
	parents_gave_up(p, t, logged, why);
}

/*
 * Milliseconds from @then to @now, 0 when @then is later: the loop's clock is read once per
 * iteration, so a callback earlier in the same iteration may have stamped a later time.
 */
static uint64_t since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

/* The scheduler timers of one live task (spec/peer.md section 4). */
static void task_tick(struct vx_peer *p, struct peer_task *t, uint64_t now)
{
	const uint64_t wait_max =
		p->cfg.wait_parents_ms ? p->cfg.wait_parents_ms : PEER_WAIT_PARENTS_MS;

	if ((t->nr_pending || t->resend_digests || t->nr_costs) &&
	    (since(now, t->last_report_ms) >= PEER_REPORT_MS || t->resend_digests))
		task_report(p, t);
	switch (t->state) {
	case TASK_REGISTERING:
		/* no answer from any scheduler: do not hang, go to the source */
		if (since(now, t->in.registering.since_ms) >= PEER_SCHED_WAIT_MS &&
		    vx_sched_client_owner(p->sc, (struct vx_ctl_str){ t->id, VX_TASK_ID_LEN }) <
			    0) {
			vx_warn("peer: task %.12s: no scheduler answers: fetching from the source",
				t->id);
			t->link = LINK_NONE;
			source_start(p, t);
		}
		break;
	case TASK_WAITING:
		if (since(now, t->in.waiting.since_ms) >= wait_max) {
			wait_expired(p, t, since(now, t->in.waiting.since_ms));
			break;
		}
		if (task_has_geometry(t)) {
			go_parents(p, t);
			break;
		}
		if (now >= t->in.waiting.next_register_ms) {
			/* ask again: a lost wake-up must not leave us waiting for nothing */
			t->in.waiting.next_register_ms = now + t->in.waiting.backoff_ms;
			t->in.waiting.backoff_ms *= 2;
			task_register(p, t);
		}
		break;
	case TASK_RUNNING:
		if (!t->fetcher || (t->busy & TASK_BUSY_FETCH))
			break;
		if (t->in.running.wait_since_ms &&
		    since(now, t->in.running.wait_since_ms) >= wait_max) {
			wait_expired(p, t, since(now, t->in.running.wait_since_ms));
			t->in.running.wait_since_ms = 0;
			break;
		}
		if (t->in.running.parent_fails >= PEER_PARENT_FAILS_MAX) {
			char logged[96];

			snprintf(logged, sizeof(logged),
				 "%u parent failures in a row without a piece",
				 t->in.running.parent_fails);
			t->in.running.parent_fails = 0;
			parents_gave_up(p, t, logged, "no parent served a piece");
			break;
		}
		if (since(now, t->in.running.last_piece_ms) >= PEER_STALL_MS) {
			uint32_t trusted = (uint32_t)vx_bitmap_count(t->trusted, t->piece_count);

			vx_info("peer: task %.12s: no piece for %u s (%u of %u done, %u trusted, "
				"%u live parents)",
				t->id, PEER_STALL_MS / 1000, t->pieces_done, t->piece_count,
				trusted, vx_fetcher_live_parents(t->fetcher));
			if (t->link != LINK_NONE &&
			    vx_sched_client_owner(
				    p->sc, (struct vx_ctl_str){ t->id, VX_TASK_ID_LEN }) >= 0) {
				t->in.running.parent_fails++;
				request_parents(p, t);
				t->in.running.last_piece_ms = now - PEER_STALL_MS / 2;
			} else {
				vx_warn("peer: task %.12s: stalled and no scheduler: fetching from "
					"the source",
					t->id);
				t->link = LINK_NONE;
				source_start(p, t);
				break;
			}
		}
		/*
		 * A lost parent is replaced at once; otherwise the set is refreshed now and then:
		 * peers that got pieces since our last answer may serve us too (the fetcher keeps
		 * the parents it has and adds the new ones).
		 */
		if (t->in.running.last_resched_ms == 0 ||
		    since(now, t->in.running.last_resched_ms) >= PEER_REFRESH_MS)
			request_parents(p, t);
		if (t->nr_cands)
			retry_cands(t);
		break;
	default:
		break;
	}
}

void vx__peer_tick(struct vx_peer *p, uint64_t now)
{
	for (uint32_t i = 0; i < VX_PEER_TASKS_MAX; i++) {
		struct peer_task *t = &p->tasks[i];
		struct vx_list *pos, *tmp;

		if (t->state == TASK_FREE)
			continue;
		vx_list_for_each_safe(pos, tmp, &t->jobs) {
			struct peer_job *j = vx_list_entry(pos, struct peer_job, node);

			if (j->exporting)
				continue;
			if (j->probe_retry && !atomic_load(&j->cancelled))
				(void)job_may_read(p, t, j);
			if (atomic_load(&j->cancelled))
				vx__peer_job_fail(p, j, -ECANCELED, VX_DOWNLOAD_STAGE_REQUEST,
						  "cancelled by the client");
			else if (j->deadline_ms && now >= j->deadline_ms)
				vx__peer_job_fail(p, j, -ETIMEDOUT, VX_DOWNLOAD_STAGE_REQUEST,
						  "timed out after %u ms", j->timeout_ms);
		}
		if (task_live(t))
			task_tick(p, t, now);
		if (task_live(t)) { /* (the tick may have ended it) */
			/* bytes of unfinished pieces move too: readers see them (throttled) */
			vx_list_for_each(pos, &t->jobs) {
				job_progress(vx_list_entry(pos, struct peer_job, node), false);
			}
		}
		if (t->state == TASK_COMPLETE)
			task_say_finished(p, t);
		if (task_final(t))
			task_maybe_free(p, t);
		VX_DASSERT(task_invariants(t));
	}
}

/* ---------------------------------------------------------------- Start and stop */

void vx__peer_resume(struct vx_peer *p)
{
	struct vx_store_task_info *ti;
	uint32_t n;

	ti = vx_calloc(VX_PEER_TASKS_MAX, sizeof(*ti));
	if (!ti)
		return;
	n = vx_store_task_list(p->store, ti, VX_PEER_TASKS_MAX);
	for (uint32_t i = 0; i < VX_MIN(n, (uint32_t)VX_PEER_TASKS_MAX); i++) {
		struct vx_store_task *st;
		struct peer_task *t;
		char url[VX_STORE_URL_MAX], path[4096];

		if (ti[i].state == VX_STORE_TASK_COMPLETE || ti[i].kind != VX_STORE_KIND_NORMAL)
			continue;
		if (vx_store_task_acquire(p->store, ti[i].id, VX_STORE_USE_READ, &st))
			continue;
		snprintf(url, sizeof(url), "%s", vx_store_task_url(st));
		vx_store_task_release(st, VX_STORE_USE_READ);
		/* a local file's task is not resumed: nobody asks for it now, and the daemon would
		 * read the path with its own rights, not those of the client who asked */
		if (!url[0] || vx_source_file_path(url, path, sizeof(path)) != 0)
			continue;
		t = task_new(p, ti[i].id, url, CAUSE_RESUME);
		if (!t)
			break;
		vx_info("peer: resuming task %.12s (%u of %u pieces): %s", t->id,
			ti[i].finished_count, ti[i].piece_count, VX_URL_SAFE(url));
		task_start(p, t);
	}
	vx_free(ti);
}

void vx__peer_shutdown_tasks(struct vx_peer *p)
{
	for (uint32_t i = 0; i < VX_PEER_TASKS_MAX; i++) {
		struct peer_task *t = &p->tasks[i];
		struct vx_list *pos, *tmp;

		if (t->state == TASK_FREE)
			continue;
		atomic_store(&t->cancel_source, true);
		if (t->fetcher)
			vx_fetcher_cancel(t->fetcher);
		vx_list_for_each_safe(pos, tmp, &t->jobs) {
			struct peer_job *j = vx_list_entry(pos, struct peer_job, node);

			if (!j->exporting)
				vx__peer_job_fail(p, j, -ECANCELED, VX_DOWNLOAD_STAGE_REQUEST,
						  "the daemon is shutting down");
		}
		task_maybe_free(p, t);
	}
}

bool vx__peer_tasks_idle(struct vx_peer *p)
{
	for (uint32_t i = 0; i < VX_PEER_TASKS_MAX; i++) {
		if (p->tasks[i].state != TASK_FREE) {
			task_maybe_free(p, &p->tasks[i]);
			if (p->tasks[i].state != TASK_FREE)
				return false;
		}
	}
	return true;
}
