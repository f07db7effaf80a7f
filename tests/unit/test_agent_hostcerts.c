/*
 * agent/agent_hostcerts_check.c: the agent's check of the
 * "host_certificates" of a hello answer. A correct list (certificates of
 * keys the agent reported, in any order, one per key, up to
 * AGENT_HOSTKEYS_MAX) is accepted with its lines and the keys' hex names;
 * every forged list is refused whole, with nothing handed back: not an
 * array, a non-string entry, a key not reported, two certificates of one
 * key, a user certificate, a damaged CA signature, a comment or another
 * field, a blank or NUL where the parser stops, too many entries, a plain
 * public key. The certificates are made by lib/sshcert.c, and the hostile
 * ones are good ones changed and signed again by the test's CA.
 */
#include "unit.h"

#include <sys/wait.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "b64.h"
#include "err.h"
#include "sshcert.h"
#include "sshkey.h"

#include "agent.h"

#define NKEYS	(AGENT_HOSTKEYS_MAX + 1)

static char dir[] = "/tmp/lk-unit-agent-hostcerts.XXXXXX";
static unsigned char ca_priv[LK_SSHCERT_ED25519_LEN];
static unsigned char ca_pub[LK_SSHCERT_ED25519_LEN];
static struct lk_sshkey *keys[NKEYS];	/* Ed25519 host keys */
static char *key_lines[NKEYS];		/* their "ssh-ed25519 base64" */
static struct lk_sshkey *ecdsa;		/* an ECDSA host key */
static char *ecdsa_line;

/* "ssh-ed25519 base64" of a new raw key pair's public half. */
static char *
new_ed25519_line(void)
{
	unsigned char priv[LK_SSHCERT_ED25519_LEN], pub[LK_SSHCERT_ED25519_LEN];
	struct tbuf b = { NULL, 0, 0 };
	char *line;

	assert_int_equal(lk_sshcert_ca_generate(priv, pub), 0);
	tbuf_cstring(&b, "ssh-ed25519");
	tbuf_string(&b, pub, sizeof(pub));
	line = t_mkline("ssh-ed25519", b.p, b.len, NULL);
	tbuf_free(&b);
	return line;
}

static int
setup(void **state)
{
	char cmd[512], path[256], *p;
	size_t i;
	int st;

	(void)state;
	if (mkdtemp(dir) == NULL || lk_sshcert_ca_generate(ca_priv, ca_pub))
		return -1;
	for (i = 0; i < NKEYS; i++) {
		key_lines[i] = new_ed25519_line();
		if (lk_sshkey_parse_line(key_lines[i], strlen(key_lines[i]),
		    &keys[i]) != 0)
			return -1;
	}
	snprintf(cmd, sizeof(cmd), "ssh-keygen -q -t ecdsa -N '' -f %s/ecdsa "
	    "</dev/null >/dev/null 2>&1", dir);
	st = system(cmd);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/ecdsa.pub", dir);
	ecdsa_line = t_read_file(path, NULL);
	/* The line the agent reports: "type base64", no comment. */
	if ((p = strchr(ecdsa_line, ' ')) == NULL)
		return -1;
	p[1 + strcspn(p + 1, " \n")] = '\0';
	return lk_sshkey_parse_line(ecdsa_line, strlen(ecdsa_line), &ecdsa);
}

static int
teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NKEYS; i++) {
		lk_sshkey_free(keys[i]);
		free(key_lines[i]);
	}
	lk_sshkey_free(ecdsa);
	free(ecdsa_line);
	t_rm_rf(dir);
	return 0;
}

/* A host certificate of k by the test's CA, with comment (or none). */
static char *
cert(const struct lk_sshkey *k, const char *comment)
{
	static const char *const princ[] = { "i-0123456789abcdef0123",
	    "10.0.0.7" };
	struct lk_sshcert_spec sp;
	char *line = NULL;

	memset(&sp, 0, sizeof(sp));
	sp.key_id = "latchkey:i-0123456789abcdef0123";
	sp.principals = princ;
	sp.nprincipals = 2;
	sp.serial = 1;
	sp.valid_after = 1700000000;
	sp.valid_before = 1800000000;
	assert_int_equal(lk_sshcert_sign_host(k, ca_priv, &sp, comment, &line),
	    0);
	return line;
}

/*
 * An Ed25519 key's certificate (as cert() makes it) with its certificate
 * type set to type, then signed again by the test's CA, or with its
 * signature damaged when bad_sig.
 */
static char *
forge(const struct lk_sshkey *k, uint32_t type, int bad_sig)
{
	/* type, nonce (32 bytes), key, serial: then the type. */
	const size_t at = 4 + 32 + 4 + 32 + 4 + 32 + 8;
	/* The signature's string: u32, "ssh-ed25519", u32, 64 bytes. */
	const size_t siglen = 4 + 4 + 11 + 4 + 64;
	char *good = cert(k, NULL), *line;
	unsigned char *blob, *sig;
	size_t blen, slen = 64;
	EVP_PKEY *pk;
	EVP_MD_CTX *ctx;

	t_line_blob(good, &blob, &blen);
	assert_true(blen > at + 4 + siglen);
	assert_int_equal(blob[at + 3], LK_SSHCERT_TYPE_HOST);
	assert_int_equal(blob[blen - siglen + 3], siglen - 4);
	blob[at] = (unsigned char)(type >> 24);
	blob[at + 1] = (unsigned char)(type >> 16);
	blob[at + 2] = (unsigned char)(type >> 8);
	blob[at + 3] = (unsigned char)type;
	sig = blob + blen - 64;
	assert_non_null(pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519,
	    NULL, ca_priv, 32));
	assert_non_null(ctx = EVP_MD_CTX_new());
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &slen, blob, blen - siglen),
	    1);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	if (bad_sig)
		sig[17] ^= 0x01;
	line = t_mkline("ssh-ed25519-cert-v01@openssh.com", blob, blen, NULL);
	free(blob);
	free(good);
	return line;
}

/* A JSON array of the n C strings. */
static json_t *
strings(const char *const *s, size_t n)
{
	json_t *a = json_array();
	size_t i;

	assert_non_null(a);
	for (i = 0; i < n; i++)
		assert_int_equal(json_array_append_new(a, json_string(s[i])), 0);
	return a;
}

/* The keys the agent reported: the Ed25519 ones and the ECDSA one. */
static json_t *
reported(size_t n)
{
	json_t *a = strings((const char *const *)key_lines, n);

	assert_int_equal(json_array_append_new(a, json_string(ecdsa_line)), 0);
	return a;
}

/* agent_hostcerts_check of certs against keys, which it refuses whole. */
static void
refused(json_t *certs, json_t *keys_reported)
{
	char *lines[AGENT_HOSTKEYS_MAX], *hexes[AGENT_HOSTKEYS_MAX];
	size_t n = 99;

	assert_int_equal(agent_hostcerts_check(certs, keys_reported, lines,
	    hexes, &n), LK_ERR_INVALID_FORMAT);
	assert_int_equal(n, 0);
	json_decref(certs);
	json_decref(keys_reported);
}

/* refused() of the list { good, bad }: a good entry first changes nothing. */
static void
refused_after_good(json_t *bad)
{
	json_t *certs = json_array();
	char *good = cert(keys[0], NULL);

	assert_non_null(certs);
	assert_non_null(bad);
	assert_int_equal(json_array_append_new(certs, json_string(good)), 0);
	assert_int_equal(json_array_append_new(certs, bad), 0);
	free(good);
	refused(certs, reported(2));
}

static void
hex_of(const struct lk_sshkey *k, char hex[LK_SSHKEY_HEX_SIZE])
{
	unsigned char dig[LK_SSHKEY_DIGEST_LEN];

	assert_int_equal(lk_sshkey_digest(k, dig), 0);
	lk_sshkey_hex(dig, hex);
}

static void
test_accepted(void **state)
{
	char *lines[AGENT_HOSTKEYS_MAX], *hexes[AGENT_HOSTKEYS_MAX];
	char *c[AGENT_HOSTKEYS_MAX], hex[LK_SSHKEY_HEX_SIZE];
	json_t *certs, *rep;
	size_t n = 99, i;

	(void)state;
	/* In any order; a key reported without a certificate is fine. */
	c[0] = cert(keys[1], NULL);
	c[1] = cert(ecdsa, NULL);
	c[2] = cert(keys[0], NULL);
	certs = strings((const char *const *)c, 3);
	rep = reported(3);
	assert_int_equal(agent_hostcerts_check(certs, rep, lines, hexes, &n), 0);
	assert_int_equal(n, 3);
	for (i = 0; i < 3; i++)
		assert_string_equal(lines[i], c[i]);
	hex_of(keys[1], hex);
	assert_string_equal(hexes[0], hex);
	hex_of(ecdsa, hex);
	assert_string_equal(hexes[1], hex);
	hex_of(keys[0], hex);
	assert_string_equal(hexes[2], hex);
	for (i = 0; i < n; i++) {
		assert_null(strchr(strchr(lines[i], ' ') + 1, ' '));
		free(lines[i]);
		free(hexes[i]);
		free(c[i]);
	}
	json_decref(certs);
	/* None: accepted, nothing handed back (the drop-in is removed). */
	certs = json_array();
	n = 99;
	assert_int_equal(agent_hostcerts_check(certs, rep, lines, hexes, &n), 0);
	assert_int_equal(n, 0);
	json_decref(certs);
	json_decref(rep);
	/* AGENT_HOSTKEYS_MAX, one per key: the most. */
	for (i = 0; i < AGENT_HOSTKEYS_MAX; i++)
		c[i] = cert(keys[i], NULL);
	certs = strings((const char *const *)c, AGENT_HOSTKEYS_MAX);
	rep = reported(NKEYS);
	assert_int_equal(agent_hostcerts_check(certs, rep, lines, hexes, &n), 0);
	assert_int_equal(n, AGENT_HOSTKEYS_MAX);
	for (i = 0; i < n; i++) {
		assert_string_equal(lines[i], c[i]);
		hex_of(keys[i], hex);
		assert_string_equal(hexes[i], hex);
		free(lines[i]);
		free(hexes[i]);
		free(c[i]);
	}
	json_decref(certs);
	json_decref(rep);
}

static void
test_not_lists(void **state)
{
	char *good = cert(keys[0], NULL);

	(void)state;
	refused(json_string(good), reported(1));
	refused(json_object(), reported(1));
	refused(json_null(), reported(1));
	refused(json_integer(1), reported(1));
	/* The keys reported must be a list too. */
	refused(strings((const char *const *)&good, 1), json_string(
	    key_lines[0]));
	refused(strings((const char *const *)&good, 1), json_object());
	free(good);
}

static void
test_not_strings(void **state)
{
	json_t *o;
	char *good = cert(keys[1], NULL);

	(void)state;
	refused_after_good(json_integer(42));
	refused_after_good(json_null());
	refused_after_good(json_true());
	refused_after_good(strings((const char *const *)&good, 1));
	assert_non_null(o = json_object());
	assert_int_equal(json_object_set_new(o, "line", json_string(good)), 0);
	refused_after_good(o);
	free(good);
}

static void
test_keys(void **state)
{
	json_t *certs;
	char *c[2];

	(void)state;
	/* A key the agent did not report; then one it did, but not as a
	 * string. */
	c[0] = cert(keys[5], NULL);
	refused_after_good(json_string(c[0]));
	certs = strings((const char *const *)c, 1);
	refused(json_deep_copy(certs), json_array());
	refused(certs, json_pack("[i, n, [s]]", 1, key_lines[5]));
	free(c[0]);
	/* Two certificates of one key: the same one twice, or two made
	 * apart (other nonces). */
	c[0] = cert(keys[1], NULL);
	c[1] = cert(keys[1], NULL);
	assert_string_not_equal(c[0], c[1]);
	refused(strings((const char *const *)c, 2), reported(2));
	free(c[1]);
	c[1] = c[0];
	refused(strings((const char *const *)c, 2), reported(2));
	free(c[0]);
	/* A plain public key, even one reported. */
	refused_after_good(json_string(key_lines[1]));
	refused_after_good(json_string(ecdsa_line));
}

static void
test_forged(void **state)
{
	char *line;

	(void)state;
	/* Signed again with the type unchanged: the forging is sound. */
	line = forge(keys[1], LK_SSHCERT_TYPE_HOST, 0);
	{
		char *lines[AGENT_HOSTKEYS_MAX], *hexes[AGENT_HOSTKEYS_MAX];
		json_t *certs = strings((const char *const *)&line, 1);
		json_t *rep = reported(2);
		size_t n = 0;

		assert_int_equal(agent_hostcerts_check(certs, rep, lines, hexes,
		    &n), 0);
		assert_int_equal(n, 1);
		free(lines[0]);
		free(hexes[0]);
		json_decref(certs);
		json_decref(rep);
	}
	free(line);
	/* A user certificate of a reported key. */
	line = forge(keys[1], 1, 0);
	refused_after_good(json_string(line));
	free(line);
	/* A host certificate whose CA signature is damaged. */
	line = forge(keys[1], LK_SSHCERT_TYPE_HOST, 1);
	refused_after_good(json_string(line));
	free(line);
}

static void
test_line_form(void **state)
{
	char *good = cert(keys[1], NULL), *line, *s;
	size_t len = strlen(good), sp = strcspn(good, " ");

	(void)state;
	/* A comment, as ssh-keygen writes one; two more fields. */
	line = cert(keys[1], "web-1");
	refused_after_good(json_string(line));
	free(line);
	assert_non_null(line = malloc(len + 16));
	snprintf(line, len + 16, "%s a b", good);
	refused_after_good(json_string(line));
	/* A blank at the end; two between the fields; a blank first. */
	snprintf(line, len + 16, "%s ", good);
	refused_after_good(json_string(line));
	snprintf(line, len + 16, "%.*s  %s", (int)sp, good, good + sp + 1);
	refused_after_good(json_string(line));
	snprintf(line, len + 16, " %s", good);
	refused_after_good(json_string(line));
	/* A tab or newline where the blank is, or after the blob. */
	snprintf(line, len + 16, "%s\tweb-1", good);
	refused_after_good(json_string(line));
	snprintf(line, len + 16, "%s\n", good);
	refused_after_good(json_string(line));
	memcpy(line, good, len + 1);
	line[sp] = '\t';
	refused_after_good(json_string(line));
	/*
	 * A NUL: in place of the blank (no blank before the NUL, which is
	 * where agent_hostcerts_check once looked for it with strchr), after
	 * the blob, and before a comment. jansson holds such strings
	 * (json_stringn); the check must never read them as C strings.
	 */
	memcpy(line, good, len + 1);
	line[sp] = '\0';
	refused_after_good(json_stringn(line, len));
	memcpy(line, good, len + 1);
	refused_after_good(json_stringn(line, len + 1));
	snprintf(line, len + 16, "%s web-1", good);
	line[len] = '\0';
	refused_after_good(json_stringn(line, len + 6));
	free(line);
	/* Too long for a certificate line. */
	assert_non_null(s = malloc(LK_SSHCERT_MAX_LINE + 2));
	memset(s, 'A', LK_SSHCERT_MAX_LINE + 1);
	memcpy(s, good, sp + 1);
	s[LK_SSHCERT_MAX_LINE + 1] = '\0';
	refused_after_good(json_string(s));
	free(s);
	/* Not base64, empty, the type alone. */
	refused_after_good(json_string("ssh-ed25519-cert-v01@openssh.com "
	    "!!!!"));
	refused_after_good(json_string(""));
	refused_after_good(json_string("ssh-ed25519-cert-v01@openssh.com"));
	free(good);
}

static void
test_too_many(void **state)
{
	char *c[NKEYS];
	size_t i;

	(void)state;
	/* AGENT_HOSTKEYS_MAX + 1 good certificates of reported keys. */
	for (i = 0; i < NKEYS; i++)
		c[i] = cert(keys[i], NULL);
	refused(strings((const char *const *)c, NKEYS), reported(NKEYS));
	for (i = 0; i < NKEYS; i++)
		free(c[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_not_lists),
		cmocka_unit_test(test_not_strings),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_forged),
		cmocka_unit_test(test_line_form),
		cmocka_unit_test(test_too_many),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
