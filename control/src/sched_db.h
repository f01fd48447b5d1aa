/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched_db.h: the scheduler server's sqlite records (private to control/). All functions return
 * 0 or VX_EDB (logged) / -ENOMEM; strings are borrowed for the call.
 */
#ifndef VX_SCHED_DB_H
#define VX_SCHED_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "vx_sched.h"

struct sched_db;

/* Opens (creating) the database at @path with its schema; *@out is owned (close it). */
int vx__sched_db_open(struct sched_db **out, const char *path);
/* Commits what is queued (waiting for another writer up to 2 s) and closes; NULL: no-op. */
void vx__sched_db_close(struct sched_db *d);
int vx__sched_db_host(struct sched_db *d, const struct vx_sched_host_info *h, int64_t now_s);
int vx__sched_db_task(struct sched_db *d, struct vx_ctl_str id, struct vx_ctl_str url,
		      const struct vx_sched_task_stat *st, int64_t now_s);
int vx__sched_db_task_delete(struct sched_db *d, struct vx_ctl_str id);
/*
 * Writes the queued host and task records (vx__sched_db_host(), _task(), _task_delete() only
 * queue them) and commits this loop turn's transaction. When another writer holds the file it
 * does not wait: the records stay queued (bounded) for a later call, and 0 is returned.
 */
int vx__sched_db_flush(struct sched_db *d);
/*
 * Removes host and task records not seen or updated for @keep_s seconds, then the oldest beyond
 * @rows_max per table (the file stays bounded), and commits. 0 or VX_EDB.
 */
int vx__sched_db_expire(struct sched_db *d, int64_t now_s, int64_t keep_s, int64_t rows_max);
/*
 * Binds host @id to @key_sha256 (hex) on first sight, @src (the address it connects from, an
 * IPv6 one as its /64) being allowed at most @per_src_max ids and the table @total_max. Returns
 * 0 (new binding, or the same key as before), -EACCES (the id is bound to another key),
 * -ENOSPC (@src, or the table, holds too many ids), VX_EDB.
 */
int vx__sched_db_host_key(struct sched_db *d, struct vx_ctl_str id, const char *key_sha256,
			  const char *src, uint32_t per_src_max, uint32_t total_max, int64_t now_s);

/* 0 when host @id is bound to @key_sha256; -EACCES when unbound or bound to another key. */
int vx__sched_db_host_key_check(struct sched_db *d, struct vx_ctl_str id, const char *key_sha256);

/* Characters of a host key at least (the daemon sends 64 hex digits, 256 bits). */
#define VX_SCHED_HOST_KEY_MIN 32

/* sha256 of a host key, lowercase hex (65 bytes with the NUL); sched_server.c. */
int vx__sched_host_key_hash(struct vx_ctl_str key, char *out);
/* Whom a host id binding is counted against (@out: INET6_ADDRSTRLEN bytes); sched_server.c. */
const char *vx__sched_key_src(const char *ip, char *out);

#endif /* VX_SCHED_DB_H */
