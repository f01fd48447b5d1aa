/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxy.c: the registry mirror (vx_proxy.h). libmicrohttpd runs one thread per connection,
 * at most max_conns, with a client timeout and a bounded header size; a token bucket bounds
 * the request rate. Each request is parsed by vx_proxy_req_parse() (the fuzzed parser) and
 * then only acted on: a sha256 blob GET becomes a peer job (stream mode) read from the task's
 * content file as its contiguous prefix grows; anything else is passed through upstream.c.
 */
#include "vx_proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <fnmatch.h>
#include <netdb.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "proxy_int.h"
#include "vx_alloc.h"
#include "vx_bucket.h"
#include "vx_compiler.h"
#include "vx_log.h"
#include "vx_metrics.h"
#include "vx_net.h"
#include "vx_peer.h"
#include "vx_proxy_fwd.h"
#include "vx_proxy_req.h"
#include "vx_time.h"
#include "vx_tls.h"
#include "vx_url.h"

#define PROXY_CONNS_DEFAULT	     256u
#define PROXY_CONNS_PER_ADDR_DEFAULT 64u
#define PROXY_RATE_DEFAULT	     1000u
#define PROXY_CLIENT_TIMEOUT_MS	     30000u
#define PROXY_TUNNELS_DEFAULT	     64u
#define PROXY_HIJACK_PEND_MAX	     64u
#define PROXY_CONNECT_HEADER_MS	     10000u
#define PROXY_TUNNEL_IDLE_MS	     300000u
#define PROXY_STALL_MS		     5000u
#define PROXY_HEADER_MAX	     16384u
#define PROXY_URL_MAX		     (VX_PROXY_FWD_URL_MAX + 1u)
#define PROXY_CLIENT_HEADERS_MAX     8u
/* bytes of the client headers forwarded upstream (bearer tokens with certificate chains run to
 * several KiB); more is answered 431 rather than sent on without the credential */
#define PROXY_CLIENT_HEADER_BYTES (64u * 1024)
#define PROXY_READ_BLOCK	  (64u * 1024)
/* A range starting this far beyond the task's contiguous prefix is fetched from the upstream
 * at once instead of waiting for the prefix (lazy-pull snapshotters read anywhere) */
#define PROXY_AHEAD_BYTES (4u << 20)

/* Clients with a bucket of their own at once (the longest idle one makes room). */
#define PROXY_CLIENTS_MAX	  256u
#define PROXY_CLIENT_RATE_DEFAULT 200u

struct client_bucket {
	char ip[VX_NET_ADDR_STR_MAX]; /* "" free; the same size as the address text it is copied from */
	struct vx_bucket b;	      /* b.last_ms: its last request, for the longest idle */
};

struct vx_proxy {
	struct vx_peer *peer;
	struct MHD_Daemon *mhd;
	/*
	 * The listener's TLS (proxy.tls), one of two ways. With proxy.forward, tls_ctx: the front
	 * door ends it (OpenSSL) and gives mhd the plain bytes (connect.c), so CONNECT works over
	 * TLS. Without (a registry mirror only: a CONNECT is refused anyway), mhd_tls serves the
	 * connections with libmicrohttpd's GnuTLS, without the front door's relay and its socket
	 * pair: about 0.14 s less of the daemon's CPU per warm 256 MiB pull (bench/RESULTS.md,
	 * mirror). mhd then serves only intercepted tunnels' socket pairs.
	 */
	SSL_CTX *tls_ctx;
	struct MHD_Daemon *mhd_tls;
	char *tls_cert, *tls_key; /* PEM text (vx_tls_pem_read()) for mhd_tls */
	size_t tls_cert_len, tls_key_len;
	uint16_t port;
	char *upstreams[VX_PROXY_UPSTREAMS_MAX];
	uint32_t nr_upstreams;
	char *public_repos[VX_PROXY_PUBLIC_MAX];
	uint32_t nr_public_repos;
	uint32_t rate_per_s;
	uint32_t stall_ms;
	pthread_mutex_t lock; /* the token bucket and every blob's shared fields */
	pthread_cond_t cond;  /* broadcast on any blob's progress, and at stop */
	bool stopping;
	uint32_t nr_blobs;    /* alive: their jobs may still call back */
	struct blob *blobs;   /* those, listed */
	bool prefetch;	      /* jobs run on to their task's end after their response */
	struct vx_bucket all; /* rate_per_s, for all clients together */
	uint32_t client_rate; /* requests per second per client address; 0: no such limit */
	struct client_bucket clients[PROXY_CLIENTS_MAX];
	bool forward; /* absolute-form requests are served (proxy.forward) */
	struct vx_proxy_rules rules;
	struct vx_proxy_rules direct; /* never P2P, checked first (proxy.direct_rules) */
	char *forward_token;	      /* proxy.forward_token_file's secret; NULL: none */
	struct vx_outbound_policy outbound;
	struct vx__front *front;   /* the accept path: CONNECT tunnels, the rest to mhd */
	struct vx__hijack *hijack; /* TLS interception; NULL: none */
	char *upstream_ca;	   /* proxy.hijack.upstream_ca; NULL: the system store */
	/* intercepted tunnels' socket pair ends handed to mhd, until its STARTED notice takes
	 * them (under lock) */
	struct hijack_pend {
		int fd; /* -1: free */
		uint64_t gen;
		char origin[VX_PROXY_HOST_MAX + 16];
	} hpend[PROXY_HIJACK_PEND_MAX];
	uint64_t hgen;
};

/* What a request's handler gathered: what to ask upstream and whom to log. */
struct req_ctx {
	char url[PROXY_URL_MAX];
	char client[VX_NET_ADDR_STR_MAX];
	char hbuf[PROXY_CLIENT_HEADER_BYTES]; /* "Name: value" strings, one after another */
	uint32_t hused;
	uint32_t hoff[PROXY_CLIENT_HEADERS_MAX];
	const char *headers[PROXY_CLIENT_HEADERS_MAX]; /* into hbuf, at hoff */
	bool too_big;
	uint32_t nr_headers;
	bool authorized;
	bool fwd_headers; /* forward proxy pass-through: a few more headers go on */
	/* the forward proxy: every upstream connection is checked against this; NULL: none */
	const struct vx_outbound_policy *outbound;
	bool local; /* the client is on this host */
	/* verifies the upstream's certificate (an intercepted origin: proxy.hijack.upstream_ca,
	 * borrowed from the proxy); NULL: the system store */
	const char *ca_file;
};

/* What libmicrohttpd keeps per request: the target as received (query included). */
struct req_state {
	bool seen; /* the headers-only first call happened */
	bool too_long;
	char raw[VX_PROXY_FWD_URL_MAX + 1];
};

/* One blob GET served through the peer; shared by the job's callbacks and the response. */
struct blob {
	struct vx_proxy *px;
	struct vx_peer_job *job; /* until done() */
	int refs;		 /* the job's and the response's; under px->lock */
	int fd;			 /* the task's content file (dup), -1 until handed */
	bool length_known, done;
	uint64_t length, contiguous, from_peers, from_source, received, progress_ms;
	int status;
	uint32_t source_status;
	char task_id[VX_TASK_ID_LEN + 1];
	/* the response's side (its reader thread only) */
	uint64_t start, end; /* inclusive, of the content */
	bool whole;	     /* a 200 of the whole blob: the digest is checked at the end */
	bool ahead;	     /* the range starts beyond the task's prefix: upstream at once */
	bool stalled;	     /* the P2P path stalled or failed for this response */
	struct blob *lprev, *lnext; /* px->blobs, under px->lock */
	uint64_t hashed;	    /* content bytes [0, hashed) are in md */
	EVP_MD_CTX *md;
	char digest_hex[65];
	struct upstream *up; /* the fallback, once the P2P path stalled or failed */
	uint64_t from_upstream;
	bool responded; /* the response ended: its log line is written when the job's is too */
	struct req_ctx rc;
	char repo[VX_PROXY_NAME_MAX + 1];
};

/* ---- helpers ---------------------------------------------------------------------------- */

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *code,
				  const char *msg)
{
	char body[512];
	struct MHD_Response *r;
	enum MHD_Result ret;
	int n = snprintf(body, sizeof(body),
			 "{\"errors\":[{\"code\":\"%s\",\"message\":\"%s\"}]}\n", code, msg);

	vx_metric_inc(&vx_m_proxy_requests, status < 500 ? VX_M_PROXY_REFUSED : VX_M_PROXY_ERROR);

	r = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* The client's address without its port. */
static void client_ip(struct MHD_Connection *c, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(out, len, "?");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
			  (socklen_t)len);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  out, (socklen_t)len);
}

/*
 * The client's bucket (px->lock held): its own, else a free one, else the one idle longest
 * (a client evicted that way starts full again: the table bounds memory, not the attacker).
 */
static struct client_bucket *client_bucket(struct vx_proxy *px, const char *ip, uint64_t now)
{
	struct client_bucket *oldest = &px->clients[0];

	for (uint32_t i = 0; i < PROXY_CLIENTS_MAX; i++) {
		struct client_bucket *cb = &px->clients[i];

		if (cb->ip[0] && strcmp(cb->ip, ip) == 0)
			return cb;
		if (!cb->ip[0] || cb->b.last_ms < oldest->b.last_ms)
			oldest = cb;
		if (!cb->ip[0])
			break;
	}
	snprintf(oldest->ip, sizeof(oldest->ip), "%s", ip);
	vx_bucket_init(&oldest->b, px->client_rate, px->client_rate, now);
	return oldest;
}

/*
 * The token buckets (a second's worth each), per client address @ip (proxy.client_rate_limit)
 * and for all clients (proxy.rate_limit): one request's worth of both, or false (429) and
 * neither spent. CONNECT takes one too. The time is read under the lock: requests of several
 * connections reach the buckets in the order of their clocks.
 */
static bool rate_take_ip(void *arg, const char *ip)
{
	struct vx_proxy *px = arg;
	struct client_bucket *cb = NULL;
	uint64_t now;
	bool ok;

	pthread_mutex_lock(&px->lock);
	now = vx_now_ms();
	if (px->client_rate)
		cb = client_bucket(px, ip, now);
	ok = (!cb || vx_bucket_peek(&cb->b, 1, now)) && vx_bucket_peek(&px->all, 1, now);
	if (ok) {
		if (cb)
			vx_bucket_take(&cb->b, 1);
		vx_bucket_take(&px->all, 1);
	}
	pthread_mutex_unlock(&px->lock);
	return ok;
}

static bool rate_take(struct vx_proxy *px, struct MHD_Connection *c)
{
	char ip[VX_NET_ADDR_STR_MAX];

	client_ip(c, ip, sizeof(ip));
	return rate_take_ip(px, ip);
}

/* The authority ("host[:port]") of upstream base URL @u. */
static const char *authority(const char *u, size_t *len)
{
	const char *s = strstr(u, "://");

	s = s ? s + 3 : u;
	*len = strcspn(s, "/");
	return s;
}

/*
 * The upstream for @ns (containerd's ns= query; NULL: the default one). Only a configured
 * upstream is ever chosen: an open mirror must not fetch from hosts its clients name.
 */
static const char *pick_upstream(const struct vx_proxy *px, const char *ns)
{
	if (!ns)
		return px->upstreams[0];
	for (uint32_t i = 0; i < px->nr_upstreams; i++) {
		size_t len;
		const char *a = authority(px->upstreams[i], &len);

		if (strlen(ns) == len && strncasecmp(a, ns, len) == 0)
			return px->upstreams[i];
		if (strcmp(ns, "docker.io") == 0 &&
		    ((len == 15 && strncasecmp(a, "index.docker.io", len) == 0) ||
		     (len == 19 && strncasecmp(a, "registry-1.docker.io", len) == 0)))
			return px->upstreams[i];
	}
	return NULL;
}

/* Whether the operator declared repository @name public (proxy.public_repositories). */
static bool repo_public(const struct vx_proxy *px, const char *name)
{
	for (uint32_t i = 0; i < px->nr_public_repos; i++) {
		if (fnmatch(px->public_repos[i], name, 0) == 0)
			return true;
	}
	return false;
}

static enum MHD_Result collect_header(void *arg, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	struct req_ctx *rc = arg;
	static const char *const fwd[] = { "Range",    "If-None-Match", "If-Modified-Since",
					   "If-Range", "User-Agent",	NULL };
	bool auth = strcasecmp(key, "Authorization") == 0;
	bool keep = auth || strcasecmp(key, "Accept") == 0;
	const char *name = auth ? "Authorization" : "Accept";
	size_t room = sizeof(rc->hbuf) - rc->hused;
	int n;

	(void)kind;
	for (uint32_t i = 0; rc->fwd_headers && !keep && fwd[i]; i++) {
		if (strcasecmp(key, fwd[i]) == 0) {
			keep = true;
			name = fwd[i];
		}
	}
	if (!keep)
		return MHD_YES;
	if (rc->nr_headers >= PROXY_CLIENT_HEADERS_MAX) {
		rc->too_big = true;
		return MHD_NO;
	}
	n = snprintf(rc->hbuf + rc->hused, room, "%s: %s", name, value);
	if (n < 0 || (size_t)n >= room) {
		rc->too_big = true;
		return MHD_NO;
	}
	rc->hoff[rc->nr_headers] = rc->hused;
	rc->headers[rc->nr_headers] = rc->hbuf + rc->hused;
	rc->hused += (uint32_t)n + 1;
	rc->nr_headers++;
	rc->authorized |= auth;
	return MHD_YES;
}

static void client_addr(struct MHD_Connection *c, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	if (ci && ci->client_addr)
		vx_net_addr_str(ci->client_addr, out, len);
	else
		snprintf(out, len, "?");
}

/* ---- pass-through ----------------------------------------------------------------------- */

static ssize_t pass_read(void *arg, uint64_t pos, char *buf, size_t max)
{
	ssize_t n = vx__upstream_read(arg, buf, max);

	(void)pos;
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static void pass_free(void *arg)
{
	vx__upstream_free(arg);
}

static void add_upstream_headers(struct MHD_Response *r, const struct upstream *u)
{
	for (uint32_t i = 0; i < u->nr_headers; i++)
		MHD_add_response_header(r, u->headers[i].name, u->headers[i].value);
}

/* Sends @u's response on: status, kept headers, and the body streamed (none for HEAD). */
static enum MHD_Result pass_response(struct MHD_Connection *c, struct upstream *u, bool head)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	uint64_t size;

	if (!vx__upstream_wait_headers(u)) {
		bool refused = u->was_refused;

		vx__upstream_free(u);
		if (refused)
			return send_error(c, MHD_HTTP_FORBIDDEN, "DENIED",
					  "outbound address refused by policy");
		return send_error(c, MHD_HTTP_BAD_GATEWAY, "UNAVAILABLE",
				  "upstream did not answer");
	}
	/* HEAD: the upstream's length, no body; GET: the length, or chunked when unknown */
	size = u->length >= 0 ? (uint64_t)u->length : head ? 0 : MHD_SIZE_UNKNOWN;
	r = MHD_create_response_from_callback(size, PROXY_READ_BLOCK, pass_read, u, pass_free);
	if (!r) {
		vx__upstream_free(u);
		return MHD_NO;
	}
	add_upstream_headers(r, u);
	ret = MHD_queue_response(c, (unsigned)u->status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result pass_through(struct MHD_Connection *c, const struct req_ctx *rc, bool head,
				    const char *repo)
{
	struct upstream *u;

	vx_metric_inc(&vx_m_proxy_requests, VX_M_PROXY_UPSTREAM);
	vx_info("proxy: %s %s %s repo %s: passed through", rc->client, head ? "HEAD" : "GET",
		VX_URL_SAFE(rc->url), *repo ? repo : "-");
	if (vx__upstream_start_ca(&u, rc->url, head, rc->headers, rc->nr_headers, rc->outbound,
				  rc->local, rc->ca_file))
		return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE", "out of memory");
	return pass_response(c, u, head);
}

/* ---- blobs through the peer ------------------------------------------------------------- */

static void blob_unref_locked(struct blob *b, bool *free_it)
{
	*free_it = --b->refs == 0;
}

static void blob_free(struct blob *b)
{
	struct vx_proxy *px = b->px;

	/* here, not when the response ends: the job's totals are final only after its done() */
	if (b->responded)
		vx_info("proxy: %s GET %s repo %s task %.12s: %" PRIu64
			" bytes from peers, %" PRIu64 " from the upstream",
			b->rc.client, VX_URL_SAFE(b->rc.url), b->repo, b->task_id, b->from_peers,
			b->from_source + b->from_upstream);
	if (b->fd >= 0)
		close(b->fd);
	vx__upstream_free(b->up);
	EVP_MD_CTX_free(b->md);
	pthread_mutex_lock(&px->lock);
	if (b->lprev)
		b->lprev->lnext = b->lnext;
	else
		px->blobs = b->lnext;
	if (b->lnext)
		b->lnext->lprev = b->lprev;
	vx_free(b);
	px->nr_blobs--;
	pthread_cond_broadcast(&px->cond);
	pthread_mutex_unlock(&px->lock);
}

/* A deadline 100 ms ahead for a condition wait: the waiters re-check their stall clocks. */
static void soon(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_nsec += 100 * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void job_progress(void *arg, const struct vx_download_progress *p)
{
	struct blob *b = arg;
	struct vx_proxy *px = b->px;

	pthread_mutex_lock(&px->lock);
	if (p->content_length && !b->length_known) {
		b->length = p->content_length;
		b->length_known = true;
	}
	/* progress: the prefix, or any byte arriving for the task (a large piece on a slow link
	 * takes long to finish, and that is no stall) */
	if (p->contiguous > b->contiguous || p->from_peers > b->from_peers ||
	    p->received > b->received)
		b->progress_ms = vx_now_ms();
	if (p->received > b->received)
		b->received = p->received;
	if (p->contiguous > b->contiguous)
		b->contiguous = p->contiguous;
	b->from_peers = p->from_peers;
	b->from_source = p->from_source;
	if (*p->task_id)
		memcpy(b->task_id, p->task_id, sizeof(b->task_id));
	pthread_cond_broadcast(&px->cond);
	pthread_mutex_unlock(&px->lock);
}

static void job_fd(void *arg, int fd)
{
	struct blob *b = arg;

	pthread_mutex_lock(&b->px->lock);
	if (b->fd < 0)
		b->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	pthread_cond_broadcast(&b->px->cond);
	pthread_mutex_unlock(&b->px->lock);
}

static void job_done(void *arg, const struct vx_download_result *res)
{
	struct blob *b = arg;
	struct vx_proxy *px = b->px;
	bool free_it;

	job_progress(b, &res->totals);
	vx_metric_inc(&vx_m_proxy_cache, res->reused ? VX_M_CACHE_HIT : VX_M_CACHE_MISS);
	pthread_mutex_lock(&px->lock);
	b->done = true;
	b->job = NULL;
	b->status = res->status;
	b->source_status = res->source_status;
	if (!res->status && res->totals.content_length == 0 && !b->length_known) {
		b->length_known = true; /* a 0-byte blob */
		b->length = 0;
	}
	if (!res->status)
		b->contiguous = b->length;
	memcpy(b->task_id, res->task_id, sizeof(b->task_id));
	blob_unref_locked(b, &free_it);
	pthread_cond_broadcast(&px->cond);
	pthread_mutex_unlock(&px->lock);
	if (free_it)
		blob_free(b);
}

static const struct vx_peer_job_ops blob_ops = {
	.progress = job_progress,
	.content_fd = job_fd,
	.done = job_done,
};

/*
 * Lets go of the P2P job (its task goes on for other requests). With proxy.prefetch a job
 * that has not failed runs on to the end of its task: the rest of the blob lands in the store
 * in the background (vx_proxy_stop() cancels what still runs).
 */
static void blob_drop_job(struct blob *b)
{
	struct vx_peer_job *job;

	pthread_mutex_lock(&b->px->lock);
	job = b->done || (b->px->prefetch && !b->stalled) ? NULL : b->job;
	pthread_mutex_unlock(&b->px->lock);
	if (job)
		vx_peer_job_cancel(b->px->peer, job);
}

/*
 * Hashes content bytes [b->hashed, @to) from the task's content file: what was sent from the
 * store unhashed because the peer had vouched for it, before upstream bytes follow it.
 */
static bool blob_hash_store(struct blob *b, uint64_t to)
{
	char buf[PROXY_READ_BLOCK];

	while (b->hashed < to) {
		ssize_t n = pread(b->fd, buf, (size_t)VX_MIN((uint64_t)sizeof(buf), to - b->hashed),
				  (off_t)b->hashed);

		if (n <= 0 || EVP_DigestUpdate(b->md, buf, (size_t)n) != 1)
			return false;
		b->hashed += (uint64_t)n;
	}
	return true;
}

/*
 * Continues the response from the upstream at content byte @pos: a Range request for the
 * rest, whose answer must be exactly that range of a blob of the same length. False when the
 * upstream cannot give it (the response then ends with an error, never with wrong bytes).
 */
static bool blob_fallback(struct blob *b, uint64_t pos)
{
	char range[96];
	const char *hdrs[PROXY_CLIENT_HEADERS_MAX + 1];
	uint32_t n = 0;
	char want[128];
	const char *cr = NULL;

	blob_drop_job(b);
	if (b->whole && !blob_hash_store(b, pos))
		return false;
	for (uint32_t i = 0; i < b->rc.nr_headers; i++)
		hdrs[n++] = b->rc.headers[i];
	snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-%" PRIu64, pos, b->end);
	if (pos > 0 || b->end + 1 < b->length)
		hdrs[n++] = range;
	if (b->ahead)
		vx_info("proxy: %s task %.12s: bytes %" PRIu64 "-%" PRIu64
			" lie beyond what the task holds; from the upstream at once",
			b->rc.client, b->task_id, pos, b->end);
	else
		vx_warn("proxy: %s task %.12s: peers stalled or failed at byte %" PRIu64
			"; continuing from the upstream",
			b->rc.client, b->task_id, pos);
	if (vx__upstream_start_guarded(&b->up, b->rc.url, false, hdrs, n, b->rc.outbound,
				       b->rc.local) ||
	    !vx__upstream_wait_headers(b->up))
		return false;
	for (uint32_t i = 0; i < b->up->nr_headers; i++) {
		if (strcmp(b->up->headers[i].name, "content-range") == 0)
			cr = b->up->headers[i].value;
	}
	if (n > b->rc.nr_headers) {
		snprintf(want, sizeof(want), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, pos, b->end,
			 b->length);
		return b->up->status == 206 && cr && strcmp(cr, want) == 0;
	}
	return b->up->status == 200 && b->up->length >= 0 && (uint64_t)b->up->length == b->length;
}

/* The whole blob's sha256 against its name, after its last byte. */
static bool blob_digest_ok(struct blob *b)
{
	unsigned char md[32];
	unsigned int len = 0;
	char hex[65];

	if (EVP_DigestFinal_ex(b->md, md, &len) != 1 || len != 32)
		return false;
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return strcmp(hex, b->digest_hex) == 0;
}

/*
 * Whether the peer vouched for the stored content: its job ended well, and a job with a digest
 * ends well only after the complete content file matched it (peer_work.c's export; a complete
 * task's file never changes). Waits for the job's end at most the stall bound.
 */
static bool blob_vouched(struct blob *b)
{
	struct vx_proxy *px = b->px;
	uint64_t until = vx_now_ms() + px->stall_ms;
	bool ok;

	pthread_mutex_lock(&px->lock);
	while (!b->done && !px->stopping && vx_now_ms() < until) {
		struct timespec ts;

		soon(&ts);
		pthread_cond_timedwait(&px->cond, &px->lock, &ts);
	}
	ok = b->done && !b->status;
	pthread_mutex_unlock(&px->lock);
	return ok;
}

/*
 * A whole-blob response is checked against its digest before its last byte goes out: bytes
 * from the store by the peer (blob_vouched()), or, when it did not vouch in time, by hashing
 * the content file here; bytes from the upstream are always hashed here, after the store's
 * prefix (blob_fallback()).
 */
static ssize_t blob_account(struct blob *b, uint64_t pos, const char *buf, ssize_t n)
{
	uint64_t end = b->start + pos + (uint64_t)n;

	if (!b->whole)
		return n;
	if (b->up) {
		if (EVP_DigestUpdate(b->md, buf, (size_t)n) != 1)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		b->hashed = end;
	}
	if (end < b->length || (!b->up && b->length && blob_vouched(b)))
		return n;
	if (!blob_hash_store(b, b->length) || !blob_digest_ok(b)) {
		vx_warn("proxy: %s task %.12s: content does not match sha256:%.12s...; response "
			"aborted",
			b->rc.client, b->task_id, b->digest_hex);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	return n;
}

static ssize_t blob_read(void *arg, uint64_t pos, char *buf, size_t max)
{
	struct blob *b = arg;
	struct vx_proxy *px = b->px;
	uint64_t at = b->start + pos, left = b->end + 1 - at;

	if (max > left)
		max = (size_t)left;
	if (b->ahead && !b->up && !blob_fallback(b, at))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	for (;;) {
		uint64_t avail = 0;
		bool stalled;

		if (b->up) {
			ssize_t n = vx__upstream_read(b->up, buf, max);

			if (n <= 0)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			b->from_upstream += (uint64_t)n;
			return blob_account(b, pos, buf, n);
		}
		pthread_mutex_lock(&px->lock);
		if (b->fd >= 0 && b->contiguous > at)
			avail = b->contiguous - at;
		stalled = px->stopping || (b->done && b->status) ||
			  vx_now_ms() - b->progress_ms >= px->stall_ms;
		if (!avail && !stalled) {
			struct timespec ts;

			soon(&ts);
			pthread_cond_timedwait(&px->cond, &px->lock, &ts);
			pthread_mutex_unlock(&px->lock);
			continue;
		}
		pthread_mutex_unlock(&px->lock);
		if (avail) {
			ssize_t n = pread(b->fd, buf, avail < max ? (size_t)avail : max, (off_t)at);

			if (n > 0)
				return blob_account(b, pos, buf, n);
		}
		b->stalled = true; /* a prefetch of a stalled task is not kept */
		if (px->stopping || !blob_fallback(b, at))
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
}

static void blob_response_free(void *arg)
{
	struct blob *b = arg;
	bool free_it;

	blob_drop_job(b);
	pthread_mutex_lock(&b->px->lock);
	b->responded = true;
	blob_unref_locked(b, &free_it);
	pthread_mutex_unlock(&b->px->lock);
	if (free_it)
		blob_free(b);
}

/* Waits for the task's length and content file (or its end, or a stall). */
static bool blob_wait_start(struct blob *b)
{
	struct vx_proxy *px = b->px;
	bool ok;

	pthread_mutex_lock(&px->lock);
	for (;;) {
		struct timespec ts;

		ok = b->length_known && (b->fd >= 0 || (b->done && !b->status && b->length == 0));
		if (ok || b->done || px->stopping || vx_now_ms() - b->progress_ms >= px->stall_ms)
			break;
		soon(&ts);
		pthread_cond_timedwait(&px->cond, &px->lock, &ts);
	}
	pthread_mutex_unlock(&px->lock);
	return ok;
}

/*
 * A GET through the peer: rc->url is the source. @digest ("sha256:<hex>"): a registry blob,
 * its task id from the digest and the whole response checked against it; NULL: a forward-proxy
 * download, its task id from the URL as `vx get URL` makes it. @repo: the repository (the
 * mirror) or "" (forward).
 */
static enum MHD_Result serve_p2p(struct vx_proxy *px, struct MHD_Connection *c,
				 const struct req_ctx *rc, const char *digest, const char *repo)
{
	struct vx_download_request dr = { 0 };
	struct vx_peer_job *job = NULL;
	struct vx_proxy_range range;
	struct MHD_Response *r;
	const char *rh;
	struct blob *b = vx_calloc(1, sizeof(*b));
	enum MHD_Result ret;
	unsigned status = MHD_HTTP_OK;
	int rr = 0;

	if (!b)
		return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE", "out of memory");
	b->px = px;
	b->fd = -1;
	b->rc = *rc;
	for (uint32_t i = 0; i < b->rc.nr_headers; i++)
		b->rc.headers[i] = b->rc.hbuf + b->rc.hoff[i];
	snprintf(b->repo, sizeof(b->repo), "%s", *repo ? repo : "-");
	if (digest)
		memcpy(b->digest_hex, digest + 7, 64);
	b->progress_ms = vx_now_ms();
	b->refs = 2;
	pthread_mutex_lock(&px->lock);
	px->nr_blobs++;
	b->lnext = px->blobs;
	if (px->blobs)
		px->blobs->lprev = b;
	px->blobs = b;
	pthread_mutex_unlock(&px->lock);
	dr.url = b->rc.url;
	dr.headers = b->rc.headers;
	dr.nr_headers = b->rc.nr_headers;
	dr.digest = digest;
	dr.task_id_content = digest;
	dr.public_content = digest && repo_public(px, repo);
	if (vx_peer_download(px->peer, &dr, &blob_ops, b, &job)) {
		b->refs = 1; /* done() never comes */
		blob_response_free(b);
		return pass_through(c, rc, false, repo);
	}
	pthread_mutex_lock(&px->lock);
	if (!b->done)
		b->job = job; /* done() may have run already, on another thread */
	pthread_mutex_unlock(&px->lock);
	if (!blob_wait_start(b)) {
		/* no length yet (the peer failed, e.g. no access, or stalled): the upstream answers,
		 * with its own status (401, 403, 404) when that is what it says */
		blob_drop_job(b);
		ret = pass_through(c, rc, false, repo);
		blob_response_free(b);
		return ret;
	}
	rh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
	if (rh)
		rr = vx_proxy_range_parse(rh, strlen(rh), b->length, &range);
	if (rr < 0) {
		char cr[64];

		snprintf(cr, sizeof(cr), "bytes */%" PRIu64, b->length);
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		blob_response_free(b);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		ret = MHD_queue_response(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (rr > 0) {
		b->start = range.start;
		b->end = range.end;
		status = MHD_HTTP_PARTIAL_CONTENT;
		pthread_mutex_lock(&px->lock);
		b->ahead =
			!(b->done && !b->status) && b->start >= b->contiguous + PROXY_AHEAD_BYTES;
		pthread_mutex_unlock(&px->lock);
	} else {
		b->start = 0;
		b->end = b->length ? b->length - 1 : 0;
	}
	if (rr == 0 && digest) {
		b->whole = true;
		b->md = EVP_MD_CTX_new();
		if (!b->md || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
			blob_response_free(b);
			return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
					  "out of memory");
		}
	}
	r = MHD_create_response_from_callback(b->length ? b->end + 1 - b->start : 0,
					      PROXY_READ_BLOCK, blob_read, b, blob_response_free);
	if (!r) {
		blob_response_free(b);
		return MHD_NO;
	}
	if (b->whole && b->length == 0) {
		/* nothing to read: check the name of an empty blob here */
		if (blob_account(b, 0, "", 0) < 0) {
			MHD_destroy_response(r);
			return send_error(c, MHD_HTTP_BAD_GATEWAY, "DIGEST_INVALID",
					  "content does not match its digest");
		}
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	if (digest)
		MHD_add_response_header(r, "Docker-Content-Digest", digest);
	MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	if (status == MHD_HTTP_PARTIAL_CONTENT) {
		char cr[96];

		snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, b->start, b->end,
			 b->length);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	vx_metric_inc(&vx_m_proxy_requests, VX_M_PROXY_P2P);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- the forward proxy ------------------------------------------------------------------ */

/* Whether the client is on this host: loopback, or one of this host's addresses. */
static bool client_local(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	return vx__sa_local(ci ? ci->client_addr : NULL);
}

/*
 * The P2P path's check before the peer fetches: every address @t's host resolves to must be
 * one the outbound policy allows for this client. (The pass-through checks at connect time.)
 */
static bool target_allowed(const struct vx_proxy *px, const struct vx_proxy_target *t, bool local,
			   char *why, size_t why_len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	char port[8];
	bool ok;

	snprintf(port, sizeof(port), "%u", t->port);
	if (getaddrinfo(t->host, port, &hints, &res) != 0 || !res) {
		snprintf(why, why_len, "cannot resolve the host");
		return false;
	}
	ok = true;
	for (const struct addrinfo *a = res; a && ok; a = a->ai_next)
		ok = vx_outbound_check(&px->outbound, local, a->ai_addr, why, why_len) == 0;
	freeaddrinfo(res);
	return ok;
}

/*
 * With proxy.forward_token_file: whether the request carries "Proxy-Authorization: Bearer
 * <token>" (compared in constant time; never logged). Without one: every request.
 */
static bool forward_authorized(const struct vx_proxy *px, struct MHD_Connection *c)
{
	const char *v;
	size_t want, got;

	if (!px->forward_token)
		return true;
	v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Proxy-Authorization");
	if (!v || strncasecmp(v, "Bearer ", 7) != 0)
		return false;
	v += 7;
	want = strlen(px->forward_token);
	got = strlen(v);
	return got == want && CRYPTO_memcmp(v, px->forward_token, want) == 0;
}

/* 407 with the challenge a client with a proxy token answers. */
static enum MHD_Result send_proxy_auth(struct MHD_Connection *c)
{
	static const char body[] = "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":"
				   "\"this proxy needs Proxy-Authorization: Bearer TOKEN\"}]}\n";
	struct MHD_Response *r;
	enum MHD_Result ret;

	vx_metric_inc(&vx_m_proxy_requests, VX_M_PROXY_REFUSED);
	r = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)(uintptr_t)body,
					    MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Proxy-Authenticate", "Bearer realm=\"vx\"");
	ret = MHD_queue_response(c, MHD_HTTP_PROXY_AUTHENTICATION_REQUIRED, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * An absolute-form request (a client with HTTP_PROXY): a GET whose URL matches proxy.rules
 * goes through the peer (task id as `vx get URL`), anything else passes through; both only to
 * addresses the outbound policy allows for this client.
 */
static enum MHD_Result forward_request(struct vx_proxy *px, struct MHD_Connection *c,
				       const struct req_state *st, bool head, bool tls)
{
	struct vx_proxy_target *t;
	struct req_ctx *rc;
	char why[160];
	enum MHD_Result ret;
	bool p2p;
	int n;

	if (!px->forward)
		return send_error(c, MHD_HTTP_FORBIDDEN, "DENIED",
				  "this proxy serves no absolute-form requests (proxy.forward)");
	if (st->too_long)
		return send_error(c, MHD_HTTP_URI_TOO_LONG, "UNSUPPORTED", "URL too long");
	t = vx_calloc(1, sizeof(*t));
	rc = vx_calloc(1, sizeof(*rc));
	if (!t || !rc) {
		vx_free(t);
		vx_free(rc);
		return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE", "out of memory");
	}
	n = vx_proxy_target_parse(st->raw, strlen(st->raw), t);
	if (!n && t->https != tls)
		n = -EINVAL; /* https only as the target of an intercepted tunnel's request */
	if (n) {
		vx_free(t);
		vx_free(rc);
		return send_error(c, n == -E2BIG ? MHD_HTTP_URI_TOO_LONG : MHD_HTTP_BAD_REQUEST,
				  "UNSUPPORTED", "not an http://host[:port]/path URL");
	}
	client_addr(c, rc->client, sizeof(rc->client));
	rc->local = client_local(c);
	rc->outbound = &px->outbound;
	rc->ca_file = tls ? px->upstream_ca : NULL;
	snprintf(rc->url, sizeof(rc->url), "%s", t->url);
	if (!forward_authorized(px, c)) {
		vx_info("proxy: %s %s %s: 407, no valid Proxy-Authorization", rc->client,
			head ? "HEAD" : "GET", VX_URL_SAFE(rc->url));
		vx_free(t);
		vx_free(rc);
		return send_proxy_auth(c);
	}
	pthread_mutex_lock(&px->lock); /* vx_proxy_set_rules() swaps them */
	p2p = !head && !vx_proxy_rules_match(&px->direct, t->url) &&
	      vx_proxy_rules_match(&px->rules, t->url);
	pthread_mutex_unlock(&px->lock);
	rc->fwd_headers = !p2p;
	MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, rc);
	if (rc->too_big) {
		ret = send_error(c, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "UNSUPPORTED",
				 "too many or too long forwarded headers");
	} else if (p2p && !target_allowed(px, t, rc->local, why, sizeof(why))) {
		vx_info("proxy: %s GET %s: %s", rc->client, VX_URL_SAFE(rc->url), why);
		ret = send_error(c, MHD_HTTP_FORBIDDEN, "DENIED", "outbound address refused");
	} else if (p2p) {
		ret = serve_p2p(px, c, rc, NULL, "");
	} else {
		ret = pass_through(c, rc, head, "");
	}
	vx_free(t);
	vx_free(rc);
	return ret;
}

/* libmicrohttpd's first look at a request: keeps the target as received (query included). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct req_state *st = vx_calloc(1, sizeof(*st));
	size_t len = strlen(uri);

	(void)cls;
	(void)c;
	if (!st)
		return NULL;
	/* a longer target keeps its start: enough to tell absolute-form from a path */
	st->too_long = len > VX_PROXY_FWD_URL_MAX;
	memcpy(st->raw, uri, VX_MIN(len, (size_t)VX_PROXY_FWD_URL_MAX));
	return st;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	vx_free(*state);
	*state = NULL;
}

/* An absolute-form target ("scheme://..."), not an origin-form path. */
static bool absolute_form(const struct req_state *st)
{
	return st->raw[0] != '/' && strstr(st->raw, "://") != NULL;
}

/* ---- TLS interception ------------------------------------------------------------------- */

/* The origin ("https://host[:port]") of an intercepted tunnel's connection, else NULL. */
static const char *intercepted(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/*
 * A request inside an intercepted tunnel: origin-form only, for the tunnel's own host (the
 * Host header is not asked), served as the forward proxy serves https://host/path.
 */
static enum MHD_Result intercepted_request(struct vx_proxy *px, struct MHD_Connection *c,
					   const struct req_state *st, bool head)
{
	struct req_state *full;
	enum MHD_Result ret;
	int n;

	if (st->raw[0] != '/')
		return send_error(c, MHD_HTTP_BAD_REQUEST, "UNSUPPORTED",
				  "an origin-form path inside the tunnel");
	full = vx_calloc(1, sizeof(*full));
	if (!full)
		return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE", "out of memory");
	n = snprintf(full->raw, sizeof(full->raw), "%s%s", intercepted(c), st->raw);
	full->seen = true;
	full->too_long = st->too_long || n < 0 || (size_t)n >= sizeof(full->raw);
	ret = forward_request(px, c, full, head, true);
	vx_free(full);
	return ret;
}

/* A socket pair end of an intercepted tunnel for @origin: libmicrohttpd serves it. */
static void handoff_tls(void *arg, int fd, const struct sockaddr *sa, socklen_t sl,
			const char *origin)
{
	struct vx_proxy *px = arg;
	struct hijack_pend *hp = NULL;
	uint64_t gen;

	pthread_mutex_lock(&px->lock);
	for (uint32_t i = 0; i < PROXY_HIJACK_PEND_MAX && !hp; i++) {
		if (px->hpend[i].fd < 0)
			hp = &px->hpend[i];
	}
	if (hp) {
		hp->fd = fd;
		hp->gen = gen = ++px->hgen;
		snprintf(hp->origin, sizeof(hp->origin), "%s", origin);
	}
	pthread_mutex_unlock(&px->lock);
	if (!hp) {
		close(fd);
		return;
	}
	if (MHD_add_connection(px->mhd, fd, sa, sl) == MHD_YES)
		return;
	pthread_mutex_lock(&px->lock);
	if (hp->fd == fd && hp->gen == gen)
		hp->fd = -1;
	pthread_mutex_unlock(&px->lock);
}

/* libmicrohttpd's connection notices: an intercepted tunnel's end gets its origin. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct vx_proxy *px = cls;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		vx_free(*socket_context);
		*socket_context = NULL;
		return;
	}
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return;
	pthread_mutex_lock(&px->lock);
	for (uint32_t i = 0; i < PROXY_HIJACK_PEND_MAX; i++) {
		if (px->hpend[i].fd >= 0 && px->hpend[i].fd == ci->connect_fd) {
			*socket_context = vx_strdup(px->hpend[i].origin);
			px->hpend[i].fd = -1;
			break;
		}
	}
	pthread_mutex_unlock(&px->lock);
}

/* ---- dispatch --------------------------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_len, void **state)
{
	struct vx_proxy *px = cls;
	struct vx_proxy_req pr;
	struct req_ctx *rc;
	const char *ns, *up;
	bool head = strcmp(method, "HEAD") == 0;
	enum MHD_Result ret;
	int n;

	struct req_state *st = *state;

	(void)version;
	(void)upload;
	if (!st)
		return MHD_NO; /* out of memory in on_uri() */
	if (!st->seen) {       /* first call: headers only */
		st->seen = true;
		return MHD_YES;
	}
	if (*upload_len)
		return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "UNSUPPORTED",
				  "the mirror is read-only");
	if (!head && strcmp(method, "GET") != 0)
		return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "UNSUPPORTED",
				  "the mirror is read-only (GET and HEAD)");
	if (!rate_take(px, c))
		return send_error(c, MHD_HTTP_TOO_MANY_REQUESTS, "TOOMANYREQUESTS",
				  "request rate limit");
	if (intercepted(c))
		return intercepted_request(px, c, st, head);
	if (absolute_form(st))
		return forward_request(px, c, st, head, false);
	if (!px->nr_upstreams)
		return send_error(c, MHD_HTTP_NOT_FOUND, "UNSUPPORTED",
				  "no registry upstream is configured (proxy.upstreams)");
	n = vx_proxy_req_parse(url, strlen(url), &pr);
	if (n == -E2BIG)
		return send_error(c, MHD_HTTP_URI_TOO_LONG, "NAME_INVALID", "path too long");
	if (n == -ENOENT)
		return send_error(c, MHD_HTTP_NOT_FOUND, "UNSUPPORTED", "not served by the mirror");
	if (n)
		return send_error(c, MHD_HTTP_BAD_REQUEST,
				  strstr(url, "/blobs/") ? "DIGEST_INVALID" : "NAME_INVALID",
				  "malformed repository name, tag or digest");
	ns = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ns");
	up = pick_upstream(px, ns);
	if (!up)
		return send_error(c, MHD_HTTP_FORBIDDEN, "DENIED",
				  "ns names no upstream this mirror is configured for");
	rc = vx_calloc(1, sizeof(*rc));
	if (!rc)
		return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE", "out of memory");
	client_addr(c, rc->client, sizeof(rc->client));
	MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, rc);
	if (rc->too_big) {
		vx_free(rc);
		return send_error(c, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "UNSUPPORTED",
				  "too many or too long Authorization/Accept headers");
	}
	snprintf(rc->url, sizeof(rc->url), "%s%s", up, url);
	if (pr.route == VX_PROXY_ROUTE_TAGS) {
		const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "n");
		const char *last = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "last");
		size_t k = strlen(rc->url);
		bool ok = (!q || strspn(q, "0123456789") == strlen(q)) &&
			  (!last || strspn(last, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS"
						 "TUVWXYZ0123456789_.-") == strlen(last));

		if (ok && (q || last))
			snprintf(rc->url + k, sizeof(rc->url) - k, "?%s%s%s%s%s", q ? "n=" : "",
				 q ? q : "", q && last ? "&" : "", last ? "last=" : "",
				 last ? last : "");
	}
	if (pr.route == VX_PROXY_ROUTE_BLOB && pr.sha256 && !head)
		ret = serve_p2p(px, c, rc, pr.ref, pr.name);
	else
		ret = pass_through(c, rc, head, pr.name);
	vx_free(rc);
	return ret;
}

/* libmicrohttpd's own messages (socket options a socket pair does not have, clients gone):
 * debug lines, not stderr. */
VX_PRINTF(2, 0) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	vx_debug("proxy: http server: %s", line);
}

/* A connection the front door found is not a CONNECT: libmicrohttpd serves it. */
static void handoff(void *arg, int fd, const struct sockaddr *sa, socklen_t sl)
{
	struct vx_proxy *px = arg;

	/* closes @fd itself when it cannot take it (at proxy.max_connections) */
	if (MHD_add_connection(px->mhd_tls ? px->mhd_tls : px->mhd, fd, sa, sl) != MHD_YES)
		vx_debug("proxy: connection refused by the HTTP server (%s)", strerror(errno));
}

/* The front door on @fd (owned from here on) with @cfg's CONNECT settings. */
static int front_start(struct vx_proxy *px, int fd, const struct vx_proxy_cfg *cfg, char *err,
		       size_t err_len)
{
	struct vx__front_cfg fc = {
		.listen_fd = fd,
		.forward = cfg->forward,
		.connect_refused = cfg->forward_token != NULL,
		.outbound = &px->outbound,
		.max_tunnels = cfg->max_tunnels ? cfg->max_tunnels : PROXY_TUNNELS_DEFAULT,
		.header_max = VX_MIN(cfg->header_max ? cfg->header_max : PROXY_HEADER_MAX,
				     (uint32_t)VX_PROXY_CONNECT_HEAD_MAX),
		.header_timeout_ms = cfg->connect_header_timeout_ms ? cfg->connect_header_timeout_ms
								    : PROXY_CONNECT_HEADER_MS,
		.idle_timeout_ms = cfg->tunnel_idle_timeout_ms ? cfg->tunnel_idle_timeout_ms
							       : PROXY_TUNNEL_IDLE_MS,
		.request_timeout_ms = cfg->header_timeout_ms,
		.request_header_max = cfg->header_max ? cfg->header_max : PROXY_HEADER_MAX,
		.pending_per_addr = cfg->max_conns_per_addr == UINT32_MAX ? 0
				    : cfg->max_conns_per_addr		  ? cfg->max_conns_per_addr
							      : PROXY_CONNS_PER_ADDR_DEFAULT,
		.tls_ctx = px->tls_ctx,
		.tls_direct = px->mhd_tls != NULL,
		.max_tls = cfg->max_conns ? cfg->max_conns : PROXY_CONNS_DEFAULT,
		.rate_ok = rate_take_ip,
		.handoff = handoff,
		.hijack = px->hijack,
		.handoff_tls = handoff_tls,
		.arg = px,
	};
	int rc;

	if (cfg->nr_connect_ports > VX__CONNECT_PORTS_MAX) {
		close(fd);
		snprintf(err, err_len, "at most %d proxy.connect.ports", VX__CONNECT_PORTS_MAX);
		return -E2BIG;
	}
	for (uint32_t i = 0; i < cfg->nr_connect_ports; i++) {
		if (!cfg->connect_ports[i]) {
			close(fd);
			snprintf(err, err_len, "proxy.connect.ports[%u]: not a port 1..65535", i);
			return -EINVAL;
		}
		fc.ports[fc.nr_ports++] = cfg->connect_ports[i];
	}
	if (!fc.nr_ports)
		fc.ports[fc.nr_ports++] = 443;
	rc = vx__front_start(&px->front, &fc);
	if (rc)
		snprintf(err, err_len, "proxy %s: cannot start the accept thread", cfg->listen);
	return rc;
}

/* Owned copies of @n strings of @src into @dst, counted in *@nr (freed by vx_proxy_stop()). */
static int copy_strings(char **dst, uint32_t *nr, const char *const *src, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		dst[i] = vx_strdup(src[i]);
		if (!dst[i])
			return -ENOMEM;
		(*nr)++;
	}
	return 0;
}

static struct MHD_Daemon *mhd_start(struct vx_proxy *px, const struct vx_proxy_cfg *cfg, bool tls);

/*
 * The listener's TLS context (TLS 1.3 and 1.2) from @cfg's PEM files: the certificate chain
 * (leaf first) and its key (vx_tls_pem_read(): mode 0600 or stricter); NULL with @err naming
 * the file.
 */
static SSL_CTX *listener_ctx(const struct vx_proxy_cfg *cfg, char *err, size_t err_len)
{
	char *cert = NULL, *key = NULL;
	size_t cert_len = 0, key_len = 0;
	SSL_CTX *ctx = NULL;
	BIO *cb = NULL, *kb = NULL;
	X509 *leaf = NULL, *x;
	EVP_PKEY *k = NULL;
	bool ok = false;

	if (vx_tls_pem_read(cfg->tls_cert, false, &cert, &cert_len, err, err_len) ||
	    vx_tls_pem_read(cfg->tls_key, true, &key, &key_len, err, err_len))
		goto out;
	ctx = SSL_CTX_new(TLS_server_method());
	cb = BIO_new_mem_buf(cert, (int)cert_len);
	kb = BIO_new_mem_buf(key, (int)key_len);
	leaf = cb ? PEM_read_bio_X509_AUX(cb, NULL, NULL, NULL) : NULL;
	/* "" as the passphrase: an encrypted key fails here, never prompts on a terminal */
	k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, (void *)"") : NULL;
	if (!ctx || !leaf || !k || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate(ctx, leaf) != 1 || SSL_CTX_use_PrivateKey(ctx, k) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, err_len, "proxy.tls: '%s' and '%s' are no certificate and its key",
			 cfg->tls_cert, cfg->tls_key);
		goto out;
	}
	while ((x = PEM_read_bio_X509(cb, NULL, NULL, NULL))) {
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			snprintf(err, err_len, "proxy.tls.cert '%s': a bad chain", cfg->tls_cert);
			goto out;
		}
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	ok = true;
out:
	ERR_clear_error(); /* the chain's end is an error too */
	X509_free(leaf);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	vx_tls_pem_free(key, key_len);
	vx_tls_pem_free(cert, cert_len);
	if (ok)
		return ctx;
	SSL_CTX_free(ctx);
	return NULL;
}

int vx_proxy_start(struct vx_proxy **out, struct vx_peer *p, const struct vx_proxy_cfg *cfg,
		   char *err, size_t err_len)
{
	struct vx_net_opts o = { .flags = VX_NET_PORT0 };
	struct sockaddr_storage ss;
	socklen_t sl;
	struct vx_proxy *px;
	char e[256] = "";
	int fd, port, n;

	*out = NULL;
	if ((cfg->nr_upstreams == 0 && !cfg->forward) ||
	    cfg->nr_upstreams > VX_PROXY_UPSTREAMS_MAX) {
		snprintf(err, err_len,
			 "the registry mirror needs an upstream (--upstream URL), or "
			 "proxy.forward");
		return -EINVAL;
	}
	for (uint32_t i = 0; i < cfg->nr_upstreams; i++) {
		const char *u = cfg->upstreams[i];
		size_t len = strlen(u);

		if ((strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) ||
		    len >= 512 || strchr(strstr(u, "://") + 3, '/') || strchr(u, '@') ||
		    strchr(u, '?')) {
			snprintf(err, err_len,
				 "upstream '%s' is not http[s]://HOST[:PORT] (no path, no user)",
				 VX_URL_SAFE(u));
			return -EINVAL;
		}
	}
	if (vx_net_parse_addr(cfg->listen, VX_NET_PORT0, &ss, &sl)) {
		snprintf(err, err_len, "proxy address '%s' is not IP:PORT", cfg->listen);
		return -EINVAL;
	}
	fd = vx_net_tcp_listen((struct sockaddr *)&ss, sl, &o, e);
	if (fd < 0) {
		snprintf(err, err_len, "proxy %s: %s", cfg->listen, e);
		return fd;
	}
	port = vx_net_local_port(fd);
	px = vx_calloc(1, sizeof(*px));
	if (!px) {
		close(fd);
		return -ENOMEM;
	}
	px->peer = p;
	px->port = (uint16_t)(port > 0 ? port : 0);
	px->rate_per_s = cfg->rate_per_s ? cfg->rate_per_s : PROXY_RATE_DEFAULT;
	px->stall_ms = cfg->stall_ms ? cfg->stall_ms : PROXY_STALL_MS;
	px->client_rate = cfg->client_rate_per_s == UINT32_MAX ? 0
			  : cfg->client_rate_per_s	       ? cfg->client_rate_per_s
							       : PROXY_CLIENT_RATE_DEFAULT;
	vx_bucket_init(&px->all, px->rate_per_s, px->rate_per_s, vx_now_ms());
	px->forward = cfg->forward;
	px->prefetch = cfg->prefetch;
	if (cfg->outbound)
		px->outbound = *cfg->outbound;
	pthread_mutex_init(&px->lock, NULL);
	pthread_cond_init(&px->cond, NULL);
	if (cfg->forward_token) {
		px->forward_token = vx_strdup(cfg->forward_token);
		if (!px->forward_token) {
			close(fd);
			vx_proxy_stop(px);
			return -ENOMEM;
		}
	}
	if (vx_proxy_rules_compile(&px->rules, cfg->rules, cfg->nr_rules, err, err_len) ||
	    vx_proxy_rules_compile_as(&px->direct, cfg->direct_rules, cfg->nr_direct_rules,
				      vx_proxy_direct_default, "proxy.direct_rules", err,
				      err_len)) {
		close(fd);
		vx_proxy_stop(px);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < PROXY_HIJACK_PEND_MAX; i++)
		px->hpend[i].fd = -1;
	if ((cfg->nr_hijack_hosts || cfg->hijack_ca_cert || cfg->hijack_ca_key) &&
	    (!cfg->forward || !cfg->hijack_ca_cert || !cfg->hijack_ca_key ||
	     vx__hijack_load(&px->hijack, cfg->hijack_ca_cert, cfg->hijack_ca_key,
			     cfg->hijack_hosts, cfg->nr_hijack_hosts, err, err_len))) {
		if (!px->hijack && (!cfg->forward || !cfg->hijack_ca_cert || !cfg->hijack_ca_key))
			snprintf(err, err_len,
				 "proxy.hijack needs proxy.forward, hosts, ca_cert and ca_key");
		close(fd);
		vx_proxy_stop(px);
		return -EINVAL;
	}
	if (cfg->hijack_upstream_ca && !px->hijack) {
		snprintf(err, err_len, "proxy.hijack.upstream_ca needs proxy.hijack.hosts");
		close(fd);
		vx_proxy_stop(px);
		return -EINVAL;
	}
	if (cfg->hijack_upstream_ca && access(cfg->hijack_upstream_ca, R_OK) != 0) {
		snprintf(err, err_len, "proxy.hijack.upstream_ca %s: %s", cfg->hijack_upstream_ca,
			 strerror(errno));
		close(fd);
		vx_proxy_stop(px);
		return -EINVAL;
	}
	if ((cfg->hijack_upstream_ca && !(px->upstream_ca = vx_strdup(cfg->hijack_upstream_ca))) ||
	    copy_strings(px->upstreams, &px->nr_upstreams, cfg->upstreams, cfg->nr_upstreams) ||
	    copy_strings(px->public_repos, &px->nr_public_repos, cfg->public_repos,
			 VX_MIN(cfg->nr_public_repos, (uint32_t)VX_PROXY_PUBLIC_MAX))) {
		close(fd);
		vx_proxy_stop(px);
		return -ENOMEM;
	}
	if (!cfg->tls_cert != !cfg->tls_key) {
		snprintf(err, err_len, "proxy.tls.cert and proxy.tls.key go together");
		close(fd);
		vx_proxy_stop(px);
		return -EINVAL;
	}
	if (cfg->tls_cert &&
	    (cfg->forward ? !(px->tls_ctx = listener_ctx(cfg, err, err_len))
			  : vx_tls_pem_read(cfg->tls_cert, false, &px->tls_cert, &px->tls_cert_len,
					    err, err_len) ||
				    vx_tls_pem_read(cfg->tls_key, true, &px->tls_key,
						    &px->tls_key_len, err, err_len))) {
		close(fd);
		vx_proxy_stop(px);
		return -EINVAL;
	}
	px->mhd = mhd_start(px, cfg, false);
	if (px->mhd && px->tls_cert)
		px->mhd_tls = mhd_start(px, cfg, true);
	if (!px->mhd || (px->tls_cert && !px->mhd_tls)) {
		close(fd);
		snprintf(err, err_len, "proxy %s: cannot start the HTTP%s server", cfg->listen,
			 px->tls_cert ? "S" : "");
		vx_proxy_stop(px);
		return -EIO;
	}
	n = front_start(px, fd, cfg, err, err_len);
	if (n) {
		vx_proxy_stop(px);
		return n;
	}
	*out = px;
	return 0;
}

/*
 * The HTTP server, with TLS (@tls: px's PEMs, TLS 1.3 and 1.2, GnuTLS's SECURE128 suites) or
 * without. No listen socket of its own: the front door accepts and hands it the connections
 * that are not CONNECT (MHD_add_connection() needs the ITC with an internal thread).
 */
static struct MHD_Daemon *mhd_start(struct vx_proxy *px, const struct vx_proxy_cfg *cfg, bool tls)
{
	struct MHD_OptionItem t[4] = { { MHD_OPTION_END, 0, NULL } };
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_USE_ERROR_LOG;

	if (tls) {
		flags |= MHD_USE_TLS;
		t[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, px->tls_cert };
		t[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, px->tls_key };
		t[2] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
						(void *)"SECURE128:-VERS-ALL:+VERS-TLS1.3:"
							"+VERS-TLS1.2:%SERVER_PRECEDENCE" };
	}
	return MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, px, MHD_OPTION_ARRAY, t,
		MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)(cfg->max_conns ? cfg->max_conns : PROXY_CONNS_DEFAULT),
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)(cfg->max_conns_per_addr == UINT32_MAX ? 0
			   : cfg->max_conns_per_addr		 ? cfg->max_conns_per_addr
								 : PROXY_CONNS_PER_ADDR_DEFAULT),
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)((cfg->client_timeout_ms ? cfg->client_timeout_ms
						   : PROXY_CLIENT_TIMEOUT_MS) +
			   999) /
			1000,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)(cfg->header_max ? cfg->header_max : PROXY_HEADER_MAX),
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, px, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
		px, MHD_OPTION_NOTIFY_CONNECTION, on_connection, px, MHD_OPTION_EXTERNAL_LOGGER,
		mhd_log, px, MHD_OPTION_END);
}

uint16_t vx_proxy_port(const struct vx_proxy *px)
{
	return px->port;
}

void vx_proxy_stop(struct vx_proxy *px)
{
	if (!px)
		return;
	pthread_mutex_lock(&px->lock);
	px->stopping = true;
	pthread_cond_broadcast(&px->cond);
	pthread_mutex_unlock(&px->lock);
	vx__front_stop(px->front); /* first: it hands connections to mhd */
	if (px->mhd_tls)
		MHD_stop_daemon(px->mhd_tls);
	if (px->mhd)
		MHD_stop_daemon(px->mhd);
	/* the responses are gone; cancel the jobs that run on (prefetch) and wait for every
	 * job's done() (the cancel is asynchronous: done() never runs inside it) */
	pthread_mutex_lock(&px->lock);
	for (struct blob *b = px->blobs; b; b = b->lnext) {
		if (!b->done && b->job)
			vx_peer_job_cancel(px->peer, b->job);
	}
	while (px->nr_blobs)
		pthread_cond_wait(&px->cond, &px->lock);
	pthread_mutex_unlock(&px->lock);
	for (uint32_t i = 0; i < px->nr_upstreams; i++)
		vx_free(px->upstreams[i]);
	for (uint32_t i = 0; i < px->nr_public_repos; i++)
		vx_free(px->public_repos[i]);
	vx_proxy_rules_free(&px->rules);
	vx_proxy_rules_free(&px->direct);
	if (px->forward_token) {
		OPENSSL_cleanse(px->forward_token, strlen(px->forward_token));
		vx_free(px->forward_token);
	}
	vx__hijack_free(px->hijack);
	vx_free(px->upstream_ca);
	SSL_CTX_free(px->tls_ctx);
	vx_tls_pem_free(px->tls_key, px->tls_key_len);
	vx_tls_pem_free(px->tls_cert, px->tls_cert_len);
	pthread_cond_destroy(&px->cond);
	pthread_mutex_destroy(&px->lock);
	vx_free(px);
}

int vx_proxy_set_rules(struct vx_proxy *px, const char *const *rules, uint32_t nr_rules,
		       const char *const *direct, uint32_t nr_direct, char *err, size_t err_len)
{
	struct vx_proxy_rules r = { 0 }, d = { 0 }, old_r, old_d;

	if (vx_proxy_rules_compile(&r, rules, nr_rules, err, err_len))
		return -EINVAL;
	if (vx_proxy_rules_compile_as(&d, direct, nr_direct, vx_proxy_direct_default,
				      "proxy.direct_rules", err, err_len)) {
		vx_proxy_rules_free(&r);
		return -EINVAL;
	}
	pthread_mutex_lock(&px->lock);
	old_r = px->rules;
	old_d = px->direct;
	px->rules = r;
	px->direct = d;
	pthread_mutex_unlock(&px->lock);
	vx_proxy_rules_free(&old_r);
	vx_proxy_rules_free(&old_d);
	return 0;
}
