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

#define VX__CAT2(a, b) a##b
#define VX__CAT(a, b)  VX__CAT2(a, b)
#define VX__UNIQ(p)    VX__CAT(p, __COUNTER__)

#define VX__MIN(a, b, ua, ub)           \
	__extension__({                 \
		__typeof__(a) ua = (a); \
		__typeof__(b) ub = (b); \
		ua < ub ? ua : ub;      \
	})
#define VX__MAX(a, b, ua, ub)           \
	__extension__({                 \
		__typeof__(a) ua = (a); \
		__typeof__(b) ub = (b); \
		ua > ub ? ua : ub;      \
	})

/*
 * The smaller / larger of two values, each argument evaluated exactly once (VX_MAX(x, f())
 * calls f once). Not a constant expression: use a plain ternary in array sizes and case labels.
 */
#define VX_MIN(a, b) VX__MIN(a, b, VX__UNIQ(vx_min_a_), VX__UNIQ(vx_min_b_))
#define VX_MAX(a, b) VX__MAX(a, b, VX__UNIQ(vx_max_a_), VX__UNIQ(vx_max_b_))

#endif /* VX_COMPILER_H */
