/* SPDX-License-Identifier: Apache-2.0 */
/*
 * assert.c: the failure path of VX_ASSERT. Prints the expression and aborts so a core or the
 * sanitizer shows the stack.
 */
#include "vx_assert.h"

#include <stdio.h>
#include <stdlib.h>

void vx_assert_fail(const char *expr, const char *file, int line, const char *func)
{
	fprintf(stderr, "vx: assertion failed: %s (%s:%d, %s)\n", expr, file, line, func);
	fflush(stderr);
	abort();
}
