/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sources_oci.c: oci:// against Debian's docker-registry (the CNCF distribution registry),
 * run here with generated configs on loopback ports over one storage directory: first
 * anonymous (a multi-platform image is pushed through the registry's HTTP API by
 * sources_registry_push.py), then with htpasswd basic auth, then with bearer tokens from the
 * token service of sources_origin.py (RS256 JWTs the registry verifies against a certificate
 * made here). Tags, digests, index resolution by platform, blob stat and ranged reads, digest
 * checks (a blob corrupted on disk), listings of an image's blobs.
 */
#include "vx_test.h"

#include <pthread.h>

#include <openssl/sha.h>

#include "sources_harness.h"

#include "vx_err.h"
#include "vx_source.h"

struct expect {
	char manifest[2][80];
	char config[2][80];
	int64_t config_size[2];
	char layer[2][2][80];
	int64_t layer_size[2][2];
	char index[80];
	char spare[80];
};

static struct vx_source_ctx *ctx;
static struct expect ex;
static char dir[256], regcfg[512], origin_script[512];
static int reg_port, origin_port, store_port;
static pid_t reg_pid;

static int write_registry_config(const char *auth)
{
	reg_port = vx_h_free_port();
	return vx_h_printf_file(
		regcfg,
		"version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
		"storage:\n  filesystem:\n    rootdirectory: %s/reg\n"
		"  maintenance:\n    uploadpurging:\n      enabled: false\n"
		"http:\n  addr: 127.0.0.1:%d\n  secret: vx-test-secret\n%s",
		dir, reg_port, auth);
}

static int start_registry(const char *auth)
{
	char log[512];
	char *argv[] = { (char *)"docker-registry", (char *)"serve", regcfg, NULL };

	if (reg_pid > 0) {
		kill(reg_pid, SIGTERM);
		waitpid(reg_pid, NULL, 0);
		for (int i = 0; i < vx_h_nr_children; i++) {
			if (vx_h_children[i] == reg_pid)
				vx_h_children[i] = vx_h_children[--vx_h_nr_children];
		}
	}
	if (write_registry_config(auth))
		return -1;
	snprintf(log, sizeof(log), "%s/registry.out", dir);
	reg_pid = vx_h_spawn(argv, log);
	return reg_pid > 0 && vx_h_wait_port(reg_port, 10000) ? 0 : -1;
}

static int read_expect(void)
{
	char path[512], key[64], val[80];
	long long size;
	FILE *f;

	snprintf(path, sizeof(path), "%s/out/expect.txt", dir);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %79s", key, val) == 2) {
		int a = strncmp(key, "arm64", 5) == 0;

		size = 0;
		if (strstr(key, "_config") || strstr(key, "_layer"))
			if (fscanf(f, "%lld", &size) != 1)
				break;
		if (strstr(key, "_manifest"))
			snprintf(ex.manifest[a], 80, "%s", val);
		else if (strstr(key, "_config")) {
			snprintf(ex.config[a], 80, "%s", val);
			ex.config_size[a] = size;
		} else if (strstr(key, "_layer")) {
			int l = key[strlen(key) - 1] - '0';

			snprintf(ex.layer[a][l], 80, "%s", val);
			ex.layer_size[a][l] = size;
		} else if (strcmp(key, "index") == 0)
			snprintf(ex.index, 80, "%s", val);
		else if (strcmp(key, "spare") == 0)
			snprintf(ex.spare, 80, "%s", val);
	}
	fclose(f);
	return ex.layer[1][1][0] && ex.spare[0] ? 0 : -1;
}

static int group_setup(void **state)
{
	const char *src = getenv("VX_SOURCE_DIR");
	char cmd[2048], port[16], root[512], log[512], key[512], cert[512];

	(void)state;
	if (!vx_h_have("docker-registry") || !vx_h_have("python3") || !vx_h_have("htpasswd") ||
	    !vx_h_have("openssl")) {
		fprintf(stderr, "sources_oci: needs docker-registry, htpasswd (apache2-utils), "
				"openssl and python3 (scripts/install-deps); skipping\n");
		exit(VX_TEST_SKIP);
	}
	snprintf(dir, sizeof(dir), "%s", vx_h_tmpdir());
	if (!dir[0])
		return -1;
	snprintf(regcfg, sizeof(regcfg), "%s/registry.yml", dir);
	snprintf(key, sizeof(key), "%s/token.key", dir);
	snprintf(cert, sizeof(cert), "%s/token.pem", dir);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -keyout token.key "
		 "-out token.pem -days 2 -subj /CN=vx-token >/dev/null 2>&1 && "
		 "htpasswd -Bbn vx s3cret > htpasswd 2>/dev/null",
		 dir);
	if (system(cmd) != 0)
		return -1;
	origin_port = vx_h_free_port();
	store_port = vx_h_free_port();
	snprintf(cmd, sizeof(cmd), "http://127.0.0.2:%d", store_port);
	setenv("VX_ORIGIN_REDIRECT_TO", cmd, 1);
	setenv("VX_TOKEN_TTL", "3", 1); /* the redirecting registry's tokens expire fast */
	snprintf(origin_script, sizeof(origin_script), "%s/tests/integration/sources_origin.py",
		 src ? src : ".");
	snprintf(port, sizeof(port), "%d", origin_port);
	snprintf(root, sizeof(root), "%s", dir);
	snprintf(log, sizeof(log), "%s/origin.out", dir);
	{
		char *argv[] = { (char *)"python3", origin_script, port, root, key, cert, NULL };

		if (vx_h_spawn(argv, log) < 0 || !vx_h_wait_port(origin_port, 10000))
			return -1;
	}
	/* The blob store the redirecting registry points at, on another loopback address. */
	snprintf(port, sizeof(port), "%d", store_port);
	setenv("VX_ORIGIN_ADDR", "127.0.0.2", 1);
	{
		char *argv[] = { (char *)"python3", origin_script, port, root, NULL };

		if (vx_h_spawn(argv, log) < 0 || !vx_h_wait_addr("127.0.0.2", store_port, 10000))
			return -1;
	}
	unsetenv("VX_ORIGIN_ADDR");
	if (start_registry(""))
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "python3 '%s/tests/integration/sources_registry_push.py' http://127.0.0.1:%d "
		 "vx/app '%s/out' >> '%s/push.out' 2>&1",
		 src ? src : ".", reg_port, dir, dir);
	if (system(cmd) != 0 || read_expect() != 0) {
		fprintf(stderr, "sources_oci: push failed (see %s/push.out)\n", dir);
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
	return 0;
}

static void ref_url(char *buf, size_t n, const char *ref)
{
	snprintf(buf, n, "oci+http://127.0.0.1:%d/vx/app%s", reg_port, ref);
}

static int load_blob(const char *digest, uint8_t **out, size_t *len)
{
	char path[512];
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/out/blobs/%s", dir, digest + 7);
	f = fopen(path, "rb");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	*out = malloc((size_t)n + 1);
	*len = fread(*out, 1, (size_t)n, f);
	fclose(f);
	return 0;
}

static void check_manifest(const char *url, const struct vx_source_opts *o, int arch)
{
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct vx_h_buf b = { 0 };
	uint8_t *want;
	size_t want_len;
	char line[1024];

	if (vx_source_open(ctx, url, o, &obj, &d) != 0)
		fail_msg("%s", vx_source_error_format(&d, line, sizeof(line)));
	assert_string_equal(vx_source_obj_stat(obj)->digest, ex.manifest[arch]);
	assert_int_equal(load_blob(ex.manifest[arch], &want, &want_len), 0);
	assert_int_equal(vx_source_obj_stat(obj)->length, want_len);
	b.cap = want_len;
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 0, VX_SOURCE_LEN_TO_END, vx_h_buf_sink, &b, &d), 0);
	assert_memory_equal(b.p, want, want_len);
	free(b.p);
	free(want);
	vx_source_obj_free(obj);
}

static void test_vx_source_open__oci_index_by_platform(void **state)
{
	struct vx_source_opts o = { .oci_platform = "linux/arm64" };
	char url[256];

	(void)state;
	ref_url(url, sizeof(url), ":multi");
	check_manifest(url, &o, 1);
	o.oci_platform = "linux/amd64";
	check_manifest(url, &o, 0);
	/* A plain manifest under a tag, and a manifest by digest. */
	ref_url(url, sizeof(url), ":single");
	check_manifest(url, NULL, 0);
	snprintf(url, sizeof(url), "oci+http://127.0.0.1:%d/vx/app@%s", reg_port, ex.manifest[1]);
	check_manifest(url, NULL, 1);
}

static void test_vx_source_open__oci_errors(void **state)
{
	struct vx_source_opts o = { .oci_platform = "linux/s390x" };
	struct vx_source_obj *obj;
	struct vx_source_error d;
	char url[256];

	(void)state;
	ref_url(url, sizeof(url), ":multi");
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ESOURCE_NOTFOUND);
	assert_non_null(strstr(d.msg, "linux/s390x"));
	ref_url(url, sizeof(url), ":nosuchtag");
	assert_int_equal(vx_source_open(ctx, url, NULL, &obj, &d), VX_ESOURCE_NOTFOUND);
	assert_int_equal(d.status, 404);
	ref_url(url, sizeof(url),
		"/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000");
	assert_int_equal(vx_source_open(ctx, url, NULL, &obj, &d), VX_ESOURCE_NOTFOUND);
	snprintf(url, sizeof(url), "oci+http://127.0.0.1:%d/Bad/Name:x", reg_port);
	assert_int_equal(vx_source_open(ctx, url, NULL, &obj, &d), VX_EURL);
	snprintf(url, sizeof(url), "oci+http://127.0.0.1:%d/vx/app@sha256:abc", reg_port);
	assert_int_equal(vx_source_open(ctx, url, NULL, &obj, &d), VX_EURL);
}

static void check_blob(const char *digest, const struct vx_source_opts *o)
{
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct vx_h_buf b = { 0 };
	uint8_t *want;
	size_t want_len;
	char url[256], line[1024];

	snprintf(url, sizeof(url), "oci+http://127.0.0.1:%d/vx/app/blobs/%s", reg_port, digest);
	if (vx_source_open(ctx, url, o, &obj, &d) != 0)
		fail_msg("%s", vx_source_error_format(&d, line, sizeof(line)));
	assert_int_equal(load_blob(digest, &want, &want_len), 0);
	assert_int_equal(vx_source_obj_stat(obj)->length, want_len);
	assert_true(vx_source_obj_stat(obj)->ranges);
	assert_string_equal(vx_source_obj_stat(obj)->digest, digest);
	b.cap = want_len;
	b.p = malloc(b.cap);
	if (want_len > 100) {
		assert_int_equal(vx_source_read(obj, 50, want_len - 100, vx_h_buf_sink, &b, &d), 0);
		assert_memory_equal(b.p, want + 50, want_len - 100);
		b.len = 0;
	}
	assert_int_equal(vx_source_read(obj, 0, VX_SOURCE_LEN_TO_END, vx_h_buf_sink, &b, &d), 0);
	assert_memory_equal(b.p, want, want_len);
	free(b.p);
	free(want);
	vx_source_obj_free(obj);
}

struct blobs {
	int n;
	int64_t bytes;
	char urls[8][256];
};

static int on_blob(void *arg, const struct vx_source_entry *e)
{
	struct blobs *s = arg;

	if (s->n < 8)
		snprintf(s->urls[s->n], sizeof(s->urls[0]), "%s", e->url);
	s->n++;
	s->bytes += e->length;
	return 0;
}

static void test_vx_source_list__oci_image_blobs(void **state)
{
	struct vx_source_opts o = { .oci_platform = "linux/amd64" };
	struct blobs s = { 0 };
	char url[256];

	(void)state;
	ref_url(url, sizeof(url), ":multi");
	assert_int_equal(vx_source_list(ctx, url, &o, on_blob, &s, NULL), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.bytes, ex.config_size[0] + ex.layer_size[0][0] + ex.layer_size[0][1]);
	assert_non_null(strstr(s.urls[0], ex.config[0]));
	assert_non_null(strstr(s.urls[2], ex.layer[0][1]));
	/* The listed URLs open as blobs. */
	check_blob(ex.layer[0][0], NULL);
	check_blob(ex.config[0], NULL);
}

static void test_vx_source_read__oci_blob_digest_checked(void **state)
{
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct vx_h_buf b = { 0 };
	char url[256], path[1024];
	uint8_t *want;
	size_t want_len;
	FILE *f;

	(void)state;
	check_blob(ex.spare, NULL);
	/* Flip a byte of the stored blob: a full read must fail its digest check. */
	snprintf(path, sizeof(path), "%s/reg/docker/registry/v2/blobs/sha256/%.2s/%s/data", dir,
		 ex.spare + 7, ex.spare + 7);
	assert_int_equal(load_blob(ex.spare, &want, &want_len), 0);
	want[100] ^= 0xff;
	f = fopen(path, "r+b");
	assert_non_null(f);
	assert_int_equal(fwrite(want, 1, want_len, f), want_len);
	fclose(f);
	snprintf(url, sizeof(url), "oci+http://127.0.0.1:%d/vx/app/blobs/%s", reg_port, ex.spare);
	assert_int_equal(vx_source_open(ctx, url, NULL, &obj, &d), 0);
	b.cap = want_len;
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 0, VX_SOURCE_LEN_TO_END, vx_h_buf_sink, &b, &d),
			 VX_EDIGEST);
	free(b.p);
	free(want);
	vx_source_obj_free(obj);
}

static void test_vx_source_open__oci_basic_auth(void **state)
{
	struct vx_source_opts o = { .oci_platform = "linux/arm64" };
	struct vx_source_obj *obj;
	struct vx_source_error d;
	char auth[1024], url[256];

	(void)state;
	snprintf(auth, sizeof(auth),
		 "auth:\n  htpasswd:\n    realm: vx-test\n    path: %s/htpasswd\n", dir);
	assert_int_equal(start_registry(auth), 0);
	ref_url(url, sizeof(url), ":multi");
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ESOURCE_DENIED);
	assert_int_equal(d.status, 401);
	o.username = "vx";
	o.password = "wrong";
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ESOURCE_DENIED);
	o.password = "s3cret";
	check_manifest(url, &o, 1);
	check_blob(ex.layer[1][0], &o);
}

static void test_vx_source_open__oci_bearer_token(void **state)
{
	struct vx_source_opts o = { .oci_platform = "linux/amd64" };
	struct vx_source_obj *obj;
	struct vx_source_error d;
	char auth[1024], url[256];

	(void)state;
	snprintf(auth, sizeof(auth),
		 "auth:\n  token:\n    realm: http://127.0.0.1:%d/token\n    service: vx-registry\n"
		 "    issuer: vx-test-issuer\n    rootcertbundle: %s/token.pem\n",
		 origin_port, dir);
	assert_int_equal(start_registry(auth), 0);
	/* Anonymous pull: the token service grants pull to anyone. */
	ref_url(url, sizeof(url), ":multi");
	check_manifest(url, &o, 0);
	check_blob(ex.layer[0][0], &o);
	/* Named pull with wrong credentials: the token service refuses. */
	o.username = "vx";
	o.password = "wrong";
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ESOURCE_DENIED);
	o.password = "s3cret";
	check_manifest(url, &o, 0);
}

static void test_vx_source_open__registry_url_bearer(void **state)
{
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct vx_h_buf b = { 0 };
	uint8_t *want;
	size_t want_len;
	char url[256], line[1024];

	(void)state;
	/* Still the token-auth registry: a plain http registry URL walks the same challenge. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v2/vx/app/blobs/%s", reg_port,
		 ex.layer[1][0]);
	if (vx_source_open(ctx, url, NULL, &obj, &d) != 0)
		fail_msg("%s", vx_source_error_format(&d, line, sizeof(line)));
	assert_string_equal(vx_source_obj_stat(obj)->digest, ex.layer[1][0]);
	assert_int_equal(load_blob(ex.layer[1][0], &want, &want_len), 0);
	assert_int_equal(vx_source_obj_stat(obj)->length, want_len);
	b.cap = want_len;
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 0, VX_SOURCE_LEN_TO_END, vx_h_buf_sink, &b, &d), 0);
	assert_memory_equal(b.p, want, want_len);
	free(b.p);
	free(want);
	vx_source_obj_free(obj);
}

static void test_vx_source_read__oci_blob_through_redirect(void **state)
{
	unsigned char md[32];
	char hex[65], path[512], url[256], line[1024];
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct vx_h_buf b = { 0 };
	uint8_t *data = malloc(300000);

	(void)state;
	vx_h_fill(data, 300000, 99);
	SHA256(data, 300000, md);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(path, sizeof(path), "%s/blobstore", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/blobstore/%s", dir, hex);
	assert_int_equal(vx_h_write_file(path, data, 300000), 0);
	/* Token-protected registry, blob answered by a 307 to a store on 127.0.0.2, which
	 * refuses any request carrying our Authorization header. */
	snprintf(url, sizeof(url), "oci+http://127.0.0.1:%d/redir/app/blobs/sha256:%s", origin_port,
		 hex);
	if (vx_source_open(ctx, url, NULL, &obj, &d) != 0)
		fail_msg("%s", vx_source_error_format(&d, line, sizeof(line)));
	assert_int_equal(vx_source_obj_stat(obj)->length, 300000);
	assert_true(vx_source_obj_stat(obj)->ranges);
	assert_non_null(strstr(vx_source_obj_stat(obj)->final_url, "127.0.0.2"));
	b.cap = 300000;
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 1000, 5000, vx_h_buf_sink, &b, &d), 0);
	assert_memory_equal(b.p, data + 1000, 5000);
	b.len = 0;
	assert_int_equal(vx_source_read(obj, 0, VX_SOURCE_LEN_TO_END, vx_h_buf_sink, &b, &d), 0);
	assert_memory_equal(b.p, data, 300000);
	free(b.p);
	free(data);
	vx_source_obj_free(obj);
}

/* A token that expires mid-task is renewed on the helper thread and the read goes on. */
static void test_vx_source_read__oci_token_renewed(void **state)
{
	unsigned char md[32];
	char hex[65], path[512], url[256], line[1024];
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct vx_h_buf b = { 0 };
	uint8_t *data = malloc(100000);

	(void)state;
	vx_h_fill(data, 100000, 77);
	SHA256(data, 100000, md);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(path, sizeof(path), "%s/blobstore", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/blobstore/%s", dir, hex);
	assert_int_equal(vx_h_write_file(path, data, 100000), 0);
	snprintf(url, sizeof(url), "oci+http://127.0.0.1:%d/redir/app/blobs/sha256:%s", origin_port,
		 hex);
	if (vx_source_open(ctx, url, NULL, &obj, &d) != 0)
		fail_msg("%s", vx_source_error_format(&d, line, sizeof(line)));
	sleep(5); /* the token from open is now past its 3 s life */
	b.cap = 100000;
	b.p = malloc(b.cap);
	if (vx_source_read(obj, 10, 50000, vx_h_buf_sink, &b, &d) != 0)
		fail_msg("%s", vx_source_error_format(&d, line, sizeof(line)));
	assert_memory_equal(b.p, data + 10, 50000);
	assert_int_equal(d.err, 0);
	free(b.p);
	free(data);
	vx_source_obj_free(obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_source_open__oci_index_by_platform),
		cmocka_unit_test(test_vx_source_open__oci_errors),
		cmocka_unit_test(test_vx_source_list__oci_image_blobs),
		cmocka_unit_test(test_vx_source_read__oci_blob_digest_checked),
		cmocka_unit_test(test_vx_source_open__oci_basic_auth),
		cmocka_unit_test(test_vx_source_open__oci_bearer_token),
		cmocka_unit_test(test_vx_source_open__registry_url_bearer),
		cmocka_unit_test(test_vx_source_read__oci_blob_through_redirect),
		cmocka_unit_test(test_vx_source_read__oci_token_renewed),
	};

	return cmocka_run_group_tests_name("sources_oci", tests, group_setup, group_teardown);
}
