/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_client.h: the CLI side of the management API (vx preheat, task, job, token, audit):
 * shared flags and one HTTP call (libcurl, JSON by jansson). The token is read from a file
 * (--token-file or $VX_API_TOKEN_FILE), never from the command line, and sent as a bearer header.
 */
#ifndef VX_API_CLIENT_H
#define VX_API_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define AC_API	 (1u << 0)
#define AC_TOKEN (1u << 1)
#define AC_JSON	 (1u << 2)
#define AC_SCOPE \
	(1u << 3)		 /* --scope, --count, --percentage, --ips, --timeout, --wait,
				* --platform, --memory */
#define AC_TASK	       (1u << 4) /* --tag, --application, --piece-length, --filtered */
#define AC_TOKEN_NEW   (1u << 5) /* --name, --scopes, --ttl-days, --bootstrap, --db */
#define AC_ORIGIN      (1u << 6) /* --header/-H, --username, --password-file */
#define AC_HEADERS_MAX 16	 /* --header flags of one command */

struct api_opts {
	const char *cmd; /* for messages: "vx preheat" */
	const char *api;
	const char *token_file;
	bool json;
	const char *platform;
	const char *scope, *ips, *tag, *application, *filtered, *name, *scopes, *db;
	const char *webhook; /* --webhook URL: called with the job when it ends */
	uint32_t count, percentage, timeout_s, ttl_days;
	uint32_t concurrent_tasks, concurrent_peers;
	uint64_t piece_length;
	bool wait, bootstrap;
	const char *headers[AC_HEADERS_MAX]; /* --header "Name: value", for the origin */
	uint32_t nr_headers;
	const char *username, *password_file; /* registry credentials (file: first line) */
	bool memory;			      /* --memory: preheat's load_to_cache */
	int argc;			      /* positional arguments left */
	char **argv;
};

/* Parses the flags @allowed names; returns 0, 1 (--help printed) or -EINVAL (message shown). */
int vx_api_opts_parse(int argc, char **argv, unsigned allowed, const char *usage,
		      struct api_opts *o);

/*
 * vx_api_call() - @method @path (with query) and @body (borrowed JSON or NULL). Returns the
 * HTTP status (*@out: the decoded answer, owned) or -1 after printing why.
 */
int vx_api_call(const struct api_opts *o, const char *method, const char *path, const json_t *body,
		json_t **out);

/* Prints @j (taken) as one JSON line, or its "message" when @status is not 2xx. Exit code. */
int vx_api_print(const struct api_opts *o, int status, json_t *j);

/* Adds --header, --username and the --password-file's secret to a job's @args: 0 or -EINVAL. */
int vx_api_origin_args(const struct api_opts *o, json_t *args);
/* A job's args naming a task: "task_id" when @what is one, else "url"; plus --tag etc. */
json_t *vx_api_task_args(const struct api_opts *o, const char *what);
/* Adds --tag, --application, --filtered and --piece-length to @args. */
void vx_api_task_flags(const struct api_opts *o, json_t *args);
/* Adds a preheat's --scope, --memory, --count, --percentage, --timeout, --concurrent-* and
 * --ips to @args. */
void vx_api_preheat_flags(const struct api_opts *o, json_t *args);
/* POSTs a job of @type with @args (taken); --wait polls it to its end. Exit code. */
int vx_api_post_job(const struct api_opts *o, const char *type, json_t *args);

/*
 * vx_api_take_flags() - takes a command's own "--NAME VALUE" flags, @names (NULL-ended; a name
 * ending in '!' takes no value and gets "1"), out of @argv into @vals (same index), leaving the
 * rest for vx_api_opts_parse(). 0, or -EINVAL (a value missing; said on stderr).
 */
int vx_api_take_flags(int *argc, char **argv, const char *const *names, const char **vals,
		      const char *cmd);

/* A libcurl response body gathered in memory (vx_alloc.h allocator; vx_free(p) after): set
 * CURLOPT_WRITEFUNCTION to vx_cli_curl_body and CURLOPT_WRITEDATA to the struct. A body past
 * @max bytes stops the transfer. */
struct vx_cli_body {
	char *p; /* NUL-terminated once anything arrived */
	size_t len;
	size_t max;
};
size_t vx_cli_curl_body(char *ptr, size_t size, size_t nmemb, void *arg);

#endif /* VX_API_CLIENT_H */
