/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_dp_tls.h: TLS 1.3 (mutual) on the data plane. The upload server and the fetcher take an
 * OpenSSL SSL_CTX (vx_upload_cfg.tls, vx_fetcher_cfg.tls; NULL = plaintext) and run every
 * connection's records through OpenSSL in user space, fed by their io_uring completions
 * (spec/dataplane.md section 10). Whatever the context says, each connection is held to
 * TLS 1.3 and peer verification: the server refuses a client without a certificate chaining
 * to the context's CA, the fetcher a parent whose certificate does not chain to it or does not
 * name the host id it was given (subjectAltName URI urn:vx:host:<id>, the cluster's
 * certificate profile).
 *
 * Identities come from the cluster's one parser, vx_tls_identity_of() (vx_tls.h); the daemon's
 * contexts from vx_tls_ctx_new(); tests and vx-bench may use vx_dp_tls_ctx_from_files() below.
 */
#ifndef VX_DP_TLS_H
#define VX_DP_TLS_H

#include <stddef.h>

#include "vx_compiler.h"

struct ssl_ctx_st; /* OpenSSL's SSL_CTX */
struct x509_st;	   /* OpenSSL's X509 */

/*
 * vx_dp_tls_ctx_from_files() - a TLS 1.3 context for both ends of the data plane from PEM
 * files: our @cert_pem chain and @key_pem, the cluster CA @ca_pem, and optionally a CRL
 * @crl_pem (then every certificate of a peer's chain is checked against it). Peers must
 * present a certificate (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT); no session
 * tickets. Returns the context (SSL_CTX_free() it) or NULL with the reason logged.
 */
struct ssl_ctx_st *vx_dp_tls_ctx_from_files(const char *cert_pem, const char *key_pem,
					    const char *ca_pem, const char *crl_pem);

#endif /* VX_DP_TLS_H */
