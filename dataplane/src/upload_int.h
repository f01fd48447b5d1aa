/* SPDX-License-Identifier: Apache-2.0 */
/*
 * upload_int.h: the upload server's seam for tests, private to dataplane/. A server made here
 * has no listening socket; connections are handed to it as already-accepted descriptors. The
 * connection-level fuzz target compiles upload.c against a fake loop (tests/fuzz/fake_loop.c)
 * and uses these two to drive the production receive path with no socket and no ring.
 */
#ifndef VX_UPLOAD_INT_H
#define VX_UPLOAD_INT_H

#include "vx_compiler.h"
#include "vx_upload.h"

/* vx_upload_new() without bind/listen/accept: @cfg->addr is ignored. Same returns. */
VX_MUST_CHECK int vx__upload_new(struct vx_upload **out, struct vx_loop *loop,
				 const struct vx_upload_cfg *cfg);

/* Takes @fd as a connection just accepted (or refuses it, as a full server does). */
void vx__upload_admit(struct vx_upload *up, int fd);

#endif /* VX_UPLOAD_INT_H */
