/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dataplane_lz4.c: lz4 piece bodies (dataplane/src/dp_lz4.c). The sender's decision at
 * the rates that matter (loopback and 10 Gbit/s raw, 100 Mbit/s and 1 Gbit/s compressed for
 * 3:1 data, random data raw everywhere, a cached body free of CPU); the receiver's checked
 * decompression refusing a body above LZ4_compressBound, a corrupt block, a block of the
 * wrong size; the uploader's cache (references pin entries, the least recently used free one
 * goes, the byte bound holds). No sockets, no clock.
 */
#include "vx_test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>

#include "dp_lz4.h"

#define MB	   (1000ull * 1000ull)
#define LZ4_RATE   (600 * MB) /* what this machine's lz4 does, about */
#define LOOPBACK   (3000 * MB)
#define GBIT10	   (1250 * MB)
#define GBIT1	   (125 * MB)
#define MBIT100	   (12500000ull)
#define RATIO_3_1  333u	 /* compressed / raw, in thousandths */
#define RATIO_RAND 1004u /* lz4 on random bytes: a little larger */
#define TASK	   "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_vx__lz4_worth__rates(void **state)
{
	(void)state;
	/* 3:1 data */
	assert_true(vx__lz4_worth(MBIT100, LZ4_RATE, RATIO_3_1, false));
	assert_true(vx__lz4_worth(GBIT1, LZ4_RATE, RATIO_3_1, false));
	assert_false(vx__lz4_worth(GBIT10, LZ4_RATE, RATIO_3_1, false));
	assert_false(vx__lz4_worth(LOOPBACK, LZ4_RATE, RATIO_3_1, false));
	/* random data: raw at every rate, also when unknown or the body is cached */
	assert_false(vx__lz4_worth(MBIT100, LZ4_RATE, RATIO_RAND, false));
	assert_false(vx__lz4_worth(0, LZ4_RATE, RATIO_RAND, false));
	assert_false(vx__lz4_worth(MBIT100, LZ4_RATE, 1000, true));
	/* barely compressible (0.95): the margin keeps it raw even on a slow link */
	assert_false(vx__lz4_worth(MBIT100, LZ4_RATE, 950, false));
	/* the compressed body exists: only the ratio counts */
	assert_true(vx__lz4_worth(GBIT10, LZ4_RATE, RATIO_3_1, true));
	assert_false(vx__lz4_worth(GBIT10, LZ4_RATE, 950, true));
	/* an unknown link counts as slow; an unknown lz4 rate as too slow */
	assert_true(vx__lz4_worth(0, LZ4_RATE, RATIO_3_1, false));
	assert_false(vx__lz4_worth(MBIT100, 0, RATIO_3_1, false));
	/* "is lz4 faster than the link at all": ratio 0 asks only that */
	assert_true(vx__lz4_worth(GBIT1, LZ4_RATE, 0, false));
	assert_false(vx__lz4_worth(LOOPBACK, LZ4_RATE, 0, false));
}

/* The edge: compressing wins when cpu/link + ratio <= 10/11. */
static void test_vx__lz4_worth__boundary(void **state)
{
	(void)state;
	/* link just under lz4 / 10: cpu 99 thousandths; 11 * (99 + 809) = 9988, with 811 10010 */
	assert_true(vx__lz4_worth(LZ4_RATE / 10 - 1, LZ4_RATE, 809, false));
	assert_false(vx__lz4_worth(LZ4_RATE / 10 - 1, LZ4_RATE, 811, false));
	/* cached: ratio 909 is 9999, 910 is 10010 */
	assert_true(vx__lz4_worth(GBIT10, LZ4_RATE, 909, true));
	assert_false(vx__lz4_worth(GBIT10, LZ4_RATE, 910, true));
}

static uint8_t *compressible(size_t len)
{
	uint8_t *p = malloc(len);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i / 7) % 13 + (i % 64 == 0 ? (uint8_t)(i >> 6) : 0));
	return p;
}

static void test_vx__lz4_decode__round_trip_and_refusals(void **state)
{
	size_t len = 256 * 1024;
	uint8_t *plain = compressible(len);
	uint32_t bound = vx__lz4_bound(len);
	uint8_t *comp = malloc(bound + 16);
	uint8_t *out = malloc(len + 16);
	uint32_t clen;

	(void)state;
	assert_non_null(comp);
	assert_non_null(out);
	assert_int_equal(bound, (uint32_t)LZ4_compressBound((int)len));
	clen = vx__lz4_encode(plain, len, comp, bound);
	assert_true(clen > 0 && clen < len / 2);
	assert_int_equal(vx__lz4_decode(comp, clen, out, len), 0);
	assert_memory_equal(out, plain, len);
	/* a compressed length of 0, or above LZ4_compressBound(piece): refused before reading */
	assert_int_equal(vx__lz4_decode(comp, 0, out, len), -EPROTO);
	assert_int_equal(vx__lz4_decode(comp, bound + 1, out, len), -EPROTO);
	/* the block decompresses to fewer or more bytes than the piece */
	assert_int_equal(vx__lz4_decode(comp, clen, out, len - 1), -EPROTO);
	assert_int_equal(vx__lz4_decode(comp, clen, out, len + 1), -EPROTO);
	/* cut short, and corrupt (a match offset pointing before the start) */
	assert_int_equal(vx__lz4_decode(comp, clen - 1, out, len), -EPROTO);
	comp[0] = 0x0f; /* no literals, then a match at offset whatever: before the start */
	assert_int_equal(vx__lz4_decode(comp, clen, out, len), -EPROTO);
	/* pieces outside what goes compressed */
	assert_int_equal(vx__lz4_bound(0), 0);
	assert_int_equal(vx__lz4_bound((uint64_t)VX_LZ4_PIECE_MAX + 1), 0);
	assert_int_equal(vx__lz4_decode(comp, 16, out, (uint64_t)VX_LZ4_PIECE_MAX + 1), -EPROTO);
	free(plain);
	free(comp);
	free(out);
}

static uint8_t *blob(uint32_t n)
{
	uint8_t *p = malloc(n);

	assert_non_null(p);
	memset(p, 0x5a, n);
	return p;
}

static void test_vx__lz4_cache__refs_lru_and_bound(void **state)
{
	struct vx__lz4_cache lc;
	struct vx__lz4_piece *e[VX_LZ4_CACHE_ENTRIES];
	struct vx__lz4_piece *x;
	uint32_t i;

	(void)state;
	memset(&lc, 0, sizeof(lc));
	assert_null(vx__lz4_cache_get(&lc, TASK, 0, 100));
	for (i = 0; i < VX_LZ4_CACHE_ENTRIES; i++) {
		e[i] = vx__lz4_cache_put(&lc, TASK, i, 4096, blob(1000), 1000);
		assert_non_null(e[i]);
	}
	assert_int_equal(lc.bytes, VX_LZ4_CACHE_ENTRIES * 1000);
	/* all referenced: a new piece has no room and goes raw */
	assert_null(vx__lz4_cache_put(&lc, TASK, 99, 4096, blob(1000), 1000));
	/* a second child asks for piece 3: the same body, one more reference */
	x = vx__lz4_cache_get(&lc, TASK, 3, 4096);
	assert_ptr_equal(x, e[3]);
	assert_int_equal(x->refs, 2);
	/* another length is another piece */
	assert_null(vx__lz4_cache_get(&lc, TASK, 3, 4097));
	for (i = 0; i < VX_LZ4_CACHE_ENTRIES; i++)
		vx__lz4_cache_unref(e[i]);
	/* piece 0 is the least recently used free one: it goes */
	x = vx__lz4_cache_put(&lc, TASK, 99, 4096, blob(1000), 1000);
	assert_non_null(x);
	assert_null(vx__lz4_cache_get(&lc, TASK, 0, 4096));
	vx__lz4_cache_unref(x);
	/* the byte bound: a body of the whole budget pushes out every free entry but piece 3 */
	x = vx__lz4_cache_put(&lc, TASK, 100, 8u << 20, blob(VX_LZ4_CACHE_BYTES - 1000),
			      VX_LZ4_CACHE_BYTES - 1000);
	assert_non_null(x);
	assert_int_equal(lc.bytes, VX_LZ4_CACHE_BYTES);
	assert_non_null(vx__lz4_cache_get(&lc, TASK, 3, 4096));
	assert_true(lc.bytes_max <= VX_LZ4_CACHE_BYTES);
	vx__lz4_cache_unref(x);
	vx__lz4_cache_unref(e[3]);
	vx__lz4_cache_unref(e[3]);
	vx__lz4_cache_clear(&lc);
	assert_int_equal(lc.bytes, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx__lz4_worth__rates),
		cmocka_unit_test(test_vx__lz4_worth__boundary),
		cmocka_unit_test(test_vx__lz4_decode__round_trip_and_refusals),
		cmocka_unit_test(test_vx__lz4_cache__refs_lru_and_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
