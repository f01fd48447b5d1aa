/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_control_sched_db.c: the scheduler's sqlite records beside another writer of the same
 * file (the manager, `vx token create`, a manager of its own): a second connection holds the
 * write lock, as a long manager transaction does, while the scheduler records hosts and tasks
 * and flushes its turns. The scheduler's flush neither fails nor waits, and once the other
 * writer commits, every record is in the file in the order it was made (a task deleted after
 * its record stays deleted). Before, each write waited 2 s and failed "database is locked",
 * and the records were lost.
 * Security test list (shared/reference/dragonfly-behaviour.md 5.5): none (robustness of the
 * control plane's storage, issue 14).
 */
#include "vx_test.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched_db.h"
#include "vx_ctl_cbor.h"

static int64_t count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t n = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void test_sched_db__other_writer_loses_nothing(void **state)
{
	char dir[] = "/tmp/vx_sched_db_XXXXXX", path[64], side[80];
	struct sched_db *d = NULL;
	sqlite3 *other = NULL;
	struct vx_sched_host_info h = { 0 };
	struct vx_sched_task_stat st = { .piece_len = 4 << 20, .content_len = 1 << 20 };

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sched.db", dir);
	assert_int_equal(vx__sched_db_open(&d, path), 0);
	assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
	sqlite3_busy_timeout(other, 10000);

	/* the other writer's long transaction */
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	h.id = vx_ctl_str_of("host-1");
	h.addr = vx_ctl_str_of("192.0.2.1");
	h.port = 4001;
	assert_int_equal(vx__sched_db_host(d, &h, 100), 0);
	assert_int_equal(vx__sched_db_task(d, vx_ctl_str_of("t1"),
					   vx_ctl_str_of("http://u:secret@o/f"), &st, 100),
			 0);
	assert_int_equal(
		vx__sched_db_task(d, vx_ctl_str_of("t2"), vx_ctl_str_of("http://o/g"), &st, 100),
		0);
	assert_int_equal(vx__sched_db_flush(d), 0); /* a turn ends: kept, not failed */
	assert_int_equal(vx__sched_db_task_delete(d, vx_ctl_str_of("t1")), 0);
	assert_int_equal(vx__sched_db_flush(d), 0);
	assert_int_equal(count(other, "SELECT count(*) FROM hosts"), 0);
	assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);

	/* the next turn writes what was kept */
	assert_int_equal(vx__sched_db_flush(d), 0);
	assert_int_equal(count(other, "SELECT count(*) FROM hosts WHERE id = 'host-1' AND "
				      "port = 4001"),
			 1);
	assert_int_equal(count(other, "SELECT count(*) FROM tasks WHERE id = 't1'"), 0);
	assert_int_equal(count(other, "SELECT count(*) FROM tasks WHERE id = 't2'"), 1);
	/* the redacted URL, never the credential */
	assert_int_equal(count(other, "SELECT count(*) FROM tasks WHERE url LIKE '%secret%'"), 0);

	/* a record made while the other holds the lock at close is written at close */
	assert_int_equal(
		vx__sched_db_task(d, vx_ctl_str_of("t3"), vx_ctl_str_of("http://o/h"), &st, 101),
		0);
	vx__sched_db_close(d);
	assert_int_equal(count(other, "SELECT count(*) FROM tasks WHERE id = 't3'"), 1);

	sqlite3_close(other);
	for (size_t i = 0; i < 3; i++) {
		snprintf(side, sizeof(side), "%s%s", path,
			 (const char *[]){ "", "-wal", "-shm" }[i]);
		(void)unlink(side);
	}
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sched_db__other_writer_loses_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
