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
/* vx__upstream_start_guarded() whose https certificates are verified with the PEM bundle
 * @ca_file (borrowed until the request is freed) in place of the system store; NULL: that. */
VX_MUST_CHECK int vx__upstream_start_ca(struct upstream **out, const char *url, bool head,
					const char *const *headers, uint32_t nr_headers,
					const struct vx_outbound_policy *policy, bool local,
					const char *ca_file);
/* Blocks until the response's status and headers are in (or the request failed: false). */
bool vx__upstream_wait_headers(struct upstream *u);
/* Up to @len body bytes; 0 at the end of a complete body, -EIO when the transfer failed. */
ssize_t vx__upstream_read(struct upstream *u, void *buf, size_t len);
/* Ends the transfer if it still runs, joins the thread, frees. NULL: no-op. */
void vx__upstream_free(struct upstream *u);

/* ---- the front door (connect.c) ---------------------------------------------------------- */

#define VX__CONNECT_PORTS_MAX 16

/* What the accept path and its CONNECT tunnels need; the hooks are proxy.c's. */
struct vx__front_cfg {
	int listen_fd; /* owned from vx__front_start() on, whatever it returns */
	bool forward;  /* CONNECT is served (else 403) */
	/* CONNECT refused all the same (403): the forward proxy asks a token, which a tunnel
	 * does not carry here */
	bool connect_refused;
	const struct vx_outbound_policy *outbound; /* borrowed */
	uint16_t ports[VX__CONNECT_PORTS_MAX];	   /* target ports a tunnel may reach */
	uint32_t nr_ports;
	uint32_t max_tunnels;	    /* tunnels (from their first byte) at once */
	uint32_t header_max;	    /* bytes of a CONNECT head */
	uint32_t header_timeout_ms; /* the whole head within this, from accept */
	uint32_t idle_timeout_ms;   /* a tunnel with no byte either way this long is closed */
	/* a connection's first request head (through its blank line) within this of the accept,
	 * or 408 and closed (slow-loris); 0: 10 s */
	uint32_t request_timeout_ms;
	uint32_t request_header_max; /* bytes of that head; more: 431 (the HTTP server's limit) */
	/* connections of one client address waiting for their first head at once; a new one
	 * beyond it closes that address's oldest; 0: no cap but the table's */
	uint32_t pending_per_addr;
	/* the listener speaks TLS (proxy.tls; borrowed, NULL: plaintext): a connection whose
	 * first byte opens a TLS handshake gets a thread that ends its TLS (handshake within
	 * request_timeout_ms of the accept) and relays it to a socket pair whose other end
	 * comes back to the front door as if accepted in plaintext (the same deadline), so
	 * CONNECT, interception and the HTTP server work over TLS as without it; anything
	 * else is closed */
	struct ssl_ctx_st *tls_ctx;
	uint32_t max_tls; /* such connections at once (more are closed at once) */
	/* the listener speaks TLS that the HTTP server ends itself (tls_ctx NULL): a connection
	 * whose first byte opens a TLS handshake goes to handoff at once, anything else is
	 * closed; a CONNECT inside reaches the HTTP server (which refuses it) */
	bool tls_direct;
	/* one request's worth of the rate limits for client address @ip, or false (429) */
	bool (*rate_ok)(void *arg, const char *ip);
	/* every connection that is not a CONNECT goes here (owned by the callee) */
	void (*handoff)(void *arg, int fd, const struct sockaddr *sa, socklen_t sl);
	/* TLS interception (NULL: none): a CONNECT to a host it matches is answered 200, its
	 * TLS ended with a minted leaf, and the plain side of a socket pair goes to handoff_tls
	 * (owned by the callee) with @origin "https://host[:port]" the requests are for, and
	 * the client's address @sa */
	struct vx__hijack *hijack;
	void (*handoff_tls)(void *arg, int fd, const struct sockaddr *sa, socklen_t sl,
			    const char *origin);
	void *arg;
};

struct vx__front;

/* Accepts on cfg->listen_fd on a thread of its own. Returns 0 or a negative errno. */
VX_MUST_CHECK int vx__front_start(struct vx__front **out, const struct vx__front_cfg *cfg);
/* Stops accepting, closes every tunnel, waits for their threads, frees. NULL: no-op. */
void vx__front_stop(struct vx__front *f);
/* TLS interception (hijack.c). */
struct ssl_st;
/* The server side of TLS with @ssl on non-blocking @fd, handshake done before @deadline (ms);
 * false with @why. */
bool vx__tls_accept(struct ssl_st *ssl, int fd, uint64_t deadline, char *why, size_t why_len);
/* The CA (@ca_key 0600 or stricter) and host regexes; 0 or -EINVAL/-ENOMEM with @err. */
VX_MUST_CHECK int vx__hijack_load(struct vx__hijack **out, const char *ca_cert, const char *ca_key,
				  const char *const *hosts, uint32_t nr_hosts, char *err,
				  size_t err_len);
void vx__hijack_free(struct vx__hijack *h);
/* Whether CONNECTs to @host are intercepted. @h NULL: false. */
bool vx__hijack_match(const struct vx__hijack *h, const char *host);
/* The server side of TLS on non-blocking @fd with a leaf for @host, handshake done before
 * @deadline (ms); NULL with @why. */
struct ssl_st *vx__hijack_accept(struct vx__hijack *h, int fd, const char *host, bool ipv6,
				 uint64_t deadline, char *why, size_t why_len);

/* True when @sa is loopback or one of this host's addresses (a requester on this host). */
bool vx__sa_local(const struct sockaddr *sa);

#endif /* VX_PROXY_INT_H */
