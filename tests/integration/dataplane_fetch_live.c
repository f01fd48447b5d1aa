/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dataplane_fetch_live.c: the fetcher as the peer daemon drives it in a live swarm. Trusted
 * digests arrive piece by piece (nothing untrusted is ever requested), parents come and go
 * (a persistent fetcher outlives losing all of them, slots of dropped parents are reused, a
 * liar is refused), pieces finished by another path are never asked for, and every piece
 * reports which parent sent it and at what cost. Also batched HAVE frames both ways: the upload
 * server coalesces a burst of finished pieces into frames of up to 1,024 numbers, and the
 * fetcher takes such a frame from a raw-socket fake parent (and drops one that is too big).
 *
 * Most tests run the upload server and the fetcher on one loop in this thread, so the
 * server's counters and the pieces it was asked for are read without any race.
 */
#include "vx_test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <zlib.h>

#include "dataplane_harness.h"
#include "vx_bytes.h"
#include "vx_err.h"
#include "vx_fetcher.h"
#include "vx_ring.h"
#include "vx_time.h"

#define MAXP 64 /* pieces a test file may have (per-piece arrays below) */

struct src {
	char dir[PATH_MAX];
	char path[PATH_MAX + 32];
	char dst[PATH_MAX + 32];
	uint8_t *content;
	uint64_t len;
	uint64_t piece;
	uint32_t count;
	uint32_t *crc;
};

/* What the fetcher's callbacks saw. */
struct rec {
	int done;
	int status;
	uint32_t pieces;
	uint32_t got[MAXP];  /* on_piece per piece */
	uint32_t from[MAXP]; /* on_piece_from per piece */
	uint32_t from_parent[MAXP];
	uint64_t from_bytes[MAXP];
	uint64_t from_cost_us[MAXP];
	uint32_t from_before_piece; /* on_piece_from that came before its on_piece */
	uint32_t no_parents;
	uint32_t dropped;
	enum vx_fetch_drop why[16];
};

/* A server on the test's loop, with a count of the pieces it was asked for. */
struct live {
	struct src s;
	struct vx_loop *loop;
	struct vx_file_task *seed;
	struct vx_file_task *dst;
	struct vx_upload *up;
	struct sockaddr_storage up_addr;
	socklen_t up_len;
	struct vx_upload_source_ops ops;
	uint32_t asked[MAXP];
	struct rec r;
};

static void src_make(struct src *s, uint64_t len, uint64_t piece)
{
	uint32_t n;
	int fd;

	memset(s, 0, sizeof(*s));
	vx_h_tmpdir(s->dir);
	snprintf(s->path, sizeof(s->path), "%s/src", s->dir);
	snprintf(s->dst, sizeof(s->dst), "%s/dst", s->dir);
	vx_h_write_pattern(s->path, len, 17);
	s->len = len;
	s->piece = piece;
	s->count = (uint32_t)((len + piece - 1) / piece);
	s->content = malloc(len ? len : 1);
	fd = open(s->path, O_RDONLY);
	assert_int_equal(read(fd, s->content, len), (ssize_t)len);
	close(fd);
	s->crc = calloc(s->count + 1, sizeof(*s->crc));
	for (n = 0; n < s->count; n++) {
		uint64_t off = (uint64_t)n * piece;
		uint64_t l = len - off < piece ? len - off : piece;

		s->crc[n] = (uint32_t)crc32(0, s->content + off, (uInt)l);
	}
}

static void src_free(struct src *s)
{
	vx_h_rmdir(s->dir);
	free(s->content);
	free(s->crc);
}

static uint64_t piece_len(const struct src *s, uint32_t n)
{
	uint64_t off = (uint64_t)n * s->piece;

	return s->len - off < s->piece ? s->len - off : s->piece;
}

/* True when piece @n of the downloaded file equals the source. */
static bool piece_equal(const struct src *s, uint32_t n)
{
	uint64_t len = piece_len(s, n);
	uint8_t *buf = malloc(len ? len : 1);
	bool eq;
	int fd = open(s->dst, O_RDONLY);

	assert_true(fd >= 0);
	eq = pread(fd, buf, len, (off_t)((uint64_t)n * s->piece)) == (ssize_t)len &&
	     memcmp(buf, s->content + (uint64_t)n * s->piece, len) == 0;
	close(fd);
	free(buf);
	return eq;
}

/* ---- fetcher callbacks ------------------------------------------------------------------ */

static void on_piece(void *arg, uint32_t n)
{
	struct rec *r = arg;

	assert_true(n < MAXP);
	r->got[n]++;
	r->pieces++;
}

static void on_piece_from(void *arg, uint32_t n, uint32_t parent, uint64_t bytes, uint64_t cost_us)
{
	struct rec *r = arg;

	assert_true(n < MAXP);
	if (r->got[n] == 0)
		r->from_before_piece++;
	r->from[n]++;
	r->from_parent[n] = parent;
	r->from_bytes[n] = bytes;
	r->from_cost_us[n] = cost_us;
}

static void on_no_parents(void *arg)
{
	struct rec *r = arg;

	r->no_parents++;
}

static void on_dropped(void *arg, uint32_t index, enum vx_fetch_drop why, int err)
{
	struct rec *r = arg;

	(void)err;
	assert_true(index < 16);
	r->why[index] = why;
	r->dropped |= 1u << index;
}

static void on_done(void *arg, int status)
{
	struct rec *r = arg;

	r->done++;
	r->status = status;
}

/* ---- the same-loop server --------------------------------------------------------------- */

static int counting_get(void *ctx, const char *task_id, uint32_t number,
			struct vx_upload_piece *out)
{
	struct live *l = ctx;

	if (number < MAXP)
		l->asked[number]++;
	return vx_file_task_source_ops()->get(l->seed, task_id, number, out);
}

static void counting_put(void *ctx, struct vx_upload_piece *p)
{
	struct live *l = ctx;

	vx_file_task_source_ops()->put(l->seed, p);
}

static ssize_t counting_bitmap(void *ctx, const char *task_id, uint8_t *out, size_t out_len,
			       uint32_t *piece_count)
{
	struct live *l = ctx;

	return vx_file_task_source_ops()->bitmap(l->seed, task_id, out, out_len, piece_count);
}

static void live_start_ss(struct live *l, uint64_t len, uint64_t piece, uint32_t ss_window_ms);

static void live_start(struct live *l, uint64_t len, uint64_t piece)
{
	live_start_ss(l, len, piece, 0);
}

/* @ss_window_ms: 0, or a super-seeding server with that window. */
static void live_start_ss(struct live *l, uint64_t len, uint64_t piece, uint32_t ss_window_ms)
{
	struct vx_file_task_cfg tcfg = { 0 };
	struct vx_upload_cfg ucfg;

	memset(l, 0, sizeof(*l));
	src_make(&l->s, len, piece);
	assert_int_equal(vx_loop_new(&l->loop, NULL), 0);
	tcfg.path = l->s.path;
	tcfg.task_id = VX_H_TASK_ID;
	tcfg.content_length = len;
	tcfg.piece_length = piece;
	tcfg.seed = true;
	assert_int_equal(vx_file_task_open(&l->seed, &tcfg), 0);
	tcfg.path = l->s.dst;
	tcfg.seed = false;
	tcfg.direct = true;
	assert_int_equal(vx_file_task_open(&l->dst, &tcfg), 0);
	l->ops.get = counting_get;
	l->ops.put = counting_put;
	l->ops.bitmap = counting_bitmap;
	vx_upload_cfg_init(&ucfg);
	((struct sockaddr_in *)&ucfg.addr)->sin_port = 0;
	ucfg.ops = &l->ops;
	ucfg.ops_ctx = l;
	ucfg.super_seed = ss_window_ms > 0;
	ucfg.super_seed_window_ms = ss_window_ms;
	assert_int_equal(vx_upload_new(&l->up, l->loop, &ucfg), 0);
	vx_upload_local_addr(l->up, &l->up_addr, &l->up_len);
	assert_true(l->up_len > 0);
}

static void live_stop(struct live *l)
{
	vx_upload_shutdown(l->up);
	while (!vx_upload_idle(l->up))
		assert_true(vx_loop_run_once(l->loop, 10) >= 0);
	vx_upload_free(l->up);
	assert_int_equal(vx_loop_inflight(l->loop), 0);
	vx_loop_free(l->loop);
	assert_int_equal(vx_file_task_lent(l->seed), 0);
	vx_file_task_close(l->dst);
	vx_file_task_close(l->seed);
	src_free(&l->s);
}

static void fetch_cfg(struct vx_fetcher_cfg *cfg, const struct src *s, struct vx_file_task *dst,
		      struct rec *r)
{
	vx_fetcher_cfg_init(cfg);
	cfg->task_id = VX_H_TASK_ID;
	cfg->content_length = s->len;
	cfg->piece_length = s->piece;
	cfg->piece_crc32 = s->crc;
	cfg->sink = vx_file_task_sink_ops();
	cfg->sink_ctx = dst;
	cfg->chunk_bytes = 16384;
	cfg->buffers = 8;
	cfg->stall_timeout_ms = 2000;
	cfg->on_piece = on_piece;
	cfg->on_piece_from = on_piece_from;
	cfg->on_no_parents = on_no_parents;
	cfg->on_parent_dropped = on_dropped;
	cfg->on_done = on_done;
	cfg->cb_arg = r;
	cfg->seed = 7;
}

/* Runs @loop until *@counter reaches @want; fails after 30 s (a hang, not a timing claim). */
static void spin_until(struct vx_loop *loop, const uint32_t *counter, uint32_t want)
{
	uint64_t deadline = vx_now_ms() + 30000;

	while (*counter < want && vx_now_ms() < deadline)
		assert_true(vx_loop_run_once(loop, 20) >= 0);
	assert_true(*counter >= want);
}

static void spin_done(struct vx_loop *loop, struct rec *r)
{
	uint64_t deadline = vx_now_ms() + 30000;

	while (!r->done && vx_now_ms() < deadline)
		assert_true(vx_loop_run_once(loop, 20) >= 0);
	assert_int_equal(r->done, 1);
}

static void fetcher_end(struct vx_loop *loop, struct vx_fetcher *f)
{
	int i;

	for (i = 0; i < 200 && !vx_fetcher_idle(f); i++)
		assert_true(vx_loop_run_once(loop, 10) >= 0);
	assert_true(vx_fetcher_idle(f));
	vx_fetcher_free(f);
}

/* A loopback port that was free a moment ago: connecting to it is refused. */
static void dead_addr(struct sockaddr_in *sin)
{
	socklen_t sl = sizeof(*sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)sin, &sl), 0);
	close(fd);
}

/* ---- (a) digests arrive one by one; (c) one address, one parent ------------------------- */

static void test_live__untrusted_pieces_are_never_requested(void **state)
{
	struct vx_upload_stats us;
	struct vx_fetcher_cfg cfg;
	struct vx_fetcher *f = NULL;
	struct sockaddr_in other;
	struct live l;
	uint32_t i, n, m;

	(void)state;
	live_start(&l, 6 * 65536 + 100, 65536);
	fetch_cfg(&cfg, &l.s, l.dst, &l.r);
	cfg.piece_crc32 = NULL;
	assert_int_equal(vx_fetcher_new(&f, l.loop, &cfg), 0);
	assert_int_equal(vx_fetcher_add_parent(f, (struct sockaddr *)&l.up_addr, l.up_len, "a"), 0);
	/* The same address again: the same parent, no second set of connections. */
	assert_int_equal(vx_fetcher_add_parent(f, (struct sockaddr *)&l.up_addr, l.up_len, "a"), 0);
	assert_int_equal(vx_fetcher_live_parents(f), 1);
	/* Connected and subscribed (the server answered INTEREST with a BITFIELD)... */
	vx_upload_stats(l.up, &us);
	for (i = 0; i < 200 && us.accepted < 1; i++) {
		assert_true(vx_loop_run_once(l.loop, 10) >= 0);
		vx_upload_stats(l.up, &us);
	}
	assert_true(us.accepted >= 1);
	/* ...yet with no trusted digest there is nothing to ask for. */
	for (i = 0; i < 50; i++)
		assert_true(vx_loop_run_once(l.loop, 10) >= 0);
	vx_upload_stats(l.up, &us);
	assert_int_equal(us.requests, 0);
	assert_int_equal(l.r.pieces, 0);
	assert_int_equal(l.r.done, 0);
	/* Out of range: ignored. */
	vx_fetcher_trust(f, l.s.count, 1);
	vx_fetcher_trust(f, UINT32_MAX, 1);
	/* Trusted from the last piece down: exactly the trusted pieces arrive. */
	for (i = 0; i < l.s.count; i++) {
		n = l.s.count - 1 - i;
		vx_fetcher_trust(f, n, l.s.crc[n]);
		/* Again: a no-op. With another CRC: ignored, the first stays (it would lie). */
		vx_fetcher_trust(f, n, l.s.crc[n]);
		vx_fetcher_trust(f, n, l.s.crc[n] ^ 0x1);
		spin_until(l.loop, &l.r.got[n], 1);
		for (m = 0; m < n; m++) {
			assert_int_equal(l.asked[m], 0);
			assert_int_equal(l.r.got[m], 0);
		}
		assert_true(piece_equal(&l.s, n));
	}
	spin_done(l.loop, &l.r);
	assert_int_equal(l.r.status, 0);
	assert_int_equal(l.r.pieces, l.s.count);
	assert_int_equal(l.r.dropped, 0);
	assert_true(vx_h_files_equal(l.s.path, l.s.dst));
	/* A different address is another parent (and a finished fetcher still takes it). */
	dead_addr(&other);
	assert_int_equal(vx_fetcher_add_parent(f, (struct sockaddr *)&other, sizeof(other), "b"),
			 1);
	fetcher_end(l.loop, f);
	live_stop(&l);
}

/* ---- (b) a persistent fetcher loses its only parent, then gets a new one ---------------- */

static void test_live__persistent_survives_losing_every_parent(void **state)
{
	struct vx_fetcher_cfg cfg;
	struct vx_fetcher *f = NULL;
	struct vx_h_server a, b;
	struct vx_loop *loop = NULL;
	struct vx_file_task_cfg tcfg = { 0 };
	struct vx_file_task *dst = NULL;
	struct rec r;
	struct src s;
	uint32_t i, want;

	(void)state;
	memset(&r, 0, sizeof(r));
	src_make(&s, 8 * 65536, 65536);
	assert_int_equal(vx_loop_new(&loop, NULL), 0);
	tcfg.path = s.dst;
	tcfg.task_id = VX_H_TASK_ID;
	tcfg.content_length = s.len;
	tcfg.piece_length = s.piece;
	assert_int_equal(vx_file_task_open(&dst, &tcfg), 0);
	/* Parent A lacks pieces 3 and 5: the fetcher cannot finish from it alone. */
	vx_h_server_start(&a, s.path, s.len, s.piece, NULL);
	vx_h_server_set(&a, 3, false);
	vx_h_server_set(&a, 5, false);
	fetch_cfg(&cfg, &s, dst, &r);
	cfg.persistent = true;
	assert_int_equal(vx_fetcher_new(&f, loop, &cfg), 0);
	assert_int_equal(vx_fetcher_add_parent(f, (struct sockaddr *)&a.addr, sizeof(a.addr), "a"),
			 0);
	want = s.count - 2;
	spin_until(loop, &r.pieces, want);
	vx_h_server_stop(&a);
	/* Its connections end and reconnecting is refused: dropped, the last one. */
	spin_until(loop, &r.no_parents, 1);
	assert_int_equal(vx_fetcher_live_parents(f), 0);
	assert_int_equal(r.dropped, 1);
	/* Waiting, not failing: no on_done, and no second on_no_parents for the same loss. */
	for (i = 0; i < 30; i++)
		assert_true(vx_loop_run_once(loop, 10) >= 0);
	assert_int_equal(r.done, 0);
	assert_int_equal(r.no_parents, 1);
	assert_int_equal(r.pieces, want);
	vx_h_server_start(&b, s.path, s.len, s.piece, NULL);
	assert_true(vx_fetcher_add_parent(f, (struct sockaddr *)&b.addr, sizeof(b.addr), "b") >= 0);
	assert_int_equal(vx_fetcher_live_parents(f), 1);
	spin_done(loop, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.pieces, s.count);
	assert_int_equal(r.got[3], 1);
	assert_int_equal(r.got[5], 1);
	assert_true(vx_h_files_equal(s.path, s.dst));
	fetcher_end(loop, f);
	assert_int_equal(vx_loop_inflight(loop), 0);
	vx_loop_free(loop);
	vx_file_task_close(dst);
	vx_h_server_stop(&b);
	src_free(&s);
}

/* Churn with one parent slot: dropped parents give their slot back. */
static void test_live__dropped_slots_are_reused(void **state)
{
	struct vx_fetcher_cfg cfg;
	struct vx_fetcher *f = NULL;
	struct vx_h_raw dying;
	struct live l;
	int idx, i;

	(void)state;
	live_start(&l, 3 * 65536, 65536);
	/* A parent that dies in the middle of every piece: dropped for an I/O error. */
	vx_h_raw_start(&dying, VX_H_RAW_DIE_MID, l.s.content, l.s.len, l.s.piece);
	fetch_cfg(&cfg, &l.s, l.dst, &l.r);
	cfg.persistent = true;
	cfg.max_parents = 1;
	assert_int_equal(vx_fetcher_new(&f, l.loop, &cfg), 0);
	assert_int_equal(
		vx_fetcher_add_parent(f, (struct sockaddr *)&dying.addr, sizeof(dying.addr), "x"),
		0);
	/* The only slot is taken by a live parent. */
	assert_int_equal(vx_fetcher_add_parent(f, (struct sockaddr *)&l.up_addr, l.up_len, "s"),
			 -ENOSPC);
	spin_until(l.loop, &l.r.no_parents, 1);
	assert_int_equal(l.r.why[0], VX_FETCH_DROP_ERROR);
	/* Dropped for a reason other than lying or being unreachable: it may come back, into
	 * the same slot. */
	idx = -EAGAIN;
	for (i = 0; i < 200 && idx == -EAGAIN; i++) {
		idx = vx_fetcher_add_parent(f, (struct sockaddr *)&dying.addr, sizeof(dying.addr),
					    "x");
		if (idx == -EAGAIN)
			assert_true(vx_loop_run_once(l.loop, 10) >= 0);
	}
	assert_int_equal(idx, 0);
	spin_until(l.loop, &l.r.no_parents, 2);
	assert_int_equal(l.r.done, 0);
	idx = -EAGAIN;
	for (i = 0; i < 200 && idx == -EAGAIN; i++) {
		idx = vx_fetcher_add_parent(f, (struct sockaddr *)&l.up_addr, l.up_len, "s");
		if (idx == -EAGAIN)
			assert_true(vx_loop_run_once(l.loop, 10) >= 0);
	}
	assert_int_equal(idx, 0);
	spin_done(l.loop, &l.r);
	assert_int_equal(l.r.status, 0);
	assert_int_equal(l.r.no_parents, 2);
	assert_true(vx_h_files_equal(l.s.path, l.s.dst));
	fetcher_end(l.loop, f);
	vx_h_raw_stop(&dying);
	live_stop(&l);
}

/*
 * A parent that refuses connections is dialled again with a back-off that doubles, then given
 * up: dropped (VX_FETCH_DROP_CONNECT), reported, refused when offered again, and never dialled
 * after. Before, it was redialled at once, over and over, and the fetcher never said it had no
 * parents; now on_no_parents comes, and the peer can look elsewhere.
 */
static void test_live__unreachable_parent_backs_off_then_is_given_up(void **state)
{
	struct vx_fetcher_stats st;
	struct vx_fetcher_cfg cfg;
	struct vx_fetcher *f = NULL;
	struct sockaddr_in dead;
	uint64_t added, backoff = 0;
	struct live l;
	int i;

	(void)state;
	live_start(&l, 3 * 65536, 65536);
	fetch_cfg(&cfg, &l.s, l.dst, &l.r);
	cfg.persistent = true;
	assert_int_equal(vx_fetcher_new(&f, l.loop, &cfg), 0);
	dead_addr(&dead);
	added = vx_now_ms();
	assert_int_equal(vx_fetcher_add_parent(f, (struct sockaddr *)&dead, sizeof(dead), "x"), 0);
	spin_until(l.loop, &l.r.no_parents, 1);
	assert_int_equal(l.r.dropped, 1u);
	assert_int_equal(l.r.why[0], VX_FETCH_DROP_CONNECT);
	assert_int_equal(vx_fetcher_live_parents(f), 0);
	vx_fetcher_stats(f, &st);
	assert_int_equal(st.connect_failures, VX_FETCH_DIAL_TRIES);
	assert_int_equal(st.parents_dropped, 1);
	/* It waited out every back-off in between (a lower bound: load only makes it later). */
	for (i = 0; i + 1 < VX_FETCH_DIAL_TRIES; i++)
		backoff += VX_MIN((uint64_t)VX_FETCH_DIAL_FIRST_MS << i,
				  (uint64_t)VX_FETCH_DIAL_MAX_MS);
	assert_true(vx_now_ms() - added >= backoff);
	/* Given up for this task: offered again (the scheduler still names it), refused. */
	for (i = 0; i < 30; i++) {
		assert_int_equal(
			vx_fetcher_add_parent(f, (struct sockaddr *)&dead, sizeof(dead), "x"),
			-EPERM);
		assert_true(vx_loop_run_once(l.loop, 10) >= 0);
	}
	vx_fetcher_stats(f, &st);
	assert_int_equal(st.connect_failures, VX_FETCH_DIAL_TRIES);
	assert_int_equal(l.r.no_parents, 1);
	assert_int_equal(l.r.done, 0);
	/* Another parent finishes the job. */
	assert_true(vx_fetcher_add_parent(f, (struct sockaddr *)&l.up_addr, l.up_len, "s") >= 0);
	spin_done(l.loop, &l.r);
	assert_int_equal(l.r.status, 0);
	assert_true(vx_h_files_equal(l.s.path, l.s.dst));
	fetcher_end(l.loop, f);
	live_stop(&l);
}

/*
 * This host out of descriptors (EMFILE) when a parent is added: no socket, and no dial failure
 * counted against the parent; the fetcher neither spins retrying at once (it did: the loop
 * thread never returned from vx_fetcher_add_parent(); the alarm fails the test then) nor gives
 * the parent up, and dials it once descriptors are free again.
 */
static void test_live__no_descriptor_left_does_not_spin(void **state)
{
	struct vx_fetcher_stats st;
	struct vx_fetcher_cfg cfg;
	struct vx_fetcher *f = NULL;
	struct rlimit old, low;
	int held[512], nr_held = 0, fd, i;
	struct live l;

	(void)state;
	live_start(&l, 3 * 65536, 65536);
	fetch_cfg(&cfg, &l.s, l.dst, &l.r);
	cfg.persistent = true;
	assert_int_equal(vx_fetcher_new(&f, l.loop, &cfg), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 512;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (nr_held < 512 && (fd = dup(0)) >= 0)
		held[nr_held++] = fd;
	assert_int_equal(errno, EMFILE);
	alarm(20);
	assert_true(vx_fetcher_add_parent(f, (struct sockaddr *)&l.up_addr, l.up_len, "s") >= 0);
	for (i = 0; i < 20; i++)
		assert_true(vx_loop_run_once(l.loop, 10) >= 0);
	alarm(0);
	vx_fetcher_stats(f, &st);
	assert_int_equal(st.connect_failures, 0);
	assert_int_equal(st.parents_dropped, 0);
	assert_int_equal(l.r.dropped, 0u);
	while (nr_held > 0)
		close(held[--nr_held]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	spin_done(l.loop, &l.r);
	assert_int_equal(l.r.status, 0);
	assert_true(vx_h_files_equal(l.s.path, l.s.dst));
	fetcher_end(l.loop, f);
	live_stop(&l);
}

/* A parent dropped for lying is refused when it is offered again. */
static void test_live__liar_is_refused_again(void **state)
{
	struct vx_fetcher_cfg cfg;
	struct vx_fetcher *f = NULL;
	struct vx_h_raw bad;
	struct live l;
	int idx, i;

	(void)state;
	live_start(&l, 3 * 65536, 65536);
	vx_h_raw_start(&bad, VX_H_RAW_CORRUPT, l.s.content, l.s.len, l.s.piece);
	fetch_cfg(&cfg, &l.s, l.dst, &l.r);
	cfg.persistent = true;
	assert_int_equal(vx_fetcher_new(&f, l.loop, &cfg), 0);
	assert_int_equal(
		vx_fetcher_add_parent(f, (struct sockaddr *)&bad.addr, sizeof(bad.addr), "liar"),
		0);
	spin_until(l.loop, &l.r.no_parents, 1);
	assert_int_equal(l.r.why[0], VX_FETCH_DROP_DIGEST);
	assert_int_equal(l.r.pieces, 0);
	/* Refused at once and after its slot is free again. */
	for (i = 0; i < 20; i++) {
		idx = vx_fetcher_add_parent(f, (struct sockaddr *)&bad.addr, sizeof(bad.addr),
					    "liar");
		assert_int_equal(idx, -EPERM);
		assert_true(vx_loop_run_once(l.loop, 10) >= 0);
	}
	assert_int_equal(l.r.done, 0);
	/* Bad addresses get a clear error. */
	assert_int_equal(vx_fetcher_add_parent(f, NULL, 0, "none"), -EINVAL);
	assert_int_equal(vx_fetcher_add_parent(f, (struct sockaddr *)&bad.addr, 4, "short"),
			 -EINVAL);
	/* An honest parent finishes the job. */
	idx = vx_fetcher_add_parent(f, (struct sockaddr *)&l.up_addr, l.up_len, "s");
	assert_true(idx >= 0);
	spin_done(l.loop, &l.r);
	assert_int_equal(l.r.status, 0);
	assert_true(vx_h_files_equal(l.s.path, l.s.dst));
	fetcher_end(l.loop, f);
	vx_h_raw_stop(&bad);
	live_stop(&l);
}

/* Cancel is the only end of a persistent fetcher without all pieces. */
static void test_live__persistent_cancel(void **state)
{
	struct vx_fetcher_cfg cfg;
	struct vx_fetcher *f = NULL;
	struct sockaddr_in dead;
	struct live l;

	(void)state;
	live_start(&l, 2 * 65536, 65536);
	fetch_cfg(&cfg, &l.s, l.dst, &l.r);
	cfg.persistent = true;
	assert_int_equal(vx_fetcher_new(&f, l.loop, &cfg), 0);
	dead_addr(&dead);
	assert_int_equal(vx_fetcher_add_parent(f, (struct sockaddr *)&dead, sizeof(dead), "x"), 0);
	spin_until(l.loop, &l.r.no_parents, 1);
	vx_fetcher_cancel(f);
	spin_done(l.loop, &l.r);
	assert_int_equal(l.r.status, -ECANCELED);
	fetcher_end(l.loop, f);
	live_stop(&l);
}

/* ---- (d) pieces finished by another path ------------------------------------------------ */

static void test_live__had_pieces_are_never_requested(void **state)
{
	struct vx_fetcher_cfg cfg;
	struct vx_fetcher *f = NULL;
	struct live l;
	uint32_t n;

	(void)state;
	live_start(&l, 6 * 65536 + 9, 65536);
	fetch_cfg(&cfg, &l.s, l.dst, &l.r);
	assert_int_equal(vx_fetcher_new(&f, l.loop, &cfg), 0);
	vx_fetcher_have(f, 2);
	vx_fetcher_have(f, 2); /* already had: no-op */
	vx_fetcher_have(f, 6);
	vx_fetcher_have(f, l.s.count); /* out of range: ignored */
	assert_int_equal(vx_fetcher_add_parent(f, (struct sockaddr *)&l.up_addr, l.up_len, "a"), 0);
	spin_done(l.loop, &l.r);
	assert_int_equal(l.r.status, 0);
	assert_int_equal(l.r.pieces, l.s.count - 2);
	assert_int_equal(l.asked[2], 0);
	assert_int_equal(l.asked[6], 0);
	assert_int_equal(l.r.got[2], 0);
	assert_int_equal(l.r.got[6], 0);
	for (n = 0; n < l.s.count; n++) {
		if (n != 2 && n != 6)
			assert_true(piece_equal(&l.s, n));
	}
	fetcher_end(l.loop, f);

	/* Every piece had by another path: done without a single parent. */
	memset(&l.r, 0, sizeof(l.r));
	fetch_cfg(&cfg, &l.s, l.dst, &l.r);
	cfg.piece_crc32 = NULL;
	assert_int_equal(vx_fetcher_new(&f, l.loop, &cfg), 0);
	for (n = 0; n < l.s.count; n++)
		vx_fetcher_have(f, n);
	spin_done(l.loop, &l.r);
	assert_int_equal(l.r.status, 0);
	assert_int_equal(l.r.pieces, 0);
	fetcher_end(l.loop, f);
	live_stop(&l);
}

/* A piece had while the fetcher may be asking for it: never committed twice, still done. */
static struct vx_fetcher *g_have_f;

static void on_piece_have_next(void *arg, uint32_t n)
{
	struct rec *r = arg;

	on_piece(arg, n);
	/* The pieces after the first committed one may well be in flight right now. */
	if (r->pieces == 1) {
		vx_fetcher_have(g_have_f, (n + 1) % MAXP);
		vx_fetcher_have(g_have_f, (n + 2) % MAXP);
	}
}

static void test_live__have_while_in_flight(void **state)
{
	struct vx_fetcher_cfg cfg;
	struct vx_fetcher *f = NULL;
	struct live l;
	uint32_t n, total = 0;

	(void)state;
	live_start(&l, 16 * 65536, 65536);
	fetch_cfg(&cfg, &l.s, l.dst, &l.r);
	cfg.on_piece = on_piece_have_next;
	cfg.pipeline_depth = 8;
	assert_int_equal(vx_fetcher_new(&f, l.loop, &cfg), 0);
	g_have_f = f;
	assert_int_equal(vx_fetcher_add_parent(f, (struct sockaddr *)&l.up_addr, l.up_len, "a"), 0);
	spin_done(l.loop, &l.r);
	assert_int_equal(l.r.status, 0);
	assert_int_equal(l.r.dropped, 0);
	for (n = 0; n < l.s.count; n++) {
		assert_true(l.r.got[n] <= 1);
		total += l.r.got[n];
	}
	/* Two pieces (or fewer, when they were already committed) came by "another path". */
	assert_true(total >= l.s.count - 2);
	assert_int_equal(total, l.r.pieces);
	fetcher_end(l.loop, f);
	live_stop(&l);
}

/* ---- (e) which parent sent each piece, and what it cost -------------------------------- */

static void test_live__piece_from_reports_parent_and_cost(void **state)
{
	struct vx_fetcher_cfg cfg;
	struct vx_fetcher *f = NULL;
	struct vx_file_task_cfg tcfg = { 0 };
	struct vx_file_task *dst = NULL;
	struct vx_loop *loop = NULL;
	struct vx_h_server a, b;
	struct rec r;
	struct src s;
	uint64_t sum = 0;
	uint32_t n;

	(void)state;
	memset(&r, 0, sizeof(r));
	src_make(&s, 12 * 65536 + 777, 65536);
	vx_h_server_start(&a, s.path, s.len, s.piece, NULL);
	vx_h_server_start(&b, s.path, s.len, s.piece, NULL);
	assert_int_equal(vx_loop_new(&loop, NULL), 0);
	tcfg.path = s.dst;
	tcfg.task_id = VX_H_TASK_ID;
	tcfg.content_length = s.len;
	tcfg.piece_length = s.piece;
	assert_int_equal(vx_file_task_open(&dst, &tcfg), 0);
	fetch_cfg(&cfg, &s, dst, &r);
	assert_int_equal(vx_fetcher_new(&f, loop, &cfg), 0);
	assert_int_equal(vx_fetcher_add_parent(f, (struct sockaddr *)&a.addr, sizeof(a.addr), "a"),
			 0);
	assert_int_equal(vx_fetcher_add_parent(f, (struct sockaddr *)&b.addr, sizeof(b.addr), "b"),
			 1);
	assert_int_equal(vx_fetcher_live_parents(f), 2);
	spin_done(loop, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.from_before_piece, 0);
	for (n = 0; n < s.count; n++) {
		assert_int_equal(r.from[n], 1);
		assert_true(r.from_parent[n] <= 1);
		assert_int_equal(r.from_bytes[n], piece_len(&s, n));
		/* Request to last byte on loopback: well under a minute. */
		assert_true(r.from_cost_us[n] < 60ull * 1000 * 1000);
		sum += r.from_bytes[n];
	}
	assert_int_equal(sum, s.len);
	assert_true(vx_h_files_equal(s.path, s.dst));
	fetcher_end(loop, f);
	vx_loop_free(loop);
	vx_file_task_close(dst);
	vx_h_server_stop(&a);
	vx_h_server_stop(&b);
	src_free(&s);
}

/* ---- HAVE batching: the upload server coalesces ----------------------------------------- */

struct sub_client {
	struct sockaddr_storage addr;
	atomic_int subscribed;
	uint32_t want; /* piece numbers to read */
	uint32_t frames;
	uint32_t frame_numbers[8];
	uint32_t numbers_seen;
	bool in_order;
	int err;
};

static void *sub_client_main(void *arg)
{
	struct sub_client *c = arg;
	uint8_t req[71], hdr[6];
	uint8_t *val = malloc(64 + 4 * 1024 + 70000);
	uint32_t len, k;
	int fd;

	c->in_order = true;
	fd = vx_h_connect((struct sockaddr_in *)&c->addr);
	if (fd < 0 || vx_h_hello(fd) <= 0)
		goto fail;
	req[0] = 0;
	req[1] = 0x41;
	vx_put_be32(req + 2, 65);
	memcpy(req + 6, VX_H_TASK_ID, 64);
	req[70] = 1;
	if (vx_h_send_all(fd, req, sizeof(req)) || vx_h_recv_all(fd, hdr, 6) || hdr[1] != 0x42)
		goto fail;
	len = vx_get_be32(hdr + 2);
	if (len > 70000 || vx_h_recv_all(fd, val, len))
		goto fail;
	atomic_store(&c->subscribed, 1);
	while (c->numbers_seen < c->want) {
		if (vx_h_recv_all(fd, hdr, 6) || hdr[1] != 0x43)
			goto fail;
		len = vx_get_be32(hdr + 2);
		if (len < 68 || len > 64 + 4 * 1024 || (len - 64) % 4 ||
		    vx_h_recv_all(fd, val, len))
			goto fail;
		if (c->frames < 8)
			c->frame_numbers[c->frames] = (len - 64) / 4;
		c->frames++;
		for (k = 0; k < (len - 64) / 4; k++) {
			if (vx_get_be32(val + 64 + 4 * k) != c->numbers_seen)
				c->in_order = false;
			c->numbers_seen++;
		}
	}
	close(fd);
	free(val);
	return NULL;
fail:
	c->err = 1;
	atomic_store(&c->subscribed, 1);
	if (fd >= 0)
		close(fd);
	free(val);
	return NULL;
}

static void test_live__upload_batches_haves(void **state)
{
	struct vx_upload_stats us;
	struct sub_client c;
	uint64_t deadline;
	struct live l;
	pthread_t t;
	uint32_t n, count = 1100;

	(void)state;
	/* 1,100 pieces of 4 KiB, none finished when the subscriber arrives. */
	live_start(&l, (uint64_t)count * 4096, 4096);
	for (n = 0; n < count; n++)
		vx_file_task_set(l.seed, n, false);
	memset(&c, 0, sizeof(c));
	memcpy(&c.addr, &l.up_addr, sizeof(c.addr));
	c.want = count;
	assert_int_equal(pthread_create(&t, NULL, sub_client_main, &c), 0);
	deadline = vx_now_ms() + 30000;
	while (!atomic_load(&c.subscribed) && vx_now_ms() < deadline)
		assert_true(vx_loop_run_once(l.loop, 10) >= 0);
	assert_int_equal(c.err, 0);
	/* All finish between two loop iterations: one burst, announced after the next drain. */
	for (n = 0; n < count; n++) {
		vx_file_task_set(l.seed, n, true);
		vx_upload_piece_finished(l.up, VX_H_TASK_ID, n);
	}
	vx_upload_stats(l.up, &us);
	while (us.conns > 0 && vx_now_ms() < deadline) {
		assert_true(vx_loop_run_once(l.loop, 10) >= 0);
		vx_upload_stats(l.up, &us);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(c.err, 0);
	assert_int_equal(c.numbers_seen, count);
	assert_true(c.in_order);
	/* Two frames: the largest allowed (1,024 numbers) and the rest. */
	assert_int_equal(c.frames, 2);
	assert_int_equal(c.frame_numbers[0], 1024);
	assert_int_equal(c.frame_numbers[1], count - 1024);
	assert_int_equal(us.haves_sent, count);
	live_stop(&l);
}

/* ---- HAVE batching: the fetcher takes a batch from a raw fake parent --------------------- */

struct fake_parent {
	pthread_t thread;
	int lfd;
	struct sockaddr_in addr;
	const struct src *s;
	uint32_t have_numbers; /* numbers in the one HAVE frame it sends (may exceed 1,024) */
	uint32_t requests;
	bool request_before_have;
};

static int fake_recv_frame(int fd, uint8_t *hdr, uint8_t *val, uint32_t max)
{
	uint32_t len;

	if (vx_h_recv_all(fd, hdr, 6))
		return -1;
	len = vx_get_be32(hdr + 2);
	if (len > max || vx_h_recv_all(fd, val, len))
		return -1;
	return (int)len;
}

/* Sends a PieceContent head (as the harness's Dragonfly server does) and the body. */
static int fake_send_piece(int fd, const struct src *s, uint32_t n)
{
	uint64_t off = (uint64_t)n * s->piece, len = piece_len(s, n);
	uint8_t head[6 + 4 + 45 + 32];
	char digest[32];
	uint32_t dlen, mlen;

	dlen = (uint32_t)snprintf(digest, sizeof(digest), "crc32:%u", s->crc[n]);
	mlen = 45 + dlen;
	head[0] = 1;
	head[1] = 0x01;
	vx_put_be32(head + 2, 4 + mlen);
	vx_put_be32(head + 6, mlen);
	vx_put_be32(head + 10, n);
	vx_put_be64(head + 14, off);
	vx_put_be64(head + 22, len);
	vx_put_be32(head + 30, dlen);
	memcpy(head + 34, digest, dlen);
	vx_put_be32(head + 34 + dlen, 0);
	head[38 + dlen] = 1;
	vx_put_be64(head + 39 + dlen, 0);
	vx_put_be64(head + 47 + dlen, 1700000000);
	if (vx_h_send_all(fd, head, 10 + mlen))
		return -1;
	return vx_h_send_all(fd, s->content + off, len);
}

static void *fake_parent_main(void *arg)
{
	struct fake_parent *p = arg;
	const struct src *s = p->s;
	uint32_t hlen = 64 + 4 * p->have_numbers, i;
	uint8_t *out = calloc(1, 6 + hlen + 6 + 16 + 6 + 68 + 16);
	uint8_t hdr[6], val[256];
	uint32_t off = 0;
	int fd, len;

	fd = accept(p->lfd, NULL, NULL);
	if (fd < 0)
		goto out;
	/* HELLO, then INTEREST (subscribe) from the fetcher. */
	len = fake_recv_frame(fd, hdr, val, sizeof(val));
	if (len < 0 || hdr[1] != 0x40)
		goto out;
	len = fake_recv_frame(fd, hdr, val, sizeof(val));
	if (len != 65 || hdr[1] != 0x41)
		goto out;
	/* Our HELLO (pipeline + availability), an empty BITFIELD, then one batched HAVE. */
	out[off + 1] = 0x40;
	vx_put_be32(out + off + 2, 16);
	memcpy(out + off + 6, "VX", 2);
	vx_put_be16(out + off + 8, 1);
	vx_put_be32(out + off + 10, 0x3);
	vx_put_be32(out + off + 14, 8);
	vx_put_be32(out + off + 18, 65536);
	off += 22;
	out[off + 1] = 0x42;
	vx_put_be32(out + off + 2, 64 + 4 + (s->count + 7) / 8);
	memcpy(out + off + 6, VX_H_TASK_ID, 64);
	vx_put_be32(out + off + 70, s->count);
	off += 6 + 64 + 4 + (s->count + 7) / 8;
	out[off + 1] = 0x43;
	vx_put_be32(out + off + 2, hlen);
	memcpy(out + off + 6, VX_H_TASK_ID, 64);
	for (i = 0; i < p->have_numbers; i++)
		vx_put_be32(out + off + 70 + 4 * i, (s->count - 1 - i % s->count));
	off += 6 + hlen;
	if (vx_h_send_all(fd, out, off))
		goto out;
	/* Answer DownloadPiece requests in order until the fetcher closes. */
	for (;;) {
		len = fake_recv_frame(fd, hdr, val, sizeof(val));
		if (len < 0)
			break;
		if (hdr[1] == 0x44)
			continue; /* CANCEL: too late here, the answer is already sent */
		if (hdr[1] != 0x00 || len != 68)
			break;
		p->requests++;
		i = vx_get_be32(val + 64);
		if (i >= s->count || fake_send_piece(fd, s, i))
			break;
	}
out:
	if (fd >= 0)
		close(fd);
	free(out);
	return NULL;
}

static void fake_parent_start(struct fake_parent *p, const struct src *s, uint32_t have_numbers)
{
	socklen_t sl = sizeof(p->addr);

	memset(p, 0, sizeof(*p));
	p->s = s;
	p->have_numbers = have_numbers;
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(p->lfd >= 0);
	p->addr.sin_family = AF_INET;
	p->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&p->addr, sizeof(p->addr)), 0);
	assert_int_equal(listen(p->lfd, 4), 0);
	assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&p->addr, &sl), 0);
	assert_int_equal(pthread_create(&p->thread, NULL, fake_parent_main, p), 0);
}

static void fake_parent_stop(struct fake_parent *p)
{
	assert_int_equal(pthread_join(p->thread, NULL), 0);
	close(p->lfd);
}

/* Fetches from a fake parent whose only availability news is one HAVE of @k numbers. */
static int fetch_from_fake(uint32_t k, struct rec *r, struct fake_parent *p)
{
	struct vx_file_task_cfg tcfg = { 0 };
	struct vx_fetcher_cfg cfg;
	struct vx_file_task *dst = NULL;
	struct vx_fetcher *f = NULL;
	struct vx_loop *loop = NULL;
	struct src s;

	memset(r, 0, sizeof(*r));
	src_make(&s, 5 * 16384 + 3, 16384);
	fake_parent_start(p, &s, k);
	assert_int_equal(vx_loop_new(&loop, NULL), 0);
	tcfg.path = s.dst;
	tcfg.task_id = VX_H_TASK_ID;
	tcfg.content_length = s.len;
	tcfg.piece_length = s.piece;
	assert_int_equal(vx_file_task_open(&dst, &tcfg), 0);
	fetch_cfg(&cfg, &s, dst, r);
	cfg.conns_per_parent = 1;
	cfg.endgame_pieces = 0;
	cfg.on_no_parents = NULL;
	assert_int_equal(vx_fetcher_new(&f, loop, &cfg), 0);
	assert_int_equal(
		vx_fetcher_add_parent(f, (struct sockaddr *)&p->addr, sizeof(p->addr), "fake"), 0);
	spin_done(loop, r);
	fetcher_end(loop, f);
	vx_loop_free(loop);
	vx_file_task_close(dst);
	fake_parent_stop(p);
	if (r->status == 0)
		assert_true(vx_h_files_equal(s.path, s.dst));
	src_free(&s);
	return r->status;
}

static void test_live__fetcher_takes_batched_have(void **state)
{
	struct fake_parent p;
	struct rec r;

	(void)state;
	/* Every piece, announced in one frame (last first). */
	assert_int_equal(fetch_from_fake(6, &r, &p), 0);
	assert_int_equal(r.pieces, 6);
	assert_int_equal(r.dropped, 0);
	assert_int_equal(p.requests, 6);
	/* The largest frame the spec allows: 1,024 numbers (repeats are harmless). */
	assert_int_equal(fetch_from_fake(1024, &r, &p), 0);
	assert_int_equal(r.pieces, 6);
	assert_int_equal(r.dropped, 0);
	/* One number too many: a protocol error, the parent is dropped. */
	assert_int_equal(fetch_from_fake(1025, &r, &p), VX_ENOPEERS);
	assert_int_equal(r.dropped, 1);
	assert_int_equal(r.why[0], VX_FETCH_DROP_PROTOCOL);
	assert_int_equal(r.pieces, 0);
	assert_int_equal(p.requests, 0);
}

/*
 * Two children of one super-seeding parent and one piece: the second asker is answered BUSY,
 * puts the piece back, and gets it once the window has passed; both finish with identical
 * copies and the server counted the deferral.
 */
static void test_live__busy_back_off_asks_again(void **state)
{
	struct vx_file_task_cfg tcfg = { 0 };
	struct vx_fetcher_cfg c1, c2;
	struct vx_fetcher *f1 = NULL, *f2 = NULL;
	struct vx_file_task *dst2 = NULL;
	struct vx_upload_stats us;
	struct rec r2 = { 0 };
	char path2[PATH_MAX + 40];
	struct live l;

	(void)state;
	live_start_ss(&l, 65536, 65536, 300);
	snprintf(path2, sizeof(path2), "%s2", l.s.dst);
	tcfg.path = path2;
	tcfg.task_id = VX_H_TASK_ID;
	tcfg.content_length = l.s.len;
	tcfg.piece_length = l.s.piece;
	assert_int_equal(vx_file_task_open(&dst2, &tcfg), 0);
	fetch_cfg(&c1, &l.s, l.dst, &l.r);
	fetch_cfg(&c2, &l.s, dst2, &r2);
	c2.seed = 11;
	assert_int_equal(vx_fetcher_new(&f1, l.loop, &c1), 0);
	assert_int_equal(vx_fetcher_new(&f2, l.loop, &c2), 0);
	assert_int_equal(vx_fetcher_add_parent(f1, (struct sockaddr *)&l.up_addr, l.up_len, "p"),
			 0);
	assert_int_equal(vx_fetcher_add_parent(f2, (struct sockaddr *)&l.up_addr, l.up_len, "p"),
			 0);
	spin_done(l.loop, &l.r);
	spin_done(l.loop, &r2);
	assert_int_equal(l.r.status, 0);
	assert_int_equal(r2.status, 0);
	vx_upload_stats(l.up, &us);
	assert_true(us.busy_sent > 0); /* the second asker was deferred at least once */
	fetcher_end(l.loop, f1);
	fetcher_end(l.loop, f2);
	assert_true(vx_h_files_equal(l.s.path, l.s.dst));
	assert_true(vx_h_files_equal(l.s.path, path2));
	vx_file_task_close(dst2);
	unlink(path2);
	live_stop(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live__untrusted_pieces_are_never_requested),
		cmocka_unit_test(test_live__persistent_survives_losing_every_parent),
		cmocka_unit_test(test_live__dropped_slots_are_reused),
		cmocka_unit_test(test_live__unreachable_parent_backs_off_then_is_given_up),
		cmocka_unit_test(test_live__no_descriptor_left_does_not_spin),
		cmocka_unit_test(test_live__liar_is_refused_again),
		cmocka_unit_test(test_live__persistent_cancel),
		cmocka_unit_test(test_live__had_pieces_are_never_requested),
		cmocka_unit_test(test_live__have_while_in_flight),
		cmocka_unit_test(test_live__piece_from_reports_parent_and_cost),
		cmocka_unit_test(test_live__upload_batches_haves),
		cmocka_unit_test(test_live__fetcher_takes_batched_have),
		cmocka_unit_test(test_live__busy_back_off_asks_again),
	};
	char diag[256];

	signal(SIGPIPE, SIG_IGN);
	if (vx_ring_probe(diag, sizeof(diag)) < 0) {
		fprintf(stderr, "skip: %s\n", diag);
		return VX_TEST_SKIP;
	}
	return cmocka_run_group_tests_name("dataplane_fetch_live", tests, NULL, NULL);
}
