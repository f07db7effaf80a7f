/*
 * server/store_inst.c and server/store_sess.c on both backends: session
 * admission under concurrent callers never passes either cap, a token is
 * spent once however many connections present it at once, an expired
 * token is refused, and the instance listing filters ids and name
 * patterns (hostile characters included) as DescribeInstances did with
 * SQLite's json_each and GLOB. Every case runs on SQLite and PostgreSQL.
 */
#include "unit.h"

#include <pthread.h>

#include "err.h"
#include "store.h"

#include "dbtest.h"

#define NOW		1700000000LL
#define TTL		600
#define URL_A		"http://10.0.0.5:8080"
#define URL_B		"https://b.example:8443"
#define HASH		"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"

DBTEST_HANDLE_FIXTURE

static int
setup_sqlite(void **state)
{
	return setup_backend(state, DBTEST_SQLITE);
}

static int
setup_pg(void **state)
{
	return setup_backend(state, DBTEST_PG);
}

static void
add_instance(struct lkdb *db, const char *id, const char *name,
    int64_t registered, int64_t last_seen)
{
	assert_int_equal(lkdb_run(db, NULL, "INSERT INTO instances(id, name, "
	    "cred_hash, activation_id, registered, last_seen) VALUES "
	    "(?, ?, 'h', 'a', ?, ?)", "ssii", id, name, registered,
	    last_seen), 0);
}

static int64_t
count_open(struct lkdb *db, const char *owner)
{
	struct store_sess *list = NULL;
	struct store_sess_query q = { owner, "i-1", NULL, 1000, 0 };
	size_t n = 0, i;
	int64_t k = 0;

	assert_int_equal(store_sess_list(db, &q, &list, &n), 0);
	for (i = 0; i < n; i++)
		if (strcmp(list[i].status, "Pending") == 0)
			k++;
	store_sess_list_free(list, n);
	return k;
}

/* ---- admission ---- */

#define NTHREADS	16

struct starter {
	struct lkdb		*db;
	pthread_barrier_t	*go;
	int			 round;
	int			 n;
	char			 owner[16];
	long			 per_key;
	long			 per_instance;
	int			 r;
	int			 limit;
};

static void *
starter_main(void *arg)
{
	struct starter *s = arg;
	struct store_sess_new n;
	char id[32];

	snprintf(id, sizeof(id), "s-%d-%02d", s->round, s->n);
	memset(&n, 0, sizeof(n));
	n.id = id;
	n.owner = s->owner;
	n.instance_id = "i-1";
	n.username = "root";
	n.token_hash = HASH;
	n.port = 22;
	n.now = NOW;
	n.token_expires = NOW + TTL;
	pthread_barrier_wait(s->go);
	s->r = store_sess_start(s->db, &n, s->per_key, s->per_instance,
	    &s->limit);
	return NULL;
}

/* NTHREADS starts at once; owners[i] is thread i's key. */
static void
start_many(struct lkdb *db, int round, const char *const *owners,
    long per_key, long per_instance, struct starter *s)
{
	pthread_barrier_t go;
	pthread_t t[NTHREADS];
	int i;

	assert_int_equal(pthread_barrier_init(&go, NULL, NTHREADS), 0);
	for (i = 0; i < NTHREADS; i++) {
		s[i].db = db;
		s[i].go = &go;
		s[i].round = round;
		s[i].n = i;
		snprintf(s[i].owner, sizeof(s[i].owner), "%s", owners[i]);
		s[i].per_key = per_key;
		s[i].per_instance = per_instance;
		assert_int_equal(pthread_create(&t[i], NULL, starter_main,
		    &s[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&go);
}

/* One key, 16 callers at once: its quota of 5, never more. */
static void
test_admission_per_key(void **state)
{
	struct tctx *c = *state;
	struct starter s[NTHREADS];
	const char *owners[NTHREADS];
	int i, ok = 0;

	add_instance(c->db, "i-1", "web", NOW - 100, NOW);
	for (i = 0; i < NTHREADS; i++)
		owners[i] = "k-one";
	memset(s, 0, sizeof(s));
	start_many(c->db, 1, owners, 5, 20, s);
	for (i = 0; i < NTHREADS; i++) {
		if (s[i].r == 0) {
			ok++;
			continue;
		}
		assert_int_equal(s[i].r, LK_ERR_BUSY);
		assert_int_equal(s[i].limit, STORE_SESS_LIMIT_KEY);
	}
	assert_int_equal(ok, 5);
	assert_int_equal(count_open(c->db, "k-one"), 5);
}

/*
 * Four keys of four callers each, quota 3 per key, cap 10 per instance:
 * exactly 10 admitted (the quotas would allow 12), none over its quota.
 */
static void
test_admission_per_instance(void **state)
{
	struct tctx *c = *state;
	struct starter s[NTHREADS];
	const char *owners[NTHREADS];
	static const char *keys[4] = { "k-a", "k-b", "k-c", "k-d" };
	int i, k, ok = 0, byinst = 0;

	add_instance(c->db, "i-1", "web", NOW - 100, NOW);
	for (i = 0; i < NTHREADS; i++)
		owners[i] = keys[i % 4];
	memset(s, 0, sizeof(s));
	start_many(c->db, 2, owners, 3, 10, s);
	for (i = 0; i < NTHREADS; i++) {
		if (s[i].r == 0) {
			ok++;
			continue;
		}
		assert_int_equal(s[i].r, LK_ERR_BUSY);
		if (s[i].limit == STORE_SESS_LIMIT_INSTANCE)
			byinst++;
		else
			assert_int_equal(s[i].limit, STORE_SESS_LIMIT_KEY);
	}
	assert_int_equal(ok, 10);
	assert_true(byinst >= 2);
	for (k = 0; k < 4; k++)
		assert_true(count_open(c->db, keys[k]) <= 3);
	assert_int_equal(count_open(c->db, "k-a") + count_open(c->db, "k-b") +
	    count_open(c->db, "k-c") + count_open(c->db, "k-d"), 10);
}

/* An expired Pending session holds no place; an ended one neither. */
static void
test_admission_expired_frees(void **state)
{
	struct tctx *c = *state;
	struct store_sess_new n;
	int limit = 0;

	add_instance(c->db, "i-1", "web", NOW - 100, NOW);
	memset(&n, 0, sizeof(n));
	n.id = "s-a";
	n.owner = "k";
	n.instance_id = "i-1";
	n.token_hash = HASH;
	n.port = 22;
	n.now = NOW;
	n.token_expires = NOW + 10;
	assert_int_equal(store_sess_start(c->db, &n, 1, 20, &limit), 0);
	n.id = "s-b";
	assert_int_equal(store_sess_start(c->db, &n, 1, 20, &limit),
	    LK_ERR_BUSY);
	assert_int_equal(limit, STORE_SESS_LIMIT_KEY);
	n.now = NOW + 10;		/* s-a's token is over */
	n.token_expires = NOW + 10 + TTL;
	assert_int_equal(store_sess_start(c->db, &n, 1, 20, &limit), 0);
	assert_int_equal(limit, 0);
	n.id = "s-c";
	assert_int_equal(store_sess_start(c->db, &n, 1, 20, &limit),
	    LK_ERR_BUSY);
	assert_int_equal(store_sess_end(c->db, "s-b", "k", NOW + 11), 0);
	assert_int_equal(store_sess_start(c->db, &n, 1, 20, &limit), 0);
	/* Another key's session is not found, nor is an unknown one. */
	assert_int_equal(store_sess_end(c->db, "s-c", "other", NOW + 12),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(store_sess_end(c->db, "s-nope", "k", NOW + 12),
	    LK_ERR_NOT_FOUND);
}

/* ---- tokens ---- */

#define NREDEEM		8

struct redeemer {
	struct lkdb		*db;
	pthread_barrier_t	*go;
	char			 ip[32];
	int			 r;
};

static void *
redeemer_main(void *arg)
{
	struct redeemer *x = arg;

	pthread_barrier_wait(x->go);
	x->r = store_sess_redeem(x->db, "s-tok", HASH, x->ip, "r-a", URL_A,
	    NOW + 1, 0);
	return NULL;
}

static void
one_session(struct lkdb *db, const char *id, int64_t expires)
{
	struct store_sess_new n;
	int limit;

	memset(&n, 0, sizeof(n));
	n.id = id;
	n.owner = "k";
	n.instance_id = "i-1";
	n.username = "admin";
	n.token_hash = HASH;
	n.port = 2222;
	n.now = NOW;
	n.token_expires = expires;
	assert_int_equal(store_sess_start(db, &n, 5, 20, &limit), 0);
}

static void
test_token_once(void **state)
{
	struct tctx *c = *state;
	struct redeemer x[NREDEEM];
	struct store_sess_token t;
	pthread_barrier_t go;
	pthread_t th[NREDEEM];
	int i, ok = 0, winner = -1;
	char ip[32];

	add_instance(c->db, "i-1", "web", NOW - 100, NOW);
	one_session(c->db, "s-tok", NOW + TTL);
	/* A wrong hash spends nothing. */
	assert_int_equal(store_sess_redeem(c->db, "s-tok", "00", "10.0.0.1",
	    "r-a", URL_A, NOW + 1, 0), LK_ERR_NOT_FOUND);
	assert_int_equal(pthread_barrier_init(&go, NULL, NREDEEM), 0);
	for (i = 0; i < NREDEEM; i++) {
		x[i].db = c->db;
		x[i].go = &go;
		snprintf(x[i].ip, sizeof(x[i].ip), "10.0.0.%d", i + 1);
		assert_int_equal(pthread_create(&th[i], NULL, redeemer_main,
		    &x[i]), 0);
	}
	for (i = 0; i < NREDEEM; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	for (i = 0; i < NREDEEM; i++) {
		if (x[i].r == 0) {
			ok++;
			winner = i;
		} else
			assert_int_equal(x[i].r, LK_ERR_NOT_FOUND);
	}
	assert_int_equal(ok, 1);
	assert_int_equal(store_sess_token_get(c->db, "s-tok", &t), 0);
	assert_string_equal(t.status, "Connecting");
	assert_string_equal(t.instance_id, "i-1");
	assert_string_equal(t.token_hash, HASH);
	assert_int_equal(t.port, 2222);
	store_sess_token_free(&t);
	/* The winner's address is the one recorded. */
	{
		struct store_sess *list = NULL;
		struct store_sess_query q = { "k", NULL, "s-tok", 10, 0 };
		size_t n = 0;

		assert_int_equal(store_sess_list(c->db, &q, &list, &n), 0);
		assert_int_equal(n, 1);
		snprintf(ip, sizeof(ip), "10.0.0.%d", winner + 1);
		assert_string_equal(list[0].client_ip, ip);
		assert_int_equal(list[0].started, NOW + 1);
		assert_int_equal(list[0].ended, 0);
		store_sess_list_free(list, n);
	}
	/* Spent: a later try is refused too. */
	assert_int_equal(store_sess_redeem(c->db, "s-tok", HASH, "10.0.0.9",
	    "r-a", URL_A, NOW + 2, 0), LK_ERR_NOT_FOUND);
	assert_int_equal(store_sess_token_get(c->db, "s-nope", &t),
	    LK_ERR_NOT_FOUND);
}

static void
test_token_expired(void **state)
{
	struct tctx *c = *state;
	struct store_sess_token t;

	add_instance(c->db, "i-1", "web", NOW - 100, NOW);
	one_session(c->db, "s-old", NOW + 10);
	assert_int_equal(store_sess_redeem(c->db, "s-old", HASH, "10.0.0.1",
	    "r-a", URL_A, NOW + 10, 0), LK_ERR_NOT_FOUND);
	assert_int_equal(store_sess_redeem(c->db, "s-old", HASH, "10.0.0.1",
	    "r-a", URL_A, NOW + 3600, 0), LK_ERR_NOT_FOUND);
	assert_int_equal(store_sess_token_get(c->db, "s-old", &t), 0);
	assert_string_equal(t.status, "Pending");
	assert_int_equal(t.token_expires, NOW + 10);
	store_sess_token_free(&t);
	/* The same token a second earlier was good: expiry refused it. */
	assert_int_equal(store_sess_redeem(c->db, "s-old", HASH, "10.0.0.1",
	    "r-a", URL_A, NOW + 9, 0), 0);
}

/* A session's life as the relay records it, and the listing's order. */
static void
test_session_records(void **state)
{
	struct tctx *c = *state;
	struct store_sess *list = NULL;
	struct store_sess_query q = { "k", NULL, NULL, 10, 0 };
	size_t n = 0;

	add_instance(c->db, "i-1", "web", NOW - 100, NOW);
	one_session(c->db, "s-1", NOW + TTL);
	assert_int_equal(store_sess_redeem(c->db, "s-1", HASH, "::1", "r-a",
	    URL_A, NOW, 0), 0);
	assert_int_equal(store_sess_connected(c->db, "s-1", 0), 0);
	assert_int_equal(store_sess_finish(c->db, "s-1", 0, "Closed", NOW + 5,
	    5000000000LL, 7, "client: normal closure (1000)"), 0);
	assert_int_equal(lkdb_run(c->db, NULL, "UPDATE sessions SET created = "
	    "? WHERE id = 's-1'", "i", (int64_t)(NOW - 1)), 0);
	one_session(c->db, "s-2", NOW + TTL);
	assert_int_equal(store_sess_redeem(c->db, "s-2", HASH, "::1", "r-a",
	    URL_A, NOW, 0), 0);
	assert_int_equal(store_sess_close_stale(c->db, "r-a", NOW + 9), 0);
	assert_int_equal(store_sess_list(c->db, &q, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "s-2");		/* newest first */
	assert_string_equal(list[0].status, "Closed");
	assert_string_equal(list[0].closed_reason, "latchkeyd restarted");
	assert_int_equal(list[0].ended, NOW + 9);
	assert_string_equal(list[1].id, "s-1");
	assert_string_equal(list[1].status, "Closed");
	assert_string_equal(list[1].owner, "k");
	assert_string_equal(list[1].username, "admin");
	assert_int_equal(list[1].bytes_in, 5000000000LL);
	assert_int_equal(list[1].bytes_out, 7);
	assert_int_equal(list[1].ended, NOW + 5);
	store_sess_list_free(list, n);
	q.limit = 1;
	q.offset = 1;
	assert_int_equal(store_sess_list(c->db, &q, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, "s-1");
	store_sess_list_free(list, n);
	q.offset = 0;
	q.limit = 10;
	q.owner = "someone-else";
	assert_int_equal(store_sess_list(c->db, &q, &list, &n), 0);
	assert_int_equal(n, 0);
	store_sess_list_free(list, n);
}

struct taker {
	struct lkdb		*db;
	pthread_barrier_t	*go;
	struct store_sess_handout *v;
	size_t			 n;
	int			 r;
};

static void *
taker_main(void *arg)
{
	struct taker *x = arg;

	pthread_barrier_wait(x->go);
	x->r = store_sess_handout(x->db, "i-1", NOW + 2, &x->v, &x->n);
	return NULL;
}

/*
 * Sessions across replicas: a session is handed out to its agent's poll
 * only once its client is held, once of any number of polls at once, with
 * the holder's replica and URL; the route says where it stands; a
 * session's end takes it out of the hand-out; a replica's start closes
 * only its own sessions.
 */
static void
test_handout(void **state)
{
	struct tctx *c = *state;
	struct store_sess_handout *v = NULL;
	struct store_sess_route rt;
	struct store_sess *list = NULL;
	struct store_sess_query q = { "k", NULL, NULL, 10, 0 };
	struct taker x[NREDEEM];
	pthread_barrier_t go;
	pthread_t th[NREDEEM];
	size_t n = 9;
	int i, got = 0;

	add_instance(c->db, "i-1", "web", NOW - 100, NOW);
	one_session(c->db, "s-1", NOW + TTL);
	one_session(c->db, "s-2", NOW + TTL);
	one_session(c->db, "s-3", NOW + TTL);
	/* Pending, and redeemed but its client not yet up: nothing. */
	assert_int_equal(store_sess_client_held(c->db, "s-1"),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(store_sess_redeem(c->db, "s-1", HASH, "::1", "r-a",
	    URL_A, NOW + 1, 0), 0);
	assert_int_equal(store_sess_handout(c->db, "i-1", NOW + 1, &v, &n), 0);
	assert_null(v);
	assert_int_equal(n, 0);
	assert_int_equal(store_sess_route_get(c->db, "s-1", &rt), 0);
	assert_string_equal(rt.instance_id, "i-1");
	assert_string_equal(rt.status, "Connecting");
	assert_string_equal(rt.replica, "r-a");
	assert_string_equal(rt.url, URL_A);
	assert_int_equal(rt.handout, 0);
	store_sess_route_free(&rt);
	assert_int_equal(store_sess_client_held(c->db, "s-1"), 0);
	/* Announced once. */
	assert_int_equal(store_sess_client_held(c->db, "s-1"),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(store_sess_redeem(c->db, "s-2", HASH, "::1", "r-b",
	    URL_B, NOW + 1, 0), 0);
	assert_int_equal(store_sess_client_held(c->db, "s-2"), 0);
	/* Another instance's poll finds none of them. */
	assert_int_equal(store_sess_handout(c->db, "i-2", NOW + 1, &v, &n), 0);
	assert_int_equal(n, 0);
	/* Polls on several connections at once: each session goes once. */
	assert_int_equal(pthread_barrier_init(&go, NULL, NREDEEM), 0);
	for (i = 0; i < NREDEEM; i++) {
		memset(&x[i], 0, sizeof(x[i]));
		x[i].db = c->db;
		x[i].go = &go;
		assert_int_equal(pthread_create(&th[i], NULL, taker_main,
		    &x[i]), 0);
	}
	for (i = 0; i < NREDEEM; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	for (i = 0; i < NREDEEM; i++) {
		size_t k;

		assert_int_equal(x[i].r, 0);
		for (k = 0; k < x[i].n; k++) {
			got++;
			assert_int_equal(x[i].v[k].port, 2222);
			if (strcmp(x[i].v[k].id, "s-1") == 0) {
				assert_string_equal(x[i].v[k].replica, "r-a");
				assert_string_equal(x[i].v[k].url, URL_A);
			} else {
				assert_string_equal(x[i].v[k].id, "s-2");
				assert_string_equal(x[i].v[k].replica, "r-b");
				assert_string_equal(x[i].v[k].url, URL_B);
			}
		}
		store_sess_handout_free(x[i].v, x[i].n);
	}
	assert_int_equal(got, 2);
	assert_int_equal(store_sess_handout(c->db, "i-1", NOW + 3, &v, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_sess_route_get(c->db, "s-2", &rt), 0);
	assert_int_equal(rt.handout, 2);
	assert_int_equal(rt.handed, NOW + 2);
	store_sess_route_free(&rt);
	/* A session that failed before a poll took it is not handed out. */
	assert_int_equal(store_sess_redeem(c->db, "s-3", HASH, "::1", "r-a",
	    URL_A, NOW + 1, 0), 0);
	assert_int_equal(store_sess_client_held(c->db, "s-3"), 0);
	assert_int_equal(store_sess_finish(c->db, "s-3", 0, "Failed", NOW + 4, 0,
	    0, "the agent did not dial back (4004)"), 0);
	assert_int_equal(store_sess_handout(c->db, "i-1", NOW + 5, &v, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_sess_route_get(c->db, "s-3", &rt), 0);
	assert_int_equal(rt.handout, 0);
	store_sess_route_free(&rt);
	assert_int_equal(store_sess_route_get(c->db, "s-9", &rt),
	    LK_ERR_NOT_FOUND);
	/* Replica r-a restarts: its s-1 is closed, r-b's s-2 is not. */
	assert_int_equal(store_sess_connected(c->db, "s-2", 0), 0);
	assert_int_equal(store_sess_close_stale(c->db, "r-a", NOW + 9), 0);
	assert_int_equal(store_sess_list(c->db, &q, &list, &n), 0);
	assert_int_equal(n, 3);
	for (i = 0; i < (int)n; i++)
		if (strcmp(list[i].id, "s-1") == 0)
			assert_string_equal(list[i].status, "Closed");
		else if (strcmp(list[i].id, "s-2") == 0)
			assert_string_equal(list[i].status, "Connected");
		else
			assert_string_equal(list[i].status, "Failed");
	store_sess_list_free(list, n);
}

static void
test_settings(void **state)
{
	struct tctx *c = *state;
	char *v = NULL;

	assert_int_equal(store_setting_get(c->db, "x", &v), LK_ERR_NOT_FOUND);
	assert_null(v);
	assert_int_equal(store_setting_set(c->db, "x", "true"), 0);
	assert_int_equal(store_setting_get(c->db, "x", &v), 0);
	assert_string_equal(v, "true");
	free(v);
	assert_int_equal(store_setting_set(c->db, "x", "false"), 0);
	assert_int_equal(store_setting_get(c->db, "x", &v), 0);
	assert_string_equal(v, "false");
	free(v);
}

/* ---- instances ---- */

/* Names with every character SQL patterns or quoting could trip on. */
static const char *inst_names[] = {
	"a%b", "a_b", "a*b", "aXb", "ab", "x'y", "back\\slash", "[br]", "b",
	"q?", "qz", "Upper", "upper", "\xe6\x97\xa5\xe6\x9c\xac", "a\"b;--",
};
#define NINST	(sizeof(inst_names) / sizeof(inst_names[0]))

static void
add_instances(struct lkdb *db)
{
	char id[16];
	size_t i;

	/* Registered in reverse of the ids' order; two share a time. */
	for (i = 0; i < NINST; i++) {
		snprintf(id, sizeof(id), "i-%02zu", i);
		add_instance(db, id, inst_names[i],
		    NOW - 1000 + (int64_t)(NINST - i) * 10 - (i == 1 ? 10 : 0),
		    i % 2 == 0 ? NOW - 5 : 0);
	}
}

struct got {
	char	 s[1024];
	int	 n;
};

static int
got_cb(const char *id, const char *name, void *arg)
{
	struct got *g = arg;
	size_t len = strlen(g->s);

	(void)name;
	snprintf(g->s + len, sizeof(g->s) - len, "%s%s", len ? "," : "", id);
	g->n++;
	return 0;
}

static const char *
list_ids(struct lkdb *db, const struct store_inst_filter *f,
    struct got *g)
{
	memset(g, 0, sizeof(*g));
	assert_int_equal(store_inst_list(db, f, got_cb, g), 0);
	return g->s;
}

static const char *
list_pattern(struct lkdb *db, const char *pattern, struct got *g)
{
	struct store_inst_filter f;

	memset(&f, 0, sizeof(f));
	f.pattern = pattern;
	return list_ids(db, &f, g);
}

static void
test_instances_ids(void **state)
{
	struct tctx *c = *state;
	struct store_inst_filter f;
	struct got g;
	const char *ids[] = { "i-03", "i-00", "nope", "i-00", "i-14",
	    "'; DROP TABLE instances; --", "i-0%", "i-*" };
	const char *none[1] = { NULL };

	add_instances(c->db);
	memset(&f, 0, sizeof(f));
	/* All, by registration (i-01 and i-02 tie: by id), then id. */
	assert_string_equal(list_ids(c->db, &f, &g), "i-14,i-13,i-12,i-11,"
	    "i-10,i-09,i-08,i-07,i-06,i-05,i-04,i-03,i-01,i-02,i-00");
	f.ids = ids;
	f.nids = sizeof(ids) / sizeof(ids[0]);
	assert_string_equal(list_ids(c->db, &f, &g), "i-14,i-03,i-00");
	f.nids = 2;
	assert_string_equal(list_ids(c->db, &f, &g), "i-03,i-00");
	/* An empty list matches none. */
	f.ids = none;
	f.nids = 0;
	assert_string_equal(list_ids(c->db, &f, &g), "");
	/* With a status: the even ones were seen at NOW - 5. */
	f.ids = ids;
	f.nids = 5;
	f.status = "Running";
	f.online_since = NOW - 60;
	assert_string_equal(list_ids(c->db, &f, &g), "i-14,i-00");
	f.status = "Stopped";
	assert_string_equal(list_ids(c->db, &f, &g), "i-03");
	f.status = "running";
	assert_string_equal(list_ids(c->db, &f, &g), "");
	f.status = "";
	assert_string_equal(list_ids(c->db, &f, &g), "i-14,i-03,i-00");
	/* Seen, but before the window: Stopped. */
	f.status = "Running";
	f.online_since = NOW;
	assert_string_equal(list_ids(c->db, &f, &g), "");
}

static void
test_instances_patterns(void **state)
{
	struct tctx *c = *state;
	struct got g;

	add_instances(c->db);
	assert_string_equal(list_pattern(c->db, "a%b", &g), "i-00");
	assert_string_equal(list_pattern(c->db, "a_b", &g), "i-01");
	assert_string_equal(list_pattern(c->db, "a*b", &g),
	    "i-04,i-03,i-01,i-02,i-00");
	assert_string_equal(list_pattern(c->db, "x'y", &g), "i-05");
	assert_string_equal(list_pattern(c->db, "back\\slash", &g), "i-06");
	assert_string_equal(list_pattern(c->db, "back\\*", &g), "i-06");
	assert_string_equal(list_pattern(c->db, "[br]", &g), "i-07");
	assert_string_equal(list_pattern(c->db, "[b]", &g), "");
	assert_string_equal(list_pattern(c->db, "q?", &g), "i-09");
	assert_string_equal(list_pattern(c->db, "upper", &g), "i-12");
	assert_string_equal(list_pattern(c->db, "*pper", &g), "i-12,i-11");
	assert_string_equal(list_pattern(c->db, "\xe6\x97\xa5*", &g), "i-13");
	assert_string_equal(list_pattern(c->db, "a\"b;--", &g), "i-14");
	assert_string_equal(list_pattern(c->db, "%", &g), "");
	assert_string_equal(list_pattern(c->db, "_", &g), "");
	assert_int_equal(list_pattern(c->db, "*", &g) != NULL && g.n ==
	    (int)NINST, 1);
	assert_string_equal(list_pattern(c->db, "**b", &g),
	    "i-08,i-04,i-03,i-01,i-02,i-00");
}

static int
glob_cb(const struct lkdb_row *row, void *arg)
{
	return got_cb(lkdb_text(row, 0), NULL, arg);
}

/*
 * The patterns agree with the GLOB DescribeInstances used on SQLite
 * before storage moved behind store.h ('?' and '[' bracketed, '*' the
 * wildcard). An SQLite-only case: GLOB is what PostgreSQL lacks.
 */
static void
test_instances_glob_agrees(void **state)
{
	struct tctx *c = *state;
	static const char *pats[] = { "*", "a*", "*b", "a*b", "a%b", "?",
	    "q?", "[br]", "[*", "*]", "*\\*", "**", "*a*b*", "A*", "]",
	    "x'*", "*;--", "\xe6*", "*\xac", "a_*", "*%*", "upper", "z*",
	    "z\xe6", "z\xac*", "z\xef\xbf\xbd", "z?", "z\xc0\x80", "*\xbd" };
	char glob[64], *o;
	const char *p;
	struct got g, want;
	size_t i;

	add_instances(c->db);
	/* Invalid UTF-8, which PostgreSQL would refuse: truncated, stray, overlong. */
	add_instance(c->db, "i-90", "z\xe6", NOW, 0);
	add_instance(c->db, "i-91", "z\xac", NOW, 0);
	add_instance(c->db, "i-92", "z\xc0\x80", NOW, 0);
	add_instance(c->db, "i-93", "z\xef\xbf\xbd", NOW, 0);
	for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		for (o = glob, p = pats[i]; *p != '\0'; p++) {
			if (*p == '?' || *p == '[') {
				*o++ = '[';
				*o++ = *p;
				*o++ = ']';
			} else
				*o++ = *p;
		}
		*o = '\0';
		memset(&want, 0, sizeof(want));
		assert_int_equal(lkdb_query(c->db, glob_cb, &want, "SELECT id "
		    "FROM instances WHERE name GLOB ? ORDER BY registered, id",
		    "s", glob), 0);
		list_pattern(c->db, pats[i], &g);
		assert_string_equal(g.s, want.s);
	}
}

/* A pattern built to backtrack: answered at once, and right. */
static void
test_match_pathological(void **state)
{
	char name[4097], pat[64];

	(void)state;
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(pat, sizeof(pat), "%s", "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b");
	assert_int_equal(store_inst_match(pat, name), 0);
	name[sizeof(name) - 2] = 'b';
	assert_int_equal(store_inst_match(pat, name), 1);
	assert_int_equal(store_inst_match("", ""), 1);
	assert_int_equal(store_inst_match("", "a"), 0);
	assert_int_equal(store_inst_match("*", ""), 1);
	assert_int_equal(store_inst_match("a*", "a"), 1);
	assert_int_equal(store_inst_match("*a", "ba"), 1);
	assert_int_equal(store_inst_match("*a", "ab"), 0);
	assert_int_equal(store_inst_match("a*c*e", "abcdcxe"), 1);
	assert_int_equal(store_inst_match("a*c*e", "abcdcxef"), 0);
}

static void
test_instance_status(void **state)
{
	struct tctx *c = *state;
	struct store_inst in;
	struct store_inst_status st;

	add_instance(c->db, "i-1", "web", NOW - 100, 0);
	assert_int_equal(lkdb_run(c->db, NULL, "UPDATE instances SET version "
	    "= '1.1.0', goodbye = ?, session_ports = '[22]', addresses = "
	    "'[\"10.0.0.1\"]', hostname = 'h', os = 'Debian' WHERE id = 'i-1'",
	    "i", (int64_t)(NOW - 7)), 0);
	assert_int_equal(store_inst_status(c->db, "i-1", &st), 0);
	assert_string_equal(st.version, "1.1.0");
	assert_int_equal(st.tasks, 0);
	assert_int_equal(st.active_tasks, 0);
	assert_int_equal(st.last_task, 0);
	assert_int_equal(st.goodbye, NOW - 7);
	store_inst_status_free(&st);
	assert_int_equal(lkdb_run(c->db, NULL, "INSERT INTO tasks(id, "
	    "invoke_id, instance_id, content, status, created, updated) VALUES "
	    "('t-1', 'v', 'i-1', '', 'Running', ?1, ?1), ('t-2', 'v', 'i-1', "
	    "'', 'Success', ?2, ?2), ('t-3', 'v', 'i-2', '', 'Pending', ?3, "
	    "?3)", "iii", (int64_t)(NOW - 50), (int64_t)(NOW - 40),
	    (int64_t)NOW), 0);
	assert_int_equal(store_inst_status(c->db, "i-1", &st), 0);
	assert_int_equal(st.tasks, 2);
	assert_int_equal(st.active_tasks, 1);
	assert_int_equal(st.last_task, NOW - 40);
	store_inst_status_free(&st);
	assert_int_equal(store_inst_status(c->db, "i-2", &st),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(store_inst_get(c->db, "i-1", &in), 0);
	assert_string_equal(in.name, "web");
	assert_string_equal(in.session_ports, "[22]");
	assert_string_equal(in.addresses, "[\"10.0.0.1\"]");
	assert_int_equal(in.registered, NOW - 100);
	store_inst_free(&in);
	assert_int_equal(store_inst_get(c->db, "i-2", &in), LK_ERR_NOT_FOUND);
	assert_null(in.name);
}

/* Each case on both backends, named for the backend. */
#define BOTH(f)	\
	{ #f " sqlite", f, setup_sqlite, teardown, NULL }, \
	{ #f " postgresql", f, setup_pg, teardown, NULL }

/* ---- sessions of a replica that is gone ---- */

static int
status_cb(const struct lkdb_row *row, void *arg)
{
	snprintf(arg, 32, "%s", lkdb_text(row, 0));
	return 1;
}

static void
test_close_gone(void **state)
{
	struct tctx *c = *state;
	char st[32];

	one_session(c->db, "s-old", NOW + 60);
	one_session(c->db, "s-fresh", NOW + 60);
	one_session(c->db, "s-unknown", NOW + 60);
	assert_int_equal(lkdb_run(c->db, NULL, "INSERT INTO replicas(id, "
	    "advertise_url, started, seen) VALUES ('old', 'http://a', ?, ?), "
	    "('fresh', 'http://b', ?, ?)", "iiii", (int64_t)NOW - 500,
	    (int64_t)NOW - 100, (int64_t)NOW - 500, (int64_t)NOW), 0);
	assert_int_equal(lkdb_run(c->db, NULL, "UPDATE sessions SET status = "
	    "'Connected', client_replica = CASE id WHEN 's-old' THEN 'old' "
	    "WHEN 's-fresh' THEN 'fresh' ELSE 'nobody' END", ""), 0);
	assert_int_equal(store_sess_close_gone(c->db, NOW, NOW - 30), 0);
	assert_int_equal(lkdb_query(c->db, status_cb, st, "SELECT status || "
	    "':' || closed_reason FROM sessions WHERE id = 's-old'", ""), 0);
	assert_string_equal(st, "Closed:replica gone");
	assert_int_equal(lkdb_query(c->db, status_cb, st, "SELECT status "
	    "FROM sessions WHERE id = 's-fresh'", ""), 0);
	assert_string_equal(st, "Connected");
	/* A replica with no row at all is not judged gone. */
	assert_int_equal(lkdb_query(c->db, status_cb, st, "SELECT status "
	    "FROM sessions WHERE id = 's-unknown'", ""), 0);
	assert_string_equal(st, "Connected");
}

/* status:epoch:lost_at of session sid, into st (64 bytes). */
static void
row_state(struct lkdb *db, const char *sid, char *st)
{
	assert_int_equal(lkdb_query(db, status_cb, st, "SELECT status || ':' "
	    "|| CAST(epoch AS TEXT) || ':' || CAST(lost_at AS TEXT) FROM "
	    "sessions WHERE id = ?", "s", sid), 0);
}

#define HASH2	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/*
 * A resumable session through its life: first connection, loss, resume
 * (new token, epoch 1, handed out again with its epoch), the old
 * connection's late records ignored, the totals added up; the rules of
 * who may resume and until when.
 */
static void
test_resume(void **state)
{
	struct tctx *c = *state;
	struct store_sess_resumed rs;
	struct store_sess_handout *v = NULL;
	struct store_sess_token tk;
	struct store_sess_query q = { "k", "i-1", "s-r", 10, 0 };
	struct store_sess *list = NULL;
	const char *why;
	char st[64];
	size_t n = 0;

	add_instance(c->db, "i-1", "web", NOW - 100, NOW);
	one_session(c->db, "s-r", NOW + TTL);
	one_session(c->db, "s-plain", NOW + TTL);
	/* Not resumable before (or without) a first connection asking. */
	assert_int_equal(store_sess_resume(c->db, "s-r", "k", HASH2, NOW, TTL,
	    60, &rs, &why), LK_ERR_STATE);
	assert_string_equal(why, "not resumable");
	assert_int_equal(store_sess_redeem(c->db, "s-r", HASH, "::1", "r-a",
	    URL_A, NOW, 1), 0);
	assert_int_equal(store_sess_redeem(c->db, "s-plain", HASH, "::1",
	    "r-a", URL_A, NOW, 0), 0);
	assert_int_equal(store_sess_client_held(c->db, "s-r"), 0);
	assert_int_equal(store_sess_handout(c->db, "i-1", NOW, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].epoch, 0);
	assert_int_equal(v[0].resumable, 1);
	store_sess_handout_free(v, n);
	assert_int_equal(store_sess_connected(c->db, "s-r", 0), 0);
	row_state(c->db, "s-r", st);
	assert_string_equal(st, "Connected:0:0");
	/* Another key's session, an unknown one: not found. */
	assert_int_equal(store_sess_resume(c->db, "s-r", "other", HASH2, NOW,
	    TTL, 60, &rs, &why), LK_ERR_NOT_FOUND);
	assert_int_equal(store_sess_resume(c->db, "s-nope", "k", HASH2, NOW,
	    TTL, 60, &rs, &why), LK_ERR_NOT_FOUND);
	/* A session that did not ask: not resumable. */
	assert_int_equal(store_sess_resume(c->db, "s-plain", "k", HASH2, NOW,
	    TTL, 60, &rs, &why), LK_ERR_STATE);
	assert_string_equal(why, "not resumable");
	/* The loss: Disconnected, bytes counted. */
	assert_int_equal(store_sess_lost(c->db, "s-r", 0, NOW + 10, 100, 200),
	    0);
	row_state(c->db, "s-r", st);
	assert_string_equal(st, "Disconnected:0:1700000010");
	/* The resume: a new token, valid until the loss + wait at most. */
	assert_int_equal(store_sess_resume(c->db, "s-r", "k", HASH2, NOW + 20,
	    TTL, 60, &rs, &why), 0);
	assert_string_equal(rs.instance_id, "i-1");
	assert_int_equal(rs.port, 2222);
	assert_int_equal(rs.epoch, 1);
	store_sess_resumed_free(&rs);
	assert_int_equal(store_sess_token_get(c->db, "s-r", &tk), 0);
	assert_string_equal(tk.token_hash, HASH2);
	assert_int_equal(tk.token_expires, NOW + 70);
	assert_int_equal(tk.epoch, 1);
	assert_int_equal(tk.resumable, 1);
	store_sess_token_free(&tk);
	/* The old token no longer works; the new one once. */
	assert_int_equal(store_sess_redeem(c->db, "s-r", HASH, "::1", "r-b",
	    URL_B, NOW + 21, 0), LK_ERR_NOT_FOUND);
	assert_int_equal(store_sess_redeem(c->db, "s-r", HASH2, "::1", "r-b",
	    URL_B, NOW + 21, 0), 0);
	assert_int_equal(store_sess_redeem(c->db, "s-r", HASH2, "::1", "r-b",
	    URL_B, NOW + 21, 0), LK_ERR_NOT_FOUND);
	/* Handed out again, with its epoch and still resumable. */
	assert_int_equal(store_sess_client_held(c->db, "s-r"), 0);
	assert_int_equal(store_sess_handout(c->db, "i-1", NOW + 21, &v, &n),
	    0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].epoch, 1);
	assert_int_equal(v[0].resumable, 1);
	assert_string_equal(v[0].replica, "r-b");
	store_sess_handout_free(v, n);
	/* The old connection's late records change nothing but the bytes. */
	assert_int_equal(store_sess_connected(c->db, "s-r", 0), 0);
	assert_int_equal(store_sess_finish(c->db, "s-r", 0, "Closed",
	    NOW + 22, 1, 2, "late"), 0);
	row_state(c->db, "s-r", st);
	assert_string_equal(st, "Connecting:1:1700000010");
	assert_int_equal(store_sess_connected(c->db, "s-r", 1), 0);
	row_state(c->db, "s-r", st);
	assert_string_equal(st, "Connected:1:0");
	assert_int_equal(store_sess_finish(c->db, "s-r", 1, "Closed",
	    NOW + 30, 1000, 2000, "client: normal closure (1000)"), 0);
	assert_int_equal(store_sess_list(c->db, &q, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].status, "Closed");
	assert_int_equal(list[0].bytes_in, 1101);
	assert_int_equal(list[0].bytes_out, 2202);
	assert_int_equal(list[0].started, NOW);
	store_sess_list_free(list, n);
	/* Over: no resume. */
	assert_int_equal(store_sess_resume(c->db, "s-r", "k", HASH2, NOW + 31,
	    TTL, 60, &rs, &why), LK_ERR_STATE);
	assert_string_equal(why, "ended");
}

/* The wait: a lost session not resumed in time is closed; ends asked. */
static void
test_resume_expiry(void **state)
{
	struct tctx *c = *state;
	struct store_sess_resumed rs;
	const char *why;
	char st[64];

	add_instance(c->db, "i-1", "web", NOW - 100, NOW);
	one_session(c->db, "s-a", NOW + TTL);
	one_session(c->db, "s-b", NOW + TTL);
	one_session(c->db, "s-c", NOW + TTL);
	assert_int_equal(store_sess_redeem(c->db, "s-a", HASH, "::1", "r-a",
	    URL_A, NOW, 1), 0);
	assert_int_equal(store_sess_redeem(c->db, "s-b", HASH, "::1", "r-a",
	    URL_A, NOW, 1), 0);
	assert_int_equal(store_sess_redeem(c->db, "s-c", HASH, "::1", "r-a",
	    URL_A, NOW, 0), 0);
	assert_int_equal(store_sess_connected(c->db, "s-a", 0), 0);
	assert_int_equal(store_sess_connected(c->db, "s-b", 0), 0);
	assert_int_equal(store_sess_connected(c->db, "s-c", 0), 0);
	/* r-a restarts: its resumable sessions wait, the other closes. */
	assert_int_equal(store_sess_close_stale(c->db, "r-a", NOW + 5), 0);
	row_state(c->db, "s-a", st);
	assert_string_equal(st, "Disconnected:0:1700000005");
	row_state(c->db, "s-c", st);
	assert_string_equal(st, "Closed:0:0");
	/* Past the wait: no resume; the sweep closes them. */
	assert_int_equal(store_sess_resume(c->db, "s-a", "k", HASH2, NOW + 65,
	    TTL, 60, &rs, &why), LK_ERR_STATE);
	assert_string_equal(why, "expired");
	assert_int_equal(store_sess_expire(c->db, NOW + 64, 60), 0);
	row_state(c->db, "s-a", st);
	assert_string_equal(st, "Disconnected:0:1700000005");
	assert_int_equal(store_sess_expire(c->db, NOW + 65, 60), 0);
	assert_int_equal(lkdb_query(c->db, status_cb, st, "SELECT status || "
	    "':' || closed_reason FROM sessions WHERE id = 's-a'", ""), 0);
	assert_string_equal(st, "Closed:not resumed within 60 s");
	/* EndTerminalSession between two connections closes at once. */
	assert_int_equal(store_sess_end(c->db, "s-b", "k", NOW + 6), 0);
	row_state(c->db, "s-b", st);
	assert_string_equal(st, "Closed:0:0");
	assert_int_equal(store_sess_resume(c->db, "s-b", "k", HASH2, NOW + 7,
	    TTL, 60, &rs, &why), LK_ERR_STATE);
	assert_string_equal(why, "ended");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_admission_per_key),
		BOTH(test_admission_per_instance),
		BOTH(test_admission_expired_frees),
		BOTH(test_token_once),
		BOTH(test_token_expired),
		BOTH(test_session_records),
		BOTH(test_handout),
		BOTH(test_settings),
		BOTH(test_instances_ids),
		BOTH(test_instances_patterns),
		BOTH(test_instance_status),
		BOTH(test_close_gone),
		BOTH(test_resume),
		BOTH(test_resume_expiry),
		cmocka_unit_test_setup_teardown(test_instances_glob_agrees,
		    setup_sqlite, teardown),
		cmocka_unit_test(test_match_pathological),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
