/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dataplane_wire.c: the frames the upload server sends, built with vortex's encoders: the
 * PieceContent head exactly as Dragonfly frames it (header length 4 + metadata_length, metadata
 * 45 + digest + parent id bytes) read back by the fetcher's decoder, and the Error frame; and the
 * data plane's token bucket: refill, burst cap and unlimited mode.
 */
#include "vx_test.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "dataplane_int.h"
#include "vx_bytes.h"
#include "vx_frame.h"
#include "vx_piece.h"

#define TASK "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_vx_frame_encode_content_head__dragonfly_layout(void **state)
{
	uint8_t out[256];
	struct vx_piece_content m = {
		.number = 7,
		.offset = 7ull << 22,
		.length = 1234,
		.digest = "crc32:2533597436",
		.digest_len = 16,
		.parent_id = "peer-1",
		.parent_id_len = 6,
		.traffic_type = 1,
		.cost_s = 3,
		.created_at_s = 1700000000,
	};
	struct vx_piece_content d;
	ssize_t n;

	(void)state;
	n = vx_frame_encode_content_head(out, sizeof(out), 0x99, 0x05, &m);
	assert_int_equal(n, 6 + 4 + 45 + 16 + 6);
	assert_int_equal(out[0], 0x99);
	assert_int_equal(out[1], 0x05);
	assert_int_equal(vx_get_be32(out + 2), 4 + 45 + 16 + 6);
	assert_int_equal(vx_get_be32(out + 6), 45 + 16 + 6);
	assert_int_equal(vx_get_be32(out + 10), 7);
	assert_int_equal(vx_get_be64(out + 14), 7ull << 22);
	assert_int_equal(vx_get_be64(out + 22), 1234);
	assert_int_equal(vx_get_be32(out + 30), 16);
	assert_memory_equal(out + 34, "crc32:2533597436", 16);
	assert_int_equal(vx_get_be32(out + 50), 6);
	assert_memory_equal(out + 54, "peer-1", 6);
	assert_int_equal(out[60], 1);
	assert_int_equal(vx_get_be64(out + 61), 3);
	assert_int_equal(vx_get_be64(out + 69), 1700000000);
	assert_int_equal(vx_piece_content_decode(out + 6, (size_t)n - 6, &d), n - 6);
	assert_int_equal(d.number, 7);
	assert_int_equal(d.length, 1234);
	assert_int_equal(d.digest_len, 16);
	/* Too small a buffer, a value cut short: refused. */
	assert_int_equal(vx_frame_encode_content_head(out, 20, 0, 0x01, &m), -ENOSPC);
	assert_true(vx_piece_content_decode(out + 6, (size_t)n - 7, &d) < 0);
}

static void test_vx_frame_encode_error__cut_to_buffer(void **state)
{
	static const char msg[] = "piece not found at all";
	uint8_t out[16];
	ssize_t n;

	(void)state;
	n = vx_frame_encode_error(out, sizeof(out), 1, 2, msg, sizeof(msg) - 1);
	assert_int_equal(n, 16);
	assert_int_equal(out[1], 0xFF);
	assert_int_equal(vx_get_be32(out + 2), 10);
	assert_int_equal(out[6], 2);
	assert_memory_equal(out + 7, "piece not", 9);
	assert_int_equal(vx_frame_encode_error(out, 6, 1, 2, "x", 1), -ENOSPC);
}

static void test_vx_bucket_peek__refill_and_cap(void **state)
{
	struct vx_bucket b;

	(void)state;
	vx_bucket_init(&b, 1000, 500, 0);
	assert_int_equal(vx_bucket_peek(&b, 800, 0), 500); /* burst cap */
	vx_bucket_take(&b, 500);
	assert_int_equal(vx_bucket_peek(&b, 800, 0), 0);
	assert_int_equal(vx_bucket_peek(&b, 800, 100), 100); /* 1000 B/s for 100 ms */
	vx_bucket_take(&b, 100);
	assert_int_equal(vx_bucket_peek(&b, 800, 10000), 500); /* never above the burst */
	vx_bucket_init(&b, 0, 0, 0);
	assert_int_equal(vx_bucket_peek(&b, 1ull << 40, 0), 1ull << 40); /* unlimited */
}

/*
 * Two spenders that peeked the same tokens both take them (two fetchers' connections arm their
 * receives before either's bytes arrive): the second take is owed, not forgiven, so nobody gets
 * a token until the refill has paid it back (a forgiving bucket let two tasks run at twice the
 * daemon's download.rate_limit).
 */
static void test_vx_rate__overdraft_is_owed(void **state)
{
	struct vx_rate r;

	(void)state;
	vx_rate_init(&r, 1000, 100); /* 1000 a second, burst 100 */
	assert_int_equal(vx_rate_peek(&r, 100), 100);
	assert_int_equal(vx_rate_peek(&r, 100), 100); /* the same tokens, peeked twice */
	vx_rate_take(&r, 100);
	vx_rate_take(&r, 100);
	/* >= 100 ms later the bucket has refilled to its burst (100, however late the wake-up),
	 * all of which pays the 100 owed: still nothing to give (a forgiving bucket gives 100) */
	usleep(150 * 1000);
	assert_int_equal(vx_rate_peek(&r, 100), 0);
	vx_rate_set(&r, 0); /* unlimited: nothing owed any more */
	assert_int_equal(vx_rate_peek(&r, 9), 9);
	vx_rate_set(&r, 1000);
	assert_int_equal(vx_rate_peek(&r, 100), 100); /* a new rate starts full, debt-free */
	vx_rate_destroy(&r);
}

/* vx_rate_try(): all the rates have the bytes, or none is spent; NULL and rate 0 are no
 * limit; the burst is never below burst_min, so a try of that much can succeed. */
static void test_vx_rate_try__all_or_nothing(void **state)
{
	struct vx_rate a, b;
	struct vx_rate *both[3] = { &a, NULL, &b };

	(void)state;
	vx_rate_init(&a, 1u << 30, 4096); /* burst: a tenth of a second, 100 MiB */
	vx_rate_init(&b, 1, 4096);	  /* burst: burst_min */
	assert_true(vx_rate_try(both, 3, 4096));
	assert_false(vx_rate_try(both, 3, 100));		/* b has 100 again in 100 s */
	assert_int_equal(vx_rate_peek(&a, 1u << 20), 1u << 20); /* a lost nothing */
	vx_rate_set(&b, 0);
	assert_true(vx_rate_try(both, 3, 1u << 20)); /* b unlimited now */
	assert_int_equal(vx_rate_peek(NULL, 7), 7);
	vx_rate_destroy(&a);
	vx_rate_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_frame_encode_content_head__dragonfly_layout),
		cmocka_unit_test(test_vx_frame_encode_error__cut_to_buffer),
		cmocka_unit_test(test_vx_bucket_peek__refill_and_cap),
		cmocka_unit_test(test_vx_rate_try__all_or_nothing),
		cmocka_unit_test(test_vx_rate__overdraft_is_owed),
	};

	return cmocka_run_group_tests_name("dataplane_wire", tests, NULL, NULL);
}
