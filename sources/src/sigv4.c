/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigv4.c: AWS Signature Version 4 for S3 requests (OpenSSL HMAC-SHA256). Our own rather than
 * CURLOPT_AWS_SIGV4 because S3 also needs x-amz-content-sha256 signed and sent, the signing
 * time must be fixable for the published AWS test vectors (tests/unit/test_sources_s3.c), and
 * a retry re-signs on the worker at no cost.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "vx_source_parse.h"

#include "vx_compiler.h"

#define SIGV4_CANON_MAX 16384

int vx_source_uri_encode(const char *s, size_t len, bool keep_slash, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
			     c == '~' || (keep_slash && c == '/');

		if (o + (plain ? 1 : 3) + 1 > size)
			return -EMSGSIZE;
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o + 1 > size)
		return -EMSGSIZE;
	out[o] = '\0';
	return 0;
}

static void to_hex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static int hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int len = 32;

	return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out,
		    &len)
		       ? 0
		       : -ENOMEM;
}

static int cmp_hdr(const void *a, const void *b)
{
	const struct vx_source_sigv4_hdr *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Appends formatted text at *o of @buf (cap SIGV4_CANON_MAX); -EMSGSIZE past it. */
static VX_PRINTF(3, 4) int put(char *buf, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *o, SIGV4_CANON_MAX - *o, fmt, ap);
	va_end(ap);

	if (n < 0 || (size_t)n >= SIGV4_CANON_MAX - *o)
		return -EMSGSIZE;
	*o += (size_t)n;
	return 0;
}

int vx_source_sigv4_sign(const struct vx_source_sigv4_req *r, char *out, size_t size)
{
	struct vx_source_sigv4_hdr h[VX_SOURCE_SIGV4_HDRS_MAX];
	unsigned char digest[32], k1[32], k2[32], k3[32], k4[32], sig[32];
	char canon[SIGV4_CANON_MAX], signed_hdrs[512], hexbuf[65], sighex[65];
	char date[9], scope[128], key0[256], sts[512];
	size_t o = 0, so = 0;
	int rc = -EMSGSIZE, n;

	if (!r->method || !r->canon_uri || !r->canon_query || !r->payload_sha256 || !r->amz_date ||
	    strlen(r->amz_date) != 16 || !r->region || !r->service || !r->access_key ||
	    !r->secret_key || r->nr_hdrs > VX_SOURCE_SIGV4_HDRS_MAX || (r->nr_hdrs && !r->hdrs))
		return -EINVAL;
	memcpy(h, r->hdrs, r->nr_hdrs * sizeof(h[0]));
	qsort(h, r->nr_hdrs, sizeof(h[0]), cmp_hdr);
	if (put(canon, &o, "%s\n%s\n", r->method, r->canon_uri) ||
	    put(canon, &o, "%s\n%s", r->canon_query, ""))
		goto out_wipe;
	signed_hdrs[0] = '\0';
	for (uint32_t i = 0; i < r->nr_hdrs; i++) {
		if (put(canon, &o, "%s:%s\n", h[i].name, h[i].value))
			goto out_wipe;
		n = snprintf(signed_hdrs + so, sizeof(signed_hdrs) - so, "%s%s", i ? ";" : "",
			     h[i].name);
		if (n < 0 || (size_t)n >= sizeof(signed_hdrs) - so)
			goto out_wipe;
		so += (size_t)n;
	}
	if (put(canon, &o, "\n%s\n%s", signed_hdrs, r->payload_sha256))
		goto out_wipe;
	rc = -ENOMEM;
	if (!SHA256((const unsigned char *)canon, o, digest))
		goto out_wipe;
	to_hex(digest, 32, hexbuf);
	memcpy(date, r->amz_date, 8);
	date[8] = '\0';
	rc = -EMSGSIZE;
	n = snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, r->region, r->service);
	if (n < 0 || (size_t)n >= sizeof(scope))
		goto out_wipe;
	n = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", r->amz_date, scope, hexbuf);
	if (n < 0 || (size_t)n >= sizeof(sts))
		goto out_wipe;
	n = snprintf(key0, sizeof(key0), "AWS4%s", r->secret_key);
	if (n < 0 || (size_t)n >= sizeof(key0))
		goto out_wipe;
	rc = hmac(key0, strlen(key0), date, k1);
	if (!rc)
		rc = hmac(k1, 32, r->region, k2);
	if (!rc)
		rc = hmac(k2, 32, r->service, k3);
	if (!rc)
		rc = hmac(k3, 32, "aws4_request", k4);
	if (!rc)
		rc = hmac(k4, 32, sts, sig);
	if (rc)
		goto out_wipe;
	to_hex(sig, 32, sighex);
	n = snprintf(out, size, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		     r->access_key, scope, signed_hdrs, sighex);
	rc = n < 0 || (size_t)n >= size ? -EMSGSIZE : 0;
out_wipe:
	/* Derived keys are as good as the secret. */
	memset(key0, 0, sizeof(key0));
	memset(k1, 0, sizeof(k1));
	memset(k2, 0, sizeof(k2));
	memset(k3, 0, sizeof(k3));
	memset(k4, 0, sizeof(k4));
	return rc;
}
