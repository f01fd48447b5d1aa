/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_control_pcache.c: the scheduler's persistent cache table on its own (vx_sched_pcache.h):
 * placement (seeds first, never the target as its own source), a refusal makes another host
 * be asked, a gone holder is replaced, an import with other digests under the same id is no
 * copy, an unasked cache-held changes nothing, and the TTL drops it on every holder; exporters
 * fetching at once are each other's candidates.
 */
#include "vx_test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vx_ctl_msg.h"
#include "vx_sched.h"
#include "vx_sched_pcache.h"

#define TID2 "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define TID  "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

struct seen {
	uint32_t replicate[8], nr_replicate;
	uint32_t drop[8], nr_drop;
};

static void on_replicate(void *arg, uint32_t host, const struct vx_pcache_task *t,
			 const uint32_t *holders, uint32_t nr)
{
	struct seen *x = arg;

	assert_non_null(t->crc);
	assert_true(nr >= 1);
	for (uint32_t i = 0; i < nr; i++)
		assert_int_not_equal(holders[i], host);
	x->replicate[x->nr_replicate++ % 8] = host;
}

static void on_drop(void *arg, uint32_t host, const char *id)
{
	struct seen *x = arg;

	assert_memory_equal(id, TID, 64);
	x->drop[x->nr_drop++ % 8] = host;
}

static int hello(struct vx_sched *s, const char *id, uint32_t role)
{
	struct vx_sched_host_info hi = { .id = vx_ctl_str_of(id),
					 .addr = vx_ctl_str_of("127.0.0.1"),
					 .port = 1000,
					 .role = role };
	int h = vx_sched_hello(s, &hi, 0);

	assert_true(h >= 0);
	return h;
}

static void setup(struct vx_sched **s, struct vx_pcache **pc)
{
	struct vx_sched_cfg cfg;

	vx_sched_cfg_default(&cfg);
	cfg.hosts_max = 16;
	cfg.tasks_max = 8;
	cfg.peers_max = 32;
	assert_int_equal(vx_sched_new(s, &cfg), 0);
	assert_int_equal(vx_pcache_new(pc), 0);
}

static void import_msg(struct vx_ctl_msg *m, struct vx_ctl_digest *d, const char *const *dg,
		       uint32_t replicas, uint64_t ttl)
{
	memset(m, 0, sizeof(*m));
	m->type = VX_CTL_CACHE_IMPORT;
	m->task_id = vx_ctl_str_of(TID);
	m->content_len = 10;
	m->piece_len = 4;
	for (uint32_t i = 0; i < 3; i++)
		d[i] = (struct vx_ctl_digest){ .piece = i, .digest = vx_ctl_str_of(dg[i]) };
	m->digests = d;
	m->nr_digests = 3;
	m->replicas = replicas;
	m->ttl_s = ttl;
}

static void test_pcache__place_refuse_replace_expire(void **state)
{
	static const char *const good[] = { "crc32:1", "crc32:2", "crc32:3" };
	static const char *const other[] = { "crc32:1", "crc32:2", "crc32:4" };
	struct seen x = { 0 };
	struct vx_pcache_ops ops = { .replicate = on_replicate, .drop = on_drop, .arg = &x };
	struct vx_sched *s;
	struct vx_pcache *pc;
	struct vx_ctl_digest d[3];
	struct vx_ctl_msg m;
	uint32_t hs[8];
	int a, b, seed, c;

	(void)state;
	setup(&s, &pc);
	a = hello(s, "A", VX_CTL_ROLE_NORMAL);
	b = hello(s, "B", VX_CTL_ROLE_NORMAL);
	seed = hello(s, "S", VX_CTL_ROLE_SEED);

	import_msg(&m, d, good, 3, 100);
	assert_int_equal(vx_pcache_import(pc, "A", &m, 0, 1000), 0);
	/* other bytes under the same id: refused, and the liar holds nothing */
	import_msg(&m, d, other, 3, 100);
	assert_int_equal(vx_pcache_import(pc, "B", &m, 0, 1000), -EEXIST);
	/* a cache-held nobody asked for is no copy */
	assert_int_equal(vx_pcache_held(pc, "B", vx_ctl_str_of(TID), 0, 0), -ENOENT);

	/* two replicas missing: the seed first, then B */
	vx_pcache_tick(pc, s, 10, 1000, &ops);
	assert_int_equal(x.nr_replicate, 2);
	assert_int_equal(x.replicate[0], seed);
	assert_int_equal(x.replicate[1], b);
	/* B is full: refused; nobody else yet; C joins and is asked */
	assert_int_equal(vx_pcache_held(pc, "B", vx_ctl_str_of(TID), -ENOSPC, 20), 0);
	assert_int_equal(vx_pcache_held(pc, "S", vx_ctl_str_of(TID), 0, 20), 0);
	vx_pcache_tick(pc, s, 30, 1000, &ops);
	assert_int_equal(x.nr_replicate, 2);
	c = hello(s, "C", VX_CTL_ROLE_NORMAL);
	vx_pcache_tick(pc, s, 40, 1000, &ops);
	assert_int_equal(x.nr_replicate, 3);
	assert_int_equal(x.replicate[2], c);
	assert_int_equal(vx_pcache_held(pc, "C", vx_ctl_str_of(TID), 0, 50), 0);
	assert_int_equal(vx_pcache_holder_hosts(pc, vx_pcache_find(pc, TID), s, hs, 8), 3);

	/* A dies: the seed and C remain, and nobody is left to ask (B refused) */
	vx_sched_host_leave(s, (uint32_t)a, 60);
	vx_pcache_tick(pc, s, 60, 1000, &ops);
	assert_int_equal(vx_pcache_holder_hosts(pc, vx_pcache_find(pc, TID), s, hs, 8), 2);
	assert_int_equal(x.nr_replicate, 3);
	/* D joins: asked in A's place */
	(void)hello(s, "D", VX_CTL_ROLE_NORMAL);
	vx_pcache_tick(pc, s, 70, 1000, &ops);
	assert_int_equal(x.nr_replicate, 4);

	/* the TTL passes: every holder still there is told, the task is gone */
	vx_pcache_tick(pc, s, 80, 1100, &ops);
	assert_int_equal(x.nr_drop, 3); /* S, C and D (asked) */
	assert_null(vx_pcache_find(pc, TID));
	vx_pcache_free(pc);
	vx_sched_free(s);
}

/* One host cannot fill the table for everyone: VX_PCACHE_HOST_MAX imports it started (5.5 13). */
static void test_pcache__per_host_quota(void **state)
{
	static const char *const good[] = { "crc32:1", "crc32:2", "crc32:3" };
	struct vx_ctl_digest d[3];
	struct vx_pcache *pc;
	struct vx_ctl_msg m;
	char ids[VX_PCACHE_HOST_MAX + 2][VX_TASK_ID_LEN + 1];

	(void)state;
	assert_int_equal(vx_pcache_new(&pc), 0);
	for (uint32_t i = 0; i < VX_PCACHE_HOST_MAX + 2; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%064x", i + 1);
		import_msg(&m, d, good, 1, 100);
		m.task_id = vx_ctl_str_of(ids[i]);
		if (i < VX_PCACHE_HOST_MAX)
			assert_int_equal(vx_pcache_import(pc, "A", &m, 0, 1000), 0);
		else if (i == VX_PCACHE_HOST_MAX)
			assert_int_equal(vx_pcache_import(pc, "A", &m, 0, 1000), -EDQUOT);
		else
			assert_int_equal(vx_pcache_import(pc, "B", &m, 0, 1000), 0);
	}
	vx_pcache_free(pc);
}

/*
 * Exporters that fetch a task at once serve each other: a cache-stat with a bitmap makes its
 * sender a FETCHING candidate (after the full holders, never its own, never a replica), a
 * cache-held makes it a holder, and silence past VX_PCACHE_FETCHING_MS forgets it.
 */
static void test_pcache__fetching_exporters(void **state)
{
	static const char *const good[] = { "crc32:1", "crc32:2", "crc32:3" };
	struct seen x = { 0 };
	struct vx_pcache_ops ops = { .replicate = on_replicate, .drop = on_drop, .arg = &x };
	struct vx_sched *s;
	struct vx_pcache *pc;
	struct vx_ctl_digest d[3];
	struct vx_ctl_msg m;
	uint32_t hs[8], pieces[8];
	bool full[8];
	int a, e1, e2;

	(void)state;
	setup(&s, &pc);
	a = hello(s, "A", VX_CTL_ROLE_NORMAL);
	e1 = hello(s, "E1", VX_CTL_ROLE_NORMAL);
	e2 = hello(s, "E2", VX_CTL_ROLE_NORMAL);
	import_msg(&m, d, good, 1, 100);
	assert_int_equal(vx_pcache_import(pc, "A", &m, 0, 1000), 0);
	assert_int_equal(vx_pcache_fetching(pc, "E1", TID, 1, 10), 0);
	assert_int_equal(vx_pcache_fetching(pc, "E2", TID, 9, 10), 0); /* capped at 3 */
	assert_int_equal(vx_pcache_fetching(pc, "E2", TID2, 1, 10), -ENOENT);
	/* E1 asks: A (full) first, then E2 (partial); never E1 itself */
	assert_int_equal(vx_pcache_cands(pc, vx_pcache_find(pc, TID), s, "E1", hs, full, pieces, 8),
			 2);
	assert_int_equal(hs[0], a);
	assert_true(full[0]);
	assert_int_equal(hs[1], e2);
	assert_false(full[1]);
	assert_int_equal(pieces[1], 3);
	/* fetching hosts are no replicas: the tick asks nobody (1 wanted, A holds it) */
	vx_pcache_tick(pc, s, 20, 1000, &ops);
	assert_int_equal(x.nr_replicate, 0);
	/* E1 finished: a holder; E2 went quiet: forgotten */
	assert_int_equal(vx_pcache_held(pc, "E1", vx_ctl_str_of(TID), 0, 30), 0);
	vx_pcache_tick(pc, s, 30 + VX_PCACHE_FETCHING_MS + 1, 1000, &ops);
	assert_int_equal(vx_pcache_cands(pc, vx_pcache_find(pc, TID), s, NULL, hs, full, pieces, 8),
			 2);
	assert_true(full[0] && full[1]);
	assert_true((hs[0] == (uint32_t)a && hs[1] == (uint32_t)e1) ||
		    (hs[0] == (uint32_t)e1 && hs[1] == (uint32_t)a));
	(void)e2;
	vx_pcache_free(pc);
	vx_sched_free(s);
}

/*
 * A host's own word is no replica: one that exported the task (FETCHING, then cache-held) or
 * re-imported it with the digests cache-stat gave it holds a copy fetchers may use, but the
 * tick still places the replicas asked for on other hosts (review 7: a liar could otherwise
 * stop every real replica of a task).
 */
static void test_pcache__claims_are_no_replicas(void **state)
{
	static const char *const good[] = { "crc32:1", "crc32:2", "crc32:3" };
	struct seen x = { 0 };
	struct vx_pcache_ops ops = { .replicate = on_replicate, .drop = on_drop, .arg = &x };
	struct vx_sched *s;
	struct vx_pcache *pc;
	struct vx_ctl_digest d[3];
	struct vx_ctl_msg m;
	int c;

	(void)state;
	setup(&s, &pc);
	(void)hello(s, "A", VX_CTL_ROLE_NORMAL);
	(void)hello(s, "E", VX_CTL_ROLE_NORMAL);
	(void)hello(s, "L", VX_CTL_ROLE_NORMAL);
	import_msg(&m, d, good, 2, 100);
	assert_int_equal(vx_pcache_import(pc, "A", &m, 0, 1000), 0);
	/* E exports it, L re-imports it on its own word: both unasked */
	assert_int_equal(vx_pcache_fetching(pc, "E", TID, 1, 10), 0);
	assert_int_equal(vx_pcache_held(pc, "E", vx_ctl_str_of(TID), 0, 20), 0);
	assert_int_equal(vx_pcache_import(pc, "L", &m, 20, 1000), 0);
	/* one replica is still missing: C, the next host, is asked */
	c = hello(s, "C", VX_CTL_ROLE_NORMAL);
	vx_pcache_tick(pc, s, 30, 1000, &ops);
	assert_int_equal(x.nr_replicate, 1);
	assert_int_equal(x.replicate[0], c);
	vx_pcache_free(pc);
	vx_sched_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pcache__place_refuse_replace_expire),
		cmocka_unit_test(test_pcache__per_host_quota),
		cmocka_unit_test(test_pcache__fetching_exporters),
		cmocka_unit_test(test_pcache__claims_are_no_replicas),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
