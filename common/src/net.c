/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net.c: host:port parsing, TCP and unix listen/dial, credentials and fd passing (vx_net.h).
 * Every failure is a negative errno; the calls that take an error buffer say there which step
 * failed and on what address, as anet does.
 */
#include "vx_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vx_err.h"

VX_PRINTF(3, 4) static int net_fail(char *err, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err)
		return rc;
	va_start(ap, fmt);
	n = vsnprintf(err, VX_NET_ERR_LEN, fmt, ap);
	va_end(ap);
	if (n >= 0 && n < (int)VX_NET_ERR_LEN)
		snprintf(err + n, VX_NET_ERR_LEN - (size_t)n, ": %s", vx_strerror(rc));
	return rc;
}

/* ---------------------------------------------------------------- Addresses */

int vx_net_parse_hostport(const char *s, unsigned flags, char *host, size_t host_len,
			  uint16_t *port)
{
	const char *colon, *hs = s, *he;
	unsigned long p = 0;

	if (!s || !*s)
		return -EINVAL;
	if (*s == '[') {
		he = strchr(s, ']');
		if (!he || he[1] != ':')
			return -EINVAL;
		hs = s + 1;
		colon = he + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return -EINVAL; /* a bare IPv6 address needs brackets */
		he = colon;
	}
	if (he == hs || (size_t)(he - hs) >= host_len)
		return -EINVAL;
	if (!colon[1] || strlen(colon + 1) > 5)
		return -EINVAL;
	for (const char *d = colon + 1; *d; d++) {
		if (*d < '0' || *d > '9')
			return -EINVAL;
		p = p * 10 + (unsigned long)(*d - '0');
	}
	if (p > 65535 || (p == 0 && !(flags & VX_NET_PORT0)))
		return -EINVAL;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	*port = (uint16_t)p;
	return 0;
}

int vx_net_parse_addr(const char *s, unsigned flags, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[VX_NET_ADDR_STR_MAX];
	uint16_t port;

	if (vx_net_parse_hostport(s, flags, host, sizeof(host), &port))
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (!(flags & VX_NET_IP_ONLY) && strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

int vx_net_resolve(const char *host, uint16_t port_nr, bool passive, struct sockaddr_storage *ss,
		   socklen_t *len, char *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	char port[8];

	snprintf(port, sizeof(port), "%u", port_nr);
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
		return net_fail(err, -EHOSTUNREACH, "resolve %s", host);
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

void vx_net_addr_str(const struct sockaddr *sa, char *out, size_t out_len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(out, out_len, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(out, out_len, "%s:%u", ip, ntohs(in->sin_port));
	} else {
		snprintf(out, out_len, "(family %d)", sa->sa_family);
	}
}

int vx_net_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		return -errno;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return -EAFNOSUPPORT;
}

/* ---------------------------------------------------------------- TCP */

static int set_int(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof(v)) == -1 ? -errno : 0;
}

int vx_net_set_opts(int fd, const struct vx_net_opts *o)
{
	int rc = 0;

	if (!rc && (o->flags & VX_NET_NODELAY))
		rc = set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (!rc && (o->flags & VX_NET_KEEPALIVE))
		rc = set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
	if (!rc && o->sndbuf > 0)
		rc = set_int(fd, SOL_SOCKET, SO_SNDBUF, o->sndbuf);
	if (!rc && o->rcvbuf > 0)
		rc = set_int(fd, SOL_SOCKET, SO_RCVBUF, o->rcvbuf);
	return rc;
}

int vx_net_tcp_socket(int family, const struct vx_net_opts *o, char *err)
{
	int type = SOCK_STREAM | SOCK_CLOEXEC | ((o->flags & VX_NET_NONBLOCK) ? SOCK_NONBLOCK : 0);
	int fd = socket(family, type, 0), rc;

	if (fd == -1)
		return net_fail(err, -errno, "socket");
	rc = vx_net_set_opts(fd, o);
	if (!rc && (o->flags & VX_NET_REUSEADDR))
		rc = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (!rc && (o->flags & VX_NET_REUSEPORT))
		rc = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	if (rc) {
		close(fd);
		return net_fail(err, rc, "setsockopt");
	}
	return fd;
}

int vx_net_tcp_listen(const struct sockaddr *sa, socklen_t len, const struct vx_net_opts *o,
		      char *err)
{
	char text[VX_NET_ADDR_STR_MAX];
	int fd = vx_net_tcp_socket(sa->sa_family, o, err), rc;

	if (fd < 0)
		return fd;
	vx_net_addr_str(sa, text, sizeof(text));
	if (bind(fd, sa, len) == -1) {
		rc = net_fail(err, -errno, "bind %s", text);
		goto err_close;
	}
	if (listen(fd, o->backlog > 0 ? o->backlog : 1024) == -1) {
		rc = net_fail(err, -errno, "listen %s", text);
		goto err_close;
	}
	return fd;

err_close:
	close(fd);
	return rc;
}

int vx_net_tcp_dial(const struct sockaddr *sa, socklen_t len, const struct vx_net_opts *o,
		    char *err)
{
	char text[VX_NET_ADDR_STR_MAX];
	int fd = vx_net_tcp_socket(sa->sa_family, o, err), rc;

	if (fd < 0)
		return fd;
	if (o->src && o->src->ss_family == sa->sa_family) {
		socklen_t sl = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							 : sizeof(struct sockaddr_in);

		/* the port is picked at connect, not at bind: no ephemeral port is held early */
		(void)set_int(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
		if (bind(fd, (const struct sockaddr *)o->src, sl) == -1) {
			rc = -errno;
			vx_net_addr_str((const struct sockaddr *)o->src, text, sizeof(text));
			close(fd);
			return net_fail(err, rc, "bind %s", text);
		}
	}
	if (connect(fd, sa, len) == -1 && !(errno == EINPROGRESS && (o->flags & VX_NET_NONBLOCK))) {
		rc = -errno;
		vx_net_addr_str(sa, text, sizeof(text));
		close(fd);
		return net_fail(err, rc, "connect %s", text);
	}
	return fd;
}

int vx_net_so_error(int fd)
{
	int e = 0;
	socklen_t l = sizeof(e);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) == -1)
		return -errno;
	return -e;
}

/* ---------------------------------------------------------------- Unix */

static int unix_addr(const char *path, struct sockaddr_un *a, char *err)
{
	size_t n = path ? strlen(path) : 0;

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (n == 0 || n >= sizeof(a->sun_path))
		return net_fail(err, -ENAMETOOLONG, "unix socket path '%s'", path ? path : "");
	memcpy(a->sun_path, path, n + 1);
	return 0;
}

int vx_net_unix_listen(const char *path, int backlog, mode_t mode, gid_t gid, unsigned flags,
		       char *err)
{
	struct sockaddr_un a;
	int fd, rc = unix_addr(path, &a, err);

	if (rc)
		return rc;
	fd = socket(AF_UNIX,
		    SOCK_STREAM | SOCK_CLOEXEC | ((flags & VX_NET_NONBLOCK) ? SOCK_NONBLOCK : 0),
		    0);
	if (fd == -1)
		return net_fail(err, -errno, "socket");
	if (bind(fd, (const struct sockaddr *)&a, sizeof(a)) == -1) {
		rc = net_fail(err, -errno, "bind %s", path);
		close(fd);
		return rc;
	}
	/* Mode and group are set before listen(): until then every connect is refused. */
	if (chmod(path, mode) == -1 || (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) == -1)) {
		rc = net_fail(err, -errno, "set mode/group of %s", path);
		goto err_unlink;
	}
	if (listen(fd, backlog > 0 ? backlog : 128) == -1) {
		rc = net_fail(err, -errno, "listen %s", path);
		goto err_unlink;
	}
	return fd;

err_unlink:
	unlink(path);
	close(fd);
	return rc;
}

int vx_net_unix_dial(const char *path, uint32_t timeout_ms, unsigned flags, char *err)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	struct sockaddr_un a;
	int fd, rc = unix_addr(path, &a, err);

	if (rc)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return net_fail(err, -errno, "socket");
	/* A unix connect blocks only while the listen backlog is full; SO_SNDTIMEO bounds that. */
	if (timeout_ms && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1) {
		rc = net_fail(err, -errno, "setsockopt");
		goto err_close;
	}
	if (connect(fd, (const struct sockaddr *)&a, sizeof(a)) == -1) {
		rc = (errno == EAGAIN || errno == EINPROGRESS) ? -ETIMEDOUT : -errno;
		rc = net_fail(err, rc, "connect %s", path);
		goto err_close;
	}
	if ((flags & VX_NET_NONBLOCK) && fcntl(fd, F_SETFL, O_NONBLOCK) == -1) {
		rc = net_fail(err, -errno, "fcntl");
		goto err_close;
	}
	return fd;

err_close:
	close(fd);
	return rc;
}

int vx_net_peer_cred(int fd, pid_t *pid, uid_t *uid, gid_t *gid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1)
		return -errno;
	if (pid)
		*pid = cr.pid;
	if (uid)
		*uid = cr.uid;
	if (gid)
		*gid = cr.gid;
	return 0;
}

/* ---------------------------------------------------------------- Descriptor passing */

/* Control space for the most descriptors one receive keeps track of. */
#define NET_FDS_MAX 8

ssize_t vx_net_send_fd(int fd, const void *buf, size_t len, int pass)
{
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t n;

	memset(&ctl, 0, sizeof(ctl));
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &pass, sizeof(int));
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	return n == -1 ? -errno : n;
}

ssize_t vx_net_recv_fd(int fd, void *buf, size_t len, int *got)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	union {
		char buf[CMSG_SPACE(NET_FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	*got = -1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	do
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		int fds[NET_FDS_MAX];
		size_t nfd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (nfd > NET_FDS_MAX)
			nfd = NET_FDS_MAX;
		memcpy(fds, CMSG_DATA(cm), nfd * sizeof(int));
		for (size_t i = 0; i < nfd; i++) {
			if (*got < 0)
				*got = fds[i];
			else
				close(fds[i]);
		}
	}
	return n;
}
