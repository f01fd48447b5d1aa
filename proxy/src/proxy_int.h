/* SPDX-License-Identifier: Apache-2.0 */
/* proxy_int.h: the registry mirror's internals shared by proxy.c and upstream.c. */
#ifndef VX_PROXY_INT_H
#define VX_PROXY_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "vx_compiler.h"
#include "vx_outbound.h"

#define UPSTREAM_HEADERS_MAX 16

/* One upstream request in flight (upstream.c). */
struct upstream {
	CURL *curl;
	struct curl_slist *hdrs;
	pthread_t thread;
	bool started;
	int rd, wr; /* socket pair: the curl thread writes the body to wr, the reader reads rd */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool headers_done, finished; /* under lock */
	long status;		     /* HTTP status; 0: no response */
	int64_t length;		     /* Content-Length, -1 unknown */
	int curl_rc;
	uint32_t nr_headers;
	const struct vx_outbound_policy *outbound; /* NULL: any address */
	bool outbound_local;			   /* the requester is on this host */
	bool was_refused;			   /* the policy refused a connection */
	char refused[128];			   /* why */
	struct {
		const char *name; /* static, lowercase */
		char value[1024];
	} headers[UPSTREAM_HEADERS_MAX];
};

/*
 * vx__upstream_start() - GET (or HEAD) @url with @headers ("Name: value") on a thread of its own.
 * Returns 0 and *@out owned (vx__upstream_free()), or -ENOMEM / -EAGAIN.
 */
VX_MUST_CHECK int vx__upstream_start(struct upstream **out, const char *url, bool head,
				     const char *const *headers, uint32_t nr_headers);
/*
 * vx__upstream_start_guarded() - vx__upstream_start() whose every connection (redirects
 * included) goes only to an address @policy (borrowed, outlives the request) allows for a
 * requester on this host (@local) or not (vx_outbound_check()); a refused one fails the
 * request (was_refused set).
 */
VX_MUST_CHECK int vx__upstream_start_guarded(struct upstream **out, const char *url, bool head,
					     const char *const *headers, uint32_t nr_headers,
					     const struct vx_outbound_policy *policy, bool local);
/* Blocks until the response's status and headers are in (or the request failed: false). */
bool vx__upstream_wait_headers(struct upstream *u);
/* Up to @len body bytes; 0 at the end of a complete body, -EIO when the transfer failed. */
ssize_t vx__upstream_read(struct upstream *u, void *buf, size_t len);
/* Ends the transfer if it still runs, joins the thread, frees. NULL: no-op. */
void vx__upstream_free(struct upstream *u);

#endif /* VX_PROXY_INT_H */
