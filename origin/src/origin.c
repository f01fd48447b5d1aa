/* SPDX-License-Identifier: Apache-2.0 */
/*
 * origin.c: the back-to-source task driver (vx_origin.h). Three ways to move an object
 * from its origin into the store, all driven by the calling thread while the source workers
 * only receive bytes into buffers:
 *
 *   ranged    the origin honours byte ranges: up to @parallel pieces are reserved in the store
 *             and read at once, one slot buffer of one piece each;
 *   stream    no ranges: one read of the whole object from offset 0 fills a small ring of
 *             piece buffers in order, and each piece is committed as soon as its bytes are in;
 *   spool     no length: the same stream, in fixed chunks, into a temporary file that is then
 *             imported into the store as a complete task.
 *
 * In every mode the calling thread computes each piece's CRC-32, writes it at its offset and
 * commits it; another writer of the same task (the daemon's peer fetcher) is never raced: a
 * piece is written only under the store's reservation (vx_store_piece_begin_write()).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "vx_alloc.h"
#include "vx_origin.h"
#include "vx_digest.h"
#include "vx_err.h"
#include "vx_piece_plan.h"
#include "vx_source.h"
#include "vx_store.h"
#include "vx_task_id.h"
#include "vx_time.h"
#include "vx_url.h"

/*
 * The whole-request limit given to the source when the caller sets none: about 49 days, i.e.
 * none. A single read of a large object from an origin without ranges may rightly take hours;
 * a transfer that stops moving is still cut off by the source's stall timeout.
 */
#define ORIGIN_NO_LIMIT_MS UINT32_MAX
/* Alignment of piece buffers: enough for O_DIRECT on every filesystem we meet. */
#define ORIGIN_BUF_ALIGN 4096u
/* Largest part of a piece one ranged read fetches into one buffer (issue 19 goal 6). */
#define ORIGIN_PART_MAX (4u << 20)
/* Longest directory name of a spool file. */
#define ORIGIN_PATH_MAX 4096u

/* ------------------------------------------------------------------------------------------- */
/* Messages                                                                                    */

static void set_msg(struct vx_download_result *res, enum vx_download_stage stage, const char *fmt,
		    ...) VX_PRINTF(3, 4);

static void set_msg(struct vx_download_result *res, enum vx_download_stage stage, const char *fmt,
		    ...)
{
	va_list ap;

	res->stage = stage;
	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
}

static void source_msg(struct vx_download_result *res, const char *what,
		       const struct vx_source_error *detail)
{
	char line[VX_DOWNLOAD_MSG_MAX - 64];
	struct vx_source_error d = *detail;
	size_t n;

	/* One line: drop an error page the origin sent as the detail (HTML, several lines). */
	d.msg[sizeof(d.msg) - 1] = '\0';
	d.msg[strcspn(d.msg, "\r\n<")] = '\0';
	n = strlen(d.msg);
	while (n && (d.msg[n - 1] == ' ' || d.msg[n - 1] == ':'))
		d.msg[--n] = '\0';
	res->source_status = detail->status > 0 ? (uint32_t)detail->status : 0;
	vx_source_error_format(&d, line, sizeof(line));
	set_msg(res, VX_DOWNLOAD_STAGE_SOURCE, "%s: %s", what, line);
}

/* Rewrites the message of a failure a time limit caused as "timed out after N ms (...)". */
static int timed_out_msg(struct vx_download_result *res, uint64_t elapsed_ms)
{
	char was[VX_DOWNLOAD_MSG_MAX - 64];
	size_t n = strnlen(res->msg, sizeof(was) - 1);

	memcpy(was, res->msg, n);
	was[n] = '\0';
	if (n)
		set_msg(res, res->stage, "timed out after %llu ms (%s)",
			(unsigned long long)elapsed_ms, was);
	else
		set_msg(res, res->stage, "timed out after %llu ms", (unsigned long long)elapsed_ms);
	return -ETIMEDOUT;
}

/* ------------------------------------------------------------------------------------------- */
/* One run: the caller's deadline, cancel flag, counters and callbacks                        */

struct run {
	const struct vx_download_request *req;
	const struct vx_origin_opts *opts; /* never NULL */
	struct vx_download_result *res;
	struct vx_store_task *t; /* NULL while spooling */
	uint64_t start_ms;	 /* vx_now_ms() when the caller's call began */
	uint64_t deadline_ms;	 /* vx_now_ms() value; 0: none */
	uint8_t *counted;	 /* stream: pieces already in the counters (one byte each) */
	/* @req->digest's algorithm over pieces [0, md_next), hashed as this run wrote them, in
	 * order (run_hash_start()); NULL: none, or a piece came otherwise */
	EVP_MD_CTX *md;
	uint32_t md_next;
	uint64_t md_at; /* bytes of piece @md_next hashed so far (it is written in parts) */
	struct vx_digest_spec seen; /* the content's digest, once the last piece is hashed */
};

static const struct vx_origin_opts no_opts;

static void run_init(struct run *r, const struct vx_download_request *req,
		     const struct vx_origin_opts *opts, struct vx_download_result *res,
		     struct vx_store_task *t, uint64_t start_ms)
{
	r->req = req;
	r->opts = opts ? opts : &no_opts;
	r->res = res;
	r->t = t;
	r->start_ms = start_ms;
	r->deadline_ms = req->timeout_ms ? start_ms + req->timeout_ms : 0;
	r->counted = NULL;
	r->md = NULL;
	r->md_next = 0;
	r->md_at = 0;
}

static void run_hash_end(struct run *r)
{
	EVP_MD_CTX_free(r->md);
	r->md = NULL;
}

/*
 * With @req->digest (sha256 or sha512) and a read that writes pieces in order (a stream, or a
 * single piece), the content is hashed as it is written: the commit of the last piece then
 * hands the store the content's digest, and the digest check after the fetch needs no second
 * read of the whole content (issue 13: that read was the end of every cold mirror pull). Any
 * piece out of order (another writer's, a resume's) ends the hash; nothing else changes.
 */
static void run_hash_start(struct run *r)
{
	const char *d = r->req->digest;
	struct vx_digest_spec want;

	if (!d || vx_digest_spec_parse(d, strlen(d),
				       VX_DIGEST_ACCEPT_SHA256 | VX_DIGEST_ACCEPT_SHA512, &want))
		return;
	r->md = EVP_MD_CTX_new();
	if (r->md &&
	    EVP_DigestInit_ex(r->md, want.algo == VX_DIGEST_SHA256 ? EVP_sha256() : EVP_sha512(),
			      NULL) != 1)
		run_hash_end(r);
	r->seen.algo = want.algo;
	r->seen.len = want.len;
}

/* @len bytes at @buf, @at bytes into piece @number, are written: hashed when next in order. */
static void run_hash_part(struct run *r, uint32_t number, uint64_t at, const uint8_t *buf,
			  uint64_t len)
{
	if (!r->md)
		return;
	if (number != r->md_next || at != r->md_at ||
	    EVP_DigestUpdate(r->md, buf, (size_t)len) != 1) {
		run_hash_end(r);
		return;
	}
	r->md_at += len;
}

/*
 * Piece @number (@len bytes) is about to be committed: it counts when all of it was hashed in
 * order. Returns the content's digest for the commit of the last piece, else NULL.
 */
static const struct vx_digest_spec *run_hash_piece(struct run *r, uint32_t number, uint64_t len)
{
	unsigned int n = 0;
	bool ok;

	if (!r->md)
		return NULL;
	ok = number == r->md_next && r->md_at == len;
	r->md_at = 0;
	if (ok && ++r->md_next < r->res->totals.piece_count)
		return NULL;
	ok = ok && EVP_DigestFinal_ex(r->md, r->seen.value, &n) == 1 && n == r->seen.len;
	run_hash_end(r);
	return ok ? &r->seen : NULL;
}

static bool run_expired(const struct run *r)
{
	return r->deadline_ms && vx_now_ms() >= r->deadline_ms;
}

static bool run_cancelled(const struct run *r)
{
	return r->opts->cancel && atomic_load_explicit(r->opts->cancel, memory_order_acquire);
}

/* Returns 0 to go on, or -ECANCELED / -ETIMEDOUT with the message set. */
static int run_check(struct run *r)
{
	if (run_cancelled(r)) {
		set_msg(r->res, r->res->stage, "cancelled");
		return -ECANCELED;
	}
	if (run_expired(r)) {
		r->res->msg[0] = '\0';
		return timed_out_msg(r->res, vx_now_ms() - r->start_ms);
	}
	return 0;
}

/*
 * A source failure: a read that stopped because the caller cancelled is -ECANCELED, and one
 * that a time limit ended (its own, or the run's deadline passing meanwhile) is -ETIMEDOUT.
 */
static int run_source_fail(struct run *r, const char *what, int err,
			   const struct vx_source_error *detail)
{
	if (err == -ECANCELED && run_cancelled(r)) {
		set_msg(r->res, VX_DOWNLOAD_STAGE_SOURCE, "cancelled");
		return -ECANCELED;
	}
	if (detail && detail->err)
		source_msg(r->res, what, detail);
	else
		set_msg(r->res, VX_DOWNLOAD_STAGE_SOURCE, "%s: %s", what, vx_strerror(err));
	if ((detail && detail->timed_out) || run_expired(r))
		return timed_out_msg(r->res, vx_now_ms() - r->start_ms);
	return err;
}

/* @partial: bytes received into buffers and not committed yet. */
static void run_report(struct run *r, uint64_t partial)
{
	struct vx_download_progress p;

	r->res->totals.elapsed_ms = vx_now_ms() - r->start_ms;
	if (!r->opts->progress)
		return;
	p = r->res->totals;
	memcpy(p.task_id, r->res->task_id, sizeof(p.task_id));
	p.bytes_done += partial;
	if (p.bytes_done > p.content_length)
		p.content_length = p.bytes_done; /* unsized: the length is what came so far */
	r->opts->progress(r->opts->arg, &p);
}

/* Piece @number was found finished: before the call, or by another writer meanwhile. */
static void run_reused(struct run *r, uint32_t number)
{
	struct vx_download_progress *p = &r->res->totals;
	uint64_t len = vx_piece_size(number, p->content_length, r->res->piece_length);

	if (r->counted) {
		if (r->counted[number])
			return;
		r->counted[number] = 1;
	}
	p->reused += len;
	p->bytes_done += len;
	p->pieces_done++;
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

static size_t piece_buf_size(uint64_t len)
{
	uint64_t size = len ? len : 1;

	return (size_t)((size + ORIGIN_BUF_ALIGN - 1) & ~(uint64_t)(ORIGIN_BUF_ALIGN - 1));
}

/*
 * A piece buffer is mapped, not taken from the heap (issue 19 goal 6): the fetch runs on a
 * pool thread, and a freed 4 MiB block stayed in that thread's jemalloc arena, so a seed's RSS
 * grew by the fetch's buffers (~17 MiB) with every task fetched on a thread not used before.
 * munmap gives the pages back at the end of each fetch. Page aligned, as direct I/O needs.
 */
static uint8_t *piece_buf_alloc(uint64_t len)
{
	void *p = mmap(NULL, piece_buf_size(len), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void piece_buf_free(uint8_t *buf, uint64_t len)
{
	if (buf)
		munmap(buf, piece_buf_size(len));
}

/* Writes all @len bytes of @buf at @off of @fd, in calls of at most VX_STORE_IO_MAX bytes. */
static int pwrite_all(int fd, const uint8_t *buf, uint64_t len, uint64_t off)
{
	while (len) {
		size_t n = (size_t)VX_MIN(len, (uint64_t)VX_STORE_IO_MAX);
		ssize_t w = pwrite(fd, buf, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		buf += w;
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

/*
 * Writes @len bytes of piece @number of the run's task from @buf at @at bytes into the piece,
 * under the reservation @io this thread holds, and continues *@crc over them. The reservation
 * is given back on a write failure (a disk error fails the task, see vx_store_piece_abort()).
 */
static int put_part(struct run *r, uint32_t number, const uint8_t *buf, uint64_t len, uint64_t at,
		    const struct vx_store_piece_io *io, uint32_t *crc)
{
	uint64_t off = io->offset + at;
	int fd = io->buffered_fd, rc;

	if (io->direct && VX_IS_ALIGNED((uintptr_t)buf, (uintptr_t)io->align) &&
	    VX_IS_ALIGNED(off, (uint64_t)io->align) && VX_IS_ALIGNED(len, (uint64_t)io->align))
		fd = io->fd;
	*crc = vx_crc32(*crc, buf, (size_t)len);
	run_hash_part(r, number, at, buf, len);
	rc = pwrite_all(fd, buf, len, off);
	if (rc) {
		vx_store_piece_abort(r->t, number, rc);
		set_msg(r->res, VX_DOWNLOAD_STAGE_STORE, "writing piece %u: %s", number,
			vx_strerror(rc));
	}
	return rc;
}

/* Piece @number (@len bytes, CRC-32 @crc) is written: commits it and tells the caller. */
static int commit_piece(struct run *r, uint32_t number, uint32_t crc, uint64_t len,
			uint64_t start_ns)
{
	struct vx_store_piece_done done = { 0 };
	uint64_t cost_us;
	int rc;

	done.crc32 = crc;
	cost_us = (vx_now_ns() - start_ns) / 1000u;
	done.cost_ms = cost_us / 1000u;
	done.content = run_hash_piece(r, number, len);
	/*
	 * Told before the commit: the commit may complete the task on the caller's loop, whose
	 * account of bytes from the source must already hold this piece's.
	 */
	if (r->opts->on_piece)
		r->opts->on_piece(r->opts->arg, number, done.crc32, cost_us);
	rc = vx_store_piece_commit(r->t, number, &done);
	if (rc) {
		set_msg(r->res, VX_DOWNLOAD_STAGE_STORE, "committing piece %u: %s", number,
			vx_strerror(rc));
		return rc;
	}
	r->res->totals.from_source += len;
	r->res->totals.bytes_done += len;
	r->res->totals.pieces_done++;
	if (r->counted)
		r->counted[number] = 1;
	return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* Ranged: parallel reads, one reserved piece per slot                                         */

enum slot_state {
	SLOT_IDLE = 0,
	SLOT_BUSY = 1, /* the piece is reserved and its read is in flight */
	SLOT_DONE = 2, /* the read's done callback ran; @err says how; still reserved */
};

struct ranged;

struct slot {
	struct ranged *c;
	uint8_t *buf;		     /* one part of a piece, aligned for direct I/O */
	struct vx_store_piece_io io; /* the reservation */
	uint32_t piece;		     /* piece number being read */
	uint64_t part_at;	     /* bytes of the piece written before the part in flight */
	uint64_t part_len;	     /* bytes of the part in flight */
	uint32_t crc;		     /* CRC-32 of the piece's first @part_at bytes */
	uint64_t received;	     /* bytes of the part the sink took (under c->lock) */
	uint64_t read_id;	     /* for vx_source_cancel() */
	uint64_t start_ns;	     /* when the read was submitted */
	enum slot_state state;	     /* under c->lock */
	int err;
	struct vx_source_error detail;
};

struct ranged {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a slot became DONE */
	struct slot *slots;
	uint32_t nr_slots;
	uint64_t buf_len;     /* of each slot's buffer: a part, at most ORIGIN_PART_MAX */
	uint32_t busy;	      /* slots BUSY or DONE */
	uint32_t *deferred;   /* pieces another writer held when we tried them */
	uint32_t nr_deferred; /* at most the piece count: a piece is listed once */
	uint32_t cursor;      /* next piece never tried */
	struct vx_source_obj *obj;
	struct vx_source_ctx *src;
};

static int slot_sink(void *arg, const void *data, size_t len)
{
	struct slot *s = arg;
	int rc = 0;

	pthread_mutex_lock(&s->c->lock);
	if (len > s->part_len - s->received) {
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
	if (!err && s->received != s->part_len)
		s->err = VX_ESOURCE_PROTO;
	s->state = SLOT_DONE;
	pthread_cond_broadcast(&s->c->cond);
	pthread_mutex_unlock(&s->c->lock);
}

static int ranged_init(struct ranged *c, uint32_t nr_slots, uint64_t piece_length,
		       uint32_t piece_count)
{
	uint32_t i;

	memset(c, 0, sizeof(*c));
	c->slots = vx_calloc(nr_slots, sizeof(*c->slots));
	c->deferred = vx_mallocarray(piece_count, sizeof(*c->deferred));
	if (!c->slots || !c->deferred)
		goto out_free;
	c->nr_slots = nr_slots;
	c->buf_len = VX_MIN(piece_length, (uint64_t)ORIGIN_PART_MAX);
	for (i = 0; i < nr_slots; i++) {
		c->slots[i].c = c;
		c->slots[i].buf = piece_buf_alloc(c->buf_len);
		if (!c->slots[i].buf)
			goto out_free;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	return 0;
out_free:
	for (i = 0; c->slots && i < nr_slots; i++)
		piece_buf_free(c->slots[i].buf, c->buf_len);
	vx_free(c->slots);
	vx_free(c->deferred);
	return -ENOMEM;
}

static void ranged_destroy(struct ranged *c)
{
	uint32_t i;

	for (i = 0; i < c->nr_slots; i++)
		piece_buf_free(c->slots[i].buf, c->buf_len);
	vx_free(c->slots);
	vx_free(c->deferred);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
}

static struct slot *idle_slot(struct ranged *c)
{
	struct slot *s = NULL;
	uint32_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nr_slots && !s; i++)
		if (c->slots[i].state == SLOT_IDLE)
			s = &c->slots[i];
	pthread_mutex_unlock(&c->lock);
	return s;
}

static void slot_set_idle(struct ranged *c, struct slot *s)
{
	pthread_mutex_lock(&c->lock);
	s->state = SLOT_IDLE;
	c->busy--;
	pthread_mutex_unlock(&c->lock);
}

/*
 * Cancels every read in flight, waits until each done callback has run and gives back every
 * reservation the slots hold.
 */
static void ranged_stop(struct run *r, struct ranged *c)
{
	uint32_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nr_slots; i++) {
		if (c->slots[i].state == SLOT_BUSY) {
			uint64_t id = c->slots[i].read_id;

			pthread_mutex_unlock(&c->lock);
			(void)vx_source_cancel(c->src, id);
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
	for (i = 0; i < c->nr_slots; i++) {
		if (c->slots[i].state == SLOT_DONE)
			vx_store_piece_abort(r->t, c->slots[i].piece, 0);
		c->slots[i].state = SLOT_IDLE;
	}
	c->busy = 0;
	pthread_mutex_unlock(&c->lock);
}

/*
 * Submits the read of the next part of busy slot @s's piece (issue 19 goal 6: a slot holds one
 * part, not a whole piece, so the fetch's memory does not grow with the piece length). On
 * failure the slot is idle again and its reservation given back.
 */
static int ranged_submit_part(struct run *r, struct ranged *c, struct slot *s)
{
	struct vx_source_read rd = { 0 };
	int rc;

	pthread_mutex_lock(&c->lock);
	s->part_len = VX_MIN(c->buf_len, s->io.length - s->part_at);
	s->received = 0;
	s->err = 0;
	memset(&s->detail, 0, sizeof(s->detail));
	pthread_mutex_unlock(&c->lock);
	rd.offset = vx_piece_offset(s->piece, r->res->piece_length) + s->part_at;
	rd.length = s->part_len;
	rd.sink = slot_sink;
	rd.done = slot_done;
	rd.arg = s;
	memcpy(rd.rates, r->opts->rates, sizeof(rd.rates));
	rc = vx_source_read_submit(c->obj, &rd, &s->read_id);
	if (rc) {
		slot_set_idle(c, s);
		vx_store_piece_abort(r->t, s->piece, 0);
		set_msg(r->res, VX_DOWNLOAD_STAGE_SOURCE, "submitting a read: %s", vx_strerror(rc));
	}
	return rc;
}

/*
 * Part @s->part_len of busy slot @s's piece arrived: writes it, then reads the next part or
 * commits the piece (the slot becomes idle). On failure the slot is idle, nothing reserved.
 */
static int ranged_put_part(struct run *r, struct ranged *c, struct slot *s)
{
	int rc = put_part(r, s->piece, s->buf, s->part_len, s->part_at, &s->io, &s->crc);

	if (rc) {
		slot_set_idle(c, s);
		return rc;
	}
	s->part_at += s->part_len;
	if (s->part_at < s->io.length) {
		pthread_mutex_lock(&c->lock);
		s->state = SLOT_BUSY;
		pthread_mutex_unlock(&c->lock);
		return ranged_submit_part(r, c, s);
	}
	slot_set_idle(c, s);
	return commit_piece(r, s->piece, s->crc, s->io.length, s->start_ns);
}

/*
 * Tries piece @n on idle slot @s: reserves it and submits its read (returns 0), or finds it
 * finished (counted as reused) or held by another writer (deferred), returning 1 with @s still
 * idle; or fails (< 0, message set, nothing held).
 */
static int ranged_start(struct run *r, struct ranged *c, struct slot *s, uint32_t n)
{
	int rc;

	rc = vx_store_piece_begin_write(r->t, n, &s->io);
	if (rc == -EALREADY) {
		run_reused(r, n);
		return 1;
	}
	if (rc == -EBUSY) {
		c->deferred[c->nr_deferred++] = n;
		return 1;
	}
	if (rc) {
		set_msg(r->res, VX_DOWNLOAD_STAGE_STORE, "reserving piece %u: %s", n,
			vx_strerror(rc));
		return rc;
	}
	s->piece = n;
	s->part_at = 0;
	s->crc = 0;
	s->start_ns = vx_now_ns();
	pthread_mutex_lock(&c->lock);
	s->state = SLOT_BUSY;
	c->busy++;
	pthread_mutex_unlock(&c->lock);
	return ranged_submit_part(r, c, s);
}

/* Fills idle slots: new pieces in order first, then (once per round) the deferred ones. */
static int ranged_fill(struct run *r, struct ranged *c, uint32_t count)
{
	struct slot *s;
	uint32_t k, nd;
	int rc;

	while (c->cursor < count && (s = idle_slot(c))) {
		rc = ranged_start(r, c, s, c->cursor++);
		if (rc < 0)
			return rc;
	}
	if (c->cursor < count || !c->nr_deferred)
		return 0;
	/* Retrying pushes a still-held piece back at an index never above the one read. */
	nd = c->nr_deferred;
	c->nr_deferred = 0;
	for (k = 0; k < nd; k++) {
		uint32_t n = c->deferred[k];

		s = idle_slot(c);
		if (!s) {
			c->deferred[c->nr_deferred++] = n;
			continue;
		}
		rc = ranged_start(r, c, s, n);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Waits up to one tick for reads to finish, then writes every finished one. */
static int ranged_drain(struct run *r, struct ranged *c)
{
	uint64_t partial = 0;
	uint32_t i;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nr_slots && c->slots[i].state != SLOT_DONE; i++)
		;
	if (i == c->nr_slots) {
		struct timespec ts;

		deadline_ts(&ts, VX_ORIGIN_TICK_MS);
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	}
	pthread_mutex_unlock(&c->lock);
	for (i = 0; i < c->nr_slots && !rc; i++) {
		struct slot *s = &c->slots[i];
		enum slot_state state;

		pthread_mutex_lock(&c->lock);
		state = s->state;
		if (state == SLOT_BUSY)
			partial += s->part_at + s->received;
		pthread_mutex_unlock(&c->lock);
		if (state != SLOT_DONE)
			continue;
		if (s->err) {
			char what[64];

			snprintf(what, sizeof(what), "reading piece %u from the source", s->piece);
			rc = run_source_fail(r, what, s->err, &s->detail);
			vx_store_piece_abort(r->t, s->piece, 0);
			slot_set_idle(c, s);
		} else {
			rc = ranged_put_part(r, c, s);
		}
	}
	if (!rc)
		run_report(r, partial);
	return rc;
}

static int fetch_ranged(struct run *r, struct vx_source_ctx *src, struct vx_source_obj *obj)
{
	uint32_t count = r->res->totals.piece_count, nr_slots;
	struct ranged c;
	int rc;

	nr_slots = r->opts->parallel ? r->opts->parallel : VX_ORIGIN_PARALLEL_DEFAULT;
	nr_slots = VX_MIN(nr_slots, VX_ORIGIN_PARALLEL_MAX);
	nr_slots = VX_MIN(nr_slots, count);
	if (ranged_init(&c, nr_slots, r->res->piece_length, count)) {
		set_msg(r->res, VX_DOWNLOAD_STAGE_STORE, "out of memory for %u piece buffers",
			nr_slots);
		return -ENOMEM;
	}
	c.obj = obj;
	c.src = src;
	r->res->stage = VX_DOWNLOAD_STAGE_SOURCE;
	for (;;) {
		rc = run_check(r);
		if (rc)
			break;
		rc = ranged_fill(r, &c, count);
		if (rc)
			break;
		if (c.busy) {
			rc = ranged_drain(r, &c);
			if (rc)
				break;
			continue;
		}
		if (!c.nr_deferred)
			break; /* every piece is finished */
		/* Only pieces other writers hold are left: wait for the first of them. */
		rc = vx_store_piece_wait(r->t, c.deferred[0], VX_ORIGIN_TICK_MS);
		if (rc && rc != -ETIMEDOUT) {
			set_msg(r->res, VX_DOWNLOAD_STAGE_STORE, "waiting for piece %u: %s",
				c.deferred[0], vx_strerror(rc));
			break;
		}
		rc = 0;
		run_report(r, 0);
	}
	if (rc)
		ranged_stop(r, &c);
	ranged_destroy(&c);
	return rc;
}

/* ------------------------------------------------------------------------------------------- */
/* Stream and spool: one sequential read, a ring of buffers                                    */

struct sbuf {
	uint8_t *data;
	uint64_t index;	   /* piece number, or chunk number when spooling */
	uint64_t part_at;  /* pieces mode: where in piece @index the bytes go */
	uint64_t fill;	   /* bytes in @data */
	uint64_t want;	   /* bytes that complete it (a spool chunk may end short) */
	uint64_t start_ns; /* when its first byte came */
	bool last;	   /* pieces mode: the piece's last part */
};

struct stream {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct vx_store_task *t; /* pieces mode: finished pieces are skipped; NULL: spool */
	uint64_t chunk;		 /* the piece length, or the spool chunk */
	uint64_t part;		 /* bytes of a buffer: at most ORIGIN_PART_MAX of a piece */
	uint64_t part_at;	 /* where in piece @next_index the next byte goes */
	uint64_t total;		 /* content length, or UINT64_MAX when unknown */
	uint64_t limit;		 /* most bytes accepted (spool: the store's room) */
	struct sbuf bufs[VX_ORIGIN_STREAM_BUFS];
	uint32_t free[VX_ORIGIN_STREAM_BUFS]; /* stack of free buffer indexes */
	uint32_t nr_free;
	uint32_t ready[VX_ORIGIN_STREAM_BUFS]; /* FIFO of filled buffers, in stream order */
	uint32_t ready_head;
	uint32_t nr_ready;
	int cur;	     /* buffer being filled, -1 when none */
	uint64_t next_index; /* piece or chunk the next byte belongs to */
	uint64_t skip_left;  /* bytes of a finished piece still to read past */
	uint64_t received;   /* bytes the sink took */
	uint64_t read_id;
	bool stop;	 /* the calling thread gave up: the sink aborts the transfer */
	bool over_limit; /* the sink refused bytes beyond @limit */
	bool done;	 /* the read's done callback ran */
	int err;
	struct vx_source_error detail;
	/* The calling thread's own: pieces another writer held when their bytes came. */
	uint32_t *deferred;
	uint32_t nr_deferred;
	bool wait_held; /* wait for a held piece instead of deferring it */
	/* The calling thread's own: the piece whose parts are being written. */
	bool w_held; /* @w_io is a reservation of piece @w_piece */
	bool w_skip; /* the parts of piece @w_piece are read past */
	uint32_t w_piece;
	uint32_t w_crc; /* of the parts written so far */
	struct vx_store_piece_io w_io;
};

static uint64_t stream_want(const struct stream *st, uint64_t index)
{
	if (!st->t)
		return st->chunk;
	return vx_piece_size((uint32_t)index, st->total, st->chunk);
}

static void stream_push_ready(struct stream *st)
{
	uint32_t at = (st->ready_head + st->nr_ready) % VX_ORIGIN_STREAM_BUFS;

	st->ready[at] = (uint32_t)st->cur;
	st->nr_ready++;
	st->cur = -1;
	pthread_cond_broadcast(&st->cond);
}

/*
 * Runs on a source worker. Copies bytes into the current buffer; a piece the store already
 * holds is read past without a buffer. When every buffer waits for the calling thread, the
 * sink waits for one to come back: on a first pass that thread only writes to local disk (a
 * piece another writer holds is deferred, not waited for), so the wait is bounded by the
 * disk; a stop request wakes it at once.
 */
static int stream_sink(void *arg, const void *data, size_t len)
{
	struct stream *st = arg;
	const uint8_t *p = data;
	int rc = 0;

	pthread_mutex_lock(&st->lock);
	if (len > st->limit - st->received) {
		st->over_limit = true;
		rc = -ENOSPC;
		goto out;
	}
	st->received += len;
	while (len) {
		struct sbuf *b;
		uint64_t n;

		if (st->stop) {
			rc = -ECANCELED;
			break;
		}
		if (st->skip_left) {
			n = VX_MIN((uint64_t)len, st->skip_left);
			st->skip_left -= n;
			if (!st->skip_left)
				st->next_index++;
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (st->cur < 0) {
			if (st->t && !st->part_at &&
			    vx_store_piece_is_finished(st->t, (uint32_t)st->next_index)) {
				st->skip_left = stream_want(st, st->next_index);
				continue;
			}
			while (!st->nr_free && !st->stop)
				pthread_cond_wait(&st->cond, &st->lock);
			if (st->stop)
				continue;
			st->cur = (int)st->free[--st->nr_free];
			b = &st->bufs[st->cur];
			b->index = st->next_index;
			b->part_at = st->part_at;
			b->fill = 0;
			b->want = VX_MIN(st->part, stream_want(st, st->next_index) - st->part_at);
			b->last = st->part_at + b->want == stream_want(st, st->next_index);
			b->start_ns = vx_now_ns();
		}
		b = &st->bufs[st->cur];
		n = VX_MIN((uint64_t)len, b->want - b->fill);
		memcpy(b->data + b->fill, p, (size_t)n);
		b->fill += n;
		p += n;
		len -= (size_t)n;
		if (b->fill == b->want) {
			stream_push_ready(st);
			st->part_at = b->last ? 0 : st->part_at + b->want;
			st->next_index += b->last;
		}
	}
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static void stream_done(void *arg, int err, const struct vx_source_error *detail)
{
	struct stream *st = arg;

	pthread_mutex_lock(&st->lock);
	st->err = err;
	if (err && detail)
		st->detail = *detail;
	/* A body shorter than the length the origin gave is its fault; else a spool's last
	 * chunk may be short. */
	if (!err && st->total != UINT64_MAX && st->received != st->total)
		st->err = VX_ESOURCE_PROTO;
	else if (!err && st->cur >= 0 && !st->t)
		stream_push_ready(st);
	st->done = true;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
}

static int stream_init(struct stream *st, struct vx_store_task *t, uint64_t chunk, uint64_t total,
		       uint64_t limit)
{
	uint32_t i;

	memset(st, 0, sizeof(*st));
	st->part = t ? VX_MIN(chunk, (uint64_t)ORIGIN_PART_MAX) : chunk;
	for (i = 0; i < VX_ORIGIN_STREAM_BUFS; i++) {
		st->bufs[i].data = piece_buf_alloc(st->part);
		if (!st->bufs[i].data)
			goto out_free;
		st->free[st->nr_free++] = i;
	}
	st->t = t;
	st->chunk = chunk;
	st->total = total;
	st->limit = limit;
	st->cur = -1;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	return 0;
out_free:
	for (i = 0; i < VX_ORIGIN_STREAM_BUFS; i++)
		piece_buf_free(st->bufs[i].data, st->part);
	return -ENOMEM;
}

static void stream_destroy(struct stream *st)
{
	uint32_t i;

	for (i = 0; i < VX_ORIGIN_STREAM_BUFS; i++)
		piece_buf_free(st->bufs[i].data, st->part);
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->lock);
}

/*
 * The first part of piece @n came: reserve it (st->w_held) unless someone else has: finished
 * (counted as reused) or held by another writer (deferred, or on a later pass waited for);
 * then its parts are read past (st->w_skip).
 */
static int stream_begin_piece(struct run *r, struct stream *st, uint32_t n)
{
	st->w_piece = n;
	st->w_crc = 0;
	st->w_skip = true;
	for (;;) {
		int rc = vx_store_piece_begin_write(r->t, n, &st->w_io);

		if (rc == -EALREADY) {
			run_reused(r, n);
			return 0;
		}
		if (rc == 0) {
			st->w_held = true;
			st->w_skip = false;
			return 0;
		}
		if (rc != -EBUSY) {
			set_msg(r->res, VX_DOWNLOAD_STAGE_STORE, "reserving piece %u: %s", n,
				vx_strerror(rc));
			return rc;
		}
		if (!st->wait_held) {
			st->deferred[st->nr_deferred++] = n;
			return 0;
		}
		rc = vx_store_piece_wait(r->t, n, VX_ORIGIN_TICK_MS);
		if (rc && rc != -ETIMEDOUT) {
			set_msg(r->res, VX_DOWNLOAD_STAGE_STORE, "waiting for piece %u: %s", n,
				vx_strerror(rc));
			return rc;
		}
		rc = run_check(r);
		if (rc)
			return rc;
	}
}

/*
 * Part @b of piece @b->index is complete: write it under the piece's reservation and commit the
 * piece after its last part (issue 19 goal 6: a buffer holds a part, not a whole piece).
 */
static int stream_put_part(struct run *r, struct stream *st, struct sbuf *b)
{
	uint32_t n = (uint32_t)b->index;
	int rc;

	if (!b->part_at) {
		rc = stream_begin_piece(r, st, n);
		if (rc)
			return rc;
	}
	if (st->w_skip || !st->w_held || st->w_piece != n)
		return 0;
	rc = put_part(r, n, b->data, b->fill, b->part_at, &st->w_io, &st->w_crc);
	if (rc) {
		st->w_held = false; /* put_part gave it back */
		return rc;
	}
	if (!b->last)
		return 0;
	st->w_held = false;
	return commit_piece(r, n, st->w_crc, b->part_at + b->fill, b->start_ns);
}

/* Gives back the reservation of a piece left with parts unwritten (the stream stopped). */
static void stream_release(struct run *r, struct stream *st)
{
	if (st->w_held)
		vx_store_piece_abort(r->t, st->w_piece, 0);
	st->w_held = false;
}

/* Spool chunk @b to @fd at its offset. */
static int stream_put_chunk(struct run *r, int fd, struct sbuf *b)
{
	int rc = pwrite_all(fd, b->data, b->fill, b->index * VX_ORIGIN_SPOOL_CHUNK);

	if (rc) {
		set_msg(r->res, VX_DOWNLOAD_STAGE_STORE, "writing the spool file: %s",
			vx_strerror(rc));
		return rc;
	}
	r->res->totals.from_source += b->fill;
	r->res->totals.bytes_done += b->fill;
	return 0;
}

/* Asks the read to stop and waits for its done callback. */
static void stream_stop(struct stream *st, struct vx_source_ctx *src)
{
	pthread_mutex_lock(&st->lock);
	st->stop = true;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	(void)vx_source_cancel(src, st->read_id);
	pthread_mutex_lock(&st->lock);
	while (!st->done)
		pthread_cond_wait(&st->cond, &st->lock);
	pthread_mutex_unlock(&st->lock);
}

/*
 * Reads @obj from offset 0 (@length bytes, or VX_SOURCE_LEN_TO_END) and hands each buffer, in
 * order, to the piece writer (@st->t set) or to the spool file @fd.
 */
static int stream_run(struct run *r, struct stream *st, struct vx_source_ctx *src,
		      struct vx_source_obj *obj, uint64_t length, int fd)
{
	struct vx_source_read rd = { 0 };
	uint32_t next_piece = 0;
	int rc;

	rd.offset = 0;
	rd.length = length;
	rd.sink = stream_sink;
	rd.done = stream_done;
	rd.arg = st;
	memcpy(rd.rates, r->opts->rates, sizeof(rd.rates));
	r->res->stage = VX_DOWNLOAD_STAGE_SOURCE;
	rc = vx_source_read_submit(obj, &rd, &st->read_id);
	if (rc) {
		set_msg(r->res, VX_DOWNLOAD_STAGE_SOURCE, "submitting a read: %s", vx_strerror(rc));
		return rc;
	}
	for (;;) {
		struct sbuf *b = NULL;
		uint64_t partial = 0;
		bool finished;
		uint32_t i;

		rc = run_check(r);
		if (rc)
			goto out_stop;
		pthread_mutex_lock(&st->lock);
		if (!st->nr_ready && !st->done) {
			struct timespec ts;

			deadline_ts(&ts, VX_ORIGIN_TICK_MS);
			pthread_cond_timedwait(&st->cond, &st->lock, &ts);
		}
		if (st->nr_ready) {
			b = &st->bufs[st->ready[st->ready_head]];
			st->ready_head = (st->ready_head + 1) % VX_ORIGIN_STREAM_BUFS;
			st->nr_ready--;
		}
		finished = !b && st->done;
		for (i = 0; i < st->nr_ready; i++)
			partial += st->bufs[st->ready[(st->ready_head + i) % VX_ORIGIN_STREAM_BUFS]]
					   .fill;
		if (st->cur >= 0)
			partial += st->bufs[st->cur].fill;
		pthread_mutex_unlock(&st->lock);
		if (finished)
			break;
		if (!b) {
			run_report(r, partial);
			continue;
		}
		if (st->t) {
			/* Pieces between the last one written and this one were read past. */
			for (; !b->part_at && next_piece < b->index; next_piece++)
				run_reused(r, next_piece);
			next_piece += !b->part_at;
			rc = stream_put_part(r, st, b);
		} else {
			rc = stream_put_chunk(r, fd, b);
		}
		pthread_mutex_lock(&st->lock);
		st->free[st->nr_free++] = (uint32_t)(b - st->bufs);
		pthread_cond_broadcast(&st->cond);
		pthread_mutex_unlock(&st->lock);
		if (rc)
			goto out_stop;
		run_report(r, partial);
	}
	if (st->over_limit) {
		set_msg(r->res, VX_DOWNLOAD_STAGE_STORE,
			"the object is larger than the %llu bytes the store has room for",
			(unsigned long long)st->limit);
		return -ENOSPC;
	}
	if (st->err)
		return run_source_fail(r, "reading from the source", st->err, &st->detail);
	if (st->t)
		for (; next_piece < r->res->totals.piece_count; next_piece++)
			run_reused(r, next_piece);
	return 0;
out_stop:
	stream_stop(st, src);
	return rc;
}

/*
 * After a pass: waits for each deferred piece until its writer commits it (counted as reused)
 * or gives it up; *@again says that one was given up and must come from the source after all.
 */
static int stream_settle(struct run *r, const uint32_t *deferred, uint32_t nr, bool *again)
{
	uint32_t i;
	int rc;

	*again = false;
	for (i = 0; i < nr; i++) {
		uint32_t n = deferred[i];

		for (;;) {
			struct vx_store_piece_io io;

			rc = vx_store_piece_begin_write(r->t, n, &io);
			if (rc == -EALREADY) {
				run_reused(r, n);
				break;
			}
			if (rc == 0) {
				vx_store_piece_abort(r->t, n, 0);
				*again = true;
				break;
			}
			if (rc != -EBUSY) {
				set_msg(r->res, VX_DOWNLOAD_STAGE_STORE, "reserving piece %u: %s",
					n, vx_strerror(rc));
				return rc;
			}
			rc = vx_store_piece_wait(r->t, n, VX_ORIGIN_TICK_MS);
			if (rc && rc != -ETIMEDOUT) {
				set_msg(r->res, VX_DOWNLOAD_STAGE_STORE, "waiting for piece %u: %s",
					n, vx_strerror(rc));
				return rc;
			}
			rc = run_check(r);
			if (rc)
				return rc;
			run_report(r, 0);
		}
	}
	return 0;
}

/*
 * No ranges: one stream of the whole object. A piece given up by another writer after the
 * stream passed it needs a second stream (read past everything finished); that pass waits
 * for held pieces instead of deferring them, so there is never a third.
 */
static int fetch_stream(struct run *r, struct vx_source_ctx *src, struct vx_source_obj *obj)
{
	uint64_t clen = r->res->totals.content_length;
	uint32_t count = r->res->totals.piece_count, *deferred, pass;
	uint8_t *counted;
	int rc = 0;

	counted = vx_calloc(count, 1);
	deferred = vx_mallocarray(count, sizeof(*deferred));
	if (!counted || !deferred) {
		rc = -ENOMEM;
		set_msg(r->res, VX_DOWNLOAD_STAGE_STORE, "out of memory for %u pieces", count);
		goto out;
	}
	r->counted = counted;
	for (pass = 0; pass < 2; pass++) {
		struct stream st;
		uint32_t nr;
		bool again;

		if (stream_init(&st, r->t, r->res->piece_length, clen, clen)) {
			rc = -ENOMEM;
			set_msg(r->res, VX_DOWNLOAD_STAGE_STORE,
				"out of memory for %u piece buffers", VX_ORIGIN_STREAM_BUFS);
			break;
		}
		st.deferred = deferred;
		st.wait_held = pass > 0;
		rc = stream_run(r, &st, src, obj, clen, -1);
		stream_release(r, &st);
		nr = st.nr_deferred;
		stream_destroy(&st);
		if (rc || !nr)
			break;
		rc = stream_settle(r, deferred, nr, &again);
		if (rc || !again)
			break;
	}
	r->counted = NULL;
out:
	vx_free(counted);
	vx_free(deferred);
	return rc;
}

/*
 * A whole object from an HTTP origin is one streaming GET even when the origin takes ranges:
 * registries (docker-registry, S3 behind them) serve a Range several times slower than one
 * whole GET, and four ranged reads at a time made a cold pull through the mirror 0.3x a
 * direct one (issue 13). Ranges stay for a resume (pieces finished already) and other schemes.
 */
static bool stream_whole(const char *url, const struct vx_store_task_info *info)
{
	return info->finished_count == 0 &&
	       (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
}

/* ------------------------------------------------------------------------------------------- */
/* Public parts                                                                                */

int vx_origin_stat(struct vx_source_ctx *src, const char *url, const char *const *headers,
		   uint32_t nr_headers, uint32_t timeout_ms, struct vx_origin *out,
		   struct vx_download_result *res)
{
	return vx_origin_stat_opts(src, url, headers, nr_headers, timeout_ms, NULL, out, res);
}

int vx_origin_stat_opts(struct vx_source_ctx *src, const char *url, const char *const *headers,
			uint32_t nr_headers, uint32_t timeout_ms, const struct vx_origin_opts *oo,
			struct vx_origin *out, struct vx_download_result *res)
{
	struct vx_source_opts opts = { 0 };
	struct vx_source_error detail = { 0 };
	const struct vx_source_stat *st;
	struct vx_source_obj *obj = NULL;
	uint64_t start_ms = vx_now_ms();
	int rc;

	memset(out, 0, sizeof(*out));
	res->stage = VX_DOWNLOAD_STAGE_SOURCE;
	res->source_status = 0;
	res->msg[0] = '\0';
	opts.headers = headers;
	opts.nr_headers = nr_headers;
	opts.timeout_ms = timeout_ms ? timeout_ms : ORIGIN_NO_LIMIT_MS;
	opts.outbound = oo ? oo->outbound : NULL;
	opts.outbound_local = oo && oo->outbound_local;
	opts.upstream = oo ? oo->upstream : NULL;
	rc = vx_source_open(src, url, &opts, &obj, &detail);
	if (rc) {
		source_msg(res, "cannot get the source", &detail);
		if (rc == VX_EURL)
			res->stage = VX_DOWNLOAD_STAGE_REQUEST;
		else if (detail.timed_out || (timeout_ms && vx_now_ms() - start_ms >= timeout_ms))
			rc = timed_out_msg(res, vx_now_ms() - start_ms);
		return rc;
	}
	st = vx_source_obj_stat(obj);
	if (st->is_dir) {
		set_msg(res, VX_DOWNLOAD_STAGE_SOURCE, "'%s' is a directory at the source",
			VX_URL_SAFE(url));
		vx_source_obj_free(obj);
		return -EISDIR;
	}
	out->content_length = st->length >= 0 ? st->length : -1;
	out->ranges = st->ranges;
	out->stat = st;
	out->obj = obj;
	return 0;
}

void vx_origin_release(struct vx_origin *o)
{
	vx_source_obj_free(o->obj);
	memset(o, 0, sizeof(*o));
}

static int fetch_source_run(struct vx_store_task *t, struct vx_source_ctx *src,
			    const struct vx_origin *origin, const struct vx_download_request *req,
			    const struct vx_origin_opts *opts, struct vx_download_result *res,
			    uint64_t start_ms)
{
	struct vx_origin own = { 0 };
	struct vx_store_task_info info;
	struct run r;
	int rc;

	memset(res, 0, sizeof(*res));
	memcpy(res->task_id, vx_store_task_id(t), VX_TASK_ID_LEN);
	vx_store_task_info(t, &info);
	res->piece_length = info.piece_length;
	res->totals.content_length = info.content_length;
	res->totals.piece_count = info.piece_count;
	res->stage = VX_DOWNLOAD_STAGE_SOURCE;
	run_init(&r, req, opts, res, t, start_ms);
	if (!req->url) {
		set_msg(res, VX_DOWNLOAD_STAGE_REQUEST, "a URL is required");
		return -EINVAL;
	}
	if (!origin) {
		rc = vx_origin_stat_opts(src, req->url, req->headers, req->nr_headers,
					 req->timeout_ms, opts, &own, res);
		if (rc)
			goto out;
		origin = &own;
	}
	if (origin->content_length < 0) {
		set_msg(res, VX_DOWNLOAD_STAGE_SOURCE,
			"the origin gives no content length for '%s': fetch it unsized", req->url);
		rc = -EINVAL;
		goto out;
	}
	if ((uint64_t)origin->content_length != info.content_length) {
		set_msg(res, VX_DOWNLOAD_STAGE_SOURCE,
			"the origin has %lld bytes for '%s', the task %llu",
			(long long)origin->content_length, req->url,
			(unsigned long long)info.content_length);
		rc = -EINVAL;
		goto out;
	}
	run_report(&r, 0);
	if (info.piece_count == 0 || info.finished_count == info.piece_count) {
		uint32_t i;

		for (i = 0; i < info.piece_count; i++)
			run_reused(&r, i);
		rc = 0;
	} else if (info.piece_count == 1 || (origin->ranges && !stream_whole(req->url, &info))) {
		if (info.piece_count == 1)
			run_hash_start(&r);
		rc = fetch_ranged(&r, src, origin->obj);
	} else {
		run_hash_start(&r);
		rc = fetch_stream(&r, src, origin->obj);
	}
	run_hash_end(&r);
	if (!rc) {
		vx_store_task_info(t, &info);
		if (info.finished_count != info.piece_count) {
			/* Never expected: every mode ends only when each piece is settled. */
			set_msg(res, VX_DOWNLOAD_STAGE_STORE, "%u of %u pieces still missing",
				info.piece_count - info.finished_count, info.piece_count);
			rc = -EAGAIN;
		}
		run_report(&r, 0);
	}
out:
	vx_origin_release(&own);
	res->totals.elapsed_ms = vx_now_ms() - start_ms;
	return rc;
}

int vx_origin_fetch(struct vx_store_task *t, struct vx_source_ctx *src,
		    const struct vx_origin *origin, const struct vx_download_request *req,
		    const struct vx_origin_opts *opts, struct vx_download_result *res)
{
	res->status = fetch_source_run(t, src, origin, req, opts, res, vx_now_ms());
	return res->status;
}

/* Room left in the store's disk capacity, in bytes. */
static uint64_t store_room(struct vx_store *store)
{
	struct vx_store_stats st;

	vx_store_stats(store, &st);
	return st.disk_capacity_bytes > st.disk_bytes ? st.disk_capacity_bytes - st.disk_bytes : 0;
}

static int fetch_unsized_run(struct vx_store *store, struct vx_source_ctx *src,
			     const struct vx_origin *origin, const struct vx_store_task_params *tp,
			     const char *spool_dir, const struct vx_download_request *req,
			     const struct vx_origin_opts *opts, enum vx_store_use use,
			     struct vx_store_task **out, struct vx_download_result *res,
			     uint64_t start_ms)
{
	struct vx_origin own = { 0 };
	struct vx_store_task_params p;
	char path[ORIGIN_PATH_MAX];
	struct stream st;
	struct run r;
	uint64_t room, size;
	uint32_t i;
	int fd = -1, rc;

	*out = NULL;
	memset(res, 0, sizeof(*res));
	res->stage = VX_DOWNLOAD_STAGE_REQUEST;
	run_init(&r, req, opts, res, NULL, start_ms);
	if (!tp || !tp->id || strlen(tp->id) != VX_TASK_ID_LEN || !spool_dir || !req->url) {
		set_msg(res, VX_DOWNLOAD_STAGE_REQUEST,
			"a task id, a spool directory and a URL are required");
		return -EINVAL;
	}
	memcpy(res->task_id, tp->id, VX_TASK_ID_LEN);
	if ((size_t)snprintf(path, sizeof(path), "%s/.vx-spool-%.16s-XXXXXX", spool_dir, tp->id) >=
	    sizeof(path)) {
		set_msg(res, VX_DOWNLOAD_STAGE_REQUEST, "spool directory name too long");
		return -ENAMETOOLONG;
	}
	res->stage = VX_DOWNLOAD_STAGE_SOURCE;
	if (!origin) {
		rc = vx_origin_stat_opts(src, req->url, req->headers, req->nr_headers,
					 req->timeout_ms, opts, &own, res);
		if (rc)
			goto out;
		origin = &own;
	}
	room = store_room(store);
	if (origin->content_length >= 0 && (uint64_t)origin->content_length > room) {
		set_msg(res, VX_DOWNLOAD_STAGE_STORE,
			"the object's %lld bytes do not fit in the store's %llu bytes of room",
			(long long)origin->content_length, (unsigned long long)room);
		rc = -ENOSPC;
		goto out;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd == -1) {
		rc = -errno;
		set_msg(res, VX_DOWNLOAD_STAGE_STORE, "creating a spool file in '%s': %s",
			spool_dir, vx_strerror(rc));
		goto out;
	}
	if (stream_init(&st, NULL, VX_ORIGIN_SPOOL_CHUNK, UINT64_MAX, room)) {
		set_msg(res, VX_DOWNLOAD_STAGE_STORE, "out of memory for the spool buffers");
		rc = -ENOMEM;
		goto out;
	}
	if (origin->content_length >= 0)
		st.total = (uint64_t)origin->content_length;
	rc = stream_run(&r, &st, src, origin->obj,
			origin->content_length >= 0 ? (uint64_t)origin->content_length
						    : VX_SOURCE_LEN_TO_END,
			fd);
	size = st.received;
	stream_destroy(&st);
	if (rc)
		goto out;

	/* Complete: the size fixes the plan, the store takes a copy, the spool goes. */
	p = *tp;
	p.content_length = size;
	p.piece_length = tp->piece_length ? tp->piece_length : vx_piece_length_for(size);
	res->piece_length = p.piece_length;
	res->totals.content_length = size;
	res->totals.piece_count = vx_piece_count(size, p.piece_length);
	res->stage = VX_DOWNLOAD_STAGE_STORE;
	rc = vx_store_task_import(store, &p, path, use, out);
	if (rc) {
		set_msg(res, VX_DOWNLOAD_STAGE_STORE, "importing %llu bytes as task %s: %s",
			(unsigned long long)size, res->task_id, vx_strerror(rc));
		goto out;
	}
	res->totals.pieces_done = res->totals.piece_count;
	for (i = 0; r.opts->on_piece && i < res->totals.piece_count; i++) {
		struct vx_store_piece_ref ref;

		/* The whole object came in one read: each piece gets its share of the time. */
		if (vx_store_piece_get(*out, i, &ref) == 0)
			r.opts->on_piece(r.opts->arg, i, ref.crc32,
					 (vx_now_ms() - start_ms) * 1000u /
						 res->totals.piece_count);
	}
	run_report(&r, 0);
out:
	if (fd != -1) {
		close(fd);
		unlink(path);
	}
	vx_origin_release(&own);
	res->totals.elapsed_ms = vx_now_ms() - start_ms;
	return rc;
}

int vx_origin_fetch_unsized(struct vx_store *store, struct vx_source_ctx *src,
			    const struct vx_origin *origin, const struct vx_store_task_params *tp,
			    const char *spool_dir, const struct vx_download_request *req,
			    const struct vx_origin_opts *opts, enum vx_store_use use,
			    struct vx_store_task **out, struct vx_download_result *res)
{
	res->status = fetch_unsized_run(store, src, origin, tp, spool_dir, req, opts, use, out, res,
					vx_now_ms());
	return res->status;
}

/* ------------------------------------------------------------------------------------------- */
/* The one-shot download                                                                       */

/* Copies the directory part of @path into @dir ("." when it has none). */
static int dir_of(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		snprintf(dir, size, ".");
		return 0;
	}
	if (slash == path) {
		snprintf(dir, size, "/");
		return 0;
	}
	if ((size_t)(slash - path) >= size)
		return -ENAMETOOLONG;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	return 0;
}

/* Checks that @path can be created: its directory exists and is writable, it is not there. */
static int check_output(const char *path, bool overwrite, struct vx_download_result *res)
{
	char dir[ORIGIN_PATH_MAX];
	struct stat st;

	if (!path[0] || path[strlen(path) - 1] == '/') {
		set_msg(res, VX_DOWNLOAD_STAGE_OUTPUT, "output '%s' is not a file name", path);
		return -EISDIR;
	}
	if (dir_of(path, dir, sizeof(dir))) {
		set_msg(res, VX_DOWNLOAD_STAGE_OUTPUT, "output path too long");
		return -ENAMETOOLONG;
	}
	if (stat(dir, &st) != 0) {
		int err = -errno;

		set_msg(res, VX_DOWNLOAD_STAGE_OUTPUT, "output directory '%s': %s", dir,
			vx_strerror(err));
		return err;
	}
	if (!S_ISDIR(st.st_mode)) {
		set_msg(res, VX_DOWNLOAD_STAGE_OUTPUT, "output directory '%s' is not a directory",
			dir);
		return -ENOTDIR;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		int err = -errno;

		set_msg(res, VX_DOWNLOAD_STAGE_OUTPUT, "output directory '%s' is not writable: %s",
			dir, vx_strerror(err));
		return err;
	}
	if (lstat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			set_msg(res, VX_DOWNLOAD_STAGE_OUTPUT, "output '%s' is a directory", path);
			return -EISDIR;
		}
		if (!overwrite) {
			set_msg(res, VX_DOWNLOAD_STAGE_OUTPUT,
				"output '%s' exists (use --overwrite to replace it)", path);
			return -EEXIST;
		}
	}
	return 0;
}

/* Verifies the digest of complete task @t when asked, then exports it. */
static int finish(struct vx_store_task *t, const struct vx_download_request *req,
		  const struct vx_digest_spec *want, struct vx_download_result *res)
{
	int rc;

	if (want) {
		res->stage = VX_DOWNLOAD_STAGE_DIGEST;
		rc = vx_store_task_check_digest(t, want);
		if (rc) {
			if (rc == VX_EDIGEST)
				set_msg(res, VX_DOWNLOAD_STAGE_DIGEST,
					"digest mismatch: the content is not %s", req->digest);
			else
				set_msg(res, VX_DOWNLOAD_STAGE_DIGEST, "checking the digest: %s",
					vx_strerror(rc));
			return rc;
		}
	}
	res->stage = VX_DOWNLOAD_STAGE_EXPORT;
	rc = vx_store_task_export(t, req->output, req->overwrite ? VX_STORE_EXPORT_OVERWRITE : 0);
	if (rc) {
		set_msg(res, VX_DOWNLOAD_STAGE_EXPORT, "writing '%s': %s", req->output,
			vx_strerror(rc));
		return rc;
	}
	res->stage = VX_DOWNLOAD_STAGE_DONE;
	return 0;
}

/* Checks the request and derives the task id into @res; fills @digest when one is asked. */
static int check_request(const struct vx_download_request *req, struct vx_digest_spec *digest,
			 bool *with_digest, struct vx_download_result *res)
{
	struct vx_task_id_params idp = { 0 };
	enum vx_url_error why = VX_URL_OK;
	int rc;

	*with_digest = false;
	if (!req->url || !req->output) {
		set_msg(res, VX_DOWNLOAD_STAGE_REQUEST, "a URL and an output path are required");
		return -EINVAL;
	}
	if (req->digest) {
		rc = vx_digest_spec_parse(req->digest, strlen(req->digest), VX_DIGEST_USER, digest);
		if (rc) {
			set_msg(res, VX_DOWNLOAD_STAGE_REQUEST,
				"bad digest '%s' (want sha256:<hex>, sha512:<hex> or crc32:<dec>)",
				req->digest);
			return rc;
		}
		*with_digest = true;
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
			set_msg(res, VX_DOWNLOAD_STAGE_REQUEST, "invalid URL '%s': %s",
				VX_URL_SAFE(req->url), vx_url_strerror(why));
		else
			set_msg(res, VX_DOWNLOAD_STAGE_REQUEST, "task id of '%s': %s",
				VX_URL_SAFE(req->url), vx_strerror(rc));
		res->task_id[0] = '\0';
		return rc;
	}
	return 0;
}

/* A complete local copy is put in place at once, without asking the origin. Returns 1 if none. */
static int reuse_complete(struct vx_store *store, const struct vx_download_request *req,
			  const struct vx_digest_spec *want, struct vx_download_result *res,
			  struct run *r)
{
	struct vx_store_task_info info;
	struct vx_store_task *t;
	int rc;

	if (vx_store_task_acquire(store, res->task_id, VX_STORE_USE_READ, &t) != 0)
		return 1;
	vx_store_task_info(t, &info);
	if (info.state != VX_STORE_TASK_COMPLETE) {
		vx_store_task_release(t, VX_STORE_USE_READ);
		return 1;
	}
	res->reused = true;
	res->piece_length = info.piece_length;
	res->totals.content_length = info.content_length;
	res->totals.piece_count = info.piece_count;
	res->totals.pieces_done = info.piece_count;
	res->totals.bytes_done = info.content_length;
	res->totals.reused = info.content_length;
	run_report(r, 0);
	rc = finish(t, req, want, res);
	vx_store_task_release(t, VX_STORE_USE_READ);
	return rc;
}

/* Sized origin: fix the plan, open the task (a stale one is replaced) and fill it. */
static int download_sized(struct vx_store *store, struct vx_source_ctx *src,
			  const struct vx_origin *origin, const struct vx_download_request *req,
			  const struct vx_origin_opts *opts, struct vx_store_task **t,
			  struct vx_download_result *res, uint64_t start_ms)
{
	struct vx_store_task_params tp = { 0 };
	uint64_t clen = (uint64_t)origin->content_length, pl;
	int rc;

	pl = req->piece_length ? req->piece_length : vx_piece_length_for(clen);
	if (pl > VX_STORE_PIECE_LEN_MAX) {
		set_msg(res, VX_DOWNLOAD_STAGE_REQUEST, "piece length %llu is above %llu",
			(unsigned long long)pl, (unsigned long long)VX_STORE_PIECE_LEN_MAX);
		return -EINVAL;
	}
	res->stage = VX_DOWNLOAD_STAGE_STORE;
	tp.id = res->task_id;
	tp.url = req->url;
	tp.digest = req->digest;
	tp.content_length = clen;
	tp.piece_length = pl;
	tp.kind = VX_STORE_KIND_NORMAL;
	rc = vx_store_task_open(store, &tp, VX_STORE_USE_DOWNLOAD, t);
	if (rc == -EEXIST && vx_store_task_remove(store, res->task_id) == 0) {
		/* The origin's object changed length: the stored pieces are stale. */
		rc = vx_store_task_open(store, &tp, VX_STORE_USE_DOWNLOAD, t);
	}
	if (rc) {
		set_msg(res, VX_DOWNLOAD_STAGE_STORE, "opening task %s in the store: %s",
			res->task_id, vx_strerror(rc));
		*t = NULL;
		return rc;
	}
	return fetch_source_run(*t, src, origin, req, opts, res, start_ms);
}

/* Unsized origin: spool beside the output, import, and hold the task for reading. */
static int download_unsized(struct vx_store *store, struct vx_source_ctx *src,
			    const struct vx_origin *origin, const struct vx_download_request *req,
			    const struct vx_origin_opts *opts, struct vx_store_task **t,
			    struct vx_download_result *res, uint64_t start_ms)
{
	struct vx_store_task_params tp = { 0 };
	char dir[ORIGIN_PATH_MAX], id[VX_TASK_ID_LEN + 1];
	int rc;

	memcpy(id, res->task_id, sizeof(id));
	rc = dir_of(req->output, dir, sizeof(dir));
	if (rc) {
		set_msg(res, VX_DOWNLOAD_STAGE_OUTPUT, "output path too long");
		return rc;
	}
	/* A partial task under this id (the origin had a length before) cannot be resumed. */
	rc = vx_store_task_remove(store, id);
	if (rc && rc != -ENOENT) {
		set_msg(res, VX_DOWNLOAD_STAGE_STORE, "removing the stale task %s: %s", id,
			vx_strerror(rc));
		return rc;
	}
	tp.id = id;
	tp.url = req->url;
	tp.digest = req->digest;
	tp.piece_length = req->piece_length;
	tp.kind = VX_STORE_KIND_NORMAL;
	return fetch_unsized_run(store, src, origin, &tp, dir, req, opts, VX_STORE_USE_READ, t, res,
				 start_ms);
}

static int download_run(struct vx_store *store, struct vx_source_ctx *src,
			const struct vx_download_request *req, const struct vx_origin_opts *opts,
			struct vx_download_result *res)
{
	struct vx_origin origin = { 0 };
	struct vx_digest_spec digest;
	struct vx_store_task *t = NULL;
	enum vx_store_use use = VX_STORE_USE_DOWNLOAD;
	bool with_digest;
	struct run r;
	int rc;

	memset(res, 0, sizeof(*res));
	run_init(&r, req, opts, res, NULL, vx_now_ms());
	res->stage = VX_DOWNLOAD_STAGE_REQUEST;
	rc = check_request(req, &digest, &with_digest, res);
	if (rc)
		return rc;
	if (!vx_source_supports(src, req->url)) {
		set_msg(res, VX_DOWNLOAD_STAGE_REQUEST, "unsupported URL scheme in '%s'",
			VX_URL_SAFE(req->url));
		return VX_ESCHEME;
	}
	rc = check_output(req->output, req->overwrite, res);
	if (rc)
		return rc;
	rc = reuse_complete(store, req, with_digest ? &digest : NULL, res, &r);
	if (rc <= 0)
		goto out;

	rc = vx_origin_stat_opts(src, req->url, req->headers, req->nr_headers, req->timeout_ms,
				 opts, &origin, res);
	if (rc)
		goto out;
	if (origin.content_length >= 0) {
		rc = download_sized(store, src, &origin, req, opts, &t, res, r.start_ms);
	} else {
		use = VX_STORE_USE_READ;
		rc = download_unsized(store, src, &origin, req, opts, &t, res, r.start_ms);
	}
	vx_origin_release(&origin);
	/* Whatever broke while fetching after the deadline passed, the deadline is the cause. */
	if (rc && rc != -ETIMEDOUT &&
	    (res->stage == VX_DOWNLOAD_STAGE_SOURCE || res->stage == VX_DOWNLOAD_STAGE_STORE) &&
	    run_expired(&r))
		rc = timed_out_msg(res, vx_now_ms() - r.start_ms);
	if (!rc)
		rc = finish(t, req, with_digest ? &digest : NULL, res);
	if (t)
		vx_store_task_release(t, use);
out:
	res->totals.elapsed_ms = vx_now_ms() - r.start_ms;
	return rc;
}

int vx_origin_download(struct vx_store *store, struct vx_source_ctx *src,
		       const struct vx_download_request *req, const struct vx_origin_opts *opts,
		       struct vx_download_result *res)
{
	res->status = download_run(store, src, req, opts, res);
	return res->status;
}
