/*
 * Tags on instances and commands (store.h, "store_tag.c"): the tags table
 * behind TagResources, UntagResources, ListTagResources, the Tag.N
 * filters of the Describe actions and the access keys' "tag:KEY=VALUE"
 * policy entries (keys.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "latchkeyd.h"
#include "store.h"

static int
store_tag_text_valid(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s), i;

	if (n < min || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return strstr(s, "http://") == NULL && strstr(s, "https://") == NULL;
}

int
store_tag_key_valid(const char *key)
{
	return key != NULL && store_tag_text_valid(key, 1,
	    STORE_TAG_KEY_MAX) && strncmp(key, "aliyun", 6) != 0 &&
	    strncmp(key, "acs:", 4) != 0;
}

int
store_tag_value_valid(const char *value)
{
	return value != NULL && store_tag_text_valid(value, 0,
	    STORE_TAG_VALUE_MAX);
}

static int
store_tag_count_cb(const struct lkdb_row *row, void *arg)
{
	*(int64_t *)arg = lkdb_int(row, 0);
	return 1;
}

/* Whether resource id of t exists (and is t->owner's): 1, 0 or error. */
static int
store_tag_exists(const struct store_tag_target *t, const char *id)
{
	int64_t n = 0;
	int r;

	if (strcmp(t->type, STORE_TAG_INSTANCE) == 0)
		r = lkdb_query(lkd->db, store_tag_count_cb, &n, "SELECT "
		    "COUNT(*) FROM instances WHERE id = ?", "s", id);
	else if (strcmp(t->type, STORE_TAG_COMMAND) == 0)
		r = lkdb_query(lkd->db, store_tag_count_cb, &n, "SELECT "
		    "COUNT(*) FROM commands WHERE id = ?1 AND provider IS NULL "
		    "AND (?2 IS NULL OR owner = ?2)", "ss", id, t->owner);
	else
		return LK_ERR_INVALID_FORMAT;
	return r != 0 ? r : n > 0;
}

/* Inside the transaction: every id exists, or NOT_FOUND with *badp. */
static int
store_tag_check(const struct store_tag_target *t, size_t *badp)
{
	size_t i;
	int r;

	for (i = 0; i < t->nids; i++) {
		if ((r = store_tag_exists(t, t->ids[i])) < 0)
			return r;
		if (r == 0) {
			if (badp != NULL)
				*badp = i;
			return LK_ERR_NOT_FOUND;
		}
	}
	return 0;
}

int
store_tag_set(const struct store_tag_target *t, const struct store_tag *tags,
    size_t ntags, size_t *badp, store_tx_hook_fn in_tx, void *arg)
{
	int64_t n;
	size_t i, j;
	int r;

	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	if ((r = store_tag_check(t, badp)) != 0)
		goto fail;
	for (i = 0; i < t->nids; i++) {
		for (j = 0; j < ntags; j++)
			if ((r = lkdb_run(lkd->db, NULL, "DELETE FROM tags WHERE "
			    "resource_type = ? AND resource_id = ? AND key = ?",
			    "sss", t->type, t->ids[i], tags[j].key)) != 0 ||
			    (r = lkdb_run(lkd->db, NULL, "INSERT INTO tags("
			    "resource_type, resource_id, key, value) VALUES(?,?,"
			    "?,?)", "ssss", t->type, t->ids[i], tags[j].key,
			    tags[j].value)) != 0)
				goto fail;
		n = 0;
		if ((r = lkdb_query(lkd->db, store_tag_count_cb, &n, "SELECT "
		    "COUNT(*) FROM tags WHERE resource_type = ? AND "
		    "resource_id = ?", "ss", t->type, t->ids[i])) != 0)
			goto fail;
		if (n > STORE_TAG_MAX) {
			if (badp != NULL)
				*badp = i;
			r = LK_ERR_RANGE;
			goto fail;
		}
	}
	if (in_tx != NULL && (r = in_tx(arg)) != 0)
		goto fail;
	return lkdb_commit(lkd->db);
 fail:
	lkdb_rollback(lkd->db);
	return r;
}

int
store_tag_unset(const struct store_tag_target *t, const char *const *keys,
    size_t nkeys, size_t *badp, store_tx_hook_fn in_tx, void *arg)
{
	size_t i, j;
	int r;

	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	if ((r = store_tag_check(t, badp)) != 0)
		goto fail;
	for (i = 0; i < t->nids; i++) {
		if (keys == NULL) {
			if ((r = lkdb_run(lkd->db, NULL, "DELETE FROM tags WHERE "
			    "resource_type = ? AND resource_id = ?", "ss",
			    t->type, t->ids[i])) != 0)
				goto fail;
			continue;
		}
		for (j = 0; j < nkeys; j++)
			if ((r = lkdb_run(lkd->db, NULL, "DELETE FROM tags WHERE "
			    "resource_type = ? AND resource_id = ? AND key = ?",
			    "sss", t->type, t->ids[i], keys[j])) != 0)
				goto fail;
	}
	if (in_tx != NULL && (r = in_tx(arg)) != 0)
		goto fail;
	return lkdb_commit(lkd->db);
 fail:
	lkdb_rollback(lkd->db);
	return r;
}

struct store_tag_scan {
	store_tag_cb	 cb;
	void		*arg;
};

static int
store_tag_row_cb(const struct lkdb_row *row, void *arg)
{
	struct store_tag_scan *x = arg;
	const char *id = lkdb_text(row, 0), *key = lkdb_text(row, 1);
	const char *value = lkdb_text(row, 2);

	if (id == NULL || key == NULL || value == NULL)
		return LK_ERR_INTERNAL;
	return x->cb(id, key, value, x->arg);
}

int
store_tag_list(const char *type, const char *const *ids, size_t nids,
    const char *owner, store_tag_cb cb, void *arg)
{
	struct store_tag_scan x = { cb, arg };
	size_t i;
	int r;

	if (ids == NULL)
		return lkdb_query(lkd->db, store_tag_row_cb, &x, "SELECT "
		    "t.resource_id, t.key, t.value FROM tags t WHERE "
		    "t.resource_type = ?1 AND (?2 IS NULL OR EXISTS (SELECT 1 "
		    "FROM commands c WHERE c.id = t.resource_id AND c.owner = "
		    "?2)) ORDER BY t.resource_id, t.key", "ss", type, owner);
	for (i = 0; i < nids; i++)
		if ((r = lkdb_query(lkd->db, store_tag_row_cb, &x, "SELECT "
		    "t.resource_id, t.key, t.value FROM tags t WHERE "
		    "t.resource_type = ?1 AND t.resource_id = ?2 AND (?3 IS "
		    "NULL OR EXISTS (SELECT 1 FROM commands c WHERE c.id = "
		    "t.resource_id AND c.owner = ?3)) ORDER BY t.key", "sss",
		    type, ids[i], owner)) != 0)
			return r;
	return 0;
}

int
store_tag_match(const char *type, const char *id,
    const struct store_tag *filter, size_t nfilter)
{
	int64_t n;
	size_t i;
	int r;

	for (i = 0; i < nfilter; i++) {
		n = 0;
		if ((r = lkdb_query(lkd->db, store_tag_count_cb, &n, "SELECT "
		    "COUNT(*) FROM tags WHERE resource_type = ?1 AND "
		    "resource_id = ?2 AND key = ?3 AND (?4 IS NULL OR value = "
		    "?4)", "ssss", type, id, filter[i].key,
		    filter[i].value)) != 0)
			return r;
		if (n == 0)
			return 0;
	}
	return 1;
}

struct store_tag_idv {
	char	**v;
	size_t	  n, cap;
};

static int
store_tag_id_cb(const struct lkdb_row *row, void *arg)
{
	struct store_tag_idv *x = arg;
	char **v;
	size_t cap;

	if (x->n + 1 >= x->cap) {
		cap = x->cap ? x->cap * 2 : 16;
		if ((v = reallocarray(x->v, cap, sizeof(*v))) == NULL)
			return LK_ERR_ALLOC;
		x->v = v;
		x->cap = cap;
	}
	if ((x->v[x->n] = lkdb_col_str(row, 0)) == NULL)
		return LK_ERR_ALLOC;
	x->v[++x->n] = NULL;
	return 0;
}

void
store_tag_ids_free(char **ids)
{
	size_t i;

	for (i = 0; ids != NULL && ids[i] != NULL; i++)
		free(ids[i]);
	free(ids);
}

int
store_tag_ids_has(char *const *ids, const char *id)
{
	size_t i;

	for (i = 0; ids != NULL && ids[i] != NULL; i++)
		if (strcmp(ids[i], id) == 0)
			return 1;
	return 0;
}

/*
 * The first tag's resources from one statement, then each checked for
 * the others (no statement runs inside another's callback: SQLite's
 * connection is held by the outer one).
 */
int
store_tag_ids(const char *type, const struct store_tag *filter,
    size_t nfilter, char ***idsp, size_t *np)
{
	struct store_tag_idv x = { NULL, 0, 0 };
	size_t i, j;
	int r;

	*idsp = NULL;
	*np = 0;
	if (nfilter == 0)
		return LK_ERR_INVALID_FORMAT;
	if ((x.v = calloc(1, sizeof(*x.v))) == NULL)
		return LK_ERR_ALLOC;
	x.cap = 1;
	if ((r = lkdb_query(lkd->db, store_tag_id_cb, &x, "SELECT resource_id "
	    "FROM tags WHERE resource_type = ?1 AND key = ?2 AND (?3 IS NULL "
	    "OR value = ?3) ORDER BY resource_id", "sss", type, filter[0].key,
	    filter[0].value)) != 0)
		goto fail;
	for (i = j = 0; i < x.n; i++) {
		if ((r = store_tag_match(type, x.v[i], filter + 1,
		    nfilter - 1)) < 0)
			goto fail;
		if (r == 1)
			x.v[j++] = x.v[i];
		else
			free(x.v[i]);
	}
	x.v[j] = NULL;
	*idsp = x.v;
	*np = j;
	return 0;
 fail:
	store_tag_ids_free(x.v);
	return r;
}
