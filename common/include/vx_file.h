/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_file.h: small whole-file reads (configuration files, runtime configs), not for content.
 */
#ifndef VX_FILE_H
#define VX_FILE_H

#include <stddef.h>

#include "vx_compiler.h"

/*
 * vx_file_read_fd() - the whole of regular file @fd, at most @max bytes, into a new buffer
 * with a NUL after the last byte. @fd is borrowed (not closed). Returns 0 with *@out (owned,
 * vx_free()) and *@len, -EINVAL (not a regular file), -EMSGSIZE (larger than @max), -ENOMEM
 * or a read error. Nothing is allocated on failure.
 */
VX_MUST_CHECK int vx_file_read_fd(int fd, size_t max, char **out, size_t *len);

/*
 * vx_file_read_stream() - as vx_file_read_fd(), for files whose size stat() does not know
 * (/proc, /sys, pipes): reads until end of file, at most @max bytes (-EMSGSIZE beyond).
 */
VX_MUST_CHECK int vx_file_read_stream(int fd, size_t max, char **out, size_t *len);

/*
 * vx_raise_nofile() - raise the soft RLIMIT_NOFILE towards the hard one (at most @cap) at a
 * program's start: a daemon keeps a socket per connection and a file per busy task, and the
 * common soft 1,024 is far below what the hard limit allows. Returns the soft limit in force
 * afterwards (RLIM_INFINITY reported as @cap).
 */
unsigned long vx_raise_nofile(unsigned long cap);

#endif /* VX_FILE_H */
