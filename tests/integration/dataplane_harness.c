/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dataplane_harness.c: see dataplane_harness.h.
 */
#include "vx_test.h"

#include "dataplane_harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <ftw.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lz4.h>
#include <zlib.h>

#include "vx_bytes.h"

void vx_h_write_pattern(const char *path, uint64_t len, uint32_t seed)
{
	uint8_t buf[65536];
	uint64_t x = seed * 2654435761u + 1, done = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	while (done < len) {
		size_t n = (size_t)(len - done < sizeof(buf) ? len - done : sizeof(buf));
		size_t i;

		for (i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (uint8_t)x;
		}
		assert_int_equal(write(fd, buf, n), (ssize_t)n);
		done += n;
	}
	close(fd);
}

void vx_h_tmpdir(char *out)
{
	const char *base = getenv("VX_BINARY_DIR");

	snprintf(out, PATH_MAX, "%s/vx-dataplane-XXXXXX", base ? base : ".");
	assert_non_null(mkdtemp(out));
}

void vx_h_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX + 300];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path); /* best effort: keep walking */
	return 0;
}

void vx_h_rmtree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

bool vx_h_files_equal(const char *a, const char *b)
{
	static uint8_t ba[1 << 20], bb[1 << 20];
	int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
	bool eq = fa >= 0 && fb >= 0;
	struct stat sa, sb;

	if (eq && (fstat(fa, &sa) || fstat(fb, &sb) || sa.st_size != sb.st_size))
		eq = false;
	while (eq) {
		ssize_t na = read(fa, ba, sizeof(ba));
		ssize_t nb = read(fb, bb, sizeof(bb));

		if (na != nb || na < 0 || memcmp(ba, bb, (size_t)na) != 0)
			eq = false;
		if (na <= 0)
			break;
	}
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return eq;
}

/* ---- server thread ---------------------------------------------------------------------- */

struct vx_h_start {
	struct vx_h_server *s;
	const char *path;
	uint64_t content_length;
	uint64_t piece_length;
};

static void h_on_wake(struct vx_loop *loop, void *arg)
{
	struct vx_h_server *s = arg;
	uint32_t i;

	(void)loop;
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->mbox_len; i++) {
		vx_file_task_set(s->task, s->mbox[i], s->mbox_finished[i]);
		if (s->mbox_finished[i])
			vx_upload_piece_finished(s->up, VX_H_TASK_ID, s->mbox[i]);
	}
	s->mbox_len = 0;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void h_on_stop(struct vx_loop *loop, void *arg)
{
	struct vx_h_server *s = arg;

	(void)loop;
	vx_upload_shutdown(s->up);
}

static void *h_server_main(void *arg)
{
	struct vx_h_start *st = arg;
	struct vx_h_server *s = st->s;
	struct vx_file_task_cfg fcfg = { 0 };
	struct sockaddr_storage ss;
	socklen_t sl;
	int ret;

	ret = vx_loop_new(&s->loop, NULL);
	if (ret == 0) {
		fcfg.path = st->path;
		fcfg.task_id = VX_H_TASK_ID;
		fcfg.content_length = st->content_length;
		fcfg.piece_length = st->piece_length;
		fcfg.seed = true;
		fcfg.parent_id = "127.0.0.1-harness";
		ret = vx_file_task_open(&s->task, &fcfg);
	}
	if (ret == 0) {
		s->cfg.ops = vx_file_task_source_ops();
		s->cfg.ops_ctx = s->task;
		ret = vx_upload_new(&s->up, s->loop, &s->cfg);
	}
	pthread_mutex_lock(&s->lock);
	s->start_err = ret;
	if (ret == 0) {
		vx_upload_local_addr(s->up, &ss, &sl);
		memcpy(&s->addr, &ss, sizeof(s->addr));
	}
	s->ready = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (ret < 0)
		return NULL;
	vx_loop_set_on_wake(s->loop, h_on_wake, s);
	vx_loop_set_on_stop(s->loop, h_on_stop, s);
	ret = vx_loop_run(s->loop);
	assert_int_equal(ret, 0);
	pthread_mutex_lock(&s->lock);
	vx_upload_stats(s->up, &s->stats);
	s->lent_at_exit = vx_file_task_lent(s->task);
	pthread_mutex_unlock(&s->lock);
	vx_upload_free(s->up);
	vx_loop_free(s->loop);
	vx_file_task_close(s->task);
	return NULL;
}

void vx_h_server_start(struct vx_h_server *s, const char *path, uint64_t content_length,
		       uint64_t piece_length, const struct vx_upload_cfg *cfg)
{
	static struct vx_h_start st;

	memset(s, 0, sizeof(*s));
	if (cfg) {
		s->cfg = *cfg;
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&s->cfg.addr;

		vx_upload_cfg_init(&s->cfg);
		sin->sin_port = 0;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	st.s = s;
	st.path = path;
	st.content_length = content_length;
	st.piece_length = piece_length;
	assert_int_equal(pthread_create(&s->thread, NULL, h_server_main, &st), 0);
	pthread_mutex_lock(&s->lock);
	while (!s->ready)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	assert_int_equal(s->start_err, 0);
}

void vx_h_server_set(struct vx_h_server *s, uint32_t number, bool finished)
{
	pthread_mutex_lock(&s->lock);
	assert_true(s->mbox_len < 64);
	s->mbox[s->mbox_len] = number;
	s->mbox_finished[s->mbox_len] = finished;
	s->mbox_len++;
	vx_loop_wake(s->loop);
	while (s->mbox_len > 0)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

void vx_h_server_finish_many(struct vx_h_server *s, const uint32_t *numbers, uint32_t nr)
{
	uint32_t i;

	pthread_mutex_lock(&s->lock);
	assert_true(s->mbox_len + nr <= 64);
	for (i = 0; i < nr; i++) {
		s->mbox[s->mbox_len] = numbers[i];
		s->mbox_finished[s->mbox_len] = true;
		s->mbox_len++;
	}
	vx_loop_wake(s->loop);
	while (s->mbox_len > 0)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

void vx_h_server_stop(struct vx_h_server *s)
{
	/* under s->lock: the server thread, stopped, takes it before it frees the loop */
	pthread_mutex_lock(&s->lock);
	vx_loop_stop(s->loop);
	pthread_mutex_unlock(&s->lock);
	assert_int_equal(pthread_join(s->thread, NULL), 0);
	assert_int_equal(s->lent_at_exit, 0);
	assert_int_equal(s->stats.conns, 0);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
}

/* ---- raw client ------------------------------------------------------------------------- */

int vx_h_connect(const struct sockaddr_in *addr)
{
	struct timeval tv = { .tv_sec = 5 };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	/* Like Dragonfly's downloader: TCP_NODELAY and keepalive on every connection. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int vx_h_send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int vx_h_recv_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);

		/*
		 * With SO_RCVTIMEO set any wakeup for pending work is EINTR, not a restart: the
		 * teardown of vx_ring_probe()'s ring queues task work on this thread, and a
		 * Dragonfly client would just call again.
		 */
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int vx_h_send_download(int fd, const char *task_id, uint32_t number)
{
	uint8_t f[74];

	f[0] = (uint8_t)rand();
	f[1] = 0;
	vx_put_be32(f + 2, 68);
	memcpy(f + 6, task_id, 64);
	vx_put_be32(f + 70, number);
	return vx_h_send_all(fd, f, sizeof(f));
}

int vx_h_send_cancel(int fd, const char *task_id, uint32_t number)
{
	uint8_t f[74];

	f[0] = (uint8_t)rand();
	f[1] = 0x44;
	vx_put_be32(f + 2, 68);
	memcpy(f + 6, task_id, 64);
	vx_put_be32(f + 70, number);
	return vx_h_send_all(fd, f, sizeof(f));
}

int vx_h_hello(int fd)
{
	/* features PIPELINE | AVAILABILITY | CANCEL: this reader takes no lz4 bodies */
	uint8_t f[22] = { 0, 0x40, 0,	 0, 0, 16, 'V', 'X', 0, 1, 0,
			  0, 0,	   0x0b, 0, 0, 0,  8,	0,   0, 1, 0 };
	uint8_t r[22];

	if (vx_h_send_all(fd, f, sizeof(f)) || vx_h_recv_all(fd, r, sizeof(r)))
		return -1;
	if (r[1] != 0x40 || vx_get_be32(r + 2) != 16 || r[6] != 'V' || r[7] != 'X')
		return -1;
	return (int)vx_get_be32(r + 10);
}

int vx_h_read_answer(int fd, struct vx_h_answer *a)
{
	uint8_t hdr[6], ml[4], meta[4096];
	uint32_t len, mlen, dlen, plen;

	memset(a, 0, sizeof(*a));
	if (vx_h_recv_all(fd, hdr, 6))
		return -1;
	a->tag = hdr[1];
	len = vx_get_be32(hdr + 2);
	if (a->tag == 0xFF) {
		if (len < 1 || len > sizeof(meta) || vx_h_recv_all(fd, meta, len))
			return -1;
		a->error_code = meta[0];
		memcpy(a->error_msg, meta + 1,
		       len - 1 < sizeof(a->error_msg) - 1 ? len - 1 : sizeof(a->error_msg) - 1);
		return 0;
	}
	if (vx_h_recv_all(fd, ml, 4))
		return -1;
	mlen = vx_get_be32(ml);
	if (len != 4 + mlen || mlen > sizeof(meta) || mlen < 45 || vx_h_recv_all(fd, meta, mlen))
		return -1;
	a->number = vx_get_be32(meta);
	a->offset = vx_get_be64(meta + 4);
	a->length = vx_get_be64(meta + 12);
	dlen = vx_get_be32(meta + 20);
	if (dlen >= sizeof(a->digest) || 24 + dlen + 4 > mlen)
		return -1;
	memcpy(a->digest, meta + 24, dlen);
	plen = vx_get_be32(meta + 24 + dlen);
	if (mlen != 45 + dlen + plen || meta[28 + dlen + plen] != 1)
		return -1;
	a->body = malloc(a->length ? a->length : 1);
	if (!a->body || vx_h_recv_all(fd, a->body, a->length))
		return -1;
	return 0;
}

void vx_h_answer_free(struct vx_h_answer *a)
{
	free(a->body);
	a->body = NULL;
}

/* ---- raw Dragonfly-like server ----------------------------------------------------------- */

struct vx_h_raw_conn {
	struct vx_h_raw *r;
	int fd;
};

static bool raw_wait_readable(struct vx_h_raw *r, int fd)
{
	while (!r->stop) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 50) > 0)
			return true;
	}
	return false;
}

static bool raw_lz4(const struct vx_h_raw *r)
{
	return r->mode >= VX_H_RAW_LZ4 && r->mode <= VX_H_RAW_LZ4_SHORT;
}

/*
 * The lz4 modes' body: @len plain bytes at @plain compressed into a new buffer (*@clen
 * bytes), spoiled as the mode says; the length announced goes to *@say. NULL on no memory.
 */
static uint8_t *raw_lz4_body(const struct vx_h_raw *r, const uint8_t *plain, uint64_t len,
			     uint32_t *clen, uint32_t *say)
{
	int bound = LZ4_compressBound((int)len);
	uint8_t *src = malloc(len ? len : 1);
	uint8_t *out = malloc((size_t)bound + 64);
	uint64_t n = len;
	int c;

	if (!src || !out) {
		free(src);
		free(out);
		return NULL;
	}
	memcpy(src, plain, len);
	if (r->mode == VX_H_RAW_LZ4_CORRUPT)
		src[len / 2] ^= 0x5a;
	if (r->mode == VX_H_RAW_LZ4_SHORT)
		n--;
	c = LZ4_compress_default((const char *)src, (char *)out, (int)n, bound);
	free(src);
	*clen = (uint32_t)c;
	*say = (uint32_t)c;
	if (r->mode == VX_H_RAW_LZ4_BAD_BLOCK)
		out[0] = 0x0f; /* no literals, then a match: its offset reaches before the start */
	if (r->mode == VX_H_RAW_LZ4_OVER_BOUND) {
		/* announce (and send) more than any block of the piece may take */
		*say = (uint32_t)bound + 1;
		*clen = *say;
	}
	return out;
}

/* Sends the PieceContent answer to a request for piece @n (honest, or as the mode spoils it). */
static int raw_answer(struct vx_h_raw *r, int fd, uint32_t n)
{
	bool lz = raw_lz4(r);
	uint32_t clen = 0, say = 0;
	uint8_t head[6 + 4 + 45 + 32];
	uint32_t mlen, dlen;
	uint64_t off, len;
	char digest[32];
	uint8_t *body;
	int rc = -1;

	off = (uint64_t)n * r->piece;
	if (off >= r->len)
		return -1;
	len = r->len - off < r->piece ? r->len - off : r->piece;
	dlen = (uint32_t)snprintf(digest, sizeof(digest), "crc32:%lu",
				  crc32(0, r->content + off, (uInt)len));
	mlen = 45 + dlen;
	head[0] = 1;
	head[1] = lz ? 0x45 : 0x01;
	vx_put_be32(head + 2, 4 + mlen + (lz ? 5 : 0));
	vx_put_be32(head + 6, mlen);
	vx_put_be32(head + 10, n);
	vx_put_be64(head + 14, off);
	vx_put_be64(head + 22, len);
	vx_put_be32(head + 30, dlen);
	memcpy(head + 34, digest, dlen);
	vx_put_be32(head + 34 + dlen, 0);
	head[38 + dlen] = 1;
	vx_put_be64(head + 39 + dlen, 0);
	vx_put_be64(head + 47 + dlen, 1700000000);
	if (lz) {
		body = raw_lz4_body(r, r->content + off, len, &clen, &say);
		if (!body)
			return -1;
		head[10 + mlen] = 1; /* one LZ4 block */
		vx_put_be32(head + 11 + mlen, say);
		rc = vx_h_send_all(fd, head, 15 + mlen) || vx_h_send_all(fd, body, clen) ? -1 : 0;
		free(body);
		if (rc == 0) {
			pthread_mutex_lock(&r->lock);
			r->served++;
			pthread_mutex_unlock(&r->lock);
		}
		return rc;
	}
	if (vx_h_send_all(fd, head, 10 + mlen))
		return -1;
	body = malloc(len ? len : 1);
	memcpy(body, r->content + off, len);
	if (r->mode == VX_H_RAW_CORRUPT && len > 0)
		body[len / 2] ^= 0x5a;
	if (r->mode == VX_H_RAW_DIE_MID) {
		vx_h_send_all(fd, body, len / 2);
		goto out;
	}
	if (vx_h_send_all(fd, body, len))
		goto out;
	pthread_mutex_lock(&r->lock);
	r->served++;
	pthread_mutex_unlock(&r->lock);
	rc = 0;
out:
	free(body);
	return rc;
}

/* VX_H_RAW_VX_CLOSE_FIRST after the HELLO header @hdr: the vx session, frame by frame. */
static void raw_vx_session(struct vx_h_raw *r, int fd, const uint8_t hdr[6])
{
	uint8_t v[256], out[6 + 16];
	uint32_t len = vx_get_be32(hdr + 2);
	uint8_t h[6];

	if (len > sizeof(v) || vx_h_recv_all(fd, v, len))
		return;
	out[0] = 1;
	out[1] = 0x40;
	vx_put_be32(out + 2, 16);
	out[6] = 'V';
	out[7] = 'X';
	out[8] = 0;
	out[9] = 1; /* version */
	/* PIPELINE (and LZ4 in the lz4 modes): no availability, every piece */
	vx_put_be32(out + 10, raw_lz4(r) ? 5u : 1u);
	vx_put_be32(out + 14, 8u);    /* max_inflight */
	vx_put_be32(out + 18, 4096u); /* max_value_len */
	if (vx_h_send_all(fd, out, sizeof(out)))
		return;
	for (;;) {
		if (!raw_wait_readable(r, fd) || vx_h_recv_all(fd, h, 6))
			return;
		len = vx_get_be32(h + 2);
		if (len > sizeof(v) || vx_h_recv_all(fd, v, len))
			return;
		if (h[1] != 0x00)
			continue; /* INTEREST, CANCEL: nothing to do for a parent with every piece */
		if (len != 68)
			return;
		pthread_mutex_lock(&r->lock);
		if (r->mode == VX_H_RAW_VX_CLOSE_FIRST && r->closed_unanswered == 0) {
			r->closed_unanswered++;
			pthread_mutex_unlock(&r->lock);
			return; /* closed on the request, at a frame boundary */
		}
		pthread_mutex_unlock(&r->lock);
		if (raw_answer(r, fd, vx_get_be32(v + 64)))
			return;
	}
}

static void *raw_conn_main(void *arg)
{
	struct vx_h_raw_conn *rc = arg;
	struct vx_h_raw *r = rc->r;
	uint8_t hdr[6], req[68];

	if (!raw_wait_readable(r, rc->fd) || vx_h_recv_all(rc->fd, hdr, 6))
		goto out;
	if ((r->mode == VX_H_RAW_VX_CLOSE_FIRST || raw_lz4(r)) && hdr[1] == 0x40) {
		raw_vx_session(r, rc->fd, hdr);
		goto out;
	}
	if (hdr[1] != 0x00 || vx_get_be32(hdr + 2) != 68) {
		/* Dragonfly's server drops the connection on anything it does not know. */
		pthread_mutex_lock(&r->lock);
		r->hellos++;
		pthread_mutex_unlock(&r->lock);
		goto out;
	}
	if (vx_h_recv_all(rc->fd, req, 68))
		goto out;
	if (r->mode == VX_H_RAW_STALL) {
		raw_wait_readable(r, rc->fd);
		while (!r->stop)
			usleep(20000);
		goto out;
	}
	(void)raw_answer(r, rc->fd, vx_get_be32(req + 64));
out:
	close(rc->fd);
	pthread_mutex_lock(&r->lock);
	r->active--;
	pthread_mutex_unlock(&r->lock);
	free(rc);
	return NULL;
}

static void *raw_main(void *arg)
{
	struct vx_h_raw *r = arg;

	while (!r->stop) {
		struct vx_h_raw_conn *rc;
		pthread_t t;
		int fd;

		if (!raw_wait_readable(r, r->lfd))
			break;
		fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		rc = malloc(sizeof(*rc));
		rc->r = r;
		rc->fd = fd;
		pthread_mutex_lock(&r->lock);
		r->accepted++;
		r->active++;
		pthread_mutex_unlock(&r->lock);
		if (pthread_create(&t, NULL, raw_conn_main, rc) != 0) {
			close(fd);
			free(rc);
			pthread_mutex_lock(&r->lock);
			r->active--;
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

void vx_h_raw_start(struct vx_h_raw *r, enum vx_h_raw_mode mode, const uint8_t *content,
		    uint64_t len, uint64_t piece)
{
	socklen_t sl = sizeof(r->addr);

	memset(r, 0, sizeof(*r));
	r->mode = mode;
	r->content = content;
	r->len = len;
	r->piece = piece;
	pthread_mutex_init(&r->lock, NULL);
	r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(r->lfd >= 0);
	r->addr.sin_family = AF_INET;
	r->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(r->lfd, (struct sockaddr *)&r->addr, sizeof(r->addr)), 0);
	assert_int_equal(listen(r->lfd, 128), 0);
	assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&r->addr, &sl), 0);
	assert_int_equal(pthread_create(&r->thread, NULL, raw_main, r), 0);
}

void vx_h_raw_stop(struct vx_h_raw *r)
{
	int i;

	r->stop = 1;
	pthread_join(r->thread, NULL);
	for (i = 0; i < 500; i++) {
		int active;

		pthread_mutex_lock(&r->lock);
		active = r->active;
		pthread_mutex_unlock(&r->lock);
		if (active == 0)
			break;
		usleep(10000);
	}
	close(r->lfd);
	pthread_mutex_destroy(&r->lock);
}
