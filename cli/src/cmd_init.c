/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_init.c: `vx init containerd|crio|podman`, which points a container runtime at the vx
 * registry mirror (`vx serve --proxy`): containerd gets CONFIG_DIR/<registry>/hosts.toml with
 * the mirror as its first host and the registry as the fallback server; CRI-O and podman get a
 * containers-registries.conf v2 drop-in, CONFIG_DIR/registries.conf.d/50-vx-mirror.conf.
 *
 * Idempotent: a file that already says what vx would write is left alone. A file that changes
 * is kept as FILE.vx-backup-<UTC time> (a hard link to the old inode) and replaced atomically
 * (temporary file in the same directory, mode 0644, fsync, rename, fsync of the directory). A
 * file vx init did not write (no marker line) is replaced only with --force. Paths that lead
 * out of CONFIG_DIR through a symlink are refused. --dry-run prints a unified diff and writes
 * nothing. The file contents are rendered by init_conf.c.
 *
 * Exit codes: 0 done (or nothing to do), 1 a file could not be written or was refused, 2 bad
 * command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "init_conf.h"
#include "vx_alloc.h"
#include "vx_file.h"
#include "vx_err.h"

/* Most --upstream options on one command line. */
#define INIT_UPSTREAMS_MAX 64
/* Largest existing file read for comparison and backup; a bigger one is refused. */
#define INIT_FILE_MAX (1u << 20)
/* The mirror `vx serve --proxy` listens on by default. */
#define INIT_DEFAULT_MIRROR "http://127.0.0.1:4001"
#define INIT_DROPIN_DIR	    "registries.conf.d"
#define INIT_DROPIN_FILE    "50-vx-mirror.conf"

struct init_opts {
	const char *config_dir;
	bool dry_run, force;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vx init containerd|crio|podman [options]\n\n"
		"Points a container runtime at the vx registry mirror (vx serve --proxy).\n"
		"containerd: CONFIG_DIR/<registry>/hosts.toml, the mirror first, the registry as\n"
		"            fallback (CONFIG_DIR default /etc/containerd/certs.d; containerd's\n"
		"            registry config_path must name it)\n"
		"crio, podman: CONFIG_DIR/" INIT_DROPIN_DIR "/" INIT_DROPIN_FILE
		" with [[registry.mirror]]\n"
		"            entries (CONFIG_DIR default /etc/containers)\n\n"
		"  --mirror URL            the vx mirror (default " INIT_DEFAULT_MIRROR ")\n"
		"  --mirror-ca FILE        containerd: the CA (absolute path) that verifies an\n"
		"                          https:// mirror (vx serve with proxy.tls.*)\n"
		"  --upstream REGISTRY     [http://|https://]HOST[:PORT] of a registry to mirror;\n"
		"                          repeatable (default docker.io; https unless http://)\n"
		"  --all-registries        containerd: also _default/hosts.toml, the mirror for "
		"every\n"
		"                          registry without a file of its own\n"
		"  --config-dir DIR        where the files go\n"
		"  --dry-run               print a unified diff of what would change; write "
		"nothing\n"
		"  --force                 replace files vx init did not write (a backup is kept)\n"
		"  -h, --help              this text\n");
}

/* 1 when @real is @base or below it. */
static bool inside(const char *base, const char *real)
{
	size_t n = strlen(base);

	if (strcmp(base, "/") == 0)
		return true;
	return strncmp(base, real, n) == 0 && (real[n] == '\0' || real[n] == '/');
}

static int read_small(const char *path, char **out)
{
	size_t len;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return errno == ENOENT ? 0 : -errno;
	rc = vx_file_read_fd(fd, INIT_FILE_MAX, out, &len);
	close(fd);
	return rc == -EMSGSIZE ? -EINVAL : rc;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return w == -1 ? -errno : -EIO;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd == -1)
		return -errno;
	if (fsync(fd))
		rc = -errno;
	close(fd);
	return rc;
}

/* Keeps the old file as PATH.vx-backup-<time>[-N] (a hard link). */
static int backup(const char *path, char *out, size_t out_len)
{
	char stamp[32];
	struct tm tm;
	time_t now = time(NULL);

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (int i = 0; i < 100; i++) {
		int n = i ? snprintf(out, out_len, "%s.vx-backup-%s-%d", path, stamp, i)
			  : snprintf(out, out_len, "%s.vx-backup-%s", path, stamp);

		if (n < 0 || (size_t)n >= out_len)
			return -ENAMETOOLONG; /* never a link under a cut name */
		if (link(path, out) == 0)
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static int replace_file(const char *dir, const char *path, const char *content)
{
	char tmp[PATH_MAX];
	int fd, rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.vx-init-XXXXXX", dir) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd == -1)
		return -errno;
	rc = fchmod(fd, 0644) ? -errno : 0;
	if (!rc)
		rc = write_all(fd, content, strlen(content));
	if (!rc && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	return fsync_dir(dir);
}

/* mkdir -p of @path (mode 0755); in a dry run nothing is made. */
static int make_dirs(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * Writes CONFIG_DIR/@sub/@file with @content. @base_real is realpath(CONFIG_DIR) (or
 * CONFIG_DIR itself in a dry run where it does not exist yet). Returns 0 or 1 (failed).
 */
static int install(const struct init_opts *o, const char *base_real, const char *sub,
		   const char *file, const char *content)
{
	char dir[PATH_MAX], dir_real[PATH_MAX], path[PATH_MAX], real[PATH_MAX], bak[PATH_MAX];
	struct stat st;
	char *old = NULL;
	int rc;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", base_real, sub) >= sizeof(dir))
		goto too_long;
	if (lstat(dir, &st) == 0) {
		if (!realpath(dir, dir_real) || !inside(base_real, dir_real)) {
			fprintf(stderr, "vx init: %s leads out of %s (symlink); refused\n", dir,
				base_real);
			return 1;
		}
		if (stat(dir_real, &st) || !S_ISDIR(st.st_mode)) {
			fprintf(stderr, "vx init: %s is not a directory\n", dir);
			return 1;
		}
	} else {
		if (!o->dry_run && (rc = make_dirs(dir)) != 0) {
			fprintf(stderr, "vx init: cannot create %s: %s\n", dir, vx_strerror(rc));
			return 1;
		}
		snprintf(dir_real, sizeof(dir_real), "%s", dir);
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir_real, file) >= sizeof(path))
		goto too_long;
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		/* A symlink inside the config dir is followed; one leading out is refused. */
		if (!realpath(path, real) || !inside(base_real, real)) {
			fprintf(stderr, "vx init: %s leads out of %s (symlink); refused\n", path,
				base_real);
			return 1;
		}
		snprintf(path, sizeof(path), "%s", real);
		snprintf(dir_real, sizeof(dir_real), "%s", real);
		*strrchr(dir_real, '/') = '\0';
	}
	rc = read_small(path, &old);
	if (rc) {
		fprintf(stderr, "vx init: cannot read %s: %s\n", path,
			rc == -EINVAL ? "not a regular file of at most 1 MiB" : vx_strerror(rc));
		return 1;
	}
	if (old && strcmp(old, content) == 0) {
		printf("vx init: %s is up to date\n", path);
		vx_free(old);
		return 0;
	}
	if (old && strncmp(old, VX_INIT_MARKER, strlen(VX_INIT_MARKER)) != 0 && !o->force) {
		fprintf(stderr,
			"vx init: %s was not written by vx init; --force replaces it (a backup "
			"is kept)\n",
			path);
		vx_free(old);
		return 1;
	}
	if (o->dry_run) {
		vx_init_write_diff(stdout, path, old, content);
		vx_free(old);
		return 0;
	}
	bak[0] = '\0';
	if (old && (rc = backup(path, bak, sizeof(bak))) != 0) {
		fprintf(stderr, "vx init: cannot back up %s: %s\n", path, vx_strerror(rc));
		vx_free(old);
		return 1;
	}
	vx_free(old);
	rc = replace_file(dir_real, path, content);
	if (rc) {
		fprintf(stderr, "vx init: cannot write %s: %s\n", path, vx_strerror(rc));
		return 1;
	}
	if (bak[0])
		printf("vx init: wrote %s (the old file is %s)\n", path, bak);
	else
		printf("vx init: wrote %s\n", path);
	return 0;
too_long:
	fprintf(stderr, "vx init: path too long under %s\n", base_real);
	return 1;
}

/*
 * --mirror-ca: containerd only (registries.conf has no CA key: containers/image reads
 * /etc/containers/certs.d/HOST:PORT/ca.crt), an https mirror, an absolute path of a readable
 * file with no character that would end the TOML string. Prints why and returns -1 when not.
 */
static int mirror_ca_check(const char *ca, bool containerd, const struct vx_init_endpoint *mirror)
{
	const char *why = NULL;

	if (!containerd)
		why = "is for containerd; for CRI-O and podman put the CA in "
		      "/etc/containers/certs.d/HOST:PORT/ca.crt";
	else if (!mirror->tls)
		why = "needs an https:// --mirror";
	else if (ca[0] != '/' || strpbrk(ca, "\"\\\n\r"))
		why = "must be an absolute path without quotes, backslashes or line breaks";
	else if (access(ca, R_OK) != 0)
		why = "is not a readable file";
	if (!why)
		return 0;
	fprintf(stderr, "vx init: --mirror-ca '%s' %s\n", ca, why);
	return -1;
}

/* @s (owned, a rendered hosts.toml whose last table is the mirror's) with the mirror's CA
 * (containerd's "ca" key) appended when @ca is set; NULL when @s is or memory runs out. */
static char *with_ca(char *s, const char *ca)
{
	size_t n, len;
	char *r;

	if (!s || !ca)
		return s;
	len = strlen(s);
	n = len + strlen(ca) + 16;
	r = vx_realloc(s, n);
	if (!r) {
		vx_free(s);
		return NULL;
	}
	snprintf(r + len, n - len, "  ca = \"%s\"\n", ca);
	return r;
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mirror", required_argument, NULL, 'm' },
		{ "mirror-ca", required_argument, NULL, 'C' },
		{ "upstream", required_argument, NULL, 'u' },
		{ "all-registries", no_argument, NULL, 'a' },
		{ "config-dir", required_argument, NULL, 'c' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vx_init_endpoint mirror, ups[INIT_UPSTREAMS_MAX];
	const char *mirror_s = INIT_DEFAULT_MIRROR, *runtime, *why = "", *ca = NULL;
	char base[PATH_MAX];
	struct init_opts o = { 0 };
	bool all = false, containerd;
	size_t nr = 0;
	int c, failed = 0;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			mirror_s = optarg;
			break;
		case 'C':
			ca = optarg;
			break;
		case 'u':
			if (nr == INIT_UPSTREAMS_MAX) {
				fprintf(stderr, "vx init: at most %d --upstream\n",
					INIT_UPSTREAMS_MAX);
				return VX_EXIT_USAGE;
			}
			if (vx_init_parse_endpoint(optarg, true, &ups[nr], &why)) {
				fprintf(stderr, "vx init: bad --upstream '%s': %s\n", optarg, why);
				return VX_EXIT_USAGE;
			}
			nr++;
			break;
		case 'a':
			all = true;
			break;
		case 'c':
			o.config_dir = optarg;
			break;
		case 'n':
			o.dry_run = true;
			break;
		case 'f':
			o.force = true;
			break;
		case 'h':
			usage(stdout);
			return VX_EXIT_OK;
		default:
			fprintf(stderr, "vx init: unknown option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return VX_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return VX_EXIT_USAGE;
	}
	runtime = argv[optind];
	containerd = strcmp(runtime, "containerd") == 0;
	if (!containerd && strcmp(runtime, "crio") != 0 && strcmp(runtime, "podman") != 0) {
		fprintf(stderr, "vx init: unknown runtime '%s' (containerd, crio or podman)\n",
			runtime);
		return VX_EXIT_USAGE;
	}
	if (all && !containerd) {
		fprintf(stderr, "vx init: --all-registries is for containerd; registries.conf has "
				"no entry for every registry\n");
		return VX_EXIT_USAGE;
	}
	if (vx_init_parse_endpoint(mirror_s, false, &mirror, &why)) {
		fprintf(stderr, "vx init: bad --mirror '%s': %s\n", mirror_s, why);
		return VX_EXIT_USAGE;
	}
	if (ca && mirror_ca_check(ca, containerd, &mirror))
		return VX_EXIT_USAGE;
	if (!nr && !all) {
		vx_init_parse_endpoint("docker.io", true, &ups[0], &why);
		nr = 1;
	}
	if (!o.config_dir)
		o.config_dir = containerd ? "/etc/containerd/certs.d" : "/etc/containers";
	if (!o.dry_run) {
		int rc = make_dirs(o.config_dir);

		if (rc) {
			fprintf(stderr, "vx init: cannot create %s: %s\n", o.config_dir,
				vx_strerror(rc));
			return VX_EXIT_FAILURE;
		}
	}
	if (!realpath(o.config_dir, base)) {
		if (!o.dry_run || errno != ENOENT) {
			fprintf(stderr, "vx init: %s: %s\n", o.config_dir, vx_strerror(-errno));
			return VX_EXIT_FAILURE;
		}
		snprintf(base, sizeof(base), "%s", o.config_dir);
	}
	if (containerd) {
		for (size_t i = 0; i < nr + all; i++) {
			char *s = with_ca(
				vx_init_render_hosts_toml(&mirror, i < nr ? &ups[i] : NULL), ca);

			if (!s)
				return VX_EXIT_FAILURE;
			failed |= install(&o, base, i < nr ? ups[i].authority : "_default",
					  "hosts.toml", s);
			vx_free(s);
		}
	} else {
		char *s = vx_init_render_registries_conf(&mirror, ups, nr);

		if (!s)
			return VX_EXIT_FAILURE;
		failed |= install(&o, base, INIT_DROPIN_DIR, INIT_DROPIN_FILE, s);
		vx_free(s);
	}
	return failed ? VX_EXIT_FAILURE : VX_EXIT_OK;
}

const struct vx_command vx_command_init = {
	.name = "init",
	.summary = "point containerd, CRI-O or podman at the vx registry mirror",
	.run = run,
};
