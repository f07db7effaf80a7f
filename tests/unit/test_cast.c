/*
 * lib/cast.c: the asciicast v2 writer (UTF-8 split between reads, bytes
 * that are not UTF-8, control characters, resizes, the size limit and
 * its marker) and the check latchkeyd makes of an upload, with hostile
 * recordings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cast.h"
#include "err.h"

/* The recording written to a temporary file, read back (NUL-terminated). */
struct rec {
	FILE	*f;
	struct lk_cast c;
};

static void
rec_open(struct rec *r, uint64_t max)
{
	assert_non_null(r->f = tmpfile());
	assert_int_equal(lk_cast_open(&r->c, fileno(r->f), max, 80, 24,
	    "xterm-256color", 1700000000, 1000), 0);
}

static char *
rec_text(struct rec *r, size_t *lenp)
{
	long n;
	char *buf;

	lk_cast_close(&r->c, 99999);
	assert_int_equal(fseek(r->f, 0, SEEK_END), 0);
	n = ftell(r->f);
	rewind(r->f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, r->f), (size_t)n);
	buf[n] = '\0';
	fclose(r->f);
	*lenp = (size_t)n;
	return buf;
}

/* The "o" events' data, concatenated (as UTF-8), and the check's info. */
static char *
rec_output(const char *text, size_t len, struct lk_cast_info *info)
{
	char why[128], *out = calloc(1, len + 1);
	const char *p = strchr(text, '\n') + 1, *nl;
	json_t *e;
	size_t o = 0;

	assert_non_null(out);
	assert_int_equal(lk_cast_check(text, len, info, why, sizeof(why)), 0);
	for (; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(e = json_loadb(p, (size_t)(nl - p),
		    JSON_ALLOW_NUL, NULL));
		if (strcmp(json_string_value(json_array_get(e, 1)), "o") == 0) {
			memcpy(out + o, json_string_value(json_array_get(e, 2)),
			    json_string_length(json_array_get(e, 2)));
			o += json_string_length(json_array_get(e, 2));
		}
		json_decref(e);
	}
	return out;
}

static void
test_roundtrip(void **state)
{
	static const char s[] = "hello \"w\\orld\"\r\n\t\x1b[1mé€😀\x7f";
	struct lk_cast_info info;
	struct rec r;
	size_t len, i;
	char *text, *out;

	(void)state;
	rec_open(&r, LK_CAST_MAX_DEFAULT);
	/* One byte a read: every multi-byte character is split. */
	for (i = 0; i < sizeof(s) - 1; i++)
		lk_cast_output(&r.c, 1000 + (long long)i, s + i, 1);
	lk_cast_resize(&r.c, 2000, 90, 25);
	text = rec_text(&r, &len);
	assert_non_null(strstr(text, "{\"version\":2,\"width\":80,"
	    "\"height\":24,\"timestamp\":1700000000,\"env\":{\"TERM\":"
	    "\"xterm-256color\"}}\n"));
	assert_non_null(strstr(text, "\"r\", \"90x25\"]\n"));
	out = rec_output(text, len, &info);
	assert_string_equal(out, s);
	assert_int_equal(info.width, 80);
	assert_int_equal(info.height, 24);
	assert_int_equal(info.truncated, 0);
	free(out);
	free(text);
}

static void
test_not_utf8(void **state)
{
	/* A lone continuation, an overlong, a surrogate, a cut sequence. */
	static const char s[] = "a\x80" "b\xc0\xaf" "c\xed\xa0\x80" "d\xe2\x82";
	struct lk_cast_info info;
	struct rec r;
	size_t len;
	char *text, *out;

	(void)state;
	rec_open(&r, LK_CAST_MAX_DEFAULT);
	lk_cast_output(&r.c, 1001, s, sizeof(s) - 1);
	text = rec_text(&r, &len);
	out = rec_output(text, len, &info);
	assert_string_equal(out, "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd"
	    "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "d\xef\xbf\xbd\xef\xbf\xbd");
	free(out);
	free(text);
}

static void
test_large_chunks(void **state)
{
	struct lk_cast_info info;
	struct rec r;
	size_t len, n = 3 * LK_CAST_CHUNK + 5, i;
	char *buf = malloc(n + 1), *text, *out;

	(void)state;
	assert_non_null(buf);
	/* Three-byte characters, so chunk ends fall inside them. */
	for (i = 0; i + 3 <= n; i += 3)
		memcpy(buf + i, "\xe2\x82\xac", 3);
	for (; i < n; i++)
		buf[i] = 'x';
	buf[n] = '\0';
	rec_open(&r, LK_CAST_MAX_DEFAULT);
	lk_cast_output(&r.c, 1001, buf, n);
	text = rec_text(&r, &len);
	out = rec_output(text, len, &info);
	assert_string_equal(out, buf);
	assert_true(info.events >= 4);
	free(out);
	free(text);
	free(buf);
}

static void
test_limit(void **state)
{
	struct lk_cast_info info;
	struct rec r;
	char line[1000], *text, *out;
	size_t len;
	int i;

	(void)state;
	memset(line, 'y', sizeof(line));
	rec_open(&r, LK_CAST_MAX_MIN);
	for (i = 0; i < 200; i++)
		lk_cast_output(&r.c, 1000 + i, line, sizeof(line));
	assert_int_equal(r.c.truncated, 1);
	text = rec_text(&r, &len);
	assert_true(len <= LK_CAST_MAX_MIN);
	assert_true(len > LK_CAST_MAX_MIN - 2000);
	out = rec_output(text, len, &info);
	assert_int_equal(info.truncated, 1);
	assert_int_equal(strspn(out, "y"), strlen(out));
	assert_non_null(strstr(text, "\"m\", \"" LK_CAST_TRUNC_MARK));
	free(out);
	free(text);
}

static void
test_open_range(void **state)
{
	struct lk_cast c;

	(void)state;
	assert_int_equal(lk_cast_open(&c, 1, LK_CAST_MAX_MIN - 1, 80, 24, "x",
	    0, 0), LK_ERR_RANGE);
	assert_int_equal(lk_cast_open(&c, 1, LK_CAST_MAX_MIN, 0, 24, "x", 0,
	    0), LK_ERR_RANGE);
}

static void
test_check_hostile(void **state)
{
	static const char *const bad[] = {
		"",
		"not json\n",
		"{\"version\":1,\"width\":80,\"height\":24}\n",
		"{\"version\":2,\"width\":0,\"height\":24}\n",
		"{\"version\":2,\"width\":80,\"height\":10001}\n",
		"{\"version\":2,\"width\":80}\n",
		"[2,80,24]\n",
		"{\"version\":2,\"width\":80,\"height\":24}",	/* no \n */
		"{\"version\":2,\"width\":80,\"height\":24,\"width\":81}\n",
		"{\"version\":2,\"width\":80,\"height\":24}\n[1, \"o\"]\n",
		"{\"version\":2,\"width\":80,\"height\":24}\n[1, \"x\", \"a\"]\n",
		"{\"version\":2,\"width\":80,\"height\":24}\n[-1, \"o\", \"a\"]\n",
		"{\"version\":2,\"width\":80,\"height\":24}\n[2, \"o\", \"a\"]\n"
		    "[1, \"o\", \"b\"]\n",
		"{\"version\":2,\"width\":80,\"height\":24}\n[1, \"r\", \"80\"]\n",
		"{\"version\":2,\"width\":80,\"height\":24}\n[1, \"r\", \"0x5\"]\n",
		"{\"version\":2,\"width\":80,\"height\":24}\n[1, \"r\", "
		    "\"8x5\\u0000\"]\n",
		"{\"version\":2,\"width\":80,\"height\":24}\n[1, \"o\\u0000\", "
		    "\"a\"]\n",
		"{\"version\":2,\"width\":80,\"height\":24}\n\n",
		"{\"version\":2,\"width\":80,\"height\":24}\n[1, \"o\", \"a\"] x\n",
		"{\"version\":2,\"width\":80,\"height\":24}\n[1e999, \"o\", \"a\"]\n",
		"{\"version\":2,\"width\":80,\"height\":24}\n[1, \"o\", \"\xff\"]\n",
	};
	static const char nul[] = "{\"version\":2,\"width\":80,\"height\":24}"
	    "\n[1, \"o\", \"a\0\"]\n";
	static const char good[] = "{\"version\":2,\"width\":80,\"height\":24,"
	    "\"env\":{}}\n[0, \"o\", \"a\\u0000\"]\n[0.5, \"r\", \"100x30\"]\n"
	    "[0.5, \"i\", \"q\"]\n[1, \"m\", \"" LK_CAST_TRUNC_MARK ": x\"]\n";
	struct lk_cast_info info;
	char why[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (lk_cast_check(bad[i], strlen(bad[i]), &info, why,
		    sizeof(why)) != LK_ERR_INVALID_FORMAT)
			fail_msg("accepted #%zu: %s", i, bad[i]);
		assert_true(why[0] != '\0');
	}
	assert_int_equal(lk_cast_check(nul, sizeof(nul) - 1, &info, why,
	    sizeof(why)), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_cast_check(good, sizeof(good) - 1, &info, why,
	    sizeof(why)), 0);
	assert_int_equal(info.events, 4);
	assert_int_equal(info.output, 2);
	assert_int_equal(info.truncated, 1);
	assert_int_equal(info.width, 80);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_not_utf8),
		cmocka_unit_test(test_large_chunks),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_open_range),
		cmocka_unit_test(test_check_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
