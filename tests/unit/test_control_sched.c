/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_control_sched.c: the scheduler core on its own: state tables, origin policy, manifest,
 * ranking, cycles, lying parents, failure handling, seeds, both policies, and a seeded random
 * churn run that checks every invariant after every step.
 */
#include "vx_test.h"

#include <stdio.h>
#include <string.h>

#include "vx_alloc.h"
#include "vx_ctl_msg.h"
#include "vx_err.h"
#include "vx_sched.h"
#include "vx_task_id.h"

/* the task id of "http://origin/a" (vx task-id): a trigger needs a URL that derives the id */
#define TASK_A "34ddf0ddf2f97eff1c1218845d7fa6981c92a5b9e29b01490496c012d21e4012"
#define TASK_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static struct vx_sched *new_sched_mesh(enum vx_sched_policy pol, bool mesh)
{
	struct vx_sched_cfg cfg;
	struct vx_sched *s;

	vx_sched_cfg_default(&cfg);
	cfg.policy = pol;
	cfg.mesh = mesh;
	cfg.hosts_max = 512;
	cfg.tasks_max = 64;
	cfg.peers_max = 2048;
	cfg.events_max = 4096;
	assert_int_equal(vx_sched_new(&s, &cfg), 0);
	return s;
}

static struct vx_sched *new_sched(enum vx_sched_policy pol)
{
	return new_sched_mesh(pol, true);
}

static uint32_t hello_loc(struct vx_sched *s, const char *id, const char *idc, const char *loc,
			  uint64_t bps, uint32_t role)
{
	struct vx_sched_host_info hi = { 0 };
	int h;

	hi.id = vx_ctl_str_of(id);
	hi.addr = vx_ctl_str_of("127.0.0.1");
	hi.port = 4005;
	hi.idc = vx_ctl_str_of(idc);
	hi.location = vx_ctl_str_of(loc);
	hi.role = role;
	hi.bandwidth_bps = bps;
	h = vx_sched_hello(s, &hi, 0);
	assert_true(h >= 0);
	return (uint32_t)h;
}

static uint32_t hello(struct vx_sched *s, const char *id, const char *idc, uint64_t bps,
		      uint32_t role)
{
	return hello_loc(s, id, idc, "cn|zj|hz", bps, role);
}

/* Registers for a 10-piece task of 10 MiB with 1 MiB pieces. */
static struct vx_sched_answer reg(struct vx_sched *s, uint32_t h, const char *task)
{
	struct vx_sched_reg r = { 0 };
	struct vx_sched_answer a;

	r.task_id = vx_ctl_str_of(task);
	r.url = vx_ctl_str_of("http://origin/a");
	r.piece_len = 1 << 20;
	r.content_len = 10 << 20;
	assert_int_equal(vx_sched_register(s, h, &r, 1, &a), 0);
	assert_true(vx_sched_check(s));
	return a;
}

/* Reports pieces [from, to) held, with digests when @digests. */
static int progress(struct vx_sched *s, uint32_t h, const char *task, uint32_t from, uint32_t to,
		    bool digests, uint32_t *nr_manifest)
{
	struct vx_ctl_digest d[16];
	struct vx_sched_progress p = { 0 };
	struct vx_ctl_digest *out;
	uint8_t bits[2] = { 0 };
	char txt[16][24];
	int rc;

	for (uint32_t i = from; i < to; i++) {
		bits[i / 8] |= (uint8_t)(0x80u >> (i % 8));
		snprintf(txt[i - from], sizeof(txt[0]), "crc32:%u", 1000 + i);
		d[i - from].piece = i;
		d[i - from].digest = vx_ctl_str_of(txt[i - from]);
	}
	p.task_id = vx_ctl_str_of(task);
	p.bitmap = bits;
	p.bitmap_len = 2;
	p.digests = d;
	p.nr_digests = digests ? to - from : 0;
	rc = vx_sched_progress(s, h, &p, 2, &out, nr_manifest);
	assert_true(vx_sched_check(s));
	return rc;
}

static bool has_cand(const struct vx_sched_answer *a, const char *id)
{
	for (uint32_t i = 0; i < a->nr_cands; i++) {
		if (vx_ctl_str_eq(a->cands[i].host_id, id))
			return true;
	}
	return false;
}

static void test_vx_sched_peer_legal__table(void **state)
{
	(void)state;
	/* the paths spec/control.md draws */
	assert_true(vx_sched_peer_legal(VX_SCHED_PEER_FREE, VX_SCHED_PEER_PENDING));
	assert_true(vx_sched_peer_legal(VX_SCHED_PEER_PENDING, VX_SCHED_PEER_RECEIVED));
	assert_true(vx_sched_peer_legal(VX_SCHED_PEER_RECEIVED, VX_SCHED_PEER_RUNNING));
	assert_true(vx_sched_peer_legal(VX_SCHED_PEER_RUNNING, VX_SCHED_PEER_SUCCEEDED));
	assert_true(vx_sched_peer_legal(VX_SCHED_PEER_RUNNING, VX_SCHED_PEER_BACK_TO_SOURCE));
	assert_true(vx_sched_peer_legal(VX_SCHED_PEER_BACK_TO_SOURCE, VX_SCHED_PEER_FAILED));
	/* the ones it forbids */
	assert_false(vx_sched_peer_legal(VX_SCHED_PEER_SUCCEEDED, VX_SCHED_PEER_RUNNING));
	assert_false(vx_sched_peer_legal(VX_SCHED_PEER_SUCCEEDED, VX_SCHED_PEER_FAILED));
	assert_false(vx_sched_peer_legal(VX_SCHED_PEER_FAILED, VX_SCHED_PEER_RUNNING));
	assert_false(vx_sched_peer_legal(VX_SCHED_PEER_BACK_TO_SOURCE, VX_SCHED_PEER_RUNNING));
	assert_false(vx_sched_peer_legal(VX_SCHED_PEER_RUNNING, VX_SCHED_PEER_RECEIVED));
	assert_false(vx_sched_peer_legal(VX_SCHED_PEER_FREE, VX_SCHED_PEER_RUNNING));
	/* every state can leave, nothing is reachable from nowhere */
	for (int st = VX_SCHED_PEER_PENDING; st < VX_SCHED_PEER_STATE_NR; st++) {
		assert_true(vx_sched_peer_legal((enum vx_sched_peer_state)st, VX_SCHED_PEER_FREE));
		assert_false(vx_sched_peer_legal((enum vx_sched_peer_state)st,
						 (enum vx_sched_peer_state)st));
	}
	assert_false(vx_sched_peer_legal(VX_SCHED_PEER_STATE_NR, VX_SCHED_PEER_FREE));
}

static void test_vx_sched_task_legal__table(void **state)
{
	(void)state;
	assert_true(vx_sched_task_legal(VX_SCHED_TASK_PENDING, VX_SCHED_TASK_RUNNING));
	assert_true(vx_sched_task_legal(VX_SCHED_TASK_RUNNING, VX_SCHED_TASK_SUCCEEDED));
	assert_true(vx_sched_task_legal(VX_SCHED_TASK_RUNNING, VX_SCHED_TASK_FAILED));
	assert_true(vx_sched_task_legal(VX_SCHED_TASK_FAILED, VX_SCHED_TASK_RUNNING));
	assert_true(vx_sched_task_legal(VX_SCHED_TASK_SUCCEEDED, VX_SCHED_TASK_RUNNING));
	assert_false(vx_sched_task_legal(VX_SCHED_TASK_PENDING, VX_SCHED_TASK_SUCCEEDED));
	assert_false(vx_sched_task_legal(VX_SCHED_TASK_FAILED, VX_SCHED_TASK_SUCCEEDED));
	assert_true(vx_sched_host_legal(VX_SCHED_HOST_ACTIVE, VX_SCHED_HOST_SILENT));
	assert_true(vx_sched_host_legal(VX_SCHED_HOST_SILENT, VX_SCHED_HOST_ACTIVE));
	assert_false(vx_sched_host_legal(VX_SCHED_HOST_FREE, VX_SCHED_HOST_SILENT));
}

/* A task is private once any register says so, and every later answer says so (sticky). */
static void test_vx_sched_register__private_is_sticky(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	uint32_t h0 = hello(s, "h0", "dc1", 0, VX_CTL_ROLE_NORMAL);
	uint32_t h1 = hello(s, "h1", "dc1", 0, VX_CTL_ROLE_NORMAL);
	uint32_t h2 = hello(s, "h2", "dc1", 0, VX_CTL_ROLE_NORMAL);
	struct vx_sched_reg r = { 0 };
	struct vx_sched_answer a;

	(void)state;
	a = reg(s, h0, TASK_A);
	assert_false(a.priv);
	r.task_id = vx_ctl_str_of(TASK_A);
	r.url = vx_ctl_str_of("http://origin/a?X-Amz-Signature=1");
	r.piece_len = 1 << 20;
	r.content_len = 10 << 20;
	r.priv = true;
	assert_int_equal(vx_sched_register(s, h1, &r, 1, &a), 0);
	assert_true(a.priv);
	a = reg(s, h2, TASK_A); /* a host that never saw the credentials learns it */
	assert_true(a.priv);
	a = reg(s, h0, TASK_A);
	assert_true(a.priv);
	vx_sched_free(s);
}

static void test_vx_sched_register__first_goes_to_source_once(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	uint32_t h[5];
	struct vx_sched_answer a;
	struct vx_sched_task_stat st;
	char id[16];

	(void)state;
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "h%d", i);
		h[i] = hello(s, id, "dc1", 0, VX_CTL_ROLE_NORMAL);
	}
	a = reg(s, h[0], TASK_A);
	assert_int_equal(a.kind, VX_CTL_ANS_BACK_TO_SOURCE);
	assert_int_equal(vx_sched_peer_state(s, h[0], vx_ctl_str_of(TASK_A)),
			 VX_SCHED_PEER_BACK_TO_SOURCE);
	for (int i = 1; i < 5; i++) {
		a = reg(s, h[i], TASK_A);
		assert_int_equal(a.kind, VX_CTL_ANS_PARENTS);
		assert_true(has_cand(&a, "h0"));
		assert_false(has_cand(&a, "h1") && i == 1);
	}
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(TASK_A), &st), 0);
	assert_int_equal(st.origin_peers, 1);
	assert_int_equal(st.peers, 5);
	assert_int_equal(st.piece_count, 10);
	assert_int_equal(st.state, VX_SCHED_TASK_RUNNING);
	vx_sched_free(s);
}

static void test_vx_sched_progress__manifest_propagates(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	uint32_t h0 = hello(s, "h0", "", 0, 0), h1 = hello(s, "h1", "", 0, 0), n;
	struct vx_sched_answer a;
	struct vx_sched_event ev;
	struct vx_sched_task_stat st;

	(void)state;
	reg(s, h0, TASK_A);
	a = reg(s, h1, TASK_A);
	assert_int_equal(a.nr_digests, 0);
	assert_int_equal(progress(s, h0, TASK_A, 0, 4, true, &n), 0);
	/* h1 is told the manifest grew, and the event carries the digests */
	assert_true(vx_sched_next_event(s, &ev, 3));
	assert_int_equal(ev.kind, VX_CTL_EV_MANIFEST);
	assert_int_equal(ev.host, h1);
	assert_int_equal(ev.ans.nr_digests, 4);
	assert_true(vx_ctl_str_eq(ev.ans.digests[2].digest, "crc32:1002"));
	assert_false(vx_sched_next_event(s, &ev, 3));
	/* digests from a peer that is not the origin are not trusted */
	assert_int_equal(progress(s, h1, TASK_A, 4, 6, true, &n), 0);
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(TASK_A), &st), 0);
	assert_int_equal(st.manifest_pieces, 4);
	/* a conflicting digest from the origin is refused, the first one stays */
	assert_int_equal(progress(s, h0, TASK_A, 4, 10, true, &n), 0);
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(TASK_A), &st), 0);
	assert_int_equal(st.manifest_pieces, 10);
	/* the next progress answer of h1 brings what it has not seen */
	assert_int_equal(progress(s, h1, TASK_A, 6, 7, false, &n), 0);
	assert_int_equal(n, 6);
	assert_int_equal(vx_sched_finished(s, h1, vx_ctl_str_of(TASK_A), 4), -EPROTO);
	assert_int_equal(vx_sched_finished(s, h0, vx_ctl_str_of(TASK_A), 4), 0);
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(TASK_A), &st), 0);
	assert_int_equal(st.state, VX_SCHED_TASK_SUCCEEDED);
	assert_int_equal(st.done_peers, 1);
	assert_int_equal(st.origin_peers, 0);
	vx_sched_free(s);
}

static void test_vx_sched_failed__origin_role_handed_on(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	uint32_t h0 = hello(s, "h0", "", 0, 0), h1 = hello(s, "h1", "", 0, 0);
	uint32_t h2 = hello(s, "h2", "", 0, 0), n;
	struct vx_sched_event ev;
	struct vx_sched_task_stat st;
	bool bts = false, parents = false;

	(void)state;
	reg(s, h0, TASK_A);
	reg(s, h1, TASK_A);
	reg(s, h2, TASK_A);
	assert_int_equal(progress(s, h0, TASK_A, 0, 3, true, &n), 0);
	assert_int_equal(progress(s, h1, TASK_A, 0, 2, false, &n), 0);
	while (vx_sched_next_event(s, &ev, 3)) /* manifest pushes */
		;
	assert_int_equal(vx_sched_failed(s, h0, vx_ctl_str_of(TASK_A), 4), 0);
	assert_true(vx_sched_check(s));
	assert_int_equal(vx_sched_peer_state(s, h0, vx_ctl_str_of(TASK_A)), VX_SCHED_PEER_FAILED);
	/* h1 holds the most pieces: it takes over the origin fetch; h2 gets new parents */
	while (vx_sched_next_event(s, &ev, 5)) {
		if (ev.kind == VX_CTL_EV_BACK_TO_SOURCE) {
			assert_int_equal(ev.host, h1);
			bts = true;
		}
		if (ev.kind == VX_CTL_EV_PARENTS && ev.host == h2) {
			assert_true(has_cand(&ev.ans, "h1"));
			assert_false(has_cand(&ev.ans, "h0"));
			parents = true;
		}
	}
	assert_true(bts);
	assert_true(parents);
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(TASK_A), &st), 0);
	assert_int_equal(st.origin_peers, 1);
	assert_true(vx_sched_check(s));
	vx_sched_free(s);
}

static void test_vx_sched_tick__stalled_origin_allows_one_more(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	uint32_t h0 = hello(s, "h0", "", 0, 0), h1 = hello(s, "h1", "", 0, 0);
	uint32_t h2 = hello(s, "h2", "", 0, 0);
	struct vx_sched_task_stat st;

	(void)state;
	reg(s, h0, TASK_A);
	reg(s, h1, TASK_A);
	reg(s, h2, TASK_A);
	vx_sched_tick(s, 1000);
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(TASK_A), &st), 0);
	assert_int_equal(st.origin_peers, 1);
	vx_sched_tick(s, 40000); /* past origin_stall_ms */
	assert_true(vx_sched_check(s));
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(TASK_A), &st), 0);
	assert_int_equal(st.origin_peers, 2);
	vx_sched_tick(s, 80000); /* origin_stalled_max is 2: no third */
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(TASK_A), &st), 0);
	assert_int_equal(st.origin_peers, 2);
	vx_sched_free(s);
}

/*
 * Content poisoning (shared/reference/dragonfly-behaviour.md 5.5 item 17, issue 16 3a/3b): a
 * register pairing a task id with a URL that does not derive it binds no source and triggers
 * no seed; a normal peer asking first with need_bts while a seed is in the cluster is not made
 * the origin, and the digests it reports are not trusted.
 */
static void test_vx_sched_register__poisoning_refused(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	uint32_t seed = hello(s, "s1-seed", "", 0, VX_CTL_ROLE_SEED);
	uint32_t evil = hello(s, "evil", "", 0, 0);
	struct vx_sched_task_stat st;
	struct vx_sched_reg r = { 0 };
	struct vx_sched_answer a;
	struct vx_sched_event ev;
	struct vx_sched_progress p = { 0 };
	struct vx_ctl_digest d = { 0, { "crc32:1", 7 } }, *out;
	uint32_t nout;

	(void)state;
	/* 3b: the victim's id with the attacker's URL */
	r.task_id = vx_ctl_str_of(TASK_A);
	r.url = vx_ctl_str_of("http://attacker/evil");
	r.content_len = -1;
	assert_int_equal(vx_sched_register(s, evil, &r, 1, &a), 0);
	assert_int_not_equal(a.kind, VX_CTL_ANS_BACK_TO_SOURCE);
	assert_false(vx_sched_next_event(s, &ev, 2)); /* no trigger: nothing derives the id */
	assert_int_equal(vx_sched_leave(s, evil, vx_ctl_str_of(TASK_A), 3), 0);
	/* 3a: the right URL first, with need_bts: the seed is the origin, not the registrant */
	r.url = vx_ctl_str_of("http://origin/a");
	r.need_bts = true;
	assert_int_equal(vx_sched_register(s, evil, &r, 4, &a), 0);
	assert_int_not_equal(a.kind, VX_CTL_ANS_BACK_TO_SOURCE);
	assert_true(vx_sched_next_event(s, &ev, 5));
	assert_int_equal(ev.kind, VX_CTL_EV_TRIGGER);
	assert_int_equal(ev.host, seed);
	assert_true(vx_ctl_str_eq(ev.url, "http://origin/a"));
	assert_true(vx_ctl_str_eq(ev.requester, "127.0.0.1"));
	p.task_id = vx_ctl_str_of(TASK_A);
	p.digests = &d;
	p.nr_digests = 1;
	assert_int_equal(vx_sched_progress(s, evil, &p, 6, &out, &nout), 0);
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(TASK_A), &st), 0);
	assert_int_equal(st.manifest_pieces, 0); /* ignored */
	assert_true(vx_sched_check(s));
	vx_sched_free(s);
}

/*
 * A seed that refuses a trigger is not a lost origin: nobody is promoted in its place (a
 * hostile registrant could otherwise win the origin role by provoking the refusal), and the next
 * register triggers it again. A seed that fails fetching does not hand the role on either.
 */
static void test_vx_sched_refused__nobody_promoted(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	uint32_t seed = hello(s, "s1-seed", "", 0, VX_CTL_ROLE_SEED);
	uint32_t h0 = hello(s, "h0", "", 0, 0);
	struct vx_sched_task_stat st;
	struct vx_sched_answer a;
	struct vx_sched_event ev;

	(void)state;
	a = reg(s, h0, TASK_A);
	assert_int_equal(a.kind, VX_CTL_ANS_PARENTS);
	assert_true(vx_sched_next_event(s, &ev, 2));
	assert_int_equal(ev.kind, VX_CTL_EV_TRIGGER);
	assert_int_equal(vx_sched_refused(s, seed, vx_ctl_str_of(TASK_A), 3), 0);
	assert_true(vx_sched_check(s));
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(TASK_A), &st), 0);
	assert_int_equal(st.origin_peers, 0);
	assert_int_not_equal(vx_sched_peer_state(s, h0, vx_ctl_str_of(TASK_A)),
			     VX_SCHED_PEER_BACK_TO_SOURCE);
	while (vx_sched_next_event(s, &ev, 4))
		assert_int_not_equal(ev.kind, VX_CTL_EV_BACK_TO_SOURCE);
	/* asking again triggers the seed again */
	a = reg(s, h0, TASK_A);
	assert_int_not_equal(a.kind, VX_CTL_ANS_BACK_TO_SOURCE);
	assert_true(vx_sched_next_event(s, &ev, 5));
	assert_int_equal(ev.kind, VX_CTL_EV_TRIGGER);
	/* this time the seed fails fetching: still nobody takes over while a seed is there (the
	 * peer gives up waiting and fetches for itself); the next register triggers it again */
	assert_int_equal(vx_sched_failed(s, seed, vx_ctl_str_of(TASK_A), 6), 0);
	assert_int_not_equal(vx_sched_peer_state(s, h0, vx_ctl_str_of(TASK_A)),
			     VX_SCHED_PEER_BACK_TO_SOURCE);
	while (vx_sched_next_event(s, &ev, 7))
		assert_int_not_equal(ev.kind, VX_CTL_EV_BACK_TO_SOURCE);
	a = reg(s, h0, TASK_A);
	assert_true(vx_sched_next_event(s, &ev, 8));
	assert_int_equal(ev.kind, VX_CTL_EV_TRIGGER);
	assert_true(vx_sched_check(s));
	vx_sched_free(s);
}

static void test_vx_sched_register__seed_by_hash_and_trigger(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	uint32_t s1 = hello(s, "s1-seed", "", 0, VX_CTL_ROLE_SEED);
	uint32_t s2 = hello(s, "s2-seed", "", 0, VX_CTL_ROLE_SEED);
	uint32_t h0 = hello(s, "h0", "", 0, 0), seed;
	struct vx_sched_answer a;
	struct vx_sched_event ev;
	struct vx_sched_reg r = { 0 };

	(void)state;
	a = reg(s, h0, TASK_A);
	assert_int_equal(a.kind, VX_CTL_ANS_PARENTS);
	assert_int_equal(a.nr_cands, 1);
	assert_true(vx_sched_next_event(s, &ev, 2));
	assert_int_equal(ev.kind, VX_CTL_EV_TRIGGER);
	seed = ev.host;
	assert_true(seed == s1 || seed == s2);
	assert_true(vx_ctl_str_eq(a.cands[0].host_id, vx_sched_host_id(s, seed)));
	assert_true(vx_ctl_str_eq(ev.url, "http://origin/a"));
	/* the seed registers as asked and is told to fetch from the origin */
	r.task_id = vx_ctl_str_of(TASK_A);
	r.content_len = -1; /* unknown to the seed yet */
	r.need_bts = true;
	assert_int_equal(vx_sched_register(s, seed, &r, 3, &a), 0);
	assert_int_equal(a.kind, VX_CTL_ANS_BACK_TO_SOURCE);
	/* the same task maps to the same seed in another scheduler */
	{
		struct vx_sched *s2b = new_sched(VX_SCHED_POLICY_VX);
		uint32_t h;

		hello(s2b, "s2-seed", "", 0, VX_CTL_ROLE_SEED);
		hello(s2b, "s1-seed", "", 0, VX_CTL_ROLE_SEED);
		h = hello(s2b, "h0", "", 0, 0);
		a = reg(s2b, h, TASK_A);
		assert_true(vx_ctl_str_eq(a.cands[0].host_id, vx_sched_host_id(s, seed)));
		vx_sched_free(s2b);
	}
	vx_sched_free(s);
}

/* Registers the task of @url on @h and returns the seed host the scheduler triggers for it. */
static uint32_t trigger_for(struct vx_sched *s, uint32_t h, const char *url)
{
	char id[VX_TASK_ID_LEN + 1];
	struct vx_sched_reg r = { 0 };
	struct vx_sched_answer a;
	struct vx_sched_event ev;

	assert_int_equal(vx_task_id_from_source(url, NULL, NULL, 0, NULL, 0, id), 0);
	r.task_id = vx_ctl_str_of(id);
	r.url = vx_ctl_str_of(url);
	r.content_len = -1;
	assert_int_equal(vx_sched_register(s, h, &r, 1, &a), 0);
	assert_true(vx_sched_next_event(s, &ev, 2));
	assert_int_equal(ev.kind, VX_CTL_EV_TRIGGER);
	assert_true(vx_sched_check(s));
	return ev.host;
}

/*
 * Two layers of one image, pulled together, whose ids hash to the same seed first: the
 * second goes to its second choice while the first seed is fetching the first, so the two
 * origin fetches do not share one seed's downlink (issue 19, Kraken's benchmark). Alone,
 * each task goes to its first choice.
 */
static void test_vx_sched_register__layers_spread_over_seeds(void **state)
{
	char url[64], twin[64] = "";
	uint32_t first, h0, h1;
	struct vx_sched *s;

	(void)state;
	for (int i = 1; i < 64 && !twin[0]; i++) {
		uint32_t a, b;

		s = new_sched(VX_SCHED_POLICY_VX);
		hello(s, "s1-seed", "", 0, VX_CTL_ROLE_SEED);
		hello(s, "s2-seed", "", 0, VX_CTL_ROLE_SEED);
		h0 = hello(s, "h0", "", 0, 0);
		a = trigger_for(s, h0, "http://origin/layer0");
		vx_sched_free(s);
		s = new_sched(VX_SCHED_POLICY_VX);
		hello(s, "s1-seed", "", 0, VX_CTL_ROLE_SEED);
		hello(s, "s2-seed", "", 0, VX_CTL_ROLE_SEED);
		h0 = hello(s, "h0", "", 0, 0);
		snprintf(url, sizeof(url), "http://origin/layer%d", i);
		b = trigger_for(s, h0, url);
		vx_sched_free(s);
		if (a == b)
			snprintf(twin, sizeof(twin), "%s", url);
	}
	assert_true(twin[0]); /* with two seeds, about every other id */
	s = new_sched(VX_SCHED_POLICY_VX);
	hello(s, "s1-seed", "", 0, VX_CTL_ROLE_SEED);
	hello(s, "s2-seed", "", 0, VX_CTL_ROLE_SEED);
	h0 = hello(s, "h0", "", 0, 0);
	h1 = hello(s, "h1", "", 0, 0);
	first = trigger_for(s, h0, "http://origin/layer0");
	assert_int_not_equal(trigger_for(s, h1, twin), first);
	vx_sched_free(s);
}

static void test_vx_sched_register__ranks_by_rate_idc_and_capacity(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	struct vx_sched_cfg cfg;
	uint32_t org, fast, slow, near, child, n;
	struct vx_sched_answer a;
	struct vx_ctl_cost cost = { vx_ctl_str_of("fast"), 1, 1 << 20, 1000000 };
	struct vx_sched_progress p = { 0 };
	struct vx_ctl_digest *d;

	(void)state;
	vx_sched_cfg_default(&cfg);
	org = hello(s, "org", "dc9", 1000000000ull, 0);
	fast = hello(s, "fast", "dc9", 10000000000ull, 0);
	slow = hello(s, "slow", "dc9", 100000000ull, 0);
	near = hello(s, "near", "dc1", 2000000000ull, 0);
	child = hello(s, "child", "dc1", 0, 0);
	reg(s, org, TASK_A);
	reg(s, fast, TASK_A);
	reg(s, slow, TASK_A);
	reg(s, near, TASK_A);
	assert_int_equal(progress(s, org, TASK_A, 0, 10, true, &n), 0);
	assert_int_equal(vx_sched_finished(s, org, vx_ctl_str_of(TASK_A), 3), 0);
	for (uint32_t h = fast; h <= near; h++)
		assert_int_equal(progress(s, h, TASK_A, 0, 9, false, &n), 0);
	a = reg(s, child, TASK_A);
	assert_int_equal(a.kind, VX_CTL_ANS_PARENTS);
	/* same-idc "near" (2 Gb/s x1.5) beats "fast" (10 Gb/s but dc9)? no: 10 > 3 */
	assert_true(vx_ctl_str_eq(a.cands[0].host_id, "fast"));
	assert_true(has_cand(&a, "near"));
	assert_true(vx_ctl_str_eq(a.cands[a.nr_cands - 1].host_id, "slow") || a.nr_cands < 4);
	assert_int_equal(vx_sched_reschedule(s, child, vx_ctl_str_of(TASK_A), NULL, 0, 4, &a), 0);
	/* measured: "fast" only moved 8 Mb/s: it drops below the others */
	p.task_id = vx_ctl_str_of(TASK_A);
	p.costs = &cost;
	p.nr_costs = 1;
	assert_int_equal(vx_sched_progress(s, child, &p, 5, &d, &n), 0);
	assert_int_equal(vx_sched_reschedule(s, child, vx_ctl_str_of(TASK_A), NULL, 0, 6, &a), 0);
	assert_false(vx_ctl_str_eq(a.cands[0].host_id, "fast"));
	/* avoid list is honoured */
	{
		struct vx_ctl_str avoid[2] = { vx_ctl_str_of("near"), vx_ctl_str_of("org") };

		assert_int_equal(
			vx_sched_reschedule(s, child, vx_ctl_str_of(TASK_A), avoid, 2, 7, &a), 0);
		assert_false(has_cand(&a, "near"));
		assert_false(has_cand(&a, "org"));
	}
	assert_true(vx_sched_check(s));
	vx_sched_free(s);
}

static void test_vx_sched_register__full_host_is_skipped(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	struct vx_sched_host_info hi = { 0 };
	struct vx_sched_answer a;
	uint32_t org, h;
	char id[16];

	(void)state;
	hi.id = vx_ctl_str_of("org");
	hi.addr = vx_ctl_str_of("127.0.0.1");
	hi.slots = 2;
	org = (uint32_t)vx_sched_hello(s, &hi, 0);
	reg(s, org, TASK_A);
	for (int i = 0; i < 4; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		h = hello(s, id, "", 0, 0);
		a = reg(s, h, TASK_A);
		/* two children fill the origin's slots; the next ones wait (fan-out is 1) */
		assert_int_equal(a.kind, i < 2 ? VX_CTL_ANS_PARENTS : VX_CTL_ANS_WAIT);
	}
	vx_sched_free(s);
}

static void test_vx_sched_register__slow_host_takes_few_children(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	uint32_t org = hello(s, "org", "", 100000000ull, 0), h, with_org = 0;
	struct vx_sched_answer a;
	char id[16];

	(void)state;
	reg(s, org, TASK_A);
	/* 100 Mb/s feeds two children at the default 40 Mb/s floor; the rest wait */
	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		h = hello(s, id, "", 0, 0);
		a = reg(s, h, TASK_A);
		with_org += has_cand(&a, "org");
	}
	assert_int_equal(with_org, 2);
	vx_sched_free(s);
}

/*
 * The child limit counts child hosts under vx, edges under dragonfly (issue 13): a host pulling
 * the L layers of an image from one parent host is one child of it, so the parent's cap never
 * sends its other layers to the origin. Per row: the origin host "org" (a rate or a slot count)
 * serves three tasks; hosts register for every task in turn; expected: how many of each host's
 * registrations are offered "org".
 */
static void test_vx_sched_register__child_limit_counts_hosts(void **state)
{
	static const char *const tasks[3] = {
		"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
		"b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2",
		"c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3",
	};
	static const struct {
		enum vx_sched_policy pol;
		uint64_t bps;	/* of org (0: the default 1 Gb/s) */
		uint32_t slots; /* of org (0: the default) */
		uint32_t hosts;
		uint32_t want[4]; /* registrations of host i offered org */
	} rows[] = {
		/* 100 Mb/s at 40 Mb/s a child: two child hosts, all their layers */
		{ VX_SCHED_POLICY_VX, 100000000ull, 0, 3, { 3, 3, 0 } },
		{ VX_SCHED_POLICY_VX, 0, 0, 4, { 3, 3, 3, 3 } },
		/* declared slots are upload slots: they count edges (peer_wait) */
		{ VX_SCHED_POLICY_VX, 0, 1, 2, { 1, 0 } },
		{ VX_SCHED_POLICY_VX, 100000000ull, 4, 3, { 2, 2, 0 } },
		/* dragonfly's upload slots count every edge: the first layer fills them */
		{ VX_SCHED_POLICY_DRAGONFLY, 0, 2, 2, { 1, 1 } },
	};

	(void)state;
	for (size_t row = 0; row < sizeof(rows) / sizeof(rows[0]); row++) {
		struct vx_sched *s = new_sched(rows[row].pol);
		struct vx_sched_host_info hi = { 0 };
		struct vx_sched_reg r = { 0 };
		struct vx_sched_answer a;
		uint32_t org, h[4], got[4] = { 0 };
		char id[16];

		hi.id = vx_ctl_str_of("org");
		hi.addr = vx_ctl_str_of("127.0.0.1");
		hi.bandwidth_bps = rows[row].bps;
		hi.slots = rows[row].slots;
		org = (uint32_t)vx_sched_hello(s, &hi, 0);
		r.piece_len = 1 << 20;
		r.content_len = 10 << 20;
		for (int t = 0; t < 3; t++) {
			r.task_id = vx_ctl_str_of(tasks[t]);
			assert_int_equal(vx_sched_register(s, org, &r, 1, &a), 0);
			assert_int_equal(a.kind, VX_CTL_ANS_BACK_TO_SOURCE);
		}
		for (uint32_t i = 0; i < rows[row].hosts; i++) {
			snprintf(id, sizeof(id), "c%u", i);
			h[i] = hello(s, id, "", 0, 0);
		}
		/* layer by layer, as a runtime's parallel blob GETs arrive */
		for (int t = 0; t < 3; t++) {
			for (uint32_t i = 0; i < rows[row].hosts; i++) {
				r.task_id = vx_ctl_str_of(tasks[t]);
				assert_int_equal(vx_sched_register(s, h[i], &r, 2, &a), 0);
				got[i] += has_cand(&a, "org");
				assert_true(vx_sched_check(s));
			}
		}
		for (uint32_t i = 0; i < rows[row].hosts; i++) {
			if (got[i] != rows[row].want[i])
				fail_msg("row %zu host %u: org offered %u times, want %u", row, i,
					 got[i], rows[row].want[i]);
		}
		vx_sched_free(s);
	}
}

static void test_vx_sched_reschedule__never_makes_a_cycle(void **state)
{
	struct vx_sched *s = new_sched_mesh(VX_SCHED_POLICY_VX, false); /* the strict DAG */
	uint32_t org = hello(s, "org", "", 0, 0), b = hello(s, "b", "", 0, 0);
	uint32_t c = hello(s, "c", "", 0, 0), n;
	struct vx_sched_answer a;
	struct vx_ctl_str avoid = vx_ctl_str_of("org");

	(void)state;
	reg(s, org, TASK_A);
	a = reg(s, b, TASK_A);
	assert_true(has_cand(&a, "org"));
	assert_int_equal(progress(s, b, TASK_A, 0, 3, false, &n), 0);
	a = reg(s, c, TASK_A); /* c takes b (and org) */
	assert_true(has_cand(&a, "b"));
	assert_int_equal(progress(s, c, TASK_A, 3, 5, false, &n), 0);
	/* b asks again avoiding org: c descends from b, so it must not be offered */
	assert_int_equal(vx_sched_reschedule(s, b, vx_ctl_str_of(TASK_A), &avoid, 1, 3, &a), 0);
	assert_false(has_cand(&a, "c"));
	assert_true(vx_sched_check(s));
	vx_sched_free(s);
}

/*
 * Mesh (the default): a peer behind the child still serves what the child lacks, and a peer
 * that gets its first pieces is pushed to under-parented peers at once.
 */
static void test_vx_sched_mesh__pieces_flow_both_ways(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	uint32_t org = hello(s, "org", "", 0, 0), b = hello(s, "b", "", 0, 0);
	uint32_t c = hello(s, "c", "", 0, 0), n;
	struct vx_sched_answer a;
	struct vx_sched_event ev;
	struct vx_ctl_str avoid = vx_ctl_str_of("org");
	bool pushed_b = false;

	(void)state;
	reg(s, org, TASK_A);
	a = reg(s, b, TASK_A);
	assert_true(has_cand(&a, "org"));
	a = reg(s, c, TASK_A);
	assert_true(has_cand(&a, "org"));
	while (vx_sched_next_event(s, &ev, 2)) /* drain the registrations' events */
		;
	/* c gets its first pieces: b (one parent, fewer than cands) is offered c at once */
	assert_int_equal(progress(s, c, TASK_A, 0, 3, false, &n), 0);
	while (vx_sched_next_event(s, &ev, 3)) {
		if (ev.host == b && ev.kind == VX_CTL_EV_PARENTS) {
			pushed_b = true;
			assert_true(has_cand(&ev.ans, "c"));
		}
	}
	assert_true(pushed_b);
	/* b gets pieces c lacks; c, ahead of b, is still offered b: pieces flow both ways */
	assert_int_equal(progress(s, b, TASK_A, 3, 4, false, &n), 0);
	assert_int_equal(vx_sched_reschedule(s, c, vx_ctl_str_of(TASK_A), &avoid, 1, 4, &a), 0);
	assert_true(has_cand(&a, "b"));
	assert_true(vx_sched_check(s));
	vx_sched_free(s);
}

static uint32_t hello_at(struct vx_sched *s, const char *id, const char *loc)
{
	return hello_loc(s, id, "", loc, 0, 0);
}

/* No candidate of the answer sits in rack r1 (the origin's). */
static bool none_from_r1(const struct vx_sched_answer *a)
{
	return !has_cand(a, "org") && !has_cand(a, "a1");
}

/*
 * The rack rule (issue 19, goal 3): the origin and a1 in rack r1, b1 to b3 in rack r2. One peer
 * of r2 (the first that finds no parent in its rack) fetches across; its rack-mates take from it
 * and never from r1, even while it holds nothing yet (they wait). When it fails, the next one
 * that finds nobody in the rack takes its place.
 */
static void test_vx_sched_register__one_fetcher_per_rack(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	uint32_t org = hello_at(s, "org", "dc|z1|r1"), a1 = hello_at(s, "a1", "dc|z1|r1");
	uint32_t b1 = hello_at(s, "b1", "dc|z1|r2"), b2 = hello_at(s, "b2", "dc|z1|r2");
	uint32_t b3 = hello_at(s, "b3", "dc|z1|r2"), free_ = hello_at(s, "free", ""), a2, n;
	struct vx_sched_answer a;
	struct vx_sched_stats st;

	(void)state;
	assert_int_equal(reg(s, org, TASK_A).kind, VX_CTL_ANS_BACK_TO_SOURCE);
	assert_int_equal(progress(s, org, TASK_A, 0, 10, true, &n), 0);
	assert_int_equal(vx_sched_finished(s, org, vx_ctl_str_of(TASK_A), 3), 0);
	a = reg(s, a1, TASK_A);
	assert_true(has_cand(&a, "org"));
	/* b1 finds nobody in r2: it is r2's fetcher */
	a = reg(s, b1, TASK_A);
	assert_int_equal(a.kind, VX_CTL_ANS_PARENTS);
	assert_true(has_cand(&a, "org"));
	/* b2: r2 has its fetcher, which holds nothing yet: wait, do not cross */
	a = reg(s, b2, TASK_A);
	assert_int_equal(a.kind, VX_CTL_ANS_WAIT);
	/* b1 gets pieces: b2 takes from it, not from r1, though a1 holds more */
	assert_int_equal(progress(s, b1, TASK_A, 0, 3, false, &n), 0);
	assert_int_equal(progress(s, a1, TASK_A, 0, 8, false, &n), 0);
	assert_int_equal(vx_sched_reschedule(s, b2, vx_ctl_str_of(TASK_A), NULL, 0, 4, &a), 0);
	assert_int_equal(a.kind, VX_CTL_ANS_PARENTS);
	assert_true(has_cand(&a, "b1"));
	assert_true(none_from_r1(&a));
	a = reg(s, b3, TASK_A);
	assert_true(a.nr_cands > 0 && none_from_r1(&a));
	/* the fetcher keeps its remote parents on a reschedule */
	assert_int_equal(vx_sched_reschedule(s, b1, vx_ctl_str_of(TASK_A), NULL, 0, 5, &a), 0);
	assert_true(has_cand(&a, "org") || has_cand(&a, "a1"));
	/* an unlabelled host is nobody's remote: it takes parents anywhere */
	a = reg(s, free_, TASK_A);
	assert_true(has_cand(&a, "org"));
	vx_sched_get_stats(s, &st);
	assert_true(st.rack_refused > 0);
	/* the fetcher fails: b2, finding nobody in r2 that holds what it lacks, takes its place */
	assert_int_equal(vx_sched_failed(s, b1, vx_ctl_str_of(TASK_A), 6), 0);
	assert_int_equal(vx_sched_reschedule(s, b2, vx_ctl_str_of(TASK_A), NULL, 0, 7, &a), 0);
	assert_false(none_from_r1(&a));
	assert_int_equal(vx_sched_reschedule(s, b3, vx_ctl_str_of(TASK_A), NULL, 0, 8, &a), 0);
	assert_true(none_from_r1(&a));
	/* a rack with a full copy needs no fetcher: a2, avoiding its rack-mates, waits for them */
	assert_int_equal(progress(s, b2, TASK_A, 0, 9, false, &n), 0);
	a2 = hello_at(s, "a2", "dc|z1|r1");
	reg(s, a2, TASK_A);
	{
		struct vx_ctl_str avoid[2] = { vx_ctl_str_of("org"), vx_ctl_str_of("a1") };

		assert_int_equal(vx_sched_reschedule(s, a2, vx_ctl_str_of(TASK_A), avoid, 2, 9, &a),
				 0);
		assert_int_equal(a.kind, VX_CTL_ANS_WAIT);
		assert_false(has_cand(&a, "b2"));
	}
	assert_true(vx_sched_check(s));
	vx_sched_free(s);
}

static void test_vx_sched_mismatch__liar_blocked_for_task(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	uint32_t org = hello(s, "org", "", 0, 0), liar = hello(s, "liar", "", 0, 0);
	uint32_t c = hello(s, "c", "", 0, 0), d = hello(s, "d", "", 0, 0), n;
	struct vx_sched_answer a;

	(void)state;
	reg(s, org, TASK_A);
	reg(s, liar, TASK_A);
	assert_int_equal(progress(s, liar, TASK_A, 0, 5, false, &n), 0);
	a = reg(s, c, TASK_A);
	assert_true(has_cand(&a, "liar"));
	/* d never had liar as a parent: not believed */
	reg(s, d, TASK_A);
	assert_int_equal(vx_sched_leave(s, d, vx_ctl_str_of(TASK_A), 2), 0);
	reg(s, d, TASK_A);
	assert_int_equal(
		vx_sched_mismatch(s, d, vx_ctl_str_of(TASK_A), vx_ctl_str_of("nobody"), 1, 2),
		-EPERM);
	assert_int_equal(
		vx_sched_mismatch(s, c, vx_ctl_str_of(TASK_A), vx_ctl_str_of("liar"), 1, 2), 0);
	assert_true(vx_sched_check(s));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(vx_sched_reschedule(s, c, vx_ctl_str_of(TASK_A), NULL, 0, 3, &a),
				 0);
		assert_false(has_cand(&a, "liar"));
	}
	vx_sched_free(s);
}

static void test_vx_sched_host_silent__children_move_and_gc(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	uint32_t org = hello(s, "org", "", 0, 0), b = hello(s, "b", "", 0, 0);
	uint32_t c = hello(s, "c", "", 0, 0), n;
	struct vx_sched_event ev;
	struct vx_sched_answer a;
	struct vx_sched_stats st;
	bool moved = false;

	(void)state;
	reg(s, org, TASK_A);
	reg(s, b, TASK_A);
	assert_int_equal(progress(s, org, TASK_A, 0, 10, true, &n), 0);
	assert_int_equal(vx_sched_finished(s, org, vx_ctl_str_of(TASK_A), 2), 0);
	assert_int_equal(progress(s, b, TASK_A, 0, 10, false, &n), 0);
	assert_int_equal(vx_sched_finished(s, b, vx_ctl_str_of(TASK_A), 2), 0);
	while (vx_sched_next_event(s, &ev, 2))
		;
	a = reg(s, c, TASK_A);
	assert_int_equal(a.nr_cands, 2);
	vx_sched_host_silent(s, org, 10);
	assert_true(vx_sched_check(s));
	while (vx_sched_next_event(s, &ev, 11)) {
		if (ev.host == c && ev.kind == VX_CTL_EV_PARENTS) {
			assert_false(has_cand(&ev.ans, "org"));
			assert_true(has_cand(&ev.ans, "b"));
			moved = true;
		}
	}
	assert_true(moved);
	vx_sched_tick(s, 10 + 60000);
	vx_sched_get_stats(s, &st);
	assert_int_equal(st.hosts, 2);
	assert_null(vx_sched_host_id(s, org));
	assert_true(vx_sched_check(s));
	vx_sched_free(s);
}

static void test_vx_sched_register__empty_and_delete(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	uint32_t h0 = hello(s, "h0", "", 0, 0), h1 = hello(s, "h1", "", 0, 0);
	struct vx_sched_reg r = { 0 };
	struct vx_sched_answer a;
	struct vx_sched_task_stat st;

	(void)state;
	r.task_id = vx_ctl_str_of(TASK_B);
	r.content_len = 0;
	assert_int_equal(vx_sched_register(s, h0, &r, 1, &a), 0);
	assert_int_equal(a.kind, VX_CTL_ANS_EMPTY);
	reg(s, h0, TASK_A);
	reg(s, h1, TASK_A);
	/* another registrant claiming 0 bytes does not make the task empty for others */
	r.task_id = vx_ctl_str_of(TASK_A);
	r.content_len = 0;
	assert_int_equal(vx_sched_register(s, h1, &r, 1, &a), 0);
	assert_int_equal(a.kind, VX_CTL_ANS_EMPTY); /* its own word */
	{
		uint32_t h2 = hello(s, "h2", "", 0, 0);

		a = reg(s, h2, TASK_A);
		assert_int_not_equal(a.kind, VX_CTL_ANS_EMPTY);
	}
	assert_int_equal(vx_sched_delete_task(s, vx_ctl_str_of(TASK_A), 2), 0);
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(TASK_A), &st), -ENOENT);
	assert_int_equal(vx_sched_delete_task(s, vx_ctl_str_of(TASK_A), 2), -ENOENT);
	assert_true(vx_sched_check(s));
	/* one host cannot hold more than host_peers_max tasks, a seed seed_peers_max */
	{
		struct vx_sched_cfg cfg;
		struct vx_sched *s2;
		uint32_t h;

		vx_sched_cfg_default(&cfg);
		cfg.hosts_max = 4;
		cfg.tasks_max = 4;
		cfg.peers_max = 8;
		cfg.host_peers_max = 1;
		cfg.seed_peers_max = 2;
		assert_int_equal(vx_sched_new(&s2, &cfg), 0);
		h = hello(s2, "one", "", 0, 0);
		reg(s2, h, TASK_A);
		r.task_id = vx_ctl_str_of(TASK_B);
		r.content_len = -1;
		assert_int_equal(vx_sched_register(s2, h, &r, 1, &a), -ENOSPC);
		assert_true(vx_sched_host_full(s2, h));
		/* a seed keeps what it fetched registered: seed_peers_max of them */
		h = hello(s2, "seed", "", 0, VX_CTL_ROLE_SEED);
		reg(s2, h, TASK_A);
		assert_false(vx_sched_host_full(s2, h));
		reg(s2, h, TASK_B);
		assert_true(vx_sched_host_full(s2, h));
		r.task_id = vx_ctl_str_of(
			"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
		assert_int_equal(vx_sched_register(s2, h, &r, 1, &a), -ENOSPC);
		assert_true(vx_sched_check(s2));
		vx_sched_free(s2);
	}
	r.task_id = vx_ctl_str_of("short");
	assert_int_equal(vx_sched_register(s, h0, &r, 1, &a), -EINVAL);
	assert_int_equal(vx_sched_register(s, 999, &r, 1, &a), -ENOENT);
	vx_sched_free(s);
}

/*
 * Issue 18: a full task table makes room by dropping the task idle longest that no host holds in
 * full (abandoned, failed or phantom registrations), never one with a full copy, and only once
 * its peers were silent for task_stale_ms; otherwise a register is refused (-ENOSPC) as before.
 */
static void test_vx_sched_register__full_table_drops_stale(void **state)
{
	static const char task_c[] =
		"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
	static const char task_d[] =
		"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
	static const char task_e[] =
		"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
	struct vx_sched_task_stat st;
	struct vx_sched_stats stats;
	struct vx_sched_reg r = { 0 };
	struct vx_sched_answer a;
	struct vx_sched_cfg cfg;
	struct vx_sched *s;
	uint32_t h, n;

	(void)state;
	vx_sched_cfg_default(&cfg);
	cfg.hosts_max = 4;
	cfg.tasks_max = 3;
	cfg.peers_max = 16;
	cfg.task_stale_ms = 1000;
	assert_int_equal(vx_sched_new(&s, &cfg), 0);
	h = hello(s, "h0", "", 0, 0);
	reg(s, h, TASK_A); /* at 1; then a full copy: never dropped */
	assert_int_equal(progress(s, h, TASK_A, 0, 10, true, &n), 0);
	assert_int_equal(vx_sched_finished(s, h, vx_ctl_str_of(TASK_A), 2), 0);
	reg(s, h, TASK_B); /* at 1, then silent */
	r.url = vx_ctl_str_of("http://origin/a");
	r.piece_len = 1 << 20;
	r.content_len = 10 << 20;
	r.task_id = vx_ctl_str_of(task_c);
	assert_int_equal(vx_sched_register(s, h, &r, 500, &a), 0);
	/* full, and nothing silent long enough yet */
	r.task_id = vx_ctl_str_of(task_d);
	assert_int_equal(vx_sched_register(s, h, &r, 900, &a), -ENOSPC);
	assert_true(vx_sched_check(s));
	/* B (idle 1599 ms) and C (1100 ms) are stale: B, idle longest, makes room */
	assert_int_equal(vx_sched_register(s, h, &r, 1600, &a), 0);
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(TASK_B), &st), -ENOENT);
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(TASK_A), &st), 0);
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(task_c), &st), 0);
	assert_true(vx_sched_check(s));
	/* then C; then only the full copy and fresh tasks are left: refused */
	r.task_id = vx_ctl_str_of(task_e);
	assert_int_equal(vx_sched_register(s, h, &r, 1700, &a), 0);
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(task_c), &st), -ENOENT);
	r.task_id = vx_ctl_str_of(TASK_B);
	assert_int_equal(vx_sched_register(s, h, &r, 1800, &a), -ENOSPC);
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(TASK_A), &st), 0);
	vx_sched_get_stats(s, &stats);
	assert_int_equal(stats.tasks_evicted, 2);
	assert_int_equal(stats.tasks, 3);
	assert_true(vx_sched_check(s));
	vx_sched_free(s);
}

/*
 * A seed triggered for a task of unknown length finds the object empty: it finishes without a
 * piece. The peer that was waiting on it is told EMPTY (not PARENTS naming a seed with nothing
 * to give, nor WAIT forever), and so is any later registrant; the seed's child slot is freed.
 */
static void test_vx_sched_finished__empty_origin_answers_empty(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	uint32_t seed = hello(s, "s1-seed", "", 0, VX_CTL_ROLE_SEED);
	uint32_t h0 = hello(s, "h0", "", 0, 0), h1 = hello(s, "h1", "", 0, 0);
	struct vx_sched_reg r = { 0 };
	struct vx_sched_answer a;
	struct vx_sched_event ev;
	bool told = false;

	(void)state;
	r.task_id = vx_ctl_str_of(TASK_A);
	r.url = vx_ctl_str_of("http://origin/a");
	r.content_len = -1;
	assert_int_equal(vx_sched_register(s, h0, &r, 1, &a), 0);
	assert_int_not_equal(a.kind, VX_CTL_ANS_EMPTY); /* nobody knows yet */
	assert_true(vx_sched_next_event(s, &ev, 2));
	assert_int_equal(ev.kind, VX_CTL_EV_TRIGGER);
	assert_int_equal(ev.host, seed);
	r.need_bts = true;
	assert_int_equal(vx_sched_register(s, seed, &r, 3, &a), 0);
	assert_int_equal(a.kind, VX_CTL_ANS_BACK_TO_SOURCE);
	assert_int_equal(vx_sched_finished(s, seed, vx_ctl_str_of(TASK_A), 4), 0);
	assert_true(vx_sched_check(s));
	while (vx_sched_next_event(s, &ev, 5)) {
		if (ev.host == h0 && ev.kind == VX_CTL_EV_PARENTS) {
			assert_int_equal(ev.ans.kind, VX_CTL_ANS_EMPTY);
			assert_int_equal(ev.ans.content_len, 0);
			told = true;
		}
	}
	assert_true(told);
	r.need_bts = false;
	assert_int_equal(vx_sched_register(s, h1, &r, 6, &a), 0);
	assert_int_equal(a.kind, VX_CTL_ANS_EMPTY);
	assert_true(vx_sched_check(s));
	vx_sched_free(s);
}

static void test_vx_sched_register__dragonfly_policy(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_DRAGONFLY);
	uint32_t h[40], n;
	struct vx_sched_answer a;
	char id[16];

	(void)state;
	for (int i = 0; i < 40; i++) {
		snprintf(id, sizeof(id), "h%d", i);
		h[i] = hello(s, id, i % 2 ? "dc1" : "dc2", 10000000000ull, 0);
	}
	a = reg(s, h[0], TASK_A);
	assert_int_equal(a.kind, VX_CTL_ANS_BACK_TO_SOURCE);
	for (int i = 1; i < 40; i++) {
		a = reg(s, h[i], TASK_A);
		assert_int_not_equal(a.kind, VX_CTL_ANS_BACK_TO_SOURCE);
		assert_true(a.nr_cands <= 4);
		assert_false(has_cand(&a, vx_sched_host_id(s, h[i])));
		assert_int_equal(progress(s, h[i], TASK_A, 0, (uint32_t)(i % 9) + 1, false, &n), 0);
	}
	vx_sched_free(s);
}

/* Allocation failure at every step of a small scenario: a clean error, no leak, invariants. */
static void test_vx_sched_register__alloc_failures(void **state)
{
	(void)state;
#if !defined(VX_DEBUG)
	skip();
#endif
	for (unsigned long nth = 1; nth < 80; nth++) {
		struct vx_sched_cfg cfg;
		struct vx_sched *s;
		struct vx_sched_host_info hi = { 0 };
		struct vx_sched_reg r = { 0 };
		struct vx_sched_answer a;
		char id[16];
		int h[4], rc;
		uint32_t n;

		vx_sched_cfg_default(&cfg);
		cfg.hosts_max = 8;
		cfg.tasks_max = 4;
		cfg.peers_max = 16;
		cfg.events_max = 64;
		vx_fault_arm(VX_FAULT_ALLOC, nth);
		rc = vx_sched_new(&s, &cfg);
		if (rc) {
			assert_int_equal(rc, -ENOMEM);
			continue;
		}
		for (int i = 0; i < 4; i++) {
			snprintf(id, sizeof(id), "h%d", i);
			hi.id = vx_ctl_str_of(id);
			hi.addr = vx_ctl_str_of("127.0.0.1");
			h[i] = vx_sched_hello(s, &hi, 0);
			assert_true(h[i] >= 0 || h[i] == -ENOMEM);
		}
		r.task_id = vx_ctl_str_of(TASK_A);
		r.url = vx_ctl_str_of("http://o/a");
		r.piece_len = 1 << 20;
		r.content_len = 10 << 20;
		for (int i = 0; i < 4; i++) {
			if (h[i] < 0)
				continue;
			rc = vx_sched_register(s, (uint32_t)h[i], &r, 1, &a);
			assert_true(rc == 0 || rc == -ENOMEM);
			assert_true(vx_sched_check(s));
		}
		for (int i = 0; i < 4; i++) {
			if (h[i] >= 0) {
				rc = progress(s, (uint32_t)h[i], TASK_A, 0, 10, true, &n);
				assert_true(rc == 0 || rc == -ENOMEM || rc == -ENOENT);
			}
		}
		vx_fault_arm(VX_FAULT_ALLOC, 0);
		assert_true(vx_sched_check(s));
		vx_sched_free(s);
	}
}

/* Seeded random operations; every invariant is checked after every one. */
static void test_vx_sched_check__random_churn(void **state)
{
	const char *tasks[2] = { TASK_A, TASK_B };
	uint64_t x = 42;

	(void)state;
	for (int pol = 0; pol < 2; pol++) {
		struct vx_sched *s = new_sched((enum vx_sched_policy)pol);
		uint32_t h[30], n;
		struct vx_sched_answer a;
		struct vx_sched_event ev;
		char id[16];

		for (int i = 0; i < 30; i++) {
			snprintf(id, sizeof(id), "h%d", i);
			h[i] = hello(s, id, i % 3 ? "dc1" : "dc2", (uint64_t)(i + 1) * 100000000ull,
				     i == 7 ? VX_CTL_ROLE_SEED : VX_CTL_ROLE_NORMAL);
		}
		for (int step = 0; step < 3000; step++) {
			uint32_t hi, op, from;
			struct vx_ctl_str t;

			x = x * 6364136223846793005ull + 1442695040888963407ull;
			hi = h[(x >> 33) % 30];
			op = (uint32_t)(x >> 20) % 9;
			t = vx_ctl_str_of(tasks[(x >> 40) & 1]);
			from = (uint32_t)(x >> 45) % 10;
			switch (op) {
			case 0:
			case 1:
				if (vx_sched_host_id(s, hi)) {
					struct vx_sched_reg r = { 0 };
					int rc;

					r.task_id = t;
					r.piece_len = 1 << 20;
					r.content_len = 10 << 20;
					rc = vx_sched_register(s, hi, &r, (uint64_t)step, &a);
					assert_true(rc == 0 || rc == -ENOENT); /* silent host */
				}
				break;
			case 2:
			case 3:
				(void)progress(s, hi, t.ptr, from, from + 1, true, &n);
				break;
			case 4:
				if (vx_sched_reschedule(s, hi, t, NULL, 0, (uint64_t)step, &a) == 0)
					assert_true(a.nr_cands <= 4);
				break;
			case 5:
				(void)vx_sched_finished(s, hi, t, (uint64_t)step);
				break;
			case 6:
				if ((x >> 50) % 4 == 0)
					(void)vx_sched_failed(s, hi, t, (uint64_t)step);
				else
					(void)vx_sched_leave(s, hi, t, (uint64_t)step);
				break;
			case 7:
				if ((x >> 50) % 8 == 0)
					vx_sched_host_silent(s, hi, (uint64_t)step);
				vx_sched_tick(s, (uint64_t)step * 100);
				break;
			default:
				while (vx_sched_next_event(s, &ev, (uint64_t)step))
					assert_non_null(vx_sched_host_id(s, ev.host));
			}
			if (vx_sched_host_id(s, hi) == NULL) {
				snprintf(id, sizeof(id), "r%d", step);
				(void)hello(s, id, "dc1", 0, 0);
			}
			assert_true(vx_sched_check(s));
		}
		vx_sched_free(s);
	}
}

/*
 * Review of issue 16, finding 5(b) (dragonfly-behaviour.md 5.5 item 17: piece hashes only from
 * a trusted source; origin takeover): a registrant binds a URL that derives the id but that the origin
 * rejects (here ?versionId=OLD with versionId filtered), the seed fails on it, and the
 * registrant must not then become the origin and supply the manifest. The seed's failure
 * unbinds the source: the victim's URL binds and the seed is triggered again with it, a
 * bounded number of times.
 */
static void test_vx_sched_failed__seed_failure_unbinds_no_takeover(void **state)
{
	struct vx_sched *s = new_sched(VX_SCHED_POLICY_VX);
	uint32_t seed = hello(s, "s1-seed", "", 0, VX_CTL_ROLE_SEED);
	uint32_t evil = hello(s, "evil", "", 0, 0);
	uint32_t victim = hello(s, "victim", "", 0, 0);
	struct vx_sched_task_stat st;
	struct vx_sched_reg r = { 0 };
	struct vx_sched_answer a;
	struct vx_sched_event ev;
	struct vx_sched_progress p = { 0 };
	struct vx_ctl_digest d = { 0, { "crc32:666", 9 } }, *out;
	struct vx_ctl_str filt[1] = { { "versionId", 9 } };
	uint32_t nout;

	(void)state;
	r.task_id = vx_ctl_str_of(TASK_A);
	r.url = vx_ctl_str_of("http://origin/a?versionId=OLD");
	r.filtered = filt;
	r.nr_filtered = 1;
	r.content_len = -1;
	assert_int_equal(vx_sched_register(s, evil, &r, 1, &a), 0);
	assert_true(vx_sched_next_event(s, &ev, 2));
	assert_int_equal(ev.kind, VX_CTL_EV_TRIGGER);
	assert_true(vx_ctl_str_eq(ev.url, "http://origin/a?versionId=OLD"));
	/* the seed fetches ?versionId=OLD: the origin says 404 */
	assert_int_equal(vx_sched_failed(s, seed, vx_ctl_str_of(TASK_A), 3), 0);
	while (vx_sched_next_event(s, &ev, 4))
		assert_int_not_equal(ev.kind, VX_CTL_EV_BACK_TO_SOURCE);
	assert_int_not_equal(vx_sched_peer_state(s, evil, vx_ctl_str_of(TASK_A)),
			     VX_SCHED_PEER_BACK_TO_SOURCE);
	/* asking for the origin role again does not give it either */
	r.need_bts = true;
	assert_int_equal(vx_sched_register(s, evil, &r, 5, &a), 0);
	assert_int_not_equal(a.kind, VX_CTL_ANS_BACK_TO_SOURCE);
	/* whatever that re-register triggered, the seed fails again */
	while (vx_sched_next_event(s, &ev, 5))
		if (ev.kind == VX_CTL_EV_TRIGGER)
			assert_int_equal(vx_sched_failed(s, seed, vx_ctl_str_of(TASK_A), 5), 0);
	p.task_id = vx_ctl_str_of(TASK_A);
	p.digests = &d;
	p.nr_digests = 1;
	assert_int_equal(vx_sched_progress(s, evil, &p, 6, &out, &nout), 0); /* ignored */
	assert_int_equal(vx_sched_stat(s, vx_ctl_str_of(TASK_A), &st), 0);
	assert_int_equal(st.manifest_pieces, 0);
	/* the victim's own URL binds now, and the seed is triggered with it */
	a = reg(s, victim, TASK_A);
	assert_int_not_equal(a.kind, VX_CTL_ANS_BACK_TO_SOURCE);
	assert_int_equal(a.nr_digests, 0);
	assert_true(vx_sched_next_event(s, &ev, 7));
	assert_int_equal(ev.kind, VX_CTL_EV_TRIGGER);
	assert_true(vx_ctl_str_eq(ev.url, "http://origin/a"));
	/* bounded: a seed that keeps failing is not triggered for ever */
	for (int i = 0; i < 8; i++) {
		(void)vx_sched_failed(s, seed, vx_ctl_str_of(TASK_A), 8);
		(void)reg(s, victim, TASK_A);
	}
	while (vx_sched_next_event(s, &ev, 9))
		;
	(void)vx_sched_failed(s, seed, vx_ctl_str_of(TASK_A), 10);
	(void)reg(s, evil, TASK_A);
	assert_false(vx_sched_next_event(s, &ev, 11));
	assert_int_not_equal(vx_sched_peer_state(s, evil, vx_ctl_str_of(TASK_A)),
			     VX_SCHED_PEER_BACK_TO_SOURCE);
	vx_sched_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_sched_peer_legal__table),
		cmocka_unit_test(test_vx_sched_task_legal__table),
		cmocka_unit_test(test_vx_sched_register__first_goes_to_source_once),
		cmocka_unit_test(test_vx_sched_register__private_is_sticky),
		cmocka_unit_test(test_vx_sched_progress__manifest_propagates),
		cmocka_unit_test(test_vx_sched_failed__origin_role_handed_on),
		cmocka_unit_test(test_vx_sched_tick__stalled_origin_allows_one_more),
		cmocka_unit_test(test_vx_sched_register__seed_by_hash_and_trigger),
		cmocka_unit_test(test_vx_sched_register__layers_spread_over_seeds),
		cmocka_unit_test(test_vx_sched_register__poisoning_refused),
		cmocka_unit_test(test_vx_sched_refused__nobody_promoted),
		cmocka_unit_test(test_vx_sched_register__ranks_by_rate_idc_and_capacity),
		cmocka_unit_test(test_vx_sched_register__full_host_is_skipped),
		cmocka_unit_test(test_vx_sched_register__slow_host_takes_few_children),
		cmocka_unit_test(test_vx_sched_register__child_limit_counts_hosts),
		cmocka_unit_test(test_vx_sched_reschedule__never_makes_a_cycle),
		cmocka_unit_test(test_vx_sched_mesh__pieces_flow_both_ways),
		cmocka_unit_test(test_vx_sched_register__one_fetcher_per_rack),
		cmocka_unit_test(test_vx_sched_mismatch__liar_blocked_for_task),
		cmocka_unit_test(test_vx_sched_host_silent__children_move_and_gc),
		cmocka_unit_test(test_vx_sched_register__empty_and_delete),
		cmocka_unit_test(test_vx_sched_register__full_table_drops_stale),
		cmocka_unit_test(test_vx_sched_finished__empty_origin_answers_empty),
		cmocka_unit_test(test_vx_sched_register__dragonfly_policy),
		cmocka_unit_test(test_vx_sched_register__alloc_failures),
		cmocka_unit_test(test_vx_sched_check__random_churn),
		cmocka_unit_test(test_vx_sched_failed__seed_failure_unbinds_no_takeover),
	};

	return cmocka_run_group_tests_name("control_sched", tests, NULL, NULL);
}
