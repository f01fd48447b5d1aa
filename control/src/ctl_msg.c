/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctl_msg.c: encode and decode control messages (CBOR maps with small integer keys inside one
 * Vortex frame). One table (ctl_keys[]) names every key, its kind, its limit and where it lives
 * in struct vx_ctl_msg; another (ctl_required[]) lists the keys each message type must carry.
 * The decoder is a pull parser over libcbor's streaming decoder: each item head is checked
 * here first (definite lengths only, no tags, no floats, lengths within the buffer), so libcbor
 * only ever sees items that fit, and nothing is allocated before its count is bounded.
 */
#include "vx_ctl_msg.h"

#include <stddef.h>
#include <string.h>

#include <cbor.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_bytes.h"
#include "vx_err.h"

enum ctl_kind {
	K_U16 = 1,
	K_U32,
	K_U64,
	K_I64,
	K_BOOL,
	K_TEXT,
	K_TASK_ID,
	K_BYTES,
	K_CANDS,
	K_DIGESTS,
	K_COSTS,
	K_AVOID,
	K_BASE,	   /* bitmap_base: a u32 without its own presence bit */
	K_HEADERS, /* array of text, each <= VX_CTL_STR_MAX */
	K_FILTERS, /* array of text, each <= VX_CTL_ID_MAX */
	K_TASKS,   /* array of [task_id, url, state, content_len, piece_count, pieces_done] */
};

struct ctl_key {
	uint8_t key;
	uint8_t kind;
	uint64_t bit;	  /* enum vx_ctl_field, 0 for K_BASE */
	size_t off;	  /* offset in struct vx_ctl_msg */
	uint64_t max;	  /* largest value, or longest string in bytes */
	uint64_t min_neg; /* K_I64: most negative value allowed, as a magnitude */
};

#define KEY_RID	    0
#define KEY_TYPE    1
#define KEY_VERSION 2

#define M(field) offsetof(struct vx_ctl_msg, field)

/* Every key after the three header keys; spec/control.md has the same table. */
static const struct ctl_key ctl_keys[] = {
	{ 3, K_I64, VX_CTL_F_STATUS, M(status), 0, 4095 },
	{ 4, K_TEXT, VX_CTL_F_ERROR, M(error), 1024, 0 },
	{ 8, K_TEXT, VX_CTL_F_HOST_ID, M(host_id), VX_CTL_ID_MAX, 0 },
	{ 9, K_TEXT, VX_CTL_F_ADDR, M(addr), 64, 0 },
	{ 10, K_U16, VX_CTL_F_PORT, M(port), 65535, 0 },
	{ 11, K_TEXT, VX_CTL_F_IDC, M(idc), VX_CTL_ID_MAX, 0 },
	{ 12, K_TEXT, VX_CTL_F_LOCATION, M(location), VX_CTL_ID_MAX, 0 },
	{ 13, K_U32, VX_CTL_F_ROLE, M(role), VX_CTL_ROLE_SEED, 0 },
	{ 14, K_U32, VX_CTL_F_SLOTS, M(slots), 1u << 16, 0 },
	{ 15, K_U64, VX_CTL_F_BANDWIDTH, M(bandwidth_bps), 1ull << 40, 0 },
	{ 16, K_TEXT, VX_CTL_F_TOKEN, M(token), VX_CTL_ID_MAX, 0 },
	{ 17, K_U32, VX_CTL_F_UPLOADS, M(uploads), 1u << 16, 0 },
	{ 18, K_U64, VX_CTL_F_TX, M(tx_bps), 1ull << 40, 0 },
	{ 20, K_TASK_ID, VX_CTL_F_TASK_ID, M(task_id), 64, 0 },
	{ 21, K_TEXT, VX_CTL_F_URL, M(url), VX_CTL_STR_MAX, 0 },
	{ 22, K_U64, VX_CTL_F_PIECE_LEN, M(piece_len), 1ull << 32, 0 },
	{ 23, K_I64, VX_CTL_F_CONTENT_LEN, M(content_len), 1ull << 50, 1 },
	{ 24, K_TEXT, VX_CTL_F_TAG, M(tg), VX_CTL_ID_MAX, 0 },
	{ 25, K_TEXT, VX_CTL_F_APP, M(app), VX_CTL_ID_MAX, 0 },
	{ 26, K_U32, VX_CTL_F_PRIORITY, M(priority), 6, 0 },
	{ 27, K_BOOL, VX_CTL_F_NEED_BTS, M(need_bts), 1, 0 },
	{ 28, K_U32, VX_CTL_F_ANSWER, M(answer), VX_CTL_ANS_WAIT, 0 },
	{ 29, K_CANDS, VX_CTL_F_CANDS, M(cands), VX_CTL_CANDS_MAX, 0 },
	{ 30, K_DIGESTS, VX_CTL_F_DIGESTS, M(digests), VX_CTL_DIGESTS_MAX, 0 },
	{ 31, K_U32, VX_CTL_F_PIECE_COUNT, M(piece_count), 1u << 20, 0 },
	{ 32, K_BASE, 0, M(bitmap_base), 1u << 20, 0 },
	{ 33, K_BYTES, VX_CTL_F_BITMAP, M(bitmap), VX_CTL_BITMAP_MAX, 0 },
	{ 34, K_COSTS, VX_CTL_F_COSTS, M(costs), VX_CTL_COSTS_MAX, 0 },
	{ 35, K_AVOID, VX_CTL_F_AVOID, M(avoid), VX_CTL_AVOID_MAX, 0 },
	{ 36, K_TEXT, VX_CTL_F_PARENT, M(parent), VX_CTL_ID_MAX, 0 },
	{ 37, K_U32, VX_CTL_F_PIECE, M(piece), (1u << 20) - 1, 0 },
	{ 38, K_U32, VX_CTL_F_EVENT, M(event), VX_CTL_EV_PROGRESS, 0 },
	{ 39, K_U32, VX_CTL_F_STATE, M(state), 16, 0 },
	{ 40, K_U32, VX_CTL_F_PEERS, M(peers), UINT32_MAX, 0 },
	{ 41, K_U32, VX_CTL_F_DONE_PEERS, M(done_peers), UINT32_MAX, 0 },
	{ 42, K_U32, VX_CTL_F_INTERVAL, M(interval_ms), 86400000u, 0 },
	/* Local API (spec/api.md) */
	{ 43, K_HEADERS, VX_CTL_F_HEADERS, M(headers), VX_CTL_HEADERS_MAX, 0 },
	{ 44, K_TEXT, VX_CTL_F_OUTPUT, M(output), VX_CTL_PATH_MAX, 0 },
	{ 45, K_TEXT, VX_CTL_F_DIGEST, M(digest), VX_CTL_SUM_MAX, 0 },
	{ 46, K_FILTERS, VX_CTL_F_FILTERED, M(filtered), VX_CTL_FILTERS_MAX, 0 },
	{ 47, K_U32, VX_CTL_F_TIMEOUT, M(timeout_ms), 2592000000u, 0 },
	{ 48, K_BOOL, VX_CTL_F_OVERWRITE, M(overwrite), 1, 0 },
	{ 49, K_BOOL, VX_CTL_F_DISABLE_BTS, M(disable_bts), 1, 0 },
	{ 50, K_U32, VX_CTL_F_STAGE, M(stage), 16, 0 },
	{ 51, K_U32, VX_CTL_F_SRC_STATUS, M(source_status), 999, 0 },
	{ 52, K_U32, VX_CTL_F_PIECES_DONE, M(pieces_done), 1u << 20, 0 },
	{ 53, K_U64, VX_CTL_F_BYTES_DONE, M(bytes_done), 1ull << 50, 0 },
	{ 54, K_U64, VX_CTL_F_FROM_PEERS, M(from_peers), 1ull << 50, 0 },
	{ 55, K_U64, VX_CTL_F_FROM_SOURCE, M(from_source), 1ull << 50, 0 },
	{ 56, K_U64, VX_CTL_F_REUSED, M(reused), 1ull << 50, 0 },
	{ 57, K_U64, VX_CTL_F_CONTIGUOUS, M(contiguous), 1ull << 50, 0 },
	{ 58, K_U64, VX_CTL_F_ELAPSED, M(elapsed_ms), 1ull << 50, 0 },
	{ 59, K_TASKS, VX_CTL_F_TASKS, M(tasks), VX_CTL_TASKS_MAX, 0 },
	{ 60, K_BOOL, VX_CTL_F_MORE, M(more), 1, 0 },
};

/* Keys a request (or event) of each type must carry; responses need only status. */
static const uint64_t ctl_required[VX_CTL_TYPE_NR] = {
	[VX_CTL_HELLO] = VX_CTL_F_HOST_ID | VX_CTL_F_ADDR | VX_CTL_F_PORT,
	[VX_CTL_ANNOUNCE] = 0,
	[VX_CTL_REGISTER] = VX_CTL_F_TASK_ID,
	[VX_CTL_PROGRESS] = VX_CTL_F_TASK_ID,
	[VX_CTL_RESCHEDULE] = VX_CTL_F_TASK_ID,
	[VX_CTL_MISMATCH] = VX_CTL_F_TASK_ID | VX_CTL_F_PARENT | VX_CTL_F_PIECE,
	[VX_CTL_FINISHED] = VX_CTL_F_TASK_ID,
	[VX_CTL_FAILED] = VX_CTL_F_TASK_ID,
	[VX_CTL_LEAVE] = 0,
	[VX_CTL_STAT_TASK] = VX_CTL_F_TASK_ID,
	[VX_CTL_DELETE_TASK] = VX_CTL_F_TASK_ID,
	[VX_CTL_EVENT] = VX_CTL_F_EVENT | VX_CTL_F_TASK_ID,
	[VX_CTL_DOWNLOAD] = VX_CTL_F_URL,
	[VX_CTL_TASK_LIST] = 0,
};

static const char *const ctl_type_names[VX_CTL_TYPE_NR] = {
	[VX_CTL_HELLO] = "hello",
	[VX_CTL_ANNOUNCE] = "announce",
	[VX_CTL_REGISTER] = "register",
	[VX_CTL_PROGRESS] = "progress",
	[VX_CTL_RESCHEDULE] = "reschedule",
	[VX_CTL_MISMATCH] = "mismatch",
	[VX_CTL_FINISHED] = "finished",
	[VX_CTL_FAILED] = "failed",
	[VX_CTL_LEAVE] = "leave",
	[VX_CTL_STAT_TASK] = "stat-task",
	[VX_CTL_DELETE_TASK] = "delete-task",
	[VX_CTL_EVENT] = "event",
	[VX_CTL_DOWNLOAD] = "download",
	[VX_CTL_TASK_LIST] = "task-list",
};

const char *vx_ctl_type_name(enum vx_ctl_type type)
{
	if ((unsigned)type >= VX_CTL_TYPE_NR || !ctl_type_names[type])
		return "unknown";
	return ctl_type_names[type];
}

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

static const struct ctl_key *ctl_key_find(uint64_t key)
{
	for (size_t i = 0; i < VX_ARRAY_SIZE(ctl_keys); i++) {
		if (ctl_keys[i].key == key)
			return &ctl_keys[i];
	}
	return NULL;
}

static bool ctl_tag_type_ok(uint8_t tag, uint32_t type)
{
	if (type == 0 || type >= VX_CTL_TYPE_NR)
		return false;
	if (tag == VX_CTL_TAG_EVENT)
		return type == VX_CTL_EVENT;
	if (tag == VX_CTL_TAG_REQUEST || tag == VX_CTL_TAG_RESPONSE)
		return type != VX_CTL_EVENT;
	return false;
}

static uint64_t ctl_required_of(uint8_t tag, uint32_t type)
{
	if (tag == VX_CTL_TAG_RESPONSE)
		return VX_CTL_F_STATUS;
	return ctl_required[type];
}

static bool ctl_task_id_ok(const char *p, size_t len)
{
	if (len != 64)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	}
	return true;
}

ssize_t vx_ctl_frame_peek(const uint8_t *buf, size_t len, uint32_t max_value,
			  struct vx_ctl_frame *out)
{
	VX_ASSERT(out);
	if (len < VX_CTL_HDR_LEN)
		return -EAGAIN;
	out->packet_id = buf[0];
	out->tag = buf[1];
	out->length = vx_get_be32(buf + 2);
	if (out->tag < VX_CTL_TAG_REQUEST || out->tag > VX_CTL_TAG_EVENT)
		return -EPROTO;
	if (out->length > max_value)
		return -EMSGSIZE;
	if (len - VX_CTL_HDR_LEN < out->length)
		return -EAGAIN;
	return (ssize_t)(VX_CTL_HDR_LEN + (size_t)out->length);
}

int vx_ctl_rbuf_reserve(uint8_t **buf, size_t *cap, size_t len, size_t min)
{
	struct vx_ctl_frame f;
	size_t need = min;
	uint8_t *nb;

	VX_ASSERT(len <= *cap);
	if (vx_ctl_frame_peek(*buf, len, VX_CTL_FRAME_MAX, &f) == -EAGAIN && len >= VX_CTL_HDR_LEN)
		need = VX_MAX(need, VX_CTL_HDR_LEN + (size_t)f.length);
	if (*cap >= need)
		return 0;
	nb = vx_realloc(*buf, need);
	if (!nb)
		return -ENOMEM;
	*buf = nb;
	*cap = need;
	return 0;
}

/* ---------------------------------------------------------------- Encoder */

struct ctl_enc {
	uint8_t *p;
	size_t len;
	size_t cap;
	int err;
};

static void enc_adv(struct ctl_enc *e, size_t n)
{
	if (n == 0 && !e->err)
		e->err = -EMSGSIZE;
	e->len += n;
}

static void enc_uint(struct ctl_enc *e, uint64_t v)
{
	if (!e->err)
		enc_adv(e, cbor_encode_uint(v, e->p + e->len, e->cap - e->len));
}

static void enc_int(struct ctl_enc *e, int64_t v)
{
	if (e->err)
		return;
	if (v >= 0)
		enc_adv(e, cbor_encode_uint((uint64_t)v, e->p + e->len, e->cap - e->len));
	else
		enc_adv(e,
			cbor_encode_negint((uint64_t)(-(v + 1)), e->p + e->len, e->cap - e->len));
}

static void enc_bool(struct ctl_enc *e, bool v)
{
	if (!e->err)
		enc_adv(e, cbor_encode_bool(v, e->p + e->len, e->cap - e->len));
}

static void enc_raw(struct ctl_enc *e, size_t head, const void *data, size_t n)
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

static void enc_text(struct ctl_enc *e, const char *s, size_t n)
{
	if (!e->err)
		enc_raw(e, cbor_encode_string_start(n, e->p + e->len, e->cap - e->len), s, n);
}

static void enc_bytes(struct ctl_enc *e, const uint8_t *s, size_t n)
{
	if (!e->err)
		enc_raw(e, cbor_encode_bytestring_start(n, e->p + e->len, e->cap - e->len), s, n);
}

static void enc_array(struct ctl_enc *e, size_t n)
{
	if (!e->err)
		enc_adv(e, cbor_encode_array_start(n, e->p + e->len, e->cap - e->len));
}

static void enc_map(struct ctl_enc *e, size_t n)
{
	if (!e->err)
		enc_adv(e, cbor_encode_map_start(n, e->p + e->len, e->cap - e->len));
}

static bool str_ok(struct vx_ctl_str s, uint64_t max)
{
	return s.len <= max && (s.len == 0 || (s.ptr && !memchr(s.ptr, '\0', s.len)));
}

static uint64_t field_u64(const struct vx_ctl_msg *m, const struct ctl_key *k)
{
	const char *p = (const char *)m + k->off;

	switch (k->kind) {
	case K_U16:
		return *(const uint16_t *)(const void *)p;
	case K_U32:
	case K_BASE:
		return *(const uint32_t *)(const void *)p;
	default:
		return *(const uint64_t *)(const void *)p;
	}
}

static bool strs_ok(const struct vx_ctl_str *v, uint32_t n, uint64_t max_n, uint64_t max_len)
{
	if (n > max_n || (n && !v))
		return false;
	for (uint32_t i = 0; i < n; i++) {
		if (!str_ok(v[i], max_len))
			return false;
	}
	return true;
}

/* Checks the limits the decoder enforces, so we never send what a peer must reject. */
static int enc_check_field(const struct vx_ctl_msg *m, const struct ctl_key *k)
{
	const char *base = (const char *)m;

	switch (k->kind) {
	case K_U16:
	case K_U32:
	case K_U64:
	case K_BASE:
		return field_u64(m, k) <= k->max ? 0 : -EINVAL;
	case K_I64: {
		int64_t v = *(const int64_t *)(const void *)(base + k->off);

		return (v >= 0 && (uint64_t)v <= k->max) ||
				       (v < 0 && (uint64_t)(-(v + 1)) < k->min_neg)
			       ? 0
			       : -EINVAL;
	}
	case K_TEXT:
		return str_ok(*(const struct vx_ctl_str *)(const void *)(base + k->off), k->max)
			       ? 0
			       : -EINVAL;
	case K_TASK_ID:
		return ctl_task_id_ok(m->task_id.ptr, m->task_id.len) ? 0 : -EINVAL;
	case K_BYTES:
		return m->bitmap_len <= k->max && (m->bitmap_len == 0 || m->bitmap) ? 0 : -EINVAL;
	case K_CANDS:
		if (m->nr_cands > k->max || (m->nr_cands && !m->cands))
			return -EINVAL;
		for (uint32_t i = 0; i < m->nr_cands; i++) {
			if (!str_ok(m->cands[i].host_id, VX_CTL_ID_MAX) ||
			    !str_ok(m->cands[i].addr, 64))
				return -EINVAL;
		}
		return 0;
	case K_DIGESTS:
		if (m->nr_digests > k->max || (m->nr_digests && !m->digests))
			return -EINVAL;
		for (uint32_t i = 0; i < m->nr_digests; i++) {
			if (!str_ok(m->digests[i].digest, VX_CTL_DIGEST_MAX) ||
			    m->digests[i].piece >= (1u << 20))
				return -EINVAL;
		}
		return 0;
	case K_COSTS:
		if (m->nr_costs > k->max || (m->nr_costs && !m->costs))
			return -EINVAL;
		for (uint32_t i = 0; i < m->nr_costs; i++) {
			if (!str_ok(m->costs[i].host_id, VX_CTL_ID_MAX))
				return -EINVAL;
		}
		return 0;
	case K_AVOID:
		if (m->nr_avoid > k->max || (m->nr_avoid && !m->avoid))
			return -EINVAL;
		for (uint32_t i = 0; i < m->nr_avoid; i++) {
			if (!str_ok(m->avoid[i], VX_CTL_ID_MAX))
				return -EINVAL;
		}
		return 0;
	case K_HEADERS:
		return strs_ok(m->headers, m->nr_headers, k->max, VX_CTL_STR_MAX) ? 0 : -EINVAL;
	case K_FILTERS:
		return strs_ok(m->filtered, m->nr_filtered, k->max, VX_CTL_ID_MAX) ? 0 : -EINVAL;
	case K_TASKS:
		if (m->nr_tasks > k->max || (m->nr_tasks && !m->tasks))
			return -EINVAL;
		for (uint32_t i = 0; i < m->nr_tasks; i++) {
			const struct vx_ctl_task *t = &m->tasks[i];

			if (!ctl_task_id_ok(t->task_id.ptr, t->task_id.len) ||
			    !str_ok(t->url, VX_CTL_STR_MAX) || t->state > 16 ||
			    t->content_len < -1 || t->content_len > (1ll << 50) ||
			    t->piece_count > (1u << 20) || t->pieces_done > (1u << 20))
				return -EINVAL;
		}
		return 0;
	default:
		return 0;
	}
}

static void enc_field(struct ctl_enc *e, const struct vx_ctl_msg *m, const struct ctl_key *k)
{
	const char *base = (const char *)m;
	const struct vx_ctl_str *s;

	enc_uint(e, k->key);
	switch (k->kind) {
	case K_U16:
	case K_U32:
	case K_U64:
	case K_BASE:
		enc_uint(e, field_u64(m, k));
		break;
	case K_I64:
		enc_int(e, *(const int64_t *)(const void *)(base + k->off));
		break;
	case K_BOOL:
		enc_bool(e, *(const bool *)(const void *)(base + k->off));
		break;
	case K_TEXT:
	case K_TASK_ID:
		s = (const struct vx_ctl_str *)(const void *)(base + k->off);
		enc_text(e, s->ptr, s->len);
		break;
	case K_BYTES:
		enc_bytes(e, m->bitmap, m->bitmap_len);
		break;
	case K_CANDS:
		enc_array(e, m->nr_cands);
		for (uint32_t i = 0; i < m->nr_cands; i++) {
			const struct vx_ctl_cand *c = &m->cands[i];

			enc_array(e, 5);
			enc_text(e, c->host_id.ptr, c->host_id.len);
			enc_text(e, c->addr.ptr, c->addr.len);
			enc_uint(e, c->port);
			enc_uint(e, c->pieces);
			enc_bool(e, c->complete);
		}
		break;
	case K_DIGESTS:
		enc_map(e, m->nr_digests);
		for (uint32_t i = 0; i < m->nr_digests; i++) {
			enc_uint(e, m->digests[i].piece);
			enc_text(e, m->digests[i].digest.ptr, m->digests[i].digest.len);
		}
		break;
	case K_COSTS:
		enc_array(e, m->nr_costs);
		for (uint32_t i = 0; i < m->nr_costs; i++) {
			const struct vx_ctl_cost *c = &m->costs[i];

			enc_array(e, 4);
			enc_text(e, c->host_id.ptr, c->host_id.len);
			enc_uint(e, c->pieces);
			enc_uint(e, c->bytes);
			enc_uint(e, c->cost_us);
		}
		break;
	case K_AVOID:
		enc_array(e, m->nr_avoid);
		for (uint32_t i = 0; i < m->nr_avoid; i++)
			enc_text(e, m->avoid[i].ptr, m->avoid[i].len);
		break;
	case K_HEADERS:
		enc_array(e, m->nr_headers);
		for (uint32_t i = 0; i < m->nr_headers; i++)
			enc_text(e, m->headers[i].ptr, m->headers[i].len);
		break;
	case K_FILTERS:
		enc_array(e, m->nr_filtered);
		for (uint32_t i = 0; i < m->nr_filtered; i++)
			enc_text(e, m->filtered[i].ptr, m->filtered[i].len);
		break;
	case K_TASKS:
		enc_array(e, m->nr_tasks);
		for (uint32_t i = 0; i < m->nr_tasks; i++) {
			const struct vx_ctl_task *t = &m->tasks[i];

			enc_array(e, 6);
			enc_text(e, t->task_id.ptr, t->task_id.len);
			enc_text(e, t->url.ptr, t->url.len);
			enc_uint(e, t->state);
			enc_int(e, t->content_len);
			enc_uint(e, t->piece_count);
			enc_uint(e, t->pieces_done);
		}
		break;
	default:
		VX_ASSERT(0);
	}
}

static bool key_present(const struct vx_ctl_msg *m, const struct ctl_key *k)
{
	if (k->kind == K_BASE)
		return (m->has & VX_CTL_F_BITMAP) && m->bitmap_base != 0;
	return (m->has & k->bit) != 0;
}

ssize_t vx_ctl_msg_encode(const struct vx_ctl_msg *m, uint8_t *buf, size_t cap)
{
	struct ctl_enc e = { .p = buf, .cap = cap };
	uint64_t req;
	size_t n = 3;
	int rc;

	VX_ASSERT(m);
	VX_ASSERT(buf);
	if (!ctl_tag_type_ok(m->tag, m->type))
		return -EINVAL;
	req = ctl_required_of(m->tag, m->type);
	if ((m->has & req) != req)
		return -EINVAL;
	if (cap < VX_CTL_HDR_LEN)
		return -EMSGSIZE;
	for (size_t i = 0; i < VX_ARRAY_SIZE(ctl_keys); i++) {
		if (!key_present(m, &ctl_keys[i]))
			continue;
		rc = enc_check_field(m, &ctl_keys[i]);
		if (rc)
			return rc;
		n++;
	}
	if (cap - VX_CTL_HDR_LEN > VX_CTL_FRAME_MAX)
		e.cap = VX_CTL_HDR_LEN + VX_CTL_FRAME_MAX;
	e.len = VX_CTL_HDR_LEN;
	enc_map(&e, n);
	enc_uint(&e, KEY_RID);
	enc_uint(&e, m->rid);
	enc_uint(&e, KEY_TYPE);
	enc_uint(&e, (uint64_t)m->type);
	enc_uint(&e, KEY_VERSION);
	enc_uint(&e, VX_CTL_VERSION);
	for (size_t i = 0; i < VX_ARRAY_SIZE(ctl_keys); i++) {
		if (key_present(m, &ctl_keys[i]))
			enc_field(&e, m, &ctl_keys[i]);
	}
	if (e.err)
		return e.err;
	/* Packet ids are never matched (vortex-wire.md); derive one from the request id. */
	buf[0] = (uint8_t)(m->rid * 0x9Du + e.len);
	buf[1] = m->tag;
	vx_put_be32(buf + 2, (uint32_t)(e.len - VX_CTL_HDR_LEN));
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

struct ctl_tok {
	enum tok_kind kind;
	uint64_t v; /* integer, bool, or element count */
	const uint8_t *ptr;
	size_t len;
};

struct ctl_dec {
	const uint8_t *p;
	size_t left;
	unsigned skipped; /* items skipped under unknown keys */
};

static void cb_u8(void *c, uint8_t v)
{
	((struct ctl_tok *)c)->kind = T_UINT;
	((struct ctl_tok *)c)->v = v;
}
static void cb_u16(void *c, uint16_t v)
{
	((struct ctl_tok *)c)->kind = T_UINT;
	((struct ctl_tok *)c)->v = v;
}
static void cb_u32(void *c, uint32_t v)
{
	((struct ctl_tok *)c)->kind = T_UINT;
	((struct ctl_tok *)c)->v = v;
}
static void cb_u64(void *c, uint64_t v)
{
	((struct ctl_tok *)c)->kind = T_UINT;
	((struct ctl_tok *)c)->v = v;
}
static void cb_n8(void *c, uint8_t v)
{
	((struct ctl_tok *)c)->kind = T_NEGINT;
	((struct ctl_tok *)c)->v = v;
}
static void cb_n16(void *c, uint16_t v)
{
	((struct ctl_tok *)c)->kind = T_NEGINT;
	((struct ctl_tok *)c)->v = v;
}
static void cb_n32(void *c, uint32_t v)
{
	((struct ctl_tok *)c)->kind = T_NEGINT;
	((struct ctl_tok *)c)->v = v;
}
static void cb_n64(void *c, uint64_t v)
{
	((struct ctl_tok *)c)->kind = T_NEGINT;
	((struct ctl_tok *)c)->v = v;
}
static void cb_bytes(void *c, cbor_data d, size_t n)
{
	((struct ctl_tok *)c)->kind = T_BYTES;
	((struct ctl_tok *)c)->ptr = d;
	((struct ctl_tok *)c)->len = n;
}
static void cb_text(void *c, cbor_data d, size_t n)
{
	((struct ctl_tok *)c)->kind = T_TEXT;
	((struct ctl_tok *)c)->ptr = d;
	((struct ctl_tok *)c)->len = n;
}
static void cb_array(void *c, size_t n)
{
	((struct ctl_tok *)c)->kind = T_ARRAY;
	((struct ctl_tok *)c)->v = n;
}
static void cb_map(void *c, size_t n)
{
	((struct ctl_tok *)c)->kind = T_MAP;
	((struct ctl_tok *)c)->v = n;
}
static void cb_bool(void *c, bool v)
{
	((struct ctl_tok *)c)->kind = T_BOOL;
	((struct ctl_tok *)c)->v = v;
}
static void cb_null(void *c)
{
	((struct ctl_tok *)c)->kind = T_NULL;
}

static const struct cbor_callbacks ctl_callbacks = {
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
static int dec_check_head(const struct ctl_dec *d)
{
	uint8_t b = d->p[0], major = b >> 5, ai = b & 31;
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

static int dec_next(struct ctl_dec *d, struct ctl_tok *t)
{
	struct cbor_decoder_result r;
	int rc;

	memset(t, 0, sizeof(*t));
	if (d->left == 0)
		return -EPROTO;
	rc = dec_check_head(d);
	if (rc)
		return rc;
	r = cbor_stream_decode(d->p, d->left, &ctl_callbacks, t);
	if (r.status != CBOR_DECODER_FINISHED || r.read == 0 || r.read > d->left ||
	    t->kind == T_NONE)
		return -EPROTO;
	d->p += r.read;
	d->left -= r.read;
	return 0;
}

/* Skips one item of any shape, bounded by depth and by the per-message skip budget. */
static int dec_skip(struct ctl_dec *d, unsigned depth)
{
	struct ctl_tok t;
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

static int dec_uint(struct ctl_dec *d, uint64_t max, uint64_t *out)
{
	struct ctl_tok t;
	int rc = dec_next(d, &t);

	if (rc)
		return rc;
	if (t.kind != T_UINT || t.v > max)
		return VX_ECBOR;
	*out = t.v;
	return 0;
}

static int dec_text(struct ctl_dec *d, uint64_t max, struct vx_ctl_str *out)
{
	struct ctl_tok t;
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

static int dec_bool(struct ctl_dec *d, bool *out)
{
	struct ctl_tok t;
	int rc = dec_next(d, &t);

	if (rc)
		return rc;
	if (t.kind != T_BOOL)
		return VX_ECBOR;
	*out = t.v != 0;
	return 0;
}

/* Reads an array or map head of at most @max entries; counts beyond the bytes left fail. */
static int dec_coll(struct ctl_dec *d, enum tok_kind kind, uint64_t max, uint32_t *out)
{
	struct ctl_tok t;
	int rc = dec_next(d, &t);

	if (rc)
		return rc;
	if (t.kind != kind)
		return VX_ECBOR;
	if (t.v > max || t.v > d->left)
		return t.v > d->left ? -EPROTO : VX_ECBOR;
	*out = (uint32_t)t.v;
	return 0;
}

static int dec_cands(struct ctl_dec *d, struct vx_ctl_msg *m, uint64_t max)
{
	uint32_t n, fields;
	uint64_t v;
	int rc;

	rc = dec_coll(d, T_ARRAY, max, &n);
	if (rc)
		return rc;
	m->cands = vx_calloc(n, sizeof(*m->cands));
	if (!m->cands)
		return -ENOMEM;
	m->nr_cands = n;
	for (uint32_t i = 0; i < n; i++) {
		struct vx_ctl_cand *c = &m->cands[i];

		rc = dec_coll(d, T_ARRAY, 5, &fields);
		if (!rc && fields != 5)
			rc = VX_ECBOR;
		if (!rc)
			rc = dec_text(d, VX_CTL_ID_MAX, &c->host_id);
		if (!rc)
			rc = dec_text(d, 64, &c->addr);
		if (!rc)
			rc = dec_uint(d, 65535, &v);
		if (!rc) {
			c->port = (uint16_t)v;
			rc = dec_uint(d, 1u << 20, &v);
		}
		if (!rc) {
			c->pieces = (uint32_t)v;
			rc = dec_bool(d, &c->complete);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int dec_digests(struct ctl_dec *d, struct vx_ctl_msg *m, uint64_t max)
{
	uint32_t n;
	uint64_t v;
	int rc;

	rc = dec_coll(d, T_MAP, max, &n);
	if (rc)
		return rc;
	m->digests = vx_calloc(n, sizeof(*m->digests));
	if (!m->digests)
		return -ENOMEM;
	m->nr_digests = n;
	for (uint32_t i = 0; i < n; i++) {
		rc = dec_uint(d, (1u << 20) - 1, &v);
		if (rc)
			return rc;
		m->digests[i].piece = (uint32_t)v;
		rc = dec_text(d, VX_CTL_DIGEST_MAX, &m->digests[i].digest);
		if (rc)
			return rc;
	}
	return 0;
}

static int dec_costs(struct ctl_dec *d, struct vx_ctl_msg *m, uint64_t max)
{
	uint32_t n, fields;
	uint64_t v;
	int rc;

	rc = dec_coll(d, T_ARRAY, max, &n);
	if (rc)
		return rc;
	m->costs = vx_calloc(n, sizeof(*m->costs));
	if (!m->costs)
		return -ENOMEM;
	m->nr_costs = n;
	for (uint32_t i = 0; i < n; i++) {
		struct vx_ctl_cost *c = &m->costs[i];

		rc = dec_coll(d, T_ARRAY, 4, &fields);
		if (!rc && fields != 4)
			rc = VX_ECBOR;
		if (!rc)
			rc = dec_text(d, VX_CTL_ID_MAX, &c->host_id);
		if (!rc)
			rc = dec_uint(d, 1u << 20, &v);
		if (!rc) {
			c->pieces = (uint32_t)v;
			rc = dec_uint(d, 1ull << 50, &c->bytes);
		}
		if (!rc)
			rc = dec_uint(d, 1ull << 50, &c->cost_us);
		if (rc)
			return rc;
	}
	return 0;
}

static int dec_avoid(struct ctl_dec *d, struct vx_ctl_msg *m, uint64_t max)
{
	uint32_t n;
	int rc;

	rc = dec_coll(d, T_ARRAY, max, &n);
	if (rc)
		return rc;
	m->avoid = vx_calloc(n, sizeof(*m->avoid));
	if (!m->avoid)
		return -ENOMEM;
	m->nr_avoid = n;
	for (uint32_t i = 0; i < n; i++) {
		rc = dec_text(d, VX_CTL_ID_MAX, &m->avoid[i]);
		if (rc)
			return rc;
	}
	return 0;
}

/* An array of at most @max text strings of at most @item_max bytes each, into *@out (owned). */
static int dec_strs(struct ctl_dec *d, uint64_t max, uint64_t item_max, struct vx_ctl_str **out,
		    uint32_t *nr)
{
	uint32_t n;
	int rc;

	rc = dec_coll(d, T_ARRAY, max, &n);
	if (rc)
		return rc;
	*out = vx_calloc(n, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	*nr = n;
	for (uint32_t i = 0; i < n; i++) {
		rc = dec_text(d, item_max, &(*out)[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static int dec_int(struct ctl_dec *d, int64_t min, int64_t max, int64_t *out)
{
	struct ctl_tok t;
	int rc = dec_next(d, &t);

	if (rc)
		return rc;
	if (t.kind == T_UINT && t.v <= (uint64_t)max) {
		*out = (int64_t)t.v;
		return 0;
	}
	/* the integer is -1 - t.v; min is negative and small */
	if (t.kind == T_NEGINT && min < 0 && t.v <= (uint64_t)(-(min + 1))) {
		*out = -1 - (int64_t)t.v;
		return 0;
	}
	return VX_ECBOR;
}

static int dec_task(struct ctl_dec *d, struct vx_ctl_task *t)
{
	uint32_t fields;
	uint64_t v;
	int rc;

	rc = dec_coll(d, T_ARRAY, 6, &fields);
	if (!rc && fields != 6)
		rc = VX_ECBOR;
	if (!rc)
		rc = dec_text(d, 64, &t->task_id);
	if (!rc && !ctl_task_id_ok(t->task_id.ptr, t->task_id.len))
		rc = VX_ECBOR;
	if (!rc)
		rc = dec_text(d, VX_CTL_STR_MAX, &t->url);
	if (!rc)
		rc = dec_uint(d, 16, &v);
	if (!rc) {
		t->state = (uint32_t)v;
		rc = dec_int(d, -1, 1ll << 50, &t->content_len);
	}
	if (!rc)
		rc = dec_uint(d, 1u << 20, &v);
	if (!rc) {
		t->piece_count = (uint32_t)v;
		rc = dec_uint(d, 1u << 20, &v);
	}
	if (!rc)
		t->pieces_done = (uint32_t)v;
	return rc;
}

static int dec_tasks(struct ctl_dec *d, struct vx_ctl_msg *m, uint64_t max)
{
	uint32_t n;
	int rc;

	rc = dec_coll(d, T_ARRAY, max, &n);
	if (rc)
		return rc;
	m->tasks = vx_calloc(n, sizeof(*m->tasks));
	if (!m->tasks)
		return -ENOMEM;
	m->nr_tasks = n;
	for (uint32_t i = 0; i < n; i++) {
		rc = dec_task(d, &m->tasks[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static int dec_i64(struct ctl_dec *d, const struct ctl_key *k, int64_t *out)
{
	struct ctl_tok t;
	int rc = dec_next(d, &t);

	if (rc)
		return rc;
	if (t.kind == T_UINT && t.v <= k->max) {
		*out = (int64_t)t.v;
		return 0;
	}
	if (t.kind == T_NEGINT && t.v < k->min_neg) {
		*out = -1 - (int64_t)t.v;
		return 0;
	}
	return VX_ECBOR;
}

static int dec_field(struct ctl_dec *d, struct vx_ctl_msg *m, const struct ctl_key *k)
{
	char *base = (char *)m;
	struct ctl_tok t;
	uint64_t v;
	int rc;

	if (k->bit && (m->has & k->bit) && k->kind != K_BYTES)
		return VX_ECBOR; /* duplicate key */
	switch (k->kind) {
	case K_U16:
	case K_U32:
	case K_U64:
	case K_BASE:
		rc = dec_uint(d, k->max, &v);
		if (rc)
			return rc;
		if (k->kind == K_U16)
			*(uint16_t *)(void *)(base + k->off) = (uint16_t)v;
		else if (k->kind == K_U64)
			*(uint64_t *)(void *)(base + k->off) = v;
		else
			*(uint32_t *)(void *)(base + k->off) = (uint32_t)v;
		break;
	case K_I64:
		rc = dec_i64(d, k, (int64_t *)(void *)(base + k->off));
		break;
	case K_BOOL:
		rc = dec_bool(d, (bool *)(void *)(base + k->off));
		break;
	case K_TEXT:
		rc = dec_text(d, k->max, (struct vx_ctl_str *)(void *)(base + k->off));
		break;
	case K_TASK_ID:
		rc = dec_text(d, k->max, &m->task_id);
		if (!rc && !ctl_task_id_ok(m->task_id.ptr, m->task_id.len))
			rc = VX_ECBOR;
		break;
	case K_BYTES:
		if (m->has & k->bit)
			return VX_ECBOR;
		rc = dec_next(d, &t);
		if (!rc && (t.kind != T_BYTES || t.len > k->max))
			rc = VX_ECBOR;
		if (!rc) {
			m->bitmap = t.ptr;
			m->bitmap_len = (uint32_t)t.len;
		}
		break;
	case K_CANDS:
		rc = dec_cands(d, m, k->max);
		break;
	case K_DIGESTS:
		rc = dec_digests(d, m, k->max);
		break;
	case K_COSTS:
		rc = dec_costs(d, m, k->max);
		break;
	case K_AVOID:
		rc = dec_avoid(d, m, k->max);
		break;
	case K_HEADERS:
		rc = dec_strs(d, k->max, VX_CTL_STR_MAX, &m->headers, &m->nr_headers);
		break;
	case K_FILTERS:
		rc = dec_strs(d, k->max, VX_CTL_ID_MAX, &m->filtered, &m->nr_filtered);
		break;
	case K_TASKS:
		rc = dec_tasks(d, m, k->max);
		break;
	default:
		rc = VX_ECBOR;
	}
	if (!rc)
		m->has |= k->bit;
	return rc;
}

static int dec_header_key(struct ctl_dec *d, struct vx_ctl_msg *m, uint64_t key, unsigned *seen)
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
		m->rid = v;
	else if (key == KEY_TYPE)
		m->type = (enum vx_ctl_type)v;
	else
		m->version = (uint32_t)v;
	return 0;
}

static int dec_msg(struct ctl_dec *d, uint8_t tag, struct vx_ctl_msg *m)
{
	const struct ctl_key *k;
	unsigned seen = 0;
	uint32_t n;
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
			rc = dec_header_key(d, m, key, &seen);
		} else {
			k = ctl_key_find(key);
			rc = k ? dec_field(d, m, k) : dec_skip(d, 2);
		}
		if (rc)
			return rc;
	}
	if (d->left != 0)
		return -EPROTO;
	if (seen != 7u || m->version == 0 || !ctl_tag_type_ok(tag, m->type))
		return VX_ECBOR;
	req = ctl_required_of(tag, m->type);
	if ((m->has & req) != req)
		return VX_ECBOR;
	return 0;
}

int vx_ctl_msg_decode(uint8_t tag, const uint8_t *val, size_t len, struct vx_ctl_msg *out)
{
	struct ctl_dec d = { .p = val, .left = len };
	int rc;

	VX_ASSERT(out);
	memset(out, 0, sizeof(*out));
	out->tag = tag;
	out->owns_arrays = true;
	if (len > VX_CTL_FRAME_MAX || (len && !val))
		return -EMSGSIZE;
	rc = dec_msg(&d, tag, out);
	if (rc)
		vx_ctl_msg_release(out);
	return rc;
}

void vx_ctl_msg_release(struct vx_ctl_msg *m)
{
	if (!m)
		return;
	if (m->owns_arrays) {
		vx_free(m->cands);
		vx_free(m->digests);
		vx_free(m->costs);
		vx_free(m->avoid);
		vx_free(m->headers);
		vx_free(m->filtered);
		vx_free(m->tasks);
	}
	memset(m, 0, sizeof(*m));
}
