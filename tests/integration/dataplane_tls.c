/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dataplane_tls.c: TLS 1.3 with client certificates on the data plane, over loopback: the
 * upload server and the fetcher with contexts built from a PKI the openssl CLI makes
 * (tests/integration/tls_certs.sh). Covers shared/reference/dragonfly-behaviour.md 5.5 items
 * 20 (mutual TLS, certificates bound to identity: a host without a certificate, with one from
 * another CA, an expired, a revoked one or one naming no vx identity is not served, the data
 * plane's half of issue 16's "refused on both planes"; the fetcher refuses a parent whose
 * certificate names another host id, and falls back to one that is right), 10 (the fetcher
 * verifies its parent's chain; plaintext only when no context is given), 12 (garbage TLS
 * records, here and in fuzz_dp_tls) and 15 (a handshake left incomplete times out).
 * Plaintext meeting TLS either way fails at once. Transfers are compared byte for byte.
 */
#include "vx_test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "dataplane_harness.h"
#include "vx_compiler.h"
#include "vx_dp_tls.h"
#include "vx_err.h"
#include "vx_fetcher.h"
#include "vx_ring.h"
#include "vx_time.h"

#define SEED_ID "seed-00000000000000a1"
#define PEER_ID "peer-00000000000000b2"

extern char **environ;

static char g_pki[PATH_MAX];

static void pki_path(char *out, size_t len, const char *name)
{
	int n = snprintf(out, len, "%s/%s", g_pki, name);

	if (n < 0 || (size_t)n >= len)
		abort(); /* a test directory path that long is a broken test set-up */
}

/* A context from the test PKI: @name.pem/.key, the CA, and the CRL when @crl. */
static SSL_CTX *ctx_for(const char *name, bool crl)
{
	char cert[PATH_MAX + 32], key[PATH_MAX + 32], ca[PATH_MAX + 32], c[PATH_MAX + 32];
	char pem[64], k[64];
	SSL_CTX *ctx;

	snprintf(pem, sizeof(pem), "%s.pem", name);
	snprintf(k, sizeof(k), "%s.key", name);
	pki_path(cert, sizeof(cert), pem);
	pki_path(key, sizeof(key), k);
	pki_path(ca, sizeof(ca), "ca.pem");
	pki_path(c, sizeof(c), "crl.pem");
	ctx = vx_dp_tls_ctx_from_files(cert, key, ca, crl ? c : NULL);
	assert_non_null(ctx);
	return ctx;
}

static int setup(void **state)
{
	static char sh[] = "sh";
	char script[PATH_MAX];
	const char *src = getenv("VX_SOURCE_DIR");
	char *argv[4];
	pid_t pid;
	int st = -1;

	(void)state;
	vx_h_tmpdir(g_pki);
	snprintf(script, sizeof(script), "%s/tests/integration/tls_certs.sh", src ? src : ".");
	argv[0] = sh;
	argv[1] = script;
	argv[2] = g_pki;
	argv[3] = NULL;
	if (posix_spawnp(&pid, "sh", NULL, NULL, argv, environ) != 0 ||
	    waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "tls_certs.sh failed (is the openssl CLI installed?)\n");
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vx_h_rmtree(g_pki);
	return 0;
}

/* ---- a file and a download ------------------------------------------------------------- */

struct src {
	char dir[PATH_MAX];
	char path[PATH_MAX + 32];
	char dst[PATH_MAX + 32];
	struct vx_file_task *seed; /* for the trusted CRCs */
	uint64_t len;
	uint64_t piece;
};

struct dl {
	int done;
	int status;
	uint32_t pieces;
	uint32_t drops;
	enum vx_fetch_drop why[4];
	int err[4];
	/* Added on the first drop, as a scheduler names another parent (optional). */
	struct vx_fetcher *f;
	const struct sockaddr_in *fallback;
	const char *fallback_id;
};

static void src_make(struct src *s, uint64_t len, uint64_t piece)
{
	struct vx_file_task_cfg t = { 0 };

	memset(s, 0, sizeof(*s));
	vx_h_tmpdir(s->dir);
	snprintf(s->path, sizeof(s->path), "%s/src", s->dir);
	snprintf(s->dst, sizeof(s->dst), "%s/dst", s->dir);
	vx_h_write_pattern(s->path, len, 7);
	s->len = len;
	s->piece = piece;
	t.path = s->path;
	t.task_id = VX_H_TASK_ID;
	t.content_length = len;
	t.piece_length = piece;
	t.seed = true;
	assert_int_equal(vx_file_task_open(&s->seed, &t), 0);
}

static void src_free(struct src *s)
{
	vx_file_task_close(s->seed);
	vx_h_rmdir(s->dir);
}

static void on_piece(void *arg, uint32_t n)
{
	(void)n;
	((struct dl *)arg)->pieces++;
}

static void on_dropped(void *arg, uint32_t index, enum vx_fetch_drop why, int err)
{
	struct dl *d = arg;

	if (index < 4) {
		d->why[index] = why;
		d->err[index] = err;
	}
	d->drops++;
	if (d->fallback) {
		assert_true(vx_fetcher_add_parent(d->f, (const struct sockaddr *)d->fallback,
						  sizeof(*d->fallback), d->fallback_id) >= 0);
		d->fallback = NULL;
	}
}

static void on_done(void *arg, int status)
{
	struct dl *d = arg;

	d->done++;
	d->status = status;
}

/* Starts a TLS (or plaintext: @ctx NULL) upload server serving @s. */
static void serve(struct vx_h_server *srv, struct src *s, SSL_CTX *ctx)
{
	struct vx_upload_cfg cfg;

	vx_upload_cfg_init(&cfg);
	((struct sockaddr_in *)&cfg.addr)->sin_port = 0;
	cfg.tls = ctx;
	cfg.header_timeout_ms = 2000;
	vx_h_server_start(srv, s->path, s->len, s->piece, &cfg);
}

/*
 * Downloads @s from the parents (address, expected host id) with @ctx (NULL: plaintext).
 * Returns the final status; @d has the drops.
 */
static int download(struct src *s, SSL_CTX *ctx, const struct sockaddr_in *addrs,
		    const char *const *ids, int nr, struct dl *d, uint64_t *took_ms)
{
	struct vx_file_task_cfg tcfg = { 0 };
	struct vx_file_task *t = NULL;
	struct vx_fetcher *f = NULL;
	struct vx_loop *loop = NULL;
	struct vx_fetcher_cfg cfg;
	uint64_t start = vx_now_ms(), deadline = start + 30000;
	const struct sockaddr_in *fallback = d->fallback;
	const char *fallback_id = d->fallback_id;

	memset(d, 0, sizeof(*d));
	d->fallback = fallback;
	d->fallback_id = fallback_id;
	assert_int_equal(vx_loop_new(&loop, NULL), 0);
	tcfg.path = s->dst;
	tcfg.task_id = VX_H_TASK_ID;
	tcfg.content_length = s->len;
	tcfg.piece_length = s->piece;
	assert_int_equal(vx_file_task_open(&t, &tcfg), 0);
	vx_fetcher_cfg_init(&cfg);
	cfg.task_id = VX_H_TASK_ID;
	cfg.content_length = s->len;
	cfg.piece_length = s->piece;
	cfg.piece_crc32 = vx_file_task_crcs(s->seed);
	cfg.sink = vx_file_task_sink_ops();
	cfg.sink_ctx = t;
	cfg.on_piece = on_piece;
	cfg.on_parent_dropped = on_dropped;
	cfg.on_done = on_done;
	cfg.cb_arg = d;
	cfg.tls = ctx;
	cfg.stall_timeout_ms = 5000;
	assert_int_equal(vx_fetcher_new(&f, loop, &cfg), 0);
	d->f = f;
	for (int i = 0; i < nr; i++)
		assert_int_equal(vx_fetcher_add_parent(f, (const struct sockaddr *)&addrs[i],
						       sizeof(addrs[i]), ids[i]),
				 i);
	while (!d->done && vx_now_ms() < deadline)
		assert_true(vx_loop_run_once(loop, 100) >= 0);
	assert_int_equal(d->done, 1);
	while (!vx_fetcher_idle(f))
		assert_true(vx_loop_run_once(loop, 10) >= 0);
	if (took_ms)
		*took_ms = vx_now_ms() - start;
	vx_fetcher_free(f);
	vx_file_task_close(t);
	vx_loop_free(loop);
	return d->status;
}

/* ---- transfers --------------------------------------------------------------------------- */

static void test_tls__transfers_are_byte_exact_at_piece_boundaries(void **state)
{
	static const uint64_t piece = 1u << 20;
	static const uint64_t sizes[] = {
		1, 4095, piece - 1, piece, piece + 1, 5 * piece + 12345,
	};
	SSL_CTX *sctx = ctx_for("seed", true), *cctx = ctx_for("peer", true);
	const char *ids[] = { SEED_ID };

	(void)state;
	for (size_t i = 0; i < VX_ARRAY_SIZE(sizes); i++) {
		struct vx_h_server srv;
		struct src s;
		struct dl d = { 0 };

		src_make(&s, sizes[i], piece);
		serve(&srv, &s, sctx);
		assert_int_equal(download(&s, cctx, &srv.addr, ids, 1, &d, NULL), 0);
		assert_int_equal(d.drops, 0);
		assert_int_equal(d.pieces, (uint32_t)((sizes[i] + piece - 1) / piece));
		assert_true(vx_h_files_equal(s.path, s.dst));
		vx_h_server_stop(&srv);
		assert_true(srv.stats.tls_handshakes >= 1);
		assert_int_equal(srv.stats.tls_refused, 0);
		assert_true(srv.stats.bytes_sent >= sizes[i]); /* endgame may send one twice */
		src_free(&s);
	}
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

/* ---- a raw TLS client against the upload server ------------------------------------------ */

/*
 * Connects with @ctx (client side), asks for piece 0 and reads. Returns the bytes of the
 * answer's first read (> 0: served), or <= 0 when the server refused us. Every wait is
 * bounded by the socket timeouts (5 s).
 */
/* A DownloadPiece frame for piece @index of the harness's task. */
static void ask_frame(uint8_t frame[74], uint32_t index)
{
	frame[0] = 1;
	frame[1] = 0; /* DownloadPiece */
	frame[2] = 0;
	frame[3] = 0;
	frame[4] = 0;
	frame[5] = 68;
	memcpy(frame + 6, VX_H_TASK_ID, 64);
	frame[70] = (uint8_t)(index >> 24);
	frame[71] = (uint8_t)(index >> 16);
	frame[72] = (uint8_t)(index >> 8);
	frame[73] = (uint8_t)index;
}

static int raw_tls_ask(const struct sockaddr_in *addr, SSL_CTX *ctx)
{
	uint8_t frame[74], buf[256];
	int fd = vx_h_connect(addr), r, tries = 0;
	SSL *ssl = SSL_new(ctx);

	assert_true(fd >= 0);
	assert_non_null(ssl);
	SSL_set_fd(ssl, fd);
	ask_frame(frame, 0);
	/*
	 * A signal (EINTR) shows as WANT_READ on a blocking socket: try again, a few times (the
	 * 5 s receive timeout shows the same way, and must end the wait).
	 */
	do
		r = SSL_connect(ssl);
	while (r <= 0 && SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ && ++tries < 3);
	if (r == 1 && SSL_write(ssl, frame, sizeof(frame)) == (int)sizeof(frame)) {
		do
			r = SSL_read(ssl, buf, sizeof(buf));
		while (r <= 0 && SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ && ++tries < 6);
	} else {
		r = -1;
	}
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	return r;
}

/* Reads exactly @len bytes with SSL_read (0), or fails (-1). */
static int ssl_read_all(SSL *ssl, uint8_t *buf, size_t len)
{
	size_t got = 0;
	int tries = 0;

	while (got < len) {
		int n = SSL_read(ssl, buf + got, (int)VX_MIN(len - got, (size_t)INT_MAX));

		if (n > 0)
			got += (size_t)n;
		else if (SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ || ++tries > 5)
			return -1;
	}
	return 0;
}

/* A client context with @name's certificate, or none (@name NULL); verifies the server. */
static SSL_CTX *client_ctx(const char *name)
{
	char ca[PATH_MAX + 32];
	SSL_CTX *ctx;

	if (name)
		return ctx_for(name, false);
	ctx = SSL_CTX_new(TLS_client_method());
	pki_path(ca, sizeof(ca), "ca.pem");
	assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/*
 * Plain OpenSSL on the other end of the upload server's own record layer (dp_tlsrec.h): a
 * client of the library's, over a real socket, asks for each piece of 1 MiB (Dragonfly's
 * framing: one request a connection) and gets it byte exact, its records opened by OpenSSL;
 * then closes with a close_notify.
 */
static void test_tls__a_plain_openssl_client_reads_pieces_byte_exact(void **state)
{
	const uint64_t piece = 1u << 20;
	SSL_CTX *sctx = ctx_for("seed", true), *cctx = ctx_for("peer", false);
	uint8_t frame[74], hdr[6], meta[4096];
	uint8_t *got = malloc(piece), *want = malloc(piece);
	struct vx_h_server srv;
	struct src s;
	int sfd;

	(void)state;
	assert_true(got && want);
	src_make(&s, 3 * piece, piece);
	serve(&srv, &s, sctx);
	sfd = open(s.path, O_RDONLY | O_CLOEXEC);
	assert_true(sfd >= 0);
	for (uint32_t i = 0; i < 3; i++) {
		int fd = vx_h_connect(&srv.addr);
		SSL *ssl = SSL_new(cctx);
		uint32_t vlen;

		assert_true(fd >= 0 && ssl);
		SSL_set_fd(ssl, fd);
		assert_int_equal(SSL_connect(ssl), 1);
		assert_int_equal(SSL_version(ssl), TLS1_3_VERSION);
		ask_frame(frame, 2 - i);
		assert_int_equal(SSL_write(ssl, frame, sizeof(frame)), (int)sizeof(frame));
		/* PieceContent: the header, the metadata value, then the body outside the TLV. */
		assert_int_equal(ssl_read_all(ssl, hdr, sizeof(hdr)), 0);
		assert_int_equal(hdr[1], 0x01);
		vlen = (uint32_t)hdr[2] << 24 | (uint32_t)hdr[3] << 16 | (uint32_t)hdr[4] << 8 |
		       hdr[5];
		assert_true(vlen <= sizeof(meta));
		assert_int_equal(ssl_read_all(ssl, meta, vlen), 0);
		assert_int_equal(ssl_read_all(ssl, got, piece), 0);
		assert_int_equal(pread(sfd, want, piece, (off_t)((2 - i) * piece)), (ssize_t)piece);
		assert_memory_equal(got, want, piece);
		assert_true(SSL_shutdown(ssl) >= 0);
		SSL_free(ssl);
		close(fd);
	}
	close(sfd);
	vx_h_server_stop(&srv);
	assert_int_equal(srv.stats.requests, 3);
	assert_int_equal(srv.stats.protocol_errors, 0);
	src_free(&s);
	free(got);
	free(want);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void test_tls__server_refuses_clients_without_a_good_certificate(void **state)
{
	static const char *const bad[] = { NULL, "foreign", "expired", "revoked", "noid" };
	SSL_CTX *sctx = ctx_for("seed", true);
	struct vx_h_server srv;
	struct src s;
	SSL_CTX *c;

	(void)state;
	src_make(&s, 3u << 16, 1u << 16);
	serve(&srv, &s, sctx);
	/* The control: a member is served. */
	c = client_ctx("peer");
	assert_true(raw_tls_ask(&srv.addr, c) > 0);
	SSL_CTX_free(c);
	for (size_t i = 0; i < VX_ARRAY_SIZE(bad); i++) {
		uint64_t t0 = vx_now_ms();

		c = client_ctx(bad[i]);
		assert_true(raw_tls_ask(&srv.addr, c) <= 0);
		assert_true(vx_now_ms() - t0 < 4000); /* refused, not timed out */
		SSL_CTX_free(c);
	}
	vx_h_server_stop(&srv);
	assert_int_equal(srv.stats.tls_handshakes, 1);
	assert_int_equal(srv.stats.tls_refused, VX_ARRAY_SIZE(bad));
	assert_int_equal(srv.stats.requests, 1);
	src_free(&s);
	SSL_CTX_free(sctx);
}

/* ---- the fetcher checks its parents ------------------------------------------------------ */

static void test_tls__fetcher_refuses_a_parent_naming_another_host_and_falls_back(void **state)
{
	SSL_CTX *impostor = ctx_for("peer", true), *seed = ctx_for("seed", true);
	SSL_CTX *cctx = ctx_for("peer", true);
	/*
	 * Both are named as the seed; only the second one's certificate says so. The second is
	 * added when the first is dropped, as a scheduler would name another parent.
	 */
	const char *ids[] = { SEED_ID };
	struct vx_h_server a, b;
	struct src s;
	struct dl d = { 0 };

	(void)state;
	src_make(&s, 3u << 20, 1u << 20);
	serve(&a, &s, impostor);
	serve(&b, &s, seed);
	d.fallback = &b.addr;
	d.fallback_id = SEED_ID;
	assert_int_equal(download(&s, cctx, &a.addr, ids, 1, &d, NULL), 0);
	assert_true(vx_h_files_equal(s.path, s.dst));
	assert_int_equal(d.drops, 1);
	assert_int_equal(d.why[0], VX_FETCH_DROP_PROTOCOL);
	assert_int_equal(d.err[0], -EKEYREJECTED);
	vx_h_server_stop(&a);
	vx_h_server_stop(&b);
	assert_int_equal(a.stats.requests, 0); /* nothing was asked of the impostor */
	src_free(&s);
	SSL_CTX_free(impostor);
	SSL_CTX_free(seed);
	SSL_CTX_free(cctx);
}

static void test_tls__fetcher_refuses_a_parent_from_another_ca(void **state)
{
	SSL_CTX *foreign = ctx_for("foreign", false), *cctx = ctx_for("peer", true);
	const char *ids[] = { PEER_ID };
	struct vx_h_server a;
	struct src s;
	struct dl d = { 0 };

	(void)state;
	src_make(&s, 1u << 20, 1u << 20);
	serve(&a, &s, foreign);
	assert_int_equal(download(&s, cctx, &a.addr, ids, 1, &d, NULL), VX_ENOPEERS);
	assert_int_equal(d.why[0], VX_FETCH_DROP_PROTOCOL);
	vx_h_server_stop(&a);
	assert_int_equal(a.stats.requests, 0);
	src_free(&s);
	SSL_CTX_free(foreign);
	SSL_CTX_free(cctx);
}

/* ---- plaintext meets TLS ----------------------------------------------------------------- */

static void test_tls__plaintext_and_tls_fail_fast_either_way(void **state)
{
	SSL_CTX *sctx = ctx_for("seed", true), *cctx = ctx_for("peer", true);
	const char *ids[] = { SEED_ID };
	struct vx_h_server tls_srv, plain_srv;
	uint64_t took;
	struct src s;
	struct dl d = { 0 };
	int fd;

	(void)state;
	src_make(&s, 2u << 20, 1u << 20);
	serve(&tls_srv, &s, sctx);
	serve(&plain_srv, &s, NULL);
	/* A plaintext fetcher at a TLS server. */
	assert_int_equal(download(&s, NULL, &tls_srv.addr, ids, 1, &d, &took), VX_ENOPEERS);
	assert_true(took < 10000);
	/* A Dragonfly-like plaintext client: the connection is closed, no answer. */
	fd = vx_h_connect(&tls_srv.addr);
	assert_true(fd >= 0);
	assert_int_equal(vx_h_send_download(fd, VX_H_TASK_ID, 0), 0);
	{
		struct vx_h_answer ans;

		assert_int_equal(vx_h_read_answer(fd, &ans), -1);
	}
	close(fd);
	/* A TLS fetcher at a plaintext server. */
	assert_int_equal(download(&s, cctx, &plain_srv.addr, ids, 1, &d, &took), VX_ENOPEERS);
	assert_true(took < 10000);
	assert_int_equal(d.why[0], VX_FETCH_DROP_PROTOCOL);
	vx_h_server_stop(&tls_srv);
	vx_h_server_stop(&plain_srv);
	assert_int_equal(tls_srv.stats.requests, 0);
	assert_true(tls_srv.stats.tls_refused >= 2);
	src_free(&s);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

/* ---- garbage records --------------------------------------------------------------------- */

/*
 * Sends @len bytes (then EOF when @eof) and waits, bounded, for the server to close; true
 * when it did. Without EOF a record still incomplete is ended by the handshake timeout.
 */
static bool garbage_closes(const struct sockaddr_in *addr, const uint8_t *g, size_t len, bool eof)
{
	uint8_t buf[4096];
	int fd = vx_h_connect(addr);
	ssize_t n;

	assert_true(fd >= 0);
	(void)vx_h_send_all(fd, g, len);
	if (eof)
		(void)shutdown(fd, SHUT_WR);
	do
		n = recv(fd, buf, sizeof(buf), 0);
	while (n > 0 || (n < 0 && errno == EINTR));
	if (n < 0 && errno != ECONNRESET)
		fprintf(stderr, "garbage: recv: %s\n", strerror(errno));
	close(fd);
	return n == 0 || errno == ECONNRESET; /* not EAGAIN: the 5 s timeout */
}

static void test_tls__garbage_records_close_the_connection(void **state)
{
	SSL_CTX *sctx = ctx_for("seed", true), *cctx = ctx_for("peer", false);
	struct vx_h_server srv;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t g[2048];
	struct src s;

	(void)state;
	src_make(&s, 1u << 16, 1u << 16);
	serve(&srv, &s, sctx);
	for (int round = 0; round < 200; round++) {
		size_t len = 1 + (size_t)(x % sizeof(g));

		for (size_t i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			g[i] = (uint8_t)x;
		}
		if (round % 4 == 1) {
			/* A record header that looks right (handshake, TLS 1.2 legacy version). */
			g[0] = 22;
			g[1] = 3;
			g[2] = 1;
		} else if (round % 4 == 2) {
			g[0] = 23; /* application data before any handshake */
			g[1] = 3;
			g[2] = 3;
		}
		assert_true(garbage_closes(&srv.addr, g, len, round != 1));
	}
	/* After a good handshake: a record of garbage ends the connection too. */
	{
		int fd = vx_h_connect(&srv.addr);
		SSL *ssl = SSL_new(cctx);
		uint8_t rec[64] = { 23, 3, 3, 0, 59 };
		uint8_t buf[64];

		SSL_set_fd(ssl, fd);
		assert_int_equal(SSL_connect(ssl), 1);
		memset(rec + 5, 0xa5, sizeof(rec) - 5);
		assert_int_equal(vx_h_send_all(fd, rec, sizeof(rec)), 0);
		assert_true(SSL_read(ssl, buf, sizeof(buf)) <= 0);
		ERR_clear_error();
		SSL_free(ssl);
		close(fd);
	}
	/* And the server still serves a member. */
	assert_true(raw_tls_ask(&srv.addr, cctx) > 0);
	vx_h_server_stop(&srv);
	assert_int_equal(srv.stats.requests, 1);
	src_free(&s);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls__transfers_are_byte_exact_at_piece_boundaries),
		cmocka_unit_test(test_tls__a_plain_openssl_client_reads_pieces_byte_exact),
		cmocka_unit_test(test_tls__server_refuses_clients_without_a_good_certificate),
		cmocka_unit_test(
			test_tls__fetcher_refuses_a_parent_naming_another_host_and_falls_back),
		cmocka_unit_test(test_tls__fetcher_refuses_a_parent_from_another_ca),
		cmocka_unit_test(test_tls__plaintext_and_tls_fail_fast_either_way),
		cmocka_unit_test(test_tls__garbage_records_close_the_connection),
	};
	char diag[256];

	signal(SIGPIPE, SIG_IGN);
	if (vx_ring_probe(diag, sizeof(diag)) < 0) {
		fprintf(stderr, "skip: %s\n", diag);
		return VX_TEST_SKIP;
	}
	return cmocka_run_group_tests_name("dataplane_tls", tests, setup, teardown);
}
