/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_pair.c: `vx-bench pair`: one vx peer holds a file (default 1 GiB), another downloads
 * it over loopback, each in its own process with its own ring. Reports MB/s, CPU seconds and
 * peak RSS of each side, and in the same run the baselines: iperf3 (one stream, memory to
 * memory) and nginx (sendfile) + curl writing to a file. Every figure is best of --runs;
 * compare the ratios, not the absolute numbers (the machine may be shared). With --tls the same
 * run also moves the file over TLS 1.3 with client certificates (user-space AES-GCM, OpenSSL)
 * and prints the ratio to plaintext and the CPU cost of one mutual handshake.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "vx_dp_tls.h"
#include "vx_fetcher.h"
#include "vx_file_task.h"
#include "vx_loop.h"
#include "vx_piece_plan.h"
#include "vx_metrics.h"
#include "vx_ring.h"
#include "vx_time.h"
#include "vx_upload.h"

#define PAIR_TASK "a11ce0000000000000000000000000000000000000000000000000000000b0b0"
/* The host id in seed.pem of tests/integration/tls_certs.sh. */
#define PAIR_TLS_SEED_ID "seed-00000000000000a1"

struct pair_opts {
	uint64_t size;
	int runs;
	bool direct;
	bool null; /* receivers discard into /dev/null: the wire, not the disk */
	enum vx_upload_body_mode body;
	bool only_vx;	      /* skip the baselines (profiling) */
	bool metrics_ab;      /* each run twice: metrics updates on, then off (their cost) */
	bool lz4_ab;	      /* each run twice: lz4 offered (default), then not (its cost) */
	bool lz4_off;	      /* this run: neither side offers lz4 */
	bool compressible;    /* the file compresses about 3:1 with lz4, not random */
	uint32_t chunk_bytes; /* upload splice round and pipe size; 0 = default */
	const char *dir;
	uint32_t depth;
	uint32_t conns;
	bool tls;	     /* also run over TLS */
	const char *tls_dir; /* tls_certs.sh output; NULL: made in the run's directory */
	SSL_CTX *tls_srv;    /* this run's contexts: NULL = plaintext */
	SSL_CTX *tls_cli;
};

/* What a side reports back through its pipe. */
struct side_result {
	int status;
	double secs;
	double cpu_s;
	long maxrss_kb;
};

struct figure {
	const char *name;
	double mbps;
	double cpu_a; /* server / sender side, -1 when unknown */
	long rss_a_kb;
	double cpu_b; /* client / receiver side */
	long rss_b_kb;
};

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double cpu_of(const struct rusage *ru)
{
	return tv_s(ru->ru_utime) + tv_s(ru->ru_stime);
}

/*
 * Makes @buf (@n bytes of random data, n a multiple of 256 above 32 KiB) compress about 3:1
 * with lz4, as bench/swarm/compressible.py does: past its first 32 KiB, each 256-byte run
 * keeps 70 random bytes and copies the other 186 from up to 32 KiB before.
 */
static void make_compressible(uint8_t *buf, size_t n, uint64_t *x)
{
	for (size_t off = 32768; off + 256 <= n; off += 256) {
		size_t back;

		*x ^= *x << 13;
		*x ^= *x >> 7;
		*x ^= *x << 17;
		back = 256 + (size_t)(*x % (32768 - 256));
		memmove(buf + off + 70, buf + off + 70 - back, 186);
	}
}

static int write_file(const char *path, uint64_t size, bool compressible)
{
	static uint64_t buf[1 << 17];
	uint64_t x = 0x9e3779b97f4a7c15ull, done = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd == -1)
		return -errno;
	while (done < size) {
		size_t n = sizeof(buf), i;

		for (i = 0; i < VX_ARRAY_SIZE(buf); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = x;
		}
		if (compressible)
			make_compressible((uint8_t *)buf, sizeof(buf), &x);
		if (size - done < n)
			n = (size_t)(size - done);
		if (write(fd, buf, n) != (ssize_t)n) {
			close(fd);
			return -EIO;
		}
		done += n;
	}
	close(fd);
	return 0;
}

/* ---- vx server side --------------------------------------------------------------------- */

static struct vx_loop *g_server_loop;

static void on_term(int sig)
{
	(void)sig;
	if (g_server_loop)
		vx_loop_stop(g_server_loop);
}

static void server_on_stop(struct vx_loop *loop, void *arg)
{
	(void)loop;
	vx_upload_shutdown(arg);
}

static int server_child(const struct pair_opts *o, const char *path, uint64_t size, uint64_t piece,
			int report_fd)
{
	struct vx_file_task_cfg tcfg = { 0 };
	struct vx_file_task *t = NULL;
	struct vx_upload_cfg cfg;
	struct vx_upload *up = NULL;
	struct sockaddr_storage ss;
	struct side_result r = { 0 };
	struct rusage ru0, ru1;
	socklen_t sl;
	uint16_t port;

	tcfg.path = path;
	tcfg.task_id = PAIR_TASK;
	tcfg.content_length = size;
	tcfg.piece_length = piece;
	tcfg.seed = true;
	if (vx_loop_new(&g_server_loop, NULL) || vx_file_task_open(&t, &tcfg))
		return 1;
	vx_upload_cfg_init(&cfg);
	((struct sockaddr_in *)&cfg.addr)->sin_port = 0;
	cfg.ops = vx_file_task_source_ops();
	cfg.ops_ctx = t;
	cfg.body_mode = o->body;
	cfg.lz4 = !o->lz4_off;
	cfg.tls = o->tls_srv;
	if (o->chunk_bytes)
		cfg.chunk_bytes = o->chunk_bytes;
	if (vx_upload_new(&up, g_server_loop, &cfg))
		return 1;
	vx_upload_local_addr(up, &ss, &sl);
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	signal(SIGTERM, on_term);
	vx_loop_set_on_stop(g_server_loop, server_on_stop, up);
	getrusage(RUSAGE_SELF, &ru0);
	if (write(report_fd, &port, sizeof(port)) != sizeof(port))
		return 1;
	r.status = vx_loop_run(g_server_loop);
	getrusage(RUSAGE_SELF, &ru1);
	r.cpu_s = cpu_of(&ru1) - cpu_of(&ru0);
	r.maxrss_kb = ru1.ru_maxrss;
	vx_upload_free(up);
	vx_loop_free(g_server_loop);
	vx_file_task_close(t);
	return write(report_fd, &r, sizeof(r)) == sizeof(r) ? 0 : 1;
}

/* ---- vx client side --------------------------------------------------------------------- */

/* A sink that writes every piece to /dev/null (with --null), so the disk is out of the way. */
struct null_sink {
	int fd;
	uint64_t size;
	uint64_t piece;
};

static int null_begin(void *ctx, uint32_t number, struct vx_fetch_piece_io *io)
{
	struct null_sink *ns = ctx;
	uint64_t off = (uint64_t)number * ns->piece;

	io->fd = ns->fd;
	io->direct = false;
	io->align = 0;
	io->offset = off;
	io->length = ns->size - off < ns->piece ? ns->size - off : ns->piece;
	return 0;
}

static int null_commit(void *ctx, uint32_t number, uint32_t crc32, const char *parent_id)
{
	(void)ctx;
	(void)number;
	(void)crc32;
	(void)parent_id;
	return 0;
}

static void null_abort(void *ctx, uint32_t number, int err)
{
	(void)ctx;
	(void)number;
	(void)err;
}

static const struct vx_fetch_sink_ops null_sink_ops = {
	.begin = null_begin,
	.commit = null_commit,
	.abort = null_abort,
};

struct client_state {
	int done;
	int status;
};

static void client_on_done(void *arg, int status)
{
	struct client_state *cs = arg;

	cs->done = 1;
	cs->status = status;
}

static int client_child(const struct pair_opts *o, const char *out, uint64_t piece,
			const uint32_t *crcs, uint16_t port, int report_fd)
{
	struct vx_file_task_cfg tcfg = { 0 };
	struct vx_file_task *t = NULL;
	struct vx_fetcher_cfg cfg;
	struct vx_fetcher *f = NULL;
	struct vx_loop *loop = NULL;
	struct client_state cs = { 0 };
	struct side_result r = { 0 };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct null_sink ns = { .size = o->size, .piece = piece };
	struct rusage ru0, ru1;
	uint64_t t0;

	ns.fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	tcfg.path = out;
	tcfg.task_id = PAIR_TASK;
	tcfg.content_length = o->size;
	tcfg.piece_length = piece;
	tcfg.direct = o->direct;
	if (vx_loop_new(&loop, NULL) || vx_file_task_open(&t, &tcfg))
		return 1;
	vx_fetcher_cfg_init(&cfg);
	cfg.task_id = PAIR_TASK;
	cfg.content_length = o->size;
	cfg.piece_length = piece;
	cfg.piece_crc32 = crcs;
	cfg.sink = o->null ? &null_sink_ops : vx_file_task_sink_ops();
	cfg.sink_ctx = o->null ? (void *)&ns : (void *)t;
	cfg.pipeline_depth = o->depth;
	cfg.conns_per_parent = o->conns;
	cfg.on_done = client_on_done;
	cfg.cb_arg = &cs;
	cfg.lz4 = !o->lz4_off;
	cfg.tls = o->tls_cli;
	if (vx_fetcher_new(&f, loop, &cfg))
		return 1;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	getrusage(RUSAGE_SELF, &ru0);
	t0 = vx_now_ns();
	if (vx_fetcher_add_parent(f, (struct sockaddr *)&sin, sizeof(sin),
				  o->tls_cli ? PAIR_TLS_SEED_ID : "bench-seed") < 0)
		return 1;
	while (!cs.done) {
		if (vx_loop_run_once(loop, 100) < 0)
			return 1;
	}
	r.secs = (double)(vx_now_ns() - t0) / 1e9;
	getrusage(RUSAGE_SELF, &ru1);
	r.status = cs.status;
	r.cpu_s = cpu_of(&ru1) - cpu_of(&ru0);
	r.maxrss_kb = ru1.ru_maxrss;
	while (!vx_fetcher_idle(f)) {
		if (vx_loop_run_once(loop, 10) < 0)
			break;
	}
	vx_fetcher_free(f);
	vx_loop_free(loop);
	vx_file_task_close(t);
	close(ns.fd);
	return write(report_fd, &r, sizeof(r)) == sizeof(r) ? 0 : 1;
}

static int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int run_vx(const struct pair_opts *o, const char *src, const char *out, struct figure *fig)
{
	uint64_t piece = vx_piece_length_for(o->size);
	struct vx_file_task_cfg tcfg = { 0 };
	struct vx_file_task *seed = NULL;
	struct side_result rs, rc;
	int sp[2], cp[2], status;
	pid_t spid, cpid;
	uint16_t port;

	tcfg.path = src;
	tcfg.task_id = PAIR_TASK;
	tcfg.content_length = o->size;
	tcfg.piece_length = piece;
	tcfg.seed = true;
	if (vx_file_task_open(&seed, &tcfg))
		return -1;
	if (pipe(sp) || pipe(cp))
		return -1;
	spid = fork();
	if (spid == 0)
		_exit(server_child(o, src, o->size, piece, sp[1]));
	if (read_full(sp[0], &port, sizeof(port)))
		return -1;
	unlink(out);
	cpid = fork();
	if (cpid == 0)
		_exit(client_child(o, out, piece, vx_file_task_crcs(seed), port, cp[1]));
	if (read_full(cp[0], &rc, sizeof(rc)))
		rc.status = -1;
	waitpid(cpid, &status, 0);
	kill(spid, SIGTERM);
	if (read_full(sp[0], &rs, sizeof(rs)))
		rs.status = -1;
	waitpid(spid, &status, 0);
	close(sp[0]);
	close(sp[1]);
	close(cp[0]);
	close(cp[1]);
	vx_file_task_close(seed);
	if (rc.status != 0 || rs.status != 0) {
		fprintf(stderr, "pair: vx transfer failed (client %d, server %d)\n", rc.status,
			rs.status);
		return -1;
	}
	fig->mbps = (double)o->size / rc.secs / 1e6;
	fig->cpu_a = rs.cpu_s;
	fig->rss_a_kb = rs.maxrss_kb;
	fig->cpu_b = rc.cpu_s;
	fig->rss_b_kb = rc.maxrss_kb;
	return 0;
}

/* ---- TLS -------------------------------------------------------------------------------- */

static pid_t spawn(const char *const argv[], int out_fd);

/* Contexts from @dir (tls_certs.sh): the server is the seed, the client a peer. */
static int tls_load(struct pair_opts *o, const char *dir)
{
	char c[PATH_MAX + 64], k[PATH_MAX + 64], ca[PATH_MAX + 64];

	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(c, sizeof(c), "%s/seed.pem", dir);
	snprintf(k, sizeof(k), "%s/seed.key", dir);
	o->tls_srv = vx_dp_tls_ctx_from_files(c, k, ca, NULL);
	snprintf(c, sizeof(c), "%s/peer.pem", dir);
	snprintf(k, sizeof(k), "%s/peer.key", dir);
	o->tls_cli = vx_dp_tls_ctx_from_files(c, k, ca, NULL);
	return o->tls_srv && o->tls_cli ? 0 : -1;
}

/* Makes the test PKI in @dir with the openssl CLI (tests/integration/tls_certs.sh). */
static int tls_make_pki(const char *dir)
{
	const char *argv[] = { "sh", VX_TLS_CERTS_SH, dir, NULL };
	int status;
	pid_t pid = spawn(argv, -1);

	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "pair: %s failed (the openssl CLI?); or give --tls-dir\n",
			VX_TLS_CERTS_SH);
		return -1;
	}
	return 0;
}

/*
 * CPU time of one mutual handshake, both sides, in microseconds: @n handshakes between two
 * SSL objects of the bench's contexts over an in-memory BIO pair (no network).
 */
static double tls_handshake_us(const struct pair_opts *o, int n)
{
	struct rusage ru0, ru1;
	int ok = 0;

	getrusage(RUSAGE_SELF, &ru0);
	for (int i = 0; i < n; i++) {
		SSL *s = SSL_new(o->tls_srv), *c = SSL_new(o->tls_cli);
		BIO *bs = NULL, *bc = NULL;
		int rs = 0, rc = 0;

		if (!s || !c || !BIO_new_bio_pair(&bs, 1 << 16, &bc, 1 << 16)) {
			SSL_free(s);
			SSL_free(c);
			break;
		}
		SSL_set_bio(s, bs, bs);
		SSL_set_bio(c, bc, bc);
		SSL_set_accept_state(s);
		SSL_set_connect_state(c);
		for (int round = 0; round < 16 && (rs != 1 || rc != 1); round++) {
			if (rc != 1)
				rc = SSL_do_handshake(c);
			if (rs != 1)
				rs = SSL_do_handshake(s);
		}
		ok += rs == 1 && rc == 1;
		SSL_free(s);
		SSL_free(c);
	}
	getrusage(RUSAGE_SELF, &ru1);
	ERR_clear_error();
	return ok == n ? (cpu_of(&ru1) - cpu_of(&ru0)) * 1e6 / n : -1;
}

/* ---- baselines -------------------------------------------------------------------------- */

static uint16_t free_port(void)
{
	int port = vx_bench_free_port();

	return port > 0 ? (uint16_t)port : 0;
}

static pid_t spawn(const char *const argv[], int out_fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(out_fd >= 0 ? out_fd : null, 1);
		dup2(null, 2);
		/* execvp(3) does not write through argv; its prototype predates const. */
		execvp(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	return pid;
}

static int run_iperf3(const struct pair_opts *o, struct figure *fig)
{
	char port_s[16], size_s[32], buf[1 << 16];
	const char *srv_argv[] = { "iperf3", "-s", "-1", "-p", port_s, NULL };
	const char *cli_argv[] = { "iperf3", "-c",   "127.0.0.1", "-p", port_s,
				   "-n",     size_s, "-J",	  NULL };
	struct rusage ru;
	int p[2], status;
	pid_t spid, cpid;
	size_t len = 0;
	const char *s;
	ssize_t n;

	snprintf(port_s, sizeof(port_s), "%u", free_port());
	snprintf(size_s, sizeof(size_s), "%llu", (unsigned long long)o->size);
	spid = spawn(srv_argv, -1);
	usleep(300000);
	if (pipe(p))
		return -1;
	cpid = spawn(cli_argv, p[1]);
	close(p[1]);
	while ((n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(p[0]);
	wait4(cpid, &status, 0, &ru);
	fig->cpu_b = cpu_of(&ru);
	fig->rss_b_kb = ru.ru_maxrss;
	wait4(spid, &status, 0, &ru);
	fig->cpu_a = cpu_of(&ru);
	fig->rss_a_kb = ru.ru_maxrss;
	s = strstr(buf, "\"sum_received\"");
	s = s ? strstr(s, "\"bits_per_second\"") : NULL;
	if (!s) {
		fprintf(stderr, "pair: iperf3 gave no result (is it installed?)\n");
		return -1;
	}
	fig->mbps = strtod(strchr(s, ':') + 1, NULL) / 8e6;
	return 0;
}

static int run_nginx(const struct pair_opts *o, const char *dir, const char *out,
		     struct figure *fig)
{
	char conf[PATH_MAX + 32], url[128], buf[256];
	const char *ng_argv[] = { "nginx", "-p", dir, "-c", conf, "-e", "stderr", NULL };
	const char *curl_argv[] = {
		"curl", "-s",
		"-o",	o->null ? "/dev/null" : out,
		"-w",	"%{size_download} %{time_total}",
		url,	NULL,
	};
	uint16_t port = free_port();
	double got = 0, secs = 0;
	struct rusage ru;
	int p[2], status;
	pid_t npid, cpid;
	ssize_t n;
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/nginx.conf", dir);
	f = fopen(conf, "w");
	if (!f)
		return -1;
	fprintf(f,
		"daemon off; master_process off; worker_processes 1; user root; pid nginx.pid;\n"
		"events { worker_connections 64; }\n"
		"http { sendfile on; tcp_nopush on; access_log off; client_body_temp_path .;\n"
		"  server { listen 127.0.0.1:%u; root %s; } }\n",
		port, dir);
	fclose(f);
	npid = spawn(ng_argv, -1);
	usleep(300000);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/src", port);
	unlink(out);
	if (pipe(p))
		return -1;
	cpid = spawn(curl_argv, p[1]);
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	buf[n > 0 ? n : 0] = '\0';
	wait4(cpid, &status, 0, &ru);
	fig->cpu_b = cpu_of(&ru);
	fig->rss_b_kb = ru.ru_maxrss;
	kill(npid, SIGQUIT);
	wait4(npid, &status, 0, &ru);
	fig->cpu_a = cpu_of(&ru);
	fig->rss_a_kb = ru.ru_maxrss;
	if (sscanf(buf, "%lf %lf", &got, &secs) != 2 || got != (double)o->size || secs <= 0) {
		fprintf(stderr, "pair: nginx + curl failed (%s)\n", buf);
		return -1;
	}
	fig->mbps = got / secs / 1e6;
	return 0;
}

/* ---- driver ----------------------------------------------------------------------------- */

static void keep_best(struct figure *best, const struct figure *f)
{
	if (f->mbps > best->mbps)
		*best = *f;
}

static void print_figure(const struct figure *f, double ref)
{
	printf("  %-34s %8.0f MB/s  %5.2fx iperf3   send cpu %5.2f s rss %6.1f MiB   recv cpu "
	       "%5.2f s rss %6.1f MiB\n",
	       f->name, f->mbps, ref > 0 ? f->mbps / ref : 0, f->cpu_a,
	       (double)f->rss_a_kb / 1024.0, f->cpu_b, (double)f->rss_b_kb / 1024.0);
}

static enum vx_upload_body_mode parse_body(const char *s)
{
	if (!strcmp(s, "send"))
		return VX_UPLOAD_BODY_SEND;
	if (!strcmp(s, "zc"))
		return VX_UPLOAD_BODY_SEND_ZC;
	return VX_UPLOAD_BODY_SPLICE;
}

static int pair_run(int argc, char **argv)
{
	struct pair_opts o = { .size = 1ull << 30, .runs = 3, .dir = ".", .depth = 8, .conns = 2 };
	struct figure vx = { .name = "vx pair (upload -> pipelined fetch)" };
	struct figure vt = { .name = "vx pair over TLS 1.3 (mutual)" };
	char pki[PATH_MAX + 16];
	struct figure vx_off = { .name = "vx pair, metrics updates off" };
	struct figure vx_nolz4 = { .name = "vx pair, lz4 not offered" };
	static const char *const body_names[] = { "splice", "send", "send_zc" };
	struct figure ip = { .name = "iperf3 -c (1 stream, mem to mem)" };
	struct figure ng = { .name = "nginx sendfile + curl -o file" };
	char dir[PATH_MAX], src[PATH_MAX + 16], out[PATH_MAX + 16], diag[256];
	int i, ret = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc)
			o.size = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			o.runs = (int)strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			o.dir = argv[++i];
		else if (!strcmp(argv[i], "--depth") && i + 1 < argc)
			o.depth = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--conns") && i + 1 < argc)
			o.conns = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--direct"))
			o.direct = true;
		else if (!strcmp(argv[i], "--null"))
			o.null = true;
		else if (!strcmp(argv[i], "--chunk") && i + 1 < argc)
			o.chunk_bytes = (uint32_t)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--only-vx"))
			o.only_vx = true;
		else if (!strcmp(argv[i], "--metrics-ab"))
			o.metrics_ab = true;
		else if (!strcmp(argv[i], "--lz4-ab"))
			o.lz4_ab = true;
		else if (!strcmp(argv[i], "--compressible"))
			o.compressible = true;
		else if (!strcmp(argv[i], "--body") && i + 1 < argc)
			o.body = parse_body(argv[++i]);
		else if (!strcmp(argv[i], "--tls"))
			o.tls = true;
		else if (!strcmp(argv[i], "--tls-dir") && i + 1 < argc)
			o.tls_dir = argv[++i];
		else {
			fprintf(stderr,
				"usage: vx-bench pair [--size BYTES] [--runs N] [--dir DIR] "
				"[--depth N] [--conns N] [--direct] [--null] "
				"[--body splice|send|zc] [--chunk BYTES] [--only-vx] "
				"[--tls [--tls-dir DIR]] [--metrics-ab] [--lz4-ab] "
				"[--compressible]\n");
			return 2;
		}
	}
	if (vx_ring_probe(diag, sizeof(diag)) < 0) {
		fprintf(stderr, "pair: %s\n", diag);
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/vx-bench-pair-XXXXXX", o.dir);
	if (!mkdtemp(dir)) {
		perror("pair: mkdtemp");
		return 1;
	}
	if (!realpath(dir, src) || strlen(src) >= sizeof(dir)) {
		fprintf(stderr, "pair: cannot resolve %s\n", dir);
		return 1;
	}
	memcpy(dir, src, strlen(src) + 1); /* nginx wants absolute paths */
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	if (write_file(src, o.size, o.compressible) < 0) {
		fprintf(stderr, "pair: cannot write %s\n", src);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(pki, sizeof(pki), "%s/pki", dir);
	if (o.tls &&
	    ((!o.tls_dir && tls_make_pki(pki)) || tls_load(&o, o.tls_dir ? o.tls_dir : pki)))
		return 1;
	for (i = 0; i < o.runs; i++) {
		struct figure f = vx;
		struct pair_opts ot = o;

		ot.tls_srv = NULL;
		ot.tls_cli = NULL;
		if (run_vx(&ot, src, out, &f) == 0)
			keep_best(&vx, &f);
		else
			ret = 1;
		f = vt;
		if (o.tls && run_vx(&o, src, out, &f) == 0)
			keep_best(&vt, &f);
		else if (o.tls)
			ret = 1;
		if (o.metrics_ab) {
			f = vx_off;
			vx_metrics_set_enabled(false); /* the children fork with it off */
			if (run_vx(&o, src, out, &f) == 0)
				keep_best(&vx_off, &f);
			else
				ret = 1;
			vx_metrics_set_enabled(true);
		}
		if (o.lz4_ab) {
			struct pair_opts off = ot;

			off.lz4_off = true;
			f = vx_nolz4;
			if (run_vx(&off, src, out, &f) == 0)
				keep_best(&vx_nolz4, &f);
			else
				ret = 1;
		}
		if (o.only_vx)
			continue;
		f = ip;
		if (run_iperf3(&o, &f) == 0)
			keep_best(&ip, &f);
		f = ng;
		if (run_nginx(&o, dir, out, &f) == 0)
			keep_best(&ng, &f);
	}
	printf("pair: %llu MiB over loopback, best of %d runs, piece %llu MiB, body %s, depth %u, "
	       "%u conns, receivers write %s\n",
	       (unsigned long long)(o.size >> 20), o.runs,
	       (unsigned long long)(vx_piece_length_for(o.size) >> 20), body_names[o.body], o.depth,
	       o.conns,
	       o.null	  ? "to /dev/null"
	       : o.direct ? "a file (O_DIRECT)"
			  : "a file (buffered)");
	print_figure(&vx, ip.mbps);
	if (o.tls) {
		print_figure(&vt, ip.mbps);
		printf("  TLS / plaintext = %.2fx; one mutual handshake (EC P-256, both sides) "
		       "costs "
		       "%.0f us CPU\n",
		       vx.mbps > 0 ? vt.mbps / vx.mbps : 0, tls_handshake_us(&o, 200));
	}
	if (o.metrics_ab && vx_off.mbps > 0) {
		print_figure(&vx_off, ip.mbps);
		printf("  metrics on / off = %.4f (%+.2f%%)\n", vx.mbps / vx_off.mbps,
		       (vx.mbps / vx_off.mbps - 1) * 100);
	}
	if (o.lz4_ab && vx_nolz4.mbps > 0) {
		print_figure(&vx_nolz4, ip.mbps);
		printf("  lz4 offered / not = %.4f (%+.2f%%)%s\n", vx.mbps / vx_nolz4.mbps,
		       (vx.mbps / vx_nolz4.mbps - 1) * 100,
		       o.compressible ? ", content lz4 compresses 3:1" : ", random content");
	}
	print_figure(&ip, ip.mbps);
	print_figure(&ng, ip.mbps);
	if (ng.mbps > 0)
		printf("  vx / nginx+curl = %.2fx\n", vx.mbps / ng.mbps);
	unlink(src);
	unlink(out);
	snprintf(src, sizeof(src), "%s/nginx.conf", dir);
	unlink(src);
	snprintf(src, sizeof(src), "%s/nginx.pid", dir);
	unlink(src);
	if (o.tls && !o.tls_dir) {
		const char *const rm[] = { "rm", "-rf", pki, NULL };
		pid_t pid = spawn(rm, -1);

		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	SSL_CTX_free(o.tls_srv);
	SSL_CTX_free(o.tls_cli);
	rmdir(dir);
	return ret;
}

const struct vx_bench vx_bench_pair = {
	.name = "pair",
	.summary = "two vx peers over loopback vs iperf3 and nginx+curl (MB/s, CPU, RSS)",
	.run = pair_run,
};
