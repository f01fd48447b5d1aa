/* SPDX-License-Identifier: Apache-2.0 */
/* api_client.c: see api_client.h. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api_client.h"
#include "args.h"
#include "vx_alloc.h"
#include "commands.h"
#include "vx_task_id.h"

static int num(const struct api_opts *o, const char *flag, const char *s, uint64_t hi,
	       uint64_t *out)
{
	if (vx_args_parse_u64(s, out) != 0 || *out > hi) {
		fprintf(stderr, "%s: %s wants a number up to %llu, got '%s'\n", o->cmd, flag,
			(unsigned long long)hi, s);
		return -EINVAL;
	}
	return 0;
}

int vx_api_opts_parse(int argc, char **argv, unsigned allowed, const char *usage,
		      struct api_opts *o)
{
	static const struct {
		struct option opt;
		unsigned group;
	} all[] = {
		{ { "api", required_argument, NULL, 'a' }, AC_API },
		{ { "token-file", required_argument, NULL, 't' }, AC_TOKEN },
		{ { "json", no_argument, NULL, 'j' }, AC_JSON },
		{ { "scope", required_argument, NULL, 's' }, AC_SCOPE },
		{ { "count", required_argument, NULL, 'c' }, AC_SCOPE },
		{ { "percentage", required_argument, NULL, 'p' }, AC_SCOPE },
		{ { "ips", required_argument, NULL, 'i' }, AC_SCOPE },
		{ { "timeout", required_argument, NULL, 'T' }, AC_SCOPE },
		{ { "wait", no_argument, NULL, 'w' }, AC_SCOPE },
		{ { "platform", required_argument, NULL, 'P' }, AC_SCOPE },
		{ { "memory", no_argument, NULL, 'M' }, AC_SCOPE },
		{ { "concurrent-tasks", required_argument, NULL, 'C' }, AC_SCOPE },
		{ { "webhook", required_argument, NULL, 'W' }, AC_SCOPE },
		{ { "concurrent-peers", required_argument, NULL, 'E' }, AC_SCOPE },
		{ { "tag", required_argument, NULL, 'g' }, AC_TASK },
		{ { "application", required_argument, NULL, 'A' }, AC_TASK },
		{ { "filtered", required_argument, NULL, 'f' }, AC_TASK },
		{ { "piece-length", required_argument, NULL, 'L' }, AC_TASK },
		{ { "name", required_argument, NULL, 'n' }, AC_TOKEN_NEW },
		{ { "scopes", required_argument, NULL, 'S' }, AC_TOKEN_NEW },
		{ { "ttl-days", required_argument, NULL, 'd' }, AC_TOKEN_NEW },
		{ { "bootstrap", no_argument, NULL, 'b' }, AC_TOKEN_NEW },
		{ { "db", required_argument, NULL, 'D' }, AC_TOKEN_NEW },
		{ { "header", required_argument, NULL, 'H' }, AC_ORIGIN },
		{ { "username", required_argument, NULL, 'u' }, AC_ORIGIN },
		{ { "password-file", required_argument, NULL, 'F' }, AC_ORIGIN },
		{ { "help", no_argument, NULL, 'h' }, ~0u },
	};
	struct option opts[sizeof(all) / sizeof(all[0]) + 1];
	size_t n = 0;
	uint64_t v;
	int c;

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (all[i].group & allowed)
			opts[n++] = all[i].opt;
	}
	memset(&opts[n], 0, sizeof(opts[n]));
	o->api = getenv("VX_API");
	if (!o->api)
		o->api = "http://127.0.0.1:8080";
	o->token_file = getenv("VX_API_TOKEN_FILE");
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, allowed & AC_ORIGIN ? "hH:" : "h", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			if (o->nr_headers == AC_HEADERS_MAX || !strchr(optarg, ':')) {
				fprintf(stderr, "%s: --header wants 'Name: value' (at most %u)\n",
					o->cmd, AC_HEADERS_MAX);
				return -EINVAL;
			}
			o->headers[o->nr_headers++] = optarg;
			break;
		case 'u':
			o->username = optarg;
			break;
		case 'F':
			o->password_file = optarg;
			break;
		case 'a':
			o->api = optarg;
			break;
		case 't':
			o->token_file = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 's':
			o->scope = optarg;
			break;
		case 'i':
			o->ips = optarg;
			break;
		case 'P':
			o->platform = optarg;
			break;
		case 'M':
			o->memory = true;
			break;
		case 'g':
			o->tag = optarg;
			break;
		case 'A':
			o->application = optarg;
			break;
		case 'f':
			o->filtered = optarg;
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'S':
			o->scopes = optarg;
			break;
		case 'D':
			o->db = optarg;
			break;
		case 'w':
			o->wait = true;
			break;
		case 'b':
			o->bootstrap = true;
			break;
		case 'c':
			if (num(o, "--count", optarg, 100000, &v))
				return -EINVAL;
			o->count = (uint32_t)v;
			break;
		case 'p':
			if (num(o, "--percentage", optarg, 100, &v))
				return -EINVAL;
			o->percentage = (uint32_t)v;
			break;
		case 'W':
			o->webhook = optarg;
			break;
		case 'C':
			if (num(o, "--concurrent-tasks", optarg, 1000, &v))
				return -EINVAL;
			o->concurrent_tasks = (uint32_t)v;
			break;
		case 'E':
			if (num(o, "--concurrent-peers", optarg, 100000, &v))
				return -EINVAL;
			o->concurrent_peers = (uint32_t)v;
			break;
		case 'T':
			if (num(o, "--timeout", optarg, 86400, &v))
				return -EINVAL;
			o->timeout_s = (uint32_t)v;
			break;
		case 'd':
			if (num(o, "--ttl-days", optarg, 3650, &v))
				return -EINVAL;
			o->ttl_days = (uint32_t)v;
			break;
		case 'L':
			if (num(o, "--piece-length", optarg, 1u << 30, &o->piece_length))
				return -EINVAL;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		default:
			fprintf(stderr, "%s: unknown or incomplete option '%s'\n%s", o->cmd,
				argv[optind - 1], usage);
			return -EINVAL;
		}
	}
	o->argc = argc - optind;
	o->argv = argv + optind;
	return 0;
}

size_t vx_cli_curl_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct vx_cli_body *b = arg;
	size_t n = size * nmemb;
	char *q;

	if (b->len + n > b->max)
		return 0;
	q = vx_realloc(b->p, b->len + n + 1);
	if (!q)
		return 0;
	memcpy(q + b->len, ptr, n);
	b->p = q;
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* The secret in file @path ("-": standard input), trailing blanks cut: 0 or -EINVAL. */
static int read_secret(const struct api_opts *o, const char *what, const char *path, char *out,
		       size_t cap)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	size_t n;

	if (!f) {
		fprintf(stderr, "%s: cannot read the %s file '%s'\n", o->cmd, what, path);
		return -EINVAL;
	}
	n = fread(out, 1, cap - 1, f);
	if (f != stdin)
		fclose(f);
	out[n] = '\0';
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
		out[--n] = '\0';
	if (!n || strpbrk(out, "\r\n") || n == cap - 1) {
		fprintf(stderr, "%s: the %s file '%s' must hold one line of 1..%zu bytes\n", o->cmd,
			what, path, cap - 2);
		return -EINVAL;
	}
	return 0;
}

static int read_token(const struct api_opts *o, char *out, size_t cap)
{
	if (!o->token_file) {
		fprintf(stderr,
			"%s: give the API token with --token-file (or $VX_API_TOKEN_FILE)\n",
			o->cmd);
		return -EINVAL;
	}
	return read_secret(o, "token", o->token_file, out, cap);
}

int vx_api_origin_args(const struct api_opts *o, json_t *args)
{
	json_t *h = json_object();
	char pw[257];

	for (uint32_t i = 0; i < o->nr_headers; i++) {
		const char *colon = strchr(o->headers[i], ':');
		char name[256];

		snprintf(name, sizeof(name), "%.*s", (int)(colon - o->headers[i]), o->headers[i]);
		json_object_set_new(h, name, json_string(colon + 1 + strspn(colon + 1, " \t")));
	}
	if (json_object_size(h))
		json_object_set(args, "headers", h);
	json_decref(h);
	if (o->password_file && !o->username) {
		fprintf(stderr, "%s: --password-file needs --username\n", o->cmd);
		return -EINVAL;
	}
	if (o->username)
		json_object_set_new(args, "username", json_string(o->username));
	if (o->password_file) {
		if (read_secret(o, "password", o->password_file, pw, sizeof(pw)))
			return -EINVAL;
		json_object_set_new(args, "password", json_string(pw));
		OPENSSL_cleanse(pw, sizeof(pw));
	}
	return 0;
}

int vx_api_call(const struct api_opts *o, const char *method, const char *path, const json_t *body,
		json_t **out)
{
	char tok[256], hdr[300], url[2048];
	struct curl_slist *h = NULL;
	struct vx_cli_body b = { .max = 64u << 20 };
	char *data = NULL;
	long status = -1;
	CURL *c;
	CURLcode cc;

	*out = NULL;
	if (read_token(o, tok, sizeof(tok)))
		return -1;
	snprintf(url, sizeof(url), "%s%s", o->api, path);
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", tok);
	c = curl_easy_init();
	if (!c)
		return -1;
	h = curl_slist_append(h, hdr);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, vx_cli_curl_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (body) {
		data = json_dumps(body, JSON_COMPACT);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data ? data : "");
	}
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	else
		fprintf(stderr, "%s: cannot reach the API at %s: %s\n", o->cmd, o->api,
			curl_easy_strerror(cc));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(data);
	memset(hdr, 0, sizeof(hdr));
	memset(tok, 0, sizeof(tok));
	if (cc == CURLE_OK)
		*out = json_loadb(b.p ? b.p : "", b.len, 0, NULL);
	vx_free(b.p);
	return cc == CURLE_OK ? (int)status : -1;
}

int vx_api_print(const struct api_opts *o, int status, json_t *j)
{
	int rc = status >= 200 && status < 300 ? VX_EXIT_OK : VX_EXIT_FAILURE;

	if (status < 0)
		return VX_EXIT_FAILURE;
	if (rc == VX_EXIT_OK || o->json) {
		char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

		printf("%s\n", s ? s : "null");
		free(s);
	}
	if (rc != VX_EXIT_OK) {
		const char *m = json_string_value(json_object_get(j, "message"));

		fprintf(stderr, "%s: the API answered %d: %s\n", o->cmd, status,
			m ? m : "(no message)");
	}
	json_decref(j);
	return rc;
}

json_t *vx_api_task_args(const struct api_opts *o, const char *what)
{
	json_t *a = json_object();

	if (vx_task_id_valid(what, strlen(what)))
		json_object_set_new(a, "task_id", json_string(what));
	else
		json_object_set_new(a, "url", json_string(what));
	vx_api_task_flags(o, a);
	return a;
}

void vx_api_task_flags(const struct api_opts *o, json_t *a)
{
	if (o->tag)
		json_object_set_new(a, "tag", json_string(o->tag));
	if (o->application)
		json_object_set_new(a, "application", json_string(o->application));
	if (o->filtered)
		json_object_set_new(a, "filtered_query_params", json_string(o->filtered));
	if (o->piece_length)
		json_object_set_new(a, "piece_length", json_integer((json_int_t)o->piece_length));
}

void vx_api_preheat_flags(const struct api_opts *o, json_t *a)
{
	if (o->scope)
		json_object_set_new(a, "scope", json_string(o->scope));
	if (o->memory)
		json_object_set_new(a, "load_to_cache", json_true());
	if (o->count)
		json_object_set_new(a, "count", json_integer(o->count));
	if (o->percentage)
		json_object_set_new(a, "percentage", json_integer(o->percentage));
	if (o->timeout_s)
		json_object_set_new(a, "timeout", json_integer(o->timeout_s));
	if (o->concurrent_tasks)
		json_object_set_new(a, "concurrent_task_count", json_integer(o->concurrent_tasks));
	if (o->concurrent_peers)
		json_object_set_new(a, "concurrent_peer_count", json_integer(o->concurrent_peers));
	if (o->ips) {
		char buf[4096], *save = NULL, *t;
		json_t *ips = json_array();

		snprintf(buf, sizeof(buf), "%s", o->ips);
		for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
			json_array_append_new(ips, json_string(t));
		json_object_set_new(a, "ips", ips);
	}
}

int vx_api_post_job(const struct api_opts *o, const char *type, json_t *args)
{
	json_t *req = json_pack("{s:s, s:o}", "type", type, "args", args), *j;
	const char *state;
	char path[64];
	int st;

	if (o->webhook)
		json_object_set_new(req, "webhook", json_string(o->webhook));
	st = vx_api_call(o, "POST", "/oapi/v1/jobs", req, &j);
	json_decref(req);
	/* --wait: poll until the job leaves PENDING (each call bounded; at most --timeout s) */
	for (uint32_t i = 0; o->wait && st == 200 && i < (o->timeout_s ? o->timeout_s : 600) * 5;
	     i++) {
		state = json_string_value(json_object_get(j, "state"));
		if (!state || strcmp(state, "PENDING") != 0)
			break;
		snprintf(path, sizeof(path), "/oapi/v1/jobs/%lld",
			 (long long)json_integer_value(json_object_get(j, "id")));
		json_decref(j);
		usleep(200 * 1000);
		st = vx_api_call(o, "GET", path, NULL, &j);
	}
	state = json_string_value(json_object_get(j, "state"));
	if (st == 200 && o->wait && (!state || strcmp(state, "SUCCESS") != 0)) {
		vx_api_print(o, st, j);
		return VX_EXIT_FAILURE;
	}
	return vx_api_print(o, st, j);
}

int vx_api_take_flags(int *argc, char **argv, const char *const *names, const char **vals,
		      const char *cmd)
{
	int n = 1;

	for (int i = 1; i < *argc; i++) {
		uint32_t k = 0;
		size_t len = 0;

		for (; names[k]; k++) {
			len = strcspn(names[k], "!");
			if (!strncmp(argv[i], names[k], len) && !argv[i][len])
				break;
		}
		if (!names[k]) {
			argv[n++] = argv[i];
			continue;
		}
		if (names[k][len] == '!') {
			vals[k] = "1";
			continue;
		}
		if (i + 1 == *argc) {
			fprintf(stderr, "%s: %s wants a value\n", cmd, argv[i]);
			return -EINVAL;
		}
		vals[k] = argv[++i];
	}
	argv[n] = NULL;
	*argc = n;
	return 0;
}
