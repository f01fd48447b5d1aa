/* SPDX-License-Identifier: Apache-2.0 */
/*
 * upstream.c: one request to the upstream registry, run by libcurl on a thread of its own and
 * streamed through a socket pair, so a libmicrohttpd reader can pull the body at its own pace
 * (the curl thread blocks on a full socket; a reader that goes away ends the transfer).
 * Redirects are followed (http and https only, 5 at most); libcurl sends a custom
 * Authorization header to the first host only, so a redirect to blob storage elsewhere gets
 * no credential.
 */
#include "proxy_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_time.h"

/* Response headers passed back to the client. */
static const char *const kept[] = {
	"content-type",
	"docker-content-digest",
	"docker-distribution-api-version",
	"www-authenticate",
	"link",
	"etag",
	"content-range",
	"oci-subject",
	"last-modified",
	"accept-ranges",
	"content-encoding",
	"cache-control",
};

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct upstream *u = arg;
	size_t len = size * n;

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		u->nr_headers = 0; /* a new response (after a redirect): forget the last one's */
		return len;
	}
	for (size_t i = 0; i < VX_ARRAY_SIZE(kept); i++) {
		size_t k = strlen(kept[i]);

		if (len > k + 1 && strncasecmp(buf, kept[i], k) == 0 && buf[k] == ':' &&
		    u->nr_headers < UPSTREAM_HEADERS_MAX) {
			const char *v = buf + k + 1;
			size_t vlen = len - k - 1;

			while (vlen && (*v == ' ' || *v == '\t')) {
				v++;
				vlen--;
			}
			while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
				vlen--;
			if (vlen >= sizeof(u->headers[0].value))
				break;
			u->headers[u->nr_headers].name = kept[i];
			memcpy(u->headers[u->nr_headers].value, v, vlen);
			u->headers[u->nr_headers].value[vlen] = '\0';
			u->nr_headers++;
			break;
		}
	}
	return len;
}

static void mark_headers(struct upstream *u)
{
	long code = 0;
	curl_off_t cl = -1;

	pthread_mutex_lock(&u->lock);
	if (!u->headers_done) {
		curl_easy_getinfo(u->curl, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_getinfo(u->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		u->status = code;
		u->length = cl;
		u->headers_done = true;
		pthread_cond_broadcast(&u->cond);
	}
	pthread_mutex_unlock(&u->lock);
}

static size_t on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct upstream *u = arg;
	size_t len = size * n, off = 0;

	mark_headers(u);
	while (off < len) {
		ssize_t w = send(u->wr, buf + off, len - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 0; /* the reader went away: abort the transfer */
		off += (size_t)w;
	}
	return len;
}

static void *run(void *arg)
{
	struct upstream *u = arg;
	CURLcode rc = curl_easy_perform(u->curl);

	mark_headers(u);
	pthread_mutex_lock(&u->lock);
	u->curl_rc = (int)rc;
	u->finished = true;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
	shutdown(u->wr, SHUT_WR); /* EOF for the reader */
	return NULL;
}

/* Every connection libcurl opens (redirects included) is to an address the policy allows. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct upstream *u = arg;

	(void)purpose;
	if (vx_outbound_check(u->outbound, u->outbound_local, &a->addr, u->refused,
			      sizeof(u->refused))) {
		u->was_refused = true;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

int vx__upstream_start(struct upstream **out, const char *url, bool head,
		       const char *const *headers, uint32_t nr_headers)
{
	return vx__upstream_start_guarded(out, url, head, headers, nr_headers, NULL, false);
}

int vx__upstream_start_guarded(struct upstream **out, const char *url, bool head,
			       const char *const *headers, uint32_t nr_headers,
			       const struct vx_outbound_policy *policy, bool local)
{
	return vx__upstream_start_ca(out, url, head, headers, nr_headers, policy, local, NULL);
}

int vx__upstream_start_ca(struct upstream **out, const char *url, bool head,
			  const char *const *headers, uint32_t nr_headers,
			  const struct vx_outbound_policy *policy, bool local, const char *ca_file)
{
	struct upstream *u = vx_calloc(1, sizeof(*u));
	int sv[2];

	*out = NULL;
	if (!u)
		return -ENOMEM;
	u->rd = u->wr = -1;
	u->outbound = policy;
	u->outbound_local = local;
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	u->curl = curl_easy_init();
	if (!u->curl || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		vx__upstream_free(u);
		return -ENOMEM;
	}
	u->rd = sv[0];
	u->wr = sv[1];
	for (uint32_t i = 0; i < nr_headers; i++) {
		struct curl_slist *l = curl_slist_append(u->hdrs, headers[i]);

		if (!l) {
			vx__upstream_free(u);
			return -ENOMEM;
		}
		u->hdrs = l;
	}
	curl_easy_setopt(u->curl, CURLOPT_URL, url);
	curl_easy_setopt(u->curl, CURLOPT_HTTPHEADER, u->hdrs);
	curl_easy_setopt(u->curl, CURLOPT_NOBODY, head ? 1L : 0L);
	curl_easy_setopt(u->curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(u->curl, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(u->curl, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(u->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(u->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(u->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(u->curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	/* a silent upstream ends the transfer (and the response) in bounded time */
	curl_easy_setopt(u->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(u->curl, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(u->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(u->curl, CURLOPT_HEADERDATA, u);
	curl_easy_setopt(u->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(u->curl, CURLOPT_WRITEDATA, u);
	if (ca_file)
		curl_easy_setopt(u->curl, CURLOPT_CAINFO, ca_file);
	if (ca_file)
		curl_easy_setopt(u->curl, CURLOPT_CAPATH, NULL);
	if (policy) {
		curl_easy_setopt(u->curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
		curl_easy_setopt(u->curl, CURLOPT_OPENSOCKETDATA, u);
	}
	if (pthread_create(&u->thread, NULL, run, u) != 0) {
		vx__upstream_free(u);
		return -EAGAIN;
	}
	u->started = true;
	*out = u;
	return 0;
}

bool vx__upstream_wait_headers(struct upstream *u)
{
	pthread_mutex_lock(&u->lock);
	while (!u->headers_done)
		pthread_cond_wait(&u->cond, &u->lock); /* bounded by curl's own timeouts */
	pthread_mutex_unlock(&u->lock);
	return u->status > 0;
}

ssize_t vx__upstream_read(struct upstream *u, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = recv(u->rd, buf, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			/* EOF: a complete body only when curl says so */
			pthread_mutex_lock(&u->lock);
			while (!u->finished)
				pthread_cond_wait(&u->cond, &u->lock);
			pthread_mutex_unlock(&u->lock);
			return u->curl_rc == CURLE_OK ? 0 : -EIO;
		}
		return n < 0 ? -errno : n;
	}
}

void vx__upstream_free(struct upstream *u)
{
	if (!u)
		return;
	if (u->rd >= 0)
		shutdown(u->rd, SHUT_RDWR); /* a blocked send in the curl thread fails */
	if (u->started)
		pthread_join(u->thread, NULL);
	if (u->rd >= 0)
		close(u->rd);
	if (u->wr >= 0)
		close(u->wr);
	curl_slist_free_all(u->hdrs);
	if (u->curl)
		curl_easy_cleanup(u->curl);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->lock);
	vx_free(u);
}
