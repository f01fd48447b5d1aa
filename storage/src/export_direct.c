/* SPDX-License-Identifier: Apache-2.0 */
/*
 * export_direct.c: the copy of a finished task into its export file with direct I/O (issue 19
 * goal 4). A buffered copy (copy_file_range) moves every byte through the page cache of the
 * output: on the hosts we measured, that memcpy into fresh page-cache pages was the download
 * path's largest cost (3/4 of the receiving daemon's CPU, a 1 GiB export taking longer than
 * the download), and it leaves a second copy of the content in memory. Here the content is
 * read with O_DIRECT into one aligned buffer and written with O_DIRECT, so neither file's pages
 * are cached and no byte is copied by the CPU; only the tail shorter than the alignment is
 * written through the page cache. Where either file cannot do direct I/O the caller copies.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

/* One read and one write per chunk: large enough to keep the device streaming. Two chunks, so
 * a reader thread fills one while the caller writes the other: the export takes the longer of
 * the reads and the writes, not their sum. They are all the memory the export holds. */
#define EXPORT_DIRECT_CHUNK (4u << 20)
#define EXPORT_DIRECT_BUFS  2u

/* Sets or clears O_DIRECT on @fd. Returns 0 or -errno (EINVAL: the filesystem cannot). */
static int set_direct(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1)
		return -errno;
	fl = on ? fl | O_DIRECT : fl & ~O_DIRECT;
	return fcntl(fd, F_SETFL, fl) == -1 ? -errno : 0;
}

/* Reads up to @len bytes at @off (aligned) until @len or the end of the file. */
static ssize_t read_chunk(int fd, uint8_t *buf, size_t len, uint64_t off, size_t align)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r;

		/* no vx_fault_hit() here: its countdown is not thread-safe and the writer's
		 * pwrites hit it (faults reach the export there) */
		r = pread(fd, buf + done, len - done, (off_t)(off + done));
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
		if (!VX_IS_ALIGNED(done, align))
			break; /* the end of the file (a short read elsewhere: the caller sees it) */
	}
	return (ssize_t)done;
}

/* The reader thread and the writer share one of these. */
struct xd {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int src;
	uint64_t len;
	size_t align;
	uint8_t *buf[EXPORT_DIRECT_BUFS];
	ssize_t got[EXPORT_DIRECT_BUFS]; /* bytes read, -errno; meaningful when full */
	bool full[EXPORT_DIRECT_BUFS];
	bool stop; /* the writer gave up: the reader ends */
};

/* Reads chunk after chunk into the free buffer, in order. */
static void *xd_reader(void *arg)
{
	struct xd *x = arg;
	uint64_t off = 0;

	for (uint32_t k = 0; off < x->len; k++) {
		uint32_t b = k % EXPORT_DIRECT_BUFS;
		size_t want = (size_t)VX_MIN(x->len - off, (uint64_t)EXPORT_DIRECT_CHUNK);
		ssize_t r;

		bool stop;

		pthread_mutex_lock(&x->mu);
		while (x->full[b] && !x->stop)
			pthread_cond_wait(&x->cv, &x->mu);
		stop = x->stop;
		pthread_mutex_unlock(&x->mu);
		if (stop)
			break;
		r = read_chunk(x->src, x->buf[b], VX_ALIGN_UP(want, x->align), off, x->align);
		if (r >= 0 && (size_t)r < want)
			r = -EIO; /* the content file is shorter than the task */
		pthread_mutex_lock(&x->mu);
		x->got[b] = r < 0 ? r : (ssize_t)want;
		x->full[b] = true;
		pthread_cond_broadcast(&x->cv);
		pthread_mutex_unlock(&x->mu);
		if (r < 0)
			break;
		off += want;
	}
	return NULL;
}

/* Writes @want bytes of @buf at @off: the aligned part direct, a tail through the cache. */
static int write_chunk(int dst, const uint8_t *buf, size_t want, uint64_t off, size_t align)
{
	size_t whole = want & ~(align - 1);
	ssize_t r;
	int err;

	if (whole) {
		r = vx__file_pwrite_all(dst, buf, whole, off);
		if (r < 0)
			return (int)r;
	}
	if (whole == want)
		return 0;
	err = set_direct(dst, false); /* O_DIRECT cannot write part of a block */
	if (err)
		return err;
	r = vx__file_pwrite_all(dst, buf + whole, want - whole, off + whole);
	return r < 0 ? (int)r : 0;
}

static int xd_copy(struct xd *x, int dst)
{
	pthread_t th;
	uint64_t off = 0;
	int err = 0;

	if (pthread_create(&th, NULL, xd_reader, x))
		return -EAGAIN;
	for (uint32_t k = 0; off < x->len && !err; k++) {
		uint32_t b = k % EXPORT_DIRECT_BUFS;
		ssize_t got;

		pthread_mutex_lock(&x->mu);
		while (!x->full[b])
			pthread_cond_wait(&x->cv, &x->mu);
		got = x->got[b];
		pthread_mutex_unlock(&x->mu);
		if (got < 0)
			err = (int)got;
		else
			err = write_chunk(dst, x->buf[b], (size_t)got, off, x->align);
		off += got > 0 ? (uint64_t)got : 0;
		pthread_mutex_lock(&x->mu);
		x->full[b] = false;
		if (err)
			x->stop = true;
		pthread_cond_broadcast(&x->cv);
		pthread_mutex_unlock(&x->mu);
	}
	pthread_join(th, NULL);
	return err;
}

int vx__file_copy_direct(int src_direct, int dst, uint64_t len, uint32_t align)
{
	struct xd x = { .src = src_direct, .len = len, .align = align };
	const size_t bytes = (size_t)EXPORT_DIRECT_BUFS * EXPORT_DIRECT_CHUNK;
	void *mem;
	int err;

	/* mmap's memory is page aligned: enough for any alignment up to a page */
	if (src_direct < 0 || !align || align > (uint32_t)sysconf(_SC_PAGESIZE) ||
	    EXPORT_DIRECT_CHUNK % align)
		return -EINVAL;
	err = set_direct(dst, true);
	if (err)
		return err;
	/* one allocation up front, as fio --fallocate=native: the writes then only convert
	 * unwritten extents instead of allocating and growing the file each time */
	if (len && fallocate(dst, 0, 0, (off_t)len) == -1 && errno != EOPNOTSUPP) {
		err = -errno;
		goto out;
	}
	/* mmap, not the heap: freed, a malloc'd 8 MiB stays in the daemon's RSS (glibc raises its
	 * mmap threshold after the first large free and keeps such blocks in the heap) */
	mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t b = 0; b < EXPORT_DIRECT_BUFS; b++)
		x.buf[b] = (uint8_t *)mem + (size_t)b * EXPORT_DIRECT_CHUNK;
	if (len) {
		pthread_mutex_init(&x.mu, NULL);
		pthread_cond_init(&x.cv, NULL);
		err = xd_copy(&x, dst);
		pthread_cond_destroy(&x.cv);
		pthread_mutex_destroy(&x.mu);
	}
	munmap(mem, bytes);
out:
	if (set_direct(dst, false) && !err)
		err = -EIO;
	return err;
}
