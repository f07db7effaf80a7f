/*
 * The sshd host keys agents report (issue 14): server/hostkeys.c refuses
 * every hostile report whole (not a key, options, a comment, a control
 * character or NUL, 17 keys, a 9 KiB line, DSA, RSA 1024, security keys,
 * duplicates, other spellings); server/store_hostkeys.c on both backends
 * (dbtest.h) keeps first_seen of the keys that stay, moves only seen when
 * the set is the same, changes nothing for an empty report, and goes in
 * the same transaction as a registration or a hello.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "b64.h"
#include "dbtest.h"
#include "err.h"
#include "hostkeys.h"
#include "keys.h"
#include "latchkeyd.h"
#include "sig.h"
#include "store.h"

DBTEST_LKD_FIXTURE

/* A DSA key (ssh-keygen -t dsa, OpenSSH 9.2p1; private half thrown away). */
static const char dsa_line[] =
    "ssh-dss AAAAB3NzaC1kc3MAAACBAIdH//b3seMC4Cel1zNHNvOzhx6RFCO3NeXQkb"
    "c/V03DkrzB7+cf5hXt18nn6kJVj1XqIVSn+DyKglAdYifqk4uj5PIipr5THN7NqJBW"
    "wlppNWLaNliFa3boYP1F1dv0WH9qbez5KNno4LCA4IPX9rC1tvhimoFJyrEp+Rcf6X"
    "zhAAAAFQCLSaJ+5IkbsgxK/kjbmtGdMpM8KwAAAIASdP5KOozPYQXdyjmhG7UuPle2"
    "GV4RrSBtdKfWK52pXjPA7EL9EkM/Yq/gsmPzAjahxcJgYgL65BvE0lnNkAlpBvBITk"
    "ygrgJPoPTNGnOzq9mlVmiKxujPyGH1UwhnD4MRsb3VEQzJ+EpVrY5O+quakmeKtBS3"
    "CrxIWxoWHP7JwwAAAIAZcxHEV0qFauiUXShso0SMYlUKbVYYwSQigMy+xMPnmZxN9T"
    "YnOhJKozGJDZqeaiN97qV1ODUBFnUKbA8SFIC88GPudt9gUDVNQcgOSVsHAilswMA/"
    "jfaPg6LU+wkso2wfI/iTWis9Uzofa+j1ID4C/7gX66z9OJe6JvwSDXkiXg==";

/* tkeys[i]'s line without its comment, in a static buffer. */
static const char *
bare(int i)
{
	static char buf[4][LK_SSHKEY_MAX_LINE];
	static int turn;
	const char *l = tkeys[i].line, *sp = strchr(strchr(l, ' ') + 1, ' ');
	char *b = buf[turn++ % 4];

	snprintf(b, sizeof(buf[0]), "%.*s", (int)(sp - l), l);
	return b;
}

/* An ed25519 line whose 32-byte point is all byte c. */
static char *
ed25519_of(unsigned char c)
{
	unsigned char blob[4 + 11 + 4 + 32];
	char *b64, *line;

	memcpy(blob, "\0\0\0\013ssh-ed25519\0\0\0\040", 19);
	memset(blob + 19, c, 32);
	assert_non_null(b64 = lk_b64_encode(blob, sizeof(blob), 1));
	assert_int_not_equal(asprintf(&line, "ssh-ed25519 %s", b64), -1);
	free(b64);
	return line;
}

/* Parses a JSON text; returns hostkeys_parse's result, *np the count. */
static int
parse_text(const char *text, size_t *np)
{
	struct store_hostkey *keys = NULL;
	json_t *a;
	int r;

	assert_non_null(a = json_loads(text, JSON_ALLOW_NUL, NULL));
	r = hostkeys_parse(a, &keys, np);
	if (r != 0) {
		assert_null(keys);
		assert_int_equal(*np, 0);
	}
	store_hostkeys_free(keys, *np);
	json_decref(a);
	return r;
}

/* One string as the report's only key. */
static int
parse_one(const char *s, size_t len)
{
	struct store_hostkey *keys = NULL;
	json_t *a;
	size_t n = 99;
	int r;

	assert_non_null(a = json_array());
	assert_int_equal(json_array_append_new(a, json_stringn(s, len)), 0);
	r = hostkeys_parse(a, &keys, &n);
	if (r != 0) {
		assert_null(keys);
		assert_int_equal(n, 0);
	}
	store_hostkeys_free(keys, n);
	json_decref(a);
	return r;
}

static void
test_parse_good(void **state)
{
	const int good[] = { TK_ED25519, TK_ECDSA256, TK_ECDSA384,
	    TK_ECDSA521, TK_RSA2048, TK_RSA3072 };
	struct store_hostkey *keys = NULL;
	json_t *a;
	size_t n, i;

	(void)state;
	assert_non_null(a = json_array());
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		json_array_append_new(a, json_string(bare(good[i])));
	assert_int_equal(hostkeys_parse(a, &keys, &n), 0);
	assert_int_equal(n, sizeof(good) / sizeof(good[0]));
	for (i = 0; i < n; i++) {
		char line[LK_SSHKEY_MAX_LINE];

		snprintf(line, sizeof(line), "%s %s", keys[i].type,
		    keys[i].b64);
		assert_string_equal(line, bare(good[i]));
		assert_string_equal(keys[i].fingerprint, tkeys[good[i]].fp);
	}
	store_hostkeys_free(keys, n);
	json_decref(a);

	/* None sent, or an empty list: no keys, no error. */
	assert_int_equal(hostkeys_parse(NULL, &keys, &n), 0);
	assert_null(keys);
	assert_int_equal(n, 0);
	assert_int_equal(parse_text("[]", &n), 0);
	assert_int_equal(n, 0);
}

static void
test_parse_hostile(void **state)
{
	char line[LK_SSHKEY_MAX_LINE + 2048], *big;
	const char *ed = bare(TK_ED25519);
	size_t n, i;

	(void)state;
	/* Not a key. */
	assert_int_equal(parse_one("hello", 5), LK_ERR_INVALID_FORMAT);
	assert_int_equal(parse_one("", 0), LK_ERR_INVALID_FORMAT);
	assert_int_equal(parse_one("ssh-ed25519 AAAA", 16),
	    LK_ERR_INVALID_FORMAT);
	/* Options before the key. */
	snprintf(line, sizeof(line), "no-pty,command=\"/bin/sh\" %s", ed);
	assert_int_equal(parse_one(line, strlen(line)), LK_ERR_INVALID_FORMAT);
	snprintf(line, sizeof(line), "cert-authority %s", ed);
	assert_int_equal(parse_one(line, strlen(line)), LK_ERR_INVALID_FORMAT);
	/* A comment, and the line as ssh-keygen writes it. */
	snprintf(line, sizeof(line), "%s root@host", ed);
	assert_int_equal(parse_one(line, strlen(line)), LK_ERR_INVALID_FORMAT);
	assert_int_equal(parse_one(tkeys[TK_ED25519].line,
	    strlen(tkeys[TK_ED25519].line)), LK_ERR_INVALID_FORMAT);
	/* Blanks around it, a tab inside, a newline, a NUL, DEL, ESC. */
	snprintf(line, sizeof(line), " %s", ed);
	assert_int_equal(parse_one(line, strlen(line)), LK_ERR_INVALID_FORMAT);
	snprintf(line, sizeof(line), "%s ", ed);
	assert_int_equal(parse_one(line, strlen(line)), LK_ERR_INVALID_FORMAT);
	snprintf(line, sizeof(line), "%s", ed);
	line[strlen("ssh-ed25519")] = '\t';
	assert_int_equal(parse_one(line, strlen(line)), LK_ERR_INVALID_FORMAT);
	snprintf(line, sizeof(line), "%s\nssh-ed25519 AAAA", ed);
	assert_int_equal(parse_one(line, strlen(line)), LK_ERR_INVALID_FORMAT);
	snprintf(line, sizeof(line), "%s", ed);
	assert_int_equal(parse_one(line, strlen(line) + 1),
	    LK_ERR_INVALID_FORMAT);			/* trailing NUL */
	snprintf(line, sizeof(line), "%s\x7f", ed);
	assert_int_equal(parse_one(line, strlen(line)), LK_ERR_INVALID_FORMAT);
	snprintf(line, sizeof(line), "%s \x1b[2J", ed);
	assert_int_equal(parse_one(line, strlen(line)), LK_ERR_INVALID_FORMAT);
	/* A 9 KiB line. */
	memcpy(line, "ssh-ed25519 ", 12);
	memset(line + 12, 'A', 9 * 1024 - 12);
	assert_int_equal(parse_one(line, 9 * 1024), LK_ERR_INVALID_FORMAT);
	/* DSA, RSA 1024, security keys. */
	assert_int_equal(parse_one(dsa_line, strlen(dsa_line)),
	    LK_ERR_INVALID_FORMAT);
	assert_int_equal(parse_one(bare(TK_RSA1024), strlen(bare(TK_RSA1024))),
	    LK_ERR_INVALID_FORMAT);
	assert_int_equal(parse_one(bare(TK_SK_ED25519),
	    strlen(bare(TK_SK_ED25519))), LK_ERR_INVALID_FORMAT);
	assert_int_equal(parse_one(bare(TK_SK_ECDSA256),
	    strlen(bare(TK_SK_ECDSA256))), LK_ERR_INVALID_FORMAT);
	/* Base64 without its padding: another spelling of the key. */
	snprintf(line, sizeof(line), "%s", bare(TK_ECDSA256));
	line[strlen(line) - 1] = '\0';
	assert_int_equal(parse_one(line, strlen(line)), LK_ERR_INVALID_FORMAT);

	/* 16 distinct keys pass; 17 are refused; so is a repeat. */
	big = strdup("[");
	for (i = 0; i < 17; i++) {
		char *k = ed25519_of((unsigned char)(i + 1)), *nb;

		assert_int_not_equal(asprintf(&nb, "%s%s\"%s\"", big,
		    i ? "," : "", k), -1);
		free(big);
		free(k);
		big = nb;
		if (i == 15) {
			snprintf(line, sizeof(line), "%s]", big);
			assert_int_equal(parse_text(line, &n), 0);
			assert_int_equal(n, 16);
		}
	}
	snprintf(line, sizeof(line), "%s]", big);
	assert_int_equal(parse_text(line, &n), LK_ERR_INVALID_FORMAT);
	free(big);
	snprintf(line, sizeof(line), "[\"%s\",\"%s\",\"%s\"]", ed,
	    bare(TK_RSA2048), ed);
	assert_int_equal(parse_text(line, &n), LK_ERR_INVALID_FORMAT);

	/* One bad key refuses the whole report; so do wrong JSON types. */
	snprintf(line, sizeof(line), "[\"%s\",\"%s\"]", ed, dsa_line);
	assert_int_equal(parse_text(line, &n), LK_ERR_INVALID_FORMAT);
	snprintf(line, sizeof(line), "[\"%s\",7]", ed);
	assert_int_equal(parse_text(line, &n), LK_ERR_INVALID_FORMAT);
	assert_int_equal(parse_text("{\"a\":1}", &n), LK_ERR_INVALID_FORMAT);
	assert_int_equal(parse_text("[null]", &n), LK_ERR_INVALID_FORMAT);
	assert_int_equal(parse_text("[[\"x\"]]", &n), LK_ERR_INVALID_FORMAT);
}

/* Valid keys from the test keys, as hostkeys_parse makes them. */
static size_t
keys_of(const int *which, size_t n, struct store_hostkey **keysp)
{
	json_t *a = json_array();
	size_t i, got;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(bare(which[i])));
	assert_int_equal(hostkeys_parse(a, keysp, &got), 0);
	assert_int_equal(got, n);
	json_decref(a);
	return got;
}

/* Instance id's stored keys: the count, and the key of a fingerprint. */
static size_t
stored(const char *id, const char *fp, struct store_hostkey *out)
{
	struct store_hostkey *keys = NULL;
	size_t n, i;

	assert_int_equal(store_hostkeys_get(id, &keys, &n), 0);
	memset(out, 0, sizeof(*out));
	for (i = 0; i < n; i++)
		if (fp != NULL && strcmp(keys[i].fingerprint, fp) == 0) {
			out->first_seen = keys[i].first_seen;
			out->seen = keys[i].seen;
		}
	for (i = 1; i < n; i++)		/* ordered: type, fingerprint */
		assert_true(strcmp(keys[i - 1].type, keys[i].type) < 0 ||
		    (strcmp(keys[i - 1].type, keys[i].type) == 0 &&
		    strcmp(keys[i - 1].fingerprint, keys[i].fingerprint) < 0));
	store_hostkeys_free(keys, n);
	return n;
}

static void
test_store_sets(void **state)
{
	const int ab[] = { TK_RSA2048, TK_ED25519 };
	const int ac[] = { TK_ED25519, TK_ECDSA384 };
	struct store_hostkey *k1, *k2, got;
	const char *fa = tkeys[TK_ED25519].fp, *fb = tkeys[TK_RSA2048].fp;
	const char *fc = tkeys[TK_ECDSA384].fp;
	size_t n1, n2;

	(void)state;
	n1 = keys_of(ab, 2, &k1);
	n2 = keys_of(ac, 2, &k2);
	assert_int_equal(stored("i-1", NULL, &got), 0);

	assert_int_equal(store_hostkeys_put("i-1", k1, n1, 100), 0);
	assert_int_equal(stored("i-1", fa, &got), 2);
	assert_int_equal(got.first_seen, 100);
	assert_int_equal(got.seen, 100);
	assert_int_equal(stored("i-2", NULL, &got), 0);

	/* The same set: only seen moves. */
	assert_int_equal(store_hostkeys_put("i-1", k1, n1, 200), 0);
	assert_int_equal(stored("i-1", fb, &got), 2);
	assert_int_equal(got.first_seen, 100);
	assert_int_equal(got.seen, 200);

	/* Another set replaces it; the key that stays keeps first_seen. */
	assert_int_equal(store_hostkeys_put("i-1", k2, n2, 300), 0);
	assert_int_equal(stored("i-1", fa, &got), 2);
	assert_int_equal(got.first_seen, 100);
	assert_int_equal(got.seen, 300);
	(void)stored("i-1", fc, &got);
	assert_int_equal(got.first_seen, 300);
	(void)stored("i-1", fb, &got);
	assert_int_equal(got.first_seen, 0);	/* gone */

	/* A subset is a different set too. */
	assert_int_equal(store_hostkeys_put("i-1", k2, 1, 400), 0);
	assert_int_equal(stored("i-1", fa, &got), 1);
	assert_int_equal(got.first_seen, 100);

	/* An empty report changes nothing. */
	assert_int_equal(store_hostkeys_put("i-1", NULL, 0, 500), 0);
	assert_int_equal(stored("i-1", fa, &got), 1);
	assert_int_equal(got.seen, 400);

	/* Another instance's keys are its own. */
	assert_int_equal(store_hostkeys_put("i-2", k1, n1, 600), 0);
	assert_int_equal(stored("i-2", fa, &got), 2);
	assert_int_equal(got.first_seen, 600);
	assert_int_equal(stored("i-1", fa, &got), 1);
	assert_int_equal(got.first_seen, 100);

	/* Rolled back with the transaction it is part of. */
	assert_int_equal(lkdb_begin(lkd->db), 0);
	assert_int_equal(store_hostkeys_put_tx("i-3", k1, n1, 700), 0);
	lkdb_rollback(lkd->db);
	assert_int_equal(stored("i-3", NULL, &got), 0);

	store_hostkeys_free(k1, n1);
	store_hostkeys_free(k2, n2);
}

/* Registration and hello store the keys with the rest, or nothing. */
static void
test_store_register_hello(void **state)
{
	const int ab[] = { TK_ED25519, TK_RSA2048 };
	const int c[] = { TK_ECDSA521 };
	struct store_agent_reg reg;
	struct store_agent_reg_out out;
	struct store_agent_hello hl;
	struct store_hostkey *k1, *k2, got;
	char hash[LK_SIG_V3_SIZE];
	size_t n1, n2;

	(void)state;
	n1 = keys_of(ab, 2, &k1);
	n2 = keys_of(c, 1, &k2);
	assert_int_equal(lk_sig_sha256_hex("code", 4, hash), 0);
	{
		struct store_act_new a;

		memset(&a, 0, sizeof(a));
		a.id = "act-1";
		a.code_hash = hash;
		a.count = 5;
		a.expires = 1000000;
		a.now = 100;
		assert_int_equal(store_act_add(&a), 0);
	}
	memset(&reg, 0, sizeof(reg));
	reg.activation_id = "act-1";
	reg.code_hash = hash;
	reg.id = "i-9";
	reg.cred_hash = "credhash";
	reg.hostname = reg.os = reg.version = "x";
	reg.addresses = "[]";
	reg.hostkeys = k1;
	reg.nhostkeys = n1;
	reg.now = 100;
	assert_int_equal(store_agent_register(&reg, &out), 0);
	store_agent_reg_out_free(&out);
	assert_int_equal(stored("i-9", tkeys[TK_RSA2048].fp, &got), 2);
	assert_int_equal(got.first_seen, 100);

	/* A registration refused stores no keys. */
	reg.id = "i-10";
	reg.activation_id = "act-nosuch";
	assert_int_equal(store_agent_register(&reg, &out), LK_ERR_NOT_FOUND);
	store_agent_reg_out_free(&out);
	assert_int_equal(stored("i-10", NULL, &got), 0);

	memset(&hl, 0, sizeof(hl));
	hl.id = "i-9";
	hl.hostname = hl.os = hl.version = "y";
	hl.addresses = hl.ports = "[]";
	hl.hostkeys = k2;
	hl.nhostkeys = n2;
	hl.now = 200;
	assert_int_equal(store_agent_hello(&hl), 0);
	assert_int_equal(stored("i-9", tkeys[TK_ECDSA521].fp, &got), 1);
	assert_int_equal(got.first_seen, 200);
	/* A hello without keys (an older agent) keeps them. */
	hl.hostkeys = NULL;
	hl.nhostkeys = 0;
	hl.now = 300;
	assert_int_equal(store_agent_hello(&hl), 0);
	assert_int_equal(stored("i-9", tkeys[TK_ECDSA521].fp, &got), 1);
	assert_int_equal(got.seen, 200);

	store_hostkeys_free(k1, n1);
	store_hostkeys_free(k2, n2);
}

/* Each case once per backend, named after both. */
#define BOTH(f)	\
	{ #f " sqlite", f, setup, teardown, &backend_sqlite }, \
	{ #f " postgresql", f, setup, teardown, &backend_pg }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_hostile),
		BOTH(test_store_sets),
		BOTH(test_store_register_hello),
	};

	return cmocka_run_group_tests_name("storage_hostkeys", tests, NULL,
	    NULL);
}
