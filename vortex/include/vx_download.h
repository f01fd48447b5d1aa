/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_download.h: the one set of download types, used end to end: a libvx client fills a
 * request, the local API carries it (vx_api_msg.h), the API server hands it to the daemon, the
 * peer runs it, and progress and the result travel back the same way in the same types. The
 * stage numbers are the wire values of the local API's stage key (spec/api.md section 5).
 *
 * Plain types, no functions, no other vx header: libvx installs this header beside
 * vx_client.h.
 */
#ifndef VX_DOWNLOAD_H
#define VX_DOWNLOAD_H

#include <stdbool.h>
#include <stdint.h>

#define VX_DOWNLOAD_TASK_ID_LEN 64   /* lowercase hex characters of a task id (VX_TASK_ID_LEN) */
#define VX_DOWNLOAD_URL_MAX	8192 /* bytes of a URL, without the NUL */
#define VX_DOWNLOAD_MSG_MAX	768  /* bytes of a failure text, with the NUL */
#define VX_DOWNLOAD_HEADERS_MAX 64   /* request headers of one download */
#define VX_DOWNLOAD_FILTERS_MAX 64   /* filtered query keys of one download */
#define VX_DOWNLOAD_GROUPS_MAX	64   /* supplementary groups of a client the daemon acts as */

/* Where a download stands or stopped. */
enum vx_download_stage {
	VX_DOWNLOAD_STAGE_REQUEST = 0, /* checking the request: URL, digest, options */
	VX_DOWNLOAD_STAGE_OUTPUT = 1,  /* checking the output path before any download */
	VX_DOWNLOAD_STAGE_SOURCE = 2,  /* stat or reads of the origin */
	VX_DOWNLOAD_STAGE_STORE = 3,   /* opening the task or writing pieces */
	VX_DOWNLOAD_STAGE_DIGEST = 4,  /* checking the whole-content digest */
	VX_DOWNLOAD_STAGE_EXPORT = 5,  /* putting the content at the output path */
	VX_DOWNLOAD_STAGE_DONE = 6,    /* finished */
	VX_DOWNLOAD_STAGE_PEERS = 7,   /* no peer had it and the source may not be used */
};

/*
 * One download request. Pointers are borrowed by whoever receives the struct, for the call.
 * Zero/NULL fields are "not set".
 */
struct vx_download_request {
	const char *url;	    /* required, at most VX_DOWNLOAD_URL_MAX bytes */
	const char *const *headers; /* "Name: value" strings for the origin */
	uint32_t nr_headers;	    /* <= VX_DOWNLOAD_HEADERS_MAX */
	const char *output;	    /* absolute path of the result; NULL: stream mode */
	const char *digest;	    /* "sha256:<hex>", "sha512:<hex>" or "crc32:<dec>" */
	const char *tag;	    /* task tag (part of the task id) */
	const char *application;    /* application name (part of the task id) */
	/*
	 * Known inside the daemon only (the local API does not carry it): when set, the task id
	 * is vx_task_id_from_content() of this text instead of the URL's, e.g. the registry
	 * mirror's "sha256:<hex>" of a blob, so one blob under several names is one task.
	 */
	const char *task_id_content;
	/*
	 * Known inside the daemon only: the operator declared this content public (the registry
	 * mirror's proxy.public_repositories). Credentials on the request do not make the task
	 * private, and the job reads a private task without an access proof.
	 */
	bool public_content;
	/* joins log lines of client, daemon and scheduler; NULL or 1..32 of [A-Za-z0-9_-] */
	const char *request_id;
	uint64_t piece_length;		    /* bytes; 0: the daemon's rule (Dragonfly's) */
	const char *const *filtered_params; /* query keys left out of the task id */
	uint32_t nr_filtered_params;	    /* <= VX_DOWNLOAD_FILTERS_MAX */
	uint32_t timeout_ms;		    /* whole download; 0: the daemon's default */
	bool overwrite;			    /* replace an existing output file */
	bool disable_back_to_source;	    /* peers only, never the origin */
	/*
	 * Keep the task in the daemon's memory tier (storage.memory_budget); a stream-mode
	 * reader then gets a sealed, read-only memfd of it. Memory short: served from disk.
	 */
	bool memory;
	uint32_t priority; /* 0..6, as Dragonfly's Priority */
	/*
	 * Who asked: set by the daemon's API server from the client's socket credentials
	 * (SO_PEERCRED, SO_PEERGROUPS; a client's own values are never sent). When chown_output is
	 * set (a daemon running as root for an unprivileged client) the daemon acts on the file
	 * system with the client's rights: it opens a file:// source and the output directory,
	 * and creates the output, as uid/gid/groups, so the result is the client's and nothing
	 * the client could not read or write itself is touched. The name stays for compatibility.
	 */
	uint32_t uid, gid;
	int32_t pid;
	bool chown_output;
	const uint32_t *groups; /* the client's supplementary groups, at most ..._GROUPS_MAX */
	uint32_t nr_groups;
	/*
	 * A persistent cache verb (`vx cache`, spec/api.md) instead of a download: cache_op is
	 * its local API type (import 18, export 19, stat 20, delete 21), 0 for a download. The
	 * url is unused; cache_id is the task id (export, stat, delete; import: a given id),
	 * cache_input the file an import reads (as the client), output where an export writes.
	 */
	uint32_t cache_op;
	const char *cache_id;
	const char *cache_input;
	uint32_t replicas; /* import: copies wanted in the cluster, this one included */
	uint64_t ttl_s;	   /* import: time to live */
};

/*
 * Counters of one download, as progress reports and the result give them. The back-to-source
 * driver's own reports (vx_origin.h) also count the bytes of pieces in flight in bytes_done.
 */
struct vx_download_progress {
	char task_id[VX_DOWNLOAD_TASK_ID_LEN + 1]; /* lowercase hex; "" until derived */
	uint64_t content_length;		   /* bytes; 0 until known */
	uint64_t bytes_done;			   /* bytes of finished pieces */
	uint64_t from_peers;			   /* bytes fetched from other peers */
	uint64_t from_source;			   /* bytes fetched from the origin */
	uint64_t reused;			   /* bytes already present locally */
	uint64_t contiguous;  /* bytes from offset 0 that are finished (stream mode) */
	uint64_t elapsed_ms;  /* since the request was taken */
	uint32_t piece_count; /* pieces of the task; 0 until known */
	uint32_t pieces_done; /* finished pieces */
	/* bytes arrived from peers and the source, pieces not finished yet included: moves
	 * while a large piece is on its way (inside the daemon only; 0 through libvx) */
	uint64_t received;
};

/* Called with each progress report; @p is lent for the call. */
typedef void (*vx_download_progress_fn)(void *arg, const struct vx_download_progress *p);

/* The end of a download. */
struct vx_download_result {
	int status;		      /* 0 or a negative errno / VX_E* */
	enum vx_download_stage stage; /* where it failed, or DONE */
	uint32_t source_status;	      /* origin's protocol status (HTTP code), 0 none */
	char task_id[VX_DOWNLOAD_TASK_ID_LEN + 1]; /* "" when no task was made */
	char msg[VX_DOWNLOAD_MSG_MAX];		   /* human text for status; "" on success */
	struct vx_download_progress totals;	   /* final counters */
	/* known inside the daemon only (the local API does not carry them: 0 through libvx) */
	uint64_t piece_length; /* of the plan; 0 when unknown */
	bool reused;	       /* the store held the complete content already */
	/* a cache verb's answer (import, stat): carried by the local API */
	uint32_t replicas;   /* wanted */
	uint32_t holders;    /* hosts holding a full copy, as the scheduler knows (stat) */
	uint64_t ttl_left_s; /* until every holder drops it */
};

/*
 * What a task in the daemon's store is doing, as a stat or task-list answer reports it. The
 * numbers are the wire values of the local API's state key (spec/api.md); a newer daemon may
 * send a larger one, which a reader shows as unknown.
 */
enum vx_download_task_state {
	VX_DOWNLOAD_TASK_PENDING = 0, /* known, nothing fetched yet */
	VX_DOWNLOAD_TASK_RUNNING = 1, /* some pieces missing; pieces are being written */
	VX_DOWNLOAD_TASK_DONE = 2,    /* every piece is in the store */
	VX_DOWNLOAD_TASK_FAILED = 3,  /* a write failed; finished pieces are kept */
};

/*
 * One task as `vx task ls`, vx_client_stat() and vx_client_list() show it: the daemon fills it,
 * the local API carries it, libvx hands it out. @url is borrowed: whoever filled the struct
 * keeps the string (each layer says for how long).
 */
struct vx_download_task {
	char task_id[VX_DOWNLOAD_TASK_ID_LEN + 1]; /* lowercase hex */
	const char *url;			   /* NULL or "" when not known */
	enum vx_download_task_state state;
	int64_t content_length; /* bytes, -1 unknown */
	uint32_t piece_count;
	uint32_t pieces_done;
};

#endif /* VX_DOWNLOAD_H */
