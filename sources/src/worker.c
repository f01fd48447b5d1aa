/* SPDX-License-Identifier: Apache-2.0 */
/*
 * worker.c: the one thread per context that drives a libcurl multi handle.
 *
 * Callers queue transfers on ctx->submitted under ctx->lock and wake the multi handle; the
 * worker moves them to its own lists and owns them from then on:
 *
 *   submitted --start()--> running --CURLMSG_DONE--> complete()
 *                            ^                         |  transient, retries left
 *                            +---- waiting (backoff) <-+
 *                                                      |  otherwise
 *                                                      v
 *                                                   finish(): done callback, free
 *
 * Invariants: an xfer is on exactly one of submitted/running/waiting (node) and on ctx->live
 * (live_node) until finish(); x->easy is non-NULL exactly while it is running; callbacks run
 * only on this thread and never with ctx->lock held.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/evp.h>

#include "source_int.h"

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_outbound.h"
#include "vx_time.h"

#define VX__BACKOFF_CAP_MS     4000u
#define VX__RETRY_AFTER_CAP_MS 10000u /* longest Retry-After honoured */
#define VX__POLL_MAX_MS	       1000

static const char *const kept_names[] = {
	"content-type",	    "etag",
	"last-modified",    "cache-control",
	"content-encoding", "content-disposition",
	"accept-ranges",    "docker-content-digest",
	"expires",	    "x-amz-version-id",
};

void vx__detail_set(struct vx_source_error *d, int err, long status, const char *url,
		    const char *fmt, ...)
{
	va_list ap;

	if (!d)
		return;
	d->err = err;
	d->status = (int)status;
	if (url)
		vx_source_url_redact(url, d->url, sizeof(d->url));
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
		va_end(ap);
	}
}

int vx__hdr_append(struct curl_slist **l, const char *fmt, ...)
{
	char line[VX_SOURCE_URL_MAX];
	struct curl_slist *n;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(line))
		return -EMSGSIZE;
	n = curl_slist_append(*l, line);
	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

int vx__map_status(long status)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 401:
	case 403:
		return VX_ESOURCE_DENIED;
	case 404:
	case 410:
		return VX_ESOURCE_NOTFOUND;
	case 408:
	case 425:
	case 429:
		return VX_ESOURCE_TRANSIENT;
	case 413:
		return VX_ESOURCE_TOOLARGE;
	case 501:
	case 505:
		return VX_ESOURCE_BADREQ;
	default:
		break;
	}
	if (status >= 500 && status < 600)
		return VX_ESOURCE_TRANSIENT;
	if (status >= 400 && status < 500)
		return VX_ESOURCE_BADREQ;
	return VX_ESOURCE_PROTO; /* 1xx or 3xx as a final answer, or nonsense */
}

/* Maps a libcurl failure; *transient says whether a retry may help. */
static int map_curl(CURLcode rc, bool *transient)
{
	*transient = false;
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_FTP_ACCEPT_TIMEOUT:
	case CURLE_FTP_CANT_GET_HOST:
	case CURLE_FTP_WEIRD_PASV_REPLY:
		*transient = true;
		return VX_ESOURCE_TRANSIENT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return VX_ETLS;
	case CURLE_REMOTE_FILE_NOT_FOUND:
	case CURLE_FILE_COULDNT_READ_FILE:
		return VX_ESOURCE_NOTFOUND;
	case CURLE_LOGIN_DENIED:
	case CURLE_REMOTE_ACCESS_DENIED:
		return VX_ESOURCE_DENIED;
	case CURLE_URL_MALFORMAT:
		return VX_EURL;
	case CURLE_UNSUPPORTED_PROTOCOL:
		return VX_ESCHEME;
	case CURLE_RANGE_ERROR:
	case CURLE_BAD_DOWNLOAD_RESUME:
		return VX_ESOURCE_BADREQ;
	case CURLE_FILESIZE_EXCEEDED:
		return VX_ESOURCE_TOOLARGE;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return VX_ESOURCE_PROTO;
	}
}

/* ---- Request setup ----------------------------------------------------------------------- */

int vx__apply_opts(CURL *easy, const struct vx_source_opts *o, struct curl_slist **hdrs)
{
	uint32_t timeout_ms = o && o->timeout_ms ? o->timeout_ms : 300000;
	uint32_t connect_ms = o && o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
	uint32_t stall_ms = o && o->stall_timeout_ms ? o->stall_timeout_ms : 30000;

	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
	curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, (long)VX_MAX(1u, (stall_ms + 999) / 1000));
	if (!o)
		return 0;
	for (uint32_t i = 0; i < o->nr_headers; i++) {
		struct curl_slist *n = curl_slist_append(*hdrs, o->headers[i]);

		if (!n)
			return -ENOMEM;
		*hdrs = n;
	}
	if (o->tls_insecure) {
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (o->tls_ca_file)
		curl_easy_setopt(easy, CURLOPT_CAINFO, o->tls_ca_file);
	if (o->tls_cert_file)
		curl_easy_setopt(easy, CURLOPT_SSLCERT, o->tls_cert_file);
	if (o->tls_key_file)
		curl_easy_setopt(easy, CURLOPT_SSLKEY, o->tls_key_file);
	return 0;
}

/* ---- Outbound policy: every connection of a fetch for another host ----------------------- */

/* A refused address fails the transfer for good (no retry) with the policy's message. */
static void outbound_refused(struct vx__xfer *x, const char *why)
{
	x->abort_err = -EACCES;
	vx__detail_set(&x->detail, -EACCES, 0, x->url, "%s", why);
	vx_warn("source: %s", why);
}

/* A new connection: checked before connect(), so a refused address gets not even a SYN. */
static curl_socket_t outbound_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct vx__xfer *x = arg;
	char why[128];
	int fd;

	(void)purpose;
	if (vx_outbound_check(x->opts->outbound, x->opts->outbound_local, &a->addr, why,
			      sizeof(why))) {
		outbound_refused(x, why);
		return CURL_SOCKET_BAD;
	}
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

/* Before each request, on a new or a reused connection (the pool is shared across fetches). */
static int outbound_prereq(void *arg, char *ip, char *local_ip, int port, int local_port)
{
	struct vx__xfer *x = arg;
	struct sockaddr_storage ss = { 0 };
	char why[128];

	(void)local_ip;
	(void)local_port;
	(void)port;
	if (strchr(ip, ':')) {
		ss.ss_family = AF_INET6;
		if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr) != 1)
			ss.ss_family = AF_UNSPEC;
	} else {
		ss.ss_family = AF_INET;
		if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) != 1)
			ss.ss_family = AF_UNSPEC;
	}
	if (vx_outbound_check(x->opts->outbound, x->opts->outbound_local, (struct sockaddr *)&ss,
			      why, sizeof(why))) {
		outbound_refused(x, why);
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

static void apply_outbound(CURL *e, struct vx__xfer *x)
{
	if (!x->opts || !x->opts->outbound || x->opts->upstream)
		return;
	/* straight to the origin: through a proxy (http_proxy, ALL_PROXY in the environment) the
	 * socket checks would see the proxy's address, and the proxy would reach anything */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, outbound_open);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, outbound_prereq);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
}

/* check_body_start(): the object changed since stat (the detail is set already) */
#define VX_ESOURCE_CHANGED (VX_ESOURCE_PROTO - 1000)

static void resp_reset(struct vx__resp *r)
{
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	r->range.total = -1;
}

static void copy_value(char *dst, size_t cap, const char *v, size_t n)
{
	size_t k = VX_MIN(n, cap - 1);

	memcpy(dst, v, k);
	dst[k] = '\0';
}

static void resp_header(struct vx__resp *r, const char *line, size_t len)
{
	const char *name, *value;
	size_t nl, vl;

	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		const char *sp = memchr(line, ' ', len);

		resp_reset(r);
		if (sp && (size_t)(line + len - sp) > 3)
			r->status = strtol(sp + 1, NULL, 10);
		return;
	}
	if (vx_source_header_split(line, len, &name, &nl, &value, &vl) != 0) {
		if (len <= 2)
			r->headers_done = true;
		return;
	}
	if (nl == 13 && strncasecmp(name, "content-range", nl) == 0) {
		r->have_range = vx_source_content_range_parse(&r->range, value, vl) == 0;
	} else if (nl == 14 && strncasecmp(name, "content-length", nl) == 0) {
		char tmp[24];
		int64_t v;

		copy_value(tmp, sizeof(tmp), value, vl);
		v = vl && vl < 20 ? strtoll(tmp, NULL, 10) : -1;
		/* two framings of one body: which one a proxy on the way believed is unknown */
		if (r->content_length >= 0 && v != r->content_length)
			r->length_conflict = true;
		r->content_length = v;
	} else if (nl == 4 && strncasecmp(name, "etag", nl) == 0) {
		copy_value(r->etag, sizeof(r->etag), value, vl);
	} else if (nl == 13 && strncasecmp(name, "last-modified", nl) == 0) {
		copy_value(r->last_modified, sizeof(r->last_modified), value, vl);
	} else if (nl == 12 && strncasecmp(name, "content-type", nl) == 0) {
		copy_value(r->content_type, sizeof(r->content_type), value, vl);
	} else if (nl == 11 && strncasecmp(name, "retry-after", nl) == 0) {
		uint32_t v = 0;
		size_t i;

		/* Delay-seconds only; an HTTP-date is ignored (our own backoff applies). */
		for (i = 0; i < vl && i < 6 && value[i] >= '0' && value[i] <= '9'; i++)
			v = v * 10 + (uint32_t)(value[i] - '0');
		r->retry_after_s = i == vl ? v : 0;
	} else if (nl == 21 && strncasecmp(name, "docker-content-digest", nl) == 0) {
		copy_value(r->digest, sizeof(r->digest), value, vl);
	} else if (nl == 16 && strncasecmp(name, "www-authenticate", nl) == 0) {
		copy_value(r->challenge, sizeof(r->challenge), value, vl);
	} else if (nl == 4 && strncasecmp(name, "link", nl) == 0) {
		/* one that does not fit becomes an empty next link, which vx_source_link_next()
		 * refuses: a cut next-page URL is neither followed nor taken for the last page */
		if (vl < sizeof(r->link))
			copy_value(r->link, sizeof(r->link), value, vl);
		else
			snprintf(r->link, sizeof(r->link), "<>; rel=next");
	}
	for (size_t i = 0; i < VX_ARRAY_SIZE(kept_names); i++) {
		if (strlen(kept_names[i]) == nl && strncasecmp(kept_names[i], name, nl) == 0 &&
		    r->kept_len + nl + vl + 4 < sizeof(r->kept)) {
			memcpy(r->kept + r->kept_len, name, nl);
			r->kept_len += nl;
			memcpy(r->kept + r->kept_len, ": ", 2);
			memcpy(r->kept + r->kept_len + 2, value, vl);
			r->kept_len += 2 + vl;
			memcpy(r->kept + r->kept_len, "\r\n", 3);
			r->kept_len += 2;
		}
	}
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct vx__xfer *x = arg;
	size_t len = size * n;

	resp_header(&x->resp, data, len);
	if (x->resp.headers_done && x->resp.length_conflict && x->resp.status >= 200 &&
	    x->resp.status < 300) {
		x->abort_err = VX_ESOURCE_PROTO;
		vx__detail_set(&x->detail, x->abort_err, x->resp.status, x->url,
			       "origin sent two different Content-Length headers");
		return 0;
	}
	/* A stat that got 200 instead of 206: the server ignores ranges. Stop before its body. */
	if (x->kind == VX__XFER_FETCH && x->fetch->stat_range && x->resp.headers_done &&
	    x->resp.status == 200) {
		x->cut_ok = true;
		return 0;
	}
	return len;
}

/* Sets the detail when a read's answer is another version of the object than stat saw. */
static bool check_same_version(struct vx__xfer *x)
{
	char why[VX_SOURCE_ETAG_MAX * 2 + 64];

	if (!vx__http_changed(x->obj, &x->resp, why, sizeof(why)))
		return false;
	vx__detail_set(&x->detail, VX_ESOURCE_PROTO, x->resp.status, x->url,
		       "the object changed at the origin during the download (%s)", why);
	return true;
}

/* First body bytes of an attempt: is this the answer we asked for? */
static int check_body_start(struct vx__xfer *x)
{
	long status = x->resp.status;
	bool http = x->url && (strncmp(x->url, "http", 4) == 0);

	x->body_checked = true;
	if (!http || status == 0)
		return 0;
	if (status < 200 || status >= 300)
		return vx__map_status(status); /* body goes to errbody */
	if (x->kind == VX__XFER_READ && x->obj->check_validators && check_same_version(x))
		return VX_ESOURCE_CHANGED;
	if (!x->want_range_hdr)
		return 0;
	if (status == 206) {
		if (!x->resp.have_range || x->resp.range.unsatisfied ||
		    x->resp.range.first != x->off)
			return VX_ESOURCE_PROTO;
		return 0;
	}
	if (status == 200 && x->off == 0)
		return 0; /* ranges ignored: take the head of the full body, cut after left */
	return VX_ESOURCE_PROTO;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct vx__xfer *x = arg;
	size_t len = size * n;
	size_t take = len;
	int rc;

	if (__atomic_load_n(&x->cancel, __ATOMIC_RELAXED)) {
		x->abort_err = -ECANCELED;
		return 0;
	}
	if (!x->body_checked) {
		rc = check_body_start(x);
		if (rc == VX_ESOURCE_CHANGED) {
			x->abort_err = VX_ESOURCE_PROTO; /* detail set: not worth a retry */
			return 0;
		}
		if (rc == VX_ESOURCE_PROTO) {
			x->abort_err = rc;
			vx__detail_set(
				&x->detail, rc, x->resp.status, x->url,
				"origin answered %ld with a range other than the %llu asked for",
				x->resp.status, (unsigned long long)x->off);
			return 0;
		}
		if (rc != 0)
			x->error_body = true; /* an error status: keep its body for the message */
	}
	if (x->error_body) {
		size_t room = sizeof(x->errbody) - 1 - x->errbody_len;
		size_t k = VX_MIN(room, len);

		memcpy(x->errbody + x->errbody_len, data, k);
		x->errbody_len += k;
		x->errbody[x->errbody_len] = '\0';
		return len;
	}
	if (x->left != VX_SOURCE_LEN_TO_END && take > x->left)
		take = (size_t)x->left;
	if (take) {
		if (x->kind == VX__XFER_FETCH) {
			struct vx__fetch *f = x->fetch;

			if (f->body_max) {
				if (f->body_len + take > f->body_max) {
					x->abort_err = VX_ESOURCE_TOOLARGE;
					vx__detail_set(&x->detail, x->abort_err, x->resp.status,
						       x->url, "reply larger than %zu bytes",
						       f->body_max);
					return 0;
				}
				memcpy(f->body + f->body_len, data, take);
				f->body_len += take;
				f->body[f->body_len] = '\0';
			}
		} else {
			if (!vx__xfer_rate_try(x, take)) {
				/* libcurl keeps these bytes and hands them again on resume */
				x->paused = true;
				return CURL_WRITEFUNC_PAUSE;
			}
			if (x->sha && EVP_DigestUpdate(x->sha, data, take) != 1) {
				x->abort_err = -ENOMEM;
				return 0;
			}
			rc = x->sink(x->arg, data, take);
			if (rc != 0) {
				x->abort_err = rc < 0 ? rc : -EINVAL;
				vx__detail_set(&x->detail, x->abort_err, 0, x->url,
					       "the sink refused the data");
				return 0;
			}
		}
		x->delivered += take;
		x->off += take;
		if (x->left != VX_SOURCE_LEN_TO_END)
			x->left -= take;
	}
	if (take < len) {
		x->cut_ok = true; /* a 200 longer than the range: everything wanted is here */
		return 0;
	}
	return len;
}

static CURL *easy_get(struct vx__worker *w)
{
	if (w->nr_easy_pool)
		return w->easy_pool[--w->nr_easy_pool];
	return curl_easy_init();
}

static void easy_put(struct vx__worker *w, CURL *easy)
{
	if (w->nr_easy_pool < VX__EASY_POOL_MAX) {
		curl_easy_reset(easy);
		w->easy_pool[w->nr_easy_pool++] = easy;
		return;
	}
	curl_easy_cleanup(easy);
}

static int fetch_prepare(struct vx__xfer *x)
{
	struct vx__fetch *f = x->fetch;
	int rc;

	x->url = vx_strdup(f->url);
	if (!x->url)
		return -ENOMEM;
	for (const char *const *h = f->extra_headers; h && *h; h++) {
		rc = vx__hdr_append(&x->hdrs, "%s", *h);
		if (rc)
			return rc;
	}
	if (f->stat_range) {
		x->want_range_hdr = true;
		x->left = 1;
	}
	return 0;
}

static bool obj_has_auth(struct vx_source_obj *obj)
{
	bool has;

	pthread_mutex_lock(&obj->auth_lock);
	has = obj->auth != NULL;
	pthread_mutex_unlock(&obj->auth_lock);
	return has;
}

static int xfer_start(struct vx__worker *w, struct vx__xfer *x)
{
	char range[64];
	CURL *e;
	int rc;

	vx_free(x->url);
	x->url = NULL;
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	curl_slist_free_all(x->proxy_hdrs);
	x->proxy_hdrs = NULL;
	resp_reset(&x->resp);
	x->body_checked = false;
	x->cut_ok = false;
	x->paused = false; /* a retry's new handle is not paused */
	x->abort_err = 0;
	x->error_body = false;
	x->errbody_len = 0;
	x->errbody[0] = '\0';
	x->want_range_hdr = false;
	x->range_in_url = false;
	x->attempts++;

	if (x->kind == VX__XFER_FETCH) {
		x->fetch->body_len = 0;
		rc = fetch_prepare(x);
	} else {
		x->want_range_hdr = !(x->off == 0 && x->left == VX_SOURCE_LEN_TO_END);
		rc = x->obj->scheme->prepare(x->obj, x);
		if (x->range_in_url)
			x->want_range_hdr = false;
	}
	if (rc)
		return rc;
	e = easy_get(w);
	if (!e)
		return -ENOMEM;
	x->easy = e;
	rc = vx__apply_opts(e, x->opts, &x->hdrs);
	if (rc)
		return rc;
	curl_easy_setopt(e, CURLOPT_URL, x->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https,ftp,ftps,file");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, w->ctx->user_agent);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, VX__RECV_BUFFER);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_FILETIME, 1L);
	if (x->kind == VX__XFER_FETCH && x->fetch->nobody)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	if (x->kind == VX__XFER_FETCH && x->fetch->dirlist)
		curl_easy_setopt(e, CURLOPT_DIRLISTONLY, 1L);
	if (x->kind == VX__XFER_FETCH && x->fetch->username) {
		curl_easy_setopt(e, CURLOPT_USERNAME, x->fetch->username);
		curl_easy_setopt(e, CURLOPT_PASSWORD, x->fetch->password ? x->fetch->password : "");
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	} else if (x->kind == VX__XFER_READ && x->opts && x->opts->username &&
		   !obj_has_auth(x->obj)) {
		curl_easy_setopt(e, CURLOPT_USERNAME, x->opts->username);
		curl_easy_setopt(e, CURLOPT_PASSWORD, x->opts->password ? x->opts->password : "");
	}
	if (x->want_range_hdr) {
		if (x->left == VX_SOURCE_LEN_TO_END)
			snprintf(range, sizeof(range), "%llu-", (unsigned long long)x->off);
		else
			snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)x->off,
				 (unsigned long long)(x->off + x->left - 1));
		curl_easy_setopt(e, CURLOPT_RANGE, range);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
	apply_outbound(e, x);
	rc = vx__upstream_apply(e, x->opts, &x->proxy_hdrs);
	if (rc)
		return rc;
	if (curl_multi_add_handle(w->multi, e) != CURLM_OK)
		return -ENOMEM;
	vx_list_add_tail(&w->running, &x->node);
	return 0;
}

/* ---- Completion -------------------------------------------------------------------------- */

static void xfer_detach_easy(struct vx__worker *w, struct vx__xfer *x)
{
	if (!x->easy)
		return;
	curl_multi_remove_handle(w->multi, x->easy);
	easy_put(w, x->easy);
	x->easy = NULL;
}

void vx__obj_put(struct vx_source_obj *obj);

void vx__xfer_free(struct vx__xfer *x)
{
	if (!x)
		return;
	vx_free(x->url);
	curl_slist_free_all(x->hdrs);
	curl_slist_free_all(x->proxy_hdrs);
	if (x->sha)
		EVP_MD_CTX_free(x->sha);
	if (x->obj)
		vx__obj_put(x->obj);
	vx_free(x);
}

static void finish(struct vx__worker *w, struct vx__xfer *x, int err)
{
	struct vx__fetch *f = x->fetch;

	xfer_detach_easy(w, x);
	vx_list_del(&x->node);
	pthread_mutex_lock(&w->ctx->lock);
	vx_list_del(&x->live_node);
	w->ctx->nr_live--;
	pthread_mutex_unlock(&w->ctx->lock);

	if (err) {
		if (x->detail.err != err || !x->detail.msg[0])
			vx__detail_set(&x->detail, err, x->resp.status, x->url, "%s",
				       x->detail.msg[0] ? x->detail.msg : vx_strerror(err));
		if (!x->detail.url[0])
			vx_source_url_redact(x->url ? x->url : "", x->detail.url,
					     sizeof(x->detail.url));
		x->detail.attempts = x->attempts;
		vx_debug("source: %s failed after %u attempt(s): %s (status %d)", x->detail.url,
			 x->attempts, vx_strerror(err), x->detail.status);
	}
	if (x->kind == VX__XFER_FETCH) {
		f->err = err;
		f->resp = x->resp;
		f->detail = x->detail;
		f->detail.err = err;
		f->detail.attempts = x->attempts;
		pthread_mutex_lock(&f->lock);
		f->finished = true;
		pthread_cond_signal(&f->cond);
		pthread_mutex_unlock(&f->lock);
		vx__xfer_free(x);
		return;
	}
	x->done(x->arg, err, err ? &x->detail : NULL);
	vx__xfer_free(x);
}

static bool can_resume(const struct vx__xfer *x)
{
	if (x->delivered == 0)
		return true;
	if (x->kind == VX__XFER_FETCH)
		return false;
	return x->obj->stat.ranges || x->range_in_url;
}

static void schedule_retry(struct vx__worker *w, struct vx__xfer *x)
{
	const struct vx_source_opts *o = x->opts;
	uint64_t base = o && o->retry_backoff_ms ? o->retry_backoff_ms : 100;
	uint64_t ms = base << VX_MIN(x->attempts - 1, 16u);

	if (ms > VX__BACKOFF_CAP_MS)
		ms = VX__BACKOFF_CAP_MS;
	ms = ms / 2 + (uint64_t)(random() % (long)(ms / 2 + 1)); /* jitter: [ms/2, ms] */
	/* The origin said when to come back: not before that, and never past our own cap. */
	if (x->resp.retry_after_s)
		ms = VX_MAX(ms,
			    VX_MIN((uint64_t)x->resp.retry_after_s * 1000, VX__RETRY_AFTER_CAP_MS));
	xfer_detach_easy(w, x);
	vx_list_del(&x->node);
	x->due_ns = vx_now_ns() + ms * 1000000ull;
	vx_list_add_tail(&w->waiting, &x->node);
	vx_debug("source: %s transient failure (attempt %u), retry in %llu ms", x->detail.url,
		 x->attempts, (unsigned long long)ms);
}

/* Digest check of a complete read of an object whose digest the origin vouches for. */
static int verify_digest(struct vx__xfer *x)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 8];
	unsigned int mdlen = 0;
	const char *want = x->obj->stat.digest;

	if (EVP_DigestFinal_ex(x->sha, md, &mdlen) != 1)
		return -ENOMEM;
	memcpy(hex, "sha256:", 7);
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 7 + 2 * i, 3, "%02x", md[i]);
	if (strcmp(hex, want) != 0) {
		vx__detail_set(&x->detail, VX_EDIGEST, x->resp.status, x->url,
			       "content is %.20s..., origin promised %.20s...", hex, want);
		return VX_EDIGEST;
	}
	return 0;
}

static void complete(struct vx__worker *w, struct vx__xfer *x, CURLcode cc)
{
	uint32_t retries_max = x->opts && x->opts->retries_max ? x->opts->retries_max : 2;
	bool transient = false;
	long status = 0;
	int err = 0;

	if (x->opts && x->opts->retries_max == UINT32_MAX)
		retries_max = 0;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	if (x->kind == VX__XFER_FETCH) {
		char *eff = NULL;
		curl_off_t cl = -1;
		long ft = -1;

		curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &eff);
		vx_source_url_redact(eff ? eff : x->url, x->fetch->final_url,
				     sizeof(x->fetch->final_url));
		curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		curl_easy_getinfo(x->easy, CURLINFO_FILETIME, &ft);
		x->fetch->curl_length = cl;
		x->fetch->filetime = ft;
	}
	if (x->resp.status == 0)
		x->resp.status = status;
	x->detail.transport = (int)cc;
	x->detail.timed_out = cc == CURLE_OPERATION_TIMEDOUT;

	if (__atomic_load_n(&x->cancel, __ATOMIC_RELAXED) || x->abort_err == -ECANCELED) {
		err = -ECANCELED;
	} else if (x->abort_err) {
		err = x->abort_err;
	} else if (cc != CURLE_OK && !x->cut_ok) {
		err = map_curl(cc, &transient);
		if (cc == CURLE_PARTIAL_FILE)
			vx__detail_set(&x->detail, err, status, x->url,
				       "short body: the origin closed the connection before the "
				       "Content-Length it announced (truncated)");
		else
			vx__detail_set(&x->detail, err, status, x->url, "%s",
				       curl_easy_strerror(cc));
	}
	if (!err && x->url && strncmp(x->url, "http", 4) == 0 && (x->error_body || status)) {
		err = vx__map_status(x->resp.status ? x->resp.status : status);
		if (err) {
			transient = err == VX_ESOURCE_TRANSIENT;
			vx__detail_set(&x->detail, err, x->resp.status, x->url, "HTTP %ld%s%.200s",
				       x->resp.status, x->errbody_len ? ": " : "", x->errbody);
		}
	}
	if (!err && x->left != VX_SOURCE_LEN_TO_END && x->left != 0 &&
	    !(x->kind == VX__XFER_FETCH && x->fetch->stat_range)) {
		err = VX_ESOURCE_TRANSIENT;
		transient = true;
		vx__detail_set(&x->detail, err, x->resp.status, x->url,
			       "origin closed with %llu bytes still due",
			       (unsigned long long)x->left);
	}
	if (err == VX_ESOURCE_DENIED && x->kind == VX__XFER_READ && x->resp.status == 401 &&
	    x->obj->scheme->reauth && !x->reauthed && x->resp.challenge[0] && can_resume(x)) {
		/* A token ran out mid-task: the helper thread renews it (blocking) and hands the
		 * read back; it resumes where it stopped. Once per read. */
		xfer_detach_easy(w, x);
		vx_list_del(&x->node);
		x->reauthed = true;
		if (vx__helper_reauth(w->ctx, x) == 0)
			return;
	}
	if (err && transient && x->attempts <= retries_max && can_resume(x)) {
		schedule_retry(w, x);
		return;
	}
	if (!err && x->sha)
		err = verify_digest(x);
	finish(w, x, err);
}

/* ---- The loop ----------------------------------------------------------------------------- */

static void take_submissions(struct vx__worker *w, struct vx_list *fresh, bool *stopping)
{
	struct vx_list *pos, *tmp;

	pthread_mutex_lock(&w->ctx->lock);
	vx_list_for_each_safe(pos, tmp, &w->submitted) {
		vx_list_del(pos);
		vx_list_add_tail(fresh, pos);
	}
	*stopping = w->ctx->stopping;
	pthread_mutex_unlock(&w->ctx->lock);
}

static void start_or_fail(struct vx__worker *w, struct vx__xfer *x)
{
	int rc;

	if (__atomic_load_n(&x->cancel, __ATOMIC_RELAXED)) {
		vx_list_add_tail(&w->running, &x->node);
		finish(w, x, -ECANCELED);
		return;
	}
	if (x->preset_err) {
		vx_list_add_tail(&w->running, &x->node);
		finish(w, x, x->preset_err);
		return;
	}
	if (x->left == 0) {
		vx_list_add_tail(&w->running, &x->node);
		finish(w, x, 0);
		return;
	}
	rc = xfer_start(w, x);
	if (rc) {
		if (vx_list_empty(&x->node) || x->node.next == NULL)
			vx_list_add_tail(&w->running, &x->node);
		vx__detail_set(&x->detail, rc, 0, x->url, "could not start the request: %s",
			       vx_strerror(rc));
		finish(w, x, rc);
	}
}

/* Lets the transfers paused over their rate try again (on_body pauses them anew if the rate
 * still has no room). */
static void resume_paused(struct vx__worker *w)
{
	struct vx_list *pos;

	vx_list_for_each(pos, &w->running) {
		struct vx__xfer *x = vx_list_entry(pos, struct vx__xfer, node);

		if (!x->paused || !x->easy)
			continue;
		x->paused = false;
		curl_easy_pause(x->easy, CURLPAUSE_CONT);
	}
}

static int next_timeout_ms(struct vx__worker *w)
{
	uint64_t now = vx_now_ns();
	int t = VX__POLL_MAX_MS;
	struct vx_list *pos;

	vx_list_for_each(pos, &w->running) {
		if (vx_list_entry(pos, struct vx__xfer, node)->paused)
			t = VX__RATE_TICK_MS;
	}

	vx_list_for_each(pos, &w->waiting) {
		struct vx__xfer *x = vx_list_entry(pos, struct vx__xfer, node);
		uint64_t ms = x->due_ns > now ? (x->due_ns - now) / 1000000ull + 1 : 0;

		if ((int)VX_MIN(ms, (uint64_t)VX__POLL_MAX_MS) < t)
			t = (int)VX_MIN(ms, (uint64_t)VX__POLL_MAX_MS);
	}
	return t;
}

static void sweep(struct vx__worker *w, bool stopping)
{
	uint64_t now = vx_now_ns();
	struct vx_list *pos, *tmp;

	vx_list_for_each_safe(pos, tmp, &w->waiting) {
		struct vx__xfer *x = vx_list_entry(pos, struct vx__xfer, node);

		if (stopping || __atomic_load_n(&x->cancel, __ATOMIC_RELAXED)) {
			finish(w, x, -ECANCELED);
		} else if (x->due_ns <= now) {
			vx_list_del(&x->node);
			start_or_fail(w, x);
		}
	}
	vx_list_for_each_safe(pos, tmp, &w->running) {
		struct vx__xfer *x = vx_list_entry(pos, struct vx__xfer, node);

		if (stopping || __atomic_load_n(&x->cancel, __ATOMIC_RELAXED))
			finish(w, x, -ECANCELED);
	}
}

static void *worker_main(void *arg)
{
	struct vx__worker *w = arg;
	bool stopping = false;

	for (;;) {
		struct vx_list fresh, *pos, *tmp;
		struct CURLMsg *msg;
		int running = 0, left = 0;

		vx_list_init(&fresh);
		take_submissions(w, &fresh, &stopping);
		vx_list_for_each_safe(pos, tmp, &fresh) {
			struct vx__xfer *x = vx_list_entry(pos, struct vx__xfer, node);

			vx_list_del(pos);
			if (stopping)
				__atomic_store_n(&x->cancel, true, __ATOMIC_RELAXED);
			start_or_fail(w, x);
		}
		sweep(w, stopping);
		if (stopping)
			break;
		resume_paused(w);
		curl_multi_perform(w->multi, &running);
		while ((msg = curl_multi_info_read(w->multi, &left)) != NULL) {
			struct vx__xfer *x = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			VX_ASSERT(x);
			complete(w, x, msg->data.result);
		}
		curl_multi_poll(w->multi, NULL, 0, next_timeout_ms(w), NULL);
	}
	return NULL;
}

bool vx__on_worker(const struct vx_source_ctx *ctx)
{
	for (uint32_t i = 0; i < ctx->nr_workers; i++) {
		if (pthread_equal(pthread_self(), ctx->workers[i].thread))
			return true;
	}
	return false;
}

/* Stops and frees the workers [0, n): used by stop and by a failed start. */
static void workers_stop(struct vx_source_ctx *ctx, uint32_t n)
{
	pthread_mutex_lock(&ctx->lock);
	ctx->stopping = true;
	pthread_mutex_unlock(&ctx->lock);
	for (uint32_t i = 0; i < n; i++)
		curl_multi_wakeup(ctx->workers[i].multi);
	for (uint32_t i = 0; i < n; i++) {
		struct vx__worker *w = &ctx->workers[i];

		pthread_join(w->thread, NULL);
		/* Handed back by the helper thread after this worker left its loop. */
		while (!vx_list_empty(&w->submitted)) {
			struct vx__xfer *x = vx_list_first(&w->submitted, struct vx__xfer, node);

			finish(w, x, -ECANCELED);
		}
		for (uint32_t k = 0; k < w->nr_easy_pool; k++)
			curl_easy_cleanup(w->easy_pool[k]);
		w->nr_easy_pool = 0;
		curl_multi_cleanup(w->multi);
		w->multi = NULL;
	}
}

int vx__worker_start(struct vx_source_ctx *ctx)
{
	uint32_t n = ctx->cfg.workers;
	long per_host = (long)((ctx->cfg.host_conns_max + n - 1) / n);
	long total = (long)((ctx->cfg.total_conns_max + n - 1) / n);
	int rc;

	VX_ASSERT(n >= 1 && n <= VX__WORKERS_MAX);
	for (uint32_t i = 0; i < n; i++) {
		struct vx__worker *w = &ctx->workers[i];

		w->ctx = ctx;
		vx_list_init(&w->submitted);
		vx_list_init(&w->running);
		vx_list_init(&w->waiting);
		w->multi = curl_multi_init();
		if (!w->multi) {
			rc = -ENOMEM;
			goto out_stop;
		}
		curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, per_host);
		curl_multi_setopt(w->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, total);
		curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, total);
		rc = -pthread_create(&w->thread, NULL, worker_main, w);
		if (rc) {
			curl_multi_cleanup(w->multi);
			w->multi = NULL;
			goto out_stop;
		}
		ctx->nr_workers = i + 1;
	}
	return 0;

out_stop:
	workers_stop(ctx, ctx->nr_workers);
	ctx->nr_workers = 0;
	return rc;
}

void vx__worker_stop(struct vx_source_ctx *ctx)
{
	workers_stop(ctx, ctx->nr_workers);
}

void vx__xfer_resubmit(struct vx_source_ctx *ctx, struct vx__xfer *x)
{
	struct vx__worker *w;

	pthread_mutex_lock(&ctx->lock);
	w = &ctx->workers[ctx->next_worker++ % ctx->nr_workers];
	vx_list_add_tail(&w->submitted, &x->node);
	pthread_mutex_unlock(&ctx->lock);
	curl_multi_wakeup(w->multi);
}

void vx__worker_wake_all(struct vx_source_ctx *ctx)
{
	for (uint32_t i = 0; i < ctx->nr_workers; i++)
		curl_multi_wakeup(ctx->workers[i].multi);
}

int vx__xfer_submit(struct vx_source_ctx *ctx, struct vx__xfer *x, uint64_t *id)
{
	struct vx__worker *w;

	pthread_mutex_lock(&ctx->lock);
	if (ctx->stopping) {
		pthread_mutex_unlock(&ctx->lock);
		return -ESHUTDOWN;
	}
	if (ctx->nr_live >= ctx->cfg.reqs_max) {
		pthread_mutex_unlock(&ctx->lock);
		return -ENOBUFS;
	}
	/* Round robin: each worker keeps its own connections to the origins it talks to. */
	w = &ctx->workers[ctx->next_worker++ % ctx->nr_workers];
	x->id = ++ctx->next_id;
	if (id)
		*id = x->id;
	x->ctx = ctx;
	ctx->nr_live++;
	vx_list_add_tail(&ctx->live, &x->live_node);
	vx_list_add_tail(&w->submitted, &x->node);
	pthread_mutex_unlock(&ctx->lock);
	curl_multi_wakeup(w->multi);
	return 0;
}

int vx__fetch_run(struct vx_source_ctx *ctx, struct vx__fetch *f)
{
	struct vx__xfer *x;
	int rc;

	VX_ASSERT(!vx__on_worker(ctx));
	f->err = 0;
	f->finished = false;
	f->body = NULL;
	f->body_len = 0;
	f->final_url[0] = '\0';
	memset(&f->detail, 0, sizeof(f->detail));
	if (f->body_max) {
		f->body = vx_malloc(f->body_max + 1);
		if (!f->body)
			return -ENOMEM;
		f->body[0] = '\0';
	}
	x = vx_calloc(1, sizeof(*x));
	if (!x) {
		rc = -ENOMEM;
		goto out_free_body;
	}
	x->kind = VX__XFER_FETCH;
	x->fetch = f;
	x->opts = f->opts;
	x->left = VX_SOURCE_LEN_TO_END;
	vx_list_init(&x->node);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	rc = vx__xfer_submit(ctx, x, NULL);
	if (rc) {
		vx_free(x);
		goto out_destroy_sync;
	}
	pthread_mutex_lock(&f->lock);
	while (!f->finished)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	if (f->err && !f->detail.url[0])
		vx_source_url_redact(f->url, f->detail.url, sizeof(f->detail.url));
	if (f->err)
		vx__fetch_release(f); /* a failed fetch leaves nothing to release */
	return f->err;

out_destroy_sync:
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
out_free_body:
	vx_free(f->body);
	f->body = NULL;
	return rc;
}

void vx__fetch_release(struct vx__fetch *f)
{
	vx_free(f->body);
	f->body = NULL;
	f->body_len = 0;
}
