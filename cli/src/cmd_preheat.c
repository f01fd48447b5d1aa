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
	if (o.scope)
		json_object_set_new(a, "scope", json_string(o.scope));
	if (o.memory)
		json_object_set_new(a, "load_to_cache", json_true());
	if (o.count)
		json_object_set_new(a, "count", json_integer(o.count));
	if (o.percentage)
		json_object_set_new(a, "percentage", json_integer(o.percentage));
	if (o.timeout_s)
		json_object_set_new(a, "timeout", json_integer(o.timeout_s));
	if (o.concurrent_tasks)
		json_object_set_new(a, "concurrent_task_count", json_integer(o.concurrent_tasks));
	if (o.concurrent_peers)
		json_object_set_new(a, "concurrent_peer_count", json_integer(o.concurrent_peers));
	if (o.ips) {
		char buf[4096], *save = NULL, *t;
		json_t *ips = json_array();

		snprintf(buf, sizeof(buf), "%s", o.ips);
		for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
			json_array_append_new(ips, json_string(t));
		json_object_set_new(a, "ips", ips);
	}
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
