/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_glue.c: maps the upload source and fetcher sink callbacks onto vx_store.h (see
 * spec/dataplane.md, section 5). A lent piece keeps its task handle in the piece's cookie.
 */
#include "vx_store_glue.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "dataplane_int.h"
#include "vx_assert.h"
#include "vx_task_id.h"

/*
 * A local file's task (file:// source) is never served to another host: it is the file of the
 * client who asked, read with that client's rights (spec/dataplane.md 5). Found by its URL,
 * which the store keeps, so the rule holds across restarts.
 */
static int glue_acquire(void *ctx, const char *task_id, enum vx_store_use use,
			struct vx_store_task **t)
{
	char id[VX_TASK_ID_LEN + 1];
	const char *url;
	int ret;

	memcpy(id, task_id, VX_TASK_ID_LEN);
	id[VX_TASK_ID_LEN] = '\0';
	ret = vx_store_task_acquire(ctx, id, use, t);
	if (ret < 0)
		return ret == -EINVAL ? -ENOENT : ret;
	url = vx_store_task_url(*t);
	if (url && strncasecmp(url, "file:", 5) == 0) {
		vx_store_task_release(*t, use);
		*t = NULL;
		return -ENOENT;
	}
	return 0;
}

static int glue_get(void *ctx, const char *task_id, uint32_t number, struct vx_upload_piece *out)
{
	struct vx_store_piece_ref ref;
	struct vx_store_task *t;
	int ret;

	ret = glue_acquire(ctx, task_id, VX_STORE_USE_UPLOAD, &t);
	if (ret < 0)
		return ret;
	ret = vx_store_piece_get(t, number, &ref);
	if (ret < 0) {
		vx_store_task_release(t, VX_STORE_USE_UPLOAD);
		return ret == -ERANGE ? -ENOENT : ret;
	}
	out->data = ref.data;
	out->fd = ref.fd;
	out->offset = ref.offset;
	out->length = ref.length;
	out->content_offset = ref.offset; /* pieces sit at their content offsets */
	out->crc32 = ref.crc32;
	out->parent_id = ref.parent_id;
	out->cost_s = ref.cost_ms / 1000;
	out->created_s = ref.finished_s;
	out->cookie = t;
	return 0;
}

static void glue_put(void *ctx, struct vx_upload_piece *p)
{
	(void)ctx;
	VX_ASSERT(p->cookie != NULL);
	vx_store_task_release(p->cookie, VX_STORE_USE_UPLOAD);
	p->cookie = NULL;
}

static ssize_t glue_bitmap(void *ctx, const char *task_id, uint8_t *out, size_t out_len,
			   uint32_t *piece_count)
{
	struct vx_store_task *t;
	ssize_t n;
	int ret;

	ret = glue_acquire(ctx, task_id, VX_STORE_USE_READ, &t);
	if (ret < 0)
		return ret;
	*piece_count = vx_store_task_piece_count(t);
	n = vx_store_task_bitmap(t, out, out_len);
	vx_store_task_release(t, VX_STORE_USE_READ);
	return n;
}

static const struct vx_upload_source_ops glue_source_ops = {
	.get = glue_get,
	.put = glue_put,
	.bitmap = glue_bitmap,
};

static int glue_begin(void *ctx, uint32_t number, struct vx_fetch_piece_io *io)
{
	struct vx_store_piece_io sio;
	int ret = vx_store_piece_begin_write(ctx, number, &sio);

	if (ret < 0)
		return ret;
	io->fd = sio.fd;
	io->direct = sio.direct;
	io->align = sio.align;
	io->offset = sio.offset;
	io->length = sio.length;
	return 0;
}

static int glue_commit(void *ctx, uint32_t number, uint32_t crc32, const char *parent_id)
{
	struct vx_store_piece_done done = { .crc32 = crc32, .parent_id = parent_id };

	return vx_store_piece_commit(ctx, number, &done);
}

static void glue_abort(void *ctx, uint32_t number, int err)
{
	vx_store_piece_abort(ctx, number, err);
}

static const struct vx_fetch_sink_ops glue_sink_ops = {
	.begin = glue_begin,
	.commit = glue_commit,
	.abort = glue_abort,
};

const struct vx_upload_source_ops *vx_store_glue_source_ops(void)
{
	return &glue_source_ops;
}

const struct vx_fetch_sink_ops *vx_store_glue_sink_ops(void)
{
	return &glue_sink_ops;
}
