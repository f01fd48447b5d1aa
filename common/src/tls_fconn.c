/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls_fconn.c: vx_tls_fconn.h. Received ciphertext is fed to the session as it comes; plaintext
 * is encrypted only when the session's earlier ciphertext has left, so at most one write's
 * records (TLS_FCONN_CHUNK) wait in memory and the fconn's queue limit stays the backpressure.
 */
#include "vx_tls_fconn.h"

#include <errno.h>
#include <sys/socket.h>

#include "vx_alloc.h"
#include "vx_compiler.h"

#define TLS_FCONN_CHUNK (64u << 10) /* plaintext encrypted per send */

struct tls_fconn {
	struct vx_fconn *c;
	struct vx_tls_sess *s;
};

/* Sends the session's ciphertext: 0 (all gone, or the socket is full), or -errno. */
static int tf_flush(void *arg)
{
	struct tls_fconn *t = arg;

	while (vx_tls_sess_out_pending(t->s)) {
		size_t len;
		const uint8_t *p = vx_tls_sess_out_peek(t->s, &len);
		ssize_t n = send(t->c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return errno == EAGAIN ? 0 : -errno;
		vx_tls_sess_out_consume(t->s, (size_t)n);
	}
	return 0;
}

static ssize_t tf_recv(void *arg, void *buf, size_t len)
{
	struct tls_fconn *t = arg;
	uint8_t ct[16384 + 512]; /* one TLS record */

	for (;;) {
		ssize_t n = vx_tls_sess_read(t->s, buf, len);
		int rc;

		if (n != -EAGAIN) {
			(void)tf_flush(t); /* an alert on the way out, best effort */
			return n;
		}
		rc = tf_flush(t); /* handshake records */
		if (rc)
			return rc;
		n = recv(t->c->fd, ct, sizeof(ct), MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -errno;
		if (n == 0)
			return 0;
		rc = vx_tls_sess_feed(t->s, ct, (size_t)n);
		if (rc)
			return rc;
	}
}

static ssize_t tf_send(void *arg, const void *buf, size_t len, int fd)
{
	struct tls_fconn *t = arg;
	ssize_t n;
	int rc;

	if (fd >= 0)
		return -EINVAL; /* descriptors do not cross a network */
	rc = tf_flush(t);
	if (rc)
		return rc;
	if (vx_tls_sess_out_pending(t->s))
		return -EAGAIN;
	n = vx_tls_sess_write(t->s, buf, VX_MIN(len, TLS_FCONN_CHUNK));
	rc = tf_flush(t); /* the records, or the first handshake flight */
	if (rc)
		return rc;
	return n;
}

static bool tf_want_write(void *arg, size_t queued)
{
	struct tls_fconn *t = arg;

	return vx_tls_sess_out_pending(t->s) || (queued && vx_tls_sess_ready(t->s));
}

static bool tf_has_input(void *arg)
{
	return vx_tls_sess_in_pending(((struct tls_fconn *)arg)->s);
}

static void tf_close(void *arg)
{
	struct tls_fconn *t = arg;

	vx_tls_sess_free(t->s);
	vx_free(t);
}

static const struct vx_fconn_io tf_io = {
	.recv = tf_recv,
	.send = tf_send,
	.flush = tf_flush,
	.want_write = tf_want_write,
	.has_input = tf_has_input,
	.close = tf_close,
};

int vx_tls_fconn_attach(struct vx_fconn *c, struct vx_tls_sess *s)
{
	struct tls_fconn *t = vx_calloc(1, sizeof(*t));

	if (!t) {
		vx_tls_sess_free(s);
		return -ENOMEM;
	}
	t->c = c;
	t->s = s;
	vx_fconn_set_io(c, &tf_io, t);
	return 0;
}

struct vx_tls_sess *vx_tls_fconn_sess(const struct vx_fconn *c)
{
	return c->io == &tf_io ? ((struct tls_fconn *)c->io_arg)->s : NULL;
}
