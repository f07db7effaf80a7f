/*
 * Shell sessions' recordings (store.h; docs/sessions.md, "Recording"):
 * one row of session_recordings per session, the asciicast text as the
 * agent sent it, kept until the session's record is.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "store.h"

/* Does sid's recording exist, and is it instance's? */
struct rec_owner {
	int	found;
	char	instance[STORE_AGENT_ID_MAX];
};

static int
rec_owner_cb(const struct lkdb_row *row, void *arg)
{
	struct rec_owner *o = arg;
	const char *s = lkdb_text(row, 0);

	o->found = 1;
	if (s != NULL && strlen(s) < sizeof(o->instance))
		memcpy(o->instance, s, strlen(s) + 1);
	return 1;
}

int
store_rec_put(struct lkdb *db, const struct store_rec_new *n, int *createdp,
    store_tx_hook_fn in_tx, void *in_tx_arg)
{
	struct rec_owner o;
	int changes = 0, r;

	*createdp = 0;
	if ((r = lkdb_begin(db)) != 0)
		return r;
	/* Only a shell session of this instance; a second upload is a no-op. */
	if ((r = lkdb_run(db, &changes, "INSERT INTO session_recordings("
	    "session_id, instance_id, size, truncated, created, data) "
	    "SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM "
	    "sessions WHERE id = ?1 AND instance_id = ?2 AND kind = 'shell') "
	    "ON CONFLICT (session_id) DO NOTHING", "ssiiib", n->session_id,
	    n->instance_id, (int64_t)n->len, (int64_t)(n->truncated != 0),
	    n->now, n->data, n->len)) != 0)
		goto fail;
	if (changes == 0) {
		memset(&o, 0, sizeof(o));
		if ((r = lkdb_query(db, rec_owner_cb, &o, "SELECT instance_id "
		    "FROM session_recordings WHERE session_id = ?1", "s",
		    n->session_id)) != 0)
			goto fail;
		r = o.found && strcmp(o.instance, n->instance_id) == 0 ? 0 :
		    LK_ERR_NOT_FOUND;
		lkdb_rollback(db);
		return r;
	}
	if (in_tx != NULL && (r = in_tx(in_tx_arg)) != 0)
		goto fail;
	if ((r = lkdb_commit(db)) != 0)
		return r;
	*createdp = 1;
	return 0;
 fail:
	lkdb_rollback(db);
	return r;
}

struct rec_get {
	struct store_rec	*rec;
	int			 found;
	int			 err;
};

static int
rec_get_cb(const struct lkdb_row *row, void *arg)
{
	struct rec_get *g = arg;
	struct store_rec *rec = g->rec;
	const void *p;
	size_t len = 0;

	g->found = 1;
	if ((rec->owner = lkdb_col_str(row, 0)) == NULL ||
	    (rec->kind = lkdb_col_str(row, 1)) == NULL)
		return LK_ERR_ALLOC;
	if (lkdb_isnull(row, 2))
		return 1;	/* no recording */
	rec->has = 1;
	rec->truncated = lkdb_int(row, 3) != 0;
	rec->created = lkdb_int(row, 4);
	p = lkdb_blob(row, 2, &len);
	if ((rec->data = malloc(len + 1)) == NULL)
		return LK_ERR_ALLOC;
	if (len > 0)
		memcpy(rec->data, p, len);
	rec->data[len] = '\0';
	rec->len = len;
	return 1;
}

int
store_rec_get(struct lkdb *db, const char *sid, struct store_rec *rec)
{
	struct rec_get g = { rec, 0, 0 };
	int r;

	memset(rec, 0, sizeof(*rec));
	if ((r = lkdb_query(db, rec_get_cb, &g, "SELECT s.owner, s.kind, "
	    "r.data, r.truncated, r.created FROM sessions s LEFT JOIN "
	    "session_recordings r ON r.session_id = s.id WHERE s.id = ?1",
	    "s", sid)) != 0) {
		store_rec_free(rec);
		return r;
	}
	if (!g.found) {
		store_rec_free(rec);
		return LK_ERR_NOT_FOUND;
	}
	return 0;
}

void
store_rec_free(struct store_rec *rec)
{
	if (rec == NULL)
		return;
	free(rec->owner);
	free(rec->kind);
	free(rec->data);
	memset(rec, 0, sizeof(*rec));
}
