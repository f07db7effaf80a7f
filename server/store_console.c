/*
 * Storage of console operators and of the console's sign-in sessions
 * (store.h). Sessions are kept under the SHA-256 of their id, which
 * console_auth.c computes; nothing here sees an id or a password.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "store.h"

int
store_operator_create(struct lkdb *db, const char *name, const char *pw_hash,
    int64_t created)
{
	return lkdb_run(db, NULL, "INSERT INTO operators(name, pw_hash, "
	    "created) VALUES(?,?,?)", "ssi", name, pw_hash, created);
}

/* Columns: name, disabled, created, last_signin[, pw_hash]. */
static int
store_operator_row(const struct lkdb_row *row, struct store_operator *op,
    int want_hash)
{
	memset(op, 0, sizeof(*op));
	if ((op->name = lkdb_col_str(row, 0)) == NULL ||
	    (want_hash && (op->pw_hash = lkdb_col_str(row, 4)) == NULL)) {
		store_operator_free(op);
		return LK_ERR_ALLOC;
	}
	op->disabled = lkdb_int(row, 1) != 0;
	op->created = lkdb_int(row, 2);
	op->last_signin = lkdb_int(row, 3);
	return 0;
}

struct store_operator_one {
	struct store_operator	*op;
	int			 found;
};

static int
store_operator_one_cb(const struct lkdb_row *row, void *arg)
{
	struct store_operator_one *one = arg;
	int r;

	if ((r = store_operator_row(row, one->op, 1)) != 0)
		return r;
	one->found = 1;
	return 1;
}

int
store_operator_get(struct lkdb *db, const char *name,
    struct store_operator *op)
{
	struct store_operator_one one = { op, 0 };
	int r;

	memset(op, 0, sizeof(*op));
	if ((r = lkdb_query(db, store_operator_one_cb, &one, "SELECT name, "
	    "disabled, created, last_signin, pw_hash FROM operators WHERE "
	    "name = ?", "s", name)) != 0) {
		store_operator_free(op);
		return r;
	}
	return one.found ? 0 : LK_ERR_NOT_FOUND;
}

struct store_operator_many {
	struct store_operator	*ops;
	size_t			 n, cap;
};

static int
store_operator_many_cb(const struct lkdb_row *row, void *arg)
{
	struct store_operator_many *m = arg;
	struct store_operator *nops;
	size_t ncap;
	int r;

	if (m->n == m->cap) {
		ncap = m->cap == 0 ? 16 : 2 * m->cap;
		if ((nops = reallocarray(m->ops, ncap, sizeof(*nops))) == NULL)
			return LK_ERR_ALLOC;
		m->ops = nops;
		m->cap = ncap;
	}
	if ((r = store_operator_row(row, &m->ops[m->n], 0)) != 0)
		return r;
	m->n++;
	return 0;
}

static int
store_operator_cmp(const void *a, const void *b)
{
	const struct store_operator *x = a, *y = b;

	return strcmp(x->name, y->name);
}

int
store_operator_list(struct lkdb *db, struct store_operator **opsp,
    size_t *np)
{
	struct store_operator_many m = { NULL, 0, 0 };
	int r;

	*opsp = NULL;
	*np = 0;
	if ((r = lkdb_query(db, store_operator_many_cb, &m, "SELECT name, "
	    "disabled, created, last_signin FROM operators", "")) != 0) {
		store_operator_list_free(m.ops, m.n);
		return r;
	}
	/*
	 * By name in byte order, as SQLite's ORDER BY name gave it: a
	 * PostgreSQL database's collation may order "B", "a" and "_x"
	 * otherwise. The names are unique, so the order is total.
	 */
	if (m.n > 1)
		qsort(m.ops, m.n, sizeof(*m.ops), store_operator_cmp);
	*opsp = m.ops;
	*np = m.n;
	return 0;
}

int
store_operator_disable(struct lkdb *db, const char *name)
{
	int changes = 0, r;

	if ((r = lkdb_begin(db)) != 0)
		return r;
	if ((r = lkdb_run(db, &changes, "UPDATE operators SET disabled = 1 "
	    "WHERE name = ?", "s", name)) != 0)
		goto fail;
	if (changes != 1) {
		r = LK_ERR_NOT_FOUND;
		goto fail;
	}
	if ((r = lkdb_run(db, NULL, "DELETE FROM console_sessions WHERE "
	    "kind = 'operator' AND principal = ?", "s", name)) != 0)
		goto fail;
	return lkdb_commit(db);
 fail:
	lkdb_rollback(db);
	return r;
}

int
store_operator_signed_in(struct lkdb *db, const char *name, int64_t when)
{
	return lkdb_run(db, NULL, "UPDATE operators SET last_signin = ? WHERE "
	    "name = ?", "is", when, name);
}

void
store_operator_free(struct store_operator *op)
{
	if (op == NULL)
		return;
	free(op->name);
	free(op->pw_hash);
	memset(op, 0, sizeof(*op));
}

void
store_operator_list_free(struct store_operator *ops, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		store_operator_free(&ops[i]);
	free(ops);
}

int
store_csession_create(struct lkdb *db, const char *id_hash, const char *kind,
    const char *principal, const char *csrf, int64_t now)
{
	return lkdb_run(db, NULL, "INSERT INTO console_sessions(id_hash, kind, "
	    "principal, csrf, created, last_used) VALUES(?,?,?,?,?,?)",
	    "ssssii", id_hash, kind, principal, csrf, now, now);
}

struct store_csession_one {
	struct store_csession	*s;
	int			 found;
};

static int
store_csession_one_cb(const struct lkdb_row *row, void *arg)
{
	struct store_csession_one *one = arg;
	struct store_csession *s = one->s;

	if ((s->kind = lkdb_col_str(row, 0)) == NULL ||
	    (s->principal = lkdb_col_str(row, 1)) == NULL ||
	    (s->csrf = lkdb_col_str(row, 2)) == NULL)
		return LK_ERR_ALLOC;
	s->created = lkdb_int(row, 3);
	s->last_used = lkdb_int(row, 4);
	one->found = 1;
	return 1;
}

int
store_csession_get(struct lkdb *db, const char *id_hash,
    struct store_csession *s)
{
	struct store_csession_one one = { s, 0 };
	int r;

	memset(s, 0, sizeof(*s));
	if ((r = lkdb_query(db, store_csession_one_cb, &one, "SELECT kind, "
	    "principal, csrf, created, last_used FROM console_sessions WHERE "
	    "id_hash = ?", "s", id_hash)) != 0) {
		store_csession_free(s);
		return r;
	}
	return one.found ? 0 : LK_ERR_NOT_FOUND;
}

int
store_csession_touch(struct lkdb *db, const char *id_hash, int64_t now)
{
	return lkdb_run(db, NULL, "UPDATE console_sessions SET last_used = ? "
	    "WHERE id_hash = ?", "is", now, id_hash);
}

int
store_csession_delete(struct lkdb *db, const char *id_hash)
{
	return lkdb_run(db, NULL, "DELETE FROM console_sessions WHERE "
	    "id_hash = ?", "s", id_hash);
}

int
store_csession_expire(struct lkdb *db, int64_t idle_before,
    int64_t created_before)
{
	return lkdb_run(db, NULL, "DELETE FROM console_sessions WHERE "
	    "last_used < ? OR created < ?", "ii", idle_before, created_before);
}

void
store_csession_free(struct store_csession *s)
{
	if (s == NULL)
		return;
	free(s->kind);
	free(s->principal);
	free(s->csrf);
	memset(s, 0, sizeof(*s));
}

/*
 * The console's sign-in failure counts: one row per address or account
 * ("addr" or "acct", and console_auth.c's key), with the start of its
 * window and the failures (and reservations) in it.
 *
 * The schema's migration 5 -> 6 (PostgreSQL's 1 -> 2) makes this table;
 * store_console_init() makes it again if it has gone missing (dropped by
 * hand), under the migrations' own lock, so that replicas do not race.
 */
int
store_console_init(struct lkdb *db)
{
	int pg = strcmp(lkdb_kind(db), "postgresql") == 0;
	int r;

	if ((r = lkdb_begin(db)) != 0)
		return r;
	if ((r = lkdb_lock(db, "latchkey-migrate")) != 0 ||
	    (r = lkdb_run(db, NULL, pg ?
	    "CREATE TABLE IF NOT EXISTS console_signin_fails("
	    "kind TEXT NOT NULL, name TEXT NOT NULL, "
	    "window_start BIGINT NOT NULL, fails BIGINT NOT NULL, "
	    "PRIMARY KEY(kind, name))" :
	    "CREATE TABLE IF NOT EXISTS console_signin_fails("
	    "kind TEXT NOT NULL, name TEXT NOT NULL, "
	    "window_start INTEGER NOT NULL, fails INTEGER NOT NULL, "
	    "PRIMARY KEY(kind, name))", "")) != 0 ||
	    (r = lkdb_run(db, NULL, "CREATE INDEX IF NOT EXISTS "
	    "console_signin_fails_start ON console_signin_fails(window_start)",
	    "")) != 0) {
		lkdb_rollback(db);
		return r;
	}
	return lkdb_commit(db);
}

/*
 * One more failure for e at now, unless its live window is full. A window
 * is live while window_start - skew <= now < window_start + window; an
 * entry whose window is not live starts a new one at now with one failure. The
 * conditional upsert is one statement: on PostgreSQL, ON CONFLICT DO UPDATE
 * locks the row and evaluates the condition on its latest version, so
 * concurrent callers never take more than max. No row back: full.
 */
struct store_climit_one {
	int64_t	start;
	int	found;
};

static int
store_climit_one_cb(const struct lkdb_row *row, void *arg)
{
	struct store_climit_one *one = arg;

	one->start = lkdb_int(row, 0);
	one->found = 1;
	return 1;
}

static int
store_climit_take_one(struct lkdb *db, struct store_climit *e, int64_t now,
    int64_t window, int64_t skew, int max)
{
	struct store_climit_one one = { 0, 0 };
	int r;

	if ((r = lkdb_query(db, store_climit_one_cb, &one,
	    "INSERT INTO console_signin_fails(kind, name, window_start, fails) "
	    "VALUES(?1, ?2, ?3, 1) ON CONFLICT(kind, name) DO UPDATE SET "
	    "window_start = CASE WHEN ?3 + ?6 < console_signin_fails.window_start "
	    "OR ?3 - console_signin_fails.window_start >= ?4 THEN ?3 "
	    "ELSE console_signin_fails.window_start END, "
	    "fails = CASE WHEN ?3 + ?6 < console_signin_fails.window_start "
	    "OR ?3 - console_signin_fails.window_start >= ?4 THEN 1 "
	    "ELSE console_signin_fails.fails + 1 END "
	    "WHERE ?3 + ?6 < console_signin_fails.window_start "
	    "OR ?3 - console_signin_fails.window_start >= ?4 "
	    "OR console_signin_fails.fails < ?5 "
	    "RETURNING window_start", "ssiiii", e->kind, e->name, now, window,
	    (int64_t)max, skew)) != 0)
		return r;
	if (!one.found)
		return LK_ERR_RANGE;
	e->window_start = one.start;
	return 0;
}

int
store_climit_take(struct lkdb *db, struct store_climit *e, size_t n,
    int64_t now, int64_t window, int64_t skew, int max, size_t *fullp)
{
	size_t i;
	int r;

	*fullp = n;
	if ((r = lkdb_begin(db)) != 0)
		return r;
	for (i = 0; i < n; i++) {
		if ((r = store_climit_take_one(db, &e[i], now, window, skew,
		    max)) != 0) {
			if (r == LK_ERR_RANGE)
				*fullp = i;
			lkdb_rollback(db);
			return r;
		}
	}
	return lkdb_commit(db);
}

/*
 * One transaction, in the entries' order as the take: a take running at
 * the same time sees all of a give-back or none of it (the address given
 * back but not yet the account would refuse it for the account).
 */
int
store_climit_give(struct lkdb *db, const struct store_climit *e, size_t n)
{
	size_t i;
	int r;

	if ((r = lkdb_begin(db)) != 0)
		return r;
	for (i = 0; i < n; i++) {
		if ((r = lkdb_run(db, NULL, "UPDATE console_signin_fails SET "
		    "fails = fails - 1 WHERE kind = ? AND name = ? AND "
		    "window_start = ? AND fails > 0", "ssi", e[i].kind,
		    e[i].name, e[i].window_start)) != 0) {
			lkdb_rollback(db);
			return r;
		}
	}
	return lkdb_commit(db);
}

int
store_climit_sweep(struct lkdb *db, int64_t before, int64_t after)
{
	return lkdb_run(db, NULL, "DELETE FROM console_signin_fails WHERE "
	    "window_start < ? OR window_start > ?", "ii", before, after);
}

int
store_climit_clear(struct lkdb *db)
{
	return lkdb_run(db, NULL, "DELETE FROM console_signin_fails", "");
}
