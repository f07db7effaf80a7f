/*
 * The sshd host keys each instance's agent reports (issue 14): the table
 * instance_host_keys(instance_id, key_type, key_b64, fingerprint,
 * first_seen, seen), one row per key, keyed by (instance_id, fingerprint).
 * A report that names the same set as the stored one only moves seen; one
 * that differs replaces the set, keeping first_seen of the keys that stay.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "latchkeyd.h"
#include "store.h"

/* The stored set's fingerprints and first_seen times. */
struct store_hostkeys_old {
	char	*fp[STORE_HOSTKEYS_MAX];
	int64_t	 first[STORE_HOSTKEYS_MAX];
	size_t	 n;
	int	 more;		/* more rows than STORE_HOSTKEYS_MAX */
};

void
store_hostkeys_free(struct store_hostkey *keys, size_t n)
{
	size_t i;

	if (keys == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(keys[i].type);
		free(keys[i].b64);
		free(keys[i].fingerprint);
		free(keys[i].cert);
		free(keys[i].cert_principals);
	}
	free(keys);
}

static int
store_hostkeys_old_cb(const struct lkdb_row *row, void *arg)
{
	struct store_hostkeys_old *o = arg;

	if (o->n == STORE_HOSTKEYS_MAX) {
		o->more = 1;
		return 1;
	}
	if ((o->fp[o->n] = lkdb_col_str(row, 0)) == NULL)
		return LK_ERR_ALLOC;
	o->first[o->n++] = lkdb_int(row, 1);
	return 0;
}

static void
store_hostkeys_old_free(struct store_hostkeys_old *o)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		free(o->fp[i]);
}

/* Index of fingerprint fp in the stored set, or -1. */
static int
store_hostkeys_old_find(const struct store_hostkeys_old *o, const char *fp)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		if (strcmp(o->fp[i], fp) == 0)
			return (int)i;
	return -1;
}

/* Whether keys (distinct fingerprints) are exactly the stored set. */
static int
store_hostkeys_same(const struct store_hostkeys_old *o,
    const struct store_hostkey *keys, size_t n)
{
	size_t i;

	if (o->more || o->n != n)
		return 0;
	for (i = 0; i < n; i++)
		if (store_hostkeys_old_find(o, keys[i].fingerprint) == -1)
			return 0;
	return 1;
}

int
store_hostkeys_put_tx(const char *id, const struct store_hostkey *keys,
    size_t n, int64_t now)
{
	struct store_hostkeys_old old;
	char lock[16 + STORE_AGENT_ID_MAX];
	int64_t first;
	size_t i;
	int k, r;

	if (n == 0)
		return 0;
	if (n > STORE_HOSTKEYS_MAX)
		return LK_ERR_INVALID_FORMAT;
	memset(&old, 0, sizeof(old));
	/* Two replicas' hellos of one instance replace its set in turn. */
	snprintf(lock, sizeof(lock), "hostkeys:%s", id);
	if ((r = lkdb_lock(lkd->db, lock)) != 0 ||
	    (r = lkdb_query(lkd->db, store_hostkeys_old_cb, &old, "SELECT "
	    "fingerprint, first_seen FROM instance_host_keys WHERE "
	    "instance_id = ?", "s", id)) != 0)
		goto out;
	if (store_hostkeys_same(&old, keys, n)) {
		r = lkdb_run(lkd->db, NULL, "UPDATE instance_host_keys SET "
		    "seen = ? WHERE instance_id = ?", "is", now, id);
		goto out;
	}
	if ((r = lkdb_run(lkd->db, NULL, "DELETE FROM instance_host_keys "
	    "WHERE instance_id = ?", "s", id)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		k = store_hostkeys_old_find(&old, keys[i].fingerprint);
		first = k >= 0 ? old.first[k] : now;
		if ((r = lkdb_run(lkd->db, NULL, "INSERT INTO "
		    "instance_host_keys(instance_id, key_type, key_b64, "
		    "fingerprint, first_seen, seen) VALUES(?,?,?,?,?,?)",
		    "ssssii", id, keys[i].type, keys[i].b64,
		    keys[i].fingerprint, first, now)) != 0)
			goto out;
	}
 out:
	store_hostkeys_old_free(&old);
	return r;
}

int
store_hostkeys_put(const char *id, const struct store_hostkey *keys,
    size_t n, int64_t now)
{
	int r;

	if (n == 0)
		return 0;
	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	if ((r = store_hostkeys_put_tx(id, keys, n, now)) != 0) {
		lkdb_rollback(lkd->db);
		return r;
	}
	return lkdb_commit(lkd->db);
}

/* What store_hostkeys_get collects. */
struct store_hostkeys_list {
	struct store_hostkey	*keys;
	size_t			 n;
};

static int
store_hostkeys_get_cb(const struct lkdb_row *row, void *arg)
{
	struct store_hostkeys_list *l = arg;
	struct store_hostkey *k;

	if (l->n == STORE_HOSTKEYS_MAX)
		return 1;
	k = &l->keys[l->n];
	if ((k->type = lkdb_col_str(row, 0)) == NULL ||
	    (k->b64 = lkdb_col_str(row, 1)) == NULL ||
	    (k->fingerprint = lkdb_col_str(row, 2)) == NULL) {
		free(k->type);
		free(k->b64);
		memset(k, 0, sizeof(*k));
		return LK_ERR_ALLOC;
	}
	k->first_seen = lkdb_int(row, 3);
	k->seen = lkdb_int(row, 4);
	l->n++;
	return 0;
}

/* Type, then fingerprint, bytewise (the backends' collations differ). */
static int
store_hostkeys_cmp(const void *a, const void *b)
{
	const struct store_hostkey *x = a, *y = b;
	int c;

	if ((c = strcmp(x->type, y->type)) != 0)
		return c;
	return strcmp(x->fingerprint, y->fingerprint);
}

int
store_hostkeys_get(const char *id, struct store_hostkey **keysp, size_t *np)
{
	struct store_hostkeys_list l;
	int r;

	*keysp = NULL;
	*np = 0;
	memset(&l, 0, sizeof(l));
	if ((l.keys = calloc(STORE_HOSTKEYS_MAX, sizeof(*l.keys))) == NULL)
		return LK_ERR_ALLOC;
	if ((r = lkdb_query(lkd->db, store_hostkeys_get_cb, &l, "SELECT "
	    "key_type, key_b64, fingerprint, first_seen, seen FROM "
	    "instance_host_keys WHERE instance_id = ?", "s", id)) != 0 ||
	    l.n == 0) {
		store_hostkeys_free(l.keys, l.n);
		return r;
	}
	qsort(l.keys, l.n, sizeof(*l.keys), store_hostkeys_cmp);
	*keysp = l.keys;
	*np = l.n;
	return 0;
}
