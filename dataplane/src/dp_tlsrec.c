/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dp_tlsrec.c: TLS 1.3 application-data records over our buffers (dp_tlsrec.h). The AEAD is
 * OpenSSL's EVP interface, the key schedule its TLS13-KDF (HKDF-Expand-Label): nothing of the
 * cryptography is ours, only the record framing of RFC 8446 section 5.2.
 */
#include "dp_tlsrec.h"

#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#define TLSREC_HS_NEW_SESSION_TICKET 4
#define TLSREC_HS_KEY_UPDATE	     24

/* HKDF-Expand-Label(secret, label, "", len) of RFC 8446 section 7.1. */
static int tlsrec_expand(const char *md, const uint8_t *secret, size_t secret_len,
			 const char *label, uint8_t *out, size_t len)
{
	static const unsigned char prefix[] = "tls13 ";
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS13-KDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)(uintptr_t)md, 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)(uintptr_t)secret,
						  secret_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, (void *)(uintptr_t)prefix,
						  sizeof(prefix) - 1),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, (void *)(uintptr_t)label,
						  strlen(label)),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_DATA, (void *)(uintptr_t) "", 0),
		OSSL_PARAM_construct_end(),
	};
	int ok = kctx && EVP_KDF_derive(kctx, out, len, params) == 1;

	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	if (!ok)
		ERR_clear_error();
	return ok ? 0 : -ENOMEM;
}

int vx__tlsrec_key_init(struct vx__tlsrec_key *k, uint16_t suite, const uint8_t *secret,
			size_t secret_len, bool enc)
{
	uint8_t key[32];
	const char *cipher, *md;
	size_t key_len;
	EVP_CIPHER *c;
	int r = -ENOMEM;

	memset(k, 0, sizeof(*k));
	switch (suite) {
	case 0x1301:
		cipher = "AES-128-GCM", md = "SHA256", key_len = 16;
		break;
	case 0x1302:
		cipher = "AES-256-GCM", md = "SHA384", key_len = 32;
		break;
	case 0x1303:
		cipher = "ChaCha20-Poly1305", md = "SHA256", key_len = 32;
		break;
	default:
		return -EINVAL;
	}
	if (secret_len != (md[3] == '3' ? 48u : 32u))
		return -EINVAL;
	c = EVP_CIPHER_fetch(NULL, cipher, NULL);
	k->aead = c ? EVP_CIPHER_CTX_new() : NULL;
	k->enc = enc;
	if (k->aead && tlsrec_expand(md, secret, secret_len, "key", key, key_len) == 0 &&
	    tlsrec_expand(md, secret, secret_len, "iv", k->iv, sizeof(k->iv)) == 0 &&
	    EVP_CipherInit_ex2(k->aead, c, key, k->iv, enc ? 1 : 0, NULL) == 1)
		r = 0;
	OPENSSL_cleanse(key, sizeof(key));
	EVP_CIPHER_free(c);
	if (r) {
		ERR_clear_error();
		vx__tlsrec_key_wipe(k);
	}
	return r;
}

void vx__tlsrec_key_wipe(struct vx__tlsrec_key *k)
{
	EVP_CIPHER_CTX_free(k->aead);
	OPENSSL_cleanse(k, sizeof(*k));
}

int vx__tlsrec_header(const uint8_t *p, size_t avail, uint32_t *body_len)
{
	uint32_t n;

	if (avail < VX__TLSREC_HDR)
		return -EAGAIN;
	n = (uint32_t)p[3] << 8 | p[4];
	if (p[0] != VX__TLSREC_APP || p[1] != 0x03 || p[2] != 0x03 || n < VX__TLSREC_TAG + 1u ||
	    n > VX__TLSREC_MAX_CIPHER)
		return -EPROTO;
	*body_len = n;
	return 0;
}

int vx__tlsrec_inner(const uint8_t *p, size_t len, uint8_t *type, size_t *content_len)
{
	while (len > 0 && p[len - 1] == 0)
		len--; /* the padding: zeros after the type */
	if (len == 0 || len - 1 > VX__TLSREC_MAX_PLAIN)
		return -EPROTO;
	*type = p[len - 1];
	*content_len = len - 1;
	return 0;
}

int vx__tlsrec_post_handshake(const uint8_t *p, size_t len, bool client, const char **what)
{
	size_t off = 0;

	*what = "an empty handshake record";
	if (len == 0)
		return -EPROTO;
	while (off < len) {
		size_t mlen;

		if (len - off < 4) {
			*what = "a handshake message split across records";
			return -EPROTO;
		}
		mlen = (size_t)p[off + 1] << 16 | (size_t)p[off + 2] << 8 | p[off + 3];
		if (p[off] == TLSREC_HS_KEY_UPDATE) {
			*what = "a KeyUpdate (key updates are not supported)";
			return -EPROTO;
		}
		if (p[off] != TLSREC_HS_NEW_SESSION_TICKET || !client) {
			*what = "a post-handshake message other than a ticket";
			return -EPROTO;
		}
		if (mlen > len - off - 4) {
			*what = "a handshake message split across records";
			return -EPROTO;
		}
		off += 4 + mlen;
	}
	return 0;
}

static void tlsrec_nonce(const struct vx__tlsrec_key *k, uint8_t nonce[12])
{
	memcpy(nonce, k->iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(k->seq >> (8 * i));
}

int vx__tlsrec_seal(struct vx__tlsrec_key *k, uint8_t *out, const uint8_t *plain, size_t len,
		    uint8_t type)
{
	size_t body = len + 1 + VX__TLSREC_TAG;
	uint8_t nonce[12];
	int n1 = 0, n2 = 0, n3 = 0, n0 = 0;

	if (!k->enc || len > VX__TLSREC_MAX_PLAIN || k->seq >= VX__TLSREC_SEQ_MAX)
		return -EPROTO;
	out[0] = VX__TLSREC_APP;
	out[1] = 0x03;
	out[2] = 0x03;
	out[3] = (uint8_t)(body >> 8);
	out[4] = (uint8_t)body;
	tlsrec_nonce(k, nonce);
	if (EVP_CipherInit_ex2(k->aead, NULL, NULL, nonce, 1, NULL) != 1 ||
	    EVP_EncryptUpdate(k->aead, NULL, &n0, out, VX__TLSREC_HDR) != 1 ||
	    EVP_EncryptUpdate(k->aead, out + VX__TLSREC_HDR, &n1, plain, (int)len) != 1 ||
	    EVP_EncryptUpdate(k->aead, out + VX__TLSREC_HDR + n1, &n2, &type, 1) != 1 ||
	    EVP_EncryptFinal_ex(k->aead, out + VX__TLSREC_HDR + n1 + n2, &n3) != 1 ||
	    (size_t)(n1 + n2 + n3) != len + 1 ||
	    EVP_CIPHER_CTX_ctrl(k->aead, EVP_CTRL_AEAD_GET_TAG, VX__TLSREC_TAG,
				out + VX__TLSREC_HDR + len + 1) != 1) {
		ERR_clear_error();
		return -EPROTO;
	}
	k->seq++;
	return (int)(VX__TLSREC_HDR + body);
}

int vx__tlsrec_open(struct vx__tlsrec_key *k, const uint8_t *rec, uint32_t body_len, uint8_t *out)
{
	size_t clen = body_len - VX__TLSREC_TAG;
	uint8_t nonce[12], tag[VX__TLSREC_TAG];
	int n0 = 0, n1 = 0, n2 = 0;

	if (k->enc || body_len <= VX__TLSREC_TAG || k->seq >= VX__TLSREC_SEQ_MAX)
		return -EPROTO;
	memcpy(tag, rec + VX__TLSREC_HDR + clen, sizeof(tag)); /* @out may overwrite it */
	tlsrec_nonce(k, nonce);
	if (EVP_CipherInit_ex2(k->aead, NULL, NULL, nonce, 0, NULL) != 1 ||
	    EVP_DecryptUpdate(k->aead, NULL, &n0, rec, VX__TLSREC_HDR) != 1 ||
	    EVP_DecryptUpdate(k->aead, out, &n1, rec + VX__TLSREC_HDR, (int)clen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(k->aead, EVP_CTRL_AEAD_SET_TAG, VX__TLSREC_TAG, tag) != 1 ||
	    EVP_DecryptFinal_ex(k->aead, out + n1, &n2) != 1 || (size_t)(n1 + n2) != clen) {
		ERR_clear_error();
		OPENSSL_cleanse(out, clen); /* nothing of a forged record is left to use */
		return -EBADMSG;
	}
	k->seq++;
	return 0;
}
