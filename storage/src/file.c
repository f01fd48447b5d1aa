/* SPDX-License-Identifier: Apache-2.0 */
/*
 * file.c: content files of the piece store: the O_DIRECT probe, opening (and creating with
 * fallocate) a task's file or memfd, whole-buffer pread/pwrite capped per call, and directory
 * helpers. Every fallible I/O site can be failed on purpose with vx_fault_hit(VX_FAULT_IO).
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_log.h"

/* Alignment we ask of direct I/O: a multiple of every logical block size in use. */
#define VX_FILE_DIRECT_ALIGN 4096u

int vx__file_mkdirs(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	/* the parents exist in the common case (a task's directory): one call, not one per
	 * component (issue 19 goal 7: the per-file fixed costs) */
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST)
			return -errno;
		buf[i] = path[i];
	}
	return 0;
}

/*
 * fdatasync of @t's content outside the flush (the export's, before the user's copy): the
 * finish log entries it covers are remembered so the flush does not sync them again (a second
 * fdatasync of a clean file still costs a device cache flush on ext4: per small file, one of
 * its three syncs); none when the flush already made them all durable. Returns 0 or -EIO.
 */
int vx__task_datasync(struct vx_store_task *t)
{
	uint32_t n = atomic_load(&t->finished_count); /* those bytes were written before */
	bool durable;

	/* the other way round: the flush already synced them all before committing their rows */
	pthread_mutex_lock(&t->lock);
	durable = t->durable_count >= n;
	pthread_mutex_unlock(&t->lock);
	if (vx_fault_hit(VX_FAULT_IO) || (!durable && fdatasync(t->fd) == -1))
		return -EIO;
	pthread_mutex_lock(&t->lock);
	t->synced_count = VX_MAX(t->synced_count, n);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* Whether the first @count finish log entries of @t are on disk by vx__task_datasync(). */
bool vx__task_synced(struct vx_store_task *t, uint32_t count)
{
	bool synced;

	pthread_mutex_lock(&t->lock);
	synced = t->synced_count >= count;
	pthread_mutex_unlock(&t->lock);
	return synced;
}

int vx__file_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = 0;

	if (fd == -1)
		return -errno;
	if (fsync(fd) == -1)
		err = -errno;
	close(fd);
	return err;
}

int vx__file_probe_direct(const char *dir, uint32_t *align)
{
	char path[PATH_MAX];
	void *buf = NULL;
	int fd, dfd, err = 0;

	if (snprintf(path, sizeof(path), "%s/tmp/.direct-probe-XXXXXX", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd == -1)
		return -errno;
	close(fd);
	dfd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (dfd == -1) {
		err = -errno;
		goto err_unlink;
	}
	buf = vx_aligned_alloc(VX_FILE_DIRECT_ALIGN, VX_FILE_DIRECT_ALIGN);
	if (!buf) {
		err = -ENOMEM;
		goto err_close;
	}
	memset(buf, 0, VX_FILE_DIRECT_ALIGN);
	if (pwrite(dfd, buf, VX_FILE_DIRECT_ALIGN, 0) == -1) {
		err = -errno;
		goto err_free;
	}
	*align = VX_FILE_DIRECT_ALIGN;
err_free:
	vx_free(buf);
err_close:
	close(dfd);
err_unlink:
	unlink(path);
	return err;
}

ssize_t vx__file_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	size_t done = 0;

	while (done < len) {
		size_t n = VX_MIN(len - done, (size_t)VX_STORE_IO_MAX);
		ssize_t w;

		if (vx_fault_hit(VX_FAULT_IO))
			return -EIO;
		w = pwrite(fd, p + done, n, (off_t)(off + done));
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		done += (size_t)w;
	}
	return (ssize_t)done;
}

ssize_t vx__file_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	size_t done = 0;

	while (done < len) {
		size_t n = VX_MIN(len - done, (size_t)VX_STORE_IO_MAX);
		ssize_t r;

		if (vx_fault_hit(VX_FAULT_IO))
			return -EIO;
		r = pread(fd, p + done, n, (off_t)(off + done));
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO; /* the file is shorter than its metadata says */
		done += (size_t)r;
	}
	return (ssize_t)done;
}

/* Reserves the content length: fallocate, or a sparse ftruncate where that is unsupported. */
static int file_reserve(struct vx_store_task *t, int fd)
{
	struct vx_store *s = t->store;

	if (t->content_length == 0)
		return 0;
	if (vx_fault_hit(VX_FAULT_IO))
		return -ENOSPC;
	if (!s->cfg.no_preallocate) {
		if (fallocate(fd, 0, 0, (off_t)t->content_length) == 0)
			return 0;
		if (errno != EOPNOTSUPP && errno != ENOSYS)
			return -errno;
	}
	if (ftruncate(fd, (off_t)t->content_length) == -1)
		return -errno;
	return 0;
}

static int file_open_memory(struct vx_store_task *t)
{
	int fd, err;

	fd = memfd_create(t->id, MFD_CLOEXEC);
	if (fd == -1)
		return -errno;
	if (ftruncate(fd, (off_t)t->content_length) == -1) {
		err = -errno;
		goto err_close;
	}
	/* Reserve the pages now, so a full memory fails admission, not a later write. */
	err = file_reserve(t, fd);
	if (err)
		goto err_close;
	t->fd = fd;
	return 0;
err_close:
	close(fd);
	return err;
}

static int file_map(struct vx_store_task *t)
{
	void *map;

	if (t->content_length == 0 || t->content_length > SIZE_MAX)
		return 0;
	map = mmap(NULL, (size_t)t->content_length, PROT_READ, MAP_SHARED, t->fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	t->map = map;
	return 0;
}

/*
 * Opens @t's content: creates and reserves it when @create, else opens the existing file.
 * Caller holds s->lock (or owns @t exclusively). On failure @t has no fd and, when @create,
 * no file.
 */
int vx__file_open_task(struct vx_store_task *t, bool create)
{
	struct vx_store *s = t->store;
	char path[PATH_MAX];
	int flags = O_RDWR | O_CLOEXEC;
	int err;

	VX_ASSERT(t->fd == -1);
	if (vx_fault_hit(VX_FAULT_IO))
		return -EIO;
	if (t->kind == VX_STORE_KIND_MEMORY) {
		VX_ASSERT(create);
		err = file_open_memory(t);
		if (err)
			return err;
		goto map;
	}
	err = vx__store_content_path(s, t->kind, t->id, path, sizeof(path));
	if (err)
		return err;
	if (create) {
		char *slash = strrchr(path, '/');

		*slash = '\0';
		err = vx__file_mkdirs(path);
		*slash = '/';
		if (err)
			return err;
		flags |= O_CREAT | O_TRUNC;
	}
	t->fd = open(path, flags, 0644);
	if (t->fd == -1)
		return -errno;
	if (create) {
		err = file_reserve(t, t->fd);
		if (err)
			goto err_close;
	}
	if (s->direct_io) {
		t->fd_direct = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
		if (t->fd_direct == -1) {
			err = -errno;
			goto err_close;
		}
	}
map:
	/* Without a mapping, readers use the fd (piece refs then carry data = NULL). */
	err = file_map(t);
	if (err)
		vx_warn("store: task %.12s: mmap: %s; serving through the fd only", t->id,
			strerror(-err));
	s->open_files++;
	return 0;
err_close:
	close(t->fd);
	t->fd = -1;
	if (create && t->kind != VX_STORE_KIND_MEMORY)
		unlink(path);
	return err;
}

/* Closes @t's fds and mapping. Caller holds s->lock (or owns @t exclusively). */
void vx__file_close_task(struct vx_store_task *t)
{
	if (t->fd == -1)
		return;
	if (t->map)
		munmap(t->map, (size_t)t->content_length);
	t->map = NULL;
	if (t->fd_direct != -1)
		close(t->fd_direct);
	t->fd_direct = -1;
	close(t->fd);
	t->fd = -1;
	t->store->open_files--;
	vx__file_idle_update(t);
}

/*
 * The fd cache (issue 18: every stored task used to keep its fds for good, so a daemon with
 * the common 1,024 limit failed every download after ~500 tasks). At most s->max_files content
 * files are open: the configured cap, and never more than half of RLIMIT_NOFILE (each file is
 * one fd, two with O_DIRECT), the rest left to sockets, sqlite and exports. Idle files are
 * closed least recently released first and reopened on demand by the next acquire.
 */
void vx__file_cache_budget(struct vx_store *s)
{
	uint64_t per = s->direct_io ? 2 : 1, budget = UINT32_MAX;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		budget = (uint64_t)rl.rlim_cur / 2 / per;
	budget = VX_MAX(budget, (uint64_t)8);
	s->max_files = (uint32_t)VX_MIN(budget, (uint64_t)s->cfg.max_open_files);
}

/* Puts @t on s->idle when open, unreferenced and on disk, else takes it off. s->lock held. */
void vx__file_idle_update(struct vx_store_task *t)
{
	struct vx_store *s = t->store;
	bool idle = t->fd != -1 && t->kind != VX_STORE_KIND_MEMORY && !t->removing &&
		    vx__task_total_refs(t) == 0;

	if (t->on_idle) {
		vx_list_del(&t->idle_link);
		t->on_idle = false;
	}
	if (idle) {
		vx_list_add_tail(&s->idle, &t->idle_link);
		t->on_idle = true;
	}
}

/*
 * Closes idle files, oldest first, until one more may be opened within s->max_files. A task
 * whose finished pieces are not durable yet keeps its fd for the flusher. s->lock held.
 */
void vx__file_make_room(struct vx_store *s)
{
	struct vx_list *pos = s->idle.next;

	while (s->open_files >= s->max_files && pos != &s->idle) {
		struct vx_store_task *t = vx_container_of(pos, struct vx_store_task, idle_link);
		bool pending;

		pos = pos->next;
		if (vx__task_total_refs(t) > 0)
			continue;
		pthread_mutex_lock(&t->lock);
		pending = t->durable_count != atomic_load(&t->finished_count);
		pthread_mutex_unlock(&t->lock);
		if (!pending)
			vx__file_close_task(t);
	}
}
