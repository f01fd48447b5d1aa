/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_fake_daemon.c: the real local API server (peer/src/api.c) in front of a fake daemon whose
 * every download "fetches" one local file. Lets shell tests drive libvx programs (the installed
 * sdk/examples/vx_fetch) end to end without the rest of the peer.
 *
 *   api_fake_daemon SOCKET CONTENT_FILE
 *
 * Prints "ready" on stdout once the socket is served and stops when stdin closes. A download
 * with an output path gets a copy of CONTENT_FILE there; one in stream mode gets a read-only
 * descriptor of it, with `contiguous` growing in four steps.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_api.h"
#include "vx_err.h"

#define FAKE_TASK "feedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeed"

struct fake_job {
	struct vx_api_call *call;
	const char *content;
	char output[4097];
	bool stream;
};

static const char *fake_content;

static void fake_counters(struct vx_download_progress *p, uint64_t done, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->task_id, FAKE_TASK, sizeof(FAKE_TASK));
	p->content_length = total;
	p->bytes_done = done;
	p->from_source = done;
	p->contiguous = done;
	p->piece_count = 4;
	p->pieces_done = total ? (uint32_t)(done * 4 / total) : 4;
}

static int fake_copy(int in, const char *path, uint64_t len)
{
	char buf[65536];
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	uint64_t off = 0;

	if (out == -1)
		return -errno;
	while (off < len) {
		ssize_t n = pread(in, buf, sizeof(buf), (off_t)off);

		if (n <= 0 || write(out, buf, (size_t)n) != n) {
			close(out);
			return -EIO;
		}
		off += (uint64_t)n;
	}
	return close(out) == -1 ? -errno : 0;
}

static void *fake_run(void *arg)
{
	struct fake_job *j = arg;
	struct vx_download_progress p;
	struct vx_download_result r;
	struct stat st;
	int fd = open(j->content, O_RDONLY | O_CLOEXEC);

	memset(&r, 0, sizeof(r));
	if (fd == -1 || fstat(fd, &st) == -1) {
		r.status = -errno;
		snprintf(r.msg, sizeof(r.msg), "cannot open the content: %s",
			 vx_strerror(r.status));
		goto done;
	}
	if (j->stream)
		vx_api_call_send_fd(j->call, fd);
	for (uint64_t q = 1; q <= 4; q++) {
		fake_counters(&p, (uint64_t)st.st_size * q / 4, (uint64_t)st.st_size);
		vx_api_call_progress(j->call, &p);
	}
	if (!j->stream)
		r.status = fake_copy(fd, j->output, (uint64_t)st.st_size);
	memcpy(r.task_id, FAKE_TASK, sizeof(FAKE_TASK));
	r.stage = 6;
	r.source_status = 200;
	fake_counters(&r.totals, (uint64_t)st.st_size, (uint64_t)st.st_size);
done:
	if (fd >= 0)
		close(fd);
	vx_api_call_done(j->call, &r);
	vx_free(j);
	return NULL;
}

static void fake_download(void *ctx, struct vx_api_call *call, const struct vx_download_request *r)
{
	struct fake_job *j = vx_calloc(1, sizeof(*j));
	struct vx_download_result res = { .status = -ENOMEM };
	pthread_t t;

	(void)ctx;
	if (!j) {
		vx_api_call_done(call, &res);
		return;
	}
	j->call = call;
	j->content = fake_content;
	j->stream = r->output == NULL;
	if (r->output)
		snprintf(j->output, sizeof(j->output), "%s", r->output);
	if (pthread_create(&t, NULL, fake_run, j)) {
		vx_free(j);
		vx_api_call_done(call, &res);
		return;
	}
	pthread_detach(t);
}

static void fake_cancel(void *ctx, struct vx_api_call *call)
{
	(void)ctx;
	(void)call; /* the jobs are short; they end by themselves */
}

static int fake_stat(void *ctx, const char *task_id, struct vx_download_task *out)
{
	(void)ctx;
	(void)task_id;
	(void)out;
	return -ENOENT;
}

static uint32_t fake_list(void *ctx, struct vx_download_task *out, uint32_t max)
{
	(void)ctx;
	(void)out;
	(void)max;
	return 0;
}

static int fake_remove(void *ctx, const char *task_id)
{
	(void)ctx;
	(void)task_id;
	return -ENOENT;
}

int main(int argc, char **argv)
{
	static const struct vx_api_ops ops = {
		.download = fake_download,
		.cancel = fake_cancel,
		.stat = fake_stat,
		.list = fake_list,
		.remove = fake_remove,
	};
	struct vx_api_server_cfg cfg = { .ops = &ops };
	struct vx_api_server *srv;
	char b;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: api_fake_daemon SOCKET CONTENT_FILE\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	fake_content = argv[2];
	cfg.socket_path = argv[1];
	rc = vx_api_server_new(&srv, &cfg);
	if (rc) {
		fprintf(stderr, "api_fake_daemon: %s\n", vx_strerror(rc));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (read(0, &b, 1) > 0)
		;
	vx_api_server_free(srv);
	return 0;
}
