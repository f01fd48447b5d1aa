/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sdnotify.c: the NOTIFY_SOCKET datagram protocol (vx_sdnotify.h). A dozen lines instead of
 * libsystemd: the protocol is documented as stable, and libvx (which compiles common/) must
 * not pull libsystemd into every client program.
 */
#include "vx_sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int vx_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t plen, slen;
	ssize_t n;
	int fd, rc;

	if (!path || !path[0])
		return 0;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	slen = strlen(state);
	n = sendto(fd, state, slen, MSG_NOSIGNAL, (const struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen));
	rc = n == (ssize_t)slen ? 1 : n < 0 ? -errno : -EIO;
	close(fd);
	return rc;
}
