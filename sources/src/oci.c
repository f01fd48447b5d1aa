/* SPDX-License-Identifier: Apache-2.0 */
/*
 * oci.c: container registries through the distribution (OCI) v2 API.
 *
 *   oci://registry[:port]/name[:tag]          the image manifest of a tag ("latest" if none);
 *                                             an index / manifest list is resolved by platform
 *   oci://registry[:port]/name@sha256:<hex>   a manifest by digest (verified)
 *   oci://registry[:port]/name/blobs/sha256:<hex>   one blob (config or layer)
 *   oci://registry[:port]/name/               the repository: a directory whose listing is
 *                                             the blobs of every tag's image, each once
 *
 * oci:// speaks https; oci+http:// plain http (local registries). Auth: the first request goes
 * out anonymous; a 401 with "WWW-Authenticate: Bearer" is answered by fetching a token from
 * the realm (with the basic credentials of the options, when given) and a 401 with "Basic" by
 * the options' credentials; the request is then made once more. Blobs are read by ranged GETs
 * that follow the registry's redirects (curl does not forward our Authorization header to
 * another host); a full read of a blob or manifest is checked against its digest.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "source_int.h"

#include "vx_alloc.h"
#include "vx_digest.h"
#include "vx_err.h"
#include "vx_hex.h"
#include "vx_log.h"

#define OCI_NAME_MAX  255u
#define OCI_TOKEN_MAX 8192u
#define OCI_ACCEPT                                                    \
	"Accept: application/vnd.oci.image.index.v1+json, "           \
	"application/vnd.docker.distribution.manifest.list.v2+json, " \
	"application/vnd.oci.image.manifest.v1+json, "                \
	"application/vnd.docker.distribution.manifest.v2+json"

struct oci_priv {
	char base[600]; /* "https://host:port" */
	char name[OCI_NAME_MAX + 1];
	char ref[160];	/* tag or digest */
	bool blob;	/* ref is a blob digest */
	bool by_digest; /* ref is a manifest digest */
	bool tags;	/* the repository (a trailing '/'): its tags' images */
};

#define OCI_TAG_PAGES_MAX 1000u

/* A reference by digest: sha256 in lowercase hex, the only form sha256_hex() computes to check. */
static bool digest_valid(const char *d)
{
	return vx_digest_spec_valid(d, strlen(d), VX_DIGEST_ACCEPT_SHA256 | VX_DIGEST_LOWER_HEX);
}

static bool name_valid(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > OCI_NAME_MAX || n[0] == '/' || n[len - 1] == '/')
		return false;
	for (const char *c = n; *c; c++) {
		bool sep = *c == '.' || *c == '_' || *c == '-' || *c == '/';

		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || sep))
			return false;
		if (sep && (c == n || c[1] == '\0' || (c[1] == '/' && *c == '/')))
			return false;
	}
	return true;
}

static bool tag_valid(const char *t)
{
	size_t len = strlen(t);

	if (len == 0 || len > 128 || t[0] == '.' || t[0] == '-')
		return false;
	for (; *t; t++) {
		if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
		      (*t >= '0' && *t <= '9') || *t == '_' || *t == '.' || *t == '-'))
			return false;
	}
	return true;
}

static int oci_parse(const char *url, const struct vx_source_url *u, struct oci_priv *p,
		     struct vx_source_error *detail)
{
	const char *scheme = strcmp(u->scheme, "oci+http") == 0 ? "http" : "https";
	char path[OCI_NAME_MAX + 200];
	char *blobs, *at, *slash, *colon;

	memset(p, 0, sizeof(*p));
	if (u->user[0] || u->query[0] || strlen(u->path) < 2 || strlen(u->path) >= sizeof(path))
		goto bad;
	snprintf(path, sizeof(path), "%s", u->path + 1);
	if (u->port)
		snprintf(p->base, sizeof(p->base), u->ipv6 ? "%s://[%s]:%u" : "%s://%s:%u", scheme,
			 u->host, u->port);
	else
		snprintf(p->base, sizeof(p->base), u->ipv6 ? "%s://[%s]" : "%s://%s", scheme,
			 u->host);
	blobs = strstr(path, "/blobs/");
	if (path[strlen(path) - 1] == '/') {
		path[strlen(path) - 1] = '\0';
		if (strpbrk(path, ":@"))
			goto bad;
		p->tags = true;
	} else if (blobs && digest_valid(blobs + 7)) {
		*blobs = '\0';
		snprintf(p->ref, sizeof(p->ref), "%s", blobs + 7);
		p->blob = true;
	} else if ((at = strchr(path, '@')) != NULL) {
		*at = '\0';
		if (!digest_valid(at + 1))
			goto bad;
		snprintf(p->ref, sizeof(p->ref), "%s", at + 1);
		p->by_digest = true;
	} else {
		slash = strrchr(path, '/');
		colon = strrchr(slash ? slash : path, ':');
		if (colon) {
			*colon = '\0';
			if (!tag_valid(colon + 1))
				goto bad;
			snprintf(p->ref, sizeof(p->ref), "%s", colon + 1);
		} else {
			snprintf(p->ref, sizeof(p->ref), "latest");
		}
	}
	if (!name_valid(path))
		goto bad;
	memcpy(p->name, path, strlen(path) + 1); /* name_valid() bounded it */
	return 0;
bad:
	vx__detail_set(detail, VX_EURL, 0, url,
		       "OCI URLs are oci://registry/name[:tag|@sha256:...], "
		       "oci://registry/name/blobs/sha256:... or oci://registry/name/ (every tag)");
	return VX_EURL;
}

/* This host's platform in OCI words, unless the options name one. */
static void oci_platform(const struct vx_source_opts *o, char *os, char *arch, char *variant)
{
	static const char *const map[][3] = {
		{ "x86_64", "amd64", "" }, { "aarch64", "arm64", "" },
		{ "armv7l", "arm", "v7" }, { "armv6l", "arm", "v6" },
		{ "i686", "386", "" },	   { "ppc64le", "ppc64le", "" },
		{ "s390x", "s390x", "" },  { "riscv64", "riscv64", "" },
	};
	struct utsname un;

	snprintf(os, 32, "linux");
	arch[0] = '\0';
	variant[0] = '\0';
	if (o->oci_platform && o->oci_platform[0]) {
		char tmp[96];
		char *a, *v;

		snprintf(tmp, sizeof(tmp), "%s", o->oci_platform);
		a = strchr(tmp, '/');
		if (a) {
			*a++ = '\0';
			v = strchr(a, '/');
			if (v)
				*v++ = '\0';
			snprintf(os, 32, "%.31s", tmp);
			snprintf(arch, 32, "%.31s", a);
			if (v)
				snprintf(variant, 32, "%.31s", v);
			return;
		}
	}
	snprintf(arch, 32, "amd64");
	if (uname(&un) != 0)
		return;
	for (size_t i = 0; i < VX_ARRAY_SIZE(map); i++) {
		if (strcmp(un.machine, map[i][0]) == 0) {
			snprintf(arch, 32, "%s", map[i][1]);
			snprintf(variant, 32, "%s", map[i][2]);
		}
	}
}

static int pct(const char *s, char *out, size_t cap)
{
	return vx_source_uri_encode(s, strlen(s), false, out, cap);
}

/* Answers a 401 challenge: sets obj->auth to a Bearer token or Basic credentials. */
int vx__oci_authenticate(struct vx_source_obj *obj, const char *challenge, const char *name,
			 struct vx_source_error *detail)
{
	const struct vx_source_opts *o = &obj->opts.o;
	struct vx_source_challenge c;
	char *line = NULL, *url = NULL, *tok = NULL;
	struct vx__fetch *f = NULL;
	int rc;

	rc = vx_source_challenge_parse(&c, challenge, strlen(challenge));
	if (rc) {
		vx__detail_set(detail, VX_ESOURCE_DENIED, 401, obj->url,
			       "registry asks for an authentication scheme vx does not speak");
		return VX_ESOURCE_DENIED;
	}
	line = vx_malloc(OCI_TOKEN_MAX + 64);
	if (!line)
		return -ENOMEM;
	if (strcmp(c.scheme, "basic") == 0) {
		char userpass[1024];
		int n;

		if (!o->username) {
			rc = VX_ESOURCE_DENIED;
			vx__detail_set(detail, rc, 401, obj->url, "registry wants credentials");
			goto out;
		}
		n = snprintf(userpass, sizeof(userpass), "%s:%s", o->username,
			     o->password ? o->password : "");
		if (n < 0 || (size_t)n >= sizeof(userpass) / 4 * 3 - 4) {
			rc = -EMSGSIZE;
			goto out;
		}
		memcpy(line, "Authorization: Basic ", 21);
		EVP_EncodeBlock((unsigned char *)line + 21, (const unsigned char *)userpass, n);
		memset(userpass, 0, sizeof(userpass));
	} else {
		char service[VX_SOURCE_CHALLENGE_PARAM_MAX * 3],
			scope[VX_SOURCE_CHALLENGE_PARAM_MAX * 3];
		char want_scope[OCI_NAME_MAX + 32];

		if (strncmp(c.realm, "https://", 8) != 0 && strncmp(c.realm, "http://", 7) != 0) {
			rc = VX_ESOURCE_PROTO;
			vx__detail_set(detail, rc, 401, obj->url,
				       "bearer realm is not an http(s) URL");
			goto out;
		}
		snprintf(want_scope, sizeof(want_scope), "repository:%.255s:pull", name);
		url = vx_malloc(VX_SOURCE_URL_MAX);
		f = vx_calloc(1, sizeof(*f));
		tok = vx_malloc(OCI_TOKEN_MAX);
		if (!url || !f || !tok) {
			rc = -ENOMEM;
			goto out;
		}
		if (pct(c.service, service, sizeof(service)) ||
		    pct(c.scope[0] ? c.scope : want_scope, scope, sizeof(scope))) {
			rc = -EMSGSIZE;
			goto out;
		}
		snprintf(url, VX_SOURCE_URL_MAX, "%s%sservice=%s&scope=%s", c.realm,
			 strchr(c.realm, '?') ? "&" : "?", service, scope);
		f->url = url;
		f->opts = o;
		f->body_max = 65536;
		f->username = o->username;
		f->password = o->password;
		rc = vx__fetch_run(obj->ctx, f);
		if (rc) {
			if (detail) {
				*detail = f->detail;
				snprintf(detail->msg, sizeof(detail->msg),
					 "token service refused: HTTP %d", f->detail.status);
			}
			goto out;
		}
		rc = vx_source_token_parse(f->body, f->body_len, tok, OCI_TOKEN_MAX);
		vx__fetch_release(f);
		if (rc) {
			rc = VX_ESOURCE_PROTO;
			vx__detail_set(detail, rc, 200, url, "token service sent no usable token");
			goto out;
		}
		snprintf(line, OCI_TOKEN_MAX + 64, "Authorization: Bearer %s", tok);
		memset(tok, 0, OCI_TOKEN_MAX);
	}
	rc = vx__obj_auth_set(obj, line);
out:
	if (line)
		memset(line, 0, OCI_TOKEN_MAX + 64);
	vx_free(line);
	vx_free(url);
	vx_free(tok);
	vx_free(f);
	return rc;
}

/* One registry request; a 401 is answered once and the request made again. */
static int oci_fetch(struct vx_source_obj *obj, const struct oci_priv *p, struct vx__fetch *f,
		     struct vx_source_error *detail)
{
	const char *extra[3];
	int rc = 0;

	for (int attempt = 0; attempt < 2; attempt++) {
		int n = 0;

		if (obj->auth)
			extra[n++] = obj->auth;
		extra[n++] = OCI_ACCEPT;
		extra[n] = NULL;
		f->extra_headers = extra;
		f->opts = &obj->opts.o;
		rc = vx__fetch_run(obj->ctx, f);
		if (rc == VX_ESOURCE_DENIED && f->resp.status == 401 && attempt == 0 &&
		    f->resp.challenge[0]) {
			rc = vx__oci_authenticate(obj, f->resp.challenge, p->name, detail);
			if (rc)
				return rc;
			continue;
		}
		if (rc && detail)
			*detail = f->detail;
		return rc;
	}
	return rc;
}

static void sha256_hex(const char *data, size_t len, char *out)
{
	unsigned char md[32];

	SHA256((const unsigned char *)data, len, md);
	memcpy(out, "sha256:", 7);
	vx_hex_encode(md, sizeof(md), out + 7);
}

/* GETs a manifest by @ref into @f (body kept); checks it against @ref when that is a digest. */
static int oci_get_manifest(struct vx_source_obj *obj, const struct oci_priv *p, const char *ref,
			    struct vx__fetch *f, char *digest, struct vx_source_error *detail)
{
	char url[VX_SOURCE_URL_MAX];
	int rc;

	snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", p->base, p->name, ref);
	memset(f, 0, sizeof(*f));
	f->url = url;
	f->body_max = VX_SOURCE_DOC_MAX;
	rc = oci_fetch(obj, p, f, detail);
	if (rc)
		return rc;
	sha256_hex(f->body, f->body_len, digest);
	if (strncmp(ref, "sha256:", 7) == 0 && strcmp(ref, digest) != 0) {
		vx__detail_set(detail, VX_EDIGEST, f->resp.status, url,
			       "manifest does not match its digest");
		vx__fetch_release(f);
		return VX_EDIGEST;
	}
	f->url = NULL;
	return 0;
}

static int oci_open_manifest(struct vx_source_obj *obj, struct oci_priv *p,
			     struct vx_source_error *detail)
{
	char os[32], arch[32], variant[32], digest[VX_SOURCE_OCI_DIGEST_MAX],
		pick[VX_SOURCE_OCI_DIGEST_MAX];
	char url[VX_SOURCE_URL_MAX];
	struct vx__fetch *f;
	int rc;

	f = vx_calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	rc = oci_get_manifest(obj, p, p->ref, f, digest, detail);
	if (rc)
		goto out_free;
	if (vx_source_oci_is_index(f->body, f->body_len)) {
		oci_platform(&obj->opts.o, os, arch, variant);
		rc = vx_source_oci_index_pick(f->body, f->body_len, os, arch, variant, pick,
					      sizeof(pick));
		vx__fetch_release(f);
		if (rc) {
			rc = rc == -ENOENT ? VX_ESOURCE_NOTFOUND : VX_ESOURCE_PROTO;
			vx__detail_set(detail, rc, 200, obj->url, "%s for %s/%s%s%s",
				       rc == VX_ESOURCE_NOTFOUND ? "no manifest"
								 : "malformed manifest list",
				       os, arch, variant[0] ? "/" : "", variant);
			goto out_free;
		}
		rc = oci_get_manifest(obj, p, pick, f, digest, detail);
		if (rc)
			goto out_free;
		if (vx_source_oci_is_index(f->body, f->body_len)) {
			rc = VX_ESOURCE_PROTO;
			vx__detail_set(detail, rc, 200, obj->url, "an index inside an index");
			goto out_release;
		}
	}
	obj->stat.length = (int64_t)f->body_len;
	obj->stat.ranges = false;
	vx__stat_from_resp(&obj->stat, &f->resp);
	snprintf(obj->stat.digest, sizeof(obj->stat.digest), "%s", digest);
	snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", p->base, p->name, digest);
	snprintf(obj->stat.final_url, sizeof(obj->stat.final_url), "%s", url);
	obj->read_url = vx_strdup(url);
	obj->verify_digest = true;
	rc = obj->read_url ? 0 : -ENOMEM;
out_release:
	vx__fetch_release(f);
out_free:
	vx_free(f);
	return rc;
}

static int oci_open_blob(struct vx_source_obj *obj, struct oci_priv *p,
			 struct vx_source_error *detail)
{
	char url[VX_SOURCE_URL_MAX];
	struct vx__fetch *f;
	int rc;

	snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", p->base, p->name, p->ref);
	f = vx_calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->url = url;
	f->stat_range = true;
	rc = oci_fetch(obj, p, f, detail);
	if (rc)
		goto out_free;
	if (f->resp.status == 206 && f->resp.have_range && !f->resp.range.unsatisfied) {
		obj->stat.length = f->resp.range.total;
		obj->stat.ranges = true;
	} else {
		obj->stat.length = f->resp.content_length;
		obj->stat.ranges = false;
	}
	if (f->resp.digest[0] && strcmp(f->resp.digest, p->ref) != 0) {
		rc = VX_EDIGEST;
		vx__detail_set(detail, rc, f->resp.status, url,
			       "registry names another digest for this blob");
		goto out_free;
	}
	vx__stat_from_resp(&obj->stat, &f->resp);
	snprintf(obj->stat.digest, sizeof(obj->stat.digest), "%s", p->ref);
	snprintf(obj->stat.final_url, sizeof(obj->stat.final_url), "%s", f->final_url);
	obj->read_url = vx_strdup(url);
	obj->verify_digest = true;
	rc = obj->read_url ? 0 : -ENOMEM;
out_free:
	vx__fetch_release(f);
	vx_free(f);
	return rc;
}

static int oci_open(struct vx_source_obj *obj, const struct vx_source_url *u,
		    struct vx_source_error *detail)
{
	struct oci_priv *p;
	int rc;

	p = vx_calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	obj->priv = p;
	rc = oci_parse(obj->url, u, p, detail);
	if (rc)
		return rc;
	snprintf(obj->repo, sizeof(obj->repo), "%s", p->name);
	if (obj->opts.o.bearer_token) {
		char line[OCI_TOKEN_MAX + 32];

		snprintf(line, sizeof(line), "Authorization: Bearer %s", obj->opts.o.bearer_token);
		obj->auth = vx_strdup(line);
		memset(line, 0, sizeof(line));
		if (!obj->auth)
			return -ENOMEM;
	}
	if (p->tags) {
		obj->stat.is_dir = true;
		snprintf(obj->stat.final_url, sizeof(obj->stat.final_url), "%s", obj->url);
		return 0;
	}
	return p->blob ? oci_open_blob(obj, p, detail) : oci_open_manifest(obj, p, detail);
}

static int oci_prepare(struct vx_source_obj *obj, struct vx__xfer *x)
{
	int rc;

	x->url = vx_strdup(obj->read_url);
	if (!x->url)
		return -ENOMEM;
	rc = vx__hdr_append(&x->hdrs, "%s", OCI_ACCEPT);
	if (!rc)
		rc = vx__obj_auth_append(obj, x);
	return rc;
}

/* A read got 401 (its token expired): fetch a new one the way open did. Helper thread. */
static int oci_reauth(struct vx_source_obj *obj, const char *challenge,
		      struct vx_source_error *detail)
{
	return vx__oci_authenticate(obj, challenge, obj->repo, detail);
}

static void oci_release(struct vx_source_obj *obj)
{
	vx_free(obj->priv);
	obj->priv = NULL;
}

struct oci_list_ctx {
	const struct oci_priv *p;
	const char *scheme;
	const char *host;
	vx_source_entry_fn fn;
	void *arg;
};

static int oci_blob_entry(void *arg, const char *digest, int64_t size, const char *media_type)
{
	struct oci_list_ctx *c = arg;
	char url[VX_SOURCE_URL_MAX];
	struct vx_source_entry e = { 0 };

	(void)media_type;
	snprintf(url, sizeof(url), "%s://%s/%s/blobs/%s", c->scheme, c->host, c->p->name, digest);
	e.url = url;
	e.name = digest;
	e.length = size;
	return c->fn(c->arg, &e);
}

struct doc_buf {
	char *p;
	size_t len;
};

static int doc_sink(void *arg, const void *data, size_t len)
{
	struct doc_buf *b = arg;

	if (b->len + len > VX_SOURCE_DOC_MAX)
		return VX_ESOURCE_TOOLARGE;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

/* A repository's listing: every tag's image listed in turn, each blob given once. */
struct oci_tags_ctx {
	struct vx_source_ctx *ctx;
	const struct vx_source_opts *opts;
	const char *scheme;
	const char *host;
	const char *name;
	vx_source_entry_fn fn;
	void *arg;
	struct vx_source_error *detail;
	char (*seen)[VX_SOURCE_OCI_DIGEST_MAX];
	size_t nr_seen, cap_seen;
};

static int oci_tag_blob(void *arg, const struct vx_source_entry *e)
{
	struct oci_tags_ctx *c = arg;

	for (size_t i = 0; i < c->nr_seen; i++) {
		if (strcmp(c->seen[i], e->name) == 0)
			return 0; /* shared with a tag listed before */
	}
	if (strlen(e->name) >= sizeof(c->seen[0]))
		return -EPROTO;
	if (c->nr_seen == c->cap_seen) {
		size_t cap = c->cap_seen ? c->cap_seen * 2 : 64;
		void *n = vx_realloc(c->seen, cap * sizeof(c->seen[0]));

		if (!n)
			return -ENOMEM;
		c->seen = n;
		c->cap_seen = cap;
	}
	snprintf(c->seen[c->nr_seen++], sizeof(c->seen[0]), "%s", e->name);
	return c->fn(c->arg, e);
}

static int oci_tag(void *arg, const char *tag)
{
	struct oci_tags_ctx *c = arg;
	char url[VX_SOURCE_URL_MAX];

	if (!tag_valid(tag)) {
		vx_warn("source: oci %s: tag %.64s skipped (not a tag's form)", c->name, tag);
		return 0;
	}
	snprintf(url, sizeof(url), "%s://%s/%s:%s", c->scheme, c->host, c->name, tag);
	return vx_source_list(c->ctx, url, c->opts, oci_tag_blob, c, c->detail);
}

/* The next page of a tag list: a Link "<path>; rel=\"next\"" on this registry only. */
static bool next_page(const char *link, const char *base, char *url, size_t cap)
{
	const char *lt = strchr(link, '<'), *gt = lt ? strchr(lt, '>') : NULL;

	if (!gt || !strstr(gt, "rel=\"next\"") || strncmp(lt + 1, "/v2/", 4) != 0)
		return false;
	return snprintf(url, cap, "%s%.*s", base, (int)(gt - lt - 1), lt + 1) < (int)cap;
}

static int oci_list_tags(struct vx_source_obj *obj, const struct vx_source_url *u, const char *host,
			 vx_source_entry_fn fn, void *arg, struct vx_source_error *detail)
{
	const struct oci_priv *p = obj->priv;
	struct oci_tags_ctx c = { .ctx = obj->ctx,
				  .opts = &obj->opts.o,
				  .scheme = u->scheme,
				  .host = host,
				  .name = p->name,
				  .fn = fn,
				  .arg = arg,
				  .detail = detail };
	char url[VX_SOURCE_URL_MAX];
	struct vx__fetch *f = vx_calloc(1, sizeof(*f));
	bool more = true;
	int rc = 0;

	if (!f)
		return -ENOMEM;
	snprintf(url, sizeof(url), "%s/v2/%s/tags/list?n=1000", p->base, p->name);
	for (uint32_t page = 0; !rc && more && page < OCI_TAG_PAGES_MAX; page++) {
		memset(f, 0, sizeof(*f));
		f->url = url;
		f->body_max = VX_SOURCE_DOC_MAX;
		rc = oci_fetch(obj, p, f, detail);
		if (rc)
			break;
		more = next_page(f->resp.link, p->base, url, sizeof(url));
		rc = vx_source_oci_tags_parse(f->body, f->body_len, oci_tag, &c);
		vx__fetch_release(f);
		if (rc == -EPROTO) {
			rc = VX_ESOURCE_PROTO;
			vx__detail_set(detail, rc, 200, obj->url, "malformed tag list");
		}
	}
	vx_free(c.seen);
	vx_free(f);
	return rc;
}

/* Lists an image's blobs: its config and layers, for preheating. */
static int oci_list(struct vx_source_ctx *ctx, const char *url, const struct vx_source_url *u,
		    const struct vx_source_opts *opts, vx_source_entry_fn fn, void *arg,
		    struct vx_source_error *detail)
{
	struct oci_list_ctx c = { .fn = fn, .arg = arg, .scheme = u->scheme };
	struct doc_buf b = { 0 };
	struct vx_source_obj *obj;
	char host[300];
	int rc;

	rc = vx_source_open(ctx, url, opts, &obj, detail);
	if (rc)
		return rc;
	if (((struct oci_priv *)obj->priv)->blob) {
		rc = -ENOTDIR;
		vx__detail_set(detail, rc, 0, url, "a blob has nothing to list");
		goto out_put;
	}
	if (u->port)
		snprintf(host, sizeof(host), u->ipv6 ? "[%s]:%u" : "%s:%u", u->host, u->port);
	else
		snprintf(host, sizeof(host), u->ipv6 ? "[%s]" : "%s", u->host);
	if (((struct oci_priv *)obj->priv)->tags) {
		rc = oci_list_tags(obj, u, host, fn, arg, detail);
		goto out_put;
	}
	b.p = vx_malloc(VX_SOURCE_DOC_MAX);
	if (!b.p) {
		rc = -ENOMEM;
		goto out_put;
	}
	rc = vx_source_read(obj, 0, VX_SOURCE_LEN_TO_END, doc_sink, &b, detail);
	if (rc)
		goto out_free;
	c.p = obj->priv;
	c.host = host;
	rc = vx_source_oci_manifest_blobs(b.p, b.len, oci_blob_entry, &c);
	if (rc == -EPROTO) {
		rc = VX_ESOURCE_PROTO;
		vx__detail_set(detail, rc, 200, url, "malformed image manifest");
	}
out_free:
	vx_free(b.p);
out_put:
	vx_source_obj_free(obj);
	return rc;
}

int vx__oci_register(struct vx_source_ctx *ctx)
{
	static const char *const names[] = { "oci", "oci+http", "oci+https" };
	int rc;

	for (size_t i = 0; i < VX_ARRAY_SIZE(names); i++) {
		struct vx__scheme s = {
			.name = names[i],
			.open = oci_open,
			.prepare = oci_prepare,
			.list = oci_list,
			.release = oci_release,
			.reauth = oci_reauth,
		};

		rc = vx__scheme_add(ctx, &s);
		if (rc)
			return rc;
	}
	return 0;
}
