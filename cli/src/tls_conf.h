/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls_conf.h: the "TLS whenever not loopback-only" rule of `vx serve` and `vx scheduler`
 * (spec/control.md section 10), and the daemon's TLS files: the tls.* keys, else DATA_DIR/tls/.
 */
#ifndef VX_CLI_TLS_CONF_H
#define VX_CLI_TLS_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "vx_tls.h"

/* True when "HOST:PORT" names a loopback address (127/8, ::1, localhost). */
bool vx_cli_addr_loopback(const char *hostport);

struct vx_cli_tls_paths {
	char cert[VX_CONFIG_PATH_MAX];
	char key[VX_CONFIG_PATH_MAX];
	char ca[VX_CONFIG_PATH_MAX];
	char crl[VX_CONFIG_PATH_MAX]; /* "" none */
};

/*
 * vx_cli_tls_paths() - the daemon's TLS files: tls.cert/key/ca/crl when set, else
 * @data_dir/tls/{cert,key,ca}.pem when all three exist (crl.pem with them when present).
 * Returns 1 (files in @out), 0 (no TLS configured), or -EINVAL (a path too long).
 */
int vx_cli_tls_paths(const struct vx_config *c, const char *data_dir, struct vx_cli_tls_paths *out);

/* The same as vx_tls_files (borrowing @p's strings). */
struct vx_tls_files vx_cli_tls_files(const struct vx_cli_tls_paths *p);

#endif /* VX_CLI_TLS_CONF_H */
