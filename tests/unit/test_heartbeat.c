/*
 * server/heartbeat.c on each backend (dbtest.h): heartbeats noted in memory
 * reach instances.last_seen at the next flush, in one transaction, never
 * back in time, never for an instance that said goodbye after the poll,
 * and a forgotten heartbeat is not written at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dbtest.h"
#include "heartbeat.h"
#include "latchkeyd.h"

static struct lkd_env test_env;
struct lkd_env *lkd = &test_env;

static int
seen_cb(const struct lkdb_row *st, void *arg)
{
	*(int64_t *)arg = lkdb_int(st, 0);
	return 1;
}

static int64_t
last_seen(const char *id)
{
	int64_t v = -1;

	assert_int_equal(lkdb_query(lkd->db, seen_cb, &v, "SELECT last_seen "
	    "FROM instances WHERE id = ?", "s", id), 0);
	return v;
}

static void
add_instance(const char *id, int64_t seen, int64_t goodbye)
{
	assert_int_equal(lkdb_run(lkd->db, NULL, "INSERT INTO instances(id, "
	    "name, cred_hash, activation_id, registered, last_seen, goodbye) "
	    "VALUES(?, ?, 'h', 'act', 1, ?, ?)", "ssii", id, id, seen, goodbye),
	    0);
}

static int
setup(int backend)
{
	if (dbtest_open(backend, &lkd->db) != 0) {
		fprintf(stderr, "cannot open a %s database\n",
		    dbtest_name(backend));
		return -1;
	}
	add_instance("i-1", 100, 0);
	add_instance("i-2", 100, 0);
	add_instance("i-3", 100, 0);
	add_instance("i-4", 500, 0);
	return 0;
}

static int
setup_sqlite(void **state)
{
	(void)state;
	return setup(DBTEST_SQLITE);
}

static int
setup_pg(void **state)
{
	(void)state;
	return setup(DBTEST_PG);
}

static int
teardown(void **state)
{
	(void)state;
	heartbeat_free();
	lkdb_close(lkd->db);
	return 0;
}

static void
test_flush(void **state)
{
	(void)state;
	heartbeat_seen("i-1", 200);
	heartbeat_seen("i-2", 210);
	heartbeat_seen("i-1", 220);		/* the newest one counts */
	assert_int_equal(last_seen("i-1"), 100);	/* not yet */
	assert_int_equal(heartbeat_flush(), 0);
	assert_int_equal(last_seen("i-1"), 220);
	assert_int_equal(last_seen("i-2"), 210);
	assert_int_equal(last_seen("i-3"), 100);	/* not seen */
	assert_int_equal(heartbeat_flush(), 0);		/* nothing new */
	assert_int_equal(last_seen("i-1"), 220);
}

static void
test_never_back(void **state)
{
	(void)state;
	heartbeat_seen("i-4", 300);	/* a hello wrote 500 meanwhile */
	assert_int_equal(heartbeat_flush(), 0);
	assert_int_equal(last_seen("i-4"), 500);
}

static void
test_goodbye(void **state)
{
	(void)state;
	/* Forgotten (goodbye): not written. */
	heartbeat_seen("i-3", 400);
	heartbeat_forget("i-3");
	assert_int_equal(lkdb_run(lkd->db, NULL, "UPDATE instances SET "
	    "last_seen = 0, goodbye = 400 WHERE id = 'i-3'", ""), 0);
	assert_int_equal(heartbeat_flush(), 0);
	assert_int_equal(last_seen("i-3"), 0);
	/* A poll noted before a goodbye in the same second: not written. */
	heartbeat_seen("i-2", 450);
	assert_int_equal(lkdb_run(lkd->db, NULL, "UPDATE instances SET "
	    "last_seen = 0, goodbye = 450 WHERE id = 'i-2'", ""), 0);
	assert_int_equal(heartbeat_flush(), 0);
	assert_int_equal(last_seen("i-2"), 0);
	/* The agent came back later: written again. */
	heartbeat_seen("i-2", 460);
	assert_int_equal(heartbeat_flush(), 0);
	assert_int_equal(last_seen("i-2"), 460);
}

static void
test_unknown_and_long(void **state)
{
	char id[200];

	(void)state;
	heartbeat_seen("i-nosuch", 700);	/* no row: nothing happens */
	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	heartbeat_seen(id, 700);		/* too long: not kept */
	assert_int_equal(heartbeat_flush(), 0);
	assert_int_equal(last_seen("i-1"), 220);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_never_back),
		cmocka_unit_test(test_goodbye),
		cmocka_unit_test(test_unknown_and_long),
	};

	int fails;

	fails = cmocka_run_group_tests_name("heartbeats sqlite", tests,
	    setup_sqlite, teardown);
	fails += cmocka_run_group_tests_name("heartbeats postgresql", tests,
	    setup_pg, teardown);
	return fails;
}
