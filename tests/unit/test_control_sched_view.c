/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_control_sched_view.c: what the scheduler core keeps for the console (sched_view.c):
 * bytes from the origin and from peers, who fetched from whom per task (bounded), the task
 * list, and the blocklist (a listed host is never offered as a parent, also when it comes back).
 */
#include "vx_test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vx_ctl_msg.h"
#include "vx_sched.h"

/* the task id of "http://origin/a" (vx task-id) */
#define TASK_A "34ddf0ddf2f97eff1c1218845d7fa6981c92a5b9e29b01490496c012d21e4012"
#define MiB    (1u << 20)

static struct vx_sched *new_sched(void)
{
	struct vx_sched_cfg cfg;
	struct vx_sched *s;

	vx_sched_cfg_default(&cfg);
	cfg.hosts_max = 256;
	cfg.tasks_max = 16;
	cfg.peers_max = 512;
	cfg.events_max = 4096;
	assert_int_equal(vx_sched_new(&s, &cfg), 0);
	return s;
}

static uint32_t hello(struct vx_sched *s, const char *id)
{
	struct vx_sched_host_info hi = { 0 };
	int h;

	hi.id = vx_ctl_str_of(id);
	hi.addr = vx_ctl_str_of("127.0.0.1");
	hi.port = 4005;
	hi.idc = vx_ctl_str_of("");
	hi.location = vx_ctl_str_of("");
	h = vx_sched_hello(s, &hi, 0);
	assert_true(h >= 0);
	return (uint32_t)h;
}

/* Registers for a 10-piece task of 10 MiB - 1 byte (the last piece is short). */
static struct vx_sched_answer reg(struct vx_sched *s, uint32_t h)
{
	struct vx_sched_reg r = { 0 };
	struct vx_sched_answer a;

	r.task_id = vx_ctl_str_of(TASK_A);
	r.url = vx_ctl_str_of("http://origin/a");
	r.piece_len = MiB;
	r.content_len = 10 * MiB - 1;
	assert_int_equal(vx_sched_register(s, h, &r, 1, &a), 0);
	return a;
}

/* Pieces [from, to) held, with @nr_costs cost records (@costs) and digests for an origin. */
static void progress(struct vx_sched *s, uint32_t h, uint32_t from, uint32_t to,
		     const struct vx_ctl_cost *costs, uint32_t nr_costs)
{
	struct vx_ctl_digest d[16], *out;
	struct vx_sched_progress p = { 0 };
	uint8_t bits[2] = { 0 };
	char txt[16][24];
	uint32_t n;

	for (uint32_t i = from; i < to; i++) {
		bits[i / 8] |= (uint8_t)(0x80u >> (i % 8));
		snprintf(txt[i - from], sizeof(txt[0]), "crc32:%u", 1000 + i);
		d[i - from].piece = i;
		d[i - from].digest = vx_ctl_str_of(txt[i - from]);
	}
	p.task_id = vx_ctl_str_of(TASK_A);
	p.bitmap = bits;
	p.bitmap_len = 2;
	p.digests = d;
	p.nr_digests = to - from;
	p.costs = costs;
	p.nr_costs = nr_costs;
	assert_int_equal(vx_sched_progress(s, h, &p, 2, &out, &n), 0);
	assert_true(vx_sched_check(s));
}

static bool has_cand(const struct vx_sched_answer *a, const char *id)
{
	for (uint32_t i = 0; i < a->nr_cands; i++) {
		if (vx_ctl_str_eq(a->cands[i].host_id, id))
			return true;
	}
	return false;
}

static void test_vx_sched_task_flows__origin_and_peer_bytes(void **state)
{
	struct vx_sched *s = new_sched();
	uint32_t org = hello(s, "org"), c = hello(s, "c"), n, dropped;
	struct vx_ctl_cost cost = {
		.host_id = vx_ctl_str_of("org"), .pieces = 3, .bytes = 3 * MiB, .cost_us = 1000
	};
	struct vx_sched_flow_view fv[VX_SCHED_FLOWS_MAX];
	struct vx_sched_task_view tv[4];
	struct vx_sched_host_view hv[4];
	struct vx_sched_stats st;

	(void)state;
	reg(s, org); /* the first goes to the origin */
	progress(s, org, 0, 4, NULL, 0);
	progress(s, org, 4, 10, NULL, 0);
	reg(s, c);
	progress(s, c, 0, 3, &cost, 1);
	vx_sched_get_stats(s, &st);
	assert_int_equal(st.bytes_from_origin, 10 * MiB - 1);
	assert_int_equal(st.bytes_from_peers, 3 * MiB);
	n = vx_sched_task_flows(s, vx_ctl_str_of(TASK_A), fv, VX_SCHED_FLOWS_MAX, &dropped);
	assert_int_equal(n, 2);
	assert_int_equal(dropped, 0);
	assert_null(fv[0].parent);
	assert_string_equal(fv[0].child, "org");
	assert_int_equal(fv[0].bytes, 10 * MiB - 1);
	assert_string_equal(fv[1].parent, "org");
	assert_string_equal(fv[1].child, "c");
	assert_int_equal(fv[1].bytes, 3 * MiB);
	/* per host: what it fetched and what it served */
	assert_int_equal(vx_sched_hosts_list(s, hv, 4), 2);
	for (uint32_t i = 0; i < 2; i++) {
		bool is_org = strcmp(hv[i].id, "org") == 0;

		assert_int_equal(hv[i].rx_origin, is_org ? 10 * MiB - 1 : 0);
		assert_int_equal(hv[i].rx_peer, is_org ? 0 : 3 * MiB);
		assert_int_equal(hv[i].tx_bytes, is_org ? 3 * MiB : 0);
	}
	assert_int_equal(vx_sched_tasks_list(s, tv, 0, 4), 1);
	assert_string_equal(tv[0].id, TASK_A);
	assert_string_equal(tv[0].url, "http://origin/a");
	assert_int_equal(tv[0].peers, 2);
	assert_int_equal(vx_sched_tasks_list(s, tv, 1, 4), 0);
	vx_sched_free(s);
}

/* A swarm of many parents: at most VX_SCHED_FLOWS_MAX edges are kept, the rest counted. */
static void test_vx_sched_task_flows__bounded(void **state)
{
	struct vx_sched *s = new_sched();
	uint32_t org = hello(s, "org"), c = hello(s, "c"), n, dropped;
	struct vx_ctl_cost cost[VX_CTL_COSTS_MAX];
	struct vx_sched_flow_view fv[VX_SCHED_FLOWS_MAX];
	char ids[2 * VX_SCHED_FLOWS_MAX][16];

	(void)state;
	reg(s, org);
	for (uint32_t i = 0; i < 2 * VX_SCHED_FLOWS_MAX; i++) {
		snprintf(ids[i], sizeof(ids[i]), "p%u", i);
		reg(s, hello(s, ids[i]));
	}
	reg(s, c);
	for (uint32_t round = 0; round < 2; round++) {
		for (uint32_t i = 0; i < VX_CTL_COSTS_MAX; i++)
			cost[i] = (struct vx_ctl_cost){
				.host_id = vx_ctl_str_of(ids[round * VX_CTL_COSTS_MAX + i]),
				.pieces = 1,
				.bytes = 1000,
				.cost_us = 1000,
			};
		progress(s, c, round, round + 1, cost, VX_CTL_COSTS_MAX);
	}
	n = vx_sched_task_flows(s, vx_ctl_str_of(TASK_A), fv, VX_SCHED_FLOWS_MAX, &dropped);
	assert_int_equal(n, VX_SCHED_FLOWS_MAX);
	assert_int_equal(n + dropped, 2 * VX_CTL_COSTS_MAX);
	vx_sched_free(s);
}

static void test_vx_sched_ban__never_a_parent(void **state)
{
	struct vx_sched *s = new_sched();
	uint32_t org = hello(s, "org"), b = hello(s, "b"), c = hello(s, "c"), x;
	struct vx_sched_answer a;
	char id[16];

	(void)state;
	reg(s, org);
	progress(s, org, 0, 10, NULL, 0);
	reg(s, b);
	progress(s, b, 0, 10, NULL, 0);
	assert_int_equal(vx_sched_finished(s, b, vx_ctl_str_of(TASK_A), 2), 0);
	assert_int_equal(vx_sched_ban(s, "b", true), 0);
	assert_int_equal(vx_sched_ban(s, "b", true), 0); /* listed once */
	for (int i = 0; i < 3; i++) {
		a = i ? a : reg(s, c);
		assert_false(has_cand(&a, "b"));
		assert_int_equal(vx_sched_reschedule(s, c, vx_ctl_str_of(TASK_A), NULL, 0, 3, &a),
				 0);
	}
	assert_false(has_cand(&a, "b"));
	/* it leaves and comes back: still listed */
	vx_sched_host_leave(s, b, 4);
	b = hello(s, "b");
	reg(s, b);
	progress(s, b, 0, 10, NULL, 0);
	assert_int_equal(vx_sched_reschedule(s, c, vx_ctl_str_of(TASK_A), NULL, 0, 5, &a), 0);
	assert_false(has_cand(&a, "b"));
	/* taken off: offered again */
	assert_int_equal(vx_sched_ban(s, "b", false), 0);
	assert_int_equal(vx_sched_reschedule(s, c, vx_ctl_str_of(TASK_A), NULL, 0, 6, &a), 0);
	assert_true(has_cand(&a, "b"));
	/* a host listed before it ever said hello */
	assert_int_equal(vx_sched_ban(s, "late", true), 0);
	x = hello(s, "late");
	reg(s, x);
	progress(s, x, 0, 10, NULL, 0);
	assert_int_equal(vx_sched_reschedule(s, c, vx_ctl_str_of(TASK_A), NULL, 0, 7, &a), 0);
	assert_false(has_cand(&a, "late"));
	/* bounded, and no empty id */
	assert_int_equal(vx_sched_ban(s, "", true), -EINVAL);
	for (uint32_t i = 1; i < VX_SCHED_BANNED_MAX; i++) {
		snprintf(id, sizeof(id), "h%u", i);
		assert_int_equal(vx_sched_ban(s, id, true), 0);
	}
	assert_int_equal(vx_sched_ban(s, "one-too-many", true), -ENOSPC);
	assert_true(vx_sched_check(s));
	vx_sched_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_sched_task_flows__origin_and_peer_bytes),
		cmocka_unit_test(test_vx_sched_task_flows__bounded),
		cmocka_unit_test(test_vx_sched_ban__never_a_parent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
