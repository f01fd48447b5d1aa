/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sources_s3.c: s3:// against s3rver (npm, started here on loopback) for stat, ranged reads,
 * errors, credentials from options, environment and a credentials file, and ListObjectsV2
 * with continuation tokens. s3rver 3.7 checks the access key but NOT V4 signatures, so the
 * signatures themselves are checked over the wire by sources_origin.py, which verifies SigV4
 * with its own (python) implementation and refuses a wrong secret.
 */
#include "vx_test.h"

#include <pthread.h>

#include "sources_harness.h"

#include "vx_err.h"
#include "vx_source.h"

#define OBJ_LEN (300000 + 7)
#define MANY	1005

static struct vx_source_ctx *ctx;
static int s3_port, origin_port;
static uint8_t *obj_data;
static char dir[256], endpoint[64], origin_endpoint[64];

static int put_objects(void)
{
	char path[512], cmd[1024];
	FILE *k;

	snprintf(path, sizeof(path), "%s/obj.bin", dir);
	if (vx_h_write_file(path, obj_data, OBJ_LEN))
		return -1;
	snprintf(path, sizeof(path), "%s/small.txt", dir);
	if (vx_h_printf_file(path, "hello"))
		return -1;
	/* One curl process uploads everything (anonymous PUTs: s3rver allows them). */
	snprintf(path, sizeof(path), "%s/put.cfg", dir);
	k = fopen(path, "w");
	if (!k)
		return -1;
	fprintf(k, "upload-file = \"%s/obj.bin\"\nurl = \"%s/vxbucket/data/blob.bin\"\n", dir,
		endpoint);
	fprintf(k, "upload-file = \"%s/small.txt\"\nurl = \"%s/vxbucket/data/sub/a%%20b.txt\"\n",
		dir, endpoint);
	for (int i = 0; i < MANY; i++)
		fprintf(k, "upload-file = \"%s/small.txt\"\nurl = \"%s/vxbucket/many/obj-%04d\"\n",
			dir, endpoint, i);
	fclose(k);
	snprintf(cmd, sizeof(cmd), "curl -sf --parallel --parallel-max 16 -K '%s' -o /dev/null",
		 path);
	return system(cmd) == 0 ? 0 : -1;
}

static int group_setup(void **state)
{
	char bin[512], data[1024], port[16], log[512], script[512], root[512];
	const char *src = getenv("VX_SOURCE_DIR");
	struct vx_source_ctx_cfg cfg = { .reqs_max = 64 };

	(void)state;
	snprintf(bin, sizeof(bin), "%s/build/npm/node_modules/.bin/s3rver", src ? src : ".");
	if (access(bin, X_OK) != 0 || !vx_h_have("node") || !vx_h_have("curl") ||
	    !vx_h_have("python3")) {
		fprintf(stderr, "sources_s3: needs s3rver (scripts/install-deps puts it in "
				"build/npm), node, curl and python3; skipping\n");
		exit(VX_TEST_SKIP);
	}
	snprintf(dir, sizeof(dir), "%s", vx_h_tmpdir());
	if (!dir[0])
		return -1;
	obj_data = malloc(OBJ_LEN);
	vx_h_fill(obj_data, OBJ_LEN, 11);
	s3_port = vx_h_free_port();
	origin_port = vx_h_free_port();
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", s3_port);
	snprintf(origin_endpoint, sizeof(origin_endpoint), "http://127.0.0.1:%d", origin_port);
	snprintf(data, sizeof(data), "%s/s3rver", dir);
	mkdir(data, 0755);
	snprintf(port, sizeof(port), "%d", s3_port);
	snprintf(log, sizeof(log), "%s/s3rver.out", dir);
	{
		/* s3rver's continuation tokens use DES, a legacy cipher under OpenSSL 3. */
		char *argv[] = { (char *)"node",
				 (char *)"--openssl-legacy-provider",
				 bin,
				 (char *)"-d",
				 data,
				 (char *)"-a",
				 (char *)"127.0.0.1",
				 (char *)"-p",
				 port,
				 (char *)"--configure-bucket",
				 (char *)"vxbucket",
				 (char *)"--no-vhost-buckets",
				 (char *)"-s",
				 NULL };

		if (vx_h_spawn(argv, log) < 0)
			return -1;
	}
	snprintf(port, sizeof(port), "%d", origin_port);
	snprintf(script, sizeof(script), "%s/tests/integration/sources_origin.py", src ? src : ".");
	snprintf(root, sizeof(root), "%s", dir);
	snprintf(log, sizeof(log), "%s/origin.out", dir);
	{
		char *argv[] = { (char *)"python3", script, port, root, NULL };

		if (vx_h_spawn(argv, log) < 0)
			return -1;
	}
	snprintf(data, sizeof(data), "mkdir -p %s/s3/vxsig/dir && cp %s/obj.bin %s/s3/vxsig/dir/",
		 dir, dir, dir);
	if (!vx_h_wait_port(s3_port, 15000) || !vx_h_wait_port(origin_port, 10000)) {
		fprintf(stderr, "sources_s3: servers did not come up (see %s)\n", dir);
		return -1;
	}
	if (put_objects() || system(data) != 0)
		return -1;
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_PROFILE");
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);
	return vx_source_ctx_new(&ctx, &cfg) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	vx_source_ctx_free(ctx);
	vx_h_stop_all();
	vx_h_rmdir();
	free(obj_data);
	return 0;
}

static struct vx_source_opts s3rver_opts(void)
{
	struct vx_source_opts o = { 0 };

	o.s3_endpoint = endpoint;
	o.s3_access_key = "S3RVER";
	o.s3_secret_key = "S3RVER";
	o.s3_region = "us-east-1";
	o.retry_backoff_ms = 10;
	return o;
}

static void test_vx_source_open__s3_object(void **state)
{
	struct vx_source_opts o = s3rver_opts();
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct vx_h_buf b = { 0 };

	(void)state;
	assert_int_equal(vx_source_open(ctx, "s3://vxbucket/data/blob.bin", &o, &obj, &d), 0);
	assert_int_equal(vx_source_obj_stat(obj)->length, OBJ_LEN);
	assert_true(vx_source_obj_stat(obj)->ranges);
	assert_true(vx_source_obj_stat(obj)->etag[0] != '\0');
	b.cap = OBJ_LEN;
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 123456, 100000, vx_h_buf_sink, &b, &d), 0);
	assert_memory_equal(b.p, obj_data + 123456, 100000);
	b.len = 0;
	assert_int_equal(vx_source_read(obj, 0, VX_SOURCE_LEN_TO_END, vx_h_buf_sink, &b, &d), 0);
	assert_int_equal(b.len, OBJ_LEN);
	assert_memory_equal(b.p, obj_data, OBJ_LEN);
	free(b.p);
	vx_source_obj_free(obj);
	/* A key with a space, percent-encoded in the URL. */
	assert_int_equal(vx_source_open(ctx, "s3://vxbucket/data/sub/a%20b.txt", &o, &obj, &d), 0);
	assert_int_equal(vx_source_obj_stat(obj)->length, 5);
	vx_source_obj_free(obj);
}

static void test_vx_source_open__s3_errors(void **state)
{
	struct vx_source_opts o = s3rver_opts();
	struct vx_source_obj *obj;
	struct vx_source_error d;

	(void)state;
	assert_int_equal(vx_source_open(ctx, "s3://vxbucket/nope", &o, &obj, &d),
			 VX_ESOURCE_NOTFOUND);
	assert_int_equal(d.status, 404);
	assert_non_null(strstr(d.msg, "NoSuchKey"));
	assert_int_equal(vx_source_open(ctx, "s3://nobucket/x", &o, &obj, &d), VX_ESOURCE_NOTFOUND);
	o.s3_access_key = "UNKNOWN";
	assert_int_equal(vx_source_open(ctx, "s3://vxbucket/data/blob.bin", &o, &obj, &d),
			 VX_ESOURCE_DENIED);
	assert_null(strstr(d.msg, "S3RVER")); /* the secret never shows */
	assert_int_equal(vx_source_open(ctx, "s3://vx:1/x", &o, &obj, &d), VX_EURL);
}

static void test_vx_source_open__s3_credentials_sources(void **state)
{
	struct vx_source_opts o = { .s3_endpoint = endpoint };
	struct vx_source_obj *obj;
	char path[512];

	(void)state;
	/* Environment. */
	setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
	assert_int_equal(vx_source_open(ctx, "s3://vxbucket/data/blob.bin", &o, &obj, NULL), 0);
	vx_source_obj_free(obj);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	/* Endpoint from the environment too, credentials from a profile of a file. */
	snprintf(path, sizeof(path), "%s/credentials", dir);
	assert_int_equal(
		vx_h_printf_file(path,
				 "[default]\naws_access_key_id = WRONG\n"
				 "aws_secret_access_key = x\n\n[vx]\n"
				 "aws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n"),
		0);
	setenv("AWS_ENDPOINT_URL", endpoint, 1);
	o.s3_endpoint = NULL;
	o.s3_credentials_file = path;
	assert_int_equal(vx_source_open(ctx, "s3://vxbucket/data/blob.bin", &o, &obj, NULL),
			 VX_ESOURCE_DENIED);
	o.s3_profile = "vx";
	assert_int_equal(vx_source_open(ctx, "s3://vxbucket/data/blob.bin", &o, &obj, NULL), 0);
	vx_source_obj_free(obj);
	unsetenv("AWS_ENDPOINT_URL");
}

static void test_vx_source_open__s3_signature_verified(void **state)
{
	struct vx_source_opts o = { .s3_endpoint = origin_endpoint,
				    .s3_access_key = "VXTESTKEY",
				    .s3_secret_key = "vx/test+secret",
				    .s3_region = "eu-west-3",
				    .retries_max = UINT32_MAX };
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct vx_h_buf b = { 0 };

	(void)state;
	assert_int_equal(vx_source_open(ctx, "s3://vxsig/dir/obj.bin", &o, &obj, &d), 0);
	assert_int_equal(vx_source_obj_stat(obj)->length, OBJ_LEN);
	b.cap = 5000;
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 9999, 5000, vx_h_buf_sink, &b, &d), 0);
	assert_memory_equal(b.p, obj_data + 9999, 5000);
	free(b.p);
	vx_source_obj_free(obj);
	o.s3_secret_key = "vx/test+wrong";
	assert_int_equal(vx_source_open(ctx, "s3://vxsig/dir/obj.bin", &o, &obj, &d),
			 VX_ESOURCE_DENIED);
	assert_non_null(strstr(d.msg, "SignatureDoesNotMatch"));
}

struct listing {
	int n;
	int64_t bytes;
	int blob_seen;
	int space_seen;
};

static int on_entry(void *arg, const struct vx_source_entry *e)
{
	struct listing *l = arg;

	l->n++;
	l->bytes += e->length;
	if (strcmp(e->name, "blob.bin") == 0 && strcmp(e->url, "s3://vxbucket/data/blob.bin") == 0)
		l->blob_seen = 1;
	if (strcmp(e->name, "sub/a b.txt") == 0 &&
	    strcmp(e->url, "s3://vxbucket/data/sub/a%20b.txt") == 0)
		l->space_seen = 1;
	return 0;
}

static int stop_after_3(void *arg, const struct vx_source_entry *e)
{
	int *n = arg;

	(void)e;
	return ++*n == 3 ? -ECANCELED : 0;
}

static void test_vx_source_list__s3_prefix_pages(void **state)
{
	struct vx_source_opts o = s3rver_opts();
	struct listing l = { 0 };
	struct vx_source_error d;
	char line[1024];
	int n = 0;

	(void)state;
	if (vx_source_list(ctx, "s3://vxbucket/data", &o, on_entry, &l, &d) != 0)
		fail_msg("%s", vx_source_error_format(&d, line, sizeof(line)));
	assert_int_equal(l.n, 2);
	assert_int_equal(l.bytes, OBJ_LEN + 5);
	assert_true(l.blob_seen);
	assert_true(l.space_seen);
	/* More than one page of 1000: the continuation token is followed. */
	memset(&l, 0, sizeof(l));
	if (vx_source_list(ctx, "s3://vxbucket/many/", &o, on_entry, &l, &d) != 0)
		fail_msg("%s", vx_source_error_format(&d, line, sizeof(line)));
	assert_int_equal(l.n, MANY);
	assert_int_equal(l.bytes, 5 * MANY);
	assert_int_equal(vx_source_list(ctx, "s3://vxbucket/many/", &o, stop_after_3, &n, NULL),
			 -ECANCELED);
	assert_int_equal(n, 3);
}

static int on_gs_entry(void *arg, const struct vx_source_entry *e)
{
	struct listing *l = arg;

	l->n++;
	l->bytes += e->length;
	if (strcmp(e->name, "blob.bin") == 0 && strcmp(e->url, "gs://vxbucket/data/blob.bin") == 0)
		l->blob_seen = 1;
	return 0;
}

/*
 * gs:// through Google Cloud Storage's S3-compatible XML API: the endpoint from $GCS_ENDPOINT
 * and the HMAC keys from $GS_ACCESS_KEY_ID / $GS_SECRET_ACCESS_KEY (never AWS's), signed
 * (s3rver checks SigV4), read and listed with gs:// entry URLs.
 */
static void test_vx_source_open__gs_xml_api(void **state)
{
	struct vx_source_opts o = { .retry_backoff_ms = 10 };
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct vx_h_buf b = { 0 };
	struct listing l = { 0 };
	char line[1024];

	(void)state;
	setenv("GCS_ENDPOINT", endpoint, 1);
	setenv("GS_ACCESS_KEY_ID", "UNKNOWN", 1);
	setenv("GS_SECRET_ACCESS_KEY", "S3RVER", 1);
	setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1); /* not gs's: the unknown key is what is sent */
	setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
	assert_int_equal(vx_source_open(ctx, "gs://vxbucket/data/blob.bin", &o, &obj, &d),
			 VX_ESOURCE_DENIED);
	setenv("GS_ACCESS_KEY_ID", "S3RVER", 1);
	if (vx_source_open(ctx, "gs://vxbucket/data/blob.bin", &o, &obj, &d) != 0)
		fail_msg("%s", vx_source_error_format(&d, line, sizeof(line)));
	assert_int_equal(vx_source_obj_stat(obj)->length, OBJ_LEN);
	b.cap = 100000;
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 4096, 100000, vx_h_buf_sink, &b, &d), 0);
	assert_memory_equal(b.p, obj_data + 4096, 100000);
	free(b.p);
	vx_source_obj_free(obj);
	if (vx_source_list(ctx, "gs://vxbucket/data", &o, on_gs_entry, &l, &d) != 0)
		fail_msg("%s", vx_source_error_format(&d, line, sizeof(line)));
	assert_int_equal(l.n, 2);
	assert_true(l.blob_seen);
	assert_int_equal(vx_source_open(ctx, "gs://vx:1/x", &o, &obj, &d), VX_EURL);
	unsetenv("GCS_ENDPOINT");
	unsetenv("GS_ACCESS_KEY_ID");
	unsetenv("GS_SECRET_ACCESS_KEY");
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_source_open__s3_object),
		cmocka_unit_test(test_vx_source_open__s3_errors),
		cmocka_unit_test(test_vx_source_open__s3_credentials_sources),
		cmocka_unit_test(test_vx_source_open__s3_signature_verified),
		cmocka_unit_test(test_vx_source_list__s3_prefix_pages),
		cmocka_unit_test(test_vx_source_open__gs_xml_api),
	};

	return cmocka_run_group_tests_name("sources_s3", tests, group_setup, group_teardown);
}
