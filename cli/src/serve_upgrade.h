/* SPDX-License-Identifier: Apache-2.0 */
/*
 * serve_upgrade.h: the graceful upgrade of `vx serve` (SIGUSR2): the running daemon starts the
 * new one (the program now installed at its own path, with its arguments) and hands it the
 * upload server's listening socket as descriptor 3 with VX_UPGRADE_LISTEN_FD=3, then stops as
 * on SIGTERM. The new daemon waits for it to exit (it holds the store's lock), opens the store,
 * resumes the unfinished tasks from their finished pieces and accepts on the same socket: the
 * connections that arrived meanwhile waited in its backlog (spec/peer.md section 6).
 */
#ifndef VX_CLI_SERVE_UPGRADE_H
#define VX_CLI_SERVE_UPGRADE_H

#include <stddef.h>
#include <sys/types.h>

#include "vx_compiler.h"

/* The environment variable naming the handed-over descriptor. */
#define VX_UPGRADE_ENV "VX_UPGRADE_LISTEN_FD"

/*
 * vx_serve_upgrade_inherited() - the listening socket handed over by the daemon this process
 * upgrades, or 0 when this start is not an upgrade. The variable is removed from the
 * environment and the descriptor made close-on-exec. Returns the descriptor, 0, or -EINVAL
 * with @err when the variable names no listening TCP socket.
 */
VX_MUST_CHECK int vx_serve_upgrade_inherited(char *err, size_t err_len);

/*
 * vx_serve_upgrade_wait_parent() - waits until the process that started this one (the daemon
 * it upgrades) has exited, at most @timeout_ms. Returns 0, or -ETIMEDOUT.
 */
VX_MUST_CHECK int vx_serve_upgrade_wait_parent(pid_t parent, unsigned timeout_ms);

/*
 * vx_serve_upgrade_spawn() - starts the new daemon with this process's arguments and
 * @listen_fd as its descriptor 3. Returns 0 with *@pid, or a negative errno with @err.
 */
VX_MUST_CHECK int vx_serve_upgrade_spawn(int listen_fd, pid_t *pid, char *err, size_t err_len);

#endif /* VX_CLI_SERVE_UPGRADE_H */
