/* SPDX-License-Identifier: Apache-2.0 */
/*
 * args.h: small helpers for subcommand argument parsing: strict integer and byte-size parsing
 * with clear errors.
 */
#ifndef VX_CLI_ARGS_H
#define VX_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

/* Parses a decimal u64 (no sign, no junk). Returns 0 or -EINVAL / -ERANGE. */
int vx_args_parse_u64(const char *s, uint64_t *out);
/*
 * Parses a byte size: a decimal number with an optional unit B, K/KB/KiB, M/MB/MiB, G/GB/GiB,
 * T/TB/TiB (all powers of 1024, case-insensitive). Returns 0 or -EINVAL / -ERANGE.
 */
int vx_args_parse_size(const char *s, uint64_t *out);

/*
 * Parses a duration: a decimal number with a unit ms, s, m, h or d ("250ms", "30s", "7d"); a
 * bare 0 is accepted. Returns 0 with milliseconds in @out_ms, or -EINVAL / -ERANGE.
 */
int vx_args_parse_duration_ms(const char *s, uint64_t *out_ms);

/*
 * Splits "HOST:PORT" or "[V6]:PORT" into @host (@host_len bytes, NUL-terminated, brackets
 * removed) and @port (1..65535). Returns 0 or -EINVAL.
 */
int vx_args_parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port);
/* The same for an address to listen on: port 0 (the kernel picks one) is allowed. */
int vx_args_parse_listen(const char *s, char *host, size_t host_len, uint16_t *port);

#endif /* VX_CLI_ARGS_H */
