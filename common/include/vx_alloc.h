/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_alloc.h: every allocation in vx goes through here. Release builds map to jemalloc,
 * sanitizer and fuzz builds to libc malloc. Debug builds can fail the N-th allocation (or I/O,
 * or SQE) on purpose through vx_fault_arm(), so tests can walk every error path.
 */
#ifndef VX_ALLOC_H
#define VX_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

#include "vx_compiler.h"

/* Returns owned memory (free with vx_free) or NULL. vx_malloc(0) returns a unique pointer. */
void *vx_malloc(size_t size);
/* Zeroed array of @n elements of @size bytes; NULL on overflow or exhaustion. */
void *vx_calloc(size_t n, size_t size);
/* Array of @n elements of @size bytes, not zeroed; NULL on overflow or exhaustion. */
void *vx_mallocarray(size_t n, size_t size);
/* Like realloc(3); on failure @p is untouched and NULL is returned. */
void *vx_realloc(void *p, size_t size);
/* Memory aligned to @align (a power of two, multiple of sizeof(void *)), or NULL. */
void *vx_aligned_alloc(size_t align, size_t size);
/* Takes @p; NULL is a no-op. Also frees vx_aligned_alloc() memory. */
void vx_free(void *p);
/* Returns an owned copy of @s (NUL-terminated), or NULL. */
char *vx_strdup(const char *s);
/* Returns an owned NUL-terminated copy of @len bytes at @s, or NULL. */
char *vx_strndup(const char *s, size_t len);

/* What a debug-build fault can hit. */
enum vx_fault_kind {
	VX_FAULT_ALLOC = 0,
	VX_FAULT_IO = 1,
	VX_FAULT_SQE = 2,
	VX_FAULT_DB = 3,
	VX_FAULT_NR,
};

/*
 * vx_fault_arm() - make the @nth next call of vx_fault_hit(@kind) return true (once), counting
 * from 1; 0 disarms. Debug builds only; in release builds faults never fire.
 */
void vx_fault_arm(enum vx_fault_kind kind, unsigned long nth);
/* True when an armed fault of @kind fires now. Called at each fallible site in debug builds. */
bool vx_fault_hit(enum vx_fault_kind kind);

#endif /* VX_ALLOC_H */
