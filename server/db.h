/*
 * latchkeyd's storage: one SQLite file in WAL mode, schema versioned and
 * migrated on open. All access goes through one connection guarded by a
 * mutex (SQLite serialises writers anyway); every write is one transaction
 * with synchronous=FULL, so what the API acknowledged survives kill -9 and
 * power loss.
 *
 * Statements are run with a tiny binding language: types is a string with
 * one letter per '?' in sql: 's' const char * (NULL binds NULL), 'i'
 * int64_t, 'b' const void * followed by size_t.
 */
#ifndef LK_DB_H
#define LK_DB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define LKDB_SCHEMA_VERSION	4

struct lkdb;

int	lkdb_open(const char *path, struct lkdb **dbp);
void	lkdb_close(struct lkdb *db);

/* Runs one statement; *changesp (may be NULL) gets the rows changed. */
int	lkdb_run(struct lkdb *db, int *changesp, const char *sql,
	    const char *types, ...);

/*
 * Runs a query and calls cb for each row with the prepared statement
 * (read columns with sqlite3_column_*); cb returns 0 to go on, 1 to stop,
 * or a negative error.
 */
typedef int (*lkdb_row_cb)(sqlite3_stmt *st, void *arg);
int	lkdb_query(struct lkdb *db, lkdb_row_cb cb, void *arg, const char *sql,
	    const char *types, ...);

/* Transactions for several statements; the lock is held in between. */
int	lkdb_begin(struct lkdb *db);
int	lkdb_commit(struct lkdb *db);
void	lkdb_rollback(struct lkdb *db);

/* Duplicates column i as a new string ("" for NULL); NULL when no memory. */
char	*lkdb_col_str(sqlite3_stmt *st, int i);

#endif
