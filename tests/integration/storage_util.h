/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage_util.h: helpers shared by the storage tests: a scratch directory under the build tree
 * (a real filesystem, so O_DIRECT and fallocate behave as in production), its removal, task
 * ids and deterministic piece contents. Header-only, static functions.
 */
#ifndef VX_TEST_STORAGE_UTIL_H
#define VX_TEST_STORAGE_UTIL_H

#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Makes a fresh directory <VX_BINARY_DIR or .>/tests-tmp/<name>-XXXXXX into @out. */
static inline int st_mkdtemp(const char *name, char *out, size_t out_len)
{
	const char *base = getenv("VX_BINARY_DIR");
	char top[PATH_MAX];

	if (!base || !*base)
		base = ".";
	snprintf(top, sizeof(top), "%s/tests-tmp", base);
	mkdir(top, 0755);
	if ((size_t)snprintf(out, out_len, "%s/%s-XXXXXX", top, name) >= out_len)
		return -1;
	return mkdtemp(out) ? 0 : -1;
}

static inline int st_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes @dir and everything below it. */
static inline void st_rmtree(const char *dir)
{
	nftw(dir, st_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A valid task id built from @seed: 64 lowercase hex characters and a NUL. */
static inline void st_task_id(unsigned int seed, char out[65])
{
	uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);

	for (int i = 0; i < 64; i++) {
		x ^= x >> 29;
		x *= 0xbf58476d1ce4e5b9ull;
		x ^= x >> 32;
		out[i] = "0123456789abcdef"[x & 15];
	}
	out[64] = '\0';
}

/* Fills @buf with bytes that depend on (@seed, @number): every piece differs. */
static inline void st_fill(void *buf, size_t len, unsigned int seed, uint32_t number)
{
	uint64_t x = ((uint64_t)seed << 32 | number) * 0x9e3779b97f4a7c15ull + 1;
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

#endif /* VX_TEST_STORAGE_UTIL_H */
