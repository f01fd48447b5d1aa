/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_task_id.c: `vx task-id`, the Dragonfly task id of a URL (or of explicit content, or of a
 * local file imported as a persistent cache task). Users run it to find out why two downloads
 * did not share a task: --verbose prints the normalized URL that was hashed.
 *
 * Exit codes: 0 printed, 1 invalid URL or unreadable file, 2 bad command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_task_id.h"
#include "vx_url.h"

/* Most --filtered-query-param options accepted on one command line. */
#define TASK_ID_FILTERS_MAX 64
/* Read size when hashing a file for a persistent cache task id. */
#define TASK_ID_READ_CHUNK (1u << 20)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vx task-id URL [options]\n"
		"       vx task-id --content STRING\n"
		"       vx task-id --file PATH [--tag T] [--application A] [--piece-length N]\n\n"
		"Prints the Dragonfly task id (sha256 hex) that a download of URL gets, so peers\n"
		"and Dragonfly agree on what is the same task.\n\n"
		"  --tag T                     task tag (part of the id)\n"
		"  --application A             application name (part of the id)\n"
		"  --revision R                revision (part of the id)\n"
		"  --piece-length N            user-fixed piece length, e.g. 4194304 or 4MiB\n"
		"  --filtered-query-param K    drop query key K before hashing; repeatable; "
		"replaces\n"
		"                              the default list (S3/GCS/OSS/OBS/COS signatures, "
		"ns)\n"
		"  --content STRING            id of explicit content instead of a URL\n"
		"  --file PATH                 id of PATH imported as a persistent cache task\n"
		"  -v, --verbose               also print the normalized URL that was hashed\n"
		"  -h, --help                  this text\n");
}

static int task_id_of_file(const char *path, const char *tag, const char *app,
			   uint64_t piece_length, char id[VX_TASK_ID_LEN + 1])
{
	struct vx_task_id_hasher *h = NULL;
	uint8_t *buf;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	buf = vx_malloc(TASK_ID_READ_CHUNK);
	if (!buf) {
		rc = -ENOMEM;
		goto out_close_fd;
	}
	rc = vx_task_id_hasher_new(&h);
	if (rc)
		goto out_free_buf;
	for (;;) {
		ssize_t n = read(fd, buf, TASK_ID_READ_CHUNK);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out_free_hasher;
		}
		if (n == 0)
			break;
		rc = vx_task_id_hasher_update(h, buf, (size_t)n);
		if (rc)
			goto out_free_hasher;
	}
	rc = vx_task_id_hasher_final_persistent_cache(h, tag, app, piece_length, id);
out_free_hasher:
	vx_task_id_hasher_free(h);
out_free_buf:
	vx_free(buf);
out_close_fd:
	close(fd);
	return rc;
}

static int run_task_id(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tag", required_argument, NULL, 't' },
		{ "application", required_argument, NULL, 'a' },
		{ "revision", required_argument, NULL, 'r' },
		{ "piece-length", required_argument, NULL, 'p' },
		{ "filtered-query-param", required_argument, NULL, 'f' },
		{ "content", required_argument, NULL, 'c' },
		{ "file", required_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *filters[TASK_ID_FILTERS_MAX];
	struct vx_task_id_params p = { 0 };
	const char *content = NULL, *file = NULL;
	char id[VX_TASK_ID_LEN + 1];
	enum vx_url_error why = VX_URL_OK;
	size_t nr_filters = 0;
	bool verbose = false;
	char *norm = NULL;
	size_t norm_len;
	int c, rc, modes;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			p.tag = optarg;
			break;
		case 'a':
			p.application = optarg;
			break;
		case 'r':
			p.revision = optarg;
			break;
		case 'p':
			if (vx_args_parse_size(optarg, &p.piece_length) != 0 ||
			    p.piece_length == 0) {
				fprintf(stderr, "vx task-id: --piece-length: '%s' is not a size\n",
					optarg);
				return VX_EXIT_USAGE;
			}
			break;
		case 'f':
			if (nr_filters == TASK_ID_FILTERS_MAX) {
				fprintf(stderr,
					"vx task-id: at most %d --filtered-query-param options\n",
					TASK_ID_FILTERS_MAX);
				return VX_EXIT_USAGE;
			}
			filters[nr_filters++] = optarg;
			break;
		case 'c':
			content = optarg;
			break;
		case 'F':
			file = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return VX_EXIT_OK;
		default:
			fprintf(stderr, "vx task-id: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			usage(stderr);
			return VX_EXIT_USAGE;
		}
	}
	modes = (content != NULL) + (file != NULL) + (optind < argc);
	if (modes != 1 || argc - optind > 1) {
		fprintf(stderr, "vx task-id: give exactly one of URL, --content or --file\n");
		usage(stderr);
		return VX_EXIT_USAGE;
	}
	if (content) {
		rc = vx_task_id_from_content(content, strlen(content), id);
	} else if (file) {
		rc = task_id_of_file(file, p.tag, p.application, p.piece_length, id);
		if (rc) {
			fprintf(stderr, "vx task-id: %s: %s\n", file, vx_strerror(rc));
			return VX_EXIT_FAILURE;
		}
	} else {
		p.url = argv[optind];
		if (nr_filters) {
			p.filtered_params = filters;
			p.nr_filtered_params = nr_filters;
		}
		norm_len = VX_URL_OUT_MAX(strnlen(p.url, VX_URL_INPUT_MAX + 1));
		norm = vx_malloc(norm_len);
		if (!norm) {
			fprintf(stderr, "vx task-id: out of memory\n");
			return VX_EXIT_FAILURE;
		}
		rc = vx_task_id_from_url(&p, id, norm, norm_len, &why);
		if (rc == VX_EURL || rc == -E2BIG) {
			fprintf(stderr, "vx task-id: invalid URL '%s': %s\n", VX_URL_SAFE(p.url),
				vx_url_strerror(why));
			vx_free(norm);
			return VX_EXIT_FAILURE;
		}
	}
	if (rc) {
		fprintf(stderr, "vx task-id: %s\n", vx_strerror(rc));
		vx_free(norm);
		return VX_EXIT_FAILURE;
	}
	printf("%s\n", id);
	if (verbose && norm)
		printf("normalized url: %s\n", norm);
	vx_free(norm);
	return VX_EXIT_OK;
}

const struct vx_command vx_command_task_id = {
	.name = "task-id",
	.summary = "print the Dragonfly task id of a URL (debug cache misses)",
	.run = run_task_id,
};
