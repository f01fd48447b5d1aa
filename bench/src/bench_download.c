/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_download.c: `vx-bench download`: the real download path (issue 19 goal 4): one file
 * from one `vx serve` to another through `vx get -O FILE --socket`, written to a file, beside
 * iperf3 (one stream) and fio (O_DIRECT sequential writes, fsync at the end) in the same run,
 * with each daemon's peak RSS. The driver is bench/swarm/download.py, exec'd as
 * bench_swarm.c does.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	static const char *const lines[] = {
		"usage: vx-bench download [--size 1G] [--runs 3] [--dir DIR] [--only-vx]",
		"         [--stream] [--cold-seed] [--sparse] [--perf DIR] [--json] [--keep]",
		"         [--piece-length N] [--vx PATH]",
		"",
		"A seed daemon gets a generated file from an nginx origin (not timed), then a",
		"new daemon per run gets it from the seed through `vx get -O FILE --socket`:",
		"its rate against min(iperf3 one stream, fio O_DIRECT write) measured in the",
		"same run, and each daemon's peak RSS. --stream times vx get -O - into a",
		"pipe instead. --dir puts the run on that disk; --sparse makes the origin",
		"file a hole (issue 19 goal 6: --size 8G without 8 GiB of origin data);",
		"--perf DIR records both daemons with `perf record -g` during run 1.",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		fprintf(f, "%s\n", lines[i]);
}

static int run_download(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	return vx_bench_exec_driver("download", "download.py", argc, argv);
}

const struct vx_bench vx_bench_download = {
	.name = "download",
	.summary = "vx get through a daemon from another, to a file, vs iperf3 and fio",
	.run = run_download,
};
