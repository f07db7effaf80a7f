/*
 * Sessions, their single-use tokens and records, and account settings
 * (store.h). The two operations that must hold under concurrent callers
 * are the admission (a lock on the instance, then the counts and the
 * insert, in one transaction) and the token's redemption (one conditional
 * update whose changed-rows count says who won). Across replicas, the
 * hand-out of a session to its agent's poll is a third: one conditional
 * update, whichever replica the poll is on.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "store.h"

#define SESS_LOCK_MAX	200	/* "sessions:" and an instance id */

static int
sess_str_cb(const struct lkdb_row *row, void *arg)
{
	char **sp = arg;

	if ((*sp = lkdb_col_str(row, 0)) == NULL)
		return LK_ERR_ALLOC;
	return 1;
}

int
store_setting_get(struct lkdb *db, const char *name, char **valuep)
{
	int r;

	*valuep = NULL;
	if ((r = lkdb_query(db, sess_str_cb, valuep, "SELECT value FROM "
	    "settings WHERE name = ?", "s", name)) != 0) {
		free(*valuep);
		*valuep = NULL;
		return r;
	}
	return *valuep != NULL ? 0 : LK_ERR_NOT_FOUND;
}

int
store_setting_set(struct lkdb *db, const char *name, const char *value)
{
	return lkdb_run(db, NULL, "INSERT INTO settings(name, value) VALUES "
	    "(?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
	    "ss", name, value);
}

/* The open sessions of an instance: all of them, and the owner's. */
struct sess_open {
	int64_t	 all;
	int64_t	 own;
};

static int
sess_open_cb(const struct lkdb_row *row, void *arg)
{
	struct sess_open *o = arg;

	o->all = lkdb_int(row, 0);
	o->own = lkdb_int(row, 1);
	return 1;
}

int
store_sess_start(struct lkdb *db, const struct store_sess_new *s,
    long per_key, long per_instance, int *limitp)
{
	struct sess_open o = { 0, 0 };
	char key[SESS_LOCK_MAX];
	int r;

	*limitp = 0;
	if ((size_t)snprintf(key, sizeof(key), "sessions:%s",
	    s->instance_id) >= sizeof(key))
		return LK_ERR_TOO_LONG;
	if ((r = lkdb_begin(db)) != 0)
		return r;
	if ((r = lkdb_lock(db, key)) != 0 ||
	    (r = lkdb_query(db, sess_open_cb, &o, "SELECT COUNT(*), "
	    "COUNT(CASE WHEN owner = ?1 THEN 1 END) FROM sessions WHERE "
	    "instance_id = ?2 AND (status IN ('Connecting', 'Connected', "
	    "'Disconnected') OR (status = 'Pending' AND token_expires > ?3))",
	    "ssi", s->owner,
	    s->instance_id, s->now)) != 0)
		goto fail;
	if (o.own >= per_key || o.all >= per_instance) {
		*limitp = o.own >= per_key ? STORE_SESS_LIMIT_KEY :
		    STORE_SESS_LIMIT_INSTANCE;
		r = LK_ERR_BUSY;
		goto fail;
	}
	if ((r = lkdb_run(db, NULL, "INSERT INTO sessions(id, owner, "
	    "instance_id, port, username, token_hash, token_expires, status, "
	    "created, kind, shell) VALUES (?, ?, ?, ?, ?, ?, ?, 'Pending', ?, "
	    "?, ?)", "sssissiiss",
	    s->id, s->owner, s->instance_id, s->port,
	    s->username != NULL ? s->username : "", s->token_hash,
	    s->token_expires, s->now, s->kind != NULL ? s->kind : "port",
	    s->shell != NULL ? s->shell : "")) != 0)
		goto fail;
	return lkdb_commit(db);
 fail:
	lkdb_rollback(db);
	return r;
}

static int
sess_found_cb(const struct lkdb_row *row, void *arg)
{
	(void)row;
	*(int *)arg = 1;
	return 1;
}

int
store_sess_end(struct lkdb *db, const char *sid, const char *owner,
    int64_t now)
{
	int changes = 0, found = 0, r;

	/* A URL not yet used can no longer be. */
	if ((r = lkdb_run(db, &changes, "UPDATE sessions SET status = "
	    "'Closed', ended = ?, closed_reason = 'ended before it connected' "
	    "WHERE id = ? AND owner = ? AND status = 'Pending' AND epoch = 0",
	    "iss", now, sid, owner)) != 0)
		return r;
	if (changes > 0)
		return 0;
	/* Between two connections: over now, and ends that wait give up. */
	if ((r = lkdb_run(db, &changes, "UPDATE sessions SET status = "
	    "'Closed', ended = ?, closed_reason = 'ended while disconnected', "
	    "lost_at = 0, handout = CASE WHEN handout = 1 THEN 0 ELSE handout "
	    "END WHERE id = ? AND owner = ? AND status IN ('Pending', "
	    "'Disconnected')", "iss", now, sid, owner)) != 0)
		return r;
	if (changes > 0)
		return 0;
	/*
	 * A live session: marked, so that the replica holding its client
	 * ends it (store_sess_end_requested) if it is not this one.
	 */
	if ((r = lkdb_run(db, NULL, "UPDATE sessions SET end_requested = 1 "
	    "WHERE id = ? AND owner = ? AND status IN ('Connecting', "
	    "'Connected')", "ss", sid, owner)) != 0)
		return r;
	if ((r = lkdb_query(db, sess_found_cb, &found, "SELECT 1 FROM sessions "
	    "WHERE id = ? AND owner = ?", "ss", sid, owner)) != 0)
		return r;
	return found ? 0 : LK_ERR_NOT_FOUND;
}

struct sess_ids {
	store_sess_id_cb	 cb;
	void			*arg;
};

static int
sess_id_cb(const struct lkdb_row *row, void *arg)
{
	struct sess_ids *x = arg;
	const char *id = lkdb_text(row, 0);

	if (id != NULL)
		x->cb(id, x->arg);
	return 0;
}

int
store_sess_end_requested(struct lkdb *db, const char *replica,
    store_sess_id_cb cb, void *arg)
{
	struct sess_ids x = { cb, arg };

	return lkdb_query(db, sess_id_cb, &x, "SELECT id FROM sessions WHERE "
	    "client_replica = ? AND end_requested = 1 AND status IN "
	    "('Connecting', 'Connected')", "s", replica);
}

static void
sess_free_one(struct store_sess *s)
{
	free(s->id);
	free(s->owner);
	free(s->instance_id);
	free(s->username);
	free(s->client_ip);
	free(s->status);
	free(s->closed_reason);
	free(s->kind);
	free(s->shell);
}

void
store_sess_list_free(struct store_sess *list, size_t n)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < n; i++)
		sess_free_one(&list[i]);
	free(list);
}

struct sess_list {
	struct store_sess	*v;
	size_t			 n;
	size_t			 cap;
};

static int
sess_list_cb(const struct lkdb_row *row, void *arg)
{
	struct sess_list *l = arg;
	struct store_sess *s, *nv;
	size_t cap;

	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 16;
		if ((nv = reallocarray(l->v, cap, sizeof(*nv))) == NULL)
			return LK_ERR_ALLOC;
		l->v = nv;
		l->cap = cap;
	}
	s = &l->v[l->n];
	memset(s, 0, sizeof(*s));
	l->n++;
	if ((s->id = lkdb_col_str(row, 0)) == NULL ||
	    (s->instance_id = lkdb_col_str(row, 1)) == NULL ||
	    (s->username = lkdb_col_str(row, 3)) == NULL ||
	    (s->client_ip = lkdb_col_str(row, 4)) == NULL ||
	    (s->status = lkdb_col_str(row, 5)) == NULL ||
	    (s->closed_reason = lkdb_col_str(row, 11)) == NULL ||
	    (s->owner = lkdb_col_str(row, 12)) == NULL ||
	    (s->kind = lkdb_col_str(row, 13)) == NULL ||
	    (s->shell = lkdb_col_str(row, 14)) == NULL)
		return LK_ERR_ALLOC;
	s->port = lkdb_int(row, 2);
	s->created = lkdb_int(row, 6);
	s->started = lkdb_isnull(row, 7) ? 0 : lkdb_int(row, 7);
	s->ended = lkdb_isnull(row, 8) ? 0 : lkdb_int(row, 8);
	s->bytes_in = lkdb_int(row, 9);
	s->bytes_out = lkdb_int(row, 10);
	s->rec_size = lkdb_isnull(row, 15) ? -1 : lkdb_int(row, 15);
	s->rec_truncated = !lkdb_isnull(row, 16) && lkdb_int(row, 16) != 0;
	return 0;
}

int
store_sess_list(struct lkdb *db, const struct store_sess_query *q,
    struct store_sess **listp, size_t *np)
{
	struct sess_list l = { NULL, 0, 0 };
	int r;

	*listp = NULL;
	*np = 0;
	if ((r = lkdb_query(db, sess_list_cb, &l, "SELECT id, instance_id, "
	    "port, username, client_ip, status, created, started, ended, "
	    "bytes_in, bytes_out, closed_reason, owner, kind, shell, "
	    "(SELECT r.size FROM session_recordings r WHERE r.session_id = "
	    "sessions.id), (SELECT r.truncated FROM session_recordings r "
	    "WHERE r.session_id = sessions.id) FROM sessions WHERE "
	    "(?1 IS NULL OR owner = ?1) AND (?2 IS NULL OR instance_id = ?2) "
	    "AND (?3 IS NULL OR id = ?3) ORDER BY created DESC, id "
	    "LIMIT ?4 OFFSET ?5",
	    "sssii", q->owner, q->instance_id, q->id, q->limit,
	    q->offset)) != 0) {
		store_sess_list_free(l.v, l.n);
		return r;
	}
	*listp = l.v;
	*np = l.n;
	return 0;
}

void
store_sess_token_free(struct store_sess_token *t)
{
	if (t == NULL)
		return;
	free(t->instance_id);
	free(t->token_hash);
	free(t->status);
	free(t->agent_version);
	free(t->kind);
	free(t->console);
	memset(t, 0, sizeof(*t));
}

struct sess_token {
	int			 found;
	struct store_sess_token	*t;
};

static int
sess_token_cb(const struct lkdb_row *row, void *arg)
{
	struct sess_token *x = arg;

	x->found = 1;
	if ((x->t->instance_id = lkdb_col_str(row, 0)) == NULL ||
	    (x->t->token_hash = lkdb_col_str(row, 2)) == NULL ||
	    (x->t->status = lkdb_col_str(row, 4)) == NULL ||
	    (x->t->agent_version = lkdb_col_str(row, 7)) == NULL ||
	    (x->t->kind = lkdb_col_str(row, 8)) == NULL ||
	    (x->t->console = lkdb_col_str(row, 9)) == NULL)
		return LK_ERR_ALLOC;
	x->t->port = lkdb_int(row, 1);
	x->t->token_expires = lkdb_int(row, 3);
	x->t->epoch = lkdb_int(row, 5);
	x->t->resumable = lkdb_int(row, 6);
	return 1;
}

int
store_sess_token_get(struct lkdb *db, const char *sid,
    struct store_sess_token *t)
{
	struct sess_token x = { 0, t };
	int r;

	memset(t, 0, sizeof(*t));
	if ((r = lkdb_query(db, sess_token_cb, &x, "SELECT s.instance_id, "
	    "s.port, s.token_hash, s.token_expires, s.status, s.epoch, "
	    "s.resumable, COALESCE(i.version, ''), s.kind, s.console "
	    "FROM sessions s "
	    "LEFT JOIN "
	    "instances i ON i.id = s.instance_id WHERE s.id = ?", "s",
	    sid)) != 0) {
		store_sess_token_free(t);
		return r;
	}
	return x.found ? 0 : LK_ERR_NOT_FOUND;
}

int
store_sess_console_bind(struct lkdb *db, const char *sid,
    const char *console_hash)
{
	int changes = 0, r;

	if ((r = lkdb_run(db, &changes, "UPDATE sessions SET console = ?1 "
	    "WHERE id = ?2 AND kind = 'shell' AND status = 'Pending' AND "
	    "console = ''", "ss", console_hash, sid)) != 0)
		return r;
	return changes == 1 ? 0 : LK_ERR_NOT_FOUND;
}

int
store_sess_redeem(struct lkdb *db, const char *sid, const char *token_hash,
    const char *client_ip, const char *replica, const char *url, int64_t now,
    int resumable)
{
	int changes = 0, r;

	/* started: the first connection's time; handout: a new one. */
	if ((r = lkdb_run(db, &changes, "UPDATE sessions SET status = "
	    "'Connecting', client_ip = ?1, started = CASE WHEN epoch = 0 "
	    "THEN ?2 ELSE started END, client_replica = ?5, client_url = ?6, "
	    "resumable = CASE WHEN epoch = 0 THEN ?7 ELSE resumable END, "
	    "handout = 0 WHERE id = ?3 AND token_hash = ?4 AND status = "
	    "'Pending' AND token_expires > ?2", "sissssi", client_ip, now, sid,
	    token_hash, replica, url, (int64_t)(resumable != 0))) != 0)
		return r;
	return changes == 1 ? 0 : LK_ERR_NOT_FOUND;
}

int
store_sess_client_held(struct lkdb *db, const char *sid)
{
	int changes = 0, r;

	if ((r = lkdb_run(db, &changes, "UPDATE sessions SET handout = 1 "
	    "WHERE id = ? AND status = 'Connecting' AND handout = 0", "s",
	    sid)) != 0)
		return r;
	return changes == 1 ? 0 : LK_ERR_NOT_FOUND;
}

void
store_sess_handout_free(struct store_sess_handout *list, size_t n)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(list[i].id);
		free(list[i].replica);
		free(list[i].url);
		free(list[i].kind);
		free(list[i].username);
		free(list[i].shell);
	}
	free(list);
}

struct sess_handouts {
	struct store_sess_handout	*v;
	size_t				 n;
	size_t				 cap;
};

static int
sess_handout_cb(const struct lkdb_row *row, void *arg)
{
	struct sess_handouts *l = arg;
	struct store_sess_handout *h, *nv;
	size_t cap;

	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 4;
		if ((nv = reallocarray(l->v, cap, sizeof(*nv))) == NULL)
			return LK_ERR_ALLOC;
		l->v = nv;
		l->cap = cap;
	}
	h = &l->v[l->n];
	memset(h, 0, sizeof(*h));
	l->n++;
	if ((h->id = lkdb_col_str(row, 0)) == NULL ||
	    (h->replica = lkdb_col_str(row, 2)) == NULL ||
	    (h->url = lkdb_col_str(row, 3)) == NULL ||
	    (h->kind = lkdb_col_str(row, 6)) == NULL ||
	    (h->username = lkdb_col_str(row, 7)) == NULL ||
	    (h->shell = lkdb_col_str(row, 8)) == NULL)
		return LK_ERR_ALLOC;
	h->port = lkdb_int(row, 1);
	h->epoch = lkdb_int(row, 4);
	h->resumable = lkdb_int(row, 5);
	return 0;
}

int
store_sess_handout(struct lkdb *db, const char *instance_id, int64_t now,
    struct store_sess_handout **listp, size_t *np)
{
	struct sess_handouts l = { NULL, 0, 0 };
	int found = 0, r;

	*listp = NULL;
	*np = 0;
	/* Nearly every poll finds none: a read on a partial index. */
	if ((r = lkdb_query(db, sess_found_cb, &found, "SELECT 1 FROM "
	    "sessions WHERE instance_id = ? AND handout = 1 AND status = "
	    "'Connecting'", "s", instance_id)) != 0 || !found)
		return r;
	/*
	 * One statement: two replicas' polls of the instance cannot both
	 * hand out a session (PostgreSQL re-checks handout = 1 on a row
	 * another transaction changed; SQLite runs them one after the other).
	 */
	if ((r = lkdb_query(db, sess_handout_cb, &l, "UPDATE sessions SET "
	    "handout = 2, handed = ?1 WHERE instance_id = ?2 AND handout = 1 "
	    "AND status = 'Connecting' RETURNING id, port, client_replica, "
	    "client_url, epoch, resumable, kind, username, shell", "is", now,
	    instance_id)) != 0) {
		store_sess_handout_free(l.v, l.n);
		return r;
	}
	*listp = l.v;
	*np = l.n;
	return 0;
}

void
store_sess_route_free(struct store_sess_route *r)
{
	if (r == NULL)
		return;
	free(r->instance_id);
	free(r->status);
	free(r->replica);
	free(r->url);
	memset(r, 0, sizeof(*r));
}

struct sess_route {
	int			 found;
	struct store_sess_route	*r;
};

static int
sess_route_cb(const struct lkdb_row *row, void *arg)
{
	struct sess_route *x = arg;

	x->found = 1;
	if ((x->r->instance_id = lkdb_col_str(row, 0)) == NULL ||
	    (x->r->status = lkdb_col_str(row, 1)) == NULL ||
	    (x->r->replica = lkdb_col_str(row, 2)) == NULL ||
	    (x->r->url = lkdb_col_str(row, 3)) == NULL)
		return LK_ERR_ALLOC;
	x->r->handout = lkdb_int(row, 4);
	x->r->handed = lkdb_int(row, 5);
	return 1;
}

int
store_sess_route_get(struct lkdb *db, const char *sid,
    struct store_sess_route *r)
{
	struct sess_route x = { 0, r };
	int e;

	memset(r, 0, sizeof(*r));
	if ((e = lkdb_query(db, sess_route_cb, &x, "SELECT instance_id, "
	    "status, client_replica, client_url, handout, handed FROM "
	    "sessions WHERE id = ?", "s", sid)) != 0) {
		store_sess_route_free(r);
		return e;
	}
	return x.found ? 0 : LK_ERR_NOT_FOUND;
}

int
store_sess_connected(struct lkdb *db, const char *sid, int64_t epoch)
{
	return lkdb_run(db, NULL, "UPDATE sessions SET status = 'Connected', "
	    "lost_at = 0 WHERE id = ? AND epoch = ? AND status = 'Connecting'",
	    "si", sid, epoch);
}

/* Adds a connection's byte counts to session sid's totals. */
static int
sess_add_bytes(struct lkdb *db, const char *sid, int64_t bytes_in,
    int64_t bytes_out)
{
	if (bytes_in == 0 && bytes_out == 0)
		return 0;
	return lkdb_run(db, NULL, "UPDATE sessions SET bytes_in = bytes_in + "
	    "?, bytes_out = bytes_out + ? WHERE id = ?", "iis", bytes_in,
	    bytes_out, sid);
}

int
store_sess_finish(struct lkdb *db, const char *sid, int64_t epoch,
    const char *status, int64_t now, int64_t bytes_in, int64_t bytes_out,
    const char *reason)
{
	int r;

	if ((r = sess_add_bytes(db, sid, bytes_in, bytes_out)) != 0)
		return r;
	/* A session never handed out leaves the hand-out's index. */
	return lkdb_run(db, NULL, "UPDATE sessions SET status = ?, ended = ?, "
	    "closed_reason = ?, lost_at = 0, handout = CASE WHEN handout = 1 "
	    "THEN 0 ELSE handout END WHERE id = ? AND epoch = ? AND status "
	    "NOT IN ('Closed', 'Failed')", "sissi", status, now, reason, sid,
	    epoch);
}

int
store_sess_lost(struct lkdb *db, const char *sid, int64_t epoch, int64_t now,
    int64_t bytes_in, int64_t bytes_out)
{
	int r;

	if ((r = sess_add_bytes(db, sid, bytes_in, bytes_out)) != 0)
		return r;
	return lkdb_run(db, NULL, "UPDATE sessions SET status = "
	    "'Disconnected', lost_at = ?, handout = 0 WHERE id = ? AND epoch = "
	    "? AND resumable = 1 AND status IN ('Connecting', 'Connected')",
	    "isi", now, sid, epoch);
}

void
store_sess_resumed_free(struct store_sess_resumed *r)
{
	if (r == NULL)
		return;
	free(r->instance_id);
	memset(r, 0, sizeof(*r));
}

struct sess_resumed {
	int				 found;
	struct store_sess_resumed	*r;
};

static int
sess_resumed_cb(const struct lkdb_row *row, void *arg)
{
	struct sess_resumed *x = arg;

	x->found = 1;
	if ((x->r->instance_id = lkdb_col_str(row, 0)) == NULL)
		return LK_ERR_ALLOC;
	x->r->port = lkdb_int(row, 1);
	x->r->epoch = lkdb_int(row, 2);
	return 1;
}

/* Why owner's session sid cannot resume (it exists: checked before). */
static const char *
sess_resume_why(const char *status, int64_t resumable, int64_t ended_asked)
{
	if (strcmp(status, "Closed") == 0 || strcmp(status, "Failed") == 0)
		return "ended";
	if (!resumable)
		return "not resumable";
	if (ended_asked)
		return "ended";
	return "expired";
}

struct sess_state {
	int	 found;
	char	*status;
	int64_t	 resumable;
	int64_t	 end_requested;
};

static int
sess_state_cb(const struct lkdb_row *row, void *arg)
{
	struct sess_state *x = arg;

	x->found = 1;
	if ((x->status = lkdb_col_str(row, 0)) == NULL)
		return LK_ERR_ALLOC;
	x->resumable = lkdb_int(row, 1);
	x->end_requested = lkdb_int(row, 2);
	return 1;
}

int
store_sess_resume(struct lkdb *db, const char *sid, const char *owner,
    const char *token_hash, int64_t now, int64_t ttl, int64_t wait,
    struct store_sess_resumed *r, const char **why)
{
	struct sess_resumed x = { 0, r };
	struct sess_state st = { 0, NULL, 0, 0 };
	int e;

	memset(r, 0, sizeof(*r));
	*why = NULL;
	/*
	 * One conditional update: a session lost at lost_at (or now, when
	 * no loss was seen yet: the client saw it first) may resume until
	 * lost_at + wait, and the new token lasts no longer.
	 */
	if ((e = lkdb_query(db, sess_resumed_cb, &x, "UPDATE sessions SET "
	    "status = 'Pending', token_hash = ?1, lost_at = CASE WHEN lost_at "
	    "= 0 THEN ?2 ELSE lost_at END, token_expires = CASE WHEN (CASE "
	    "WHEN lost_at = 0 THEN ?2 ELSE lost_at END) + ?3 < ?2 + ?4 THEN "
	    "(CASE WHEN lost_at = 0 THEN ?2 ELSE lost_at END) + ?3 ELSE ?2 + "
	    "?4 END, epoch = epoch + 1, handout = 0 WHERE id = ?5 AND owner = "
	    "?6 AND resumable = 1 AND end_requested = 0 AND status IN "
	    "('Pending', 'Connecting', 'Connected', 'Disconnected') AND "
	    "(lost_at = 0 OR lost_at + ?3 > ?2) RETURNING instance_id, port, "
	    "epoch", "siiiss", token_hash, now, wait, ttl, sid, owner)) != 0) {
		store_sess_resumed_free(r);
		return e;
	}
	if (x.found)
		return 0;
	if ((e = lkdb_query(db, sess_state_cb, &st, "SELECT status, resumable, "
	    "end_requested FROM sessions WHERE id = ? AND owner = ?", "ss", sid,
	    owner)) != 0) {
		free(st.status);
		return e;
	}
	if (!st.found)
		return LK_ERR_NOT_FOUND;
	*why = sess_resume_why(st.status, st.resumable, st.end_requested);
	free(st.status);
	return LK_ERR_STATE;
}

int
store_sess_expire(struct lkdb *db, int64_t now, int64_t wait)
{
	char reason[64];

	snprintf(reason, sizeof(reason), "not resumed within %lld s",
	    (long long)wait);
	return lkdb_run(db, NULL, "UPDATE sessions SET status = 'Closed', "
	    "ended = ?1, closed_reason = ?2, lost_at = 0, handout = CASE WHEN "
	    "handout = 1 THEN 0 ELSE handout END WHERE lost_at > 0 AND "
	    "lost_at + ?3 <= ?1 AND status IN ('Pending', 'Disconnected')",
	    "isi", now, reason, wait);
}

int
store_sess_close_stale(struct lkdb *db, const char *replica, int64_t now)
{
	int r;

	if ((r = lkdb_run(db, NULL, "UPDATE sessions SET status = "
	    "'Disconnected', lost_at = ?, handout = 0 WHERE resumable = 1 AND "
	    "status IN ('Connecting', 'Connected') AND client_replica IN "
	    "('', ?)", "is", now, replica)) != 0)
		return r;
	return lkdb_run(db, NULL, "UPDATE sessions SET status = 'Closed', "
	    "ended = ?, closed_reason = 'latchkeyd restarted', handout = CASE "
	    "WHEN handout = 1 THEN 0 ELSE handout END WHERE status IN "
	    "('Connecting', 'Connected') AND client_replica IN ('', ?)", "is",
	    now, replica);
}

int
store_sess_close_gone(struct lkdb *db, int64_t now, int64_t gone_before)
{
	int r;

	if ((r = lkdb_run(db, NULL, "UPDATE sessions SET status = "
	    "'Disconnected', lost_at = ?, handout = 0 WHERE resumable = 1 AND "
	    "status IN ('Connecting', 'Connected') AND client_replica IN "
	    "(SELECT id FROM replicas WHERE seen < ?)", "ii", now,
	    gone_before)) != 0)
		return r;
	return lkdb_run(db, NULL, "UPDATE sessions SET status = 'Closed', "
	    "ended = ?, closed_reason = 'replica gone', handout = CASE "
	    "WHEN handout = 1 THEN 0 ELSE handout END WHERE status IN "
	    "('Connecting', 'Connected') AND client_replica IN (SELECT id "
	    "FROM replicas WHERE seen < ?)", "ii", now, gone_before);
}

/* The account's session manager switch, a row of settings. */
#define STORE_SESS_MANAGER	"session_manager_enabled"

int
store_sess_manager(struct lkdb *db, int *onp)
{
	char *v = NULL;
	int r;

	*onp = 0;
	if ((r = store_setting_get(db, STORE_SESS_MANAGER, &v)) ==
	    LK_ERR_NOT_FOUND)
		return 0;
	if (r != 0)
		return r;
	*onp = strcmp(v, "true") == 0;
	free(v);
	return 0;
}

int
store_sess_manager_set(struct lkdb *db, int on)
{
	return store_setting_set(db, STORE_SESS_MANAGER, on ? "true" :
	    "false");
}
