/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common.c: the base layer: errors, allocation and its fault hook, lists, byte order, hex,
 * bitmaps and hashes. The net module and the work pool have files of their own.
 */
#include "vx_test.h"

#include <string.h>

#include "vx_alloc.h"
#include "vx_bitmap.h"
#include "vx_bytes.h"
#include "vx_err.h"
#include "vx_hash.h"
#include "vx_hex.h"
#include "vx_list.h"
#include "vx_log.h"

static void test_strerror__errno_and_vx(void **state)
{
	(void)state;
	assert_string_equal(vx_strerror(0), "success");
	assert_string_equal(vx_strerror(-ENOENT), "No such file or directory");
	assert_string_equal(vx_strerror(ENOENT), "No such file or directory");
	assert_string_equal(vx_strerror(VX_EDIGEST), "digest mismatch");
	assert_string_equal(vx_strerror(-4090), "unknown vx error");
	assert_true(vx_err_is_vx(VX_ENOPEERS));
	assert_false(vx_err_is_vx(-EIO));
}

static void test_alloc__overflow_and_faults(void **state)
{
	void *p;

	(void)state;
	assert_null(vx_mallocarray(SIZE_MAX / 2, 3));
	p = vx_malloc(0);
	assert_non_null(p);
	vx_free(p);
	vx_free(NULL);
	p = vx_aligned_alloc(4096, 8192);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % 4096, 0);
	vx_free(p);
	assert_null(vx_aligned_alloc(3, 16));

	vx_fault_arm(VX_FAULT_ALLOC, 2);
	p = vx_malloc(8);
	assert_non_null(p);
	vx_free(p);
#if defined(VX_DEBUG) && VX_DEBUG
	assert_null(vx_malloc(8));
#endif
	p = vx_malloc(8);
	assert_non_null(p);
	vx_free(p);
}

static void test_strndup__copies_and_terminates(void **state)
{
	char *s;

	(void)state;
	s = vx_strndup("abcdef", 3);
	assert_string_equal(s, "abc");
	vx_free(s);
}

struct item {
	int v;
	struct vx_list node;
};

static void test_list__order_and_safe_delete(void **state)
{
	struct item items[4];
	struct vx_list head, *pos, *tmp;
	int sum = 0, i;

	(void)state;
	vx_list_init(&head);
	assert_true(vx_list_empty(&head));
	for (i = 0; i < 4; i++) {
		items[i].v = i;
		vx_list_add_tail(&head, &items[i].node);
	}
	assert_int_equal(vx_list_first(&head, struct item, node)->v, 0);
	vx_list_for_each_safe(pos, tmp, &head) {
		struct item *it = vx_list_entry(pos, struct item, node);

		sum = sum * 10 + it->v;
		if (it->v % 2 == 0)
			vx_list_del(pos);
	}
	assert_int_equal(sum, 123);
	assert_int_equal(vx_list_first(&head, struct item, node)->v, 1);
	vx_list_del(&items[1].node);
	vx_list_del(&items[3].node);
	assert_true(vx_list_empty(&head));
}

static void test_bytes__big_endian(void **state)
{
	uint8_t b[8];

	(void)state;
	vx_put_be32(b, 0x01020304u);
	assert_memory_equal(b, "\x01\x02\x03\x04", 4);
	assert_int_equal(vx_get_be32(b), 0x01020304u);
	vx_put_be64(b, 0x0102030405060708ull);
	assert_true(vx_get_be64(b) == 0x0102030405060708ull);
	vx_put_be16(b, 0xabcd);
	assert_int_equal(vx_get_be16(b), 0xabcd);
}

static void test_log__level_names(void **state)
{
	(void)state;
	assert_int_equal(vx_log_set_level_name("debug"), 0);
	assert_true(vx_log_enabled(VX_LOG_DEBUG));
	assert_int_equal(vx_log_set_level_name("loud"), -EINVAL);
	assert_int_equal(vx_log_set_level_name("warn"), 0);
	assert_false(vx_log_enabled(VX_LOG_INFO));
}

static void test_hex__encode_decode_check(void **state)
{
	const uint8_t in[4] = { 0x00, 0x9f, 0xa0, 0xff };
	uint8_t out[4];
	char text[9];

	(void)state;
	vx_hex_encode(in, sizeof(in), text);
	assert_string_equal(text, "009fa0ff");
	assert_int_equal(vx_hex_decode(text, 8, out, sizeof(out)), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(vx_hex_decode("009FA0FF", 8, out, sizeof(out)), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(vx_hex_decode("009fa0f", 7, out, sizeof(out)), -EINVAL);
	assert_int_equal(vx_hex_decode("009fa0fg", 8, out, sizeof(out)), -EINVAL);
	assert_int_equal(vx_hex_decode("0x9fa0ff", 8, out, sizeof(out)), -EINVAL);
	assert_true(vx_hex_is_lower("0123456789abcdef", 16));
	assert_true(vx_hex_is_lower("abcX", 3));
	assert_false(vx_hex_is_lower("abcX", 4));
	assert_false(vx_hex_is_lower("ABCD", 4));
	assert_false(vx_hex_is_lower("ab d", 4));
	assert_int_equal(vx_hex_val('f'), 15);
	assert_int_equal(vx_hex_val('F'), 15);
	assert_int_equal(vx_hex_val('g'), -1);
	assert_int_equal(vx_hex_val('/'), -1);
}

/* The used bits of a map's last byte: every count mod 8, and against vx_bit_set's bits. */
static void test_bitmap_last_mask__used_bits_of_last_byte(void **state)
{
	static const uint8_t want[8] = { 0xff, 0x80, 0xc0, 0xe0, 0xf0, 0xf8, 0xfc, 0xfe };

	(void)state;
	for (uint64_t nbits = 1; nbits <= 24; nbits++) {
		uint8_t b[3] = { 0 };

		for (uint64_t i = 0; i < nbits; i++)
			vx_bit_set(b, i);
		assert_int_equal(vx_bitmap_last_mask(nbits), want[nbits % 8]);
		assert_int_equal(b[vx_bitmap_bytes(nbits) - 1], vx_bitmap_last_mask(nbits));
	}
	assert_int_equal(vx_bitmap_last_mask(UINT64_MAX), 0xfe); /* 2^64 - 1 = 7 mod 8 */
}

static void test_bitmap__msb_first_count_first_zero(void **state)
{
	uint8_t b[3] = { 0 };

	(void)state;
	assert_int_equal(vx_bitmap_bytes(0), 0);
	assert_int_equal(vx_bitmap_bytes(1), 1);
	assert_int_equal(vx_bitmap_bytes(8), 1);
	assert_int_equal(vx_bitmap_bytes(9), 2);
	vx_bit_set(b, 0);
	vx_bit_set(b, 9);
	assert_int_equal(b[0], 0x80); /* piece 0 is the most significant bit, as BITFIELD */
	assert_int_equal(b[1], 0x40);
	assert_true(vx_bit_get(b, 9));
	assert_false(vx_bit_get(b, 8));
	vx_bit_clear(b, 9);
	assert_int_equal(b[1], 0);
	assert_int_equal(vx_bitmap_first_zero(b, 0, 20), 1);
	memset(b, 0xff, sizeof(b));
	assert_int_equal(vx_bitmap_count(b, 20), 20); /* spare bits past 20 are not counted */
	assert_int_equal(vx_bitmap_first_zero(b, 0, 20), 20);
	vx_bit_clear(b, 17);
	assert_int_equal(vx_bitmap_first_zero(b, 0, 20), 17);
	assert_int_equal(vx_bitmap_first_zero(b, 3, 20), 17);
	assert_int_equal(vx_bitmap_first_zero(b, 18, 20), 20);
	assert_int_equal(vx_bitmap_first_zero(b, 0, 17), 17);
	assert_int_equal(vx_bitmap_count(b, 20), 19);
	assert_int_equal(vx_bitmap_count(b, 16), 16);
	assert_int_equal(vx_bitmap_count(b, 0), 0);
}

static void test_hash__known_values(void **state)
{
	(void)state;
	/* FNV-1a test vectors (Fowler, Noll, Vo). */
	assert_int_equal(vx_hash_fnv1a("", 0), 0x811c9dc5u);
	assert_int_equal(vx_hash_fnv1a("a", 1), 0xe40c292cu);
	assert_int_equal(vx_hash_fnv1a("foobar", 6), 0xbf9cf968u);
	assert_int_equal(vx_hash_mix64(0), 0);
	assert_true(vx_hash_mix64(1) != vx_hash_mix64(2));
	assert_true(vx_hash_mix64(1) == 0xb456bcfc34c2cb2cull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror__errno_and_vx),
		cmocka_unit_test(test_alloc__overflow_and_faults),
		cmocka_unit_test(test_strndup__copies_and_terminates),
		cmocka_unit_test(test_list__order_and_safe_delete),
		cmocka_unit_test(test_bytes__big_endian),
		cmocka_unit_test(test_log__level_names),
		cmocka_unit_test(test_hex__encode_decode_check),
		cmocka_unit_test(test_bitmap__msb_first_count_first_zero),
		cmocka_unit_test(test_bitmap_last_mask__used_bits_of_last_byte),
		cmocka_unit_test(test_hash__known_values),
	};

	return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
