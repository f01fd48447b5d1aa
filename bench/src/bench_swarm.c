/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_swarm.c: `vx-bench swarm`: a whole swarm (origin, scheduler, seed peer, N peers) in
 * network namespaces with shaped uplinks, vx side by side with BitTorrent (libtorrent) and
 * HTTP (curl from the origin) in the same run, with the theoretical bound.
 *
 * The testbed itself (namespaces, bridge, htb, nginx, tracker, libtorrent peers, counters,
 * report, chart) is the driver bench/swarm/swarm.py, run with Debian's python3 because
 * python3-libtorrent is Debian's. This file finds the driver, the interpreter and the vx
 * binary of this build, and replaces itself with the driver, so Ctrl-C and timeouts reach the
 * process that owns the clean-up.
 *
 * Where things are looked up, first match wins:
 *   driver:  $VX_SWARM_DRIVER (swarm.py only); VX_SWARM_DIR compiled in; <exe dir>/swarm/;
 *            <source dir from <exe dir>/../CMakeCache.txt>/bench/swarm/;
 *            <exe dir>/../../../bench/swarm/ (build/<dir>/bench/vx-bench)
 * vx_bench_exec_driver() does this for every driver in bench/swarm (swarm.py, mirror.py).
 *   python:  $VX_SWARM_PYTHON; /usr/bin/python3
 *   vx:      --vx PATH on the command line; <exe dir>/../cli/vx (build/<dir>/cli/vx)
 */
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vx_compiler.h"

#define SWARM_ARGS_MAX 256

static bool is_file(const char *path, int mode)
{
	return path[0] && access(path, mode) == 0;
}

/* snprintf() into @out that reports truncation: false when the result did not fit. */
static bool fmt_path(char *out, size_t len, const char *fmt, ...) VX_PRINTF(3, 4);

static bool fmt_path(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < len;
}

/* fmt_path() and is_file(): true when the formatted path fits and is accessible. */
#define try_path(out, len, mode, ...) (fmt_path(out, len, __VA_ARGS__) && is_file(out, mode))

/* Writes the directory of the running executable into @dir; -errno on failure. */
static int exe_dir(char *dir, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", dir, len - 1);
	char *slash;

	if (n == -1)
		return -errno;
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	return 0;
}

/*
 * Reads the source directory this build was configured from (CMAKE_HOME_DIRECTORY in the
 * CMakeCache.txt one level above the executable's directory) into @src. -ENOENT when absent.
 */
static int source_dir(const char *dir, char *src, size_t len)
{
	static const char key[] = "CMAKE_HOME_DIRECTORY:INTERNAL=";
	char path[PATH_MAX + 32], line[PATH_MAX + 64];
	int rc = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "%s/../CMakeCache.txt", dir);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, sizeof(key) - 1) == 0) {
			line[strcspn(line, "\r\n")] = '\0';
			rc = fmt_path(src, len, "%s", line + sizeof(key) - 1) ? 0 : -ENAMETOOLONG;
			break;
		}
	}
	fclose(f);
	return rc;
}

/* Fills @out with the first readable driver script @script (bench/swarm/<script>); -ENOENT when
 * there is none. */
static int find_driver(const char *dir, const char *script, char *out, size_t len)
{
	const char *env = getenv("VX_SWARM_DRIVER");
	char src[PATH_MAX];

	if (env && *env && strcmp(script, "swarm.py") == 0)
		return try_path(out, len, R_OK, "%s", env) ? 0 : -ENOENT;
#ifdef VX_SWARM_DIR
	if (try_path(out, len, R_OK, "%s/%s", VX_SWARM_DIR, script))
		return 0;
#endif
	if (!dir[0])
		return -ENOENT;
	if (try_path(out, len, R_OK, "%s/swarm/%s", dir, script))
		return 0;
	if (source_dir(dir, src, sizeof(src)) == 0 &&
	    try_path(out, len, R_OK, "%s/bench/swarm/%s", src, script))
		return 0;
	if (try_path(out, len, R_OK, "%s/../../../bench/swarm/%s", dir, script))
		return 0;
	return -ENOENT;
}

static void usage(FILE *f)
{
	static const char *const lines[] = {
		"usage: vx-bench swarm --peers N --size S --link RATE [--seed-link RATE]",
		"         [--origin-link RATE] [--piece-length P] [--vs vx,bt,http|all]",
		"         [--json] [--chart FILE.png] [--loopback] [--timeout S] [--vx PATH]",
		"       vx-bench swarm --cleanup",
		"",
		"Builds a private network of namespaces (a bridge, an origin, a control node,",
		"a seed and N peers), shapes every uplink with htb, distributes one generated",
		"file with vx and with the baselines (libtorrent + opentracker, curl from the",
		"origin), and reports completion times, copies sent by seed and origin (from",
		"interface counters), CPU, RSS and the ratio to the bound",
		"T_min = max(F/u_seed, N*F/(u_seed + N*u)). Rates use tc units (100mbit).",
		"Needs root; exits 77 when namespaces cannot be made. '--help' shows every",
		"option of the driver.",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		fprintf(f, "%s\n", lines[i]);
}

int vx_bench_exec_driver(const char *bench, const char *script, int argc, char **argv)
{
	char dir[PATH_MAX] = "", driver[PATH_MAX], vx[PATH_MAX + 16] = "";
	const char *python = getenv("VX_SWARM_PYTHON");
	const char *args[SWARM_ARGS_MAX];
	bool has_vx = false, cleanup = false;
	int i, n = 0;

	if (argc + 8 > SWARM_ARGS_MAX) {
		fprintf(stderr, "vx-bench %s: too many arguments\n", bench);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--vx") == 0 || strncmp(argv[i], "--vx=", 5) == 0)
			has_vx = true;
		else if (strcmp(argv[i], "--cleanup") == 0)
			cleanup = true;
	}
	if (exe_dir(dir, sizeof(dir)) != 0)
		dir[0] = '\0';
	if (find_driver(dir, script, driver, sizeof(driver)) != 0) {
		fprintf(stderr, "vx-bench %s: cannot find the driver bench/swarm/%s%s\n", bench,
			script,
			strcmp(script, "swarm.py") == 0 ? "; set VX_SWARM_DRIVER to its path" : "");
		return 1;
	}
	if (!python || !*python)
		python = "/usr/bin/python3";
	if (!is_file(python, X_OK)) {
		fprintf(stderr,
			"vx-bench %s: no %s (Debian's python3 with python3-libtorrent; "
			"scripts/install-deps, or set VX_SWARM_PYTHON)\n",
			bench, python);
		return 1;
	}
	args[n++] = python;
	args[n++] = driver;
	if (cleanup) {
		args[n++] = "cleanup";
	} else {
		args[n++] = "run";
		for (i = 1; i < argc; i++)
			args[n++] = argv[i];
		if (!has_vx && dir[0] && try_path(vx, sizeof(vx), X_OK, "%s/../cli/vx", dir)) {
			args[n++] = "--vx";
			args[n++] = vx;
		}
	}
	args[n] = NULL;
	fflush(NULL);
	/* execv() takes char *const[] for historical reasons; it does not write the strings. */
	execv(python, (char *const *)args);
	fprintf(stderr, "vx-bench %s: cannot run %s: %s\n", bench, python, strerror(errno));
	return 1;
}

static int run_swarm(int argc, char **argv)
{
	if (argc <= 1) {
		usage(stderr);
		return 2;
	}
	return vx_bench_exec_driver("swarm", "swarm.py", argc, argv);
}

const struct vx_bench vx_bench_swarm = {
	.name = "swarm",
	.summary = "a whole swarm in namespaces vs libtorrent and HTTP, with the bound",
	.run = run_swarm,
};
