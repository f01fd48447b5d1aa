/* SPDX-License-Identifier: Apache-2.0 */
/*
 * file.c: file:// origins. Stat and listing use stat(2) and readdir(3) on the caller's
 * thread; ranged reads go through libcurl's FILE protocol on the worker like every other read,
 * so a local origin and a remote one behave the same for the data plane. Only local paths:
 * the host must be empty or "localhost".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "source_int.h"

#include "vx_alloc.h"
#include "vx_err.h"

static int errno_to_source(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return VX_ESOURCE_NOTFOUND;
	case EACCES:
	case EPERM:
		return VX_ESOURCE_DENIED;
	default:
		return -e;
	}
}

static int local_path(const char *url, const struct vx_source_url *u, char *path, size_t cap,
		      struct vx_source_error *detail)
{
	if (u->host[0] && strcmp(u->host, "localhost") != 0) {
		vx__detail_set(detail, VX_EURL, 0, url, "file:// URLs name local paths only");
		return VX_EURL;
	}
	if (vx__pct_decode(u->path, strlen(u->path), path, cap) <= 0) {
		vx__detail_set(detail, VX_EURL, 0, url, "bad path");
		return VX_EURL;
	}
	return 0;
}

int vx_source_file_path(const char *url, char *path, size_t cap)
{
	struct vx_source_url u;
	int rc;

	if (vx_source_url_parse(&u, url, strlen(url)) != 0 || strcmp(u.scheme, "file") != 0)
		return 0;
	rc = local_path(url, &u, path, cap, NULL);
	return rc ? rc : 1;
}

/*
 * A regular file that stat(2) says is empty may be a pseudo-file (/proc, /sys) whose bytes
 * exist only when read: one read tells. Returns true when a byte came.
 */
static bool reads_bytes(const char *path)
{
	char c;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	ssize_t n;

	if (fd == -1)
		return false; /* the transfer reports why */
	n = read(fd, &c, 1);
	close(fd);
	return n == 1;
}

static int file_open(struct vx_source_obj *obj, const struct vx_source_url *u,
		     struct vx_source_error *detail)
{
	char path[4096];
	struct stat st;
	struct tm tm;
	int rc;

	rc = local_path(obj->url, u, path, sizeof(path), detail);
	if (rc)
		return rc;
	if (stat(path, &st) == -1) {
		rc = errno_to_source(errno);
		vx__detail_set(detail, rc, 0, obj->url, "%s", strerrordesc_np(errno));
		return rc;
	}
	obj->stat.is_dir = S_ISDIR(st.st_mode);
	if (!obj->stat.is_dir && !S_ISREG(st.st_mode)) {
		vx__detail_set(detail, VX_ESOURCE_BADREQ, 0, obj->url, "not a regular file");
		return VX_ESOURCE_BADREQ;
	}
	obj->stat.length = obj->stat.is_dir ? VX_SOURCE_LENGTH_UNKNOWN : (int64_t)st.st_size;
	obj->stat.ranges = !obj->stat.is_dir;
	if (!obj->stat.is_dir && st.st_size == 0 && reads_bytes(path)) {
		/* a pseudo-file: its length is known only once it is read to the end */
		obj->stat.length = VX_SOURCE_LENGTH_UNKNOWN;
		obj->stat.ranges = false;
	}
	if (gmtime_r(&st.st_mtime, &tm))
		strftime(obj->stat.last_modified, sizeof(obj->stat.last_modified),
			 "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(obj->stat.final_url, sizeof(obj->stat.final_url), "%s", obj->url);
	return 0;
}

static int file_prepare(struct vx_source_obj *obj, struct vx__xfer *x)
{
	x->url = vx_strdup(obj->url);
	return x->url ? 0 : -ENOMEM;
}

/* Appends @name to @base with the bytes a URL path cannot hold percent-encoded. */
static int url_join(char *dst, size_t cap, const char *base, const char *name)
{
	size_t o = (size_t)snprintf(dst, cap, "%s%s", base,
				    base[0] && base[strlen(base) - 1] == '/' ? "" : "/");

	if (o >= cap)
		return -ENAMETOOLONG;
	for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
		if (*c <= 0x20 || *c >= 0x7f || strchr("%?#[]\"<>\\^`{|}", *c)) {
			if (o + 4 > cap)
				return -ENAMETOOLONG;
			o += (size_t)snprintf(dst + o, cap - o, "%%%02X", *c);
		} else {
			if (o + 2 > cap)
				return -ENAMETOOLONG;
			dst[o++] = (char)*c;
			dst[o] = '\0';
		}
	}
	return 0;
}

static int file_list(struct vx_source_ctx *ctx, const char *url, const struct vx_source_url *u,
		     const struct vx_source_opts *opts, vx_source_entry_fn fn, void *arg,
		     struct vx_source_error *detail)
{
	char path[4096], child[4096 + 256], eurl[VX_SOURCE_URL_MAX];
	struct dirent *de;
	DIR *d;
	int rc;

	(void)ctx;
	(void)opts;
	rc = local_path(url, u, path, sizeof(path), detail);
	if (rc)
		return rc;
	d = opendir(path);
	if (!d) {
		rc = errno_to_source(errno);
		vx__detail_set(detail, rc, 0, url, "%s", strerrordesc_np(errno));
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		struct vx_source_entry e = { 0 };
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
		if (stat(child, &st) == -1 || (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)))
			continue;
		if (url_join(eurl, sizeof(eurl), url, de->d_name) != 0)
			continue;
		e.url = eurl;
		e.name = de->d_name;
		e.is_dir = S_ISDIR(st.st_mode);
		e.length = e.is_dir ? VX_SOURCE_LENGTH_UNKNOWN : (int64_t)st.st_size;
		rc = fn(arg, &e);
		if (rc)
			break;
	}
	closedir(d);
	return rc;
}

int vx__file_register(struct vx_source_ctx *ctx)
{
	struct vx__scheme s = {
		.name = "file",
		.open = file_open,
		.prepare = file_prepare,
		.list = file_list,
		.local_files = true,
	};

	return vx__scheme_add(ctx, &s);
}
