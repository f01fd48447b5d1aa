/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_vortex_digest.c: CRC-32/IEEE through every implementation against zlib, on many random
 * lengths and alignments, chained and whole; the "crc32:<decimal>" strings. And
 * shared/reference/dragonfly-behaviour.md 5.5 item 18 (no MD5; the digest algorithm is not
 * downgradable by a client field): the one digest grammar refuses "md5:" for every caller, and
 * where an OCI digest is read (a manifest's layers) crc32 is refused (accept_and_case).
 */
#include "vx_test.h"

#include <errno.h>
#include <stdio.h>

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "vx_digest.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

static void test_vx_crc32__check_value(void **state)
{
	(void)state;
	/* the CRC-32/ISO-HDLC check value */
	assert_int_equal(vx_crc32(0, "123456789", 9), 0xCBF43926u);
	assert_int_equal(vx_crc32(0, NULL, 0), 0);
	assert_int_equal(vx_crc32(0x1234, NULL, 0), 0x1234);
	for (int i = 0; i < VX_CRC32_IMPL_NR; i++) {
		if (vx_crc32_impl_available((enum vx_crc32_impl)i))
			assert_int_equal(vx_crc32_with((enum vx_crc32_impl)i, 0, "123456789", 9),
					 0xCBF43926u);
	}
	assert_true(vx_crc32_impl_available(VX_CRC32_IMPL_ZLIB));
	assert_true(vx_crc32_impl_available(vx_crc32_impl_selected()));
	assert_string_equal(vx_crc32_impl_name(VX_CRC32_IMPL_ZLIB), "zlib");
	assert_string_equal(vx_crc32_impl_name(VX_CRC32_IMPL_NR), "unknown");
	assert_false(vx_crc32_impl_available(VX_CRC32_IMPL_NR));
}

static void test_vx_crc32_with__matches_zlib_random(void **state)
{
	enum { MAXLEN = 70000 };
	uint8_t *buf = malloc(MAXLEN + 64);

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < MAXLEN + 64; i++)
		buf[i] = (uint8_t)rnd();
	for (int impl = 0; impl < VX_CRC32_IMPL_NR; impl++) {
		if (!vx_crc32_impl_available((enum vx_crc32_impl)impl))
			continue;
		for (int iter = 0; iter < 3000; iter++) {
			/* short lengths often: the SIMD paths switch at 16 and 64 bytes */
			size_t len = (iter % 3 == 0) ? rnd() % MAXLEN : rnd() % 300;
			size_t off = rnd() % 64;
			uint32_t seed = (iter % 5 == 0) ? 0 : rnd();
			uint32_t want = (uint32_t)crc32_z(seed, buf + off, len);

			assert_int_equal(
				vx_crc32_with((enum vx_crc32_impl)impl, seed, buf + off, len),
				want);
		}
	}
	free(buf);
}

static void test_vx_crc32__chains(void **state)
{
	uint8_t buf[4096];
	uint32_t whole, part;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	whole = vx_crc32(0, buf, sizeof(buf));
	for (size_t cut = 0; cut <= sizeof(buf); cut += 97) {
		part = vx_crc32(0, buf, cut);
		part = vx_crc32(part, buf + cut, sizeof(buf) - cut);
		assert_int_equal(part, whole);
	}
	/* all zero and all one bytes, lengths around the fold sizes */
	memset(buf, 0, sizeof(buf));
	for (size_t n = 0; n < 300; n++)
		assert_int_equal(vx_crc32(0, buf, n), (uint32_t)crc32_z(0, buf, n));
	memset(buf, 0xFF, sizeof(buf));
	for (size_t n = 0; n < 300; n++)
		assert_int_equal(vx_crc32(0, buf, n), (uint32_t)crc32_z(0, buf, n));
}

static void test_vx_digest_format_crc32__decimal(void **state)
{
	char out[VX_DIGEST_CRC32_STR_MAX];

	(void)state;
	assert_int_equal(vx_digest_format_crc32(2533597436u, out, sizeof(out)), 16);
	assert_string_equal(out, "crc32:2533597436");
	assert_int_equal(vx_digest_format_crc32(0, out, sizeof(out)), 7);
	assert_string_equal(out, "crc32:0");
	assert_int_equal(vx_digest_format_crc32(UINT32_MAX, out, sizeof(out)), 16);
	assert_string_equal(out, "crc32:4294967295");
	assert_int_equal(vx_digest_format_crc32(UINT32_MAX, out, 16), -ENOSPC);
	assert_string_equal(out, "");
	assert_int_equal(vx_digest_format_crc32(7, out, 8), 7);
}

static void test_vx_digest_parse_crc32__strict(void **state)
{
	uint32_t v = 99;

	(void)state;
	assert_int_equal(vx_digest_parse_crc32("crc32:2533597436", 16, &v), 0);
	assert_int_equal(v, 2533597436u);
	assert_int_equal(vx_digest_parse_crc32("crc32:007", 9, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(vx_digest_parse_crc32("crc32:4294967295", 16, &v), 0);
	v = 99;
	assert_int_equal(vx_digest_parse_crc32("crc32:4294967296", 16, &v), -EINVAL);
	assert_int_equal(vx_digest_parse_crc32("crc32:", 6, &v), -EINVAL);
	assert_int_equal(vx_digest_parse_crc32("CRC32:1", 7, &v), -EINVAL);
	assert_int_equal(vx_digest_parse_crc32("crc32:-1", 8, &v), -EINVAL);
	assert_int_equal(vx_digest_parse_crc32("crc32: 1", 8, &v), -EINVAL);
	assert_int_equal(vx_digest_parse_crc32("crc32:1a", 8, &v), -EINVAL);
	assert_int_equal(vx_digest_parse_crc32("crc32:12345678901", 17, &v), -EINVAL);
	assert_int_equal(vx_digest_parse_crc32("sha256:1", 8, &v), -EINVAL);
	/* length is what counts, not a NUL */
	assert_int_equal(vx_digest_parse_crc32("crc32:12x", 8, &v), 0);
	assert_int_equal(v, 12);
}

static void test_vx_digest_spec_parse__forms(void **state)
{
	struct vx_digest_spec d;
	char sha512[VX_DIGEST_SPEC_MAX + 2];

	(void)state;
	assert_int_equal(vx_digest_spec_parse("crc32:7", 7, VX_DIGEST_USER, &d), 0);
	assert_int_equal(d.algo, VX_DIGEST_CRC32);
	assert_int_equal(d.len, 4);
	assert_int_equal(d.value[3], 7);
	assert_int_equal(vx_digest_spec_parse("crc32:2533597436", 16, VX_DIGEST_USER, &d), 0);
	assert_int_equal((uint32_t)d.value[0] << 24 | (uint32_t)d.value[1] << 16 |
				 (uint32_t)d.value[2] << 8 | d.value[3],
			 2533597436u);
	assert_int_equal(vx_digest_spec_parse("sha256:00112233445566778899AABBCCDDEEFF"
					      "00112233445566778899aabbccddeeff",
					      71, VX_DIGEST_USER, &d),
			 0);
	assert_int_equal(d.algo, VX_DIGEST_SHA256);
	assert_int_equal(d.len, 32);
	assert_int_equal(d.value[10], 0xaa);
	assert_int_equal(d.value[31], 0xff);
	memcpy(sha512, "sha512:", 7);
	memset(sha512 + 7, 'f', 129);
	assert_int_equal(vx_digest_spec_parse(sha512, 135, VX_DIGEST_USER, &d), 0);
	assert_int_equal(d.algo, VX_DIGEST_SHA512);
	assert_int_equal(d.len, 64);
	assert_int_equal(d.value[63], 0xff);
	assert_int_equal(vx_digest_spec_parse(sha512, 135, VX_DIGEST_OCI, &d), 0);
}

static void test_vx_digest_spec_parse__refuses(void **state)
{
	struct vx_digest_spec d = { .algo = VX_DIGEST_SHA512, .len = 99 };
	char sha512[VX_DIGEST_SPEC_MAX + 2];
	char sha256[7 + 64 + 1];

	(void)state;
	memcpy(sha512, "sha512:", 7);
	memset(sha512 + 7, 'f', 129);
	assert_int_equal(vx_digest_spec_parse(sha512, 134, VX_DIGEST_USER, &d), -EINVAL);
	assert_int_equal(vx_digest_spec_parse(sha512, 136, VX_DIGEST_USER, &d), -EINVAL);
	memcpy(sha256, "sha256:", 7);
	memset(sha256 + 7, '0', 64);
	sha256[40] = '\0'; /* length counts, a NUL is just a byte */
	assert_int_equal(vx_digest_spec_parse(sha256, 71, VX_DIGEST_USER, &d), -EINVAL);
	assert_int_equal(vx_digest_spec_parse("sha256:xyz", 10, VX_DIGEST_USER, &d), -EINVAL);
	assert_int_equal(vx_digest_spec_parse("sha256:", 7, VX_DIGEST_USER, &d), -EINVAL);
	assert_int_equal(vx_digest_spec_parse("sha256", 6, VX_DIGEST_USER, &d), -EINVAL);
	assert_int_equal(vx_digest_spec_parse("md5:00", 6, VX_DIGEST_USER, &d), -EINVAL);
	assert_int_equal(vx_digest_spec_parse("SHA256:00", 9, VX_DIGEST_USER, &d), -EINVAL);
	assert_int_equal(vx_digest_spec_parse("crc32:", 6, VX_DIGEST_USER, &d), -EINVAL);
	assert_int_equal(vx_digest_spec_parse("crc32:4294967296", 16, VX_DIGEST_USER, &d), -EINVAL);
	assert_int_equal(vx_digest_spec_parse("", 0, VX_DIGEST_USER, &d), -EINVAL);
	assert_int_equal(vx_digest_spec_parse(NULL, 0, VX_DIGEST_USER, &d), -EINVAL);
	/* untouched on failure */
	assert_int_equal(d.algo, VX_DIGEST_SHA512);
	assert_int_equal(d.len, 99);
}

/* The accept mask: algorithms a caller does not take, and the OCI rule of lowercase hex. */
static void test_vx_digest_spec_parse__accept_and_case(void **state)
{
	static const char lower[] = "sha256:00112233445566778899aabbccddeeff"
				    "00112233445566778899aabbccddeeff";
	static const char upper[] = "sha256:00112233445566778899AABBCCDDEEFF"
				    "00112233445566778899aabbccddeeff";
	char sha512[7 + 128];

	(void)state;
	memcpy(sha512, "sha512:", 7);
	memset(sha512 + 7, 'a', 128);
	assert_true(vx_digest_spec_valid(lower, 71, VX_DIGEST_USER));
	assert_true(vx_digest_spec_valid(upper, 71, VX_DIGEST_USER));
	assert_true(vx_digest_spec_valid(lower, 71, VX_DIGEST_OCI));
	assert_false(vx_digest_spec_valid(upper, 71, VX_DIGEST_OCI));
	assert_false(vx_digest_spec_valid("crc32:7", 7, VX_DIGEST_OCI));
	assert_true(vx_digest_spec_valid(sha512, sizeof(sha512), VX_DIGEST_OCI));
	assert_false(vx_digest_spec_valid(sha512, sizeof(sha512),
					  VX_DIGEST_ACCEPT_SHA256 | VX_DIGEST_LOWER_HEX));
	assert_true(vx_digest_spec_valid(lower, 71, VX_DIGEST_ACCEPT_SHA256 | VX_DIGEST_LOWER_HEX));
	assert_false(vx_digest_spec_valid(lower, 71, VX_DIGEST_ACCEPT_CRC32));
	assert_true(vx_digest_spec_valid("crc32:7", 7, VX_DIGEST_ACCEPT_CRC32));
	assert_false(vx_digest_spec_valid(lower, 71, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_crc32__check_value),
		cmocka_unit_test(test_vx_crc32_with__matches_zlib_random),
		cmocka_unit_test(test_vx_crc32__chains),
		cmocka_unit_test(test_vx_digest_format_crc32__decimal),
		cmocka_unit_test(test_vx_digest_parse_crc32__strict),
		cmocka_unit_test(test_vx_digest_spec_parse__forms),
		cmocka_unit_test(test_vx_digest_spec_parse__refuses),
		cmocka_unit_test(test_vx_digest_spec_parse__accept_and_case),
	};

	return cmocka_run_group_tests_name("vortex_digest", tests, NULL, NULL);
}
