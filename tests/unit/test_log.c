/*
 * lib/log: lk_vis() escaping, so that outside input cannot forge log
 * lines, and the stderr side of the log functions.
 */
#include "unit.h"

#include <errno.h>
#include <sys/wait.h>

#include "log.h"

/* lk_vis into a fresh buffer of dstlen bytes; returns a new string. */
static char *
vis(const void *src, size_t srclen, size_t dstlen)
{
	char *dst;

	assert_non_null(dst = malloc(dstlen));
	assert_ptr_equal(lk_vis(dst, dstlen, src, srclen), dst);
	return dst;
}

static void
expect_vis(const void *src, size_t srclen, const char *want)
{
	char *s = vis(src, srclen, 4 * srclen + 1);

	assert_string_equal(s, want);
	free(s);
}

static void
test_vis_plain_unchanged(void **state)
{
	(void)state;
	expect_vis("alice@host:22", 13, "alice@host:22");
	expect_vis("SHA256:01OW4AEd6s0zyxJiKBhRAMaSTgJ9wsM+aOsUnGNPL8E", 50,
	    "SHA256:01OW4AEd6s0zyxJiKBhRAMaSTgJ9wsM+aOsUnGNPL8E");
	expect_vis("!~", 2, "!~");
	expect_vis("", 0, "");
}

static void
test_vis_escapes(void **state)
{
	(void)state;
	expect_vis(" ", 1, "\\x20");
	expect_vis("\\", 1, "\\x5c");
	expect_vis("\n", 1, "\\x0a");
	expect_vis("\r", 1, "\\x0d");
	expect_vis("\t", 1, "\\x09");
	expect_vis("\x7f", 1, "\\x7f");
	expect_vis("\x80", 1, "\\x80");
	expect_vis("\xff", 1, "\\xff");
	expect_vis("\x1b[31m", 5, "\\x1b[31m");
	expect_vis("a\0b", 3, "a\\x00b");
	expect_vis("\xc3\xa9", 2, "\\xc3\\xa9");
	/* An escape in the input is not confused with one we made. */
	expect_vis("\\x41", 4, "\\x5cx41");
}

/* A newline cannot start a second, forged log line. */
static void
test_vis_cannot_forge_lines(void **state)
{
	static const char in[] = "bob\nlatchkey: accepted key user=root";
	char *s = vis(in, sizeof(in) - 1, 4 * sizeof(in));

	(void)state;
	assert_null(strchr(s, '\n'));
	assert_null(strchr(s, ' '));
	assert_string_equal(s, "bob\\x0alatchkey:\\x20accepted\\x20key"
	    "\\x20user=root");
	free(s);
}

static void
test_vis_every_byte(void **state)
{
	unsigned char c;
	char want[8], *s;
	int i;

	(void)state;
	for (i = 0; i < 256; i++) {
		c = (unsigned char)i;
		if (i > 0x20 && i < 0x7f && i != '\\')
			snprintf(want, sizeof(want), "%c", i);
		else
			snprintf(want, sizeof(want), "\\x%02x", i);
		s = vis(&c, 1, 5);
		assert_string_equal(s, want);
		free(s);
	}
}

/* Output is always printable, never a half escape, always terminated. */
static void
test_vis_truncates_at_whole_escape(void **state)
{
	static const char in[] = "ab\ncd\\e\x01";
	const char *full = "ab\\x0acd\\x5ce\\x01";
	size_t dstlen, n, fulllen = strlen(full);
	char *s;

	(void)state;
	for (dstlen = 1; dstlen <= fulllen + 3; dstlen++) {
		s = vis(in, sizeof(in) - 1, dstlen);
		n = strlen(s);
		assert_true(n < dstlen);
		assert_memory_equal(s, full, n);
		/* Cut only where full has a character boundary. */
		assert_true(n == fulllen || full[n] != 'x');
		assert_true(n < 1 || full[n - 1] != '\\');
		assert_true(n < 2 || full[n - 2] != '\\');
		assert_true(n < 3 || full[n - 3] != '\\' ||
		    full[n - 2] != 'x');
		if (dstlen > fulllen)
			assert_string_equal(s, full);
		free(s);
	}
	/* Some exact cases. */
	s = vis(in, sizeof(in) - 1, 3);
	assert_string_equal(s, "ab");
	free(s);
	s = vis(in, sizeof(in) - 1, 6);
	assert_string_equal(s, "ab");
	free(s);
	s = vis(in, sizeof(in) - 1, 7);
	assert_string_equal(s, "ab\\x0a");
	free(s);
}

static void
test_vis_tiny_buffers(void **state)
{
	char buf[4];

	(void)state;
	memset(buf, 'X', sizeof(buf));
	assert_ptr_equal(lk_vis(buf, 0, "abc", 3), buf);
	assert_int_equal(buf[0], 'X');		/* untouched */
	assert_ptr_equal(lk_vis(buf, 1, "abc", 3), buf);
	assert_string_equal(buf, "");
	assert_ptr_equal(lk_vis(buf, 2, "abc", 3), buf);
	assert_string_equal(buf, "a");
	assert_int_equal(buf[2], 'X');
	assert_ptr_equal(lk_vis(buf, 4, "\n", 1), buf);
	assert_string_equal(buf, "");
}

static void
test_log_warnx_format(void **state)
{
	struct tcatch c;
	char *out;

	(void)state;
	log_init("lk-unit", LK_LOG_STDERR, 0);
	t_stderr_begin(&c);
	log_warnx("store skip user=%s n=%d", "alice", 42);
	out = t_stderr_end(&c);
	assert_string_equal(out, "lk-unit: store skip user=alice n=42\n");
	free(out);
}

static void
test_log_warn_adds_errno(void **state)
{
	struct tcatch c;
	char *out, *want;

	(void)state;
	log_init("lk-unit", LK_LOG_STDERR, 0);
	t_stderr_begin(&c);
	errno = ENOENT;
	log_warn("open %s", "/x");
	out = t_stderr_end(&c);
	assert_true(asprintf(&want, "lk-unit: open /x: %s\n",
	    strerror(ENOENT)) > 0);
	assert_string_equal(out, want);
	free(want);
	free(out);
}

static void
test_log_debug_only_when_asked(void **state)
{
	struct tcatch c;
	char *out;

	(void)state;
	log_init("lk-unit", LK_LOG_STDERR, 0);
	t_stderr_begin(&c);
	log_debug("hidden %d", 1);
	log_info("shown %d", 2);
	out = t_stderr_end(&c);
	assert_string_equal(out, "lk-unit: shown 2\n");
	free(out);

	log_init("lk-unit", LK_LOG_STDERR | LK_LOG_DEBUG, 0);
	t_stderr_begin(&c);
	log_debug("visible %d", 3);
	out = t_stderr_end(&c);
	assert_string_equal(out, "lk-unit: visible 3\n");
	free(out);
	log_init("lk-unit", LK_LOG_STDERR, 0);
}

static void
test_log_long_message_bounded(void **state)
{
	struct tcatch c;
	char *big, *out;

	(void)state;
	assert_non_null(big = malloc(10000));
	memset(big, 'm', 9999);
	big[9999] = '\0';
	log_init("lk-unit", LK_LOG_STDERR, 0);
	t_stderr_begin(&c);
	log_warnx("%s", big);
	out = t_stderr_end(&c);
	assert_true(strlen(out) > 1000);
	assert_true(strlen(out) < 2100);
	assert_int_equal(out[strlen(out) - 1], '\n');
	free(out);
	free(big);
}

static void
test_fatalx_exits(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	fflush(NULL);
	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd != -1)
			dup2(fd, 2);
		log_init("lk-unit", LK_LOG_STDERR, 0);
		fatalx("broken invariant %d", 7);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
}

/* log_fmt_line: msg from the leading words, then the message's pairs. */
static void
expect_line(int fmt, const char *ts, const char *msg, const char *err,
    const char *want)
{
	char line[1024];

	log_init("lk-unit", LK_LOG_STDERR, 0);
	log_fmt_line(line, sizeof(line), fmt, ts, "info", msg, err);
	assert_string_equal(line, want);
}

static void
test_fmt_text(void **state)
{
	(void)state;
	expect_line(LK_LOG_FMT_TEXT, "2026-12-05T06:00:00.123Z",
	    "agent registered instance=i-1 host=h", NULL,
	    "time=2026-12-05T06:00:00.123Z level=info prog=lk-unit "
	    "msg=\"agent registered\" instance=i-1 host=h");
	expect_line(LK_LOG_FMT_TEXT, NULL, "db schema version=8 from=0", NULL,
	    "level=info prog=lk-unit msg=\"db schema\" version=8 from=0");
	/* Quoted values keep their blanks; an empty one stays quoted. */
	expect_line(LK_LOG_FMT_TEXT, NULL,
	    "conn cut reason=\"too slow\" why=\"\" n=1", NULL,
	    "level=info prog=lk-unit msg=\"conn cut\" reason=\"too slow\" "
	    "why=\"\" n=1");
	/* A value with '=' (base64) is quoted. */
	expect_line(LK_LOG_FMT_TEXT, NULL, "x y k=YQ==", NULL,
	    "level=info prog=lk-unit msg=\"x y\" k=\"YQ==\"");
	/* errno's text as error=. */
	expect_line(LK_LOG_FMT_TEXT, NULL, "cannot open file", "No such file",
	    "level=info prog=lk-unit msg=\"cannot open file\" "
	    "error=\"No such file\"");
	/* One word, and an empty message. */
	expect_line(LK_LOG_FMT_TEXT, NULL, "stopped", NULL,
	    "level=info prog=lk-unit msg=stopped");
	expect_line(LK_LOG_FMT_TEXT, NULL, "", NULL,
	    "level=info prog=lk-unit msg=\"\"");
}

static void
test_fmt_text_falls_back_to_msg(void **state)
{
	(void)state;
	/* Free text after a pair: the whole message is msg. */
	expect_line(LK_LOG_FMT_TEXT, NULL, "listen a=b is not loopback", NULL,
	    "level=info prog=lk-unit msg=\"listen a=b is not loopback\"");
	/* A pair naming one of our fields, or twice the same key. */
	expect_line(LK_LOG_FMT_TEXT, NULL, "x level=crit", NULL,
	    "level=info prog=lk-unit msg=\"x level=crit\"");
	expect_line(LK_LOG_FMT_TEXT, NULL, "x a=1 a=2", NULL,
	    "level=info prog=lk-unit msg=\"x a=1 a=2\"");
	expect_line(LK_LOG_FMT_TEXT, NULL, "x error=1", "boom",
	    "level=info prog=lk-unit msg=\"x error=1\" error=boom");
	/* An unterminated quote, a quote inside a bare value. */
	expect_line(LK_LOG_FMT_TEXT, NULL, "x a=\"b c", NULL,
	    "level=info prog=lk-unit msg=\"x a=\\\"b c\"");
	expect_line(LK_LOG_FMT_TEXT, NULL, "x a=b\"c", NULL,
	    "level=info prog=lk-unit msg=\"x a=b\\\"c\"");
	/* Two blanks between pairs, a trailing blank. */
	expect_line(LK_LOG_FMT_TEXT, NULL, "x a=1  b=2", NULL,
	    "level=info prog=lk-unit msg=\"x a=1  b=2\"");
}

static void
test_fmt_cannot_forge(void **state)
{
	(void)state;
	/* Control bytes and quotes cannot end the line or the value. */
	expect_line(LK_LOG_FMT_TEXT, NULL, "evil\nlevel=crit msg=\"x\"\r",
	    NULL, "level=info prog=lk-unit msg=\"evil\\x0alevel=crit "
	    "msg=\\\"x\\\"\\x0d\"");
	expect_line(LK_LOG_FMT_JSON, NULL, "evil\n\"}{\"a\":\"\\ \xc3\xa9",
	    NULL, "{\"level\":\"info\",\"prog\":\"lk-unit\",\"msg\":"
	    "\"evil\\u000a\\\"}{\\\"a\\\":\\\"\\\\ \\u00c3\\u00a9\"}");
}

static void
test_fmt_json(void **state)
{
	(void)state;
	expect_line(LK_LOG_FMT_JSON, "2026-12-05T06:00:00.123Z",
	    "conn cut reason=\"too \\\"slow\\\"\" n=1", "errno text",
	    "{\"time\":\"2026-12-05T06:00:00.123Z\",\"level\":\"info\","
	    "\"prog\":\"lk-unit\",\"msg\":\"conn cut\",\"reason\":"
	    "\"too \\\"slow\\\"\",\"n\":\"1\",\"error\":\"errno text\"}");
}

static void
test_fmt_bounded(void **state)
{
	char big[3000], line[64];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_fmt_line(line, sizeof(line), LK_LOG_FMT_TEXT, NULL, "info", big,
	    NULL);
	assert_int_equal(strlen(line), sizeof(line) - 1);
	log_fmt_line(line, 1, LK_LOG_FMT_JSON, NULL, "info", big, NULL);
	assert_string_equal(line, "");
}

static void
test_format_parse(void **state)
{
	int f = -1;

	(void)state;
	assert_int_equal(log_format_parse("text", &f), 0);
	assert_int_equal(f, LK_LOG_FMT_TEXT);
	assert_int_equal(log_format_parse("json", &f), 0);
	assert_int_equal(f, LK_LOG_FMT_JSON);
	assert_int_equal(log_format_parse("JSON", &f), -1);
	assert_int_equal(log_format_parse("", &f), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vis_plain_unchanged),
		cmocka_unit_test(test_vis_escapes),
		cmocka_unit_test(test_vis_cannot_forge_lines),
		cmocka_unit_test(test_vis_every_byte),
		cmocka_unit_test(test_vis_truncates_at_whole_escape),
		cmocka_unit_test(test_vis_tiny_buffers),
		cmocka_unit_test(test_log_warnx_format),
		cmocka_unit_test(test_log_warn_adds_errno),
		cmocka_unit_test(test_log_debug_only_when_asked),
		cmocka_unit_test(test_log_long_message_bounded),
		cmocka_unit_test(test_fatalx_exits),
		cmocka_unit_test(test_fmt_text),
		cmocka_unit_test(test_fmt_text_falls_back_to_msg),
		cmocka_unit_test(test_fmt_cannot_forge),
		cmocka_unit_test(test_fmt_json),
		cmocka_unit_test(test_fmt_bounded),
		cmocka_unit_test(test_format_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
