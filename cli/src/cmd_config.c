/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_config.c: `vx config check FILE [--print]` validates a daemon config file and says what
 * is wrong, where; `vx config default` prints the embedded defaults as YAML; `vx config keys`
 * lists every key and whether the daemon applies it (a key not supported yet is refused).
 * Exit codes: 0 valid, 1 invalid or unreadable, 2 bad command line.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: vx config check FILE [--print]\n"
		   "       vx config default\n"
		   "       vx config keys\n\n"
		   "check    validate a daemon config file (YAML); --print also shows the\n"
		   "         effective settings (defaults with the file applied)\n"
		   "default  print every setting with its default value\n"
		   "keys     list every setting: 'applied', or 'not-supported: why' (such a\n"
		   "         setting is refused unless left at its default)\n");
}

static int run_config(int argc, char **argv)
{
	struct vx_config cfg;
	char err[VX_CONFIG_ERR_MAX];
	bool print = false;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return VX_EXIT_OK;
	}
	vx_config_init(&cfg);
	if (argc == 2 && strcmp(argv[1], "default") == 0) {
		vx_config_print(&cfg, stdout);
		return VX_EXIT_OK;
	}
	if (argc == 2 && strcmp(argv[1], "keys") == 0) {
		vx_config_keys(stdout);
		return VX_EXIT_OK;
	}
	if (argc < 3 || strcmp(argv[1], "check") != 0) {
		usage(stderr);
		return VX_EXIT_USAGE;
	}
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--print") != 0) {
			fprintf(stderr, "vx config: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return VX_EXIT_USAGE;
		}
		print = true;
	}
	if (vx_config_load_file(&cfg, argv[2], err, sizeof(err)) ||
	    vx_config_validate(&cfg, err, sizeof(err))) {
		fprintf(stderr, "vx config: %s\n", err);
		return VX_EXIT_FAILURE;
	}
	if (print)
		vx_config_print(&cfg, stdout);
	else
		printf("%s: ok\n", argv[2]);
	return VX_EXIT_OK;
}

const struct vx_command vx_command_config = {
	.name = "config",
	.summary = "check a daemon config file, print the defaults or list the keys",
	.run = run_config,
};
