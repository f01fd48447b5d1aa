/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hijack.c: TLS interception of CONNECT tunnels to the hosts the operator lists
 * (proxy.hijack.hosts), as Dragonfly's hijackHTTPS: the operator's CA (proxy.hijack.ca_cert,
 * ca_key; the key file 0600 or stricter, else the proxy refuses to start) signs a leaf
 * certificate for the CONNECT's host, minted on first use and cached (HIJACK_CACHE_MAX hosts,
 * the least recently used one replaced); every leaf shares one P-256 key made at start. The
 * client's TLS ends here; what it sends inside is plain HTTP for connect.c to hand to
 * libmicrohttpd. OpenSSL 3.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "proxy_int.h"
#include "vx_alloc.h"
#include "vx_log.h"
#include "vx_proxy_fwd.h"
#include "vx_time.h"

#define HIJACK_CACHE_MAX 64
#define HIJACK_LEAF_DAYS 7

struct leaf {
	char host[VX_PROXY_HOST_MAX + 1]; /* "" free */
	X509 *cert;
	uint64_t used;
};

struct vx__hijack {
	X509 *ca;
	EVP_PKEY *ca_key, *leaf_key;
	SSL_CTX *ctx;
	struct vx_proxy_rules hosts;
	pthread_mutex_t lock; /* the cache */
	struct leaf cache[HIJACK_CACHE_MAX];
};

static void ssl_err(char *err, size_t err_len, const char *what, const char *path)
{
	char e[160];

	ERR_error_string_n(ERR_get_error(), e, sizeof(e));
	snprintf(err, err_len, "%s '%s': %s", what, path, e);
}

/* The CA key, only from a regular file no one but its owner may read or write. */
static EVP_PKEY *load_key(const char *path, char *err, size_t err_len)
{
	struct stat st;
	EVP_PKEY *k = NULL;
	FILE *f;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, err_len, "proxy.hijack.ca_key '%s': %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		snprintf(err, err_len,
			 "proxy.hijack.ca_key '%s': mode %04o, must be a regular file of mode 0600 "
			 "or stricter",
			 path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return NULL;
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k)
		ssl_err(err, err_len, "proxy.hijack.ca_key", path);
	return k;
}

int vx__hijack_load(struct vx__hijack **out, const char *ca_cert, const char *ca_key,
		    const char *const *hosts, uint32_t nr_hosts, char *err, size_t err_len)
{
	struct vx__hijack *h = vx_calloc(1, sizeof(*h));
	FILE *f;

	*out = NULL;
	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	if (!nr_hosts || vx_proxy_rules_compile(&h->hosts, hosts, nr_hosts, err, err_len)) {
		if (!nr_hosts)
			snprintf(err, err_len, "proxy.hijack.hosts is empty");
		vx__hijack_free(h);
		return -EINVAL;
	}
	f = fopen(ca_cert, "re");
	h->ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (!h->ca) {
		ssl_err(err, err_len, "proxy.hijack.ca_cert", ca_cert);
		vx__hijack_free(h);
		return -EINVAL;
	}
	h->ca_key = load_key(ca_key, err, err_len);
	if (!h->ca_key || X509_check_private_key(h->ca, h->ca_key) != 1) {
		if (h->ca_key)
			snprintf(err, err_len, "proxy.hijack.ca_key does not match ca_cert");
		vx__hijack_free(h);
		return -EINVAL;
	}
	h->leaf_key = EVP_EC_gen("P-256");
	h->ctx = SSL_CTX_new(TLS_server_method());
	if (!h->leaf_key || !h->ctx || !SSL_CTX_set_min_proto_version(h->ctx, TLS1_2_VERSION)) {
		snprintf(err, err_len, "proxy.hijack: cannot make the leaf key or TLS context");
		vx__hijack_free(h);
		return -ENOMEM;
	}
	SSL_CTX_set_mode(h->ctx,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	*out = h;
	return 0;
}

void vx__hijack_free(struct vx__hijack *h)
{
	if (!h)
		return;
	for (uint32_t i = 0; i < HIJACK_CACHE_MAX; i++)
		X509_free(h->cache[i].cert);
	SSL_CTX_free(h->ctx);
	EVP_PKEY_free(h->leaf_key);
	EVP_PKEY_free(h->ca_key);
	X509_free(h->ca);
	vx_proxy_rules_free(&h->hosts);
	pthread_mutex_destroy(&h->lock);
	vx_free(h);
}

bool vx__hijack_match(const struct vx__hijack *h, const char *host)
{
	return h && vx_proxy_rules_match(&h->hosts, host);
}

static bool add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	bool ok = e && X509_add_ext(x, e, -1) == 1;

	X509_EXTENSION_free(e);
	return ok;
}

/* A leaf for @host signed by the CA, valid from an hour ago for HIJACK_LEAF_DAYS. */
static X509 *mint(struct vx__hijack *h, const char *host, bool ip)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	X509V3_CTX ctx;
	char san[VX_PROXY_HOST_MAX + 8];
	bool ok;

	snprintf(san, sizeof(san), "%s:%s", ip ? "IP" : "DNS", host);
	ok = x && name && RAND_bytes(serial, sizeof(serial)) == 1;
	if (ok) {
		serial[0] &= 0x7f;
		bn = BN_bin2bn(serial, sizeof(serial), NULL);
		ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
		     X509_set_version(x, 2) == 1 &&
		     X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
		     X509_gmtime_adj(X509_getm_notAfter(x), 86400L * HIJACK_LEAF_DAYS) &&
		     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						(const unsigned char *)host, -1, -1, 0) == 1 &&
		     X509_set_subject_name(x, name) == 1 &&
		     X509_set_issuer_name(x, X509_get_subject_name(h->ca)) == 1 &&
		     X509_set_pubkey(x, h->leaf_key) == 1;
	}
	if (ok) {
		X509V3_set_ctx(&ctx, h->ca, x, NULL, NULL, 0);
		ok = add_ext(x, &ctx, NID_subject_alt_name, san) &&
		     add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
		     add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") &&
		     add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") &&
		     add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
		     add_ext(x, &ctx, NID_authority_key_identifier, "keyid") &&
		     X509_sign(x, h->ca_key, EVP_sha256()) > 0;
	}
	BN_free(bn);
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* The cached leaf for @host (a new reference), minted when missing. */
static X509 *leaf_for(struct vx__hijack *h, const char *host, bool ip)
{
	struct leaf *lru = &h->cache[0];
	X509 *x;

	pthread_mutex_lock(&h->lock);
	for (uint32_t i = 0; i < HIJACK_CACHE_MAX; i++) {
		struct leaf *l = &h->cache[i];

		if (l->host[0] && strcmp(l->host, host) == 0) {
			l->used = vx_now_ms();
			X509_up_ref(l->cert);
			pthread_mutex_unlock(&h->lock);
			return l->cert;
		}
		if (!l->host[0] || l->used < lru->used)
			lru = l;
	}
	x = mint(h, host, ip);
	if (x) {
		X509_free(lru->cert);
		lru->cert = x;
		snprintf(lru->host, sizeof(lru->host), "%s", host);
		lru->used = vx_now_ms();
		X509_up_ref(x);
	}
	pthread_mutex_unlock(&h->lock);
	return x;
}

SSL *vx__hijack_accept(struct vx__hijack *h, int fd, const char *host, bool ipv6, uint64_t deadline,
		       char *why, size_t why_len)
{
	struct in_addr a4;
	bool ip = ipv6 || inet_pton(AF_INET, host, &a4) == 1;
	X509 *leaf = leaf_for(h, host, ip);
	SSL *ssl = leaf ? SSL_new(h->ctx) : NULL;

	if (!ssl || SSL_use_certificate(ssl, leaf) != 1 ||
	    SSL_use_PrivateKey(ssl, h->leaf_key) != 1) {
		snprintf(why, why_len, "cannot mint a certificate");
		X509_free(leaf);
		SSL_free(ssl);
		return NULL;
	}
	X509_free(leaf);
	if (vx__tls_accept(ssl, fd, deadline, why, why_len))
		return ssl;
	SSL_free(ssl);
	return NULL;
}

bool vx__tls_accept(SSL *ssl, int fd, uint64_t deadline, char *why, size_t why_len)
{
	if (SSL_set_fd(ssl, fd) != 1) {
		snprintf(why, why_len, "cannot set up TLS");
		ERR_clear_error();
		return false;
	}
	for (;;) {
		int rc = SSL_accept(ssl), e;
		struct pollfd pfd = { .fd = fd };
		uint64_t now = vx_now_ms();

		if (rc == 1)
			return true;
		e = SSL_get_error(ssl, rc);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			snprintf(why, why_len, "client TLS handshake failed");
			break;
		}
		pfd.events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) <= 0) {
			snprintf(why, why_len, "client TLS handshake timed out");
			break;
		}
	}
	ERR_clear_error();
	return false;
}
