/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_proxy_rules.c: the forward proxy's default rules (proxy/src/proxy_fwd_req.c) as
 * package managers meet them: packages match the P2P rules and no direct rule; repository
 * metadata (APT, Yum/DNF, Maven, Alpine) matches a direct rule, which proxy.c checks first,
 * so it never becomes a task keyed by its changing URL (spec/proxy.md section 5.3).
 */
#include "vx_test.h"

#include <errno.h>
#include <string.h>

#include "vx_proxy_fwd.h"

static const char *const packages[] = {
	"http://deb.debian.org/debian/pool/main/c/curl/curl_7.88.1-10_amd64.deb",
	"http://mirror.example/fedora/39/x86_64/os/Packages/c/curl-8.2.1-3.fc39.x86_64.rpm",
	"http://repo1.maven.org/maven2/org/slf4j/slf4j-api/2.0.9/slf4j-api-2.0.9.jar",
	"http://dl-cdn.alpinelinux.org/alpine/v3.19/main/x86_64/curl-8.5.0-r0.apk",
	"http://files.example/pypi/numpy-1.26.2-cp311-cp311-manylinux_2_17_x86_64.whl",
	("http://registry.example/v2/lib/app/blobs/sha256:"
	 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
	"http://files.example/releases/tool-1.0.tar.gz",
};

static const char *const metadata[] = {
	"http://deb.debian.org/debian/dists/bookworm/InRelease",
	"http://deb.debian.org/debian/dists/bookworm/Release",
	"http://deb.debian.org/debian/dists/bookworm/Release.gpg",
	"http://deb.debian.org/debian/dists/bookworm/main/binary-amd64/Packages.gz",
	"http://deb.debian.org/debian/dists/bookworm/main/binary-amd64/Packages.xz",
	"http://deb.debian.org/debian/dists/bookworm/main/source/Sources.xz",
	"http://deb.debian.org/debian/dists/bookworm/main/Contents-amd64.gz",
	"http://deb.debian.org/debian/dists/bookworm/main/i18n/Translation-en.bz2",
	("http://deb.debian.org/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/"
	 "0123456789abcdef"),
	"http://flat.example/repo/Packages.gz",
	"http://mirror.example/fedora/39/x86_64/os/repodata/repomd.xml",
	("http://mirror.example/fedora/39/x86_64/os/repodata/"
	 "0123456789abcdef-primary.xml.gz"),
	"http://mirror.example/fedora/39/x86_64/os/repodata/abc-primary.sqlite.zst",
	"http://repo1.maven.org/maven2/org/slf4j/slf4j-api/maven-metadata.xml",
	"http://repo1.maven.org/maven2/org/slf4j/slf4j-api/maven-metadata.xml.sha1",
	"http://dl-cdn.alpinelinux.org/alpine/v3.19/main/x86_64/APKINDEX.tar.gz",
};

static void compile_defaults(struct vx_proxy_rules *p2p, struct vx_proxy_rules *direct)
{
	char err[256];

	assert_int_equal(vx_proxy_rules_compile(p2p, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(vx_proxy_rules_compile_as(direct, NULL, 0, vx_proxy_direct_default,
						   "proxy.direct_rules", err, sizeof(err)),
			 0);
}

static void test_defaults__packages_p2p_metadata_direct(void **state)
{
	struct vx_proxy_rules p2p, direct;

	(void)state;
	compile_defaults(&p2p, &direct);
	for (size_t i = 0; i < VX_ARRAY_SIZE(packages); i++) {
		if (!vx_proxy_rules_match(&p2p, packages[i]) ||
		    vx_proxy_rules_match(&direct, packages[i]))
			fail_msg("package not P2P: %s", packages[i]);
	}
	for (size_t i = 0; i < VX_ARRAY_SIZE(metadata); i++) {
		if (!vx_proxy_rules_match(&direct, metadata[i]))
			fail_msg("metadata not direct: %s", metadata[i]);
	}
	vx_proxy_rules_free(&p2p);
	vx_proxy_rules_free(&direct);
}

static void test_compile_as__names_the_key(void **state)
{
	struct vx_proxy_rules r;
	const char *bad[] = { "ok", "a[b" };
	char err[256] = "";

	(void)state;
	assert_int_equal(vx_proxy_rules_compile_as(&r, bad, 2, vx_proxy_direct_default,
						   "proxy.direct_rules", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "proxy.direct_rules[1]"));
	assert_int_equal(r.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults__packages_p2p_metadata_direct),
		cmocka_unit_test(test_compile_as__names_the_key),
	};

	return cmocka_run_group_tests_name("proxy_rules", tests, NULL, NULL);
}
