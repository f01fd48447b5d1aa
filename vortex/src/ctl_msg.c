/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctl_msg.c: the scheduler protocol's tables for the CBOR-map codec (ctl_cbor.c): every key,
 * its kind, its limit and where it lives in struct vx_ctl_msg, and the keys each message type
 * must carry. spec/control.md has the same tables.
 */
#include "vx_log.h" /* VX_REQUEST_ID_MAX */
#include "vx_ctl_msg.h"

#include <stddef.h>

#include "ctl_cbor_int.h"
#include "vx_compiler.h"

#define M(field) offsetof(struct vx_ctl_msg, field)
#define SCALAR(k, kind, b, field, max, min_neg)                                    \
	{                                                                          \
		.key = (k), .bit = (b), .f = {(kind), M(field), (max), (min_neg) } \
	}
#define ARRAY(k, kind, b, field, nr, max, tup)                                                \
	{                                                                                     \
		.key = (k), .bit = (b), .f = { (kind), M(field), (max), 0 }, .off_nr = M(nr), \
		.tuple = (tup)                                                                \
	}

#define CAND(field) offsetof(struct vx_ctl_cand, field)
static const struct cb_field cand_fields[] = {
	{ CB_TEXT, CAND(host_id), VX_CTL_ID_MAX, 0 },
	{ CB_TEXT, CAND(addr), 64, 0 },
	{ CB_U16, CAND(port), 65535, 0 },
	{ CB_U32, CAND(pieces), 1u << 20, 0 },
	{ CB_BOOL, CAND(complete), 1, 0 },
};
static const struct cb_tuple cand_tuple = { cand_fields, 5, sizeof(struct vx_ctl_cand) };

#define DIG(field) offsetof(struct vx_ctl_digest, field)
static const struct cb_field digest_fields[] = {
	{ CB_U32, DIG(piece), (1u << 20) - 1, 0 },
	{ CB_TEXT, DIG(digest), VX_CTL_DIGEST_MAX, 0 },
};
static const struct cb_tuple digest_pair = { digest_fields, 2, sizeof(struct vx_ctl_digest) };

#define COST(field) offsetof(struct vx_ctl_cost, field)
static const struct cb_field cost_fields[] = {
	{ CB_TEXT, COST(host_id), VX_CTL_ID_MAX, 0 },
	{ CB_U32, COST(pieces), 1u << 20, 0 },
	{ CB_U64, COST(bytes), 1ull << 50, 0 },
	{ CB_U64, COST(cost_us), 1ull << 50, 0 },
};
static const struct cb_tuple cost_tuple = { cost_fields, 4, sizeof(struct vx_ctl_cost) };

/* Every key after the three header keys (rid 0, type 1, version 2). */
static const struct cb_key ctl_keys[] = {
	SCALAR(3, CB_I64, VX_CTL_F_STATUS, status, 0, -VX_CTL_STATUS_MIN),
	SCALAR(4, CB_TEXT, VX_CTL_F_ERROR, error, VX_CTL_ERROR_MAX, 0),
	SCALAR(8, CB_TEXT, VX_CTL_F_HOST_ID, host_id, VX_CTL_ID_MAX, 0),
	SCALAR(9, CB_TEXT, VX_CTL_F_ADDR, addr, VX_CTL_ADDR_MAX, 0),
	SCALAR(10, CB_U16, VX_CTL_F_PORT, port, 65535, 0),
	SCALAR(11, CB_TEXT, VX_CTL_F_IDC, idc, VX_CTL_ID_MAX, 0),
	SCALAR(12, CB_TEXT, VX_CTL_F_LOCATION, location, VX_CTL_ID_MAX, 0),
	SCALAR(13, CB_U32, VX_CTL_F_ROLE, role, VX_CTL_ROLE_SEED, 0),
	SCALAR(14, CB_U32, VX_CTL_F_SLOTS, slots, 1u << 16, 0),
	SCALAR(15, CB_U64, VX_CTL_F_BANDWIDTH, bandwidth_bps, 1ull << 40, 0),
	SCALAR(16, CB_TEXT, VX_CTL_F_TOKEN, token, VX_CTL_ID_MAX, 0),
	SCALAR(17, CB_U32, VX_CTL_F_UPLOADS, uploads, 1u << 16, 0),
	SCALAR(18, CB_U64, VX_CTL_F_TX, tx_bps, 1ull << 40, 0),
	SCALAR(19, CB_TEXT, VX_CTL_F_HOST_KEY, host_key, VX_CTL_ID_MAX, 0),
	SCALAR(20, CB_TASK_ID, VX_CTL_F_TASK_ID, task_id, 64, 0),
	SCALAR(21, CB_TEXT, VX_CTL_F_URL, url, VX_CTL_STR_MAX, 0),
	SCALAR(22, CB_U64, VX_CTL_F_PIECE_LEN, piece_len, 1ull << 32, 0),
	SCALAR(23, CB_I64, VX_CTL_F_CONTENT_LEN, content_len, 1ull << 50, 1),
	SCALAR(24, CB_TEXT, VX_CTL_F_TAG, tg, VX_CTL_ID_MAX, 0),
	SCALAR(25, CB_TEXT, VX_CTL_F_APP, app, VX_CTL_ID_MAX, 0),
	SCALAR(26, CB_U32, VX_CTL_F_PRIORITY, priority, 6, 0),
	SCALAR(27, CB_BOOL, VX_CTL_F_NEED_BTS, need_bts, 1, 0),
	SCALAR(28, CB_U32, VX_CTL_F_ANSWER, answer, VX_CTL_ANS_WAIT, 0),
	ARRAY(29, CB_TUPLES, VX_CTL_F_CANDS, cands, nr_cands, VX_CTL_CANDS_MAX, &cand_tuple),
	ARRAY(30, CB_PAIRS, VX_CTL_F_DIGESTS, digests, nr_digests, VX_CTL_DIGESTS_MAX,
	      &digest_pair),
	SCALAR(31, CB_U32, VX_CTL_F_PIECE_COUNT, piece_count, 1u << 20, 0),
	/* bitmap_base is sent only beside a bitmap, and only when not 0 */
	SCALAR(32, CB_BASE, VX_CTL_F_BITMAP, bitmap_base, 1u << 20, 0),
	ARRAY(33, CB_BYTES, VX_CTL_F_BITMAP, bitmap, bitmap_len, VX_CTL_BITMAP_MAX, NULL),
	ARRAY(34, CB_TUPLES, VX_CTL_F_COSTS, costs, nr_costs, VX_CTL_COSTS_MAX, &cost_tuple),
	{ .key = 35,
	  .bit = VX_CTL_F_AVOID,
	  .f = { CB_TEXTS, M(avoid), VX_CTL_AVOID_MAX, 0 },
	  .off_nr = M(nr_avoid),
	  .item_max = VX_CTL_ID_MAX },
	SCALAR(36, CB_TEXT, VX_CTL_F_PARENT, parent, VX_CTL_ID_MAX, 0),
	SCALAR(37, CB_U32, VX_CTL_F_PIECE, piece, (1u << 20) - 1, 0),
	SCALAR(38, CB_U32, VX_CTL_F_EVENT, event, VX_CTL_EV_CLUSTER_CONFIG, 0),
	SCALAR(39, CB_U32, VX_CTL_F_STATE, state, 16, 0),
	SCALAR(40, CB_U32, VX_CTL_F_PEERS, peers, UINT32_MAX, 0),
	SCALAR(41, CB_U32, VX_CTL_F_DONE_PEERS, done_peers, UINT32_MAX, 0),
	SCALAR(42, CB_U32, VX_CTL_F_INTERVAL, interval_ms, 86400000u, 0),
	/* 43 means what it means in the local API: an origin's request headers (preheat) */
	{ .key = 43,
	  .bit = VX_CTL_F_HEADERS,
	  .f = { CB_TEXTS, M(headers), VX_CTL_HEADERS_MAX, 0 },
	  .off_nr = M(nr_headers),
	  .item_max = VX_CTL_STR_MAX },
	/* 44-60 are the local API's (vx_api_msg.h) */
	{ .key = 61,
	  .bit = VX_CTL_F_FILTERED,
	  .f = { CB_TEXTS, M(filtered), VX_CTL_FILTERS_MAX, 0 },
	  .off_nr = M(nr_filtered),
	  .item_max = VX_CTL_ID_MAX },
	SCALAR(62, CB_TEXT, VX_CTL_F_REQUESTER, requester, VX_CTL_ADDR_MAX, 0),
	SCALAR(63, CB_U32, VX_CTL_F_ID_KIND, id_kind, VX_CTL_ID_PERSISTENT_CACHE, 0),
	SCALAR(64, CB_U64, VX_CTL_F_FIXED_PIECE, fixed_piece_len, 1ull << 32, 0),
	SCALAR(65, CB_BOOL, VX_CTL_F_PRIVATE, priv, 1, 0),
	SCALAR(66, CB_BOOL, VX_CTL_F_REQ_LOCAL, requester_local, 1, 0),
	ARRAY(67, CB_BYTES, VX_CTL_F_CSR, csr, csr_len, VX_CTL_CSR_MAX, NULL),
	ARRAY(68, CB_BYTES, VX_CTL_F_CERT, cert, cert_len, VX_CTL_CERT_MAX, NULL),
	ARRAY(69, CB_BYTES, VX_CTL_F_CA, ca, ca_len, VX_CTL_CERT_MAX, NULL),
	ARRAY(70, CB_BYTES, VX_CTL_F_CRL, crl, crl_len, VX_CTL_CRL_MAX, NULL),
	SCALAR(71, CB_U32, VX_CTL_F_REPLICAS, replicas, VX_CTL_REPLICAS_MAX, 0),
	SCALAR(72, CB_U64, VX_CTL_F_TTL, ttl_s, VX_CTL_TTL_MAX, 0),
	/* 73 is the local API's (input) */
	SCALAR(74, CB_U64, VX_CTL_F_TTL_LEFT, ttl_left_s, VX_CTL_TTL_MAX, 0),
	/* 75 is the local API's (holders) */
	SCALAR(76, CB_U64, VX_CTL_F_RATE, rate_bps, VX_CTL_RATE_MAX, 0),
	SCALAR(77, CB_TEXT, VX_CTL_F_CONTENT, content, VX_CTL_CONTENT_MAX, 0),
	/* 78-79 left for the control plane's own keys */
	SCALAR(80, CB_U64, VX_CTL_F_CFG_VERSION, cfg_version, UINT64_MAX >> 1, 0),
	ARRAY(81, CB_BYTES, VX_CTL_F_CFG_DOC, cfg_doc, cfg_doc_len, VX_CTL_CFG_DOC_MAX, NULL),
	SCALAR(82, CB_TEXT, VX_CTL_F_CFG_SHA, cfg_sha, VX_CTL_CFG_SHA_LEN, 0),
	SCALAR(89, CB_TEXT, VX_CTL_F_TENANT, tenant, VX_CTL_TENANT_MAX, 0),
	SCALAR(90, CB_TEXT, VX_CTL_F_REQUEST_ID, request_id, VX_REQUEST_ID_MAX, 0),
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
	[VX_CTL_JOIN] = VX_CTL_F_TOKEN | VX_CTL_F_HOST_ID | VX_CTL_F_HOST_KEY | VX_CTL_F_CSR,
	[VX_CTL_RENEW] = VX_CTL_F_HOST_ID | VX_CTL_F_HOST_KEY | VX_CTL_F_CSR,
	[VX_CTL_CRL] = VX_CTL_F_HOST_ID | VX_CTL_F_HOST_KEY,
	[VX_CTL_CACHE_IMPORT] = VX_CTL_F_TASK_ID | VX_CTL_F_CONTENT_LEN | VX_CTL_F_PIECE_LEN |
				VX_CTL_F_DIGESTS | VX_CTL_F_REPLICAS | VX_CTL_F_TTL,
	[VX_CTL_CACHE_STAT] = VX_CTL_F_TASK_ID,
	[VX_CTL_CACHE_DELETE] = VX_CTL_F_TASK_ID,
	[VX_CTL_CACHE_HELD] = VX_CTL_F_TASK_ID | VX_CTL_F_STATUS,
	[VX_CTL_CLUSTER_CONFIG] = 0,
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
	[VX_CTL_JOIN] = "join",
	[VX_CTL_RENEW] = "renew",
	[VX_CTL_CRL] = "crl",
	[VX_CTL_CACHE_IMPORT] = "cache-import",
	[VX_CTL_CACHE_STAT] = "cache-stat",
	[VX_CTL_CACHE_DELETE] = "cache-delete",
	[VX_CTL_CACHE_HELD] = "cache-held",
	[VX_CTL_CLUSTER_CONFIG] = "cluster-config",
};

/* 13, 14, 19 and 22 are the local API's types: never on the scheduler's channel */
static bool ctl_type_ok(uint8_t tag, uint32_t type)
{
	(void)tag;
	return type != 13 && type != 14 && type != 19 && type != 22;
}

static const struct cb_schema ctl_schema = {
	.keys = ctl_keys,
	.nr_keys = VX_ARRAY_SIZE(ctl_keys),
	.required = ctl_required,
	.type_nr = VX_CTL_TYPE_NR,
	.event_type = VX_CTL_EVENT,
	.status_bit = VX_CTL_F_STATUS,
	.type_ok = ctl_type_ok,
	CB_SCHEMA_HEADER(struct vx_ctl_msg),
};

_Static_assert(sizeof(enum vx_ctl_type) == sizeof(uint32_t), "type is read as a u32");

const char *vx_ctl_type_name(enum vx_ctl_type type)
{
	if ((unsigned)type >= VX_CTL_TYPE_NR || !ctl_type_names[type])
		return "unknown";
	return ctl_type_names[type];
}

ssize_t vx_ctl_msg_encode(const struct vx_ctl_msg *m, uint8_t *buf, size_t cap)
{
	return vx__cb_encode(&ctl_schema, m, buf, cap);
}

int vx_ctl_msg_decode(uint8_t tag, const uint8_t *val, size_t len, struct vx_ctl_msg *out)
{
	return vx__cb_decode(&ctl_schema, tag, val, len, out);
}

void vx_ctl_msg_release(struct vx_ctl_msg *m)
{
	if (m)
		vx__cb_release(&ctl_schema, m);
}
