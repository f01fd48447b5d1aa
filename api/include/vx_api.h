/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_api.h: the local API server of `vx serve`: a unix socket on which local clients (libvx,
 * `vx get --socket`) ask the daemon to download, list, stat and delete tasks (spec/api.md).
 * The server runs its own thread with an epoll loop; it is not the data plane. It checks each
 * client's peer credentials, decodes requests with vortex's codec (vx_api_msg.h) and calls the
 * daemon's ops on its thread; the daemon answers a download from any thread through struct
 * vx_api_call.
 *
 * Limits: at most VX_API_CLIENTS_MAX clients, frames bounded as on the control channel
 * (VX_CTL_FRAME_MAX), one download in flight per client connection, a client with no request in
 * flight that stays silent for idle_timeout_ms is dropped. Progress is coalesced per call (the
 * latest counters win), so a slow client never blocks the daemon or grows a buffer.
 */
#ifndef VX_API_H
#define VX_API_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_compiler.h"
#include "vx_download.h"

#define VX_API_CLIENTS_MAX     256	/* connections at once */
#define VX_API_MODE_DEFAULT    0660	/* socket file mode */
#define VX_API_IDLE_MS_DEFAULT 30000u	/* idle client drop */
#define VX_API_RATE_DEFAULT    1000u	/* requests per second per client uid */
#define VX_API_RATE_UIDS       64u	/* client uids with a bucket of their own at once */
#define VX_API_UID_CONNS       224u	/* default: connections one client uid may hold */
#define VX_API_IDLE_MS_MAX     3600000u /* largest idle_timeout_ms accepted */
#define VX_API_LIST_MAX	       4096	/* tasks in one list answer */
#define VX_API_PATH_MAX	       108	/* sizeof(sun_path), with the NUL */

struct vx_api_server;

/* One DOWNLOAD in flight; owned by the server until vx_api_call_done() (see ops.download). */
struct vx_api_call;

/*
 * The daemon's side. Every op runs on the API thread and must not block long (no network, no
 * disk waits): start work elsewhere and answer through the call.
 */
struct vx_api_ops {
	/*
	 * Start downloading @r. From here the daemon owes exactly one vx_api_call_done(@call),
	 * from any thread, also after cancel() and also when it fails at once.
	 */
	void (*download)(void *ctx, struct vx_api_call *call, const struct vx_download_request *r);
	/*
	 * The client of @call went away (or the server is being freed): stop when convenient and
	 * still call vx_api_call_done(). Not called once done() was called; but done() on another
	 * thread may race with it, so cancel() must ignore a call it no longer knows (the pointer
	 * stays valid until cancel() returns).
	 */
	void (*cancel)(void *ctx, struct vx_api_call *call);
	/*
	 * Fill *@out for @task_id (NUL-terminated, 64 hex). out->url, when set, is lent by the
	 * daemon until its next stat() or list() call. Returns 0 or -ENOENT.
	 */
	int (*stat)(void *ctx, const char *task_id, struct vx_download_task *out);
	/*
	 * Fill up to @max entries of @out (zeroed); returns how many tasks there are in all (may
	 * exceed @max). Each url, when set, is lent until the next stat() or list() call.
	 */
	uint32_t (*list)(void *ctx, struct vx_download_task *out, uint32_t max);
	/* Delete @task_id and its content. Returns 0, -ENOENT or -EBUSY. */
	int (*remove)(void *ctx, const char *task_id);
	/*
	 * Optional: as list(), the persistent cache tasks only (`vx cache ls`). NULL: the local
	 * API answers cache-list with -EOPNOTSUPP. The cache verbs import, export, stat and delete
	 * come through download() with r->cache_op set.
	 */
	uint32_t (*cache_list)(void *ctx, struct vx_download_task *out, uint32_t max);
};

struct vx_api_server_cfg {
	const char *socket_path;      /* borrowed for new(); < VX_API_PATH_MAX bytes */
	uint32_t mode;		      /* socket file mode; 0: VX_API_MODE_DEFAULT (0660) */
	const char *group;	      /* group name or decimal gid to chown to; NULL: our egid */
	uint32_t max_clients;	      /* 0: VX_API_CLIENTS_MAX; at most VX_API_CLIENTS_MAX */
	uint32_t idle_timeout_ms;     /* 0: VX_API_IDLE_MS_DEFAULT; at most VX_API_IDLE_MS_MAX */
	const struct vx_api_ops *ops; /* borrowed until free; all five ops required */
	void *ctx;		      /* passed to every op */
};

/*
 * vx_api_server_new() - create the socket and start the API thread. The parent directory is
 * created (0755) when missing. An existing socket file nobody answers on is replaced; if a
 * daemon answers, it fails with -EADDRINUSE. The socket gets @cfg->mode and group; clients are
 * accepted when their uid is 0 or our euid, or their gid or one of their user's groups is the
 * socket's group; others get status -EACCES and are closed. Every accepted request is logged
 * with the client's uid and pid.
 * Returns 0 with *@out (owned; vx_api_server_free()), or -EINVAL (bad cfg), -ENAMETOOLONG,
 * -EADDRINUSE, -ENOTSOCK (the path exists and is not a socket), -ENOENT (unknown group),
 * -errno of a failed syscall, -ENOMEM; each failure is logged with the reason.
 */
VX_MUST_CHECK int vx_api_server_new(struct vx_api_server **out,
				    const struct vx_api_server_cfg *cfg);

/*
 * vx_api_server_free() - stop the thread, close every client (the API thread calls cancel()
 * for each download in flight before it exits) and remove the socket path if it is still ours.
 * Calls the daemon still owns stay valid until their vx_api_call_done(), which then sends
 * nothing. Not from an op. NULL is a no-op.
 */
void vx_api_server_free(struct vx_api_server *s);

/*
 * vx_api_server_set_rate() - any thread: each client uid may make @per_s requests a second
 * (a token bucket per uid holding a second's worth; VX_API_RATE_UIDS uids at once, the longest
 * idle one giving its place); more are answered -EAGAIN. 0: no limit. Until called:
 * VX_API_RATE_DEFAULT.
 */
void vx_api_server_set_rate(struct vx_api_server *s, uint32_t per_s);

/*
 * vx_api_server_set_conns_per_uid() - any thread: each client uid may hold @n connections at
 * once (the socket's "source address"), so one local user cannot take every client slot; the
 * next is answered -EUSERS and closed at accept. 0: no limit. Until called: VX_API_UID_CONNS.
 */
void vx_api_server_set_conns_per_uid(struct vx_api_server *s, uint32_t n);

/* The path the server listens on (lent until free). */
const char *vx_api_server_path(const struct vx_api_server *s);

/*
 * vx_api_call_progress() - any thread. Queue @p (borrowed; p->task_id required) as the call's
 * latest progress; it replaces one not yet sent. Dropped silently once the client is gone.
 */
void vx_api_call_progress(struct vx_api_call *call, const struct vx_download_progress *p);

/*
 * vx_api_call_send_fd() - any thread, stream mode. Pass a read-only descriptor of the task's
 * content file to the client. @fd is borrowed: the server dups it (the caller may close its own
 * at once). It travels with the next progress event or the final answer of the call. A second
 * call replaces a descriptor not yet sent; one is sent at most once per call. Ignored once the
 * client is gone or when dup fails (logged).
 */
void vx_api_call_send_fd(struct vx_api_call *call, int fd);

/*
 * vx_api_call_done() - any thread, exactly once per call. Send @res (borrowed) as the final
 * answer and release the call; @call must not be used afterwards.
 */
void vx_api_call_done(struct vx_api_call *call, const struct vx_download_result *res);

/* The request of @call (lent until vx_api_call_done()). */
const struct vx_download_request *vx_api_call_request(const struct vx_api_call *call);

#endif /* VX_API_H */
