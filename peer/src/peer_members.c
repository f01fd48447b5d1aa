/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_members.c: members mode (`vx serve --members`, spec/peer.md "Members"): no `vx
 * scheduler`; every daemon carries the scheduler (vx_sched_server.h, without a listener of its
 * own) on a thread, and its Vortex port hands it the connections whose first frame is a control
 * request (tag 0x60). The daemon's scheduler client lists every member's Vortex address, so the
 * client's rendezvous hashing picks each task's owner, its failover moves a task to the next
 * member with the pieces already held, and its announces are the heartbeats (interval and miss
 * count from the config; a member silent that long is dropped on both sides).
 *
 * Trust: a control connection is taken only from a member's address: anyone else is closed
 * before a byte of it is parsed. With the daemon's TLS files, members speak mutual TLS on both
 * planes: a control connection opens with STARTTLS (vx_frame.h) and its handshake is the
 * embedded scheduler's, which wants a certificate of the cluster CA naming the hello's host.
 */
#include "peer_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_fconn.h"
#include "vx_log.h"
#include "vx_members.h"
#include "vx_sched_client.h"
#include "vx_sched_server.h"
#include "vx_tls.h"

#define MEMBERS_HEARTBEAT_MS_DEFAULT 1000u
#define MEMBERS_MISSES_DEFAULT	     3u
#define MEMBERS_RESOLVE_MS	     30000 /* a DNS name is resolved again this often */

struct vx_peer_members {
	struct vx_members_spec spec;
	char first[VX_MEMBERS_MAX][VX_NET_ADDR_STR_MAX]; /* the list at start (cfg.schedulers) */
	/* the list now (a DNS name's latest answer): read by the Vortex loop's admission check
	 * and its tick, written by the resolver thread; under @lock */
	pthread_mutex_t lock;
	char addrs[VX_MEMBERS_MAX][VX_NET_ADDR_STR_MAX];
	uint32_t nr;
	bool changed; /* @addrs changed since the Vortex loop took it */
	pthread_t resolver;
	bool resolver_started;
	struct vx_sched_server *srv;
	struct vx_tls_ctx *tls; /* the scheduler's server side on the daemon's TLS files; NULL */
	pthread_t thread;
	bool started;
	int stop_fd; /* eventfd: the server's loop ends */
	int hand[2]; /* [0] the Vortex loop sends sockets, [1] the scheduler's loop takes them */
	char db[4096];
};

uint32_t vx__peer_members_heartbeat_ms(const struct vx_peer *p)
{
	return p->cfg.members_heartbeat_ms ? p->cfg.members_heartbeat_ms
					   : MEMBERS_HEARTBEAT_MS_DEFAULT;
}

uint32_t vx__peer_members_silence_ms(const struct vx_peer *p)
{
	uint32_t misses = p->cfg.members_misses ? p->cfg.members_misses : MEMBERS_MISSES_DEFAULT;

	return vx__peer_members_heartbeat_ms(p) * misses;
}

/* The scheduler's loop: sockets handed over by the Vortex port, with their first bytes. */
static void hand_run(void *arg, uint64_t now_ms)
{
	struct vx_peer_members *m = arg;

	(void)now_ms;
	for (;;) {
		uint8_t buf[VX_FCONN_IN];
		union {
			char b[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} u;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = u.b,
				     .msg_controllen = sizeof(u.b) };
		struct cmsghdr *cm;
		ssize_t n = recvmsg(m->hand[1], &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		int fd = -1;

		if (n < 0)
			return;
		cm = CMSG_FIRSTHDR(&mh);
		if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
		if (fd < 0)
			continue;
		if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
			close(fd);
			continue;
		}
		(void)vx_sched_server_adopt(m->srv, fd, buf, (size_t)n);
	}
}

static int hand_next_ms(void *arg)
{
	(void)arg;
	return -1;
}

void vx__peer_members_on_control(void *ctx, int fd, const uint8_t *pre, size_t len)
{
	struct vx_peer *p = ctx;
	struct vx_peer_members *m = p->members;
	char ip[VX_NET_ADDR_STR_MAX];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)pre, .iov_len = len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b)
	};
	struct cmsghdr *cm;

	bool member = false;

	ip[0] = '\0';
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		pthread_mutex_lock(&m->lock);
		member = vx_members_has_addr(m->addrs, m->nr, (const struct sockaddr *)&ss, ip);
		pthread_mutex_unlock(&m->lock);
	}
	if (!member) {
		vx_info("members: control connection from a non-member (%s) refused",
			ip[0] ? ip : "?");
		close(fd);
		return;
	}
	if (len > VX_FCONN_IN) {
		close(fd);
		return;
	}
	memset(&u, 0, sizeof(u));
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm) { /* never: the buffer holds one; the compiler cannot know */
		close(fd);
		return;
	}
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
	if (sendmsg(m->hand[0], &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		vx_warn("members: cannot hand a control connection over: %s", vx_strerror(-errno));
	close(fd); /* the scheduler holds its own copy now */
}

/* A DNS name: resolved again every MEMBERS_RESOLVE_MS until the stop eventfd is written. */
static void *resolver_main(void *arg)
{
	struct vx_peer_members *m = arg;
	struct pollfd pf = { .fd = m->stop_fd, .events = POLLIN };

	while (poll(&pf, 1, MEMBERS_RESOLVE_MS) == 0 || (pf.revents == 0 && errno == EINTR)) {
		char fresh[VX_MEMBERS_MAX][VX_NET_ADDR_STR_MAX];
		int n = vx_members_resolve(&m->spec, fresh);

		if (n < 0) {
			vx_warn("members: cannot resolve '%s' again; keeping the list",
				m->spec.name);
			continue;
		}
		pthread_mutex_lock(&m->lock);
		if ((uint32_t)n != m->nr || memcmp(fresh, m->addrs, (size_t)n * sizeof(fresh[0]))) {
			memcpy(m->addrs, fresh, (size_t)n * sizeof(fresh[0]));
			m->nr = (uint32_t)n;
			m->changed = true;
		}
		pthread_mutex_unlock(&m->lock);
	}
	return NULL;
}

void vx__peer_members_tick(struct vx_peer *p)
{
	struct vx_peer_members *m = p->members;
	char list[VX_MEMBERS_MAX][VX_NET_ADDR_STR_MAX];
	const char *ptr[VX_MEMBERS_MAX];
	uint32_t n = 0;

	if (!m || !m->resolver_started || !p->sc)
		return;
	pthread_mutex_lock(&m->lock);
	if (m->changed) {
		n = m->nr;
		memcpy(list, m->addrs, (size_t)n * sizeof(list[0]));
		m->changed = false;
	}
	pthread_mutex_unlock(&m->lock);
	if (!n)
		return;
	for (uint32_t i = 0; i < n; i++)
		ptr[i] = list[i];
	if (vx_sched_client_set_servers(p->sc, ptr, n))
		vx_warn("members: '%s' now names more members than a daemon can list (%u)",
			m->spec.name, VX_MEMBERS_MAX);
	vx_info("members: '%s' resolves to %u members now", m->spec.name, n);
}

static void *members_main(void *arg)
{
	struct vx_peer_members *m = arg;
	int rc = vx_sched_server_run(m->srv, m->stop_fd);

	if (rc)
		vx_err("members: the scheduler's loop failed: %s", vx_strerror(rc));
	return NULL;
}

/* The port of the Vortex listen address: a DNS name's members listen on the same one. */
static uint16_t listen_port(const struct vx_peer *p)
{
	const struct sockaddr_storage *a = &p->listen_addr;

	return ntohs(a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port
					      : ((const struct sockaddr_in *)a)->sin_port);
}

int vx__peer_members_start(struct vx_peer *p, char *err, size_t err_len)
{
	struct vx_peer_members *m;
	struct vx_sched_server_cfg sc;
	struct vx_sched_server_hook h;
	int rc;

	m = vx_calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->stop_fd = m->hand[0] = m->hand[1] = -1;
	pthread_mutex_init(&m->lock, NULL);
	p->members = m;
	rc = vx_members_parse(p->cfg.members, strlen(p->cfg.members), listen_port(p), &m->spec, err,
			      err_len);
	if (rc)
		return rc;
	rc = vx_members_resolve(&m->spec, m->addrs);
	if (rc < 0) {
		snprintf(err, err_len, "--members: cannot resolve '%s'", m->spec.name);
		return rc;
	}
	m->nr = (uint32_t)rc;
	memcpy(m->first, m->addrs, sizeof(m->first));
	for (uint32_t i = 0; i < m->nr; i++)
		p->cfg.schedulers[i] = m->first[i];
	p->cfg.nr_schedulers = m->nr;

	vx_sched_server_cfg_default(&sc);
	sc.listen = NULL; /* connections arrive through the Vortex port */
	snprintf(m->db, sizeof(m->db), "%s/members.db", p->data_dir);
	sc.db_path = m->db;
	sc.insecure_open = true; /* members only (checked at hand-over), never as seeds */
	if (p->cfg.sched_tls) {
		/* mutual TLS on the daemon's files: a member without the cluster CA's certificate
		 * fails the handshake; the hello must name the certificate's host id */
		char terr[VX_TLS_ERR_LEN];

		rc = vx_tls_ctx_new_like(&m->tls, VX_TLS_SERVER, p->cfg.sched_tls, terr,
					 sizeof(terr));
		if (rc) {
			snprintf(err, err_len, "members: TLS: %s", terr);
			return rc;
		}
		sc.tls = m->tls;
	}
	sc.pki = false;
	sc.announce_ms = vx__peer_members_heartbeat_ms(p);
	sc.idle_ms = vx__peer_members_silence_ms(p);
	rc = vx_sched_server_new(&m->srv, &sc);
	if (rc) {
		snprintf(err, err_len, "members: cannot start the scheduler: %s", vx_strerror(rc));
		return rc;
	}
	m->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->stop_fd < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, m->hand)) {
		snprintf(err, err_len, "members: %s", vx_strerror(-errno));
		return -errno;
	}
	h = (struct vx_sched_server_hook){
		.fd = m->hand[1], .run = hand_run, .next_ms = hand_next_ms, .arg = m
	};
	rc = vx_sched_server_set_hook(m->srv, &h);
	if (!rc)
		rc = -pthread_create(&m->thread, NULL, members_main, m);
	if (rc) {
		snprintf(err, err_len, "members: %s", vx_strerror(rc));
		return rc;
	}
	m->started = true;
	if (m->spec.dns) {
		rc = -pthread_create(&m->resolver, NULL, resolver_main, m);
		if (rc) {
			snprintf(err, err_len, "members: %s", vx_strerror(rc));
			return rc;
		}
		m->resolver_started = true;
	}
	vx_info("members: %u members, heartbeat every %u ms, dropped after %u ms of silence", m->nr,
		sc.announce_ms, sc.idle_ms);
	return 0;
}

void vx__peer_members_stop(struct vx_peer *p)
{
	struct vx_peer_members *m = p->members;
	uint64_t one = 1;

	if (!m)
		return;
	if (m->started) {
		if (write(m->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			vx_warn("members: cannot stop the scheduler's loop");
		pthread_join(m->thread, NULL);
	}
	if (m->resolver_started)
		pthread_join(m->resolver, NULL);
	pthread_mutex_destroy(&m->lock);
	vx_sched_server_free(m->srv);
	vx_tls_ctx_free(m->tls);
	if (m->stop_fd >= 0)
		close(m->stop_fd);
	for (int i = 0; i < 2; i++)
		if (m->hand[i] >= 0)
			close(m->hand[i]);
	vx_free(m);
	p->members = NULL;
}
