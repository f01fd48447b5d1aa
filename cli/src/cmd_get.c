/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_get.c: `vx get URL -O FILE`. Three ways to run, in this order:
 *   --socket PATH (or a daemon answering on the default socket): the daemon downloads (libvx);
 *   --scheduler LIST: an embedded one-shot peer joins the swarm (vx_peer.h);
 *   neither: the back-to-source driver (vx_origin.h) downloads from the source into --data-dir.
 * In every mode the file appears at the output path only when complete and verified; -O -
 * streams the content to stdout in order as the pieces land.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "observe.h"
#include "vx_client.h"
#include "vx_origin.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_peer.h"
#include "vx_sched_tokens.h"
#include "vx_source.h"
#include "vx_source_parse.h"
#include "vx_store.h"
#include "vx_url.h"

/* Exit codes of `vx get` beyond the shared ones (commands.h); documented in usage(). */
enum {
	GET_EXIT_NOT_FOUND = 3, /* the source says the object does not exist */
	GET_EXIT_DIGEST = 4,	/* the content does not match --digest */
	GET_EXIT_OUTPUT = 5,	/* the output path cannot be written */
	GET_EXIT_SOURCE = 6,	/* the source cannot be reached or refused the download */
	GET_EXIT_TIMEOUT = 7,	/* --timeout passed */
	GET_EXIT_NO_PEERS = 8,	/* no peer had it and back-to-source was disabled */
};

/* The daemon's socket when neither --socket nor --scheduler is given. */
#define GET_SOCKET_DEFAULT "/run/vx/vx.sock"
#define GET_SCHEDULERS_MAX 16

/* Most --header and --filtered-query-param options on one command line. */
#define GET_HEADERS_MAX	 32
#define GET_FILTERS_MAX	 64
#define GET_DATA_DIR_MAX 4096

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vx get URL -O FILE [options]\n\n"
		"Downloads URL to FILE. FILE appears only when complete and verified. Through a\n"
		"daemon (--socket) or a scheduler (--scheduler) pieces come from peers; without\n"
		"either the file comes from the source, and pieces are kept in a local store so\n"
		"that a second download reuses them.\n\n"
		"  -O, --output FILE             where to put the file (required; - is stdout,\n"
		"                                written in order as pieces land)\n"
		"  --data-dir DIR                store directory (default $XDG_CACHE_HOME/vx or\n"
		"                                ~/.cache/vx)\n"
		"  -H, --header 'K: V'           request header for the source; repeatable\n"
		"  --digest ALGO:VALUE           expected digest: sha256:<hex>, sha512:<hex> or\n"
		"                                crc32:<decimal>\n"
		"  --tag T                       task tag (part of the task id)\n"
		"  --application A               application name (part of the task id)\n"
		"  --piece-length N              fixed piece length, e.g. 4MiB (part of the task "
		"id)\n"
		"  --filtered-query-param K      drop query key K from the task id; repeatable\n"
		"  --timeout DUR                 give up after DUR (30s, 5m, 1h)\n"
		"  --overwrite                   replace an existing FILE\n"
		"  --no-progress                 no progress bar\n"
		"  --json                        print a JSON summary on stdout\n"
		"  --log-level LEVEL             error, warn (default), info or debug, on stderr\n"
		"  --log-format text|json        json: one object a line with this run's request\n"
		"                                id, which the daemon and scheduler log too\n"
		"  --socket PATH                 download through the daemon on PATH (default:\n"
		"                                $VX_SOCKET or " GET_SOCKET_DEFAULT
		" when a daemon\n"
		"                                answers there)\n"
		"  --scheduler HOST:PORT[,...]   no daemon: join the swarm with an embedded peer\n"
		"  --token-file FILE             the scheduler's peer token (else $VX_TOKEN_FILE)\n"
		"  --listen HOST:PORT            the embedded peer's upload address (default\n"
		"                                0.0.0.0:0, an ephemeral port)\n"
		"  --disable-back-to-source      only from peers, never from the origin\n"
		"  --memory                      the daemon keeps the task in its memory tier\n"
		"                                (storage.memory_budget; memory short: on disk);\n"
		"                                with -O - the content is read from memory\n"
		"  -r, --recursive               URL is a directory or prefix (file, ftp, s3, gs,\n"
		"                                hdfs, oci, hf, modelscope, http index pages):\n"
		"                                every file under it to -O DIR/<path>\n"
		"  --include-files GLOB          with -r: only files whose path or name matches;\n"
		"                                repeatable\n"
		"  --jobs N                      with -r through a daemon: N files at once\n"
		"                                (default 1, at most 64)\n"
		"  -h, --help                    this text\n\n"
		"Model hubs: hf://[datasets/|spaces/]OWNER/REPO[@REV][/PATH] (Hugging Face;\n"
		"REV default main, $HF_ENDPOINT, token $HF_TOKEN or ~/.cache/huggingface/token)\n"
		"and modelscope://OWNER/REPO[@REV][/PATH] (REV default master,\n"
		"$MODELSCOPE_ENDPOINT, $MODELSCOPE_API_TOKEN). A whole repository: -r URL/.\n"
		"Through a daemon, files are fetched with the daemon's endpoint and token\n"
		"(source.hf_* / source.modelscope_* keys or its environment); the -r listing\n"
		"with this command's environment.\n\n"
		"Exit codes:\n"
		"  0  downloaded\n"
		"  1  other failure (the message says why)\n"
		"  2  bad command line (options, --digest syntax)\n"
		"  3  not found at the source (HTTP 404, missing file)\n"
		"  4  digest mismatch: nothing is written at FILE\n"
		"  5  output path problem: missing directory, not writable, or FILE exists\n"
		"     without --overwrite\n"
		"  6  source unreachable, refused, or unsupported (scheme)\n"
		"  7  timed out\n"
		"  8  no peer had the file and back-to-source was disabled\n");
}

struct progress_bar {
	bool on;
	bool drawn;
	uint64_t last_ms;
};

/* The progress bar: a vx_download_progress_fn of every mode, @arg a struct progress_bar. */
static void draw(void *arg, const struct vx_download_progress *p)
{
	struct progress_bar *bar = arg;
	char done[32], total[32], speed[32], from_src[32], from_peers[32], eta[32] = "--";
	double secs = (double)p->elapsed_ms / 1000.0, rate = 0.0;
	uint64_t fetched = p->bytes_done > p->reused ? p->bytes_done - p->reused : 0;
	unsigned int pct = 100;

	if (!bar->on)
		return;
	if (p->content_length)
		pct = (unsigned int)(p->bytes_done * 100 / p->content_length);
	if (secs > 0.0)
		rate = (double)fetched / secs;
	vx_cli_human(done, sizeof(done), (double)p->bytes_done);
	vx_cli_human(total, sizeof(total), (double)p->content_length);
	vx_cli_human(speed, sizeof(speed), rate);
	vx_cli_human(from_src, sizeof(from_src), (double)p->from_source);
	vx_cli_human(from_peers, sizeof(from_peers), (double)p->from_peers);
	if (rate > 0.0 && p->content_length > p->bytes_done)
		snprintf(eta, sizeof(eta), "%.0fs",
			 (double)(p->content_length - p->bytes_done) / rate);
	else if (p->content_length == p->bytes_done)
		snprintf(eta, sizeof(eta), "0s");
	fprintf(stderr, "\r%3u%% %s / %s  %s/s  ETA %s  pieces %u/%u  peers %s, source %s\033[K",
		pct, done, total, speed, eta, p->pieces_done, p->piece_count, from_peers, from_src);
	bar->drawn = true;
}

/* Bytes of the well-formed UTF-8 sequence at @s (RFC 3629), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07u;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0; /* overlong, beyond Unicode, or a surrogate */
	return n;
}

/*
 * Writes @s as a JSON string (quotes included), or null. JSON text is UTF-8: a byte that is
 * not part of well-formed UTF-8 (a URL may hold any) becomes U+FFFD, as a decoder would show it.
 */
static void json_str(FILE *f, const char *s)
{
	const unsigned char *c = (const unsigned char *)s;

	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	while (*c) {
		size_t n = utf8_len(c);

		if (*c == '"' || *c == '\\')
			fprintf(f, "\\%c", *c);
		else if (*c < 0x20 || *c == 0x7f)
			fprintf(f, "\\u%04x", *c);
		else if (n)
			fwrite(c, 1, n, f);
		else
			fputs("\\ufffd", f);
		c += n ? n : 1;
	}
	fputc('"', f);
}

/* --json: every failure prints one JSON object too, even one before any download began. */
static struct {
	bool on;
	const char *url, *output;
} get_json;

static int get_fail(int code, const char *fmt, ...) VX_PRINTF(2, 3);

/* Says why vx get stops (stderr, and a JSON object with --json); returns @code. */
static int get_fail(int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "vx get: %s\n", msg);
	if (get_json.on) {
		printf("{\"url\": ");
		json_str(stdout, get_json.url);
		printf(", \"output\": ");
		json_str(stdout, get_json.output);
		printf(", \"ok\": false, \"exit_code\": %d, \"error\": ", code);
		json_str(stdout, msg);
		printf("}\n");
	}
	return code;
}

static int exit_code(const struct vx_download_result *o)
{
	int rc = o->status;

	/* First: any failure caused by a time limit is reported as -ETIMEDOUT. */
	if (rc == -ETIMEDOUT)
		return GET_EXIT_TIMEOUT;
	switch (o->stage) {
	case VX_DOWNLOAD_STAGE_OUTPUT:
	case VX_DOWNLOAD_STAGE_EXPORT:
		return GET_EXIT_OUTPUT;
	case VX_DOWNLOAD_STAGE_DIGEST:
		return rc == VX_EDIGEST ? GET_EXIT_DIGEST : VX_EXIT_FAILURE;
	case VX_DOWNLOAD_STAGE_PEERS:
		return GET_EXIT_NO_PEERS;
	default:
		break;
	}
	if (o->stage == VX_DOWNLOAD_STAGE_REQUEST && rc == -EINVAL)
		return VX_EXIT_USAGE; /* bad --digest or --piece-length */
	if (rc == VX_ESOURCE_NOTFOUND ||
	    (o->stage == VX_DOWNLOAD_STAGE_SOURCE && (rc == -ENOENT || o->source_status == 404)))
		return GET_EXIT_NOT_FOUND;
	if (rc == VX_ESCHEME || rc == VX_EURL || o->stage == VX_DOWNLOAD_STAGE_SOURCE)
		return GET_EXIT_SOURCE;
	return VX_EXIT_FAILURE;
}

/* Fills @out with --data-dir or the default, creating the default's parents. */
static int data_dir(const char *given, char *out, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char parent[GET_DATA_DIR_MAX];
	int n;

	if (given) {
		n = snprintf(out, len, "%s", given);
		return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
	}
	if (xdg && xdg[0] == '/') {
		n = snprintf(parent, sizeof(parent), "%s", xdg);
	} else if (home && home[0]) {
		n = snprintf(parent, sizeof(parent), "%s/.cache", home);
	} else {
		return -ENOENT;
	}
	if (n < 0 || (size_t)n >= sizeof(parent))
		return -ENAMETOOLONG;
	if (mkdir(parent, 0700) != 0 && errno != EEXIST)
		return -errno;
	n = snprintf(out, len, "%s/vx", parent);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void print_json(const char *url, const char *output, const struct vx_download_result *o,
		       int code)
{
	const struct vx_download_progress *t = &o->totals;

	printf("{\"url\": ");
	json_str(stdout, url);
	printf(", \"output\": ");
	json_str(stdout, output);
	printf(", \"task_id\": ");
	json_str(stdout, o->task_id);
	printf(", \"ok\": %s, \"exit_code\": %d", o->status ? "false" : "true", code);
	if (o->status) {
		printf(", \"error\": ");
		json_str(stdout, o->msg);
	}
	printf(", \"reused\": %s, \"content_length\": %llu, \"piece_length\": ",
	       o->reused ? "true" : "false", (unsigned long long)t->content_length);
	if (o->piece_length || !t->piece_count)
		printf("%llu", (unsigned long long)o->piece_length);
	else
		printf("null"); /* the daemon does not say */
	printf(", \"pieces\": %u, \"bytes_from_source\": %llu, \"bytes_from_peers\": %llu, "
	       "\"bytes_reused\": %llu, \"elapsed_ms\": %llu}\n",
	       t->piece_count, (unsigned long long)t->from_source,
	       (unsigned long long)t->from_peers, (unsigned long long)t->reused,
	       (unsigned long long)t->elapsed_ms);
}

/* ---------------------------------------------------------------- Stream to stdout */

/* -O -: copies the finished prefix of the content file to stdout, in order. */
struct streamer {
	int fd;		  /* content file (dup), -1 until it arrives */
	uint64_t written; /* bytes already on stdout */
	uint64_t advised; /* end of the range asked for with POSIX_FADV_WILLNEED */
	int err;	  /* first write error (-EPIPE...) */
	bool no_sendfile; /* stdout refused sendfile(2): copy through a buffer */
};

/* One sendfile(2) round: the bytes moved, 0 when stdout cannot take it (the caller copies),
 * or -errno. */
static ssize_t stream_sendfile(struct streamer *st, uint64_t upto)
{
	for (;;) {
		off_t off = (off_t)st->written;
		ssize_t n = sendfile(STDOUT_FILENO, st->fd, &off,
				     (size_t)VX_MIN(upto - st->written, (uint64_t)1 << 30));

		if (n > 0)
			return n;
		if (n == 0)
			return -EIO; /* the content file is shorter than its finished prefix */
		if (errno == EINTR)
			continue;
		if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
			/* a terminal, a file opened with O_APPEND, ...: nothing was written */
			st->no_sendfile = true;
			return 0;
		}
		return -errno;
	}
}

static ssize_t stream_copy(struct streamer *st, uint64_t upto)
{
	char buf[1 << 16];
	size_t want = (size_t)VX_MIN((uint64_t)sizeof(buf), upto - st->written);
	ssize_t n = pread(st->fd, buf, want, (off_t)st->written);

	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)(n - off));

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += w;
	}
	return n;
}

static void stream_to(struct streamer *st, uint64_t upto)
{
	if (st->fd < 0 || st->err || st->written >= upto)
		return;
	if (upto > st->advised) {
		/* The daemon writes pieces with O_DIRECT: they are on disk, not in the page cache.
		 * Ask for the newly finished range at once, so the reads below find it in memory
		 * instead of waiting for the disk one small read at a time (issue 19). */
		(void)posix_fadvise(st->fd, (off_t)st->advised, (off_t)(upto - st->advised),
				    POSIX_FADV_WILLNEED);
		st->advised = upto;
	}
	while (!st->err && st->written < upto) {
		ssize_t n = 0;

		if (!st->no_sendfile)
			n = stream_sendfile(st, upto); /* no copy through user space */
		if (n == 0 && st->no_sendfile)
			n = stream_copy(st, upto);
		if (n < 0)
			st->err = (int)n;
		else
			st->written += (uint64_t)n;
	}
}

/* ---------------------------------------------------------------- Through the daemon */

/* -O -: the content goes to stdout (the request's output is "-"). */
static bool is_stream(const struct vx_download_request *q)
{
	return strcmp(q->output, "-") == 0;
}

struct client_run {
	struct progress_bar *bar;
	struct streamer st;
};

static void client_progress(void *arg, const struct vx_download_progress *p, int content_fd)
{
	struct client_run *r = arg;
	if (content_fd >= 0 && r->st.fd < 0)
		r->st.fd = dup(content_fd);
	stream_to(&r->st, p->contiguous);
	draw(r->bar, p);
}

static int via_daemon(const char *socket_path, bool explicit, const struct vx_download_request *q,
		      struct progress_bar *bar, struct vx_download_result *o)
{
	struct vx_download_request d = *q;
	bool stream = is_stream(q);
	struct client_run run = { .bar = bar, .st = { .fd = -1 } };
	struct vx_client *c;
	char abs_out[PATH_MAX];
	int rc;

	rc = vx_client_connect(&c, socket_path, 2000);
	if (rc) {
		if (!explicit)
			return 1; /* no daemon there: the caller goes on without one */
		o->status = rc;
		o->stage = VX_DOWNLOAD_STAGE_REQUEST;
		snprintf(o->msg, sizeof(o->msg), "cannot reach the daemon on '%s': %s", socket_path,
			 vx_strerror(rc));
		return 0;
	}
	if (!stream && q->output[0] != '/') {
		/* the daemon resolves nothing relative to our working directory */
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)) ||
		    (size_t)snprintf(abs_out, sizeof(abs_out), "%s/%s", cwd, q->output) >=
			    sizeof(abs_out)) {
			vx_client_close(c);
			o->status = -ENAMETOOLONG;
			o->stage = VX_DOWNLOAD_STAGE_OUTPUT;
			snprintf(o->msg, sizeof(o->msg), "output path too long");
			return 0;
		}
		d.output = abs_out;
	} else {
		d.output = stream ? NULL : q->output;
	}
	rc = vx_client_download(c, &d, client_progress, &run, o);
	if (rc && !o->msg[0])
		snprintf(o->msg, sizeof(o->msg), "%s", vx_client_errmsg(c));
	if (!rc && stream) {
		stream_to(&run.st, o->totals.content_length);
		if (run.st.err) {
			rc = run.st.err;
			o->stage = VX_DOWNLOAD_STAGE_EXPORT;
			snprintf(o->msg, sizeof(o->msg), "writing to stdout: %s", vx_strerror(rc));
		}
	}
	if (run.st.fd >= 0)
		close(run.st.fd);
	vx_client_close(c);
	if (rc)
		o->status = rc;
	/* the local API does not carry it: the counters say whether the store had it all */
	o->reused = o->totals.content_length && o->totals.reused == o->totals.content_length;
	return 0;
}

/* ---------------------------------------------------------------- Embedded peer */

struct peer_run {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int fd;
	uint64_t contiguous;
	struct vx_download_result res;
	struct progress_bar *bar;
};

static void peer_progress(void *arg, const struct vx_download_progress *p)
{
	struct peer_run *r = arg;
	pthread_mutex_lock(&r->lock);
	r->contiguous = p->contiguous;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	draw(r->bar, p);
}

static void peer_fd(void *arg, int fd)
{
	struct peer_run *r = arg;

	pthread_mutex_lock(&r->lock);
	if (r->fd < 0)
		r->fd = dup(fd);
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void peer_done(void *arg, const struct vx_download_result *res)
{
	struct peer_run *r = arg;

	pthread_mutex_lock(&r->lock);
	r->res = *res;
	r->done = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/* --token-file: the scheduler's join token for the embedded peer (else $VX_TOKEN_FILE). */
static const char *get_token_file;

static int via_peer(const char *dir, const char *listen, const char *const *schedulers,
		    uint32_t nr_schedulers, const struct vx_download_request *q,
		    struct progress_bar *bar, struct vx_download_result *o)
{
	static const struct vx_peer_job_ops ops = {
		.progress = peer_progress,
		.content_fd = peer_fd,
		.done = peer_done,
	};
	struct vx_peer_cfg pc = { 0 };
	struct vx_download_request rq = *q;
	bool stream = is_stream(q);
	struct peer_run run = { .fd = -1, .bar = bar };
	struct streamer st = { .fd = -1 };
	struct vx_peer *peer;
	char err[512], token[VX_SCHED_TOKEN_MAX + 1] = "";
	int rc;

	pc.data_dir = dir;
	pc.listen = listen ? listen : "0.0.0.0:0";
	for (uint32_t i = 0; i < nr_schedulers; i++)
		pc.schedulers[i] = schedulers[i];
	pc.nr_schedulers = nr_schedulers;
	if (nr_schedulers) {
		const char *path = get_token_file ? get_token_file : getenv("VX_TOKEN_FILE");

		if (path && *path && vx_sched_token_read(path, token, err, sizeof(err))) {
			o->status = -EINVAL;
			o->stage = VX_DOWNLOAD_STAGE_STORE;
			snprintf(o->msg, sizeof(o->msg), "%s", err);
			return 0;
		}
		pc.token = token[0] ? token : NULL;
	}
	rc = vx_peer_new(&peer, &pc, err, sizeof(err));
	if (rc) {
		o->status = rc;
		o->stage = VX_DOWNLOAD_STAGE_STORE;
		snprintf(o->msg, sizeof(o->msg), "cannot start the embedded peer: %s", err);
		return 0;
	}
	pthread_mutex_init(&run.lock, NULL);
	pthread_cond_init(&run.cond, NULL);
	rq.output = stream ? NULL : q->output;
	rc = vx_peer_download(peer, &rq, &ops, &run, NULL);
	if (rc) {
		run.done = true;
		run.res.status = rc;
		snprintf(run.res.msg, sizeof(run.res.msg), "cannot start: %s", vx_strerror(rc));
	}
	pthread_mutex_lock(&run.lock);
	for (;;) {
		uint64_t upto = run.contiguous;
		bool done = run.done;

		if (st.fd < 0 && run.fd >= 0) {
			st.fd = run.fd;
			run.fd = -1;
		}
		pthread_mutex_unlock(&run.lock);
		if (stream)
			stream_to(&st,
				  done && !run.res.status ? run.res.totals.content_length : upto);
		pthread_mutex_lock(&run.lock);
		if (done)
			break;
		if (run.contiguous == upto && !run.done && run.fd < 0)
			pthread_cond_wait(&run.cond, &run.lock);
	}
	pthread_mutex_unlock(&run.lock);
	/* the peer leaves the swarm before we return: our children move on */
	vx_peer_free(peer);
	if (run.fd >= 0)
		close(run.fd);
	if (st.fd >= 0)
		close(st.fd);
	if (!run.res.status && st.err) {
		run.res.status = st.err;
		run.res.stage = VX_DOWNLOAD_STAGE_EXPORT;
		snprintf(run.res.msg, sizeof(run.res.msg), "writing to stdout: %s",
			 vx_strerror(st.err));
	}
	*o = run.res;
	pthread_cond_destroy(&run.cond);
	pthread_mutex_destroy(&run.lock);
	return 0;
}

/* ---------------------------------------------------------------- From the source only */

static void via_origin(const char *dir, const struct vx_download_request *q,
		       struct progress_bar *bar, struct vx_download_result *o)
{
	const struct vx_origin_opts opts = { .progress = draw, .arg = bar };
	struct vx_source_ctx *src = NULL;
	struct vx_store *store = NULL;
	struct vx_store_cfg cfg;
	int rc;

	vx_store_cfg_init(&cfg);
	cfg.dir = dir;
	rc = vx_store_open(&store, &cfg);
	if (rc) {
		o->status = rc;
		o->stage = VX_DOWNLOAD_STAGE_STORE;
		snprintf(o->msg, sizeof(o->msg), "cannot open the store in '%.400s': %s", dir,
			 vx_strerror(rc));
		return;
	}
	rc = vx_source_ctx_new(&src, NULL);
	if (rc) {
		o->status = rc;
		o->stage = VX_DOWNLOAD_STAGE_SOURCE;
		snprintf(o->msg, sizeof(o->msg), "cannot start the source layer: %s",
			 vx_strerror(rc));
		vx_store_close(store);
		return;
	}
	o->status = vx_origin_download(store, src, q, &opts, o);
	vx_source_ctx_free(src);
	vx_store_close(store);
}

/* How this invocation downloads: through a daemon, an embedded peer, or the back-to-source driver. */
struct get_mode {
	const char *socket; /* --socket, or NULL */
	const char *const *schedulers;
	uint32_t nr_schedulers;
	const char *listen;
	const char *dir_opt;
	bool no_daemon; /* the default socket did not answer once: do not ask again */
};

/*
 * Downloads @q in the mode @m says, into @o. Returns 0, or an exit code when the run cannot
 * even start (no data directory).
 */
static int get_one(struct get_mode *m, const struct vx_download_request *q,
		   struct progress_bar *bar, struct vx_download_result *o)
{
	char dir[GET_DATA_DIR_MAX];
	int rc = 1;

	memset(o, 0, sizeof(*o));
	if (!m->nr_schedulers && !m->no_daemon) {
		const char *env = getenv("VX_SOCKET");
		const char *path = m->socket ? m->socket : env && *env ? env : GET_SOCKET_DEFAULT;

		rc = via_daemon(path, m->socket != NULL, q, bar, o);
		m->no_daemon = rc != 0;
	}
	if (!rc)
		return 0;
	rc = data_dir(m->dir_opt, dir, sizeof(dir));
	if (rc) {
		return get_fail(VX_EXIT_FAILURE, "no data directory (give --data-dir): %s",
				vx_strerror(rc));
	}
	if (!m->nr_schedulers && !q->disable_back_to_source)
		fprintf(stderr, "vx get: no daemon, no scheduler: downloading from the source\n");
	if (q->memory)
		fprintf(stderr, "vx get: --memory: no daemon to keep it in memory\n");
	if (m->nr_schedulers || is_stream(q) || q->disable_back_to_source)
		via_peer(dir, m->listen, m->schedulers, m->nr_schedulers, q, bar, o);
	else
		via_origin(dir, q, bar, o);
	return 0;
}

/* -r: the files of a listing, as (absolute URL, relative name) pairs. */
struct get_list {
	char **urls, **names;
	char **digests; /* what the listing vouches for, or NULL */
	uint32_t nr, cap;
	const char *const *include;
	uint32_t nr_include;
};

#define GET_RECURSIVE_MAX   100000u /* files of one -r download */
#define GET_RECURSIVE_DEPTH 32u	    /* directory levels followed */
#define GET_JOBS_MAX	    64u	    /* -r files at once (--jobs) */

/* A relative name is safe when it cannot leave the output directory. */
static bool name_safe(const char *name)
{
	const char *p = name;

	if (!*name || *name == '/')
		return false;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += len;
		if (*p == '/')
			p++;
	}
	return true;
}

static bool included(const struct get_list *l, const char *name)
{
	const char *base = strrchr(name, '/');

	if (!l->nr_include)
		return true;
	base = base ? base + 1 : name;
	for (uint32_t i = 0; i < l->nr_include; i++) {
		if (fnmatch(l->include[i], name, 0) == 0 || fnmatch(l->include[i], base, 0) == 0)
			return true;
	}
	return false;
}

static int list_add(struct get_list *l, const char *url, const char *name, const char *digest)
{
	if (l->nr == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 64;
		char **u = realloc(l->urls, cap * sizeof(*u)), **n, **d;

		if (!u)
			return -ENOMEM;
		l->urls = u;
		n = realloc(l->names, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		l->names = n;
		d = realloc(l->digests, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		l->digests = d;
		l->cap = cap;
	}
	l->urls[l->nr] = strdup(url);
	l->names[l->nr] = strdup(name);
	l->digests[l->nr] = digest ? strdup(digest) : NULL;
	if (!l->urls[l->nr] || !l->names[l->nr] || (digest && !l->digests[l->nr])) {
		free(l->urls[l->nr]);
		free(l->names[l->nr]);
		free(l->digests[l->nr]);
		return -ENOMEM;
	}
	l->nr++;
	return 0;
}

struct list_walk {
	struct get_list *l;
	struct vx_source_ctx *src;
	const struct vx_source_opts *opts;
	const char *prefix; /* relative path of the directory being listed ("" at the top) */
	uint32_t depth;
};

static int on_entry(void *arg, const struct vx_source_entry *e);

static int list_dir(struct list_walk *w, const char *url, struct vx_source_error *detail)
{
	return vx_source_list(w->src, url, w->opts, on_entry, w, detail);
}

static int on_entry(void *arg, const struct vx_source_entry *e)
{
	struct list_walk *w = arg;
	char name[4096];
	int n = snprintf(name, sizeof(name), "%s%s%s", w->prefix, *w->prefix ? "/" : "", e->name);

	if (n < 0 || (size_t)n >= sizeof(name))
		return -ENAMETOOLONG;
	if (!name_safe(name)) {
		fprintf(stderr, "vx get: skipping '%s': not a plain relative path\n", name);
		return 0;
	}
	if (e->is_dir) {
		struct list_walk sub = *w;
		struct vx_source_error detail;

		if (w->depth + 1 >= GET_RECURSIVE_DEPTH)
			return -ELOOP;
		sub.prefix = name;
		sub.depth = w->depth + 1;
		return list_dir(&sub, e->url, &detail);
	}
	if (!included(w->l, name))
		return 0;
	if (w->l->nr >= GET_RECURSIVE_MAX)
		return -E2BIG;
	return list_add(w->l, e->url, name, e->digest);
}

/* Creates the parent directories of @path (below the output directory). */
static int make_parents(char *path)
{
	for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			int rc = -errno;

			*p = '/';
			return rc;
		}
		*p = '/';
	}
	return 0;
}

/* One file of a -r download: where it goes and how it went. */
struct recursive_file {
	char *out;		     /* DIR/<relative path>, or NULL when no place could be made */
	bool placed;		     /* @out and its parent directories exist */
	bool skipped;		     /* never tried: an earlier file could not even start */
	int rc;			     /* get_one's: an exit code when the run could not start */
	struct vx_download_result o; /* the download's result */
};

/* The -r download's shared state: the files, and the next one a worker takes. */
struct recursive_run {
	struct get_mode *m;
	const struct vx_download_request *q0;
	const struct get_list *l;
	struct recursive_file *res;
	const char *socket; /* the daemon the first file went through */
	pthread_mutex_t lock;
	uint32_t next;
};

/* Makes file @i's output path and its parents and fills the request @q for it. */
static void recursive_prepare(const struct recursive_run *rr, uint32_t i,
			      struct vx_download_request *q)
{
	struct recursive_file *r = &rr->res[i];
	size_t len = strlen(rr->q0->output) + strlen(rr->l->names[i]) + 2;

	*q = *rr->q0;
	r->out = malloc(len);
	if (!r->out)
		return;
	snprintf(r->out, len, "%s/%s", rr->q0->output, rr->l->names[i]);
	if (len > PATH_MAX || make_parents(r->out) != 0)
		return;
	r->placed = true;
	q->url = rr->l->urls[i];
	q->output = r->out;
	if (!q->digest)
		q->digest = rr->l->digests[i]; /* a hub's sha256 of the file, checked on arrival */
}

/* A worker of a parallel -r: takes the next file until none is left, each through the daemon. */
static void *recursive_worker(void *arg)
{
	struct recursive_run *rr = arg;

	for (;;) {
		struct progress_bar quiet = { 0 };
		struct vx_download_request q;
		uint32_t i;

		pthread_mutex_lock(&rr->lock);
		i = rr->next < rr->l->nr ? rr->next++ : UINT32_MAX;
		pthread_mutex_unlock(&rr->lock);
		if (i == UINT32_MAX)
			return NULL;
		rr->res[i].skipped = false;
		recursive_prepare(rr, i, &q);
		if (rr->res[i].placed)
			(void)via_daemon(rr->socket, true, &q, &quiet, &rr->res[i].o);
	}
}

/*
 * Downloads every file of @l into @res (in the listing's order). One after the other; with
 * @jobs > 1 and a daemon (the first file went through one), the rest with @jobs at once, each
 * its own request to the daemon (issue 19 goal 7: a small file's fixed costs overlap, as curl
 * --parallel's). A file that cannot even start (its rc, an exit code) ends it.
 */
static void recursive_fetch(struct get_mode *m, const struct vx_download_request *q0,
			    const struct get_list *l, uint32_t jobs, struct progress_bar *bar,
			    struct recursive_file *res)
{
	struct recursive_run rr = { .m = m, .q0 = q0, .l = l, .res = res };
	pthread_t th[GET_JOBS_MAX];
	uint32_t i, nr = 0;

	for (i = 0; i < l->nr; i++)
		res[i].skipped = true;
	for (i = 0; i < l->nr; i++) {
		struct vx_download_request q;
		struct recursive_file *r = &res[i];
		const char *env = getenv("VX_SOCKET");

		if (jobs > 1 && rr.socket)
			break; /* one went through the daemon: the rest in parallel */
		r->skipped = false;
		recursive_prepare(&rr, i, &q);
		if (!r->placed)
			continue;
		r->rc = get_one(m, &q, bar, &r->o);
		if (r->rc)
			return;
		if (bar->drawn) {
			fputc('\n', stderr);
			bar->drawn = false;
		}
		if (!m->nr_schedulers && !m->no_daemon)
			rr.socket = m->socket ? m->socket : env && *env ? env : GET_SOCKET_DEFAULT;
	}
	if (i == l->nr)
		return;
	rr.next = i;
	pthread_mutex_init(&rr.lock, NULL);
	for (nr = 0; nr < jobs && nr < l->nr - i; nr++)
		if (pthread_create(&th[nr], NULL, recursive_worker, &rr) != 0)
			break;
	if (!nr)
		recursive_worker(&rr); /* no thread: this one does them all */
	for (uint32_t k = 0; k < nr; k++)
		pthread_join(th[k], NULL);
	pthread_mutex_destroy(&rr.lock);
}

/*
 * vx get -r URL -O DIR: every file under URL (file, ftp, s3, hdfs, oci, hub, http listings), filtered
 * by --include-files, to DIR/<relative path>, one download after the other through the same
 * mode. The exit code is the first failure's (0 when every file arrived).
 */
static int get_recursive(struct get_mode *m, const struct vx_download_request *q0,
			 const char *const *include, uint32_t nr_include, uint32_t jobs,
			 struct progress_bar *bar, bool json)
{
	struct recursive_file *res = NULL;
	struct get_list l = { .include = include, .nr_include = nr_include };
	struct vx_source_opts opts = { 0 };
	struct vx_source_error detail = { 0 };
	struct vx_source_ctx *src = NULL;
	struct list_walk w = { .l = &l, .prefix = "" };
	struct stat st;
	int rc, code = VX_EXIT_OK;
	uint32_t ok = 0;

	if (is_stream(q0)) {
		return get_fail(VX_EXIT_USAGE, "-r needs -O DIRECTORY, not -");
	}
	if (stat(q0->output, &st) == 0 ? !S_ISDIR(st.st_mode) : mkdir(q0->output, 0755) != 0) {
		return get_fail(GET_EXIT_OUTPUT, "-O '%s' is not a directory that can be used",
				q0->output);
	}
	rc = vx_source_ctx_new(&src, NULL);
	if (rc) {
		return get_fail(VX_EXIT_FAILURE, "cannot start the source layer: %s",
				vx_strerror(rc));
	}
	opts.headers = q0->headers;
	opts.nr_headers = q0->nr_headers;
	w.src = src;
	w.opts = &opts;
	rc = list_dir(&w, q0->url, &detail);
	vx_source_ctx_free(src);
	if (rc) {
		struct vx_download_result o = { .status = rc, .stage = VX_DOWNLOAD_STAGE_SOURCE };

		fprintf(stderr, "vx get: cannot list '%s': %s%s%s\n", VX_URL_SAFE(q0->url),
			vx_strerror(rc), detail.msg[0] ? ": " : "", detail.msg);
		o.source_status = detail.status > 0 ? (uint32_t)detail.status : 0;
		code = exit_code(&o);
		goto out;
	}
	if (!l.nr)
		fprintf(stderr, "vx get: nothing to download under '%s'%s\n", VX_URL_SAFE(q0->url),
			nr_include ? " that --include-files matches" : "");
	res = calloc(l.nr ? l.nr : 1, sizeof(*res));
	if (!res) {
		code = get_fail(VX_EXIT_FAILURE, "out of memory for %u results", l.nr);
		goto out;
	}
	recursive_fetch(m, q0, &l, jobs, bar, res);
	for (uint32_t i = 0; i < l.nr; i++) {
		struct recursive_file *r = &res[i];
		int c;

		if (r->skipped)
			break; /* after a failure to start: the sequential loop stopped there */
		if (!r->placed) {
			fprintf(stderr, "vx get: cannot make a place for '%s'\n", l.names[i]);
			code = code ? code : GET_EXIT_OUTPUT;
			continue;
		}
		if (r->rc) {
			code = r->rc;
			break;
		}
		c = r->o.status ? exit_code(&r->o) : VX_EXIT_OK;
		if (r->o.status)
			fprintf(stderr, "vx get: %s: %s\n", l.names[i],
				r->o.msg[0] ? r->o.msg : vx_strerror(r->o.status));
		else
			ok++;
		if (json)
			print_json(l.urls[i], r->out, &r->o, c);
		if (c && !code)
			code = c;
	}
	fprintf(stderr, "vx get: %u of %u files downloaded to %s\n", ok, l.nr, q0->output);
out:
	for (uint32_t i = 0; res && i < l.nr; i++)
		free(res[i].out);
	free(res);
	for (uint32_t i = 0; i < l.nr; i++) {
		free(l.urls[i]);
		free(l.names[i]);
		free(l.digests[i]);
	}
	free(l.urls);
	free(l.names);
	free(l.digests);
	return code;
}

/* Splits "a,b" into @out (pointers into @buf, which is overwritten). */
static int split_list(char *buf, const char **out, uint32_t max, uint32_t *n)
{
	char *save = NULL;

	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == max)
			return -E2BIG;
		out[(*n)++] = tok;
	}
	return 0;
}

static int run_get(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'O' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "header", required_argument, NULL, 'H' },
		{ "digest", required_argument, NULL, 'D' },
		{ "tag", required_argument, NULL, 't' },
		{ "application", required_argument, NULL, 'a' },
		{ "piece-length", required_argument, NULL, 'p' },
		{ "filtered-query-param", required_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "overwrite", no_argument, NULL, 'w' },
		{ "no-progress", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "scheduler", required_argument, NULL, 'S' },
		{ "token-file", required_argument, NULL, 'K' },
		{ "listen", required_argument, NULL, 'L' },
		{ "disable-back-to-source", no_argument, NULL, 'B' },
		{ "memory", no_argument, NULL, 'M' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "log-format", required_argument, NULL, 'F' },
		{ "recursive", no_argument, NULL, 'r' },
		{ "include-files", required_argument, NULL, 'i' },
		{ "jobs", required_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *headers[GET_HEADERS_MAX], *filters[GET_FILTERS_MAX];
	const char *schedulers[GET_SCHEDULERS_MAX], *include[GET_FILTERS_MAX];
	uint32_t nr_include = 0, jobs = 1;
	bool recursive = false;
	struct get_mode mode = { 0 };
	struct vx_download_request q = { 0 };
	char request_id[VX_REQUEST_ID_MAX + 1];
	struct vx_download_result o = { 0 };
	struct progress_bar bar = { 0 };
	const char *dir_opt = NULL, *socket_opt = NULL, *listen = NULL;
	char sched_buf[1024];
	uint32_t nr_schedulers = 0;
	bool no_progress = false, json = false;
	uint64_t timeout_ms = 0;
	int c, rc, code;
	vx_log_set_room("get");

	optind = 1;
	opterr = 0;
	vx_log_set_level(VX_LOG_WARN);
	/* --json first: an error in an option before it is reported in JSON too */
	memset(&get_json, 0, sizeof(get_json));
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		get_json.on |= strcmp(argv[i], "--json") == 0;
	while ((c = getopt_long(argc, argv, "O:H:hr", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			recursive = true;
			break;
		case 'J': {
			uint64_t v;

			if (vx_args_parse_u64(optarg, &v) != 0 || v < 1 || v > GET_JOBS_MAX) {
				return get_fail(VX_EXIT_USAGE, "--jobs: '%s' is not 1 to %u",
						optarg, GET_JOBS_MAX);
			}
			jobs = (uint32_t)v;
			break;
		}
		case 'i':
			if (nr_include == GET_FILTERS_MAX) {
				return get_fail(VX_EXIT_USAGE, "at most %d --include-files options",
						GET_FILTERS_MAX);
			}
			include[nr_include++] = optarg;
			break;
		case 'O':
			q.output = optarg;
			break;
		case 'd':
			dir_opt = optarg;
			break;
		case 'H':
			if (q.nr_headers == GET_HEADERS_MAX) {
				return get_fail(VX_EXIT_USAGE, "at most %d --header options",
						GET_HEADERS_MAX);
			}
			if (!strchr(optarg, ':')) {
				return get_fail(VX_EXIT_USAGE, "--header '%s' is not 'Name: value'",
						optarg);
			}
			headers[q.nr_headers++] = optarg;
			break;
		case 'D':
			q.digest = optarg;
			break;
		case 't':
			q.tag = optarg;
			break;
		case 'a':
			q.application = optarg;
			break;
		case 'p':
			if (vx_args_parse_size(optarg, &q.piece_length) != 0 ||
			    q.piece_length == 0) {
				return get_fail(VX_EXIT_USAGE, "--piece-length: '%s' is not a size",
						optarg);
			}
			break;
		case 'f':
			if (q.nr_filtered_params == GET_FILTERS_MAX) {
				return get_fail(VX_EXIT_USAGE,
						"at most %d --filtered-query-param options",
						GET_FILTERS_MAX);
			}
			filters[q.nr_filtered_params++] = optarg;
			break;
		case 'T':
			if (vx_args_parse_duration_ms(optarg, &timeout_ms) != 0 ||
			    timeout_ms > UINT32_MAX) {
				return get_fail(VX_EXIT_USAGE, "--timeout: '%s' is not a duration",
						optarg);
			}
			q.timeout_ms = (uint32_t)timeout_ms;
			break;
		case 'w':
			q.overwrite = true;
			break;
		case 'n':
			no_progress = true;
			break;
		case 'j':
			json = true;
			break;
		case 's':
			socket_opt = optarg;
			break;
		case 'K':
			get_token_file = optarg;
			break;
		case 'S':
			if (strlen(optarg) >= sizeof(sched_buf)) {
				return get_fail(VX_EXIT_USAGE, "--scheduler list too long");
			}
			snprintf(sched_buf, sizeof(sched_buf), "%s", optarg);
			nr_schedulers = 0;
			if (split_list(sched_buf, schedulers, GET_SCHEDULERS_MAX, &nr_schedulers) ||
			    !nr_schedulers) {
				return get_fail(VX_EXIT_USAGE,
						"--scheduler wants HOST:PORT[,HOST:PORT...] "
						"(at most %d)",
						GET_SCHEDULERS_MAX);
			}
			break;
		case 'L':
			listen = optarg;
			break;
		case 'B':
			q.disable_back_to_source = true;
			break;
		case 'M':
			q.memory = true;
			break;
		case 'v':
			if (vx_log_set_level_name(optarg) != 0) {
				return get_fail(VX_EXIT_USAGE, "unknown log level '%s'", optarg);
			}
			break;
		case 'F':
			if (vx_log_set_format_name(optarg) != 0)
				return get_fail(VX_EXIT_USAGE, "--log-format: text or json");
			break;
		case 'h':
			usage(stdout);
			return VX_EXIT_OK;
		default:
			usage(stderr);
			return get_fail(VX_EXIT_USAGE, "unknown or incomplete option '%s'",
					argv[optind - 1]);
		}
	}
	if (argc - optind != 1 || !q.output) {
		usage(stderr);
		return get_fail(VX_EXIT_USAGE, "give one URL and -O FILE");
	}
	if (socket_opt && nr_schedulers) {
		return get_fail(VX_EXIT_USAGE, "give --socket or --scheduler, not both");
	}
	q.url = argv[optind];
	get_json.url = q.url;
	get_json.output = q.output;
	{
		/* a malformed URL says what is wrong (a port 0 is not an unknown scheme) */
		struct vx_source_url u;

		if (vx_source_url_parse(&u, q.url, strlen(q.url)) != 0)
			return get_fail(GET_EXIT_SOURCE, "invalid URL '%s': %s", q.url, u.why);
	}
	q.headers = q.nr_headers ? headers : NULL;
	q.filtered_params = q.nr_filtered_params ? filters : NULL;
	if (is_stream(&q) && json) {
		return get_fail(VX_EXIT_USAGE, "-O - and --json both want stdout");
	}
	bar.on = !no_progress && !json && isatty(STDERR_FILENO);
	signal(SIGPIPE, SIG_IGN);

	mode.socket = socket_opt;
	mode.schedulers = schedulers;
	mode.nr_schedulers = nr_schedulers;
	mode.listen = listen;
	mode.dir_opt = dir_opt;
	/* one id joins this run's lines to the daemon's and the scheduler's (--log-format json) */
	vx_request_id_new(request_id);
	q.request_id = request_id;
	vx_log_set_request_id(request_id);
	vx_info("get: %s -> %s", VX_URL_SAFE(q.url), q.output ? q.output : "(stdout)");
	if (jobs > 1 && !recursive)
		return get_fail(VX_EXIT_USAGE, "--jobs is for -r");
	if (recursive)
		return get_recursive(&mode, &q, include, nr_include, jobs, &bar, json);
	rc = get_one(&mode, &q, &bar, &o);
	if (rc)
		return rc;
	vx_info("get: done: status %d, %" PRIu64 " bytes from peers, %" PRIu64 " from the source",
		o.status, o.totals.from_peers, o.totals.from_source);
	if (bar.drawn)
		fputc('\n', stderr);
	code = o.status ? exit_code(&o) : VX_EXIT_OK;
	if (o.status)
		fprintf(stderr, "vx get: %s\n", o.msg[0] ? o.msg : vx_strerror(o.status));
	if (json)
		print_json(q.url, q.output, &o, code);
	return code;
}

const struct vx_command vx_command_get = {
	.name = "get",
	.summary = "download a URL to a file (from peers through a daemon or scheduler, or the "
		   "source)",
	.run = run_get,
};
