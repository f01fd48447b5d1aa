/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sdk_client.c: libvx against a scripted fake daemon in this file, for what the real
 * server never does: garbage frames, hanging up mid-download, silence, answers of other rids,
 * a refusal on connect; plus the local errors (no socket, stale socket, long path) and a request
 * big enough to need a whole frame. The fake speaks raw frames through the control codec.
 */
#include "vx_test.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_client.h"
#include "vx_api_msg.h"
#include "vx_err.h"

#define TASK   "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define WAIT_S 20

enum script {
	S_GARBAGE_THEN_OK = 0, /* 1st conn: a bad frame; 2nd conn: a proper stat answer */
	S_HANGUP_MID_DOWNLOAD, /* one progress event, then close */
	S_SILENT,	       /* read the request, never answer */
	S_OTHER_RIDS_FIRST,    /* frames of other rids, then the answer */
	S_REFUSE,	       /* a rid-0 -EACCES answer at once, then close */
	S_BIG_REQUEST,	       /* answer a download, recording its header count */
};

struct fake {
	char dir[64];
	char path[128];
	int lfd;
	enum script script;
	pthread_t tid;
	uint32_t seen_headers;
	size_t seen_frame_len;
	int conns;
};

static uint8_t rx[VX_FRAME_HDR_LEN + VX_CTL_FRAME_MAX];

/* Reads one whole frame from @fd into rx and decodes it; bounded wait. */
static int fake_read(int fd, struct vx_api_msg *m, size_t *flen)
{
	struct vx_frame_hdr f;
	size_t len = 0;
	ssize_t n;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (len >= VX_FRAME_HDR_LEN) {
			vx_frame_hdr_decode(rx, &f);
			n = VX_FRAME_HDR_LEN + (ssize_t)f.length;
			if (len >= (size_t)n)
				break;
		}
		if (poll(&p, 1, WAIT_S * 1000) != 1)
			return -ETIMEDOUT;
		n = recv(fd, rx + len, sizeof(rx) - len, 0);
		if (n <= 0)
			return -ECONNRESET;
		len += (size_t)n;
	}
	*flen = (size_t)n;
	return vx_api_msg_decode(f.tag, rx + VX_FRAME_HDR_LEN, f.length, m);
}

static void fake_send(int fd, const struct vx_api_msg *m)
{
	uint8_t buf[2048];
	ssize_t n = vx_api_msg_encode(m, buf, sizeof(buf));

	assert_true(n > 0);
	assert_int_equal(send(fd, buf, (size_t)n, MSG_NOSIGNAL), n);
}

static void answer(int fd, enum vx_api_type type, uint64_t rid, int status)
{
	struct vx_api_msg a = { 0 };

	a.tag = VX_TAG_CONTROL_RESPONSE;
	a.type = type;
	a.rid = rid;
	a.status = status;
	a.has = VX_API_F_STATUS;
	if (type == VX_API_STAT_TASK && status == 0) {
		a.task_id = vx_ctl_str_of(TASK);
		a.state = 2;
		a.content_len = 7;
		a.has |= VX_API_F_TASK_ID | VX_API_F_STATE | VX_API_F_CONTENT_LEN;
	}
	fake_send(fd, &a);
}

static void progress(int fd, uint64_t rid, uint64_t done)
{
	struct vx_api_msg e = { 0 };

	e.tag = VX_TAG_CONTROL_EVENT;
	e.type = VX_API_EVENT;
	e.rid = rid;
	e.event = VX_API_EV_PROGRESS;
	e.task_id = vx_ctl_str_of(TASK);
	e.bytes_done = done;
	e.has = VX_API_F_EVENT | VX_API_F_TASK_ID | VX_API_F_BYTES_DONE;
	fake_send(fd, &e);
}

/* Serves one connection by the script; returns false when the fake should stop accepting. */
static bool fake_conn(struct fake *f, int fd)
{
	struct vx_api_msg m;
	size_t flen;

	f->conns++;
	if (f->script == S_REFUSE) {
		struct vx_api_msg a = { 0 };

		a.tag = VX_TAG_CONTROL_RESPONSE;
		a.type = VX_API_REFUSE;
		a.status = -EACCES;
		a.error = vx_ctl_str_of("uid 1 may not use this daemon");
		a.has = VX_API_F_STATUS | VX_API_F_ERROR;
		fake_send(fd, &a);
		return false;
	}
	if (fake_read(fd, &m, &flen))
		return false;
	switch (f->script) {
	case S_GARBAGE_THEN_OK:
		if (f->conns == 1) {
			assert_int_equal(send(fd, "\x01\x61\x00\x00\x00\x01\xff", 7, MSG_NOSIGNAL),
					 7);
			vx_api_msg_release(&m);
			return true;
		}
		answer(fd, VX_API_STAT_TASK, m.rid, 0);
		break;
	case S_HANGUP_MID_DOWNLOAD:
		progress(fd, m.rid, 5);
		break;
	case S_SILENT: {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		/* wait for the client to give up and hang up */
		while (poll(&p, 1, WAIT_S * 1000) == 1 && recv(fd, rx, sizeof(rx), 0) > 0)
			;
		break;
	}
	case S_OTHER_RIDS_FIRST:
		progress(fd, m.rid + 100, 1);
		answer(fd, VX_API_STAT_TASK, m.rid + 101, -ENOENT);
		answer(fd, VX_API_STAT_TASK, m.rid, 0);
		break;
	case S_BIG_REQUEST:
		f->seen_headers = m.nr_headers;
		f->seen_frame_len = flen;
		answer(fd, VX_API_DOWNLOAD, m.rid, 0);
		break;
	default:
		break;
	}
	vx_api_msg_release(&m);
	return f->script == S_GARBAGE_THEN_OK && f->conns < 2;
}

static void *fake_thread(void *arg)
{
	struct fake *f = arg;

	for (;;) {
		int fd = accept(f->lfd, NULL, NULL);
		bool more;

		if (fd == -1)
			return NULL;
		more = fake_conn(f, fd);
		close(fd);
		if (!more)
			return NULL;
	}
}

static int setup(void **state)
{
	struct fake *f = vx_calloc(1, sizeof(*f));
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/vx-sdk-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/d.sock", f->dir);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	memcpy(a.sun_path, f->path, strlen(f->path) + 1);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->lfd, 8), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->tid, NULL);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	vx_free(f);
	return 0;
}

static struct vx_client *run(struct fake *f, enum script s, uint32_t timeout_ms)
{
	struct vx_client *c = NULL;

	f->script = s;
	assert_int_equal(pthread_create(&f->tid, NULL, fake_thread, f), 0);
	assert_int_equal(vx_client_connect(&c, f->path, timeout_ms), 0);
	return c;
}

static void test_vx_client_connect__local_errors(void **state)
{
	struct fake *f = *state;
	struct vx_client *c = (struct vx_client *)1;
	char longpath[200];
	char stale[160];
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	assert_int_equal(vx_client_connect(&c, "/nonexistent-vx/d.sock", 100), -ENOENT);
	assert_null(c);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(vx_client_connect(&c, longpath, 100), -ENAMETOOLONG);
	assert_int_equal(vx_client_connect(&c, "", 100), -EINVAL);
	/* a socket file nobody listens on */
	snprintf(stale, sizeof(stale), "%s/stale.sock", f->dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memcpy(a.sun_path, stale, strlen(stale) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
	assert_int_equal(vx_client_connect(&c, stale, 100), -ECONNREFUSED);
	unlink(stale);
	/* the fake has nothing to do in this test */
	f->script = S_REFUSE;
	assert_int_equal(pthread_create(&f->tid, NULL, fake_thread, f), 0);
	vx_client_close(NULL);
}

static void test_vx_client__garbage_then_reconnect(void **state)
{
	struct fake *f = *state;
	struct vx_download_task *t = vx_malloc(sizeof(*t));
	struct vx_client *c = run(f, S_GARBAGE_THEN_OK, 5000);

	assert_non_null(t);
	assert_int_equal(vx_client_stat(c, TASK, t), -EPROTO);
	assert_non_null(strstr(vx_client_errmsg(c), "cannot decode"));
	/* the broken connection was dropped; the next call dials a fresh one */
	assert_int_equal(vx_client_stat(c, TASK, t), 0);
	assert_int_equal(t->state, 2);
	assert_int_equal(t->content_length, 7);
	assert_string_equal(t->url, "");
	assert_string_equal(vx_client_errmsg(c), "");
	vx_client_close(c);
	vx_free(t);
}

static int events;

static void count_events(void *arg, const struct vx_download_progress *p, int fd)
{
	(void)arg;
	assert_int_equal(p->bytes_done, 5);
	assert_int_equal(fd, -1);
	events++;
}

static void test_vx_client_download__daemon_hangs_up(void **state)
{
	struct fake *f = *state;
	struct vx_download_request req = { 0 };
	struct vx_download_result res;
	struct vx_client *c = run(f, S_HANGUP_MID_DOWNLOAD, 5000);

	req.url = "http://127.0.0.1:1/x";
	events = 0;
	assert_int_equal(vx_client_download(c, &req, count_events, NULL, &res), -ECONNRESET);
	assert_int_equal(res.status, -ECONNRESET);
	assert_int_equal(events, 1);
	assert_string_equal(res.task_id, TASK); /* learnt from the progress event */
	assert_string_equal(res.msg, "the daemon closed the connection");
	vx_client_close(c);
}

static void test_vx_client_stat__silent_daemon_times_out(void **state)
{
	struct fake *f = *state;
	struct vx_download_task *t = vx_malloc(sizeof(*t));
	struct vx_client *c = run(f, S_SILENT, 200);

	assert_non_null(t);
	assert_int_equal(vx_client_stat(c, TASK, t), -ETIMEDOUT);
	assert_string_equal(vx_client_errmsg(c), "no answer from the daemon in time");
	vx_client_close(c); /* lets the fake see the hang-up */
	vx_free(t);
}

static void test_vx_client_stat__skips_other_rids(void **state)
{
	struct fake *f = *state;
	struct vx_download_task *t = vx_malloc(sizeof(*t));
	struct vx_client *c = run(f, S_OTHER_RIDS_FIRST, 5000);

	assert_non_null(t);
	assert_int_equal(vx_client_stat(c, TASK, t), 0);
	assert_string_equal(t->task_id, TASK);
	vx_client_close(c);
	vx_free(t);
}

static void test_vx_client__refused_on_connect(void **state)
{
	struct fake *f = *state;
	bool more = true;
	struct vx_client *c = run(f, S_REFUSE, 5000);

	assert_int_equal(vx_client_list(c, NULL, NULL, &more), -EACCES);
	assert_false(more);
	assert_string_equal(vx_client_errmsg(c), "uid 1 may not use this daemon");
	vx_client_close(c);
}

static void test_vx_client_download__request_of_a_whole_frame(void **state)
{
	struct fake *f = *state;
	const char *hdrs[VX_DOWNLOAD_HEADERS_MAX + 1];
	struct vx_download_request req = { 0 };
	struct vx_download_result res;
	char *big = vx_malloc(VX_DOWNLOAD_URL_MAX + 2);
	struct vx_client *c = run(f, S_BIG_REQUEST, 5000);

	assert_non_null(big);
	memcpy(big, "X-Big: ", 7);
	memset(big + 7, 'v', VX_DOWNLOAD_URL_MAX - 7);
	big[VX_DOWNLOAD_URL_MAX] = '\0';
	for (int i = 0; i <= VX_DOWNLOAD_HEADERS_MAX; i++)
		hdrs[i] = big;
	req.url = "http://127.0.0.1:1/x";
	req.output = "/tmp/x";
	req.headers = hdrs;
	/* one too many, and one too long: refused before anything is sent */
	req.nr_headers = VX_DOWNLOAD_HEADERS_MAX + 1;
	assert_int_equal(vx_client_download(c, &req, NULL, NULL, &res), -EINVAL);
	big[VX_DOWNLOAD_URL_MAX] = 'v';
	big[VX_DOWNLOAD_URL_MAX + 1] = '\0';
	req.nr_headers = 1;
	assert_int_equal(vx_client_download(c, &req, NULL, NULL, &res), -EINVAL);
	assert_non_null(strstr(res.msg, "headers #0"));
	big[VX_DOWNLOAD_URL_MAX] = '\0';
	/* 64 headers of 8 KiB: half a MiB, past the first buffer, within one frame */
	req.nr_headers = VX_DOWNLOAD_HEADERS_MAX;
	assert_int_equal(vx_client_download(c, &req, NULL, NULL, &res), 0);
	assert_int_equal(f->seen_headers, VX_DOWNLOAD_HEADERS_MAX);
	assert_true(f->seen_frame_len > (size_t)VX_DOWNLOAD_HEADERS_MAX * VX_DOWNLOAD_URL_MAX);
	vx_client_close(c);
	vx_free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vx_client_connect__local_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_client__garbage_then_reconnect, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_client_download__daemon_hangs_up, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_client_stat__silent_daemon_times_out, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_client_stat__skips_other_rids, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_client__refused_on_connect, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_client_download__request_of_a_whole_frame,
						setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("sdk_client", tests, NULL, NULL);
}
