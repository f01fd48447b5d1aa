/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_control_sched.c: hostile peers against the scheduler core. The input is a sequence of
 * records, each one byte naming the sending host (0-7) followed by one control frame; every
 * frame that decodes is applied to a small vx_sched the way the server applies it (hello
 * first), server pushes are drained, and after every record every invariant of the scheduler
 * must hold (vx_sched_check) and nothing may crash. Both policies are exercised (the first
 * byte of the input picks one).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_ctl_msg.h"
#include "vx_sched.h"
#include "vx_sched_pcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_HOSTS 8

/* The persistent cache table beside the core (spec/control.md section 14). */
static struct vx_pcache *fz_pc;

static void fz_replicate(void *arg, uint32_t host, const struct vx_pcache_task *t,
			 const uint32_t *holders, uint32_t nr_holders)
{
	const struct vx_sched *s = arg;

	if (!vx_sched_host_id(s, host) || !t->crc || !nr_holders)
		abort();
	for (uint32_t i = 0; i < nr_holders; i++)
		if (!vx_sched_host_id(s, holders[i]) || holders[i] == host)
			abort();
}

static void fz_drop(void *arg, uint32_t host, const char *task_id)
{
	if (!vx_sched_host_id(arg, host) || !task_id)
		abort();
}

static void pcache_apply(struct vx_sched *s, uint32_t h, const struct vx_ctl_msg *m, uint64_t now)
{
	struct vx_pcache_ops ops = { .replicate = fz_replicate, .drop = fz_drop, .arg = s };
	char id[VX_TASK_ID_LEN + 1];
	const char *host = vx_sched_host_id(s, h);

	snprintf(id, sizeof(id), "%.*s", (int)m->task_id.len, m->task_id.ptr);
	if (m->type == VX_CTL_CACHE_IMPORT)
		(void)!vx_pcache_import(fz_pc, host, m, now, (int64_t)(now / 1000));
	else if (m->type == VX_CTL_CACHE_HELD)
		(void)vx_pcache_held(fz_pc, host, m->task_id, (int)m->status, now);
	else if (m->type == VX_CTL_CACHE_DELETE && strlen(id) == VX_TASK_ID_LEN)
		(void)vx_pcache_drop_everywhere(fz_pc, s, id, &ops);
	else if (m->type == VX_CTL_CACHE_STAT && strlen(id) == VX_TASK_ID_LEN)
		(void)vx_pcache_set_replicas(fz_pc, id, m->replicas);
}

static void apply(struct vx_sched *s, int *hosts, unsigned who, const struct vx_ctl_msg *m,
		  uint64_t now)
{
	struct vx_sched_answer a;
	struct vx_ctl_digest *d;
	uint32_t nd;
	int h = hosts[who], rc;

	if (m->type == VX_CTL_HELLO) {
		struct vx_sched_host_info hi = {
			.id = m->host_id,
			.addr = m->addr,
			.port = m->port,
			.idc = m->idc,
			.location = m->location,
			.role = m->role,
			.slots = m->slots,
			.bandwidth_bps = m->bandwidth_bps,
		};

		rc = vx_sched_hello(s, &hi, now);
		if (rc >= 0)
			hosts[who] = rc;
		return;
	}
	if (h < 0 || !vx_sched_host_id(s, (uint32_t)h)) {
		hosts[who] = -1;
		return; /* the server answers -EACCES: hello first */
	}
	switch (m->type) {
	case VX_CTL_ANNOUNCE:
		(void)vx_sched_announce(s, (uint32_t)h, m->uploads, m->tx_bps, now);
		break;
	case VX_CTL_REGISTER: {
		struct vx_sched_reg r = {
			.task_id = m->task_id,
			.url = m->url,
			.piece_len = m->piece_len,
			.content_len = (m->has & VX_CTL_F_CONTENT_LEN) ? m->content_len : -1,
			.need_bts = m->need_bts,
			.bitmap_base = m->bitmap_base,
			.bitmap = m->bitmap,
			.bitmap_len = m->bitmap_len,
		};

		rc = vx_sched_register(s, (uint32_t)h, &r, now, &a);
		(void)rc;
		break;
	}
	case VX_CTL_PROGRESS: {
		struct vx_sched_progress p = {
			.task_id = m->task_id,
			.bitmap_base = m->bitmap_base,
			.bitmap = m->bitmap,
			.bitmap_len = m->bitmap_len,
			.digests = m->digests,
			.nr_digests = m->nr_digests,
			.costs = m->costs,
			.nr_costs = m->nr_costs,
			.content_len_hint = m->content_len > 0 ? (uint64_t)m->content_len : 0,
			.piece_len_hint = m->piece_len,
		};

		rc = vx_sched_progress(s, (uint32_t)h, &p, now, &d, &nd);
		(void)rc;
		break;
	}
	case VX_CTL_RESCHEDULE:
		rc = vx_sched_reschedule(s, (uint32_t)h, m->task_id, m->avoid, m->nr_avoid, now,
					 &a);
		(void)rc;
		break;
	case VX_CTL_MISMATCH:
		(void)vx_sched_mismatch(s, (uint32_t)h, m->task_id, m->parent, m->piece, now);
		break;
	case VX_CTL_FINISHED:
		(void)vx_sched_finished(s, (uint32_t)h, m->task_id, now);
		break;
	case VX_CTL_FAILED:
		(void)vx_sched_failed(s, (uint32_t)h, m->task_id, now);
		break;
	case VX_CTL_LEAVE:
		if (m->has & VX_CTL_F_TASK_ID) {
			(void)vx_sched_leave(s, (uint32_t)h, m->task_id, now);
		} else {
			vx_sched_host_leave(s, (uint32_t)h, now);
			hosts[who] = -1;
		}
		break;
	case VX_CTL_DELETE_TASK:
		(void)vx_sched_delete_task(s, m->task_id, now);
		break;
	case VX_CTL_CACHE_IMPORT:
	case VX_CTL_CACHE_HELD:
	case VX_CTL_CACHE_DELETE:
	case VX_CTL_CACHE_STAT:
		pcache_apply(s, (uint32_t)h, m, now);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx_sched_cfg cfg;
	struct vx_sched_event ev;
	struct vx_sched *s;
	int hosts[FZ_HOSTS];
	uint64_t now = 1000;

	if (size < 1)
		return 0;
	vx_sched_cfg_default(&cfg);
	cfg.policy = data[0] & 1 ? VX_SCHED_POLICY_DRAGONFLY : VX_SCHED_POLICY_VX;
	cfg.hosts_max = 16;
	cfg.tasks_max = 8;
	cfg.peers_max = 64;
	cfg.pieces_max = 4096;
	cfg.events_max = 256;
	if (vx_sched_new(&s, &cfg) != 0)
		return 0;
	if (vx_pcache_new(&fz_pc) != 0) {
		vx_sched_free(s);
		return 0;
	}
	for (int i = 0; i < FZ_HOSTS; i++)
		hosts[i] = -1;
	data++;
	size--;
	while (size > 1) {
		unsigned who = data[0] % FZ_HOSTS;
		struct vx_frame_hdr f;
		struct vx_ctl_msg m;
		size_t n;

		/* each record: a host byte, then one whole frame (the server's reader is tested
		 * by fuzz_control_msg; here the scheduler core is the target) */
		if (size - 1 < VX_FRAME_HDR_LEN)
			break;
		vx_frame_hdr_decode(data + 1, &f);
		if (f.length > VX_CTL_FRAME_MAX || size - 1 - VX_FRAME_HDR_LEN < f.length)
			break;
		n = VX_FRAME_HDR_LEN + (size_t)f.length;
		if (f.tag == VX_TAG_CONTROL_REQUEST &&
		    vx_ctl_msg_decode(f.tag, data + 1 + VX_FRAME_HDR_LEN, f.length, &m) == 0) {
			apply(s, hosts, who, &m, now);
			vx_ctl_msg_release(&m);
		}
		/* a silent host now and then, and the timers */
		if ((data[0] & 0xf8) == 0xf8 && hosts[who] >= 0)
			vx_sched_host_silent(s, (uint32_t)hosts[who], now);
		now += 700;
		vx_sched_tick(s, now);
		{
			struct vx_pcache_ops ops = { .replicate = fz_replicate,
						     .drop = fz_drop,
						     .arg = s };

			vx_pcache_tick(fz_pc, s, now, (int64_t)(now / 1000), &ops);
		}
		while (vx_sched_next_event(s, &ev, now))
			if (!vx_sched_host_id(s, ev.host))
				abort();
		if (!vx_sched_check(s))
			abort();
		data += 1 + (size_t)n;
		size -= 1 + (size_t)n;
	}
	vx_pcache_free(fz_pc);
	fz_pc = NULL;
	vx_sched_free(s);
	return 0;
}
