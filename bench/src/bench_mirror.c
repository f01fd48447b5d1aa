/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_mirror.c: `vx-bench mirror`: the registry mirror of `vx serve --proxy` beside direct
 * pulls from the same registry in the same run: N peers in network namespaces with shaped
 * uplinks pulling one image at once, and one client on loopback, cold and warm. The testbed is
 * the driver bench/swarm/mirror.py (it reuses swarm.py's namespaces, shaping and counters);
 * this file execs it as bench_swarm.c does.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	static const char *const lines[] = {
		"usage: vx-bench mirror [--peers N] [--layers 48M,16M,4M] [--link RATE]",
		"         [--origin-link RATE] [--lo-layers 192M,64M] [--runs N]",
		"         [--only cluster|loopback] [--tls] [--json] [--timeout S] [--vx PATH]",
		"       vx-bench mirror --cleanup",
		"",
		"A registry (docker-registry) holding a generated image, N peers in namespaces",
		"with shaped uplinks: all N pull it straight from the registry at once, then all",
		"N through their own vx mirror at once; registry bytes from the registry's htb",
		"counters, the bound T_min = max(F/u_reg, N*F/(u_reg + N*u)). Then one client on",
		"loopback: a direct pull, a cold and a warm pull through vx (--tls: the mirror",
		"over HTTPS), with the daemon's CPU per pull. Needs root; exits 77 when",
		"namespaces cannot be made. '--help' shows every option of the driver.",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		fprintf(f, "%s\n", lines[i]);
}

static int run_mirror(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	return vx_bench_exec_driver("mirror", "mirror.py", argc, argv);
}

const struct vx_bench vx_bench_mirror = {
	.name = "mirror",
	.summary = "the registry mirror vs direct pulls: N peers in namespaces, and loopback",
	.run = run_mirror,
};
