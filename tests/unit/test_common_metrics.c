/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_metrics.c: the metrics module (vx_metrics.h): the exposition of every kind of
 * metric (labels, two labels, cumulative histogram buckets, +Inf equal to _count, _sum in the
 * base unit), readers at scrape time, vx_metrics_find() on our own output, and updates from
 * several threads at once adding up exactly (relaxed atomics lose nothing).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vx_alloc.h"
#include "vx_metrics.h"

static char *scrape(uint32_t rooms, size_t *len)
{
	char *out = NULL;

	assert_int_equal(vx_metrics_write(rooms, &out, len), 0);
	assert_non_null(out);
	return out;
}

static int64_t find(const char *text, size_t len, const char *series)
{
	int64_t v = -1;

	assert_int_equal(vx_metrics_find(text, len, series, &v), 0);
	return v;
}

static void test_counter_and_labels(void **state)
{
	size_t len;
	char *t;
	int64_t before;

	(void)state;
	t = scrape(VX_METRICS_PEER, &len);
	before = find(t, len, "vx_download_bytes_total{source=\"peer\"}");
	vx_free(t);
	vx_metric_add(&vx_m_download_bytes, VX_M_SRC_PEER, 1000);
	vx_metric_inc(&vx_m_pieces, VX_M_PIECE_DIGEST_MISMATCH);
	t = scrape(VX_METRICS_PEER, &len);
	assert_int_equal(find(t, len, "vx_download_bytes_total{source=\"peer\"}"), before + 1000);
	assert_non_null(strstr(t, "# TYPE vx_download_bytes_total counter\n"));
	assert_non_null(strstr(t, "# TYPE vx_tasks_active gauge\n"));
	assert_true(find(t, len, "vx_pieces_total{result=\"digest_mismatch\"}") >= 1);
	/* rooms: the scheduler's families are not in the peer's scrape, TLS is in both */
	assert_null(strstr(t, "vx_scheduler_decisions_total"));
	assert_non_null(strstr(t, "vx_tls_handshakes_total{result=\"refused\"} "));
	vx_free(t);
	t = scrape(VX_METRICS_SCHED, &len);
	assert_null(strstr(t, "vx_download_bytes_total"));
	vx_metric_inc(&vx_m_api_requests, VX_M_API(VX_M_ROUTE_JOBS, vx_m_code_of(404)));
	vx_free(t);
	t = scrape(VX_METRICS_SCHED, &len);
	assert_int_equal(find(t, len, "vx_api_requests_total{route=\"jobs\",code=\"4xx\"}"), 1);
	assert_int_equal(find(t, len, "vx_api_requests_total{route=\"jobs\",code=\"2xx\"}"), 0);
	vx_free(t);
}

static void test_histogram(void **state)
{
	size_t len;
	char *t;

	(void)state;
	vx_metric_observe(&vx_m_piece_seconds, 0, 50);	     /* 50 µs: first bucket */
	vx_metric_observe(&vx_m_piece_seconds, 0, 3000);     /* 3 ms: le 0.005 */
	vx_metric_observe(&vx_m_piece_seconds, 0, 1u << 30); /* beyond 10 s: +Inf only */
	t = scrape(VX_METRICS_PEER, &len);
	assert_int_equal(find(t, len, "vx_piece_duration_seconds_bucket{le=\"0.0001\"}"), 1);
	assert_int_equal(find(t, len, "vx_piece_duration_seconds_bucket{le=\"0.0025\"}"), 1);
	assert_int_equal(find(t, len, "vx_piece_duration_seconds_bucket{le=\"0.005\"}"), 2);
	assert_int_equal(find(t, len, "vx_piece_duration_seconds_bucket{le=\"10\"}"), 2);
	assert_int_equal(find(t, len, "vx_piece_duration_seconds_bucket{le=\"+Inf\"}"), 3);
	assert_int_equal(find(t, len, "vx_piece_duration_seconds_count"), 3);
	/* _sum in seconds: 50 µs + 3 ms + 2^30 µs */
	assert_non_null(strstr(t, "vx_piece_duration_seconds_sum 1073.74487\n"));
	/* a labelled histogram puts le after the label */
	vx_metric_observe(&vx_m_task_seconds, VX_M_TASK_FAILED, 200);
	vx_free(t);
	t = scrape(VX_METRICS_PEER, &len);
	assert_int_equal(
		find(t, len, "vx_task_duration_seconds_bucket{result=\"failed\",le=\"0.25\"}"), 1);
	assert_int_equal(find(t, len, "vx_task_duration_seconds_count{result=\"ok\"}"), 0);
	vx_free(t);
}

static int64_t reader(void *arg, uint32_t v)
{
	return *(int64_t *)arg + v;
}

static void test_reader(void **state)
{
	int64_t x = 424242;
	size_t len;
	char *t;

	(void)state;
	vx_metric_set_reader(&vx_m_store_free_bytes, reader, &x);
	t = scrape(VX_METRICS_PEER, &len);
	assert_int_equal(find(t, len, "vx_store_free_bytes"), 424242);
	vx_free(t);
	vx_metric_set_reader(&vx_m_store_free_bytes, NULL, NULL);
}

static void test_find(void **state)
{
	static const char text[] = "a_total 5\nb{x=\"1\"} -3\nb{x=\"2\"} 7 \nc 1e3\nd 12";
	int64_t v = 99;

	(void)state;
	assert_int_equal(find(text, sizeof(text) - 1, "a_total"), 5);
	assert_int_equal(find(text, sizeof(text) - 1, "b{x=\"1\"}"), -3);
	assert_int_equal(find(text, sizeof(text) - 1, "d"), 12); /* last line, no newline */
	assert_int_equal(vx_metrics_find(text, sizeof(text) - 1, "b{x=\"2\"}", &v), -ENOENT);
	assert_int_equal(vx_metrics_find(text, sizeof(text) - 1, "c", &v), -ENOENT);
	assert_int_equal(vx_metrics_find(text, sizeof(text) - 1, "a", &v), -ENOENT);
	assert_int_equal(vx_metrics_find(text, 3, "a_total", &v), -ENOENT);
	assert_int_equal(v, 99);
	assert_int_equal(vx_m_scheme_of("HTTPS://x/"), VX_M_SCHEME_HTTPS);
	assert_int_equal(vx_m_scheme_of("s3://b/k"), VX_M_SCHEME_S3);
	assert_int_equal(vx_m_scheme_of("gopher://x"), VX_M_SCHEME_OTHER);
	assert_int_equal(vx_m_scheme_of(NULL), VX_M_SCHEME_OTHER);
	assert_int_equal(vx_m_code_of(200), VX_M_CODE_2XX);
	assert_int_equal(vx_m_code_of(503), VX_M_CODE_5XX);
}

#define THREADS 4
#define ADDS	200000

static void *adder(void *arg)
{
	(void)arg;
	for (int i = 0; i < ADDS; i++) {
		vx_metric_add(&vx_m_upload_bytes, 0, 3);
		vx_metric_observe(&vx_m_sched_seconds, 0, 1);
	}
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t th[THREADS];
	int64_t before = vx_metric_value(&vx_m_upload_bytes, 0);
	size_t len;
	char *t;

	(void)state;
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, adder, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(vx_metric_value(&vx_m_upload_bytes, 0) - before, 3 * THREADS * ADDS);
	t = scrape(VX_METRICS_SCHED, &len);
	assert_int_equal(find(t, len, "vx_scheduler_decision_duration_seconds_count"),
			 THREADS * ADDS);
	vx_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_and_labels),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_reader),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
