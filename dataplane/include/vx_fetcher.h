/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_fetcher.h: the piece fetcher. Given a task (id, content and piece length), its trusted
 * piece digests and a set of parents, it keeps a few long-lived Vortex connections per parent,
 * learns which pieces each parent has (INTEREST: a bitfield, then HAVE frames), picks pieces
 * rarest first from a random start, pipelines requests, receives each body straight into
 * aligned chunk buffers, checks the CRC against the trusted digest (never the sender's claim),
 * writes through the sink (O_DIRECT when the sink allows) and publishes each piece at once.
 * Near the end it requests a last piece twice (endgame) once it is out for longer than 1.5x a
 * piece's usual time, and cancels the loser. A failing,
 * slow or lying parent is dropped for the task and reported. A parent that does not speak the
 * vx extensions (a Dragonfly peer: it closes after one answer) is used one request per
 * connection, as Dragonfly's own downloader does.
 *
 * Memory is bounded by the configuration alone: chunk_bytes x buffers for bodies, plus small
 * fixed state per connection and per piece; file size does not matter.
 *
 * Threading: a fetcher belongs to the loop it was created on; loop-thread only.
 */
#ifndef VX_FETCHER_H
#define VX_FETCHER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vx_compiler.h"

struct vx_loop;
struct vx_fetcher;
struct vx_rate;
struct ssl_ctx_st;

/* Where one piece is written, from the sink's begin(). */
struct vx_fetch_piece_io {
	int fd;		 /* file to write; lent until commit() or abort() */
	bool direct;	 /* @fd is O_DIRECT: buffers, offsets and lengths aligned to @align */
	uint32_t align;	 /* a power of two >= 512 when @direct */
	uint64_t offset; /* byte offset of the piece in @fd */
	uint64_t length; /* piece length in bytes */
};

/*
 * Where pieces go (the daemon wires this to vx_store_piece_begin_write / commit / abort).
 * Callbacks run on the loop thread, must not block and must not allocate.
 */
struct vx_fetch_sink_ops {
	/* Reserve piece @number. Returns 0, -EALREADY (already have it), -EBUSY, or -errno. */
	int (*begin)(void *ctx, uint32_t number, struct vx_fetch_piece_io *io);
	/* Publish piece @number, fully written, with verified CRC @crc32. Returns 0 or -errno. */
	int (*commit)(void *ctx, uint32_t number, uint32_t crc32, const char *parent_id);
	/* Give up the reservation; @err is 0 or the write error. */
	void (*abort)(void *ctx, uint32_t number, int err);
};

/*
 * A parent whose connect fails (refused, unreachable, timed out) is dialled again after
 * VX_FETCH_DIAL_FIRST_MS, doubling up to VX_FETCH_DIAL_MAX_MS, and given up after
 * VX_FETCH_DIAL_TRIES failures in a row: dropped with VX_FETCH_DROP_CONNECT and refused for
 * the life of the fetcher, like a liar.
 */
#define VX_FETCH_DIAL_FIRST_MS 100
#define VX_FETCH_DIAL_MAX_MS   2000
#define VX_FETCH_DIAL_TRIES    6
/* Default stall_timeout_ms: no byte from a parent for this long with requests out. */
#define VX_FETCH_STALL_MS 10000

/* Why a parent was dropped, for vx_fetcher_cfg.on_parent_dropped. */
enum vx_fetch_drop {
	VX_FETCH_DROP_CONNECT = 0,   /* VX_FETCH_DIAL_TRIES connects in a row failed */
	VX_FETCH_DROP_ERROR = 1,     /* I/O error or the parent closed mid-answer */
	VX_FETCH_DROP_PROTOCOL = 2,  /* malformed or unexpected frames: refused from then on */
	VX_FETCH_DROP_DIGEST = 3,    /* bytes did not match the trusted digest: it lied */
	VX_FETCH_DROP_STALL = 4,     /* no progress within stall_timeout_ms */
	VX_FETCH_DROP_NOT_FOUND = 5, /* answered "not found" for a piece it claimed */
};

struct vx_fetcher_cfg {
	const char *task_id;	 /* 64 lowercase hex characters; copied */
	uint8_t request_tag;	 /* 0 DownloadPiece, 2 persistent, 4 persistent cache */
	uint64_t content_length; /* bytes */
	uint64_t piece_length;	 /* bytes; the last piece may be shorter */
	/*
	 * Trusted CRC-32 of every piece; copied. May be NULL: then no piece is trusted at start
	 * and digests arrive later through vx_fetcher_trust() (a live swarm whose seed is still
	 * fetching from the origin). A piece without a trusted digest is never requested.
	 */
	const uint32_t *piece_crc32;
	const uint8_t *have; /* optional bitfield of pieces already local; copied */
	const struct vx_fetch_sink_ops *sink; /* borrowed; outlives the fetcher */
	void *sink_ctx;
	uint32_t conns_per_parent;   /* long-lived connections per vx parent (default 2) */
	uint32_t pipeline_depth;     /* requests in flight per connection (default 4) */
	uint32_t chunk_bytes;	     /* receive/write unit, multiple of 4096 (default 1 MiB) */
	uint32_t buffers;	     /* chunk buffers: the memory bound (default 16) */
	uint32_t max_parents;	     /* parent slots (default 16) */
	uint32_t connect_timeout_ms; /* default 2000, as Dragonfly */
	uint32_t stall_timeout_ms;   /* no byte for this long with requests out (VX_FETCH_STALL_MS);
				      * the daemon's download.piece_timeout */
	uint32_t endgame_pieces;     /* duplicate requests when this few pieces remain (4) */
	/* requests out at once over every connection of the task; 0: no cap beyond each
	 * connection's depth (the daemon's download.concurrent_pieces) */
	uint32_t max_pieces_out;
	uint64_t rate_bytes_per_s; /* download rate limit; 0 = unlimited */
	/* NULL, or a rate shared with other threads that the body bytes spend too (the task's
	 * cap, spent by its origin reads as well); borrowed until vx_fetcher_free() */
	struct vx_rate *task_rate;
	/* NULL, or a rate every fetcher of the daemon spends (download.rate_limit); borrowed
	 * until vx_fetcher_free() */
	struct vx_rate *shared_rate;
	uint64_t seed; /* random start; 0 = from the clock */
	/*
	 * In order (a reader streams the content as its prefix grows: vx get -O -, the registry
	 * mirror): each pick starts at the first piece not yet done instead of at a random one,
	 * so among pieces equally rare the lowest comes first and the prefix grows from the
	 * start (issue 19 goal 9). Rarest-first still ranks before order. Changed later with
	 * vx_fetcher_set_in_order().
	 */
	bool in_order;
	/*
	 * Persistent (the daemon's mode): losing every parent does not end the fetcher with
	 * VX_ENOPEERS; on_no_parents runs instead and the fetcher waits for
	 * vx_fetcher_add_parent(). on_done then only ever reports 0, -ECANCELED or a local
	 * write error (never VX_ENOPEERS).
	 */
	bool persistent;
	/*
	 * TLS 1.3 with our certificate (vx_dp_tls.h): NULL = plaintext. Borrowed; outlives the
	 * fetcher. Each parent must then present a certificate chaining to the context's CA
	 * whose identity (subjectAltName urn:vx:host:<id>) is the @id given to
	 * vx_fetcher_add_parent(); any other is dropped with VX_FETCH_DROP_PROTOCOL
	 * (-EKEYREJECTED) and refused from then on, as is a parent that does not speak TLS.
	 */
	struct ssl_ctx_st *tls;
	/*
	 * lz4 piece bodies (spec/vortex.md 5.5), default on: offered in our HELLO, so a vx parent
	 * that offers it too may answer COMPRESSED_PIECE_CONTENT. A compressed body is at most
	 * LZ4_compressBound(piece) bytes, is received whole (a connection then holds that and the
	 * piece in memory, up to VX_LZ4_PIECE_MAX) and must decompress to exactly the piece and
	 * match its CRC, or nothing of it is stored and the parent is dropped. false: not offered.
	 */
	bool lz4;
	/* Called on the loop thread when piece @number is committed (publish it for uploads). */
	void (*on_piece)(void *arg, uint32_t number);
	/*
	 * Optional; called right after on_piece with the index of the parent that sent the piece,
	 * its length and the wall time from the request's send to its last byte (the cost the
	 * daemon reports to the scheduler).
	 */
	void (*on_piece_from)(void *arg, uint32_t number, uint32_t parent, uint64_t bytes,
			      uint64_t cost_us);
	/*
	 * Optional, persistent fetchers only: called each time the number of live parents drops
	 * to zero (after the current loop drain, and only if it is still zero then). The
	 * fetcher keeps waiting for vx_fetcher_add_parent(), which may be called from here.
	 */
	void (*on_no_parents)(void *arg);
	/* Called when parent @index (as vx_fetcher_add_parent() returned it) is dropped. */
	void (*on_parent_dropped)(void *arg, uint32_t index, enum vx_fetch_drop why, int err);
	/*
	 * Called once: 0 when every piece is committed (or had, vx_fetcher_have()), or a
	 * negative error: VX_ENOPEERS (not persistent: every parent dropped), -ECANCELED, or a
	 * local write error (-ENOSPC, -EIO, -EROFS, -EDQUOT) that no parent can fix.
	 */
	void (*on_done)(void *arg, int status);
	void *cb_arg;
};

struct vx_fetcher_stats {
	uint32_t pieces_total;
	uint32_t pieces_done;
	uint64_t bytes_received; /* body bytes, including discarded duplicates */
	uint64_t requests_sent;
	uint32_t parents_dropped;
	uint32_t digest_failures;
	uint32_t endgame_duplicates;
	uint32_t reconnects;	   /* connections opened after the first per parent */
	uint32_t connect_failures; /* connects refused, unreachable or timed out */
	uint64_t picks;		   /* calls of the piece picker */
	uint64_t pick_ns;	   /* time spent in them (issue 19 goal 6: flat in pieces) */
	uint32_t tls_revoked;	   /* parents dropped: their certificate stopped verifying */
	uint32_t lz4_pieces;	   /* pieces that came lz4-compressed (and verified) */
};

/* Fills @cfg with the defaults above (task fields zero). */
void vx_fetcher_cfg_init(struct vx_fetcher_cfg *cfg);

/*
 * vx_fetcher_new() - create a fetcher on @loop (borrowed). Allocates everything it will use:
 * chunk buffers, piece table, parent and connection slots. @cfg is borrowed for the call.
 * @out: OUT, returns owned (vx_fetcher_free() once vx_fetcher_idle()).
 * Returns 0, -EINVAL or -ENOMEM.
 */
VX_MUST_CHECK int vx_fetcher_new(struct vx_fetcher **out, struct vx_loop *loop,
				 const struct vx_fetcher_cfg *cfg);

/*
 * vx_fetcher_add_parent() - add a parent at @addr (borrowed, copied) and start connecting.
 * @id: the parent's peer id, sent on to the sink as the piece's origin; borrowed, copied (cut
 * to 127 bytes); may be NULL.
 * An address equal to a live (not dropped) parent returns that parent's index and opens no
 * new connection. A parent dropped before may be added again and gets a slot back (the slots
 * of dropped parents are reused, so churn never exhausts max_parents), except a parent
 * dropped for VX_FETCH_DROP_DIGEST (it lied) or VX_FETCH_DROP_CONNECT (unreachable, see
 * VX_FETCH_DIAL_TRIES): it is refused for the life of the fetcher (the last max_parents
 * parents given up are remembered), and so is one dropped for VX_FETCH_DROP_PROTOCOL (it
 * spoke garbage: a scheduler that keeps naming it must not get it dialled again). Indexes are slot numbers below max_parents: after
 * on_parent_dropped(i) index i may be handed to another parent.
 * A fetcher that has already finished takes the parent but opens no connection. Loop thread;
 * safe inside callbacks (on_no_parents, on_parent_dropped).
 * With cfg.tls, @id is the host id the parent's certificate must name, and required.
 * Returns the parent index, -EPERM (dropped for DIGEST, CONNECT or PROTOCOL), -EINVAL (bad
 * address, or no @id with TLS), -ENOSPC
 * (max_parents live parents) or -EAGAIN (every free slot still closes the connections of a
 * dropped parent; the slot frees within a few loop iterations, try again later).
 */
VX_MUST_CHECK int vx_fetcher_add_parent(struct vx_fetcher *f, const struct sockaddr *addr,
					socklen_t addr_len, const char *id);

/*
 * vx_fetcher_trust() - the trusted CRC-32 of piece @number arrived (from the scheduler's
 * manifest). The piece becomes eligible for requests at once. Trusting an already trusted
 * piece with the same CRC is a no-op; with a different CRC it is ignored with a warning (the
 * first digest stays). Out-of-range numbers are ignored. Loop thread; safe inside callbacks.
 */
void vx_fetcher_trust(struct vx_fetcher *f, uint32_t number, uint32_t crc32);

/*
 * vx_fetcher_have() - piece @number was finished locally by another path (the daemon fetched
 * it from the source). It is never requested again, requests for it in flight are cancelled
 * (a CANCEL frame where the parent takes it, else the answer is discarded), and it counts
 * towards completion: on_done(0) runs when every piece is either fetched or had. on_piece is
 * not called for it; a body already being received for it is finished but given back with
 * sink abort(), never committed. Already-done and out-of-range numbers are ignored. Loop
 * thread; safe inside callbacks.
 */
void vx_fetcher_have(struct vx_fetcher *f, uint32_t number);

/* vx_fetcher_set_in_order() - picks from the first missing piece (true) or from a random one
 * (false) from now on (see vx_fetcher_cfg.in_order). Loop thread; safe inside callbacks. */
void vx_fetcher_set_in_order(struct vx_fetcher *f, bool on);

/*
 * A second file every fetched piece is also written to (issue 19 goal 4: a download's output,
 * written from the receive buffers while they are held, instead of copied from the store
 * afterwards). Each chunk goes to the sink's file first, then from the same buffer to @fd at
 * the same content offset; done(@ctx, n) runs when piece n is committed to the sink and all of
 * it is in @fd. A piece without done() (a failed mirror write, a chunk that @direct cannot
 * write, a piece begun before the mirror was set) is the owner's to copy. Mirror errors never
 * fail the download.
 */
struct vx_fetch_mirror {
	int fd;		/* borrowed until release(@ctx) */
	bool direct;	/* @fd has O_DIRECT: only chunks aligned to @align are written */
	uint32_t align; /* power of two when @direct */
	void (*done)(void *ctx, uint32_t number);
	void (*release)(void *ctx); /* at vx_fetcher_free(); may be NULL */
	void *ctx;
};

/*
 * vx_fetcher_set_mirror() - writes every piece begun from now on to @m's file as well (see
 * struct vx_fetch_mirror; copied). One mirror per fetcher: -EBUSY when one is set, -EINVAL when
 * @m is unusable. Loop thread.
 */
VX_MUST_CHECK int vx_fetcher_set_mirror(struct vx_fetcher *f, const struct vx_fetch_mirror *m);

/* Number of parents not dropped (connecting or connected). */
uint32_t vx_fetcher_live_parents(const struct vx_fetcher *f);

/* Stops: cancels every request and closes every connection; on_done gets -ECANCELED. */
void vx_fetcher_cancel(struct vx_fetcher *f);

/* True when the fetcher has finished (or was cancelled) and nothing is in flight. */
bool vx_fetcher_idle(const struct vx_fetcher *f);

/* Takes @f; NULL is a no-op. Must be idle (asserted). */
void vx_fetcher_free(struct vx_fetcher *f);

void vx_fetcher_stats(const struct vx_fetcher *f, struct vx_fetcher_stats *out);

/*
 * vx_fetcher_set_tls() - the TLS context (borrowed as cfg.tls) was loaded again (a new CRL, a
 * renewal): new connections use @tls, and every parent whose certificate on an open connection
 * no longer verifies against it (revoked, expired) is dropped with VX_FETCH_DROP_PROTOCOL
 * (-EKEYREJECTED) and never dialled again by this fetcher. A handshake ending later is checked
 * against @tls too. No-op for a plaintext fetcher or a NULL @tls.
 */
void vx_fetcher_set_tls(struct vx_fetcher *f, struct ssl_ctx_st *tls);

#endif /* VX_FETCHER_H */
