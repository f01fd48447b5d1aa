/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_fetch_conn.c: an arbitrary byte stream from a parent into the fetcher's real receive
 * path (fetcher.c, the functions production runs), through a fake transport under the
 * fetcher's I/O seam (fetcher_io.h): no sockets, no ring I/O, deterministic. The fake hands
 * each receive the next bytes of the input, swallows every send, and completes chunk writes
 * into memory. The task is real: up to 8 pieces with trusted CRCs for some of them, so frames
 * that are right reach the body, digest and commit path. The fetcher offers LZ4 (its default),
 * so a parent whose HELLO does too reaches the COMPRESSED_PIECE_CONTENT path: the bound on
 * the compressed length, LZ4_decompress_safe and the check of the decompressed piece.
 *
 * Input: 4 configuration bytes, then the parent's stream. "\n--next--\n" splits the stream
 * into connections: each new connection the fetcher opens gets the next part (an empty first
 * part closes on HELLO, so the parent is taken for a Dragonfly peer and used plain). Past the
 * last part the parent closes a few more connections at once, then the fetcher is cancelled.
 *   byte 0: bits 0-2 pieces - 1, bits 3-4 pipeline depth - 1, bit 5 short last piece,
 *           bit 6 the first chunk write fails (ENOSPC), bit 7 writes complete half at a time
 *   byte 1: pieces trusted at start (bit i: piece i); 0xff: all, through cfg.piece_crc32
 *   byte 2: pieces already local (cfg.have)
 *   byte 3: bits 0-1 piece length (100, 1000, 5000, 9000 bytes; chunks are 4096),
 *           bits 2-3 chunk buffers - 1, bits 4-5 endgame pieces
 * Piece bytes: byte k of the content is (k * 131 + 7) & 0xff (gen_fetch_conn_corpus.py).
 *
 * Checked: every sink reservation is committed or aborted exactly once and only after its
 * writes completed; a committed piece's bytes match its trusted CRC; the fetcher ends (on_done
 * once) and is idle after a cancel.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "fetcher_io.h"
#include "vx_assert.h"
#include "vx_digest.h"
#include "vx_fetcher.h"
#include "vx_log.h"
#include "vx_loop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_TASK		    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FZ_PIECES_MAX	    8
#define FZ_CONTENT_MAX	    (FZ_PIECES_MAX * 9000)
#define FZ_OPS_MAX	    64
#define FZ_STEPS_MAX	    200000
#define FZ_SEP		    "\n--next--\n"
#define FZ_CLOSED_CONNS_MAX 4

enum fz_kind {
	FZ_RECV,
	FZ_SEND,
	FZ_CLOSE,
	FZ_WRITE,
};

struct fz_op {
	enum fz_kind kind;
	struct vx_fx_conn *c;
	struct vx_fx_buf *b;
	uint8_t *dst;
	const uint8_t *src;
	size_t len;
	uint64_t off;
};

struct fz {
	struct fz_op ops[FZ_OPS_MAX];
	uint32_t head, nr_ops;
	struct vx_fetcher *f;
	bool shut; /* the connection was shut down: its receive and send fail */
	const uint8_t *part;
	size_t part_len, part_off;
	const uint8_t *rest; /* the parts after this one */
	size_t rest_len;
	bool more;
	uint32_t closed_conns; /* connections after the input ran out */
	bool write_error, half_writes;
	uint32_t count;
	uint64_t piece_length, content_length;
	uint32_t crc[FZ_PIECES_MAX];
	bool writing[FZ_PIECES_MAX];
	bool committed[FZ_PIECES_MAX];
	uint32_t writes_pending[FZ_PIECES_MAX];
	uint32_t done_calls;
	int status;
	uint8_t file[FZ_CONTENT_MAX];
};

static uint8_t fz_byte(uint64_t k)
{
	return (uint8_t)((k * 131 + 7) & 0xff);
}

static void fz_push(struct fz *z, struct fz_op op)
{
	VX_ASSERT(z->nr_ops < FZ_OPS_MAX);
	z->ops[(z->head + z->nr_ops) % FZ_OPS_MAX] = op;
	z->nr_ops++;
}

static void fz_recv(void *ctx, struct vx_fx_conn *c, uint8_t *dst, size_t len)
{
	VX_ASSERT(len > 0);
	fz_push(ctx, (struct fz_op){ .kind = FZ_RECV, .c = c, .dst = dst, .len = len });
}

static void fz_send(void *ctx, struct vx_fx_conn *c, const uint8_t *src, size_t len)
{
	VX_ASSERT(len > 0);
	fz_push(ctx, (struct fz_op){ .kind = FZ_SEND, .c = c, .src = src, .len = len });
}

static void fz_shutdown(void *ctx, struct vx_fx_conn *c)
{
	struct fz *z = ctx;

	(void)c;
	z->shut = true;
}

static void fz_close(void *ctx, struct vx_fx_conn *c)
{
	fz_push(ctx, (struct fz_op){ .kind = FZ_CLOSE, .c = c });
}

static void fz_write(void *ctx, struct vx_fx_buf *b, int fd, const uint8_t *src, size_t len,
		     uint64_t off)
{
	struct fz *z = ctx;

	(void)fd;
	VX_ASSERT(len > 0 && off + len <= z->content_length);
	z->writes_pending[off / z->piece_length]++;
	fz_push(z, (struct fz_op){ .kind = FZ_WRITE, .b = b, .src = src, .len = len, .off = off });
}

static const struct vx_fx_io fz_io = {
	.recv = fz_recv,
	.send = fz_send,
	.shutdown = fz_shutdown,
	.close = fz_close,
	.write = fz_write,
};

/* The next connection's bytes: up to the next separator. False when none are left. */
static bool fz_next_part(struct fz *z)
{
	const uint8_t *sep;

	if (!z->more)
		return false;
	sep = memmem(z->rest, z->rest_len, FZ_SEP, sizeof(FZ_SEP) - 1);
	z->part = z->rest;
	z->part_off = 0;
	if (!sep) {
		z->part_len = z->rest_len;
		z->more = false;
		return true;
	}
	z->part_len = (size_t)(sep - z->rest);
	z->rest_len -= z->part_len + sizeof(FZ_SEP) - 1;
	z->rest = sep + sizeof(FZ_SEP) - 1;
	return true;
}

/*
 * The parent's next connection, with the next part of the stream. Out of input, the parent
 * closes a few more connections at once, then the fetcher is cancelled. Called with no
 * connection up, before deferred work could dial the parent. Attaching fails only when the
 * parent was dropped or the fetcher ends: nothing dials then.
 */
static void fz_next_conn(struct fz *z)
{
	if (!fz_next_part(z)) {
		if (++z->closed_conns > FZ_CLOSED_CONNS_MAX) {
			vx_fetcher_cancel(z->f);
			return;
		}
		z->part_len = 0;
		z->part_off = 0;
	}
	z->shut = false;
	if (vx__fetcher_attach(z->f, 0) != 0)
		return;
}

/* Completes the oldest operation, as the ring would. */
static void fz_complete(struct fz *z)
{
	struct fz_op op = z->ops[z->head];
	size_t n;
	int res;

	z->head = (z->head + 1) % FZ_OPS_MAX;
	z->nr_ops--;
	switch (op.kind) {
	case FZ_RECV:
		if (z->shut) {
			vx__fx_recv_done(op.c, -ECANCELED);
			return;
		}
		n = z->part_len - z->part_off;
		if (n > op.len)
			n = op.len;
		memcpy(op.dst, z->part + z->part_off, n);
		z->part_off += n;
		vx__fx_recv_done(op.c, (int)n); /* 0 at the end of the part: the parent closed */
		return;
	case FZ_SEND:
		vx__fx_send_done(op.c, z->shut ? -ECANCELED : (int)op.len);
		return;
	case FZ_CLOSE:
		vx__fx_close_done(op.c);
		fz_next_conn(z);
		return;
	case FZ_WRITE:
		n = op.len;
		if (z->half_writes && n > 1)
			n /= 2;
		memcpy(z->file + op.off, op.src, n);
		res = (int)n;
		if (z->write_error) {
			z->write_error = false;
			res = -ENOSPC;
		}
		z->writes_pending[op.off / z->piece_length]--;
		vx__fx_write_done(op.b, res);
		return;
	}
}

/* Runs deferred work and completions until nothing is left to do. */
static void fz_run(struct fz *z, struct vx_loop *loop)
{
	for (uint32_t step = 0; step < FZ_STEPS_MAX; step++) {
		VX_ASSERT(vx_loop_run_once(loop, 0) >= 0);
		if (z->nr_ops == 0)
			return;
		fz_complete(z);
	}
	VX_ASSERT(!"the fetcher keeps the fake transport busy forever");
}

static uint64_t fz_size(const struct fz *z, uint32_t n)
{
	uint64_t off = n * z->piece_length;

	return z->content_length - off < z->piece_length ? z->content_length - off
							 : z->piece_length;
}

static int fz_begin(void *ctx, uint32_t n, struct vx_fetch_piece_io *io)
{
	struct fz *z = ctx;

	VX_ASSERT(n < z->count);
	if (z->committed[n])
		return -EALREADY;
	if (z->writing[n])
		return -EBUSY;
	z->writing[n] = true;
	memset(io, 0, sizeof(*io));
	io->fd = -1; /* the fake writes into z->file */
	io->offset = n * z->piece_length;
	io->length = fz_size(z, n);
	return 0;
}

static int fz_commit(void *ctx, uint32_t n, uint32_t crc32, const char *parent_id)
{
	struct fz *z = ctx;
	uint64_t off = n * z->piece_length;

	(void)parent_id;
	VX_ASSERT(n < z->count && z->writing[n] && !z->committed[n]);
	VX_ASSERT(z->writes_pending[n] == 0);
	VX_ASSERT(crc32 == z->crc[n]);
	VX_ASSERT(vx_crc32(0, z->file + off, fz_size(z, n)) == crc32);
	z->writing[n] = false;
	z->committed[n] = true;
	return 0;
}

static void fz_abort(void *ctx, uint32_t n, int err)
{
	struct fz *z = ctx;

	(void)err;
	VX_ASSERT(n < z->count && z->writing[n]);
	VX_ASSERT(z->writes_pending[n] == 0);
	z->writing[n] = false;
}

static const struct vx_fetch_sink_ops fz_sink = {
	.begin = fz_begin,
	.commit = fz_commit,
	.abort = fz_abort,
};

static void fz_done(void *arg, int status)
{
	struct fz *z = arg;

	z->done_calls++;
	z->status = status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t lengths[4] = { 100, 1000, 5000, 9000 };
	static struct vx_loop *loop;
	static struct fz z;
	struct sockaddr parent = { .sa_family = AF_UNSPEC }; /* never dialled */
	struct vx_fetcher_stats st;
	struct vx_fetcher_cfg cfg;
	struct vx_fetcher *f = NULL;
	uint32_t crc[FZ_PIECES_MAX];
	uint8_t have = 0;

	if (!loop) {
		/* Ticks never come: the run is driven by the input alone. */
		struct vx_loop_cfg lc = { .tick_ms = 3600u * 1000u };

		vx_log_set_level(VX_LOG_ERROR);
		VX_ASSERT(vx_loop_new(&loop, &lc) == 0);
	}
	if (size < 4)
		return 0;
	memset(&z, 0, sizeof(z));
	z.count = 1 + (data[0] & 7);
	z.piece_length = lengths[data[3] & 3];
	z.content_length = z.count * z.piece_length - ((data[0] & 0x20) ? z.piece_length / 3 : 0);
	z.write_error = (data[0] & 0x40) != 0;
	z.half_writes = (data[0] & 0x80) != 0;
	for (uint64_t k = 0; k < z.content_length; k++)
		z.file[k] = fz_byte(k);
	for (uint32_t i = 0; i < z.count; i++)
		z.crc[i] = crc[i] = vx_crc32(0, z.file + i * z.piece_length, fz_size(&z, i));
	memset(z.file, 0, sizeof(z.file));
	have = data[2];

	vx_fetcher_cfg_init(&cfg);
	cfg.task_id = FZ_TASK;
	cfg.content_length = z.content_length;
	cfg.piece_length = z.piece_length;
	cfg.piece_crc32 = data[1] == 0xff ? crc : NULL;
	cfg.have = &have;
	cfg.sink = &fz_sink;
	cfg.sink_ctx = &z;
	cfg.conns_per_parent = 1;
	cfg.max_parents = 1;
	cfg.pipeline_depth = 1 + ((data[0] >> 3) & 3);
	cfg.chunk_bytes = 4096;
	cfg.buffers = 1 + ((data[3] >> 2) & 3);
	cfg.endgame_pieces = (data[3] >> 4) & 3;
	cfg.seed = 1;
	cfg.on_done = fz_done;
	cfg.cb_arg = &z;
	VX_ASSERT(vx_fetcher_new(&f, loop, &cfg) == 0);
	z.f = f;
	vx__fetcher_set_io(f, &fz_io, &z);
	for (uint32_t i = 0; i < z.count && data[1] != 0xff; i++) {
		if (data[1] & (1u << i))
			vx_fetcher_trust(f, i, crc[i]);
	}
	VX_ASSERT(vx__fetcher_add_parent_undialled(f, &parent, sizeof(parent), "parent") == 0);
	z.rest = data + 4;
	z.rest_len = size - 4;
	z.more = true;
	fz_next_conn(&z);
	fz_run(&z, loop);
	vx_fetcher_cancel(f); /* a no-op unless the last connection is still up */
	fz_run(&z, loop);
	VX_ASSERT(z.done_calls == 1);
	VX_ASSERT(vx_fetcher_idle(f));
	vx_fetcher_stats(f, &st);
	VX_ASSERT(st.pieces_done <= st.pieces_total && st.pieces_total == z.count);
	for (uint32_t i = 0; i < z.count; i++)
		VX_ASSERT(!z.writing[i]);
	vx_fetcher_free(f);
	return 0;
}
