/* SPDX-License-Identifier: Apache-2.0 */
/*
 * upload.c: the Vortex upload server on one loop. Each connection is a slot of a pool
 * allocated at start and an explicit state machine (spec/dataplane.md has the diagram):
 *
 *      accept            request parsed / control frame queued
 *   FREE ----> READING ----------------------------------------> SERVING
 *                 ^  \                                           /  |
 *                 |   \______ answer sent, nothing buffered ____/   |
 *                 |                                                 |
 *                 +-- any error, timeout, peer close: CLOSING <-----+
 *                                   | nothing in flight, socket closed
 *                                   v
 *                                 CLOSED --> FREE (slot generation bumped)
 *
 * The receive side (recv, with a linked idle timeout while READING) and the send side (head
 * send, then splice rounds file -> pipe -> socket) run independently; answers go out in
 * request order. Every received byte goes through vortex's decoder (vx_frame.h, uploader side):
 * requests are decoded as they arrive into a bounded queue, where a CANCEL or the pipelining
 * limit marks the ones not started yet; the pump answers the queue in order. Nothing here
 * knows a byte layout. Nothing on this path allocates: slots, pipes and buffers exist from
 * start.
 */
#include "vx_upload.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <openssl/ssl.h>

#include "dataplane_int.h"
#include "dp_lz4.h"
#include "dp_tls.h"
#include "upload_int.h"
#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_digest.h"
#include "vx_err.h"
#include "vx_frame.h"
#include "vx_frame_ext.h"
#include "vx_list.h"
#include "vx_log.h"
#include "vx_metrics.h"
#include "vx_loop.h"
#include "vx_net.h"
#include "vx_piece.h"
#include "vx_time.h"

/* Received bytes not decoded yet (the request queue is full): 4 KiB, 55 DownloadPiece frames. */
#define VX_UP_RX_MAX 4096
/* Decoded requests not answered yet: as many DownloadPiece frames as rx[] holds. */
#define VX_UP_REQ_MAX (VX_UP_RX_MAX / (VX_FRAME_HDR_LEN + VX_DOWNLOAD_PIECE_LEN) + 1)
/*
 * Pipelined requests a vx server accepts at once (cfg.max_inflight, its HELLO's max_inflight);
 * the ones beyond are answered BUSY in their turn (spec/vortex.md 5.2), so the queue must hold
 * more than the largest allowed.
 */
_Static_assert(VX_UPLOAD_INFLIGHT_DEFAULT <= VX_UPLOAD_INFLIGHT_MAX &&
		       VX_UPLOAD_INFLIGHT_MAX < VX_UP_REQ_MAX,
	       "requests beyond max_inflight fit the queue, so they can be answered BUSY");
/* One answer head: PieceContent metadata with the longest parent id, an Error or our HELLO. */
#define VX_UP_HEAD_MAX 512u
_Static_assert(VX_FRAME_HDR_LEN + VX_PIECE_CONTENT_META_FIXED + 4u + VX_DIGEST_CRC32_STR_MAX +
			       VX_UPLOAD_PARENT_ID_MAX <=
		       VX_UP_HEAD_MAX,
	       "a PieceContent head with the longest parent id fits head[]");
_Static_assert(VX_FRAME_HDR_LEN + VX_PIECE_CONTENT_META_FIXED + 4u + VX_DIGEST_CRC32_STR_MAX +
			       VX_UPLOAD_PARENT_ID_MAX + VX_COMPRESSED_TRAILER_LEN <=
		       VX_UP_HEAD_MAX,
	       "a COMPRESSED_PIECE_CONTENT head with the longest parent id fits head[]");
_Static_assert(VX_FRAME_HDR_LEN + VX_HELLO_LEN <= VX_UP_HEAD_MAX, "our HELLO fits head[]");
/* Queued control frames of a subscribed connection: one BITFIELD and two full HAVEs. */
#define VX_UP_CTL_MAX \
	(VX_FRAME_HDR_LEN + VX__BITFIELD_VALUE_MAX + 2 * (VX_FRAME_HDR_LEN + VX_HAVE_MAX))

enum vx_up_state {
	VX_UP_FREE = 0,
	VX_UP_READING = 1, /* no request being answered; recv armed (with idle timeout) */
	VX_UP_SERVING = 2, /* answering a request or sending control frames */
	VX_UP_CLOSING = 3, /* sticky: cancels queued; waits for inflight == 0 */
	VX_UP_CLOSED = 4,  /* socket closed; slot about to be released */
	VX_UP_STATE_NR,
};

static const bool vx_up_legal[VX_UP_STATE_NR][VX_UP_STATE_NR] = {
	[VX_UP_FREE] = { [VX_UP_READING] = true },
	[VX_UP_READING] = { [VX_UP_SERVING] = true, [VX_UP_CLOSING] = true },
	[VX_UP_SERVING] = { [VX_UP_READING] = true, [VX_UP_CLOSING] = true },
	[VX_UP_CLOSING] = { [VX_UP_CLOSED] = true },
	[VX_UP_CLOSED] = { [VX_UP_FREE] = true },
};

/* What the peer speaks, fixed by its first frame. */
enum vx_up_mode {
	VX_UP_MODE_NEW = 0,   /* nothing parsed yet */
	VX_UP_MODE_PLAIN = 1, /* Dragonfly's Vortex: one answer, then close */
	VX_UP_MODE_VX = 2,    /* HELLO exchanged: pipelining, availability, cancel */
};

struct vx_up_pipe {
	int rfd;
	int wfd;
	uint32_t cap; /* bytes the pipe holds (F_GETPIPE_SZ) */
	bool dirty;   /* may hold bytes of an aborted answer: recreate before reuse */
	struct vx_list node;
};

/* What a decoded DownloadPiece gets when its turn comes. */
enum vx_up_verdict {
	VX_UP_SERVE = 0,
	VX_UP_BUSY = 1,	     /* arrived beyond max_inflight: Error 0x41 */
	VX_UP_CANCELLED = 2, /* a CANCEL arrived before it started: Error 0x40 */
};

/* What the armed send of a TLS connection carries, in ciphertext (tls_plain bytes of it). */
enum vx_up_tls_send {
	VX_UP_TLS_FLUSH = 0, /* handshake records only */
	VX_UP_TLS_HEAD = 1,  /* head[] bytes */
	VX_UP_TLS_CTL = 2,   /* ctl bytes */
	VX_UP_TLS_BODY = 3,  /* piece bytes */
};

/* A decoded request waiting for its turn: a DownloadPiece (or twin) or an INTEREST. */
struct vx_up_req {
	uint8_t tag; /* a DownloadPiece tag, or VX_TAG_INTEREST: which of the two below is set */
	uint8_t verdict; /* DownloadPiece only: enum vx_up_verdict */
	uint8_t op;	 /* INTEREST only: enum vx_interest_op */
	uint32_t number;
	char task[VX_TASK_ID_LEN];
};

/* A subscriber's control frames: encoded ones waiting to be sent, and HAVEs being batched. */
struct vx_up_ctl {
	uint32_t have[VX_HAVE_NUMBERS_MAX]; /* pieces finished since the last HAVE was encoded */
	uint32_t have_len;
	uint8_t buf[VX_UP_CTL_MAX];
};

/* BUSY answers a connection remembers: a piece asked again after one is sent (issue 13). */
#define VX_UP_SS_REFUSED 16

struct vx_up_conn {
	uint32_t gen; /* bumped when the slot is released */
	enum vx_up_state state;
	int fd;
	uint32_t inflight; /* armed ops of this connection */
	struct vx_upload *up;
	struct vx_list node;	  /* server's free or active list */
	struct vx_list wait_node; /* server's pipe-waiters list */
	struct vx_op recv_op;
	struct vx_op recv_to_op;
	struct vx_op send_op;
	struct vx_op splice_in_op;
	struct vx_op splice_out_op;
	struct vx_op body_op;
	struct vx_op pollout_op; /* splice body: the socket is full, wait until it takes bytes */
	struct vx_op close_op;
	struct __kernel_timespec idle_ts;
	uint64_t rx_start_ms;	   /* when the frame being received started */
	uint64_t last_progress_ms; /* last send progress */
	uint32_t rx_off;	   /* first byte of rx[] not fed to the decoder */
	uint32_t rx_len;	   /* end of received bytes in rx[] */
	uint32_t outstanding;	   /* vx mode: DownloadPiece received and not yet answered */
	uint32_t req_head;	   /* first queued request in reqs[] */
	uint32_t req_len;	   /* queued requests */
	bool hello_due;		   /* a HELLO arrived: answer ours before anything else */
	bool rx_stop;		   /* nothing more is decoded (Close, one-shot request, error) */
	bool rx_closed;		   /* Close received: close once the queue is answered */
	const char *rx_error;	   /* malformed input: answered INVALID once the queue is */
	bool req_counted;	   /* the answer in progress is for a counted request */
	uint8_t mode;		   /* enum vx_up_mode */
	bool lz4;		   /* both HELLOs had VX_HELLO_F_LZ4 (and cfg.lz4) */
	uint64_t link_max;	   /* lz4: the highest delivery rate the socket reported */
	/* super-seeding: pieces answered BUSY on this connection (slot << 24 | piece), a ring */
	uint32_t ss_refused[VX_UP_SS_REFUSED];
	uint8_t ss_refused_next;
	bool close_after; /* close once the queued answer is sent */
	bool sending_ctl; /* the armed send is from ctl[], not head[] */
	bool bye_sent;	  /* drain: our Close is queued or sent */
	bool linger;	  /* drain: writing shut; input discarded until the peer's EOF */
	bool handed_off;  /* a control connection given to cfg.on_control */
	bool tls_opened;  /* TLS: the first bytes were no STARTTLS (up_tls_hand_off) */
	/* The request being answered. */
	bool have_req;
	bool waiting;	/* piece not finished yet: retried on tick and notify */
	bool throttled; /* rate limit: resumed on tick */
	bool piece_held;
	uint8_t req_tag;
	uint32_t req_number;
	uint64_t wait_deadline_ms;
	char req_task[VX_TASK_ID_LEN];
	struct vx_upload_piece piece;
	uint32_t head_off;
	uint32_t head_len;
	/* Body: splice rounds, or sends from the compressed piece (@lz, referenced) */
	struct vx__lz4_piece *lz;
	struct vx_up_pipe *pipe;
	uint64_t file_off;
	uint64_t file_left;
	uint64_t pipe_bytes;
	uint8_t splice_pending; /* body CQEs still to come in this round */
	bool splice_failed;
	bool out_blocked;    /* the last pipe -> socket splice found the socket full */
	bool refill_blocked; /* the last file -> pipe splice found the pipe full */
	/* Peer address (per-address limit): family and address, v4-mapped v6 folded to v4. */
	uint8_t peer_family;
	uint8_t peer_addr[16];
	/* Availability subscription. */
	bool subscribed;
	bool sub_resync;
	char sub_task[VX_TASK_ID_LEN + 1]; /* NUL-terminated for vortex's encoders */
	uint32_t ctl_off;
	uint32_t ctl_len;
	struct vx_bucket bucket;
	struct vx_frame_dec dec; /* uploader side, lent dec_buf */
	struct vx_up_req reqs[VX_UP_REQ_MAX];
	uint8_t dec_buf[VX_FRAME_DEC_REQ_BUF_MIN];
	uint8_t rx[VX_UP_RX_MAX];
	uint8_t head[VX_UP_HEAD_MAX];
	struct vx_up_ctl *ctl; /* allocated on first SUBSCRIBE, kept with the slot */
	/* TLS (cfg.tls): the engine from admission to release, and what the send carries. */
	struct vx__tls *tls;
	uint32_t tls_plain;	      /* plaintext bytes the armed send completes */
	uint8_t tls_send;	      /* enum vx_up_tls_send */
	uint64_t tls_start_ms;	      /* accepted: the handshake must end within header_timeout */
	struct vx_loop_work tls_work; /* reads plaintext the engine holds (no recv needed) */
	uint8_t *tls_bounce;	      /* body bytes read for a piece with no mapping */
};

struct vx_upload {
	struct vx_loop *loop;
	struct vx_upload_cfg cfg;
	int listen_fd;
	uint32_t gen; /* never changes: the server is not recycled */
	struct vx_op accept_op;
	struct vx_up_conn *conns;
	struct vx_up_pipe *pipes;
	struct vx_list free_conns;
	struct vx_list active_conns;
	struct vx_list free_pipes;
	struct vx_list pipe_waiters;
	struct vx_loop_ticker ticker;
	struct vx_loop_work have_flush; /* sends the HAVEs queued during this drain */
	struct vx_bucket bucket;
	uint64_t rand;
	bool accept_paused; /* out of fds or memory: accept re-armed by the next tick */
	bool shutting_down;
	bool draining;		    /* vx_upload_drain(): no accepting, answers in progress end */
	bool drain_said;	    /* the drain's outcome was logged */
	uint64_t drain_deadline_ms; /* then the rest is closed (vx_upload_shutdown()) */
	struct vx_upload_stats stats;
	struct vx_up_ss *ss; /* super-seeding: VX_UPLOAD_SUPER_SEED_TASKS slots, or NULL */
	uint64_t ss_clock;   /* LRU stamp */
	/* lz4 (cfg.lz4): compressed pieces, lz4's measured rate, the sample's scratch */
	struct vx__lz4_cache lz4;
	uint64_t lz4_rate;   /* bytes/s, a moving average of the compressions timed */
	uint8_t *lz4_sample; /* vx__lz4_bound(VX_LZ4_SAMPLE) bytes, allocated with the server */
	uint8_t *lz4_plain;  /* a piece without a mapping is read here to be compressed */
	uint64_t lz4_plain_cap;
};

/* Super-seeding memory of one task: when each piece was last sent (0: never). */
struct vx_up_ss {
	char task[VX_TASK_ID_LEN];
	bool used;
	uint64_t used_at;  /* LRU stamp */
	uint64_t since_ms; /* taken for this task then: older stamps are another task's */
	uint64_t *sent_ms;
};

static void up_pump(struct vx_up_conn *c);
static bool up_drain_step(struct vx_up_conn *c);
static void up_close(struct vx_up_conn *c);
static void up_arm_recv(struct vx_up_conn *c);
static void up_on_have_flush(struct vx_loop *loop, struct vx_loop_work *work);
static void up_on_rx(struct vx_up_conn *c, uint32_t n);

void vx_upload_cfg_init(struct vx_upload_cfg *cfg)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&cfg->addr;

	memset(cfg, 0, sizeof(*cfg));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(VX_UPLOAD_PORT_DEFAULT);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cfg->addr_len = sizeof(*sin);
	cfg->max_conns = 1024;
	cfg->max_sends = 64;
	cfg->chunk_bytes = 1u << 20;
	cfg->idle_timeout_ms = 60000;
	cfg->max_inflight = VX_UPLOAD_INFLIGHT_DEFAULT;
	cfg->header_timeout_ms = 10000;
	cfg->send_stall_ms = 30000;
	cfg->piece_wait_ms = 30000;
	cfg->slot_stall_ms = 5000;
	cfg->max_conns_per_addr = 64;
	cfg->super_seed_window_ms = 8000;
	cfg->super_seed_pieces = 65536;
	cfg->lz4 = true;
}

/* Invariants of each state; debug builds check them on every transition. */
static void up_check_invariants(const struct vx_up_conn *c)
{
	switch (c->state) {
	case VX_UP_FREE:
		VX_ASSERT(c->inflight == 0);
		VX_ASSERT(c->fd == -1);
		VX_ASSERT(!c->piece_held);
		break;
	case VX_UP_READING:
		VX_ASSERT(!c->have_req);
		VX_ASSERT(!c->piece_held);
		VX_ASSERT(c->pipe == NULL);
		break;
	case VX_UP_SERVING:
		VX_ASSERT(c->fd >= 0);
		break;
	case VX_UP_CLOSING:
		break;
	case VX_UP_CLOSED:
		VX_ASSERT(c->inflight == 0);
		VX_ASSERT(!c->piece_held);
		VX_ASSERT(c->pipe == NULL);
		break;
	default:
		VX_ASSERT(!"bad state");
	}
}

static void up_set_state(struct vx_up_conn *c, enum vx_up_state to)
{
	VX_ASSERT(vx_up_legal[c->state][to]);
	c->state = to;
	VX_DASSERT((up_check_invariants(c), true));
}

static uint8_t up_packet_id(struct vx_upload *up)
{
	return (uint8_t)vx__rand(&up->rand);
}

/* Unparsed bytes. rx[] is compacted only while no recv is armed into it. */
static uint32_t up_avail(const struct vx_up_conn *c)
{
	return c->rx_len - c->rx_off;
}

static const uint8_t *up_rx(const struct vx_up_conn *c)
{
	return c->rx + c->rx_off;
}

/* ---- pipes ------------------------------------------------------------------------------ */

static int up_pipe_open(struct vx_up_pipe *p, uint32_t size)
{
	int fds[2];
	int cap;

	if (pipe2(fds, O_CLOEXEC) == -1)
		return -errno;
	/* Best effort: a bigger pipe means fewer splice rounds; pipe-max-size may refuse it. */
	(void)fcntl(fds[1], F_SETPIPE_SZ, (int)size);
	cap = fcntl(fds[1], F_GETPIPE_SZ);
	p->cap = cap > 0 ? (uint32_t)cap : 65536;
	p->rfd = fds[0];
	p->wfd = fds[1];
	p->dirty = false;
	return 0;
}

static void up_pipe_close(struct vx_up_pipe *p)
{
	if (p->rfd >= 0)
		close(p->rfd);
	if (p->wfd >= 0)
		close(p->wfd);
	p->rfd = -1;
	p->wfd = -1;
}

static void up_pipe_release(struct vx_up_conn *c)
{
	struct vx_upload *up = c->up;
	struct vx_up_pipe *p = c->pipe;

	if (!p)
		return;
	c->pipe = NULL;
	if (p->dirty || c->pipe_bytes) {
		up_pipe_close(p);
		if (up_pipe_open(p, up->cfg.chunk_bytes) < 0) {
			vx_warn("upload: cannot recreate a splice pipe; %s", "pool shrinks by one");
			return;
		}
	}
	c->pipe_bytes = 0;
	vx_list_add(&up->free_pipes, &p->node);
	if (!vx_list_empty(&up->pipe_waiters)) {
		struct vx_up_conn *w =
			vx_list_first(&up->pipe_waiters, struct vx_up_conn, wait_node);

		vx_list_del(&w->wait_node);
		up_pump(w);
	}
}

/* ---- sending ---------------------------------------------------------------------------- */

static void up_tls_send(struct vx_up_conn *c, const uint8_t *buf, uint32_t len, uint8_t what);
static bool up_tls_arm_tx(struct vx_up_conn *c);
static bool up_tls_hand_off(struct vx_up_conn *c);

static void up_send(struct vx_up_conn *c, const uint8_t *buf, uint32_t len, bool more, bool ctl)
{
	struct io_uring_sqe *sqe;

	if (c->tls) {
		up_tls_send(c, buf, len, ctl ? VX_UP_TLS_CTL : VX_UP_TLS_HEAD);
		c->sending_ctl = ctl;
		return;
	}
	sqe = vx_loop_sqe(c->up->loop);

	io_uring_prep_send(sqe, c->fd, buf, len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
	vx_loop_arm(c->up->loop, &c->send_op, sqe, false);
	c->inflight++;
	c->sending_ctl = ctl;
}

/* Queues an Error answer for the current position in the request stream. */
static void up_answer_error(struct vx_up_conn *c, uint8_t code, const char *msg, bool close)
{
	ssize_t n = vx_frame_encode_error(c->head, sizeof(c->head), up_packet_id(c->up), code, msg,
					  strlen(msg));

	VX_ASSERT(n > 0);
	c->head_off = 0;
	c->head_len = (uint32_t)n;
	c->have_req = true;
	c->waiting = false;
	c->close_after = c->close_after || close;
	c->up->stats.errors_sent++;
}

/* ---- lz4 bodies (spec/vortex.md 5.5) ---------------------------------------------------- */

/*
 * What the connection can deliver, bytes/s: the highest of the kernel's delivery-rate samples
 * (TCP_INFO) so far, capped by our own rate limits; 0 when it cannot say. The highest, not
 * the latest: a sample taken while the sender idled or the machine was busy says less than
 * the path can (loopback on a loaded machine reported 0.2-0.9 GB/s and got compressed,
 * 33 % slower; a shaped link's samples never exceed its rate).
 */
static uint64_t up_link_rate(struct vx_up_conn *c)
{
	const struct vx_upload_cfg *cfg = &c->up->cfg;
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	uint64_t rate;

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    len >= offsetof(struct tcp_info, tcpi_delivery_rate) + sizeof(ti.tcpi_delivery_rate))
		c->link_max = VX_MAX(c->link_max, (uint64_t)ti.tcpi_delivery_rate);
	rate = c->link_max;
	if (cfg->rate_bytes_per_s && (!rate || rate > cfg->rate_bytes_per_s))
		rate = cfg->rate_bytes_per_s;
	if (cfg->conn_rate_bytes_per_s && (!rate || rate > cfg->conn_rate_bytes_per_s))
		rate = cfg->conn_rate_bytes_per_s;
	return rate;
}

/*
 * Compresses @len bytes at @src into @dst (@cap bytes); 0 when it did not fit. Timed into
 * lz4's moving rate when the bytes compressed: lz4 skips through incompressible input several
 * times faster, which says nothing about what compressing a piece that wins costs.
 */
static uint32_t up_lz4_encode(struct vx_upload *up, const uint8_t *src, uint64_t len, uint8_t *dst,
			      uint32_t cap)
{
	uint64_t t0 = vx_now_ns();
	uint32_t n = vx__lz4_encode(src, len, dst, cap);
	uint64_t ns = vx_now_ns() - t0;

	if (n > 0 && n < len)
		up->lz4_rate =
			(up->lz4_rate * 3 + len * 1000000000ull / VX_MAX(ns, (uint64_t)1)) / 4;
	return n;
}

/*
 * Reads bytes [@from, @to) of the piece being answered into lz4_plain (sized for the piece).
 * pread(2) rather than the piece's mapping: page-cache pages the process maps stay in its RSS
 * (a seed compressing a 256 MiB file grew to 291 MiB that way), a copy costs a tenth of the
 * compression. False on a read error or no memory (the answer goes raw; its splice reports).
 */
static bool up_lz4_read(struct vx_up_conn *c, uint64_t from, uint64_t to)
{
	struct vx_upload *up = c->up;
	ssize_t r;

	if (up->lz4_plain_cap < c->piece.length) {
		vx_free(up->lz4_plain);
		up->lz4_plain = vx_malloc(c->piece.length);
		up->lz4_plain_cap = up->lz4_plain ? c->piece.length : 0;
		if (!up->lz4_plain)
			return false;
	}
	while (from < to) {
		r = pread(c->piece.fd, up->lz4_plain + from, to - from,
			  (off_t)(c->piece.offset + from));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		from += (uint64_t)r;
	}
	return true;
}

/*
 * The compressed body of the piece being answered, referenced, when sending it beats sending
 * the piece raw on this connection (vx__lz4_worth()); NULL: raw. A cached body costs no CPU.
 * Otherwise the piece's first VX_LZ4_SAMPLE bytes are compressed to guess its ratio, and the
 * whole piece is only when the guess wins; it is then cached for the next child that asks.
 */
static struct vx__lz4_piece *up_lz4_body(struct vx_up_conn *c)
{
	struct vx_upload *up = c->up;
	uint64_t len = c->piece.length;
	uint32_t bound = vx__lz4_bound(len);
	struct vx__lz4_piece *e;
	uint64_t link;
	uint32_t slen, n;
	uint8_t *data, *fit;

	if (!c->lz4 || c->tls || len < VX_LZ4_PIECE_MIN || bound == 0)
		return NULL;
	link = up_link_rate(c);
	e = vx__lz4_cache_get(&up->lz4, c->req_task, c->req_number, len);
	if (e && vx__lz4_worth(link, up->lz4_rate, (uint32_t)(e->clen * 1000ull / len), true))
		return e;
	if (e) {
		vx__lz4_cache_unref(e);
		return NULL;
	}
	/* A link faster than lz4 itself: raw whatever the data. */
	if (!vx__lz4_worth(link, up->lz4_rate, 0, false))
		return NULL;
	if (!up->lz4_sample)
		up->lz4_sample = vx_malloc(vx__lz4_bound(VX_LZ4_SAMPLE));
	slen = (uint32_t)VX_MIN(len, (uint64_t)VX_LZ4_SAMPLE);
	if (!up->lz4_sample || !up_lz4_read(c, 0, slen))
		return NULL;
	n = up_lz4_encode(up, up->lz4_plain, slen, up->lz4_sample, vx__lz4_bound(VX_LZ4_SAMPLE));
	if (n == 0 || !vx__lz4_worth(link, up->lz4_rate, (uint32_t)(n * 1000ull / slen), false))
		return NULL;
	data = up_lz4_read(c, slen, len) ? vx_malloc(bound) : NULL;
	if (!data)
		return NULL;
	n = up_lz4_encode(up, up->lz4_plain, len, data, bound);
	if (n == 0 || n >= len) {
		vx_free(data);
		return NULL;
	}
	fit = vx_realloc(data, n);
	e = vx__lz4_cache_put(&up->lz4, c->req_task, c->req_number, len, fit ? fit : data, n);
	vx_metric_set(&vx_m_lz4_cache_bytes, 0, (int64_t)up->lz4.bytes);
	if (e && !vx__lz4_worth(link, up->lz4_rate, (uint32_t)(n * 1000ull / len), true)) {
		vx__lz4_cache_unref(e); /* the whole piece compressed worse than its start */
		return NULL;
	}
	return e;
}

/* Builds the PieceContent head (or its compressed variant) for the piece just looked up. */
static void up_answer_piece(struct vx_up_conn *c)
{
	struct vx_upload_piece *p = &c->piece;
	char digest[VX_DIGEST_CRC32_STR_MAX];
	size_t plen = p->parent_id ? strlen(p->parent_id) : 0;
	struct vx_piece_content m = {
		.number = c->req_number,
		.offset = p->content_offset,
		.length = p->length,
		.digest = digest,
		.parent_id = p->parent_id ? p->parent_id : "",
		.parent_id_len = (uint32_t)VX_MIN(plen, (size_t)VX_UPLOAD_PARENT_ID_MAX),
		.traffic_type = VX_TRAFFIC_REMOTE_PEER,
		.cost_s = p->cost_s,
		.created_at_s = p->created_s,
	};
	int dlen = vx_digest_format_crc32(p->crc32, digest, sizeof(digest));
	ssize_t n;

	VX_ASSERT(dlen > 0);
	m.digest_len = (uint32_t)dlen;
	c->lz = up_lz4_body(c);
	if (c->lz) {
		uint8_t v[VX_UP_HEAD_MAX];

		n = vx_compressed_content_encode(&m, VX_COMPRESSION_LZ4, c->lz->clen, v, sizeof(v));
		if (n >= 0)
			n = vx_frame_encode(c->head, sizeof(c->head), up_packet_id(c->up),
					    VX_TAG_COMPRESSED_PIECE_CONTENT, v, (uint32_t)n);
	} else {
		n = vx_frame_encode_content_head(c->head, sizeof(c->head), up_packet_id(c->up),
						 vx_tag_content_for(c->req_tag), &m);
	}
	if (n < 0) {
		if (c->lz)
			vx__lz4_cache_unref(c->lz);
		c->lz = NULL;
		/* The source gave metadata we cannot send (e.g. a parent id that is not UTF-8). */
		c->up->cfg.ops->put(c->up->cfg.ops_ctx, p);
		c->piece_held = false;
		up_answer_error(c, VX_ERROR_CODE_INTERNAL, "piece metadata cannot be encoded",
				false);
		return;
	}
	c->head_off = 0;
	c->head_len = (uint32_t)n;
	c->file_off = p->offset;
	c->file_left = c->lz ? c->lz->clen : p->length;
	c->pipe_bytes = 0;
	c->splice_failed = false;
	c->out_blocked = false;
	c->refill_blocked = false;
}

/*
 * The super-seeding slot of @task, taking the least recently used one when it has none at
 * @now: O(1), the stamps it holds count as never sent (every peer super-seeds, and one serving
 * more than VX_UPLOAD_SUPER_SEED_TASKS tasks at once takes a slot per request).
 */
static struct vx_up_ss *up_ss_slot(struct vx_upload *up, const char *task, uint64_t now)
{
	struct vx_up_ss *lru = &up->ss[0];

	for (uint32_t i = 0; i < VX_UPLOAD_SUPER_SEED_TASKS; i++) {
		struct vx_up_ss *x = &up->ss[i];

		if (x->used && memcmp(x->task, task, VX_TASK_ID_LEN) == 0) {
			x->used_at = ++up->ss_clock;
			return x;
		}
		if (!x->used || x->used_at < lru->used_at)
			lru = x;
	}
	memcpy(lru->task, task, VX_TASK_ID_LEN);
	lru->since_ms = now;
	lru->used = true;
	lru->used_at = ++up->ss_clock;
	return lru;
}

/*
 * Super-seeding: true when piece @n of the requested task went to some peer less than the
 * window ago, so this vx peer should get it from the swarm; otherwise it is recorded as sent.
 * A connection asking again for a piece it was refused is served: a child whose other
 * parents do not have it waits one BUSY back-off, not until the others stop being served.
 */
static bool up_ss_defer(struct vx_up_conn *c, uint32_t n)
{
	struct vx_upload *up = c->up;
	uint64_t now = vx_loop_now_ms(up->loop) + 1; /* 0 means never */
	struct vx_up_ss *x;
	uint32_t key;

	if (!up->ss || c->mode != VX_UP_MODE_VX || n >= up->cfg.super_seed_pieces)
		return false;
	x = up_ss_slot(up, c->req_task, now);
	key = (uint32_t)(x - up->ss) << 24 | n; /* pieces below 2^20: checked at create */
	if (x->sent_ms[n] > x->since_ms && x->sent_ms[n] + up->cfg.super_seed_window_ms > now) {
		bool again = false;

		for (uint32_t i = 0; i < VX_UP_SS_REFUSED && !again; i++)
			again = c->ss_refused[i] == key + 1;
		if (!again) {
			c->ss_refused[c->ss_refused_next] = key + 1; /* 0: empty */
			c->ss_refused_next = (uint8_t)((c->ss_refused_next + 1) % VX_UP_SS_REFUSED);
			return true;
		}
	}
	/* stamped after the slot was taken, even within its millisecond */
	x->sent_ms[n] = now > x->since_ms ? now : x->since_ms + 1;
	return false;
}

static void up_ss_free(struct vx_upload *up)
{
	for (uint32_t i = 0; up->ss && i < VX_UPLOAD_SUPER_SEED_TASKS; i++)
		vx_free(up->ss[i].sent_ms);
	vx_free(up->ss);
	up->ss = NULL;
}

/*
 * Whether the TLS client of @c may read task @task_id (cfg.task_admit, asked per request, not
 * per connection). Plaintext connections have no identity to ask about: served as before.
 */
static bool up_task_allowed(const struct vx_up_conn *c, const char *task_id)
{
	const struct vx_upload *up = c->up;
	const struct vx_tls_id *peer;

	if (!c->tls || !up->cfg.task_admit)
		return true;
	if (vx__tls_peer(c->tls, &peer) || up->cfg.task_admit(up->cfg.tls_admit_ctx, peer, task_id))
		return false;
	return true;
}

/* Looks the requested piece up; on -EAGAIN the connection waits (bounded). */
static void up_lookup(struct vx_up_conn *c)
{
	struct vx_upload *up = c->up;
	/* a task the client may not read is answered as unknown: its existence is not told */
	int ret = up_task_allowed(c, c->req_task)
			  ? up->cfg.ops->get(up->cfg.ops_ctx, c->req_task, c->req_number, &c->piece)
			  : -ENOENT;

	if (ret == 0 && up_ss_defer(c, c->req_number)) {
		up->cfg.ops->put(up->cfg.ops_ctx, &c->piece);
		up->stats.busy_sent++;
		up_answer_error(c, VX_ERROR_CODE_BUSY,
				"sent to another peer just now: ask the swarm", false);
		return;
	}
	if (ret == 0) {
		if (c->piece.length > VX_PIECE_BODY_MAX) {
			up->cfg.ops->put(up->cfg.ops_ctx, &c->piece);
			up_answer_error(c, VX_ERROR_CODE_INTERNAL, "piece larger than 1 GiB",
					false);
			return;
		}
		c->piece_held = true;
		c->waiting = false;
		up_answer_piece(c);
		return;
	}
	if (ret == -EAGAIN && c->mode == VX_UP_MODE_VX) {
		/* vx peers learn availability from HAVE frames: no waiting (spec/vortex.md 4). */
		up_answer_error(c, VX_ERROR_CODE_NOT_FOUND, "piece not finished", false);
		return;
	}
	if (ret == -EAGAIN) {
		if (!c->waiting) {
			c->waiting = true;
			c->wait_deadline_ms = vx_loop_now_ms(up->loop) + up->cfg.piece_wait_ms;
		}
		return;
	}
	if (ret == -ENOENT || ret == -ERANGE)
		up_answer_error(c, VX_ERROR_CODE_NOT_FOUND, "piece not found", false);
	else
		up_answer_error(c, VX_ERROR_CODE_INTERNAL, "piece lookup failed", false);
}

/* Appends a BITFIELD frame for the subscribed task to ctl; the store writes the bits in place. */
static void up_queue_bitfield(struct vx_up_conn *c)
{
	struct vx_upload *up = c->up;
	uint8_t *p = c->ctl->buf + c->ctl_len;
	size_t room = VX_UP_CTL_MAX - c->ctl_len;
	uint32_t count = 0;
	ssize_t n;

	if (room < VX_FRAME_HDR_LEN + VX_BITFIELD_HDR_LEN) {
		c->sub_resync = true;
		return;
	}
	n = !up_task_allowed(c, c->sub_task)
		    ? -ENOENT
		    : up->cfg.ops->bitmap(up->cfg.ops_ctx, c->sub_task,
					  p + VX_FRAME_HDR_LEN + VX_BITFIELD_HDR_LEN,
					  room - VX_FRAME_HDR_LEN - VX_BITFIELD_HDR_LEN, &count);
	if (n == -ENOBUFS && c->ctl_len > 0) {
		c->sub_resync = true;
		return;
	}
	if (n >= 0)
		n = vx_bitfield_encode_in_place(c->sub_task, count, p + VX_FRAME_HDR_LEN,
						room - VX_FRAME_HDR_LEN);
	if (n < 0) {
		c->subscribed = false;
		up_answer_error(c, n == -ENOENT ? VX_ERROR_CODE_NOT_FOUND : VX_ERROR_CODE_INTERNAL,
				"no bitfield for task", false);
		return;
	}
	vx_frame_hdr_encode(p, &(struct vx_frame_hdr){ .packet_id = up_packet_id(up),
						       .tag = VX_TAG_BITFIELD,
						       .length = (uint32_t)n });
	c->ctl_len += (uint32_t)(VX_FRAME_HDR_LEN + (size_t)n);
	c->sub_resync = false;
}

/*
 * Encodes the batched HAVE numbers into one frame appended to ctl. The pump runs it when no
 * send is in the kernel, so every number finished meanwhile shares the frame; a batch that is
 * full is encoded at once. When ctl has no room the numbers wait, and once they fill a frame
 * as well they are dropped for a fresh BITFIELD (sub_resync).
 */
static void up_flush_haves(struct vx_up_conn *c)
{
	struct vx_up_ctl *ctl = c->ctl;
	size_t room = VX_UP_CTL_MAX - c->ctl_len;
	ssize_t n = -ENOSPC;
	uint8_t *p;

	if (!ctl || ctl->have_len == 0)
		return;
	p = ctl->buf + c->ctl_len;
	if (room > VX_FRAME_HDR_LEN)
		n = vx_have_encode(c->sub_task, ctl->have, ctl->have_len, p + VX_FRAME_HDR_LEN,
				   room - VX_FRAME_HDR_LEN);
	if (n == -ENOSPC && ctl->have_len < VX_HAVE_NUMBERS_MAX)
		return;
	ctl->have_len = 0;
	if (n < 0) {
		c->sub_resync = true;
		return;
	}
	vx_frame_hdr_encode(p, &(struct vx_frame_hdr){ .packet_id = up_packet_id(c->up),
						       .tag = VX_TAG_HAVE,
						       .length = (uint32_t)n });
	c->ctl_len += (uint32_t)(VX_FRAME_HDR_LEN + (size_t)n);
}

static void up_queue_have(struct vx_up_conn *c, uint32_t number)
{
	struct vx_up_ctl *ctl = c->ctl;

	if (c->sub_resync)
		return;
	if (ctl->have_len == VX_HAVE_NUMBERS_MAX)
		up_flush_haves(c); /* a full frame; appending behind an armed send is safe */
	if (c->sub_resync)
		return; /* no room: a fresh BITFIELD replaces the lost HAVEs */
	c->up->stats.haves_sent++;
	ctl->have[ctl->have_len++] = number;
}

/* ---- decoding requests ------------------------------------------------------------------ */

/* Unparsed input ends decoding; it is answered INVALID (and the connection closed) in turn. */
static void up_rx_fail(struct vx_up_conn *c, const char *msg)
{
	c->rx_stop = true;
	c->rx_error = msg;
}

static struct vx_up_req *up_req_push(struct vx_up_conn *c)
{
	struct vx_up_req *r;

	VX_ASSERT(c->req_len < VX_UP_REQ_MAX);
	r = &c->reqs[(c->req_head + c->req_len++) % VX_UP_REQ_MAX];
	memset(r, 0, sizeof(*r));
	return r;
}

/* A DownloadPiece (or twin) arrived. Its verdict is fixed now: arrival order counts (5.2). */
static void up_on_download(struct vx_up_conn *c, const struct vx_frame *f)
{
	struct vx_download_piece dp;
	struct vx_up_req *r;

	if (vx_download_piece_decode(f->value, f->value_len, &dp) != 0) {
		up_rx_fail(c, "malformed DownloadPiece"); /* the decoder checked it: unreachable */
		return;
	}
	if (c->mode == VX_UP_MODE_NEW)
		c->mode = VX_UP_MODE_PLAIN;
	r = up_req_push(c);
	r->tag = f->hdr.tag;
	r->number = dp.piece_number;
	memcpy(r->task, dp.task_id, VX_TASK_ID_LEN);
	r->verdict = VX_UP_SERVE;
	if (c->mode == VX_UP_MODE_PLAIN) {
		c->rx_stop = true; /* Dragonfly's framing: one request per connection */
		return;
	}
	c->outstanding++;
	if (c->outstanding > c->up->cfg.max_inflight)
		r->verdict = VX_UP_BUSY;
}

/* CANCEL: drops the queued requests for that piece that have not started (5.4). */
static void up_on_cancel(struct vx_up_conn *c, const struct vx_frame *f)
{
	struct vx_download_piece dp;

	if (c->mode != VX_UP_MODE_VX || vx_download_piece_decode(f->value, f->value_len, &dp)) {
		up_rx_fail(c, "unexpected CANCEL");
		return;
	}
	for (uint32_t i = 0; i < c->req_len; i++) {
		struct vx_up_req *r = &c->reqs[(c->req_head + i) % VX_UP_REQ_MAX];

		if (vx_tag_is_download(r->tag) && r->verdict == VX_UP_SERVE &&
		    r->number == dp.piece_number &&
		    memcmp(r->task, dp.task_id, VX_TASK_ID_LEN) == 0)
			r->verdict = VX_UP_CANCELLED;
	}
}

static void up_on_frame(struct vx_up_conn *c, const struct vx_frame *f)
{
	struct vx_interest in;
	struct vx_up_req *r;
	struct vx_hello h;

	if (vx_tag_is_download(f->hdr.tag)) {
		up_on_download(c, f);
		return;
	}
	switch (f->hdr.tag) {
	case VX_TAG_HELLO:
		if (c->mode != VX_UP_MODE_NEW || vx_hello_decode(f->value, f->value_len, &h) != 0) {
			up_rx_fail(c, "unexpected HELLO");
			return;
		}
		c->mode = VX_UP_MODE_VX;
		c->lz4 = c->up->cfg.lz4 && (h.features & VX_HELLO_F_LZ4);
		c->hello_due = true;
		return;
	case VX_TAG_INTEREST:
		if (c->mode != VX_UP_MODE_VX || !c->up->cfg.ops->bitmap ||
		    vx_interest_decode(f->value, f->value_len, &in) != 0) {
			up_rx_fail(c, "unexpected INTEREST");
			return;
		}
		r = up_req_push(c);
		r->tag = VX_TAG_INTEREST;
		r->op = in.op;
		memcpy(r->task, in.task_id, VX_TASK_ID_LEN);
		return;
	case VX_TAG_CANCEL:
		up_on_cancel(c, f);
		return;
	case VX_TAG_CLOSE:
		c->rx_stop = true; /* nothing after Close is read */
		c->rx_closed = true;
		return;
	default:
		/* Error from a downloader, or anything the decoder lets through for others. */
		up_rx_fail(c, "unexpected tag");
		return;
	}
}

/*
 * Feeds received bytes to the decoder while the request queue has room; every frame becomes
 * a queue entry (or marks one). A partial frame stays in the decoder, so rx[] is emptied
 * unless the queue is full, which is the backpressure: recv stops when rx[] is full too.
 */
static void up_decode(struct vx_up_conn *c)
{
	uint64_t now = vx_loop_now_ms(c->up->loop);

	while (up_avail(c) > 0 && !c->rx_stop && c->req_len < VX_UP_REQ_MAX) {
		struct vx_frame f;
		ssize_t n = vx_frame_dec_feed(&c->dec, up_rx(c), up_avail(c), &f);

		if (n == -EAGAIN) {
			c->rx_off = c->rx_len;
			break;
		}
		if (n < 0) {
			vx_debug("upload: %s", vx_frame_dec_reason_str(&c->dec));
			up_rx_fail(c, n == -EMSGSIZE ? "frame too long" : "malformed frame");
			break;
		}
		c->rx_off += (uint32_t)n;
		c->rx_start_ms = now;
		up_on_frame(c, &f);
	}
	if (c->rx_stop)
		c->rx_off = c->rx_len; /* nothing more is read */
}

/* Bytes of a frame not complete yet (held by the decoder or waiting in rx[]). */
static bool up_rx_pending(const struct vx_up_conn *c)
{
	return up_avail(c) > 0 || !vx_frame_dec_at_boundary(&c->dec);
}

/* Queues our HELLO as the answer at the current position. */
static void up_answer_hello(struct vx_up_conn *c)
{
	struct vx_hello h = {
		.version = VX_HELLO_VERSION,
		.features = VX_HELLO_F_PIPELINE | VX_HELLO_F_CANCEL |
			    (c->up->cfg.ops->bitmap ? VX_HELLO_F_AVAILABILITY : 0) |
			    (c->up->cfg.lz4 ? VX_HELLO_F_LZ4 : 0),
		.max_inflight = c->up->cfg.max_inflight,
		.max_value_len = VX_HELLO_MAX,
	};
	uint8_t v[VX_HELLO_LEN];
	ssize_t n = -EINVAL;

	if (vx_hello_encode(&h, v) == 0)
		n = vx_frame_encode(c->head, sizeof(c->head), up_packet_id(c->up), VX_TAG_HELLO, v,
				    VX_HELLO_LEN);
	if (n < 0) {
		up_answer_error(c, VX_ERROR_CODE_INTERNAL, "cannot encode HELLO", true);
		return;
	}
	c->head_off = 0;
	c->head_len = (uint32_t)n;
	c->have_req = true;
}

static void up_protocol_error(struct vx_up_conn *c, const char *msg)
{
	c->up->stats.protocol_errors++;
	up_answer_error(c, VX_ERROR_CODE_INVALID_ARGUMENT, msg, true);
}

/* Starts answering a queued DownloadPiece. */
static void up_start_download(struct vx_up_conn *c, const struct vx_up_req *r)
{
	VX_ASSERT(vx_tag_is_download(r->tag));
	memcpy(c->req_task, r->task, VX_TASK_ID_LEN);
	c->req_number = r->number;
	c->req_tag = r->tag;
	c->have_req = true;
	c->up->stats.requests++;
	if (c->mode == VX_UP_MODE_PLAIN)
		c->close_after = true; /* Dragonfly's framing: one answer per connection */
	else
		c->req_counted = true;
	if (r->verdict == VX_UP_BUSY)
		up_answer_error(c, VX_ERROR_CODE_BUSY, "more pipelined requests than announced",
				false);
	else if (r->verdict == VX_UP_CANCELLED)
		up_answer_error(c, VX_ERROR_CODE_CANCELLED, "cancelled", false);
	else
		up_lookup(c);
}

static void up_start_interest(struct vx_up_conn *c, const struct vx_up_req *r)
{
	VX_ASSERT(r->tag == VX_TAG_INTEREST);
	if (r->op == VX_INTEREST_UNSUBSCRIBE) {
		c->subscribed = false;
		return;
	}
	if (!c->ctl) {
		/* Admission of a subscriber, not the piece path. */
		c->ctl = vx_malloc(sizeof(*c->ctl));
		if (!c->ctl) {
			up_answer_error(c, VX_ERROR_CODE_INTERNAL, "out of memory", true);
			return;
		}
		c->ctl->have_len = 0;
	}
	memcpy(c->sub_task, r->task, VX_TASK_ID_LEN);
	c->sub_task[VX_TASK_ID_LEN] = '\0';
	c->ctl->have_len = 0;
	c->subscribed = true;
	up_queue_bitfield(c);
}

/*
 * Takes the next thing to answer, in arrival order: our HELLO, a queued request, then the
 * error or Close that ended the input. Returns false when there is nothing (more bytes needed).
 */
static bool up_next(struct vx_up_conn *c)
{
	const struct vx_up_req *r;
	const char *err;

	up_decode(c);
	if (c->hello_due) {
		c->hello_due = false;
		up_answer_hello(c);
		return true;
	}
	if (c->req_len > 0) {
		r = &c->reqs[c->req_head];
		c->req_head = (c->req_head + 1) % VX_UP_REQ_MAX;
		c->req_len--;
		if (r->tag == VX_TAG_INTEREST)
			up_start_interest(c, r);
		else
			up_start_download(c, r);
		return true;
	}
	if (c->rx_error) {
		err = c->rx_error;
		c->rx_error = NULL;
		up_protocol_error(c, err);
		return true;
	}
	if (c->rx_closed) {
		c->rx_closed = false;
		c->close_after = true;
		return true;
	}
	return false;
}

/* ---- the send pump ---------------------------------------------------------------------- */

static bool up_send_busy(const struct vx_up_conn *c)
{
	return vx_op_armed(&c->send_op) || c->splice_pending > 0;
}

/* A splice of the body is in the kernel (file -> pipe or pipe -> socket), or waits for room. */
static bool up_body_armed(const struct vx_up_conn *c)
{
	return vx_op_armed(&c->splice_in_op) || vx_op_armed(&c->splice_out_op) ||
	       vx_op_armed(&c->pollout_op);
}

/* Bytes the rate limits allow now, at most @want; marks the connection throttled at 0. */
static uint64_t up_take_tokens(struct vx_up_conn *c, uint64_t want)
{
	struct vx_upload *up = c->up;
	uint64_t now = vx_loop_now_ms(up->loop);
	uint64_t n = vx_bucket_peek(&up->bucket, want, now);

	n = vx_bucket_peek(&c->bucket, n, now);
	if (n == 0) {
		c->throttled = true;
		return 0;
	}
	vx_bucket_take(&up->bucket, n);
	vx_bucket_take(&c->bucket, n);
	return n;
}

/*
 * One send (or send_zc) round from the piece's read-only mapping, or from its compressed body.
 * A full socket (the send's -EAGAIN) waits for POLLOUT.
 */
static bool up_send_round(struct vx_up_conn *c)
{
	struct vx_upload *up = c->up;
	const uint8_t *base = c->lz ? c->lz->data : c->piece.data;
	uint64_t total = c->lz ? c->lz->clen : c->piece.length;
	const uint8_t *p = base + (total - c->file_left);
	struct io_uring_sqe *sqe;
	uint64_t n;
	int flags;

	if (vx_op_armed(&c->pollout_op))
		return false;
	n = up_take_tokens(c, VX_MIN(c->file_left, (uint64_t)up->cfg.chunk_bytes));
	if (n == 0)
		return false;
	flags = MSG_NOSIGNAL | (n < c->file_left ? MSG_MORE : 0);
	sqe = vx_loop_sqe(up->loop);
	if (up->cfg.body_mode == VX_UPLOAD_BODY_SEND_ZC)
		io_uring_prep_send_zc(sqe, c->fd, p, (size_t)n, flags, 0);
	else
		io_uring_prep_send(sqe, c->fd, p, (size_t)n, flags);
	vx_loop_arm(up->loop, &c->body_op, sqe, false);
	c->inflight++;
	c->splice_pending = 1;
	return true;
}

/*
 * Encrypts the next round of the body (up to VX__TLS_TX_PLAIN bytes, from the mapping, or read
 * into the bounce buffer for a piece without one) into the send buffer, behind whatever is
 * being sent: file_left counts the bytes not encrypted yet. False when nothing was (no room,
 * rate limit, done, or the connection closed).
 */
static bool up_tls_body_encrypt(struct vx_up_conn *c)
{
	uint64_t pos = c->piece.length - c->file_left;
	const uint8_t *p = c->piece.data ? c->piece.data + pos : NULL;
	uint64_t n;
	ssize_t r;

	if (c->file_left == 0 || !vx__tls_tx_room(c->tls))
		return false;
	n = up_take_tokens(c, VX_MIN(c->file_left, (uint64_t)VX__TLS_TX_PLAIN));
	if (n == 0)
		return false;
	if (!p) {
		if (!c->tls_bounce)
			c->tls_bounce = vx_malloc(VX__TLS_TX_PLAIN);
		r = c->tls_bounce ? pread(c->piece.fd, c->tls_bounce, (size_t)n,
					  (off_t)(c->piece.offset + pos))
				  : -1;
		if (r <= 0) {
			vx_warn("upload: read of piece file: %s",
				r ? strerror(c->tls_bounce ? errno : ENOMEM) : "short file");
			up_close(c);
			return false;
		}
		n = (uint64_t)r;
		p = c->tls_bounce;
	}
	r = vx__tls_write(c->tls, p, (size_t)n);
	if (r < 0 && r != -EAGAIN) {
		c->up->stats.protocol_errors++;
		up_close(c);
		return false;
	}
	if (r <= 0)
		return false;
	c->file_left -= (uint64_t)r;
	c->up->stats.bytes_sent += (uint64_t)r;
	vx_metric_upload((uint64_t)r, 0); /* vx_upload_bytes_total counts TLS bodies too */
	return true;
}

/*
 * A TLS round of the body: send what is encrypted and encrypt the next round while it is out,
 * so the socket never waits for AES (the send and the next round overlap, as the two splice
 * chains do).
 */
static bool up_tls_body_round(struct vx_up_conn *c)
{
	(void)up_tls_body_encrypt(c);
	if (c->state == VX_UP_CLOSING)
		return false;
	c->tls_send = VX_UP_TLS_BODY;
	c->tls_plain = 0;
	if (!up_tls_arm_tx(c))
		return false; /* rate limit: the tick resumes it */
	(void)up_tls_body_encrypt(c);
	return true;
}

/*
 * Bytes the socket's send buffer takes now without waiting (SO_MEMINFO: the limit TCP checks,
 * sndbuf against queued memory), less @pending bytes already on their way to it; *@sndbuf gets
 * the buffer size. INT64_MAX when the socket cannot say (the splice is non-blocking anyway).
 */
static int64_t up_sock_room(const struct vx_up_conn *c, uint64_t pending, uint32_t *sndbuf)
{
	uint32_t mi[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mi);

	*sndbuf = 0;
	if (getsockopt(c->fd, SOL_SOCKET, SO_MEMINFO, mi, &len) < 0 ||
	    len < sizeof(uint32_t) * (SK_MEMINFO_WMEM_QUEUED + 1))
		return INT64_MAX;
	*sndbuf = mi[SK_MEMINFO_SNDBUF];
	return (int64_t)mi[SK_MEMINFO_SNDBUF] - (int64_t)mi[SK_MEMINFO_WMEM_QUEUED] -
	       (int64_t)VX_MIN(pending, (uint64_t)INT32_MAX);
}

/* Bytes of the body the next file -> pipe splice may take: what the socket can take next. */
static uint64_t up_refill_bytes(struct vx_up_conn *c)
{
	uint32_t sndbuf;
	int64_t room = up_sock_room(c, c->pipe_bytes, &sndbuf);
	uint64_t n = VX_MIN(c->file_left, (uint64_t)c->up->cfg.chunk_bytes);

	n = VX_MIN(n, (uint64_t)(c->pipe->cap - c->pipe_bytes));
	if (room == INT64_MAX)
		return n;
	/*
	 * The buffer is charged for packet overhead too (40% more than the data for a peer with
	 * a 4 KiB window, measured): a quarter of the room fits all but absurd windows, and what
	 * does not fit waits in the pipe (up_tick_conn() bounds that). Less than a quarter of
	 * the buffer free: wait for POLLOUT (which TCP raises at a third) rather than trickle
	 * small rounds, unless that is all the body has left.
	 */
	if (room <= 0 || ((uint64_t)room < sndbuf / 4 && (uint64_t)room / 4 < n))
		return 0;
	return VX_MAX(VX_MIN(n, (uint64_t)room / 4), (uint64_t)1);
}

static void up_arm_pollout(struct vx_up_conn *c)
{
	struct io_uring_sqe *sqe = vx_loop_sqe(c->up->loop);

	io_uring_prep_poll_add(sqe, c->fd, POLLOUT);
	vx_loop_arm(c->up->loop, &c->pollout_op, sqe, false);
	c->inflight++;
}

/*
 * Starts the next splice round of the body; returns false if it must wait.
 *
 * No splice here ever blocks: io_uring runs splices in its io-wq workers, a bounded pool
 * shared by the ring, and a splice that blocked on a peer that does not read would pin one
 * for as long as the peer likes (4 such peers stalled every other upload of the server). So
 * the socket is non-blocking (set at admission), the refill is non-blocking, and the refill
 * takes only what the socket's send buffer has room for, so the pipe drains in one splice.
 * A full socket is waited for with a POLLOUT poll; an empty pipe goes back to the pool
 * meanwhile, so a peer that does not read holds no send slot either.
 */
static bool up_splice_round(struct vx_up_conn *c)
{
	struct vx_upload *up = c->up;
	struct io_uring_sqe *sqe;
	uint64_t n;

	if (c->tls)
		return up_tls_body_round(c);
	if (c->lz || (up->cfg.body_mode != VX_UPLOAD_BODY_SPLICE && c->piece.data))
		return up_send_round(c);
	if (vx_op_armed(&c->pollout_op))
		return false;
	if (!c->pipe) {
		if (vx_list_empty(&up->free_pipes)) {
			if (vx_list_empty(&c->wait_node))
				vx_list_add_tail(&up->pipe_waiters, &c->wait_node);
			return false;
		}
		c->pipe = vx_list_first(&up->free_pipes, struct vx_up_pipe, node);
		vx_list_del(&c->pipe->node);
	}
	if (c->pipe_bytes == 0)
		c->refill_blocked = false;
	/*
	 * Two independent chains over one pipe: file -> pipe refills while pipe -> socket
	 * drains, so the socket never waits for the next read. Each chain has at most one
	 * splice in flight (file offsets and socket bytes stay in order).
	 */
	if (!vx_op_armed(&c->splice_in_op) && !c->refill_blocked && c->file_left > 0 &&
	    c->pipe_bytes < c->pipe->cap) {
		n = up_refill_bytes(c);
		if (n > 0)
			n = up_take_tokens(c, n);
		if (n > 0) {
			sqe = vx_loop_sqe(up->loop);
			io_uring_prep_splice(sqe, c->piece.fd, (int64_t)c->file_off, c->pipe->wfd,
					     -1, (unsigned int)n,
					     SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			vx_loop_arm(up->loop, &c->splice_in_op, sqe, false);
			c->inflight++;
		}
	}
	if (!vx_op_armed(&c->splice_out_op) && !c->out_blocked && c->pipe_bytes > 0) {
		sqe = vx_loop_sqe(up->loop);
		io_uring_prep_splice(sqe, c->pipe->rfd, -1, c->fd, -1, (unsigned int)c->pipe_bytes,
				     SPLICE_F_MOVE | SPLICE_F_NONBLOCK |
					     (c->file_left > 0 ? SPLICE_F_MORE : 0));
		vx_loop_arm(up->loop, &c->splice_out_op, sqe, false);
		c->inflight++;
	}
	if (up_body_armed(c) || c->throttled)
		return true;
	/* Nothing can move: the socket is full. */
	if (c->pipe_bytes == 0)
		up_pipe_release(c);
	up_arm_pollout(c);
	return true;
}

/* Gives the answer's compressed body back to the cache. */
static void up_lz4_release(struct vx_up_conn *c)
{
	if (!c->lz)
		return;
	vx__lz4_cache_unref(c->lz);
	c->lz = NULL;
}

/* The answer to the current request is fully sent. */
static void up_finish_answer(struct vx_up_conn *c)
{
	struct vx_upload *up = c->up;

	if (c->lz) {
		up->stats.lz4_pieces_sent++;
		up->stats.lz4_bytes_saved += c->lz->len - c->lz->clen;
		vx_metric_inc(&vx_m_lz4_pieces, VX_M_DIR_SENT);
		vx_metric_add(&vx_m_lz4_saved_bytes, VX_M_DIR_SENT,
			      (int64_t)(c->lz->len - c->lz->clen));
		up_lz4_release(c);
	}

	if (c->piece_held) {
		if (c->piece.length == 0)
			up->stats.pieces_sent++; /* no body: sent with its head */
		vx_metric_add(&vx_m_pieces_uploaded, 0, c->piece.length == 0);
		up->cfg.ops->put(up->cfg.ops_ctx, &c->piece);
		c->piece_held = false;
	}
	up_pipe_release(c);
	if (c->req_counted) {
		VX_ASSERT(c->outstanding > 0);
		c->outstanding--;
		c->req_counted = false;
	}
	c->have_req = false;
	c->head_len = 0;
	c->head_off = 0;
}

/*
 * Draining, a vx connection whose answer in progress (if any) is sent: queues our Close
 * (spec/vortex.md 3.4) and returns true, or, once it went out, shuts our writing (FIN after
 * the bytes still in the socket) and reads on, discarding, until the peer closes too, so that
 * no reset can drop bytes the peer has not read yet. Requests not started are not answered:
 * the fetcher asks for them again (of the daemon that took the socket over).
 */
static bool up_drain_step(struct vx_up_conn *c)
{
	ssize_t n;

	if (c->close_after) {
		up_close(c);
		return false;
	}
	if (!c->bye_sent) {
		n = vx_frame_encode(c->head, sizeof(c->head), up_packet_id(c->up), VX_TAG_CLOSE,
				    NULL, 0);
		VX_ASSERT(n > 0);
		c->bye_sent = true;
		c->head_off = 0;
		c->head_len = (uint32_t)n;
		c->have_req = true;
		return true;
	}
	if (!c->linger) {
		c->linger = true;
		c->rx_stop = true;
		c->req_len = 0;
		c->rx_error = NULL;
		(void)shutdown(c->fd, SHUT_WR);
	}
	if (c->state == VX_UP_SERVING)
		up_set_state(c, VX_UP_READING);
	up_arm_recv(c);
	return false;
}

/*
 * Moves the connection forward as far as it can without waiting: send the current answer
 * (head, then body), then queued control frames, then parse the next buffered request.
 */
static void up_pump(struct vx_up_conn *c)
{
	for (;;) {
		if (c->state == VX_UP_CLOSING || c->state == VX_UP_CLOSED || up_send_busy(c))
			return;
		if (c->have_req) {
			if (c->waiting || c->throttled)
				return;
			if (c->head_off < c->head_len) {
				up_send(c, c->head + c->head_off, c->head_len - c->head_off,
					c->piece_held && c->piece.length > 0, false);
				return;
			}
			if (c->piece_held &&
			    (c->file_left > 0 || c->pipe_bytes > 0 || up_body_armed(c))) {
				up_splice_round(c);
				return;
			}
			up_finish_answer(c);
			if (c->close_after) {
				up_close(c);
				return;
			}
			continue;
		}
		if (c->up->draining && c->mode == VX_UP_MODE_VX && !c->hello_due) {
			if (up_drain_step(c))
				continue;
			return;
		}
		if (c->subscribed && c->sub_resync && c->ctl_len == 0)
			up_queue_bitfield(c);
		if (c->subscribed && !c->sub_resync)
			up_flush_haves(c);
		if (c->ctl_off < c->ctl_len) {
			if (c->state == VX_UP_READING)
				up_set_state(c, VX_UP_SERVING);
			up_send(c, c->ctl->buf + c->ctl_off, c->ctl_len - c->ctl_off, false, true);
			return;
		}
		if (c->close_after) {
			up_close(c);
			return;
		}
		if (up_next(c)) {
			if (c->state == VX_UP_READING)
				up_set_state(c, VX_UP_SERVING);
			continue;
		}
		if (c->state == VX_UP_SERVING)
			up_set_state(c, VX_UP_READING);
		up_arm_recv(c);
		return;
	}
}

/* ---- TLS (cfg.tls): records in user space, on the same ops -------------------------------- */

/* Arms the send of the ciphertext waiting in the engine; false when there is none. */
static bool up_tls_arm_tx(struct vx_up_conn *c)
{
	struct io_uring_sqe *sqe;
	const uint8_t *d;
	uint32_t len;

	if (vx_op_armed(&c->send_op))
		return true;
	d = vx__tls_tx_data(c->tls, &len);
	if (!d)
		return false;
	sqe = vx_loop_sqe(c->up->loop);
	io_uring_prep_send(sqe, c->fd, d, len, MSG_NOSIGNAL);
	vx_loop_arm(c->up->loop, &c->send_op, sqe, false);
	c->inflight++;
	return true;
}

/* Sends records OpenSSL wrote on its own (handshake, alerts) when no send is armed. */
static void up_tls_flush(struct vx_up_conn *c)
{
	if (vx_op_armed(&c->send_op))
		return; /* the armed send goes on until the buffer is empty */
	c->tls_send = VX_UP_TLS_FLUSH;
	c->tls_plain = 0;
	(void)up_tls_arm_tx(c);
}

/* Encrypts what up_send() or a body round would have sent, and sends the records. */
static void up_tls_send(struct vx_up_conn *c, const uint8_t *buf, uint32_t len, uint8_t what)
{
	ssize_t w = vx__tls_write(c->tls, buf, len);

	if (w < 0 && w != -EAGAIN) {
		c->up->stats.protocol_errors++;
		up_close(c);
		return;
	}
	c->tls_send = what;
	c->tls_plain = w > 0 ? (uint32_t)w : 0;
	if (!up_tls_arm_tx(c))
		up_close(c); /* no room and nothing to send: cannot happen */
}

/*
 * A send of a TLS connection completed (the engine has consumed it). Returns the plaintext
 * bytes of head[] or ctl it completed, for on_send_done() to account; 0 when it handled the
 * completion itself (more records to send, a body round, a flush).
 */
static int up_tls_sent(struct vx_up_conn *c)
{
	uint32_t plain;

	if (up_tls_arm_tx(c)) {
		/* The rest of the records, or the round encrypted meanwhile: encrypt the next. */
		if (c->tls_send == VX_UP_TLS_BODY && c->piece_held && !c->throttled)
			(void)up_tls_body_encrypt(c);
		return 0;
	}
	plain = c->tls_plain;
	c->tls_plain = 0;
	if (c->tls_send == VX_UP_TLS_BODY) {
		if (c->piece_held && c->file_left == 0) {
			c->up->stats.pieces_sent++; /* its last record is out */
			vx_metric_upload(0, 1);
		}
	} else if (c->tls_send != VX_UP_TLS_FLUSH && plain > 0) {
		return (int)plain;
	}
	up_pump(c);
	return 0;
}

/* Moves plaintext the engine holds into rx[]. Returns bytes, or -1 (bad record, peer closed). */
static int up_tls_pull(struct vx_up_conn *c)
{
	uint32_t total = 0;

	while (c->rx_len + total < VX_UP_RX_MAX) {
		ssize_t n = vx__tls_read(c->tls, c->rx + c->rx_len + total,
					 VX_UP_RX_MAX - c->rx_len - total);

		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			if (n < 0)
				c->up->stats.protocol_errors++;
			return -1;
		}
		total += (uint32_t)n;
	}
	up_tls_flush(c); /* a KeyUpdate answer, say */
	return (int)total;
}

/* The verified client becomes a member to serve, or is refused (0 or -EPERM). */
static int up_tls_admit(struct vx_up_conn *c)
{
	struct vx_upload *up = c->up;
	const struct vx_tls_id *peer;
	int r = vx__tls_peer(c->tls, &peer);

	if (r == 0 && up->cfg.tls_admit)
		r = up->cfg.tls_admit(up->cfg.tls_admit_ctx, peer) ? -EPERM : 0;
	if (r == 0) {
		up->stats.tls_handshakes++;
		vx_debug("upload: TLS client %s (%s) admitted", peer->host_id,
			 vx_tls_role_name(peer->role));
	}
	return r;
}

/* Ciphertext arrived: handshake, then plaintext into rx[]. Returns as up_tls_pull(), 0: more. */
static int up_tls_rx(struct vx_up_conn *c)
{
	int r;

	if (!vx__tls_done(c->tls)) {
		r = vx__tls_handshake(c->tls);
		if (r == 1)
			r = up_tls_admit(c);
		up_tls_flush(c);
		if (r < 0) {
			c->up->stats.tls_refused++;
			vx_debug("upload: TLS client refused: %s", vx_strerror(r));
			return -1;
		}
		if (r == 0)
			return 0;
	}
	return up_tls_pull(c);
}

/* Deferred: plaintext the engine held beyond rx[] goes through as if just received. */
static void up_tls_on_work(struct vx_loop *loop, struct vx_loop_work *work)
{
	struct vx_up_conn *c = vx_container_of(work, struct vx_up_conn, tls_work);
	int n;

	(void)loop;
	if ((c->state != VX_UP_READING && c->state != VX_UP_SERVING) || !c->tls ||
	    vx_op_armed(&c->recv_op))
		return;
	n = up_tls_pull(c);
	if (n < 0)
		up_close(c);
	else if (n > 0)
		up_on_rx(c, (uint32_t)n);
	else
		up_arm_recv(c);
}

/* ---- receiving -------------------------------------------------------------------------- */

static void up_arm_recv(struct vx_up_conn *c)
{
	struct vx_upload *up = c->up;
	struct io_uring_sqe *sqe;
	/* The previous linked timeout may not have reported yet: the ticker covers that gap. */
	bool idle = c->state == VX_UP_READING && !up_rx_pending(c) && !vx_op_armed(&c->recv_to_op);

	if (vx_op_armed(&c->recv_op))
		return;
	if (c->state != VX_UP_READING && c->state != VX_UP_SERVING)
		return;
	if (c->rx_off > 0) {
		/* Nothing is armed into rx[]: compacting cannot race the kernel. */
		memmove(c->rx, c->rx + c->rx_off, c->rx_len - c->rx_off);
		c->rx_len -= c->rx_off;
		c->rx_off = 0;
	}
	if (c->rx_len >= VX_UP_RX_MAX)
		return;
	if (c->tls && vx__tls_done(c->tls) && vx__tls_rx_buffered(c->tls)) {
		/* The engine holds more than rx[] took: read it after this drain, no recv. */
		vx_loop_defer(up->loop, &c->tls_work);
		return;
	}
	vx_ring_reserve(vx_loop_ring(up->loop), 2);
	sqe = vx_loop_sqe(up->loop);
	if (c->tls) {
		uint32_t room;
		uint8_t *dst = vx__tls_rx_space(c->tls, &room);

		VX_ASSERT(room > 0); /* a full buffer is rx_buffered, read above */
		io_uring_prep_recv(sqe, c->fd, dst, room, 0);
	} else {
		io_uring_prep_recv(sqe, c->fd, c->rx + c->rx_len, VX_UP_RX_MAX - c->rx_len, 0);
	}
	vx_loop_arm(up->loop, &c->recv_op, sqe, false);
	c->inflight++;
	if (!idle)
		return;
	sqe->flags |= IOSQE_IO_LINK;
	c->idle_ts.tv_sec = up->cfg.idle_timeout_ms / 1000;
	c->idle_ts.tv_nsec = (long long)(up->cfg.idle_timeout_ms % 1000) * 1000000ll;
	sqe = vx_loop_sqe(up->loop);
	io_uring_prep_link_timeout(sqe, &c->idle_ts, 0);
	vx_loop_arm(up->loop, &c->recv_to_op, sqe, false);
	c->inflight++;
}

/* Called after each of the connection's completions: finishes a close when nothing is left. */
static void up_op_done(struct vx_up_conn *c)
{
	struct io_uring_sqe *sqe;

	VX_ASSERT(c->inflight > 0);
	c->inflight--;
	if (c->state != VX_UP_CLOSING || c->inflight > 0 || vx_op_armed(&c->close_op))
		return;
	/* Only now is no SQE reading the piece (its fd, mapping or compressed body): give it back. */
	if (c->piece_held) {
		c->up->cfg.ops->put(c->up->cfg.ops_ctx, &c->piece);
		c->piece_held = false;
	}
	up_lz4_release(c);
	up_pipe_release(c);
	sqe = vx_loop_sqe(c->up->loop);
	io_uring_prep_close(sqe, c->fd);
	vx_loop_arm(c->up->loop, &c->close_op, sqe, false);
	c->inflight++;
}

static void up_close(struct vx_up_conn *c)
{
	struct vx_upload *up = c->up;

	if (c->state == VX_UP_CLOSING || c->state == VX_UP_CLOSED)
		return;
	if (up->draining) {
		/* cut: closed with a piece's answer part sent (deadline, or the peer's error) */
		if (c->have_req && c->piece_held)
			up->stats.drain_cut++;
		else
			up->stats.drained++;
	}
	if (c->pipe && (c->pipe_bytes || c->splice_pending || up_body_armed(c)))
		c->pipe->dirty = true;
	vx_list_del(&c->wait_node);
	up_set_state(c, VX_UP_CLOSING);
	/* Wakes a splice blocked in an io-wq worker; the cancel reaches queued requests. A
	 * socket handed off lives on in its new owner's descriptor: only ours is closed. */
	if (!c->handed_off)
		(void)shutdown(c->fd, SHUT_RDWR);
	vx_loop_cancel_fd(up->loop, c->fd);
	c->inflight++; /* balance: up_op_done() below may start the close */
	up_op_done(c);
}

static struct vx_up_conn *op_conn(struct vx_op *op)
{
	return op->owner;
}

static void on_recv_done(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	struct vx_up_conn *c = op_conn(op);

	(void)loop;
	(void)cflags;
	if (c->tls)
		vx__tls_rx_commit(c->tls, res > 0 ? (uint32_t)res : 0);
	if (c->state == VX_UP_CLOSING) {
		up_op_done(c);
		return;
	}
	if (res == -ECANCELED || res == -EINTR) {
		/* The linked idle timeout fired; it only matters when truly idle. */
		if (c->state == VX_UP_READING && !up_rx_pending(c) && res == -ECANCELED) {
			c->up->stats.timeouts++;
			up_close(c);
		} else {
			up_arm_recv(c);
		}
		up_op_done(c);
		return;
	}
	if (res > 0 && c->tls) {
		if (up_tls_hand_off(c)) {
			up_op_done(c);
			return;
		}
		res = up_tls_rx(c);
		if (res == 0) {
			up_arm_recv(c); /* handshake records only, or part of a record */
			up_op_done(c);
			return;
		}
	}
	if (res <= 0) {
		up_close(c);
		up_op_done(c);
		return;
	}
	up_on_rx(c, (uint32_t)res);
	up_op_done(c);
}

/* Gives @c's socket and its first @len bytes @pre to cfg.on_control, and closes @c here. */
static void up_give_away(struct vx_up_conn *c, const uint8_t *pre, size_t len)
{
	const struct vx_upload_cfg *cfg = &c->up->cfg;
	int fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 3);

	if (fd >= 0) {
		c->handed_off = true;
		cfg->on_control(cfg->on_control_ctx, fd, pre, len);
	}
	up_close(c);
}

/*
 * Members mode: before the first frame is decoded, a plaintext connection whose second byte is
 * the control request tag leaves for cfg.on_control. Returns true when @c is done with here
 * (handed off, or waiting for the second byte).
 */
static bool up_hand_off(struct vx_up_conn *c)
{
	const struct vx_upload_cfg *cfg = &c->up->cfg;

	if (!cfg->on_control || c->tls || c->mode != VX_UP_MODE_NEW || c->rx_off != 0 ||
	    !vx_frame_dec_at_boundary(&c->dec))
		return false;
	if (up_avail(c) < 2) {
		up_arm_recv(c); /* the tag is in the second byte */
		return true;
	}
	if (c->rx[1] != VX_TAG_CONTROL_REQUEST)
		return false;
	up_give_away(c, c->rx, up_avail(c));
	return true;
}

/*
 * Members mode over TLS: before OpenSSL reads a byte, a connection that opens with the
 * STARTTLS header (a control tag where a TLS record has its version) leaves for cfg.on_control
 * with every byte received (its ClientHello follows). Returns true when @c is done with here
 * (handed off, or waiting for the header's 6 bytes).
 */
static bool up_tls_hand_off(struct vx_up_conn *c)
{
	uint32_t len;
	const uint8_t *b;

	if (!c->up->cfg.on_control || c->tls_opened)
		return false;
	b = vx__tls_rx_data(c->tls, &len);
	if (len < 2 || (b[1] == VX_TAG_CONTROL_REQUEST && len < VX_FRAME_HDR_LEN)) {
		up_arm_recv(c);
		return true;
	}
	if (b[1] != VX_TAG_CONTROL_REQUEST) {
		c->tls_opened = true; /* a TLS record: OpenSSL reads from here on */
		return false;
	}
	if (!vx_frame_is_starttls(b, len)) {
		up_close(c); /* a plaintext control frame where TLS is on */
		return true;
	}
	up_give_away(c, b, len);
	return true;
}

/* @n plaintext bytes were appended to rx[]: decode, answer, read on. */
static void up_on_rx(struct vx_up_conn *c, uint32_t n)
{
	if (c->linger) {
		/* Draining, after our Close: whatever the peer still sends is not read. */
		c->rx_off = 0;
		c->rx_len = 0;
		up_arm_recv(c);
		return;
	}
	if (!up_rx_pending(c))
		c->rx_start_ms = vx_loop_now_ms(c->up->loop);
	c->last_progress_ms = vx_loop_now_ms(c->up->loop);
	c->rx_len += n;
	if (up_hand_off(c))
		return;
	/* Decoded at once, even while an answer is being sent: CANCEL and BUSY count arrivals. */
	up_decode(c);
	up_pump(c);
	up_arm_recv(c);
}

static void on_recv_timeout_done(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	(void)loop;
	(void)res;
	(void)cflags;
	up_op_done(op_conn(op));
}

static void on_send_done(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	struct vx_up_conn *c = op_conn(op);

	(void)loop;
	(void)cflags;
	if (c->tls)
		vx__tls_tx_consume(c->tls,
				   res > 0 && c->state != VX_UP_CLOSING ? (uint32_t)res : 0);
	if (c->state == VX_UP_CLOSING || res <= 0) {
		up_close(c);
		up_op_done(c);
		return;
	}
	c->last_progress_ms = vx_loop_now_ms(c->up->loop);
	if (c->tls) {
		res = up_tls_sent(c);
		if (res <= 0) {
			up_op_done(c); /* more ciphertext went out, or a body round ended */
			return;
		}
	}
	if (c->sending_ctl) {
		c->ctl_off += (uint32_t)res;
		if (c->ctl_off == c->ctl_len) {
			c->ctl_off = 0;
			c->ctl_len = 0;
		}
	} else {
		c->head_off += (uint32_t)res;
	}
	up_pump(c);
	up_op_done(c);
}

/*
 * @n body bytes left the server. The piece counts as sent with its last byte, in whatever state
 * the connection is: a close racing the final completion (the peer already has every byte and
 * hung up) must not lose it from the stats.
 */
static void up_body_sent(struct vx_up_conn *c, uint64_t n)
{
	c->up->stats.bytes_sent += n;
	vx_metric_upload(n, c->file_left == 0 && c->pipe_bytes == 0);
	if (c->file_left == 0 && c->pipe_bytes == 0)
		c->up->stats.pieces_sent++;
}

static void up_after_splice(struct vx_up_conn *c)
{
	if (c->splice_pending > 0)
		return;
	if (c->state == VX_UP_CLOSING)
		return;
	if (c->splice_failed) {
		if (c->pipe)
			c->pipe->dirty = true;
		up_close(c);
		return;
	}
	up_pump(c);
}

static void on_splice_in_done(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	struct vx_up_conn *c = op_conn(op);

	(void)loop;
	(void)cflags;
	if (c->state != VX_UP_CLOSING) {
		if (res > 0) {
			c->file_off += (uint64_t)res;
			c->file_left -= (uint64_t)res;
			c->pipe_bytes += (uint64_t)res;
			up_pump(c);
		} else if (res == -EAGAIN) {
			/* The pipe has no free slot (partly sent pages): refill after a drain. */
			c->refill_blocked = true;
			up_pump(c);
		} else {
			/* 0: the file is shorter than the piece says; < 0: read error. */
			vx_warn("upload: splice from piece file: %s",
				res ? strerror(-res) : "short file");
			c->pipe->dirty = true;
			up_close(c);
		}
	}
	up_op_done(c);
}

static void on_splice_out_done(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	struct vx_up_conn *c = op_conn(op);

	(void)loop;
	(void)cflags;
	if (res > 0) {
		c->pipe_bytes -= (uint64_t)res;
		up_body_sent(c, (uint64_t)res);
	}
	if (c->state != VX_UP_CLOSING) {
		if (res > 0) {
			c->last_progress_ms = vx_loop_now_ms(c->up->loop);
			c->refill_blocked = false;
			up_pump(c);
		} else if (res == -EAGAIN) {
			c->out_blocked = true; /* the socket is full: up_pump() polls for room */
			up_pump(c);
		} else {
			c->pipe->dirty = true;
			up_close(c);
		}
	}
	up_op_done(c);
}

/* The socket of a spliced body has room again (or failed: the next splice says how). */
static void on_pollout_done(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	struct vx_up_conn *c = op_conn(op);

	(void)loop;
	(void)cflags;
	c->out_blocked = false;
	if (c->state != VX_UP_CLOSING) {
		if (res < 0)
			up_close(c);
		else
			up_pump(c);
	}
	up_op_done(c);
}

/*
 * Body sent from the mapping. A send_zc posts its result with CQE_F_MORE and later a
 * notification (CQE_F_NOTIF); the round ends with the notification, after which the kernel
 * no longer reads the pages (STYLE rule 18).
 */
static void on_send_body_done(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	struct vx_up_conn *c = op_conn(op);

	(void)loop;
	if (cflags & IORING_CQE_F_NOTIF) {
		c->splice_pending--;
		up_after_splice(c);
		up_op_done(c);
		return;
	}
	if (res == -EAGAIN && c->state != VX_UP_CLOSING && !(cflags & IORING_CQE_F_MORE)) {
		/* The socket is full (it is non-blocking): the next round waits for room. */
		c->splice_pending--;
		up_arm_pollout(c);
		up_op_done(c);
		return;
	}
	if (res > 0) {
		c->file_left -= (uint64_t)res;
		up_body_sent(c, (uint64_t)res);
		c->last_progress_ms = vx_loop_now_ms(c->up->loop);
	} else if (c->state != VX_UP_CLOSING) {
		c->splice_failed = true;
	}
	if (cflags & IORING_CQE_F_MORE)
		return; /* the notification follows: the op stays armed */
	c->splice_pending--;
	up_after_splice(c);
	up_op_done(c);
}

/* Draining: says once how it ended, when the last connection is gone. */
static void up_drain_check(struct vx_upload *up)
{
	if (!up->draining || up->drain_said || !vx_list_empty(&up->active_conns))
		return;
	up->drain_said = true;
	vx_info("upload: drained %" PRIu64 " connections, %" PRIu64 " cut", up->stats.drained,
		up->stats.drain_cut);
}

static void up_release_slot(struct vx_up_conn *c)
{
	struct vx_upload *up = c->up;

	up_set_state(c, VX_UP_CLOSED);
	vx_list_del(&c->node);
	c->gen++;
	c->fd = -1;
	c->rx_off = 0;
	c->rx_len = 0;
	c->outstanding = 0;
	c->req_head = 0;
	c->req_len = 0;
	c->hello_due = false;
	c->rx_stop = false;
	c->rx_closed = false;
	c->rx_error = NULL;
	c->req_counted = false;
	memset(c->ss_refused, 0, sizeof(c->ss_refused));
	c->ss_refused_next = 0;
	c->have_req = false;
	c->waiting = false;
	c->throttled = false;
	c->close_after = false;
	c->bye_sent = false;
	c->linger = false;
	c->mode = VX_UP_MODE_NEW;
	c->lz4 = false;
	c->link_max = 0;
	c->handed_off = false;
	c->tls_opened = false;
	c->subscribed = false;
	c->sub_resync = false;
	c->ctl_off = 0;
	c->ctl_len = 0;
	if (c->ctl)
		c->ctl->have_len = 0;
	c->head_len = 0;
	c->head_off = 0;
	c->splice_pending = 0;
	c->pipe_bytes = 0;
	c->out_blocked = false;
	c->refill_blocked = false;
	if (c->tls_work.queued) {
		vx_list_del(&c->tls_work.node);
		c->tls_work.queued = false;
	}
	vx__tls_free(c->tls);
	c->tls = NULL;
	c->tls_plain = 0;
	up_set_state(c, VX_UP_FREE);
	vx_list_add(&up->free_conns, &c->node);
	up->stats.conns--;
	vx_metric_add(&vx_m_upload_conns, 0, -1);
	up_drain_check(up);
}

static void on_close_done(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	struct vx_up_conn *c = op_conn(op);

	(void)loop;
	(void)res;
	(void)cflags;
	VX_ASSERT(c->inflight == 1);
	c->inflight = 0;
	up_release_slot(c);
}

/* ---- accepting -------------------------------------------------------------------------- */

static void up_arm_accept(struct vx_upload *up)
{
	struct io_uring_sqe *sqe = vx_loop_sqe(up->loop);

	io_uring_prep_multishot_accept(sqe, up->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	vx_loop_arm(up->loop, &up->accept_op, sqe, true);
}

/*
 * The peer's address, v4-mapped IPv6 folded to IPv4, into @family and @addr (16 bytes); family
 * 0 when it has none (not an IP socket: only the tests' socketpairs).
 */
static void up_peer_addr(int fd, uint8_t *family, uint8_t *addr)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;

	*family = 0;
	memset(addr, 0, 16);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		*family = AF_INET;
		memcpy(addr, &s6->sin6_addr.s6_addr[12], 4);
	} else if (ss.ss_family == AF_INET6) {
		*family = AF_INET6;
		memcpy(addr, &s6->sin6_addr, 16);
	} else if (ss.ss_family == AF_INET) {
		*family = AF_INET;
		memcpy(addr, &s4->sin_addr, 4);
	}
}

/* True when @family/@addr already has cfg.max_conns_per_addr connections open. */
static bool up_addr_full(struct vx_upload *up, uint8_t family, const uint8_t *addr)
{
	struct vx_list *pos;
	uint32_t n = 0;

	if (family == 0 || up->cfg.max_conns_per_addr == 0)
		return false;
	vx_list_for_each(pos, &up->active_conns) {
		const struct vx_up_conn *o = vx_list_entry(pos, struct vx_up_conn, node);

		if (o->peer_family == family && memcmp(o->peer_addr, addr, 16) == 0 &&
		    ++n >= up->cfg.max_conns_per_addr)
			return true;
	}
	return false;
}

static void up_admit(struct vx_upload *up, int fd)
{
	struct vx_up_conn *c;
	uint8_t family, addr[16];

	if (vx_list_empty(&up->free_conns) || up->shutting_down) {
		/* Refusing is the only answer a full server has: close before any byte. */
		close(fd);
		up->stats.rejected++;
		return;
	}
	up_peer_addr(fd, &family, addr);
	if (up_addr_full(up, family, addr)) {
		/* One address may not take every slot (loopback included): refused the same way. */
		close(fd);
		up->stats.rejected++;
		up->stats.rejected_addr++;
		return;
	}
	c = vx_list_first(&up->free_conns, struct vx_up_conn, node);
	if (up->cfg.tls &&
	    vx__tls_new(&c->tls, up->cfg.tls, true, VX__TLS_UP_RX, VX__TLS_UP_TX) < 0) {
		vx_warn("upload: no memory for a TLS connection: %s", "refused");
		close(fd);
		up->stats.rejected++;
		return;
	}
	vx_list_del(&c->node);
	vx_list_add_tail(&up->active_conns, &c->node);
	(void)vx_net_set_opts(fd, &(const struct vx_net_opts){ .flags = VX_NET_NODELAY });
	/* A splice into the socket must never block an io-wq worker (up_splice_round()). */
	(void)fcntl(fd, F_SETFL, O_NONBLOCK);
	c->fd = fd;
	c->peer_family = family;
	memcpy(c->peer_addr, addr, sizeof(addr));
	vx_op_init(&c->recv_op, VX_OP_UP_RECV, c, &c->gen);
	vx_op_init(&c->recv_to_op, VX_OP_UP_RECV_TIMEOUT, c, &c->gen);
	vx_op_init(&c->send_op, VX_OP_UP_SEND, c, &c->gen);
	vx_op_init(&c->splice_in_op, VX_OP_UP_SPLICE_IN, c, &c->gen);
	vx_op_init(&c->splice_out_op, VX_OP_UP_SPLICE_OUT, c, &c->gen);
	vx_op_init(&c->body_op, VX_OP_UP_SEND_BODY, c, &c->gen);
	vx_op_init(&c->pollout_op, VX_OP_UP_POLLOUT, c, &c->gen);
	vx_op_init(&c->close_op, VX_OP_UP_CLOSE, c, &c->gen);
	vx_frame_dec_init(&c->dec, c->dec_buf, sizeof(c->dec_buf),
			  VX_FRAME_DEC_F_EXT | VX_FRAME_DEC_F_REQUESTS, 0);
	c->last_progress_ms = vx_loop_now_ms(up->loop);
	c->tls_start_ms = c->last_progress_ms;
	c->tls_work.fn = up_tls_on_work;
	vx_bucket_init(&c->bucket, up->cfg.conn_rate_bytes_per_s,
		       VX_MAX(up->cfg.conn_rate_bytes_per_s / 10, (uint64_t)up->cfg.chunk_bytes),
		       c->last_progress_ms);
	up->stats.accepted++;
	up->stats.conns++;
	vx_metric_inc(&vx_m_upload_conns, 0);
	up_set_state(c, VX_UP_READING);
	up_arm_recv(c);
}

static void on_accept_done(struct vx_loop *loop, struct vx_op *op, int res, uint32_t cflags)
{
	struct vx_upload *up = op->owner;
	bool starved = res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM;

	(void)loop;
	if (res >= 0)
		up_admit(up, res);
	else if (res != -ECANCELED && res != -EINTR && res != -ECONNABORTED)
		vx_warn("upload: accept: %s", strerror(-res));
	if (cflags & IORING_CQE_F_MORE || up->shutting_down || up->draining)
		return;
	/* Out of descriptors: re-arming now would spin; the ticker retries. */
	if (starved)
		up->accept_paused = true;
	else
		up_arm_accept(up);
}

/* ---- timers ----------------------------------------------------------------------------- */

static void up_tick_conn(struct vx_upload *up, struct vx_up_conn *c, uint64_t now)
{
	if (c->state != VX_UP_READING && c->state != VX_UP_SERVING)
		return;
	if (c->tls && !vx__tls_done(c->tls) && now - c->tls_start_ms > up->cfg.header_timeout_ms) {
		/* A handshake is bounded like a request: silence or a trickle ends it. */
		up->stats.timeouts++;
		up_close(c);
		return;
	}
	if (!c->have_req && up_rx_pending(c) && now - c->rx_start_ms > up->cfg.header_timeout_ms) {
		/* A slowloris trickle: the request did not complete in time. */
		up->stats.timeouts++;
		up_close(c);
		return;
	}
	if (c->state == VX_UP_READING && !up_rx_pending(c) && !up_send_busy(c) &&
	    !up_body_armed(c) && now - c->last_progress_ms > up->cfg.idle_timeout_ms) {
		/* Backstop for a recv armed without its idle timeout while SERVING. */
		up->stats.timeouts++;
		up_close(c);
		return;
	}
	if (c->pipe && vx_op_armed(&c->pollout_op) && !vx_list_empty(&up->pipe_waiters) &&
	    now - c->last_progress_ms > up->cfg.slot_stall_ms) {
		/* Holds a send slot (bytes stuck in its pipe) others wait for, and reads nothing. */
		up->stats.timeouts++;
		up_close(c);
		return;
	}
	if ((up_send_busy(c) || up_body_armed(c)) &&
	    now - c->last_progress_ms > up->cfg.send_stall_ms) {
		up->stats.timeouts++;
		up_close(c);
		return;
	}
	if (c->waiting) {
		up_lookup(c);
		if (c->waiting && now >= c->wait_deadline_ms) {
			up->stats.timeouts++;
			up_answer_error(c, VX_ERROR_CODE_NOT_FOUND, "piece not finished in time",
					false);
		}
		up_pump(c);
		return;
	}
	if (c->throttled) {
		c->throttled = false;
		up_pump(c);
	}
}

static void on_tick(struct vx_loop *loop, struct vx_loop_ticker *t, uint64_t now_ms)
{
	struct vx_upload *up = vx_container_of(t, struct vx_upload, ticker);
	struct vx_list *pos, *tmp;

	(void)loop;
	if (up->draining && !up->shutting_down && now_ms >= up->drain_deadline_ms) {
		vx_warn("upload: drain: deadline passed, closing %u connections", up->stats.conns);
		vx_upload_shutdown(up);
	}
	if (up->accept_paused && !up->shutting_down && !up->draining &&
	    !vx_op_armed(&up->accept_op)) {
		up->accept_paused = false;
		up_arm_accept(up);
	}
	vx_list_for_each_safe(pos, tmp, &up->active_conns) {
		up_tick_conn(up, vx_list_entry(pos, struct vx_up_conn, node), now_ms);
	}
}

/* ---- public ----------------------------------------------------------------------------- */

static int up_listen(struct vx_upload *up)
{
	const struct vx_net_opts o = {
		.flags = VX_NET_REUSEADDR | (up->cfg.reuseport ? VX_NET_REUSEPORT : 0u),
		.backlog = 4096,
	};
	int fd;

	if (up->cfg.listen_fd > 0) {
		up->listen_fd = up->cfg.listen_fd; /* handed over: already bound and listening */
		return 0;
	}
	fd = vx_net_tcp_listen((const struct sockaddr *)&up->cfg.addr, up->cfg.addr_len, &o, NULL);
	if (fd < 0)
		return fd;
	up->listen_fd = fd;
	return 0;
}

/* vx_upload_new(), and without a listening socket when @listen is false (vx__upload_new()). */
static int up_new(struct vx_upload **out, struct vx_loop *loop, const struct vx_upload_cfg *cfg,
		  bool listen)
{
	struct vx_upload *up;
	uint32_t i;
	int ret;

	VX_ASSERT(out != NULL);
	VX_ASSERT(loop != NULL);
	*out = NULL;
	if (!cfg->ops || !cfg->ops->get || !cfg->ops->put || cfg->max_conns == 0 ||
	    cfg->max_sends == 0 || cfg->chunk_bytes == 0 || cfg->addr_len == 0 ||
	    cfg->max_inflight > VX_UPLOAD_INFLIGHT_MAX || cfg->slot_stall_ms == 0 ||
	    (cfg->super_seed &&
	     (cfg->super_seed_pieces == 0 || cfg->super_seed_pieces > (1u << 20))))
		return -EINVAL;
	up = vx_calloc(1, sizeof(*up));
	if (!up)
		return -ENOMEM;
	up->loop = loop;
	up->cfg = *cfg;
	if (!up->cfg.max_inflight)
		up->cfg.max_inflight = VX_UPLOAD_INFLIGHT_DEFAULT;
	up->listen_fd = -1;
	up->rand = vx_now_ns() | 1;
	up->lz4_rate = VX_LZ4_RATE_GUESS;
	vx_list_init(&up->free_conns);
	vx_list_init(&up->active_conns);
	vx_list_init(&up->free_pipes);
	vx_list_init(&up->pipe_waiters);
	up->conns = vx_calloc(cfg->max_conns, sizeof(*up->conns));
	if (!up->conns) {
		ret = -ENOMEM;
		goto err_free_up;
	}
	for (i = 0; i < cfg->max_conns; i++) {
		struct vx_up_conn *c = &up->conns[i];

		c->fd = -1;
		c->up = up;
		vx_list_init(&c->wait_node);
		vx_list_add_tail(&up->free_conns, &c->node);
	}
	up->pipes = vx_calloc(cfg->max_sends, sizeof(*up->pipes));
	if (!up->pipes) {
		ret = -ENOMEM;
		goto err_free_conns;
	}
	if (cfg->super_seed) {
		up->ss = vx_calloc(VX_UPLOAD_SUPER_SEED_TASKS, sizeof(*up->ss));
		for (i = 0; up->ss && i < VX_UPLOAD_SUPER_SEED_TASKS; i++) {
			up->ss[i].sent_ms = vx_calloc(cfg->super_seed_pieces, sizeof(uint64_t));
			if (!up->ss[i].sent_ms)
				break;
		}
		if (!up->ss || i < VX_UPLOAD_SUPER_SEED_TASKS) {
			up_ss_free(up);
			ret = -ENOMEM;
			goto err_free_conns;
		}
	}
	for (i = 0; i < cfg->max_sends; i++) {
		up->pipes[i].rfd = -1;
		up->pipes[i].wfd = -1;
	}
	for (i = 0; i < cfg->max_sends; i++) {
		ret = up_pipe_open(&up->pipes[i], cfg->chunk_bytes);
		if (ret < 0)
			goto err_close_pipes;
		vx_list_add_tail(&up->free_pipes, &up->pipes[i].node);
	}
	ret = listen ? up_listen(up) : 0;
	if (ret < 0)
		goto err_close_pipes;
	vx_bucket_init(&up->bucket, cfg->rate_bytes_per_s,
		       VX_MAX(cfg->rate_bytes_per_s / 10, (uint64_t)cfg->chunk_bytes),
		       vx_loop_now_ms(loop));
	vx_loop_set_handler(loop, VX_OP_ACCEPT, on_accept_done);
	vx_loop_set_handler(loop, VX_OP_UP_RECV, on_recv_done);
	vx_loop_set_handler(loop, VX_OP_UP_RECV_TIMEOUT, on_recv_timeout_done);
	vx_loop_set_handler(loop, VX_OP_UP_SEND, on_send_done);
	vx_loop_set_handler(loop, VX_OP_UP_SPLICE_IN, on_splice_in_done);
	vx_loop_set_handler(loop, VX_OP_UP_SPLICE_OUT, on_splice_out_done);
	vx_loop_set_handler(loop, VX_OP_UP_POLLOUT, on_pollout_done);
	vx_loop_set_handler(loop, VX_OP_UP_SEND_BODY, on_send_body_done);
	vx_loop_set_handler(loop, VX_OP_UP_CLOSE, on_close_done);
	vx_op_init(&up->accept_op, VX_OP_ACCEPT, up, &up->gen);
	if (listen)
		up_arm_accept(up);
	up->ticker.fn = on_tick;
	vx_loop_add_ticker(loop, &up->ticker);
	up->have_flush.fn = up_on_have_flush;
	if (up->cfg.tls)
		SSL_CTX_up_ref(up->cfg.tls); /* dropped in vx_upload_free() */
	*out = up;
	return 0;

err_close_pipes:
	for (i = 0; i < cfg->max_sends; i++)
		up_pipe_close(&up->pipes[i]);
	vx_free(up->pipes);
err_free_conns:
	vx_free(up->conns);
err_free_up:
	vx_free(up);
	return ret;
}

int vx_upload_new(struct vx_upload **out, struct vx_loop *loop, const struct vx_upload_cfg *cfg)
{
	return up_new(out, loop, cfg, true);
}

int vx__upload_new(struct vx_upload **out, struct vx_loop *loop, const struct vx_upload_cfg *cfg)
{
	return up_new(out, loop, cfg, false);
}

void vx__upload_admit(struct vx_upload *up, int fd)
{
	up_admit(up, fd);
}

void vx_upload_local_addr(const struct vx_upload *up, struct sockaddr_storage *addr,
			  socklen_t *addr_len)
{
	*addr_len = sizeof(*addr);
	if (getsockname(up->listen_fd, (struct sockaddr *)addr, addr_len) == -1)
		*addr_len = 0;
}

/*
 * Runs after the drain in which pieces finished: every number announced during it went into
 * the one HAVE frame still queued per subscriber (up_queue_have() appends while the kernel has
 * not been handed it), so a burst of finished pieces costs one frame, not one per piece.
 */
static void up_on_have_flush(struct vx_loop *loop, struct vx_loop_work *work)
{
	struct vx_upload *up = vx_container_of(work, struct vx_upload, have_flush);
	struct vx_list *pos, *tmp;

	(void)loop;
	vx_list_for_each_safe(pos, tmp, &up->active_conns) {
		struct vx_up_conn *c = vx_list_entry(pos, struct vx_up_conn, node);

		if (c->subscribed && (c->state == VX_UP_READING || c->state == VX_UP_SERVING))
			up_pump(c);
	}
}

void vx_upload_piece_finished(struct vx_upload *up, const char *task_id, uint32_t number)
{
	struct vx_list *pos, *tmp;
	bool queued = false;

	vx_list_for_each_safe(pos, tmp, &up->active_conns) {
		struct vx_up_conn *c = vx_list_entry(pos, struct vx_up_conn, node);

		if (c->state != VX_UP_READING && c->state != VX_UP_SERVING)
			continue;
		if (c->subscribed && memcmp(c->sub_task, task_id, VX_TASK_ID_LEN) == 0) {
			up_queue_have(c, number);
			queued = true;
		}
		if (c->waiting && c->req_number == number &&
		    memcmp(c->req_task, task_id, VX_TASK_ID_LEN) == 0) {
			/* A request is waiting for exactly this piece: answer it now. */
			up_lookup(c);
			up_pump(c);
		}
	}
	if (queued)
		vx_loop_defer(up->loop, &up->have_flush);
}

void vx_upload_shutdown(struct vx_upload *up)
{
	struct vx_list *pos, *tmp;

	if (up->shutting_down)
		return;
	up->shutting_down = true;
	vx_loop_cancel(up->loop, &up->accept_op);
	vx_list_for_each_safe(pos, tmp, &up->active_conns) {
		up_close(vx_list_entry(pos, struct vx_up_conn, node));
	}
}

void vx_upload_drain(struct vx_upload *up, uint32_t timeout_ms)
{
	struct vx_list *pos, *tmp;

	if (up->shutting_down || up->draining)
		return;
	up->draining = true;
	up->drain_deadline_ms = vx_loop_now_ms(up->loop) + timeout_ms;
	/* the socket stays open: the process taking over accepts on it (its backlog waits) */
	vx_loop_cancel(up->loop, &up->accept_op);
	vx_list_for_each_safe(pos, tmp, &up->active_conns) {
		struct vx_up_conn *c = vx_list_entry(pos, struct vx_up_conn, node);

		if (c->state != VX_UP_READING && c->state != VX_UP_SERVING)
			continue;
		/* waits for a piece nobody finishes now: answered "not found" at once */
		if (c->have_req && c->waiting)
			up_answer_error(c, VX_ERROR_CODE_NOT_FOUND, "the server is stopping",
					false);
		up_pump(c);
	}
	up_drain_check(up);
}

int vx_upload_listen_fd(const struct vx_upload *up)
{
	return up->listen_fd;
}

bool vx_upload_idle(const struct vx_upload *up)
{
	return !vx_op_armed(&up->accept_op) && vx_list_empty(&up->active_conns);
}

void vx_upload_free(struct vx_upload *up)
{
	uint32_t i;

	if (!up)
		return;
	VX_ASSERT(vx_upload_idle(up));
	vx_loop_del_ticker(up->loop, &up->ticker);
	if (up->have_flush.queued)
		vx_list_del(&up->have_flush.node);
	if (up->listen_fd >= 0)
		close(up->listen_fd);
	for (i = 0; i < up->cfg.max_sends; i++)
		up_pipe_close(&up->pipes[i]);
	for (i = 0; i < up->cfg.max_conns; i++) {
		vx_free(up->conns[i].ctl);
		vx_free(up->conns[i].tls_bounce);
	}
	vx_free(up->pipes);
	vx_free(up->conns);
	up_ss_free(up);
	vx__lz4_cache_clear(&up->lz4);
	vx_metric_set(&vx_m_lz4_cache_bytes, 0, 0);
	vx_free(up->lz4_sample);
	vx_free(up->lz4_plain);
	SSL_CTX_free(up->cfg.tls);
	vx_free(up);
}

void vx_upload_set_tls(struct vx_upload *up, SSL_CTX *tls)
{
	VX_ASSERT(up->cfg.tls && tls);
	SSL_CTX_up_ref(tls);
	SSL_CTX_free(up->cfg.tls);
	up->cfg.tls = tls;
	/* a CRL loaded again reaches open connections too: a revoked client is cut now */
	for (uint32_t i = 0; i < up->cfg.max_conns; i++) {
		struct vx_up_conn *c = &up->conns[i];

		if ((c->state != VX_UP_READING && c->state != VX_UP_SERVING) || !c->tls ||
		    vx__tls_recheck(c->tls, tls) != -EKEYREJECTED)
			continue;
		up->stats.tls_dropped++;
		vx_info("upload: closing a connection whose client certificate no longer verifies "
			"(revoked or expired)");
		up_close(c);
	}
}

void vx_upload_stats(const struct vx_upload *up, struct vx_upload_stats *out)
{
	*out = up->stats;
	out->lz4_cache_max = up->lz4.bytes_max;
}

void vx_upload_set_rate(struct vx_upload *up, uint64_t rate)
{
	up->cfg.rate_bytes_per_s = rate;
	vx_bucket_init(&up->bucket, rate, VX_MAX(rate / 10, (uint64_t)up->cfg.chunk_bytes),
		       vx_loop_now_ms(up->loop));
}
