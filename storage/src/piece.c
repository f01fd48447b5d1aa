/* SPDX-License-Identifier: Apache-2.0 */
/*
 * piece.c: the piece state machine of one task, the piece-path calls (begin/commit/abort,
 * get, bitmap, finish log), their blocking forms for tools, and waiters with notifiers.
 *
 *   MISSING --begin_write--> WRITING --commit--> FINISHED
 *      ^                        |
 *      +--------abort-----------+
 *
 * FINISHED is final while the task lives. The fields of a FINISHED piece are written before
 * its bitmap bit is set with release order, so lock-free readers that see the bit (acquire)
 * see the fields. Piece-path calls take t->lock for a few instructions and make no syscall
 * except the eventfd write that wakes a notifier.
 */
#include "store_int.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_bitmap.h"
#include "vx_digest.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_piece_plan.h"
#include "vx_time.h"

_Static_assert(VX_STORE_DIGEST_STR_MAX >= VX_DIGEST_CRC32_STR_MAX, "piece ref digest buffer");

int vx__task_alloc_pieces(struct vx_store_task *t)
{
	size_t words = ((size_t)t->piece_count + 63) / 64;
	pthread_condattr_t ca;

	VX_ASSERT(t->piece_count <= VX_STORE_PIECES_MAX);
	t->pieces = vx_calloc(t->piece_count, sizeof(*t->pieces));
	t->finish_log = vx_calloc(t->piece_count, sizeof(*t->finish_log));
	t->bitmap = vx_calloc(words, sizeof(*t->bitmap));
	if (!t->pieces || !t->finish_log || !t->bitmap)
		goto err_free;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&t->lock, NULL);
	vx_list_init(&t->waiters);
	atomic_init(&t->finished_count, 0);
	return 0;
err_free:
	vx_free(t->pieces);
	vx_free(t->finish_log);
	vx_free((void *)t->bitmap);
	t->pieces = NULL;
	t->finish_log = NULL;
	t->bitmap = NULL;
	return -ENOMEM;
}

/*
 * Gives @t its parent-id table (3 KiB) if it has none. Only slow paths call it (task open for
 * download, load), so commits never allocate; without a table parents are recorded as "".
 * Takes t->lock.
 */
void vx__task_want_parents(struct vx_store_task *t)
{
	char(*parents)[VX_STORE_PARENT_ID_MAX];

	if (t->parents)
		return;
	parents = vx_calloc(VX_STORE_TASK_PARENTS_MAX, sizeof(*parents));
	if (!parents)
		return;
	pthread_mutex_lock(&t->lock);
	if (!t->parents) {
		t->parents = parents;
		parents = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	vx_free(parents);
}

/* 1 + index of @parent in t->parents (added when new and there is room), or 0. t->lock held. */
static uint8_t task_intern_parent(struct vx_store_task *t, const char *parent)
{
	size_t len;

	if (!parent || !*parent || !t->parents)
		return 0;
	len = strlen(parent);
	if (len >= VX_STORE_PARENT_ID_MAX)
		return 0;
	for (uint32_t i = 0; i < t->nr_parents; i++) {
		if (strcmp(t->parents[i], parent) == 0)
			return (uint8_t)(i + 1);
	}
	if (t->nr_parents == VX_STORE_TASK_PARENTS_MAX)
		return 0;
	memcpy(t->parents[t->nr_parents], parent, len + 1);
	t->nr_parents++;
	return (uint8_t)t->nr_parents;
}

/* Marks piece @number FINISHED with its facts and publishes it. t->lock held (or exclusive). */
static uint32_t task_publish(struct vx_store_task *t, uint32_t number, uint32_t crc32,
			     const char *parent, uint64_t cost_ms, int64_t finished_s)
{
	struct vx__piece *p = &t->pieces[number];
	uint32_t fc = atomic_load_explicit(&t->finished_count, memory_order_relaxed);

	VX_ASSERT(p->state != VX__PIECE_FINISHED);
	VX_ASSERT(fc < t->piece_count);
	p->crc32 = crc32;
	p->parent_idx = task_intern_parent(t, parent);
	p->cost_ms = cost_ms;
	p->finished_s = finished_s;
	p->state = VX__PIECE_FINISHED;
	t->finish_log[fc] = number;
	atomic_fetch_or_explicit(&t->bitmap[number / 64], 1ull << (number % 64),
				 memory_order_release);
	atomic_store_explicit(&t->finished_count, fc + 1, memory_order_release);
	return fc + 1;
}

void vx__task_load_piece(struct vx_store_task *t, uint32_t number, uint32_t crc32,
			 const char *parent, uint64_t cost_ms, int64_t finished_s)
{
	VX_ASSERT(number < t->piece_count);
	if (t->pieces[number].state == VX__PIECE_FINISHED)
		return;
	if (parent && *parent)
		vx__task_want_parents(t);
	task_publish(t, number, crc32, parent, cost_ms, finished_s);
}

/* ------------------------------------------------------------------------------------------- */
/* Notifiers and waiters                                                                       */

static void notifier_signal(struct vx_store_notifier *n)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is saturated: it is readable already. */
	if (write(n->efd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		vx_warn("store: notifier eventfd write: %s", strerror(errno));
}

/* Moves armed @w from its task's list to its notifier's ready list. t->lock held. */
static void waiter_fire(struct vx_store_waiter *w, int status)
{
	struct vx_store_notifier *n = w->notifier;
	bool was_empty;

	VX_ASSERT(w->state == VX__WAITER_ARMED);
	vx_list_del(&w->link);
	w->status = status;
	pthread_mutex_lock(&n->lock);
	w->state = VX__WAITER_READY;
	was_empty = vx_list_empty(&n->ready);
	vx_list_add_tail(&n->ready, &w->link);
	pthread_mutex_unlock(&n->lock);
	if (was_empty)
		notifier_signal(n);
}

/* Fires the waiters that piece @number (the @fc-th finished) satisfies. t->lock held. */
static void task_wake(struct vx_store_task *t, uint32_t number, uint32_t fc)
{
	struct vx_list *pos, *tmp;

	vx_list_for_each_safe(pos, tmp, &t->waiters) {
		struct vx_store_waiter *w = vx_list_entry(pos, struct vx_store_waiter, link);

		if ((w->kind == VX__WAIT_PIECE && w->piece == number) ||
		    (w->kind == VX__WAIT_PROGRESS && fc > w->piece))
			waiter_fire(w, 0);
	}
	pthread_cond_broadcast(&t->cond);
}

int vx_store_notifier_new(struct vx_store *s, struct vx_store_notifier **out)
{
	struct vx_store_notifier *n;
	int err;

	VX_ASSERT(s);
	VX_ASSERT(out);
	*out = NULL;
	n = vx_calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->store = s;
	n->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (n->efd == -1) {
		err = -errno;
		goto err_free;
	}
	pthread_mutex_init(&n->lock, NULL);
	vx_list_init(&n->ready);
	atomic_init(&n->armed, 0);
	*out = n;
	return 0;
err_free:
	vx_free(n);
	return err;
}

void vx_store_notifier_free(struct vx_store_notifier *n)
{
	if (!n)
		return;
	VX_ASSERT(atomic_load(&n->armed) == 0);
	close(n->efd);
	pthread_mutex_destroy(&n->lock);
	vx_free(n);
}

int vx_store_notifier_fd(const struct vx_store_notifier *n)
{
	return n->efd;
}

unsigned int vx_store_notifier_drain(struct vx_store_notifier *n, unsigned int max)
{
	unsigned int ran = 0;
	uint64_t v;
	bool more;

	/* Clear first: a waiter fired after this read signals again. */
	if (read(n->efd, &v, sizeof(v)) == -1 && errno != EAGAIN)
		vx_warn("store: notifier eventfd read: %s", strerror(errno));
	while (ran < max) {
		struct vx_store_waiter *w;

		pthread_mutex_lock(&n->lock);
		if (vx_list_empty(&n->ready)) {
			pthread_mutex_unlock(&n->lock);
			break;
		}
		w = vx_list_first(&n->ready, struct vx_store_waiter, link);
		vx_list_del(&w->link);
		w->state = VX__WAITER_IDLE;
		pthread_mutex_unlock(&n->lock);
		atomic_fetch_sub(&n->armed, 1);
		w->fn(w, w->status);
		ran++;
	}
	if (ran == max) {
		pthread_mutex_lock(&n->lock);
		more = !vx_list_empty(&n->ready);
		pthread_mutex_unlock(&n->lock);
		if (more)
			notifier_signal(n);
	}
	return ran;
}

static int waiter_arm(struct vx_store_task *t, uint32_t value, enum vx__waiter_kind kind,
		      struct vx_store_waiter *w, struct vx_store_notifier *n)
{
	int err = 0;

	VX_ASSERT(w->fn);
	VX_ASSERT(n);
	if (w->state != VX__WAITER_IDLE)
		return -EBUSY;
	if (kind == VX__WAIT_PIECE && value >= t->piece_count)
		return -ERANGE;
	pthread_mutex_lock(&t->lock);
	if (kind == VX__WAIT_PIECE && t->pieces[value].state == VX__PIECE_FINISHED)
		err = -EALREADY;
	else if (kind == VX__WAIT_PROGRESS && atomic_load(&t->finished_count) > value)
		err = -EALREADY;
	else if (t->state == VX_STORE_TASK_FAILED)
		err = t->error;
	else if (t->state == VX_STORE_TASK_COMPLETE && kind == VX__WAIT_PROGRESS)
		err = -EALREADY; /* nothing more will ever finish */
	if (!err) {
		w->task = t;
		w->notifier = n;
		w->piece = value;
		w->kind = (uint8_t)kind;
		w->status = 0;
		w->state = VX__WAITER_ARMED;
		vx_list_add_tail(&t->waiters, &w->link);
		atomic_fetch_add(&n->armed, 1);
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

int vx_store_wait_piece(struct vx_store_task *t, uint32_t number, struct vx_store_waiter *w,
			struct vx_store_notifier *n)
{
	VX_ASSERT(t);
	return waiter_arm(t, number, VX__WAIT_PIECE, w, n);
}

int vx_store_wait_progress(struct vx_store_task *t, uint32_t seen, struct vx_store_waiter *w,
			   struct vx_store_notifier *n)
{
	VX_ASSERT(t);
	return waiter_arm(t, seen, VX__WAIT_PROGRESS, w, n);
}

bool vx_store_wait_cancel(struct vx_store_waiter *w)
{
	struct vx_store_task *t = w->task;
	struct vx_store_notifier *n = w->notifier;

	if (w->state == VX__WAITER_IDLE)
		return false;
	pthread_mutex_lock(&t->lock);
	if (w->state == VX__WAITER_ARMED) {
		vx_list_del(&w->link);
		w->state = VX__WAITER_IDLE;
	}
	pthread_mutex_unlock(&t->lock);
	if (w->state == VX__WAITER_READY) {
		/* Fired, not drained: only this thread drains, so it stays READY until here. */
		pthread_mutex_lock(&n->lock);
		vx_list_del(&w->link);
		w->state = VX__WAITER_IDLE;
		pthread_mutex_unlock(&n->lock);
	}
	atomic_fetch_sub(&n->armed, 1);
	return true;
}

/* ------------------------------------------------------------------------------------------- */
/* Failing                                                                                     */

void vx__task_fail_locked(struct vx_store_task *t, int err)
{
	struct vx_list *pos, *tmp;

	VX_ASSERT(err < 0);
	if (t->state == VX_STORE_TASK_COMPLETE || t->state == VX_STORE_TASK_FAILED)
		return;
	t->state = VX_STORE_TASK_FAILED;
	t->error = err;
	vx_list_for_each_safe(pos, tmp, &t->waiters) {
		waiter_fire(vx_list_entry(pos, struct vx_store_waiter, link), err);
	}
	pthread_cond_broadcast(&t->cond);
}

void vx_store_task_fail(struct vx_store_task *t, int err)
{
	VX_ASSERT(t);
	pthread_mutex_lock(&t->lock);
	vx__task_fail_locked(t, err);
	pthread_mutex_unlock(&t->lock);
	vx__store_mark_dirty(t);
	vx_warn("store: task %.12s failed: %s", t->id, vx_strerror(err));
}

/* ------------------------------------------------------------------------------------------- */
/* Availability                                                                                */

bool vx_store_piece_is_finished(const struct vx_store_task *t, uint32_t number)
{
	if (number >= t->piece_count)
		return false;
	return (atomic_load_explicit(&t->bitmap[number / 64], memory_order_acquire) >>
		(number % 64)) &
	       1u;
}

ssize_t vx_store_task_bitmap(const struct vx_store_task *t, uint8_t *out, size_t out_len)
{
	size_t bytes = vx_bitmap_bytes(t->piece_count);

	if (out_len < bytes)
		return -ENOBUFS;
	memset(out, 0, bytes);
	for (size_t w = 0; w < ((size_t)t->piece_count + 63) / 64; w++) {
		uint64_t word = atomic_load_explicit(&t->bitmap[w], memory_order_acquire);

		while (word) {
			uint32_t bit = (uint32_t)__builtin_ctzll(word);
			size_t n = w * 64 + bit;

			vx_bit_set(out, n);
			word &= word - 1;
		}
	}
	return (ssize_t)bytes;
}

uint32_t vx_store_task_finished_since(struct vx_store_task *t, uint32_t *cursor, uint32_t *out,
				      uint32_t max)
{
	uint32_t fc, nr = 0;

	pthread_mutex_lock(&t->lock);
	fc = atomic_load(&t->finished_count);
	while (*cursor < fc && nr < max)
		out[nr++] = t->finish_log[(*cursor)++];
	pthread_mutex_unlock(&t->lock);
	return nr;
}

uint32_t vx_store_task_piece_count(const struct vx_store_task *t)
{
	return t->piece_count;
}

/* ------------------------------------------------------------------------------------------- */
/* Reading                                                                                     */

static uint64_t piece_len(const struct vx_store_task *t, uint32_t number)
{
	return vx_piece_size(number, t->content_length, t->piece_length);
}

int vx_store_piece_get(struct vx_store_task *t, uint32_t number, struct vx_store_piece_ref *ref)
{
	const struct vx__piece *p;
	int err;

	VX_ASSERT(t);
	VX_ASSERT(ref);
	if (number >= t->piece_count)
		return -ERANGE;
	if (!vx_store_piece_is_finished(t, number)) {
		pthread_mutex_lock(&t->lock);
		err = t->state == VX_STORE_TASK_FAILED ? t->error : -EAGAIN;
		pthread_mutex_unlock(&t->lock);
		return err;
	}
	p = &t->pieces[number];
	ref->number = number;
	ref->offset = (uint64_t)number * t->piece_length;
	ref->length = piece_len(t, number);
	vx__memtier_lend(t, ref);
	ref->crc32 = p->crc32;
	err = vx_digest_format_crc32(p->crc32, ref->digest, sizeof(ref->digest));
	VX_ASSERT(err > 0);
	ref->parent_id = p->parent_idx ? t->parents[p->parent_idx - 1] : "";
	ref->cost_ms = p->cost_ms;
	ref->finished_s = p->finished_s;
	return 0;
}

ssize_t vx_store_piece_read(struct vx_store_task *t, uint32_t number, void *buf, size_t len)
{
	struct vx_store_piece_ref ref;
	int err;

	err = vx_store_piece_get(t, number, &ref);
	if (err)
		return err;
	if (len < ref.length)
		return -ENOBUFS;
	return vx__file_pread_all(ref.fd, buf, (size_t)ref.length, ref.offset);
}

int vx_store_piece_verify(struct vx_store_task *t, uint32_t number)
{
	struct vx_store_piece_ref ref;
	ssize_t r;
	void *buf;
	int err;

	err = vx_store_piece_get(t, number, &ref);
	if (err)
		return err;
	buf = vx_malloc((size_t)ref.length);
	if (!buf)
		return -ENOMEM;
	r = vx__file_pread_all(ref.fd, buf, (size_t)ref.length, ref.offset);
	if (r < 0)
		err = (int)r;
	else if (vx_crc32(0, buf, (size_t)ref.length) != ref.crc32)
		err = VX_EDIGEST;
	vx_free(buf);
	return err;
}

int vx_store_piece_wait(struct vx_store_task *t, uint32_t number, uint32_t timeout_ms)
{
	struct timespec deadline;
	int err = 0;

	VX_ASSERT(t);
	if (number >= t->piece_count)
		return -ERANGE;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)(timeout_ms / 1000);
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&t->lock);
	while (t->pieces[number].state != VX__PIECE_FINISHED) {
		if (t->state == VX_STORE_TASK_FAILED) {
			err = t->error;
			break;
		}
		if (pthread_cond_timedwait(&t->cond, &t->lock, &deadline) == ETIMEDOUT) {
			if (t->pieces[number].state != VX__PIECE_FINISHED)
				err = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

/* ------------------------------------------------------------------------------------------- */
/* Writing                                                                                     */

int vx_store_piece_begin_write(struct vx_store_task *t, uint32_t number,
			       struct vx_store_piece_io *io)
{
	struct vx_store *s = t->store;
	struct vx__piece *p;
	int err = 0;

	VX_ASSERT(io);
	if (number >= t->piece_count)
		return -ERANGE;
	pthread_mutex_lock(&t->lock);
	p = &t->pieces[number];
	if (t->state == VX_STORE_TASK_FAILED)
		err = t->error;
	else if (p->state == VX__PIECE_FINISHED)
		err = -EALREADY;
	else if (p->state == VX__PIECE_WRITING)
		err = -EBUSY;
	if (!err) {
		p->state = VX__PIECE_WRITING;
		t->writing_count++;
	}
	pthread_mutex_unlock(&t->lock);
	if (err)
		return err;
	/* The fds are stable: a task with a DOWNLOAD handle keeps its files open. */
	io->offset = (uint64_t)number * t->piece_length;
	io->length = piece_len(t, number);
	io->buffered_fd = t->fd;
	io->direct = t->fd_direct != -1 && VX_IS_ALIGNED(io->offset, (uint64_t)s->align) &&
		     VX_IS_ALIGNED(io->length, (uint64_t)s->align);
	io->fd = io->direct ? t->fd_direct : t->fd;
	io->align = io->direct ? s->align : 1;
	return 0;
}

int vx_store_piece_commit(struct vx_store_task *t, uint32_t number,
			  const struct vx_store_piece_done *done)
{
	struct vx_store *s = t->store;
	int64_t now = vx__store_now(s);
	uint32_t fc;
	bool complete = false;

	VX_ASSERT(done);
	if (number >= t->piece_count)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	if (t->pieces[number].state != VX__PIECE_WRITING) {
		pthread_mutex_unlock(&t->lock);
		return -EINVAL;
	}
	t->writing_count--;
	fc = task_publish(t, number, done->crc32, done->parent_id, done->cost_ms, now);
	if (fc == t->piece_count && t->state == VX_STORE_TASK_DOWNLOADING) {
		t->state = VX_STORE_TASK_COMPLETE;
		complete = true;
		if (done->content && done->content->len <= sizeof(t->digest_ok)) {
			memcpy(t->digest_ok, done->content->value, done->content->len);
			t->digest_ok_len = (uint8_t)done->content->len;
			t->digest_ok_algo = (int)done->content->algo;
		}
	}
	task_wake(t, number, fc);
	if (complete) {
		/* Progress watchers learn that nothing more will come. */
		struct vx_list *pos, *tmp;

		vx_list_for_each_safe(pos, tmp, &t->waiters) {
			waiter_fire(vx_list_entry(pos, struct vx_store_waiter, link), 0);
		}
	}
	pthread_mutex_unlock(&t->lock);
	if (t->kind == VX_STORE_KIND_MEMORY)
		return 0;
	vx__store_mark_dirty(t);
	if (atomic_fetch_add(&s->pending_pieces, 1) + 1 >= s->cfg.flush_batch_pieces &&
	    s->flusher_running)
		pthread_cond_signal(&s->flush_cond);
	return 0;
}

static bool piece_error_is_fatal(int err)
{
	return err == -ENOSPC || err == -EIO || err == -EDQUOT || err == -EROFS || err == -EFBIG;
}

void vx_store_piece_abort(struct vx_store_task *t, uint32_t number, int err)
{
	bool fatal = err < 0 && piece_error_is_fatal(err);

	VX_ASSERT(err <= 0);
	if (number >= t->piece_count)
		return;
	pthread_mutex_lock(&t->lock);
	if (t->pieces[number].state == VX__PIECE_WRITING) {
		t->pieces[number].state = VX__PIECE_MISSING;
		t->writing_count--;
	}
	if (fatal)
		vx__task_fail_locked(t, err);
	pthread_mutex_unlock(&t->lock);
	if (fatal) {
		vx_err("store: task %.12s: writing piece %u: %s; the task fails", t->id, number,
		       vx_strerror(err));
		vx__store_mark_dirty(t);
	}
}

int vx_store_piece_write(struct vx_store_task *t, uint32_t number, const void *buf, size_t len,
			 bool check, uint32_t expect_crc32, const char *parent_id)
{
	struct vx_store_piece_io io;
	struct vx_store_piece_done done = { 0 };
	uint64_t start_ns = vx_now_ns();
	uint32_t crc;
	ssize_t w;
	int err, fd;

	VX_ASSERT(t);
	VX_ASSERT(buf || len == 0);
	if (number >= t->piece_count)
		return -ERANGE;
	if (len != piece_len(t, number))
		return -EINVAL;
	crc = vx_crc32(0, buf, len);
	if (check && crc != expect_crc32)
		return VX_EDIGEST;
	err = vx_store_piece_begin_write(t, number, &io);
	if (err)
		return err;
	fd = io.direct && VX_IS_ALIGNED((uintptr_t)buf, (uintptr_t)io.align) ? io.fd
									     : io.buffered_fd;
	w = vx__file_pwrite_all(fd, buf, len, io.offset);
	if (w < 0) {
		vx_store_piece_abort(t, number, (int)w);
		return (int)w;
	}
	done.crc32 = crc;
	done.parent_id = parent_id;
	done.cost_ms = (vx_now_ns() - start_ns) / 1000000u;
	return vx_store_piece_commit(t, number, &done);
}
