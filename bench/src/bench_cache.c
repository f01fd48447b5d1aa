/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_cache.c: `vx-bench cache`: the persistent cache (issue 15): the seed imports a file
 * with `vx cache import` (not timed: the bound assumes it holds it), then N peers run `vx cache
 * export` at once, in network namespaces with shaped links, against the swarm bound, beside
 * `vx get` of the same file from an origin in the same run. It is `vx-bench swarm --vs cache`
 * (bench/swarm/swarm.py); the memory tier's reads against a page-cache read are
 * `vx-bench memtier`.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

#define CACHE_ARGS_MAX 120

static void usage(FILE *f)
{
	fprintf(f, "usage: vx-bench cache --peers N --size SIZE --link RATE [swarm options]\n"
		   "  what `vx-bench swarm --vs cache` does: the seed imports the file, N peers\n"
		   "  export it at once; vx get of the same file runs too (--only: the export "
		   "alone)\n");
}

static int run_cache(int argc, char **argv)
{
	char *args[CACHE_ARGS_MAX];
	int n = 0;

	if (argc <= 1 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc <= 1 ? stderr : stdout);
		return argc <= 1 ? 2 : 0;
	}
	if (argc + 2 > CACHE_ARGS_MAX) {
		fprintf(stderr, "vx-bench cache: too many arguments\n");
		return 2;
	}
	args[n++] = argv[0];
	args[n++] = (char *)"--vs";
	args[n++] = (char *)"cache";
	for (int i = 1; i < argc; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	return vx_bench_exec_driver("cache", "swarm.py", n, args);
}

const struct vx_bench vx_bench_cache = {
	.name = "cache",
	.summary = "vx cache export on N hosts at once from one import, against the bound",
	.run = run_cache,
};
