/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_api_msg.h: the local API protocol, the messages between a local client (libvx, `vx get
 * --socket`) and `vx serve` on its unix socket. A message travels in one Vortex control frame
 * (vx_frame.h, tags VX_TAG_CONTROL_*); the value is one CBOR map with small integer keys
 * (vx_ctl_cbor.h). Keys the scheduler protocol also has (task_id 20, url 21 ...) keep its numbers
 * and meaning. spec/api.md describes every message and key.
 *
 * The codec is pure (no I/O), decodes under the same limits as vx_ctl_msg.h, borrows strings
 * from the input buffer and owns its arrays (vx_api_msg_release()).
 */
#ifndef VX_API_MSG_H
#define VX_API_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_compiler.h"
#include "vx_ctl_cbor.h"
#include "vx_download.h"

#define VX_API_HEADERS_MAX    64	   /* request headers of one download */
#define VX_API_FILTERS_MAX    64	   /* filtered query keys of one download */
#define VX_API_OUTPUT_MAX     4096	   /* bytes of an output path */
#define VX_API_SUM_MAX	      135	   /* bytes of a user digest: "sha512:" + 128 hex */
#define VX_API_TASKS_MAX      4096	   /* tasks in one task-list answer */
#define VX_API_STAGE_MAX      16	   /* largest stage value on the wire */
#define VX_API_STATE_MAX      16	   /* largest task state value on the wire */
#define VX_API_COUNTER_MAX    (1ull << 50) /* byte counters and lengths */
#define VX_API_PIECES_MAX     (1u << 20)   /* piece counts */
#define VX_API_SRC_STATUS_MAX 999	   /* origin protocol status */
#define VX_API_REPLICAS_MAX   VX_CTL_REPLICAS_MAX
#define VX_API_TTL_MAX	      VX_CTL_TTL_MAX

enum vx_api_type {
	VX_API_REFUSE = 1, /* a rid-0 answer about the connection itself (refused client) */
	VX_API_STAT_TASK = 10,
	VX_API_DELETE_TASK = 11,
	VX_API_EVENT = 12,
	VX_API_DOWNLOAD = 13,
	VX_API_TASK_LIST = 14,
	/* 15-17 are the control plane's (join, renew, crl) */
	VX_API_CACHE_IMPORT = 18, /* put a local file into the store as a persistent cache task */
	VX_API_CACHE_EXPORT = 19, /* put a persistent cache task at an output path */
	VX_API_CACHE_STAT = 20,	  /* size, replicas, holders and TTL left of one */
	VX_API_CACHE_DELETE = 21, /* remove one here (and everywhere, through the scheduler) */
	VX_API_CACHE_LIST = 22,	  /* the persistent cache tasks this daemon holds */
	VX_API_TYPE_NR,
};

/* Events of the local API (key event, tag CONTROL_EVENT, rid of the download). */
enum vx_api_event {
	VX_API_EV_PROGRESS = 5, /* counters of a download */
};

/* Presence bits of the optional fields (struct vx_api_msg.has). */
#define VX_API_F_STATUS	     (1ull << 0)
#define VX_API_F_ERROR	     (1ull << 1)
#define VX_API_F_TASK_ID     (1ull << 2)
#define VX_API_F_URL	     (1ull << 3)
#define VX_API_F_PIECE_LEN   (1ull << 4)
#define VX_API_F_CONTENT_LEN (1ull << 5)
#define VX_API_F_TAG	     (1ull << 6)
#define VX_API_F_APP	     (1ull << 7)
#define VX_API_F_PRIORITY    (1ull << 8)
#define VX_API_F_PIECE_COUNT (1ull << 9)
#define VX_API_F_EVENT	     (1ull << 10)
#define VX_API_F_STATE	     (1ull << 11)
#define VX_API_F_HEADERS     (1ull << 12)
#define VX_API_F_OUTPUT	     (1ull << 13)
#define VX_API_F_DIGEST	     (1ull << 14)
#define VX_API_F_FILTERED    (1ull << 15)
#define VX_API_F_TIMEOUT     (1ull << 16)
#define VX_API_F_OVERWRITE   (1ull << 17)
#define VX_API_F_DISABLE_BTS (1ull << 18)
#define VX_API_F_STAGE	     (1ull << 19)
#define VX_API_F_SRC_STATUS  (1ull << 20)
#define VX_API_F_PIECES_DONE (1ull << 21)
#define VX_API_F_BYTES_DONE  (1ull << 22)
#define VX_API_F_FROM_PEERS  (1ull << 23)
#define VX_API_F_FROM_SOURCE (1ull << 24)
#define VX_API_F_REUSED	     (1ull << 25)
#define VX_API_F_CONTIGUOUS  (1ull << 26)
#define VX_API_F_ELAPSED     (1ull << 27)
#define VX_API_F_TASKS	     (1ull << 28)
#define VX_API_F_MORE	     (1ull << 29)
#define VX_API_F_REQUEST_ID  (1ull << 30) /* key 90: joins the client's log lines to ours */
#define VX_API_F_REPLICAS    (1ull << 31) /* key 71: persistent cache replicas wanted */
#define VX_API_F_TTL	     (1ull << 32) /* key 72: persistent cache TTL, seconds */
#define VX_API_F_INPUT	     (1ull << 33) /* key 73: cache import: absolute path of the file */
#define VX_API_F_TTL_LEFT    (1ull << 34) /* key 74: cache stat: seconds until it expires */
#define VX_API_F_HOLDERS     (1ull << 35) /* key 75: cache stat: hosts holding a full copy */
#define VX_API_F_MEMORY	     (1ull << 36) /* key 76: keep the task in the memory tier */
/* The counters a progress event and a download answer carry. */
#define VX_API_F_COUNTERS                                                                     \
	(VX_API_F_CONTENT_LEN | VX_API_F_PIECE_COUNT | VX_API_F_PIECES_DONE |                 \
	 VX_API_F_BYTES_DONE | VX_API_F_FROM_PEERS | VX_API_F_FROM_SOURCE | VX_API_F_REUSED | \
	 VX_API_F_CONTIGUOUS | VX_API_F_ELAPSED)

/*
 * One local-API message. A zeroed struct is a valid empty message; fill tag, type, rid and the
 * fields you set, marking each in has. Pointers are borrowed by the encoder; after decoding,
 * strings point into the decoded buffer and the arrays are owned by the message.
 */
struct vx_api_msg {
	uint8_t tag;	       /* frame tag: VX_TAG_CONTROL_* */
	enum vx_api_type type; /* message type */
	uint64_t rid;	       /* request id; answers and progress events echo it */
	uint32_t version;      /* protocol version of the sender */
	uint64_t has;	       /* VX_API_F_* bits */

	int64_t status;		 /* response: 0 or a negative error (vx_err.h) */
	struct vx_ctl_str error; /* response: human text for status */

	/* download request */
	struct vx_ctl_str url;
	struct vx_ctl_str *headers; /* "Name: value" */
	uint32_t nr_headers;
	struct vx_ctl_str output; /* absolute path; absent: stream mode */
	struct vx_ctl_str digest; /* the user's expected digest of the whole content */
	struct vx_ctl_str tg;	  /* task tag */
	struct vx_ctl_str app;
	struct vx_ctl_str request_id; /* 1..VX_REQUEST_ID_MAX of [A-Za-z0-9_-] */
	uint64_t piece_len;	      /* bytes */
	struct vx_ctl_str *filtered;  /* query keys left out of the task id */
	uint32_t nr_filtered;
	uint32_t timeout_ms;
	bool overwrite;
	bool disable_bts;
	bool memory; /* keep the task in the daemon's memory tier */
	uint32_t priority;

	/* download answer and progress event; stat answer */
	struct vx_ctl_str task_id; /* 64 lowercase hex */
	uint32_t event;		   /* enum vx_api_event */
	uint32_t stage;
	uint32_t source_status;
	int64_t content_len; /* bytes, -1 unknown */
	uint32_t piece_count;
	uint32_t pieces_done;
	uint64_t bytes_done;
	uint64_t from_peers;
	uint64_t from_source;
	uint64_t reused;
	uint64_t contiguous; /* bytes of the finished prefix */
	uint64_t elapsed_ms;
	uint32_t state; /* stat: task state (enum vx_download_task_state) */

	/*
	 * task-list answer (key tasks). After decoding, each url points to a NUL-terminated copy
	 * the message owns with the array ("" when the sender had none).
	 */
	struct vx_download_task *tasks;
	uint32_t nr_tasks;
	bool more; /* the daemon has more tasks than this answer holds */

	/* persistent cache (vx cache) */
	struct vx_ctl_str input; /* import: absolute path of the file */
	uint32_t replicas;	 /* import: replicas wanted; stat: the same */
	uint64_t ttl_s;		 /* import: time to live */
	uint64_t ttl_left_s;	 /* stat */
	uint32_t holders;	 /* stat */

	bool owns_arrays; /* set by the decoder: release frees the arrays */
};

/* As vx_ctl_msg_encode(), for the local API. */
VX_MUST_CHECK ssize_t vx_api_msg_encode(const struct vx_api_msg *m, uint8_t *buf, size_t cap);

/* As vx_ctl_msg_decode(), for the local API. */
VX_MUST_CHECK int vx_api_msg_decode(uint8_t tag, const uint8_t *val, size_t len,
				    struct vx_api_msg *out);

/* Frees the arrays a decoded @m owns and zeroes it; for encoder-filled messages only zeroes. */
void vx_api_msg_release(struct vx_api_msg *m);

/* A static name for @type ("download"), "unknown" otherwise. */
const char *vx_api_type_name(uint32_t type);

#endif /* VX_API_MSG_H */
