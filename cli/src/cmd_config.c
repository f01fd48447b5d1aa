/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_config.c: `vx config check FILE... [--print]` validates daemon config files with the
 * daemon's own parser (config.c) and says what is wrong, where, for each; `vx config default` prints the embedded defaults as YAML; `vx config keys`
 * lists every key and whether the daemon applies it (a key not supported yet is refused).
 * Exit codes: 0 every file valid, 1 one invalid or unreadable (the others are still checked),
 * 2 bad command line.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "serve_ccfg.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: vx config check FILE... [--print]\n"
		   "       vx config default\n"
		   "       vx config keys\n\n"
		   "check    validate daemon config files (YAML), each on its own; --print\n"
		   "         also shows the effective settings (defaults with the file applied)\n"
		   "default  print every setting with its default value\n"
		   "keys     list every setting: 'applied', or 'not-supported: why' (such a\n"
		   "         setting is refused unless left at its default)\n");
}

static int run_config(int argc, char **argv)
{
	struct vx_config cfg;
	char err[VX_CONFIG_ERR_MAX];
	bool print = false;
	int files = 0, rc = VX_EXIT_OK;

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
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--print") == 0) {
			print = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "vx config: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return VX_EXIT_USAGE;
		} else {
			files++;
		}
	}
	if (!files) {
		usage(stderr);
		return VX_EXIT_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--print") == 0)
			continue;
		vx_config_init(&cfg);
		if (vx_config_load_file(&cfg, argv[i], err, sizeof(err)) ||
		    vx_config_validate(&cfg, err, sizeof(err)) ||
		    vx_serve_rules_check(&cfg, err, sizeof(err))) {
			/* a parse error names the file; a validation error does not */
			if (strncmp(err, argv[i], strlen(argv[i])) == 0)
				fprintf(stderr, "vx config: %s\n", err);
			else
				fprintf(stderr, "vx config: %s: %s\n", argv[i], err);
			rc = VX_EXIT_FAILURE;
			continue;
		}
		if (print && files > 1)
			printf("# %s\n", argv[i]);
		if (print)
			vx_config_print(&cfg, stdout);
		else
			printf("%s: ok\n", argv[i]);
	}
	return rc;
}

const struct vx_command vx_command_config = {
	.name = "config",
	.summary = "check a daemon config file, print the defaults or list the keys",
	.run = run_config,
};
