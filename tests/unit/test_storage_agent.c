/*
 * server/store_agent.c on both backends (dbtest.h): an activation is used
 * at most its count of times by concurrent registrations; concurrent polls
 * hand every Pending task and every stop request out exactly once, oldest
 * first; heartbeats never move last_seen back; the watchdog's sweep fails
 * exactly the tasks whose agent went away; routes are written only when
 * they change; a NOTIFY sent through one handle reaches another's listener
 * within 100 ms, and a listener whose connection the server ends gets a
 * resync; leases take back only Running tasks the agent does not name.
 */
#include <pthread.h>
#include <setjmp.h>
#include <time.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dbtest.h"
#include "err.h"
#include "latchkeyd.h"
#include "sig.h"
#include "store.h"

#define NTHREADS	8
#define NTASKS		200
#define NSTOPS		5
#define NOW		1000000

DBTEST_LKD_FIXTURE

static int
int_cb(const struct lkdb_row *row, void *arg)
{
	*(int64_t *)arg = lkdb_int(row, 0);
	return 1;
}

static int64_t
count_of(const char *sql, const char *arg)
{
	int64_t v = -1;

	assert_int_equal(lkdb_query(lkd->db, int_cb, &v, sql, arg ? "s" : "",
	    arg), 0);
	return v;
}

static void
add_instance(const char *id, int64_t seen, int64_t goodbye)
{
	assert_int_equal(lkdb_run(lkd->db, NULL, "INSERT INTO instances(id, "
	    "name, cred_hash, activation_id, registered, last_seen, goodbye) "
	    "VALUES(?, ?, 'h', 'act', 1, ?, ?)", "ssii", id, id, seen, goodbye),
	    0);
}

static void
add_invocation(const char *id, const char *owner, int64_t timeout)
{
	assert_int_equal(lkdb_run(lkd->db, NULL, "INSERT INTO invocations(id, "
	    "command_id, command_name, command_type, content, username, "
	    "working_dir, timeout, owner, created) VALUES(?, 'c-1', 'x', "
	    "'RunShellScript', 'echo', 'root', '/', ?, ?, ?)", "sisi", id,
	    timeout, owner, (int64_t)NOW), 0);
}

static void
add_task(const char *id, const char *inv, const char *inst,
    const char *status, int64_t created, int64_t stop_requested)
{
	assert_int_equal(lkdb_run(lkd->db, NULL, "INSERT INTO tasks(id, "
	    "invoke_id, instance_id, content, status, created, updated, "
	    "stop_requested) VALUES(?, ?, ?, 'echo', ?, ?, ?, ?)", "ssssiii",
	    id, inv, inst, status, created, created, stop_requested), 0);
}

static int
text_cb(const struct lkdb_row *row, void *arg)
{
	snprintf(arg, 64, "%s|%s", lkdb_text(row, 0), lkdb_text(row, 1));
	return 1;
}

/* "status|error_code" of a task. */
static const char *
task_state(const char *id, char out[64])
{
	out[0] = '\0';
	assert_int_equal(lkdb_query(lkd->db, text_cb, out, "SELECT status, "
	    "error_code FROM tasks WHERE id = ?", "s", id), 0);
	return out;
}

/* ---- registration --------------------------------------------------- */

static pthread_barrier_t start_line;
static char code_hash[LK_SIG_V3_SIZE];

struct reg_arg {
	int	 n;
	int	 r;
};

static void *
register_one(void *arg)
{
	struct reg_arg *a = arg;
	struct store_agent_reg reg;
	struct store_agent_reg_out out;
	char id[32];

	snprintf(id, sizeof(id), "i-%d", a->n);
	memset(&reg, 0, sizeof(reg));
	reg.activation_id = "act-1";
	reg.code_hash = code_hash;
	reg.id = id;
	reg.cred_hash = "credhash";
	reg.hostname = reg.os = reg.version = "x";
	reg.addresses = "[]";
	reg.now = NOW;
	pthread_barrier_wait(&start_line);
	a->r = store_agent_register(&reg, &out);
	store_agent_reg_out_free(&out);
	return NULL;
}

/* An activation, as store_act_add stores it. */
static void
act_add(const char *id, const char *hash, int64_t count, int64_t expires,
    int64_t now, const char *prefix, const char *range)
{
	struct store_act_new a;

	memset(&a, 0, sizeof(a));
	a.id = id;
	a.code_hash = hash;
	a.count = count;
	a.expires = expires;
	a.now = now;
	a.instance_name = prefix;
	a.ip_range = range;
	assert_int_equal(store_act_add(&a), 0);
}

/* Registers id; returns the store's result, out->why on a refusal. */
static int
reg_do(struct store_agent_reg *reg, const char *id, enum store_reg_why *why,
    char **namep)
{
	struct store_agent_reg_out out;
	int r;

	reg->id = id;
	r = store_agent_register(reg, &out);
	if (why != NULL)
		*why = out.why;
	if (namep != NULL)
		*namep = out.name != NULL ? strdup(out.name) : NULL;
	store_agent_reg_out_free(&out);
	return r;
}

static void
test_register_count(void **state)
{
	struct store_agent_reg reg;
	enum store_reg_why why;
	struct reg_arg a[NTHREADS];
	char bad[LK_SIG_V3_SIZE], *hash = NULL;
	pthread_t th[NTHREADS];
	int i, ok = 0;

	(void)state;
	assert_int_equal(lk_sig_sha256_hex("code", 4, code_hash), 0);
	assert_int_equal(lk_sig_sha256_hex("nope", 4, bad), 0);
	act_add("act-1", code_hash, 3, NOW + 60, NOW, NULL, NULL);
	act_add("act-old", code_hash, 3, NOW - 1, NOW - 60, NULL, NULL);

	/* A wrong code, an expired or unknown activation: refused. */
	memset(&reg, 0, sizeof(reg));
	reg.activation_id = "act-1";
	reg.code_hash = bad;
	reg.id = "i-wrong";
	reg.cred_hash = "c";
	reg.hostname = reg.os = reg.version = "x";
	reg.addresses = "[]";
	reg.now = NOW;
	assert_int_equal(reg_do(&reg, "i-wrong", &why, NULL), LK_ERR_NOT_FOUND);
	assert_int_equal(why, STORE_REG_WRONG_CODE);
	reg.activation_id = "act-old";
	reg.code_hash = code_hash;
	assert_int_equal(reg_do(&reg, "i-wrong", &why, NULL), LK_ERR_NOT_FOUND);
	assert_int_equal(why, STORE_REG_EXPIRED);
	reg.activation_id = "act-nosuch";
	assert_int_equal(reg_do(&reg, "i-wrong", &why, NULL), LK_ERR_NOT_FOUND);
	assert_int_equal(why, STORE_REG_UNKNOWN);
	assert_int_equal(count_of("SELECT uses_left FROM activations WHERE "
	    "id = ?", "act-1"), 3);

	/* NTHREADS at once on a count of 3: exactly 3 get in. */
	assert_int_equal(pthread_barrier_init(&start_line, NULL, NTHREADS), 0);
	for (i = 0; i < NTHREADS; i++) {
		a[i].n = i;
		a[i].r = 1;
		assert_int_equal(pthread_create(&th[i], NULL, register_one,
		    &a[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start_line);
	for (i = 0; i < NTHREADS; i++) {
		if (a[i].r == 0)
			ok++;
		else
			assert_int_equal(a[i].r, LK_ERR_NOT_FOUND);
	}
	assert_int_equal(ok, 3);
	assert_int_equal(count_of("SELECT uses_left FROM activations WHERE "
	    "id = ?", "act-1"), 0);
	assert_int_equal(count_of("SELECT COUNT(*) FROM instances WHERE "
	    "activation_id = ?", "act-1"), 3);

	/* The credential of a registered instance, and of none. */
	for (i = 0; a[i].r != 0; i++)
		;
	{
		char id[32];

		snprintf(id, sizeof(id), "i-%d", i);
		assert_int_equal(store_agent_cred(id, &hash), 0);
		assert_string_equal(hash, "credhash");
		free(hash);
	}
	assert_int_equal(store_agent_cred("i-wrong", &hash), LK_ERR_NOT_FOUND);
	assert_null(hash);
	/* Used up now. */
	reg.activation_id = "act-1";
	assert_int_equal(reg_do(&reg, "i-late", &why, NULL), LK_ERR_NOT_FOUND);
	assert_int_equal(why, STORE_REG_USED_UP);
}

/*
 * The lifecycle: refusal reasons (disabled, address), names from the
 * activation's prefix, a machine that registers again replacing its
 * instance (tasks failed, credential kept as gone), deregistration,
 * DeleteActivation refused while an instance uses it.
 */
static void
test_lifecycle(void **state)
{
	struct store_agent_reg reg;
	struct store_act a;
	enum store_reg_why why;
	char *name = NULL, *hash = NULL, *reason = NULL;

	(void)state;
	assert_int_equal(lk_sig_sha256_hex("code", 4, code_hash), 0);
	act_add("act-w", code_hash, 12, NOW + 60, NOW, "web", "10.0.0.0/8");
	memset(&reg, 0, sizeof(reg));
	reg.activation_id = "act-w";
	reg.code_hash = code_hash;
	reg.cred_hash = "cred-1";
	reg.hostname = reg.os = reg.version = "x";
	reg.addresses = "[\"10.1.2.3\"]";
	reg.now = NOW;
	reg.peer = "192.168.1.1";
	assert_int_equal(reg_do(&reg, "i-a", &why, NULL), LK_ERR_NOT_FOUND);
	assert_int_equal(why, STORE_REG_ADDRESS);
	reg.peer = "10.1.2.3";
	reg.machine_id = "m-1";
	assert_int_equal(reg_do(&reg, "i-a", NULL, &name), 0);
	assert_string_equal(name, "web-01");
	free(name);
	/* A task for it, then the same machine again. */
	assert_int_equal(lkdb_run(lkd->db, NULL, "INSERT INTO tasks(id, "
	    "invoke_id, instance_id, content, status, created, updated) "
	    "VALUES('t-1:i-a', 't-1', 'i-a', 'x', 'Pending', 1, 1)", ""), 0);
	assert_int_equal(store_minst_rename("i-a", "kept", NULL, NULL), 0);
	reg.cred_hash = "cred-2";
	assert_int_equal(reg_do(&reg, "i-b", NULL, &name), 0);
	assert_string_equal(name, "kept");	/* the replaced one's */
	free(name);
	assert_int_equal(count_of("SELECT COUNT(*) FROM instances WHERE "
	    "machine_id = ?", "m-1"), 1);
	assert_int_equal(store_agent_cred("i-a", &hash), LK_ERR_NOT_FOUND);
	assert_int_equal(store_agent_gone("i-a", &hash, &reason), 0);
	assert_string_equal(hash, "cred-1");
	assert_string_equal(reason, "replaced");
	free(hash);
	free(reason);
	assert_int_equal(count_of("SELECT COUNT(*) FROM tasks WHERE status = "
	    "'Failed' AND error_code = 'InstanceReleased' AND instance_id = ?",
	    "i-a"), 1);
	/* The poll of a gone instance: LK_ERR_STATE. */
	{
		struct store_agent_work w;

		assert_int_equal(store_agent_take("i-a", NOW, NULL, NULL, NULL,
		    &w), LK_ERR_STATE);
		store_agent_work_free(&w);
	}
	assert_int_equal(store_act_get("act-w", &a), 0);
	assert_int_equal(a.deregistered, 1);
	assert_int_equal(a.registered_now, 1);
	assert_int_equal(a.uses_left, 10);
	store_act_free(&a);
	/* In use: not deleted. Disabled: refused with its reason. */
	assert_int_equal(store_act_delete("act-w", &a, NULL, NULL),
	    LK_ERR_STATE);
	store_act_free(&a);
	assert_int_equal(store_act_disable("act-w", &a, NULL, NULL), 0);
	assert_true(a.disabled);
	store_act_free(&a);
	reg.machine_id = NULL;
	assert_int_equal(reg_do(&reg, "i-c", &why, NULL), LK_ERR_NOT_FOUND);
	assert_int_equal(why, STORE_REG_DISABLED);
	/* Deregistered: gone; then the activation may go. */
	assert_int_equal(store_minst_deregister("i-b", NOW, NULL, NULL), 0);
	assert_int_equal(store_minst_deregister("i-b", NOW, NULL, NULL),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(store_agent_gone("i-b", &hash, &reason), 0);
	assert_string_equal(reason, "deregistered");
	free(hash);
	free(reason);
	assert_int_equal(store_act_delete("act-w", &a, NULL, NULL), 0);
	store_act_free(&a);
	assert_int_equal(store_act_get("act-w", &a), LK_ERR_NOT_FOUND);
	assert_int_equal(store_act_disable("act-w", &a, NULL, NULL),
	    LK_ERR_NOT_FOUND);
}

/* ---- the poll's hand-out ---------------------------------------------- */

/* Takes every candidate offered, at most 16 a turn (a poll's batch). */
static int
choose_all(void *arg, const struct store_agent_load *load, size_t nload,
    const struct store_agent_cand *cand, size_t ncand, int *take)
{
	size_t i;

	(void)arg;
	(void)load;
	(void)nload;
	(void)cand;
	for (i = 0; i < ncand && i < 16; i++)
		take[i] = 1;
	return 0;
}

static pthread_mutex_t handed_lock = PTHREAD_MUTEX_INITIALIZER;
static int handed[NTASKS], stopped[NSTOPS];

static void
note(int *counts, int n, const char *id, const char *prefix)
{
	long k;
	char *end;

	assert_true(strncmp(id, prefix, strlen(prefix)) == 0);
	k = strtol(id + strlen(prefix), &end, 10);
	assert_true(*end == '\0' && k >= 0 && k < n);
	counts[k]++;
}

static void *
poll_until_idle(void *arg)
{
	struct store_agent_work w;
	size_t i;
	int *rp = arg, turns;

	pthread_barrier_wait(&start_line);
	for (turns = 0; turns < 1000; turns++) {
		if ((*rp = store_agent_take("i-1", NOW, NULL, choose_all, NULL,
		    &w)) != 0) {
			store_agent_work_free(&w);
			return NULL;
		}
		pthread_mutex_lock(&handed_lock);
		for (i = 0; i < w.ntasks; i++)
			note(handed, NTASKS, w.tasks[i].task_id, "t-");
		for (i = 0; i < w.nstops; i++)
			note(stopped, NSTOPS, w.stops[i], "s-");
		pthread_mutex_unlock(&handed_lock);
		if (w.idle) {
			store_agent_work_free(&w);
			return NULL;
		}
		store_agent_work_free(&w);
	}
	*rp = LK_ERR_BUSY;	/* never went idle */
	return NULL;
}

static void
test_take_once(void **state)
{
	pthread_t th[NTHREADS];
	char id[32], inv[32];
	int r[NTHREADS], i;

	(void)state;
	add_instance("i-1", 0, 0);
	for (i = 0; i < 4; i++) {
		snprintf(inv, sizeof(inv), "inv-%d", i);
		snprintf(id, sizeof(id), "owner-%d", i);
		add_invocation(inv, id, 600);
	}
	for (i = 0; i < NTASKS; i++) {
		snprintf(id, sizeof(id), "t-%d", i);
		snprintf(inv, sizeof(inv), "inv-%d", i % 4);
		add_task(id, inv, "i-1", "Pending", NOW - 10, 0);
	}
	for (i = 0; i < NSTOPS; i++) {
		snprintf(id, sizeof(id), "s-%d", i);
		add_task(id, "inv-0", "i-1", "Stopping", NOW - 10, 1);
	}
	memset(handed, 0, sizeof(handed));
	memset(stopped, 0, sizeof(stopped));
	assert_int_equal(pthread_barrier_init(&start_line, NULL, NTHREADS), 0);
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, poll_until_idle,
		    &r[i]), 0);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start_line);
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(r[i], 0);
	for (i = 0; i < NTASKS; i++)
		assert_int_equal(handed[i], 1);
	for (i = 0; i < NSTOPS; i++)
		assert_int_equal(stopped[i], 1);
	assert_int_equal(count_of("SELECT COUNT(*) FROM tasks WHERE status = "
	    "'Running'", NULL), NTASKS);
	assert_int_equal(count_of("SELECT COUNT(*) FROM tasks WHERE "
	    "stop_requested = 2", NULL), NSTOPS);
	assert_int_equal(count_of("SELECT last_seen FROM instances WHERE "
	    "id = ?", "i-1"), NOW);
}

/* Offers only the first candidate, and records what it was offered. */
static int
choose_first(void *arg, const struct store_agent_load *load, size_t nload,
    const struct store_agent_cand *cand, size_t ncand, int *take)
{
	char *seen = arg;
	size_t i, n = 0;

	assert_int_equal(nload, 1);
	assert_string_equal(load[0].owner, "owner-0");
	assert_false(load[0].push);
	assert_int_equal(load[0].n, 1);
	seen[0] = '\0';
	for (i = 0; i < ncand && n < 255; i++)
		n += (size_t)snprintf(seen + n, 256 - n, "%s ", cand[i].id);
	take[0] = 1;
	return 0;
}

static void
test_take_fifo(void **state)
{
	struct store_agent_work w;
	char seen[256];

	(void)state;
	add_instance("i-1", 0, 0);
	add_invocation("inv-0", "owner-0", 600);
	/* One second, inserted in an order that is not the ids'. */
	add_task("t-c", "inv-0", "i-1", "Pending", NOW - 5, 0);
	add_task("t-a", "inv-0", "i-1", "Pending", NOW - 5, 0);
	add_task("t-b", "inv-0", "i-1", "Pending", NOW - 5, 0);
	add_task("t-0", "inv-0", "i-1", "Pending", NOW - 6, 0);
	add_task("t-run", "inv-0", "i-1", "Running", NOW - 9, 0);
	add_task("t-x", "inv-0", "i-2", "Pending", NOW - 9, 0);
	assert_int_equal(store_agent_take("i-1", NOW, NULL, choose_first, seen,
	    &w),
	    0);
	assert_false(w.idle);
	assert_string_equal(seen, "t-0 t-c t-a t-b ");
	assert_int_equal(w.ntasks, 1);
	assert_string_equal(w.tasks[0].task_id, "t-0");
	assert_string_equal(w.tasks[0].invoke_id, "inv-0");
	assert_string_equal(w.tasks[0].command_type, "RunShellScript");
	assert_string_equal(w.tasks[0].username, "root");
	assert_int_equal(w.tasks[0].timeout, 600);
	assert_int_equal(w.nstops, 0);
	store_agent_work_free(&w);
}

/* Nothing pending: idle, and nothing written. */
static void
test_take_idle(void **state)
{
	struct store_agent_work w;

	(void)state;
	add_instance("i-1", 5, 0);
	assert_int_equal(store_agent_take("i-1", NOW, NULL, choose_all, NULL,
	    &w), 0);
	assert_true(w.idle);
	assert_int_equal(w.ntasks, 0);
	store_agent_work_free(&w);
	assert_int_equal(count_of("SELECT last_seen FROM instances WHERE "
	    "id = ?", "i-1"), 5);
}

/* ---- heartbeats -------------------------------------------------------- */

static void *
seen_many(void *arg)
{
	struct store_agent_seen row;
	int k = *(int *)arg, j;

	pthread_barrier_wait(&start_line);
	for (j = 9; j >= 0; j--) {	/* newest first: later ones are older */
		snprintf(row.id, sizeof(row.id), "i-1");
		row.seen = 1000 + k * 10 + j;
		if (store_agent_seen(&row, 1) != 0)
			*(int *)arg = -1;
	}
	return NULL;
}

static void
test_seen_never_back(void **state)
{
	struct store_agent_seen rows[4];
	pthread_t th[NTHREADS];
	int k[NTHREADS], i;

	(void)state;
	add_instance("i-1", 100, 0);
	add_instance("i-2", 500, 0);
	add_instance("i-3", 0, 400);		/* said goodbye at 400 */
	memset(rows, 0, sizeof(rows));
	snprintf(rows[0].id, sizeof(rows[0].id), "i-2");
	rows[0].seen = 300;			/* older than what is there */
	snprintf(rows[1].id, sizeof(rows[1].id), "i-1");
	rows[1].seen = 200;
	snprintf(rows[2].id, sizeof(rows[2].id), "i-3");
	rows[2].seen = 400;			/* same second as the goodbye */
	snprintf(rows[3].id, sizeof(rows[3].id), "i-nosuch");
	rows[3].seen = 700;
	assert_int_equal(store_agent_seen(rows, 4), 0);
	assert_int_equal(count_of("SELECT last_seen FROM instances WHERE "
	    "id = ?", "i-1"), 200);
	assert_int_equal(count_of("SELECT last_seen FROM instances WHERE "
	    "id = ?", "i-2"), 500);
	assert_int_equal(count_of("SELECT last_seen FROM instances WHERE "
	    "id = ?", "i-3"), 0);

	/* Concurrent flushes, each going back in time: the newest stays. */
	assert_int_equal(pthread_barrier_init(&start_line, NULL, NTHREADS), 0);
	for (i = 0; i < NTHREADS; i++) {
		k[i] = i;
		assert_int_equal(pthread_create(&th[i], NULL, seen_many, &k[i]),
		    0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start_line);
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(k[i], i);
	assert_int_equal(count_of("SELECT last_seen FROM instances WHERE "
	    "id = ?", "i-1"), 1000 + (NTHREADS - 1) * 10 + 9);
}

/* ---- the watchdog ------------------------------------------------------ */

static void
test_sweep(void **state)
{
	char st[64];
	int failed = -1;

	(void)state;
	add_instance("i-dead", NOW - 91, 0);	/* no poll for 91 s */
	add_instance("i-quiet", NOW - 89, 0);	/* offline, not yet dead */
	add_instance("i-on", NOW, 0);
	add_invocation("inv-1", "owner-1", 100);
	add_task("r-dead", "inv-1", "i-dead", "Running", NOW - 300, 0);
	add_task("s-dead", "inv-1", "i-dead", "Stopping", NOW - 300, 2);
	add_task("ok-dead", "inv-1", "i-dead", "Success", NOW - 300, 0);
	add_task("r-quiet", "inv-1", "i-quiet", "Running", NOW - 300, 0);
	add_task("p-quiet-old", "inv-1", "i-quiet", "Pending", NOW - 101, 0);
	add_task("p-quiet-new", "inv-1", "i-quiet", "Pending", NOW - 99, 0);
	add_task("p-on-old", "inv-1", "i-on", "Pending", NOW - 300, 0);
	add_task("r-on", "inv-1", "i-on", "Running", NOW - 300, 0);
	assert_int_equal(store_agent_sweep(NOW, NOW - 90, NOW - 60, &failed),
	    0);
	assert_int_equal(failed, 3);
	assert_string_equal(task_state("r-dead", st),
	    "Failed|ClientNotResponse");
	assert_string_equal(task_state("s-dead", st),
	    "Failed|ClientNotResponse");
	assert_string_equal(task_state("ok-dead", st), "Success|");
	assert_string_equal(task_state("r-quiet", st), "Running|");
	assert_string_equal(task_state("p-quiet-old", st),
	    "Failed|ClientNotRunning");
	assert_string_equal(task_state("p-quiet-new", st), "Pending|");
	assert_string_equal(task_state("p-on-old", st), "Pending|");
	assert_string_equal(task_state("r-on", st), "Running|");
	assert_int_equal(count_of("SELECT finish_time FROM tasks WHERE "
	    "id = ?", "r-dead"), NOW);
	/* A second sweep finds nothing more. */
	assert_int_equal(store_agent_sweep(NOW, NOW - 90, NOW - 60, &failed),
	    0);
	assert_int_equal(failed, 0);
}

/* ---- results, hello, goodbye ------------------------------------------ */

static void
test_result_once(void **state)
{
	struct store_agent_result res;
	char st[64];
	int applied = -1;

	(void)state;
	add_instance("i-1", NOW, 0);
	add_invocation("inv-1", "owner-1", 100);
	add_task("t-1", "inv-1", "i-1", "Running", NOW - 5, 0);
	memset(&res, 0, sizeof(res));
	res.instance_id = "i-2";		/* not this instance's task */
	res.task_id = "t-1";
	res.status = "Success";
	res.error_code = "";
	res.output = "hi\0there";
	res.outlen = 8;
	res.start = res.finish = res.now = NOW;
	assert_int_equal(store_agent_result(&res, &applied), 0);
	assert_int_equal(applied, 0);
	res.instance_id = "i-1";
	assert_int_equal(store_agent_result(&res, &applied), 0);
	assert_int_equal(applied, 1);
	res.status = "Failed";
	assert_int_equal(store_agent_result(&res, &applied), 0);
	assert_int_equal(applied, 0);
	assert_string_equal(task_state("t-1", st), "Success|");

	/* Goodbye: offline at once; a hello brings it back. */
	assert_int_equal(store_agent_goodbye("i-1", NOW + 1), 0);
	assert_int_equal(count_of("SELECT last_seen FROM instances WHERE "
	    "id = ?", "i-1"), 0);
	{
		struct store_agent_hello h = { .id = "i-1",
		    .hostname = "host", .os = "linux", .version = "1.0",
		    .addresses = "[\"10.0.0.1\"]", .ports = "[22]",
		    .now = NOW + 2 };

		assert_int_equal(store_agent_hello(&h), 0);
	}
	assert_int_equal(count_of("SELECT last_seen FROM instances WHERE "
	    "id = ?", "i-1"), NOW + 2);
	assert_int_equal(count_of("SELECT goodbye FROM instances WHERE "
	    "id = ?", "i-1"), NOW + 1);
}

/* ---- routes ------------------------------------------------------------ */

static int
route_cb(const struct lkdb_row *row, void *arg)
{
	snprintf(arg, 64, "%s|%lld", lkdb_text(row, 0),
	    (long long)lkdb_int(row, 1));
	return 1;
}

static const char *
route_of(const char *id, char out[64])
{
	out[0] = '\0';
	assert_int_equal(lkdb_query(lkd->db, route_cb, out, "SELECT "
	    "replica_id, since FROM agent_routes WHERE instance_id = ?", "s",
	    id), 0);
	return out;
}

static void
test_route_on_change(void **state)
{
	char rt[64];
	int changed = -1;

	(void)state;
	assert_int_equal(store_agent_route("i-1", "rep-A", 100, &changed), 0);
	assert_int_equal(changed, 1);
	assert_string_equal(route_of("i-1", rt), "rep-A|100");
	/* The same replica again: nothing written (since stays). */
	assert_int_equal(store_agent_route("i-1", "rep-A", 200, &changed), 0);
	assert_int_equal(changed, 0);
	assert_string_equal(route_of("i-1", rt), "rep-A|100");
	assert_int_equal(store_agent_route("i-1", "rep-B", 300, &changed), 0);
	assert_int_equal(changed, 1);
	assert_string_equal(route_of("i-1", rt), "rep-B|300");
	assert_int_equal(store_agent_route("i-2", "rep-B", 400, &changed), 0);
	assert_int_equal(changed, 1);
	assert_int_equal(count_of("SELECT COUNT(*) FROM agent_routes", NULL),
	    2);
	/* The replicas table: started kept, seen moves. */
	assert_int_equal(store_replica_beat("rep-A", "http://a", 10, 1), 0);
	assert_int_equal(store_replica_beat("rep-A", "http://a", 15, 0), 0);
	assert_int_equal(count_of("SELECT started FROM replicas WHERE id = ?",
	    "rep-A"), 10);
	assert_int_equal(count_of("SELECT seen FROM replicas WHERE id = ?",
	    "rep-A"), 15);
}

/* The safety net's query: routed here, with work waiting. */
static void
net_cb(void *arg, const char *id)
{
	char *seen = arg;
	size_t n = strlen(seen);

	snprintf(seen + n, 128 - n, "%s ", id);
}

static void
test_pending_here(void **state)
{
	char seen[128] = "";
	int changed;

	(void)state;
	add_invocation("inv-1", "alice", 60);
	add_task("t-1", "inv-1", "i-1", "Pending", NOW, 0);
	add_task("t-2", "inv-1", "i-2", "Pending", NOW, 0);
	add_task("t-3", "inv-1", "i-3", "Running", NOW, 0);
	add_task("t-4", "inv-1", "i-4", "Stopping", NOW, 1);
	assert_int_equal(store_agent_route("i-1", "rep-A", 1, &changed), 0);
	assert_int_equal(store_agent_route("i-2", "rep-B", 1, &changed), 0);
	assert_int_equal(store_agent_route("i-3", "rep-A", 1, &changed), 0);
	assert_int_equal(store_agent_route("i-4", "rep-A", 1, &changed), 0);
	assert_int_equal(store_agent_pending_here("rep-A", net_cb, seen), 0);
	/* Order is the database's: both orders are right. */
	assert_true(strcmp(seen, "i-1 i-4 ") == 0 ||
	    strcmp(seen, "i-4 i-1 ") == 0);
}

/* ---- leases ------------------------------------------------------------ */

static void
add_handed(const char *id, const char *inst, int64_t handed_out)
{
	add_task(id, "inv-1", inst, "Running", NOW - 100, 0);
	if (handed_out != 0)
		assert_int_equal(lkdb_run(lkd->db, NULL, "UPDATE tasks SET "
		    "handed_out = ?, handed_by = 'rep-dead' WHERE id = ?", "is",
		    handed_out, id), 0);
}

static int
choose_none(void *arg, const struct store_agent_load *load, size_t nload,
    const struct store_agent_cand *cand, size_t ncand, int *take)
{
	(void)arg;
	(void)load;
	(void)nload;
	(void)cand;
	(void)ncand;
	(void)take;
	return 0;
}

static void
lease_take(const char *running, int *reclaimed, int64_t *due)
{
	struct store_agent_work w;

	assert_int_equal(store_agent_take("i-1", NOW, running, choose_none,
	    NULL, &w), 0);
	*reclaimed = w.reclaimed;
	*due = w.lease_due;
	store_agent_work_free(&w);
}

static void
test_lease(void **state)
{
	char st[64];
	int64_t due;
	int n;

	(void)state;
	add_instance("i-1", NOW, 0);
	add_instance("i-2", NOW, 0);
	add_invocation("inv-1", "alice", 60);
	add_handed("t-old", "i-1", NOW - 31);	/* lease over, not listed */
	add_handed("t-listed", "i-1", NOW - 40); /* lease over, listed */
	add_handed("t-young", "i-1", NOW - 10);	/* 10 s: not yet */
	add_handed("t-legacy", "i-1", 0);	/* handed out before leases */
	add_handed("t-other", "i-2", NOW - 40);	/* another instance's */
	add_handed("t-edge", "i-1", NOW - 30);	/* exactly 30 s: not more */

	/* No header: nothing changes. */
	lease_take(NULL, &n, &due);
	assert_int_equal(n, 0);
	assert_int_equal(due, 0);
	assert_int_equal(count_of("SELECT COUNT(*) FROM tasks WHERE status = "
	    "'Running'", NULL), 6);

	/* Listed ones stay; the one past its lease goes back to Pending. */
	lease_take("t-listed,t-x:i-9", &n, &due);
	assert_int_equal(n, 1);
	assert_string_equal(task_state("t-old", st), "Pending|");
	assert_int_equal(count_of("SELECT COUNT(*) FROM tasks WHERE id = ? "
	    "AND handed_out IS NULL AND handed_by IS NULL", "t-old"), 1);
	assert_string_equal(task_state("t-listed", st), "Running|");
	assert_string_equal(task_state("t-young", st), "Running|");
	assert_string_equal(task_state("t-legacy", st), "Running|");
	assert_string_equal(task_state("t-edge", st), "Running|");
	assert_string_equal(task_state("t-other", st), "Running|");

	/* Idle: the read says when the next lease ends (t-edge's, then). */
	assert_int_equal(lkdb_run(lkd->db, NULL, "UPDATE tasks SET status = "
	    "'Success', finish_time = 1 WHERE id = ?", "s", "t-old"), 0);
	lease_take("t-listed", &n, &due);
	assert_int_equal(n, 0);
	assert_int_equal(due, NOW - 30 + STORE_AGENT_LEASE + 1);

	/* An empty list names nothing: every lease past 30 s ends. */
	assert_int_equal(lkdb_run(lkd->db, NULL, "UPDATE tasks SET "
	    "handed_out = ? WHERE id = ?", "is", (int64_t)NOW - 31, "t-edge"),
	    0);
	lease_take("", &n, &due);
	assert_int_equal(n, 2);
	assert_string_equal(task_state("t-listed", st), "Pending|");
	assert_string_equal(task_state("t-edge", st), "Pending|");
	assert_string_equal(task_state("t-young", st), "Running|");
	assert_string_equal(task_state("t-other", st), "Running|");
}

/* A claim notes when and by which replica. */
static void
test_claim_handed(void **state)
{
	struct store_agent_work w;

	(void)state;
	snprintf(lkd->replica_id, sizeof(lkd->replica_id), "rep-X");
	add_instance("i-1", NOW, 0);
	add_invocation("inv-1", "alice", 60);
	add_task("t-1", "inv-1", "i-1", "Pending", NOW, 0);
	assert_int_equal(store_agent_take("i-1", NOW + 5, "", choose_all, NULL,
	    &w), 0);
	assert_int_equal(w.ntasks, 1);
	store_agent_work_free(&w);
	assert_int_equal(count_of("SELECT handed_out FROM tasks WHERE id = ? "
	    "AND handed_by = 'rep-X'", "t-1"), NOW + 5);
	lkd->replica_id[0] = '\0';
}

/* ---- LISTEN/NOTIFY (PostgreSQL) ---------------------------------------- */

struct heard {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 resyncs;
	char		 last[128];
	int		 n;
};

static void
heard_cb(void *arg, const char *payload)
{
	struct heard *h = arg;

	pthread_mutex_lock(&h->lock);
	if (payload == NULL)
		h->resyncs++;
	else {
		snprintf(h->last, sizeof(h->last), "%s", payload);
		h->n++;
	}
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits up to ms for *counter to reach want; 1 when it did. */
static int
heard_wait(struct heard *h, int *counter, int want, int ms)
{
	struct timespec until;
	int ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&h->lock);
	while (*counter < want && pthread_cond_timedwait(&h->cond, &h->lock,
	    &until) == 0)
		;
	ok = *counter >= want;
	pthread_mutex_unlock(&h->lock);
	return ok;
}

static int
name_cb(const struct lkdb_row *row, void *arg)
{
	snprintf(arg, 128, "%s", lkdb_text(row, 0));
	return 1;
}

/* Ends the listener's connection from the server's side. */
static void
kill_listener(void)
{
	int64_t n = 0;
	int tries;

	/* Its backend may not be there yet: wait for it. */
	for (tries = 0; tries < 50 && n == 0; tries++) {
		assert_int_equal(lkdb_query(lkd->db, int_cb, &n, "SELECT "
		    "COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
		    "WHERE datname = current_database() AND application_name "
		    "= 'latchkeyd-listen'", ""), 0);
		if (n == 0)
			usleep(100000);
	}
	assert_true(n >= 1);
}

static void
test_notify(void **state)
{
	struct heard h;
	struct lkdb *other = NULL;
	const char *dir = dbtest_cluster(), *ids[2] = { "i-1", "i-2" };
	char name[128], uri[512], channel[64], cmd[512];
	int64_t t0, took;
	int changed, before;

	(void)state;
	if (strcmp(lkdb_kind(lkd->db), "sqlite") == 0) {
		/* One process: nothing to listen to, and it says so. */
		assert_int_equal(lkdb_listen(lkd->db, "x", heard_cb, NULL),
		    LK_ERR_INVALID_FORMAT);
		assert_int_equal(store_agent_notify(ids, 2, "rep-A"), 0);
		return;
	}
	memset(&h, 0, sizeof(h));
	pthread_mutex_init(&h.lock, NULL);
	pthread_cond_init(&h.cond, NULL);
	assert_non_null(dir);
	assert_int_equal(lkdb_query(lkd->db, name_cb, name, "SELECT "
	    "current_database()", ""), 0);
	snprintf(uri, sizeof(uri), "postgresql://latchkey@/%s?host=%s", name,
	    dir);
	assert_int_equal(lkdb_open(uri, &other), 0);
	store_agent_channel("Rep-B", channel, sizeof(channel));
	assert_string_equal(channel, "lk_wake_rep-b");
	assert_int_equal(lkdb_listen(other, channel, heard_cb, &h), 0);
	assert_true(heard_wait(&h, &h.resyncs, 1, 5000));

	/* i-1's poll is on rep-B, i-2's on rep-A (ourselves: not told). */
	assert_int_equal(store_agent_route("i-1", "Rep-B", 1, &changed), 0);
	assert_int_equal(store_agent_route("i-2", "rep-A", 1, &changed), 0);
	t0 = mono_ms();
	assert_int_equal(store_agent_notify(ids, 2, "rep-A"), 0);
	assert_true(heard_wait(&h, &h.n, 1, 100));
	took = mono_ms() - t0;
	print_message("notify: heard in %lld ms\n", (long long)took);
	assert_string_equal(h.last, "i-1");
	assert_false(heard_wait(&h, &h.n, 2, 200));	/* i-2: not rep-B's */

	/* The agent moves to rep-C: rep-B hears that it left. */
	assert_int_equal(store_agent_route("i-1", "rep-C", 2, &changed), 0);
	assert_true(heard_wait(&h, &h.n, 2, 1000));
	assert_string_equal(h.last, "moved i-1");

	/* The server ends the connection: a resync, then it hears again. */
	before = h.resyncs;
	kill_listener();
	assert_true(heard_wait(&h, &h.resyncs, before + 1, 5000));
	assert_int_equal(store_agent_route("i-1", "Rep-B", 3, &changed), 0);
	assert_int_equal(store_agent_notify(ids, 1, "rep-A"), 0);
	assert_true(heard_wait(&h, &h.n, 3, 1000));
	assert_string_equal(h.last, "i-1");

	/* A real restart, when the cluster is this program's own. */
	if (dbtest_own_cluster[0] != '\0') {
		before = h.resyncs;
		snprintf(cmd, sizeof(cmd), "tests/tools/pg-cluster stop %s && "
		    "tests/tools/pg-cluster start %s", dir, dir);
		assert_int_equal(system(cmd), 0);
		assert_true(heard_wait(&h, &h.resyncs, before + 1, 10000));
		/* The pool's connection found broken is opened again. */
		(void)store_agent_notify(ids, 1, "rep-A");
		assert_int_equal(store_agent_notify(ids, 1, "rep-A"), 0);
		assert_true(heard_wait(&h, &h.n, 4, 1000));
	}
	lkdb_close(other);
	pthread_cond_destroy(&h.cond);
	pthread_mutex_destroy(&h.lock);
}

/* Each case once per backend, named after both. */
#define BOTH(f)	\
	{ #f " sqlite", f, setup, teardown, &backend_sqlite }, \
	{ #f " postgresql", f, setup, teardown, &backend_pg }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_register_count),
		BOTH(test_lifecycle),
		BOTH(test_take_once),
		BOTH(test_take_fifo),
		BOTH(test_take_idle),
		BOTH(test_seen_never_back),
		BOTH(test_sweep),
		BOTH(test_result_once),
		BOTH(test_route_on_change),
		BOTH(test_pending_here),
		BOTH(test_lease),
		BOTH(test_claim_handed),
		BOTH(test_notify),
	};

	return cmocka_run_group_tests_name("storage_agent", tests, NULL, NULL);
}
