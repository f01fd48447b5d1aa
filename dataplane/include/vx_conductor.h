/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_conductor.h: the download task driver of an embedded one-shot peer. Given a URL and the
 * request options it derives the Dragonfly task id, links a complete local copy into place at
 * once, and otherwise goes back to source: stats the origin, fixes the piece plan, opens the
 * task in the store, skips the pieces already finished (resume), fetches the missing ones in
 * parallel ranged reads, writes each with its CRC-32, verifies the whole-content digest when one
 * was given, and exports the content to the output path (hard link or copy, never half-written).
 *
 * This slice has no scheduler and no peers: every byte comes from the source or from the store.
 * Origins that give no content length (chunked replies) are refused with -EOPNOTSUPP, and so
 * are origins without byte ranges when the content has more than one piece.
 *
 * Threading: vx_conductor_download() is BLOCKING and runs on the calling thread, which also
 * writes the pieces; the source context's worker threads only receive bytes into buffers. The
 * progress callback runs on the calling thread.
 */
#ifndef VX_CONDUCTOR_H
#define VX_CONDUCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"

struct vx_store;
struct vx_source_ctx;

/* Pieces fetched at once when the request says 0. */
#define VX_CONDUCTOR_PARALLEL_DEFAULT 4u
/* Most pieces fetched at once. */
#define VX_CONDUCTOR_PARALLEL_MAX 64u
/* Bytes of a failure message in struct vx_conductor_result. */
#define VX_CONDUCTOR_MSG_MAX 768u

/* Where a download stands or stopped. */
enum vx_conductor_stage {
	VX_CONDUCTOR_STAGE_REQUEST = 0, /* checking the request: URL, digest, options */
	VX_CONDUCTOR_STAGE_OUTPUT = 1,	/* checking the output path before any download */
	VX_CONDUCTOR_STAGE_SOURCE = 2,	/* stat or ranged reads of the origin */
	VX_CONDUCTOR_STAGE_STORE = 3,	/* opening the task or writing pieces */
	VX_CONDUCTOR_STAGE_DIGEST = 4,	/* checking the whole-content digest */
	VX_CONDUCTOR_STAGE_EXPORT = 5,	/* putting the content at the output path */
	VX_CONDUCTOR_STAGE_DONE = 6,	/* finished */
};

/* Counters passed to the progress callback and kept in the result. */
struct vx_conductor_progress {
	uint64_t content_length;    /* bytes of the whole content */
	uint64_t bytes_done;	    /* bytes finished (pieces) plus bytes received so far */
	uint64_t bytes_from_source; /* bytes of pieces fetched from the origin by this call */
	uint64_t bytes_from_peers;  /* bytes of pieces fetched from peers (0 in this slice) */
	uint64_t bytes_reused;	    /* bytes of pieces already finished in the store */
	uint32_t piece_count;	    /* pieces in the plan */
	uint32_t pieces_done;	    /* pieces finished, reused ones included */
	uint64_t elapsed_ms;	    /* since vx_conductor_download() was called */
};

/* Called on the caller's thread; @p is lent for the call. */
typedef void (*vx_conductor_progress_fn)(void *arg, const struct vx_conductor_progress *p);

/* One download. Every pointer is borrowed for the duration of vx_conductor_download(). */
struct vx_conductor_request {
	const char *url;		    /* required */
	const char *const *headers;	    /* "Name: value" lines sent to the origin */
	uint32_t nr_headers;		    /* at most VX_SOURCE_HEADERS_MAX */
	const char *tag;		    /* task id field; NULL or "" adds nothing */
	const char *application;	    /* task id field; NULL or "" adds nothing */
	uint64_t piece_length;		    /* user-fixed piece length; 0 = Dragonfly's rule */
	const char *const *filtered_params; /* query keys dropped from the id; NULL: default */
	size_t nr_filtered_params;	    /* entries of @filtered_params */
	const char *digest;		   /* "sha256:<hex>", "sha512:<hex>", "crc32:<dec>", NULL */
	uint32_t timeout_ms;		   /* the whole download; 0 = no limit */
	const char *output;		   /* path of the result; required */
	bool overwrite;			   /* replace an existing file at @output */
	uint32_t parallel;		   /* pieces in flight; 0: VX_CONDUCTOR_PARALLEL_DEFAULT */
	vx_conductor_progress_fn progress; /* NULL: no progress reports */
	void *progress_arg;		   /* passed to @progress */
};

/* What happened, filled by vx_conductor_download() in every case. */
struct vx_conductor_result {
	char task_id[65];		     /* lowercase hex; "" when not derived */
	uint64_t piece_length;		     /* of the plan; 0 when not fixed */
	bool reused;			     /* the store already held the complete content */
	struct vx_conductor_progress totals; /* final counters */
	enum vx_conductor_stage stage;	     /* VX_CONDUCTOR_STAGE_DONE, or where it failed */
	int source_status;		     /* origin status (HTTP 404...) of a source failure */
	char msg[VX_CONDUCTOR_MSG_MAX];	     /* one line for humans when it failed, else "" */
};

/*
 * vx_conductor_download() - download @req->url into @store and put it at @req->output.
 * BLOCKING. @store and @src are borrowed (owned by the caller, open for the whole call); @req is
 * borrowed; @res is OUT.
 * The output path is checked first (its directory exists and is writable; it does not exist
 * unless @req->overwrite), so a bad path fails before any byte is fetched. The file appears at
 * the output path only when complete and, with @req->digest, verified; on failure nothing is
 * left there. Pieces finished before a failure stay in the store for the next call; a stored
 * task whose length no longer matches the origin's is removed and fetched again.
 * Returns 0, or a negative errno / VX_E* code with @res->stage saying where: VX_EURL or
 * VX_ESCHEME (bad URL), -EINVAL (bad digest string), -ENOENT / -ENOTDIR / -EACCES / -EEXIST /
 * -EISDIR at STAGE_OUTPUT or STAGE_EXPORT, VX_ESOURCE_* / VX_ETLS at STAGE_SOURCE, -EOPNOTSUPP
 * (no content length, or no ranges for a multi-piece content), VX_EDIGEST at STAGE_DIGEST,
 * -ETIMEDOUT (@req->timeout_ms passed), -ENOMEM, or the store's errors at STAGE_STORE.
 */
VX_MUST_CHECK int vx_conductor_download(struct vx_store *store, struct vx_source_ctx *src,
					const struct vx_conductor_request *req,
					struct vx_conductor_result *res);

#endif /* VX_CONDUCTOR_H */
