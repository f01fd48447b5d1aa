/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_job.c: `vx job ls|get ID|cancel ID` over the management API. Exit 0, 1, 2 (usage). */
#include <stdio.h>
#include <string.h>

#include "api_client.h"
#include "commands.h"

static const char usage[] = "usage: vx job ls|get ID|cancel ID [--api URL] [--token-file F] "
			    "[--json]\n"
			    "       vx job sync-peers [--webhook URL] [--wait] [API flags]\n";

static int run_job(int argc, char **argv)
{
	struct api_opts o = { .cmd = "vx job" };
	char path[64];
	json_t *j;
	int rc, st;

	rc = vx_api_opts_parse(argc, argv, AC_API | AC_TOKEN | AC_JSON | AC_SCOPE, usage, &o);
	if (rc)
		return rc > 0 ? VX_EXIT_OK : VX_EXIT_USAGE;
	if (o.argc == 1 && strcmp(o.argv[0], "sync-peers") == 0)
		return vx_api_post_job(&o, "sync_peers", json_object());
	if (o.argc == 1 && strcmp(o.argv[0], "ls") == 0) {
		st = vx_api_call(&o, "GET", "/oapi/v1/jobs", NULL, &j);
	} else if (o.argc == 2 && strcmp(o.argv[0], "get") == 0) {
		snprintf(path, sizeof(path), "/oapi/v1/jobs/%.20s", o.argv[1]);
		st = vx_api_call(&o, "GET", path, NULL, &j);
	} else if (o.argc == 2 && strcmp(o.argv[0], "cancel") == 0) {
		snprintf(path, sizeof(path), "/oapi/v1/jobs/%.20s", o.argv[1]);
		st = vx_api_call(&o, "DELETE", path, NULL, &j);
	} else {
		fputs(usage, stderr);
		return VX_EXIT_USAGE;
	}
	return vx_api_print(&o, st, j);
}

const struct vx_command vx_command_job = {
	.name = "job",
	.summary = "list, show and cancel management jobs",
	.run = run_job,
};
