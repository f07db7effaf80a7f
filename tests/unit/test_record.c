/*
 * lib/record: the key-store record format. Exactly five lines in a fixed
 * order, each ending in '\n'; anything else is LK_ERR_RECORD.
 */
#include "unit.h"

#include <inttypes.h>

#include "err.h"
#include "record.h"
#include "sshkey.h"

#include "keys.h"

#define NLINES	5

static const char *good_lines[NLINES] = {
	"latchkey-key-record 1",
	"user alice",
	"created 1764092400",
	"not-after 1764092460",
	NULL,	/* "key " + tkeys[TK_ED25519].line, filled in below */
};

/* Joins lines with '\n' after each one into a new buffer. */
static char *
join(const char *const *lines, size_t n, size_t *lenp)
{
	struct tbuf b = { NULL, 0, 0 };
	size_t i;

	tbuf_put(&b, "", 0);
	for (i = 0; i < n; i++) {
		tbuf_put(&b, lines[i], strlen(lines[i]));
		tbuf_put(&b, "\n", 1);
	}
	*lenp = b.len;
	return (char *)b.p;
}

/* The good record's lines, with the key line made for key k. */
static void
good(const char **lines, char **keyline, int k)
{
	size_t i;

	for (i = 0; i < NLINES; i++)
		lines[i] = good_lines[i];
	assert_true(asprintf(keyline, "key %s", tkeys[k].line) > 0);
	lines[4] = *keyline;
}

/* Parses an exact-size heap copy; returns the error, frees a success. */
static int
parse_err(const char *buf, size_t len)
{
	struct lk_record *rec = (struct lk_record *)1;
	char *copy;
	int r;

	assert_non_null(copy = malloc(len ? len : 1));
	memcpy(copy, buf, len);
	r = lk_record_parse(copy, len, &rec);
	free(copy);
	if (r != 0)
		assert_null(rec);
	lk_record_free(rec);
	return r;
}

static int
lines_err(const char *const *lines, size_t n)
{
	size_t len;
	char *buf = join(lines, n, &len);
	int r = parse_err(buf, len);

	free(buf);
	return r;
}

/* The good record with line i replaced by s. */
static int
replace_err(size_t i, const char *s)
{
	const char *lines[NLINES];
	char *keyline;
	int r;

	good(lines, &keyline, TK_ED25519);
	lines[i] = s;
	r = lines_err(lines, NLINES);
	free(keyline);
	return r;
}

static void
test_format_exact(void **state)
{
	struct lk_record rec;
	char *buf, *want;
	size_t len;

	(void)state;
	memset(&rec, 0, sizeof(rec));
	snprintf(rec.user, sizeof(rec.user), "alice");
	rec.created = 1764092400;
	rec.not_after = 1764092460;
	assert_int_equal(lk_sshkey_parse_line(tkeys[TK_ED25519].line,
	    strlen(tkeys[TK_ED25519].line), &rec.key), 0);
	assert_int_equal(lk_record_format(&rec, &buf, &len), 0);
	assert_true(asprintf(&want, "latchkey-key-record 1\nuser alice\n"
	    "created 1764092400\nnot-after 1764092460\nkey %s\n",
	    tkeys[TK_ED25519].line) > 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len);
	free(want);
	free(buf);

	/* A key without a comment has none in the record. */
	free(rec.key->comment);
	rec.key->comment = NULL;
	assert_int_equal(lk_record_format(&rec, &buf, &len), 0);
	assert_int_equal(buf[len - 1], '\n');
	assert_int_equal(buf[len - 2], 'O');	/* "...ZUbO\n" */
	free(buf);
	lk_sshkey_free(rec.key);
}

static void
test_round_trip_every_key_type(void **state)
{
	struct lk_record *rec, *rec2;
	const char *lines[NLINES];
	char *keyline, *buf, *buf2;
	size_t len, len2;
	int k;

	(void)state;
	for (k = 0; k < TK_RSA1024; k++) {
		good(lines, &keyline, k);
		buf = join(lines, NLINES, &len);
		assert_int_equal(lk_record_parse(buf, len, &rec), 0);
		assert_string_equal(rec->user, "alice");
		assert_true(rec->created == 1764092400);
		assert_true(rec->not_after == 1764092460);
		assert_int_equal(rec->key->type, tkeys[k].type);
		assert_non_null(rec->key->comment);
		assert_int_equal(lk_record_format(rec, &buf2, &len2), 0);
		assert_int_equal(len2, len);
		assert_memory_equal(buf2, buf, len);
		assert_int_equal(lk_record_parse(buf2, len2, &rec2), 0);
		assert_int_equal(rec2->key->bloblen, rec->key->bloblen);
		assert_memory_equal(rec2->key->blob, rec->key->blob,
		    rec->key->bloblen);
		lk_record_free(rec2);
		lk_record_free(rec);
		free(buf2);
		free(buf);
		free(keyline);
	}
}

static void
test_field_missing(void **state)
{
	const char *lines[NLINES], *cut[NLINES];
	char *keyline;
	size_t i, j, n;

	(void)state;
	good(lines, &keyline, TK_ED25519);
	assert_int_equal(lines_err(lines, NLINES), 0);
	for (i = 0; i < NLINES; i++) {
		for (j = 0, n = 0; j < NLINES; j++)
			if (j != i)
				cut[n++] = lines[j];
		assert_int_equal(lines_err(cut, n), LK_ERR_RECORD);
	}
	/* Only the first lines. */
	for (n = 0; n < NLINES; n++)
		assert_int_equal(lines_err(lines, n), LK_ERR_RECORD);
	free(keyline);
}

static void
test_field_duplicated(void **state)
{
	const char *lines[NLINES], *dup[NLINES + 1];
	char *keyline;
	size_t i, j, n;

	(void)state;
	good(lines, &keyline, TK_ED25519);
	for (i = 0; i < NLINES; i++) {
		for (j = 0, n = 0; j < NLINES; j++) {
			dup[n++] = lines[j];
			if (j == i)
				dup[n++] = lines[j];
		}
		assert_int_equal(lines_err(dup, n), LK_ERR_RECORD);
	}
	free(keyline);
}

static void
test_field_out_of_order(void **state)
{
	const char *lines[NLINES], *sw[NLINES], *t;
	char *keyline;
	size_t i, j;

	(void)state;
	good(lines, &keyline, TK_ED25519);
	for (i = 0; i < NLINES; i++) {
		for (j = i + 1; j < NLINES; j++) {
			memcpy(sw, lines, sizeof(sw));
			t = sw[i];
			sw[i] = sw[j];
			sw[j] = t;
			assert_int_equal(lines_err(sw, NLINES), LK_ERR_RECORD);
		}
	}
	for (i = 0; i < NLINES; i++)
		sw[i] = lines[NLINES - 1 - i];
	assert_int_equal(lines_err(sw, NLINES), LK_ERR_RECORD);
	free(keyline);
}

static void
test_field_names(void **state)
{
	(void)state;
	assert_int_equal(replace_err(1, "User alice"), LK_ERR_RECORD);
	assert_int_equal(replace_err(1, "user\talice"), LK_ERR_RECORD);
	assert_int_equal(replace_err(1, "users alice"), LK_ERR_RECORD);
	assert_int_equal(replace_err(1, " user alice"), LK_ERR_RECORD);
	assert_int_equal(replace_err(1, "user"), LK_ERR_RECORD);
	assert_int_equal(replace_err(1, "user "), LK_ERR_RECORD);
	assert_int_equal(replace_err(2, "created"), LK_ERR_RECORD);
	assert_int_equal(replace_err(2, "created="), LK_ERR_RECORD);
	assert_int_equal(replace_err(2, "create 1764092400"), LK_ERR_RECORD);
	assert_int_equal(replace_err(3, "not_after 1764092460"),
	    LK_ERR_RECORD);
	assert_int_equal(replace_err(3, "notafter 1764092460"),
	    LK_ERR_RECORD);
	assert_int_equal(replace_err(4, "key"), LK_ERR_RECORD);
	assert_int_equal(replace_err(4, "key "), LK_ERR_RECORD);
	assert_int_equal(replace_err(4, "keys ssh-ed25519 AAAA"),
	    LK_ERR_RECORD);
}

static void
test_bad_magic(void **state)
{
	static const char *magics[] = {
		"latchkey-key-record 2", "latchkey-key-record 1 ",
		"latchkey-key-record  1", "Latchkey-key-record 1",
		"latchkey-key-record", "latchkey-key-record 10", "", " ",
		"latchkey-key-record 1\r",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		assert_int_equal(replace_err(0, magics[i]), LK_ERR_RECORD);
	assert_int_equal(parse_err("", 0), LK_ERR_RECORD);
	assert_int_equal(parse_err("latchkey-key-record 1", 21),
	    LK_ERR_RECORD);
	assert_int_equal(parse_err("latchkey-key-record 1\n", 22),
	    LK_ERR_RECORD);
}

static void
test_bad_user(void **state)
{
	(void)state;
	assert_int_equal(replace_err(1, "user ../root"), LK_ERR_RECORD);
	assert_int_equal(replace_err(1, "user -oProxyCommand"), LK_ERR_RECORD);
	assert_int_equal(replace_err(1, "user a`b"), LK_ERR_RECORD);
	assert_int_equal(replace_err(1, "user  alice"), LK_ERR_RECORD);
	assert_int_equal(replace_err(1, "user alice "), LK_ERR_RECORD);
	assert_int_equal(replace_err(1, "user .."), LK_ERR_RECORD);
	assert_int_equal(replace_err(1, "user caf\xc3\xa9"), LK_ERR_RECORD);
	assert_int_equal(replace_err(1,
	    "user ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg"), LK_ERR_RECORD);
	assert_int_equal(replace_err(1,
	    "user ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"), 0);
}

static void
test_bad_numbers(void **state)
{
	static const char *bad[] = {
		"", "-1", "+1", " 1", "1 ", "1x", "x", "0x10", "1e9", "1.5",
		"-", "--1", "99999999999999999999", "9223372036854775808",
		"253402300800", "1\r",
	};
	char *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(asprintf(&s, "created %s", bad[i]) > 0);
		assert_int_equal(replace_err(2, s), LK_ERR_RECORD);
		free(s);
		assert_true(asprintf(&s, "not-after %s", bad[i]) > 0);
		assert_int_equal(replace_err(3, s), LK_ERR_RECORD);
		free(s);
	}
}

static void
test_time_limits(void **state)
{
	const char *lines[NLINES];
	char *keyline;

	(void)state;
	good(lines, &keyline, TK_ED25519);
	lines[2] = "created 0";
	lines[3] = "not-after 0";
	assert_int_equal(lines_err(lines, NLINES), 0);
	lines[3] = "not-after 253402300799";
	assert_int_equal(lines_err(lines, NLINES), 0);
	lines[2] = "created 253402300799";
	assert_int_equal(lines_err(lines, NLINES), 0);
	free(keyline);
}

static void
test_not_after_before_created(void **state)
{
	const char *lines[NLINES];
	char *keyline;

	(void)state;
	good(lines, &keyline, TK_ED25519);
	lines[3] = "not-after 1764092399";
	assert_int_equal(lines_err(lines, NLINES), LK_ERR_RECORD);
	lines[3] = "not-after 0";
	assert_int_equal(lines_err(lines, NLINES), LK_ERR_RECORD);
	lines[3] = "not-after 1764092400";	/* equal is allowed */
	assert_int_equal(lines_err(lines, NLINES), 0);
	free(keyline);
}

/* A NUL anywhere, inserted or overwriting, spoils the record. */
static void
test_nul_inside(void **state)
{
	const char *lines[NLINES];
	char *keyline, *buf, *ins;
	size_t len, i;

	(void)state;
	good(lines, &keyline, TK_ED25519);
	buf = join(lines, NLINES, &len);
	assert_non_null(ins = malloc(len + 1));
	for (i = 0; i <= len; i++) {
		memcpy(ins, buf, i);
		ins[i] = '\0';
		memcpy(ins + i + 1, buf + i, len - i);
		assert_int_equal(parse_err(ins, len + 1), LK_ERR_RECORD);
		if (i < len && buf[i] != '\n') {
			char saved = buf[i];

			buf[i] = '\0';
			assert_int_equal(parse_err(buf, len), LK_ERR_RECORD);
			buf[i] = saved;
		}
	}
	free(ins);
	free(buf);
	free(keyline);
}

static void
test_line_endings(void **state)
{
	const char *lines[NLINES];
	char *keyline, *buf, *crlf;
	size_t len, i, o;

	(void)state;
	good(lines, &keyline, TK_ED25519);
	buf = join(lines, NLINES, &len);
	/* No trailing newline. */
	assert_int_equal(parse_err(buf, len - 1), LK_ERR_RECORD);
	/* An extra empty line, a sixth line, trailing junk. */
	assert_int_equal(parse_err(buf, len), 0);
	buf[len] = '\n';
	assert_int_equal(parse_err(buf, len + 1), LK_ERR_RECORD);
	buf[len] = 'x';
	assert_int_equal(parse_err(buf, len + 1), LK_ERR_RECORD);
	/* CRLF. */
	assert_non_null(crlf = malloc(2 * len));
	for (i = 0, o = 0; i < len; i++) {
		if (buf[i] == '\n')
			crlf[o++] = '\r';
		crlf[o++] = buf[i];
	}
	assert_int_equal(parse_err(crlf, o), LK_ERR_RECORD);
	free(crlf);
	free(buf);
	free(keyline);
}

static void
test_extra_line(void **state)
{
	const char *lines[NLINES + 1];
	char *keyline;

	(void)state;
	good(lines, &keyline, TK_ED25519);
	lines[5] = "key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE6TwYtvMpRJMSs+"
	    "XOXt6+cu+luHnBt1HjFmUE/7ZUbO";
	assert_int_equal(lines_err(lines, NLINES + 1), LK_ERR_RECORD);
	lines[5] = "";
	assert_int_equal(lines_err(lines, NLINES + 1), LK_ERR_RECORD);
	lines[5] = "comment x";
	assert_int_equal(lines_err(lines, NLINES + 1), LK_ERR_RECORD);
	free(keyline);
}

static void
test_bad_key_line(void **state)
{
	char *s;

	(void)state;
	assert_true(asprintf(&s, "key no-pty %s", tkeys[TK_ED25519].line) > 0);
	assert_int_equal(replace_err(4, s), LK_ERR_RECORD);
	free(s);
	assert_true(asprintf(&s, "key command=\"/bin/sh\" %s",
	    tkeys[TK_ED25519].line) > 0);
	assert_int_equal(replace_err(4, s), LK_ERR_RECORD);
	free(s);
	assert_true(asprintf(&s, "key %s", tkeys[TK_RSA1024].line) > 0);
	assert_int_equal(replace_err(4, s), LK_ERR_RECORD);
	free(s);
	assert_int_equal(replace_err(4, "key ssh-ed25519 AAAA"), LK_ERR_RECORD);
	assert_int_equal(replace_err(4, "key ssh-dss AAAA"), LK_ERR_RECORD);
	assert_int_equal(replace_err(4, "key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"
	    "AAAAIE6TwYtvMpRJMSs+XOXt6+cu+luHnBt1HjFmUE/7ZUbO!"), LK_ERR_RECORD);
	assert_int_equal(replace_err(4, "key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"
	    "AAAAIE6TwYtvMpRJMSs+XOXt6+cu+luHnBt1HjFmUE/7ZUbO\x1b[2J"),
	    LK_ERR_RECORD);
}

static void
test_too_long(void **state)
{
	const char *lines[NLINES];
	char *keyline, *buf, *big;
	size_t len, klen;

	(void)state;
	/* Over LK_RECORD_MAX before anything else is looked at. */
	good(lines, &keyline, TK_ED25519);
	buf = join(lines, NLINES, &len);
	assert_non_null(big = malloc(LK_RECORD_MAX + 1));
	memset(big, ' ', LK_RECORD_MAX + 1);
	memcpy(big, buf, len);
	assert_int_equal(parse_err(big, LK_RECORD_MAX + 1), LK_ERR_TOO_LONG);
	free(big);
	free(buf);
	free(keyline);

	/* A key line of exactly LK_SSHKEY_MAX_LINE bytes is fine ... */
	klen = strlen(tkeys[TK_ED25519].line);
	assert_non_null(keyline = malloc(4 + LK_SSHKEY_MAX_LINE + 2));
	memcpy(keyline, "key ", 4);
	memcpy(keyline + 4, tkeys[TK_ED25519].line, klen);
	memset(keyline + 4 + klen, ' ', LK_SSHKEY_MAX_LINE + 1 - klen);
	keyline[4 + LK_SSHKEY_MAX_LINE] = '\0';
	assert_int_equal(replace_err(4, keyline), 0);
	/* ... one more is not. */
	keyline[4 + LK_SSHKEY_MAX_LINE] = ' ';
	keyline[4 + LK_SSHKEY_MAX_LINE + 1] = '\0';
	assert_int_equal(replace_err(4, keyline), LK_ERR_RECORD);
	free(keyline);
}

static void
test_format_refuses(void **state)
{
	struct lk_record rec;
	char *buf = (char *)1;
	size_t len = 9;

	(void)state;
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(lk_sshkey_parse_line(tkeys[TK_ED25519].line,
	    strlen(tkeys[TK_ED25519].line), &rec.key), 0);
	snprintf(rec.user, sizeof(rec.user), "../root");
	rec.created = 10;
	rec.not_after = 20;
	assert_int_equal(lk_record_format(&rec, &buf, &len),
	    LK_ERR_INVALID_FORMAT);
	assert_null(buf);
	assert_int_equal(len, 0);
	snprintf(rec.user, sizeof(rec.user), "alice");
	rec.created = -1;
	assert_int_equal(lk_record_format(&rec, &buf, &len),
	    LK_ERR_INVALID_FORMAT);
	rec.created = 30;
	assert_int_equal(lk_record_format(&rec, &buf, &len),
	    LK_ERR_INVALID_FORMAT);
	rec.created = 10;
	rec.not_after = 253402300800LL;
	assert_int_equal(lk_record_format(&rec, &buf, &len),
	    LK_ERR_INVALID_FORMAT);
	rec.not_after = INT64_MAX;
	assert_int_equal(lk_record_format(&rec, &buf, &len),
	    LK_ERR_INVALID_FORMAT);
	rec.not_after = 253402300799LL;
	assert_int_equal(lk_record_format(&rec, &buf, &len), 0);
	free(buf);
	lk_sshkey_free(rec.key);
	lk_record_free(NULL);
}

/* The key parser's comment rule applies inside records too. */
static void
test_long_comment_dropped(void **state)
{
	struct lk_record *rec;
	char *s, *buf, c129[130];
	const char *lines[NLINES];
	size_t len;

	(void)state;
	memset(c129, 'c', 129);
	c129[129] = '\0';
	assert_true(asprintf(&s, "key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE6"
	    "TwYtvMpRJMSs+XOXt6+cu+luHnBt1HjFmUE/7ZUbO %s", c129) > 0);
	memcpy(lines, good_lines, sizeof(lines));
	lines[4] = s;
	buf = join(lines, NLINES, &len);
	assert_int_equal(lk_record_parse(buf, len, &rec), 0);
	assert_null(rec->key->comment);
	lk_record_free(rec);
	free(buf);
	free(s);
}

/*
 * A record whose EC point is off its curve never yields a key that
 * passes lk_sshkey_validate(): either the parse refuses it or the
 * (shape-only) key it returns fails validation.
 */
static void
test_off_curve_point(void **state)
{
	struct lk_record *rec;
	unsigned char *blob;
	const char *lines[NLINES];
	char *kl, *line, *buf;
	size_t len, blen;
	int r;

	(void)state;
	t_line_blob(tkeys[TK_ECDSA256].line, &blob, &blen);
	blob[blen - 1] ^= 0x01;
	line = t_mkline("ecdsa-sha2-nistp256", blob, blen, NULL);
	assert_true(asprintf(&kl, "key %s", line) > 0);
	memcpy(lines, good_lines, sizeof(lines));
	lines[4] = kl;
	buf = join(lines, NLINES, &len);
	r = lk_record_parse(buf, len, &rec);
	if (r == 0) {
		assert_int_equal(lk_sshkey_validate(rec->key),
		    LK_ERR_KEY_POINT);
		lk_record_free(rec);
	} else
		assert_int_equal(r, LK_ERR_RECORD);
	free(buf);
	free(kl);
	free(line);
	free(blob);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_exact),
		cmocka_unit_test(test_round_trip_every_key_type),
		cmocka_unit_test(test_field_missing),
		cmocka_unit_test(test_field_duplicated),
		cmocka_unit_test(test_field_out_of_order),
		cmocka_unit_test(test_field_names),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_bad_user),
		cmocka_unit_test(test_bad_numbers),
		cmocka_unit_test(test_time_limits),
		cmocka_unit_test(test_not_after_before_created),
		cmocka_unit_test(test_nul_inside),
		cmocka_unit_test(test_line_endings),
		cmocka_unit_test(test_extra_line),
		cmocka_unit_test(test_bad_key_line),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_format_refuses),
		cmocka_unit_test(test_long_comment_dropped),
		cmocka_unit_test(test_off_curve_point),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
