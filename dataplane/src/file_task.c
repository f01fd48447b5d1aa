/* SPDX-License-Identifier: Apache-2.0 */
/*
 * file_task.c: a task over one plain file (see vx_file_task.h). Seeding reads the file once
 * to compute piece CRCs; afterwards nothing here does I/O except open/close.
 */
#include "vx_file_task.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dataplane_int.h"
#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_bitmap.h"
#include "vx_digest.h"
#include "vx_piece_plan.h"
#include "vx_task_id.h"
#include "vx_time.h"

#define VX_FILE_TASK_ALIGN 4096

struct vx_file_task {
	int fd;
	int direct_fd; /* -1 when O_DIRECT is off or refused */
	char task_id[VX_TASK_ID_LEN];
	char parent_id[VX_UPLOAD_PARENT_ID_MAX + 1];
	uint64_t content_length;
	uint64_t piece_length;
	uint32_t piece_count;
	uint32_t lent;
	const uint8_t *map; /* read-only mapping of a seeded file, or NULL */
	uint8_t *finished;  /* one byte per piece: 0 missing, 1 finished, 2 being written */
	uint32_t *crc;
	int64_t *created_s;
};

static uint64_t piece_len(const struct vx_file_task *t, uint32_t n)
{
	return vx_piece_size(n, t->content_length, t->piece_length);
}

static int seed_crcs(struct vx_file_task *t)
{
	size_t bufsz = 1u << 20;
	uint8_t *buf = vx_malloc(bufsz);
	uint32_t n;

	if (!buf)
		return -ENOMEM;
	for (n = 0; n < t->piece_count; n++) {
		uint64_t off = vx_piece_offset(n, t->piece_length), left = piece_len(t, n);
		uint32_t crc = 0;

		while (left > 0) {
			ssize_t r = pread(t->fd, buf, VX_MIN(left, (uint64_t)bufsz), (off_t)off);

			if (r <= 0) {
				vx_free(buf);
				return r == 0 ? -EIO : -errno;
			}
			crc = vx_crc32(crc, buf, (size_t)r);
			off += (uint64_t)r;
			left -= (uint64_t)r;
		}
		t->crc[n] = crc;
		t->finished[n] = 1;
		t->created_s[n] = vx_wall_s();
	}
	vx_free(buf);
	return 0;
}

int vx_file_task_open(struct vx_file_task **out, const struct vx_file_task_cfg *cfg)
{
	struct vx_file_task *t;
	uint64_t count;
	int ret;

	VX_ASSERT(out != NULL);
	*out = NULL;
	if (!cfg->path || !cfg->task_id || !vx_task_id_valid(cfg->task_id, strlen(cfg->task_id)) ||
	    cfg->piece_length == 0)
		return -EINVAL;
	count = vx_piece_count(cfg->content_length, cfg->piece_length);
	if (count > VX__BITFIELD_PIECES_MAX)
		return -EINVAL;
	t = vx_calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	memcpy(t->task_id, cfg->task_id, VX_TASK_ID_LEN);
	if (cfg->parent_id) {
		size_t l = VX_MIN(strlen(cfg->parent_id), (size_t)VX_UPLOAD_PARENT_ID_MAX);

		memcpy(t->parent_id, cfg->parent_id, l);
	}
	t->content_length = cfg->content_length;
	t->piece_length = cfg->piece_length;
	t->piece_count = (uint32_t)count;
	t->direct_fd = -1;
	ret = -ENOMEM;
	t->finished = vx_calloc(count + 1, 1);
	t->crc = vx_calloc(count + 1, sizeof(*t->crc));
	t->created_s = vx_calloc(count + 1, sizeof(*t->created_s));
	if (!t->finished || !t->crc || !t->created_s)
		goto err_free;
	t->fd = open(cfg->path, cfg->seed ? O_RDONLY | O_CLOEXEC : O_RDWR | O_CREAT | O_CLOEXEC,
		     0644);
	if (t->fd == -1) {
		ret = -errno;
		goto err_free;
	}
	if (cfg->seed) {
		ret = seed_crcs(t);
		if (ret < 0)
			goto err_close;
		if (cfg->content_length > 0) {
			void *m = mmap(NULL, cfg->content_length, PROT_READ, MAP_SHARED, t->fd, 0);

			t->map = m == MAP_FAILED ? NULL : m; /* without it, uploads splice */
		}
	} else {
		if (ftruncate(t->fd, (off_t)cfg->content_length) == -1) {
			ret = -errno;
			goto err_close;
		}
		if (cfg->direct)
			t->direct_fd = open(cfg->path, O_RDWR | O_DIRECT | O_CLOEXEC);
	}
	*out = t;
	return 0;

err_close:
	close(t->fd);
err_free:
	vx_free(t->finished);
	vx_free(t->crc);
	vx_free(t->created_s);
	vx_free(t);
	return ret;
}

void vx_file_task_close(struct vx_file_task *t)
{
	if (!t)
		return;
	VX_ASSERT(t->lent == 0);
	if (t->map)
		munmap((void *)(uintptr_t)t->map, t->content_length);
	if (t->direct_fd >= 0)
		close(t->direct_fd);
	close(t->fd);
	vx_free(t->finished);
	vx_free(t->crc);
	vx_free(t->created_s);
	vx_free(t);
}

uint32_t vx_file_task_piece_count(const struct vx_file_task *t)
{
	return t->piece_count;
}

uint32_t vx_file_task_piece_crc(const struct vx_file_task *t, uint32_t n)
{
	VX_ASSERT(n < t->piece_count);
	return t->crc[n];
}

const uint32_t *vx_file_task_crcs(const struct vx_file_task *t)
{
	return t->crc;
}

bool vx_file_task_has(const struct vx_file_task *t, uint32_t n)
{
	return n < t->piece_count && t->finished[n] == 1;
}

uint32_t vx_file_task_lent(const struct vx_file_task *t)
{
	return t->lent;
}

void vx_file_task_set(struct vx_file_task *t, uint32_t n, bool finished)
{
	VX_ASSERT(n < t->piece_count);
	t->finished[n] = finished ? 1 : 0;
	t->created_s[n] = vx_wall_s();
}

/* ---- upload source ---------------------------------------------------------------------- */

static int src_get(void *ctx, const char *task_id, uint32_t number, struct vx_upload_piece *out)
{
	struct vx_file_task *t = ctx;

	if (memcmp(task_id, t->task_id, VX_TASK_ID_LEN) != 0 || number >= t->piece_count)
		return -ENOENT;
	if (t->finished[number] != 1)
		return -EAGAIN;
	out->fd = t->fd;
	out->offset = vx_piece_offset(number, t->piece_length);
	out->data = t->map ? t->map + out->offset : NULL;
	out->content_offset = out->offset;
	out->length = piece_len(t, number);
	out->crc32 = t->crc[number];
	out->parent_id = t->parent_id;
	out->cost_s = 0;
	out->created_s = t->created_s[number];
	out->cookie = t;
	t->lent++;
	return 0;
}

static void src_put(void *ctx, struct vx_upload_piece *p)
{
	struct vx_file_task *t = ctx;

	VX_ASSERT(p->cookie == t);
	VX_ASSERT(t->lent > 0);
	t->lent--;
}

static ssize_t src_bitmap(void *ctx, const char *task_id, uint8_t *out, size_t out_len,
			  uint32_t *piece_count)
{
	struct vx_file_task *t = ctx;
	size_t bytes = vx_bitmap_bytes(t->piece_count);
	uint32_t n;

	if (memcmp(task_id, t->task_id, VX_TASK_ID_LEN) != 0)
		return -ENOENT;
	if (out_len < bytes)
		return -ENOBUFS;
	memset(out, 0, bytes);
	for (n = 0; n < t->piece_count; n++) {
		if (t->finished[n] == 1)
			vx_bit_set(out, n);
	}
	*piece_count = t->piece_count;
	return (ssize_t)bytes;
}

static const struct vx_upload_source_ops file_task_source_ops = {
	.get = src_get,
	.put = src_put,
	.bitmap = src_bitmap,
};

/* ---- fetcher sink ----------------------------------------------------------------------- */

static int sink_begin(void *ctx, uint32_t number, struct vx_fetch_piece_io *io)
{
	struct vx_file_task *t = ctx;

	if (number >= t->piece_count)
		return -ERANGE;
	if (t->finished[number] == 1)
		return -EALREADY;
	if (t->finished[number] == 2)
		return -EBUSY;
	t->finished[number] = 2;
	io->offset = vx_piece_offset(number, t->piece_length);
	io->length = piece_len(t, number);
	io->direct = t->direct_fd >= 0 && VX_IS_ALIGNED(io->offset, VX_FILE_TASK_ALIGN) &&
		     VX_IS_ALIGNED(io->length, VX_FILE_TASK_ALIGN);
	io->align = VX_FILE_TASK_ALIGN;
	io->fd = io->direct ? t->direct_fd : t->fd;
	return 0;
}

static int sink_commit(void *ctx, uint32_t number, uint32_t crc32, const char *parent_id)
{
	struct vx_file_task *t = ctx;

	(void)parent_id;
	if (number >= t->piece_count || t->finished[number] != 2)
		return -EINVAL;
	t->crc[number] = crc32;
	t->finished[number] = 1;
	t->created_s[number] = vx_wall_s();
	return 0;
}

static void sink_abort(void *ctx, uint32_t number, int err)
{
	struct vx_file_task *t = ctx;

	(void)err;
	if (number < t->piece_count && t->finished[number] == 2)
		t->finished[number] = 0;
}

static const struct vx_fetch_sink_ops file_task_sink_ops = {
	.begin = sink_begin,
	.commit = sink_commit,
	.abort = sink_abort,
};

const struct vx_upload_source_ops *vx_file_task_source_ops(void)
{
	return &file_task_source_ops;
}

const struct vx_fetch_sink_ops *vx_file_task_sink_ops(void)
{
	return &file_task_sink_ops;
}
