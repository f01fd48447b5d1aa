/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crc32_isal.c: isa-l's CRC-32/IEEE (crc32_gzip_refl, which picks its own SSE/AVX2/AVX-512
 * kernel at run time). Built with VX_HAVE_ISAL when the isa-l library is found; without it the
 * implementation reports itself unavailable. This is the one file that tests the macro.
 */
#include "crc32_int.h"

#include "vx_assert.h"

#if defined(VX_HAVE_ISAL) && VX_HAVE_ISAL
#include <isa-l/crc.h>

uint32_t vx__crc32_isal(uint32_t crc, const uint8_t *buf, size_t len)
{
	return crc32_gzip_refl(crc, buf, (uint64_t)len);
}

bool vx__crc32_isal_supported(void)
{
	return true;
}
#else
uint32_t vx__crc32_isal(uint32_t crc, const uint8_t *buf, size_t len)
{
	(void)crc;
	(void)buf;
	(void)len;
	VX_ASSERT(vx__crc32_isal_supported()); /* never called without isa-l */
	return 0;
}

bool vx__crc32_isal_supported(void)
{
	return false;
}
#endif
