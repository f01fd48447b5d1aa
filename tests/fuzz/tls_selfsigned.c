/* SPDX-License-Identifier: Apache-2.0 */
/* tls_selfsigned.c: see tls_selfsigned.h. */
#include "tls_selfsigned.h"

#include <openssl/x509v3.h>

#include "vx_assert.h"

void vx_test_selfsigned(const char *cn, const char *san, X509 **cert, EVP_PKEY **key)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	VX_ASSERT(k && x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	VX_ASSERT(ext && X509_add_ext(x, ext, -1));
	X509_EXTENSION_free(ext);
	VX_ASSERT(X509_sign(x, k, EVP_sha256()) > 0);
	*cert = x;
	*key = k;
}
