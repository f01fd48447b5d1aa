/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_memtier.c: `vx-bench memtier`: reading a task from the store's memory tier against a
 * page-cache read of the same task's content file, on one host. One task of --size-mib is
 * written to a store in --dir and loaded into the memory tier; then, --reps times each, in
 * alternation:
 *   - dd if=<content file> of=/dev/null bs=1M, the file's page cache warm (read once before);
 *   - dd if=/proc/<us>/fd/<N> of=/dev/null bs=1M, N the read-only descriptor of the sealed memfd
 *     that vx_store_task_memory_fd() gives a local reader (what `vx get --memory -O -` and
 *     vx_client_open_content() receive);
 *   - the same two reads in-process, pread() of 1 MiB blocks, to take dd's start-up out;
 *   - dd of the content file after its page cache was dropped (POSIX_FADV_DONTNEED): what a
 *     reader pays when memory pressure evicted the file's pages, which the tier's pinned copy
 *     never is.
 * dd is timed as a whole process. Medians are printed, with the memory/page-cache ratio, and
 * the rate of the load itself (copy into the memfd and CRC check of every piece).
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_digest.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_store.h"
#include "vx_time.h"

extern char **environ;

#define REPS_MAX 20
#define PIECE	 (4u << 20)
#define BLOCK	 (1u << 20)

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, uint32_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

static double mib_s(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / (1024.0 * 1024.0) / ((double)ns / 1e9) : 0;
}

/* Writes back and drops the page cache of @fd: the next read comes from the disk. */
static void drop_cache(int fd)
{
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

/* Wall time of `dd if=@path of=/dev/null bs=1M`, in ns; 0 on failure. */
static uint64_t time_dd(const char *path)
{
	char ifarg[PATH_MAX + 8];
	const char *argv[] = { "dd", ifarg, "of=/dev/null", "bs=1M", "status=none", NULL };
	uint64_t start;
	int status, rc;
	pid_t pid;

	snprintf(ifarg, sizeof(ifarg), "if=%s", path);
	start = vx_now_ns();
	rc = posix_spawnp(&pid, "dd", NULL, NULL, (char *const *)argv, environ);
	if (rc != 0) {
		fprintf(stderr, "vx-bench memtier: cannot run dd: %s\n", strerror(rc));
		return 0;
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "vx-bench memtier: dd failed\n");
		return 0;
	}
	return vx_now_ns() - start;
}

/* Wall time of reading @fd whole with pread(BLOCK), in ns; 0 on failure. */
static uint64_t time_pread(int fd, uint64_t size, uint8_t *buf)
{
	uint64_t start = vx_now_ns(), off = 0;

	while (off < size) {
		ssize_t n = pread(fd, buf, BLOCK, (off_t)off);

		if (n <= 0)
			return 0;
		off += (uint64_t)n;
	}
	return vx_now_ns() - start;
}

/* One complete task of @size bytes in @s (id: all 'a'), written with no_sync. */
static int make_task(struct vx_store *s, uint64_t size, uint8_t *buf, struct vx_store_task **out)
{
	struct vx_store_task_params p = { 0 };
	char id[65];
	int rc;

	memset(id, 'a', 64);
	id[64] = '\0';
	p.id = id;
	p.content_length = size;
	p.piece_length = PIECE;
	rc = vx_store_task_open(s, &p, VX_STORE_USE_DOWNLOAD, out);
	for (uint32_t n = 0; !rc && (uint64_t)n * PIECE < size; n++) {
		uint64_t len =
			size - (uint64_t)n * PIECE < PIECE ? size - (uint64_t)n * PIECE : PIECE;

		for (uint64_t i = 0; i < len; i += 8) {
			uint64_t v = ((uint64_t)n << 32 | i) * 0x9e3779b97f4a7c15ull;

			memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
		}
		rc = vx_store_piece_write(*out, n, buf, (size_t)len, true,
					  vx_crc32(0, buf, (size_t)len), NULL);
	}
	return rc;
}

static int run_memtier(int argc, char **argv)
{
	uint64_t size = 1024ull << 20, t_dd_file[REPS_MAX], t_dd_mem[REPS_MAX];
	uint64_t t_pr_file[REPS_MAX], t_pr_mem[REPS_MAX], t_dd_cold[REPS_MAX], load_ns = 0;
	char dir[PATH_MAX] = "/var/tmp/vx-bench-memtier.XXXXXX", file[PATH_MAX + 96], mem[64];
	struct vx_store_cfg cfg;
	struct vx_store *s = NULL;
	struct vx_store_task *t = NULL;
	uint32_t reps = 3;
	uint8_t *buf = NULL;
	int rc = 1, mfd = -1, ffd = -1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--size-mib") == 0 && i + 1 < argc) {
			size = strtoull(argv[++i], NULL, 10) << 20;
		} else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
			reps = (uint32_t)strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			snprintf(dir, sizeof(dir), "%s/vx-bench-memtier.XXXXXX", argv[++i]);
		} else {
			fprintf(stderr,
				"usage: vx-bench memtier [--size-mib N] [--reps N] [--dir DIR]\n");
			return 2;
		}
	}
	if (!size || !reps || reps > REPS_MAX) {
		fprintf(stderr, "vx-bench memtier: --size-mib > 0, --reps 1..%d\n", REPS_MAX);
		return 2;
	}
	if (!mkdtemp(dir)) {
		perror("vx-bench memtier: mkdtemp");
		return 1;
	}
	vx_log_set_level(VX_LOG_WARN);
	vx_store_cfg_init(&cfg);
	cfg.dir = dir;
	cfg.no_sync = true;
	cfg.memory_budget_bytes = size;
	buf = vx_malloc(PIECE);
	if (!buf || vx_store_open(&s, &cfg) || make_task(s, size, buf, &t)) {
		fprintf(stderr, "vx-bench memtier: cannot write the task in %s\n", dir);
		goto out;
	}
	load_ns = vx_now_ns();
	if (vx_store_task_memory_load(t)) {
		fprintf(stderr, "vx-bench memtier: the load into memory failed\n");
		goto out;
	}
	load_ns = vx_now_ns() - load_ns;
	mfd = vx_store_task_memory_fd(t);
	snprintf(file, sizeof(file), "%s/content/tasks/aaa/%.64s", dir, vx_store_task_id(t));
	ffd = open(file, O_RDONLY | O_CLOEXEC);
	if (mfd < 0 || ffd < 0) {
		fprintf(stderr, "vx-bench memtier: cannot open the copies\n");
		goto out;
	}
	snprintf(mem, sizeof(mem), "/proc/%d/fd/%d", (int)getpid(), mfd);
	/* the page cache of the file is warm: read it once before timing */
	if (!time_pread(ffd, size, buf))
		goto out;
	for (uint32_t r = 0; r < reps; r++) {
		drop_cache(ffd);
		t_dd_cold[r] = time_dd(file);
		t_dd_file[r] = time_dd(file);
		t_dd_mem[r] = time_dd(mem);
		t_pr_file[r] = time_pread(ffd, size, buf);
		t_pr_mem[r] = time_pread(mfd, size, buf);
		if (!t_dd_cold[r] || !t_dd_file[r] || !t_dd_mem[r] || !t_pr_file[r] || !t_pr_mem[r])
			goto out;
	}
	{
		double ddf = mib_s(size, median(t_dd_file, reps));
		double ddm = mib_s(size, median(t_dd_mem, reps));
		double prf = mib_s(size, median(t_pr_file, reps));
		double prm = mib_s(size, median(t_pr_mem, reps));

		printf("memory tier vs page cache: one task of %llu MiB, median of %u\n",
		       (unsigned long long)(size >> 20), reps);
		printf("  dd bs=1M, content file, page cache warm   %9.1f MiB/s\n", ddf);
		printf("  dd bs=1M, memory-tier memfd (fd passed)   %9.1f MiB/s   %.2fx\n", ddm,
		       ddm / ddf);
		printf("  dd bs=1M, content file, page cache dropped %8.1f MiB/s   (memfd %.2fx)\n",
		       mib_s(size, median(t_dd_cold, reps)),
		       ddm / mib_s(size, median(t_dd_cold, reps)));
		printf("  pread 1 MiB, content file, page cache     %9.1f MiB/s\n", prf);
		printf("  pread 1 MiB, memory-tier memfd            %9.1f MiB/s   %.2fx\n", prm,
		       prm / prf);
		printf("  load into the tier (copy + CRC check)     %9.1f MiB/s\n",
		       mib_s(size, load_ns));
	}
	rc = 0;
out:
	if (mfd >= 0)
		close(mfd);
	if (ffd >= 0)
		close(ffd);
	if (t)
		vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	vx_store_close(s);
	vx_free(buf);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}

const struct vx_bench vx_bench_memtier = {
	.name = "memtier",
	.summary = "memory-tier reads against dd of the page-cached content file (one host)",
	.run = run_memtier,
};
