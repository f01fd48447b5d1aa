/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fconn.c: the framed connection of vx_fconn.h. The output queue compacts before it grows and
 * never holds more than its limit; the input buffer is fixed, so a peer that sends faster than
 * its requests are served fills it and is then simply not read (backpressure through TCP).
 */
#include "vx_fconn.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_compiler.h"
#include "vx_net.h"

void vx_fconn_init(struct vx_fconn *c, int fd, size_t out_max)
{
	int fl;

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->out_fd = -1;
	c->out_max = out_max;
	if (fd >= 0 && (fl = fcntl(fd, F_GETFL)) != -1 && !(fl & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void vx_fconn_set_io(struct vx_fconn *c, const struct vx_fconn_io *io, void *arg)
{
	c->io = io;
	c->io_arg = arg;
}

static ssize_t sock_send(int sfd, const void *buf, size_t len, int fd)
{
	ssize_t n;

	if (fd >= 0)
		return vx_net_send_fd(sfd, buf, len, fd);
	n = send(sfd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	return n == -1 ? -errno : n;
}

static ssize_t io_send(struct vx_fconn *c, const void *buf, size_t len, int fd)
{
	if (c->io)
		return c->io->send(c->io_arg, buf, len, fd);
	return sock_send(c->fd, buf, len, fd);
}

static ssize_t io_recv(struct vx_fconn *c, void *buf, size_t len)
{
	ssize_t n;

	if (c->io)
		return c->io->recv(c->io_arg, buf, len);
	n = recv(c->fd, buf, len, MSG_DONTWAIT);
	return n == -1 ? -errno : n;
}

int vx_fconn_queue(struct vx_fconn *c, const void *p, size_t n, int fd)
{
	size_t left = c->out_len - c->out_off;
	int dfd = -1;

	VX_ASSERT(fd < 0 || left == 0);
	if (left + n > c->out_max)
		return -ENOBUFS;
	if (c->out_off && c->out_len + n > c->out_cap) {
		memmove(c->out, c->out + c->out_off, left);
		c->out_len = left;
		c->out_off = 0;
	}
	if (c->out_len + n > c->out_cap) {
		size_t cap = VX_MIN(VX_MAX(c->out_cap * 2, c->out_len + n), c->out_max);
		uint8_t *nb = vx_realloc(c->out, cap);

		if (!nb)
			return -ENOMEM;
		c->out = nb;
		c->out_cap = cap;
	}
	if (fd >= 0) {
		dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (dfd == -1)
			return -errno;
		if (c->out_fd >= 0)
			close(c->out_fd);
		c->out_fd = dfd;
	}
	if (n)
		memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return 0;
}

int vx_fconn_flush(struct vx_fconn *c)
{
	if (c->io && c->io->flush) {
		int rc = c->io->flush(c->io_arg);

		if (rc)
			return rc;
	}
	while (c->out_off < c->out_len) {
		ssize_t n = io_send(c, c->out + c->out_off, c->out_len - c->out_off, c->out_fd);

		if (n == -EAGAIN)
			break;
		if (n == -EINTR)
			continue;
		if (n < 0)
			return (int)n;
		if (c->out_fd >= 0 && n > 0) {
			close(c->out_fd); /* the kernel holds its own reference now */
			c->out_fd = -1;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->out_cap > VX_FCONN_OUT_KEEP) {
			vx_free(c->out); /* a burst (a task list, a slow peer) is over */
			c->out = NULL;
			c->out_cap = 0;
		}
	}
	return 0;
}

size_t vx_fconn_pending(const struct vx_fconn *c)
{
	return c->out_len - c->out_off;
}

bool vx_fconn_want_write(const struct vx_fconn *c)
{
	if (c->io && c->io->want_write)
		return c->io->want_write(c->io_arg, vx_fconn_pending(c));
	return vx_fconn_pending(c) != 0;
}

int vx_fconn_input(struct vx_fconn *c, vx_fconn_input_fn fn, void *arg)
{
	while (c->in_off < c->in_len) {
		size_t avail = c->in_len - c->in_off;
		ssize_t used = fn(arg, c->in + c->in_off, avail);

		if (used < 0)
			return (int)used; /* @c may be gone */
		VX_ASSERT((size_t)used <= avail);
		c->in_off += (size_t)used;
		if ((size_t)used < avail)
			break; /* paused */
	}
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	return 0;
}

size_t vx_fconn_buffered(const struct vx_fconn *c)
{
	return c->in_len - c->in_off;
}

bool vx_fconn_has_input(const struct vx_fconn *c)
{
	return c->io && c->io->has_input && c->io->has_input(c->io_arg);
}

ssize_t vx_fconn_read(struct vx_fconn *c, vx_fconn_input_fn fn, void *arg)
{
	ssize_t n;
	int rc;

	if (c->in_off && c->in_len == sizeof(c->in)) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->in_len == sizeof(c->in))
		return 0; /* full while paused: read once the owner takes more */
	n = io_recv(c, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n == -EAGAIN || n == -EINTR)
		return 0;
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return n;
	c->in_len += (size_t)n;
	rc = vx_fconn_input(c, fn, arg);
	return rc ? rc : n;
}

void vx_fconn_close(struct vx_fconn *c)
{
	if (c->io && c->io->close) {
		c->io->close(c->io_arg);
		c->io = NULL;
		c->io_arg = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	if (c->out_fd >= 0)
		close(c->out_fd);
	vx_free(c->out);
	c->fd = c->out_fd = -1;
	c->out = NULL;
	c->out_off = c->out_len = c->out_cap = 0;
	c->in_off = c->in_len = 0;
}
