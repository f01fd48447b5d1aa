/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_sched_server.h: the scheduler as a network service: an epoll loop on one thread serving
 * many peer control connections over TCP, feeding the scheduler core (vx_sched.h) and keeping
 * its records (hosts, tasks) in sqlite (WAL). Every connection has a bounded receive buffer
 * (one frame) and a bounded send queue: a peer that does not read its answers is dropped, a peer
 * that says nothing is dropped after an idle timeout, so one slow or hostile client cannot stall
 * the others.
 */
#ifndef VX_SCHED_SERVER_H
#define VX_SCHED_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"
#include "vx_sched.h"

struct vx_sched_server;
struct vx_pcache;
struct vx_tls_ctx;

struct vx_sched_server_cfg {
	/* "HOST:PORT", "[v6]:PORT"; port 0 picks one (borrowed). NULL (not with @pki): no
	 * listener; connections come only through vx_sched_server_adopt() (members mode) */
	const char *listen;
	const char *db_path;	 /* sqlite file, created when missing (borrowed) */
	const char *tokens_path; /* join tokens (vx_sched_tokens.h); NULL: "<db_path>.tokens" */
	const char *token;	 /* deprecated --token: replaces the file's peer token; NULL */
	bool insecure_open;	 /* token-less hellos join as normal peers (never seed) */
	bool pki;		 /* run the CA (vx_pki.h): join, renew, crl requests */
	const char *pki_dir;	 /* its directory; NULL: "<db_path>.pki" (borrowed) */
	uint32_t cert_ttl_s;	 /* life of an issued certificate (VX_PKI_CERT_TTL_DEFAULT) */
	/* TLS on every connection (a VX_TLS_SERVER_OPTIONAL_CERT context, borrowed, reloaded by
	 * the server's timer); the certificate then names each host's id and role. NULL: plain */
	struct vx_tls_ctx *tls;
	/* With the CA on and no @tls, TLS from the CA's own files (server.pem, server.key, ca.pem,
	 * crl.pem); @plain_too then also takes plaintext Vortex on the same port (told apart by
	 * its first bytes): the loopback rule or --insecure-plaintext, decided by the caller. */
	bool plain_too;
	uint32_t host_ids_per_addr; /* host ids one source address (IPv6: /64) may bind (4096) */
	uint32_t host_ids_max;	    /* host ids bound in all (default 65536) */
	struct vx_sched_cfg sched;
	uint32_t conns_max;	 /* connections served at once */
	uint32_t conns_per_addr; /* connections one source address may hold at once (256); the
				  * next is closed at accept; 0 = no limit */
	uint32_t requests_per_s; /* requests one connection may make per second, a second's worth
				  * in a burst (1000); more are answered -EBUSY; 0 = no limit */
	uint32_t addr_requests_per_s; /* requests one source address may make per second over
				       * all its connections, a second's worth in a burst (4000,
				       * Dragonfly's per-server figure); more: -EBUSY; 0 = none */
	uint32_t sendq_max;	      /* bytes queued to one peer before it is dropped */
	/* memory of all connections' receive buffers (frames arriving) and of all send queues,
	 * each bounded in total: over it the connection idle longest among those holding more
	 * than their first buffer is closed, and new connections are refused (64 MiB each) */
	uint64_t recv_mem_max;
	uint64_t send_mem_max;
	uint32_t idle_ms;     /* a connection that sends nothing this long is closed */
	uint32_t hello_ms;    /* time a new connection has to say hello */
	uint32_t announce_ms; /* announce interval told to peers in the hello answer */
	/* the database's host and task records: kept this long after last seen or updated
	 * (default 7 days), and at most this many rows per table (default 1,000,000) */
	uint32_t records_keep_s;
	uint32_t records_max;
};

/* Fills @cfg with the defaults (spec/control.md). */
void vx_sched_server_cfg_default(struct vx_sched_server_cfg *cfg);

/*
 * vx_sched_server_new() - load (or create) the tokens file, open the database and bind the
 * listening socket. Returns 0 and *@out (owned, vx_sched_server_free()), -EINVAL (bad listen
 * address or cfg), -EADDRINUSE and other socket errors, VX_EDB (database
 * unusable; the log says why), -ENOMEM. A tokens file that cannot be used returns -EACCES
 * (wrong mode, bad content) or its errno, with the reason in the log.
 */
VX_MUST_CHECK int vx_sched_server_new(struct vx_sched_server **out,
				      const struct vx_sched_server_cfg *cfg);

/* The tokens file in use (created at new when it did not exist). */
const char *vx_sched_server_tokens_path(const struct vx_sched_server *srv);
/* True when vx_sched_server_new() created the tokens file. */
bool vx_sched_server_tokens_created(const struct vx_sched_server *srv);

/* The CA (NULL when cfg.pki is off); only from the loop's thread. */
struct vx_pki *vx_sched_server_pki(struct vx_sched_server *srv);

/* The TCP port actually bound (useful with port 0). */
uint16_t vx_sched_server_port(const struct vx_sched_server *srv);

/*
 * vx_sched_server_run() - serve until @stop_fd (borrowed; e.g. a signalfd, -1 for none) becomes
 * readable. Returns 0 on a clean stop or a negative errno when the loop itself fails.
 */
VX_MUST_CHECK int vx_sched_server_run(struct vx_sched_server *srv, int stop_fd);

/*
 * A component run inside the server's loop (the management API, manager/): everything it does
 * happens on the loop's one thread, so it may call the functions below and the core through
 * vx_sched_server_core() without any lock. @fd (borrowed, -1 for none) is polled for input;
 * @run is called after every loop turn in which @fd was readable or @next_ms elapsed, and
 * @next_ms returns how long the loop may sleep before the next @run (-1: until an event).
 */
struct vx_sched_server_hook {
	int fd;
	void (*run)(void *arg, uint64_t now_ms);
	int (*next_ms)(void *arg);
	void *arg;
};

/* Installs @h (copied; one hook per server, NULL removes it). Returns 0 or -errno of epoll. */
int vx_sched_server_set_hook(struct vx_sched_server *srv, const struct vx_sched_server_hook *h);

/*
 * vx_sched_server_adopt() - serve socket @fd (taken) accepted elsewhere, whose first @len bytes
 * (@pre, at most VX_FCONN_IN, copied) were already read from it: the Vortex port of a member
 * daemon hands over the connections whose first frame has a control tag (spec/peer.md
 * "Members"). A server with cfg.tls takes only a connection that opened with STARTTLS
 * (vx_frame.h); the bytes after it are the start of its TLS handshake. Loop thread only (a
 * hook). Returns 0, -EINVAL (too many bytes, or a server of the CA's own TLS: @fd closed),
 * -ENOMEM (@fd closed).
 */
int vx_sched_server_adopt(struct vx_sched_server *srv, int fd, const uint8_t *pre, size_t len);

/* The scheduler core; only from the loop's thread (a hook). */
struct vx_sched *vx_sched_server_core(struct vx_sched_server *srv);

/* An event the manager sends one host (vx_sched_server_push()); every pointer borrowed. */
struct vx_sched_push {
	enum vx_ctl_event kind; /* VX_CTL_EV_PREHEAT, _PREHEAT_MEMORY, _EVICT */
	const char *task_id;
	const char *url;	    /* NULL: none */
	uint64_t piece_len;	    /* 0: not fixed */
	const char *const *headers; /* origin request headers; secrets */
	uint32_t nr_headers;
	uint64_t rate_bps;   /* preheat: the task's share of the preheat rate; 0: none */
	const char *content; /* NULL, or what @task_id derives from (a registry blob's digest) */
};

/*
 * vx_sched_server_push() - send event @ev to @host's connection; the origin request headers
 * (secrets) only on a TLS connection or one from loopback.
 * Returns 0, -ENOTCONN (the host has no connection now), -EPIPE (its connection was dropped),
 * -EPERM (headers, and the host's connection is plaintext from another host), -E2BIG,
 * -EINVAL (a rate over VX_CTL_RATE_MAX).
 */
int vx_sched_server_push(struct vx_sched_server *srv, uint32_t host,
			 const struct vx_sched_push *ev);

/*
 * vx_sched_server_set_cluster_config() - the cluster configuration document daemons fetch
 * (spec/control.md section 15): @version (> 0), @sha (64 hex digits of sha256 of @doc) and
 * @len bytes of JSON (copied, at most VX_CTL_CFG_DOC_MAX). A new version is told to every
 * connected host (event 9); the same version and sha again is a no-op. Loop thread only (a
 * hook). Returns 0, -EINVAL, -ENOMEM.
 */
int vx_sched_server_set_cluster_config(struct vx_sched_server *srv, uint64_t version,
				       const char *sha, const uint8_t *doc, uint32_t len);
/* The version set last (0: none). */
uint64_t vx_sched_server_cluster_config_version(const struct vx_sched_server *srv);

/* Forgets @task_id in the core and the database (the admin delete-task). 0 or -ENOENT. */
int vx_sched_server_forget_task(struct vx_sched_server *srv, const char *task_id);

/* The persistent cache tasks (vx_sched_pcache.h), for the management plane on this thread. */
struct vx_pcache *vx_sched_server_pcache(struct vx_sched_server *srv);

/* Tells every holder of persistent cache task @task_id to drop it, and forgets it. 0/-ENOENT. */
int vx_sched_server_pcache_delete(struct vx_sched_server *srv, const char *task_id);

/* vx_pcache_ask() with the server's event senders. */
int vx_sched_server_pcache_ask(struct vx_sched_server *srv, const char *task_id, uint32_t host);

/* Closes every connection, flushes the database and frees @srv (taken). NULL is a no-op. */
void vx_sched_server_free(struct vx_sched_server *srv);

#endif /* VX_SCHED_SERVER_H */
