/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ring.c: probe, setup and SQE access for one io_uring ring. Everything here runs on the thread
 * that owns the ring, except vx_ring_probe(), which uses a ring of its own.
 */
#include "vx_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vx_assert.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VX_RING_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define VX_RING_ASAN 1
#endif
#ifdef VX_RING_ASAN
#include <sanitizer/asan_interface.h>
#endif

void vx_op_init(struct vx_op *op, enum vx_op_kind kind, void *owner, const uint32_t *owner_gen)
{
	VX_ASSERT(kind > VX_OP_NONE);
	VX_ASSERT(kind < VX_OP_KIND_NR);
	VX_ASSERT(!vx_op_armed(op));
	op->kind = (uint8_t)kind;
	op->flags = 0;
	op->gen = owner_gen ? *owner_gen : 0;
	op->owner_gen = owner_gen;
	op->owner = owner;
}

/* Reads kernel.io_uring_disabled; -1 when the sysctl does not exist (kernels before 6.6). */
static int read_io_uring_disabled(void)
{
	char buf[8] = { 0 };
	int fd = open("/proc/sys/kernel/io_uring_disabled", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	return buf[0] - '0';
}

static const struct {
	uint8_t opcode;
	const char *name;
} vx_ring_needed_ops[] = {
	{ IORING_OP_ACCEPT, "accept" },
	{ IORING_OP_RECV, "recv" },
	{ IORING_OP_SEND, "send" },
	{ IORING_OP_SPLICE, "splice" },
	{ IORING_OP_READ, "read" },
	{ IORING_OP_WRITE, "write" },
	{ IORING_OP_TIMEOUT, "timeout" },
	{ IORING_OP_LINK_TIMEOUT, "link_timeout" },
	{ IORING_OP_ASYNC_CANCEL, "async_cancel" },
	{ IORING_OP_CONNECT, "connect" },
	{ IORING_OP_CLOSE, "close" },
};

int vx_ring_probe(char *diag, size_t diag_len)
{
	struct io_uring ring;
	struct io_uring_probe *probe;
	int disabled;
	size_t i;
	int ret;

	VX_ASSERT(diag != NULL);
	VX_ASSERT(diag_len > 0);
	diag[0] = '\0';
	ret = io_uring_queue_init(8, &ring, 0);
	if (ret == -ENOSYS) {
		snprintf(diag, diag_len,
			 "io_uring_setup: not implemented (kernel older than 5.1, built without "
			 "CONFIG_IO_URING, or a seccomp filter answering ENOSYS)");
		return -ENOSYS;
	}
	if (ret == -EPERM || ret == -EACCES) {
		disabled = read_io_uring_disabled();
		if (disabled > 0)
			snprintf(diag, diag_len,
				 "io_uring_setup: refused; sysctl kernel.io_uring_disabled=%d "
				 "(set it to 0, or 1 with this user in kernel.io_uring_group)",
				 disabled);
		else
			snprintf(diag, diag_len,
				 "io_uring_setup: refused (%s); most likely a seccomp profile "
				 "(Docker "
				 "and containerd block io_uring by default) or an LSM policy",
				 strerror(-ret));
		return -EPERM;
	}
	if (ret < 0) {
		snprintf(diag, diag_len, "io_uring_setup: %s", strerror(-ret));
		return ret;
	}
	probe = io_uring_get_probe_ring(&ring);
	if (!probe) {
		io_uring_queue_exit(&ring);
		snprintf(diag, diag_len, "io_uring probe failed: kernel older than 5.6");
		return -EOPNOTSUPP;
	}
	ret = 0;
	for (i = 0; i < VX_ARRAY_SIZE(vx_ring_needed_ops); i++) {
		if (!io_uring_opcode_supported(probe, vx_ring_needed_ops[i].opcode)) {
			snprintf(diag, diag_len, "io_uring opcode %s not supported by this kernel",
				 vx_ring_needed_ops[i].name);
			ret = -EOPNOTSUPP;
			break;
		}
	}
	io_uring_free_probe(probe);
	io_uring_queue_exit(&ring);
	return ret;
}

int vx_ring_init(struct io_uring *ring, unsigned int entries, unsigned int *flags_out)
{
	static const unsigned int tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		0,
	};
	struct io_uring_params p;
	size_t i;
	int ret = -EINVAL;

	VX_ASSERT(ring != NULL);
	VX_ASSERT(entries > 0);
	for (i = 0; i < VX_ARRAY_SIZE(tries); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = tries[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = entries * 4;
		ret = io_uring_queue_init_params(entries, ring, &p);
		if (ret == 0) {
			if (flags_out)
				*flags_out = p.flags;
			return 0;
		}
		if (ret != -EINVAL)
			return ret;
	}
	return ret;
}

struct io_uring_sqe *vx_ring_get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (VX_LIKELY(sqe != NULL))
		return sqe;
	vx_ring_sanitize(ring);
	(void)io_uring_submit(ring);
	sqe = io_uring_get_sqe(ring);
	VX_ASSERT(sqe != NULL);
	return sqe;
}

void vx_ring_reserve(struct io_uring *ring, unsigned int nr)
{
	VX_ASSERT(nr <= ring->sq.ring_entries);
	if (io_uring_sq_space_left(ring) >= nr)
		return;
	vx_ring_sanitize(ring);
	(void)io_uring_submit(ring);
	VX_ASSERT(io_uring_sq_space_left(ring) >= nr);
}

#ifdef VX_RING_ASAN
static void check_region(const struct io_uring_sqe *sqe, const void *addr, size_t len)
{
	const void *bad;

	if (!addr || !len)
		return;
	bad = __asan_region_is_poisoned((void *)(uintptr_t)addr, len);
	if (bad) {
		fprintf(stderr, "vx_ring_sanitize: opcode %u names poisoned memory at %p\n",
			sqe->opcode, bad);
		VX_ASSERT(!"SQE names poisoned memory");
	}
}

void vx_ring_sanitize(struct io_uring *ring)
{
	unsigned int mask = ring->sq.ring_mask;
	unsigned int head;

	for (head = ring->sq.sqe_head; head != ring->sq.sqe_tail; head++) {
		const struct io_uring_sqe *sqe = &ring->sq.sqes[head & mask];
		const void *addr = (const void *)(uintptr_t)sqe->addr;

		switch (sqe->opcode) {
		case IORING_OP_SEND:
		case IORING_OP_RECV:
		case IORING_OP_READ:
		case IORING_OP_WRITE:
			check_region(sqe, addr, sqe->len);
			break;
		default:
			break;
		}
	}
}
#else
void vx_ring_sanitize(struct io_uring *ring)
{
	(void)ring;
}
#endif
