/*
 * lib/conf: the configuration file grammar, on good and hostile files
 * (long lines, NULs, control bytes, duplicate and unknown keys, bad
 * numbers, too large, too many keys), and lk_conf_load's file handling.
 */
#include "unit.h"

#include <errno.h>

#include "conf.h"
#include "err.h"
#include "util.h"

/*
 * A small program's callback: keys "name" (any value), "port" (a number
 * 1-65535), "flag" (yes/no) and "server" (may repeat). What it accepted
 * is kept in order as "key=value;".
 */
struct seen {
	char	out[4096];
	size_t	calls;
};

static int
cb(void *arg, const char *key, const char *val, size_t dup, char *why,
    size_t whylen)
{
	struct seen *s = arg;
	long long v;
	size_t n = strlen(s->out);

	s->calls++;
	if (strcmp(key, "name") != 0 && strcmp(key, "port") != 0 &&
	    strcmp(key, "flag") != 0 && strcmp(key, "server") != 0) {
		snprintf(why, whylen, "unknown key \"%s\"", key);
		return -1;
	}
	if (dup != 0 && strcmp(key, "server") != 0) {
		snprintf(why, whylen, "%s: set twice (first on line %zu)", key,
		    dup);
		return -1;
	}
	if (strcmp(key, "port") == 0 && lk_parse_ll(val, 1, 65535, &v) != 0) {
		snprintf(why, whylen, "port: 1 to 65535");
		return -1;
	}
	if (strcmp(key, "flag") == 0 && lk_conf_bool(val) == -1) {
		snprintf(why, whylen, "flag: yes or no");
		return -1;
	}
	snprintf(s->out + n, sizeof(s->out) - n, "%s=%s;", key, val);
	return 0;
}

/* Parses a copy of text (len bytes) with one spare byte after it. */
static int
parse(const char *text, size_t len, struct seen *s, char *err, size_t errlen)
{
	char *buf;
	int r;

	memset(s, 0, sizeof(*s));
	err[0] = '\0';
	assert_non_null(buf = malloc(len + 1));
	memcpy(buf, text, len);
	r = lk_conf_parse("t.conf", buf, len, cb, s, err, errlen);
	free(buf);
	return r;
}

static void
expect_ok(const char *text, const char *want)
{
	struct seen s;
	char err[LK_CONF_ERR_SIZE];

	assert_int_equal(parse(text, strlen(text), &s, err, sizeof(err)), 0);
	assert_string_equal(s.out, want);
	assert_string_equal(err, "");
}

static void
expect_err_n(const char *text, size_t len, int code, const char *want)
{
	struct seen s;
	char err[LK_CONF_ERR_SIZE];

	assert_int_equal(parse(text, len, &s, err, sizeof(err)), code);
	assert_string_equal(err, want);
}

static void
expect_err(const char *text, int code, const char *want)
{
	expect_err_n(text, strlen(text), code, want);
}

static void
test_conf_grammar(void **state)
{
	(void)state;
	expect_ok("", "");
	expect_ok("\n\n# only a comment\n   \t\n", "");
	expect_ok("name = x\n", "name=x;");
	expect_ok("name=x", "name=x;");			/* no newline at end */
	expect_ok("  name\t=\tx y  \n", "name=x y;");	/* inner blank kept */
	expect_ok("name = a#b\n", "name=a#b;");		/* # inside a value */
	expect_ok("name = a # comment\n", "name=a;");
	expect_ok("name = a\t# comment\n", "name=a;");
	expect_ok("name = x\r\nport = 22\r\n", "name=x;port=22;");
	expect_ok("# c\nname = /etc/a b=c\nport=1\nflag = no\n",
	    "name=/etc/a b=c;port=1;flag=no;");
	expect_ok("server = a\nserver = b\n", "server=a;server=b;");
	expect_ok("name = \xc3\xa9t\xc3\xa9\n", "name=\xc3\xa9t\xc3\xa9;");
}

static void
test_conf_bad_lines(void **state)
{
	(void)state;
	expect_err("name\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:1: expected \"key = value\" (keys are a-z 0-9 -)");
	expect_err("\nname =\n", LK_ERR_INVALID_FORMAT, "t.conf:2: name: no value");
	expect_err("name = # c\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:1: name: no value");
	expect_err("= x\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:1: a key begins with a-z");
	expect_err("Name = x\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:1: a key begins with a-z");
	expect_err("na_me = x\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:1: expected \"key = value\" (keys are a-z 0-9 -)");
	expect_err("--name = x\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:1: a key begins with a-z");
	expect_err("name x = y\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:1: expected \"key = value\" (keys are a-z 0-9 -)");
	expect_err("[section]\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:1: a key begins with a-z");
}

static void
test_conf_hostile_bytes(void **state)
{
	(void)state;
	expect_err_n("name = a\0b\n", 11, LK_ERR_BAD_CHAR,
	    "t.conf:1: NUL byte 0x00");
	expect_err_n("# \0 in a comment\n", 17, LK_ERR_BAD_CHAR,
	    "t.conf:1: NUL byte 0x00");
	expect_err("name = ok\nport = 1\x1b[2J\n", LK_ERR_BAD_CHAR,
	    "t.conf:2: control byte 0x1b");
	expect_err("name = a\rb\n", LK_ERR_BAD_CHAR,
	    "t.conf:1: control byte 0x0d");
	expect_err("name = a\x7f\n", LK_ERR_BAD_CHAR,
	    "t.conf:1: control byte 0x7f");
	expect_err("name = a\r\r\n", LK_ERR_BAD_CHAR,
	    "t.conf:1: control byte 0x0d");
}

static void
test_conf_long_lines(void **state)
{
	char *big, err[LK_CONF_ERR_SIZE];
	struct seen s;
	size_t n;

	(void)state;
	/* The longest line passes, one byte more fails, even with CRLF. */
	assert_non_null(big = malloc(LK_CONF_MAX + 16));
	n = (size_t)snprintf(big, 16, "name = ");
	memset(big + n, 'a', LK_CONF_LINE_MAX - n);
	memcpy(big + LK_CONF_LINE_MAX, "\r\n", 2);
	assert_int_equal(parse(big, LK_CONF_LINE_MAX + 2, &s, err,
	    sizeof(err)), 0);
	assert_int_equal(strlen(s.out), strlen("name=;") + LK_CONF_LINE_MAX - n);
	big[LK_CONF_LINE_MAX] = 'a';
	expect_err_n(big, LK_CONF_LINE_MAX + 2, LK_ERR_TOO_LONG,
	    "t.conf:1: line longer than 4096 bytes");
	/* A long key. */
	memset(big, 'k', 65);
	memcpy(big + 65, " = v\n", 5);
	expect_err_n(big, 70, LK_ERR_INVALID_FORMAT,
	    "t.conf:1: key longer than 64");
	/* The whole file: at most LK_CONF_MAX, of blank lines here. */
	memset(big, '\n', LK_CONF_MAX + 1);
	assert_int_equal(parse(big, LK_CONF_MAX, &s, err, sizeof(err)), 0);
	expect_err_n(big, LK_CONF_MAX + 1, LK_ERR_TOO_LONG,
	    "t.conf: larger than 262144 bytes");
	free(big);
}

static void
test_conf_keys_and_values(void **state)
{
	struct seen s;
	char err[LK_CONF_ERR_SIZE];

	(void)state;
	expect_err("name = a\nport = 2\nbogus = 1\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:3: unknown key \"bogus\"");
	expect_err("name = a\n\n# x\nname = b\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:4: name: set twice (first on line 1)");
	expect_err("port = 0\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:1: port: 1 to 65535");
	expect_err("port = 65536\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:1: port: 1 to 65535");
	expect_err("port = 22x\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:1: port: 1 to 65535");
	expect_err("port = -1\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:1: port: 1 to 65535");
	expect_err("port = 99999999999999999999999\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:1: port: 1 to 65535");
	expect_err("port = 0x16\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:1: port: 1 to 65535");
	expect_err("flag = maybe\n", LK_ERR_INVALID_FORMAT,
	    "t.conf:1: flag: yes or no");
	/* Parsing stops at the first bad line. */
	assert_int_equal(parse("name = a\nport = x\nflag = yes\n", 27, &s,
	    err, sizeof(err)), LK_ERR_INVALID_FORMAT);
	assert_string_equal(s.out, "name=a;");
	assert_int_equal(s.calls, 2);
}

static int
cb_any(void *arg, const char *key, const char *val, size_t dup, char *why,
    size_t whylen)
{
	(void)arg;
	(void)key;
	(void)val;
	(void)dup;
	(void)why;
	(void)whylen;
	return 0;
}

static void
test_conf_many_keys(void **state)
{
	char buf[16 * 300], err[LK_CONF_ERR_SIZE];
	size_t i, n = 0;

	(void)state;
	for (i = 0; i < 257; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "k%zu = v\n", i);
	assert_int_equal(lk_conf_parse("t.conf", buf, n, cb_any, NULL, err,
	    sizeof(err)), LK_ERR_TOO_LONG);
	assert_string_equal(err, "t.conf:257: more than 256 different keys");
}

static void
test_conf_bool(void **state)
{
	(void)state;
	assert_int_equal(lk_conf_bool("yes"), 1);
	assert_int_equal(lk_conf_bool("true"), 1);
	assert_int_equal(lk_conf_bool("on"), 1);
	assert_int_equal(lk_conf_bool("1"), 1);
	assert_int_equal(lk_conf_bool("no"), 0);
	assert_int_equal(lk_conf_bool("false"), 0);
	assert_int_equal(lk_conf_bool("off"), 0);
	assert_int_equal(lk_conf_bool("0"), 0);
	assert_int_equal(lk_conf_bool("Yes"), -1);
	assert_int_equal(lk_conf_bool(""), -1);
	assert_int_equal(lk_conf_bool("2"), -1);
}

static void
test_conf_load(void **state)
{
	char dir[] = "/tmp/lk-conf-XXXXXX", path[64], err[LK_CONF_ERR_SIZE];
	char *buf = NULL;
	struct seen s;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/none.conf", dir);
	memset(&s, 0, sizeof(s));
	assert_int_equal(lk_conf_load(path, &buf, cb, &s, err, sizeof(err)),
	    LK_ERR_NOT_FOUND);
	assert_null(buf);
	assert_true(strstr(err, "No such file") != NULL);
	assert_int_equal(lk_conf_load(dir, &buf, cb, &s, err, sizeof(err)),
	    LK_ERR_UNSAFE);
	free(buf);
	snprintf(path, sizeof(path), "%s/a.conf", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("name = from-file\nport = 8080", f);
	fclose(f);
	assert_int_equal(lk_conf_load(path, &buf, cb, &s, err, sizeof(err)),
	    0);
	assert_string_equal(s.out, "name=from-file;port=8080;");
	free(buf);
	assert_non_null(f = fopen(path, "w"));
	fputs("name = a\nwho = b\n", f);
	fclose(f);
	memset(&s, 0, sizeof(s));
	assert_int_equal(lk_conf_load(path, &buf, cb, &s, err, sizeof(err)),
	    LK_ERR_INVALID_FORMAT);
	assert_true(strstr(err, "/a.conf:2: unknown key \"who\"") != NULL);
	free(buf);
	t_rm_rf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_grammar),
		cmocka_unit_test(test_conf_bad_lines),
		cmocka_unit_test(test_conf_hostile_bytes),
		cmocka_unit_test(test_conf_long_lines),
		cmocka_unit_test(test_conf_keys_and_values),
		cmocka_unit_test(test_conf_many_keys),
		cmocka_unit_test(test_conf_bool),
		cmocka_unit_test(test_conf_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
