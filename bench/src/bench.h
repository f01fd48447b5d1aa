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

/* A TCP port of 127.0.0.1 that the kernel handed out a moment ago (and that is free again), or
 * -1: for a server the bench starts as a child. */
int vx_bench_free_port(void);

/*
 * Replaces the process with the Python driver bench/swarm/@script of benchmark @bench
 * (found as bench_swarm.c says), passing "run" and @argv[1..], plus --vx with the vx binary of
 * this build unless given; "--cleanup" passes "cleanup" instead. Returns only on failure (1).
 */
int vx_bench_exec_driver(const char *bench, const char *script, int argc, char **argv);

#endif /* VX_BENCH_H */
