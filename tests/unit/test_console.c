/*
 * server/console_parse.c and console_auth.c: the Cookie and Origin
 * headers, the sign-in and action-call bodies with hostile input; password
 * hashes; operators, access-key sign-in, sessions (expiry, sign-out, a
 * disabled key or operator) and the sign-in limiter on an in-memory
 * database.
 */
#include "unit.h"

#include <openssl/rand.h>

#include "console.h"
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

static int
db_setup(void **state)
{
	(void)state;
	log_init("test_console", 0, 0);
	if (RAND_bytes(lkd->master, sizeof(lkd->master)) != 1 ||
	    lkdb_open(":memory:", &lkd->db) != 0)
		return -1;
	snprintf(lkd->region, sizeof(lkd->region), "cn-hangzhou");
	return 0;
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
db_count_cb(sqlite3_stmt *st, void *arg)
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

static void
test_limiter(void **state)
{
	int i;

	(void)state;
	assert_int_equal(console_limit_check("192.0.2.1"), 0);
	for (i = 0; i < 9; i++)
		console_limit_fail("192.0.2.1");
	assert_int_equal(console_limit_check("192.0.2.1"), 0);
	console_limit_fail("192.0.2.1");
	assert_int_equal(console_limit_check("192.0.2.1"), LK_ERR_RANGE);
	assert_int_equal(console_limit_check("192.0.2.2"), 0);
	console_limit_ok("192.0.2.1");
	assert_int_equal(console_limit_check("192.0.2.1"), 0);
	/* A full table drops the oldest entry, never refuses to count. */
	for (i = 0; i < 1000; i++) {
		char a[32];

		snprintf(a, sizeof(a), "198.51.100.%d", i);
		console_limit_fail(a);
	}
	for (i = 0; i < 10; i++)
		console_limit_fail("192.0.2.3");
	assert_int_equal(console_limit_check("192.0.2.3"), LK_ERR_RANGE);
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
		cmocka_unit_test(test_limiter),
	};
	const struct CMUnitTest db[] = {
		cmocka_unit_test(test_operators),
		cmocka_unit_test(test_key_verify),
		cmocka_unit_test(test_sessions),
		cmocka_unit_test(test_operator_sessions),
	};
	int r;

	r = cmocka_run_group_tests_name("console parsers", pure, NULL, NULL);
	r += cmocka_run_group_tests_name("console sessions", db, db_setup,
	    db_teardown);
	return r;
}
