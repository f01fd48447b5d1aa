/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sources_ftp.c: ftp:// through vx_source against a real FTP server started here on loopback
 * (Debian's python3-pyftpdlib, anonymous and read-only over a temp dir): stat by SIZE, ranged
 * reads by REST, a missing file, a directory URL and its NLST listing.
 */
#include "vx_test.h"

#include <pthread.h>

#include "sources_harness.h"

#include "vx_err.h"
#include "vx_source.h"

#define FTP_PY	 "/usr/bin/python3"
#define DATA_LEN (500000 + 11)

static struct vx_source_ctx *ctx;
static int port;
static uint8_t *data;
static char dir[256];

static int group_setup(void **state)
{
	char path[600], portstr[16], log[512], root[300];

	(void)state;
	if (access(FTP_PY, X_OK) != 0 ||
	    system(FTP_PY " -c 'import pyftpdlib' >/dev/null 2>&1") != 0) {
		fprintf(stderr, "sources_ftp: needs python3-pyftpdlib (scripts/install-deps); "
				"skipping\n");
		exit(VX_TEST_SKIP);
	}
	snprintf(dir, sizeof(dir), "%s", vx_h_tmpdir());
	if (!dir[0])
		return -1;
	snprintf(root, sizeof(root), "%s/pub", dir);
	mkdir(root, 0755);
	snprintf(path, sizeof(path), "%s/sub", root);
	mkdir(path, 0755);
	data = malloc(DATA_LEN);
	vx_h_fill(data, DATA_LEN, 3);
	snprintf(path, sizeof(path), "%s/data.bin", root);
	if (vx_h_write_file(path, data, DATA_LEN))
		return -1;
	snprintf(path, sizeof(path), "%s/small.txt", root);
	if (vx_h_write_file(path, "hello", 5))
		return -1;
	port = vx_h_free_port();
	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(log, sizeof(log), "%s/ftp.out", dir);
	{
		char *argv[] = { (char *)FTP_PY,
				 (char *)"-m",
				 (char *)"pyftpdlib",
				 (char *)"-i",
				 (char *)"127.0.0.1",
				 (char *)"-p",
				 portstr,
				 (char *)"-d",
				 root,
				 NULL };

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

static void test_vx_source_open__ftp_file(void **state)
{
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct vx_h_buf b = { 0 };
	char url[256], line[1024];

	(void)state;
	snprintf(url, sizeof(url), "ftp://127.0.0.1:%d/data.bin", port);
	if (vx_source_open(ctx, url, NULL, &obj, &d) != 0)
		fail_msg("%s", vx_source_error_format(&d, line, sizeof(line)));
	assert_int_equal(vx_source_obj_stat(obj)->length, DATA_LEN);
	assert_true(vx_source_obj_stat(obj)->ranges);
	assert_true(vx_source_obj_stat(obj)->last_modified[0] != '\0');
	b.cap = DATA_LEN;
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 250000, 100000, vx_h_buf_sink, &b, &d), 0);
	assert_int_equal(b.len, 100000);
	assert_memory_equal(b.p, data + 250000, 100000);
	b.len = 0;
	assert_int_equal(vx_source_read(obj, 0, VX_SOURCE_LEN_TO_END, vx_h_buf_sink, &b, &d), 0);
	assert_int_equal(b.len, DATA_LEN);
	assert_memory_equal(b.p, data, DATA_LEN);
	free(b.p);
	vx_source_obj_free(obj);
}

static void test_vx_source_open__ftp_errors(void **state)
{
	struct vx_source_opts o = { .retry_backoff_ms = 10 };
	struct vx_source_obj *obj;
	struct vx_source_error d;
	char url[256];

	(void)state;
	snprintf(url, sizeof(url), "ftp://127.0.0.1:%d/missing.bin", port);
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ESOURCE_NOTFOUND);
	assert_int_equal(d.attempts, 1);
	o.username = "nobody";
	o.password = "wrong";
	snprintf(url, sizeof(url), "ftp://127.0.0.1:%d/data.bin", port);
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ESOURCE_DENIED);
	assert_null(strstr(d.msg, "wrong"));
}

struct listing {
	int n;
	int data_seen;
};

static int on_entry(void *arg, const struct vx_source_entry *e)
{
	struct listing *l = arg;

	l->n++;
	if (strcmp(e->name, "data.bin") == 0 && strstr(e->url, "/data.bin"))
		l->data_seen = 1;
	return 0;
}

static void test_vx_source_list__ftp_dir(void **state)
{
	struct listing l = { 0 };
	struct vx_source_obj *obj;
	char url[256];

	(void)state;
	snprintf(url, sizeof(url), "ftp://127.0.0.1:%d/", port);
	assert_int_equal(vx_source_open(ctx, url, NULL, &obj, NULL), 0);
	assert_true(vx_source_obj_stat(obj)->is_dir);
	vx_source_obj_free(obj);
	assert_int_equal(vx_source_list(ctx, url, NULL, on_entry, &l, NULL), 0);
	assert_int_equal(l.n, 3); /* data.bin, small.txt, sub */
	assert_true(l.data_seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_source_open__ftp_file),
		cmocka_unit_test(test_vx_source_open__ftp_errors),
		cmocka_unit_test(test_vx_source_list__ftp_dir),
	};

	return cmocka_run_group_tests_name("sources_ftp", tests, group_setup, group_teardown);
}
