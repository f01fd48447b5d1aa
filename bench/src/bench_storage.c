/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_storage.c: `vx-bench storage`: piece write throughput of the store (O_DIRECT and
 * buffered) and read/serve throughput, each side by side with fio doing the same sequential
 * pattern (same file size, block = piece length, same directory) in the same run; then metadata
 * commits per second of the sqlite flush, one piece per commit and batched.
 *
 * The store's write figure includes what makes pieces durable: the flusher's fdatasync and
 * piece-row commits during the run, and a final flush; fio gets --end_fsync=1. fio is timed as
 * a whole process (its start-up, a few ms, counts against it).
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_digest.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_net.h"
#include "vx_store.h"
#include "vx_time.h"

extern char **environ;

/* Most repetitions of one run (--reps). */
#define REPS_MAX 20

struct bench_opts {
	uint64_t size;	   /* bytes per run */
	uint64_t piece;	   /* piece length = fio block size */
	uint32_t commits;  /* metadata commits to time */
	uint32_t reps;	   /* repetitions; medians are reported */
	uint32_t flush_ms; /* store flush interval (0 = the store's default) */
	char dir[PATH_MAX];
	bool keep;
	bool no_fio;
};

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void drop_caches_of(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		return;
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

/*
 * Field @field (1-based) of fio's terse (v3) line in @line as an unsigned number, or -1. Terse
 * output is ';'-separated; 7 is read bandwidth and 48 write bandwidth, in KiB/s.
 */
static long long terse_field(const char *line, int field)
{
	const char *p = line;
	char *end;
	long long v;

	for (int i = 1; i < field; i++) {
		p = strchr(p, ';');
		if (!p)
			return -1;
		p++;
	}
	errno = 0;
	v = strtoll(p, &end, 10);
	if (errno || end == p || (*end != ';' && *end != '\0' && *end != '\n') || v < 0)
		return -1;
	return v;
}

/*
 * Runs fio with @argv (NULL-terminated, terse output) and returns the bandwidth fio measured
 * itself (its start-up and file layout excluded), in bytes/s, or 0 on failure.
 */
static uint64_t run_fio(const char *const argv[], int field)
{
	posix_spawn_file_actions_t fa;
	char out[8192];
	size_t len = 0;
	int pfd[2], status, rc;
	long long kib_s;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) == -1)
		return 0;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	rc = posix_spawnp(&pid, "fio", &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (rc != 0) {
		close(pfd[0]);
		fprintf(stderr, "vx-bench storage: cannot run fio: %s\n", strerror(rc));
		return 0;
	}
	for (;;) {
		ssize_t r = read(pfd[0], out + len, sizeof(out) - 1 - len);

		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == sizeof(out) - 1)
			break;
	}
	out[len] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "vx-bench storage: fio failed\n");
		return 0;
	}
	kib_s = strncmp(out, "3;", 2) == 0 ? terse_field(out, field) : -1;
	if (kib_s <= 0) {
		fprintf(stderr, "vx-bench storage: unexpected fio output\n");
		return 0;
	}
	return (uint64_t)kib_s * 1024u;
}

/* One fio job over <dir>/fio.dat: @rw is "write" or "read". Returns bytes/s or 0. */
static uint64_t fio_job(const struct bench_opts *o, const char *rw, bool direct)
{
	char filename[PATH_MAX + 32], size[32], bs[32], rwopt[32];
	bool write = strcmp(rw, "write") == 0;
	const char *argv[] = { "fio",
			       "--name=vx",
			       filename,
			       rwopt,
			       bs,
			       size,
			       direct ? "--direct=1" : "--direct=0",
			       "--ioengine=psync",
			       "--fallocate=native",
			       write ? "--end_fsync=1" : "--end_fsync=0",
			       "--invalidate=0",
			       "--thread",
			       "--output-format=terse",
			       "--terse-version=3",
			       NULL };

	snprintf(filename, sizeof(filename), "--filename=%s/fio.dat", o->dir);
	snprintf(size, sizeof(size), "--size=%llu", (unsigned long long)o->size);
	snprintf(bs, sizeof(bs), "--bs=%llu", (unsigned long long)o->piece);
	snprintf(rwopt, sizeof(rwopt), "--rw=%s", rw);
	return run_fio(argv, write ? 48 : 7);
}

static int open_store(const struct bench_opts *o, enum vx_store_direct_io dio, bool no_sync,
		      bool flusher, struct vx_store **s)
{
	struct vx_store_cfg cfg;
	char dir[PATH_MAX + 16];

	snprintf(dir, sizeof(dir), "%s/store", o->dir);
	vx_store_cfg_init(&cfg);
	cfg.dir = dir;
	cfg.direct_io = dio;
	cfg.no_sync = no_sync;
	cfg.no_flush_thread = !flusher;
	cfg.wipe = true;
	cfg.flush_interval_ms = o->flush_ms;
	cfg.gc_high_pct = 100;
	cfg.gc_low_pct = 100;
	return vx_store_open(s, &cfg);
}

/*
 * Writes one task of o->size bytes piece by piece the way the data plane does (begin_write,
 * pwrite on the fd the store gives, commit with the CRC computed on receipt), then flushes.
 * Returns ns, or 0 on failure. *direct tells whether aligned pieces went O_DIRECT.
 */
static uint64_t store_write(const struct bench_opts *o, enum vx_store_direct_io dio, bool no_sync,
			    uint8_t *buf, uint32_t crc, bool *direct, struct vx_store_stats *st)
{
	struct vx_store_task_params p = { 0 };
	struct vx_store_task *t;
	struct vx_store *s;
	uint64_t start, ns = 0;
	char id[VX_TASK_ID_LEN + 1];
	int err;

	memset(id, 'a', VX_TASK_ID_LEN);
	id[VX_TASK_ID_LEN] = '\0';
	err = open_store(o, dio, no_sync, true, &s);
	if (err) {
		fprintf(stderr, "vx-bench storage: open store: %s\n", vx_strerror(err));
		return 0;
	}
	p.id = id;
	p.content_length = o->size;
	p.piece_length = o->piece;
	/* Like fio's layout, admission and fallocate are not timed. */
	err = vx_store_task_open(s, &p, VX_STORE_USE_DOWNLOAD, &t);
	if (err)
		goto out;
	start = vx_now_ns();
	*direct = false;
	for (uint32_t n = 0; n < vx_store_task_piece_count(t); n++) {
		struct vx_store_piece_io io;
		struct vx_store_piece_done done = { .crc32 = crc };
		ssize_t w;

		err = vx_store_piece_begin_write(t, n, &io);
		if (err)
			break;
		*direct |= io.direct;
		w = pwrite(io.fd, buf, (size_t)io.length, (off_t)io.offset);
		if (w != (ssize_t)io.length) {
			err = w < 0 ? -errno : -EIO;
			vx_store_piece_abort(t, n, err);
			break;
		}
		err = vx_store_piece_commit(t, n, &done);
		if (err)
			break;
	}
	if (!err)
		err = vx_store_flush(s);
	ns = vx_now_ns() - start;
	vx_store_stats(s, st);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
out:
	vx_store_close(s);
	if (err) {
		fprintf(stderr, "vx-bench storage: store write: %s\n", vx_strerror(err));
		return 0;
	}
	return ns;
}

enum read_mode {
	READ_PREAD = 0,	   /* pread from ref.fd + ref.offset into a buffer */
	READ_SENDFILE = 1, /* sendfile from ref.fd into a loopback TCP socket: the serve path */
	READ_MMAP = 2,	   /* touch every byte of ref.data */
};

/* A loopback TCP connection whose far end a thread drains: what an uploader sends into. */
struct sink {
	int fd;	  /* our end */
	int peer; /* the drained end */
	pthread_t thread;
	uint64_t expect; /* bytes the thread reads before it stops */
};

static void *sink_main(void *arg)
{
	struct sink *k = arg;
	static uint8_t scratch[1 << 20];
	uint64_t got = 0;

	while (got < k->expect) {
		ssize_t r = recv(k->peer, scratch, sizeof(scratch), 0);

		if (r <= 0)
			break;
		got += (uint64_t)r;
	}
	return NULL;
}

static int sink_open(struct sink *k, uint64_t expect)
{
	const struct vx_net_opts o = { .backlog = 1 };
	struct sockaddr_in a = { .sin_family = AF_INET };
	int l, port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = vx_net_tcp_listen((const struct sockaddr *)&a, sizeof(a), &o, NULL);
	if (l < 0)
		return -1;
	port = vx_net_local_port(l);
	a.sin_port = htons((uint16_t)(port > 0 ? port : 0));
	k->fd = port > 0 ? vx_net_tcp_dial((const struct sockaddr *)&a, sizeof(a), &o, NULL) : -1;
	if (k->fd < 0) {
		close(l);
		return -1;
	}
	k->peer = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	if (k->peer == -1)
		return -1;
	k->expect = expect;
	return pthread_create(&k->thread, NULL, sink_main, k) == 0 ? 0 : -1;
}

static void sink_close(struct sink *k)
{
	shutdown(k->fd, SHUT_WR);
	pthread_join(k->thread, NULL);
	close(k->fd);
	close(k->peer);
}

/* Reads the task written by store_write() back, warm, through @mode. Returns ns or 0. */
static uint64_t store_read(const struct bench_opts *o, enum read_mode mode, uint8_t *buf)
{
	struct vx_store *s;
	struct vx_store_task *t;
	struct vx_store_cfg cfg;
	char dir[PATH_MAX + 16], id[VX_TASK_ID_LEN + 1];
	uint64_t start, ns, sum = 0;
	struct sink k = { .fd = -1 };
	int err;

	snprintf(dir, sizeof(dir), "%s/store", o->dir);
	vx_store_cfg_init(&cfg);
	cfg.dir = dir;
	cfg.no_flush_thread = true;
	memset(id, 'a', VX_TASK_ID_LEN);
	id[VX_TASK_ID_LEN] = '\0';
	if (mode == READ_SENDFILE && sink_open(&k, o->size) != 0) {
		fprintf(stderr, "vx-bench storage: loopback socket: %s\n", strerror(errno));
		return 0;
	}
	err = vx_store_open(&s, &cfg);
	if (err)
		goto err_close_sink;
	err = vx_store_task_acquire(s, id, VX_STORE_USE_UPLOAD, &t);
	if (err)
		goto err_close_store;
	start = vx_now_ns();
	for (uint32_t n = 0; n < vx_store_task_piece_count(t) && !err; n++) {
		struct vx_store_piece_ref ref;

		err = vx_store_piece_get(t, n, &ref);
		if (err)
			break;
		if (mode == READ_PREAD) {
			if (pread(ref.fd, buf, (size_t)ref.length, (off_t)ref.offset) !=
			    (ssize_t)ref.length)
				err = -EIO;
		} else if (mode == READ_SENDFILE) {
			off_t off = (off_t)ref.offset;
			uint64_t left = ref.length;

			while (left && !err) {
				ssize_t c = sendfile(k.fd, ref.fd, &off, (size_t)left);

				if (c <= 0)
					err = -EIO;
				else
					left -= (uint64_t)c;
			}
		} else {
			for (uint64_t i = 0; i < ref.length; i += 4096)
				sum += ref.data[i];
		}
	}
	if (mode == READ_SENDFILE)
		sink_close(&k); /* the far end has read everything */
	ns = vx_now_ns() - start;
	vx_store_task_release(t, VX_STORE_USE_UPLOAD);
	vx_store_close(s);
	if (sum == 1)
		fprintf(stderr, " "); /* keeps the mmap loop from being optimised away */
	return err ? 0 : ns;
err_close_store:
	vx_store_close(s);
err_close_sink:
	if (mode == READ_SENDFILE)
		sink_close(&k);
	fprintf(stderr, "vx-bench storage: store read: %s\n", vx_strerror(err));
	return 0;
}

/*
 * Metadata: @commits flushes of @batch finished pieces each, with no content sync, so sqlite
 * alone is timed. Returns ns for all of them, or 0.
 */
static uint64_t meta_commits(const struct bench_opts *o, uint32_t commits, uint32_t batch)
{
	struct vx_store_task_params p = { 0 };
	struct vx_store_task *t;
	struct vx_store *s;
	uint64_t start, ns;
	char id[VX_TASK_ID_LEN + 1];
	uint32_t n = 0;
	int err;

	memset(id, 'b', VX_TASK_ID_LEN);
	id[VX_TASK_ID_LEN] = '\0';
	err = open_store(o, VX_STORE_DIRECT_DISABLED, true, false, &s);
	if (err)
		return 0;
	p.id = id;
	p.piece_length = 4096;
	p.content_length = (uint64_t)commits * batch * 4096;
	err = vx_store_task_open(s, &p, VX_STORE_USE_DOWNLOAD, &t);
	if (err)
		goto out;
	start = vx_now_ns();
	for (uint32_t c = 0; c < commits && !err; c++) {
		for (uint32_t b = 0; b < batch && !err; b++, n++) {
			struct vx_store_piece_io io;
			struct vx_store_piece_done done = { .crc32 = n };

			err = vx_store_piece_begin_write(t, n, &io);
			if (!err)
				err = vx_store_piece_commit(t, n, &done);
		}
		if (!err)
			err = vx_store_flush(s);
	}
	ns = vx_now_ns() - start;
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
out:
	vx_store_close(s);
	return err ? 0 : ns;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct bench_opts *o)
{
	uint64_t v;

	o->size = 1024ull << 20;
	o->piece = 4ull << 20;
	o->commits = 2000;
	o->reps = 3;
	o->dir[0] = '\0';
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--keep") == 0) {
			o->keep = true;
		} else if (strcmp(a, "--no-fio") == 0) {
			o->no_fio = true;
		} else if (i + 1 < argc && strcmp(a, "--size-mib") == 0) {
			if (parse_u64(argv[++i], &v) || v == 0 || v > (1u << 20))
				return -EINVAL;
			o->size = v << 20;
		} else if (i + 1 < argc && strcmp(a, "--piece-kib") == 0) {
			if (parse_u64(argv[++i], &v) || v < 4 || v > (1u << 20) || v % 4)
				return -EINVAL;
			o->piece = v << 10;
		} else if (i + 1 < argc && strcmp(a, "--commits") == 0) {
			if (parse_u64(argv[++i], &v) || v == 0 || v > 1000000)
				return -EINVAL;
			o->commits = (uint32_t)v;
		} else if (i + 1 < argc && strcmp(a, "--flush-ms") == 0) {
			if (parse_u64(argv[++i], &v) || v > 3600000)
				return -EINVAL;
			o->flush_ms = (uint32_t)v;
		} else if (i + 1 < argc && strcmp(a, "--reps") == 0) {
			if (parse_u64(argv[++i], &v) || v == 0 || v > REPS_MAX)
				return -EINVAL;
			o->reps = (uint32_t)v;
		} else if (i + 1 < argc && strcmp(a, "--dir") == 0) {
			if (strlen(argv[++i]) >= sizeof(o->dir) - 64)
				return -EINVAL;
			snprintf(o->dir, sizeof(o->dir), "%s", argv[i]);
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: vx-bench storage [--size-mib N (1024)] [--piece-kib N (4096)]\n"
			"                        [--commits N (2000)] [--reps N (3)] [--dir DIR]\n"
			"                        [--flush-ms N (store default)]\n"
			"                        [--keep] [--no-fio]\n");
}

static uint64_t rate(uint64_t bytes, uint64_t ns)
{
	return ns ? (uint64_t)((double)bytes * 1e9 / (double)ns) : 0;
}

/* The figures, one per repetition; lines report medians (the machine is shared). */
enum metric {
	M_FIO_WD = 0,
	M_VX_WD,
	M_FIO_WB,
	M_VX_WB,
	M_VX_WN,
	M_FIO_R,
	M_VX_R,
	M_VX_SF,
	M_VX_MM,
	M_NR,
};

struct bench_res {
	uint64_t v[M_NR][REPS_MAX]; /* bytes/s, 0 = failed or not run */
	uint32_t reps;
	struct vx_store_stats st_d;
	bool direct;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *x, uint32_t n)
{
	qsort(x, n, sizeof(*x), cmp_double);
	return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

/*
 * Prints the median of metric @m and, against @base (M_NR for none), the median of the
 * per-repetition ratios: each ratio compares two runs taken back to back.
 */
static void row(const struct bench_res *r, const char *what, enum metric m, enum metric base)
{
	double val[REPS_MAX], ratio[REPS_MAX];
	uint32_t nv = 0, nr = 0;

	for (uint32_t i = 0; i < r->reps; i++) {
		if (!r->v[m][i])
			continue;
		val[nv++] = (double)r->v[m][i];
		if (base != M_NR && r->v[base][i])
			ratio[nr++] = (double)r->v[m][i] / (double)r->v[base][i];
	}
	if (!nv) {
		printf("  %-38s failed\n", what);
		return;
	}
	printf("  %-38s %9.1f MiB/s", what, median(val, nv) / (1024.0 * 1024.0));
	if (nr)
		printf("   %.2fx fio", median(ratio, nr));
	printf("\n");
}

static void bench_writes(const struct bench_opts *o, uint8_t *buf, uint32_t crc,
			 struct bench_res *r, uint32_t i)
{
	char fio_file[PATH_MAX + 16];
	struct vx_store_stats st;
	bool direct = false;

	snprintf(fio_file, sizeof(fio_file), "%s/fio.dat", o->dir);
	if (!o->no_fio) {
		r->v[M_FIO_WD][i] = fio_job(o, "write", true);
		unlink(fio_file);
	}
	r->v[M_VX_WD][i] = rate(o->size, store_write(o, VX_STORE_DIRECT_OPTIONAL, false, buf, crc,
						     &r->direct, &r->st_d));
	if (!o->no_fio) {
		r->v[M_FIO_WB][i] = fio_job(o, "write", false);
		unlink(fio_file);
	}
	r->v[M_VX_WB][i] = rate(
		o->size, store_write(o, VX_STORE_DIRECT_DISABLED, false, buf, crc, &direct, &st));
	r->v[M_VX_WN][i] = rate(
		o->size, store_write(o, VX_STORE_DIRECT_OPTIONAL, true, buf, crc, &direct, &st));
}

static void bench_reads(const struct bench_opts *o, uint8_t *buf, struct bench_res *r, uint32_t i)
{
	char fio_file[PATH_MAX + 16];

	snprintf(fio_file, sizeof(fio_file), "%s/fio.dat", o->dir);
	if (!o->no_fio) {
		fio_job(o, "write", false); /* lay out fio's file, read it once to warm it */
		fio_job(o, "read", false);
		r->v[M_FIO_R][i] = fio_job(o, "read", false);
		unlink(fio_file);
	}
	store_read(o, READ_PREAD, buf); /* warm */
	r->v[M_VX_R][i] = rate(o->size, store_read(o, READ_PREAD, buf));
	r->v[M_VX_SF][i] = rate(o->size, store_read(o, READ_SENDFILE, buf));
	r->v[M_VX_MM][i] = rate(o->size, store_read(o, READ_MMAP, buf));
}

static int bench_storage_run(int argc, char **argv)
{
	struct bench_opts o = { 0 };
	struct bench_res r = { 0 };
	uint64_t m1, mb;
	bool made_dir = false;
	uint32_t crc, batches;
	uint8_t *buf;

	if (parse_opts(argc, argv, &o)) {
		usage();
		return 2;
	}
	if (!o.dir[0]) {
		snprintf(o.dir, sizeof(o.dir), "vx-bench-storage-XXXXXX");
		if (!mkdtemp(o.dir)) {
			perror("vx-bench storage: mkdtemp");
			return 1;
		}
		made_dir = true;
	}
	vx_log_set_level(VX_LOG_WARN);
	buf = vx_aligned_alloc(4096, (size_t)o.piece);
	if (!buf)
		return 1;
	for (uint64_t i = 0; i < o.piece; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	crc = vx_crc32(0, buf, (size_t)o.piece);

	printf("vx-bench storage: %llu MiB per run, piece = fio block %llu KiB, median of %u, dir "
	       "%s\n",
	       (unsigned long long)(o.size >> 20), (unsigned long long)(o.piece >> 10), o.reps,
	       o.dir);
	r.reps = o.reps;
	for (uint32_t i = 0; i < o.reps; i++)
		bench_writes(&o, buf, crc, &r, i);
	printf("sequential piece writes, durable at the end (fio --end_fsync=1, store flush)\n");
	row(&r, "fio write --direct=1", M_FIO_WD, M_NR);
	row(&r, r.direct ? "vx store write O_DIRECT" : "vx store write (no O_DIRECT here)", M_VX_WD,
	    M_FIO_WD);
	row(&r, "fio write --direct=0", M_FIO_WB, M_NR);
	row(&r, "vx store write buffered", M_VX_WB, M_FIO_WB);
	row(&r, "vx O_DIRECT without fdatasync (unsafe)", M_VX_WN, M_FIO_WD);
	{
		double cost[REPS_MAX];
		uint32_t n = 0;

		for (uint32_t i = 0; i < o.reps; i++) {
			if (r.v[M_VX_WD][i] && r.v[M_VX_WN][i])
				cost[n++] =
					100.0 *
					((double)r.v[M_VX_WN][i] / (double)r.v[M_VX_WD][i] - 1.0);
		}
		printf("  flusher in one O_DIRECT run: %llu commits, %llu fdatasyncs, %llu piece "
		       "rows; crash safety costs %.1f%% (median)\n",
		       (unsigned long long)r.st_d.commits, (unsigned long long)r.st_d.syncs,
		       (unsigned long long)r.st_d.pieces_persisted, n ? median(cost, n) : 0.0);
	}

	for (uint32_t i = 0; i < o.reps; i++)
		bench_reads(&o, buf, &r, i);
	printf("sequential piece reads, warm page cache (the serve path)\n");
	row(&r, "fio read --direct=0 --invalidate=0", M_FIO_R, M_NR);
	row(&r, "vx piece ref pread", M_VX_R, M_FIO_R);
	row(&r, "vx piece ref sendfile to loopback TCP", M_VX_SF, M_FIO_R);
	row(&r, "vx piece ref mmap (touch each page)", M_VX_MM, M_FIO_R);

	printf("metadata (sqlite WAL, one transaction per flush, no content sync)\n");
	batches = o.commits / 10 ? o.commits / 10 : 1;
	m1 = meta_commits(&o, o.commits, 1);
	mb = meta_commits(&o, batches, 256);
	if (m1)
		printf("  %-36s %9.0f commits/s (%.0f pieces/s)\n", "1 piece per commit",
		       o.commits / ((double)m1 / 1e9), o.commits / ((double)m1 / 1e9));
	if (mb)
		printf("  %-36s %9.0f commits/s (%.0f pieces/s)\n", "256 pieces per commit",
		       batches / ((double)mb / 1e9), batches * 256.0 / ((double)mb / 1e9));
	if (mb && r.v[M_VX_WD][0])
		printf("  at the O_DIRECT write rate the flush needs %.3f%% of one core for rows\n",
		       100.0 * ((double)r.v[M_VX_WD][0] / (double)o.piece) /
			       (batches * 256.0 / ((double)mb / 1e9)));
	{
		char content[PATH_MAX + 200];

		snprintf(content, sizeof(content), "%s/store/content/tasks/aaa/", o.dir);
		memset(content + strlen(content), 'a', VX_TASK_ID_LEN);
		content[strlen(o.dir) + 25 + VX_TASK_ID_LEN] = '\0';
		drop_caches_of(content);
	}
	vx_free(buf);
	if (made_dir && !o.keep)
		nftw(o.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return r.v[M_VX_WD][0] && r.v[M_VX_WB][0] && r.v[M_VX_R][0] ? 0 : 1;
}

const struct vx_bench vx_bench_storage = {
	.name = "storage",
	.summary = "piece store writes (O_DIRECT, buffered), reads and metadata vs fio",
	.run = bench_storage_run,
};
