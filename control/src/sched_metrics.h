/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched_metrics.h: the scheduler server's metric updates (vx_metrics_defs.h), one call at each
 * spot of sched_server.c. Scheduler thread only.
 */
#ifndef VX_SCHED_METRICS_H
#define VX_SCHED_METRICS_H

#include <stdint.h>

#include "vx_ctl_msg.h"

/* A request's handling starts (the clock of vx__sched_metric_answer()). */
void vx__sched_metric_begin(void);
/* A register or reschedule was answered with @kind (VX_CTL_ANS_*). */
void vx__sched_metric_answer(uint32_t kind);
/* Request @type ended in error @rc: a register or reschedule refused counts as "refused". */
void vx__sched_metric_error(uint32_t type, int rc);

/* A register carrying a client's request id: one info line under that id. */
void vx__sched_log_register(const struct vx_ctl_msg *m, const char *host_id);

#endif /* VX_SCHED_METRICS_H */
