/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_api.c: the local API (vx_api.h) in front of a peer. Each client download becomes a
 * vx_peer_download() job on the same request; progress, the stream-mode fd and the result flow
 * back through the call in the same types (vx_download.h). A registry maps calls to jobs so that a client leaving cancels its job, without ever
 * touching a job whose done() already ran: both sides take the registry lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_api.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_compiler.h"
#include "vx_peer.h"

/* Downloads in flight through the socket (the API allows one per client). */
#define API_CALLS_MAX (VX_API_CLIENTS_MAX * 2)

struct api_slot {
	struct vx_api_call *call; /* NULL: free */
	struct vx_peer_job *job;
	struct vx_peer_api *api;
};

struct vx_peer_api {
	struct vx_peer *peer;
	struct vx_api_server *srv;
	pthread_mutex_t lock;
	struct api_slot slots[API_CALLS_MAX];
	struct vx_peer_url *urls; /* VX_API_LIST_MAX; lent to the API server until its next call */
};

static void job_progress(void *arg, const struct vx_download_progress *pr)
{
	struct api_slot *s = arg;

	vx_api_call_progress(s->call, pr);
}

static void job_fd(void *arg, int fd)
{
	struct api_slot *s = arg;

	vx_api_call_send_fd(s->call, fd);
}

static void job_done(void *arg, const struct vx_download_result *res)
{
	struct api_slot *s = arg;
	struct vx_peer_api *a = s->api;
	struct vx_api_call *call;

	pthread_mutex_lock(&a->lock);
	call = s->call;
	s->call = NULL;
	s->job = NULL;
	pthread_mutex_unlock(&a->lock);
	vx_api_call_done(call, res);
}

static const struct vx_peer_job_ops job_ops = {
	.progress = job_progress,
	.content_fd = job_fd,
	.done = job_done,
};

static void api_download(void *ctx, struct vx_api_call *call, const struct vx_download_request *r)
{
	struct vx_peer_api *a = ctx;
	struct vx_download_request req = *r;
	struct api_slot *s = NULL;
	int rc;

	pthread_mutex_lock(&a->lock);
	for (uint32_t i = 0; i < API_CALLS_MAX && !s; i++) {
		if (!a->slots[i].call)
			s = &a->slots[i];
	}
	if (s) {
		memset(s, 0, sizeof(*s));
		s->call = call;
		s->api = a;
	}
	pthread_mutex_unlock(&a->lock);
	if (!s) {
		struct vx_download_result res = { .status = -ENOSPC };

		snprintf(res.msg, sizeof(res.msg), "too many downloads through the socket");
		vx_api_call_done(call, &res);
		return;
	}
	/* the API server logged the request; a daemon running as root writes for its client:
	 * the file is the client's */
	req.chown_output = geteuid() == 0 && r->uid != 0;
	if (r->cache_op) {
		rc = vx_peer_cache(a->peer, r, job_done, s);
		if (rc) {
			struct vx_download_result res = { .status = rc };

			pthread_mutex_lock(&a->lock);
			s->call = NULL;
			pthread_mutex_unlock(&a->lock);
			snprintf(res.msg, sizeof(res.msg), "the daemon cannot take the request: %s",
				 vx_strerror(rc));
			vx_api_call_done(call, &res);
		}
		return;
	}
	pthread_mutex_lock(&a->lock);
	rc = vx_peer_download(a->peer, &req, &job_ops, s, &s->job);
	if (rc) {
		struct vx_download_result res = { .status = rc };

		s->call = NULL;
		pthread_mutex_unlock(&a->lock);
		snprintf(res.msg, sizeof(res.msg), "the daemon cannot take the download: %s",
			 vx_strerror(rc));
		vx_api_call_done(call, &res);
		return;
	}
	pthread_mutex_unlock(&a->lock);
}

static void api_cancel(void *ctx, struct vx_api_call *call)
{
	struct vx_peer_api *a = ctx;

	pthread_mutex_lock(&a->lock);
	for (uint32_t i = 0; i < API_CALLS_MAX; i++) {
		if (a->slots[i].call == call && a->slots[i].job)
			vx_peer_job_cancel(a->peer, a->slots[i].job);
	}
	pthread_mutex_unlock(&a->lock);
}

static int api_stat(void *ctx, const char *task_id, struct vx_download_task *out)
{
	struct vx_peer_api *a = ctx;

	return vx_peer_stat(a->peer, task_id, out, &a->urls[0]);
}

static uint32_t api_list(void *ctx, struct vx_download_task *out, uint32_t max)
{
	struct vx_peer_api *a = ctx;

	return vx_peer_list(a->peer, out, a->urls, VX_MIN(max, (uint32_t)VX_API_LIST_MAX));
}

static int api_remove(void *ctx, const char *task_id)
{
	struct vx_peer_api *a = ctx;

	return vx_peer_remove(a->peer, task_id);
}

static uint32_t api_cache_list(void *ctx, struct vx_download_task *out, uint32_t max)
{
	struct vx_peer_api *a = ctx;

	return vx_peer_cache_list(a->peer, out, VX_MIN(max, (uint32_t)VX_API_LIST_MAX));
}

static const struct vx_api_ops api_ops = {
	.download = api_download,
	.cancel = api_cancel,
	.stat = api_stat,
	.list = api_list,
	.remove = api_remove,
	.cache_list = api_cache_list,
};

int vx_peer_api_start(struct vx_peer_api **out, struct vx_peer *p, const char *socket_path,
		      const char *group, char *err, size_t err_len)
{
	struct vx_api_server_cfg cfg = { 0 };
	struct vx_peer_api *a;
	int rc;

	*out = NULL;
	a = vx_calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->peer = p;
	a->urls = vx_calloc(VX_API_LIST_MAX, sizeof(*a->urls));
	if (!a->urls) {
		vx_free(a);
		return -ENOMEM;
	}
	pthread_mutex_init(&a->lock, NULL);
	cfg.socket_path = socket_path;
	cfg.group = group;
	cfg.ops = &api_ops;
	cfg.ctx = a;
	rc = vx_api_server_new(&a->srv, &cfg);
	if (rc) {
		snprintf(err, err_len, "cannot serve the local API on '%s': %s", socket_path,
			 rc == -EADDRINUSE ? "another daemon is running there" : vx_strerror(rc));
		pthread_mutex_destroy(&a->lock);
		vx_free(a->urls);
		vx_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void vx_peer_api_set_limits(struct vx_peer_api *a, uint32_t per_s, uint32_t conns_per_uid)
{
	vx_api_server_set_rate(a->srv, per_s);
	vx_api_server_set_conns_per_uid(a->srv, conns_per_uid);
}

void vx_peer_api_stop(struct vx_peer_api *a)
{
	if (!a)
		return;
	vx_api_server_free(a->srv);
	pthread_mutex_destroy(&a->lock);
	vx_free(a->urls);
	vx_free(a);
}
