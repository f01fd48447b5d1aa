/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_token.c: `vx token create|ls|revoke`, the management API's personal access tokens.
 * `vx token create --bootstrap --db PATH` writes the first (admin) token straight into the
 * control plane's database, for when no token exists yet; it prints the token alone on its
 * last line. Exit codes: 0, 1 failed, 2 bad command line.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api_client.h"
#include "commands.h"
#include "pki_cli.h"
#include "vx_manager.h"
#include "vx_url.h"

static const char usage[] =
	"usage: vx token create --bootstrap --db PATH [--name N] [--scopes S] [--ttl-days N]\n"
	"       vx token create --role peer|seed [--ttl DUR] [--uses N] --db PATH (join token)\n"
	"       vx token create --name N --scopes S [--ttl-days N] [API flags]\n"
	"       vx token ls [API flags]\n"
	"       vx token revoke ID [API flags]\n\n"
	"Scopes: job:read, job:write, preheat, task:delete, token:admin, audit:read,\n"
	"metrics:read, cluster:read, cluster:admin, publish, subscribe, or all.\n"
	"API flags: --api URL (default $VX_API or http://127.0.0.1:8080), --token-file F\n"
	"(default $VX_API_TOKEN_FILE), --json.\n";

static int bootstrap(const struct api_opts *o)
{
	char tok[VX_MGR_TOKEN_MAX];
	uint32_t scopes = VX_MGR_SCOPE_ALL;
	int64_t id;
	int rc;

	if (!o->db) {
		fprintf(stderr, "vx token: --bootstrap needs --db PATH (the scheduler's --db)\n");
		return VX_EXIT_USAGE;
	}
	if (o->scopes && vx_manager_scopes_parse(o->scopes, &scopes)) {
		fprintf(stderr, "vx token: unknown scope in '%s'\n", o->scopes);
		return VX_EXIT_USAGE;
	}
	rc = vx_manager_token_create(o->db, o->name ? o->name : "admin", scopes,
				     (uint64_t)(o->ttl_days ? o->ttl_days : 90) * 86400, tok, &id);
	if (rc) {
		/* a postgres:// URI may carry a password: shown redacted */
		fprintf(stderr, "vx token: cannot create the token in '%s'\n", VX_URL_SAFE(o->db));
		return VX_EXIT_FAILURE;
	}
	fprintf(stderr, "vx token: token %lld created; it is shown once:\n", (long long)id);
	printf("%s\n", tok);
	memset(tok, 0, sizeof(tok));
	return VX_EXIT_OK;
}

static int run_token(int argc, char **argv)
{
	struct api_opts o = { .cmd = "vx token" };
	json_t *j = NULL, *sc;
	const char *verb;
	char path[64];
	int rc, st;

	if (vx_cli_is_join_token(argc, argv))
		return vx_cli_join_token(argc, argv); /* the cluster CA's, not the API's */
	rc = vx_api_opts_parse(argc, argv, AC_API | AC_TOKEN | AC_JSON | AC_TOKEN_NEW, usage, &o);
	if (rc)
		return rc > 0 ? VX_EXIT_OK : VX_EXIT_USAGE;
	if (o.argc < 1) {
		fputs(usage, stderr);
		return VX_EXIT_USAGE;
	}
	verb = o.argv[0];
	if (strcmp(verb, "create") == 0 && o.bootstrap)
		return bootstrap(&o);
	if (strcmp(verb, "create") == 0) {
		char buf[256], *save = NULL, *t;

		if (!o.name || !o.scopes || strlen(o.scopes) >= sizeof(buf)) {
			fprintf(stderr, "vx token: create needs --name and --scopes\n");
			return VX_EXIT_USAGE;
		}
		sc = json_array();
		snprintf(buf, sizeof(buf), "%s", o.scopes);
		for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
			json_array_append_new(sc, json_string(t));
		j = json_pack("{s:s, s:o, s:i}", "name", o.name, "scopes", sc, "ttl_days",
			      o.ttl_days ? (int)o.ttl_days : 90);
		st = vx_api_call(&o, "POST", "/oapi/v1/tokens", j, &sc);
		json_decref(j);
		if (st == 200 && !o.json) {
			printf("%s\n", json_string_value(json_object_get(sc, "token")));
			json_decref(sc);
			return VX_EXIT_OK;
		}
		return vx_api_print(&o, st, sc);
	}
	if (strcmp(verb, "ls") == 0) {
		st = vx_api_call(&o, "GET", "/oapi/v1/tokens", NULL, &j);
		return vx_api_print(&o, st, j);
	}
	if (strcmp(verb, "revoke") == 0 && o.argc == 2) {
		snprintf(path, sizeof(path), "/oapi/v1/tokens/%.20s", o.argv[1]);
		st = vx_api_call(&o, "DELETE", path, NULL, &j);
		return vx_api_print(&o, st, j);
	}
	fputs(usage, stderr);
	return VX_EXIT_USAGE;
}

const struct vx_command vx_command_token = {
	.name = "token",
	.summary = "create, list and revoke management API tokens",
	.run = run_token,
};
