/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c: `vx-bench <name> [args]`: dispatches to one benchmark. Exit codes: 0 ran, 1 failed,
 * 2 bad command line.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "vx_net.h"

int vx_bench_free_port(void)
{
	const struct vx_net_opts o = { 0 };
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, port;

	if (vx_net_parse_addr("127.0.0.1:0", VX_NET_PORT0, &ss, &len))
		return -1;
	fd = vx_net_tcp_listen((const struct sockaddr *)&ss, len, &o, NULL);
	if (fd < 0)
		return -1;
	port = vx_net_local_port(fd);
	close(fd);
	return port > 0 ? port : -1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vx-bench <benchmark> [<args>]\n\nBenchmarks:\n");
	for (const struct vx_bench *const *b = vx_benches; *b; b++)
		fprintf(f, "  %-10s %s\n", (*b)->name, (*b)->summary);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	for (const struct vx_bench *const *b = vx_benches; *b; b++) {
		if (strcmp(argv[1], (*b)->name) == 0)
			return (*b)->run(argc - 1, argv + 1);
	}
	fprintf(stderr, "vx-bench: no benchmark '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
