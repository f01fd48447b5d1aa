/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched_client.c: the peer side of the control channel (vx_sched_client.h).
 *
 * Each scheduler connection is a small state machine, checked against cc_legal[][]:
 *
 *   DOWN --connect()--> CONNECTING --writable, no error--> HELLO --hello answered 0--> UP
 *    ^                      |                                 |                       |
 *    +----------------------+------ error, close, timeout ----+-----------------------+
 *
 * DOWN waits for its backoff (doubling from backoff_min_ms to backoff_max_ms, reset by a
 * successful hello). A connection that dropped or could not be set up is "failed": tasks it
 * owned move to the next scheduler in their rendezvous order and are registered again there
 * with the pieces they hold. A task stays with its new owner even when the old one comes back.
 */
#include "vx_sched_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_err.h"
#include "vx_bitmap.h"
#include "vx_fconn.h"
#include "vx_hash.h"
#include "vx_log.h"
#include "vx_net.h"
#include "vx_outbound.h"
#include "vx_time.h"
#include "vx_tls.h"
#include "vx_tls_fconn.h"

#define CC_SENDQ_MAX (8u << 20)

enum cc_state {
	CC_DOWN = 0,
	CC_CONNECTING = 1,
	CC_HELLO = 2,
	CC_UP = 3,
	CC_STATE_NR,
};

static const bool cc_legal[CC_STATE_NR][CC_STATE_NR] = {
	[CC_DOWN] = { [CC_CONNECTING] = true, [CC_HELLO] = true },
	[CC_CONNECTING] = { [CC_HELLO] = true, [CC_DOWN] = true },
	[CC_HELLO] = { [CC_UP] = true, [CC_DOWN] = true },
	[CC_UP] = { [CC_DOWN] = true },
};

struct cc_pending {
	uint64_t rid;
	int32_t task;	       /* register, reschedule, progress: the task's index, else -1 */
	vx_sched_client_cb cb; /* NULL: an automatic re-registration (answer goes to on_event) */
	void *arg;
	uint64_t deadline_ms;
};

struct cc_conn {
	enum cc_state state;
	struct vx_fconn io; /* socket (io.fd -1 while down), output queue, input buffer */
	uint32_t idx;
	char host[256];
	uint16_t port;
	uint32_t hash;
	bool failed;  /* dropped or unreachable since its last good hello */
	bool refused; /* the last hello was refused (-EACCES: our token or host key) */
	bool warned;  /* a failure was logged at warn since the last good hello */
	bool retired; /* left the list (vx_sched_client_set_servers()): never dialled again */
	uint32_t backoff_ms;
	uint64_t retry_ms;
	uint64_t hello_rid;
	uint32_t announce_ms; /* from the hello answer */
	uint32_t drops;	      /* times an established (UP) connection was lost */
	uint64_t next_announce_ms;
	uint64_t rx_ms; /* last input (the announce's answer is the heartbeat's echo) */
	struct vx_ctl_reader rd;
	struct cc_pending pend[VX_SCHED_CLIENT_PENDING_MAX];
	uint32_t nr_pend;
};

struct cc_task {
	bool used;
	char id[VX_TASK_ID_LEN + 1];
	char *url;
	/* what the id is derived from besides url: the scheduler binds url only when it does */
	char *tag;
	char *app;
	char request_id[VX_REQUEST_ID_MAX + 1];
	char **filtered;
	struct vx_ctl_str *filtered_str;
	uint32_t nr_filtered;
	uint64_t fixed_piece_len;
	uint64_t piece_len;
	int64_t content_len;
	bool need_bts;
	bool priv;
	int server;	 /* owner, -1 none */
	bool registered; /* registered with the current owner */
	bool sent;	 /* a register for the current owner is in flight or done */
	bool origin;	 /* last told to fetch from the origin: asks for it again on failover */
	vx_sched_client_cb cb; /* the user's first answer */
	void *arg;
	uint8_t *bits; /* held pieces, MSB first */
	uint32_t bits_len;
};

struct vx_sched_client {
	struct vx_sched_client_cfg cfg;
	char *hello_strs[6]; /* owned copies behind cfg.hello */
	struct cc_conn conns[VX_SCHED_CLIENT_SERVERS_MAX];
	struct cc_task *tasks;
	int epfd;
	uint64_t next_rid;
	uint8_t *obuf;
	uint32_t uploads; /* load reported in announces */
	uint64_t tx_bps;
	struct sockaddr_storage src; /* the address we serve on, dialled from; AF_UNSPEC: any */
};

static void cc_set_state(struct cc_conn *cc, enum cc_state to)
{
	VX_ASSERT(cc_legal[cc->state][to]);
	cc->state = to;
}

/* ---------------------------------------------------------------- Setup */

static int copy_str(struct vx_sched_client *c, int i, struct vx_ctl_str *s)
{
	if (!s->len)
		return 0;
	c->hello_strs[i] = vx_strndup(s->ptr, s->len);
	if (!c->hello_strs[i])
		return -ENOMEM;
	s->ptr = c->hello_strs[i];
	return 0;
}

/*
 * A scheduler gives out the address it sees a host connect from: a daemon that serves on one IP
 * (not the unspecified address) connects from that IP, so the two agree even when several
 * daemons share a host on their own addresses. The advertised address is only a wish: it is
 * used (see src_for()) when it is this host's own and can reach the scheduler.
 */
static void set_source(struct vx_sched_client *c)
{
	char txt[INET6_ADDRSTRLEN];
	const struct vx_ctl_str *a = &c->cfg.hello.addr;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&c->src;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&c->src;

	memset(&c->src, 0, sizeof(c->src));
	c->src.ss_family = AF_UNSPEC;
	if (!a->len || a->len >= sizeof(txt))
		return;
	memcpy(txt, a->ptr, a->len);
	txt[a->len] = '\0';
	if (inet_pton(AF_INET, txt, &v4->sin_addr) == 1) {
		if (v4->sin_addr.s_addr != htonl(INADDR_ANY))
			v4->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, txt, &v6->sin6_addr) == 1 &&
		   !IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr)) {
		v6->sin6_family = AF_INET6;
	}
}

int vx_sched_client_new(struct vx_sched_client **out, const struct vx_sched_client_cfg *cfg)
{
	struct vx_sched_client *c;
	struct vx_ctl_msg *h;
	int rc = -EINVAL;

	VX_ASSERT(out);
	*out = NULL;
	if (cfg->nr_servers == 0 || cfg->nr_servers > VX_SCHED_CLIENT_SERVERS_MAX)
		return -EINVAL;
	c = vx_calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	c->epfd = -1;
	if (!c->cfg.backoff_min_ms)
		c->cfg.backoff_min_ms = 100;
	if (!c->cfg.backoff_max_ms)
		c->cfg.backoff_max_ms = 5000;
	if (!c->cfg.timeout_ms)
		c->cfg.timeout_ms = 10000;
	if (!c->cfg.pieces_max)
		c->cfg.pieces_max = 65536;
	h = &c->cfg.hello;
	if (copy_str(c, 0, &h->host_id) || copy_str(c, 1, &h->addr) || copy_str(c, 2, &h->idc) ||
	    copy_str(c, 3, &h->location) || copy_str(c, 4, &h->token) ||
	    copy_str(c, 5, &h->host_key)) {
		rc = -ENOMEM;
		goto err_free;
	}
	h->tag = VX_TAG_CONTROL_REQUEST;
	h->type = VX_CTL_HELLO;
	h->has |= VX_CTL_F_HOST_ID | VX_CTL_F_ADDR | VX_CTL_F_PORT;
	if (h->token.len)
		h->has |= VX_CTL_F_TOKEN;
	if (h->host_key.len)
		h->has |= VX_CTL_F_HOST_KEY;
	set_source(c);
	for (uint32_t i = 0; i < cfg->nr_servers; i++) {
		struct cc_conn *cc = &c->conns[i];

		cc->idx = i;
		vx_fconn_init(&cc->io, -1, CC_SENDQ_MAX);
		if (!cfg->servers[i] ||
		    vx_net_parse_hostport(cfg->servers[i], VX_NET_PORT0, cc->host, sizeof(cc->host),
					  &cc->port))
			goto err_free;
		cc->hash = vx_hash_fnv1a(cfg->servers[i], strlen(cfg->servers[i]));
		cc->backoff_ms = c->cfg.backoff_min_ms;
		c->cfg.servers[i] = NULL; /* not kept: host and port are */
		if (vx_ctl_reader_init(&cc->rd)) {
			rc = -ENOMEM;
			goto err_free;
		}
	}
	c->tasks = vx_calloc(VX_SCHED_CLIENT_TASKS_MAX, sizeof(*c->tasks));
	c->obuf = vx_malloc(VX_FRAME_HDR_LEN + VX_CTL_FRAME_MAX);
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!c->tasks || !c->obuf || c->epfd == -1) {
		rc = c->epfd == -1 ? -errno : -ENOMEM;
		goto err_free;
	}
	c->next_rid = 1;
	*out = c;
	return 0;

err_free:
	vx_sched_client_free(c);
	return rc;
}

static void pend_fail_all(struct cc_conn *cc, int err)
{
	while (cc->nr_pend) {
		struct cc_pending p = cc->pend[--cc->nr_pend];

		if (p.cb)
			p.cb(p.arg, err, NULL);
	}
}

static void cc_task_clear(struct cc_task *t);

void vx_sched_client_free(struct vx_sched_client *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->cfg.nr_servers; i++) {
		struct cc_conn *cc = &c->conns[i];

		vx_fconn_close(&cc->io);
		pend_fail_all(cc, -ECANCELED);
		vx_ctl_reader_free(&cc->rd);
	}
	if (c->tasks) {
		for (uint32_t i = 0; i < VX_SCHED_CLIENT_TASKS_MAX; i++)
			cc_task_clear(&c->tasks[i]);
	}
	for (size_t i = 0; i < VX_ARRAY_SIZE(c->hello_strs); i++)
		vx_free(c->hello_strs[i]);
	if (c->epfd >= 0)
		close(c->epfd);
	vx_free(c->tasks);
	vx_free(c->obuf);
	vx_free(c);
}

int vx_sched_client_fd(const struct vx_sched_client *c)
{
	return c->epfd;
}

uint32_t vx_sched_client_drops(const struct vx_sched_client *c, uint32_t i)
{
	return i < c->cfg.nr_servers ? c->conns[i].drops : 0;
}

bool vx_sched_client_up(const struct vx_sched_client *c, uint32_t i)
{
	return i < c->cfg.nr_servers && c->conns[i].state == CC_UP;
}

int vx_sched_client_hello_state(const struct vx_sched_client *c, uint32_t i)
{
	if (i >= c->cfg.nr_servers)
		return -EINVAL;
	if (c->conns[i].state == CC_UP)
		return 1;
	if (c->conns[i].refused)
		return -EACCES;
	return c->conns[i].failed ? -ECONNREFUSED : 0;
}

/* ---------------------------------------------------------------- Routing */

static struct cc_task *task_find(struct vx_sched_client *c, struct vx_ctl_str id)
{
	if (id.len != VX_TASK_ID_LEN)
		return NULL;
	for (uint32_t i = 0; i < VX_SCHED_CLIENT_TASKS_MAX; i++) {
		if (c->tasks[i].used && memcmp(c->tasks[i].id, id.ptr, VX_TASK_ID_LEN) == 0)
			return &c->tasks[i];
	}
	return NULL;
}

static int32_t task_index(struct vx_sched_client *c, struct vx_ctl_str id)
{
	struct cc_task *t = task_find(c, id);

	return t ? (int32_t)(t - c->tasks) : -1;
}

/* Rendezvous hashing: the highest weight among schedulers not marked failed. */
static int route(struct vx_sched_client *c, const char *task_id)
{
	uint32_t th = vx_hash_fnv1a(task_id, VX_TASK_ID_LEN), best_w = 0;
	int best = -1;

	for (uint32_t i = 0; i < c->cfg.nr_servers; i++) {
		uint32_t w;

		if (c->conns[i].failed)
			continue;
		w = (uint32_t)vx_hash_mix64((uint64_t)c->conns[i].hash << 32 | th);
		if (best < 0 || w > best_w) {
			best = (int)i;
			best_w = w;
		}
	}
	return best;
}

static int task_owner(struct vx_sched_client *c, struct cc_task *t)
{
	if (t->server >= 0 && !c->conns[t->server].failed)
		return t->server;
	t->server = route(c, t->id);
	t->registered = false;
	t->sent = false;
	return t->server;
}

int vx_sched_client_owner(struct vx_sched_client *c, struct vx_ctl_str task_id)
{
	struct cc_task *t = task_find(c, task_id);
	char id[VX_TASK_ID_LEN + 1];

	if (t)
		return task_owner(c, t);
	if (task_id.len != VX_TASK_ID_LEN)
		return -1;
	memcpy(id, task_id.ptr, VX_TASK_ID_LEN);
	id[VX_TASK_ID_LEN] = '\0';
	return route(c, id);
}

/* ---------------------------------------------------------------- Connections */

static void conn_down(struct vx_sched_client *c, struct cc_conn *cc, const char *why);

static int conn_flush(struct vx_sched_client *c, struct cc_conn *cc)
{
	struct epoll_event ev = { .data.u32 = cc->idx };
	int rc = vx_fconn_flush(&cc->io);

	if (rc)
		return rc;
	ev.events = EPOLLIN | (vx_fconn_want_write(&cc->io) ? EPOLLOUT : 0u);
	epoll_ctl(c->epfd, EPOLL_CTL_MOD, cc->io.fd, &ev);
	return 0;
}

/* Encodes @m with a fresh rid and queues it; records the pending answer. */
/* Requests whose answer may go to on_event, named with their task (see vx_sched_client.h). */
static bool is_task_request(enum vx_ctl_type type)
{
	return type == VX_CTL_REGISTER || type == VX_CTL_RESCHEDULE || type == VX_CTL_PROGRESS;
}

static int conn_send(struct vx_sched_client *c, struct cc_conn *cc, struct vx_ctl_msg *m,
		     vx_sched_client_cb cb, void *arg)
{
	ssize_t n;
	int rc;

	if (cc->nr_pend == VX_SCHED_CLIENT_PENDING_MAX)
		return -EBUSY;
	m->tag = VX_TAG_CONTROL_REQUEST;
	m->rid = c->next_rid++;
	n = vx_ctl_msg_encode(m, c->obuf, VX_FRAME_HDR_LEN + VX_CTL_FRAME_MAX);
	if (n < 0)
		return (int)n;
	rc = vx_fconn_queue(&cc->io, c->obuf, (size_t)n, -1);
	if (rc)
		return rc;
	cc->pend[cc->nr_pend++] =
		(struct cc_pending){ .rid = m->rid,
				     .task = is_task_request(m->type) ? task_index(c, m->task_id)
								      : -1,
				     .cb = cb,
				     .arg = arg,
				     .deadline_ms = vx_now_ms() + c->cfg.timeout_ms };
	if (conn_flush(c, cc)) {
		conn_down(c, cc, "send failed");
		return -ENOTCONN;
	}
	return 0;
}

static void send_hello(struct vx_sched_client *c, struct cc_conn *cc)
{
	struct vx_ctl_msg h = c->cfg.hello;

	cc_set_state(cc, CC_HELLO);
	if (conn_send(c, cc, &h, NULL, NULL)) {
		if (cc->state != CC_DOWN)
			conn_down(c, cc, "hello not sent");
		return;
	}
	cc->hello_rid = h.rid;
}

static bool ss_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return false;
}

/*
 * The address to dial scheduler @dst from, or NULL for the kernel's choice: the advertised
 * address only when it is of @dst's family and either loopback with @dst loopback too (daemons
 * sharing a host on 127.0.0.x) or a non-loopback address of this host. A default listen on
 * 0.0.0.0 advertises loopback, and a NAT address is not on the host: both dial unbound.
 */
static const struct sockaddr_storage *src_for(const struct vx_sched_client *c,
					      const struct sockaddr_storage *dst)
{
	char txt[VX_NET_ADDR_STR_MAX];

	if (c->src.ss_family == AF_UNSPEC || c->src.ss_family != dst->ss_family)
		return NULL;
	if (ss_loopback(&c->src))
		return ss_loopback(dst) ? &c->src : NULL;
	if (!inet_ntop(c->src.ss_family,
		       c->src.ss_family == AF_INET
			       ? (const void *)&((const struct sockaddr_in *)&c->src)->sin_addr
			       : (const void *)&((const struct sockaddr_in6 *)&c->src)->sin6_addr,
		       txt, sizeof(txt)) ||
	    !vx_addr_is_local(txt))
		return NULL;
	return &c->src;
}

static void conn_start(struct vx_sched_client *c, struct cc_conn *cc)
{
	struct vx_net_opts o = { .flags = VX_NET_NONBLOCK | VX_NET_NODELAY };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u32 = cc->idx };
	struct sockaddr_storage ss;
	char err[VX_NET_ERR_LEN];
	socklen_t sl;
	int fd;

	cc_set_state(cc, CC_CONNECTING);
	if (vx_net_resolve(cc->host, cc->port, false, &ss, &sl, err)) {
		conn_down(c, cc, "cannot resolve");
		return;
	}
	o.src = src_for(c, &ss);
	fd = vx_net_tcp_dial((struct sockaddr *)&ss, sl, &o, err);
	if (fd < 0 && o.src) { /* the address went away or cannot be bound: dial unbound */
		vx_debug("sched client: %s", err);
		o.src = NULL;
		fd = vx_net_tcp_dial((struct sockaddr *)&ss, sl, &o, err);
	}
	vx_fconn_init(&cc->io, fd < 0 ? -1 : fd, CC_SENDQ_MAX);
	if (fd < 0) {
		conn_down(c, cc, err);
		return;
	}
	if (c->cfg.tls) {
		struct vx_tls_sess *s;

		/* a member is named by its address and holds a peer's (or seed's) certificate */
		if (vx_tls_sess_new(&s, c->cfg.tls, c->cfg.starttls ? NULL : cc->host,
				    c->cfg.starttls ? VX_TLS_ROLE_NONE : VX_TLS_ROLE_SCHEDULER) ||
		    vx_tls_fconn_attach(&cc->io, s)) {
			conn_down(c, cc, "cannot set up TLS");
			return;
		}
	}
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, cc->io.fd, &ev) == -1)
		conn_down(c, cc, "epoll");
}

static void cc_task_clear(struct cc_task *t)
{
	vx_ctl_strs_free(t->filtered, t->filtered_str, t->nr_filtered);
	vx_free(t->url);
	vx_free(t->tag);
	vx_free(t->app);
	vx_free(t->bits);
	memset(t, 0, sizeof(*t));
}

static char *dup_opt(struct vx_ctl_str s)
{
	return s.len ? vx_strndup(s.ptr, s.len) : NULL;
}

/* Copies the task's source (URL and what its id is derived from). Returns 0 or -ENOMEM. */
static int cc_source_copy(struct cc_task *t, const struct vx_sched_client_task *rt)
{
	t->url = vx_strndup(rt->url.ptr, rt->url.len);
	t->tag = dup_opt(rt->tag);
	t->app = dup_opt(rt->app);
	t->fixed_piece_len = rt->fixed_piece_len;
	snprintf(t->request_id, sizeof(t->request_id), "%.*s",
		 (int)VX_MIN(rt->request_id.len, (size_t)VX_REQUEST_ID_MAX),
		 rt->request_id.ptr ? rt->request_id.ptr : "");
	if (!t->url || (rt->tag.len && !t->tag) || (rt->app.len && !t->app))
		return -ENOMEM;
	if (vx_ctl_strs_dup(rt->filtered, rt->nr_filtered, &t->filtered, &t->filtered_str))
		return -ENOMEM;
	t->nr_filtered = rt->nr_filtered;
	return 0;
}

static int send_register(struct vx_sched_client *c, struct cc_conn *cc, struct cc_task *t,
			 vx_sched_client_cb cb, void *arg)
{
	struct vx_ctl_msg m = { 0 };
	int rc;

	m.type = VX_CTL_REGISTER;
	m.task_id = (struct vx_ctl_str){ t->id, VX_TASK_ID_LEN };
	m.has = VX_CTL_F_TASK_ID | VX_CTL_F_CONTENT_LEN;
	m.content_len = t->content_len;
	if (t->url) {
		m.url = vx_ctl_str_of(t->url);
		m.tg = vx_ctl_str_of(t->tag);
		m.app = vx_ctl_str_of(t->app);
		m.request_id = vx_ctl_str_of(t->request_id[0] ? t->request_id : NULL);
		m.fixed_piece_len = t->fixed_piece_len;
		m.filtered = t->filtered_str;
		m.nr_filtered = t->nr_filtered;
		m.has |= VX_CTL_F_URL | (t->tag ? VX_CTL_F_TAG : 0) | (t->app ? VX_CTL_F_APP : 0) |
			 (t->request_id[0] ? VX_CTL_F_REQUEST_ID : 0) |
			 (t->fixed_piece_len ? VX_CTL_F_FIXED_PIECE : 0) |
			 (t->nr_filtered ? VX_CTL_F_FILTERED : 0);
	}
	if (t->piece_len) {
		m.piece_len = t->piece_len;
		m.has |= VX_CTL_F_PIECE_LEN;
	}
	if (t->need_bts || t->origin) {
		m.need_bts = true;
		m.has |= VX_CTL_F_NEED_BTS;
	}
	if (t->priv) {
		m.priv = true;
		m.has |= VX_CTL_F_PRIVATE;
	}
	if (t->bits_len) {
		/* what we hold, so the new owner does not start us from zero */
		m.bitmap = t->bits;
		m.bitmap_len = t->bits_len;
		m.has |= VX_CTL_F_BITMAP;
	}
	rc = conn_send(c, cc, &m, cb, arg);
	if (!rc)
		t->sent = true;
	return rc;
}

/* Registers every task this connection owns that is not registered with it yet. */
static void register_owned(struct vx_sched_client *c, struct cc_conn *cc)
{
	for (uint32_t i = 0; i < VX_SCHED_CLIENT_TASKS_MAX && cc->state == CC_UP; i++) {
		struct cc_task *t = &c->tasks[i];
		vx_sched_client_cb cb;

		if (!t->used || t->sent || task_owner(c, t) != (int)cc->idx)
			continue;
		cb = t->cb;
		if (send_register(c, cc, t, cb, t->arg) == 0)
			t->cb = NULL; /* later answers go to on_event */
	}
}

static void conn_down(struct vx_sched_client *c, struct cc_conn *cc, const char *why)
{
	/* a scheduler that cannot be reached is said at warn once, then again only after it was up */
	if (!cc->warned && !cc->refused)
		vx_warn("sched client: %s:%u: %s (retrying)", cc->host, cc->port, why);
	else
		vx_debug("sched client: %s:%u down: %s", cc->host, cc->port, why);
	cc->warned = true;
	if (cc->state == CC_UP)
		cc->drops++;
	if (cc->io.fd >= 0)
		epoll_ctl(c->epfd, EPOLL_CTL_DEL, cc->io.fd, NULL);
	vx_fconn_close(&cc->io);
	cc_set_state(cc, CC_DOWN);
	cc->failed = true;
	vx_ctl_reader_reset(&cc->rd);
	cc->retry_ms = vx_now_ms() + cc->backoff_ms;
	cc->backoff_ms = VX_MIN(cc->backoff_ms * 2, c->cfg.backoff_max_ms);
	pend_fail_all(cc, -ECONNRESET);
	/* tasks it owned move to their next scheduler */
	for (uint32_t i = 0; i < VX_SCHED_CLIENT_TASKS_MAX; i++) {
		struct cc_task *t = &c->tasks[i];
		int o;

		if (!t->used || t->server != (int)cc->idx)
			continue;
		o = task_owner(c, t);
		if (o >= 0 && c->conns[o].state == CC_UP)
			register_owned(c, &c->conns[o]);
	}
}

/* ---------------------------------------------------------------- Receiving */

static void on_frame(struct vx_sched_client *c, struct cc_conn *cc, const struct vx_ctl_msg *m)
{
	if (m->tag == VX_TAG_CONTROL_EVENT) {
		struct cc_task *t = task_find(c, m->task_id);

		if (t && m->event == VX_CTL_EV_BACK_TO_SOURCE)
			t->origin = true;
		else if (t && m->event == VX_CTL_EV_PARENTS)
			t->origin = false;
		if (c->cfg.on_event)
			c->cfg.on_event(c->cfg.arg, cc->idx, m);
		return;
	}
	for (uint32_t i = 0; i < cc->nr_pend; i++) {
		struct cc_pending p = cc->pend[i];

		if (p.rid != m->rid)
			continue;
		cc->pend[i] = cc->pend[--cc->nr_pend];
		if (p.task >= 0 && m->status == 0 && (m->has & VX_CTL_F_ANSWER))
			c->tasks[p.task].origin = m->answer == VX_CTL_ANS_BACK_TO_SOURCE;
		if (p.rid == cc->hello_rid) {
			if (m->status != 0) {
				if (m->status == -EACCES && !cc->refused)
					vx_err("sched client: scheduler %s:%u refused our token or "
					       "host "
					       "key; check the token file",
					       cc->host, cc->port);
				else if (m->status != -EACCES)
					vx_warn("sched client: %s:%u refused hello: %s", cc->host,
						cc->port, vx_strerror((int)m->status));
				cc->refused = m->status == -EACCES;
				cc->warned = true; /* said above */
				conn_down(c, cc, "hello refused");
				if (cc->refused)
					cc->retry_ms = vx_now_ms() + c->cfg.backoff_max_ms;
				return;
			}
			cc_set_state(cc, CC_UP);
			vx_info("sched client: scheduler %s:%u up", cc->host, cc->port);
			cc->failed = false;
			cc->warned = false;
			cc->refused = false;
			cc->announce_ms = (m->has & VX_CTL_F_INTERVAL) && m->interval_ms >= 100
						  ? m->interval_ms
						  : 10000;
			cc->next_announce_ms = vx_now_ms() + cc->announce_ms;
			cc->rx_ms = vx_now_ms();
			cc->backoff_ms = c->cfg.backoff_min_ms;
			register_owned(c, cc);
			if (c->cfg.on_up)
				c->cfg.on_up(c->cfg.arg, cc->idx);
			if ((m->has & VX_CTL_F_CFG_VERSION) && c->cfg.on_event) {
				/* the cluster config version, told as event 9 would tell it */
				struct vx_ctl_msg ev = { 0 };

				ev.tag = VX_TAG_CONTROL_EVENT;
				ev.type = VX_CTL_EVENT;
				ev.event = VX_CTL_EV_CLUSTER_CONFIG;
				ev.cfg_version = m->cfg_version;
				ev.has = VX_CTL_F_EVENT | VX_CTL_F_CFG_VERSION;
				c->cfg.on_event(c->cfg.arg, cc->idx, &ev);
			}
			return;
		}
		if (p.cb) {
			p.cb(p.arg, (int)m->status, m);
		} else if (c->cfg.on_event && p.task >= 0 && is_task_request(m->type)) {
			/* an automatic re-registration, or a request sent without a callback:
			 * responses carry no task id, so name the task for the receiver */
			struct vx_ctl_msg named = *m;

			named.task_id = (struct vx_ctl_str){ c->tasks[p.task].id, VX_TASK_ID_LEN };
			named.has |= VX_CTL_F_TASK_ID;
			c->cfg.on_event(c->cfg.arg, cc->idx, &named);
		}
		return;
	}
}

struct cc_in {
	struct vx_sched_client *c;
	struct cc_conn *cc;
};

/* vx_fconn input: cuts frames and handles each; -EPIPE once the connection went down. */
static ssize_t cc_parse(void *arg, const uint8_t *in, size_t len)
{
	struct vx_sched_client *c = ((struct cc_in *)arg)->c;
	struct cc_conn *cc = ((struct cc_in *)arg)->cc;
	size_t left = len;

	while (left > 0) {
		struct vx_frame f;
		struct vx_ctl_msg m;
		ssize_t used = vx_ctl_reader_feed(&cc->rd, in, left, &f);

		if (used == -EAGAIN)
			break;
		if (used < 0 || vx_ctl_msg_decode(f.hdr.tag, f.value, f.value_len, &m)) {
			conn_down(c, cc, "malformed frame from scheduler");
			return -EPIPE;
		}
		on_frame(c, cc, &m);
		vx_ctl_msg_release(&m);
		if (cc->state == CC_DOWN)
			return -EPIPE;
		in += used;
		left -= (size_t)used;
	}
	return (ssize_t)len;
}

/* A TLS failure: a refused certificate (either side's) is an error to fix, said once. */
static void tls_down(struct vx_sched_client *c, struct cc_conn *cc, ssize_t n)
{
	const struct vx_tls_sess *s = vx_tls_fconn_sess(&cc->io);
	char why[VX_TLS_ERR_LEN + 16];

	snprintf(why, sizeof(why), "TLS: %s", s ? vx_tls_sess_why(s) : "");
	if (n == -EACCES && !cc->refused)
		vx_err("sched client: %s:%u: certificate refused (%s); check tls.cert, tls.key, "
		       "tls.ca and tls.crl",
		       cc->host, cc->port, why);
	if (n == -EACCES) {
		cc->refused = true;
		cc->warned = true;
	}
	conn_down(c, cc, why);
	if (cc->refused)
		cc->retry_ms = vx_now_ms() + c->cfg.backoff_max_ms;
}

static void on_readable(struct vx_sched_client *c, struct cc_conn *cc)
{
	struct cc_in ci = { c, cc };

	cc->rx_ms = vx_now_ms();
	for (int rounds = 0; rounds < 64; rounds++) {
		ssize_t n = vx_fconn_read(&cc->io, cc_parse, &ci);

		if (n == -EPIPE)
			return;
		if (n < 0 && vx_tls_fconn_sess(&cc->io) &&
		    *vx_tls_sess_why(vx_tls_fconn_sess(&cc->io))) {
			tls_down(c, cc, n);
			return;
		}
		if (n < 0) {
			conn_down(c, cc, n == -ECONNRESET ? "closed by scheduler" : "recv failed");
			return;
		}
		/* TLS: records read whole are not signalled again by the socket */
		if (!vx_fconn_has_input(&cc->io))
			break;
	}
	/* TLS: the handshake's records, and the hello held back until it finished */
	if (conn_flush(c, cc))
		conn_down(c, cc, "send failed");
}

static void on_connected(struct vx_sched_client *c, struct cc_conn *cc)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(cc->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err) {
		conn_down(c, cc, vx_strerror(err ? -err : -errno));
		return;
	}
	if (c->cfg.tls && c->cfg.starttls) {
		/* before the session's first record; 6 bytes fit an empty socket buffer */
		uint8_t st[VX_FRAME_HDR_LEN];

		vx_frame_starttls_encode(st);
		if (send(cc->io.fd, st, sizeof(st), MSG_NOSIGNAL | MSG_DONTWAIT) != sizeof(st)) {
			conn_down(c, cc, "cannot send STARTTLS");
			return;
		}
	}
	send_hello(c, cc);
}

static void check_timeouts(struct vx_sched_client *c, struct cc_conn *cc, uint64_t now)
{
	for (uint32_t i = 0; i < cc->nr_pend;) {
		struct cc_pending p = cc->pend[i];

		if (now < p.deadline_ms) {
			i++;
			continue;
		}
		if (p.rid == cc->hello_rid) {
			conn_down(c, cc, "hello timed out");
			return;
		}
		cc->pend[i] = cc->pend[--cc->nr_pend];
		if (p.cb)
			p.cb(p.arg, -ETIMEDOUT, NULL);
	}
}

/* The periodic announce keeps the host alive at every scheduler and reports its load. */
static void announce(struct vx_sched_client *c, struct cc_conn *cc, uint64_t now)
{
	struct vx_ctl_msg m = { 0 };

	cc->next_announce_ms = now + cc->announce_ms;
	m.type = VX_CTL_ANNOUNCE;
	m.uploads = c->uploads;
	m.tx_bps = c->tx_bps;
	m.has = VX_CTL_F_UPLOADS | VX_CTL_F_TX;
	(void)conn_send(c, cc, &m, NULL, NULL);
}

int vx_sched_client_process(struct vx_sched_client *c, int timeout_ms)
{
	struct epoll_event evs[VX_SCHED_CLIENT_SERVERS_MAX];
	uint64_t now = vx_now_ms();
	int n;

	for (uint32_t i = 0; i < c->cfg.nr_servers; i++) {
		struct cc_conn *cc = &c->conns[i];

		if (cc->retired)
			continue;
		if (cc->state == CC_DOWN && now >= cc->retry_ms)
			conn_start(c, cc);
		if (cc->state == CC_DOWN && timeout_ms > 0 &&
		    cc->retry_ms - now < (uint64_t)timeout_ms)
			timeout_ms = (int)(cc->retry_ms > now ? cc->retry_ms - now : 0);
	}
	n = epoll_wait(c->epfd, evs, VX_SCHED_CLIENT_SERVERS_MAX, timeout_ms);
	if (n == -1 && errno != EINTR)
		return -errno;
	for (int i = 0; i < n; i++) {
		struct cc_conn *cc = &c->conns[evs[i].data.u32];

		if (cc->state == CC_DOWN)
			continue;
		if (cc->state == CC_CONNECTING) {
			if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
				on_connected(c, cc);
			continue;
		}
		if ((evs[i].events & EPOLLOUT) && conn_flush(c, cc)) {
			conn_down(c, cc, "send failed");
			continue;
		}
		if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			on_readable(c, cc);
	}
	now = vx_now_ms();
	if (c->cfg.tls)
		vx_tls_ctx_tick(c->cfg.tls, "daemon", vx_wall_s());
	for (uint32_t i = 0; i < c->cfg.nr_servers; i++) {
		struct cc_conn *cc = &c->conns[i];

		if (cc->state != CC_DOWN)
			check_timeouts(c, cc, now);
		if (cc->state == CC_UP && c->cfg.silence_ms &&
		    now - cc->rx_ms > c->cfg.silence_ms) {
			conn_down(c, cc, "silent (heartbeats missed)");
			continue;
		}
		if (cc->state == CC_UP && now >= cc->next_announce_ms)
			announce(c, cc, now);
	}
	return 0;
}

void vx_sched_client_set_load(struct vx_sched_client *c, uint32_t uploads, uint64_t tx_bps)
{
	c->uploads = uploads;
	c->tx_bps = tx_bps;
}

/* ---------------------------------------------------------------- Requests */

int vx_sched_client_register(struct vx_sched_client *c, const struct vx_sched_client_task *rt,
			     vx_sched_client_cb cb, void *arg)
{
	struct cc_task *t = task_find(c, rt->task_id);
	int o;

	if (rt->task_id.len != VX_TASK_ID_LEN)
		return -EINVAL;
	if (!t) {
		for (uint32_t i = 0; i < VX_SCHED_CLIENT_TASKS_MAX && !t; i++) {
			if (!c->tasks[i].used)
				t = &c->tasks[i];
		}
		if (!t)
			return -ENOSPC;
		memset(t, 0, sizeof(*t));
		memcpy(t->id, rt->task_id.ptr, VX_TASK_ID_LEN);
		t->server = -1;
		if (rt->url.len && cc_source_copy(t, rt)) {
			cc_task_clear(t);
			return -ENOMEM;
		}
		t->used = true;
	}
	t->piece_len = rt->piece_len;
	t->content_len = rt->content_len;
	t->need_bts = rt->need_bts;
	t->priv = rt->priv;
	t->cb = cb;
	t->arg = arg;
	t->sent = false;
	o = task_owner(c, t);
	if (o >= 0 && c->conns[o].state == CC_UP)
		register_owned(c, &c->conns[o]);
	return 0;
}

void vx_sched_client_forget(struct vx_sched_client *c, struct vx_ctl_str task_id)
{
	struct cc_task *t = task_find(c, task_id);

	if (t)
		cc_task_clear(t);
}

/* Keeps the held-pieces bitmap that re-registration sends. */
static void track_progress(struct vx_sched_client *c, const struct vx_ctl_msg *m)
{
	struct cc_task *t = task_find(c, m->task_id);
	uint64_t last_bit;
	uint32_t need;

	if (!t || !(m->has & VX_CTL_F_BITMAP) || !m->bitmap_len)
		return;
	last_bit = (uint64_t)m->bitmap_base + (uint64_t)m->bitmap_len * 8;
	if (last_bit > c->cfg.pieces_max)
		return;
	need = (uint32_t)vx_bitmap_bytes(last_bit);
	if (need > t->bits_len) {
		uint8_t *nb = vx_realloc(t->bits, need);

		if (!nb)
			return;
		memset(nb + t->bits_len, 0, need - t->bits_len);
		t->bits = nb;
		t->bits_len = need;
	}
	for (uint32_t i = 0; i < m->bitmap_len * 8; i++) {
		uint32_t piece = m->bitmap_base + i;

		if (vx_bit_get(m->bitmap, i))
			vx_bit_set(t->bits, piece);
	}
}

int vx_sched_client_send(struct vx_sched_client *c, struct vx_ctl_msg *m, vx_sched_client_cb cb,
			 void *arg)
{
	struct cc_task *t = NULL;
	int o = -1;

	if (m->type == VX_CTL_HELLO || m->type == VX_CTL_EVENT)
		return -EINVAL;
	if (m->type == VX_CTL_PROGRESS)
		track_progress(c, m);
	if (m->has & VX_CTL_F_TASK_ID) {
		t = task_find(c, m->task_id);
		o = t ? task_owner(c, t) : vx_sched_client_owner(c, m->task_id);
	} else {
		for (uint32_t i = 0; i < c->cfg.nr_servers && o < 0; i++) {
			if (c->conns[i].state == CC_UP)
				o = (int)i;
		}
	}
	if (o < 0 || c->conns[o].state != CC_UP)
		return -ENOTCONN;
	if (t && !t->sent)
		return -ENOTCONN; /* its (re-)registration goes first */
	return conn_send(c, &c->conns[o], m, cb, arg);
}

struct call_ctx {
	vx_sched_client_cb cb;
	void *arg;
	bool done;
};

static void call_done(void *arg, int status, const struct vx_ctl_msg *resp)
{
	struct call_ctx *x = arg;

	x->done = true;
	if (x->cb)
		x->cb(x->arg, status, resp);
}

int vx_sched_client_call(struct vx_sched_client *c, struct vx_ctl_msg *m, vx_sched_client_cb cb,
			 void *arg, int timeout_ms)
{
	struct call_ctx *x = vx_calloc(1, sizeof(*x));
	uint64_t deadline = vx_now_ms() + (uint64_t)timeout_ms;
	bool sent = false;
	int rc;

	if (!x)
		return -ENOMEM;
	x->cb = cb;
	x->arg = arg;
	while (vx_now_ms() < deadline) {
		if (!sent) {
			rc = vx_sched_client_send(c, m, call_done, x);
			if (rc && rc != -ENOTCONN) {
				vx_free(x);
				return rc;
			}
			sent = rc == 0;
		}
		rc = vx_sched_client_process(c, 20);
		if (rc)
			break;
		if (x->done) {
			vx_free(x);
			return 0;
		}
	}
	/* drop the pending entry so no late callback touches x */
	for (uint32_t i = 0; i < c->cfg.nr_servers; i++) {
		struct cc_conn *cc = &c->conns[i];

		for (uint32_t j = 0; j < cc->nr_pend;) {
			if (cc->pend[j].cb == call_done && cc->pend[j].arg == x)
				cc->pend[j] = cc->pend[--cc->nr_pend];
			else
				j++;
		}
	}
	vx_free(x);
	return -ETIMEDOUT;
}

/* Sets up conn @i for "HOST:PORT" @addr (kept as host and port). 0 or -EINVAL/-ENOMEM. */
static int conn_setup(struct vx_sched_client *c, uint32_t i, const char *addr)
{
	struct cc_conn *cc = &c->conns[i];

	memset(cc, 0, sizeof(*cc));
	cc->idx = i;
	vx_fconn_init(&cc->io, -1, CC_SENDQ_MAX);
	if (vx_net_parse_hostport(addr, VX_NET_PORT0, cc->host, sizeof(cc->host), &cc->port))
		return -EINVAL;
	cc->hash = vx_hash_fnv1a(addr, strlen(addr));
	cc->backoff_ms = c->cfg.backoff_min_ms;
	return vx_ctl_reader_init(&cc->rd) ? -ENOMEM : 0;
}

static bool conn_is(const struct cc_conn *cc, const char *addr)
{
	char host[256];
	uint16_t port;

	return vx_net_parse_hostport(addr, VX_NET_PORT0, host, sizeof(host), &port) == 0 &&
	       port == cc->port && strcmp(host, cc->host) == 0;
}

int vx_sched_client_set_servers(struct vx_sched_client *c, const char *const *servers, uint32_t n)
{
	int rc = 0;

	/* a scheduler no longer listed is closed and stays failed: its tasks move on */
	for (uint32_t i = 0; i < c->cfg.nr_servers; i++) {
		struct cc_conn *cc = &c->conns[i];
		bool keep = false;

		for (uint32_t j = 0; j < n && !keep; j++)
			keep = conn_is(cc, servers[j]);
		if (!keep && !cc->retired) {
			vx_info("sched client: scheduler %s:%u left the list: dropped", cc->host,
				cc->port);
			if (cc->state != CC_DOWN)
				conn_down(c, cc, "left the scheduler list");
			cc->retired = true;
			cc->failed = true;
		} else if (keep && cc->retired) {
			vx_info("sched client: scheduler %s:%u is back in the list", cc->host,
				cc->port);
			cc->retired = false;
			cc->retry_ms = 0;
		}
	}
	for (uint32_t j = 0; j < n; j++) {
		bool have = false;

		for (uint32_t i = 0; i < c->cfg.nr_servers && !have; i++)
			have = conn_is(&c->conns[i], servers[j]);
		if (have)
			continue;
		if (c->cfg.nr_servers == VX_SCHED_CLIENT_SERVERS_MAX) {
			rc = -ENOSPC;
			continue;
		}
		if (conn_setup(c, c->cfg.nr_servers, servers[j])) {
			rc = -EINVAL;
			continue;
		}
		c->conns[c->cfg.nr_servers].failed = true; /* owns no task until its hello */
		vx_info("sched client: scheduler %s:%u joined the list: dialling",
			c->conns[c->cfg.nr_servers].host, c->conns[c->cfg.nr_servers].port);
		c->cfg.nr_servers++;
	}
	return rc;
}
