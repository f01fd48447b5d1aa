/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_origin.h: the back-to-source driver (origin/; once dataplane's "conductor"). Given a URL and the request options it
 * derives the Dragonfly task id, links a complete local copy into place at once, and otherwise
 * goes back to source: stats the origin, fixes the piece plan, opens the task in the store,
 * skips the pieces already finished (resume), fetches the missing ones in parallel ranged reads,
 * writes each with its CRC-32, verifies the whole-content digest when one was given, and exports
 * the content to the output path (hard link or copy, never half-written).
 *
 * Two layers. vx_origin_download() is the whole one-shot download of `vx get` without a
 * daemon. It is built from three parts the peer daemon drives itself from a worker thread:
 * vx_origin_stat() (ask the origin), vx_origin_fetch() (fill a store task the caller opened,
 * piece by piece, beside other writers of the same task) and vx_origin_fetch_unsized() (an
 * origin that gives no length: spool, then import).
 *
 * Origins: with byte ranges, pieces are fetched in parallel; without (python's http.server),
 * the object is read as ONE sequential stream and pieces are committed in order as their bytes
 * complete; without a content length (chunked replies), the body is spooled to a temporary file
 * and imported as a complete task (spec/origin.md).
 *
 * The download types are the daemon's and libvx's (vx_download.h): the request, its progress
 * and its result; how the driver runs (parallel reads, cancel flag, callbacks) is a struct
 * vx_origin_opts beside the request.
 *
 * Threading: every function here is BLOCKING and runs on the calling thread, which also writes
 * the pieces and runs every callback; the source context's worker threads only receive bytes
 * into buffers. Different tasks may be driven from different threads at once.
 */
#ifndef VX_ORIGIN_H
#define VX_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"
#include "vx_download.h"
#include "vx_source.h"
#include "vx_store.h"
#include "vx_task_id.h"

struct vx_source_ctx;
struct vx_source_obj;
struct vx_source_stat;
struct vx_source_upstream;
struct vx_outbound_policy;
struct vx_rate;

/* Pieces fetched at once when the options say 0. */
#define VX_ORIGIN_PARALLEL_DEFAULT 4u
/* Most pieces fetched at once. */
#define VX_ORIGIN_PARALLEL_MAX 64u
/* How often a blocking call wakes up to poll the cancel flag, the deadline and report progress. */
#define VX_ORIGIN_TICK_MS 200u
/* Buffers of one sequential stream (origin without ranges, or unsized): the reader runs at most
 * this many buffers ahead of the writer. */
#define VX_ORIGIN_STREAM_BUFS 4u
/* Bytes of one spool buffer of an unsized download. */
#define VX_ORIGIN_SPOOL_CHUNK (1u << 20)

/* What the origin says about an object: vx_origin_stat() fills it. */
struct vx_origin {
	int64_t content_length;		   /* bytes; -1 when the origin gives none (chunked) */
	bool ranges;			   /* byte ranges work: pieces may be fetched in parallel */
	const struct vx_source_stat *stat; /* ETag, final URL...; lent until release */
	struct vx_source_obj *obj;	   /* the opened object; owned: origin_release() frees */
};

/*
 * vx_origin_stat() - open @url at the origin and say what it is. BLOCKING.
 * @src, @url, @headers (@nr_headers "Name: value" lines, at most VX_SOURCE_HEADERS_MAX): borrowed.
 * @timeout_ms: the time limit of each request made through the object (this stat and every
 * later read); 0: no whole-request limit, a stalled transfer still fails after the source
 * layer's stall timeout. A request that runs out of time, or a stat that ends after
 * @timeout_ms, fails with -ETIMEDOUT. The source retries a timed-out attempt, so a stat
 * against a silent origin returns after about (1 + retries) x @timeout_ms.
 * @out: OUT; on success it owns the object: release with vx_origin_release().
 * Returns 0, or as the source stage of vx_origin_download(): VX_EURL, VX_ESCHEME,
 * VX_ESOURCE_*, VX_ETLS, -EISDIR (a directory), -ETIMEDOUT, -ENOMEM, with @res->msg, ->stage
 * (STAGE_SOURCE, or STAGE_REQUEST for a bad URL) and ->source_status set. Only those fields
 * of @res are written.
 */
VX_MUST_CHECK int vx_origin_stat(struct vx_source_ctx *src, const char *url,
				 const char *const *headers, uint32_t nr_headers,
				 uint32_t timeout_ms, struct vx_origin *out,
				 struct vx_download_result *res);

/* Frees what @o holds (the source object) and zeroes it. A zeroed @o is a no-op. */
void vx_origin_release(struct vx_origin *o);

/* Called on the calling thread after piece @number was committed to the store by this call. */
typedef void (*vx_origin_piece_fn)(void *arg, uint32_t number, uint32_t crc32, uint64_t cost_us);

/*
 * How the driver runs one call, beside the download request. Every pointer is borrowed for the
 * duration of the call. A NULL options pointer means all zero.
 */
struct vx_origin_opts {
	uint32_t parallel;		  /* ranged reads at once; 0: VX_ORIGIN_PARALLEL_DEFAULT */
	const _Atomic bool *cancel;	  /* NULL, or polled every VX_ORIGIN_TICK_MS: true stops */
	vx_origin_piece_fn on_piece;	  /* NULL, or for each piece, just before its commit */
	vx_download_progress_fn progress; /* NULL, or every tick and after each piece */
	void *arg;			  /* passed to @on_piece and @progress */
	/* a fetch for another host: where it may connect (vx_source_opts.outbound); NULL: any */
	const struct vx_outbound_policy *outbound;
	bool outbound_local; /* that host is this one */
	/* through another cluster's forward proxy (vx_source_opts.upstream); NULL: direct */
	const struct vx_source_upstream *upstream;
	/* NULL, or rates the body bytes spend beside the source context's
	 * (vx_source_read.rates): one task's cap, its preheat share */
	struct vx_rate *rates[VX_SOURCE_READ_RATES];
};

/*
 * vx_origin_stat_opts() - vx_origin_stat() with the outbound policy of @opts (borrowed, may be
 * NULL), kept by the opened object for every later read. A refused address is -EACCES with
 * "outbound address X refused by policy" in @res->msg.
 */
VX_MUST_CHECK int vx_origin_stat_opts(struct vx_source_ctx *src, const char *url,
				      const char *const *headers, uint32_t nr_headers,
				      uint32_t timeout_ms, const struct vx_origin_opts *opts,
				      struct vx_origin *out, struct vx_download_result *res);

/*
 * vx_origin_fetch() - fetch from the source every piece of @t not finished yet.
 * BLOCKING. @t is held by the caller for VX_STORE_USE_DOWNLOAD, its geometry fixed by the
 * caller from the origin's content length. @origin: borrowed, from vx_origin_stat(); NULL:
 * this call stats @req->url with @req->headers itself. Of @req, only url, headers,
 * nr_headers and timeout_ms are used. The origin's length must equal @t's.
 * An HTTP(S) object of several pieces with none finished yet is read as one stream (below)
 * even when the origin takes ranges: one whole GET beats ranged reads at registries.
 * With ranges (a resume, other schemes), up to @opts->parallel pieces are fetched at once: each piece is reserved in the
 * store (vx_store_piece_begin_write()) before its read is submitted, so no two writers ever
 * fetch one piece at the same time; a piece another writer holds (-EBUSY) is retried after the
 * others and waited for, and a piece finished meanwhile (-EALREADY) is skipped. Without ranges,
 * the object is read as one stream from offset 0 and each piece is committed as its bytes
 * complete; pieces already finished are read past, never rewritten; a piece another writer
 * holds is left to it, and if it gives the piece up, a second stream fetches it (that one
 * waits for held pieces). Each piece is written with the CRC-32 computed from the bytes
 * received.
 * Other writers of @t (the daemon's peer fetcher on its own thread) may commit pieces at any
 * time; @res->totals counts them in reused. @res is OUT: filled in every case (task id,
 * geometry, counters, stage, message).
 * Returns 0 once every piece of @t is finished; -ECANCELED (*@opts->cancel became true: reads
 * are stopped within VX_ORIGIN_TICK_MS plus the source's cancel); -ETIMEDOUT
 * (@req->timeout_ms passed, or a request ran out of its own time); -EINVAL (@origin's length is not @t's, or it
 * gives none: use vx_origin_fetch_unsized()); the source errors of vx_origin_stat(); the
 * store's errors (a FAILED task, -ENOSPC...). Pieces committed before a failure stay; the
 * reservations of this call are all given back.
 */
VX_MUST_CHECK int vx_origin_fetch(struct vx_store_task *t, struct vx_source_ctx *src,
				  const struct vx_origin *origin,
				  const struct vx_download_request *req,
				  const struct vx_origin_opts *opts,
				  struct vx_download_result *res);

/*
 * vx_origin_fetch_unsized() - download an object whose length the origin does not give
 * (chunked reply) into @store as a complete task. BLOCKING. The body is streamed from offset 0
 * into a temporary file in @spool_dir (the store's data directory, or the output's directory),
 * never more bytes than the store has room for (-ENOSPC otherwise); then the file is imported
 * with vx_store_task_import() (piece length: @tp->piece_length, or Dragonfly's rule for the
 * final size), @opts->on_piece runs for every piece, and the file is removed. On every failure
 * the temporary file is removed and no task is created.
 * @origin: borrowed, from vx_origin_stat() (any length; a known one is checked); NULL: this
 * call stats @req->url. @tp: borrowed; its id, url, digest, kind and piece_length are used and
 * its content_length is ignored. @spool_dir: borrowed, an existing writable directory.
 * @out: OUT, the task held for @use: lent until vx_store_task_release(*@out, @use).
 * Returns 0, -ECANCELED, -ETIMEDOUT, -ENOSPC, the source errors of vx_origin_stat(),
 * -errno of the spool file, or vx_store_task_import()'s errors (-EEXIST: the store holds this
 * task with another length). @res as in vx_origin_fetch().
 */
VX_MUST_CHECK int
vx_origin_fetch_unsized(struct vx_store *store, struct vx_source_ctx *src,
			const struct vx_origin *origin, const struct vx_store_task_params *tp,
			const char *spool_dir, const struct vx_download_request *req,
			const struct vx_origin_opts *opts, enum vx_store_use use,
			struct vx_store_task **out, struct vx_download_result *res);

/*
 * vx_origin_download() - download @req->url into @store and put it at @req->output.
 * BLOCKING. @store and @src are borrowed (owned by the caller, open for the whole call); @req is
 * borrowed (output is required; priority, uid/gid/pid and disable_back_to_source are the
 * daemon's and ignored here); @opts: NULL or borrowed; @res is OUT (->status is the return
 * value).
 * The output path is checked first (its directory exists and is writable; it does not exist
 * unless @req->overwrite), so a bad path fails before any byte is fetched. The file appears at
 * the output path only when complete and, with @req->digest, verified; on failure nothing is
 * left there. Pieces finished before a failure stay in the store for the next call; a stored
 * task whose length no longer matches the origin's is removed and fetched again. It is
 * vx_origin_stat(), then vx_origin_fetch() into the task it opens (or, for an
 * origin without a length, vx_origin_fetch_unsized() spooling beside @req->output), then the
 * digest check and the export.
 * Returns 0, or a negative errno / VX_E* code with @res->stage saying where: VX_EURL or
 * VX_ESCHEME (bad URL), -EINVAL (bad digest string), -ENOENT / -ENOTDIR / -EACCES / -EEXIST /
 * -EISDIR at STAGE_OUTPUT or STAGE_EXPORT, VX_ESOURCE_* / VX_ETLS at STAGE_SOURCE, VX_EDIGEST
 * at STAGE_DIGEST, -ETIMEDOUT (@req->timeout_ms passed, or a request of the source ran out of
 * its own time: any source or store failure once the deadline has passed is reported as
 * -ETIMEDOUT), -ENOMEM, or the store's errors at STAGE_STORE.
 */
VX_MUST_CHECK int vx_origin_download(struct vx_store *store, struct vx_source_ctx *src,
				     const struct vx_download_request *req,
				     const struct vx_origin_opts *opts,
				     struct vx_download_result *res);

#endif /* VX_ORIGIN_H */
