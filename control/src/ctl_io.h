/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctl_io.h: socket helpers shared by the scheduler server and the peer-side client, which both
 * keep one outgoing byte queue per non-blocking connection.
 */
#ifndef VX_CTL_IO_H
#define VX_CTL_IO_H

#include <stddef.h>
#include <stdint.h>

/*
 * vx__ctl_send_queued() - send bytes [*@off, *@len) of @buf on the non-blocking socket @fd
 * until the kernel would block. Advances *@off; when everything is sent both go back to 0.
 * Returns 0 (check *@len for what is left), or a negative errno when the connection is broken.
 */
int vx__ctl_send_queued(int fd, const uint8_t *buf, size_t *off, size_t *len);

#endif /* VX_CTL_IO_H */
