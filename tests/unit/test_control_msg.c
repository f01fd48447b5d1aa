/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_control_msg.c: the two codecs on control frames, the scheduler protocol (vx_ctl_msg.h)
 * and the local API (vx_api_msg.h), and the control-frame reader: round trips of every message
 * shape, the frame checks, and malformed CBOR of every kind the decoders must refuse without
 * leaking.
 */
#include "vx_test.h"

#include <string.h>

#include <cbor.h>

#include "vx_alloc.h"
#include "vx_api_msg.h"
#include "vx_ctl_msg.h"
#include "vx_err.h"

#define TASK "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static uint8_t buf[VX_CTL_FRAME_MAX + 64];

/* Checks the header of the encoded frame at @frame (@n bytes) and decodes its value. */
static void decode_frame(const uint8_t *frame, ssize_t n, struct vx_ctl_msg *out, int want)
{
	struct vx_frame_hdr h;

	assert_true(n >= VX_FRAME_HDR_LEN);
	vx_frame_hdr_decode(frame, &h);
	assert_int_equal(VX_FRAME_HDR_LEN + (size_t)h.length, (size_t)n);
	assert_int_equal(vx_ctl_msg_decode(h.tag, frame + VX_FRAME_HDR_LEN, h.length, out), want);
}

static void test_vx_ctl_msg_encode__hello_roundtrip(void **state)
{
	struct vx_ctl_msg m = { 0 }, d;
	ssize_t n;

	(void)state;
	m.tag = VX_TAG_CONTROL_REQUEST;
	m.type = VX_CTL_HELLO;
	m.rid = 77;
	m.host_id = vx_ctl_str_of("10.0.0.1-node1");
	m.addr = vx_ctl_str_of("10.0.0.1");
	m.port = 4005;
	m.idc = vx_ctl_str_of("dc1");
	m.location = vx_ctl_str_of("cn|zj|hz");
	m.role = VX_CTL_ROLE_SEED;
	m.slots = 200;
	m.bandwidth_bps = 10000000000ull;
	m.token = vx_ctl_str_of("s3cret");
	m.has = VX_CTL_F_HOST_ID | VX_CTL_F_ADDR | VX_CTL_F_PORT | VX_CTL_F_IDC |
		VX_CTL_F_LOCATION | VX_CTL_F_ROLE | VX_CTL_F_SLOTS | VX_CTL_F_BANDWIDTH |
		VX_CTL_F_TOKEN;
	n = vx_ctl_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > VX_FRAME_HDR_LEN);
	assert_int_equal(buf[1], VX_TAG_CONTROL_REQUEST);
	decode_frame(buf, n, &d, 0);
	assert_int_equal(d.type, VX_CTL_HELLO);
	assert_int_equal(d.rid, 77);
	assert_int_equal(d.version, VX_CTL_VERSION);
	assert_int_equal(d.has, m.has);
	assert_true(vx_ctl_str_eq(d.host_id, "10.0.0.1-node1"));
	assert_true(vx_ctl_str_eq(d.location, "cn|zj|hz"));
	assert_true(vx_ctl_str_eq(d.token, "s3cret"));
	assert_int_equal(d.port, 4005);
	assert_int_equal(d.role, VX_CTL_ROLE_SEED);
	assert_int_equal(d.bandwidth_bps, 10000000000ull);
	vx_ctl_msg_release(&d);
}

static void test_vx_ctl_msg_encode__answer_with_arrays(void **state)
{
	struct vx_ctl_cand cands[2] = {
		{ vx_ctl_str_of("a-h1"), vx_ctl_str_of("127.0.0.1"), 4005, 10, true },
		{ vx_ctl_str_of("b-h2"), vx_ctl_str_of("::1"), 4006, 3, false },
	};
	struct vx_ctl_digest dg[2] = { { 0, vx_ctl_str_of("crc32:1") },
				       { 9, vx_ctl_str_of("crc32:4294967295") } };
	struct vx_ctl_msg m = { 0 }, d;
	ssize_t n;

	(void)state;
	m.tag = VX_TAG_CONTROL_RESPONSE;
	m.type = VX_CTL_REGISTER;
	m.rid = UINT64_MAX;
	m.status = 0;
	m.answer = VX_CTL_ANS_PARENTS;
	m.cands = cands;
	m.nr_cands = 2;
	m.digests = dg;
	m.nr_digests = 2;
	m.piece_count = 10;
	m.piece_len = 4u << 20;
	m.content_len = -1;
	m.priv = true;
	m.requester_local = true;
	m.tenant = vx_ctl_str_of("team-a");
	m.has = VX_CTL_F_STATUS | VX_CTL_F_ANSWER | VX_CTL_F_CANDS | VX_CTL_F_DIGESTS |
		VX_CTL_F_PIECE_COUNT | VX_CTL_F_PIECE_LEN | VX_CTL_F_CONTENT_LEN |
		VX_CTL_F_PRIVATE | VX_CTL_F_REQ_LOCAL | VX_CTL_F_TENANT;
	n = vx_ctl_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	decode_frame(buf, n, &d, 0);
	assert_int_equal(d.rid, UINT64_MAX);
	assert_int_equal(d.nr_cands, 2);
	assert_true(vx_ctl_str_eq(d.cands[1].addr, "::1"));
	assert_int_equal(d.cands[1].port, 4006);
	assert_true(d.cands[0].complete);
	assert_false(d.cands[1].complete);
	assert_int_equal(d.nr_digests, 2);
	assert_int_equal(d.digests[1].piece, 9);
	assert_true(vx_ctl_str_eq(d.digests[1].digest, "crc32:4294967295"));
	assert_int_equal(d.content_len, -1);
	assert_true((d.has & VX_CTL_F_PRIVATE) && d.priv); /* key 65: the task is private */
	assert_true((d.has & VX_CTL_F_REQ_LOCAL) && d.requester_local);		     /* key 66 */
	assert_true((d.has & VX_CTL_F_TENANT) && vx_ctl_str_eq(d.tenant, "team-a")); /* key 89 */
	vx_ctl_msg_release(&d);
}

/* Key 76: a preheat event's share of the control plane's preheat rate; over the limit is
 * refused by the encoder. */
static void test_vx_ctl_msg_encode__preheat_rate_roundtrip(void **state)
{
	struct vx_ctl_msg m = { 0 }, d;
	ssize_t n;

	(void)state;
	m.tag = VX_TAG_CONTROL_EVENT;
	m.type = VX_CTL_EVENT;
	m.event = VX_CTL_EV_PREHEAT;
	m.task_id =
		vx_ctl_str_of("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	m.url = vx_ctl_str_of("http://o/blob");
	m.rate_bps = 2u << 20;
	m.has = VX_CTL_F_EVENT | VX_CTL_F_TASK_ID | VX_CTL_F_URL | VX_CTL_F_RATE;
	n = vx_ctl_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	decode_frame(buf, n, &d, 0);
	assert_true(d.has & VX_CTL_F_RATE);
	assert_int_equal(d.rate_bps, 2u << 20);
	vx_ctl_msg_release(&d);
	m.has &= ~VX_CTL_F_RATE; /* absent: no rate */
	n = vx_ctl_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	decode_frame(buf, n, &d, 0);
	assert_false(d.has & VX_CTL_F_RATE);
	vx_ctl_msg_release(&d);
	m.has |= VX_CTL_F_RATE;
	m.rate_bps = VX_CTL_RATE_MAX + 1;
	assert_int_equal(vx_ctl_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
}

static void test_vx_ctl_msg_encode__progress_roundtrip(void **state)
{
	uint8_t bits[3] = { 0xff, 0x01, 0x80 };
	struct vx_ctl_cost costs[1] = { { vx_ctl_str_of("p-1"), 4, 1ull << 24, 123456 } };
	struct vx_ctl_str avoid[2] = { vx_ctl_str_of("x"), vx_ctl_str_of("y") };
	struct vx_ctl_msg m = { 0 }, d;
	ssize_t n;

	(void)state;
	m.tag = VX_TAG_CONTROL_REQUEST;
	m.type = VX_CTL_PROGRESS;
	m.rid = 5;
	m.task_id = vx_ctl_str_of(TASK);
	m.bitmap_base = 8;
	m.bitmap = bits;
	m.bitmap_len = 3;
	m.costs = costs;
	m.nr_costs = 1;
	m.avoid = avoid;
	m.nr_avoid = 2;
	m.has = VX_CTL_F_TASK_ID | VX_CTL_F_BITMAP | VX_CTL_F_COSTS | VX_CTL_F_AVOID;
	n = vx_ctl_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	decode_frame(buf, n, &d, 0);
	assert_int_equal(d.bitmap_base, 8);
	assert_int_equal(d.bitmap_len, 3);
	assert_memory_equal(d.bitmap, bits, 3);
	assert_int_equal(d.costs[0].bytes, 1ull << 24);
	assert_int_equal(d.costs[0].cost_us, 123456);
	assert_int_equal(d.nr_avoid, 2);
	assert_true(vx_ctl_str_eq(d.avoid[1], "y"));
	vx_ctl_msg_release(&d);
}

/* A register and a trigger carry what the task id is derived from (keys 24, 25, 61-64). */
static void test_vx_ctl_msg_encode__source_roundtrip(void **state)
{
	struct vx_ctl_str filt[2] = { vx_ctl_str_of("X-Amz-Signature"), vx_ctl_str_of("ns") };
	struct vx_ctl_msg m = { 0 }, d;
	ssize_t n;

	(void)state;
	m.tag = VX_TAG_CONTROL_EVENT;
	m.type = VX_CTL_EVENT;
	m.event = VX_CTL_EV_TRIGGER;
	m.task_id = vx_ctl_str_of(TASK);
	m.url = vx_ctl_str_of("http://origin/a");
	m.tg = vx_ctl_str_of("t");
	m.app = vx_ctl_str_of("app");
	m.filtered = filt;
	m.nr_filtered = 2;
	m.fixed_piece_len = 4u << 20;
	m.id_kind = VX_CTL_ID_URL;
	m.requester = vx_ctl_str_of("127.0.0.2");
	m.has = VX_CTL_F_EVENT | VX_CTL_F_TASK_ID | VX_CTL_F_URL | VX_CTL_F_TAG | VX_CTL_F_APP |
		VX_CTL_F_FILTERED | VX_CTL_F_FIXED_PIECE | VX_CTL_F_ID_KIND | VX_CTL_F_REQUESTER;
	n = vx_ctl_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	decode_frame(buf, n, &d, 0);
	assert_int_equal(d.has, m.has);
	assert_int_equal(d.nr_filtered, 2);
	assert_true(vx_ctl_str_eq(d.filtered[0], "X-Amz-Signature"));
	assert_int_equal(d.fixed_piece_len, 4u << 20);
	assert_true(vx_ctl_str_eq(d.requester, "127.0.0.2"));
	vx_ctl_msg_release(&d);
	/* limits: 65 filtered keys, a 65-byte requester, an unknown id kind */
	m.nr_filtered = VX_CTL_FILTERS_MAX + 1;
	assert_int_equal(vx_ctl_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.nr_filtered = 2;
	m.requester =
		vx_ctl_str_of("0123456789012345678901234567890123456789012345678901234567890123x");
	assert_int_equal(vx_ctl_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.requester = vx_ctl_str_of("127.0.0.2");
	m.id_kind = VX_CTL_ID_PERSISTENT_CACHE + 1;
	assert_int_equal(vx_ctl_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
}

static void test_vx_ctl_msg_encode__rejects_bad_messages(void **state)
{
	struct vx_ctl_msg m = { 0 };

	(void)state;
	m.tag = VX_TAG_CONTROL_REQUEST;
	m.type = VX_CTL_REGISTER;
	assert_int_equal(vx_ctl_msg_encode(&m, buf, sizeof(buf)), -EINVAL); /* no task id */
	m.task_id = vx_ctl_str_of("ABC");
	m.has = VX_CTL_F_TASK_ID;
	assert_int_equal(vx_ctl_msg_encode(&m, buf, sizeof(buf)), -EINVAL); /* not 64 hex */
	m.task_id = vx_ctl_str_of(TASK);
	assert_int_equal(vx_ctl_msg_encode(&m, buf, 20), -EMSGSIZE);
	m.type = VX_CTL_EVENT; /* events need the event tag */
	assert_int_equal(vx_ctl_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.tag = 0x05;
	m.type = VX_CTL_REGISTER;
	assert_int_equal(vx_ctl_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
}

/* The reader cuts control frames with vortex's decoder and refuses anything else. */
static void test_vx_ctl_reader_feed__limits(void **state)
{
	uint8_t h[6] = { 1, VX_TAG_CONTROL_REQUEST, 0, 0, 0, 4 };
	struct vx_download_piece dp;
	struct vx_ctl_reader r;
	struct vx_frame f;
	ssize_t n;

	(void)state;
	assert_int_equal(vx_ctl_reader_init(&r), 0);
	assert_int_equal(vx_ctl_reader_feed(&r, h, 5, &f), -EAGAIN);
	assert_int_equal(vx_ctl_reader_feed(&r, h + 5, 1, &f), -EAGAIN);
	assert_int_equal(vx_ctl_reader_feed(&r, (const uint8_t *)"abcdX", 5, &f), 4);
	assert_int_equal(f.hdr.tag, VX_TAG_CONTROL_REQUEST);
	assert_int_equal(f.value_len, 4);
	assert_memory_equal(f.value, "abcd", 4);
	/* a well-formed data-plane frame on the control channel breaks the stream for good */
	vx_ctl_reader_reset(&r);
	memcpy(dp.task_id, TASK, sizeof(dp.task_id));
	dp.piece_number = 3;
	n = vx_frame_encode_download(buf, sizeof(buf), 1, VX_TAG_DOWNLOAD_PIECE, &dp);
	assert_true(n > 0);
	assert_int_equal(vx_ctl_reader_feed(&r, buf, (size_t)n, &f), -EPROTO);
	assert_int_equal(vx_ctl_reader_feed(&r, h, 6, &f), -EPROTO);
	assert_non_null(strstr(vx_ctl_reader_why(&r), "control stream"));
	/* a value over the limit is refused on its header */
	vx_ctl_reader_reset(&r);
	h[1] = VX_TAG_CONTROL_EVENT;
	h[2] = 0x7f; /* 2 GiB value */
	assert_int_equal(vx_ctl_reader_feed(&r, h, 6, &f), -EMSGSIZE);
	vx_ctl_reader_reset(&r);
	h[2] = 0x00;
	h[3] = 0x10;
	h[4] = 0x00;
	h[5] = 0x01; /* 1 MiB + 1 */
	assert_int_equal(vx_ctl_reader_feed(&r, h, 6, &f), -EMSGSIZE);
	vx_ctl_reader_free(&r);
}

/* Encodes {0: rid, 1: type, 2: 1} followed by @extra raw CBOR map entries (@n_extra). */
static size_t raw_msg(uint8_t *out, uint32_t type, size_t n_extra, const uint8_t *extra,
		      size_t extra_len)
{
	size_t n = 0;

	n += cbor_encode_map_start(3 + n_extra, out + n, 64);
	n += cbor_encode_uint(0, out + n, 64);
	n += cbor_encode_uint(1, out + n, 64);
	n += cbor_encode_uint(1, out + n, 64);
	n += cbor_encode_uint(type, out + n, 64);
	n += cbor_encode_uint(2, out + n, 64);
	n += cbor_encode_uint(1, out + n, 64);
	if (extra_len)
		memcpy(out + n, extra, extra_len);
	return n + extra_len;
}

static void test_vx_ctl_msg_decode__malformed(void **state)
{
	uint8_t v[256];
	struct vx_ctl_msg d;
	size_t n;
	/* key 20 (task id) as 64-char text */
	uint8_t task[2 + 2 + 64];

	(void)state;
	task[0] = 0x14;
	task[1] = 0x78;
	task[2] = 64;
	memcpy(task + 3, TASK, 64);

	n = raw_msg(v, VX_CTL_REGISTER, 1, task, 67);
	assert_int_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), 0);
	vx_ctl_msg_release(&d);
	/* truncated at every length: never accepted, never a crash */
	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, i, &d), 0);
	/* trailing byte */
	v[n] = 0;
	assert_int_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, n + 1, &d), -EPROTO);
	/* missing the required task id */
	n = raw_msg(v, VX_CTL_REGISTER, 0, NULL, 0);
	assert_int_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), VX_ECBOR);
	/* unknown type */
	n = raw_msg(v, 99, 0, NULL, 0);
	assert_int_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), VX_ECBOR);
	/* wrong type for a key: port as text */
	n = raw_msg(v, VX_CTL_ANNOUNCE, 1, (const uint8_t[]){ 0x0a, 0x61, 'x' }, 3);
	assert_int_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), VX_ECBOR);
	/* port out of range */
	n = raw_msg(v, VX_CTL_ANNOUNCE, 1, (const uint8_t[]){ 0x0a, 0x1a, 0, 1, 0, 0 }, 6);
	assert_int_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), VX_ECBOR);
	/* indefinite-length array under an unknown key */
	n = raw_msg(v, VX_CTL_ANNOUNCE, 1, (const uint8_t[]){ 0x18, 99, 0x9f, 0x01, 0xff }, 5);
	assert_int_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), -EPROTO);
	/* a CBOR tag, a float */
	n = raw_msg(v, VX_CTL_ANNOUNCE, 1, (const uint8_t[]){ 0x18, 99, 0xc1, 0x01 }, 4);
	assert_int_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), -EPROTO);
	n = raw_msg(v, VX_CTL_ANNOUNCE, 1, (const uint8_t[]){ 0x18, 99, 0xf9, 0x3c, 0x00 }, 5);
	assert_int_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), -EPROTO);
	/* nesting deeper than the limit under an unknown key */
	n = raw_msg(v, VX_CTL_ANNOUNCE, 1,
		    (const uint8_t[]){ 0x18, 99, 0x81, 0x81, 0x81, 0x81, 0x81, 0x01 }, 8);
	assert_int_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), -EPROTO);
	/* but an unknown key of allowed depth is skipped */
	n = raw_msg(v, VX_CTL_ANNOUNCE, 1, (const uint8_t[]){ 0x18, 99, 0x81, 0x81, 0x01 }, 5);
	assert_int_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), 0);
	vx_ctl_msg_release(&d);
	/* a string claiming 4 GiB */
	n = raw_msg(v, VX_CTL_ANNOUNCE, 1, (const uint8_t[]){ 0x04, 0x7a, 0xff, 0xff, 0xff, 0xff },
		    6);
	assert_int_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), -EPROTO);
	/* an array claiming 2^64-1 candidates */
	n = raw_msg(
		v, VX_CTL_ANNOUNCE, 1,
		(const uint8_t[]){ 0x18, 29, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		11);
	assert_int_not_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), 0);
	/* a text string with an embedded NUL (host id "a\0b") */
	n = raw_msg(v, VX_CTL_ANNOUNCE, 1, (const uint8_t[]){ 0x08, 0x63, 'a', 0, 'b' }, 5);
	assert_int_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), VX_ECBOR);
	/* duplicate key */
	n = raw_msg(v, VX_CTL_ANNOUNCE, 2, (const uint8_t[]){ 0x0d, 0x00, 0x0d, 0x01 }, 4);
	assert_int_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), VX_ECBOR);
	/* not a map at all */
	assert_int_equal(
		vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, (const uint8_t[]){ 0x01 }, 1, &d),
		VX_ECBOR);
	assert_int_equal(vx_ctl_msg_decode(VX_TAG_CONTROL_REQUEST, v, 0, &d), -EPROTO);
}

static void test_vx_ctl_msg_decode__alloc_failure_leaves_nothing(void **state)
{
	struct vx_ctl_str avoid[3] = { vx_ctl_str_of("a"), vx_ctl_str_of("b"), vx_ctl_str_of("c") };
	struct vx_ctl_cost costs[1] = { { vx_ctl_str_of("p"), 1, 2, 3 } };
	struct vx_ctl_msg m = { 0 }, d;
	struct vx_frame_hdr f;
	ssize_t n;

	(void)state;
#if !defined(VX_DEBUG)
	skip();
#endif
	m.tag = VX_TAG_CONTROL_REQUEST;
	m.type = VX_CTL_RESCHEDULE;
	m.task_id = vx_ctl_str_of(TASK);
	m.avoid = avoid;
	m.nr_avoid = 3;
	m.costs = costs;
	m.nr_costs = 1;
	m.has = VX_CTL_F_TASK_ID | VX_CTL_F_AVOID | VX_CTL_F_COSTS;
	n = vx_ctl_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	vx_frame_hdr_decode(buf, &f);
	for (unsigned long nth = 1; nth <= 2; nth++) {
		vx_fault_arm(VX_FAULT_ALLOC, nth);
		assert_int_equal(vx_ctl_msg_decode(f.tag, buf + 6, f.length, &d), -ENOMEM);
		assert_null(d.avoid);
		assert_null(d.costs);
	}
	vx_fault_arm(VX_FAULT_ALLOC, 0);
}

/* ---------------------------------------------------------------- Local API messages */

/* Checks the header of the encoded frame at @frame (@n bytes) and decodes its value. */
static void decode_api_frame(const uint8_t *frame, ssize_t n, struct vx_api_msg *out, int want)
{
	struct vx_frame_hdr h;

	assert_true(n >= VX_FRAME_HDR_LEN);
	vx_frame_hdr_decode(frame, &h);
	assert_int_equal(VX_FRAME_HDR_LEN + (size_t)h.length, (size_t)n);
	assert_int_equal(vx_api_msg_decode(h.tag, frame + VX_FRAME_HDR_LEN, h.length, out), want);
}

static void test_vx_api_msg_encode__download_roundtrip(void **state)
{
	struct vx_ctl_str hdr[2] = { vx_ctl_str_of("Authorization: Bearer x"),
				     vx_ctl_str_of("X-Trace: 1") };
	struct vx_ctl_str filt[1] = { vx_ctl_str_of("X-Amz-Signature") };
	struct vx_api_msg m = { 0 }, d;
	ssize_t n;

	(void)state;
	m.tag = VX_TAG_CONTROL_REQUEST;
	m.type = VX_API_DOWNLOAD;
	m.rid = 5;
	m.url = vx_ctl_str_of("https://example.com/a.tar?X-Amz-Signature=1");
	m.headers = hdr;
	m.nr_headers = 2;
	m.output = vx_ctl_str_of("/tmp/a.tar");
	m.digest = vx_ctl_str_of("crc32:4294967295");
	m.tg = vx_ctl_str_of("t");
	m.app = vx_ctl_str_of("app");
	m.piece_len = 4u << 20;
	m.filtered = filt;
	m.nr_filtered = 1;
	m.timeout_ms = 60000;
	m.overwrite = true;
	m.disable_bts = true;
	m.priority = 3;
	m.has = VX_API_F_URL | VX_API_F_HEADERS | VX_API_F_OUTPUT | VX_API_F_DIGEST | VX_API_F_TAG |
		VX_API_F_APP | VX_API_F_PIECE_LEN | VX_API_F_FILTERED | VX_API_F_TIMEOUT |
		VX_API_F_OVERWRITE | VX_API_F_DISABLE_BTS | VX_API_F_PRIORITY;
	n = vx_api_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	decode_api_frame(buf, n, &d, 0);
	assert_int_equal(d.type, VX_API_DOWNLOAD);
	assert_string_equal(vx_api_type_name(d.type), "download");
	assert_int_equal(d.has, m.has);
	assert_int_equal(d.nr_headers, 2);
	assert_true(vx_ctl_str_eq(d.headers[1], "X-Trace: 1"));
	assert_int_equal(d.nr_filtered, 1);
	assert_true(vx_ctl_str_eq(d.filtered[0], "X-Amz-Signature"));
	assert_true(vx_ctl_str_eq(d.output, "/tmp/a.tar"));
	assert_true(vx_ctl_str_eq(d.digest, "crc32:4294967295"));
	assert_int_equal(d.timeout_ms, 60000);
	assert_true(d.overwrite);
	assert_true(d.disable_bts);
	assert_int_equal(d.priority, 3);
	vx_api_msg_release(&d);
	assert_null(d.headers);

	/* The answer: final counters, stage and the origin's status. */
	memset(&m, 0, sizeof(m));
	m.tag = VX_TAG_CONTROL_RESPONSE;
	m.type = VX_API_DOWNLOAD;
	m.rid = 5;
	m.status = VX_ESOURCE_NOTFOUND;
	m.error = vx_ctl_str_of("origin says 404");
	m.task_id = vx_ctl_str_of(TASK);
	m.stage = 2;
	m.source_status = 404;
	m.content_len = -1;
	m.has = VX_API_F_STATUS | VX_API_F_ERROR | VX_API_F_TASK_ID | VX_API_F_STAGE |
		VX_API_F_SRC_STATUS | VX_API_F_CONTENT_LEN;
	n = vx_api_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	decode_api_frame(buf, n, &d, 0);
	assert_int_equal(d.status, VX_ESOURCE_NOTFOUND);
	assert_int_equal(d.source_status, 404);
	assert_int_equal(d.stage, 2);
	assert_int_equal(d.content_len, -1);
	vx_api_msg_release(&d);
}

static void test_vx_api_msg_encode__progress_event_carries_rid(void **state)
{
	struct vx_api_msg m = { 0 }, d;
	ssize_t n;

	(void)state;
	m.tag = VX_TAG_CONTROL_EVENT;
	m.type = VX_API_EVENT;
	m.rid = 9; /* the download's rid, not 0 */
	m.event = VX_API_EV_PROGRESS;
	m.task_id = vx_ctl_str_of(TASK);
	m.content_len = 1ll << 40;
	m.piece_count = 1u << 20;
	m.pieces_done = 77;
	m.bytes_done = 1ull << 40;
	m.from_peers = 1;
	m.from_source = 2;
	m.reused = 3;
	m.contiguous = 4;
	m.elapsed_ms = 5;
	m.has = VX_API_F_EVENT | VX_API_F_TASK_ID | VX_API_F_CONTENT_LEN | VX_API_F_PIECE_COUNT |
		VX_API_F_PIECES_DONE | VX_API_F_BYTES_DONE | VX_API_F_FROM_PEERS |
		VX_API_F_FROM_SOURCE | VX_API_F_REUSED | VX_API_F_CONTIGUOUS | VX_API_F_ELAPSED;
	n = vx_api_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(buf[1], VX_TAG_CONTROL_EVENT);
	decode_api_frame(buf, n, &d, 0);
	assert_int_equal(d.rid, 9);
	assert_int_equal(d.event, VX_API_EV_PROGRESS);
	assert_int_equal(d.has, m.has);
	assert_int_equal(d.content_len, 1ll << 40);
	assert_int_equal(d.pieces_done, 77);
	assert_int_equal(d.bytes_done, 1ull << 40);
	assert_int_equal(d.from_peers, 1);
	assert_int_equal(d.from_source, 2);
	assert_int_equal(d.reused, 3);
	assert_int_equal(d.contiguous, 4);
	assert_int_equal(d.elapsed_ms, 5);
	vx_api_msg_release(&d);
	/* counters past their bounds are refused before they go out */
	m.bytes_done = (1ull << 50) + 1;
	assert_int_equal(vx_api_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
}

static void test_vx_api_msg_encode__task_list_roundtrip(void **state)
{
	struct vx_download_task tasks[2] = {
		{ TASK, "http://h/a", VX_DOWNLOAD_TASK_DONE, 1000, 1, 1 },
		{ TASK, NULL, VX_DOWNLOAD_TASK_PENDING, -1, 0, 0 },
	};
	struct vx_api_msg m = { 0 }, d;
	ssize_t n;

	(void)state;
	m.tag = VX_TAG_CONTROL_REQUEST;
	m.type = VX_API_TASK_LIST;
	m.rid = 1;
	n = vx_api_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	decode_api_frame(buf, n, &d, 0);
	assert_int_equal(d.type, VX_API_TASK_LIST);
	vx_api_msg_release(&d);

	m.tag = VX_TAG_CONTROL_RESPONSE;
	m.tasks = tasks;
	m.nr_tasks = 2;
	m.more = true;
	m.has = VX_API_F_STATUS | VX_API_F_TASKS | VX_API_F_MORE;
	n = vx_api_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	decode_api_frame(buf, n, &d, 0);
	assert_int_equal(d.nr_tasks, 2);
	assert_true(d.more);
	assert_string_equal(d.tasks[0].task_id, TASK);
	assert_string_equal(d.tasks[0].url, "http://h/a");
	assert_int_equal(d.tasks[0].state, VX_DOWNLOAD_TASK_DONE);
	assert_int_equal(d.tasks[0].content_length, 1000);
	assert_string_equal(d.tasks[1].url, ""); /* NULL goes out as "" */
	assert_int_equal(d.tasks[1].content_length, -1);
	vx_api_msg_release(&d);
	assert_null(d.tasks);

	/* a task entry the decoder would refuse never goes out */
	tasks[1].content_length = -2;
	assert_int_equal(vx_api_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	tasks[1].content_length = 0;
	snprintf(tasks[1].task_id, sizeof(tasks[1].task_id), "abc");
	assert_int_equal(vx_api_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	memset(tasks[1].task_id, 'a', sizeof(tasks[1].task_id)); /* no NUL */
	assert_int_equal(vx_api_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	snprintf(tasks[1].task_id, sizeof(tasks[1].task_id), "%s", TASK);
	assert_true(vx_api_msg_encode(&m, buf, sizeof(buf)) > 0);
	/* a URL one byte over the text limit */
	{
		char *long_url = vx_malloc(VX_CTL_STR_MAX + 2);

		assert_non_null(long_url);
		memset(long_url, 'u', VX_CTL_STR_MAX + 1);
		long_url[VX_CTL_STR_MAX + 1] = '\0';
		tasks[1].url = long_url;
		assert_int_equal(vx_api_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
		vx_free(long_url);
	}
}

static void test_vx_api_msg_encode__download_rejects_bad_requests(void **state)
{
	struct vx_ctl_str hdr[VX_API_HEADERS_MAX + 1];
	char sum[VX_API_SUM_MAX + 2];
	struct vx_api_msg m = { 0 };

	(void)state;
	for (size_t i = 0; i < VX_ARRAY_SIZE(hdr); i++)
		hdr[i] = vx_ctl_str_of("A: b");
	m.tag = VX_TAG_CONTROL_REQUEST;
	m.type = VX_API_DOWNLOAD;
	assert_int_equal(vx_api_msg_encode(&m, buf, sizeof(buf)), -EINVAL); /* no url */
	m.url = vx_ctl_str_of("http://h/a");
	m.has = VX_API_F_URL | VX_API_F_HEADERS;
	m.headers = hdr;
	m.nr_headers = VX_API_HEADERS_MAX + 1;
	assert_int_equal(vx_api_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.nr_headers = VX_API_HEADERS_MAX;
	assert_true(vx_api_msg_encode(&m, buf, sizeof(buf)) > 0);
	memset(sum, 'a', sizeof(sum) - 1);
	sum[sizeof(sum) - 1] = '\0';
	m.digest = vx_ctl_str_of(sum); /* 136 bytes */
	m.has |= VX_API_F_DIGEST;
	assert_int_equal(vx_api_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.digest.len = VX_API_SUM_MAX;
	assert_true(vx_api_msg_encode(&m, buf, sizeof(buf)) > 0);
	m.priority = 7;
	m.has |= VX_API_F_PRIORITY;
	assert_int_equal(vx_api_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
}

static void test_vx_api_msg_decode__download_malformed(void **state)
{
	uint8_t v[512];
	uint8_t extra[256];
	struct vx_api_msg d;
	size_t n, e;

	(void)state;
	/* no url */
	n = raw_msg(v, VX_API_DOWNLOAD, 0, NULL, 0);
	assert_int_equal(vx_api_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), VX_ECBOR);
	/* url + headers array of 65 short strings */
	e = 0;
	extra[e++] = 0x15; /* key 21: url */
	extra[e++] = 0x61;
	extra[e++] = 'u';
	extra[e++] = 0x18; /* key 43: headers */
	extra[e++] = 43;
	extra[e++] = 0x98;
	extra[e++] = VX_API_HEADERS_MAX + 1;
	for (unsigned i = 0; i < VX_API_HEADERS_MAX + 1; i++)
		extra[e++] = 0x60; /* "" */
	n = raw_msg(v, VX_API_DOWNLOAD, 2, extra, e);
	assert_int_equal(vx_api_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), VX_ECBOR);
	/* 64 are fine */
	extra[6] = VX_API_HEADERS_MAX;
	n = raw_msg(v, VX_API_DOWNLOAD, 2, extra, e - 1);
	assert_int_equal(vx_api_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), 0);
	assert_int_equal(d.nr_headers, VX_API_HEADERS_MAX);
	vx_api_msg_release(&d);
	/* a header that is not text */
	n = raw_msg(v, VX_API_DOWNLOAD, 2,
		    (const uint8_t[]){ 0x15, 0x61, 'u', 0x18, 43, 0x81, 0x01 }, 7);
	assert_int_equal(vx_api_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), VX_ECBOR);
	/* overwrite as an integer */
	n = raw_msg(v, VX_API_DOWNLOAD, 2, (const uint8_t[]){ 0x15, 0x61, 'u', 0x18, 48, 0x01 }, 6);
	assert_int_equal(vx_api_msg_decode(VX_TAG_CONTROL_REQUEST, v, n, &d), VX_ECBOR);
	/* a progress event without its task id */
	n = raw_msg(v, VX_API_EVENT, 1, (const uint8_t[]){ 0x18, 38, VX_API_EV_PROGRESS }, 3);
	assert_int_equal(vx_api_msg_decode(VX_TAG_CONTROL_EVENT, v, n, &d), VX_ECBOR);
	/* a task entry of 5 fields */
	e = 0;
	extra[e++] = 0x18; /* key 59: tasks */
	extra[e++] = 59;
	extra[e++] = 0x81;
	extra[e++] = 0x85;
	extra[e++] = 0x78;
	extra[e++] = 64;
	memcpy(extra + e, TASK, 64);
	e += 64;
	extra[e++] = 0x60;
	extra[e++] = 0x00;
	extra[e++] = 0x00;
	extra[e++] = 0x00;
	n = raw_msg(v, VX_API_TASK_LIST, 2, (const uint8_t[]){ 0x03, 0x00 }, 2);
	/* raw_msg writes 3 + 2 entries: status then the tasks */
	memcpy(v + n, extra, e);
	assert_int_equal(vx_api_msg_decode(VX_TAG_CONTROL_RESPONSE, v, n + e, &d), VX_ECBOR);
	/* the same entry with its sixth field and content_len -2 */
	v[n + 3] = 0x86;
	v[n + e - 2] = 0x21; /* -2 */
	v[n + e] = 0x00;
	assert_int_equal(vx_api_msg_decode(VX_TAG_CONTROL_RESPONSE, v, n + e + 1, &d), VX_ECBOR);
	v[n + e - 2] = 0x20; /* -1 */
	assert_int_equal(vx_api_msg_decode(VX_TAG_CONTROL_RESPONSE, v, n + e + 1, &d), 0);
	assert_int_equal(d.nr_tasks, 1);
	assert_int_equal(d.tasks[0].content_length, -1);
	vx_api_msg_release(&d);
}

static void test_vx_api_msg_decode__download_alloc_failure(void **state)
{
	struct vx_ctl_str hdr[2] = { vx_ctl_str_of("A: b"), vx_ctl_str_of("C: d") };
	struct vx_ctl_str filt[1] = { vx_ctl_str_of("x") };
	struct vx_download_task tasks[1] = { { TASK, NULL, VX_DOWNLOAD_TASK_RUNNING, 5, 1, 0 } };
	struct vx_api_msg m = { 0 }, d;
	struct vx_frame_hdr f;
	ssize_t n;

	(void)state;
#if !defined(VX_DEBUG)
	skip();
#endif
	m.tag = VX_TAG_CONTROL_REQUEST;
	m.type = VX_API_DOWNLOAD;
	m.url = vx_ctl_str_of("http://h/a");
	m.headers = hdr;
	m.nr_headers = 2;
	m.filtered = filt;
	m.nr_filtered = 1;
	m.tasks = tasks; /* meaningless in a request, but the codec carries it */
	m.nr_tasks = 1;
	m.has = VX_API_F_URL | VX_API_F_HEADERS | VX_API_F_FILTERED | VX_API_F_TASKS;
	n = vx_api_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	vx_frame_hdr_decode(buf, &f);
	for (unsigned long nth = 1; nth <= 3; nth++) {
		vx_fault_arm(VX_FAULT_ALLOC, nth);
		assert_int_equal(vx_api_msg_decode(f.tag, buf + 6, f.length, &d), -ENOMEM);
		assert_null(d.headers);
		assert_null(d.filtered);
		assert_null(d.tasks);
	}
	vx_fault_arm(VX_FAULT_ALLOC, 0);
	assert_int_equal(vx_api_msg_decode(f.tag, buf + 6, f.length, &d), 0);
	vx_api_msg_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_ctl_msg_encode__hello_roundtrip),
		cmocka_unit_test(test_vx_ctl_msg_encode__answer_with_arrays),
		cmocka_unit_test(test_vx_ctl_msg_encode__progress_roundtrip),
		cmocka_unit_test(test_vx_ctl_msg_encode__preheat_rate_roundtrip),
		cmocka_unit_test(test_vx_ctl_msg_encode__source_roundtrip),
		cmocka_unit_test(test_vx_ctl_msg_encode__rejects_bad_messages),
		cmocka_unit_test(test_vx_ctl_reader_feed__limits),
		cmocka_unit_test(test_vx_ctl_msg_decode__malformed),
		cmocka_unit_test(test_vx_ctl_msg_decode__alloc_failure_leaves_nothing),
		cmocka_unit_test(test_vx_api_msg_encode__download_roundtrip),
		cmocka_unit_test(test_vx_api_msg_encode__progress_event_carries_rid),
		cmocka_unit_test(test_vx_api_msg_encode__task_list_roundtrip),
		cmocka_unit_test(test_vx_api_msg_encode__download_rejects_bad_requests),
		cmocka_unit_test(test_vx_api_msg_decode__download_malformed),
		cmocka_unit_test(test_vx_api_msg_decode__download_alloc_failure),
	};

	return cmocka_run_group_tests_name("control_msg", tests, NULL, NULL);
}
