/* SPDX-License-Identifier: Apache-2.0 */
/*
 * client.c: libvx, the blocking client of the daemon's local API (spec/api.md). One handle is
 * one unix-socket connection with its own receive buffer; a call sends one request, then reads
 * frames until the answer with its rid arrives, handing progress events of a download to the
 * caller's callback and keeping a descriptor the daemon passes (SCM_RIGHTS) for stream mode.
 * The socket is non-blocking and every wait is a poll() with a deadline, so no call hangs on a
 * daemon that stopped answering unless the caller asked for no limit.
 */
#include "vx_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_api_msg.h"
#include "vx_err.h"
#include "vx_net.h"
#include "vx_task_id.h"
#include "vx_time.h"

#define CLIENT_TIMEOUT_MS_DEFAULT 10000u
#define CLIENT_GRACE_MS		  10000u /* beyond a download's own timeout */
#define CLIENT_RBUF		  4096u
#define CLIENT_WBUF_MIN		  (64u << 10)
#define CLIENT_PIECE_LEN_MAX	  (1ull << 32)
#define CLIENT_TIMEOUT_MS_MAX	  2592000000u

_Static_assert(VX_DOWNLOAD_URL_MAX == VX_CTL_STR_MAX, "url limit is the codec's text limit");
_Static_assert(VX_DOWNLOAD_HEADERS_MAX == VX_API_HEADERS_MAX, "header count limit");
_Static_assert(VX_DOWNLOAD_FILTERS_MAX == VX_API_FILTERS_MAX, "filtered key count limit");
_Static_assert(VX_CLIENT_LIST_MAX == VX_API_TASKS_MAX, "task-list limit");

struct vx_client {
	int fd;			   /* connected socket, non-blocking; -1 after a failed reconnect */
	struct sockaddr_un addr;   /* for the reconnect after an idle drop */
	uint32_t timeout_ms;	   /* connect and stat/list/delete answers */
	uint64_t next_rid;	   /* last rid used; 0 is never sent (it means "the connection") */
	struct vx_ctl_reader rd;   /* cuts frames out of what we receive */
	uint8_t rbuf[CLIENT_RBUF]; /* received bytes not yet fed to rd: [roff, rlen) */
	size_t roff;
	size_t rlen;
	uint8_t *wbuf;			   /* encoded request */
	size_t wcap;			   /* allocated size of wbuf */
	int stream_fd;			   /* descriptor the daemon passed, -1 none */
	char url[VX_DOWNLOAD_URL_MAX + 1]; /* the URL vx_client_stat() lends */
	char errmsg[VX_DOWNLOAD_MSG_MAX];
};

static int client_fail(struct vx_client *c, int err, const char *fmt, ...) VX_PRINTF(3, 4);

/* Records the text of a failure and returns @err, so error paths read "return client_fail()". */
static int client_fail(struct vx_client *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

static void copy_str(char *dst, size_t cap, struct vx_ctl_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;

	if (n)
		memcpy(dst, s.ptr, n);
	dst[n] = '\0';
}

/* ---------------------------------------------------------------- Connection */

static int client_dial(const struct sockaddr_un *addr, uint32_t timeout_ms)
{
	return vx_net_unix_dial(addr->sun_path, timeout_ms, VX_NET_NONBLOCK, NULL);
}

int vx_client_connect(struct vx_client **out, const char *socket_path, uint32_t timeout_ms)
{
	struct vx_client *c;
	size_t n;
	int fd;

	VX_ASSERT(out);
	*out = NULL;
	if (!socket_path || !socket_path[0])
		return -EINVAL;
	n = strlen(socket_path);
	c = vx_calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (n >= sizeof(c->addr.sun_path)) {
		vx_free(c);
		return -ENAMETOOLONG;
	}
	c->addr.sun_family = AF_UNIX;
	memcpy(c->addr.sun_path, socket_path, n + 1);
	c->timeout_ms = timeout_ms ? timeout_ms : CLIENT_TIMEOUT_MS_DEFAULT;
	c->stream_fd = -1;
	if (vx_ctl_reader_init(&c->rd)) {
		vx_free(c);
		return -ENOMEM;
	}
	fd = client_dial(&c->addr, c->timeout_ms);
	if (fd < 0) {
		vx_ctl_reader_free(&c->rd);
		vx_free(c);
		return fd;
	}
	c->fd = fd;
	*out = c;
	return 0;
}

static void client_drop_stream_fd(struct vx_client *c)
{
	if (c->stream_fd >= 0)
		close(c->stream_fd);
	c->stream_fd = -1;
}

void vx_client_close(struct vx_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	client_drop_stream_fd(c);
	vx_ctl_reader_free(&c->rd);
	vx_free(c->wbuf);
	vx_free(c);
}

const char *vx_client_errmsg(const struct vx_client *c)
{
	return c ? c->errmsg : "";
}

/*
 * The daemon drops connections that stay idle; before a request we look whether ours was
 * closed (readable with nothing to read) and dial again once. Bytes waiting (a rid-0 refusal)
 * are left for the answer loop to report.
 */
static int client_ensure_open(struct vx_client *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	uint8_t b;
	ssize_t n;
	int fd;

	if (c->fd >= 0 && c->roff == c->rlen && poll(&p, 1, 0) == 1) {
		n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
			close(c->fd);
			c->fd = -1;
		}
	}
	if (c->fd >= 0)
		return 0;
	fd = client_dial(&c->addr, c->timeout_ms);
	if (fd < 0)
		return client_fail(c, fd, "cannot reconnect to %s: %s", c->addr.sun_path,
				   vx_strerror(fd));
	c->fd = fd;
	c->roff = c->rlen = 0;
	vx_ctl_reader_reset(&c->rd);
	return 0;
}

/* Milliseconds left until @deadline_ms (0: none, wait forever) for poll(), at least 0. */
static int client_wait_ms(uint64_t deadline_ms)
{
	uint64_t now;

	if (deadline_ms == 0)
		return -1;
	now = vx_now_ms();
	if (now >= deadline_ms)
		return 0;
	return deadline_ms - now > INT32_MAX ? INT32_MAX : (int)(deadline_ms - now);
}

static int client_send(struct vx_client *c, const uint8_t *buf, size_t len, uint64_t deadline_ms)
{
	size_t off = 0;

	while (off < len) {
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };
		ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if (poll(&p, 1, client_wait_ms(deadline_ms)) == 0)
			return -ETIMEDOUT;
	}
	return 0;
}

/* Reads what the socket has into the empty rbuf (at least one byte). 0, -ECONNRESET on EOF. */
static int client_fill(struct vx_client *c, uint64_t deadline_ms)
{
	ssize_t n;
	int got;

	VX_ASSERT(c->roff == c->rlen);
	c->roff = c->rlen = 0;
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };

		n = vx_net_recv_fd(c->fd, c->rbuf, sizeof(c->rbuf), &got);
		/* Keeps the first descriptor the daemon passes; closes any other. */
		if (got >= 0 && c->stream_fd < 0)
			c->stream_fd = got;
		else if (got >= 0)
			close(got);
		if (n > 0) {
			c->rlen = (size_t)n;
			return 0;
		}
		if (n == 0)
			return -ECONNRESET;
		if (n != -EAGAIN)
			return (int)n;
		if (poll(&p, 1, client_wait_ms(deadline_ms)) == 0)
			return -ETIMEDOUT;
	}
}

/*
 * After a transport or protocol error the byte stream cannot be trusted (a late answer, half a
 * frame): drop the connection, so the next call dials a fresh one.
 */
static void client_broken(struct vx_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->roff = c->rlen = 0;
	vx_ctl_reader_reset(&c->rd);
}

static int client_next_frame(struct vx_client *c, uint64_t deadline_ms, struct vx_api_msg *m)
{
	struct vx_frame f;
	ssize_t n;
	int rc;

	for (;;) {
		if (c->roff < c->rlen) {
			n = vx_ctl_reader_feed(&c->rd, c->rbuf + c->roff, c->rlen - c->roff, &f);
			if (n > 0) {
				c->roff += (size_t)n;
				break;
			}
			if (n != -EAGAIN)
				return client_fail(c, -EPROTO, "the daemon sent a bad frame (%s)",
						   vx_ctl_reader_why(&c->rd));
			c->roff = c->rlen;
		}
		rc = client_fill(c, deadline_ms);
		if (rc == -ECONNRESET)
			return client_fail(c, rc, "the daemon closed the connection");
		if (rc == -ETIMEDOUT)
			return client_fail(c, rc, "no answer from the daemon in time");
		if (rc)
			return client_fail(c, rc, "reading from the daemon: %s", vx_strerror(rc));
	}
	rc = vx_api_msg_decode(f.hdr.tag, f.value, f.value_len, m);
	if (rc)
		return client_fail(c, rc == -ENOMEM ? rc : -EPROTO,
				   "the daemon sent a message we cannot decode (%s)",
				   vx_strerror(rc));
	return 0;
}

/*
 * Waits for the next whole frame and decodes it into *@m, whose strings borrow the reader's
 * buffer until client_consume(). Returns 0 or a negative error (with errmsg set, connection
 * dropped).
 */
static int client_next(struct vx_client *c, uint64_t deadline_ms, struct vx_api_msg *m)
{
	int rc = client_next_frame(c, deadline_ms, m);

	if (rc)
		client_broken(c);
	return rc;
}

static void client_consume(struct vx_api_msg *m)
{
	vx_api_msg_release(m);
}

/* Encodes @m into wbuf (growing it to a whole frame when needed) and sends it. */
static int client_send_msg(struct vx_client *c, const struct vx_api_msg *m, uint64_t deadline_ms)
{
	size_t want;
	ssize_t n;
	int rc;

	for (;;) {
		n = c->wbuf ? vx_api_msg_encode(m, c->wbuf, c->wcap) : -EMSGSIZE;
		if (n > 0)
			break;
		if (n != -EMSGSIZE || c->wcap >= VX_FRAME_HDR_LEN + VX_CTL_FRAME_MAX) {
			return client_fail(c, (int)n == -EMSGSIZE ? -EMSGSIZE : -EINVAL,
					   "the %s request breaks a limit of the protocol",
					   vx_api_type_name(m->type));
		}
		/* most requests fit in 64 KiB; only one with big headers needs a whole frame */
		want = c->wbuf ? VX_FRAME_HDR_LEN + VX_CTL_FRAME_MAX : CLIENT_WBUF_MIN;
		vx_free(c->wbuf);
		c->wcap = want;
		c->wbuf = vx_malloc(c->wcap);
		if (!c->wbuf) {
			c->wcap = 0;
			return client_fail(c, -ENOMEM, "out of memory");
		}
	}
	rc = client_send(c, c->wbuf, (size_t)n, deadline_ms);
	/*
	 * A daemon that refused us (credentials, too many clients) has closed its end after its
	 * rid-0 answer: the send fails with EPIPE but the answer is still there to read.
	 */
	if (rc == -EPIPE || rc == -ECONNRESET)
		return 0;
	if (rc) {
		client_broken(c);
		return client_fail(c, rc, "sending to the daemon: %s", vx_strerror(rc));
	}
	return 0;
}

/* A rid-0 response concerns the connection itself (spec/api.md section 1). */
static int client_refused(struct vx_client *c, const struct vx_api_msg *m)
{
	int st = m->status < 0 ? (int)m->status : -EPROTO;

	if (m->error.len)
		return client_fail(c, st, "%.*s", (int)m->error.len, m->error.ptr);
	return client_fail(c, st, "the daemon refused the connection: %s", vx_strerror(st));
}

/*
 * Sends @req and waits for its answer, which stays decoded in *@ans (borrowing rbuf) until
 * client_consume(). Frames of other rids (late events of an earlier call) are dropped.
 */
static int client_call_until(struct vx_client *c, struct vx_api_msg *req, struct vx_api_msg *ans,
			     uint64_t deadline)
{
	int rc;

	c->errmsg[0] = '\0';
	rc = client_ensure_open(c);
	if (rc)
		return rc;
	req->tag = VX_TAG_CONTROL_REQUEST;
	req->rid = ++c->next_rid;
	rc = client_send_msg(c, req, deadline);
	if (rc)
		return rc;
	for (;;) {
		rc = client_next(c, deadline, ans);
		if (rc)
			return rc;
		if (ans->tag == VX_TAG_CONTROL_RESPONSE && ans->rid == 0) {
			rc = client_refused(c, ans);
			client_consume(ans);
			client_broken(c); /* the daemon hung up after saying why */
			return rc;
		}
		if (ans->tag == VX_TAG_CONTROL_RESPONSE && ans->rid == req->rid)
			return 0;
		client_consume(ans);
	}
}

static int client_call(struct vx_client *c, struct vx_api_msg *req, struct vx_api_msg *ans)
{
	return client_call_until(c, req, ans, vx_now_ms() + c->timeout_ms);
}

static int client_status(struct vx_client *c, const struct vx_api_msg *ans)
{
	int st = (int)ans->status;

	if (st >= 0)
		return 0;
	if (ans->error.len)
		return client_fail(c, st, "%.*s", (int)ans->error.len, ans->error.ptr);
	return client_fail(c, st, "%s", vx_strerror(st));
}

/* ---------------------------------------------------------------- Download */

static int check_str(struct vx_client *c, const char *what, const char *s, size_t max)
{
	if (s && strlen(s) > max)
		return client_fail(c, -EINVAL, "%s is longer than %zu bytes", what, max);
	return 0;
}

static int check_strs(struct vx_client *c, const char *what, const char *const *v, uint32_t n,
		      uint32_t max_n, size_t max)
{
	if (n > max_n)
		return client_fail(c, -EINVAL, "%u %s, at most %u", n, what, max_n);
	if (n && !v)
		return client_fail(c, -EINVAL, "%s: count %u without an array", what, n);
	for (uint32_t i = 0; i < n; i++) {
		if (!v[i] || strlen(v[i]) > max)
			return client_fail(c, -EINVAL, "%s #%u is missing or longer than %zu bytes",
					   what, i, max);
	}
	return 0;
}

/* Every limit the codec enforces, each with its own message, before anything is sent. */
static int check_download(struct vx_client *c, const struct vx_download_request *r)
{
	int rc;

	if (!r->url || !r->url[0])
		return client_fail(c, -EINVAL, "download: no url");
	rc = check_str(c, "url", r->url, VX_CTL_STR_MAX);
	if (!rc)
		rc = check_str(c, "output path", r->output, VX_API_OUTPUT_MAX);
	if (!rc)
		rc = check_str(c, "digest", r->digest, VX_API_SUM_MAX);
	if (!rc)
		rc = check_str(c, "tag", r->tag, VX_CTL_ID_MAX);
	if (!rc)
		rc = check_str(c, "application", r->application, VX_CTL_ID_MAX);
	if (!rc)
		rc = check_strs(c, "headers", r->headers, r->nr_headers, VX_API_HEADERS_MAX,
				VX_CTL_STR_MAX);
	if (!rc)
		rc = check_strs(c, "filtered query keys", r->filtered_params, r->nr_filtered_params,
				VX_API_FILTERS_MAX, VX_CTL_ID_MAX);
	if (rc)
		return rc;
	if (r->output && r->output[0] != '/')
		return client_fail(c, -EINVAL, "output path %s is not absolute", r->output);
	if (r->priority > 6)
		return client_fail(c, -EINVAL, "priority %u is not 0..6", r->priority);
	if (r->piece_length > CLIENT_PIECE_LEN_MAX)
		return client_fail(c, -EINVAL, "piece length %llu is over 4 GiB",
				   (unsigned long long)r->piece_length);
	if (r->timeout_ms > CLIENT_TIMEOUT_MS_MAX)
		return client_fail(c, -EINVAL, "timeout %u ms is over 30 days", r->timeout_ms);
	return 0;
}

static void fill_strs(struct vx_ctl_str *out, const char *const *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		out[i] = vx_ctl_str_of(v[i]);
}

static void build_download(struct vx_api_msg *m, const struct vx_download_request *r,
			   struct vx_ctl_str *hdrs, struct vx_ctl_str *filt)
{
	memset(m, 0, sizeof(*m));
	m->type = VX_API_DOWNLOAD;
	m->url = vx_ctl_str_of(r->url);
	m->has = VX_API_F_URL;
	if (r->nr_headers) {
		fill_strs(hdrs, r->headers, r->nr_headers);
		m->headers = hdrs;
		m->nr_headers = r->nr_headers;
		m->has |= VX_API_F_HEADERS;
	}
	if (r->nr_filtered_params) {
		fill_strs(filt, r->filtered_params, r->nr_filtered_params);
		m->filtered = filt;
		m->nr_filtered = r->nr_filtered_params;
		m->has |= VX_API_F_FILTERED;
	}
#define OPT_STR(src, field, bit)                       \
	do {                                           \
		if (src) {                             \
			m->field = vx_ctl_str_of(src); \
			m->has |= (bit);               \
		}                                      \
	} while (0)
	OPT_STR(r->output, output, VX_API_F_OUTPUT);
	OPT_STR(r->digest, digest, VX_API_F_DIGEST);
	OPT_STR(r->tag, tg, VX_API_F_TAG);
	OPT_STR(r->application, app, VX_API_F_APP);
	OPT_STR(r->request_id, request_id, VX_API_F_REQUEST_ID);
#undef OPT_STR
	if (r->piece_length) {
		m->piece_len = r->piece_length;
		m->has |= VX_API_F_PIECE_LEN;
	}
	if (r->timeout_ms) {
		m->timeout_ms = r->timeout_ms;
		m->has |= VX_API_F_TIMEOUT;
	}
	if (r->overwrite) {
		m->overwrite = true;
		m->has |= VX_API_F_OVERWRITE;
	}
	if (r->disable_back_to_source) {
		m->disable_bts = true;
		m->has |= VX_API_F_DISABLE_BTS;
	}
	if (r->memory) {
		m->memory = true;
		m->has |= VX_API_F_MEMORY;
	}
	if (r->priority) {
		m->priority = r->priority;
		m->has |= VX_API_F_PRIORITY;
	}
}

static void read_counters(const struct vx_api_msg *m, struct vx_download_progress *p)
{
	memset(p, 0, sizeof(*p));
	if (m->has & VX_API_F_TASK_ID)
		copy_str(p->task_id, sizeof(p->task_id), m->task_id);
	if ((m->has & VX_API_F_CONTENT_LEN) && m->content_len > 0)
		p->content_length = (uint64_t)m->content_len;
	p->bytes_done = m->bytes_done;
	p->from_peers = m->from_peers;
	p->from_source = m->from_source;
	p->reused = m->reused;
	p->contiguous = m->contiguous;
	p->elapsed_ms = m->elapsed_ms;
	p->piece_count = m->piece_count;
	p->pieces_done = m->pieces_done;
}

static int download_finish(struct vx_client *c, const struct vx_api_msg *ans,
			   struct vx_download_result *res)
{
	res->status = client_status(c, ans);
	res->stage = ans->stage;
	res->source_status = ans->source_status;
	if (ans->has & VX_API_F_TASK_ID)
		copy_str(res->task_id, sizeof(res->task_id), ans->task_id);
	read_counters(ans, &res->totals);
	return res->status;
}

static int download_loop(struct vx_client *c, uint64_t rid, uint32_t wait_ms,
			 vx_client_progress_fn fn, void *arg, struct vx_download_result *res,
			 bool stream)
{
	struct vx_download_progress p;
	struct vx_api_msg m;
	int rc;

	for (;;) {
		rc = client_next(c, wait_ms ? vx_now_ms() + wait_ms : 0, &m);
		if (rc)
			return rc;
		if (m.tag == VX_TAG_CONTROL_RESPONSE && m.rid == 0) {
			rc = client_refused(c, &m);
			client_consume(&m);
			client_broken(c); /* the daemon hung up after saying why */
			return rc;
		}
		if (m.rid != rid) {
			client_consume(&m); /* a late frame of an earlier call */
			continue;
		}
		if (m.tag == VX_TAG_CONTROL_EVENT && m.event == VX_API_EV_PROGRESS) {
			copy_str(res->task_id, sizeof(res->task_id), m.task_id);
			read_counters(&m, &p);
			client_consume(&m);
			if (fn)
				fn(arg, &p, c->stream_fd);
			continue;
		}
		if (m.tag != VX_TAG_CONTROL_RESPONSE) {
			client_consume(&m);
			continue;
		}
		rc = download_finish(c, &m, res);
		client_consume(&m);
		/* Stream mode: the last counters, so the reader can drain up to the end. */
		if (stream && fn)
			fn(arg, &res->totals, c->stream_fd);
		return rc;
	}
}

int vx_client_download(struct vx_client *c, const struct vx_download_request *req,
		       vx_client_progress_fn fn, void *arg, struct vx_download_result *res)
{
	struct vx_ctl_str hdrs[VX_API_HEADERS_MAX];
	struct vx_ctl_str filt[VX_API_FILTERS_MAX];
	struct vx_api_msg m;
	uint32_t wait_ms = 0;
	int rc;

	VX_ASSERT(c);
	VX_ASSERT(req);
	VX_ASSERT(res);
	memset(res, 0, sizeof(*res));
	c->errmsg[0] = '\0';
	client_drop_stream_fd(c);
	rc = check_download(c, req);
	if (!rc)
		rc = client_ensure_open(c);
	if (!rc) {
		build_download(&m, req, hdrs, filt);
		m.tag = VX_TAG_CONTROL_REQUEST;
		m.rid = ++c->next_rid;
		rc = client_send_msg(c, &m, vx_now_ms() + c->timeout_ms);
	}
	if (!rc) {
		if (req->timeout_ms)
			wait_ms = req->timeout_ms + CLIENT_GRACE_MS;
		rc = download_loop(c, m.rid, wait_ms, fn, arg, res, !req->output);
	}
	client_drop_stream_fd(c);
	res->status = rc;
	if (rc)
		copy_str(res->msg, sizeof(res->msg), vx_ctl_str_of(c->errmsg));
	return rc;
}

/* ---------------------------------------------------------------- Stat, list, delete */

static int task_req(struct vx_client *c, enum vx_api_type type, const char *task_id,
		    struct vx_api_msg *ans)
{
	struct vx_api_msg m = { 0 };
	int rc;

	if (!task_id || !vx_task_id_valid(task_id, strlen(task_id)))
		return client_fail(c, -EINVAL, "%s: task id must be 64 lowercase hex characters",
				   vx_api_type_name(type));
	m.type = type;
	m.task_id = vx_ctl_str_of(task_id);
	m.has = VX_API_F_TASK_ID;
	rc = client_call(c, &m, ans);
	if (rc)
		return rc;
	rc = client_status(c, ans);
	if (rc)
		client_consume(ans);
	return rc;
}

/* vx_client_open_content()'s progress callback: keeps the first descriptor passed. */
static void keep_fd(void *arg, const struct vx_download_progress *p, int content_fd)
{
	int *fd = arg;

	(void)p;
	if (content_fd >= 0 && *fd < 0)
		*fd = fcntl(content_fd, F_DUPFD_CLOEXEC, 3);
}

int vx_client_open_content(struct vx_client *c, const struct vx_download_request *req, int *fd,
			   struct vx_download_result *res)
{
	int rc;

	*fd = -1;
	if (req->output) {
		memset(res, 0, sizeof(*res));
		return -EINVAL;
	}
	rc = vx_client_download(c, req, keep_fd, fd, res);
	if (!rc && *fd < 0)
		rc = -EACCES;
	if (rc && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

int vx_client_stat(struct vx_client *c, const char *task_id, struct vx_download_task *out)
{
	struct vx_api_msg ans;
	int rc;

	VX_ASSERT(c);
	VX_ASSERT(out);
	c->errmsg[0] = '\0';
	rc = task_req(c, VX_API_STAT_TASK, task_id, &ans);
	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	copy_str(out->task_id, sizeof(out->task_id), vx_ctl_str_of(task_id));
	copy_str(c->url, sizeof(c->url), ans.url);
	out->url = c->url;
	out->state = ans.state;
	out->content_length = (ans.has & VX_API_F_CONTENT_LEN) ? ans.content_len : -1;
	out->piece_count = ans.piece_count;
	out->pieces_done = ans.pieces_done;
	client_consume(&ans);
	return 0;
}

int vx_client_delete(struct vx_client *c, const char *task_id)
{
	struct vx_api_msg ans;
	int rc;

	VX_ASSERT(c);
	c->errmsg[0] = '\0';
	rc = task_req(c, VX_API_DELETE_TASK, task_id, &ans);
	if (rc)
		return rc;
	client_consume(&ans);
	return 0;
}

static int list_of(struct vx_client *c, enum vx_api_type type, vx_client_task_fn fn, void *arg,
		   bool *truncated)
{
	struct vx_api_msg m = { 0 }, ans;
	int rc, n;

	VX_ASSERT(c);
	c->errmsg[0] = '\0';
	if (truncated)
		*truncated = false;
	m.type = type;
	rc = client_call(c, &m, &ans);
	if (rc)
		return rc;
	rc = client_status(c, &ans);
	if (rc) {
		client_consume(&ans);
		return rc;
	}
	for (uint32_t i = 0; fn && i < ans.nr_tasks; i++)
		fn(arg, &ans.tasks[i]); /* the url lives in the decoded answer */
	if (truncated)
		*truncated = ans.more;
	n = (int)ans.nr_tasks;
	client_consume(&ans);
	return n;
}

int vx_client_list(struct vx_client *c, vx_client_task_fn fn, void *arg, bool *truncated)
{
	return list_of(c, VX_API_TASK_LIST, fn, arg, truncated);
}

int vx_client_cache_list(struct vx_client *c, vx_client_task_fn fn, void *arg, bool *truncated)
{
	return list_of(c, VX_API_CACHE_LIST, fn, arg, truncated);
}

/* ---------------------------------------------------------------- Persistent cache */

static void opt_str(struct vx_api_msg *m, struct vx_ctl_str *dst, uint64_t bit, const char *s)
{
	if (!s)
		return;
	*dst = vx_ctl_str_of(s);
	m->has |= bit;
}

int vx_client_cache(struct vx_client *c, const struct vx_download_request *req, uint32_t wait_ms,
		    struct vx_download_result *res)
{
	struct vx_api_msg m = { 0 }, ans;
	int rc;

	VX_ASSERT(c);
	VX_ASSERT(req);
	VX_ASSERT(res);
	memset(res, 0, sizeof(*res));
	c->errmsg[0] = '\0';
	if (req->cache_op < VX_API_CACHE_IMPORT || req->cache_op > VX_API_CACHE_DELETE)
		return client_fail(c, -EINVAL, "not a cache verb: %u", req->cache_op);
	if (req->cache_op != VX_API_CACHE_IMPORT || req->cache_id) {
		if (!req->cache_id || !vx_task_id_valid(req->cache_id, strlen(req->cache_id)))
			return client_fail(c, -EINVAL,
					   "a cache task id is 64 lowercase hex characters");
		m.task_id = vx_ctl_str_of(req->cache_id);
		m.has |= VX_API_F_TASK_ID;
	}
	m.type = req->cache_op;
	opt_str(&m, &m.input, VX_API_F_INPUT, req->cache_input);
	opt_str(&m, &m.output, VX_API_F_OUTPUT, req->output);
	opt_str(&m, &m.tg, VX_API_F_TAG, req->tag);
	opt_str(&m, &m.app, VX_API_F_APP, req->application);
	if (req->piece_length) {
		m.piece_len = req->piece_length;
		m.has |= VX_API_F_PIECE_LEN;
	}
	if (req->replicas) {
		m.replicas = req->replicas;
		m.has |= VX_API_F_REPLICAS;
	}
	if (req->ttl_s) {
		m.ttl_s = req->ttl_s;
		m.has |= VX_API_F_TTL;
	}
	if (req->overwrite) {
		m.overwrite = true;
		m.has |= VX_API_F_OVERWRITE;
	}
	if (req->memory) {
		m.memory = true;
		m.has |= VX_API_F_MEMORY;
	}
	rc = client_call_until(c, &m, &ans, vx_now_ms() + (wait_ms ? wait_ms : c->timeout_ms));
	if (rc)
		return rc;
	rc = client_status(c, &ans);
	res->status = rc;
	copy_str(res->task_id, sizeof(res->task_id), ans.task_id);
	res->totals.content_length = ans.content_len > 0 ? (uint64_t)ans.content_len : 0;
	res->totals.piece_count = ans.piece_count;
	res->piece_length = ans.piece_len;
	res->replicas = ans.replicas;
	res->holders = ans.holders;
	res->ttl_left_s = ans.ttl_left_s;
	if (rc)
		copy_str(res->msg, sizeof(res->msg), vx_ctl_str_of(c->errmsg));
	else if (ans.has & VX_API_F_ERROR)
		copy_str(res->msg, sizeof(res->msg), ans.error); /* a note on success */
	client_consume(&ans);
	return rc;
}
