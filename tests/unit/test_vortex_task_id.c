/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_vortex_task_id.c: task ids and the URL normalization behind them: Dragonfly's own
 * vectors, a table of URLs whose expected normalization was cross-checked against a WHATWG
 * implementation, query filtering, errors, content and persistent-cache modes, piece plan.
 */
#include "vx_test.h"

#include <errno.h>
#include <stdio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_piece_plan.h"
#include "vx_task_id.h"
#include "vx_url.h"

static const char *normalize(const char *url, const char *const *filters, size_t nr)
{
	static char out[VX_URL_OUT_MAX(VX_URL_INPUT_MAX)];
	ssize_t n =
		vx_url_normalize_for_task_id(url, strlen(url), filters, nr, out, sizeof(out), NULL);

	return n < 0 ? NULL : out;
}

static void test_vx_task_id_from_url__dragonfly_vectors(void **state)
{
	static const char *const foo_bar[] = { "foo", "bar" };
	struct vx_task_id_params p = { .url = "https://example.com",
				       .tag = "foo",
				       .application = "bar",
				       .revision = "v1.0",
				       .piece_length = 1024 };
	char id[VX_TASK_ID_LEN + 1], norm[256];

	(void)state;
	assert_int_equal(vx_task_id_from_url(&p, id, norm, sizeof(norm), NULL), 0);
	assert_string_equal(id, "5844f27a257287e9b734256bb25603d8005422ced8c0377f15063ec11963b25f");
	assert_string_equal(norm, "https://example.com");

	p.revision = NULL;
	p.piece_length = 0;
	assert_int_equal(vx_task_id_from_url(&p, id, NULL, 0, NULL), 0);
	assert_string_equal(id, "06408fbf247ddaca478f8cb9565fe5591c28efd0994b8fea80a6a87d3203c5ca");

	p.tag = NULL;
	p.application = "";
	p.piece_length = 1024;
	assert_int_equal(vx_task_id_from_url(&p, id, NULL, 0, NULL), 0);
	assert_string_equal(id, "9f7c9aafbc6f30f8f41a96ca77eeae80c5b60964b3034b0ee43ccf7b2f9e52b8");

	p.url = "https://example.com?foo=foo&bar=bar";
	p.application = NULL;
	p.piece_length = 0;
	p.filtered_params = foo_bar;
	p.nr_filtered_params = 2;
	assert_int_equal(vx_task_id_from_url(&p, id, norm, sizeof(norm), NULL), 0);
	assert_string_equal(id, "457b4328cde278e422c9e243f7bfd1e97f511fec43a80f535cf6b0ef6b086776");
	assert_string_equal(norm, "https://example.com");
}

static void test_vx_task_id_from_content__dragonfly_vector(void **state)
{
	char id[VX_TASK_ID_LEN + 1];

	(void)state;
	assert_int_equal(vx_task_id_from_content("This is a test file", 19, id), 0);
	assert_string_equal(id, "e2d0fe1585a63ec6009c8016ff8dda8b17719a637405a4e23c0ff81339148249");
	assert_int_equal(vx_task_id_from_content(NULL, 0, id), 0);
	assert_string_equal(id, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* expected NULL: the URL must be rejected */
static const struct {
	const char *url;
	const char *want;
} url_cases[] = {
	{ "https://example.com", "https://example.com" },
	{ "https://example.com?foo=foo&bar=bar", "https://example.com/?foo=foo&bar=bar" },
	{ "HTTPS://EXAMPLE.COM/A/B", "https://example.com/A/B" },
	{ "http://example.com:80/x", "http://example.com/x" },
	{ "http://example.com:0080/x", "http://example.com/x" },
	{ "https://example.com:443/", "https://example.com" },
	{ "https://example.com:8443/", "https://example.com:8443" },
	{ "http://example.com:/x", "http://example.com/x" },
	{ "ftp://example.com:21/f", "ftp://example.com/f" },
	{ "ws://example.com:80/f", "ws://example.com/f" },
	{ "http://a/b/c/./../../g", "http://a/g" },
	{ "http://a/b/c/../../../g", "http://a/g" },
	{ "http://a/b/%2e%2E/c", "http://a/c" },
	{ "http://a/b/.%2e/c", "http://a/c" },
	{ "http://a/b/./", "http://a/b/" },
	{ "http://a/b/..", "http://a" },
	{ "http://a//b//c", "http://a//b//c" },
	{ "http://a\\b\\c", "http://a/b/c" },
	{ "http:\\\\a\\b", "http://a/b" },
	{ "http:example.com/x", "http://example.com/x" },
	{ "http:///example.com/x", "http://example.com/x" },
	{ "http://a/b c", "http://a/b%20c" },
	{ "http://a/b%20c", "http://a/b%20c" },
	{ "http://a/ä", "http://a/%C3%A4" },
	{ "http://a/x?q=a b", "http://a/x?q=a+b" },
	{ "http://a/x?q=a+b", "http://a/x?q=a+b" },
	{ "http://a/x?q=a%2Bb", "http://a/x?q=a%2Bb" },
	{ "http://a/x?flag", "http://a/x?flag=" },
	{ "http://a/x?a=1&a=2&b", "http://a/x?a=1&a=2&b=" },
	{ "http://a/x?a=1&&&a=2", "http://a/x?a=1&a=2" },
	{ "http://a/x?=v", "http://a/x?=v" },
	{ "http://a/x?k=v/w:z", "http://a/x?k=v%2Fw%3Az" },
	{ "http://a/x?k=%zz", "http://a/x?k=%25zz" },
	{ "http://a/x?k=%FF", "http://a/x?k=%EF%BF%BD" },
	{ "http://a/x?k=ä", "http://a/x?k=%C3%A4" },
	{ "http://a/x?X-Amz-Signature=abc&X-Amz-Date=1&keep=1", "http://a/x?keep=1" },
	{ "http://a/x?X-Amz-Signature=abc", "http://a/x" },
	{ "http://a/x?x-amz-signature=abc", "http://a/x?x-amz-signature=abc" },
	{ "http://a/x?", "http://a/x" },
	{ "http://a/x?#frag", "http://a/x#frag" },
	{ "http://a/x#frag ment", "http://a/x#frag%20ment" },
	{ "http://a/x#", "http://a/x#" },
	{ "http://a/#/", "http://a/#" },
	{ "http://a/?x=1#f", "http://a/?x=1#f" },
	{ "http://user:pass@a/x", "http://user:pass@a/x" },
	{ "http://user@a/x", "http://user@a/x" },
	{ "http://:pass@a/x", "http://:pass@a/x" },
	{ "http://u:@a/x", "http://u@a/x" },
	{ "http://@a/x", "http://a/x" },
	{ "http://a@b@c/x", "http://a%40b@c/x" },
	{ "http://u:p:q@a/x", "http://u:p%3Aq@a/x" },
	{ "http://[::1]/x", "http://[::1]/x" },
	{ "http://[::1]:8080/x", "http://[::1]:8080/x" },
	{ "http://[2001:DB8:0:0:0:0:0:1]/", "http://[2001:db8::1]" },
	{ "http://[2001:db8::1:0:0:1]/", "http://[2001:db8::1:0:0:1]" },
	{ "http://[::ffff:192.168.0.1]/", "http://[::ffff:c0a8:1]" },
	{ "http://[1:0:0:2:0:0:0:3]/", "http://[1:0:0:2::3]" },
	{ "http://[0:0:0:0:0:0:0:0]/", "http://[::]" },
	{ "http://192.168.0.1/", "http://192.168.0.1" },
	{ "http://0x7f.1/", "http://127.0.0.1" },
	{ "http://0177.0.0.1/", "http://127.0.0.1" },
	{ "http://2130706433/", "http://127.0.0.1" },
	{ "http://1.2.3/", "http://1.2.0.3" },
	{ "http://1.2.3.4./", "http://1.2.3.4" },
	{ "http://256.1.1.1/", NULL },
	{ "http://1.2.3.4.5/", NULL },
	{ "http://a.1/", NULL },
	{ "http://%41.com/", "http://a.com" },
	{ "http://EXAMPLE.com./", "http://example.com." },
	{ "http://ex%2Fample.com/", NULL },
	{ "http://ex ample.com/", NULL },
	{ "http://example.com:65536/", NULL },
	{ "http://example.com:12a/", NULL },
	{ "http://", NULL },
	{ "http://:80/", NULL },
	{ "relative/path", NULL },
	{ "s3://Bucket/Key/../x", "s3://Bucket/x" },
	{ "s3://bucket", "s3://bucket" },
	{ "s3://bucket/", "s3://bucket" },
	{ "s3://bucket/a b?x=1", "s3://bucket/a%20b?x=1" },
	{ "s3://Bucket:9000/k", "s3://Bucket:9000/k" },
	{ "hdfs://nn:8020/a/b", "hdfs://nn:8020/a/b" },
	{ "oci://registry.example.com/repo@sha256:abc",
	  "oci://registry.example.com/repo@sha256:abc" },
	{ "mailto:User@Example.com", "mailto:User@Example.com" },
	{ "data:text/plain,hello world ?x", "data:text/plain,hello world ?x=" },
	{ "file:///etc/passwd", "file:///etc/passwd" },
	{ "file://localhost/etc/passwd", "file:///etc/passwd" },
	{ "file://host/share/x", "file://host/share/x" },
	{ "file:/etc/x", "file:///etc/x" },
	{ "file:etc/x", "file:///etc/x" },
	{ "  http://a/x  ", "http://a/x" },
	{ "http://a/x\t/y", "http://a/x/y" },
	{ "http://a/x\n/y", "http://a/x/y" },
	{ "http://a/{}|^`\"<>", "http://a/%7B%7D|^%60%22%3C%3E" },
	{ "http://a/x?{}|^`\"<>'", "http://a/x?%7B%7D%7C%5E%60%22%3C%3E%27=" },
	{ "http://a/x#{}|^`\"<>", "http://a/x#{}|^%60%22%3C%3E" },
	{ "https://dragonfly.io/blobs/sha256:abc?ns=docker.io",
	  "https://dragonfly.io/blobs/sha256:abc" },
	{ "https://bucket.s3.amazonaws.com/"
	  "obj?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fs3%"
	  "2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&"
	  "X-Amz-Signature=deadbeef&versionId=3",
	  "https://bucket.s3.amazonaws.com/obj?versionId=3" },
	/* beyond the cross-checked table: the url crate's own behaviour */
	{ "file:////x", "file:///x" },
	{ "http://b\xC3\xBC"
	  "cher.de/",
	  NULL },
	{ "", NULL },
	{ " \t ", NULL },
	{ "1http://a/", NULL },
	{ "http://[::1/", NULL },
	{ "http://[::1]x/", NULL },
	{ "http://[1:2:3:4:5:6:7:8:9]/", NULL },
	{ "http://[::1::2]/", NULL },
	{ "http://[1.2.3.4]/", NULL },
	{ "http://[::1.2.3.256]/", NULL },
	{ "http://0x100000000/", NULL },
	{ "http://4294967295/", "http://255.255.255.255" },
	{ "http://4294967296/", NULL },
	{ "http://09.1/", NULL },
	{ "s3://[::1]:9000/k", "s3://[::1]:9000/k" },
	{ "s3://a b/", NULL },
	{ "s3://:9000/", NULL },
	{ "s3://u@/x", NULL },
	{ "s3:///x", "s3:///x" },
	{ "s3:/a/b", "s3:/a/b" },
	{ "file://h:1/x", NULL },
	{ "HTTP://A.B/%7e?A=%41#%41", "http://a.b/%7e?A=A#%41" },
	/* the url crate where newer WHATWG text (and node) differ */
	{ "oci:///.%2e#f", "oci:///#f" },
	{ "hdfs://h:1/a/..#f", "hdfs://h:1/#f" },
	{ "s3://h:9000\\k", "s3://h:9000/\\k" },
	{ "file://@host/x", NULL },
	{ "file://u:p@host/x", NULL },
	/* the trailing-slash rule trims the whole string, fragment included */
	{ "oci:/.%2e?k=a b#/", "oci:/?k=a+b#" },
};

static void test_vx_url_normalize_for_task_id__table(void **state)
{
	int failures = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
		const char *got = normalize(url_cases[i].url, NULL, 0);
		bool ok = url_cases[i].want ? (got && strcmp(got, url_cases[i].want) == 0)
					    : got == NULL;

		if (!ok) {
			fprintf(stderr, "case %zu: %s\n  want %s\n  got  %s\n", i, url_cases[i].url,
				url_cases[i].want ? url_cases[i].want : "(error)",
				got ? got : "(error)");
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

static void test_vx_url_normalize_for_task_id__filters(void **state)
{
	static const char *const keep_all[] = { NULL };
	static const char *const drop_a[] = { "a", "b c" };

	(void)state;
	/* an explicit empty list drops nothing, even signed-URL keys */
	assert_string_equal(normalize("http://h/x?X-Amz-Date=1&ns=x", keep_all, 0),
			    "http://h/x?X-Amz-Date=1&ns=x");
	/* default list when filters is NULL */
	assert_string_equal(normalize("http://h/x?X-Amz-Date=1&ns=x", NULL, 0), "http://h/x");
	/* match on the decoded key: "b+c" and "b%20c" are "b c" */
	assert_string_equal(normalize("http://h/x?a=1&b+c=2&b%20c=3&d=4", drop_a, 2),
			    "http://h/x?d=4");
	/* repeated keys all go, order of the rest kept */
	assert_string_equal(normalize("http://h/x?z=1&a=1&y=2&a=2", drop_a, 2),
			    "http://h/x?z=1&y=2");
	/* a decoded NUL inside a key is part of the key */
	assert_string_equal(normalize("http://h/x?a%00b=1&a=2", drop_a, 2), "http://h/x?a%00b=1");
	/* the fragment stays when the query goes */
	assert_string_equal(normalize("http://h/?a=1#frag", drop_a, 2), "http://h/#frag");
}

static void test_vx_url_normalize_for_task_id__errors(void **state)
{
	char out[64], big[VX_URL_INPUT_MAX + 2];
	enum vx_url_error why;
	ssize_t n;

	(void)state;
	n = vx_url_normalize_for_task_id("nope", 4, NULL, 0, out, sizeof(out), &why);
	assert_int_equal(n, VX_EURL);
	assert_int_equal(why, VX_URL_ERR_NO_SCHEME);
	assert_string_equal(out, "");
	assert_non_null(strstr(vx_url_strerror(why), "scheme"));

	n = vx_url_normalize_for_task_id("http://a:99999/", 15, NULL, 0, out, sizeof(out), &why);
	assert_int_equal(n, VX_EURL);
	assert_int_equal(why, VX_URL_ERR_BAD_PORT);

	n = vx_url_normalize_for_task_id("http://\xff/", 9, NULL, 0, out, sizeof(out), &why);
	assert_int_equal(n, VX_EURL);
	assert_int_equal(why, VX_URL_ERR_NOT_UTF8);

	n = vx_url_normalize_for_task_id("http://b\xC3\xBC.de/", 14, NULL, 0, out, sizeof(out),
					 &why);
	assert_int_equal(n, VX_EURL);
	assert_int_equal(why, VX_URL_ERR_IDN);

	/* too small an output: -ENOSPC and an empty string, never a truncated URL */
	n = vx_url_normalize_for_task_id("http://example.com/abcdef", 25, NULL, 0, out, 10, &why);
	assert_int_equal(n, -ENOSPC);
	assert_string_equal(out, "");
	/* exactly enough */
	n = vx_url_normalize_for_task_id("http://example.com/abcdef", 25, NULL, 0, out, 26, &why);
	assert_int_equal(n, 25);

	memset(big, 'a', sizeof(big));
	memcpy(big, "http://h/", 9);
	n = vx_url_normalize_for_task_id(big, sizeof(big), NULL, 0, out, sizeof(out), &why);
	assert_int_equal(n, -E2BIG);
	assert_int_equal(why, VX_URL_ERR_TOO_LONG);
}

static void test_vx_url_normalize_for_task_id__worst_case_fits(void **state)
{
	/* every byte a decoded invalid UTF-8 byte: 3 input bytes become 9 output bytes */
	static char in[VX_URL_INPUT_MAX];
	static char out[VX_URL_OUT_MAX(VX_URL_INPUT_MAX)];
	size_t n = 0;
	ssize_t r;

	(void)state;
	memcpy(in, "http://h/?", 10);
	n = 10;
	while (n + 3 <= sizeof(in)) {
		memcpy(in + n, "%FF", 3);
		n += 3;
	}
	r = vx_url_normalize_for_task_id(in, n, NULL, 0, out, sizeof(out), NULL);
	assert_true(r > 0);
	assert_true((size_t)r < sizeof(out));
}

static void test_vx_task_id_from_url__field_limits(void **state)
{
	static char tag[VX_TASK_ID_FIELD_MAX + 2];
	struct vx_task_id_params p = { .url = "http://h/", .tag = tag };
	char id[VX_TASK_ID_LEN + 1], norm[8];
	enum vx_url_error why;

	(void)state;
	memset(tag, 't', sizeof(tag) - 1);
	assert_int_equal(vx_task_id_from_url(&p, id, NULL, 0, NULL), -E2BIG);
	tag[VX_TASK_ID_FIELD_MAX] = '\0';
	assert_int_equal(vx_task_id_from_url(&p, id, NULL, 0, NULL), 0);
	assert_true(vx_task_id_valid(id, strlen(id)));
	/* normalized buffer too small */
	assert_int_equal(vx_task_id_from_url(&p, id, norm, 4, NULL), -ENOSPC);
	p.url = "::";
	assert_int_equal(vx_task_id_from_url(&p, id, NULL, 0, &why), VX_EURL);
	assert_int_equal(why, VX_URL_ERR_NO_SCHEME);
}

static void test_vx_task_id_hasher__persistent_cache(void **state)
{
	struct vx_task_id_hasher *h;
	char id[VX_TASK_ID_LEN + 1], want[VX_TASK_ID_LEN + 1];
	char all[64];
	int n;

	(void)state;
	/* sha256(file || tag || application || piece length || "PERSISTENT_CACHE") */
	n = snprintf(all, sizeof(all), "%s%s%s%s%s", "hello, world", "t", "app", "4194304",
		     "PERSISTENT_CACHE");
	assert_int_equal(vx_task_id_from_content(all, (size_t)n, want), 0);
	assert_int_equal(vx_task_id_hasher_new(&h), 0);
	/* fed in uneven chunks: the incremental API must not care */
	assert_int_equal(vx_task_id_hasher_update(h, "hel", 3), 0);
	assert_int_equal(vx_task_id_hasher_update(h, "", 0), 0);
	assert_int_equal(vx_task_id_hasher_update(h, "lo, world", 9), 0);
	assert_int_equal(vx_task_id_hasher_final_persistent_cache(h, "t", "app", 4194304, id), 0);
	assert_string_equal(id, want);
	vx_task_id_hasher_free(h);
	vx_task_id_hasher_free(NULL);

	/* no optional fields */
	n = snprintf(all, sizeof(all), "%s%s", "x", "PERSISTENT_CACHE");
	assert_int_equal(vx_task_id_from_content(all, (size_t)n, want), 0);
	assert_int_equal(vx_task_id_hasher_new(&h), 0);
	assert_int_equal(vx_task_id_hasher_update(h, "x", 1), 0);
	assert_int_equal(vx_task_id_hasher_final_persistent_cache(h, NULL, "", 0, id), 0);
	assert_string_equal(id, want);
	vx_task_id_hasher_free(h);
}

/* Each allocation failing in turn: a clean -ENOMEM, no output, no leak (ASan checks). */
static void test_vx_task_id_from_url__alloc_failures(void **state)
{
	struct vx_task_id_params p = { .url = "http://h/x?a=1" };
	struct vx_task_id_hasher *h = (struct vx_task_id_hasher *)&p;
	char id[VX_TASK_ID_LEN + 1];

	(void)state;
#if !defined(VX_DEBUG) || !VX_DEBUG
	skip();
#endif
	vx_fault_arm(VX_FAULT_ALLOC, 1);
	assert_int_equal(vx_task_id_from_url(&p, id, NULL, 0, NULL), -ENOMEM);
	assert_string_equal(id, "");
	vx_fault_arm(VX_FAULT_ALLOC, 1);
	assert_int_equal(vx_task_id_hasher_new(&h), -ENOMEM);
	assert_null(h);
	vx_fault_arm(VX_FAULT_ALLOC, 0);
	assert_int_equal(vx_task_id_from_url(&p, id, NULL, 0, NULL), 0);
}

static void test_vx_url_redact__secrets(void **state)
{
	static const char *const cases[][2] = {
		{ "https://u:pw@h:1/p?X-Amz-Signature=abc&a=1#f",
		  "https://REDACTED@h:1/p?X-Amz-Signature=REDACTED&a=1#REDACTED" },
		{ "http://h/p@q?s", "http://h/p@q?s" },
		{ "https://h/o?sv=2021&se=x&sp=r&sig=a%2Bb",
		  "https://h/o?sv=REDACTED&se=REDACTED&sp=REDACTED&sig=REDACTED" },
		{ "https://h/o?x-amz-signature=1;Token=2&%73ig=3&flag&k=v",
		  "https://h/o?x-amz-signature=REDACTED;Token=REDACTED&%73ig=REDACTED&flag&k=v" },
		{ "https://h/o?Policy=p&Key-Pair-Id=k&Signature=s&Expires=9",
		  "https://h/"
		  "o?Policy=REDACTED&Key-Pair-Id=REDACTED&Signature=REDACTED&Expires=REDACTED" },
		{ "u:pw@h/x", "u:pw@h/x" },
		{ "", "" },
	};
	char out[256];
	size_t nr_filters;
	const char *const *filters = vx_url_default_filtered_query_params(&nr_filters);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(vx_url_redact_str(cases[i][0], out, sizeof(out)), cases[i][1]);
	assert_string_equal(vx_url_redact_str(NULL, out, sizeof(out)), "");
	/* cut to fit, NUL-terminated, the secret never written */
	assert_string_equal(vx_url_redact_str("http://h/?sig=secret", out, 14), "http://h/?sig");
	/* every signed-URL key the task id ignores is a credential (containerd's "ns" is not) */
	for (size_t i = 0; i < nr_filters; i++) {
		char u[128];

		snprintf(u, sizeof(u), "http://h/?%s=1", filters[i]);
		assert_int_equal(vx_url_has_credentials(u, strlen(u)),
				 strcmp(filters[i], "ns") != 0);
	}
	assert_true(vx_url_has_credentials("https://a:b@h/", 14));
	assert_true(vx_url_has_credentials("https://h/?a=1&X-Amz-Signature=2", 32));
	assert_false(vx_url_has_credentials("https://h/?a=1&ns=2#sig=1", 25));
	assert_false(vx_url_has_credentials("https://h/p@q", 13));
}

static void test_vx_task_id_valid__forms(void **state)
{
	(void)state;
	assert_true(vx_task_id_valid(
		"5844f27a257287e9b734256bb25603d8005422ced8c0377f15063ec11963b25f", 64));
	assert_false(vx_task_id_valid(
		"5844F27a257287e9b734256bb25603d8005422ced8c0377f15063ec11963b25f", 64));
	assert_false(vx_task_id_valid(
		"5844f27a257287e9b734256bb25603d8005422ced8c0377f15063ec11963b25", 63));
	assert_false(vx_task_id_valid(
		"5844f27a257287e9b734256bb25603d8005422ced8c0377f15063ec11963b25g", 64));
}

static void test_vx_piece_length_for__dragonfly_rule(void **state)
{
	(void)state;
	assert_int_equal(vx_piece_length_for(0), VX_PIECE_LENGTH_MIN);
	assert_int_equal(vx_piece_length_for(1), VX_PIECE_LENGTH_MIN);
	assert_int_equal(vx_piece_length_for(1ull << 30), 4ull << 20);
	assert_int_equal(vx_piece_count(1ull << 30, 4ull << 20), 256);
	assert_int_equal(vx_piece_length_for(4ull << 30), 16ull << 20);
	assert_int_equal(vx_piece_length_for(30ull << 30), 64ull << 20);
	assert_int_equal(vx_piece_count(30ull << 30, 64ull << 20), 480);
	assert_int_equal(vx_piece_length_for(UINT64_MAX), VX_PIECE_LENGTH_MAX);
	/* just above a power of two: 2 GiB + 1 -> 2 GiB/500 rounds up to 8 MiB */
	assert_int_equal(vx_piece_length_for((2ull << 30) + 500), 8ull << 20);
}

static void test_vx_piece_count__edges(void **state)
{
	(void)state;
	assert_int_equal(vx_piece_count(0, 4096), 0);
	assert_int_equal(vx_piece_count(1, 4096), 1);
	assert_int_equal(vx_piece_count(4096, 4096), 1);
	assert_int_equal(vx_piece_count(4097, 4096), 2);
	assert_int_equal(vx_piece_count(UINT64_MAX, 1), UINT32_MAX);
	assert_int_equal(vx_piece_size(1, 4097, 4096), 1);
	assert_int_equal(vx_piece_size(0, 4097, 4096), 4096);
	assert_int_equal(vx_piece_offset(3, 4096), 3 * 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_task_id_from_url__dragonfly_vectors),
		cmocka_unit_test(test_vx_task_id_from_content__dragonfly_vector),
		cmocka_unit_test(test_vx_url_normalize_for_task_id__table),
		cmocka_unit_test(test_vx_url_redact__secrets),
		cmocka_unit_test(test_vx_url_normalize_for_task_id__filters),
		cmocka_unit_test(test_vx_url_normalize_for_task_id__errors),
		cmocka_unit_test(test_vx_url_normalize_for_task_id__worst_case_fits),
		cmocka_unit_test(test_vx_task_id_from_url__field_limits),
		cmocka_unit_test(test_vx_task_id_hasher__persistent_cache),
		cmocka_unit_test(test_vx_task_id_from_url__alloc_failures),
		cmocka_unit_test(test_vx_task_id_valid__forms),
		cmocka_unit_test(test_vx_piece_length_for__dragonfly_rule),
		cmocka_unit_test(test_vx_piece_count__edges),
	};

	return cmocka_run_group_tests_name("vortex_task_id", tests, NULL, NULL);
}
