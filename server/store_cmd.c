/*
 * Commands in the database: the commands table behind DescribeCommands,
 * CreateCommand, ModifyCommand, DeleteCommand, the public commands'
 * seeding and the command an invocation names (store.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "latchkeyd.h"
#include "store.h"

#define STORE_CMD_COLUMNS \
	"id, name, type, description, content, working_dir, timeout, " \
	"enable_parameter, params, provider, owner, category, version, " \
	"latest, created, invoke_times"

/*
 * ?1 id, ?2 provider (NULL: the owner's private commands), ?3 the owner,
 * ?4 the name (exact for private commands), ?5 the name as a LIKE pattern
 * (public commands; store_cmd_like), ?6 latest only, ?7 type.
 */
#define STORE_CMD_WHERE \
	" WHERE (?1 IS NULL OR id = ?1) AND (CASE WHEN ?2 IS NULL THEN" \
	" provider IS NULL AND owner = ?3 ELSE (provider = ?2 OR" \
	" substr(provider, 1, length(?2) + 1) = ?2 || '.') END)" \
	" AND (?4 IS NULL OR (CASE WHEN ?2 IS NULL THEN name = ?4 ELSE" \
	" name LIKE ?5 ESCAPE '\\' END)) AND (?6 = 0 OR latest = 1)" \
	" AND (?7 IS NULL OR type = ?7)"

void
store_cmd_free(struct store_cmd *cmd)
{
	if (cmd == NULL)
		return;
	free(cmd->id);
	free(cmd->name);
	free(cmd->type);
	free(cmd->description);
	free(cmd->content);
	free(cmd->working_dir);
	free(cmd->params);
	free(cmd->provider);
	free(cmd->owner);
	free(cmd->category);
	memset(cmd, 0, sizeof(*cmd));
}

void
store_cmd_list_free(struct store_cmd_list *list)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < list->n; i++)
		store_cmd_free(&list->v[i]);
	free(list->v);
	list->v = NULL;
	list->n = 0;
}

/* Column i as a new string; NULL stays NULL. 0 or LK_ERR_ALLOC. */
static int
store_cmd_col(const struct lkdb_row *row, int i, char **sp)
{
	*sp = NULL;
	if (lkdb_isnull(row, i))
		return 0;
	return (*sp = lkdb_col_str(row, i)) == NULL ? LK_ERR_ALLOC : 0;
}

/* A row of STORE_CMD_COLUMNS into *cmd (zeroed first). */
static int
store_cmd_read(const struct lkdb_row *row, struct store_cmd *cmd)
{
	char **strs[] = { &cmd->id, &cmd->name, &cmd->type,
	    &cmd->description, &cmd->content, &cmd->working_dir };
	size_t i;

	memset(cmd, 0, sizeof(*cmd));
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if ((*strs[i] = lkdb_col_str(row, (int)i)) == NULL)
			goto fail;
	cmd->timeout = lkdb_int(row, 6);
	cmd->enable_parameter = lkdb_int(row, 7) != 0;
	if ((cmd->params = lkdb_col_str(row, 8)) == NULL ||
	    store_cmd_col(row, 9, &cmd->provider) != 0 ||
	    store_cmd_col(row, 10, &cmd->owner) != 0 ||
	    (cmd->category = lkdb_col_str(row, 11)) == NULL)
		goto fail;
	if (*cmd->params == '\0') {
		free(cmd->params);
		if ((cmd->params = strdup("[]")) == NULL)
			goto fail;
	}
	cmd->version = lkdb_int(row, 12);
	cmd->latest = lkdb_int(row, 13) != 0;
	cmd->created = lkdb_int(row, 14);
	cmd->invoke_times = lkdb_int(row, 15);
	return 0;
 fail:
	store_cmd_free(cmd);
	return LK_ERR_ALLOC;
}

static int
store_cmd_one_cb(const struct lkdb_row *row, void *arg)
{
	struct store_cmd *cmd = arg;
	int r;

	if ((r = store_cmd_read(row, cmd)) != 0)
		return r;
	return 1;
}

static int
store_cmd_count_cb(const struct lkdb_row *row, void *arg)
{
	*(int64_t *)arg = lkdb_int(row, 0);
	return 1;
}

/* Appends a row to a list. */
static int
store_cmd_append(struct store_cmd_list *l, const struct lkdb_row *row)
{
	struct store_cmd *v;
	int r;

	if ((v = reallocarray(l->v, l->n + 1, sizeof(*v))) == NULL)
		return LK_ERR_ALLOC;
	l->v = v;
	if ((r = store_cmd_read(row, &l->v[l->n])) != 0)
		return r;
	l->n++;
	return 0;
}

static int
store_cmd_list_cb(const struct lkdb_row *row, void *arg)
{
	return store_cmd_append(arg, row);
}

/*
 * Whether name matches pattern, where '*' matches any run of bytes and
 * every other byte only itself. (Valid UTF-8 on both sides makes bytes and
 * characters agree.)
 */
static int
store_cmd_match(const char *p, const char *s)
{
	const char *star = NULL, *retry = NULL;

	while (*s != '\0') {
		if (*p == '*') {
			star = p++;
			retry = s;
		} else if (*p == *s) {
			p++;
			s++;
		} else if (star != NULL) {
			p = star + 1;
			s = ++retry;
		} else
			return 0;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

/*
 * A '*'-only pattern as a LIKE pattern with '\' as the escape: '%', '_'
 * and '\' escaped, '*' as '%'. LIKE's case rules differ between the
 * backends (SQLite folds ASCII case), so it only narrows the rows:
 * store_cmd_match decides.
 */
static char *
store_cmd_like(const char *pattern)
{
	size_t len = strlen(pattern), o = 0;
	char *l;

	if (len > (SIZE_MAX - 1) / 2 || (l = malloc(len * 2 + 1)) == NULL)
		return NULL;
	for (; *pattern != '\0'; pattern++) {
		if (*pattern == '*')
			l[o++] = '%';
		else {
			if (*pattern == '%' || *pattern == '_' ||
			    *pattern == '\\')
				l[o++] = '\\';
			l[o++] = *pattern;
		}
	}
	l[o] = '\0';
	return l;
}

/* A page of a name pattern's matches, paged here after the exact match. */
struct store_cmd_pager {
	const struct store_cmd_query	*q;
	struct store_cmd_list		*list;
	int64_t				 total;
};

static int
store_cmd_pattern_cb(const struct lkdb_row *row, void *arg)
{
	struct store_cmd_pager *x = arg;
	const char *name = lkdb_text(row, 1);
	int64_t i;

	if (name == NULL || !store_cmd_match(x->q->name, name))
		return 0;
	i = x->total++;
	if (i < x->q->offset || i - x->q->offset >= x->q->limit)
		return 0;
	return store_cmd_append(x->list, row);
}

int
store_cmd_describe(const struct store_cmd_query *q,
    struct store_cmd_list *listp, int64_t *totalp)
{
	struct store_cmd_pager x;
	char *like = NULL;
	int r;

	memset(listp, 0, sizeof(*listp));
	*totalp = 0;
	if (q->name != NULL && (like = store_cmd_like(q->name)) == NULL)
		return LK_ERR_ALLOC;
	if (q->name != NULL && q->provider != NULL) {
		/* Public commands are few: page them after the exact match. */
		x.q = q;
		x.list = listp;
		x.total = 0;
		r = lkdb_query(lkd->db, store_cmd_pattern_cb, &x, "SELECT "
		    STORE_CMD_COLUMNS " FROM commands" STORE_CMD_WHERE
		    " ORDER BY created DESC, name, id", "sssssis", q->id,
		    q->provider, q->owner, q->name, like, (int64_t)q->latest,
		    q->type);
		*totalp = x.total;
	} else if ((r = lkdb_query(lkd->db, store_cmd_count_cb, totalp,
	    "SELECT COUNT(*) FROM commands" STORE_CMD_WHERE, "sssssis", q->id,
	    q->provider, q->owner, q->name, like, (int64_t)q->latest,
	    q->type)) == 0)
		r = lkdb_query(lkd->db, store_cmd_list_cb, listp, "SELECT "
		    STORE_CMD_COLUMNS " FROM commands" STORE_CMD_WHERE
		    " ORDER BY created DESC, name, id LIMIT ?8 OFFSET ?9",
		    "sssssisii", q->id, q->provider, q->owner, q->name, like,
		    (int64_t)q->latest, q->type, q->limit, q->offset);
	free(like);
	if (r != 0) {
		store_cmd_list_free(listp);
		*totalp = 0;
	}
	return r;
}

int
store_cmd_get(const char *id, const char *owner, struct store_cmd *cmdp)
{
	int r;

	memset(cmdp, 0, sizeof(*cmdp));
	if ((r = lkdb_query(lkd->db, store_cmd_one_cb, cmdp, "SELECT "
	    STORE_CMD_COLUMNS " FROM commands WHERE id = ?1 AND (provider IS "
	    "NOT NULL OR owner = ?2)", "ss", id, owner)) != 0) {
		store_cmd_free(cmdp);
		return r;
	}
	return cmdp->id == NULL ? LK_ERR_NOT_FOUND : 0;
}

int
store_cmd_get_public(const char *name, struct store_cmd *cmdp)
{
	int r;

	memset(cmdp, 0, sizeof(*cmdp));
	if ((r = lkdb_query(lkd->db, store_cmd_one_cb, cmdp, "SELECT "
	    STORE_CMD_COLUMNS " FROM commands WHERE name = ? AND provider IS "
	    "NOT NULL ORDER BY latest DESC, version DESC LIMIT 1", "s",
	    name)) != 0) {
		store_cmd_free(cmdp);
		return r;
	}
	return cmdp->id == NULL ? LK_ERR_NOT_FOUND : 0;
}

int
store_cmd__insert(const struct store_cmd *cmd, int64_t quota, int64_t now)
{
	char key[192];
	int64_t n = 0;
	int r;

	/* Concurrent creators for one owner count one after the other. */
	snprintf(key, sizeof(key), "commands:%s", cmd->owner);
	if ((r = lkdb_lock(lkd->db, key)) != 0 ||
	    (r = lkdb_query(lkd->db, store_cmd_count_cb, &n, "SELECT "
	    "COUNT(*) FROM commands WHERE owner = ? AND provider IS NULL", "s",
	    cmd->owner)) != 0)
		return r;
	if (n >= quota)
		return LK_ERR_RANGE;
	return lkdb_run(lkd->db, NULL, "INSERT INTO commands(id, name, type, "
	    "description, content, working_dir, timeout, enable_parameter, "
	    "params, provider, owner, created) VALUES(?, ?, ?, ?, ?, ?, ?, ?, "
	    "?, NULL, ?, ?)", "ssssssiissi", cmd->id, cmd->name, cmd->type,
	    cmd->description, cmd->content, cmd->working_dir, cmd->timeout,
	    (int64_t)(cmd->enable_parameter != 0), cmd->params, cmd->owner,
	    now);
}

int
store_cmd_create(const struct store_cmd *cmd, int64_t quota)
{
	int r;

	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	if ((r = store_cmd__insert(cmd, quota, lkd_now())) != 0) {
		lkdb_rollback(lkd->db);
		return r;
	}
	return lkdb_commit(lkd->db);
}

int
store_cmd_modify(const struct store_cmd *cmd)
{
	int changes = 0, r;

	if ((r = lkdb_run(lkd->db, &changes, "UPDATE commands SET name = ?, "
	    "description = ?, content = ?, working_dir = ?, timeout = ?, "
	    "params = ? WHERE id = ? AND owner = ? AND provider IS NULL",
	    "ssssisss", cmd->name, cmd->description, cmd->content,
	    cmd->working_dir, cmd->timeout, cmd->params, cmd->id,
	    cmd->owner)) != 0)
		return r;
	return changes == 0 ? LK_ERR_NOT_FOUND : 0;
}

int
store_cmd_delete(const char *id, const char *owner)
{
	int changes = 0, r;

	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	if ((r = lkdb_run(lkd->db, &changes, "DELETE FROM commands WHERE id = "
	    "? AND owner = ? AND provider IS NULL", "ss", id, owner)) != 0)
		goto fail;
	if (changes == 0) {
		r = LK_ERR_NOT_FOUND;
		goto fail;
	}
	/* Its tags go with it (store_tag.c). */
	if ((r = lkdb_run(lkd->db, NULL, "DELETE FROM tags WHERE "
	    "resource_type = 'command' AND resource_id = ?", "s", id)) != 0)
		goto fail;
	return lkdb_commit(lkd->db);
 fail:
	lkdb_rollback(lkd->db);
	return r;
}

int
store_cmd_seed(const struct store_cmd *cmd)
{
	return lkdb_run(lkd->db, NULL, "INSERT INTO commands(id, name, type, "
	    "description, content, working_dir, timeout, enable_parameter, "
	    "params, provider, owner, category, version, latest, created) "
	    "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, 1, 1, ?) ON "
	    "CONFLICT(id) DO UPDATE SET name = excluded.name, type = "
	    "excluded.type, description = excluded.description, content = "
	    "excluded.content, working_dir = excluded.working_dir, timeout = "
	    "excluded.timeout, enable_parameter = excluded.enable_parameter, "
	    "params = excluded.params, provider = excluded.provider, owner = "
	    "NULL, category = excluded.category, version = 1, latest = 1",
	    "ssssssiisssi", cmd->id, cmd->name, cmd->type, cmd->description,
	    cmd->content, cmd->working_dir, cmd->timeout,
	    (int64_t)(cmd->enable_parameter != 0), cmd->params, cmd->provider,
	    cmd->category, cmd->created);
}
