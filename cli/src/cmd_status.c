/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_status.c: `vx status`: the local daemon's health (its socket answers), tasks, totals and
 * rates (two samples of its /metrics, one second apart). --json prints one object.
 * Exit codes: 0 the daemon answers, 1 it does not, 2 bad command line.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "commands.h"
#include "observe.h"

static const char status_usage[] =
	"usage: vx status [--socket PATH] [--metrics HOST:PORT] [--json]\n\n"
	"The local daemon's health, tasks, totals and rates. Tasks come from the local API\n"
	"socket (default /run/vx/vx.sock), counters from the daemon's metrics endpoint\n"
	"(default 127.0.0.1:4002, `vx serve --metrics`), read twice one second apart.\n"
	"Exit codes: 0 the daemon answers, 1 it does not, 2 bad command line.\n";

static const char *const state_names[] = { "pending", "running", "done", "failed" };

static const char *state_name(enum vx_download_task_state s)
{
	return (unsigned)s < 4 ? state_names[s] : "?";
}

static void print_json(const struct vx_obs_opts *o, const struct vx_obs_sample *a,
		       const struct vx_obs_sample *b)
{
	json_t *tasks = json_array(), *root;
	char *s;

	for (uint32_t i = 0; i < b->nr_tasks; i++) {
		const struct vx_obs_task *t = &b->tasks[i];

		json_array_append_new(tasks,
				      json_pack("{s:s, s:s, s:s, s:I, s:i, s:i}", "task_id", t->id,
						"url", t->url, "state", state_name(t->state),
						"content_length", (json_int_t)t->length, "pieces",
						(int)t->pieces, "pieces_done", (int)t->done));
	}
	root = json_pack("{s:{s:b, s:s, s:s}, s:{s:b, s:s}, s:o, s:b}", "daemon", "ok",
			 b->daemon_rc == 0, "socket", o->t.socket, "error", b->daemon_msg,
			 "metrics", "ok", b->metrics_ok, "address", o->t.metrics, "tasks", tasks,
			 "truncated", b->truncated);
	if (root && b->metrics_ok) {
		json_object_set_new(root, "bytes",
				    json_pack("{s:I, s:I, s:I, s:I}", "from_peers",
					      (json_int_t)b->c[VX_OBS_FROM_PEERS], "from_origin",
					      (json_int_t)b->c[VX_OBS_FROM_ORIGIN], "reused",
					      (json_int_t)b->c[VX_OBS_REUSED], "uploaded",
					      (json_int_t)b->c[VX_OBS_UPLOADED]));
		json_object_set_new(root, "rates",
				    json_pack("{s:f, s:f, s:f}", "from_peers_bps",
					      vx_obs_rate(a, b, VX_OBS_FROM_PEERS),
					      "from_origin_bps",
					      vx_obs_rate(a, b, VX_OBS_FROM_ORIGIN), "upload_bps",
					      vx_obs_rate(a, b, VX_OBS_UPLOADED)));
		json_object_set_new(
			root, "now",
			json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "active_tasks",
				  (json_int_t)b->c[VX_OBS_ACTIVE], "parent_connections",
				  (json_int_t)b->c[VX_OBS_FETCH_CONNS], "upload_connections",
				  (json_int_t)b->c[VX_OBS_UPLOAD_CONNS], "store_used_bytes",
				  (json_int_t)b->c[VX_OBS_STORE_USED], "store_free_bytes",
				  (json_int_t)b->c[VX_OBS_STORE_FREE], "cluster_config_version",
				  (json_int_t)b->c[VX_OBS_CCFG_VERSION]));
	}
	s = root ? json_dumps(root, JSON_COMPACT) : NULL;
	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(root);
}

static void print_text(const struct vx_obs_opts *o, const struct vx_obs_sample *a,
		       const struct vx_obs_sample *b)
{
	char x[4][32];
	uint32_t running = 0;

	if (b->daemon_rc) {
		printf("daemon:  not answering on %s: %s\n", o->t.socket, b->daemon_msg);
	} else {
		for (uint32_t i = 0; i < b->nr_tasks; i++)
			running += b->tasks[i].state == VX_DOWNLOAD_TASK_RUNNING;
		printf("daemon:  ok (%s)\ntasks:   %u%s, %u running\n", o->t.socket, b->nr_tasks,
		       b->truncated ? "+" : "", running);
	}
	if (!b->metrics_ok) {
		printf("metrics: not answering on %s\n", o->t.metrics);
	} else {
		vx_cli_human(x[0], sizeof(x[0]), (double)b->c[VX_OBS_FROM_PEERS]);
		vx_cli_human(x[1], sizeof(x[1]), (double)b->c[VX_OBS_FROM_ORIGIN]);
		vx_cli_human(x[2], sizeof(x[2]), (double)b->c[VX_OBS_REUSED]);
		vx_cli_human(x[3], sizeof(x[3]), (double)b->c[VX_OBS_UPLOADED]);
		printf("bytes:   %s from peers, %s from origins, %s reused; %s uploaded\n", x[0],
		       x[1], x[2], x[3]);
		vx_cli_human(x[0], sizeof(x[0]), vx_obs_rate(a, b, VX_OBS_FROM_PEERS));
		vx_cli_human(x[1], sizeof(x[1]), vx_obs_rate(a, b, VX_OBS_FROM_ORIGIN));
		vx_cli_human(x[2], sizeof(x[2]), vx_obs_rate(a, b, VX_OBS_UPLOADED));
		printf("rates:   %s/s from peers, %s/s from origins, %s/s up\n", x[0], x[1], x[2]);
		vx_cli_human(x[0], sizeof(x[0]), (double)b->c[VX_OBS_STORE_USED]);
		vx_cli_human(x[1], sizeof(x[1]), (double)b->c[VX_OBS_STORE_FREE]);
		printf("now:     %lld active, %lld parent connections, %lld upload connections; "
		       "store %s used, %s free\n",
		       (long long)b->c[VX_OBS_ACTIVE], (long long)b->c[VX_OBS_FETCH_CONNS],
		       (long long)b->c[VX_OBS_UPLOAD_CONNS], x[0], x[1]);
		if (b->c[VX_OBS_CCFG_VERSION] > 0)
			printf("config:  cluster configuration version %lld applied\n",
			       (long long)b->c[VX_OBS_CCFG_VERSION]);
		else
			printf("config:  no cluster configuration applied\n");
	}
	for (uint32_t i = 0; i < b->nr_tasks; i++) {
		const struct vx_obs_task *t = &b->tasks[i];

		vx_cli_human(x[0], sizeof(x[0]), t->length < 0 ? 0 : (double)t->length);
		printf("  %.12s %-7s %3u%% %10s %s\n", t->id, state_name(t->state),
		       t->pieces ? t->done * 100u / t->pieces : 0u, x[0], t->url);
	}
}

static int run_status(int argc, char **argv)
{
	struct vx_obs_opts o = { 0 };
	struct vx_obs_sample *s = calloc(2, sizeof(*s));
	int rc;

	if (!s)
		return VX_EXIT_FAILURE;
	rc = vx_obs_opts_parse(argc, argv, "vx status", status_usage, &o);
	if (rc) {
		free(s);
		return rc > 0 ? VX_EXIT_OK : VX_EXIT_USAGE;
	}
	vx_obs_sample(&o.t, &s[0]);
	if (s[0].metrics_ok) {
		usleep(1000 * 1000); /* rates: the difference over one second */
		vx_obs_sample(&o.t, &s[1]);
	} else {
		s[1] = s[0];
	}
	if (o.json)
		print_json(&o, &s[0], &s[1]);
	else
		print_text(&o, &s[0], &s[1]);
	rc = s[1].daemon_rc ? VX_EXIT_FAILURE : VX_EXIT_OK;
	free(s);
	return rc;
}

const struct vx_command vx_command_status = {
	.name = "status",
	.summary = "the local daemon's health, tasks and rates (--json too)",
	.run = run_status,
};
