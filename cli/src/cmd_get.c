/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_get.c: `vx get URL -O FILE`. This slice runs an embedded one-shot peer without a daemon
 * or a scheduler: the conductor (vx_conductor.h) downloads from the source into a store in
 * --data-dir and puts the file at the output path once it is complete and verified.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "vx_conductor.h"
#include "vx_err.h"
#include "vx_source.h"
#include "vx_store.h"

/* Exit codes of `vx get` beyond the shared ones (commands.h); documented in usage(). */
enum {
	GET_EXIT_NOT_FOUND = 3, /* the source says the object does not exist */
	GET_EXIT_DIGEST = 4,	/* the content does not match --digest */
	GET_EXIT_OUTPUT = 5,	/* the output path cannot be written */
	GET_EXIT_SOURCE = 6,	/* the source cannot be reached or refused the download */
	GET_EXIT_TIMEOUT = 7,	/* --timeout passed */
};

/* Most --header and --filtered-query-param options on one command line. */
#define GET_HEADERS_MAX	 32
#define GET_FILTERS_MAX	 64
#define GET_DATA_DIR_MAX 4096

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vx get URL -O FILE [options]\n\n"
		"Downloads URL to FILE. FILE appears only when complete and verified. Without a\n"
		"daemon or scheduler (this version) the file comes from the source, and pieces "
		"are\n"
		"kept in a local store so that a second download reuses them.\n\n"
		"  -O, --output FILE             where to put the file (required)\n"
		"  --data-dir DIR                store directory (default $XDG_CACHE_HOME/vx or\n"
		"                                ~/.cache/vx)\n"
		"  -H, --header 'K: V'           request header for the source; repeatable\n"
		"  --digest ALGO:VALUE           expected digest: sha256:<hex>, sha512:<hex> or\n"
		"                                crc32:<decimal>\n"
		"  --tag T                       task tag (part of the task id)\n"
		"  --application A               application name (part of the task id)\n"
		"  --piece-length N              fixed piece length, e.g. 4MiB (part of the task "
		"id)\n"
		"  --filtered-query-param K      drop query key K from the task id; repeatable\n"
		"  --timeout DUR                 give up after DUR (30s, 5m, 1h)\n"
		"  --overwrite                   replace an existing FILE\n"
		"  --no-progress                 no progress bar\n"
		"  --json                        print a JSON summary on stdout\n"
		"  --socket PATH, --scheduler HOST:PORT\n"
		"                                not available yet\n"
		"  -h, --help                    this text\n\n"
		"Exit codes:\n"
		"  0  downloaded\n"
		"  1  other failure (the message says why)\n"
		"  2  bad command line (options, --digest syntax)\n"
		"  3  not found at the source (HTTP 404, missing file)\n"
		"  4  digest mismatch: nothing is written at FILE\n"
		"  5  output path problem: missing directory, not writable, or FILE exists\n"
		"     without --overwrite\n"
		"  6  source unreachable, refused, or unsupported (scheme)\n"
		"  7  timed out\n");
}

struct progress_bar {
	bool on;
	bool drawn;
	uint64_t last_ms;
};

static void human(char *buf, size_t len, double bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = 0;

	while (bytes >= 1024.0 && u < 4) {
		bytes /= 1024.0;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

static void draw_progress(void *arg, const struct vx_conductor_progress *p)
{
	struct progress_bar *bar = arg;
	char done[32], total[32], speed[32], from_src[32], eta[32] = "--";
	double secs = (double)p->elapsed_ms / 1000.0, rate = 0.0;
	uint64_t fetched = p->bytes_done - p->bytes_reused;
	unsigned int pct = 100;

	if (!bar->on)
		return;
	if (p->content_length)
		pct = (unsigned int)(p->bytes_done * 100 / p->content_length);
	if (secs > 0.0)
		rate = (double)fetched / secs;
	human(done, sizeof(done), (double)p->bytes_done);
	human(total, sizeof(total), (double)p->content_length);
	human(speed, sizeof(speed), rate);
	human(from_src, sizeof(from_src), (double)p->bytes_from_source);
	if (rate > 0.0 && p->content_length > p->bytes_done)
		snprintf(eta, sizeof(eta), "%.0fs",
			 (double)(p->content_length - p->bytes_done) / rate);
	else if (p->content_length == p->bytes_done)
		snprintf(eta, sizeof(eta), "0s");
	fprintf(stderr, "\r%3u%% %s / %s  %s/s  ETA %s  pieces %u/%u  source %s, peers 0 B\033[K",
		pct, done, total, speed, eta, p->pieces_done, p->piece_count, from_src);
	bar->drawn = true;
}

/* Writes @s as a JSON string (quotes included). */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static int exit_code(int rc, const struct vx_conductor_result *res)
{
	/* First: the conductor reports any failure caused by a time limit as -ETIMEDOUT. */
	if (rc == -ETIMEDOUT)
		return GET_EXIT_TIMEOUT;
	switch (res->stage) {
	case VX_CONDUCTOR_STAGE_OUTPUT:
	case VX_CONDUCTOR_STAGE_EXPORT:
		return GET_EXIT_OUTPUT;
	case VX_CONDUCTOR_STAGE_DIGEST:
		return rc == VX_EDIGEST ? GET_EXIT_DIGEST : VX_EXIT_FAILURE;
	default:
		break;
	}
	if (res->stage == VX_CONDUCTOR_STAGE_REQUEST && rc == -EINVAL)
		return VX_EXIT_USAGE; /* bad --digest or --piece-length */
	if (rc == VX_ESOURCE_NOTFOUND || (res->stage == VX_CONDUCTOR_STAGE_SOURCE &&
					  (rc == -ENOENT || res->source_status == 404)))
		return GET_EXIT_NOT_FOUND;
	if (rc == VX_ESCHEME || rc == VX_EURL || res->stage == VX_CONDUCTOR_STAGE_SOURCE)
		return GET_EXIT_SOURCE;
	return VX_EXIT_FAILURE;
}

/* Fills @out with --data-dir or the default, creating the default's parents. */
static int data_dir(const char *given, char *out, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char parent[GET_DATA_DIR_MAX];
	int n;

	if (given) {
		n = snprintf(out, len, "%s", given);
		return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
	}
	if (xdg && xdg[0] == '/') {
		n = snprintf(parent, sizeof(parent), "%s", xdg);
	} else if (home && home[0]) {
		n = snprintf(parent, sizeof(parent), "%s/.cache", home);
	} else {
		return -ENOENT;
	}
	if (n < 0 || (size_t)n >= sizeof(parent))
		return -ENAMETOOLONG;
	if (mkdir(parent, 0700) != 0 && errno != EEXIST)
		return -errno;
	n = snprintf(out, len, "%s/vx", parent);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void print_json(const struct vx_conductor_request *req,
		       const struct vx_conductor_result *res, int rc, int code)
{
	const struct vx_conductor_progress *t = &res->totals;

	printf("{\"url\": ");
	json_str(stdout, req->url);
	printf(", \"output\": ");
	json_str(stdout, req->output);
	printf(", \"task_id\": ");
	json_str(stdout, res->task_id);
	printf(", \"ok\": %s, \"exit_code\": %d", rc ? "false" : "true", code);
	if (rc) {
		printf(", \"error\": ");
		json_str(stdout, res->msg);
	}
	printf(", \"reused\": %s, \"content_length\": %llu, \"piece_length\": %llu, "
	       "\"pieces\": %u, \"bytes_from_source\": %llu, \"bytes_from_peers\": %llu, "
	       "\"bytes_reused\": %llu, \"elapsed_ms\": %llu}\n",
	       res->reused ? "true" : "false", (unsigned long long)t->content_length,
	       (unsigned long long)res->piece_length, t->piece_count,
	       (unsigned long long)t->bytes_from_source, (unsigned long long)t->bytes_from_peers,
	       (unsigned long long)t->bytes_reused, (unsigned long long)t->elapsed_ms);
}

static int run_get(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'O' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "header", required_argument, NULL, 'H' },
		{ "digest", required_argument, NULL, 'D' },
		{ "tag", required_argument, NULL, 't' },
		{ "application", required_argument, NULL, 'a' },
		{ "piece-length", required_argument, NULL, 'p' },
		{ "filtered-query-param", required_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "overwrite", no_argument, NULL, 'w' },
		{ "no-progress", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "scheduler", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *headers[GET_HEADERS_MAX], *filters[GET_FILTERS_MAX];
	struct vx_conductor_request req = { 0 };
	struct vx_conductor_result res;
	struct progress_bar bar = { 0 };
	struct vx_source_ctx *src = NULL;
	struct vx_store *store = NULL;
	struct vx_store_cfg cfg;
	const char *dir_opt = NULL, *remote = NULL;
	char dir[GET_DATA_DIR_MAX];
	bool no_progress = false, json = false;
	uint64_t timeout_ms = 0;
	int c, rc, code;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "O:H:h", opts, NULL)) != -1) {
		switch (c) {
		case 'O':
			req.output = optarg;
			break;
		case 'd':
			dir_opt = optarg;
			break;
		case 'H':
			if (req.nr_headers == GET_HEADERS_MAX) {
				fprintf(stderr, "vx get: at most %d --header options\n",
					GET_HEADERS_MAX);
				return VX_EXIT_USAGE;
			}
			if (!strchr(optarg, ':')) {
				fprintf(stderr, "vx get: --header '%s' is not 'Name: value'\n",
					optarg);
				return VX_EXIT_USAGE;
			}
			headers[req.nr_headers++] = optarg;
			break;
		case 'D':
			req.digest = optarg;
			break;
		case 't':
			req.tag = optarg;
			break;
		case 'a':
			req.application = optarg;
			break;
		case 'p':
			if (vx_args_parse_size(optarg, &req.piece_length) != 0 ||
			    req.piece_length == 0) {
				fprintf(stderr, "vx get: --piece-length: '%s' is not a size\n",
					optarg);
				return VX_EXIT_USAGE;
			}
			break;
		case 'f':
			if (req.nr_filtered_params == GET_FILTERS_MAX) {
				fprintf(stderr,
					"vx get: at most %d --filtered-query-param options\n",
					GET_FILTERS_MAX);
				return VX_EXIT_USAGE;
			}
			filters[req.nr_filtered_params++] = optarg;
			break;
		case 'T':
			if (vx_args_parse_duration_ms(optarg, &timeout_ms) != 0 ||
			    timeout_ms > UINT32_MAX) {
				fprintf(stderr, "vx get: --timeout: '%s' is not a duration\n",
					optarg);
				return VX_EXIT_USAGE;
			}
			req.timeout_ms = (uint32_t)timeout_ms;
			break;
		case 'w':
			req.overwrite = true;
			break;
		case 'n':
			no_progress = true;
			break;
		case 'j':
			json = true;
			break;
		case 's':
		case 'S':
			remote = c == 's' ? "--socket" : "--scheduler";
			break;
		case 'h':
			usage(stdout);
			return VX_EXIT_OK;
		default:
			fprintf(stderr, "vx get: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			usage(stderr);
			return VX_EXIT_USAGE;
		}
	}
	if (argc - optind != 1 || !req.output) {
		fprintf(stderr, "vx get: give one URL and -O FILE\n");
		usage(stderr);
		return VX_EXIT_USAGE;
	}
	if (remote) {
		fprintf(stderr,
			"vx get: %s is not available yet: run without it to download "
			"from the source\n",
			remote);
		return VX_EXIT_USAGE;
	}
	if (strcmp(req.output, "-") == 0) {
		fprintf(stderr, "vx get: -O - (stdout) is not available yet\n");
		return VX_EXIT_USAGE;
	}
	req.url = argv[optind];
	req.headers = req.nr_headers ? headers : NULL;
	req.filtered_params = req.nr_filtered_params ? filters : NULL;
	bar.on = !no_progress && !json && isatty(STDERR_FILENO);
	req.progress = draw_progress;
	req.progress_arg = &bar;

	rc = data_dir(dir_opt, dir, sizeof(dir));
	if (rc) {
		fprintf(stderr, "vx get: no data directory (give --data-dir): %s\n",
			vx_strerror(rc));
		return VX_EXIT_FAILURE;
	}
	fprintf(stderr, "vx get: no scheduler: downloading from the source\n");
	vx_store_cfg_init(&cfg);
	cfg.dir = dir;
	rc = vx_store_open(&store, &cfg);
	if (rc) {
		fprintf(stderr, "vx get: cannot open the store in '%s': %s\n", dir,
			vx_strerror(rc));
		return VX_EXIT_FAILURE;
	}
	rc = vx_source_ctx_new(&src, NULL);
	if (rc) {
		fprintf(stderr, "vx get: cannot start the source layer: %s\n", vx_strerror(rc));
		vx_store_close(store);
		return VX_EXIT_FAILURE;
	}
	rc = vx_conductor_download(store, src, &req, &res);
	if (bar.drawn)
		fputc('\n', stderr);
	code = rc ? exit_code(rc, &res) : VX_EXIT_OK;
	if (rc)
		fprintf(stderr, "vx get: %s\n", res.msg[0] ? res.msg : vx_strerror(rc));
	if (json)
		print_json(&req, &res, rc, code);
	vx_source_ctx_free(src);
	vx_store_close(store);
	return code;
}

const struct vx_command vx_command_get = {
	.name = "get",
	.summary = "download a URL to a file (from the source without a scheduler)",
	.run = run_get,
};
