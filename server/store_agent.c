/*
 * The agents' side of the store (store.h): registration with activation
 * codes, credentials, hellos and goodbyes, the poll's task hand-out, task
 * results, batched heartbeats and the watchdog's sweep.
 *
 * What must not be done twice is a conditional UPDATE whose changed-row
 * count says whether this caller did it: an activation's use
 * (uses_left > 0), a task's claim (status = 'Pending'), a stop request's
 * hand-out (stop_requested = 1). Under PostgreSQL's READ COMMITTED a
 * concurrent writer of the same row makes the second UPDATE wait, then
 * re-check its condition on the new row and change nothing, so two
 * latchkeyd on one database never both win. The hand-out also takes an
 * instance lock first, so that the shares counted by the chooser are not
 * changed by another latchkeyd's hand-out meanwhile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "fleet.h"
#include "latchkeyd.h"
#include "log.h"
#include "sig.h"
#include "store.h"

/* store_agent_pending_here's row callback's argument. */
struct store_agent_ids {
	void	(*fn)(void *, const char *);
	void	*arg;
};

/* "Is this invocation a key push?", as a 0/1 column on invocations i. */
#define STORE_AGENT_IS_PUSH	"CASE WHEN i.command_name = " \
	"'ACS-ECS-SendSshPublicKey-linux.sh' AND EXISTS (SELECT 1 FROM " \
	"commands c WHERE c.id = i.command_id AND c.provider IS NOT NULL) " \
	"THEN 1 ELSE 0 END"

/*
 * Pending tasks, oldest first, at most STORE_AGENT_CANDIDATES a caller
 * (key pushes all). Tasks created in one second keep their insertion
 * order: SQLite's rowid, PostgreSQL's seq column.
 */
#define STORE_AGENT_CAND_SQL(SEQ) "SELECT id, owner, push FROM (SELECT " \
	"t.id AS id, i.owner AS owner, " STORE_AGENT_IS_PUSH " AS push, " \
	"t.created AS created, " SEQ " AS seq, ROW_NUMBER() OVER (PARTITION " \
	"BY i.owner ORDER BY t.created, " SEQ ") AS rn FROM tasks t JOIN " \
	"invocations i ON i.id = t.invoke_id WHERE t.instance_id = ? AND " \
	"t.status = 'Pending') AS cand WHERE rn <= ? OR push <> 0 ORDER BY " \
	"created, seq LIMIT ?"

static const char store_agent_cand_sqlite[] = STORE_AGENT_CAND_SQL("t.rowid");
static const char store_agent_cand_pg[] = STORE_AGENT_CAND_SQL("t.seq");

/* A row's first column as a new string in *(char **)arg. */
static int
store_agent_str_cb(const struct lkdb_row *row, void *arg)
{
	char **sp = arg;

	free(*sp);
	if ((*sp = lkdb_col_str(row, 0)) == NULL)
		return LK_ERR_ALLOC;
	return 1;
}

/* instances_gone's cred_hash and reason into two strings. */
static int
store_agent_gone_cb(const struct lkdb_row *row, void *arg)
{
	char **v = arg;

	if ((v[0] = lkdb_col_str(row, 0)) == NULL ||
	    (v[1] = lkdb_col_str(row, 1)) == NULL)
		return LK_ERR_ALLOC;
	return 1;
}

const char *
store_reg_why_str(enum store_reg_why why)
{
	switch (why) {
	case STORE_REG_OK:		return "ok";
	case STORE_REG_UNKNOWN:		return "unknown-activation";
	case STORE_REG_WRONG_CODE:	return "wrong-code";
	case STORE_REG_DISABLED:	return "disabled";
	case STORE_REG_EXPIRED:		return "expired";
	case STORE_REG_USED_UP:		return "used-up";
	case STORE_REG_ADDRESS:		return "address-not-allowed";
	}
	return "refused";
}

void
store_agent_reg_out_free(struct store_agent_reg_out *out)
{
	size_t i;

	free(out->name);
	for (i = 0; i < out->nreplaced; i++)
		free(out->replaced[i]);
	free(out->replaced);
	memset(out, 0, sizeof(*out));
}

/* The activation as a registration checks it. */
struct store_agent_act {
	int	 found;
	char	*code_hash, *ip_range, *prefix;
	int64_t	 count, uses_left, expires, disabled;
};

static int
store_agent_act_cb(const struct lkdb_row *row, void *arg)
{
	struct store_agent_act *a = arg;

	a->found = 1;
	if ((a->code_hash = lkdb_col_str(row, 0)) == NULL ||
	    (a->ip_range = lkdb_col_str(row, 1)) == NULL ||
	    (a->prefix = lkdb_col_str(row, 2)) == NULL)
		return LK_ERR_ALLOC;
	a->count = lkdb_int(row, 3);
	a->uses_left = lkdb_int(row, 4);
	a->expires = lkdb_int(row, 5);
	a->disabled = lkdb_int(row, 6);
	return 1;
}

/* Why activation a refuses reg (STORE_REG_OK: it does not). */
static enum store_reg_why
store_agent_act_why(const struct store_agent_act *a,
    const struct store_agent_reg *reg)
{
	if (!a->found)
		return STORE_REG_UNKNOWN;
	if (!lk_sig_equal(a->code_hash, reg->code_hash))
		return STORE_REG_WRONG_CODE;
	if (a->disabled)
		return STORE_REG_DISABLED;
	if (a->expires <= reg->now)
		return STORE_REG_EXPIRED;
	if (a->uses_left <= 0)
		return STORE_REG_USED_UP;
	if (!fleet_addr_in_range(reg->peer, a->ip_range))
		return STORE_REG_ADDRESS;
	return STORE_REG_OK;
}

/* Ids (and the newest one's name) of the instances of a machine id. */
struct store_agent_same {
	struct store_agent_reg_out *out;
	char	*name;
};

static int
store_agent_same_cb(const struct lkdb_row *row, void *arg)
{
	struct store_agent_same *x = arg;
	struct store_agent_reg_out *o = x->out;
	char **v;

	if ((v = reallocarray(o->replaced, o->nreplaced + 1,
	    sizeof(*v))) == NULL)
		return LK_ERR_ALLOC;
	o->replaced = v;
	if ((v[o->nreplaced] = lkdb_col_str(row, 0)) == NULL)
		return LK_ERR_ALLOC;
	o->nreplaced++;
	free(x->name);
	return (x->name = lkdb_col_str(row, 1)) == NULL ? LK_ERR_ALLOC : 0;
}

/*
 * The new instance's name into out->name, and the instances of the same
 * machine (deregistered here) into out->replaced; inside the transaction.
 */
static int
store_agent_reg_name(const struct store_agent_reg *reg,
    const struct store_agent_act *a, struct store_agent_reg_out *out)
{
	struct store_agent_same same = { out, NULL };
	char seq[FLEET_PREFIX_MAX + 32];
	size_t i;
	int r;

	if (reg->machine_id != NULL && *reg->machine_id != '\0' &&
	    (r = lkdb_query(lkd->db, store_agent_same_cb, &same, "SELECT id, "
	    "name FROM instances WHERE machine_id = ? ORDER BY registered, id",
	    "s", reg->machine_id)) != 0)
		goto out;
	for (i = 0; i < out->nreplaced; i++)
		if ((r = store_fleet_deregister_tx(out->replaced[i], "replaced",
		    reg->id, reg->now)) != 0)
			goto out;
	if (same.name != NULL) {
		out->name = same.name;
		same.name = NULL;
	} else if (a->prefix[0] != '\0') {
		if ((r = fleet_seq_name(a->prefix, a->count, a->count -
		    a->uses_left + 1, seq, sizeof(seq))) != 0)
			goto out;
		out->name = strdup(seq);
	} else
		out->name = strdup(reg->hostname);
	r = out->name != NULL ? 0 : LK_ERR_ALLOC;
 out:
	free(same.name);
	return r;
}

int
store_agent_register(const struct store_agent_reg *reg,
    struct store_agent_reg_out *out)
{
	struct store_agent_act a;
	char key[160];
	int changes = 0, r;

	memset(out, 0, sizeof(*out));
	memset(&a, 0, sizeof(a));
	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	snprintf(key, sizeof(key), "activation:%.128s", reg->activation_id);
	if ((r = lkdb_lock(lkd->db, key)) != 0 ||
	    (r = lkdb_query(lkd->db, store_agent_act_cb, &a, "SELECT "
	    "code_hash, ip_range, instance_name, count, uses_left, expires, "
	    "disabled FROM activations WHERE id = ?", "s",
	    reg->activation_id)) != 0)
		goto fail;
	if ((out->why = store_agent_act_why(&a, reg)) != STORE_REG_OK) {
		r = LK_ERR_NOT_FOUND;
		goto fail;
	}
	/* The use itself: at most uses_left of these change a row. */
	if ((r = lkdb_run(lkd->db, &changes, "UPDATE activations SET "
	    "uses_left = uses_left - 1 WHERE id = ? AND disabled = 0 AND "
	    "uses_left > 0 AND expires > ?", "si", reg->activation_id,
	    reg->now)) != 0)
		goto fail;
	if (changes != 1) {
		out->why = STORE_REG_USED_UP;
		r = LK_ERR_NOT_FOUND;
		goto fail;
	}
	if ((r = store_agent_reg_name(reg, &a, out)) != 0)
		goto fail;
	if ((r = lkdb_run(lkd->db, NULL, "INSERT INTO instances(id, name, "
	    "hostname, os, version, addresses, cred_hash, activation_id, "
	    "registered, last_seen, machine_id) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
	    "ssssssssiis", reg->id, out->name, reg->hostname, reg->os,
	    reg->version, reg->addresses, reg->cred_hash, reg->activation_id,
	    reg->now, reg->now, reg->machine_id ? reg->machine_id : "")) != 0 ||
	    (r = store_hostkeys_put_tx(reg->id, reg->hostkeys, reg->nhostkeys,
	    reg->now)) != 0 ||
	    (reg->in_tx != NULL && (r = reg->in_tx(reg->in_tx_arg)) != 0))
		goto fail;
	if ((r = lkdb_commit(lkd->db)) != 0)
		goto fail_committed;
	free(a.code_hash);
	free(a.ip_range);
	free(a.prefix);
	return 0;
 fail:
	lkdb_rollback(lkd->db);
 fail_committed:
	free(a.code_hash);
	free(a.ip_range);
	free(a.prefix);
	if (r != LK_ERR_NOT_FOUND) {
		store_agent_reg_out_free(out);
	} else {
		/* Nothing happened: no instance was replaced. */
		enum store_reg_why why = out->why;

		store_agent_reg_out_free(out);
		out->why = why;
	}
	return r;
}

int
store_agent_gone(const char *id, char **hashp, char **reasonp)
{
	char *g[2] = { NULL, NULL };
	int r;

	*hashp = *reasonp = NULL;
	if ((r = lkdb_query(lkd->db, store_agent_gone_cb, g, "SELECT "
	    "cred_hash, reason FROM instances_gone WHERE id = ?", "s",
	    id)) != 0 || g[0] == NULL || g[1] == NULL) {
		free(g[0]);
		free(g[1]);
		return r != 0 ? r : LK_ERR_NOT_FOUND;
	}
	*hashp = g[0];
	*reasonp = g[1];
	return 0;
}

int
store_agent_cred(const char *id, char **hashp)
{
	char *hash = NULL;
	int r;

	*hashp = NULL;
	if ((r = lkdb_query(lkd->db, store_agent_str_cb, &hash, "SELECT "
	    "cred_hash FROM instances WHERE id = ?", "s", id)) != 0) {
		free(hash);
		return r;
	}
	if (hash == NULL)
		return LK_ERR_NOT_FOUND;
	*hashp = hash;
	return 0;
}

/* The instance's facts and its host keys, in one transaction. */
int
store_agent_hello(const struct store_agent_hello *h)
{
	int r;

	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	if ((r = lkdb_run(lkd->db, NULL, "UPDATE instances SET hostname = ?, "
	    "os = ?, version = ?, addresses = ?, session_ports = ?, "
	    "last_seen = ? WHERE id = ?", "sssssis", h->hostname, h->os,
	    h->version, h->addresses, h->ports, h->now, h->id)) != 0 ||
	    (r = store_hostkeys_put_tx(h->id, h->hostkeys, h->nhostkeys,
	    h->now)) != 0) {
		lkdb_rollback(lkd->db);
		return r;
	}
	return lkdb_commit(lkd->db);
}

int
store_agent_goodbye(const char *id, int64_t now)
{
	return lkdb_run(lkd->db, NULL, "UPDATE instances SET last_seen = 0, "
	    "goodbye = ? WHERE id = ?", "is", now, id);
}

/* What the hand-out read, before the chooser sees it. */
struct store_agent_found {
	struct store_agent_load	*load;
	size_t			 nload, loadcap;
	struct store_agent_cand	*cand;
	size_t			 ncand;
};

static int
store_agent_load_cb(const struct lkdb_row *row, void *arg)
{
	struct store_agent_found *s = arg;
	struct store_agent_load *l;
	size_t cap;

	if (s->nload == s->loadcap) {
		cap = s->loadcap ? s->loadcap * 2 : 16;
		if ((l = reallocarray(s->load, cap, sizeof(*l))) == NULL)
			return LK_ERR_ALLOC;
		s->load = l;
		s->loadcap = cap;
	}
	l = &s->load[s->nload];
	if ((l->owner = lkdb_col_str(row, 0)) == NULL)
		return LK_ERR_ALLOC;
	l->push = lkdb_int(row, 1) != 0;
	l->n = lkdb_int(row, 2);
	s->nload++;
	return 0;
}

static int
store_agent_cand_cb(const struct lkdb_row *row, void *arg)
{
	struct store_agent_found *s = arg;
	struct store_agent_cand *c = &s->cand[s->ncand];

	if (s->ncand == STORE_AGENT_CAND_MAX)
		return 1;
	if ((c->id = lkdb_col_str(row, 0)) == NULL)
		return LK_ERR_ALLOC;
	if ((c->owner = lkdb_col_str(row, 1)) == NULL) {
		free(c->id);
		return LK_ERR_ALLOC;
	}
	c->push = lkdb_int(row, 2) != 0;
	s->ncand++;
	return 0;
}

static void
store_agent_found_free(struct store_agent_found *s)
{
	size_t i;

	for (i = 0; i < s->nload; i++)
		free(s->load[i].owner);
	for (i = 0; s->cand != NULL && i < s->ncand; i++) {
		free(s->cand[i].id);
		free(s->cand[i].owner);
	}
	free(s->load);
	free(s->cand);
}

static int
store_agent_task_cb(const struct lkdb_row *row, void *arg)
{
	struct store_agent_task *t = arg;

	if ((t->task_id = lkdb_col_str(row, 0)) == NULL ||
	    (t->invoke_id = lkdb_col_str(row, 1)) == NULL ||
	    (t->command_type = lkdb_col_str(row, 2)) == NULL ||
	    (t->content = lkdb_col_str(row, 3)) == NULL ||
	    (t->username = lkdb_col_str(row, 4)) == NULL ||
	    (t->working_dir = lkdb_col_str(row, 5)) == NULL)
		return LK_ERR_ALLOC;
	t->timeout = lkdb_int(row, 6);
	return 1;
}

static int
store_agent_stop_cb(const struct lkdb_row *row, void *arg)
{
	struct store_agent_work *w = arg;
	char **s;

	if ((s = reallocarray(w->stops, w->nstops + 1, sizeof(*s))) == NULL)
		return LK_ERR_ALLOC;
	w->stops = s;
	if ((s[w->nstops] = lkdb_col_str(row, 0)) == NULL)
		return LK_ERR_ALLOC;
	w->nstops++;
	return 0;
}

/* Claims candidate id for this poll, unless it went meanwhile. */
static int
store_agent_claim(const char *id, int64_t now, struct store_agent_work *w)
{
	struct store_agent_task *t = &w->tasks[w->ntasks];
	int changes = 0, r;

	if ((r = lkdb_run(lkd->db, &changes, "UPDATE tasks SET status = "
	    "'Running', updated = ?1, handed_out = ?1, handed_by = ?2 WHERE "
	    "id = ?3 AND status = 'Pending'", "iss", now, lkd->replica_id,
	    id)) != 0 || changes != 1)
		return r;
	memset(t, 0, sizeof(*t));
	w->ntasks++;		/* freed with w, even when half filled */
	if ((r = lkdb_query(lkd->db, store_agent_task_cb, t, "SELECT t.id, "
	    "t.invoke_id, i.command_type, t.content, i.username, "
	    "i.working_dir, i.timeout FROM tasks t JOIN invocations i ON "
	    "i.id = t.invoke_id WHERE t.id = ?", "s", id)) != 0)
		return r;
	return t->task_id != NULL ? 0 : LK_ERR_INTERNAL;
}

/*
 * A task's lease (docs/agent-protocol.md): a task Running for more than
 * STORE_AGENT_LEASE seconds since a poll handed it out, without a result
 * and not named in running (the agent's Latchkey-Running-Tasks, ids
 * joined by commas, checked by the caller to hold no LIKE wildcard), was
 * never received: it goes back to Pending. One statement, in the poll's
 * transaction; the list is matched as ",a,b," against ",<id>,".
 */
#define STORE_AGENT_NOT_LISTED "(',' || ? || ',') NOT LIKE ('%,' || id || ',%')"

static int
store_agent_reclaim(const char *id, int64_t now, const char *running,
    struct store_agent_work *w)
{
	int changes = 0, r;

	if (running == NULL)
		return 0;
	if ((r = lkdb_run(lkd->db, &changes, "UPDATE tasks SET status = "
	    "'Pending', handed_out = NULL, handed_by = NULL, updated = ? WHERE "
	    "instance_id = ? AND status = 'Running' AND handed_out IS NOT NULL "
	    "AND handed_out < ? AND finish_time IS NULL AND "
	    STORE_AGENT_NOT_LISTED, "isis", now, id, now - STORE_AGENT_LEASE,
	    running)) != 0)
		return r;
	w->reclaimed = changes;
	if (changes > 0)
		log_info("agent lease instance=%s reclaimed=%d", id, changes);
	return 0;
}

/* The chooser's turn and the claims; inside the transaction. */
static int
store_agent_take_locked(const char *id, int64_t now, const char *running,
    store_agent_choose_fn choose, void *arg, struct store_agent_work *w)
{
	struct store_agent_found s;
	const char *cand_sql = strcmp(lkdb_kind(lkd->db), "postgresql") == 0 ?
	    store_agent_cand_pg : store_agent_cand_sqlite;
	char key[16 + STORE_AGENT_ID_MAX];
	int *take = NULL, r;
	size_t i;

	memset(&s, 0, sizeof(s));
	snprintf(key, sizeof(key), "agent-take:%s", id);
	if ((r = lkdb_lock(lkd->db, key)) != 0)
		return r;
	if ((r = store_agent_reclaim(id, now, running, w)) != 0)
		return r;
	if ((s.cand = calloc(STORE_AGENT_CAND_MAX, sizeof(*s.cand))) == NULL)
		return LK_ERR_ALLOC;
	if ((r = lkdb_query(lkd->db, store_agent_load_cb, &s, "SELECT "
	    "i.owner, " STORE_AGENT_IS_PUSH ", COUNT(*) FROM tasks t JOIN "
	    "invocations i ON i.id = t.invoke_id WHERE t.instance_id = ? AND "
	    "t.status IN ('Running', 'Stopping') GROUP BY 1, 2", "s", id)) != 0 ||
	    (r = lkdb_query(lkd->db, store_agent_cand_cb, &s, cand_sql, "sii",
	    id, (int64_t)STORE_AGENT_CANDIDATES,
	    (int64_t)STORE_AGENT_CAND_MAX)) != 0)
		goto out;
	if (s.ncand > 0) {
		if ((take = calloc(s.ncand, sizeof(*take))) == NULL ||
		    (w->tasks = calloc(s.ncand, sizeof(*w->tasks))) == NULL) {
			r = LK_ERR_ALLOC;
			goto out;
		}
		if ((r = choose(arg, s.load, s.nload, s.cand, s.ncand,
		    take)) != 0)
			goto out;
	}
	for (i = 0; i < s.ncand; i++)
		if (take[i] && (r = store_agent_claim(s.cand[i].id, now,
		    w)) != 0)
			goto out;
	if ((r = lkdb_query(lkd->db, store_agent_stop_cb, w, "UPDATE tasks "
	    "SET stop_requested = 2 WHERE instance_id = ? AND status = "
	    "'Stopping' AND stop_requested = 1 RETURNING id", "s", id)) != 0)
		goto out;
	r = lkdb_run(lkd->db, NULL, "UPDATE instances SET last_seen = ?1 "
	    "WHERE id = ?2 AND last_seen < ?1", "is", now, id);
 out:
	free(take);
	store_agent_found_free(&s);
	return r;
}

/* What the poll's first read found. */
struct store_agent_look {
	int64_t	work;		/* 1: Pending tasks or stop requests */
	int64_t	oldest;		/* a not listed Running task's handed_out */
	int	has_oldest;
	int	exists;		/* the instance is (still) registered */
};

static int
store_agent_look_cb(const struct lkdb_row *row, void *arg)
{
	struct store_agent_look *l = arg;

	l->work = lkdb_int(row, 0);
	if (!lkdb_isnull(row, 1)) {
		l->has_oldest = 1;
		l->oldest = lkdb_int(row, 1);
	}
	l->exists = lkdb_int(row, 2) != 0;
	return 1;
}

int
store_agent_take(const char *id, int64_t now, const char *running,
    store_agent_choose_fn choose, void *arg, struct store_agent_work *w)
{
	struct store_agent_look look;
	int r;

	memset(w, 0, sizeof(*w));
	memset(&look, 0, sizeof(look));
	/*
	 * Most turns find nothing: a read, with no write and so no fsync
	 * (the caller notes the heartbeat in memory). With the agent's list
	 * of running tasks, the same read finds the oldest hand-out of a
	 * Running task the agent did not name: its lease ends 30 s later.
	 */
	if ((r = lkdb_query(lkd->db, store_agent_look_cb, &look, "SELECT "
	    "CASE WHEN EXISTS (SELECT 1 FROM tasks WHERE instance_id = ?1 AND "
	    "(status = 'Pending' OR (status = 'Stopping' AND stop_requested = "
	    "1))) THEN 1 ELSE 0 END, (SELECT MIN(handed_out) FROM tasks WHERE "
	    "instance_id = ?1 AND status = 'Running' AND handed_out IS NOT NULL "
	    "AND finish_time IS NULL AND ?2 IS NOT NULL AND "
	    "(',' || ?2 || ',') NOT LIKE ('%,' || id || ',%')), CASE WHEN "
	    "EXISTS (SELECT 1 FROM instances WHERE id = ?1) THEN 1 ELSE 0 END",
	    "ss", id, running)) != 0)
		return r;
	if (!look.exists)
		return LK_ERR_STATE;	/* deregistered meanwhile */
	if (!look.work && (!look.has_oldest ||
	    look.oldest >= now - STORE_AGENT_LEASE)) {
		w->idle = 1;
		if (look.has_oldest)
			w->lease_due = look.oldest + STORE_AGENT_LEASE + 1;
		return 0;
	}
	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	if ((r = store_agent_take_locked(id, now, running, choose, arg,
	    w)) != 0) {
		lkdb_rollback(lkd->db);
		return r;
	}
	return lkdb_commit(lkd->db);
}

void
store_agent_work_free(struct store_agent_work *w)
{
	struct store_agent_task *t;
	size_t i;

	for (i = 0; i < w->ntasks; i++) {
		t = &w->tasks[i];
		free(t->task_id);
		free(t->invoke_id);
		free(t->command_type);
		free(t->content);
		free(t->username);
		free(t->working_dir);
	}
	for (i = 0; i < w->nstops; i++)
		free(w->stops[i]);
	free(w->tasks);
	free(w->stops);
	memset(w, 0, sizeof(*w));
}

int
store_agent_result(const struct store_agent_result *res, int *appliedp)
{
	int changes = 0, r;

	*appliedp = 0;
	if (res->in_tx != NULL && (r = lkdb_begin(lkd->db)) != 0)
		return r;
	if ((r = lkdb_run(lkd->db, &changes, "UPDATE tasks SET status = ?, "
	    "exit_code = ?, output = ?, dropped = ?, error_code = ?, "
	    "start_time = ?, finish_time = ?, updated = ? WHERE id = ? AND "
	    "instance_id = ? AND status IN ('Running', 'Stopping')",
	    "sibisiiiss", res->status, res->exit_code, res->output, res->outlen,
	    res->dropped, res->error_code, res->start, res->finish, res->now,
	    res->task_id, res->instance_id)) != 0)
		goto out;
	if (res->in_tx != NULL && changes > 0)
		r = res->in_tx(res->in_tx_arg);
 out:
	if (res->in_tx != NULL) {
		if (r != 0)
			lkdb_rollback(lkd->db);
		else
			r = lkdb_commit(lkd->db);
	}
	if (r == 0)
		*appliedp = changes;
	return r;
}

static int
store_agent_seen_cmp(const void *a, const void *b)
{
	return strcmp(((const struct store_agent_seen *)a)->id,
	    ((const struct store_agent_seen *)b)->id);
}

int
store_agent_seen(struct store_agent_seen *rows, size_t n)
{
	size_t i;
	int r;

	if (n == 0)
		return 0;
	qsort(rows, n, sizeof(*rows), store_agent_seen_cmp);
	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	/*
	 * Never back in time, and never past a goodbye said at or after the
	 * poll (a flush that raced with a goodbye).
	 */
	for (i = 0; i < n && r == 0; i++)
		r = lkdb_run(lkd->db, NULL, "UPDATE instances SET last_seen = "
		    "?1 WHERE id = ?2 AND last_seen < ?1 AND goodbye < ?1", "is",
		    rows[i].seen, rows[i].id);
	if (r != 0) {
		lkdb_rollback(lkd->db);
		return r;
	}
	return lkdb_commit(lkd->db);
}

int
store_agent_sweep(int64_t now, int64_t dead_before, int64_t offline_before,
    int *failedp)
{
	int gone = 0, offline = 0, r;

	if (failedp != NULL)
		*failedp = 0;
	if ((r = lkdb_run(lkd->db, &gone, "UPDATE tasks SET status = "
	    "'Failed', error_code = 'ClientNotResponse', finish_time = ?, "
	    "updated = ? WHERE status IN ('Running', 'Stopping') AND "
	    "instance_id IN (SELECT id FROM instances WHERE last_seen < ?)",
	    "iii", now, now, dead_before)) != 0)
		return r;
	if ((r = lkdb_run(lkd->db, &offline, "UPDATE tasks SET status = "
	    "'Failed', error_code = 'ClientNotRunning', finish_time = ?, "
	    "updated = ? WHERE status = 'Pending' AND instance_id IN (SELECT "
	    "id FROM instances WHERE last_seen < ?) AND created < ? - (SELECT "
	    "timeout FROM invocations WHERE invocations.id = tasks.invoke_id)",
	    "iiii", now, now, offline_before, now)) != 0)
		return r;
	if (failedp != NULL)
		*failedp = gone + offline;
	return 0;
}

/*
 * A replica's wake-up channel: "lk_wake_" and its id in lower case, cut to
 * PostgreSQL's 63 bytes (two ids that share a channel only cost spurious
 * wake-ups). STORE_AGENT_CHANNEL_SQL is the same in SQL, of column or
 * parameter X.
 */
#define STORE_AGENT_CHANNEL_SQL(X)	"left('lk_wake_' || lower(" X "), 63)"

void
store_agent_channel(const char *replica, char *out, size_t outsize)
{
	size_t i, n;

	n = (size_t)snprintf(out, outsize, "lk_wake_%s", replica);
	if (n >= outsize)
		n = outsize - 1;
	if (n > 63)
		n = 63;
	out[n] = '\0';
	for (i = 0; i < n; i++)
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] = (char)(out[i] - 'A' + 'a');
}

int
store_agent_listen(const char *replica, lkdb_notify_cb cb, void *arg)
{
	char channel[64];

	store_agent_channel(replica, channel, sizeof(channel));
	return lkdb_listen(lkd->db, channel, cb, arg);
}

int
store_agent_route(const char *id, const char *replica, int64_t now,
    int *changedp)
{
	char *old = NULL;
	int r;

	*changedp = 0;
	if ((r = lkdb_begin(lkd->db)) != 0)
		return r;
	if ((r = lkdb_query(lkd->db, store_agent_str_cb, &old, "SELECT "
	    "replica_id FROM agent_routes WHERE instance_id = ?", "s", id)) != 0)
		goto fail;
	if (old != NULL && strcmp(old, replica) == 0) {
		lkdb_rollback(lkd->db);
		free(old);
		return 0;
	}
	if ((r = lkdb_run(lkd->db, NULL, "INSERT INTO agent_routes("
	    "instance_id, replica_id, since) VALUES(?, ?, ?) ON CONFLICT("
	    "instance_id) DO UPDATE SET replica_id = excluded.replica_id, "
	    "since = excluded.since", "ssi", id, replica, now)) != 0)
		goto fail;
	/*
	 * The replica the agent left forgets what it noted of the instance
	 * (delivered with the commit), so that it writes the route again if
	 * the agent comes back.
	 */
	if (old != NULL && strcmp(lkdb_kind(lkd->db), "postgresql") == 0 &&
	    (r = lkdb_run(lkd->db, NULL, "SELECT pg_notify("
	    STORE_AGENT_CHANNEL_SQL("?") ", 'moved ' || ?)", "ss", old,
	    id)) != 0)
		goto fail;
	free(old);
	*changedp = 1;
	return lkdb_commit(lkd->db);
 fail:
	lkdb_rollback(lkd->db);
	free(old);
	return r;
}

int
store_agent_notify(const char *const *ids, size_t n, const char *self)
{
	char *list = NULL;
	size_t i, j, len;
	int r = 0;

	if (strcmp(lkdb_kind(lkd->db), "postgresql") != 0)
		return 0;
	for (i = 0; i < n && r == 0; i = j) {
		len = 0;
		for (j = i; j < n && j - i < STORE_AGENT_NOTIFY_BATCH; j++)
			len += strlen(ids[j]) + 1;
		if ((list = malloc(len + 1)) == NULL)
			return LK_ERR_ALLOC;
		len = 0;
		for (j = i; j < n && j - i < STORE_AGENT_NOTIFY_BATCH; j++) {
			if (j > i)
				list[len++] = ',';
			memcpy(list + len, ids[j], strlen(ids[j]));
			len += strlen(ids[j]);
		}
		list[len] = '\0';
		r = lkdb_run(lkd->db, NULL, "SELECT pg_notify("
		    STORE_AGENT_CHANNEL_SQL("replica_id") ", instance_id) FROM "
		    "agent_routes WHERE replica_id <> ? AND instance_id IN "
		    "(SELECT unnest(string_to_array(?, ',')))", "ss", self, list);
		free(list);
	}
	return r;
}

static int
store_agent_id_cb(const struct lkdb_row *row, void *arg)
{
	struct store_agent_ids *a = arg;
	const char *id = lkdb_text(row, 0);

	if (id != NULL)
		a->fn(a->arg, id);
	return 0;
}

int
store_agent_pending_here(const char *replica, void (*fn)(void *,
    const char *), void *arg)
{
	struct store_agent_ids a = { fn, arg };

	return lkdb_query(lkd->db, store_agent_id_cb, &a, "SELECT "
	    "t.instance_id FROM tasks t JOIN agent_routes r ON r.instance_id = "
	    "t.instance_id WHERE r.replica_id = ?1 AND (t.status = 'Pending' OR "
	    "(t.status = 'Stopping' AND t.stop_requested = 1)) UNION "
	    "SELECT s.instance_id FROM sessions s JOIN agent_routes r ON "
	    "r.instance_id = s.instance_id WHERE r.replica_id = ?1 AND "
	    "s.handout = 1 AND s.status = 'Connecting'", "s", replica);
}

int
store_replica_beat(const char *id, const char *url, int64_t now,
    int starting)
{
	return lkdb_run(lkd->db, NULL, "INSERT INTO replicas(id, "
	    "advertise_url, started, seen) VALUES(?1, ?2, ?3, ?3) ON CONFLICT("
	    "id) DO UPDATE SET advertise_url = excluded.advertise_url, seen = "
	    "excluded.seen, started = CASE WHEN ?4 <> 0 THEN excluded.started "
	    "ELSE replicas.started END", "ssii", id, url, now,
	    (int64_t)starting);
}

int
store_agent_clock_sync(void)
{
	return lkdb_clock_sync(lkd->db);
}

int
store_agent_skew_set(const char *id, int64_t skew_ms, int64_t at)
{
	return lkdb_run(lkd->db, NULL, "UPDATE instances SET clock_skew_ms = ?,"
	    " clock_at = ? WHERE id = ?", "iis", skew_ms, at, id);
}

struct store_agent_skewv {
	int64_t	 skew, at;
};

static int
store_agent_skew_cb(const struct lkdb_row *row, void *arg)
{
	struct store_agent_skewv *v = arg;

	v->skew = lkdb_int(row, 0);
	v->at = lkdb_int(row, 1);
	return 1;
}

int
store_agent_skew_get(const char *id, int64_t *skewp, int64_t *atp)
{
	struct store_agent_skewv v = { 0, 0 };
	int r;

	r = lkdb_query(lkd->db, store_agent_skew_cb, &v, "SELECT clock_skew_ms,"
	    " clock_at FROM instances WHERE id = ?", "s", id);
	*skewp = v.skew;
	*atp = v.at;
	return r;
}
