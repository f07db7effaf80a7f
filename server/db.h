/*
 * latchkeyd's SQL layer: one small interface over two backends, chosen by
 * the --db argument from a table of operations (db.c):
 *
 *   PATH or sqlite:PATH        an SQLite file in WAL mode (db_sqlite.c)
 *   postgresql://... postgres://...
 *                              a PostgreSQL database through libpq, with a
 *                              pool of connections (db_pg.c)
 *
 * Only the store files (store_*.c) use this header; handlers call the typed
 * operations of store.h and never see SQL or rows. Only the backend files
 * include a database library's header.
 *
 * SQL is written once, in the dialect both backends accept: '?' or '?N'
 * placeholders (the PostgreSQL backend rewrites them to $N), INTEGER values
 * that are 64-bit (BIGINT in PostgreSQL's schema), no SQLite-only functions,
 * no booleans in results (compare with CASE ... THEN 1 ELSE 0 END).
 *
 * Parameters use a tiny binding language: types is a string with one letter
 * per placeholder: 's' const char * (NULL binds NULL), 'i' int64_t, 'b'
 * const void * followed by size_t.
 *
 * Errors: 0, LK_ERR_NOT_FOUND never (an empty result is not an error),
 * LK_ERR_INVALID_FORMAT for a constraint violation (a duplicate key),
 * LK_ERR_UNAVAILABLE when the database cannot be reached (the call changed
 * nothing; latchkeyd reconnects by itself), LK_ERR_INTERNAL otherwise (the
 * database's message is logged).
 */
#ifndef LK_DB_H
#define LK_DB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct lkdb;
struct lkdb_row;

/*
 * Opens the database named by spec and brings its schema to the current
 * version, one transaction per migration step (several latchkeyd starting
 * on one PostgreSQL migrate once: the steps hold a lock). A schema newer
 * than this latchkeyd is refused (LK_ERR_RANGE).
 */
int	lkdb_open(const char *spec, struct lkdb **dbp);
void	lkdb_close(struct lkdb *db);
/* "sqlite" or "postgresql". */
const char *lkdb_kind(const struct lkdb *db);
/* A description of spec safe to log: no password. */
void	lkdb_describe(const char *spec, char *out, size_t outsize);

/* Runs one statement; *changesp (may be NULL) gets the rows changed. */
int	lkdb_run(struct lkdb *db, int *changesp, const char *sql,
	    const char *types, ...);

/*
 * Runs a query and calls cb for each row; cb returns 0 to go on, 1 to stop,
 * or a negative error. A callback may run other statements on db.
 */
typedef int (*lkdb_row_cb)(const struct lkdb_row *row, void *arg);
int	lkdb_query(struct lkdb *db, lkdb_row_cb cb, void *arg, const char *sql,
	    const char *types, ...);

/*
 * Transactions for several statements. The thread that called lkdb_begin
 * owns the transaction until lkdb_commit or lkdb_rollback; its statements in
 * between run inside it. No nesting.
 */
int	lkdb_begin(struct lkdb *db);
int	lkdb_commit(struct lkdb *db);
void	lkdb_rollback(struct lkdb *db);

/*
 * Inside a transaction: waits until no other transaction holds the lock
 * named key, and holds it until this one ends. Counts that must not be
 * exceeded by concurrent calls (sessions per instance) take it before they
 * count. (SQLite runs one writing transaction at a time: a no-op there.)
 */
int	lkdb_lock(struct lkdb *db, const char *key);

/*
 * The database's clock minus this machine's, in seconds, as last measured
 * (0 for SQLite). lkd_now() adds it, so that replicas on one PostgreSQL
 * agree on expiry and time windows. lkdb_clock_sync measures it again.
 */
int64_t	lkdb_clock_offset(const struct lkdb *db);
int	lkdb_clock_sync(struct lkdb *db);

/*
 * PostgreSQL's LISTEN: a thread of its own on a connection of its own (not
 * the pool's) listens on channel and calls cb(arg, payload) for each
 * notification, and cb(arg, NULL) after every connection it (re)opens
 * ("resync": what was sent while it was away is lost, so look again). A
 * lost connection is opened again with a backoff from 100 ms to 5 s. One
 * listener per database, until lkdb_close. SQLite has nothing to listen
 * to (one process): LK_ERR_INVALID_FORMAT.
 */
typedef void (*lkdb_notify_cb)(void *arg, const char *payload);
int	lkdb_listen(struct lkdb *db, const char *channel, lkdb_notify_cb cb,
	    void *arg);

/* Copies the database to dest (SQLite's online backup). */
int	lkdb_backup(struct lkdb *db, const char *dest);

/*
 * Database errors (failed statements and connections, not constraint
 * refusals): the backends count each; /metrics reads the total.
 */
void	lkdb_error_count(void);
unsigned long long lkdb_errors(void);

/* The schema version, and the version this latchkeyd writes. */
int	lkdb_schema_version(struct lkdb *db, int *vp, int *wantp);

/* Columns of the current row, counted from 0. */
int64_t	lkdb_int(const struct lkdb_row *row, int i);
/* The column as text; NULL for SQL NULL. Valid until the callback returns. */
const char *lkdb_text(const struct lkdb_row *row, int i);
/* The column's bytes and their count (a BLOB/bytea, or text). */
const void *lkdb_blob(const struct lkdb_row *row, int i, size_t *lenp);
int	lkdb_isnull(const struct lkdb_row *row, int i);
/* Duplicates column i as a new string ("" for NULL); NULL when no memory. */
char	*lkdb_col_str(const struct lkdb_row *row, int i);

/* The table of operations a backend provides (db.c chooses one). */
struct lkdb_backend {
	const char	*name;
	int		(*open)(const char *target, void **implp);
	void		(*close)(void *impl);
	int		(*query)(void *impl, int *changesp, lkdb_row_cb cb,
			    void *arg, const char *sql, const char *types,
			    va_list ap);
	int		(*begin)(void *impl);
	int		(*commit)(void *impl);
	void		(*rollback)(void *impl);
	int		(*lock)(void *impl, const char *key);
	int		(*clock_sync)(void *impl, int64_t *offsetp);
	int		(*backup)(void *impl, const char *dest);
	int		(*listen)(void *impl, const char *channel,
			    lkdb_notify_cb cb, void *arg);
	int		(*schema_version)(void *impl, int *vp, int *wantp);
	int64_t		(*col_int)(const struct lkdb_row *row, int i);
	const char	*(*col_text)(const struct lkdb_row *row, int i);
	const void	*(*col_blob)(const struct lkdb_row *row, int i,
			    size_t *lenp);
	int		(*col_null)(const struct lkdb_row *row, int i);
};

/* What a backend hands to a row callback. */
struct lkdb_row {
	const struct lkdb_backend *be;
	void		*impl;		/* the backend's statement or result */
	int		 n;		/* row number, for result sets */
};

extern const struct lkdb_backend lkdb_sqlite;
extern const struct lkdb_backend lkdb_pg;

#endif
