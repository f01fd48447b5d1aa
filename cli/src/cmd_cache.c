/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_cache.c: `vx cache import|export|stat|rm|ls`, the persistent cache (Dragonfly's dfcache):
 * files with no origin URL, put into the daemon's store and kept for a while. Every verb talks
 * to the local daemon like `vx get` (--socket PATH, else $VX_SOCKET, else /run/vx/vx.sock).
 * Exit 0 (done), 1 (the daemon refused or failed: the message says why), 2 (usage), 3 (the
 * daemon could not be reached).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "vx_api_msg.h"
#include "vx_client.h"
#include "vx_err.h"
#include "vx_task_id.h"

#define CACHE_SOCKET_DEFAULT "/run/vx/vx.sock"
#define CACHE_EXIT_DAEMON    3
/* An import or export copies a whole file: wait this long for its answer. */
#define CACHE_WAIT_MS (6u * 3600 * 1000)

static const char cache_usage[] =
	"usage: vx cache import FILE [--id ID] [--replicas N] [--ttl DUR] [--piece-length N]\n"
	"                            [--tag T] [--application A] [--memory]\n"
	"       vx cache export ID -O FILE [--force]\n"
	"       vx cache stat ID\n"
	"       vx cache rm ID\n"
	"       vx cache ls\n"
	"  --socket PATH   the daemon's socket (default: $VX_SOCKET or " CACHE_SOCKET_DEFAULT ")\n"
	"  --replicas N    copies kept in the cluster, this one included (default 2, at most 64)\n"
	"  --ttl DUR       how long it is kept (default 1h; 10s .. 7d)\n"
	"  --id ID         use this task id (64 lowercase hex) instead of the content's\n"
	"  --memory        keep this host's copy in the daemon's memory tier too\n"
	"                  (storage.memory_budget; memory short: on disk only, said so)\n"
	"import prints the task id; export writes FILE from this host's copy.\n";

struct cache_opts {
	const char *socket;
	struct vx_download_request req;
	char input[PATH_MAX];
	char output[PATH_MAX];
};

static int cache_usage_fail(const char *why)
{
	if (why)
		fprintf(stderr, "vx cache: %s\n", why);
	fputs(cache_usage, stderr);
	return VX_EXIT_USAGE;
}

/* An absolute path for the daemon: relative ones are the client's working directory's. */
static int absolute(const char *in, char *out, size_t cap)
{
	char cwd[PATH_MAX];
	int n;

	if (in[0] == '/')
		n = snprintf(out, cap, "%s", in);
	else if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	else
		n = snprintf(out, cap, "%s/%s", cwd, in);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int cache_parse(int argc, char **argv, struct cache_opts *o, int *first)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "id", required_argument, NULL, 'i' },
		{ "replicas", required_argument, NULL, 'r' },
		{ "ttl", required_argument, NULL, 't' },
		{ "piece-length", required_argument, NULL, 'p' },
		{ "tag", required_argument, NULL, 'g' },
		{ "application", required_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'O' },
		{ "force", no_argument, NULL, 'f' },
		{ "memory", no_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "O:fh", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'i':
			o->req.cache_id = optarg;
			break;
		case 'r':
			if (vx_args_parse_u64(optarg, &v) || v < 1 || v > VX_API_REPLICAS_MAX)
				return cache_usage_fail("--replicas must be 1 .. 64");
			o->req.replicas = (uint32_t)v;
			break;
		case 't':
			if (vx_args_parse_duration_ms(optarg, &v) || v < 10000 ||
			    v / 1000 > VX_API_TTL_MAX)
				return cache_usage_fail("--ttl must be 10s .. 7d");
			o->req.ttl_s = v / 1000;
			break;
		case 'p':
			if (vx_args_parse_size(optarg, &v) || v < 4096 || v > (1ull << 30))
				return cache_usage_fail("--piece-length must be 4 KiB .. 1 GiB");
			o->req.piece_length = v;
			break;
		case 'g':
			o->req.tag = optarg;
			break;
		case 'a':
			o->req.application = optarg;
			break;
		case 'O':
			if (absolute(optarg, o->output, sizeof(o->output)))
				return cache_usage_fail("-O: path too long");
			o->req.output = o->output;
			break;
		case 'f':
			o->req.overwrite = true;
			break;
		case 'M':
			o->req.memory = true;
			break;
		case 'h':
			fputs(cache_usage, stdout);
			return 1;
		default:
			return cache_usage_fail(NULL);
		}
	}
	*first = optind;
	return 0;
}

static void print_task(void *arg, const struct vx_download_task *t)
{
	(void)arg;
	printf("%s %" PRId64 " %s\n", t->task_id, t->content_length,
	       t->state == VX_DOWNLOAD_TASK_DONE ? "done" : "partial");
}

static int cache_connect(const struct cache_opts *o, struct vx_client **c)
{
	const char *env = getenv("VX_SOCKET");
	const char *path = o->socket ? o->socket : env && *env ? env : CACHE_SOCKET_DEFAULT;
	int rc = vx_client_connect(c, path, 5000);

	if (rc)
		fprintf(stderr, "vx cache: cannot reach the daemon on '%s': %s\n", path,
			vx_strerror(rc));
	return rc;
}

static int run_cache(int argc, char **argv)
{
	struct cache_opts o = { 0 };
	struct vx_download_result res;
	struct vx_client *c = NULL;
	const char *verb;
	int first, rc, n;

	rc = cache_parse(argc, argv, &o, &first);
	if (rc)
		return rc > 0 ? VX_EXIT_OK : rc;
	if (first >= argc)
		return cache_usage_fail("which verb?");
	verb = argv[first];
	n = argc - first - 1;
	if (strcmp(verb, "import") == 0 && n == 1) {
		o.req.cache_op = VX_API_CACHE_IMPORT;
		if (absolute(argv[first + 1], o.input, sizeof(o.input)))
			return cache_usage_fail("path too long");
		o.req.cache_input = o.input;
	} else if (strcmp(verb, "export") == 0 && n == 1) {
		if (!o.req.output)
			return cache_usage_fail("export needs -O FILE");
		o.req.cache_op = VX_API_CACHE_EXPORT;
		o.req.cache_id = argv[first + 1];
	} else if (strcmp(verb, "stat") == 0 && n == 1) {
		o.req.cache_op = VX_API_CACHE_STAT;
		o.req.cache_id = argv[first + 1];
	} else if (strcmp(verb, "rm") == 0 && n == 1) {
		o.req.cache_op = VX_API_CACHE_DELETE;
		o.req.cache_id = argv[first + 1];
	} else if (strcmp(verb, "ls") != 0 || n != 0) {
		return cache_usage_fail(NULL);
	}
	if (o.req.cache_id && !vx_task_id_valid(o.req.cache_id, strlen(o.req.cache_id))) {
		fprintf(stderr, "vx cache: '%s' is not a task id (64 lowercase hex characters)\n",
			o.req.cache_id);
		return VX_EXIT_USAGE;
	}
	if (cache_connect(&o, &c))
		return CACHE_EXIT_DAEMON;
	if (!o.req.cache_op) {
		rc = vx_client_cache_list(c, print_task, NULL, NULL);
		if (rc < 0)
			fprintf(stderr, "vx cache ls: %s\n", vx_client_errmsg(c));
		vx_client_close(c);
		return rc < 0 ? VX_EXIT_FAILURE : VX_EXIT_OK;
	}
	rc = vx_client_cache(c, &o.req, CACHE_WAIT_MS, &res);
	vx_client_close(c);
	if (rc) {
		fprintf(stderr, "vx cache %s: %s\n", verb, res.msg[0] ? res.msg : vx_strerror(rc));
		return VX_EXIT_FAILURE;
	}
	if (res.msg[0])
		fprintf(stderr, "vx cache %s: %s\n", verb, res.msg);
	if (o.req.cache_op == VX_API_CACHE_IMPORT)
		printf("%s\n", res.task_id);
	else if (o.req.cache_op == VX_API_CACHE_STAT)
		printf("id: %s\nsize: %" PRIu64 "\npiece_length: %" PRIu64 "\npieces: %u\n"
		       "replicas: %u\nholders: %u\nttl_left_s: %" PRIu64 "\n",
		       res.task_id, res.totals.content_length, res.piece_length,
		       res.totals.piece_count, res.replicas, res.holders, res.ttl_left_s);
	return VX_EXIT_OK;
}

const struct vx_command vx_command_cache = {
	.name = "cache",
	.summary = "persistent cache: import a file, export, stat, rm, ls (like dfcache)",
	.run = run_cache,
};
