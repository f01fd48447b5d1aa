/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctl_cbor.c: encode and decode a CBOR map with small integer keys inside one control frame,
 * driven by a protocol's schema (ctl_cbor_int.h). The decoder is a pull parser over libcbor's
 * streaming decoder: each item head is checked here first (definite lengths only, no tags, no
 * floats, lengths within the buffer), so libcbor only ever sees items that fit, and nothing is
 * allocated before its count is bounded. The encoder checks every limit the decoder enforces,
 * so we never send what the other side must reject.
 */
#include "ctl_cbor_int.h"

#include <string.h>

#include <cbor.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_bytes.h"
#include "vx_err.h"
#include "vx_task_id.h"

#define KEY_RID	    0
#define KEY_TYPE    1
#define KEY_VERSION 2

/* ---------------------------------------------------------------- Shared helpers */

struct vx_ctl_str vx_ctl_str_of(const char *s)
{
	struct vx_ctl_str r = { 0 };

	if (s) {
		r.ptr = s;
		r.len = (uint32_t)strlen(s);
	}
	return r;
}

bool vx_ctl_str_eq(struct vx_ctl_str a, const char *s)
{
	size_t n = strlen(s);

	return a.len == n && (n == 0 || memcmp(a.ptr, s, n) == 0);
}

void vx_ctl_strs_free(char **strs, struct vx_ctl_str *str, uint32_t n)
{
	for (uint32_t i = 0; strs && i < n; i++)
		vx_free(strs[i]);
	vx_free(strs);
	vx_free(str);
}

int vx_ctl_strs_dup(const struct vx_ctl_str *in, uint32_t n, char ***out,
		    struct vx_ctl_str **out_str)
{
	char **strs;
	struct vx_ctl_str *str;

	*out = NULL;
	*out_str = NULL;
	if (!n)
		return 0;
	strs = vx_calloc(n, sizeof(*strs));
	str = vx_calloc(n, sizeof(*str));
	for (uint32_t i = 0; strs && str && i < n; i++) {
		strs[i] = vx_strndup(in[i].ptr ? in[i].ptr : "", in[i].len);
		if (!strs[i])
			break;
		str[i] = vx_ctl_str_of(strs[i]);
	}
	if (!strs || !str || !strs[n - 1]) {
		vx_ctl_strs_free(strs, str, n);
		return -ENOMEM;
	}
	*out = strs;
	*out_str = str;
	return 0;
}

bool vx_ctl_tag_ok(uint8_t tag)
{
	return tag == VX_TAG_CONTROL_REQUEST || tag == VX_TAG_CONTROL_RESPONSE ||
	       tag == VX_TAG_CONTROL_EVENT;
}

#define AT(base, off, type)  ((type *)(void *)((char *)(base) + (off)))
#define CAT(base, off, type) ((const type *)(const void *)((const char *)(base) + (off)))

static uint64_t *has_of(const struct cb_schema *s, void *m)
{
	return AT(m, s->off_has, uint64_t);
}

static uint64_t chas_of(const struct cb_schema *s, const void *m)
{
	return *CAT(m, s->off_has, uint64_t);
}

static bool tag_type_ok(const struct cb_schema *s, uint8_t tag, uint32_t type)
{
	if (type == 0 || type >= s->type_nr || !vx_ctl_tag_ok(tag))
		return false;
	if ((tag == VX_TAG_CONTROL_EVENT) != (type == s->event_type))
		return false;
	return !s->type_ok || s->type_ok(tag, type);
}

static uint64_t required_of(const struct cb_schema *s, uint8_t tag, uint32_t type)
{
	return tag == VX_TAG_CONTROL_RESPONSE ? s->status_bit : s->required[type];
}

static bool str_ok(struct vx_ctl_str v, uint64_t max)
{
	return v.len <= max && (v.len == 0 || (v.ptr && !memchr(v.ptr, '\0', v.len)));
}

static uint32_t count_of(const void *m, const struct cb_key *k)
{
	return *CAT(m, k->off_nr, uint32_t);
}

static const void *array_of(const void *m, const struct cb_key *k)
{
	return *CAT(m, k->f.off, void *const);
}

/* ---------------------------------------------------------------- Encoder */

struct cb_enc {
	uint8_t *p;
	size_t len;
	size_t cap;
	int err;
};

static void enc_adv(struct cb_enc *e, size_t n)
{
	if (n == 0 && !e->err)
		e->err = -EMSGSIZE;
	e->len += n;
}

static void enc_uint(struct cb_enc *e, uint64_t v)
{
	if (!e->err)
		enc_adv(e, cbor_encode_uint(v, e->p + e->len, e->cap - e->len));
}

static void enc_int(struct cb_enc *e, int64_t v)
{
	if (e->err)
		return;
	if (v >= 0)
		enc_adv(e, cbor_encode_uint((uint64_t)v, e->p + e->len, e->cap - e->len));
	else
		enc_adv(e,
			cbor_encode_negint((uint64_t)(-(v + 1)), e->p + e->len, e->cap - e->len));
}

static void enc_bool(struct cb_enc *e, bool v)
{
	if (!e->err)
		enc_adv(e, cbor_encode_bool(v, e->p + e->len, e->cap - e->len));
}

static void enc_raw(struct cb_enc *e, size_t head, const void *data, size_t n)
{
	enc_adv(e, head);
	if (e->err)
		return;
	if (e->cap - e->len < n) {
		e->err = -EMSGSIZE;
		return;
	}
	if (n)
		memcpy(e->p + e->len, data, n);
	e->len += n;
}

static void enc_text(struct cb_enc *e, struct vx_ctl_str v)
{
	if (!e->err)
		enc_raw(e, cbor_encode_string_start(v.len, e->p + e->len, e->cap - e->len), v.ptr,
			v.len);
}

static void enc_bytes(struct cb_enc *e, const uint8_t *s, size_t n)
{
	if (!e->err)
		enc_raw(e, cbor_encode_bytestring_start(n, e->p + e->len, e->cap - e->len), s, n);
}

static void enc_array(struct cb_enc *e, size_t n)
{
	if (!e->err)
		enc_adv(e, cbor_encode_array_start(n, e->p + e->len, e->cap - e->len));
}

static void enc_map(struct cb_enc *e, size_t n)
{
	if (!e->err)
		enc_adv(e, cbor_encode_map_start(n, e->p + e->len, e->cap - e->len));
}

static uint64_t scalar_u64(const void *base, const struct cb_field *f)
{
	switch (f->kind) {
	case CB_U16:
		return *CAT(base, f->off, uint16_t);
	case CB_U32:
	case CB_BASE:
		return *CAT(base, f->off, uint32_t);
	default:
		return *CAT(base, f->off, uint64_t);
	}
}

/* Checks a scalar against the limits the decoder enforces. */
static bool scalar_ok(const void *base, const struct cb_field *f)
{
	int64_t v;

	switch (f->kind) {
	case CB_U16:
	case CB_U32:
	case CB_U64:
	case CB_BASE:
		return scalar_u64(base, f) <= f->max;
	case CB_I64:
		v = *CAT(base, f->off, int64_t);
		return v >= 0 ? (uint64_t)v <= f->max : (uint64_t)(-(v + 1)) < f->min_neg;
	case CB_BOOL:
		return true;
	case CB_TEXT:
		return str_ok(*CAT(base, f->off, struct vx_ctl_str), f->max);
	case CB_TASK_ID: {
		struct vx_ctl_str t = *CAT(base, f->off, struct vx_ctl_str);

		return t.ptr && vx_task_id_valid(t.ptr, t.len);
	}
	case CB_ID_BUF: {
		const char *id = CAT(base, f->off, char);

		return memchr(id, '\0', VX_TASK_ID_LEN + 1) && vx_task_id_valid(id, strlen(id));
	}
	case CB_CSTR: {
		const char *str = *CAT(base, f->off, char *);

		return !str || strnlen(str, f->max + 1) <= f->max;
	}
	default:
		return false;
	}
}

static void enc_scalar(struct cb_enc *e, const void *base, const struct cb_field *f)
{
	switch (f->kind) {
	case CB_I64:
		enc_int(e, *CAT(base, f->off, int64_t));
		break;
	case CB_BOOL:
		enc_bool(e, *CAT(base, f->off, bool));
		break;
	case CB_TEXT:
	case CB_TASK_ID:
		enc_text(e, *CAT(base, f->off, struct vx_ctl_str));
		break;
	case CB_ID_BUF:
		enc_text(e, (struct vx_ctl_str){ CAT(base, f->off, char), VX_TASK_ID_LEN });
		break;
	case CB_CSTR:
		enc_text(e, vx_ctl_str_of(*CAT(base, f->off, char *)));
		break;
	default:
		enc_uint(e, scalar_u64(base, f));
	}
}

static bool key_ok(const void *m, const struct cb_key *k)
{
	uint32_t n;
	const char *arr;

	switch (k->f.kind) {
	case CB_BYTES:
		n = count_of(m, k);
		return n <= k->f.max && (n == 0 || array_of(m, k));
	case CB_TEXTS:
	case CB_TUPLES:
	case CB_PAIRS:
		n = count_of(m, k);
		arr = array_of(m, k);
		if (n > k->f.max || (n && !arr))
			return false;
		for (uint32_t i = 0; i < n; i++) {
			if (k->f.kind == CB_TEXTS) {
				if (!str_ok(((const struct vx_ctl_str *)(const void *)arr)[i],
					    k->item_max))
					return false;
				continue;
			}
			for (uint32_t j = 0; j < k->tuple->nr; j++) {
				if (!scalar_ok(arr + i * k->tuple->size, &k->tuple->fields[j]))
					return false;
			}
		}
		return true;
	default:
		return scalar_ok(m, &k->f);
	}
}

static void enc_key(struct cb_enc *e, const void *m, const struct cb_key *k)
{
	uint32_t n;
	const char *arr;

	enc_uint(e, k->key);
	switch (k->f.kind) {
	case CB_BYTES:
		enc_bytes(e, array_of(m, k), count_of(m, k));
		break;
	case CB_TEXTS:
		n = count_of(m, k);
		arr = array_of(m, k);
		enc_array(e, n);
		for (uint32_t i = 0; i < n; i++)
			enc_text(e, ((const struct vx_ctl_str *)(const void *)arr)[i]);
		break;
	case CB_TUPLES:
	case CB_PAIRS:
		n = count_of(m, k);
		arr = array_of(m, k);
		if (k->f.kind == CB_PAIRS)
			enc_map(e, n);
		else
			enc_array(e, n);
		for (uint32_t i = 0; i < n; i++) {
			if (k->f.kind == CB_TUPLES)
				enc_array(e, k->tuple->nr);
			for (uint32_t j = 0; j < k->tuple->nr; j++)
				enc_scalar(e, arr + i * k->tuple->size, &k->tuple->fields[j]);
		}
		break;
	default:
		enc_scalar(e, m, &k->f);
	}
}

static bool key_present(const struct cb_schema *s, const void *m, const struct cb_key *k)
{
	if (k->f.kind == CB_BASE)
		return (chas_of(s, m) & k->bit) && *CAT(m, k->f.off, uint32_t) != 0;
	return (chas_of(s, m) & k->bit) != 0;
}

ssize_t vx__cb_encode(const struct cb_schema *s, const void *m, uint8_t *buf, size_t cap)
{
	struct cb_enc e = { .p = buf, .cap = cap };
	uint8_t tag = *CAT(m, s->off_tag, uint8_t);
	uint32_t type = *CAT(m, s->off_type, uint32_t);
	uint64_t rid = *CAT(m, s->off_rid, uint64_t);
	struct vx_frame_hdr h;
	uint64_t req;
	size_t n = 3;

	VX_ASSERT(m);
	VX_ASSERT(buf);
	if (!tag_type_ok(s, tag, type))
		return -EINVAL;
	req = required_of(s, tag, type);
	if ((chas_of(s, m) & req) != req)
		return -EINVAL;
	if (cap < VX_FRAME_HDR_LEN)
		return -EMSGSIZE;
	for (size_t i = 0; i < s->nr_keys; i++) {
		if (!key_present(s, m, &s->keys[i]))
			continue;
		if (!key_ok(m, &s->keys[i]))
			return -EINVAL;
		n++;
	}
	if (cap - VX_FRAME_HDR_LEN > VX_CTL_FRAME_MAX)
		e.cap = VX_FRAME_HDR_LEN + VX_CTL_FRAME_MAX;
	e.len = VX_FRAME_HDR_LEN;
	enc_map(&e, n);
	enc_uint(&e, KEY_RID);
	enc_uint(&e, rid);
	enc_uint(&e, KEY_TYPE);
	enc_uint(&e, type);
	enc_uint(&e, KEY_VERSION);
	enc_uint(&e, VX_CTL_VERSION);
	for (size_t i = 0; i < s->nr_keys; i++) {
		if (key_present(s, m, &s->keys[i]))
			enc_key(&e, m, &s->keys[i]);
	}
	if (e.err)
		return e.err;
	/* Packet ids are never matched (vortex-wire.md); derive one from the request id. */
	h.packet_id = (uint8_t)(rid * 0x9Du + e.len);
	h.tag = tag;
	h.length = (uint32_t)(e.len - VX_FRAME_HDR_LEN);
	vx_frame_hdr_encode(buf, &h);
	return (ssize_t)e.len;
}

/* ---------------------------------------------------------------- Decoder */

enum tok_kind {
	T_NONE = 0,
	T_UINT,
	T_NEGINT, /* value holds n for the integer -1 - n */
	T_BYTES,
	T_TEXT,
	T_ARRAY,
	T_MAP,
	T_BOOL,
	T_NULL,
};

struct cb_tok {
	enum tok_kind kind;
	uint64_t v; /* integer, bool, or element count */
	const uint8_t *ptr;
	size_t len;
};

struct cb_dec {
	const uint8_t *p;
	size_t left;
	unsigned skipped; /* items skipped under unknown keys */
	char *strs;	  /* CB_CSTR copies, inside the array being decoded; NULL elsewhere */
	size_t strs_left;
};

static void tok_int(void *c, enum tok_kind kind, uint64_t v)
{
	((struct cb_tok *)c)->kind = kind;
	((struct cb_tok *)c)->v = v;
}
static void cb_u8(void *c, uint8_t v)
{
	tok_int(c, T_UINT, v);
}
static void cb_u16(void *c, uint16_t v)
{
	tok_int(c, T_UINT, v);
}
static void cb_u32(void *c, uint32_t v)
{
	tok_int(c, T_UINT, v);
}
static void cb_u64(void *c, uint64_t v)
{
	tok_int(c, T_UINT, v);
}
static void cb_n8(void *c, uint8_t v)
{
	tok_int(c, T_NEGINT, v);
}
static void cb_n16(void *c, uint16_t v)
{
	tok_int(c, T_NEGINT, v);
}
static void cb_n32(void *c, uint32_t v)
{
	tok_int(c, T_NEGINT, v);
}
static void cb_n64(void *c, uint64_t v)
{
	tok_int(c, T_NEGINT, v);
}
static void cb_bytes(void *c, cbor_data d, size_t n)
{
	((struct cb_tok *)c)->kind = T_BYTES;
	((struct cb_tok *)c)->ptr = d;
	((struct cb_tok *)c)->len = n;
}
static void cb_text(void *c, cbor_data d, size_t n)
{
	((struct cb_tok *)c)->kind = T_TEXT;
	((struct cb_tok *)c)->ptr = d;
	((struct cb_tok *)c)->len = n;
}
static void cb_array(void *c, size_t n)
{
	tok_int(c, T_ARRAY, n);
}
static void cb_map(void *c, size_t n)
{
	tok_int(c, T_MAP, n);
}
static void cb_bool(void *c, bool v)
{
	tok_int(c, T_BOOL, v);
}
static void cb_null(void *c)
{
	((struct cb_tok *)c)->kind = T_NULL;
}

static const struct cbor_callbacks cb_callbacks = {
	.uint8 = cb_u8,
	.uint16 = cb_u16,
	.uint32 = cb_u32,
	.uint64 = cb_u64,
	.negint8 = cb_n8,
	.negint16 = cb_n16,
	.negint32 = cb_n32,
	.negint64 = cb_n64,
	.byte_string = cb_bytes,
	.string = cb_text,
	.array_start = cb_array,
	.map_start = cb_map,
	.boolean = cb_bool,
	.null = cb_null,
};

/*
 * Checks one item head before libcbor sees it: definite lengths only, no tags, no floats or
 * other simple values, and a string's length must fit in what is left of the buffer.
 */
static int dec_check_head(const struct cb_dec *d)
{
	uint8_t b = d->p[0], major = (uint8_t)(b >> 5), ai = b & 31;
	size_t hl;
	uint64_t n = 0;

	if (major == 6 || ai >= 28)
		return -EPROTO;
	if (major == 7)
		return ai >= 20 && ai <= 22 ? 0 : -EPROTO;
	if (major != 2 && major != 3)
		return 0;
	hl = ai < 24 ? 1 : 1 + ((size_t)1 << (ai - 24));
	if (d->left < hl)
		return -EPROTO;
	if (ai < 24)
		n = ai;
	else
		for (size_t i = 1; i < hl; i++)
			n = n << 8 | d->p[i];
	if (n > d->left - hl)
		return -EPROTO;
	return 0;
}

static int dec_next(struct cb_dec *d, struct cb_tok *t)
{
	struct cbor_decoder_result r;
	int rc;

	memset(t, 0, sizeof(*t));
	if (d->left == 0)
		return -EPROTO;
	rc = dec_check_head(d);
	if (rc)
		return rc;
	r = cbor_stream_decode(d->p, d->left, &cb_callbacks, t);
	if (r.status != CBOR_DECODER_FINISHED || r.read == 0 || r.read > d->left ||
	    t->kind == T_NONE)
		return -EPROTO;
	d->p += r.read;
	d->left -= r.read;
	return 0;
}

/* Skips one item of any shape, bounded by depth and by the per-message skip budget. */
static int dec_skip(struct cb_dec *d, unsigned depth)
{
	struct cb_tok t;
	uint64_t n;
	int rc;

	if (depth > VX_CTL_DEPTH_MAX || ++d->skipped > VX_CTL_SKIP_MAX)
		return -EPROTO;
	rc = dec_next(d, &t);
	if (rc)
		return rc;
	if (t.kind != T_ARRAY && t.kind != T_MAP)
		return 0;
	if (t.v > d->left)
		return -EPROTO;
	n = t.kind == T_MAP ? t.v * 2 : t.v;
	for (uint64_t i = 0; i < n; i++) {
		rc = dec_skip(d, depth + 1);
		if (rc)
			return rc;
	}
	return 0;
}

static int dec_uint(struct cb_dec *d, uint64_t max, uint64_t *out)
{
	struct cb_tok t;
	int rc = dec_next(d, &t);

	if (rc)
		return rc;
	if (t.kind != T_UINT || t.v > max)
		return VX_ECBOR;
	*out = t.v;
	return 0;
}

static int dec_text(struct cb_dec *d, uint64_t max, struct vx_ctl_str *out)
{
	struct cb_tok t;
	int rc = dec_next(d, &t);

	if (rc)
		return rc;
	if (t.kind != T_TEXT || t.len > max)
		return VX_ECBOR;
	/* ids and names become C strings on the other side: an embedded NUL would alias them */
	if (t.len && memchr(t.ptr, '\0', t.len))
		return VX_ECBOR;
	out->ptr = (const char *)t.ptr;
	out->len = (uint32_t)t.len;
	return 0;
}

/* Reads an array or map head of at most @max entries; counts beyond the bytes left fail. */
static int dec_coll(struct cb_dec *d, enum tok_kind kind, uint64_t max, uint32_t *out)
{
	struct cb_tok t;
	int rc = dec_next(d, &t);

	if (rc)
		return rc;
	if (t.kind != kind)
		return VX_ECBOR;
	if (t.v > d->left)
		return -EPROTO;
	if (t.v > max)
		return VX_ECBOR;
	*out = (uint32_t)t.v;
	return 0;
}

/* One scalar into @base + f->off. */
static int dec_scalar(struct cb_dec *d, void *base, const struct cb_field *f)
{
	struct cb_tok t;
	uint64_t v;
	int rc;

	switch (f->kind) {
	case CB_U16:
	case CB_U32:
	case CB_U64:
	case CB_BASE:
		rc = dec_uint(d, f->max, &v);
		if (rc)
			return rc;
		if (f->kind == CB_U16)
			*AT(base, f->off, uint16_t) = (uint16_t)v;
		else if (f->kind == CB_U64)
			*AT(base, f->off, uint64_t) = v;
		else
			*AT(base, f->off, uint32_t) = (uint32_t)v;
		return 0;
	case CB_I64:
		rc = dec_next(d, &t);
		if (rc)
			return rc;
		if (t.kind == T_UINT && t.v <= f->max)
			*AT(base, f->off, int64_t) = (int64_t)t.v;
		else if (t.kind == T_NEGINT && t.v < f->min_neg)
			*AT(base, f->off, int64_t) = -1 - (int64_t)t.v;
		else
			return VX_ECBOR;
		return 0;
	case CB_BOOL:
		rc = dec_next(d, &t);
		if (rc)
			return rc;
		if (t.kind != T_BOOL)
			return VX_ECBOR;
		*AT(base, f->off, bool) = t.v != 0;
		return 0;
	case CB_TEXT:
		return dec_text(d, f->max, AT(base, f->off, struct vx_ctl_str));
	case CB_TASK_ID: {
		struct vx_ctl_str *s = AT(base, f->off, struct vx_ctl_str);

		rc = dec_text(d, f->max, s);
		if (!rc && !vx_task_id_valid(s->ptr, s->len))
			rc = VX_ECBOR;
		return rc;
	}
	case CB_ID_BUF: {
		struct vx_ctl_str s;

		rc = dec_text(d, VX_TASK_ID_LEN, &s);
		if (!rc && !vx_task_id_valid(s.ptr, s.len))
			rc = VX_ECBOR;
		if (!rc) {
			memcpy(AT(base, f->off, char), s.ptr, VX_TASK_ID_LEN);
			AT(base, f->off, char)[VX_TASK_ID_LEN] = '\0';
		}
		return rc;
	}
	case CB_CSTR: {
		struct vx_ctl_str s;

		rc = dec_text(d, f->max, &s);
		if (rc)
			return rc;
		/* the room is the bytes left at the array's head; each text item spent >= len + 1 */
		VX_ASSERT(d->strs && d->strs_left > s.len);
		if (s.len)
			memcpy(d->strs, s.ptr, s.len);
		d->strs[s.len] = '\0';
		*AT(base, f->off, const char *) = d->strs;
		d->strs += s.len + 1;
		d->strs_left -= s.len + 1;
		return 0;
	}
	default:
		return VX_ECBOR;
	}
}

/* An array (CB_TEXTS, CB_TUPLES) or map (CB_PAIRS) of at most k->f.max entries, owned. */
static int dec_array(struct cb_dec *d, void *m, const struct cb_key *k)
{
	size_t el = k->f.kind == CB_TEXTS ? sizeof(struct vx_ctl_str) : k->tuple->size;
	size_t strs = 0;
	char *arr;
	uint32_t n, fields;
	int rc;

	rc = dec_coll(d, k->f.kind == CB_PAIRS ? T_MAP : T_ARRAY, k->f.max, &n);
	if (rc)
		return rc;
	/* C strings of the elements are copied behind them; the bytes left bound their size */
	for (uint32_t j = 0; k->f.kind != CB_TEXTS && j < k->tuple->nr; j++) {
		if (k->tuple->fields[j].kind == CB_CSTR)
			strs = d->left;
	}
	arr = vx_calloc(1, (size_t)(n ? n : 1) * el + strs);
	if (!arr)
		return -ENOMEM;
	*AT(m, k->f.off, void *) = arr;
	*AT(m, k->off_nr, uint32_t) = n;
	d->strs = strs ? arr + (size_t)n * el : NULL;
	d->strs_left = strs;
	for (uint32_t i = 0; i < n; i++) {
		void *item = arr + i * el;

		if (k->f.kind == CB_TEXTS) {
			rc = dec_text(d, k->item_max, item);
			if (rc)
				return rc;
			continue;
		}
		if (k->f.kind == CB_TUPLES) {
			rc = dec_coll(d, T_ARRAY, k->tuple->nr, &fields);
			if (!rc && fields != k->tuple->nr)
				rc = VX_ECBOR;
			if (rc)
				return rc;
		}
		for (uint32_t j = 0; j < k->tuple->nr; j++) {
			rc = dec_scalar(d, item, &k->tuple->fields[j]);
			if (rc)
				return rc;
		}
	}
	d->strs = NULL;
	return 0;
}

static int dec_key(struct cb_dec *d, const struct cb_schema *s, void *m, const struct cb_key *k)
{
	struct cb_tok t;
	int rc;

	if (k->f.kind != CB_BASE && (*has_of(s, m) & k->bit))
		return VX_ECBOR; /* duplicate key */
	switch (k->f.kind) {
	case CB_BYTES:
		rc = dec_next(d, &t);
		if (rc)
			return rc;
		if (t.kind != T_BYTES || t.len > k->f.max)
			return VX_ECBOR;
		*AT(m, k->f.off, const uint8_t *) = t.ptr;
		*AT(m, k->off_nr, uint32_t) = (uint32_t)t.len;
		break;
	case CB_TEXTS:
	case CB_TUPLES:
	case CB_PAIRS:
		rc = dec_array(d, m, k);
		if (rc)
			return rc;
		break;
	default:
		rc = dec_scalar(d, m, &k->f);
		if (rc)
			return rc;
	}
	if (k->f.kind != CB_BASE)
		*has_of(s, m) |= k->bit;
	return 0;
}

static const struct cb_key *key_find(const struct cb_schema *s, uint64_t key)
{
	for (size_t i = 0; i < s->nr_keys; i++) {
		if (s->keys[i].key == key)
			return &s->keys[i];
	}
	return NULL;
}

static int dec_header_key(struct cb_dec *d, const struct cb_schema *s, void *m, uint64_t key,
			  unsigned *seen)
{
	uint64_t v;
	int rc;

	if (*seen & (1u << key))
		return VX_ECBOR;
	*seen |= 1u << key;
	rc = dec_uint(d, key == KEY_RID ? UINT64_MAX : UINT32_MAX, &v);
	if (rc)
		return rc;
	if (key == KEY_RID)
		*AT(m, s->off_rid, uint64_t) = v;
	else if (key == KEY_TYPE)
		*AT(m, s->off_type, uint32_t) = (uint32_t)v;
	else
		*AT(m, s->off_version, uint32_t) = (uint32_t)v;
	return 0;
}

static int dec_msg(struct cb_dec *d, const struct cb_schema *s, uint8_t tag, void *m)
{
	const struct cb_key *k;
	unsigned seen = 0;
	uint32_t n, type;
	uint64_t key, req;
	int rc;

	rc = dec_coll(d, T_MAP, VX_CTL_KEYS_MAX, &n);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		rc = dec_uint(d, UINT32_MAX, &key);
		if (rc)
			return rc;
		if (key <= KEY_VERSION) {
			rc = dec_header_key(d, s, m, key, &seen);
		} else {
			k = key_find(s, key);
			rc = k ? dec_key(d, s, m, k) : dec_skip(d, 2);
		}
		if (rc)
			return rc;
	}
	if (d->left != 0)
		return -EPROTO;
	type = *AT(m, s->off_type, uint32_t);
	if (seen != 7u || *AT(m, s->off_version, uint32_t) == 0 || !tag_type_ok(s, tag, type))
		return VX_ECBOR;
	req = required_of(s, tag, type);
	if ((*has_of(s, m) & req) != req)
		return VX_ECBOR;
	return 0;
}

int vx__cb_decode(const struct cb_schema *s, uint8_t tag, const uint8_t *val, size_t len, void *out)
{
	struct cb_dec d = { .p = val, .left = len };
	int rc;

	VX_ASSERT(out);
	memset(out, 0, s->size);
	*AT(out, s->off_tag, uint8_t) = tag;
	*AT(out, s->off_owns, bool) = true;
	if (len > VX_CTL_FRAME_MAX || (len && !val))
		return -EMSGSIZE;
	rc = dec_msg(&d, s, tag, out);
	if (rc)
		vx__cb_release(s, out);
	return rc;
}

void vx__cb_release(const struct cb_schema *s, void *m)
{
	if (!m)
		return;
	if (*AT(m, s->off_owns, bool)) {
		for (size_t i = 0; i < s->nr_keys; i++) {
			uint8_t kind = s->keys[i].f.kind;

			if (kind == CB_TEXTS || kind == CB_TUPLES || kind == CB_PAIRS)
				vx_free(*AT(m, s->keys[i].f.off, void *));
		}
	}
	memset(m, 0, s->size);
}
