/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c: `vx-bench <name> [args]`: dispatches to one benchmark. Exit codes: 0 ran, 1 failed,
 * 2 bad command line.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: vx-bench <benchmark> [<args>]\n\nBenchmarks:\n");
	for (const struct vx_bench *const *b = vx_benches; *b; b++)
		fprintf(f, "  %-10s %s\n", (*b)->name, (*b)->summary);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	for (const struct vx_bench *const *b = vx_benches; *b; b++) {
		if (strcmp(argv[1], (*b)->name) == 0)
			return (*b)->run(argc - 1, argv + 1);
	}
	fprintf(stderr, "vx-bench: no benchmark '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
