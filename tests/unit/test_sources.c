/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sources.c: the pure parts of sources/ (URLs, Content-Range, header lines, challenges,
 * error text) and file:// end to end through the worker (stat, ranged and parallel reads,
 * listing, errors, limits).
 */
#include "vx_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_source.h"
#include "vx_outbound.h"
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

/* ---- Model hubs (hubparse.c, hub.c) ------------------------------------------------------- */

static void test_vx_source_hub_ref_parse__forms(void **state)
{
	struct vx_source_hub_ref r;
	const char *s = "hf://datasets/Acme-1/My.Set_2@refs%2Fpr%2F1/data/a%20b.csv";

	(void)state;
	assert_int_equal(vx_source_hub_ref_parse(&r, s, strlen(s)), 0);
	assert_int_equal(r.hub, VX_SOURCE_HUB_HF);
	assert_int_equal(r.kind, VX_SOURCE_HUB_DATASET);
	assert_string_equal(r.owner, "Acme-1");
	assert_string_equal(r.repo, "My.Set_2");
	assert_string_equal(r.revision, "refs/pr/1");
	assert_string_equal(r.path, "data/a b.csv");
	assert_false(r.dir);
	s = "modelscope://Qwen/Qwen2-7B/";
	assert_int_equal(vx_source_hub_ref_parse(&r, s, strlen(s)), 0);
	assert_int_equal(r.hub, VX_SOURCE_HUB_MODELSCOPE);
	assert_string_equal(r.revision, "");
	assert_string_equal(r.path, "");
	assert_true(r.dir);
	s = "HF://acme/tiny/sub/";
	assert_int_equal(vx_source_hub_ref_parse(&r, s, strlen(s)), 0);
	assert_string_equal(r.path, "sub");
	assert_true(r.dir);
}

static void test_vx_source_hub_ref_parse__rejects(void **state)
{
	static const char *const bad[] = {
		"hf://acme",
		"hf://acme/",
		"hf:///tiny/x",
		"hf://a cme/tiny/x",
		"hf://acme/../x",
		"hf://acme/tiny/../x",
		"hf://acme/tiny/a//b",
		"hf://acme/tiny/%2e%2e/x",
		"hf://acme/tiny/a%00b",
		"hf://acme/tiny@/x",
		"hf://acme/tiny@a..b/x",
		"hf://acme/tiny@a%20b/x",
		"hf://acme/tiny/x?r=1",
		"hf://acme/tiny/x#f",
		"hf://u:p@acme/tiny/x",
		"s3://acme/tiny/x",
		"hf://acme/tiny/a%5cb",
		"modelscope://a",
	};
	struct vx_source_hub_ref r;

	(void)state;
	for (size_t i = 0; i < VX_ARRAY_SIZE(bad); i++) {
		if (vx_source_hub_ref_parse(&r, bad[i], strlen(bad[i])) != VX_EURL)
			fail_msg("accepted %s", bad[i]);
		assert_non_null(r.why);
	}
}

struct hub_files {
	char names[8][64];
	char sha[8][65];
	int64_t sizes[8];
	int n, dirs;
};

static int hub_file_cb(void *arg, const struct vx_source_hub_file *f)
{
	struct hub_files *h = arg;

	if (f->is_dir) {
		h->dirs++;
		return 0;
	}
	snprintf(h->names[h->n], sizeof(h->names[0]), "%s", f->path);
	snprintf(h->sha[h->n], sizeof(h->sha[0]), "%s", f->sha256);
	h->sizes[h->n++] = f->size;
	return 0;
}

static void test_vx_source_hub_listings__parse(void **state)
{
	static const char sha[] =
		"29ab5ff129f1891f1072066ee35ec846ec5e9d206a1e8638933368a08eba1cd6";
	char hf[512], ms[512], out[256];
	struct hub_files h = { 0 };
	const char *l;

	(void)state;
	snprintf(hf, sizeof(hf),
		 "[{\"type\":\"directory\",\"oid\":\"0\",\"size\":0,\"path\":\"w\"},"
		 "{\"type\":\"file\",\"size\":9,\"path\":\"w/m.bin\",\"lfs\":{\"oid\":\"%s\"}},"
		 "{\"type\":\"file\",\"size\":3,\"path\":\"c.json\"}]",
		 sha);
	assert_int_equal(vx_source_hf_tree_parse(hf, strlen(hf), hub_file_cb, &h), 0);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.dirs, 1);
	assert_string_equal(h.names[0], "w/m.bin");
	assert_string_equal(h.sha[0], sha);
	assert_int_equal(h.sizes[0], 9);
	assert_string_equal(h.sha[1], "");
	memset(&h, 0, sizeof(h));
	snprintf(ms, sizeof(ms),
		 "{\"Code\":200,\"Data\":{\"Files\":[{\"Path\":\"s/b\",\"Type\":\"blob\",\"Size\":"
		 "5,\"Sha256\":\"%s\"}]}}",
		 sha);
	assert_int_equal(vx_source_ms_files_parse(ms, strlen(ms), hub_file_cb, &h), 0);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.sha[0], sha);
	l = "{\"Code\":401,\"Message\":\"no\"}";
	assert_int_equal(vx_source_ms_files_parse(l, strlen(l), hub_file_cb, &h), -EREMOTEIO);
	/* a path that leaves the repository, a negative size, a bad oid: the page is refused */
	l = "[{\"type\":\"file\",\"size\":1,\"path\":\"../x\"}]";
	assert_int_equal(vx_source_hf_tree_parse(l, strlen(l), hub_file_cb, &h), -EPROTO);
	l = "[{\"type\":\"file\",\"size\":-1,\"path\":\"x\"}]";
	assert_int_equal(vx_source_hf_tree_parse(l, strlen(l), hub_file_cb, &h), -EPROTO);
	l = "[{\"type\":\"file\",\"size\":1,\"path\":\"x\",\"lfs\":{\"oid\":\"ABC\"}}]";
	assert_int_equal(vx_source_hf_tree_parse(l, strlen(l), hub_file_cb, &h), -EPROTO);
	l = "{\"not\":\"an array\"}";
	assert_int_equal(vx_source_hf_tree_parse(l, strlen(l), hub_file_cb, &h), -EPROTO);
	/* Link headers */
	l = "<https://h/a?c=1>; rel=\"prev\", <https://h/a?c=3>; rel=\"next\"";
	assert_int_equal(vx_source_link_next(l, strlen(l), out, sizeof(out)), 0);
	assert_string_equal(out, "https://h/a?c=3");
	l = "<https://h/a?c=1>; rel=\"prev\"";
	assert_int_equal(vx_source_link_next(l, strlen(l), out, sizeof(out)), -ENOENT);
	l = "<>; rel=\"next\"";
	assert_int_equal(vx_source_link_next(l, strlen(l), out, sizeof(out)), -EPROTO);
	l = "<https://h/a b>; rel=next";
	assert_int_equal(vx_source_link_next(l, strlen(l), out, sizeof(out)), -EPROTO);
}

/* A one-shot HTTP server: answers 404 and notes whether an Authorization header came. */
struct auth_probe {
	int fd;
	bool saw_auth, served;
};

static void *auth_probe_run(void *arg)
{
	static const char reply[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
				    "Connection: close\r\n\r\n";
	struct auth_probe *p = arg;
	char buf[8192];
	size_t n = 0;
	ssize_t k;
	int c = accept(p->fd, NULL, NULL);

	if (c < 0)
		return NULL;
	while (n < sizeof(buf) - 1 && (k = read(c, buf + n, sizeof(buf) - 1 - n)) > 0) {
		n += (size_t)k;
		buf[n] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	p->saw_auth = strcasestr(buf, "\nauthorization:") != NULL;
	p->served = true;
	if (write(c, reply, sizeof(reply) - 1) < 0)
		p->served = false;
	close(c);
	return NULL;
}

/*
 * dragonfly-behaviour.md 5.5 (secrets not passed on): a fetch for another host
 * (opts.outbound set) sends none of this host's own hub token, which would open a private
 * repository for a requester who cannot read it; a fetch for oneself sends it.
 */
static void test_vx_source_open__hub_token_not_for_another_host(void **state)
{
	struct vx_outbound_policy pol = { 0 };
	struct vx_source_opts o = { .outbound = &pol, .outbound_local = true };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct vx_source_error detail;
	struct vx_source_ctx *ctx;
	struct vx_source_obj *obj;
	socklen_t sl = sizeof(sa);
	char endpoint[64];

	(void)state;
	assert_int_equal(vx_source_ctx_new(&ctx, NULL), 0);
	setenv("HF_TOKEN", "hf_host_own_secret", 1);
	for (int pass = 0; pass < 2; pass++) {
		struct auth_probe p = { 0 };
		pthread_t th;

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = 0;
		p.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(p.fd >= 0);
		assert_int_equal(bind(p.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(listen(p.fd, 4), 0);
		assert_int_equal(getsockname(p.fd, (struct sockaddr *)&sa, &sl), 0);
		snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%u", ntohs(sa.sin_port));
		/* pass 0: for another host, endpoint from the options; pass 1: for oneself (no
		 * options), endpoint and token from the environment */
		o.hub_endpoint = endpoint;
		setenv("HF_ENDPOINT", endpoint, 1);
		assert_int_equal(pthread_create(&th, NULL, auth_probe_run, &p), 0);
		assert_int_equal(vx_source_open(ctx, "hf://acme/private/w.bin", pass ? NULL : &o,
						&obj, &detail),
				 VX_ESOURCE_NOTFOUND);
		shutdown(p.fd, SHUT_RDWR);
		assert_int_equal(pthread_join(th, NULL), 0);
		close(p.fd);
		assert_true(p.served);
		assert_int_equal(p.saw_auth, pass == 1);
	}
	unsetenv("HF_TOKEN");
	unsetenv("HF_ENDPOINT");
	vx_source_ctx_free(ctx);
}

struct index_seen {
	char got[1024];
};

static int index_cb(void *arg, const char *href, const char *name, bool is_dir)
{
	struct index_seen *x = arg;
	size_t n = strlen(x->got);

	snprintf(x->got + n, sizeof(x->got) - n, "%s=%s%s;", href, name, is_dir ? "/" : "");
	return 0;
}

/* Directory index pages (nginx autoindex, Apache mod_autoindex): plain names only. */
static void test_vx_source_html_index_parse__nginx_apache(void **state)
{
	static const char nginx[] =
		"<html><head><title>Index of /d/</title></head><body><h1>Index of /d/</h1><hr><pre>"
		"<a href=\"../\">../</a>\n<a href=\"sub/\">sub/</a>   07-Dec-2026 10:00   -\n"
		"<a href=\"a%20b.bin\">a b.bin</a>  07-Dec-2026 10:00  100000\n"
		"<a href=\"x&amp;y.txt\">x&amp;y.txt</a>  07-Dec-2026 10:00  12\n</pre><hr></body>";
	static const char apache[] =
		"<table><tr><th><a href=\"?C=N;O=D\">Name</a></th></tr>"
		"<tr><td><a href=\"/\">Parent Directory</a></td></tr>"
		"<tr><td><a href=\"f1.deb\"><img src=\"/icons/unknown.gif\"></a></td>"
		"<td><a href=\"f1.deb\">f1.deb</a></td></tr>"
		"<tr><td><A HREF='pool/'>pool/</A></td></tr>"
		"<tr><td><a href=\"http://evil.example/x\">x</a> <a href=\"../../etc/passwd\">p</a>"
		" <a href=\"%2e%2e/\">up</a> <a href=\"a%2fb\">s</a> <a href=\"b%00c\">n</a>"
		" <a title=\"href=nope\" href=\"ok.txt\">ok</a></td></tr></table>";
	struct index_seen x = { 0 };

	(void)state;
	assert_int_equal(vx_source_html_index_parse(nginx, sizeof(nginx) - 1, index_cb, &x), 0);
	assert_string_equal(x.got, "sub/=sub/;a%20b.bin=a b.bin;x&y.txt=x&y.txt;");
	memset(&x, 0, sizeof(x));
	assert_int_equal(vx_source_html_index_parse(apache, sizeof(apache) - 1, index_cb, &x), 0);
	assert_string_equal(x.got, "f1.deb=f1.deb;pool/=pool/;ok.txt=ok.txt;");
}

static int abs_item_cb(void *arg, const struct vx_source_s3_item *it)
{
	struct index_seen *x = arg;
	size_t n = strlen(x->got);

	snprintf(x->got + n, sizeof(x->got) - n, "%s=%lld;", it->key, (long long)it->size);
	return 0;
}

/*
 * abs:// (Azure Blob Storage): bad URLs are refused before any request, abs is never fetched
 * for another host (it would act with this host's key), and List Blobs pages parse (Name,
 * Content-Length, NextMarker; BlobPrefix entries are no blobs). The requests themselves run
 * against Azurite in tests/integration/sources_abs.sh. An OCI repository (oci://REG/NAME/, its
 * tags) is a directory opened without a request; with a tag or digest it is a bad URL.
 */
static void test_vx_source_open__abs_and_oci_repo_urls(void **state)
{
	static const char *const bad[] = {
		"abs://acct",	       "abs://ab/data/x",
		"abs://acct/x/y",      "abs://acct/data/x?a=b",
		"abs://u@acct/data/x", "abs://acct:99/data/x",
		"abs://acct/Data/x",   "abs://acct/data/%00",
		"abs://a_b/data/x",
	};
	static const char page[] =
		"<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ContainerName=\"c\">"
		"<Blobs><BlobPrefix><Name>p/</Name></BlobPrefix><Blob><Name>d/a &amp; b</Name>"
		"<Properties><Etag>0x1</Etag><Content-Length>12</Content-Length></Properties>"
		"<Metadata /></Blob><Blob><Name>d/z</Name><Properties><Content-Length>0"
		"</Content-Length></Properties></Blob></Blobs><NextMarker>m!2</NextMarker>"
		"</EnumerationResults>";
	struct vx_outbound_policy pol = { 0 };
	struct vx_source_opts o = { .outbound = &pol };
	struct vx_source_s3_page pg;
	struct vx_source_error detail;
	struct index_seen x = { 0 };
	struct vx_source_ctx *ctx;
	struct vx_source_obj *obj = NULL;
	char longkey[173]; /* 172 base64 characters: 129 bytes */

	(void)state;
	setenv("AZURE_STORAGE_BLOB_ENDPOINT", "http://127.0.0.1:9/acct", 1);
	assert_int_equal(vx_source_ctx_new(&ctx, NULL), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vx_source_open(ctx, bad[i], NULL, &obj, &detail), VX_EURL);
		assert_null(obj);
	}
	assert_int_equal(vx_source_open(ctx, "abs://acct/data/x", &o, &obj, &detail), -EACCES);
	assert_null(obj);
	/* a key that decodes to more than 128 bytes, or is no base64, is refused */
	memset(longkey, 'A', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	setenv("AZURE_STORAGE_KEY", longkey, 1);
	assert_int_equal(vx_source_open(ctx, "abs://acct/data/x", NULL, &obj, &detail), VX_EURL);
	setenv("AZURE_STORAGE_KEY", "not base64!", 1);
	assert_int_equal(vx_source_open(ctx, "abs://acct/data/x", NULL, &obj, &detail), VX_EURL);
	assert_null(obj);
	unsetenv("AZURE_STORAGE_KEY");
	assert_int_equal(
		vx_source_open(ctx, "oci+http://127.0.0.1:9/vx/app:t/", NULL, &obj, &detail),
		VX_EURL);
	assert_int_equal(vx_source_open(ctx, "oci+http://127.0.0.1:9/vx/app@sha256:00/", NULL, &obj,
					&detail),
			 VX_EURL);
	assert_int_equal(vx_source_open(ctx, "oci+http://127.0.0.1:9/vx/app/", NULL, &obj, &detail),
			 0);
	assert_true(vx_source_obj_stat(obj)->is_dir);
	vx_source_obj_free(obj);
	obj = NULL;
	vx_source_ctx_free(ctx);
	unsetenv("AZURE_STORAGE_BLOB_ENDPOINT");
	assert_int_equal(vx_source_abs_list_parse(page, sizeof(page) - 1, &pg, abs_item_cb, &x), 0);
	assert_string_equal(x.got, "d/a & b=12;d/z=0;");
	assert_true(pg.truncated);
	assert_string_equal(pg.next_token, "m!2");
	/* an S3 page is not an Azure page, nor the other way round */
	assert_int_equal(vx_source_s3_list_parse(page, sizeof(page) - 1, &pg, NULL, NULL), -EPROTO);
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
		cmocka_unit_test(test_vx_source_hub_ref_parse__forms),
		cmocka_unit_test(test_vx_source_hub_ref_parse__rejects),
		cmocka_unit_test(test_vx_source_hub_listings__parse),
		cmocka_unit_test(test_vx_source_html_index_parse__nginx_apache),
		cmocka_unit_test(test_vx_source_open__hub_token_not_for_another_host),
		cmocka_unit_test(test_vx_source_open__abs_and_oci_repo_urls),
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
