/* SPDX-License-Identifier: Apache-2.0 */
/*
 * serve_ccfg.c: the daemon applies the cluster configuration document (spec/peer.md "Cluster
 * configuration"): the keys the daemon's own file and flags set are kept (said once); what can
 * change live is applied (log level, rate limits, the scheduler list, GC, the proxy's rules),
 * the rest is logged as
 * needing a restart. The last good document is kept in DATA_DIR/cluster-config.json and used
 * at the next start until a control plane answers.
 */
#include "serve_ccfg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_ctl_msg.h"
#include "vx_file.h"
#include "vx_hostaddr.h"
#include "vx_metrics.h"
#include "vx_metrics_defs.h"
#include "vx_log.h"
#include "vx_proxy_fwd.h"

#define CCFG_FILE "cluster-config.json"

/* the keys applied without a restart */
static const char *const live_keys[] = {
	"log_level",
	"schedulers",
	"upload.rate_limit",
	"download.rate_limit",
	"download.back_to_source_rate_limit",
	"download.task_rate_limit",
	"storage.gc_high_percent",
	"storage.gc_low_percent",
	"storage.task_ttl",
	"storage.gc_interval",
	"proxy.rules",
	"proxy.direct_rules",
};

struct vx_peer_rates vx_serve_rates(const struct vx_config *c)
{
	return (struct vx_peer_rates){
		.upload_bps = c->upload.rate_limit_bps,
		.download_bps = c->download.rate_limit_bps,
		.source_bps = c->download.back_to_source_rate_limit_bps,
		.task_bps = c->download.task_rate_limit_bps,
	};
}

struct note {
	char applied[512], restart[512], local[512];
};

static void add(char *list, size_t len, const char *name)
{
	size_t n = strlen(list);

	snprintf(list + n, len - n, "%s%s", n ? ", " : "", name);
}

static void note_changed(void *arg, const char *name)
{
	struct note *nt = arg;
	bool live = false;

	for (size_t i = 0; i < sizeof(live_keys) / sizeof(live_keys[0]); i++)
		live = live || strcmp(live_keys[i], name) == 0;
	if (live)
		add(nt->applied, sizeof(nt->applied), name);
	else
		add(nt->restart, sizeof(nt->restart), name);
}

static void note_local(void *arg, const char *name)
{
	struct note *nt = arg;

	add(nt->local, sizeof(nt->local), name);
}

/* @n patterns of @list compiled as the proxy does (@defaults when @n is 0). */
static int rules_one(const char (*list)[VX_CONFIG_STR_MAX], unsigned n, const char *const *defaults,
		     const char *key, char *err, size_t err_len)
{
	const char *pats[VX_CONFIG_RULES_MAX];
	struct vx_proxy_rules r = { 0 };
	int rc;

	if (!n && !defaults)
		return 0;
	for (unsigned i = 0; i < n; i++)
		pats[i] = list[i];
	rc = vx_proxy_rules_compile_as(&r, pats, n, defaults, key, err, err_len);
	vx_proxy_rules_free(&r);
	return rc ? -EINVAL : 0;
}

int vx_serve_rules_check(const struct vx_config *c, char *err, size_t err_len)
{
	if (rules_one(c->proxy.rules, c->proxy.nr_rules, vx_proxy_rules_default, "proxy.rules", err,
		      err_len) ||
	    rules_one(c->proxy.direct_rules, c->proxy.nr_direct_rules, NULL, "proxy.direct_rules",
		      err, err_len) ||
	    rules_one(c->proxy.hijack_hosts, c->proxy.nr_hijack_hosts, NULL, "proxy.hijack.hosts",
		      err, err_len) ||
	    rules_one(c->source.upstream_rules, c->source.nr_upstream_rules, NULL,
		      "source.upstream_cluster.rules", err, err_len))
		return -EINVAL;
	return 0;
}

/* @doc merged onto the base into @out; 0 or -EINVAL (logged). */
static int merge(struct serve_ccfg *cc, const uint8_t *doc, size_t len, struct vx_config *out,
		 struct note *nt)
{
	char err[VX_CONFIG_ERR_MAX];
	int rc;

	*out = cc->base;
	rc = vx_config_cluster_merge_doc(out, doc, len, note_local, nt, err, sizeof(err));
	if (!rc)
		rc = vx_serve_rules_check(out, err, sizeof(err));
	if (rc)
		vx_err("serve: cluster config refused: %s", err);
	return rc;
}

static int write_all(int fd, const uint8_t *b, size_t n)
{
	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static void cache_write(const struct serve_ccfg *cc, const uint8_t *doc, uint32_t len)
{
	char tmp[sizeof(cc->cache) + 8];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", cc->cache);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || write_all(fd, doc, len) || fsync(fd) || close(fd) ||
	    rename(tmp, cc->cache)) {
		vx_warn("serve: cluster config: cannot keep a copy in %s: %s", cc->cache,
			strerror(errno));
		if (fd != -1)
			(void)unlink(tmp);
	}
}

/* Whether this daemon talks to its schedulers over TLS (operator files, or a CA join's). */
static bool ccfg_tls(const struct vx_config *c)
{
	char path[VX_CONFIG_PATH_MAX + 32];

	if (c->tls.cert[0])
		return true;
	snprintf(path, sizeof(path), "%s/tls/cert.pem", c->storage.data_dir);
	return access(path, F_OK) == 0;
}

/* Whether scheduler address @a ("HOST:PORT", "[V6]:PORT") names this host's loopback. */
static bool addr_loopback(const char *a)
{
	const char *end = a[0] == '[' ? strchr(a, ']') : strrchr(a, ':');
	char host[64];

	if (!end || (size_t)(end - a) >= sizeof(host))
		return false;
	if (a[0] == '[')
		a++;
	snprintf(host, sizeof(host), "%.*s", (int)(end - a), a);
	return strcmp(host, "localhost") == 0 || vx_ip_is_loopback(host);
}

/*
 * Without TLS a hello carries the join token in clear: a scheduler the cluster configuration
 * adds (not in the daemon's own list) is dialled only when it is on this host. With TLS the
 * scheduler must show a certificate of the cluster CA, so any address may be added.
 */
static void ccfg_schedulers_guard(const struct serve_ccfg *cc, struct vx_config *next)
{
	unsigned k = 0;

	if (ccfg_tls(&cc->base))
		return;
	for (unsigned i = 0; i < next->nr_schedulers; i++) {
		bool own = false;

		for (unsigned j = 0; j < cc->base.nr_schedulers && !own; j++)
			own = strcmp(next->schedulers[i], cc->base.schedulers[j]) == 0;
		if (!own && !addr_loopback(next->schedulers[i])) {
			vx_warn("serve: cluster config: scheduler %s not dialled: this daemon "
				"talks "
				"to schedulers without TLS, and its join token would go there in "
				"clear",
				next->schedulers[i]);
			continue;
		}
		if (k != i)
			memcpy(next->schedulers[k], next->schedulers[i],
			       sizeof(next->schedulers[0]));
		k++;
	}
	next->nr_schedulers = k;
}

static bool rules_same(const struct vx_config *a, const struct vx_config *b)
{
	if (a->proxy.nr_rules != b->proxy.nr_rules ||
	    a->proxy.nr_direct_rules != b->proxy.nr_direct_rules)
		return false;
	for (unsigned i = 0; i < a->proxy.nr_rules; i++) {
		if (strcmp(a->proxy.rules[i], b->proxy.rules[i]) != 0)
			return false;
	}
	for (unsigned i = 0; i < a->proxy.nr_direct_rules; i++) {
		if (strcmp(a->proxy.direct_rules[i], b->proxy.direct_rules[i]) != 0)
			return false;
	}
	return true;
}

/* @c's proxy.rules and proxy.direct_rules to the running proxy (under cc->lock); 0 or -EINVAL
 * (logged: the running rules stay). */
static int proxy_rules_apply(struct serve_ccfg *cc, const struct vx_config *c)
{
	const char *r[VX_CONFIG_RULES_MAX], *d[VX_CONFIG_RULES_MAX];
	char err[512] = "";
	int rc;

	for (unsigned i = 0; i < c->proxy.nr_rules; i++)
		r[i] = c->proxy.rules[i];
	for (unsigned i = 0; i < c->proxy.nr_direct_rules; i++)
		d[i] = c->proxy.direct_rules[i];
	rc = vx_proxy_set_rules(cc->proxy, r, c->proxy.nr_rules, d, c->proxy.nr_direct_rules, err,
				sizeof(err));
	if (rc)
		vx_warn("serve: cluster config: proxy rules refused: %s; the running ones are kept",
			err);
	else
		vx_info("serve: proxy rules applied: %u P2P rule(s), %u direct rule(s)%s",
			c->proxy.nr_rules, c->proxy.nr_direct_rules,
			c->proxy.nr_rules ? "" : " (P2P: the defaults)");
	return rc;
}

void vx_serve_ccfg_proxy(struct serve_ccfg *cc, struct vx_proxy *px)
{
	pthread_mutex_lock(&cc->lock);
	cc->proxy = px;
	if (px)
		(void)proxy_rules_apply(cc, &cc->effective);
	pthread_mutex_unlock(&cc->lock);
}

static void on_config(void *arg, struct vx_peer *p, uint64_t version, const char *sha,
		      const uint8_t *doc, uint32_t len)
{
	struct serve_ccfg *cc = arg;
	struct note nt = { 0 };
	struct vx_config *next = vx_malloc(sizeof(*next));
	const char *list[VX_CONFIG_SCHEDULERS_MAX];
	int rc;

	if (!next)
		return;
	if (merge(cc, doc, len, next, &nt)) {
		vx_free(next);
		return; /* the running configuration and the cached copy are kept */
	}
	ccfg_schedulers_guard(cc, next);
	(void)vx_config_changed(&cc->effective, next, note_changed, &nt);
	(void)vx_log_set_level_name(next->log_level);
	{
		struct vx_peer_rates r = vx_serve_rates(next);

		vx_peer_set_rates(p, &r);
	}
	rc = vx_peer_set_gc(
		p, (uint32_t)next->storage.gc_high_percent, (uint32_t)next->storage.gc_low_percent,
		next->storage.task_ttl_ms / 1000, (uint32_t)(next->storage.gc_interval_ms / 1000));
	if (rc)
		vx_warn("serve: cluster config: GC watermarks %llu%%/%llu%% refused (low must be "
			"below high); the running ones are kept",
			(unsigned long long)next->storage.gc_high_percent,
			(unsigned long long)next->storage.gc_low_percent);
	for (unsigned i = 0; i < next->nr_schedulers; i++)
		list[i] = next->schedulers[i];
	rc = vx_peer_set_schedulers(p, list, next->nr_schedulers);
	if (rc && rc != -ENOTCONN)
		vx_warn("serve: cluster config: scheduler list: %s", strerror(-rc));
	pthread_mutex_lock(&cc->lock);
	if (cc->proxy && !rules_same(&cc->effective, next) && proxy_rules_apply(cc, next)) {
		/* the running rules stay, and so says the effective configuration */
		next->proxy.nr_rules = cc->effective.proxy.nr_rules;
		memcpy(next->proxy.rules, cc->effective.proxy.rules, sizeof(next->proxy.rules));
		next->proxy.nr_direct_rules = cc->effective.proxy.nr_direct_rules;
		memcpy(next->proxy.direct_rules, cc->effective.proxy.direct_rules,
		       sizeof(next->proxy.direct_rules));
	}
	cc->effective = *next;
	pthread_mutex_unlock(&cc->lock);
	cc->version = version;
	vx_metric_set(&vx_m_ccfg_version, 0, (int64_t)version);
	vx_free(next);
	cache_write(cc, doc, len);
	vx_info("serve: cluster config version %llu (sha256 %.12s...): applied: %s; needs a "
		"restart: %s",
		(unsigned long long)version, sha, nt.applied[0] ? nt.applied : "none",
		nt.restart[0] ? nt.restart : "none");
	if (nt.local[0] && !cc->told_local) {
		vx_info("serve: cluster config: kept local (the daemon's file or flags set them): "
			"%s",
			nt.local);
		cc->told_local = true;
	}
}

void vx_serve_ccfg_start(struct serve_ccfg *cc, struct vx_config *cfg, struct vx_peer_cfg *pc)
{
	struct note nt = { 0 };
	char *buf = NULL;
	size_t got = 0;
	int fd;

	memset(cc, 0, sizeof(*cc));
	pthread_mutex_init(&cc->lock, NULL);
	cc->base = *cfg;
	cc->effective = *cfg;
	snprintf(cc->cache, sizeof(cc->cache), "%s/%s", cfg->storage.data_dir, CCFG_FILE);
	pc->on_cluster_config = on_config;
	pc->cluster_config_arg = cc;
	fd = open(cc->cache, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return;
	if (vx_file_read_fd(fd, VX_CTL_CFG_DOC_MAX, &buf, &got) ||
	    merge(cc, (const uint8_t *)buf, got, &cc->effective, &nt)) {
		vx_warn("serve: the cached cluster config %s is not usable: ignored", cc->cache);
		cc->effective = *cfg;
	} else {
		ccfg_schedulers_guard(cc, &cc->effective);
		*cfg = cc->effective;
		(void)vx_log_set_level_name(cfg->log_level);
		pc->rates = vx_serve_rates(cfg);
		pc->nr_schedulers = 0;
		for (unsigned i = 0; i < cfg->nr_schedulers && i < VX_PEER_SCHEDULERS_MAX; i++)
			pc->schedulers[pc->nr_schedulers++] = cc->effective.schedulers[i];
		vx_info("serve: using the cached cluster config %s until a control plane answers",
			cc->cache);
	}
	close(fd);
	vx_free(buf);
}
