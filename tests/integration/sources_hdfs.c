/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sources_hdfs.c: hdfs:// through WebHDFS. There is no Hadoop here, so the endpoint is the
 * small WebHDFS-speaking test server in sources_origin.py (python3 http.server): GETFILESTATUS,
 * LISTSTATUS, OPEN with offset/length answered by a 307 to a "datanode" path, RemoteException
 * errors, and auth by delegation token or user.name. Acceptable for this scheme alone.
 */
#include "vx_test.h"

#include <pthread.h>

#include "sources_harness.h"

#include "vx_err.h"
#include "vx_source.h"

#define FILE_LEN (400000 + 3)

static struct vx_source_ctx *ctx;
static int port;
static uint8_t *data;
static char dir[256];

static int group_setup(void **state)
{
	const char *src = getenv("VX_SOURCE_DIR");
	char path[512], script[1024], portstr[16], root[512], log[512];

	(void)state;
	if (!vx_h_have("python3")) {
		fprintf(stderr, "sources_hdfs: needs python3; skipping\n");
		exit(VX_TEST_SKIP);
	}
	snprintf(dir, sizeof(dir), "%s", vx_h_tmpdir());
	if (!dir[0])
		return -1;
	snprintf(path, sizeof(path), "%s/hdfs/user/vx/sub", dir);
	snprintf(script, sizeof(script), "mkdir -p '%s'", path);
	if (system(script) != 0)
		return -1;
	data = malloc(FILE_LEN);
	vx_h_fill(data, FILE_LEN, 5);
	snprintf(path, sizeof(path), "%s/hdfs/user/vx/part-0000", dir);
	if (vx_h_write_file(path, data, FILE_LEN))
		return -1;
	snprintf(path, sizeof(path), "%s/hdfs/user/vx/sub/small", dir);
	if (vx_h_write_file(path, data, 10))
		return -1;
	port = vx_h_free_port();
	snprintf(script, sizeof(script), "%s/tests/integration/sources_origin.py", src ? src : ".");
	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(root, sizeof(root), "%s", dir);
	snprintf(log, sizeof(log), "%s/origin.out", dir);
	{
		char *argv[] = { (char *)"python3", script, portstr, root, NULL };

		if (vx_h_spawn(argv, log) < 0 || !vx_h_wait_port(port, 10000))
			return -1;
	}
	return vx_source_ctx_new(&ctx, NULL) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	vx_source_ctx_free(ctx);
	vx_h_stop_all();
	vx_h_rmdir();
	free(data);
	return 0;
}

static void test_vx_source_open__hdfs_file(void **state)
{
	struct vx_source_opts o = { .hdfs_delegation_token = "vx-delegation-token" };
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct vx_h_buf b = { 0 };
	char url[256], line[1024];

	(void)state;
	snprintf(url, sizeof(url), "hdfs://127.0.0.1:%d/user/vx/part-0000", port);
	if (vx_source_open(ctx, url, &o, &obj, &d) != 0)
		fail_msg("%s", vx_source_error_format(&d, line, sizeof(line)));
	assert_int_equal(vx_source_obj_stat(obj)->length, FILE_LEN);
	assert_true(vx_source_obj_stat(obj)->ranges);
	assert_false(vx_source_obj_stat(obj)->is_dir);
	assert_true(vx_source_obj_stat(obj)->last_modified[0] != '\0');
	/* The token never shows in what vx reports. */
	assert_null(strstr(vx_source_obj_stat(obj)->final_url, "vx-delegation-token"));
	b.cap = FILE_LEN;
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 123457, 200000, vx_h_buf_sink, &b, &d), 0);
	assert_int_equal(b.len, 200000);
	assert_memory_equal(b.p, data + 123457, 200000);
	b.len = 0;
	assert_int_equal(vx_source_read(obj, 0, VX_SOURCE_LEN_TO_END, vx_h_buf_sink, &b, &d), 0);
	assert_int_equal(b.len, FILE_LEN);
	assert_memory_equal(b.p, data, FILE_LEN);
	free(b.p);
	vx_source_obj_free(obj);
	/* Pseudo auth by user name works too. */
	o.hdfs_delegation_token = NULL;
	o.hdfs_user = "vx";
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), 0);
	vx_source_obj_free(obj);
}

static void test_vx_source_open__hdfs_errors(void **state)
{
	struct vx_source_opts o = { .hdfs_delegation_token = "wrong-token" };
	struct vx_source_obj *obj;
	struct vx_source_error d;
	char url[256];

	(void)state;
	snprintf(url, sizeof(url), "hdfs://127.0.0.1:%d/user/vx/part-0000", port);
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ESOURCE_DENIED);
	assert_non_null(strstr(d.msg, "SecurityException"));
	assert_null(strstr(d.url, "wrong-token"));
	o.hdfs_delegation_token = "vx-delegation-token";
	snprintf(url, sizeof(url), "hdfs://127.0.0.1:%d/user/vx/missing", port);
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ESOURCE_NOTFOUND);
	assert_non_null(strstr(d.msg, "FileNotFoundException"));
	snprintf(url, sizeof(url), "hdfs://127.0.0.1:%d/x?op=DELETE", port);
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_EURL);
}

struct listing {
	int files;
	int dirs;
	int64_t bytes;
	char dir_url[256];
};

static int on_entry(void *arg, const struct vx_source_entry *e)
{
	struct listing *l = arg;

	if (e->is_dir) {
		l->dirs++;
		snprintf(l->dir_url, sizeof(l->dir_url), "%s", e->url);
	} else {
		l->files++;
		l->bytes += e->length;
	}
	return 0;
}

static void test_vx_source_list__hdfs_dir(void **state)
{
	struct vx_source_opts o = { .hdfs_user = "vx" };
	struct listing l = { 0 };
	struct vx_source_obj *obj;
	char url[256];

	(void)state;
	snprintf(url, sizeof(url), "hdfs://127.0.0.1:%d/user/vx", port);
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, NULL), 0);
	assert_true(vx_source_obj_stat(obj)->is_dir);
	vx_source_obj_free(obj);
	assert_int_equal(vx_source_list(ctx, url, &o, on_entry, &l, NULL), 0);
	assert_int_equal(l.files, 1);
	assert_int_equal(l.dirs, 1);
	assert_int_equal(l.bytes, FILE_LEN);
	/* Recursing into the sub-directory by its URL. */
	memset(&l, 0, sizeof(l));
	snprintf(url, sizeof(url), "hdfs://127.0.0.1:%d/user/vx/sub", port);
	assert_int_equal(vx_source_list(ctx, url, &o, on_entry, &l, NULL), 0);
	assert_int_equal(l.files, 1);
	assert_int_equal(l.bytes, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_source_open__hdfs_file),
		cmocka_unit_test(test_vx_source_open__hdfs_errors),
		cmocka_unit_test(test_vx_source_list__hdfs_dir),
	};

	return cmocka_run_group_tests_name("sources_hdfs", tests, group_setup, group_teardown);
}
