/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_proxy.h: the registry mirror in front of a peer (`vx serve --proxy`). It speaks the OCI
 * distribution API as a pull-through mirror over plain HTTP (libmicrohttpd, one thread per
 * connection, bounded): blob GETs are peer downloads whose task id is the blob's digest, so a
 * blob pulled under several names or registries is one task, streamed to the client in order
 * as pieces land and verified against the digest; everything else (the /v2/ probe and token
 * handshake, manifests, tag lists, blob HEADs) passes through to the upstream with libcurl. A
 * stalled or failed P2P path continues the same response from the upstream (Range for the
 * rest). spec/proxy.md has the routes, limits and the security rules.
 */
#ifndef VX_PROXY_H
#define VX_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"
#include "vx_proxy_fwd.h"

struct vx_peer;
struct vx_proxy;
struct vx_outbound_policy;

#define VX_PROXY_UPSTREAMS_MAX 16
#define VX_PROXY_PUBLIC_MAX    32

struct vx_proxy_cfg {
	const char *listen; /* "HOST:PORT"; port 0 picks one */
	/* base URLs "http[s]://host[:port]"; the first serves clients that name none (no ns=) */
	const char *upstreams[VX_PROXY_UPSTREAMS_MAX];
	uint32_t nr_upstreams;
	/* repository name patterns (fnmatch, "*" crosses "/") whose blobs are public: a client's
	 * credentials do not make the task private and no access proof is asked */
	const char *public_repos[VX_PROXY_PUBLIC_MAX];
	uint32_t nr_public_repos;
	uint32_t max_conns;	     /* connections at once; 0: 256 */
	uint32_t max_conns_per_addr; /* of which one client address may hold; 0: 64;
				      * UINT32_MAX: no limit (HTTP requests; tunnels count
				      * against max_tunnels) */
	uint32_t rate_per_s;	     /* requests per second (all clients); 0: 1000 */
	uint32_t client_rate_per_s;  /* requests per second per client address; 0: 200;
				     * UINT32_MAX: no per-client limit */
	uint32_t client_timeout_ms;  /* an idle client is closed after this; 0: 30 s */
	/* a connection's first request head, whole, within this of the accept (else 408); it
	 * holds no HTTP server connection until then; 0: 10 s */
	uint32_t header_timeout_ms;
	uint32_t stall_ms;   /* no P2P progress this long: go on from the upstream; 0: 5 s */
	uint32_t header_max; /* bytes of a request's line and headers; 0: 16 KiB */
	/* a blob's (or forward-proxy file's) job runs on to the end of its task after its
	 * response ended (a Range read the rest lands in the background) */
	bool prefetch;
	/* the HTTP forward proxy: absolute-form requests are served (off: 403) */
	bool forward;
	/* regexes of URLs that go through P2P (vx_proxy_fwd.h); none: the defaults */
	const char *rules[VX_PROXY_RULES_MAX];
	uint32_t nr_rules;
	/* regexes of URLs that never go P2P, checked first (package metadata); none: the
	 * defaults (vx_proxy_direct_default) */
	const char *direct_rules[VX_PROXY_RULES_MAX];
	uint32_t nr_direct_rules;
	/* a secret (copied; never logged): absolute-form requests must carry
	 * "Proxy-Authorization: Bearer <it>" (else 407) and CONNECT is refused (403); NULL: none.
	 * What another cluster's seeds present when they use this one as their origin. */
	const char *forward_token;
	/* CONNECT tunnels (served when forward is set): target ports allowed (none: 443 only),
	 * tunnels at once (0: 64), the head within this of the accept (0: 10 s), a tunnel idle
	 * this long closed (0: 300 s) */
	uint16_t connect_ports[16];
	uint32_t nr_connect_ports;
	uint32_t max_tunnels;
	uint32_t connect_header_timeout_ms;
	uint32_t tunnel_idle_timeout_ms;
	/* TLS interception of CONNECTs to hosts matching these regexes (vx_proxy_rules_compile()
	 * rules, matched against the host name alone) with leaves the CA signs; the CA key file
	 * must be of mode 0600 or stricter. None: no interception. */
	const char *hijack_hosts[VX_PROXY_RULES_MAX];
	uint32_t nr_hijack_hosts;
	const char *hijack_ca_cert, *hijack_ca_key;
	/* PEM CA bundle that verifies the intercepted origins the proxy connects to itself (in
	 * place of the system store; copied); NULL: the system store */
	const char *hijack_upstream_ca;
	/* HTTPS on the listener (proxy.tls.cert, proxy.tls.key: PEM, the key mode 0600 or
	 * stricter; both or neither): clients speak TLS 1.3/1.2 and only that; NULL: plain HTTP */
	const char *tls_cert, *tls_key;
	/* where the forward proxy may connect for a client (copied); NULL: the default policy */
	const struct vx_outbound_policy *outbound;
};

/*
 * vx_proxy_start() - listen on cfg->listen and serve. @p is borrowed and must outlive the
 * proxy. @out: OUT, owned (vx_proxy_stop()). Returns 0, -EINVAL (bad address or upstream, no
 * upstream), -EADDRINUSE or another errno, with one line in @err.
 */
VX_MUST_CHECK int vx_proxy_start(struct vx_proxy **out, struct vx_peer *p,
				 const struct vx_proxy_cfg *cfg, char *err, size_t err_len);

/*
 * vx_proxy_set_rules() - replace the running proxy.rules (URLs that go P2P) and
 * proxy.direct_rules (never P2P) with @rules and @direct (as vx_proxy_cfg: 0 entries: the
 * defaults), for requests from now on; any thread. Returns 0, or -EINVAL with @err (a pattern
 * vx_proxy_rules_compile() refuses): the running rules are kept.
 */
VX_MUST_CHECK int vx_proxy_set_rules(struct vx_proxy *px, const char *const *rules,
				     uint32_t nr_rules, const char *const *direct,
				     uint32_t nr_direct, char *err, size_t err_len);

/* The port the mirror listens on. */
uint16_t vx_proxy_port(const struct vx_proxy *px);

/* Closes every connection (cancelling their peer jobs), stops the threads, frees. NULL: no-op.
 * Call it before vx_peer_free(). */
void vx_proxy_stop(struct vx_proxy *px);

#endif /* VX_PROXY_H */
