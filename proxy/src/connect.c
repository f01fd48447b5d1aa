/* SPDX-License-Identifier: Apache-2.0 */
/*
 * connect.c: the proxy's front door. libmicrohttpd 0.9.75 hands a connection over only after a
 * 101 upgrade, so CONNECT cannot be served inside it: this thread accepts on the proxy's
 * listener itself, peeks at each connection's first bytes (one poll loop, a bounded number of
 * connections waiting for their first byte), and hands every connection that does not start
 * "CONNECT " to libmicrohttpd (MHD_add_connection(), proxy.c). A CONNECT gets a thread of its
 * own, bounded by max_tunnels: its head is read within header_timeout_ms of the accept (a slow
 * client is closed), parsed by vx_proxy_connect_parse(), checked (proxy.forward, the rate
 * limits, the port allow-list, the outbound policy on every resolved address, the one
 * connected to being one checked), answered 200 and relayed both ways through two bounded
 * buffers until either side closes or idle_timeout_ms passes with no byte. Every tunnel is
 * logged: client, host:port, result, bytes each way.
 *
 * On a TLS listener with the forward proxy (cfg.tls_ctx) the TLS of each connection ends
 * here, on a thread of its own (bounded by max_tls), which relays the plain bytes to a socket
 * pair; the pair's other end
 * comes back to the accept thread's table as if it had been accepted on a plaintext
 * listener (the client's address and the accept's deadline kept), so a CONNECT over TLS
 * (curl --proxy https://...), an intercepted CONNECT inside it and every request to the HTTP
 * server take the same path, with the same limits, as in plaintext. A TLS listener of a
 * registry mirror only (cfg.tls_direct) hands TLS connections to the HTTP server as they are.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "proxy_int.h"
#include "vx_alloc.h"
#include "vx_log.h"
#include "vx_net.h"
#include "vx_outbound.h"
#include "vx_proxy_fwd.h"
#include "vx_time.h"

#define FRONT_PENDING_MAX 128u	       /* connections waiting for their first byte */
#define TUNNEL_BUF	  (16u * 1024) /* each direction */
#define TUNNEL_DIAL_MS	  10000
#define FRONT_HEAD_MS	  10000u       /* request_timeout_ms's default */
#define FRONT_PEEK_MAX	  (64u * 1024) /* bytes of a first head peeked at most */

struct pending {
	int fd;
	struct sockaddr_storage sa;
	socklen_t sl;
	uint64_t accepted, deadline;
	size_t seen;	/* bytes of its head peeked so far */
	bool unwrapped; /* the plain end of a TLS connection's socket pair */
};

struct slot {
	bool used;
	int cfd, ufd; /* client, upstream (-1 until connected) */
};

struct vx__front {
	struct vx__front_cfg cfg;
	int stop_rd, stop_wr;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* broadcast when a tunnel ends */
	bool stopping;
	uint32_t nr_tunnels;
	struct slot *slots; /* cfg.max_tunnels */
	uint32_t nr_tls;
	struct slot *tls_slots; /* cfg.max_tls: the TLS connections (ufd: the pair's end) */
	struct pending pend[FRONT_PENDING_MAX];
	uint32_t nr_pend;
	/* unwrapped ends the TLS threads give back (under lock), and the pipe that wakes the
	 * accept thread for them */
	struct pending inbox[FRONT_PENDING_MAX];
	uint32_t nr_inbox;
	int wake_rd, wake_wr;
	char *peek; /* cfg.request_header_max bytes: a pending head, peeked */
};

struct tunnel {
	struct vx__front *f;
	uint32_t slot;
	int cfd, ufd;
	uint64_t accepted_ms;
	char client[VX_NET_ADDR_STR_MAX];
	bool local;
	struct sockaddr_storage sa;
	struct vx_proxy_connect t;
	uint64_t up, down; /* bytes client -> origin, origin -> client */
	bool tls;	   /* a TLS connection's thread (tls_main), not a tunnel */
	socklen_t sl;
	char buf[VX_PROXY_CONNECT_HEAD_MAX];
	size_t got, head;
};

bool vx__sa_local(const struct sockaddr *sa)
{
	char ip[INET6_ADDRSTRLEN];

	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		if ((ntohl(s4->sin_addr.s_addr) >> 24) == 127)
			return true;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && s6->sin6_addr.s6_addr[12] == 127))
			return true;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
	} else {
		return false;
	}
	return vx_addr_is_local(ip);
}

/* The last call would have blocked or was interrupted (EWOULDBLOCK is EAGAIN on Linux). */
static bool again(void)
{
	return errno == EAGAIN || errno == EINTR;
}

/* The address of @sa without its port. */
static void sa_ip(const struct sockaddr *sa, char *out, size_t len)
{
	snprintf(out, len, "?");
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
			  (socklen_t)len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  out, (socklen_t)len);
}

/* Writes all of @len bytes to non-blocking @fd within @ms; false on error or timeout. */
static bool send_all(int fd, const char *p, size_t len, uint32_t ms)
{
	uint64_t deadline = vx_now_ms() + ms;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		uint64_t now;

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && !again())
			return false;
		now = vx_now_ms();
		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) < 0)
			return false;
	}
	return true;
}

static void answer(int fd, const char *status)
{
	char r[160];
	int n = snprintf(r, sizeof(r),
			 "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);

	(void)send_all(fd, r, (size_t)n, 1000);
}

/* Reads the head within the header timeout: > 0 parsed, else the status to answer ("" none). */
static const char *read_head(struct tunnel *tn)
{
	const struct vx__front_cfg *c = &tn->f->cfg;
	uint64_t deadline = tn->accepted_ms + c->header_timeout_ms;
	size_t max = VX_MIN((size_t)c->header_max, sizeof(tn->buf));

	for (;;) {
		int rc = vx_proxy_connect_parse(tn->buf, tn->got, max, &tn->t);
		struct pollfd pfd = { .fd = tn->cfd, .events = POLLIN };
		uint64_t now = vx_now_ms();
		ssize_t n;

		if (rc > 0) {
			tn->head = (size_t)rc;
			return NULL;
		}
		if (rc == -E2BIG)
			return "431 Request Header Fields Too Large";
		if (rc)
			return "400 Bad Request";
		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) == 0)
			return "408 Request Timeout";
		n = recv(tn->cfd, tn->buf + tn->got, max - tn->got, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && !again()))
			return ""; /* the client went away */
		if (n > 0)
			tn->got += (size_t)n;
	}
}

static bool port_allowed(const struct vx__front_cfg *c, uint16_t port)
{
	for (uint32_t i = 0; i < c->nr_ports; i++) {
		if (c->ports[i] == port)
			return true;
	}
	return false;
}

/* Connects to an address of the target the outbound policy allows; -1 with @why and @status. */
static int dial(struct tunnel *tn, char *why, size_t why_len, const char **status)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	struct vx_net_opts o = { .flags = VX_NET_NONBLOCK | VX_NET_NODELAY };
	char port[8];
	int fd = -1;

	snprintf(port, sizeof(port), "%u", tn->t.port);
	*status = "502 Bad Gateway";
	if (getaddrinfo(tn->t.host, port, &hints, &res) != 0 || !res) {
		snprintf(why, why_len, "cannot resolve the host");
		return -1;
	}
	snprintf(why, why_len, "no address");
	for (const struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		char e[VX_NET_ERR_LEN] = "";
		struct pollfd pfd;
		int s;

		if (vx_outbound_check(tn->f->cfg.outbound, tn->local, a->ai_addr, why, why_len)) {
			*status = "403 Forbidden";
			continue;
		}
		s = vx_net_tcp_dial(a->ai_addr, a->ai_addrlen, &o, e);
		if (s < 0) {
			snprintf(why, why_len, "connect: %s", e);
			*status = "502 Bad Gateway";
			continue;
		}
		pfd = (struct pollfd){ .fd = s, .events = POLLOUT };
		if (poll(&pfd, 1, TUNNEL_DIAL_MS) != 1 || vx_net_so_error(s)) {
			snprintf(why, why_len, "connect failed or timed out");
			*status = "502 Bad Gateway";
			close(s);
			continue;
		}
		fd = s;
	}
	freeaddrinfo(res);
	return fd;
}

/* Moves bytes from @from into @b (when empty) and from @b to @to; false: the tunnel ends. */
struct dir {
	char buf[TUNNEL_BUF];
	size_t off, len;
	bool eof;
};

static bool pump_in(int from, struct dir *d)
{
	ssize_t n = recv(from, d->buf, sizeof(d->buf), MSG_DONTWAIT);

	if (n > 0) {
		d->off = 0;
		d->len = (size_t)n;
		return true;
	}
	if (n == 0) {
		d->eof = true;
		return true;
	}
	return again();
}

static bool pump_out(int to, struct dir *d, uint64_t *count)
{
	ssize_t n = send(to, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n > 0) {
		d->off += (size_t)n;
		*count += (uint64_t)n;
		if (d->off == d->len)
			d->off = d->len = 0;
		return true;
	}
	return n < 0 && (again());
}

/* Relays both ways until a side closes (what it sent before is delivered), an error, or idle. */
static const char *relay(struct tunnel *tn)
{
	struct dir *cu = vx_calloc(1, sizeof(*cu)), *uc = vx_calloc(1, sizeof(*uc));
	const char *result = "closed";

	if (!cu || !uc) {
		vx_free(cu);
		vx_free(uc);
		return "out of memory";
	}
	/* what the client sent after its head (a TLS ClientHello) goes first */
	cu->len = tn->got - tn->head;
	memcpy(cu->buf, tn->buf + tn->head, cu->len);
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = tn->cfd,
			  .events = (short)((!cu->len && !cu->eof ? POLLIN : 0) |
					    (uc->len ? POLLOUT : 0)) },
			{ .fd = tn->ufd,
			  .events = (short)((!uc->len && !uc->eof ? POLLIN : 0) |
					    (cu->len ? POLLOUT : 0)) },
		};
		int n;

		if ((cu->eof && !cu->len) || (uc->eof && !uc->len))
			break; /* a side closed and what it sent is through */
		n = poll(pfd, 2, (int)tn->f->cfg.idle_timeout_ms);
		if (n == 0) {
			result = "idle timeout";
			break;
		}
		if (n < 0 && errno != EINTR) {
			result = "poll error";
			break;
		}
		if (n < 0)
			continue;
		if (((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) && !cu->len && !cu->eof &&
		     !pump_in(tn->cfd, cu)) ||
		    ((pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) && !uc->len && !uc->eof &&
		     !pump_in(tn->ufd, uc)) ||
		    ((pfd[1].revents & (POLLOUT | POLLERR)) && cu->len &&
		     !pump_out(tn->ufd, cu, &tn->up)) ||
		    ((pfd[0].revents & (POLLOUT | POLLERR)) && uc->len &&
		     !pump_out(tn->cfd, uc, &tn->down))) {
			result = "connection error";
			break;
		}
	}
	vx_free(cu);
	vx_free(uc);
	return result;
}

/* One step of SSL_read()/SSL_write(): > 0 bytes, 0 to wait (*want set), -1 at the end. */
static int tls_io(SSL *ssl, bool wr, void *buf, size_t len, int *want)
{
	int n = wr ? SSL_write(ssl, buf, (int)len) : SSL_read(ssl, buf, (int)len), e;

	if (n > 0) {
		*want = 0;
		return n;
	}
	e = SSL_get_error(ssl, n);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		*want = e;
		return 0;
	}
	return -1;
}

/*
 * TLS from the client on one side, the plain socket pair end @sp on the other (whose other
 * end libmicrohttpd serves, for an intercepted tunnel, or the accept thread, for a connection
 * to the TLS listener); ends as relay() does, except that when @sp takes no more, what it sent
 * before still reaches the client.
 */
static const char *tls_relay(struct tunnel *tn, SSL *ssl, int sp)
{
	struct dir *a = vx_calloc(1, sizeof(*a)), *b = vx_calloc(1, sizeof(*b));
	int rd_want = SSL_ERROR_WANT_READ, wr_want = 0, n;
	const char *result = "closed";
	bool gone = false; /* @sp took no more: what came from it still goes to the client */

	if (!a || !b) {
		vx_free(a);
		vx_free(b);
		return "out of memory";
	}
	for (;;) {
		struct pollfd pfd[2];
		bool cin, cout;

		if (!a->len && !a->eof) { /* client -> server, decrypted */
			n = tls_io(ssl, false, a->buf, sizeof(a->buf), &rd_want);
			a->off = 0;
			a->len = n > 0 ? (size_t)n : 0;
			a->eof = n < 0;
		}
		if (a->len && !pump_out(sp, a, &tn->up)) {
			/* the server answered and closed (a 408 to a slow head) while the client
			 * still sent: its answer, read below, must reach the client */
			a->off = a->len = 0;
			a->eof = gone = true;
		}
		if (!b->len && !b->eof && !pump_in(sp, b))
			break;
		if (b->len) { /* server -> client, encrypted */
			n = tls_io(ssl, true, b->buf + b->off, b->len - b->off, &wr_want);
			if (n < 0)
				break;
			b->off += (size_t)n;
			tn->down += (uint64_t)n;
			if (b->off == b->len)
				b->off = b->len = 0;
		}
		if ((a->eof && !a->len && !gone) || (b->eof && !b->len))
			break;
		if (!a->len && !a->eof && SSL_pending(ssl))
			continue;
		/* rd_want 0: the last read got bytes, which are through; the next read waits
		 * for the client (polling @sp alone here stalled a client whose next bytes came
		 * before the other side answered: a TLS Finished, then its request) */
		cin = (!a->len && !a->eof && rd_want != SSL_ERROR_WANT_WRITE) ||
		      (b->len && wr_want == SSL_ERROR_WANT_READ);
		cout = (!a->len && !a->eof && rd_want == SSL_ERROR_WANT_WRITE) ||
		       (b->len && wr_want != SSL_ERROR_WANT_READ);
		pfd[0] = (struct pollfd){
			.fd = tn->cfd, .events = (short)((cin ? POLLIN : 0) | (cout ? POLLOUT : 0))
		};
		pfd[1] = (struct pollfd){ .fd = sp,
					  .events = (short)((!b->len && !b->eof ? POLLIN : 0) |
							    (a->len ? POLLOUT : 0)) };
		n = poll(pfd, 2, (int)tn->f->cfg.idle_timeout_ms);
		if (n == 0) {
			result = "idle timeout";
			break;
		}
		if (n < 0 && !again()) {
			result = "poll error";
			break;
		}
	}
	(void)SSL_shutdown(ssl);
	vx_free(a);
	vx_free(b);
	return result;
}

static void tunnel_end(struct tunnel *tn)
{
	struct vx__front *f = tn->f;
	struct slot *sl = tn->tls ? f->tls_slots : f->slots;

	pthread_mutex_lock(&f->lock);
	sl[tn->slot].used = false;
	sl[tn->slot].cfd = sl[tn->slot].ufd = -1;
	close(tn->cfd);
	if (tn->ufd >= 0)
		close(tn->ufd);
	if (tn->tls)
		f->nr_tls--;
	else
		f->nr_tunnels--;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	vx_free(tn);
}

static const char ok200[] = "HTTP/1.1 200 Connection established\r\n\r\n";

/* An intercepted tunnel: 200, the client's TLS ended here, its requests to libmicrohttpd. */
static void hijack(struct tunnel *tn, const char *ip)
{
	const struct vx__front_cfg *c = &tn->f->cfg;
	char why[160] = "", origin[VX_PROXY_HOST_MAX + 16];
	const char *result = why;
	SSL *ssl = NULL;
	int sp[2] = { -1, -1 };
	bool registered = false;

	(void)ip;
	if (tn->t.port == 443)
		snprintf(origin, sizeof(origin), "https://%s%s%s", tn->t.ipv6 ? "[" : "",
			 tn->t.host, tn->t.ipv6 ? "]" : "");
	else
		snprintf(origin, sizeof(origin), "https://%s%s%s:%u", tn->t.ipv6 ? "[" : "",
			 tn->t.host, tn->t.ipv6 ? "]" : "", tn->t.port);
	if (!send_all(tn->cfd, ok200, sizeof(ok200) - 1, c->idle_timeout_ms)) {
		snprintf(why, sizeof(why), "client gone");
	} else if (!(ssl = vx__hijack_accept(c->hijack, tn->cfd, tn->t.host, tn->t.ipv6,
					     vx_now_ms() + c->header_timeout_ms, why,
					     sizeof(why)))) {
		/* why says it */
	} else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) != 0) {
		snprintf(why, sizeof(why), "socketpair: %s", strerror(errno));
	} else {
		pthread_mutex_lock(&tn->f->lock);
		registered = !tn->f->stopping;
		if (registered)
			tn->f->slots[tn->slot].ufd = sp[0];
		pthread_mutex_unlock(&tn->f->lock);
		if (registered) {
			tn->ufd = sp[0];
			c->handoff_tls(c->arg, sp[1], (const struct sockaddr *)&tn->sa,
				       tn->sa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								    : sizeof(struct sockaddr_in),
				       origin);
			result = tls_relay(tn, ssl, sp[0]);
		} else {
			close(sp[0]);
			close(sp[1]);
			snprintf(why, sizeof(why), "stopping");
		}
	}
	vx_info("proxy: CONNECT %s -> %s%s%s:%u: intercepted, %s, %llu bytes up, %llu bytes down",
		tn->client, tn->t.ipv6 ? "[" : "", tn->t.host, tn->t.ipv6 ? "]" : "", tn->t.port,
		result, (unsigned long long)tn->up, (unsigned long long)tn->down);
	SSL_free(ssl);
}

static void *tunnel_main(void *arg)
{
	struct tunnel *tn = arg;
	const struct vx__front_cfg *c = &tn->f->cfg;
	const char *status = NULL, *result;
	char why[160] = "", ip[INET6_ADDRSTRLEN];
	bool registered = false;

	status = read_head(tn);
	if (status) {
		vx_info("proxy: CONNECT from %s: %s", tn->client,
			status[0] ? status : "client closed before its head");
		if (status[0])
			answer(tn->cfd, status);
		tunnel_end(tn);
		return NULL;
	}
	sa_ip((const struct sockaddr *)&tn->sa, ip, sizeof(ip));
	if (!c->forward) {
		status = "403 Forbidden";
		snprintf(why, sizeof(why), "the forward proxy is off (proxy.forward)");
	} else if (c->connect_refused) {
		status = "403 Forbidden";
		snprintf(why, sizeof(why), "no CONNECT with proxy.forward_token_file");
	} else if (!c->rate_ok(c->arg, ip)) {
		status = "429 Too Many Requests";
		snprintf(why, sizeof(why), "request rate limit");
	} else if (!port_allowed(c, tn->t.port)) {
		status = "403 Forbidden";
		snprintf(why, sizeof(why), "port %u is not in proxy.connect.ports", tn->t.port);
	} else if (vx__hijack_match(c->hijack, tn->t.host)) {
		if (tn->got > tn->head) {
			status = "400 Bad Request";
			snprintf(why, sizeof(why), "data before the 200 of an intercepted tunnel");
		} else {
			hijack(tn, ip);
			tunnel_end(tn);
			return NULL;
		}
	} else {
		tn->ufd = dial(tn, why, sizeof(why), &status);
		if (tn->ufd >= 0) {
			pthread_mutex_lock(&tn->f->lock);
			registered = !tn->f->stopping;
			if (registered)
				tn->f->slots[tn->slot].ufd = tn->ufd;
			pthread_mutex_unlock(&tn->f->lock);
			status = registered ? NULL : "503 Service Unavailable";
			if (!registered)
				snprintf(why, sizeof(why), "stopping");
		}
	}
	if (status) {
		vx_info("proxy: CONNECT %s -> %s%s%s:%u: %s (%s)", tn->client,
			tn->t.ipv6 ? "[" : "", tn->t.host, tn->t.ipv6 ? "]" : "", tn->t.port,
			status, why);
		answer(tn->cfd, status);
		tunnel_end(tn);
		return NULL;
	}
	result = send_all(tn->cfd, ok200, sizeof(ok200) - 1, c->idle_timeout_ms) ? relay(tn)
										 : "client gone";
	vx_info("proxy: CONNECT %s -> %s%s%s:%u: tunnel %s, %llu bytes up, %llu bytes down",
		tn->client, tn->t.ipv6 ? "[" : "", tn->t.host, tn->t.ipv6 ? "]" : "", tn->t.port,
		result, (unsigned long long)tn->up, (unsigned long long)tn->down);
	tunnel_end(tn);
	return NULL;
}

/* The end of a request head (its blank line) in @b[0..@n). */
static bool head_complete(const char *b, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (b[i] == '\n' &&
		    (b[i + 1] == '\n' || (b[i + 1] == '\r' && i + 2 < n && b[i + 2] == '\n')))
			return true;
	}
	return false;
}

/* Whether @b[0..@n) can still start a request head (a method is in capitals; empty lines may
 * come before it). */
static bool may_be_head(const char *b, size_t n)
{
	return !n || (b[0] >= 'A' && b[0] <= 'Z') || b[0] == '\r' || b[0] == '\n';
}

/*
 * Reads TLS connection @tn's first request head into @buf (@max bytes) until it is whole, can
 * be no head, fills @buf, or the accept's deadline passes (the accept thread then judges it as
 * a plaintext connection's). Returns the bytes read, or -1 when the client went away. Whole,
 * the head reaches the accept thread at once: on a socket pair SO_RCVLOWAT does not hold
 * poll() back, so a head coming in pieces would wake the accept thread for the same bytes.
 */
static ssize_t tls_first_head(struct tunnel *tn, SSL *ssl, char *buf, size_t max)
{
	uint64_t deadline = tn->accepted_ms + tn->f->cfg.request_timeout_ms;
	size_t got = 0;

	while (got < max && !head_complete(buf, got) && may_be_head(buf, got)) {
		int want = 0, n = tls_io(ssl, false, buf + got, max - got, &want);
		struct pollfd pfd = { .fd = tn->cfd,
				      .events = want == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN };
		uint64_t now;

		if (n < 0)
			return -1;
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		now = vx_now_ms();
		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) == 0)
			break;
	}
	return (ssize_t)got;
}

/*
 * Gives @fd, the plain end of TLS connection @tn's socket pair, to the accept thread as a
 * connection accepted in plaintext (@tn's client address and deadline), and registers @own,
 * the relay's end, for vx__front_stop(). False (@fd closed) when stopping or the inbox is full.
 */
static bool inject(struct tunnel *tn, int fd, int own)
{
	struct vx__front *f = tn->f;
	bool ok;
	char b = 1;

	pthread_mutex_lock(&f->lock);
	ok = !f->stopping && f->nr_inbox < FRONT_PENDING_MAX;
	if (ok) {
		f->inbox[f->nr_inbox++] = (struct pending){
			.fd = fd,
			.sa = tn->sa,
			.sl = tn->sl,
			.accepted = tn->accepted_ms,
			.deadline = tn->accepted_ms + f->cfg.request_timeout_ms,
			.unwrapped = true,
		};
		f->tls_slots[tn->slot].ufd = own;
	}
	pthread_mutex_unlock(&f->lock);
	if (!ok) {
		close(fd);
		return false;
	}
	/* non-blocking: a full pipe already holds a wake-up */
	if (write(f->wake_wr, &b, 1) != 1 && errno != EAGAIN)
		vx_warn("proxy: cannot wake the accept thread: %s", strerror(errno));
	return true;
}

/* A connection to the TLS listener: its handshake, then its plain bytes relayed to a socket
 * pair whose other end the accept thread serves as a plaintext connection (inject()). */
static void *tls_main(void *arg)
{
	struct tunnel *tn = arg;
	const struct vx__front_cfg *c = &tn->f->cfg;
	char why[160] = "";
	const char *result = why;
	SSL *ssl = SSL_new(c->tls_ctx);
	char *head = vx_malloc(c->request_header_max);
	int sp[2] = { -1, -1 };
	ssize_t n = 0;

	if (!ssl || !head) {
		snprintf(why, sizeof(why), "out of memory");
	} else if (!vx__tls_accept(ssl, tn->cfd, tn->accepted_ms + c->request_timeout_ms, why,
				   sizeof(why))) {
		/* why says it */
	} else if ((n = tls_first_head(tn, ssl, head, c->request_header_max)) < 0) {
		snprintf(why, sizeof(why), "client closed before its head");
	} else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) != 0) {
		snprintf(why, sizeof(why), "socketpair: %s", strerror(errno));
	} else if (!send_all(sp[0], head, (size_t)n, 1000)) {
		close(sp[0]);
		close(sp[1]);
		snprintf(why, sizeof(why), "socket pair full");
	} else if (!inject(tn, sp[1], sp[0])) {
		close(sp[0]);
		snprintf(why, sizeof(why), "stopping or too many waiting");
	} else {
		tn->ufd = sp[0];
		tn->up = (uint64_t)n;
		result = tls_relay(tn, ssl, sp[0]);
	}
	vx_free(head);
	vx_debug("proxy: TLS connection from %s: %s, %llu bytes in, %llu bytes out", tn->client,
		 result, (unsigned long long)tn->up, (unsigned long long)tn->down);
	SSL_free(ssl);
	tunnel_end(tn);
	return NULL;
}

/*
 * A thread for pending @p: a tunnel (its first bytes are "CONNECT ") or, @tls, a connection to
 * the TLS listener. At the limit (max_tunnels, max_tls) a tunnel is answered 503, a TLS
 * connection (which could read no plaintext answer) closed.
 */
static void thread_start(struct vx__front *f, const struct pending *p, bool tls)
{
	struct slot *slots = tls ? f->tls_slots : f->slots;
	uint32_t *nr = tls ? &f->nr_tls : &f->nr_tunnels;
	uint32_t max = tls ? f->cfg.max_tls : f->cfg.max_tunnels;
	struct tunnel *tn = NULL;
	pthread_attr_t attr;
	pthread_t th;
	uint32_t i;
	char client[VX_NET_ADDR_STR_MAX];

	vx_net_addr_str((const struct sockaddr *)&p->sa, client, sizeof(client));
	pthread_mutex_lock(&f->lock);
	if (*nr >= max) {
		pthread_mutex_unlock(&f->lock);
		if (tls) {
			vx_info("proxy: TLS connection from %s closed: %u open "
				"(proxy.max_connections)",
				client, max);
		} else {
			vx_info("proxy: CONNECT from %s: 503, %u tunnels open "
				"(proxy.connect.max_tunnels)",
				client, max);
			answer(p->fd, "503 Service Unavailable");
		}
		close(p->fd);
		return;
	}
	for (i = 0; i < max && slots[i].used; i++)
		;
	tn = vx_calloc(1, sizeof(*tn));
	if (!tn) {
		pthread_mutex_unlock(&f->lock);
		close(p->fd);
		return;
	}
	slots[i] = (struct slot){ .used = true, .cfd = p->fd, .ufd = -1 };
	(*nr)++;
	pthread_mutex_unlock(&f->lock);
	tn->f = f;
	tn->slot = i;
	tn->tls = tls;
	tn->cfd = p->fd;
	tn->ufd = -1;
	tn->accepted_ms = p->accepted;
	tn->sa = p->sa;
	tn->sl = p->sl;
	tn->local = vx__sa_local((const struct sockaddr *)&p->sa);
	memcpy(tn->client, client, sizeof(client));
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256u * 1024);
	if (pthread_create(&th, &attr, tls ? tls_main : tunnel_main, tn) != 0)
		tunnel_end(tn);
	pthread_attr_destroy(&attr);
}

/* Answers @status on non-blocking @fd if its buffer takes it now (the accept thread never waits). */
static void answer_now(int fd, const char *status)
{
	char r[160];
	int n = snprintf(r, sizeof(r),
			 "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);

	(void)send(fd, r, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Closes pending @p that did not send its head in time (408 once it sent a byte). */
static void head_timeout(struct pending *p)
{
	char client[VX_NET_ADDR_STR_MAX];

	vx_net_addr_str((const struct sockaddr *)&p->sa, client, sizeof(client));
	if (p->seen)
		answer_now(p->fd, "408 Request Timeout");
	vx_debug("proxy: %s sent %zu bytes and no whole request head in time "
		 "(proxy.header_timeout): closed",
		 client, p->seen);
	close(p->fd);
}

/*
 * Decides for pending @p: a tunnel (its first bytes are "CONNECT "), libmicrohttpd (its whole
 * first head is in: a client trickling a head byte by byte never holds one of the server's
 * connections), or wait/close. The head is peeked, not read, so the server reads it as sent;
 * SO_RCVLOWAT makes poll() wake again only when more than what was peeked has come.
 */
static bool classify(struct vx__front *f, struct pending *p, uint64_t now)
{
	static const char verb[] = "CONNECT ";
	size_t max = f->cfg.request_header_max;
	ssize_t n = recv(p->fd, f->peek, max, MSG_PEEK | MSG_DONTWAIT);
	int one = 1, low;

	if (n < 0 && (again())) {
		if (now < p->deadline)
			return false;
		head_timeout(p);
		return true;
	}
	if (n <= 0) {
		close(p->fd);
		return true;
	}
	p->seen = (size_t)n;
	if ((f->cfg.tls_ctx || f->cfg.tls_direct) && !p->unwrapped) {
		/* a TLS record of type handshake (22) opens a ClientHello; plaintext is refused */
		if (f->peek[0] != 22)
			close(p->fd);
		else if (f->cfg.tls_ctx)
			thread_start(f, p, true);
		else
			f->cfg.handoff(f->cfg.arg, p->fd, (const struct sockaddr *)&p->sa, p->sl);
		return true;
	}
	/* a prefix of "CONNECT " is ours: the tunnel thread reads the rest within its bound */
	if (memcmp(f->peek, verb, VX_MIN((size_t)n, sizeof(verb) - 1)) == 0) {
		thread_start(f, p, false);
		return true;
	}
	/*
	 * What is no HTTP request (a method starts with a capital letter; empty lines may come
	 * before it) is answered 400 at once: a TLS ClientHello to this plaintext port (Go clients
	 * such as skopeo try https first) held for the head timeout delayed their fallback to
	 * http by that long, and "HTTP/1.1 400" is what they recognise.
	 */
	if (!may_be_head(f->peek, (size_t)n)) {
		answer_now(p->fd, "400 Bad Request");
		close(p->fd);
		return true;
	}
	/* a head over the limit goes on too: the server answers it 431 */
	if (head_complete(f->peek, (size_t)n) || (size_t)n >= max) {
		(void)setsockopt(p->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
		f->cfg.handoff(f->cfg.arg, p->fd, (const struct sockaddr *)&p->sa, p->sl);
		return true;
	}
	if (now >= p->deadline) {
		head_timeout(p);
		return true;
	}
	low = (int)n + 1;
	if (setsockopt(p->fd, SOL_SOCKET, SO_RCVLOWAT, &low, sizeof(low)) != 0) {
		close(p->fd); /* else poll() would report the same bytes again at once */
		return true;
	}
	return false;
}

/* Whether @a and @b are the same client address (the port aside). */
static bool same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)(const void *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr,
			      sizeof(struct in6_addr)) == 0;
	return false;
}

/* The oldest pending connection of the address of @sa, and how many that address has. */
static uint32_t addr_pending(const struct vx__front *f, const struct sockaddr_storage *sa,
			     uint32_t *oldest)
{
	uint32_t count = 0;

	for (uint32_t i = 0; i < f->nr_pend; i++) {
		if (!same_ip(&f->pend[i].sa, sa))
			continue;
		if (!count || f->pend[i].accepted < f->pend[*oldest].accepted)
			*oldest = i;
		count++;
	}
	return count;
}

/*
 * Room for one more pending connection from @sa. An address at its cap (pending_per_addr)
 * gives up its own oldest; when the table is full, the oldest of the address holding the most
 * is closed. Stopping accepting instead let one client holding FRONT_PENDING_MAX silent
 * connections lock every other client out of the proxy until they timed out, and closing the
 * oldest of all let it push out another client's connection before that one's head was in.
 */
static struct pending *pending_slot(struct vx__front *f, const struct sockaddr_storage *sa)
{
	uint32_t old = 0, most = 0, cap = f->cfg.pending_per_addr;

	if (cap && addr_pending(f, sa, &old) >= cap) {
		vx_debug("proxy: a client has %u connections waiting for their head "
			 "(proxy.max_connections_per_addr): its oldest is closed",
			 cap);
		close(f->pend[old].fd);
		return &f->pend[old];
	}
	if (f->nr_pend < FRONT_PENDING_MAX)
		return &f->pend[f->nr_pend++];
	for (uint32_t i = 0; i < f->nr_pend; i++) {
		uint32_t o = i, c = addr_pending(f, &f->pend[i].sa, &o);

		if (c > most) {
			most = c;
			old = o;
		}
	}
	vx_debug("proxy: %u connections wait for their head: the oldest of the address with the "
		 "most is closed",
		 FRONT_PENDING_MAX);
	close(f->pend[old].fd);
	return &f->pend[old];
}

static void accept_some(struct vx__front *f, uint64_t now)
{
	/* one round takes at most as many as can wait, so it never closes what it accepted */
	for (uint32_t k = 0; k < FRONT_PENDING_MAX; k++) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);
		struct pending *p;
		int fd;

		fd = accept4(f->cfg.listen_fd, (struct sockaddr *)&sa, &sl,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		p = pending_slot(f, &sa);
		p->sa = sa;
		p->sl = sl;
		p->fd = fd;
		p->seen = 0;
		p->unwrapped = false;
		p->accepted = now;
		p->deadline = now + f->cfg.request_timeout_ms;
	}
}

/* The unwrapped ends the TLS threads gave back (inject()) join the pending ones. */
static void take_inbox(struct vx__front *f)
{
	char b[64];

	while (read(f->wake_rd, b, sizeof(b)) > 0)
		;
	pthread_mutex_lock(&f->lock);
	for (uint32_t i = 0; i < f->nr_inbox; i++)
		*pending_slot(f, &f->inbox[i].sa) = f->inbox[i];
	f->nr_inbox = 0;
	pthread_mutex_unlock(&f->lock);
}

static void *front_main(void *arg)
{
	struct vx__front *f = arg;
	struct pollfd pfd[FRONT_PENDING_MAX + 3];

	for (;;) {
		uint64_t now = vx_now_ms(), next = UINT64_MAX;
		uint32_t n = 0;
		int rc;

		pfd[n++] = (struct pollfd){ .fd = f->stop_rd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = f->cfg.listen_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = f->wake_rd, .events = POLLIN };
		for (uint32_t i = 0; i < f->nr_pend; i++) {
			pfd[n++] = (struct pollfd){ .fd = f->pend[i].fd, .events = POLLIN };
			next = VX_MIN(next, f->pend[i].deadline);
		}
		rc = poll(pfd, n,
			  next == UINT64_MAX ? -1
			  : next > now	     ? (int)VX_MIN(next - now, 60000u)
					     : 0);
		if (rc < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		now = vx_now_ms();
		/* the pending ones first (their slots in pfd follow the three fixed ones) */
		for (uint32_t i = f->nr_pend; i-- > 0;) {
			if ((pfd[3 + i].revents || now >= f->pend[i].deadline) &&
			    classify(f, &f->pend[i], now))
				f->pend[i] = f->pend[--f->nr_pend];
		}
		if (pfd[1].revents)
			accept_some(f, now);
		if (pfd[2].revents)
			take_inbox(f);
	}
	for (uint32_t i = 0; i < f->nr_pend; i++)
		close(f->pend[i].fd);
	f->nr_pend = 0;
	return NULL;
}

int vx__front_start(struct vx__front **out, const struct vx__front_cfg *cfg)
{
	struct vx__front *f = vx_calloc(1, sizeof(*f));
	int sp[2];

	*out = NULL;
	if (!f) {
		close(cfg->listen_fd);
		return -ENOMEM;
	}
	f->cfg = *cfg;
	if (!f->cfg.request_timeout_ms)
		f->cfg.request_timeout_ms = FRONT_HEAD_MS;
	f->cfg.request_header_max = VX_MIN(VX_MAX(f->cfg.request_header_max, 64u), FRONT_PEEK_MAX);
	if (f->cfg.pending_per_addr > FRONT_PENDING_MAX)
		f->cfg.pending_per_addr = FRONT_PENDING_MAX;
	/* accept4() in a loop until EAGAIN */
	if (fcntl(cfg->listen_fd, F_SETFL, fcntl(cfg->listen_fd, F_GETFL) | O_NONBLOCK) != 0) {
		close(cfg->listen_fd);
		vx_free(f);
		return -errno;
	}
	f->stop_rd = f->stop_wr = f->wake_rd = f->wake_wr = -1;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	if (!f->cfg.tls_ctx)
		f->cfg.max_tls = 0;
	f->slots = vx_calloc(cfg->max_tunnels ? cfg->max_tunnels : 1, sizeof(*f->slots));
	f->tls_slots = vx_calloc(f->cfg.max_tls ? f->cfg.max_tls : 1, sizeof(*f->tls_slots));
	f->peek = vx_malloc(f->cfg.request_header_max);
	if (!f->slots || !f->tls_slots || !f->peek || pipe2(sp, O_CLOEXEC) != 0) {
		vx__front_stop(f);
		return -ENOMEM;
	}
	f->stop_rd = sp[0];
	f->stop_wr = sp[1];
	if (pipe2(sp, O_CLOEXEC | O_NONBLOCK) != 0) {
		vx__front_stop(f);
		return -ENOMEM;
	}
	f->wake_rd = sp[0];
	f->wake_wr = sp[1];
	if (pthread_create(&f->thread, NULL, front_main, f) != 0) {
		vx__front_stop(f);
		return -EAGAIN;
	}
	f->started = true;
	*out = f;
	return 0;
}

/* Shuts down both sockets of each of the @n slots in use (their threads then end). */
static void slots_shutdown(const struct slot *slots, uint32_t n)
{
	for (uint32_t i = 0; slots && i < n; i++) {
		if (!slots[i].used)
			continue;
		shutdown(slots[i].cfd, SHUT_RDWR);
		if (slots[i].ufd >= 0)
			shutdown(slots[i].ufd, SHUT_RDWR);
	}
}

void vx__front_stop(struct vx__front *f)
{
	if (!f)
		return;
	if (f->started) {
		char b = 1;

		if (write(f->stop_wr, &b, 1) != 1)
			vx_warn("proxy: cannot wake the accept thread");
		pthread_join(f->thread, NULL);
	}
	pthread_mutex_lock(&f->lock);
	f->stopping = true;
	slots_shutdown(f->slots, f->cfg.max_tunnels);
	slots_shutdown(f->tls_slots, f->cfg.max_tls);
	/* what the TLS threads gave back and the accept thread did not take */
	for (uint32_t i = 0; i < f->nr_inbox; i++)
		close(f->inbox[i].fd);
	f->nr_inbox = 0;
	while (f->nr_tunnels || f->nr_tls)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
	if (f->stop_rd >= 0)
		close(f->stop_rd);
	if (f->stop_wr >= 0)
		close(f->stop_wr);
	if (f->wake_rd >= 0)
		close(f->wake_rd);
	if (f->wake_wr >= 0)
		close(f->wake_wr);
	close(f->cfg.listen_fd);
	vx_free(f->slots);
	vx_free(f->tls_slots);
	vx_free(f->peek);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	vx_free(f);
}
