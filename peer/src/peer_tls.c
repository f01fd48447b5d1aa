/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_tls.c: the daemon's TLS contexts (spec/peer.md, "TLS"). One client context serves the
 * scheduler channel and every fetcher (given by the caller from tls.* files, or built here from
 * DATA_DIR/tls/ once the join wrote it, so a first start with --join comes up on TLS); a server
 * context on the same files serves the upload port. Reloads (renewal, a new CRL) run on the
 * loop thread: the scheduler client reloads the client context, the tick below the server one
 * and hands it to the upload server; the upload server and each fetcher hold a reference of
 * the SSL_CTX they use, so a reload never frees one in use.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "peer_int.h"
#include "vx_fetcher.h"
#include "vx_log.h"
#include "vx_time.h"
#include "vx_tls.h"
#include "vx_upload.h"

#define TLS_RELOAD_MS 1000u /* the files are looked at this often (a stat each) */

/* DATA_DIR/tls/{cert,key,ca}.pem (and crl.pem) when all are there: a client context. */
static int joined_ctx(struct vx_peer *p, char *err, size_t err_len)
{
	static const char *const names[4] = { "cert.pem", "key.pem", "ca.pem", "crl.pem" };
	char path[4][4096];
	struct vx_tls_files f;

	for (int i = 0; i < 4; i++) {
		int n = snprintf(path[i], sizeof(path[i]), "%s/tls/%s", p->data_dir, names[i]);

		if (n < 0 || (size_t)n >= sizeof(path[i])) {
			snprintf(err, err_len, "the data directory's path is too long");
			return -ENAMETOOLONG;
		}
		if (i < 3 && access(path[i], F_OK))
			return 0; /* never joined: plaintext (loopback, or --insecure-plaintext) */
	}
	f = (struct vx_tls_files){ .cert = path[0], .key = path[1], .ca = path[2], .crl = path[3] };
	if (access(path[3], F_OK))
		f.crl = NULL;
	return vx_tls_ctx_new(&p->own_tls, VX_TLS_CLIENT, &f, err, err_len);
}

int vx__peer_tls_setup(struct vx_peer *p, char *err, size_t err_len)
{
	int rc;

	if (!p->cfg.sched_tls && !p->cfg.tls_external) {
		rc = joined_ctx(p, err, err_len);
		if (rc)
			return rc;
		p->cfg.sched_tls = p->own_tls;
	}
	if (!p->cfg.sched_tls)
		return 0;
	p->fx_tls_cur = vx_tls_ctx_ssl(p->cfg.sched_tls);
	if (p->fx_tls_cur)
		SSL_CTX_up_ref(p->fx_tls_cur);
	return vx_tls_ctx_new_like(&p->dp_srv, VX_TLS_SERVER, p->cfg.sched_tls, err, err_len);
}

void vx__peer_tls_free(struct vx_peer *p)
{
	SSL_CTX_free(p->fx_tls_cur); /* NULL: nothing */
	p->fx_tls_cur = NULL;
	vx_tls_ctx_free(p->dp_srv);
	vx_tls_ctx_free(p->own_tls);
	p->dp_srv = p->own_tls = NULL;
	vx__peer_tenants_free(p);
}

/* The upload port serves hosts of the cluster: a peer or a seed certificate, not a scheduler. */
static int up_admit(void *arg, const struct vx_tls_id *peer)
{
	(void)arg;
	return peer->role == VX_TLS_ROLE_PEER || peer->role == VX_TLS_ROLE_SEED ? 0 : -EPERM;
}

/*
 * Tenants on the data plane: a task of this daemon belongs to the tenant of its certificate (the
 * scheduler lets a host join only its own tenant's tasks, or public ones when it has none), so
 * only a host of the same tenant, or a seed, may read it. A seed without a tenant fetches for
 * every tenant: each of its tasks is the tenant's the scheduler named for it (peer_tenants.c),
 * an unknown one no host's but a seed's (spec/peer.md "TLS").
 */
static int up_task_admit(void *arg, const struct vx_tls_id *peer, const char *task_id)
{
	struct vx_peer *p = arg;
	const struct vx_tls_id *self = vx_tls_ctx_self(p->dp_srv);

	if (!self || (peer->role == VX_TLS_ROLE_SEED && !peer->tenant[0]))
		return 0;
	if (self->role == VX_TLS_ROLE_SEED && !self->tenant[0]) {
		if (vx__peer_tenant_may_read(p, task_id, peer->tenant) ||
		    vx__peer_tenant_cache_task(p, task_id))
			return 0;
	} else if (strcmp(self->tenant, peer->tenant) == 0) {
		/* a seed of a tenant (operators' own PKI can issue one) is that tenant's only */
		return 0;
	}
	vx_debug("upload: host %s of tenant '%s' asked for task %.12s of another tenant: refused",
		 peer->host_id, peer->tenant, task_id);
	return -EACCES;
}

void vx__peer_tls_upload(struct vx_peer *p, struct vx_upload_cfg *uc)
{
	if (!p->dp_srv)
		return;
	uc->tls = vx_tls_ctx_ssl(p->dp_srv);
	uc->task_admit = up_task_admit;
	uc->tls_admit = up_admit;
	uc->tls_admit_ctx = p;
}

SSL_CTX *vx__peer_tls_fetcher(struct vx_peer *p)
{
	SSL_CTX *s;

	pthread_mutex_lock(&p->mail_lock);
	s = p->fx_tls_cur;
	if (s)
		SSL_CTX_up_ref(s); /* the caller drops it after vx_fetcher_free() */
	pthread_mutex_unlock(&p->mail_lock);
	return s;
}

SSL_CTX *vx__peer_tls_fetcher_if_new(struct vx_peer *p, SSL_CTX *mine)
{
	SSL_CTX *s = NULL;

	pthread_mutex_lock(&p->mail_lock);
	if (mine && p->fx_tls_cur && p->fx_tls_cur != mine) {
		s = p->fx_tls_cur;
		SSL_CTX_up_ref(s);
	}
	pthread_mutex_unlock(&p->mail_lock);
	return s;
}

/*
 * The client context was loaded again (a new CRL, a renewal; by the scheduler client or the tick
 * below): cache fetches find it in fx_tls_cur (vx__peer_tls_fetcher_if_new()); each task's
 * fetcher takes it and drops the parents whose certificate no longer
 * verifies, closing its connections to them (spec/peer.md "TLS"); the serving side does the
 * same in vx_upload_set_tls().
 */
static void fetchers_take_tls(struct vx_peer *p)
{
	SSL_CTX *now = p->cfg.sched_tls ? vx_tls_ctx_ssl(p->cfg.sched_tls) : NULL, *old;

	if (!now || now == p->fx_tls_seen)
		return;
	p->fx_tls_seen = now;
	SSL_CTX_up_ref(now);
	pthread_mutex_lock(&p->mail_lock); /* cache fetches look at it from their threads */
	old = p->fx_tls_cur;
	p->fx_tls_cur = now;
	pthread_mutex_unlock(&p->mail_lock);
	SSL_CTX_free(old);
	for (uint32_t i = 0; i < VX_PEER_TASKS_MAX; i++) {
		struct peer_task *t = &p->tasks[i];

		if (t->state == TASK_FREE || !t->fetcher || !t->fx_tls || t->fx_tls == now)
			continue;
		SSL_CTX_up_ref(now);
		vx_fetcher_set_tls(t->fetcher, now);
		SSL_CTX_free(t->fx_tls); /* its connections' SSLs hold their own reference */
		t->fx_tls = now;
	}
}

void vx__peer_tls_tick(struct vx_peer *p, uint64_t now_ms)
{
	char err[VX_TLS_ERR_LEN];
	int rc;

	if (!p->dp_srv || !p->up || now_ms - p->tls_check_ms < TLS_RELOAD_MS)
		return;
	p->tls_check_ms = now_ms;
	if (!p->sc && p->cfg.sched_tls) /* no scheduler client to do it */
		vx_tls_ctx_tick(p->cfg.sched_tls, "daemon", vx_wall_s());
	rc = vx_tls_ctx_reload(p->dp_srv, false, err, sizeof(err));
	if (rc < 0)
		vx_warn("peer: TLS files of the upload port: %s (the old ones stay in use)", err);
	else if (rc == 1) {
		vx_info("peer: upload port: TLS files loaded again (new connections use them)");
		vx_upload_set_tls(p->up, vx_tls_ctx_ssl(p->dp_srv));
		/* the client context reads the same files: a revocation reaches both sides now,
		 * not at the scheduler client's next look (every 10 s) */
		if (p->cfg.sched_tls &&
		    vx_tls_ctx_reload(p->cfg.sched_tls, false, err, sizeof(err)) == 1)
			vx_info("peer: client TLS files loaded again (fetchers take them)");
	}
	fetchers_take_tls(p);
}
