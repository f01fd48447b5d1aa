/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_compiler.h: attributes and small macros every room uses. Header only, no dependencies.
 */
#ifndef VX_COMPILER_H
#define VX_COMPILER_H

#include <stddef.h>

#define VX_MUST_CHECK	     __attribute__((warn_unused_result))
#define VX_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define VX_NORETURN	     __attribute__((noreturn))
#define VX_UNUSED	     __attribute__((unused))
#define VX_LIKELY(x)	     __builtin_expect(!!(x), 1)
#define VX_UNLIKELY(x)	     __builtin_expect(!!(x), 0)

#define VX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The struct of type @type that holds @member at address @ptr. */
#define vx_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Round @x up / down to a multiple of @a, which must be a power of two. */
#define VX_ALIGN_UP(x, a)   (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define VX_ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define VX_IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a)-1)) == 0)

#define VX_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VX_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif /* VX_COMPILER_H */
