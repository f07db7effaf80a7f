/*
 * The storage backends for unit tests of store operations: each test runs
 * once on a new in-memory SQLite database and once on a new PostgreSQL
 * database, in the cluster named by LK_TEST_PG_DIR (tests/run starts one)
 * or in one started here for this program (tests/tools/pg-cluster; run
 * from the top of the tree). Include once per test program.
 */
#ifndef LK_DBTEST_H
#define LK_DBTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"

#define DBTEST_SQLITE	0
#define DBTEST_PG	1

static char dbtest_own_cluster[64];

static void
dbtest_stop_own(void)
{
	char cmd[256];

	if (dbtest_own_cluster[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "tests/tools/pg-cluster stop %s && "
	    "rm -rf %s", dbtest_own_cluster, dbtest_own_cluster);
	if (system(cmd) != 0)
		fprintf(stderr, "dbtest: cannot stop %s\n", dbtest_own_cluster);
}

/* The cluster's directory, started on first use when none is given. */
static const char *
dbtest_cluster(void)
{
	const char *dir = getenv("LK_TEST_PG_DIR");
	char cmd[256];

	if (dir != NULL && *dir != '\0')
		return dir;
	if (dbtest_own_cluster[0] != '\0')
		return dbtest_own_cluster;
	snprintf(dbtest_own_cluster, sizeof(dbtest_own_cluster),
	    "/run/latchkey-unitpg.%ld", (long)getpid());
	snprintf(cmd, sizeof(cmd), "tests/tools/pg-cluster start %s",
	    dbtest_own_cluster);
	if (system(cmd) != 0) {
		fprintf(stderr, "dbtest: cannot start a PostgreSQL cluster "
		    "(run from the top of the tree, as root)\n");
		dbtest_own_cluster[0] = '\0';
		return NULL;
	}
	atexit(dbtest_stop_own);
	return dbtest_own_cluster;
}

/* A new, migrated, empty database of the backend; 0 or an error. */
static int
dbtest_open(int backend, struct lkdb **dbp)
{
	static unsigned int seq;
	const char *dir;
	char cmd[512], uri[512];
	FILE *f;
	int ok;

	*dbp = NULL;
	if (backend == DBTEST_SQLITE)
		return lkdb_open(":memory:", dbp);
	if ((dir = dbtest_cluster()) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "tests/tools/pg-cluster createdb %s "
	    "unit_%ld_%u", dir, (long)getpid(), seq++);
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	ok = fgets(uri, sizeof(uri), f) != NULL;
	if (pclose(f) != 0 || !ok)
		return -1;
	uri[strcspn(uri, "\n")] = '\0';
	return lkdb_open(uri, dbp);
}

static const char *
dbtest_name(int backend)
{
	return backend == DBTEST_SQLITE ? "sqlite" : "postgresql";
}

/*
 * For tests of store operations that use latchkeyd's global database
 * (lkd->db): defines lkd, the two backends' prestates and cmocka's setup
 * and teardown, which open a new database of the backend in *state.
 */
#define DBTEST_LKD_FIXTURE						\
static struct lkd_env test_env;						\
struct lkd_env *lkd = &test_env;					\
static int backend_sqlite = DBTEST_SQLITE;				\
static int backend_pg = DBTEST_PG;					\
static int								\
setup(void **state)							\
{									\
	int backend = *(int *)*state;					\
									\
	if (dbtest_open(backend, &lkd->db) != 0) {			\
		fprintf(stderr, "cannot open a %s database\n",		\
		    dbtest_name(backend));				\
		return -1;						\
	}								\
	return 0;							\
}									\
static int								\
teardown(void **state)							\
{									\
	(void)state;							\
	lkdb_close(lkd->db);						\
	lkd->db = NULL;							\
	return 0;							\
}

/*
 * For tests of store operations that take the database as an argument:
 * struct tctx (the backend, its database), setup_backend(state, backend),
 * setup (the backend as cmocka's prestate, a const int) and teardown.
 */
#define DBTEST_HANDLE_FIXTURE						\
struct tctx {								\
	int		 backend;					\
	struct lkdb	*db;						\
};									\
static int __attribute__((unused))					\
setup_backend(void **state, int backend)				\
{									\
	struct tctx *c = calloc(1, sizeof(*c));				\
									\
	if (c == NULL)							\
		return -1;						\
	c->backend = backend;						\
	if (dbtest_open(backend, &c->db) != 0) {			\
		fprintf(stderr, "cannot open a %s database\n",		\
		    dbtest_name(backend));				\
		free(c);						\
		return -1;						\
	}								\
	*state = c;							\
	return 0;							\
}									\
static int __attribute__((unused))					\
setup(void **state)							\
{									\
	return setup_backend(state, *(const int *)*state);		\
}									\
static int								\
teardown(void **state)							\
{									\
	struct tctx *c = *state;					\
									\
	lkdb_close(c->db);						\
	free(c);							\
	return 0;							\
}

#endif
