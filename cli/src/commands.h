/* SPDX-License-Identifier: Apache-2.0 */
/*
 * commands.h: the subcommands of `vx`. Each cli/src/cmd_<name>.c defines one
 * `const struct vx_command vx_command_<name>`; the build generates the table from the file
 * names, so adding a command touches no shared file. run() gets argv[0] = the command name and
 * returns the process exit code.
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
	const char *name;    /* as typed: "task-id" */
	const char *summary; /* one line for `vx --help` */
	int (*run)(int argc, char **argv);
};

/* The generated table, sorted by file name, terminated by NULL. */
extern const struct vx_command *const vx_commands[];

#endif /* VX_CLI_COMMANDS_H */
