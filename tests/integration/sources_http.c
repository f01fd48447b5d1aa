/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sources_http.c: http/https through vx_source against a real nginx (its own config in a temp
 * dir, on free loopback ports) and the misbehaving python origin (sources_origin.py): stat by
 * ranged GET, ranged and parallel reads, redirects, 403/404/500, a server that ignores Range, a
 * chunked reply without length, timeouts on a slow server, retries with resume, cancel, basic
 * auth, TLS verification, an explicit insecure mode and mTLS.
 */
#include "vx_test.h"

#include <pthread.h>

#include <curl/curl.h>

#include "sources_harness.h"

#include "vx_err.h"
#include "vx_outbound.h"
#include "vx_source.h"

#define BLOB_LEN (1048576 + 123)
#define BIG_LEN	 (32u << 20)
#define SLOW_LEN (4u << 20)

static struct vx_source_ctx *ctx;
static int http_port, https_port, mtls_port, origin_port, v6_port;
static uint8_t *blob;
static char dir[256];

/* A loopback IPv6 port, or 0 when this host has no ::1. */
static int v6_free_port(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET6, SOCK_STREAM, 0), port = 0;

	if (fd == -1)
		return 0;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin6_port);
	close(fd);
	return port;
}

static int write_nginx_conf(void)
{
	char path[512], v6_listen[64] = "";

	if (v6_port)
		snprintf(v6_listen, sizeof(v6_listen), "  listen [::1]:%d;\n", v6_port);
	snprintf(path, sizeof(path), "%s/nginx.conf", dir);
	return vx_h_printf_file(
		path,
		"daemon off;\nworker_processes 1;\nerror_log %s/error.log;\npid %s/nginx.pid;\n"
		"events { worker_connections 256; }\n"
		"http {\n access_log off;\n default_type application/octet-stream;\n"
		" client_body_temp_path %s/t1; proxy_temp_path %s/t2; fastcgi_temp_path %s/t3;\n"
		" uwsgi_temp_path %s/t4; scgi_temp_path %s/t5;\n"
		" server {\n  listen 127.0.0.1:%d;\n%s  root %s/www;\n"
		"  location /noranges/ { max_ranges 0; limit_rate 1m; }\n"
		"  location /chunked/ { sub_filter 'zzzz' 'zzzz'; sub_filter_once off;"
		" sub_filter_types *; }\n"
		"  location /slow/ { limit_rate 64k; }\n"
		"  location = /redirect { return 302 /data/blob.bin; }\n"
		"  location = /loop { return 302 /loop; }\n"
		"  location = /forbidden { return 403; }\n"
		"  location = /error { return 500; }\n"
		"  location = /bad { return 400; }\n"
		"  location /auth/ { auth_basic \"vx\"; auth_basic_user_file %s/htpasswd; }\n"
		" }\n"
		" server {\n  listen 127.0.0.1:%d ssl;\n  root %s/www;\n"
		"  ssl_certificate %s/server.pem; ssl_certificate_key %s/server.key;\n }\n"
		" server {\n  listen 127.0.0.1:%d ssl;\n  root %s/www;\n"
		"  ssl_certificate %s/server.pem; ssl_certificate_key %s/server.key;\n"
		"  ssl_client_certificate %s/ca.pem; ssl_verify_client on;\n }\n"
		"}\n",
		dir, dir, dir, dir, dir, dir, dir, http_port, v6_listen, dir, dir, https_port, dir,
		dir, dir, mtls_port, dir, dir, dir, dir);
}

/* A CA, a server certificate for 127.0.0.1 and a client certificate, with openssl(1). */
static int make_certs(void)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && "
		 "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
		 "-subj /CN=vx-test-ca >/dev/null 2>&1 && "
		 "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
		 "-subj /CN=127.0.0.1 >/dev/null 2>&1 && "
		 "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && "
		 "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		 "-out server.pem -days 2 -extfile san.ext >/dev/null 2>&1 && "
		 "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr "
		 "-subj /CN=vx-client >/dev/null 2>&1 && "
		 "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		 "-out client.pem -days 2 >/dev/null 2>&1 && chmod 644 *.pem *.key",
		 dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int make_content(void)
{
	char path[2048];
	uint8_t *text;
	int fd;

	snprintf(path, sizeof(path),
		 "mkdir -p %s/www/data %s/www/noranges %s/www/chunked "
		 "%s/www/slow %s/www/auth && chmod -R 755 %s/www",
		 dir, dir, dir, dir, dir, dir);
	if (system(path) != 0)
		return -1;
	blob = malloc(BLOB_LEN);
	if (!blob)
		return -1;
	vx_h_fill(blob, BLOB_LEN, 7);
	snprintf(path, sizeof(path), "%s/www/data/blob.bin", dir);
	if (vx_h_write_file(path, blob, BLOB_LEN))
		return -1;
	snprintf(path, sizeof(path), "%s/www/data/empty", dir);
	if (vx_h_write_file(path, "", 0))
		return -1;
	snprintf(path, sizeof(path), "%s/www/auth/blob.bin", dir);
	if (vx_h_write_file(path, blob, 1000))
		return -1;
	snprintf(path, sizeof(path), "%s/www/slow/blob.bin", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	if (fd < 0 || ftruncate(fd, SLOW_LEN) != 0)
		return -1;
	close(fd);
	snprintf(path, sizeof(path), "%s/www/noranges/big.bin", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	if (fd < 0 || ftruncate(fd, BIG_LEN) != 0 || pwrite(fd, blob, 4096, 0) != 4096)
		return -1;
	close(fd);
	/* Text with the sub_filter's pattern in it, so nginx really rewrites (and chunks) it. */
	text = malloc(300000);
	if (!text)
		return -1;
	for (size_t i = 0; i < 300000; i++)
		text[i] = (uint8_t) "zzzz abcdefghij\n"[i % 16];
	snprintf(path, sizeof(path), "%s/www/chunked/text.txt", dir);
	if (vx_h_write_file(path, text, 300000))
		return -1;
	snprintf(path, sizeof(path), "%s/chunk.txt", dir);
	if (vx_h_write_file(path, text, 300000))
		return -1;
	free(text);
	/* htpasswd file: user vx, password s3cret (apr1 via openssl). */
	snprintf(path, sizeof(path),
		 "printf 'vx:%%s\\n' \"$(openssl passwd -apr1 s3cret)\" > %s/htpasswd && "
		 "chmod 644 %s/htpasswd",
		 dir, dir);
	return system(path) == 0 ? 0 : -1;
}

static int group_setup(void **state)
{
	char conf[512], log[512], port[16], script[512], root[512];
	const char *src = getenv("VX_SOURCE_DIR");

	(void)state;
	if (!vx_h_have("nginx") || !vx_h_have("openssl") || !vx_h_have("python3")) {
		fprintf(stderr, "sources_http: needs nginx, openssl and python3 "
				"(scripts/install-deps); skipping\n");
		exit(VX_TEST_SKIP);
	}
	snprintf(dir, sizeof(dir), "%s", vx_h_tmpdir());
	if (!dir[0] || make_content() || make_certs())
		return -1;
	http_port = vx_h_free_port();
	https_port = vx_h_free_port();
	mtls_port = vx_h_free_port();
	origin_port = vx_h_free_port();
	v6_port = v6_free_port();
	if (write_nginx_conf())
		return -1;
	snprintf(conf, sizeof(conf), "%s/nginx.conf", dir);
	snprintf(log, sizeof(log), "%s/nginx.out", dir);
	{
		char *argv[] = { (char *)"nginx", (char *)"-p", dir, (char *)"-c", conf, NULL };

		if (vx_h_spawn(argv, log) < 0)
			return -1;
	}
	snprintf(port, sizeof(port), "%d", origin_port);
	snprintf(script, sizeof(script), "%s/tests/integration/sources_origin.py", src ? src : ".");
	snprintf(root, sizeof(root), "%s", dir);
	snprintf(log, sizeof(log), "%s/origin.out", dir);
	{
		char *argv[] = { (char *)"python3", script, port, root, NULL };

		if (vx_h_spawn(argv, log) < 0)
			return -1;
	}
	if (!vx_h_wait_port(http_port, 5000) || !vx_h_wait_port(mtls_port, 5000) ||
	    !vx_h_wait_port(origin_port, 10000)) {
		fprintf(stderr, "sources_http: servers did not come up (see %s)\n", dir);
		return -1;
	}
	return vx_source_ctx_new(&ctx, NULL) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	vx_source_ctx_free(ctx);
	vx_h_stop_all();
	vx_h_rmdir();
	free(blob);
	return 0;
}

static void url_of(char *buf, size_t n, const char *scheme, int port, const char *path)
{
	snprintf(buf, n, "%s://127.0.0.1:%d%s", scheme, port, path);
}

static struct vx_source_opts quick_opts(void)
{
	struct vx_source_opts o = { 0 };

	o.retry_backoff_ms = 10;
	o.timeout_ms = 10000;
	return o;
}

static void test_vx_source_open__ranged_stat(void **state)
{
	struct vx_source_obj *obj;
	struct vx_source_error d;
	const struct vx_source_stat *st;
	char url[256];

	(void)state;
	url_of(url, sizeof(url), "http", http_port, "/data/blob.bin");
	assert_int_equal(vx_source_open(ctx, url, NULL, &obj, &d), 0);
	st = vx_source_obj_stat(obj);
	assert_int_equal(st->length, BLOB_LEN);
	assert_true(st->ranges);
	assert_true(st->etag[0] == '"');
	assert_true(st->last_modified[0] != '\0');
	assert_string_equal(st->final_url, url);
	assert_non_null(strstr(st->kept_headers, "ETag: "));
	vx_source_obj_free(obj);
}

static void test_vx_source_open__ipv6_literal(void **state)
{
	struct vx_source_obj *obj;
	struct vx_h_buf b = { 0 };
	char url[256];

	(void)state;
	if (!v6_port) {
		fprintf(stderr, "no ::1 on this host: IPv6 case not run\n");
		skip();
	}
	snprintf(url, sizeof(url), "http://[::1]:%d/data/blob.bin", v6_port);
	assert_int_equal(vx_source_open(ctx, url, NULL, &obj, NULL), 0);
	assert_int_equal(vx_source_obj_stat(obj)->length, BLOB_LEN);
	b.cap = 1000;
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 9000, 1000, vx_h_buf_sink, &b, NULL), 0);
	assert_memory_equal(b.p, blob + 9000, 1000);
	free(b.p);
	vx_source_obj_free(obj);
}

static void test_vx_source_open__empty_object(void **state)
{
	struct vx_source_obj *obj;
	char url[256];

	(void)state;
	url_of(url, sizeof(url), "http", http_port, "/data/empty");
	assert_int_equal(vx_source_open(ctx, url, NULL, &obj, NULL), 0);
	assert_int_equal(vx_source_obj_stat(obj)->length, 0);
	vx_source_obj_free(obj);
}

static void test_vx_source_read__range(void **state)
{
	struct vx_source_obj *obj;
	struct vx_h_buf b = { 0 };
	char url[256];

	(void)state;
	url_of(url, sizeof(url), "http", http_port, "/data/blob.bin");
	assert_int_equal(vx_source_open(ctx, url, NULL, &obj, NULL), 0);
	b.cap = 100000;
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 777777, 100000, vx_h_buf_sink, &b, NULL), 0);
	assert_int_equal(b.len, 100000);
	assert_memory_equal(b.p, blob + 777777, 100000);
	/* The tail, to the end. */
	b.len = 0;
	assert_int_equal(
		vx_source_read(obj, BLOB_LEN - 5000, VX_SOURCE_LEN_TO_END, vx_h_buf_sink, &b, NULL),
		0);
	assert_int_equal(b.len, 5000);
	assert_memory_equal(b.p, blob + BLOB_LEN - 5000, 5000);
	/* Past the end is refused before any request. */
	assert_int_equal(vx_source_read(obj, BLOB_LEN - 10, 11, vx_h_buf_sink, &b, NULL),
			 VX_ESOURCE_BADREQ);
	free(b.p);
	vx_source_obj_free(obj);
}

struct par {
	uint8_t *out;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	int failed;
	uint64_t off[64];
};

struct piece {
	struct par *par;
	uint64_t off;
	uint64_t got;
};

static int piece_sink(void *arg, const void *data, size_t len)
{
	struct piece *p = arg;

	memcpy(p->par->out + p->off + p->got, data, len);
	p->got += len;
	return 0;
}

static void piece_done(void *arg, int err, const struct vx_source_error *detail)
{
	struct piece *p = arg;

	(void)detail;
	pthread_mutex_lock(&p->par->lock);
	p->par->done++;
	if (err)
		p->par->failed++;
	pthread_cond_signal(&p->par->cond);
	pthread_mutex_unlock(&p->par->lock);
}

static void parallel_pieces(struct vx_source_ctx *c)
{
	enum { NR = 41 };
	struct vx_source_obj *obj;
	struct piece pieces[NR];
	struct par par = { 0 };
	uint64_t piece_len = (BLOB_LEN + NR - 1) / NR;
	char url[256];

	url_of(url, sizeof(url), "http", http_port, "/data/blob.bin");
	assert_int_equal(vx_source_open(c, url, NULL, &obj, NULL), 0);
	par.out = calloc(1, BLOB_LEN);
	pthread_mutex_init(&par.lock, NULL);
	pthread_cond_init(&par.cond, NULL);
	for (int i = 0; i < NR; i++) {
		uint64_t off = (uint64_t)i * piece_len;
		struct vx_source_read rd = {
			.offset = off,
			.length = VX_MIN(piece_len, BLOB_LEN - off),
			.sink = piece_sink,
			.done = piece_done,
			.arg = &pieces[i],
		};

		pieces[i] = (struct piece){ .par = &par, .off = off };
		assert_int_equal(vx_source_read_submit(obj, &rd, NULL), 0);
	}
	/* The object may be dropped while reads are in flight: they hold their own reference. */
	vx_source_obj_free(obj);
	pthread_mutex_lock(&par.lock);
	while (par.done < NR)
		pthread_cond_wait(&par.cond, &par.lock);
	pthread_mutex_unlock(&par.lock);
	assert_int_equal(par.failed, 0);
	assert_memory_equal(par.out, blob, BLOB_LEN);
	free(par.out);
}

static void test_vx_source_read_submit__parallel_pieces(void **state)
{
	struct vx_source_ctx_cfg cfg = { .workers = 3, .host_conns_max = 6 };
	struct vx_source_ctx *three;

	(void)state;
	parallel_pieces(ctx);
	/* Three workers: pieces are dealt round robin, each worker with its own connections. */
	assert_int_equal(vx_source_ctx_new(&three, &cfg), 0);
	parallel_pieces(three);
	vx_source_ctx_free(three);
	cfg.workers = VX_SOURCE_WORKERS_MAX + 1;
	assert_int_equal(vx_source_ctx_new(&three, &cfg), -EINVAL);
}

static void test_vx_source_open__redirect(void **state)
{
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct vx_h_buf b = { 0 };
	char url[256], want[256];

	(void)state;
	url_of(url, sizeof(url), "http", http_port, "/redirect");
	url_of(want, sizeof(want), "http", http_port, "/data/blob.bin");
	assert_int_equal(vx_source_open(ctx, url, NULL, &obj, &d), 0);
	assert_string_equal(vx_source_obj_stat(obj)->final_url, want);
	assert_int_equal(vx_source_obj_stat(obj)->length, BLOB_LEN);
	b.cap = 4096;
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 4096, 4096, vx_h_buf_sink, &b, NULL), 0);
	assert_memory_equal(b.p, blob + 4096, 4096);
	free(b.p);
	vx_source_obj_free(obj);
	/* A redirect loop ends as a protocol error, not a hang. */
	url_of(url, sizeof(url), "http", http_port, "/loop");
	assert_int_equal(vx_source_open(ctx, url, NULL, &obj, &d), VX_ESOURCE_PROTO);
	assert_null(obj);
}

/*
 * A policed fetch (a seed's, for another host) ignores proxy variables: through a proxy the
 * socket checks would judge the proxy's address, not the origin's (review 16 finding 12;
 * security list 5.5 item 8: checked at connect time). The proxy's address is allowed, the origin's (loopback) is not:
 * the fetch must be refused by policy, not sent to the proxy.
 */
static void test_vx_source_open__policed_ignores_proxy(void **state)
{
	struct vx_outbound_policy pol = { 0 };
	struct vx_source_opts o = quick_opts();
	struct vx_source_obj *obj = NULL;
	struct vx_source_error d;
	char url[256];
	int rc;

	(void)state;
	assert_int_equal(vx_outbound_add(&pol, "127.0.0.3/32", false), 0);
	o.outbound = &pol;
	o.retries_max = UINT32_MAX;
	url_of(url, sizeof(url), "http", http_port, "/data/blob.bin");
	assert_int_equal(setenv("http_proxy", "http://127.0.0.3:1", 1), 0);
	assert_int_equal(setenv("ALL_PROXY", "http://127.0.0.3:1", 1), 0);
	rc = vx_source_open(ctx, url, &o, &obj, &d);
	unsetenv("http_proxy");
	unsetenv("ALL_PROXY");
	assert_int_equal(rc, -EACCES);
	assert_non_null(strstr(d.msg, "127.0.0.1 refused by policy"));
}

static void test_vx_source_open__status_errors(void **state)
{
	struct vx_source_opts o = quick_opts();
	struct vx_source_obj *obj;
	struct vx_source_error d;
	char url[256], line[1024];

	(void)state;
	url_of(url, sizeof(url), "http", http_port, "/nope");
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ESOURCE_NOTFOUND);
	assert_int_equal(d.status, 404);
	assert_int_equal(d.attempts, 1);
	assert_string_equal(d.url, url);
	vx_source_error_format(&d, line, sizeof(line));
	assert_non_null(strstr(line, "404"));

	url_of(url, sizeof(url), "http", http_port, "/forbidden");
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ESOURCE_DENIED);
	assert_int_equal(d.status, 403);

	url_of(url, sizeof(url), "http", http_port, "/bad");
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ESOURCE_BADREQ);

	/* 500 is transient: retried retries_max times, then reported with the count. */
	o.retries_max = 2;
	url_of(url, sizeof(url), "http", http_port, "/error");
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ESOURCE_TRANSIENT);
	assert_int_equal(d.status, 500);
	assert_int_equal(d.attempts, 3);

	/* Nobody listens: transient, with the transport error kept. */
	o.retries_max = UINT32_MAX;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", vx_h_free_port());
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ESOURCE_TRANSIENT);
	assert_int_equal(d.attempts, 1);
	assert_int_not_equal(d.transport, 0);
}

static void test_vx_source_open__secrets_not_in_detail(void **state)
{
	struct vx_source_obj *obj;
	struct vx_source_error d;
	char url[512];

	(void)state;
	snprintf(url, sizeof(url),
		 "http://user:topsecret@127.0.0.1:%d/nope?X-Amz-Signature=topsecret", http_port);
	assert_int_equal(vx_source_open(ctx, url, NULL, &obj, &d), VX_ESOURCE_NOTFOUND);
	assert_null(strstr(d.url, "topsecret"));
	assert_null(strstr(d.msg, "topsecret"));
}

static void test_vx_source_open__server_ignores_range(void **state)
{
	struct vx_source_opts o = quick_opts();
	struct vx_source_obj *obj;
	struct vx_h_buf b = { 0 };
	char url[256];

	(void)state;
	/* 32 MiB at 1 MiB/s: a stat that read the body would blow its 3 s budget. */
	o.timeout_ms = 3000;
	o.retries_max = UINT32_MAX;
	url_of(url, sizeof(url), "http", http_port, "/noranges/big.bin");
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, NULL), 0);
	assert_false(vx_source_obj_stat(obj)->ranges);
	assert_int_equal(vx_source_obj_stat(obj)->length, BIG_LEN);
	/* Ranges elsewhere than 0 are refused; the head of the stream is fine. */
	b.cap = 4096;
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 4096, 10, vx_h_buf_sink, &b, NULL), VX_ESOURCE_BADREQ);
	assert_int_equal(vx_source_read(obj, 0, 4096, vx_h_buf_sink, &b, NULL), 0);
	assert_memory_equal(b.p, blob, 4096);
	free(b.p);
	vx_source_obj_free(obj);
}

static void test_vx_source_open__chunked_without_length(void **state)
{
	struct vx_source_obj *obj;
	struct vx_h_buf b = { 0 };
	char url[256], path[512];
	uint8_t *want = malloc(300000);
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/chunk.txt", dir);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(want, 1, 300000, f), 300000);
	fclose(f);
	b.cap = 400000;
	b.p = malloc(b.cap);
	/* nginx's sub_filter and python's chunked reply both drop the length. */
	for (int i = 0; i < 2; i++) {
		if (i == 0)
			url_of(url, sizeof(url), "http", http_port, "/chunked/text.txt");
		else
			url_of(url, sizeof(url), "http", origin_port, "/chunked/chunk.txt");
		assert_int_equal(vx_source_open(ctx, url, NULL, &obj, NULL), 0);
		assert_int_equal(vx_source_obj_stat(obj)->length, VX_SOURCE_LENGTH_UNKNOWN);
		assert_false(vx_source_obj_stat(obj)->ranges);
		b.len = 0;
		assert_int_equal(
			vx_source_read(obj, 0, VX_SOURCE_LEN_TO_END, vx_h_buf_sink, &b, NULL), 0);
		assert_int_equal(b.len, 300000);
		assert_memory_equal(b.p, want, 300000);
		vx_source_obj_free(obj);
	}
	free(b.p);
	free(want);
}

static void test_vx_source_read__timeout(void **state)
{
	struct vx_source_opts o = quick_opts();
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct vx_h_buf b = { 0 };
	char url[256];

	(void)state;
	/* 4 MiB at 64 KiB/s takes a minute; the 1 s budget ends it. */
	o.timeout_ms = 1000;
	o.retries_max = UINT32_MAX;
	url_of(url, sizeof(url), "http", http_port, "/slow/blob.bin");
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, NULL), 0);
	b.cap = SLOW_LEN;
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 0, SLOW_LEN, vx_h_buf_sink, &b, &d),
			 VX_ESOURCE_TRANSIENT);
	assert_int_equal(d.transport, CURLE_OPERATION_TIMEDOUT);
	assert_true(b.len < SLOW_LEN); /* cut short (how much came depends on the load) */
	free(b.p);
	vx_source_obj_free(obj);

	/* A server that stalls after its headers trips the stall timer. */
	o.timeout_ms = 0;
	o.stall_timeout_ms = 1000;
	url_of(url, sizeof(url), "http", origin_port, "/stall/x");
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), 0);
	b.cap = 1000000;
	b.p = malloc(b.cap);
	b.len = 0;
	assert_int_equal(vx_source_read(obj, 0, VX_SOURCE_LEN_TO_END, vx_h_buf_sink, &b, &d),
			 VX_ESOURCE_TRANSIENT);
	free(b.p);
	vx_source_obj_free(obj);
}

static void test_vx_source_read__retry_and_resume(void **state)
{
	struct vx_source_opts o = quick_opts();
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct vx_h_buf b = { 0 };
	char url[256], path[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/flaky.bin", dir);
	assert_int_equal(vx_h_write_file(path, blob, 200000), 0);
	b.cap = 200000;
	b.p = malloc(b.cap);
	/* Two 503s, then the answer: open succeeds on its third attempt. */
	url_of(url, sizeof(url), "http", origin_port, "/flaky/2/flaky.bin");
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), 0);
	assert_int_equal(vx_source_obj_stat(obj)->length, 200000);
	vx_source_obj_free(obj);
	/* 503 with Retry-After: 1, twice: the retries wait (else the origin answers 400). */
	url_of(url, sizeof(url), "http", origin_port, "/later/2/flaky.bin");
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), 0);
	assert_int_equal(vx_source_obj_stat(obj)->length, 200000);
	vx_source_obj_free(obj);
	/* The first full read is cut in half; the retry asks for the rest only. */
	url_of(url, sizeof(url), "http", origin_port, "/cut/flaky.bin");
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), 0);
	assert_int_equal(vx_source_read(obj, 0, 200000, vx_h_buf_sink, &b, &d), 0);
	assert_int_equal(b.len, 200000);
	assert_memory_equal(b.p, blob, 200000);
	free(b.p);
	vx_source_obj_free(obj);
}

static int refuse_sink(void *arg, const void *data, size_t len)
{
	(void)arg;
	(void)data;
	(void)len;
	return -EIO;
}

static void test_vx_source_read__sink_abort(void **state)
{
	struct vx_source_obj *obj;
	struct vx_source_error d;
	char url[256];

	(void)state;
	url_of(url, sizeof(url), "http", http_port, "/data/blob.bin");
	assert_int_equal(vx_source_open(ctx, url, NULL, &obj, NULL), 0);
	assert_int_equal(vx_source_read(obj, 0, 1000, refuse_sink, NULL, &d), -EIO);
	assert_int_equal(d.attempts, 1);
	vx_source_obj_free(obj);
}

struct cancel_state {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int err;
	int done;
	int bytes;
};

static int count_sink(void *arg, const void *data, size_t len)
{
	struct cancel_state *c = arg;

	(void)data;
	__atomic_add_fetch(&c->bytes, (int)len, __ATOMIC_RELAXED);
	return 0;
}

static void cancel_done(void *arg, int err, const struct vx_source_error *detail)
{
	struct cancel_state *c = arg;

	(void)detail;
	pthread_mutex_lock(&c->lock);
	c->err = err;
	c->done++;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void test_vx_source_cancel__running_read(void **state)
{
	struct cancel_state c = { .lock = PTHREAD_MUTEX_INITIALIZER,
				  .cond = PTHREAD_COND_INITIALIZER };
	struct vx_source_obj *obj;
	struct vx_source_read rd = {
		.offset = 0, .length = SLOW_LEN, .sink = count_sink, .done = cancel_done, .arg = &c
	};
	uint64_t id;
	char url[256];

	(void)state;
	url_of(url, sizeof(url), "http", http_port, "/slow/blob.bin");
	assert_int_equal(vx_source_open(ctx, url, NULL, &obj, NULL), 0);
	assert_int_equal(vx_source_read_submit(obj, &rd, &id), 0);
	while (__atomic_load_n(&c.bytes, __ATOMIC_RELAXED) == 0)
		usleep(10000);
	assert_int_equal(vx_source_cancel(ctx, id), 0);
	pthread_mutex_lock(&c.lock);
	while (!c.done)
		pthread_cond_wait(&c.cond, &c.lock);
	pthread_mutex_unlock(&c.lock);
	assert_int_equal(c.err, -ECANCELED);
	assert_int_equal(c.done, 1);
	assert_int_equal(vx_source_cancel(ctx, id), -ENOENT);
	vx_source_obj_free(obj);
}

/* A full context says -ENOBUFS and grows nothing; freeing it cancels what is in flight. */
static void test_vx_source_read_submit__limit_and_ctx_free(void **state)
{
	struct cancel_state c = { .lock = PTHREAD_MUTEX_INITIALIZER,
				  .cond = PTHREAD_COND_INITIALIZER };
	struct vx_source_ctx_cfg cfg = { .reqs_max = 1 };
	struct vx_source_read rd = {
		.offset = 0, .length = SLOW_LEN, .sink = count_sink, .done = cancel_done, .arg = &c
	};
	struct vx_source_ctx *small;
	struct vx_source_obj *obj;
	char url[256];

	(void)state;
	assert_int_equal(vx_source_ctx_new(&small, &cfg), 0);
	url_of(url, sizeof(url), "http", http_port, "/slow/blob.bin");
	assert_int_equal(vx_source_open(small, url, NULL, &obj, NULL), 0);
	assert_int_equal(vx_source_read_submit(obj, &rd, NULL), 0);
	assert_int_equal(vx_source_read_submit(obj, &rd, NULL), -ENOBUFS);
	vx_source_obj_free(obj);
	vx_source_ctx_free(small);
	assert_int_equal(c.done, 1);
	assert_int_equal(c.err, -ECANCELED);
}

static void test_vx_source_open__basic_auth(void **state)
{
	struct vx_source_opts o = quick_opts();
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct vx_h_buf b = { 0 };
	char url[256];

	(void)state;
	url_of(url, sizeof(url), "http", http_port, "/auth/blob.bin");
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ESOURCE_DENIED);
	assert_int_equal(d.status, 401);
	o.username = "vx";
	o.password = "wrong";
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ESOURCE_DENIED);
	o.password = "s3cret";
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), 0);
	b.cap = 1000;
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 500, 500, vx_h_buf_sink, &b, &d), 0);
	assert_memory_equal(b.p, blob + 500, 500);
	free(b.p);
	vx_source_obj_free(obj);
}

static void test_vx_source_open__tls(void **state)
{
	struct vx_source_opts o = quick_opts();
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct vx_h_buf b = { 0 };
	char url[256], ca[512], cert[512], key[512];

	(void)state;
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cert, sizeof(cert), "%s/client.pem", dir);
	snprintf(key, sizeof(key), "%s/client.key", dir);
	url_of(url, sizeof(url), "https", https_port, "/data/blob.bin");
	/* Verified by default: an unknown CA is refused. */
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ETLS);
	/* Insecure only when asked for. */
	o.tls_insecure = true;
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), 0);
	vx_source_obj_free(obj);
	o.tls_insecure = false;
	o.tls_ca_file = ca;
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), 0);
	assert_int_equal(vx_source_obj_stat(obj)->length, BLOB_LEN);
	b.cap = 65536;
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 65536, 65536, vx_h_buf_sink, &b, &d), 0);
	assert_memory_equal(b.p, blob + 65536, 65536);
	vx_source_obj_free(obj);
	/* mTLS: nginx answers 400 without a client certificate. */
	url_of(url, sizeof(url), "https", mtls_port, "/data/blob.bin");
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), VX_ESOURCE_BADREQ);
	o.tls_cert_file = cert;
	o.tls_key_file = key;
	assert_int_equal(vx_source_open(ctx, url, &o, &obj, &d), 0);
	b.len = 0;
	assert_int_equal(vx_source_read(obj, 0, 65536, vx_h_buf_sink, &b, &d), 0);
	assert_memory_equal(b.p, blob, 65536);
	free(b.p);
	vx_source_obj_free(obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_source_open__ranged_stat),
		cmocka_unit_test(test_vx_source_open__empty_object),
		cmocka_unit_test(test_vx_source_open__ipv6_literal),
		cmocka_unit_test(test_vx_source_read__range),
		cmocka_unit_test(test_vx_source_read_submit__parallel_pieces),
		cmocka_unit_test(test_vx_source_open__redirect),
		cmocka_unit_test(test_vx_source_open__status_errors),
		cmocka_unit_test(test_vx_source_open__secrets_not_in_detail),
		cmocka_unit_test(test_vx_source_open__server_ignores_range),
		cmocka_unit_test(test_vx_source_open__chunked_without_length),
		cmocka_unit_test(test_vx_source_read__timeout),
		cmocka_unit_test(test_vx_source_read__retry_and_resume),
		cmocka_unit_test(test_vx_source_read__sink_abort),
		cmocka_unit_test(test_vx_source_cancel__running_read),
		cmocka_unit_test(test_vx_source_read_submit__limit_and_ctx_free),
		cmocka_unit_test(test_vx_source_open__basic_auth),
		cmocka_unit_test(test_vx_source_open__policed_ignores_proxy),
		cmocka_unit_test(test_vx_source_open__tls),
	};

	return cmocka_run_group_tests_name("sources_http", tests, group_setup, group_teardown);
}
