/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_fetch.c: the smallest libvx program. It asks the local vx daemon to download a URL, to a
 * file or (with "-") to stdout in stream mode, printing progress on stderr.
 *
 *   cc vx_fetch.c $(pkg-config --static --cflags --libs libvx) -o vx_fetch
 *   vx_fetch /run/vx/vx.sock https://example.com/a.tar /tmp/a.tar
 *   vx_fetch /run/vx/vx.sock https://example.com/a.tar - > a.tar
 *
 * Exit status: 0 done, 1 the download or the daemon failed, 2 bad arguments.
 */
#define _POSIX_C_SOURCE 200809L /* pread() under -std=c11 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <vx_client.h>
#include <vx_err.h>

struct fetch_stream {
	uint64_t written; /* bytes of the content already on stdout */
	int err;	  /* first write error, 0 none */
};

/* Stream mode: copy the newly finished prefix [written, contiguous) to stdout, in order. */
static void fetch_drain(struct fetch_stream *s, int fd, uint64_t contiguous)
{
	char buf[65536];

	while (!s->err && fd >= 0 && s->written < contiguous) {
		size_t want = contiguous - s->written < sizeof(buf)
				      ? (size_t)(contiguous - s->written)
				      : sizeof(buf);
		ssize_t n = pread(fd, buf, want, (off_t)s->written);

		if (n <= 0) {
			s->err = n == 0 ? EIO : errno;
			return;
		}
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
			s->err = EIO;
			return;
		}
		s->written += (uint64_t)n;
	}
}

static void on_progress(void *arg, const struct vx_download_progress *p, int content_fd)
{
	struct fetch_stream *s = arg;

	fprintf(stderr, "\rvx_fetch: %" PRIu64 "/%" PRIu64 " bytes, %u/%u pieces", p->bytes_done,
		p->content_length, p->pieces_done, p->piece_count);
	if (s)
		fetch_drain(s, content_fd, p->contiguous);
}

int main(int argc, char **argv)
{
	struct vx_download_request req = { 0 };
	struct vx_download_result res;
	struct fetch_stream stream = { 0 };
	struct vx_client *c;
	bool to_stdout;
	int rc;

	if (argc != 4) {
		fprintf(stderr, "usage: vx_fetch SOCKET URL OUTPUT|-\n");
		return 2;
	}
	to_stdout = strcmp(argv[3], "-") == 0;
	if (!to_stdout && argv[3][0] != '/') {
		fprintf(stderr, "vx_fetch: OUTPUT must be an absolute path or -\n");
		return 2;
	}
	rc = vx_client_connect(&c, argv[1], 5000);
	if (rc) {
		fprintf(stderr, "vx_fetch: cannot connect to the daemon at %s: %s\n", argv[1],
			vx_strerror(rc));
		return 1;
	}
	req.url = argv[2];
	req.output = to_stdout ? NULL : argv[3];
	rc = vx_client_download(c, &req, on_progress, to_stdout ? &stream : NULL, &res);
	fprintf(stderr, "\n");
	vx_client_close(c);
	if (rc) {
		fprintf(stderr, "vx_fetch: %s (%s)\n", res.msg, vx_strerror(rc));
		return 1;
	}
	if (stream.err || (to_stdout && stream.written != res.totals.content_length)) {
		fprintf(stderr, "vx_fetch: stdout: %s\n", strerror(stream.err ? stream.err : EIO));
		return 1;
	}
	fprintf(stderr, "vx_fetch: task %s done\n", res.task_id);
	return 0;
}
