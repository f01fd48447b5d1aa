/* SPDX-License-Identifier: Apache-2.0 */
/*
 * digest.c: vx_crc32() and its dispatch, the "crc32:<decimal>" piece digest strings, and the
 * whole-content digest texts of users and registries (vx_digest_spec_parse()).
 * The implementation is chosen once, at first use, by preference order from what this
 * machine can run; the order comes from `vx-bench codec` (bench/RESULTS.md).
 */
#include "vx_digest.h"

#include <errno.h>
#include <string.h>

#include <zlib.h>

#include "crc32_int.h"
#include "vx_assert.h"
#include "vx_hex.h"

typedef uint32_t (*vx_crc32_fn)(uint32_t crc, const uint8_t *buf, size_t len);

uint32_t vx__crc32_zlib(uint32_t crc, const uint8_t *buf, size_t len)
{
	return (uint32_t)crc32_z(crc, buf, len);
}

static const struct {
	const char *name;
	vx_crc32_fn fn;
	bool (*supported)(void);
} impls[VX_CRC32_IMPL_NR] = {
	[VX_CRC32_IMPL_ZLIB] = { "zlib", vx__crc32_zlib, NULL },
	[VX_CRC32_IMPL_PCLMUL] = { "pclmul", vx__crc32_pclmul, vx__crc32_pclmul_supported },
	[VX_CRC32_IMPL_ISAL] = { "isa-l", vx__crc32_isal, vx__crc32_isal_supported },
	[VX_CRC32_IMPL_VPCLMUL] = { "vpclmul", vx__crc32_vpclmul, vx__crc32_vpclmul_supported },
};

/* Fastest first, as measured by `vx-bench codec` (bench/RESULTS.md). */
static const enum vx_crc32_impl preference[] = {
	VX_CRC32_IMPL_ISAL,
	VX_CRC32_IMPL_VPCLMUL,
	VX_CRC32_IMPL_PCLMUL,
	VX_CRC32_IMPL_ZLIB,
};

/* Chosen on first use; racing first calls store the same value. */
static int selected = -1;

bool vx_crc32_impl_available(enum vx_crc32_impl impl)
{
	if ((unsigned int)impl >= VX_CRC32_IMPL_NR)
		return false;
	return impls[impl].supported == NULL || impls[impl].supported();
}

const char *vx_crc32_impl_name(enum vx_crc32_impl impl)
{
	if ((unsigned int)impl >= VX_CRC32_IMPL_NR)
		return "unknown";
	return impls[impl].name;
}

enum vx_crc32_impl vx_crc32_impl_selected(void)
{
	int s = __atomic_load_n(&selected, __ATOMIC_RELAXED);

	if (s >= 0)
		return (enum vx_crc32_impl)s;
	s = VX_CRC32_IMPL_ZLIB;
	for (size_t i = 0; i < VX_ARRAY_SIZE(preference); i++) {
		if (vx_crc32_impl_available(preference[i])) {
			s = (int)preference[i];
			break;
		}
	}
	__atomic_store_n(&selected, s, __ATOMIC_RELAXED);
	return (enum vx_crc32_impl)s;
}

uint32_t vx_crc32_with(enum vx_crc32_impl impl, uint32_t crc, const void *buf, size_t len)
{
	VX_ASSERT(vx_crc32_impl_available(impl));
	VX_ASSERT(buf != NULL || len == 0);
	if (len == 0)
		return crc;
	return impls[impl].fn(crc, buf, len);
}

uint32_t vx_crc32(uint32_t crc, const void *buf, size_t len)
{
	VX_DASSERT(buf != NULL || len == 0);
	if (len == 0)
		return crc;
	return impls[vx_crc32_impl_selected()].fn(crc, buf, len);
}

int vx_digest_format_crc32(uint32_t crc, char *out, size_t out_len)
{
	char digits[10];
	size_t n = 0, i;

	do {
		digits[n++] = (char)('0' + crc % 10);
		crc /= 10;
	} while (crc != 0);
	if (out_len < 6 + n + 1) {
		if (out_len > 0)
			out[0] = '\0';
		return -ENOSPC;
	}
	memcpy(out, "crc32:", 6);
	for (i = 0; i < n; i++)
		out[6 + i] = digits[n - 1 - i];
	out[6 + n] = '\0';
	return (int)(6 + n);
}

int vx_digest_parse_crc32(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len < 7 || len > 16 || memcmp(s, "crc32:", 6) != 0)
		return -EINVAL;
	for (i = 6; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* The sha algorithms' names and sizes; all names are 7 bytes ("sha256:"). */
static const struct {
	enum vx_digest_algo algo;
	const char *prefix;
	uint32_t len;
} shas[] = {
	{ VX_DIGEST_SHA256, "sha256:", 32 },
	{ VX_DIGEST_SHA512, "sha512:", 64 },
};

int vx_digest_spec_parse(const char *s, size_t len, unsigned accept, struct vx_digest_spec *out)
{
	struct vx_digest_spec d;
	uint32_t crc;

	VX_ASSERT(out);
	if (!s || len > VX_DIGEST_SPEC_MAX)
		return -EINVAL;
	memset(&d, 0, sizeof(d));
	for (size_t i = 0; i < sizeof(shas) / sizeof(shas[0]); i++) {
		const char *hex = s + 7;

		if (len < 7 || memcmp(s, shas[i].prefix, 7) != 0)
			continue;
		if (!(accept & (1u << shas[i].algo)) || len - 7 != 2 * (size_t)shas[i].len)
			return -EINVAL;
		if ((accept & VX_DIGEST_LOWER_HEX) && !vx_hex_is_lower(hex, len - 7))
			return -EINVAL;
		if (vx_hex_decode(hex, len - 7, d.value, shas[i].len))
			return -EINVAL;
		d.algo = shas[i].algo;
		d.len = shas[i].len;
		*out = d;
		return 0;
	}
	if (!(accept & VX_DIGEST_ACCEPT_CRC32) || vx_digest_parse_crc32(s, len, &crc))
		return -EINVAL;
	d.algo = VX_DIGEST_CRC32;
	d.len = 4;
	d.value[0] = (uint8_t)(crc >> 24);
	d.value[1] = (uint8_t)(crc >> 16);
	d.value[2] = (uint8_t)(crc >> 8);
	d.value[3] = (uint8_t)crc;
	*out = d;
	return 0;
}

bool vx_digest_spec_valid(const char *s, size_t len, unsigned accept)
{
	struct vx_digest_spec d;

	return vx_digest_spec_parse(s, len, accept, &d) == 0;
}
