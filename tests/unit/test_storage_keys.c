/*
 * server/store_keys.c and store_console.c on both storage backends (SQLite
 * in memory, PostgreSQL: tests/unit/dbtest.h; run from the top of the tree,
 * as root): access keys made, read, listed and disabled, their sealed
 * secret byte for byte; a nonce used from 8 threads at once taken exactly
 * once, and again once swept; operators; console sessions and their
 * expiry; the console's sign-in failure counts (windows, all or nothing,
 * 16 threads on two handles of one database as two replicas). Every case
 * runs on a new database of each backend.
 */
#include "unit.h"

#include <pthread.h>

#include "dbtest.h"
#include "err.h"
#include "log.h"
#include "store.h"

static const int backend_sqlite = DBTEST_SQLITE;
static const int backend_pg = DBTEST_PG;

DBTEST_HANDLE_FIXTURE

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

/* ------------------------------------------------------------------ */
/* Console sign-in failure counts */

#define CL_WINDOW	300
#define CL_SKEW		30
#define CL_MAX		10

/* The count of (kind, name), -1 when there is no row. */
static int
cl_fails_cb(const struct lkdb_row *row, void *arg)
{
	*(int *)arg = (int)lkdb_int(row, 0);
	return 1;
}

static int
cl_fails(struct lkdb *db, const char *kind, const char *name)
{
	int n = -1;

	assert_int_equal(lkdb_query(db, cl_fails_cb, &n, "SELECT fails FROM "
	    "console_signin_fails WHERE kind = ? AND name = ?", "ss", kind,
	    name), 0);
	return n;
}

/* One take for (addr, acct) at now; 0, or LK_ERR_RANGE and *fullp. */
static int
cl_take(struct lkdb *db, const char *addr, const char *acct, int64_t now,
    struct store_climit e[2], size_t *fullp)
{
	size_t full;

	e[0].kind = "addr";
	e[0].name = addr;
	e[1].kind = "acct";
	e[1].name = acct;
	e[0].window_start = e[1].window_start = -1;
	return store_climit_take(db, e, 2, now, CL_WINDOW, CL_SKEW, CL_MAX,
	    fullp != NULL ? fullp : &full);
}

/*
 * Windows and their bound on one database: all or nothing for the two
 * entries, a give-back only into its own window, a window that ends, a
 * clock set back, the sweep.
 */
static void
test_climit_window(void **state)
{
	struct tctx *c = *state;
	struct store_climit e[2], first[2], old[2];
	size_t full;
	int i;

	/* The table is made once; making it again changes nothing. */
	assert_int_equal(store_console_init(c->db), 0);
	assert_int_equal(store_console_init(c->db), 0);
	for (i = 0; i < CL_MAX; i++) {
		assert_int_equal(cl_take(c->db, "192.0.2.1", "o:x", 1000 + i,
		    e, NULL), 0);
		assert_int_equal(e[0].window_start, 1000);
		assert_int_equal(e[1].window_start, 1000);
		if (i == 0)
			memcpy(first, e, sizeof(e));
	}
	assert_int_equal(cl_take(c->db, "192.0.2.1", "o:y", 1100, e, &full),
	    LK_ERR_RANGE);
	assert_int_equal(full, 0);
	assert_int_equal(cl_fails(c->db, "acct", "o:y"), -1);
	/* The account is full too: the new address's take is undone. */
	assert_int_equal(cl_take(c->db, "192.0.2.2", "o:x", 1100, e, &full),
	    LK_ERR_RANGE);
	assert_int_equal(full, 1);
	assert_int_equal(cl_fails(c->db, "addr", "192.0.2.2"), -1);
	/* A give-back returns one to each, never below 0. */
	assert_int_equal(store_climit_give(c->db, first, 2), 0);
	assert_int_equal(cl_fails(c->db, "acct", "o:x"), CL_MAX - 1);
	assert_int_equal(cl_take(c->db, "192.0.2.2", "o:x", 1100, e, NULL), 0);
	assert_int_equal(cl_fails(c->db, "acct", "o:x"), CL_MAX);
	assert_int_equal(cl_fails(c->db, "addr", "192.0.2.2"), 1);
	/* The window ends CL_WINDOW after its start: a new one, of one. */
	assert_int_equal(cl_take(c->db, "192.0.2.1", "o:z", 1000 + CL_WINDOW -
	    1, e, NULL), 0);
	assert_int_equal(cl_take(c->db, "192.0.2.1", "o:z", 1000 + CL_WINDOW -
	    1, e, &full), LK_ERR_RANGE);
	assert_int_equal(full, 0);
	assert_int_equal(cl_take(c->db, "192.0.2.1", "o:z", 1000 + CL_WINDOW,
	    old, NULL), 0);
	assert_int_equal(old[0].window_start, 1000 + CL_WINDOW);
	assert_int_equal(cl_fails(c->db, "addr", "192.0.2.1"), 1);
	/* A ticket of the ended window gives nothing to the new one. */
	assert_int_equal(store_climit_give(c->db, first, 1), 0);
	assert_int_equal(cl_fails(c->db, "addr", "192.0.2.1"), 1);
	assert_int_equal(store_climit_give(c->db, old, 1), 0);
	assert_int_equal(store_climit_give(c->db, old, 1), 0);
	assert_int_equal(cl_fails(c->db, "addr", "192.0.2.1"), 0);
	/* A clock a little behind counts in the window; far behind, anew. */
	assert_int_equal(cl_take(c->db, "192.0.2.1", "o:z", 1000 + CL_WINDOW -
	    CL_SKEW, e, NULL), 0);
	assert_int_equal(e[0].window_start, 1000 + CL_WINDOW);
	assert_int_equal(cl_fails(c->db, "addr", "192.0.2.1"), 1);
	assert_int_equal(cl_take(c->db, "192.0.2.1", "o:z", 1000, e, NULL), 0);
	assert_int_equal(e[0].window_start, 1000);
	/* The sweep deletes only what started before or after its bounds. */
	assert_int_equal(store_climit_sweep(c->db, 1000, 1000), 0);
	assert_int_equal(cl_fails(c->db, "addr", "192.0.2.1"), 1);
	assert_int_equal(cl_fails(c->db, "addr", "192.0.2.2"), -1);
	assert_int_equal(cl_fails(c->db, "acct", "o:x"), CL_MAX);
	assert_int_equal(store_climit_sweep(c->db, 1001, 1001), 0);
	assert_int_equal(cl_fails(c->db, "acct", "o:x"), -1);
	assert_int_equal(store_climit_clear(c->db), 0);
	assert_int_equal(cl_fails(c->db, "addr", "192.0.2.1"), -1);
}

/*
 * Two handles on one database, as two replicas have: SQLite, a file;
 * PostgreSQL, a new database of the test cluster.
 */
static int
cl_open_pair(int backend, struct lkdb **db1, struct lkdb **db2, char *path,
    size_t size)
{
	static unsigned int seq;
	const char *dir;
	char cmd[512];
	FILE *f;
	int ok;

	*db1 = *db2 = NULL;
	if (backend == DBTEST_SQLITE) {
		snprintf(path, size, "/tmp/lk-climit-%ld-%u.db", (long)getpid(),
		    seq++);
	} else {
		if ((dir = dbtest_cluster()) == NULL)
			return -1;
		snprintf(cmd, sizeof(cmd), "tests/tools/pg-cluster createdb %s "
		    "unit_%ld_pair%u", dir, (long)getpid(), seq++);
		if ((f = popen(cmd, "r")) == NULL)
			return -1;
		ok = fgets(path, (int)size, f) != NULL;
		if (pclose(f) != 0 || !ok)
			return -1;
		path[strcspn(path, "\n")] = '\0';
	}
	if (lkdb_open(path, db1) != 0 || lkdb_open(path, db2) != 0)
		return -1;
	return 0;
}

static void
cl_close_pair(int backend, struct lkdb *db1, struct lkdb *db2,
    const char *path)
{
	char p[600];

	lkdb_close(db1);
	lkdb_close(db2);
	if (backend == DBTEST_SQLITE) {
		unlink(path);
		snprintf(p, sizeof(p), "%s-wal", path);
		unlink(p);
		snprintf(p, sizeof(p), "%s-shm", path);
		unlink(p);
	}
}

#define CL_THREADS	16
#define CL_ROUNDS	5

struct cl_job {
	struct lkdb		*db;
	pthread_barrier_t	*start;
	char			 addr[32];
	const char		*acct;
	int64_t			 now;
	struct store_climit	 e[2];
	size_t			 full;
	int			 r;
};

static void *
cl_thread(void *arg)
{
	struct cl_job *j = arg;

	pthread_barrier_wait(j->start);
	j->r = cl_take(j->db, j->addr, j->acct, j->now, j->e, &j->full);
	return NULL;
}

/*
 * 16 threads, half on each "replica", take from one account at once from
 * 16 addresses: exactly CL_MAX succeed, the rest are refused for the
 * account and count nothing for their address; then each replica sees
 * the other's count and give-back.
 */
static void
test_climit_replicas(void **state)
{
	struct tctx *c = *state;
	struct lkdb *db[2];
	struct cl_job jobs[CL_THREADS];
	pthread_t th[CL_THREADS];
	pthread_barrier_t b;
	struct store_climit e[2];
	char path[512], acct[32];
	size_t full;
	int i, k, ok, back = -1;

	assert_int_equal(cl_open_pair(c->backend, &db[0], &db[1], path,
	    sizeof(path)), 0);
	assert_int_equal(store_console_init(db[0]), 0);
	assert_int_equal(store_console_init(db[1]), 0);
	for (k = 0; k < CL_ROUNDS; k++) {
		snprintf(acct, sizeof(acct), "o:victim%d", k);
		assert_int_equal(pthread_barrier_init(&b, NULL, CL_THREADS), 0);
		for (i = 0; i < CL_THREADS; i++) {
			memset(&jobs[i], 0, sizeof(jobs[i]));
			jobs[i].db = db[i % 2];
			jobs[i].start = &b;
			snprintf(jobs[i].addr, sizeof(jobs[i].addr),
			    "198.51.100.%d", k * CL_THREADS + i);
			jobs[i].acct = acct;
			jobs[i].now = 5000;
			jobs[i].r = 1;
			assert_int_equal(pthread_create(&th[i], NULL,
			    cl_thread, &jobs[i]), 0);
		}
		for (i = 0; i < CL_THREADS; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&b);
		for (ok = 0, i = 0; i < CL_THREADS; i++) {
			if (jobs[i].r == 0) {
				ok++;
				back = i;
				assert_int_equal(cl_fails(db[0], "addr",
				    jobs[i].addr), 1);
				continue;
			}
			assert_int_equal(jobs[i].r, LK_ERR_RANGE);
			assert_int_equal(jobs[i].full, 1);
			assert_int_equal(cl_fails(db[1], "addr", jobs[i].addr),
			    -1);
		}
		assert_int_equal(ok, CL_MAX);
		assert_int_equal(cl_fails(db[0], "acct", acct), CL_MAX);
		assert_int_equal(cl_fails(db[1], "acct", acct), CL_MAX);
	}
	/* Full for both; a give-back on one makes room on the other. */
	assert_int_equal(cl_take(db[0], "192.0.2.50", acct, 5001, e, &full),
	    LK_ERR_RANGE);
	assert_int_equal(cl_take(db[1], "192.0.2.50", acct, 5001, e, &full),
	    LK_ERR_RANGE);
	assert_true(back >= 0);
	assert_int_equal(store_climit_give(db[(back + 1) % 2], jobs[back].e,
	    2), 0);
	assert_int_equal(cl_take(db[back % 2], "192.0.2.50", acct, 5001, e,
	    NULL), 0);
	assert_int_equal(cl_take(db[(back + 1) % 2], "192.0.2.51", acct, 5001,
	    e, &full), LK_ERR_RANGE);
	/* The window ends for both. */
	assert_int_equal(cl_take(db[1], "192.0.2.52", acct, 5000 + CL_WINDOW,
	    e, NULL), 0);
	assert_int_equal(cl_fails(db[0], "acct", acct), 1);
	cl_close_pair(c->backend, db[0], db[1], path);
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
		BOTH(test_climit_window),
		BOTH(test_climit_replicas),
	};

	log_init("test_storage_keys", 0, 0);
	return cmocka_run_group_tests_name("storage: keys, nonces, operators, "
	    "console sessions and sign-in failures", tests, NULL, NULL);
}
