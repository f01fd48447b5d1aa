/* SPDX-License-Identifier: Apache-2.0 */
/* file.c: small whole-file reads (vx_file.h). */
#include "vx_file.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_alloc.h"

int vx_file_read_fd(int fd, size_t max, char **out, size_t *len)
{
	struct stat st;

	*out = NULL;
	*len = 0;
	if (fstat(fd, &st) == -1)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((unsigned long long)st.st_size > max)
		return -EMSGSIZE;
	return vx_file_read_stream(fd, max, out, len);
}

int vx_file_read_stream(int fd, size_t max, char **out, size_t *len)
{
	size_t got = 0, cap = max < 4096 ? max + 1 : 4096;
	char *buf = vx_malloc(cap + 1);

	*out = NULL;
	*len = 0;
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (got > max) {
			vx_free(buf);
			return -EMSGSIZE;
		}
		if (got == cap) {
			char *nb;

			cap = cap > max / 2 ? max + 1 : cap * 2;
			nb = vx_realloc(buf, cap + 1);
			if (!nb) {
				vx_free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = read(fd, buf + got, cap - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int rc = -errno;

			vx_free(buf);
			return rc;
		}
		if (n == 0)
			break; /* end of file (a regular file that shrank: what was there) */
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

unsigned long vx_raise_nofile(unsigned long cap)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 0;
	want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > cap ? (rlim_t)cap : rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1 && getrlimit(RLIMIT_NOFILE, &rl) == -1)
			return 0;
	}
	return rl.rlim_cur == RLIM_INFINITY ? cap : (unsigned long)rl.rlim_cur;
}
