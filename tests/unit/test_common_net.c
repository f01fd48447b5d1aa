/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_net.c: vx_net.h on loopback: HOST:PORT parsing (IPv4, [IPv6], port 0), TCP
 * listen and dial with their options, unix listen (mode, an existing path) and dial, peer
 * credentials, and a descriptor passed over a unix socket.
 */
#include "vx_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_hostaddr.h"
#include "vx_net.h"

static void test_net_parse_hostport__forms(void **state)
{
	static const char *const bad[] = {
		"",	"h",	  ":80",     "h:",     "h:65536", "h:-1",     "h:+1",
		"h:1x", "::1:80", "[::1]80", "[::1]:", "h: 1",	  "h:000001", "[]:1",
	};
	char host[VX_NET_HOST_MAX], small[4];
	uint16_t port = 0;

	(void)state;
	assert_int_equal(vx_net_parse_hostport("127.0.0.1:8002", 0, host, sizeof(host), &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8002);
	assert_int_equal(vx_net_parse_hostport("[::1]:65535", 0, host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 65535);
	assert_int_equal(vx_net_parse_hostport("sched.example:1", 0, host, sizeof(host), &port), 0);
	assert_string_equal(host, "sched.example");
	assert_int_equal(vx_net_parse_hostport("h:0", 0, host, sizeof(host), &port), -EINVAL);
	assert_int_equal(vx_net_parse_hostport("h:0", VX_NET_PORT0, host, sizeof(host), &port), 0);
	assert_int_equal(port, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
			vx_net_parse_hostport(bad[i], VX_NET_PORT0, host, sizeof(host), &port),
			-EINVAL);
	assert_int_equal(vx_net_parse_hostport("long:1", 0, small, sizeof(small), &port), -EINVAL);
	assert_int_equal(vx_net_parse_hostport(NULL, 0, host, sizeof(host), &port), -EINVAL);
}

static void test_net_parse_addr__numeric_only(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char text[VX_NET_ADDR_STR_MAX];

	(void)state;
	assert_int_equal(vx_net_parse_addr("10.1.2.3:80", 0, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	vx_net_addr_str((struct sockaddr *)&ss, text, sizeof(text));
	assert_string_equal(text, "10.1.2.3:80");
	assert_int_equal(vx_net_parse_addr("[fe80::1]:4000", 0, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	vx_net_addr_str((struct sockaddr *)&ss, text, sizeof(text));
	assert_string_equal(text, "[fe80::1]:4000");
	assert_int_equal(vx_net_parse_addr("localhost:9", 0, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(vx_net_parse_addr("example.com:80", 0, &ss, &len), -EINVAL);
	assert_int_equal(vx_net_parse_addr("10.1.2.3:0", 0, &ss, &len), -EINVAL);
	assert_int_equal(vx_net_parse_addr("10.1.2.3:0", VX_NET_PORT0, &ss, &len), 0);
}

static void test_net_tcp__listen_dial_options(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct vx_net_opts lo = { .flags = VX_NET_NONBLOCK | VX_NET_REUSEADDR };
	struct vx_net_opts dopt = { .flags = VX_NET_NODELAY | VX_NET_KEEPALIVE, .sndbuf = 65536 };
	char err[VX_NET_ERR_LEN] = "";
	int l, d, a, port, v = 0;
	socklen_t vl = sizeof(v);

	(void)state;
	assert_int_equal(vx_net_resolve("127.0.0.1", 0, true, &ss, &len, err), 0);
	l = vx_net_tcp_listen((struct sockaddr *)&ss, len, &lo, err);
	assert_true(l >= 0);
	assert_true(fcntl(l, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(l, F_GETFL) & O_NONBLOCK);
	assert_int_equal(getsockopt(l, SOL_SOCKET, SO_REUSEADDR, &v, &vl), 0);
	assert_true(v);
	port = vx_net_local_port(l);
	assert_true(port > 0);
	((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);

	/* The same port again without REUSEPORT: a clear error naming the address. */
	assert_int_equal(vx_net_tcp_listen((struct sockaddr *)&ss, len, &lo, err), -EADDRINUSE);
	assert_non_null(strstr(err, "bind 127.0.0.1:"));

	d = vx_net_tcp_dial((struct sockaddr *)&ss, len, &dopt, err);
	assert_true(d >= 0);
	assert_int_equal(vx_net_so_error(d), 0);
	assert_int_equal(getsockopt(d, IPPROTO_TCP, TCP_NODELAY, &v, &vl), 0);
	assert_true(v);
	assert_int_equal(getsockopt(d, SOL_SOCKET, SO_KEEPALIVE, &v, &vl), 0);
	assert_true(v);
	assert_int_equal(getsockopt(d, SOL_SOCKET, SO_SNDBUF, &v, &vl), 0);
	assert_true(v >= 65536); /* the kernel doubles what it is given */
	a = accept(l, NULL, NULL);
	assert_true(a >= 0);
	assert_int_equal(write(d, "x", 1), 1);
	assert_int_equal(read(a, &v, 1), 1);
	close(a);
	close(d);
	close(l);

	/* Nobody listens any more: a blocking dial fails with the errno. */
	assert_int_equal(vx_net_tcp_dial((struct sockaddr *)&ss, len, &dopt, err), -ECONNREFUSED);
	assert_non_null(strstr(err, "connect 127.0.0.1:"));
	assert_int_equal(vx_net_resolve("no-such-host.invalid", 80, false, &ss, &len, err),
			 -EHOSTUNREACH);
	assert_non_null(strstr(err, "no-such-host.invalid"));
}

static void tmp_path(char *out, size_t len, const char *name)
{
	const char *dir = getenv("TMPDIR");

	snprintf(out, len, "%s/vx-net-%d-%s", dir && *dir ? dir : "/tmp", (int)getpid(), name);
	unlink(out);
}

static void test_net_unix__mode_cred_and_fd_passing(void **state)
{
	char path[256], err[VX_NET_ERR_LEN] = "", buf[8];
	struct stat st;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int l, c, s, got, pipefd[2];

	(void)state;
	tmp_path(path, sizeof(path), "sock");
	l = vx_net_unix_listen(path, 8, 0660, (gid_t)-1, VX_NET_NONBLOCK, err);
	assert_true(l >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	/* The path is taken: the caller decides whether it is stale. */
	assert_int_equal(vx_net_unix_listen(path, 8, 0660, (gid_t)-1, 0, err), -EADDRINUSE);

	c = vx_net_unix_dial(path, 1000, VX_NET_NONBLOCK, err);
	assert_true(c >= 0);
	assert_true(fcntl(c, F_GETFL) & O_NONBLOCK);
	s = accept(l, NULL, NULL);
	assert_true(s >= 0);
	assert_int_equal(vx_net_peer_cred(s, &pid, &uid, &gid), 0);
	assert_int_equal(pid, getpid());
	assert_int_equal(uid, getuid());
	assert_int_equal(gid, getgid());

	/* A pipe's write end goes over; a byte written through it comes out of our read end. */
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(vx_net_send_fd(s, "hi", 2, pipefd[1]), 2);
	close(pipefd[1]);
	assert_int_equal(vx_net_recv_fd(c, buf, sizeof(buf), &got), 2);
	assert_memory_equal(buf, "hi", 2);
	assert_true(got >= 0);
	assert_true(fcntl(got, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(write(got, "z", 1), 1);
	close(got);
	assert_int_equal(read(pipefd[0], buf, 1), 1);
	assert_int_equal(buf[0], 'z');
	close(pipefd[0]);
	/* Plain bytes: no descriptor. */
	assert_int_equal(write(s, "ok", 2), 2);
	assert_int_equal(vx_net_recv_fd(c, buf, sizeof(buf), &got), 2);
	assert_int_equal(got, -1);
	assert_int_equal(vx_net_recv_fd(c, buf, sizeof(buf), &got), -EAGAIN);
	close(s);
	assert_int_equal(vx_net_recv_fd(c, buf, sizeof(buf), &got), 0);
	close(c);
	close(l);
	unlink(path);

	assert_int_equal(vx_net_unix_dial(path, 1000, 0, err), -ENOENT);
	assert_non_null(strstr(err, path));
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(vx_net_unix_listen(path, 8, 0600, (gid_t)-1, 0, err), -ENAMETOOLONG);
}

/* The default route's interface: the lowest metric wins, "lo" and reject routes never do, other
 * routes are not default ones; IPv6's table has its own columns. */
static void test_route_default_if__tables(void **state)
{
	static const char v4[] = "Iface\tDestination\tGateway "
				 "\tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
				 "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
				 "eth1\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
				 "lo\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n"
				 "eth2\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
	static const char v4_down[] =
		"eth0\t00000000\t0101A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n";
	static const char v6[] =
		"fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
		"00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0\n"
		"00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
		"fd000000000000000000000000000001 00000400 00000002 00000000 00000003     ens3\n"
		"00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
		"00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
	char ifn[IF_NAMESIZE] = "unset";

	(void)state;
	assert_int_equal(vx_route_default_if(AF_INET, v4, sizeof(v4) - 1, ifn), 0);
	assert_string_equal(ifn, "eth1");
	assert_int_equal(vx_route_default_if(AF_INET6, v6, sizeof(v6) - 1, ifn), 0);
	assert_string_equal(ifn, "ens3");
	/* IPv4's table is not IPv6's: neither finds a default in the other */
	assert_int_equal(vx_route_default_if(AF_INET6, v4, sizeof(v4) - 1, ifn), -ENOENT);
	assert_int_equal(vx_route_default_if(AF_INET, v6, sizeof(v6) - 1, ifn), -ENOENT);
	assert_int_equal(vx_route_default_if(AF_INET, v4_down, sizeof(v4_down) - 1, ifn), -ENOENT);
	assert_int_equal(vx_route_default_if(AF_UNIX, v4, sizeof(v4) - 1, ifn), -EAFNOSUPPORT);
	assert_string_equal(ifn, "ens3");
	assert_true(vx_ip_is_loopback("127.0.0.1"));
	assert_true(vx_ip_is_loopback("127.9.8.7"));
	assert_true(vx_ip_is_loopback("::1"));
	assert_true(vx_ip_is_loopback("::ffff:127.0.0.1"));
	assert_false(vx_ip_is_loopback("10.0.0.1"));
	assert_false(vx_ip_is_loopback("::"));
	assert_false(vx_ip_is_loopback("localhost"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_parse_hostport__forms),
		cmocka_unit_test(test_net_parse_addr__numeric_only),
		cmocka_unit_test(test_net_tcp__listen_dial_options),
		cmocka_unit_test(test_net_unix__mode_cred_and_fd_passing),
		cmocka_unit_test(test_route_default_if__tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
