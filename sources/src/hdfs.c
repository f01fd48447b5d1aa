/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hdfs.c: hdfs://namenode[:port]/path through the WebHDFS REST API (plain HTTP; webhdfs:// is
 * an alias, swebhdfs:// uses https). Port 9870 when none is given (Hadoop 3's namenode HTTP).
 *
 *   stat  GET /webhdfs/v1/<path>?op=GETFILESTATUS
 *   read  GET /webhdfs/v1/<path>?op=OPEN&offset=N&length=M, following the namenode's 307 to a
 *         datanode; the range travels in the URL, not in a Range header
 *   list  GET /webhdfs/v1/<path>?op=LISTSTATUS (sub-directories come back with is_dir)
 *
 * Auth: delegation=<token> when the options carry one (secret: URLs in logs and error details
 * lose their query), else user.name=<hdfs_user> when given (pseudo auth), else nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "source_int.h"

#include "vx_alloc.h"
#include "vx_err.h"

#define HDFS_PORT 9870

struct hdfs_priv {
	char base[700];	 /* "http://nn:9870/webhdfs/v1" */
	char path[4096]; /* raw URL path, begins with '/' */
	char auth[2048]; /* "&delegation=..." or "&user.name=..." or ""; secret */
};

static int hdfs_resolve(const char *url, const struct vx_source_url *u,
			const struct vx_source_opts *o, struct hdfs_priv *p,
			struct vx_source_error *detail)
{
	const char *scheme = strcmp(u->scheme, "swebhdfs") == 0 ? "https" : "http";
	char enc[1500];

	memset(p, 0, sizeof(*p));
	if (!u->host[0] || u->user[0] || u->query[0] || strlen(u->path) >= sizeof(p->path)) {
		vx__detail_set(detail, VX_EURL, 0, url,
			       "WebHDFS URLs are hdfs://namenode:port/path");
		return VX_EURL;
	}
	snprintf(p->base, sizeof(p->base),
		 u->ipv6 ? "%s://[%s]:%u/webhdfs/v1" : "%s://%s:%u/webhdfs/v1", scheme, u->host,
		 u->port ? u->port : HDFS_PORT);
	snprintf(p->path, sizeof(p->path), "%s", u->path[0] ? u->path : "/");
	if (o && o->hdfs_delegation_token) {
		if (vx_source_uri_encode(o->hdfs_delegation_token, strlen(o->hdfs_delegation_token),
					 false, enc, sizeof(enc)))
			return -EMSGSIZE;
		snprintf(p->auth, sizeof(p->auth), "&delegation=%s", enc);
	} else if (o && o->hdfs_user) {
		if (vx_source_uri_encode(o->hdfs_user, strlen(o->hdfs_user), false, enc,
					 sizeof(enc)))
			return -EMSGSIZE;
		snprintf(p->auth, sizeof(p->auth), "&user.name=%s", enc);
	}
	memset(enc, 0, sizeof(enc));
	return 0;
}

static int hdfs_url(const struct hdfs_priv *p, const char *op, char *out, size_t size)
{
	int n = snprintf(out, size, "%s%s?op=%s%s", p->base, p->path, op, p->auth);

	return n < 0 || (size_t)n >= size ? -EMSGSIZE : 0;
}

/* Maps a failed WebHDFS call; RemoteException bodies end up in the detail message. */
static int hdfs_get(struct vx_source_ctx *ctx, const struct vx_source_opts *o, const char *url,
		    struct vx__fetch *f, struct vx_source_error *detail)
{
	int rc;

	memset(f, 0, sizeof(*f));
	f->url = url;
	f->opts = o;
	f->body_max = VX_SOURCE_DOC_MAX;
	rc = vx__fetch_run(ctx, f);
	if (rc && detail)
		*detail = f->detail;
	return rc;
}

static int hdfs_open(struct vx_source_obj *obj, const struct vx_source_url *u,
		     struct vx_source_error *detail)
{
	struct vx_source_hdfs_status st;
	char url[VX_SOURCE_URL_MAX];
	struct hdfs_priv *p;
	struct vx__fetch *f;
	struct tm tm;
	time_t t;
	int rc;

	p = vx_calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	obj->priv = p;
	rc = hdfs_resolve(obj->url, u, &obj->opts.o, p, detail);
	if (!rc)
		rc = hdfs_url(p, "GETFILESTATUS", url, sizeof(url));
	if (rc)
		return rc;
	f = vx_malloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	rc = hdfs_get(obj->ctx, &obj->opts.o, url, f, detail);
	if (rc)
		goto out_free;
	rc = vx_source_hdfs_status_parse(f->body, f->body_len, &st);
	vx__fetch_release(f);
	if (rc) {
		rc = VX_ESOURCE_PROTO;
		vx__detail_set(detail, rc, 200, url, "malformed GETFILESTATUS reply");
		goto out_free;
	}
	obj->stat.is_dir = st.is_dir;
	obj->stat.length = st.is_dir ? VX_SOURCE_LENGTH_UNKNOWN : st.length;
	obj->stat.ranges = !st.is_dir;
	obj->range_in_url = true;
	t = (time_t)(st.mtime_ms / 1000);
	if (st.mtime_ms > 0 && gmtime_r(&t, &tm))
		strftime(obj->stat.last_modified, sizeof(obj->stat.last_modified),
			 "%a, %d %b %Y %H:%M:%S GMT", &tm);
	vx_source_url_redact(obj->url, obj->stat.final_url, sizeof(obj->stat.final_url));
out_free:
	vx_free(f);
	return rc;
}

static int hdfs_prepare(struct vx_source_obj *obj, struct vx__xfer *x)
{
	const struct hdfs_priv *p = obj->priv;
	char url[VX_SOURCE_URL_MAX];
	int n;

	if (x->left == VX_SOURCE_LEN_TO_END)
		n = snprintf(url, sizeof(url), "%s%s?op=OPEN&offset=%llu%s", p->base, p->path,
			     (unsigned long long)x->off, p->auth);
	else
		n = snprintf(url, sizeof(url), "%s%s?op=OPEN&offset=%llu&length=%llu%s", p->base,
			     p->path, (unsigned long long)x->off, (unsigned long long)x->left,
			     p->auth);
	if (n < 0 || (size_t)n >= sizeof(url))
		return -EMSGSIZE;
	x->range_in_url = true;
	x->url = vx_strdup(url);
	return x->url ? 0 : -ENOMEM;
}

static void hdfs_release(struct vx_source_obj *obj)
{
	if (obj->priv)
		memset(obj->priv, 0, sizeof(struct hdfs_priv));
	vx_free(obj->priv);
	obj->priv = NULL;
}

struct hdfs_list_ctx {
	const char *url;
	vx_source_entry_fn fn;
	void *arg;
};

static int hdfs_entry(void *arg, const struct vx_source_hdfs_status *st)
{
	struct hdfs_list_ctx *c = arg;
	char url[VX_SOURCE_URL_MAX], enc[800];
	struct vx_source_entry e = { 0 };
	size_t ul = strlen(c->url);

	if (!st->name[0])
		return VX_ESOURCE_PROTO; /* LISTSTATUS of a directory names its entries */
	if (vx_source_uri_encode(st->name, strlen(st->name), false, enc, sizeof(enc)))
		return 0;
	if (snprintf(url, sizeof(url), "%s%s%s", c->url, ul && c->url[ul - 1] == '/' ? "" : "/",
		     enc) >= (int)sizeof(url))
		return 0;
	e.url = url;
	e.name = st->name;
	e.is_dir = st->is_dir;
	e.length = st->is_dir ? VX_SOURCE_LENGTH_UNKNOWN : st->length;
	return c->fn(c->arg, &e);
}

static int hdfs_list(struct vx_source_ctx *ctx, const char *url, const struct vx_source_url *u,
		     const struct vx_source_opts *opts, vx_source_entry_fn fn, void *arg,
		     struct vx_source_error *detail)
{
	struct hdfs_list_ctx c = { .url = url, .fn = fn, .arg = arg };
	char req[VX_SOURCE_URL_MAX];
	struct hdfs_priv *p;
	struct vx__fetch *f;
	int rc;

	p = vx_calloc(1, sizeof(*p));
	f = vx_malloc(sizeof(*f));
	if (!p || !f) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = hdfs_resolve(url, u, opts, p, detail);
	if (!rc)
		rc = hdfs_url(p, "LISTSTATUS", req, sizeof(req));
	if (!rc)
		rc = hdfs_get(ctx, opts, req, f, detail);
	if (rc)
		goto out_free;
	rc = vx_source_hdfs_list_parse(f->body, f->body_len, hdfs_entry, &c);
	vx__fetch_release(f);
	if (rc == -EPROTO || rc == -EREMOTEIO) {
		rc = VX_ESOURCE_PROTO;
		vx__detail_set(detail, rc, 200, req, "malformed LISTSTATUS reply");
	}
out_free:
	if (p)
		memset(p, 0, sizeof(*p));
	vx_free(p);
	vx_free(f);
	return rc;
}

int vx__hdfs_register(struct vx_source_ctx *ctx)
{
	static const char *const names[] = { "hdfs", "webhdfs", "swebhdfs" };
	int rc;

	for (size_t i = 0; i < VX_ARRAY_SIZE(names); i++) {
		struct vx__scheme s = {
			.name = names[i],
			.open = hdfs_open,
			.prepare = hdfs_prepare,
			.list = hdfs_list,
			.release = hdfs_release,
		};

		rc = vx__scheme_add(ctx, &s);
		if (rc)
			return rc;
	}
	return 0;
}
