/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_upload_conn.c: the upload server's connection path on an arbitrary byte stream. upload.c
 * is compiled against the fake loop (fake_loop.h): no socket, no ring, every completion decided
 * here from the input, so a crash replays exactly. A real task (vx_file_task over a small temp
 * file) stands behind it, so valid requests reach the piece-sending path in every body mode.
 *
 * Input: byte 0 picks the server (body mode, super-seeding, rate limits, one or two
 * connections, subscriptions on or off), byte 1 which of the 8 pieces are unfinished, byte 2
 * seeds the schedule (recv splits, partial sends, clock ticks, pieces finishing, errors);
 * the rest is what the peer sends, handed out to its recvs in that schedule. With two
 * connections a big-endian u16 comes first: the bytes of the first peer; the second gets the
 * rest.
 *
 * Checks: every byte the server sends decodes cleanly with vortex's downloader-side decoder
 * (heads by value, bodies by count, body bytes equal to the task's content); after a shutdown
 * everything completes, nothing is lent or leaked, and the server is idle.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_loop.h"
#include "upload_int.h"
#include "vx_assert.h"
#include "vx_file_task.h"
#include "vx_frame.h"
#include "vx_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TASK	     "5844f27a257287e9b734256bb25603d8005422ced8c0377f15063ec11963b25f"
#define PIECE	     1000u
#define CONTENT	     (7u * PIECE + 500u) /* 8 pieces, the last one short */
#define PIECES	     8u
#define STEPS_MAX    4000u
#define FAKE_FD_BASE (1 << 20) /* above any fd limit: a stray syscall gets EBADF */

static struct vx_file_task *task;
static uint8_t content[CONTENT];

/* What a downloader makes of one connection's output. */
struct client {
	int fd;
	const uint8_t *in; /* what this peer sends */
	size_t in_len;
	size_t in_off;
	struct vx_frame_dec dec;
	uint8_t buf[VX_FRAME_DEC_BUF_MIN];
	uint64_t body_off; /* content offset of the body being received */
};

struct run {
	struct vx_loop loop;
	struct vx_upload *up;
	struct client cl[2];
	uint32_t nconn;
	uint32_t rnd;
};

static uint32_t next_rand(struct run *r)
{
	r->rnd = r->rnd * 1103515245u + 12345u;
	return r->rnd >> 8;
}

static void setup_task(void)
{
	char path[] = "/tmp/vx-fuzz-upload-XXXXXX";
	struct vx_file_task_cfg cfg = {
		.path = path,
		.task_id = TASK,
		.content_length = CONTENT,
		.piece_length = PIECE,
		.seed = true,
		.parent_id = "parent-peer",
	};
	int fd = mkstemp(path);

	VX_ASSERT(fd >= 0);
	for (uint32_t i = 0; i < CONTENT; i++)
		content[i] = (uint8_t)(i * 7u + i / 251u);
	VX_ASSERT(write(fd, content, CONTENT) == (ssize_t)CONTENT);
	close(fd);
	VX_ASSERT(vx_file_task_open(&task, &cfg) == 0);
	unlink(path); /* the task keeps its descriptor */
	vx_log_set_level(VX_LOG_ERROR);
}

static struct client *client_of(struct run *r, int fd)
{
	for (uint32_t i = 0; i < r->nconn; i++) {
		if (r->cl[i].fd == fd)
			return &r->cl[i];
	}
	VX_ASSERT(!"an op on a descriptor the server was never given");
	return NULL;
}

/* Head bytes (HELLO, PieceContent head, Error, BITFIELD, HAVE) the server sent. */
static void client_heads(struct client *c, const uint8_t *p, size_t n)
{
	while (n > 0) {
		struct vx_frame f;
		ssize_t used;

		VX_ASSERT(vx_frame_dec_body_left(&c->dec) == 0); /* a body is due, not a head */
		used = vx_frame_dec_feed(&c->dec, p, n, &f);
		if (used == -EAGAIN)
			return;
		VX_ASSERT(used > 0); /* the server never sends a malformed frame */
		if (vx_tag_is_content(f.hdr.tag))
			c->body_off = f.content.offset;
		p += used;
		n -= (size_t)used;
	}
}

/* Body bytes: counted by the decoder; with a mapping, compared with the task's content. */
static void client_body(struct client *c, const uint8_t *p, size_t n)
{
	VX_ASSERT(vx_frame_dec_body(&c->dec, n) == n);
	if (p) {
		VX_ASSERT(c->body_off + n <= CONTENT);
		VX_ASSERT(memcmp(p, content + c->body_off, n) == 0);
	}
	c->body_off += n;
}

/* A partial result now and then, as a busy socket gives. */
static int some(struct run *r, uint32_t len)
{
	if (len > 1 && next_rand(r) % 4 == 0)
		return (int)(1 + next_rand(r) % len);
	return (int)len;
}

/* Completes pending op @i the way the kernel could. Returns false if it must wait for input. */
static bool complete(struct run *r, uint32_t i, bool final)
{
	struct vx_fake_pending *p = &r->loop.pending[i];
	const struct io_uring_sqe sqe = p->sqe;
	uint8_t kind = p->op->kind;
	struct client *c;
	size_t n;
	int res;

	if (p->cancel && kind != VX_OP_UP_RECV) {
		vx_fake_loop_complete(&r->loop, i, -ECANCELED, 0);
		return true;
	}
	switch (kind) {
	case VX_OP_UP_RECV_TIMEOUT:
		return false; /* fires only with its recv, below */
	case VX_OP_UP_RECV: {
		uint32_t j = UINT32_MAX;
		bool fired = false;

		c = client_of(r, sqe.fd);
		for (uint32_t k = 0; k < r->loop.npending; k++) {
			if (r->loop.pending[k].op->kind == VX_OP_UP_RECV_TIMEOUT &&
			    r->loop.pending[k].op->owner == p->op->owner)
				j = k;
		}
		if (p->cancel) {
			res = -ECANCELED;
		} else if (j != UINT32_MAX && !final && next_rand(r) % 32 == 0) {
			res = -ECANCELED; /* its linked idle timeout fired */
			fired = true;
		} else if (c->in_off < c->in_len) {
			n = VX_MIN((size_t)sqe.len, c->in_len - c->in_off);
			n = VX_MIN(n, (size_t)(1 + next_rand(r) % 160));
			memcpy((void *)(uintptr_t)sqe.addr, c->in + c->in_off, n);
			c->in_off += n;
			res = (int)n;
		} else if (final) {
			res = 0; /* the peer hangs up */
		} else {
			return false;
		}
		vx_fake_loop_complete(&r->loop, i, res, 0);
		/* The linked timeout reports with its recv: -ETIME if it fired, else cancelled. */
		if (j != UINT32_MAX)
			vx_fake_loop_complete(&r->loop, j > i ? j - 1 : j,
					      fired ? -ETIME : -ECANCELED, 0);
		return true;
	}
	case VX_OP_UP_SEND:
		c = client_of(r, sqe.fd);
		res = next_rand(r) % 97 == 0 ? -ECONNRESET : some(r, sqe.len);
		if (res > 0)
			client_heads(c, (const uint8_t *)(uintptr_t)sqe.addr, (size_t)res);
		vx_fake_loop_complete(&r->loop, i, res, 0);
		return true;
	case VX_OP_UP_SPLICE_IN:
		vx_fake_loop_complete(&r->loop, i, some(r, sqe.len), 0);
		return true;
	case VX_OP_UP_SPLICE_OUT:
		c = client_of(r, sqe.fd);
		res = next_rand(r) % 97 == 0 ? -EPIPE : some(r, sqe.len);
		if (res > 0)
			client_body(c, NULL, (size_t)res);
		vx_fake_loop_complete(&r->loop, i, res, 0);
		return true;
	case VX_OP_UP_SEND_BODY:
		c = client_of(r, sqe.fd);
		res = some(r, sqe.len);
		client_body(c, (const uint8_t *)(uintptr_t)sqe.addr, (size_t)res);
		if (sqe.opcode == IORING_OP_SEND_ZC) {
			vx_fake_loop_complete(&r->loop, i, res, IORING_CQE_F_MORE);
			vx_fake_loop_complete(&r->loop, i, 0, IORING_CQE_F_NOTIF);
		} else {
			vx_fake_loop_complete(&r->loop, i, res, 0);
		}
		return true;
	case VX_OP_UP_CLOSE:
		vx_fake_loop_complete(&r->loop, i, 0, 0);
		return true;
	default:
		VX_ASSERT(!"an op kind the upload server does not use");
		return false;
	}
}

/* One scheduling step: complete one pending op chosen by the schedule. */
static bool step(struct run *r, bool final)
{
	uint32_t n = r->loop.npending, start;

	if (n == 0)
		return false;
	start = next_rand(r) % n;
	for (uint32_t k = 0; k < n; k++) {
		if (complete(r, (start + k) % n, false))
			return true;
	}
	/* Only recvs with no input left: they see the peers hang up. */
	for (uint32_t k = 0; k < n; k++) {
		if (complete(r, (start + k) % n, final))
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum vx_upload_body_mode modes[4] = {
		VX_UPLOAD_BODY_SPLICE,
		VX_UPLOAD_BODY_SEND,
		VX_UPLOAD_BODY_SEND_ZC,
		VX_UPLOAD_BODY_SPLICE,
	};
	static struct run r;
	struct vx_upload_source_ops no_bitmap;
	struct vx_upload_cfg cfg;
	uint32_t steps = 0;

	if (size < 3)
		return 0;
	if (!task)
		setup_task();
	memset(&r, 0, sizeof(r));
	r.rnd = data[2] * 2654435761u + 1;
	for (uint32_t n = 0; n < PIECES; n++)
		vx_file_task_set(task, n, !(data[1] & (1u << n)));
	vx_fake_loop_init(&r.loop, 1000);

	vx_upload_cfg_init(&cfg);
	cfg.max_conns = 2;
	cfg.max_sends = 1;
	cfg.chunk_bytes = 512;
	cfg.body_mode = modes[data[0] & 3];
	cfg.idle_timeout_ms = 2000;
	cfg.header_timeout_ms = 1000;
	cfg.send_stall_ms = 1500;
	cfg.piece_wait_ms = 800;
	cfg.super_seed = data[0] & 4;
	cfg.super_seed_window_ms = 500;
	cfg.super_seed_pieces = 4; /* pieces beyond are always served */
	if (data[0] & 8) {
		cfg.rate_bytes_per_s = 4000;
		cfg.conn_rate_bytes_per_s = 3000;
	}
	cfg.ops = vx_file_task_source_ops();
	if (data[0] & 32) {
		no_bitmap = *cfg.ops;
		no_bitmap.bitmap = NULL;
		cfg.ops = &no_bitmap;
	}
	cfg.ops_ctx = task;
	VX_ASSERT(vx__upload_new(&r.up, &r.loop, &cfg) == 0);
	r.nconn = data[0] & 16 ? 2 : 1;
	r.cl[0].in = data + 3;
	r.cl[0].in_len = size - 3;
	if (r.nconn == 2) {
		size_t a = size >= 5 ? (size_t)data[3] << 8 | data[4] : 0;

		r.cl[0].in = data + VX_MIN(size, (size_t)5);
		r.cl[0].in_len = VX_MIN(a, size - VX_MIN(size, (size_t)5));
		r.cl[1].in = r.cl[0].in + r.cl[0].in_len;
		r.cl[1].in_len = size - VX_MIN(size, (size_t)5) - r.cl[0].in_len;
	}
	for (uint32_t i = 0; i < r.nconn; i++) {
		r.cl[i].fd = FAKE_FD_BASE + (int)i;
		vx_frame_dec_init(&r.cl[i].dec, r.cl[i].buf, sizeof(r.cl[i].buf),
				  VX_FRAME_DEC_F_EXT, 0);
		vx__upload_admit(r.up, r.cl[i].fd);
	}

	/* The peers talk; time passes; pieces finish. */
	while (steps++ < STEPS_MAX) {
		uint32_t what = next_rand(&r) % 16;

		if (what == 0) {
			vx_fake_loop_tick(&r.loop, next_rand(&r) % 700);
		} else if (what == 1) {
			uint32_t n = next_rand(&r) % PIECES;

			if (!vx_file_task_has(task, n)) {
				vx_file_task_set(task, n, true);
				vx_upload_piece_finished(r.up, TASK, n);
			}
		} else if (!step(&r, next_rand(&r) % 4 == 0)) {
			vx_fake_loop_tick(&r.loop, 100);
		}
		vx_fake_loop_run_deferred(&r.loop);
		if (r.loop.npending == 0)
			break;
	}

	/* Shutdown: every op completes (cancelled or not), the slots close, nothing stays lent. */
	vx_upload_shutdown(r.up);
	for (steps = 0; r.loop.npending > 0 && steps < STEPS_MAX; steps++) {
		if (!step(&r, true))
			vx_fake_loop_tick(&r.loop, 100);
		vx_fake_loop_run_deferred(&r.loop);
	}
	VX_ASSERT(r.loop.npending == 0);
	VX_ASSERT(vx_upload_idle(r.up));
	vx_upload_free(r.up);
	VX_ASSERT(vx_file_task_lent(task) == 0);
	return 0;
}
