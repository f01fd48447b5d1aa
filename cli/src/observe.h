/* SPDX-License-Identifier: Apache-2.0 */
/*
 * observe.h: what `vx status` and `vx top` show of the local daemon: its tasks (local API
 * task list) and its counters (the daemon's /metrics, spec/metrics.md), sampled together;
 * rates are the difference of two samples.
 */
#ifndef VX_CLI_OBSERVE_H
#define VX_CLI_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_download.h"

#define VX_OBS_TASKS_MAX 512

struct vx_obs_task {
	char id[VX_DOWNLOAD_TASK_ID_LEN + 1];
	char url[160]; /* redacted (vx_url_redact()), cut to fit */
	enum vx_download_task_state state;
	int64_t length; /* -1 unknown */
	uint32_t pieces, done;
};

/* The daemon's counters of interest, from its /metrics. */
enum vx_obs_counter {
	VX_OBS_FROM_PEERS,
	VX_OBS_FROM_ORIGIN,
	VX_OBS_REUSED,
	VX_OBS_UPLOADED,
	VX_OBS_ACTIVE,
	VX_OBS_FETCH_CONNS,
	VX_OBS_UPLOAD_CONNS,
	VX_OBS_STORE_USED,
	VX_OBS_STORE_FREE,
	VX_OBS_TASKS_OK,
	VX_OBS_TASKS_FAILED,
	VX_OBS_CCFG_VERSION,
	VX_OBS_NR
};

struct vx_obs_sample {
	uint64_t at_ms;
	int daemon_rc; /* 0: the local API answered; else the error */
	char daemon_msg[160];
	bool metrics_ok; /* the /metrics endpoint answered */
	int64_t c[VX_OBS_NR];
	uint32_t nr_tasks; /* shown (at most VX_OBS_TASKS_MAX) */
	bool truncated;
	struct vx_obs_task tasks[VX_OBS_TASKS_MAX];
};

/* Where to look: the daemon's socket and its metrics address (HOST:PORT, "" none). */
struct vx_obs_target {
	const char *socket;
	const char *metrics;
};

/* Fills @s (always; s->daemon_rc and s->metrics_ok say what answered). */
void vx_obs_sample(const struct vx_obs_target *t, struct vx_obs_sample *s);

/* Bytes per second of counter @i between two samples (0 when not comparable). */
double vx_obs_rate(const struct vx_obs_sample *a, const struct vx_obs_sample *b,
		   enum vx_obs_counter i);

/* "1.5 MiB" */
void vx_cli_human(char *buf, size_t len, double bytes);

/* Command-line of both commands: --socket, --metrics, --json, -n; returns 0, 1 (help) or
 * -EINVAL. */
struct vx_obs_opts {
	struct vx_obs_target t;
	bool json;
	long iterations; /* top: ticks before it stops; 0 until q or a signal */
};
int vx_obs_opts_parse(int argc, char **argv, const char *cmd, const char *usage,
		      struct vx_obs_opts *o);

#endif /* VX_CLI_OBSERVE_H */
