/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sources_plugin.c: a source plug-in built by the tests (sources_plugin_mod.c as a CMake
 * MODULE) loaded through vx_source_plugin_load(): stat, ranged and parallel reads on the
 * plug-in thread, listing, cancel, and the refusals (missing file, taken scheme, foreign ABI).
 */
#include "vx_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vx_err.h"
#include "vx_source.h"

static struct vx_source_ctx *ctx;

static int setup(void **state)
{
	(void)state;
	return vx_source_ctx_new(&ctx, NULL);
}

static int teardown(void **state)
{
	(void)state;
	vx_source_ctx_free(ctx);
	return 0;
}

struct buf {
	unsigned char *p;
	size_t len;
	size_t cap;
};

static int buf_sink(void *arg, const void *data, size_t len)
{
	struct buf *b = arg;

	if (b->len + len > b->cap)
		return -EMSGSIZE;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static void check_pattern(const unsigned char *p, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		assert_int_equal(p[i], ((off + i) * 31 + 7) & 0xff);
}

static void test_vx_source_plugin_load__serves_scheme(void **state)
{
	struct vx_source_obj *obj;
	struct vx_source_error d;
	struct buf b = { .cap = 100000 };

	(void)state;
	assert_false(vx_source_supports(ctx, "mem://5/x"));
	assert_int_equal(vx_source_plugin_load(ctx, VX_TEST_PLUGIN_PATH), 0);
	assert_true(vx_source_supports(ctx, "mem://5/x"));
	assert_int_equal(vx_source_open(ctx, "mem://99999/obj", NULL, &obj, &d), 0);
	assert_int_equal(vx_source_obj_stat(obj)->length, 99999);
	assert_true(vx_source_obj_stat(obj)->ranges);
	assert_string_equal(vx_source_obj_stat(obj)->etag, "\"mem-99999\"");
	b.p = malloc(b.cap);
	assert_int_equal(vx_source_read(obj, 12345, 50000, buf_sink, &b, &d), 0);
	assert_int_equal(b.len, 50000);
	check_pattern(b.p, b.len, 12345);
	b.len = 0;
	assert_int_equal(vx_source_read(obj, 0, VX_SOURCE_LEN_TO_END, buf_sink, &b, &d), 0);
	assert_int_equal(b.len, 99999);
	check_pattern(b.p, b.len, 0);
	free(b.p);
	vx_source_obj_free(obj);
	assert_int_equal(vx_source_open(ctx, "mem://x/bad", NULL, &obj, &d), VX_ESOURCE_NOTFOUND);
	/* Loading it twice: the scheme is taken. */
	assert_int_equal(vx_source_plugin_load(ctx, VX_TEST_PLUGIN_PATH), -EEXIST);
}

static void test_vx_source_plugin_load__refusals(void **state)
{
	(void)state;
	assert_int_equal(vx_source_plugin_load(ctx, "./no-such-plugin.so"), -ENOENT);
	assert_int_equal(vx_source_plugin_load(ctx, VX_TEST_PLUGIN_BAD_ABI_PATH), -EPROTO);
	assert_false(vx_source_supports(ctx, "mem://5/x"));
}

struct list_state {
	int n;
	int64_t bytes;
};

static int on_entry(void *arg, const struct vx_source_entry *e)
{
	struct list_state *s = arg;

	s->n++;
	s->bytes += e->length;
	assert_non_null(strstr(e->url, "mem://dir/"));
	return 0;
}

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	int errs[8];
	size_t got[8];
};

struct slot {
	struct waiter *w;
	int i;
};

static int count_sink(void *arg, const void *data, size_t len)
{
	struct slot *s = arg;

	(void)data;
	s->w->got[s->i] += len;
	return 0;
}

static void on_done(void *arg, int err, const struct vx_source_error *detail)
{
	struct slot *s = arg;

	(void)detail;
	pthread_mutex_lock(&s->w->lock);
	s->w->errs[s->i] = err;
	s->w->done++;
	pthread_cond_signal(&s->w->cond);
	pthread_mutex_unlock(&s->w->lock);
}

static void test_vx_source_read_submit__plugin_async_and_list(void **state)
{
	struct waiter w = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct list_state ls = { 0 };
	struct slot slots[4];
	struct vx_source_obj *obj;
	uint64_t id;

	(void)state;
	assert_int_equal(vx_source_plugin_load(ctx, VX_TEST_PLUGIN_PATH), 0);
	assert_int_equal(vx_source_list(ctx, "mem://dir", NULL, on_entry, &ls, NULL), 0);
	assert_int_equal(ls.n, 3);
	assert_int_equal(ls.bytes, 10 + 1000 + 99999);
	assert_int_equal(vx_source_open(ctx, "mem://4000000/big", NULL, &obj, NULL), 0);
	for (int i = 0; i < 4; i++) {
		struct vx_source_read rd = { .offset = (uint64_t)i * 1000000,
					     .length = 1000000,
					     .sink = count_sink,
					     .done = on_done,
					     .arg = &slots[i] };

		slots[i] = (struct slot){ .w = &w, .i = i };
		assert_int_equal(vx_source_read_submit(obj, &rd, &id), 0);
	}
	/* The last one is queued behind the others on the plug-in thread: cancel it. */
	(void)vx_source_cancel(ctx, id);
	vx_source_obj_free(obj);
	pthread_mutex_lock(&w.lock);
	while (w.done < 4)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(w.errs[i], 0);
		assert_int_equal(w.got[i], 1000000);
	}
	assert_true(w.errs[3] == -ECANCELED || (w.errs[3] == 0 && w.got[3] == 1000000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vx_source_plugin_load__serves_scheme, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_source_plugin_load__refusals, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_source_read_submit__plugin_async_and_list,
						setup, teardown),
	};

	return cmocka_run_group_tests_name("sources_plugin", tests, NULL, NULL);
}
