/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c: `vx`, the one binary for every role: dispatches to a subcommand from the table in
 * cmd_*.c files. No logic lives here beyond wiring.
 *
 * Exit codes: 0 success, 1 the operation failed (the message says why), 2 bad command line.
 * Subcommands may document more specific codes of their own.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "vx_file.h"

/* Soft RLIMIT_NOFILE every vx process asks for (within the hard limit): see vx_raise_nofile(). */
#define VX_NOFILE_WANT 65536ul

static void usage(FILE *f)
{
	fprintf(f, "usage: vx [--version] [--help] <command> [<args>]\n\n"
		   "vx moves large files across a cluster peer to peer: one fetch from the origin\n"
		   "feeds every host. Commands:\n\n");
	for (const struct vx_command *const *c = vx_commands; *c; c++)
		fprintf(f, "  %-12s %s\n", (*c)->name, (*c)->summary);
	fprintf(f, "\nRun 'vx <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	const char *name;

	if (argc < 2) {
		usage(stderr);
		return VX_EXIT_USAGE;
	}
	(void)vx_raise_nofile(VX_NOFILE_WANT);
	name = strcmp(argv[1], "--version") == 0 ? "version" : argv[1];
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return VX_EXIT_OK;
	}
	for (const struct vx_command *const *c = vx_commands; *c; c++) {
		if (strcmp(name, (*c)->name) == 0)
			return (*c)->run(argc - 1, argv + 1);
	}
	fprintf(stderr, "vx: '%s' is not a vx command. See 'vx --help'.\n", name);
	return VX_EXIT_USAGE;
}
