/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_preheat.c: `vx-bench preheat`: the swarm testbed of `vx-bench swarm` (namespaces,
 * shaped uplinks, bench/swarm/swarm.py) running the management plane's preheat job (scope
 * all_peers: the seed and every peer hold the file when the job ends) beside the same file
 * pulled cold by every peer (`vx get`, the seed not warmed), then the job API's latency (p50,
 * p99) over 1,000 jobs. Every argument is the swarm driver's (`--peers N --size S --link RATE`,
 * `--api-jobs N`, ...); this adds `--vs preheat --cold`.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

#define PREHEAT_ARGS_MAX 256

extern const struct vx_bench vx_bench_swarm;

static int run_preheat(int argc, char **argv)
{
	char *args[PREHEAT_ARGS_MAX];
	char vs[] = "--vs", which[] = "preheat", cold[] = "--cold";
	int n = 0;

	if (argc <= 1 || argc + 4 > PREHEAT_ARGS_MAX) {
		fprintf(stderr,
			"usage: vx-bench preheat --peers N --size S --link RATE [--api-jobs N]\n"
			"         [swarm options: vx-bench swarm --help]\n\n"
			"Time to preheat one file to all peers with the management API's preheat "
			"job\n"
			"(scope all_peers) beside the same file pulled cold by every peer, and the "
			"job\n"
			"API's latency (p50/p99) over --api-jobs jobs (default 1000).\n");
		return 2;
	}
	args[n++] = argv[0];
	args[n++] = vs;
	args[n++] = which;
	args[n++] = cold;
	for (int i = 1; i < argc; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	return vx_bench_swarm.run(n, args);
}

const struct vx_bench vx_bench_preheat = {
	.name = "preheat",
	.summary = "the preheat job to all peers vs a cold pull, and the job API's latency",
	.run = run_preheat,
};
