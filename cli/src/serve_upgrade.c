/* SPDX-License-Identifier: Apache-2.0 */
/* serve_upgrade.c: the graceful upgrade of `vx serve` (serve_upgrade.h). */
#include "serve_upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_file.h"

extern char **environ;

/* The descriptor number the new daemon finds the socket at (the first after stdio). */
#define UPGRADE_FD	 3
#define UPGRADE_ARGS_MAX (64u << 10)
#define UPGRADE_POLL_MS	 20u
#define DELETED_SUFFIX	 " (deleted)"

int vx_serve_upgrade_inherited(char *err, size_t err_len)
{
	const char *v = getenv(VX_UPGRADE_ENV);
	int fd = 0, on = 0, type = 0;
	socklen_t len = sizeof(on);

	if (!v)
		return 0;
	for (const char *c = v; *c; c++) {
		if (*c < '0' || *c > '9' || fd > 65535) {
			fd = -1;
			break;
		}
		fd = fd * 10 + (*c - '0');
	}
	unsetenv(VX_UPGRADE_ENV); /* not for the programs this daemon starts */
	if (fd <= 2 || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) != 0 || !on ||
	    (len = sizeof(type), getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len)) != 0 ||
	    type != SOCK_STREAM) {
		snprintf(err, err_len, "%s=%s names no listening TCP socket", VX_UPGRADE_ENV, v);
		return -EINVAL;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		snprintf(err, err_len, "%s: %s", VX_UPGRADE_ENV, strerror(errno));
		return -EINVAL;
	}
	return fd;
}

int vx_serve_upgrade_wait_parent(pid_t parent, unsigned timeout_ms)
{
	const struct timespec ts = { .tv_nsec = UPGRADE_POLL_MS * 1000000L };

	/* reparented (to init or a subreaper) once the parent has exited */
	for (unsigned waited = 0; getppid() == parent; waited += UPGRADE_POLL_MS) {
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* This process's arguments (/proc/self/cmdline) as a NULL-terminated vector into *@argv, its
 * strings in *@buf (both vx_free()). */
static int own_args(char ***argv, char **buf)
{
	size_t len = 0, n = 0, k = 0;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC), rc;

	if (fd == -1)
		return -errno;
	rc = vx_file_read_stream(fd, UPGRADE_ARGS_MAX, buf, &len);
	close(fd);
	if (rc)
		return rc;
	for (size_t i = 0; i < len; i++)
		n += (*buf)[i] == '\0';
	*argv = vx_calloc(n + 1, sizeof(**argv));
	if (!*argv) {
		vx_free(*buf);
		return -ENOMEM;
	}
	for (size_t i = 0; i < len && k < n; i += strlen(*buf + i) + 1)
		(*argv)[k++] = *buf + i;
	return 0;
}

/* The environment with VX_UPGRADE_ENV=UPGRADE_FD in place of any inherited one. */
static char **upgrade_env(char *var, size_t var_len)
{
	size_t n = 0, k = 0, plen = strlen(VX_UPGRADE_ENV);
	char **env;

	while (environ[n])
		n++;
	env = vx_calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], VX_UPGRADE_ENV, plen) != 0 || environ[i][plen] != '=')
			env[k++] = environ[i];
	}
	snprintf(var, var_len, "%s=%d", VX_UPGRADE_ENV, UPGRADE_FD);
	env[k] = var;
	return env;
}

int vx_serve_upgrade_spawn(int listen_fd, pid_t *pid, char *err, size_t err_len)
{
	posix_spawn_file_actions_t fa;
	char exe[4096], var[64], *args_buf = NULL, **argv = NULL, **env = NULL;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t slen = strlen(DELETED_SUFFIX);
	int fd = -1, rc;

	if (n <= 0 || (size_t)n >= sizeof(exe) - 1) {
		snprintf(err, err_len, "cannot read this program's path");
		return -ENOENT;
	}
	exe[n] = '\0';
	/* a package upgrade replaced the file: the new program is at the same path */
	if ((size_t)n > slen && strcmp(exe + n - (ssize_t)slen, DELETED_SUFFIX) == 0)
		exe[n - (ssize_t)slen] = '\0';
	rc = own_args(&argv, &args_buf);
	if (rc) {
		snprintf(err, err_len, "cannot read this process's arguments: %s", strerror(-rc));
		return rc;
	}
	env = upgrade_env(var, sizeof(var));
	/* dup2 onto the same number would keep close-on-exec: move it off UPGRADE_FD first */
	fd = listen_fd == UPGRADE_FD ? fcntl(listen_fd, F_DUPFD_CLOEXEC, UPGRADE_FD + 1)
				     : listen_fd;
	if (!env || fd < 0) {
		rc = env ? -errno : -ENOMEM;
		snprintf(err, err_len, "cannot prepare the new daemon: %s", strerror(-rc));
		goto out;
	}
	rc = posix_spawn_file_actions_init(&fa);
	if (!rc) {
		rc = posix_spawn_file_actions_adddup2(&fa, fd, UPGRADE_FD);
		if (!rc) {
			fflush(stdout);
			fflush(stderr);
			rc = posix_spawn(pid, exe, &fa, NULL, argv, env);
		}
		posix_spawn_file_actions_destroy(&fa);
	}
	if (rc) {
		snprintf(err, err_len, "cannot start %s: %s", exe, strerror(rc));
		rc = -rc;
	}
out:
	if (fd >= 0 && fd != listen_fd)
		close(fd);
	vx_free(env);
	vx_free(argv);
	vx_free(args_buf);
	return rc;
}
