/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_store.h: the piece store. One data directory holds one preallocated content file per task
 * (content/tasks/<first 3 hex>/<id>, content/persistent-cache-tasks/<3>/<id>), memory tasks
 * live in memfds, and metadata lives in sqlite (WAL) at metadata/store.db. Pieces are written at
 * their offsets; a piece becomes readable only after its bytes are fully written and the writer
 * has checked its digest. A background flusher makes finished pieces durable in batches: it
 * fdatasyncs the content files first and commits the piece rows after, so a crash never leaves a
 * piece marked finished whose bytes fail its digest. spec/storage.md has the layout, schema,
 * state machines and the crash-consistency argument.
 *
 * Threading. struct vx_store is thread-safe. Two classes of calls:
 *   - "piece path" calls (marked PIECE PATH below) take only short internal mutexes, never do
 *     file I/O, never allocate and never wait; they are safe inside an io_uring completion
 *     handler on any thread;
 *   - "slow" calls (marked BLOCKING) may do file I/O, sqlite or wait; call them from a tool
 *     thread, a control thread or a dedicated store thread, never from a completion handler.
 * A struct vx_store_notifier and the waiters armed on it belong to one thread: the thread that
 * drains the notifier is the only one that may arm or cancel its waiters.
 */
#ifndef VX_STORE_H
#define VX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_compiler.h"
#include "vx_list.h"
#include "vx_task_id.h"

struct vx_digest_spec; /* vx_digest.h */

struct vx_store;
struct vx_store_task;
struct vx_store_notifier;
struct vx_store_waiter;

/* Most bytes one read or write syscall moves (Linux's own per-call cap). */
#define VX_STORE_IO_MAX 0x7ffff000ull
/* Largest piece accepted (Vortex content values are at most 1 GiB). */
#define VX_STORE_PIECE_LEN_MAX (1ull << 30)
/* Most pieces one task may have; larger plans are refused with -E2BIG. */
#define VX_STORE_PIECES_MAX (1u << 20)
/* Longest parent id kept per piece, including the NUL ("{ip}-{hostname}-{uuid}"). */
#define VX_STORE_PARENT_ID_MAX 192
/*
 * Distinct parents remembered per task; later parents are recorded as "" (unknown). The table
 * is allocated by vx_store_task_open(.., VX_STORE_USE_DOWNLOAD, ..) (never on the piece path):
 * pieces committed through a handle from vx_store_task_acquire() alone record no parent.
 */
#define VX_STORE_TASK_PARENTS_MAX 16
/* Longest URL stored with a task, including the NUL. */
#define VX_STORE_URL_MAX 8192
/* "crc32:" + up to 10 digits + NUL (same value as VX_DIGEST_CRC32_STR_MAX). */
#define VX_STORE_DIGEST_STR_MAX 17

/* Where a task's bytes live. Values are stored in the metadata: never renumber. */
enum vx_store_kind {
	VX_STORE_KIND_NORMAL = 0,	    /* content/tasks/, GC by LRU and TTL */
	VX_STORE_KIND_PERSISTENT_CACHE = 1, /* content/persistent-cache-tasks/, pinned until TTL */
	VX_STORE_KIND_MEMORY = 2,	    /* memfd, bounded by the memory budget, not persisted */
};

/* Task states (stored; never renumber). spec/storage.md has the transition table. */
enum vx_store_task_state {
	VX_STORE_TASK_DOWNLOADING = 0, /* some pieces missing; pieces may be written */
	VX_STORE_TASK_COMPLETE = 1,    /* every piece finished (maybe not yet durable) */
	VX_STORE_TASK_FAILED = 2,      /* a write failed; finished pieces are kept */
};

/* Direct I/O policy, decided by a probe of the data directory at open. */
enum vx_store_direct_io {
	VX_STORE_DIRECT_OPTIONAL = 0, /* O_DIRECT when the filesystem allows it, else buffered */
	VX_STORE_DIRECT_REQUIRED = 1, /* open fails with -EINVAL when O_DIRECT does not work */
	VX_STORE_DIRECT_DISABLED = 2, /* always buffered */
};

/* Why a task handle is held; a held task is never evicted or removed. */
enum vx_store_use {
	VX_STORE_USE_DOWNLOAD = 0, /* writing pieces */
	VX_STORE_USE_UPLOAD = 1,   /* serving pieces to peers */
	VX_STORE_USE_READ = 2,	   /* local reading, export, inspection */
	VX_STORE_USE_NR,
};

/* Flags of vx_store_task_params.flags. */
enum vx_store_open_flags {
	VX_STORE_OPEN_SPILL = 1u << 0,	   /* memory budget full: create as a NORMAL task instead */
	VX_STORE_OPEN_NO_CREATE = 1u << 1, /* only open an existing task (-ENOENT otherwise) */
};

/* Flags of vx_store_task_export(). */
enum vx_store_export_flags {
	VX_STORE_EXPORT_OVERWRITE = 1u << 0, /* replace an existing file at the destination */
	VX_STORE_EXPORT_NO_LINK = 1u << 1,   /* always copy, never hard-link (the default now) */
	VX_STORE_EXPORT_LINK_ONLY = 1u << 2, /* hard-link or fail with -EXDEV, never copy */
	/* Hard-link where possible: the output then IS the store's file, and writing it changes
	 * what peers are served. Only for outputs nobody writes. Without it (and without
	 * LINK_ONLY) the output is a reflink (FICLONE) where the filesystem can, else a copy. */
	VX_STORE_EXPORT_HARDLINK = 1u << 3,
};

/* Returns wall-clock Unix seconds; lets tests drive TTL and LRU. */
typedef int64_t (*vx_store_clock_fn)(void *arg);

/*
 * Configuration of vx_store_open(). Zero means "default" for every numeric field; start from
 * vx_store_cfg_init(). Strings are borrowed for the duration of vx_store_open() only.
 */
struct vx_store_cfg {
	const char *dir;		   /* data directory; created if missing */
	enum vx_store_direct_io direct_io; /* default OPTIONAL */
	uint64_t disk_quota_bytes;	   /* GC capacity; 0 = own usage + filesystem free space */
	uint32_t gc_high_pct;		   /* GC starts at this usage percent (default 80) */
	uint32_t gc_low_pct;		   /* and evicts down to this one (default 60) */
	uint64_t task_ttl_s;	      /* normal task expires this long after last access (30 d) */
	uint64_t persistent_ttl_s;    /* persistent-cache TTL when the task gives none (24 h) */
	uint64_t page_cache_idle_s;   /* idle this long: drop its page cache (40 min) */
	uint64_t memory_budget_bytes; /* memory tasks plus memory-tier copies (default 64 MiB) */
	bool no_memory;		      /* budget 0: no memory tasks, no memory tier */
	uint32_t max_tasks;	      /* tasks held in memory and on disk (default 65536) */
	uint32_t max_open_files;      /* content files open at once (default 1024), never more than
				       * half of RLIMIT_NOFILE allows; idle ones closed LRU */
	uint32_t flush_interval_ms;   /* flusher period (default 50 ms) */
	uint32_t flush_batch_pieces;  /* flush early once this many pieces wait (default 256) */
	uint32_t gc_interval_s;	      /* the flusher thread runs vx_store_gc() this often (900) */
	bool no_gc_thread;	      /* never run GC in the background: call vx_store_gc() */
	bool no_flush_thread;	      /* no background flusher (and no background GC) */
	bool no_sync;		      /* skip fdatasync before commits: NOT crash safe (bench) */
	bool no_preallocate;	      /* sparse files instead of fallocate (tests, odd fs) */
	bool wipe;		      /* delete everything at open (Dragonfly's keep=false) */
	vx_store_clock_fn clock;      /* default: wall clock */
	void *clock_arg;	      /* passed to @clock */
};

/* Describes a task to vx_store_task_open(). Strings are borrowed for the call. */
struct vx_store_task_params {
	const char *id;		 /* 64 lowercase hex characters */
	const char *url;	 /* source URL (informational); NULL or "" when none */
	const char *digest;	 /* expected whole-content digest ("sha256:..."), or NULL */
	uint64_t content_length; /* bytes; 0 is a valid empty task */
	uint64_t piece_length;	 /* 0: vx_piece_length_for(content_length) */
	enum vx_store_kind kind; /* where the bytes live */
	uint64_t ttl_s;		 /* persistent-cache pin time; 0 = cfg.persistent_ttl_s */
	uint32_t replicas;	 /* persistent-cache replica count (stored, informational) */
	uint32_t flags;		 /* enum vx_store_open_flags */
};

/* A copy of a task's description, from vx_store_task_info(). */
struct vx_store_task_info {
	char id[VX_TASK_ID_LEN + 1];
	enum vx_store_kind kind;
	enum vx_store_task_state state;
	int error;			/* negative errno of a FAILED task, else 0 */
	uint64_t content_length;	/* bytes */
	uint64_t piece_length;		/* bytes; the last piece may be shorter */
	uint32_t piece_count;		/* pieces in the plan */
	uint32_t finished_count;	/* pieces finished and readable */
	uint32_t durable_count;		/* of those, pieces whose rows are committed */
	uint32_t refs[VX_STORE_USE_NR]; /* handles held, by use */
	int64_t created_s;		/* Unix seconds */
	int64_t access_s;		/* Unix seconds of the last acquire or release */
	uint64_t ttl_s;			/* persistent-cache pin time */
	uint32_t replicas;		/* persistent-cache replica count asked at import */
	bool priv;	/* marked private (vx_store_task_set_private()): survives restarts */
	bool in_memory; /* a memory task, or a memory-tier copy exists */
};

/*
 * Where to write one piece, from vx_store_piece_begin_write(). The fd is lent until
 * vx_store_piece_commit() or vx_store_piece_abort() for this piece.
 */
struct vx_store_piece_io {
	int fd;		 /* content file (O_DIRECT when @direct), memfd for memory tasks */
	int buffered_fd; /* same file without O_DIRECT: always allowed (equals @fd when !direct) */
	bool direct;	 /* @fd is O_DIRECT: buffer address, offset and length must be aligned */
	uint32_t align;	 /* alignment of direct I/O in bytes (a power of two, >= 512) */
	uint64_t offset; /* byte offset of the piece in the file */
	uint64_t length; /* piece length in bytes */
};

/*
 * A finished piece, from vx_store_piece_get(). Everything is lent until the caller releases its
 * task handle (vx_store_task_release()); the bytes never change while lent.
 */
struct vx_store_piece_ref {
	uint32_t number;		      /* piece number */
	int fd;				      /* buffered fd of the content file: splice/sendfile */
	uint64_t offset;		      /* byte offset of the piece in @fd */
	uint64_t length;		      /* piece length in bytes */
	const uint8_t *data;		      /* read-only mapping of the piece, or NULL */
	uint32_t crc32;			      /* CRC-32/IEEE of the piece bytes */
	char digest[VX_STORE_DIGEST_STR_MAX]; /* "crc32:<decimal>" */
	const char *parent_id;		      /* peer it came from; "" when from source */
	uint64_t cost_ms;		      /* how long the writer took to get it */
	int64_t finished_s;		      /* Unix seconds it finished */
};

/* What the writer knows about a piece it commits. Strings are borrowed for the call. */
struct vx_store_piece_done {
	uint32_t crc32;	       /* CRC-32/IEEE the caller verified against the trusted manifest */
	const char *parent_id; /* peer the bytes came from; NULL or "" = source */
	uint64_t cost_ms;      /* time taken to get the piece */
	/* optional: the whole content's digest, from a writer that hashed every piece in order
	 * as it wrote it; kept (as vx_store_task_check_digest() keeps a match) when this commit
	 * completes the task, so that check needs no second read of the content */
	const struct vx_digest_spec *content;
};

/* Totals from vx_store_stats(). */
struct vx_store_stats {
	uint64_t disk_bytes;	      /* bytes of the store's own files (content + metadata) */
	uint64_t disk_capacity_bytes; /* quota, or own usage + filesystem free space */
	uint64_t memory_bytes;	      /* sum of memory-task lengths */
	uint64_t memory_budget_bytes; /* configured budget */
	uint64_t tier_bytes;	      /* memory-tier copies (spec/storage.md "Memory tier") */
	uint32_t tier_tasks;	      /* tasks with a memory-tier copy */
	uint64_t tier_loads;	      /* copies made since open */
	uint64_t tier_evictions;      /* copies dropped for room since open */
	uint64_t reads_memory;	      /* pieces lent from memory (tier copy or memory task) */
	uint64_t reads_disk;	      /* pieces lent from a content file */
	uint32_t tasks;		      /* tasks known */
	uint32_t open_files;	      /* content files open */
	bool direct_io;		      /* O_DIRECT is in use for aligned pieces */
	uint32_t direct_align;	      /* its alignment in bytes */
	uint64_t commits;	      /* metadata transactions committed since open */
	uint64_t pieces_persisted;    /* piece rows committed since open */
	uint64_t syncs;		      /* fdatasync calls issued by the flusher */
};

/* What one vx_store_gc() pass did. */
struct vx_store_gc_report {
	uint32_t expired;	 /* tasks removed because their TTL passed */
	uint32_t evicted;	 /* tasks removed for disk pressure (LRU) */
	uint32_t dropped_cache;	 /* idle tasks whose page cache was dropped */
	uint32_t skipped_in_use; /* candidates kept because a handle was held */
	uint32_t skipped_pinned; /* candidates kept because they are pinned */
	uint64_t freed_bytes;	 /* bytes released */
	uint64_t usage_before;	 /* store bytes before the pass */
	uint64_t usage_after;	 /* and after */
};

/* ------------------------------------------------------------------------------------------- */
/* Store lifecycle                                                                             */

/* Fills @cfg with the defaults (dir NULL). Borrows @cfg. */
void vx_store_cfg_init(struct vx_store_cfg *cfg);

/*
 * vx_store_open() - open (or create) the store in @cfg->dir. BLOCKING.
 * Creates the directory tree and metadata/store.db, probes O_DIRECT, loads every task and its
 * finished pieces (resume: pieces finished before a restart stay finished), removes content
 * files the metadata does not know, and starts the flusher thread (which also runs GC every
 * cfg.gc_interval_s unless cfg.no_gc_thread) unless cfg->no_flush_thread.
 * @out: OUT, returns owned store (free with vx_store_close()); NULL on failure.
 * @cfg: borrowed for the call.
 * Returns 0, -EINVAL (bad cfg, or O_DIRECT required and unsupported), -ENOMEM, VX_EDB (the
 * database is unreadable), VX_EDB_BUSY (another process holds the store), or a negative errno
 * from the filesystem. Nothing is left half-created on failure.
 */
VX_MUST_CHECK int vx_store_open(struct vx_store **out, const struct vx_store_cfg *cfg);

/*
 * vx_store_close() - flush everything finished, stop the flusher and free the store. BLOCKING.
 * Takes @s; NULL is a no-op. Every task handle must have been released and every notifier
 * freed before (asserted).
 */
void vx_store_close(struct vx_store *s);

/*
 * vx_store_flush() - make every piece finished so far durable now: fdatasync of the content
 * files, then one metadata commit. BLOCKING. Returns 0, VX_EDB, VX_EDB_BUSY or -errno of the
 * sync; on failure the pieces stay finished in memory and a later flush retries them.
 */
VX_MUST_CHECK int vx_store_flush(struct vx_store *s);

/* Copies the store's totals into @out (borrowed). Any thread; a short lock and one statvfs(2). */
void vx_store_stats(struct vx_store *s, struct vx_store_stats *out);

/* Alignment that direct-I/O buffers need (1 when direct I/O is off). Any thread. */
uint32_t vx_store_direct_align(const struct vx_store *s);

/*
 * vx_store_buf_alloc() - returns owned memory of @len bytes aligned for direct I/O (free with
 * vx_store_buf_free()), or NULL. For the caller's buffer pools: not for the piece path.
 */
void *vx_store_buf_alloc(const struct vx_store *s, size_t len);
/* Takes @buf from vx_store_buf_alloc(); NULL is a no-op. */
void vx_store_buf_free(void *buf);

/* ------------------------------------------------------------------------------------------- */
/* Tasks                                                                                       */

/*
 * vx_store_task_open() - create the task described by @p, or open it if the store already
 * has it, and return a handle held for @use. BLOCKING (sqlite, fallocate).
 * A new task is admitted only if its content fits: disk tasks within the GC capacity and the
 * filesystem's free space (then fallocate reserves it), memory tasks within the memory budget
 * (after evicting idle memory tasks, least recently used first; with VX_STORE_OPEN_SPILL a full
 * budget creates a NORMAL task instead). An existing task keeps its finished pieces; a FAILED
 * one is reset to DOWNLOADING.
 * @p: borrowed for the call. @out: OUT, a handle lent until vx_store_task_release(t, @use).
 * Returns 0; -EINVAL (bad id, kind or geometry); -E2BIG (too many pieces); -EEXIST (the task
 * exists with another content or piece length); -ENOENT (VX_STORE_OPEN_NO_CREATE and absent);
 * -ENOSPC (no room: the message says disk or memory); -EMFILE (cfg.max_tasks reached); -ENOMEM;
 * VX_EDB. On failure nothing is created.
 */
VX_MUST_CHECK int vx_store_task_open(struct vx_store *s, const struct vx_store_task_params *p,
				     enum vx_store_use use, struct vx_store_task **out);

/*
 * vx_store_task_acquire() - look up task @id (64 hex chars, not necessarily NUL-terminated) and
 * return a handle held for @use. PIECE PATH when the content file is already open (it stays open
 * while the task is in use or among the cfg.max_open_files most recent); otherwise it opens the
 * file (one open(2) and mmap(2)).
 * @out: OUT, lent until vx_store_task_release(t, @use).
 * Returns 0, -ENOENT (unknown id, or being removed), -EINVAL (malformed id), or -errno of open.
 */
VX_MUST_CHECK int vx_store_task_acquire(struct vx_store *s, const char *id, enum vx_store_use use,
					struct vx_store_task **out);

/*
 * vx_store_task_release() - drop one handle of @t held for @use. PIECE PATH. Everything lent
 * through this handle (fds, mappings, piece refs) must no longer be used by the caller. Write
 * reservations of a DOWNLOAD handle stay until committed or aborted: abort them first.
 */
void vx_store_task_release(struct vx_store_task *t, enum vx_store_use use);

/* ------------------------------------------------------------------------------------------- */
/* Memory tier (memtier.c)                                                                     */

/*
 * vx_store_task_memory_load() - keep a copy of COMPLETE task @t (a handle held) in memory: a
 * memfd, sealed against writes, growth and shrinking, within cfg.memory_budget_bytes (shared
 * with memory tasks). Write-through: the content file stays the durable copy, so dropping the
 * copy never loses a byte. Idle copies (no handle held on their task) are dropped least
 * recently used first to make room; a copy whose task is held is pinned. From now on
 * vx_store_piece_get() lends the copy. BLOCKING (reads the whole content once).
 * Returns 0 (in memory, also when it already was or @t is a memory task), -EAGAIN (not
 * complete), -EBUSY (another load of @t runs), -ENOSPC (does not fit the budget even after
 * dropping idle copies: the task is served from disk), -ENOMEM or -errno of memfd/copy.
 */
VX_MUST_CHECK int vx_store_task_memory_load(struct vx_store_task *t);

/*
 * vx_store_task_memory_fd() - a new read-only descriptor (O_RDONLY, close-on-exec, owned by
 * the caller) of @t's memory copy, for handing to a local reader: the memfd is sealed, so
 * nobody can change the bytes through it. Returns the fd, -ENOENT (no copy) or -errno.
 */
VX_MUST_CHECK int vx_store_task_memory_fd(struct vx_store_task *t);

/* Whether @t has a memory-tier copy now (a hint unless a handle is held). Any thread. */
bool vx_store_task_in_memory(const struct vx_store_task *t);

/* Copies @t's description into @out (borrowed). PIECE PATH. */
void vx_store_task_info(struct vx_store_task *t, struct vx_store_task_info *out);

/* The task id, NUL-terminated, lent while the handle is held. PIECE PATH. */
const char *vx_store_task_id(const struct vx_store_task *t);

/*
 * The source URL the task was created with, NUL-terminated ("" when none), lent while the
 * handle is held; a restarted daemon resumes unfinished tasks from it. PIECE PATH.
 */
const char *vx_store_task_url(const struct vx_store_task *t);

/*
 * vx_store_task_set_private() - mark @t private for good (a request for it carried
 * credentials): the mark is in the metadata (table task_private) and in
 * vx_store_task_info().priv, and goes when the task is deleted. Blocks on sqlite. Returns 0 or
 * VX_EDB / VX_EDB_BUSY / -ENOSPC.
 */
VX_MUST_CHECK int vx_store_task_set_private(struct vx_store_task *t);

/* Number of pieces of @t. PIECE PATH, lock-free. */
uint32_t vx_store_task_piece_count(const struct vx_store_task *t);

/*
 * vx_store_task_fail() - mark @t FAILED with @err (a negative errno or VX_E*), wake every waiter
 * with @err and refuse further writes until the task is opened again. Finished pieces are kept.
 * PIECE PATH. Failing a COMPLETE task is a no-op.
 */
void vx_store_task_fail(struct vx_store_task *t, int err);

/*
 * vx_store_task_list() - copy the description of up to @max tasks into @out (borrowed, @max
 * entries), in no particular order, for `vx task ls` and metrics. Any thread, not the piece
 * path (holds the store lock for the walk). Returns the number of tasks in the store, which
 * may exceed @max (then only @max were copied).
 */
uint32_t vx_store_task_list(struct vx_store *s, struct vx_store_task_info *out, uint32_t max);

/*
 * vx_store_task_remove() - delete task @id: content file, metadata rows and memory. BLOCKING.
 * Returns 0, -ENOENT, -EBUSY (a handle is held; nothing changes), or VX_EDB.
 */
VX_MUST_CHECK int vx_store_task_remove(struct vx_store *s, const char *id);

/*
 * vx_store_task_export_at() - put the complete content of @t at @name in the directory @dirfd
 * (O_PATH is enough). BLOCKING. Reflinks (FICLONE) or, where the filesystem cannot, copies the
 * content with copy_file_range into a temporary file beside @name (created with O_EXCL|O_NOFOLLOW, mode 0600 until complete), fsyncs it and renames it into
 * place, so @name is never seen half-written; the output is then the user's own file and
 * editing it never changes what the store serves. Only with HARDLINK or LINK_ONLY is the
 * content file hard-linked (same filesystem). Memory tasks are always copied. Every step is
 * relative to @dirfd and @name is one path component, so nothing follows a link or a path
 * someone swapped after @dirfd was opened. The files are created with the calling thread's
 * filesystem credentials (a daemon acting for a client switches them first).
 * @name: borrowed; vx_store_export_name_ok(). @flags: enum vx_store_export_flags.
 * Returns 0; -EINVAL (@name is not one component); -EAGAIN (the task is not COMPLETE);
 * -EEXIST (@name exists and no OVERWRITE); -EISDIR; -EXDEV (LINK_ONLY and a link is
 * impossible); -ENOSPC or other -errno of the copy (nothing is left at @name or beside it).
 */
VX_MUST_CHECK int vx_store_task_export_at(struct vx_store_task *t, int dirfd, const char *name,
					  unsigned int flags);

/* vx_store_task_export() - vx_store_task_export_at() in the directory of @path, opened once. */
VX_MUST_CHECK int vx_store_task_export(struct vx_store_task *t, const char *path,
				       unsigned int flags);

/*
 * An output written during the download (issue 19 goal 4). vx_store_output_open() creates the
 * hidden temporary file an export would (".NAME.vx-XXXXXX" beside @name in @dirfd, 0600, with
 * the calling thread's filesystem credentials: the client's when the daemon acts for one) at
 * the job's start. The fetcher then writes each piece there too, from the buffers it receives
 * into (vx_store_output_fd(), vx_store_output_piece_done()), and vx_store_task_export_output()
 * copies from the store only the pieces that did not arrive so, syncs and puts the file at
 * @name as vx_store_task_export_at() does. The store keeps its own copy of every byte: the
 * output is the user's inode, and editing it never changes what peers are served.
 * Reference counted (any thread): the last vx_store_output_unref() closes the file and
 * removes the temporary name unless it was placed.
 */
struct vx_store_output;

/* BLOCKING. @dirfd is duplicated, @name copied. Returns 0 or -errno (nothing left behind). */
VX_MUST_CHECK int vx_store_output_open(int dirfd, const char *name, struct vx_store_output **out);
struct vx_store_output *vx_store_output_ref(struct vx_store_output *o);
void vx_store_output_unref(struct vx_store_output *o);

/*
 * vx_store_output_attach() - sizes @o for @t's geometry (fallocate, as fio --fallocate=native,
 * and a bitmap of the pieces written) and turns O_DIRECT on where the filesystem takes it.
 * BLOCKING (one fallocate). Once per output: -EBUSY after. Returns 0, 1 when the filesystem
 * reflinks @t's file into @o (nothing to write during the download: the export clones it), or
 * -errno (then the export copies everything, as without an output).
 */
VX_MUST_CHECK int vx_store_output_attach(struct vx_store_output *o, struct vx_store_task *t);
/* The file to write pieces to at their content offsets; @direct and @align as the fetcher's. */
int vx_store_output_fd(const struct vx_store_output *o, bool *direct, uint32_t *align);
/* All of piece @n is in the file (any thread). */
void vx_store_output_piece_done(struct vx_store_output *o, uint32_t n);

/*
 * vx_store_task_export_output() - completes @o from the COMPLETE task @t (the pieces not
 * marked done; everything when none is), syncs it and puts it at its name as
 * vx_store_task_export_at() does (@flags: OVERWRITE only). BLOCKING; call with the client's
 * credentials, as the open. Once: -EALREADY after. Returns as vx_store_task_export_at().
 */
VX_MUST_CHECK int vx_store_task_export_output(struct vx_store_task *t, struct vx_store_output *o,
					      unsigned int flags);

/* True when @name is one path component: not empty, no '/', not "." or "..", <= NAME_MAX. */
bool vx_store_export_name_ok(const char *name);

/*
 * vx_store_open_output_dir() - open the directory of @path (O_PATH|O_DIRECTORY, following links
 * as an open(2) by the caller would) and point @name at @path's last component. Returns the
 * descriptor, or -EINVAL (the last component is not a file name), -ENAMETOOLONG, -errno.
 */
VX_MUST_CHECK int vx_store_open_output_dir(const char *path, const char **name);

/*
 * vx_store_task_import() - put the local file @path into the store as the task @p describes
 * (typically a PERSISTENT_CACHE task whose id the caller derived from the file, as dfcache
 * import does) and return it COMPLETE and durable, held for @use. BLOCKING. The bytes are
 * copied (copy_file_range: a reflink where the filesystem can), never linked, so later edits of
 * @path cannot change the cached content; every piece's CRC is computed from the store's copy.
 * Importing a task that is already COMPLETE only returns it.
 * @p: borrowed; p->content_length must equal the size of @path. @path: borrowed.
 * @out: OUT, lent until vx_store_task_release(t, @use).
 * Returns 0; -EINVAL (size mismatch, or the errors of vx_store_task_open()); -errno of reading
 * @path; -ENOSPC. On failure a task created by this call is removed again.
 */
VX_MUST_CHECK int vx_store_task_import(struct vx_store *s, const struct vx_store_task_params *p,
				       const char *path, enum vx_store_use use,
				       struct vx_store_task **out);

/*
 * vx_store_task_import_fd() - vx_store_task_import() of the regular file open at @src
 * (borrowed; a daemon opens it with its client's rights). The content file is a reflink
 * (FICLONE) of @src where the filesystem can, else a copy; never a link. Same returns.
 */
VX_MUST_CHECK int vx_store_task_import_fd(struct vx_store *s, const struct vx_store_task_params *p,
					  int src, enum vx_store_use use,
					  struct vx_store_task **out);

/*
 * vx_store_task_check_digest() - read the whole content of COMPLETE task @t and compare it with
 * @want (borrowed; parsed by vortex's vx_digest_spec_parse()). BLOCKING (reads every byte). Returns 0 when it matches, VX_EDIGEST when it
 * does not, -EAGAIN when @t is not COMPLETE, -ENOMEM, -EIO (crypto library) or -errno of a read.
 */
VX_MUST_CHECK int vx_store_task_check_digest(struct vx_store_task *t,
					     const struct vx_digest_spec *want);

/* ------------------------------------------------------------------------------------------- */
/* Pieces: availability                                                                        */

/* True when piece @number of @t is finished and readable. PIECE PATH, lock-free. */
bool vx_store_piece_is_finished(const struct vx_store_task *t, uint32_t number);

/*
 * vx_store_task_bitmap() - copy @t's finished-piece bitfield into @out: piece n is bit
 * (7 - n % 8) of byte n / 8 (BitTorrent order), spare bits zero. PIECE PATH, lock-free; a piece
 * finishing meanwhile may or may not appear. @out: borrowed, @out_len bytes.
 * Returns the bytes written ((piece_count + 7) / 8), or -ENOBUFS if @out_len is too small.
 */
VX_MUST_CHECK ssize_t vx_store_task_bitmap(const struct vx_store_task *t, uint8_t *out,
					   size_t out_len);

/*
 * vx_store_task_finished_since() - the pieces that finished after position *@cursor of @t's
 * finish log (the order in which pieces finished, since the task was loaded). Copies up to @max
 * piece numbers into @out (borrowed) and advances *@cursor past them. Start with *@cursor = 0
 * to get every finished piece. PIECE PATH. Returns the count copied.
 */
uint32_t vx_store_task_finished_since(struct vx_store_task *t, uint32_t *cursor, uint32_t *out,
				      uint32_t max);

/* ------------------------------------------------------------------------------------------- */
/* Pieces: reading (uploads)                                                                   */

/*
 * vx_store_piece_get() - describe finished piece @number of @t for sending. PIECE PATH, no
 * syscall. @ref: OUT, lent until the task handle is released.
 * Returns 0; -EAGAIN (not finished yet: wait with vx_store_wait_piece()); -ERANGE (no such
 * piece); or the task's error when it FAILED and the piece is missing.
 */
VX_MUST_CHECK int vx_store_piece_get(struct vx_store_task *t, uint32_t number,
				     struct vx_store_piece_ref *ref);

/*
 * vx_store_piece_read() - copy finished piece @number into @buf (borrowed, @len >= the piece
 * length). BLOCKING (pread). Returns the piece length, -EAGAIN, -ERANGE, -ENOBUFS, or -errno.
 */
VX_MUST_CHECK ssize_t vx_store_piece_read(struct vx_store_task *t, uint32_t number, void *buf,
					  size_t len);

/*
 * vx_store_piece_verify() - read finished piece @number back from the file and check its CRC.
 * BLOCKING. Returns 0, VX_EDIGEST, -EAGAIN (not finished), -ERANGE, -ENOMEM or -errno.
 */
VX_MUST_CHECK int vx_store_piece_verify(struct vx_store_task *t, uint32_t number);

/*
 * vx_store_piece_wait() - block up to @timeout_ms until piece @number is finished. BLOCKING.
 * Returns 0, -ETIMEDOUT, -ERANGE, or the task's error if it fails meanwhile.
 */
VX_MUST_CHECK int vx_store_piece_wait(struct vx_store_task *t, uint32_t number,
				      uint32_t timeout_ms);

/* ------------------------------------------------------------------------------------------- */
/* Pieces: writing (downloads)                                                                 */

/*
 * vx_store_piece_begin_write() - reserve piece @number of @t for writing and say where to write
 * it. PIECE PATH, no syscall. The caller writes [io->offset, io->offset + io->length) of io->fd
 * itself (io_uring, any number of writes, each at most VX_STORE_IO_MAX bytes; when io->direct,
 * every buffer address, offset and length must be a multiple of io->align), then calls
 * vx_store_piece_commit() or vx_store_piece_abort(). The caller must hold a DOWNLOAD handle.
 * @io: OUT; its fd is lent until commit or abort.
 * Returns 0; -EALREADY (already finished: nothing to do); -EBUSY (another writer holds it);
 * -ERANGE (no such piece); or the task's error when it FAILED.
 */
VX_MUST_CHECK int vx_store_piece_begin_write(struct vx_store_task *t, uint32_t number,
					     struct vx_store_piece_io *io);

/*
 * vx_store_piece_commit() - publish piece @number, fully written, whose bytes the caller
 * verified to have CRC @done->crc32. PIECE PATH: marks it finished, sets its bitmap bit, appends
 * it to the finish log, wakes its waiters and hands it to the flusher, which makes it durable
 * later (vx_store_flush() forces that). Completes the task when it was the last piece.
 * @done: borrowed for the call.
 * Returns 0, or -EINVAL if @number was not reserved by vx_store_piece_begin_write().
 */
VX_MUST_CHECK int vx_store_piece_commit(struct vx_store_task *t, uint32_t number,
					const struct vx_store_piece_done *done);

/*
 * vx_store_piece_abort() - give up the reservation of piece @number; it becomes missing again.
 * PIECE PATH. @err: 0 for a plain give-up (peer failed, digest mismatch), or the write's
 * negative errno: -ENOSPC, -EIO, -EDQUOT, -EROFS and -EFBIG fail the whole task (see
 * vx_store_task_fail()), because no other source of the bytes can help.
 */
void vx_store_piece_abort(struct vx_store_task *t, uint32_t number, int err);

/*
 * vx_store_piece_write() - the blocking form for tools and tests: reserve, write @len bytes
 * from @buf (borrowed; @len must equal the piece length), check them against @expect_crc32 when
 * @check is true, and commit. Uses O_DIRECT when @buf and the piece allow it. BLOCKING.
 * Returns 0; -EALREADY; -EBUSY; -ERANGE; -EINVAL (wrong length); VX_EDIGEST (nothing
 * published); -ENOSPC and other write errors (the task FAILs as in vx_store_piece_abort()).
 */
VX_MUST_CHECK int vx_store_piece_write(struct vx_store_task *t, uint32_t number, const void *buf,
				       size_t len, bool check, uint32_t expect_crc32,
				       const char *parent_id);

/* ------------------------------------------------------------------------------------------- */
/* Waiting without blocking (for io_uring threads)                                            */

/*
 * Callback of a fired waiter, run by vx_store_notifier_drain() on the notifier's thread.
 * @status: 0 (the piece finished / progress was made) or the task's negative error. The waiter
 * is idle again when it runs: it may be re-armed or freed inside.
 */
typedef void (*vx_store_wait_fn)(struct vx_store_waiter *w, int status);

/*
 * A waiter is embedded by the caller (no allocation in the store). Set @fn and @arg, then arm it
 * with vx_store_wait_piece() or vx_store_wait_progress(). The other fields are private.
 */
struct vx_store_waiter {
	vx_store_wait_fn fn; /* called on the notifier's thread */
	void *arg;	     /* the caller's context */
	/* private to the store */
	struct vx_list link;		    /* on the task's list, then the notifier's */
	struct vx_store_task *task;	    /* borrowed while armed */
	struct vx_store_notifier *notifier; /* where it fires */
	uint32_t piece;			    /* piece number, or progress threshold */
	int status;			    /* result once fired */
	uint8_t state;			    /* idle, armed, ready */
	uint8_t kind;			    /* piece or progress */
};

/*
 * vx_store_notifier_new() - create a notifier: an eventfd plus a queue of fired waiters, owned
 * by the calling thread. @out: OUT, returns owned (vx_store_notifier_free()).
 * Returns 0, -ENOMEM or -errno of eventfd.
 */
VX_MUST_CHECK int vx_store_notifier_new(struct vx_store *s, struct vx_store_notifier **out);

/* Takes @n; NULL is a no-op. No waiter may be armed on it (asserted). Owner thread only. */
void vx_store_notifier_free(struct vx_store_notifier *n);

/*
 * The notifier's eventfd (non-blocking), lent while the notifier lives: poll it or read it
 * (8 bytes) from a ring; when it becomes readable, call vx_store_notifier_drain().
 */
int vx_store_notifier_fd(const struct vx_store_notifier *n);

/*
 * vx_store_notifier_drain() - clear the eventfd and run the callbacks of up to @max fired
 * waiters, on the calling (owner) thread. PIECE PATH. Returns how many callbacks ran; when it
 * returns @max, more may be pending (the eventfd is re-signalled).
 */
unsigned int vx_store_notifier_drain(struct vx_store_notifier *n, unsigned int max);

/*
 * vx_store_wait_piece() - arm @w to fire on @n when piece @number of @t finishes (status 0) or
 * @t fails (its error). PIECE PATH. @w is lent until it fires or is cancelled; @t must stay held.
 * Returns 0 (armed); -EALREADY (already finished: not armed, no callback); -ERANGE; -EBUSY (@w
 * is armed already); or the task's error (FAILED: not armed).
 */
VX_MUST_CHECK int vx_store_wait_piece(struct vx_store_task *t, uint32_t number,
				      struct vx_store_waiter *w, struct vx_store_notifier *n);

/*
 * vx_store_wait_progress() - arm @w to fire on @n once @t's finish log holds more than @seen
 * pieces (read them with vx_store_task_finished_since()), or @t fails. Use it to send HAVE
 * updates: re-arm with the new cursor in the callback. PIECE PATH.
 * Returns 0 (armed), -EALREADY (already more than @seen: not armed), -EBUSY, or the task error.
 */
VX_MUST_CHECK int vx_store_wait_progress(struct vx_store_task *t, uint32_t seen,
					 struct vx_store_waiter *w, struct vx_store_notifier *n);

/*
 * vx_store_wait_cancel() - disarm @w. Owner thread only. PIECE PATH. After it returns the
 * callback will not run (also when @w had fired but was not drained yet). Returns true when @w
 * was armed or pending, false when it was idle.
 */
bool vx_store_wait_cancel(struct vx_store_waiter *w);

/* ------------------------------------------------------------------------------------------- */
/* Garbage collection                                                                          */

/*
 * vx_store_gc() - one GC pass. BLOCKING. In order: removes tasks whose TTL passed (normal: last
 * access + cfg.task_ttl_s; persistent cache: created + ttl); when usage >= cfg.gc_high_pct of
 * the capacity, removes least recently used tasks until usage <= cfg.gc_low_pct; drops the page
 * cache (fadvise DONTNEED) of complete tasks idle for cfg.page_cache_idle_s; closes idle files
 * beyond cfg.max_open_files. Never removes a task with a handle held, nor a persistent-cache
 * task before its TTL. Usage counts the store's own files only.
 * @report: OUT (may be NULL). Returns 0 or VX_EDB (the pass stops; the store stays consistent).
 */
VX_MUST_CHECK int vx_store_gc(struct vx_store *s, struct vx_store_gc_report *report);

/*
 * vx_store_set_gc() - change the GC's watermarks (percent of the capacity), the TTL of normal
 * tasks and the background pass interval while the store runs (the cluster configuration);
 * 0 keeps a value. The next pass uses them. Any thread. Returns 0, or -EINVAL when the result
 * would not have low < high <= 100 (nothing changed then).
 */
VX_MUST_CHECK int vx_store_set_gc(struct vx_store *s, uint32_t high_pct, uint32_t low_pct,
				  uint64_t task_ttl_s, uint32_t interval_s);

#endif /* VX_STORE_H */
