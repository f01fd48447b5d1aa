/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_msg.c: the local API's tables for the CBOR-map codec (ctl_cbor.c): every key, its kind,
 * its limit and where it lives in struct vx_api_msg, and the keys each type must carry.
 * spec/api.md has the same tables.
 */
#include "vx_log.h" /* VX_REQUEST_ID_MAX */
#include "vx_api_msg.h"

#include <stddef.h>

#include "ctl_cbor_int.h"
#include "vx_compiler.h"
#include "vx_ctl_msg.h"
#include "vx_download.h"
#include "vx_task_id.h"

#define M(field) offsetof(struct vx_api_msg, field)
#define SCALAR(k, kind, b, field, max, min_neg)                                    \
	{                                                                          \
		.key = (k), .bit = (b), .f = {(kind), M(field), (max), (min_neg) } \
	}
#define TEXTS(k, b, field, nr, max, item)                                                       \
	{                                                                                       \
		.key = (k), .bit = (b), .f = { CB_TEXTS, M(field), (max), 0 }, .off_nr = M(nr), \
		.item_max = (item)                                                              \
	}

#define TASK(field) offsetof(struct vx_download_task, field)
static const struct cb_field task_fields[] = {
	{ CB_ID_BUF, TASK(task_id), VX_TASK_ID_LEN, 0 },
	{ CB_CSTR, TASK(url), VX_CTL_STR_MAX, 0 },
	{ CB_U32, TASK(state), VX_API_STATE_MAX, 0 },
	{ CB_I64, TASK(content_length), VX_API_COUNTER_MAX, 1 },
	{ CB_U32, TASK(piece_count), VX_API_PIECES_MAX, 0 },
	{ CB_U32, TASK(pieces_done), VX_API_PIECES_MAX, 0 },
};
static const struct cb_tuple task_tuple = { task_fields, 6, sizeof(struct vx_download_task) };

/* Every key after the three header keys; the numbers are shared with spec/control.md. */
static const struct cb_key api_keys[] = {
	SCALAR(3, CB_I64, VX_API_F_STATUS, status, 0, -VX_CTL_STATUS_MIN),
	SCALAR(4, CB_TEXT, VX_API_F_ERROR, error, VX_CTL_ERROR_MAX, 0),
	SCALAR(20, CB_TASK_ID, VX_API_F_TASK_ID, task_id, VX_TASK_ID_LEN, 0),
	SCALAR(21, CB_TEXT, VX_API_F_URL, url, VX_CTL_STR_MAX, 0),
	SCALAR(22, CB_U64, VX_API_F_PIECE_LEN, piece_len, 1ull << 32, 0),
	SCALAR(23, CB_I64, VX_API_F_CONTENT_LEN, content_len, VX_API_COUNTER_MAX, 1),
	SCALAR(24, CB_TEXT, VX_API_F_TAG, tg, VX_CTL_ID_MAX, 0),
	SCALAR(25, CB_TEXT, VX_API_F_APP, app, VX_CTL_ID_MAX, 0),
	SCALAR(26, CB_U32, VX_API_F_PRIORITY, priority, 6, 0),
	SCALAR(31, CB_U32, VX_API_F_PIECE_COUNT, piece_count, VX_API_PIECES_MAX, 0),
	SCALAR(38, CB_U32, VX_API_F_EVENT, event, VX_API_EV_PROGRESS, 0),
	SCALAR(39, CB_U32, VX_API_F_STATE, state, VX_API_STATE_MAX, 0),
	TEXTS(43, VX_API_F_HEADERS, headers, nr_headers, VX_API_HEADERS_MAX, VX_CTL_STR_MAX),
	SCALAR(44, CB_TEXT, VX_API_F_OUTPUT, output, VX_API_OUTPUT_MAX, 0),
	SCALAR(45, CB_TEXT, VX_API_F_DIGEST, digest, VX_API_SUM_MAX, 0),
	TEXTS(46, VX_API_F_FILTERED, filtered, nr_filtered, VX_API_FILTERS_MAX, VX_CTL_ID_MAX),
	SCALAR(47, CB_U32, VX_API_F_TIMEOUT, timeout_ms, 2592000000u, 0),
	SCALAR(48, CB_BOOL, VX_API_F_OVERWRITE, overwrite, 1, 0),
	SCALAR(49, CB_BOOL, VX_API_F_DISABLE_BTS, disable_bts, 1, 0),
	SCALAR(50, CB_U32, VX_API_F_STAGE, stage, VX_API_STAGE_MAX, 0),
	SCALAR(51, CB_U32, VX_API_F_SRC_STATUS, source_status, VX_API_SRC_STATUS_MAX, 0),
	SCALAR(52, CB_U32, VX_API_F_PIECES_DONE, pieces_done, VX_API_PIECES_MAX, 0),
	SCALAR(53, CB_U64, VX_API_F_BYTES_DONE, bytes_done, VX_API_COUNTER_MAX, 0),
	SCALAR(54, CB_U64, VX_API_F_FROM_PEERS, from_peers, VX_API_COUNTER_MAX, 0),
	SCALAR(55, CB_U64, VX_API_F_FROM_SOURCE, from_source, VX_API_COUNTER_MAX, 0),
	SCALAR(56, CB_U64, VX_API_F_REUSED, reused, VX_API_COUNTER_MAX, 0),
	SCALAR(57, CB_U64, VX_API_F_CONTIGUOUS, contiguous, VX_API_COUNTER_MAX, 0),
	SCALAR(58, CB_U64, VX_API_F_ELAPSED, elapsed_ms, VX_API_COUNTER_MAX, 0),
	{ .key = 59,
	  .bit = VX_API_F_TASKS,
	  .f = { CB_TUPLES, M(tasks), VX_API_TASKS_MAX, 0 },
	  .off_nr = M(nr_tasks),
	  .tuple = &task_tuple },
	SCALAR(60, CB_BOOL, VX_API_F_MORE, more, 1, 0),
	SCALAR(71, CB_U32, VX_API_F_REPLICAS, replicas, VX_API_REPLICAS_MAX, 0),
	SCALAR(72, CB_U64, VX_API_F_TTL, ttl_s, VX_API_TTL_MAX, 0),
	SCALAR(73, CB_TEXT, VX_API_F_INPUT, input, VX_API_OUTPUT_MAX, 0),
	SCALAR(74, CB_U64, VX_API_F_TTL_LEFT, ttl_left_s, VX_API_TTL_MAX, 0),
	SCALAR(75, CB_U32, VX_API_F_HOLDERS, holders, VX_API_REPLICAS_MAX * 16, 0),
	SCALAR(76, CB_BOOL, VX_API_F_MEMORY, memory, 1, 0),
	SCALAR(90, CB_TEXT, VX_API_F_REQUEST_ID, request_id, VX_REQUEST_ID_MAX, 0),
};

/* Keys a request (or event) of each type must carry; responses need only status. */
static const uint64_t api_required[VX_API_TYPE_NR] = {
	[VX_API_STAT_TASK] = VX_API_F_TASK_ID,
	[VX_API_DELETE_TASK] = VX_API_F_TASK_ID,
	[VX_API_EVENT] = VX_API_F_EVENT | VX_API_F_TASK_ID,
	[VX_API_DOWNLOAD] = VX_API_F_URL,
	[VX_API_CACHE_IMPORT] = VX_API_F_INPUT,
	[VX_API_CACHE_EXPORT] = VX_API_F_TASK_ID | VX_API_F_OUTPUT,
	[VX_API_CACHE_STAT] = VX_API_F_TASK_ID,
	[VX_API_CACHE_DELETE] = VX_API_F_TASK_ID,
};

static const char *const api_type_names[VX_API_TYPE_NR] = {
	[VX_API_REFUSE] = "refuse",
	[VX_API_STAT_TASK] = "stat-task",
	[VX_API_DELETE_TASK] = "delete-task",
	[VX_API_EVENT] = "event",
	[VX_API_DOWNLOAD] = "download",
	[VX_API_TASK_LIST] = "task-list",
	[VX_API_CACHE_IMPORT] = "cache-import",
	[VX_API_CACHE_EXPORT] = "cache-export",
	[VX_API_CACHE_STAT] = "cache-stat",
	[VX_API_CACHE_DELETE] = "cache-delete",
	[VX_API_CACHE_LIST] = "cache-list",
};

/*
 * Any type number of the shared space decodes, so the server can answer a scheduler request
 * sent to the wrong socket with -EOPNOTSUPP instead of dropping the connection.
 */
static const struct cb_schema api_schema = {
	.keys = api_keys,
	.nr_keys = VX_ARRAY_SIZE(api_keys),
	.required = api_required,
	.type_nr = VX_API_TYPE_NR,
	.event_type = VX_API_EVENT,
	.status_bit = VX_API_F_STATUS,
	CB_SCHEMA_HEADER(struct vx_api_msg),
};

_Static_assert(sizeof(enum vx_api_type) == sizeof(uint32_t), "type is read as a u32");
_Static_assert(VX_DOWNLOAD_TASK_ID_LEN == VX_TASK_ID_LEN, "one task-id length");
_Static_assert(VX_DOWNLOAD_URL_MAX == VX_CTL_STR_MAX, "a URL is one text string");
_Static_assert(VX_DOWNLOAD_HEADERS_MAX == VX_API_HEADERS_MAX, "header count limit");
_Static_assert(VX_DOWNLOAD_FILTERS_MAX == VX_API_FILTERS_MAX, "filtered key count limit");
_Static_assert(VX_CTL_FILTERS_MAX == VX_API_FILTERS_MAX, "a download's filters fit a register");
_Static_assert(VX_DOWNLOAD_MSG_MAX <= VX_CTL_ERROR_MAX, "a result text fits the error key");
_Static_assert(VX_DOWNLOAD_STAGE_PEERS <= VX_API_STAGE_MAX, "every stage fits the stage key");
_Static_assert(sizeof(enum vx_download_task_state) == sizeof(uint32_t), "state is read as a u32");
_Static_assert(VX_DOWNLOAD_TASK_FAILED <= VX_API_STATE_MAX, "every task state fits the state key");

const char *vx_api_type_name(uint32_t type)
{
	if (type >= VX_API_TYPE_NR || !api_type_names[type])
		return "unknown";
	return api_type_names[type];
}

ssize_t vx_api_msg_encode(const struct vx_api_msg *m, uint8_t *buf, size_t cap)
{
	return vx__cb_encode(&api_schema, m, buf, cap);
}

int vx_api_msg_decode(uint8_t tag, const uint8_t *val, size_t len, struct vx_api_msg *out)
{
	return vx__cb_decode(&api_schema, tag, val, len, out);
}

void vx_api_msg_release(struct vx_api_msg *m)
{
	if (m)
		vx__cb_release(&api_schema, m);
}
