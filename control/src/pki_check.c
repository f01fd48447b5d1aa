/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pki_check.c: what a joined daemon checks before it believes a scheduler's answer (vx_pki.h):
 * the CA is the one it already trusts (or the one its join token pins), the certificate is that
 * CA's and ours, and a CRL is that CA's and not older than the one it holds. A fake scheduler
 * (or anyone on a plaintext control channel) can then neither swap the daemon's trust root nor
 * roll its revocation list back nor plant a list that fails every handshake.
 */
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "pki_int.h"
#include "vx_hex.h"

/* A memory BIO on @pem when it is 1..@max bytes with no NUL; NULL otherwise. */
static BIO *pem_bio(const uint8_t *pem, size_t len, size_t max)
{
	if (!pem || len == 0 || len > max || memchr(pem, '\0', len))
		return NULL;
	return BIO_new_mem_buf(pem, (int)len);
}

static X509 *cert_of(const uint8_t *pem, size_t len)
{
	BIO *b = pem_bio(pem, len, VX_CTL_CERT_MAX);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	if (x && !vx__pki_rest_blank(b)) {
		X509_free(x);
		x = NULL;
	}
	BIO_free(b);
	ERR_clear_error();
	return x;
}

static X509_CRL *crl_of(const uint8_t *pem, size_t len)
{
	BIO *b = pem_bio(pem, len, VX_PKI_CRL_MAX);
	X509_CRL *x = b ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;

	if (x && !vx__pki_rest_blank(b)) {
		X509_CRL_free(x);
		x = NULL;
	}
	BIO_free(b);
	ERR_clear_error();
	return x;
}

int vx_pki_x509_pin(X509 *x, char *pin)
{
	uint8_t *der = NULL, md[32];
	unsigned mdlen = 0;
	int n = i2d_X509(x, &der), rc = -EINVAL;

	if (n > 0 && EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) &&
	    mdlen == sizeof(md)) {
		vx_hex_encode(md, sizeof(md), pin);
		pin[VX_PKI_PIN_HEX] = '\0';
		rc = 0;
	}
	OPENSSL_free(der);
	ERR_clear_error();
	return rc;
}

int vx_pki_pem_pin(const uint8_t *pem, size_t len, char *pin)
{
	X509 *x = cert_of(pem, len);
	int rc = x ? vx_pki_x509_pin(x, pin) : -EINVAL;

	X509_free(x);
	return rc;
}

/* Exactly one urn:vx:host: URI in @x's subjectAltName, and it is @uri. */
static bool host_uri_is(X509 *x, const char *uri)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	size_t ulen = strlen(uri);
	unsigned hosts = 0;
	bool ours = false;

	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const uint8_t *s;
		size_t n;

		if (g->type != GEN_URI)
			continue;
		s = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
		n = (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier);
		if (n < 12 || memcmp(s, "urn:vx:host:", 12) != 0)
			continue;
		hosts++;
		ours = ours || (n == ulen && memcmp(s, uri, n) == 0);
	}
	GENERAL_NAMES_free(gens);
	ERR_clear_error();
	return hosts == 1 && ours;
}

int vx_pki_answer_check(const uint8_t *ca_pem, size_t ca_len, const char *pin,
			const uint8_t *cert_pem, size_t cert_len, EVP_PKEY *key,
			const char *host_id)
{
	X509 *ca = cert_of(ca_pem, ca_len), *cert = cert_of(cert_pem, cert_len);
	char have[VX_PKI_PIN_HEX + 1], uri[16 + VX_PKI_HOST_ID_MAX];
	int rc = -EPROTO;

	if (!ca || !cert || vx_pki_x509_pin(ca, have))
		goto out;
	rc = -EACCES;
	if (!pin || CRYPTO_memcmp(have, pin, VX_PKI_PIN_HEX) != 0)
		goto out; /* not the CA we were told to trust */
	rc = -EPROTO;
	snprintf(uri, sizeof(uri), "urn:vx:host:%s", host_id);
	if (X509_check_issued(ca, cert) == X509_V_OK &&
	    X509_verify(cert, X509_get0_pubkey(ca)) == 1 &&
	    EVP_PKEY_eq(X509_get0_pubkey(cert), key) == 1 && host_uri_is(cert, uri) &&
	    X509_cmp_current_time(X509_get0_notAfter(cert)) > 0)
		rc = 0;
out:
	ERR_clear_error();
	X509_free(ca);
	X509_free(cert);
	return rc;
}

/* @crl's CRL number (0 when it has none or it is unreadable). */
static uint64_t crl_number(X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	uint64_t v = 0;

	if (n && !ASN1_INTEGER_get_uint64(&v, n))
		v = 0;
	ASN1_INTEGER_free(n);
	ERR_clear_error();
	return v;
}

/* @crl is issued by @ca and its signature verifies with @ca's key. */
static bool crl_by(X509_CRL *crl, X509 *ca)
{
	bool ok = X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) == 0 &&
		  X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1;

	ERR_clear_error();
	return ok;
}

int vx_pki_crl_check(const uint8_t *crl_pem, size_t crl_len, const uint8_t *ca_pem, size_t ca_len,
		     const uint8_t *old_pem, size_t old_len)
{
	X509 *ca = cert_of(ca_pem, ca_len);
	X509_CRL *crl = crl_of(crl_pem, crl_len), *old = NULL;
	int rc = -EINVAL;

	if (!ca || !crl)
		goto out;
	rc = -EACCES;
	if (!crl_by(crl, ca))
		goto out;
	rc = 0;
	/* a list the CA signed before the one we hold: a rollback past a revoke */
	old = old_pem ? crl_of(old_pem, old_len) : NULL;
	if (old && crl_by(old, ca) && crl_number(crl) < crl_number(old))
		rc = -ESTALE;
out:
	X509_CRL_free(old);
	X509_CRL_free(crl);
	X509_free(ca);
	return rc;
}
