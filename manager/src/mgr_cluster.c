/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_cluster.c: the cluster configuration document (spec/manager.md "Cluster configuration"):
 * one JSON object of daemon config keys, versioned (a counter and the sha256 of its canonical
 * form), kept in the manager's database so every control plane on it serves the same one, and
 * handed to the scheduler server, which tells the daemons (spec/control.md section 15).
 */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "mgr_int.h"
#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_hex.h"
#include "vx_log.h"
#include "vx_sched_server.h"
#include "vx_time.h"

/* The canonical form (sorted keys, compact) of @root and its sha256 in hex. NULL: -ENOMEM. */
static char *canonical(const json_t *root, char sha[VX_CTL_CFG_SHA_LEN + 1])
{
	char *doc = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
	unsigned char h[32];
	unsigned int n = 0;

	if (!doc)
		return NULL;
	if (EVP_Digest(doc, strlen(doc), h, &n, EVP_sha256(), NULL) != 1 || n != 32) {
		free(doc); /* jansson's allocator */
		return NULL;
	}
	vx_hex_encode(h, sizeof(h), sha);
	return doc;
}

int vx__mgr_cluster_check(const struct vx_manager_cfg *cfg, const char *body, size_t len,
			  json_t **out, char *err, size_t err_len)
{
	json_error_t je;
	json_t *root;

	*out = NULL;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!root || !json_is_object(root)) {
		snprintf(err, err_len, "want a JSON object of config key -> value%s%s",
			 root ? "" : ": ", root ? "" : je.text);
		json_decref(root);
		return -EINVAL;
	}
	if (!cfg->cluster_check) {
		snprintf(err, err_len, "this control plane has no config checker");
		json_decref(root);
		return -EOPNOTSUPP;
	}
	if (cfg->cluster_check(root, err, err_len)) {
		json_decref(root);
		return -EINVAL;
	}
	*out = root;
	return 0;
}

int vx__mgr_cluster_get(struct mgr_db *d, uint64_t *version, char sha[VX_CTL_CFG_SHA_LEN + 1],
			char **doc)
{
	struct mgr_rows *r = NULL;
	const char *s, *h;
	int rc;

	*version = 0;
	sha[0] = '\0';
	if (doc)
		*doc = NULL;
	rc = vx__mgr_sql(d, &r, "SELECT version, sha, doc FROM mgr_cluster_config WHERE id = 1",
			 NULL);
	if (rc)
		return rc;
	if (!vx__mgr_rows_n(r)) {
		vx__mgr_rows_free(r);
		return 0;
	}
	h = vx__mgr_rows_s(r, 0, 1, NULL);
	s = vx__mgr_rows_s(r, 0, 2, NULL);
	if (!h || strlen(h) != VX_CTL_CFG_SHA_LEN || !s) {
		vx__mgr_rows_free(r);
		return VX_EDB;
	}
	*version = (uint64_t)vx__mgr_rows_i(r, 0, 0);
	memcpy(sha, h, VX_CTL_CFG_SHA_LEN + 1);
	if (doc) {
		*doc = vx_strdup(s);
		if (!*doc)
			rc = -ENOMEM;
	}
	vx__mgr_rows_free(r);
	return rc;
}

int vx__mgr_cluster_put(struct mgr_db *d, const json_t *root, int64_t token_id, uint64_t *version,
			char sha[VX_CTL_CFG_SHA_LEN + 1])
{
	char old_sha[VX_CTL_CFG_SHA_LEN + 1];
	uint64_t old = 0;
	char *doc = canonical(root, sha);
	int rc;

	if (!doc)
		return -ENOMEM;
	if (strlen(doc) > VX_CTL_CFG_DOC_MAX) {
		free(doc);
		return -E2BIG;
	}
	rc = vx__mgr_db_begin(d);
	if (!rc)
		rc = vx__mgr_cluster_get(d, &old, old_sha, NULL);
	if (!rc && old && strcmp(old_sha, sha) == 0) {
		*version = old; /* the same document: no new version */
		vx__mgr_db_end(d, false);
		free(doc);
		return 0;
	}
	if (!rc)
		rc = vx__mgr_sql(
			d, NULL,
			"INSERT INTO mgr_cluster_config(id, version, sha, doc, updated, "
			"token_id) VALUES(1, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
			"version = excluded.version, sha = excluded.sha, doc = excluded.doc, "
			"updated = excluded.updated, token_id = excluded.token_id",
			"issii", (int64_t)(old + 1), sha, doc, (int64_t)vx_wall_s(), token_id);
	if (rc) {
		if (d->in_tx)
			vx__mgr_db_end(d, false);
	} else {
		rc = vx__mgr_db_end(d, true);
	}
	free(doc);
	if (!rc)
		*version = old + 1;
	return rc;
}

void vx__mgr_cluster_sync(struct mgr_db *d, struct vx_sched_server *srv)
{
	char sha[VX_CTL_CFG_SHA_LEN + 1];
	uint64_t v;
	char *doc = NULL;

	if (!srv || vx__mgr_cluster_get(d, &v, sha, NULL) || !v ||
	    v == vx_sched_server_cluster_config_version(srv))
		return;
	if (vx__mgr_cluster_get(d, &v, sha, &doc) == 0 && v)
		(void)vx_sched_server_set_cluster_config(srv, v, sha, (const uint8_t *)doc,
							 (uint32_t)strlen(doc));
	vx_free(doc);
}

int vx__mgr_cluster_seed(struct mgr_db *d, const struct vx_manager_cfg *cfg)
{
	char err[256], sha[VX_CTL_CFG_SHA_LEN + 1];
	json_t *root;
	uint64_t v;
	int rc;

	if (!cfg->cluster_seed)
		return 0;
	rc = vx__mgr_cluster_get(d, &v, sha, NULL);
	if (rc)
		return rc;
	if (v) {
		vx_info("manager: the database holds cluster config version %llu: the seed "
			"document is not used",
			(unsigned long long)v);
		return 0;
	}
	rc = vx__mgr_cluster_check(cfg, cfg->cluster_seed, strlen(cfg->cluster_seed), &root, err,
				   sizeof(err));
	if (rc) {
		vx_err("manager: cluster config seed refused: %s", err);
		return -EINVAL;
	}
	rc = vx__mgr_cluster_put(d, root, 0, &v, sha);
	json_decref(root);
	if (!rc) {
		vx_info("manager: cluster config version %llu seeded (sha256 %.12s...)",
			(unsigned long long)v, sha);
		vx__mgr_audit(d, 0, "local", "seed cluster-config", "version=1", 200);
	}
	return rc;
}
