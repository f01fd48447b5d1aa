/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_int.h: the piece store's internals, shared by store.c (lifecycle, task table), piece.c
 * (piece state machine, waiters), meta.c (sqlite), gc.c (GC, export) and file.c (content files).
 *
 * Locks, in the only order they may nest:
 *   s->db_lock    serialises every sqlite use and every task creation/removal (slow paths);
 *   s->lock       the task table, refcounts, the dirty list, open files, usage counters;
 *   t->lock       one task's pieces, finish log and armed waiters;
 *   n->lock       one notifier's ready list.
 * Piece-path calls take s->lock and/or t->lock (in that order, never db_lock), for a few
 * instructions each; no syscall is made under any of them except the eventfd write.
 */
#ifndef VX_STORE_INT_H
#define VX_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sqlite3.h>

#include "vx_store.h"

/* State of one piece. Only FINISHED pieces are in the metadata (durable ones). */
enum vx__piece_state {
	VX__PIECE_MISSING = 0,	/* not written (or a write was abandoned) */
	VX__PIECE_WRITING = 1,	/* reserved by one writer: begin_write .. commit/abort */
	VX__PIECE_FINISHED = 2, /* fully written, digest checked, readable */
};

struct vx__piece {
	uint32_t crc32;	    /* of the piece bytes, valid when FINISHED */
	uint8_t state;	    /* enum vx__piece_state */
	uint8_t parent_idx; /* 1 + index in t->parents; 0 = source or unknown */
	uint16_t reserved;  /* zero */
	uint64_t cost_ms;   /* time the writer took */
	int64_t finished_s; /* Unix seconds */
};

enum vx__waiter_state {
	VX__WAITER_IDLE = 0,
	VX__WAITER_ARMED = 1, /* on t->waiters */
	VX__WAITER_READY = 2, /* fired, on n->ready, callback not run yet */
};

enum vx__waiter_kind {
	VX__WAIT_PIECE = 0,
	VX__WAIT_PROGRESS = 1,
};

struct vx_store_notifier {
	struct vx_store *store; /* borrowed */
	int efd;		/* eventfd, non-blocking */
	pthread_mutex_t lock;	/* guards @ready */
	struct vx_list ready;	/* fired waiters, oldest first */
	atomic_uint armed;	/* waiters armed or ready on this notifier */
};

struct vx_store_task {
	struct vx_store *store;		 /* borrowed: the store outlives its tasks */
	struct vx_store_task *hash_next; /* bucket chain, under s->lock */
	struct vx_list all_link;	 /* s->tasks, under s->lock */
	struct vx_list dirty_link;	 /* s->dirty when @on_dirty, under s->lock */
	char id[VX_TASK_ID_LEN + 1];
	char *url;    /* owned, may be NULL */
	char *digest; /* owned, may be NULL */
	enum vx_store_kind kind;
	uint64_t content_length;
	uint64_t piece_length;
	uint32_t piece_count;
	uint64_t ttl_s;
	uint32_t replicas;
	int64_t created_s;
	int64_t lru_s; /* GC's snapshot of access_s, under db_lock */

	/* under s->lock */
	int64_t access_s;
	uint32_t refs[VX_STORE_USE_NR];
	uint32_t flush_refs; /* the flusher is syncing this task */
	bool removing;	     /* unhashed, being deleted */
	bool on_dirty;
	bool in_db;		  /* a task row exists */
	bool priv;		  /* fetched with credentials: serve only after an access proof */
	bool cache_dropped;	  /* page cache dropped since the last use */
	uint64_t disk_bytes;	  /* bytes of the content file counted as usage */
	struct vx_list idle_link; /* s->idle while open, unreferenced and on disk */
	bool on_idle;
	int fd;	       /* buffered read/write fd or memfd; -1 when closed */
	int fd_direct; /* O_DIRECT fd, or -1 */
	uint8_t *map;  /* PROT_READ mapping of the whole content, or NULL */
	/* memory tier (memtier.c): a sealed memfd copy of the COMPLETE content, or NULL. Set and
	 * cleared under s->lock; cleared only while no handle is held, so a holder may read it
	 * without a lock */
	struct vx__memcopy *_Atomic mem;
	bool mem_loading; /* a load is copying the content (under s->lock) */

	/* under t->lock */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* blocking waiters (vx_store_piece_wait) */
	enum vx_store_task_state state;
	int error;
	struct vx__piece *pieces;   /* owned, piece_count entries */
	uint32_t *finish_log;	    /* owned, piece_count entries: piece numbers in finish order */
	atomic_uint finished_count; /* entries in finish_log (written under t->lock) */
	uint32_t durable_count;	    /* finish_log entries whose rows are committed */
	uint32_t synced_count;	    /* finish_log entries whose bytes an fdatasync outside the
				       flush (the export's) made durable: the flush skips its own */
	uint32_t writing_count;	    /* pieces in WRITING */
	/* the digest the COMPLETE content last matched (vx_store_task_check_digest()), so a
	 * warm task is not read whole again for every reader that names the same digest */
	uint8_t digest_ok[64];
	uint8_t digest_ok_len;	/* 0: none yet */
	int digest_ok_algo;	/* enum vx_digest_algo of digest_ok */
	struct vx_list waiters; /* armed struct vx_store_waiter */
	uint32_t nr_parents;
	char (*parents)[VX_STORE_PARENT_ID_MAX]; /* owned or NULL; VX_STORE_TASK_PARENTS_MAX */

	_Atomic uint64_t *bitmap; /* owned, (piece_count + 63) / 64 words, bit n % 64 of n / 64 */
};

struct vx_store {
	char *dir;		 /* owned, no trailing slash */
	struct vx_store_cfg cfg; /* copy; cfg.dir points at @dir */
	int lock_fd;		 /* flock(LOCK_EX) on <dir>/lock: one process per store */
	bool direct_io;		 /* O_DIRECT works and is allowed */
	bool load_truncated;	 /* max_tasks stopped the load: unknown files are not orphans */
	uint32_t align;		 /* direct I/O alignment */

	pthread_mutex_t db_lock;
	sqlite3 *db;
	sqlite3_stmt *st_task_insert;
	sqlite3_stmt *st_task_update;
	sqlite3_stmt *st_task_delete;
	sqlite3_stmt *st_piece_insert;
	sqlite3_stmt *st_piece_delete_task;

	pthread_mutex_t lock;
	struct vx_store_task **buckets; /* owned, @nr_buckets chains */
	uint32_t nr_buckets;		/* a power of two */
	uint32_t nr_tasks;
	struct vx_list tasks; /* every task */
	struct vx_list dirty; /* tasks with unpersisted pieces or a dirty row */
	/* open content files; atomic: a new task opens its file without s->lock */
	_Atomic uint32_t open_files;
	uint32_t max_files;    /* open content files allowed: cfg and RLIMIT_NOFILE (fd cache) */
	struct vx_list idle;   /* open, unreferenced disk tasks, least recently released first */
	uint64_t disk_bytes;   /* sum of t->disk_bytes of disk tasks */
	uint64_t db_bytes;     /* metadata files, refreshed by the flusher */
	uint64_t memory_bytes; /* sum of memory-task lengths */
	struct vx_list tier;   /* struct vx__memcopy of the memory tier (memtier.c) */
	uint64_t tier_bytes;   /* their lengths, loads in progress included */
	uint32_t tier_tasks;
	uint64_t tier_loads, tier_evictions;
	_Atomic uint64_t tier_tick;    /* LRU clock of the copies */
	_Atomic uint64_t reads_memory; /* pieces lent from a memory copy or memory task */
	_Atomic uint64_t reads_disk;   /* pieces lent from a content file */
	uint64_t commits;
	uint64_t pieces_persisted;
	uint64_t syncs;
	struct vx_store_task **scratch; /* owned, cfg.max_tasks entries, under db_lock */

	/* flusher */
	pthread_t flusher;
	bool flusher_running;
	pthread_mutex_t flush_mu;
	pthread_cond_t flush_cond;
	bool flush_stop;	    /* under flush_mu */
	atomic_uint pending_pieces; /* finished, not yet durable */
};

/* store.c */
int64_t vx__store_now(const struct vx_store *s);
int vx__store_content_path(const struct vx_store *s, enum vx_store_kind kind, const char *id,
			   char *out, size_t out_len);
void vx__store_mark_dirty(struct vx_store_task *t);
void vx__store_insert(struct vx_store *s, struct vx_store_task *t);
struct vx_store_task *vx__store_lookup(struct vx_store *s, const char *id);
void vx__store_unhash(struct vx_store *s, struct vx_store_task *t);
void vx__task_free(struct vx_store_task *t);
int vx__task_unlink_and_free(struct vx_store_task *t);
uint32_t vx__task_total_refs(const struct vx_store_task *t);
void vx__store_capacity(struct vx_store *s, uint64_t *usage, uint64_t *capacity,
			uint64_t *fs_avail);

/* file.c */
int vx__file_probe_direct(const char *dir, uint32_t *align);
int vx__file_open_task(struct vx_store_task *t, bool create);
void vx__file_close_task(struct vx_store_task *t);
void vx__file_cache_budget(struct vx_store *s);
void vx__file_idle_update(struct vx_store_task *t);
void vx__file_make_room(struct vx_store *s);
ssize_t vx__file_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
ssize_t vx__file_pread_all(int fd, void *buf, size_t len, uint64_t off);
int vx__file_mkdirs(const char *path);
int vx__task_datasync(struct vx_store_task *t);
bool vx__task_synced(struct vx_store_task *t, uint32_t count);
int vx__file_fsync_dir(const char *path);
int vx__file_copy(int src, int dst, uint64_t len);

/* export_direct.c: copies [0, @len) of @src_direct (an O_DIRECT fd) into @dst with direct I/O
 * (the tail shorter than @align through the page cache); @dst is left without O_DIRECT.
 * Returns 0, -EINVAL when either file cannot do direct I/O (nothing useful written: copy
 * instead), or -errno. */
int vx__file_copy_direct(int src_direct, int dst, uint64_t len, uint32_t align);
/* gc.c's export steps, shared with output.c: a new hidden temporary file beside @name (0600,
 * O_EXCL|O_NOFOLLOW, its name to @tmp); its placement at @name; @t's content into @fd. */
int vx__export_tmp_open(int dirfd, const char *name, char *tmp, size_t tmp_len);
int vx__export_place(int dirfd, const char *tmp, const char *name, unsigned int flags);
int vx__export_clone_or_copy(struct vx_store_task *t, int fd);

/* meta.c: every function here requires s->db_lock. */
int vx__meta_open(struct vx_store *s);
void vx__meta_close(struct vx_store *s);
int vx__meta_load(struct vx_store *s);
int vx__meta_task_insert(struct vx_store *s, struct vx_store_task *t);
int vx__meta_task_delete(struct vx_store *s, const char *id);
int vx__meta_task_private(struct vx_store *s, const char *id);
int vx__meta_flush(struct vx_store *s);
int vx__meta_err(struct vx_store *s, int rc, const char *what);

/* piece.c */
int vx__task_alloc_pieces(struct vx_store_task *t);
void vx__task_want_parents(struct vx_store_task *t);
void vx__task_load_piece(struct vx_store_task *t, uint32_t number, uint32_t crc32,
			 const char *parent, uint64_t cost_ms, int64_t finished_s);
void vx__task_fail_locked(struct vx_store_task *t, int err);

/* gc.c */
int vx__gc_make_room(struct vx_store *s, uint64_t need, bool memory);

/* memtier.c */
struct vx__memcopy {
	struct vx_list link;	   /* s->tier, under s->lock */
	struct vx_store_task *t;   /* its task */
	int fd;			   /* sealed memfd (write, grow, shrink, seal) */
	const uint8_t *map;	   /* PROT_READ mapping, NULL for an empty task */
	uint64_t len;		   /* bytes */
	_Atomic uint64_t last_use; /* s->tier_tick at the last load or read */
};
/* Bytes the memory budget holds now (memory tasks and tier copies); s->lock held. */
uint64_t vx__memtier_used(const struct vx_store *s);
/* Drops idle copies, least recently used first, until @need more bytes fit; s->lock NOT held.
 * Returns true when they fit. */
bool vx__memtier_make_room(struct vx_store *s, uint64_t need);
/* Fills ref->fd and ref->data from @t's copy when it has one, else from its file; counts the
 * read by tier. PIECE PATH; the caller holds a handle. */
void vx__memtier_lend(struct vx_store_task *t, struct vx_store_piece_ref *ref);
/* Frees @t's copy, if any (task being freed: no handle held); s->lock NOT held. */
void vx__memtier_forget(struct vx_store_task *t);

#endif /* VX_STORE_INT_H */
