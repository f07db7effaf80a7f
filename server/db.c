#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "log.h"

/*
 * The backend chosen by --db, and the connection it opened. The clock
 * offset is written by lkdb_clock_sync (the watchdog, every few seconds)
 * and read by every request: a relaxed atomic is enough.
 */
struct lkdb {
	const struct lkdb_backend *be;
	void		*impl;
	int64_t		 offset;
};

static int
db_is_pg(const char *spec)
{
	return strncmp(spec, "postgresql://", 13) == 0 ||
	    strncmp(spec, "postgres://", 11) == 0;
}

int
lkdb_open(const char *spec, struct lkdb **dbp)
{
	struct lkdb *db;
	const char *target = spec;
	int r;

	*dbp = NULL;
	if ((db = calloc(1, sizeof(*db))) == NULL)
		return LK_ERR_ALLOC;
	if (db_is_pg(spec))
		db->be = &lkdb_pg;
	else {
		db->be = &lkdb_sqlite;
		if (strncmp(spec, "sqlite:", 7) == 0)
			target = spec + 7;
	}
	if (*target == '\0') {
		free(db);
		return LK_ERR_INVALID_FORMAT;
	}
	if ((r = db->be->open(target, &db->impl)) != 0) {
		free(db);
		return r;
	}
	(void)lkdb_clock_sync(db);
	*dbp = db;
	return 0;
}

void
lkdb_close(struct lkdb *db)
{
	if (db == NULL)
		return;
	db->be->close(db->impl);
	free(db);
}

const char *
lkdb_kind(const struct lkdb *db)
{
	return db->be->name;
}

/*
 * Copies spec without the password of a URI's user information
 * ("postgresql://user:secret@host/db" becomes "postgresql://user@host/db")
 * and without a password=... query parameter.
 */
void
lkdb_describe(const char *spec, char *out, size_t outsize)
{
	const char *p, *at, *colon, *q;
	size_t n = 0;

	if (outsize == 0)
		return;
	out[0] = '\0';
	if (!db_is_pg(spec)) {
		snprintf(out, outsize, "%s", spec);
		return;
	}
	p = strstr(spec, "://") + 3;
	at = strchr(p, '@');
	colon = strchr(p, ':');
	if (at != NULL && colon != NULL && colon < at)
		n = (size_t)snprintf(out, outsize, "%.*s%s", (int)(colon - spec),
		    spec, at);
	else
		n = (size_t)snprintf(out, outsize, "%s", spec);
	if (n >= outsize)
		return;
	/* Cut a password=... parameter (and everything after it). */
	if ((q = strstr(out, "password=")) != NULL)
		out[q - out] = '\0';
}

static atomic_ullong lkdb_nerrors;

void
lkdb_error_count(void)
{
	atomic_fetch_add_explicit(&lkdb_nerrors, 1, memory_order_relaxed);
}

unsigned long long
lkdb_errors(void)
{
	return atomic_load_explicit(&lkdb_nerrors, memory_order_relaxed);
}

int
lkdb_run(struct lkdb *db, int *changesp, const char *sql, const char *types,
    ...)
{
	va_list ap;
	int r;

	va_start(ap, types);
	r = db->be->query(db->impl, changesp, NULL, NULL, sql, types, ap);
	va_end(ap);
	return r;
}

int
lkdb_query(struct lkdb *db, lkdb_row_cb cb, void *arg, const char *sql,
    const char *types, ...)
{
	va_list ap;
	int r;

	va_start(ap, types);
	r = db->be->query(db->impl, NULL, cb, arg, sql, types, ap);
	va_end(ap);
	return r;
}

int
lkdb_begin(struct lkdb *db)
{
	return db->be->begin(db->impl);
}

int
lkdb_commit(struct lkdb *db)
{
	return db->be->commit(db->impl);
}

void
lkdb_rollback(struct lkdb *db)
{
	db->be->rollback(db->impl);
}

int
lkdb_lock(struct lkdb *db, const char *key)
{
	return db->be->lock(db->impl, key);
}

int64_t
lkdb_clock_offset(const struct lkdb *db)
{
	return __atomic_load_n(&db->offset, __ATOMIC_RELAXED);
}

int
lkdb_clock_sync(struct lkdb *db)
{
	int64_t off = 0;
	int r;

	if ((r = db->be->clock_sync(db->impl, &off)) != 0)
		return r;
	__atomic_store_n(&db->offset, off, __ATOMIC_RELAXED);
	return 0;
}

int
lkdb_backup(struct lkdb *db, const char *dest)
{
	if (db->be->backup == NULL)
		return LK_ERR_INVALID_FORMAT;
	return db->be->backup(db->impl, dest);
}

int
lkdb_listen(struct lkdb *db, const char *channel, lkdb_notify_cb cb,
    void *arg)
{
	if (db->be->listen == NULL)
		return LK_ERR_INVALID_FORMAT;
	return db->be->listen(db->impl, channel, cb, arg);
}

int
lkdb_schema_version(struct lkdb *db, int *vp, int *wantp)
{
	return db->be->schema_version(db->impl, vp, wantp);
}

int64_t
lkdb_int(const struct lkdb_row *row, int i)
{
	return row->be->col_int(row, i);
}

const char *
lkdb_text(const struct lkdb_row *row, int i)
{
	return row->be->col_text(row, i);
}

const void *
lkdb_blob(const struct lkdb_row *row, int i, size_t *lenp)
{
	return row->be->col_blob(row, i, lenp);
}

int
lkdb_isnull(const struct lkdb_row *row, int i)
{
	return row->be->col_null(row, i);
}

char *
lkdb_col_str(const struct lkdb_row *row, int i)
{
	const char *s = lkdb_text(row, i);

	return strdup(s == NULL ? "" : s);
}
