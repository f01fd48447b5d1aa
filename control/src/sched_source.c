/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched_source.c: a task's source, the URL and the fields its id is derived from. A register
 * names them; the scheduler binds them to the task only when they derive the task's id
 * (vx_task_id_from_url), so a register cannot pair a victim's task id with another URL and have
 * a seed fill the task from it (spec/control.md section 5). The first source that derives the
 * id is kept; a seed triggered for the task gets it and checks it again before any fetch.
 */
#include <string.h>

#include "sched_int.h"
#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_log.h"

static char *dup_opt(struct vx_ctl_str s)
{
	return s.len ? vx_strndup(s.ptr, s.len) : NULL;
}

void vx__sched_source_free(struct sched_task *t)
{
	vx_ctl_strs_free(t->filtered, t->filtered_str, t->nr_filtered);
	vx_free(t->url);
	vx_free(t->tag);
	vx_free(t->app);
	t->filtered = NULL;
	t->filtered_str = NULL;
	t->url = t->tag = t->app = NULL;
	t->nr_filtered = 0;
	t->fixed_piece_len = 0;
}

static int source_copy(struct sched_task *t, const struct vx_sched_reg *req)
{
	t->url = vx_strndup(req->url.ptr, req->url.len);
	t->tag = dup_opt(req->tag);
	t->app = dup_opt(req->app);
	if (!t->url || (req->tag.len && !t->tag) || (req->app.len && !t->app))
		return -ENOMEM;
	t->fixed_piece_len = req->fixed_piece_len;
	if (vx_ctl_strs_dup(req->filtered, req->nr_filtered, &t->filtered, &t->filtered_str))
		return -ENOMEM;
	t->nr_filtered = req->nr_filtered;
	return 0;
}

int vx__sched_source_bind(struct sched_task *t, const struct vx_sched_reg *req)
{
	char id[VX_TASK_ID_LEN + 1];
	int rc;

	if (t->url || !req->url.len || req->id_kind != VX_CTL_ID_URL)
		return 0;
	rc = source_copy(t, req);
	if (rc)
		goto err;
	/* no list: the default one, as for a local download (spec/api.md) */
	rc = vx_task_id_from_source(t->url, t->tag, t->app, t->fixed_piece_len,
				    (const char *const *)t->filtered, t->nr_filtered, id);
	if (rc == 0 && memcmp(id, t->id, VX_TASK_ID_LEN) != 0)
		rc = VX_EURL;
	if (rc)
		goto err;
	return 0;
err:
	vx_debug("scheduler: task %.12s: the register's URL does not derive its id: not its source",
		 t->id);
	vx__sched_source_free(t);
	return rc;
}
