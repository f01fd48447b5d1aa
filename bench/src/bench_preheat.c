/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_preheat.c: `vx-bench preheat`: the swarm testbed of `vx-bench swarm` (namespaces,
 * shaped uplinks, bench/swarm/swarm.py) running the management plane's preheat job (scope
 * all_peers: the seed and every peer hold the file when the job ends) beside the same file
 * pulled cold by every peer (`vx get`, the seed not warmed), then the job API's latency (p50,
 * p99) over 1,000 jobs. Every argument is the swarm driver's (`--peers N --size S --link RATE`,
 * `--api-jobs N`, ...); this adds `--vs preheat --cold`.
 *
 * `--image`: the same for a generated image of about 1 GiB in a registry (Debian's
 * docker-registry on the origin node): the driver bench/swarm/mirror.py with `--preheat` pulls
 * it cold through every peer's `vx serve --proxy` mirror at once, then preheats it to all
 * peers with `vx preheat MANIFEST_URL --scope all_peers --wait` (the control plane resolves
 * the manifest into its blobs) and pulls it through every mirror again, measuring what that
 * cost the registry.
 */
#include "bench.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define PREHEAT_ARGS_MAX 256

extern const struct vx_bench vx_bench_swarm;

static int run_preheat(int argc, char **argv)
{
	char *args[PREHEAT_ARGS_MAX];
	char vs[] = "--vs", which[] = "preheat", cold[] = "--cold", image[] = "--preheat";
	bool is_image = false;
	int n = 0;

	if (argc <= 1 || argc + 4 > PREHEAT_ARGS_MAX) {
		fprintf(stderr,
			"usage: vx-bench preheat --peers N --size S --link RATE [--api-jobs N]\n"
			"         [swarm options: vx-bench swarm --help]\n"
			"       vx-bench preheat --image [--peers N] [--layers "
			"512M,256M,192M,64M]\n"
			"         [--link RATE] [mirror options: vx-bench mirror --help]\n\n"
			"Time to preheat one file to all peers with the management API's preheat "
			"job\n"
			"(scope all_peers) beside the same file pulled cold by every peer, and the "
			"job\n"
			"API's latency (p50/p99) over --api-jobs jobs (default 1000).\n"
			"--image: a generated image (1 GiB in 4 layers) in a registry "
			"(docker-registry),\n"
			"pulled cold through every peer's vx mirror at once, then preheated to all "
			"peers\n"
			"(vx preheat REGISTRY/v2/REPO/manifests/TAG --scope all_peers --wait), "
			"then "
			"pulled\n"
			"through every mirror again: both times, the ratio, the registry's "
			"copies.\n");
		return 2;
	}
	for (int i = 1; i < argc; i++)
		is_image |= strcmp(argv[i], "--image") == 0;
	if (is_image) {
		args[n++] = argv[0];
		for (int i = 1; i < argc; i++)
			if (strcmp(argv[i], "--image") != 0)
				args[n++] = argv[i];
		args[n++] = image;
		args[n] = NULL;
		return vx_bench_exec_driver("preheat", "mirror.py", n, args);
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
	.summary = "preheat (a file, or --image) to all peers vs a cold pull; job API latency",
	.run = run_preheat,
};
