/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_ctl_msg.h: the scheduler protocol, the messages between peers and `vx scheduler`. A
 * message travels in one Vortex control frame (vx_frame.h, tags VX_TAG_CONTROL_*); the value is
 * one CBOR map with small integer keys (vx_ctl_cbor.h). spec/control.md describes every message
 * and key. The local API's messages are vx_api_msg.h.
 *
 * The codec is pure (no I/O). Decoding walks the CBOR with libcbor's streaming decoder one
 * item at a time under hard limits (frame size, nesting depth, counts, string lengths) before
 * anything is allocated; definite lengths only. Strings and byte strings of a decoded message
 * are borrowed from the input buffer; arrays are owned by the message and freed by
 * vx_ctl_msg_release().
 */
#ifndef VX_CTL_MSG_H
#define VX_CTL_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_compiler.h"
#include "vx_ctl_cbor.h"

#define VX_CTL_BITMAP_MAX  (128u << 10) /* bytes of one progress bitmap (1 Mi pieces) */
#define VX_CTL_DIGESTS_MAX 32768	/* digest entries in one message */
#define VX_CTL_DIGEST_MAX  64		/* bytes of one digest string */
#define VX_CTL_CANDS_MAX   64		/* candidate parents in one answer */
#define VX_CTL_COSTS_MAX   64		/* per-parent cost records in one progress */
#define VX_CTL_AVOID_MAX   64		/* parents to avoid in one reschedule */
#define VX_CTL_FILTERS_MAX 64		/* filtered query keys of one task id */
#define VX_CTL_HEADERS_MAX 32		/* origin request headers of one preheat event */
#define VX_CTL_RATE_MAX	   (1ull << 40) /* bytes/s of a preheat event's rate (1 TiB/s) */
#define VX_CTL_ADDR_MAX	   64		/* bytes of an IP literal (addr, requester) */
#define VX_CTL_TENANT_MAX  63		/* bytes of a tenant name (VX_TLS_TENANT_MAX) */
#define VX_CTL_CONTENT_MAX 255		/* bytes of a task's content (a blob's digest) */
#define VX_CTL_CSR_MAX	   4096		/* bytes of a PEM certificate request (join, renew) */
#define VX_CTL_CERT_MAX	   16384	/* bytes of a PEM certificate (cert, ca) */
#define VX_CTL_CRL_MAX	   (512u << 10) /* bytes of a PEM CRL */
#define VX_CTL_CFG_DOC_MAX (64u << 10)	/* bytes of the cluster configuration document (JSON) */
#define VX_CTL_CFG_SHA_LEN 64		/* hex digits of its sha256 */

enum vx_ctl_type {
	VX_CTL_HELLO = 1,
	VX_CTL_ANNOUNCE = 2,
	VX_CTL_REGISTER = 3,
	VX_CTL_PROGRESS = 4,
	VX_CTL_RESCHEDULE = 5,
	VX_CTL_MISMATCH = 6,
	VX_CTL_FINISHED = 7,
	VX_CTL_FAILED = 8,
	VX_CTL_LEAVE = 9,
	VX_CTL_STAT_TASK = 10,
	VX_CTL_DELETE_TASK = 11,
	VX_CTL_EVENT = 12,
	/* 13 and 14 are the local API's (vx_api_msg.h) */
	VX_CTL_JOIN = 15,  /* join token + host id + host key + CSR -> certificate, CA, CRL */
	VX_CTL_RENEW = 16, /* a host with a valid certificate: CSR -> a new certificate */
	VX_CTL_CRL = 17,   /* the CA's current CRL */
	/* persistent cache (spec/control.md section 14); 19 and 22 are the local API's */
	VX_CTL_CACHE_IMPORT = 18,   /* a host holds a full copy: geometry, digests, replicas, ttl */
	VX_CTL_CACHE_STAT = 20,	    /* holders, digests, geometry, replicas, ttl left */
	VX_CTL_CACHE_DELETE = 21,   /* the importer (or an admin): drop it on every holder */
	VX_CTL_CACHE_HELD = 23,	    /* a replica asked for ended: status 0 held, or why not */
	VX_CTL_CLUSTER_CONFIG = 24, /* the cluster configuration document (spec/control.md 15) */
	VX_CTL_TYPE_NR,
};

/* How the scheduler answers a REGISTER or RESCHEDULE (key answer). */
enum vx_ctl_answer {
	VX_CTL_ANS_PARENTS = 0,	       /* download from the candidate parents */
	VX_CTL_ANS_BACK_TO_SOURCE = 1, /* fetch from the origin; your digests become the manifest */
	VX_CTL_ANS_EMPTY = 2,	       /* content length is 0: nothing to fetch */
	VX_CTL_ANS_WAIT = 3,	       /* no parent yet and origin fan-out is used up: wait */
};

/* Server push events (key event, tag CONTROL_EVENT). */
enum vx_ctl_event {
	VX_CTL_EV_PARENTS = 1,	      /* new candidate parents for task */
	VX_CTL_EV_MANIFEST = 2,	      /* the trusted manifest of task grew (digests) */
	VX_CTL_EV_BACK_TO_SOURCE = 3, /* you now fetch task from the origin */
	VX_CTL_EV_TRIGGER = 4,	      /* (to a seed) register task with need_back_to_source */
	VX_CTL_EV_PREHEAT = 5,	      /* (manager) fetch url as task and keep it (preheat job) */
	VX_CTL_EV_EVICT = 6,	      /* (manager) remove task from your store (delete_task job) */
	VX_CTL_EV_REPLICATE = 7, /* fetch persistent cache task from cands; answer CACHE_HELD */
	VX_CTL_EV_PREHEAT_MEMORY = 8, /* (manager) preheat, then keep task in your memory tier */
	VX_CTL_EV_CLUSTER_CONFIG = 9, /* a new cluster configuration version (cfg_version) */
};

/* What a task id is derived from (key id_kind); only URL tasks may be fetched for others. */
enum vx_ctl_id_kind {
	VX_CTL_ID_URL = 0,     /* vx_task_id_from_url(): URL, tag, app, piece length, filters */
	VX_CTL_ID_CONTENT = 1, /* given content: no URL derives it */
	VX_CTL_ID_PERSISTENT_CACHE = 2, /* file bytes: no URL derives it */
};

enum vx_ctl_role {
	VX_CTL_ROLE_NORMAL = 0,
	VX_CTL_ROLE_SEED = 1,
};

/* One candidate parent (key cands). */
struct vx_ctl_cand {
	struct vx_ctl_str host_id;
	struct vx_ctl_str addr; /* IP literal the parent's Vortex server listens on */
	uint16_t port;		/* its Vortex TCP port */
	uint32_t pieces;	/* pieces it holds */
	bool complete;		/* holds every piece (finished or seed with a full copy) */
};

/* One trusted piece digest (key digests). */
struct vx_ctl_digest {
	uint32_t piece;
	struct vx_ctl_str digest; /* e.g. "crc32:2533597436" */
};

/* Measured cost of pieces fetched from one parent since the last progress (key costs). */
struct vx_ctl_cost {
	struct vx_ctl_str host_id;
	uint32_t pieces;
	uint64_t bytes;
	uint64_t cost_us; /* summed wall time of those piece transfers */
};

/* Presence bits of the optional fields (struct vx_ctl_msg.has), 64-bit. */
#define VX_CTL_F_STATUS	     (1ull << 0)
#define VX_CTL_F_ERROR	     (1ull << 1)
#define VX_CTL_F_HOST_ID     (1ull << 2)
#define VX_CTL_F_ADDR	     (1ull << 3)
#define VX_CTL_F_PORT	     (1ull << 4)
#define VX_CTL_F_IDC	     (1ull << 5)
#define VX_CTL_F_LOCATION    (1ull << 6)
#define VX_CTL_F_ROLE	     (1ull << 7)
#define VX_CTL_F_SLOTS	     (1ull << 8)
#define VX_CTL_F_BANDWIDTH   (1ull << 9)
#define VX_CTL_F_TOKEN	     (1ull << 10)
#define VX_CTL_F_UPLOADS     (1ull << 11)
#define VX_CTL_F_TX	     (1ull << 12)
#define VX_CTL_F_TASK_ID     (1ull << 13)
#define VX_CTL_F_URL	     (1ull << 14)
#define VX_CTL_F_PIECE_LEN   (1ull << 15)
#define VX_CTL_F_CONTENT_LEN (1ull << 16)
#define VX_CTL_F_TAG	     (1ull << 17)
#define VX_CTL_F_APP	     (1ull << 18)
#define VX_CTL_F_PRIORITY    (1ull << 19)
#define VX_CTL_F_NEED_BTS    (1ull << 20)
#define VX_CTL_F_ANSWER	     (1ull << 21)
#define VX_CTL_F_CANDS	     (1ull << 22)
#define VX_CTL_F_DIGESTS     (1ull << 23)
#define VX_CTL_F_PIECE_COUNT (1ull << 24)
#define VX_CTL_F_BITMAP	     (1ull << 25) /* bitmap and bitmap_base */
#define VX_CTL_F_COSTS	     (1ull << 26)
#define VX_CTL_F_AVOID	     (1ull << 27)
#define VX_CTL_F_PARENT	     (1ull << 28)
#define VX_CTL_F_PIECE	     (1ull << 29)
#define VX_CTL_F_EVENT	     (1ull << 30)
#define VX_CTL_F_STATE	     (1ull << 31)
#define VX_CTL_F_PEERS	     (1ull << 32)
#define VX_CTL_F_DONE_PEERS  (1ull << 33)
#define VX_CTL_F_INTERVAL    (1ull << 34)
#define VX_CTL_F_HOST_KEY    (1ull << 35)
#define VX_CTL_F_RATE	     (1ull << 40) /* key 76: preheat event: the task's origin rate */
#define VX_CTL_F_CONTENT     (1ull << 41) /* key 77: preheat event: what the id derives from */
#define VX_CTL_F_HEADERS     (1ull << 44) /* key 43: preheat event: origin request headers */
#define VX_CTL_F_PRIVATE     (1ull << 45)
#define VX_CTL_F_FILTERED    (1ull << 36) /* present: this list; absent: the default list */
#define VX_CTL_F_REQUESTER   (1ull << 37)
#define VX_CTL_F_ID_KIND     (1ull << 38)
#define VX_CTL_F_FIXED_PIECE (1ull << 39)
#define VX_CTL_F_REQ_LOCAL   (1ull << 46) /* trigger: the requester is on the seed's host */
#define VX_CTL_F_CSR	     (1ull << 47) /* join, renew: PEM certificate request */
#define VX_CTL_F_CERT	     (1ull << 48) /* join, renew answer: the issued certificate, PEM */
#define VX_CTL_F_CA	     (1ull << 49) /* join, renew answer: the CA certificate, PEM */
#define VX_CTL_F_CRL	     (1ull << 50) /* join, renew, crl answer: the CA's CRL, PEM */
#define VX_CTL_F_REQUEST_ID  (1ull << 51) /* key 90: the client's request id (logs only) */
#define VX_CTL_F_REPLICAS    (1ull << 52) /* key 71: persistent cache replicas wanted */
#define VX_CTL_F_TTL	     (1ull << 53) /* key 72: persistent cache time to live, s */
#define VX_CTL_F_TTL_LEFT    (1ull << 54) /* key 74: persistent cache seconds left */
#define VX_CTL_F_CFG_VERSION (1ull << 58) /* key 80: cluster configuration version */
#define VX_CTL_F_CFG_DOC     (1ull << 59) /* key 81: the cluster configuration document */
#define VX_CTL_F_CFG_SHA     (1ull << 60) /* key 82: its sha256, hex */
#define VX_CTL_F_TENANT	     (1ull << 63) /* key 89: to a seed: the task's tenant */

/*
 * One control message. A zeroed struct is a valid empty message; fill type, rid and the fields
 * you set, marking each in has. Pointers are borrowed by the encoder; after decoding, strings
 * and bitmap point into the decoded buffer (lent until that buffer is reused) and the arrays are
 * owned by the message (vx_ctl_msg_release()).
 */
struct vx_ctl_msg {
	uint8_t tag;	       /* frame tag: VX_TAG_CONTROL_* */
	enum vx_ctl_type type; /* message type */
	uint64_t rid;	       /* request id; a response echoes it; events use 0 */
	uint32_t version;      /* protocol version of the sender */
	uint64_t has;	       /* enum vx_ctl_field bits */

	int64_t status;		 /* response: 0 or a negative error (vx_err.h) */
	struct vx_ctl_str error; /* response: human text for status */

	struct vx_ctl_str host_id;  /* "{ip}-{hostname}" (-seed suffix for seeds) */
	struct vx_ctl_str addr;	    /* IP literal of the host's Vortex server */
	uint16_t port;		    /* Vortex TCP port */
	struct vx_ctl_str idc;	    /* data centre name */
	struct vx_ctl_str location; /* "country|province|city|zone|cluster" */
	uint32_t role;		    /* enum vx_ctl_role */
	uint32_t slots;		    /* upload slots (concurrent uploads allowed) */
	uint64_t bandwidth_bps;	    /* declared max upload bandwidth, bits per second */
	struct vx_ctl_str token;    /* join token of the host's role (hello only) */
	struct vx_ctl_str host_key; /* the host's secret key, bound to host_id (hello only) */
	uint32_t uploads;	    /* announce: uploads running now */
	uint64_t tx_bps;	    /* announce: measured upload rate, bits per second */

	struct vx_ctl_str task_id; /* 64 lowercase hex */
	struct vx_ctl_str url;
	uint64_t piece_len;   /* bytes */
	int64_t content_len;  /* bytes, -1 unknown */
	struct vx_ctl_str tg; /* task tag */
	struct vx_ctl_str app;
	struct vx_ctl_str request_id; /* register: the request that started the task */
	uint32_t priority;
	bool need_bts;
	bool priv; /* the task was fetched with credentials: prove access before serving it */
	/* what the task id is derived from, besides url, tg and app (spec/control.md) */
	struct vx_ctl_str *filtered; /* query keys left out of the id */
	uint32_t nr_filtered;
	/* preheat event: "Name: value" lines for the origin (registry credentials): secret */
	struct vx_ctl_str *headers;
	uint32_t nr_headers;
	/* preheat event: bytes/s the host may fetch the task from its origin at (its share of the
	 * control plane's preheat rate); sent again when the share changes */
	uint64_t rate_bps;
	uint32_t id_kind;	     /* enum vx_ctl_id_kind */
	uint64_t fixed_piece_len;    /* user-fixed piece length (part of the id); 0 none */
	struct vx_ctl_str requester; /* trigger: IP literal of the host that asked */
	bool requester_local;	     /* trigger: the scheduler saw it on the seed's host */
	/* to a seed without a tenant (answers, events): the tenant of the task, "" public; the
	 * seed serves the task's pieces to that tenant's hosts only (spec/peer.md "TLS") */
	struct vx_ctl_str tenant;
	/* preheat event of a content task (a registry blob): the content its id derives from,
	 * vx_task_id_from_content() (the blob's digest, which the fetch then checks) */
	struct vx_ctl_str content;

	/* cluster identity (spec/control.md section 11); PEM bytes, borrowed */
	const uint8_t *csr; /* join, renew: the request (only its public key is used) */
	uint32_t csr_len;
	const uint8_t *cert; /* answer: the certificate issued */
	uint32_t cert_len;
	const uint8_t *ca; /* answer: the CA certificate */
	uint32_t ca_len;
	const uint8_t *crl; /* answer: the current CRL */
	uint32_t crl_len;
	/* cluster configuration (spec/control.md section 15) */
	uint64_t cfg_version;	/* hello answer, event 9, cluster-config answer */
	const uint8_t *cfg_doc; /* cluster-config answer: the JSON document, borrowed */
	uint32_t cfg_doc_len;
	struct vx_ctl_str cfg_sha; /* cluster-config answer: sha256 of cfg_doc, hex */

	uint32_t answer; /* enum vx_ctl_answer */
	struct vx_ctl_cand *cands;
	uint32_t nr_cands;
	struct vx_ctl_digest *digests;
	uint32_t nr_digests;
	uint32_t piece_count;

	uint32_t bitmap_base;  /* piece number of bit 0 (MSB of byte 0) */
	const uint8_t *bitmap; /* finished pieces, MSB first */
	uint32_t bitmap_len;   /* bytes */
	struct vx_ctl_cost *costs;
	uint32_t nr_costs;
	struct vx_ctl_str *avoid; /* host ids of parents to avoid */
	uint32_t nr_avoid;
	struct vx_ctl_str parent; /* mismatch: the parent that sent the bad piece */
	uint32_t piece;		  /* mismatch: its piece number */

	uint32_t event;	     /* enum vx_ctl_event */
	uint32_t state;	     /* stat: task state (enum vx_sched_task_state) */
	uint32_t peers;	     /* stat: peers of the task */
	uint32_t done_peers; /* stat: peers holding a full copy */
	uint32_t interval_ms;

	/* persistent cache */
	uint32_t replicas;   /* copies wanted in the cluster */
	uint64_t ttl_s;	     /* time to live from the import */
	uint64_t ttl_left_s; /* stat: until every holder drops it */

	bool owns_arrays; /* set by the decoder: release frees the arrays */
};

/*
 * vx_ctl_msg_encode() - encode @m (borrowed) as one complete frame with tag @m->tag into @buf
 * (@cap bytes). Returns the frame length, -EMSGSIZE when it does not fit in @cap or exceeds
 * VX_CTL_FRAME_MAX, -EINVAL when @m breaks a limit (type, counts, string lengths) or lacks a
 * field its type requires. Nothing is allocated.
 */
VX_MUST_CHECK ssize_t vx_ctl_msg_encode(const struct vx_ctl_msg *m, uint8_t *buf, size_t cap);

/*
 * vx_ctl_msg_decode() - decode the value of one frame (@val, @len bytes, lent to @out until the
 * caller reuses it) with frame tag @tag into @out, which is overwritten. Returns 0, -EPROTO for
 * malformed CBOR, a depth/count/length over the limits or trailing bytes, VX_ECBOR for
 * well-formed CBOR of the wrong shape (missing required key, wrong type, unknown message type),
 * -ENOMEM. On failure nothing is left allocated and @out is zeroed.
 */
VX_MUST_CHECK int vx_ctl_msg_decode(uint8_t tag, const uint8_t *val, size_t len,
				    struct vx_ctl_msg *out);

/* Frees the arrays a decoded @m owns and zeroes it; for encoder-filled messages only zeroes. */
void vx_ctl_msg_release(struct vx_ctl_msg *m);

/* A static name for @type ("register"), "unknown" otherwise. */
const char *vx_ctl_type_name(enum vx_ctl_type type);

#endif /* VX_CTL_MSG_H */
