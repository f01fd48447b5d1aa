/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fetcher.c: pulls one task's pieces from its parents (see vx_fetcher.h). Three pools are
 * allocated at creation and never grow: connection slots (max_parents x conns_per_parent),
 * piece writers (two per connection) and chunk buffers (cfg.buffers x chunk_bytes, aligned
 * for O_DIRECT). Each connection is a state machine (spec/dataplane.md):
 *
 *   FREE -> CONNECTING -> HANDSHAKE (vx: HELLO + INTEREST sent, waiting for HELLO)
 *                 |             |
 *                 |             v
 *                 +-------> ACTIVE (requests pipelined; answers received in order)
 *                                |
 *      any error / drop / done   v
 *                             CLOSING -> (inflight == 0, socket closed) -> FREE
 *
 * The receive side hands every header and value byte to vortex's incremental decoder
 * (vx_frame.h), reading no further than it wants, and switches on the frames it yields. A piece
 * body is received straight into a chunk buffer (CRC over each received range while it is hot),
 * or into the discard buffer when nobody needs it any more; the decoder only counts it. Sockets
 * and writes sit under a seam (fetcher_io.h): the ring here, a fake in the fuzz target.
 *
 * In a live swarm (the daemon) digests arrive one by one (vx_fetcher_trust(): an untrusted
 * piece is never picked), pieces may be finished by another path (vx_fetcher_have()), and
 * parent slots are recycled: a dropped parent's slot is free again once no connection and no
 * piece writer refers to it, and the addresses of parents given up (liars, and parents still
 * unreachable after the dial back-off) are kept in a small ring of bans. Picking pieces is
 * pick.c's: pure functions over the piece and parent tables.
 */
#include "vx_fetcher.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dataplane_int.h"
#include "dp_lz4.h"
#include "dp_tls.h"
#include "fetcher_io.h"
#include "pick.h"
#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_bitmap.h"
#include "vx_digest.h"
#include "vx_err.h"
#include "vx_frame.h"
#include "vx_frame_ext.h"
#include "vx_list.h"
#include "vx_log.h"
#include "vx_metrics.h"
#include "vx_loop.h"
#include "vx_net.h"
#include "vx_piece_plan.h"
#include "vx_time.h"

#define VX_FX_DEPTH_MAX 16
/* PieceContent metadata we accept (Dragonfly's is ~100 B): far below the protocol's limit. */
#define VX_FX_META_MAX 4096u
_Static_assert(VX_FX_META_MAX <= VX_PIECE_CONTENT_META_MAX, "a limit on top of vortex's");
/* Header and value bytes land here, at most this many per receive, before the decoder. */
#define VX_FX_RX_STAGE 4096u
/* Per connection: the decoder's value buffer, then the receive staging area. */
#define VX_FX_RXB (VX_FRAME_DEC_BUF_MIN + VX_FX_RX_STAGE)
/* One DownloadPiece (or CANCEL, the same layout) frame. */
#define VX_FX_REQ_LEN (VX_FRAME_HDR_LEN + VX_DOWNLOAD_PIECE_LEN)
_Static_assert(VX_CANCEL_LEN == VX_DOWNLOAD_PIECE_LEN, "CANCEL is a DownloadPiece value");
/* HELLO, INTEREST, and two pipelines of requests or cancels. */
#define VX_FX_TX                                                                \
	(VX_FRAME_HDR_LEN + VX_HELLO_LEN + VX_FRAME_HDR_LEN + VX_INTEREST_LEN + \
	 2 * VX_FX_DEPTH_MAX * VX_FX_REQ_LEN)
#define VX_FX_DISCARD	    (64u << 10)
#define VX_FX_PLAIN_RETRIES 3
/* A vx parent closing with requests unanswered, in a row, before it is dropped. */
#define VX_FX_UNANSWERED_CLOSES 2
/* expected time of a piece before one finished: the endgame waits 1.5x this (pick.h) */
#define VX_FX_PIECE_MS_GUESS 1000u

enum vx_fx_state {
	VX_FX_FREE = 0,
	VX_FX_CONNECTING = 1,
	VX_FX_HANDSHAKE = 2,
	VX_FX_ACTIVE = 3,
	VX_FX_CLOSING = 4,
	VX_FX_STATE_NR,
};

static const bool vx_fx_legal[VX_FX_STATE_NR][VX_FX_STATE_NR] = {
	[VX_FX_FREE] = { [VX_FX_CONNECTING] = true },
	[VX_FX_CONNECTING] = { [VX_FX_HANDSHAKE] = true,
			       [VX_FX_ACTIVE] = true,
			       [VX_FX_CLOSING] = true },
	[VX_FX_HANDSHAKE] = { [VX_FX_ACTIVE] = true, [VX_FX_CLOSING] = true },
	[VX_FX_ACTIVE] = { [VX_FX_CLOSING] = true },
	[VX_FX_CLOSING] = { [VX_FX_FREE] = true },
};

struct vx_fx_buf;

struct vx_fx_write {
	uint32_t number;
	struct vx_fetch_piece_io io;
	struct vx_fx_parent *parent;
	uint32_t crc;
	uint64_t sent_ns; /* when its request was queued */
	uint64_t cost_us; /* request to last byte */
	uint64_t received;
	uint32_t writes_inflight;
	bool body_done;
	bool failed;
	bool mirror_failed; /* some chunk is not in the mirror (vx_fetch_mirror) */
	int err;
	struct vx_list node; /* free list */
};

struct vx_fx_buf {
	uint8_t *mem;
	uint32_t gen;
	struct vx_op op;
	struct vx_fetcher *f;
	struct vx_fx_write *w;
	uint64_t file_off;
	uint32_t len;
	uint32_t done;
	bool mirroring; /* the sink has the chunk: now writing it to the mirror */
	struct vx_list node;
};

struct vx_fx_req {
	uint32_t number;
	bool cancelled;	  /* the piece got done elsewhere: discard the answer */
	uint64_t sent_ns; /* queued for sending (the start of the piece's cost) */
};

/* The address of a parent dropped for DIGEST: refused for the life of the fetcher. */
struct vx_fx_ban {
	struct sockaddr_storage addr;
	socklen_t addr_len;
};

struct vx_fx_conn {
	uint32_t gen;
	enum vx_fx_state state;
	int fd;
	uint32_t inflight;
	struct vx_fetcher *f;
	struct vx_fx_parent *parent;
	struct vx_list node;	  /* fetcher's free or active list */
	struct vx_list wait_node; /* fetcher's buffer waiters */
	struct vx_op connect_op;
	struct vx_op connect_to_op;
	struct vx_op send_op;
	struct vx_op recv_op;
	struct vx_op close_op;
	struct __kernel_timespec connect_ts;
	bool vx;	 /* this connection sent HELLO */
	bool sub_holder; /* this connection carries the parent's INTEREST */
	bool got_bytes;	 /* anything received at all */
	bool throttled;
	bool rx_armed;	  /* a receive is submitted */
	bool tx_armed;	  /* a send is submitted */
	bool close_armed; /* the socket's close is submitted */
	uint64_t last_rx_ms;
	/* Requests in order. */
	struct vx_fx_req q[VX_FX_DEPTH_MAX];
	uint32_t q_head;
	uint32_t q_len;
	uint32_t plain_requests; /* requests sent on a plain connection (at most 1) */
	/* Send side. */
	uint8_t tx[VX_FX_TX];
	uint32_t tx_off;
	uint32_t tx_len;
	/* Receive side: every byte through the decoder (a body's bytes only counted there). */
	struct vx_frame_dec dec;
	bool hdr_checked;      /* the frame being collected passed fx_check_header() */
	struct vx_fx_write *w; /* the body being received; NULL while one is discarded */
	struct vx_fx_buf *buf;
	/*
	 * A compressed body for c->w (spec/vortex.md 5.5): received whole into lz_comp,
	 * decompressed into lz_plain and checked, then moved through the chunk buffers like a
	 * raw body's bytes (lz_emitting: nothing more is received meanwhile). Allocated on the
	 * first compressed answer, freed with the connection.
	 */
	bool lz_on;
	bool lz_emitting;
	uint32_t lz_clen; /* compressed body length */
	uint32_t lz_got;  /* of it received */
	uint8_t *lz_comp;
	uint8_t *lz_plain;
	uint32_t lz_comp_cap;
	uint64_t lz_plain_cap;
	uint8_t *rxb; /* VX_FX_RXB bytes: the decoder's value buffer, then the staging area */
	/* TLS (cfg.tls): the engine, and the seam's receive and send it is carrying out. */
	struct vx__tls *tls;
	struct vx_loop_work tls_work; /* moves the engine on outside the seam's calls */
	uint8_t *tls_dst;	      /* the seam's receive: plaintext goes here */
	size_t tls_dst_len;
	const uint8_t *tls_src; /* the seam's send: these bytes get encrypted */
	size_t tls_src_len;
	uint32_t tls_plain; /* bytes of tls_src encrypted, sent once tx is empty */
	int tls_eof;	    /* the ring's receive ended (0 = not): 1 EOF, or -errno */
	bool tls_rx_want;   /* the seam's receive is pending */
	bool tls_tx_want;   /* the seam's send is pending */
	bool tls_tx_enc;    /* ... and encrypted (tls_plain) */
	bool tls_ring_rx;   /* a ring receive of ciphertext is armed (recv_op) */
	bool tls_ring_tx;   /* a ring send of ciphertext is armed (send_op) */
};

struct vx_fetcher {
	struct vx_loop *loop;
	struct vx_fetcher_cfg cfg;
	struct vx_fetch_mirror mirror; /* valid when has_mirror */
	bool has_mirror;
	char task_id[VX_TASK_ID_LEN + 1];
	uint32_t piece_count;
	uint32_t pieces_done;
	uint32_t bits_len;
	uint32_t *crc;
	struct vx_fx_piece *pieces;
	struct vx_fx_parent *parents;
	struct vx_pick pick;	/* the picker's view of pieces and parents (pick.h) */
	uint64_t *pick_index;	/* the picker's index memory (vx__pick_index_words()) */
	struct vx_fx_ban *bans; /* max_parents entries, a ring: the parents given up for good */
	uint32_t nr_bans;
	uint32_t ban_next;
	struct vx_fx_conn *conns;
	uint32_t nr_conns;
	struct vx_fx_write *writes;
	uint32_t nr_writes;
	struct vx_fx_buf *bufs;
	uint8_t *discard;
	struct vx_list free_conns;
	struct vx_list active_conns;
	struct vx_list free_writes;
	struct vx_list free_bufs;
	struct vx_list buf_waiters;
	uint32_t writes_inflight;
	struct vx_loop_ticker ticker;
	struct vx_loop_work kick;
	struct vx_loop_work finish_work;
	struct vx_loop_work no_parents_work;
	struct vx_bucket bucket;
	uint64_t rand;
	uint32_t first_missing; /* no piece below is missing (in_order picks start here) */
	bool finishing;
	bool done_reported;
	int status;
	struct vx_fetcher_stats stats;
	const struct vx_fx_io *io; /* sockets and writes: the ring, or a fake (fetcher_io.h) */
	void *io_ctx;
};

static void fx_close(struct vx_fx_conn *c);
static void fx_fill(struct vx_fx_conn *c);
static void fx_arm_recv(struct vx_fx_conn *c);
static void fx_maybe_finish(struct vx_fetcher *f);
static void fx_buf_put(struct vx_fetcher *f, struct vx_fx_buf *b);

void vx_fetcher_cfg_init(struct vx_fetcher_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->conns_per_parent = 2;
	cfg->pipeline_depth = 4;
	cfg->chunk_bytes = 1u << 20;
	cfg->buffers = 16;
	cfg->lz4 = true;
	cfg->max_parents = 16;
	cfg->connect_timeout_ms = 2000;
	cfg->stall_timeout_ms = VX_FETCH_STALL_MS;
	cfg->endgame_pieces = 4;
}

static void fx_set_state(struct vx_fx_conn *c, enum vx_fx_state to)
{
	VX_ASSERT(vx_fx_legal[c->state][to]);
	c->state = to;
	VX_DASSERT(c->state != VX_FX_FREE || c->inflight == 0);
	VX_DASSERT(c->state == VX_FX_FREE || c->parent != NULL);
}

static uint64_t piece_len(const struct vx_fetcher *f, uint32_t n)
{
	return vx_piece_size(n, f->cfg.content_length, f->cfg.piece_length);
}

/* ---- piece picking ---------------------------------------------------------------------- */

/*
 * Where a pick starts: a random piece, or in order the first one not done (the cursor only
 * moves forward, as pieces never become undone: amortized O(1) per piece).
 */
static uint32_t fx_pick_start(struct vx_fetcher *f)
{
	if (!f->cfg.in_order)
		return (uint32_t)(vx__rand(&f->rand) % VX_MAX(f->piece_count, 1u));
	while (f->first_missing < f->piece_count && f->pieces[f->first_missing].state == VX_FX_DONE)
		f->first_missing++;
	return f->first_missing < f->piece_count ? f->first_missing : 0;
}

void vx_fetcher_set_in_order(struct vx_fetcher *f, bool on)
{
	f->cfg.in_order = on;
}

/* Asks the picker (pick.h) for the next piece of connection @c; -1 if none. */
static int64_t fx_pick(struct vx_fx_conn *c)
{
	struct vx_fetcher *f = c->f;
	uint32_t asked[VX_FX_DEPTH_MAX];
	struct vx_pick_ask a = {
		.now_ms = vx_loop_now_ms(f->loop),
		.start = fx_pick_start(f),
		.remaining = f->piece_count - f->pieces_done,
		.asked = asked,
		.nr_asked = c->q_len,
	};
	bool dup;
	int64_t n;

	uint64_t t0 = vx_now_ns();

	for (uint32_t i = 0; i < c->q_len; i++)
		asked[i] = c->q[(c->q_head + i) % VX_FX_DEPTH_MAX].number;
	n = vx__pick_next(&f->pick, c->parent, &a, &dup);
	f->stats.picks++;
	f->stats.pick_ns += vx_now_ns() - t0;
	if (dup)
		f->stats.endgame_duplicates++;
	return n;
}

/* Takes the request of piece @n back: it becomes missing when nobody else asked for it. */
static void fx_unrequest(struct vx_fetcher *f, uint32_t n)
{
	struct vx_fx_piece *p = &f->pieces[n];

	VX_ASSERT(p->requesters > 0);
	/* WRITING and DONE pieces stay what they are: nobody may ask for them again. */
	vx__pick_set(&f->pick, n,
		     p->requesters == 1 && p->state == VX_FX_ACTIVE_PIECE ? VX_FX_MISSING
									  : p->state,
		     (uint8_t)(p->requesters - 1));
}

/* ---- sending ---------------------------------------------------------------------------- */

static void fx_kick_send(struct vx_fx_conn *c)
{
	if (c->tx_armed || c->tx_off == c->tx_len || c->state == VX_FX_CLOSING ||
	    c->state == VX_FX_CONNECTING)
		return;
	c->tx_armed = true;
	c->inflight++;
	c->f->io->send(c->f->io_ctx, c, c->tx + c->tx_off, c->tx_len - c->tx_off);
}

static bool fx_tx_room(const struct vx_fx_conn *c, uint32_t n)
{
	return c->tx_len + n <= sizeof(c->tx);
}

/* Appends a DownloadPiece (@tag) or CANCEL frame for piece @n; the caller checked the room. */
static void fx_tx_request(struct vx_fx_conn *c, uint8_t packet_id, uint8_t tag, uint32_t n)
{
	struct vx_download_piece r = { .piece_number = n };
	ssize_t len;

	memcpy(r.task_id, c->f->task_id, sizeof(r.task_id));
	len = vx_frame_encode_download(c->tx + c->tx_len, sizeof(c->tx) - c->tx_len, packet_id, tag,
				       &r);
	VX_ASSERT(len == VX_FX_REQ_LEN); /* the task id was checked at creation */
	c->tx_len += VX_FX_REQ_LEN;
}

static void fx_queue_request(struct vx_fx_conn *c, uint32_t n)
{
	struct vx_fetcher *f = c->f;
	struct vx_fx_req *r = &c->q[(c->q_head + c->q_len) % VX_FX_DEPTH_MAX];

	fx_tx_request(c, (uint8_t)vx__rand(&f->rand), f->cfg.request_tag, n);
	r->number = n;
	r->cancelled = false;
	r->sent_ns = vx_now_ns();
	c->q_len++;
	vx__pick_request(&f->pick, n, vx_loop_now_ms(f->loop));
	f->stats.requests_sent++;
	if (c->parent->plain)
		c->plain_requests++;
}

/* Tops the pipeline up to its depth with picked pieces. */
/* True when the task has cfg.max_pieces_out requests out (never, when that is 0). */
static bool fx_at_piece_cap(struct vx_fetcher *f)
{
	struct vx_list *pos;
	uint32_t out = 0;

	if (!f->cfg.max_pieces_out)
		return false;
	vx_list_for_each(pos, &f->active_conns) {
		out += vx_list_entry(pos, struct vx_fx_conn, node)->q_len;
	}
	return out >= f->cfg.max_pieces_out;
}

static void fx_fill(struct vx_fx_conn *c)
{
	struct vx_fetcher *f = c->f;
	uint32_t depth = c->parent->plain ? 1 : f->cfg.pipeline_depth;

	/* Several connections to one parent share its limit. */
	if (!c->parent->plain && c->parent->max_inflight)
		depth = VX_MIN(depth,
			       VX_MAX(1u, c->parent->max_inflight / f->cfg.conns_per_parent));
	/*
	 * In a swarm (other parents hold pieces too) a full parent (a seed, a finished peer) is
	 * asked one piece per connection: every child asks it, and deep pipelines from several
	 * children would fetch the same pieces from it several times before any child could pass
	 * them on. Alone, it gets the whole pipeline (vx-bench pair).
	 */
	if (!c->parent->plain && vx__pick_spare(&f->pick, c->parent))
		depth = 1;

	if (c->state != VX_FX_ACTIVE || f->finishing)
		return;
	while (c->q_len < depth && fx_tx_room(c, VX_FX_REQ_LEN) && !fx_at_piece_cap(f)) {
		int64_t n;

		if (c->parent->plain && c->plain_requests > 0)
			break;
		n = fx_pick(c);
		if (n < 0)
			break;
		fx_queue_request(c, (uint32_t)n);
	}
	fx_kick_send(c);
}

/* ---- connections ------------------------------------------------------------------------ */

static struct vx_fx_conn *fx_conn_get(struct vx_fetcher *f, struct vx_fx_parent *p)
{
	struct vx_fx_conn *c;

	if (vx_list_empty(&f->free_conns))
		return NULL;
	c = vx_list_first(&f->free_conns, struct vx_fx_conn, node);
	vx_list_del(&c->node);
	vx_list_add_tail(&f->active_conns, &c->node);
	c->parent = p;
	c->fd = -1;
	c->q_head = 0;
	c->q_len = 0;
	c->plain_requests = 0;
	c->tx_off = 0;
	c->tx_len = 0;
	vx_frame_dec_init(&c->dec, c->rxb, VX_FRAME_DEC_BUF_MIN, VX_FRAME_DEC_F_EXT, 0);
	c->hdr_checked = false;
	c->rx_armed = false;
	c->tx_armed = false;
	c->close_armed = false;
	c->w = NULL;
	c->buf = NULL;
	c->vx = false;
	c->sub_holder = false;
	c->got_bytes = false;
	c->throttled = false;
	c->last_rx_ms = vx_loop_now_ms(f->loop);
	vx_op_init(&c->connect_op, VX_OP_FX_CONNECT, c, &c->gen);
	vx_op_init(&c->connect_to_op, VX_OP_FX_CONNECT_TIMEOUT, c, &c->gen);
	vx_op_init(&c->send_op, VX_OP_FX_SEND, c, &c->gen);
	vx_op_init(&c->recv_op, VX_OP_FX_RECV, c, &c->gen);
	vx_op_init(&c->close_op, VX_OP_FX_CLOSE, c, &c->gen);
	p->conns++;
	vx_metric_inc(&vx_m_fetch_conns, 0);
	return c;
}

/*
 * Dials one more connection to @p. Returns false when none was started: the parent is gone,
 * no connection slot is free, or this host cannot make a socket now (EMFILE, ENOBUFS: not the
 * parent's fault, so no dial failure is counted; the tick tries again after the first back-off
 * step, where a loop retrying at once would spin).
 */
static bool fx_conn_open(struct vx_fetcher *f, struct vx_fx_parent *p)
{
	struct io_uring_sqe *sqe;
	struct vx_fx_conn *c;
	const struct vx_net_opts o = { .flags = VX_NET_NODELAY | VX_NET_KEEPALIVE };
	int fd;

	if (p->dropped || f->finishing)
		return false;
	c = fx_conn_get(f, p);
	if (!c)
		return false;
	fd = vx_net_tcp_socket(p->addr.ss_family, &o, NULL);
	if (fd < 0) {
		vx_warn("fetcher: socket: %s", vx_strerror(fd));
		vx_list_del(&c->node);
		vx_list_add(&f->free_conns, &c->node);
		p->conns--;
		vx_metric_add(&vx_m_fetch_conns, 0, -1);
		p->dial_at_ms = vx_loop_now_ms(f->loop) + VX_FETCH_DIAL_FIRST_MS;
		return false;
	}
	c->fd = fd;
	fx_set_state(c, VX_FX_CONNECTING);
	c->connect_ts.tv_sec = f->cfg.connect_timeout_ms / 1000;
	c->connect_ts.tv_nsec = (long long)(f->cfg.connect_timeout_ms % 1000) * 1000000ll;
	vx_ring_reserve(vx_loop_ring(f->loop), 2);
	sqe = vx_loop_sqe(f->loop);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&p->addr, p->addr_len);
	sqe->flags |= IOSQE_IO_LINK;
	vx_loop_arm(f->loop, &c->connect_op, sqe, false);
	sqe = vx_loop_sqe(f->loop);
	io_uring_prep_link_timeout(sqe, &c->connect_ts, 0);
	vx_loop_arm(f->loop, &c->connect_to_op, sqe, false);
	c->inflight += 2;
	if (p->conns > 1 || p->index > 0 || f->stats.requests_sent > 0)
		f->stats.reconnects++;
	return true;
}

/* Opens connections up to the per-parent count for every usable parent. */
static void fx_top_up(struct vx_fetcher *f)
{
	uint64_t now = vx_loop_now_ms(f->loop);
	uint32_t i;

	for (i = 0; i < f->pick.nr_parents; i++) {
		struct vx_fx_parent *p = &f->parents[i];
		uint32_t want = p->mode_known ? f->cfg.conns_per_parent : 1;

		if (!p->used || p->dropped || now < p->dial_at_ms)
			continue; /* the tick dials again once the back-off is over */
		/* a plain connection asks one piece and closes: none while nothing may be asked */
		if (p->plain && p->conns < want &&
		    (!vx__pick_has_work(&f->pick, p, f->piece_count - f->pieces_done, now) ||
		     fx_at_piece_cap(f)))
			continue;
		while (p->conns < want && !vx_list_empty(&f->free_conns) && !f->finishing) {
			if (!fx_conn_open(f, p))
				break;
		}
	}
}

static void fx_op_done(struct vx_fx_conn *c)
{
	VX_ASSERT(c->inflight > 0);
	c->inflight--;
	if (c->state != VX_FX_CLOSING || c->inflight > 0 || c->close_armed)
		return;
	if (c->buf) {
		/*
		 * A partly filled chunk never reaches the disk. It goes back only now: a cancelled
		 * recv may have been writing into it until its CQE.
		 */
		struct vx_fx_buf *b = c->buf;

		c->buf = NULL;
		fx_buf_put(c->f, b);
	}
	c->close_armed = true;
	c->inflight++;
	c->f->io->close(c->f->io_ctx, c);
}

/* A piece writer goes back to the pool; its parent slot may be reused once none name it. */
static void fx_write_put(struct vx_fetcher *f, struct vx_fx_write *w)
{
	VX_ASSERT(w->parent->writes > 0);
	w->parent->writes--;
	w->parent = NULL;
	vx_list_add(&f->free_writes, &w->node);
}

/* Releases everything the connection holds of the task: requests and the body in progress. */
static void fx_conn_release_work(struct vx_fx_conn *c)
{
	struct vx_fetcher *f = c->f;

	if (c->w) {
		c->w->failed = true;
		c->w->body_done = true;
		if (c->w->writes_inflight == 0) {
			f->cfg.sink->abort(f->cfg.sink_ctx, c->w->number, c->w->err);
			fx_write_put(f, c->w);
		}
		c->w = NULL;
	}
	c->lz_on = false;
	c->lz_emitting = false;
	while (c->q_len > 0) {
		struct vx_fx_req *r = &c->q[c->q_head];

		fx_unrequest(f, r->number);
		c->q_head = (c->q_head + 1) % VX_FX_DEPTH_MAX;
		c->q_len--;
	}
}

static void fx_close(struct vx_fx_conn *c)
{
	struct vx_fetcher *f = c->f;

	if (c->state == VX_FX_CLOSING || c->state == VX_FX_FREE)
		return;
	fx_conn_release_work(c);
	vx_list_del(&c->wait_node);
	if (c->sub_holder) {
		/* The next connection subscribes again; its BITFIELD brings us up to date. */
		c->parent->subscribed = false;
		c->sub_holder = false;
	}
	fx_set_state(c, VX_FX_CLOSING);
	f->io->shutdown(f->io_ctx, c);
	c->inflight++;
	fx_op_done(c);
	vx_loop_defer(f->loop, &f->kick);
}

static uint32_t fx_live_parents(const struct vx_fetcher *f)
{
	uint32_t i, live = 0;

	for (i = 0; i < f->pick.nr_parents; i++) {
		if (f->parents[i].used && !f->parents[i].dropped)
			live++;
	}
	return live;
}

/*
 * Remembers the address of a parent given up for good (a liar, one that spoke garbage, or one
 * that could not be reached VX_FETCH_DIAL_TRIES times); the oldest ban goes when the table is
 * full.
 */
static void fx_ban(struct vx_fetcher *f, const struct vx_fx_parent *p)
{
	struct vx_fx_ban *b = &f->bans[f->ban_next];

	memcpy(&b->addr, &p->addr, sizeof(b->addr));
	b->addr_len = p->addr_len;
	f->ban_next = (f->ban_next + 1) % f->cfg.max_parents;
	if (f->nr_bans < f->cfg.max_parents)
		f->nr_bans++;
}

static void fx_drop_parent(struct vx_fx_parent *p, struct vx_fetcher *f, enum vx_fetch_drop why,
			   int err)
{
	struct vx_list *pos, *tmp;

	if (p->dropped)
		return;
	p->dropped = true;
	if (why == VX_FETCH_DROP_DIGEST || why == VX_FETCH_DROP_CONNECT ||
	    why == VX_FETCH_DROP_PROTOCOL)
		fx_ban(f, p);
	f->stats.parents_dropped++;
	vx_metric_add(&vx_m_pieces, VX_M_PIECE_TIMEOUT, why == VX_FETCH_DROP_STALL);
	vx__pick_recount(&f->pick, p); /* its pieces no longer count */
	vx_list_for_each_safe(pos, tmp, &f->active_conns) {
		struct vx_fx_conn *c = vx_list_entry(pos, struct vx_fx_conn, node);

		if (c->parent == p)
			fx_close(c);
	}
	vx_info("fetcher: parent %u dropped (%d): %s", p->index, (int)why, vx_strerror(err));
	if (f->cfg.on_parent_dropped)
		f->cfg.on_parent_dropped(f->cfg.cb_arg, p->index, why, err);
	if (f->cfg.persistent && f->cfg.on_no_parents && fx_live_parents(f) == 0)
		vx_loop_defer(f->loop, &f->no_parents_work);
	vx_loop_defer(f->loop, &f->kick);
}

/* ---- pieces ----------------------------------------------------------------------------- */

static void fx_buf_put(struct vx_fetcher *f, struct vx_fx_buf *b)
{
	b->w = NULL;
	vx_list_add(&f->free_bufs, &b->node);
	if (!vx_list_empty(&f->buf_waiters)) {
		struct vx_fx_conn *c = vx_list_first(&f->buf_waiters, struct vx_fx_conn, wait_node);

		vx_list_del(&c->wait_node);
		fx_arm_recv(c);
	}
}

/*
 * Piece @n is done: requests for it still out (the endgame loser, or all of them when the
 * piece was had by another path) are dropped by CANCEL where the parent takes it; either
 * way their answers are discarded.
 */
static void fx_cancel_requests(struct vx_fetcher *f, uint32_t n)
{
	struct vx_list *pos;

	vx_list_for_each(pos, &f->active_conns) {
		struct vx_fx_conn *c = vx_list_entry(pos, struct vx_fx_conn, node);
		uint32_t i;

		for (i = 0; i < c->q_len; i++) {
			struct vx_fx_req *r = &c->q[(c->q_head + i) % VX_FX_DEPTH_MAX];

			if (r->number != n || r->cancelled)
				continue;
			r->cancelled = true;
			if ((c->parent->features & VX_HELLO_F_CANCEL) &&
			    fx_tx_room(c, VX_FX_REQ_LEN)) {
				fx_tx_request(c, 0, VX_TAG_CANCEL, n);
				fx_kick_send(c);
			}
		}
	}
}

/* Called when a piece's body is complete and all its writes finished. */
static void fx_piece_finish(struct vx_fetcher *f, struct vx_fx_write *w)
{
	int ret;

	if (!w->failed && f->pieces[w->number].state == VX_FX_DONE) {
		/* Had by another path meanwhile (vx_fetcher_have()): give the reservation back. */
		w->failed = true;
		w->err = 0;
	}
	if (!w->failed) {
		ret = f->cfg.sink->commit(f->cfg.sink_ctx, w->number, w->crc, w->parent->id);
		if (ret < 0) {
			w->failed = true;
			w->err = ret;
		}
	} else {
		f->cfg.sink->abort(f->cfg.sink_ctx, w->number, w->err);
	}
	if (w->failed) {
		struct vx_fx_piece *p = &f->pieces[w->number];

		if (p->state != VX_FX_DONE)
			vx__pick_set(&f->pick, w->number,
				     p->requesters > 0 ? VX_FX_ACTIVE_PIECE : VX_FX_MISSING,
				     p->requesters);
		if (w->err == -ENOSPC || w->err == -EIO || w->err == -EROFS || w->err == -EDQUOT) {
			/* No parent can help a failing disk. */
			f->status = w->err;
			f->finishing = true;
		}
	} else {
		vx__pick_set(&f->pick, w->number, VX_FX_DONE, f->pieces[w->number].requesters);
		f->pieces_done++;
		f->stats.pieces_done = f->pieces_done;
		vx_metric_piece_ok(w->cost_us);
		if (w->cost_us)
			vx__pick_piece_time(&f->pick, w->cost_us / 1000);
		if (!w->mirror_failed)
			f->mirror.done(f->mirror.ctx, w->number);
		if (f->cfg.on_piece)
			f->cfg.on_piece(f->cfg.cb_arg, w->number);
		if (f->cfg.on_piece_from)
			f->cfg.on_piece_from(f->cfg.cb_arg, w->number, w->parent->index,
					     w->io.length, w->cost_us);
		fx_cancel_requests(f, w->number);
	}
	fx_write_put(f, w);
	fx_maybe_finish(f);
	vx_loop_defer(f->loop, &f->kick);
}

static void fx_submit_write(struct vx_fetcher *f, struct vx_fx_buf *b)
{
	f->io->write(f->io_ctx, b, b->mirroring ? f->mirror.fd : b->w->io.fd, b->mem + b->done,
		     b->len - b->done, b->file_off + b->done);
}

/* The sink has chunk @b: writes it to the mirror as well; false when it is not to be. */
static bool fx_mirror_chunk(struct vx_fetcher *f, struct vx_fx_buf *b)
{
	struct vx_fx_write *w = b->w;

	if (!f->has_mirror || w->failed || w->mirror_failed)
		return false;
	if (f->mirror.direct && ((b->file_off | b->len) & (f->mirror.align - 1))) {
		w->mirror_failed = true; /* the tail: the mirror's owner copies that piece */
		return false;
	}
	b->mirroring = true;
	b->done = 0;
	fx_submit_write(f, b);
	return true;
}

int vx_fetcher_set_mirror(struct vx_fetcher *f, const struct vx_fetch_mirror *m)
{
	if (f->has_mirror)
		return -EBUSY;
	if (!m || m->fd < 0 || !m->done ||
	    (m->direct && (!m->align || (m->align & (m->align - 1)))))
		return -EINVAL;
	f->mirror = *m;
	f->has_mirror = true;
	return 0;
}

void vx__fx_write_done(struct vx_fx_buf *b, int res)
{
	struct vx_fetcher *f = b->f;
	struct vx_fx_write *w = b->w;

	VX_ASSERT(w != NULL);
	if (res == -EINTR || res == -EAGAIN) {
		fx_submit_write(f, b);
		return;
	}
	if (res > 0 && b->done + (uint32_t)res < b->len) {
		b->done += (uint32_t)res;
		fx_submit_write(f, b);
		return;
	}
	if (b->mirroring) {
		if (res <= 0)
			w->mirror_failed = true;
	} else if (res <= 0) {
		w->failed = true;
		w->err = res < 0 ? res : -EIO;
	} else if (fx_mirror_chunk(f, b)) {
		return;
	}
	f->writes_inflight--;
	w->writes_inflight--;
	fx_buf_put(f, b);
	if (w->body_done && w->writes_inflight == 0)
		fx_piece_finish(f, w);
}

/* The current chunk is full or the body ended: write it out. */
static void fx_flush_chunk(struct vx_fx_conn *c)
{
	struct vx_fetcher *f = c->f;
	struct vx_fx_buf *b = c->buf;

	c->buf = NULL;
	if (b->len == 0) {
		fx_buf_put(f, b);
		return;
	}
	b->done = 0;
	b->mirroring = false;
	c->w->writes_inflight++;
	f->writes_inflight++;
	fx_submit_write(f, b);
}

/* ---- receiving -------------------------------------------------------------------------- */

static void fx_body_done(struct vx_fx_conn *c);
static void fx_fail(struct vx_fx_conn *c, enum vx_fetch_drop why, int err);
static int fx_start_body(struct vx_fx_conn *c, const struct vx_piece_content *m);

/* Gives c->w a chunk buffer at its next offset unless it has one; false: it waits for one. */
static bool fx_take_buf(struct vx_fx_conn *c)
{
	struct vx_fetcher *f = c->f;

	if (c->buf)
		return true;
	if (vx_list_empty(&f->free_bufs)) {
		if (vx_list_empty(&c->wait_node))
			vx_list_add_tail(&f->buf_waiters, &c->wait_node);
		return false;
	}
	c->buf = vx_list_first(&f->free_bufs, struct vx_fx_buf, node);
	vx_list_del(&c->buf->node);
	c->buf->w = c->w;
	c->buf->file_off = c->w->io.offset + c->w->received;
	c->buf->len = 0;
	return true;
}

/*
 * Moves the decompressed, verified piece through the chunk buffers to the sink, as a raw
 * body's bytes go; ends the body when all went. False while it waits for a buffer.
 */
static bool fx_lz4_emit(struct vx_fx_conn *c)
{
	struct vx_fetcher *f = c->f;
	struct vx_fx_write *w = c->w;
	uint32_t n;

	while (w->received < w->io.length) {
		if (!fx_take_buf(c))
			return false;
		n = (uint32_t)VX_MIN((uint64_t)(f->cfg.chunk_bytes - c->buf->len),
				     w->io.length - w->received);
		memcpy(c->buf->mem + c->buf->len, c->lz_plain + w->received, n);
		c->buf->len += n;
		w->received += n;
		if (w->received < w->io.length && c->buf->len == f->cfg.chunk_bytes)
			fx_flush_chunk(c);
	}
	c->lz_emitting = false;
	fx_body_done(c);
	return true;
}

/*
 * A compressed body is in: decompressed and checked before any byte of it goes to the sink. A
 * block that does not decompress to exactly the piece drops the parent (PROTOCOL); bytes that
 * do not match the trusted CRC drop it as a liar (DIGEST); either way nothing is stored.
 */
static void fx_lz4_body_done(struct vx_fx_conn *c)
{
	struct vx_fetcher *f = c->f;
	struct vx_fx_write *w = c->w;

	c->lz_on = false;
	if (vx__lz4_decode(c->lz_comp, c->lz_clen, c->lz_plain, w->io.length) < 0) {
		vx_info("fetcher: parent %u: piece %u: compressed body does not decompress to "
			"its %" PRIu64 " bytes",
			c->parent->index, w->number, w->io.length);
		fx_fail(c, VX_FETCH_DROP_PROTOCOL, -EPROTO);
		return;
	}
	w->crc = vx_crc32(0, c->lz_plain, w->io.length);
	if (w->crc != f->crc[w->number]) {
		fx_body_done(c); /* the liar's path: no chunk was written */
		return;
	}
	f->stats.lz4_pieces++;
	vx_metric_inc(&vx_m_lz4_pieces, VX_M_DIR_RECEIVED);
	vx_metric_add(&vx_m_lz4_saved_bytes, VX_M_DIR_RECEIVED,
		      (int64_t)(w->io.length - c->lz_clen));
	c->lz_emitting = true;
	(void)fx_lz4_emit(c);
}

/* Frees a connection's compressed-body buffers (the connection is closed). */
static void fx_lz4_free(struct vx_fx_conn *c)
{
	vx_free(c->lz_comp);
	vx_free(c->lz_plain);
	c->lz_comp = NULL;
	c->lz_plain = NULL;
	c->lz_comp_cap = 0;
	c->lz_plain_cap = 0;
}

/*
 * A COMPRESSED_PIECE_CONTENT head: the piece it describes is checked as a raw one's, and its
 * body is received whole when the piece is wanted. Returns 0 or -EPROTO (a body above
 * LZ4_compressBound of the piece, a piece above VX_LZ4_PIECE_MAX) or -ENOMEM.
 */
static int fx_start_lz4(struct vx_fx_conn *c, const struct vx_frame *fr)
{
	uint32_t bound = vx__lz4_bound(fr->content.length);
	int ret;

	if (bound == 0 || fr->body_len > bound)
		return -EPROTO;
	ret = fx_start_body(c, &fr->content);
	if (ret < 0 || !c->w)
		return ret; /* not wanted: discarded like a raw body */
	if (c->lz_comp_cap < bound) {
		vx_free(c->lz_comp);
		c->lz_comp = vx_malloc(bound);
		c->lz_comp_cap = c->lz_comp ? bound : 0;
	}
	if (c->lz_plain_cap < fr->content.length) {
		vx_free(c->lz_plain);
		c->lz_plain = vx_malloc(fr->content.length);
		c->lz_plain_cap = c->lz_plain ? fr->content.length : 0;
	}
	if (!c->lz_comp || !c->lz_plain)
		return -ENOMEM;
	c->lz_on = true;
	c->lz_clen = (uint32_t)fr->body_len;
	c->lz_got = 0;
	return 0;
}

static void fx_arm_recv(struct vx_fx_conn *c)
{
	struct vx_fetcher *f = c->f;
	uint64_t body_left = vx_frame_dec_body_left(&c->dec);
	uint8_t *dst;
	uint64_t want;

	if (c->rx_armed || c->state == VX_FX_CLOSING || c->state == VX_FX_CONNECTING)
		return;
	/* A decompressed piece still going to its chunks: the next frame waits. */
	if (c->lz_emitting && (!fx_lz4_emit(c) || c->state == VX_FX_CLOSING))
		return;
	if (body_left > 0 && c->lz_on) {
		want = body_left;
		dst = c->lz_comp + c->lz_got;
	} else if (body_left > 0 && c->w) {
		if (!fx_take_buf(c))
			return;
		want = VX_MIN(body_left, (uint64_t)(f->cfg.chunk_bytes - c->buf->len));
		dst = c->buf->mem + c->buf->len;
	} else if (body_left > 0) {
		/* A body nobody needs any more. */
		want = VX_MIN(body_left, (uint64_t)VX_FX_DISCARD);
		dst = f->discard;
	} else {
		/* Never past the frame's end: a body after it goes to its own buffer. */
		want = VX_MIN(vx_frame_dec_want(&c->dec), VX_FX_RX_STAGE);
		dst = c->rxb + VX_FRAME_DEC_BUF_MIN;
	}
	if (body_left > 0) {
		want = vx_bucket_peek(&f->bucket, want, vx_loop_now_ms(f->loop));
		want = vx_rate_peek(f->cfg.task_rate, want);
		want = vx_rate_peek(f->cfg.shared_rate, want);
		if (want == 0) {
			c->throttled = true;
			return;
		}
	}
	VX_ASSERT(want > 0);
	c->rx_armed = true;
	c->inflight++;
	f->io->recv(f->io_ctx, c, dst, (size_t)want);
}

/* Starts reading the body of the answer at the head of the queue. */
static int fx_start_body(struct vx_fx_conn *c, const struct vx_piece_content *m)
{
	struct vx_fetcher *f = c->f;
	struct vx_fx_req *r = &c->q[c->q_head];
	struct vx_fx_write *w;
	int ret;

	if (m->number != r->number || m->length != piece_len(f, r->number) ||
	    m->offset != vx_piece_offset(r->number, f->cfg.piece_length))
		return -EPROTO;
	/* From here on c->w == NULL means the body is received into the discard buffer. */
	if (r->cancelled || f->pieces[r->number].state >= VX_FX_WRITING ||
	    vx_list_empty(&f->free_writes))
		return 0;
	w = vx_list_first(&f->free_writes, struct vx_fx_write, node);
	ret = f->cfg.sink->begin(f->cfg.sink_ctx, r->number, &w->io);
	if (ret == -EALREADY || ret == -EBUSY) {
		/* Another connection is writing it (endgame): let that one win. */
		return 0;
	}
	if (ret < 0)
		return ret;
	if (w->io.direct && (w->io.align == 0 || (w->io.align & (w->io.align - 1)) != 0 ||
			     w->io.offset % w->io.align != 0 || w->io.length % w->io.align != 0 ||
			     f->cfg.chunk_bytes % w->io.align != 0)) {
		/* A sink that breaks its own O_DIRECT contract: no parent can fix that. */
		f->cfg.sink->abort(f->cfg.sink_ctx, r->number, 0);
		f->status = -EINVAL;
		f->finishing = true;
		vx_loop_defer(f->loop, &f->kick);
		return 0;
	}
	VX_ASSERT(w->io.length == m->length);
	vx_list_del(&w->node);
	w->number = r->number;
	w->parent = c->parent;
	w->parent->writes++;
	w->sent_ns = r->sent_ns;
	w->cost_us = 0;
	w->crc = 0;
	w->received = 0;
	w->writes_inflight = 0;
	w->body_done = false;
	w->failed = false;
	w->mirror_failed = !f->has_mirror;
	w->err = 0;
	c->w = w;
	return 0;
}

/* The answer at the head of the queue is complete. */
static void fx_answer_done(struct vx_fx_conn *c)
{
	struct vx_fetcher *f = c->f;
	struct vx_fx_req *r = &c->q[c->q_head];

	fx_unrequest(f, r->number);
	c->q_head = (c->q_head + 1) % VX_FX_DEPTH_MAX;
	c->q_len--;
	if (c->parent->plain) {
		/* Dragonfly closes after one answer; so do we, and open the next connection. */
		fx_close(c);
		return;
	}
	fx_fill(c);
}

static void fx_body_done(struct vx_fx_conn *c)
{
	struct vx_fetcher *f = c->f;
	struct vx_fx_write *w = c->w;
	struct vx_fx_parent *p = c->parent;
	bool lied = w->crc != f->crc[w->number];

	if (c->buf)
		fx_flush_chunk(c);
	c->w = NULL;
	w->body_done = true;
	w->cost_us = (vx_now_ns() - w->sent_ns) / 1000;
	if (lied) {
		/* The bytes are not the trusted piece: whatever the sender claimed, it lied. */
		w->failed = true;
		f->stats.digest_failures++;
		vx_metric_inc(&vx_m_pieces, VX_M_PIECE_DIGEST_MISMATCH);
	} else {
		p->closes_unanswered = 0;
	}
	if (!lied && f->pieces[w->number].state != VX_FX_DONE)
		vx__pick_set(&f->pick, w->number, VX_FX_WRITING, f->pieces[w->number].requesters);
	/* Our own request goes first, so finishing the piece cancels only other copies. */
	fx_answer_done(c);
	if (w->writes_inflight == 0)
		fx_piece_finish(f, w);
	if (lied)
		fx_drop_parent(p, f, VX_FETCH_DROP_DIGEST, VX_EDIGEST);
}

/* @n body bytes arrived where fx_arm_recv() asked; the decoder has counted them. */
static void fx_got_body_bytes(struct vx_fx_conn *c, uint32_t n)
{
	struct vx_fetcher *f = c->f;
	bool last = vx_frame_dec_body_left(&c->dec) == 0;

	f->stats.bytes_received += n;
	vx_bucket_take(&f->bucket, n);
	vx_rate_take(f->cfg.task_rate, n);
	vx_rate_take(f->cfg.shared_rate, n);
	if (!c->w) {
		if (last)
			fx_answer_done(c);
		return;
	}
	if (c->lz_on) {
		c->lz_got += n;
		if (last)
			fx_lz4_body_done(c);
		return;
	}
	c->w->crc = vx_crc32(c->w->crc, c->buf->mem + c->buf->len, n);
	c->w->received += n;
	c->buf->len += n;
	if (last) {
		fx_body_done(c);
		return;
	}
	if (c->buf->len == f->cfg.chunk_bytes)
		fx_flush_chunk(c);
}

/*
 * The data plane's limits on a frame whose header just came in, on top of vortex's: which
 * frames this connection may get now, and the 4 KiB metadata bound. Applied before any value
 * byte is collected. Returns 0 or -EPROTO.
 */
static int fx_check_header(const struct vx_fx_conn *c, const struct vx_frame_hdr *h)
{
	const struct vx_fetcher *f = c->f;

	if (vx_tag_is_content(h->tag))
		return c->q_len > 0 && h->length <= 4 + VX_FX_META_MAX ? 0 : -EPROTO;
	switch (h->tag) {
	case VX_TAG_COMPRESSED_PIECE_CONTENT:
		return (c->parent->features & VX_HELLO_F_LZ4) && c->q_len > 0 &&
				       h->length <= 4 + VX_FX_META_MAX + VX_COMPRESSED_TRAILER_LEN
			       ? 0
			       : -EPROTO;
	case VX_TAG_ERROR:
	case VX_TAG_CLOSE:
		return 0;
	case VX_TAG_HELLO:
		return c->vx ? 0 : -EPROTO;
	case VX_TAG_BITFIELD:
		return c->parent->subscribed && h->length == vx_bitfield_value_len(f->piece_count)
			       ? 0
			       : -EPROTO;
	case VX_TAG_HAVE:
		return c->parent->subscribed ? 0 : -EPROTO;
	default:
		/* Requests, INTEREST and CANCEL go the other way. */
		return -EPROTO;
	}
}

static void fx_fail(struct vx_fx_conn *c, enum vx_fetch_drop why, int err)
{
	fx_drop_parent(c->parent, c->f, why, err);
}

/*
 * The parent closed the connection (@res 0), sent Close (0 too), or the connection failed
 * (@res < 0).
 */
static void fx_peer_closed(struct vx_fx_conn *c, int res)
{
	struct vx_fx_parent *p = c->parent;

	if (!c->got_bytes && c->vx && !p->mode_known) {
		/* Closed on our HELLO: a Dragonfly peer. Use plain Vortex from now on. */
		p->plain = true;
		p->mode_known = true;
		p->all_pieces = true;
		fx_close(c);
	} else if (c->q_len == 0 && c->state == VX_FX_ACTIVE) {
		/* Plain: closed after its answer. vx: closed while idle (its idle limit). */
		fx_close(c);
	} else if (!p->plain && c->state == VX_FX_ACTIVE && vx_frame_dec_at_boundary(&c->dec) &&
		   ++p->closes_unanswered < VX_FX_UNANSWERED_CLOSES) {
		/*
		 * vx, closed between answers with requests outstanding: its idle limit fired as
		 * our next request was on the way (the close, or a reset, crossed it). The
		 * requests go back and the parent is dialled again; one that keeps doing it
		 * without ever sending a piece is dropped.
		 */
		fx_close(c);
	} else if (p->plain && ++p->plain_failures < VX_FX_PLAIN_RETRIES) {
		fx_close(c);
	} else {
		fx_fail(c, VX_FETCH_DROP_ERROR, res ? res : -ECONNRESET);
	}
}

/*
 * A "not found" for piece @n from a parent that announced it (BITFIELD or HAVE; not one only
 * assumed to hold every piece): a vx parent announces finished pieces only, so it claimed what
 * it lacks (issue 18 "Lying peers"). The caller drops it with VX_FETCH_DROP_NOT_FOUND and the
 * daemon reports it to the scheduler like the other liars.
 */
static bool fx_denied_claim(const struct vx_fx_parent *p, uint32_t n)
{
	return p->announced && !p->all_pieces && !p->plain && vx_bit_get(p->bits, n);
}

/* Handles a decoded frame (not a body); returns a negative errno to drop the parent. */
static int fx_got_frame(struct vx_fx_conn *c, const struct vx_frame *fr)
{
	struct vx_fetcher *f = c->f;
	union {
		struct vx_hello hello;
		struct vx_bitfield bits;
		struct vx_have have;
		struct vx_error_value err;
	} u;
	uint32_t i;

	if (vx_tag_is_content(fr->hdr.tag)) {
		/* Dragonfly's framing only: the header's length is the value's, the body follows. */
		if (fr->value_len != fr->hdr.length || fx_start_body(c, &fr->content) < 0)
			return -EPROTO;
		return 0;
	}
	switch (fr->hdr.tag) {
	case VX_TAG_COMPRESSED_PIECE_CONTENT:
		/* The header's length is the value's (no other framing); the body follows. */
		if (fr->value_len != fr->hdr.length || fx_start_lz4(c, fr) < 0)
			return -EPROTO;
		return 0;
	case VX_TAG_HELLO:
		if (c->state != VX_FX_HANDSHAKE ||
		    vx_hello_decode(fr->value, fr->value_len, &u.hello) < 0)
			return -EPROTO;
		c->parent->features =
			u.hello.features & (VX_HELLO_F_PIPELINE | VX_HELLO_F_AVAILABILITY |
					    VX_HELLO_F_CANCEL | (f->cfg.lz4 ? VX_HELLO_F_LZ4 : 0));
		c->parent->mode_known = true;
		c->parent->max_inflight = u.hello.max_inflight;
		c->parent->all_pieces = !(u.hello.features & VX_HELLO_F_AVAILABILITY);
		fx_set_state(c, VX_FX_ACTIVE);
		vx_loop_defer(f->loop, &f->kick);
		return 0;
	case VX_TAG_BITFIELD:
		if (vx_bitfield_decode(fr->value, fr->value_len, &u.bits) < 0 ||
		    memcmp(u.bits.task_id, f->task_id, VX_TASK_ID_LEN) != 0 ||
		    u.bits.piece_count != f->piece_count)
			return -EPROTO;
		c->parent->announced = true;
		for (i = 0; i < f->piece_count; i++) {
			if (vx_bitfield_has(&u.bits, i))
				(void)vx__pick_gain(&f->pick, c->parent, i);
		}
		vx_loop_defer(f->loop, &f->kick);
		return 0;
	case VX_TAG_HAVE:
		if (vx_have_decode(fr->value, fr->value_len, &u.have) < 0 ||
		    memcmp(u.have.task_id, f->task_id, VX_TASK_ID_LEN) != 0)
			return -EPROTO;
		c->parent->announced = true;
		for (i = 0; i < u.have.count; i++) {
			uint32_t n = vx_have_number(&u.have, i);

			if (n >= f->piece_count)
				return -EPROTO;
			(void)vx__pick_gain(&f->pick, c->parent, n);
		}
		vx_loop_defer(f->loop, &f->kick);
		return 0;
	case VX_TAG_ERROR:
		if (c->q_len == 0 || vx_error_decode(fr->value, fr->value_len, &u.err) < 0)
			return -EPROTO;
		vx_metric_add(&vx_m_pieces, VX_M_PIECE_REFUSED, u.err.code == VX_ERROR_CODE_BUSY);
		if (u.err.code == VX_ERROR_CODE_CANCELLED || u.err.code == VX_ERROR_CODE_BUSY) {
			/*
			 * Cancelled: we asked for that. Busy: the piece goes back to be asked
			 * again, from this parent not before VX_FX_BUSY_MS (a seed that sent it
			 * to another child just now: that child will have it soon).
			 */
			if (u.err.code == VX_ERROR_CODE_BUSY)
				vx__pick_refuse(&f->pick, c->parent, c->q[c->q_head].number,
						vx_loop_now_ms(f->loop));
			fx_answer_done(c);
			return 0;
		}
		if (u.err.code != VX_ERROR_CODE_NOT_FOUND)
			return VX_EPEER_ERROR;
		i = c->q[c->q_head].number;
		if (fx_denied_claim(c->parent, i)) {
			/* It announced that piece: vx parents announce only what they hold. */
			fx_answer_done(c);
			fx_drop_parent(c->parent, f, VX_FETCH_DROP_NOT_FOUND, -ENOENT);
			return 0;
		}
		/* It does not have the piece (yet): forget that it had it. */
		vx__pick_lose(&f->pick, c->parent, i);
		/* A parent without availability: stop assuming it has everything. */
		if (c->parent->all_pieces && !c->parent->subscribed)
			vx__pick_all_but(&f->pick, c->parent, i);
		fx_answer_done(c);
		return 0;
	case VX_TAG_CLOSE:
		/* The parent ends the connection on purpose (spec/vortex.md 3.4). */
		fx_peer_closed(c, 0);
		return 0;
	default:
		return -EPROTO; /* fx_check_header() let no other tag through */
	}
}

/*
 * @n header or value bytes arrived at @p (at most what the decoder wanted): feeds them to the
 * decoder and acts on what it yields. Returns 0 or a negative errno to drop the parent.
 */
static int fx_got_frame_bytes(struct vx_fx_conn *c, const uint8_t *p, size_t n)
{
	const struct vx_frame_hdr *h;
	struct vx_frame fr;
	ssize_t r = vx_frame_dec_feed(&c->dec, p, n, &fr);
	int ret;

	if (r == -EAGAIN) {
		h = vx_frame_dec_hdr(&c->dec);
		if (!h || c->hdr_checked)
			return 0;
		c->hdr_checked = true;
		return fx_check_header(c, h);
	}
	if (r < 0) {
		vx_info("fetcher: parent %u: %s", c->parent->index,
			vx_frame_dec_reason_str(&c->dec));
		return (int)r;
	}
	VX_ASSERT((size_t)r == n); /* a frame ends exactly where the decoder's want did */
	if (!c->hdr_checked) {
		ret = fx_check_header(c, &fr.hdr); /* a frame with an empty value: Close */
		if (ret < 0)
			return ret;
	}
	c->hdr_checked = false;
	return fx_got_frame(c, &fr);
}

void vx__fx_recv_done(struct vx_fx_conn *c, int res)
{
	struct vx_fetcher *f = c->f;
	int ret = 0;

	c->rx_armed = false;
	if (c->state == VX_FX_CLOSING) {
		fx_op_done(c);
		return;
	}
	if (res == -EINTR || res == -EAGAIN) {
		fx_arm_recv(c);
		fx_op_done(c);
		return;
	}
	if (res <= 0) {
		fx_peer_closed(c, res);
		fx_op_done(c);
		return;
	}
	c->got_bytes = true;
	c->last_rx_ms = vx_loop_now_ms(f->loop);
	if (vx_frame_dec_body_left(&c->dec) > 0) {
		size_t n = vx_frame_dec_body(&c->dec, (size_t)res);

		VX_ASSERT(n == (size_t)res); /* fx_arm_recv() never asks past the body */
		fx_got_body_bytes(c, (uint32_t)n);
	} else {
		ret = fx_got_frame_bytes(c, c->rxb + VX_FRAME_DEC_BUF_MIN, (size_t)res);
	}
	if (ret < 0) {
		fx_fail(c, ret == VX_EPEER_ERROR ? VX_FETCH_DROP_ERROR : VX_FETCH_DROP_PROTOCOL,
			ret);
		fx_op_done(c);
		return;
	}
	if (c->state != VX_FX_CLOSING)
		fx_arm_recv(c);
	fx_op_done(c);
}

void vx__fx_send_done(struct vx_fx_conn *c, int res)
{
	c->tx_armed = false;
	if (c->state == VX_FX_CLOSING) {
		fx_op_done(c);
		return;
	}
	if (res < 0) {
		if (c->parent->plain && c->q_len <= 1 &&
		    ++c->parent->plain_failures < VX_FX_PLAIN_RETRIES)
			fx_close(c);
		else
			fx_fail(c, VX_FETCH_DROP_ERROR, res);
		fx_op_done(c);
		return;
	}
	c->tx_off += (uint32_t)res;
	if (c->tx_off == c->tx_len) {
		c->tx_off = 0;
		c->tx_len = 0;
	}
	fx_kick_send(c);
	fx_op_done(c);
}

/* Appends a frame with a ready value; the send buffer is sized for the session's frames. */
static void fx_tx_frame(struct vx_fx_conn *c, uint8_t tag, const uint8_t *value, uint32_t len)
{
	ssize_t n = vx_frame_encode(c->tx + c->tx_len, sizeof(c->tx) - c->tx_len,
				    (uint8_t)vx__rand(&c->f->rand), tag, value, len);

	VX_ASSERT(n == (ssize_t)(VX_FRAME_HDR_LEN + len));
	c->tx_len += (uint32_t)n;
}

static void fx_start_session(struct vx_fx_conn *c)
{
	struct vx_fetcher *f = c->f;
	struct vx_fx_parent *p = c->parent;
	struct vx_hello h = { 0 };
	struct vx_interest in;
	uint8_t v[VX_INTEREST_LEN];

	_Static_assert(sizeof(v) >= VX_HELLO_LEN, "one value buffer for HELLO and INTEREST");
	if (f->cfg.tls && !c->tls &&
	    vx__tls_new(&c->tls, f->cfg.tls, false, VX__TLS_FX_RX, VX__TLS_FX_TX) < 0) {
		vx_warn("fetcher: no memory for a TLS connection to parent %u", p->index);
		fx_close(c);
		return;
	}
	if (p->plain) {
		fx_set_state(c, VX_FX_ACTIVE);
		fx_fill(c);
		fx_arm_recv(c);
		if (c->q_len == 0)
			fx_close(c); /* nothing to ask this parent for now */
		return;
	}
	c->vx = true;
	h.version = VX_HELLO_VERSION;
	h.features = VX_HELLO_F_PIPELINE | VX_HELLO_F_AVAILABILITY | VX_HELLO_F_CANCEL |
		     (f->cfg.lz4 ? VX_HELLO_F_LZ4 : 0);
	h.max_inflight = 1;
	h.max_value_len = VX__BITFIELD_VALUE_MAX;
	VX_ASSERT(vx_hello_encode(&h, v) == 0);
	fx_tx_frame(c, VX_TAG_HELLO, v, VX_HELLO_LEN);
	if (!p->subscribed) {
		memset(&in, 0, sizeof(in));
		memcpy(in.task_id, f->task_id, sizeof(in.task_id));
		in.op = VX_INTEREST_SUBSCRIBE;
		VX_ASSERT(vx_interest_encode(&in, v) == 0);
		fx_tx_frame(c, VX_TAG_INTEREST, v, VX_INTEREST_LEN);
		p->subscribed = true;
		c->sub_holder = true;
	}
	fx_set_state(c, VX_FX_HANDSHAKE);
	fx_kick_send(c);
	fx_arm_recv(c);
}

/*
 * A connect failed: the parent is dialled again after a back-off that doubles with each
 * failure in a row, and given up (dropped, its address refused) after VX_FETCH_DIAL_TRIES.
 * Without it a refusing parent was redialled at once, over and over, and stayed "live".
 */
static void fx_dial_failed(struct vx_fx_conn *c, int err)
{
	struct vx_fetcher *f = c->f;
	struct vx_fx_parent *p = c->parent;
	uint32_t shift;

	f->stats.connect_failures++;
	p->dial_failures++;
	vx__pick_recount(&f->pick, p); /* unreachable: what it had is not to be counted on */
	if (p->dial_failures >= VX_FETCH_DIAL_TRIES) {
		fx_fail(c, VX_FETCH_DROP_CONNECT, err);
		return;
	}
	shift = VX_MIN(p->dial_failures - 1, 16u);
	p->dial_at_ms = vx_loop_now_ms(f->loop) + VX_MIN((uint64_t)VX_FETCH_DIAL_FIRST_MS << shift,
							 (uint64_t)VX_FETCH_DIAL_MAX_MS);
	vx_debug("fetcher: parent %u (%s): connect failed (%s), %u of %u; again in %llu ms",
		 p->index, p->id, vx_strerror(err), p->dial_failures, VX_FETCH_DIAL_TRIES,
		 (unsigned long long)(p->dial_at_ms - vx_loop_now_ms(f->loop)));
	fx_close(c);
}

void vx__fetcher_set_io(struct vx_fetcher *f, const struct vx_fx_io *io, void *ctx)
{
	VX_ASSERT(f->pick.nr_parents == 0);
	f->io = io;
	f->io_ctx = ctx;
}

int vx__fetcher_add_parent_undialled(struct vx_fetcher *f, const struct sockaddr *addr,
				     socklen_t addr_len, const char *id)
{
	bool finishing = f->finishing;
	int ret;

	f->finishing = true; /* a finished fetcher takes a parent but opens no connection */
	ret = vx_fetcher_add_parent(f, addr, addr_len, id);
	f->finishing = finishing;
	return ret;
}

int vx__fetcher_attach(struct vx_fetcher *f, uint32_t parent)
{
	struct vx_fx_parent *p;
	struct vx_fx_conn *c;

	if (parent >= f->pick.nr_parents || f->finishing)
		return -EINVAL;
	p = &f->parents[parent];
	if (!p->used || p->dropped)
		return -EINVAL;
	c = fx_conn_get(f, p);
	if (!c)
		return -EBUSY;
	/* As on_connect_done() after a connect that succeeded. */
	fx_set_state(c, VX_FX_CONNECTING);
	c->last_rx_ms = vx_loop_now_ms(f->loop);
	fx_start_session(c);
	return 0;
}

/* ---- the ring under the connections (fetcher_io.h) -------------------------------------- */

static void ring_recv(void *ctx, struct vx_fx_conn *c, uint8_t *dst, size_t len)
{
	struct io_uring_sqe *sqe = vx_loop_sqe(c->f->loop);

	(void)ctx;
	io_uring_prep_recv(sqe, c->fd, dst, len, 0);
	vx_loop_arm(c->f->loop, &c->recv_op, sqe, false);
}

static void ring_send(void *ctx, struct vx_fx_conn *c, const uint8_t *src, size_t len)
{
	struct io_uring_sqe *sqe = vx_loop_sqe(c->f->loop);

	(void)ctx;
	io_uring_prep_send(sqe, c->fd, src, len, MSG_NOSIGNAL);
	vx_loop_arm(c->f->loop, &c->send_op, sqe, false);
}

static void ring_shutdown(void *ctx, struct vx_fx_conn *c)
{
	(void)ctx;
	(void)shutdown(c->fd, SHUT_RDWR);
	vx_loop_cancel_fd(c->f->loop, c->fd);
}

static void ring_close(void *ctx, struct vx_fx_conn *c)
{
	struct io_uring_sqe *sqe = vx_loop_sqe(c->f->loop);

	(void)ctx;
	io_uring_prep_close(sqe, c->fd);
	vx_loop_arm(c->f->loop, &c->close_op, sqe, false);
}

static void ring_write(void *ctx, struct vx_fx_buf *b, int fd, const uint8_t *src, size_t len,
		       uint64_t off)
{
	struct io_uring_sqe *sqe = vx_loop_sqe(b->f->loop);

	(void)ctx;
	io_uring_prep_write(sqe, fd, src, (unsigned int)len, off);
	vx_loop_arm(b->f->loop, &b->op, sqe, false);
}

static const struct vx_fx_io fx_ring_io = {
	.recv = ring_recv,
	.send = ring_send,
	.shutdown = ring_shutdown,
	.close = ring_close,
	.write = ring_write,
};

/*
 * ---- TLS under the connections (cfg.tls) ------------------------------------------------
 * The same seam, in plaintext: the seam's receive and send are carried out by the engine
 * (dp_tls.h), which the ring feeds with ciphertext through the connection's recv_op and
 * send_op. Those ring operations are counted in the connection's inflight like the seam's
 * own, so the socket is closed (and the engine freed) only once neither is left. The engine
 * moves on from ring completions and from tls_work (deferred: the seam never completes an
 * operation inside the call that submitted it).
 */

static void fx_tls_arm_rx(struct vx_fx_conn *c)
{
	struct io_uring_sqe *sqe;
	uint32_t room;
	uint8_t *dst;

	if (c->tls_ring_rx || c->tls_eof)
		return;
	dst = vx__tls_rx_space(c->tls, &room);
	VX_ASSERT(room > 0); /* full means records to read first: never asked then */
	sqe = vx_loop_sqe(c->f->loop);
	io_uring_prep_recv(sqe, c->fd, dst, room, 0);
	vx_loop_arm(c->f->loop, &c->recv_op, sqe, false);
	c->tls_ring_rx = true;
	c->inflight++;
}

static void fx_tls_arm_tx(struct vx_fx_conn *c)
{
	struct io_uring_sqe *sqe;
	const uint8_t *d;
	uint32_t len;

	if (c->tls_ring_tx)
		return;
	d = vx__tls_tx_data(c->tls, &len);
	if (!d)
		return;
	sqe = vx_loop_sqe(c->f->loop);
	io_uring_prep_send(sqe, c->fd, d, len, MSG_NOSIGNAL);
	vx_loop_arm(c->f->loop, &c->send_op, sqe, false);
	c->tls_ring_tx = true;
	c->inflight++;
}

/* The handshake ended: the parent must be the host the scheduler named. */
static int fx_tls_check_parent(struct vx_fx_conn *c)
{
	const struct vx_tls_id *peer;
	int r = vx__tls_peer(c->tls, &peer);

	if (r == 0 && strcmp(peer->host_id, c->parent->id) != 0) {
		vx_warn("fetcher: parent %u: its certificate names host %s, not %s",
			c->parent->index, peer->host_id, c->parent->id);
		return -EKEYREJECTED;
	}
	if (r < 0) {
		vx_warn("fetcher: parent %u (%s): its certificate names no vx identity",
			c->parent->index, c->parent->id);
		return -EKEYREJECTED;
	}
	/* a handshake begun before a CRL was loaded again ends against the CRL of now */
	if (vx__tls_recheck(c->tls, c->f->cfg.tls) == -EKEYREJECTED) {
		vx_warn("fetcher: parent %u (%s): its certificate no longer verifies (revoked or "
			"expired)",
			c->parent->index, c->parent->id);
		c->f->stats.tls_revoked++;
		return -EKEYREJECTED;
	}
	return 0;
}

/* An open connection to a parent whose certificate stopped verifying against @tls, or NULL. */
static struct vx_fx_conn *fx_tls_revoked_conn(struct vx_fetcher *f, struct ssl_ctx_st *tls)
{
	struct vx_list *pos;

	vx_list_for_each(pos, &f->active_conns) {
		struct vx_fx_conn *c = vx_list_entry(pos, struct vx_fx_conn, node);

		if (c->tls && c->state != VX_FX_CLOSING && !c->parent->dropped &&
		    vx__tls_recheck(c->tls, tls) == -EKEYREJECTED)
			return c;
	}
	return NULL;
}

void vx_fetcher_set_tls(struct vx_fetcher *f, struct ssl_ctx_st *tls)
{
	struct vx_fx_conn *c;

	if (!f->cfg.tls || !tls)
		return;
	f->cfg.tls = tls;
	/* one parent at a time: dropping one closes its connections, changing the list */
	while ((c = fx_tls_revoked_conn(f, tls)) != NULL) {
		vx_warn("fetcher: parent %u (%s): its certificate no longer verifies (revoked or "
			"expired): its connections are closed",
			c->parent->index, c->parent->id);
		f->stats.tls_revoked++;
		fx_drop_parent(c->parent, f, VX_FETCH_DROP_PROTOCOL, -EKEYREJECTED);
	}
}

/* Closing: the seam's pending operations complete with an error (no more engine work). */
static void fx_tls_cancel(struct vx_fx_conn *c)
{
	if (c->tls_rx_want) {
		c->tls_rx_want = false;
		vx__fx_recv_done(c, -ECANCELED);
	}
	if (c->tls_tx_want) {
		c->tls_tx_want = false;
		c->tls_tx_enc = false;
		vx__fx_send_done(c, -ECANCELED);
	}
}

/* Plaintext for the seam's receive; false when it failed the parent. */
static bool fx_tls_read(struct vx_fx_conn *c)
{
	size_t got = 0;
	ssize_t n = 0;

	while (got < c->tls_dst_len) {
		n = vx__tls_read(c->tls, c->tls_dst + got, c->tls_dst_len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got == 0 && n == -EAGAIN && c->tls_eof && !c->got_bytes) {
		/* Gone before a byte of Vortex: it refused us (or is no TLS server). */
		fx_fail(c, VX_FETCH_DROP_ERROR, c->tls_eof < 0 ? c->tls_eof : -ECONNRESET);
		return false;
	}
	if (got == 0 && n == -EAGAIN && c->tls_eof) {
		n = c->tls_eof < 0 ? c->tls_eof : 0; /* a plain close, as without TLS */
	} else if (got == 0 && n == -EPROTO) {
		fx_fail(c, VX_FETCH_DROP_PROTOCOL, -EPROTO); /* a bad record or an alert */
		return false;
	} else if (got == 0 && n == -EAGAIN) {
		fx_tls_arm_rx(c);
		return true;
	}
	c->tls_rx_want = false;
	vx__fx_recv_done(c, got > 0 ? (int)got : (int)n);
	return true;
}

static void fx_tls_progress(struct vx_fx_conn *c)
{
	ssize_t w;
	int r;

	if (c->state == VX_FX_CLOSING) {
		fx_tls_cancel(c);
		return;
	}
	if (!vx__tls_done(c->tls)) {
		r = vx__tls_handshake(c->tls);
		if (r == 1)
			r = fx_tls_check_parent(c);
		fx_tls_arm_tx(c);
		if (r < 0) {
			fx_fail(c, VX_FETCH_DROP_PROTOCOL, r); /* refused, or no TLS: not again */
			return;
		}
		if (r == 0 && c->tls_eof) {
			/* Closed mid-handshake (full, restarting): dropped, not refused for good. */
			fx_fail(c, VX_FETCH_DROP_ERROR, c->tls_eof < 0 ? c->tls_eof : -ECONNRESET);
			return;
		}
		if (r == 0) {
			fx_tls_arm_rx(c);
			return;
		}
	}
	if (c->tls_tx_want && !c->tls_tx_enc) {
		w = vx__tls_write(c->tls, c->tls_src, c->tls_src_len);
		if (w == -EPROTO) {
			fx_fail(c, VX_FETCH_DROP_PROTOCOL, -EPROTO);
			return;
		}
		c->tls_tx_enc = w > 0;
		c->tls_plain = w > 0 ? (uint32_t)w : 0;
	}
	fx_tls_arm_tx(c);
	if (c->tls_tx_want && c->tls_tx_enc && !c->tls_ring_tx) {
		c->tls_tx_want = false;
		c->tls_tx_enc = false;
		vx__fx_send_done(c, (int)c->tls_plain);
		if (c->state == VX_FX_CLOSING)
			return;
	}
	if (c->tls_rx_want)
		(void)fx_tls_read(c);
}

static void fx_tls_on_work(struct vx_loop *loop, struct vx_loop_work *work)
{
	(void)loop;
	fx_tls_progress(vx_container_of(work, struct vx_fx_conn, tls_work));
}

/*
 * The seam's receive: with nothing buffered the ring receives ciphertext at once; plaintext
 * the engine already holds is handed over after this drain (never inside the call).
 */
static void tls_recv(void *ctx, struct vx_fx_conn *c, uint8_t *dst, size_t len)
{
	(void)ctx;
	c->tls_dst = dst;
	c->tls_dst_len = len;
	c->tls_rx_want = true;
	if (vx__tls_done(c->tls) && !vx__tls_rx_buffered(c->tls) && !c->tls_eof)
		fx_tls_arm_rx(c);
	else
		vx_loop_defer(c->f->loop, &c->tls_work);
}

/* The seam's send: encrypted and on the ring at once; it completes with the ring's send. */
static void tls_send(void *ctx, struct vx_fx_conn *c, const uint8_t *src, size_t len)
{
	ssize_t w = -EAGAIN;

	(void)ctx;
	c->tls_src = src;
	c->tls_src_len = len;
	c->tls_tx_want = true;
	c->tls_tx_enc = false;
	if (vx__tls_done(c->tls) && !c->tls_ring_tx)
		w = vx__tls_write(c->tls, src, len);
	if (w > 0) {
		c->tls_tx_enc = true;
		c->tls_plain = (uint32_t)w;
		fx_tls_arm_tx(c);
	} else {
		vx_loop_defer(c->f->loop, &c->tls_work); /* handshake first, or an error */
	}
}

static void tls_shutdown(void *ctx, struct vx_fx_conn *c)
{
	ring_shutdown(ctx, c);
	vx_loop_defer(c->f->loop, &c->tls_work); /* completes what the ring does not carry */
}

static void tls_close(void *ctx, struct vx_fx_conn *c)
{
	if (c->tls_work.queued) {
		vx_list_del(&c->tls_work.node);
		c->tls_work.queued = false;
	}
	vx__tls_free(c->tls);
	c->tls = NULL;
	c->tls_eof = 0;
	c->tls_plain = 0;
	c->tls_rx_want = false;
	c->tls_tx_want = false;
	c->tls_tx_enc = false;
	ring_close(ctx, c);
}

static const struct vx_fx_io fx_tls_io = {
	.recv = tls_recv,
	.send = tls_send,
	.shutdown = tls_shutdown,
	.close = tls_close,
	.write = ring_write,
};

static void fx_tls_ring_recv_done(struct vx_fx_conn *c, int res)
{
	c->tls_ring_rx = false;
	vx__tls_rx_commit(c->tls, res > 0 ? (uint32_t)res : 0);
	if (res == 0 || (res < 0 && res != -EINTR && res != -EAGAIN))
		c->tls_eof = res == 0 ? 1 : res;
	if (c->state != VX_FX_CLOSING && res > 0) {
		c->last_rx_ms = vx_loop_now_ms(c->f->loop);
		/* The next records arrive while these are decrypted (room for a whole one). */
		if (vx__tls_done(c->tls) && vx__tls_rx_room(c->tls) >= VX__TLS_RECORD)
			fx_tls_arm_rx(c);
	}
	fx_tls_progress(c);
	fx_op_done(c);
}

static void fx_tls_ring_send_done(struct vx_fx_conn *c, int res)
{
	c->tls_ring_tx = false;
	vx__tls_tx_consume(c->tls, res > 0 ? (uint32_t)res : 0);
	if (res <= 0 && c->state != VX_FX_CLOSING)
		fx_fail(c, VX_FETCH_DROP_ERROR, res ? res : -EPIPE);
	else
		fx_tls_progress(c);
	fx_op_done(c);
}

static void on_recv_done(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	struct vx_fx_conn *c = op->owner;

	(void)loop;
	(void)cflags;
	if (c->tls)
		fx_tls_ring_recv_done(c, res);
	else
		vx__fx_recv_done(c, res);
}

static void on_send_done(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	struct vx_fx_conn *c = op->owner;

	(void)loop;
	(void)cflags;
	if (c->tls)
		fx_tls_ring_send_done(c, res);
	else
		vx__fx_send_done(c, res);
}

static void on_write_done(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	(void)loop;
	(void)cflags;
	vx__fx_write_done(op->owner, res);
}

static void on_connect_done(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	struct vx_fx_conn *c = op->owner;

	(void)loop;
	(void)cflags;
	if (c->state == VX_FX_CLOSING) {
		fx_op_done(c);
		return;
	}
	if (res < 0) {
		fx_dial_failed(c, res == -ECANCELED ? -ETIMEDOUT : res);
		fx_op_done(c);
		return;
	}
	c->parent->dial_failures = 0;
	vx__pick_recount(&c->f->pick, c->parent);
	c->last_rx_ms = vx_loop_now_ms(c->f->loop);
	fx_start_session(c);
	fx_op_done(c);
}

static void on_connect_timeout_done(struct vx_loop *loop, struct vx_op *op, int res,
				    uint32_t cflags)
{
	(void)loop;
	(void)res;
	(void)cflags;
	fx_op_done(op->owner);
}

void vx__fx_close_done(struct vx_fx_conn *c)
{
	struct vx_fetcher *f = c->f;

	VX_ASSERT(c->inflight == 1);
	c->inflight = 0;
	c->close_armed = false;
	c->parent->conns--;
	vx_metric_add(&vx_m_fetch_conns, 0, -1);
	c->gen++;
	c->fd = -1;
	fx_lz4_free(c);
	fx_set_state(c, VX_FX_FREE);
	c->parent = NULL;
	vx_list_del(&c->node);
	vx_list_add(&f->free_conns, &c->node);
	fx_maybe_finish(f);
	vx_loop_defer(f->loop, &f->kick);
}

static void on_close_done(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	(void)loop;
	(void)res;
	(void)cflags;
	vx__fx_close_done(op->owner);
}

/* ---- the fetcher as a whole -------------------------------------------------------------- */

static void fx_maybe_finish(struct vx_fetcher *f)
{
	struct vx_list *pos, *tmp;

	if (!f->finishing && f->pieces_done == f->piece_count) {
		f->finishing = true;
		f->status = 0;
	}
	/* A persistent fetcher waits for vx_fetcher_add_parent() instead. */
	if (!f->finishing && !f->cfg.persistent && f->pick.nr_parents > 0 &&
	    fx_live_parents(f) == 0 && f->writes_inflight == 0) {
		f->finishing = true;
		f->status = VX_ENOPEERS;
	}
	if (!f->finishing)
		return;
	vx_list_for_each_safe(pos, tmp, &f->active_conns) {
		fx_close(vx_list_entry(pos, struct vx_fx_conn, node));
	}
	if (vx_list_empty(&f->active_conns) && f->writes_inflight == 0 && !f->done_reported)
		vx_loop_defer(f->loop, &f->finish_work);
}

static void fx_on_finish_work(struct vx_loop *loop, struct vx_loop_work *work)
{
	struct vx_fetcher *f = vx_container_of(work, struct vx_fetcher, finish_work);

	(void)loop;
	if (f->done_reported || !vx_list_empty(&f->active_conns) || f->writes_inflight)
		return;
	f->done_reported = true;
	if (f->status == 0 && f->stats.picks)
		vx_info("fetcher: %.12s: %u pieces, picking %.2f us per piece (%llu picks)",
			f->task_id, f->piece_count,
			(double)f->stats.pick_ns / 1000.0 / VX_MAX(f->piece_count, 1u),
			(unsigned long long)f->stats.picks);
	if (f->cfg.on_done)
		f->cfg.on_done(f->cfg.cb_arg, f->status);
}

static void fx_on_no_parents_work(struct vx_loop *loop, struct vx_loop_work *work)
{
	struct vx_fetcher *f = vx_container_of(work, struct vx_fetcher, no_parents_work);

	(void)loop;
	/* Still none after the drain (the daemon may have added one from on_parent_dropped). */
	if (!f->finishing && fx_live_parents(f) == 0)
		f->cfg.on_no_parents(f->cfg.cb_arg);
}

static void fx_on_kick(struct vx_loop *loop, struct vx_loop_work *work)
{
	struct vx_fetcher *f = vx_container_of(work, struct vx_fetcher, kick);
	struct vx_list *pos, *tmp;

	(void)loop;
	fx_maybe_finish(f);
	if (f->finishing)
		return;
	vx_list_for_each_safe(pos, tmp, &f->active_conns) {
		fx_fill(vx_list_entry(pos, struct vx_fx_conn, node));
	}
	fx_top_up(f);
}

static void fx_on_tick(struct vx_loop *loop, struct vx_loop_ticker *t, uint64_t now_ms)
{
	struct vx_fetcher *f = vx_container_of(t, struct vx_fetcher, ticker);
	struct vx_list *pos, *tmp;

	(void)loop;
	vx_list_for_each_safe(pos, tmp, &f->active_conns) {
		struct vx_fx_conn *c = vx_list_entry(pos, struct vx_fx_conn, node);

		if (c->state == VX_FX_CLOSING || c->state == VX_FX_CONNECTING)
			continue;
		if (c->throttled) {
			c->throttled = false;
			fx_arm_recv(c);
		}
		/*
		 * The stall clock runs only while we wait on the parent: an answer or its HELLO
		 * is due, and we are not the ones holding it back (rate limit, no buffer). A
		 * connection in HANDSHAKE with nothing asked yet waits too: a parent that accepts
		 * and never answers HELLO was kept for ever.
		 */
		if (!(c->q_len > 0 || c->state == VX_FX_HANDSHAKE) || c->throttled ||
		    !vx_list_empty(&c->wait_node))
			c->last_rx_ms = now_ms;
		else if (now_ms - c->last_rx_ms > f->cfg.stall_timeout_ms)
			fx_fail(c, VX_FETCH_DROP_STALL, -ETIMEDOUT);
	}
	if (!f->finishing)
		fx_top_up(f);
	/* a BUSY answer's back-off ended: ask again (no frame would wake us) */
	if (vx__pick_wake_due(&f->pick, now_ms) && !f->finishing)
		vx_loop_defer(f->loop, &f->kick);
}

int vx_fetcher_new(struct vx_fetcher **out, struct vx_loop *loop, const struct vx_fetcher_cfg *cfg)
{
	struct vx_fetcher *f;
	uint64_t count;
	uint32_t i;

	VX_ASSERT(out != NULL);
	*out = NULL;
	if (!cfg->task_id || !vx_task_id_valid(cfg->task_id, strlen(cfg->task_id)) ||
	    !vx_tag_is_download(cfg->request_tag) || !cfg->sink || cfg->piece_length == 0 ||
	    cfg->piece_length > VX_PIECE_BODY_MAX || cfg->pipeline_depth == 0 ||
	    cfg->pipeline_depth > VX_FX_DEPTH_MAX || cfg->conns_per_parent == 0 ||
	    cfg->buffers == 0 || cfg->max_parents == 0 ||
	    cfg->max_parents > UINT16_MAX || /* a piece's holders count is 16 bits */
	    cfg->chunk_bytes == 0 || !VX_IS_ALIGNED(cfg->chunk_bytes, 4096u))
		return -EINVAL;
	count = vx_piece_count(cfg->content_length, cfg->piece_length);
	if (count > VX__BITFIELD_PIECES_MAX)
		return -EINVAL;
	f = vx_calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->loop = loop;
	f->io = cfg->tls ? &fx_tls_io : &fx_ring_io;
	f->cfg = *cfg;
	memcpy(f->task_id, cfg->task_id, VX_TASK_ID_LEN);
	f->cfg.task_id = NULL;
	f->piece_count = (uint32_t)count;
	f->bits_len = (uint32_t)vx_bitmap_bytes(count);
	f->rand = cfg->seed ? cfg->seed : (vx_now_ns() | 1);
	f->nr_conns = cfg->max_parents * cfg->conns_per_parent;
	f->nr_writes = 2 * f->nr_conns;
	vx_list_init(&f->free_conns);
	vx_list_init(&f->active_conns);
	vx_list_init(&f->free_writes);
	vx_list_init(&f->free_bufs);
	vx_list_init(&f->buf_waiters);
	f->crc = vx_calloc(count + 1, sizeof(*f->crc));
	f->pieces = vx_calloc(count + 1, sizeof(*f->pieces));
	f->parents = vx_calloc(cfg->max_parents, sizeof(*f->parents));
	f->bans = vx_calloc(cfg->max_parents, sizeof(*f->bans));
	f->conns = vx_calloc(f->nr_conns, sizeof(*f->conns));
	f->writes = vx_calloc(f->nr_writes, sizeof(*f->writes));
	f->bufs = vx_calloc(cfg->buffers, sizeof(*f->bufs));
	f->discard = vx_malloc(VX_FX_DISCARD);
	f->pick_index = vx_calloc(vx__pick_index_words(count, cfg->max_parents) + 1,
				  sizeof(*f->pick_index));
	if (!f->pick_index || !f->crc || !f->pieces || !f->parents || !f->bans || !f->conns ||
	    !f->writes || !f->bufs || !f->discard)
		goto err_free;
	if (count && cfg->piece_crc32)
		memcpy(f->crc, cfg->piece_crc32, count * sizeof(*f->crc));
	f->cfg.piece_crc32 = NULL;
	for (i = 0; i < count; i++) {
		f->pieces[i].trusted = cfg->piece_crc32 != NULL;
		if (cfg->have && vx_bit_get(cfg->have, i)) {
			f->pieces[i].state = VX_FX_DONE;
			f->pieces_done++;
		}
	}
	f->cfg.have = NULL;
	f->pick.piece_count = f->piece_count;
	f->pick.endgame_pieces = cfg->endgame_pieces;
	f->pick.pieces = f->pieces;
	f->pick.parents = f->parents;
	f->pick.wake_ms = UINT64_MAX;
	f->pick.endgame_wake_ms = UINT64_MAX;
	f->pick.piece_ms = VX_FX_PIECE_MS_GUESS;
	vx__pick_index_init(&f->pick, f->pick_index, cfg->max_parents);
	f->stats.pieces_total = f->piece_count;
	f->stats.pieces_done = f->pieces_done;
	for (i = 0; i < cfg->max_parents; i++) {
		f->parents[i].bits = vx_calloc(f->bits_len + 1, 1);
		if (!f->parents[i].bits)
			goto err_free;
	}
	for (i = 0; i < f->nr_conns; i++) {
		struct vx_fx_conn *c = &f->conns[i];

		c->f = f;
		c->fd = -1;
		vx_list_init(&c->wait_node);
		c->tls_work.fn = fx_tls_on_work;
		c->rxb = vx_malloc(VX_FX_RXB);
		if (!c->rxb)
			goto err_free;
		vx_list_add_tail(&f->free_conns, &c->node);
	}
	for (i = 0; i < f->nr_writes; i++)
		vx_list_add_tail(&f->free_writes, &f->writes[i].node);
	for (i = 0; i < cfg->buffers; i++) {
		struct vx_fx_buf *b = &f->bufs[i];

		b->mem = vx_aligned_alloc(4096, cfg->chunk_bytes);
		if (!b->mem)
			goto err_free;
		b->f = f;
		vx_op_init(&b->op, VX_OP_FX_WRITE, b, &b->gen);
		vx_list_add_tail(&f->free_bufs, &b->node);
	}
	vx_bucket_init(&f->bucket, cfg->rate_bytes_per_s,
		       VX_MAX(cfg->rate_bytes_per_s / 10, (uint64_t)cfg->chunk_bytes),
		       vx_loop_now_ms(loop));
	vx_loop_set_handler(loop, VX_OP_FX_CONNECT, on_connect_done);
	vx_loop_set_handler(loop, VX_OP_FX_CONNECT_TIMEOUT, on_connect_timeout_done);
	vx_loop_set_handler(loop, VX_OP_FX_SEND, on_send_done);
	vx_loop_set_handler(loop, VX_OP_FX_RECV, on_recv_done);
	vx_loop_set_handler(loop, VX_OP_FX_WRITE, on_write_done);
	vx_loop_set_handler(loop, VX_OP_FX_CLOSE, on_close_done);
	f->kick.fn = fx_on_kick;
	f->finish_work.fn = fx_on_finish_work;
	f->no_parents_work.fn = fx_on_no_parents_work;
	f->ticker.fn = fx_on_tick;
	vx_loop_add_ticker(loop, &f->ticker);
	if (f->pieces_done == f->piece_count)
		fx_maybe_finish(f);
	*out = f;
	return 0;

err_free:
	vx_fetcher_free(f);
	return -ENOMEM;
}

/*
 * Same transport address: family, port and host (and IPv6 scope). Compared field by field,
 * since callers may leave padding such as sin_zero uninitialised.
 */
static bool fx_addr_equal(const struct sockaddr_storage *a, socklen_t alen,
			  const struct sockaddr_storage *b, socklen_t blen)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;

		return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* A dropped parent's slot can be handed out again once nothing refers to it any more. */
static bool fx_slot_reusable(const struct vx_fx_parent *p)
{
	return p->used && p->dropped && p->conns == 0 && p->writes == 0;
}

/*
 * Picks the slot for a new parent at @ss: its own old slot when it was dropped before (so a
 * returning parent keeps its index), else a never-used one, else any reusable dropped slot.
 * Returns the slot, or NULL with *@err set to -EAGAIN or -ENOSPC.
 */
static struct vx_fx_parent *fx_slot_get(struct vx_fetcher *f, const struct sockaddr_storage *ss,
					socklen_t len, int *err)
{
	bool closing = false;
	uint32_t i;

	for (i = 0; i < f->pick.nr_parents; i++) {
		struct vx_fx_parent *p = &f->parents[i];

		if (fx_slot_reusable(p) && fx_addr_equal(&p->addr, p->addr_len, ss, len))
			return p;
	}
	if (f->pick.nr_parents < f->cfg.max_parents) {
		f->parents[f->pick.nr_parents].index = f->pick.nr_parents;
		return &f->parents[f->pick.nr_parents++];
	}
	for (i = 0; i < f->pick.nr_parents; i++) {
		struct vx_fx_parent *p = &f->parents[i];

		if (fx_slot_reusable(p))
			return p;
		closing |= p->dropped;
	}
	*err = closing ? -EAGAIN : -ENOSPC;
	return NULL;
}

int vx_fetcher_add_parent(struct vx_fetcher *f, const struct sockaddr *addr, socklen_t addr_len,
			  const char *id)
{
	struct sockaddr_storage ss;
	struct vx_fx_parent *p;
	uint8_t *bits;
	uint32_t i;
	int err = 0;

	if (!addr || addr_len < sizeof(sa_family_t) || addr_len > sizeof(ss) ||
	    (f->cfg.tls && (!id || !*id || strlen(id) >= sizeof(f->parents[0].id))) ||
	    (addr->sa_family == AF_INET && addr_len < sizeof(struct sockaddr_in)) ||
	    (addr->sa_family == AF_INET6 && addr_len < sizeof(struct sockaddr_in6)))
		return -EINVAL;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, addr, addr_len);
	for (i = 0; i < f->nr_bans; i++) {
		if (fx_addr_equal(&f->bans[i].addr, f->bans[i].addr_len, &ss, addr_len))
			return -EPERM;
	}
	for (i = 0; i < f->pick.nr_parents; i++) {
		p = &f->parents[i];
		if (p->used && !p->dropped && fx_addr_equal(&p->addr, p->addr_len, &ss, addr_len))
			return (int)p->index;
	}
	p = fx_slot_get(f, &ss, addr_len, &err);
	if (!p)
		return err;
	/* A fresh start: what the slot knew of an earlier parent is void (dropped: not counted). */
	bits = p->bits;
	i = p->index;
	memset(p, 0, sizeof(*p));
	memset(bits, 0, f->bits_len + 1);
	p->bits = bits;
	p->index = i;
	memcpy(&p->addr, &ss, sizeof(ss));
	p->addr_len = addr_len;
	if (id) {
		size_t l = VX_MIN(strlen(id), sizeof(p->id) - 1);

		memcpy(p->id, id, l);
	}
	p->used = true;
	vx__pick_recount(&f->pick, p);
	fx_top_up(f);
	return (int)p->index;
}

void vx_fetcher_trust(struct vx_fetcher *f, uint32_t number, uint32_t crc32)
{
	struct vx_fx_piece *p;

	if (number >= f->piece_count) {
		vx_warn("fetcher: trust of piece %u ignored: the task has %u pieces", number,
			f->piece_count);
		return;
	}
	p = &f->pieces[number];
	if (p->trusted) {
		if (f->crc[number] != crc32)
			vx_warn("fetcher: piece %u: a second trusted crc %08x differs from %08x; "
				"keeping the first",
				number, crc32, f->crc[number]);
		return;
	}
	f->crc[number] = crc32;
	vx__pick_trust(&f->pick, number);
	if (!f->finishing && p->state == VX_FX_MISSING)
		vx_loop_defer(f->loop, &f->kick);
}

void vx_fetcher_have(struct vx_fetcher *f, uint32_t number)
{
	struct vx_fx_piece *p;

	if (number >= f->piece_count) {
		vx_warn("fetcher: have of piece %u ignored: the task has %u pieces", number,
			f->piece_count);
		return;
	}
	if (f->finishing)
		return;
	p = &f->pieces[number];
	if (p->state == VX_FX_DONE)
		return;
	/*
	 * Done now. An answer being received still lands in its writer, which fx_piece_finish()
	 * gives back with abort() instead of committing it.
	 */
	vx__pick_set(&f->pick, number, VX_FX_DONE, p->requesters);
	f->pieces_done++;
	f->stats.pieces_done = f->pieces_done;
	fx_cancel_requests(f, number);
	vx_loop_defer(f->loop, &f->kick);
}

uint32_t vx_fetcher_live_parents(const struct vx_fetcher *f)
{
	return fx_live_parents(f);
}

void vx_fetcher_cancel(struct vx_fetcher *f)
{
	if (f->finishing)
		return;
	f->finishing = true;
	f->status = -ECANCELED;
	fx_maybe_finish(f);
}

bool vx_fetcher_idle(const struct vx_fetcher *f)
{
	return f->done_reported && vx_list_empty(&f->active_conns) && f->writes_inflight == 0;
}

void vx_fetcher_free(struct vx_fetcher *f)
{
	uint32_t i;

	if (!f)
		return;
	if (f->ticker.fn) {
		VX_ASSERT(vx_list_empty(&f->active_conns));
		VX_ASSERT(f->writes_inflight == 0);
		vx_loop_del_ticker(f->loop, &f->ticker);
		/* Freed from inside on_done: work it queued must not run on freed memory. */
		if (f->kick.queued)
			vx_list_del(&f->kick.node);
		if (f->finish_work.queued)
			vx_list_del(&f->finish_work.node);
		if (f->no_parents_work.queued)
			vx_list_del(&f->no_parents_work.node);
	}
	if (f->parents) {
		for (i = 0; i < f->cfg.max_parents; i++)
			vx_free(f->parents[i].bits);
	}
	if (f->conns) {
		for (i = 0; i < f->nr_conns; i++) {
			vx_free(f->conns[i].rxb);
			fx_lz4_free(&f->conns[i]);
		}
	}
	if (f->bufs) {
		for (i = 0; i < f->cfg.buffers; i++)
			vx_free(f->bufs[i].mem);
	}
	if (f->has_mirror && f->mirror.release)
		f->mirror.release(f->mirror.ctx);
	vx_free(f->discard);
	vx_free(f->bufs);
	vx_free(f->writes);
	vx_free(f->conns);
	vx_free(f->bans);
	vx_free(f->parents);
	vx_free(f->pieces);
	vx_free(f->pick_index);
	vx_free(f->crc);
	vx_free(f);
}

void vx_fetcher_stats(const struct vx_fetcher *f, struct vx_fetcher_stats *out)
{
	*out = f->stats;
}
