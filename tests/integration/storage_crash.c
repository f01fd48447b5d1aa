/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage_crash.c: crash consistency of the piece store. A child process writes pieces (half
 * through the blocking form, half the data-plane way: begin_write, two separate pwrites,
 * commit) with the background flusher running; the parent kill -9s it at a random moment,
 * reopens the store and checks that every piece marked finished holds exactly its bytes, that
 * no piece durable before survives as less (only unflushed work is lost), and that the store
 * resumes. Many rounds, bounded to a few seconds. The seed is printed so a failure replays.
 *
 * Power loss (issue 18): the same rounds, but the kill is a power cut. pwrite and fdatasync
 * are wrapped at link time (-Wl,--wrap, tests/storage.cmake), so every content write of the
 * store and of the data-plane path below is logged, with the bytes it overwrote, in memory
 * shared with the parent, and an fdatasync of a file marks its logged writes durable. After
 * the kill the parent undoes every write not yet synced, newest first, each either dropped
 * whole or torn at a random 512-byte boundary (as a disk losing its cache would), then
 * reopens: every piece the store calls finished must hold its bytes, and the rest is written
 * again by the next round. sqlite's own files are not cut (they are written by the sqlite
 * library, not through the wrapper): the check is the content-before-metadata order of the
 * flush (storage/src/meta.c). Fails when the flush commits rows before its fdatasync.
 * shared/reference/dragonfly-behaviour.md 5.5 item 24 (crash safety: kill -9 during writes,
 * restart; here also a power cut).
 */
#include "vx_test.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "vx_alloc.h"
#include "vx_log.h"
#include "vx_store.h"
#include "vx_time.h"

#include "storage_util.h"

#define PL	   (64u * 1024)
#define NPIECES	   128u
#define CLEN	   ((uint64_t)PL * (NPIECES - 1) + 777u)
#define ROUNDS	   60
#define BUDGET_MS  6000u
#define MIN_ROUNDS 8 /* run even past the budget on a loaded machine: the checks need kills */

static char g_dir[1024];

/* ---- the power-cut layer: a log of unsynced writes, shared with the parent */

#define UNDO_MAX  8192u
#define UNDO_DATA (24u << 20)

struct undo_ent {
	char path[256];
	uint64_t ino;
	uint64_t off;
	uint32_t len;
	uint32_t data;	 /* offset of the overwritten bytes in undo.bytes */
	uint32_t synced; /* an fdatasync of the file returned after this write */
};

struct undo {
	uint32_t n; /* entries published (release store after each is filled) */
	uint32_t used;
	uint32_t overflow;
	struct undo_ent e[UNDO_MAX];
	uint8_t bytes[UNDO_DATA];
};

static struct undo *g_undo; /* NULL: no power-cut layer */
static bool g_recording;    /* the child: log writes */

ssize_t __real_pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t __real_pwrite64(int fd, const void *buf, size_t n, off_t off);
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off_t off);
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);

/* Logs the bytes a write of @n at @off of @fd is about to overwrite (before it happens). */
static pthread_mutex_t g_undo_lock = PTHREAD_MUTEX_INITIALIZER;

static void undo_log_locked(int fd, size_t n, off_t off)
{
	struct undo *u = g_undo;
	struct undo_ent *e;
	struct stat sb;
	char link[64];
	ssize_t l;
	int rfd;

	if (!u || !g_recording || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
		return;
	if (u->n == UNDO_MAX || n > UNDO_DATA - u->used) {
		u->overflow = 1;
		return;
	}
	e = &u->e[u->n];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	l = readlink(link, e->path, sizeof(e->path) - 1);
	if (l <= 0)
		return;
	e->path[l] = '\0';
	e->ino = sb.st_ino;
	e->off = (uint64_t)off;
	e->len = (uint32_t)n;
	e->data = u->used;
	e->synced = 0;
	memset(u->bytes + u->used, 0, n);
	rfd = open(e->path, O_RDONLY | O_CLOEXEC);
	if (rfd >= 0) {
		(void)pread(rfd, u->bytes + u->used, n, off); /* past the end: zeros */
		close(rfd);
	}
	u->used += (uint32_t)n;
	__atomic_store_n(&u->n, u->n + 1, __ATOMIC_RELEASE);
}

static void undo_log(int fd, size_t n, off_t off)
{
	if (!g_undo || !g_recording)
		return;
	pthread_mutex_lock(&g_undo_lock);
	undo_log_locked(fd, n, off);
	pthread_mutex_unlock(&g_undo_lock);
}

ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	undo_log(fd, n, off);
	return __real_pwrite(fd, buf, n, off);
}

ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	undo_log(fd, n, off);
	return __real_pwrite64(fd, buf, n, off);
}

int __wrap_fdatasync(int fd)
{
	struct stat sb;
	/* only writes logged before the sync began are durable when it returns */
	uint32_t upto = g_undo ? __atomic_load_n(&g_undo->n, __ATOMIC_ACQUIRE) : 0;
	int rc = __real_fdatasync(fd);

	if (rc == 0 && g_undo && g_recording && fstat(fd, &sb) == 0) {
		for (uint32_t i = 0; i < upto; i++) {
			if (g_undo->e[i].ino == sb.st_ino)
				g_undo->e[i].synced = 1;
		}
	}
	return rc;
}

/*
 * The power cut, after the child is dead: every write not synced is undone, newest first,
 * whole or from a random 512-byte boundary on (torn). Returns the writes undone.
 */
static uint32_t undo_apply(void)
{
	struct undo *u = g_undo;
	uint32_t undone = 0;

	for (uint32_t i = u->n; i-- > 0;) {
		struct undo_ent *e = &u->e[i];
		uint32_t cut = 0;
		int fd;

		if (e->synced)
			continue;
		if (rand() % 2 && e->len > 512)
			cut = (uint32_t)(rand() % (int)(e->len / 512)) *
			      512; /* torn: a prefix stays */
		fd = open(e->path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* the file is gone: nothing to undo */
		if (__real_pwrite(fd, u->bytes + e->data + cut, e->len - cut,
				  (off_t)(e->off + cut)) != (ssize_t)(e->len - cut))
			fail_msg("power cut: cannot undo a write to %s", e->path);
		close(fd);
		undone++;
	}
	u->n = 0;
	u->used = 0;
	return undone;
}

static uint64_t psize(uint32_t n)
{
	uint64_t off = (uint64_t)n * PL;

	return CLEN - off < PL ? CLEN - off : PL;
}

static void store_cfg(struct vx_store_cfg *cfg, bool flusher)
{
	vx_store_cfg_init(cfg);
	cfg->dir = g_dir;
	cfg->no_flush_thread = !flusher;
	cfg->flush_interval_ms = 2;
	cfg->flush_batch_pieces = 4;
}

/*
 * The child: write missing pieces of task @seed in a random order until killed or done,
 * writing one byte to @progress_fd after each commit so the parent can aim its kill.
 */
static VX_NORETURN void child_main(unsigned int seed, unsigned int rng, int progress_fd)
{
	struct vx_store_cfg cfg;
	struct vx_store *s;
	struct vx_store_task *t;
	struct vx_store_task_params p = { 0 };
	uint8_t *buf = vx_aligned_alloc(4096, PL);
	char id[65];

	store_cfg(&cfg, true);
	if (vx_store_open(&s, &cfg) != 0)
		_exit(10);
	st_task_id(seed, id);
	p.id = id;
	p.content_length = CLEN;
	p.piece_length = PL;
	if (vx_store_task_open(s, &p, VX_STORE_USE_DOWNLOAD, &t) != 0)
		_exit(11);
	for (uint32_t i = 0; i < NPIECES; i++) {
		uint32_t n = (i * 37u + rng) % NPIECES; /* 37 is prime to 128: a permutation */
		size_t sz = (size_t)psize(n);
		struct vx_store_piece_io io;
		struct vx_store_piece_done done = { 0 };
		int err;

		if (vx_store_piece_is_finished(t, n))
			continue;
		st_fill(buf, sz, seed, n);
		if (n % 2) {
			err = vx_store_piece_write(t, n, buf, sz, false, 0, NULL);
			if (err)
				_exit(12);
		} else {
			size_t half = sz / 2 & ~(size_t)4095;

			if (vx_store_piece_begin_write(t, n, &io) != 0)
				_exit(13);
			/* Two writes with a gap: a kill in between leaves a torn piece. */
			if (pwrite(io.buffered_fd, buf, half, (off_t)io.offset) != (ssize_t)half)
				_exit(14);
			usleep(100);
			if (pwrite(io.buffered_fd, buf + half, sz - half,
				   (off_t)(io.offset + half)) != (ssize_t)(sz - half))
				_exit(15);
			done.crc32 = (uint32_t)crc32(0, buf, (uInt)sz);
			if (vx_store_piece_commit(t, n, &done) != 0)
				_exit(16);
		}
		if (write(progress_fd, "p", 1) != 1)
			_exit(17);
		usleep(150);
	}
	vx_store_task_release(t, VX_STORE_USE_DOWNLOAD);
	vx_store_close(s);
	_exit(0);
}

/*
 * Reopens the store and checks task @seed: every finished piece has its exact bytes. Returns
 * the number of finished pieces, and fills @fin with their bitmap.
 */
static uint32_t check_store(unsigned int seed, uint8_t fin[NPIECES], bool *complete)
{
	struct vx_store_cfg cfg;
	struct vx_store *s = NULL;
	struct vx_store_task *t = NULL;
	struct vx_store_task_info info;
	uint8_t *want = malloc(PL), *got = malloc(PL);
	char id[65];
	uint32_t count = 0;
	int err;

	store_cfg(&cfg, false);
	assert_int_equal(vx_store_open(&s, &cfg), 0);
	st_task_id(seed, id);
	err = vx_store_task_acquire(s, id, VX_STORE_USE_READ, &t);
	if (err == -ENOENT) {
		/* Killed before the task row was committed: nothing was promised. */
		memset(fin, 0, NPIECES);
		*complete = false;
		vx_store_close(s);
		free(want);
		free(got);
		return 0;
	}
	assert_int_equal(err, 0);
	for (uint32_t n = 0; n < NPIECES; n++) {
		fin[n] = vx_store_piece_is_finished(t, n);
		if (!fin[n])
			continue;
		count++;
		st_fill(want, (size_t)psize(n), seed, n);
		assert_int_equal(vx_store_piece_read(t, n, got, PL), (ssize_t)psize(n));
		if (memcmp(want, got, (size_t)psize(n)) != 0)
			fail_msg("piece %u is marked finished but its bytes are wrong", n);
		{
			struct vx_store_piece_ref ref;

			assert_int_equal(vx_store_piece_get(t, n, &ref), 0);
			assert_int_equal(ref.crc32, (uint32_t)crc32(0, want, (uInt)psize(n)));
		}
	}
	vx_store_task_info(t, &info);
	assert_int_equal(info.finished_count, count);
	*complete = info.state == VX_STORE_TASK_COMPLETE;
	assert_true(*complete == (count == NPIECES));
	vx_store_task_release(t, VX_STORE_USE_READ);
	if (*complete)
		assert_int_equal(vx_store_task_remove(s, id), 0);
	vx_store_close(s);
	free(want);
	free(got);
	return count;
}

static void crash_rounds(bool power)
{
	unsigned int rng_seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	uint8_t before[NPIECES], after[NPIECES];
	unsigned int seed = 1, killed = 0, partial = 0, remaining = NPIECES, undone = 0, logged = 0;
	uint64_t start = vx_now_ms();

	if (getenv("VX_CRASH_SEED"))
		rng_seed = (unsigned int)strtoul(getenv("VX_CRASH_SEED"), NULL, 10);
	printf("crash test seed %u (replay with VX_CRASH_SEED)\n", rng_seed);
	srand(rng_seed);
	assert_int_equal(st_mkdtemp("storage-crash", g_dir, sizeof(g_dir)), 0);
	memset(before, 0, sizeof(before));
	for (int round = 0;
	     round < ROUNDS && (round < MIN_ROUNDS || vx_now_ms() - start < BUDGET_MS); round++) {
		unsigned int target = (unsigned int)rand() % (remaining + 1), seen = 0;
		int pfd[2], status;
		bool complete;
		uint32_t count;
		pid_t pid;

		assert_int_equal(pipe(pfd), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			g_recording = power;
			child_main(seed, (unsigned int)rand(), pfd[1]);
		}
		close(pfd[1]);
		/*
		 * Aim the kill by progress, not by time (a loaded machine starts the child
		 * slowly): after a random number of commits, then a random few hundred us, so it
		 * lands anywhere in a write, a commit or a flush.
		 */
		while (seen < target) {
			struct pollfd p = { .fd = pfd[0], .events = POLLIN };
			char c;

			if (poll(&p, 1, 5000) != 1 || read(pfd[0], &c, 1) != 1)
				break; /* the child finished or died */
			seen++;
		}
		usleep((useconds_t)(rand() % 800));
		if (kill(pid, SIGKILL) == 0)
			killed++;
		close(pfd[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			fail_msg("child failed with status %d", WEXITSTATUS(status));
		if (power) {
			if (g_undo->overflow)
				fail_msg("power cut: the write log overflowed");
			logged += g_undo->n;
			undone += undo_apply();
		}
		count = check_store(seed, after, &complete);
		/* Durable pieces are never lost: the set only grows. */
		for (uint32_t n = 0; n < NPIECES; n++) {
			if (before[n] && !after[n])
				fail_msg("round %d: piece %u was durable and is gone", round, n);
		}
		if (count > 0 && count < NPIECES)
			partial++;
		if (complete) {
			seed++;
			memset(before, 0, sizeof(before));
			remaining = NPIECES;
		} else {
			memcpy(before, after, sizeof(before));
			remaining = NPIECES - count;
		}
	}
	printf("%s test: %u kills, %u restarts found a partial task, %u tasks completed, "
	       "%u of %u logged writes undone (unsynced)\n",
	       power ? "power-cut" : "crash", killed, partial, seed - 1, undone, logged);
	assert_true(killed > 5);
	assert_true(partial > 0);
	if (power)
		assert_true(logged > 0); /* the layer saw the store's writes */
	st_rmtree(g_dir);
}

static void test_store__survives_kill9_at_random_points(void **state)
{
	(void)state;
	crash_rounds(false);
}

static void test_store__survives_power_cut_at_random_points(void **state)
{
	(void)state;
	g_undo = mmap(NULL, sizeof(*g_undo), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		      0);
	assert_true(g_undo != MAP_FAILED);
	crash_rounds(true);
	munmap(g_undo, sizeof(*g_undo));
	g_undo = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store__survives_kill9_at_random_points),
		cmocka_unit_test(test_store__survives_power_cut_at_random_points),
	};

	setvbuf(stdout, NULL, _IONBF, 0);
	vx_log_set_level(VX_LOG_ERROR);
	return cmocka_run_group_tests_name("storage_crash", tests, NULL, NULL);
}
