/* SPDX-License-Identifier: Apache-2.0 */
/*
 * serve_relay.c: the upstream cluster of `vx serve`'s back-to-source and its forward proxy's
 * token and metadata rules (serve_relay.h). The tokens are the scheduler's token format
 * (vx_sched_token_read(): 16..128 characters, a file not open to group or others).
 */
#include "serve_relay.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "vx_peer.h"
#include "vx_proxy.h"
#include "vx_proxy_fwd.h"
#include "vx_sched_tokens.h"

/* one daemon per process: these live as long as it */
static char upstream_token[VX_SCHED_TOKEN_MAX + 1];
static char forward_token[VX_SCHED_TOKEN_MAX + 1];
static struct vx_proxy_rules upstream_rules;

static bool upstream_match(void *arg, const char *url)
{
	(void)arg;
	return vx_proxy_rules_match(&upstream_rules, url);
}

int vx_serve_relay_peer(const struct vx_config *c, struct vx_peer_cfg *pc)
{
	const struct vx_config_source *s = &c->source;
	const char *pats[VX_CONFIG_RULES_MAX];
	char err[512];

	if (!s->upstream_proxy[0])
		return 0;
	if (s->upstream_token_file[0] &&
	    vx_sched_token_read(s->upstream_token_file, upstream_token, err, sizeof(err))) {
		fprintf(stderr, "vx serve: source.upstream_cluster.token_file: %s\n", err);
		return -EINVAL;
	}
	if (s->nr_upstream_rules) {
		for (unsigned i = 0; i < s->nr_upstream_rules; i++)
			pats[i] = s->upstream_rules[i];
		if (vx_proxy_rules_compile_as(&upstream_rules, pats, s->nr_upstream_rules, NULL,
					      "source.upstream_cluster.rules", err, sizeof(err))) {
			fprintf(stderr, "vx serve: %s\n", err);
			return -EINVAL;
		}
		pc->upstream_match = upstream_match;
	}
	pc->upstream_proxy = s->upstream_proxy;
	pc->upstream_token = upstream_token[0] ? upstream_token : NULL;
	pc->upstream_ca = s->upstream_ca[0] ? s->upstream_ca : NULL;
	pc->upstream_fallback = s->upstream_fallback;
	return 0;
}

int vx_serve_relay_proxy(const struct vx_config *c, struct vx_proxy_cfg *pc)
{
	char err[512];

	for (unsigned i = 0; i < c->proxy.nr_direct_rules; i++)
		pc->direct_rules[pc->nr_direct_rules++] = c->proxy.direct_rules[i];
	if (!c->proxy.forward_token_file[0])
		return 0;
	if (vx_sched_token_read(c->proxy.forward_token_file, forward_token, err, sizeof(err))) {
		fprintf(stderr, "vx serve: proxy.forward_token_file: %s\n", err);
		return -EINVAL;
	}
	pc->forward_token = forward_token;
	return 0;
}

void vx_serve_relay_proxy_done(void)
{
	OPENSSL_cleanse(forward_token, sizeof(forward_token));
}
