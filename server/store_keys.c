/*
 * Storage of access keys and of the nonces of signed requests (store.h).
 * The sealed secret is a BLOB in SQLite and BYTEA in PostgreSQL, bound
 * and read as bytes, so it round-trips byte for byte.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "store.h"

#define STORE_KEY_COLS	"id, secret, policy, description, disabled, created"

int
store_key_create(struct lkdb *db, const char *id, const void *sealed,
    size_t sealedlen, const char *policy, const char *description,
    int64_t created)
{
	return lkdb_run(db, NULL, "INSERT INTO access_keys(id, secret, policy,"
	    " description, created) VALUES(?,?,?,?,?)", "sbssi", id, sealed,
	    sealedlen, policy, description != NULL ? description : "",
	    created);
}

/* One row of STORE_KEY_COLS into k; the secret only when want_secret. */
static int
store_key_row(const struct lkdb_row *row, struct store_key *k,
    int want_secret)
{
	const void *b;

	memset(k, 0, sizeof(*k));
	if ((k->id = lkdb_col_str(row, 0)) == NULL ||
	    (k->policy = lkdb_col_str(row, 2)) == NULL ||
	    (k->description = lkdb_col_str(row, 3)) == NULL)
		goto fail;
	if (want_secret) {
		b = lkdb_blob(row, 1, &k->sealedlen);
		/* One byte more, so that an empty blob is not malloc(0). */
		if ((k->sealed = malloc(k->sealedlen + 1)) == NULL)
			goto fail;
		if (b != NULL && k->sealedlen > 0)
			memcpy(k->sealed, b, k->sealedlen);
	}
	k->disabled = lkdb_int(row, 4) != 0;
	k->created = lkdb_int(row, 5);
	return 0;
 fail:
	store_key_free(k);
	return LK_ERR_ALLOC;
}

struct store_key_one {
	struct store_key	*k;
	int			 found;
};

static int
store_key_one_cb(const struct lkdb_row *row, void *arg)
{
	struct store_key_one *one = arg;
	int r;

	if ((r = store_key_row(row, one->k, 1)) != 0)
		return r;
	one->found = 1;
	return 1;
}

int
store_key_get(struct lkdb *db, const char *id, struct store_key *k)
{
	struct store_key_one one = { k, 0 };
	int r;

	memset(k, 0, sizeof(*k));
	if ((r = lkdb_query(db, store_key_one_cb, &one, "SELECT "
	    STORE_KEY_COLS " FROM access_keys WHERE id = ?", "s", id)) != 0) {
		store_key_free(k);
		return r;
	}
	return one.found ? 0 : LK_ERR_NOT_FOUND;
}

struct store_key_many {
	struct store_key	*keys;
	size_t			 n, cap;
};

static int
store_key_many_cb(const struct lkdb_row *row, void *arg)
{
	struct store_key_many *m = arg;
	struct store_key *nk;
	size_t ncap;
	int r;

	if (m->n == m->cap) {
		ncap = m->cap == 0 ? 16 : 2 * m->cap;
		if ((nk = reallocarray(m->keys, ncap, sizeof(*nk))) == NULL)
			return LK_ERR_ALLOC;
		m->keys = nk;
		m->cap = ncap;
	}
	if ((r = store_key_row(row, &m->keys[m->n], 0)) != 0)
		return r;
	m->n++;
	return 0;
}

int
store_key_list(struct lkdb *db, struct store_key **keysp, size_t *np)
{
	struct store_key_many m = { NULL, 0, 0 };
	int r;

	*keysp = NULL;
	*np = 0;
	/*
	 * SQLite's sort keeps keys made in one second in the order they were
	 * made, as it always did; PostgreSQL's promises no order among ties,
	 * so the id settles them there.
	 */
	r = lkdb_query(db, store_key_many_cb, &m, strcmp(lkdb_kind(db),
	    "postgresql") == 0 ?
	    "SELECT " STORE_KEY_COLS " FROM access_keys ORDER BY created, id" :
	    "SELECT " STORE_KEY_COLS " FROM access_keys ORDER BY created", "");
	if (r != 0) {
		store_key_list_free(m.keys, m.n);
		return r;
	}
	*keysp = m.keys;
	*np = m.n;
	return 0;
}

int
store_key_disable(struct lkdb *db, const char *id)
{
	int changes = 0, r;

	if ((r = lkdb_run(db, &changes, "UPDATE access_keys SET disabled = 1 "
	    "WHERE id = ?", "s", id)) != 0)
		return r;
	return changes == 1 ? 0 : LK_ERR_NOT_FOUND;
}

void
store_key_free(struct store_key *k)
{
	if (k == NULL)
		return;
	free(k->id);
	free(k->sealed);		/* ciphertext: nothing to wipe */
	free(k->policy);
	free(k->description);
	memset(k, 0, sizeof(*k));
}

void
store_key_list_free(struct store_key *keys, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		store_key_free(&keys[i]);
	free(keys);
}

/*
 * The primary key (key_id, nonce) is the test: one INSERT, which does
 * nothing when the pair is there. Two callers at once on PostgreSQL: the
 * second waits for the first's row and then inserts nothing; on SQLite
 * writes are serialised. A conflict is no error in either database, so a
 * replay leaves no error in PostgreSQL's log.
 */
int
store_nonce_use(struct lkdb *db, const char *key_id, const char *nonce,
    int64_t now)
{
	int changes = 0, r;

	if ((r = lkdb_run(db, &changes, "INSERT INTO nonces(key_id, nonce, "
	    "seen) VALUES(?,?,?) ON CONFLICT(key_id, nonce) DO NOTHING", "ssi",
	    key_id, nonce, now)) != 0)
		return r;
	return changes == 1 ? 0 : LK_ERR_INVALID_FORMAT;
}

int
store_nonce_sweep(struct lkdb *db, int64_t before)
{
	return lkdb_run(db, NULL, "DELETE FROM nonces WHERE seen < ?", "i",
	    before);
}
