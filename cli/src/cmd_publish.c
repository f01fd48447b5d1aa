/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_publish.c: `vx publish CHANNEL FILE|URL` (spec/manager.md "Channels"): a FILE is imported
 * into the persistent cache through the local daemon (as `vx cache import`), then appended to
 * the channel over the management API (the channel is made on its first publication); a URL
 * is appended as it is (subscribers fetch it P2P). A refused publication takes its import
 * back. Exit 0, 1 (refused), 2 (usage), 3 (the
 * daemon could not be reached).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_client.h"
#include "args.h"
#include "commands.h"
#include "vx_api_msg.h"
#include "vx_client.h"
#include "vx_err.h"

static const char usage[] =
	"usage: vx publish CHANNEL FILE|URL [--name NAME] [--socket PATH] [--replicas N]\n"
	"                  [--ttl DUR] [API flags]\n"
	"  FILE            imported into the persistent cache by the local daemon (--socket,\n"
	"                  $VX_SOCKET or /run/vx/vx.sock; --replicas, --ttl as vx cache import)\n"
	"  URL             an http(s) URL subscribers download\n"
	"  --name NAME     the file name subscribers write (default: the last path part)\n"
	"The API token needs the publish scope.\n";

static const char *sock_path(const char *sock)
{
	const char *env = getenv("VX_SOCKET");

	return sock ? sock : env && *env ? env : "/run/vx/vx.sock";
}

/* Drops the import @tid again (a refused publication leaves nothing behind). */
static void unimport(const char *sock, const char *tid)
{
	struct vx_download_request req = { .cache_op = VX_API_CACHE_DELETE, .cache_id = tid };
	struct vx_download_result res;
	struct vx_client *c = NULL;

	if (vx_client_connect(&c, sock_path(sock), 5000))
		return;
	if (vx_client_cache(c, &req, 60000, &res))
		fprintf(stderr,
			"vx publish: the import %.12s stays in the cache until its ttl: %s\n", tid,
			res.msg[0] ? res.msg : vx_strerror(res.status));
	vx_client_close(c);
}

/* The persistent cache import of @path: 0 and @tid, or an exit code. */
static int import_file(const char *path, const char *sock, const char *replicas, const char *ttl,
		       char tid[VX_TASK_ID_LEN + 1])
{
	struct vx_download_request req = { .cache_op = VX_API_CACHE_IMPORT };
	struct vx_download_result res;
	struct vx_client *c = NULL;
	char abs[PATH_MAX], cwd[PATH_MAX];
	uint64_t v;
	int rc;

	if (replicas) {
		if (vx_args_parse_u64(replicas, &v) || v < 1 || v > VX_API_REPLICAS_MAX) {
			fputs("vx publish: --replicas must be 1 .. 64\n", stderr);
			return VX_EXIT_USAGE;
		}
		req.replicas = (uint32_t)v;
	}
	if (ttl) {
		if (vx_args_parse_duration_ms(ttl, &v) || v < 10000 || v / 1000 > VX_API_TTL_MAX) {
			fputs("vx publish: --ttl must be 10s .. 7d\n", stderr);
			return VX_EXIT_USAGE;
		}
		req.ttl_s = v / 1000;
	}
	if (path[0] == '/')
		rc = snprintf(abs, sizeof(abs), "%s", path) >= (int)sizeof(abs);
	else
		rc = !getcwd(cwd, sizeof(cwd)) ||
		     snprintf(abs, sizeof(abs), "%s/%s", cwd, path) >= (int)sizeof(abs);
	if (rc) {
		fputs("vx publish: path too long\n", stderr);
		return VX_EXIT_USAGE;
	}
	req.cache_input = abs;
	sock = sock_path(sock);
	rc = vx_client_connect(&c, sock, 5000);
	if (rc) {
		fprintf(stderr, "vx publish: cannot reach the daemon on '%s': %s\n", sock,
			vx_strerror(rc));
		return 3;
	}
	rc = vx_client_cache(c, &req, 6u * 3600 * 1000, &res);
	vx_client_close(c);
	if (rc) {
		fprintf(stderr, "vx publish: the import of %s failed: %s\n", path,
			res.msg[0] ? res.msg : vx_strerror(rc));
		return VX_EXIT_FAILURE;
	}
	memcpy(tid, res.task_id, VX_TASK_ID_LEN + 1);
	return 0;
}

static int run_publish(int argc, char **argv)
{
	static const char *const names[] = { "--name", "--socket", "--replicas", "--ttl", NULL };
	const char *v[4] = { NULL };
	struct api_opts o = { .cmd = "vx publish" };
	char tid[VX_TASK_ID_LEN + 1], path[128], name[256];
	const char *what, *base;
	json_t *body, *j = NULL;
	int rc, st;

	if (vx_api_take_flags(&argc, argv, names, v, "vx publish")) {
		fputs(usage, stderr);
		return VX_EXIT_USAGE;
	}
	rc = vx_api_opts_parse(argc, argv, AC_API | AC_TOKEN | AC_JSON, usage, &o);
	if (rc)
		return rc > 0 ? VX_EXIT_OK : VX_EXIT_USAGE;
	if (o.argc != 2) {
		fputs(usage, stderr);
		return VX_EXIT_USAGE;
	}
	what = o.argv[1];
	base = strrchr(what, '/');
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(base ? base + 1 : what, "?#"),
		 base ? base + 1 : what);
	if (v[0])
		snprintf(name, sizeof(name), "%s", v[0]);
	if (snprintf(path, sizeof(path), "/oapi/v1/channels/%s", o.argv[0]) >= (int)sizeof(path)) {
		fputs("vx publish: the channel name is too long\n", stderr);
		return VX_EXIT_USAGE;
	}
	body = json_pack("{s:s}", "name", name);
	if (strstr(what, "://")) {
		json_object_set_new(body, "url", json_string(what));
	} else {
		rc = import_file(what, v[1], v[2], v[3], tid);
		if (rc) {
			json_decref(body);
			return rc;
		}
		json_object_set_new(body, "task_id", json_string(tid));
	}
	st = vx_api_call(&o, "POST", path, body, &j);
	json_decref(body);
	if (st != 200 && !strstr(what, "://"))
		unimport(v[1], tid); /* refused: the import is taken back */
	return vx_api_print(&o, st, j);
}

const struct vx_command vx_command_publish = {
	.name = "publish",
	.summary = "append a file or URL to a channel (vx subscribe gets it)",
	.run = run_publish,
};
