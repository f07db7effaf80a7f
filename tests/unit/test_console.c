/*
 * server/console_parse.c and console_auth.c: the Cookie and Origin
 * headers, the sign-in and action-call bodies with hostile input; password
 * hashes; operators, access-key sign-in, sessions (expiry, sign-out, a
 * disabled key or operator), the sign-in limiter (per address and per
 * account, reserved in the database before the check) and the hashing gate
 * (sign-ins in parallel threads), once on each storage backend (SQLite
 * in memory, PostgreSQL: tests/unit/dbtest.h; run from the top of the
 * tree, as root).
 */
#include "unit.h"

#include <sys/resource.h>

#include <pthread.h>
#include <time.h>

#include <openssl/rand.h>

#include "console.h"
#include "dbtest.h"
#include "err.h"
#include "log.h"

static struct lkd_env test_env;
struct lkd_env *lkd = &test_env;

/* ------------------------------------------------------------------ */
/* Cookie header */

static void
test_cookie_found(void **state)
{
	char v[80];

	(void)state;
	assert_int_equal(console_cookie_get("lk_console=abc", "lk_console", v,
	    sizeof(v)), 0);
	assert_string_equal(v, "abc");
	assert_int_equal(console_cookie_get("a=1; lk_console=abc; b=2",
	    "lk_console", v, sizeof(v)), 0);
	assert_string_equal(v, "abc");
	assert_int_equal(console_cookie_get("a=1;lk_console=x-y_z;b",
	    "lk_console", v, sizeof(v)), 0);
	assert_string_equal(v, "x-y_z");
	assert_int_equal(console_cookie_get("  lk_console=abc  ;",
	    "lk_console", v, sizeof(v)), 0);
	assert_string_equal(v, "abc");
	assert_int_equal(console_cookie_get("lk_console=", "lk_console", v,
	    sizeof(v)), 0);
	assert_string_equal(v, "");
}

static void
test_cookie_not_ours(void **state)
{
	static const char *const h[] = {
		"", ";", ";;;", "a=1", "xlk_console=abc", "lk_console2=abc",
		"lk_consol=abc", "LK_CONSOLE=abc", "lk_console", "a=lk_console=1",
		"lk_console abc", " =lk_console",
	};
	char v[80];
	size_t i;

	(void)state;
	assert_int_equal(console_cookie_get(NULL, "lk_console", v, sizeof(v)),
	    LK_ERR_NOT_FOUND);
	for (i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
		assert_int_equal(console_cookie_get(h[i], "lk_console", v,
		    sizeof(v)), LK_ERR_NOT_FOUND);
		assert_string_equal(v, "");
	}
}

static void
test_cookie_hostile(void **state)
{
	static const char *const bad[] = {
		"lk_console=a b", "lk_console=\"abc\"", "lk_console=a,b",
		"lk_console=a\\b", "lk_console=a\x01", "lk_console=\xc3\xa9",
		"lk_console=a\tb", "lk_console=1; lk_console=2",
		"lk_console=1;lk_console=1",
	};
	char v[8], *big;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(console_cookie_get(bad[i], "lk_console", v,
		    sizeof(v)), LK_ERR_INVALID_FORMAT);
	assert_int_equal(console_cookie_get("lk_console=12345678",
	    "lk_console", v, sizeof(v)), LK_ERR_TOO_LONG);
	assert_int_equal(console_cookie_get("lk_console=1234567",
	    "lk_console", v, sizeof(v)), 0);
	big = malloc(CONSOLE_COOKIE_MAX + 2);
	assert_non_null(big);
	memset(big, 'a', CONSOLE_COOKIE_MAX + 1);
	big[CONSOLE_COOKIE_MAX + 1] = '\0';
	assert_int_equal(console_cookie_get(big, "lk_console", v, sizeof(v)),
	    LK_ERR_TOO_LONG);
	free(big);
}

static void
test_hex(void **state)
{
	(void)state;
	assert_true(console_hex_ok("0123456789abcdef", 16));
	assert_false(console_hex_ok("0123456789ABCDEF", 16));
	assert_false(console_hex_ok("0123456789abcde", 16));
	assert_false(console_hex_ok("0123456789abcdef0", 16));
	assert_false(console_hex_ok("0123456789abcdeg", 16));
	assert_false(console_hex_ok(NULL, 0));
	assert_true(console_hex_ok("", 0));
}

static void
test_origin(void **state)
{
	(void)state;
	assert_true(console_origin_ok("http://127.0.0.1:8080",
	    "127.0.0.1:8080", 0));
	assert_true(console_origin_ok("https://Console.Example:8443",
	    "console.example:8443", 1));
	assert_false(console_origin_ok("https://127.0.0.1:8080",
	    "127.0.0.1:8080", 0));
	assert_false(console_origin_ok("http://127.0.0.1:8080",
	    "127.0.0.1:8080", 1));
	assert_false(console_origin_ok("http://127.0.0.1:8081",
	    "127.0.0.1:8080", 0));
	assert_false(console_origin_ok("http://127.0.0.1:8080/",
	    "127.0.0.1:8080", 0));
	assert_false(console_origin_ok("http://evil.example", "127.0.0.1", 0));
	assert_false(console_origin_ok("null", "127.0.0.1", 0));
	assert_false(console_origin_ok("http://127.0.0.1", NULL, 0));
	assert_false(console_origin_ok("http://127.0.0.1", "", 0));
	assert_false(console_origin_ok(NULL, "127.0.0.1", 0));
	assert_false(console_origin_ok("http://a@127.0.0.1", "a@127.0.0.1", 0));
	assert_false(console_origin_ok("http://127.0.0.1 x", "127.0.0.1 x",
	    0));
}

/* ------------------------------------------------------------------ */
/* Sign-in body */

static void
test_signin_good(void **state)
{
	struct console_signin si;
	const char *f, *b;

	(void)state;
	b = "{\"AccessKeyId\":\"LTAIabc\",\"AccessKeySecret\":\"s3cr\\u00e9t\"}";
	assert_int_equal(console_signin_parse(b, strlen(b), &si, &f), 0);
	assert_int_equal(si.kind, CONSOLE_KIND_KEY);
	assert_string_equal(si.name, "LTAIabc");
	assert_string_equal(si.secret, "s3cr\xc3\xa9t");
	console_signin_free(&si);
	assert_null(si.name);
	b = "{\"Password\":\"pw\",\"Operator\":\"ops\"}";
	assert_int_equal(console_signin_parse(b, strlen(b), &si, &f), 0);
	assert_int_equal(si.kind, CONSOLE_KIND_OPERATOR);
	assert_string_equal(si.name, "ops");
	assert_string_equal(si.secret, "pw");
	console_signin_free(&si);
}

static void
test_signin_hostile(void **state)
{
	static const struct { const char *body, *field; } bad[] = {
		{ "", "" }, { "null", "" }, { "[]", "" }, { "\"x\"", "" },
		{ "{}", "" }, { "{\"AccessKeyId\":\"a\"}", "" },
		{ "{\"AccessKeyId\":\"a\",\"AccessKeySecret\":\"b\",\"x\":1}",
		    "" },
		{ "{\"AccessKeyId\":\"a\",\"AccessKeyId\":\"b\"}", "" },
		{ "{\"AccessKeyId\":\"\",\"AccessKeySecret\":\"b\"}",
		    "AccessKeyId" },
		{ "{\"AccessKeyId\":1,\"AccessKeySecret\":\"b\"}",
		    "AccessKeyId" },
		{ "{\"AccessKeyId\":\"a\",\"AccessKeySecret\":null}",
		    "AccessKeySecret" },
		{ "{\"AccessKeyId\":\"a\",\"Password\":\"b\"}",
		    "AccessKeySecret" },
		{ "{\"Operator\":\"a\",\"Secret\":\"b\"}", "Password" },
		{ "{\"Operator\":\"a\\u0000b\",\"Password\":\"b\"}", "" },
		{ "{\"Operator\":[\"a\"],\"Password\":\"b\"}", "Operator" },
		{ "{\"Operator\":\"a\",\"Password\":\"b\"} x", "" },
	};
	struct console_signin si;
	const char *f;
	char *big;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(console_signin_parse(bad[i].body,
		    strlen(bad[i].body), &si, &f), 0);
		assert_string_equal(f, bad[i].field);
		assert_null(si.name);
		assert_null(si.secret);
	}
	/* A name over 64 bytes, a body over the limit. */
	assert_int_equal(asprintf(&big, "{\"Operator\":\"%065d\","
	    "\"Password\":\"x\"}", 0) > 0, 1);
	assert_int_equal(console_signin_parse(big, strlen(big), &si, &f),
	    LK_ERR_TOO_LONG);
	assert_string_equal(f, "Operator");
	free(big);
	big = calloc(1, CONSOLE_SIGNIN_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', CONSOLE_SIGNIN_MAX + 1);
	assert_int_equal(console_signin_parse(big, CONSOLE_SIGNIN_MAX + 1, &si,
	    &f), LK_ERR_TOO_LONG);
	free(big);
}

/* ------------------------------------------------------------------ */
/* Action call body */

static void
test_call_good(void **state)
{
	struct lk_params p;
	char *action, field[64];
	const char *b = "{\"Action\":\"InvokeCommand\",\"Params\":{"
	    "\"CommandId\":\"c-1\",\"InstanceId.1\":\"i-1\",\"Timeout\":60,"
	    "\"Latest\":true,\"Neg\":-3,\"Parameters\":\"{\\\"a\\\":1}\"}}";

	(void)state;
	assert_int_equal(console_call_parse(b, strlen(b), &action, &p, field,
	    sizeof(field)), 0);
	assert_string_equal(action, "InvokeCommand");
	assert_int_equal(p.n, 6);
	assert_string_equal(lk_params_get(&p, "CommandId"), "c-1");
	assert_string_equal(lk_params_get(&p, "InstanceId.1"), "i-1");
	assert_string_equal(lk_params_get(&p, "Timeout"), "60");
	assert_string_equal(lk_params_get(&p, "Latest"), "true");
	assert_string_equal(lk_params_get(&p, "Neg"), "-3");
	assert_string_equal(lk_params_get(&p, "Parameters"), "{\"a\":1}");
	free(action);
	lk_params_free(&p);
	b = "{\"Action\":\"DescribeInstances\"}";
	assert_int_equal(console_call_parse(b, strlen(b), &action, &p, field,
	    sizeof(field)), 0);
	assert_int_equal(p.n, 0);
	free(action);
	lk_params_free(&p);
}

static void
test_call_hostile(void **state)
{
	static const struct { const char *body, *field; } bad[] = {
		{ "", "" }, { "[]", "" }, { "{}", "Action" },
		{ "{\"Action\":\"\"}", "Action" },
		{ "{\"Action\":\"Describe Instances\"}", "Action" },
		{ "{\"Action\":\"Describe.Instances\"}", "Action" },
		{ "{\"Action\":\"../x\"}", "Action" },
		{ "{\"Action\":5}", "Action" },
		{ "{\"Action\":\"A\",\"Params\":[]}", "Params" },
		{ "{\"Action\":\"A\",\"Params\":\"x\"}", "Params" },
		{ "{\"Action\":\"A\",\"Other\":{}}", "Params" },
		{ "{\"Action\":\"A\",\"Params\":{},\"x\":1}", "Params" },
		{ "{\"Action\":\"A\",\"Params\":{\"a\":null}}", "a" },
		{ "{\"Action\":\"A\",\"Params\":{\"a\":1.5}}", "a" },
		{ "{\"Action\":\"A\",\"Params\":{\"a\":{}}}", "a" },
		{ "{\"Action\":\"A\",\"Params\":{\"a\":[1]}}", "a" },
		{ "{\"Action\":\"A\",\"Params\":{\"\":\"x\"}}", "" },
		{ "{\"Action\":\"A\",\"Params\":{\"a\":\"x\",\"a\":\"y\"}}", "" },
		{ "{\"Action\":\"A\",\"Params\":{\"a\":\"x\\u0000y\"}}", "" },
		{ "{\"Action\":\"A\",\"Action\":\"B\"}", "" },
	};
	struct lk_params p;
	char *action, field[64], *big, *q;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(console_call_parse(bad[i].body,
		    strlen(bad[i].body), &action, &p, field, sizeof(field)), 0);
		assert_string_equal(field, bad[i].field);
		assert_null(action);
		assert_int_equal(p.n, 0);
		assert_null(p.v);
	}
	/* A name over LK_PARAMS_NAME_MAX; more than LK_PARAMS_MAX names. */
	assert_true(asprintf(&big, "{\"Action\":\"A\",\"Params\":{\"%0129d\":"
	    "\"x\"}}", 0) > 0);
	assert_int_not_equal(console_call_parse(big, strlen(big), &action, &p,
	    field, sizeof(field)), 0);
	free(big);
	big = malloc(64 * (LK_PARAMS_MAX + 2));
	assert_non_null(big);
	q = big + snprintf(big, 64, "{\"Action\":\"A\",\"Params\":{");
	for (i = 0; i <= LK_PARAMS_MAX; i++)
		q += snprintf(q, 64, "%s\"p%zu\":\"v\"", i ? "," : "", i);
	snprintf(q, 64, "}}");
	assert_int_equal(console_call_parse(big, strlen(big), &action, &p,
	    field, sizeof(field)), LK_ERR_TOO_LONG);
	assert_int_equal(p.n, 0);
	free(big);
	/* A hostile name comes back escaped, for the log and the page. */
	big = strdup("{\"Action\":\"A\",\"Params\":{\"a\\nb\":null}}");
	assert_int_not_equal(console_call_parse(big, strlen(big), &action, &p,
	    field, sizeof(field)), 0);
	assert_string_equal(field, "a\\x0ab");
	free(big);
}

/* ------------------------------------------------------------------ */
/* Passwords */

static void
test_password_hash(void **state)
{
	char *h = NULL, *h2 = NULL, *t;
	size_t i;
	static const char *const bad[] = {
		"", "$scrypt$", "$scrypt$ln=15,r=8,p=1$", "$argon2$x",
		"$scrypt$ln=30,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"$scrypt$ln=15,r=8,p=1$!!$AAAA",
		"$scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",
		"$scrypt$ln=-1,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",
		"$scrypt$ln=15,p=1,r=8$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",
	};

	(void)state;
	assert_int_equal(console_pw_hash("correct horse", &h), 0);
	assert_int_equal(console_pw_hash("correct horse", &h2), 0);
	assert_non_null(h);
	assert_true(strncmp(h, "$scrypt$ln=15,r=8,p=1$", 22) == 0);
	assert_string_not_equal(h, h2);		/* salted */
	assert_int_equal(console_pw_check("correct horse", h), 0);
	assert_int_equal(console_pw_check("correct horse", h2), 0);
	assert_int_equal(console_pw_check("correct hors", h), LK_ERR_NOT_FOUND);
	assert_int_equal(console_pw_check("", h), LK_ERR_NOT_FOUND);
	/* One changed character in the stored key: refused. */
	t = strdup(h);
	t[strlen(t) - 3] = t[strlen(t) - 3] == 'A' ? 'B' : 'A';
	assert_int_not_equal(console_pw_check("correct horse", t), 0);
	free(t);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(console_pw_check("x", bad[i]),
		    LK_ERR_INVALID_FORMAT);
	free(h);
	free(h2);
}

/* ------------------------------------------------------------------ */
/* Database-backed: operators, keys, sessions, the limiter */

/*
 * A new database of the backend for the group; the sign-in limiter starts
 * empty, as the group's cases expect (they run once per backend).
 */
static int
db_setup(int backend)
{
	log_init("test_console", 0, 0);
	if (RAND_bytes(lkd->master, sizeof(lkd->master)) != 1 ||
	    dbtest_open(backend, &lkd->db) != 0) {
		fprintf(stderr, "test_console: no %s database\n",
		    dbtest_name(backend));
		return -1;
	}
	snprintf(lkd->region, sizeof(lkd->region), "cn-hangzhou");
	if (console_limit_clear() != 0) {
		fprintf(stderr, "test_console: no sign-in limiter on %s\n",
		    dbtest_name(backend));
		return -1;
	}
	return 0;
}

static int
db_setup_sqlite(void **state)
{
	(void)state;
	return db_setup(DBTEST_SQLITE);
}

static int
db_setup_pg(void **state)
{
	(void)state;
	return db_setup(DBTEST_PG);
}

static int
db_teardown(void **state)
{
	(void)state;
	lkdb_close(lkd->db);
	lkd->db = NULL;
	return 0;
}

static int
db_count_cb(const struct lkdb_row *st, void *arg)
{
	(void)st;
	(*(int *)arg)++;
	return 0;
}

/* Rows of sql, whose two '?' both get arg. */
static int
db_count(const char *sql, const char *arg)
{
	int n = 0;

	if (lkdb_query(lkd->db, db_count_cb, &n, sql, "ss", arg, arg) != 0)
		return -1;
	return n;
}

static void
test_operators(void **state)
{
	json_t *list;

	(void)state;
	assert_true(console_operator_name_ok("ops"));
	assert_true(console_operator_name_ok("a.b_c-d9"));
	assert_false(console_operator_name_ok(""));
	assert_false(console_operator_name_ok("-x"));
	assert_false(console_operator_name_ok("a b"));
	assert_false(console_operator_name_ok("a/b"));
	assert_false(console_operator_name_ok("operator:x"));
	assert_int_equal(console_operator_create("bad name", "longenough"),
	    LK_ERR_USER_INVALID);
	assert_int_equal(console_operator_create("ops", "short"), LK_ERR_RANGE);
	assert_int_equal(console_operator_create("ops", "long enough pw"), 0);
	assert_int_equal(console_operator_create("ops", "another pw!"),
	    LK_ERR_INVALID_FORMAT);
	assert_int_equal(console_operator_verify("ops", "long enough pw"), 0);
	assert_int_equal(console_operator_verify("ops", "long enough pW"),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(console_operator_verify("nobody", "long enough pw"),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(console_operator_verify("bad name", "x"),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(console_operator_list(&list), 0);
	assert_int_equal(json_array_size(list), 1);
	assert_null(json_object_get(json_array_get(list, 0), "pw_hash"));
	json_decref(list);
	assert_int_equal(console_operator_disable("ops"), 0);
	assert_int_equal(console_operator_verify("ops", "long enough pw"),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(console_operator_disable("nobody"), LK_ERR_NOT_FOUND);
}

static void
test_key_verify(void **state)
{
	char *id = NULL, *secret = NULL;

	(void)state;
	assert_int_equal(keys_create("t", NULL, NULL, NULL, &id, &secret), 0);
	assert_int_equal(console_key_verify(id, secret), 0);
	secret[0] ^= 1;
	assert_int_equal(console_key_verify(id, secret), LK_ERR_NOT_FOUND);
	secret[0] ^= 1;
	assert_int_equal(console_key_verify("LTAInosuchkey", secret),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(console_key_verify(id, ""), LK_ERR_NOT_FOUND);
	assert_int_equal(keys_disable(id), 0);
	assert_int_equal(console_key_verify(id, secret), LK_ERR_NOT_FOUND);
	free(id);
	free(secret);
}

static void
test_sessions(void **state)
{
	struct console_session s, got;
	struct lkd_policy pol;
	char sid[CONSOLE_SID_HEX + 1], sid2[CONSOLE_SID_HEX + 1], kid[96];
	char *id = NULL, *secret = NULL, *wrong;

	(void)state;
	assert_int_equal(keys_create("t", "DescribeInstances", "i-1", NULL,
	    &id, &secret), 0);
	assert_int_equal(console_session_create(CONSOLE_KIND_KEY, id, sid, &s),
	    0);
	assert_true(console_hex_ok(sid, CONSOLE_SID_HEX));
	assert_true(console_hex_ok(s.csrf, CONSOLE_CSRF_HEX));
	assert_int_equal(console_session_create(CONSOLE_KIND_KEY, id, sid2,
	    &got), 0);
	assert_string_not_equal(sid, sid2);
	assert_int_equal(console_session_get(sid, &got), 0);
	assert_int_equal(got.kind, CONSOLE_KIND_KEY);
	assert_string_equal(got.principal, id);
	assert_string_equal(got.csrf, s.csrf);
	/* The identity carries the key's policy. */
	assert_int_equal(console_session_identity(&got, kid, sizeof(kid),
	    &pol), 0);
	assert_string_equal(kid, id);
	assert_true(keys_policy_action(&pol, "DescribeInstances"));
	assert_false(keys_policy_action(&pol, "InvokeCommand"));
	assert_false(keys_policy_instance(&pol, "i-2", NULL));
	keys_policy_free(&pol);
	/* The database never holds the id itself. */
	assert_int_equal(db_count("SELECT 1 FROM console_sessions WHERE "
	    "id_hash = ? OR csrf = ?", sid), 0);
	assert_int_equal(db_count("SELECT 1 FROM console_sessions WHERE "
	    "id_hash != ? AND principal = ?", id), 2);
	/* Unknown, malformed and upper-case ids. */
	wrong = strdup(sid);
	wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
	assert_int_equal(console_session_get(wrong, &got), LK_ERR_NOT_FOUND);
	assert_int_equal(console_session_get("", &got), LK_ERR_NOT_FOUND);
	assert_int_equal(console_session_get("' OR 1=1 --", &got),
	    LK_ERR_NOT_FOUND);
	free(wrong);
	/* Sign-out. */
	assert_int_equal(console_session_delete(sid), 0);
	assert_int_equal(console_session_get(sid, &got), LK_ERR_NOT_FOUND);
	/* Idle too long, too old. */
	assert_int_equal(lkdb_run(lkd->db, NULL, "UPDATE console_sessions SET "
	    "last_used = ?", "i", lkd_now() - CONSOLE_IDLE - 1), 0);
	assert_int_equal(console_session_get(sid2, &got), LK_ERR_NOT_FOUND);
	assert_int_equal(console_session_create(CONSOLE_KIND_KEY, id, sid, &s),
	    0);
	assert_int_equal(lkdb_run(lkd->db, NULL, "UPDATE console_sessions SET "
	    "created = ?", "i", lkd_now() - CONSOLE_MAX_AGE - 1), 0);
	assert_int_equal(console_session_get(sid, &got), LK_ERR_NOT_FOUND);
	/* A key disabled after sign-in ends its sessions. */
	assert_int_equal(console_session_create(CONSOLE_KIND_KEY, id, sid, &s),
	    0);
	assert_int_equal(keys_disable(id), 0);
	assert_int_equal(console_session_get(sid, &got), LK_ERR_NOT_FOUND);
	assert_int_equal(console_session_identity(&s, kid, sizeof(kid), &pol),
	    LK_ERR_NOT_FOUND);
	free(id);
	free(secret);
}

static void
test_operator_sessions(void **state)
{
	struct console_session s, got;
	struct lkd_policy pol;
	char sid[CONSOLE_SID_HEX + 1], kid[96];

	(void)state;
	assert_int_equal(console_operator_create("op2", "long enough pw"), 0);
	assert_int_equal(console_session_create(CONSOLE_KIND_OPERATOR, "op2",
	    sid, &s), 0);
	assert_int_equal(console_session_get(sid, &got), 0);
	assert_int_equal(got.kind, CONSOLE_KIND_OPERATOR);
	assert_int_equal(console_session_identity(&got, kid, sizeof(kid),
	    &pol), 0);
	assert_string_equal(kid, CONSOLE_OPERATOR_PREFIX "op2");
	assert_null(pol.actions);	/* the whole policy */
	assert_null(pol.instances);
	assert_null(pol.users);
	assert_int_equal(console_operator_disable("op2"), 0);
	assert_int_equal(console_session_get(sid, &got), LK_ERR_NOT_FOUND);
}

/*
 * The limiter on its own, at chosen times. Each test runs in a time of its
 * own, far from the others' (an entry from the "future" counts as stale),
 * so they do not see each other's entries.
 */
static void
test_limiter(void **state)
{
	struct console_limit_ticket t;
	enum console_limit_which w;
	int64_t now = lkd_now() + 100000;
	char name[32];
	int i;

	(void)state;
	/* Per address: 10 failures on 10 names, then refused, changing nothing. */
	for (i = 0; i < CONSOLE_LIMIT_FAILS; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(console_limit_reserve("192.0.2.1",
		    CONSOLE_KIND_KEY, name, now, &t, &w), 0);
		assert_int_equal(w, CONSOLE_LIMIT_NONE);
	}
	assert_int_equal(console_limit_reserve("192.0.2.1", CONSOLE_KIND_KEY,
	    "other", now, &t, &w), LK_ERR_RANGE);
	assert_int_equal(w, CONSOLE_LIMIT_ADDR);
	assert_int_equal(t.taken, 0);
	console_limit_giveback(&t);		/* a refused ticket: nothing */
	assert_int_equal(console_limit_reserve("192.0.2.1", CONSOLE_KIND_KEY,
	    "other", now, &t, &w), LK_ERR_RANGE);
	/* The refused attempts did not count for the account "other". */
	for (i = 0; i < CONSOLE_LIMIT_FAILS - 1; i++) {
		snprintf(name, sizeof(name), "198.51.100.%d", i);
		assert_int_equal(console_limit_reserve(name, CONSOLE_KIND_KEY,
		    "other", now, &t, &w), 0);
	}
	/* Another address is not limited; a give-back returns one. */
	assert_int_equal(console_limit_reserve("192.0.2.2", CONSOLE_KIND_KEY,
	    "n0", now, &t, &w), 0);
	console_limit_giveback(&t);
	console_limit_giveback(&t);		/* twice: still one */
	assert_int_equal(console_limit_reserve("192.0.2.2", CONSOLE_KIND_KEY,
	    "n1", now, &t, &w), 0);
	/* The window ends 300 s after its first failure. */
	assert_int_equal(console_limit_reserve("192.0.2.1", CONSOLE_KIND_KEY,
	    "x", now + CONSOLE_LIMIT_WINDOW - 1, &t, &w), LK_ERR_RANGE);
	assert_int_equal(console_limit_reserve("192.0.2.1", CONSOLE_KIND_KEY,
	    "x", now + CONSOLE_LIMIT_WINDOW, &t, &w), 0);
	/* A clock set back ends it too. */
	assert_int_equal(console_limit_reserve("192.0.2.2", CONSOLE_KIND_KEY,
	    "y", now - 1000, &t, &w), 0);
}

static void
test_limiter_account(void **state)
{
	struct console_limit_ticket t, old;
	enum console_limit_which w;
	int64_t now = lkd_now() + 200000;
	char addr[32];
	int i;

	(void)state;
	/* 10 addresses fail once each on one account: it is full. */
	for (i = 0; i < CONSOLE_LIMIT_FAILS; i++) {
		snprintf(addr, sizeof(addr), "192.0.2.%d", i);
		assert_int_equal(console_limit_reserve(addr,
		    CONSOLE_KIND_OPERATOR, "victim", now, &t, &w), 0);
		if (i == 0)
			old = t;
	}
	assert_int_equal(console_limit_reserve("203.0.113.1",
	    CONSOLE_KIND_OPERATOR, "victim", now, &t, &w), LK_ERR_RANGE);
	assert_int_equal(w, CONSOLE_LIMIT_ACCOUNT);
	/* Operators and keys are apart: the key id "victim" is free. */
	assert_int_equal(console_limit_reserve("203.0.113.1",
	    CONSOLE_KIND_KEY, "victim", now, &t, &w), 0);
	/* The refused attempt did not count for 203.0.113.1: 9 more. */
	for (i = 0; i < CONSOLE_LIMIT_FAILS - 1; i++)
		assert_int_equal(console_limit_reserve("203.0.113.1",
		    CONSOLE_KIND_KEY, "k", now, &t, &w), 0);
	assert_int_equal(console_limit_reserve("203.0.113.1",
	    CONSOLE_KIND_KEY, "k", now, &t, &w), LK_ERR_RANGE);
	assert_int_equal(w, CONSOLE_LIMIT_ADDR);
	/* A ticket from an ended window gives nothing back to the new one. */
	for (i = 0; i < CONSOLE_LIMIT_FAILS; i++)
		assert_int_equal(console_limit_reserve("192.0.2.200",
		    CONSOLE_KIND_OPERATOR, "victim", now + CONSOLE_LIMIT_WINDOW,
		    &t, &w), 0);
	console_limit_giveback(&old);
	assert_int_equal(console_limit_reserve("192.0.2.201",
	    CONSOLE_KIND_OPERATOR, "victim", now + CONSOLE_LIMIT_WINDOW, &t,
	    &w), LK_ERR_RANGE);
	assert_int_equal(w, CONSOLE_LIMIT_ACCOUNT);
}

static void
test_limiter_ipv6(void **state)
{
	struct console_limit_ticket t;
	enum console_limit_which w;
	int64_t now = lkd_now() + 300000;
	char addr[64], name[32];
	int i;

	(void)state;
	/* One /64 is one address: ten hosts in it share ten failures. */
	for (i = 0; i < CONSOLE_LIMIT_FAILS; i++) {
		snprintf(addr, sizeof(addr), "2001:db8:1:2:%x::%x", i, i + 1);
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(console_limit_reserve(addr, CONSOLE_KIND_KEY,
		    name, now, &t, &w), 0);
	}
	assert_int_equal(console_limit_reserve("2001:db8:1:2::ffff",
	    CONSOLE_KIND_KEY, "z", now, &t, &w), LK_ERR_RANGE);
	assert_int_equal(w, CONSOLE_LIMIT_ADDR);
	assert_int_equal(console_limit_reserve("2001:db8:1:3::1",
	    CONSOLE_KIND_KEY, "z", now, &t, &w), 0);
	/* An IPv4-mapped address is its IPv4 address. */
	for (i = 0; i < CONSOLE_LIMIT_FAILS; i++)
		assert_int_equal(console_limit_reserve("192.0.2.77",
		    CONSOLE_KIND_KEY, "m", now, &t, &w), 0);
	assert_int_equal(console_limit_reserve("::ffff:192.0.2.77",
	    CONSOLE_KIND_KEY, "m2", now, &t, &w), LK_ERR_RANGE);
	assert_int_equal(w, CONSOLE_LIMIT_ADDR);
	/* Hostile client strings are keys like any other. */
	assert_int_equal(console_limit_reserve(NULL, CONSOLE_KIND_KEY, "h",
	    now, &t, &w), 0);
	assert_int_equal(console_limit_reserve("::::zz%eth0\n",
	    CONSOLE_KIND_KEY, "h2", now, &t, &w), 0);
}

/*
 * Spraying addresses or names does not erase a guesser's count: no entry
 * is evicted for another.
 */
static void
test_limiter_spray(void **state)
{
	struct console_limit_ticket t;
	enum console_limit_which w;
	int64_t now = lkd_now() + 400000;
	char addr[32], name[32];
	int i;

	(void)state;
	for (i = 0; i < CONSOLE_LIMIT_FAILS - 1; i++)
		assert_int_equal(console_limit_reserve("192.0.2.9",
		    CONSOLE_KIND_OPERATOR, "target", now, &t, &w), 0);
	/*
	 * Later in the window, many new addresses and names, one failure
	 * each: the guesser's entries are now the oldest.
	 */
	now += 10;
	for (i = 0; i < 500; i++) {
		snprintf(addr, sizeof(addr), "10.%d.%d.%d", (i >> 16) & 255,
		    (i >> 8) & 255, i & 255);
		snprintf(name, sizeof(name), "spray%d", i);
		assert_int_equal(console_limit_reserve(addr,
		    CONSOLE_KIND_OPERATOR, name, now, &t, &w), 0);
	}
	/* The address and the account both still hold 9: one more, then no. */
	assert_int_equal(console_limit_reserve("192.0.2.9",
	    CONSOLE_KIND_OPERATOR, "other", now, &t, &w), 0);
	assert_int_equal(console_limit_reserve("192.0.2.9",
	    CONSOLE_KIND_OPERATOR, "other2", now, &t, &w), LK_ERR_RANGE);
	assert_int_equal(w, CONSOLE_LIMIT_ADDR);
	assert_int_equal(console_limit_reserve("192.0.2.10",
	    CONSOLE_KIND_OPERATOR, "target", now, &t, &w), 0);
	assert_int_equal(console_limit_reserve("192.0.2.11",
	    CONSOLE_KIND_OPERATOR, "target", now, &t, &w), LK_ERR_RANGE);
	assert_int_equal(w, CONSOLE_LIMIT_ACCOUNT);
}

/* ------------------------------------------------------------------ */
/* Sign-ins in parallel: the limiter and the hashing gate */

struct signin_job {
	enum console_kind		 kind;
	char				 name[40];
	const char			*secret;
	char				 client[48];
	pthread_barrier_t		*start;
	int				 r;
	enum console_limit_which	 which;
	int64_t				 ms;	/* how long the answer took */
	int				 retry;	/* try a 503 again */
	int				 done;
};

static pthread_mutex_t signin_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t signin_cond = PTHREAD_COND_INITIALIZER;
static int signin_ndone;

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *
signin_thread(void *arg)
{
	struct signin_job *j = arg;
	enum console_limit_which which;
	int64_t t0;
	int r;

	pthread_barrier_wait(j->start);
	t0 = mono_ms();
	/* With retry set, a 503 is tried again (20 ms later, for 60 s). */
	while ((r = console_signin_verify(j->kind, j->name, j->secret,
	    j->client, &which)) == LK_ERR_BUSY && j->retry &&
	    mono_ms() - t0 < 60000) {
		struct timespec ts = { 0, 20 * 1000000L };

		nanosleep(&ts, NULL);
	}
	pthread_mutex_lock(&signin_lock);
	j->r = r;
	j->which = which;
	j->ms = mono_ms() - t0;
	j->done = 1;
	signin_ndone++;
	pthread_cond_broadcast(&signin_cond);
	pthread_mutex_unlock(&signin_lock);
	return NULL;
}

/* Starts n sign-ins at once (behind one barrier). */
static pthread_t *
signin_start(struct signin_job *jobs, int n, pthread_barrier_t *b)
{
	pthread_t *th = calloc((size_t)n, sizeof(*th));
	int i;

	assert_non_null(th);
	signin_ndone = 0;
	assert_int_equal(pthread_barrier_init(b, NULL, (unsigned)n), 0);
	for (i = 0; i < n; i++) {
		jobs[i].start = b;
		assert_int_equal(pthread_create(&th[i], NULL, signin_thread,
		    &jobs[i]), 0);
	}
	return th;
}

static void
signin_join(pthread_t *th, int n, pthread_barrier_t *b)
{
	int i;

	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(b);
	free(th);
}

/* Waits until at least n sign-ins are done, at most 60 s; how many are. */
static int
signin_wait(int n)
{
	struct timespec until;
	int got;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;
	pthread_mutex_lock(&signin_lock);
	while (signin_ndone < n && pthread_cond_timedwait(&signin_cond,
	    &signin_lock, &until) == 0)
		;
	got = signin_ndone;
	pthread_mutex_unlock(&signin_lock);
	return got;
}

static int
signin_count(const struct signin_job *jobs, int n, int r)
{
	int i, c = 0;

	for (i = 0; i < n; i++)
		c += jobs[i].done && jobs[i].r == r;
	return c;
}

static uint64_t
hashed_now(void)
{
	struct console_hash_stats st;

	console_hash_stats(&st);
	return st.hashed;
}

static void
test_gate_size(void **state)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	int h = n < 1 ? 1 : n > CONSOLE_HASH_MAX ? CONSOLE_HASH_MAX : (int)n;

	(void)state;
	assert_int_equal(console_hash_slots(), h);
	assert_int_equal(console_hash_queue(), h);
	assert_int_equal(console_signin_workers(), 2 * h);
	assert_true(h >= 1 && h <= 4);
}

/*
 * 50 access-key sign-ins with a wrong secret at once from one address:
 * exactly 10 are checked, 40 refused (429) before any check; then even the
 * right secret is refused from there, and from elsewhere (the account is
 * full too). Key secrets are not hashed with scrypt.
 */
static void
test_signin_parallel_key(void **state)
{
	struct signin_job jobs[50];
	enum console_limit_which w;
	pthread_barrier_t b;
	pthread_t *th;
	char *id = NULL, *secret = NULL;
	uint64_t h0 = hashed_now();
	int i;

	(void)state;
	assert_int_equal(keys_create("t", NULL, NULL, NULL, &id, &secret), 0);
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < 50; i++) {
		jobs[i].kind = CONSOLE_KIND_KEY;
		snprintf(jobs[i].name, sizeof(jobs[i].name), "%s", id);
		jobs[i].secret = "not the secret";
		snprintf(jobs[i].client, sizeof(jobs[i].client),
		    "192.0.2.150");
	}
	th = signin_start(jobs, 50, &b);
	signin_join(th, 50, &b);
	assert_int_equal(signin_count(jobs, 50, LK_ERR_NOT_FOUND),
	    CONSOLE_LIMIT_FAILS);
	assert_int_equal(signin_count(jobs, 50, LK_ERR_RANGE),
	    50 - CONSOLE_LIMIT_FAILS);
	assert_int_equal(hashed_now(), h0);
	assert_int_equal(console_signin_verify(CONSOLE_KIND_KEY, id, secret,
	    "192.0.2.150", &w), LK_ERR_RANGE);
	assert_int_equal(w, CONSOLE_LIMIT_ADDR);
	assert_int_equal(console_signin_verify(CONSOLE_KIND_KEY, id, secret,
	    "192.0.2.151", &w), LK_ERR_RANGE);
	assert_int_equal(w, CONSOLE_LIMIT_ACCOUNT);
	free(id);
	free(secret);
}

/*
 * 50 operator sign-ins with a wrong password at once from one address,
 * each trying again while the gate answers 503: exactly 10 are hashed
 * (each a counted failure), the other 40 are refused with 429 before
 * hashing, however the attempts overlap.
 */
static void
test_signin_parallel_operator(void **state)
{
	struct signin_job jobs[50];
	pthread_barrier_t b;
	pthread_t *th;
	uint64_t h0;
	int i, nf, lim;

	(void)state;
	assert_int_equal(console_operator_create("alice", "alice's password"),
	    0);
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < 50; i++) {
		jobs[i].kind = CONSOLE_KIND_OPERATOR;
		snprintf(jobs[i].name, sizeof(jobs[i].name), "alice");
		jobs[i].secret = "a wrong password";
		snprintf(jobs[i].client, sizeof(jobs[i].client),
		    "192.0.2.160");
		jobs[i].retry = 1;
	}
	h0 = hashed_now();
	th = signin_start(jobs, 50, &b);
	signin_join(th, 50, &b);
	nf = signin_count(jobs, 50, LK_ERR_NOT_FOUND);
	lim = signin_count(jobs, 50, LK_ERR_RANGE);
	print_message("# 50 at once: %d checked, %d 429\n", nf, lim);
	assert_int_equal(nf, CONSOLE_LIMIT_FAILS);
	assert_int_equal(lim, 50 - CONSOLE_LIMIT_FAILS);
	assert_int_equal(hashed_now() - h0, (uint64_t)CONSOLE_LIMIT_FAILS);
	for (i = 0; i < 50; i++)
		if (jobs[i].r == LK_ERR_RANGE)
			assert_int_equal(jobs[i].which, CONSOLE_LIMIT_ADDR);
}

/*
 * The gate with its slots held: 100 sign-ins at once from 100 addresses;
 * the queue takes Q, all others are refused at once (503) and nothing is
 * hashed while the slots are held; released, the waiters hash.
 */
static void
test_signin_gate_held(void **state)
{
	enum { N = 100 };
	struct signin_job *jobs = calloc(N, sizeof(*jobs));
	struct console_hash_stats st;
	pthread_barrier_t b;
	pthread_t *th;
	uint64_t h0;
	int i, h = console_hash_slots(), q = console_hash_queue(), fast = 0;
	int nf, busy;

	(void)state;
	assert_non_null(jobs);
	for (i = 0; i < N; i++) {
		jobs[i].kind = CONSOLE_KIND_OPERATOR;
		snprintf(jobs[i].name, sizeof(jobs[i].name), "ghost-g%d", i);
		jobs[i].secret = "a wrong password";
		snprintf(jobs[i].client, sizeof(jobs[i].client), "198.18.0.%d",
		    i);
	}
	for (i = 0; i < h; i++)
		assert_int_equal(console_hash_enter(), 0);
	h0 = hashed_now();
	th = signin_start(jobs, N, &b);
	assert_true(signin_wait(N - q) >= N - q);
	console_hash_stats(&st);
	pthread_mutex_lock(&signin_lock);
	for (i = 0; i < N; i++) {
		if (!jobs[i].done)
			continue;
		assert_int_equal(jobs[i].r, LK_ERR_BUSY);
		fast += jobs[i].ms < CONSOLE_HASH_WAIT_MS;
	}
	pthread_mutex_unlock(&signin_lock);
	assert_int_equal(st.hashed, h0);
	assert_int_equal(st.running, h);
	assert_true(st.waiting <= q);
	/* Refused at once, not after a wait (a few may have waited it out). */
	print_message("# slots held: %d of %d refused at once\n", fast, N);
	assert_true(fast >= N - 2 * q);
	for (i = 0; i < h; i++)
		console_hash_leave();
	signin_join(th, N, &b);
	nf = signin_count(jobs, N, LK_ERR_NOT_FOUND);
	busy = signin_count(jobs, N, LK_ERR_BUSY);
	assert_int_equal(nf + busy, N);
	assert_true(busy >= N - q);
	assert_int_equal(hashed_now() - h0, (uint64_t)nf);
	console_hash_stats(&st);
	assert_true(st.running_max <= h);
	assert_int_equal(st.running, 0);
	assert_int_equal(st.waiting, 0);
	free(jobs);
}

/*
 * 100 sign-ins at once from 100 addresses with real hashing: never more
 * than H at once, the excess refused (503), memory bounded by H runs.
 */
static void
test_signin_gate_real(void **state)
{
	enum { N = 100 };
	struct signin_job *jobs = calloc(N, sizeof(*jobs));
	struct console_hash_stats st;
	struct rusage ru;
	pthread_barrier_t b;
	pthread_t *th;
	uint64_t h0 = hashed_now();
	int i, h = console_hash_slots(), nf, busy;

	(void)state;
	assert_non_null(jobs);
	for (i = 0; i < N; i++) {
		jobs[i].kind = CONSOLE_KIND_OPERATOR;
		snprintf(jobs[i].name, sizeof(jobs[i].name), "ghost-r%d", i);
		jobs[i].secret = "a wrong password";
		snprintf(jobs[i].client, sizeof(jobs[i].client),
		    "2001:db8:%x::1", i + 1);
	}
	th = signin_start(jobs, N, &b);
	signin_join(th, N, &b);
	nf = signin_count(jobs, N, LK_ERR_NOT_FOUND);
	busy = signin_count(jobs, N, LK_ERR_BUSY);
	console_hash_stats(&st);
	print_message("# 100 at once: %d hashed, %d 503, at most %d at once "
	    "(H=%d)\n", nf, busy, st.running_max, h);
	assert_int_equal(nf + busy, N);
	assert_true(nf >= 1);
	assert_true(busy >= 1);
	assert_int_equal(st.hashed - h0, (uint64_t)nf);
	assert_true(st.running_max <= h);
	for (i = 0; i < N; i++)
		if (jobs[i].r == LK_ERR_BUSY && jobs[i].ms <
		    CONSOLE_HASH_WAIT_MS)
			break;
	assert_true(i < N);		/* some refused at once */
#ifndef __SANITIZE_ADDRESS__
	/* At most H scrypt buffers at once (before: 100 x 32 MiB). */
	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	print_message("# peak RSS %ld KiB\n", ru.ru_maxrss);
	assert_true((uint64_t)ru.ru_maxrss * 1024 <=
	    (uint64_t)(h + 1) * CONSOLE_HASH_MEM + 64 * 1024 * 1024);
#else
	(void)ru;
#endif
	free(jobs);
}

/*
 * Nobody's success resets a count: not another address's, not the
 * account's, not the same address's own.
 */
static void
test_signin_no_reset(void **state)
{
	enum console_limit_which w;
	char addr[32], name[32];
	int i;

	(void)state;
	assert_int_equal(console_operator_create("bob", "bob's password"), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(console_signin_verify(CONSOLE_KIND_OPERATOR,
		    "bob", "wrong", "192.0.2.170", &w), LK_ERR_NOT_FOUND);
	/* Another address signs in; then this one does too. */
	assert_int_equal(console_signin_verify(CONSOLE_KIND_OPERATOR, "bob",
	    "bob's password", "192.0.2.171", &w), 0);
	assert_int_equal(console_signin_verify(CONSOLE_KIND_OPERATOR, "bob",
	    "bob's password", "192.0.2.170", &w), 0);
	/* 192.0.2.170 still holds its 5: five more, then refused. */
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "ghost-n%d", i);
		assert_int_equal(console_signin_verify(CONSOLE_KIND_OPERATOR,
		    name, "wrong", "192.0.2.170", &w), LK_ERR_NOT_FOUND);
	}
	assert_int_equal(console_signin_verify(CONSOLE_KIND_OPERATOR, "bob",
	    "bob's password", "192.0.2.170", &w), LK_ERR_RANGE);
	assert_int_equal(w, CONSOLE_LIMIT_ADDR);
	/* bob still holds its 5: five more from elsewhere fill it. */
	for (i = 0; i < 5; i++) {
		snprintf(addr, sizeof(addr), "192.0.2.%d", 180 + i);
		assert_int_equal(console_signin_verify(CONSOLE_KIND_OPERATOR,
		    "bob", "wrong", addr, &w), LK_ERR_NOT_FOUND);
	}
	assert_int_equal(console_signin_verify(CONSOLE_KIND_OPERATOR, "bob",
	    "bob's password", "192.0.2.190", &w), LK_ERR_RANGE);
	assert_int_equal(w, CONSOLE_LIMIT_ACCOUNT);
}

/*
 * Every operator check hashes once, whatever the name: unknown, malformed
 * or disabled names are checked against the dummy hash. With no slot free
 * a check waits CONSOLE_HASH_WAIT_MS, then answers busy, hashing nothing.
 */
static void
test_signin_hashes(void **state)
{
	enum console_limit_which w;
	uint64_t h0 = hashed_now();
	int64_t t0;
	int i, h = console_hash_slots();

	(void)state;
	assert_int_equal(console_operator_create("carol", "carol's password"),
	    0);
	assert_int_equal(console_operator_verify("carol", "carol's password"),
	    0);
	assert_int_equal(hashed_now(), h0 + 1);
	assert_int_equal(console_operator_verify("carol", "wrong"),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(hashed_now(), h0 + 2);
	assert_int_equal(console_operator_verify("no-such-operator", "x"),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(hashed_now(), h0 + 3);
	assert_int_equal(console_operator_verify("bad name\n", "x"),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(hashed_now(), h0 + 4);
	assert_int_equal(console_operator_disable("carol"), 0);
	assert_int_equal(console_operator_verify("carol", "carol's password"),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(hashed_now(), h0 + 5);
	/* Through the limiter too; a malformed name is counted like any. */
	assert_int_equal(console_signin_verify(CONSOLE_KIND_OPERATOR,
	    "' OR 1=1 --", "x", "192.0.2.200", &w), LK_ERR_NOT_FOUND);
	assert_int_equal(hashed_now(), h0 + 6);
	/* No slot: a wait, then busy; the attempt is not counted. */
	for (i = 0; i < h; i++)
		assert_int_equal(console_hash_enter(), 0);
	t0 = mono_ms();
	assert_int_equal(console_signin_verify(CONSOLE_KIND_OPERATOR, "carol",
	    "x", "192.0.2.201", &w), LK_ERR_BUSY);
	assert_true(mono_ms() - t0 >= CONSOLE_HASH_WAIT_MS - 50);
	for (i = 0; i < h; i++)
		console_hash_leave();
	assert_int_equal(hashed_now(), h0 + 6);
	for (i = 0; i < CONSOLE_LIMIT_FAILS; i++) {
		struct console_limit_ticket t;

		assert_int_equal(console_limit_reserve("192.0.2.201",
		    CONSOLE_KIND_KEY, "k-201", lkd_now(), &t, &w), 0);
	}
}

/*
 * 16 threads fail operator sign-ins for one account at once, each from an
 * address of its own, each trying again while the gate answers 503: the
 * account's count bounds the hash checks to CONSOLE_LIMIT_FAILS (the
 * reservation is taken in the database before hashing), the rest are 429
 * for the account. Five rounds, five accounts.
 */
static void
test_signin_one_account(void **state)
{
	enum { N = 16, ROUNDS = 5 };
	struct signin_job jobs[N];
	pthread_barrier_t b;
	pthread_t *th;
	uint64_t h0;
	int i, k, nf, lim;

	(void)state;
	for (k = 0; k < ROUNDS; k++) {
		memset(jobs, 0, sizeof(jobs));
		for (i = 0; i < N; i++) {
			jobs[i].kind = CONSOLE_KIND_OPERATOR;
			snprintf(jobs[i].name, sizeof(jobs[i].name),
			    "target%d", k);
			jobs[i].secret = "a wrong password";
			snprintf(jobs[i].client, sizeof(jobs[i].client),
			    "198.19.%d.%d", k, i);
			jobs[i].retry = 1;
		}
		h0 = hashed_now();
		th = signin_start(jobs, N, &b);
		signin_join(th, N, &b);
		nf = signin_count(jobs, N, LK_ERR_NOT_FOUND);
		lim = signin_count(jobs, N, LK_ERR_RANGE);
		assert_int_equal(nf, CONSOLE_LIMIT_FAILS);
		assert_int_equal(lim, N - CONSOLE_LIMIT_FAILS);
		assert_int_equal(hashed_now() - h0,
		    (uint64_t)CONSOLE_LIMIT_FAILS);
		for (i = 0; i < N; i++)
			if (jobs[i].r == LK_ERR_RANGE)
				assert_int_equal(jobs[i].which,
				    CONSOLE_LIMIT_ACCOUNT);
	}
}

/*
 * A success gives back its own reservation: nine failures and a success
 * leave room for exactly one more failure.
 */
static void
test_signin_release(void **state)
{
	enum console_limit_which w;
	char *id = NULL, *secret = NULL;
	int i;

	(void)state;
	assert_int_equal(keys_create("r", NULL, NULL, NULL, &id, &secret), 0);
	for (i = 0; i < CONSOLE_LIMIT_FAILS - 1; i++)
		assert_int_equal(console_signin_verify(CONSOLE_KIND_KEY, id,
		    "wrong", "192.0.2.210", &w), LK_ERR_NOT_FOUND);
	for (i = 0; i < 3; i++)
		assert_int_equal(console_signin_verify(CONSOLE_KIND_KEY, id,
		    secret, "192.0.2.210", &w), 0);
	assert_int_equal(console_signin_verify(CONSOLE_KIND_KEY, id, "wrong",
	    "192.0.2.210", &w), LK_ERR_NOT_FOUND);
	assert_int_equal(console_signin_verify(CONSOLE_KIND_KEY, id, secret,
	    "192.0.2.210", &w), LK_ERR_RANGE);
	assert_int_equal(w, CONSOLE_LIMIT_ADDR);
	free(id);
	free(secret);
}

/*
 * When the count cannot be taken, nothing is checked: not even the right
 * password signs in, nothing is hashed. (The table is dropped here; the
 * database being unreachable takes the same path with
 * LK_ERR_UNAVAILABLE.)
 */
static void
test_signin_uncounted(void **state)
{
	enum console_limit_which w;
	uint64_t h0;

	(void)state;
	assert_int_equal(console_operator_create("dave", "dave's password"),
	    0);
	assert_int_equal(console_signin_verify(CONSOLE_KIND_OPERATOR, "dave",
	    "dave's password", "192.0.2.220", &w), 0);
	assert_int_equal(lkdb_run(lkd->db, NULL, "DROP TABLE "
	    "console_signin_fails", ""), 0);
	h0 = hashed_now();
	assert_int_equal(console_signin_verify(CONSOLE_KIND_OPERATOR, "dave",
	    "dave's password", "192.0.2.220", &w), LK_ERR_INTERNAL);
	assert_int_equal(w, CONSOLE_LIMIT_NONE);
	assert_int_equal(hashed_now(), h0);
	/* Made again, the limiter works as before. */
	assert_int_equal(console_limit_clear(), 0);
	assert_int_equal(console_signin_verify(CONSOLE_KIND_OPERATOR, "dave",
	    "dave's password", "192.0.2.220", &w), 0);
	assert_int_equal(hashed_now(), h0 + 1);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_cookie_found),
		cmocka_unit_test(test_cookie_not_ours),
		cmocka_unit_test(test_cookie_hostile),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_origin),
		cmocka_unit_test(test_signin_good),
		cmocka_unit_test(test_signin_hostile),
		cmocka_unit_test(test_call_good),
		cmocka_unit_test(test_call_hostile),
		cmocka_unit_test(test_password_hash),
		cmocka_unit_test(test_gate_size),
	};
	const struct CMUnitTest db[] = {
		cmocka_unit_test(test_limiter),
		cmocka_unit_test(test_limiter_account),
		cmocka_unit_test(test_limiter_ipv6),
		cmocka_unit_test(test_limiter_spray),
		cmocka_unit_test(test_operators),
		cmocka_unit_test(test_key_verify),
		cmocka_unit_test(test_sessions),
		cmocka_unit_test(test_operator_sessions),
		cmocka_unit_test(test_signin_parallel_key),
		cmocka_unit_test(test_signin_parallel_operator),
		cmocka_unit_test(test_signin_gate_held),
		cmocka_unit_test(test_signin_gate_real),
		cmocka_unit_test(test_signin_no_reset),
		cmocka_unit_test(test_signin_hashes),
		cmocka_unit_test(test_signin_one_account),
		cmocka_unit_test(test_signin_release),
		cmocka_unit_test(test_signin_uncounted),
	};
	int r;

	r = cmocka_run_group_tests_name("console parsers", pure, NULL, NULL);
	r += cmocka_run_group_tests_name("console sessions, sqlite", db,
	    db_setup_sqlite, db_teardown);
	r += cmocka_run_group_tests_name("console sessions, postgresql", db,
	    db_setup_pg, db_teardown);
	return r;
}
