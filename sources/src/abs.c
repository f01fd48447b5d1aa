/* SPDX-License-Identifier: Apache-2.0 */
/*
 * abs.c: abs://ACCOUNT/CONTAINER/BLOB, Azure Blob Storage through its REST API: stat is a
 * ranged GET of byte 0 (as for http), reads are ranged GETs, a container or a prefix ending in
 * '/' lists with List Blobs pages (comp=list, NextMarker; parsed by s3xml.c's reader).
 *
 * Endpoint: $AZURE_STORAGE_BLOB_ENDPOINT (the account's blob endpoint, e.g. Azurite's
 * "http://127.0.0.1:10000/devstoreaccount1"), else https://ACCOUNT.blob.core.windows.net.
 * Credentials, first found: Shared Key ($AZURE_STORAGE_KEY, base64, used only when
 * $AZURE_STORAGE_ACCOUNT is unset or names the URL's account), a SAS ($AZURE_STORAGE_SAS_TOKEN,
 * appended to every request's query), else none (public containers). Like s3 and gs, abs acts
 * with this host's credentials and is never fetched for another host (source.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "source_int.h"

#include "vx_alloc.h"
#include "vx_err.h"

#define ABS_VERSION   "2021-08-06"
#define ABS_BLOB_MAX  1024u
#define ABS_PAGES_MAX 100000u
#define ABS_HDR_LINES 4

struct abs_priv {
	char base[1024];     /* endpoint without a trailing '/' */
	char base_path[512]; /* its path ("" or "/devstoreaccount1"), part of the signed resource */
	char account[64];
	char container[64];
	char blob[ABS_BLOB_MAX + 1];	       /* decoded; "" for the container */
	unsigned char key[128];		       /* decoded account key; secret */
	size_t key_len;			       /* 0: no Shared Key */
	char sas[2048];			       /* SAS query without '?'; secret */
	char path_enc[ABS_BLOB_MAX * 3 + 200]; /* base_path/container/blob, URI-encoded */
};

struct abs_hdrs {
	char lines[ABS_HDR_LINES][256];
	const char *ptrs[ABS_HDR_LINES + 1];
};

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && v[0] ? v : NULL;
}

static bool name_ok(const char *s, size_t min, size_t max, bool hyphen)
{
	size_t n = strlen(s);

	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (hyphen && c == '-')))
			return false;
	}
	return true;
}

static int abs_creds(struct abs_priv *p, const char *url, struct vx_source_error *detail)
{
	const char *acct = env("AZURE_STORAGE_ACCOUNT");
	const char *key = env("AZURE_STORAGE_KEY");
	const char *sas = env("AZURE_STORAGE_SAS_TOKEN");
	unsigned char buf[192];
	size_t n;
	int len;

	if (key && (!acct || strcmp(acct, p->account) == 0)) {
		n = strlen(key);
		if (n % 4 || n > 4 * (sizeof(buf) / 3)) {
			vx__detail_set(detail, VX_EURL, 0, url, "AZURE_STORAGE_KEY is not base64");
			return VX_EURL;
		}
		len = EVP_DecodeBlock(buf, (const unsigned char *)key, (int)n);
		/* EVP_DecodeBlock counts the padding as zero bytes */
		for (size_t i = n; len > 0 && i > 0 && key[i - 1] == '='; i--)
			len--;
		if (len <= 0 || (size_t)len > sizeof(p->key)) {
			memset(buf, 0, sizeof(buf));
			vx__detail_set(detail, VX_EURL, 0, url, "AZURE_STORAGE_KEY is not base64");
			return VX_EURL;
		}
		memcpy(p->key, buf, (size_t)len);
		p->key_len = (size_t)len;
		memset(buf, 0, sizeof(buf));
		return 0;
	}
	if (sas) {
		if (sas[0] == '?')
			sas++;
		if (strlen(sas) >= sizeof(p->sas) || strpbrk(sas, " #\r\n")) {
			vx__detail_set(detail, VX_EURL, 0, url, "bad AZURE_STORAGE_SAS_TOKEN");
			return VX_EURL;
		}
		snprintf(p->sas, sizeof(p->sas), "%s", sas);
	}
	return 0;
}

static int abs_endpoint(struct abs_priv *p, const char *url, struct vx_source_error *detail)
{
	const char *ep = env("AZURE_STORAGE_BLOB_ENDPOINT");
	struct vx_source_url *e;
	size_t n;
	int rc = 0;

	if (!ep) {
		snprintf(p->base, sizeof(p->base), "https://%s.blob.core.windows.net", p->account);
		return 0;
	}
	e = vx_malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	if (vx_source_url_parse(e, ep, strlen(ep)) != 0 ||
	    (strcmp(e->scheme, "http") != 0 && strcmp(e->scheme, "https") != 0) ||
	    (e->query && e->query[0]) || (e->user && e->user[0]) || strlen(ep) >= sizeof(p->base) ||
	    strlen(e->path) >= sizeof(p->base_path)) {
		vx__detail_set(detail, VX_EURL, 0, url, "bad AZURE_STORAGE_BLOB_ENDPOINT");
		rc = VX_EURL;
	} else {
		snprintf(p->base, sizeof(p->base), "%s", ep);
		snprintf(p->base_path, sizeof(p->base_path), "%s", e->path);
		n = strlen(p->base);
		while (n > 0 && p->base[n - 1] == '/')
			p->base[--n] = '\0';
		n = strlen(p->base_path);
		while (n > 0 && p->base_path[n - 1] == '/')
			p->base_path[--n] = '\0';
	}
	vx_free(e);
	return rc;
}

/* abs://ACCOUNT/CONTAINER[/BLOB]: the names, the endpoint and the credentials. */
static int abs_resolve(const char *url, const struct vx_source_url *u, struct abs_priv *p,
		       struct vx_source_error *detail)
{
	const char *path = u->path[0] == '/' ? u->path + 1 : u->path;
	const char *slash = strchr(path, '/');
	char enc[ABS_BLOB_MAX * 3 + 1];
	size_t clen = slash ? (size_t)(slash - path) : strlen(path);
	int rc;

	memset(p, 0, sizeof(*p));
	if (u->port || (u->user && u->user[0]) || (u->query && u->query[0]) ||
	    strlen(u->host) >= sizeof(p->account) || clen >= sizeof(p->container))
		goto bad;
	snprintf(p->account, sizeof(p->account), "%s", u->host);
	memcpy(p->container, path, clen);
	p->container[clen] = '\0';
	/* Azure's rules: account 3-24 of [a-z0-9], container 3-63 of [a-z0-9-] */
	if (!name_ok(p->account, 3, 24, false) || !name_ok(p->container, 3, 63, true))
		goto bad;
	if (slash && vx__pct_decode(slash + 1, strlen(slash + 1), p->blob, sizeof(p->blob)) < 0)
		goto bad;
	rc = abs_endpoint(p, url, detail);
	if (!rc)
		rc = abs_creds(p, url, detail);
	if (rc)
		return rc;
	if (vx_source_uri_encode(p->blob, strlen(p->blob), true, enc, sizeof(enc)) ||
	    snprintf(p->path_enc, sizeof(p->path_enc), "%s/%s/%s", p->base_path, p->container,
		     enc) >= (int)sizeof(p->path_enc))
		goto bad;
	return 0;
bad:
	vx__detail_set(detail, VX_EURL, 0, url,
		       "abs URLs are abs://ACCOUNT/CONTAINER/BLOB (Azure's account and container "
		       "names)");
	return VX_EURL;
}

static void abs_wipe(struct abs_priv *p)
{
	memset(p->key, 0, sizeof(p->key));
	memset(p->sas, 0, sizeof(p->sas));
}

/* RFC 1123 date, in English whatever the locale. */
static void http_date(char *out, size_t cap)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
		 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * The headers of one GET: x-ms-date, x-ms-version and, with a Shared Key, Authorization
 * "SharedKey ACCOUNT:SIG" over the string to sign of the Blob service (version 2015-02-21
 * and later): the verb, ten empty standard headers, @range (the Range header curl will send,
 * "" for none), the x-ms- headers, then "/ACCOUNT" + the encoded path and @canon_query
 * ("\nname:value" lines sorted by name, values decoded).
 */
static int abs_sign(const struct abs_priv *p, const char *range, const char *canon_query,
		    struct abs_hdrs *h)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned char sig[64];
	unsigned int mac_len = 0;
	char date[40], *sts;
	size_t cap = sizeof(p->path_enc) + strlen(canon_query) + 512;
	uint32_t l = 0;
	int n;

	memset(h, 0, sizeof(*h));
	http_date(date, sizeof(date));
	snprintf(h->lines[l++], sizeof(h->lines[0]), "x-ms-date: %s", date);
	snprintf(h->lines[l++], sizeof(h->lines[0]), "x-ms-version: %s", ABS_VERSION);
	if (p->key_len) {
		sts = vx_malloc(cap);
		if (!sts)
			return -ENOMEM;
		n = snprintf(sts, cap,
			     "GET\n\n\n\n\n\n\n\n\n\n\n%s\nx-ms-date:%s\nx-ms-version:%s\n/%s%s%s",
			     range, date, ABS_VERSION, p->account, p->path_enc, canon_query);
		if (n < 0 || (size_t)n >= cap ||
		    !HMAC(EVP_sha256(), p->key, (int)p->key_len, (const unsigned char *)sts,
			  (size_t)n, mac, &mac_len)) {
			vx_free(sts);
			return -EINVAL;
		}
		vx_free(sts);
		EVP_EncodeBlock(sig, mac, (int)mac_len);
		snprintf(h->lines[l++], sizeof(h->lines[0]), "Authorization: SharedKey %s:%s",
			 p->account, (const char *)sig);
		memset(mac, 0, sizeof(mac));
	}
	for (uint32_t i = 0; i < l; i++)
		h->ptrs[i] = h->lines[i];
	return 0;
}

/* The URL of @p's blob (with the SAS when there is one): owned by the caller. */
static char *blob_url(const struct abs_priv *p)
{
	size_t cap = strlen(p->base) + sizeof(p->path_enc) + sizeof(p->sas) + 2;
	char *url = vx_malloc(cap);
	const char *path = p->path_enc + strlen(p->base_path);

	if (url)
		snprintf(url, cap, "%s%s%s%s", p->base, path, p->sas[0] ? "?" : "", p->sas);
	return url;
}

static int abs_open(struct vx_source_obj *obj, const struct vx_source_url *u,
		    struct vx_source_error *detail)
{
	struct abs_priv *p;
	struct abs_hdrs *h;
	int rc;

	p = vx_calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	obj->priv = p;
	rc = abs_resolve(obj->url, u, p, detail);
	if (rc)
		return rc;
	if (!p->blob[0] || p->blob[strlen(p->blob) - 1] == '/') {
		obj->stat.is_dir = true;
		snprintf(obj->stat.final_url, sizeof(obj->stat.final_url), "%s", obj->url);
		return 0;
	}
	obj->read_url = blob_url(p);
	h = vx_malloc(sizeof(*h));
	if (!obj->read_url || !h) {
		vx_free(h);
		return -ENOMEM;
	}
	rc = abs_sign(p, "bytes=0-0", "", h);
	if (!rc)
		rc = vx__http_stat(obj, obj->read_url, h->ptrs, NULL, NULL, NULL, 0, detail);
	memset(h, 0, sizeof(*h));
	vx_free(h);
	if (detail && rc)
		vx_source_url_redact(obj->url, detail->url, sizeof(detail->url));
	return rc;
}

static int abs_prepare(struct vx_source_obj *obj, struct vx__xfer *x)
{
	const struct abs_priv *p = obj->priv;
	char range[64] = "";
	struct abs_hdrs *h;
	int rc;

	/* the Range header is signed: written exactly as xfer_start() will have curl send it */
	if (x->want_range_hdr && x->left == VX_SOURCE_LEN_TO_END)
		snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long)x->off);
	else if (x->want_range_hdr)
		snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)x->off,
			 (unsigned long long)(x->off + x->left - 1));
	x->url = vx_strdup(obj->read_url);
	h = vx_malloc(sizeof(*h));
	if (!x->url || !h) {
		vx_free(h);
		return -ENOMEM;
	}
	rc = abs_sign(p, range, "", h);
	for (int i = 0; !rc && h->ptrs[i]; i++)
		rc = vx__hdr_append(&x->hdrs, "%s", h->ptrs[i]);
	memset(h, 0, sizeof(*h));
	vx_free(h);
	return rc;
}

static void abs_release(struct vx_source_obj *obj)
{
	if (obj->priv)
		abs_wipe(obj->priv);
	vx_free(obj->priv);
	obj->priv = NULL;
}

/* The query of one List Blobs page and its canonical form for the Shared Key. */
static int list_query(const struct abs_priv *p, const char *prefix, const char *marker, char *query,
		      size_t qcap, char *canon, size_t ccap)
{
	char eprefix[ABS_BLOB_MAX * 3 + 8], emarker[3200];
	int n, m;

	if (vx_source_uri_encode(prefix, strlen(prefix), false, eprefix, sizeof(eprefix)) ||
	    vx_source_uri_encode(marker, strlen(marker), false, emarker, sizeof(emarker)))
		return VX_EURL;
	n = snprintf(query, qcap, "restype=container&comp=list&maxresults=5000%s%s%s%s%s%s",
		     prefix[0] ? "&prefix=" : "", eprefix, marker[0] ? "&marker=" : "", emarker,
		     p->sas[0] ? "&" : "", p->sas);
	m = snprintf(canon, ccap, "\ncomp:list%s%s\nmaxresults:5000%s%s\nrestype:container",
		     marker[0] ? "\nmarker:" : "", marker, prefix[0] ? "\nprefix:" : "", prefix);
	return n < 0 || (size_t)n >= qcap || m < 0 || (size_t)m >= ccap ? VX_EURL : 0;
}

static int abs_list(struct vx_source_ctx *ctx, const char *url, const struct vx_source_url *u,
		    const struct vx_source_opts *opts, vx_source_entry_fn fn, void *arg,
		    struct vx_source_error *detail)
{
	char prefix[ABS_BLOB_MAX + 2], canon[ABS_BLOB_MAX + 1200], *query = NULL, *req = NULL;
	struct vx_source_s3_page page = { 0 };
	struct vx__bucket_list c = { .fn = fn, .arg = arg };
	size_t qcap = VX_SOURCE_URL_MAX + 4096;
	struct vx__fetch *f;
	struct abs_priv *p;
	struct abs_hdrs *h;
	int rc;

	p = vx_calloc(1, sizeof(*p));
	h = vx_malloc(sizeof(*h));
	f = vx_calloc(1, sizeof(*f));
	query = vx_malloc(qcap);
	req = vx_malloc(qcap + 1200);
	if (!p || !h || !f || !query || !req) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = abs_resolve(url, u, p, detail);
	if (rc)
		goto out_free;
	snprintf(prefix, sizeof(prefix), "%s%s", p->blob,
		 p->blob[0] && p->blob[strlen(p->blob) - 1] != '/' ? "/" : "");
	snprintf(c.url_base, sizeof(c.url_base), "abs://%s/%s/", p->account, p->container);
	c.prefix = prefix;
	c.prefix_len = strlen(prefix);
	/* the container's URL is signed, not a blob's */
	snprintf(p->path_enc, sizeof(p->path_enc), "%s/%s", p->base_path, p->container);
	for (uint32_t pages = 0; pages < ABS_PAGES_MAX; pages++) {
		rc = list_query(p, prefix, page.next_token, query, qcap, canon, sizeof(canon));
		if (!rc && snprintf(req, qcap + 1200, "%s/%s?%s", p->base, p->container, query) >=
				   (int)(qcap + 1200))
			rc = VX_EURL;
		if (!rc)
			rc = abs_sign(p, "", canon, h);
		if (rc)
			break;
		memset(f, 0, sizeof(*f));
		f->url = req;
		f->opts = opts;
		f->extra_headers = h->ptrs;
		f->body_max = VX_SOURCE_DOC_MAX;
		rc = vx__fetch_run(ctx, f);
		if (rc) {
			if (detail) {
				*detail = f->detail;
				vx_source_url_redact(url, detail->url, sizeof(detail->url));
			}
			break;
		}
		rc = vx_source_abs_list_parse(f->body, f->body_len, &page, vx__bucket_item, &c);
		vx__fetch_release(f);
		if (rc) {
			if (rc == -EPROTO || rc == -EREMOTEIO) {
				rc = VX_ESOURCE_PROTO;
				vx__detail_set(detail, rc, 200, url, "bad List Blobs reply");
			}
			break;
		}
		if (!page.truncated)
			break;
	}
out_free:
	if (p)
		abs_wipe(p);
	if (h)
		memset(h, 0, sizeof(*h));
	if (query)
		memset(query, 0, qcap);
	if (req)
		memset(req, 0, qcap + 1200);
	vx_free(req);
	vx_free(query);
	vx_free(f);
	vx_free(h);
	vx_free(p);
	return rc;
}

int vx__abs_register(struct vx_source_ctx *ctx)
{
	struct vx__scheme s = {
		.name = "abs",
		.open = abs_open,
		.prepare = abs_prepare,
		.list = abs_list,
		.release = abs_release,
	};

	return vx__scheme_add(ctx, &s);
}
