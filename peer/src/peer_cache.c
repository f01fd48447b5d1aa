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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>

#include "peer_int.h"
#include "vx_alloc.h"
#include "vx_api_msg.h"
#include "vx_digest.h"
#include "vx_fetcher.h"
#include "vx_frame.h"
#include "vx_loop.h"
#include "vx_store_glue.h"
#include "vx_err.h"
#include "vx_piece_plan.h"
#include "vx_task_id.h"
#include "vx_time.h"

/* Dragonfly's dfcache defaults: 2 replicas, 1 h; TTL up to 7 d, from 10 s (Dragonfly: 1 min) */
#define CACHE_REPLICAS_DEFAULT 2u
#define CACHE_TTL_DEFAULT_S    3600u
#define CACHE_TTL_MIN_S	       10u
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

/*
 * Runs @fn(@arg) with the client's filesystem rights when the daemon acts for one (@as, @j),
 * else with its own. Returns @fn's result, or the failure to switch.
 */
static int as_client(bool as, const struct peer_job *j, int (*fn)(void *), void *arg)
{
	struct peer_creds_saved saved;
	int rc;

	if (as) {
		rc = vx__peer_creds_enter(j, &saved);
		if (rc)
			return rc;
	}
	rc = fn(arg);
	if (as)
		vx__peer_creds_leave(&saved);
	return rc;
}

static int open_input(void *arg)
{
	int fd = open(arg, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* Opens @path for reading as the client would. Returns the fd or -errno. */
static int cache_open_input(const struct vx_download_request *r, const char *path)
{
	struct peer_job j;
	bool as = cache_as_client(r, &j);

	return as_client(as, &j, open_input, (void *)path);
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

/* ---------------------------------------------------------------- The scheduler */

/* Waits for a scheduler answer (the sched client gives up on its own before). */
#define CACHE_SCHED_WAIT_MS 15000u
/* A fetch from holders ends by then whatever happens (stalls end it much earlier). */
#define CACHE_FETCH_MAX_MS (30u * 60 * 1000)

/* Holder (candidate) of a persistent cache task, as the scheduler names it. */
struct cache_holder {
	char host_id[VX_CTL_ID_MAX + 1];
	char addr[VX_CTL_ADDR_MAX + 1];
	uint16_t port;
	bool complete; /* a full copy; false: a host fetching it, serving what it has */
};

/* What the scheduler said about a task: a cache-stat answer or a replicate event. */
struct cache_ans {
	int status;
	char err[VX_DOWNLOAD_MSG_MAX];
	uint64_t content_len, piece_len, ttl_s, ttl_left_s;
	uint32_t piece_count, replicas;
	uint32_t *crc; /* piece_count, owned; NULL unless every piece has a digest */
	struct cache_holder holders[VX_CTL_CANDS_MAX];
	uint32_t nr_holders;
};

static void ans_release(struct cache_ans *a)
{
	vx_free(a->crc);
	a->crc = NULL;
}

/* Copies @m's geometry, digests and holders into @a (owned). Loop thread. */
static void ans_take(struct cache_ans *a, const struct vx_ctl_msg *m)
{
	a->content_len = m->content_len > 0 ? (uint64_t)m->content_len : 0;
	a->piece_len = m->piece_len;
	a->piece_count = m->piece_count;
	a->replicas = m->replicas;
	a->ttl_s = m->ttl_s;
	a->ttl_left_s = m->ttl_left_s;
	if (m->error.len)
		snprintf(a->err, sizeof(a->err), "%.*s", (int)m->error.len, m->error.ptr);
	a->nr_holders = 0;
	for (uint32_t i = 0; i < m->nr_cands && i < VX_CTL_CANDS_MAX; i++) {
		struct cache_holder *h = &a->holders[a->nr_holders++];

		snprintf(h->host_id, sizeof(h->host_id), "%.*s", (int)m->cands[i].host_id.len,
			 m->cands[i].host_id.ptr);
		snprintf(h->addr, sizeof(h->addr), "%.*s", (int)m->cands[i].addr.len,
			 m->cands[i].addr.ptr);
		h->port = m->cands[i].port;
		h->complete = m->cands[i].complete;
	}
	if (!a->piece_count || m->nr_digests != a->piece_count || !a->piece_len ||
	    a->piece_count != (a->content_len + a->piece_len - 1) / a->piece_len)
		return;
	a->crc = vx_calloc(a->piece_count, sizeof(*a->crc));
	for (uint32_t i = 0; a->crc && i < m->nr_digests; i++) {
		const struct vx_ctl_digest *d = &m->digests[i];

		if (d->piece >= a->piece_count ||
		    vx_digest_parse_crc32(d->digest.ptr, d->digest.len, &a->crc[d->piece])) {
			ans_release(a);
			return;
		}
	}
}

/* One request of a cache thread, sent by the loop; two references: thread and loop. */
struct cache_req {
	struct vx_list node;
	struct vx_peer *peer;
	struct vx_ctl_msg m; /* borrowed from the thread until sent */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned refs;
	bool sent, done;
	struct cache_ans ans;
	void *owned; /* a buffer @m borrows, freed with the request */
};

static void req_unref(struct cache_req *r)
{
	unsigned left;

	pthread_mutex_lock(&r->lock);
	left = --r->refs;
	pthread_mutex_unlock(&r->lock);
	if (left)
		return;
	ans_release(&r->ans);
	vx_free(r->owned);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	vx_free(r);
}

static void req_finish(struct cache_req *r, int status, const struct vx_ctl_msg *resp)
{
	pthread_mutex_lock(&r->lock);
	if (!r->done) {
		r->ans.status = status;
		if (resp)
			ans_take(&r->ans, resp);
		r->sent = r->done = true;
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
}

static void req_answer(void *arg, int status, const struct vx_ctl_msg *resp)
{
	struct cache_req *r = arg;

	req_finish(r, status, resp);
	req_unref(r);
}

/* Pieces a cache fetch finished, told to the upload server's subscribers on the loop. */
struct cache_haves {
	struct vx_list node;
	char id[VX_TASK_ID_LEN + 1];
	uint32_t n;
	uint32_t nums[];
};

static void haves_drain(struct vx_peer *p)
{
	struct vx_list todo;

	vx_list_init(&todo);
	pthread_mutex_lock(&p->mail_lock);
	while (!vx_list_empty(&p->inbox_haves)) {
		struct vx_list *n = p->inbox_haves.next;

		vx_list_del(n);
		vx_list_add_tail(&todo, n);
	}
	pthread_mutex_unlock(&p->mail_lock);
	while (!vx_list_empty(&todo)) {
		struct cache_haves *h = vx_list_first(&todo, struct cache_haves, node);

		vx_list_del(&h->node);
		for (uint32_t i = 0; p->up && !p->shutting_down && i < h->n; i++)
			vx_upload_piece_finished(p->up, h->id, h->nums[i]);
		vx_free(h);
	}
}

void vx__peer_cache_drain(struct vx_peer *p)
{
	struct vx_list todo;

	haves_drain(p);
	vx_list_init(&todo);
	pthread_mutex_lock(&p->mail_lock);
	while (!vx_list_empty(&p->inbox_cache)) {
		struct vx_list *n = p->inbox_cache.next;

		vx_list_del(n);
		vx_list_add_tail(&todo, n);
	}
	pthread_mutex_unlock(&p->mail_lock);
	while (!vx_list_empty(&todo)) {
		struct cache_req *r = vx_list_first(&todo, struct cache_req, node);
		int rc;

		vx_list_del(&r->node);
		rc = p->shutting_down ? -ECANCELED
				      : vx_sched_client_send(p->sc, &r->m, req_answer, r);
		if (rc) {
			req_finish(r, rc, NULL);
			req_unref(r);
			continue;
		}
		pthread_mutex_lock(&r->lock);
		r->sent = true; /* the message is encoded: the thread's memory is free again */
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->lock);
	}
}

/*
 * Queues @m (copied; what it points to is borrowed until the request is sent, or is @owned,
 * freed with the request) for the loop to send. Returns the request, with two references
 * (the caller's and the loop's), or NULL with *@rc: -ENOTCONN (no scheduler), -ENOMEM,
 * -ECANCELED (the daemon stops; @owned is freed).
 */
static struct cache_req *sched_submit(struct vx_peer *p, const struct vx_ctl_msg *m, void *owned,
				      int *rc)
{
	struct cache_req *r;

	*rc = !p->sc ? -ENOTCONN : 0;
	r = *rc ? NULL : vx_calloc(1, sizeof(*r));
	if (!r) {
		*rc = *rc ? *rc : -ENOMEM;
		vx_free(owned);
		return NULL;
	}
	r->peer = p;
	r->m = *m;
	r->owned = owned;
	r->refs = 2;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	pthread_mutex_lock(&p->mail_lock);
	if (p->stopping) {
		pthread_mutex_unlock(&p->mail_lock);
		r->refs = 1;
		req_unref(r);
		*rc = -ECANCELED;
		return NULL;
	}
	vx_list_add_tail(&p->inbox_cache, &r->node);
	vx__peer_wake_locked(p);
	pthread_mutex_unlock(&p->mail_lock);
	return r;
}

/*
 * Sends @m (borrowed) to the scheduler through the loop and waits for the answer, copied into
 * @out (owned by the caller: ans_release()). Returns the status: the scheduler's, or -ENOTCONN
 * (no scheduler), -ETIMEDOUT, -ECANCELED (the daemon stops).
 */
static int sched_call_once(struct vx_peer *p, struct vx_ctl_msg *m, struct cache_ans *out)
{
	struct cache_req *r;
	struct timespec ts;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	r = sched_submit(p, m, NULL, &rc);
	if (!r)
		return out->status = rc;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += CACHE_SCHED_WAIT_MS / 1000;
	pthread_mutex_lock(&r->lock);
	while (!r->done && rc != ETIMEDOUT && !atomic_load(&p->cache_stop))
		rc = pthread_cond_timedwait(&r->cond, &r->lock, &ts);
	/* @m must outlive its sending: the loop drains the mailbox promptly, or fails it on stop */
	while (!r->sent && !atomic_load(&p->cache_stop))
		pthread_cond_wait(&r->cond, &r->lock);
	if (r->done) {
		*out = r->ans;
		r->ans.crc = NULL;
	} else {
		out->status = atomic_load(&p->cache_stop) ? -ECANCELED : -ETIMEDOUT;
	}
	pthread_mutex_unlock(&r->lock);
	req_unref(r);
	return out->status;
}

/* sched_call_once(), again while no scheduler connection is up yet (a daemon just started,
 * or reconnecting), for at most CACHE_SCHED_WAIT_MS. */
static int sched_call(struct vx_peer *p, struct vx_ctl_msg *m, struct cache_ans *out)
{
	uint64_t end = vx_now_ms() + CACHE_SCHED_WAIT_MS;
	int rc;

	for (;;) {
		rc = sched_call_once(p, m, out);
		if (rc != -ENOTCONN || !p->sc || vx_now_ms() >= end || atomic_load(&p->cache_stop))
			return rc;
		ans_release(out);
		usleep(200 * 1000);
	}
}

void vx__peer_cache_quiesce(struct vx_peer *p)
{
	/* the loop is gone: fail what it never took */
	pthread_mutex_lock(&p->mail_lock);
	while (!vx_list_empty(&p->inbox_cache)) {
		struct cache_req *r = vx_list_first(&p->inbox_cache, struct cache_req, node);

		vx_list_del(&r->node);
		pthread_mutex_unlock(&p->mail_lock);
		req_finish(r, -ECANCELED, NULL);
		req_unref(r);
		pthread_mutex_lock(&p->mail_lock);
	}
	pthread_mutex_unlock(&p->mail_lock);
	for (int i = 0; i < 6000 && atomic_load(&p->cache_live); i++)
		usleep(10000);
	if (atomic_load(&p->cache_live))
		vx_warn("cache: %u persistent cache requests still running at exit",
			atomic_load(&p->cache_live));
	pthread_mutex_lock(&p->mail_lock);
	while (!vx_list_empty(&p->inbox_haves)) {
		struct cache_haves *h = vx_list_first(&p->inbox_haves, struct cache_haves, node);

		vx_list_del(&h->node);
		vx_free(h);
	}
	pthread_mutex_unlock(&p->mail_lock);
}

/* ---------------------------------------------------------------- Fetching from holders */

/* A message about task @id of @type to the scheduler. */
static void sched_msg(struct vx_ctl_msg *m, enum vx_ctl_type type, const char *id)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->task_id = (struct vx_ctl_str){ id, VX_TASK_ID_LEN };
	m->has = VX_CTL_F_TASK_ID;
}

/* Holders one fetch remembers: the first answer's and those later cache-stats added. */
#define CACHE_FETCH_HOLDERS 64
/* How often a fetch asks the scheduler again (with its bitmap: it serves what it has). */
#define CACHE_REFRESH_MS 500u

struct cache_fetch {
	struct vx_peer *peer;
	const char *id;
	bool done;
	int status;
	uint32_t liars;
	struct cache_holder holders[CACHE_FETCH_HOLDERS];
	uint32_t nr_holders;
	int idx_holder[16]; /* fetcher parent index -> holders[] */
	struct vx_fetcher *fx;
	struct vx_store_task *t;
	uint32_t piece_count;
	uint32_t *fresh; /* pieces finished since the last hand-over to the loop */
	uint32_t nr_fresh;
	struct cache_req *stat; /* the cache-stat in flight, or NULL */
	uint64_t next_stat_ms;
};

static void fx_done(void *arg, int status)
{
	struct cache_fetch *f = arg;

	f->done = true;
	f->status = status;
}

static void fx_piece(void *arg, uint32_t number)
{
	struct cache_fetch *f = arg;

	if (f->fresh && f->nr_fresh < f->piece_count)
		f->fresh[f->nr_fresh++] = number;
}

/* Hands the pieces finished since the last call to the daemon's loop: its upload server
 * tells the subscribed fetchers of other hosts (HAVE), so they can take them from here. */
static void haves_flush(struct cache_fetch *f)
{
	struct vx_peer *p = f->peer;
	struct cache_haves *h;

	if (!f->nr_fresh)
		return;
	h = vx_malloc(sizeof(*h) + f->nr_fresh * sizeof(h->nums[0]));
	if (h) {
		memcpy(h->id, f->id, VX_TASK_ID_LEN);
		h->id[VX_TASK_ID_LEN] = '\0';
		h->n = f->nr_fresh;
		memcpy(h->nums, f->fresh, f->nr_fresh * sizeof(h->nums[0]));
		pthread_mutex_lock(&p->mail_lock);
		if (p->stopping) {
			vx_free(h);
		} else {
			vx_list_add_tail(&p->inbox_haves, &h->node);
			vx__peer_wake_locked(p);
		}
		pthread_mutex_unlock(&p->mail_lock);
	}
	f->nr_fresh = 0;
}

static void fx_dropped(void *arg, uint32_t index, enum vx_fetch_drop why, int err)
{
	struct cache_fetch *f = arg;
	const char *who = index < 16 && f->idx_holder[index] >= 0
				  ? f->holders[f->idx_holder[index]].host_id
				  : "?";

	if (why == VX_FETCH_DROP_DIGEST) {
		f->liars++;
		vx_warn("cache: holder %s of %.12s sent a piece that does not match the digests "
			"recorded at import: not used again",
			who, f->id);
	} else {
		vx_info("cache: holder %s of %.12s dropped: %s", who, f->id, vx_strerror(err));
	}
}

static int holder_sockaddr(const struct cache_holder *h, struct sockaddr_storage *ss,
			   socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, h->addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(h->port);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, h->addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(h->port);
		*len = sizeof(*a6);
		return 0;
	}
	return -EINVAL;
}

/* Adds holder @h as a parent of the fetch (once per host); false when it cannot be. */
static bool holder_take(struct cache_fetch *f, const struct cache_holder *h)
{
	struct sockaddr_storage ss;
	socklen_t len;
	uint32_t k;
	int idx;

	if (strcmp(h->host_id, f->peer->host_id) == 0 || holder_sockaddr(h, &ss, &len))
		return false;
	for (k = 0; k < f->nr_holders; k++) {
		if (strcmp(f->holders[k].host_id, h->host_id) == 0)
			break;
	}
	if (k == f->nr_holders) {
		if (k == CACHE_FETCH_HOLDERS)
			return false;
		f->holders[f->nr_holders++] = *h;
	}
	/* a live parent at that address gives its index back and opens nothing new */
	idx = vx_fetcher_add_parent(f->fx, (struct sockaddr *)&ss, len, h->host_id);
	if (idx < 0)
		return false;
	if (idx < 16)
		f->idx_holder[idx] = (int)k;
	return true;
}

/*
 * Every CACHE_REFRESH_MS: a cache-stat carrying this host's bitmap of the task (the
 * scheduler then names us to other fetchers of it, spec/control.md section 14), whose answer
 * adds the holders and fetching hosts not yet known as parents. Never blocks the fetch.
 */
static void fetch_refresh(struct cache_fetch *f)
{
	struct vx_ctl_msg m;
	size_t bl = (f->piece_count + 7) / 8;
	uint8_t *bits;
	int rc;

	if (f->stat) {
		struct cache_ans a = { 0 };
		bool done;

		pthread_mutex_lock(&f->stat->lock);
		done = f->stat->done;
		if (done) {
			a = f->stat->ans;
			f->stat->ans.crc = NULL;
		}
		pthread_mutex_unlock(&f->stat->lock);
		if (!done)
			return;
		req_unref(f->stat);
		f->stat = NULL;
		for (uint32_t i = 0; a.status == 0 && i < a.nr_holders; i++)
			(void)holder_take(f, &a.holders[i]);
		ans_release(&a);
	}
	if (vx_now_ms() < f->next_stat_ms || !bl)
		return;
	f->next_stat_ms = vx_now_ms() + CACHE_REFRESH_MS;
	bits = vx_calloc(bl, 1);
	if (!bits)
		return;
	(void)!vx_store_task_bitmap(f->t, bits, bl);
	sched_msg(&m, VX_CTL_CACHE_STAT, f->id);
	m.bitmap = bits;
	m.bitmap_len = (uint32_t)bl;
	m.has |= VX_CTL_F_BITMAP;
	f->stat = sched_submit(f->peer, &m, bits, &rc);
}

/* Runs @fx on @loop until it ends (or the bound, or the daemon stops), then until idle. */
static void fetch_run(struct vx_peer *p, struct vx_loop *loop, struct vx_fetcher *fx,
		      struct cache_fetch *f, SSL_CTX **tls)
{
	uint64_t end = vx_now_ms() + CACHE_FETCH_MAX_MS;

	while (!f->done && vx_now_ms() < end && !atomic_load(&p->cache_stop)) {
		SSL_CTX *now;

		(void)!vx_loop_run_once(loop, PEER_TICK_MS);
		haves_flush(f);
		fetch_refresh(f);
		/* a renewal or a new CRL: holders whose certificate no longer verifies are dropped,
		 * as a task's fetcher does (peer_tls.c) */
		now = vx__peer_tls_fetcher_if_new(p, *tls);
		if (now) {
			vx_fetcher_set_tls(fx, now);
			SSL_CTX_free(*tls);
			*tls = now;
		}
	}
	haves_flush(f);
	if (f->stat) {
		req_unref(f->stat); /* its answer is not needed any more */
		f->stat = NULL;
	}
	if (!f->done) {
		vx_fetcher_cancel(fx);
		f->status = atomic_load(&p->cache_stop) ? -ECANCELED : -ETIMEDOUT;
	}
	for (int i = 0; i < 1000 && !vx_fetcher_idle(fx); i++)
		(void)!vx_loop_run_once(loop, 10);
}

/*
 * Fetches the missing pieces of @t (held for DOWNLOAD) from the holders @a names, piece by
 * piece over Vortex (tag DownloadPersistentCachePiece), each checked against the digests the
 * scheduler recorded at import: a holder whose bytes do not match is dropped and never asked
 * again, whatever CRC it sent along. With @out (an export's file, or NULL) each piece also goes
 * there from the receive buffer (vx__peer_fetch_mirror()). Returns 0 when every piece is in the
 * store.
 */
static int fetch_pieces(struct vx_peer *p, struct vx_store_task *t, const struct cache_ans *a,
			const char *id, struct vx_store_output *out, uint32_t *liars)
{
	struct cache_fetch *f;
	struct vx_fetcher_cfg fc;
	struct vx_loop *loop = NULL;
	/* the daemon's tick: a fetcher held by a rate (or backing off) resumes on a tick */
	struct vx_loop_cfg lc = { .tick_ms = PEER_TICK_MS };
	struct vx_rate task_rate; /* download.task_rate_limit, as a task's own downloads */
	SSL_CTX *tls = NULL;
	uint8_t *have;
	uint32_t added = 0;
	uint64_t t0;
	int rc;

	*liars = 0;
	vx_rate_init(&task_rate, atomic_load(&p->task_bps), VX_SOURCE_CHUNK_MAX);
	f = vx_calloc(1, sizeof(*f));
	have = vx_calloc((a->piece_count + 7) / 8 + 1, 1);
	if (f)
		f->fresh = vx_calloc(a->piece_count ? a->piece_count : 1, sizeof(*f->fresh));
	if (!f || !have || !f->fresh) {
		rc = -ENOMEM;
		goto out;
	}
	f->peer = p;
	f->id = id;
	f->t = t;
	f->piece_count = a->piece_count;
	for (int i = 0; i < 16; i++)
		f->idx_holder[i] = -1;
	(void)!vx_store_task_bitmap(t, have, (a->piece_count + 7) / 8 + 1);
	rc = vx_loop_new(&loop, &lc);
	if (rc)
		goto out;
	vx_fetcher_cfg_init(&fc);
	fc.task_id = id;
	fc.request_tag = VX_TAG_DOWNLOAD_PERSISTENT_CACHE_PIECE;
	fc.lz4 = !p->cfg.no_lz4;
	fc.content_length = a->content_len;
	fc.piece_length = a->piece_len;
	fc.piece_crc32 = a->crc;
	fc.have = have;
	fc.sink = vx_store_glue_sink_ops();
	fc.sink_ctx = t;
	/* as the daemon's own downloads (peer_task.c): a shallow pipeline per parent keeps the
	 * requests to a busy holder few, so exporters fetching at once spread over each other */
	fc.conns_per_parent = 1;
	fc.pipeline_depth = 2;
	fc.max_pieces_out = p->cfg.concurrent_pieces;
	fc.task_rate = &task_rate;
	fc.shared_rate = &p->download_rate;
	if (p->cfg.piece_timeout_ms)
		fc.stall_timeout_ms = p->cfg.piece_timeout_ms;
	fc.on_piece = fx_piece;
	fc.on_parent_dropped = fx_dropped;
	fc.on_done = fx_done;
	fc.cb_arg = f;
	fc.tls = tls = vx__peer_tls_fetcher(p);
	rc = vx_fetcher_new(&f->fx, loop, &fc);
	if (rc)
		goto out;
	if (out && vx__peer_fetch_mirror(f->fx, out, t) != 0)
		vx_debug("cache: the export of %.12s is copied after the fetch", id);
	for (uint32_t i = 0; i < a->nr_holders; i++)
		added += holder_take(f, &a->holders[i]);
	if (!added) {
		vx_fetcher_cancel(f->fx);
		for (int i = 0; i < 100 && !vx_fetcher_idle(f->fx); i++)
			(void)!vx_loop_run_once(loop, 10);
		rc = VX_ENOPEERS;
		goto out;
	}
	t0 = vx_now_ms();
	fetch_run(p, loop, f->fx, f, &tls);
	rc = f->status;
	vx_info("cache: fetch of %.12s from %u holder%s: %s after %llu ms", id, added,
		added == 1 ? "" : "s", rc ? vx_strerror(rc) : "complete",
		(unsigned long long)(vx_now_ms() - t0));
out:
	vx_free(have);
	if (f) {
		if (f->fx)
			vx_fetcher_free(f->fx);
		*liars = f->liars;
		vx_free(f->fresh);
		vx_free(f);
	}
	if (loop)
		vx_loop_free(loop);
	if (tls)
		SSL_CTX_free(tls);
	vx_rate_destroy(&task_rate);
	return rc;
}

/*
 * One fetch per task at a time in a daemon: a replica and an export of the same task (or two
 * exports) would otherwise both write it, each waiting for pieces the other one holds. The
 * second waits for the first and then finds the task complete (or fetches again).
 */
#define CACHE_FETCHES_MAX 256
static pthread_mutex_t fetches_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fetches_cond = PTHREAD_COND_INITIALIZER;
static struct {
	const struct vx_peer *peer;
	char id[VX_TASK_ID_LEN + 1];
} fetches[CACHE_FETCHES_MAX];

static int fetch_slot(const struct vx_peer *p, const char *id)
{
	for (int i = 0; i < CACHE_FETCHES_MAX; i++) {
		if (fetches[i].peer == p && strcmp(fetches[i].id, id) == 0)
			return i;
	}
	return -1;
}

/* Waits until no other thread of @p fetches @id, then claims it. -EBUSY: too many fetches. */
static int fetch_claim(const struct vx_peer *p, const char *id)
{
	int i;

	pthread_mutex_lock(&fetches_lock);
	while (fetch_slot(p, id) >= 0 && !atomic_load(&p->cache_stop))
		pthread_cond_wait(&fetches_cond, &fetches_lock);
	i = fetch_slot(NULL, "");
	if (i >= 0) {
		fetches[i].peer = p;
		memcpy(fetches[i].id, id, sizeof(fetches[i].id));
	}
	pthread_mutex_unlock(&fetches_lock);
	return i < 0 ? -EBUSY : 0;
}

static void fetch_release(const struct vx_peer *p, const char *id)
{
	int i;

	pthread_mutex_lock(&fetches_lock);
	i = fetch_slot(p, id);
	if (i >= 0) {
		fetches[i].peer = NULL;
		fetches[i].id[0] = '\0';
	}
	pthread_cond_broadcast(&fetches_cond);
	pthread_mutex_unlock(&fetches_lock);
}

static int fetch_task_locked(struct vx_peer *p, const char *id, const struct cache_ans *a,
			     struct vx_store_output *early, struct vx_store_task **out, char *why,
			     size_t why_len);

static int fetch_task(struct vx_peer *p, const char *id, const struct cache_ans *a,
		      struct vx_store_output *early, struct vx_store_task **out, char *why,
		      size_t why_len)
{
	int rc = fetch_claim(p, id);

	if (rc) {
		snprintf(why, why_len, "too many persistent cache fetches at once");
		return rc;
	}
	rc = fetch_task_locked(p, id, a, early, out, why, why_len);
	fetch_release(p, id);
	return rc;
}

/*
 * Opens @id in the store as a persistent cache task of @a's geometry and fills it from the
 * holders (writing @early, an export's output or NULL, as it goes); on success it is COMPLETE,
 * durable and held for READ in *@out. On failure a task
 * this call made is removed (nothing half-fetched stays). -ENOSPC: this host is full.
 */
static int fetch_task_locked(struct vx_peer *p, const char *id, const struct cache_ans *a,
			     struct vx_store_output *early, struct vx_store_task **out, char *why,
			     size_t why_len)
{
	struct vx_store_task_params tp = { 0 };
	struct vx_store_task_info in;
	struct vx_store_task *t = NULL, *probe = NULL;
	uint32_t liars = 0;
	bool existed;
	int rc;

	*out = NULL;
	if (!a->crc) {
		snprintf(why, why_len, "the scheduler gave no digests for %.12s", id);
		return -EPROTO;
	}
	existed = vx_store_task_acquire(p->store, id, VX_STORE_USE_READ, &probe) == 0;
	if (existed)
		vx_store_task_release(probe, VX_STORE_USE_READ);
	tp.id = id;
	tp.content_length = a->content_len;
	tp.piece_length = a->piece_len;
	tp.kind = VX_STORE_KIND_PERSISTENT_CACHE;
	tp.ttl_s = a->ttl_left_s ? a->ttl_left_s : 1;
	tp.replicas = a->replicas;
	rc = vx_store_task_open(p->store, &tp, VX_STORE_USE_DOWNLOAD, &t);
	if (rc) {
		snprintf(why, why_len, "cannot store %.12s here: %s", id,
			 rc == -ENOSPC ? "no room (disk quota or free space)" : vx_strerror(rc));
		return rc;
	}
	vx_store_task_info(t, &in);
	if (in.state != VX_STORE_TASK_COMPLETE) {
		rc = fetch_pieces(p, t, a, id, early, &liars);
		if (!rc)
			rc = vx_store_flush(p->store);
		vx_store_task_info(t, &in);
		if (!rc && in.state != VX_STORE_TASK_COMPLETE)
			rc = -EIO;
		if (rc)
			snprintf(why, why_len, "cannot fetch %.12s from its %u holders: %s%s", id,
				 a->nr_holders, vx_strerror(rc),
				 liars ? " (a holder sent bytes that do not match the import's "
					 "digests)"
				       : "");
	}
	if (rc) {
		vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
		if (!existed && vx_store_task_remove(p->store, id) != 0)
			vx_warn("cache: cannot remove the partial copy of %.12s", id);
		return rc;
	}
	rc = vx_store_task_acquire(p->store, id, VX_STORE_USE_READ, out);
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	return rc;
}

/*
 * Registers the complete task @t with the scheduler (cache-import): geometry, replicas, TTL
 * and the CRC-32 of every piece as computed from the store's own copy.
 */
static int sched_import(struct vx_peer *p, struct vx_store_task *t,
			const struct vx_download_request *r, uint32_t replicas, uint64_t ttl,
			char *why, size_t why_len)
{
	struct vx_store_task_info in;
	struct vx_ctl_digest *d;
	struct vx_ctl_msg m;
	struct cache_ans a;
	char *txt;
	int rc;

	vx_store_task_info(t, &in);
	d = vx_calloc(in.piece_count ? in.piece_count : 1, sizeof(*d) + VX_DIGEST_CRC32_STR_MAX);
	if (!d)
		return -ENOMEM;
	txt = (char *)(d + (in.piece_count ? in.piece_count : 1));
	for (uint32_t i = 0; i < in.piece_count; i++) {
		struct vx_store_piece_ref ref;
		char *one = txt + (size_t)i * VX_DIGEST_CRC32_STR_MAX;

		rc = vx_store_piece_get(t, i, &ref);
		if (rc) {
			vx_free(d);
			return rc;
		}
		(void)!vx_digest_format_crc32(ref.crc32, one, VX_DIGEST_CRC32_STR_MAX);
		d[i].piece = i;
		d[i].digest = vx_ctl_str_of(one);
	}
	sched_msg(&m, VX_CTL_CACHE_IMPORT, in.id);
	m.content_len = (int64_t)in.content_length;
	m.piece_len = in.piece_length;
	m.piece_count = in.piece_count;
	m.digests = d;
	m.nr_digests = in.piece_count;
	m.replicas = replicas;
	m.ttl_s = ttl;
	m.has |= VX_CTL_F_CONTENT_LEN | VX_CTL_F_PIECE_LEN | VX_CTL_F_PIECE_COUNT |
		 VX_CTL_F_DIGESTS | VX_CTL_F_REPLICAS | VX_CTL_F_TTL;
	if (r->tag && *r->tag) {
		m.tg = vx_ctl_str_of(r->tag);
		m.has |= VX_CTL_F_TAG;
	}
	if (r->application && *r->application) {
		m.app = vx_ctl_str_of(r->application);
		m.has |= VX_CTL_F_APP;
	}
	rc = sched_call(p, &m, &a);
	vx_free(d);
	if (rc)
		snprintf(why, why_len, "the scheduler did not take %.12s: %.600s", in.id,
			 a.err[0]	 ? a.err
			 : rc == -EEXIST ? "another content was imported under this id"
					 : vx_strerror(rc));
	ans_release(&a);
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

/*
 * `vx cache import --memory`: keep the imported copy in the memory tier too (write-through: the
 * content file stays). A budget too small is no failure of the import: the answer says the
 * copy is on disk only.
 */
static void cache_to_memory(struct cache_call *c, struct vx_store_task *t, const char *id)
{
	int rc = vx_store_task_memory_load(t);

	if (!rc)
		return;
	vx_warn("cache: %.12s stays on disk only: %s", id,
		rc == -ENOSPC ? "larger than the memory budget" : vx_strerror(rc));
	snprintf(c->res.msg, sizeof(c->res.msg), "kept on disk only, not in memory: %s",
		 rc == -ENOSPC ? "larger than the memory tier's budget (storage.memory_budget)"
			       : vx_strerror(rc));
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
		return cache_fail(c, -EINVAL, "the TTL must be 10 s .. 7 d");
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
	if (c->peer->sc) {
		rc = sched_import(c->peer, t, r, replicas, ttl, c->res.msg, sizeof(c->res.msg));
		if (rc) {
			/* not registered: not imported (nothing half-done stays behind) */
			vx_store_task_release(t, VX_STORE_USE_READ);
			if (vx_store_task_remove(c->peer->store, id) != 0)
				vx_warn("cache: cannot remove the unregistered import %.12s", id);
			c->res.status = rc;
			goto out;
		}
	}
	if (r->memory)
		cache_to_memory(c, t, id);
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

static int cache_remote(struct cache_call *c, struct vx_store_output *early,
			struct vx_store_task **t);

struct export_ctx {
	const char *path;
	int dirfd;
	const char *name;
	struct vx_store_output *out;
	struct vx_store_task *t;
	unsigned int flags;
	bool early; /* open the temporary file now: a fetch writes it */
};

/* The output's directory, and for a fetch its temporary file (written as pieces arrive). */
static int export_open(void *arg)
{
	struct export_ctx *e = arg;

	e->dirfd = vx_store_open_output_dir(e->path, &e->name);
	if (e->dirfd < 0)
		return e->dirfd;
	if (e->early && vx_store_output_open(e->dirfd, e->name, &e->out) != 0)
		e->out = NULL; /* the export copies after the fetch */
	return 0;
}

static int export_place(void *arg)
{
	struct export_ctx *e = arg;

	return e->out ? vx_store_task_export_output(e->t, e->out, e->flags)
		      : vx_store_task_export_at(e->t, e->dirfd, e->name, e->flags);
}

/* Removes the temporary file of an export that failed before its place, as the client. */
static int export_drop(void *arg)
{
	struct export_ctx *e = arg;

	vx_store_output_unref(e->out);
	e->out = NULL;
	return 0;
}

/*
 * `vx cache export`: from the local store, else fetched from the holders, then put at the
 * output. Everything on the output's side runs with the client's rights; a fetch writes the
 * output from its receive buffers as the pieces arrive (the early output of `vx get`, issue 19
 * goal 4), so the export only copies what did not come that way.
 */
static int cache_export(struct cache_call *c)
{
	const struct vx_download_request *r = c->req;
	struct export_ctx e = { .path = r->output, .dirfd = -1 };
	struct peer_job j;
	bool as = cache_as_client(r, &j);
	int rc;

	if (!r->output || r->output[0] != '/')
		return cache_fail(c, -EINVAL, "the output must be an absolute path");
	e.flags = r->overwrite ? VX_STORE_EXPORT_OVERWRITE : 0;
	rc = cache_local(c, &e.t);
	if (rc == -ENOENT && c->peer->sc) {
		/* the output's directory is checked before anything is fetched */
		e.early = true;
		rc = as_client(as, &j, export_open, &e);
		if (rc)
			return cache_fail(c, rc, "cannot write %s: %s", r->output, vx_strerror(rc));
		rc = cache_remote(c, e.out, &e.t);
		if (rc)
			goto out;
	} else if (rc) {
		return rc;
	} else {
		rc = as_client(as, &j, export_open, &e);
	}
	c->res.stage = VX_DOWNLOAD_STAGE_EXPORT;
	if (!rc)
		rc = as_client(as, &j, export_place, &e);
	if (rc)
		cache_fail(c, rc, "cannot write %s: %s", r->output,
			   rc == -EEXIST ? "it exists (overwrite it with --force)"
					 : vx_strerror(rc));
	else
		c->res.stage = VX_DOWNLOAD_STAGE_DONE;
out:
	if (e.out)
		(void)as_client(as, &j, export_drop, &e);
	if (e.t)
		vx_store_task_release(e.t, VX_STORE_USE_READ);
	if (e.dirfd >= 0)
		close(e.dirfd);
	return rc;
}

/* The scheduler's view of the task: holders, digests, geometry, replicas, TTL left. */
static int cache_ask(struct cache_call *c, struct cache_ans *a)
{
	struct vx_ctl_msg m;
	int rc;

	if (!c->req->cache_id || !vx_task_id_valid(c->req->cache_id, strlen(c->req->cache_id)))
		return cache_fail(c, -EINVAL, "a task id is 64 lowercase hex characters");
	sched_msg(&m, VX_CTL_CACHE_STAT, c->req->cache_id);
	rc = sched_call(c->peer, &m, a);
	if (rc)
		return cache_fail(c, rc, "persistent cache task %s: %s", c->req->cache_id,
				  rc == -ENOENT ? "unknown to the scheduler"
				  : a->err[0]	? a->err
						: vx_strerror(rc));
	memcpy(c->res.task_id, c->req->cache_id, VX_TASK_ID_LEN);
	c->res.task_id[VX_TASK_ID_LEN] = '\0';
	c->res.totals.content_length = a->content_len;
	c->res.totals.piece_count = a->piece_count;
	c->res.piece_length = a->piece_len;
	c->res.replicas = a->replicas;
	c->res.holders = 0;
	for (uint32_t i = 0; i < a->nr_holders; i++)
		c->res.holders += a->holders[i].complete; /* full copies, not fetches under way */
	c->res.ttl_left_s = a->ttl_left_s;
	return 0;
}

/* Not held here: fetch it from its holders into the store, then hold it for READ. */
static int cache_remote(struct cache_call *c, struct vx_store_output *early,
			struct vx_store_task **t)
{
	struct cache_ans a;
	int rc;

	c->res.msg[0] = '\0';
	c->res.status = 0;
	rc = cache_ask(c, &a);
	if (!rc && !a.nr_holders)
		rc = cache_fail(c, VX_ENOPEERS, "no host holds %s now", c->req->cache_id);
	c->res.stage = VX_DOWNLOAD_STAGE_PEERS;
	if (!rc) {
		struct vx_ctl_msg m;
		struct cache_ans ans;

		rc = fetch_task(c->peer, c->req->cache_id, &a, early, t, c->res.msg,
				sizeof(c->res.msg));
		c->res.status = rc;
		/* a copy kept (a holder from now on), or the end of this host's partial one */
		sched_msg(&m, VX_CTL_CACHE_HELD, c->req->cache_id);
		m.status = rc;
		m.has |= VX_CTL_F_STATUS;
		(void)sched_call_once(c->peer, &m, &ans);
		ans_release(&ans);
	}
	ans_release(&a);
	return rc;
}

static int cache_stat(struct cache_call *c)
{
	struct vx_store_task *t = NULL;
	struct cache_ans a;
	int rc;

	if (c->peer->sc) {
		rc = cache_ask(c, &a);
		ans_release(&a);
	} else {
		rc = cache_local(c, &t);
		if (!rc)
			vx_store_task_release(t, VX_STORE_USE_READ);
	}
	if (!rc)
		c->res.stage = VX_DOWNLOAD_STAGE_DONE;
	return rc;
}

static int cache_delete(struct cache_call *c)
{
	struct vx_store_task *t = NULL;
	bool everywhere = false;
	int rc;

	if (c->peer->sc && c->req->cache_id &&
	    vx_task_id_valid(c->req->cache_id, strlen(c->req->cache_id))) {
		struct vx_ctl_msg m;
		struct cache_ans a;

		sched_msg(&m, VX_CTL_CACHE_DELETE, c->req->cache_id);
		rc = sched_call(c->peer, &m, &a);
		ans_release(&a);
		if (rc == -EPERM)
			return cache_fail(
				c, rc,
				"only the host that imported %s (or an admin) may remove it "
				"everywhere",
				c->req->cache_id);
		if (rc && rc != -ENOENT)
			return cache_fail(c, rc, "the scheduler did not remove %s: %s",
					  c->req->cache_id, vx_strerror(rc));
		everywhere = rc == 0;
	}
	rc = cache_local(c, &t);
	if (rc == -ENOENT && everywhere) {
		c->res.status = 0; /* the scheduler's eviction got here first */
		c->res.msg[0] = '\0';
		c->res.stage = VX_DOWNLOAD_STAGE_DONE;
		return 0;
	}
	if (rc)
		return rc;
	vx_store_task_release(t, VX_STORE_USE_READ);
	rc = vx_store_task_remove(c->peer->store, c->req->cache_id);
	if (rc == -ENOENT && everywhere)
		rc = 0;
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
	atomic_fetch_sub(&c->peer->cache_live, 1);
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
	atomic_fetch_add(&p->cache_live, 1);
	rc = -pthread_create(&th, &attr, cache_thread, c);
	pthread_attr_destroy(&attr);
	if (rc) {
		atomic_fetch_sub(&p->cache_live, 1);
		vx_free(c);
	}
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

/* ---------------------------------------------------------------- Replicas */

struct cache_replica {
	struct vx_peer *peer;
	char id[VX_TASK_ID_LEN + 1];
	struct cache_ans a;
};

static void *replica_thread(void *arg)
{
	struct cache_replica *r = arg;
	struct vx_store_task *t = NULL;
	struct vx_ctl_msg m;
	struct cache_ans ans;
	char why[VX_DOWNLOAD_MSG_MAX];
	int rc;

	rc = fetch_task(r->peer, r->id, &r->a, NULL, &t, why, sizeof(why));
	if (rc)
		vx_warn("cache: replica of %.12s refused or failed: %s", r->id, why);
	else {
		vx_store_task_release(t, VX_STORE_USE_READ);
		vx_info("cache: holding a replica of %.12s", r->id);
	}
	sched_msg(&m, VX_CTL_CACHE_HELD, r->id);
	m.status = rc;
	m.has |= VX_CTL_F_STATUS;
	if (rc) {
		m.error = vx_ctl_str_of(why);
		m.has |= VX_CTL_F_ERROR;
	}
	(void)sched_call(r->peer, &m, &ans);
	ans_release(&ans);
	ans_release(&r->a);
	atomic_fetch_sub(&r->peer->cache_live, 1);
	vx_free(r);
	return NULL;
}

void vx__peer_cache_replicate(struct vx_peer *p, const struct vx_ctl_msg *m)
{
	struct cache_replica *r;
	pthread_attr_t attr;
	pthread_t th;

	if (p->shutting_down || atomic_load(&p->cache_stop))
		return;
	r = vx_calloc(1, sizeof(*r));
	if (!r)
		return;
	r->peer = p;
	memcpy(r->id, m->task_id.ptr, VX_TASK_ID_LEN);
	ans_take(&r->a, m);
	vx_info("cache: the scheduler asks for a replica of %.12s (%llu bytes, %u holders)", r->id,
		(unsigned long long)r->a.content_len, r->a.nr_holders);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	atomic_fetch_add(&p->cache_live, 1);
	if (pthread_create(&th, &attr, replica_thread, r) != 0) {
		atomic_fetch_sub(&p->cache_live, 1);
		ans_release(&r->a);
		vx_free(r);
	}
	pthread_attr_destroy(&attr);
}

/* ---------------------------------------------------------------- Re-announce */

/*
 * Tells the schedulers again of every complete persistent cache task this host holds (a
 * cache-import of the store's own copy, with the TTL left and the replica count asked at
 * import), so a restarted daemon counts as a holder again and a restarted scheduler, which
 * keeps persistent cache tasks in memory only, learns them back. The scheduler takes an
 * import of a task it knows as one more holder only when every piece's CRC-32 is the one it
 * has (vx_pcache_import()). Returns how many were taken.
 */
static uint32_t reannounce_pass(struct vx_peer *p)
{
	struct vx_download_request none = { 0 };
	struct vx_store_task_info *all;
	uint32_t n, taken = 0, max;
	char why[VX_DOWNLOAD_MSG_MAX];

	max = vx_store_task_list(p->store, NULL, 0);
	all = vx_calloc(VX_MAX(max, 1u), sizeof(*all));
	if (!all)
		return 0;
	n = VX_MIN(vx_store_task_list(p->store, all, max), max);
	for (uint32_t i = 0; i < n && !atomic_load(&p->cache_stop); i++) {
		struct vx_store_task *t;
		uint64_t left = cache_ttl_left(&all[i]);
		int rc;

		if (all[i].kind != VX_STORE_KIND_PERSISTENT_CACHE ||
		    all[i].state != VX_STORE_TASK_COMPLETE || !left)
			continue;
		if (vx_store_task_acquire(p->store, all[i].id, VX_STORE_USE_READ, &t))
			continue; /* gone since the listing */
		rc = sched_import(p, t, &none, all[i].replicas ? all[i].replicas : 1, left, why,
				  sizeof(why));
		vx_store_task_release(t, VX_STORE_USE_READ);
		if (rc)
			vx_warn("cache: re-announcing %.12s: %s", all[i].id, why);
		else
			taken++;
	}
	vx_free(all);
	return taken;
}

static void *reannounce_thread(void *arg)
{
	struct vx_peer *p = arg;
	bool no;

	for (;;) {
		while (atomic_exchange(&p->cache_reann_again, false) &&
		       !atomic_load(&p->cache_stop)) {
			uint32_t n = reannounce_pass(p);

			if (n)
				vx_info("cache: told the scheduler of %u persistent cache task%s "
					"held "
					"here",
					n, n == 1 ? "" : "s");
		}
		atomic_store(&p->cache_reann, false);
		/* a scheduler that came up between the last check and the store above */
		no = false;
		if (!atomic_load(&p->cache_reann_again) || atomic_load(&p->cache_stop) ||
		    !atomic_compare_exchange_strong(&p->cache_reann, &no, true))
			break;
	}
	atomic_fetch_sub(&p->cache_live, 1);
	return NULL;
}

void vx__peer_cache_reannounce(struct vx_peer *p)
{
	pthread_attr_t attr;
	pthread_t th;
	bool no = false;

	if (p->shutting_down || atomic_load(&p->cache_stop))
		return;
	atomic_store(&p->cache_reann_again, true);
	if (!atomic_compare_exchange_strong(&p->cache_reann, &no, true))
		return; /* the running pass goes round once more */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	atomic_fetch_add(&p->cache_live, 1);
	if (pthread_create(&th, &attr, reannounce_thread, p) != 0) {
		atomic_fetch_sub(&p->cache_live, 1);
		atomic_store(&p->cache_reann, false);
	}
	pthread_attr_destroy(&attr);
}
