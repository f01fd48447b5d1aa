/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_audit.c: `vx audit ls` over the management API. Exit 0, 1, 2 (usage). */
#include <stdio.h>
#include <string.h>

#include "api_client.h"
#include "commands.h"

static const char usage[] = "usage: vx audit ls [--api URL] [--token-file F] [--json]\n";

static int run_audit(int argc, char **argv)
{
	struct api_opts o = { .cmd = "vx audit" };
	json_t *j;
	int rc, st;

	rc = vx_api_opts_parse(argc, argv, AC_API | AC_TOKEN | AC_JSON, usage, &o);
	if (rc)
		return rc > 0 ? VX_EXIT_OK : VX_EXIT_USAGE;
	if (o.argc != 1 || strcmp(o.argv[0], "ls") != 0) {
		fputs(usage, stderr);
		return VX_EXIT_USAGE;
	}
	st = vx_api_call(&o, "GET", "/oapi/v1/audits", NULL, &j);
	return vx_api_print(&o, st, j);
}

const struct vx_command vx_command_audit = {
	.name = "audit",
	.summary = "show the management API's audit log",
	.run = run_audit,
};
