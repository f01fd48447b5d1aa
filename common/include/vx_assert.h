/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_assert.h: assertions catch programmer errors; error returns handle the world. Never
 * assert on peer input, file contents or source responses.
 *   VX_ASSERT(cond)  always on, cheap.
 *   VX_DASSERT(cond) hot paths; compiled only in debug and sanitizer builds (VX_DEBUG).
 */
#ifndef VX_ASSERT_H
#define VX_ASSERT_H

#include "vx_compiler.h"

VX_NORETURN void vx_assert_fail(const char *expr, const char *file, int line, const char *func);

#define VX_ASSERT(cond)                                                      \
	do {                                                                 \
		if (VX_UNLIKELY(!(cond)))                                    \
			vx_assert_fail(#cond, __FILE__, __LINE__, __func__); \
	} while (0)

#if defined(VX_DEBUG) && VX_DEBUG
#define VX_DASSERT(cond) VX_ASSERT(cond)
#else
#define VX_DASSERT(cond) ((void)sizeof(!(cond)))
#endif

#endif /* VX_ASSERT_H */
