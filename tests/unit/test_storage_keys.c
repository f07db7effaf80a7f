/*
 * server/store_keys.c and store_console.c on both storage backends (SQLite
 * in memory, PostgreSQL: tests/unit/dbtest.h; run from the top of the tree,
 * as root): access keys made, read, listed and disabled, their sealed
 * secret byte for byte; a nonce used from 8 threads at once taken exactly
 * once, and again once swept; operators; console sessions and their
 * expiry. Every case runs on a new database of each backend.
 */
#include "unit.h"

#include <pthread.h>

#include "dbtest.h"
#include "err.h"
#include "log.h"
#include "store.h"

static const int backend_sqlite = DBTEST_SQLITE;
static const int backend_pg = DBTEST_PG;

struct tctx {
	int		 backend;
	struct lkdb	*db;
};

static int
setup(void **state)
{
	struct tctx *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	c->backend = *(const int *)*state;
	if (dbtest_open(c->backend, &c->db) != 0) {
		fprintf(stderr, "test_storage_keys: no %s database\n",
		    dbtest_name(c->backend));
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct tctx *c = *state;

	lkdb_close(c->db);
	free(c);
	return 0;
}

/* Every byte value, NULs and 0xff among them, then a pattern. */
static void
blob_fill(unsigned char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = i < 256 ? (unsigned char)i :
		    (unsigned char)(i * 131u + 7u);
}

/* ------------------------------------------------------------------ */
/* Access keys */

static void
test_key_lifecycle(void **state)
{
	struct tctx *c = *state;
	struct store_key k, *keys = NULL;
	unsigned char sealed[60];
	size_t n = 0;

	blob_fill(sealed, sizeof(sealed));
	assert_int_equal(store_key_create(c->db, "LTAIbbbb", sealed,
	    sizeof(sealed), "{\"Actions\":\"*\"}", "second", 2000), 0);
	assert_int_equal(store_key_create(c->db, "LTAIaaaa", sealed, 28,
	    "{}", NULL, 1000), 0);
	/* One more of the same second as LTAIbbbb, made after it. */
	assert_int_equal(store_key_create(c->db, "LTAIaaab", sealed, 28,
	    "{}", "third", 2000), 0);
	/* The id is the key. */
	assert_int_equal(store_key_create(c->db, "LTAIaaaa", sealed, 28,
	    "{}", "again", 3000), LK_ERR_INVALID_FORMAT);

	assert_int_equal(store_key_get(c->db, "LTAIbbbb", &k), 0);
	assert_string_equal(k.id, "LTAIbbbb");
	assert_int_equal(k.sealedlen, sizeof(sealed));
	assert_memory_equal(k.sealed, sealed, sizeof(sealed));
	assert_string_equal(k.policy, "{\"Actions\":\"*\"}");
	assert_string_equal(k.description, "second");
	assert_int_equal(k.disabled, 0);
	assert_int_equal(k.created, 2000);
	store_key_free(&k);
	assert_int_equal(store_key_get(c->db, "LTAIaaaa", &k), 0);
	assert_string_equal(k.description, "");	/* NULL: none */
	store_key_free(&k);
	assert_int_equal(store_key_get(c->db, "LTAInone", &k),
	    LK_ERR_NOT_FOUND);
	assert_null(k.id);
	assert_int_equal(store_key_get(c->db, "ltaiaaaa", &k),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(store_key_get(c->db, "' OR 1=1 --", &k),
	    LK_ERR_NOT_FOUND);

	/* Oldest first, without secrets. */
	assert_int_equal(store_key_list(c->db, &keys, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(keys[0].id, "LTAIaaaa");
	assert_int_equal(keys[0].created, 1000);
	assert_int_equal(keys[1].created, 2000);
	assert_int_equal(keys[2].created, 2000);
	if (c->backend == DBTEST_SQLITE) {
		/* SQLite: one second's keys in the order they were made. */
		assert_string_equal(keys[1].id, "LTAIbbbb");
		assert_string_equal(keys[2].id, "LTAIaaab");
	} else {
		/* PostgreSQL: by id among them. */
		assert_string_equal(keys[1].id, "LTAIaaab");
		assert_string_equal(keys[2].id, "LTAIbbbb");
	}
	assert_null(keys[0].sealed);
	assert_string_equal(keys[0].policy, "{}");
	store_key_list_free(keys, n);

	assert_int_equal(store_key_disable(c->db, "LTAIbbbb"), 0);
	assert_int_equal(store_key_disable(c->db, "LTAIbbbb"), 0);
	assert_int_equal(store_key_disable(c->db, "LTAInone"),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(store_key_get(c->db, "LTAIbbbb", &k), 0);
	assert_int_equal(k.disabled, 1);
	assert_memory_equal(k.sealed, sealed, sizeof(sealed));
	store_key_free(&k);
	assert_int_equal(store_key_get(c->db, "LTAIaaaa", &k), 0);
	assert_int_equal(k.disabled, 0);
	store_key_free(&k);
	assert_int_equal(store_key_list(c->db, &keys, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(keys[0].disabled, 0);
	assert_int_equal(keys[c->backend == DBTEST_SQLITE ? 1 : 2].disabled,
	    1);
	store_key_list_free(keys, n);
}

static void
test_key_empty_list(void **state)
{
	struct tctx *c = *state;
	struct store_key *keys = (struct store_key *)&keys;
	size_t n = 99;

	assert_int_equal(store_key_list(c->db, &keys, &n), 0);
	assert_int_equal(n, 0);
	store_key_list_free(keys, n);
}

/* The sealed secret comes back byte for byte, whatever the bytes. */
static void
test_key_blob_exact(void **state)
{
	static const size_t sizes[] = { 1, 28, 256, 300, 4096 };
	struct tctx *c = *state;
	struct store_key k;
	unsigned char *b;
	char id[32];
	size_t i;

	assert_non_null(b = malloc(4096));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		blob_fill(b, sizes[i]);
		if (sizes[i] == 300)
			memset(b, 0, sizes[i]);		/* all NULs */
		snprintf(id, sizeof(id), "LTAIblob%zu", sizes[i]);
		assert_int_equal(store_key_create(c->db, id, b, sizes[i], "{}",
		    "", 1), 0);
		assert_int_equal(store_key_get(c->db, id, &k), 0);
		assert_int_equal(k.sealedlen, sizes[i]);
		assert_memory_equal(k.sealed, b, sizes[i]);
		store_key_free(&k);
	}
	/* A high byte and a NUL first: no text conversion on the way. */
	b[0] = 0;
	b[1] = 0xff;
	b[2] = 0x80;
	b[3] = '\\';
	b[4] = '\'';
	assert_int_equal(store_key_create(c->db, "LTAIodd", b, 5, "{}", "",
	    1), 0);
	assert_int_equal(store_key_get(c->db, "LTAIodd", &k), 0);
	assert_int_equal(k.sealedlen, 5);
	assert_memory_equal(k.sealed, b, 5);
	store_key_free(&k);
	free(b);
}

/* ------------------------------------------------------------------ */
/* Nonces */

#define NONCE_THREADS	8
#define NONCE_ROUNDS	25

struct nonce_job {
	struct lkdb		*db;
	pthread_barrier_t	*start;
	const char		*nonce;
	int64_t			 now;
	int			 r;
};

static void *
nonce_thread(void *arg)
{
	struct nonce_job *j = arg;

	pthread_barrier_wait(j->start);
	j->r = store_nonce_use(j->db, "LTAInonce", j->nonce, j->now);
	return NULL;
}

/* 8 threads present nonce at once; how many were accepted (0 each). */
static int
nonce_race(struct lkdb *db, const char *nonce, int64_t now)
{
	struct nonce_job jobs[NONCE_THREADS];
	pthread_t th[NONCE_THREADS];
	pthread_barrier_t b;
	int i, ok = 0;

	assert_int_equal(pthread_barrier_init(&b, NULL, NONCE_THREADS), 0);
	for (i = 0; i < NONCE_THREADS; i++) {
		jobs[i].db = db;
		jobs[i].start = &b;
		jobs[i].nonce = nonce;
		jobs[i].now = now;
		jobs[i].r = 1;
		assert_int_equal(pthread_create(&th[i], NULL, nonce_thread,
		    &jobs[i]), 0);
	}
	for (i = 0; i < NONCE_THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&b);
	for (i = 0; i < NONCE_THREADS; i++) {
		if (jobs[i].r == 0)
			ok++;
		else	/* a replay, never another error */
			assert_int_equal(jobs[i].r, LK_ERR_INVALID_FORMAT);
	}
	return ok;
}

static void
test_nonce_once(void **state)
{
	struct tctx *c = *state;
	char nonce[32];
	int i;

	for (i = 0; i < NONCE_ROUNDS; i++) {
		snprintf(nonce, sizeof(nonce), "nonce-%d", i);
		assert_int_equal(nonce_race(c->db, nonce, 1000 + i), 1);
	}
	/* Once used, refused, also at another time; another key's is apart. */
	assert_int_equal(store_nonce_use(c->db, "LTAInonce", "nonce-0", 5000),
	    LK_ERR_INVALID_FORMAT);
	assert_int_equal(store_nonce_use(c->db, "LTAIother", "nonce-0", 1000),
	    0);
	/* A sweep forgets only what was seen before its time. */
	assert_int_equal(store_nonce_sweep(c->db, 1010), 0);
	assert_int_equal(store_nonce_use(c->db, "LTAInonce", "nonce-10", 1),
	    LK_ERR_INVALID_FORMAT);
	assert_int_equal(store_nonce_use(c->db, "LTAInonce", "nonce-24", 1),
	    LK_ERR_INVALID_FORMAT);
	/* Swept: accepted again, exactly once among 8 at once. */
	assert_int_equal(nonce_race(c->db, "nonce-9", 9000), 1);
	assert_int_equal(nonce_race(c->db, "nonce-0", 9000), 1);
	assert_int_equal(store_nonce_use(c->db, "LTAIother", "nonce-0", 9000),
	    0);
	assert_int_equal(store_nonce_use(c->db, "LTAInonce", "nonce-10", 9000),
	    LK_ERR_INVALID_FORMAT);
	/* Everything before 9000 goes; what was seen at 9000 stays. */
	assert_int_equal(store_nonce_sweep(c->db, 9000), 0);
	assert_int_equal(store_nonce_use(c->db, "LTAInonce", "nonce-10", 9001),
	    0);
	assert_int_equal(store_nonce_use(c->db, "LTAInonce", "nonce-9", 9001),
	    LK_ERR_INVALID_FORMAT);
}

/* ------------------------------------------------------------------ */
/* Operators */

static void
test_operators(void **state)
{
	static const char *const names[] = { "b", "_x", "B", "a.c", "a-c",
	    "ab", "A" };
	static const char *const sorted[] = { "A", "B", "_x", "a-c", "a.c",
	    "ab", "b" };
	struct tctx *c = *state;
	struct store_operator op, *ops = NULL;
	size_t i, n = 0;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(store_operator_create(c->db, names[i],
		    "$scrypt$hash", 100 + (int64_t)i), 0);
	assert_int_equal(store_operator_create(c->db, "b", "$other", 5),
	    LK_ERR_INVALID_FORMAT);
	assert_int_equal(store_operator_get(c->db, "b", &op), 0);
	assert_string_equal(op.name, "b");
	assert_string_equal(op.pw_hash, "$scrypt$hash");
	assert_int_equal(op.created, 100);
	assert_int_equal(op.last_signin, 0);
	assert_int_equal(op.disabled, 0);
	store_operator_free(&op);
	assert_int_equal(store_operator_get(c->db, "nobody", &op),
	    LK_ERR_NOT_FOUND);
	assert_null(op.name);

	/* Byte order on both backends, whatever the collation. */
	assert_int_equal(store_operator_list(c->db, &ops, &n), 0);
	assert_int_equal(n, sizeof(sorted) / sizeof(sorted[0]));
	for (i = 0; i < n; i++) {
		assert_string_equal(ops[i].name, sorted[i]);
		assert_null(ops[i].pw_hash);
	}
	store_operator_list_free(ops, n);

	assert_int_equal(store_operator_signed_in(c->db, "ab", 777), 0);
	assert_int_equal(store_operator_signed_in(c->db, "nobody", 777), 0);
	assert_int_equal(store_operator_get(c->db, "ab", &op), 0);
	assert_int_equal(op.last_signin, 777);
	store_operator_free(&op);
}

/* Disabling an operator ends its sessions, and only its own. */
static void
test_operator_disable(void **state)
{
	struct tctx *c = *state;
	struct store_operator op;
	struct store_csession s;

	assert_int_equal(store_operator_create(c->db, "ops", "$h", 1), 0);
	assert_int_equal(store_operator_create(c->db, "ops2", "$h", 1), 0);
	assert_int_equal(store_csession_create(c->db, "h1", "operator", "ops",
	    "c1", 100), 0);
	assert_int_equal(store_csession_create(c->db, "h2", "operator", "ops",
	    "c2", 100), 0);
	assert_int_equal(store_csession_create(c->db, "h3", "operator", "ops2",
	    "c3", 100), 0);
	/* An access key that happens to be called "ops" is not the operator. */
	assert_int_equal(store_csession_create(c->db, "h4", "key", "ops",
	    "c4", 100), 0);
	assert_int_equal(store_operator_disable(c->db, "ops"), 0);
	assert_int_equal(store_operator_get(c->db, "ops", &op), 0);
	assert_int_equal(op.disabled, 1);
	store_operator_free(&op);
	assert_int_equal(store_csession_get(c->db, "h1", &s), LK_ERR_NOT_FOUND);
	assert_int_equal(store_csession_get(c->db, "h2", &s), LK_ERR_NOT_FOUND);
	assert_int_equal(store_csession_get(c->db, "h3", &s), 0);
	store_csession_free(&s);
	assert_int_equal(store_csession_get(c->db, "h4", &s), 0);
	store_csession_free(&s);
	assert_int_equal(store_operator_disable(c->db, "nobody"),
	    LK_ERR_NOT_FOUND);
	/* The transaction ended: the database takes more work. */
	assert_int_equal(store_operator_disable(c->db, "ops2"), 0);
	assert_int_equal(store_csession_get(c->db, "h3", &s), LK_ERR_NOT_FOUND);
	assert_int_equal(store_operator_get(c->db, "ops2", &op), 0);
	assert_int_equal(op.disabled, 1);
	store_operator_free(&op);
}

/* ------------------------------------------------------------------ */
/* Console sessions */

static void
test_csession(void **state)
{
	struct tctx *c = *state;
	struct store_csession s;

	assert_int_equal(store_csession_create(c->db, "hash-a", "key",
	    "LTAIkey", "csrf-a", 1000), 0);
	assert_int_equal(store_csession_create(c->db, "hash-a", "key",
	    "LTAIkey", "csrf-x", 1000), LK_ERR_INVALID_FORMAT);
	assert_int_equal(store_csession_get(c->db, "hash-a", &s), 0);
	assert_string_equal(s.kind, "key");
	assert_string_equal(s.principal, "LTAIkey");
	assert_string_equal(s.csrf, "csrf-a");
	assert_int_equal(s.created, 1000);
	assert_int_equal(s.last_used, 1000);
	store_csession_free(&s);
	assert_int_equal(store_csession_touch(c->db, "hash-a", 1500), 0);
	assert_int_equal(store_csession_touch(c->db, "hash-none", 1500), 0);
	assert_int_equal(store_csession_get(c->db, "hash-a", &s), 0);
	assert_int_equal(s.created, 1000);
	assert_int_equal(s.last_used, 1500);
	store_csession_free(&s);
	assert_int_equal(store_csession_get(c->db, "hash-none", &s),
	    LK_ERR_NOT_FOUND);
	assert_null(s.kind);
	assert_int_equal(store_csession_delete(c->db, "hash-a"), 0);
	assert_int_equal(store_csession_delete(c->db, "hash-a"), 0);
	assert_int_equal(store_csession_get(c->db, "hash-a", &s),
	    LK_ERR_NOT_FOUND);
}

/* Sessions idle too long or made too long ago expire; others stay. */
static void
test_csession_expire(void **state)
{
	struct tctx *c = *state;
	struct store_csession s;

	/* idle: last used at 100; old: made at 50, used at 900. */
	assert_int_equal(store_csession_create(c->db, "idle", "operator",
	    "op", "c1", 100), 0);
	assert_int_equal(store_csession_create(c->db, "old", "operator",
	    "op", "c2", 50), 0);
	assert_int_equal(store_csession_touch(c->db, "old", 900), 0);
	assert_int_equal(store_csession_create(c->db, "fresh", "key",
	    "LTAIk", "c3", 800), 0);
	assert_int_equal(store_csession_create(c->db, "edge", "key",
	    "LTAIk", "c4", 500), 0);
	/* Nothing is before the bounds yet. */
	assert_int_equal(store_csession_expire(c->db, 100, 50), 0);
	assert_int_equal(store_csession_get(c->db, "idle", &s), 0);
	store_csession_free(&s);
	assert_int_equal(store_csession_get(c->db, "old", &s), 0);
	store_csession_free(&s);
	/* Idle before 500, made before 60. */
	assert_int_equal(store_csession_expire(c->db, 500, 60), 0);
	assert_int_equal(store_csession_get(c->db, "idle", &s),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(store_csession_get(c->db, "old", &s),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(store_csession_get(c->db, "edge", &s), 0);
	store_csession_free(&s);
	assert_int_equal(store_csession_get(c->db, "fresh", &s), 0);
	assert_string_equal(s.principal, "LTAIk");
	store_csession_free(&s);
}

/* Each case twice, on a new database of each backend. */
#define BOTH(t) \
	{ #t " sqlite", t, setup, teardown, \
	    (void *)(uintptr_t)&backend_sqlite }, \
	{ #t " postgresql", t, setup, teardown, \
	    (void *)(uintptr_t)&backend_pg }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_key_lifecycle),
		BOTH(test_key_empty_list),
		BOTH(test_key_blob_exact),
		BOTH(test_nonce_once),
		BOTH(test_operators),
		BOTH(test_operator_disable),
		BOTH(test_csession),
		BOTH(test_csession_expire),
	};

	log_init("test_storage_keys", 0, 0);
	return cmocka_run_group_tests_name("storage: keys, nonces, operators, "
	    "console sessions", tests, NULL, NULL);
}
