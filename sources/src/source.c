/* SPDX-License-Identifier: Apache-2.0 */
/*
 * source.c: the public face of sources/: contexts, the scheme registry, objects, reads and
 * listings. Network work happens on the worker (worker.c); scheme specifics live in http.c,
 * file.c, s3.c, oci.c, hdfs.c and plugin.c.
 */
#include "vx_source.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "source_int.h"

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_err.h"
#include "vx_log.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const struct vx__scheme *vx__scheme_find(const struct vx_source_ctx *ctx, const char *name)
{
	for (uint32_t i = 0; i < ctx->nr_schemes; i++) {
		if (strcmp(ctx->schemes[i].name, name) == 0)
			return &ctx->schemes[i];
	}
	return NULL;
}

int vx__scheme_add(struct vx_source_ctx *ctx, const struct vx__scheme *s)
{
	if (vx__scheme_find(ctx, s->name))
		return -EEXIST;
	if (ctx->nr_schemes == VX__SCHEMES_MAX)
		return -ENOBUFS;
	ctx->schemes[ctx->nr_schemes++] = *s;
	return 0;
}

int vx_source_ctx_new(struct vx_source_ctx **out, const struct vx_source_ctx_cfg *cfg)
{
	struct vx_source_ctx *ctx;
	int rc;

	VX_ASSERT(out);
	*out = NULL;
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return -ENOMEM;
	ctx = vx_calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	if (cfg)
		ctx->cfg = *cfg;
	if (!ctx->cfg.reqs_max)
		ctx->cfg.reqs_max = 256;
	if (!ctx->cfg.host_conns_max)
		ctx->cfg.host_conns_max = 16;
	if (!ctx->cfg.total_conns_max)
		ctx->cfg.total_conns_max = 64;
	if (!ctx->cfg.workers)
		ctx->cfg.workers = 1;
	if (ctx->cfg.reqs_max > VX_SOURCE_REQS_MAX || ctx->cfg.host_conns_max > 1024 ||
	    ctx->cfg.total_conns_max > 4096 || ctx->cfg.workers > VX_SOURCE_WORKERS_MAX) {
		rc = -EINVAL;
		goto out_free_ctx;
	}
	snprintf(ctx->user_agent, sizeof(ctx->user_agent), "%s",
		 ctx->cfg.user_agent ? ctx->cfg.user_agent : "vx/0.1");
	ctx->cfg.user_agent = NULL;
	{
		const char *hub[2][2] = { { ctx->cfg.hf_endpoint, ctx->cfg.hf_token_file },
					  { ctx->cfg.modelscope_endpoint,
					    ctx->cfg.modelscope_token_file } };

		for (int i = 0; i < 2; i++) {
			if ((hub[i][0] && strlen(hub[i][0]) >= sizeof(ctx->hub_endpoint[i])) ||
			    (hub[i][1] && strlen(hub[i][1]) >= sizeof(ctx->hub_token_file[i]))) {
				rc = -EINVAL;
				goto out_free_ctx;
			}
			snprintf(ctx->hub_endpoint[i], sizeof(ctx->hub_endpoint[i]), "%s",
				 hub[i][0] ? hub[i][0] : "");
			snprintf(ctx->hub_token_file[i], sizeof(ctx->hub_token_file[i]), "%s",
				 hub[i][1] ? hub[i][1] : "");
		}
		ctx->cfg.hf_endpoint = ctx->cfg.hf_token_file = NULL;
		ctx->cfg.modelscope_endpoint = ctx->cfg.modelscope_token_file = NULL;
	}
	pthread_mutex_init(&ctx->lock, NULL);
	pthread_cond_init(&ctx->plugin_cond, NULL);
	vx_rate_init(&ctx->rate, 0, VX__RECV_BUFFER);
	vx_list_init(&ctx->plugin_q);
	vx_list_init(&ctx->live);
	rc = vx__http_register(ctx);
	if (!rc)
		rc = vx__file_register(ctx);
	if (!rc)
		rc = vx__s3_register(ctx);
	if (!rc)
		rc = vx__abs_register(ctx);
	if (!rc)
		rc = vx__oci_register(ctx);
	if (!rc)
		rc = vx__hdfs_register(ctx);
	if (!rc)
		rc = vx__hub_register(ctx);
	if (rc)
		goto out_destroy_lock;
	rc = vx__worker_start(ctx);
	if (rc)
		goto out_destroy_lock;
	*out = ctx;
	return 0;

out_destroy_lock:
	pthread_cond_destroy(&ctx->plugin_cond);
	pthread_mutex_destroy(&ctx->lock);
	vx_rate_destroy(&ctx->rate);
out_free_ctx:
	vx_free(ctx);
	return rc;
}

void vx_source_ctx_free(struct vx_source_ctx *ctx)
{
	if (!ctx)
		return;
	VX_ASSERT(!vx__on_worker(ctx));
	vx__plugin_stop(ctx);
	vx__worker_stop(ctx);
	VX_ASSERT(ctx->nr_live == 0);
	for (uint32_t i = 0; i < ctx->nr_plugins; i++)
		vx__plugin_unload(ctx->plugins[i]);
	pthread_cond_destroy(&ctx->plugin_cond);
	pthread_mutex_destroy(&ctx->lock);
	vx_rate_destroy(&ctx->rate);
	vx_free(ctx);
}

static const struct vx__scheme *scheme_of(const struct vx_source_ctx *ctx, const char *url,
					  struct vx_source_url *u, int *rc)
{
	const struct vx__scheme *s;

	*rc = vx_source_url_parse(u, url, strlen(url));
	if (*rc)
		return NULL;
	s = vx__scheme_find(ctx, u->scheme);
	if (!s)
		*rc = VX_ESCHEME;
	return s;
}

bool vx_source_supports(const struct vx_source_ctx *ctx, const char *url)
{
	struct vx_source_url *u = vx_malloc(sizeof(*u));
	bool ok;
	int rc;

	if (!u)
		return false;
	ok = scheme_of(ctx, url, u, &rc) != NULL;
	vx_free(u);
	return ok;
}

/* ---- Option copies ------------------------------------------------------------------------ */

static int dup_str(struct vx__opts *c, const char **field)
{
	char *s;

	if (!*field)
		return 0;
	s = vx_strdup(*field);
	if (!s)
		return -ENOMEM;
	c->strs[c->nr_strs++] = s;
	*field = s;
	return 0;
}

static void opts_release(struct vx__opts *c)
{
	for (uint32_t i = 0; i < c->nr_strs; i++) {
		/* Secrets are wiped before the memory goes back. */
		memset(c->strs[i], 0, strlen(c->strs[i]));
		vx_free(c->strs[i]);
	}
	vx_free(c->strs);
	vx_free((void *)c->o.headers);
	memset(c, 0, sizeof(*c));
}

/*
 * A request header "Authorization: Basic <base64 user:password>" with no username given
 * becomes the copy's username and password, and leaves the header list: the credentials then
 * answer a registry's token challenge (and a renewal of the token) as --username would, and
 * are not sent beside the Bearer token they buy. (A preheat job's registry credentials reach
 * a daemon this way.) Returns 0, or -ENOMEM; a header that does not decode is left as it is.
 */
static int basic_to_creds(struct vx__opts *c)
{
	const char **h = (const char **)c->o.headers;
	unsigned char *raw;
	const char *v, *sep;
	size_t vl;
	int n;

	if (c->o.username || c->o.bearer_token)
		return 0;
	for (uint32_t i = 0; i < c->o.nr_headers; i++) {
		if (strncasecmp(h[i], "authorization:", 14) != 0)
			continue;
		v = h[i] + 14 + strspn(h[i] + 14, " \t");
		if (strncasecmp(v, "basic ", 6) != 0)
			return 0;
		v += 6 + strspn(v + 6, " \t");
		vl = strcspn(v, " \t");
		if (!vl || vl % 4 || v[vl + strspn(v + vl, " \t")] || vl > 4096)
			return 0;
		raw = vx_malloc(vl / 4 * 3 + 1);
		if (!raw)
			return -ENOMEM;
		n = EVP_DecodeBlock(raw, (const unsigned char *)v, (int)vl);
		if (n > 0 && v[vl - 1] == '=')
			n -= 1 + (v[vl - 2] == '=');
		if (n <= 0 || memchr(raw, '\0', (size_t)n) ||
		    !(sep = memchr(raw, ':', (size_t)n))) {
			vx_free(raw);
			return 0;
		}
		raw[n] = '\0';
		raw[sep - (char *)raw] = '\0';
		c->o.username = (char *)raw;
		c->o.password = (char *)raw + (sep - (char *)raw) + 1;
		n = dup_str(c, &c->o.username) || dup_str(c, &c->o.password) ? -ENOMEM : 0;
		OPENSSL_cleanse(raw, vl / 4 * 3 + 1);
		vx_free(raw);
		if (n)
			return n;
		memmove(&h[i], &h[i + 1], (c->o.nr_headers - i - 1) * sizeof(*h));
		c->o.nr_headers--;
		return 0;
	}
	return 0;
}

static int opts_copy(struct vx__opts *c, const struct vx_source_opts *o)
{
	const char **fields[20];
	const char **hdrs = NULL;
	uint32_t nf = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	if (!o)
		return 0;
	if (o->nr_headers > VX_SOURCE_HEADERS_MAX || (o->nr_headers && !o->headers))
		return -EINVAL;
	c->o = *o;
	c->o.headers = NULL;
	c->o.nr_headers = 0;
	c->strs = vx_calloc(VX_SOURCE_HEADERS_MAX + VX_ARRAY_SIZE(fields), sizeof(char *));
	if (!c->strs)
		return -ENOMEM;
	if (o->nr_headers) {
		hdrs = vx_calloc(o->nr_headers, sizeof(*hdrs));
		if (!hdrs) {
			rc = -ENOMEM;
			goto out_release;
		}
		c->o.headers = hdrs;
		c->o.nr_headers = o->nr_headers;
		for (uint32_t i = 0; i < o->nr_headers; i++) {
			if (!o->headers[i] || strpbrk(o->headers[i], "\r\n")) {
				rc = -EINVAL; /* header injection */
				goto out_release;
			}
			hdrs[i] = o->headers[i];
			rc = dup_str(c, &hdrs[i]);
			if (rc)
				goto out_release;
		}
	}
	fields[nf++] = &c->o.username;
	fields[nf++] = &c->o.password;
	fields[nf++] = &c->o.bearer_token;
	fields[nf++] = &c->o.tls_ca_file;
	fields[nf++] = &c->o.tls_cert_file;
	fields[nf++] = &c->o.tls_key_file;
	fields[nf++] = &c->o.s3_region;
	fields[nf++] = &c->o.s3_endpoint;
	fields[nf++] = &c->o.s3_access_key;
	fields[nf++] = &c->o.s3_secret_key;
	fields[nf++] = &c->o.s3_session_token;
	fields[nf++] = &c->o.s3_credentials_file;
	fields[nf++] = &c->o.s3_profile;
	fields[nf++] = &c->o.oci_platform;
	fields[nf++] = &c->o.hdfs_delegation_token;
	fields[nf++] = &c->o.hdfs_user;
	fields[nf++] = &c->o.hub_endpoint;
	fields[nf++] = &c->o.hub_token;
	for (uint32_t i = 0; i < nf; i++) {
		rc = dup_str(c, fields[i]);
		if (rc)
			goto out_release;
	}
	rc = basic_to_creds(c);
	if (rc)
		goto out_release;
	return 0;

out_release:
	opts_release(c);
	return rc;
}

/* ---- Objects ------------------------------------------------------------------------------ */

void vx__obj_put(struct vx_source_obj *obj)
{
	if (__atomic_sub_fetch(&obj->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (obj->scheme->release)
		obj->scheme->release(obj);
	opts_release(&obj->opts);
	if (obj->auth) {
		memset(obj->auth, 0, strlen(obj->auth));
		vx_free(obj->auth);
	}
	pthread_mutex_destroy(&obj->auth_lock);
	vx_free(obj->read_url);
	vx_free(obj->url);
	vx_free(obj);
}

int vx__obj_auth_append(struct vx_source_obj *obj, struct vx__xfer *x)
{
	int rc = 0;

	pthread_mutex_lock(&obj->auth_lock);
	x->auth_gen = obj->auth_gen;
	if (obj->auth)
		rc = vx__hdr_append(&x->hdrs, "%s", obj->auth);
	pthread_mutex_unlock(&obj->auth_lock);
	return rc;
}

int vx__obj_auth_set(struct vx_source_obj *obj, const char *line)
{
	char *fresh = vx_strdup(line);
	char *old;

	if (!fresh)
		return -ENOMEM;
	pthread_mutex_lock(&obj->auth_lock);
	old = obj->auth;
	obj->auth = fresh;
	obj->auth_gen++;
	pthread_mutex_unlock(&obj->auth_lock);
	if (old) {
		memset(old, 0, strlen(old));
		vx_free(old);
	}
	return 0;
}

void vx_source_obj_free(struct vx_source_obj *obj)
{
	if (obj)
		vx__obj_put(obj);
}

const struct vx_source_stat *vx_source_obj_stat(const struct vx_source_obj *obj)
{
	return &obj->stat;
}

void vx__stat_from_resp(struct vx_source_stat *st, const struct vx__resp *r)
{
	snprintf(st->etag, sizeof(st->etag), "%s", r->etag);
	snprintf(st->last_modified, sizeof(st->last_modified), "%s", r->last_modified);
	snprintf(st->content_type, sizeof(st->content_type), "%s", r->content_type);
	memcpy(st->kept_headers, r->kept, sizeof(st->kept_headers));
}

/*
 * What a fetch for another host (vx_source_opts.outbound set) may use: http, https and the
 * registry schemes (oci, oci+http, oci+https: they read no credentials of this host, only those
 * the caller passes in the options for the requester) and the model hubs (hf, modelscope:
 * anonymous unless the options carry a token), without user-info. Everything else would
 * act with this host's own rights, which the requester may lack: a file here, a plug-in's own
 * I/O (no connection the policy could check), the cloud credentials of this host's environment
 * and profiles (s3, gs, hdfs), the user-info of the URL (the bytes would then be served as if
 * public), and ftp (its data connections and anonymous logins are not worth the risk).
 */
/* hf:// and modelscope:// read no token of this host for another one (hub.c, token_of()). */
static bool hub_scheme(const char *scheme)
{
	return strcmp(scheme, "hf") == 0 || strcmp(scheme, "modelscope") == 0;
}

static bool for_another_host_ok(const struct vx__scheme *s, const struct vx_source_url *u)
{
	if (s->local_files || s->plugin)
		return false;
	if (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0 &&
	    strncmp(u->scheme, "oci", 3) != 0 && !hub_scheme(u->scheme))
		return false;
	return !(u->user && *u->user) && !(u->password && *u->password);
}

int vx_source_open(struct vx_source_ctx *ctx, const char *url, const struct vx_source_opts *opts,
		   struct vx_source_obj **out, struct vx_source_error *detail)
{
	struct vx_source_obj *obj;
	struct vx_source_url *u;
	const struct vx__scheme *s;
	int rc;

	VX_ASSERT(ctx);
	VX_ASSERT(url);
	VX_ASSERT(out);
	VX_ASSERT(!vx__on_worker(ctx));
	*out = NULL;
	if (detail)
		memset(detail, 0, sizeof(*detail));
	u = vx_malloc(sizeof(*u));
	if (!u)
		return -ENOMEM;
	s = scheme_of(ctx, url, u, &rc);
	if (!s) {
		vx__detail_set(detail, rc, 0, url, "%s", vx_strerror(rc));
		goto out_free_url;
	}
	if (opts && opts->outbound && !for_another_host_ok(s, u)) {
		rc = -EACCES;
		vx__detail_set(
			detail, rc, 0, url,
			"%s: only anonymous http and https URLs are fetched for another host",
			s->name);
		goto out_free_url;
	}
	obj = vx_calloc(1, sizeof(*obj));
	if (!obj) {
		rc = -ENOMEM;
		goto out_free_url;
	}
	obj->ctx = ctx;
	obj->scheme = s;
	obj->refs = 1;
	pthread_mutex_init(&obj->auth_lock, NULL);
	obj->stat.length = VX_SOURCE_LENGTH_UNKNOWN;
	obj->url = vx_strdup(url);
	if (!obj->url) {
		rc = -ENOMEM;
		goto out_free_obj;
	}
	rc = opts_copy(&obj->opts, opts);
	if (rc) {
		vx__detail_set(detail, rc, 0, url, "bad request options");
		goto out_free_obj;
	}
	rc = s->open(obj, u, detail);
	if (rc) {
		if (detail && !detail->err)
			vx__detail_set(detail, rc, 0, url, "%s", vx_strerror(rc));
		goto out_put_obj;
	}
	if (opts && opts->length_max && obj->stat.length > 0 &&
	    (uint64_t)obj->stat.length > opts->length_max) {
		rc = VX_ESOURCE_TOOLARGE;
		vx__detail_set(detail, rc, 0, url, "%lld bytes, more than the %llu allowed",
			       (long long)obj->stat.length, (unsigned long long)opts->length_max);
		goto out_put_obj;
	}
	vx_free(u);
	*out = obj;
	return 0;

out_put_obj:
	vx__obj_put(obj);
	vx_free(u);
	return rc;
out_free_obj:
	vx_free(obj->url);
	opts_release(&obj->opts);
	pthread_mutex_destroy(&obj->auth_lock);
	vx_free(obj);
out_free_url:
	vx_free(u);
	return rc;
}

/* ---- Reads -------------------------------------------------------------------------------- */

void vx_source_ctx_set_rate(struct vx_source_ctx *ctx, uint64_t bytes_per_s)
{
	vx_rate_set(&ctx->rate, bytes_per_s);
}

bool vx__xfer_rate_try(struct vx__xfer *x, uint64_t n)
{
	return vx_rate_try(x->rates, VX_ARRAY_SIZE(x->rates), n);
}

int vx_source_read_submit(struct vx_source_obj *obj, const struct vx_source_read *rd, uint64_t *id)
{
	const struct vx_source_stat *st = &obj->stat;
	struct vx__xfer *x;
	uint64_t len = rd->length;
	int rc;

	VX_ASSERT(rd->sink);
	VX_ASSERT(rd->done);
	if (id)
		*id = 0;
	if (len == 0)
		return -EINVAL;
	if (st->length >= 0) {
		if (rd->offset > (uint64_t)st->length)
			return VX_ESOURCE_BADREQ;
		if (len == VX_SOURCE_LEN_TO_END)
			len = (uint64_t)st->length - rd->offset;
		else if (len > (uint64_t)st->length - rd->offset)
			return VX_ESOURCE_BADREQ;
	}
	if (!st->ranges && rd->offset != 0)
		return VX_ESOURCE_BADREQ;
	x = vx_calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	vx_list_init(&x->node);
	x->kind = VX__XFER_READ;
	x->obj = obj;
	x->opts = &obj->opts.o;
	x->off = rd->offset;
	x->left = len;
	x->sink = rd->sink;
	x->done = rd->done;
	x->arg = rd->arg;
	x->rates[0] = &obj->ctx->rate;
	for (uint32_t i = 0; i < VX_SOURCE_READ_RATES; i++)
		x->rates[1 + i] = rd->rates[i];
	if (obj->verify_digest && rd->offset == 0 && st->length >= 0 &&
	    len == (uint64_t)st->length && strncmp(st->digest, "sha256:", 7) == 0) {
		x->sha = EVP_MD_CTX_new();
		if (!x->sha || EVP_DigestInit_ex(x->sha, EVP_sha256(), NULL) != 1) {
			EVP_MD_CTX_free(x->sha);
			vx_free(x);
			return -ENOMEM;
		}
	}
	__atomic_add_fetch(&obj->refs, 1, __ATOMIC_ACQ_REL);
	if (obj->scheme->plugin)
		rc = vx__plugin_submit(obj->ctx, x, id);
	else
		rc = vx__xfer_submit(obj->ctx, x, id);
	if (rc) {
		x->obj = obj;
		vx__xfer_free(x); /* drops the reference taken above */
		return rc;
	}
	return 0; /* x belongs to the worker now: it may already be done and freed */
}

int vx_source_cancel(struct vx_source_ctx *ctx, uint64_t id)
{
	struct vx_list *pos;
	int rc = -ENOENT;

	pthread_mutex_lock(&ctx->lock);
	vx_list_for_each(pos, &ctx->live) {
		struct vx__xfer *x = vx_list_entry(pos, struct vx__xfer, live_node);

		if (x->id == id && x->kind == VX__XFER_READ) {
			__atomic_store_n(&x->cancel, true, __ATOMIC_RELAXED);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&ctx->lock);
	if (rc == 0) {
		vx__worker_wake_all(ctx);
		pthread_cond_broadcast(&ctx->plugin_cond);
	}
	return rc;
}

struct sync_read {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool finished;
	int err;
	vx_source_sink_fn sink;
	void *arg;
	struct vx_source_error detail;
};

static int sync_sink(void *arg, const void *data, size_t len)
{
	struct sync_read *s = arg;

	return s->sink(s->arg, data, len);
}

static void sync_done(void *arg, int err, const struct vx_source_error *detail)
{
	struct sync_read *s = arg;

	pthread_mutex_lock(&s->lock);
	s->err = err;
	if (detail)
		s->detail = *detail;
	s->finished = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

int vx_source_read(struct vx_source_obj *obj, uint64_t offset, uint64_t length,
		   vx_source_sink_fn sink, void *arg, struct vx_source_error *detail)
{
	struct sync_read s;
	struct vx_source_read rd = {
		.offset = offset,
		.length = length,
		.sink = sync_sink,
		.done = sync_done,
		.arg = &s,
	};
	int rc;

	VX_ASSERT(!vx__on_worker(obj->ctx));
	memset(&s, 0, sizeof(s));
	s.sink = sink;
	s.arg = arg;
	if (detail)
		memset(detail, 0, sizeof(*detail));
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	rc = vx_source_read_submit(obj, &rd, NULL);
	if (rc) {
		vx__detail_set(detail, rc, 0, obj->url, "%s", vx_strerror(rc));
		goto out_destroy;
	}
	pthread_mutex_lock(&s.lock);
	while (!s.finished)
		pthread_cond_wait(&s.cond, &s.lock);
	pthread_mutex_unlock(&s.lock);
	rc = s.err;
	if (detail && rc)
		*detail = s.detail;
out_destroy:
	pthread_cond_destroy(&s.cond);
	pthread_mutex_destroy(&s.lock);
	return rc;
}

/* ---- Listings ----------------------------------------------------------------------------- */

int vx_source_list(struct vx_source_ctx *ctx, const char *url, const struct vx_source_opts *opts,
		   vx_source_entry_fn fn, void *arg, struct vx_source_error *detail)
{
	struct vx_source_url *u;
	const struct vx__scheme *s;
	int rc;

	VX_ASSERT(!vx__on_worker(ctx));
	if (detail)
		memset(detail, 0, sizeof(*detail));
	u = vx_malloc(sizeof(*u));
	if (!u)
		return -ENOMEM;
	s = scheme_of(ctx, url, u, &rc);
	if (!s) {
		vx__detail_set(detail, rc, 0, url, "%s", vx_strerror(rc));
		goto out_free_url;
	}
	if (!s->list) {
		rc = -EOPNOTSUPP;
		vx__detail_set(detail, rc, 0, url, "%s:// cannot list", s->name);
		goto out_free_url;
	}
	rc = s->list(ctx, url, u, opts, fn, arg, detail);
	if (rc && detail && !detail->err)
		vx__detail_set(detail, rc, 0, url, "%s", vx_strerror(rc));
out_free_url:
	vx_free(u);
	return rc;
}

char *vx_source_error_format(const struct vx_source_error *d, char *buf, size_t size)
{
	char status[32] = "";

	if (size == 0)
		return buf;
	if (d->status)
		snprintf(status, sizeof(status), " (status %d)", d->status);
	snprintf(buf, size, "%s%s%s%s%s%s", vx_strerror(d->err), status, d->url[0] ? " for " : "",
		 d->url, d->msg[0] ? ": " : "", d->msg);
	return buf;
}
