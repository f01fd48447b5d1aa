/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_outbound.c: the outbound address policy (vx_outbound.h) and its CIDR parser:
 * strict forms, the special ranges (loopback, link-local and cloud metadata, unspecified,
 * multicast, IPv4-mapped), private ranges allowed by default, allow and deny lists
 * (shared/reference/dragonfly-behaviour.md 5.5 item 8).
 */
#include "vx_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "vx_outbound.h"

static struct sockaddr_storage sa(const char *ip)
{
	struct sockaddr_storage ss = { 0 };

	if (strchr(ip, ':')) {
		ss.ss_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr),
				 1);
	} else {
		ss.ss_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr), 1);
	}
	return ss;
}

static int check(const struct vx_outbound_policy *p, bool local, const char *ip, char *why)
{
	struct sockaddr_storage ss = sa(ip);

	return vx_outbound_check(p, local, (struct sockaddr *)&ss, why, 128);
}

static void test_cidr_parse__strict(void **state)
{
	static const char *const good[] = {
		"10.0.0.0/8", "169.254.169.254",      "0.0.0.0/0",	 "fe80::/10",
		"::1",	      "::ffff:127.0.0.0/104", "192.168.1.128/25"
	};
	static const char *const bad[] = { "",
					   "/8",
					   "10.0.0.1/8",
					   "010.0.0.0/8",
					   "10.0.0/8",
					   "10.0.0.0.0",
					   "10.0.0.0/33",
					   "10.0.0.0/08",
					   "::1/129",
					   "fe80::1%lo",
					   "256.0.0.0",
					   "10.0.0.0/",
					   " 10.0.0.0/8",
					   "10.0.0.0/8 ",
					   "1.2.3.4/-1",
					   "host.example" };
	struct vx_cidr c;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(vx_cidr_parse(good[i], strlen(good[i]), &c), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0x5a, sizeof(c));
		assert_int_equal(vx_cidr_parse(bad[i], strlen(bad[i]), &c), -EINVAL);
		assert_int_equal(c.bits, 0x5a); /* untouched */
	}
	assert_int_equal(vx_cidr_parse("10.0.0.0/8", 10, &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.bits, 8);
}

static void test_outbound_check__ranges(void **state)
{
	static const char *const special[] = { "127.0.0.1",
					       "127.1.2.3",
					       "169.254.169.254",
					       "0.0.0.0",
					       "224.0.0.1",
					       "255.255.255.255",
					       "::1",
					       "::",
					       "fe80::1",
					       "ff02::1",
					       "fd00:ec2::254",
					       "::ffff:127.0.0.1",
					       "::ffff:169.254.169.254",
					       "100.100.100.200",    /* Alibaba Cloud metadata */
					       "64:ff9b::a9fe:a9fe", /* NAT64 to 169.254.169.254 */
					       "64:ff9b::808:808",   /* NAT64 reaches any IPv4 */
					       "::ffff:100.100.100.200" };
	static const char *const open[] = { "10.1.2.3",	       "172.16.0.1", "192.168.1.1",
					    "fd12::1",	       "8.8.8.8",    "2001:db8::1",
					    "100.100.100.201", "100.64.0.1", "64:ff9b:1::1",
					    "64:ff9a::1" };
	struct vx_outbound_policy p = { 0 };
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
		assert_int_equal(check(&p, false, special[i], why), -EACCES);
		assert_non_null(strstr(why, "refused by policy"));
		assert_int_equal(check(&p, true, special[i], why),
				 0); /* a requester on this host */
	}
	assert_int_equal(check(&p, false, "169.254.169.254", why), -EACCES);
	assert_string_equal(why, "outbound address 169.254.169.254 refused by policy");
	for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++)
		assert_int_equal(check(&p, false, open[i], why), 0);
	/* allow names a special range; deny names anything and wins */
	assert_int_equal(vx_outbound_add(&p, "127.0.0.0/8", false), 0);
	assert_int_equal(vx_outbound_add(&p, "10.0.0.0/8", true), 0);
	assert_int_equal(vx_outbound_add(&p, "127.0.0.2/32", true), 0);
	assert_int_equal(vx_outbound_add(&p, "10.0.0.1/8", true), -EINVAL);
	assert_int_equal(check(&p, false, "127.0.0.1", why), 0);
	assert_int_equal(check(&p, false, "::ffff:127.0.0.1", why), 0);
	assert_int_equal(check(&p, false, "127.0.0.2", why), -EACCES);
	assert_int_equal(check(&p, true, "10.9.9.9", why), -EACCES);
	assert_int_equal(check(&p, false, "169.254.169.254", why), -EACCES);
	assert_int_equal(check(&p, false, "192.168.1.1", why), 0);
}

static void test_addr_is_local(void **state)
{
	(void)state;
	assert_true(vx_addr_is_local("127.0.0.1"));
	assert_false(vx_addr_is_local("127.0.0.2")); /* not an interface address */
	assert_false(vx_addr_is_local("192.0.2.1"));
	assert_false(vx_addr_is_local("not-an-ip"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cidr_parse__strict),
		cmocka_unit_test(test_outbound_check__ranges),
		cmocka_unit_test(test_addr_is_local),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
