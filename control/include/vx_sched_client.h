/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_sched_client.h: the peer side of the control channel, for the daemon and for tools.
 *
 * A client holds one connection to each scheduler of its list, says hello on each, and maps
 * every task to one scheduler by rendezvous (consistent) hashing of the task id over the list.
 * When a connection drops it reconnects with exponential backoff; tasks whose scheduler is down
 * move to the next scheduler in their hash order and are registered there again together with
 * the pieces already held, so no download restarts from zero. Answers to those automatic
 * re-registrations arrive through the event callback as REGISTER responses.
 *
 * Two ways to drive it: from another event loop (poll vx_sched_client_fd() for readability
 * and call vx_sched_client_process(c, 0)), or blocking (vx_sched_client_call() runs the loop
 * until its answer arrives). Not thread-safe: one thread owns a client.
 */
#ifndef VX_SCHED_CLIENT_H
#define VX_SCHED_CLIENT_H

#include <stdint.h>

#include "vx_compiler.h"
#include "vx_tls.h"
#include "vx_ctl_msg.h"

struct vx_sched_client;

#define VX_SCHED_CLIENT_SERVERS_MAX 16
#define VX_SCHED_CLIENT_TASKS_MAX   4096
#define VX_SCHED_CLIENT_PENDING_MAX 1024 /* requests in flight per connection */

/*
 * Called with every answer (@status is the response status, or a negative errno such as
 * -ETIMEDOUT or -ECONNRESET when no answer came; then @resp is NULL). @resp is lent for the call.
 */
typedef void (*vx_sched_client_cb)(void *arg, int status, const struct vx_ctl_msg *resp);

/*
 * Called with every server push (tag CONTROL_EVENT), and with the answers to automatic
 * re-registrations and to register, reschedule or progress requests sent without a callback
 * (tag CONTROL_RESPONSE, type REGISTER, RESCHEDULE or PROGRESS, with task_id filled in by the
 * client: the scheduler's responses carry none; a progress answer carries the manifest digests
 * the peer has not seen yet). @server is the index in the list.
 */
typedef void (*vx_sched_client_event_cb)(void *arg, uint32_t server, const struct vx_ctl_msg *m);

struct vx_sched_client_cfg {
	const char *servers[VX_SCHED_CLIENT_SERVERS_MAX]; /* "HOST:PORT" (copied) */
	uint32_t nr_servers;
	struct vx_ctl_msg hello; /* host identity fields and token (copied at new) */
	uint32_t backoff_min_ms; /* first reconnect delay (default 100) */
	uint32_t backoff_max_ms; /* cap of the doubling delay (default 5000) */
	uint32_t timeout_ms;	 /* per request (default 10000) */
	uint32_t pieces_max;	 /* held-pieces bitmap per task (default 65536) */
	/* an established connection that brought nothing for this long is dropped as if closed
	 * (members mode: the announce is a heartbeat the scheduler answers); 0: never */
	uint32_t silence_ms;
	vx_sched_client_event_cb on_event;
	/* optional: scheduler @server answered our hello (first time or after a reconnect), after
	 * the tasks it owns were registered again; called on the loop thread, must not block */
	void (*on_up)(void *arg, uint32_t server);
	void *arg;
	/* TLS to every scheduler (a VX_TLS_CLIENT context, borrowed, reloaded by process calls):
	 * the scheduler's certificate must have the scheduler role and name the address dialled.
	 * NULL: plaintext */
	struct vx_tls_ctx *tls;
	/* members mode over @tls (spec/peer.md "Members"): every connection opens with the
	 * STARTTLS header (vx_frame.h) before its ClientHello, and a server's certificate is any
	 * of the cluster CA's (a member's: a peer or seed role, not named by its address) */
	bool starttls;
};

/* What the client remembers of a task to register it again elsewhere (copied). */
struct vx_sched_client_task {
	struct vx_ctl_str task_id;
	struct vx_ctl_str url;
	/* what the task id is derived from besides url (spec/control.md section 5) */
	struct vx_ctl_str tag;
	struct vx_ctl_str app;
	struct vx_ctl_str request_id;	   /* the client's request id, for logs; may be empty */
	uint64_t fixed_piece_len;	   /* user-fixed piece length; 0 none */
	const struct vx_ctl_str *filtered; /* query keys left out of the id; none: default */
	uint32_t nr_filtered;		   /* at most VX_CTL_FILTERS_MAX */
	uint64_t piece_len;
	int64_t content_len; /* -1 unknown */
	bool need_bts;
	bool priv; /* the task is private (spec/control.md key 65) */
};

/*
 * vx_sched_client_new() - set up (connections start at the first process call). Returns 0 and
 * *@out (owned, vx_sched_client_free()), -EINVAL for a bad cfg or address, -ENOMEM.
 */
VX_MUST_CHECK int vx_sched_client_new(struct vx_sched_client **out,
				      const struct vx_sched_client_cfg *cfg);
/* Closes every connection; pending callbacks get -ECANCELED. Takes @c; NULL is a no-op. */
void vx_sched_client_free(struct vx_sched_client *c);

/* One fd (an epoll set) that is readable whenever the client has work; lent until free. */
int vx_sched_client_fd(const struct vx_sched_client *c);

/*
 * vx_sched_client_process() - do all I/O that is ready, waiting at most @timeout_ms (0: do not
 * wait): connect/reconnect, hello, re-registration, answers, events, timeouts. Callbacks run
 * from here. Returns 0 or a negative errno when the client itself is unusable.
 */
int vx_sched_client_process(struct vx_sched_client *c, int timeout_ms);

/*
 * vx_sched_client_register() - register a task (remembered until vx_sched_client_forget())
 * with the scheduler that owns it. @cb gets the answer. Returns 0, -ENOSPC (too many tasks),
 * -EINVAL, -ENOMEM.
 */
VX_MUST_CHECK int vx_sched_client_register(struct vx_sched_client *c,
					   const struct vx_sched_client_task *t,
					   vx_sched_client_cb cb, void *arg);

/*
 * vx_sched_client_send() - send request @m (borrowed; tag and rid are set here) to the
 * scheduler owning m->task_id (or the first reachable one without a task id). Progress messages
 * also update the held-pieces bitmap used for re-registration. Returns 0, -ENOTCONN (no
 * scheduler reachable right now), -EBUSY (too many requests in flight), -EINVAL.
 */
VX_MUST_CHECK int vx_sched_client_send(struct vx_sched_client *c, struct vx_ctl_msg *m,
				       vx_sched_client_cb cb, void *arg);

/*
 * Load reported by the periodic announce the client sends to every scheduler (at the interval
 * the hello answer gives), which also keeps idle connections from timing out.
 */
void vx_sched_client_set_load(struct vx_sched_client *c, uint32_t uploads, uint64_t tx_bps);

/* Forgets a task (after finished, failed or leave). */
void vx_sched_client_forget(struct vx_sched_client *c, struct vx_ctl_str task_id);

/*
 * vx_sched_client_call() - blocking form: send @m and run the loop until @cb has been called
 * or @timeout_ms passed (waiting also for a scheduler to become reachable). Returns 0 when @cb
 * ran, -ETIMEDOUT otherwise (then @cb is never called).
 */
VX_MUST_CHECK int vx_sched_client_call(struct vx_sched_client *c, struct vx_ctl_msg *m,
				       vx_sched_client_cb cb, void *arg, int timeout_ms);

/*
 * vx_sched_client_set_servers() - the scheduler list from now on (the cluster configuration):
 * a new address is dialled, one no longer listed is closed and never dialled again (its tasks
 * move to the next in their order), indexes of the others stay. Returns 0, -ENOSPC (more than
 * VX_SCHED_CLIENT_SERVERS_MAX ever listed: the rest are left out), -EINVAL (a bad address).
 */
int vx_sched_client_set_servers(struct vx_sched_client *c, const char *const *servers, uint32_t n);

/* Index of the scheduler that currently owns @task_id, or -1 when none is reachable. */
int vx_sched_client_owner(struct vx_sched_client *c, struct vx_ctl_str task_id);

/* How often the established connection to server @i was lost (for logs and tests). */
uint32_t vx_sched_client_drops(const struct vx_sched_client *c, uint32_t i);

/* True when the connection to server @i is up and has said hello. */
bool vx_sched_client_up(const struct vx_sched_client *c, uint32_t i);
/*
 * How the hello on connection @i went: 1 up, 0 not answered yet, -EACCES refused (our token
 * or host key), -ECONNREFUSED dropped or unreachable since its last good hello, -EINVAL for a
 * bad index. A daemon checks it once at start to fail loudly on a wrong token.
 */
int vx_sched_client_hello_state(const struct vx_sched_client *c, uint32_t i);

#endif /* VX_SCHED_CLIENT_H */
