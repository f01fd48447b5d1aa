/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_upload.h: the Vortex upload server. It listens on TCP (4005 by default), answers
 * DownloadPiece requests (and the persistent, persistent-cache and cache twins) with a
 * PieceContent head followed by the raw piece bytes, moved from the page cache to the socket
 * with io_uring splice (no copy through user space), and Error frames for unknown pieces and
 * invalid requests. A Dragonfly downloader sends one request per connection; a vx fetcher
 * pipelines many on one connection and may subscribe to a task's piece availability (a
 * BITFIELD answer, then HAVE frames as pieces finish). spec/dataplane.md has the state
 * machine, the extension frames and every limit.
 *
 * Threading: a server belongs to the loop (thread) it was created on; every function here is
 * loop-thread only. Run one server per worker thread with cfg.reuseport to spread accepts.
 */
#ifndef VX_UPLOAD_H
#define VX_UPLOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "vx_compiler.h"

struct vx_loop;
struct vx_upload;
struct ssl_ctx_st;
struct vx_tls_id;

/* Default Vortex TCP port (Dragonfly's storage.server.tcpPort). */
#define VX_UPLOAD_PORT_DEFAULT 4005
/* Tasks whose sends a super-seeding server remembers at once (least recently used goes). */
#define VX_UPLOAD_SUPER_SEED_TASKS 8
/* Pipelined requests a vx connection may have outstanding (HELLO max_inflight): default, most. */
#define VX_UPLOAD_INFLIGHT_DEFAULT 32u
#define VX_UPLOAD_INFLIGHT_MAX	   48u
/* Longest parent id sent in PieceContent metadata. */
#define VX_UPLOAD_PARENT_ID_MAX 191

/* How piece bodies leave (vx-bench pair measures all three; see bench/RESULTS.md). */
enum vx_upload_body_mode {
	VX_UPLOAD_BODY_SPLICE = 0,  /* file -> pipe -> socket: no copy in user space (default) */
	VX_UPLOAD_BODY_SEND = 1,    /* send from the read-only mapping (one copy, in the kernel) */
	VX_UPLOAD_BODY_SEND_ZC = 2, /* send_zc from the mapping (copies anyway on loopback) */
};

/* A finished piece lent by the piece source for one answer. */
struct vx_upload_piece {
	const uint8_t *data;	 /* read-only mapping of the piece, or NULL (then splice) */
	int fd;			 /* file holding the piece; read by splice, never written */
	uint64_t offset;	 /* byte offset of the piece in @fd */
	uint64_t length;	 /* piece length in bytes (at most 1 GiB) */
	uint64_t content_offset; /* byte offset of the piece in the task content */
	uint32_t crc32;		 /* CRC-32/IEEE of the bytes: sent as "crc32:<decimal>" */
	const char *parent_id;	 /* peer the piece came from; NULL or "" when from source */
	uint64_t cost_s;	 /* seconds it took to get the piece */
	int64_t created_s;	 /* Unix seconds the piece finished */
	void *cookie;		 /* the source's own handle, given back to put() */
};

/*
 * Where pieces come from (the daemon wires this to the store). All callbacks run on the loop
 * thread, must not block and must not allocate.
 */
struct vx_upload_source_ops {
	/*
	 * Look up piece @number of task @task_id (64 lowercase hex characters, not
	 * NUL-terminated). On 0 fill @out, lent until put(@out). Return -EAGAIN when the piece
	 * is known but not finished yet (the server waits, bounded), -ENOENT when the task or
	 * piece is unknown, or another negative errno (answered as an internal error).
	 */
	int (*get)(void *ctx, const char *task_id, uint32_t number, struct vx_upload_piece *out);
	/* Give back a piece lent by get(). */
	void (*put)(void *ctx, struct vx_upload_piece *p);
	/*
	 * Copy task @task_id's finished-piece bitfield into @out (piece n is bit 7 - n % 8 of
	 * byte n / 8) and its piece count into *@piece_count. Return the bytes written,
	 * -ENOENT, or -ENOBUFS when @out_len is too small. NULL: subscriptions are refused.
	 */
	ssize_t (*bitmap)(void *ctx, const char *task_id, uint8_t *out, size_t out_len,
			  uint32_t *piece_count);
};

struct vx_upload_cfg {
	struct sockaddr_storage addr; /* where to listen; port 0 picks a free one */
	socklen_t addr_len;	      /* bytes of @addr used */
	bool reuseport;		      /* SO_REUSEPORT, for one server per worker thread */
	/* > 0: a socket already listening (handed over by the process this one upgrades), served
	 * instead of binding @addr; taken by vx_upload_new() on success (closed at free). 0:
	 * bind @addr. Descriptor 0 is never one (stdin). */
	int listen_fd;
	uint32_t max_conns;   /* connection slots, allocated at start (default 1024) */
	uint32_t max_sends;   /* bodies in flight at once: splice pipes (default 64) */
	uint32_t chunk_bytes; /* bytes per splice or send round (default 1 MiB) */
	enum vx_upload_body_mode body_mode; /* default SPLICE */
	uint32_t idle_timeout_ms;	    /* no request for this long: close (default 60 s) */
	uint32_t max_inflight;		    /* pipelined requests per vx connection, announced in
					     * HELLO; more are answered busy (default 32, at most
					     * VX_UPLOAD_INFLIGHT_MAX) */
	uint32_t header_timeout_ms;	    /* a started request must be complete within (10 s) */
	uint32_t send_stall_ms;		    /* no send progress for this long: close (30 s) */
	uint32_t slot_stall_ms;		    /* holds a send slot (splice pipe) another connection
					     * waits for and its socket took nothing for this
					     * long: close (5 s) */
	uint32_t max_conns_per_addr;	    /* connections one peer address may hold, loopback
					     * included; the next is closed at accept (64);
					     * 0 = no limit */
	uint32_t piece_wait_ms;		    /* wait for an unfinished piece at most (30 s) */
	uint64_t rate_bytes_per_s;	    /* global upload rate; 0 = unlimited */
	uint64_t conn_rate_bytes_per_s;	    /* per-connection upload rate; 0 = unlimited */
	/*
	 * Seed mode: a vx peer asking for a piece this server sent to someone within
	 * @super_seed_window_ms is answered BUSY (it asks again later, and meanwhile gets the
	 * piece from the child that has it), so a seed sends about one copy of a file and the
	 * swarm's uplinks carry the rest. A connection asking again for a piece it was refused
	 * is served (one back-off per piece at most). Dragonfly (one-shot) requests are always
	 * served. Every vx serve super-seeds (spec/peer.md). The
	 * bookkeeping covers VX_UPLOAD_SUPER_SEED_TASKS tasks of up to super_seed_pieces pieces
	 * (allocated at start); pieces beyond that are always served.
	 */
	bool super_seed;
	uint32_t super_seed_window_ms;		/* default 8000 */
	uint32_t super_seed_pieces;		/* default 65536 */
	const struct vx_upload_source_ops *ops; /* borrowed; outlives the server */
	void *ops_ctx;				/* passed to @ops */
	/*
	 * TLS 1.3 with client certificates (vx_dp_tls.h): NULL = plaintext. The server holds a
	 * reference of its own (SSL_CTX_up_ref) until vx_upload_set_tls() or vx_upload_free(). A client is served only once its certificate chained to the context's CA
	 * (and passed its CRL, when the context has one), named a vx identity, and
	 * @tls_admit (optional) returned 0 for it; otherwise the connection is closed after the
	 * handshake, before any request is read. Bodies are encrypted in user space from the
	 * piece's mapping (read into a buffer when it has none): @body_mode does not apply.
	 */
	struct ssl_ctx_st *tls;
	int (*tls_admit)(void *ctx, const struct vx_tls_id *peer);
	/*
	 * Per request on a TLS connection (optional): 0 when @peer may read task @task_id (64 hex
	 * characters, not NUL-terminated), else nonzero: the request is answered NOT_FOUND, as for
	 * an unknown task, and a subscription to it gets no bitfield. Tenants (spec/dataplane.md
	 * section 10). Gets @tls_admit_ctx.
	 */
	int (*task_admit)(void *ctx, const struct vx_tls_id *peer, const char *task_id);
	void *tls_admit_ctx;
	/*
	 * Members mode (spec/peer.md "Members"): a plaintext connection whose first frame is a
	 * control request (tag 0x60, spec/vortex.md section 6) is handed to @on_control with a
	 * duplicate of its socket (taken) and the @len bytes read so far, and leaves this server.
	 * With @tls, a connection whose first bytes are the STARTTLS header (vx_frame.h) instead of
	 * a TLS record is handed over the same way, with those bytes and whatever followed them
	 * (the start of its ClientHello): the handshake is the scheduler's.
	 * Called on the loop thread; must not block. NULL: refused like any unexpected tag.
	 */
	void (*on_control)(void *ctx, int fd, const uint8_t *pre, size_t len);
	void *on_control_ctx;
	/*
	 * lz4 piece bodies (spec/vortex.md 5.5), default on: offered in our HELLO, and a vx peer
	 * that offers it too may get a piece as COMPRESSED_PIECE_CONTENT when that wins on its
	 * connection (the link's delivery rate against lz4's measured rate and the ratio of the
	 * piece's first 64 KiB; never over TLS). Compressed pieces are kept (64 MiB at most) for
	 * the next child that asks. false: never offered, every body raw.
	 */
	bool lz4;
};

/* Counters, from vx_upload_stats(). */
struct vx_upload_stats {
	uint32_t conns;		  /* connections open now */
	uint64_t accepted;	  /* connections accepted since start */
	uint64_t rejected;	  /* connections refused: all slots busy, or the address's */
	uint64_t rejected_addr;	  /* of which refused by max_conns_per_addr */
	uint64_t requests;	  /* DownloadPiece requests parsed */
	uint64_t pieces_sent;	  /* piece bodies fully sent (at the last byte's completion) */
	uint64_t bytes_sent;	  /* body bytes sent */
	uint64_t errors_sent;	  /* Error frames sent */
	uint64_t timeouts;	  /* connections closed by idle, header, stall or wait limits */
	uint64_t protocol_errors; /* connections closed for malformed input */
	uint64_t haves_sent;	  /* piece numbers announced in HAVE frames */
	uint64_t busy_sent;	  /* requests deferred by super-seeding */
	uint64_t tls_dropped;	  /* open connections closed when their certificate stopped
				   * verifying (a CRL loaded again: vx_upload_set_tls) */
	uint64_t tls_handshakes;  /* TLS clients verified and admitted */
	uint64_t tls_refused;	  /* TLS handshakes failed or identities refused */
	uint64_t drained;	  /* connections closed by a drain with no answer cut */
	uint64_t drain_cut;	  /* connections a drain closed in the middle of a piece */
	uint64_t lz4_pieces_sent; /* piece bodies sent lz4-compressed (fully) */
	uint64_t lz4_bytes_saved; /* their uncompressed minus compressed bytes */
	uint64_t lz4_cache_max;	  /* the most bytes the compressed-piece cache held */
};

/* Fills @cfg with the defaults: 127.0.0.1:4005 and the limits above. */
void vx_upload_cfg_init(struct vx_upload_cfg *cfg);

/*
 * vx_upload_new() - create a server on @loop (borrowed; must outlive the server): allocate
 * every connection slot and splice pipe, bind and listen, arm a multishot accept.
 * @cfg: borrowed for the call (cfg->ops for the server's life).
 * @out: OUT, returns owned (free with vx_upload_free() after vx_upload_shutdown() finished).
 * Returns 0, -EINVAL (bad cfg), -ENOMEM, or -errno of socket/bind/listen/pipe.
 */
VX_MUST_CHECK int vx_upload_new(struct vx_upload **out, struct vx_loop *loop,
				const struct vx_upload_cfg *cfg);

/* The listening socket (a graceful upgrade hands it to the next process), lent. */
int vx_upload_listen_fd(const struct vx_upload *up);

/* The bound address (useful with port 0). */
void vx_upload_local_addr(const struct vx_upload *up, struct sockaddr_storage *addr,
			  socklen_t *addr_len);

/*
 * vx_upload_piece_finished() - tell the server that piece @number of @task_id (64 hex chars)
 * is now finished: requests waiting for it are answered at once, and subscribers get it in a
 * HAVE frame. HAVEs are coalesced: every piece finished during one loop drain (and while an
 * earlier frame still waits to be sent) shares one frame of up to 1,024 numbers, sent after
 * the drain (vx_loop_defer). Loop thread; safe inside completion handlers.
 */
void vx_upload_piece_finished(struct vx_upload *up, const char *task_id, uint32_t number);

/*
 * vx_upload_shutdown() - stop accepting, cancel everything and close every connection. The
 * work completes on the loop; vx_upload_idle() turns true when nothing is left in flight.
 */
void vx_upload_shutdown(struct vx_upload *up);

/*
 * vx_upload_drain() - the graceful end (an upgrade: another process accepts on the same
 * socket): stop accepting without closing the listening socket; every vx connection finishes
 * the answer it is sending, then gets a Close frame and is closed once the peer closed its
 * side (requests not started yet are not answered: the peer asks again); a plain connection
 * finishes its one answer. After @timeout_ms vx_upload_shutdown() closes what is left. Logs
 * "upload: drained N connections, M cut" when the last one is gone (counters in the stats).
 */
void vx_upload_drain(struct vx_upload *up, uint32_t timeout_ms);

/* True when the server has nothing in flight (after vx_upload_shutdown() or _drain()). */
bool vx_upload_idle(const struct vx_upload *up);

/* Takes @up; NULL is a no-op. Must be idle (asserted). */
void vx_upload_free(struct vx_upload *up);

/*
 * vx_upload_set_tls() - new connections use @tls (a reloaded context: renewed certificate, new
 * CRL); connections already open keep theirs, except that each client certificate is verified
 * again against @tls (vx_tls_peer_recheck) and a connection whose certificate no longer
 * verifies (revoked in the new CRL, expired) is closed (stats.tls_dropped). Only on the loop's
 * thread, only on a server made with cfg.tls, @tls not NULL. Takes a reference of @tls and drops
 * the old one.
 */
void vx_upload_set_tls(struct vx_upload *up, struct ssl_ctx_st *tls);

/* vx_upload_set_rate() - the global upload rate from now on (bytes/s, 0 unlimited); loop
 * thread only (the cluster configuration, spec/peer.md). */
void vx_upload_set_rate(struct vx_upload *up, uint64_t rate_bytes_per_s);

/* Copies the counters into @out (borrowed). */
void vx_upload_stats(const struct vx_upload *up, struct vx_upload_stats *out);

#endif /* VX_UPLOAD_H */
