/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_manager_req.c: the management API's job request decoder (manager/src/mgr_req.c,
 * vx_mgr_job_req_decode, the one the HTTP server calls) on arbitrary bytes: it must return 0
 * or -EINVAL with a message, never crash, and a decoded request must give args that encode.
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
		free(s);
		json_decref(a);
		(void)vx__mgr_req_task_id(&r, tid, err, sizeof(err));
	}
	return 0;
}
