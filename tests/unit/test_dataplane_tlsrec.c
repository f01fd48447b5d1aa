/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dataplane_tlsrec.c: the data plane's own TLS 1.3 record layer (dataplane/src/
 * dp_tlsrec.c, and the engine of dp_tls.c that switches to it after OpenSSL's handshake)
 * against plain OpenSSL on the other end, in memory: a mutual handshake with the engine as
 * client and as server, application data both ways (OpenSSL's records opened by ours, ours
 * opened by OpenSSL, padded records, tickets a plain OpenSSL server sends), the close_notify,
 * a KeyUpdate refused; with the secrets OpenSSL logged (known secrets), OpenSSL's records
 * tampered with (tag, header, length, type, order, replay) and refused with nothing handed
 * out; the pure parsers and the record limit of a key.
 */
#include "vx_test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "dp_tls.h"
#include "dp_tlsrec.h"
#include "tls_selfsigned.h"

static SSL_CTX *vx_ctx; /* the engine's */
static X509 *cert;
static EVP_PKEY *key;

/* What the plain OpenSSL side logged: its application traffic secrets. */
static struct {
	uint8_t c[48], s[48];
	size_t len;
} logged;

static void unhex(const char *p, uint8_t *out, size_t *len)
{
	size_t n = 0;

	while (p[0] && p[1] && n < 48) {
		unsigned v;

		assert_int_equal(sscanf(p, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		p += 2;
	}
	*len = n;
}

static void plain_keylog(const SSL *ssl, const char *line)
{
	const char *sp = strchr(line, ' ');

	(void)ssl;
	sp = sp ? strchr(sp + 1, ' ') : NULL;
	if (!sp)
		return;
	if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0)
		unhex(sp + 1, logged.c, &logged.len);
	else if (strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0)
		unhex(sp + 1, logged.s, &logged.len);
}

static SSL_CTX *ctx_new(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert), 1);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
}

static int setup(void **state)
{
	(void)state;
	vx_test_selfsigned("tlsrec", "URI:urn:vx:host:rec-0000000000000001,URI:urn:vx:role:peer",
			   &cert, &key);
	vx_ctx = ctx_new();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	SSL_CTX_free(vx_ctx);
	X509_free(cert);
	EVP_PKEY_free(key);
	return 0;
}

/* A connection: our engine on one end, plain OpenSSL over two memory BIOs on the other. */
struct pair {
	struct vx__tls *t;
	SSL_CTX *octx;
	SSL *o;
	BIO *o_in;  /* what the engine sent, for OpenSSL to read */
	BIO *o_out; /* what OpenSSL sent, for the engine */
};

/* Suites by their TLS ids: what the plain side offers (and so what is negotiated). */
static const struct {
	uint16_t id;
	const char *name;
	size_t secret_len;
} suites[] = {
	{ 0x1301, "TLS_AES_128_GCM_SHA256", 32 },
	{ 0x1302, "TLS_AES_256_GCM_SHA384", 48 },
	{ 0x1303, "TLS_CHACHA20_POLY1305_SHA256", 32 },
};
static unsigned suite; /* the one the next pair negotiates */

static void pair_new(struct pair *p, bool vx_server, int padding)
{
	memset(p, 0, sizeof(*p));
	memset(&logged, 0, sizeof(logged));
	assert_int_equal(vx__tls_new(&p->t, vx_ctx, vx_server, VX__TLS_FX_RX, VX__TLS_FX_TX), 0);
	p->octx = ctx_new();
	SSL_CTX_set_keylog_callback(p->octx, plain_keylog);
	assert_int_equal(SSL_CTX_set_ciphersuites(p->octx, suites[suite].name), 1);
	if (padding)
		assert_int_equal(SSL_CTX_set_block_padding(p->octx, (size_t)padding), 1);
	p->o = SSL_new(p->octx);
	p->o_in = BIO_new(BIO_s_mem());
	p->o_out = BIO_new(BIO_s_mem());
	assert_true(p->o && p->o_in && p->o_out);
	SSL_set_bio(p->o, p->o_in, p->o_out);
	if (vx_server)
		SSL_set_connect_state(p->o);
	else
		SSL_set_accept_state(p->o); /* a plain server: it sends two tickets by default */
}

static void pair_free(struct pair *p)
{
	vx__tls_free(p->t);
	SSL_free(p->o);
	SSL_CTX_free(p->octx);
}

/* Moves the engine's ciphertext to OpenSSL and up to @max bytes of OpenSSL's to the engine. */
static void pump(struct pair *p, size_t max)
{
	uint32_t len, room;
	const uint8_t *d = vx__tls_tx_data(p->t, &len);
	uint8_t *dst;
	int n;

	if (d)
		assert_int_equal(BIO_write(p->o_in, d, (int)len), (int)len);
	vx__tls_tx_consume(p->t, d ? len : 0);
	dst = vx__tls_rx_space(p->t, &room);
	n = BIO_read(p->o_out, dst, (int)(room < max ? room : max));
	vx__tls_rx_commit(p->t, n > 0 ? (uint32_t)n : 0);
}

static void handshake(struct pair *p)
{
	int i, r = 0, o = 0;

	for (i = 0; i < 20 && (r != 1 || o != 1); i++) {
		if (o != 1)
			o = SSL_do_handshake(p->o);
		pump(p, SIZE_MAX);
		if (r != 1)
			r = vx__tls_handshake(p->t);
		assert_true(r >= 0);
		pump(p, SIZE_MAX);
	}
	assert_int_equal(r, 1);
	assert_int_equal(o, 1);
	assert_int_equal(logged.len, suites[suite].secret_len);
	assert_int_equal(SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(p->o)),
			 suites[suite].id);
}

/* Everything OpenSSL has sent and the engine can read, @chunk bytes a read; the count. */
static size_t drain(struct pair *p, uint8_t *out, size_t cap, size_t chunk, ssize_t *last)
{
	size_t got = 0;
	ssize_t n = -EAGAIN;

	for (int spins = 0; spins < 100000; spins++) {
		pump(p, 7000); /* ring receives cut records anywhere */
		n = vx__tls_read(p->t, out + got, VX_MIN(chunk, cap - got));
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n != -EAGAIN || (BIO_pending(p->o_out) == 0 && !vx__tls_rx_buffered(p->t)))
			break;
	}
	*last = n;
	return got;
}

static void both_ways(bool vx_server, int padding, size_t chunk)
{
	size_t len = 300000, got, off;
	uint8_t *a = malloc(len), *b = malloc(len + 64);
	struct pair p;
	ssize_t last;

	assert_true(a && b);
	assert_int_equal(RAND_bytes(a, (int)len), 1);
	pair_new(&p, vx_server, padding);
	handshake(&p);
	/* OpenSSL's records, opened by ours. */
	for (off = 0; off < len; off += 50000)
		assert_int_equal(SSL_write(p.o, a + off, 50000), 50000);
	got = drain(&p, b, len + 64, chunk, &last);
	assert_int_equal(got, len);
	assert_int_equal(last, -EAGAIN);
	assert_memory_equal(a, b, len);
	/* Ours, opened by OpenSSL. */
	off = 0;
	got = 0;
	while (got < len) {
		ssize_t w = off < len ? vx__tls_write(p.t, a + off, len - off) : -EAGAIN;
		int n;

		if (w > 0)
			off += (size_t)w;
		else
			assert_int_equal(w, -EAGAIN);
		pump(&p, SIZE_MAX);
		while ((n = SSL_read(p.o, b + got, (int)(len - got))) > 0)
			got += (size_t)n;
		assert_int_equal(SSL_get_error(p.o, n), SSL_ERROR_WANT_READ);
	}
	assert_memory_equal(a, b, len);
	/* The close_notify: end of stream, then again. */
	assert_true(SSL_shutdown(p.o) >= 0);
	pump(&p, SIZE_MAX);
	assert_int_equal(vx__tls_read(p.t, b, 100), 0);
	assert_int_equal(vx__tls_read(p.t, b, 100), 0);
	pair_free(&p);
	free(a);
	free(b);
}

static void test_client_both_ways(void **state)
{
	(void)state;
	for (suite = 0; suite < 3; suite++)
		both_ways(false, 0, 1 << 20); /* reads into big buffers: opened in the caller's */
	suite = 0;
}

static void test_server_both_ways_padded(void **state)
{
	(void)state;
	for (suite = 0; suite < 3; suite++)
		both_ways(true, 4096, 1 << 20);
	suite = 0;
}

static void test_small_reads(void **state)
{
	(void)state;
	both_ways(true, 0, 100); /* opened in place, handed out in pieces */
	both_ways(false, 1000, 3000);
}

static void test_key_update_ends(void **state)
{
	struct pair p;
	uint8_t b[64];
	ssize_t last;

	(void)state;
	pair_new(&p, true, 0);
	handshake(&p);
	assert_int_equal(SSL_write(p.o, "before", 6), 6);
	assert_int_equal(SSL_key_update(p.o, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
	assert_int_equal(SSL_write(p.o, "after!", 6), 6);
	assert_int_equal(drain(&p, b, sizeof(b), sizeof(b), &last), 6);
	assert_memory_equal(b, "before", 6);
	assert_int_equal(last, -EPROTO);
	assert_int_equal(vx__tls_read(p.t, b, sizeof(b)), -EPROTO);
	assert_int_equal(vx__tls_write(p.t, "x", 1), -EPROTO);
	pair_free(&p);
}

/*
 * A fresh engine with the secrets OpenSSL logged as a server (the engine is its client), fed
 * @rec (@len bytes): the plaintext bytes it hands out (in @out) until a read returns <= 0:
 * that return in @end.
 */
static ssize_t open_known(const uint8_t *rec, size_t len, uint8_t *out, size_t cap, ssize_t *end)
{
	struct vx__tls *t;
	uint32_t room;
	uint8_t *dst;
	ssize_t n, got = 0;

	assert_int_equal(vx__tls_new(&t, vx_ctx, false, VX__TLS_FX_RX, VX__TLS_FX_TX), 0);
	assert_int_equal(vx__tls_use_keys(t, 0x1301, logged.s, logged.c, logged.len), 0);
	dst = vx__tls_rx_space(t, &room);
	assert_true(room >= len);
	memcpy(dst, rec, len);
	vx__tls_rx_commit(t, (uint32_t)len);
	while ((n = vx__tls_read(t, out + got, cap - (size_t)got)) > 0)
		got += n;
	vx__tls_free(t);
	*end = n;
	return got;
}

/* Bytes of a record flipped: where (SIZE_MAX: the last) and how. */
static const struct {
	size_t at;
	uint8_t x;
} flips[] = {
	{ 0, 0x01 },	    /* outer type 23 -> 22 */
	{ 1, 0x01 },	    /* legacy version */
	{ 4, 0x01 },	    /* length one off: the AAD and the tag */
	{ 9, 0x80 },	    /* a ciphertext byte */
	{ SIZE_MAX, 0x01 }, /* the tag's last byte */
};

static void test_known_secrets_and_tampering(void **state)
{
	static const char msg1[] = "first record of application data";
	static const char msg2[] = "second one";
	uint8_t r1[256], r2[256], buf[512], out[512];
	ssize_t end;
	int n1, n2;
	struct pair p;
	uint32_t room;
	struct vx__tls *t;

	(void)state;
	pair_new(&p, false, 0);
	handshake(&p); /* the engine as client: OpenSSL's tickets are still in o_out */
	(void)BIO_reset(p.o_out);
	assert_int_equal(SSL_write(p.o, msg1, sizeof(msg1)), (int)sizeof(msg1));
	n1 = BIO_read(p.o_out, r1, sizeof(r1));
	assert_int_equal(SSL_write(p.o, msg2, sizeof(msg2)), (int)sizeof(msg2));
	n2 = BIO_read(p.o_out, r2, sizeof(r2));
	assert_int_equal(n1, 5 + (int)sizeof(msg1) + 1 + 16);
	assert_int_equal(n2, 5 + (int)sizeof(msg2) + 1 + 16);
	/* Untouched: both, in order. The first record has seq 2 (two tickets before it). */
	memcpy(buf, r1, (size_t)n1);
	memcpy(buf + n1, r2, (size_t)n2);
	/* The engine's own sequence starts at 0: OpenSSL's first two records were tickets. */
	{
		uint8_t all[1024];
		size_t alen = 0, base;
		struct vx__tlsrec_key k;

		assert_int_equal(vx__tlsrec_key_init(&k, 0x1301, logged.s, logged.len, true), 0);
		for (int i = 0; i < 2; i++) {
			int r = vx__tlsrec_seal(&k, all + alen, (const uint8_t *)"\x04\0\0\0", 4,
						VX__TLSREC_HANDSHAKE);

			assert_true(r > 0);
			alen += (size_t)r;
		}
		vx__tlsrec_key_wipe(&k);
		/* Ours sealed with OpenSSL's known secret, then OpenSSL's own two records. */
		memcpy(all + alen, buf, (size_t)(n1 + n2));
		alen += (size_t)(n1 + n2);
		base = alen - (size_t)(n1 + n2);
		assert_int_equal(open_known(all, alen, out, sizeof(out), &end),
				 (ssize_t)(sizeof(msg1) + sizeof(msg2)));
		assert_int_equal(end, -EAGAIN);
		assert_memory_equal(out, msg1, sizeof(msg1));
		assert_memory_equal(out + sizeof(msg1), msg2, sizeof(msg2));

		/* Each tampering of OpenSSL's first record: refused, nothing handed out. */

		for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
			uint8_t bad[1024];
			size_t at = flips[i].at < (size_t)n1 ? flips[i].at : (size_t)n1 - 1;

			memcpy(bad, all, alen);
			bad[base + at] ^= flips[i].x;
			memset(out, 0xaa, sizeof(out));
			assert_int_equal(open_known(bad, alen, out, sizeof(out), &end), 0);
			assert_int_equal(end, -EPROTO);
			/* Not a byte of the refused record's plaintext anywhere. */
			assert_null(memmem(out, sizeof(out), msg1, 8));
		}
		/* Out of order: the second record where the first belongs. */
		{
			uint8_t bad[1024];

			memcpy(bad, all, base);
			memcpy(bad + base, r2, (size_t)n2);
			memcpy(bad + base + n2, r1, (size_t)n1);
			assert_int_equal(open_known(bad, alen, out, sizeof(out), &end), 0);
			assert_int_equal(end, -EPROTO);
			/* Replayed: the first record twice (the second copy is refused). */
			memcpy(bad + base, r1, (size_t)n1);
			memcpy(bad + base + n1, r1, (size_t)n1);
			memset(out, 0, sizeof(out));
			assert_int_equal(
				open_known(bad, base + 2 * (size_t)n1, out, sizeof(out), &end),
				(ssize_t)sizeof(msg1));
			assert_int_equal(end, -EPROTO);
		}
	}
	/* A header announcing a body over 2^14+256: refused on the header alone. */
	assert_int_equal(vx__tls_new(&t, vx_ctx, false, VX__TLS_FX_RX, VX__TLS_FX_TX), 0);
	assert_int_equal(vx__tls_use_keys(t, 0x1301, logged.s, logged.c, logged.len), 0);
	memcpy(vx__tls_rx_space(t, &room), "\x17\x03\x03\x41\x01", 5);
	vx__tls_rx_commit(t, 5);
	assert_int_equal(vx__tls_read(t, out, sizeof(out)), -EPROTO);
	vx__tls_free(t);
	pair_free(&p);
}

/*
 * The engine's key log callback sits on its context: another SSL of that context (the
 * daemon's client context also serves the control channel) handshakes as before, and its
 * app data is none of the engine's business.
 */
static void test_other_ssls_of_the_context(void **state)
{
	uint8_t sentinel[256];
	struct vx__tls *t;
	SSL_CTX *octx = ctx_new();
	SSL *c = SSL_new(vx_ctx), *s = SSL_new(octx);
	BIO *bc = NULL, *bs = NULL;
	int rc = 0, rs = 0;

	(void)state;
	assert_int_equal(vx__tls_new(&t, vx_ctx, false, VX__TLS_FX_RX, VX__TLS_FX_TX), 0);
	assert_true(SSL_CTX_get_keylog_callback(vx_ctx) != NULL);
	assert_true(c && s && BIO_new_bio_pair(&bc, 0, &bs, 0) == 1);
	SSL_set_bio(c, bc, bc);
	SSL_set_bio(s, bs, bs);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	memset(sentinel, 0x5a, sizeof(sentinel));
	SSL_set_app_data(c, sentinel);
	for (int i = 0; i < 20 && (rc != 1 || rs != 1); i++) {
		if (rc != 1)
			rc = SSL_do_handshake(c);
		if (rs != 1)
			rs = SSL_do_handshake(s);
	}
	assert_int_equal(rc, 1);
	assert_int_equal(rs, 1);
	for (size_t i = 0; i < sizeof(sentinel); i++)
		assert_int_equal(sentinel[i], 0x5a);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(octx);
	vx__tls_free(t);
}

static void test_parsers(void **state)
{
	const char *what;
	uint32_t body = 0;
	uint8_t type = 0;
	size_t clen = 0;

	(void)state;
	assert_int_equal(vx__tlsrec_header((const uint8_t *)"\x17\x03\x03\x00", 4, &body), -EAGAIN);
	assert_int_equal(vx__tlsrec_header((const uint8_t *)"\x17\x03\x03\x41\x00", 5, &body), 0);
	assert_int_equal(body, 16384 + 256);
	assert_int_equal(vx__tlsrec_header((const uint8_t *)"\x17\x03\x03\x41\x01", 5, &body),
			 -EPROTO);
	assert_int_equal(vx__tlsrec_header((const uint8_t *)"\x17\x03\x03\x00\x10", 5, &body),
			 -EPROTO); /* a tag and no type */
	assert_int_equal(vx__tlsrec_header((const uint8_t *)"\x15\x03\x03\x00\x20", 5, &body),
			 -EPROTO); /* a plaintext alert after the switch */
	assert_int_equal(vx__tlsrec_header((const uint8_t *)"\x17\x03\x01\x00\x20", 5, &body),
			 -EPROTO);
	assert_int_equal(vx__tlsrec_inner((const uint8_t *)"ab\x17\0\0\0", 6, &type, &clen), 0);
	assert_int_equal(type, 23);
	assert_int_equal(clen, 2);
	assert_int_equal(vx__tlsrec_inner((const uint8_t *)"\0\0\0", 3, &type, &clen), -EPROTO);
	assert_int_equal(
		vx__tlsrec_post_handshake((const uint8_t *)"\x04\0\0\x01x", 5, true, &what), 0);
	assert_int_equal(
		vx__tlsrec_post_handshake((const uint8_t *)"\x04\0\0\x01x", 5, false, &what),
		-EPROTO); /* a ticket to a server */
	assert_int_equal(
		vx__tlsrec_post_handshake((const uint8_t *)"\x18\0\0\x01\0", 5, true, &what),
		-EPROTO); /* KeyUpdate */
	assert_int_equal(
		vx__tlsrec_post_handshake((const uint8_t *)"\x04\0\0\x09x", 5, true, &what),
		-EPROTO); /* split across records */
	assert_int_equal(vx__tlsrec_post_handshake((const uint8_t *)"", 0, true, &what), -EPROTO);
}

static void test_record_limit(void **state)
{
	uint8_t secret[32] = { 1, 2, 3 }, rec[64], out[64];
	struct vx__tlsrec_key w, r;

	(void)state;
	assert_int_equal(vx__tlsrec_key_init(&w, 0x1301, secret, 31, true), -EINVAL);
	assert_int_equal(vx__tlsrec_key_init(&w, 0x1304, secret, 32, true), -EINVAL);
	assert_int_equal(vx__tlsrec_key_init(&w, 0x1301, secret, 32, true), 0);
	assert_int_equal(vx__tlsrec_key_init(&r, 0x1301, secret, 32, false), 0);
	w.seq = r.seq = VX__TLSREC_SEQ_MAX - 1;
	assert_int_equal(vx__tlsrec_seal(&w, rec, (const uint8_t *)"last", 4, VX__TLSREC_APP), 26);
	assert_int_equal(vx__tlsrec_open(&r, rec, 21, out), 0);
	assert_memory_equal(out, "last\x17", 5);
	assert_int_equal(vx__tlsrec_seal(&w, rec, (const uint8_t *)"over", 4, VX__TLSREC_APP),
			 -EPROTO);
	assert_int_equal(vx__tlsrec_open(&r, rec, 21, out), -EPROTO);
	vx__tlsrec_key_wipe(&w);
	vx__tlsrec_key_wipe(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_both_ways),
		cmocka_unit_test(test_server_both_ways_padded),
		cmocka_unit_test(test_small_reads),
		cmocka_unit_test(test_key_update_ends),
		cmocka_unit_test(test_known_secrets_and_tampering),
		cmocka_unit_test(test_other_ssls_of_the_context),
		cmocka_unit_test(test_parsers),
		cmocka_unit_test(test_record_limit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
