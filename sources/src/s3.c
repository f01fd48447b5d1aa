/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s3.c: s3://bucket/key through S3's REST API with SigV4 (sigv4.c), and gs://bucket/key through
 * Google Cloud Storage's S3-compatible XML API (gs_creds() below).
 *
 * Endpoint: opts->s3_endpoint, else $AWS_ENDPOINT_URL, else AWS
 * (https://s3.<region>.amazonaws.com, virtual-hosted unless s3_path_style). A custom endpoint
 * is always addressed path-style, which every S3-compatible store speaks. Credentials: the
 * options, else $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY / $AWS_SESSION_TOKEN, else the
 * shared credentials file's profile; with none, requests go unsigned (public buckets).
 * Objects stat and read exactly like HTTP (ranged GET); listings use ListObjectsV2 pages and
 * follow continuation tokens.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "source_int.h"

#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_log.h"

#define S3_EMPTY_SHA256	 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_PAGES_MAX	 100000u
#define S3_CRED_FILE_MAX 65536u
#define S3_KEY_MAX	 1024u
#define S3_HDR_LINES	 4

struct s3_priv {
	char base[600]; /* "http://127.0.0.1:9000", no trailing slash */
	char host[400]; /* Host header as curl will send it */
	char bucket[256];
	char key[S3_KEY_MAX + 1]; /* decoded */
	char region[64];
	char access[256];
	char secret[256]; /* secret */
	char token[2048]; /* secret */
	bool anonymous;
	bool path_style;
	bool gs; /* gs:// (listed entries keep the scheme) */
};

/* Signed header lines for one request. */
struct s3_hdrs {
	char lines[S3_HDR_LINES][2600];
	const char *ptrs[S3_HDR_LINES + 1];
};

/* Reads aws_access_key_id & co. of [@profile] from an INI credentials file. */
static int read_cred_file(const char *path, const char *profile, struct s3_priv *p)
{
	char line[2300], section[128] = "";
	FILE *f = fopen(path, "r");
	size_t total = 0;
	bool found = false;

	if (!f)
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		char *k = line, *eq, *v, *e;

		total += strlen(line);
		if (total > S3_CRED_FILE_MAX)
			break;
		while (*k == ' ' || *k == '\t')
			k++;
		e = k + strlen(k);
		while (e > k && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (*k == '[') {
			snprintf(section, sizeof(section), "%.*s", (int)strcspn(k + 1, "]"), k + 1);
			continue;
		}
		if (*k == '#' || *k == ';' || strcmp(section, profile) != 0)
			continue;
		eq = strchr(k, '=');
		if (!eq)
			continue;
		v = eq + 1;
		while (eq > k && (eq[-1] == ' ' || eq[-1] == '\t'))
			eq--;
		*eq = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		if (strcmp(k, "aws_access_key_id") == 0) {
			snprintf(p->access, sizeof(p->access), "%s", v);
			found = true;
		} else if (strcmp(k, "aws_secret_access_key") == 0) {
			snprintf(p->secret, sizeof(p->secret), "%s", v);
		} else if (strcmp(k, "aws_session_token") == 0) {
			snprintf(p->token, sizeof(p->token), "%s", v);
		} else if (strcmp(k, "region") == 0 && !p->region[0]) {
			snprintf(p->region, sizeof(p->region), "%s", v);
		}
	}
	memset(line, 0, sizeof(line));
	fclose(f);
	return found ? 0 : -ENOENT;
}

static const char *pick(const char *opt, const char *env)
{
	const char *e;

	if (opt && opt[0])
		return opt;
	e = env ? getenv(env) : NULL;
	return e && e[0] ? e : NULL;
}

static int s3_creds(const struct vx_source_opts *o, struct s3_priv *p)
{
	const char *ak = pick(o->s3_access_key, "AWS_ACCESS_KEY_ID");
	const char *sk = pick(o->s3_secret_key, "AWS_SECRET_ACCESS_KEY");
	const char *tok = pick(o->s3_session_token, "AWS_SESSION_TOKEN");
	const char *file, *profile, *home;
	char path[1024];

	if (ak && sk) {
		snprintf(p->access, sizeof(p->access), "%s", ak);
		snprintf(p->secret, sizeof(p->secret), "%s", sk);
		if (tok)
			snprintf(p->token, sizeof(p->token), "%s", tok);
		return 0;
	}
	file = pick(o->s3_credentials_file, "AWS_SHARED_CREDENTIALS_FILE");
	profile = pick(o->s3_profile, "AWS_PROFILE");
	if (!file) {
		home = getenv("HOME");
		if (!home)
			goto anonymous;
		snprintf(path, sizeof(path), "%s/.aws/credentials", home);
		file = path;
	}
	if (read_cred_file(file, profile ? profile : "default", p) == 0 && p->secret[0])
		return 0;
	memset(p->secret, 0, sizeof(p->secret));
	memset(p->token, 0, sizeof(p->token));
anonymous:
	p->anonymous = true;
	return 0;
}

/*
 * gs://: Google Cloud Storage through its XML API, which speaks S3's (SigV4 with HMAC keys,
 * ListObjectsV2) at https://storage.googleapis.com, path-style, region "auto". Endpoint: the
 * options' s3_endpoint, else $GCS_ENDPOINT; keys: the options' s3_access_key/s3_secret_key,
 * else $GS_ACCESS_KEY_ID / $GS_SECRET_ACCESS_KEY (boto's names); none: unsigned (public
 * buckets). AWS's variables and credentials file are never used for it.
 */
#define GCS_ENDPOINT "https://storage.googleapis.com"

static void gs_creds(const struct vx_source_opts *o, struct s3_priv *p)
{
	const char *ak = pick(o->s3_access_key, "GS_ACCESS_KEY_ID");
	const char *sk = pick(o->s3_secret_key, "GS_SECRET_ACCESS_KEY");

	if (ak && sk) {
		snprintf(p->access, sizeof(p->access), "%s", ak);
		snprintf(p->secret, sizeof(p->secret), "%s", sk);
	} else {
		p->anonymous = true;
	}
	snprintf(p->region, sizeof(p->region), "%s", o->s3_region ? o->s3_region : "auto");
}

static int s3_resolve(const char *url, const struct vx_source_url *u,
		      const struct vx_source_opts *o, struct s3_priv *p,
		      struct vx_source_error *detail)
{
	bool gs = strcmp(u->scheme, "gs") == 0;
	const char *endpoint = gs ? pick(o->s3_endpoint, "GCS_ENDPOINT")
				  : pick(o->s3_endpoint, "AWS_ENDPOINT_URL");
	const char *region, *key;

	memset(p, 0, sizeof(*p));
	if (!u->host[0] || strlen(u->host) >= sizeof(p->bucket) || u->port || u->user[0]) {
		vx__detail_set(detail, VX_EURL, 0, url, "%s URLs are %s://bucket/key", u->scheme,
			       u->scheme);
		return VX_EURL;
	}
	snprintf(p->bucket, sizeof(p->bucket), "%s", u->host);
	p->gs = gs;
	key = u->path[0] == '/' ? u->path + 1 : u->path;
	if (vx__pct_decode(key, strlen(key), p->key, sizeof(p->key)) < 0) {
		vx__detail_set(detail, VX_EURL, 0, url, "bad key");
		return VX_EURL;
	}
	if (gs) {
		gs_creds(o, p);
		if (!endpoint)
			endpoint = GCS_ENDPOINT;
	} else {
		region = pick(o->s3_region, "AWS_REGION");
		if (!region)
			region = pick(NULL, "AWS_DEFAULT_REGION");
		if (s3_creds(o, p))
			return -ENOMEM;
		if (!p->region[0])
			snprintf(p->region, sizeof(p->region), "%s", region ? region : "us-east-1");
		else if (region)
			snprintf(p->region, sizeof(p->region), "%s", region);
	}
	if (endpoint) {
		struct vx_source_url *e = vx_malloc(sizeof(*e));
		bool def;
		int rc = 0;

		if (!e)
			return -ENOMEM;
		if (vx_source_url_parse(e, endpoint, strlen(endpoint)) != 0 ||
		    (strcmp(e->scheme, "http") != 0 && strcmp(e->scheme, "https") != 0)) {
			vx__detail_set(detail, VX_EURL, 0, endpoint, "bad S3 endpoint");
			rc = VX_EURL;
		} else {
			def = !e->port || (e->port == 80 && strcmp(e->scheme, "http") == 0) ||
			      (e->port == 443 && strcmp(e->scheme, "https") == 0);
			snprintf(p->host, sizeof(p->host), e->ipv6 ? "[%s]" : "%s", e->host);
			if (!def)
				snprintf(p->host + strlen(p->host),
					 sizeof(p->host) - strlen(p->host), ":%u", e->port);
			snprintf(p->base, sizeof(p->base), "%s://%s", e->scheme, p->host);
			p->path_style = true;
		}
		vx_free(e);
		return rc;
	}
	p->path_style = o->s3_path_style;
	if (p->path_style)
		snprintf(p->host, sizeof(p->host), "s3.%s.amazonaws.com", p->region);
	else
		snprintf(p->host, sizeof(p->host), "%s.s3.%s.amazonaws.com", p->bucket, p->region);
	snprintf(p->base, sizeof(p->base), "https://%s", p->host);
	return 0;
}

/* The canonical URI of @key (may be "" for the bucket itself). */
static int s3_canon_uri(const struct s3_priv *p, const char *key, char *out, size_t cap)
{
	char enc[S3_KEY_MAX * 3 + 1];
	int n;

	if (vx_source_uri_encode(key, strlen(key), true, enc, sizeof(enc)))
		return -EMSGSIZE;
	if (p->path_style)
		n = snprintf(out, cap, "/%s/%s", p->bucket, enc);
	else
		n = snprintf(out, cap, "/%s", enc);
	return n < 0 || (size_t)n >= cap ? -EMSGSIZE : 0;
}

static int s3_sign(const struct s3_priv *p, const char *canon_uri, const char *canon_query,
		   struct s3_hdrs *h)
{
	struct vx_source_sigv4_hdr sh[4];
	char amz_date[20], auth[1024];
	struct vx_source_sigv4_req r = { 0 };
	struct tm tm;
	time_t now = time(NULL);
	uint32_t n = 0, l = 0;
	int rc;

	memset(h, 0, sizeof(*h));
	if (p->anonymous)
		return 0;
	gmtime_r(&now, &tm);
	strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
	sh[n++] = (struct vx_source_sigv4_hdr){ "host", p->host };
	sh[n++] = (struct vx_source_sigv4_hdr){ "x-amz-content-sha256", S3_EMPTY_SHA256 };
	sh[n++] = (struct vx_source_sigv4_hdr){ "x-amz-date", amz_date };
	if (p->token[0])
		sh[n++] = (struct vx_source_sigv4_hdr){ "x-amz-security-token", p->token };
	r.method = "GET";
	r.canon_uri = canon_uri;
	r.canon_query = canon_query;
	r.hdrs = sh;
	r.nr_hdrs = n;
	r.payload_sha256 = S3_EMPTY_SHA256;
	r.amz_date = amz_date;
	r.region = p->region;
	r.service = "s3";
	r.access_key = p->access;
	r.secret_key = p->secret;
	rc = vx_source_sigv4_sign(&r, auth, sizeof(auth));
	if (rc)
		return rc;
	snprintf(h->lines[l++], sizeof(h->lines[0]), "Authorization: %s", auth);
	snprintf(h->lines[l++], sizeof(h->lines[0]), "x-amz-content-sha256: %s", S3_EMPTY_SHA256);
	snprintf(h->lines[l++], sizeof(h->lines[0]), "x-amz-date: %s", amz_date);
	if (p->token[0])
		snprintf(h->lines[l++], sizeof(h->lines[0]), "x-amz-security-token: %s", p->token);
	for (uint32_t i = 0; i < l; i++)
		h->ptrs[i] = h->lines[i];
	return 0;
}

static void s3_wipe(struct s3_priv *p)
{
	memset(p->secret, 0, sizeof(p->secret));
	memset(p->token, 0, sizeof(p->token));
}

static int s3_open(struct vx_source_obj *obj, const struct vx_source_url *u,
		   struct vx_source_error *detail)
{
	char canon[S3_KEY_MAX * 3 + 300], url[VX_SOURCE_URL_MAX];
	struct s3_priv *p;
	struct s3_hdrs *h;
	int rc;

	p = vx_calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	obj->priv = p;
	rc = s3_resolve(obj->url, u, &obj->opts.o, p, detail);
	if (rc)
		return rc;
	if (!p->key[0]) {
		obj->stat.is_dir = true;
		snprintf(obj->stat.final_url, sizeof(obj->stat.final_url), "%s", obj->url);
		return 0;
	}
	rc = s3_canon_uri(p, p->key, canon, sizeof(canon));
	if (rc)
		return rc;
	snprintf(url, sizeof(url), "%s%s", p->base, canon);
	obj->read_url = vx_strdup(url);
	h = vx_malloc(sizeof(*h));
	if (!obj->read_url || !h) {
		vx_free(h);
		return -ENOMEM;
	}
	rc = s3_sign(p, canon, "", h);
	if (!rc)
		rc = vx__http_stat(obj, url, h->ptrs, NULL, NULL, NULL, 0, detail);
	memset(h, 0, sizeof(*h));
	vx_free(h);
	if (!rc && p->key[strlen(p->key) - 1] == '/')
		obj->stat.is_dir = true;
	if (detail && rc)
		vx_source_url_redact(obj->url, detail->url, sizeof(detail->url));
	return rc;
}

static int s3_prepare(struct vx_source_obj *obj, struct vx__xfer *x)
{
	const struct s3_priv *p = obj->priv;
	char canon[S3_KEY_MAX * 3 + 300];
	struct s3_hdrs *h;
	int rc;

	x->url = vx_strdup(obj->read_url);
	h = vx_malloc(sizeof(*h));
	if (!x->url || !h) {
		vx_free(h);
		return -ENOMEM;
	}
	rc = s3_canon_uri(p, p->key, canon, sizeof(canon));
	if (!rc)
		rc = s3_sign(p, canon, "", h);
	for (int i = 0; !rc && h->ptrs[i]; i++)
		rc = vx__hdr_append(&x->hdrs, "%s", h->ptrs[i]);
	memset(h, 0, sizeof(*h));
	vx_free(h);
	return rc;
}

static void s3_release(struct vx_source_obj *obj)
{
	if (obj->priv)
		s3_wipe(obj->priv);
	vx_free(obj->priv);
	obj->priv = NULL;
}

/* s3, gs and abs listings: an item of the store's page becomes an entry under c->url_base. */
int vx__bucket_item(void *arg, const struct vx_source_s3_item *it)
{
	struct vx__bucket_list *c = arg;
	char enc[S3_KEY_MAX * 3 + 1], url[VX_SOURCE_URL_MAX];
	struct vx_source_entry e = { 0 };

	if (it->key_len < c->prefix_len || memcmp(it->key, c->prefix, c->prefix_len) != 0)
		return -EPROTO; /* the store answered outside the prefix */
	if (it->key[it->key_len - 1] == '/')
		return 0; /* "folder" marker objects */
	if (vx_source_uri_encode(it->key, it->key_len, true, enc, sizeof(enc)) ||
	    snprintf(url, sizeof(url), "%s%s", c->url_base, enc) >= (int)sizeof(url))
		return 0;
	e.url = url;
	e.name = it->key + c->prefix_len;
	e.length = it->size;
	return c->fn(c->arg, &e);
}

static int s3_list(struct vx_source_ctx *ctx, const char *url, const struct vx_source_url *u,
		   const struct vx_source_opts *opts, vx_source_entry_fn fn, void *arg,
		   struct vx_source_error *detail)
{
	static const struct vx_source_opts none;
	char prefix[S3_KEY_MAX + 2], eprefix[S3_KEY_MAX * 3 + 8], etoken[3200];
	char canon[600], query[VX_SOURCE_URL_MAX], req[VX_SOURCE_URL_MAX];
	struct vx_source_s3_page page = { 0 };
	struct vx__bucket_list c = { .fn = fn, .arg = arg };
	struct vx__fetch *f;
	struct s3_priv *p;
	struct s3_hdrs *h;
	int rc, n;

	p = vx_calloc(1, sizeof(*p));
	h = vx_malloc(sizeof(*h));
	f = vx_calloc(1, sizeof(*f));
	if (!p || !h || !f) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = s3_resolve(url, u, opts ? opts : &none, p, detail);
	if (rc)
		goto out_free;
	snprintf(prefix, sizeof(prefix), "%s%s", p->key,
		 p->key[0] && p->key[strlen(p->key) - 1] != '/' ? "/" : "");
	snprintf(c.url_base, sizeof(c.url_base), "%s://%s/", p->gs ? "gs" : "s3", p->bucket);
	c.prefix = prefix;
	c.prefix_len = strlen(prefix);
	if (vx_source_uri_encode(prefix, strlen(prefix), false, eprefix, sizeof(eprefix)) ||
	    s3_canon_uri(p, "", canon, sizeof(canon))) {
		rc = VX_EURL;
		goto out_free;
	}
	for (uint32_t pages = 0; pages < S3_PAGES_MAX; pages++) {
		etoken[0] = '\0';
		if (page.next_token[0] &&
		    vx_source_uri_encode(page.next_token, strlen(page.next_token), false, etoken,
					 sizeof(etoken))) {
			rc = VX_ESOURCE_PROTO;
			break;
		}
		n = snprintf(query, sizeof(query), "%s%s%slist-type=2&max-keys=1000&prefix=%s",
			     etoken[0] ? "continuation-token=" : "", etoken, etoken[0] ? "&" : "",
			     eprefix);
		if (n < 0 || (size_t)n >= sizeof(query) ||
		    snprintf(req, sizeof(req), "%s%s?%s", p->base, canon, query) >=
			    (int)sizeof(req)) {
			rc = VX_EURL;
			break;
		}
		rc = s3_sign(p, canon, query, h);
		if (rc)
			break;
		memset(f, 0, sizeof(*f));
		f->url = req;
		f->opts = opts;
		f->extra_headers = h->ptrs;
		f->body_max = VX_SOURCE_DOC_MAX;
		rc = vx__fetch_run(ctx, f);
		if (rc) {
			if (detail)
				*detail = f->detail;
			break;
		}
		rc = vx_source_s3_list_parse(f->body, f->body_len, &page, vx__bucket_item, &c);
		vx__fetch_release(f);
		if (rc) {
			if (rc == -EPROTO || rc == -EREMOTEIO) {
				rc = VX_ESOURCE_PROTO;
				vx__detail_set(detail, rc, 200, req, "bad ListObjectsV2 reply");
			}
			break;
		}
		if (!page.truncated)
			break;
		if (!page.next_token[0]) {
			rc = VX_ESOURCE_PROTO;
			vx__detail_set(detail, rc, 200, req, "truncated page without a token");
			break;
		}
	}
out_free:
	if (p)
		s3_wipe(p);
	if (h)
		memset(h, 0, sizeof(*h));
	vx_free(f);
	vx_free(h);
	vx_free(p);
	return rc;
}

int vx__s3_register(struct vx_source_ctx *ctx)
{
	static const char *const names[] = { "s3", "gs" };
	int rc = 0;

	for (size_t i = 0; !rc && i < VX_ARRAY_SIZE(names); i++) {
		struct vx__scheme s = {
			.name = names[i],
			.open = s3_open,
			.prepare = s3_prepare,
			.list = s3_list,
			.release = s3_release,
		};

		rc = vx__scheme_add(ctx, &s);
	}
	return rc;
}
