/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plugin.c: source plug-ins (vx_source_plugin.h). A plug-in's functions block, so its reads
 * run on a helper thread of the context (started on first use), one at a time, and their
 * sink and done callbacks run there. Stat and list run on the caller's thread. The same
 * helper renews registry tokens for reads that got 401 (blocking work a worker must not do)
 * and hands those reads back to a worker.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "source_int.h"

#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_log.h"

static void plugin_req(const struct vx_source_obj *obj, const char *url,
		       struct vx_source_plugin_req *req)
{
	memset(req, 0, sizeof(*req));
	req->url = url;
	req->headers = obj ? obj->opts.o.headers : NULL;
	req->nr_headers = obj ? obj->opts.o.nr_headers : 0;
	req->timeout_ms = obj ? obj->opts.o.timeout_ms : 0;
}

static int plugin_open(struct vx_source_obj *obj, const struct vx_source_url *u,
		       struct vx_source_error *detail)
{
	const struct vx_source_plugin_v1 *p = obj->scheme->plugin;
	struct vx_source_plugin_req req;
	struct vx_source_plugin_stat st;
	int rc;

	(void)u;
	plugin_req(obj, obj->url, &req);
	memset(&st, 0, sizeof(st));
	st.length = -1;
	rc = p->stat(&req, &st);
	if (rc) {
		vx__detail_set(detail, rc > 0 ? -EPROTO : rc, 0, obj->url,
			       "plug-in %s: stat failed", p->name);
		return rc > 0 ? -EPROTO : rc;
	}
	obj->stat.length = st.length >= 0 ? st.length : VX_SOURCE_LENGTH_UNKNOWN;
	obj->stat.ranges = st.ranges != 0;
	obj->stat.is_dir = st.is_dir != 0;
	st.etag[sizeof(st.etag) - 1] = '\0';
	snprintf(obj->stat.etag, sizeof(obj->stat.etag), "%s", st.etag);
	vx_source_url_redact(obj->url, obj->stat.final_url, sizeof(obj->stat.final_url));
	return 0;
}

struct plugin_list_ctx {
	const char *base;
	vx_source_entry_fn fn;
	void *arg;
};

static int plugin_entry(void *host_arg, const char *name, int64_t length, int32_t is_dir)
{
	struct plugin_list_ctx *c = host_arg;
	char url[VX_SOURCE_URL_MAX];
	struct vx_source_entry e = { 0 };
	size_t bl = strlen(c->base);

	if (!name || !name[0])
		return -EPROTO;
	if (snprintf(url, sizeof(url), "%s%s%s", c->base, bl && c->base[bl - 1] == '/' ? "" : "/",
		     name) >= (int)sizeof(url))
		return -ENAMETOOLONG;
	e.url = url;
	e.name = name;
	e.length = length >= 0 ? length : VX_SOURCE_LENGTH_UNKNOWN;
	e.is_dir = is_dir != 0;
	return c->fn(c->arg, &e);
}

static int plugin_list(struct vx_source_ctx *ctx, const char *url, const struct vx_source_url *u,
		       const struct vx_source_opts *opts, vx_source_entry_fn fn, void *arg,
		       struct vx_source_error *detail)
{
	const struct vx__scheme *s = vx__scheme_find(ctx, u->scheme);
	const struct vx_source_plugin_v1 *p = s->plugin;
	struct plugin_list_ctx c = { .base = url, .fn = fn, .arg = arg };
	struct vx_source_plugin_req req;
	int rc;

	if (!p->list) {
		vx__detail_set(detail, -EOPNOTSUPP, 0, url, "plug-in %s cannot list", p->name);
		return -EOPNOTSUPP;
	}
	memset(&req, 0, sizeof(req));
	req.url = url;
	req.headers = opts ? opts->headers : NULL;
	req.nr_headers = opts ? opts->nr_headers : 0;
	rc = p->list(&req, plugin_entry, &c);
	return rc > 0 ? -EPROTO : rc;
}

/* ---- The plug-in thread ------------------------------------------------------------------ */

struct plugin_sink_ctx {
	struct vx__xfer *x;
};

static int plugin_sink(void *host_arg, const void *data, uint64_t len)
{
	struct vx__xfer *x = host_arg;
	int rc;

	if (__atomic_load_n(&x->cancel, __ATOMIC_RELAXED))
		return -ECANCELED;
	if (x->left != VX_SOURCE_LEN_TO_END && len > x->left)
		return -EPROTO; /* more than asked for */
	/* over its rates, the plug-in thread waits here (a worker pauses its transfer instead) */
	for (uint64_t spent = 0; spent < len;) {
		uint64_t n = VX_MIN(len - spent, (uint64_t)VX__RECV_BUFFER);

		if (__atomic_load_n(&x->cancel, __ATOMIC_RELAXED))
			return -ECANCELED;
		if (vx__xfer_rate_try(x, n))
			spent += n;
		else
			usleep(VX__RATE_TICK_MS * 1000);
	}
	rc = x->sink(x->arg, data, (size_t)len);
	if (rc)
		return rc < 0 ? rc : -EINVAL;
	x->delivered += len;
	if (x->left != VX_SOURCE_LEN_TO_END)
		x->left -= len;
	return 0;
}

static void plugin_run(struct vx_source_ctx *ctx, struct vx__xfer *x, bool stopping)
{
	const struct vx_source_plugin_v1 *p = x->obj->scheme->plugin;
	struct vx_source_plugin_req req;
	uint64_t want = x->left;
	int rc = -ECANCELED;

	if (!stopping && !__atomic_load_n(&x->cancel, __ATOMIC_RELAXED)) {
		plugin_req(x->obj, x->obj->url, &req);
		x->attempts = 1;
		rc = p->read(&req, x->off, want, plugin_sink, x);
		if (rc > 0)
			rc = -EPROTO;
		if (rc == 0 && want != VX_SOURCE_LEN_TO_END && x->left != 0)
			rc = VX_ESOURCE_PROTO;
		if (__atomic_load_n(&x->cancel, __ATOMIC_RELAXED))
			rc = -ECANCELED;
	}
	if (rc)
		vx__detail_set(&x->detail, rc, 0, x->obj->url, "plug-in %s: %s", p->name,
			       vx_strerror(rc));
	x->detail.attempts = x->attempts;
	pthread_mutex_lock(&ctx->lock);
	vx_list_del(&x->live_node);
	ctx->nr_live--;
	pthread_mutex_unlock(&ctx->lock);
	x->done(x->arg, rc, rc ? &x->detail : NULL);
	vx__xfer_free(x);
}

/* A read got 401: renew the object's token unless another read already did, then hand it back. */
static void reauth_run(struct vx_source_ctx *ctx, struct vx__xfer *x, bool stopping)
{
	struct vx_source_obj *obj = x->obj;
	uint32_t gen;
	int rc;

	if (stopping || __atomic_load_n(&x->cancel, __ATOMIC_RELAXED)) {
		x->preset_err = -ECANCELED;
		goto out_resubmit;
	}
	pthread_mutex_lock(&obj->auth_lock);
	gen = obj->auth_gen;
	pthread_mutex_unlock(&obj->auth_lock);
	if (gen == x->auth_gen) {
		rc = obj->scheme->reauth(obj, x->resp.challenge, &x->detail);
		if (rc)
			x->preset_err = rc;
	}
out_resubmit:
	vx__xfer_resubmit(ctx, x);
}

static void *plugin_main(void *arg)
{
	struct vx_source_ctx *ctx = arg;

	for (;;) {
		struct vx__xfer *x;
		bool stopping;

		pthread_mutex_lock(&ctx->lock);
		while (vx_list_empty(&ctx->plugin_q) && !ctx->stopping)
			pthread_cond_wait(&ctx->plugin_cond, &ctx->lock);
		stopping = ctx->stopping;
		if (vx_list_empty(&ctx->plugin_q)) {
			pthread_mutex_unlock(&ctx->lock);
			break;
		}
		x = vx_list_first(&ctx->plugin_q, struct vx__xfer, node);
		vx_list_del(&x->node);
		pthread_mutex_unlock(&ctx->lock);
		if (x->obj->scheme->plugin)
			plugin_run(ctx, x, stopping);
		else
			reauth_run(ctx, x, stopping);
	}
	return NULL;
}

static int helper_start_locked(struct vx_source_ctx *ctx)
{
	int rc;

	if (ctx->plugin_thread_started)
		return 0;
	rc = -pthread_create(&ctx->plugin_thread, NULL, plugin_main, ctx);
	if (!rc)
		ctx->plugin_thread_started = true;
	return rc;
}

int vx__plugin_submit(struct vx_source_ctx *ctx, struct vx__xfer *x, uint64_t *id)
{
	int rc = 0;

	pthread_mutex_lock(&ctx->lock);
	if (ctx->stopping) {
		rc = -ESHUTDOWN;
		goto out_unlock;
	}
	if (ctx->nr_live >= ctx->cfg.reqs_max) {
		rc = -ENOBUFS;
		goto out_unlock;
	}
	rc = helper_start_locked(ctx);
	if (rc)
		goto out_unlock;
	x->id = ++ctx->next_id;
	if (id)
		*id = x->id;
	x->ctx = ctx;
	ctx->nr_live++;
	vx_list_add_tail(&ctx->live, &x->live_node);
	vx_list_add_tail(&ctx->plugin_q, &x->node);
	pthread_cond_signal(&ctx->plugin_cond);
out_unlock:
	pthread_mutex_unlock(&ctx->lock);
	return rc;
}

int vx__helper_reauth(struct vx_source_ctx *ctx, struct vx__xfer *x)
{
	int rc;

	pthread_mutex_lock(&ctx->lock);
	rc = ctx->stopping ? -ESHUTDOWN : helper_start_locked(ctx);
	if (!rc) {
		vx_list_add_tail(&ctx->plugin_q, &x->node);
		pthread_cond_signal(&ctx->plugin_cond);
	}
	pthread_mutex_unlock(&ctx->lock);
	return rc;
}

void vx__plugin_stop(struct vx_source_ctx *ctx)
{
	bool started;

	pthread_mutex_lock(&ctx->lock);
	ctx->stopping = true;
	started = ctx->plugin_thread_started;
	pthread_cond_broadcast(&ctx->plugin_cond);
	pthread_mutex_unlock(&ctx->lock);
	if (started)
		pthread_join(ctx->plugin_thread, NULL);
}

void vx__plugin_unload(void *handle)
{
	dlclose(handle);
}

int vx_source_plugin_load(struct vx_source_ctx *ctx, const char *path)
{
	const struct vx_source_plugin_v1 *p;
	vx_source_plugin_v1_fn entry;
	uint32_t added = 0;
	void *h;
	int rc;

	if (ctx->nr_plugins == VX__PLUGINS_MAX)
		return -ENOBUFS;
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		vx_warn("source: cannot load plug-in %s: %s", path, dlerror());
		return access(path, R_OK) == 0 ? -ENOEXEC : -ENOENT;
	}
	*(void **)&entry = dlsym(h, VX_SOURCE_PLUGIN_SYMBOL);
	if (!entry) {
		rc = -ENOEXEC;
		goto out_close;
	}
	p = entry();
	if (!p || p->abi_version != VX_SOURCE_PLUGIN_ABI_V1 ||
	    p->struct_size < sizeof(struct vx_source_plugin_v1) || !p->name || !p->stat ||
	    !p->read) {
		vx_warn("source: plug-in %s speaks ABI %u, this build speaks %u", path,
			p ? p->abi_version : 0, VX_SOURCE_PLUGIN_ABI_V1);
		rc = -EPROTO;
		goto out_close;
	}
	pthread_mutex_lock(&ctx->lock);
	for (uint32_t i = 0; i < VX_SOURCE_PLUGIN_SCHEMES_MAX && p->schemes[i]; i++) {
		if (vx__scheme_find(ctx, p->schemes[i])) {
			rc = -EEXIST;
			goto out_unlock;
		}
	}
	for (uint32_t i = 0; i < VX_SOURCE_PLUGIN_SCHEMES_MAX && p->schemes[i]; i++) {
		struct vx__scheme s = {
			.name = p->schemes[i],
			.open = plugin_open,
			.list = plugin_list,
			.plugin = p,
		};

		rc = vx__scheme_add(ctx, &s);
		if (rc)
			goto out_unlock;
		added++;
	}
	if (added == 0) {
		rc = -EINVAL;
		goto out_unlock;
	}
	ctx->plugins[ctx->nr_plugins++] = h;
	pthread_mutex_unlock(&ctx->lock);
	vx_info("source: plug-in %s serves %u scheme(s)", p->name, added);
	return 0;

out_unlock:
	ctx->nr_schemes -= added;
	pthread_mutex_unlock(&ctx->lock);
out_close:
	dlclose(h);
	return rc;
}
