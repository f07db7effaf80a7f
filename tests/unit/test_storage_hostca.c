/*
 * The optional host CA (issue 14, item 5) on both backends (dbtest.h):
 * one CA row that a second add does not replace (replicas racing), its
 * private half sealed under the master key and refused under another;
 * certificates for an instance's reported keys with its id, name and
 * addresses as principals (nothing ssh reads as a pattern, no name that
 * poses as an instance id), kept in the first half of their life and
 * renewed after it, and gone with a replaced key set.
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

#include "dbtest.h"
#include "err.h"
#include "hostca.h"
#include "keys.h"
#include "latchkeyd.h"
#include "sig.h"
#include "sshcert.h"
#include "sshkey.h"
#include "store.h"

DBTEST_LKD_FIXTURE

/* tkeys[idx] without comments as store keys. */
static size_t
keys_of(const int *idx, size_t n, struct store_hostkey **out)
{
	struct store_hostkey *k;
	struct lk_sshkey *key;
	char fp[LK_SSHKEY_FP_SIZE], *line, *sp;
	size_t i;

	assert_non_null(k = calloc(n, sizeof(*k)));
	for (i = 0; i < n; i++) {
		assert_int_equal(lk_sshkey_parse_line(tkeys[idx[i]].line,
		    strlen(tkeys[idx[i]].line), &key), 0);
		assert_int_equal(lk_sshkey_to_line(key, 0, &line), 0);
		assert_int_equal(lk_sshkey_fingerprint(key, fp), 0);
		assert_non_null(sp = strchr(line, ' '));
		*sp = '\0';
		assert_non_null(k[i].type = strdup(line));
		assert_non_null(k[i].b64 = strdup(sp + 1));
		assert_non_null(k[i].fingerprint = strdup(fp));
		free(line);
		lk_sshkey_free(key);
	}
	*out = k;
	return n;
}

static void
test_ca_row(void **state)
{
	char *pub = NULL;
	unsigned char *sealed = NULL;
	size_t len;

	(void)state;
	assert_int_equal(store_hostca_get(&pub, &sealed, &len),
	    LK_ERR_NOT_FOUND);
	assert_null(pub);
	assert_int_equal(store_hostca_add("ssh-ed25519 A",
	    (const unsigned char *)"first", 5, 10), 0);
	/* A second replica's add loses quietly. */
	assert_int_equal(store_hostca_add("ssh-ed25519 B",
	    (const unsigned char *)"second", 6, 11), 0);
	assert_int_equal(store_hostca_get(&pub, &sealed, &len), 0);
	assert_string_equal(pub, "ssh-ed25519 A");
	assert_int_equal(len, 5);
	assert_memory_equal(sealed, "first", 5);
	free(pub);
	free(sealed);
}

/* Registers i-9 with keys, hostname host and addresses addrs. */
static void
register_inst(const char *id, const char *host, const char *addrs,
    const struct store_hostkey *k, size_t n)
{
	struct store_agent_reg reg;
	struct store_agent_reg_out out;
	struct store_act_new a;
	char hash[LK_SIG_V3_SIZE];

	assert_int_equal(lk_sig_sha256_hex("code", 4, hash), 0);
	memset(&a, 0, sizeof(a));
	a.id = id;	/* one activation each */
	a.code_hash = hash;
	a.count = 5;
	a.expires = 1000000000;
	a.now = 100;
	assert_int_equal(store_act_add(&a), 0);
	memset(&reg, 0, sizeof(reg));
	reg.activation_id = id;
	reg.code_hash = hash;
	reg.id = id;
	reg.cred_hash = "credhash";
	reg.hostname = host;
	reg.os = reg.version = "x";
	reg.addresses = addrs;
	reg.hostkeys = k;
	reg.nhostkeys = n;
	reg.now = 100;
	assert_int_equal(store_agent_register(&reg, &out), 0);
	store_agent_reg_out_free(&out);
}

static void
check_cert(const char *line, const char *ca_line, const char *const *want,
    size_t nwant)
{
	struct lk_sshcert *c = NULL;
	char *mine = NULL;
	size_t i;

	assert_int_equal(lk_sshcert_parse_line(line, strlen(line), &c), 0);
	assert_string_equal(c->key_id, "latchkey:i-9");
	assert_int_equal(c->nprincipals, nwant);
	for (i = 0; i < nwant; i++)
		assert_string_equal(c->principals[i], want[i]);
	assert_int_equal(lk_sshcert_ca_line(c->ca, &mine), 0);
	assert_string_equal(mine, ca_line);
	assert_true(c->valid_before - c->valid_after ==
	    (uint64_t)hostca_conf.validity + HOSTCA_BACKDATE);
	free(mine);
	lk_sshcert_free(c);
}

static void
test_issue(void **state)
{
	const int ab[] = { TK_ED25519, TK_RSA2048 }, c[] = { TK_ECDSA384 };
	const char *want[] = { "i-9", "web-9", "10.0.0.9", "fd00::9" };
	struct store_hostkey *k1, *k2;
	json_t *certs = NULL, *again = NULL, *later = NULL;
	char *ca = NULL, *ca2 = NULL;
	size_t n1, n2;
	int64_t t0 = 1000000;

	(void)state;
	hostca_forget();
	hostca_conf.on = 1;
	hostca_conf.validity = HOSTCA_VALIDITY_DEFAULT;
	memset(lkd->master, 7, sizeof(lkd->master));
	n1 = keys_of(ab, 2, &k1);
	n2 = keys_of(c, 1, &k2);
	register_inst("i-9", "web-9",
	    "[\"10.0.0.9\",\"*\",\"fd00::9\",\"a,b\",\"10.0.0.9\",7]", k1, n1);
	assert_int_equal(hostca_issue("i-9", t0, &certs), 0);
	assert_int_equal(json_array_size(certs), 2);
	assert_int_equal(hostca_public(&ca), 0);
	check_cert(json_string_value(json_array_get(certs, 0)), ca, want, 4);
	check_cert(json_string_value(json_array_get(certs, 1)), ca, want, 4);
	/* The CA is the stored one: forgotten and read back, the same. */
	hostca_forget();
	assert_int_equal(hostca_public(&ca2), 0);
	assert_string_equal(ca, ca2);
	/* Within the first half of their life: the same certificates. */
	assert_int_equal(hostca_issue("i-9", t0 + 86400, &again), 0);
	assert_true(json_equal(certs, again));
	json_decref(again);
	/* Past it: new ones. */
	assert_int_equal(hostca_issue("i-9", t0 + 15 * 86400, &later), 0);
	assert_int_equal(json_array_size(later), 2);
	assert_string_not_equal(json_string_value(json_array_get(later, 0)),
	    json_string_value(json_array_get(certs, 0)));
	json_decref(later);
	/* Another key set: one certificate, of the new key. */
	assert_int_equal(store_hostkeys_put("i-9", k2, n2, t0 + 20 * 86400), 0);
	assert_int_equal(hostca_issue("i-9", t0 + 20 * 86400, &later), 0);
	assert_int_equal(json_array_size(later), 1);
	assert_memory_equal(json_string_value(json_array_get(later, 0)),
	    "ecdsa-sha2-nistp384-cert-v01@openssh.com ", 41);
	json_decref(later);
	/* A name that poses as an instance id is no principal. */
	register_inst("i-8", "i-9", "[]", k1, n1);
	assert_int_equal(hostca_issue("i-8", t0, &later), 0);
	{
		struct lk_sshcert *cert = NULL;
		const char *l = json_string_value(json_array_get(later, 0));

		assert_int_equal(lk_sshcert_parse_line(l, strlen(l), &cert),
		    0);
		assert_int_equal(cert->nprincipals, 1);
		assert_string_equal(cert->principals[0], "i-8");
		lk_sshcert_free(cert);
	}
	json_decref(later);
	/* No keys: no certificates. An unknown instance: NOT_FOUND. */
	register_inst("i-7", "web-7", "[]", NULL, 0);
	assert_int_equal(hostca_issue("i-7", t0, &later), 0);
	assert_int_equal(json_array_size(later), 0);
	json_decref(later);
	assert_int_equal(hostca_issue("i-nosuch", t0, &later),
	    LK_ERR_NOT_FOUND);
	/* Under another master key the stored CA does not open. */
	hostca_forget();
	memset(lkd->master, 8, sizeof(lkd->master));
	free(ca2);
	assert_int_not_equal(hostca_public(&ca2), 0);
	assert_null(ca2);
	hostca_forget();
	free(ca);
	json_decref(certs);
	store_hostkeys_free(k1, n1);
	store_hostkeys_free(k2, n2);
}

#define BOTH(f)	\
	{ #f " sqlite", f, setup, teardown, &backend_sqlite }, \
	{ #f " postgresql", f, setup, teardown, &backend_pg }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_ca_row),
		BOTH(test_issue),
	};

	return cmocka_run_group_tests_name("storage_hostca", tests, NULL,
	    NULL);
}
