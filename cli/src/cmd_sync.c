/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_sync.c: `vx sync PREFIX` (a sync of a prefix: list it every interval or on demand and
 * preheat what is new or changed, spec/manager.md "Syncs") and `vx sync ls|get|run|rm` over
 * the management API. Exit 0, 1 (refused, or --wait and the run failed), 2 (usage).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_client.h"
#include "commands.h"

static const char usage[] =
	"usage: vx sync PREFIX [--fetch-base URL] [--interval S] [--delete]\n"
	"               [--max-objects N] [--max-concurrent N] [--scope S] [--count N]\n"
	"               [--percentage N] [--ips A,B] [--tag T] [--application A]\n"
	"               [--piece-length N] [--wait] [--timeout S] [API flags]\n"
	"       vx sync ls|get ID|rm ID [API flags]\n"
	"       vx sync run ID [--wait] [--timeout S] [API flags]\n"
	"  PREFIX              file:///DIR/ (under the scheduler's --sync-dir), s3://B/P/,\n"
	"                      hdfs://..., ftp://..., oci://... or an http(s) listing\n"
	"  --fetch-base URL    the http(s) URL serving the same tree: an object NAME is\n"
	"                      fetched as URL/NAME (needed unless the listing gives http(s))\n"
	"  --interval S        list again every S s (at least 10; default 0: on demand)\n"
	"  --delete            evict what disappeared from the prefix (needs task:delete)\n"
	"  --max-objects N     a larger listing fails the run, nothing done (default 10000)\n"
	"  --max-concurrent N  objects preheated at once (default 32)\n"
	"  --wait              wait for the (next) run to end; exit 1 when it failed\n";

struct sync_flags {
	const char *fetch_base;
	long interval, max_objects, max_concurrent;
	bool del;
};

static int num(const char *flag, const char *v, long lo, long hi, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || end == v || n < lo || n > hi) {
		fprintf(stderr, "vx sync: %s wants a number from %ld to %ld, got '%s'\n", flag, lo,
			hi, v);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

/* Takes the sync's own flags out of @argv (the rest go to vx_api_opts_parse). */
static int own_flags(int *argc, char **argv, struct sync_flags *f)
{
	static const char *const names[] = { "--fetch-base",	 "--interval", "--max-objects",
					     "--max-concurrent", "--delete!",  NULL };
	const char *v[5] = { NULL };

	if (vx_api_take_flags(argc, argv, names, v, "vx sync") ||
	    (v[1] && num(names[1], v[1], 0, 30 * 86400, &f->interval)) ||
	    (v[2] && num(names[2], v[2], 1, 100000, &f->max_objects)) ||
	    (v[3] && num(names[3], v[3], 1, 128, &f->max_concurrent)))
		return -EINVAL;
	f->fetch_base = v[0];
	f->del = v[4] != NULL;
	return 0;
}

/* --wait: polls sync @id until a run after @runs ended (bounded by --timeout, default 600 s). */
static int wait_run(const struct api_opts *o, json_t *j, json_int_t runs)
{
	char path[64];
	int st = 200;

	snprintf(path, sizeof(path), "/oapi/v1/syncs/%lld",
		 (long long)json_integer_value(json_object_get(j, "id")));
	for (uint32_t i = 0; i < (o->timeout_s ? o->timeout_s : 600) * 5; i++) {
		const char *state = json_string_value(json_object_get(j, "state"));

		if (st != 200 || (json_integer_value(json_object_get(j, "runs")) > runs && state &&
				  !strcmp(state, "idle")))
			break;
		json_decref(j);
		usleep(200 * 1000);
		st = vx_api_call(o, "GET", path, NULL, &j);
	}
	if (st == 200 && (json_integer_value(json_object_get(j, "runs")) <= runs ||
			  json_is_string(json_object_get(j, "last_error")))) {
		const char *e = json_string_value(json_object_get(j, "last_error"));

		fprintf(stderr, "vx sync: %s\n", e ? e : "the run did not end in time");
		vx_api_print(o, st, j);
		return VX_EXIT_FAILURE;
	}
	return vx_api_print(o, st, j);
}

static json_t *preheat_args(const struct api_opts *o)
{
	json_t *a = json_object();

	vx_api_task_flags(o, a);
	vx_api_preheat_flags(o, a); /* its --concurrent-* apply per object: --max-concurrent */
	json_object_del(a, "concurrent_task_count");
	return a;
}

static int run_sync(int argc, char **argv)
{
	struct api_opts o = { .cmd = "vx sync" };
	struct sync_flags f = { 0 };
	char path[64];
	json_t *j = NULL, *req;
	json_int_t runs;
	int rc, st;

	if (own_flags(&argc, argv, &f)) {
		fputs(usage, stderr);
		return VX_EXIT_USAGE;
	}
	rc = vx_api_opts_parse(argc, argv, AC_API | AC_TOKEN | AC_JSON | AC_SCOPE | AC_TASK, usage,
			       &o);
	if (rc)
		return rc > 0 ? VX_EXIT_OK : VX_EXIT_USAGE;
	if (o.argc == 1 && !strcmp(o.argv[0], "ls")) {
		st = vx_api_call(&o, "GET", "/oapi/v1/syncs", NULL, &j);
		return vx_api_print(&o, st, j);
	}
	if (o.argc == 2 &&
	    (!strcmp(o.argv[0], "get") || !strcmp(o.argv[0], "rm") || !strcmp(o.argv[0], "run"))) {
		snprintf(path, sizeof(path), "/oapi/v1/syncs/%.20s", o.argv[1]);
		if (strcmp(o.argv[0], "run") != 0) {
			st = vx_api_call(&o, strcmp(o.argv[0], "rm") ? "GET" : "DELETE", path, NULL,
					 &j);
			return vx_api_print(&o, st, j);
		}
		/* run: remember how many runs ended, so --wait knows the next one */
		st = vx_api_call(&o, "GET", path, NULL, &j);
		if (st != 200)
			return vx_api_print(&o, st, j);
		runs = json_integer_value(json_object_get(j, "runs"));

		json_decref(j);
		st = vx_api_call(&o, "POST", path, NULL, &j);
		if (st != 200 || !o.wait)
			return vx_api_print(&o, st, j);
		return wait_run(&o, j, runs);
	}
	if (o.argc != 1 || !strstr(o.argv[0], "://")) {
		fputs(usage, stderr);
		return VX_EXIT_USAGE;
	}
	req = json_pack("{s:s, s:o}", "prefix", o.argv[0], "preheat", preheat_args(&o));
	if (f.fetch_base)
		json_object_set_new(req, "fetch_base", json_string(f.fetch_base));
	if (f.interval)
		json_object_set_new(req, "interval", json_integer(f.interval));
	if (f.max_objects)
		json_object_set_new(req, "max_objects", json_integer(f.max_objects));
	if (f.max_concurrent)
		json_object_set_new(req, "max_concurrent", json_integer(f.max_concurrent));
	if (f.del)
		json_object_set_new(req, "delete", json_true());
	st = vx_api_call(&o, "POST", "/oapi/v1/syncs", req, &j);
	json_decref(req);
	if (st != 200 || !o.wait)
		return vx_api_print(&o, st, j);
	return wait_run(&o, j, 0);
}

const struct vx_command vx_command_sync = {
	.name = "sync",
	.summary = "watch a prefix and preheat what is new or changed",
	.run = run_sync,
};
