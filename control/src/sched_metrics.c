/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched_metrics.c: scheduling decisions by kind and their latency (vx_scheduler_decisions_total,
 * vx_scheduler_decision_duration_seconds). The latency runs from the request's decode to its
 * answer; the server serves one request at a time on its one thread.
 */
#include "sched_metrics.h"

#include "vx_log.h"
#include "vx_metrics.h"
#include "vx_time.h"

#include <string.h>

static uint64_t begin_ns;

void vx__sched_metric_begin(void)
{
	begin_ns = vx_now_ns();
}

void vx__sched_metric_answer(uint32_t kind)
{
	uint32_t d = kind == VX_CTL_ANS_BACK_TO_SOURCE ? VX_M_DECISION_BACK_TO_SOURCE
		     : kind == VX_CTL_ANS_WAIT	       ? VX_M_DECISION_WAIT
						       : VX_M_DECISION_PARENTS;

	vx_metric_inc(&vx_m_sched_decisions, d);
	vx_metric_observe(&vx_m_sched_seconds, 0, (vx_now_ns() - begin_ns) / 1000);
}

void vx__sched_metric_error(uint32_t type, int rc)
{
	if (rc && (type == VX_CTL_REGISTER || type == VX_CTL_RESCHEDULE))
		vx_metric_inc(&vx_m_sched_decisions, VX_M_DECISION_REFUSED);
}

void vx__sched_log_register(const struct vx_ctl_msg *m, const char *host_id)
{
	char id[VX_REQUEST_ID_MAX + 1];

	if (!(m->has & VX_CTL_F_REQUEST_ID) ||
	    !vx_request_id_valid(m->request_id.ptr, m->request_id.len))
		return;
	memcpy(id, m->request_id.ptr, m->request_id.len);
	id[m->request_id.len] = '\0';
	vx_log_set_request_id(id);
	vx_info("sched: register task %.12s from %s", m->task_id.ptr ? m->task_id.ptr : "?",
		host_id ? host_id : "?");
	vx_log_set_request_id(NULL);
}
