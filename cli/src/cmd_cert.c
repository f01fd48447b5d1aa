/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_cert.c: the cluster CA from the command line (spec/control.md section 11), working on the
 * scheduler's files directly like `vx token create --bootstrap`: run it as the scheduler's user
 * on its host.
 *   vx token create --role peer|seed [--tenant NAME] [--ttl DUR] [--uses N] --db PATH
 *                   [--pki-dir DIR]
 *   vx cert revoke HOST-ID|SERIAL --db PATH [--pki-dir DIR]
 *   vx cert token-delete ID --db PATH [--pki-dir DIR]
 * A join token is printed once, alone on stdout, and never logged. Exit codes: 0, 1 failed,
 * 2 bad command line.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "args.h"
#include "commands.h"
#include "pki_cli.h"
#include "vx_err.h"
#include "vx_pki.h"
#include "vx_tls.h"

static const char usage[] =
	"usage: vx token create --role peer|seed [--tenant NAME] [--ttl DUR] [--uses N] --db PATH\n"
	"                       [--pki-dir DIR]\n"
	"       vx cert revoke HOST-ID|SERIAL --db PATH [--pki-dir DIR]\n"
	"       vx cert token-delete ID --db PATH [--pki-dir DIR]\n\n"
	"The cluster CA of `vx scheduler` (its --db and --pki-dir; run as its user).\n"
	"  --role R     what the joining daemon becomes: peer or seed\n"
	"  --tenant T   the tenant its certificate names ([a-z0-9][a-z0-9._-]{0,62}): it sees\n"
	"               only its tenant's tasks and public ones (default: none, public)\n"
	"  --ttl DUR    how long the join token may be used (default 24h, at most 366d)\n"
	"  --uses N     how many daemons may join with it (default 1)\n"
	"  --db PATH    the scheduler's database\n"
	"  --pki-dir D  the CA's directory (default: the --db path with .pki appended)\n"
	"`vx cert revoke` revokes one certificate by serial (32 hex digits) or every valid one\n"
	"of a host id, and signs the CRL again; daemons fetch it at their next refresh.\n";

struct cert_opts {
	const char *role, *tenant, *db, *dir;
	uint64_t ttl_s;
	uint32_t uses;
	int argc;
	char **argv;
};

static int parse(int argc, char **argv, struct cert_opts *o)
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "tenant", required_argument, NULL, 'n' },
		{ "ttl", required_argument, NULL, 't' },
		{ "uses", required_argument, NULL, 'u' },
		{ "db", required_argument, NULL, 'd' },
		{ "pki-dir", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->ttl_s = 86400;
	o->uses = 1;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o->role = optarg;
			break;
		case 'n':
			if (!vx_tls_tenant_ok(optarg, strlen(optarg))) {
				fprintf(stderr, "vx: --tenant wants [a-z0-9][a-z0-9._-]{0,62}\n");
				return -EINVAL;
			}
			o->tenant = optarg;
			break;
		case 't':
			if (vx_args_parse_duration_ms(optarg, &v) || v < 1000 ||
			    v > VX_PKI_TOKEN_TTL_MAX * 1000) {
				fprintf(stderr, "vx: --ttl wants a duration from 1s to 366d\n");
				return -EINVAL;
			}
			o->ttl_s = v / 1000;
			break;
		case 'u':
			if (vx_args_parse_u64(optarg, &v) || v == 0 || v > 100000) {
				fprintf(stderr, "vx: --uses wants 1 to 100000\n");
				return -EINVAL;
			}
			o->uses = (uint32_t)v;
			break;
		case 'd':
			o->db = optarg;
			break;
		case 'k':
			o->dir = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		default:
			fprintf(stderr, "vx: unknown or incomplete option '%s'\n%s",
				argv[optind - 1], usage);
			return -EINVAL;
		}
	}
	o->argc = argc - optind;
	o->argv = argv + optind;
	if (!o->db) {
		fprintf(stderr, "vx: this needs --db PATH (the scheduler's --db)\n");
		return -EINVAL;
	}
	return 0;
}

static int open_ca(const struct cert_opts *o, struct vx_pki **p)
{
	char err[512], key[4096];
	struct stat st;

	/* a mistyped --db must not make a CA of its own: the scheduler makes it */
	snprintf(key, sizeof(key), "%s%s/ca.key", o->dir ? o->dir : o->db, o->dir ? "" : ".pki");
	if (stat(key, &st)) {
		fprintf(stderr,
			"vx: no CA at %s (start `vx scheduler --db %s` first, or give "
			"--pki-dir)\n",
			key, o->db);
		return VX_EXIT_FAILURE;
	}
	if (vx_pki_open(p, o->dir, o->db, err, sizeof(err))) {
		fprintf(stderr, "vx: %s\n", err);
		return VX_EXIT_FAILURE;
	}
	return 0;
}

bool vx_cli_is_join_token(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--role") == 0 || strncmp(argv[i], "--role=", 7) == 0)
			return true;
	}
	return false;
}

int vx_cli_join_token(int argc, char **argv)
{
	struct cert_opts o;
	struct vx_pki *p;
	enum vx_pki_role role;
	char tok[VX_PKI_TOKEN_LEN + 1], id[VX_PKI_TOKEN_ID_HEX + 1];
	int rc = parse(argc, argv, &o);

	if (rc)
		return rc > 0 ? VX_EXIT_OK : VX_EXIT_USAGE;
	if (o.argc != 1 || strcmp(o.argv[0], "create") != 0 || vx_pki_role_parse(o.role, &role) ||
	    role > VX_PKI_ROLE_SEED) {
		fprintf(stderr, "vx token: a join token is `create --role peer|seed`\n%s", usage);
		return VX_EXIT_USAGE;
	}
	if (role == VX_PKI_ROLE_SEED && o.tenant) {
		fputs("vx token: a seed serves every tenant: --tenant is for peers only\n", stderr);
		return VX_EXIT_USAGE;
	}
	if (open_ca(&o, &p))
		return VX_EXIT_FAILURE;
	rc = vx_pki_token_create(p, role, o.tenant, o.ttl_s, o.uses, tok, id);
	vx_pki_close(p);
	if (rc) {
		fprintf(stderr, "vx token: cannot store the join token: %s\n", vx_strerror(rc));
		return VX_EXIT_FAILURE;
	}
	fprintf(stderr,
		"vx token: join token %s (%s%s%s, %u use%s, %llus) created; it is shown once:\n",
		id, o.role, o.tenant ? ", tenant " : "", o.tenant ? o.tenant : "", o.uses,
		o.uses == 1 ? "" : "s", (unsigned long long)o.ttl_s);
	printf("%s\n", tok);
	memset(tok, 0, sizeof(tok));
	return VX_EXIT_OK;
}

static int run_cert(int argc, char **argv)
{
	struct cert_opts o;
	struct vx_pki *p;
	int rc = parse(argc, argv, &o);

	if (rc)
		return rc > 0 ? VX_EXIT_OK : VX_EXIT_USAGE;
	if (o.argc != 2 ||
	    (strcmp(o.argv[0], "revoke") != 0 && strcmp(o.argv[0], "token-delete") != 0)) {
		fputs(usage, stderr);
		return VX_EXIT_USAGE;
	}
	if (open_ca(&o, &p))
		return VX_EXIT_FAILURE;
	if (strcmp(o.argv[0], "revoke") == 0)
		rc = vx_pki_revoke(p, o.argv[1]);
	else
		rc = vx_pki_token_delete(p, o.argv[1]);
	vx_pki_close(p);
	if (rc == -ENOENT) {
		fprintf(stderr, "vx cert: no such %s: %s\n",
			strcmp(o.argv[0], "revoke") == 0 ? "certificate" : "join token", o.argv[1]);
		return VX_EXIT_FAILURE;
	}
	if (rc < 0) {
		fprintf(stderr, "vx cert: %s failed: %s\n", o.argv[0], vx_strerror(rc));
		return VX_EXIT_FAILURE;
	}
	if (strcmp(o.argv[0], "revoke") == 0)
		printf("vx cert: %d certificate%s revoked; the CRL is signed again\n", rc,
		       rc == 1 ? "" : "s");
	else
		printf("vx cert: join token %s deleted\n", o.argv[1]);
	return VX_EXIT_OK;
}

const struct vx_command vx_command_cert = {
	.name = "cert",
	.summary = "the cluster CA: revoke certificates, delete join tokens",
	.run = run_cert,
};
