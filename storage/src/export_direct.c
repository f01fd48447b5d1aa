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
#include <unistd.h>

#include "vx_alloc.h"

/* One read and one write per chunk: large enough to keep the device streaming, and the only
 * memory the export holds. */
#define EXPORT_DIRECT_CHUNK (4u << 20)

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

		if (vx_fault_hit(VX_FAULT_IO))
			return -EIO;
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

int vx__file_copy_direct(int src_direct, int dst, uint64_t len, uint32_t align)
{
	uint64_t done = 0;
	uint8_t *buf;
	int err;

	if (src_direct < 0 || !align || EXPORT_DIRECT_CHUNK % align)
		return -EINVAL;
	err = set_direct(dst, true);
	if (err)
		return err;
	buf = vx_aligned_alloc(align, EXPORT_DIRECT_CHUNK);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	/* one allocation up front, as fio --fallocate=native: the writes then only convert
	 * unwritten extents instead of allocating and growing the file each time */
	if (len && fallocate(dst, 0, 0, (off_t)len) == -1 && errno != EOPNOTSUPP) {
		err = -errno;
		goto out;
	}
	while (done < len) {
		size_t want = (size_t)VX_MIN(len - done, (uint64_t)EXPORT_DIRECT_CHUNK);
		size_t whole;
		ssize_t r;

		r = read_chunk(src_direct, buf, VX_ALIGN_UP(want, (size_t)align), done, align);
		if (r < 0) {
			err = (int)r;
			break;
		}
		if ((size_t)r < want) {
			err = -EIO; /* the content file is shorter than the task */
			break;
		}
		whole = want & ~((size_t)align - 1);
		if (whole) {
			r = vx__file_pwrite_all(dst, buf, whole, done);
			if (r < 0) {
				err = (int)r;
				break;
			}
		}
		if (whole < want) {
			/* the tail shorter than one block: through the page cache */
			err = set_direct(dst, false);
			if (!err) {
				r = vx__file_pwrite_all(dst, buf + whole, want - whole,
							done + whole);
				err = r < 0 ? (int)r : 0;
			}
			if (err)
				break;
		}
		done += want;
	}
out:
	vx_free(buf);
	if (set_direct(dst, false) && !err)
		err = -EIO;
	return err;
}
