/* SPDX-License-Identifier: Apache-2.0 */
#include "source_int.h"

int vx__s3_register(struct vx_source_ctx *ctx)
{
	(void)ctx;
	return 0;
}
