/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_doctor.c: `vx doctor [--config FILE] [--data-dir DIR] [--listen HOST:PORT] [--json]`
 * checks that this host can run `vx serve` with that configuration, and for each problem says
 * what to fix: io_uring allowed (the data plane's probe: io_uring_setup and its opcodes; refused
 * by the kernel.io_uring_disabled sysctl or a seccomp profile), the data directory (ownership, mode, free space,
 * O_DIRECT as storage.direct_io asks), the listen ports free, the clock synchronised
 * (adjtimex), the file limit, and the TLS files (key mode 0600, certificate and key loaded as
 * the daemon loads them by common's tls.c, the chain to the CA, expiry).
 * Each check is ok, warn (works, but worth fixing), fail (the daemon will not start or will
 * misbehave) or skip (not configured). Exit codes: 0 no failure, 1 a check failed or the
 * config is invalid, 2 bad command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "tls_conf.h"
#include "vx_alloc.h"
#include "vx_net.h"
#include "vx_peer.h"
#include "vx_ring.h"
#include "vx_tls.h"

/* Free bytes the data directory needs at least: a few large pieces in flight and the store's
 * metadata; below it downloads fail with ENOSPC at once. */
#define DOCTOR_MIN_FREE (1ull << 30)
/* File descriptors the daemon needs beyond its upload connections: tasks' files, the loop,
 * the schedulers, the API and metrics sockets. */
#define DOCTOR_FDS_SLACK (2u * VX_PEER_TASKS_MAX + 256u)
/* The block the O_DIRECT probe writes: the logical block size of common devices (the store
 * probes with the same, VX_FILE_DIRECT_ALIGN in storage/). */
#define DOCTOR_DIRECT_ALIGN 4096u
#define DOCTOR_CHECKS_MAX   16
#define DOCTOR_TEXT_MAX	    512

enum doctor_status { DOC_OK, DOC_SKIP, DOC_WARN, DOC_FAIL };

static const char *const status_names[] = { "ok", "skip", "warn", "fail" };

struct doctor_check {
	const char *name;
	enum doctor_status status;
	char detail[DOCTOR_TEXT_MAX];
	char fix[DOCTOR_TEXT_MAX]; /* "" when nothing to do */
};

struct doctor {
	const struct vx_config *cfg;
	unsigned n;
	struct doctor_check checks[DOCTOR_CHECKS_MAX];
};

static void report(struct doctor *d, const char *name, enum doctor_status st, const char *fix,
		   const char *fmt, ...) VX_PRINTF(5, 6);

/* Records one result: @fix says what to do ("" or NULL: nothing). */
static void report(struct doctor *d, const char *name, enum doctor_status st, const char *fix,
		   const char *fmt, ...)
{
	struct doctor_check *c;
	va_list ap;

	if (d->n == DOCTOR_CHECKS_MAX)
		return;
	c = &d->checks[d->n++];
	c->name = name;
	c->status = st;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	snprintf(c->fix, sizeof(c->fix), "%s", fix ? fix : "");
}

/* ---------------------------------------------------------------- io_uring */

/* The data plane's own probe (vx_ring_probe: io_uring_setup, then every opcode vx uses), whose
 * diagnosis names the sysctl, seccomp or the kernel; here with the fix for each. */
static void check_io_uring(struct doctor *d)
{
	char diag[256];
	int rc = vx_ring_probe(diag, sizeof(diag));

	if (!rc)
		report(d, "io_uring", DOC_OK, NULL, "io_uring works, with every opcode vx uses");
	else if (rc == -EPERM && strstr(diag, "io_uring_disabled"))
		report(d, "io_uring", DOC_FAIL,
		       "sysctl -w kernel.io_uring_disabled=0 (and in /etc/sysctl.d/ to keep it), "
		       "or "
		       "add the daemon's user to kernel.io_uring_group",
		       "%s", diag);
	else if (rc == -EPERM)
		report(d, "io_uring", DOC_FAIL,
		       "allow io_uring_setup, io_uring_enter and io_uring_register in the seccomp "
		       "profile of the container or unit (--security-opt seccomp=..., "
		       "SystemCallFilter=)",
		       "%s", diag);
	else
		report(d, "io_uring", DOC_FAIL, "run a kernel with io_uring (Linux 5.10 or later)",
		       "%s", diag);
}

/* ---------------------------------------------------------------- Data directory */

/* The directory the daemon will create or use: @dir itself, or its nearest existing parent
 * into @out (for free space and O_DIRECT). Returns 0 when @dir exists, 1 when a parent was
 * found, -1 otherwise. */
static int existing_dir(const char *dir, char *out, size_t out_len)
{
	struct stat st;
	char *slash;

	snprintf(out, out_len, "%s", dir);
	if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	while ((slash = strrchr(out, '/')) != NULL) {
		if (slash == out) {
			out[1] = '\0';
		} else {
			*slash = '\0';
		}
		if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
			return 1;
		if (slash == out)
			break;
	}
	return -1;
}

static void check_data_dir(struct doctor *d, const char *dir, const char *where)
{
	struct stat st;

	if (stat(dir, &st) != 0) {
		if (access(where, W_OK) == 0)
			report(d, "data_dir", DOC_OK, NULL,
			       "%s does not exist yet; the daemon creates it (in %s, writable)",
			       dir, where);
		else
			report(d, "data_dir", DOC_FAIL,
			       "create it for the daemon's user: install -d -m 0700 -o USER DIR",
			       "%s does not exist and %s is not writable: the daemon cannot create "
			       "it",
			       dir, where);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		report(d, "data_dir", DOC_FAIL, "point storage.data_dir at a directory",
		       "%s is not a directory", dir);
	} else if (st.st_uid != geteuid()) {
		report(d, "data_dir", DOC_FAIL, "chown the directory to the daemon's user",
		       "%s belongs to uid %u, not to this user (uid %u): the store's files would "
		       "not be ours",
		       dir, (unsigned)st.st_uid, (unsigned)geteuid());
	} else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		report(d, "data_dir", DOC_FAIL, "chmod 0700 the directory",
		       "%s is writable by %s (mode %04o): another user could plant pieces or read "
		       "the host key",
		       dir, st.st_mode & S_IWOTH ? "others" : "its group",
		       (unsigned)(st.st_mode & 07777));
	} else if (access(dir, R_OK | W_OK | X_OK) != 0) {
		report(d, "data_dir", DOC_FAIL, "chmod u+rwx the directory", "%s: %s", dir,
		       strerror(errno));
	} else {
		report(d, "data_dir", DOC_OK, NULL, "%s: owned by this user, mode %04o", dir,
		       (unsigned)(st.st_mode & 07777));
	}
}

static void check_free_space(struct doctor *d, const char *where)
{
	struct statvfs sv;
	unsigned long long avail;

	if (statvfs(where, &sv) != 0) {
		report(d, "free_space", DOC_FAIL, NULL, "statvfs %s: %s", where, strerror(errno));
		return;
	}
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	if (avail < DOCTOR_MIN_FREE)
		report(d, "free_space", DOC_FAIL,
		       "free space on that filesystem, or move storage.data_dir to a larger one",
		       "%llu MiB free under %s, below the %llu MiB the store needs at least",
		       avail >> 20, where, DOCTOR_MIN_FREE >> 20);
	else if (d->cfg->storage.disk_limit_bytes &&
		 d->cfg->storage.disk_limit_bytes > (unsigned long long)sv.f_blocks * sv.f_frsize)
		report(d, "free_space", DOC_WARN,
		       "lower storage.disk_limit to the filesystem's size",
		       "storage.disk_limit (%llu MiB) is larger than the filesystem (%llu MiB)",
		       (unsigned long long)d->cfg->storage.disk_limit_bytes >> 20,
		       ((unsigned long long)sv.f_blocks * sv.f_frsize) >> 20);
	else
		report(d, "free_space", DOC_OK, NULL, "%llu MiB free under %s", avail >> 20, where);
}

static void check_direct_io(struct doctor *d, const char *where)
{
	const char *mode = d->cfg->storage.direct_io;
	enum doctor_status bad = strcmp(mode, "required") == 0 ? DOC_FAIL : DOC_WARN;
	char path[VX_CONFIG_PATH_MAX + 32];
	int fd, dfd, e = 0;

	if (strcmp(mode, "disabled") == 0) {
		report(d, "direct_io", DOC_SKIP, NULL, "storage.direct_io is disabled");
		return;
	}
	snprintf(path, sizeof(path), "%s/.vx-doctor-XXXXXX", where);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd == -1) {
		report(d, "direct_io", bad, "make the data directory writable",
		       "cannot create a file in %s to try O_DIRECT: %s", where, strerror(errno));
		return;
	}
	/* as the store's probe does at open: an aligned block written through O_DIRECT */
	dfd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (dfd == -1) {
		e = errno;
	} else {
		void *buf = vx_aligned_alloc(DOCTOR_DIRECT_ALIGN, DOCTOR_DIRECT_ALIGN);

		if (!buf)
			e = ENOMEM;
		else if (memset(buf, 0, DOCTOR_DIRECT_ALIGN),
			 pwrite(dfd, buf, DOCTOR_DIRECT_ALIGN, 0) == -1)
			e = errno;
		vx_free(buf);
		close(dfd);
	}
	close(fd);
	unlink(path);
	if (!e)
		report(d, "direct_io", DOC_OK, NULL, "O_DIRECT works in %s", where);
	else
		report(d, "direct_io", bad,
		       bad == DOC_FAIL
			       ? "put storage.data_dir on a filesystem with O_DIRECT (ext4, "
				 "xfs), or set storage.direct_io: optional"
			       : "put storage.data_dir on ext4 or xfs for O_DIRECT (pieces "
				 "then go through the page cache)",
		       "O_DIRECT refused in %s (%s; ramfs, some FUSE and network filesystems lack "
		       "it), "
		       "storage.direct_io is %s",
		       where, strerror(e), mode);
}

/* ---------------------------------------------------------------- Ports */

static void check_port(struct doctor *d, const char *key, const char *addr)
{
	struct vx_net_opts o = { .flags = VX_NET_REUSEADDR };
	struct sockaddr_storage ss;
	char err[VX_NET_ERR_LEN];
	socklen_t sl;
	int fd;

	if (!addr[0])
		return;
	if (vx_net_parse_addr(addr, VX_NET_PORT0, &ss, &sl)) {
		report(d, "ports", DOC_FAIL, "give IP:PORT", "%s '%s' is not IP:PORT", key, addr);
		return;
	}
	fd = vx_net_tcp_listen((struct sockaddr *)&ss, sl, &o, err);
	if (fd >= 0) {
		close(fd);
		report(d, "ports", DOC_OK, NULL, "%s %s is free", key, addr);
	} else if (fd == -EADDRINUSE) {
		report(d, "ports", DOC_FAIL,
		       "stop what holds it (ss -ltnp shows it: a vx serve already running?) or "
		       "choose another port",
		       "%s %s is in use", key, addr);
	} else {
		report(d, "ports", DOC_FAIL,
		       fd == -EADDRNOTAVAIL ? "listen on an address of this host, or 0.0.0.0"
					    : "choose a port this user may bind (1024 or above)",
		       "%s %s: %s", key, addr, err);
	}
}

/* ---------------------------------------------------------------- Clock, limits */

static void check_clock(struct doctor *d)
{
	struct timex tx;
	int st;

	memset(&tx, 0, sizeof(tx));
	st = adjtimex(&tx);
	if (st == -1)
		report(d, "clock", DOC_WARN, NULL, "adjtimex: %s", strerror(errno));
	else if (st == TIME_ERROR || (tx.status & STA_UNSYNC))
		report(d, "clock", DOC_WARN,
		       "run an NTP client (systemd-timesyncd, chrony) on the host: certificates, "
		       "tokens and task TTLs are judged by the clock",
		       "the kernel says the clock is not synchronised (adjtimex status 0x%x)",
		       (unsigned)tx.status);
	else
		report(d, "clock", DOC_OK, NULL, "synchronised (estimated error %ld us)",
		       tx.esterror);
}

static void check_nofile(struct doctor *d)
{
	unsigned long long need = d->cfg->upload.max_connections + DOCTOR_FDS_SLACK;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		report(d, "nofile", DOC_WARN, NULL, "getrlimit: %s", strerror(errno));
		return;
	}
	/* the daemon raises its soft limit to the hard one at start (vx_raise_nofile) */
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		report(d, "nofile", DOC_FAIL,
		       "raise it: LimitNOFILE=65536 in the unit, ulimit -Hn, or "
		       "/etc/security/limits.conf",
		       "the open files limit (hard %llu) is below the %llu the daemon needs "
		       "(upload.max_connections %llu and %u for tasks and sockets)",
		       (unsigned long long)rl.rlim_max, need,
		       (unsigned long long)d->cfg->upload.max_connections, DOCTOR_FDS_SLACK);
	else
		report(d, "nofile", DOC_OK, NULL, "open files: hard limit %llu, %llu needed",
		       rl.rlim_max == RLIM_INFINITY ? 0ull : (unsigned long long)rl.rlim_max, need);
}

/* ---------------------------------------------------------------- Certificates */

/* Does the context's own certificate chain to its CA (with its CRL, when it has one)? */
static int chain_ok(struct vx_tls_ctx *tls, char *err, size_t err_len)
{
	SSL_CTX *ssl = vx_tls_ctx_ssl(tls);
	X509 *me = SSL_CTX_get0_certificate(ssl);
	STACK_OF(X509) *chain = NULL;
	X509_STORE_CTX *x = X509_STORE_CTX_new();
	int rc = -1;

	if (!me || !x) {
		snprintf(err, err_len, "no certificate loaded");
		X509_STORE_CTX_free(x);
		return -1;
	}
	(void)SSL_CTX_get0_chain_certs(ssl, &chain);
	if (X509_STORE_CTX_init(x, SSL_CTX_get_cert_store(ssl), me, chain) == 1) {
		if (X509_verify_cert(x) == 1)
			rc = 0;
		else
			snprintf(err, err_len, "%s",
				 X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
	}
	X509_STORE_CTX_free(x);
	return rc;
}

static void check_tls(struct doctor *d)
{
	struct vx_cli_tls_paths paths;
	struct vx_tls_files files;
	struct vx_tls_ctx *tls = NULL;
	char err[VX_TLS_ERR_LEN];
	time_t left;
	int rc = vx_cli_tls_paths(d->cfg, d->cfg->storage.data_dir, &paths);

	if (rc <= 0) {
		report(d, "certificates", rc ? DOC_FAIL : DOC_SKIP, NULL, "%s",
		       rc ? "a TLS file path is too long"
			  : "no TLS files (tls.* or DATA_DIR/tls/): loopback only, or plaintext");
		return;
	}
	if (vx_tls_key_mode_ok(paths.key, err, sizeof(err))) {
		report(d, "certificates", DOC_FAIL,
		       "chmod 0600 the key, owned by the daemon's user", "%s", err);
		return;
	}
	files = vx_cli_tls_files(&paths);
	rc = vx_tls_ctx_new(&tls, VX_TLS_CLIENT, &files, err, sizeof(err));
	if (rc) {
		report(d, "certificates", DOC_FAIL,
		       "renew the certificate (vx cert, or a new join token), or fix the file "
		       "named",
		       "%s", err);
		return;
	}
	if (chain_ok(tls, err, sizeof(err))) {
		report(d, "certificates", DOC_FAIL,
		       "use a certificate issued by the cluster CA in tls.ca (or join again)",
		       "%s does not chain to %s: %s", paths.cert, paths.ca, err);
	} else {
		left = vx_tls_ctx_self(tls)->not_after - time(NULL);
		if (left < VX_TLS_EXPIRY_WARN_S)
			report(d, "certificates", DOC_WARN, "renew the certificate soon",
			       "%s expires in %lld hours", paths.cert, (long long)left / 3600);
		else
			report(d, "certificates", DOC_OK, NULL,
			       "%s: key 0600, chains to %s, expires in %lld days", paths.cert,
			       paths.ca, (long long)left / 86400);
	}
	vx_tls_ctx_free(tls);
}

/* ---------------------------------------------------------------- Command */

static const char doctor_usage[] =
	"usage: vx doctor [--config FILE] [--data-dir DIR] [--listen HOST:PORT] [--json]\n\n"
	"Checks that this host can run `vx serve` with that configuration and says what to fix:\n"
	"io_uring allowed, the data directory (owner, mode, free space, O_DIRECT), the ports\n"
	"free, the clock synchronised, the open files limit, the TLS files (key mode, chain to\n"
	"the CA, expiry). --json prints one object.\n"
	"Exit codes: 0 no check failed (warnings allowed), 1 a check failed or the config is\n"
	"invalid, 2 bad command line.\n";

static void print_text(const struct doctor *d)
{
	for (unsigned i = 0; i < d->n; i++) {
		const struct doctor_check *c = &d->checks[i];

		printf("%-4s  %-12s  %s\n", status_names[c->status], c->name, c->detail);
		if (c->fix[0] && c->status >= DOC_WARN)
			printf("      %-12s  fix: %s\n", "", c->fix);
	}
}

static void print_json(const struct doctor *d, bool failed)
{
	json_t *arr = json_array(), *root;
	char *s;

	for (unsigned i = 0; i < d->n; i++) {
		const struct doctor_check *c = &d->checks[i];

		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "name", c->name,
						     "status", status_names[c->status], "detail",
						     c->detail, "fix", c->fix));
	}
	root = json_pack("{s:b, s:o}", "ok", !failed, "checks", arr);
	s = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(root);
}

static int run_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *data_dir = NULL, *listen = NULL;
	char err[VX_CONFIG_ERR_MAX], where[VX_CONFIG_PATH_MAX];
	struct vx_config cfg;
	struct doctor d = { .cfg = &cfg };
	bool json = false, failed = false;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			file = optarg;
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(doctor_usage, stdout);
			return VX_EXIT_OK;
		default:
			fputs(doctor_usage, stderr);
			return VX_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(doctor_usage, stderr);
		return VX_EXIT_USAGE;
	}
	vx_config_init(&cfg);
	if ((file && vx_config_load_file(&cfg, file, err, sizeof(err))) ||
	    (data_dir && vx_config_set(&cfg, "storage.data_dir", data_dir, err, sizeof(err))) ||
	    (listen && vx_config_set(&cfg, "upload.listen", listen, err, sizeof(err))) ||
	    vx_config_validate(&cfg, err, sizeof(err))) {
		fprintf(stderr, "vx doctor: %s\n", err);
		return VX_EXIT_FAILURE;
	}

	check_io_uring(&d);
	switch (existing_dir(cfg.storage.data_dir, where, sizeof(where))) {
	case -1:
		report(&d, "data_dir", DOC_FAIL, "give storage.data_dir an absolute path",
		       "no existing directory on the way to %s", cfg.storage.data_dir);
		break;
	default:
		check_data_dir(&d, cfg.storage.data_dir, where);
		check_free_space(&d, where);
		check_direct_io(&d, where);
	}
	check_port(&d, "upload.listen", cfg.upload.listen);
	check_port(&d, "metrics_listen", cfg.metrics_listen);
	check_port(&d, "proxy.listen", cfg.proxy.listen);
	check_clock(&d);
	check_nofile(&d);
	check_tls(&d);
	for (unsigned i = 0; i < d.n; i++)
		failed |= d.checks[i].status == DOC_FAIL;
	if (json)
		print_json(&d, failed);
	else
		print_text(&d);
	return failed ? VX_EXIT_FAILURE : VX_EXIT_OK;
}

const struct vx_command vx_command_doctor = {
	.name = "doctor",
	.summary = "check this host for `vx serve`: io_uring, data dir, ports, clock, limits, TLS",
	.run = run_doctor,
};
