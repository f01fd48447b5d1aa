/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_version.c: `vx version`, the same as `vx --version`.
 */
#include <stdio.h>

#include "commands.h"
#include "vx_version.h"

static int run_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("vx %s (Vortex protocol v0.1.5)\n", VX_VERSION);
	return VX_EXIT_OK;
}

const struct vx_command vx_command_version = {
	.name = "version",
	.summary = "print the version",
	.run = run_version,
};
