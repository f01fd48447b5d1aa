/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctl_io.c: the outgoing queue flush of a control connection, shared by server and client.
 */
#include "ctl_io.h"

#include <errno.h>
#include <sys/socket.h>

int vx__ctl_send_queued(int fd, const uint8_t *buf, size_t *off, size_t *len)
{
	while (*off < *len) {
		ssize_t n = send(fd, buf + *off, *len - *off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n == -1) {
			if (errno == EAGAIN)
				break;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		*off += (size_t)n;
	}
	if (*off == *len)
		*off = *len = 0;
	return 0;
}
