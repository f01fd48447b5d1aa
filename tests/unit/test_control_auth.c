/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_control_auth.c: the scheduler's trust checks, each attacked over a raw control
 * connection against an in-process server on loopback (shared/reference/dragonfly-behaviour.md
 * section 5.5, items 9, 13 and 19; issue 16 items 4 and 5):
 *   - a hello without a token, or with a wrong one, is refused and the connection closed;
 *   - a peer token claiming the seed role is refused;
 *   - a hello naming the seed's host id with another host key is refused, also after a
 *     scheduler restart, and a child is still given the real seed's port;
 *   - a peer's delete-task removes only its own peer of the task; an admin's removes it;
 *   - hosts claiming 169.254.169.254, a host name, CR/LF or nothing are given out under the
 *     address they connect from (127.0.0.1), never the claim;
 *   - the tokens file: no default credential (5.5 item 5), made on first start per install.
 */
#include "vx_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_ctl_msg.h"
#include "vx_sched_server.h"
#include "vx_sched_tokens.h"

#define TASK	  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define T_PEER	  "peer-token-0123456789abcdef"
#define T_SEED	  "seed-token-0123456789abcdef"
#define T_ADMIN	  "admin-token-0123456789abcdef"
#define KEY_SEED  "1111111111111111111111111111111111111111111111111111111111111111"
#define KEY_OTHER "2222222222222222222222222222222222222222222222222222222222222222"
#define KEY_HOST  "3333333333333333333333333333333333333333333333333333333333333333"

struct fixture {
	struct vx_sched_server *srv;
	pthread_t thr;
	int stop_fd;
	char dir[1100];
	char db[1200];
	char tokens[1200];
	int rc;
	uint32_t ids_max; /* host_ids_max; 0: the default */
};

static void *serve(void *arg)
{
	struct fixture *f = arg;

	f->rc = vx_sched_server_run(f->srv, f->stop_fd);
	return NULL;
}

static int server_start(struct fixture *f)
{
	struct vx_sched_server_cfg cfg;

	vx_sched_server_cfg_default(&cfg);
	cfg.listen = "127.0.0.1:0";
	cfg.db_path = f->db;
	cfg.tokens_path = f->tokens;
	cfg.sched.cands = 8;
	if (f->ids_max)
		cfg.host_ids_max = f->ids_max;
	if (vx_sched_server_new(&f->srv, &cfg) != 0)
		return -1;
	f->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (f->stop_fd == -1 || pthread_create(&f->thr, NULL, serve, f) != 0)
		return -1;
	return 0;
}

static void server_stop(struct fixture *f)
{
	uint64_t one = 1;

	assert_int_equal(write(f->stop_fd, &one, sizeof(one)), sizeof(one));
	pthread_join(f->thr, NULL);
	vx_sched_server_free(f->srv);
	close(f->stop_fd);
	f->srv = NULL;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *bin = getenv("VX_BINARY_DIR");
	static const char text[] = "peer " T_PEER "\nseed " T_SEED "\nadmin " T_ADMIN "\n";
	int fd;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/control-auth-XXXXXX", bin ? bin : ".");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/s.db", f->dir);
	snprintf(f->tokens, sizeof(f->tokens), "%s/tokens", f->dir);
	fd = open(f->tokens, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, text, sizeof(text) - 1) != (ssize_t)sizeof(text) - 1)
		return -1;
	close(fd);
	if (server_start(f))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[1300];

	if (f->srv)
		server_stop(f);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* ---------------------------------------------------------------- Raw connections */

/* A connection from 127.0.0.@from (0: any). */
static int dial_from(struct fixture *f, uint8_t from)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (from) {
		a.sin_addr.s_addr = htonl(0x7f000000u | from);
		assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	}
	a.sin_port = htons(vx_sched_server_port(f->srv));
	a.sin_addr.s_addr = htonl(0x7f000001);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static int dial(struct fixture *f)
{
	return dial_from(f, 0);
}

struct answer {
	int64_t status;
	uint32_t nr_cands;
	char addr[8][80];
	uint16_t port[8];
	char id[8][80];
};

/*
 * Sends @m and reads frames (events skipped) until its response; the connection closing
 * first gives status 1. Every read waits at most 5 s.
 */
static void call(int fd, struct vx_ctl_msg *m, struct answer *ans)
{
	static uint64_t rid;
	uint8_t out[4096], in[1];
	struct vx_ctl_reader rd;
	ssize_t n;

	memset(ans, 0, sizeof(*ans));
	m->tag = VX_TAG_CONTROL_REQUEST;
	m->rid = ++rid;
	n = vx_ctl_msg_encode(m, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(write(fd, out, (size_t)n), n);
	assert_int_equal(vx_ctl_reader_init(&rd), 0);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct vx_frame fr;
		struct vx_ctl_msg r;

		assert_int_equal(poll(&p, 1, 5000), 1);
		if (read(fd, in, 1) != 1) {
			ans->status = 1;
			break;
		}
		n = vx_ctl_reader_feed(&rd, in, 1, &fr);
		if (n == -EAGAIN)
			continue;
		assert_true(n > 0);
		assert_int_equal(vx_ctl_msg_decode(fr.hdr.tag, fr.value, fr.value_len, &r), 0);
		if (r.tag == VX_TAG_CONTROL_RESPONSE && r.rid == m->rid) {
			ans->status = r.status;
			for (uint32_t i = 0; i < r.nr_cands && i < 8; i++) {
				snprintf(ans->addr[i], sizeof(ans->addr[i]), "%.*s",
					 (int)r.cands[i].addr.len, r.cands[i].addr.ptr);
				snprintf(ans->id[i], sizeof(ans->id[i]), "%.*s",
					 (int)r.cands[i].host_id.len, r.cands[i].host_id.ptr);
				ans->port[i] = r.cands[i].port;
				ans->nr_cands++;
			}
			vx_ctl_msg_release(&r);
			break;
		}
		vx_ctl_msg_release(&r);
	}
	vx_ctl_reader_free(&rd);
}

/* A hello; @token NULL sends none. Returns the status (1: the connection closed). */
static int64_t hello(int fd, const char *token, uint32_t role, const char *id, const char *key,
		     const char *addr, uint16_t port)
{
	struct vx_ctl_msg m = { 0 };
	struct answer a;

	m.type = VX_CTL_HELLO;
	m.host_id = vx_ctl_str_of(id);
	m.addr = vx_ctl_str_of(addr);
	m.port = port;
	m.role = role;
	m.has = VX_CTL_F_HOST_ID | VX_CTL_F_ADDR | VX_CTL_F_PORT | VX_CTL_F_ROLE;
	if (token) {
		m.token = vx_ctl_str_of(token);
		m.has |= VX_CTL_F_TOKEN;
	}
	if (key) {
		m.host_key = vx_ctl_str_of(key);
		m.has |= VX_CTL_F_HOST_KEY;
	}
	call(fd, &m, &a);
	return a.status;
}

/* The connection was closed by the server (read sees EOF within 5 s). */
static void assert_closed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b[64];

	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_true(read(fd, b, sizeof(b)) <= 0);
}

static void reg(int fd, const uint8_t *bitmap, struct answer *a)
{
	struct vx_ctl_msg m = { 0 };

	m.type = VX_CTL_REGISTER;
	m.task_id = vx_ctl_str_of(TASK);
	m.url = vx_ctl_str_of("http://origin.test/f");
	m.has = VX_CTL_F_TASK_ID | VX_CTL_F_URL;
	if (bitmap) {
		m.bitmap = bitmap;
		m.bitmap_len = 1;
		m.piece_len = 4 << 20;
		m.content_len = 4 << 20;
		m.has |= VX_CTL_F_BITMAP | VX_CTL_F_PIECE_LEN | VX_CTL_F_CONTENT_LEN;
	}
	call(fd, &m, a);
}

static int64_t simple(int fd, enum vx_ctl_type type)
{
	struct vx_ctl_msg m = { 0 };
	struct answer a;

	m.type = type;
	m.task_id = vx_ctl_str_of(TASK);
	m.has = VX_CTL_F_TASK_ID;
	call(fd, &m, &a);
	return a.status;
}

/* ---------------------------------------------------------------- Tests */

static void test_sched_server__hello_needs_a_token(void **state)
{
	struct fixture *f = *state;
	int fd;

	fd = dial(f);
	assert_int_equal(hello(fd, NULL, 0, "127.0.0.1-x", KEY_HOST, "127.0.0.1", 9), -EACCES);
	assert_closed(fd);
	close(fd);
	fd = dial(f);
	assert_int_equal(
		hello(fd, "peer-token-wrong-0123456", 0, "127.0.0.1-x", KEY_HOST, "127.0.0.1", 9),
		-EACCES);
	assert_closed(fd);
	close(fd);
	/* a peer token does not make a seed */
	fd = dial(f);
	assert_int_equal(
		hello(fd, T_PEER, VX_CTL_ROLE_SEED, "127.0.0.1-x", KEY_HOST, "127.0.0.1", 9),
		-EACCES);
	assert_closed(fd);
	close(fd);
	/* nor without a host key */
	fd = dial(f);
	assert_int_equal(hello(fd, T_PEER, 0, "127.0.0.1-x", NULL, "127.0.0.1", 9), -EACCES);
	close(fd);
	fd = dial(f);
	assert_int_equal(
		hello(fd, T_SEED, VX_CTL_ROLE_SEED, "127.0.0.1-x", KEY_HOST, "127.0.0.1", 9), 0);
	close(fd);
}

static void test_sched_server__identity_delete_and_addresses(void **state)
{
	struct fixture *f = *state;
	static const char *const claims[] = { "169.254.169.254", "evil.example.com",
					      "10.0.0.1\r\nX-Injected: 1", "", "0.0.0.0" };
	static const uint8_t all = 0x80;
	int seed, evil, child, h[5], admin;
	struct answer a;
	bool seen_seed = false;

	seed = dial(f);
	assert_int_equal(
		hello(seed, T_SEED, VX_CTL_ROLE_SEED, "seed-1", KEY_SEED, "127.0.0.1", 7000), 0);
	reg(seed, &all, &a);
	assert_int_equal(a.status, 0);
	/* the seed's id with another key: refused, with either token */
	evil = dial(f);
	assert_int_equal(hello(evil, T_PEER, 0, "seed-1", KEY_OTHER, "127.0.0.1", 6666), -EACCES);
	assert_closed(evil);
	close(evil);
	evil = dial(f);
	assert_int_equal(
		hello(evil, T_SEED, VX_CTL_ROLE_SEED, "seed-1", KEY_OTHER, "127.0.0.1", 6666),
		-EACCES);
	close(evil);
	/* hosts claiming addresses that are not theirs; each holds the one piece */
	for (int i = 0; i < 5; i++) {
		char id[32];

		snprintf(id, sizeof(id), "hostile-%d", i);
		h[i] = dial(f);
		assert_int_equal(hello(h[i], T_PEER, 0, id, KEY_HOST, claims[i], 22), 0);
		reg(h[i], &all, &a);
		assert_int_equal(a.status, 0);
	}
	child = dial(f);
	assert_int_equal(hello(child, T_PEER, 0, "child", KEY_HOST, "127.0.0.1", 9000), 0);
	reg(child, NULL, &a);
	assert_int_equal(a.status, 0);
	assert_true(a.nr_cands >= 2);
	for (uint32_t i = 0; i < a.nr_cands; i++) {
		assert_string_equal(a.addr[i], "127.0.0.1"); /* only what the socket showed */
		assert_int_not_equal(a.port[i], 6666);
		if (strcmp(a.id[i], "seed-1") == 0) {
			assert_int_equal(a.port[i], 7000);
			seen_seed = true;
		}
	}
	assert_true(seen_seed);
	/* a peer's delete-task removes only its own peer: the child's task survives */
	assert_int_equal(simple(h[0], VX_CTL_DELETE_TASK), 0);
	assert_int_equal(simple(child, VX_CTL_STAT_TASK), 0);
	assert_int_equal(simple(h[1], VX_CTL_DELETE_TASK), 0);
	assert_int_equal(simple(child, VX_CTL_STAT_TASK), 0);
	/* the admin token deletes it everywhere, and is not a host */
	admin = dial(f);
	assert_int_equal(hello(admin, T_ADMIN, 0, "tool", NULL, "127.0.0.1", 1), 0);
	assert_int_equal(simple(admin, VX_CTL_REGISTER), -EACCES);
	assert_int_equal(simple(admin, VX_CTL_DELETE_TASK), 0);
	assert_int_equal(simple(child, VX_CTL_STAT_TASK), -ENOENT);
	close(admin);
	for (int i = 0; i < 5; i++)
		close(h[i]);
	close(child);
	close(seed);
	/* the binding survives a restart of the scheduler */
	server_stop(f);
	assert_int_equal(server_start(f), 0);
	evil = dial(f);
	assert_int_equal(hello(evil, T_PEER, 0, "seed-1", KEY_OTHER, "127.0.0.1", 6666), -EACCES);
	close(evil);
	seed = dial(f);
	assert_int_equal(
		hello(seed, T_SEED, VX_CTL_ROLE_SEED, "seed-1", KEY_SEED, "127.0.0.1", 7000), 0);
	close(seed);
}

/*
 * Review of issue 16, finding 15: the host-key table is bounded in all, not only per source
 * address (a host with many addresses, an IPv6 /64 for one, could otherwise grow it without
 * end). dragonfly-behaviour.md 5.5 items 13 (per-host limits)
 * and 19 (identity).
 */
static void test_sched_server__host_ids_bounded_in_all(void **state)
{
	struct fixture *f = *state;
	int fd;

	server_stop(f);
	f->ids_max = 3;
	assert_int_equal(server_start(f), 0);
	for (uint8_t i = 1; i <= 4; i++) {
		char id[32];

		snprintf(id, sizeof(id), "many-%u", i);
		fd = dial_from(f, (uint8_t)(10 + i)); /* a fresh source address each time */
		assert_int_equal(hello(fd, T_PEER, 0, id, KEY_HOST, "127.0.0.1", 22),
				 i <= 3 ? 0 : -ENOSPC);
		close(fd);
	}
	/* a bound id still comes back */
	fd = dial_from(f, 11);
	assert_int_equal(hello(fd, T_PEER, 0, "many-1", KEY_HOST, "127.0.0.1", 22), 0);
	close(fd);
}

/*
 * The control channel's tokens file, dragonfly-behaviour.md 5.5 items 5 (no default admin
 * credential: the first start makes one per role, fresh for each install, and never again),
 * 3 (128 random bits each; only the exact token grants its role) and 11 (the file is 0600, a
 * loosened one or a link refuses the start, and a dangling link is not written through). No
 * error message holds a token.
 */
static void test_sched_tokens__made_once_per_install(void **state)
{
	const char *bin = getenv("VX_BINARY_DIR");
	char dir[4096], a[4200], b[4200], l[4200], err[4400], tok[VX_SCHED_TOKEN_MAX + 1];
	struct vx_sched_tokens ta, ta2, tb;
	struct stat st;
	bool created;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/control-tokens-XXXXXX", bin ? bin : ".");
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	snprintf(l, sizeof(l), "%s/l", dir);
	/* first start: made, 0600, one 32-hex-digit token per role, all different */
	assert_int_equal(vx_sched_tokens_load(a, &ta, &created, err, sizeof(err)), 0);
	assert_true(created);
	assert_int_equal(stat(a, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	for (int r = VX_SCHED_AUTH_PEER; r <= VX_SCHED_AUTH_ADMIN; r++) {
		assert_int_equal(strlen(ta.tok[r]), 32);
		assert_int_equal(strspn(ta.tok[r], "0123456789abcdef"), 32);
		assert_int_equal(vx_sched_tokens_check(&ta, vx_ctl_str_of(ta.tok[r])), r);
		for (int q = VX_SCHED_AUTH_PEER; q < r; q++)
			assert_string_not_equal(ta.tok[q], ta.tok[r]);
		/* one digit off, a prefix, nothing: no role */
		snprintf(tok, sizeof(tok), "%s", ta.tok[r]);
		tok[7] = tok[7] == '0' ? '1' : '0';
		assert_int_equal(vx_sched_tokens_check(&ta, vx_ctl_str_of(tok)),
				 VX_SCHED_AUTH_NONE);
		tok[7] = ta.tok[r][7];
		tok[31] = '\0';
		assert_int_equal(vx_sched_tokens_check(&ta, vx_ctl_str_of(tok)),
				 VX_SCHED_AUTH_NONE);
	}
	assert_int_equal(vx_sched_tokens_check(&ta, vx_ctl_str_of("")), VX_SCHED_AUTH_NONE);
	/* the next start reads the same tokens; another install gets others */
	assert_int_equal(vx_sched_tokens_load(a, &ta2, &created, err, sizeof(err)), 0);
	assert_false(created);
	assert_memory_equal(&ta, &ta2, sizeof(ta));
	assert_int_equal(vx_sched_tokens_load(b, &tb, &created, err, sizeof(err)), 0);
	assert_true(created);
	for (int r = VX_SCHED_AUTH_PEER; r <= VX_SCHED_AUTH_ADMIN; r++)
		for (int q = VX_SCHED_AUTH_PEER; q <= VX_SCHED_AUTH_ADMIN; q++)
			assert_string_not_equal(ta.tok[q], tb.tok[r]);
	/* loosened: refused, and the message names the mode, not a token */
	assert_int_equal(chmod(a, 0640), 0);
	assert_int_equal(vx_sched_tokens_load(a, &ta2, &created, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "chmod 600"));
	for (int r = VX_SCHED_AUTH_PEER; r <= VX_SCHED_AUTH_ADMIN; r++)
		assert_null(strstr(err, ta.tok[r]));
	assert_int_equal(chmod(a, 0600), 0);
	/* a daemon's token file (vx serve --token-file) likewise: 0600 read, 0604 refused */
	{
		char t[4300];
		FILE *fp;

		snprintf(t, sizeof(t), "%s/peer.token", dir);
		fp = fopen(t, "w");
		assert_non_null(fp);
		fprintf(fp, "%s\n", ta.tok[VX_SCHED_AUTH_PEER]);
		fclose(fp);
		assert_int_equal(chmod(t, 0600), 0);
		assert_int_equal(vx_sched_token_read(t, tok, err, sizeof(err)), 0);
		assert_string_equal(tok, ta.tok[VX_SCHED_AUTH_PEER]);
		assert_int_equal(chmod(t, 0604), 0);
		assert_int_equal(vx_sched_token_read(t, tok, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "chmod 600"));
		assert_null(strstr(err, ta.tok[VX_SCHED_AUTH_PEER]));
		assert_int_equal(unlink(t), 0);
	}
	/* a link to a good file is not followed */
	assert_int_equal(symlink(a, l), 0);
	assert_true(vx_sched_tokens_load(l, &ta2, &created, err, sizeof(err)) < 0);
	assert_false(created);
	assert_int_equal(unlink(l), 0);
	/* a dangling link: no file is made where it points */
	assert_int_equal(unlink(b), 0);
	assert_int_equal(symlink(b, l), 0);
	assert_true(vx_sched_tokens_load(l, &ta2, &created, err, sizeof(err)) < 0);
	assert_false(created);
	assert_int_equal(access(b, F_OK), -1);
	assert_int_equal(unlink(l), 0);
	assert_int_equal(unlink(a), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sched_server__hello_needs_a_token, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sched_server__identity_delete_and_addresses,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sched_server__host_ids_bounded_in_all, setup,
						teardown),
		cmocka_unit_test(test_sched_tokens__made_once_per_install),
	};

	return cmocka_run_group_tests_name("control_auth", tests, NULL, NULL);
}
