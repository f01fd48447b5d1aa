/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.c: http, https, ftp and ftps origins through libcurl.
 *
 * HTTP stat is a GET with "Range: bytes=0-0" (signed URLs often refuse HEAD): a 206 names the
 * total in Content-Range; a 200 means the origin ignores ranges, and the transfer is cut right
 * after its headers so that stat never downloads the body; a 416 with "bytes * /0" is an empty
 * object. No Content-Length on a 200 (chunked) leaves the length unknown: the object is then
 * read as one stream. FTP stat asks for the size (SIZE) without a body.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "source_int.h"

#include "vx_alloc.h"
#include "vx_source_parse.h"
#include "vx_err.h"

static bool is_ftp(const struct vx_source_url *u)
{
	return strcmp(u->scheme, "ftp") == 0 || strcmp(u->scheme, "ftps") == 0;
}

/* Authorization header from the options: bearer beats basic (basic goes through curl). */
static int bearer_header(const struct vx_source_opts *o, char **out)
{
	char buf[4096];
	int n;

	*out = NULL;
	if (!o || !o->bearer_token)
		return 0;
	n = snprintf(buf, sizeof(buf), "Authorization: Bearer %s", o->bearer_token);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EMSGSIZE;
	*out = vx_strdup(buf);
	memset(buf, 0, sizeof(buf));
	return *out ? 0 : -ENOMEM;
}

static void filetime_to_http(int64_t t, char *dst, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t < 0 || !gmtime_r(&tt, &tm)) {
		dst[0] = '\0';
		return;
	}
	strftime(dst, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static int ftp_open(struct vx_source_obj *obj, const struct vx_source_url *u,
		    struct vx_source_error *detail)
{
	struct vx__fetch f = {
		.url = obj->url,
		.opts = &obj->opts.o,
		.nobody = true,
		.username = obj->opts.o.username,
		.password = obj->opts.o.password,
	};
	size_t plen = strlen(u->path);
	int rc;

	if (plen == 0 || u->path[plen - 1] == '/') {
		obj->stat.is_dir = true;
		snprintf(obj->stat.final_url, sizeof(obj->stat.final_url), "%s", obj->url);
		return 0;
	}
	rc = vx__fetch_run(obj->ctx, &f);
	if (rc) {
		if (detail)
			*detail = f.detail;
		return rc;
	}
	obj->stat.length = f.curl_length >= 0 ? f.curl_length : VX_SOURCE_LENGTH_UNKNOWN;
	obj->stat.ranges = true;
	filetime_to_http(f.filetime, obj->stat.last_modified, sizeof(obj->stat.last_modified));
	vx_source_url_redact(obj->url, obj->stat.final_url, sizeof(obj->stat.final_url));
	vx__fetch_release(&f);
	return 0;
}

int vx__http_stat(struct vx_source_obj *obj, const char *url, const char *const *extra,
		  const char *user, const char *password, char *challenge, size_t challenge_size,
		  struct vx_source_error *detail)
{
	struct vx__fetch *f;
	int rc;

	f = vx_calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->url = url;
	f->opts = &obj->opts.o;
	f->extra_headers = extra;
	f->stat_range = true;
	f->username = user;
	f->password = password;
	rc = vx__fetch_run(obj->ctx, f);
	if (rc == VX_ESOURCE_BADREQ && f->resp.status == 416 && f->resp.have_range &&
	    f->resp.range.unsatisfied && f->resp.range.total == 0) {
		rc = 0; /* bytes=0-0 of an empty object */
		obj->stat.length = 0;
		obj->stat.ranges = true;
	} else if (rc == 0 && f->resp.status == 206) {
		if (!f->resp.have_range || f->resp.range.unsatisfied || f->resp.range.first != 0) {
			rc = VX_ESOURCE_PROTO;
			vx__detail_set(&f->detail, rc, 206, url,
				       "206 without a usable Content-Range");
		} else {
			obj->stat.length = f->resp.range.total;
			obj->stat.ranges = true;
		}
	} else if (rc == 0) {
		/* 200: no ranges; the length is Content-Length, or unknown (chunked). */
		obj->stat.length = f->resp.content_length;
		obj->stat.ranges = false;
	}
	if (rc) {
		if (detail)
			*detail = f->detail;
		if (challenge && challenge_size && f->resp.status == 401)
			snprintf(challenge, challenge_size, "%s", f->resp.challenge);
		goto out_free_fetch;
	}
	vx__stat_from_resp(&obj->stat, &f->resp);
	snprintf(obj->stat.final_url, sizeof(obj->stat.final_url), "%s", f->final_url);
out_free_fetch:
	vx__fetch_release(f);
	vx_free(f);
	return rc;
}

/*
 * Registry URLs over plain https (".../v2/<name>/blobs/sha256:<hex>" or ".../manifests/<ref>"):
 * the repository name is what a token's scope needs, and a blob's digest is checked on full
 * reads, as for oci:// blobs.
 */
static bool registry_path(const char *path, char *name, size_t size, const char **digest)
{
	const char *v2 = strncmp(path, "/v2/", 4) == 0 ? path + 4 : NULL;
	const char *mark;
	size_t n;

	*digest = NULL;
	if (!v2)
		return false;
	mark = strstr(v2, "/blobs/");
	if (!mark)
		mark = strstr(v2, "/manifests/");
	if (!mark || mark == v2)
		return false;
	n = (size_t)(mark - v2);
	if (n >= size)
		return false;
	memcpy(name, v2, n);
	name[n] = '\0';
	if (strncmp(mark, "/blobs/sha256:", 14) == 0 && strlen(mark + 7) == 71)
		*digest = mark + 7;
	return true;
}

static int http_open(struct vx_source_obj *obj, const struct vx_source_url *u,
		     struct vx_source_error *detail)
{
	const char *extra[2] = { NULL, NULL };
	const char *digest = NULL;
	char challenge[1024] = "", name[256];
	bool registry;
	int rc;

	if (is_ftp(u))
		return ftp_open(obj, u, detail);
	rc = bearer_header(&obj->opts.o, &obj->auth);
	if (rc)
		return rc;
	registry = registry_path(u->path, name, sizeof(name), &digest);
	if (registry)
		snprintf(obj->repo, sizeof(obj->repo), "%s", name);
	extra[0] = obj->auth;
	rc = vx__http_stat(obj, obj->url, extra, obj->auth ? NULL : obj->opts.o.username,
			   obj->opts.o.password, challenge, sizeof(challenge), detail);
	if (rc == VX_ESOURCE_DENIED && registry && !obj->auth &&
	    strncasecmp(challenge, "bearer", 6) == 0) {
		/* A registry: answer its token challenge once, as oci:// does. */
		rc = vx__oci_authenticate(obj, challenge, name, detail);
		if (rc)
			return rc;
		extra[0] = obj->auth;
		rc = vx__http_stat(obj, obj->url, extra, NULL, NULL, NULL, 0, detail);
	}
	if (!rc && digest) {
		snprintf(obj->stat.digest, sizeof(obj->stat.digest), "%s", digest);
		obj->verify_digest = true;
	}
	/* a registry blob is content-addressed and checked by digest, and its redirects lead to
	 * storage whose ETags need not match the registry's */
	obj->check_validators = !rc && !registry;
	return rc;
}

static bool etag_strong(const char *etag)
{
	return etag[0] && strncmp(etag, "W/", 2) != 0;
}

/*
 * A ranged read names the version stat saw (If-Range: a strong ETag, else Last-Modified): an
 * origin whose object changed since answers 200 with the whole new object, which
 * check_body_start() refuses, instead of a range of the new bytes mixed with the old ones.
 */
static int http_if_range(const struct vx_source_obj *obj, struct vx__xfer *x)
{
	const char *v = NULL;

	if (!obj->check_validators || !x->want_range_hdr)
		return 0;
	if (etag_strong(obj->stat.etag))
		v = obj->stat.etag;
	else if (obj->stat.last_modified[0])
		v = obj->stat.last_modified;
	if (!v || strpbrk(v, "\r\n"))
		return 0;
	return vx__hdr_append(&x->hdrs, "If-Range: %s", v);
}

bool vx__http_changed(const struct vx_source_obj *obj, const struct vx__resp *r, char *why,
		      size_t why_size)
{
	if (etag_strong(obj->stat.etag) && r->etag[0]) {
		if (strcmp(obj->stat.etag, r->etag) == 0)
			return false;
		snprintf(why, why_size, "ETag %s, then %s", obj->stat.etag, r->etag);
		return true;
	}
	if (!obj->stat.etag[0] && obj->stat.last_modified[0] && r->last_modified[0] &&
	    strcmp(obj->stat.last_modified, r->last_modified) != 0) {
		snprintf(why, why_size, "Last-Modified %s, then %s", obj->stat.last_modified,
			 r->last_modified);
		return true;
	}
	return false;
}

int vx__http_prepare(struct vx_source_obj *obj, struct vx__xfer *x)
{
	int rc;

	x->url = vx_strdup(obj->read_url ? obj->read_url : obj->url);
	if (!x->url)
		return -ENOMEM;
	rc = http_if_range(obj, x);
	return rc ? rc : vx__obj_auth_append(obj, x);
}

struct ftp_list {
	const char *base;
	vx_source_entry_fn fn;
	void *arg;
};

/* @url with a '/' at its end (a directory's), allocated; NULL when out of memory. */
static char *dir_url(const char *url)
{
	size_t blen = strlen(url);
	char *base = vx_malloc(blen + 2);

	if (!base)
		return NULL;
	memcpy(base, url, blen + 1);
	if (blen == 0 || base[blen - 1] != '/') {
		base[blen] = '/';
		base[blen + 1] = '\0';
	}
	return base;
}

/*
 * FTP listings: NLST gives names only, one per line; an entry's kind is learnt by opening it
 * (a trailing '/' on names that servers mark as directories is honoured).
 */
static int ftp_list(struct vx_source_ctx *ctx, const char *url, const struct vx_source_url *u,
		    const struct vx_source_opts *opts, vx_source_entry_fn fn, void *arg,
		    struct vx_source_error *detail)
{
	struct vx__fetch f = { 0 };
	char *base, *line, *save = NULL;
	int rc;

	(void)u;
	base = dir_url(url);
	if (!base)
		return -ENOMEM;
	f.url = base;
	f.opts = opts;
	f.body_max = VX_SOURCE_DOC_MAX;
	f.dirlist = true;
	f.username = opts ? opts->username : NULL;
	f.password = opts ? opts->password : NULL;
	rc = vx__fetch_run(ctx, &f);
	if (rc) {
		if (detail)
			*detail = f.detail;
		goto out_free_base;
	}
	for (line = strtok_r(f.body, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		char eurl[VX_SOURCE_URL_MAX];
		struct vx_source_entry e = { 0 };
		size_t n = strlen(line);
		bool dir = n > 0 && line[n - 1] == '/';

		if (n == 0 || strcmp(line, ".") == 0 || strcmp(line, "..") == 0)
			continue;
		if (snprintf(eurl, sizeof(eurl), "%s%s", base, line) >= (int)sizeof(eurl))
			continue;
		e.url = eurl;
		e.name = line;
		e.length = VX_SOURCE_LENGTH_UNKNOWN;
		e.is_dir = dir;
		rc = fn(arg, &e);
		if (rc)
			break;
	}
	vx__fetch_release(&f);
out_free_base:
	vx_free(base);
	return rc;
}

struct index_walk {
	const char *base; /* the page's URL, ending in '/' */
	vx_source_entry_fn fn;
	void *arg;
};

static int index_entry_cb(void *arg, const char *href, const char *name, bool is_dir)
{
	struct index_walk *w = arg;
	struct vx_source_entry e = { 0 };
	char eurl[VX_SOURCE_URL_MAX];

	if (snprintf(eurl, sizeof(eurl), "%s%s", w->base, href) >= (int)sizeof(eurl))
		return 0;
	e.url = eurl;
	e.name = name;
	e.length = VX_SOURCE_LENGTH_UNKNOWN;
	e.is_dir = is_dir;
	return w->fn(w->arg, &e);
}

/*
 * An HTTP directory: the index page the server writes for it (nginx autoindex, Apache
 * mod_autoindex, ...), parsed by vx_source_html_index_parse(): every plain name below the
 * page, sub-directories as is_dir (the caller walks them). A page that is no HTML is refused.
 */
static int http_list(struct vx_source_ctx *ctx, const char *url, const struct vx_source_url *u,
		     const struct vx_source_opts *opts, vx_source_entry_fn fn, void *arg,
		     struct vx_source_error *detail)
{
	struct vx__fetch f = { 0 };
	struct index_walk w = { .fn = fn, .arg = arg };
	char *base;
	int rc;

	if (is_ftp(u))
		return ftp_list(ctx, url, u, opts, fn, arg, detail);
	if (strchr(url, '?') || strchr(url, '#')) {
		vx__detail_set(detail, -EINVAL, 0, url,
			       "a directory URL to list has no query or fragment");
		return -EINVAL;
	}
	base = dir_url(url);
	if (!base)
		return -ENOMEM;
	f.url = base;
	f.opts = opts;
	f.body_max = VX_SOURCE_DOC_MAX;
	rc = vx__fetch_run(ctx, &f);
	if (rc) {
		if (detail)
			*detail = f.detail;
		goto out;
	}
	if (strncasecmp(f.resp.content_type, "text/html", 9) != 0) {
		vx__detail_set(detail, -ENOTDIR, (int)f.resp.status, base,
			       "not a directory index page (Content-Type '%s', want text/html)",
			       f.resp.content_type);
		rc = -ENOTDIR;
		goto out_release;
	}
	w.base = base;
	rc = vx_source_html_index_parse(f.body, f.body_len, index_entry_cb, &w);
	if (rc == -E2BIG)
		vx__detail_set(detail, rc, (int)f.resp.status, base,
			       "the index page names more than %u entries", VX_SOURCE_INDEX_MAX);
out_release:
	vx__fetch_release(&f);
out:
	vx_free(base);
	return rc;
}

/* Registry URLs renew their token like oci:// does; other origins have nothing to renew. */
static int http_reauth(struct vx_source_obj *obj, const char *challenge,
		       struct vx_source_error *detail)
{
	if (!obj->repo[0] || strncasecmp(challenge, "bearer", 6) != 0)
		return VX_ESOURCE_DENIED;
	return vx__oci_authenticate(obj, challenge, obj->repo, detail);
}

int vx__http_register(struct vx_source_ctx *ctx)
{
	static const char *const names[] = { "http", "https", "ftp", "ftps" };
	int rc;

	for (size_t i = 0; i < VX_ARRAY_SIZE(names); i++) {
		struct vx__scheme s = {
			.name = names[i],
			.open = http_open,
			.prepare = vx__http_prepare,
			.list = http_list,
			.reauth = http_reauth,
		};

		rc = vx__scheme_add(ctx, &s);
		if (rc)
			return rc;
	}
	return 0;
}
