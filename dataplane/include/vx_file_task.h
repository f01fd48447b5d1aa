/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_file_task.h: one task backed by one plain file, with an in-memory piece bitmap and CRC
 * table. It implements both the upload piece source and the fetcher sink, so tools, tests and
 * `vx-bench pair` can move a file between peers without a piece store. It is not a store: no
 * metadata survives, no GC, one task per object. The daemon wires vx_store instead.
 *
 * Threading: loop-thread only after vx_file_task_open() (which is BLOCKING when it seeds).
 */
#ifndef VX_FILE_TASK_H
#define VX_FILE_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include "vx_compiler.h"
#include "vx_fetcher.h"
#include "vx_upload.h"

struct vx_file_task;

struct vx_file_task_cfg {
	const char *path;	 /* borrowed for the call */
	const char *task_id;	 /* 64 lowercase hex characters; copied */
	uint64_t content_length; /* bytes */
	uint64_t piece_length;	 /* bytes */
	bool seed;	       /* the file is complete: read it, compute every CRC, all finished */
	bool direct;	       /* also open with O_DIRECT for aligned piece writes */
	const char *parent_id; /* reported in PieceContent; NULL = "" (from source) */
};

/*
 * vx_file_task_open() - open @cfg->path (create and size it unless seeding). BLOCKING.
 * @out: OUT, returns owned (vx_file_task_close()). Returns 0, -EINVAL, -ENOMEM or -errno.
 */
VX_MUST_CHECK int vx_file_task_open(struct vx_file_task **out, const struct vx_file_task_cfg *cfg);

/* Takes @t; NULL is a no-op. No piece may be lent out (asserted). */
void vx_file_task_close(struct vx_file_task *t);

/* Piece source ops for vx_upload_cfg.ops (static, lent forever), with the task as ops_ctx. */
const struct vx_upload_source_ops *vx_file_task_source_ops(void);
/* Sink ops for vx_fetcher_cfg.sink (static, lent forever), with the task as sink_ctx. */
const struct vx_fetch_sink_ops *vx_file_task_sink_ops(void);

uint32_t vx_file_task_piece_count(const struct vx_file_task *t);
/* CRC-32 of piece @n (seeded or committed pieces). */
uint32_t vx_file_task_piece_crc(const struct vx_file_task *t, uint32_t n);
/* The CRC table, lent while @t lives (piece_count entries). */
const uint32_t *vx_file_task_crcs(const struct vx_file_task *t);
bool vx_file_task_has(const struct vx_file_task *t, uint32_t n);
/* Marks piece @n unfinished (tests: make a server wait) or finished (CRC from the file). */
void vx_file_task_set(struct vx_file_task *t, uint32_t n, bool finished);
/* Pieces lent by the source and not yet given back. */
uint32_t vx_file_task_lent(const struct vx_file_task *t);

#endif /* VX_FILE_TASK_H */
