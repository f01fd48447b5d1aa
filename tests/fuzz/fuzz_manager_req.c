/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_manager_req.c: the management API's job request decoder (manager/src/mgr_req.c,
 * vx_mgr_job_req_decode, the one the HTTP server calls) on arbitrary bytes: it must return 0
 * or -EINVAL with a message, never crash, and a decoded request must give args that encode,
 * without its credentials, and is stored for resumption only when it has none.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mgr_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vx_mgr_job_req r;
	char err[256];
	int rc = vx_mgr_job_req_decode((const char *)data, size, &r, err, sizeof(err));

	if (rc != 0 && rc != -EINVAL)
		abort();
	if (rc == -EINVAL && !err[0])
		abort();
	if (rc == 0) {
		json_t *a = vx__mgr_job_args(&r);
		char *s = json_dumps(a, JSON_COMPACT);
		char tid[VX_TASK_ID_LEN + 1];

		if (!s)
			abort();
		/* credentials are never shown back (the URL is the client's own text: only the
		 * keys that would carry them are checked) */
		if (r.nr_headers &&
		    (json_object_get(a, "headers") || json_object_get(a, "password") ||
		     json_object_get(a, "username")))
			abort();
		free(s);
		json_decref(a);
		(void)vx__mgr_req_task_id(&r, tid, err, sizeof(err));
		/* what a job stores to be resumed decodes again to the same request */
		s = vx__mgr_job_req_encode(&r);
		if (s && r.nr_headers) /* a job with credentials is never stored */
			abort();
		if (s) {
			static struct vx_mgr_job_req r2;

			if (vx_mgr_job_req_decode(s, strlen(s), &r2, err, sizeof(err)) ||
			    r2.type != r.type || strcmp(r2.url, r.url) != 0 ||
			    r2.scope != r.scope || r2.count != r.count ||
			    r2.concurrent_peers != r.concurrent_peers || r2.nr_ips != r.nr_ips ||
			    r2.image != r.image || strcmp(r2.task_id, r.task_id) != 0)
				abort();
			free(s);
		}
	}
	return 0;
}
