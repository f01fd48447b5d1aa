/* SPDX-License-Identifier: Apache-2.0 */
/*
 * no_io_uring.c: `no_io_uring PROGRAM ARGS...` runs PROGRAM with io_uring_setup refused (EPERM)
 * by a seccomp filter, as a container runtime's default profile refuses it, for that process
 * alone: a test can make `vx doctor`'s io_uring check fail without touching the host's
 * kernel.io_uring_disabled, which every other test running at the time depends on.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (argc < 2) {
		fprintf(stderr, "usage: no_io_uring PROGRAM [ARGS...]\n");
		return 2;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
		perror("no_io_uring: seccomp");
		return 2;
	}
	execvp(argv[1], argv + 1);
	perror("no_io_uring: exec");
	return 127;
}
