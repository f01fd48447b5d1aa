/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hub.c: model hubs. hf://[datasets/|spaces/]OWNER/REPO[@REV][/PATH] (Hugging Face) and
 * modelscope://OWNER/REPO[@REV][/PATH] (ModelScope models), read over https:
 *
 *   hf   file  GET {base}/[datasets/|spaces/]OWNER/REPO/resolve/REV/PATH  (a 302 to storage
 *              with a signed URL for large files: followed like any redirect)
 *        list  GET {base}/api/{models|datasets|spaces}/OWNER/REPO/tree/REV[/PATH]?recursive=1,
 *              pages followed through the Link rel="next" header (same origin only)
 *   ms   file  GET {base}/api/v1/models/OWNER/REPO/repo?Revision=REV&FilePath=PATH
 *        list  GET {base}/api/v1/models/OWNER/REPO/repo/files?Revision=REV&Recursive=true
 *              [&Root=PATH]
 *
 * The object is then an https object: reads re-resolve through the hub each time (signed URLs
 * expire), so the task is named by the hub URL (repository, revision, path), never by where a
 * redirect led. The token ("Authorization: Bearer") goes to the hub's host only: libcurl drops
 * a custom Authorization header on a redirect to another host or port, and the storage URL
 * carries its own signature. Token and endpoint: spec/sources.md, "Model hubs".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source_int.h"

#include "vx_alloc.h"
#include "vx_err.h"

#define HUB_TOKEN_MAX	4096u
#define HUB_PAGES_MAX	100000u
#define HUB_ENDPOINT_HF "https://huggingface.co"
#define HUB_ENDPOINT_MS "https://modelscope.cn"

struct hub_req {
	struct vx_source_hub_ref ref;
	char base[1024]; /* endpoint without a trailing '/' */
	char auth[4200]; /* "Authorization: Bearer <token>" or ""; secret */
	char url[VX_SOURCE_URL_MAX];
};

static void req_wipe(struct hub_req *q)
{
	if (q)
		memset(q->auth, 0, sizeof(q->auth));
}

/* An endpoint is an http(s) URL with no user-info, query or fragment. */
static int endpoint_of(const struct vx_source_ctx *ctx, const struct vx_source_hub_ref *ref,
		       const struct vx_source_opts *o, char *out, size_t size, const char **why)
{
	const char *e = o && o->hub_endpoint ? o->hub_endpoint : NULL;
	struct vx_source_url *u;
	size_t n;
	int rc;

	if (!e && ctx->hub_endpoint[ref->hub][0])
		e = ctx->hub_endpoint[ref->hub];
	if (!e)
		e = getenv(ref->hub == VX_SOURCE_HUB_HF ? "HF_ENDPOINT" : "MODELSCOPE_ENDPOINT");
	if (!e || !*e)
		e = ref->hub == VX_SOURCE_HUB_HF ? HUB_ENDPOINT_HF : HUB_ENDPOINT_MS;
	n = strlen(e);
	while (n && e[n - 1] == '/')
		n--;
	if (n == 0 || n >= size) {
		*why = "the hub endpoint is empty or too long";
		return VX_EURL;
	}
	u = vx_malloc(sizeof(*u));
	if (!u)
		return -ENOMEM;
	rc = vx_source_url_parse(u, e, n);
	if (rc || (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0) ||
	    u->user[0] || u->password[0] || u->query[0] || memchr(e, '#', n)) {
		*why = "the hub endpoint must be an http(s) URL without credentials or query";
		rc = VX_EURL;
	}
	vx_free(u);
	if (!rc) {
		memcpy(out, e, n);
		out[n] = '\0';
	}
	return rc;
}

/*
 * Reads the first line of a token file into @out; 0 or a negative errno. @private: the file
 * must be a regular file no group or other may read (-EPERM), as a configured secret must.
 */
static int token_file(const char *path, bool private, char *out, size_t size)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (private && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077))) {
		close(fd);
		return -EPERM;
	}
	n = read(fd, out, size - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

/*
 * The token: the options', else (for oneself only) the configured token file's, the
 * environment's or the default token file's. A fetch for another host (opts->outbound set)
 * never reads this host's own token: the bytes would then reach a requester who may not read
 * the repository. Returns 0 (@out "" when there is none), -EINVAL for a malformed token, or
 * the error of the configured file (missing, or readable by others: -EPERM).
 */
static int token_of(const struct vx_source_ctx *ctx, const struct vx_source_hub_ref *ref,
		    const struct vx_source_opts *o, char *out, size_t size)
{
	const char *t = o && o->hub_token ? o->hub_token : NULL;
	char path[4096];
	const char *env;
	int rc;

	out[0] = '\0';
	if (!t && !(o && o->outbound) && ctx->hub_token_file[ref->hub][0]) {
		rc = token_file(ctx->hub_token_file[ref->hub], true, out, size);
		if (rc)
			return rc;
		t = out;
	}
	if (!t && !(o && o->outbound)) {
		t = getenv(ref->hub == VX_SOURCE_HUB_HF ? "HF_TOKEN" : "MODELSCOPE_API_TOKEN");
		if (ref->hub == VX_SOURCE_HUB_HF && (!t || !*t)) {
			t = NULL;
			path[0] = '\0';
			if ((env = getenv("HF_TOKEN_PATH")) && *env)
				snprintf(path, sizeof(path), "%s", env);
			else if ((env = getenv("HF_HOME")) && *env)
				snprintf(path, sizeof(path), "%s/token", env);
			else if ((env = getenv("HOME")) && *env)
				snprintf(path, sizeof(path), "%s/.cache/huggingface/token", env);
			if (path[0] && token_file(path, false, out, size) == 0 && out[0])
				t = out;
		}
	}
	if (!t || !*t) {
		out[0] = '\0';
		return 0;
	}
	if (strlen(t) >= size || strpbrk(t, "\r\n \t"))
		return -EINVAL;
	if (t != out)
		snprintf(out, size, "%s", t);
	return 0;
}

/* Parses @url and fills @q's endpoint and auth line. */
static int req_init(const struct vx_source_ctx *ctx, struct hub_req *q, const char *url,
		    const struct vx_source_opts *o, struct vx_source_error *detail)
{
	char tok[HUB_TOKEN_MAX];
	const char *why = NULL;
	int rc;

	memset(q, 0, sizeof(*q));
	rc = vx_source_hub_ref_parse(&q->ref, url, strlen(url));
	if (rc) {
		vx__detail_set(detail, rc, 0, url, "%s", q->ref.why);
		return rc;
	}
	rc = endpoint_of(ctx, &q->ref, o, q->base, sizeof(q->base), &why);
	if (rc) {
		vx__detail_set(detail, rc, 0, url, "%s", why ? why : vx_strerror(rc));
		return rc;
	}
	rc = token_of(ctx, &q->ref, o, tok, sizeof(tok));
	if (rc) {
		vx__detail_set(
			detail, rc, 0, url, "%s",
			rc == -EINVAL ? "the hub token is too long or has blanks"
			: rc == -EPERM
				? "the configured hub token file is not a regular file of mode "
				  "0600 or stricter"
				: "the configured hub token file cannot be read");
		memset(tok, 0, sizeof(tok));
		return rc;
	}
	if (tok[0])
		snprintf(q->auth, sizeof(q->auth), "Authorization: Bearer %s", tok);
	memset(tok, 0, sizeof(tok));
	return 0;
}

static const char *revision_of(const struct vx_source_hub_ref *r)
{
	if (r->revision[0])
		return r->revision;
	return r->hub == VX_SOURCE_HUB_HF ? "main" : "master";
}

static const char *hf_prefix(const struct vx_source_hub_ref *r)
{
	return r->kind == VX_SOURCE_HUB_DATASET ? "datasets/"
	       : r->kind == VX_SOURCE_HUB_SPACE ? "spaces/"
						: "";
}

/* The hub URL of a file or listing into q->url. */
static int build_url(struct hub_req *q, bool list)
{
	const struct vx_source_hub_ref *r = &q->ref;
	char rev[3 * VX_SOURCE_HUB_REV_MAX], path[3 * VX_SOURCE_HUB_PATH_MAX];
	static const char *const api_kind[] = { "models", "datasets", "spaces" };
	int n;

	if (vx_source_uri_encode(revision_of(r), strlen(revision_of(r)), false, rev, sizeof(rev)) ||
	    vx_source_uri_encode(r->path, strlen(r->path), r->hub == VX_SOURCE_HUB_HF, path,
				 sizeof(path)))
		return -EMSGSIZE;
	if (r->hub == VX_SOURCE_HUB_HF && list)
		n = snprintf(q->url, sizeof(q->url), "%s/api/%s/%s/%s/tree/%s%s%s?recursive=1",
			     q->base, api_kind[r->kind], r->owner, r->repo, rev, path[0] ? "/" : "",
			     path);
	else if (r->hub == VX_SOURCE_HUB_HF)
		n = snprintf(q->url, sizeof(q->url), "%s/%s%s/%s/resolve/%s/%s", q->base,
			     hf_prefix(r), r->owner, r->repo, rev, path);
	else if (list)
		n = snprintf(q->url, sizeof(q->url),
			     "%s/api/v1/models/%s/%s/repo/files?Revision=%s&Recursive=true%s%s",
			     q->base, r->owner, r->repo, rev, path[0] ? "&Root=" : "", path);
	else
		n = snprintf(q->url, sizeof(q->url),
			     "%s/api/v1/models/%s/%s/repo?Revision=%s&FilePath=%s", q->base,
			     r->owner, r->repo, rev, path);
	return n < 0 || (size_t)n >= sizeof(q->url) ? -EMSGSIZE : 0;
}

/* A 401/403 says whether a token was sent, and where a token comes from. */
static void denied_hint(const struct hub_req *q, struct vx_source_error *detail)
{
	if (!detail || detail->err != VX_ESOURCE_DENIED)
		return;
	if (q->auth[0])
		snprintf(detail->msg, sizeof(detail->msg), "the hub refused the token");
	else if (q->ref.hub == VX_SOURCE_HUB_HF)
		snprintf(detail->msg, sizeof(detail->msg),
			 "no token sent: set HF_TOKEN, a token file (HF_TOKEN_PATH, "
			 "~/.cache/huggingface/token) or source.hf_token_file where the "
			 "download runs");
	else
		snprintf(detail->msg, sizeof(detail->msg),
			 "no token sent: set MODELSCOPE_API_TOKEN or "
			 "source.modelscope_token_file where the download runs");
}

static int hub_open(struct vx_source_obj *obj, const struct vx_source_url *u,
		    struct vx_source_error *detail)
{
	const char *extra[2] = { NULL, NULL };
	struct hub_req *q;
	int rc;

	(void)u;
	q = vx_malloc(sizeof(*q));
	if (!q)
		return -ENOMEM;
	rc = req_init(obj->ctx, q, obj->url, &obj->opts.o, detail);
	if (rc)
		goto out;
	if (q->ref.dir) {
		obj->stat.is_dir = true;
		vx_source_url_redact(obj->url, obj->stat.final_url, sizeof(obj->stat.final_url));
		goto out;
	}
	rc = build_url(q, false);
	if (rc)
		goto out;
	obj->read_url = vx_strdup(q->url);
	if (!obj->read_url) {
		rc = -ENOMEM;
		goto out;
	}
	if (q->auth[0]) {
		rc = vx__obj_auth_set(obj, q->auth);
		if (rc)
			goto out;
		extra[0] = q->auth;
	}
	rc = vx__http_stat(obj, obj->read_url, extra, NULL, NULL, NULL, 0, detail);
	denied_hint(q, detail);
	/* the storage a resolve leads to keeps one ETag per file version */
	obj->check_validators = !rc;
out:
	req_wipe(q);
	vx_free(q);
	return rc;
}

struct hub_walk {
	const struct hub_req *q;
	const char *url; /* as listed */
	vx_source_entry_fn fn;
	void *arg;
};

/* Entry URL: the listed hub URL's form with the file's path. */
static int entry_url(const struct hub_walk *w, const char *path, char *out, size_t size)
{
	const struct vx_source_hub_ref *r = &w->q->ref;
	char rev[3 * VX_SOURCE_HUB_REV_MAX], enc[3 * VX_SOURCE_HUB_PATH_MAX];
	int n;

	if (vx_source_uri_encode(r->revision, strlen(r->revision), false, rev, sizeof(rev)) ||
	    vx_source_uri_encode(path, strlen(path), true, enc, sizeof(enc)))
		return -EMSGSIZE;
	n = snprintf(out, size, "%s://%s%s/%s%s%s/%s",
		     r->hub == VX_SOURCE_HUB_HF ? "hf" : "modelscope", hf_prefix(r), r->owner,
		     r->repo, rev[0] ? "@" : "", rev, enc);
	return n < 0 || (size_t)n >= size ? -EMSGSIZE : 0;
}

static int hub_file(void *arg, const struct vx_source_hub_file *f)
{
	struct hub_walk *w = arg;
	const char *root = w->q->ref.path, *name = f->path;
	char url[VX_SOURCE_URL_MAX], digest[80];
	struct vx_source_entry e = { 0 };
	size_t rl = strlen(root);

	if (f->is_dir)
		return 0; /* the listing is recursive: files only */
	if (rl) {
		if (strncmp(name, root, rl) != 0 || name[rl] != '/')
			return 0; /* not below the listed path */
		name += rl + 1;
	}
	if (entry_url(w, f->path, url, sizeof(url)))
		return 0;
	e.url = url;
	e.name = name;
	e.length = f->size;
	if (f->sha256[0]) {
		snprintf(digest, sizeof(digest), "sha256:%s", f->sha256);
		e.digest = digest;
	}
	return w->fn(w->arg, &e);
}

/* The next page's URL, which must stay on the hub's origin; "" when there is none. */
static int next_page(const struct hub_req *q, const char *link, char *out, size_t size)
{
	size_t bl = strlen(q->base);
	int rc;

	out[0] = '\0';
	if (!link[0])
		return 0;
	rc = vx_source_link_next(link, strlen(link), out, size);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return VX_ESOURCE_PROTO;
	if (strncmp(out, q->base, bl) != 0 || out[bl] != '/') {
		out[0] = '\0';
		return VX_ESOURCE_PROTO; /* the token goes to the hub only */
	}
	return 0;
}

static int hub_list(struct vx_source_ctx *ctx, const char *url, const struct vx_source_url *u,
		    const struct vx_source_opts *opts, vx_source_entry_fn fn, void *arg,
		    struct vx_source_error *detail)
{
	const char *extra[2] = { NULL, NULL };
	struct hub_walk w = { .url = url, .fn = fn, .arg = arg };
	struct vx__fetch *f;
	struct hub_req *q;
	char *page;
	int rc;

	(void)u;
	q = vx_malloc(sizeof(*q));
	f = vx_malloc(sizeof(*f));
	page = vx_malloc(VX_SOURCE_URL_MAX);
	if (!q || !f || !page) {
		rc = -ENOMEM;
		goto out;
	}
	rc = req_init(ctx, q, url, opts, detail);
	if (!rc && !q->ref.dir) {
		rc = VX_EURL;
		vx__detail_set(detail, rc, 0, url,
			       "-r lists a repository or a directory: end the URL with '/'");
	}
	if (!rc)
		rc = build_url(q, true);
	if (rc)
		goto out;
	w.q = q;
	extra[0] = q->auth[0] ? q->auth : NULL;
	snprintf(page, VX_SOURCE_URL_MAX, "%s", q->url);
	for (uint32_t n = 0; page[0]; n++) {
		if (n == HUB_PAGES_MAX) {
			rc = VX_ESOURCE_TOOLARGE;
			vx__detail_set(detail, rc, 0, url, "more than %u listing pages",
				       HUB_PAGES_MAX);
			break;
		}
		memset(f, 0, sizeof(*f));
		f->url = page;
		f->opts = opts;
		f->extra_headers = extra;
		f->body_max = VX_SOURCE_DOC_MAX;
		rc = vx__fetch_run(ctx, f);
		if (rc) {
			if (detail)
				*detail = f->detail;
			denied_hint(q, detail);
			vx__fetch_release(f);
			break;
		}
		if (q->ref.hub == VX_SOURCE_HUB_HF)
			rc = vx_source_hf_tree_parse(f->body, f->body_len, hub_file, &w);
		else
			rc = vx_source_ms_files_parse(f->body, f->body_len, hub_file, &w);
		if (rc == -EPROTO || rc == -EREMOTEIO) {
			rc = VX_ESOURCE_PROTO;
			vx__detail_set(detail, rc, f->resp.status, page,
				       "malformed listing reply from the hub");
		}
		if (!rc) {
			char *next = vx_malloc(VX_SOURCE_URL_MAX);

			rc = next ? next_page(q, f->resp.link, next, VX_SOURCE_URL_MAX) : -ENOMEM;
			if (rc == VX_ESOURCE_PROTO)
				vx__detail_set(detail, rc, f->resp.status, page,
					       "bad next-page link (not on the hub's origin)");
			if (next)
				snprintf(page, VX_SOURCE_URL_MAX, "%s", rc ? "" : next);
			vx_free(next);
		}
		vx__fetch_release(f);
		if (rc)
			break;
	}
out:
	req_wipe(q);
	vx_free(page);
	vx_free(f);
	vx_free(q);
	return rc;
}

int vx__hub_register(struct vx_source_ctx *ctx)
{
	static const char *const names[] = { "hf", "modelscope" };
	int rc;

	for (size_t i = 0; i < VX_ARRAY_SIZE(names); i++) {
		struct vx__scheme s = {
			.name = names[i],
			.open = hub_open,
			.prepare = vx__http_prepare,
			.list = hub_list,
		};

		rc = vx__scheme_add(ctx, &s);
		if (rc)
			return rc;
	}
	return 0;
}
