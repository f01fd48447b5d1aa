/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_utf8.h: strict UTF-8 checks for wire strings (Error messages, digests, parent ids) and
 * URLs. Follows RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
 */
#ifndef VX_UTF8_H
#define VX_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when @len bytes at @s (borrowed; NULL only if @len is 0) are valid UTF-8. */
bool vx_utf8_valid(const uint8_t *s, size_t len);

/*
 * vx_utf8_next_error() - the length of the valid prefix of @s, and in *@bad_len how many bytes
 * form the invalid sequence that follows (the "maximal subpart" that a lossy decoder replaces
 * with one U+FFFD, as Rust's String::from_utf8_lossy does), or 0 when all @len bytes are valid.
 */
size_t vx_utf8_next_error(const uint8_t *s, size_t len, size_t *bad_len);

/*
 * vx_utf8_truncate() - the largest length <= @max such that the first bytes of @s (valid
 * UTF-8, @len bytes) end on a character boundary.
 */
size_t vx_utf8_truncate(const uint8_t *s, size_t len, size_t max);

#endif /* VX_UTF8_H */
