/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sources_s3.c: SigV4 signing against the examples AWS publishes for S3 (the "examplebucket"
 * requests of the SigV4 single-chunk documentation), AWS URI encoding, and the bounded
 * ListObjectsV2 reader.
 */
#include "vx_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_source.h"
#include "vx_source_parse.h"

#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define AK	  "AKIAIOSFODNN7EXAMPLE"
#define SK	  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

static void sign_example(const char *uri, const char *query, const struct vx_source_sigv4_hdr *h,
			 uint32_t n, char *out, size_t size)
{
	struct vx_source_sigv4_req r = {
		.method = "GET",
		.canon_uri = uri,
		.canon_query = query,
		.hdrs = h,
		.nr_hdrs = n,
		.payload_sha256 = EMPTY_SHA,
		.amz_date = "20130524T000000Z",
		.region = "us-east-1",
		.service = "s3",
		.access_key = AK,
		.secret_key = SK,
	};

	assert_int_equal(vx_source_sigv4_sign(&r, out, size), 0);
}

static void test_vx_source_sigv4_sign__aws_get_object(void **state)
{
	/* Headers deliberately out of order: the signer sorts them. */
	const struct vx_source_sigv4_hdr h[] = {
		{ "x-amz-date", "20130524T000000Z" },
		{ "range", "bytes=0-9" },
		{ "host", "examplebucket.s3.amazonaws.com" },
		{ "x-amz-content-sha256", EMPTY_SHA },
	};
	char auth[512];

	(void)state;
	sign_example("/test.txt", "", h, 4, auth, sizeof(auth));
	assert_string_equal(
		auth, "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request, "
		      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
		      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6"
		      "036bdb41");
}

static void test_vx_source_sigv4_sign__aws_list_objects(void **state)
{
	const struct vx_source_sigv4_hdr h[] = {
		{ "host", "examplebucket.s3.amazonaws.com" },
		{ "x-amz-content-sha256", EMPTY_SHA },
		{ "x-amz-date", "20130524T000000Z" },
	};
	char auth[512];

	(void)state;
	sign_example("/", "max-keys=2&prefix=J", h, 3, auth, sizeof(auth));
	assert_non_null(strstr(auth, "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670e"
				     "d5711ef69dc6f7"));
	sign_example("/", "lifecycle=", h, 3, auth, sizeof(auth));
	assert_non_null(strstr(auth, "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a"
				     "200a0136783543"));
}

static void test_vx_source_sigv4_sign__rejects(void **state)
{
	struct vx_source_sigv4_req r = { 0 };
	char auth[64];
	const struct vx_source_sigv4_hdr h[] = { { "host", "h" } };

	(void)state;
	assert_int_equal(vx_source_sigv4_sign(&r, auth, sizeof(auth)), -EINVAL);
	r = (struct vx_source_sigv4_req){ .method = "GET",
					  .canon_uri = "/",
					  .canon_query = "",
					  .hdrs = h,
					  .nr_hdrs = 1,
					  .payload_sha256 = EMPTY_SHA,
					  .amz_date = "20130524T000000Z",
					  .region = "r",
					  .service = "s3",
					  .access_key = AK,
					  .secret_key = SK };
	assert_int_equal(vx_source_sigv4_sign(&r, auth, sizeof(auth)), -EMSGSIZE);
	r.amz_date = "2013";
	assert_int_equal(vx_source_sigv4_sign(&r, auth, sizeof(auth)), -EINVAL);
}

static void test_vx_source_uri_encode__aws_rules(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(vx_source_uri_encode("a b/c~d*e", 9, true, out, sizeof(out)), 0);
	assert_string_equal(out, "a%20b/c~d%2Ae");
	assert_int_equal(vx_source_uri_encode("a/b", 3, false, out, sizeof(out)), 0);
	assert_string_equal(out, "a%2Fb");
	assert_int_equal(vx_source_uri_encode("\xff", 1, false, out, sizeof(out)), 0);
	assert_string_equal(out, "%FF");
	assert_int_equal(vx_source_uri_encode("abc", 3, false, out, 3), -EMSGSIZE);
}

struct items {
	int n;
	char last[256];
	int64_t total;
};

static int on_item(void *arg, const struct vx_source_s3_item *it)
{
	struct items *s = arg;

	s->n++;
	s->total += it->size;
	snprintf(s->last, sizeof(s->last), "%.*s", (int)it->key_len, it->key);
	return 0;
}

static void test_vx_source_s3_list_parse__page(void **state)
{
	const char *doc =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>"
		"<IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&amp;x"
		"</NextContinuationToken>"
		"<Contents><Key>p/a</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>"
		"<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>"
		"<StorageClass>STANDARD</StorageClass></Contents>"
		"<!-- a comment --><Contents><Key>p/b &amp; c&#x21;</Key><Size>6</Size>"
		"<Owner><ID>x</ID></Owner><ChecksumAlgorithm/></Contents>"
		"</ListBucketResult>";
	struct vx_source_s3_page page;
	struct items s = { 0 };

	(void)state;
	assert_int_equal(vx_source_s3_list_parse(doc, strlen(doc), &page, on_item, &s), 0);
	assert_true(page.truncated);
	assert_string_equal(page.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&x");
	assert_int_equal(page.nr_items, 2);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.total, 434240);
	assert_string_equal(s.last, "p/b & c!");
}

static void test_vx_source_s3_list_parse__rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"<Other/>",
		"<ListBucketResult>",
		"<ListBucketResult></ListBucket>",
		"<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&bogus;</Key></Contents></ListBucketResult>",
		"<ListBucketResult><a><b><c><d><e><f><g><h>x</h></g></f></e></d></c></b></a>"
		"</ListBucketResult>",
		"<ListBucketResult></ListBucketResult><ListBucketResult></ListBucketResult>",
		"junk<ListBucketResult></ListBucketResult>",
		"<ListBucketResult><Contents><Key>&#0;</Key></Contents></ListBucketResult>",
	};
	const char *err = "<Error><Code>NoSuchBucket</Code></Error>";
	struct vx_source_s3_page page;
	struct items s = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
			vx_source_s3_list_parse(bad[i], strlen(bad[i]), &page, on_item, &s),
			-EPROTO);
	assert_int_equal(vx_source_s3_list_parse(err, strlen(err), &page, on_item, &s), -EREMOTEIO);
	assert_int_equal(s.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_source_sigv4_sign__aws_get_object),
		cmocka_unit_test(test_vx_source_sigv4_sign__aws_list_objects),
		cmocka_unit_test(test_vx_source_sigv4_sign__rejects),
		cmocka_unit_test(test_vx_source_uri_encode__aws_rules),
		cmocka_unit_test(test_vx_source_s3_list_parse__page),
		cmocka_unit_test(test_vx_source_s3_list_parse__rejects),
	};

	return cmocka_run_group_tests_name("sources_s3", tests, NULL, NULL);
}
