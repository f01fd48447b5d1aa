/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_test.h: what every cmocka test includes. cmocka 1.1.5 needs these system headers first.
 */
#ifndef VX_TEST_H
#define VX_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Exit code that ctest reads as "skipped" (SKIP_RETURN_CODE). */
#define VX_TEST_SKIP 77

#endif /* VX_TEST_H */
