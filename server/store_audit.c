/*
 * Storage of the audit trail (store.h, docs/audit.md): events as their
 * chained lines, the chain's head row and the sinks' cursors.
 *
 * An append first moves the head (UPDATE ... seq = seq + 1): in
 * PostgreSQL that takes the head row's lock until the commit, so
 * concurrent appends on any replica wait their turn and then read the
 * head their predecessor committed (READ COMMITTED reads anew per
 * statement); SQLite's BEGIN IMMEDIATE already holds the database.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "latchkeyd.h"
#include "store.h"

struct store_audit_headv {
	int64_t	 seq;
	char	 hash[65];
	int	 found;
};

static int
store_audit_head_cb(const struct lkdb_row *row, void *arg)
{
	struct store_audit_headv *h = arg;
	const char *hash = lkdb_text(row, 1);

	h->seq = lkdb_int(row, 0);
	if (hash == NULL || strlen(hash) != 64)
		return LK_ERR_RECORD;
	memcpy(h->hash, hash, 65);
	h->found = 1;
	return 1;
}

static int
store_audit_head_read(struct store_audit_headv *h)
{
	int r;

	memset(h, 0, sizeof(*h));
	if ((r = lkdb_query(lkd->db, store_audit_head_cb, h,
	    "SELECT seq, hash FROM audit_head WHERE id = 1", "")) != 0)
		return r;
	return h->found ? 0 : LK_ERR_RECORD;
}

int
store_audit_append_tx(const struct store_audit_new *ev,
    store_audit_make_fn make, void *arg, int64_t *seqp)
{
	struct store_audit_headv h;
	char *line = NULL, hash[65];
	int changes = 0, r;

	if ((r = lkdb_run(lkd->db, &changes, "UPDATE audit_head SET seq = "
	    "seq + 1 WHERE id = 1", "")) != 0)
		return r;
	if (changes != 1)
		return LK_ERR_RECORD;
	if ((r = store_audit_head_read(&h)) != 0)
		return r;
	if ((r = make(arg, h.seq, h.hash, &line, hash)) != 0)
		return r;
	if ((r = lkdb_run(lkd->db, NULL, "INSERT INTO audit_events(seq, time,"
	    " kind, actor, instance_id, username, line, hash) VALUES(?,?,?,?,"
	    "?,?,?,?)", "iissssss", h.seq, ev->time, ev->kind,
	    ev->actor ? ev->actor : "", ev->instance_id ? ev->instance_id : "",
	    ev->username ? ev->username : "", line, hash)) != 0 ||
	    (r = lkdb_run(lkd->db, NULL, "UPDATE audit_head SET hash = ? "
	    "WHERE id = 1", "s", hash)) != 0)
		goto out;
	if (seqp != NULL)
		*seqp = h.seq;
 out:
	free(line);
	return r;
}

int
store_audit_append(const struct store_audit_new *ev,
    store_audit_make_fn make, void *arg, int64_t *seqp)
{
	int r;

	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	if ((r = store_audit_append_tx(ev, make, arg, seqp)) != 0) {
		lkdb_rollback(lkd->db);
		return r;
	}
	return lkdb_commit(lkd->db);
}

struct store_audit_walk {
	store_audit_row_fn	 fn;
	void			*arg;
};

static int
store_audit_walk_cb(const struct lkdb_row *row, void *arg)
{
	struct store_audit_walk *w = arg;
	struct store_audit_row ar;

	ar.seq = lkdb_int(row, 0);
	ar.line = lkdb_text(row, 1);
	ar.hash = lkdb_text(row, 2);
	if (ar.line == NULL || ar.hash == NULL)
		return LK_ERR_RECORD;
	return w->fn(w->arg, &ar);
}

int
store_audit_scan(int64_t after, int64_t limit, store_audit_row_fn fn,
    void *arg)
{
	struct store_audit_walk w = { fn, arg };

	return lkdb_query(lkd->db, store_audit_walk_cb, &w, "SELECT seq, line,"
	    " hash FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?", "ii",
	    after, limit > 0 ? limit : INT64_MAX);
}

int
store_audit_head(int64_t *seqp, char hash[65])
{
	struct store_audit_headv h;
	int r;

	if ((r = store_audit_head_read(&h)) != 0)
		return r;
	*seqp = h.seq;
	memcpy(hash, h.hash, 65);
	return 0;
}

static int
store_audit_count_cb(const struct lkdb_row *row, void *arg)
{
	*(int64_t *)arg = lkdb_int(row, 0);
	return 1;
}

/* A NULL filter matches all: "? IS NULL OR col = ?" with it twice. */
#define STORE_AUDIT_WHERE " FROM audit_events WHERE (?1 IS NULL OR " \
	"actor = ?1) AND (?2 IS NULL OR instance_id = ?2) AND (?3 IS NULL " \
	"OR username = ?3) AND (?4 IS NULL OR kind = ?4) AND time >= ?5"

int
store_audit_query(const struct store_audit_query *q, store_audit_row_fn fn,
    void *arg, int64_t *totalp)
{
	struct store_audit_walk w = { fn, arg };
	int r;

	*totalp = 0;
	if ((r = lkdb_query(lkd->db, store_audit_count_cb, totalp,
	    "SELECT COUNT(*)" STORE_AUDIT_WHERE, "ssssi", q->actor,
	    q->instance_id, q->username, q->kind, q->since)) != 0)
		return r;
	return lkdb_query(lkd->db, store_audit_walk_cb, &w, "SELECT seq, line,"
	    " hash" STORE_AUDIT_WHERE " ORDER BY seq DESC LIMIT ?6 OFFSET ?7",
	    "ssssiii", q->actor, q->instance_id, q->username, q->kind,
	    q->since, q->limit, q->offset);
}

int
store_audit_cursor_get(const char *name, int64_t *seqp)
{
	*seqp = 0;
	return lkdb_query(lkd->db, store_audit_count_cb, seqp, "SELECT seq "
	    "FROM audit_cursors WHERE name = ?", "s", name);
}

int
store_audit_cursor_set(const char *name, int64_t seq)
{
	int changes = 0, r;

	if ((r = lkdb_run(lkd->db, &changes, "UPDATE audit_cursors SET seq = ?"
	    " WHERE name = ?", "is", seq, name)) != 0 || changes == 1)
		return r;
	return lkdb_run(lkd->db, NULL, "INSERT INTO audit_cursors(name, seq) "
	    "VALUES(?, ?)", "si", name, seq);
}

struct store_audit_curs {
	int	(*fn)(void *, const char *, int64_t);
	void	*arg;
};

static int
store_audit_curs_cb(const struct lkdb_row *row, void *arg)
{
	struct store_audit_curs *c = arg;
	const char *name = lkdb_text(row, 0);

	return name == NULL ? LK_ERR_RECORD : c->fn(c->arg, name,
	    lkdb_int(row, 1));
}

int
store_audit_cursor_list(int (*fn)(void *arg, const char *name, int64_t seq),
    void *arg)
{
	struct store_audit_curs c = { fn, arg };

	return lkdb_query(lkd->db, store_audit_curs_cb, &c, "SELECT name, seq "
	    "FROM audit_cursors ORDER BY name", "");
}
