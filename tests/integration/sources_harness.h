/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sources_harness.h: what the sources/ integration tests share: a temp dir, free loopback
 * ports, child servers that die with the test (PR_SET_PDEATHSIG) and are stopped at the end,
 * files with known content. Included by exactly one .c per test binary.
 */
#ifndef VX_SOURCES_HARNESS_H
#define VX_SOURCES_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vx_compiler.h"

#define VX_H_CHILDREN_MAX 8

static pid_t vx_h_children[VX_H_CHILDREN_MAX];
static int vx_h_nr_children;
static char vx_h_dir[256];

/* A fresh temp dir (mode 0755 so that nginx workers can read it); "" on failure. */
static inline const char *vx_h_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(vx_h_dir, sizeof(vx_h_dir), "%s/vx-sources-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(vx_h_dir))
		return "";
	chmod(vx_h_dir, 0755);
	return vx_h_dir;
}

static inline void vx_h_rmdir(void)
{
	char cmd[512];

	if (!vx_h_dir[0])
		return;
	if (getenv("VX_TEST_KEEP")) {
		fprintf(stderr, "harness: kept %s\n", vx_h_dir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", vx_h_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "harness: could not remove %s\n", vx_h_dir);
	vx_h_dir[0] = '\0';
}

/* A loopback TCP port that was free a moment ago. */
static inline int vx_h_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd, port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) == -1) {
		close(fd);
		return -1;
	}
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static inline int vx_h_addr_open(const char *addr, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd, rc;

	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1)
		return 0;
	a.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd == -1)
		return 0;
	rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return rc == 0;
}

static inline int vx_h_port_open(int port)
{
	return vx_h_addr_open("127.0.0.1", port);
}

/* Waits up to @ms for @addr:@port to accept; returns 1 when it does. */
static inline int vx_h_wait_addr(const char *addr, int port, int ms)
{
	for (int i = 0; i < ms / 20; i++) {
		if (vx_h_addr_open(addr, port))
			return 1;
		usleep(20000);
	}
	return 0;
}

/* Waits up to @ms for 127.0.0.1:@port to accept; returns 1 when it does. */
static inline int vx_h_wait_port(int port, int ms)
{
	return vx_h_wait_addr("127.0.0.1", port, ms);
}

/* Starts argv as a child in its own process group that dies with us; returns its pid. */
static inline pid_t vx_h_spawn(char *const argv[], const char *log_path)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		setpgid(0, 0);
		fd = open(log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid > 0 && vx_h_nr_children < VX_H_CHILDREN_MAX)
		vx_h_children[vx_h_nr_children++] = pid;
	return pid;
}

/* Stops every child: TERM to its group, then KILL after 2 s. */
static inline void vx_h_stop_all(void)
{
	for (int i = 0; i < vx_h_nr_children; i++) {
		pid_t pid = vx_h_children[i];
		int status;

		kill(-pid, SIGTERM);
		kill(pid, SIGTERM);
		for (int t = 0; t < 100; t++) {
			if (waitpid(pid, &status, WNOHANG) == pid)
				goto next;
			usleep(20000);
		}
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
next:;
	}
	vx_h_nr_children = 0;
}

static inline int vx_h_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	size_t n;

	if (!f)
		return -1;
	n = fwrite(data, 1, len, f);
	fclose(f);
	chmod(path, 0644);
	return n == len ? 0 : -1;
}

static inline VX_PRINTF(2, 3) int vx_h_printf_file(const char *path, const char *fmt, ...)
{
	va_list ap;
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
	chmod(path, 0644);
	return 0;
}

/* Deterministic test bytes: a xorshift stream from @seed. */
static inline void vx_h_fill(uint8_t *p, size_t len, uint32_t seed)
{
	uint32_t x = seed ? seed : 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static inline int vx_h_have(const char *prog)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

/* A growable byte buffer a sink can fill; bounded by cap. */
struct vx_h_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	int calls;
};

static inline int vx_h_buf_sink(void *arg, const void *data, size_t len)
{
	struct vx_h_buf *b = arg;

	b->calls++;
	if (b->len + len > b->cap)
		return -EMSGSIZE;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

#endif /* VX_SOURCES_HARNESS_H */
