/*
 * lib/util: portable user names, account lookup and checked numbers.
 */
#include "unit.h"

#include <limits.h>
#include <pwd.h>

#include "err.h"
#include "util.h"

static void
test_user_valid_names(void **state)
{
	static const char *good[] = {
		"alice", "a", "A", "root", "user123", "a.b", "a_b", "a-b",
		"_apt", "0", "123", "a-", "a.", "...", ".hidden",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef",	/* 32 */
		"Debian-exim", "systemd-network",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(lk_user_valid(good[i]), 0);
}

static void
test_user_invalid_names(void **state)
{
	static const char *bad[] = {
		"", ".", "..", "../root", "..%2froot", "a/b", "/", "/root",
		"-oProxyCommand", "-", "-a", "--", "a`b", "`id`", "$(id)",
		"a b", " a", "a ", "a\tb", "a\nb", "a\r", "a:b", "a;b", "a|b",
		"a&b", "a'b", "a\"b", "a\\b", "a*", "a?", "a$", "a=b", "a,b",
		"a@b", "~", "a%b", "a+b", "a#b", "a!b", "a{b}", "a(b)", "a<b>",
		"\xc3\xa9", "caf\xc3\xa9", "\xe2\x80\xae", "\xff", "a\x7f",
		"\x01",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg",	/* 33 */
	};
	char longname[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(lk_user_valid(bad[i]), LK_ERR_USER_INVALID);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(lk_user_valid(longname), LK_ERR_USER_INVALID);
}

static void
test_user_length_boundary(void **state)
{
	char name[LK_USER_MAX + 2];

	(void)state;
	memset(name, 'u', sizeof(name));
	name[LK_USER_MAX] = '\0';
	assert_int_equal(lk_user_valid(name), 0);
	name[LK_USER_MAX] = 'u';
	name[LK_USER_MAX + 1] = '\0';
	assert_int_equal(lk_user_valid(name), LK_ERR_USER_INVALID);
}

static void
test_user_lookup_root(void **state)
{
	uid_t uid = 12345;
	gid_t gid = 12345;

	(void)state;
	assert_int_equal(lk_user_lookup("root", &uid, &gid), 0);
	assert_int_equal(uid, 0);
	assert_int_equal(gid, 0);
	assert_int_equal(lk_user_lookup("root", NULL, NULL), 0);
}

static void
test_user_lookup_matches_getpwnam(void **state)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;

	(void)state;
	if ((pw = getpwnam("nobody")) == NULL)
		skip();
	assert_int_equal(lk_user_lookup("nobody", &uid, &gid), 0);
	assert_int_equal(uid, pw->pw_uid);
	assert_int_equal(gid, pw->pw_gid);
	assert_int_equal(lk_user_lookup("nobody", &uid, NULL), 0);
	assert_int_equal(lk_user_lookup("nobody", NULL, &gid), 0);
}

static void
test_user_lookup_unknown(void **state)
{
	uid_t uid = 777;
	gid_t gid = 777;

	(void)state;
	assert_int_equal(lk_user_lookup("lk-no-such-user-x9", &uid, &gid),
	    LK_ERR_USER_UNKNOWN);
	assert_int_equal(uid, 777);
	assert_int_equal(gid, 777);
}

static void
test_user_lookup_invalid(void **state)
{
	uid_t uid = 777;

	(void)state;
	/* Refused before any lookup, even if NSS knew such a name. */
	assert_int_equal(lk_user_lookup("../root", &uid, NULL),
	    LK_ERR_USER_INVALID);
	assert_int_equal(lk_user_lookup("-oProxyCommand", &uid, NULL),
	    LK_ERR_USER_INVALID);
	assert_int_equal(lk_user_lookup("", &uid, NULL), LK_ERR_USER_INVALID);
	assert_int_equal(lk_user_lookup("root ", &uid, NULL),
	    LK_ERR_USER_INVALID);
	assert_int_equal(lk_user_lookup("+root", &uid, NULL),
	    LK_ERR_USER_INVALID);
	assert_int_equal(uid, 777);
}

static void
expect_ll(const char *s, long long min, long long max, long long want)
{
	long long v = 0x5a5a;

	assert_int_equal(lk_parse_ll(s, min, max, &v), 0);
	assert_true(v == want);
}

static void
expect_ll_err(const char *s, long long min, long long max, int err)
{
	long long v = 0x5a5a;

	assert_int_equal(lk_parse_ll(s, min, max, &v), err);
	assert_true(v == 0x5a5a);	/* untouched on error */
}

static void
test_parse_ll_good(void **state)
{
	(void)state;
	expect_ll("0", LLONG_MIN, LLONG_MAX, 0);
	expect_ll("-0", LLONG_MIN, LLONG_MAX, 0);
	expect_ll("-0", 0, 10, 0);
	expect_ll("1", LLONG_MIN, LLONG_MAX, 1);
	expect_ll("-1", LLONG_MIN, LLONG_MAX, -1);
	expect_ll("007", 0, 10, 7);
	expect_ll("123456789", 0, LLONG_MAX, 123456789);
	expect_ll("9223372036854775807", LLONG_MIN, LLONG_MAX, LLONG_MAX);
	expect_ll("-9223372036854775808", LLONG_MIN, LLONG_MAX, LLONG_MIN);
}

static void
test_parse_ll_bounds(void **state)
{
	(void)state;
	expect_ll("10", 10, 20, 10);
	expect_ll("20", 10, 20, 20);
	expect_ll_err("9", 10, 20, LK_ERR_RANGE);
	expect_ll_err("21", 10, 20, LK_ERR_RANGE);
	expect_ll_err("-1", 0, 20, LK_ERR_RANGE);
	expect_ll_err("253402300800", 0, 253402300799LL, LK_ERR_RANGE);
	expect_ll("253402300799", 0, 253402300799LL, 253402300799LL);
}

static void
test_parse_ll_overflow(void **state)
{
	(void)state;
	expect_ll_err("9223372036854775808", LLONG_MIN, LLONG_MAX,
	    LK_ERR_RANGE);
	expect_ll_err("-9223372036854775809", LLONG_MIN, LLONG_MAX,
	    LK_ERR_RANGE);
	expect_ll_err("99999999999999999999999999999999", LLONG_MIN,
	    LLONG_MAX, LK_ERR_RANGE);
	expect_ll_err("18446744073709551616", 0, LLONG_MAX, LK_ERR_RANGE);
	expect_ll_err("18446744073709551615", 0, LLONG_MAX, LK_ERR_RANGE);
}

static void
test_parse_ll_bad_format(void **state)
{
	static const char *bad[] = {
		"", "-", "+", "+1", "+0", " 1", "1 ", "\t1", "1\n", "\n1",
		"1x", "x1", "0x10", "1e3", "1.0", "1,000", "1_000", "--1",
		"-+1", "+-1", "- 1", "one", "\xef\xbc\x91",	/* fullwidth 1 */
		"1\xc2\xa0",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_ll_err(bad[i], LLONG_MIN, LLONG_MAX,
		    LK_ERR_INVALID_FORMAT);
}

/* A suffix is a format error even when the number is out of range. */
static void
test_parse_ll_format_before_range(void **state)
{
	(void)state;
	expect_ll_err("99999999999999999999x", LLONG_MIN, LLONG_MAX,
	    LK_ERR_INVALID_FORMAT);
	expect_ll_err("5x", 0, 1, LK_ERR_INVALID_FORMAT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_valid_names),
		cmocka_unit_test(test_user_invalid_names),
		cmocka_unit_test(test_user_length_boundary),
		cmocka_unit_test(test_user_lookup_root),
		cmocka_unit_test(test_user_lookup_matches_getpwnam),
		cmocka_unit_test(test_user_lookup_unknown),
		cmocka_unit_test(test_user_lookup_invalid),
		cmocka_unit_test(test_parse_ll_good),
		cmocka_unit_test(test_parse_ll_bounds),
		cmocka_unit_test(test_parse_ll_overflow),
		cmocka_unit_test(test_parse_ll_bad_format),
		cmocka_unit_test(test_parse_ll_format_before_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
