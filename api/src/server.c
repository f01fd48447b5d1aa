/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server.c: the local API server of `vx serve` (spec/api.md): a unix socket, one thread, one epoll
 * set, at most VX_API_CLIENTS_MAX non-blocking connections.
 *
 * A connection holds at most one outgoing frame (wbuf) at a time: a request is only read out of
 * rbuf once the previous answer is sent, and a download's progress is only encoded when wbuf is
 * empty, so the latest counters replace older ones instead of piling up behind a slow client.
 *
 * A download is a struct vx_api_call shared by two owners, each holding one reference:
 *
 *   server side  --(conn closes / final answer encoded / server freed)-->  unref
 *   daemon side  --(vx_api_call_done(), exactly once, any thread)------->  unref
 *
 * The daemon's threads only touch the call under call->lock: they store the latest progress,
 * a descriptor to pass, or the result, and poke the server's eventfd while call->srv is set.
 * The API thread detaches a call (srv = NULL) under the same lock before it lets go of it, so a
 * daemon thread never sees a freed server; what it posts after that is dropped.
 */
#include "vx_api.h"
#include "api_int.h"

#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_api_msg.h"
#include "vx_bucket.h"
#include "vx_digest.h"
#include "vx_err.h"
#include "vx_fconn.h"
#include "vx_log.h"
#include "vx_metrics.h"
#include "vx_net.h"
#include "vx_task_id.h"
#include "vx_time.h"
#include "vx_url.h"

#define API_LISTEN_TAG ((uint64_t)UINT64_MAX)
#define API_WAKE_TAG   ((uint64_t)UINT64_MAX - 1)
#define API_OUT_MAX    (VX_FRAME_HDR_LEN + VX_CTL_FRAME_MAX) /* one answer or event at a time */
#define API_EVENTS     (VX_API_CLIENTS_MAX + 2)
#define API_GROUPS_MAX 1024 /* supplementary groups looked at for one user */
#define API_PWBUF_MAX  (64u << 10)

_Static_assert(VX_API_LIST_MAX == VX_API_TASKS_MAX, "list limit is the codec's");
_Static_assert(VX_DOWNLOAD_MSG_MAX <= VX_CTL_ERROR_MAX, "result text fits the codec's error key");

struct vx_api_call {
	pthread_mutex_t lock;
	unsigned refs;		   /* server side + daemon side; under lock */
	struct vx_api_server *srv; /* NULL once detached; under lock */
	bool cancel_sent;	   /* API thread only */
	bool done_called;	   /* under lock */
	bool has_progress;	   /* progress holds counters not yet sent; under lock */
	bool has_result;	   /* result holds the final answer; under lock */
	bool fd_sent;		   /* a descriptor went out; under lock */
	int fd;			   /* descriptor to pass (read-only), -1 none; under lock */
	uint64_t rid;		   /* of the DOWNLOAD request */
	enum vx_api_type type;	   /* of the request: DOWNLOAD or a cache verb */
	struct vx_download_progress progress;
	struct vx_download_result result;
	struct vx_download_request req; /* strings point into arena, groups into groups */
	uint32_t groups[VX_DOWNLOAD_GROUPS_MAX];
	char arena[]; /* pointer arrays, then NUL-terminated strings */
};

struct api_conn {
	struct vx_api_server *srv;
	struct vx_fconn io; /* socket (or a test's transport), one queued frame at most */
	uint32_t slot;
	uint32_t events; /* epoll interest now */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	uint32_t nr_groups; /* supplementary groups (SO_PEERGROUPS), for a daemon acting as it */
	uint32_t groups[VX_DOWNLOAD_GROUPS_MAX];
	int groups_err; /* 0, or why the groups are not known whole: -E2BIG more than fit */
	struct vx_ctl_reader rd;
	struct vx_api_call *call; /* download in flight, NULL none */
	uint64_t idle_since_ms;	  /* last byte in, or last answer out */
};

struct vx_api_server {
	struct vx_api_server_cfg cfg; /* socket_path and group point into our own copies */
	char path[VX_API_PATH_MAX];
	dev_t sock_dev; /* the inode we bound, removed on free only if still ours */
	ino_t sock_ino;
	gid_t sock_gid;
	bool set_group; /* chown the socket to sock_gid */
	uid_t euid;
	int lfd;
	int epfd;
	int wakefd; /* eventfd: daemon threads post, free() stops */
	pthread_t thread;
	bool stop; /* under wake_lock */
	pthread_mutex_t wake_lock;
	struct api_conn *conns[VX_API_CLIENTS_MAX];
	uint32_t nr_conns;
	uint8_t *obuf;		/* one encoded frame, API thread only */
	uint32_t rate;		/* requests/s per uid (atomic); 0: no limit */
	uint32_t conns_per_uid; /* connections per uid (atomic); 0: no limit */
	struct uid_bucket {	/* API thread only */
		bool used;
		uid_t uid;
		uint32_t rate; /* the bucket was made for this rate */
		uint64_t last_ms;
		struct vx_bucket b;
	} rates[VX_API_RATE_UIDS];
	struct vx_download_task *tasks; /* list scratch, VX_API_LIST_MAX */
};

/* ---------------------------------------------------------------- Calls */

static void call_unref(struct vx_api_call *call)
{
	unsigned left;

	pthread_mutex_lock(&call->lock);
	VX_ASSERT(call->refs > 0);
	left = --call->refs;
	pthread_mutex_unlock(&call->lock);
	if (left)
		return;
	if (call->fd >= 0)
		close(call->fd);
	pthread_mutex_destroy(&call->lock);
	vx_free(call);
}

static void server_wake(struct vx_api_server *srv)
{
	uint64_t one = 1;

	if (srv->wakefd < 0)
		return; /* detached (api_int.h): the driver runs the calls itself */
	/* EAGAIN means the counter is already non-zero: the loop will look anyway. */
	if (write(srv->wakefd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		vx_warn("api: cannot wake the API thread: %s", vx_strerror(-errno));
}

const struct vx_download_request *vx_api_call_request(const struct vx_api_call *call)
{
	VX_ASSERT(call);
	return &call->req;
}

void vx_api_call_progress(struct vx_api_call *call, const struct vx_download_progress *p)
{
	VX_ASSERT(call);
	VX_ASSERT(p);
	pthread_mutex_lock(&call->lock);
	VX_ASSERT(!call->done_called);
	if (call->srv) {
		/* progress already pending means a wake is too: the daemon pays one syscall per
		 * frame the client actually gets, not one per update */
		if (!call->has_progress)
			server_wake(call->srv);
		call->progress = *p;
		call->has_progress = true;
	}
	pthread_mutex_unlock(&call->lock);
}

/*
 * The client gets a read-only descriptor even when the daemon's own is read-write: a dup would
 * share the daemon's access mode, so we open the file again through /proc for reading.
 */
static int api_readonly_fd(int fd)
{
	char path[64];
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1)
		return -errno;
	if ((fl & O_ACCMODE) == O_RDONLY) {
		int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);

		return nfd == -1 ? -errno : nfd;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fl = open(path, O_RDONLY | O_CLOEXEC);
	return fl == -1 ? -errno : fl;
}

void vx_api_call_send_fd(struct vx_api_call *call, int fd)
{
	int nfd;

	VX_ASSERT(call);
	VX_ASSERT(fd >= 0);
	nfd = api_readonly_fd(fd);
	if (nfd < 0) {
		vx_warn("api: cannot make a read-only descriptor for the client: %s",
			vx_strerror(nfd));
		return;
	}
	pthread_mutex_lock(&call->lock);
	VX_ASSERT(!call->done_called);
	if (call->srv && !call->fd_sent) {
		if (call->fd >= 0)
			close(call->fd);
		call->fd = nfd;
		nfd = -1;
		server_wake(call->srv);
	}
	pthread_mutex_unlock(&call->lock);
	if (nfd >= 0)
		close(nfd);
}

void vx_api_call_done(struct vx_api_call *call, const struct vx_download_result *res)
{
	VX_ASSERT(call);
	VX_ASSERT(res);
	pthread_mutex_lock(&call->lock);
	VX_ASSERT(!call->done_called); /* exactly once */
	call->done_called = true;
	if (call->srv) {
		call->result = *res;
		call->has_result = true;
		server_wake(call->srv);
	}
	pthread_mutex_unlock(&call->lock);
	call_unref(call);
}

/* ---------------------------------------------------------------- Socket setup */

static int api_mkdirs(const char *path)
{
	char dir[VX_API_PATH_MAX];
	char *slash;
	size_t n = strlen(path);

	VX_ASSERT(n < sizeof(dir));
	memcpy(dir, path, n + 1);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		return -errno;
	return 0;
}

static int api_resolve_group(const char *name, gid_t *out)
{
	struct group gr, *res = NULL;
	char buf[16384];
	char *end;
	unsigned long v;
	int rc;

	if (name[0] >= '0' && name[0] <= '9') {
		errno = 0;
		v = strtoul(name, &end, 10);
		if (errno || *end || v >= (gid_t)-1) {
			vx_err("api: group %s is not a valid gid", name);
			return -EINVAL;
		}
		*out = (gid_t)v;
		return 0;
	}
	rc = getgrnam_r(name, &gr, buf, sizeof(buf), &res);
	if (rc || !res) {
		vx_err("api: group %s does not exist%s%s", name, rc ? ": " : "",
		       rc ? vx_strerror(-rc) : "");
		return rc ? -rc : -ENOENT;
	}
	*out = gr.gr_gid;
	return 0;
}

/*
 * A socket file left by a daemon that died answers nothing (ECONNREFUSED): remove it. One that
 * answers belongs to a live daemon: refuse to steal it.
 */
static int api_clear_stale(const char *path)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		vx_err("api: %s exists and is not a socket; not touching it", path);
		return -ENOTSOCK;
	}
	fd = vx_net_unix_dial(path, 0, 0, NULL);
	rc = fd < 0 ? fd : 0;
	if (fd >= 0)
		close(fd);
	if (rc == 0) {
		vx_err("api: another daemon is serving %s (it answered a connect)", path);
		return -EADDRINUSE;
	}
	if (rc != -ECONNREFUSED) {
		vx_err("api: cannot probe the existing socket %s: %s", path, vx_strerror(rc));
		return rc;
	}
	vx_info("api: removing stale socket %s (nobody answers on it)", path);
	if (unlink(path) == -1 && errno != ENOENT)
		return -errno;
	return 0;
}

static int api_listen(struct vx_api_server *srv)
{
	char err[VX_NET_ERR_LEN];
	struct stat st;
	int rc;

	rc = api_mkdirs(srv->path);
	if (rc) {
		vx_err("api: cannot create the directory of %s: %s", srv->path, vx_strerror(rc));
		return rc;
	}
	rc = api_clear_stale(srv->path);
	if (rc)
		return rc;
	srv->lfd = vx_net_unix_listen(srv->path, VX_API_CLIENTS_MAX, srv->cfg.mode,
				      srv->set_group ? srv->sock_gid : (gid_t)-1, VX_NET_NONBLOCK,
				      err);
	if (srv->lfd < 0) {
		rc = srv->lfd;
		srv->lfd = -1;
		vx_err("api: %s", err);
		return rc;
	}
	if (lstat(srv->path, &st) == -1) {
		rc = -errno;
		vx_err("api: cannot stat %s: %s", srv->path, vx_strerror(rc));
		unlink(srv->path);
		return rc;
	}
	srv->sock_dev = st.st_dev;
	srv->sock_ino = st.st_ino;
	return 0;
}

/* Removes the socket path only while it is still the inode we bound. */
static void api_unlink(struct vx_api_server *srv)
{
	struct stat st;

	if (lstat(srv->path, &st) == 0 && st.st_dev == srv->sock_dev && st.st_ino == srv->sock_ino)
		unlink(srv->path);
}

/* ---------------------------------------------------------------- Credentials */

/* True when the user @uid (by its passwd entry) is a member of group @gid. May ask NSS. */
static bool api_user_in_group(uid_t uid, gid_t gid)
{
	struct passwd pw, *res = NULL;
	gid_t groups[API_GROUPS_MAX];
	int n = API_GROUPS_MAX;
	char *buf;
	bool in = false;

	buf = vx_malloc(API_PWBUF_MAX);
	if (!buf)
		return false;
	if (getpwuid_r(uid, &pw, buf, API_PWBUF_MAX, &res) == 0 && res) {
		if (pw.pw_gid == gid)
			in = true;
		else if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) != -1)
			for (int i = 0; i < n && !in; i++)
				in = groups[i] == gid;
	}
	vx_free(buf);
	return in;
}

static bool api_allowed(const struct vx_api_server *srv, const struct ucred *cr)
{
	if (cr->uid == 0 || cr->uid == srv->euid || cr->gid == srv->sock_gid)
		return true;
	return api_user_in_group(cr->uid, srv->sock_gid);
}

/* ---------------------------------------------------------------- Connections */

static void conn_set_events(struct vx_api_server *srv, struct api_conn *c)
{
	struct epoll_event ev = { .data.ptr = c };

	/* Bytes waiting behind an unsent answer: stop reading until they are served. */
	ev.events = EPOLLRDHUP | (vx_fconn_buffered(&c->io) ? 0u : (uint32_t)EPOLLIN) |
		    (vx_fconn_pending(&c->io) ? (uint32_t)EPOLLOUT : 0u);
	if (ev.events == c->events || srv->epfd < 0)
		return;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->io.fd, &ev) == -1)
		vx_warn("api: epoll_ctl: %s", vx_strerror(-errno));
	c->events = ev.events;
}

/* Lets go of the connection's call: no more frames for it; cancel() unless it already ended. */
static void conn_detach_call(struct vx_api_server *srv, struct api_conn *c, bool cancel)
{
	struct vx_api_call *call = c->call;
	bool ended;

	if (!call)
		return;
	c->call = NULL;
	pthread_mutex_lock(&call->lock);
	call->srv = NULL;
	ended = call->done_called;
	pthread_mutex_unlock(&call->lock);
	/*
	 * cancel() runs outside the lock, since the daemon may answer it with vx_api_call_done()
	 * at once. The daemon may also reach done() on its own thread meanwhile; our reference
	 * keeps the call's memory valid until cancel() returns.
	 */
	if (cancel && !ended && !call->cancel_sent) {
		call->cancel_sent = true;
		srv->cfg.ops->cancel(srv->cfg.ctx, call);
	}
	call_unref(call);
}

static void conn_close(struct vx_api_server *srv, struct api_conn *c, const char *why)
{
	if (c->call)
		vx_info("api: uid %u pid %d went away (%s) during a download; cancelling",
			(unsigned)c->uid, (int)c->pid, why);
	else
		vx_debug("api: closing uid %u pid %d: %s", (unsigned)c->uid, (int)c->pid, why);
	conn_detach_call(srv, c, true);
	if (srv->epfd >= 0 && c->io.fd >= 0)
		epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->io.fd, NULL);
	vx_fconn_close(&c->io);
	srv->conns[c->slot] = NULL;
	srv->nr_conns--;
	vx_ctl_reader_free(&c->rd);
	vx_free(c);
}

/*
 * Encodes @m as the connection's one outgoing frame, with descriptor @fd (borrowed, -1 none)
 * riding on its first byte. Returns 0 or -EMSGSIZE/-EINVAL/-ENOMEM.
 */
static int conn_put_fd(struct api_conn *c, const struct vx_api_msg *m, int fd)
{
	ssize_t n;

	VX_ASSERT(vx_fconn_pending(&c->io) == 0);
	n = vx_api_msg_encode(m, c->srv->obuf, API_OUT_MAX);
	if (n < 0)
		return (int)n;
	return vx_fconn_queue(&c->io, c->srv->obuf, (size_t)n, fd);
}

static int conn_put(struct api_conn *c, const struct vx_api_msg *m)
{
	return conn_put_fd(c, m, -1);
}

static uint64_t clamp_u64(uint64_t v, uint64_t max)
{
	return v > max ? max : v;
}

/* Counters of a progress event or of the final answer, clamped to what the codec carries. */
static void put_counters(struct vx_api_msg *m, const struct vx_download_progress *p)
{
	m->content_len = (int64_t)clamp_u64(p->content_length, VX_API_COUNTER_MAX);
	m->piece_count = (uint32_t)clamp_u64(p->piece_count, VX_API_PIECES_MAX);
	m->pieces_done = (uint32_t)clamp_u64(p->pieces_done, VX_API_PIECES_MAX);
	m->bytes_done = clamp_u64(p->bytes_done, VX_API_COUNTER_MAX);
	m->from_peers = clamp_u64(p->from_peers, VX_API_COUNTER_MAX);
	m->from_source = clamp_u64(p->from_source, VX_API_COUNTER_MAX);
	m->reused = clamp_u64(p->reused, VX_API_COUNTER_MAX);
	m->contiguous = clamp_u64(p->contiguous, VX_API_COUNTER_MAX);
	m->elapsed_ms = clamp_u64(p->elapsed_ms, VX_API_COUNTER_MAX);
	m->has |= VX_API_F_CONTENT_LEN | VX_API_F_PIECE_COUNT | VX_API_F_PIECES_DONE |
		  VX_API_F_BYTES_DONE | VX_API_F_FROM_PEERS | VX_API_F_FROM_SOURCE |
		  VX_API_F_REUSED | VX_API_F_CONTIGUOUS | VX_API_F_ELAPSED;
}

static bool task_id_ok(const char *id)
{
	return vx_task_id_valid(id, strlen(id));
}

/* A response with @status and @text (may be NULL) to a request of @type with @rid. */
static void answer_init(struct vx_api_msg *m, enum vx_api_type type, uint64_t rid, int status,
			const char *text)
{
	memset(m, 0, sizeof(*m));
	m->tag = VX_TAG_CONTROL_RESPONSE;
	m->type = type;
	m->rid = rid;
	/* a daemon bug must not make the answer unencodable: statuses are 0 or -1..-4095 */
	m->status = status > 0 || status < -4095 ? -EIO : status;
	m->has = VX_API_F_STATUS;
	if (text && text[0]) {
		m->error = vx_ctl_str_of(text);
		if (m->error.len > VX_DOWNLOAD_MSG_MAX - 1)
			m->error.len = VX_DOWNLOAD_MSG_MAX - 1;
		m->has |= VX_API_F_ERROR;
	}
}

static int conn_answer(struct api_conn *c, enum vx_api_type type, uint64_t rid, int status,
		       const char *text)
{
	struct vx_api_msg m;

	answer_init(&m, type, rid, status, text);
	return conn_put(c, &m);
}

/* A cache verb's answer: replicas, holders and TTL left, within the codec's limits. */
static void put_cache(struct vx_api_msg *m, const struct vx_download_result *r)
{
	m->replicas = (uint32_t)VX_MIN(r->replicas, (uint32_t)VX_API_REPLICAS_MAX);
	m->holders = (uint32_t)VX_MIN(r->holders, (uint32_t)VX_API_REPLICAS_MAX * 16);
	m->ttl_left_s = clamp_u64(r->ttl_left_s, VX_API_TTL_MAX);
	m->piece_len = clamp_u64(r->piece_length, 1ull << 32);
	m->has |= VX_API_F_REPLICAS | VX_API_F_HOLDERS | VX_API_F_TTL_LEFT | VX_API_F_PIECE_LEN;
}

/* The final answer of @call, with descriptor @fd (borrowed, -1 none) on it. */
static void put_final(struct api_conn *c, const struct vx_api_call *call,
		      const struct vx_download_result *r, int fd)
{
	struct vx_api_msg m;
	char msg[VX_DOWNLOAD_MSG_MAX];

	/* the result is the daemon's memory copied under lock: make sure its text ends */
	memcpy(msg, r->msg, sizeof(msg));
	msg[sizeof(msg) - 1] = '\0';
	answer_init(&m, call->type, call->rid, r->status, msg);
	if (memchr(r->task_id, '\0', sizeof(r->task_id)) && task_id_ok(r->task_id)) {
		m.task_id = vx_ctl_str_of(r->task_id);
		m.has |= VX_API_F_TASK_ID;
	}
	m.stage = r->stage > VX_API_STAGE_MAX ? VX_API_STAGE_MAX : r->stage;
	m.has |= VX_API_F_STAGE;
	if (r->source_status && r->source_status <= VX_API_SRC_STATUS_MAX) {
		m.source_status = r->source_status;
		m.has |= VX_API_F_SRC_STATUS;
	}
	put_counters(&m, &r->totals);
	if (call->type != VX_API_DOWNLOAD)
		put_cache(&m, r);
	if (conn_put_fd(c, &m, fd) == 0)
		return;
	/* cannot happen with the clamps above; still, the client must learn the end */
	vx_err("api: cannot encode the final answer of a download; sending the status only");
	answer_init(&m, call->type, call->rid, r->status, NULL);
	if (conn_put_fd(c, &m, fd))
		vx_err("api: cannot encode even a bare answer");
}

static bool progress_id_ok(const struct vx_download_progress *p)
{
	return memchr(p->task_id, '\0', sizeof(p->task_id)) && task_id_ok(p->task_id);
}

static bool put_progress(struct api_conn *c, const struct vx_api_call *call,
			 const struct vx_download_progress *p, int fd)
{
	struct vx_api_msg m = { 0 };

	m.tag = VX_TAG_CONTROL_EVENT;
	m.type = VX_API_EVENT;
	m.rid = call->rid; /* unlike scheduler events: the download's rid (spec/api.md) */
	m.event = VX_API_EV_PROGRESS;
	m.task_id = vx_ctl_str_of(p->task_id);
	m.has = VX_API_F_EVENT | VX_API_F_TASK_ID;
	put_counters(&m, p);
	return conn_put_fd(c, &m, fd) == 0;
}

/*
 * Queues what the daemon posted for the connection's call (the queue must be empty): the
 * final answer if there is one (it carries the final counters, so pending progress is moot),
 * else the latest progress. A posted descriptor rides on that frame. Returns true when a frame
 * was queued.
 */
static bool conn_pump_call(struct vx_api_server *srv, struct api_conn *c)
{
	struct vx_api_call *call = c->call;
	struct vx_download_progress p;
	struct vx_download_result r;
	bool has_p, has_r, put = false;
	int fd = -1;

	VX_ASSERT(vx_fconn_pending(&c->io) == 0);
	pthread_mutex_lock(&call->lock);
	has_p = call->has_progress;
	if (has_p)
		p = call->progress;
	call->has_progress = false;
	has_r = call->has_result;
	if (has_r)
		r = call->result;
	call->has_result = false;
	if (has_p && !progress_id_ok(&p)) {
		vx_warn("api: progress without a valid task id dropped");
		has_p = false;
	}
	if ((has_r || has_p) && call->fd >= 0) {
		fd = call->fd;
		call->fd = -1;
		call->fd_sent = true;
	}
	pthread_mutex_unlock(&call->lock);
	if (has_r) {
		put_final(c, call, &r, fd);
		put = vx_fconn_pending(&c->io) > 0;
		conn_detach_call(srv, c, false);
		c->idle_since_ms = vx_now_ms();
	} else if (has_p) {
		put = put_progress(c, call, &p, fd);
	}
	if (fd >= 0)
		close(fd); /* the queue holds its own copy */
	return put;
}

/* ---------------------------------------------------------------- Requests */

/* A header must be "Name: value" on one line: a CR or LF would inject headers at the origin. */
static bool header_ok(struct vx_ctl_str h)
{
	const char *colon = memchr(h.ptr, ':', h.len);

	if (!h.len || !colon || colon == h.ptr)
		return false;
	return !memchr(h.ptr, '\r', h.len) && !memchr(h.ptr, '\n', h.len);
}

/* Checks a decoded DOWNLOAD; on a problem writes its text into @why and returns false. */
static bool download_ok(const struct vx_api_msg *m, char *why, size_t cap)
{
	if (!m->url.len) {
		snprintf(why, cap, "download: empty url");
		return false;
	}
	if ((m->has & VX_API_F_REQUEST_ID) &&
	    !vx_request_id_valid(m->request_id.ptr, m->request_id.len)) {
		snprintf(why, cap, "download: a request id is 1 to %d of A-Z a-z 0-9 _ -",
			 VX_REQUEST_ID_MAX);
		return false;
	}
	if ((m->has & VX_API_F_OUTPUT) && (!m->output.len || m->output.ptr[0] != '/')) {
		snprintf(why, cap, "download: output must be an absolute path");
		return false;
	}
	if ((m->has & VX_API_F_DIGEST) &&
	    !vx_digest_spec_valid(m->digest.ptr, m->digest.len, VX_DIGEST_USER)) {
		snprintf(why, cap,
			 "download: digest %.*s is not sha256:<64 hex>, sha512:<128 hex> or "
			 "crc32:<decimal>",
			 (int)m->digest.len, m->digest.ptr);
		return false;
	}
	for (uint32_t i = 0; i < m->nr_headers; i++) {
		if (!header_ok(m->headers[i])) {
			snprintf(why, cap, "download: header #%u is not one \"Name: value\" line",
				 i);
			return false;
		}
	}
	for (uint32_t i = 0; i < m->nr_filtered; i++) {
		if (!m->filtered[i].len) {
			snprintf(why, cap, "download: filtered query key #%u is empty", i);
			return false;
		}
	}
	return true;
}

struct arena {
	char *p;
	char *end;
};

static const char *arena_str(struct arena *a, struct vx_ctl_str s)
{
	char *r = a->p;

	VX_ASSERT((size_t)(a->end - a->p) >= (size_t)s.len + 1);
	if (s.len)
		memcpy(r, s.ptr, s.len);
	r[s.len] = '\0';
	a->p += s.len + 1;
	return r;
}

static const char *arena_opt(struct arena *a, const struct vx_api_msg *m, uint64_t bit,
			     struct vx_ctl_str s)
{
	return (m->has & bit) ? arena_str(a, s) : NULL;
}

/* Builds a call owning NUL-terminated copies of every string of @m, in one allocation. */
static struct vx_api_call *call_new(const struct vx_api_msg *m, const struct api_conn *c)
{
	size_t strs = 0, ptrs = (m->nr_headers + m->nr_filtered) * sizeof(char *);
	struct vx_api_call *call;
	const char **hv, **fv;
	struct arena a;

	strs += m->url.len + 1 + m->output.len + 1 + m->digest.len + 1 + m->tg.len + 1 +
		m->app.len + 1 + m->request_id.len + 1 + m->task_id.len + 1 + m->input.len + 1;
	for (uint32_t i = 0; i < m->nr_headers; i++)
		strs += m->headers[i].len + 1;
	for (uint32_t i = 0; i < m->nr_filtered; i++)
		strs += m->filtered[i].len + 1;
	call = vx_calloc(1, sizeof(*call) + ptrs + strs);
	if (!call)
		return NULL;
	if (pthread_mutex_init(&call->lock, NULL)) {
		vx_free(call);
		return NULL;
	}
	call->refs = 2; /* server side + daemon side */
	call->fd = -1;
	call->rid = m->rid;
	call->type = m->type;
	hv = (const char **)(void *)call->arena;
	fv = hv + m->nr_headers;
	a.p = call->arena + ptrs;
	a.end = a.p + strs;
	call->req.url = arena_str(&a, m->url);
	call->req.output = arena_opt(&a, m, VX_API_F_OUTPUT, m->output);
	call->req.digest = arena_opt(&a, m, VX_API_F_DIGEST, m->digest);
	call->req.tag = arena_opt(&a, m, VX_API_F_TAG, m->tg);
	call->req.application = arena_opt(&a, m, VX_API_F_APP, m->app);
	call->req.request_id = arena_opt(&a, m, VX_API_F_REQUEST_ID, m->request_id);
	if (m->type != VX_API_DOWNLOAD) {
		call->req.cache_op = m->type;
		call->req.cache_id = arena_opt(&a, m, VX_API_F_TASK_ID, m->task_id);
		call->req.cache_input = arena_opt(&a, m, VX_API_F_INPUT, m->input);
		call->req.replicas = m->replicas;
		call->req.ttl_s = m->ttl_s;
	}
	for (uint32_t i = 0; i < m->nr_headers; i++)
		hv[i] = arena_str(&a, m->headers[i]);
	for (uint32_t i = 0; i < m->nr_filtered; i++)
		fv[i] = arena_str(&a, m->filtered[i]);
	call->req.headers = m->nr_headers ? hv : NULL;
	call->req.nr_headers = m->nr_headers;
	call->req.filtered_params = m->nr_filtered ? fv : NULL;
	call->req.nr_filtered_params = m->nr_filtered;
	call->req.piece_length = m->piece_len;
	call->req.timeout_ms = m->timeout_ms;
	call->req.overwrite = m->overwrite;
	call->req.disable_back_to_source = m->disable_bts;
	call->req.memory = m->memory;
	call->req.priority = m->priority;
	call->req.uid = (uint32_t)c->uid;
	call->req.gid = (uint32_t)c->gid;
	call->req.pid = (int32_t)c->pid;
	memcpy(call->groups, c->groups, c->nr_groups * sizeof(c->groups[0]));
	call->req.groups = call->groups;
	call->req.nr_groups = c->nr_groups;
	return call;
}

/* Fills @why and returns true when the daemon would act as @c but does not know its groups. */
static bool api_groups_refused(const struct vx_api_server *srv, const struct api_conn *c, char *why,
			       size_t cap)
{
	if (!c->groups_err || srv->euid != 0 || c->uid == 0 || c->uid == srv->euid)
		return false;
	if (c->groups_err == -E2BIG)
		snprintf(why, cap,
			 "uid %u has more than %u supplementary groups: the daemon cannot act with "
			 "exactly its rights; run the client with fewer groups",
			 (unsigned)c->uid, VX_DOWNLOAD_GROUPS_MAX);
	else
		snprintf(why, cap, "the daemon cannot read uid %u's supplementary groups: %s",
			 (unsigned)c->uid, vx_strerror(c->groups_err));
	return true;
}

/* Hands @call, logged, to the daemon: it owes one vx_api_call_done(). */
static int call_start(struct vx_api_server *srv, struct api_conn *c, struct vx_api_call *call)
{
	c->call = call;
	pthread_mutex_lock(&call->lock);
	call->srv = srv;
	pthread_mutex_unlock(&call->lock);
	srv->cfg.ops->download(srv->cfg.ctx, call, &call->req);
	vx_log_set_request_id(NULL);
	return 0;
}

static int handle_download(struct vx_api_server *srv, struct api_conn *c,
			   const struct vx_api_msg *m)
{
	struct vx_api_call *call;
	char why[256];

	if (c->call)
		return conn_answer(c, VX_API_DOWNLOAD, m->rid, -EBUSY,
				   "a download is already in flight on this connection");
	if (!download_ok(m, why, sizeof(why)))
		return conn_answer(c, VX_API_DOWNLOAD, m->rid, -EINVAL, why);
	if (api_groups_refused(srv, c, why, sizeof(why)))
		return conn_answer(c, VX_API_DOWNLOAD, m->rid, -EACCES, why);
	call = call_new(m, c);
	if (!call)
		return conn_answer(c, VX_API_DOWNLOAD, m->rid, -ENOMEM, "daemon out of memory");
	vx_log_set_request_id(call->req.request_id);
	vx_info("api: uid %u pid %d: download %.*s -> %s", (unsigned)c->uid, (int)c->pid,
		(int)VX_URL_LOG_MAX,
		vx_url_redact_keys(m->url.ptr, m->url.len, call->req.filtered_params,
				   (uint32_t)call->req.nr_filtered_params,
				   (char[VX_URL_LOG_MAX]){ 0 }, VX_URL_LOG_MAX),
		call->req.output ? call->req.output : "(stream)");
	return call_start(srv, c, call);
}

/* Checks a cache verb's paths (absolute, as a download's output); fills @why when bad. */
static bool cache_ok(const struct vx_api_msg *m, char *why, size_t cap)
{
	if ((m->has & VX_API_F_INPUT) && (!m->input.len || m->input.ptr[0] != '/')) {
		snprintf(why, cap, "the file to import must be an absolute path");
		return false;
	}
	if ((m->has & VX_API_F_OUTPUT) && (!m->output.len || m->output.ptr[0] != '/')) {
		snprintf(why, cap, "the output must be an absolute path");
		return false;
	}
	if ((m->has & VX_API_F_PIECE_LEN) && m->piece_len &&
	    (m->piece_len < 4096 || m->piece_len > (1ull << 30))) {
		snprintf(why, cap, "the piece length must be 4 KiB .. 1 GiB");
		return false;
	}
	return true;
}

/*
 * A cache verb (import, export, stat, delete): one call like a download, answered once through
 * vx_api_call_done() under the request's own type (the daemon may take its time: an import
 * copies a file, a stat asks the scheduler).
 */
static int handle_cache(struct vx_api_server *srv, struct api_conn *c, const struct vx_api_msg *m)
{
	struct vx_api_call *call;
	char why[256];

	if (c->call)
		return conn_answer(c, m->type, m->rid, -EBUSY,
				   "a request is already in flight on this connection");
	if (!cache_ok(m, why, sizeof(why)))
		return conn_answer(c, m->type, m->rid, -EINVAL, why);
	if (api_groups_refused(srv, c, why, sizeof(why)))
		return conn_answer(c, m->type, m->rid, -EACCES, why);
	call = call_new(m, c);
	if (!call)
		return conn_answer(c, m->type, m->rid, -ENOMEM, "daemon out of memory");
	vx_log_set_request_id(call->req.request_id);
	vx_info("api: uid %u pid %d: %s %s", (unsigned)c->uid, (int)c->pid,
		vx_api_type_name(m->type),
		call->req.cache_id	? call->req.cache_id
		: call->req.cache_input ? call->req.cache_input
					: "");
	return call_start(srv, c, call);
}

/*
 * Keeps the daemon's view of a task within what the codec encodes: false for an entry to drop
 * (a malformed id), limits clamped, a URL too long to send left out.
 */
static bool task_clamp(struct vx_download_task *t)
{
	if (!memchr(t->task_id, '\0', sizeof(t->task_id)) || !task_id_ok(t->task_id))
		return false;
	if (t->url && strnlen(t->url, VX_CTL_STR_MAX + 1) > VX_CTL_STR_MAX)
		t->url = NULL;
	if ((uint32_t)t->state > VX_API_STATE_MAX)
		t->state = VX_API_STATE_MAX;
	if (t->content_length < 0)
		t->content_length = -1;
	else
		t->content_length =
			(int64_t)clamp_u64((uint64_t)t->content_length, VX_API_COUNTER_MAX);
	t->piece_count = (uint32_t)clamp_u64(t->piece_count, VX_API_PIECES_MAX);
	t->pieces_done = (uint32_t)clamp_u64(t->pieces_done, VX_API_PIECES_MAX);
	return true;
}

static int handle_stat(struct vx_api_server *srv, struct api_conn *c, const struct vx_api_msg *m)
{
	struct vx_download_task info;
	struct vx_api_msg a;
	char id[VX_DOWNLOAD_TASK_ID_LEN + 1];
	int rc;

	memcpy(id, m->task_id.ptr, VX_DOWNLOAD_TASK_ID_LEN);
	id[VX_DOWNLOAD_TASK_ID_LEN] = '\0';
	vx_info("api: uid %u pid %d: stat %s", (unsigned)c->uid, (int)c->pid, id);
	memset(&info, 0, sizeof(info));
	info.content_length = -1;
	rc = srv->cfg.ops->stat(srv->cfg.ctx, id, &info);
	if (rc)
		return conn_answer(c, VX_API_STAT_TASK, m->rid, rc,
				   rc == -ENOENT ? "no such task" : vx_strerror(rc));
	memcpy(info.task_id, id, sizeof(info.task_id)); /* the id asked for, whatever came back */
	(void)task_clamp(&info);
	answer_init(&a, VX_API_STAT_TASK, m->rid, 0, NULL);
	a.task_id = vx_ctl_str_of(id);
	a.state = info.state;
	a.content_len = info.content_length;
	a.piece_count = info.piece_count;
	a.pieces_done = info.pieces_done;
	a.has |= VX_API_F_TASK_ID | VX_API_F_STATE | VX_API_F_CONTENT_LEN | VX_API_F_PIECE_COUNT |
		 VX_API_F_PIECES_DONE;
	if (info.url) {
		a.url = vx_ctl_str_of(info.url);
		a.has |= VX_API_F_URL;
	}
	return conn_put(c, &a);
}

static int handle_delete(struct vx_api_server *srv, struct api_conn *c, const struct vx_api_msg *m)
{
	char id[VX_DOWNLOAD_TASK_ID_LEN + 1];
	int rc;

	memcpy(id, m->task_id.ptr, VX_DOWNLOAD_TASK_ID_LEN);
	id[VX_DOWNLOAD_TASK_ID_LEN] = '\0';
	vx_info("api: uid %u pid %d: delete %s", (unsigned)c->uid, (int)c->pid, id);
	rc = srv->cfg.ops->remove(srv->cfg.ctx, id);
	return conn_answer(c, VX_API_DELETE_TASK, m->rid, rc,
			   rc == 0	   ? NULL
			   : rc == -ENOENT ? "no such task"
			   : rc == -EBUSY  ? "a download of the task is running"
					   : vx_strerror(rc));
}

static int handle_list(struct vx_api_server *srv, struct api_conn *c, const struct vx_api_msg *m)
{
	struct vx_api_msg a;
	uint32_t total, n, kept = 0;
	int rc;

	vx_info("api: uid %u pid %d: %s", (unsigned)c->uid, (int)c->pid, vx_api_type_name(m->type));
	if (m->type == VX_API_CACHE_LIST && !srv->cfg.ops->cache_list)
		return conn_answer(c, m->type, m->rid, -EOPNOTSUPP,
				   "this daemon keeps no persistent cache");
	memset(srv->tasks, 0, VX_API_LIST_MAX * sizeof(*srv->tasks));
	if (m->type == VX_API_CACHE_LIST)
		total = srv->cfg.ops->cache_list(srv->cfg.ctx, srv->tasks, VX_API_LIST_MAX);
	else
		total = srv->cfg.ops->list(srv->cfg.ctx, srv->tasks, VX_API_LIST_MAX);
	n = VX_MIN(total, (uint32_t)VX_API_LIST_MAX);
	for (uint32_t i = 0; i < n; i++) {
		if (task_clamp(&srv->tasks[i]))
			srv->tasks[kept++] = srv->tasks[i];
	}
	/* Long URLs can make 4096 entries exceed one frame: halve until the answer fits. */
	for (;;) {
		answer_init(&a, m->type, m->rid, 0, NULL);
		a.tasks = srv->tasks;
		a.nr_tasks = kept;
		a.more = total > kept;
		a.has |= VX_API_F_TASKS | VX_API_F_MORE;
		rc = conn_put(c, &a);
		if (rc != -EMSGSIZE || kept == 0)
			break;
		kept /= 2;
	}
	return rc;
}

void vx_api_server_set_rate(struct vx_api_server *srv, uint32_t per_s)
{
	VX_ASSERT(srv);
	__atomic_store_n(&srv->rate, per_s, __ATOMIC_RELAXED);
}

void vx_api_server_set_conns_per_uid(struct vx_api_server *srv, uint32_t n)
{
	VX_ASSERT(srv);
	__atomic_store_n(&srv->conns_per_uid, n, __ATOMIC_RELAXED);
}

/* Whether @uid already holds conns_per_uid connections (api.max_conns_per_uid). */
static bool uid_full(struct vx_api_server *srv, uid_t uid)
{
	uint32_t max = __atomic_load_n(&srv->conns_per_uid, __ATOMIC_RELAXED), n = 0;

	for (uint32_t i = 0; max && i < VX_API_CLIENTS_MAX && n < max; i++)
		n += srv->conns[i] && srv->conns[i]->uid == uid;
	return max && n >= max;
}

/* One request's token of client uid @uid's bucket (api.requests_per_s), or false. */
static bool rate_ok(struct vx_api_server *srv, uid_t uid, uint64_t now)
{
	uint32_t rate = __atomic_load_n(&srv->rate, __ATOMIC_RELAXED);
	struct uid_bucket *u = NULL, *oldest = &srv->rates[0];

	if (!rate)
		return true;
	for (uint32_t i = 0; i < VX_API_RATE_UIDS && !u; i++) {
		struct uid_bucket *r = &srv->rates[i];

		if (r->used && r->uid == uid)
			u = r;
		else if (oldest->used && (!r->used || r->last_ms < oldest->last_ms))
			oldest = r; /* a free one, else the one idle longest */
	}
	if (!u || u->rate != rate) {
		u = u ? u : oldest;
		*u = (struct uid_bucket){ .used = true, .uid = uid, .rate = rate };
		vx_bucket_init(&u->b, rate, rate, now);
	}
	u->last_ms = now;
	if (!vx_bucket_peek(&u->b, 1, now))
		return false;
	vx_bucket_take(&u->b, 1);
	return true;
}

/* Serves one decoded request; returns 0, or a negative error that closes the connection. */
static int handle_request(struct vx_api_server *srv, struct api_conn *c, const struct vx_api_msg *m)
{
	c->idle_since_ms = vx_now_ms();
	vx_metric_inc(&vx_m_local_requests, 0);
	if (!rate_ok(srv, c->uid, c->idle_since_ms)) {
		vx_debug("api: uid %u pid %d: over api.requests_per_s", (unsigned)c->uid,
			 (int)c->pid);
		return conn_answer(c, m->type, m->rid, -EAGAIN,
				   "request rate limit of this uid (api.requests_per_s)");
	}
	switch (m->type) {
	case VX_API_DOWNLOAD:
		return handle_download(srv, c, m);
	case VX_API_STAT_TASK:
		return handle_stat(srv, c, m);
	case VX_API_DELETE_TASK:
		return handle_delete(srv, c, m);
	case VX_API_TASK_LIST:
	case VX_API_CACHE_LIST:
		return handle_list(srv, c, m);
	case VX_API_CACHE_IMPORT:
	case VX_API_CACHE_EXPORT:
	case VX_API_CACHE_STAT:
	case VX_API_CACHE_DELETE:
		return handle_cache(srv, c, m);
	default:
		return conn_answer(c, m->type, m->rid, -EOPNOTSUPP,
				   "not a request of the local API (spec/api.md)");
	}
}

/* Serves one frame the reader cut. Returns 0 or an error (close). */
static int conn_take_frame(struct vx_api_server *srv, struct api_conn *c, const struct vx_frame *f)
{
	struct vx_api_msg m;
	int rc;

	rc = vx_api_msg_decode(f->hdr.tag, f->value, f->value_len, &m);
	if (rc) {
		vx_warn("api: uid %u pid %d sent a message that does not decode (%s); closing",
			(unsigned)c->uid, (int)c->pid, vx_strerror(rc));
		return rc;
	}
	if (m.tag != VX_TAG_CONTROL_REQUEST) {
		vx_warn("api: uid %u pid %d sent a %s frame, not a request; closing",
			(unsigned)c->uid, (int)c->pid, vx_api_type_name(m.type));
		vx_api_msg_release(&m);
		return -EPROTO;
	}
	rc = handle_request(srv, c, &m);
	vx_api_msg_release(&m);
	return rc;
}

/*
 * vx_fconn input: feeds received bytes to the reader and serves at most one request. Pauses
 * (uses nothing) while an answer is unsent, so a request is only taken once the previous answer
 * is out. Returns the bytes used, or an error after which the caller closes the connection.
 */
static ssize_t conn_input(void *arg, const uint8_t *in, size_t len)
{
	struct api_conn *c = arg;
	struct vx_frame f;
	ssize_t n;
	int rc;

	if (vx_fconn_pending(&c->io))
		return 0;
	c->idle_since_ms = vx_now_ms();
	n = vx_ctl_reader_feed(&c->rd, in, len, &f);
	if (n == -EAGAIN)
		return (ssize_t)len; /* all in the reader: the frame is not complete yet */
	if (n < 0) {
		vx_warn("api: uid %u pid %d sent a bad frame (%s); closing", (unsigned)c->uid,
			(int)c->pid, vx_ctl_reader_why(&c->rd));
		return n;
	}
	rc = conn_take_frame(c->srv, c, &f);
	return rc ? rc : n;
}

/*
 * Moves the connection as far as it can go without waiting: flush the queue; once it is empty,
 * queue the call's next frame, or else serve the next request already received. Returns 0, or
 * an error after which the caller closes the connection.
 */
static int conn_run(struct vx_api_server *srv, struct api_conn *c)
{
	int rc;

	for (;;) {
		rc = vx_fconn_flush(&c->io);
		if (rc)
			return rc;
		if (vx_fconn_pending(&c->io))
			break; /* the socket is full: EPOLLOUT brings us back */
		if (c->call && conn_pump_call(srv, c))
			continue;
		if (!vx_fconn_buffered(&c->io))
			break;
		rc = vx_fconn_input(&c->io, conn_input, c);
		if (rc)
			return rc;
	}
	conn_set_events(srv, c);
	return 0;
}

/* Tells a client we will not serve why (a rid-0 answer, spec/api.md section 1), then closes. */
static void api_refuse(int fd, int status, const char *text)
{
	uint8_t buf[1100];
	struct vx_api_msg m;
	ssize_t n;

	answer_init(&m, VX_API_REFUSE, 0, status, text);
	n = vx_api_msg_encode(&m, buf, sizeof(buf));
	/* best effort: a fresh socket's buffer always takes one small frame */
	if (n > 0 && send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
		vx_debug("api: the refusal did not go out whole");
	close(fd);
}

/*
 * The client's supplementary groups (SO_PEERGROUPS, as of its connect) into c->groups. A client
 * whose groups cannot be known whole (more than VX_DOWNLOAD_GROUPS_MAX, or an error) gets
 * c->groups_err: a daemon that would act as it refuses its downloads (api_groups_refused())
 * rather than act with fewer groups, which a group-deny mode would turn into more rights.
 */
static void api_peer_groups(struct api_conn *c, int fd)
{
	gid_t g[VX_DOWNLOAD_GROUPS_MAX];
	socklen_t len = sizeof(g);

	_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "gid_t is 32 bits");
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == -1) {
		c->groups_err = errno == ERANGE ? -E2BIG : -errno;
		vx_debug("api: SO_PEERGROUPS of uid %u: %s", (unsigned)c->uid,
			 vx_strerror(c->groups_err));
		return;
	}
	len /= sizeof(gid_t);
	for (uint32_t i = 0; i < len && i < VX_DOWNLOAD_GROUPS_MAX; i++)
		c->groups[i] = (uint32_t)g[i];
	c->nr_groups = VX_MIN((uint32_t)len, (uint32_t)VX_DOWNLOAD_GROUPS_MAX);
}

/*
 * A connection in a free slot for socket @fd (-1: a test's transport, set by the caller) of
 * the client @cr; registered with the loop when there is one. NULL when out of memory.
 */
static struct api_conn *conn_add(struct vx_api_server *srv, int fd, const struct ucred *cr)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	struct api_conn *c;
	uint32_t slot;

	VX_ASSERT(srv->nr_conns < srv->cfg.max_clients);
	c = vx_calloc(1, sizeof(*c));
	if (!c || vx_ctl_reader_init(&c->rd)) {
		vx_free(c);
		return NULL;
	}
	for (slot = 0; srv->conns[slot]; slot++)
		;
	c->srv = srv;
	vx_fconn_init(&c->io, fd, API_OUT_MAX);
	c->slot = slot;
	c->uid = cr->uid;
	c->gid = cr->gid;
	c->pid = cr->pid;
	if (fd >= 0)
		api_peer_groups(c, fd);
	c->idle_since_ms = vx_now_ms();
	c->events = ev.events;
	ev.data.ptr = c;
	if (srv->epfd >= 0 && fd >= 0 && epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		vx_warn("api: epoll_ctl: %s", vx_strerror(-errno));
		vx_ctl_reader_free(&c->rd);
		vx_free(c);
		return NULL;
	}
	srv->conns[slot] = c;
	srv->nr_conns++;
	return c;
}

static void api_accept_one(struct vx_api_server *srv, int fd)
{
	struct ucred cr;
	struct api_conn *c;
	char text[160];
	int rc = vx_net_peer_cred(fd, &cr.pid, &cr.uid, &cr.gid);

	if (rc) {
		vx_warn("api: SO_PEERCRED: %s; closing", vx_strerror(rc));
		close(fd);
		return;
	}
	if (!api_allowed(srv, &cr)) {
		vx_warn("api: refused uid %u gid %u pid %d: not root, not us, not in group %u",
			(unsigned)cr.uid, (unsigned)cr.gid, (int)cr.pid, (unsigned)srv->sock_gid);
		snprintf(text, sizeof(text),
			 "uid %u may not use this daemon (not in the socket's group %u)",
			 (unsigned)cr.uid, (unsigned)srv->sock_gid);
		api_refuse(fd, -EACCES, text);
		return;
	}
	if (srv->nr_conns >= srv->cfg.max_clients) {
		vx_warn("api: refused uid %u pid %d: %u clients already connected",
			(unsigned)cr.uid, (int)cr.pid, srv->nr_conns);
		snprintf(text, sizeof(text), "the daemon already serves %u clients", srv->nr_conns);
		api_refuse(fd, -EUSERS, text);
		return;
	}
	if (uid_full(srv, cr.uid)) {
		vx_warn("api: refused uid %u pid %d: it holds %u connections, the limit per uid "
			"(api.max_conns_per_uid)",
			(unsigned)cr.uid, (int)cr.pid,
			__atomic_load_n(&srv->conns_per_uid, __ATOMIC_RELAXED));
		snprintf(text, sizeof(text),
			 "uid %u holds as many connections as one uid may (api.max_conns_per_uid)",
			 (unsigned)cr.uid);
		api_refuse(fd, -EUSERS, text);
		return;
	}
	c = conn_add(srv, fd, &cr);
	if (c == NULL)
		api_refuse(fd, -ENOMEM, "daemon out of memory");
	else
		vx_debug("api: accepted uid %u pid %d", (unsigned)cr.uid, (int)cr.pid);
}

static void api_accept(struct vx_api_server *srv)
{
	for (;;) {
		int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				vx_warn("api: accept: %s", vx_strerror(-errno));
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		api_accept_one(srv, fd);
	}
}

/* ---------------------------------------------------------------- The loop */

/* vx_fconn input while reading: keep the bytes; conn_run() serves them in order. */
static ssize_t conn_hold(void *arg, const uint8_t *in, size_t len)
{
	(void)arg;
	(void)in;
	(void)len;
	return 0;
}

/* Serves @events of @c; returns 0, or the error for which @c was closed (it is gone). */
static int api_on_conn(struct vx_api_server *srv, struct api_conn *c, uint32_t events)
{
	int rc = 0;

	if (events & EPOLLIN) {
		ssize_t n = vx_fconn_read(&c->io, conn_hold, NULL);

		rc = n < 0 ? (int)n : 0;
		if (n > 0)
			c->idle_since_ms = vx_now_ms();
	}
	if (!rc && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		rc = -ECONNRESET;
	if (!rc)
		rc = conn_run(srv, c);
	if (rc)
		conn_close(srv, c, rc == -ECONNRESET ? "disconnected" : vx_strerror(rc));
	return rc;
}

/* As on a wake for @c: queue what the daemon posted to its call. 0, or @c was closed. */
static int api_run_call(struct vx_api_server *srv, struct api_conn *c)
{
	int rc;

	if (!c->call)
		return 0;
	rc = conn_run(srv, c);
	if (rc)
		conn_close(srv, c, vx_strerror(rc));
	return rc;
}

/* Runs every connection whose call the daemon may have posted to (a wake). */
static void api_run_calls(struct vx_api_server *srv)
{
	for (uint32_t i = 0; i < srv->cfg.max_clients; i++) {
		if (srv->conns[i])
			(void)api_run_call(srv, srv->conns[i]);
	}
}

/* Drops clients with nothing in flight that have been silent for idle_timeout_ms. */
static void api_sweep_idle(struct vx_api_server *srv)
{
	uint64_t now = vx_now_ms();

	for (uint32_t i = 0; i < srv->cfg.max_clients; i++) {
		struct api_conn *c = srv->conns[i];

		if (c && !c->call && !vx_fconn_pending(&c->io) &&
		    now - c->idle_since_ms >= srv->cfg.idle_timeout_ms)
			conn_close(srv, c, "idle");
	}
}

static bool api_stopping(struct vx_api_server *srv)
{
	bool stop;

	pthread_mutex_lock(&srv->wake_lock);
	stop = srv->stop;
	pthread_mutex_unlock(&srv->wake_lock);
	return stop;
}

static void *api_thread(void *arg)
{
	struct vx_api_server *srv = arg;
	struct epoll_event evs[API_EVENTS];
	int tick = (int)VX_MIN(VX_MAX(srv->cfg.idle_timeout_ms / 4, 10u), 1000u);
	uint64_t junk;

	while (!api_stopping(srv)) {
		int n = epoll_wait(srv->epfd, evs, API_EVENTS, tick);

		if (n == -1 && errno != EINTR) {
			vx_err("api: epoll_wait: %s; the local API stops", vx_strerror(-errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == API_LISTEN_TAG)
				api_accept(srv);
			else if (evs[i].data.u64 != API_WAKE_TAG)
				(void)api_on_conn(srv, evs[i].data.ptr, evs[i].events);
		}
		/* Daemon threads posted progress or results (or free() asked us to stop). */
		if (read(srv->wakefd, &junk, sizeof(junk)) == sizeof(junk))
			api_run_calls(srv);
		api_sweep_idle(srv);
	}
	/* Clients go away with the server; each download in flight is cancelled here, on us. */
	for (uint32_t i = 0; i < srv->cfg.max_clients; i++) {
		if (srv->conns[i])
			conn_close(srv, srv->conns[i], "server stopping");
	}
	return NULL;
}

/* ---------------------------------------------------------------- Lifecycle */

static int api_cfg_check(const struct vx_api_server_cfg *cfg)
{
	const struct vx_api_ops *o = cfg->ops;

	if (!cfg->socket_path || !cfg->socket_path[0]) {
		vx_err("api: no socket path");
		return -EINVAL;
	}
	if (strlen(cfg->socket_path) >= VX_API_PATH_MAX) {
		vx_err("api: socket path %s is longer than %d bytes", cfg->socket_path,
		       VX_API_PATH_MAX - 1);
		return -ENAMETOOLONG;
	}
	if (cfg->mode & ~0777u) {
		vx_err("api: socket mode %o has bits beyond 0777", cfg->mode);
		return -EINVAL;
	}
	if (cfg->max_clients > VX_API_CLIENTS_MAX || cfg->idle_timeout_ms > VX_API_IDLE_MS_MAX) {
		vx_err("api: max_clients %u (<= %d) or idle_timeout_ms %u (<= %u) out of range",
		       cfg->max_clients, VX_API_CLIENTS_MAX, cfg->idle_timeout_ms,
		       VX_API_IDLE_MS_MAX);
		return -EINVAL;
	}
	if (!o || !o->download || !o->cancel || !o->stat || !o->list || !o->remove) {
		vx_err("api: every op (download, cancel, stat, list, remove) is required");
		return -EINVAL;
	}
	return 0;
}

static void api_release(struct vx_api_server *srv)
{
	if (srv->epfd >= 0)
		close(srv->epfd);
	if (srv->wakefd >= 0)
		close(srv->wakefd);
	if (srv->lfd >= 0)
		close(srv->lfd);
	pthread_mutex_destroy(&srv->wake_lock);
	vx_free(srv->tasks);
	vx_free(srv->obuf);
	vx_free(srv);
}

static int api_start(struct vx_api_server *srv)
{
	struct epoll_event lev = { .events = EPOLLIN, .data.u64 = API_LISTEN_TAG };
	struct epoll_event wev = { .events = EPOLLIN, .data.u64 = API_WAKE_TAG };
	int rc;

	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (srv->epfd == -1 || srv->wakefd == -1)
		return -errno;
	rc = api_listen(srv);
	if (rc)
		return rc;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->lfd, &lev) == -1 ||
	    epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->wakefd, &wev) == -1) {
		rc = -errno;
		api_unlink(srv);
		return rc;
	}
	rc = pthread_create(&srv->thread, NULL, api_thread, srv);
	if (rc) {
		api_unlink(srv);
		return -rc;
	}
	return 0;
}

/* A server for @cfg (checked) with its buffers, no socket and no thread yet. */
static int api_alloc(const struct vx_api_server_cfg *cfg, struct vx_api_server **out)
{
	struct vx_api_server *srv;
	int rc;

	*out = NULL;
	rc = api_cfg_check(cfg);
	if (rc)
		return rc;
	srv = vx_calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->lfd = srv->epfd = srv->wakefd = -1;
	pthread_mutex_init(&srv->wake_lock, NULL);
	srv->cfg = *cfg;
	memcpy(srv->path, cfg->socket_path, strlen(cfg->socket_path) + 1);
	srv->cfg.socket_path = srv->path;
	srv->cfg.mode = cfg->mode ? cfg->mode : VX_API_MODE_DEFAULT;
	srv->cfg.max_clients = cfg->max_clients ? cfg->max_clients : VX_API_CLIENTS_MAX;
	srv->cfg.idle_timeout_ms =
		cfg->idle_timeout_ms ? cfg->idle_timeout_ms : VX_API_IDLE_MS_DEFAULT;
	srv->cfg.group = NULL; /* resolved by the caller; the name is not kept */
	srv->euid = geteuid();
	srv->rate = VX_API_RATE_DEFAULT;
	srv->conns_per_uid = VX_API_UID_CONNS;
	srv->sock_gid = getegid();
	srv->tasks = vx_calloc(VX_API_LIST_MAX, sizeof(*srv->tasks));
	srv->obuf = vx_malloc(API_OUT_MAX);
	if (!srv->tasks || !srv->obuf) {
		api_release(srv);
		return -ENOMEM;
	}
	*out = srv;
	return 0;
}

int vx_api_server_new(struct vx_api_server **out, const struct vx_api_server_cfg *cfg)
{
	struct vx_api_server *srv;
	int rc;

	VX_ASSERT(out);
	VX_ASSERT(cfg);
	rc = api_alloc(cfg, &srv);
	if (rc)
		return rc;
	srv->set_group = cfg->group != NULL;
	rc = cfg->group ? api_resolve_group(cfg->group, &srv->sock_gid) : 0;
	if (!rc)
		rc = api_start(srv);
	if (rc) {
		api_release(srv);
		return rc;
	}
	vx_info("api: serving %s (mode %04o, group %u, at most %u clients)", srv->path,
		srv->cfg.mode, (unsigned)srv->sock_gid, srv->cfg.max_clients);
	*out = srv;
	return 0;
}

void vx_api_server_free(struct vx_api_server *srv)
{
	if (!srv)
		return;
	pthread_mutex_lock(&srv->wake_lock);
	srv->stop = true;
	pthread_mutex_unlock(&srv->wake_lock);
	server_wake(srv);
	pthread_join(srv->thread, NULL);
	api_unlink(srv);
	api_release(srv);
}

const char *vx_api_server_path(const struct vx_api_server *srv)
{
	VX_ASSERT(srv);
	return srv->path;
}

/* ---------------------------------------------------------------- Detached (api_int.h) */

int vx__api_server_new_detached(struct vx_api_server **out, const struct vx_api_server_cfg *cfg)
{
	return api_alloc(cfg, out);
}

struct api_conn *vx__api_conn_attach(struct vx_api_server *srv, const struct vx_fconn_io *io,
				     void *arg, uint32_t uid, uint32_t gid, int32_t pid)
{
	struct ucred cr = { .pid = pid, .uid = uid, .gid = gid };
	struct api_conn *c;

	VX_ASSERT(srv->epfd < 0);
	if (srv->nr_conns >= srv->cfg.max_clients)
		return NULL;
	c = conn_add(srv, -1, &cr);
	if (c)
		vx_fconn_set_io(&c->io, io, arg);
	return c;
}

int vx__api_conn_ready(struct vx_api_server *srv, struct api_conn *c)
{
	return api_on_conn(srv, c, EPOLLIN | EPOLLOUT);
}

int vx__api_conn_wake(struct vx_api_server *srv, struct api_conn *c)
{
	return api_run_call(srv, c);
}

void vx__api_server_free_detached(struct vx_api_server *srv)
{
	if (!srv)
		return;
	VX_ASSERT(srv->epfd < 0);
	for (uint32_t i = 0; i < srv->cfg.max_clients; i++) {
		if (srv->conns[i])
			conn_close(srv, srv->conns[i], "server stopping");
	}
	api_release(srv);
}
