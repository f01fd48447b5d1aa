/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_webhook.c: a job's webhook, called with the job (as GET /oapi/v1/jobs/{id} answers it)
 * when the job ends: POST, JSON, by libcurl's multi interface driven from the job tick, so the
 * scheduler's thread never waits on the receiver (curl resolves names on its own thread).
 * Any answer but 2xx, or no answer within 10 s, is retried after 1, 2, 4, 8 and 16 s; then the
 * call is given up (logged). Every address curl connects to passes the outbound policy of
 * preheat URLs (loopback and link-local only with --allow-outbound, never a --deny-outbound
 * range); redirects are not followed. The URL is logged redacted only.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "mgr_int.h"
#include "vx_alloc.h"
#include "vx_log.h"
#include "vx_outbound.h"
#include "vx_url.h"

#define HOOKS_MAX     256
#define HOOK_ATTEMPTS 6

struct mgr_hook {
	bool used;
	int64_t job;
	char *url;
	char *body;
	uint32_t attempts;
	uint64_t next_ms;
	CURL *easy; /* a call in flight */
	struct curl_slist *hdrs;
};

struct mgr_hooks {
	CURLM *multi;
	const struct vx_outbound_policy *policy;
	struct mgr_hook h[HOOKS_MAX];
};

int vx__mgr_hooks_new(struct mgr_hooks **out, const struct vx_outbound_policy *policy)
{
	struct mgr_hooks *hs = vx_calloc(1, sizeof(*hs));

	if (!hs)
		return -ENOMEM;
	hs->multi = curl_multi_init();
	if (!hs->multi) {
		vx_free(hs);
		return -ENOMEM;
	}
	hs->policy = policy;
	*out = hs;
	return 0;
}

static void hook_call_end(struct mgr_hooks *hs, struct mgr_hook *h)
{
	if (h->easy) {
		curl_multi_remove_handle(hs->multi, h->easy);
		curl_easy_cleanup(h->easy);
	}
	curl_slist_free_all(h->hdrs);
	h->easy = NULL;
	h->hdrs = NULL;
}

static void hook_drop(struct mgr_hooks *hs, struct mgr_hook *h)
{
	hook_call_end(hs, h);
	vx_free(h->url);
	vx_free(h->body);
	memset(h, 0, sizeof(*h));
}

void vx__mgr_hooks_free(struct mgr_hooks *hs)
{
	if (!hs)
		return;
	for (uint32_t i = 0; i < HOOKS_MAX; i++)
		hook_drop(hs, &hs->h[i]);
	curl_multi_cleanup(hs->multi);
	vx_free(hs);
}

void vx__mgr_hook_add(struct mgr_hooks *hs, int64_t job, const char *url, char *body)
{
	struct mgr_hook *h = NULL;

	for (uint32_t i = 0; i < HOOKS_MAX && !h; i++) {
		if (!hs->h[i].used)
			h = &hs->h[i];
	}
	if (!h || !body) {
		vx_warn("manager: job %" PRId64 ": webhook %s not called: too many pending", job,
			VX_URL_SAFE(url));
		vx_free(body);
		return;
	}
	h->url = vx_strdup(url);
	if (!h->url) {
		vx_free(body);
		return;
	}
	h->used = true;
	h->job = job;
	h->body = body;
}

static curl_socket_t on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	const struct vx_outbound_policy *p = arg;

	if (purpose != CURLSOCKTYPE_IPCXN || vx_outbound_check(p, false, &a->addr, NULL, 0))
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t on_body(char *ptr, size_t size, size_t n, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * n; /* the answer's body says nothing we need */
}

static void hook_start(struct mgr_hooks *hs, struct mgr_hook *h)
{
	h->easy = curl_easy_init();
	h->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (!h->easy || !h->hdrs) {
		hook_call_end(hs, h);
		return;
	}
	curl_easy_setopt(h->easy, CURLOPT_URL, h->url);
	curl_easy_setopt(h->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->easy, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, h->hdrs);
	curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, h->body);
	curl_easy_setopt(h->easy, CURLOPT_OPENSOCKETFUNCTION, on_open);
	curl_easy_setopt(h->easy, CURLOPT_OPENSOCKETDATA, (void *)hs->policy);
	curl_easy_setopt(h->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h->easy, CURLOPT_PRIVATE, h);
	if (curl_multi_add_handle(hs->multi, h->easy) != CURLM_OK)
		hook_call_end(hs, h);
}

/* A call ended with @res and HTTP status @code: done, or the next attempt later. */
static void hook_ended(struct mgr_hooks *hs, struct mgr_hook *h, CURLcode res, long code,
		       uint64_t now_ms)
{
	hook_call_end(hs, h);
	h->attempts++;
	if (res == CURLE_OK && code >= 200 && code < 300) {
		vx_info("manager: job %" PRId64 ": webhook %s called (attempt %u)", h->job,
			VX_URL_SAFE(h->url), h->attempts);
		hook_drop(hs, h);
		return;
	}
	if (h->attempts >= HOOK_ATTEMPTS) {
		vx_warn("manager: job %" PRId64 ": webhook %s given up after %u attempts", h->job,
			VX_URL_SAFE(h->url), h->attempts);
		hook_drop(hs, h);
		return;
	}
	vx_info("manager: job %" PRId64 ": webhook %s failed (%s, status %ld); again in %u s",
		h->job, VX_URL_SAFE(h->url), curl_easy_strerror(res), code,
		1u << (h->attempts - 1));
	h->next_ms = now_ms + (1000ull << (h->attempts - 1));
}

void vx__mgr_hooks_tick(struct mgr_hooks *hs, uint64_t now_ms)
{
	struct CURLMsg *msg;
	int running = 0, left = 0;

	for (uint32_t i = 0; i < HOOKS_MAX; i++) {
		struct mgr_hook *h = &hs->h[i];

		if (h->used && !h->easy && now_ms >= h->next_ms)
			hook_start(hs, h);
	}
	(void)curl_multi_perform(hs->multi, &running);
	while ((msg = curl_multi_info_read(hs->multi, &left))) {
		struct mgr_hook *h = NULL;
		long code = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&h);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		if (h)
			hook_ended(hs, h, msg->data.result, code, now_ms);
	}
}
