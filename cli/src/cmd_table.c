/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_table.c: the list of subcommands. Add a line here with each new cmd_<name>.c.
 */
#include "commands.h"

const struct vx_command vx_commands[] = {
	{ 0 },
};
