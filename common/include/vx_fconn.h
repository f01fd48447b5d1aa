/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_fconn.h: one framed connection over a non-blocking stream socket, the part the scheduler
 * server, its client and the local API server share: an output queue with a byte limit (and an
 * optional descriptor passed with its first byte), and an input buffer whose bytes are handed
 * to the owner's framer (vortex's control reader) until it pauses. No wire knowledge and no
 * event loop: the owner registers the fd with its own epoll set and calls in on readiness.
 *
 * The transport is a socket unless the owner sets another (vx_fconn_set_io()): tests and fuzz
 * targets drive the same connection code with bytes of their own, without sockets.
 */
#ifndef VX_FCONN_H
#define VX_FCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_compiler.h"

#define VX_FCONN_IN	  4096	      /* bytes taken from the transport per read */
#define VX_FCONN_OUT_KEEP (64u << 10) /* a bigger output buffer is freed once drained */

/* A transport. Each returns what the socket call would, as a negative errno on failure. */
struct vx_fconn_io {
	/* Up to @len bytes into @buf: n > 0, 0 at end of stream, -EAGAIN, or -errno. */
	ssize_t (*recv)(void *arg, void *buf, size_t len);
	/* Up to @len bytes of @buf, with descriptor @fd (-1: none) on the first: n, -EAGAIN... */
	ssize_t (*send)(void *arg, const void *buf, size_t len, int fd);
	/* Optional, for a transport with bytes of its own (TLS records): */
	/* sends them until the socket would block; 0 or -errno (broken) */
	int (*flush)(void *arg);
	/* true when the owner should wait for writability, @queued bytes being queued above */
	bool (*want_write)(void *arg, size_t queued);
	/* true when it holds received bytes a recv returns without the socket being readable */
	bool (*has_input)(void *arg);
	/* frees the transport's state (the socket is closed by vx_fconn_close()) */
	void (*close)(void *arg);
};

struct vx_fconn {
	int fd;			      /* the socket, -1 once closed */
	const struct vx_fconn_io *io; /* NULL: the socket */
	void *io_arg;		      /* passed to io's functions */
	uint8_t *out;		      /* queued bytes [out_off, out_len) */
	size_t out_off, out_len, out_cap;
	size_t out_max;		 /* limit of queued bytes */
	int out_fd;		 /* descriptor riding on the queue's first byte, -1 none */
	uint8_t in[VX_FCONN_IN]; /* received bytes not yet used: [in_off, in_len) */
	size_t in_off, in_len;
};

/*
 * Called with received bytes (borrowed for the call). Returns how many it used (0..@len; fewer
 * than @len pauses input: the rest stays buffered until vx_fconn_input() is called again), or
 * a negative error, after which the connection is not touched again (the owner may have freed
 * it inside the call).
 */
typedef ssize_t (*vx_fconn_input_fn)(void *arg, const uint8_t *in, size_t len);

/* Prepares @c over socket @fd (made non-blocking here) with an output limit of @out_max bytes. */
void vx_fconn_init(struct vx_fconn *c, int fd, size_t out_max);
/* Uses @io (borrowed while @c lives) with @arg instead of the socket. */
void vx_fconn_set_io(struct vx_fconn *c, const struct vx_fconn_io *io, void *arg);

/*
 * vx_fconn_queue() - append @n bytes of @p (copied) to the output. @fd >= 0 (borrowed, dup'ed
 * on success) rides on the first of them; then the queue must be empty (asserted). Returns 0,
 * -ENOBUFS when the queue would pass its limit (nothing queued), -ENOMEM, or dup's -errno.
 */
VX_MUST_CHECK int vx_fconn_queue(struct vx_fconn *c, const void *p, size_t n, int fd);
/* Sends what is queued until the transport would block. Returns 0 or -errno (broken). */
VX_MUST_CHECK int vx_fconn_flush(struct vx_fconn *c);
/* Bytes queued and not yet sent. */
size_t vx_fconn_pending(const struct vx_fconn *c);
/*
 * Whether the owner should wait for the socket to become writable: bytes are queued (and the
 * transport can take them now: a TLS handshake in progress cannot), or the transport has bytes
 * of its own to send. Owners arm EPOLLOUT by this, after a flush and after a read.
 */
bool vx_fconn_want_write(const struct vx_fconn *c);

/*
 * vx_fconn_read() - take what the transport has (one read, at most the free room of the input
 * buffer), then hand the buffered bytes to @fn as vx_fconn_input() does. Returns > 0 (bytes
 * read), 0 (nothing to read now, or the buffer is full while input is paused), -ECONNRESET at
 * end of stream, -errno, or @fn's error (then @c must not be touched).
 */
VX_MUST_CHECK ssize_t vx_fconn_read(struct vx_fconn *c, vx_fconn_input_fn fn, void *arg);
/* Hands buffered bytes to @fn until it pauses or they run out. Returns 0 or @fn's error. */
VX_MUST_CHECK int vx_fconn_input(struct vx_fconn *c, vx_fconn_input_fn fn, void *arg);
/* Received bytes not yet used (input paused). */
size_t vx_fconn_buffered(const struct vx_fconn *c);
/*
 * Whether the transport holds received bytes the socket will not signal again (TLS records
 * read whole): the owner calls vx_fconn_read() again without waiting for readiness.
 */
bool vx_fconn_has_input(const struct vx_fconn *c);

/* Closes the socket, a descriptor not yet passed and the transport, frees the queue. Idempotent. */
void vx_fconn_close(struct vx_fconn *c);

#endif /* VX_FCONN_H */
