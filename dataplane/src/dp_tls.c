/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dp_tls.c: the data plane's TLS engine (dp_tls.h) and the certificate helpers of
 * vx_dp_tls.h. OpenSSL does the handshake through a BIO of ours (reads come from the receive
 * buffer the ring fills, writes go to the send buffer the ring drains). Once it is done the
 * engine takes the application traffic secrets (OpenSSL's key log callback: OpenSSL 3.0 has no
 * other way to them) and does the records itself (dp_tlsrec.h): sealed from the caller's bytes
 * straight into the send buffer, opened from the receive buffer straight into the caller's,
 * so no byte is copied in user space besides what AES-GCM reads and writes.
 */
#include "dp_tls.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dp_tlsrec.h"
#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_hex.h"
#include "vx_log.h"
#include "vx_metrics.h"

struct vx__tls {
	SSL *ssl;
	bool server;
	bool done;
	bool rx_lent;	    /* the kernel may be writing at rx + rx_off + rx_len */
	bool tx_lent;	    /* the kernel may be reading tx + tx_off */
	int peer_err;	    /* 0, or -EPERM: the verified certificate names no vx identity */
	int rec_err;	    /* after the switch: 0, or what every read and write returns now */
	bool eof;	    /* the peer's close_notify was read */
	uint8_t secret_got; /* bit 0: the client's traffic secret logged, bit 1: the server's */
	uint8_t secret_len;
	uint8_t secret[2][VX__TLSREC_SECRET_MAX]; /* client's, server's: wiped at the switch */
	struct vx__tlsrec_key rk;		  /* the peer's records (after the switch) */
	struct vx__tlsrec_key wk;		  /* ours */
	uint32_t pt_off; /* a record opened in place that the reader has not taken all of */
	uint32_t pt_len;
	struct vx_tls_id peer;
	uint32_t rx_off;
	uint32_t rx_len;
	uint32_t tx_off;
	uint32_t tx_len;
	uint32_t rx_cap;
	uint32_t tx_cap;
	uint8_t *rx; /* rx_cap bytes, then tx: tx_cap bytes, allocated with the struct */
	uint8_t *tx;
};

/* ---- the BIO over our two buffers ------------------------------------------------------- */

static BIO_METHOD *tls_bio_method;
static pthread_once_t tls_bio_once = PTHREAD_ONCE_INIT;
/* Our SSL ex_data slot: the engine of an SSL (NULL for any other user of the same context). */
static int tls_ex_index = -1;

static int tls_bio_write(BIO *b, const char *data, size_t len, size_t *written)
{
	struct vx__tls *t = BIO_get_data(b);
	size_t room;

	BIO_clear_retry_flags(b);
	if (!t->tx_lent && t->tx_off > 0) {
		memmove(t->tx, t->tx + t->tx_off, t->tx_len);
		t->tx_off = 0;
	}
	room = t->tx_cap - t->tx_off - t->tx_len;
	if (room == 0) {
		BIO_set_retry_write(b);
		return 0;
	}
	len = len < room ? len : room;
	memcpy(t->tx + t->tx_off + t->tx_len, data, len);
	t->tx_len += (uint32_t)len;
	*written = len;
	return 1;
}

static int tls_bio_read(BIO *b, char *data, size_t len, size_t *readbytes)
{
	struct vx__tls *t = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (t->rx_len == 0) {
		BIO_set_retry_read(b);
		return 0;
	}
	len = len < t->rx_len ? len : t->rx_len;
	memcpy(data, t->rx + t->rx_off, len);
	t->rx_off += (uint32_t)len;
	t->rx_len -= (uint32_t)len;
	if (t->rx_len == 0 && !t->rx_lent)
		t->rx_off = 0;
	*readbytes = len;
	return 1;
}

static long tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct vx__tls *t = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return t ? (long)t->rx_len : 0;
	case BIO_CTRL_WPENDING:
		return t ? (long)t->tx_len : 0;
	default:
		return 0;
	}
}

static int tls_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void tls_bio_init_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "vx-dataplane");

	if (m &&
	    (!BIO_meth_set_write_ex(m, tls_bio_write) || !BIO_meth_set_read_ex(m, tls_bio_read) ||
	     !BIO_meth_set_ctrl(m, tls_bio_ctrl) || !BIO_meth_set_create(m, tls_bio_create))) {
		BIO_meth_free(m);
		m = NULL;
	}
	tls_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (tls_ex_index < 0) {
		BIO_meth_free(m);
		m = NULL;
	}
	tls_bio_method = m;
}

/* ---- errors ----------------------------------------------------------------------------- */

/* Logs (debug) and clears OpenSSL's error queue of this thread. */
static void tls_log_errors(const char *what)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		vx_debug("tls: %s: %s", what, buf);
	}
}

/* Maps a failed SSL_* call to a return: -EAGAIN (wait for bytes) or -EPROTO. */
static int tls_fail(struct vx__tls *t, int r, const char *what)
{
	int e = SSL_get_error(t->ssl, r);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -EAGAIN;
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	tls_log_errors(what);
	return -EPROTO;
}

/* ---- the traffic secrets ---------------------------------------------------------------- */

/*
 * OpenSSL's key log line "CLIENT_TRAFFIC_SECRET_0 <client random> <secret>" (or SERVER_):
 * the application traffic secrets, kept until the switch and never logged.
 */
static void tls_keylog(const SSL *ssl, const char *line)
{
	static const char *const names[2] = { "CLIENT_TRAFFIC_SECRET_0 ",
					      "SERVER_TRAFFIC_SECRET_0 " };
	struct vx__tls *t = tls_ex_index >= 0 ? SSL_get_ex_data(ssl, tls_ex_index) : NULL;
	const char *p;
	size_t n = 0;
	int i;

	if (!t)
		return;
	for (i = 0; i < 2; i++)
		if (strncmp(line, names[i], strlen(names[i])) == 0)
			break;
	p = i < 2 ? strchr(line + strlen(names[i]), ' ') : NULL;
	n = p ? strlen(p + 1) : 0; /* hex digits */
	if ((n != 64 && n != 96) || (t->secret_len && t->secret_len != n / 2) ||
	    vx_hex_decode(p + 1, n, t->secret[i], n / 2)) {
		OPENSSL_cleanse(t->secret[i], sizeof(t->secret[i]));
		return; /* not a line we understand: the switch fails and says so */
	}
	t->secret_len = (uint8_t)(n / 2);
	t->secret_got |= (uint8_t)(1u << i);
}

/* The end of a record connection: every read and write returns @err from now on. */
static void tls_rec_fail(struct vx__tls *t, int err, const char *what)
{
	if (!t->rec_err)
		vx_info("tls: %s: the connection ends", what);
	t->rec_err = err;
}

int vx__tls_use_keys(struct vx__tls *t, uint16_t suite, const uint8_t *rx_secret,
		     const uint8_t *tx_secret, size_t secret_len)
{
	int r = vx__tlsrec_key_init(&t->rk, suite, rx_secret, secret_len, false);

	if (r == 0)
		r = vx__tlsrec_key_init(&t->wk, suite, tx_secret, secret_len, true);
	if (r) {
		vx__tlsrec_key_wipe(&t->rk);
		return r;
	}
	t->done = true;
	return 0;
}

/* After OpenSSL's handshake: the records are ours from here on. */
static int tls_switch(struct vx__tls *t)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
	int r = -EPROTO;

	if (t->secret_got != 3 || !c)
		vx_debug("tls: no application traffic secrets from OpenSSL");
	else if (SSL_has_pending(t->ssl))
		vx_debug("tls: OpenSSL holds bytes past the handshake");
	else
		r = vx__tls_use_keys(t, SSL_CIPHER_get_protocol_id(c), t->secret[t->server ? 0 : 1],
				     t->secret[t->server ? 1 : 0], t->secret_len);
	OPENSSL_cleanse(t->secret, sizeof(t->secret));
	t->secret_got = 0;
	return r;
}

/* ---- the engine ------------------------------------------------------------------------- */

int vx__tls_new(struct vx__tls **out, SSL_CTX *ctx, bool server, uint32_t rx_cap, uint32_t tx_cap)
{
	struct vx__tls *t;
	BIO *bio;

	*out = NULL;
	if (!ctx || rx_cap < VX__TLS_RECORD || tx_cap < VX__TLS_RECORD)
		return -EINVAL;
	if (pthread_once(&tls_bio_once, tls_bio_init_method) != 0 || !tls_bio_method)
		return -ENOMEM;
	t = vx_malloc(sizeof(*t) + (size_t)rx_cap + tx_cap);
	if (!t)
		return -ENOMEM;
	memset(t, 0, sizeof(*t));
	t->rx_cap = rx_cap;
	t->tx_cap = tx_cap;
	t->rx = (uint8_t *)(t + 1);
	t->tx = t->rx + rx_cap;
	t->server = server;
	t->ssl = SSL_new(ctx);
	bio = BIO_new(tls_bio_method);
	if (!t->ssl || !bio) {
		BIO_free(bio);
		SSL_free(t->ssl);
		vx_free(t);
		ERR_clear_error();
		return -ENOMEM;
	}
	BIO_set_data(bio, t);
	SSL_set_bio(t->ssl, bio, bio);
	/*
	 * The secrets come through the context's key log callback: set once per context (the
	 * same value every time); SSLs of the context that are not ours have no engine and are
	 * ignored.
	 */
	if (!SSL_set_ex_data(t->ssl, tls_ex_index, t)) {
		SSL_free(t->ssl);
		vx_free(t);
		ERR_clear_error();
		return -ENOMEM;
	}
	if (SSL_CTX_get_keylog_callback(ctx) != tls_keylog)
		SSL_CTX_set_keylog_callback(ctx, tls_keylog);
	/* Held to the cluster's rules whatever the context says. */
	SSL_set_min_proto_version(t->ssl, TLS1_3_VERSION);
	SSL_set_verify(t->ssl, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
		       SSL_get_verify_callback(t->ssl));
	SSL_set_mode(t->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				     SSL_MODE_RELEASE_BUFFERS);
	/* No tickets, no resumption: nothing after the handshake but application data. */
	SSL_set_options(t->ssl, SSL_OP_NO_TICKET);
	SSL_set_num_tickets(t->ssl, 0);
	if (server) {
		SSL_set_accept_state(t->ssl);
	} else {
		SSL_set_connect_state(t->ssl);
	}
	*out = t;
	return 0;
}

void vx__tls_free(struct vx__tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl); /* frees the BIO */
	vx__tlsrec_key_wipe(&t->rk);
	vx__tlsrec_key_wipe(&t->wk);
	OPENSSL_cleanse(t->secret, sizeof(t->secret));
	vx_free(t);
}

/*
 * How far a receive moves the bytes kept (the ciphertext not read yet, and before it a record
 * opened in place) to the front of the buffer. Nothing kept: all the way (free). Enough room
 * behind them (a quarter of the buffer, and a record): not at all. Else the part of a record
 * a receive ended with (two records at most) is moved, but never many records not read yet:
 * the receive takes the room behind them, or waits until they are read (unless @must: a
 * receive asked with a full buffer, which the owners never do).
 */
static uint32_t tls_rx_shift(const struct vx__tls *t, bool must)
{
	uint32_t base = t->pt_len > 0 ? t->pt_off : t->rx_off;
	uint32_t kept = t->rx_off + t->rx_len - base;
	uint32_t tail = t->rx_cap - t->rx_off - t->rx_len;

	if (kept == 0)
		return base;
	if (tail >= VX_MAX(t->rx_cap / 4, VX__TLS_RECORD))
		return 0;
	if (kept <= 2 * VX__TLS_RECORD)
		return base;
	return must && tail == 0 ? base : 0;
}

uint8_t *vx__tls_rx_space(struct vx__tls *t, uint32_t *room)
{
	uint32_t base = tls_rx_shift(t, true);

	VX_ASSERT(!t->rx_lent);
	if (base > 0) {
		memmove(t->rx, t->rx + base, t->rx_off + t->rx_len - base);
		t->pt_off -= t->pt_len > 0 ? base : 0;
		t->rx_off -= base;
	}
	*room = t->rx_cap - t->rx_off - t->rx_len;
	t->rx_lent = *room > 0;
	return t->rx + t->rx_off + t->rx_len;
}

void vx__tls_rx_commit(struct vx__tls *t, uint32_t n)
{
	VX_ASSERT(t->rx_off + t->rx_len + n <= t->rx_cap);
	t->rx_lent = false;
	t->rx_len += n;
}

uint32_t vx__tls_rx_room(const struct vx__tls *t)
{
	return t->rx_lent ? 0 : t->rx_cap - (t->rx_off + t->rx_len - tls_rx_shift(t, false));
}

const uint8_t *vx__tls_rx_data(const struct vx__tls *t, uint32_t *len)
{
	*len = t->rx_len;
	return t->rx + t->rx_off;
}

bool vx__tls_rx_buffered(const struct vx__tls *t)
{
	return t->rx_len > 0 || t->pt_len > 0;
}

const uint8_t *vx__tls_tx_data(struct vx__tls *t, uint32_t *len)
{
	VX_ASSERT(!t->tx_lent);
	*len = t->tx_len;
	if (t->tx_len == 0)
		return NULL;
	t->tx_lent = true;
	return t->tx + t->tx_off;
}

void vx__tls_tx_consume(struct vx__tls *t, uint32_t n)
{
	VX_ASSERT(n <= t->tx_len);
	t->tx_lent = false;
	t->tx_off += n;
	t->tx_len -= n;
	if (t->tx_len == 0)
		t->tx_off = 0;
}

bool vx__tls_tx_room(const struct vx__tls *t)
{
	return t->tx_cap - t->tx_len - (t->tx_lent ? t->tx_off : 0) >= 16384u + 256u;
}

int vx__tls_handshake(struct vx__tls *t)
{
	const X509 *cert;
	long v;
	int r;

	if (t->done)
		return 1;
	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	if (r != 1) {
		r = tls_fail(t, r, "handshake");
		if (r == -EAGAIN)
			return 0;
		vx_metric_inc(&vx_m_tls_handshakes, VX_M_TLS_REFUSED);
		v = SSL_get_verify_result(t->ssl);
		if (v != X509_V_OK) {
			vx_debug("tls: peer certificate refused: %s",
				 X509_verify_cert_error_string(v));
			return -EKEYREJECTED;
		}
		return -EPROTO;
	}
	cert = SSL_get0_peer_certificate(t->ssl);
	if (!cert || SSL_get_verify_result(t->ssl) != X509_V_OK) {
		vx_metric_inc(&vx_m_tls_handshakes, VX_M_TLS_REFUSED);
		return -EKEYREJECTED; /* cannot happen with SSL_VERIFY_PEER: belt and braces */
	}
	{
		char why[VX_TLS_ERR_LEN];

		t->peer_err =
			vx_tls_identity_of((X509 *)(uintptr_t)cert, &t->peer, why, sizeof(why))
				? -EPERM
				: 0;
		if (t->peer_err)
			vx_debug("tls: peer certificate is not a vx identity: %s", why);
		vx_metric_inc(&vx_m_tls_handshakes, t->peer_err ? VX_M_TLS_REFUSED : VX_M_TLS_OK);
	}
	return tls_switch(t) ? -EPROTO : 1;
}

bool vx__tls_done(const struct vx__tls *t)
{
	return t->done;
}

int vx__tls_recheck(const struct vx__tls *t, struct ssl_ctx_st *ctx)
{
	return t->done ? vx_tls_peer_recheck(t->ssl, ctx) : 0;
}

int vx__tls_peer(const struct vx__tls *t, const struct vx_tls_id **out)
{
	*out = &t->peer;
	return t->done ? t->peer_err : -EAGAIN;
}

/* One record at rx_off opened, to @dst when it fits (@room), else in place and held. */
static size_t tls_read_record(struct vx__tls *t, uint8_t *dst, size_t room)
{
	uint8_t *rec = t->rx + t->rx_off;
	uint32_t body;
	bool direct;
	const char *what;
	uint8_t *out, type;
	size_t len;
	int r = vx__tlsrec_header(rec, t->rx_len, &body);

	if (r == -EAGAIN || (r == 0 && t->rx_len < VX__TLSREC_HDR + body))
		return 0;
	if (r) {
		tls_rec_fail(t, -EPROTO, "a record header that is no TLS 1.3 application data");
		return 0;
	}
	direct = room >= body - VX__TLSREC_TAG;
	out = direct ? dst : rec + VX__TLSREC_HDR;
	r = vx__tlsrec_open(&t->rk, rec, body, out);
	t->rx_off += VX__TLSREC_HDR + body;
	t->rx_len -= VX__TLSREC_HDR + body;
	if (r) {
		tls_rec_fail(t, -EPROTO,
			     r == -EBADMSG ? "a record that fails authentication"
					   : "the record limit of the peer's key");
		return 0;
	}
	if (vx__tlsrec_inner(out, body - VX__TLSREC_TAG, &type, &len)) {
		tls_rec_fail(t, -EPROTO, "a record with no content type");
		return 0;
	}
	switch (type) {
	case VX__TLSREC_APP:
		if (direct)
			return len;
		t->pt_off = (uint32_t)(out - t->rx);
		t->pt_len = (uint32_t)len;
		return 0;
	case VX__TLSREC_ALERT:
		if (len == 2 && out[1] == 0)
			t->eof = true; /* close_notify */
		else
			tls_rec_fail(t, -EPROTO,
				     len == 2 ? "an alert from the peer" : "a bad alert");
		if (len == 2 && out[1] != 0)
			vx_debug("tls: the peer's alert: %u", out[1]);
		return 0;
	case VX__TLSREC_HANDSHAKE:
		if (vx__tlsrec_post_handshake(out, len, !t->server, &what))
			tls_rec_fail(t, -EPROTO, what);
		return 0;
	default:
		tls_rec_fail(t, -EPROTO, "a record of an unknown content type");
		return 0;
	}
}

ssize_t vx__tls_read(struct vx__tls *t, void *buf, size_t len)
{
	uint8_t *dst = buf;
	size_t got = 0;

	VX_ASSERT(t->done);
	while (got < len) {
		if (t->pt_len > 0) {
			size_t n = VX_MIN((size_t)t->pt_len, len - got);

			memcpy(dst + got, t->rx + t->pt_off, n);
			t->pt_off += (uint32_t)n;
			t->pt_len -= (uint32_t)n;
			got += n;
			continue;
		}
		if (t->rec_err || t->eof || t->rx_len < VX__TLSREC_HDR)
			break;
		{
			uint32_t before = t->rx_len;

			got += tls_read_record(t, dst + got, len - got);
			if (t->rx_len == before)
				break; /* a record not all here yet */
		}
	}
	if (t->rx_len == 0 && t->pt_len == 0 && !t->rx_lent)
		t->rx_off = 0;
	if (got > 0)
		return (ssize_t)got;
	return t->rec_err ? t->rec_err : t->eof ? 0 : -EAGAIN;
}

ssize_t vx__tls_write(struct vx__tls *t, const void *buf, size_t len)
{
	const uint8_t *src = buf;
	size_t taken = 0;

	VX_ASSERT(t->done);
	if (t->rec_err)
		return t->rec_err;
	if (!t->tx_lent && t->tx_off > 0) {
		memmove(t->tx, t->tx + t->tx_off, t->tx_len);
		t->tx_off = 0;
	}
	/* Whole records only, each straight from @buf: a record never waits half-written. */
	while (taken < len) {
		size_t room = t->tx_cap - t->tx_off - t->tx_len;
		size_t n = VX_MIN(len - taken, (size_t)VX__TLSREC_MAX_PLAIN);
		int r;

		if (room < n + VX__TLSREC_OVERHEAD) {
			if (room < 1024u + VX__TLSREC_OVERHEAD)
				break;
			n = room - VX__TLSREC_OVERHEAD;
		}
		r = vx__tlsrec_seal(&t->wk, t->tx + t->tx_off + t->tx_len, src + taken, n,
				    VX__TLSREC_APP);
		if (r < 0) {
			tls_rec_fail(t, -EPROTO, "the record limit of our key");
			break;
		}
		t->tx_len += (uint32_t)r;
		taken += n;
	}
	if (taken > 0)
		return (ssize_t)taken;
	return t->rec_err ? t->rec_err : -EAGAIN;
}

/* ---- certificates ----------------------------------------------------------------------- */

SSL_CTX *vx_dp_tls_ctx_from_files(const char *cert_pem, const char *key_pem, const char *ca_pem,
				  const char *crl_pem)
{
	X509_CRL *crl = NULL;
	SSL_CTX *ctx;
	BIO *b = NULL;

	ERR_clear_error(); /* the chain loader reads the queue to find the end of the file */
	ctx = SSL_CTX_new(TLS_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_use_certificate_chain_file(ctx, cert_pem) ||
	    !SSL_CTX_use_PrivateKey_file(ctx, key_pem, SSL_FILETYPE_PEM) ||
	    !SSL_CTX_check_private_key(ctx) || !SSL_CTX_load_verify_locations(ctx, ca_pem, NULL))
		goto fail;
	if (crl_pem) {
		b = BIO_new_file(crl_pem, "r");
		crl = b ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;
		if (!crl || !X509_STORE_add_crl(SSL_CTX_get_cert_store(ctx), crl))
			goto fail;
		X509_STORE_set_flags(SSL_CTX_get_cert_store(ctx),
				     X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
		X509_CRL_free(crl);
		BIO_free(b);
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	/* AES-128-GCM first: 10 AES rounds a block where AES-256 takes 14. */
	if (!SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
					   "TLS_CHACHA20_POLY1305_SHA256"))
		goto fail;
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
fail:
	tls_log_errors("loading certificates");
	vx_warn("tls: cannot load cert %s, key %s, CA %s%s%s", cert_pem, key_pem, ca_pem,
		crl_pem ? ", CRL " : "", crl_pem ? crl_pem : "");
	X509_CRL_free(crl);
	BIO_free(b);
	SSL_CTX_free(ctx);
	return NULL;
}
