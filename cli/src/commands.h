/* SPDX-License-Identifier: Apache-2.0 */
/*
 * commands.h: the subcommands of `vx`. Each is `int vx_cmd_<name>(int argc, char **argv)`,
 * with argv[0] the subcommand name; it returns the process exit code (see cli/src/main.c for
 * the documented codes).
 */
#ifndef VX_CLI_COMMANDS_H
#define VX_CLI_COMMANDS_H

/* Documented exit codes shared by every subcommand. */
enum vx_exit {
	VX_EXIT_OK = 0,
	VX_EXIT_FAILURE = 1, /* the operation failed; the message says why */
	VX_EXIT_USAGE = 2,   /* bad command line */
};

struct vx_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

/* The table of subcommands, terminated by a zeroed entry. */
extern const struct vx_command vx_commands[];

#endif /* VX_CLI_COMMANDS_H */
