/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_pki.h: the control plane's small CA (spec/control.md section 11). It lives in a directory
 * (`--pki-dir`, default "<db>.pki/"): ca.pem, ca.key (0600), server.pem, server.key (0600),
 * crl.pem, all created on first use. It issues short-lived daemon certificates from CSRs whose
 * identity (host id, role) is the scheduler's decision, never the CSR's subject; it keeps the
 * issued and revoked serials and the join tokens in the scheduler's sqlite database, and signs
 * the CRL again on every revoke and before its nextUpdate.
 *
 * Join tokens look like "vxj1.<id>.<secret>.<pin>": a 12-hex id, a 32-hex secret (128 random
 * bits, stored only as its sha256) and the 64-hex sha256 of the CA certificate (DER), which the
 * joining daemon checks against the CA it is given.
 *
 * Not thread-safe: one struct per thread (the scheduler's loop; a CLI process).
 */
#ifndef VX_PKI_H
#define VX_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_compiler.h"
#include "vx_ctl_msg.h"

typedef struct bio_st BIO;
typedef struct evp_pkey_st EVP_PKEY;

#define VX_PKI_CERT_TTL_DEFAULT (24u * 3600) /* seconds of an issued daemon certificate */
#define VX_PKI_CERT_TTL_MIN	10u	     /* tests use short lives; below this renewal races */
#define VX_PKI_CERT_TTL_MAX	(366u * 86400)
#define VX_PKI_TOKEN_TTL_MAX	(366ull * 86400) /* seconds a join token may live */
/* what the control channel carries (vx_ctl_msg.h): one fact, one place */
#define VX_PKI_CSR_MAX	      VX_CTL_CSR_MAX /* bytes of a PEM CSR */
#define VX_PKI_CRL_MAX	      VX_CTL_CRL_MAX /* bytes of a PEM CRL (and of any file the CA reads) */
#define VX_PKI_HOST_ID_MAX    64u	     /* a certificate's CN holds at most 64 characters */
#define VX_PKI_CERTS_PER_HOST 8u	     /* unexpired certificates one host id holds at most */
#define VX_PKI_SERIAL_HEX     32u	     /* 128-bit serials, lowercase hex */

/* "vxj1." + 12 + "." + 32 + "." + 64 */
#define VX_PKI_TOKEN_ID_HEX	12u
#define VX_PKI_TOKEN_SECRET_HEX 32u
#define VX_PKI_PIN_HEX		64u
#define VX_PKI_TOKEN_LEN \
	(5u + VX_PKI_TOKEN_ID_HEX + 1 + VX_PKI_TOKEN_SECRET_HEX + 1 + VX_PKI_PIN_HEX)

enum vx_pki_role {
	VX_PKI_ROLE_PEER = 0,
	VX_PKI_ROLE_SEED = 1,
	VX_PKI_ROLE_SCHEDULER = 2,
};

/* A parsed join token; the fields are NUL-terminated lowercase hex. */
struct vx_pki_token {
	char id[VX_PKI_TOKEN_ID_HEX + 1];
	char secret[VX_PKI_TOKEN_SECRET_HEX + 1];
	char pin[VX_PKI_PIN_HEX + 1];
};

struct vx_pki;

/*
 * vx_pki_token_parse() - @s (@len bytes, not NUL-terminated) as a join token: exactly
 * "vxj1.<12 hex>.<32 hex>.<64 hex>", lowercase, nothing around it (one trailing newline is
 * allowed, for token files). Returns 0 or -EINVAL (@out zeroed).
 */
VX_MUST_CHECK int vx_pki_token_parse(const char *s, size_t len, struct vx_pki_token *out);

/*
 * vx_pki_csr_check() - @pem (@len bytes) as one PEM certificate request whose key is EC P-256
 * with a valid point and whose self-signature verifies. Only the public key is ever used. Returns
 * 0, -EMSGSIZE (over VX_PKI_CSR_MAX), -EINVAL (not one PEM CSR), -EPROTO (key type or curve),
 * -EBADMSG (the signature does not verify).
 */
VX_MUST_CHECK int vx_pki_csr_check(const uint8_t *pem, size_t len);

/* A host id a certificate can name: 1 to 64 characters of [A-Za-z0-9._-]. */
bool vx_pki_host_id_ok(const char *s);

/* Role name "peer", "seed", "scheduler" (NULL for others), and back (-EINVAL). */
const char *vx_pki_role_name(enum vx_pki_role r);
VX_MUST_CHECK int vx_pki_role_parse(const char *s, enum vx_pki_role *out);

/*
 * vx_pki_open() - the CA in @dir (created 0700 with a fresh CA when missing; "<db_path>.pki"
 * when @dir is NULL) and its tables in the sqlite database @db_path. A key file (ca.key,
 * server.key) that is not a regular file or has any group/other permission bit refuses the
 * start (-EACCES). crl.pem is created when missing. Returns 0 with *@out (vx_pki_close()), or a
 * negative errno with @err (one line, no secret).
 */
VX_MUST_CHECK int vx_pki_open(struct vx_pki **out, const char *dir, const char *db_path, char *err,
			      size_t err_len);
void vx_pki_close(struct vx_pki *p);

/* The directory in use. */
const char *vx_pki_dir(const struct vx_pki *p);

/*
 * vx_pki_server_cert() - server.pem/server.key for the scheduler: created when missing or
 * within 30 days of expiry, CN "scheduler", role URI scheduler and @names (IP literals become
 * IP SANs, others DNS SANs). Returns 0 or a negative errno with @err.
 */
VX_MUST_CHECK int vx_pki_server_cert(struct vx_pki *p, const char *const *names, uint32_t nr,
				     char *err, size_t err_len);

/* The CA certificate in PEM (lent while @p lives) and its pin (64 hex + NUL). */
const char *vx_pki_ca_pem(const struct vx_pki *p, size_t *len);
const char *vx_pki_ca_pin(const struct vx_pki *p);

/*
 * vx_pki_issue() - a certificate for @host_id with @role, tenant @tenant (NULL or "": none;
 * else a vx_tls_tenant_ok() name, as urn:vx:tenant:) and the public key of CSR @csr
 * (checked as vx_pki_csr_check()), valid @ttl_s seconds; recorded with its serial. Returns 0
 * with *@pem (owned, vx_free(), NUL-terminated) and @serial (33 bytes), -EINVAL (bad host id:
 * 1 to 64 characters of [A-Za-z0-9._-], not "scheduler"), -EBUSY (the host already holds
 * VX_PKI_CERTS_PER_HOST unexpired certificates), the CSR's error, VX_EDB, -ENOMEM.
 */
VX_MUST_CHECK int vx_pki_issue(struct vx_pki *p, const uint8_t *csr, size_t csr_len,
			       const char *host_id, enum vx_pki_role role, const char *tenant,
			       uint32_t ttl_s, char **pem, size_t *pem_len, char *serial);

/*
 * vx_pki_host_role() - the role of the newest certificate issued to @host_id when it is
 * neither expired nor revoked (an older one still valid does not count: revoking a host's
 * current serial ends its renewals). Returns 0 with *@role and, when @tenant is not NULL
 * (VX_TLS_TENANT_MAX + 1 bytes), the tenant it names ("" none); -ENOENT (none), VX_EDB.
 */
VX_MUST_CHECK int vx_pki_host_role(struct vx_pki *p, const char *host_id, size_t id_len,
				   enum vx_pki_role *role, char *tenant);

/*
 * vx_pki_revoke() - revoke @what: a serial (32 hex) or a host id (every unexpired certificate
 * issued to it), then sign the CRL again. Returns the number of certificates revoked (0 when
 * they all already were), -ENOENT (no such certificate), VX_EDB, or the CRL's error.
 */
VX_MUST_CHECK int vx_pki_revoke(struct vx_pki *p, const char *what);

/*
 * vx_pki_crl() - the current CRL in PEM (crl.pem read again when another process wrote it),
 * signed again first when @force, when less than half its validity is left, or when the
 * database holds another number of revoked serials than it lists. Returns 0 with *@pem lent until the next call, or a negative errno.
 */
VX_MUST_CHECK int vx_pki_crl(struct vx_pki *p, bool force, const char **pem, size_t *len);

/*
 * vx_pki_token_create() - a join token for @role valid @ttl_s seconds for @uses joins, written
 * to @out (VX_PKI_TOKEN_LEN + 1 bytes); its id to @id. Only the secret's sha256 is stored.
 * @tenant (NULL or "": none) is named by every certificate the token gets (vx_pki_issue()).
 * Returns 0, -EINVAL (a bad role, ttl, uses or tenant name), VX_EDB.
 */
VX_MUST_CHECK int vx_pki_token_create(struct vx_pki *p, enum vx_pki_role role, const char *tenant,
				      uint64_t ttl_s, uint32_t uses, char *out, char *id);

/*
 * vx_pki_token_use() - check join token @tok (@len bytes) and spend one of its uses. Returns 0
 * with *@role and the token's tenant in @tenant (VX_TLS_TENANT_MAX + 1 bytes, "" none), -EACCES
 * (malformed, unknown, wrong secret, expired, used up, or pinning another CA), VX_EDB.
 */
VX_MUST_CHECK int vx_pki_token_use(struct vx_pki *p, const char *tok, size_t len,
				   enum vx_pki_role *role, char *tenant);

/*
 * vx_pki_token_check() - vx_pki_token_use() without spending a use: what a JOIN is checked
 * against before its CSR costs a signature check. Returns 0, -EACCES, VX_EDB.
 */
VX_MUST_CHECK int vx_pki_token_check(struct vx_pki *p, const char *tok, size_t len);

/* Deletes join token @id (12 hex). Returns 0, -ENOENT, VX_EDB. */
VX_MUST_CHECK int vx_pki_token_delete(struct vx_pki *p, const char *id);

/*
 * vx_pki_file_put() - @data (@len bytes) to @name beneath directory @dfd: a temp file (O_EXCL,
 * no symlink, @mode), fsync, then a rename over the old one, so a reader sees the old file or
 * the new one. Returns 0 or a negative errno (the temp file removed).
 */
VX_MUST_CHECK int vx_pki_file_put(int dfd, const char *name, const void *data, size_t len,
				  mode_t mode);

/* The bytes of memory BIO @b as a new NUL-terminated string (vx_free()), NULL when empty. */
char *vx_pki_bio_take(BIO *b, size_t *len);

/* ---------------------------------------------------------------- A daemon's checks */

struct x509_st; /* OpenSSL's X509 */
/* vx_pki_x509_pin() - the pin (sha256 of the DER, 64 hex + NUL) of @x; -EINVAL when it cannot be
 * encoded. */
VX_MUST_CHECK int vx_pki_x509_pin(struct x509_st *x, char *pin);
/* vx_pki_pem_pin() - the pin (sha256 of the DER, 64 hex + NUL) of the one certificate in @pem. */
VX_MUST_CHECK int vx_pki_pem_pin(const uint8_t *pem, size_t len, char *pin);

/*
 * vx_pki_answer_check() - a JOIN or RENEW answer, before a daemon writes any of it: @ca_pem is
 * one certificate whose pin is @pin (the join token's, or for a RENEW the pin of the ca.pem the
 * daemon already holds: never the answer's own word), @cert_pem is issued and signed by it, not
 * expired, holds @key and names @host_id in exactly one urn:vx:host: URI. Returns 0, -EACCES
 * (another CA) or -EPROTO (anything else).
 */
VX_MUST_CHECK int vx_pki_answer_check(const uint8_t *ca_pem, size_t ca_len, const char *pin,
				      const uint8_t *cert_pem, size_t cert_len, EVP_PKEY *key,
				      const char *host_id);

/*
 * vx_pki_crl_check() - a CRL a scheduler sent, before a daemon replaces crl.pem with it: one PEM
 * CRL of at most VX_PKI_CRL_MAX bytes, issued and signed by the CA @ca_pem, and, when @old_pem
 * (the crl.pem held now, NULL: none) is a list of that CA too, with a CRL number not below it
 * (no rollback to a list from before a revoke). Returns 0, -EINVAL (not one CRL, or @ca_pem not
 * one certificate), -EACCES (not the CA's), -ESTALE (older than the one held).
 */
VX_MUST_CHECK int vx_pki_crl_check(const uint8_t *crl_pem, size_t crl_len, const uint8_t *ca_pem,
				   size_t ca_len, const uint8_t *old_pem, size_t old_len);

#endif /* VX_PKI_H */
