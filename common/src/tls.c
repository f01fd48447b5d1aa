/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls.c: vx_tls.h over OpenSSL 3. TLS 1.3 only, peers always verified, no session tickets or
 * resumption (every connection proves its certificate), no renegotiation (none in 1.3).
 */
#include "vx_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_err.h"
#include "vx_file.h"
#include "vx_log.h"
#include "vx_metrics.h"

#define TLS_CHECK_S 10 /* files are looked at this often for a renewal */

enum { F_CERT, F_KEY, F_CA, F_CRL, F_NR };

struct file_sig {
	bool present;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct vx_tls_ctx {
	SSL_CTX *ssl;
	enum vx_tls_side side;
	char *path[F_NR]; /* path[F_CRL] NULL: no CRL */
	struct file_sig sig[F_NR];
	struct vx_tls_id self;
	time_t next_check;
	time_t next_warn;
};

struct vx_tls_sess {
	SSL *ssl;
	BIO *rb, *wb; /* owned by ssl */
	enum vx_tls_role want_role;
	bool ready;
	bool has_peer;
	bool starved; /* the last read wanted more input than was fed */
	int err;      /* final error, 0 none */
	struct vx_tls_id peer;
	char why[VX_TLS_ERR_LEN];
};

/* ---------------------------------------------------------------- Identity */

const char *vx_tls_role_name(enum vx_tls_role r)
{
	switch (r) {
	case VX_TLS_ROLE_PEER:
		return "peer";
	case VX_TLS_ROLE_SEED:
		return "seed";
	case VX_TLS_ROLE_SCHEDULER:
		return "scheduler";
	default:
		return "none";
	}
}

/* A host id: hostname characters, 1..VX_TLS_HOST_ID_MAX of them. */
static bool host_id_ok(const char *s, size_t n)
{
	if (n == 0 || n > VX_TLS_HOST_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

bool vx_tls_tenant_ok(const char *s, size_t n)
{
	if (n == 0 || n > VX_TLS_TENANT_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');

		if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != '-')))
			return false;
	}
	return true;
}

static bool has_prefix(const char *s, size_t n, const char *p, size_t *plen)
{
	*plen = strlen(p);
	return n >= *plen && memcmp(s, p, *plen) == 0;
}

/* One urn:vx: URI of the subjectAltName into @out; @seen counts host, role, tenant. */
static int take_uri(const char *s, size_t n, struct vx_tls_id *out, unsigned seen[3], char *err,
		    size_t err_len)
{
	size_t pl;

	if (has_prefix(s, n, "urn:vx:host:", &pl)) {
		if (seen[0]++ || !host_id_ok(s + pl, n - pl))
			goto bad;
		memcpy(out->host_id, s + pl, n - pl);
		out->host_id[n - pl] = '\0';
		return 0;
	}
	if (has_prefix(s, n, "urn:vx:role:", &pl)) {
		static const struct {
			const char *name;
			enum vx_tls_role role;
		} roles[] = { { "peer", VX_TLS_ROLE_PEER },
			      { "seed", VX_TLS_ROLE_SEED },
			      { "scheduler", VX_TLS_ROLE_SCHEDULER } };

		if (seen[1]++)
			goto bad;
		for (size_t i = 0; i < VX_ARRAY_SIZE(roles); i++) {
			if (n - pl == strlen(roles[i].name) &&
			    memcmp(s + pl, roles[i].name, n - pl) == 0) {
				out->role = roles[i].role;
				return 0;
			}
		}
		goto bad;
	}
	if (has_prefix(s, n, "urn:vx:tenant:", &pl)) {
		if (seen[2]++ || !vx_tls_tenant_ok(s + pl, n - pl))
			goto bad;
		memcpy(out->tenant, s + pl, n - pl);
		out->tenant[n - pl] = '\0';
		return 0;
	}
bad:
	snprintf(err, err_len,
		 "certificate names its vx identity wrongly (a malformed, unknown "
		 "or repeated urn:vx: name)");
	return -EINVAL;
}

/* The subject's one CN (NULL none); -EINVAL for two, or one that is not plain text. */
static int subject_cn(X509 *cert, const char **cn, size_t *n)
{
	const X509_NAME *name = X509_get_subject_name(cert);
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	const ASN1_STRING *d;

	*cn = NULL;
	*n = 0;
	if (i < 0)
		return 0;
	if (X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return -EINVAL;
	d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	if (!d || ASN1_STRING_length(d) <= 0)
		return -EINVAL;
	*cn = (const char *)ASN1_STRING_get0_data(d);
	*n = (size_t)ASN1_STRING_length(d);
	return 0;
}

static int not_after(X509 *cert, time_t *out)
{
	const ASN1_TIME *t = X509_get0_notAfter(cert);
	struct tm tm;

	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return -EINVAL;
	*out = timegm(&tm);
	return 0;
}

int vx_tls_identity_of(X509 *cert, struct vx_tls_id *out, char *err, size_t err_len)
{
	struct vx_tls_id id;
	GENERAL_NAMES *gens;
	unsigned seen[3] = { 0 };
	const char *cn;
	size_t cn_len;
	int crit = -1, rc = 0;

	memset(&id, 0, sizeof(id));
	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
	if (!gens) {
		snprintf(err, err_len, "certificate has %s subjectAltName: not a vx identity",
			 crit == -2 ? "more than one" : "no");
		return -EINVAL;
	}
	for (int i = 0; i < sk_GENERAL_NAME_num(gens) && !rc; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const char *s;
		size_t n, pl;

		if (g->type != GEN_URI)
			continue;
		s = (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
		n = (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier);
		if (!s || !has_prefix(s, n, "urn:vx:", &pl))
			continue;
		rc = take_uri(s, n, &id, seen, err, err_len);
	}
	GENERAL_NAMES_free(gens);
	if (rc)
		return rc;
	if (seen[1] != 1) {
		snprintf(err, err_len, "certificate names no vx role: not a vx identity");
		return -EINVAL;
	}
	if (subject_cn(cert, &cn, &cn_len)) {
		snprintf(err, err_len, "certificate subject has a bad or repeated CN");
		return -EINVAL;
	}
	if (!seen[0]) {
		/* only the scheduler may go without a host URI: it is "scheduler" (or its CN) */
		if (id.role != VX_TLS_ROLE_SCHEDULER) {
			snprintf(err, err_len, "certificate names no vx host: not a vx identity");
			return -EINVAL;
		}
		if (cn && !host_id_ok(cn, cn_len)) {
			snprintf(err, err_len, "certificate CN is not a host id");
			return -EINVAL;
		}
		snprintf(id.host_id, sizeof(id.host_id), "%.*s", cn ? (int)cn_len : 9,
			 cn ? cn : "scheduler");
	} else if (cn && !(cn_len == strlen(id.host_id) && memcmp(cn, id.host_id, cn_len) == 0)) {
		snprintf(err, err_len, "certificate CN differs from its vx host name");
		return -EINVAL;
	}
	if (not_after(cert, &id.not_after)) {
		snprintf(err, err_len, "certificate has no readable end of validity");
		return -EINVAL;
	}
	*out = id;
	return 0;
}

int vx_tls_identity_der(const uint8_t *der, size_t len, struct vx_tls_id *out, char *err,
			size_t err_len)
{
	const unsigned char *p = der;
	X509 *x;
	int rc;

	if (len > INT32_MAX)
		return -EINVAL;
	x = d2i_X509(NULL, &p, (long)len);
	if (!x) {
		ERR_clear_error();
		snprintf(err, err_len, "not a DER certificate");
		return -EINVAL;
	}
	rc = vx_tls_identity_of(x, out, err, err_len);
	X509_free(x);
	return rc;
}

/* ---------------------------------------------------------------- Contexts */

/* OpenSSL's last error as text into @err after @what (and clears its queue). */
static void ssl_err(char *err, size_t err_len, const char *what, const char *path)
{
	unsigned long e = ERR_peek_last_error();
	char buf[200] = "unknown error";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	snprintf(err, err_len, "%s %s: %s", what, path, buf);
}

int vx_tls_key_mode_ok(const char *path, char *err, size_t err_len)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		int rc = -errno;

		snprintf(err, err_len, "cannot open %s: %s", path, vx_strerror(rc));
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_len, "%s is not a regular file", path);
		return -EINVAL;
	}
	if (st.st_mode & 077) {
		snprintf(err, err_len, "%s is open to group or others (mode %03o): chmod 600 it",
			 path, (unsigned)(st.st_mode & 0777));
		return -EPERM;
	}
	return 0;
}

#define VX_TLS_PEM_MAX (256u * 1024)

int vx_tls_pem_read(const char *path, bool secret, char **out, size_t *len, char *err,
		    size_t err_len)
{
	char *buf = NULL;
	int fd, rc;

	*out = NULL;
	*len = 0;
	if (secret) {
		rc = vx_tls_key_mode_ok(path, err, err_len);
		if (rc)
			return rc;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_len, "cannot open %s: %s", path, vx_strerror(rc));
		return rc;
	}
	rc = vx_file_read_fd(fd, VX_TLS_PEM_MAX, &buf, len);
	close(fd);
	if (rc || !strstr(buf, "-----BEGIN ")) {
		snprintf(err, err_len, "%s is not a PEM file", path);
		vx_tls_pem_free(buf, buf ? *len : 0);
		*len = 0;
		return rc ? rc : -EINVAL;
	}
	*out = buf;
	return 0;
}

void vx_tls_pem_free(char *pem, size_t len)
{
	if (!pem)
		return;
	OPENSSL_cleanse(pem, len);
	vx_free(pem);
}

static int no_passphrase(char *buf, int size, int rw, void *u)
{
	(void)buf;
	(void)size;
	(void)rw;
	(void)u;
	return 0; /* an encrypted key is refused, never prompted for */
}

/* The private key from @path, checked for its mode on the descriptor it is read from. */
static int load_key(SSL_CTX *ssl, const char *path, char *err, size_t err_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
	struct stat st;
	EVP_PKEY *k;
	BIO *b;

	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_len, "cannot open %s: %s", path, vx_strerror(rc));
		return rc;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		rc = vx_tls_key_mode_ok(path, err, err_len);
		return rc ? rc : -EPERM;
	}
	b = BIO_new_fd(fd, BIO_CLOSE);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	k = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
	BIO_free(b);
	if (!k) {
		ssl_err(err, err_len, "cannot read the private key", path);
		return -EINVAL;
	}
	rc = SSL_CTX_use_PrivateKey(ssl, k) == 1 ? 0 : -EINVAL;
	EVP_PKEY_free(k);
	if (!rc && SSL_CTX_check_private_key(ssl) != 1)
		rc = -EINVAL;
	if (rc)
		ssl_err(err, err_len, "the private key does not fit the certificate in", path);
	return rc;
}

static int load_crl(SSL_CTX *ssl, const char *path, char *err, size_t err_len)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ssl);
	BIO *b = BIO_new_file(path, "r");
	X509_CRL *crl;
	int n = 0;

	if (!b) {
		ssl_err(err, err_len, "cannot open the CRL", path);
		return -ENOENT;
	}
	while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL))) {
		int ok = X509_STORE_add_crl(st, crl);

		X509_CRL_free(crl);
		if (!ok) {
			BIO_free(b);
			ssl_err(err, err_len, "cannot use the CRL", path);
			return -EINVAL;
		}
		n++;
	}
	BIO_free(b);
	ERR_clear_error(); /* the end of the file */
	if (!n) {
		snprintf(err, err_len, "%s holds no PEM CRL", path);
		return -EINVAL;
	}
	X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
	return 0;
}

static int file_sig(const char *path, struct file_sig *s)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	if (!path)
		return 0;
	if (stat(path, &st) != 0)
		return -errno;
	s->present = true;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtime = st.st_mtim;
	return 0;
}

/* A fresh SSL_CTX from @c's files, with our identity into @self. */
static int build(const struct vx_tls_ctx *c, SSL_CTX **out, struct vx_tls_id *self, char *err,
		 size_t err_len)
{
	SSL_CTX *ssl;
	X509 *me;
	int mode = SSL_VERIFY_PEER, rc;

	for (int i = 0; i < F_NR; i++) {
		if (c->path[i] && access(c->path[i], R_OK) != 0) {
			rc = -errno;
			snprintf(err, err_len, "cannot read %s: %s", c->path[i], vx_strerror(rc));
			return rc;
		}
	}
	ssl = SSL_CTX_new(c->side == VX_TLS_CLIENT ? TLS_client_method() : TLS_server_method());
	if (!ssl)
		return -ENOMEM;
	rc = -EINVAL;
	if (!SSL_CTX_set_min_proto_version(ssl, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ssl, TLS1_3_VERSION))
		goto fail_ssl;
	if (c->path[F_CERT]) {
		if (SSL_CTX_use_certificate_chain_file(ssl, c->path[F_CERT]) != 1) {
			ssl_err(err, err_len, "cannot use the certificate", c->path[F_CERT]);
			goto fail;
		}
		rc = load_key(ssl, c->path[F_KEY], err, err_len);
		if (rc)
			goto fail;
	}
	rc = -EINVAL;
	if (SSL_CTX_load_verify_locations(ssl, c->path[F_CA], NULL) != 1) {
		ssl_err(err, err_len, "cannot use the CA file", c->path[F_CA]);
		goto fail;
	}
	if (c->path[F_CRL]) {
		rc = load_crl(ssl, c->path[F_CRL], err, err_len);
		if (rc)
			goto fail;
	}
	memset(self, 0, sizeof(*self));
	me = c->path[F_CERT] ? SSL_CTX_get0_certificate(ssl) : NULL;
	rc = !c->path[F_CERT] ? 0 : me ? vx_tls_identity_of(me, self, err, err_len) : -EINVAL;
	if (rc)
		goto fail;
	if (me && self->not_after <= time(NULL)) {
		snprintf(err, err_len, "certificate %s has expired: renew it", c->path[F_CERT]);
		rc = -EINVAL;
		goto fail;
	}
	if (c->side == VX_TLS_SERVER)
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(ssl, mode, NULL);
	if (c->side != VX_TLS_CLIENT) {
		(void)SSL_CTX_set_num_tickets(ssl, 0);
		(void)SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
	}
	SSL_CTX_set_options(ssl, SSL_OP_NO_TICKET);
	/* AES-128-GCM first: 10 AES rounds a block where AES-256 takes 14 (the data plane) */
	if (!SSL_CTX_set_ciphersuites(ssl, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
					   "TLS_CHACHA20_POLY1305_SHA256"))
		goto fail_ssl;
	*out = ssl;
	return 0;

fail_ssl:
	ssl_err(err, err_len, "cannot set up TLS 1.3 for", c->path[F_CERT]);
fail:
	SSL_CTX_free(ssl);
	return rc;
}

static void sigs_take(struct vx_tls_ctx *c)
{
	for (int i = 0; i < F_NR; i++)
		(void)file_sig(c->path[i], &c->sig[i]);
}

int vx_tls_ctx_new(struct vx_tls_ctx **out, enum vx_tls_side side, const struct vx_tls_files *files,
		   char *err, size_t err_len)
{
	struct vx_tls_ctx *c;
	const char *p[F_NR] = { files->cert, files->key, files->ca, files->crl };
	int rc;

	*out = NULL;
	if (!files->ca || !files->cert != !files->key || (!files->cert && side != VX_TLS_CLIENT)) {
		snprintf(err, err_len, "TLS needs a certificate, its key and the CA file");
		return -EINVAL;
	}
	c = vx_calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->side = side;
	for (int i = 0; i < F_NR; i++) {
		if (p[i] && !(c->path[i] = vx_strdup(p[i]))) {
			vx_tls_ctx_free(c);
			return -ENOMEM;
		}
	}
	sigs_take(c);
	rc = build(c, &c->ssl, &c->self, err, err_len);
	if (rc) {
		vx_tls_ctx_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int vx_tls_ctx_new_like(struct vx_tls_ctx **out, enum vx_tls_side side, const struct vx_tls_ctx *c,
			char *err, size_t err_len)
{
	const struct vx_tls_files f = { .cert = c->path[F_CERT],
					.key = c->path[F_KEY],
					.ca = c->path[F_CA],
					.crl = c->path[F_CRL] };

	return vx_tls_ctx_new(out, side, &f, err, err_len);
}

void vx_tls_ctx_free(struct vx_tls_ctx *c)
{
	if (!c)
		return;
	SSL_CTX_free(c->ssl);
	for (int i = 0; i < F_NR; i++)
		vx_free(c->path[i]);
	vx_free(c);
}

SSL_CTX *vx_tls_ctx_ssl(const struct vx_tls_ctx *c)
{
	return c->ssl;
}

const struct vx_tls_id *vx_tls_ctx_self(const struct vx_tls_ctx *c)
{
	return &c->self;
}

int vx_tls_ctx_reload(struct vx_tls_ctx *c, bool force, char *err, size_t err_len)
{
	struct file_sig now[F_NR];
	struct vx_tls_id self;
	bool changed = force;
	SSL_CTX *ssl;
	int rc;

	for (int i = 0; i < F_NR; i++) {
		(void)file_sig(c->path[i], &now[i]);
		if (memcmp(&now[i], &c->sig[i], sizeof(now[i])) != 0)
			changed = true;
	}
	if (!changed)
		return 0;
	rc = build(c, &ssl, &self, err, err_len);
	if (rc)
		return rc;
	SSL_CTX_free(c->ssl); /* sessions on it hold their own reference */
	c->ssl = ssl;
	c->self = self;
	memcpy(c->sig, now, sizeof(now));
	c->next_warn = 0;
	return 1;
}

void vx_tls_ctx_tick(struct vx_tls_ctx *c, const char *what, time_t now)
{
	char err[VX_TLS_ERR_LEN];
	int rc;

	if (now >= c->next_check) {
		c->next_check = now + TLS_CHECK_S;
		rc = vx_tls_ctx_reload(c, false, err, sizeof(err));
		if (rc == 1)
			vx_info("%s: TLS certificate files changed: reloaded (new connections use "
				"them)",
				what);
		else if (rc < 0)
			vx_warn("%s: TLS files changed but cannot be used (the old ones stay): %s",
				what, err);
	}
	if (c->path[F_CERT] && now >= c->next_warn &&
	    c->self.not_after - now < VX_TLS_EXPIRY_WARN_S) {
		c->next_warn = now + 86400;
		if (c->self.not_after <= now)
			vx_err("%s: TLS certificate %s has expired: peers refuse it; renew it",
			       what, c->path[F_CERT]);
		else
			vx_warn("%s: TLS certificate %s expires in %lld hours: renew it", what,
				c->path[F_CERT], (long long)(c->self.not_after - now) / 3600);
	}
}

/* ---------------------------------------------------------------- Sessions */

int vx_tls_sess_new(struct vx_tls_sess **out, struct vx_tls_ctx *ctx, const char *peer_name,
		    enum vx_tls_role want_role)
{
	struct vx_tls_sess *s;
	uint8_t ip[16];

	*out = NULL;
	s = vx_calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->want_role = want_role;
	s->ssl = SSL_new(ctx->ssl);
	s->rb = BIO_new(BIO_s_mem());
	s->wb = BIO_new(BIO_s_mem());
	if (!s->ssl || !s->rb || !s->wb) {
		BIO_free(s->rb);
		BIO_free(s->wb);
		SSL_free(s->ssl);
		vx_free(s);
		return -ENOMEM;
	}
	BIO_set_mem_eof_return(s->rb, -1); /* empty: "try again", not end of stream */
	BIO_set_mem_eof_return(s->wb, -1);
	SSL_set_bio(s->ssl, s->rb, s->wb);
	if (ctx->side == VX_TLS_CLIENT) {
		SSL_set_connect_state(s->ssl);
		if (peer_name) {
			bool lit = inet_pton(AF_INET, peer_name, ip) == 1 ||
				   inet_pton(AF_INET6, peer_name, ip) == 1;

			if ((lit && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl),
								  peer_name) != 1) ||
			    (!lit && (SSL_set1_host(s->ssl, peer_name) != 1 ||
				      SSL_set_tlsext_host_name(s->ssl, peer_name) != 1))) {
				vx_tls_sess_free(s);
				return -EINVAL;
			}
		}
	} else {
		SSL_set_accept_state(s->ssl);
	}
	*out = s;
	return 0;
}

void vx_tls_sess_free(struct vx_tls_sess *s)
{
	if (!s)
		return;
	SSL_free(s->ssl); /* frees the BIOs */
	vx_free(s);
}

/* Why the peer was refused, from OpenSSL's error queue and the verify result. */
static int sess_fail(struct vx_tls_sess *s, int ret)
{
	int e = SSL_get_error(s->ssl, ret);
	unsigned long q;
	long v;

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -EAGAIN;
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	q = ERR_peek_last_error();
	v = SSL_get_verify_result(s->ssl);
	s->err = -EPROTO;
	if (v != X509_V_OK) {
		s->err = -EACCES;
		snprintf(s->why, sizeof(s->why), "certificate refused: %s",
			 X509_verify_cert_error_string(v));
	} else if (q) {
		int r = ERR_GET_REASON(q);

		if (ERR_GET_LIB(q) == ERR_LIB_SSL &&
		    (r == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE ||
		     r == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
		     r == SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED ||
		     r == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED ||
		     r == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE || r == SSL_R_TLSV1_ALERT_UNKNOWN_CA ||
		     r == SSL_R_CERTIFICATE_VERIFY_FAILED))
			s->err = -EACCES;
		ERR_error_string_n(q, s->why, sizeof(s->why));
	} else {
		snprintf(s->why, sizeof(s->why), "TLS error %d", e);
	}
	ERR_clear_error();
	return s->err;
}

/* The handshake just finished: the peer's certificate must be a vx identity of the role. */
static int sess_accept_peer(struct vx_tls_sess *s)
{
	X509 *pc = SSL_get0_peer_certificate(s->ssl);
	char err[VX_TLS_ERR_LEN];

	if (!pc) {
		/* a server that requires one failed the handshake already; a client always gets
		 * one (verify peer) */
		s->ready = true;
		return 0;
	}
	if (vx_tls_identity_of(pc, &s->peer, err, sizeof(err))) {
		snprintf(s->why, sizeof(s->why), "%s", err);
		return s->err = -EACCES;
	}
	if (s->want_role != VX_TLS_ROLE_NONE && s->peer.role != s->want_role) {
		snprintf(s->why, sizeof(s->why), "peer certificate has role %s, not %s",
			 vx_tls_role_name(s->peer.role), vx_tls_role_name(s->want_role));
		return s->err = -EACCES;
	}
	s->has_peer = true;
	s->ready = true;
	return 0;
}

int vx_tls_sess_handshake(struct vx_tls_sess *s)
{
	int r;

	if (s->err)
		return s->err;
	if (s->ready)
		return 0;
	ERR_clear_error();
	r = SSL_do_handshake(s->ssl);
	if (r == 1) {
		r = sess_accept_peer(s);
		vx_metric_inc(&vx_m_tls_handshakes, r ? VX_M_TLS_REFUSED : VX_M_TLS_OK);
		return r;
	}
	r = sess_fail(s, r);
	if (r == 0) { /* closed during the handshake: final too */
		snprintf(s->why, sizeof(s->why), "peer closed during the TLS handshake");
		s->err = -EPROTO;
	}
	if (r != -EAGAIN)
		vx_metric_inc(&vx_m_tls_handshakes, VX_M_TLS_REFUSED);
	return r == 0 ? s->err : r;
}

int vx_tls_sess_feed(struct vx_tls_sess *s, const void *buf, size_t len)
{
	if (len > INT32_MAX)
		return -EINVAL;
	if (len && BIO_write(s->rb, buf, (int)len) != (int)len)
		return -ENOMEM;
	s->starved = s->starved && len == 0;
	return 0;
}

ssize_t vx_tls_sess_read(struct vx_tls_sess *s, void *buf, size_t len)
{
	size_t got = 0;
	int rc = vx_tls_sess_handshake(s);

	if (rc) {
		s->starved = rc == -EAGAIN;
		return rc;
	}
	ERR_clear_error();
	rc = SSL_read_ex(s->ssl, buf, len, &got);
	s->starved = rc != 1;
	if (rc == 1)
		return (ssize_t)got;
	return sess_fail(s, rc);
}

ssize_t vx_tls_sess_write(struct vx_tls_sess *s, const void *buf, size_t len)
{
	size_t put = 0;
	int rc = vx_tls_sess_handshake(s);

	if (rc)
		return rc;
	if (!len)
		return 0;
	ERR_clear_error();
	rc = SSL_write_ex(s->ssl, buf, len, &put);
	if (rc == 1)
		return (ssize_t)put;
	rc = sess_fail(s, rc);
	return rc == 0 ? -EPIPE : rc;
}

bool vx_tls_sess_in_pending(const struct vx_tls_sess *s)
{
	return !s->err && !s->starved && (SSL_pending(s->ssl) > 0 || BIO_ctrl_pending(s->rb) > 0);
}

size_t vx_tls_sess_out_pending(const struct vx_tls_sess *s)
{
	return BIO_ctrl_pending(s->wb);
}

const uint8_t *vx_tls_sess_out_peek(struct vx_tls_sess *s, size_t *len)
{
	char *p = NULL;
	long n = BIO_get_mem_data(s->wb, &p);

	*len = n > 0 ? (size_t)n : 0;
	return (const uint8_t *)p;
}

void vx_tls_sess_out_consume(struct vx_tls_sess *s, size_t n)
{
	uint8_t scratch[4096];

	while (n > 0) {
		int k = BIO_read(s->wb, scratch, (int)VX_MIN(n, sizeof(scratch)));

		if (k <= 0)
			break;
		n -= (size_t)k;
	}
}

void vx_tls_sess_shutdown(struct vx_tls_sess *s)
{
	if (s->ready && !s->err) {
		(void)SSL_shutdown(s->ssl);
		ERR_clear_error();
	}
}

bool vx_tls_sess_ready(const struct vx_tls_sess *s)
{
	return s->ready && !s->err;
}

const struct vx_tls_id *vx_tls_sess_peer(const struct vx_tls_sess *s)
{
	return s->ready && s->has_peer ? &s->peer : NULL;
}

int vx_tls_peer_recheck(struct ssl_st *ssl, struct ssl_ctx_st *ctx)
{
	X509 *peer = SSL_get0_peer_certificate(ssl);
	X509_STORE_CTX *sc;
	int ok;

	if (!peer)
		return 0; /* no certificate: nothing was granted by one */
	sc = X509_STORE_CTX_new();
	if (!sc || !X509_STORE_CTX_init(sc, SSL_CTX_get_cert_store(ctx), peer,
					SSL_get_peer_cert_chain(ssl))) {
		X509_STORE_CTX_free(sc);
		ERR_clear_error();
		return -ENOMEM;
	}
	ok = X509_verify_cert(sc);
	if (ok != 1)
		vx_debug("tls: an open connection's certificate no longer verifies: %s",
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(sc)));
	X509_STORE_CTX_free(sc);
	ERR_clear_error();
	return ok == 1 ? 0 : -EKEYREJECTED;
}

int vx_tls_sess_recheck(const struct vx_tls_sess *s, const struct vx_tls_ctx *ctx)
{
	return s->ready && s->has_peer ? vx_tls_peer_recheck(s->ssl, ctx->ssl) : 0;
}

const char *vx_tls_sess_why(const struct vx_tls_sess *s)
{
	return s->why;
}
