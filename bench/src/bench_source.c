/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_source.c: `vx-bench source [--nginx] [URL] [--size BYTES] [--piece BYTES]
 * [--conns N] [--runs N]`: back-to-source throughput. The object is fetched three ways in the
 * same run, on the same origin:
 *   curl      one `curl -s -o /dev/null URL` (the baseline: a single stream)
 *   vx-1      vx_source: ranged pieces in parallel through one curl multi worker
 *   vx-N      the same with N workers (--workers, default 2), pieces dealt round robin
 *   threads   the alternative threading model: N threads, each a blocking curl_easy doing
 *             ranged pieces (what vx_source would look like without its worker)
 * Every piece is copied into one of 64 preallocated piece buffers, as the data plane would. With --nginx the bench starts
 * its own nginx (generated config, temp dir, free loopback port) serving a file of --size bytes
 * (default 1 GiB) of pseudo-random data. Figures are reported as MiB/s and as ratios to curl.
 */
#include <stdio.h>

#include "bench.h"

/*
 * sources/ is skipped when jansson is missing (sources/CMakeLists.txt); then its header is not
 * on the include path and this benchmark only says so, instead of breaking vx-bench.
 */
#if __has_include("vx_source.h")
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "bench.h"

extern char **environ;

#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_net.h"
#include "vx_source.h"
#include "vx_time.h"

#define SB_PIECE_DEFAULT (4u << 20)
#define SB_SIZE_DEFAULT	 (1ull << 30)
#define SB_CONNS_DEFAULT 8u
#define SB_CONNS_MAX	 64u
#define SB_RUNS_MAX	 10u

struct sb_cfg {
	const char *url;
	bool nginx;
	uint64_t size;
	uint64_t piece;
	uint32_t conns;
	uint32_t workers;
	uint32_t runs;
	uint8_t *ring; /* SB_RING piece buffers, touched before any clock starts */
};

#define SB_RING 64u

struct sb_nginx {
	char dir[256];
	pid_t pid;
	int port;
};

static bool sb_port_open(int port)
{
	const struct vx_net_opts o = { 0 };
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	fd = vx_net_tcp_dial((const struct sockaddr *)&a, sizeof(a), &o, NULL);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Writes @size pseudo-random bytes to @path in 4 MiB blocks. */
static int sb_make_file(const char *path, uint64_t size)
{
	const size_t blk = 4u << 20;
	uint32_t *buf = vx_malloc(blk);
	uint32_t x = 2463534242u;
	int fd, rc = 0;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd == -1) {
		vx_free(buf);
		return -errno;
	}
	for (uint64_t done = 0; done < size && !rc;) {
		size_t n = (size_t)VX_MIN((uint64_t)blk, size - done);

		for (size_t i = 0; i < blk / 4; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			buf[i] = x;
		}
		if (write(fd, buf, n) != (ssize_t)n)
			rc = -EIO;
		done += n;
	}
	/* Written back now, so that no run competes with the writeback of its own file. */
	if (!rc && fsync(fd) == -1)
		rc = -errno;
	close(fd);
	vx_free(buf);
	return rc;
}

static int sb_nginx_start(struct sb_nginx *n, uint64_t size)
{
	const char *tmp = getenv("TMPDIR");
	char path[512], conf[512];
	FILE *f;

	snprintf(n->dir, sizeof(n->dir), "%s/vx-bench-source-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(n->dir))
		return -errno;
	chmod(n->dir, 0755);
	snprintf(path, sizeof(path), "%s/blob", n->dir);
	if (sb_make_file(path, size) != 0)
		return -EIO;
	n->port = vx_bench_free_port();
	snprintf(conf, sizeof(conf), "%s/nginx.conf", n->dir);
	f = fopen(conf, "w");
	if (!f)
		return -errno;
	fprintf(f,
		"daemon off;\nworker_processes 2;\nerror_log %s/error.log;\npid %s/nginx.pid;\n"
		"events { worker_connections 1024; }\n"
		"http {\n access_log off;\n sendfile on;\n tcp_nopush on;\n"
		" keepalive_requests 100000;\n client_body_temp_path %s/t1; proxy_temp_path "
		"%s/t2;\n"
		" fastcgi_temp_path %s/t3; uwsgi_temp_path %s/t4; scgi_temp_path %s/t5;\n"
		" server { listen 127.0.0.1:%d; root %s; }\n}\n",
		n->dir, n->dir, n->dir, n->dir, n->dir, n->dir, n->dir, n->port, n->dir);
	fclose(f);
	n->pid = fork();
	if (n->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execlp("nginx", "nginx", "-p", n->dir, "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 250 && !sb_port_open(n->port); i++)
		usleep(20000);
	return sb_port_open(n->port) ? 0 : -ECONNREFUSED;
}

static void sb_nginx_stop(struct sb_nginx *n)
{
	char cmd[300];

	if (n->pid > 0) {
		kill(n->pid, SIGTERM);
		waitpid(n->pid, NULL, 0);
	}
	if (n->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", n->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench source: could not remove %s\n", n->dir);
	}
}

/* ---- baseline: one curl process ----------------------------------------------------------- */

/*
 * posix_spawn, not fork: a fork write-protects every page of this process (the 256 MiB piece
 * ring included) until each is written again, and those copy-on-write faults would be charged
 * to whichever mode runs next.
 */
static double sb_run_curl(const char *url)
{
	char *argv[] = { (char *)"curl",      (char *)"-s", (char *)"-f", (char *)"-o",
			 (char *)"/dev/null", (char *)url,  NULL };
	uint64_t t0 = vx_now_ns();
	int status;
	pid_t pid;

	if (posix_spawnp(&pid, "curl", NULL, NULL, argv, environ) != 0)
		return -1;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return (double)(vx_now_ns() - t0) / 1e9;
}

/* ---- vx_source ---------------------------------------------------------------------------- */

struct sb_vx {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t done;
	uint32_t failed;
	uint8_t *scratch; /* the ring: with several workers, sinks run at the same time */
	uint64_t piece;
};

struct sb_piece {
	struct sb_vx *vx;
	uint64_t got;
	uint8_t *buf; /* this piece's slice of the scratch ring */
};

static int sb_vx_sink(void *arg, const void *data, size_t len)
{
	struct sb_piece *p = arg;

	if (p->got + len > p->vx->piece)
		return -EMSGSIZE;
	memcpy(p->buf + p->got, data, len);
	p->got += len;
	return 0;
}

static void sb_vx_done(void *arg, int err, const struct vx_source_error *detail)
{
	struct sb_piece *p = arg;
	char line[1024];

	pthread_mutex_lock(&p->vx->lock);
	p->vx->done++;
	if (err) {
		p->vx->failed++;
		fprintf(stderr, "bench source: %s\n",
			vx_source_error_format(detail, line, sizeof(line)));
	}
	pthread_cond_signal(&p->vx->cond);
	pthread_mutex_unlock(&p->vx->lock);
}

static double sb_run_vx(const struct sb_cfg *c, uint64_t size, uint32_t workers)
{
	struct vx_source_ctx_cfg cc = { .reqs_max = 4096,
					.host_conns_max = c->conns,
					.workers = workers };
	struct sb_vx vx = { .lock = PTHREAD_MUTEX_INITIALIZER,
			    .cond = PTHREAD_COND_INITIALIZER,
			    .piece = c->piece };
	uint64_t nr = (size + c->piece - 1) / c->piece, t0;
	struct vx_source_error d;
	struct vx_source_ctx *ctx;
	struct vx_source_obj *obj;
	struct sb_piece *pieces;
	double secs = -1;
	char line[1024];

	if (nr > 4096 || vx_source_ctx_new(&ctx, &cc) != 0)
		return -1;
	pieces = vx_calloc(nr, sizeof(*pieces));
	vx.scratch = c->ring;
	if (!pieces)
		goto out_free;
	t0 = vx_now_ns();
	if (vx_source_open(ctx, c->url, NULL, &obj, &d) != 0) {
		fprintf(stderr, "bench source: %s\n",
			vx_source_error_format(&d, line, sizeof(line)));
		goto out_free;
	}
	for (uint64_t i = 0; i < nr; i++) {
		struct vx_source_read rd = {
			.offset = i * c->piece,
			.length = VX_MIN(c->piece, size - i * c->piece),
			.sink = sb_vx_sink,
			.done = sb_vx_done,
			.arg = &pieces[i],
		};

		pieces[i].vx = &vx;
		pieces[i].buf = vx.scratch + (i % SB_RING) * c->piece;
		if (vx_source_read_submit(obj, &rd, NULL) != 0) {
			pthread_mutex_lock(&vx.lock);
			vx.done++;
			vx.failed++;
			pthread_mutex_unlock(&vx.lock);
		}
	}
	pthread_mutex_lock(&vx.lock);
	while (vx.done < nr)
		pthread_cond_wait(&vx.cond, &vx.lock);
	pthread_mutex_unlock(&vx.lock);
	if (!vx.failed)
		secs = (double)(vx_now_ns() - t0) / 1e9;
	vx_source_obj_free(obj);
out_free:
	vx_free(pieces);
	vx_source_ctx_free(ctx);
	return secs;
}

/* ---- threads, one blocking easy handle each --------------------------------------------- */

struct sb_thr {
	const struct sb_cfg *c;
	uint64_t size;
	uint64_t next; /* atomic: next piece index */
	uint64_t nr;
	int failed; /* atomic */
};

struct sb_thr_buf {
	uint8_t *p; /* the piece's ring slot */
	uint64_t len;
	uint64_t cap;
};

static size_t sb_thr_write(char *data, size_t size, size_t n, void *arg)
{
	struct sb_thr_buf *b = arg;
	size_t len = size * n;

	if (b->len + len > b->cap)
		return 0;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return len;
}

static void *sb_thr_main(void *arg)
{
	struct sb_thr *t = arg;
	struct sb_thr_buf b = { .cap = t->c->piece };
	CURL *e = curl_easy_init();
	char range[64];

	if (!e) {
		__atomic_store_n(&t->failed, 1, __ATOMIC_RELAXED);
		goto out;
	}
	curl_easy_setopt(e, CURLOPT_URL, t->c->url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sb_thr_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256 * 1024L);
	for (;;) {
		uint64_t i = __atomic_fetch_add(&t->next, 1, __ATOMIC_RELAXED);
		uint64_t off = i * t->c->piece;

		if (i >= t->nr)
			break;
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
			 (unsigned long long)(off + VX_MIN(t->c->piece, t->size - off) - 1));
		curl_easy_setopt(e, CURLOPT_RANGE, range);
		b.p = t->c->ring + (i % SB_RING) * t->c->piece;
		b.len = 0;
		if (curl_easy_perform(e) != CURLE_OK)
			__atomic_store_n(&t->failed, 1, __ATOMIC_RELAXED);
	}
out:
	curl_easy_cleanup(e);
	return NULL;
}

static double sb_run_threads(const struct sb_cfg *c, uint64_t size)
{
	struct sb_thr t = { .c = c, .size = size, .nr = (size + c->piece - 1) / c->piece };
	pthread_t th[SB_CONNS_MAX];
	uint64_t t0 = vx_now_ns();
	uint32_t started = 0;

	for (uint32_t i = 0; i < c->conns; i++) {
		if (pthread_create(&th[i], NULL, sb_thr_main, &t) != 0)
			break;
		started++;
	}
	for (uint32_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (t.failed || started != c->conns)
		return -1;
	return (double)(vx_now_ns() - t0) / 1e9;
}

/* ---- driver -------------------------------------------------------------------------------- */

static int sb_parse(int argc, char **argv, struct sb_cfg *c)
{
	*c = (struct sb_cfg){ .size = SB_SIZE_DEFAULT,
			      .piece = SB_PIECE_DEFAULT,
			      .conns = SB_CONNS_DEFAULT,
			      .workers = 2,
			      .runs = 1 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--nginx") == 0) {
			c->nginx = true;
		} else if (strcmp(a, "--size") == 0 && v) {
			c->size = strtoull(v, NULL, 0);
			i++;
		} else if (strcmp(a, "--piece") == 0 && v) {
			c->piece = strtoull(v, NULL, 0);
			i++;
		} else if (strcmp(a, "--conns") == 0 && v) {
			c->conns = (uint32_t)strtoul(v, NULL, 0);
			i++;
		} else if (strcmp(a, "--workers") == 0 && v) {
			c->workers = (uint32_t)strtoul(v, NULL, 0);
			i++;
		} else if (strcmp(a, "--runs") == 0 && v) {
			c->runs = (uint32_t)strtoul(v, NULL, 0);
			i++;
		} else if (a[0] != '-' && !c->url) {
			c->url = a;
		} else {
			return -EINVAL;
		}
	}
	if ((!c->url) == !c->nginx || c->piece < 65536 || c->piece > (256u << 20) ||
	    c->conns == 0 || c->conns > SB_CONNS_MAX || c->runs == 0 || c->runs > SB_RUNS_MAX ||
	    c->workers == 0 || c->workers > VX_SOURCE_WORKERS_MAX || c->size == 0)
		return -EINVAL;
	return 0;
}

static void sb_report(const char *name, double secs, uint64_t size, double base)
{
	double mib = (double)size / (1024.0 * 1024.0);

	if (secs <= 0) {
		printf("  %-8s failed\n", name);
		return;
	}
	printf("  %-8s %8.3f s %9.1f MiB/s   x%.2f vs curl\n", name, secs, mib / secs,
	       base > 0 ? base / secs : 0.0);
}

static int sb_run(int argc, char **argv)
{
	struct sb_nginx ng = { .pid = -1 };
	char url[256];
	struct sb_cfg c;
	uint64_t size;
	int rc = 0;

	if (sb_parse(argc, argv, &c) != 0) {
		fprintf(stderr,
			"usage: vx-bench source (--nginx | URL) [--size BYTES] [--piece BYTES]"
			" [--conns 1..64] [--workers 1..16] [--runs 1..10]\n");
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	if (c.nginx) {
		if (sb_nginx_start(&ng, c.size) != 0) {
			fprintf(stderr, "bench source: could not start nginx (is it installed?)\n");
			sb_nginx_stop(&ng);
			return 1;
		}
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/blob", ng.port);
		c.url = url;
	}
	{
		struct vx_source_ctx *ctx;
		struct vx_source_obj *obj;
		struct vx_source_error d;
		char line[1024];

		if (vx_source_ctx_new(&ctx, NULL) != 0)
			return 1;
		rc = vx_source_open(ctx, c.url, NULL, &obj, &d);
		if (rc) {
			fprintf(stderr, "bench source: %s\n",
				vx_source_error_format(&d, line, sizeof(line)));
			vx_source_ctx_free(ctx);
			sb_nginx_stop(&ng);
			return 1;
		}
		size = vx_source_obj_stat(obj)->ranges ? (uint64_t)vx_source_obj_stat(obj)->length
						       : 0;
		vx_source_obj_free(obj);
		vx_source_ctx_free(ctx);
	}
	if (size == 0) {
		fprintf(stderr, "bench source: the origin gives no length or no ranges\n");
		sb_nginx_stop(&ng);
		return 1;
	}
	/* The piece buffers every mode writes into, like a data plane's preallocated pool; touched
	 * now, because first-touch page faults on fresh memory cost more than the transfer. */
	c.ring = vx_mallocarray(SB_RING, c.piece);
	if (!c.ring) {
		sb_nginx_stop(&ng);
		return 1;
	}
	memset(c.ring, 0, SB_RING * c.piece);
	/* One unmeasured pass puts the origin's file in the page cache for every mode alike. */
	if (sb_run_curl(c.url) < 0)
		fprintf(stderr, "bench source: warm-up fetch failed\n");
	printf("source: %llu bytes, pieces of %llu, %u connections, vx-N = N workers, %u run(s)\n",
	       (unsigned long long)size, (unsigned long long)c.piece, c.conns, c.runs);
	for (uint32_t r = 0; r < c.runs; r++) {
		double base = sb_run_curl(c.url);
		double vx1 = sb_run_vx(&c, size, 1);
		double vxn = c.workers > 1 ? sb_run_vx(&c, size, c.workers) : vx1;
		double thr = sb_run_threads(&c, size);
		char name[16];

		printf("run %u:\n", r + 1);
		sb_report("curl", base, size, base);
		sb_report("vx-1", vx1, size, base);
		if (c.workers > 1) {
			snprintf(name, sizeof(name), "vx-%u", c.workers);
			sb_report(name, vxn, size, base);
		}
		sb_report("threads", thr, size, base);
		if (base <= 0 || vx1 <= 0 || vxn <= 0 || thr <= 0)
			rc = 1;
	}
	vx_free(c.ring);
	sb_nginx_stop(&ng);
	curl_global_cleanup();
	return rc;
}

#else
static int sb_run(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "vx-bench source: built without sources/ (jansson missing)\n");
	return 1;
}
#endif

const struct vx_bench vx_bench_source = {
	.name = "source",
	.summary = "back-to-source ranged parallel fetch vs one curl (--nginx or URL)",
	.run = sb_run,
};
