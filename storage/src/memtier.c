/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memtier.c: the memory tier. A COMPLETE task of any kind may get a copy of its content in a
 * memfd (sealed: no writes, no growth, no shrinking, no new seals), and while it has one,
 * vx_store_piece_get() lends the copy instead of the content file, so the upload server and
 * local readers never touch the disk for it. The tier is write-through: the content file stays
 * the durable copy and is never removed for the tier, so dropping a copy (memory pressure, the
 * task's removal, the store's close, a restart) loses nothing and needs no write.
 *
 * Accounting. Copies share cfg.memory_budget_bytes with memory tasks (vx__memtier_used()). A
 * load reserves its length under s->lock before it copies, so two loads never both fit in one
 * free slot. Room is made by dropping idle copies (no handle held on their task) least
 * recently used first (s->tier_tick, bumped by each load and each piece lent from a copy); a
 * copy whose task is held is pinned: a holder may have a piece of it lent (fd, mapping) and
 * reads t->mem without a lock, which is safe because a copy is detached only under s->lock
 * while the task's refcounts are zero, and every acquire takes s->lock.
 * spec/storage.md, "Memory tier", has the rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store_int.h"
#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_digest.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_piece_plan.h"

uint64_t vx__memtier_used(const struct vx_store *s)
{
	return s->memory_bytes + s->tier_bytes;
}

static void copy_free(struct vx__memcopy *c)
{
	if (!c)
		return;
	if (c->map)
		munmap((void *)c->map, (size_t)c->len);
	if (c->fd >= 0)
		close(c->fd);
	vx_free(c);
}

/* Takes @c out of the tier and off its task; s->lock held. The caller frees it unlocked. */
static void detach_locked(struct vx_store *s, struct vx__memcopy *c)
{
	vx_list_del(&c->link);
	atomic_store_explicit(&c->t->mem, NULL, memory_order_release);
	VX_ASSERT(s->tier_bytes >= c->len && s->tier_tasks > 0);
	s->tier_bytes -= c->len;
	s->tier_tasks--;
}

/* The least recently used copy whose task nobody holds, or NULL; s->lock held. */
static struct vx__memcopy *victim_locked(struct vx_store *s)
{
	struct vx__memcopy *best = NULL;
	struct vx_list *pos;

	vx_list_for_each(pos, &s->tier) {
		struct vx__memcopy *c = vx_list_entry(pos, struct vx__memcopy, link);

		if (vx__task_total_refs(c->t) > 0)
			continue; /* pinned: in use */
		if (!best || atomic_load_explicit(&c->last_use, memory_order_relaxed) <
				     atomic_load_explicit(&best->last_use, memory_order_relaxed))
			best = c;
	}
	return best;
}

/* Drops the LRU idle copy; s->lock held on entry and on return. False: none is idle. */
static bool drop_one_locked(struct vx_store *s)
{
	struct vx__memcopy *c = victim_locked(s);

	if (!c)
		return false;
	detach_locked(s, c);
	s->tier_evictions++;
	pthread_mutex_unlock(&s->lock);
	vx_info("store: memory tier: dropped task %.12s (%llu bytes; its file stays)", c->t->id,
		(unsigned long long)c->len);
	copy_free(c);
	pthread_mutex_lock(&s->lock);
	return true;
}

bool vx__memtier_make_room(struct vx_store *s, uint64_t need)
{
	bool fits;

	pthread_mutex_lock(&s->lock);
	while (!(fits = vx__memtier_used(s) + need <= s->cfg.memory_budget_bytes) &&
	       drop_one_locked(s))
		;
	pthread_mutex_unlock(&s->lock);
	return fits;
}

void vx__memtier_forget(struct vx_store_task *t)
{
	struct vx_store *s = t->store;
	struct vx__memcopy *c;

	if (!atomic_load_explicit(&t->mem, memory_order_acquire))
		return;
	pthread_mutex_lock(&s->lock);
	c = atomic_load_explicit(&t->mem, memory_order_relaxed);
	if (c)
		detach_locked(s, c);
	pthread_mutex_unlock(&s->lock);
	copy_free(c);
}

void vx__memtier_lend(struct vx_store_task *t, struct vx_store_piece_ref *ref)
{
	struct vx__memcopy *c = atomic_load_explicit(&t->mem, memory_order_acquire);
	struct vx_store *s = t->store;

	if (c) {
		ref->fd = c->fd;
		ref->data = c->map ? c->map + ref->offset : NULL;
		atomic_store_explicit(
			&c->last_use,
			atomic_fetch_add_explicit(&s->tier_tick, 1, memory_order_relaxed) + 1,
			memory_order_relaxed);
		atomic_fetch_add_explicit(&s->reads_memory, 1, memory_order_relaxed);
		return;
	}
	ref->fd = t->fd;
	ref->data = t->map ? t->map + ref->offset : NULL;
	atomic_fetch_add_explicit(t->kind == VX_STORE_KIND_MEMORY ? &s->reads_memory
								  : &s->reads_disk,
				  1, memory_order_relaxed);
}

/* Reserves @t's length in the budget, dropping idle copies for it; see the load's returns. */
static int reserve(struct vx_store *s, struct vx_store_task *t)
{
	int err = 0;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		if (atomic_load_explicit(&t->mem, memory_order_relaxed)) {
			err = 1; /* loaded meanwhile */
			break;
		}
		if (t->mem_loading) {
			err = -EBUSY;
			break;
		}
		if (vx__memtier_used(s) + t->content_length <= s->cfg.memory_budget_bytes) {
			s->tier_bytes += t->content_length;
			s->tier_tasks++;
			t->mem_loading = true;
			break;
		}
		if (t->content_length > s->cfg.memory_budget_bytes || !drop_one_locked(s)) {
			err = -ENOSPC;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}

/* The copy's bytes against the piece digests the writers checked: a copy is never trusted
 * more than the file it came from. */
static int verify(const struct vx_store_task *t, const uint8_t *map)
{
	for (uint32_t n = 0; n < t->piece_count; n++) {
		uint64_t off = (uint64_t)n * t->piece_length;
		uint64_t len = vx_piece_size(n, t->content_length, t->piece_length);

		if (vx_crc32(0, map + off, (size_t)len) != t->pieces[n].crc32)
			return VX_EDIGEST;
	}
	return 0;
}

/* Makes the sealed copy of @t in *@out. */
static int copy_make(struct vx_store_task *t, struct vx__memcopy **out)
{
	struct vx__memcopy *c = vx_calloc(1, sizeof(*c));
	void *map;
	int err;

	if (!c)
		return -ENOMEM;
	c->t = t;
	c->len = t->content_length;
	c->fd = memfd_create("vx-memtier", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (c->fd < 0) {
		err = -errno;
		goto fail;
	}
	if (c->len) {
		/* fallocate: the memory is taken now, not at a later page fault */
		if (fallocate(c->fd, 0, 0, (off_t)c->len) != 0) {
			err = -errno;
			goto fail;
		}
		err = vx__file_copy(t->fd, c->fd, c->len);
		if (err)
			goto fail;
	}
	if (fcntl(c->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) !=
	    0) {
		err = -errno;
		goto fail;
	}
	if (c->len) {
		map = mmap(NULL, (size_t)c->len, PROT_READ, MAP_SHARED, c->fd, 0);
		if (map == MAP_FAILED) {
			err = -errno;
			goto fail;
		}
		c->map = map;
		err = verify(t, c->map);
		if (err)
			goto fail;
	}
	*out = c;
	return 0;
fail:
	copy_free(c);
	return err;
}

int vx_store_task_memory_load(struct vx_store_task *t)
{
	struct vx_store *s = t->store;
	struct vx__memcopy *c = NULL;
	bool complete;
	int err;

	if (t->kind == VX_STORE_KIND_MEMORY)
		return 0;
	if (!s->cfg.memory_budget_bytes)
		return -ENOSPC; /* the tier is off: not even an empty task goes in */
	pthread_mutex_lock(&t->lock);
	complete = t->state == VX_STORE_TASK_COMPLETE;
	pthread_mutex_unlock(&t->lock);
	if (!complete)
		return -EAGAIN;
	err = reserve(s, t);
	if (err)
		return err > 0 ? 0 : err;
	err = copy_make(t, &c); /* @c stays NULL on failure */
	pthread_mutex_lock(&s->lock);
	t->mem_loading = false;
	if (!c) {
		s->tier_bytes -= t->content_length;
		s->tier_tasks--;
	} else {
		atomic_store_explicit(
			&c->last_use,
			atomic_fetch_add_explicit(&s->tier_tick, 1, memory_order_relaxed) + 1,
			memory_order_relaxed);
		vx_list_add_tail(&s->tier, &c->link);
		s->tier_loads++;
		atomic_store_explicit(&t->mem, c, memory_order_release);
	}
	pthread_mutex_unlock(&s->lock);
	if (err)
		vx_warn("store: memory tier: cannot load task %.12s: %s", t->id, vx_strerror(err));
	else
		vx_info("store: memory tier: task %.12s in memory (%llu bytes)", t->id,
			(unsigned long long)t->content_length);
	return err;
}

int vx_store_task_memory_fd(struct vx_store_task *t)
{
	struct vx__memcopy *c = atomic_load_explicit(&t->mem, memory_order_acquire);
	char path[48];
	int fd;

	if (!c)
		return -ENOENT;
	/* a new open file description, read-only: the receiver cannot even try to write */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", c->fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

bool vx_store_task_in_memory(const struct vx_store_task *t)
{
	return t->kind == VX_STORE_KIND_MEMORY ||
	       atomic_load_explicit(&t->mem, memory_order_acquire) != NULL;
}
