/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_small.c: `vx-bench small`: many small files through one daemon (issue 19 goal 7): N
 * files of SIZE bytes from an nginx origin by one `vx get -r URL/ -O DIR --socket SOCK`,
 * beside one curl with every URL (one after the other, and with --parallel) in the same run:
 * files per second. The driver is bench/swarm/small.py, exec'd as bench_swarm.c does.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	static const char *const lines[] = {
		"usage: vx-bench small [--files 1000] [--size 64K] [--runs 3] [--dir DIR]",
		"         [--only-vx] [--perf DIR] [--json] [--keep] [--vx PATH]",
		"",
		"An nginx origin serves FILES files of SIZE bytes in one listed directory. Per",
		"run: one curl with every URL (sequential on one connection, then -Z with 8 at",
		"once) and one `vx get -r URL/ -O DIR --socket SOCK` through a fresh `vx serve`:",
		"files per second and vx's ratio to each. Every output is compared with its file.",
		"--perf DIR records the daemon with `perf record -g` during run 1.",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		fprintf(f, "%s\n", lines[i]);
}

static int run_small(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	return vx_bench_exec_driver("small", "small.py", argc, argv);
}

const struct vx_bench vx_bench_small = {
	.name = "small",
	.summary = "many small files through one daemon (vx get -r) vs curl from nginx",
	.run = run_small,
};
