/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_int.h: the local API server without its socket and thread, for tests and fuzz targets.
 * A detached server serves connections whose transport the caller provides (vx_fconn_io), on
 * the caller's thread, through the same request path as `vx serve`: framing, decoding,
 * checks, the daemon's ops, answers, progress and descriptor passing.
 */
#ifndef VX_API_INT_H
#define VX_API_INT_H

#include <stdint.h>

#include "vx_api.h"
#include "vx_fconn.h"

struct api_conn;

/* A server for @cfg (socket_path and group unused) with no socket, thread or epoll set. */
int vx__api_server_new_detached(struct vx_api_server **out, const struct vx_api_server_cfg *cfg);
/* A client of uid/gid/pid over @io (borrowed with @arg while the connection lives); NULL when
 * the server is full or out of memory. */
struct api_conn *vx__api_conn_attach(struct vx_api_server *srv, const struct vx_fconn_io *io,
				     void *arg, uint32_t uid, uint32_t gid, int32_t pid);
/* As on readiness: read what the transport has, send what is queued, serve. Returns 0, or the
 * error for which the connection was closed (then it is gone). */
int vx__api_conn_ready(struct vx_api_server *srv, struct api_conn *c);
/* As on a wake: queue what the daemon posted for @c's call in flight. Returns 0, or the error
 * for which the connection was closed (then it is gone). */
int vx__api_conn_wake(struct vx_api_server *srv, struct api_conn *c);
/* Closes every connection (cancelling downloads in flight) and frees @srv. NULL is a no-op. */
void vx__api_server_free_detached(struct vx_api_server *srv);

#endif /* VX_API_INT_H */
