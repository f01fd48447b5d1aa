/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_cache.c: the persistent cache verbs of the local API (`vx cache import|export|stat|rm`,
 * spec/peer.md section "Persistent cache"). Each runs on a thread of its own, because an import
 * copies a whole file, and answers its call once.
 *
 * Import: the file is opened with the client's rights (peer_creds.c) by a root daemon, never
 * with the daemon's own; it must be a regular file nobody has open for writing (a read lease
 * is the kernel's answer to that), and it must look the same (size, mtime, ctime) before the
 * task id is hashed and after the store took its copy: a file still being written is refused,
 * and the store's copy is removed again. The bytes go in by reflink where the filesystem can,
 * else by copy (vx_store_task_import_fd()); never a hard link the user could still edit. The
 * task id follows spec/vortex.md section 7 for persistent cache tasks (sha256 of the file bytes,
 * tag, application, a fixed piece length, "PERSISTENT_CACHE"), unless the client gives one.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "peer_int.h"
#include "vx_alloc.h"
#include "vx_api_msg.h"
#include "vx_err.h"
#include "vx_piece_plan.h"
#include "vx_task_id.h"
#include "vx_time.h"

/* Dragonfly's dfcache defaults: 2 replicas, 1 h, TTL within 1 min .. 7 d. */
#define CACHE_REPLICAS_DEFAULT 2u
#define CACHE_TTL_DEFAULT_S    3600u
#define CACHE_TTL_MIN_S	       60u
#define CACHE_HASH_BUF	       (1u << 20)

struct cache_call {
	struct vx_peer *peer;
	const struct vx_download_request *req; /* the call's, until done() */
	vx_peer_cache_done_fn done;
	void *arg;
	struct vx_download_result res;
};

static int cache_fail(struct cache_call *c, int rc, const char *fmt, ...) VX_PRINTF(3, 4);
static int cache_fail(struct cache_call *c, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->res.msg, sizeof(c->res.msg), fmt, ap);
	va_end(ap);
	c->res.status = rc;
	return rc;
}

/* The client's rights for a root daemon serving another uid, as a download job has them. */
static bool cache_as_client(const struct vx_download_request *r, struct peer_job *j)
{
	memset(j, 0, sizeof(*j));
	if (geteuid() != 0 || r->uid == 0)
		return false;
	j->uid = r->uid;
	j->gid = r->gid;
	j->nr_groups = VX_MIN(r->nr_groups, (uint32_t)VX_DOWNLOAD_GROUPS_MAX);
	if (r->groups && j->nr_groups)
		memcpy(j->groups, r->groups, j->nr_groups * sizeof(j->groups[0]));
	return true;
}

/* Opens @path for reading as the client would. Returns the fd or -errno. */
static int cache_open_input(const struct vx_download_request *r, const char *path)
{
	struct peer_creds_saved saved;
	struct peer_job j;
	bool as = cache_as_client(r, &j);
	int fd, rc;

	if (as) {
		rc = vx__peer_creds_enter(&j, &saved);
		if (rc)
			return rc;
	}
	fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	rc = fd < 0 ? -errno : fd;
	if (as)
		vx__peer_creds_leave(&saved);
	return rc;
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec && a->st_ino == b->st_ino;
}

/*
 * True when someone has @fd's file open for writing: the kernel grants a read lease only when
 * nobody does. The lease is dropped at once (a held lease would get SIGIO on a later open). A
 * daemon that may not take leases on the file (not its owner, no CAP_LEASE) cannot tell: the
 * before-and-after comparison still catches a writer that writes.
 */
static bool open_for_writing(int fd)
{
	if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
		(void)fcntl(fd, F_SETLEASE, F_UNLCK);
		return false;
	}
	return errno == EAGAIN || errno == EBUSY;
}

static int cache_hash(int fd, uint64_t len, const struct vx_download_request *r, char *id)
{
	struct vx_task_id_hasher *h = NULL;
	uint8_t *buf = vx_malloc(CACHE_HASH_BUF);
	uint64_t off = 0;
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = vx_task_id_hasher_new(&h);
	while (!rc && off < len) {
		ssize_t n = pread(fd, buf, (size_t)VX_MIN(len - off, (uint64_t)CACHE_HASH_BUF),
				  (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno
				   : -EAGAIN; /* shorter than it was: it is being written */
			break;
		}
		rc = vx_task_id_hasher_update(h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	if (!rc)
		rc = vx_task_id_hasher_final_persistent_cache(h, r->tag, r->application,
							      r->piece_length, id);
	vx_task_id_hasher_free(h);
	vx_free(buf);
	return rc;
}

static uint64_t cache_ttl_left(const struct vx_store_task_info *in)
{
	int64_t left = in->created_s + (int64_t)in->ttl_s - (int64_t)time(NULL);

	return left > 0 ? (uint64_t)left : 0;
}

static void cache_fill(struct cache_call *c, const struct vx_store_task_info *in)
{
	memcpy(c->res.task_id, in->id, sizeof(c->res.task_id));
	c->res.totals.content_length = in->content_length;
	c->res.totals.piece_count = in->piece_count;
	c->res.piece_length = in->piece_length;
	c->res.ttl_left_s = cache_ttl_left(in);
}

static int cache_import(struct cache_call *c)
{
	const struct vx_download_request *r = c->req;
	struct vx_store_task_params tp = { 0 };
	struct vx_store_task_info in;
	struct vx_store_task *t = NULL;
	struct stat before, after;
	char id[VX_TASK_ID_LEN + 1];
	uint32_t replicas = r->replicas ? r->replicas : CACHE_REPLICAS_DEFAULT;
	uint64_t ttl = r->ttl_s ? r->ttl_s : CACHE_TTL_DEFAULT_S;
	int fd, rc;

	c->res.stage = VX_DOWNLOAD_STAGE_REQUEST;
	if (!r->cache_input || r->cache_input[0] != '/')
		return cache_fail(c, -EINVAL, "the file to import must be an absolute path");
	if (replicas > VX_API_REPLICAS_MAX)
		return cache_fail(c, -EINVAL, "replicas must be 1 .. %u", VX_API_REPLICAS_MAX);
	if (ttl < CACHE_TTL_MIN_S || ttl > VX_API_TTL_MAX)
		return cache_fail(c, -EINVAL, "the TTL must be 1 min .. 7 d");
	c->res.stage = VX_DOWNLOAD_STAGE_SOURCE;
	fd = cache_open_input(r, r->cache_input);
	if (fd < 0)
		return cache_fail(c, fd, "cannot open %s%s: %s", r->cache_input,
				  fd == -EACCES ? " as the client (uid given by the socket)" : "",
				  vx_strerror(fd));
	if (fstat(fd, &before) != 0) {
		rc = cache_fail(c, -errno, "cannot stat %s: %s", r->cache_input,
				vx_strerror(-errno));
		goto out;
	}
	if (S_ISDIR(before.st_mode)) {
		rc = cache_fail(c, -EISDIR, "%s is a directory: import one file", r->cache_input);
		goto out;
	}
	if (!S_ISREG(before.st_mode)) {
		rc = cache_fail(c, -EINVAL, "%s is not a regular file", r->cache_input);
		goto out;
	}
	if (open_for_writing(fd)) {
		rc = cache_fail(c, -ETXTBSY,
				"%s is open for writing: import it once it is complete",
				r->cache_input);
		goto out;
	}
	if (r->cache_id) {
		if (!vx_task_id_valid(r->cache_id, strlen(r->cache_id))) {
			rc = cache_fail(c, -EINVAL, "a task id is 64 lowercase hex characters");
			goto out;
		}
		memcpy(id, r->cache_id, sizeof(id));
	} else {
		rc = cache_hash(fd, (uint64_t)before.st_size, r, id);
		if (rc) {
			cache_fail(c, rc == -EAGAIN ? -ETXTBSY : rc, "cannot read %s: %s",
				   r->cache_input,
				   rc == -EAGAIN ? "it shrank while it was read" : vx_strerror(rc));
			rc = c->res.status;
			goto out;
		}
	}
	c->res.stage = VX_DOWNLOAD_STAGE_STORE;
	tp.id = id;
	tp.content_length = (uint64_t)before.st_size;
	tp.piece_length = r->piece_length;
	tp.kind = VX_STORE_KIND_PERSISTENT_CACHE;
	tp.ttl_s = ttl;
	tp.replicas = replicas;
	rc = vx_store_task_import_fd(c->peer->store, &tp, fd, VX_STORE_USE_READ, &t);
	if (rc) {
		cache_fail(c, rc, "cannot import %s: %s", r->cache_input,
			   rc == -ENOSPC   ? "no room in the store (disk quota or free space)"
			   : rc == -EEXIST ? "the task exists with another size or piece length"
					   : vx_strerror(rc));
		goto out;
	}
	if (fstat(fd, &after) != 0 || !same_file_state(&before, &after) || open_for_writing(fd)) {
		vx_store_task_release(t, VX_STORE_USE_READ);
		if (vx_store_task_remove(c->peer->store, id) != 0)
			vx_warn("cache: cannot remove the import of a changing file %.12s", id);
		rc = cache_fail(c, -ETXTBSY, "%s changed while it was imported: refused",
				r->cache_input);
		goto out;
	}
	vx_store_task_info(t, &in);
	vx_store_task_release(t, VX_STORE_USE_READ);
	cache_fill(c, &in);
	c->res.replicas = replicas;
	c->res.holders = 1;
	vx_info("cache: imported %s as %s (%llu bytes, %u replicas, ttl %llus)", r->cache_input, id,
		(unsigned long long)in.content_length, replicas, (unsigned long long)ttl);
	c->res.stage = VX_DOWNLOAD_STAGE_DONE;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Acquires the persistent cache task @id for reading; fills the answer. */
static int cache_local(struct cache_call *c, struct vx_store_task **t)
{
	struct vx_store_task_info in;
	int rc;

	if (!c->req->cache_id || !vx_task_id_valid(c->req->cache_id, strlen(c->req->cache_id)))
		return cache_fail(c, -EINVAL, "a task id is 64 lowercase hex characters");
	rc = vx_store_task_acquire(c->peer->store, c->req->cache_id, VX_STORE_USE_READ, t);
	if (rc)
		return cache_fail(c, rc, "persistent cache task %s: %s", c->req->cache_id,
				  rc == -ENOENT ? "not held here" : vx_strerror(rc));
	vx_store_task_info(*t, &in);
	if (in.kind != VX_STORE_KIND_PERSISTENT_CACHE || in.state != VX_STORE_TASK_COMPLETE) {
		vx_store_task_release(*t, VX_STORE_USE_READ);
		*t = NULL;
		return cache_fail(c, -ENOENT, "%s is not a complete persistent cache task here",
				  c->req->cache_id);
	}
	cache_fill(c, &in);
	c->res.holders = 1;
	return 0;
}

static int cache_export(struct cache_call *c)
{
	const struct vx_download_request *r = c->req;
	struct peer_creds_saved saved;
	struct vx_store_task *t = NULL;
	struct peer_job j;
	const char *name = NULL;
	bool as = cache_as_client(r, &j);
	int dirfd, rc;

	if (!r->output || r->output[0] != '/')
		return cache_fail(c, -EINVAL, "the output must be an absolute path");
	rc = cache_local(c, &t);
	if (rc)
		return rc;
	c->res.stage = VX_DOWNLOAD_STAGE_EXPORT;
	if (as) {
		rc = vx__peer_creds_enter(&j, &saved);
		if (rc) {
			vx_store_task_release(t, VX_STORE_USE_READ);
			return cache_fail(c, rc, "cannot act as the client: %s", vx_strerror(rc));
		}
	}
	dirfd = vx_store_open_output_dir(r->output, &name);
	rc = dirfd < 0 ? dirfd
		       : vx_store_task_export_at(t, dirfd, name,
						 r->overwrite ? VX_STORE_EXPORT_OVERWRITE : 0);
	if (dirfd >= 0)
		close(dirfd);
	if (as)
		vx__peer_creds_leave(&saved);
	vx_store_task_release(t, VX_STORE_USE_READ);
	if (rc)
		return cache_fail(c, rc, "cannot write %s: %s", r->output,
				  rc == -EEXIST ? "it exists (overwrite it with --force)"
						: vx_strerror(rc));
	c->res.stage = VX_DOWNLOAD_STAGE_DONE;
	return 0;
}

static int cache_stat(struct cache_call *c)
{
	struct vx_store_task *t = NULL;
	int rc = cache_local(c, &t);

	if (rc)
		return rc;
	vx_store_task_release(t, VX_STORE_USE_READ);
	c->res.stage = VX_DOWNLOAD_STAGE_DONE;
	return 0;
}

static int cache_delete(struct cache_call *c)
{
	struct vx_store_task *t = NULL;
	int rc = cache_local(c, &t);

	if (rc)
		return rc;
	vx_store_task_release(t, VX_STORE_USE_READ);
	rc = vx_store_task_remove(c->peer->store, c->req->cache_id);
	if (rc)
		return cache_fail(c, rc, "cannot remove %s: %s", c->req->cache_id,
				  rc == -EBUSY ? "it is being read" : vx_strerror(rc));
	vx_info("cache: removed %s", c->req->cache_id);
	c->res.stage = VX_DOWNLOAD_STAGE_DONE;
	return 0;
}

static void *cache_thread(void *arg)
{
	struct cache_call *c = arg;
	uint64_t start = vx_now_ms();

	switch (c->req->cache_op) {
	case VX_API_CACHE_IMPORT:
		(void)cache_import(c);
		break;
	case VX_API_CACHE_EXPORT:
		(void)cache_export(c);
		break;
	case VX_API_CACHE_STAT:
		(void)cache_stat(c);
		break;
	case VX_API_CACHE_DELETE:
		(void)cache_delete(c);
		break;
	default:
		(void)cache_fail(c, -EOPNOTSUPP, "not a cache verb");
	}
	c->res.totals.elapsed_ms = vx_now_ms() - start;
	if (c->res.status)
		vx_warn("cache: %s: %s", vx_api_type_name(c->req->cache_op), c->res.msg);
	c->done(c->arg, &c->res);
	vx_free(c);
	return NULL;
}

int vx_peer_cache(struct vx_peer *p, const struct vx_download_request *req,
		  vx_peer_cache_done_fn done, void *arg)
{
	pthread_attr_t attr;
	struct cache_call *c;
	pthread_t th;
	int rc;

	c = vx_calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->peer = p;
	c->req = req;
	c->done = done;
	c->arg = arg;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = -pthread_create(&th, &attr, cache_thread, c);
	pthread_attr_destroy(&attr);
	if (rc)
		vx_free(c);
	return rc;
}

uint32_t vx_peer_cache_list(struct vx_peer *p, struct vx_download_task *out, uint32_t max)
{
	struct vx_store_task_info *all;
	uint32_t n, kept = 0, total = 0;

	all = vx_calloc(VX_MAX(max, 1u), sizeof(*all));
	if (!all)
		return 0;
	n = vx_store_task_list(p->store, all, max);
	for (uint32_t i = 0; i < VX_MIN(n, max); i++) {
		if (all[i].kind != VX_STORE_KIND_PERSISTENT_CACHE)
			continue;
		total++;
		memcpy(out[kept].task_id, all[i].id, sizeof(out[kept].task_id));
		out[kept].url = NULL;
		out[kept].state = all[i].state == VX_STORE_TASK_COMPLETE ? VX_DOWNLOAD_TASK_DONE
				  : all[i].state == VX_STORE_TASK_FAILED ? VX_DOWNLOAD_TASK_FAILED
									 : VX_DOWNLOAD_TASK_RUNNING;
		out[kept].content_length = (int64_t)all[i].content_length;
		out[kept].piece_count = all[i].piece_count;
		out[kept].pieces_done = all[i].finished_count;
		kept++;
	}
	vx_free(all);
	return total;
}
