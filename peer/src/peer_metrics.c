/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_metrics.c: GET /metrics, /healthy and /ready for `vx serve` (vx_peer_metrics.h),
 * served by libmicrohttpd on a thread of its own, the same library as the registry mirror and
 * the open API. Deny unless allowed: GET on the three paths only (405 for another method, 404
 * for another path); no request body is read. Store gauges are read at scrape time.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "peer_int.h"
#include "vx_alloc.h"
#include "vx_log.h"
#include "vx_metrics.h"
#include "vx_net.h"
#include "vx_peer_metrics.h"
#include "vx_store.h"
#include "vx_time.h"

struct vx_peer_metrics {
	struct vx_peer *peer;
	struct MHD_Daemon *d;
	int lfd;
	uint16_t port;
};

static int64_t store_used(void *arg, uint32_t v)
{
	struct vx_store_stats st;

	(void)v;
	vx_store_stats(((struct vx_peer *)arg)->store, &st);
	return (int64_t)st.disk_bytes;
}

static int64_t store_free(void *arg, uint32_t v)
{
	struct vx_store_stats st;

	(void)v;
	vx_store_stats(((struct vx_peer *)arg)->store, &st);
	return st.disk_capacity_bytes > st.disk_bytes
		       ? (int64_t)(st.disk_capacity_bytes - st.disk_bytes)
		       : 0;
}

static int64_t store_reads(void *arg, uint32_t v)
{
	struct vx_store_stats st;

	vx_store_stats(((struct vx_peer *)arg)->store, &st);
	return (int64_t)(v == VX_M_TIER_MEMORY ? st.reads_memory : st.reads_disk);
}

static int64_t store_tier_bytes(void *arg, uint32_t v)
{
	struct vx_store_stats st;

	(void)v;
	vx_store_stats(((struct vx_peer *)arg)->store, &st);
	return (int64_t)st.tier_bytes;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			vx_free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, "Allow", "GET");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return reply(c, status, "text/plain; charset=utf-8", (void *)msg, strlen(msg),
		     MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **ctx)
{
	struct vx_peer_metrics *m = cls;
	struct vx_store_stats st;
	bool known = strcmp(url, "/metrics") == 0 || strcmp(url, "/healthy") == 0 ||
		     strcmp(url, "/ready") == 0;
	size_t len;
	char *out;

	(void)version;
	(void)upload_data;
	if (!*ctx) {
		*ctx = m; /* first call: headers only */
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* a body is not read */
		return MHD_YES;
	}
	if (!known)
		return text(c, MHD_HTTP_NOT_FOUND, "no such path\n");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (strcmp(url, "/healthy") == 0)
		return text(c, MHD_HTTP_OK, "ok\n");
	if (strcmp(url, "/ready") == 0) {
		/* ready: the store answers and has room to write */
		vx_store_stats(m->peer->store, &st);
		if (!st.disk_capacity_bytes || st.disk_capacity_bytes <= st.disk_bytes)
			return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store full\n");
		return text(c, MHD_HTTP_OK, "ready\n");
	}
	if (vx_metrics_write(VX_METRICS_PEER, &out, &len))
		return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	return reply(c, MHD_HTTP_OK, VX_METRICS_CONTENT_TYPE, out, len, MHD_RESPMEM_MUST_FREE);
}

int vx_peer_metrics_start(struct vx_peer_metrics **out, struct vx_peer *p, const char *listen,
			  char *err, size_t err_len)
{
	struct vx_net_opts o = { .flags = VX_NET_REUSEADDR, .backlog = 64 };
	struct sockaddr_storage ss;
	char host[VX_NET_HOST_MAX], nerr[VX_NET_ERR_LEN] = "";
	struct vx_peer_metrics *m;
	socklen_t sl;
	uint16_t port;
	int rc;

	*out = NULL;
	if (vx_net_parse_hostport(listen, VX_NET_PORT0, host, sizeof(host), &port) ||
	    vx_net_resolve(host, port, true, &ss, &sl, nerr)) {
		snprintf(err, err_len, "metrics: bad address '%s' %s", listen, nerr);
		return -EINVAL;
	}
	m = vx_calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->peer = p;
	m->lfd = vx_net_tcp_listen((struct sockaddr *)&ss, sl, &o, nerr);
	if (m->lfd < 0) {
		rc = m->lfd;
		snprintf(err, err_len, "metrics: %s", nerr);
		vx_free(m);
		return rc;
	}
	rc = vx_net_local_port(m->lfd);
	m->port = rc > 0 ? (uint16_t)rc : 0;
	vx_metric_set_reader(&vx_m_store_bytes, store_used, p);
	vx_metric_set_reader(&vx_m_store_free_bytes, store_free, p);
	vx_metric_set_reader(&vx_m_store_reads, store_reads, p);
	vx_metric_set_reader(&vx_m_store_memory_bytes, store_tier_bytes, p);
	m->d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request, m,
		MHD_OPTION_LISTEN_SOCKET, m->lfd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)16, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)10, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
		MHD_OPTION_END);
	if (!m->d) {
		snprintf(err, err_len, "metrics: the HTTP server did not start");
		vx_peer_metrics_stop(m);
		return -EIO;
	}
	vx_info("metrics: on port %u", m->port);
	*out = m;
	return 0;
}

uint16_t vx_peer_metrics_port(const struct vx_peer_metrics *m)
{
	return m->port;
}

void vx_peer_metrics_stop(struct vx_peer_metrics *m)
{
	if (!m)
		return;
	if (m->d)
		MHD_stop_daemon(m->d);
	if (m->lfd >= 0)
		close(m->lfd);
	vx_metric_set_reader(&vx_m_store_bytes, NULL, NULL);
	vx_metric_set_reader(&vx_m_store_free_bytes, NULL, NULL);
	vx_metric_set_reader(&vx_m_store_reads, NULL, NULL);
	vx_metric_set_reader(&vx_m_store_memory_bytes, NULL, NULL);
	vx_free(m);
}

/* ---------------------------------------------------------------- Task hooks */

static bool final_state(enum peer_task_state s)
{
	return s == TASK_COMPLETE || s == TASK_FAILED;
}

/*
 * Loop thread, from task_set_state(): a task is active from leaving TASK_FREE to reaching a
 * final state (or going back to TASK_FREE without one: dropped); its duration is observed at
 * the final state, and a task the store held whole counts its bytes as local reuse.
 */
void vx__peer_metrics_task(struct peer_task *t, enum peer_task_state from, enum peer_task_state to)
{
	uint32_t r = to == TASK_COMPLETE ? VX_M_TASK_OK : VX_M_TASK_FAILED;

	if (from == TASK_FREE) {
		t->metrics_start_ms = vx_now_ms();
		vx_metric_inc(&vx_m_tasks_active, 0);
	} else if (final_state(to) && !final_state(from)) {
		vx_metric_add(&vx_m_tasks_active, 0, -1);
		vx_metric_inc(&vx_m_tasks, r);
		vx_metric_observe(&vx_m_task_seconds, r, vx_now_ms() - t->metrics_start_ms);
		if (to == TASK_COMPLETE && t->reused_complete)
			vx_metric_add(&vx_m_download_bytes, VX_M_SRC_LOCAL,
				      (int64_t)t->content_length);
	} else if (to == TASK_FREE && !final_state(from)) {
		vx_metric_add(&vx_m_tasks_active, 0, -1);
	}
}

void vx__peer_metrics_source(const char *url, int rc)
{
	uint32_t s = vx_m_scheme_of(url);

	vx_metric_inc(&vx_m_source_requests, s);
	if (rc && rc != -ECANCELED)
		vx_metric_inc(&vx_m_source_errors, s);
}
