/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_join.c: the daemon's cluster identity (spec/control.md section 11, spec/peer.md). On
 * first start with a join token it makes an EC P-256 key (it never leaves the host), sends a
 * CSR in a JOIN request and writes DATA_DIR/tls/{key,cert,ca,crl}.pem (temp file + rename,
 * the key 0600), after checking the CA against the pin in the token. A thread then renews the
 * certificate at 2/3 of its life and refreshes crl.pem. The requests travel on short blocking
 * connections of their own, beside the scheduler client.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "peer_int.h"
#include "vx_alloc.h"
#include "vx_compiler.h"
#include "vx_ctl_msg.h"
#include "vx_err.h"
#include "vx_file.h"
#include "vx_frame.h"
#include "vx_hex.h"
#include "vx_log.h"
#include "vx_net.h"
#include "vx_pki.h"
#include "vx_time.h"
#include "vx_tls.h"

#define TLS_DIR	       "tls"
#define CALL_TIMEOUT_S 5
#define RETRY_MS       5000u
#define CRL_POLL_MAX_S 300u

struct peer_pki {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	int dfd; /* DATA_DIR/tls */
	const char *servers[VX_PEER_SCHEDULERS_MAX];
	uint32_t nr_servers;
	char host_id[VX_CTL_ID_MAX + 1];
	char host_key[65];
	char tls_dir[4096]; /* DATA_DIR/tls, for the client context of RENEW and CRL */
};

/* ---------------------------------------------------------------- One request */

/*
 * How a request reaches the scheduler: always TLS 1.3 (spec/control.md section 11). A JOIN has
 * no certificate and no CA yet: @pin (the token's) names the CA, and the scheduler is trusted
 * only when the chain it sent holds a certificate of that sha256 which signed its server
 * certificate (role scheduler, naming the address dialled), checked BEFORE the request (and its
 * token secret) is written. RENEW and CRL go with our certificate, against ca.pem.
 */
struct call_trust {
	const char *pin;	/* JOIN: the CA's sha256 (64 hex) */
	struct vx_tls_ctx *ctx; /* RENEW, CRL: our files (VX_TLS_CLIENT) */
};

/* The server certificate names the scheduler role and @host (an IP SAN, or a DNS SAN). */
static int server_named(X509 *leaf, const char *host)
{
	struct vx_tls_id id;
	char why[VX_TLS_ERR_LEN];
	int ok;

	if (vx_tls_identity_of(leaf, &id, why, sizeof(why)) || id.role != VX_TLS_ROLE_SCHEDULER)
		return -EACCES;
	ok = X509_check_ip_asc(leaf, host, 0);
	if (ok < 0 || (ok == 0 && X509_check_host(leaf, host, 0, 0, NULL) != 1))
		return -EACCES;
	return 0;
}

/* JOIN: the chain the scheduler sent leads to the pinned CA (see above). */
static int join_trusted(SSL *ssl, const char *pin, const char *host)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl); /* the leaf first, on a client */
	X509 *leaf = SSL_get0_peer_certificate(ssl), *ca = NULL;
	X509_STORE *st = NULL;
	X509_STORE_CTX *vc = NULL;
	char hex[65];
	int rc = -EACCES;

	for (int i = 0; chain && i < sk_X509_num(chain) && !ca; i++) {
		X509 *x = sk_X509_value(chain, i);

		if (vx_pki_x509_pin(x, hex) == 0 && strcmp(hex, pin) == 0)
			ca = x;
	}
	if (!leaf || !ca)
		return -EACCES;
	st = X509_STORE_new();
	vc = X509_STORE_CTX_new();
	if (st && vc && X509_STORE_add_cert(st, ca) == 1 &&
	    X509_STORE_CTX_init(vc, st, leaf, NULL) == 1 &&
	    X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SSL_SERVER) == 1 &&
	    X509_verify_cert(vc) == 1)
		rc = server_named(leaf, host);
	X509_STORE_CTX_free(vc);
	X509_STORE_free(st);
	return rc;
}

static int ssl_io(SSL *ssl, void *buf, size_t len, bool out)
{
	size_t off = 0;

	while (off < len) {
		size_t n = 0;
		int r = out ? SSL_write_ex(ssl, (uint8_t *)buf + off, len - off, &n)
			    : SSL_read_ex(ssl, (uint8_t *)buf + off, len - off, &n);

		if (r != 1)
			return -ECONNRESET; /* a timeout, a close, an alert: this call failed */
		off += n;
	}
	return 0;
}

/* The TLS session of one call on @fd, trusted as @t says. Returns the SSL, or NULL (@rc). */
static SSL *call_tls(int fd, const char *host, const struct call_trust *t, SSL_CTX **own, int *rc)
{
	SSL_CTX *ctx = t->ctx ? vx_tls_ctx_ssl(t->ctx) : NULL;
	SSL *ssl;

	*own = NULL;
	*rc = -ENOMEM;
	if (!ctx) {
		/* JOIN: the chain is checked against the pin after the handshake, by hand */
		ctx = *own = SSL_CTX_new(TLS_client_method());
		if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION))
			return NULL;
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd))
		goto fail;
	if (t->ctx) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

		if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1 && !SSL_set1_host(ssl, host))
			goto fail;
	}
	*rc = -ECONNREFUSED;
	if (SSL_connect(ssl) != 1)
		goto fail;
	*rc = -EACCES;
	if (t->ctx ? SSL_get_verify_result(ssl) != X509_V_OK ||
			     server_named(SSL_get0_peer_certificate(ssl), host)
		   : join_trusted(ssl, t->pin, host))
		goto fail;
	return ssl;
fail:
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(*own);
	*own = NULL;
	return NULL;
}

/*
 * Sends @req to @server on a new TLS connection trusted as @t says and reads one response into
 * @resp, whose strings borrow *@buf (owned by the caller, vx_free()). Returns 0 (check
 * resp->status) or an errno (-EACCES: the scheduler is not the one we trust).
 */
static int ctl_call(const char *server, const struct call_trust *t, const struct vx_ctl_msg *req,
		    uint8_t **buf, struct vx_ctl_msg *resp)
{
	struct vx_net_opts o = { .flags = VX_NET_NODELAY };
	struct timeval tv = { .tv_sec = CALL_TIMEOUT_S };
	struct sockaddr_storage ss;
	struct vx_frame_hdr h;
	char host[VX_NET_HOST_MAX], nerr[VX_NET_ERR_LEN];
	uint8_t hdr[VX_FRAME_HDR_LEN], *out;
	SSL_CTX *own;
	SSL *ssl;
	socklen_t sl;
	uint16_t port;
	ssize_t n;
	int fd, rc;

	*buf = NULL;
	if (vx_net_parse_hostport(server, 0, host, sizeof(host), &port) ||
	    vx_net_resolve(host, port, false, &ss, &sl, nerr))
		return -EINVAL;
	out = vx_malloc(VX_FRAME_HDR_LEN + VX_CTL_FRAME_MAX);
	if (!out)
		return -ENOMEM;
	n = vx_ctl_msg_encode(req, out, VX_FRAME_HDR_LEN + VX_CTL_FRAME_MAX);
	if (n < 0) {
		vx_free(out);
		return (int)n;
	}
	fd = vx_net_tcp_dial((struct sockaddr *)&ss, sl, &o, nerr);
	if (fd < 0) {
		vx_free(out);
		return fd;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ssl = call_tls(fd, host, t, &own, &rc);
	if (ssl) /* trusted: only now does the request (a token's secret) leave */
		rc = ssl_io(ssl, out, (size_t)n, true);
	if (ssl && !rc)
		rc = ssl_io(ssl, hdr, sizeof(hdr), false);
	if (ssl && !rc) {
		vx_frame_hdr_decode(hdr, &h);
		if (h.tag != VX_TAG_CONTROL_RESPONSE || h.length > VX_CTL_FRAME_MAX)
			rc = -EPROTO;
	}
	if (ssl && !rc)
		rc = ssl_io(ssl, out, h.length, false);
	if (ssl)
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(own);
	close(fd);
	if (!rc)
		rc = vx_ctl_msg_decode(h.tag, out, h.length, resp);
	if (!rc && resp->rid != req->rid)
		rc = -EPROTO;
	if (rc) {
		vx_free(out);
		return rc < 0 ? rc : -EPROTO;
	}
	*buf = out;
	return 0;
}

/* Our files in DATA_DIR/tls as a client context (RENEW, CRL); NULL with @err on failure. */
static struct vx_tls_ctx *own_ctx(const char *tls_dir, char *err, size_t err_len)
{
	char p[4][4096];
	static const char *const names[4] = { "cert.pem", "key.pem", "ca.pem", "crl.pem" };
	struct vx_tls_files f;
	struct vx_tls_ctx *c = NULL;

	for (int i = 0; i < 4; i++) {
		int n = snprintf(p[i], sizeof(p[i]), "%s/%s", tls_dir, names[i]);

		if (n < 0 || (size_t)n >= sizeof(p[i])) {
			snprintf(err, err_len, "the TLS directory's path is too long");
			return NULL;
		}
	}
	f = (struct vx_tls_files){ .cert = p[0], .key = p[1], .ca = p[2], .crl = p[3] };
	if (access(p[3], F_OK))
		f.crl = NULL;
	if (vx_tls_ctx_new(&c, VX_TLS_CLIENT, &f, err, err_len))
		return NULL;
	return c;
}

/* ---------------------------------------------------------------- Keys and files */

/* A fresh key (*@key) and a CSR for it in PEM (*@csr, vx_free()). */
static int csr_make(const char *host_id, EVP_PKEY **key, char **csr, size_t *len)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_REQ *r = X509_REQ_new();
	BIO *b = BIO_new(BIO_s_mem());
	int rc = -ENOMEM;

	*csr = NULL;
	if (k && r && b && X509_REQ_set_version(r, 0) &&
	    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN", MBSTRING_ASC,
				       (const unsigned char *)host_id, -1, -1, 0) &&
	    X509_REQ_set_pubkey(r, k) && X509_REQ_sign(r, k, EVP_sha256()) &&
	    PEM_write_bio_X509_REQ(b, r) && (*csr = vx_pki_bio_take(b, len)))
		rc = 0;
	ERR_clear_error();
	BIO_free(b);
	X509_REQ_free(r);
	if (rc)
		EVP_PKEY_free(k);
	else
		*key = k;
	return rc;
}

static X509 *pem_cert(const uint8_t *pem, size_t len)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	ERR_clear_error();
	return x;
}

/* @name beneath DATA_DIR/tls (no symlink), at most @max bytes, into *@s (vx_free()). */
static int tls_file_get(int dfd, const char *name, size_t max, char **s, size_t *len)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc;

	*s = NULL;
	if (fd < 0)
		return -errno;
	rc = vx_file_read_fd(fd, max, s, len);
	close(fd);
	return rc;
}

/*
 * A CRL the scheduler sent, checked against ca.pem (@ca, NULL: read from @dfd) and the crl.pem
 * held now (vx_pki_crl_check()): a fake scheduler can neither roll it back nor plant a list that
 * fails every handshake. Returns 0 when written.
 */
static int crl_take(int dfd, const uint8_t *ca, size_t ca_len, const uint8_t *crl, size_t len)
{
	char *own = NULL, *old = NULL;
	size_t own_len = 0, old_len = 0;
	int rc = 0;

	if (!ca) {
		rc = tls_file_get(dfd, "ca.pem", VX_CTL_CERT_MAX, &own, &own_len);
		ca = (const uint8_t *)own;
		ca_len = own_len;
	}
	if (!rc && tls_file_get(dfd, "crl.pem", VX_PKI_CRL_MAX, &old, &old_len))
		old = NULL;
	if (!rc) {
		rc = vx_pki_crl_check(crl, len, ca, ca_len, (const uint8_t *)old, old_len);
		if (rc)
			vx_warn("peer: the scheduler sent a CRL that is %s: crl.pem kept",
				rc == -ESTALE ? "older than ours" : "not our CA's");
	}
	if (!rc)
		rc = vx_pki_file_put(dfd, "crl.pem", crl, len, 0644);
	vx_free(own);
	vx_free(old);
	return rc;
}

/*
 * Checks an answer before anything is written (vx_pki_answer_check()): the CA is the one pinned
 * (@pin: the join token's; NULL: the ca.pem already held, so a renewal never swaps the CA), the
 * certificate is signed by it, holds our key and names our host id, and its CRL is the CA's.
 * Then writes key.pem (0600), ca.pem, crl.pem and last cert.pem, each by rename.
 */
static int answer_take(int dfd, const char *host_id, EVP_PKEY *key, const char *pin,
		       const struct vx_ctl_msg *r, char *err, size_t err_len)
{
	char have[VX_PKI_PIN_HEX + 1], *kpem = NULL, *ca_now = NULL;
	size_t klen = 0, ca_len = 0;
	BIO *b = NULL;
	int rc = -EPROTO;

	if (!(r->has & VX_CTL_F_CERT) || !(r->has & VX_CTL_F_CA)) {
		snprintf(err, err_len, "the scheduler's answer holds no certificate");
		goto out;
	}
	if (!pin) {
		if (tls_file_get(dfd, "ca.pem", VX_CTL_CERT_MAX, &ca_now, &ca_len) ||
		    vx_pki_pem_pin((const uint8_t *)ca_now, ca_len, have)) {
			snprintf(err, err_len, "%s/ca.pem is unreadable", TLS_DIR);
			goto out;
		}
		pin = have;
	}
	rc = vx_pki_answer_check(r->ca, r->ca_len, pin, r->cert, r->cert_len, key, host_id);
	if (rc == -EACCES) {
		snprintf(err, err_len, "the scheduler's CA is not the one %s",
			 ca_now ? "we hold" : "the join token names");
		goto out;
	}
	if (!rc && (r->has & VX_CTL_F_CRL) &&
	    vx_pki_crl_check(r->crl, r->crl_len, r->ca, r->ca_len, NULL, 0))
		rc = -EPROTO;
	if (rc) {
		snprintf(err, err_len, "the certificate issued is not ours or not the CA's");
		goto out;
	}
	b = BIO_new(BIO_s_mem());
	if (!b || !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) ||
	    !(kpem = vx_pki_bio_take(b, &klen))) {
		rc = -ENOMEM;
		goto out;
	}
	rc = vx_pki_file_put(dfd, "key.pem", kpem, klen, 0600);
	if (!rc)
		rc = vx_pki_file_put(dfd, "ca.pem", r->ca, r->ca_len, 0644);
	if (!rc && (r->has & VX_CTL_F_CRL)) {
		rc = crl_take(dfd, r->ca, r->ca_len, r->crl, r->crl_len);
		rc = rc == -ESTALE ? 0 : rc; /* ours is newer: kept */
	}
	if (!rc)
		rc = vx_pki_file_put(dfd, "cert.pem", r->cert, r->cert_len, 0644);
	if (rc)
		snprintf(err, err_len, "cannot write %s/: %s", TLS_DIR, vx_strerror(rc));
out:
	ERR_clear_error();
	if (kpem) {
		OPENSSL_cleanse(kpem, klen);
		vx_free(kpem);
	}
	vx_free(ca_now);
	BIO_free(b);
	return rc;
}

/*
 * One JOIN or RENEW to each scheduler in turn until one answers. @token: the join token (JOIN)
 * or NULL (RENEW). Returns 0 or the last error, with @err.
 */
static int request_cert(int dfd, const char *const *servers, uint32_t nr, const char *host_id,
			const char *host_key, const char *token, const char *pin,
			const char *tls_dir, char *err, size_t err_len)
{
	struct call_trust trust = { .pin = pin };
	struct vx_ctl_msg req, resp;
	EVP_PKEY *key = NULL;
	uint8_t *buf;
	char *csr;
	size_t csr_len = 0;
	int rc = csr_make(host_id, &key, &csr, &csr_len);

	if (rc) {
		snprintf(err, err_len, "cannot make a key and CSR");
		return rc;
	}
	if (!token && !(trust.ctx = own_ctx(tls_dir, err, err_len))) {
		vx_free(csr);
		EVP_PKEY_free(key);
		return -EACCES;
	}
	memset(&req, 0, sizeof(req));
	req.tag = VX_TAG_CONTROL_REQUEST;
	req.type = token ? VX_CTL_JOIN : VX_CTL_RENEW;
	req.rid = 1;
	req.version = 1;
	req.host_id = vx_ctl_str_of(host_id);
	req.host_key = vx_ctl_str_of(host_key);
	req.csr = (const uint8_t *)csr;
	req.csr_len = (uint32_t)csr_len;
	req.has = VX_CTL_F_HOST_ID | VX_CTL_F_HOST_KEY | VX_CTL_F_CSR;
	if (token) {
		req.token = vx_ctl_str_of(token);
		req.has |= VX_CTL_F_TOKEN;
	}
	rc = -ENOTCONN;
	snprintf(err, err_len, "no scheduler answered");
	for (uint32_t i = 0; i < nr; i++) {
		rc = ctl_call(servers[i], &trust, &req, &buf, &resp);
		if (rc == -EACCES)
			snprintf(err, err_len,
				 "scheduler %s is not the one %s names (its certificate does not "
				 "lead to that CA): nothing sent",
				 servers[i], token ? "the join token" : "ca.pem");
		if (rc)
			continue;
		if (resp.status) {
			rc = (int)resp.status;
			snprintf(err, err_len, "scheduler %s refused the %s: %s", servers[i],
				 token ? "join (token unknown, expired or used up?)" : "renewal",
				 vx_strerror(rc));
		} else {
			rc = answer_take(dfd, host_id, key, pin, &resp, err, err_len);
		}
		vx_ctl_msg_release(&resp);
		vx_free(buf);
		if (!rc || rc == -EACCES)
			break;
	}
	vx_free(csr);
	EVP_PKEY_free(key);
	vx_tls_ctx_free(trust.ctx);
	return rc;
}

/* DATA_DIR/tls, made (0700) only when @create; -ENOENT when missing otherwise. */
static int tls_dir_open(const char *data_dir, bool create, char *err, size_t err_len)
{
	int dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd, rc;

	if (dfd < 0) {
		rc = -errno;
		snprintf(err, err_len, "cannot open %s: %s", data_dir, vx_strerror(rc));
		return rc;
	}
	if (create && mkdirat(dfd, TLS_DIR, 0700) && errno != EEXIST) {
		rc = -errno;
		snprintf(err, err_len, "cannot create %s/%s: %s", data_dir, TLS_DIR,
			 vx_strerror(rc));
		close(dfd);
		return rc;
	}
	fd = openat(dfd, TLS_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	rc = fd < 0 ? -errno : fd;
	close(dfd);
	if (rc < 0)
		snprintf(err, err_len, "cannot open %s/%s: %s", data_dir, TLS_DIR, vx_strerror(rc));
	return rc;
}

/* ---------------------------------------------------------------- Renewal */

/* notBefore and notAfter of cert.pem (wall seconds); -ENOENT when there is none. */
static int cert_life(int dfd, int64_t *nb, int64_t *na)
{
	struct tm tm;
	char *s;
	size_t len;
	X509 *x;
	int rc = tls_file_get(dfd, "cert.pem", VX_CTL_CERT_MAX, &s, &len);

	if (rc)
		return rc;
	x = pem_cert((const uint8_t *)s, len);
	vx_free(s);
	if (!x)
		return -EINVAL;
	rc = ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) ? 0 : -EINVAL;
	*nb = rc ? 0 : (int64_t)timegm(&tm);
	if (!rc)
		rc = ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) ? 0 : -EINVAL;
	*na = rc ? 0 : (int64_t)timegm(&tm);
	X509_free(x);
	return rc;
}

static void crl_refresh(struct peer_pki *k)
{
	struct call_trust trust = { 0 };
	struct vx_ctl_msg req, resp;
	char err[VX_TLS_ERR_LEN];
	uint8_t *buf;
	bool ok = false;

	trust.ctx = own_ctx(k->tls_dir, err, sizeof(err));
	if (!trust.ctx) {
		vx_warn("peer: cannot ask for the CRL: %s", err);
		return;
	}
	memset(&req, 0, sizeof(req));
	req.tag = VX_TAG_CONTROL_REQUEST;
	req.type = VX_CTL_CRL;
	req.rid = 1;
	req.version = 1;
	req.host_id = vx_ctl_str_of(k->host_id);
	req.host_key = vx_ctl_str_of(k->host_key);
	req.has = VX_CTL_F_HOST_ID | VX_CTL_F_HOST_KEY;
	for (uint32_t i = 0; i < k->nr_servers; i++) {
		if (ctl_call(k->servers[i], &trust, &req, &buf, &resp))
			continue;
		/* a list refused (not our CA's, older than ours) or not written: the next one */
		ok = resp.status == 0 && (resp.has & VX_CTL_F_CRL) &&
		     crl_take(k->dfd, NULL, 0, resp.crl, resp.crl_len) == 0;
		vx_ctl_msg_release(&resp);
		vx_free(buf);
		if (ok)
			break;
	}
	vx_tls_ctx_free(trust.ctx);
	if (!ok)
		vx_warn("peer: no scheduler sent the CRL; trying again later");
}

/* Sleeps until @ms passed or stop; true when stopping. */
static bool pki_sleep(struct peer_pki *k, uint64_t ms)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&k->lock);
	while (!k->stop && pthread_cond_timedwait(&k->cond, &k->lock, &ts) == 0)
		;
	stop = k->stop;
	pthread_mutex_unlock(&k->lock);
	return stop;
}

static void *pki_main(void *arg)
{
	struct peer_pki *k = arg;
	uint64_t crl_next = 0;

	for (;;) {
		int64_t nb = 0, na = 0, now = vx_wall_s(), renew_at;
		uint64_t poll_s, wait_ms;
		char err[256];

		if (cert_life(k->dfd, &nb, &na)) {
			vx_warn("peer: %s/cert.pem is unreadable; no renewal", TLS_DIR);
			return NULL;
		}
		renew_at = nb + (na - nb) * 2 / 3;
		poll_s = (uint64_t)(na - nb) / 3;
		poll_s = poll_s < 2 ? 2 : poll_s > CRL_POLL_MAX_S ? CRL_POLL_MAX_S : poll_s;
		if (vx_now_ms() >= crl_next) {
			crl_refresh(k);
			crl_next = vx_now_ms() + poll_s * 1000;
		}
		if (now >= renew_at) {
			int rc =
				request_cert(k->dfd, k->servers, k->nr_servers, k->host_id,
					     k->host_key, NULL, NULL, k->tls_dir, err, sizeof(err));

			if (!rc) {
				vx_info("peer: certificate renewed");
				continue;
			}
			/* a revoked host keeps asking, and keeps its CRL fresh meanwhile */
			vx_warn("peer: certificate renewal failed: %s", err);
			wait_ms = RETRY_MS;
		} else {
			wait_ms = (uint64_t)(renew_at - now) * 1000;
		}
		if (crl_next > vx_now_ms() && crl_next - vx_now_ms() < wait_ms)
			wait_ms = crl_next - vx_now_ms();
		if (pki_sleep(k, wait_ms ? wait_ms : 1))
			return NULL;
	}
}

/* ---------------------------------------------------------------- Start and stop */

int vx__peer_pki_start(struct vx_peer *p, const char *join_token, char *err, size_t err_len)
{
	struct vx_pki_token t;
	struct peer_pki *k;
	struct stat st;
	int dfd, rc;

	if (!p->cfg.nr_schedulers || p->cfg.tls_external)
		return 0;
	dfd = tls_dir_open(p->data_dir, join_token != NULL, err, err_len);
	if (dfd == -ENOENT && !join_token)
		return 0; /* never joined: the hello's token decides (section 9) */
	if (dfd < 0)
		return dfd;
	if (!fstatat(dfd, "cert.pem", &st, AT_SYMLINK_NOFOLLOW) && join_token) {
		vx_info("peer: already joined (%s/%s/cert.pem): the join token is not used",
			p->data_dir, TLS_DIR);
	} else if (fstatat(dfd, "cert.pem", &st, AT_SYMLINK_NOFOLLOW)) {
		if (!join_token) {
			close(dfd);
			return 0; /* never joined: the hello's token decides (section 9) */
		}
		if (vx_pki_token_parse(join_token, strlen(join_token), &t)) {
			snprintf(err, err_len, "the join token is malformed");
			close(dfd);
			return -EINVAL;
		}
		rc = request_cert(dfd, p->cfg.schedulers, p->cfg.nr_schedulers, p->host_id,
				  p->host_key, join_token, t.pin, NULL, err, err_len);
		OPENSSL_cleanse(&t, sizeof(t));
		if (rc) {
			close(dfd);
			return rc;
		}
		vx_info("peer: joined the cluster as %s; certificate in %s/%s", p->host_id,
			p->data_dir, TLS_DIR);
	}
	k = vx_calloc(1, sizeof(*k));
	if (!k) {
		close(dfd);
		return -ENOMEM;
	}
	k->dfd = dfd;
	for (uint32_t i = 0; i < p->cfg.nr_schedulers; i++)
		k->servers[k->nr_servers++] = p->cfg.schedulers[i];
	snprintf(k->host_id, sizeof(k->host_id), "%s", p->host_id);
	snprintf(k->host_key, sizeof(k->host_key), "%s", p->host_key);
	snprintf(k->tls_dir, sizeof(k->tls_dir), "%s/%s", p->data_dir, TLS_DIR);
	pthread_mutex_init(&k->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&k->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	rc = pthread_create(&k->thread, NULL, pki_main, k);
	if (rc) {
		pthread_cond_destroy(&k->cond);
		pthread_mutex_destroy(&k->lock);
		close(dfd);
		vx_free(k);
		snprintf(err, err_len, "cannot start the renewal thread");
		return -rc;
	}
	p->pki = k;
	return 0;
}

void vx__peer_pki_stop(struct vx_peer *p)
{
	struct peer_pki *k = p->pki;

	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->stop = true;
	pthread_cond_signal(&k->cond);
	pthread_mutex_unlock(&k->lock);
	pthread_join(k->thread, NULL);
	pthread_cond_destroy(&k->cond);
	pthread_mutex_destroy(&k->lock);
	close(k->dfd);
	OPENSSL_cleanse(k->host_key, sizeof(k->host_key));
	vx_free(k);
	p->pki = NULL;
}
