/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_dp_tls.c: the data plane's TLS input paths on arbitrary bytes. The first byte picks:
 *   0: the rest is a DER certificate for vx_tls_identity_of() (the cluster's one identity
 *      parser, which the upload server and the fetcher use): an identity it returns is one
 *      host id of the allowed characters and one known role;
 *   1, 2: the rest is what a client (1) or a server (2) sent, fed to a server (client) engine
 *      of dp_tls.h in chunks exactly as the ring delivers them: rx space, commit, handshake,
 *      read. It must never crash, never hand out plaintext before a verified handshake, and
 *      never overrun its buffers (ASan), whatever the records say.
 * The engine's context has a throwaway P-256 key and a self-signed certificate with a vx
 * identity, made once in memory (no files).
 */
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dp_tls.h"
#include "vx_assert.h"
#include "vx_dp_tls.h"
#include "vx_tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static SSL_CTX *fuzz_ctx(void)
{
	static SSL_CTX *ctx;
	EVP_PKEY *key;
	X509 *x;
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	if (ctx)
		return ctx;
	key = EVP_EC_gen("P-256");
	x = X509_new();
	VX_ASSERT(key && x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"fuzz", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
				  "URI:urn:vx:host:fuzz-0000000000000001,URI:urn:vx:role:peer");
	VX_ASSERT(ext && X509_add_ext(x, ext, -1));
	X509_EXTENSION_free(ext);
	VX_ASSERT(X509_sign(x, key, EVP_sha256()) > 0);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_identity(data + 1, size - 1);
		break;
	default:
		fuzz_engine(data + 1, size - 1, data[0] % 3 == 1);
		break;
	}
	return 0;
}
