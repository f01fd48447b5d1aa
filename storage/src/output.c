/* SPDX-License-Identifier: Apache-2.0 */
/*
 * output.c: a download's output written while the pieces arrive (issue 19 goal 4; see
 * vx_store.h, "An output written during the download"). Without it every byte was written to
 * the store, read back and written again by the export after the download: on a filesystem
 * without reflinks that serial second pass cost as much as the download. Here the fetcher
 * writes each chunk to the store and then, from the same buffer, to this file; the export only
 * copies what did not arrive so (pieces the store had before, pieces fetched from the origin,
 * the short tail an O_DIRECT file cannot take), syncs and renames.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_log.h"

#define OUTPUT_COPY_CHUNK (1u << 20)

struct vx_store_output {
	atomic_uint refs;
	atomic_bool attached, placed;
	int dirfd, fd;
	bool direct;
	uint32_t align;
	uint32_t piece_count;
	_Atomic uint8_t *done; /* bit n: piece n is in the file */
	atomic_uint nr_done;
	char name[NAME_MAX + 1];
	char tmp[NAME_MAX + 1];
};

int vx_store_output_open(int dirfd, const char *name, struct vx_store_output **out)
{
	struct vx_store_output *o;

	*out = NULL;
	if (!vx_store_export_name_ok(name))
		return -EINVAL;
	o = vx_calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	atomic_init(&o->refs, 1);
	snprintf(o->name, sizeof(o->name), "%s", name);
	o->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	if (o->dirfd < 0) {
		int err = -errno;

		vx_free(o);
		return err;
	}
	o->fd = vx__export_tmp_open(dirfd, name, o->tmp, sizeof(o->tmp));
	if (o->fd < 0) {
		int err = o->fd;

		close(o->dirfd);
		vx_free(o);
		return err;
	}
	*out = o;
	return 0;
}

struct vx_store_output *vx_store_output_ref(struct vx_store_output *o)
{
	atomic_fetch_add(&o->refs, 1);
	return o;
}

void vx_store_output_unref(struct vx_store_output *o)
{
	if (!o || atomic_fetch_sub(&o->refs, 1) != 1)
		return;
	close(o->fd);
	if (!atomic_load(&o->placed))
		unlinkat(o->dirfd, o->tmp, 0);
	close(o->dirfd);
	vx_free((void *)o->done);
	vx_free(o);
}

int vx_store_output_attach(struct vx_store_output *o, struct vx_store_task *t)
{
	int fl;

	if (atomic_load(&o->attached))
		return -EBUSY;
	if (t->kind == VX_STORE_KIND_MEMORY || !t->piece_count)
		return -EINVAL;
	/*
	 * Where the filesystem shares extents between the store's file and the output (XFS,
	 * btrfs), the export is a reflink: every byte is written once, by the store, and the
	 * output still is the user's own inode (copy-on-write). Writing the output during the
	 * download there would be the second write that the reflink saves. The probe clones
	 * what the store holds now and is undone at once.
	 */
	if (ioctl(o->fd, FICLONE, t->fd) == 0) {
		if (ftruncate(o->fd, 0) == -1)
			return -errno;
		vx_info("store: output %s: the filesystem reflinks it at the export", o->name);
		return 1;
	}
	o->done = vx_calloc((t->piece_count + 7) / 8, 1);
	if (!o->done)
		return -ENOMEM;
	o->piece_count = t->piece_count;
	if (fallocate(o->fd, 0, 0, (off_t)t->content_length) == -1 && errno != EOPNOTSUPP)
		return -errno;
	/* as the store's own piece writes: direct where the filesystem takes it */
	fl = fcntl(o->fd, F_GETFL);
	if (t->store->align && fl != -1 && fcntl(o->fd, F_SETFL, fl | O_DIRECT) == 0) {
		o->direct = true;
		o->align = t->store->align;
	}
	atomic_store(&o->attached, true);
	return 0;
}

int vx_store_output_fd(const struct vx_store_output *o, bool *direct, uint32_t *align)
{
	*direct = o->direct;
	*align = o->align;
	return o->fd;
}

void vx_store_output_piece_done(struct vx_store_output *o, uint32_t n)
{
	uint8_t bit = (uint8_t)(1u << (n % 8));

	if (n >= o->piece_count)
		return;
	if (!(atomic_fetch_or(&o->done[n / 8], bit) & bit))
		atomic_fetch_add(&o->nr_done, 1);
}

static bool output_has(struct vx_store_output *o, uint32_t n)
{
	return atomic_load(&o->done[n / 8]) & (1u << (n % 8));
}

/* Copies the pieces of @t not in @o (buffered: they are few, the tail among them). */
static int output_fill(struct vx_store_task *t, struct vx_store_output *o)
{
	uint8_t *buf = NULL;
	int err = 0;

	for (uint32_t n = 0; n < t->piece_count && !err; n++) {
		uint64_t off = (uint64_t)n * t->piece_length;
		uint64_t end = VX_MIN(off + t->piece_length, t->content_length);

		if (output_has(o, n))
			continue;
		if (!buf) {
			/* mmap, not the heap: see export_direct.c */
			buf = mmap(NULL, OUTPUT_COPY_CHUNK, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (buf == MAP_FAILED)
				return -ENOMEM;
		}
		while (off < end && !err) {
			size_t len = (size_t)VX_MIN(end - off, (uint64_t)OUTPUT_COPY_CHUNK);
			ssize_t r = vx__file_pread_all(t->fd, buf, len, off);

			if (r >= 0 && (size_t)r != len)
				r = -EIO;
			if (r >= 0)
				r = vx__file_pwrite_all(o->fd, buf, len, off);
			if (r < 0)
				err = (int)r;
			off += len;
		}
	}
	if (buf)
		munmap(buf, OUTPUT_COPY_CHUNK);
	return err;
}

int vx_store_task_export_output(struct vx_store_task *t, struct vx_store_output *o,
				unsigned int flags)
{
	bool complete;
	int fl, err;

	pthread_mutex_lock(&t->lock);
	complete = t->state == VX_STORE_TASK_COMPLETE;
	pthread_mutex_unlock(&t->lock);
	if (!complete)
		return -EAGAIN;
	if (atomic_load(&o->placed))
		return -EALREADY;
	if (t->kind != VX_STORE_KIND_MEMORY && vx__task_datasync(t))
		return -EIO; /* the store's copy is durable before the user's, as an export */
	/* what is left is written through the cache (parts of blocks among it) */
	fl = fcntl(o->fd, F_GETFL);
	if (fl == -1 || fcntl(o->fd, F_SETFL, fl & ~O_DIRECT) == -1)
		return -errno;
	if (atomic_load(&o->attached))
		vx_info("store: output %s: %u of %u pieces written during the download", o->name,
			atomic_load(&o->nr_done), t->piece_count);
	if (atomic_load(&o->attached) && o->piece_count == t->piece_count &&
	    atomic_load(&o->nr_done) > 0) {
		err = output_fill(t, o);
		if (!err && ftruncate(o->fd, (off_t)t->content_length) == -1)
			err = -errno;
	} else {
		/* nothing arrived through it: a whole copy (or a reflink) as an export */
		err = ftruncate(o->fd, 0) == -1 ? -errno : vx__export_clone_or_copy(t, o->fd);
	}
	if (!err && fsync(o->fd) == -1)
		err = -errno;
	if (!err && fchmod(o->fd, 0644) == -1)
		err = -errno;
	if (!err)
		err = vx__export_place(o->dirfd, o->tmp, o->name, flags);
	else
		unlinkat(o->dirfd, o->tmp, 0); /* with the caller's rights, as it was made */
	/* placed or not, the temporary name is gone (export_place unlinks it on failure) */
	atomic_store(&o->placed, true);
	return err;
}
