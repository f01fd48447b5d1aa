/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sources.c: the pure parts of sources/ (URLs, Content-Range, header lines, challenges,
 * error text) and file:// end to end through the worker (stat, ranged and parallel reads,
 * listing, errors, limits).
 */
#include "vx_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_source.h"
#include "vx_source_parse.h"

static void test_vx_source_url_parse__full(void **state)
{
	struct vx_source_url u;
	const char *s = "HTTPS://us%40r:p%3Ass@Example.COM:8443/a/b%20c?x=1&y=2#frag";

	(void)state;
	assert_int_equal(vx_source_url_parse(&u, s, strlen(s)), 0);
	assert_string_equal(u.scheme, "https");
	assert_string_equal(u.user, "us@r");
	assert_string_equal(u.password, "p:ss");
	assert_string_equal(u.host, "example.com");
	assert_int_equal(u.port, 8443);
	assert_string_equal(u.path, "/a/b%20c");
	assert_string_equal(u.query, "x=1&y=2");
}

static void test_vx_source_url_parse__ipv6_and_file(void **state)
{
	struct vx_source_url u;
	const char *v6 = "http://[::1]:80/x";
	const char *f = "file:///tmp/x";
	const char *s3 = "s3://bucket/key/with/slashes";

	(void)state;
	assert_int_equal(vx_source_url_parse(&u, v6, strlen(v6)), 0);
	assert_true(u.ipv6);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 80);
	assert_int_equal(vx_source_url_parse(&u, f, strlen(f)), 0);
	assert_string_equal(u.host, "");
	assert_string_equal(u.path, "/tmp/x");
	assert_int_equal(vx_source_url_parse(&u, s3, strlen(s3)), 0);
	assert_string_equal(u.host, "bucket");
	assert_string_equal(u.path, "/key/with/slashes");
}

static void test_vx_source_url_parse__rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"http:/x",
		"://x",
		"http://",
		"http://a b/",
		"http://h:0/",
		"http://h:65536/",
		"http://h:12a/",
		"1http://h/",
		"http://[::1/",
		"http://us%4@h/",
		"http://h\r\n/",
		"http://:80/",
		"http://[zz]/",
		"http://u%00@h/",
		"ftp://h:/",
	};
	struct vx_source_url u;
	char *huge;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vx_source_url_parse(&u, bad[i], strlen(bad[i])), VX_EURL);
		assert_null(u.scheme);
	}
	huge = malloc(VX_SOURCE_URL_MAX + 10);
	memset(huge, 'a', VX_SOURCE_URL_MAX + 9);
	memcpy(huge, "http://h/", 9);
	assert_int_equal(vx_source_url_parse(&u, huge, VX_SOURCE_URL_MAX + 9), VX_EURL);
	free(huge);
}

static void test_vx_source_url_redact__secrets(void **state)
{
	char out[256];

	(void)state;
	vx_source_url_redact("https://u:pw@h:1/p?X-Amz-Signature=abc#f", out, sizeof(out));
	assert_string_equal(out, "https://REDACTED@h:1/p?X-Amz-Signature=REDACTED#REDACTED");
	vx_source_url_redact("http://h/p@q?s", out, sizeof(out));
	assert_string_equal(out, "http://h/p@q?s");
	vx_source_url_redact("http://h/long", out, 8);
	assert_string_equal(out, "http://");
}

static void test_vx_source_content_range_parse__forms(void **state)
{
	struct vx_source_content_range cr;

	(void)state;
	assert_int_equal(vx_source_content_range_parse(&cr, "bytes 0-0/1234", 14), 0);
	assert_int_equal(cr.first, 0);
	assert_int_equal(cr.last, 0);
	assert_int_equal(cr.total, 1234);
	assert_int_equal(vx_source_content_range_parse(&cr, "bytes 5-9/*", 11), 0);
	assert_int_equal(cr.total, -1);
	assert_int_equal(vx_source_content_range_parse(&cr, "bytes */0", 9), 0);
	assert_true(cr.unsatisfied);
	assert_int_equal(cr.total, 0);
	assert_int_equal(vx_source_content_range_parse(&cr, " bytes 1-2/3\r\n", 14), 0);
}

static void test_vx_source_content_range_parse__rejects(void **state)
{
	static const char *const bad[] = {
		"bytes 9-5/10",
		"bytes 0-10/10",
		"items 0-1/2",
		"bytes 0-1",
		"bytes -1/2",
		"bytes 0-1/2x",
		"bytes 99999999999999999999-1/2",
		"bytes */",
		"bytes 1-2/-3",
		"",
	};
	struct vx_source_content_range cr;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vx_source_content_range_parse(&cr, bad[i], strlen(bad[i])),
				 -EPROTO);
}

static void test_vx_source_header_split__lines(void **state)
{
	const char *n, *v;
	size_t nl, vl;

	(void)state;
	assert_int_equal(vx_source_header_split("ETag:  \"abc\" \r\n", 15, &n, &nl, &v, &vl), 0);
	assert_int_equal(nl, 4);
	assert_memory_equal(n, "ETag", 4);
	assert_int_equal(vl, 5);
	assert_memory_equal(v, "\"abc\"", 5);
	assert_int_equal(vx_source_header_split("\r\n", 2, &n, &nl, &v, &vl), -ENODATA);
	assert_int_equal(vx_source_header_split("HTTP/1.1 200 OK\r\n", 17, &n, &nl, &v, &vl),
			 -ENODATA);
	assert_int_equal(vx_source_header_split("Bad Name: x", 11, &n, &nl, &v, &vl), -EPROTO);
	assert_int_equal(vx_source_header_split("NoColon", 7, &n, &nl, &v, &vl), -EPROTO);
	assert_int_equal(vx_source_header_split("X: a\x01z", 6, &n, &nl, &v, &vl), -EPROTO);
}

static void test_vx_source_challenge_parse__bearer(void **state)
{
	struct vx_source_challenge c;
	const char *s = "Bearer realm=\"https://auth.example/token\",service=\"registry\","
			"scope=\"repository:lib/x:pull\",error=\"invalid_token\"";
	const char *two = "Negotiate, Basic realm=\"r\\\"q\"";

	(void)state;
	assert_int_equal(vx_source_challenge_parse(&c, s, strlen(s)), 0);
	assert_string_equal(c.scheme, "bearer");
	assert_string_equal(c.realm, "https://auth.example/token");
	assert_string_equal(c.service, "registry");
	assert_string_equal(c.scope, "repository:lib/x:pull");
	assert_string_equal(c.error, "invalid_token");
	assert_int_equal(vx_source_challenge_parse(&c, two, strlen(two)), 0);
	assert_string_equal(c.scheme, "basic");
	assert_string_equal(c.realm, "r\"q");
	assert_int_equal(vx_source_challenge_parse(&c, "Digest nonce=1", 14), -ENOENT);
	assert_int_equal(vx_source_challenge_parse(&c, "Bearer realm=\"open", 18), -EPROTO);
}

static void test_vx_source_error_format__line(void **state)
{
	struct vx_source_error d = { .err = VX_ESOURCE_NOTFOUND, .status = 404 };
	char line[256];

	(void)state;
	snprintf(d.url, sizeof(d.url), "https://h/x");
	snprintf(d.msg, sizeof(d.msg), "HTTP 404");
	vx_source_error_format(&d, line, sizeof(line));
	assert_string_equal(line, "not found at the source (status 404) for https://h/x: HTTP 404");
}

/* ---- file:// through the worker ----------------------------------------------------------- */

struct fixture {
	struct vx_source_ctx *ctx;
	char dir[256];
	char url[512];
	unsigned char data[70000];
};

static int file_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[600];
	FILE *fp;

	snprintf(f->dir, sizeof(f->dir), "%s/vx-test-sources-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	for (size_t i = 0; i < sizeof(f->data); i++)
		f->data[i] = (unsigned char)(i * 7 + i / 251);
	snprintf(path, sizeof(path), "%s/data file.bin", f->dir);
	fp = fopen(path, "wb");
	fwrite(f->data, 1, sizeof(f->data), fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/sub", f->dir);
	mkdir(path, 0755);
	snprintf(f->url, sizeof(f->url), "file://%s/data%%20file.bin", f->dir);
	if (vx_source_ctx_new(&f->ctx, NULL) != 0)
		return -1;
	*state = f;
	return 0;
}

static int file_teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[600];

	vx_source_ctx_free(f->ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

struct buf {
	unsigned char p[70000];
	size_t len;
};

static int buf_sink(void *arg, const void *data, size_t len)
{
	struct buf *b = arg;

	if (b->len + len > sizeof(b->p))
		return -EMSGSIZE;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static void test_vx_source_open__file_stat_and_read(void **state)
{
	struct fixture *f = *state;
	struct vx_source_obj *obj;
	struct buf *b = calloc(1, sizeof(*b));

	assert_int_equal(vx_source_open(f->ctx, f->url, NULL, &obj, NULL), 0);
	assert_int_equal(vx_source_obj_stat(obj)->length, sizeof(f->data));
	assert_true(vx_source_obj_stat(obj)->ranges);
	assert_false(vx_source_obj_stat(obj)->is_dir);
	assert_int_equal(vx_source_read(obj, 1000, 30000, buf_sink, b, NULL), 0);
	assert_int_equal(b->len, 30000);
	assert_memory_equal(b->p, f->data + 1000, 30000);
	b->len = 0;
	assert_int_equal(vx_source_read(obj, 0, VX_SOURCE_LEN_TO_END, buf_sink, b, NULL), 0);
	assert_int_equal(b->len, sizeof(f->data));
	assert_memory_equal(b->p, f->data, sizeof(f->data));
	vx_source_obj_free(obj);
	free(b);
}

static void test_vx_source_open__file_errors(void **state)
{
	struct fixture *f = *state;
	struct vx_source_obj *obj;
	struct vx_source_error d;
	char url[600];

	snprintf(url, sizeof(url), "file://%s/missing", f->dir);
	assert_int_equal(vx_source_open(f->ctx, url, NULL, &obj, &d), VX_ESOURCE_NOTFOUND);
	assert_null(obj);
	assert_int_equal(d.err, VX_ESOURCE_NOTFOUND);
	assert_int_equal(vx_source_open(f->ctx, "file://otherhost/x", NULL, &obj, &d), VX_EURL);
	assert_int_equal(vx_source_open(f->ctx, "gopher://h/x", NULL, &obj, &d), VX_ESCHEME);
	assert_int_equal(vx_source_open(f->ctx, "not a url", NULL, &obj, &d), VX_EURL);
	assert_false(vx_source_supports(f->ctx, "gopher://h/x"));
	assert_true(vx_source_supports(f->ctx, "https://h/x"));
}

static void test_vx_source_open__opts_limits(void **state)
{
	struct fixture *f = *state;
	struct vx_source_obj *obj;
	const char *inject[] = { "X-Ok: 1", "X-Bad: 1\r\nHost: evil" };
	struct vx_source_opts o = { .headers = inject, .nr_headers = 2 };

	assert_int_equal(vx_source_open(f->ctx, f->url, &o, &obj, NULL), -EINVAL);
	o.nr_headers = VX_SOURCE_HEADERS_MAX + 1;
	assert_int_equal(vx_source_open(f->ctx, f->url, &o, &obj, NULL), -EINVAL);
	o.nr_headers = 0;
	o.length_max = 100;
	assert_int_equal(vx_source_open(f->ctx, f->url, &o, &obj, NULL), VX_ESOURCE_TOOLARGE);
}

static int stop_sink(void *arg, const void *data, size_t len)
{
	(void)arg;
	(void)data;
	(void)len;
	return -ENOSPC;
}

static void test_vx_source_read__file_sink_error_and_bounds(void **state)
{
	struct fixture *f = *state;
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct buf *b = calloc(1, sizeof(*b));

	assert_int_equal(vx_source_open(f->ctx, f->url, NULL, &obj, NULL), 0);
	assert_int_equal(vx_source_read(obj, 0, 100, stop_sink, NULL, &d), -ENOSPC);
	assert_int_equal(vx_source_read(obj, 69999, 2, buf_sink, b, &d), VX_ESOURCE_BADREQ);
	assert_int_equal(vx_source_read(obj, 70001, 1, buf_sink, b, &d), VX_ESOURCE_BADREQ);
	assert_int_equal(vx_source_read(obj, 0, 0, buf_sink, b, &d), -EINVAL);
	assert_int_equal(b->len, 0);
	vx_source_obj_free(obj);
	free(b);
}

struct listing {
	int files;
	int dirs;
	char first_url[600];
};

static int on_entry(void *arg, const struct vx_source_entry *e)
{
	struct listing *l = arg;

	if (e->is_dir) {
		l->dirs++;
	} else {
		l->files++;
		snprintf(l->first_url, sizeof(l->first_url), "%s", e->url);
		assert_int_equal(e->length, 70000);
	}
	return 0;
}

static void test_vx_source_list__file_dir(void **state)
{
	struct fixture *f = *state;
	struct listing l = { 0 };
	struct vx_source_obj *obj;
	char url[600];

	snprintf(url, sizeof(url), "file://%s/", f->dir);
	assert_int_equal(vx_source_list(f->ctx, url, NULL, on_entry, &l, NULL), 0);
	assert_int_equal(l.files, 1);
	assert_int_equal(l.dirs, 1);
	/* The entry URL opens the same object, with the space percent-encoded. */
	assert_string_equal(l.first_url, f->url);
	assert_int_equal(vx_source_open(f->ctx, l.first_url, NULL, &obj, NULL), 0);
	vx_source_obj_free(obj);
}

/* Fails the n-th allocation of open (and of a read) for every n: clean -ENOMEM, no leak. */
static void test_vx_source_open__alloc_failures(void **state)
{
	struct fixture *f = *state;
	const char *hdrs[] = { "X-One: 1", "X-Two: 2" };
	struct vx_source_opts o = {
		.headers = hdrs, .nr_headers = 2, .username = "u", .password = "p", .s3_region = "r"
	};
	struct vx_source_obj *obj = NULL;
	struct buf *b = calloc(1, sizeof(*b));
	unsigned long n;
	int rc = -ENOMEM;
	void *probe;

	vx_fault_arm(VX_FAULT_ALLOC, 1);
	probe = vx_malloc(1);
	vx_fault_arm(VX_FAULT_ALLOC, 0);
	if (probe) {
		vx_free(probe);
		free(b);
		skip(); /* release build: the fault hook is compiled out */
	}
	for (n = 1; n < 64 && rc; n++) {
		vx_fault_arm(VX_FAULT_ALLOC, n);
		rc = vx_source_open(f->ctx, f->url, &o, &obj, NULL);
		vx_fault_arm(VX_FAULT_ALLOC, 0);
		if (rc) {
			assert_int_equal(rc, -ENOMEM);
			assert_null(obj);
		}
	}
	assert_int_equal(rc, 0);
	assert_true(n > 5); /* several allocation sites were walked */
	vx_fault_arm(VX_FAULT_ALLOC, 1);
	rc = vx_source_read(obj, 0, 10, buf_sink, b, NULL);
	vx_fault_arm(VX_FAULT_ALLOC, 0);
	assert_int_equal(rc, -ENOMEM);
	assert_int_equal(vx_source_read(obj, 0, 10, buf_sink, b, NULL), 0);
	assert_memory_equal(b->p, f->data, 10);
	vx_source_obj_free(obj);
	free(b);
}

static void test_vx_source_ctx_new__limits(void **state)
{
	struct vx_source_ctx_cfg cfg = { .reqs_max = VX_SOURCE_REQS_MAX + 1 };
	struct vx_source_ctx *ctx;

	(void)state;
	assert_int_equal(vx_source_ctx_new(&ctx, &cfg), -EINVAL);
	assert_null(ctx);
	vx_source_ctx_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_source_url_parse__full),
		cmocka_unit_test(test_vx_source_url_parse__ipv6_and_file),
		cmocka_unit_test(test_vx_source_url_parse__rejects),
		cmocka_unit_test(test_vx_source_url_redact__secrets),
		cmocka_unit_test(test_vx_source_content_range_parse__forms),
		cmocka_unit_test(test_vx_source_content_range_parse__rejects),
		cmocka_unit_test(test_vx_source_header_split__lines),
		cmocka_unit_test(test_vx_source_challenge_parse__bearer),
		cmocka_unit_test(test_vx_source_error_format__line),
		cmocka_unit_test(test_vx_source_ctx_new__limits),
		cmocka_unit_test_setup_teardown(test_vx_source_open__file_stat_and_read, file_setup,
						file_teardown),
		cmocka_unit_test_setup_teardown(test_vx_source_open__file_errors, file_setup,
						file_teardown),
		cmocka_unit_test_setup_teardown(test_vx_source_open__opts_limits, file_setup,
						file_teardown),
		cmocka_unit_test_setup_teardown(test_vx_source_read__file_sink_error_and_bounds,
						file_setup, file_teardown),
		cmocka_unit_test_setup_teardown(test_vx_source_list__file_dir, file_setup,
						file_teardown),
		cmocka_unit_test_setup_teardown(test_vx_source_open__alloc_failures, file_setup,
						file_teardown),
	};

	return cmocka_run_group_tests_name("sources", tests, NULL, NULL);
}
