/* SPDX-License-Identifier: Apache-2.0 */
/* store.c: skeleton, being filled in. */
#include "vx_store.h"

#include <errno.h>
#include <string.h>

void vx_store_cfg_init(struct vx_store_cfg *cfg)
{
	(void)cfg;
}

int vx_store_open(struct vx_store **out, const struct vx_store_cfg *cfg)
{
	(void)out;
	(void)cfg;
	return -ENOSYS;
}

void vx_store_close(struct vx_store *s)
{
	(void)s;
}

int vx_store_flush(struct vx_store *s)
{
	(void)s;
	return -ENOSYS;
}

void vx_store_stats(struct vx_store *s, struct vx_store_stats *out)
{
	(void)s;
	(void)out;
}

uint32_t vx_store_direct_align(const struct vx_store *s)
{
	(void)s;
	return 0;
}

void *vx_store_buf_alloc(const struct vx_store *s, size_t len)
{
	(void)s;
	(void)len;
	return NULL;
}

void vx_store_buf_free(void *buf)
{
	(void)buf;
}

int vx_store_task_open(struct vx_store *s, const struct vx_store_task_params *p,
		       enum vx_store_use use, struct vx_store_task **out)
{
	(void)s;
	(void)p;
	(void)use;
	(void)out;
	return -ENOSYS;
}

int vx_store_task_acquire(struct vx_store *s, const char *id, enum vx_store_use use,
			  struct vx_store_task **out)
{
	(void)s;
	(void)id;
	(void)use;
	(void)out;
	return -ENOSYS;
}

void vx_store_task_release(struct vx_store_task *t, enum vx_store_use use)
{
	(void)t;
	(void)use;
}

void vx_store_task_info(struct vx_store_task *t, struct vx_store_task_info *out)
{
	(void)t;
	(void)out;
}

const char *vx_store_task_id(const struct vx_store_task *t)
{
	(void)t;
	return NULL;
}

uint32_t vx_store_task_piece_count(const struct vx_store_task *t)
{
	(void)t;
	return 0;
}

void vx_store_task_fail(struct vx_store_task *t, int err)
{
	(void)t;
	(void)err;
}

int vx_store_task_remove(struct vx_store *s, const char *id)
{
	(void)s;
	(void)id;
	return -ENOSYS;
}

int vx_store_task_export(struct vx_store_task *t, const char *path, unsigned int flags)
{
	(void)t;
	(void)path;
	(void)flags;
	return -ENOSYS;
}

bool vx_store_piece_is_finished(const struct vx_store_task *t, uint32_t number)
{
	(void)t;
	(void)number;
	return false;
}

ssize_t vx_store_task_bitmap(const struct vx_store_task *t, uint8_t *out, size_t out_len)
{
	(void)t;
	(void)out;
	(void)out_len;
	return -ENOSYS;
}

uint32_t vx_store_task_finished_since(struct vx_store_task *t, uint32_t *cursor, uint32_t *out,
				      uint32_t max)
{
	(void)t;
	(void)cursor;
	(void)out;
	(void)max;
	return 0;
}

int vx_store_piece_get(struct vx_store_task *t, uint32_t number, struct vx_store_piece_ref *ref)
{
	(void)t;
	(void)number;
	(void)ref;
	return -ENOSYS;
}

ssize_t vx_store_piece_read(struct vx_store_task *t, uint32_t number, void *buf, size_t len)
{
	(void)t;
	(void)number;
	(void)buf;
	(void)len;
	return -ENOSYS;
}

int vx_store_piece_verify(struct vx_store_task *t, uint32_t number)
{
	(void)t;
	(void)number;
	return -ENOSYS;
}

int vx_store_piece_wait(struct vx_store_task *t, uint32_t number, uint32_t timeout_ms)
{
	(void)t;
	(void)number;
	(void)timeout_ms;
	return -ENOSYS;
}

int vx_store_piece_begin_write(struct vx_store_task *t, uint32_t number,
			       struct vx_store_piece_io *io)
{
	(void)t;
	(void)number;
	(void)io;
	return -ENOSYS;
}

int vx_store_piece_commit(struct vx_store_task *t, uint32_t number,
			  const struct vx_store_piece_done *done)
{
	(void)t;
	(void)number;
	(void)done;
	return -ENOSYS;
}

void vx_store_piece_abort(struct vx_store_task *t, uint32_t number, int err)
{
	(void)t;
	(void)number;
	(void)err;
}

int vx_store_piece_write(struct vx_store_task *t, uint32_t number, const void *buf, size_t len,
			 bool check, uint32_t expect_crc32, const char *parent_id)
{
	(void)t;
	(void)number;
	(void)buf;
	(void)len;
	(void)check;
	(void)expect_crc32;
	(void)parent_id;
	return -ENOSYS;
}

int vx_store_notifier_new(struct vx_store *s, struct vx_store_notifier **out)
{
	(void)s;
	(void)out;
	return -ENOSYS;
}

void vx_store_notifier_free(struct vx_store_notifier *n)
{
	(void)n;
}

int vx_store_notifier_fd(const struct vx_store_notifier *n)
{
	(void)n;
	return -ENOSYS;
}

unsigned int vx_store_notifier_drain(struct vx_store_notifier *n, unsigned int max)
{
	(void)n;
	(void)max;
	return 0;
}

int vx_store_wait_piece(struct vx_store_task *t, uint32_t number, struct vx_store_waiter *w,
			struct vx_store_notifier *n)
{
	(void)t;
	(void)number;
	(void)w;
	(void)n;
	return -ENOSYS;
}

int vx_store_wait_progress(struct vx_store_task *t, uint32_t seen, struct vx_store_waiter *w,
			   struct vx_store_notifier *n)
{
	(void)t;
	(void)seen;
	(void)w;
	(void)n;
	return -ENOSYS;
}

bool vx_store_wait_cancel(struct vx_store_waiter *w)
{
	(void)w;
	return false;
}

int vx_store_gc(struct vx_store *s, struct vx_store_gc_report *report)
{
	(void)s;
	(void)report;
	return -ENOSYS;
}
