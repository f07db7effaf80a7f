/*
 * server/store_cmd.c and server/store_inv.c on both backends (dbtest.h):
 * commands described by name patterns with hostile characters, paged and
 * ordered; a ClientToken used by 8 threads at once makes one invocation;
 * invoke_times counts every one of many concurrent invocations; task
 * output comes back byte for byte; StopInvocation's transitions.
 */
#include <pthread.h>
#include <setjmp.h>
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
#include "store.h"

DBTEST_LKD_FIXTURE

/* A command record with borrowed strings (the store only reads them). */
static struct store_cmd
mkcmd(const char *id, const char *name, const char *owner,
    const char *provider, int64_t created)
{
	struct store_cmd c;

	memset(&c, 0, sizeof(c));
	c.id = (char *)(uintptr_t)id;
	c.name = (char *)(uintptr_t)name;
	c.type = (char *)(uintptr_t)"RunShellScript";
	c.description = (char *)(uintptr_t)"d";
	c.content = (char *)(uintptr_t)"echo hi";
	c.working_dir = (char *)(uintptr_t)"";
	c.timeout = 60;
	c.params = (char *)(uintptr_t)"[]";
	c.owner = (char *)(uintptr_t)owner;
	c.provider = (char *)(uintptr_t)provider;
	c.category = (char *)(uintptr_t)"Linux";
	c.created = created;
	return c;
}

static void
seed(const char *id, const char *name, const char *provider, int64_t created)
{
	struct store_cmd c = mkcmd(id, name, NULL, provider, created);

	assert_int_equal(store_cmd_seed(&c), 0);
}

static void
create(const char *id, const char *name, const char *owner)
{
	struct store_cmd c = mkcmd(id, name, owner, NULL, 0);

	assert_int_equal(store_cmd_create(&c, 1000), 0);
}

/*
 * The names DescribeCommands answers for provider (or owner's private
 * commands) and name, joined by '|', and the total.
 */
static void
names(const char *provider, const char *owner, const char *name,
    int64_t offset, int64_t limit, char *out, size_t outsize,
    int64_t *totalp)
{
	struct store_cmd_query q;
	struct store_cmd_list l;
	size_t i, o = 0;

	memset(&q, 0, sizeof(q));
	q.provider = provider;
	q.owner = owner;
	q.name = name;
	q.offset = offset;
	q.limit = limit;
	assert_int_equal(store_cmd_describe(&q, &l, totalp), 0);
	out[0] = '\0';
	for (i = 0; i < l.n; i++)
		o += (size_t)snprintf(out + o, outsize - o, "%s%s",
		    i ? "|" : "", l.v[i].name);
	store_cmd_list_free(&l);
}

static const char *const hostile[] = {
	"ACS-%-x", "ACS-_-x", "ACS-\\-x", "ACS-'q'-x", "ACS-\"q\"-x",
	"ACS-?-x", "ACS-[a]-x", "ACS-ab-x", "acs-ab-x", "ACS-%%-x",
};

static void
test_cmd_patterns(void **state)
{
	char out[512], id[32];
	int64_t total;
	size_t i;

	(void)state;
	/* Every name one second apart: the newest (last) comes first. */
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		snprintf(id, sizeof(id), "cmd-%zu", i);
		seed(id, hostile[i], "AlibabaCloud", 1000 + (int64_t)i);
	}
	seed("cmd-other", "ACS-%-x", "Other", 5000);
	/* Each hostile name as a pattern matches itself only. */
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		names("AlibabaCloud", "k1", hostile[i], 0, 50, out, sizeof(out),
		    &total);
		assert_string_equal(out, hostile[i]);
		assert_int_equal(total, 1);
	}
	/* '*' is the only wildcard, and case counts on both backends. */
	names("AlibabaCloud", "k1", "ACS-*-x", 0, 50, out, sizeof(out), &total);
	assert_string_equal(out, "ACS-%%-x|ACS-ab-x|ACS-[a]-x|ACS-?-x|"
	    "ACS-\"q\"-x|ACS-'q'-x|ACS-\\-x|ACS-_-x|ACS-%-x");
	assert_int_equal(total, 9);
	names("AlibabaCloud", "k1", "acs-*", 0, 50, out, sizeof(out), &total);
	assert_string_equal(out, "acs-ab-x");
	names("AlibabaCloud", "k1", "ACS-AB-X", 0, 50, out, sizeof(out),
	    &total);
	assert_string_equal(out, "");
	assert_int_equal(total, 0);
	names("AlibabaCloud", "k1", "*'*", 0, 50, out, sizeof(out), &total);
	assert_string_equal(out, "ACS-'q'-x");
	names("AlibabaCloud", "k1", "*\"*", 0, 50, out, sizeof(out), &total);
	assert_string_equal(out, "ACS-\"q\"-x");
	names("AlibabaCloud", "k1", "*\\*", 0, 50, out, sizeof(out), &total);
	assert_string_equal(out, "ACS-\\-x");
	names("AlibabaCloud", "k1", "*%*", 0, 50, out, sizeof(out), &total);
	assert_string_equal(out, "ACS-%%-x|ACS-%-x");
	names("AlibabaCloud", "k1", "A**%", 0, 50, out, sizeof(out), &total);
	assert_string_equal(out, "");
	names("AlibabaCloud", "k1", "ACS-_*", 0, 50, out, sizeof(out), &total);
	assert_string_equal(out, "ACS-_-x");
	/* A sub-provider counts, another provider does not. */
	seed("cmd-sub", "ACS-%-x", "AlibabaCloud.Sub", 6000);
	names("AlibabaCloud", "k1", "ACS-%-x", 0, 50, out, sizeof(out), &total);
	assert_string_equal(out, "ACS-%-x|ACS-%-x");
	/* Paged after the exact match: 9 matches, pages of 4. */
	names("AlibabaCloud", "k1", "ACS-*-x", 0, 4, out, sizeof(out), &total);
	assert_string_equal(out, "ACS-%-x|ACS-%%-x|ACS-ab-x|ACS-[a]-x");
	assert_int_equal(total, 10);
	names("AlibabaCloud", "k1", "ACS-*-x", 8, 4, out, sizeof(out), &total);
	assert_string_equal(out, "ACS-_-x|ACS-%-x");
	assert_int_equal(total, 10);
	names("AlibabaCloud", "k1", "ACS-*-x", 12, 4, out, sizeof(out),
	    &total);
	assert_string_equal(out, "");
	assert_int_equal(total, 10);

	/* Private commands: exact names, hostile ones included. */
	create("c-1", "a%b", "k1");
	create("c-2", "a_b", "k1");
	create("c-3", "it's \"x\" \\", "k1");
	create("c-4", "a%b", "k2");
	names(NULL, "k1", "a%b", 0, 50, out, sizeof(out), &total);
	assert_string_equal(out, "a%b");
	assert_int_equal(total, 1);
	names(NULL, "k1", "A%B", 0, 50, out, sizeof(out), &total);
	assert_int_equal(total, 0);
	names(NULL, "k1", "a*", 0, 50, out, sizeof(out), &total);
	assert_int_equal(total, 0);
	names(NULL, "k1", "it's \"x\" \\", 0, 50, out, sizeof(out), &total);
	assert_string_equal(out, "it's \"x\" \\");
	names(NULL, "k3", NULL, 0, 50, out, sizeof(out), &total);
	assert_int_equal(total, 0);
}

static void
test_cmd_paging(void **state)
{
	struct store_cmd c, cmd;
	char out[512];
	int64_t total;

	(void)state;
	create("c-e", "e", "k1");
	create("c-b", "b", "k1");
	create("c-d", "d", "k1");
	create("c-a", "a", "k1");
	create("c-c", "c", "k1");
	/* Newest first, then by name. */
	assert_int_equal(lkdb_run(lkd->db, NULL, "UPDATE commands SET created "
	    "= CASE WHEN name IN ('a', 'e') THEN 200 ELSE 100 END", ""), 0);
	names(NULL, "k1", NULL, 0, 2, out, sizeof(out), &total);
	assert_string_equal(out, "a|e");
	assert_int_equal(total, 5);
	names(NULL, "k1", NULL, 2, 2, out, sizeof(out), &total);
	assert_string_equal(out, "b|c");
	names(NULL, "k1", NULL, 4, 2, out, sizeof(out), &total);
	assert_string_equal(out, "d");
	names(NULL, "k1", NULL, 6, 2, out, sizeof(out), &total);
	assert_string_equal(out, "");
	assert_int_equal(total, 5);

	/* Get, modify, delete: the owner's only. */
	assert_int_equal(store_cmd_get("c-a", "k2", &cmd), LK_ERR_NOT_FOUND);
	assert_int_equal(store_cmd_get("c-a", "k1", &cmd), 0);
	assert_string_equal(cmd.name, "a");
	assert_null(cmd.provider);
	assert_string_equal(cmd.owner, "k1");
	assert_string_equal(cmd.params, "[]");
	assert_int_equal(cmd.created, 200);
	store_cmd_free(&cmd);
	c = mkcmd("c-a", "a2", "k2", NULL, 0);
	assert_int_equal(store_cmd_modify(&c), LK_ERR_NOT_FOUND);
	c.owner = (char *)(uintptr_t)"k1";
	c.timeout = 77;
	assert_int_equal(store_cmd_modify(&c), 0);
	assert_int_equal(store_cmd_get("c-a", "k1", &cmd), 0);
	assert_string_equal(cmd.name, "a2");
	assert_int_equal(cmd.timeout, 77);
	store_cmd_free(&cmd);
	assert_int_equal(store_cmd_delete("c-a", "k2"), LK_ERR_NOT_FOUND);
	assert_int_equal(store_cmd_delete("c-a", "k1"), 0);
	assert_int_equal(store_cmd_get("c-a", "k1", &cmd), LK_ERR_NOT_FOUND);

	/* The quota. */
	c = mkcmd("c-q", "q", "k1", NULL, 0);
	assert_int_equal(store_cmd_create(&c, 4), LK_ERR_RANGE);
	assert_int_equal(store_cmd_create(&c, 5), 0);

	/* Public by name: the seed updates in place. */
	seed("cmd-p", "P", "AlibabaCloud", 300);
	assert_int_equal(lkdb_run(lkd->db, NULL, "UPDATE commands SET "
	    "invoke_times = 9 WHERE id = 'cmd-p'", ""), 0);
	seed("cmd-p", "P", "AlibabaCloud", 999);
	assert_int_equal(store_cmd_get_public("P", &cmd), 0);
	assert_string_equal(cmd.id, "cmd-p");
	assert_string_equal(cmd.provider, "AlibabaCloud");
	assert_int_equal(cmd.created, 300);
	assert_int_equal(cmd.invoke_times, 9);
	assert_true(cmd.latest);
	store_cmd_free(&cmd);
	assert_int_equal(store_cmd_get("cmd-p", "anyone", &cmd), 0);
	store_cmd_free(&cmd);
	assert_int_equal(store_cmd_get_public("p", &cmd), LK_ERR_NOT_FOUND);
}

static const char *const two_ids[] = { "i-1", "i-2" };
static char *const two_scripts[] = { (char *)(uintptr_t)"echo 1",
    (char *)(uintptr_t)"echo 2" };

static struct store_inv_new
mkinv(const char *id, const char *owner, const char *token)
{
	struct store_inv_new v;

	memset(&v, 0, sizeof(v));
	v.id = id;
	v.owner = owner;
	v.client_token = token;
	v.command_id = "c-x";
	v.command_name = "x";
	v.command_type = "RunShellScript";
	v.command_description = "";
	v.content = "echo {{a}}";
	v.parameters = "{\"a\":\"1\"}";
	v.username = "root";
	v.working_dir = "/";
	v.timeout = 60;
	v.instance_ids = two_ids;
	v.scripts = two_scripts;
	v.n = 2;
	v.quota = 1000;
	return v;
}

static int
int_cb(const struct lkdb_row *row, void *arg)
{
	*(int64_t *)arg = lkdb_int(row, 0);
	return 1;
}

static int64_t
scalar(const char *sql)
{
	int64_t v = -1;

	assert_int_equal(lkdb_query(lkd->db, int_cb, &v, sql, ""), 0);
	return v;
}

#define NTHREADS	8

struct racer {
	pthread_barrier_t	*go;
	char			 id[32];
	int			 r;
	struct store_inv_prior	 prior;
};

static void *
token_racer(void *arg)
{
	struct racer *x = arg;
	struct store_inv_new v = mkinv(x->id, "k1", "tok-1");

	pthread_barrier_wait(x->go);
	x->r = store_inv_create(&v, 100, &x->prior);
	return NULL;
}

static void
test_inv_token(void **state)
{
	struct racer x[NTHREADS];
	pthread_t th[NTHREADS];
	pthread_barrier_t go;
	const char *winner = NULL;
	int i, created = 0;

	(void)state;
	pthread_barrier_init(&go, NULL, NTHREADS);
	for (i = 0; i < NTHREADS; i++) {
		memset(&x[i], 0, sizeof(x[i]));
		x[i].go = &go;
		snprintf(x[i].id, sizeof(x[i].id), "t-%d", i);
		assert_int_equal(pthread_create(&th[i], NULL, token_racer,
		    &x[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(x[i].r, 0);
		if (x[i].prior.id == NULL) {
			created++;
			winner = x[i].id;
		}
	}
	assert_int_equal(created, 1);
	for (i = 0; i < NTHREADS; i++) {
		if (x[i].prior.id == NULL)
			continue;
		assert_string_equal(x[i].prior.id, winner);
		assert_string_equal(x[i].prior.command_id, "c-x");
		assert_string_equal(x[i].prior.command_type, "RunShellScript");
		assert_string_equal(x[i].prior.content, "echo {{a}}");
		assert_string_equal(x[i].prior.parameters, "{\"a\":\"1\"}");
		assert_int_equal(x[i].prior.n, 2);
		assert_string_equal(x[i].prior.instance_ids[0], "i-1");
		assert_string_equal(x[i].prior.instance_ids[1], "i-2");
		store_inv_prior_free(&x[i].prior);
	}
	assert_int_equal(scalar("SELECT COUNT(*) FROM invocations"), 1);
	assert_int_equal(scalar("SELECT COUNT(*) FROM tasks"), 2);
	/* Another owner may use the same token; no token never conflicts. */
	{
		struct store_inv_new v = mkinv("t-other", "k2", "tok-1");
		struct store_inv_new w = mkinv("t-none1", "k1", NULL);
		struct store_inv_new y = mkinv("t-none2", "k1", NULL);
		struct store_inv_prior p;

		assert_int_equal(store_inv_create(&v, 100, &p), 0);
		assert_null(p.id);
		assert_int_equal(store_inv_create(&w, 100, &p), 0);
		assert_null(p.id);
		assert_int_equal(store_inv_create(&y, 100, &p), 0);
		assert_null(p.id);
	}
	assert_int_equal(scalar("SELECT COUNT(*) FROM invocations"), 4);
}

#define NCOUNTERS	8
#define NEACH		6

struct counter {
	pthread_barrier_t	*go;
	int			 k;
	int			 fails;
};

static void *
count_racer(void *arg)
{
	struct counter *x = arg;
	struct store_inv_prior p;
	struct store_inv_new v;
	char id[32];
	int i;

	pthread_barrier_wait(x->go);
	for (i = 0; i < NEACH; i++) {
		snprintf(id, sizeof(id), "t-%d-%d", x->k, i);
		v = mkinv(id, "k1", NULL);
		v.command_id = "c-n";
		v.count = 1;
		if (store_inv_create(&v, 100, &p) != 0 || p.id != NULL)
			x->fails++;
	}
	return NULL;
}

static void
test_inv_invoke_times(void **state)
{
	struct counter x[NCOUNTERS];
	pthread_t th[NCOUNTERS];
	pthread_barrier_t go;
	struct store_cmd cmd, keep;
	struct store_inv_new v;
	struct store_inv_prior p;
	int i;

	(void)state;
	create("c-n", "n", "k1");
	pthread_barrier_init(&go, NULL, NCOUNTERS);
	for (i = 0; i < NCOUNTERS; i++) {
		x[i].go = &go;
		x[i].k = i;
		x[i].fails = 0;
		assert_int_equal(pthread_create(&th[i], NULL, count_racer,
		    &x[i]), 0);
	}
	for (i = 0; i < NCOUNTERS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	for (i = 0; i < NCOUNTERS; i++)
		assert_int_equal(x[i].fails, 0);
	assert_int_equal(store_cmd_get("c-n", "k1", &cmd), 0);
	assert_int_equal(cmd.invoke_times, NCOUNTERS * NEACH);
	store_cmd_free(&cmd);
	assert_int_equal(scalar("SELECT COUNT(*) FROM invocations"),
	    NCOUNTERS * NEACH);
	assert_int_equal(scalar("SELECT COUNT(*) FROM tasks"),
	    NCOUNTERS * NEACH * 2);

	/* RunCommand's kept command: stored with it, or nothing over quota. */
	keep = mkcmd("c-keep", "kept", "k1", NULL, 0);
	v = mkinv("t-keep", "k1", NULL);
	v.command_id = "c-keep";
	v.keep = &keep;
	v.count = 1;
	v.quota = 1;
	assert_int_equal(store_inv_create(&v, 100, &p), LK_ERR_RANGE);
	assert_int_equal(store_inv_get("t-keep", "k1", &(struct store_inv){0}),
	    LK_ERR_NOT_FOUND);
	v.quota = 2;
	assert_int_equal(store_inv_create(&v, 100, &p), 0);
	assert_null(p.id);
	assert_int_equal(store_cmd_get("c-keep", "k1", &cmd), 0);
	assert_int_equal(cmd.invoke_times, 1);
	store_cmd_free(&cmd);
}

struct seen {
	int		 n;
	char		 ids[8][64];
	unsigned char	 out[256];
	size_t		 outlen;
	int		 started;
	int64_t		 exit_code;
	char		 status[16];
};

static int
seen_cb(const struct store_task *t, void *arg)
{
	struct seen *s = arg;

	if (s->n < 8)
		snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s/%s/%s",
		    t->invoke_id, t->instance_id, t->instance_name);
	s->n++;
	if (strcmp(t->instance_id, "i-1") == 0 && t->output_len <= 256) {
		memcpy(s->out, t->output, t->output_len);
		s->outlen = t->output_len;
		s->started = t->started;
		s->exit_code = t->exit_code;
		snprintf(s->status, sizeof(s->status), "%s", t->status);
	}
	return 0;
}

static void
test_inv_results(void **state)
{
	struct store_inv_query q;
	struct store_inv_new v;
	struct store_inv_prior p;
	struct store_inv inv;
	struct seen s;
	unsigned char bytes[256];
	const char *stop_all[] = { "i-1", "i-2" };
	int i;

	(void)state;
	for (i = 0; i < 256; i++)
		bytes[i] = (unsigned char)i;
	assert_int_equal(lkdb_run(lkd->db, NULL, "INSERT INTO instances(id, "
	    "name, cred_hash, activation_id, registered) VALUES('i-1', "
	    "'web''s \"1\"', 'h', 'a', 1)", ""), 0);
	v = mkinv("t-old", "k1", NULL);
	assert_int_equal(store_inv_create(&v, 100, &p), 0);
	v = mkinv("t-new", "k1", NULL);
	assert_int_equal(store_inv_create(&v, 200, &p), 0);
	v = mkinv("t-theirs", "k2", NULL);
	assert_int_equal(store_inv_create(&v, 300, &p), 0);
	assert_int_equal(lkdb_run(lkd->db, NULL, "UPDATE tasks SET output = ?, "
	    "status = 'Success', exit_code = 3, start_time = 150 WHERE id = "
	    "'t-old:i-1'", "b", bytes, sizeof(bytes)), 0);

	/* Results: newest invocation first, then by instance. */
	memset(&q, 0, sizeof(q));
	q.owner = "k1";
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_inv_results(&q, seen_cb, &s), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.ids[0], "t-new/i-1/web's \"1\"");
	assert_string_equal(s.ids[1], "t-new/i-2/");
	assert_string_equal(s.ids[2], "t-old/i-1/web's \"1\"");
	assert_string_equal(s.ids[3], "t-old/i-2/");
	/* The last i-1 task seen is t-old's: binary output intact. */
	assert_int_equal(s.outlen, 256);
	assert_memory_equal(s.out, bytes, 256);
	assert_true(s.started);
	assert_int_equal(s.exit_code, 3);
	assert_string_equal(s.status, "Success");

	q.invoke_id = "t-old";
	q.instance_id = "i-1";
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_inv_results(&q, seen_cb, &s), 0);
	assert_int_equal(s.n, 1);
	assert_memory_equal(s.out, bytes, 256);
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_inv_tasks("t-old", seen_cb, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.outlen, 256);
	assert_memory_equal(s.out, bytes, 256);

	/* The scan: grouped, newest first; by instance; owner's only. */
	memset(&q, 0, sizeof(q));
	q.owner = "k1";
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_inv_scan(&q, seen_cb, &s), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.ids[0], "t-new/i-1/web's \"1\"");
	assert_string_equal(s.ids[3], "t-old/i-2/");
	q.command_name = "nope";
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_inv_scan(&q, seen_cb, &s), 0);
	assert_int_equal(s.n, 0);

	assert_int_equal(store_inv_get("t-theirs", "k1", &inv),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(store_inv_get("t-new", "k1", &inv), 0);
	assert_string_equal(inv.parameters, "{\"a\":\"1\"}");
	assert_int_equal(inv.created, 200);
	assert_int_equal(inv.timeout, 60);
	store_inv_free(&inv);

	/* Stop: Pending -> Stopped, Running -> Stopping, done stays. */
	assert_int_equal(lkdb_run(lkd->db, NULL, "UPDATE tasks SET status = "
	    "'Running' WHERE id = 't-new:i-2'", ""), 0);
	assert_int_equal(store_inv_stop("t-new", stop_all, 2, 500), 0);
	assert_int_equal(store_inv_stop("t-old", stop_all, 2, 500), 0);
	assert_int_equal(scalar("SELECT COUNT(*) FROM tasks WHERE id = "
	    "'t-new:i-1' AND status = 'Stopped' AND stop_time = 500"), 1);
	assert_int_equal(scalar("SELECT COUNT(*) FROM tasks WHERE id = "
	    "'t-new:i-2' AND status = 'Stopping' AND stop_requested = 1"), 1);
	assert_int_equal(scalar("SELECT COUNT(*) FROM tasks WHERE id = "
	    "'t-old:i-1' AND status = 'Success' AND stop_time IS NULL"), 1);
}

#define BOTH(f) \
	cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, \
	    &backend_sqlite), \
	cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, \
	    &backend_pg)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_cmd_patterns),
		BOTH(test_cmd_paging),
		BOTH(test_inv_token),
		BOTH(test_inv_invoke_times),
		BOTH(test_inv_results),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
