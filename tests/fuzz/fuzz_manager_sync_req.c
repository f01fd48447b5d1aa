/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_manager_sync_req.c: the management API's sync request decoder (manager/src/mgr_sync.c,
 * vx_mgr_sync_req_decode, the one POST /oapi/v1/syncs calls) on arbitrary bytes: it returns 0
 * or -EINVAL with a message, never crashes; a decoded sync has a prefix without credentials
 * (it is stored), bounds kept, and its preheat arguments make a preheat request for an object.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mgr_int.h"
#include "vx_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vx_mgr_sync_req s;
	static struct vx_mgr_job_req r;
	char err[300] = "";
	int rc = vx_mgr_sync_req_decode((const char *)data, size, &s, err, sizeof(err));

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
