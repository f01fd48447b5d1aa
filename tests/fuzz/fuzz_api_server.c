/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_api_server.c: the local API server's request path, driven by an arbitrary byte stream
 * from one client. A detached server (api_int.h) runs the production code (vx_fconn input and
 * output, vortex's control reader and codec, request checks, the daemon's ops, answers,
 * coalesced progress, descriptor passing, cancel on close) on this thread; the transport is a
 * fake that hands the input out in chunks and takes the output in pieces, sometimes refusing
 * (EAGAIN), all derived from the input, so every run is deterministic. The daemon's ops are a
 * fake too: a download answers at once, reports progress (with a descriptor) and then answers,
 * or stays held until the client goes away, depending on its URL.
 *
 * Input: the client's byte stream. The chunking comes from a PRNG seeded by the input size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_int.h"
#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_TASK	  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FZ_ROUNDS 4096 /* readiness rounds per input; the stream always ends earlier */

struct fz_io {
	const uint8_t *data;
	size_t size, off;
	uint64_t rng;
	size_t sent; /* bytes the server wrote */
};

struct fz_daemon {
	struct vx_api_call *held; /* a download the fake daemon keeps until cancel */
	int fd;			  /* a read-only descriptor to pass in stream mode */
};

static uint64_t fz_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static ssize_t fz_recv(void *arg, void *buf, size_t len)
{
	struct fz_io *io = arg;
	size_t n;

	if (io->off == io->size)
		return 0; /* the client closes after its last byte */
	if (fz_next(&io->rng) % 8 == 0)
		return -EAGAIN;
	n = 1 + (size_t)(fz_next(&io->rng) % 512);
	n = n < len ? n : len;
	n = n < io->size - io->off ? n : io->size - io->off;
	memcpy(buf, io->data + io->off, n);
	io->off += n;
	return (ssize_t)n;
}

static ssize_t fz_send(void *arg, const void *buf, size_t len, int fd)
{
	struct fz_io *io = arg;
	size_t n;

	(void)buf;
	(void)fd; /* the connection keeps its descriptor and closes it once sent */
	if (fz_next(&io->rng) % 4 == 0)
		return -EAGAIN;
	n = 1 + (size_t)(fz_next(&io->rng) % 4096);
	n = n < len ? n : len;
	io->sent += n;
	return (ssize_t)n;
}

static const struct vx_fconn_io fz_io_ops = { .recv = fz_recv, .send = fz_send };

static void fz_progress(struct vx_api_call *call, uint64_t done)
{
	struct vx_download_progress p = { .content_length = 4096, .bytes_done = done };

	memcpy(p.task_id, FZ_TASK, sizeof(p.task_id));
	p.piece_count = 1;
	p.contiguous = done;
	vx_api_call_progress(call, &p);
}

static void fz_download(void *ctx, struct vx_api_call *call, const struct vx_download_request *r)
{
	struct fz_daemon *d = ctx;
	struct vx_download_result res = { .stage = VX_DOWNLOAD_STAGE_DONE };
	size_t n = strlen(r->url);

	memcpy(res.task_id, FZ_TASK, sizeof(res.task_id));
	switch (n % 4) {
	case 0: /* held until the client goes away */
		if (!d->held) {
			d->held = call;
			fz_progress(call, 0);
			return;
		}
		res.status = -EBUSY;
		break;
	case 1: /* progress, the content descriptor in stream mode, then success */
		fz_progress(call, 1024);
		if (!r->output && d->fd >= 0)
			vx_api_call_send_fd(call, d->fd);
		fz_progress(call, 4096);
		break;
	case 2: /* a source failure with text and an origin status */
		res.status = VX_ESOURCE_NOTFOUND;
		res.stage = VX_DOWNLOAD_STAGE_SOURCE;
		res.source_status = 404;
		memcpy(res.msg, r->url, n < sizeof(res.msg) - 1 ? n : sizeof(res.msg) - 1);
		break;
	default: /* a result the server must clamp: a stage and counters beyond the wire's */
		res.stage = (enum vx_download_stage)99;
		res.source_status = 100000;
		res.totals.bytes_done = UINT64_MAX;
		res.totals.piece_count = UINT32_MAX;
		break;
	}
	vx_api_call_done(call, &res);
}

static void fz_cancel(void *ctx, struct vx_api_call *call)
{
	struct fz_daemon *d = ctx;
	struct vx_download_result res = { .status = -ECANCELED };

	if (d->held != call)
		return;
	d->held = NULL;
	vx_api_call_done(call, &res);
}

static int fz_stat(void *ctx, const char *task_id, struct vx_download_task *out)
{
	(void)ctx;
	if (task_id[0] != '0')
		return -ENOENT;
	memcpy(out->task_id, task_id, sizeof(out->task_id));
	out->url = "http://origin/a";
	out->state = VX_DOWNLOAD_TASK_DONE;
	out->content_length = 4096;
	out->piece_count = 1;
	out->pieces_done = 1;
	return 0;
}

static uint32_t fz_list(void *ctx, struct vx_download_task *out, uint32_t max)
{
	(void)ctx;
	for (uint32_t i = 0; i < 3 && i < max; i++) {
		memcpy(out[i].task_id, FZ_TASK, sizeof(out[i].task_id));
		out[i].url = i == 1 ? NULL : "http://origin/b";
		/* 99: clamped by the server */
		out[i].state = (enum vx_download_task_state)(i == 2 ? 99 : i);
		out[i].content_length = i == 2 ? -1 : 10;
	}
	out[2].task_id[0] = 'X'; /* not a task id: left out of the answer */
	return 5;		 /* more than it filled: "more" */
}

static int fz_remove(void *ctx, const char *task_id)
{
	(void)ctx;
	return task_id[1] == '1' ? -EBUSY : task_id[1] == '2' ? 0 : -ENOENT;
}

static const struct vx_api_ops fz_ops = {
	.download = fz_download,
	.cancel = fz_cancel,
	.stat = fz_stat,
	.list = fz_list,
	.remove = fz_remove,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_daemon d = { .fd = -1 };
	static struct vx_api_server *srv;
	struct fz_io io = { .data = data, .size = size, .rng = 0x9E3779B97F4A7C15ull ^ size };
	struct api_conn *c;

	if (!srv) {
		struct vx_api_server_cfg cfg = { .socket_path = "fuzz", .ops = &fz_ops, .ctx = &d };

		vx_log_set_level(VX_LOG_ERROR);
		d.fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (vx__api_server_new_detached(&srv, &cfg))
			abort();
	}
	c = vx__api_conn_attach(srv, &fz_io_ops, &io, 1000, 1000, 42);
	if (!c)
		abort();
	for (int i = 0;; i++) {
		/* every stream ends (EOF closes); a connection alive after the rounds is a hang */
		if (i == FZ_ROUNDS)
			abort();
		/* closed: end of stream, a broken frame, or a send error */
		if (vx__api_conn_ready(srv, c) || vx__api_conn_wake(srv, c))
			break;
	}
	/* the close cancelled a held download, and the daemon answered it */
	if (d.held)
		abort();
	return 0;
}
