/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_work.c: the blocking steps of a task, run on the peer's bounded work pool so the loop
 * never waits: opening the content file (sqlite, fallocate) after asking the origin for the
 * length when needed, fetching from the origin, and checking and exporting the content for a
 * job. A work item reads only task fields fixed before it started and writes only itself; the
 * pool hands it back to the loop thread (vx__peer_work_done()). When the pool's queue is full
 * the item waits in the peer's own list and goes in after the next completion: the pool's
 * threads are all there is, never one thread per item.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "peer_int.h"
#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_digest.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_piece_plan.h"
#include "vx_time.h"

static void set_res(struct peer_work *w, enum vx_download_stage stage, const char *fmt, ...)
	VX_PRINTF(3, 4);

static void set_res(struct peer_work *w, enum vx_download_stage stage, const char *fmt, ...)
{
	va_list ap;

	w->res.stage = stage;
	va_start(ap, fmt);
	vsnprintf(w->res.msg, sizeof(w->res.msg), fmt, ap);
	va_end(ap);
}

/* The URL the origin steps read @t from (struct peer_task, src_url). */
static const char *task_source_url(const struct peer_task *t)
{
	return t->src_url[0] ? t->src_url : t->url;
}

/*
 * A fetch through the upstream cluster (source.upstream_cluster.proxy) failed: the result
 * names it. With source.upstream_cluster.fallback the task goes to its origin from here on
 * (true: try again), else the failure stands.
 */
static bool upstream_failed(struct peer_work *w)
{
	struct vx_peer *p = w->peer;
	char msg[sizeof(w->res.msg)];
	int n = snprintf(msg, sizeof(msg), "through upstream cluster %s: ", p->upstream.proxy);

	if (n > 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, "%.*s",
			 (int)(sizeof(msg) - (size_t)n - 1), w->res.msg);
	memcpy(w->res.msg, msg, sizeof(msg));
	if (!p->cfg.upstream_fallback)
		return false;
	vx_warn("peer: task %.12s: %s; fetching from the origin "
		"(source.upstream_cluster.fallback)",
		w->task->id, msg);
	atomic_store(&w->task->upstream_off, true);
	return true;
}

static void do_open(struct peer_work *w)
{
	struct vx_peer *p = w->peer;
	struct peer_task *t = w->task;
	struct vx_store_task_params tp = { 0 };
	/* fixed while this runs: set_geometry() waits for the open to end */
	uint64_t cl = t->content_length, pl = t->piece_length;
	int rc;

	if (w->stat_origin) {
		struct vx_origin_opts ob = { 0 };

		vx__peer_source_outbound(p, t, &ob);
		rc = vx_origin_stat_opts(p->src, task_source_url(t),
					 (const char *const *)t->headers, t->nr_headers, 0, &ob,
					 &w->origin, &w->res);
		if (rc && ob.upstream && upstream_failed(w)) {
			vx__peer_source_outbound(p, t, &ob);
			rc = vx_origin_stat_opts(p->src, task_source_url(t),
						 (const char *const *)t->headers, t->nr_headers, 0,
						 &ob, &w->origin, &w->res);
		}
		if (rc) {
			w->rc = rc;
			return;
		}
		w->have_origin = true;
		if (w->origin.content_length < 0) {
			/* chunked: the whole body lands in a spool file and is imported */
			struct vx_download_request req = { 0 };
			struct vx_origin_opts opts = { .cancel = &t->cancel_source };

			vx__peer_source_outbound(p, t, &opts); /* the chunked path is a fetch too */
			tp.id = t->id;
			tp.url = t->url;
			tp.piece_length = t->user_piece_length;
			tp.kind = VX_STORE_KIND_NORMAL;
			req.url = task_source_url(t);
			req.headers = (const char *const *)t->headers;
			req.nr_headers = t->nr_headers;
			rc = vx_origin_fetch_unsized(p->store, p->src, &w->origin, &tp, p->data_dir,
						     &req, &opts, VX_STORE_USE_DOWNLOAD, &w->st,
						     &w->res);
			if (rc) {
				w->rc = rc;
				return;
			}
			{
				struct vx_store_task_info ti;

				vx_store_task_info(w->st, &ti);
				w->content_length = ti.content_length;
				w->piece_length = ti.piece_length;
				atomic_fetch_add(&t->from_source, ti.content_length);
				vx_metric_add(&vx_m_download_bytes, VX_M_SRC_ORIGIN,
					      (int64_t)ti.content_length);
			}
			w->regeometry =
				task_has_geometry(t) && w->content_length != t->content_length;
			return;
		}
		if (task_has_geometry(t) && (uint64_t)w->origin.content_length != cl) {
			/* the stored pieces are of an older object: start over */
			vx_warn("peer: task %.12s: the origin's length changed; fetching again",
				t->id);
			rc = vx_store_task_remove(p->store, t->id);
			if (rc && rc != -ENOENT) {
				w->rc = rc;
				set_res(w, VX_DOWNLOAD_STAGE_STORE,
					"the stored task is outdated and cannot be removed: %s",
					vx_strerror(rc));
				return;
			}
			w->regeometry = true;
		}
		if (!task_has_geometry(t) || w->regeometry) {
			cl = (uint64_t)w->origin.content_length;
			pl = t->user_piece_length ? t->user_piece_length : vx_piece_length_for(cl);
		}
	}
	tp.id = t->id;
	tp.url = t->url;
	tp.content_length = cl;
	tp.piece_length = pl;
	tp.kind = VX_STORE_KIND_NORMAL;
	rc = vx_store_task_open(p->store, &tp, VX_STORE_USE_DOWNLOAD, &w->st);
	if (rc == -EEXIST && w->stat_origin) {
		/* stored with another piece length: the origin's word wins */
		if (vx_store_task_remove(p->store, t->id) == 0)
			rc = vx_store_task_open(p->store, &tp, VX_STORE_USE_DOWNLOAD, &w->st);
	}
	if (rc) {
		w->rc = rc;
		w->res.stage = VX_DOWNLOAD_STAGE_STORE;
		snprintf(w->res.msg, sizeof(w->res.msg), "cannot store the task: %s",
			 vx_strerror(rc));
		return;
	}
	w->content_length = cl;
	w->piece_length = pl;
}

static void on_source_piece(void *arg, uint32_t number, uint32_t crc32, uint64_t cost_us)
{
	struct peer_task *t = arg;

	(void)crc32;
	(void)cost_us;
	atomic_fetch_add(&t->from_source,
			 vx_piece_size(number, t->content_length, t->piece_length));
	vx_metric_add(&vx_m_download_bytes, VX_M_SRC_ORIGIN,
		      (int64_t)vx_piece_size(number, t->content_length, t->piece_length));
}

/* The origin's report (each tick and piece): what arrived so far, committed or not. */
static void on_source_progress(void *arg, const struct vx_download_progress *pr)
{
	struct peer_task *t = arg;

	atomic_store(&t->source_seen, pr->bytes_done);
}

static void do_fetch(struct peer_work *w)
{
	struct vx_peer *p = w->peer;
	struct peer_task *t = w->task;
	struct vx_download_request req = { 0 };
	struct vx_origin_opts opts = { 0 };

	req.url = task_source_url(t);
	req.headers = (const char *const *)t->headers;
	req.nr_headers = t->nr_headers;
	/* a content task's id comes from its digest: the origin hashes what it writes in order,
	 * and the digest check of each job's export then reads nothing again */
	req.digest = t->id_content;
	opts.parallel = p->cfg.source_parallel;
	opts.cancel = &t->cancel_source;
	opts.on_piece = on_source_piece;
	opts.progress = on_source_progress;
	opts.arg = t;
	vx__peer_source_outbound(p, t, &opts);
	w->rc = vx_origin_fetch(t->st, p->src, t->have_origin ? &t->origin_info : NULL, &req, &opts,
				&w->res);
	if (w->rc && w->rc != -ECANCELED && opts.upstream && !atomic_load(&t->cancel_source) &&
	    upstream_failed(w)) {
		/* from the origin, stated again: the opened object is the upstream's */
		vx__peer_source_outbound(p, t, &opts);
		w->rc = vx_origin_fetch(t->st, p->src, NULL, &req, &opts, &w->res);
	}
	vx__peer_metrics_source(t->url, w->rc);
}

/* pread until @len bytes or the end; returns the bytes read or -errno. */
static ssize_t pread_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/*
 * A file:// task exported for a client: the daemon read the file with its own rights, so the
 * client gets it only when the bytes equal what the descriptor opened with the client's rights
 * at the job's start reads (a path swapped in between gives a mismatch, never the other file).
 */
static int same_as_source(struct vx_store_task *st, int src_fd)
{
	struct vx_store_task_info ti;
	uint8_t *a = NULL, *b = NULL;
	uint32_t n, count;
	int rc = 0;

	vx_store_task_info(st, &ti);
	count = vx_piece_count(ti.content_length, ti.piece_length);
	if (count) {
		a = vx_malloc((size_t)ti.piece_length);
		b = vx_malloc((size_t)ti.piece_length);
		if (!a || !b)
			rc = -ENOMEM;
	}
	for (n = 0; n < count && !rc; n++) {
		uint64_t off = (uint64_t)n * ti.piece_length;
		ssize_t got = vx_store_piece_read(st, n, a, (size_t)ti.piece_length);
		ssize_t src;

		if (got < 0) {
			rc = (int)got;
			break;
		}
		src = pread_full(src_fd, b, (size_t)got, off);
		if (src < 0)
			rc = (int)src;
		else if (src != got || memcmp(a, b, (size_t)got) != 0)
			rc = -EACCES;
	}
	if (!rc) {
		uint8_t c;

		/* nothing beyond the task's end either */
		if (pread(src_fd, &c, 1, (off_t)ti.content_length) != 0)
			rc = -EACCES;
	}
	vx_free(a);
	vx_free(b);
	return rc;
}

/* The memory tier for a task held by @st; memory short, it stays served from disk. */
static int load_memory(struct vx_store_task *st)
{
	int rc = vx_store_task_memory_load(st);

	if (rc)
		vx_info("peer: task %.12s stays on disk: %s", vx_store_task_id(st),
			rc == -ENOSPC ? "the memory budget is full" : vx_strerror(rc));
	return rc;
}

static void do_export(struct peer_work *w)
{
	struct vx_peer *p = w->peer;
	struct peer_job *j = w->job;
	struct peer_creds_saved *saved = NULL;
	struct vx_store_task *st;
	unsigned int flags = 0;
	int rc;

	rc = vx_store_task_acquire(p->store, w->task->id, VX_STORE_USE_READ, &st);
	if (rc) {
		w->rc = rc;
		set_res(w, VX_DOWNLOAD_STAGE_STORE, "the task left the store: %s", vx_strerror(rc));
		return;
	}
	if (j->digest) {
		struct vx_digest_spec d;

		rc = vx_digest_spec_parse(j->digest, strlen(j->digest), VX_DIGEST_USER, &d);
		if (!rc)
			rc = vx_store_task_check_digest(st, &d);
		if (rc) {
			w->rc = rc;
			set_res(w, VX_DOWNLOAD_STAGE_DIGEST,
				rc == VX_EDIGEST ? "the content does not match digest %s"
						 : "cannot check digest %s",
				j->digest);
			goto out;
		}
	}
	/* a reader of a file:// source gets the descriptor opened with its own rights instead */
	if (j->memory && load_memory(st) == 0 && !j->output && j->src_fd < 0)
		w->mem_fd = vx_store_task_memory_fd(st);
	if (j->output && j->src_fd >= 0) {
		rc = same_as_source(st, j->src_fd);
		if (rc) {
			w->rc = rc;
			if (rc == -EACCES)
				set_res(w, VX_DOWNLOAD_STAGE_SOURCE,
					"the file changed while it was read; uid %u gets only "
					"what it may read itself: try again",
					j->uid);
			else
				set_res(w, VX_DOWNLOAD_STAGE_SOURCE,
					"cannot compare with the file: %s", vx_strerror(rc));
			goto out;
		}
	}
	if (j->output) {
		if (j->overwrite)
			flags |= VX_STORE_EXPORT_OVERWRITE;
		if (j->as_client) {
			/* a link would hand over the store's own file; a copy is born the client's,
			 * created and renamed with the client's rights beneath the directory opened
			 * at the job's start */
			flags |= VX_STORE_EXPORT_NO_LINK;
			saved = vx_malloc(sizeof(*saved));
			rc = saved ? vx__peer_creds_enter(j, saved) : -ENOMEM;
			if (rc) {
				vx_free(saved);
				saved = NULL;
			}
		}
		if (!rc && j->early)
			rc = vx_store_task_export_output(st, j->early, flags);
		else if (!rc)
			rc = vx_store_task_export_at(st, j->out_dirfd, j->out_name, flags);
		if (saved) {
			vx__peer_creds_leave(saved);
			vx_free(saved);
		}
		if (rc) {
			w->rc = rc;
			w->res.stage = VX_DOWNLOAD_STAGE_EXPORT;
			snprintf(w->res.msg, sizeof(w->res.msg), "cannot write '%s': %s", j->output,
				 vx_strerror(rc));
		}
	}
out:
	vx_store_task_release(st, VX_STORE_USE_READ);
}

static void do_memory(struct peer_work *w)
{
	struct vx_store_task *st;

	w->rc = vx_store_task_acquire(w->peer->store, w->task->id, VX_STORE_USE_READ, &st);
	if (w->rc)
		return;
	w->rc = load_memory(st);
	vx_store_task_release(st, VX_STORE_USE_READ);
}

static void work_run(struct vx_work *item)
{
	struct peer_work *w = vx_container_of(item, struct peer_work, item);

	switch (w->kind) {
	case WORK_OPEN:
		do_open(w);
		break;
	case WORK_FETCH:
		do_fetch(w);
		break;
	case WORK_EXPORT:
		do_export(w);
		break;
	case WORK_MEMORY:
		do_memory(w);
		break;
	}
}

/* Moves waiting items into the pool while its queue takes them. */
static void pump_waiting(struct vx_peer *p)
{
	while (!vx_list_empty(&p->works_waiting)) {
		struct peer_work *w = vx_list_first(&p->works_waiting, struct peer_work, node);

		if (vx_pool_submit(p->pool, &w->item))
			return; /* full (or stopping: vx_peer_free() frees what is left) */
		vx_list_del(&w->node);
		vx_list_init(&w->node);
	}
}

/* The item never ran (the pool stopped first): its completion reports why. */
static void work_cancelled(struct peer_work *w, int status)
{
	w->rc = status;
	set_res(w, VX_DOWNLOAD_STAGE_STORE, "the daemon stopped first");
}

/* On the loop thread, from vx_pool_drain() (or vx_pool_free() at the loop's end). */
static void work_done(struct vx_work *item, int status)
{
	struct peer_work *w = vx_container_of(item, struct peer_work, item);
	struct vx_peer *p = w->peer;

	if (status)
		work_cancelled(w, status);
	vx__peer_work_done(p, w);
	if (p->pool)
		pump_waiting(p);
}

void vx__peer_works_cancel_waiting(struct vx_peer *p)
{
	VX_ASSERT(p->pool == NULL);
	while (!vx_list_empty(&p->works_waiting)) {
		struct peer_work *w = vx_list_first(&p->works_waiting, struct peer_work, node);

		vx_list_del(&w->node);
		vx_list_init(&w->node);
		work_cancelled(w, -ECANCELED);
		vx__peer_work_done(p, w); /* frees @w */
	}
}

bool vx__peer_works_idle(struct vx_peer *p)
{
	return vx_list_empty(&p->works_waiting) && vx_pool_pending(p->pool) == 0;
}

int vx__peer_work_start(struct vx_peer *p, struct peer_task *t, struct peer_job *j,
			enum work_kind kind, bool stat_origin)
{
	struct peer_work *w = vx_calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return -ENOMEM;
	w->kind = kind;
	w->peer = p;
	w->task = t;
	w->job = j;
	w->stat_origin = stat_origin;
	w->mem_fd = -1;
	w->item.work = work_run;
	w->item.done = work_done;
	vx_list_init(&w->node);
	/* first come, first served: nothing overtakes an item that already waits */
	rc = vx_list_empty(&p->works_waiting) ? vx_pool_submit(p->pool, &w->item) : -EAGAIN;
	if (rc == -EAGAIN) {
		vx_list_add_tail(&p->works_waiting, &w->node);
		rc = 0;
	}
	if (rc)
		vx_free(w);
	return rc;
}
