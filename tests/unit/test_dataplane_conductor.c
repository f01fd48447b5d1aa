/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dataplane_conductor.c: the back-to-source conductor over file:// URLs and a real store
 * in a temp dir: round trip, resume from pieces already in the store, reuse of a complete
 * task, digest checks and the output path checks made before any download.
 */
#include "vx_test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_conductor.h"
#include "vx_digest.h"
#include "vx_err.h"
#include "vx_source.h"
#include "vx_store.h"

#define PIECE	 4096u
#define DATA_LEN (3u * PIECE + 17u)

struct fixture {
	char dir[256];
	char url[700];
	char out[600];
	uint8_t data[DATA_LEN];
	struct vx_store *store;
	struct vx_source_ctx *src;
	uint32_t progress_calls;
};

static int write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd == -1)
		return -errno;
	n = write(fd, buf, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

static int same_as(const char *path, const void *buf, size_t len)
{
	uint8_t got[DATA_LEN + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd == -1)
		return 0;
	n = read(fd, got, sizeof(got));
	close(fd);
	return n == (ssize_t)len && memcmp(got, buf, len) == 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vx_store_cfg cfg;
	char path[512];
	uint32_t i;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/vx-conductor-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	for (i = 0; i < DATA_LEN; i++)
		f->data[i] = (uint8_t)(i * 131u + i / 7u);
	snprintf(path, sizeof(path), "%s/origin.bin", f->dir);
	if (write_file(path, f->data, DATA_LEN))
		return -1;
	snprintf(f->url, sizeof(f->url), "file://%s", path);
	snprintf(f->out, sizeof(f->out), "%s/out.bin", f->dir);
	vx_store_cfg_init(&cfg);
	snprintf(path, sizeof(path), "%s/store", f->dir);
	cfg.dir = path;
	cfg.no_gc_thread = true;
	cfg.no_preallocate = true;
	if (vx_store_open(&f->store, &cfg))
		return -1;
	if (vx_source_ctx_new(&f->src, NULL))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[600];

	vx_source_ctx_free(f->src);
	vx_store_close(f->store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void on_progress(void *arg, const struct vx_conductor_progress *p)
{
	struct fixture *f = arg;

	assert_true(p->bytes_done <= p->content_length);
	assert_true(p->pieces_done <= p->piece_count);
	f->progress_calls++;
}

static void request(struct fixture *f, struct vx_conductor_request *req)
{
	memset(req, 0, sizeof(*req));
	req->url = f->url;
	req->output = f->out;
	req->piece_length = PIECE;
	req->parallel = 2;
	req->progress = on_progress;
	req->progress_arg = f;
}

static void test_vx_conductor_download__roundtrip(void **state)
{
	struct fixture *f = *state;
	struct vx_conductor_request req;
	struct vx_conductor_result res;

	request(f, &req);
	assert_int_equal(vx_conductor_download(f->store, f->src, &req, &res), 0);
	assert_int_equal(res.stage, VX_CONDUCTOR_STAGE_DONE);
	assert_false(res.reused);
	assert_int_equal(res.totals.piece_count, 4);
	assert_int_equal(res.totals.pieces_done, 4);
	assert_int_equal(res.totals.bytes_from_source, DATA_LEN);
	assert_int_equal(res.totals.bytes_reused, 0);
	assert_int_equal(strlen(res.task_id), 64);
	assert_true(f->progress_calls > 0);
	assert_true(same_as(f->out, f->data, DATA_LEN));

	/* Again to another path: the complete task is reused, nothing read from the source. */
	snprintf(f->out, sizeof(f->out), "%s/again.bin", f->dir);
	req.output = f->out;
	assert_int_equal(vx_conductor_download(f->store, f->src, &req, &res), 0);
	assert_true(res.reused);
	assert_int_equal(res.totals.bytes_from_source, 0);
	assert_int_equal(res.totals.bytes_reused, DATA_LEN);
	assert_true(same_as(f->out, f->data, DATA_LEN));
}

static void test_vx_conductor_download__resume(void **state)
{
	struct fixture *f = *state;
	struct vx_conductor_request req;
	struct vx_conductor_result res;
	struct vx_store_task_params tp = { 0 };
	struct vx_store_task *t;

	request(f, &req);
	/* Learn the task id from a run that fails at the digest, then start over with piece 1
	 * already in a fresh task. */
	req.digest = "crc32:1";
	assert_int_equal(vx_conductor_download(f->store, f->src, &req, &res), VX_EDIGEST);
	assert_int_equal(res.stage, VX_CONDUCTOR_STAGE_DIGEST);
	assert_int_equal(access(f->out, F_OK), -1);
	assert_int_equal(vx_store_task_remove(f->store, res.task_id), 0);
	tp.id = res.task_id;
	tp.content_length = DATA_LEN;
	tp.piece_length = PIECE;
	tp.kind = VX_STORE_KIND_NORMAL;
	assert_int_equal(vx_store_task_open(f->store, &tp, VX_STORE_USE_DOWNLOAD, &t), 0);
	assert_int_equal(vx_store_piece_write(t, 1, f->data + PIECE, PIECE, false, 0, NULL), 0);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);

	req.digest = NULL;
	assert_int_equal(vx_conductor_download(f->store, f->src, &req, &res), 0);
	assert_false(res.reused);
	assert_int_equal(res.totals.bytes_reused, PIECE);
	assert_int_equal(res.totals.bytes_from_source, DATA_LEN - PIECE);
	assert_true(same_as(f->out, f->data, DATA_LEN));
}

static void test_vx_conductor_download__digest(void **state)
{
	struct fixture *f = *state;
	struct vx_conductor_request req;
	struct vx_conductor_result res;
	char digest[32];

	request(f, &req);
	snprintf(digest, sizeof(digest), "crc32:%u", vx_crc32(0, f->data, DATA_LEN));
	req.digest = digest;
	assert_int_equal(vx_conductor_download(f->store, f->src, &req, &res), 0);
	assert_true(same_as(f->out, f->data, DATA_LEN));

	req.digest = "sha999:00";
	assert_int_equal(vx_conductor_download(f->store, f->src, &req, &res), -EINVAL);
	assert_int_equal(res.stage, VX_CONDUCTOR_STAGE_REQUEST);
}

static void test_vx_conductor_download__output_checks(void **state)
{
	struct fixture *f = *state;
	struct vx_conductor_request req;
	struct vx_conductor_result res;
	char path[700];

	request(f, &req);
	assert_int_equal(write_file(f->out, "old", 3), 0);
	assert_int_equal(vx_conductor_download(f->store, f->src, &req, &res), -EEXIST);
	assert_int_equal(res.stage, VX_CONDUCTOR_STAGE_OUTPUT);
	assert_non_null(strstr(res.msg, "--overwrite"));
	assert_int_equal(res.totals.bytes_from_source, 0);
	assert_true(same_as(f->out, "old", 3));
	req.overwrite = true;
	assert_int_equal(vx_conductor_download(f->store, f->src, &req, &res), 0);
	assert_true(same_as(f->out, f->data, DATA_LEN));

	snprintf(path, sizeof(path), "%s/missing/out.bin", f->dir);
	req.output = path;
	assert_int_equal(vx_conductor_download(f->store, f->src, &req, &res), -ENOENT);
	assert_int_equal(res.stage, VX_CONDUCTOR_STAGE_OUTPUT);
}

static void test_vx_conductor_download__source_errors(void **state)
{
	struct fixture *f = *state;
	struct vx_conductor_request req;
	struct vx_conductor_result res;
	char url[700];
	int rc;

	request(f, &req);
	snprintf(url, sizeof(url), "file://%s/nope.bin", f->dir);
	req.url = url;
	rc = vx_conductor_download(f->store, f->src, &req, &res);
	assert_int_equal(rc, VX_ESOURCE_NOTFOUND);
	assert_int_equal(res.stage, VX_CONDUCTOR_STAGE_SOURCE);
	assert_int_equal(access(f->out, F_OK), -1);

	req.url = "gopher://127.0.0.1/x";
	assert_int_equal(vx_conductor_download(f->store, f->src, &req, &res), VX_ESCHEME);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_vx_conductor_download__roundtrip),
		T(test_vx_conductor_download__resume),
		T(test_vx_conductor_download__digest),
		T(test_vx_conductor_download__output_checks),
		T(test_vx_conductor_download__source_errors),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
