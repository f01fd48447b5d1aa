/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_config.c: the daemon's YAML config reader. Any input must give either a config that
 * validates or not, or a clear error; never a crash, a leak or a read past the input.
 */
#include <stdint.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx_config cfg;
	char err[VX_CONFIG_ERR_MAX] = "";

	vx_config_init(&cfg);
	if (vx_config_load_yaml(&cfg, "fuzz", (const char *)data, size, err, sizeof(err)) == 0) {
		if (vx_config_validate(&cfg, err, sizeof(err)) == 0)
			return 0;
	}
	if (memchr(err, '\0', sizeof(err)) == NULL)
		__builtin_trap(); /* every error message must be terminated */
	return 0;
}
