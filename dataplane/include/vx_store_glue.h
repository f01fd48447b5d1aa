/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_store_glue.h: the piece store (vx_store.h) as the upload server's piece source and as
 * the fetcher's sink. The daemon uses these; tests and tools may use vx_file_task instead.
 * Every callback here runs on the loop thread and uses only the store's PIECE PATH calls
 * (no file I/O, no allocation, no waiting), except a task's first acquire when its content
 * file is not open yet (one open(2) + mmap(2)).
 */
#ifndef VX_STORE_GLUE_H
#define VX_STORE_GLUE_H

#include "vx_fetcher.h"
#include "vx_store.h"
#include "vx_upload.h"

/*
 * Source ops over a whole store: every task of @s is served (a request acquires the task for
 * UPLOAD and the answer releases it). Use with vx_upload_cfg.ops_ctx = the struct vx_store
 * (borrowed; must outlive the server). Static, lent forever.
 */
const struct vx_upload_source_ops *vx_store_glue_source_ops(void);

/*
 * Sink ops over one task: vx_fetcher_cfg.sink_ctx = a struct vx_store_task held by the caller
 * for VX_STORE_USE_DOWNLOAD until the fetcher is idle (borrowed). Static, lent forever.
 */
const struct vx_fetch_sink_ops *vx_store_glue_sink_ops(void);

#endif /* VX_STORE_GLUE_H */
