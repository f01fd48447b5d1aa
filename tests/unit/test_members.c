/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_members.c: the member list of `vx serve --members` (vx_members.h): a static list is
 * kept canonical and sorted, bad lists are refused with a reason, a DNS name is resolved with
 * getaddrinfo ("localhost", which every host resolves without a DNS server) to sorted
 * IP:PORTs with the name's port, and only a member's IP is a member's address.
 */
#include "vx_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "vx_members.h"

static void test_members__static(void **state)
{
	struct vx_members_spec sp;
	char addrs[VX_MEMBERS_MAX][VX_NET_ADDR_STR_MAX];
	char err[160];
	const char *s = "10.0.0.2:4005,10.0.0.1:4005,[::1]:4006";
	static const char *const bad[] = { "",
					   "10.0.0.1:4005,",
					   "10.0.0.1:4005,host:4005",
					   "10.0.0.1:4005,10.0.0.1:4005",
					   "10.0.0.1:0",
					   "-x",
					   "name:99999",
					   "10.0.0.1:4005,,10.0.0.2:4005" };

	(void)state;
	assert_int_equal(vx_members_parse(s, strlen(s), 4005, &sp, err, sizeof(err)), 0);
	assert_false(sp.dns);
	assert_int_equal(sp.nr, 3);
	assert_int_equal(vx_members_resolve(&sp, addrs), 3);
	assert_string_equal(addrs[0], "10.0.0.1:4005"); /* sorted: one list on every member */
	assert_string_equal(addrs[1], "10.0.0.2:4005");
	assert_string_equal(addrs[2], "[::1]:4006");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(
			vx_members_parse(bad[i], strlen(bad[i]), 4005, &sp, err, sizeof(err)),
			-EINVAL);
		assert_true(err[0] != '\0');
	}
}

static void test_members__dns_and_admission(void **state)
{
	struct vx_members_spec sp;
	char addrs[VX_MEMBERS_MAX][VX_NET_ADDR_STR_MAX], ip[VX_NET_ADDR_STR_MAX];
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char err[160];
	bool v4 = false;
	int n;

	(void)state;
	assert_int_equal(vx_members_parse("localhost", 9, 4321, &sp, err, sizeof(err)), 0);
	assert_true(sp.dns);
	assert_int_equal(sp.port, 4321);
	n = vx_members_resolve(&sp, addrs);
	assert_true(n >= 1);
	for (int i = 0; i < n; i++) {
		v4 |= strcmp(addrs[i], "127.0.0.1:4321") == 0;
		if (i)
			assert_true(strcmp(addrs[i - 1], addrs[i]) < 0);
	}
	assert_true(v4);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	assert_true(vx_members_has_addr(addrs, (uint32_t)n, (struct sockaddr *)&sin, ip));
	assert_string_equal(ip, "127.0.0.1");
	inet_pton(AF_INET, "127.0.0.2", &sin.sin_addr);
	assert_false(vx_members_has_addr(addrs, (uint32_t)n, (struct sockaddr *)&sin, ip));
	assert_int_equal(
		vx_members_parse("no-such-name.invalid:4005", 25, 1, &sp, err, sizeof(err)), 0);
	assert_int_equal(vx_members_resolve(&sp, addrs), -EHOSTUNREACH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_members__static),
		cmocka_unit_test(test_members__dns_and_admission),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
