/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_subscribe.c: `vx subscribe CHANNEL --dir DIR` (spec/manager.md "Channels"): reads the
 * channel's publications after the last one this directory holds and gets each, in order of
 * publication, through the local daemon (P2P: a persistent cache task is exported from its
 * holders, a URL downloaded as `vx get` does) into DIR atomically: a temporary file in DIR,
 * fsync, rename, fsync of DIR; then the sequence number is written (DIR/.vx-subscribe-CHANNEL,
 * the same way), so after being offline it catches up from there and a crash never leaves a
 * partial file under a publication's name. A publication that cannot be fetched stops the
 * stream there (order is kept); it is tried again at the next poll. Once caught up it
 * long-polls (?wait=25: the API answers when a publication comes), so a publication reaches it
 * at once; against an API without long-polls it polls every --poll-ms. Exit 0 (--once: caught
 * up), 1 (refused, or --once and a fetch failed), 2 (usage), 3 (the daemon could not be
 * reached).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_client.h"
#include "commands.h"
#include "vx_api_msg.h"
#include "vx_client.h"
#include "vx_err.h"

#define SUB_PART    ".vx-part-"
#define SUB_WAIT_MS (6u * 3600 * 1000)

static const char usage[] =
	"usage: vx subscribe CHANNEL --dir DIR [--once] [--poll-ms N] [--socket PATH]\n"
	"                    [API flags]\n"
	"  --dir DIR       where the publications are written (it must exist)\n"
	"  --once          catch up and exit (default: keep waiting for publications)\n"
	"  --poll-ms N     before trying a failed publication again, and between polls of an\n"
	"                  API without long-polls (default 1000, 100 .. 600000)\n"
	"  --socket PATH   the daemon's socket (default: $VX_SOCKET or /run/vx/vx.sock)\n"
	"The API token needs the subscribe scope.\n";

struct sub {
	struct api_opts o;
	const char *channel, *sock;
	char dir[PATH_MAX];
	char state[PATH_MAX];
	int64_t seq;
};

static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	int rc = fd < 0 || fsync(fd) ? -errno : 0;

	if (fd >= 0)
		close(fd);
	return rc;
}

/* Writes the last sequence held: temp file, fsync, rename, fsync of the directory. */
static int state_save(struct sub *s, int64_t seq)
{
	char tmp[PATH_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", s->state);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	if (fprintf(f, "%" PRId64 "\n", seq) < 0 || fflush(f) || fsync(fileno(f))) {
		fclose(f);
		unlink(tmp);
		return -EIO;
	}
	fclose(f);
	if (rename(tmp, s->state))
		return -errno;
	s->seq = seq;
	return fsync_path(s->dir, O_RDONLY | O_DIRECTORY);
}

static int state_load(struct sub *s)
{
	FILE *f = fopen(s->state, "re");
	long long v;

	s->seq = 0;
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (fscanf(f, "%lld", &v) != 1 || v < 0) {
		fclose(f);
		fprintf(stderr, "vx subscribe: %s is not a sequence number\n", s->state);
		return -EINVAL;
	}
	fclose(f);
	s->seq = v;
	return 0;
}

/* Leftovers of a fetch that was cut (a killed subscriber). */
static void parts_clean(const struct sub *s)
{
	DIR *d = opendir(s->dir);
	struct dirent *e;

	while (d && (e = readdir(d)) != NULL) {
		if (!strncmp(e->d_name, SUB_PART, strlen(SUB_PART)))
			(void)unlinkat(dirfd(d), e->d_name, 0);
	}
	if (d)
		closedir(d);
}

static bool name_ok(const char *n)
{
	return n && *n && *n != '.' && !strchr(n, '/') && strlen(n) < 256;
}

/* Gets one publication into the directory: 0, or an exit code (said on stderr). */
static int fetch_one(struct sub *s, json_t *p)
{
	struct vx_download_request req = { .overwrite = true };
	struct vx_download_result res = { 0 };
	const char *name = json_string_value(json_object_get(p, "name"));
	const char *tid = json_string_value(json_object_get(p, "task_id"));
	const char *url = json_string_value(json_object_get(p, "url"));
	int64_t seq = json_integer_value(json_object_get(p, "seq"));
	char tmp[PATH_MAX], out[PATH_MAX];
	struct vx_client *c = NULL;
	int rc;

	if (!name_ok(name) || (!tid == !url) || seq != s->seq + 1) {
		fprintf(stderr, "vx subscribe: publication %" PRId64 " is malformed\n", seq);
		return VX_EXIT_FAILURE;
	}
	if (snprintf(tmp, sizeof(tmp), "%s/" SUB_PART "%" PRId64, s->dir, seq) >=
		    (int)sizeof(tmp) ||
	    snprintf(out, sizeof(out), "%s/%s", s->dir, name) >= (int)sizeof(out))
		return VX_EXIT_FAILURE;
	rc = vx_client_connect(&c, s->sock, 5000);
	if (rc) {
		fprintf(stderr, "vx subscribe: cannot reach the daemon on '%s': %s\n", s->sock,
			vx_strerror(rc));
		return 3;
	}
	req.output = tmp;
	if (tid) {
		req.cache_op = VX_API_CACHE_EXPORT;
		req.cache_id = tid;
		rc = vx_client_cache(c, &req, SUB_WAIT_MS, &res);
	} else {
		req.url = url;
		rc = vx_client_download(c, &req, NULL, NULL, &res);
	}
	vx_client_close(c);
	if (!rc)
		rc = fsync_path(tmp, O_RDONLY);
	if (!rc && rename(tmp, out))
		rc = -errno;
	if (rc) {
		unlink(tmp);
		fprintf(stderr, "vx subscribe: publication %" PRId64 " (%s) not fetched: %s\n", seq,
			name, res.msg[0] ? res.msg : vx_strerror(rc));
		return VX_EXIT_FAILURE;
	}
	rc = fsync_path(s->dir, O_RDONLY | O_DIRECTORY);
	if (!rc)
		rc = state_save(s, seq);
	if (rc) {
		fprintf(stderr, "vx subscribe: %s: %s\n", s->state, vx_strerror(rc));
		return VX_EXIT_FAILURE;
	}
	printf("%" PRId64 " %s\n", seq, name);
	fflush(stdout);
	return 0;
}

/* One poll: fetches what is new, in order. 0 and *@more, an exit code of a fetch (tried again
 * at the next poll), or -1 when the API refused (an unknown channel, a token without the
 * subscribe scope: said on stderr). */
static int poll_once(struct sub *s, bool wait, bool *more, bool *waited)
{
	char path[192];
	json_t *j = NULL, *a, *p;
	size_t i;
	int st, rc = 0;

	/* a long-poll: the API holds the request until a publication comes (at most 25 s) */
	snprintf(path, sizeof(path), "/oapi/v1/channels/%s?after=%" PRId64 "&limit=100%s",
		 s->channel, s->seq, wait ? "&wait=25" : "");
	st = vx_api_call(&s->o, "GET", path, NULL, &j);
	*more = false;
	*waited = false;
	if (st != 200) {
		(void)vx_api_print(&s->o, st, j);
		return -1;
	}
	a = json_object_get(j, "publications");
	json_array_foreach(a, i, p)
	{
		rc = fetch_one(s, p);
		if (rc)
			break;
	}
	*more = !rc && json_array_size(a) == 100;
	/* an API that does not know ?wait= answers at once without it: poll every --poll-ms */
	*waited = !rc && json_is_true(json_object_get(j, "long_poll"));
	json_decref(j);
	return rc;
}

static int run_subscribe(int argc, char **argv)
{
	static const char *const names[] = { "--dir", "--socket", "--poll-ms", "--once!", NULL };
	const char *v[4] = { NULL };
	const char *env = getenv("VX_SOCKET");
	struct sub s = { .o = { .cmd = "vx subscribe" } };
	long poll_ms = 1000;
	bool more, waited;
	int rc;

	if (vx_api_take_flags(&argc, argv, names, v, "vx subscribe")) {
		fputs(usage, stderr);
		return VX_EXIT_USAGE;
	}
	rc = vx_api_opts_parse(argc, argv, AC_API | AC_TOKEN | AC_JSON, usage, &s.o);
	if (rc)
		return rc > 0 ? VX_EXIT_OK : VX_EXIT_USAGE;
	if (v[2]) {
		char *end;

		poll_ms = strtol(v[2], &end, 10);
		if (*end || poll_ms < 100 || poll_ms > 600000) {
			fputs("vx subscribe: --poll-ms must be 100 .. 600000\n", stderr);
			return VX_EXIT_USAGE;
		}
	}
	if (s.o.argc != 1 || !v[0] || strlen(s.o.argv[0]) > 64 || strchr(s.o.argv[0], '/') ||
	    s.o.argv[0][0] == '.') {
		fputs(usage, stderr);
		return VX_EXIT_USAGE;
	}
	if (!realpath(v[0], s.dir)) {
		fprintf(stderr, "vx subscribe: --dir %s: %s\n", v[0], strerror(errno));
		return VX_EXIT_USAGE;
	}
	s.channel = s.o.argv[0];
	s.sock = v[1] ? v[1] : env && *env ? env : "/run/vx/vx.sock";
	snprintf(s.state, sizeof(s.state), "%.4000s/.vx-subscribe-%s", s.dir, s.channel);
	if (state_load(&s))
		return VX_EXIT_FAILURE;
	parts_clean(&s);
	for (;;) {
		rc = poll_once(&s, !v[3], &more, &waited);
		if (more)
			continue;
		if (rc < 0)
			return VX_EXIT_FAILURE;
		if (v[3])
			return rc;
		if (waited)
			continue; /* the API waited for us: ask again at once */
		if (rc)
			fprintf(stderr, "vx subscribe: trying again in %ld ms\n", poll_ms);
		usleep((useconds_t)poll_ms * 1000);
	}
}

const struct vx_command vx_command_subscribe = {
	.name = "subscribe",
	.summary = "write a channel's publications into a directory, in order",
	.run = run_subscribe,
};
