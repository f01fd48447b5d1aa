/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched_server.c: `vx scheduler` as a service: one thread, one epoll set, non-blocking sockets.
 *
 * A connection reads through vortex's control-frame reader (vx_ctl_cbor.h: lengths are checked
 * on the header, a value is at most VX_CTL_FRAME_MAX) and writes through a queue bounded by
 * cfg.sendq_max; a peer whose queue overflows is dropped rather than buffered without end. A
 * broken stream or a value that does not decode closes the connection (the stream cannot be
 * trusted any more); a request that decodes but cannot be served gets an error response. After every loop
 * turn the scheduler's pushes are sent and the database writes of the turn are committed. Once a
 * second the scheduler's timers run and idle connections are closed.
 *
 * Memory is bounded in total, not only per connection: the reader's buffer grows as bytes come
 * (never by a declared length), and the sum of all receive buffers and the sum of all send
 * queues each have a budget (cfg.recv_mem_max, cfg.send_mem_max). Over budget, the connection
 * that received a whole frame longest ago among those holding more than their first buffer is
 * closed (a slow sender of a big frame or a peer that does not read is that one); a new
 * connection that would not fit its first buffer is refused.
 */
#include "vx_sched_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_ctl_msg.h"
#include "vx_err.h"
#include "vx_fconn.h"
#include "vx_hex.h"
#include "vx_list.h"
#include "vx_log.h"
#include "vx_net.h"
#include "vx_digest.h"
#include "vx_sched_pcache.h"
#include "vx_sched_tokens.h"
#include "vx_time.h"
#include "vx_hostaddr.h"
#include "vx_bucket.h"
#include "vx_tls.h"
#include "vx_tls_fconn.h"

#include <openssl/evp.h>

#include "sched_db.h"
#include "sched_pki.h"
#include "sched_metrics.h"

#define SRV_LISTEN_ID UINT64_MAX
#define SRV_STOP_ID   (UINT64_MAX - 1)
#define SRV_HOOK_ID   (UINT64_MAX - 2)
#define SRV_TICK_MS   1000
#define SRV_EVENTS    256

struct srv_conn {
	struct vx_fconn io; /* socket, output queue (cfg.sendq_max), input buffer */
	uint32_t slot;
	uint32_t host; /* VX_SCHED_NO_HOST until hello */
	bool want_out; /* EPOLLOUT armed */
	struct vx_ctl_reader rd;
	uint64_t rx_ms; /* last frame received */
	uint64_t born_ms;
	uint8_t auth;			    /* enum vx_sched_auth, from the hello's token */
	bool addr_warned;		    /* a claimed address was replaced (logged once) */
	bool again;			    /* TLS holds input the socket will not signal */
	bool sniff;			    /* TLS or plaintext: decided by the first bytes */
	char seen_ip[INET6_ADDRSTRLEN];	    /* the address the connection comes from */
	size_t mem_in, mem_out;		    /* its share of srv->mem_in, srv->mem_out */
	char tenant[VX_TLS_TENANT_MAX + 1]; /* a plaintext joined host's, from the CA's records */
	struct vx_bucket reqs;		    /* cfg.requests_per_s */
	struct addr_rate *arate;	    /* cfg.addr_requests_per_s; NULL: no limit */
};

/*
 * The request bucket of one source address (cfg.addr_requests_per_s), shared by all of its
 * connections: opening more connections buys an address no more requests. When the address's
 * last connection closes the bucket is kept (srv->idle_rates, oldest first) until it would be
 * full again, so closing and reopening buys none either; past that a new full one is the same.
 */
struct addr_rate {
	struct vx_bucket b;
	uint32_t refs;		   /* connections holding it */
	char ip[INET6_ADDRSTRLEN]; /* the address */
	uint64_t full_ms;	   /* idle: when it is full again (and can go) */
	struct vx_list node;	   /* in srv->idle_rates while refs == 0 */
};

/* Idle address buckets kept at most (the oldest, nearest to full, go first). */
#define ADDR_IDLE_MAX 4096u

struct vx_sched_server;
static void addr_rate_put(struct vx_sched_server *srv, struct addr_rate *a, uint64_t now);

struct vx_sched_server {
	struct vx_sched_server_cfg cfg;
	struct vx_sched *sched;
	struct sched_db *db;
	int lfd;
	int epfd;
	uint16_t port;
	struct srv_conn **conns;
	uint32_t nr_conns;
	uint32_t nr_again; /* connections with again set */
	uint8_t *obuf;	   /* one encoded frame */
	size_t ocap;
	uint64_t next_tick_ms;
	uint64_t next_expire_ms; /* of the database's records (cfg.records_keep_s) */
	struct vx_sched_tokens tokens;
	const void *tls_seen;	   /* the SSL_CTX open connections were last checked against */
	uint64_t rejected_addr;	   /* connections refused by cfg.conns_per_addr */
	uint64_t rate_refused;	   /* requests answered -EBUSY by cfg.requests_per_s */
	uint64_t arate_refused;	   /* requests answered -EBUSY by cfg.addr_requests_per_s */
	struct vx_list idle_rates; /* struct addr_rate whose address has no connection */
	uint32_t nr_idle_rates;
	char tokens_path[4096];
	bool tokens_created;
	struct vx_sched_server_hook hook; /* hook.run NULL: none */
	struct vx_pki *pki;		  /* the CA; NULL when cfg.pki is off */
	struct vx_tls_ctx *tls;		  /* cfg.tls, or own_tls; NULL: plaintext */
	struct vx_tls_ctx *own_tls;	  /* from the CA's files (owned) */
	/* the cluster configuration document (spec/control.md section 15); version 0: none */
	uint64_t cfg_version;
	char cfg_sha[VX_CTL_CFG_SHA_LEN + 1];
	uint8_t *cfg_doc;
	uint32_t cfg_doc_len;
	struct vx_pcache *pcache; /* persistent cache tasks (section 14) */
	uint64_t mem_in, mem_out; /* all connections' receive buffers and send queues */
};

void vx_sched_server_cfg_default(struct vx_sched_server_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	vx_sched_cfg_default(&cfg->sched);
	cfg->listen = "127.0.0.1:8002";
	cfg->db_path = "scheduler.db";
	cfg->conns_max = 4096;
	cfg->conns_per_addr = 256;
	cfg->requests_per_s = 1000;
	cfg->addr_requests_per_s = 4000;
	cfg->sendq_max = 8u << 20;
	cfg->recv_mem_max = 64u << 20;
	cfg->send_mem_max = 64u << 20;
	cfg->idle_ms = 120000;
	cfg->hello_ms = 10000;
	cfg->announce_ms = 10000;
	cfg->host_ids_per_addr = 4096;
	cfg->host_ids_max = 65536;
	cfg->cert_ttl_s = VX_PKI_CERT_TTL_DEFAULT;
	cfg->records_keep_s = 7 * 86400;
	cfg->records_max = 1000000;
}

/*
 * TLS from the CA's own files (spec/control.md section 11): the server certificate, the CA every
 * host's chain must lead to, and the CRL (loaded again when it is signed again). A client
 * without a certificate gets through the handshake: it may only JOIN.
 */
static int pki_tls(struct vx_sched_server *srv)
{
	char p[4][4096], err[VX_TLS_ERR_LEN];
	static const char *const names[4] = { "server.pem", "server.key", "ca.pem", "crl.pem" };
	struct vx_tls_files f;
	int rc;

	for (int i = 0; i < 4; i++) {
		int n = snprintf(p[i], sizeof(p[i]), "%s/%s", vx_pki_dir(srv->pki), names[i]);

		if (n < 0 || (size_t)n >= sizeof(p[i]))
			return -ENAMETOOLONG;
	}
	f = (struct vx_tls_files){ .cert = p[0], .key = p[1], .ca = p[2], .crl = p[3] };
	rc = vx_tls_ctx_new(&srv->own_tls, VX_TLS_SERVER_OPTIONAL_CERT, &f, err, sizeof(err));
	if (rc) {
		vx_err("scheduler: TLS from the cluster CA: %s", err);
		return rc;
	}
	srv->tls = srv->own_tls;
	return 0;
}

/* The CA and the scheduler's own certificate, named by the listen address (and its name). */
static int pki_setup(struct vx_sched_server *srv)
{
	char err[512], host[256], name[256];
	const char *names[3];
	uint32_t nr = 0;
	uint16_t port;
	int rc;

	if (!srv->cfg.pki)
		return 0;
	rc = vx_pki_open(&srv->pki, srv->cfg.pki_dir, srv->cfg.db_path, err, sizeof(err));
	if (rc) {
		vx_err("scheduler: %s", err);
		return rc;
	}
	if (vx_net_parse_hostport(srv->cfg.listen, VX_NET_PORT0, host, sizeof(host), &port))
		return -EINVAL;
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
		names[nr++] = "127.0.0.1";
		if (gethostname(name, sizeof(name) - 1) == 0 && name[0])
			names[nr++] = name;
	} else {
		names[nr++] = host;
	}
	rc = vx_pki_server_cert(srv->pki, names, nr, err, sizeof(err));
	if (rc) {
		vx_err("scheduler: %s", err);
		return rc;
	}
	vx_info("scheduler: cluster CA in %s", vx_pki_dir(srv->pki));
	return srv->tls ? 0 : pki_tls(srv);
}

struct vx_pki *vx_sched_server_pki(struct vx_sched_server *srv)
{
	return srv->pki;
}

/* Loads the tokens file (or creates it), then applies the deprecated --token. */
static int tokens_setup(struct vx_sched_server *srv)
{
	char err[512];
	int rc;

	if (srv->cfg.tokens_path)
		rc = snprintf(srv->tokens_path, sizeof(srv->tokens_path), "%s",
			      srv->cfg.tokens_path);
	else
		rc = snprintf(srv->tokens_path, sizeof(srv->tokens_path), "%s.tokens",
			      srv->cfg.db_path);
	if (rc < 0 || (size_t)rc >= sizeof(srv->tokens_path))
		return -ENAMETOOLONG;
	srv->cfg.tokens_path = srv->tokens_path;
	rc = vx_sched_tokens_load(srv->tokens_path, &srv->tokens, &srv->tokens_created, err,
				  sizeof(err));
	if (rc) {
		vx_err("scheduler: %s", err);
		return rc == -EINVAL ? -EACCES : rc;
	}
	if (srv->cfg.token) {
		size_t n = strlen(srv->cfg.token);

		if (n < VX_SCHED_TOKEN_MIN || n > VX_SCHED_TOKEN_MAX) {
			vx_err("scheduler: --token must be %d to %d characters", VX_SCHED_TOKEN_MIN,
			       VX_SCHED_TOKEN_MAX);
			return -EINVAL;
		}
		memcpy(srv->tokens.tok[VX_SCHED_AUTH_PEER], srv->cfg.token, n + 1);
		srv->cfg.token = NULL;
	}
	return 0;
}

const char *vx_sched_server_tokens_path(const struct vx_sched_server *srv)
{
	return srv->tokens_path;
}

bool vx_sched_server_tokens_created(const struct vx_sched_server *srv)
{
	return srv->tokens_created;
}

/* ---------------------------------------------------------------- Sockets */

static int listen_on(const char *spec, uint16_t *bound)
{
	struct vx_net_opts o = { .flags = VX_NET_NONBLOCK | VX_NET_REUSEADDR, .backlog = 1024 };
	struct sockaddr_storage ss;
	char host[VX_NET_HOST_MAX], err[VX_NET_ERR_LEN];
	socklen_t sl;
	uint16_t port;
	int fd, rc;

	if (vx_net_parse_hostport(spec, VX_NET_PORT0, host, sizeof(host), &port) ||
	    vx_net_resolve(host, port, true, &ss, &sl, err))
		return -EINVAL;
	fd = vx_net_tcp_listen((struct sockaddr *)&ss, sl, &o, err);
	if (fd < 0) {
		vx_err("scheduler: %s", err);
		return fd;
	}
	rc = vx_net_local_port(fd);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*bound = (uint16_t)rc;
	return fd;
}

int vx_sched_server_new(struct vx_sched_server **out, const struct vx_sched_server_cfg *cfg)
{
	struct vx_sched_server *srv;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = SRV_LISTEN_ID };
	int rc;

	VX_ASSERT(out);
	VX_ASSERT(cfg);
	*out = NULL;
	if ((!cfg->listen && cfg->pki) || !cfg->db_path || cfg->conns_max == 0 ||
	    cfg->sendq_max < VX_CTL_FRAME_MAX || cfg->recv_mem_max < VX_CTL_FRAME_MAX ||
	    cfg->send_mem_max < cfg->sendq_max)
		return -EINVAL;
	srv = vx_calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->cfg = *cfg;
	srv->tls = cfg->tls;
	srv->lfd = srv->epfd = -1;
	vx_list_init(&srv->idle_rates);
	srv->ocap = VX_FRAME_HDR_LEN + VX_CTL_FRAME_MAX;
	srv->obuf = vx_malloc(srv->ocap);
	srv->conns = vx_calloc(cfg->conns_max, sizeof(*srv->conns));
	if (!srv->obuf || !srv->conns) {
		rc = -ENOMEM;
		goto err_free;
	}
	rc = tokens_setup(srv);
	if (rc)
		goto err_free;
	rc = vx__sched_db_open(&srv->db, cfg->db_path);
	if (rc)
		goto err_free;
	rc = pki_setup(srv);
	if (rc)
		goto err_free;
	rc = vx_sched_new(&srv->sched, &cfg->sched);
	if (!rc)
		rc = vx_pcache_new(&srv->pcache);
	if (rc)
		goto err_free;
	if (cfg->listen) {
		rc = listen_on(cfg->listen, &srv->port);
		if (rc < 0)
			goto err_free;
		srv->lfd = rc;
	}
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd == -1 ||
	    (srv->lfd >= 0 && epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->lfd, &ev) == -1)) {
		rc = -errno;
		goto err_free;
	}
	*out = srv;
	return 0;

err_free:
	vx_sched_server_free(srv);
	return rc;
}

uint16_t vx_sched_server_port(const struct vx_sched_server *srv)
{
	return srv->port;
}

/* ---------------------------------------------------------------- Connections */

static void conn_close(struct vx_sched_server *srv, struct srv_conn *c, const char *why)
{
	uint64_t now = vx_now_ms();

	vx_debug("scheduler: closing connection %u: %s", c->slot, why);
	if (c->host != VX_SCHED_NO_HOST && vx_sched_host_ctx(srv->sched, c->host) == c)
		vx_sched_host_silent(srv->sched, c->host, now);
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->io.fd, NULL);
	vx_fconn_close(&c->io);
	srv->mem_in -= c->mem_in;
	srv->mem_out -= c->mem_out;
	if (c->again)
		srv->nr_again--;
	srv->conns[c->slot] = NULL;
	srv->nr_conns--;
	addr_rate_put(srv, c->arate, vx_now_ms());
	vx_ctl_reader_free(&c->rd);
	vx_free(c);
}

static void conn_arm_out(struct vx_sched_server *srv, struct srv_conn *c, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0u), .data.u64 = c->slot };

	if (c->want_out == on)
		return;
	c->want_out = on;
	epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->io.fd, &ev);
}

/* Brings @c's share of the totals up to date with its buffers. */
static void conn_account(struct vx_sched_server *srv, struct srv_conn *c)
{
	size_t in = vx_ctl_reader_mem(&c->rd), out = c->io.out_cap;

	srv->mem_in = srv->mem_in - c->mem_in + in;
	srv->mem_out = srv->mem_out - c->mem_out + out;
	c->mem_in = in;
	c->mem_out = out;
}

/*
 * Closes connections while the totals are over budget, the one idle longest first among those
 * holding more than their first buffer. Returns true when @self (NULL: none) was closed.
 */
static bool mem_shed(struct vx_sched_server *srv, const struct srv_conn *self)
{
	bool gone = false;

	while (srv->mem_in > srv->cfg.recv_mem_max || srv->mem_out > srv->cfg.send_mem_max) {
		bool in = srv->mem_in > srv->cfg.recv_mem_max;
		struct srv_conn *v = NULL;

		for (uint32_t i = 0; i < srv->cfg.conns_max; i++) {
			struct srv_conn *c = srv->conns[i];

			if (c && (in ? c->mem_in > VX_CTL_READER_START : c->mem_out > 0) &&
			    (!v || c->rx_ms < v->rx_ms))
				v = c;
		}
		if (!v)
			break; /* only first buffers: the accept check keeps those in budget */
		vx_warn("scheduler: %s buffers over their budget of %llu bytes: closing the "
			"connection from %s, idle longest",
			in ? "receive" : "send",
			(unsigned long long)(in ? srv->cfg.recv_mem_max : srv->cfg.send_mem_max),
			v->seen_ip);
		gone |= v == self;
		conn_close(srv, v, in ? "receive budget" : "send budget");
	}
	return gone;
}

/* Sends what is queued; returns 0, or a negative errno when the connection is broken. */
static int conn_flush(struct vx_sched_server *srv, struct srv_conn *c)
{
	int rc = vx_fconn_flush(&c->io);

	if (rc)
		return rc;
	conn_arm_out(srv, c, vx_fconn_want_write(&c->io));
	return 0;
}

/* Encodes and queues @m; on failure the connection is closed and -EPIPE returned. */
static int conn_send(struct vx_sched_server *srv, struct srv_conn *c, const struct vx_ctl_msg *m)
{
	ssize_t n = vx_ctl_msg_encode(m, srv->obuf, srv->ocap);
	int rc;

	if (n < 0) {
		vx_err("scheduler: cannot encode %s: %s", vx_ctl_type_name(m->type),
		       vx_strerror((int)n));
		return 0;
	}
	rc = vx_fconn_queue(&c->io, srv->obuf, (size_t)n, -1);
	if (!rc)
		rc = conn_flush(srv, c);
	if (rc) {
		conn_close(srv, c, rc == -ENOBUFS ? "send queue full" : "send failed");
		return -EPIPE;
	}
	conn_account(srv, c);
	return mem_shed(srv, c) ? -EPIPE : 0;
}

/* The IP a connection comes from, as text (an IPv4-mapped IPv6 address as IPv4). */
static int seen_ip(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out,
				 (socklen_t)len)
			       ? 0
			       : -EINVAL;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a))
			return inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)len) ? 0
											: -EINVAL;
		return inet_ntop(AF_INET6, a, out, (socklen_t)len) ? 0 : -EINVAL;
	}
	return -EAFNOSUPPORT;
}

/* Runs @c's connection through TLS; 0 or -ENOMEM (then @c's socket is the caller's). */
static int conn_tls(struct vx_sched_server *srv, struct srv_conn *c)
{
	struct vx_tls_sess *s;

	if (vx_tls_sess_new(&s, srv->tls, NULL, VX_TLS_ROLE_NONE) ||
	    vx_tls_fconn_attach(&c->io, s)) {
		c->io.fd = -1;
		vx_fconn_close(&c->io);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Whether @ip already holds cfg.conns_per_addr connections: one address cannot take the
 * connection table from every other host (dragonfly-behaviour.md 5.5 item 13). Counted over the
 * table, as the slot search below walks it anyway.
 */
static bool addr_full(struct vx_sched_server *srv, const char *ip)
{
	uint32_t n = 0;

	if (!srv->cfg.conns_per_addr)
		return false;
	for (uint32_t i = 0; i < srv->cfg.conns_max && n < srv->cfg.conns_per_addr; i++) {
		const struct srv_conn *c = srv->conns[i];

		n += c && strcmp(c->seen_ip, ip) == 0;
	}
	if (n < srv->cfg.conns_per_addr)
		return false;
	srv->rejected_addr++;
	/* a flood is told once a power of two, not per connection */
	if ((srv->rejected_addr & (srv->rejected_addr - 1)) == 0)
		vx_warn("scheduler: %s holds %u connections, the limit per address: refused "
			"(%llu so far)",
			ip, srv->cfg.conns_per_addr, (unsigned long long)srv->rejected_addr);
	return true;
}

static void addr_rate_unidle(struct vx_sched_server *srv, struct addr_rate *a)
{
	vx_list_del(&a->node);
	srv->nr_idle_rates--;
}

/* Frees the idle buckets that are full again at @now (and the oldest past ADDR_IDLE_MAX). */
static void addr_rate_expire(struct vx_sched_server *srv, uint64_t now)
{
	while (!vx_list_empty(&srv->idle_rates)) {
		struct addr_rate *a = vx_list_first(&srv->idle_rates, struct addr_rate, node);

		if (a->full_ms > now && srv->nr_idle_rates <= ADDR_IDLE_MAX)
			break;
		addr_rate_unidle(srv, a);
		vx_free(a);
	}
}

/*
 * Gives @c the request bucket of its source address: the one another connection from there
 * holds, the one its last connection left (not yet full again), or a new full one.
 * Returns 0 or -ENOMEM.
 */
static int addr_rate_get(struct vx_sched_server *srv, struct srv_conn *c, uint64_t now)
{
	struct vx_list *pos;

	if (!srv->cfg.addr_requests_per_s)
		return 0;
	for (uint32_t i = 0; i < srv->cfg.conns_max; i++) {
		struct srv_conn *o = srv->conns[i];

		if (o && o->arate && strcmp(o->seen_ip, c->seen_ip) == 0) {
			c->arate = o->arate;
			c->arate->refs++;
			return 0;
		}
	}
	addr_rate_expire(srv, now);
	vx_list_for_each(pos, &srv->idle_rates) {
		struct addr_rate *a = vx_list_entry(pos, struct addr_rate, node);

		if (strcmp(a->ip, c->seen_ip) == 0) {
			addr_rate_unidle(srv, a);
			a->refs = 1;
			c->arate = a;
			return 0;
		}
	}
	c->arate = vx_calloc(1, sizeof(*c->arate));
	if (!c->arate)
		return -ENOMEM;
	vx_bucket_init(&c->arate->b, srv->cfg.addr_requests_per_s, srv->cfg.addr_requests_per_s,
		       now);
	snprintf(c->arate->ip, sizeof(c->arate->ip), "%s", c->seen_ip);
	c->arate->refs = 1;
	return 0;
}

/*
 * A connection lets go of its address's bucket @a (NULL: none). The last one keeps it idle
 * until it would be full again (burst = one second of the rate: at most a second after what
 * it owes is paid).
 */
static void addr_rate_put(struct vx_sched_server *srv, struct addr_rate *a, uint64_t now)
{
	uint64_t rate = srv->cfg.addr_requests_per_s, missing;

	if (!a || --a->refs)
		return;
	missing = vx_bucket_peek(&a->b, UINT64_MAX, now);
	missing = missing >= rate ? 0 : rate - missing;
	if (!missing || !rate) {
		vx_free(a);
		return;
	}
	a->full_ms = now + (missing * 1000 + rate - 1) / rate;
	vx_list_add_tail(&srv->idle_rates, &a->node);
	srv->nr_idle_rates++;
	addr_rate_expire(srv, now);
}

/*
 * Takes accepted socket @fd as a new connection (closed on failure, NULL then). The slot is
 * left to the caller to count: it is registered in the epoll set and the table here.
 */
static struct srv_conn *conn_add(struct vx_sched_server *srv, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	const struct vx_net_opts nodelay = { .flags = VX_NET_NODELAY };
	struct srv_conn *c;
	uint32_t slot;

	if (srv->nr_conns == srv->cfg.conns_max) {
		vx_warn("scheduler: connection limit %u reached", srv->cfg.conns_max);
		close(fd);
		return NULL;
	}
	if (srv->mem_in + VX_CTL_READER_START > srv->cfg.recv_mem_max) {
		vx_warn("scheduler: receive buffers at their budget: refusing a connection");
		close(fd);
		return NULL;
	}
	for (slot = 0; srv->conns[slot]; slot++)
		;
	c = vx_calloc(1, sizeof(*c));
	if (!c || vx_ctl_reader_init(&c->rd)) {
		vx_free(c);
		close(fd);
		return NULL;
	}
	(void)vx_net_set_opts(fd, &nodelay);
	if (seen_ip(fd, c->seen_ip, sizeof(c->seen_ip)) || addr_full(srv, c->seen_ip))
		goto fail;
	vx_fconn_init(&c->io, fd, srv->cfg.sendq_max);
	c->sniff = srv->own_tls && srv->cfg.plain_too;
	if (srv->tls && !c->sniff && conn_tls(srv, c))
		goto fail;
	c->slot = slot;
	c->host = VX_SCHED_NO_HOST;
	c->rx_ms = c->born_ms = vx_now_ms();
	vx_bucket_init(&c->reqs, srv->cfg.requests_per_s, srv->cfg.requests_per_s, c->born_ms);
	ev.data.u64 = slot;
	if (addr_rate_get(srv, c, c->born_ms))
		goto fail;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		goto fail;
	srv->conns[slot] = c;
	srv->nr_conns++;
	conn_account(srv, c);
	return c;
fail:
	close(fd);
	addr_rate_put(srv, c->arate, vx_now_ms());
	vx_ctl_reader_free(&c->rd);
	vx_free(c);
	return NULL;
}

static void on_accept(struct vx_sched_server *srv)
{
	for (;;) {
		int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1)
			return; /* EAGAIN, or a transient error: the next readiness retries */
		(void)conn_add(srv, fd);
	}
}

/* ---------------------------------------------------------------- Requests */

static void resp_init(struct vx_ctl_msg *r, const struct vx_ctl_msg *req, int status)
{
	memset(r, 0, sizeof(*r));
	r->tag = VX_TAG_CONTROL_RESPONSE;
	r->type = req->type;
	r->rid = req->rid;
	r->status = status;
	r->has = VX_CTL_F_STATUS;
	if (status) {
		r->error = vx_ctl_str_of(vx_strerror(status));
		r->has |= VX_CTL_F_ERROR;
	}
}

static void resp_answer(struct vx_ctl_msg *r, const struct vx_sched_answer *a)
{
	r->answer = a->kind;
	r->has |= VX_CTL_F_ANSWER;
	vx__sched_metric_answer(a->kind);
	if (a->priv) {
		r->priv = true;
		r->has |= VX_CTL_F_PRIVATE;
	}
	if (a->tenant) {
		r->tenant = vx_ctl_str_of(a->tenant);
		r->has |= VX_CTL_F_TENANT;
	}
	if (a->nr_cands) {
		r->cands = (struct vx_ctl_cand *)a->cands;
		r->nr_cands = a->nr_cands;
		r->has |= VX_CTL_F_CANDS;
	}
	if (a->nr_digests) {
		r->digests = a->digests;
		r->nr_digests = a->nr_digests;
		r->has |= VX_CTL_F_DIGESTS;
	}
	if (a->piece_count) {
		r->piece_count = a->piece_count;
		r->has |= VX_CTL_F_PIECE_COUNT;
	}
	if (a->piece_len) {
		r->piece_len = a->piece_len;
		r->has |= VX_CTL_F_PIECE_LEN;
	}
	r->content_len = a->content_len;
	r->has |= VX_CTL_F_CONTENT_LEN;
}

/*
 * The address a host is given out under: the one its connection comes from. A claim is kept
 * only when it is an IP literal equal to that one (so the scheduler's text never reaches a
 * child); an unspecified claim (0.0.0.0, ::) is the common "I listen everywhere" and silently
 * replaced; any other claim is replaced and logged once per connection (without its text).
 */
static struct vx_ctl_str host_addr(struct srv_conn *c, struct vx_ctl_str claim)
{
	uint8_t a[16], b[16];
	char txt[INET6_ADDRSTRLEN];
	int fam = strchr(c->seen_ip, ':') ? AF_INET6 : AF_INET;
	bool same = false;

	if (claim.len > 0 && claim.len < sizeof(txt)) {
		memcpy(txt, claim.ptr, claim.len);
		txt[claim.len] = '\0';
		if (strcmp(txt, "0.0.0.0") == 0 || strcmp(txt, "::") == 0)
			return vx_ctl_str_of(c->seen_ip);
		same = inet_pton(fam, txt, a) == 1 && inet_pton(fam, c->seen_ip, b) == 1 &&
		       memcmp(a, b, fam == AF_INET ? 4 : 16) == 0;
	}
	if (!same && !c->addr_warned) {
		c->addr_warned = true;
		vx_info("scheduler: a host on %s claimed another address (%u bytes); it is given "
			"out as %s",
			c->seen_ip, claim.len, c->seen_ip);
	}
	return vx_ctl_str_of(c->seen_ip);
}

/* sha256 of the host key, lowercase hex (65 bytes with the NUL). */
int vx__sched_host_key_hash(struct vx_ctl_str key, char *out)
{
	uint8_t md[32];
	unsigned n = 0;

	if (!EVP_Digest(key.ptr, key.len, md, &n, EVP_sha256(), NULL) || n != sizeof(md))
		return -EIO;
	vx_hex_encode(md, sizeof(md), out);
	out[64] = '\0';
	return 0;
}

/*
 * Whom a host id binding is counted against: the IPv4 address, or the /64 of an IPv6 one (one
 * host holds a whole /64, and could otherwise bind ids without end from fresh addresses).
 */
const char *vx__sched_key_src(const char *ip, char *out)
{
	uint8_t a[16];

	if (!strchr(ip, ':') || inet_pton(AF_INET6, ip, a) != 1)
		return ip;
	memset(a + 8, 0, 8);
	return inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN) ? out : ip;
}

/* The connection runs TLS (a plaintext one on a TLS port takes the join-token path). */
static bool conn_is_tls(const struct srv_conn *c)
{
	return vx_tls_fconn_sess(&c->io) != NULL;
}

/* The certificate identity of a TLS connection; NULL: no certificate (or plaintext). */
static const struct vx_tls_id *conn_id(const struct srv_conn *c)
{
	const struct vx_tls_sess *s = vx_tls_fconn_sess(&c->io);

	return s ? vx_tls_sess_peer(s) : NULL;
}

/*
 * Who the hello comes from, over TLS: the certificate names the host id and the role (the hello
 * must name the same id, and may claim seed only with a seed certificate); an admin token in the
 * hello still makes a tool of a certified host. No host key: the certificate binds the id.
 */
static int hello_auth_tls(struct vx_sched_server *srv, struct srv_conn *c,
			  const struct vx_ctl_msg *m, struct vx_sched_host_info *hi)
{
	const struct vx_tls_id *id = conn_id(c);
	enum vx_sched_auth a;

	if (!id || id->role == VX_TLS_ROLE_SCHEDULER)
		return -EACCES;
	a = id->role == VX_TLS_ROLE_SEED ? VX_SCHED_AUTH_SEED : VX_SCHED_AUTH_PEER;
	if ((m->has & VX_CTL_F_TOKEN) &&
	    vx_sched_tokens_check(&srv->tokens, m->token) == VX_SCHED_AUTH_ADMIN)
		a = VX_SCHED_AUTH_ADMIN;
	if (c->auth != VX_SCHED_AUTH_NONE && c->auth != a)
		return -EACCES;
	if (a == VX_SCHED_AUTH_ADMIN) {
		c->auth = (uint8_t)a;
		return 1;
	}
	if (m->role == VX_CTL_ROLE_SEED && a != VX_SCHED_AUTH_SEED) {
		vx_warn("scheduler: host %s on %s claimed the seed role with a %s certificate: "
			"refused",
			id->host_id, c->seen_ip, vx_tls_role_name(id->role));
		return -EACCES;
	}
	if (m->port == 0 || m->host_id.len == 0)
		return -EINVAL;
	if (m->host_id.len != strlen(id->host_id) ||
	    memcmp(m->host_id.ptr, id->host_id, m->host_id.len) != 0) {
		vx_warn("scheduler: host %s on %s named another host id in its hello: refused",
			id->host_id, c->seen_ip);
		return -EACCES;
	}
	c->auth = (uint8_t)a;
	hi->addr = host_addr(c, m->addr);
	hi->role = a == VX_SCHED_AUTH_SEED && m->role == VX_CTL_ROLE_SEED ? VX_CTL_ROLE_SEED
									  : VX_CTL_ROLE_NORMAL;
	hi->tenant = (struct vx_ctl_str){ id->tenant, (uint32_t)strlen(id->tenant) };
	return 0;
}

/*
 * Who the hello comes from: the token decides the role (the claimed role is at most lowered,
 * never raised), and the host key must match the one first bound to the host id.
 */
static int hello_auth(struct vx_sched_server *srv, struct srv_conn *c, const struct vx_ctl_msg *m,
		      struct vx_sched_host_info *hi)
{
	enum vx_sched_auth a = VX_SCHED_AUTH_NONE;
	char kh[65], src[INET6_ADDRSTRLEN];
	int rc;

	enum vx_pki_role pr;

	if (conn_is_tls(c))
		return hello_auth_tls(srv, c, m, hi);
	if (m->has & VX_CTL_F_TOKEN)
		a = vx_sched_tokens_check(&srv->tokens, m->token);
	else if (srv->pki && !srv->tls &&
		 vx_pki_host_role(srv->pki, m->host_id.ptr, m->host_id.len, &pr, c->tenant) == 0)
		/* joined (section 11): the certificate's role; the host key is checked below */
		a = pr == VX_PKI_ROLE_SEED ? VX_SCHED_AUTH_SEED : VX_SCHED_AUTH_PEER;
	else if (srv->cfg.insecure_open)
		a = VX_SCHED_AUTH_OPEN;
	if (a == VX_SCHED_AUTH_NONE)
		return -EACCES;
	/* one connection, one identity: a second hello may not change its token */
	if (c->auth != VX_SCHED_AUTH_NONE && c->auth != a)
		return -EACCES;
	if (a == VX_SCHED_AUTH_ADMIN) {
		c->auth = (uint8_t)a; /* a tool: no host record, no role in the swarm */
		return 1;
	}
	if (m->role == VX_CTL_ROLE_SEED && a != VX_SCHED_AUTH_SEED)
		return -EACCES;
	if (m->port == 0 || !(m->has & VX_CTL_F_HOST_KEY) ||
	    m->host_key.len < VX_SCHED_HOST_KEY_MIN || m->host_id.len == 0)
		return m->port == 0 || m->host_id.len == 0 ? -EINVAL : -EACCES;
	rc = vx__sched_host_key_hash(m->host_key, kh);
	if (!rc)
		rc = vx__sched_db_host_key(
			srv->db, m->host_id, kh, vx__sched_key_src(c->seen_ip, src),
			srv->cfg.host_ids_per_addr, srv->cfg.host_ids_max, vx_wall_s());
	if (rc == -EACCES)
		vx_warn("scheduler: a host on %s named a host id bound to another key: refused",
			c->seen_ip);
	if (rc)
		return rc == VX_EDB ? -EIO : rc;
	c->auth = (uint8_t)a;
	hi->addr = host_addr(c, m->addr);
	hi->role = m->role == VX_CTL_ROLE_SEED ? VX_CTL_ROLE_SEED : VX_CTL_ROLE_NORMAL;
	hi->tenant = (struct vx_ctl_str){ c->tenant, (uint32_t)strlen(c->tenant) };
	return 0;
}

static int on_hello(struct vx_sched_server *srv, struct srv_conn *c, const struct vx_ctl_msg *m,
		    struct vx_ctl_msg *r)
{
	struct vx_sched_host_info hi = { 0 };
	struct srv_conn *old;
	int h;

	/* one host per connection: a second hello may refresh it, not switch to another id */
	if (c->host != VX_SCHED_NO_HOST) {
		const char *id = vx_sched_host_id(srv->sched, c->host);

		if (id && !(m->host_id.len == strlen(id) &&
			    memcmp(m->host_id.ptr, id, m->host_id.len) == 0))
			return -EINVAL;
	}
	h = hello_auth(srv, c, m, &hi);
	if (h < 0)
		return h;
	if (h == 0) {
		hi.id = m->host_id;
		hi.port = m->port;
		hi.idc = m->idc;
		hi.location = m->location;
		hi.slots = m->slots;
		hi.bandwidth_bps = m->bandwidth_bps;
		h = vx_sched_hello(srv->sched, &hi, vx_now_ms());
		if (h < 0)
			return h;
		old = vx_sched_host_ctx(srv->sched, (uint32_t)h);
		if (old && old != c) {
			/* the host reconnected (same key); its old connection is stale */
			old->host = VX_SCHED_NO_HOST;
			conn_close(srv, old, "replaced by a new connection of the same host");
		}
		c->host = (uint32_t)h;
		vx_sched_host_set_ctx(srv->sched, (uint32_t)h, c);
		(void)vx__sched_db_host(srv->db, &hi, vx_wall_s());
	}
	r->interval_ms = srv->cfg.announce_ms;
	r->has |= VX_CTL_F_INTERVAL;
	if (srv->cfg_version) {
		r->cfg_version = srv->cfg_version;
		r->has |= VX_CTL_F_CFG_VERSION;
	}
	return 0;
}

/* cluster-config: the document, its version and sha256 (version 0 and no document: none). */
static void on_cluster_config(const struct vx_sched_server *srv, struct vx_ctl_msg *r)
{
	r->cfg_version = srv->cfg_version;
	r->has |= VX_CTL_F_CFG_VERSION;
	if (!srv->cfg_version)
		return;
	r->cfg_doc = srv->cfg_doc;
	r->cfg_doc_len = srv->cfg_doc_len;
	r->cfg_sha = vx_ctl_str_of(srv->cfg_sha);
	r->has |= VX_CTL_F_CFG_DOC | VX_CTL_F_CFG_SHA;
}

/*
 * delete-task: an admin removes the task everywhere; a peer or seed only its own peer of it
 * (the same as leave), so no host can delete another's download.
 */
static int on_delete(struct vx_sched_server *srv, struct srv_conn *c, const struct vx_ctl_msg *m,
		     uint64_t now)
{
	int rc;

	if (c->auth != VX_SCHED_AUTH_ADMIN)
		return vx_sched_leave(srv->sched, c->host, m->task_id, now);
	rc = vx_sched_delete_task(srv->sched, m->task_id, now);
	if (!rc)
		(void)vx__sched_db_task_delete(srv->db, m->task_id);
	return rc;
}

static void db_task(struct vx_sched_server *srv, struct vx_ctl_str id, struct vx_ctl_str url)
{
	struct vx_sched_task_stat st;

	if (vx_sched_stat(srv->sched, id, &st) == 0)
		(void)vx__sched_db_task(srv->db, id, url, &st, vx_wall_s());
}

static int on_register(struct vx_sched_server *srv, struct srv_conn *c, const struct vx_ctl_msg *m,
		       struct vx_ctl_msg *r, struct vx_sched_answer *a)
{
	struct vx_sched_reg req = { 0 };
	int rc;

	req.task_id = m->task_id;
	req.url = m->url;
	req.piece_len = m->piece_len;
	req.content_len = (m->has & VX_CTL_F_CONTENT_LEN) ? m->content_len : -1;
	req.need_bts = m->need_bts;
	req.priv = (m->has & VX_CTL_F_PRIVATE) && m->priv;
	req.id_kind = (m->has & VX_CTL_F_ID_KIND) ? m->id_kind : VX_CTL_ID_URL;
	req.tag = m->tg;
	req.app = m->app;
	req.fixed_piece_len = m->fixed_piece_len;
	req.filtered = m->filtered;
	req.nr_filtered = m->nr_filtered;
	req.bitmap_base = m->bitmap_base;
	req.bitmap = m->bitmap;
	req.bitmap_len = m->bitmap_len;
	vx__sched_log_register(m, vx_sched_host_id(srv->sched, c->host));
	rc = vx_sched_register(srv->sched, c->host, &req, vx_now_ms(), a);
	if (rc)
		return rc;
	resp_answer(r, a);
	db_task(srv, m->task_id, m->url);
	return 0;
}

static int on_progress(struct vx_sched_server *srv, struct srv_conn *c, const struct vx_ctl_msg *m,
		       struct vx_ctl_msg *r)
{
	struct vx_sched_progress p = { 0 };
	struct vx_ctl_digest *d;
	uint32_t nd;
	int rc;

	p.task_id = m->task_id;
	p.bitmap_base = m->bitmap_base;
	p.bitmap = m->bitmap;
	p.bitmap_len = m->bitmap_len;
	p.digests = m->digests;
	p.nr_digests = m->nr_digests;
	p.costs = m->costs;
	p.nr_costs = m->nr_costs;
	p.content_len_hint = (m->has & VX_CTL_F_CONTENT_LEN) && m->content_len > 0
				     ? (uint64_t)m->content_len
				     : 0;
	p.piece_len_hint = m->piece_len;
	rc = vx_sched_progress(srv->sched, c->host, &p, vx_now_ms(), &d, &nd);
	if (nd) {
		r->digests = d;
		r->nr_digests = nd;
		r->has |= VX_CTL_F_DIGESTS;
	}
	if (p.content_len_hint)
		db_task(srv, m->task_id, (struct vx_ctl_str){ 0 });
	return rc;
}

static int on_stat(struct vx_sched_server *srv, const struct vx_ctl_msg *m, struct vx_ctl_msg *r)
{
	struct vx_sched_task_stat st;
	int rc = vx_sched_stat(srv->sched, m->task_id, &st);

	if (rc)
		return rc;
	r->state = st.state;
	r->peers = st.peers;
	r->done_peers = st.done_peers;
	r->piece_count = st.piece_count;
	r->piece_len = st.piece_len;
	r->content_len = st.content_len;
	r->has |= VX_CTL_F_STATE | VX_CTL_F_PEERS | VX_CTL_F_DONE_PEERS | VX_CTL_F_PIECE_COUNT |
		  VX_CTL_F_PIECE_LEN | VX_CTL_F_CONTENT_LEN;
	return 0;
}

/* ---------------------------------------------------------------- Persistent cache */

/*
 * Fills @m with what a fetcher of @t needs: geometry, every trusted digest, the holders as
 * candidates (@hosts, @nh handles; @complete and @pieces per host, or NULL: full copies), TTL
 * left, replicas, tag and application. Returns the
 * allocation the message borrows (free it after sending), or NULL when out of memory.
 */
static void *pcache_fill(struct vx_sched_server *srv, const struct vx_pcache_task *t,
			 const uint32_t *hosts, const bool *complete, const uint32_t *pieces,
			 uint32_t nh, struct vx_ctl_msg *m)
{
	size_t dsz = (size_t)t->piece_count * sizeof(struct vx_ctl_digest);
	size_t csz = (size_t)nh * sizeof(struct vx_ctl_cand);
	uint8_t *mem = vx_malloc(dsz + csz + (size_t)t->piece_count * VX_DIGEST_CRC32_STR_MAX + 1);
	struct vx_ctl_digest *d = (void *)mem;
	struct vx_ctl_cand *cd;
	char *txt;

	if (!mem)
		return NULL;
	cd = (void *)(mem + dsz);
	txt = (char *)(mem + dsz + csz);
	for (uint32_t i = 0; i < t->piece_count; i++) {
		char *one = txt + (size_t)i * VX_DIGEST_CRC32_STR_MAX;

		(void)!vx_digest_format_crc32(t->crc[i], one, VX_DIGEST_CRC32_STR_MAX);
		d[i].piece = i;
		d[i].digest = vx_ctl_str_of(one);
	}
	m->nr_cands = 0;
	for (uint32_t i = 0; i < nh; i++) {
		const char *id = vx_sched_host_id(srv->sched, hosts[i]);

		if (!id)
			continue;
		cd[m->nr_cands] = (struct vx_ctl_cand){
			.host_id = vx_ctl_str_of(id),
			.pieces = pieces ? pieces[i] : t->piece_count,
			.complete = complete ? complete[i] : true,
		};
		if (vx_sched_host_addr(srv->sched, hosts[i], &cd[m->nr_cands].addr,
				       &cd[m->nr_cands].port) == 0)
			m->nr_cands++;
	}
	m->cands = cd;
	m->digests = d;
	m->nr_digests = t->piece_count;
	m->content_len = (int64_t)t->content_len;
	m->piece_len = t->piece_len;
	m->piece_count = t->piece_count;
	m->replicas = t->replicas;
	m->ttl_s = t->ttl_s;
	m->ttl_left_s = vx_pcache_ttl_left(t, vx_wall_s());
	m->has |= VX_CTL_F_CANDS | VX_CTL_F_DIGESTS | VX_CTL_F_CONTENT_LEN | VX_CTL_F_PIECE_LEN |
		  VX_CTL_F_PIECE_COUNT | VX_CTL_F_REPLICAS | VX_CTL_F_TTL | VX_CTL_F_TTL_LEFT;
	if (t->tag) {
		m->tg = vx_ctl_str_of(t->tag);
		m->has |= VX_CTL_F_TAG;
	}
	if (t->app) {
		m->app = vx_ctl_str_of(t->app);
		m->has |= VX_CTL_F_APP;
	}
	return mem;
}

static void pcache_replicate(void *arg, uint32_t host, const struct vx_pcache_task *t,
			     const uint32_t *holders, uint32_t nr_holders)
{
	struct vx_sched_server *srv = arg;
	struct srv_conn *c = vx_sched_host_ctx(srv->sched, host);
	struct vx_ctl_msg m;
	void *mem;

	if (!c)
		return;
	memset(&m, 0, sizeof(m));
	m.tag = VX_TAG_CONTROL_EVENT;
	m.type = VX_CTL_EVENT;
	m.event = VX_CTL_EV_REPLICATE;
	m.task_id = (struct vx_ctl_str){ t->id, VX_TASK_ID_LEN };
	m.has = VX_CTL_F_EVENT | VX_CTL_F_TASK_ID;
	mem = pcache_fill(srv, t, holders, NULL, NULL,
			  VX_MIN(nr_holders, (uint32_t)VX_CTL_CANDS_MAX), &m);
	if (!mem)
		return; /* the PENDING times out and another host is asked */
	(void)conn_send(srv, c, &m);
	vx_free(mem);
}

static void pcache_drop(void *arg, uint32_t host, const char *task_id)
{
	struct vx_sched_push ev = { .kind = VX_CTL_EV_EVICT, .task_id = task_id };

	(void)vx_sched_server_push(arg, host, &ev);
}

static struct vx_pcache_ops pcache_ops(struct vx_sched_server *srv)
{
	return (struct vx_pcache_ops){ .replicate = pcache_replicate,
				       .drop = pcache_drop,
				       .arg = srv };
}

/* cache-import, cache-held, cache-delete (spec/control.md section 14). */
static int on_cache(struct vx_sched_server *srv, struct srv_conn *c, const struct vx_ctl_msg *m,
		    uint64_t now)
{
	struct vx_pcache_ops ops = pcache_ops(srv);
	const char *host =
		c->host == VX_SCHED_NO_HOST ? NULL : vx_sched_host_id(srv->sched, c->host);
	const struct vx_pcache_task *t;
	char id[VX_TASK_ID_LEN + 1];

	snprintf(id, sizeof(id), "%.*s", (int)m->task_id.len, m->task_id.ptr);
	switch (m->type) {
	case VX_CTL_CACHE_IMPORT:
		return host ? vx_pcache_import(srv->pcache, host, m, now, vx_wall_s()) : -EACCES;
	case VX_CTL_CACHE_HELD:
		return host ? vx_pcache_held(srv->pcache, host, m->task_id, (int)m->status, now)
			    : -EACCES;
	default:
		t = vx_pcache_find(srv->pcache, id);
		if (!t)
			return -ENOENT;
		/* the importer's host or an admin: no other host drops a copy it does not own */
		if (c->auth != VX_SCHED_AUTH_ADMIN && (!host || strcmp(host, t->importer) != 0))
			return -EPERM;
		vx_info("scheduler: persistent cache %.12s deleted by %s", id,
			host ? host : "an admin");
		return vx_pcache_drop_everywhere(srv->pcache, srv->sched, id, &ops);
	}
}

/* Bits set among the first @n of @bits (@len bytes). */
static uint32_t bits_set(const uint8_t *bits, size_t len, uint32_t n)
{
	uint32_t c = 0;

	for (size_t i = 0; i < len && i * 8 < n; i++) {
		uint8_t b = bits[i];

		if ((i + 1) * 8 > n)
			b &= (uint8_t)(0xffu << (8 - (n - i * 8))); /* bit 7 is piece 0 */
		c += (uint32_t)__builtin_popcount(b);
	}
	return c;
}

static int on_cache_stat(struct vx_sched_server *srv, struct srv_conn *c,
			 const struct vx_ctl_msg *m, struct vx_ctl_msg *r)
{
	const char *host =
		c->host == VX_SCHED_NO_HOST ? NULL : vx_sched_host_id(srv->sched, c->host);
	uint32_t hosts[VX_CTL_CANDS_MAX], pieces[VX_CTL_CANDS_MAX], nh;
	bool complete[VX_CTL_CANDS_MAX];
	const struct vx_pcache_task *t;
	char id[VX_TASK_ID_LEN + 1];
	void *mem;
	int rc;

	snprintf(id, sizeof(id), "%.*s", (int)m->task_id.len, m->task_id.ptr);
	t = vx_pcache_find(srv->pcache, id);
	if (!t) {
		resp_init(r, m, -ENOENT);
		return conn_send(srv, c, r);
	}
	/* a stat with the asker's bitmap: it fetches the task (an export) and serves what it has */
	if (host && (m->has & VX_CTL_F_BITMAP))
		(void)vx_pcache_fetching(srv->pcache, host, id,
					 bits_set(m->bitmap, m->bitmap_len, t->piece_count),
					 vx_now_ms());
	nh = vx_pcache_cands(srv->pcache, t, srv->sched, host, hosts, complete, pieces,
			     VX_CTL_CANDS_MAX);
	mem = pcache_fill(srv, t, hosts, complete, pieces, nh, r);
	if (!mem) {
		resp_init(r, m, -ENOMEM);
		return conn_send(srv, c, r);
	}
	rc = conn_send(srv, c, r);
	vx_free(mem);
	return rc;
}

/* join, renew, crl (before or after a hello): a refused one closes the connection. */
static int on_pki(struct vx_sched_server *srv, struct srv_conn *c, const struct vx_ctl_msg *m,
		  struct vx_ctl_msg *r)
{
	struct sched_pki_req q = {
		.pki = srv->pki,
		.db = srv->db,
		.seen_ip = c->seen_ip,
		.host_ids_per_addr = srv->cfg.host_ids_per_addr,
		.host_ids_max = srv->cfg.host_ids_max,
		.cert_ttl_s = srv->cfg.cert_ttl_s,
	};
	char *owned = NULL;
	int rc = vx__sched_pki_serve(&q, m, r, &owned);

	if (rc) {
		resp_init(r, m, rc);
		if (conn_send(srv, c, r))
			return -EPIPE;
		if (rc == -EACCES) {
			conn_close(srv, c, "refused"); /* the answer is flushed first */
			return -EPIPE;
		}
		return 0;
	}
	rc = conn_send(srv, c, r);
	vx_free(owned);
	return rc;
}

/* Serves one decoded request; returns what conn_send returned (-EPIPE: conn is gone). */
static int on_request(struct vx_sched_server *srv, struct srv_conn *c, const struct vx_ctl_msg *m)
{
	struct vx_sched_answer a;
	struct vx_ctl_msg r;
	uint64_t now = vx_now_ms();
	int rc = 0;

	vx__sched_metric_begin();
	resp_init(&r, m, 0);
	if (!vx_bucket_peek(&c->reqs, 1, now)) {
		/* over the connection's request rate: answered, not served (the 429 of this
		 * channel); the peer's own timers ask again later */
		rc = -EBUSY;
		srv->rate_refused++;
		goto answer;
	}
	if (c->arate && !vx_bucket_peek(&c->arate->b, 1, now)) {
		/* over its address's rate, counted over all connections from there */
		rc = -EBUSY;
		srv->arate_refused++;
		/* a flood is told once a power of two, not per request */
		if ((srv->arate_refused & (srv->arate_refused - 1)) == 0)
			vx_warn("scheduler: %s is over its %u requests/s (--addr-requests-per-s): "
				"answered -EBUSY (%llu so far)",
				c->seen_ip, srv->cfg.addr_requests_per_s,
				(unsigned long long)srv->arate_refused);
		goto answer;
	}
	vx_bucket_take(&c->reqs, 1);
	if (c->arate)
		vx_bucket_take(&c->arate->b, 1);
	if (conn_is_tls(c) && !conn_id(c) && m->type != VX_CTL_JOIN) {
		/* no client certificate: nothing but joining (spec/control.md section 10) */
		rc = -EACCES;
		goto answer;
	}
	if (m->type == VX_CTL_JOIN || m->type == VX_CTL_RENEW || m->type == VX_CTL_CRL)
		return on_pki(srv, c, m, &r);
	if (m->type != VX_CTL_HELLO && c->host == VX_SCHED_NO_HOST &&
	    !(c->auth == VX_SCHED_AUTH_ADMIN &&
	      (m->type == VX_CTL_STAT_TASK || m->type == VX_CTL_DELETE_TASK ||
	       m->type == VX_CTL_CACHE_STAT || m->type == VX_CTL_CACHE_DELETE))) {
		rc = -EACCES; /* hello first; an admin only stats and deletes */
		goto answer;
	}
	switch (m->type) {
	case VX_CTL_HELLO:
		rc = on_hello(srv, c, m, &r);
		break;
	case VX_CTL_ANNOUNCE:
		rc = vx_sched_announce(srv->sched, c->host, m->uploads, m->tx_bps, now);
		break;
	case VX_CTL_REGISTER:
		rc = on_register(srv, c, m, &r, &a);
		break;
	case VX_CTL_PROGRESS:
		rc = on_progress(srv, c, m, &r);
		break;
	case VX_CTL_RESCHEDULE:
		rc = vx_sched_reschedule(srv->sched, c->host, m->task_id, m->avoid, m->nr_avoid,
					 now, &a);
		if (!rc)
			resp_answer(&r, &a);
		break;
	case VX_CTL_MISMATCH:
		rc = vx_sched_mismatch(srv->sched, c->host, m->task_id, m->parent, m->piece, now);
		break;
	case VX_CTL_FINISHED:
		rc = vx_sched_finished(srv->sched, c->host, m->task_id, now);
		if (!rc)
			db_task(srv, m->task_id, (struct vx_ctl_str){ 0 });
		break;
	case VX_CTL_FAILED:
		/* -EPERM/-EACCES: a seed refused the trigger (spec/control.md section 5) */
		rc = (m->has & VX_CTL_F_STATUS) && (m->status == -EPERM || m->status == -EACCES)
			     ? vx_sched_refused(srv->sched, c->host, m->task_id, now)
			     : vx_sched_failed(srv->sched, c->host, m->task_id, now);
		break;
	case VX_CTL_LEAVE:
		if (m->has & VX_CTL_F_TASK_ID) {
			rc = vx_sched_leave(srv->sched, c->host, m->task_id, now);
		} else {
			vx_sched_host_leave(srv->sched, c->host, now);
			c->host = VX_SCHED_NO_HOST;
		}
		break;
	case VX_CTL_STAT_TASK:
		rc = on_stat(srv, m, &r);
		break;
	case VX_CTL_DELETE_TASK:
		rc = on_delete(srv, c, m, now);
		break;
	case VX_CTL_CLUSTER_CONFIG:
		on_cluster_config(srv, &r);
		break;
	case VX_CTL_CACHE_IMPORT:
	case VX_CTL_CACHE_HELD:
	case VX_CTL_CACHE_DELETE:
		rc = on_cache(srv, c, m, now);
		break;
	case VX_CTL_CACHE_STAT:
		return on_cache_stat(srv, c, m, &r);
	default:
		rc = -EOPNOTSUPP;
	}
answer:
	vx__sched_metric_error(m->type, rc);
	if (rc) {
		struct vx_ctl_msg e;

		resp_init(&e, m, rc);
		/* keep what the request produced (digests of a partial progress) */
		if (r.has & VX_CTL_F_DIGESTS) {
			e.digests = r.digests;
			e.nr_digests = r.nr_digests;
			e.has |= VX_CTL_F_DIGESTS;
		}
		if ((m->type == VX_CTL_HELLO || (conn_is_tls(c) && !conn_id(c))) && rc == -EACCES) {
			/* a refused hello: answer, then close (the answer is flushed first) */
			if (conn_send(srv, c, &e))
				return -EPIPE;
			conn_close(srv, c, "hello refused");
			return -EPIPE;
		}
		return conn_send(srv, c, &e);
	}
	return conn_send(srv, c, &r);
}

struct conn_in {
	struct vx_sched_server *srv;
	struct srv_conn *c;
};

/*
 * vx_fconn input: feeds received bytes to the reader and serves each request. Uses every byte,
 * or returns -EPIPE once the connection was closed (and freed).
 */
static ssize_t conn_parse(void *arg, const uint8_t *in, size_t len)
{
	struct vx_sched_server *srv = ((struct conn_in *)arg)->srv;
	struct srv_conn *c = ((struct conn_in *)arg)->c;
	size_t left = len;

	while (left > 0) {
		struct vx_frame f;
		struct vx_ctl_msg m;
		ssize_t n = vx_ctl_reader_feed(&c->rd, in, left, &f);
		int rc;

		if (n == -EAGAIN)
			break;
		if (n < 0 || f.hdr.tag != VX_TAG_CONTROL_REQUEST) {
			conn_close(srv, c, n < 0 ? vx_ctl_reader_why(&c->rd) : "not a request");
			return -EPIPE;
		}
		rc = vx_ctl_msg_decode(f.hdr.tag, f.value, f.value_len, &m);
		if (rc) {
			vx_info("scheduler: dropping a peer that sent a bad frame: %s",
				vx_strerror(rc));
			conn_close(srv, c, "malformed frame");
			return -EPIPE;
		}
		c->rx_ms = vx_now_ms();
		rc = on_request(srv, c, &m);
		vx_ctl_msg_release(&m);
		if (rc)
			return rc;
		in += n;
		left -= (size_t)n;
	}
	return (ssize_t)len;
}

/* A TLS connection failed: said at info with the reason (a refused certificate above all). */
static void tls_refused(const struct srv_conn *c, ssize_t n)
{
	const struct vx_tls_sess *s = vx_tls_fconn_sess(&c->io);

	if (s && *vx_tls_sess_why(s))
		vx_info("scheduler: TLS %s from %s: %s",
			n == -EACCES ? "refused a certificate" : "failed on a connection",
			c->seen_ip, vx_tls_sess_why(s));
}

/*
 * A port that takes TLS and plaintext: a TLS record starts 0x16 0x03, a Vortex frame has its tag
 * (0x60-0x62) in its second byte. Returns 0 once decided (TLS attached or not), 1 to wait for
 * more bytes or when @c was closed. A lone 0x16 is taken for TLS (no busy wait on one byte).
 */
static int conn_sniff(struct vx_sched_server *srv, struct srv_conn *c)
{
	uint8_t b[2];
	ssize_t n = recv(c->io.fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (n <= 0) {
		conn_close(srv, c, n == 0 ? "peer closed" : "recv failed");
		return 1;
	}
	c->sniff = false;
	if (b[0] == 0x16 && (n == 1 || b[1] == 0x03)) {
		int fd = c->io.fd;

		if (conn_tls(srv, c)) { /* closed the fconn; the slot is still ours */
			epoll_ctl(srv->epfd, EPOLL_CTL_DEL, fd, NULL);
			close(fd);
			c->io.fd = -1;
			conn_close(srv, c, "out of memory");
			return 1;
		}
	}
	return 0;
}

static void on_readable(struct vx_sched_server *srv, struct srv_conn *c)
{
	struct conn_in ci = { srv, c };

	if (c->again) {
		c->again = false;
		srv->nr_again--;
	}
	if (c->sniff && conn_sniff(srv, c))
		return;
	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t n = vx_fconn_read(&c->io, conn_parse, &ci);

		if (n == -EPIPE)
			return; /* closed while serving */
		if (n < 0) {
			tls_refused(c, n);
			conn_close(srv, c, n == -ECONNRESET ? "peer closed" : vx_strerror((int)n));
			return;
		}
		if (n == 0)
			break;
	}
	/* TLS: handshake records to send, answers queued during it, input read whole */
	if (conn_flush(srv, c)) {
		conn_close(srv, c, "send failed");
		return;
	}
	conn_account(srv, c);
	if (mem_shed(srv, c))
		return;
	if (vx_fconn_has_input(&c->io)) {
		c->again = true;
		srv->nr_again++;
	}
}

/* Connections whose TLS layer holds input: read on as if the socket had said so. */
static void read_again(struct vx_sched_server *srv)
{
	for (uint32_t i = 0; i < srv->cfg.conns_max && srv->nr_again; i++) {
		struct srv_conn *c = srv->conns[i];

		if (c && c->again)
			on_readable(srv, c);
	}
}

int vx_sched_server_adopt(struct vx_sched_server *srv, int fd, const uint8_t *pre, size_t len)
{
	struct conn_in ci = { srv, NULL };
	struct srv_conn *c;
	ssize_t n;

	if (len > VX_FCONN_IN || (srv->tls && srv->own_tls)) {
		close(fd);
		return -EINVAL;
	}
	c = conn_add(srv, fd); /* with TLS, its session is set up (no sniffing: cfg.tls) */
	if (!c)
		return -ENOMEM;
	if (srv->tls) {
		/* STARTTLS, then the ClientHello's first bytes: ciphertext for the session */
		if (!vx_frame_is_starttls(pre, len)) {
			conn_close(srv, c, "a plaintext control frame where TLS is on");
			return 0;
		}
		if (vx_tls_sess_feed(vx_tls_fconn_sess(&c->io), pre + VX_FRAME_HDR_LEN,
				     len - VX_FRAME_HDR_LEN)) {
			conn_close(srv, c, "out of memory");
			return 0;
		}
		on_readable(srv, c);
		return 0;
	}
	c->sniff = false; /* the first bytes were a control frame's: plaintext */
	memcpy(c->io.in, pre, len);
	c->io.in_len = len;
	ci.c = c;
	n = vx_fconn_input(&c->io, conn_parse, &ci);
	if (n == -EPIPE)
		return 0; /* closed while serving */
	if (n < 0) {
		conn_close(srv, c, vx_strerror((int)n));
		return 0;
	}
	if (conn_flush(srv, c))
		conn_close(srv, c, "send failed");
	return 0;
}

/* ---------------------------------------------------------------- Loop */

/* A trigger names the source and everything its task id is derived from (spec/control.md). */
static void trigger_fill(struct vx_ctl_msg *m, const struct vx_sched_event *ev)
{
	m->url = ev->url;
	m->need_bts = true;
	m->has |= VX_CTL_F_URL | VX_CTL_F_NEED_BTS;
	m->tg = ev->tag;
	m->app = ev->app;
	m->has |= (ev->tag.len ? VX_CTL_F_TAG : 0) | (ev->app.len ? VX_CTL_F_APP : 0);
	m->fixed_piece_len = ev->fixed_piece_len;
	m->has |= ev->fixed_piece_len ? VX_CTL_F_FIXED_PIECE : 0;
	m->filtered = (struct vx_ctl_str *)(uintptr_t)ev->filtered;
	m->nr_filtered = ev->nr_filtered;
	m->has |= ev->nr_filtered ? VX_CTL_F_FILTERED : 0;
	m->requester = ev->requester;
	m->has |= ev->requester.len ? VX_CTL_F_REQUESTER : 0;
	m->requester_local = ev->requester_local;
	m->has |= ev->requester_local ? VX_CTL_F_REQ_LOCAL : 0;
}

static void send_events(struct vx_sched_server *srv)
{
	struct vx_sched_event ev;
	uint64_t now = vx_now_ms();

	vx__sched_metric_begin(); /* a pushed answer's candidates are chosen as it is popped */
	while (vx_sched_next_event(srv->sched, &ev, now)) {
		struct srv_conn *c = vx_sched_host_ctx(srv->sched, ev.host);
		struct vx_ctl_msg m;

		if (!c)
			continue;
		memset(&m, 0, sizeof(m));
		m.tag = VX_TAG_CONTROL_EVENT;
		m.type = VX_CTL_EVENT;
		m.event = ev.kind;
		m.task_id = (struct vx_ctl_str){ ev.task_id, VX_TASK_ID_LEN };
		m.has = VX_CTL_F_EVENT | VX_CTL_F_TASK_ID;
		resp_answer(&m, &ev.ans);
		if (ev.kind == VX_CTL_EV_TRIGGER) {
			trigger_fill(&m, &ev);
		}
		(void)conn_send(srv, c, &m);
		vx__sched_metric_begin();
	}
}

/*
 * TLS files loaded again (a CRL signed again, by us or `vx cert revoke`; the operator's files):
 * every open connection's certificate is verified again, and a host revoked since it connected
 * loses its connection now, not at its next one (spec/control.md section 10).
 */
static void tls_recheck_conns(struct vx_sched_server *srv)
{
	const void *now = vx_tls_ctx_ssl(srv->tls);

	if (now == srv->tls_seen)
		return;
	srv->tls_seen = now;
	for (uint32_t i = 0; i < srv->cfg.conns_max; i++) {
		struct srv_conn *c = srv->conns[i];
		const struct vx_tls_sess *ts = c ? vx_tls_fconn_sess(&c->io) : NULL;

		if (!ts || vx_tls_sess_recheck(ts, srv->tls) != -EKEYREJECTED)
			continue;
		vx_info("scheduler: closing the connection of %s (%s): its certificate no longer "
			"verifies (revoked or expired)",
			c->host != VX_SCHED_NO_HOST ? vx_sched_host_id(srv->sched, c->host) : "-",
			c->seen_ip);
		conn_close(srv, c, "certificate revoked");
	}
}

static void on_tick(struct vx_sched_server *srv, uint64_t now)
{
	const char *pem;
	size_t len;

	vx_sched_tick(srv->sched, now);
	if (now >= srv->next_expire_ms) {
		/* at most hourly; twice per keep time when that is shorter */
		uint64_t every = VX_MIN(3600000ull, srv->cfg.records_keep_s * 500ull);

		srv->next_expire_ms = now + VX_MAX(every, (uint64_t)SRV_TICK_MS);
		(void)vx__sched_db_expire(srv->db, vx_wall_s(), srv->cfg.records_keep_s,
					  srv->cfg.records_max);
	}
	{
		struct vx_pcache_ops ops = pcache_ops(srv);

		vx_pcache_tick(srv->pcache, srv->sched, now, vx_wall_s(), &ops);
	}
	if (srv->pki) {
		/* due, or a revoke by `vx cert` that another signer's CRL overtook */
		(void)vx__sched_db_flush(srv->db); /* the CA has its own connection */
		(void)!vx_pki_crl(srv->pki, false, &pem, &len);
	}
	if (srv->own_tls) {
		/* a CRL signed again (above, or by `vx cert revoke`): new handshakes check it */
		char err[VX_TLS_ERR_LEN];

		if (vx_tls_ctx_reload(srv->own_tls, false, err, sizeof(err)) < 0)
			vx_warn("scheduler: TLS files of the CA: %s (the old ones stay in use)",
				err);
	}
	if (srv->tls) {
		vx_tls_ctx_tick(srv->tls, "scheduler", vx_wall_s());
		tls_recheck_conns(srv);
	}
	for (uint32_t i = 0; i < srv->cfg.conns_max; i++) {
		struct srv_conn *c = srv->conns[i];

		if (!c)
			continue;
		if (c->host == VX_SCHED_NO_HOST && now - c->born_ms > srv->cfg.hello_ms &&
		    now - c->rx_ms > srv->cfg.hello_ms)
			conn_close(srv, c, "no hello");
		else if (now - c->rx_ms > srv->cfg.idle_ms)
			conn_close(srv, c, "idle");
	}
}

int vx_sched_server_run(struct vx_sched_server *srv, int stop_fd)
{
	struct epoll_event evs[SRV_EVENTS];
	struct epoll_event sev = { .events = EPOLLIN, .data.u64 = SRV_STOP_ID };

	if (stop_fd >= 0 && epoll_ctl(srv->epfd, EPOLL_CTL_ADD, stop_fd, &sev) == -1)
		return -errno;
	if (srv->lfd >= 0)
		vx_info("scheduler: listening on port %u (policy %s)", srv->port,
			srv->cfg.sched.policy == VX_SCHED_POLICY_VX ? "vx" : "dragonfly");
	srv->next_tick_ms = vx_now_ms() + SRV_TICK_MS;
	for (;;) {
		uint64_t now = vx_now_ms();
		int n, timeout = now >= srv->next_tick_ms ? 0 : (int)(srv->next_tick_ms - now);
		int hook_ms = srv->hook.run ? srv->hook.next_ms(srv->hook.arg) : -1;

		if (hook_ms >= 0 && hook_ms < timeout)
			timeout = hook_ms;
		if (srv->nr_again)
			timeout = 0;

		n = epoll_wait(srv->epfd, evs, SRV_EVENTS, timeout);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			uint64_t id = evs[i].data.u64;
			struct srv_conn *c;

			if (id == SRV_STOP_ID) {
				vx_info("scheduler: stopping");
				(void)vx__sched_db_flush(srv->db);
				return 0;
			}
			if (id == SRV_LISTEN_ID) {
				on_accept(srv);
				continue;
			}
			if (id == SRV_HOOK_ID)
				continue; /* run below, every turn */
			c = srv->conns[id];
			if (!c)
				continue; /* closed earlier in this batch */
			if (evs[i].events & (EPOLLERR | EPOLLHUP) && !(evs[i].events & EPOLLIN)) {
				conn_close(srv, c, "socket error");
				continue;
			}
			if ((evs[i].events & EPOLLOUT) && conn_flush(srv, c)) {
				conn_close(srv, c, "send failed");
				continue;
			}
			if (evs[i].events & EPOLLOUT)
				conn_account(srv, c); /* a drained queue gives its memory back */
			if (evs[i].events & EPOLLIN)
				on_readable(srv, c);
		}
		read_again(srv);
		send_events(srv);
		now = vx_now_ms();
		if (srv->hook.run) {
			/* the hook writes the same database: our turn's transaction ends first */
			(void)vx__sched_db_flush(srv->db);
			srv->hook.run(srv->hook.arg, now);
			send_events(srv);
		}
		if (now >= srv->next_tick_ms) {
			on_tick(srv, now);
			send_events(srv);
			srv->next_tick_ms = now + SRV_TICK_MS;
		}
		(void)vx__sched_db_flush(srv->db);
	}
}

/* ---------------------------------------------------------------- In-process hand-off */

int vx_sched_server_set_hook(struct vx_sched_server *srv, const struct vx_sched_server_hook *h)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = SRV_HOOK_ID };

	if (srv->hook.run && srv->hook.fd >= 0)
		epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->hook.fd, NULL);
	memset(&srv->hook, 0, sizeof(srv->hook));
	if (!h)
		return 0;
	if (h->fd >= 0 && epoll_ctl(srv->epfd, EPOLL_CTL_ADD, h->fd, &ev) == -1)
		return -errno;
	srv->hook = *h;
	return 0;
}

struct vx_sched *vx_sched_server_core(struct vx_sched_server *srv)
{
	return srv->sched;
}

/* Whether secrets may travel on @c: TLS, or plaintext that never leaves this host. */
static bool conn_private(const struct srv_conn *c)
{
	return conn_is_tls(c) || vx_ip_is_loopback(c->seen_ip);
}

int vx_sched_server_push(struct vx_sched_server *srv, uint32_t host, const struct vx_sched_push *ev)
{
	struct srv_conn *c = vx_sched_host_ctx(srv->sched, host);
	struct vx_ctl_str hs[VX_CTL_HEADERS_MAX];
	struct vx_ctl_msg m;

	if (!c)
		return -ENOTCONN;
	if (ev->nr_headers > VX_CTL_HEADERS_MAX)
		return -E2BIG;
	if (ev->nr_headers && !conn_private(c))
		return -EPERM;
	if (ev->rate_bps > VX_CTL_RATE_MAX ||
	    (ev->content && strlen(ev->content) > VX_CTL_CONTENT_MAX))
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	m.tag = VX_TAG_CONTROL_EVENT;
	m.type = VX_CTL_EVENT;
	m.event = ev->kind;
	m.task_id = vx_ctl_str_of(ev->task_id);
	m.has = VX_CTL_F_EVENT | VX_CTL_F_TASK_ID;
	if (ev->url) {
		m.url = vx_ctl_str_of(ev->url);
		m.has |= VX_CTL_F_URL;
	}
	if (ev->piece_len) {
		m.piece_len = ev->piece_len;
		m.has |= VX_CTL_F_PIECE_LEN;
	}
	for (uint32_t i = 0; i < ev->nr_headers; i++)
		hs[i] = vx_ctl_str_of(ev->headers[i]);
	if (ev->nr_headers) {
		m.headers = hs;
		m.nr_headers = ev->nr_headers;
		m.has |= VX_CTL_F_HEADERS;
	}
	if (ev->rate_bps) {
		m.rate_bps = ev->rate_bps;
		m.has |= VX_CTL_F_RATE;
	}
	if (ev->content) {
		m.content = vx_ctl_str_of(ev->content);
		m.has |= VX_CTL_F_CONTENT;
	}
	return conn_send(srv, c, &m);
}

int vx_sched_server_set_cluster_config(struct vx_sched_server *srv, uint64_t version,
				       const char *sha, const uint8_t *doc, uint32_t len)
{
	static const char no_task[VX_TASK_ID_LEN + 1] =
		"0000000000000000000000000000000000000000000000000000000000000000";
	struct vx_ctl_msg m;
	uint8_t *copy;
	uint32_t told = 0;

	if (!version || len > VX_CTL_CFG_DOC_MAX || !sha || strlen(sha) != VX_CTL_CFG_SHA_LEN)
		return -EINVAL;
	if (version == srv->cfg_version && strcmp(sha, srv->cfg_sha) == 0)
		return 0;
	copy = vx_malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, doc, len);
	vx_free(srv->cfg_doc);
	srv->cfg_doc = copy;
	srv->cfg_doc_len = len;
	srv->cfg_version = version;
	memcpy(srv->cfg_sha, sha, VX_CTL_CFG_SHA_LEN + 1);
	memset(&m, 0, sizeof(m));
	m.tag = VX_TAG_CONTROL_EVENT;
	m.type = VX_CTL_EVENT;
	m.event = VX_CTL_EV_CLUSTER_CONFIG;
	m.task_id = vx_ctl_str_of(no_task);
	m.cfg_version = version;
	m.has = VX_CTL_F_EVENT | VX_CTL_F_TASK_ID | VX_CTL_F_CFG_VERSION;
	/* every host that said hello hears of it (a send that fails closes only that connection) */
	for (uint32_t i = 0; i < srv->cfg.conns_max; i++) {
		struct srv_conn *c = srv->conns[i];

		if (c && c->host != VX_SCHED_NO_HOST && conn_send(srv, c, &m) == 0)
			told++;
	}
	vx_info("scheduler: cluster config version %llu (sha256 %.12s...): told %u connected "
		"hosts",
		(unsigned long long)version, sha, told);
	return 0;
}

uint64_t vx_sched_server_cluster_config_version(const struct vx_sched_server *srv)
{
	return srv->cfg_version;
}

struct vx_pcache *vx_sched_server_pcache(struct vx_sched_server *srv)
{
	return srv->pcache;
}

int vx_sched_server_pcache_delete(struct vx_sched_server *srv, const char *task_id)
{
	struct vx_pcache_ops ops = pcache_ops(srv);

	return vx_pcache_drop_everywhere(srv->pcache, srv->sched, task_id, &ops);
}

int vx_sched_server_pcache_ask(struct vx_sched_server *srv, const char *task_id, uint32_t host)
{
	struct vx_pcache_ops ops = pcache_ops(srv);

	return vx_pcache_ask(srv->pcache, srv->sched, task_id, host, vx_now_ms(), &ops);
}

int vx_sched_server_forget_task(struct vx_sched_server *srv, const char *task_id)
{
	int rc = vx_sched_delete_task(srv->sched, vx_ctl_str_of(task_id), vx_now_ms());

	if (!rc) {
		(void)vx__sched_db_task_delete(srv->db, vx_ctl_str_of(task_id));
		(void)vx__sched_db_flush(srv->db);
	}
	return rc;
}

void vx_sched_server_free(struct vx_sched_server *srv)
{
	if (!srv)
		return;
	if (srv->conns) {
		for (uint32_t i = 0; i < srv->cfg.conns_max; i++) {
			if (srv->conns[i])
				conn_close(srv, srv->conns[i], "shutdown");
		}
	}
	if (srv->epfd >= 0)
		close(srv->epfd);
	if (srv->lfd >= 0)
		close(srv->lfd);
	vx_sched_free(srv->sched);
	vx_pcache_free(srv->pcache);
	vx__sched_db_close(srv->db);
	vx_pki_close(srv->pki);
	vx_tls_ctx_free(srv->own_tls);
	addr_rate_expire(srv, UINT64_MAX);
	vx_free(srv->conns);
	vx_free(srv->obuf);
	vx_free(srv->cfg_doc);
	vx_free(srv);
}
