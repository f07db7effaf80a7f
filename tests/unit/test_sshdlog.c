/*
 * lib/sshdlog: sshd's "Accepted publickey" line, as latchkey-agent reads
 * it from a log other programs may write to. Accepted: the line as sshd
 * -E and syslog write it; refused: every field that is not sshd's, other
 * programs' tags, certificates, lines cut or too long.
 */
#include "unit.h"

#include "err.h"
#include "sshdlog.h"

#define FP	"SHA256:kCc0BYjOaYDrfNIoOJ5oZOPb+XHlZJNe46XZQnRVz0I"

/* Parses s from an exact-size heap copy, so ASan sees any over-read. */
static int
parse(const char *s, struct lk_sshdlog_login *l)
{
	size_t len = strlen(s);
	char *copy;
	int r;

	assert_non_null(copy = malloc(len ? len : 1));
	memcpy(copy, s, len);
	r = lk_sshdlog_parse(copy, len, l);
	free(copy);
	return r;
}

static void
test_sshd_e_line(void **state)
{
	struct lk_sshdlog_login l;

	(void)state;
	assert_int_equal(parse("Accepted publickey for lk-alice from "
	    "127.0.0.1 port 39278 ssh2: ED25519 " FP "\n", &l), 0);
	assert_string_equal(l.user, "lk-alice");
	assert_string_equal(l.addr, "127.0.0.1");
	assert_int_equal(l.port, 39278);
	assert_string_equal(l.keytype, "ED25519");
	assert_string_equal(l.fp, FP);
}

static void
test_syslog_and_journal_lines(void **state)
{
	struct lk_sshdlog_login l;

	(void)state;
	assert_int_equal(parse("Dec  5 06:09:00 web-1 sshd[1234]: Accepted "
	    "publickey for root from 2001:db8::7 port 22 ssh2: RSA " FP "\r\n",
	    &l), 0);
	assert_string_equal(l.addr, "2001:db8::7");
	assert_string_equal(l.keytype, "RSA");
	assert_int_equal(parse("2026-12-05T06:09:00+00:00 web-1 sshd-session"
	    "[77]: Accepted publickey for bob from 10.0.0.9 port 50022 ssh2: "
	    "ECDSA " FP, &l), 0);
	assert_string_equal(l.user, "bob");
}

static void
test_other_lines_not_found(void **state)
{
	static const char *const lines[] = {
		"",
		"Accepted key ED25519 " FP " found at /x:1",
		"Failed publickey for root from 1.2.3.4 port 1 ssh2: ED25519 " FP,
		/* another program's tag: logger -t evil */
		"Dec  5 06:09:00 h evil[1]: Accepted publickey for root from "
		    "1.2.3.4 port 1 ssh2: ED25519 " FP,
		"Dec  5 06:09:00 h notsshd[1]: Accepted publickey for root from "
		    "1.2.3.4 port 1 ssh2: ED25519 " FP,
		"Dec  5 06:09:00 h sshd: Accepted publickey for root from "
		    "1.2.3.4 port 1 ssh2: ED25519 " FP,
		"Dec  5 06:09:00 h sshd[]: Accepted publickey for root from "
		    "1.2.3.4 port 1 ssh2: ED25519 " FP,
		"x Accepted publickey for root from 1.2.3.4 port 1 ssh2: "
		    "ED25519 " FP,
		/* a certificate */
		"Accepted publickey for root from 1.2.3.4 port 1 ssh2: "
		    "ED25519-CERT " FP " ID x (serial 1) CA ED25519 " FP,
	};
	struct lk_sshdlog_login l;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		assert_int_equal(parse(lines[i], &l), LK_ERR_NOT_FOUND);
}

static void
test_hostile_fields_refused(void **state)
{
	static const char *const lines[] = {
		"Accepted publickey for root from 1.2.3.4 port 1 ssh2: ED25519",
		"Accepted publickey for ro/ot from 1.2.3.4 port 1 ssh2: ED25519 " FP,
		"Accepted publickey for -root from 1.2.3.4 port 1 ssh2: ED25519 " FP,
		"Accepted publickey for  root from 1.2.3.4 port 1 ssh2: ED25519 " FP,
		"Accepted publickey for root from host.example port 1 ssh2: "
		    "ED25519 " FP,
		"Accepted publickey for root from 1.2.3.4 port 0 ssh2: ED25519 " FP,
		"Accepted publickey for root from 1.2.3.4 port 65536 ssh2: "
		    "ED25519 " FP,
		"Accepted publickey for root from 1.2.3.4 port -1 ssh2: ED25519 " FP,
		"Accepted publickey for root from 1.2.3.4 port 1 ssh1: ED25519 " FP,
		"Accepted publickey for root frm 1.2.3.4 port 1 ssh2: ED25519 " FP,
		"Accepted publickey for root from 1.2.3.4 port 1 ssh2: ed25519 " FP,
		"Accepted publickey for root from 1.2.3.4 port 1 ssh2: ED25519 "
		    "SHA256:short",
		"Accepted publickey for root from 1.2.3.4 port 1 ssh2: ED25519 "
		    "MD5:aa:bb",
		"Accepted publickey for root from 1.2.3.4 port 1 ssh2: ED25519 "
		    FP " ",
		"Accepted publickey for aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa from "
		    "1.2.3.4 port 1 ssh2: ED25519 " FP,
	};
	struct lk_sshdlog_login l;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		assert_int_equal(parse(lines[i], &l), LK_ERR_INVALID_FORMAT);
		assert_string_equal(l.user, "");
	}
}

static void
test_embedded_nul_and_long_lines(void **state)
{
	char buf[LK_SSHDLOG_LINE_MAX + 64];
	const char *good = "Accepted publickey for root from 1.2.3.4 port 1 "
	    "ssh2: ED25519 " FP;
	struct lk_sshdlog_login l;
	size_t n = strlen(good);

	(void)state;
	memcpy(buf, good, n);
	buf[25] = '\0';	/* inside "root" */
	assert_int_not_equal(lk_sshdlog_parse(buf, n, &l), 0);
	memset(buf, 'a', sizeof(buf));
	memcpy(buf + sizeof(buf) - n, good, n);
	assert_int_equal(lk_sshdlog_parse(buf, sizeof(buf), &l),
	    LK_ERR_NOT_FOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sshd_e_line),
		cmocka_unit_test(test_syslog_and_journal_lines),
		cmocka_unit_test(test_other_lines_not_found),
		cmocka_unit_test(test_hostile_fields_refused),
		cmocka_unit_test(test_embedded_nul_and_long_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
