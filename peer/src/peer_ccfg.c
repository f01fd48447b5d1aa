/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_ccfg.c: the cluster configuration document (spec/peer.md "Cluster configuration"). A
 * hello answer or event 9 names the control plane's version; a newer one is fetched (request
 * type 24), its sha256 checked, and handed to the daemon's callback, which applies it.
 */
#include <string.h>

#include <openssl/evp.h>

#include "peer_int.h"
#include "vx_err.h"
#include "vx_hex.h"
#include "vx_log.h"
#include "vx_upload.h"

static void ccfg_fetch(struct vx_peer *p);

static void on_doc(void *arg, int status, const struct vx_ctl_msg *m)
{
	struct vx_peer *p = arg;
	unsigned char h[32];
	char sha[VX_CTL_CFG_SHA_LEN + 1];
	unsigned int n = 0;

	p->ccfg_fetching = false;
	if (status || !m || !(m->has & VX_CTL_F_CFG_VERSION)) {
		vx_warn("peer: cluster config: fetch failed: %s",
			vx_strerror(status ? status : -EPROTO));
		return;
	}
	if (!m->cfg_version || m->cfg_version <= p->ccfg_version)
		return; /* a scheduler that has none, or not newer */
	if (!(m->has & VX_CTL_F_CFG_DOC) || !(m->has & VX_CTL_F_CFG_SHA) ||
	    m->cfg_sha.len != VX_CTL_CFG_SHA_LEN ||
	    EVP_Digest(m->cfg_doc, m->cfg_doc_len, h, &n, EVP_sha256(), NULL) != 1 || n != 32) {
		vx_warn("peer: cluster config version %llu: incomplete answer: ignored",
			(unsigned long long)m->cfg_version);
		return;
	}
	vx_hex_encode(h, sizeof(h), sha);
	if (memcmp(sha, m->cfg_sha.ptr, VX_CTL_CFG_SHA_LEN) != 0) {
		vx_warn("peer: cluster config version %llu: sha256 does not match: ignored",
			(unsigned long long)m->cfg_version);
		return;
	}
	p->ccfg_version = m->cfg_version;
	p->cfg.on_cluster_config(p->cfg.cluster_config_arg, p, m->cfg_version, sha, m->cfg_doc,
				 m->cfg_doc_len);
	if (p->ccfg_want > p->ccfg_version)
		ccfg_fetch(p);
}

static void ccfg_fetch(struct vx_peer *p)
{
	struct vx_ctl_msg req = { 0 };
	int rc;

	if (p->ccfg_fetching || !p->sc)
		return;
	req.type = VX_CTL_CLUSTER_CONFIG;
	rc = vx_sched_client_send(p->sc, &req, on_doc, p);
	if (rc)
		vx_warn("peer: cluster config version %llu: cannot ask: %s",
			(unsigned long long)p->ccfg_want, vx_strerror(rc));
	else
		p->ccfg_fetching = true;
}

void vx__peer_ccfg_event(struct vx_peer *p, const struct vx_ctl_msg *m)
{
	if (!p->cfg.on_cluster_config || !(m->has & VX_CTL_F_CFG_VERSION))
		return;
	if (m->cfg_version > p->ccfg_want)
		p->ccfg_want = m->cfg_version;
	if (p->ccfg_want > p->ccfg_version)
		ccfg_fetch(p);
}

void vx_peer_set_rates(struct vx_peer *p, const struct vx_peer_rates *r)
{
	p->cfg.rates = *r;
	if (p->up)
		vx_upload_set_rate(p->up, r->upload_bps);
	vx_source_ctx_set_rate(p->src, r->source_bps);
	vx_rate_set(&p->download_rate, r->download_bps);
	atomic_store(&p->task_bps, r->task_bps);
	for (uint32_t i = 0; i < VX_PEER_TASKS_MAX; i++) {
		if (p->tasks[i].state != TASK_FREE)
			vx_rate_set(&p->tasks[i].rate, r->task_bps);
	}
}

int vx_peer_set_gc(struct vx_peer *p, uint32_t high_pct, uint32_t low_pct, uint64_t task_ttl_s,
		   uint32_t interval_s)
{
	return vx_store_set_gc(p->store, high_pct, low_pct, task_ttl_s, interval_s);
}

int vx_peer_set_schedulers(struct vx_peer *p, const char *const *list, uint32_t n)
{
	if (!p->sc)
		return -ENOTCONN;
	return vx_sched_client_set_servers(p->sc, list, n);
}
