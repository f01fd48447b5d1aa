/* SPDX-License-Identifier: Apache-2.0 */
/*
 * args.h: small helpers for subcommand argument parsing: strict integer and byte-size parsing
 * with clear errors.
 */
#ifndef VX_CLI_ARGS_H
#define VX_CLI_ARGS_H

#include <stdint.h>

/* Parses a decimal u64 (no sign, no junk). Returns 0 or -EINVAL / -ERANGE. */
int vx_args_parse_u64(const char *s, uint64_t *out);
/*
 * Parses a byte size: a decimal number with an optional unit B, K/KB/KiB, M/MB/MiB, G/GB/GiB,
 * T/TB/TiB (all powers of 1024, case-insensitive). Returns 0 or -EINVAL / -ERANGE.
 */
int vx_args_parse_size(const char *s, uint64_t *out);

#endif /* VX_CLI_ARGS_H */
