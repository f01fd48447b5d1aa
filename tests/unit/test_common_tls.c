/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_tls.c: vx_tls.h without sockets. Certificates are made here with OpenSSL's API
 * (a CA, then leaves of the profile of spec/control.md section 10); two sessions are driven by
 * moving bytes between them, one at a time where it matters. Also the identity verdict of every
 * certificate of the fuzz corpus (tests/fuzz/corpus/tls_identity), so the corpus stays honest.
 */
#include "vx_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "vx_log.h"
#include "vx_tls.h"

static char tdir[] = "/tmp/vx-tls-XXXXXX";
static EVP_PKEY *ca_key;
static X509 *ca_cert;

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for @key named @cn with @san (NULL: none), valid from @from_s to @to_s seconds
 * from now, signed by the CA (or self-signed when the CA is not made yet). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *san, long from_s, long to_s)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), rand());
	X509_gmtime_adj(X509_getm_notBefore(x), from_s);
	X509_gmtime_adj(X509_getm_notAfter(x), to_s);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, ca_cert ? X509_get_subject_name(ca_cert) : name);
	X509_NAME_free(name);
	if (!ca_cert) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, ca_cert, NID_ext_key_usage, "serverAuth,clientAuth");
	}
	if (san)
		add_ext(x, ca_cert ? ca_cert : x, NID_subject_alt_name, san);
	assert_true(X509_sign(x, ca_key ? ca_key : key, EVP_sha256()) > 0);
	return x;
}

static void write_pem(const char *name, X509 *x, EVP_PKEY *k, mode_t mode)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", tdir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(x ? PEM_write_X509(f, x)
			   : PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL),
			 1);
	fclose(f);
	assert_int_equal(chmod(p, mode), 0);
}

/* NAME.pem and NAME.key: a leaf of the profile. */
static void leaf(const char *name, const char *cn, const char *san, long from_s, long to_s)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x;
	char f[64];

	assert_non_null(k);
	x = make_cert(k, cn, san, from_s, to_s);
	snprintf(f, sizeof(f), "%s.pem", name);
	write_pem(f, x, NULL, 0644);
	snprintf(f, sizeof(f), "%s.key", name);
	write_pem(f, NULL, k, 0600);
	X509_free(x);
	EVP_PKEY_free(k);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(tdir));
	ca_key = EVP_EC_gen("P-256");
	ca_cert = make_cert(ca_key, "test CA", NULL, 0, 86400);
	write_pem("ca.pem", ca_cert, NULL, 0644);
	leaf("sched", "scheduler", "URI:urn:vx:role:scheduler,IP:127.0.0.1", 0, 86400);
	leaf("peer", "h1-00000000000000a1",
	     "URI:urn:vx:host:h1-00000000000000a1,URI:urn:vx:role:peer,URI:urn:vx:tenant:team-a,"
	     "IP:127.0.0.1",
	     0, 86400);
	leaf("old", "h2", "URI:urn:vx:host:h2,URI:urn:vx:role:peer", -7200, -3600);
	leaf("soon", "h3", "URI:urn:vx:host:h3,URI:urn:vx:role:peer", 0, 3600);
	leaf("week", "h4", "URI:urn:vx:host:h4,URI:urn:vx:role:peer", 0, 6 * 86400);
	leaf("month", "h5", "URI:urn:vx:host:h5,URI:urn:vx:role:peer", 0, 8 * 86400);
	return 0;
}

static int teardown(void **state)
{
	static const char *const names[] = { "ca.pem",	 "sched.pem", "sched.key", "peer.pem",
					     "peer.key", "old.pem",   "old.key",   "soon.pem",
					     "soon.key", "week.pem",  "week.key",  "month.pem",
					     "month.key" };
	char p[256];

	(void)state;
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", tdir, names[i]);
		(void)unlink(p);
	}
	(void)rmdir(tdir);
	return 0;
}

static struct vx_tls_files files(const char *name, char *buf, size_t len)
{
	size_t half = len / 2;

	snprintf(buf, half, "%s/%s.pem", tdir, name);
	snprintf(buf + half, len - half, "%s/%s.key", tdir, name);
	return (struct vx_tls_files){ .cert = buf, .key = buf + half, .ca = NULL };
}

static struct vx_tls_ctx *ctx_of(const char *name, enum vx_tls_side side)
{
	static char bufs[8][600];
	static int next;
	char *b = bufs[next++ % 8], ca[300], err[VX_TLS_ERR_LEN];
	struct vx_tls_files f = files(name, b, 512);
	struct vx_tls_ctx *c = NULL;

	snprintf(ca, sizeof(ca), "%s/ca.pem", tdir);
	f.ca = ca;
	if (vx_tls_ctx_new(&c, side, &f, err, sizeof(err)))
		fail_msg("%s: %s", name, err);
	return c;
}

/* Moves ciphertext from @a to @b, @step bytes per feed. */
static void move(struct vx_tls_sess *a, struct vx_tls_sess *b, size_t step)
{
	size_t len;

	while (vx_tls_sess_out_pending(a)) {
		const uint8_t *p = vx_tls_sess_out_peek(a, &len);
		size_t n = len < step ? len : step;

		assert_int_equal(vx_tls_sess_feed(b, p, n), 0);
		vx_tls_sess_out_consume(a, n);
	}
}

/* Runs the handshake between @c and @s; returns the first final error, 0 when both are ready. */
static int shake(struct vx_tls_sess *c, struct vx_tls_sess *s, size_t step)
{
	for (int i = 0; i < 20; i++) {
		uint8_t b[16];
		ssize_t rc = vx_tls_sess_read(c, b, sizeof(b));

		if (rc != -EAGAIN)
			return (int)rc;
		move(c, s, step);
		rc = vx_tls_sess_read(s, b, sizeof(b));
		move(s, c, step);
		if (rc != -EAGAIN)
			return (int)rc;
		if (vx_tls_sess_ready(c) && vx_tls_sess_ready(s))
			return 0;
	}
	return -ETIMEDOUT;
}

static void test_tls__handshake_identity_and_data(void **state)
{
	struct vx_tls_ctx *sc = ctx_of("sched", VX_TLS_SERVER_OPTIONAL_CERT);
	struct vx_tls_ctx *pc = ctx_of("peer", VX_TLS_CLIENT);
	struct vx_tls_sess *s, *c;
	const struct vx_tls_id *id;
	uint8_t big[40000], got[40000];
	size_t have = 0;

	(void)state;
	assert_int_equal(vx_tls_ctx_self(sc)->role, VX_TLS_ROLE_SCHEDULER);
	assert_string_equal(vx_tls_ctx_self(sc)->host_id, "scheduler");
	assert_int_equal(vx_tls_sess_new(&s, sc, NULL, VX_TLS_ROLE_NONE), 0);
	assert_int_equal(vx_tls_sess_new(&c, pc, "127.0.0.1", VX_TLS_ROLE_SCHEDULER), 0);
	assert_int_equal(vx_tls_sess_write(c, "x", 1), -EAGAIN); /* not before the handshake */
	assert_int_equal(shake(c, s, 1), 0);			 /* one byte at a time */
	id = vx_tls_sess_peer(s);
	assert_non_null(id);
	assert_string_equal(id->host_id, "h1-00000000000000a1");
	assert_int_equal(id->role, VX_TLS_ROLE_PEER);
	assert_string_equal(id->tenant, "team-a");
	assert_int_equal(vx_tls_sess_peer(c)->role, VX_TLS_ROLE_SCHEDULER);

	/* several records in at once, read with a small buffer: in_pending until drained */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(vx_tls_sess_write(c, big, sizeof(big)), (ssize_t)sizeof(big));
	move(c, s, 1u << 20);
	for (;;) {
		ssize_t n = vx_tls_sess_read(s, got + have, 1000);

		if (n == -EAGAIN)
			break;
		assert_true(n > 0);
		have += (size_t)n;
		assert_true(have == sizeof(big) || vx_tls_sess_in_pending(s));
	}
	assert_int_equal(have, sizeof(big));
	assert_memory_equal(got, big, sizeof(big));
	assert_false(vx_tls_sess_in_pending(s));

	vx_tls_sess_shutdown(c);
	move(c, s, 100);
	assert_int_equal(vx_tls_sess_read(s, got, 10), 0); /* close_notify */
	vx_tls_sess_free(s);
	vx_tls_sess_free(c);
	vx_tls_ctx_free(sc);
	vx_tls_ctx_free(pc);
}

static void test_tls__refusals(void **state)
{
	struct vx_tls_ctx *req = ctx_of("peer", VX_TLS_SERVER);
	struct vx_tls_ctx *opt = ctx_of("sched", VX_TLS_SERVER_OPTIONAL_CERT);
	struct vx_tls_ctx *cli = ctx_of("peer", VX_TLS_CLIENT);
	struct vx_tls_sess *s, *c;
	SSL_CTX *bare;
	char ca[300];

	(void)state;
	/* the server's certificate has role peer, the client wants a scheduler */
	assert_int_equal(vx_tls_sess_new(&s, req, NULL, VX_TLS_ROLE_NONE), 0);
	assert_int_equal(vx_tls_sess_new(&c, cli, "127.0.0.1", VX_TLS_ROLE_SCHEDULER), 0);
	assert_int_equal(shake(c, s, 4096), -EACCES);
	assert_non_null(strstr(vx_tls_sess_why(c), "role peer, not scheduler"));
	vx_tls_sess_free(s);
	vx_tls_sess_free(c);

	/* the name dialled is not the server certificate's */
	assert_int_equal(vx_tls_sess_new(&s, opt, NULL, VX_TLS_ROLE_NONE), 0);
	assert_int_equal(vx_tls_sess_new(&c, cli, "10.1.2.3", VX_TLS_ROLE_SCHEDULER), 0);
	assert_int_equal(shake(c, s, 4096), -EACCES);
	vx_tls_sess_free(s);
	vx_tls_sess_free(c);

	/* a vx client context without certificate (a host about to JOIN): through the handshake
	 * of an optional-certificate server, with no identity there */
	{
		struct vx_tls_ctx *nc = NULL;
		struct vx_tls_files nf = { .ca = NULL };
		char err[VX_TLS_ERR_LEN];

		snprintf(ca, sizeof(ca), "%s/ca.pem", tdir);
		nf.ca = ca;
		assert_int_equal(vx_tls_ctx_new(&nc, VX_TLS_SERVER, &nf, err, sizeof(err)),
				 -EINVAL);
		assert_int_equal(vx_tls_ctx_new(&nc, VX_TLS_CLIENT, &nf, err, sizeof(err)), 0);
		assert_int_equal(vx_tls_ctx_self(nc)->role, VX_TLS_ROLE_NONE);
		vx_tls_ctx_tick(nc, "test", time(NULL)); /* nothing to warn about */
		assert_int_equal(vx_tls_sess_new(&s, opt, NULL, VX_TLS_ROLE_NONE), 0);
		assert_int_equal(vx_tls_sess_new(&c, nc, "127.0.0.1", VX_TLS_ROLE_SCHEDULER), 0);
		assert_int_equal(shake(c, s, 4096), 0);
		assert_null(vx_tls_sess_peer(s));
		assert_int_equal(vx_tls_sess_peer(c)->role, VX_TLS_ROLE_SCHEDULER);
		vx_tls_sess_free(s);
		vx_tls_sess_free(c);
		assert_int_equal(vx_tls_sess_new(&s, req, NULL, VX_TLS_ROLE_NONE), 0);
		assert_int_equal(vx_tls_sess_new(&c, nc, "127.0.0.1", VX_TLS_ROLE_NONE), 0);
		assert_int_equal(shake(c, s, 4096), -EACCES); /* a server that requires one */
		vx_tls_sess_free(s);
		vx_tls_sess_free(c);
		vx_tls_ctx_free(nc);
	}

	/* a client without a certificate: refused by a server that requires one (the alert
	 * reaches the client), let through without identity by an optional one */
	snprintf(ca, sizeof(ca), "%s/ca.pem", tdir);
	for (int optional = 0; optional < 2; optional++) {
		SSL *ssl;
		BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
		uint8_t buf[16384];
		int r = 0;

		bare = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_min_proto_version(bare, TLS1_3_VERSION);
		assert_int_equal(SSL_CTX_load_verify_locations(bare, ca, NULL), 1);
		ssl = SSL_new(bare);
		SSL_set_bio(ssl, rb, wb);
		SSL_set_connect_state(ssl);
		assert_int_equal(vx_tls_sess_new(&s, optional ? opt : req, NULL, VX_TLS_ROLE_NONE),
				 0);
		for (int i = 0; i < 10 && r != 1; i++) {
			size_t len;
			int n;

			r = SSL_do_handshake(ssl);
			while ((n = BIO_read(wb, buf, sizeof(buf))) > 0)
				assert_int_equal(vx_tls_sess_feed(s, buf, (size_t)n), 0);
			if (vx_tls_sess_read(s, buf, 16) > 0)
				fail_msg("data before any was sent");
			while (vx_tls_sess_out_pending(s)) {
				const uint8_t *p = vx_tls_sess_out_peek(s, &len);

				BIO_write(rb, p, (int)len);
				vx_tls_sess_out_consume(s, len);
			}
		}
		if (optional) {
			assert_true(vx_tls_sess_ready(s));
			assert_null(vx_tls_sess_peer(s));
		} else {
			assert_false(vx_tls_sess_ready(s));
			assert_int_equal(vx_tls_sess_read(s, buf, 16), -EACCES);
		}
		vx_tls_sess_free(s);
		SSL_free(ssl);
		SSL_CTX_free(bare);
	}
	vx_tls_ctx_free(req);
	vx_tls_ctx_free(opt);
	vx_tls_ctx_free(cli);
}

/* Replaces @to with a copy of @from (a new file renamed over it, as a renewal does). */
static void copy_to(const char *from, const char *to)
{
	char src[300], tmp[300], dst[300], buf[4096];
	FILE *in, *out;
	size_t n;

	snprintf(src, sizeof(src), "%s/%s", tdir, from);
	snprintf(tmp, sizeof(tmp), "%s/%s.new", tdir, to);
	snprintf(dst, sizeof(dst), "%s/%s", tdir, to);
	in = fopen(src, "r");
	out = fopen(tmp, "w");
	assert_non_null(in);
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
	assert_int_equal(chmod(tmp, 0600), 0);
	assert_int_equal(rename(tmp, dst), 0);
}

static void test_tls__files(void **state)
{
	struct vx_tls_ctx *c = NULL;
	struct vx_tls_files f;
	char b[600], ca[300], key[600], err[VX_TLS_ERR_LEN];

	(void)state;
	snprintf(ca, sizeof(ca), "%s/ca.pem", tdir);
	/* a key open to others is refused, naming the fix */
	f = files("peer", b, 512);
	f.ca = ca;
	snprintf(key, sizeof(key), "%s", f.key);
	assert_int_equal(chmod(key, 0640), 0);
	assert_int_equal(vx_tls_ctx_new(&c, VX_TLS_CLIENT, &f, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(chmod(key, 0600), 0);
	/* our own expired certificate is refused */
	f = files("old", b, 512);
	f.ca = ca;
	assert_int_equal(vx_tls_ctx_new(&c, VX_TLS_CLIENT, &f, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "expired"));
	/* a key of another certificate */
	f = files("peer", b, 512);
	f.ca = ca;
	f.key = "/nonexistent/key.pem";
	assert_int_equal(vx_tls_ctx_new(&c, VX_TLS_CLIENT, &f, err, sizeof(err)), -ENOENT);
	/* reload: nothing changed, then a renewed certificate (the other leaf's files) */
	c = ctx_of("soon", VX_TLS_CLIENT);
	assert_int_equal(vx_tls_ctx_reload(c, false, err, sizeof(err)), 0);
	assert_string_equal(vx_tls_ctx_self(c)->host_id, "h3");
	assert_true(vx_tls_ctx_self(c)->not_after - time(NULL) < VX_TLS_EXPIRY_WARN_S);
	vx_tls_ctx_tick(c, "test", time(NULL)); /* warns once (seen in the output) */
	copy_to("peer.pem", "soon.pem");
	copy_to("peer.key", "soon.key");
	assert_int_equal(vx_tls_ctx_reload(c, false, err, sizeof(err)), 1);
	assert_string_equal(vx_tls_ctx_self(c)->host_id, "h1-00000000000000a1");
	vx_tls_ctx_free(c);
}

/* What vx_tls_ctx_tick(@c, "test", @now) logs, into @out. */
static void tick_log(struct vx_tls_ctx *c, time_t now, char *out, size_t cap)
{
	int fds[2];
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	vx_log_set_fd(fds[1]);
	vx_tls_ctx_tick(c, "test", now);
	vx_log_set_fd(2);
	close(fds[1]);
	n = read(fds[0], out, cap - 1);
	close(fds[0]);
	out[n > 0 ? n : 0] = '\0';
}

/*
 * Certificate expiry is warned a week ahead (issue 16, "certificate expiry warned a week
 * ahead"; VX_TLS_EXPIRY_WARN_S): our certificate with 6 days left is warned, naming the file
 * and the hours left, once a day (not on the next tick); one with 8 days left is not.
 */
static void test_tls__expiry_warned_a_week_ahead(void **state)
{
	struct vx_tls_ctx *week = ctx_of("week", VX_TLS_CLIENT);
	struct vx_tls_ctx *month = ctx_of("month", VX_TLS_CLIENT);
	time_t now = time(NULL);
	char out[4096];

	(void)state;
	vx_log_set_level(VX_LOG_INFO);
	tick_log(week, now, out, sizeof(out));
	assert_non_null(strstr(out, "week.pem expires in 14")); /* 143 or 144 hours */
	assert_non_null(strstr(out, "renew it"));
	tick_log(week, now + 60, out, sizeof(out));
	assert_string_equal(out, "");
	tick_log(week, now + 86400 + 60, out, sizeof(out)); /* a day later: again */
	assert_non_null(strstr(out, "week.pem expires in 119 hours"));
	tick_log(month, now, out, sizeof(out));
	assert_string_equal(out, "");
	/* the day it is within the week, it is warned */
	tick_log(month, now + 86400 + 1800, out, sizeof(out));
	assert_non_null(strstr(out, "month.pem expires in 167 hours"));
	vx_tls_ctx_free(week);
	vx_tls_ctx_free(month);
}

/* The verdict on each certificate of the fuzz corpus. */
static void test_tls__corpus_verdicts(void **state)
{
	static const struct {
		const char *file;
		int rc;
		enum vx_tls_role role;
		const char *host, *tenant;
	} cases[] = {
		{ "peer.der", 0, VX_TLS_ROLE_PEER, "h1-0123456789abcdef", "" },
		{ "seed.der", 0, VX_TLS_ROLE_SEED, "s1-0123456789abcdef", "" },
		{ "sched.der", 0, VX_TLS_ROLE_SCHEDULER, "scheduler", "" },
		{ "tenant.der", 0, VX_TLS_ROLE_PEER, "h2-0123456789abcdef", "team-a.prod" },
		{ "tworoles.der", -EINVAL, 0, NULL, NULL },
		{ "norole.der", -EINVAL, 0, NULL, NULL },
		{ "badrole.der", -EINVAL, 0, NULL, NULL },
		{ "cnmismatch.der", -EINVAL, 0, NULL, NULL },
		{ "badtenant.der", -EINVAL, 0, NULL, NULL },
		{ "unknownurn.der", -EINVAL, 0, NULL, NULL },
		{ "nohost.der", -EINVAL, 0, NULL, NULL },
		{ "badhost.der", -EINVAL, 0, NULL, NULL },
		{ "truncated.der", -EINVAL, 0, NULL, NULL },
		{ "garbage", -EINVAL, 0, NULL, NULL },
	};
	const char *src = getenv("VX_SOURCE_DIR");

	(void)state;
	if (!src)
		skip();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char p[512], err[VX_TLS_ERR_LEN];
		uint8_t der[8192];
		struct vx_tls_id id;
		size_t n;
		FILE *f;

		snprintf(p, sizeof(p), "%s/tests/fuzz/corpus/tls_identity/%s", src, cases[i].file);
		f = fopen(p, "rb");
		assert_non_null(f);
		n = fread(der, 1, sizeof(der), f);
		fclose(f);
		if (vx_tls_identity_der(der, n, &id, err, sizeof(err)) != cases[i].rc)
			fail_msg("%s: want %d (%s)", cases[i].file, cases[i].rc, err);
		if (cases[i].rc)
			continue;
		assert_int_equal(id.role, cases[i].role);
		assert_string_equal(id.host_id, cases[i].host);
		assert_string_equal(id.tenant, cases[i].tenant);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls__handshake_identity_and_data),
		cmocka_unit_test(test_tls__refusals),
		cmocka_unit_test(test_tls__files),
		cmocka_unit_test(test_tls__expiry_warned_a_week_ahead),
		cmocka_unit_test(test_tls__corpus_verdicts),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
