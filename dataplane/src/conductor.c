/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conductor.c: the back-to-source download task driver (vx_conductor.h). The calling thread
 * submits up to @parallel ranged reads, each into a slot buffer of one piece; the source
 * workers fill the buffers and signal completion; the calling thread computes each piece's
 * CRC-32, writes it through the store's blocking write path and submits the next read.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_conductor.h"
#include "vx_digest.h"
#include "vx_err.h"
#include "vx_piece_plan.h"
#include "vx_source.h"
#include "vx_store.h"
#include "vx_task_id.h"
#include "vx_time.h"

/* How often the waiting thread wakes up to report progress and check the deadline. */
#define CONDUCTOR_TICK_MS 200u

enum slot_state {
	SLOT_IDLE = 0,
	SLOT_BUSY = 1, /* a read is in flight */
	SLOT_DONE = 2, /* the read's done callback ran; @err says how */
};

struct conductor;

struct slot {
	struct conductor *c;
	uint8_t *buf;	   /* one piece, aligned for direct I/O */
	uint32_t piece;	   /* piece number being read */
	uint64_t length;   /* bytes expected */
	uint64_t received; /* bytes the sink took (under c->lock) */
	uint64_t read_id;  /* for vx_source_cancel() */
	uint64_t start_ms; /* when the read was submitted */
	enum slot_state state;
	int err;
	struct vx_source_error detail;
};

struct conductor {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a slot became DONE */
	struct slot *slots;
	uint32_t nr_slots;
	uint32_t busy; /* slots BUSY or DONE */
};

static void set_msg(struct vx_conductor_result *res, enum vx_conductor_stage stage, const char *fmt,
		    ...) VX_PRINTF(3, 4);

static void set_msg(struct vx_conductor_result *res, enum vx_conductor_stage stage, const char *fmt,
		    ...)
{
	va_list ap;

	res->stage = stage;
	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
}

static int slot_sink(void *arg, const void *data, size_t len)
{
	struct slot *s = arg;
	int rc = 0;

	pthread_mutex_lock(&s->c->lock);
	if (len > s->length - s->received) {
		rc = -EPROTO;
	} else {
		memcpy(s->buf + s->received, data, len);
		s->received += len;
	}
	pthread_mutex_unlock(&s->c->lock);
	return rc;
}

static void slot_done(void *arg, int err, const struct vx_source_error *detail)
{
	struct slot *s = arg;

	pthread_mutex_lock(&s->c->lock);
	s->err = err;
	if (err && detail)
		s->detail = *detail;
	if (!err && s->received != s->length)
		s->err = VX_ESOURCE_PROTO;
	s->state = SLOT_DONE;
	pthread_cond_broadcast(&s->c->cond);
	pthread_mutex_unlock(&s->c->lock);
}

static void report(const struct vx_conductor_request *req, struct vx_conductor_result *res,
		   struct conductor *c, uint64_t start_ms)
{
	uint64_t partial = 0;
	uint32_t i;

	if (c) {
		pthread_mutex_lock(&c->lock);
		for (i = 0; i < c->nr_slots; i++)
			if (c->slots[i].state == SLOT_BUSY)
				partial += c->slots[i].received;
		pthread_mutex_unlock(&c->lock);
	}
	res->totals.elapsed_ms = vx_now_ms() - start_ms;
	if (!req->progress)
		return;
	{
		struct vx_conductor_progress p = res->totals;

		p.bytes_done += partial;
		req->progress(req->progress_arg, &p);
	}
}

/* Checks that @path can be created: its directory exists and is writable, it is not there. */
static int check_output(const char *path, bool overwrite, struct vx_conductor_result *res)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	struct stat st;

	if (!path[0] || (slash && slash[1] == '\0')) {
		set_msg(res, VX_CONDUCTOR_STAGE_OUTPUT, "output '%s' is not a file name", path);
		return -EISDIR;
	}
	if (!slash) {
		dir[0] = '.';
		dir[1] = '\0';
	} else if (slash == path) {
		dir[0] = '/';
		dir[1] = '\0';
	} else {
		if ((size_t)(slash - path) >= sizeof(dir)) {
			set_msg(res, VX_CONDUCTOR_STAGE_OUTPUT, "output path too long");
			return -ENAMETOOLONG;
		}
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	if (stat(dir, &st) != 0) {
		int err = -errno;

		set_msg(res, VX_CONDUCTOR_STAGE_OUTPUT, "output directory '%s': %s", dir,
			vx_strerror(err));
		return err;
	}
	if (!S_ISDIR(st.st_mode)) {
		set_msg(res, VX_CONDUCTOR_STAGE_OUTPUT, "output directory '%s' is not a directory",
			dir);
		return -ENOTDIR;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		int err = -errno;

		set_msg(res, VX_CONDUCTOR_STAGE_OUTPUT, "output directory '%s' is not writable: %s",
			dir, vx_strerror(err));
		return err;
	}
	if (lstat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			set_msg(res, VX_CONDUCTOR_STAGE_OUTPUT, "output '%s' is a directory", path);
			return -EISDIR;
		}
		if (!overwrite) {
			set_msg(res, VX_CONDUCTOR_STAGE_OUTPUT,
				"output '%s' exists (use --overwrite to replace it)", path);
			return -EEXIST;
		}
	}
	return 0;
}

static void source_msg(struct vx_conductor_result *res, const char *what,
		       const struct vx_source_error *detail)
{
	char line[VX_CONDUCTOR_MSG_MAX - 64];
	struct vx_source_error d = *detail;
	size_t n;

	/* One line: drop an error page the origin sent as the detail (HTML, several lines). */
	d.msg[sizeof(d.msg) - 1] = '\0';
	d.msg[strcspn(d.msg, "\r\n<")] = '\0';
	n = strlen(d.msg);
	while (n && (d.msg[n - 1] == ' ' || d.msg[n - 1] == ':'))
		d.msg[--n] = '\0';
	res->source_status = detail->status;
	vx_source_error_format(&d, line, sizeof(line));
	set_msg(res, VX_CONDUCTOR_STAGE_SOURCE, "%s: %s", what, line);
}

/* Verifies the digest of complete task @t when asked, then exports it. */
static int finish(struct vx_store_task *t, const struct vx_conductor_request *req,
		  const struct vx_store_digest *want, struct vx_conductor_result *res)
{
	int rc;

	if (want) {
		res->stage = VX_CONDUCTOR_STAGE_DIGEST;
		rc = vx_store_task_check_digest(t, want);
		if (rc) {
			if (rc == VX_EDIGEST)
				set_msg(res, VX_CONDUCTOR_STAGE_DIGEST,
					"digest mismatch: the content is not %s", req->digest);
			else
				set_msg(res, VX_CONDUCTOR_STAGE_DIGEST, "checking the digest: %s",
					vx_strerror(rc));
			return rc;
		}
	}
	res->stage = VX_CONDUCTOR_STAGE_EXPORT;
	rc = vx_store_task_export(t, req->output, req->overwrite ? VX_STORE_EXPORT_OVERWRITE : 0);
	if (rc) {
		set_msg(res, VX_CONDUCTOR_STAGE_EXPORT, "writing '%s': %s", req->output,
			vx_strerror(rc));
		return rc;
	}
	res->stage = VX_CONDUCTOR_STAGE_DONE;
	return 0;
}

static int conductor_init(struct conductor *c, struct vx_store *store, uint32_t nr_slots,
			  uint64_t piece_length)
{
	uint32_t i;

	memset(c, 0, sizeof(*c));
	c->slots = vx_calloc(nr_slots, sizeof(*c->slots));
	if (!c->slots)
		return -ENOMEM;
	c->nr_slots = nr_slots;
	for (i = 0; i < nr_slots; i++) {
		c->slots[i].c = c;
		c->slots[i].buf = vx_store_buf_alloc(store, (size_t)piece_length);
		if (!c->slots[i].buf)
			goto out_free;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	return 0;
out_free:
	for (i = 0; i < nr_slots; i++)
		vx_store_buf_free(c->slots[i].buf);
	vx_free(c->slots);
	return -ENOMEM;
}

static void conductor_destroy(struct conductor *c)
{
	uint32_t i;

	for (i = 0; i < c->nr_slots; i++)
		vx_store_buf_free(c->slots[i].buf);
	vx_free(c->slots);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
}

/* Cancels every read in flight and waits until each done callback has run. */
static void cancel_all(struct conductor *c, struct vx_source_ctx *src)
{
	uint32_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nr_slots; i++) {
		if (c->slots[i].state == SLOT_BUSY) {
			uint64_t id = c->slots[i].read_id;

			pthread_mutex_unlock(&c->lock);
			(void)vx_source_cancel(src, id);
			pthread_mutex_lock(&c->lock);
		}
	}
	for (;;) {
		bool busy = false;

		for (i = 0; i < c->nr_slots; i++)
			busy |= c->slots[i].state == SLOT_BUSY;
		if (!busy)
			break;
		pthread_cond_wait(&c->cond, &c->lock);
	}
	for (i = 0; i < c->nr_slots; i++)
		c->slots[i].state = SLOT_IDLE;
	c->busy = 0;
	pthread_mutex_unlock(&c->lock);
}

static void deadline_ts(struct timespec *ts, uint32_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/*
 * Writes piece @number of @t from @buf: the CRC-32 computed here is the one the store records,
 * and the store checks it again against the bytes it writes.
 */
static int write_piece(struct vx_store_task *t, uint32_t number, const uint8_t *buf, uint64_t len)
{
	return vx_store_piece_write(t, number, buf, (size_t)len, true,
				    vx_crc32(0, buf, (size_t)len), NULL);
}

/* Fetches every missing piece of @t from @obj. */
static int fetch_pieces(struct vx_store *store, struct vx_source_ctx *src,
			struct vx_source_obj *obj, struct vx_store_task *t,
			const struct vx_conductor_request *req, struct vx_conductor_result *res,
			uint64_t start_ms)
{
	uint64_t clen = res->totals.content_length, pl = res->piece_length;
	uint32_t count = res->totals.piece_count, next = 0, nr_slots, i;
	struct conductor c;
	int rc = 0;

	nr_slots = req->parallel ? req->parallel : VX_CONDUCTOR_PARALLEL_DEFAULT;
	if (nr_slots > VX_CONDUCTOR_PARALLEL_MAX)
		nr_slots = VX_CONDUCTOR_PARALLEL_MAX;
	if (nr_slots > count)
		nr_slots = count;
	if (nr_slots == 0)
		return 0;
	rc = conductor_init(&c, store, nr_slots, pl);
	if (rc) {
		set_msg(res, VX_CONDUCTOR_STAGE_STORE, "out of memory for %u piece buffers",
			nr_slots);
		return rc;
	}
	res->stage = VX_CONDUCTOR_STAGE_SOURCE;
	for (;;) {
		struct slot *done = NULL;

		/* Fill idle slots with the next missing pieces. */
		for (i = 0; i < nr_slots && next < count; i++) {
			struct slot *s = &c.slots[i];
			struct vx_source_read rd = { 0 };

			if (s->state != SLOT_IDLE)
				continue;
			while (next < count && vx_store_piece_is_finished(t, next))
				next++;
			if (next == count)
				break;
			s->piece = next++;
			s->length = vx_piece_size(s->piece, clen, pl);
			s->received = 0;
			s->err = 0;
			s->start_ms = vx_now_ms();
			memset(&s->detail, 0, sizeof(s->detail));
			rd.offset = vx_piece_offset(s->piece, pl);
			rd.length = s->length;
			rd.sink = slot_sink;
			rd.done = slot_done;
			rd.arg = s;
			pthread_mutex_lock(&c.lock);
			s->state = SLOT_BUSY;
			c.busy++;
			pthread_mutex_unlock(&c.lock);
			rc = vx_source_read_submit(obj, &rd, &s->read_id);
			if (rc) {
				pthread_mutex_lock(&c.lock);
				s->state = SLOT_IDLE;
				c.busy--;
				pthread_mutex_unlock(&c.lock);
				set_msg(res, VX_CONDUCTOR_STAGE_SOURCE, "submitting a read: %s",
					vx_strerror(rc));
				goto out_cancel;
			}
		}
		if (c.busy == 0)
			break;
		/* Wait for one read to finish, reporting progress meanwhile. */
		pthread_mutex_lock(&c.lock);
		for (;;) {
			struct timespec ts;

			for (i = 0; i < nr_slots && !done; i++)
				if (c.slots[i].state == SLOT_DONE)
					done = &c.slots[i];
			if (done)
				break;
			deadline_ts(&ts, CONDUCTOR_TICK_MS);
			pthread_cond_timedwait(&c.cond, &c.lock, &ts);
			if (req->timeout_ms && vx_now_ms() - start_ms >= req->timeout_ms)
				break;
			pthread_mutex_unlock(&c.lock);
			report(req, res, &c, start_ms);
			pthread_mutex_lock(&c.lock);
		}
		pthread_mutex_unlock(&c.lock);
		if (!done) {
			rc = -ETIMEDOUT;
			set_msg(res, VX_CONDUCTOR_STAGE_SOURCE, "timed out after %u ms",
				req->timeout_ms);
			goto out_cancel;
		}
		if (done->err) {
			rc = done->err;
			source_msg(res, "reading from the source", &done->detail);
			goto out_cancel;
		}
		rc = write_piece(t, done->piece, done->buf, done->length);
		if (rc == -EALREADY) {
			rc = 0;
		} else if (rc) {
			set_msg(res, VX_CONDUCTOR_STAGE_STORE, "writing piece %u: %s", done->piece,
				vx_strerror(rc));
			goto out_cancel;
		} else {
			res->totals.bytes_from_source += done->length;
		}
		res->totals.bytes_done += done->length;
		res->totals.pieces_done++;
		pthread_mutex_lock(&c.lock);
		done->state = SLOT_IDLE;
		c.busy--;
		pthread_mutex_unlock(&c.lock);
		report(req, res, &c, start_ms);
	}
	conductor_destroy(&c);
	return 0;
out_cancel:
	cancel_all(&c, src);
	conductor_destroy(&c);
	return rc;
}

int vx_conductor_download(struct vx_store *store, struct vx_source_ctx *src,
			  const struct vx_conductor_request *req, struct vx_conductor_result *res)
{
	struct vx_task_id_params idp = { 0 };
	struct vx_store_task_params tp = { 0 };
	struct vx_source_opts opts = { 0 };
	struct vx_source_error detail = { 0 };
	struct vx_store_digest digest, *want = NULL;
	const struct vx_source_stat *st;
	struct vx_source_obj *obj = NULL;
	struct vx_store_task *t = NULL;
	enum vx_url_error why = VX_URL_OK;
	uint64_t start_ms = vx_now_ms(), pl;
	uint32_t i;
	int rc;

	memset(res, 0, sizeof(*res));
	res->stage = VX_CONDUCTOR_STAGE_REQUEST;
	if (!req->url || !req->output) {
		set_msg(res, VX_CONDUCTOR_STAGE_REQUEST, "a URL and an output path are required");
		return -EINVAL;
	}
	if (req->digest) {
		rc = vx_store_digest_parse(req->digest, strlen(req->digest), &digest);
		if (rc) {
			set_msg(res, VX_CONDUCTOR_STAGE_REQUEST,
				"bad digest '%s' (want sha256:<hex>, sha512:<hex> or crc32:<dec>)",
				req->digest);
			return rc;
		}
		want = &digest;
	}
	idp.url = req->url;
	idp.tag = req->tag;
	idp.application = req->application;
	idp.piece_length = req->piece_length;
	idp.filtered_params = req->filtered_params;
	idp.nr_filtered_params = req->nr_filtered_params;
	rc = vx_task_id_from_url(&idp, res->task_id, NULL, 0, &why);
	if (rc) {
		if (rc == VX_EURL)
			set_msg(res, VX_CONDUCTOR_STAGE_REQUEST, "invalid URL '%s': %s", req->url,
				vx_url_strerror(why));
		else
			set_msg(res, VX_CONDUCTOR_STAGE_REQUEST, "task id of '%s': %s", req->url,
				vx_strerror(rc));
		res->task_id[0] = '\0';
		return rc;
	}
	if (!vx_source_supports(src, req->url)) {
		set_msg(res, VX_CONDUCTOR_STAGE_REQUEST, "unsupported URL scheme in '%s'",
			req->url);
		return VX_ESCHEME;
	}
	rc = check_output(req->output, req->overwrite, res);
	if (rc)
		return rc;

	/* A complete local copy is put in place at once, without asking the origin. */
	rc = vx_store_task_acquire(store, res->task_id, VX_STORE_USE_READ, &t);
	if (rc == 0) {
		struct vx_store_task_info info;

		vx_store_task_info(t, &info);
		if (info.state == VX_STORE_TASK_COMPLETE) {
			res->reused = true;
			res->piece_length = info.piece_length;
			res->totals.content_length = info.content_length;
			res->totals.piece_count = info.piece_count;
			res->totals.pieces_done = info.piece_count;
			res->totals.bytes_done = info.content_length;
			res->totals.bytes_reused = info.content_length;
			report(req, res, NULL, start_ms);
			rc = finish(t, req, want, res);
			vx_store_task_release(t, VX_STORE_USE_READ);
			res->totals.elapsed_ms = vx_now_ms() - start_ms;
			return rc;
		}
		vx_store_task_release(t, VX_STORE_USE_READ);
		t = NULL;
	}

	res->stage = VX_CONDUCTOR_STAGE_SOURCE;
	opts.headers = req->headers;
	opts.nr_headers = req->nr_headers;
	opts.timeout_ms = req->timeout_ms;
	rc = vx_source_open(src, req->url, &opts, &obj, &detail);
	if (rc) {
		source_msg(res, "cannot get the source", &detail);
		return rc;
	}
	st = vx_source_obj_stat(obj);
	if (st->is_dir) {
		set_msg(res, VX_CONDUCTOR_STAGE_SOURCE, "'%s' is a directory at the source",
			req->url);
		rc = -EISDIR;
		goto out_obj;
	}
	if (st->length == VX_SOURCE_LENGTH_UNKNOWN || st->length < 0) {
		set_msg(res, VX_CONDUCTOR_STAGE_SOURCE,
			"the origin gives no content length (chunked reply): not supported yet");
		rc = -EOPNOTSUPP;
		goto out_obj;
	}
	res->totals.content_length = (uint64_t)st->length;
	pl = req->piece_length ? req->piece_length : vx_piece_length_for((uint64_t)st->length);
	if (pl > VX_STORE_PIECE_LEN_MAX) {
		set_msg(res, VX_CONDUCTOR_STAGE_REQUEST, "piece length %llu is above %llu",
			(unsigned long long)pl, (unsigned long long)VX_STORE_PIECE_LEN_MAX);
		rc = -EINVAL;
		goto out_obj;
	}
	res->piece_length = pl;
	res->totals.piece_count = vx_piece_count((uint64_t)st->length, pl);
	if (res->totals.piece_count > 1 && !st->ranges) {
		set_msg(res, VX_CONDUCTOR_STAGE_SOURCE,
			"the origin does not honour byte ranges: not supported yet for more than "
			"one piece");
		rc = -EOPNOTSUPP;
		goto out_obj;
	}

	res->stage = VX_CONDUCTOR_STAGE_STORE;
	tp.id = res->task_id;
	tp.url = req->url;
	tp.digest = req->digest;
	tp.content_length = (uint64_t)st->length;
	tp.piece_length = pl;
	tp.kind = VX_STORE_KIND_NORMAL;
	rc = vx_store_task_open(store, &tp, VX_STORE_USE_DOWNLOAD, &t);
	if (rc == -EEXIST && vx_store_task_remove(store, res->task_id) == 0) {
		/* The origin's object changed length: the stored pieces are stale. */
		rc = vx_store_task_open(store, &tp, VX_STORE_USE_DOWNLOAD, &t);
	}
	if (rc) {
		set_msg(res, VX_CONDUCTOR_STAGE_STORE, "opening task %s in the store: %s",
			res->task_id, vx_strerror(rc));
		goto out_obj;
	}
	for (i = 0; i < res->totals.piece_count; i++) {
		if (vx_store_piece_is_finished(t, i)) {
			uint64_t sz = vx_piece_size(i, (uint64_t)st->length, pl);

			res->totals.bytes_reused += sz;
			res->totals.bytes_done += sz;
			res->totals.pieces_done++;
		}
	}
	report(req, res, NULL, start_ms);
	rc = fetch_pieces(store, src, obj, t, req, res, start_ms);
	if (rc)
		goto out_task;
	vx_source_obj_free(obj);
	obj = NULL;
	report(req, res, NULL, start_ms);
	rc = finish(t, req, want, res);
out_task:
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
out_obj:
	vx_source_obj_free(obj);
	res->totals.elapsed_ms = vx_now_ms() - start_ms;
	return rc;
}
