/*
 * Invocations in the database: the invocations and tasks tables behind
 * InvokeCommand, RunCommand, DescribeInvocations,
 * DescribeInvocationResults and StopInvocation (store.h). A task's id is
 * "<invoke id>:<instance id>".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "latchkeyd.h"
#include "store.h"

#define STORE_TASK_COLUMNS \
	"t.invoke_id, t.instance_id, COALESCE(n.name, ''), t.status, " \
	"t.error_code, t.exit_code, t.output, t.dropped, t.created, " \
	"t.start_time, t.finish_time, t.stop_time, t.updated, v.command_id, " \
	"v.username"
#define STORE_TASK_FROM \
	" FROM tasks t JOIN invocations v ON v.id = t.invoke_id" \
	" LEFT JOIN instances n ON n.id = t.instance_id"

/* Whether invocation v is a SendFile's, against parameter p (0 or 1). */
#define STORE_INV_FILES(p) \
	"(CASE WHEN v.command_type = '" STORE_INV_FILE_TYPE "' THEN 1 " \
	"ELSE 0 END) = " p

#define STORE_INV_ID_MAX	160	/* a task's id, bytes */

void
store_inv_prior_free(struct store_inv_prior *prior)
{
	size_t i;

	if (prior == NULL)
		return;
	free(prior->id);
	free(prior->command_id);
	free(prior->command_type);
	free(prior->content);
	free(prior->parameters);
	for (i = 0; i < prior->n; i++)
		free(prior->instance_ids[i]);
	free(prior->instance_ids);
	memset(prior, 0, sizeof(*prior));
}

void
store_inv_free(struct store_inv *inv)
{
	if (inv == NULL)
		return;
	free(inv->id);
	free(inv->command_id);
	free(inv->command_name);
	free(inv->command_type);
	free(inv->command_description);
	free(inv->content);
	free(inv->parameters);
	free(inv->username);
	free(inv->working_dir);
	free(inv->owner);
	memset(inv, 0, sizeof(*inv));
}

/* ------------------------------------------------------------------ */
/* Creating                                                            */

static int
store_inv_prior_cb(const struct lkdb_row *row, void *arg)
{
	struct store_inv_prior *p = arg;

	if ((p->id = lkdb_col_str(row, 0)) == NULL ||
	    (p->command_id = lkdb_col_str(row, 1)) == NULL ||
	    (p->content = lkdb_col_str(row, 2)) == NULL ||
	    (p->command_type = lkdb_col_str(row, 3)) == NULL ||
	    (p->parameters = lkdb_col_str(row, 4)) == NULL)
		return LK_ERR_ALLOC;
	return 1;
}

static int
store_inv_prior_task_cb(const struct lkdb_row *row, void *arg)
{
	struct store_inv_prior *p = arg;
	char **v;

	if ((v = reallocarray(p->instance_ids, p->n + 1, sizeof(*v))) == NULL)
		return LK_ERR_ALLOC;
	p->instance_ids = v;
	if ((v[p->n] = lkdb_col_str(row, 0)) == NULL)
		return LK_ERR_ALLOC;
	p->n++;
	return 0;
}

/* The invocation owner made with token, into *p; inside a transaction. */
static int
store_inv_prior_read(const char *owner, const char *token,
    struct store_inv_prior *p)
{
	int r;

	if ((r = lkdb_query(lkd->db, store_inv_prior_cb, p, "SELECT id, "
	    "command_id, content, command_type, parameters FROM invocations "
	    "WHERE owner = ? AND client_token = ?", "ss", owner, token)) != 0)
		return r;
	if (p->id == NULL)
		return LK_ERR_INTERNAL;	/* a conflict without a row */
	return lkdb_query(lkd->db, store_inv_prior_task_cb, p, "SELECT "
	    "instance_id FROM tasks WHERE invoke_id = ? ORDER BY instance_id",
	    "s", p->id);
}

/* The tasks, the kept command and the count; inside the transaction. */
static int
store_inv_rows(const struct store_inv_new *inv, int64_t now)
{
	char task[STORE_INV_ID_MAX];
	size_t i;
	int n, r;

	if (inv->keep != NULL &&
	    (r = store_cmd__insert(inv->keep, inv->quota, now)) != 0)
		return r;
	for (i = 0; i < inv->n; i++) {
		n = snprintf(task, sizeof(task), "%s:%s", inv->id,
		    inv->instance_ids[i]);
		if (n < 0 || (size_t)n >= sizeof(task))
			return LK_ERR_TOO_LONG;
		if ((r = lkdb_run(lkd->db, NULL, "INSERT INTO tasks(id, "
		    "invoke_id, instance_id, content, status, created, updated) "
		    "VALUES(?, ?, ?, ?, 'Pending', ?, ?)", "ssssii", task,
		    inv->id, inv->instance_ids[i], inv->scripts[i], now,
		    now)) != 0)
			return r;
	}
	if (inv->count && (r = lkdb_run(lkd->db, NULL, "UPDATE commands SET "
	    "invoke_times = invoke_times + 1 WHERE id = ?", "s",
	    inv->command_id)) != 0)
		return r;
	return 0;
}

/*
 * The invocation's row goes first: when its ClientToken is taken, the
 * unique index turns the insert into nothing (PostgreSQL waits for a
 * concurrent creator with the same token to finish first), and the
 * earlier invocation, committed by then, is read back instead.
 */
int
store_inv_create(const struct store_inv_new *inv, int64_t now,
    struct store_inv_prior *prior)
{
	int changes = 0, r;

	memset(prior, 0, sizeof(*prior));
	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	if ((r = lkdb_run(lkd->db, &changes, "INSERT INTO invocations(id, "
	    "command_id, command_name, command_type, command_description, "
	    "content, parameters, username, working_dir, timeout, owner, "
	    "client_token, created) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	    "?) ON CONFLICT(owner, client_token) WHERE client_token IS NOT "
	    "NULL DO NOTHING", "sssssssssissi", inv->id, inv->command_id,
	    inv->command_name, inv->command_type, inv->command_description,
	    inv->content, inv->parameters, inv->username, inv->working_dir,
	    inv->timeout, inv->owner, inv->client_token, now)) != 0)
		goto fail;
	if (changes == 0) {
		if (inv->client_token == NULL)
			r = LK_ERR_INTERNAL;
		else
			r = store_inv_prior_read(inv->owner, inv->client_token,
			    prior);
		lkdb_rollback(lkd->db);
		if (r != 0)
			store_inv_prior_free(prior);
		return r;
	}
	if ((r = store_inv_rows(inv, now)) != 0 ||
	    (inv->in_tx != NULL && (r = inv->in_tx(inv->in_tx_arg)) != 0))
		goto fail;
	return lkdb_commit(lkd->db);
 fail:
	lkdb_rollback(lkd->db);
	return r;
}

/* ------------------------------------------------------------------ */
/* Describing                                                          */

struct store_task_walk {
	store_task_cb	 cb;
	void		*arg;
};

static const char *
store_inv_col(const struct lkdb_row *row, int i)
{
	const char *s = lkdb_text(row, i);

	return s != NULL ? s : "";
}

/* A row of STORE_TASK_COLUMNS to the callback. */
static int
store_task_cb_full(const struct lkdb_row *row, void *arg)
{
	struct store_task_walk *w = arg;
	struct store_task t;

	memset(&t, 0, sizeof(t));
	t.invoke_id = store_inv_col(row, 0);
	t.instance_id = store_inv_col(row, 1);
	t.instance_name = store_inv_col(row, 2);
	t.status = store_inv_col(row, 3);
	t.error_code = store_inv_col(row, 4);
	t.exit_code = lkdb_int(row, 5);
	if ((t.output = lkdb_blob(row, 6, &t.output_len)) == NULL) {
		t.output = "";
		t.output_len = 0;
	}
	t.dropped = lkdb_int(row, 7);
	t.created = lkdb_int(row, 8);
	t.start_time = lkdb_int(row, 9);
	t.started = !lkdb_isnull(row, 9);
	t.finish_time = lkdb_int(row, 10);
	t.stop_time = lkdb_int(row, 11);
	t.updated = lkdb_int(row, 12);
	t.command_id = store_inv_col(row, 13);
	t.username = store_inv_col(row, 14);
	return w->cb(&t, w->arg);
}

/* A row of (invoke id, instance id, instance name, status). */
static int
store_task_cb_brief(const struct lkdb_row *row, void *arg)
{
	struct store_task_walk *w = arg;
	struct store_task t;

	memset(&t, 0, sizeof(t));
	t.invoke_id = store_inv_col(row, 0);
	t.instance_id = store_inv_col(row, 1);
	t.instance_name = store_inv_col(row, 2);
	t.status = store_inv_col(row, 3);
	t.error_code = t.command_id = t.username = "";
	t.output = "";
	return w->cb(&t, w->arg);
}

int
store_inv_scan(const struct store_inv_query *q, store_task_cb cb, void *arg)
{
	struct store_task_walk w = { cb, arg };

	return lkdb_query(lkd->db, store_task_cb_brief, &w, "SELECT v.id, "
	    "t.instance_id, COALESCE(n.name, ''), t.status FROM invocations v "
	    "JOIN tasks t ON t.invoke_id = v.id LEFT JOIN instances n ON n.id "
	    "= t.instance_id WHERE (?1 IS NULL OR v.owner = ?1) AND (?2 IS NULL OR "
	    "v.id = ?2) "
	    "AND (?3 IS NULL OR v.command_id = ?3) AND (?4 IS NULL OR "
	    "v.command_name = ?4) AND (?5 IS NULL OR v.command_type = ?5) AND "
	    "(?6 IS NULL OR v.id IN (SELECT invoke_id FROM tasks WHERE "
	    "instance_id = ?6)) AND " STORE_INV_FILES("?7") " ORDER BY "
	    "v.created DESC, v.id DESC, t.instance_id", "ssssssi",
	    q->owner, q->invoke_id, q->command_id, q->command_name,
	    q->command_type, q->instance_id, (int64_t)(q->files != 0));
}

int
store_inv_results(const struct store_inv_query *q, store_task_cb cb,
    void *arg)
{
	struct store_task_walk w = { cb, arg };

	return lkdb_query(lkd->db, store_task_cb_full, &w, "SELECT "
	    STORE_TASK_COLUMNS STORE_TASK_FROM " WHERE (?1 IS NULL OR v.owner = "
	    "?1) AND (?2 IS "
	    "NULL OR t.invoke_id = ?2) AND (?3 IS NULL OR t.instance_id = ?3) "
	    "AND (?4 IS NULL OR v.command_id = ?4) AND " STORE_INV_FILES("?5")
	    " ORDER BY v.created DESC, t.invoke_id DESC, t.instance_id",
	    "ssssi", q->owner, q->invoke_id, q->instance_id, q->command_id,
	    (int64_t)(q->files != 0));
}

int
store_inv_tasks(const char *id, store_task_cb cb, void *arg)
{
	struct store_task_walk w = { cb, arg };

	return lkdb_query(lkd->db, store_task_cb_full, &w, "SELECT "
	    STORE_TASK_COLUMNS STORE_TASK_FROM " WHERE t.invoke_id = ? ORDER BY "
	    "t.instance_id", "s", id);
}

static int
store_inv_get_cb(const struct lkdb_row *row, void *arg)
{
	struct store_inv *v = arg;

	if ((v->id = lkdb_col_str(row, 0)) == NULL ||
	    (v->command_id = lkdb_col_str(row, 1)) == NULL ||
	    (v->command_name = lkdb_col_str(row, 2)) == NULL ||
	    (v->command_type = lkdb_col_str(row, 3)) == NULL ||
	    (v->command_description = lkdb_col_str(row, 4)) == NULL ||
	    (v->content = lkdb_col_str(row, 5)) == NULL ||
	    (v->parameters = lkdb_col_str(row, 6)) == NULL ||
	    (v->username = lkdb_col_str(row, 7)) == NULL ||
	    (v->working_dir = lkdb_col_str(row, 8)) == NULL ||
	    (v->owner = lkdb_col_str(row, 11)) == NULL)
		return LK_ERR_ALLOC;
	v->timeout = lkdb_int(row, 9);
	v->created = lkdb_int(row, 10);
	return 1;
}

int
store_inv_get(const char *id, const char *owner, struct store_inv *invp)
{
	int r;

	memset(invp, 0, sizeof(*invp));
	if ((r = lkdb_query(lkd->db, store_inv_get_cb, invp, "SELECT id, "
	    "command_id, command_name, command_type, command_description, "
	    "content, parameters, username, working_dir, timeout, created, owner "
	    "FROM invocations WHERE id = ?1 AND (?2 IS NULL OR owner = ?2)",
	    "ss", id, owner)) != 0) {
		store_inv_free(invp);
		return r;
	}
	return invp->id == NULL ? LK_ERR_NOT_FOUND : 0;
}

/* ------------------------------------------------------------------ */
/* Stopping                                                            */

int
store_inv_stop(const char *id, const char *const *instance_ids, size_t n,
    int64_t now)
{
	size_t i;
	int r;

	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	for (i = 0; i < n; i++) {
		if ((r = lkdb_run(lkd->db, NULL, "UPDATE tasks SET status = "
		    "'Stopped', stop_time = ?1, updated = ?1 WHERE invoke_id = "
		    "?2 AND instance_id = ?3 AND status = 'Pending'", "iss", now,
		    id, instance_ids[i])) != 0 ||
		    (r = lkdb_run(lkd->db, NULL, "UPDATE tasks SET status = "
		    "'Stopping', stop_requested = 1, stop_time = ?1, updated = "
		    "?1 WHERE invoke_id = ?2 AND instance_id = ?3 AND status = "
		    "'Running'", "iss", now, id, instance_ids[i])) != 0) {
			lkdb_rollback(lkd->db);
			return r;
		}
	}
	return lkdb_commit(lkd->db);
}
