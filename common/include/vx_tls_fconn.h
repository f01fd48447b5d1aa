/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_tls_fconn.h: a vx_tls_sess (vx_tls.h) as the transport of a vx_fconn over its non-blocking
 * socket, for owners on epoll (the scheduler's server and client). The fconn's queue holds
 * plaintext; the session's own ciphertext (handshake records, alerts) is sent by flush. Owners
 * arm EPOLLOUT by vx_fconn_want_write() after every flush and every read, so a handshake that
 * waits for the other side does not spin on a writable socket.
 */
#ifndef VX_TLS_FCONN_H
#define VX_TLS_FCONN_H

#include "vx_compiler.h"
#include "vx_fconn.h"
#include "vx_tls.h"

/*
 * vx_tls_fconn_attach() - run @c (already set up on its socket) through @s, which @c then
 * owns (freed by vx_fconn_close()). Returns 0 or -ENOMEM (then @s is freed too).
 */
VX_MUST_CHECK int vx_tls_fconn_attach(struct vx_fconn *c, struct vx_tls_sess *s);
/* The session of @c, NULL for a plaintext connection. */
struct vx_tls_sess *vx_tls_fconn_sess(const struct vx_fconn *c);

#endif /* VX_TLS_FCONN_H */
