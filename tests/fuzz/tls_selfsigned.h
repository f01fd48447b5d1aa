/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls_selfsigned.h: a throwaway P-256 key and a self-signed certificate made in memory (no
 * files), for the tests and fuzz targets that need a TLS identity of their own.
 */
#ifndef VX_TEST_TLS_SELFSIGNED_H
#define VX_TEST_TLS_SELFSIGNED_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * vx_test_selfsigned() - a new key in @key and a certificate for it in @cert, named @cn, with
 * the subjectAltName @san (OpenSSL's config syntax), valid from an hour ago for two hours.
 * Aborts on failure (a test has nothing to do without one). The caller frees both.
 */
void vx_test_selfsigned(const char *cn, const char *san, X509 **cert, EVP_PKEY **key);

#endif /* VX_TEST_TLS_SELFSIGNED_H */
