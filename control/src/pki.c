/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pki.c: the control plane's CA (vx_pki.h): its files, the certificates it issues (the profile
 * of spec/control.md section 11), the CRL, and the two pure parsers a network client reaches
 * (the join token and the CSR check). OpenSSL 3's X509/EVP APIs do all the ASN.1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pki_int.h"
#include "vx_alloc.h"
#include "vx_compiler.h"
#include "vx_err.h"
#include "vx_file.h"
#include "vx_hex.h"
#include "vx_log.h"
#include "vx_time.h"
#include "vx_tls.h"

#define CA_DAYS		 3650
#define SERVER_DAYS	 365
#define SERVER_RENEW_S	 (30 * 86400)
#define CRL_VALID_S	 (7 * 86400)
#define CSR_MAX_PEM_NAME "CERTIFICATE REQUEST"
#define ROLE_URI	 "urn:vx:role:"
#define TENANT_URI	 "urn:vx:tenant:"
#define HOST_URI	 "urn:vx:host:"
#define SAN_MAX		 2048

static const char *const role_names[] = { "peer", "seed", "scheduler" };

const char *vx_pki_role_name(enum vx_pki_role r)
{
	return (unsigned)r < 3 ? role_names[r] : NULL;
}

int vx_pki_role_parse(const char *s, enum vx_pki_role *out)
{
	for (unsigned i = 0; i < 3; i++) {
		if (s && strcmp(s, role_names[i]) == 0) {
			*out = (enum vx_pki_role)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---------------------------------------------------------------- Parsers */

static bool lower_hex(const char *s, size_t n)
{
	return vx_hex_is_lower(s, n);
}

int vx_pki_token_parse(const char *s, size_t len, struct vx_pki_token *out)
{
	const size_t id = 5, sec = id + VX_PKI_TOKEN_ID_HEX + 1,
		     pin = sec + VX_PKI_TOKEN_SECRET_HEX + 1;

	memset(out, 0, sizeof(*out));
	if (len == VX_PKI_TOKEN_LEN + 1 && s[VX_PKI_TOKEN_LEN] == '\n')
		len--;
	if (len != VX_PKI_TOKEN_LEN || memcmp(s, "vxj1.", 5) != 0 || s[sec - 1] != '.' ||
	    s[pin - 1] != '.' || !lower_hex(s + id, VX_PKI_TOKEN_ID_HEX) ||
	    !lower_hex(s + sec, VX_PKI_TOKEN_SECRET_HEX) || !lower_hex(s + pin, VX_PKI_PIN_HEX))
		return -EINVAL;
	memcpy(out->id, s + id, VX_PKI_TOKEN_ID_HEX);
	memcpy(out->secret, s + sec, VX_PKI_TOKEN_SECRET_HEX);
	memcpy(out->pin, s + pin, VX_PKI_PIN_HEX);
	return 0;
}

bool vx__pki_rest_blank(BIO *b)
{
	char c;

	while (BIO_read(b, &c, 1) == 1) {
		if (c != '\n' && c != '\r' && c != ' ' && c != '\t')
			return false;
	}
	return true;
}

static int csr_load(const uint8_t *pem, size_t len, X509_REQ **out)
{
	X509_REQ *req = NULL;
	EVP_PKEY *k;
	EVP_PKEY_CTX *kc = NULL;
	char group[64];
	size_t glen = 0;
	BIO *b;
	int rc;

	*out = NULL;
	if (len > VX_PKI_CSR_MAX)
		return -EMSGSIZE;
	if (len == 0 || memchr(pem, '\0', len))
		return -EINVAL;
	b = BIO_new_mem_buf(pem, (int)len);
	if (!b)
		return -ENOMEM;
	req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
	rc = req && vx__pki_rest_blank(b) ? 0 : -EINVAL;
	BIO_free(b);
	if (rc)
		goto out;
	k = X509_REQ_get0_pubkey(req);
	rc = -EPROTO;
	if (!k || !EVP_PKEY_is_a(k, "EC") ||
	    !EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					    &glen) ||
	    strcmp(group, "prime256v1") != 0)
		goto out;
	kc = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	if (!kc || EVP_PKEY_public_check(kc) != 1)
		goto out;
	rc = X509_REQ_verify(req, k) == 1 ? 0 : -EBADMSG;
out:
	EVP_PKEY_CTX_free(kc);
	ERR_clear_error();
	if (rc)
		X509_REQ_free(req);
	else
		*out = req;
	return rc;
}

int vx_pki_csr_check(const uint8_t *pem, size_t len)
{
	X509_REQ *req;
	int rc = csr_load(pem, len, &req);

	X509_REQ_free(req);
	return rc;
}

/* ---------------------------------------------------------------- Files */

VX_PRINTF(3, 4) static void set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

int vx_pki_file_put(int dfd, const char *name, const void *data, size_t len, mode_t mode)
{
	char tmp[128];
	size_t off = 0;
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), ".%s.%ld.tmp", name, (long)getpid());
	(void)unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t n = write(fd, (const char *)data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	if (!rc && (fchmod(fd, mode) || fsync(fd)))
		rc = -errno;
	close(fd);
	if (!rc && renameat(dfd, tmp, dfd, name))
		rc = -errno;
	if (rc)
		(void)unlinkat(dfd, tmp, 0);
	return rc;
}

/*
 * Reads @name beneath @dfd (no symlink). A @secret file must be a regular file with no group or
 * other permission bit. Returns 0, -ENOENT, -EACCES (mode), or the read's error.
 */
static int file_get(int dfd, const char *name, bool secret, char **out, size_t *len,
		    int64_t *mtime_ns)
{
	struct stat st;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int rc;

	*out = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode) || (secret && (st.st_mode & 077))) {
		close(fd);
		return -EACCES;
	}
	if (mtime_ns)
		*mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	rc = vx_file_read_fd(fd, VX_PKI_CRL_MAX, out, len);
	close(fd);
	return rc;
}

char *vx_pki_bio_take(BIO *b, size_t *len)
{
	char *data = NULL, *out;
	long n = BIO_get_mem_data(b, &data);

	if (n <= 0 || !(out = vx_malloc((size_t)n + 1)))
		return NULL;
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*len = (size_t)n;
	return out;
}

static char *x509_pem(X509 *x, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL;

	if (b && PEM_write_bio_X509(b, x))
		s = vx_pki_bio_take(b, len);
	BIO_free(b);
	return s;
}

static int key_put(int dfd, const char *name, EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL;
	size_t len = 0;
	int rc = -ENOMEM;

	if (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))
		s = vx_pki_bio_take(b, &len);
	BIO_free(b);
	if (s) {
		rc = vx_pki_file_put(dfd, name, s, len, 0600);
		OPENSSL_cleanse(s, len);
		vx_free(s);
	}
	return rc;
}

static int key_get(int dfd, const char *name, EVP_PKEY **out)
{
	char *s;
	size_t len;
	BIO *b;
	int rc = file_get(dfd, name, true, &s, &len, NULL);

	*out = NULL;
	if (rc)
		return rc;
	b = BIO_new_mem_buf(s, (int)len);
	if (b)
		*out = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	OPENSSL_cleanse(s, len);
	vx_free(s);
	ERR_clear_error();
	return *out ? 0 : -EINVAL;
}

static int cert_get(int dfd, const char *name, X509 **out)
{
	char *s;
	size_t len;
	BIO *b;
	int rc = file_get(dfd, name, false, &s, &len, NULL);

	*out = NULL;
	if (rc)
		return rc;
	b = BIO_new_mem_buf(s, (int)len);
	if (b)
		*out = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	vx_free(s);
	ERR_clear_error();
	return *out ? 0 : -EINVAL;
}

/* ---------------------------------------------------------------- Certificates */

bool vx_pki_host_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > VX_PKI_HOST_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = e && X509_add_ext(x, e, -1);

	X509_EXTENSION_free(e);
	return ok ? 0 : -EINVAL;
}

/* 128 random bits (top bit clear: a positive INTEGER of at most 16 bytes) as lowercase hex. */
static int serial_new(X509 *x, char *hex)
{
	uint8_t rnd[16];
	BIGNUM *bn;
	int rc;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	rnd[0] &= 0x7f;
	rnd[0] |= 0x40; /* always 16 bytes, so the hex is always 32 digits */
	vx_hex_encode(rnd, sizeof(rnd), hex);
	hex[VX_PKI_SERIAL_HEX] = '\0';
	bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
	rc = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ? 0 : -ENOMEM;
	BN_free(bn);
	return rc;
}

struct cert_spec {
	const char *cn;
	const char *san; /* subjectAltName value in OpenSSL's conf syntax; NULL: none */
	bool ca;
	int64_t back_s; /* notBefore = now - back_s (clock skew) */
	int64_t life_s;
};

/* A certificate for @pub signed by @issuer_key (@issuer NULL: self-signed). */
static int cert_make(EVP_PKEY *pub, X509 *issuer, EVP_PKEY *issuer_key, const struct cert_spec *cs,
		     X509 **out, char *serial)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_NAME *n;
	int rc = -ENOMEM;

	*out = NULL;
	if (!x || !X509_set_version(x, 2))
		goto fail;
	rc = serial_new(x, serial);
	if (rc)
		goto fail;
	rc = -ENOMEM;
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -(long)cs->back_s) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)cs->life_s))
		goto fail;
	n = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cs->cn, -1,
					-1, 0) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n) ||
	    !X509_set_pubkey(x, pub))
		goto fail;
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	rc = -EINVAL;
	if (cs->ca) {
		if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
		    add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") ||
		    add_ext(x, &ctx, NID_subject_key_identifier, "hash"))
			goto fail;
	} else {
		if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
		    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") ||
		    add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth") ||
		    add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
		    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") ||
		    (cs->san && add_ext(x, &ctx, NID_subject_alt_name, cs->san)))
			goto fail;
	}
	if (!X509_sign(x, issuer_key, EVP_sha256()))
		goto fail;
	*out = x;
	ERR_clear_error();
	return 0;
fail:
	ERR_clear_error();
	X509_free(x);
	return rc;
}

static int ca_create(struct vx_pki *p)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	struct cert_spec cs = { "vx cluster CA", NULL, true, 300, (int64_t)CA_DAYS * 86400 };
	char serial[VX_PKI_SERIAL_HEX + 1];
	X509 *x = NULL;
	char *pem = NULL;
	size_t len = 0;
	int rc = k ? cert_make(k, NULL, k, &cs, &x, serial) : -ENOMEM;

	if (!rc)
		rc = (pem = x509_pem(x, &len)) ? 0 : -ENOMEM;
	/* the key first: a ca.pem without its key would be a CA nobody can sign with */
	if (!rc)
		rc = key_put(p->dfd, "ca.key", k);
	if (!rc)
		rc = vx_pki_file_put(p->dfd, "ca.pem", pem, len, 0644);
	vx_free(pem);
	X509_free(x);
	EVP_PKEY_free(k);
	if (!rc)
		vx_info("pki: created a new cluster CA in %s", p->dir);
	return rc;
}

static int ca_load(struct vx_pki *p, char *err, size_t err_len)
{
	int rc;

	rc = key_get(p->dfd, "ca.key", &p->ca_key);
	if (rc == -ENOENT) {
		rc = ca_create(p);
		if (rc) {
			set_err(err, err_len, "cannot create the CA in %s: %s", p->dir,
				vx_strerror(rc));
			return rc;
		}
		rc = key_get(p->dfd, "ca.key", &p->ca_key);
	}
	if (rc == -EACCES) {
		set_err(err, err_len,
			"%s/ca.key must be a regular file that only its owner may read (chmod "
			"600)",
			p->dir);
		return rc;
	}
	if (!rc)
		rc = cert_get(p->dfd, "ca.pem", &p->ca);
	if (!rc && X509_check_private_key(p->ca, p->ca_key) != 1)
		rc = -EINVAL;
	ERR_clear_error();
	if (rc) {
		set_err(err, err_len, "cannot use the CA in %s: %s", p->dir, vx_strerror(rc));
		return rc;
	}
	p->ca_pem = x509_pem(p->ca, &p->ca_pem_len);
	if (!p->ca_pem || vx_pki_x509_pin(p->ca, p->pin))
		return -ENOMEM;
	return 0;
}

const char *vx_pki_ca_pem(const struct vx_pki *p, size_t *len)
{
	*len = p->ca_pem_len;
	return p->ca_pem;
}

const char *vx_pki_ca_pin(const struct vx_pki *p)
{
	return p->pin;
}

const char *vx_pki_dir(const struct vx_pki *p)
{
	return p->dir;
}

int vx_pki_issue(struct vx_pki *p, const uint8_t *csr, size_t csr_len, const char *host_id,
		 enum vx_pki_role role, const char *tenant, uint32_t ttl_s, char **pem,
		 size_t *pem_len, char *serial)
{
	struct cert_spec cs = { host_id, NULL, false, 0, ttl_s };
	char san[SAN_MAX];
	X509_REQ *req;
	X509 *x = NULL;
	int64_t live;
	int rc;

	*pem = NULL;
	/* "scheduler" is the host of the scheduler's own certificate: no daemon's */
	if (!vx_pki_host_id_ok(host_id) || strcmp(host_id, "scheduler") == 0 ||
	    role > VX_PKI_ROLE_SEED || ttl_s < VX_PKI_CERT_TTL_MIN || ttl_s > VX_PKI_CERT_TTL_MAX)
		return -EINVAL;
	if (!tenant)
		tenant = "";
	if (tenant[0] && !vx_tls_tenant_ok(tenant, strlen(tenant)))
		return -EINVAL;
	rc = csr_load(csr, csr_len, &req);
	if (rc)
		return rc;
	/* a host renewing in a loop would fill pki_certs and, once revoked, the CRL */
	live = vx__pki_db_certs_live(p, host_id);
	if (live < 0 || live >= VX_PKI_CERTS_PER_HOST) {
		X509_REQ_free(req);
		if (live >= 0)
			vx_warn("pki: %s holds %lld unexpired certificates: no more until one "
				"expires",
				host_id, (long long)live);
		return live < 0 ? VX_EDB : -EBUSY;
	}
	/* the identity is ours: only the CSR's public key goes into the certificate */
	snprintf(san, sizeof(san), "URI:" HOST_URI "%s,URI:" ROLE_URI "%s%s%s", host_id,
		 vx_pki_role_name(role), tenant[0] ? ",URI:" TENANT_URI : "", tenant);
	cs.san = san;
	cs.back_s = ttl_s / 10 < 300 ? ttl_s / 10 : 300;
	rc = cert_make(X509_REQ_get0_pubkey(req), p->ca, p->ca_key, &cs, &x, serial);
	X509_REQ_free(req);
	if (!rc)
		rc = (*pem = x509_pem(x, pem_len)) ? 0 : -ENOMEM;
	if (!rc)
		rc = vx__pki_db_cert_add(p, serial, host_id, role, tenant,
					 vx_wall_s() + (int64_t)ttl_s);
	X509_free(x);
	if (rc) {
		vx_free(*pem);
		*pem = NULL;
	}
	return rc;
}

/* Seconds until @x expires (negative: expired); INT64_MIN when unreadable. */
static int64_t cert_left_s(const X509 *x)
{
	int days = 0, secs = 0;

	if (!ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)))
		return INT64_MIN;
	return (int64_t)days * 86400 + secs;
}

static int server_san(const char *const *names, uint32_t nr, char *out, size_t len)
{
	size_t off =
		(size_t)snprintf(out, len, "URI:" HOST_URI "scheduler,URI:" ROLE_URI "scheduler");

	for (uint32_t i = 0; i < nr && off < len; i++) {
		uint8_t a[16];
		bool ip = inet_pton(AF_INET, names[i], a) == 1 ||
			  inet_pton(AF_INET6, names[i], a) == 1;

		if (!ip && !vx_pki_host_id_ok(names[i]))
			return -EINVAL; /* a DNS name of letters, digits, dots and dashes only */
		off += (size_t)snprintf(out + off, len - off, ",%s:%s", ip ? "IP" : "DNS",
					names[i]);
	}
	return off < len ? 0 : -ENAMETOOLONG;
}

int vx_pki_server_cert(struct vx_pki *p, const char *const *names, uint32_t nr, char *err,
		       size_t err_len)
{
	struct cert_spec cs = { "scheduler", NULL, false, 300, (int64_t)SERVER_DAYS * 86400 };
	char san[SAN_MAX], serial[VX_PKI_SERIAL_HEX + 1];
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	char *pem;
	size_t len = 0;
	int rc = key_get(p->dfd, "server.key", &k);

	if (rc == -EACCES) {
		set_err(err, err_len,
			"%s/server.key must be a regular file that only its owner may read "
			"(chmod 600)",
			p->dir);
		return rc;
	}
	if (!rc && cert_get(p->dfd, "server.pem", &x) == 0 && cert_left_s(x) > SERVER_RENEW_S &&
	    X509_check_private_key(x, k) == 1) {
		X509_free(x);
		EVP_PKEY_free(k);
		ERR_clear_error();
		return 0;
	}
	X509_free(x);
	x = NULL;
	EVP_PKEY_free(k);
	rc = server_san(names, nr, san, sizeof(san));
	if (rc) {
		set_err(err, err_len, "the scheduler's listen names do not fit a certificate");
		return rc;
	}
	cs.san = san;
	k = EVP_EC_gen("P-256");
	rc = k ? cert_make(k, p->ca, p->ca_key, &cs, &x, serial) : -ENOMEM;
	if (!rc)
		rc = key_put(p->dfd, "server.key", k);
	if (!rc) {
		pem = x509_pem(x, &len);
		rc = pem ? vx_pki_file_put(p->dfd, "server.pem", pem, len, 0644) : -ENOMEM;
		vx_free(pem);
	}
	if (!rc)
		rc = vx__pki_db_cert_add(p, serial, "scheduler", VX_PKI_ROLE_SCHEDULER, NULL,
					 vx_wall_s() + cs.life_s);
	X509_free(x);
	EVP_PKEY_free(k);
	if (rc)
		set_err(err, err_len, "cannot write the server certificate in %s: %s", p->dir,
			vx_strerror(rc));
	return rc;
}

/* ---------------------------------------------------------------- CRL */

static int crl_sign(struct vx_pki *p)
{
	struct pki_revoked *rv = NULL;
	uint32_t nr = 0;
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	BIO *b = BIO_new(BIO_s_mem());
	int64_t now = vx_wall_s();
	struct timespec ts;
	char *pem = NULL;
	size_t len = 0;
	int rc = vx__pki_db_revoked(p, &rv, &nr);

	if (rc)
		goto out;
	rc = -ENOMEM;
	if (!crl || !t || !num || !b || !X509_CRL_set_version(crl, 1) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(p->ca)) ||
	    !ASN1_TIME_set(t, (time_t)now) || !X509_CRL_set1_lastUpdate(crl, t) ||
	    !ASN1_TIME_set(t, (time_t)(now + CRL_VALID_S)) || !X509_CRL_set1_nextUpdate(crl, t))
		goto out;
	for (uint32_t i = 0; i < nr; i++) {
		X509_REVOKED *r = X509_REVOKED_new();
		uint8_t sb[16];
		BIGNUM *bn = NULL;
		bool ok;

		for (unsigned j = 0; j < 16; j++)
			sb[j] = (uint8_t)(vx_hex_val(rv[i].serial[2 * j]) << 4 |
					  vx_hex_val(rv[i].serial[2 * j + 1]));
		bn = BN_bin2bn(sb, sizeof(sb), NULL);
		ok = r && bn && BN_to_ASN1_INTEGER(bn, num) &&
		     X509_REVOKED_set_serialNumber(r, num) &&
		     ASN1_TIME_set(t, (time_t)rv[i].when) &&
		     X509_REVOKED_set_revocationDate(r, t) && X509_CRL_add0_revoked(crl, r);
		BN_free(bn);
		if (!ok) {
			X509_REVOKED_free(r);
			goto out;
		}
	}
	/* the CRL number only grows: microseconds of the wall clock */
	clock_gettime(CLOCK_REALTIME, &ts);
	if (!ASN1_INTEGER_set_uint64(num,
				     (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) || !X509_CRL_sort(crl) ||
	    !X509_CRL_sign(crl, p->ca_key, EVP_sha256()) || !PEM_write_bio_X509_CRL(b, crl) ||
	    !(pem = vx_pki_bio_take(b, &len)))
		goto out;
	rc = vx_pki_file_put(p->dfd, "crl.pem", pem, len, 0644);
	if (!rc) {
		vx_free(p->crl_pem);
		p->crl_pem = pem;
		p->crl_len = len;
		p->crl_last = now;
		p->crl_next = now + CRL_VALID_S;
		p->crl_nr = nr;
		p->crl_mtime_ns = 0; /* read back once, for the mtime */
		pem = NULL;
		vx_info("pki: CRL signed (%u revoked)", nr);
	}
out:
	ERR_clear_error();
	vx_free(pem);
	vx_free(rv);
	BIO_free(b);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return rc;
}

static int64_t asn1_wall(const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return (int64_t)timegm(&tm);
}

/* crl.pem again when another process (vx cert revoke) signed a newer one. */
static int crl_reload(struct vx_pki *p)
{
	struct stat st;
	char *s;
	size_t len;
	int64_t mt;
	X509_CRL *crl = NULL;
	BIO *b;
	int rc;

	if (fstatat(p->dfd, "crl.pem", &st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (p->crl_pem && mt == p->crl_mtime_ns)
		return 0;
	rc = file_get(p->dfd, "crl.pem", false, &s, &len, &mt);
	if (rc)
		return rc;
	b = BIO_new_mem_buf(s, (int)len);
	if (b)
		crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!crl || X509_CRL_verify(crl, p->ca_key) != 1) {
		X509_CRL_free(crl);
		vx_free(s);
		ERR_clear_error();
		return -EINVAL;
	}
	p->crl_last = asn1_wall(X509_CRL_get0_lastUpdate(crl));
	p->crl_next = asn1_wall(X509_CRL_get0_nextUpdate(crl));
	p->crl_nr = X509_CRL_get_REVOKED(crl) ? sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) : 0;
	X509_CRL_free(crl);
	vx_free(p->crl_pem);
	p->crl_pem = s;
	p->crl_len = len;
	p->crl_mtime_ns = mt;
	return 0;
}

static uint64_t crl_due_s(const struct vx_pki *p)
{
	int64_t half = p->crl_last + (p->crl_next - p->crl_last) / 2, now = vx_wall_s();

	return !p->crl_pem || half <= now ? 0 : (uint64_t)(half - now);
}

int vx_pki_crl(struct vx_pki *p, bool force, const char **pem, size_t *len)
{
	int rc = crl_reload(p);

	if (rc && rc != -ENOENT && rc != -EINVAL)
		return rc;
	/* a revoke whose CRL lost the race with another signer's rename is signed again */
	if (rc || force || crl_due_s(p) == 0 || vx__pki_db_revoked_nr(p) != p->crl_nr) {
		rc = crl_sign(p);
		if (rc)
			return rc;
		(void)crl_reload(p);
	}
	*pem = p->crl_pem;
	*len = p->crl_len;
	return 0;
}

/* ---------------------------------------------------------------- Open and close */

int vx_pki_open(struct vx_pki **out, const char *dir, const char *db_path, char *err,
		size_t err_len)
{
	struct vx_pki *p;
	struct stat st;
	const char *pem;
	size_t len;
	int rc;

	*out = NULL;
	p = vx_calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->dfd = -1;
	rc = dir ? snprintf(p->dir, sizeof(p->dir), "%s", dir)
		 : snprintf(p->dir, sizeof(p->dir), "%s.pki", db_path);
	if (rc < 0 || (size_t)rc >= sizeof(p->dir)) {
		rc = -ENAMETOOLONG;
		set_err(err, err_len, "the PKI directory name is too long");
		goto fail;
	}
	if (mkdir(p->dir, 0700) && errno != EEXIST) {
		rc = -errno;
		set_err(err, err_len, "cannot create %s: %s", p->dir, vx_strerror(rc));
		goto fail;
	}
	p->dfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dfd < 0 || fstat(p->dfd, &st)) {
		rc = -errno;
		set_err(err, err_len, "cannot open %s: %s", p->dir, vx_strerror(rc));
		goto fail;
	}
	rc = ca_load(p, err, err_len);
	if (rc)
		goto fail;
	rc = vx__pki_db_open(p, db_path, err, err_len);
	if (rc)
		goto fail;
	rc = vx_pki_crl(p, false, &pem, &len);
	if (rc) {
		set_err(err, err_len, "cannot sign the CRL in %s: %s", p->dir, vx_strerror(rc));
		goto fail;
	}
	*out = p;
	return 0;
fail:
	vx_pki_close(p);
	return rc;
}

void vx_pki_close(struct vx_pki *p)
{
	if (!p)
		return;
	if (p->dfd >= 0)
		close(p->dfd);
	sqlite3_close(p->db);
	EVP_PKEY_free(p->ca_key);
	X509_free(p->ca);
	vx_free(p->ca_pem);
	vx_free(p->crl_pem);
	vx_free(p);
}
