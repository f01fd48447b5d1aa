/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench.h: the subcommands of `vx-bench`. Each bench/src/bench_<name>.c defines one
 * `const struct vx_bench vx_bench_<name>`; the build generates the table from the file names.
 * A benchmark prints its figures side by side with the baseline it measured in the same run.
 */
#ifndef VX_BENCH_H
#define VX_BENCH_H

struct vx_bench {
	const char *name;    /* as typed: "codec" */
	const char *summary; /* one line for `vx-bench --help` */
	int (*run)(int argc, char **argv);
};

extern const struct vx_bench *const vx_benches[];

#endif /* VX_BENCH_H */
