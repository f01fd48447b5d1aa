/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_sched_pcache.h: the scheduler's persistent cache tasks (`vx cache`, spec/control.md
 * section 14). Pure bookkeeping, no I/O: the server feeds it the messages and a clock, and
 * sends the events vx_pcache_tick() asks for.
 *
 * A task is what its first importer said (geometry, the CRC-32 of every piece computed from
 * the importer's own copy: the digests every later fetch is checked against, replicas, TTL,
 * tag, application) plus its holders: hosts that hold a full copy (HOLD) or were asked for one
 * (PENDING), and hosts that refused or failed (REFUSED, never asked again for this task). The
 * tick keeps replicas copies: a holder whose host is gone or silent no longer counts, and the
 * missing ones are asked from other active hosts, seeds first; a PENDING that does not answer
 * in VX_PCACHE_PENDING_MS is given up. When the TTL passes every holder is told to drop it.
 *
 * Not thread-safe: the scheduler's thread owns it.
 */
#ifndef VX_SCHED_PCACHE_H
#define VX_SCHED_PCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "vx_compiler.h"
#include "vx_ctl_msg.h"
#include "vx_sched.h"
#include "vx_task_id.h"

#define VX_PCACHE_TASKS_MAX  4096 /* persistent cache tasks one scheduler keeps */
#define VX_PCACHE_HOST_MAX   256  /* ...of which one host may have imported first */
#define VX_PCACHE_HOSTS_MAX  64	  /* holders remembered per task (any state) */
#define VX_PCACHE_PENDING_MS 60000u
/* a FETCHING holder that sent no cache-stat for this long is forgotten */
#define VX_PCACHE_FETCHING_MS 10000u

enum vx_pcache_hold {
	VX_PCACHE_PENDING = 0,	/* asked to replicate, no answer yet */
	VX_PCACHE_HOLD = 1,	/* holds a full copy */
	VX_PCACHE_REFUSED = 2,	/* refused (full) or failed: not asked again */
	VX_PCACHE_FETCHING = 3, /* fetching it for an export (cache-stat with its bitmap) */
};

struct vx_pcache_holder {
	char host_id[VX_CTL_ID_MAX + 1];
	enum vx_pcache_hold state;
	uint64_t since_ms;
	uint32_t pieces; /* FETCHING: pieces its last bitmap named */
	bool claimed;	 /* HOLD on its own word after an export (never asked): no replica */
};

struct vx_pcache_task {
	char id[VX_TASK_ID_LEN + 1];
	char importer[VX_CTL_ID_MAX + 1]; /* host id of the first import: may delete it */
	uint64_t content_len, piece_len;
	uint32_t piece_count;
	uint32_t *crc; /* piece_count trusted digests */
	uint32_t replicas;
	uint64_t ttl_s;
	int64_t created_s; /* wall clock */
	char *tag, *app;
	struct vx_pcache_holder holders[VX_PCACHE_HOSTS_MAX];
	uint32_t nr_holders;
};

struct vx_pcache;

VX_MUST_CHECK int vx_pcache_new(struct vx_pcache **out);
void vx_pcache_free(struct vx_pcache *pc);

/*
 * vx_pcache_import() - host @host_id holds a full copy of the task @m describes (a CACHE_IMPORT
 * request, borrowed). The first import makes the task; a later one must carry the same
 * geometry and digests (-EEXIST otherwise) and only adds the holder. Returns 0, -EINVAL (a
 * malformed digest list), -EEXIST, -ENOSPC (too many tasks), -ENOMEM.
 */
VX_MUST_CHECK int vx_pcache_import(struct vx_pcache *pc, const char *host_id,
				   const struct vx_ctl_msg *m, uint64_t now_ms, int64_t now_s);

/* A replica asked from @host_id ended with @status (0: it holds the task). -ENOENT unknown. */
int vx_pcache_held(struct vx_pcache *pc, const char *host_id, struct vx_ctl_str task_id, int status,
		   uint64_t now_ms);

/* The task @id (64 hex, not necessarily NUL-terminated), lent until the next change; or NULL. */
const struct vx_pcache_task *vx_pcache_find(const struct vx_pcache *pc, const char *id);

/* Seconds until @t expires at @now_s (0 once passed). */
uint64_t vx_pcache_ttl_left(const struct vx_pcache_task *t, int64_t now_s);

/* Forgets @id. Returns 0 or -ENOENT. */
int vx_pcache_forget(struct vx_pcache *pc, const char *id);

/* The tasks, for listings: calls @fn for each, in no particular order. */
void vx_pcache_each(const struct vx_pcache *pc,
		    void (*fn)(void *arg, const struct vx_pcache_task *t), void *arg);

/* What the tick asks the server to send. */
struct vx_pcache_ops {
	/* ask host @host (a vx_sched handle) to fetch @t from @holders (handles) */
	void (*replicate)(void *arg, uint32_t host, const struct vx_pcache_task *t,
			  const uint32_t *holders, uint32_t nr_holders);
	/* tell host @host to drop @t (EVICT) */
	void (*drop)(void *arg, uint32_t host, const char *task_id);
	void *arg;
};

/*
 * vx_pcache_tick() - drop holders whose host is gone, give up PENDING ones that did not
 * answer, expire tasks whose TTL passed (ops->drop to every holder still there), and ask new
 * hosts for the replicas missing (ops->replicate). Reads the hosts from @s.
 */
void vx_pcache_tick(struct vx_pcache *pc, const struct vx_sched *s, uint64_t now_ms, int64_t now_s,
		    const struct vx_pcache_ops *ops);

/*
 * vx_pcache_drop_everywhere() - ops->drop to every holder of @id whose host is active, then
 * forget it. Returns 0 or -ENOENT.
 */
int vx_pcache_drop_everywhere(struct vx_pcache *pc, const struct vx_sched *s, const char *id,
			      const struct vx_pcache_ops *ops);

/*
 * vx_pcache_fetching() - host @host_id fetches task @id for an export and holds @pieces of
 * it now (a cache-stat carrying its bitmap): it becomes (or stays) a FETCHING holder, a
 * candidate for other fetchers, until its cache-held (HOLD on success), its host goes, or
 * VX_PCACHE_FETCHING_MS pass without another cache-stat. A HOLD or PENDING holder stays as
 * it is. FETCHING holders never count towards the replicas. Returns 0, -ENOENT or -ENOSPC.
 */
int vx_pcache_fetching(struct vx_pcache *pc, const char *host_id, const char *id, uint32_t pieces,
		       uint64_t now_ms);

/*
 * vx_pcache_cands() - the candidates a fetcher of @t is given: first the active HOLD holders
 * (@complete true), then the active PENDING and FETCHING ones but @asker's own (a host id, may
 * be NULL) (false: they hold part of it and say which over Vortex). Fills @out with
 * vx_sched handles, @complete and @pieces alike; returns how many (at most @max).
 */
uint32_t vx_pcache_cands(struct vx_pcache *pc, const struct vx_pcache_task *t,
			 const struct vx_sched *s, const char *asker, uint32_t *out, bool *complete,
			 uint32_t *pieces, uint32_t max);

/*
 * vx_pcache_holder_hosts() - the vx_sched handles of @t's HOLD holders whose host is active,
 * up to @max into @out. Returns the count.
 */
uint32_t vx_pcache_holder_hosts(struct vx_pcache *pc, const struct vx_pcache_task *t,
				const struct vx_sched *s, uint32_t *out, uint32_t max);

/*
 * vx_pcache_ask() - ask host @host (a vx_sched handle, active) for a copy of @id now, beside
 * the replicas the tick keeps (the manager's persistent_cache_import job). Returns 0 (asked),
 * -EALREADY (it holds, was asked or refused), -ENOENT (no such task), -EAGAIN (no holder to
 * copy from), -ENOSPC (holder table full).
 */
int vx_pcache_ask(struct vx_pcache *pc, const struct vx_sched *s, const char *id, uint32_t host,
		  uint64_t now_ms, const struct vx_pcache_ops *ops);

/* Sets the replicas wanted of @id (1..VX_CTL_REPLICAS_MAX). Returns 0, -ENOENT, -EINVAL. */
int vx_pcache_set_replicas(struct vx_pcache *pc, const char *id, uint32_t replicas);

#endif /* VX_SCHED_PCACHE_H */
