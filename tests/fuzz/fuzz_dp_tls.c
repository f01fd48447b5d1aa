/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_dp_tls.c: the data plane's TLS input paths on arbitrary bytes. The first byte picks:
 *   0: the rest is a DER certificate for vx_tls_identity_of() (the cluster's one identity
 *      parser, which the upload server and the fetcher use): an identity it returns is one
 *      host id of the allowed characters and one known role;
 *   1, 2: the rest is what a client (1) or a server (2) sent, fed to a server (client) engine
 *      of dp_tls.h in chunks exactly as the ring delivers them: rx space, commit, handshake,
 *      read. It must never crash, never hand out plaintext before a verified handshake, and
 *      never overrun its buffers (ASan), whatever the records say;
 *   3: the rest is what a peer sent after the handshake, fed to an engine switched to its own
 *      record layer (dp_tlsrec.h) with known secrets: the header checks on raw bytes;
 *   4: the rest describes records (inner type, padding, content, a byte to flip) that are
 *      sealed with the peer's known key and fed in chunks, so the opened records' parsers
 *      (inner type, padding, alerts, post-handshake messages) see what the fuzzer chose.
 *      Plaintext comes out only of records that open, and in order.
 * The engine's context has a throwaway P-256 key and a self-signed certificate with a vx
 * identity, made once in memory (no files).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dp_tls.h"
#include "dp_tlsrec.h"
#include "tls_selfsigned.h"
#include "vx_assert.h"
#include "vx_dp_tls.h"
#include "vx_tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static SSL_CTX *fuzz_ctx(void)
{
	static SSL_CTX *ctx;
	EVP_PKEY *key;
	X509 *x;

	if (ctx)
		return ctx;
	vx_test_selfsigned("fuzz", "URI:urn:vx:host:fuzz-0000000000000001,URI:urn:vx:role:peer", &x,
			   &key);
	ctx = SSL_CTX_new(TLS_method());
	VX_ASSERT(ctx && SSL_CTX_use_certificate(ctx, x) == 1 &&
		  SSL_CTX_use_PrivateKey(ctx, key) == 1);
	VX_ASSERT(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), x) == 1);
	X509_free(x);
	EVP_PKEY_free(key);
	return ctx;
}

static void fuzz_identity(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	X509 *x = d2i_X509(NULL, &p, (long)size);
	struct vx_tls_id peer;
	char why[VX_TLS_ERR_LEN];

	if (!x)
		return;
	if (vx_tls_identity_of(x, &peer, why, sizeof(why)) == 0) {
		size_t n = strlen(peer.host_id);

		VX_ASSERT(n > 0 && n <= VX_TLS_HOST_ID_MAX);
		VX_ASSERT(strspn(peer.host_id,
				 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "0123456789._-") == n);
		VX_ASSERT(peer.role == VX_TLS_ROLE_PEER || peer.role == VX_TLS_ROLE_SEED ||
			  peer.role == VX_TLS_ROLE_SCHEDULER);
	}
	X509_free(x);
}

static void fuzz_engine(const uint8_t *data, size_t size, bool server)
{
	struct vx__tls *t = NULL;
	uint8_t plain[4096];
	size_t off = 0;

	VX_ASSERT(vx__tls_new(&t, fuzz_ctx(), server, VX__TLS_RECORD, VX__TLS_RECORD) == 0);
	while (off < size) {
		uint32_t room, n, len;
		const uint8_t *out;
		uint8_t *dst = vx__tls_rx_space(t, &room);
		int r;

		/* Chunks of 1 to 1,024 bytes, sized by the input itself. */
		n = 1u + (uint32_t)(data[off] % 1024u);
		n = n < room ? n : room;
		n = n < size - off ? n : (uint32_t)(size - off);
		memcpy(dst, data + off, n);
		vx__tls_rx_commit(t, n);
		off += n;
		out = vx__tls_tx_data(t, &len); /* what it would send: dropped */
		vx__tls_tx_consume(t, out ? len : 0);
		r = vx__tls_handshake(t);
		if (r < 0)
			break;
		if (r == 0) {
			VX_ASSERT(!vx__tls_done(t));
			continue;
		}
		/* Only a peer that passed verification gets here: the fuzzer cannot sign. */
		while (vx__tls_read(t, plain, sizeof(plain)) > 0)
			;
	}
	vx__tls_free(t);
}

static const uint8_t fuzz_secret_rx[32] = { 0x11, 0x22, 0x33 };
static const uint8_t fuzz_secret_tx[32] = { 0x44, 0x55, 0x66 };

/* Feeds @wire to a switched engine in chunks, reading between them with small buffers. */
static void fuzz_records(const uint8_t *wire, size_t size, const uint8_t *plain, size_t plain_len,
			 bool client)
{
	struct vx__tls *t = NULL;
	uint8_t out[20000];
	size_t off = 0, got = 0;
	ssize_t r = 0;

	VX_ASSERT(vx__tls_new(&t, fuzz_ctx(), !client, VX__TLS_FX_RX, VX__TLS_RECORD) == 0);
	VX_ASSERT(vx__tls_use_keys(t, 0x1301, fuzz_secret_rx, fuzz_secret_tx, 32) == 0);
	while (off < size) {
		uint32_t room, n;
		uint8_t *dst = vx__tls_rx_space(t, &room);

		n = 1u + (uint32_t)(wire[off] * 97u % 20000u);
		n = n < room ? n : room;
		n = n < size - off ? n : (uint32_t)(size - off);
		memcpy(dst, wire + off, n);
		vx__tls_rx_commit(t, n);
		off += n;
		do {
			r = vx__tls_read(t, out, 1u + (wire[off - 1] % 2u ? 16383u : 99u));
			/* Only sealed application data comes out, in order: nothing forged. */
			VX_ASSERT(r <= 0 || (plain && got + (size_t)r <= plain_len &&
					     memcmp(out, plain + got, (size_t)r) == 0));
			got += r > 0 ? (size_t)r : 0;
		} while (r > 0);
		if (r != -EAGAIN)
			break;
	}
	vx__tls_free(t);
}

/*
 * Records the input describes (4 bytes each: inner type, padding, length / 67, a byte to flip
 * when its top bit is set; then content), sealed with the key the engine opens with, then fed.
 * The records end after the first that is not clean application data (its inner plaintext
 * says another type, or a byte was flipped): every byte handed out must be the content sealed
 * before it.
 */
static void fuzz_sealed(const uint8_t *data, size_t size)
{
	static uint8_t wire[1 << 17], plain[1 << 17], inner[VX__TLSREC_MAX_PLAIN + 1];
	struct vx__tlsrec_key k;
	size_t off, wlen = 0, plen = 0;

	VX_ASSERT(vx__tlsrec_key_init(&k, 0x1301, fuzz_secret_rx, 32, true) == 0);
	for (off = 1; off + 4 <= size;) {
		uint8_t type = data[off], flip = data[off + 3];
		size_t len = (size_t)data[off + 2] * 67u % (VX__TLSREC_MAX_PLAIN + 1u);
		size_t pad = VX_MIN((size_t)data[off + 1], VX__TLSREC_MAX_PLAIN - len);
		size_t have = VX_MIN(size - off - 4, len);
		int n;

		off += 4;
		if (wlen + len + pad + VX__TLSREC_OVERHEAD > sizeof(wire))
			break;
		/* Content: the input's bytes, repeated to the length asked. */
		for (size_t i = 0; i < len; i++)
			inner[i] = have ? data[off + i % have] : (uint8_t)i;
		off += have;
		/* The inner plaintext: content, type, zeros; its last byte goes in as the type. */
		inner[len] = type;
		memset(inner + len + 1, 0, pad);
		n = vx__tlsrec_seal(&k, wire + wlen, inner, len + pad, inner[len + pad]);
		VX_ASSERT(n > 0);
		if (flip & 0x80)
			wire[wlen + (flip & 0x7fu) % (size_t)n] ^= 1;
		wlen += (size_t)n;
		/* What RFC 8446 5.4 makes of it: the last non-zero byte is the type. */
		for (n = (int)(len + 1 + pad); n > 0 && inner[n - 1] == 0; n--)
			;
		if ((flip & 0x80) || n == 0 || inner[n - 1] != VX__TLSREC_APP)
			break;
		memcpy(plain + plen, inner, (size_t)n - 1);
		plen += (size_t)n - 1;
	}
	vx__tlsrec_key_wipe(&k);
	fuzz_records(wire, wlen, plain, plen, size > 0 && data[0] & 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		fuzz_identity(data + 1, size - 1);
		break;
	case 3:
		fuzz_records(data + 1, size - 1, NULL, 0, data[0] & 8);
		break;
	case 4:
		fuzz_sealed(data + 1, size - 1);
		break;
	default:
		fuzz_engine(data + 1, size - 1, data[0] % 5 == 1);
		break;
	}
	return 0;
}
