/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pki_cli.h: `vx token create --role peer|seed`, the join tokens of the cluster CA (cmd_cert.c),
 * reached from `vx token` (cmd_token.c) when --role is given.
 */
#ifndef VX_CLI_PKI_H
#define VX_CLI_PKI_H

#include <stdbool.h>

/* True when @argv asks for a join token (a --role flag). */
bool vx_cli_is_join_token(int argc, char **argv);
/* Runs `vx token create --role ...`; returns the exit code. */
int vx_cli_join_token(int argc, char **argv);

#endif /* VX_CLI_PKI_H */
