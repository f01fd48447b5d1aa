/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_control_client.c: the peer-side client against an in-process scheduler server (its loop
 * in a thread, stopped through an eventfd) on loopback, with short timers: announces keep an
 * idle client connected while a silent raw connection is dropped, and the blocking call form
 * works end to end.
 */
#include "vx_test.h"

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vx_ctl_msg.h"
#include "vx_sched_client.h"
#include "vx_sched_server.h"
#include "vx_time.h"

#define TASK "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct fixture {
	struct vx_sched_server *srv;
	pthread_t thr;
	int stop_fd;
	char dir[1100];
	char db[1200];
	int rc;
};

static void *serve(void *arg)
{
	struct fixture *f = arg;

	f->rc = vx_sched_server_run(f->srv, f->stop_fd);
	return NULL;
}

#define TEST_HOST_KEY "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int setup(void **state)
{
	struct vx_sched_server_cfg cfg;
	struct fixture *f = calloc(1, sizeof(*f));
	const char *bin = getenv("VX_BINARY_DIR");

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/control-client-XXXXXX", bin ? bin : ".");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/s.db", f->dir);
	vx_sched_server_cfg_default(&cfg);
	cfg.listen = "127.0.0.1:0";
	cfg.db_path = f->db;
	cfg.idle_ms = 1000;
	cfg.hello_ms = 1000;
	cfg.announce_ms = 200;
	cfg.insecure_open = true; /* these tests are about the client; tokens: control_swarm */
	if (vx_sched_server_new(&f->srv, &cfg) != 0)
		return -1;
	f->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (f->stop_fd == -1 || pthread_create(&f->thr, NULL, serve, f) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	uint64_t one = 1;
	char cmd[1300];
	int rc;

	if (write(f->stop_fd, &one, sizeof(one)) != sizeof(one))
		return -1;
	pthread_join(f->thr, NULL);
	vx_sched_server_free(f->srv);
	close(f->stop_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	rc = f->rc;
	free(f);
	return rc == 0 ? 0 : -1; /* the loop stopped cleanly */
}

static struct vx_sched_client *client_ev(struct fixture *f, const char *id,
					 vx_sched_client_event_cb on_event, void *arg)
{
	struct vx_sched_client_cfg cfg = { 0 };
	struct vx_sched_client *c;
	char srv[32];

	snprintf(srv, sizeof(srv), "127.0.0.1:%u", vx_sched_server_port(f->srv));
	cfg.servers[0] = srv;
	cfg.nr_servers = 1;
	cfg.hello.host_id = vx_ctl_str_of(id);
	cfg.hello.addr = vx_ctl_str_of("127.0.0.1");
	cfg.hello.port = 1;
	cfg.hello.host_key = vx_ctl_str_of(TEST_HOST_KEY);
	cfg.on_event = on_event;
	cfg.arg = arg;
	assert_int_equal(vx_sched_client_new(&c, &cfg), 0);
	return c;
}

static struct vx_sched_client *client(struct fixture *f, const char *id)
{
	return client_ev(f, id, NULL, NULL);
}

static int answer_kind = -1;

static void on_answer(void *arg, int status, const struct vx_ctl_msg *m)
{
	(void)arg;
	assert_int_equal(status, 0);
	answer_kind = (int)m->answer;
}

static void test_vx_sched_client_process__announces_keep_it_up(void **state)
{
	struct fixture *f = *state;
	struct vx_sched_client *c = client(f, "127.0.0.1-idle");
	struct sockaddr_in a = { .sin_family = AF_INET };
	uint64_t end;
	char buf[8];
	int raw;

	a.sin_port = htons(vx_sched_server_port(f->srv));
	a.sin_addr.s_addr = htonl(0x7f000001);
	raw = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(raw, (struct sockaddr *)&a, sizeof(a)), 0);
	end = vx_now_ms() + 3000; /* three idle timeouts */
	while (vx_now_ms() < end)
		assert_int_equal(vx_sched_client_process(c, 20), 0);
	assert_true(vx_sched_client_up(c, 0));
	assert_int_equal(vx_sched_client_drops(c, 0), 0); /* never timed out as idle */
	/* the raw connection said nothing: closed by the server */
	{
		struct pollfd p = { .fd = raw, .events = POLLIN };

		assert_int_equal(poll(&p, 1, 2000), 1);
		assert_true(read(raw, buf, sizeof(buf)) <= 0);
	}
	close(raw);
	vx_sched_client_free(c);
}

static void test_vx_sched_client_call__blocking_form(void **state)
{
	struct fixture *f = *state;
	struct vx_sched_client *c = client(f, "127.0.0.1-call");
	struct vx_ctl_msg m = { 0 };

	m.type = VX_CTL_REGISTER;
	m.task_id = vx_ctl_str_of(TASK);
	m.content_len = -1;
	m.has = VX_CTL_F_TASK_ID | VX_CTL_F_CONTENT_LEN;
	answer_kind = -1;
	/* not registered with the client: sent as a plain request once the hello is done */
	assert_int_equal(vx_sched_client_call(c, &m, on_answer, NULL, 5000), 0);
	assert_int_equal(answer_kind, VX_CTL_ANS_BACK_TO_SOURCE);
	vx_sched_client_free(c);
}

/* What on_event saw: answers to requests sent without a callback, named with their task. */
struct seen {
	int answers[VX_CTL_TYPE_NR];
	int answer_kind;
	uint32_t digests;
	bool named;
};

static void on_seen(void *arg, uint32_t server, const struct vx_ctl_msg *m)
{
	struct seen *x = arg;

	(void)server;
	if (m->tag == VX_TAG_CONTROL_EVENT) {
		x->digests += m->nr_digests; /* a manifest push: the other way digests come */
		return;
	}
	if (m->type >= VX_CTL_TYPE_NR)
		return;
	x->answers[m->type]++;
	x->named = (m->has & VX_CTL_F_TASK_ID) && vx_ctl_str_eq(m->task_id, TASK);
	if (m->has & VX_CTL_F_ANSWER)
		x->answer_kind = (int)m->answer;
	x->digests += m->nr_digests;
}

static void pump(struct vx_sched_client *a, struct vx_sched_client *b, const int *cond, int want)
{
	uint64_t end = vx_now_ms() + 5000;

	while (*cond < want && vx_now_ms() < end) {
		assert_int_equal(vx_sched_client_process(a, 10), 0);
		if (b)
			assert_int_equal(vx_sched_client_process(b, 10), 0);
	}
	assert_true(*cond >= want);
}

static int send_progress(struct vx_sched_client *c, uint32_t piece, bool origin)
{
	struct vx_ctl_digest d = { .piece = piece, .digest = vx_ctl_str_of("crc32:7") };
	uint8_t bits[1] = { (uint8_t)(0x80u >> piece) };
	struct vx_ctl_msg m = { 0 };

	m.type = VX_CTL_PROGRESS;
	m.task_id = vx_ctl_str_of(TASK);
	m.bitmap = bits;
	m.bitmap_len = 1;
	m.has = VX_CTL_F_TASK_ID | VX_CTL_F_BITMAP;
	if (origin) {
		m.digests = &d;
		m.nr_digests = 1;
		m.content_len = 8 * 4096;
		m.piece_len = 4096;
		m.has |= VX_CTL_F_DIGESTS | VX_CTL_F_CONTENT_LEN | VX_CTL_F_PIECE_LEN;
	}
	return vx_sched_client_send(c, &m, NULL, NULL);
}

/*
 * Register and progress sent without a callback: their answers reach on_event named with the
 * task (responses carry no task id), and a progress answer brings the manifest's new digests.
 */
static void test_vx_sched_client_send__answers_without_callback_named(void **state)
{
	struct fixture *f = *state;
	struct seen sa = { .answer_kind = -1 }, sb = { .answer_kind = -1 };
	struct vx_sched_client *a = client_ev(f, "127.0.0.1-origin", on_seen, &sa);
	struct vx_sched_client *b = client_ev(f, "127.0.0.1-child", on_seen, &sb);
	struct vx_sched_client_task t = { .task_id = vx_ctl_str_of(TASK), .content_len = -1 };

	assert_int_equal(vx_sched_client_register(a, &t, NULL, NULL), 0);
	pump(a, NULL, &sa.answers[VX_CTL_REGISTER], 1);
	assert_true(sa.named);
	assert_int_equal(sa.answer_kind, VX_CTL_ANS_BACK_TO_SOURCE);
	assert_int_equal(send_progress(a, 0, true), 0);
	pump(a, NULL, &sa.answers[VX_CTL_PROGRESS], 1);
	assert_int_equal(vx_sched_client_register(b, &t, NULL, NULL), 0);
	pump(b, a, &sb.answers[VX_CTL_REGISTER], 1);
	assert_true(sb.named);
	assert_int_equal(sb.digests, 1); /* piece 0's, in the register answer */
	/*
	 * the origin reports piece 1: its digest reaches the child in a manifest push or, when
	 * the child's progress comes first, in that progress answer (which on_event must see)
	 */
	assert_int_equal(send_progress(a, 1, true), 0);
	pump(a, NULL, &sa.answers[VX_CTL_PROGRESS], 2);
	assert_int_equal(send_progress(b, 0, false), 0);
	pump(b, a, &sb.answers[VX_CTL_PROGRESS], 1);
	assert_true(sb.named);
	assert_true(sb.digests >= 2);
	vx_sched_client_free(b);
	vx_sched_client_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_sched_client_process__announces_keep_it_up),
		cmocka_unit_test(test_vx_sched_client_call__blocking_form),
		cmocka_unit_test(test_vx_sched_client_send__answers_without_callback_named),
	};

	return cmocka_run_group_tests_name("control_client", tests, setup, teardown);
}
