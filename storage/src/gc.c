/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gc.c: garbage collection of the piece store (TTL, high/low watermarks with LRU eviction,
 * page-cache drop, closing idle files), room-making at admission, export of a finished task to
 * a user path (reflink or copy into a temporary file renamed into place; a hard link only when
 * asked), and import of a local file as a task (dfcache import).
 * Everything here runs under s->db_lock, which also keeps tasks from being freed meanwhile;
 * the fd cache (file.c) may close an unreferenced task's file at any acquire, so code here
 * that uses such a file pins it with a flush ref first.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_digest.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_metrics.h"

static int gc_cmp_access(const void *a, const void *b)
{
	const struct vx_store_task *ta = *(struct vx_store_task *const *)a;
	const struct vx_store_task *tb = *(struct vx_store_task *const *)b;

	if (ta->lru_s != tb->lru_s)
		return ta->lru_s < tb->lru_s ? -1 : 1;
	return memcmp(ta->id, tb->id, VX_TASK_ID_LEN);
}

/* @since + @ttl_s <= @now, without overflow (a huge TTL never expires). */
static bool gc_passed(int64_t since, uint64_t ttl_s, int64_t now)
{
	int64_t end;

	if (ttl_s > (uint64_t)INT64_MAX || __builtin_add_overflow(since, (int64_t)ttl_s, &end))
		return false;
	return end <= now;
}

static bool gc_pinned(const struct vx_store_task *t, int64_t now)
{
	return t->kind == VX_STORE_KIND_PERSISTENT_CACHE && !gc_passed(t->created_s, t->ttl_s, now);
}

static bool gc_expired(const struct vx_store *s, const struct vx_store_task *t, int64_t now)
{
	if (t->kind == VX_STORE_KIND_PERSISTENT_CACHE)
		return gc_passed(t->created_s, t->ttl_s, now);
	return gc_passed(t->access_s, __atomic_load_n(&s->cfg.task_ttl_s, __ATOMIC_RELAXED), now);
}

/*
 * Removes @t if nothing holds it. db_lock held. Returns the bytes freed (content length for
 * memory tasks), 0 when it was in use, or a negative error.
 */
static int64_t gc_evict(struct vx_store *s, struct vx_store_task *t)
{
	uint64_t bytes;
	int err;

	pthread_mutex_lock(&s->lock);
	if (vx__task_total_refs(t) > 0 || t->removing) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	bytes = t->kind == VX_STORE_KIND_MEMORY ? t->content_length : t->disk_bytes;
	t->removing = true;
	vx__store_unhash(s, t);
	pthread_mutex_unlock(&s->lock);
	vx_info("store: evicting task %.12s (%llu bytes)", t->id, (unsigned long long)bytes);
	err = vx__task_unlink_and_free(t);
	if (err)
		return err;
	return (int64_t)VX_MIN(bytes, (uint64_t)INT64_MAX);
}

/* Fills s->scratch with the tasks of the class (memory or disk), oldest access first. */
static uint32_t gc_collect(struct vx_store *s, bool memory)
{
	struct vx_list *pos;
	uint32_t nr = 0;

	pthread_mutex_lock(&s->lock);
	vx_list_for_each(pos, &s->tasks) {
		struct vx_store_task *t = vx_list_entry(pos, struct vx_store_task, all_link);

		if ((t->kind == VX_STORE_KIND_MEMORY) == memory && nr < s->cfg.max_tasks) {
			t->lru_s = t->access_s; /* sorted after the unlock */
			s->scratch[nr++] = t;
		}
	}
	pthread_mutex_unlock(&s->lock);
	qsort(s->scratch, nr, sizeof(*s->scratch), gc_cmp_access);
	return nr;
}

static bool gc_fits(struct vx_store *s, uint64_t need, bool memory)
{
	uint64_t usage, capacity, avail;
	bool fits;

	if (memory) {
		pthread_mutex_lock(&s->lock);
		fits = vx__memtier_used(s) + need <= s->cfg.memory_budget_bytes;
		pthread_mutex_unlock(&s->lock);
		return fits;
	}
	vx__store_capacity(s, &usage, &capacity, &avail);
	return need <= avail && usage <= capacity && need <= capacity - usage;
}

/*
 * Evicts idle, unpinned tasks of one class (memory or disk), least recently used first, until
 * @need bytes fit. db_lock held. Returns 0 when they fit, -ENOSPC otherwise.
 */
int vx__gc_make_room(struct vx_store *s, uint64_t need, bool memory)
{
	int64_t now = vx__store_now(s);
	uint32_t nr = gc_collect(s, memory);

	for (uint32_t i = 0; i < nr; i++) {
		struct vx_store_task *t = s->scratch[i];

		if (gc_fits(s, need, memory))
			return 0;
		if (gc_pinned(t, now))
			continue;
		if (gc_evict(s, t) < 0)
			return -ENOSPC;
	}
	return gc_fits(s, need, memory) ? 0 : -ENOSPC;
}

/* Step 1: TTL. */
static int gc_expire(struct vx_store *s, int64_t now, struct vx_store_gc_report *r)
{
	uint32_t nr = 0;
	struct vx_list *pos;

	pthread_mutex_lock(&s->lock);
	vx_list_for_each(pos, &s->tasks) {
		struct vx_store_task *t = vx_list_entry(pos, struct vx_store_task, all_link);

		if (!gc_expired(s, t, now))
			continue;
		if (vx__task_total_refs(t) > 0)
			r->skipped_in_use++;
		else if (nr < s->cfg.max_tasks)
			s->scratch[nr++] = t;
	}
	pthread_mutex_unlock(&s->lock);
	for (uint32_t i = 0; i < nr; i++) {
		int64_t freed = gc_evict(s, s->scratch[i]);

		if (freed < 0)
			return (int)freed;
		r->expired++;
		r->freed_bytes += (uint64_t)freed;
	}
	return 0;
}

int vx_store_set_gc(struct vx_store *s, uint32_t high_pct, uint32_t low_pct, uint64_t task_ttl_s,
		    uint32_t interval_s)
{
	uint32_t high =
		high_pct ? high_pct : __atomic_load_n(&s->cfg.gc_high_pct, __ATOMIC_RELAXED);
	uint32_t low = low_pct ? low_pct : __atomic_load_n(&s->cfg.gc_low_pct, __ATOMIC_RELAXED);

	if (high > 100 || low >= high)
		return -EINVAL;
	__atomic_store_n(&s->cfg.gc_high_pct, high, __ATOMIC_RELAXED);
	__atomic_store_n(&s->cfg.gc_low_pct, low, __ATOMIC_RELAXED);
	if (task_ttl_s)
		__atomic_store_n(&s->cfg.task_ttl_s, task_ttl_s, __ATOMIC_RELAXED);
	if (interval_s)
		__atomic_store_n(&s->cfg.gc_interval_s, interval_s, __ATOMIC_RELAXED);
	return 0;
}

/* Step 2: watermarks, LRU. */
static int gc_pressure(struct vx_store *s, int64_t now, struct vx_store_gc_report *r)
{
	/* vx_store_set_gc() may change them from another thread */
	uint32_t high = __atomic_load_n(&s->cfg.gc_high_pct, __ATOMIC_RELAXED);
	uint32_t low = __atomic_load_n(&s->cfg.gc_low_pct, __ATOMIC_RELAXED);
	uint64_t usage, capacity, avail, target;
	uint32_t nr;

	vx__store_capacity(s, &usage, &capacity, &avail);
	if (capacity == 0 || capacity == UINT64_MAX)
		return 0;
	if (usage * 100 < (uint64_t)high * capacity)
		return 0;
	target = capacity / 100 * low + capacity % 100 * low / 100;
	vx_info("store: usage %llu of %llu bytes is above %u%%: evicting down to %u%%",
		(unsigned long long)usage, (unsigned long long)capacity, high, low);
	nr = gc_collect(s, false);
	for (uint32_t i = 0; i < nr && usage > target; i++) {
		struct vx_store_task *t = s->scratch[i];
		uint32_t refs;
		int64_t freed;

		pthread_mutex_lock(&s->lock);
		refs = vx__task_total_refs(t);
		pthread_mutex_unlock(&s->lock);
		if (refs > 0) {
			r->skipped_in_use++;
			continue;
		}
		if (gc_pinned(t, now)) {
			r->skipped_pinned++;
			continue;
		}
		freed = gc_evict(s, t);
		if (freed < 0)
			return (int)freed;
		r->evicted++;
		r->freed_bytes += (uint64_t)freed;
		usage = usage > (uint64_t)freed ? usage - (uint64_t)freed : 0;
	}
	return 0;
}

/* Step 3: page cache of idle complete tasks; step 4: idle files beyond the open-file cap. */
static void gc_idle(struct vx_store *s, int64_t now, struct vx_store_gc_report *r)
{
	uint32_t nr = gc_collect(s, false), open_files;

	for (uint32_t i = 0; i < nr; i++) {
		struct vx_store_task *t = s->scratch[i];
		char path[PATH_MAX];
		bool drop, own;
		int fd;

		pthread_mutex_lock(&s->lock);
		drop = !t->cache_dropped && vx__task_total_refs(t) == 0 &&
		       gc_passed(t->access_s, s->cfg.page_cache_idle_s, now) &&
		       atomic_load(&t->finished_count) > 0;
		fd = t->fd;
		own = fd == -1;
		if (drop && !own)
			t->flush_refs++; /* the fd cache must not close @fd meanwhile */
		pthread_mutex_unlock(&s->lock);
		if (!drop)
			continue;
		if (own) {
			if (vx__store_content_path(s, t->kind, t->id, path, sizeof(path)))
				continue;
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd == -1)
				continue;
		}
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		if (own)
			close(fd);
		pthread_mutex_lock(&s->lock);
		if (!own) {
			t->flush_refs--;
			if (!t->on_idle)
				vx__file_idle_update(t);
		}
		t->cache_dropped = true;
		pthread_mutex_unlock(&s->lock);
		r->dropped_cache++;
	}
	pthread_mutex_lock(&s->lock);
	open_files = s->open_files;
	for (uint32_t i = 0; i < nr && open_files > s->max_files; i++) {
		struct vx_store_task *t = s->scratch[i];

		bool pending;

		if (t->fd == -1 || vx__task_total_refs(t) > 0 || t->kind == VX_STORE_KIND_MEMORY)
			continue;
		/* The flusher needs the fd of a task with pieces not yet durable. */
		pthread_mutex_lock(&t->lock);
		pending = t->durable_count != atomic_load(&t->finished_count);
		pthread_mutex_unlock(&t->lock);
		if (pending)
			continue;
		vx__file_close_task(t);
		open_files--;
	}
	pthread_mutex_unlock(&s->lock);
}

int vx_store_gc(struct vx_store *s, struct vx_store_gc_report *report)
{
	struct vx_store_gc_report r;
	uint64_t capacity, avail;
	int64_t now;
	int err;

	VX_ASSERT(s);
	memset(&r, 0, sizeof(r));
	pthread_mutex_lock(&s->db_lock);
	now = vx__store_now(s);
	vx__store_capacity(s, &r.usage_before, &capacity, &avail);
	err = gc_expire(s, now, &r);
	if (!err)
		err = gc_pressure(s, now, &r);
	if (!err)
		gc_idle(s, now, &r);
	vx__store_capacity(s, &r.usage_after, &capacity, &avail);
	pthread_mutex_unlock(&s->db_lock);
	vx_metric_add(&vx_m_gc_evictions, 0, (int64_t)r.evicted + (int64_t)r.expired);
	if (report)
		*report = r;
	return err;
}

/* ------------------------------------------------------------------------------------------- */
/* Export                                                                                      */

/* Copies [0, @len) of @src into @dst: copy_file_range, pread/pwrite where it cannot. */
int vx__file_copy(int src, int dst, uint64_t len)
{
	uint64_t done = 0;
	bool use_cfr = true;
	void *buf = NULL;
	int err = 0;

	while (done < len) {
		size_t n = (size_t)VX_MIN(len - done, (uint64_t)VX_STORE_IO_MAX);
		ssize_t c;

		if (vx_fault_hit(VX_FAULT_IO)) {
			err = -EIO;
			break;
		}
		if (use_cfr) {
			loff_t in = (loff_t)done, outo = (loff_t)done;

			c = copy_file_range(src, &in, dst, &outo, n, 0);
			if (c == -1 &&
			    (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
			     errno == EOPNOTSUPP) &&
			    done == 0) {
				use_cfr = false;
				continue;
			}
		} else {
			if (!buf) {
				buf = vx_malloc(1u << 20);
				if (!buf) {
					err = -ENOMEM;
					break;
				}
			}
			c = pread(src, buf, VX_MIN(n, (size_t)1u << 20), (off_t)done);
			if (c > 0)
				c = vx__file_pwrite_all(dst, buf, (size_t)c, done);
		}
		if (c == -1) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (c < 0) {
			err = (int)c;
			break;
		}
		if (c == 0) {
			err = -EIO;
			break;
		}
		done += (uint64_t)c;
	}
	vx_free(buf);
	return err;
}

/*
 * Creates a new temporary file beside @name in @dirfd: ".NAME.vx-XXXXXX" with a random suffix,
 * never following a link (O_EXCL|O_NOFOLLOW). Its name goes to @tmp. Returns the descriptor or
 * -errno.
 */
int vx__export_tmp_open(int dirfd, const char *name, char *tmp, size_t tmp_len)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";

	for (int tries = 0; tries < 16; tries++) {
		uint8_t rnd[6];
		char sfx[sizeof(rnd) + 1];
		int n, fd;

		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -EIO;
		for (size_t i = 0; i < sizeof(rnd); i++)
			sfx[i] = digits[rnd[i] % (sizeof(digits) - 1)];
		sfx[sizeof(rnd)] = '\0';
		n = snprintf(tmp, tmp_len, ".%.200s.vx-%s", name, sfx);
		if (n < 0 || (size_t)n >= tmp_len)
			return -ENAMETOOLONG;
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Puts the temporary file @tmp at @name, both in @dirfd: replacing, or never replacing. */
int vx__export_place(int dirfd, const char *tmp, const char *name, unsigned int flags)
{
	int err = 0;

	if (flags & VX_STORE_EXPORT_OVERWRITE) {
		if (renameat(dirfd, tmp, dirfd, name) == -1)
			err = -errno;
	} else if (linkat(dirfd, tmp, dirfd, name, 0) == -1) {
		/* link(2) never replaces: the no-clobber check and the placement are one step */
		err = -errno;
	}
	if (err || !(flags & VX_STORE_EXPORT_OVERWRITE))
		unlinkat(dirfd, tmp, 0);
	return err;
}

/*
 * Fills @fd with @t's content: a reflink (FICLONE) shares the blocks copy-on-write, so a user
 * writing the output never changes the store's bytes; where the filesystem cannot, a copy.
 */
int vx__export_clone_or_copy(struct vx_store_task *t, int fd)
{
	int err;

	if (t->kind != VX_STORE_KIND_MEMORY && ioctl(fd, FICLONE, t->fd) == 0)
		return 0;
	if (t->kind != VX_STORE_KIND_MEMORY && t->fd_direct >= 0) {
		/* no page cache on either side (issue 19): see export_direct.c */
		err = vx__file_copy_direct(t->fd_direct, fd, t->content_length, t->store->align);
		if (err != -EINVAL)
			return err;
	}
	return vx__file_copy(t->fd, fd, t->content_length);
}

/* Copies @t into a temporary file beside @name in @dirfd and moves it into place. */
static int export_copy(struct vx_store_task *t, int dirfd, const char *name, unsigned int flags)
{
	char tmp[NAME_MAX + 1];
	int fd, err;

	fd = vx__export_tmp_open(dirfd, name, tmp, sizeof(tmp));
	if (fd < 0)
		return fd;
	err = vx__export_clone_or_copy(t, fd);
	if (!err && fsync(fd) == -1)
		err = -errno;
	if (!err && fchmod(fd, 0644) == -1)
		err = -errno;
	close(fd);
	if (err) {
		unlinkat(dirfd, tmp, 0);
		return err;
	}
	return vx__export_place(dirfd, tmp, name, flags);
}

static bool export_link_fallback(int err)
{
	return err == -EXDEV || err == -EPERM || err == -EMLINK || err == -EOPNOTSUPP ||
	       err == -EACCES;
}

/* Hard-links @src at @name in @dirfd. Returns 0, or -errno of the link. */
static int export_link(const char *src, int dirfd, const char *name, unsigned int flags)
{
	char tmp[NAME_MAX + 1];
	int fd;

	if (!(flags & VX_STORE_EXPORT_OVERWRITE))
		return linkat(AT_FDCWD, src, dirfd, name, 0) == -1 ? -errno : 0;
	for (int tries = 0; tries < 8; tries++) {
		/* reserve a fresh name, then put the link there: linkat never follows @tmp */
		fd = vx__export_tmp_open(dirfd, name, tmp, sizeof(tmp));
		if (fd < 0)
			return fd;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		if (linkat(AT_FDCWD, src, dirfd, tmp, 0) == 0)
			return vx__export_place(dirfd, tmp, name, flags);
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

bool vx_store_export_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= NAME_MAX && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

int vx_store_task_export_at(struct vx_store_task *t, int dirfd, const char *name,
			    unsigned int flags)
{
	struct vx_store *s = t->store;
	char src[PATH_MAX];
	struct stat a, b;
	bool complete;
	int err;

	VX_ASSERT(name);
	if (!vx_store_export_name_ok(name))
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	complete = t->state == VX_STORE_TASK_COMPLETE;
	pthread_mutex_unlock(&t->lock);
	if (!complete)
		return -EAGAIN;
	if (fstat(t->fd, &a) == 0 && fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0) {
		if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return 0; /* already our file */
		if (!(flags & VX_STORE_EXPORT_OVERWRITE))
			return -EEXIST;
		if (S_ISDIR(b.st_mode))
			return -EISDIR;
	}
	if (t->kind != VX_STORE_KIND_MEMORY) {
		/* The user gets durable bytes, whatever the flusher has done so far. */
		if (vx_fault_hit(VX_FAULT_IO) || fdatasync(t->fd) == -1)
			return -EIO;
	}
	if (t->kind != VX_STORE_KIND_MEMORY && !(flags & VX_STORE_EXPORT_NO_LINK) &&
	    (flags & (VX_STORE_EXPORT_HARDLINK | VX_STORE_EXPORT_LINK_ONLY))) {
		err = vx__store_content_path(s, t->kind, t->id, src, sizeof(src));
		if (err)
			return err;
		err = export_link(src, dirfd, name, flags);
		if (!err || !export_link_fallback(err))
			return err;
		if (flags & VX_STORE_EXPORT_LINK_ONLY)
			return -EXDEV;
		vx_debug("store: cannot hard-link to %s (%s); copying", name, strerror(-err));
	} else if (flags & VX_STORE_EXPORT_LINK_ONLY) {
		return -EXDEV;
	}
	return export_copy(t, dirfd, name, flags);
}

int vx_store_open_output_dir(const char *path, const char **name)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;

	*name = slash ? slash + 1 : path;
	if (!vx_store_export_name_ok(*name))
		return -EINVAL;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) >= sizeof(dir))
		return -ENAMETOOLONG;
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd == -1 ? -errno : fd;
}

int vx_store_task_export(struct vx_store_task *t, const char *path, unsigned int flags)
{
	const char *name;
	int dirfd, err;

	VX_ASSERT(path);
	dirfd = vx_store_open_output_dir(path, &name);
	if (dirfd < 0)
		return dirfd;
	err = vx_store_task_export_at(t, dirfd, name, flags);
	close(dirfd);
	return err;
}

/* ------------------------------------------------------------------------------------------- */
/* Import                                                                                      */

/* Computes and commits every missing piece of @t from the bytes already in its file. */
static int import_pieces(struct vx_store_task *t)
{
	uint8_t *buf = NULL;
	int err = 0;

	if (t->piece_count)
		buf = vx_malloc((size_t)VX_MIN(t->piece_length, t->content_length));
	if (t->piece_count && !buf)
		return -ENOMEM;
	for (uint32_t n = 0; n < t->piece_count && !err; n++) {
		struct vx_store_piece_io io;
		struct vx_store_piece_done done = { 0 };
		ssize_t r;

		err = vx_store_piece_begin_write(t, n, &io);
		if (err == -EALREADY) {
			err = 0;
			continue;
		}
		if (err)
			break;
		r = vx__file_pread_all(io.buffered_fd, buf, (size_t)io.length, io.offset);
		if (r < 0) {
			vx_store_piece_abort(t, n, (int)r);
			err = (int)r;
			break;
		}
		done.crc32 = vx_crc32(0, buf, (size_t)io.length);
		err = vx_store_piece_commit(t, n, &done);
	}
	vx_free(buf);
	return err;
}

/* A reflink of the whole of @src into @dst where the filesystem shares extents, else a copy. */
static int import_bytes(int src, int dst, uint64_t len)
{
	if (len && ioctl(dst, FICLONE, src) == 0)
		return 0;
	return vx__file_copy(src, dst, len);
}

int vx_store_task_import_fd(struct vx_store *s, const struct vx_store_task_params *p, int src,
			    enum vx_store_use use, struct vx_store_task **out)
{
	struct vx_store_task *t = NULL;
	struct stat sb;
	bool existed;
	int err;

	VX_ASSERT(s);
	VX_ASSERT(p);
	VX_ASSERT(out);
	*out = NULL;
	if (fstat(src, &sb) == -1)
		return -errno;
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != p->content_length)
		return -EINVAL;
	existed = vx_store_task_acquire(s, p->id, VX_STORE_USE_READ, &t) == 0;
	if (existed)
		vx_store_task_release(t, VX_STORE_USE_READ);
	err = vx_store_task_open(s, p, VX_STORE_USE_DOWNLOAD, &t);
	if (err)
		return err;
	pthread_mutex_lock(&t->lock);
	err = t->state == VX_STORE_TASK_COMPLETE ? 1 : 0;
	pthread_mutex_unlock(&t->lock);
	if (err == 0) {
		err = import_bytes(src, t->fd, t->content_length);
		if (!err)
			err = import_pieces(t);
		if (!err)
			err = vx_store_flush(s);
	}
	if (err < 0) {
		char id[VX_TASK_ID_LEN + 1];

		memcpy(id, t->id, sizeof(id));
		vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
		if (!existed && vx_store_task_remove(s, id) != 0)
			vx_warn("store: could not remove the failed import %.12s", id);
		vx_err("store: importing %.12s: %s", id, vx_strerror(err));
		return err;
	}
	/* Hand the handle over under the use the caller asked for. */
	pthread_mutex_lock(&s->lock);
	t->refs[use]++;
	pthread_mutex_unlock(&s->lock);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	*out = t;
	return 0;
}

int vx_store_task_import(struct vx_store *s, const struct vx_store_task_params *p, const char *path,
			 enum vx_store_use use, struct vx_store_task **out)
{
	int src, err;

	VX_ASSERT(path);
	src = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (src == -1)
		return -errno;
	err = vx_store_task_import_fd(s, p, src, use, out);
	close(src);
	return err;
}
