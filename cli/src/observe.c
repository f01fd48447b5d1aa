/* SPDX-License-Identifier: Apache-2.0 */
/*
 * observe.c: samples of the local daemon for `vx status` and `vx top` (observe.h). Tasks come
 * from the local API (vx_client_list()), counters from the daemon's /metrics over loopback
 * HTTP (libcurl, bounded to 2 s and 4 MiB), read by exact series name.
 */
#include "observe.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_client.h"
#include "vx_alloc.h"
#include "vx_client.h"
#include "vx_err.h"
#include "vx_metrics.h"
#include "vx_time.h"
#include "vx_url.h"

#define METRICS_BODY_MAX (4u << 20)

static const char *const series[VX_OBS_NR] = {
	[VX_OBS_FROM_PEERS] = "vx_download_bytes_total{source=\"peer\"}",
	[VX_OBS_FROM_ORIGIN] = "vx_download_bytes_total{source=\"origin\"}",
	[VX_OBS_REUSED] = "vx_download_bytes_total{source=\"local\"}",
	[VX_OBS_UPLOADED] = "vx_upload_bytes_total",
	[VX_OBS_ACTIVE] = "vx_tasks_active",
	[VX_OBS_FETCH_CONNS] = "vx_fetch_connections",
	[VX_OBS_UPLOAD_CONNS] = "vx_upload_connections",
	[VX_OBS_STORE_USED] = "vx_store_used_bytes",
	[VX_OBS_STORE_FREE] = "vx_store_free_bytes",
	[VX_OBS_TASKS_OK] = "vx_tasks_total{result=\"ok\"}",
	[VX_OBS_TASKS_FAILED] = "vx_tasks_total{result=\"failed\"}",
	[VX_OBS_CCFG_VERSION] = "vx_cluster_config_version",
};

void vx_cli_human(char *buf, size_t len, double bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = 0;

	while (bytes >= 1024.0 && u < 4) {
		bytes /= 1024.0;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

static void sample_metrics(const char *addr, struct vx_obs_sample *s)
{
	struct vx_cli_body b = { .max = METRICS_BODY_MAX };
	char url[300];
	long code = 0;
	CURL *h;

	if (!addr || !*addr ||
	    snprintf(url, sizeof(url), "http://%s/metrics", addr) >= (int)sizeof(url))
		return;
	h = curl_easy_init();
	if (!h)
		return;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, vx_cli_curl_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(h) == CURLE_OK &&
	    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200) {
		s->metrics_ok = true;
		for (int i = 0; i < VX_OBS_NR; i++)
			(void)!vx_metrics_find(b.p ? b.p : "", b.len, series[i], &s->c[i]);
	}
	curl_easy_cleanup(h);
	vx_free(b.p);
}

static void on_task(void *arg, const struct vx_download_task *t)
{
	struct vx_obs_sample *s = arg;
	struct vx_obs_task *o;

	if (s->nr_tasks == VX_OBS_TASKS_MAX) {
		s->truncated = true;
		return;
	}
	o = &s->tasks[s->nr_tasks++];
	memcpy(o->id, t->task_id, sizeof(o->id));
	vx_url_redact_str(t->url ? t->url : "", o->url, sizeof(o->url));
	o->state = t->state;
	o->length = t->content_length;
	o->pieces = t->piece_count;
	o->done = t->pieces_done;
}

void vx_obs_sample(const struct vx_obs_target *t, struct vx_obs_sample *s)
{
	struct vx_client *c = NULL;
	bool more = false;
	int rc;

	memset(s, 0, offsetof(struct vx_obs_sample, tasks));
	s->at_ms = vx_now_ms();
	rc = vx_client_connect(&c, t->socket, 2000);
	if (!rc) {
		rc = vx_client_list(c, on_task, s, &more);
		s->truncated = s->truncated || more; /* ours (VX_OBS_TASKS_MAX) or the daemon's */
		if (rc < 0)
			snprintf(s->daemon_msg, sizeof(s->daemon_msg), "%s", vx_client_errmsg(c));
		rc = rc < 0 ? rc : 0;
		vx_client_close(c);
	}
	s->daemon_rc = rc;
	if (rc && !s->daemon_msg[0])
		snprintf(s->daemon_msg, sizeof(s->daemon_msg), "%s", vx_strerror(rc));
	sample_metrics(t->metrics, s);
}

double vx_obs_rate(const struct vx_obs_sample *a, const struct vx_obs_sample *b,
		   enum vx_obs_counter i)
{
	if (!a->metrics_ok || !b->metrics_ok || b->at_ms <= a->at_ms || b->c[i] < a->c[i])
		return 0;
	return (double)(b->c[i] - a->c[i]) * 1000.0 / (double)(b->at_ms - a->at_ms);
}

int vx_obs_opts_parse(int argc, char **argv, const char *cmd, const char *usage,
		      struct vx_obs_opts *o)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	o->t.socket = "/run/vx/vx.sock";
	o->t.metrics = "127.0.0.1:4002";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hn:", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->t.socket = optarg;
			break;
		case 'm':
			o->t.metrics = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'n':
			o->iterations = strtol(optarg, &end, 10);
			if (*end || o->iterations < 1 || o->iterations > 1000000) {
				fprintf(stderr, "%s: -n wants a number of refreshes\n", cmd);
				return -EINVAL;
			}
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		default:
			fprintf(stderr, "%s: unknown or incomplete option '%s'\n%s", cmd,
				argv[optind - 1], usage);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n%s", cmd, argv[optind], usage);
		return -EINVAL;
	}
	return 0;
}
