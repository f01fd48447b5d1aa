/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_cluster_config.c: the cluster configuration document (spec/peer.md "Cluster
 * configuration"), through the functions production uses: the daemon's
 * vx_config_cluster_merge_doc() (JSON parse + merge onto its own config, as `vx serve` does on
 * every document it receives and on the cached copy at start) and the control plane's check
 * (vx_config_cluster_check() on the parsed object, as PUT /oapi/v1/cluster-config does).
 * Any input must give either a config that validates or a clear, terminated error, and a
 * refused document must leave the daemon's config exactly as it was (nothing half-written).
 * A document the control plane accepts must merge onto the defaults.
 */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the daemon's own file sets log_level: that key stays local (skipped), the rest merges */
static const char base_yaml[] = "log_level: warn\nschedulers: [\"127.0.0.1:1\"]\n";

static void skipped(void *arg, const char *name)
{
	if (!vx_config_cluster_key(name))
		__builtin_trap(); /* only cluster-settable keys can be reported as kept local */
	(*(unsigned *)arg)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vx_config base, cfg, plain;
	char err[VX_CONFIG_ERR_MAX] = "";
	unsigned kept = 0;
	json_t *root;
	int checked = -1;

	vx_config_init(&base);
	if (vx_config_load_yaml(&base, "fuzz", base_yaml, sizeof(base_yaml) - 1, err, sizeof(err)))
		__builtin_trap();
	cfg = base;
	if (vx_config_cluster_merge_doc(&cfg, data, size, skipped, &kept, err, sizeof(err))) {
		if (memcmp(&cfg, &base, sizeof(cfg)) != 0)
			__builtin_trap(); /* refused: the running config must be untouched */
		if (memchr(err, '\0', sizeof(err)) == NULL || !err[0])
			__builtin_trap();
	} else if (vx_config_validate(&cfg, err, sizeof(err)) != 0) {
		__builtin_trap(); /* merged means valid */
	}

	root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (root) {
		err[0] = '\0';
		checked = vx_config_cluster_check(root, err, sizeof(err));
		if (checked && (memchr(err, '\0', sizeof(err)) == NULL || !err[0]))
			__builtin_trap();
		json_decref(root);
	}
	if (checked == 0) {
		/* what the control plane accepts, a daemon with no local keys applies */
		vx_config_init(&plain);
		if (vx_config_cluster_merge_doc(&plain, data, size, NULL, NULL, err, sizeof(err)))
			__builtin_trap();
	}
	return 0;
}
