/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_net.h: sockets, once, in the spirit of Redis's anet: parse HOST:PORT, listen and dial over
 * TCP and unix sockets with the options vx uses, read a unix peer's credentials, and pass a
 * descriptor over a unix socket. Every socket is made close-on-exec.
 *
 * Errors: a negative errno; functions that take @err (VX_NET_ERR_LEN bytes, or NULL) also
 * write one line for humans there ("bind 127.0.0.1:8002: Address already in use").
 * Any thread; nothing here keeps state.
 */
#ifndef VX_NET_H
#define VX_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "vx_compiler.h"

/* Bytes of an error line. */
#define VX_NET_ERR_LEN 160
/* Bytes of a host buffer that holds any host vx_net_parse_hostport() accepts. */
#define VX_NET_HOST_MAX 256
/* Bytes of "[v6]:port" text for an address. */
#define VX_NET_ADDR_STR_MAX 64

/* Flags of the listen and dial calls. */
enum vx_net_flag {
	VX_NET_NONBLOCK = 1u << 0,  /* O_NONBLOCK (dial: the connect may still be in progress) */
	VX_NET_NODELAY = 1u << 1,   /* TCP_NODELAY */
	VX_NET_REUSEADDR = 1u << 2, /* SO_REUSEADDR before bind */
	VX_NET_REUSEPORT = 1u << 3, /* SO_REUSEPORT before bind */
	VX_NET_KEEPALIVE = 1u << 4, /* SO_KEEPALIVE */
	VX_NET_PORT0 = 1u << 5,	    /* parsing: port 0 (let the kernel pick) is accepted */
	VX_NET_IP_ONLY = 1u << 6,   /* parsing: an IP literal only (no "localhost" alias) */
};

/* Socket options of vx_net_tcp_listen() and vx_net_tcp_dial(). */
struct vx_net_opts {
	unsigned flags; /* enum vx_net_flag */
	int backlog;	/* listen only; 0: 1024 */
	int sndbuf;	/* SO_SNDBUF bytes; 0: the kernel's */
	int rcvbuf;	/* SO_RCVBUF bytes; 0: the kernel's */
	/* dial only: the local address to connect from (port 0); NULL or another family: the
	 * kernel's choice. A daemon that listens on one IP dials from it, so the address a
	 * scheduler observes is the one it serves on. */
	const struct sockaddr_storage *src;
};

/*
 * vx_net_parse_hostport() - split "HOST:PORT" or "[V6]:PORT" into @host (NUL-terminated,
 * @host_len bytes) and @port. A bare IPv6 address needs its brackets; the port is decimal
 * digits only, at most 65535, and 0 only with VX_NET_PORT0 in @flags. Returns 0 or -EINVAL
 * (nothing written then).
 */
VX_MUST_CHECK int vx_net_parse_hostport(const char *s, unsigned flags, char *host, size_t host_len,
					uint16_t *port);

/*
 * vx_net_parse_addr() - "IP:PORT" or "[V6]:PORT" (a numeric address; "localhost" means
 * 127.0.0.1 unless VX_NET_IP_ONLY) into @ss and @len, without a name lookup. @flags:
 * VX_NET_PORT0, VX_NET_IP_ONLY (addresses from the network: candidate parents). Returns 0 or
 * -EINVAL.
 */
VX_MUST_CHECK int vx_net_parse_addr(const char *s, unsigned flags, struct sockaddr_storage *ss,
				    socklen_t *len);

/*
 * vx_net_resolve() - @host (a name or an address, as vx_net_parse_hostport() gives it) and
 * @port into the first address getaddrinfo() gives. BLOCKING (DNS). @passive: for a listen
 * (AI_PASSIVE). Returns 0 or -EHOSTUNREACH (no such name), with @err.
 */
VX_MUST_CHECK int vx_net_resolve(const char *host, uint16_t port, bool passive,
				 struct sockaddr_storage *ss, socklen_t *len, char *err);

/* "1.2.3.4:80" or "[::1]:80" of @sa into @out (VX_NET_ADDR_STR_MAX bytes). */
void vx_net_addr_str(const struct sockaddr *sa, char *out, size_t out_len);

/* The port @fd is bound to, or a negative errno. */
VX_MUST_CHECK int vx_net_local_port(int fd);

/*
 * vx_net_tcp_listen() - a listening TCP socket bound to @sa with @o's options. Returns the
 * descriptor (owned by the caller) or a negative errno, with @err.
 */
VX_MUST_CHECK int vx_net_tcp_listen(const struct sockaddr *sa, socklen_t len,
				    const struct vx_net_opts *o, char *err);

/*
 * vx_net_tcp_dial() - a TCP socket connected to @sa with @o's options. With VX_NET_NONBLOCK the
 * connect may still be in progress (wait for writability, then vx_net_so_error()). Returns the
 * descriptor (owned by the caller) or a negative errno, with @err.
 */
VX_MUST_CHECK int vx_net_tcp_dial(const struct sockaddr *sa, socklen_t len,
				  const struct vx_net_opts *o, char *err);

/* A new TCP socket for @family with @o's options, not yet bound nor connected (for a caller
 * that connects through io_uring). Returns the descriptor or a negative errno, with @err. */
VX_MUST_CHECK int vx_net_tcp_socket(int family, const struct vx_net_opts *o, char *err);

/* Applies @o's per-socket options (NODELAY, KEEPALIVE, buffer sizes) to @fd: for accepted
 * sockets. Returns 0 or a negative errno. */
int vx_net_set_opts(int fd, const struct vx_net_opts *o);

/* The pending error of @fd (SO_ERROR) as a negative errno, or 0. */
int vx_net_so_error(int fd);

/*
 * vx_net_unix_listen() - a listening unix stream socket at @path, its mode set to @mode and,
 * when @gid is not (gid_t)-1, its group to @gid, both before listen() so that no client can
 * connect in between. A file already at @path is an error (-EADDRINUSE): the caller decides
 * whether it is stale. @flags: VX_NET_NONBLOCK. On failure nothing is left at @path.
 * Returns the descriptor or a negative errno, with @err.
 */
VX_MUST_CHECK int vx_net_unix_listen(const char *path, int backlog, mode_t mode, gid_t gid,
				     unsigned flags, char *err);

/*
 * vx_net_unix_dial() - a unix stream socket connected to @path. @timeout_ms bounds a connect
 * that waits on a full backlog (0: no bound); @flags: VX_NET_NONBLOCK once connected.
 * Returns the descriptor or a negative errno (-ETIMEDOUT, -ENOENT, -ECONNREFUSED...), with @err.
 */
VX_MUST_CHECK int vx_net_unix_dial(const char *path, uint32_t timeout_ms, unsigned flags,
				   char *err);

/* The credentials of the process at the other end of unix socket @fd (SO_PEERCRED); any
 * pointer may be NULL. Returns 0 or a negative errno. */
VX_MUST_CHECK int vx_net_peer_cred(int fd, pid_t *pid, uid_t *uid, gid_t *gid);

/*
 * vx_net_send_fd() - send @len bytes of @buf over unix socket @fd with descriptor @pass
 * attached (SCM_RIGHTS; @pass stays open here). MSG_NOSIGNAL | MSG_DONTWAIT. Returns the bytes
 * sent (the descriptor went with them when > 0) or a negative errno (-EAGAIN).
 */
VX_MUST_CHECK ssize_t vx_net_send_fd(int fd, const void *buf, size_t len, int pass);

/*
 * vx_net_recv_fd() - receive up to @len bytes into @buf from unix socket @fd, and the first
 * descriptor passed with them into *@got (-1 when none; further ones are closed so none can
 * leak; received close-on-exec). MSG_DONTWAIT. Returns the bytes received (0: the peer closed)
 * or a negative errno.
 */
VX_MUST_CHECK ssize_t vx_net_recv_fd(int fd, void *buf, size_t len, int *got);

#endif /* VX_NET_H */
