/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched_tokens.c: the scheduler's join tokens (vx_sched_tokens.h). The file is small and
 * strict: anything not exactly `ROLE TOKEN` is an error naming the line, never the token.
 */
#include "vx_sched_tokens.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_err.h"
#include "vx_hex.h"

#define TOKEN_RANDOM_BYTES 16 /* 128 bits */

static const char *const auth_names[VX_SCHED_AUTH_NR] = {
	[VX_SCHED_AUTH_NONE] = "none", [VX_SCHED_AUTH_PEER] = "peer",
	[VX_SCHED_AUTH_SEED] = "seed", [VX_SCHED_AUTH_ADMIN] = "admin",
	[VX_SCHED_AUTH_OPEN] = "open",
};

const char *vx_sched_auth_name(enum vx_sched_auth a)
{
	return (unsigned)a < VX_SCHED_AUTH_NR ? auth_names[a] : "?";
}

static bool token_char(char c)
{
	/* strchr() finds the terminator too: a NUL byte is not a token character */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("._~+/=-", c) != NULL);
}

/* NULL when @s (@n bytes) is a well-formed token, else why not. */
static const char *token_check(const char *s, size_t n)
{
	if (n < VX_SCHED_TOKEN_MIN || n > VX_SCHED_TOKEN_MAX)
		return "token must be 16 to 128 characters";
	for (size_t i = 0; i < n; i++) {
		if (!token_char(s[i]))
			return "token has a character outside [A-Za-z0-9._~+/=-]";
	}
	return NULL;
}

static int file_role(const char *s, size_t n)
{
	for (int a = VX_SCHED_AUTH_PEER; a <= VX_SCHED_AUTH_ADMIN; a++) {
		if (strlen(auth_names[a]) == n && memcmp(auth_names[a], s, n) == 0)
			return a;
	}
	return -1;
}

static int parse_line(const char *s, size_t n, struct vx_sched_tokens *out, const char **why)
{
	const char *sp = memchr(s, ' ', n);
	size_t tl;
	int role;

	if (!sp) {
		*why = "wants 'ROLE TOKEN'";
		return -EINVAL;
	}
	role = file_role(s, (size_t)(sp - s));
	if (role < 0) {
		*why = "role is not peer, seed or admin";
		return -EINVAL;
	}
	if (out->tok[role][0]) {
		*why = "role given twice";
		return -EINVAL;
	}
	tl = n - (size_t)(sp - s) - 1;
	*why = token_check(sp + 1, tl);
	if (*why)
		return -EINVAL;
	memcpy(out->tok[role], sp + 1, tl);
	out->tok[role][tl] = '\0';
	return 0;
}

int vx_sched_tokens_parse(const char *buf, size_t len, struct vx_sched_tokens *out, char *err,
			  size_t err_len)
{
	const char *why = NULL;
	size_t off = 0;
	unsigned line = 0, nr = 0;

	memset(out, 0, sizeof(*out));
	if (len > VX_SCHED_TOKENS_MAX) {
		snprintf(err, err_len, "tokens file larger than %u bytes", VX_SCHED_TOKENS_MAX);
		return -EINVAL;
	}
	while (off < len) {
		const char *s = buf + off;
		const char *nl = memchr(s, '\n', len - off);
		size_t n = nl ? (size_t)(nl - s) : len - off;

		line++;
		off += n + (nl ? 1 : 0);
		if (memchr(s, '\0', n) || memchr(s, '\r', n)) {
			why = "NUL or CR byte";
			break;
		}
		if (n == 0 || s[0] == '#')
			continue;
		if (parse_line(s, n, out, &why))
			break;
		nr++;
	}
	if (!why && nr == 0) {
		snprintf(err, err_len, "tokens file names no token");
		return -EINVAL;
	}
	for (int a = VX_SCHED_AUTH_PEER; !why && a < VX_SCHED_AUTH_ADMIN; a++) {
		for (int b = a + 1; b <= VX_SCHED_AUTH_ADMIN; b++) {
			if (out->tok[a][0] && strcmp(out->tok[a], out->tok[b]) == 0) {
				line = 0;
				why = "two roles share one token";
			}
		}
	}
	if (why) {
		memset(out, 0, sizeof(*out));
		if (line)
			snprintf(err, err_len, "tokens file line %u: %s", line, why);
		else
			snprintf(err, err_len, "tokens file: %s", why);
		return -EINVAL;
	}
	return 0;
}

int vx_sched_token_parse(const char *buf, size_t len, char *out, char *err, size_t err_len)
{
	const char *why;

	out[0] = '\0';
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	why = token_check(buf, len);
	if (why) {
		snprintf(err, err_len, "token file: %s", why);
		return -EINVAL;
	}
	memcpy(out, buf, len);
	out[len] = '\0';
	return 0;
}

/* Opens @path for reading: a regular file that group and others cannot touch. */
static int secret_open(const char *path, char *err, size_t err_len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc;

	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_len, "cannot open %s: %s", path, vx_strerror(rc));
		return rc;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, err_len, "%s is not a regular file", path);
		return -EINVAL;
	}
	if (st.st_mode & 077) {
		close(fd);
		snprintf(err, err_len, "%s is open to group or others (mode %03o): chmod 600 it",
			 path, (unsigned)(st.st_mode & 0777));
		return -EINVAL;
	}
	return fd;
}

int vx_sched_token_read(const char *path, char *out, char *err, size_t err_len)
{
	char buf[VX_SCHED_TOKEN_MAX + 2];
	ssize_t n;
	int fd = secret_open(path, err, err_len), rc;

	out[0] = '\0';
	if (fd < 0)
		return fd;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || (size_t)n == sizeof(buf)) {
		snprintf(err, err_len, "%s: %s", path, n < 0 ? "cannot read" : "token too long");
		return n < 0 ? -EIO : -EINVAL;
	}
	rc = vx_sched_token_parse(buf, (size_t)n, out, err, err_len);
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

static int tokens_create(const char *path, struct vx_sched_tokens *out, char *err, size_t err_len)
{
	char text[3 * (8 + 2 * TOKEN_RANDOM_BYTES)];
	size_t len = 0;
	int fd, rc = 0;

	memset(out, 0, sizeof(*out));
	for (int a = VX_SCHED_AUTH_PEER; a <= VX_SCHED_AUTH_ADMIN; a++) {
		uint8_t rnd[TOKEN_RANDOM_BYTES];

		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
			snprintf(err, err_len, "getrandom failed");
			return -EIO;
		}
		vx_hex_encode(rnd, sizeof(rnd), out->tok[a]);
		out->tok[a][2 * TOKEN_RANDOM_BYTES] = '\0';
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s %s\n", auth_names[a],
					out->tok[a]);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_len, "cannot create tokens file %s: %s", path, vx_strerror(rc));
		memset(out, 0, sizeof(*out));
		return rc;
	}
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
		rc = -EIO;
		snprintf(err, err_len, "cannot write tokens file %s", path);
		(void)unlink(path);
		memset(out, 0, sizeof(*out));
	}
	close(fd);
	explicit_bzero(text, sizeof(text));
	return rc;
}

int vx_sched_tokens_load(const char *path, struct vx_sched_tokens *out, bool *created, char *err,
			 size_t err_len)
{
	char buf[VX_SCHED_TOKENS_MAX + 1];
	ssize_t n;
	int fd, rc;

	*created = false;
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		rc = tokens_create(path, out, err, err_len);
		*created = rc == 0;
		return rc;
	}
	fd = secret_open(path, err, err_len);
	if (fd < 0)
		return fd;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		snprintf(err, err_len, "cannot read tokens file %s", path);
		return -EIO;
	}
	rc = vx_sched_tokens_parse(buf, (size_t)n, out, err, err_len);
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

/* Constant-time comparison of a hello token against one role's token ("" never matches). */
static bool token_ok(const char *want, struct vx_ctl_str got)
{
	size_t n = strlen(want);
	unsigned diff = (unsigned)(n ^ got.len) | (unsigned)(n == 0);

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned)(uint8_t)want[i] ^ (i < got.len ? (uint8_t)got.ptr[i] : 0u);
	return diff == 0;
}

enum vx_sched_auth vx_sched_tokens_check(const struct vx_sched_tokens *t, struct vx_ctl_str got)
{
	enum vx_sched_auth r = VX_SCHED_AUTH_NONE;

	for (int a = VX_SCHED_AUTH_PEER; a <= VX_SCHED_AUTH_ADMIN; a++) {
		if (token_ok(t->tok[a], got))
			r = (enum vx_sched_auth)a;
	}
	return r;
}
