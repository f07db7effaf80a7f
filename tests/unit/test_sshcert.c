/*
 * lib/sshcert: OpenSSH host certificates signed by an Ed25519 CA. Keys of
 * every host key type made by ssh-keygen are certified; ssh-keygen -L
 * reads each certificate back with its type, key id, principals, validity
 * and CA; ssh-keygen -L refuses nothing we make, and our parser reads it
 * back. Hostile certificates (hand-built and signed by the test, or
 * damaged) are refused, each for its reason, as are bad specs.
 */
#include "unit.h"

#include <sys/wait.h>

#include <openssl/evp.h>

#include "b64.h"
#include "err.h"
#include "sshcert.h"
#include "sshkey.h"

static char dir[] = "/tmp/lk-unit-sshcert.XXXXXX";
static unsigned char ca_priv[LK_SSHCERT_ED25519_LEN];
static unsigned char ca_pub[LK_SSHCERT_ED25519_LEN];

static const char *const princ[] = { "i-0123456789abcdef0123", "web-1",
    "10.0.0.7", "fd00::7" };

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	return lk_sshcert_ca_generate(ca_priv, ca_pub);
}

static int
teardown(void **state)
{
	(void)state;
	t_rm_rf(dir);
	return 0;
}

/* A new key of type (ssh-keygen -t) as a parsed key and its .pub path. */
static struct lk_sshkey *
gen_key(const char *name, const char *type, const char *bits)
{
	char cmd[512], path[256], *line;
	struct lk_sshkey *k = NULL;
	int st;

	snprintf(cmd, sizeof(cmd), "ssh-keygen -q -t %s %s%s -N '' -f %s/%s "
	    "</dev/null >/dev/null 2>&1", type, bits ? "-b " : "",
	    bits ? bits : "", dir, name);
	st = system(cmd);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	snprintf(path, sizeof(path), "%s/%s.pub", dir, name);
	line = t_read_file(path, NULL);
	assert_int_equal(lk_sshkey_parse_line(line, strcspn(line, "\n"), &k),
	    0);
	free(line);
	return k;
}

static char *
sign(const struct lk_sshkey *k, const char *const *p, size_t np,
    uint64_t after, uint64_t before)
{
	struct lk_sshcert_spec sp;
	char *line = NULL;

	memset(&sp, 0, sizeof(sp));
	sp.key_id = "latchkey:i-0123456789abcdef0123";
	sp.principals = p;
	sp.nprincipals = np;
	sp.serial = 7;
	sp.valid_after = after;
	sp.valid_before = before;
	assert_int_equal(lk_sshcert_sign_host(k, ca_priv, &sp, "web-1", &line),
	    0);
	return line;
}

/* ssh-keygen -L of line (written as DIR/name-cert.pub). */
static char *
keygen_L(const char *name, const char *line, int *stp)
{
	char path[256], cmd[512];

	snprintf(path, sizeof(path), "%s/%s-cert.pub", dir, name);
	t_write_file(path, line, strlen(line), 0644);
	snprintf(cmd, sizeof(cmd), "ssh-keygen -L -f %s 2>&1", path);
	return t_run(cmd, stp);
}

static void
check_type(const char *name, const char *type, const char *bits,
    const char *certname)
{
	struct lk_sshkey *k = gen_key(name, type, bits);
	struct lk_sshcert *c = NULL;
	char *line, *out, *caline, want[256], cafp[LK_SSHKEY_FP_SIZE];
	struct lk_sshkey *cak = NULL;
	size_t i;
	int st;

	line = sign(k, princ, 4, 1700000000, 1800000000);
	assert_memory_equal(line, certname, strlen(certname));
	out = keygen_L(name, line, &st);
	assert_int_equal(st, 0);
	snprintf(want, sizeof(want), "Type: %s host certificate", certname);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out,
	    "Key ID: \"latchkey:i-0123456789abcdef0123\""));
	assert_non_null(strstr(out, "Serial: 7"));
	for (i = 0; i < 4; i++) {
		snprintf(want, sizeof(want), "\n                %s\n", princ[i]);
		assert_non_null(strstr(out, want));
	}
	assert_non_null(strstr(out, "Valid: from 2023-11-14"));
	assert_non_null(strstr(out, "Critical Options: (none)"));
	assert_non_null(strstr(out, "Extensions: (none)"));
	assert_int_equal(lk_sshcert_ca_line(ca_pub, &caline), 0);
	assert_int_equal(lk_sshkey_parse_line(caline, strlen(caline), &cak),
	    0);
	assert_int_equal(lk_sshkey_fingerprint(cak, cafp), 0);
	snprintf(want, sizeof(want), "Signing CA: ED25519 %s", cafp);
	assert_non_null(strstr(out, want));
	/* Our own parser reads it back, field for field. */
	assert_int_equal(lk_sshcert_parse_line(line, strlen(line), &c), 0);
	assert_int_equal(c->key->bloblen, k->bloblen);
	assert_memory_equal(c->key->blob, k->blob, k->bloblen);
	assert_int_equal(c->type, LK_SSHCERT_TYPE_HOST);
	assert_string_equal(c->key_id, "latchkey:i-0123456789abcdef0123");
	assert_int_equal(c->nprincipals, 4);
	for (i = 0; i < 4; i++)
		assert_string_equal(c->principals[i], princ[i]);
	assert_true(c->valid_after == 1700000000);
	assert_true(c->valid_before == 1800000000);
	assert_memory_equal(c->ca, ca_pub, sizeof(ca_pub));
	lk_sshcert_free(c);
	lk_sshkey_free(cak);
	free(caline);
	free(out);
	free(line);
	lk_sshkey_free(k);
}

static void
test_ed25519(void **state)
{
	(void)state;
	check_type("ed", "ed25519", NULL, "ssh-ed25519-cert-v01@openssh.com");
}

static void
test_ecdsa(void **state)
{
	(void)state;
	check_type("p256", "ecdsa", "256",
	    "ecdsa-sha2-nistp256-cert-v01@openssh.com");
	check_type("p384", "ecdsa", "384",
	    "ecdsa-sha2-nistp384-cert-v01@openssh.com");
	check_type("p521", "ecdsa", "521",
	    "ecdsa-sha2-nistp521-cert-v01@openssh.com");
}

static void
test_rsa(void **state)
{
	(void)state;
	check_type("rsa", "rsa", "2048", "ssh-rsa-cert-v01@openssh.com");
}

/* The CA's line is what ssh-keygen derives from the same key. */
static void
test_ca_line(void **state)
{
	unsigned char priv[32], pub[32], pub2[32];
	char *line, path[256], cmd[512], *out;
	int st;

	(void)state;
	assert_int_equal(lk_sshcert_ca_generate(priv, pub), 0);
	assert_int_equal(lk_sshcert_ca_public(priv, pub2), 0);
	assert_memory_equal(pub, pub2, 32);
	assert_int_equal(lk_sshcert_ca_line(pub, &line), 0);
	assert_memory_equal(line, "ssh-ed25519 AAAA", 16);
	snprintf(path, sizeof(path), "%s/ca.pub", dir);
	t_write_file(path, line, strlen(line), 0644);
	snprintf(cmd, sizeof(cmd), "ssh-keygen -lf %s", path);
	out = t_run(cmd, &st);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "(ED25519)"));
	free(out);
	free(line);
}

/* Bad specs are refused before anything is signed. */
static void
test_bad_spec(void **state)
{
	struct lk_sshkey *k = gen_key("spec", "ed25519", NULL);
	struct lk_sshcert_spec sp;
	const char *star[] = { "*" }, *comma[] = { "a,b" }, *blank[] = { "a b" },
	    *empty[] = { "" }, *bang[] = { "!x" }, *q[] = { "h?" };
	const char *const *bad[] = { star, comma, blank, empty, bang, q };
	char *line = (char *)1, big[300];
	size_t i;

	(void)state;
	memset(&sp, 0, sizeof(sp));
	sp.key_id = "latchkey:x";
	sp.principals = princ;
	sp.nprincipals = 1;
	sp.valid_after = 10;
	sp.valid_before = 10;
	assert_int_equal(lk_sshcert_sign_host(k, ca_priv, &sp, NULL, &line),
	    LK_ERR_INVALID_FORMAT);
	assert_null(line);
	sp.valid_before = 20;
	sp.nprincipals = 0;
	assert_int_equal(lk_sshcert_sign_host(k, ca_priv, &sp, NULL, &line),
	    LK_ERR_INVALID_FORMAT);
	sp.nprincipals = LK_SSHCERT_MAX_PRINC + 1;
	assert_int_equal(lk_sshcert_sign_host(k, ca_priv, &sp, NULL, &line),
	    LK_ERR_INVALID_FORMAT);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sp.principals = bad[i];
		sp.nprincipals = 1;
		assert_int_equal(lk_sshcert_sign_host(k, ca_priv, &sp, NULL,
		    &line), LK_ERR_INVALID_FORMAT);
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sp.principals = princ;
	sp.key_id = big;
	assert_int_equal(lk_sshcert_sign_host(k, ca_priv, &sp, NULL, &line),
	    LK_ERR_INVALID_FORMAT);
	sp.key_id = "id*";
	assert_int_equal(lk_sshcert_sign_host(k, ca_priv, &sp, NULL, &line),
	    LK_ERR_INVALID_FORMAT);
	sp.key_id = "ok";
	assert_int_equal(lk_sshcert_sign_host(k, ca_priv, &sp, "a\nb", &line),
	    LK_ERR_INVALID_FORMAT);
	assert_null(line);
	/* A security key is no host key. */
	k->type = LK_KEY_SK_ED25519;
	assert_int_equal(lk_sshcert_sign_host(k, ca_priv, &sp, NULL, &line),
	    LK_ERR_KEY_TYPE);
	lk_sshkey_free(k);
}

/* What build_cert varies from a good certificate. */
struct hostile {
	const char	*line_type;	/* the line's first word */
	const char	*blob_type;	/* the blob's */
	uint32_t	 cert_type;
	const char	*principal;
	const char	*ext_name;	/* an extension, or NULL */
	const char	*ca_type;
	int		 bad_sig;
	int		 trailing;
};

static const struct hostile good = { "ssh-ed25519-cert-v01@openssh.com",
    "ssh-ed25519-cert-v01@openssh.com", 2, "web-1", NULL, "ssh-ed25519", 0,
    0 };

/* A certificate of key k built by hand per h, signed by the test's CA. */
static char *
build_cert(const struct lk_sshkey *k, const struct hostile *h)
{
	struct tbuf b = { NULL, 0, 0 }, p = { NULL, 0, 0 }, ca = { NULL, 0, 0 },
	    s = { NULL, 0, 0 };
	unsigned char sig[64];
	size_t slen = 64;
	EVP_PKEY *pk;
	EVP_MD_CTX *ctx;
	char *line;

	tbuf_cstring(&b, h->blob_type);
	tbuf_string(&b, "0123456789abcdef", 16);
	tbuf_put(&b, k->blob + 4 + 11, k->bloblen - 4 - 11);	/* ed25519 */
	tbuf_u32(&b, 0);
	tbuf_u32(&b, 1);		/* serial 1 */
	tbuf_u32(&b, h->cert_type);
	tbuf_cstring(&b, "latchkey:i-1");
	tbuf_cstring(&p, h->principal);
	tbuf_string(&b, p.p, p.len);
	tbuf_u32(&b, 0);
	tbuf_u32(&b, 100);
	tbuf_u32(&b, 0);
	tbuf_u32(&b, 200);
	tbuf_string(&b, "", 0);
	if (h->ext_name != NULL) {
		tbuf_cstring(&s, h->ext_name);
		tbuf_string(&s, "", 0);
		tbuf_string(&b, s.p, s.len);
		tbuf_free(&s);
	} else
		tbuf_string(&b, "", 0);
	tbuf_string(&b, "", 0);
	tbuf_cstring(&ca, h->ca_type);
	tbuf_string(&ca, ca_pub, 32);
	tbuf_string(&b, ca.p, ca.len);
	assert_non_null(pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519,
	    NULL, ca_priv, 32));
	assert_non_null(ctx = EVP_MD_CTX_new());
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &slen, b.p, b.len), 1);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	if (h->bad_sig)
		sig[5] ^= 1;
	tbuf_cstring(&s, "ssh-ed25519");
	tbuf_string(&s, sig, 64);
	tbuf_string(&b, s.p, s.len);
	if (h->trailing)
		tbuf_put(&b, "x", 1);
	line = t_mkline(h->line_type, b.p, b.len, NULL);
	tbuf_free(&b);
	tbuf_free(&p);
	tbuf_free(&ca);
	tbuf_free(&s);
	return line;
}

static int
parse_err(const char *line, size_t len)
{
	struct lk_sshcert *c = NULL;
	char *copy;
	int r;

	assert_non_null(copy = malloc(len ? len : 1));
	memcpy(copy, line, len);
	r = lk_sshcert_parse_line(copy, len, &c);
	free(copy);
	if (r == 0)
		lk_sshcert_free(c);
	else
		assert_null(c);
	return r;
}

static void
test_hostile(void **state)
{
	struct lk_sshkey *k = gen_key("hostile", "ed25519", NULL);
	struct hostile h;
	char *line, *good_line;
	unsigned char *blob;
	size_t blen, i;
	char *cut;

	(void)state;
	good_line = build_cert(k, &good);
	assert_int_equal(parse_err(good_line, strlen(good_line)), 0);
	/* Each field wrong in turn. */
#define HOSTILE(field, value) do {					\
		h = good;						\
		h.field = value;					\
		line = build_cert(k, &h);				\
		assert_int_not_equal(parse_err(line, strlen(line)), 0);	\
		free(line);						\
	} while (0)
	HOSTILE(line_type, "ssh-rsa-cert-v01@openssh.com");
	HOSTILE(line_type, "ssh-ed25519");
	HOSTILE(blob_type, "ecdsa-sha2-nistp256-cert-v01@openssh.com");
	HOSTILE(cert_type, 1);	/* a user certificate */
	HOSTILE(cert_type, 3);
	HOSTILE(principal, "*");
	HOSTILE(principal, "a,b");
	HOSTILE(principal, "");
	HOSTILE(ext_name, "permit-pty");
	HOSTILE(ca_type, "ssh-rsa");
	HOSTILE(bad_sig, 1);
	HOSTILE(trailing, 1);
#undef HOSTILE
	/* Every truncation of a good blob. */
	t_line_blob(good_line, &blob, &blen);
	for (i = 0; i < blen; i++) {
		line = t_mkline(good.line_type, blob, i, NULL);
		assert_int_not_equal(parse_err(line, strlen(line)), 0);
		free(line);
	}
	/* Every single-bit flip of a good blob is refused or still valid
	 * only if it is the nonce (which the signature covers: never). */
	for (i = 0; i < blen; i++) {
		blob[i] ^= 0x10;
		line = t_mkline(good.line_type, blob, blen, NULL);
		assert_int_not_equal(parse_err(line, strlen(line)), 0);
		free(line);
		blob[i] ^= 0x10;
	}
	free(blob);
	/* The line: control characters, no blob, junk base64, too long. */
	assert_int_equal(parse_err("", 0), LK_ERR_INVALID_FORMAT);
	assert_int_equal(parse_err(good.line_type, strlen(good.line_type)),
	    LK_ERR_INVALID_FORMAT);
	line = strdup(good_line);
	assert_non_null(line);
	line[40] = '\n';
	assert_int_equal(parse_err(line, strlen(good_line)), LK_ERR_BAD_CHAR);
	line[40] = '\0';
	assert_int_equal(parse_err(line, strlen(good_line)), LK_ERR_BAD_CHAR);
	free(line);
	assert_int_not_equal(parse_err("ssh-ed25519-cert-v01@openssh.com "
	    "!!!!", 37), 0);
	assert_non_null(cut = calloc(1, LK_SSHCERT_MAX_LINE + 2));
	memset(cut, 'A', LK_SSHCERT_MAX_LINE + 1);
	memcpy(cut, good.line_type, strlen(good.line_type));
	cut[strlen(good.line_type)] = ' ';
	assert_int_equal(parse_err(cut, LK_SSHCERT_MAX_LINE + 1),
	    LK_ERR_TOO_LONG);
	free(cut);
	/* A comment is allowed; the same certificate still parses. */
	assert_non_null(line = malloc(strlen(good_line) + 8));
	snprintf(line, strlen(good_line) + 8, "%s host-1", good_line);
	assert_int_equal(parse_err(line, strlen(line)), 0);
	free(line);
	free(good_line);
	lk_sshkey_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ed25519),
		cmocka_unit_test(test_ecdsa),
		cmocka_unit_test(test_rsa),
		cmocka_unit_test(test_ca_line),
		cmocka_unit_test(test_bad_spec),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
