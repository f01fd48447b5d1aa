/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.c: the piece store's lifecycle (open with resume, close), the task table (create or
 * open with space admission, acquire/release, remove), the flusher thread and stats. Pieces are
 * in piece.c, sqlite in meta.c, files in file.c, GC and export in gc.c.
 */
#include "vx_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_piece_plan.h"
#include "vx_task_id.h"
#include "vx_time.h"

#include "store_int.h"

static const char *const vx_store_kind_dirs[] = {
	[VX_STORE_KIND_NORMAL] = "content/tasks",
	[VX_STORE_KIND_PERSISTENT_CACHE] = "content/persistent-cache-tasks",
	[VX_STORE_KIND_MEMORY] = NULL,
};

void vx_store_cfg_init(struct vx_store_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->direct_io = VX_STORE_DIRECT_OPTIONAL;
	cfg->gc_high_pct = 80;
	cfg->gc_low_pct = 60;
	cfg->task_ttl_s = 30ull * 24 * 3600;
	cfg->persistent_ttl_s = 24ull * 3600;
	cfg->page_cache_idle_s = 40ull * 60;
	cfg->memory_budget_bytes = 64ull << 20;
	cfg->max_tasks = 65536;
	cfg->max_open_files = 1024;
	cfg->flush_interval_ms = 50;
	cfg->flush_batch_pieces = 256;
	cfg->gc_interval_s = 900;
}

static int64_t store_wall_clock(void *arg)
{
	(void)arg;
	return vx_wall_s();
}

int64_t vx__store_now(const struct vx_store *s)
{
	return s->cfg.clock(s->cfg.clock_arg);
}

int vx__store_content_path(const struct vx_store *s, enum vx_store_kind kind, const char *id,
			   char *out, size_t out_len)
{
	int n;

	VX_ASSERT(kind == VX_STORE_KIND_NORMAL || kind == VX_STORE_KIND_PERSISTENT_CACHE);
	n = snprintf(out, out_len, "%s/%s/%.3s/%.64s", s->dir, vx_store_kind_dirs[kind], id, id);
	if (n < 0 || (size_t)n >= out_len)
		return -ENAMETOOLONG;
	return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* Task table                                                                                  */

static uint32_t store_bucket(const struct vx_store *s, const char *id)
{
	uint32_t h = 0;

	/* Ids are sha256 hex: their first 8 digits are already uniform. */
	for (int i = 0; i < 8; i++)
		h = h * 16u + (uint32_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
	return h & (s->nr_buckets - 1);
}

/* Adds @t to the table and the usage counters. s->lock held (or exclusive). */
void vx__store_insert(struct vx_store *s, struct vx_store_task *t)
{
	uint32_t b = store_bucket(s, t->id);

	t->hash_next = s->buckets[b];
	s->buckets[b] = t;
	vx_list_add_tail(&s->tasks, &t->all_link);
	vx_list_init(&t->dirty_link);
	s->nr_tasks++;
	if (t->kind == VX_STORE_KIND_MEMORY)
		s->memory_bytes += t->content_length;
	else
		s->disk_bytes += t->disk_bytes;
}

/* Removes @t from the table and the usage counters. s->lock held. */
void vx__store_unhash(struct vx_store *s, struct vx_store_task *t)
{
	struct vx_store_task **pp = &s->buckets[store_bucket(s, t->id)];

	while (*pp && *pp != t)
		pp = &(*pp)->hash_next;
	VX_ASSERT(*pp == t);
	*pp = t->hash_next;
	t->hash_next = NULL;
	vx_list_del(&t->all_link);
	if (t->on_dirty) {
		vx_list_del(&t->dirty_link);
		t->on_dirty = false;
	}
	s->nr_tasks--;
	if (t->kind == VX_STORE_KIND_MEMORY)
		s->memory_bytes -= t->content_length;
	else
		s->disk_bytes -= t->disk_bytes;
}

/* The task with id @id (64 chars), or NULL. s->lock held. */
struct vx_store_task *vx__store_lookup(struct vx_store *s, const char *id)
{
	struct vx_store_task *t = s->buckets[store_bucket(s, id)];

	while (t && memcmp(t->id, id, VX_TASK_ID_LEN) != 0)
		t = t->hash_next;
	return t;
}

uint32_t vx__task_total_refs(const struct vx_store_task *t)
{
	uint32_t n = t->flush_refs;

	for (int u = 0; u < VX_STORE_USE_NR; u++)
		n += t->refs[u];
	return n;
}

/* Puts @t on the dirty list so the flusher writes its rows. Takes s->lock. */
void vx__store_mark_dirty(struct vx_store_task *t)
{
	struct vx_store *s = t->store;

	if (t->kind == VX_STORE_KIND_MEMORY)
		return;
	pthread_mutex_lock(&s->lock);
	if (!t->on_dirty && !t->removing) {
		t->on_dirty = true;
		vx_list_add_tail(&s->dirty, &t->dirty_link);
	}
	pthread_mutex_unlock(&s->lock);
}

void vx__task_free(struct vx_store_task *t)
{
	if (!t)
		return;
	vx__memtier_forget(t);
	vx__file_close_task(t);
	if (t->pieces) {
		VX_ASSERT(vx_list_empty(&t->waiters));
		pthread_mutex_destroy(&t->lock);
		pthread_cond_destroy(&t->cond);
	}
	vx_free(t->pieces);
	vx_free(t->finish_log);
	vx_free((void *)t->bitmap);
	vx_free(t->parents);
	vx_free(t->url);
	vx_free(t->digest);
	vx_free(t);
}

/*
 * Deletes unhashed task @t: rows, content file, memory. s->db_lock held, @t already out of the
 * table and unreferenced. On a metadata failure @t is put back and the error returned.
 */
/*
 * A full filesystem refuses the very transaction that would free space (sqlite needs room in
 * its journal to delete rows), so an eviction could never make room. The content file goes
 * first then: a store reopened with the rows but not the file drops the task (meta.c, "content
 * file missing or short"), so the order is crash-safe. Returns 0 when the retry committed.
 */
static int task_delete_on_full_disk(struct vx_store_task *t, char *path, size_t len)
{
	struct vx_store *s = t->store;

	if (t->kind == VX_STORE_KIND_MEMORY || vx__store_content_path(s, t->kind, t->id, path, len))
		return -ENOSPC;
	pthread_mutex_lock(&s->lock);
	vx__file_close_task(t);
	pthread_mutex_unlock(&s->lock);
	if (unlink(path) == -1 && errno != ENOENT)
		return -ENOSPC;
	vx_warn("store: task %.12s: disk full: content removed before its rows", t->id);
	return vx__meta_task_delete(s, t->id);
}

int vx__task_unlink_and_free(struct vx_store_task *t)
{
	struct vx_store *s = t->store;
	char path[PATH_MAX];
	int err;

	if (t->in_db) {
		err = vx__meta_task_delete(s, t->id);
		if (err == -ENOSPC)
			err = task_delete_on_full_disk(t, path, sizeof(path));
		if (err) {
			pthread_mutex_lock(&s->lock);
			t->removing = false;
			vx__store_insert(s, t);
			pthread_mutex_unlock(&s->lock);
			return err;
		}
	}
	pthread_mutex_lock(&s->lock);
	vx__file_close_task(t);
	pthread_mutex_unlock(&s->lock);
	if (t->kind != VX_STORE_KIND_MEMORY &&
	    vx__store_content_path(s, t->kind, t->id, path, sizeof(path)) == 0 &&
	    unlink(path) == -1 && errno != ENOENT)
		vx_warn("store: unlink %s: %s", path, strerror(errno));
	vx__task_free(t);
	return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* Space                                                                                       */

/*
 * Usage of the store's own files, the capacity GC measures it against, and the filesystem's
 * free space. Takes s->lock.
 */
void vx__store_capacity(struct vx_store *s, uint64_t *usage, uint64_t *capacity, uint64_t *fs_avail)
{
	struct statvfs vfs;
	uint64_t avail = UINT64_MAX;

	if (statvfs(s->dir, &vfs) == 0)
		avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	pthread_mutex_lock(&s->lock);
	*usage = s->disk_bytes + s->db_bytes;
	pthread_mutex_unlock(&s->lock);
	if (s->cfg.disk_quota_bytes)
		*capacity = s->cfg.disk_quota_bytes;
	else
		*capacity = avail == UINT64_MAX ? UINT64_MAX : *usage + avail;
	*fs_avail = avail;
}

/* Whether @len more bytes fit on disk now. */
static bool store_disk_fits(struct vx_store *s, uint64_t len)
{
	uint64_t usage, capacity, avail;

	vx__store_capacity(s, &usage, &capacity, &avail);
	if (len > avail)
		return false;
	return usage <= capacity && len <= capacity - usage;
}

static int store_admit(struct vx_store *s, uint64_t len, enum vx_store_kind *kind, uint32_t flags)
{
	if (*kind == VX_STORE_KIND_MEMORY) {
		bool fits;

		/* tier copies go first: their content stays on disk */
		fits = vx__memtier_make_room(s, len);
		if (!fits && len <= s->cfg.memory_budget_bytes)
			fits = vx__gc_make_room(s, len, true) == 0;
		if (fits)
			return 0;
		if (!(flags & VX_STORE_OPEN_SPILL)) {
			vx_err("store: memory budget full: %llu bytes do not fit in %llu",
			       (unsigned long long)len,
			       (unsigned long long)s->cfg.memory_budget_bytes);
			return -ENOSPC;
		}
		vx_info("store: memory budget full; the task spills to disk");
		*kind = VX_STORE_KIND_NORMAL;
	}
	if (store_disk_fits(s, len))
		return 0;
	if (vx__gc_make_room(s, len, false) == 0 && store_disk_fits(s, len))
		return 0;
	vx_err("store: no room for %llu more bytes in %s", (unsigned long long)len, s->dir);
	return -ENOSPC;
}

/* ------------------------------------------------------------------------------------------- */
/* Tasks                                                                                       */

static void task_ref(struct vx_store_task *t, enum vx_store_use use)
{
	struct vx_store *s = t->store;

	t->refs[use]++;
	t->access_s = vx__store_now(s);
	t->cache_dropped = false;
	vx__file_idle_update(t);
}

static int task_check_params(const struct vx_store_task_params *p, uint64_t *piece_length)
{
	uint64_t pl = p->piece_length ? p->piece_length : vx_piece_length_for(p->content_length);

	if (!p->id || !vx_task_id_valid(p->id, strlen(p->id)))
		return -EINVAL;
	if (p->kind != VX_STORE_KIND_NORMAL && p->kind != VX_STORE_KIND_PERSISTENT_CACHE &&
	    p->kind != VX_STORE_KIND_MEMORY)
		return -EINVAL;
	if (pl == 0 || pl > VX_STORE_PIECE_LEN_MAX || p->content_length > (UINT64_MAX >> 2))
		return -EINVAL;
	if (p->url && strlen(p->url) >= VX_STORE_URL_MAX)
		return -EINVAL;
	if (vx_piece_count(p->content_length, pl) > VX_STORE_PIECES_MAX)
		return -E2BIG;
	*piece_length = pl;
	return 0;
}

/* Opens existing task @t for @use after a create-or-open found it. s->db_lock held. */
static int task_reopen(struct vx_store *s, struct vx_store_task *t,
		       const struct vx_store_task_params *p, uint64_t pl, enum vx_store_use use)
{
	int err = 0;

	if (t->content_length != p->content_length || t->piece_length != pl)
		return -EEXIST;
	pthread_mutex_lock(&s->lock);
	if (t->removing) {
		err = -ENOENT;
	} else if (t->fd == -1) {
		vx__file_make_room(s);
		err = vx__file_open_task(t, false);
	}
	if (!err)
		task_ref(t, use);
	pthread_mutex_unlock(&s->lock);
	if (err)
		return err;
	pthread_mutex_lock(&t->lock);
	if (t->state == VX_STORE_TASK_FAILED) {
		t->state = VX_STORE_TASK_DOWNLOADING;
		t->error = 0;
	}
	pthread_mutex_unlock(&t->lock);
	vx__store_mark_dirty(t);
	return 0;
}

static int task_new(struct vx_store *s, const struct vx_store_task_params *p, uint64_t pl,
		    enum vx_store_kind kind, struct vx_store_task **out)
{
	struct vx_store_task *t;
	int err;

	t = vx_calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->store = s;
	t->fd = -1;
	t->fd_direct = -1;
	memcpy(t->id, p->id, VX_TASK_ID_LEN + 1);
	t->kind = kind;
	t->content_length = p->content_length;
	t->piece_length = pl;
	t->piece_count = vx_piece_count(p->content_length, pl);
	t->replicas = p->replicas;
	t->ttl_s = kind == VX_STORE_KIND_PERSISTENT_CACHE && !p->ttl_s ? s->cfg.persistent_ttl_s
								       : p->ttl_s;
	t->created_s = vx__store_now(s);
	t->access_s = t->created_s;
	t->state = t->piece_count == 0 ? VX_STORE_TASK_COMPLETE : VX_STORE_TASK_DOWNLOADING;
	vx_list_init(&t->dirty_link);
	vx_list_init(&t->all_link);
	err = -ENOMEM;
	if (p->url && *p->url && !(t->url = vx_strdup(p->url)))
		goto err_free;
	if (p->digest && *p->digest && !(t->digest = vx_strdup(p->digest)))
		goto err_free;
	err = vx__task_alloc_pieces(t);
	if (err)
		goto err_free;
	*out = t;
	return 0;
err_free:
	vx__task_free(t);
	return err;
}

/* Creates task @p: admission, file, row. s->db_lock held. */
static int task_create(struct vx_store *s, const struct vx_store_task_params *p, uint64_t pl,
		       enum vx_store_use use, struct vx_store_task **out)
{
	enum vx_store_kind kind = p->kind;
	struct vx_store_task *t;
	uint32_t nr_tasks;
	int err;

	pthread_mutex_lock(&s->lock);
	nr_tasks = s->nr_tasks;
	pthread_mutex_unlock(&s->lock);
	if (nr_tasks >= s->cfg.max_tasks)
		return -EMFILE;
	err = store_admit(s, p->content_length, &kind, p->flags);
	if (err)
		return err;
	err = task_new(s, p, pl, kind, &t);
	if (err)
		return err;
	pthread_mutex_lock(&s->lock);
	vx__file_make_room(s);
	pthread_mutex_unlock(&s->lock);
	err = vx__file_open_task(t, true);
	if (err) {
		if (err == -ENOSPC)
			vx_err("store: no room to reserve %llu bytes for task %.12s",
			       (unsigned long long)t->content_length, t->id);
		goto err_free;
	}
	t->disk_bytes =
		kind == VX_STORE_KIND_MEMORY || s->cfg.no_preallocate ? 0 : t->content_length;
	if (kind != VX_STORE_KIND_MEMORY) {
		err = vx__meta_task_insert(s, t);
		if (err)
			goto err_unlink;
		t->in_db = true;
		pthread_mutex_lock(&s->lock);
		s->commits++;
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_lock(&s->lock);
	vx__store_insert(s, t);
	task_ref(t, use);
	pthread_mutex_unlock(&s->lock);
	*out = t;
	return 0;
err_unlink : {
	char path[PATH_MAX];

	if (vx__store_content_path(s, kind, t->id, path, sizeof(path)) == 0)
		unlink(path);
}
err_free:
	vx__task_free(t);
	return err;
}

int vx_store_task_open(struct vx_store *s, const struct vx_store_task_params *p,
		       enum vx_store_use use, struct vx_store_task **out)
{
	struct vx_store_task *t;
	uint64_t pl;
	int err;

	VX_ASSERT(s);
	VX_ASSERT(p);
	VX_ASSERT(out);
	VX_ASSERT((unsigned)use < VX_STORE_USE_NR);
	*out = NULL;
	err = task_check_params(p, &pl);
	if (err)
		return err;
	pthread_mutex_lock(&s->db_lock);
	pthread_mutex_lock(&s->lock);
	t = vx__store_lookup(s, p->id);
	pthread_mutex_unlock(&s->lock);
	if (t)
		err = task_reopen(s, t, p, pl, use);
	else if (p->flags & VX_STORE_OPEN_NO_CREATE)
		err = -ENOENT;
	else
		err = task_create(s, p, pl, use, &t);
	pthread_mutex_unlock(&s->db_lock);
	if (!err) {
		if (use == VX_STORE_USE_DOWNLOAD)
			vx__task_want_parents(t);
		*out = t;
	}
	return err;
}

int vx_store_task_acquire(struct vx_store *s, const char *id, enum vx_store_use use,
			  struct vx_store_task **out)
{
	struct vx_store_task *t;
	int err = 0;

	VX_ASSERT(s);
	VX_ASSERT(out);
	VX_ASSERT((unsigned)use < VX_STORE_USE_NR);
	*out = NULL;
	if (!id || !vx_task_id_valid(id, VX_TASK_ID_LEN))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	t = vx__store_lookup(s, id);
	if (!t || t->removing)
		err = -ENOENT;
	else if (t->fd == -1) {
		vx__file_make_room(s);
		err = vx__file_open_task(t, false);
	}
	if (!err) {
		task_ref(t, use);
		*out = t;
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}

void vx_store_task_release(struct vx_store_task *t, enum vx_store_use use)
{
	struct vx_store *s;

	if (!t)
		return;
	s = t->store;
	VX_ASSERT((unsigned)use < VX_STORE_USE_NR);
	pthread_mutex_lock(&s->lock);
	VX_ASSERT(t->refs[use] > 0);
	t->refs[use]--;
	t->access_s = vx__store_now(s);
	vx__file_idle_update(t);
	/* The new access time reaches the row at the next flush (LRU survives restarts). */
	if (t->in_db && !t->on_dirty && !t->removing) {
		t->on_dirty = true;
		vx_list_add_tail(&s->dirty, &t->dirty_link);
	}
	pthread_mutex_unlock(&s->lock);
}

const char *vx_store_task_id(const struct vx_store_task *t)
{
	return t->id;
}

const char *vx_store_task_url(const struct vx_store_task *t)
{
	return t->url ? t->url : "";
}

/* Fills @out from @t; s->lock held by the caller. */
static void task_info_locked(struct vx_store_task *t, struct vx_store_task_info *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->id, t->id, sizeof(out->id));
	out->kind = t->kind;
	out->priv = t->priv;
	out->in_memory = vx_store_task_in_memory(t);
	out->content_length = t->content_length;
	out->piece_length = t->piece_length;
	out->piece_count = t->piece_count;
	out->created_s = t->created_s;
	out->ttl_s = t->ttl_s;
	out->replicas = t->replicas;
	for (int u = 0; u < VX_STORE_USE_NR; u++)
		out->refs[u] = t->refs[u];
	out->access_s = t->access_s;
	pthread_mutex_lock(&t->lock);
	out->state = t->state;
	out->error = t->error;
	out->finished_count = atomic_load(&t->finished_count);
	out->durable_count = t->durable_count;
	pthread_mutex_unlock(&t->lock);
}

uint32_t vx_store_task_list(struct vx_store *s, struct vx_store_task_info *out, uint32_t max)
{
	struct vx_list *pos;
	uint32_t i = 0, total;

	VX_ASSERT(s);
	VX_ASSERT(out || max == 0);
	pthread_mutex_lock(&s->lock);
	total = s->nr_tasks;
	vx_list_for_each(pos, &s->tasks) {
		if (i == max)
			break;
		task_info_locked(vx_list_entry(pos, struct vx_store_task, all_link), &out[i++]);
	}
	pthread_mutex_unlock(&s->lock);
	return total;
}

int vx_store_task_set_private(struct vx_store_task *t)
{
	struct vx_store *s = t->store;
	bool done;
	int err = 0;

	pthread_mutex_lock(&s->lock);
	done = t->priv;
	pthread_mutex_unlock(&s->lock);
	if (done)
		return 0;
	pthread_mutex_lock(&s->db_lock);
	err = vx__meta_task_private(s, t->id);
	pthread_mutex_unlock(&s->db_lock);
	if (err)
		return err;
	pthread_mutex_lock(&s->lock);
	t->priv = true;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void vx_store_task_info(struct vx_store_task *t, struct vx_store_task_info *out)
{
	struct vx_store *s = t->store;

	pthread_mutex_lock(&s->lock);
	task_info_locked(t, out);
	pthread_mutex_unlock(&s->lock);
}

int vx_store_task_remove(struct vx_store *s, const char *id)
{
	struct vx_store_task *t;
	int err = 0;

	VX_ASSERT(s);
	if (!id || !vx_task_id_valid(id, strlen(id)))
		return -EINVAL;
	pthread_mutex_lock(&s->db_lock);
	pthread_mutex_lock(&s->lock);
	t = vx__store_lookup(s, id);
	if (!t)
		err = -ENOENT;
	else if (vx__task_total_refs(t) > 0)
		err = -EBUSY;
	if (!err) {
		t->removing = true;
		vx__store_unhash(s, t);
	}
	pthread_mutex_unlock(&s->lock);
	if (!err)
		err = vx__task_unlink_and_free(t);
	pthread_mutex_unlock(&s->db_lock);
	return err;
}

/* ------------------------------------------------------------------------------------------- */
/* Flusher                                                                                     */

int vx_store_flush(struct vx_store *s)
{
	int err;

	VX_ASSERT(s);
	pthread_mutex_lock(&s->db_lock);
	err = vx__meta_flush(s);
	pthread_mutex_unlock(&s->db_lock);
	return err;
}

/* A background GC pass when one is due (the flusher thread, outside flush_mu). */
static void store_maybe_gc(struct vx_store *s, uint64_t *last_gc_ms)
{
	struct vx_store_gc_report r;
	uint64_t now = vx_now_ms();
	int err;

	if (s->cfg.no_gc_thread ||
	    now - *last_gc_ms <
		    (uint64_t)__atomic_load_n(&s->cfg.gc_interval_s, __ATOMIC_RELAXED) * 1000u)
		return;
	*last_gc_ms = now;
	err = vx_store_gc(s, &r);
	if (err)
		vx_err("store: background GC failed: %s", vx_strerror(err));
	else if (r.expired || r.evicted)
		vx_info("store: GC removed %u expired and %u evicted tasks, freed %llu bytes",
			r.expired, r.evicted, (unsigned long long)r.freed_bytes);
}

static void *store_flusher(void *arg)
{
	struct vx_store *s = arg;
	uint64_t last_gc_ms = vx_now_ms();
	int last_err = 0;

	pthread_mutex_lock(&s->flush_mu);
	while (!s->flush_stop) {
		struct timespec ts;
		int err;

		if (atomic_load(&s->pending_pieces) < s->cfg.flush_batch_pieces) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += (long)s->cfg.flush_interval_ms * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&s->flush_cond, &s->flush_mu, &ts);
			if (s->flush_stop)
				break;
		}
		pthread_mutex_unlock(&s->flush_mu);
		err = vx_store_flush(s);
		if (err && err != last_err)
			vx_err("store: flush failed (%s); finished pieces stay pending",
			       vx_strerror(err));
		last_err = err;
		store_maybe_gc(s, &last_gc_ms);
		pthread_mutex_lock(&s->flush_mu);
	}
	pthread_mutex_unlock(&s->flush_mu);
	return NULL;
}

/* ------------------------------------------------------------------------------------------- */
/* Open / close                                                                                */

/* Removes content files the metadata does not know (a crash between file and row). */
static void store_remove_orphans(struct vx_store *s)
{
	for (int k = VX_STORE_KIND_NORMAL; k <= VX_STORE_KIND_PERSISTENT_CACHE; k++) {
		char top[PATH_MAX];
		DIR *d;
		struct dirent *de;

		snprintf(top, sizeof(top), "%s/%s", s->dir, vx_store_kind_dirs[k]);
		d = opendir(top);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			char sub[PATH_MAX];
			DIR *d2;
			struct dirent *f;

			if (de->d_name[0] == '.' || strlen(de->d_name) != 3)
				continue;
			if (snprintf(sub, sizeof(sub), "%s/%s", top, de->d_name) >=
			    (int)sizeof(sub))
				continue;
			d2 = opendir(sub);
			if (!d2)
				continue;
			while ((f = readdir(d2))) {
				bool known;

				if (f->d_name[0] == '.')
					continue;
				known = vx_task_id_valid(f->d_name, strlen(f->d_name)) &&
					vx__store_lookup(s, f->d_name);
				if (!known) {
					vx_info("store: removing orphan content %s/%s", sub,
						f->d_name);
					unlinkat(dirfd(d2), f->d_name, 0);
				}
			}
			closedir(d2);
		}
		closedir(d);
	}
}

/* Unlinks the files of the two-level fan-out directory @top (relative to @dirfd). */
static void store_wipe_fanout(int dirfd, const char *top)
{
	int tfd = openat(dirfd, top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d1;
	struct dirent *de;

	if (tfd == -1)
		return;
	d1 = fdopendir(tfd);
	if (!d1) {
		close(tfd);
		return;
	}
	while ((de = readdir(d1))) {
		int sfd;
		DIR *d2;
		struct dirent *f;

		if (de->d_name[0] == '.')
			continue;
		sfd = openat(tfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sfd == -1)
			continue;
		d2 = fdopendir(sfd);
		if (!d2) {
			close(sfd);
			continue;
		}
		while ((f = readdir(d2))) {
			if (f->d_name[0] != '.')
				unlinkat(sfd, f->d_name, 0);
		}
		closedir(d2);
		unlinkat(tfd, de->d_name, AT_REMOVEDIR);
	}
	closedir(d1);
}

/* Deletes every task and the metadata (cfg.wipe): only our own files, nothing else. */
static int store_wipe(const char *dir)
{
	static const char *const db[] = { "metadata/store.db", "metadata/store.db-wal",
					  "metadata/store.db-shm" };
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = 0;

	if (dfd == -1)
		return -errno;
	for (size_t i = 0; i < VX_ARRAY_SIZE(db); i++) {
		if (unlinkat(dfd, db[i], 0) == -1 && errno != ENOENT) {
			err = -errno;
			goto out;
		}
	}
	for (int k = VX_STORE_KIND_NORMAL; k <= VX_STORE_KIND_PERSISTENT_CACHE; k++)
		store_wipe_fanout(dfd, vx_store_kind_dirs[k]);
out:
	close(dfd);
	return err;
}

static int store_check_cfg(const struct vx_store_cfg *cfg)
{
	if (!cfg->dir || !*cfg->dir || strlen(cfg->dir) > PATH_MAX - 256)
		return -EINVAL;
	if (cfg->gc_low_pct > cfg->gc_high_pct || cfg->gc_high_pct > 100)
		return -EINVAL;
	if ((unsigned)cfg->direct_io > VX_STORE_DIRECT_DISABLED)
		return -EINVAL;
	if (cfg->max_tasks > (1u << 24))
		return -EINVAL;
	return 0;
}

static int store_make_dirs(struct vx_store *s)
{
	static const char *const sub[] = { "content/tasks", "content/persistent-cache-tasks",
					   "metadata", "tmp" };

	for (size_t i = 0; i < VX_ARRAY_SIZE(sub); i++) {
		char p[PATH_MAX];
		int err;

		snprintf(p, sizeof(p), "%s/%s", s->dir, sub[i]);
		err = vx__file_mkdirs(p);
		if (err) {
			vx_err("store: cannot create %s: %s", p, strerror(-err));
			return err;
		}
		/* the metadata holds full source URLs (signatures): the daemon's own */
		if (strcmp(sub[i], "metadata") == 0 && chmod(p, 0700) == -1) {
			err = -errno;
			vx_err("store: cannot chmod %s: %s", p, strerror(errno));
			return err;
		}
	}
	return 0;
}

static int store_lock_dir(struct vx_store *s)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/lock", s->dir);
	s->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lock_fd == -1)
		return -errno;
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == -1) {
		int err = errno == EWOULDBLOCK ? VX_EDB_BUSY : -errno;

		vx_err("store: %s is in use by another process", s->dir);
		close(s->lock_fd);
		s->lock_fd = -1;
		return err;
	}
	return 0;
}

static int store_probe_direct(struct vx_store *s)
{
	int err;

	s->direct_io = false;
	s->align = 1;
	if (s->cfg.direct_io == VX_STORE_DIRECT_DISABLED)
		return 0;
	err = vx__file_probe_direct(s->dir, &s->align);
	if (!err) {
		s->direct_io = true;
		return 0;
	}
	s->align = 1;
	if (s->cfg.direct_io == VX_STORE_DIRECT_REQUIRED) {
		vx_err("store: direct I/O is required but %s does not support O_DIRECT (%s)",
		       s->dir, strerror(-err));
		return -EINVAL;
	}
	vx_info("store: %s does not support O_DIRECT (%s); using buffered writes", s->dir,
		strerror(-err));
	return 0;
}

static void store_apply_defaults(struct vx_store_cfg *c)
{
	struct vx_store_cfg d;

	vx_store_cfg_init(&d);
	if (!c->gc_high_pct)
		c->gc_high_pct = d.gc_high_pct;
	if (!c->gc_low_pct)
		c->gc_low_pct = VX_MIN(d.gc_low_pct, c->gc_high_pct);
	if (!c->task_ttl_s)
		c->task_ttl_s = d.task_ttl_s;
	if (!c->persistent_ttl_s)
		c->persistent_ttl_s = d.persistent_ttl_s;
	if (!c->page_cache_idle_s)
		c->page_cache_idle_s = d.page_cache_idle_s;
	if (c->no_memory)
		c->memory_budget_bytes = 0;
	else if (!c->memory_budget_bytes)
		c->memory_budget_bytes = d.memory_budget_bytes;
	if (!c->max_tasks)
		c->max_tasks = d.max_tasks;
	if (!c->max_open_files)
		c->max_open_files = d.max_open_files;
	if (!c->flush_interval_ms)
		c->flush_interval_ms = d.flush_interval_ms;
	if (!c->flush_batch_pieces)
		c->flush_batch_pieces = d.flush_batch_pieces;
	if (!c->gc_interval_s)
		c->gc_interval_s = d.gc_interval_s;
	if (!c->clock) {
		c->clock = store_wall_clock;
		c->clock_arg = NULL;
	}
}

static void store_free_tasks(struct vx_store *s)
{
	while (!vx_list_empty(&s->tasks)) {
		struct vx_store_task *t = vx_list_first(&s->tasks, struct vx_store_task, all_link);

		VX_ASSERT(vx__task_total_refs(t) == 0);
		vx__store_unhash(s, t);
		vx__task_free(t);
	}
}

/* Frees what store_new() allocated. */
static void store_free(struct vx_store *s)
{
	pthread_cond_destroy(&s->flush_cond);
	pthread_mutex_destroy(&s->flush_mu);
	pthread_mutex_destroy(&s->db_lock);
	pthread_mutex_destroy(&s->lock);
	vx_free(s->scratch);
	vx_free(s->buckets);
	vx_free(s->dir);
	vx_free(s);
}

/* The in-memory store for @cfg (validated): tables, locks, no files yet. */
static int store_new(const struct vx_store_cfg *cfg, struct vx_store **out)
{
	struct vx_store *s = vx_calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	if (!s)
		return -ENOMEM;
	s->lock_fd = -1;
	s->cfg = *cfg;
	store_apply_defaults(&s->cfg);
	s->dir = vx_strdup(cfg->dir);
	for (s->nr_buckets = 64; s->nr_buckets < s->cfg.max_tasks; s->nr_buckets <<= 1)
		;
	s->buckets = vx_calloc(s->nr_buckets, sizeof(*s->buckets));
	s->scratch = vx_calloc(s->cfg.max_tasks, sizeof(*s->scratch));
	if (!s->dir || !s->buckets || !s->scratch) {
		vx_free(s->scratch);
		vx_free(s->buckets);
		vx_free(s->dir);
		vx_free(s);
		return -ENOMEM;
	}
	while (strlen(s->dir) > 1 && s->dir[strlen(s->dir) - 1] == '/')
		s->dir[strlen(s->dir) - 1] = '\0';
	s->cfg.dir = s->dir;
	vx_list_init(&s->tasks);
	vx_list_init(&s->dirty);
	vx_list_init(&s->idle);
	vx_list_init(&s->tier);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->db_lock, NULL);
	pthread_mutex_init(&s->flush_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->flush_cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = s;
	return 0;
}

int vx_store_open(struct vx_store **out, const struct vx_store_cfg *cfg)
{
	struct vx_store *s;
	int err;

	VX_ASSERT(out);
	VX_ASSERT(cfg);
	*out = NULL;
	err = store_check_cfg(cfg);
	if (!err)
		err = store_new(cfg, &s);
	if (err)
		return err;
	err = vx__file_mkdirs(s->dir);
	if (!err)
		err = store_lock_dir(s);
	if (err)
		goto err_free;
	err = s->cfg.wipe ? store_wipe(s->dir) : 0;
	if (!err)
		err = store_make_dirs(s);
	if (!err)
		err = store_probe_direct(s);
	if (!err) {
		vx__file_cache_budget(s);
		err = vx__meta_open(s);
	}
	if (err)
		goto err_unlock;
	err = vx__meta_load(s);
	if (err)
		goto err_free_tasks;
	if (!s->load_truncated)
		store_remove_orphans(s);
	if (!s->cfg.no_flush_thread) {
		if (pthread_create(&s->flusher, NULL, store_flusher, s) != 0) {
			err = -EAGAIN;
			goto err_free_tasks;
		}
		s->flusher_running = true;
	}
	vx_debug("store: opened %s: %u tasks, direct I/O %s", s->dir, s->nr_tasks,
		 s->direct_io ? "on" : "off");
	*out = s;
	return 0;
err_free_tasks:
	store_free_tasks(s);
	vx__meta_close(s);
err_unlock:
	close(s->lock_fd);
err_free:
	store_free(s);
	return err;
}

void vx_store_close(struct vx_store *s)
{
	int err;

	if (!s)
		return;
	if (s->flusher_running) {
		pthread_mutex_lock(&s->flush_mu);
		s->flush_stop = true;
		pthread_cond_signal(&s->flush_cond);
		pthread_mutex_unlock(&s->flush_mu);
		pthread_join(s->flusher, NULL);
	}
	err = vx_store_flush(s);
	if (err)
		vx_err("store: final flush failed (%s): unpersisted pieces will be fetched again",
		       vx_strerror(err));
	store_free_tasks(s);
	vx__meta_close(s);
	close(s->lock_fd);
	store_free(s);
}

void vx_store_stats(struct vx_store *s, struct vx_store_stats *out)
{
	uint64_t usage, capacity, avail;

	memset(out, 0, sizeof(*out));
	vx__store_capacity(s, &usage, &capacity, &avail);
	out->disk_bytes = usage;
	out->disk_capacity_bytes = capacity;
	pthread_mutex_lock(&s->lock);
	out->memory_bytes = s->memory_bytes;
	out->memory_budget_bytes = s->cfg.memory_budget_bytes;
	out->tier_bytes = s->tier_bytes;
	out->tier_tasks = s->tier_tasks;
	out->tier_loads = s->tier_loads;
	out->tier_evictions = s->tier_evictions;
	out->reads_memory = atomic_load_explicit(&s->reads_memory, memory_order_relaxed);
	out->reads_disk = atomic_load_explicit(&s->reads_disk, memory_order_relaxed);
	out->tasks = s->nr_tasks;
	out->open_files = s->open_files;
	out->commits = s->commits;
	out->pieces_persisted = s->pieces_persisted;
	out->syncs = s->syncs;
	pthread_mutex_unlock(&s->lock);
	out->direct_io = s->direct_io;
	out->direct_align = s->align;
}

uint32_t vx_store_direct_align(const struct vx_store *s)
{
	return s->align;
}

void *vx_store_buf_alloc(const struct vx_store *s, size_t len)
{
	size_t align = VX_MAX((size_t)s->align, (size_t)4096);

	return vx_aligned_alloc(align, VX_ALIGN_UP(len, align));
}

void vx_store_buf_free(void *buf)
{
	vx_free(buf);
}
