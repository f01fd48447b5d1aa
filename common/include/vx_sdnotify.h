/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_sdnotify.h: tell the service manager that a daemon is ready (systemd's Type=notify), by
 * the documented NOTIFY_SOCKET datagram protocol (sd_notify(3), "NOTIFY_SOCKET").
 */
#ifndef VX_SDNOTIFY_H
#define VX_SDNOTIFY_H

/*
 * vx_sd_notify() - send @state ("READY=1", "STOPPING=1") to the socket named by
 * $NOTIFY_SOCKET: a path, or "@name" for an abstract socket. Returns 1 if it was sent, 0 if
 * $NOTIFY_SOCKET is unset or empty (not run by a service manager: nothing to do), or a
 * negative errno. Never blocks for long: one datagram on a fresh socket.
 */
int vx_sd_notify(const char *state);

#endif /* VX_SDNOTIFY_H */
