/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_client.h: libvx, the client side of the local API of `vx serve` (spec/api.md). A program
 * connects to the daemon's unix socket, asks it to download a URL (to a file, or in stream mode
 * by reading the task's content file as it fills), lists, stats and deletes tasks. Messages are
 * control frames (TLV header + CBOR map) as on the scheduler channel.
 *
 * Every call blocks. There is no global state: handles are independent. One handle is NOT
 * thread-safe: use it from one thread at a time (or one handle per thread). Errors are negative
 * errno values or VX_E* codes (vx_err.h, vx_strerror()).
 */
#ifndef VX_CLIENT_H
#define VX_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "vx_compiler.h"
#include "vx_download.h"

#define VX_CLIENT_LIST_MAX 4096 /* tasks in one list answer */

struct vx_client;

/*
 * vx_client_connect() - connect to the daemon's socket at @socket_path (borrowed) and return a
 * handle in *@out (owned; vx_client_close()). @timeout_ms bounds the connect and the wait for
 * each stat/list/delete answer (0: 10 s). A handle left idle longer than the daemon's idle limit
 * is dropped by the daemon; the next call reconnects once, transparently.
 * Returns 0, -ENOENT (no socket: no daemon), -ECONNREFUSED (stale socket), -EACCES (the socket's
 * permissions refuse us), -ENAMETOOLONG, -ETIMEDOUT, -ENOMEM. On failure *@out is NULL.
 */
VX_MUST_CHECK int vx_client_connect(struct vx_client **out, const char *socket_path,
				    uint32_t timeout_ms);

/* Closes the connection and frees @c. NULL is a no-op. */
void vx_client_close(struct vx_client *c);

/*
 * Called for every progress event, on the caller's thread, inside vx_client_download().
 * @p is borrowed for the call. @content_fd is -1 until the daemon has passed the task's content
 * file (stream mode only); then it is a read-only descriptor, lent until vx_client_download()
 * returns (the client closes it): read [0, p->contiguous) from it with pread().
 */
typedef void (*vx_client_progress_fn)(void *arg, const struct vx_download_progress *p,
				      int content_fd);

/*
 * vx_client_download() - ask the daemon to download @req (borrowed) and wait for the end.
 * @fn (may be NULL) sees each progress event with @arg. *@res is always filled: status, the
 * daemon's message, the task id and the final counters. In stream mode the callback is also
 * called once with the final counters just before the function returns, so a reader can drain
 * the content up to totals.contiguous.
 * Returns 0 when the download succeeded; otherwise the daemon's status (negative errno or VX_E*,
 * with res->msg) or a local error: -EINVAL (bad request: missing url, too many headers, a string
 * over its limit), -ECONNRESET (the daemon went away), -EPROTO (malformed answer), -ETIMEDOUT
 * (nothing from the daemon for @req->timeout_ms plus 10 s, when a timeout was set).
 * @req's uid, gid, pid, chown_output and groups are not sent: the daemon takes who asks from
 * the socket. A daemon running as root acts for a caller of another uid with the caller's own
 * rights (spec/api.md section 1): a file:// URL the caller cannot read fails with -EACCES, and
 * the output is created by and for the caller in the directory @req->output named when the
 * request was taken, as if the caller had written it.
 */
VX_MUST_CHECK int vx_client_download(struct vx_client *c, const struct vx_download_request *req,
				     vx_client_progress_fn fn, void *arg,
				     struct vx_download_result *res);

/*
 * vx_client_stat() - fill *@out with the daemon's view of task @task_id (64 lowercase hex);
 * out->url ("" when the daemon does not know it) is lent until the next call on @c.
 * Returns 0, -EINVAL (malformed id), -ENOENT (no such task), or a transport error as above.
 */
/*
 * vx_client_open_content() - download @req (borrowed; stream mode: req->output must be NULL)
 * and return in *@fd (owned by the caller; -1 on failure) a read-only descriptor of the whole
 * content. With req->memory the daemon keeps the task in its memory tier and the descriptor
 * is a memfd sealed against every change (no copy of the bytes is made for the caller); when
 * memory is short, or without req->memory, it is the task's content file opened read-only.
 * *@res as vx_client_download() fills it. Returns what vx_client_download() returns, -EINVAL
 * (req->output set), or -EACCES when the download succeeded but the daemon passed no
 * descriptor (a private task this caller has not proven it may read: spec/peer.md).
 */
VX_MUST_CHECK int vx_client_open_content(struct vx_client *c, const struct vx_download_request *req,
					 int *fd, struct vx_download_result *res);

VX_MUST_CHECK int vx_client_stat(struct vx_client *c, const char *task_id,
				 struct vx_download_task *out);

/* Called once per listed task; @t and its url ("" when unknown) are lent for the call. */
typedef void (*vx_client_task_fn)(void *arg, const struct vx_download_task *t);

/*
 * vx_client_list() - list the daemon's tasks, calling @fn(@arg, task) for each (at most
 * VX_CLIENT_LIST_MAX). *@truncated (may be NULL) is set when the daemon had more tasks than one
 * answer holds. Returns the number of tasks (>= 0) or a negative error.
 */
VX_MUST_CHECK int vx_client_list(struct vx_client *c, vx_client_task_fn fn, void *arg,
				 bool *truncated);

/*
 * vx_client_delete() - ask the daemon to delete task @task_id and its content. Returns 0,
 * -EINVAL (malformed id), -ENOENT, -EBUSY (a download of it is running), or a transport error.
 */
VX_MUST_CHECK int vx_client_delete(struct vx_client *c, const char *task_id);

/*
 * vx_client_cache() - one persistent cache verb (`vx cache`): req->cache_op is the local API
 * type (VX_API_CACHE_IMPORT, _EXPORT, _STAT or _DELETE, vx_api_msg.h); cache_id, cache_input,
 * output, tag, application, piece_length, replicas, ttl_s and overwrite as the verb takes them.
 * Waits @wait_ms for the answer (0: the connect timeout; an import copies a file). Fills @res:
 * status, msg, task_id, totals.content_length and piece_count, piece_length, replicas, holders,
 * ttl_left_s. Returns res->status.
 */
VX_MUST_CHECK int vx_client_cache(struct vx_client *c, const struct vx_download_request *req,
				  uint32_t wait_ms, struct vx_download_result *res);

/* vx_client_cache_list() - as vx_client_list(), the daemon's persistent cache tasks. */
VX_MUST_CHECK int vx_client_cache_list(struct vx_client *c, vx_client_task_fn fn, void *arg,
				       bool *truncated);

/*
 * The human text of the last failed call on @c (the daemon's message when it sent one, else
 * vx_strerror() of the error); "" after a success. Lent until the next call on @c.
 */
const char *vx_client_errmsg(const struct vx_client *c);

#endif /* VX_CLIENT_H */
