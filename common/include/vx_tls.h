/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_tls.h: TLS 1.3 with mutual authentication for every vx transport (OpenSSL 3).
 *
 * Three parts, none tied to an event loop:
 *
 * - struct vx_tls_ctx: an SSL_CTX made from PEM files (our certificate chain and key, the CA
 *   bundle peers must chain to, optionally a CRL), server or client side, TLS 1.3 only, peers
 *   verified. vx_tls_ctx_reload() rebuilds it when the files changed (renewal): connections
 *   already set up keep the old one (an SSL holds a reference), new ones take the new one.
 *   A private key file open to group or others is refused, as the token file is.
 *
 * - vx_tls_identity_of(): who a verified peer certificate names, by the certificate profile of
 *   spec/control.md section 10 (subjectAltName URIs urn:vx:host:, urn:vx:role:, urn:vx:tenant:).
 *   A certificate that is not a vx identity (no role, two roles, a malformed host or tenant, an
 *   unknown urn:vx: URI) is refused.
 *
 * - struct vx_tls_sess: one TLS connection over memory BIOs. The owner moves ciphertext between
 *   the session and its transport however its loop likes (epoll + recv/send, io_uring, a test's
 *   byte buffer): vx_tls_sess_feed() gives received ciphertext to the session, vx_tls_sess_read()
 *   takes plaintext out, vx_tls_sess_write() puts plaintext in, vx_tls_sess_out_peek() and
 *   vx_tls_sess_out_consume() take the ciphertext to send (handshake records included). After
 *   any call the owner sends what vx_tls_sess_out_pending() reports. The handshake runs inside
 *   read/write; vx_tls_sess_ready() says it finished and the peer's identity was accepted.
 *
 *   A loop drives it like this (the same in every loop):
 *     on bytes received:   vx_tls_sess_feed(s, buf, n); then vx_tls_sess_read() until -EAGAIN;
 *                          then send vx_tls_sess_out_peek() bytes, consume what was sent.
 *     to send plaintext:   vx_tls_sess_write(); -EAGAIN before the handshake is done (keep the
 *                          bytes, try again after the next receive); then send the ciphertext.
 *     end of stream:       vx_tls_sess_read() 0 is the peer's close_notify.
 *   Errors are final: -EACCES (peer certificate refused: chain, expiry, revocation, identity),
 *   -EPROTO (anything else the TLS layer refused), -ENOMEM. vx_tls_sess_why() says why in words.
 *
 * vx_tls_fconn_attach() (vx_tls_fconn.h) is the epoll/socket driver used by the control channel.
 */
#ifndef VX_TLS_H
#define VX_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "vx_compiler.h"

struct ssl_ctx_st; /* OpenSSL's SSL_CTX */
struct ssl_st;	   /* OpenSSL's SSL */
struct x509_st;	   /* OpenSSL's X509 */

#define VX_TLS_HOST_ID_MAX   255
#define VX_TLS_TENANT_MAX    63
#define VX_TLS_ERR_LEN	     256
#define VX_TLS_EXPIRY_WARN_S (7 * 86400) /* certificate expiry is warned this far ahead */

enum vx_tls_role {
	VX_TLS_ROLE_NONE = 0,
	VX_TLS_ROLE_PEER,
	VX_TLS_ROLE_SEED,
	VX_TLS_ROLE_SCHEDULER,
};

/* Who a certificate names. */
struct vx_tls_id {
	char host_id[VX_TLS_HOST_ID_MAX + 1];
	enum vx_tls_role role;
	char tenant[VX_TLS_TENANT_MAX + 1]; /* "" none */
	time_t not_after;		    /* end of validity (seconds since the epoch) */
};

/*
 * The files of one side. cert/key/ca are required, except that a client may go without cert
 * and key (a host that has the CA but no certificate yet: it may only JOIN); crl may be NULL.
 * Strings are copied.
 */
struct vx_tls_files {
	const char *cert; /* PEM: our certificate, then its chain */
	const char *key;  /* PEM: our private key (mode 0600 or stricter) */
	const char *ca;	  /* PEM: the CA certificate(s) a peer must chain to */
	const char *crl;  /* PEM: revoked certificates (one or more CRLs), NULL: no CRL check */
};

enum vx_tls_side {
	VX_TLS_SERVER = 0,	     /* accepts; a client certificate is required */
	VX_TLS_SERVER_OPTIONAL_CERT, /* accepts; a client without certificate gets through the
				      * handshake with no identity (the owner decides what it may) */
	VX_TLS_CLIENT,		     /* dials; the server must present a valid certificate */
};

struct vx_tls_ctx;

/*
 * vx_tls_ctx_new() - an SSL_CTX for @side from @files. Returns 0 and *@out (vx_tls_ctx_free()),
 * or a negative errno with a reason in @err: -ENOENT/-EACCES (a file), -EPERM (the key is open
 * to group or others), -EINVAL (a file that does not parse, a key that does not match the
 * certificate, a certificate that is not a vx identity), -ENOMEM.
 */
VX_MUST_CHECK int vx_tls_ctx_new(struct vx_tls_ctx **out, enum vx_tls_side side,
				 const struct vx_tls_files *files, char *err, size_t err_len);
void vx_tls_ctx_free(struct vx_tls_ctx *c);
/*
 * vx_tls_ctx_new_like() - another context on @c's files for @side (a daemon's data-plane server
 * beside its client). Returns as vx_tls_ctx_new().
 */
VX_MUST_CHECK int vx_tls_ctx_new_like(struct vx_tls_ctx **out, enum vx_tls_side side,
				      const struct vx_tls_ctx *c, char *err, size_t err_len);
/* The current SSL_CTX (borrowed: valid until the next reload or free; SSL_new up-refs it). */
struct ssl_ctx_st *vx_tls_ctx_ssl(const struct vx_tls_ctx *c);
/* Our own identity, from our certificate (as of the last load); role NONE without one. */
const struct vx_tls_id *vx_tls_ctx_self(const struct vx_tls_ctx *c);

/*
 * vx_tls_ctx_reload() - rebuild from the same files when one of them changed since the last
 * load (or always with @force). Returns 1 reloaded, 0 nothing changed, or a negative errno
 * (with @err) after which the previous SSL_CTX stays in use.
 */
VX_MUST_CHECK int vx_tls_ctx_reload(struct vx_tls_ctx *c, bool force, char *err, size_t err_len);

/*
 * vx_tls_ctx_tick() - the periodic duty of a process holding @c: reloads changed files (logged)
 * and warns, at most once a day, when our certificate expires within VX_TLS_EXPIRY_WARN_S.
 * @what names the process in the log ("scheduler", "daemon"). Call it every few seconds.
 */
void vx_tls_ctx_tick(struct vx_tls_ctx *c, const char *what, time_t now);

/*
 * vx_tls_identity_of() - the vx identity of @cert (the chain is NOT checked here: pass only a
 * certificate the handshake verified). Returns 0, or -EINVAL with a reason in @err.
 */
VX_MUST_CHECK int vx_tls_identity_of(struct x509_st *cert, struct vx_tls_id *out, char *err,
				     size_t err_len);
/* The same from a DER certificate (the fuzz target's entry). */
VX_MUST_CHECK int vx_tls_identity_der(const uint8_t *der, size_t len, struct vx_tls_id *out,
				      char *err, size_t err_len);
/* "peer", "seed", "scheduler", "none". */
const char *vx_tls_role_name(enum vx_tls_role r);
/* Whether @s (@n bytes) is a tenant name: [a-z0-9][a-z0-9._-]{0,62} (VX_TLS_TENANT_MAX). */
bool vx_tls_tenant_ok(const char *s, size_t n);

/*
 * The key-file rule, for files written or read elsewhere: 0 when @path is a regular file that
 * group and others cannot read or write; -EPERM (with a reason naming the fix), or -errno.
 */
VX_MUST_CHECK int vx_tls_key_mode_ok(const char *path, char *err, size_t err_len);

/*
 * vx_tls_pem_read() - the whole PEM file @path (at most 256 KiB) as NUL-terminated text in
 * *@out (owned; *@len bytes), for a TLS library that takes PEM in memory (libmicrohttpd's
 * GnuTLS). @secret: a private key, which must pass vx_tls_key_mode_ok() first (free it with
 * vx_tls_pem_free()). Returns 0, or -EPERM/-EINVAL/-errno with one line in @err naming @path.
 */
VX_MUST_CHECK int vx_tls_pem_read(const char *path, bool secret, char **out, size_t *len, char *err,
				  size_t err_len);
/* Wipes and frees what vx_tls_pem_read() returned. NULL is a no-op. */
void vx_tls_pem_free(char *pem, size_t len);

/* ---------------------------------------------------------------- Sessions */

struct vx_tls_sess;

/*
 * vx_tls_sess_new() - a session on @ctx's current SSL_CTX. A client names the server it dials:
 * @peer_name (an IP literal or a DNS name, checked against the server certificate's SANs;
 * NULL: not checked) and @want_role (the role the server's certificate must carry; NONE: any).
 * Servers pass NULL and VX_TLS_ROLE_NONE. Returns 0 and *@out, -ENOMEM or -EINVAL.
 */
VX_MUST_CHECK int vx_tls_sess_new(struct vx_tls_sess **out, struct vx_tls_ctx *ctx,
				  const char *peer_name, enum vx_tls_role want_role);
void vx_tls_sess_free(struct vx_tls_sess *s);
/* Received ciphertext in (copied). Returns 0 or -ENOMEM. */
VX_MUST_CHECK int vx_tls_sess_feed(struct vx_tls_sess *s, const void *buf, size_t len);
/*
 * Plaintext out: n > 0 bytes, 0 at the peer's close_notify, -EAGAIN (more ciphertext needed;
 * also while the handshake runs), or a final error (see above).
 */
VX_MUST_CHECK ssize_t vx_tls_sess_read(struct vx_tls_sess *s, void *buf, size_t len);
/* Plaintext in: n > 0 bytes taken, -EAGAIN (handshake not done yet), or a final error. */
VX_MUST_CHECK ssize_t vx_tls_sess_write(struct vx_tls_sess *s, const void *buf, size_t len);
/* Runs the handshake as far as the input allows: 0 done, -EAGAIN, or a final error. */
VX_MUST_CHECK int vx_tls_sess_handshake(struct vx_tls_sess *s);
/*
 * Received bytes the session holds that a read can turn into plaintext without more input (a
 * loop woken by socket readiness must read again while this is true: the socket is empty).
 */
bool vx_tls_sess_in_pending(const struct vx_tls_sess *s);
/* Ciphertext waiting to be sent. */
size_t vx_tls_sess_out_pending(const struct vx_tls_sess *s);
/* The waiting ciphertext (borrowed until the next call on @s); *@len its length. */
const uint8_t *vx_tls_sess_out_peek(struct vx_tls_sess *s, size_t *len);
/* Drops @n bytes (at most what peek gave) from the front of the waiting ciphertext. */
void vx_tls_sess_out_consume(struct vx_tls_sess *s, size_t n);
/* Queues a close_notify (then send the ciphertext). */
void vx_tls_sess_shutdown(struct vx_tls_sess *s);
/* The handshake finished and the peer's certificate (if any) was accepted. */
bool vx_tls_sess_ready(const struct vx_tls_sess *s);
/* The peer's identity once ready; NULL when the peer sent no certificate (optional-cert side). */
const struct vx_tls_id *vx_tls_sess_peer(const struct vx_tls_sess *s);
/*
 * vx_tls_peer_recheck() - verifies the certificate the peer of @ssl presented at its handshake
 * again against @ctx's store as it is now (the CA, the CRL reloaded since, the time): what ends
 * an open connection of a host revoked after it connected. Returns 0 (still valid, or no peer
 * certificate), -EKEYREJECTED (revoked, expired, or no longer chaining) or -ENOMEM.
 */
int vx_tls_peer_recheck(struct ssl_st *ssl, struct ssl_ctx_st *ctx);
/* The same for a session (0 before its handshake is done). */
int vx_tls_sess_recheck(const struct vx_tls_sess *s, const struct vx_tls_ctx *ctx);
/* Why the session failed, in words ("" none). */
const char *vx_tls_sess_why(const struct vx_tls_sess *s);

#endif /* VX_TLS_H */
