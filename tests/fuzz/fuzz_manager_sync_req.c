/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_manager_sync_req.c: the request decoders of syncs and channels (the ones the HTTP
 * server calls) on arbitrary bytes, each input through both:
 *  - vx_mgr_sync_req_decode (manager/src/mgr_sync.c, POST /oapi/v1/syncs): 0 or -EINVAL with
 *    a message, never a crash; a decoded sync has a prefix without credentials (it is stored),
 *    bounds kept, and its preheat arguments make a preheat request for an object;
 *  - vx_mgr_pub_req_decode (manager/src/mgr_channel.c, POST /oapi/v1/channels/{name}): 0 or
 *    -EINVAL with a message; a decoded publication names a file a subscriber may write in its
 *    directory (no '/', no dot file) and exactly one of a task id (64 lowercase hex) and an
 *    http(s) URL without credentials.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mgr_int.h"
#include "vx_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void publication(const uint8_t *data, size_t size)
{
	static struct vx_mgr_pub_req p;
	char err[256] = "";
	int rc = vx_mgr_pub_req_decode((const char *)data, size, &p, err, sizeof(err));

	if (rc != 0 && rc != -EINVAL)
		abort();
	if (rc == -EINVAL && !err[0])
		abort();
	if (rc)
		return;
	if (!p.name[0] || p.name[0] == '.' || p.name[0] == '-' || strchr(p.name, '/'))
		abort();
	if (!p.task_id[0] == !p.url[0])
		abort();
	if (p.task_id[0] && !vx_task_id_valid(p.task_id, strlen(p.task_id)))
		abort();
	if (p.url[0] &&
	    (vx__mgr_url_host(p.url, NULL, 0) || vx_url_has_credentials(p.url, strlen(p.url))))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vx_mgr_sync_req s;
	static struct vx_mgr_job_req r;
	char err[300] = "";
	int rc = vx_mgr_sync_req_decode((const char *)data, size, &s, err, sizeof(err));

	publication(data, size);
	if (rc != 0 && rc != -EINVAL)
		abort();
	if (rc == -EINVAL && !err[0])
		abort();
	if (rc)
		return 0;
	if (!s.prefix[0] || vx_url_has_credentials(s.prefix, strlen(s.prefix)) ||
	    vx_url_has_credentials(s.fetch_base, strlen(s.fetch_base)))
		abort();
	if (!s.max_objects || !s.max_concurrent || s.max_concurrent > 128 ||
	    (s.interval_s && s.interval_s < 10))
		abort();
	if (s.fetch_base[0] && s.fetch_base[strlen(s.fetch_base) - 1] != '/')
		abort();
	/* what a run does with it: a preheat request per object */
	if (vx__mgr_sync_preheat_req(&s, "http://127.0.0.1/o", &r, err, sizeof(err)) || !r.sync ||
	    r.nr_headers || r.image || r.concurrent_tasks != s.max_concurrent)
		abort();
	return 0;
}
