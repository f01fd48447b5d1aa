/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_creds.c: a daemon running as root acts on the file system with a client's rights. The
 * calling thread alone switches its filesystem uid and gid and its supplementary groups to the
 * client's, does its opens, creates or renames, and switches back. Raw system calls, because
 * the kernel keeps these credentials per thread while glibc's setgroups() and setfsuid()
 * wrappers broadcast setgroups to every thread of the process (setxid): the loop and the other
 * pool threads keep root's rights meanwhile. A filesystem uid other than 0 also drops the
 * filesystem capabilities (CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_CHOWN...) of the thread, so the
 * kernel checks permission bits, ACLs, sticky directories and quotas exactly as for the client.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "peer_int.h"
#include "vx_log.h"

/* The 32-bit id calls where an architecture has both (i386, arm); the only ones elsewhere. */
#ifdef SYS_setfsuid32
#define PC_SETFSUID  SYS_setfsuid32
#define PC_SETFSGID  SYS_setfsgid32
#define PC_SETGROUPS SYS_setgroups32
#define PC_GETGROUPS SYS_getgroups32
#else
#define PC_SETFSUID  SYS_setfsuid
#define PC_SETFSGID  SYS_setfsgid
#define PC_SETGROUPS SYS_setgroups
#define PC_GETGROUPS SYS_getgroups
#endif

/* setfsuid/setfsgid return the previous value and never fail visibly: read back to check. */
static long fs_id(long nr, uint32_t want)
{
	(void)syscall(nr, (unsigned long)want);
	return syscall(nr, (unsigned long)-1); /* -1 is invalid: changes nothing, returns current */
}

int vx__peer_creds_enter(const struct peer_job *c, struct peer_creds_saved *s)
{
	long n;

	s->fsuid = (uint32_t)syscall(PC_SETFSUID, (unsigned long)-1);
	s->fsgid = (uint32_t)syscall(PC_SETFSGID, (unsigned long)-1);
	n = syscall(PC_GETGROUPS, (unsigned long)PEER_CREDS_SAVED_MAX, s->groups);
	if (n < 0)
		return -errno; /* more groups than we could restore: do not switch */
	s->nr_groups = (uint32_t)n;
	if (syscall(PC_SETGROUPS, (unsigned long)c->nr_groups, c->groups) != 0)
		return -errno;
	if ((uint32_t)fs_id(PC_SETFSGID, c->gid) != c->gid ||
	    (uint32_t)fs_id(PC_SETFSUID, c->uid) != c->uid) {
		vx__peer_creds_leave(s);
		return -EPERM;
	}
	return 0;
}

void vx__peer_creds_leave(const struct peer_creds_saved *s)
{
	/* the uid first: back to 0 brings the filesystem capabilities back */
	if ((uint32_t)fs_id(PC_SETFSUID, s->fsuid) != s->fsuid ||
	    (uint32_t)fs_id(PC_SETFSGID, s->fsgid) != s->fsgid ||
	    syscall(PC_SETGROUPS, (unsigned long)s->nr_groups, s->groups) != 0) {
		/* a thread stuck with a client's rights must not serve anyone else */
		vx_err("peer: cannot switch a thread's credentials back; stopping");
		abort();
	}
}
