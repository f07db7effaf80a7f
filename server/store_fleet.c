/*
 * Activations and managed instances (store.h, "store_fleet.c"): the
 * lifecycle behind CreateActivation ... DeregisterManagedInstance and the
 * admin's subcommands. An instance that goes is deleted from instances
 * (so no listing, policy check or task hand-out ever sees it again) and
 * remembered in instances_gone with its credential's hash, so that its
 * agent is told that it was deregistered instead of a bare 401.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "latchkeyd.h"
#include "store.h"

#define ACT_COLUMNS	"a.id, a.instance_name, a.ip_range, a.description, " \
	"a.count, a.uses_left, a.expires, a.created, a.disabled, " \
	"a.deregistered, (SELECT COUNT(*) FROM instances i WHERE " \
	"i.activation_id = a.id)"

void
store_act_free(struct store_act *a)
{
	if (a == NULL)
		return;
	free(a->id);
	free(a->instance_name);
	free(a->ip_range);
	free(a->description);
	memset(a, 0, sizeof(*a));
}

void
store_act_list_free(struct store_act *v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		store_act_free(&v[i]);
	free(v);
}

static int
store_act_fill(const struct lkdb_row *row, struct store_act *a)
{
	memset(a, 0, sizeof(*a));
	if ((a->id = lkdb_col_str(row, 0)) == NULL ||
	    (a->instance_name = lkdb_col_str(row, 1)) == NULL ||
	    (a->ip_range = lkdb_col_str(row, 2)) == NULL ||
	    (a->description = lkdb_col_str(row, 3)) == NULL) {
		store_act_free(a);
		return LK_ERR_ALLOC;
	}
	a->count = lkdb_int(row, 4);
	a->uses_left = lkdb_int(row, 5);
	a->expires = lkdb_int(row, 6);
	a->created = lkdb_int(row, 7);
	a->disabled = lkdb_int(row, 8) != 0;
	a->deregistered = lkdb_int(row, 9);
	a->registered_now = lkdb_int(row, 10);
	return 0;
}

struct store_act_rows {
	struct store_act	*v;
	size_t			 n, cap;
};

static int
store_act_row_cb(const struct lkdb_row *row, void *arg)
{
	struct store_act_rows *x = arg;
	struct store_act *v;
	size_t cap;

	if (x->n == x->cap) {
		cap = x->cap ? x->cap * 2 : 8;
		if ((v = reallocarray(x->v, cap, sizeof(*v))) == NULL)
			return LK_ERR_ALLOC;
		x->v = v;
		x->cap = cap;
	}
	if (store_act_fill(row, &x->v[x->n]) != 0)
		return LK_ERR_ALLOC;
	x->n++;
	return 0;
}

static int
store_fleet_int_cb(const struct lkdb_row *row, void *arg)
{
	*(int64_t *)arg = lkdb_int(row, 0);
	return 1;
}

int
store_act_add(const struct store_act_new *a)
{
	int r;

	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	if ((r = lkdb_run(lkd->db, NULL, "INSERT INTO activations(id, "
	    "code_hash, count, uses_left, expires, created, instance_name, "
	    "ip_range, description) VALUES(?,?,?,?,?,?,?,?,?)", "ssiiiisss",
	    a->id, a->code_hash, a->count, a->count, a->expires, a->now,
	    a->instance_name ? a->instance_name : "",
	    a->ip_range ? a->ip_range : "",
	    a->description ? a->description : "")) != 0 ||
	    (a->in_tx != NULL && (r = a->in_tx(a->in_tx_arg)) != 0)) {
		lkdb_rollback(lkd->db);
		return r;
	}
	return lkdb_commit(lkd->db);
}

int
store_act_list(const struct store_act_query *q, struct store_act **listp,
    size_t *np, int64_t *totalp)
{
	struct store_act_rows x = { NULL, 0, 0 };
	int64_t total = 0;
	int r;

	*listp = NULL;
	*np = 0;
	*totalp = 0;
	if ((r = lkdb_query(lkd->db, store_fleet_int_cb, &total, "SELECT "
	    "COUNT(*) FROM activations a WHERE (?1 IS NULL OR a.id = ?1) AND "
	    "(?2 IS NULL OR a.instance_name = ?2)", "ss", q->id,
	    q->instance_name)) != 0 ||
	    (r = lkdb_query(lkd->db, store_act_row_cb, &x, "SELECT "
	    ACT_COLUMNS " FROM activations a WHERE (?1 IS NULL OR a.id = ?1) "
	    "AND (?2 IS NULL OR a.instance_name = ?2) ORDER BY a.created DESC, "
	    "a.id LIMIT ?3 OFFSET ?4", "ssii", q->id, q->instance_name,
	    q->limit, q->offset)) != 0) {
		store_act_list_free(x.v, x.n);
		return r;
	}
	*listp = x.v;
	*np = x.n;
	*totalp = total;
	return 0;
}

int
store_act_get(const char *id, struct store_act *a)
{
	struct store_act_query q;
	struct store_act *v = NULL;
	size_t n = 0;
	int64_t total;
	int r;

	memset(a, 0, sizeof(*a));
	memset(&q, 0, sizeof(q));
	q.id = id;
	q.limit = 1;
	if ((r = store_act_list(&q, &v, &n, &total)) != 0)
		return r;
	if (n == 0) {
		free(v);
		return LK_ERR_NOT_FOUND;
	}
	*a = v[0];
	free(v);
	return 0;
}

int
store_act_disable(const char *id, struct store_act *a, store_tx_hook_fn in_tx,
    void *arg)
{
	int changes = 0, r;

	memset(a, 0, sizeof(*a));
	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	if ((r = lkdb_run(lkd->db, &changes, "UPDATE activations SET "
	    "disabled = 1 WHERE id = ?", "s", id)) != 0)
		goto fail;
	if (changes == 0) {
		r = LK_ERR_NOT_FOUND;
		goto fail;
	}
	if ((r = store_act_get(id, a)) != 0 ||
	    (in_tx != NULL && (r = in_tx(arg)) != 0))
		goto fail;
	return lkdb_commit(lkd->db);
 fail:
	lkdb_rollback(lkd->db);
	store_act_free(a);
	return r;
}

int
store_act_delete(const char *id, struct store_act *a, store_tx_hook_fn in_tx,
    void *arg)
{
	char key[160];
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	/* A registration with it waits, or finds it gone. */
	snprintf(key, sizeof(key), "activation:%.128s", id);
	if ((r = lkdb_lock(lkd->db, key)) != 0 ||
	    (r = store_act_get(id, a)) != 0)
		goto fail;
	if (a->registered_now > 0) {
		r = LK_ERR_STATE;
		goto fail;
	}
	if ((r = lkdb_run(lkd->db, NULL, "DELETE FROM activations WHERE "
	    "id = ?", "s", id)) != 0 ||
	    (in_tx != NULL && (r = in_tx(arg)) != 0))
		goto fail;
	return lkdb_commit(lkd->db);
 fail:
	lkdb_rollback(lkd->db);
	if (r != LK_ERR_STATE)
		store_act_free(a);
	return r;
}

/* ---- managed instances -------------------------------------------- */

struct store_minst_scan {
	const struct store_minst_query *q;
	store_minst_cb	 cb;
	void		*arg;
};

/* Whether the JSON array of strings text holds addr exactly (quoted). */
static int
store_minst_has_addr(const char *text, const char *addr)
{
	size_t n = strlen(addr);
	const char *p;

	for (p = text; (p = strchr(p, '"')) != NULL; p++) {
		if (strncmp(p + 1, addr, n) == 0 && p[1 + n] == '"')
			return 1;
		if ((p = strchr(p + 1, '"')) == NULL)
			break;
	}
	return 0;
}

static int
store_minst_row_cb(const struct lkdb_row *row, void *arg)
{
	struct store_minst_scan *x = arg;
	const struct store_minst_query *q = x->q;
	struct store_minst m;
	size_t i;
	int online;

	memset(&m, 0, sizeof(m));
	m.id = lkdb_text(row, 0);
	m.name = lkdb_text(row, 1);
	m.hostname = lkdb_text(row, 2);
	m.os = lkdb_text(row, 3);
	m.version = lkdb_text(row, 4);
	m.addresses = lkdb_text(row, 5);
	m.activation_id = lkdb_text(row, 6);
	m.machine_id = lkdb_text(row, 7);
	if (m.id == NULL || m.name == NULL || m.hostname == NULL ||
	    m.os == NULL || m.version == NULL || m.addresses == NULL ||
	    m.activation_id == NULL || m.machine_id == NULL)
		return LK_ERR_INTERNAL;
	m.registered = lkdb_int(row, 8);
	m.last_seen = lkdb_int(row, 9);
	m.invocations = lkdb_int(row, 10);
	m.last_invoked = lkdb_isnull(row, 11) ? 0 : lkdb_int(row, 11);
	if (q->ids != NULL) {
		for (i = 0; i < q->nids; i++)
			if (strcmp(q->ids[i], m.id) == 0)
				break;
		if (i == q->nids)
			return 0;
	}
	if (q->address != NULL && !store_minst_has_addr(m.addresses,
	    q->address))
		return 0;
	online = m.last_seen > 0 && m.last_seen >= q->online_since;
	if (q->connected >= 0 && online != q->connected)
		return 0;
	return x->cb(&m, x->arg);
}

int
store_minst_scan(const struct store_minst_query *q, store_minst_cb cb,
    void *arg)
{
	struct store_minst_scan x = { q, cb, arg };

	if (q->ids != NULL && q->nids == 0)
		return 0;
	return lkdb_query(lkd->db, store_minst_row_cb, &x, "SELECT i.id, "
	    "i.name, i.hostname, i.os, i.version, i.addresses, "
	    "i.activation_id, i.machine_id, i.registered, i.last_seen, "
	    "(SELECT COUNT(*) FROM tasks t WHERE t.instance_id = i.id), "
	    "(SELECT MAX(t.created) FROM tasks t WHERE t.instance_id = i.id) "
	    "FROM instances i WHERE (?1 IS NULL OR i.name = ?1) AND "
	    "(?2 IS NULL OR i.machine_id = ?2) AND (?3 IS NULL OR "
	    "i.activation_id = ?3) ORDER BY i.registered, i.id", "sss",
	    q->name, q->machine_id, q->activation_id);
}

int
store_minst_rename(const char *id, const char *name, store_tx_hook_fn in_tx,
    void *arg)
{
	int changes = 0, r;

	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	if ((r = lkdb_run(lkd->db, &changes, "UPDATE instances SET name = ? "
	    "WHERE id = ?", "ss", name, id)) != 0)
		goto fail;
	if (changes == 0) {
		r = LK_ERR_NOT_FOUND;
		goto fail;
	}
	if (in_tx != NULL && (r = in_tx(arg)) != 0)
		goto fail;
	return lkdb_commit(lkd->db);
 fail:
	lkdb_rollback(lkd->db);
	return r;
}

struct store_fleet_inst {
	char	*cred_hash;
	char	*activation_id;
};

static int
store_fleet_inst_cb(const struct lkdb_row *row, void *arg)
{
	struct store_fleet_inst *x = arg;

	if ((x->cred_hash = lkdb_col_str(row, 0)) == NULL ||
	    (x->activation_id = lkdb_col_str(row, 1)) == NULL)
		return LK_ERR_ALLOC;
	return 1;
}

int
store_fleet_deregister_tx(const char *id, const char *reason,
    const char *replaced_by, int64_t now)
{
	struct store_fleet_inst x = { NULL, NULL };
	int r;

	if ((r = lkdb_query(lkd->db, store_fleet_inst_cb, &x, "SELECT "
	    "cred_hash, activation_id FROM instances WHERE id = ?", "s",
	    id)) != 0)
		goto out;
	if (x.cred_hash == NULL || x.activation_id == NULL) {
		r = LK_ERR_NOT_FOUND;
		goto out;
	}
	if ((r = lkdb_run(lkd->db, NULL, "INSERT INTO instances_gone(id, "
	    "cred_hash, reason, replaced_by, gone) VALUES(?,?,?,?,?)",
	    "ssssi", id, x.cred_hash, reason, replaced_by ? replaced_by : "",
	    now)) != 0 ||
	    (r = lkdb_run(lkd->db, NULL, "UPDATE tasks SET status = 'Failed', "
	    "error_code = 'InstanceReleased', finish_time = ?1, updated = ?1 "
	    "WHERE instance_id = ?2 AND status IN ('Pending', 'Running', "
	    "'Stopping')", "is", now, id)) != 0 ||
	    (r = lkdb_run(lkd->db, NULL, "UPDATE activations SET "
	    "deregistered = deregistered + 1 WHERE id = ?", "s",
	    x.activation_id)) != 0 ||
	    (r = lkdb_run(lkd->db, NULL, "DELETE FROM instance_host_keys "
	    "WHERE instance_id = ?", "s", id)) != 0 ||
	    (r = lkdb_run(lkd->db, NULL, "DELETE FROM tags WHERE "
	    "resource_type = 'instance' AND resource_id = ?", "s", id)) != 0)
		goto out;
	r = lkdb_run(lkd->db, NULL, "DELETE FROM instances WHERE id = ?", "s",
	    id);
 out:
	free(x.cred_hash);
	free(x.activation_id);
	return r;
}

int
store_minst_deregister(const char *id, int64_t now, store_tx_hook_fn in_tx,
    void *arg)
{
	int r;

	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	if ((r = store_fleet_deregister_tx(id, "deregistered", "", now)) != 0 ||
	    (in_tx != NULL && (r = in_tx(arg)) != 0)) {
		lkdb_rollback(lkd->db);
		return r;
	}
	return lkdb_commit(lkd->db);
}
