/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alloc.c: the one allocator of vx (jemalloc in release builds, libc under sanitizers), plus
 * the debug-build fault hook used by error-path tests.
 */
#include "vx_alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Debian's jemalloc is built without a prefix: linking it (release builds, see
 * common/CMakeLists.txt) replaces malloc and friends process-wide, so the same calls reach
 * jemalloc there and libc under the sanitizers.
 */
#define vx__malloc	   malloc
#define vx__calloc	   calloc
#define vx__realloc	   realloc
#define vx__free	   free
#define vx__posix_memalign posix_memalign

#if defined(VX_DEBUG) && VX_DEBUG
static _Thread_local unsigned long vx_fault_countdown[VX_FAULT_NR];

void vx_fault_arm(enum vx_fault_kind kind, unsigned long nth)
{
	if ((unsigned)kind < VX_FAULT_NR)
		vx_fault_countdown[kind] = nth;
}

bool vx_fault_hit(enum vx_fault_kind kind)
{
	if ((unsigned)kind >= VX_FAULT_NR || vx_fault_countdown[kind] == 0)
		return false;
	return --vx_fault_countdown[kind] == 0;
}
#else
void vx_fault_arm(enum vx_fault_kind kind, unsigned long nth)
{
	(void)kind;
	(void)nth;
}

bool vx_fault_hit(enum vx_fault_kind kind)
{
	(void)kind;
	return false;
}
#endif

void *vx_malloc(size_t size)
{
	if (vx_fault_hit(VX_FAULT_ALLOC))
		return NULL;
	return vx__malloc(size ? size : 1);
}

void *vx_calloc(size_t n, size_t size)
{
	if (vx_fault_hit(VX_FAULT_ALLOC))
		return NULL;
	if (n == 0 || size == 0)
		return vx__calloc(1, 1);
	return vx__calloc(n, size);
}

void *vx_mallocarray(size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total))
		return NULL;
	return vx_malloc(total);
}

void *vx_realloc(void *p, size_t size)
{
	if (vx_fault_hit(VX_FAULT_ALLOC))
		return NULL;
	return vx__realloc(p, size ? size : 1);
}

void *vx_aligned_alloc(size_t align, size_t size)
{
	void *p = NULL;

	if (vx_fault_hit(VX_FAULT_ALLOC))
		return NULL;
	if (align < sizeof(void *) || (align & (align - 1)) != 0)
		return NULL;
	if (vx__posix_memalign(&p, align, size ? size : align) != 0)
		return NULL;
	return p;
}

void vx_free(void *p)
{
	if (p)
		vx__free(p);
}

char *vx_strndup(const char *s, size_t len)
{
	char *d = vx_malloc(len + 1);

	if (!d)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *vx_strdup(const char *s)
{
	return vx_strndup(s, strlen(s));
}
