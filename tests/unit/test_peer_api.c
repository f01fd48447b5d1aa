/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_peer_api.c: the local API end to end over real unix sockets: libvx (vx_client.h) against
 * the real API server (vx_api.h) with fake daemon ops in this file. Downloads with progress and
 * the final answer, stream mode passing a real (read-only) descriptor, list/stat/delete, a
 * client leaving mid-download (cancel, then progress and done stay safe), the server freed
 * under a running download, the client limit, peer credentials (a child as uid 65534 refused,
 * a member of the socket's group accepted, also through the user's supplementary groups),
 * stale sockets, a second server, the socket's mode, bad requests and idle clients.
 */
#include "vx_test.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_api.h"
#include "vx_client.h"
#include "vx_api_msg.h"
#include "vx_ctl_msg.h"
#include "vx_err.h"

#define TASK_A	   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define TASK_B	   "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define TASK_C	   "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define TASK_NO	   "0000000000000000000000000000000000000000000000000000000000000000"
#define WAIT_S	   20 /* upper bound of any wait for an event; never a measured time */
#define NOBODY	   65534
#define TEST_GID   12345
#define STREAM_LEN 100000u

enum fake_mode {
	FAKE_THREAD = 0, /* a worker posts progress, then done */
	FAKE_NOW,	 /* done inside download(), with an error */
	FAKE_STREAM,	 /* a worker passes the content fd, grows contiguous, then done */
	FAKE_HOLD,	 /* keep the call until the test ends it */
	FAKE_FLOOD,	 /* a worker posts many progress updates, then done */
};

struct fake {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum fake_mode mode;
	struct vx_api_call *call;
	int downloads;
	int cancels;
	int dones;
	bool worker;
	pthread_t tid;
	char url[256];
	char output[256];
	char header0[64];
	bool stream;
	bool overwrite;
	uint32_t priority;
	uid_t uid;
	pid_t pid;
	char deleted[VX_DOWNLOAD_TASK_ID_LEN + 1];
	uint32_t flood;
};

struct fixture {
	char dir[64];
	char path[128];
	struct fake fake;
	struct vx_api_server *srv;
	struct vx_api_server_cfg cfg;
};

/* ---------------------------------------------------------------- Fake daemon */

static void fake_progress(struct vx_download_progress *p, uint64_t done, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->task_id, TASK_A, VX_DOWNLOAD_TASK_ID_LEN + 1);
	p->content_length = total;
	p->bytes_done = done;
	p->from_peers = done / 2;
	p->from_source = done - done / 2;
	p->contiguous = done;
	p->elapsed_ms = done / 1000;
	p->piece_count = (uint32_t)(total / 1000);
	p->pieces_done = (uint32_t)(done / 1000);
}

static void fake_finish(struct fake *f, struct vx_api_call *call, uint64_t total)
{
	struct vx_download_result r;

	memset(&r, 0, sizeof(r));
	memcpy(r.task_id, TASK_A, VX_DOWNLOAD_TASK_ID_LEN + 1);
	r.stage = 6;
	r.source_status = 200;
	fake_progress(&r.totals, total, total);
	pthread_mutex_lock(&f->lock);
	f->dones++;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	vx_api_call_done(call, &r);
}

static void *fake_worker(void *arg)
{
	struct fake *f = arg;
	struct vx_api_call *call = f->call;
	struct vx_download_progress p;

	if (f->mode == FAKE_STREAM) {
		char path[] = "/tmp/vx-api-content-XXXXXX";
		uint8_t *data = vx_malloc(STREAM_LEN);
		int fd = mkstemp(path);

		assert_non_null(data);
		assert_true(fd >= 0);
		unlink(path);
		for (uint32_t i = 0; i < STREAM_LEN; i++)
			data[i] = (uint8_t)(i * 7 + 3);
		assert_int_equal(write(fd, data, STREAM_LEN), STREAM_LEN);
		vx_free(data);
		/* the daemon's descriptor is read-write; the client must get a read-only one */
		vx_api_call_send_fd(call, fd);
		close(fd);
		for (uint64_t done = STREAM_LEN / 4; done <= STREAM_LEN; done += STREAM_LEN / 4) {
			fake_progress(&p, done, STREAM_LEN);
			vx_api_call_progress(call, &p);
		}
		fake_finish(f, call, STREAM_LEN);
		return NULL;
	}
	if (f->mode == FAKE_FLOOD) {
		for (uint32_t i = 1; i <= f->flood; i++) {
			fake_progress(&p, i, f->flood);
			vx_api_call_progress(call, &p);
		}
		fake_finish(f, call, f->flood);
		return NULL;
	}
	for (uint64_t done = 1000; done <= 10000; done += 1000) {
		fake_progress(&p, done, 10000);
		vx_api_call_progress(call, &p);
	}
	fake_finish(f, call, 10000);
	return NULL;
}

static void fake_download(void *ctx, struct vx_api_call *call, const struct vx_download_request *r)
{
	struct fake *f = ctx;
	struct vx_download_result res;

	assert_ptr_equal(vx_api_call_request(call), r);
	pthread_mutex_lock(&f->lock);
	f->downloads++;
	f->call = call;
	snprintf(f->url, sizeof(f->url), "%s", r->url);
	snprintf(f->output, sizeof(f->output), "%s", r->output ? r->output : "");
	snprintf(f->header0, sizeof(f->header0), "%s", r->nr_headers ? r->headers[0] : "");
	f->stream = r->output == NULL;
	f->overwrite = r->overwrite;
	f->priority = r->priority;
	f->uid = r->uid;
	f->pid = r->pid;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	switch (f->mode) {
	case FAKE_NOW:
		memset(&res, 0, sizeof(res));
		res.status = VX_ESOURCE_NOTFOUND;
		res.stage = 3;
		res.source_status = 404;
		snprintf(res.msg, sizeof(res.msg), "origin answered 404 for %s", r->url);
		vx_api_call_done(call, &res);
		break;
	case FAKE_HOLD:
		break;
	default:
		f->worker = true;
		assert_int_equal(pthread_create(&f->tid, NULL, fake_worker, f), 0);
	}
}

static void fake_cancel(void *ctx, struct vx_api_call *call)
{
	struct fake *f = ctx;

	pthread_mutex_lock(&f->lock);
	if (f->call == call)
		f->cancels++;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

static void fake_info(struct vx_download_task *t, const char *id, enum vx_download_task_state state,
		      int64_t len)
{
	memcpy(t->task_id, id, VX_DOWNLOAD_TASK_ID_LEN + 1);
	t->url = id[0] == 'c' ? "" : "http://127.0.0.1/x";
	t->state = state;
	t->content_length = len;
	t->piece_count = 3;
	t->pieces_done = state == VX_DOWNLOAD_TASK_DONE ? 3 : 1;
}

static int fake_stat(void *ctx, const char *task_id, struct vx_download_task *out)
{
	(void)ctx;
	if (strcmp(task_id, TASK_A))
		return -ENOENT;
	fake_info(out, TASK_A, VX_DOWNLOAD_TASK_DONE, 12345);
	return 0;
}

static uint32_t fake_list(void *ctx, struct vx_download_task *out, uint32_t max)
{
	(void)ctx;
	assert_int_equal(max, VX_API_LIST_MAX);
	fake_info(&out[0], TASK_A, VX_DOWNLOAD_TASK_DONE, 12345);
	fake_info(&out[1], TASK_B, VX_DOWNLOAD_TASK_RUNNING, -1);
	fake_info(&out[2], TASK_C, VX_DOWNLOAD_TASK_PENDING, 0);
	return 3;
}

static int fake_remove(void *ctx, const char *task_id)
{
	struct fake *f = ctx;

	if (!strcmp(task_id, TASK_B))
		return -EBUSY;
	if (strcmp(task_id, TASK_A))
		return -ENOENT;
	pthread_mutex_lock(&f->lock);
	memcpy(f->deleted, task_id, VX_DOWNLOAD_TASK_ID_LEN + 1);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static const struct vx_api_ops fake_ops = {
	.download = fake_download,
	.cancel = fake_cancel,
	.stat = fake_stat,
	.list = fake_list,
	.remove = fake_remove,
};

/* Waits (bounded by WAIT_S) until *@counter reaches @want under the fake's lock. */
static bool fake_wait(struct fake *f, const int *counter, int want)
{
	struct timespec ts;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_S;
	pthread_mutex_lock(&f->lock);
	while (*counter < want) {
		if (pthread_cond_timedwait(&f->cond, &f->lock, &ts) == ETIMEDOUT)
			break;
	}
	ok = *counter >= want;
	pthread_mutex_unlock(&f->lock);
	return ok;
}

static void fake_join(struct fake *f)
{
	if (f->worker)
		pthread_join(f->tid, NULL);
	f->worker = false;
}

/* ---------------------------------------------------------------- Fixture */

static int setup(void **state)
{
	struct fixture *fx = vx_calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/vx-api-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	/* uid 65534 in the credential tests must reach the socket */
	assert_int_equal(chmod(fx->dir, 0755), 0);
	/* a directory the server must create */
	snprintf(fx->path, sizeof(fx->path), "%s/run/api.sock", fx->dir);
	pthread_mutex_init(&fx->fake.lock, NULL);
	pthread_cond_init(&fx->fake.cond, NULL);
	fx->cfg.socket_path = fx->path;
	fx->cfg.ops = &fake_ops;
	fx->cfg.ctx = &fx->fake;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	vx_api_server_free(fx->srv);
	fake_join(&fx->fake);
	pthread_cond_destroy(&fx->fake.cond);
	pthread_mutex_destroy(&fx->fake.lock);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	assert_int_equal(system(cmd), 0);
	vx_free(fx);
	return 0;
}

static void start(struct fixture *fx)
{
	assert_int_equal(vx_api_server_new(&fx->srv, &fx->cfg), 0);
}

static struct vx_client *dial(struct fixture *fx)
{
	struct vx_client *c = NULL;

	assert_int_equal(vx_client_connect(&c, fx->path, 5000), 0);
	return c;
}

/* ---------------------------------------------------------------- Downloads */

struct seen {
	int events;
	uint64_t last_done;
	bool monotonic;
	int fd_first_event; /* index of the first event with a descriptor, -1 none */
	uint64_t read_bytes;
	bool content_ok;
	bool write_refused;
	int sleep_us; /* slow reader */
};

static void on_progress(void *arg, const struct vx_download_progress *p, int fd)
{
	struct seen *s = arg;

	if (p->bytes_done < s->last_done)
		s->monotonic = false;
	s->last_done = p->bytes_done;
	if (fd >= 0 && s->fd_first_event < 0) {
		s->fd_first_event = s->events;
		/* read-only: a client must never write into the daemon's storage */
		s->write_refused = write(fd, "x", 1) == -1 && errno == EBADF;
	}
	while (fd >= 0 && s->read_bytes < p->contiguous) {
		uint8_t b[4096];
		ssize_t n = pread(fd, b, VX_MIN(sizeof(b), (size_t)(p->contiguous - s->read_bytes)),
				  (off_t)s->read_bytes);

		if (n <= 0) {
			s->content_ok = false;
			break;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (b[i] != (uint8_t)((s->read_bytes + (uint64_t)i) * 7 + 3))
				s->content_ok = false;
		}
		s->read_bytes += (uint64_t)n;
	}
	s->events++;
	if (s->sleep_us)
		usleep((useconds_t)s->sleep_us);
}

static void seen_init(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	s->monotonic = true;
	s->fd_first_event = -1;
	s->content_ok = true;
}

static void test_api__download_progress_and_result(void **state)
{
	struct fixture *fx = *state;
	const char *hdrs[] = { "Authorization: Bearer t", "X-A: 1" };
	struct vx_download_request req = { 0 };
	struct vx_download_result res;
	struct seen s;
	struct vx_client *c;

	start(fx);
	c = dial(fx);
	seen_init(&s);
	req.url = "http://127.0.0.1:1/file";
	req.output = "/tmp/out";
	req.headers = hdrs;
	req.nr_headers = 2;
	req.digest = "sha256:" TASK_A;
	req.overwrite = true;
	req.priority = 4;
	assert_int_equal(vx_client_download(c, &req, on_progress, &s, &res), 0);
	assert_int_equal(res.status, 0);
	assert_string_equal(res.task_id, TASK_A);
	assert_int_equal(res.stage, 6);
	assert_int_equal(res.source_status, 200);
	assert_int_equal(res.totals.content_length, 10000);
	assert_int_equal(res.totals.bytes_done, 10000);
	assert_int_equal(res.totals.from_peers + res.totals.from_source, 10000);
	assert_int_equal(res.totals.piece_count, 10);
	assert_string_equal(res.msg, "");
	/* coalesced, so between 0 and 10 events, in order, and never beyond the end */
	assert_true(s.events <= 10);
	assert_true(s.monotonic);
	assert_true(s.last_done <= 10000);
	assert_int_equal(s.fd_first_event, -1); /* not stream mode: no descriptor */
	fake_join(&fx->fake);
	/* the daemon saw the request as sent, with our credentials */
	assert_string_equal(fx->fake.url, "http://127.0.0.1:1/file");
	assert_string_equal(fx->fake.output, "/tmp/out");
	assert_string_equal(fx->fake.header0, "Authorization: Bearer t");
	assert_false(fx->fake.stream);
	assert_true(fx->fake.overwrite);
	assert_int_equal(fx->fake.priority, 4);
	assert_int_equal(fx->fake.uid, getuid());
	assert_int_equal(fx->fake.pid, getpid());

	/* A failure inside download() itself: status, text, stage and origin status come back. */
	fx->fake.mode = FAKE_NOW;
	assert_int_equal(vx_client_download(c, &req, NULL, NULL, &res), VX_ESOURCE_NOTFOUND);
	assert_int_equal(res.source_status, 404);
	assert_int_equal(res.stage, 3);
	assert_string_equal(res.msg, "origin answered 404 for http://127.0.0.1:1/file");
	assert_string_equal(res.task_id, "");
	assert_string_equal(vx_client_errmsg(c), res.msg);
	assert_int_equal(fx->fake.downloads, 2);
	vx_client_close(c);
}

static void test_api__download_stream_passes_readonly_fd(void **state)
{
	struct fixture *fx = *state;
	struct vx_download_request req = { 0 };
	struct vx_download_result res;
	struct seen s;
	struct vx_client *c;

	fx->fake.mode = FAKE_STREAM;
	start(fx);
	c = dial(fx);
	seen_init(&s);
	req.url = "http://127.0.0.1:1/stream";
	assert_int_equal(vx_client_download(c, &req, on_progress, &s, &res), 0);
	assert_true(fx->fake.stream);
	assert_true(s.fd_first_event >= 0);
	assert_true(s.write_refused);
	assert_true(s.content_ok);
	/* the final callback drained everything */
	assert_int_equal(s.read_bytes, STREAM_LEN);
	assert_int_equal(res.totals.contiguous, STREAM_LEN);
	vx_client_close(c);
}

static void test_api__slow_client_sees_coalesced_progress(void **state)
{
	struct fixture *fx = *state;
	struct vx_download_request req = { 0 };
	struct vx_download_result res;
	struct seen s;
	struct vx_client *c;

	fx->fake.mode = FAKE_FLOOD;
	fx->fake.flood = 200000;
	start(fx);
	c = dial(fx);
	seen_init(&s);
	s.sleep_us = 2000;
	req.url = "http://127.0.0.1:1/flood";
	req.output = "/tmp/flood";
	assert_int_equal(vx_client_download(c, &req, on_progress, &s, &res), 0);
	assert_int_equal(res.totals.bytes_done, 200000);
	/* every update delivered would have taken the slow reader 400 s */
	assert_true(s.events < 200000);
	assert_true(s.monotonic);
	vx_client_close(c);
}

struct bg_download {
	struct vx_client *c;
	struct vx_download_result res;
	int rc;
};

static void *bg_download(void *arg)
{
	struct bg_download *b = arg;
	struct vx_download_request req = { 0 };

	req.url = "http://127.0.0.1:1/held";
	req.output = "/tmp/held";
	b->rc = vx_client_download(b->c, &req, NULL, NULL, &b->res);
	return NULL;
}

static void post_after_end(struct vx_api_call *call)
{
	struct vx_download_progress p;
	struct vx_download_result r;

	/* the daemon's thread, after the client or the server is gone: dropped, never a crash */
	fake_progress(&p, 1, 2);
	vx_api_call_progress(call, &p);
	vx_api_call_send_fd(call, 0);
	memset(&r, 0, sizeof(r));
	r.status = -ECANCELED;
	vx_api_call_done(call, &r);
}

static void test_api__client_leaves_mid_download(void **state)
{
	struct fixture *fx = *state;
	struct vx_download_request req = { 0 };
	struct vx_download_result res;
	struct vx_client *c;
	int fd;
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	fx->fake.mode = FAKE_HOLD;
	start(fx);
	/* a raw client sends a download and hangs up without waiting */
	{
		struct vx_api_msg m = { 0 };
		uint8_t buf[512];
		ssize_t n;

		m.tag = VX_TAG_CONTROL_REQUEST;
		m.type = VX_API_DOWNLOAD;
		m.rid = 1;
		m.url = vx_ctl_str_of("http://127.0.0.1:1/x");
		m.has = VX_API_F_URL;
		n = vx_api_msg_encode(&m, buf, sizeof(buf));
		assert_true(n > 0);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		memcpy(a.sun_path, fx->path, strlen(fx->path) + 1);
		assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(send(fd, buf, (size_t)n, 0), n);
	}
	assert_true(fake_wait(&fx->fake, &fx->fake.downloads, 1));
	close(fd);
	assert_true(fake_wait(&fx->fake, &fx->fake.cancels, 1));
	post_after_end(fx->fake.call);

	/* the server goes on serving others */
	fx->fake.mode = FAKE_NOW;
	c = dial(fx);
	req.url = "http://127.0.0.1:1/y";
	assert_int_equal(vx_client_download(c, &req, NULL, NULL, &res), VX_ESOURCE_NOTFOUND);
	vx_client_close(c);
}

static void test_api__server_freed_under_a_download(void **state)
{
	struct fixture *fx = *state;
	struct bg_download b = { 0 };
	pthread_t t;

	fx->fake.mode = FAKE_HOLD;
	start(fx);
	b.c = dial(fx);
	assert_int_equal(pthread_create(&t, NULL, bg_download, &b), 0);
	assert_true(fake_wait(&fx->fake, &fx->fake.downloads, 1));
	vx_api_server_free(fx->srv);
	fx->srv = NULL;
	assert_int_equal(fx->fake.cancels, 1);
	pthread_join(t, NULL);
	assert_int_equal(b.rc, -ECONNRESET);
	assert_int_equal(b.res.status, -ECONNRESET);
	assert_string_equal(b.res.msg, "the daemon closed the connection");
	post_after_end(fx->fake.call);
	vx_client_close(b.c);
	/* the socket path went with the server */
	assert_int_equal(access(fx->path, F_OK), -1);
}

/* ---------------------------------------------------------------- Tasks */

struct listed {
	int n;
	char ids[4][VX_DOWNLOAD_TASK_ID_LEN + 1];
	char url0[64];
	int64_t len1;
};

static void on_task(void *arg, const struct vx_download_task *t)
{
	struct listed *l = arg;

	if (l->n < 4)
		memcpy(l->ids[l->n], t->task_id, sizeof(l->ids[0]));
	if (l->n == 0)
		snprintf(l->url0, sizeof(l->url0), "%.63s", t->url);
	if (l->n == 1)
		l->len1 = t->content_length;
	l->n++;
}

static void test_api__list_stat_delete(void **state)
{
	struct fixture *fx = *state;
	struct vx_download_task *t = vx_malloc(sizeof(*t));
	struct listed l = { 0 };
	struct vx_client *c;
	bool more = true;

	assert_non_null(t);
	start(fx);
	c = dial(fx);
	assert_int_equal(vx_client_list(c, on_task, &l, &more), 3);
	assert_false(more);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.ids[0], TASK_A);
	assert_string_equal(l.ids[2], TASK_C);
	assert_string_equal(l.url0, "http://127.0.0.1/x");
	assert_int_equal(l.len1, -1);

	assert_int_equal(vx_client_stat(c, TASK_A, t), 0);
	assert_string_equal(t->task_id, TASK_A);
	assert_string_equal(t->url, "http://127.0.0.1/x");
	assert_int_equal(t->state, VX_DOWNLOAD_TASK_DONE);
	assert_int_equal(t->content_length, 12345);
	assert_int_equal(t->pieces_done, 3);
	assert_int_equal(vx_client_stat(c, TASK_NO, t), -ENOENT);
	assert_string_equal(vx_client_errmsg(c), "no such task");
	assert_int_equal(vx_client_stat(c, "ABC", t), -EINVAL);

	assert_int_equal(vx_client_delete(c, TASK_B), -EBUSY);
	assert_int_equal(vx_client_delete(c, TASK_NO), -ENOENT);
	assert_int_equal(vx_client_delete(c, TASK_A), 0);
	assert_string_equal(fx->fake.deleted, TASK_A);
	assert_int_equal(vx_client_delete(c, NULL), -EINVAL);
	vx_client_close(c);
	vx_free(t);
}

/* ---------------------------------------------------------------- Limits and bad input */

static int raw_dial(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memcpy(a.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Reads one whole frame (bounded wait) and decodes it into *@m (borrowing @buf). */
static int raw_read(int fd, uint8_t *buf, size_t cap, struct vx_api_msg *m)
{
	struct vx_frame_hdr f;
	size_t len = 0;
	ssize_t n;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (len >= VX_FRAME_HDR_LEN) {
			vx_frame_hdr_decode(buf, &f);
			n = VX_FRAME_HDR_LEN + (ssize_t)f.length;
			if (len >= (size_t)n)
				break;
		}
		if (poll(&p, 1, WAIT_S * 1000) != 1)
			return -ETIMEDOUT;
		n = recv(fd, buf + len, cap - len, 0);
		if (n <= 0)
			return n == 0 ? -ECONNRESET : -errno;
		len += (size_t)n;
	}
	return vx_api_msg_decode(f.tag, buf + VX_FRAME_HDR_LEN, f.length, m);
}

static void raw_send(int fd, struct vx_api_msg *m)
{
	uint8_t buf[4096];
	ssize_t n = vx_api_msg_encode(m, buf, sizeof(buf));

	assert_true(n > 0);
	assert_int_equal(send(fd, buf, (size_t)n, MSG_NOSIGNAL), n);
}

static void test_api__65th_client_refused(void **state)
{
	struct fixture *fx = *state;
	struct vx_client *cs[VX_API_CLIENTS_MAX + 1];
	struct vx_download_task *t = vx_malloc(sizeof(*t));

	assert_non_null(t);
	start(fx);
	/* one uid (ours) holds at most VX_API_UID_CONNS: the next of it is refused */
	for (int i = 0; i < (int)VX_API_UID_CONNS; i++) {
		cs[i] = dial(fx);
		assert_int_equal(vx_client_stat(cs[i], TASK_A, t), 0);
	}
	cs[VX_API_UID_CONNS] = dial(fx);
	assert_int_equal(vx_client_stat(cs[VX_API_UID_CONNS], TASK_A, t), -EUSERS);
	assert_non_null(strstr(vx_client_errmsg(cs[VX_API_UID_CONNS]), "api.max_conns_per_uid"));
	vx_client_close(cs[VX_API_UID_CONNS]);
	/* without that limit, VX_API_CLIENTS_MAX clients, each known to the server (it answered
	 * them) */
	vx_api_server_set_conns_per_uid(fx->srv, 0);
	for (int i = VX_API_UID_CONNS; i < VX_API_CLIENTS_MAX; i++) {
		cs[i] = dial(fx);
		assert_int_equal(vx_client_stat(cs[i], TASK_A, t), 0);
	}
	cs[VX_API_CLIENTS_MAX] = dial(fx); /* the kernel accepts; the server refuses */
	assert_int_equal(vx_client_stat(cs[VX_API_CLIENTS_MAX], TASK_A, t), -EUSERS);
	assert_non_null(strstr(vx_client_errmsg(cs[VX_API_CLIENTS_MAX]), "already serves 256"));
	/* those inside are still served */
	assert_int_equal(vx_client_stat(cs[0], TASK_A, t), 0);
	for (int i = 0; i <= VX_API_CLIENTS_MAX; i++)
		vx_client_close(cs[i]);
	vx_free(t);
}

static void test_api__bad_requests(void **state)
{
	struct fixture *fx = *state;
	struct vx_download_request req = { 0 };
	struct vx_download_result res;
	const char *bad_hdr[] = { "no colon here" };
	const char *inject[] = { "X-A: 1\r\nX-B: 2" };
	struct vx_api_msg m = { 0 }, a;
	uint8_t buf[4096];
	struct vx_client *c;
	int fd;

	start(fx);
	c = dial(fx);
	/* caught by the client before anything is sent */
	assert_int_equal(vx_client_download(c, &req, NULL, NULL, &res), -EINVAL);
	assert_string_equal(res.msg, "download: no url");
	req.url = "http://127.0.0.1:1/x";
	req.output = "relative/out";
	assert_int_equal(vx_client_download(c, &req, NULL, NULL, &res), -EINVAL);
	req.output = "/tmp/out";
	req.priority = 9;
	assert_int_equal(vx_client_download(c, &req, NULL, NULL, &res), -EINVAL);
	req.priority = 0;
	/* caught by the server, with its text */
	req.digest = "md5:00";
	assert_int_equal(vx_client_download(c, &req, NULL, NULL, &res), -EINVAL);
	assert_non_null(strstr(res.msg, "digest md5:00"));
	req.digest = "crc32:4294967296";
	assert_int_equal(vx_client_download(c, &req, NULL, NULL, &res), -EINVAL);
	req.digest = "crc32:4294967295";
	req.headers = bad_hdr;
	req.nr_headers = 1;
	assert_int_equal(vx_client_download(c, &req, NULL, NULL, &res), -EINVAL);
	req.headers = inject;
	assert_int_equal(vx_client_download(c, &req, NULL, NULL, &res), -EINVAL);
	assert_int_equal(fx->fake.downloads, 0);
	vx_client_close(c);

	/* a request that is not for this socket: -EOPNOTSUPP with its rid */
	fd = raw_dial(fx->path);
	assert_true(fd >= 0);
	m.tag = VX_TAG_CONTROL_REQUEST;
	m.type = (enum vx_api_type)VX_CTL_ANNOUNCE; /* a scheduler request */
	m.rid = 42;
	raw_send(fd, &m);
	assert_int_equal(raw_read(fd, buf, sizeof(buf), &a), 0);
	assert_int_equal(a.rid, 42);
	assert_int_equal(a.status, -EOPNOTSUPP);
	vx_api_msg_release(&a);
	/* a second download while one is in flight on the same connection: -EBUSY */
	fx->fake.mode = FAKE_HOLD;
	m.type = VX_API_DOWNLOAD;
	m.url = vx_ctl_str_of("http://127.0.0.1:1/z");
	m.has = VX_API_F_URL;
	m.rid = 43;
	raw_send(fd, &m);
	assert_true(fake_wait(&fx->fake, &fx->fake.downloads, 1));
	m.rid = 44;
	raw_send(fd, &m);
	assert_int_equal(raw_read(fd, buf, sizeof(buf), &a), 0);
	assert_int_equal(a.rid, 44);
	assert_int_equal(a.status, -EBUSY);
	vx_api_msg_release(&a);
	/* garbage: the connection is closed, and the held download cancelled */
	assert_int_equal(send(fd, "\x01\x60\x00\x00\x00\x02\xff\xff", 8, MSG_NOSIGNAL), 8);
	assert_int_equal(raw_read(fd, buf, sizeof(buf), &a), -ECONNRESET);
	assert_true(fake_wait(&fx->fake, &fx->fake.cancels, 1));
	post_after_end(fx->fake.call);
	close(fd);
	/* a frame header announcing more than the limit: closed before anything is buffered */
	fd = raw_dial(fx->path);
	assert_int_equal(send(fd, "\x01\x60\x7f\x00\x00\x00", 6, MSG_NOSIGNAL), 6);
	assert_int_equal(raw_read(fd, buf, sizeof(buf), &a), -ECONNRESET);
	close(fd);
}

static void test_api__idle_client_dropped(void **state)
{
	struct fixture *fx = *state;
	struct listed l = { 0 };
	struct vx_client *c;
	uint8_t buf[64];
	struct vx_api_msg a;
	int fd;

	fx->cfg.idle_timeout_ms = 100;
	start(fx);
	c = dial(fx);
	fd = raw_dial(fx->path);
	assert_true(fd >= 0);
	/* silent: the server hangs up (the wait is bounded, nothing is timed) */
	assert_int_equal(raw_read(fd, buf, sizeof(buf), &a), -ECONNRESET);
	close(fd);
	/* the handle dialled before it was dropped too; the next call reconnects by itself */
	assert_int_equal(vx_client_list(c, on_task, &l, NULL), 3);
	vx_client_close(c);
}

/* ---------------------------------------------------------------- The socket file */

static void test_api__socket_mode_stale_and_second_server(void **state)
{
	struct fixture *fx = *state;
	struct vx_api_server *second = NULL;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct vx_download_task *t = vx_malloc(sizeof(*t));
	struct vx_client *c;
	struct stat st;
	int fd;

	assert_non_null(t);
	/* a socket file left behind by a dead daemon */
	snprintf(fx->path, sizeof(fx->path), "%s/api.sock", fx->dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memcpy(a.sun_path, fx->path, strlen(fx->path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
	assert_int_equal(stat(fx->path, &st), 0);
	start(fx);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_string_equal(vx_api_server_path(fx->srv), fx->path);

	/* a live daemon is never displaced */
	assert_int_equal(vx_api_server_new(&second, &fx->cfg), -EADDRINUSE);
	assert_null(second);
	c = dial(fx);
	assert_int_equal(vx_client_stat(c, TASK_A, t), 0);
	vx_client_close(c);
	vx_api_server_free(fx->srv);
	fx->srv = NULL;
	assert_int_equal(access(fx->path, F_OK), -1);

	/* something that is not a socket is left alone */
	fd = open(fx->path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(vx_api_server_new(&second, &fx->cfg), -ENOTSOCK);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(fx->path);

	/* bad configuration */
	fx->cfg.mode = 01777;
	assert_int_equal(vx_api_server_new(&second, &fx->cfg), -EINVAL);
	fx->cfg.mode = 0;
	fx->cfg.max_clients = VX_API_CLIENTS_MAX + 1;
	assert_int_equal(vx_api_server_new(&second, &fx->cfg), -EINVAL);
	fx->cfg.max_clients = 0;
	fx->cfg.group = "no-such-group-vx";
	assert_int_equal(vx_api_server_new(&second, &fx->cfg), -ENOENT);
	fx->cfg.group = NULL;
	assert_int_equal(access(fx->path, F_OK), -1);
	vx_free(t);
}

/* ---------------------------------------------------------------- Credentials */

/*
 * A child forked before the server starts (so it copies no server thread), waiting for a byte
 * on @go; it drops to @uid with primary group @gid and no other, connects, lists, and exits with
 * 0 served, 10 + the errno of a refused call, 50 when the connect itself failed with EACCES.
 */
static pid_t child_as(const char *path, uid_t uid, gid_t gid, int *go)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vx_client *c = NULL;
		char b;
		int rc;

		close(p[1]);
		if (read(p[0], &b, 1) != 1)
			_exit(90);
		if (setgroups(0, NULL) || setgid(gid) || setuid(uid))
			_exit(91);
		rc = vx_client_connect(&c, path, 5000);
		if (rc == -EACCES)
			_exit(50);
		if (rc)
			_exit(92);
		rc = vx_client_list(c, NULL, NULL, NULL);
		vx_client_close(c);
		_exit(rc >= 0 ? 0 : 10 + (-rc > 40 ? 40 : -rc));
	}
	close(p[0]);
	*go = p[1];
	return pid;
}

static int child_result(pid_t pid, int go)
{
	int st;

	assert_int_equal(write(go, "g", 1), 1);
	close(go);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void test_api__peer_credentials(void **state)
{
	struct fixture *fx = *state;
	pid_t pid;
	int go;

	if (geteuid() != 0) {
		print_message("needs root to switch to uid %d\n", NOBODY);
		skip();
	}
	/* 0660 root:root: uid 65534 cannot even connect */
	pid = child_as(fx->path, NOBODY, NOBODY, &go);
	start(fx);
	assert_int_equal(child_result(pid, go), 50);
	vx_api_server_free(fx->srv);
	fx->srv = NULL;

	/* a socket opened wide (0666): the peer-credential check refuses with EACCES */
	pid = child_as(fx->path, NOBODY, NOBODY, &go);
	fx->cfg.mode = 0666;
	start(fx);
	assert_int_equal(child_result(pid, go), 10 + EACCES);
	vx_api_server_free(fx->srv);
	fx->srv = NULL;

	/* 0660 with the socket's group TEST_GID: a member of that group is served */
	pid = child_as(fx->path, NOBODY, TEST_GID, &go);
	fx->cfg.mode = 0;
	fx->cfg.group = "12345";
	start(fx);
	assert_int_equal(child_result(pid, go), 0);
	{
		struct stat st;

		assert_int_equal(stat(fx->path, &st), 0);
		assert_int_equal(st.st_gid, TEST_GID);
	}
}

/* Finds a user listed as a member of a group that is not its primary group (/etc/group). */
static bool find_supplementary(uid_t *uid, gid_t *primary, char *gname, size_t cap)
{
	struct group *g;
	bool found = false;

	setgrent();
	while (!found && (g = getgrent())) {
		for (char **m = g->gr_mem; *m && !found; m++) {
			struct passwd *pw = getpwnam(*m);

			if (pw && pw->pw_uid != 0 && pw->pw_gid != g->gr_gid) {
				*uid = pw->pw_uid;
				*primary = pw->pw_gid;
				snprintf(gname, cap, "%s", g->gr_name);
				found = true;
			}
		}
	}
	endgrent();
	return found;
}

static void test_api__supplementary_group_member(void **state)
{
	struct fixture *fx = *state;
	char gname[64];
	uid_t uid = 0;
	gid_t primary = 0;
	pid_t pid;
	int go;

	if (geteuid() != 0 || !find_supplementary(&uid, &primary, gname, sizeof(gname))) {
		print_message("needs root and a user with a supplementary group in /etc/group\n");
		skip();
	}
	/*
	 * 0666, so the file mode lets anyone connect and only the credential check decides. The
	 * child runs with its primary group alone: the server must find the membership through
	 * the user's entry (getgrouplist), as for a login shell that has the group.
	 */
	fx->cfg.mode = 0666;
	fx->cfg.group = gname;
	pid = child_as(fx->path, uid, primary, &go);
	start(fx);
	assert_int_equal(child_result(pid, go), 0);
	vx_api_server_free(fx->srv);
	fx->srv = NULL;
	/* the same user against a group it is not in: refused */
	fx->cfg.group = "12345";
	pid = child_as(fx->path, uid, primary, &go);
	start(fx);
	assert_int_equal(child_result(pid, go), 10 + EACCES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_api__download_progress_and_result, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_api__download_stream_passes_readonly_fd, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_api__slow_client_sees_coalesced_progress,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_api__client_leaves_mid_download, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_api__server_freed_under_a_download, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_api__list_stat_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api__65th_client_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api__bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api__idle_client_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api__socket_mode_stale_and_second_server,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_api__peer_credentials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api__supplementary_group_member, setup,
						teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("peer_api", tests, NULL, NULL);
}
