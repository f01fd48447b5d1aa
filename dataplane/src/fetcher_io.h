/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fetcher_io.h: the seam under the fetcher's connections, private to dataplane/ and its fuzz
 * target. Frame handling (fetcher.c) never touches the ring: each receive, send, shutdown and
 * close of a connection and each chunk write goes through a struct vx_fx_io. Production uses
 * the ring; tests/fuzz/fuzz_fetch_conn.c a fake that delivers a parent's bytes from the fuzz
 * input and swallows what is sent. Either way each submitted operation completes exactly once,
 * later (never inside the submitting call), through the vx__fx_*_done() function named below,
 * as the ring's completion handlers do. Connecting is not part of the seam: the fake adds its
 * parent undialled and attaches connections that are already up (vx__fetcher_attach()).
 */
#ifndef VX_FETCHER_IO_H
#define VX_FETCHER_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vx_compiler.h"

struct vx_fetcher;
struct vx_fx_conn;
struct vx_fx_buf;

struct vx_fx_io {
	/* Receive at most @len (> 0) bytes into @dst, lent until vx__fx_recv_done(). */
	void (*recv)(void *ctx, struct vx_fx_conn *c, uint8_t *dst, size_t len);
	/* Send up to @len (> 0) bytes at @src, lent until vx__fx_send_done(). */
	void (*send)(void *ctx, struct vx_fx_conn *c, const uint8_t *src, size_t len);
	/* Shut @c down: a pending receive or send completes soon, with an error. */
	void (*shutdown)(void *ctx, struct vx_fx_conn *c);
	/* Release @c's socket (nothing else is pending): vx__fx_close_done(). */
	void (*close)(void *ctx, struct vx_fx_conn *c);
	/* Write @len bytes at @src (lent) at @off of @fd: vx__fx_write_done(@b). */
	void (*write)(void *ctx, struct vx_fx_buf *b, int fd, const uint8_t *src, size_t len,
		      uint64_t off);
};

/* Completions: @res is what recv(2), send(2) or pwrite(2) returned, or a negative errno. */
void vx__fx_recv_done(struct vx_fx_conn *c, int res);
void vx__fx_send_done(struct vx_fx_conn *c, int res);
void vx__fx_close_done(struct vx_fx_conn *c);
void vx__fx_write_done(struct vx_fx_buf *b, int res);

/* Puts @f (no parent added yet) on @io; @io and @ctx are borrowed for @f's life. */
void vx__fetcher_set_io(struct vx_fetcher *f, const struct vx_fx_io *io, void *ctx);

/*
 * vx__fetcher_add_parent_undialled() - vx_fetcher_add_parent() without dialling: the caller
 * attaches the parent's connections itself and keeps its conns_per_parent of them attached
 * (else the next top-up dials the parent).
 */
VX_MUST_CHECK int vx__fetcher_add_parent_undialled(struct vx_fetcher *f,
						   const struct sockaddr *addr, socklen_t addr_len,
						   const char *id);

/*
 * vx__fetcher_attach() - a new connection to parent @parent, already connected (it starts
 * with HELLO, or with its one request for a plain parent), over @f's I/O.
 * Returns 0, -EINVAL (no such live parent, or @f finishing) or -EBUSY (no free connection).
 */
VX_MUST_CHECK int vx__fetcher_attach(struct vx_fetcher *f, uint32_t parent);

#endif /* VX_FETCHER_IO_H */
