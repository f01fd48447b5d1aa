/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_vortex_piece.c: values of the Vortex data tags (DownloadPiece, PieceContent, Error),
 * the vx extension values, and the UTF-8 checks they rely on. Byte layouts are checked
 * against hand-written wire bytes, not only against our own encoder.
 */
#include "vx_test.h"

#include <errno.h>
#include <stdio.h>

#include <string.h>

#include "vx_frame_ext.h"
#include "vx_piece.h"
#include "vx_utf8.h"

#define TID "5844f27a257287e9b734256bb25603d8005422ced8c0377f15063ec11963b25f"

static void test_vx_download_piece_encode__layout(void **state)
{
	struct vx_download_piece r = { .task_id = TID, .piece_number = 0x01020304 };
	uint8_t out[VX_DOWNLOAD_PIECE_LEN];
	struct vx_download_piece back;

	(void)state;
	assert_int_equal(vx_download_piece_encode(&r, out), 0);
	assert_memory_equal(out, TID, 64);
	assert_int_equal(out[64], 1);
	assert_int_equal(out[67], 4);
	assert_int_equal(vx_download_piece_decode(out, sizeof(out), &back), 0);
	assert_string_equal(back.task_id, TID);
	assert_int_equal(back.piece_number, 0x01020304);
}

static void test_vx_download_piece_decode__rejects(void **state)
{
	struct vx_download_piece r = { .task_id = TID, .piece_number = 7 }, back;
	uint8_t out[VX_DOWNLOAD_PIECE_LEN + 1];

	(void)state;
	assert_int_equal(vx_download_piece_encode(&r, out), 0);
	assert_int_equal(vx_download_piece_decode(out, 67, &back), -EPROTO);
	assert_int_equal(vx_download_piece_decode(out, 69, &back), -EPROTO);
	assert_int_equal(vx_download_piece_decode(out, 0, &back), -EPROTO);
	out[3] = 'A'; /* uppercase hex is not a task id */
	assert_int_equal(vx_download_piece_decode(out, 68, &back), -EPROTO);
	out[3] = 'g';
	assert_int_equal(vx_download_piece_decode(out, 68, &back), -EPROTO);
	/* the encoder refuses a bad id too */
	memcpy(r.task_id, "abc", 4);
	assert_int_equal(vx_download_piece_encode(&r, out), -EINVAL);
}

static const struct vx_piece_content sample = {
	.number = 3,
	.offset = 3ull << 22,
	.length = 4u << 20,
	.digest = "crc32:2533597436",
	.digest_len = 16,
	.parent_id = "127.0.0.1-host-uuid",
	.parent_id_len = 19,
	.traffic_type = VX_TRAFFIC_REMOTE_PEER,
	.cost_s = 2,
	.created_at_s = 1700000000,
};

static void test_vx_piece_content_encode__layout(void **state)
{
	uint8_t out[256];
	ssize_t n;

	(void)state;
	n = vx_piece_content_encode(&sample, out, sizeof(out));
	assert_int_equal(n, 4 + 45 + 16 + 19);
	assert_int_equal((size_t)n, vx_piece_content_value_len(&sample));
	/* metadata_length = 45 + len(digest) + len(parent id) */
	assert_int_equal(out[3], 45 + 16 + 19);
	assert_int_equal(out[7], 3);			 /* number */
	assert_int_equal(out[4 + 4 + 5], 0xC0);		 /* offset 3 << 22 = 0xC00000 */
	assert_int_equal(out[4 + 12 + 5], 0x40);	 /* length 4 MiB = 0x400000 */
	assert_int_equal(out[4 + 20 + 3], 16);		 /* digest length */
	assert_memory_equal(out + 28, "crc32:", 6);	 /* digest bytes */
	assert_int_equal(out[28 + 16 + 3], 19);		 /* parent id length */
	assert_int_equal(out[28 + 16 + 4 + 19], 1);	 /* traffic type */
	assert_int_equal(out[n - 1], 1700000000 & 0xFF); /* created at, last byte */
}

static void test_vx_piece_content_decode__round_trip_and_trailing(void **state)
{
	uint8_t out[256];
	struct vx_piece_content m;
	ssize_t n, r;

	(void)state;
	n = vx_piece_content_encode(&sample, out, sizeof(out));
	assert_true(n > 0);
	r = vx_piece_content_decode(out, (size_t)n, &m);
	assert_int_equal(r, n);
	assert_int_equal(m.number, 3);
	assert_int_equal(m.offset, 3ull << 22);
	assert_int_equal(m.length, 4u << 20);
	assert_int_equal(m.digest_len, 16);
	assert_memory_equal(m.digest, "crc32:2533597436", 16);
	assert_memory_equal(m.parent_id, sample.parent_id, 19);
	assert_int_equal(m.traffic_type, 1);
	assert_int_equal(m.cost_s, 2);
	assert_int_equal(m.created_at_s, 1700000000);

	/* a newer peer appends 5 bytes inside the metadata: accepted, skipped */
	memset(out + n, 0xAB, 5);
	out[3] = (uint8_t)(out[3] + 5);
	r = vx_piece_content_decode(out, (size_t)n + 5, &m);
	assert_int_equal(r, n + 5);
	assert_int_equal(m.created_at_s, 1700000000);

	/* bytes after the metadata are not the decoder's business */
	r = vx_piece_content_decode(out, sizeof(out), &m);
	assert_int_equal(r, n + 5);
	/* short input: need more */
	assert_int_equal(vx_piece_content_decode(out, 3, &m), -EAGAIN);
	assert_int_equal(vx_piece_content_decode(out, (size_t)n, &m), -EAGAIN);
}

static void test_vx_piece_content_decode__rejects(void **state)
{
	uint8_t out[256];
	struct vx_piece_content m, empty = { 0 };
	ssize_t n;

	(void)state;
	n = vx_piece_content_encode(&sample, out, sizeof(out));
	/* metadata shorter than its fixed fields */
	out[0] = out[1] = out[2] = 0;
	out[3] = 44;
	assert_int_equal(vx_piece_content_decode(out, (size_t)n, &m), -EPROTO);
	/* digest length overruns the metadata */
	n = vx_piece_content_encode(&sample, out, sizeof(out));
	out[4 + 20 + 2] = 1;
	assert_int_equal(vx_piece_content_decode(out, (size_t)n, &m), -EPROTO);
	/* parent id length overruns, leaving no room for the tail */
	n = vx_piece_content_encode(&sample, out, sizeof(out));
	out[28 + 16 + 3] = 20;
	assert_int_equal(vx_piece_content_decode(out, (size_t)n, &m), -EPROTO);
	/* digest not UTF-8 */
	n = vx_piece_content_encode(&sample, out, sizeof(out));
	out[28] = 0xC0;
	assert_int_equal(vx_piece_content_decode(out, (size_t)n, &m), -EPROTO);
	/* metadata_length above 64 KiB - 4 */
	out[0] = 0;
	out[1] = 1;
	out[2] = 0;
	out[3] = 0;
	assert_int_equal(vx_piece_content_decode(out, (size_t)n, &m), -EMSGSIZE);
	/* body length above 1 GiB */
	n = vx_piece_content_encode(&sample, out, sizeof(out));
	out[4 + 12 + 3] = 0x40;
	out[4 + 12 + 4] = 0x01;
	assert_int_equal(vx_piece_content_decode(out, (size_t)n, &m), -EPROTO);

	/* encoder limits */
	assert_int_equal(vx_piece_content_encode(&sample, out, 10), -ENOSPC);
	empty.digest = "\xff";
	empty.digest_len = 1;
	assert_int_equal(vx_piece_content_encode(&empty, out, sizeof(out)), -EINVAL);
	empty.digest_len = 0;
	empty.parent_id = "x";
	empty.parent_id_len = VX_PIECE_CONTENT_META_MAX;
	assert_int_equal(vx_piece_content_encode(&empty, out, sizeof(out)), -EMSGSIZE);
	empty.parent_id_len = 0;
	empty.length = VX_PIECE_BODY_MAX + 1;
	assert_int_equal(vx_piece_content_encode(&empty, out, sizeof(out)), -EINVAL);
	/* empty strings are fine */
	empty.length = 0;
	assert_int_equal(vx_piece_content_encode(&empty, out, sizeof(out)), 49);
	assert_int_equal(vx_piece_content_decode(out, 49, &m), 49);
	assert_int_equal(m.digest_len, 0);
}

static void test_vx_error_encode__round_trip_and_utf8(void **state)
{
	uint8_t out[VX_ERROR_VALUE_MAX + 16];
	char msg[VX_ERROR_VALUE_MAX + 8];
	struct vx_error_value e;
	ssize_t n;

	(void)state;
	n = vx_error_encode(VX_ERROR_CODE_NOT_FOUND, "piece 3 not found", 17, out, sizeof(out));
	assert_int_equal(n, 18);
	assert_int_equal(out[0], 2);
	assert_int_equal(vx_error_decode(out, (size_t)n, &e), 0);
	assert_int_equal(e.code, 2);
	assert_int_equal(e.message_len, 17);
	assert_memory_equal(e.message, "piece 3 not found", 17);
	assert_string_equal(vx_error_code_name(e.code), "not found");
	assert_string_equal(vx_error_code_name(200), "unknown");

	/* code only, empty message */
	n = vx_error_encode(VX_ERROR_CODE_INTERNAL, NULL, 0, out, sizeof(out));
	assert_int_equal(n, 1);
	assert_int_equal(vx_error_decode(out, 1, &e), 0);
	assert_int_equal(e.message_len, 0);

	/* bad UTF-8 in and out */
	assert_int_equal(vx_error_encode(1, "\xe2\x82", 2, out, sizeof(out)), -EINVAL);
	out[0] = 1;
	out[1] = 0xED; /* surrogate U+D800 */
	out[2] = 0xA0;
	out[3] = 0x80;
	assert_int_equal(vx_error_decode(out, 4, &e), -EPROTO);
	assert_int_equal(vx_error_decode(out, 0, &e), -EPROTO);
	assert_int_equal(vx_error_decode(out, VX_ERROR_VALUE_MAX + 1, &e), -EMSGSIZE);

	/* too long: cut at a character boundary, never in the middle of "é" */
	memset(msg, 'a', sizeof(msg));
	msg[VX_ERROR_VALUE_MAX - 2] = (char)0xC3;
	msg[VX_ERROR_VALUE_MAX - 1] = (char)0xA9;
	n = vx_error_encode(3, msg, sizeof(msg), out, sizeof(out));
	assert_int_equal(n, VX_ERROR_VALUE_MAX - 1);
	assert_int_equal(vx_error_decode(out, (size_t)n, &e), 0);
	n = vx_error_encode(3, msg, sizeof(msg), out, 5);
	assert_int_equal(n, 5);
	assert_int_equal(vx_error_encode(3, msg, 1, out, 0), -ENOSPC);
}

static void test_vx_utf8_valid__rfc3629(void **state)
{
	size_t bad;

	(void)state;
	assert_true(vx_utf8_valid((const uint8_t *)"", 0));
	assert_true(vx_utf8_valid((const uint8_t *)"h\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 10));
	assert_false(vx_utf8_valid((const uint8_t *)"\xC0\x80", 2)); /* overlong NUL */
	assert_false(vx_utf8_valid((const uint8_t *)"\xE0\x80\x80", 3));
	assert_false(vx_utf8_valid((const uint8_t *)"\xED\xA0\x80", 3));     /* surrogate */
	assert_false(vx_utf8_valid((const uint8_t *)"\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(vx_utf8_valid((const uint8_t *)"\xF5\x80\x80\x80", 4));
	assert_false(vx_utf8_valid((const uint8_t *)"\x80", 1));
	assert_false(vx_utf8_valid((const uint8_t *)"\xE2\x82", 2)); /* truncated */
	/* maximal subparts as lossy decoders count them */
	assert_int_equal(vx_utf8_next_error((const uint8_t *)"ab\xE2\x82z", 5, &bad), 2);
	assert_int_equal(bad, 2);
	assert_int_equal(vx_utf8_next_error((const uint8_t *)"\xF0\x80", 2, &bad), 0);
	assert_int_equal(bad, 1);
	assert_int_equal(vx_utf8_next_error((const uint8_t *)"ok", 2, &bad), 2);
	assert_int_equal(bad, 0);
	assert_int_equal(vx_utf8_truncate((const uint8_t *)"a\xC3\xA9", 3, 2), 1);
	assert_int_equal(vx_utf8_truncate((const uint8_t *)"a\xC3\xA9", 3, 3), 3);
}

static void test_vx_hello_encode__round_trip_and_rejects(void **state)
{
	struct vx_hello h = { .version = 1,
			      .features = VX_HELLO_F_PIPELINE | VX_HELLO_F_LZ4,
			      .max_inflight = 16,
			      .max_value_len = 70000 },
			back;
	uint8_t out[VX_HELLO_MAX + 1] = { 0 };

	(void)state;
	assert_int_equal(vx_hello_encode(&h, out), 0);
	assert_memory_equal(out, "VX\x00\x01\x00\x00\x00\x05\x00\x00\x00\x10", 12);
	assert_int_equal(vx_hello_decode(out, VX_HELLO_LEN, &back), 0);
	assert_int_equal(back.features, h.features);
	assert_int_equal(back.max_inflight, 16);
	assert_int_equal(back.max_value_len, 70000);
	/* later versions may append fields */
	assert_int_equal(vx_hello_decode(out, VX_HELLO_MAX, &back), 0);
	assert_int_equal(vx_hello_decode(out, VX_HELLO_MAX + 1, &back), -EMSGSIZE);
	assert_int_equal(vx_hello_decode(out, VX_HELLO_LEN - 1, &back), -EPROTO);
	out[0] = 'v';
	assert_int_equal(vx_hello_decode(out, VX_HELLO_LEN, &back), -EPROTO);
	h.max_inflight = 0;
	assert_int_equal(vx_hello_encode(&h, out), -EINVAL);
}

static void test_vx_bitfield_encode__msb_first_and_spare_bits(void **state)
{
	uint8_t bits[2] = { 0x80 | 0x01, 0xFF }, out[128];
	struct vx_bitfield b;
	ssize_t n;

	(void)state;
	n = vx_bitfield_encode(TID, 10, bits, out, sizeof(out));
	assert_int_equal(n, 68 + 2);
	assert_int_equal(out[69], 0xC0); /* spare bits cleared */
	assert_int_equal(vx_bitfield_decode(out, (size_t)n, &b), 0);
	assert_int_equal(b.piece_count, 10);
	assert_true(vx_bitfield_has(&b, 0));
	assert_false(vx_bitfield_has(&b, 1));
	assert_true(vx_bitfield_has(&b, 7));
	assert_true(vx_bitfield_has(&b, 9));
	out[69] |= 1; /* a spare bit set */
	assert_int_equal(vx_bitfield_decode(out, (size_t)n, &b), -EPROTO);
	out[69] = 0xC0;
	assert_int_equal(vx_bitfield_decode(out, (size_t)n - 1, &b), -EPROTO);
	out[64] = 0x7F; /* count far above the limit */
	assert_int_equal(vx_bitfield_decode(out, (size_t)n, &b), -EMSGSIZE);
	assert_int_equal(vx_bitfield_encode(TID, VX_BITFIELD_PIECES_MAX + 1, bits, out, 128),
			 -EINVAL);
	assert_int_equal(vx_bitfield_encode(TID, 10, bits, out, 69), -ENOSPC);
	assert_int_equal(vx_bitfield_encode(TID, 0, NULL, out, sizeof(out)), 68);
}

/* In place: bits already at out + 68 (a store filled them) get the same header and clearing. */
static void test_vx_bitfield_encode_in_place__same_bytes(void **state)
{
	uint8_t bits[2] = { 0x81, 0xFF }, a[128], b[128];

	(void)state;
	memset(b, 0xEE, sizeof(b));
	memcpy(b + 68, bits, 2);
	assert_int_equal(vx_bitfield_encode(TID, 10, bits, a, sizeof(a)), 70);
	assert_int_equal(vx_bitfield_encode_in_place(TID, 10, b, sizeof(b)), 70);
	assert_memory_equal(a, b, 70);
	assert_int_equal(vx_bitfield_encode_in_place("ABC", 10, b, sizeof(b)), -EINVAL);
	assert_int_equal(vx_bitfield_encode_in_place(TID, VX_BITFIELD_PIECES_MAX + 1, b, 128),
			 -EINVAL);
	assert_int_equal(vx_bitfield_encode_in_place(TID, 10, b, 69), -ENOSPC);
}

static void test_vx_have_encode__round_trip(void **state)
{
	uint32_t nums[3] = { 1, 70000, 0xFFFFFFFF };
	uint8_t out[128];
	struct vx_have h;
	ssize_t n;

	(void)state;
	n = vx_have_encode(TID, nums, 3, out, sizeof(out));
	assert_int_equal(n, 64 + 12);
	assert_int_equal(vx_have_decode(out, (size_t)n, &h), 0);
	assert_int_equal(h.count, 3);
	assert_int_equal(vx_have_number(&h, 1), 70000);
	assert_int_equal(vx_have_number(&h, 2), 0xFFFFFFFF);
	assert_int_equal(vx_have_decode(out, (size_t)n - 1, &h), -EPROTO);
	assert_int_equal(vx_have_decode(out, 64, &h), -EPROTO);
	assert_int_equal(vx_have_encode(TID, nums, 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(vx_have_encode("short", nums, 1, out, sizeof(out)), -EINVAL);
}

static void test_vx_interest_encode__round_trip(void **state)
{
	struct vx_interest i = { .task_id = TID, .op = VX_INTEREST_SUBSCRIBE }, back;
	uint8_t out[VX_INTEREST_LEN];

	(void)state;
	assert_int_equal(vx_interest_encode(&i, out), 0);
	assert_int_equal(vx_interest_decode(out, sizeof(out), &back), 0);
	assert_int_equal(back.op, 1);
	assert_string_equal(back.task_id, TID);
	out[64] = 2;
	assert_int_equal(vx_interest_decode(out, sizeof(out), &back), -EPROTO);
	assert_int_equal(vx_interest_decode(out, 64, &back), -EPROTO);
}

static void test_vx_compressed_content_encode__round_trip(void **state)
{
	uint8_t out[256];
	struct vx_piece_content m;
	uint8_t comp;
	uint32_t clen;
	ssize_t n;

	(void)state;
	n = vx_compressed_content_encode(&sample, VX_COMPRESSION_LZ4, 12345, out, sizeof(out));
	assert_int_equal(n, (ssize_t)vx_piece_content_value_len(&sample) + 5);
	assert_int_equal(vx_compressed_content_decode(out, (size_t)n, &m, &comp, &clen), 0);
	assert_int_equal(comp, VX_COMPRESSION_LZ4);
	assert_int_equal(clen, 12345);
	assert_int_equal(m.length, sample.length);
	/* trailing byte, unknown compression, zero length */
	assert_int_equal(vx_compressed_content_decode(out, (size_t)n + 1, &m, &comp, &clen),
			 -EPROTO);
	out[n - 5] = 9;
	assert_int_equal(vx_compressed_content_decode(out, (size_t)n, &m, &comp, &clen), -EPROTO);
	assert_int_equal(vx_compressed_content_encode(&sample, VX_COMPRESSION_NONE, 1, out, 256),
			 -EINVAL);
	assert_int_equal(vx_compressed_content_encode(&sample, VX_COMPRESSION_LZ4, 0, out, 256),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_download_piece_encode__layout),
		cmocka_unit_test(test_vx_download_piece_decode__rejects),
		cmocka_unit_test(test_vx_piece_content_encode__layout),
		cmocka_unit_test(test_vx_piece_content_decode__round_trip_and_trailing),
		cmocka_unit_test(test_vx_piece_content_decode__rejects),
		cmocka_unit_test(test_vx_error_encode__round_trip_and_utf8),
		cmocka_unit_test(test_vx_utf8_valid__rfc3629),
		cmocka_unit_test(test_vx_hello_encode__round_trip_and_rejects),
		cmocka_unit_test(test_vx_bitfield_encode__msb_first_and_spare_bits),
		cmocka_unit_test(test_vx_bitfield_encode_in_place__same_bytes),
		cmocka_unit_test(test_vx_have_encode__round_trip),
		cmocka_unit_test(test_vx_interest_encode__round_trip),
		cmocka_unit_test(test_vx_compressed_content_encode__round_trip),
	};

	return cmocka_run_group_tests_name("vortex_piece", tests, NULL, NULL);
}
