/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_task.c: `vx task stat|rm URL|ID`: get_task and delete_task jobs of the management API.
 * Exit 0 (job SUCCESS), 1 (refused or FAILURE), 2 (usage).
 */
#include <stdio.h>
#include <string.h>

#include "api_client.h"
#include "commands.h"

static const char task_usage[] = "usage: vx task stat|rm URL|TASK_ID [--tag T] [--application A]"
				 " [--piece-length N] [--api URL] [--token-file F] [--json]\n";

static int run_task(int argc, char **argv)
{
	struct api_opts o = { .cmd = "vx task" };
	int rc;

	rc = vx_api_opts_parse(argc, argv, AC_API | AC_TOKEN | AC_JSON | AC_TASK, task_usage, &o);
	if (rc)
		return rc > 0 ? VX_EXIT_OK : VX_EXIT_USAGE;
	if (o.argc == 2 && strcmp(o.argv[0], "stat") == 0)
		return vx_api_post_job(&o, "get_task", vx_api_task_args(&o, o.argv[1]));
	if (o.argc == 2 && strcmp(o.argv[0], "rm") == 0)
		return vx_api_post_job(&o, "delete_task", vx_api_task_args(&o, o.argv[1]));
	fputs(task_usage, stderr);
	return VX_EXIT_USAGE;
}

const struct vx_command vx_command_task = {
	.name = "task",
	.summary = "which hosts hold a task (stat), or delete it everywhere (rm)",
	.run = run_task,
};
