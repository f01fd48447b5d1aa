/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_vortex_frame.c: the 6-byte header and the incremental decoder: every tag family, every
 * byte split (including one byte at a time), body streaming, both content framings, per-tag
 * limits, reserved and un-negotiated tags, sticky failure with a precise reason.
 */
#include "vx_test.h"

#include <errno.h>
#include <stdio.h>

#include <stdlib.h>
#include <string.h>

#include "vx_frame.h"
#include "vx_frame_ext.h"

#define TID "5844f27a257287e9b734256bb25603d8005422ced8c0377f15063ec11963b25f"

struct fixture {
	struct vx_frame_dec dec;
	uint8_t buf[VX_FRAME_DEC_BUF_MIN];
	uint8_t stream[1 << 16];
	size_t len;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	vx_frame_dec_init(&f->dec, f->buf, sizeof(f->buf), 0, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* Appends a frame with @tag and @value to the fixture's stream. */
static void add_frame(struct fixture *f, uint8_t tag, const void *value, uint32_t len)
{
	struct vx_frame_hdr h = { .packet_id = (uint8_t)(f->len * 31), .tag = tag, .length = len };

	vx_frame_hdr_encode(f->stream + f->len, &h);
	f->len += VX_FRAME_HDR_LEN;
	if (len)
		memcpy(f->stream + f->len, value, len);
	f->len += len;
}

static void add_raw(struct fixture *f, const void *p, size_t n)
{
	memcpy(f->stream + f->len, p, n);
	f->len += n;
}

static size_t content_value(uint8_t *out, uint64_t body_len)
{
	struct vx_piece_content m = { .number = 5,
				      .offset = 5 * 16,
				      .length = body_len,
				      .digest = "crc32:1",
				      .digest_len = 7,
				      .traffic_type = 1 };
	ssize_t n = vx_piece_content_encode(&m, out, 256);

	assert_true(n > 0);
	return (size_t)n;
}

/* What a stream decodes to, as a compact event log, feeding @chunk bytes at a time. */
static void decode_all(struct fixture *f, size_t chunk, char *log, size_t log_len, int *err)
{
	size_t off = 0, used = 0;

	log[0] = '\0';
	*err = 0;
	vx_frame_dec_init(&f->dec, f->buf, sizeof(f->buf), f->dec.flags, f->dec.control_max);
	while (off < f->len) {
		size_t avail = VX_MIN(chunk, f->len - off);
		struct vx_frame fr;
		ssize_t r;

		if (vx_frame_dec_body_left(&f->dec) > 0) {
			size_t b = vx_frame_dec_body(&f->dec, avail);

			for (size_t i = 0; i < b; i++)
				assert_int_equal(f->stream[off + i], 0xB0 + ((used + i) % 16));
			used += b;
			off += b;
			continue;
		}
		r = vx_frame_dec_feed(&f->dec, f->stream + off, avail, &fr);
		if (r == -EAGAIN) {
			off += avail;
			continue;
		}
		if (r < 0) {
			*err = (int)r;
			return;
		}
		assert_true(r >= 1 && (size_t)r <= avail);
		off += (size_t)r;
		used = 0;
		snprintf(log + strlen(log), log_len - strlen(log), "%02x:%u:%llu;", fr.hdr.tag,
			 fr.value_len, (unsigned long long)fr.body_len);
	}
	if (!vx_frame_dec_at_boundary(&f->dec))
		*err = -EAGAIN;
}

static void test_vx_frame_hdr_encode__layout(void **state)
{
	struct vx_frame_hdr h = { .packet_id = 0xAB, .tag = 0xFF, .length = 0x01020304 }, back;
	uint8_t out[VX_FRAME_HDR_LEN];

	(void)state;
	vx_frame_hdr_encode(out, &h);
	assert_memory_equal(out, "\xAB\xFF\x01\x02\x03\x04", 6);
	vx_frame_hdr_decode(out, &back);
	assert_int_equal(back.packet_id, 0xAB);
	assert_int_equal(back.tag, 0xFF);
	assert_int_equal(back.length, 0x01020304);
	assert_true(vx_tag_is_download(VX_TAG_DOWNLOAD_CACHE_PIECE));
	assert_false(vx_tag_is_download(VX_TAG_PIECE_CONTENT));
	assert_true(vx_tag_is_content(VX_TAG_PERSISTENT_CACHE_PIECE_CONTENT));
	assert_false(vx_tag_is_content(0x09));
	assert_int_equal(vx_tag_content_for(VX_TAG_DOWNLOAD_PERSISTENT_PIECE),
			 VX_TAG_PERSISTENT_PIECE_CONTENT);
	assert_string_equal(vx_tag_name(0x30), "reserved");
	assert_string_equal(vx_tag_name(VX_TAG_ERROR), "Error");
}

/*
 * STARTTLS is an empty CONTROL_REQUEST header, told from a TLS record (0x16 0x03), from a
 * control frame with a value and from a short read.
 */
static void test_vx_frame_starttls__told_apart(void **state)
{
	uint8_t st[VX_FRAME_HDR_LEN + 2];
	static const uint8_t hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
	static const uint8_t ctl[] = { 0x00, 0x60, 0x00, 0x00, 0x00, 0x05 };

	(void)state;
	vx_frame_starttls_encode(st);
	assert_memory_equal(st, "\x00\x60\x00\x00\x00\x00", VX_FRAME_HDR_LEN);
	st[6] = 0x16; /* the ClientHello may follow in the same read */
	st[7] = 0x03;
	assert_true(vx_frame_is_starttls(st, sizeof(st)));
	assert_true(vx_frame_is_starttls(st, VX_FRAME_HDR_LEN));
	assert_false(vx_frame_is_starttls(st, VX_FRAME_HDR_LEN - 1));
	assert_false(vx_frame_is_starttls(hello, sizeof(hello)));
	assert_false(vx_frame_is_starttls(ctl, sizeof(ctl)));
}

/* Whole-frame encoders produce what the decoder reads back. */
static void test_vx_frame_encode__helpers_decode(void **state)
{
	struct fixture *f = *state;
	struct vx_download_piece dp = { .task_id = TID, .piece_number = 42 };
	struct vx_piece_content m = {
		.number = 42, .length = 3, .digest = "crc32:1", .digest_len = 7
	};
	struct vx_frame fr;
	uint8_t out[256];
	ssize_t n;

	n = vx_frame_encode_download(out, sizeof(out), 9, VX_TAG_DOWNLOAD_PERSISTENT_PIECE, &dp);
	assert_int_equal(n, 74);
	assert_int_equal(vx_frame_dec_feed(&f->dec, out, (size_t)n, &fr), 74);
	assert_int_equal(fr.hdr.packet_id, 9);
	assert_int_equal(fr.hdr.tag, VX_TAG_DOWNLOAD_PERSISTENT_PIECE);
	assert_int_equal(vx_frame_encode_download(out, 73, 9, VX_TAG_DOWNLOAD_PIECE, &dp), -ENOSPC);
	dp.task_id[0] = 'X';
	assert_int_equal(vx_frame_encode_download(out, 74, 9, VX_TAG_DOWNLOAD_PIECE, &dp), -EINVAL);

	n = vx_frame_encode_content_head(out, sizeof(out), 1, VX_TAG_PIECE_CONTENT, &m);
	assert_int_equal(n, 6 + 4 + 45 + 7);
	assert_int_equal(out[5], 4 + 45 + 7); /* header length excludes the body */
	memcpy(out + n, "abc", 3);
	assert_int_equal(vx_frame_dec_feed(&f->dec, out, (size_t)n + 3, &fr), n);
	assert_int_equal(fr.body_len, 3);
	assert_int_equal(vx_frame_dec_body(&f->dec, 3), 3);
	assert_int_equal(vx_frame_encode_content_head(out, 20, 1, VX_TAG_PIECE_CONTENT, &m),
			 -ENOSPC);

	n = vx_frame_encode_error(out, sizeof(out), 2, VX_ERROR_CODE_NOT_FOUND, "gone", 4);
	assert_int_equal(n, 11);
	assert_int_equal(vx_frame_dec_feed(&f->dec, out, (size_t)n, &fr), 11);
	assert_int_equal(fr.hdr.tag, VX_TAG_ERROR);
	assert_int_equal(vx_frame_encode_error(out, 6, 2, 1, "x", 1), -ENOSPC);

	n = vx_frame_encode(out, sizeof(out), 3, VX_TAG_CLOSE, NULL, 0);
	assert_int_equal(n, 6);
	assert_int_equal(vx_frame_dec_feed(&f->dec, out, (size_t)n, &fr), 6);
	assert_int_equal(fr.hdr.tag, VX_TAG_CLOSE);
	assert_true(vx_frame_dec_at_boundary(&f->dec));
	assert_int_equal(vx_frame_encode(out, 5, 3, VX_TAG_CLOSE, NULL, 0), -ENOSPC);
}

/* A conversation with every Dragonfly tag, decoded under every split from 1 byte up. */
static void test_vx_frame_dec_feed__all_splits(void **state)
{
	struct fixture *f = *state;
	uint8_t v[256], body[40];
	struct vx_download_piece dp = { .task_id = TID, .piece_number = 9 };
	char want[512], got[512];
	size_t n;
	int err;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(0xB0 + i % 16);
	for (uint8_t tag = 0; tag <= 6; tag += 2) {
		assert_int_equal(vx_download_piece_encode(&dp, v), 0);
		add_frame(f, tag, v, 68);
	}
	n = content_value(v, 40);
	add_frame(f, VX_TAG_PIECE_CONTENT, v, (uint32_t)n);
	add_raw(f, body, 40);
	n = content_value(v, 0); /* empty piece: no body */
	add_frame(f, VX_TAG_CACHE_PIECE_CONTENT, v, (uint32_t)n);
	n = content_value(v, 16);
	add_frame(f, VX_TAG_PERSISTENT_PIECE_CONTENT, v, (uint32_t)n);
	add_raw(f, body, 16);
	add_frame(f, VX_TAG_ERROR, "\x02not found", 10);
	add_frame(f, VX_TAG_CLOSE, NULL, 0);

	decode_all(f, f->len, want, sizeof(want), &err);
	assert_int_equal(err, 0);
	assert_string_equal(want, "00:68:0;02:68:0;04:68:0;06:68:0;01:56:40;07:56:0;03:56:16;"
				  "ff:10:0;fe:0:0;");
	for (size_t chunk = 1; chunk < f->len; chunk++) {
		decode_all(f, chunk, got, sizeof(got), &err);
		assert_int_equal(err, 0);
		assert_string_equal(got, want);
	}
}

/* The crate's integration-test framing (header length includes the body) is accepted too. */
static void test_vx_frame_dec_feed__crate_framing(void **state)
{
	struct fixture *f = *state;
	uint8_t v[256], body[40];
	char got[128];
	size_t n;
	int err;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(0xB0 + i % 16);
	n = content_value(v, 40);
	add_frame(f, VX_TAG_PIECE_CONTENT, v, (uint32_t)n);
	f->len -= n + VX_FRAME_HDR_LEN;
	{
		struct vx_frame_hdr h = { 0, VX_TAG_PIECE_CONTENT, (uint32_t)(n + 40) };

		vx_frame_hdr_encode(f->stream + f->len, &h);
		f->len += VX_FRAME_HDR_LEN;
		add_raw(f, v, n);
	}
	add_raw(f, body, 40);
	decode_all(f, 3, got, sizeof(got), &err);
	assert_int_equal(err, 0);
	assert_string_equal(got, "01:56:40;");

	/* any other header length is a lie */
	f->len = 0;
	add_frame(f, VX_TAG_PIECE_CONTENT, v, (uint32_t)n);
	f->stream[5] = (uint8_t)(f->stream[5] + 1);
	add_raw(f, "x", 1);
	decode_all(f, 1000, got, sizeof(got), &err);
	assert_int_equal(err, -EPROTO);
	assert_int_equal(f->dec.reason, VX_FRAME_DEC_LENGTH_MISMATCH);
}

/* Trailing bytes inside the metadata are accepted and the body still lines up. */
static void test_vx_frame_dec_feed__trailing_metadata(void **state)
{
	struct fixture *f = *state;
	uint8_t v[256], body[8];
	char got[128];
	size_t n;
	int err;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(0xB0 + i % 16);
	n = content_value(v, 8);
	memcpy(v + n, "future", 6);
	v[3] = (uint8_t)(v[3] + 6);
	add_frame(f, VX_TAG_PIECE_CONTENT, v, (uint32_t)n + 6);
	add_raw(f, body, 8);
	decode_all(f, 1, got, sizeof(got), &err);
	assert_int_equal(err, 0);
	assert_string_equal(got, "01:62:8;");
}

struct bad_case {
	const char *name;
	uint8_t hdr[6];
	int err;
	enum vx_frame_dec_reason reason;
};

static void test_vx_frame_dec_feed__rejects_on_header(void **state)
{
	static const struct bad_case cases[] = {
		{ "reserved 0x08", { 0, 0x08, 0, 0, 0, 0 }, -EPROTO, VX_FRAME_DEC_RESERVED_TAG },
		{ "reserved 0x3f", { 0, 0x3F, 0, 0, 0, 1 }, -EPROTO, VX_FRAME_DEC_RESERVED_TAG },
		{ "reserved 0x80", { 0, 0x80, 0, 0, 0, 1 }, -EPROTO, VX_FRAME_DEC_RESERVED_TAG },
		{ "reserved 0xfd", { 0, 0xFD, 0, 0, 0, 1 }, -EPROTO, VX_FRAME_DEC_RESERVED_TAG },
		{ "ext not negotiated", { 0, 0x40, 0, 0, 0, 16 }, -EPROTO, VX_FRAME_DEC_EXT_TAG },
		{ "control on data", { 0, 0x60, 0, 0, 0, 1 }, -EPROTO, VX_FRAME_DEC_CONTROL_TAG },
		{ "download 67", { 0, 0x00, 0, 0, 0, 67 }, -EPROTO, VX_FRAME_DEC_BAD_LENGTH },
		{ "download 69", { 0, 0x00, 0, 0, 0, 69 }, -EPROTO, VX_FRAME_DEC_BAD_LENGTH },
		{ "download 4G",
		  { 0, 0x06, 0xFF, 0xFF, 0xFF, 0xFF },
		  -EPROTO,
		  VX_FRAME_DEC_BAD_LENGTH },
		{ "content 3", { 0, 0x01, 0, 0, 0, 3 }, -EPROTO, VX_FRAME_DEC_BAD_LENGTH },
		{ "content 4G",
		  { 0, 0x01, 0xFF, 0xFF, 0xFF, 0xFF },
		  -EMSGSIZE,
		  VX_FRAME_DEC_TOO_LONG },
		{ "close 1", { 0, 0xFE, 0, 0, 0, 1 }, -EPROTO, VX_FRAME_DEC_BAD_LENGTH },
		{ "error 0", { 0, 0xFF, 0, 0, 0, 0 }, -EPROTO, VX_FRAME_DEC_BAD_LENGTH },
		{ "error 4097", { 0, 0xFF, 0, 0, 0x10, 0x01 }, -EMSGSIZE, VX_FRAME_DEC_TOO_LONG },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < VX_ARRAY_SIZE(cases); i++) {
		struct vx_frame fr;
		ssize_t r;

		vx_frame_dec_init(&f->dec, f->buf, sizeof(f->buf), 0, 0);
		/* the verdict comes on the header alone, before any value byte */
		r = vx_frame_dec_feed(&f->dec, cases[i].hdr, 6, &fr);
		if (r != cases[i].err || f->dec.reason != cases[i].reason)
			fail_msg("%s: got %zd reason %d", cases[i].name, r, f->dec.reason);
		/* sticky */
		assert_int_equal(vx_frame_dec_feed(&f->dec, cases[i].hdr, 1, &fr), cases[i].err);
		assert_non_null(strstr(vx_frame_dec_reason_str(&f->dec), "tag 0x"));
	}
}

static void test_vx_frame_dec_feed__rejects_bad_values(void **state)
{
	struct fixture *f = *state;
	uint8_t v[256];
	char got[128];
	size_t n;
	int err;

	/* DownloadPiece with an uppercase task id */
	memcpy(v, TID, 64);
	v[0] = 'F';
	memset(v + 64, 0, 4);
	add_frame(f, VX_TAG_DOWNLOAD_PIECE, v, 68);
	decode_all(f, 7, got, sizeof(got), &err);
	assert_int_equal(err, -EPROTO);
	assert_int_equal(f->dec.reason, VX_FRAME_DEC_BAD_VALUE);

	/* Error with bad UTF-8 */
	f->len = 0;
	add_frame(f, VX_TAG_ERROR, "\x01\xff", 2);
	decode_all(f, 1, got, sizeof(got), &err);
	assert_int_equal(err, -EPROTO);

	/* PieceContent metadata length above 64 KiB: refused on the 4 length bytes */
	f->len = 0;
	add_frame(f, VX_TAG_PIECE_CONTENT, "\x00\x01\x00\x00", 4);
	f->stream[2] = 0x00;
	f->stream[3] = 0x02;
	f->stream[4] = 0x00;
	f->stream[5] = 0x04;
	decode_all(f, 1, got, sizeof(got), &err);
	assert_int_equal(err, -EMSGSIZE);
	assert_int_equal(f->dec.reason, VX_FRAME_DEC_META_TOO_LONG);

	/* a piece body above 1 GiB is refused before a byte of it is read */
	f->len = 0;
	n = content_value(v, 8);
	memcpy(v + 4 + 12, "\x00\x00\x00\x00\x40\x00\x00\x01", 8); /* length 1 GiB + 1 */
	add_frame(f, VX_TAG_PIECE_CONTENT, v, (uint32_t)n);
	decode_all(f, 1, got, sizeof(got), &err);
	assert_int_equal(err, -EMSGSIZE);
	assert_int_equal(f->dec.reason, VX_FRAME_DEC_BODY_TOO_LONG);

	/* metadata length larger than the header allows */
	f->len = 0;
	n = content_value(v, 0);
	add_frame(f, VX_TAG_PIECE_CONTENT, v, (uint32_t)n);
	f->stream[5] = 10;
	decode_all(f, 1, got, sizeof(got), &err);
	assert_int_equal(err, -EPROTO);
	assert_int_equal(f->dec.reason, VX_FRAME_DEC_LENGTH_MISMATCH);

	/* a short header is simply "need more", and not a frame boundary */
	f->len = 0;
	add_raw(f, "\x00\x00\x00", 3);
	decode_all(f, 1, got, sizeof(got), &err);
	assert_int_equal(err, -EAGAIN);
	assert_string_equal(got, "");
}

static void test_vx_frame_dec_feed__extensions_when_enabled(void **state)
{
	struct fixture *f = *state;
	struct vx_hello h = { .version = 1, .features = 15, .max_inflight = 8 };
	struct vx_download_piece dp = { .task_id = TID, .piece_number = 1 };
	struct vx_piece_content m = { .length = 20, .digest = "crc32:9", .digest_len = 7 };
	uint32_t nums[2] = { 1, 2 };
	uint8_t v[256], bits[1] = { 0xF0 }, body[20];
	char got[256];
	ssize_t n;
	int err;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(0xB0 + i % 16);
	assert_int_equal(vx_hello_encode(&h, v), 0);
	add_frame(f, VX_TAG_HELLO, v, VX_HELLO_LEN);
	n = vx_bitfield_encode(TID, 4, bits, v, sizeof(v));
	add_frame(f, VX_TAG_BITFIELD, v, (uint32_t)n);
	n = vx_have_encode(TID, nums, 2, v, sizeof(v));
	add_frame(f, VX_TAG_HAVE, v, (uint32_t)n);
	assert_int_equal(vx_download_piece_encode(&dp, v), 0);
	add_frame(f, VX_TAG_CANCEL, v, 68);
	n = vx_compressed_content_encode(&m, VX_COMPRESSION_LZ4, 20, v, sizeof(v));
	add_frame(f, VX_TAG_COMPRESSED_PIECE_CONTENT, v, (uint32_t)n);
	add_raw(f, body, 20);
	add_frame(f, VX_TAG_CONTROL_REQUEST, "\xA0", 1);

	f->dec.flags = VX_FRAME_DEC_F_EXT | VX_FRAME_DEC_F_CONTROL;
	f->dec.control_max = 4096;
	decode_all(f, 5, got, sizeof(got), &err);
	assert_int_equal(err, 0);
	assert_string_equal(got, "40:16:0;42:69:0;43:72:0;44:68:0;45:61:20;60:1:0;");

	/* without the flags the first extension frame fails the stream */
	f->dec.flags = 0;
	decode_all(f, 5, got, sizeof(got), &err);
	assert_int_equal(err, -EPROTO);
	assert_int_equal(f->dec.reason, VX_FRAME_DEC_EXT_TAG);

	/* a reserved tag inside our own range is still reserved */
	f->len = 0;
	add_frame(f, 0x5F, "x", 1);
	f->dec.flags = VX_FRAME_DEC_F_EXT;
	decode_all(f, 5, got, sizeof(got), &err);
	assert_int_equal(err, -EPROTO);
	assert_int_equal(f->dec.reason, VX_FRAME_DEC_RESERVED_TAG);
}

static void test_vx_frame_dec_feed__control_max(void **state)
{
	struct fixture *f = *state;
	uint8_t hdr[6] = { 0, VX_TAG_CONTROL_RESPONSE, 0, 0, 0x10, 0x01 };
	struct vx_frame fr;
	bool ok;

	vx_frame_dec_init(&f->dec, f->buf, sizeof(f->buf), VX_FRAME_DEC_F_CONTROL, 4096);
	assert_int_equal(vx_frame_dec_feed(&f->dec, hdr, 6, &fr), -EMSGSIZE);
	assert_int_equal(f->dec.reason, VX_FRAME_DEC_TOO_LONG);
	assert_int_equal(vx_frame_tag_max_len(VX_TAG_CONTROL_EVENT, VX_FRAME_DEC_F_CONTROL, 0, &ok),
			 VX_FRAME_CONTROL_MAX);
	assert_true(ok);
	assert_int_equal(vx_frame_tag_max_len(VX_TAG_CONTROL_EVENT, 0, 0, &ok), 0);
	assert_false(ok);
	assert_int_equal(vx_frame_tag_max_len(VX_TAG_PIECE_CONTENT, 0, 0, &ok),
			 VX_PIECE_CONTENT_VALUE_MAX);
	assert_int_equal(vx_frame_tag_max_len(VX_TAG_DOWNLOAD_PIECE, 0, 0, &ok), 68);
}

/* Body bytes: the decoder only counts them, a body split anywhere comes out whole. */
static void test_vx_frame_dec_body__counts_only(void **state)
{
	struct fixture *f = *state;
	uint8_t v[256];
	struct vx_frame fr;
	size_t n = content_value(v, 1000);
	ssize_t r;

	add_frame(f, VX_TAG_PIECE_CONTENT, v, (uint32_t)n);
	r = vx_frame_dec_feed(&f->dec, f->stream, f->len, &fr);
	assert_int_equal(r, (ssize_t)f->len);
	assert_int_equal(fr.body_len, 1000);
	assert_int_equal(fr.content.number, 5);
	assert_memory_equal(fr.content.digest, "crc32:1", 7);
	assert_false(vx_frame_dec_at_boundary(&f->dec));
	assert_int_equal(vx_frame_dec_body(&f->dec, 999), 999);
	assert_int_equal(vx_frame_dec_body_left(&f->dec), 1);
	assert_int_equal(vx_frame_dec_body(&f->dec, 5000), 1);
	assert_true(vx_frame_dec_at_boundary(&f->dec));
	assert_int_equal(vx_frame_dec_body(&f->dec, 5000), 0);
	assert_int_equal(vx_frame_dec_feed(&f->dec, NULL, 0, &fr), -EAGAIN);
}

/* Reading exactly vx_frame_dec_want() bytes each time never crosses a frame's end. */
static void test_vx_frame_dec_want__never_past_a_frame(void **state)
{
	struct fixture *f = *state;
	uint8_t v[256];
	struct vx_frame fr;
	size_t n = content_value(v, 3), off = 0;
	ssize_t r;

	add_frame(f, VX_TAG_PIECE_CONTENT, v, (uint32_t)n);
	add_raw(f, "abc", 3);
	add_frame(f, VX_TAG_ERROR, "\x02gone", 5);
	assert_int_equal(vx_frame_dec_want(&f->dec), VX_FRAME_HDR_LEN);
	assert_null(vx_frame_dec_hdr(&f->dec));
	r = vx_frame_dec_feed(&f->dec, f->stream, 2, &fr);
	assert_int_equal(r, -EAGAIN);
	assert_int_equal(vx_frame_dec_want(&f->dec), VX_FRAME_HDR_LEN - 2);
	assert_null(vx_frame_dec_hdr(&f->dec)); /* incomplete header */
	off = 2;
	r = vx_frame_dec_feed(&f->dec, f->stream + off, vx_frame_dec_want(&f->dec), &fr);
	assert_int_equal(r, -EAGAIN);
	off += 4;
	assert_non_null(vx_frame_dec_hdr(&f->dec));
	assert_int_equal(vx_frame_dec_hdr(&f->dec)->tag, VX_TAG_PIECE_CONTENT);
	assert_int_equal(vx_frame_dec_hdr(&f->dec)->length, n);
	assert_int_equal(vx_frame_dec_want(&f->dec), 4); /* the metadata length */
	for (;;) {
		size_t w = vx_frame_dec_want(&f->dec);

		r = vx_frame_dec_feed(&f->dec, f->stream + off, w, &fr);
		off += w;
		if (r != -EAGAIN)
			break;
	}
	assert_int_equal(r, (ssize_t)n - 4);
	assert_int_equal(off, VX_FRAME_HDR_LEN + n); /* not one byte of the body */
	assert_int_equal(vx_frame_dec_want(&f->dec), 0);
	assert_null(vx_frame_dec_hdr(&f->dec));
	assert_int_equal(vx_frame_dec_body(&f->dec, 3), 3);
	off += 3;
	assert_int_equal(vx_frame_dec_want(&f->dec), VX_FRAME_HDR_LEN);
	r = vx_frame_dec_feed(&f->dec, f->stream + off, VX_FRAME_HDR_LEN, &fr);
	assert_int_equal(r, -EAGAIN);
	assert_int_equal(vx_frame_dec_hdr(&f->dec)->tag, VX_TAG_ERROR);
	assert_int_equal(vx_frame_dec_want(&f->dec), 5);
	/* A failed decoder wants nothing and has no header. */
	vx_frame_dec_init(&f->dec, f->buf, sizeof(f->buf), 0, 0);
	assert_int_equal(vx_frame_dec_feed(&f->dec, (const uint8_t *)"\0\x30\0\0\0\0", 6, &fr),
			 -EPROTO);
	assert_int_equal(vx_frame_dec_want(&f->dec), 0);
	assert_null(vx_frame_dec_hdr(&f->dec));
}

/*
 * The uploader's decoder (F_REQUESTS) takes every frame a downloader sends into a buffer of
 * VX_FRAME_DEC_REQ_BUF_MIN, and refuses the uploader's own frames at their header.
 */
static void test_vx_frame_dec_feed__requests_only(void **state)
{
	struct fixture *f = *state;
	struct vx_hello h = { .version = 1, .features = 15, .max_inflight = 8 };
	struct vx_download_piece dp = { .task_id = TID, .piece_number = 1 };
	struct vx_interest in = { .task_id = TID, .op = VX_INTEREST_SUBSCRIBE };
	uint8_t *small = malloc(VX_FRAME_DEC_REQ_BUF_MIN); /* exact: ASan sees any overrun */
	uint8_t v[VX_ERROR_VALUE_MAX], bits[1] = { 0xF0 };
	static const uint8_t refused[] = { VX_TAG_PIECE_CONTENT, VX_TAG_CACHE_PIECE_CONTENT,
					   VX_TAG_BITFIELD, VX_TAG_HAVE,
					   VX_TAG_COMPRESSED_PIECE_CONTENT };
	unsigned int flags = VX_FRAME_DEC_F_EXT | VX_FRAME_DEC_F_REQUESTS;
	struct vx_frame fr;
	size_t off = 0;
	ssize_t n;
	bool ok;

	assert_non_null(small);
	assert_int_equal(vx_hello_encode(&h, v), 0);
	add_frame(f, VX_TAG_HELLO, v, VX_HELLO_LEN);
	assert_int_equal(vx_interest_encode(&in, v), 0);
	add_frame(f, VX_TAG_INTEREST, v, VX_INTEREST_LEN);
	assert_int_equal(vx_download_piece_encode(&dp, v), 0);
	add_frame(f, VX_TAG_DOWNLOAD_CACHE_PIECE, v, 68);
	add_frame(f, VX_TAG_CANCEL, v, 68);
	memset(v, 'e', sizeof(v));
	v[0] = 3;
	add_frame(f, VX_TAG_ERROR, v, VX_ERROR_VALUE_MAX); /* the longest value there is */
	add_frame(f, VX_TAG_CLOSE, NULL, 0);
	vx_frame_dec_init(&f->dec, small, VX_FRAME_DEC_REQ_BUF_MIN, flags, 0);
	for (int i = 0; i < 6; i++) {
		n = vx_frame_dec_feed(&f->dec, f->stream + off, f->len - off, &fr);
		assert_true(n > 0);
		off += (size_t)n;
	}
	assert_int_equal(off, f->len);
	assert_int_equal(fr.hdr.tag, VX_TAG_CLOSE);

	for (size_t i = 0; i < sizeof(refused); i++) {
		uint8_t hdr[6] = { 0, refused[i], 0, 0, 0, 80 };

		vx_frame_dec_init(&f->dec, small, VX_FRAME_DEC_REQ_BUF_MIN, flags, 0);
		assert_int_equal(vx_frame_dec_feed(&f->dec, hdr, 6, &fr), -EPROTO);
		assert_int_equal(f->dec.reason, VX_FRAME_DEC_NOT_REQUEST);
		assert_int_equal(vx_frame_tag_max_len(refused[i], flags, 0, &ok), 0);
		assert_false(ok);
	}
	/* the same bytes pass a downloader's decoder */
	n = vx_bitfield_encode(TID, 4, bits, v, sizeof(v));
	f->len = 0;
	add_frame(f, VX_TAG_BITFIELD, v, (uint32_t)n);
	vx_frame_dec_init(&f->dec, f->buf, sizeof(f->buf), VX_FRAME_DEC_F_EXT, 0);
	assert_int_equal(vx_frame_dec_feed(&f->dec, f->stream, f->len, &fr), (ssize_t)f->len);
	free(small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_frame_hdr_encode__layout),
		cmocka_unit_test(test_vx_frame_starttls__told_apart),
		cmocka_unit_test_setup_teardown(test_vx_frame_encode__helpers_decode, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_frame_dec_feed__all_splits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_frame_dec_feed__crate_framing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_frame_dec_feed__trailing_metadata, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_frame_dec_feed__rejects_on_header, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_frame_dec_feed__rejects_bad_values, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_frame_dec_feed__extensions_when_enabled,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_vx_frame_dec_feed__control_max, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_frame_dec_feed__requests_only, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_frame_dec_body__counts_only, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_frame_dec_want__never_past_a_frame, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("vortex_frame", tests, NULL, NULL);
}
