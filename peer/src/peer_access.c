/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_access.c: private tasks. A download whose URL carries user-info or a credential query
 * key (vx_url_has_credentials_keys(): the built-in list or a key of the request's own filter
 * list), or whose request carries an Authorization or Cookie header, makes its task private. Before a client gets any byte of a private task (from the store, from
 * peers, or by joining a task in flight) its access is proven at the origin with its own URL
 * and headers: the source layer's stat (HEAD, or the 0-0 range GET) must succeed; its 401 or
 * 403 goes to the client, with no byte. A success is remembered per (sha256 of the URL and the
 * credential headers, task id) for access_ttl_ms in a bounded table (the oldest entry goes).
 * The probe runs on the peer's work pool; its result comes back on the loop.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "peer_int.h"
#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_time.h"
#include "vx_url.h"

/* Whether header line @h ("Name: value") carries a credential. */
static bool credential_header(const char *h)
{
	static const char *const names[] = { "authorization:", "cookie:", "proxy-authorization:" };

	for (size_t i = 0; i < VX_ARRAY_SIZE(names); i++) {
		if (strncasecmp(h, names[i], strlen(names[i])) == 0)
			return true;
	}
	return false;
}

bool vx__peer_request_private(const struct peer_job *j)
{
	const char *url = j->url;

	/* a model hub's token is the daemon's own (never in the request): a private repository
	 * fetched with it would be shared with every host naming its URL, so each proves access */
	if (url &&
	    (strncasecmp(url, "hf://", 5) == 0 || strncasecmp(url, "modelscope://", 13) == 0))
		return true;
	/* a key the request filters out of the task id is one of its credentials */
	if (url && vx_url_has_credentials_keys(url, strlen(url), (const char *const *)j->filtered,
					       j->nr_filtered))
		return true;
	return vx__peer_headers_private(j->headers, j->nr_headers);
}

bool vx__peer_headers_private(char *const *headers, uint32_t nr)
{
	for (uint32_t i = 0; headers && i < nr; i++) {
		if (headers[i] && credential_header(headers[i]))
			return true;
	}
	return false;
}

void vx__peer_headers_free(char **headers, uint32_t nr)
{
	for (uint32_t i = 0; headers && i < nr; i++) {
		if (headers[i]) {
			OPENSSL_cleanse(headers[i], strlen(headers[i]));
			vx_free(headers[i]);
		}
	}
	vx_free(headers);
}

void vx__peer_access_key(const char *url, char *const *headers, uint32_t nr_headers,
			 uint8_t key[PEER_ACCESS_KEY_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int len = 0;
	bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		  EVP_DigestUpdate(md, url ? url : "", url ? strlen(url) + 1 : 1) == 1;

	for (uint32_t i = 0; ok && i < nr_headers; i++) {
		if (headers[i] && credential_header(headers[i]))
			ok = EVP_DigestUpdate(md, headers[i], strlen(headers[i]) + 1) == 1;
	}
	if (!ok || EVP_DigestFinal_ex(md, key, &len) != 1 || len != PEER_ACCESS_KEY_LEN)
		memset(key, 0, PEER_ACCESS_KEY_LEN); /* matches no remembered proof but its own */
	EVP_MD_CTX_free(md);
}

static uint64_t access_ttl(const struct vx_peer *p)
{
	return p->cfg.access_ttl_ms ? p->cfg.access_ttl_ms : PEER_ACCESS_TTL_MS;
}

bool vx__peer_access_cached(struct vx_peer *p, const uint8_t key[PEER_ACCESS_KEY_LEN],
			    const char *task_id)
{
	uint64_t now = vx_now_ms();

	for (uint32_t i = 0; i < PEER_ACCESS_SLOTS; i++) {
		const struct peer_access *a = &p->access[i];

		if (a->expires_ms > now && memcmp(a->key, key, PEER_ACCESS_KEY_LEN) == 0 &&
		    memcmp(a->task_id, task_id, VX_TASK_ID_LEN) == 0)
			return true;
	}
	return false;
}

void vx__peer_access_remember(struct vx_peer *p, const uint8_t key[PEER_ACCESS_KEY_LEN],
			      const char *task_id)
{
	struct peer_access *slot = &p->access[0];

	for (uint32_t i = 0; i < PEER_ACCESS_SLOTS; i++) {
		struct peer_access *a = &p->access[i];

		if (memcmp(a->key, key, PEER_ACCESS_KEY_LEN) == 0 &&
		    memcmp(a->task_id, task_id, VX_TASK_ID_LEN) == 0) {
			slot = a;
			break;
		}
		if (a->expires_ms < slot->expires_ms)
			slot = a; /* free (0) or the soonest to expire */
	}
	memcpy(slot->key, key, PEER_ACCESS_KEY_LEN);
	memcpy(slot->task_id, task_id, VX_TASK_ID_LEN);
	slot->expires_ms = vx_now_ms() + access_ttl(p);
}

/* One access probe in flight: owns copies of what it sends, so the job may go meanwhile. */
struct peer_probe {
	struct vx_work item;
	struct vx_peer *peer;
	struct peer_job *job; /* NULL once the job went (vx__peer_probe_detach()) */
	char *url;
	char **headers;
	uint32_t nr_headers;
	int rc;
	struct vx_download_result res;
};

static void probe_free(struct peer_probe *pr)
{
	for (uint32_t i = 0; pr->headers && i < pr->nr_headers; i++)
		vx_free(pr->headers[i]);
	vx_free(pr->headers);
	vx_free(pr->url);
	vx_free(pr);
}

static void probe_run(struct vx_work *item)
{
	struct peer_probe *pr = vx_container_of(item, struct peer_probe, item);
	struct vx_origin o = { 0 };

	pr->rc = vx_origin_stat(pr->peer->src, pr->url, (const char *const *)pr->headers,
				pr->nr_headers, 0, &o, &pr->res);
	vx_origin_release(&o);
}

static void probe_done(struct vx_work *item, int status)
{
	struct peer_probe *pr = vx_container_of(item, struct peer_probe, item);
	struct peer_job *j = pr->job;

	if (j) {
		j->probe = NULL;
		if (status) {
			pr->rc = status;
			snprintf(pr->res.msg, sizeof(pr->res.msg), "the daemon stopped first");
		}
		vx__peer_access_proved(pr->peer, j, pr->rc, &pr->res);
	}
	probe_free(pr);
}

int vx__peer_probe_start(struct vx_peer *p, struct peer_job *j)
{
	struct peer_probe *pr = vx_calloc(1, sizeof(*pr));
	int rc = -ENOMEM;

	if (!pr)
		return rc;
	pr->peer = p;
	pr->job = j;
	pr->url = vx_strdup(j->url);
	pr->headers = j->nr_headers ? vx_calloc(j->nr_headers, sizeof(char *)) : NULL;
	if (!pr->url || (j->nr_headers && !pr->headers))
		goto err;
	for (; pr->nr_headers < j->nr_headers; pr->nr_headers++) {
		pr->headers[pr->nr_headers] = vx_strdup(j->headers[pr->nr_headers]);
		if (!pr->headers[pr->nr_headers])
			goto err;
	}
	pr->item.work = probe_run;
	pr->item.done = probe_done;
	rc = vx_pool_submit(p->pool, &pr->item);
	if (rc)
		goto err;
	j->probe = pr;
	return 0;
err:
	probe_free(pr);
	return rc;
}

void vx__peer_probe_detach(struct peer_job *j)
{
	if (j->probe)
		j->probe->job = NULL;
	j->probe = NULL;
}
