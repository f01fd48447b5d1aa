/* SPDX-License-Identifier: Apache-2.0 */
/*
 * upstream.c: a fetch through another vx cluster's forward proxy (clusters of clusters,
 * spec/sources.md "Upstream cluster"). The proxy fetches the URL through its own swarm, so a
 * file crosses the link between the clusters about once. Its token goes to the proxy only
 * (CURLOPT_PROXYHEADER, headers kept separate), never to the origin; the environment's
 * proxies are never used for such a fetch.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "source_int.h"

int vx__upstream_apply(CURL *easy, const struct vx_source_opts *o, struct curl_slist **hdrs)
{
	const struct vx_source_upstream *u = o ? o->upstream : NULL;
	char line[256];
	int n;

	if (!u || !u->proxy)
		return 0;
	curl_easy_setopt(easy, CURLOPT_PROXY, u->proxy);
	curl_easy_setopt(easy, CURLOPT_NOPROXY, "");
	curl_easy_setopt(easy, CURLOPT_HEADEROPT, (long)CURLHEADER_SEPARATE);
	if (u->ca_file)
		curl_easy_setopt(easy, CURLOPT_PROXY_CAINFO, u->ca_file);
	if (!u->token)
		return 0;
	n = snprintf(line, sizeof(line), "Proxy-Authorization: Bearer %s", u->token);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		OPENSSL_cleanse(line, sizeof(line));
		return -EMSGSIZE;
	}
	*hdrs = curl_slist_append(*hdrs, line);
	OPENSSL_cleanse(line, sizeof(line));
	if (!*hdrs)
		return -ENOMEM;
	curl_easy_setopt(easy, CURLOPT_PROXYHEADER, *hdrs);
	return 0;
}
