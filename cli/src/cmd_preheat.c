/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_preheat.c: `vx preheat URL`, a preheat job of the management API. With --wait it polls
 * the job until it ends (bounded by --timeout). Exit 0 (job SUCCESS), 1 (refused or FAILURE), 2 (usage).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api_client.h"
#include "commands.h"

static const char usage[] =
	"usage: vx preheat URL [--scope single_seed_peer|all_seed_peers|all_peers]\n"
	"                  [--count N] [--percentage P] [--ips A,B] [--timeout S] [--wait]\n"
	"                  [--tag T] [--application A] [--piece-length N] [--filtered K&K]\n"
	"                  [--platform OS/ARCH] [--concurrent-tasks N] [--concurrent-peers N]\n"
	"                  [--memory] [--webhook URL] [--api URL] [--token-file F] [--json]\n"
	"                  [-H|--header 'Name: value'] [--username U --password-file F|-]\n"
	"A URL .../v2/REPO/manifests/REF is an image: its config and layers are preheated.\n"
	"--memory: the hosts keep it in their memory tier too (load_to_cache).\n"
	"Headers and credentials go to the origin (a registry's token service included), never\n"
	"to other peers; the tasks they fetch are private.\n";

static int run_preheat(int argc, char **argv)
{
	struct api_opts o = { .cmd = "vx preheat" };
	json_t *a;
	int rc;

	rc = vx_api_opts_parse(argc, argv,
			       AC_API | AC_TOKEN | AC_JSON | AC_SCOPE | AC_TASK | AC_ORIGIN, usage,
			       &o);
	if (rc)
		return rc > 0 ? VX_EXIT_OK : VX_EXIT_USAGE;
	if (o.argc != 1) {
		fputs(usage, stderr);
		return VX_EXIT_USAGE;
	}
	a = vx_api_task_args(&o, o.argv[0]);
	json_object_set_new(
		a, "type",
		json_string(strstr(o.argv[0], "/v2/") && strstr(o.argv[0], "/manifests/")
				    ? "image"
				    : "file"));
	if (o.platform)
		json_object_set_new(a, "platform", json_string(o.platform));
	vx_api_preheat_flags(&o, a);
	if (vx_api_origin_args(&o, a)) {
		json_decref(a);
		return VX_EXIT_USAGE;
	}
	return vx_api_post_job(&o, "preheat", a);
}

const struct vx_command vx_command_preheat = {
	.name = "preheat",
	.summary = "preheat a URL onto seed peers or all peers (management API)",
	.run = run_preheat,
};
