/*
 * lib/sshkey: the OpenSSH public-key line parser. Real keys of every
 * supported type are accepted and re-encoded byte for byte, fingerprints
 * match ssh-keygen -lf, and each hostile input gets its own error code.
 * Some keys are embedded (tests/unit/keys.h), others are made at test time
 * with ssh-keygen in a scratch directory.
 */
#include "unit.h"

#include <sys/wait.h>

#include "b64.h"
#include "err.h"
#include "sshkey.h"

#include "keys.h"

static char gendir[] = "/tmp/lk-unit-sshkey.XXXXXX";

/* Parses an exact-size heap copy of s, so ASan sees reads past len. */
static int
parse(const char *s, size_t len, struct lk_sshkey **keyp)
{
	char *copy;
	int r;

	assert_non_null(copy = malloc(len ? len : 1));
	memcpy(copy, s, len);
	r = lk_sshkey_parse_line(copy, len, keyp);
	free(copy);
	return r;
}

/* Parses s and returns the error code; a success is freed. */
static int
parse_err(const char *s, size_t len)
{
	struct lk_sshkey *key = (struct lk_sshkey *)1;
	int r;

	r = parse(s, len, &key);
	if (r != 0)
		assert_null(key);
	lk_sshkey_free(key);
	return r;
}

#define PARSE_ERR(s)	parse_err((s), strlen(s))

static int
blob_err(const unsigned char *blob, size_t len, const char *expect)
{
	struct lk_sshkey *key = (struct lk_sshkey *)1;
	unsigned char *copy;
	int r;

	assert_non_null(copy = malloc(len ? len : 1));
	memcpy(copy, blob, len);
	r = lk_sshkey_from_blob(copy, len, expect, &key);
	free(copy);
	if (r != 0)
		assert_null(key);
	lk_sshkey_free(key);
	return r;
}

/* The type word of a key line, in a new string. */
static char *
line_type(const char *line)
{
	const char *sp = strchr(line, ' ');

	assert_non_null(sp);
	return strndup(line, (size_t)(sp - line));
}

/* Parses a line with the given blob under type; returns the error. */
static int
line_err(const char *type, const unsigned char *blob, size_t len,
    const char *comment)
{
	char *line = t_mkline(type, blob, len, comment);
	int r = PARSE_ERR(line);

	free(line);
	return r;
}

/* A good line: type, bits, blob, comment, fingerprint, re-encoding. */
static void
check_good_line(const char *line, int type, unsigned int bits, const char *fp)
{
	struct lk_sshkey *key = NULL, *key2 = NULL;
	unsigned char *blob, dig[LK_SSHKEY_DIGEST_LEN];
	unsigned char dig2[LK_SSHKEY_DIGEST_LEN];
	char fpbuf[LK_SSHKEY_FP_SIZE], *out, *tname;
	const char *comment;
	size_t bloblen;

	assert_int_equal(parse(line, strlen(line), &key), 0);
	assert_non_null(key);
	assert_int_equal(key->type, type);
	assert_int_equal(key->bits, bits);
	tname = line_type(line);
	assert_string_equal(lk_sshkey_type_name(key), tname);
	assert_int_equal(lk_sshkey_type_from_name(tname, strlen(tname)), type);

	t_line_blob(line, &blob, &bloblen);
	assert_int_equal(key->bloblen, bloblen);
	assert_memory_equal(key->blob, blob, bloblen);

	comment = strchr(strchr(line, ' ') + 1, ' ');
	if (comment == NULL)
		assert_null(key->comment);
	else {
		assert_non_null(key->comment);
		assert_string_equal(key->comment, comment + 1);
	}

	/* Canonical re-encoding is the input line itself. */
	assert_int_equal(lk_sshkey_to_line(key, 1, &out), 0);
	assert_string_equal(out, line);
	free(out);
	assert_int_equal(lk_sshkey_to_line(key, 0, &out), 0);
	assert_int_equal(strlen(out), comment ? (size_t)(comment - line) :
	    strlen(line));
	assert_memory_equal(out, line, strlen(out));
	free(out);

	assert_int_equal(lk_sshkey_fingerprint(key, fpbuf), 0);
	assert_int_equal(strlen(fpbuf), LK_SSHKEY_FP_SIZE - 1);
	if (fp != NULL)
		assert_string_equal(fpbuf, fp);
	assert_int_equal(lk_sshkey_digest(key, dig), 0);
	assert_int_equal(lk_sshkey_fp_parse(fpbuf, dig2), 0);
	assert_memory_equal(dig, dig2, sizeof(dig));

	/* The blob alone is accepted with and without an expected type. */
	assert_int_equal(lk_sshkey_from_blob(blob, bloblen, tname, &key2), 0);
	assert_int_equal(key2->type, type);
	assert_int_equal(key2->bits, bits);
	assert_null(key2->comment);
	lk_sshkey_free(key2);
	assert_int_equal(lk_sshkey_from_blob(blob, bloblen, NULL, &key2), 0);
	lk_sshkey_free(key2);

	free(tname);
	free(blob);
	lk_sshkey_free(key);
}

static void
check_tkey(int i)
{
	check_good_line(tkeys[i].line, tkeys[i].type, tkeys[i].bits,
	    tkeys[i].fp);
}

static void
tkey_blob(int i, unsigned char **blobp, size_t *lenp)
{
	t_line_blob(tkeys[i].line, blobp, lenp);
}

/* ---- every supported type is accepted ---- */

static void
test_accept_ed25519(void **state)
{
	(void)state;
	check_tkey(TK_ED25519);
}

static void
test_accept_ecdsa_p256(void **state)
{
	(void)state;
	check_tkey(TK_ECDSA256);
}

static void
test_accept_ecdsa_p384(void **state)
{
	(void)state;
	check_tkey(TK_ECDSA384);
}

static void
test_accept_ecdsa_p521(void **state)
{
	(void)state;
	check_tkey(TK_ECDSA521);
}

static void
test_accept_sk_ed25519(void **state)
{
	(void)state;
	check_tkey(TK_SK_ED25519);
}

static void
test_accept_sk_ecdsa_p256(void **state)
{
	(void)state;
	check_tkey(TK_SK_ECDSA256);
}

static void
test_accept_rsa2048(void **state)
{
	(void)state;
	check_tkey(TK_RSA2048);
}

static void
test_accept_rsa3072(void **state)
{
	(void)state;
	check_tkey(TK_RSA3072);
}

/* ---- keys made now by ssh-keygen; fingerprints from ssh-keygen -lf ---- */

static int
gen_setup(void **state)
{
	(void)state;
	return mkdtemp(gendir) == NULL ? -1 : 0;
}

static int
gen_teardown(void **state)
{
	(void)state;
	t_rm_rf(gendir);
	return 0;
}

/* Reads DIR/name.pub into a new string without its newline. */
static char *
read_pub(const char *name)
{
	char path[256], *s;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s.pub", gendir, name);
	s = t_read_file(path, &len);
	assert_true(len > 0 && s[len - 1] == '\n');
	s[len - 1] = '\0';
	return s;
}

/*
 * Asks ssh-keygen -lf for the bits and fingerprint of the key line in
 * DIR/name.pub. Returns the fingerprint in a new string.
 */
static char *
keygen_fp(const char *name, unsigned int *bitsp)
{
	char cmd[512], *out, *fp, *sp;
	int st;

	snprintf(cmd, sizeof(cmd), "ssh-keygen -E sha256 -lf %s/%s.pub",
	    gendir, name);
	out = t_run(cmd, &st);
	assert_int_equal(st, 0);
	*bitsp = (unsigned int)strtoul(out, NULL, 10);
	assert_non_null(sp = strchr(out, ' '));
	assert_non_null(fp = strndup(sp + 1, LK_SSHKEY_FP_SIZE - 1));
	assert_memory_equal(fp, "SHA256:", 7);
	free(out);
	return fp;
}

static void
gen_and_check(const char *name, const char *type, const char *bits,
    int want_type)
{
	char cmd[512], *line, *fp;
	unsigned int kbits;
	int st;

	snprintf(cmd, sizeof(cmd), "ssh-keygen -q -t %s %s%s -N '' "
	    "-C gen-%s@latchkey -f %s/%s </dev/null >/dev/null 2>&1", type,
	    bits ? "-b " : "", bits ? bits : "", name, gendir, name);
	st = system(cmd);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	line = read_pub(name);
	fp = keygen_fp(name, &kbits);
	check_good_line(line, want_type, kbits, fp);
	free(fp);
	free(line);
}

/* Writes line as DIR/name.pub. */
static void
put_pub(const char *name, const char *line)
{
	char path[256], *s;

	snprintf(path, sizeof(path), "%s/%s.pub", gendir, name);
	assert_true(asprintf(&s, "%s\n", line) > 0);
	t_write_file(path, s, strlen(s), 0644);
	free(s);
}

/* Checks a hand-made line against ssh-keygen -lf. */
static void
keygen_agrees(const char *name, const char *line, int want_type)
{
	unsigned int kbits;
	char *fp;

	put_pub(name, line);
	fp = keygen_fp(name, &kbits);
	check_good_line(line, want_type, kbits, fp);
	free(fp);
}

static void
test_generated_ed25519(void **state)
{
	(void)state;
	gen_and_check("ed25519", "ed25519", NULL, LK_KEY_ED25519);
}

static void
test_generated_ecdsa_p256(void **state)
{
	(void)state;
	gen_and_check("ecdsa256", "ecdsa", "256", LK_KEY_ECDSA_P256);
}

static void
test_generated_ecdsa_p384(void **state)
{
	(void)state;
	gen_and_check("ecdsa384", "ecdsa", "384", LK_KEY_ECDSA_P384);
}

static void
test_generated_ecdsa_p521(void **state)
{
	(void)state;
	gen_and_check("ecdsa521", "ecdsa", "521", LK_KEY_ECDSA_P521);
}

static void
test_generated_rsa2048(void **state)
{
	(void)state;
	gen_and_check("rsa2048", "rsa", "2048", LK_KEY_RSA);
}

static void
test_generated_rsa4096(void **state)
{
	(void)state;
	gen_and_check("rsa4096", "rsa", "4096", LK_KEY_RSA);
}

/* ssh-keygen cannot make security keys without a token: build them from
 * fresh ed25519 / nistp256 points and ask ssh-keygen -lf about them. */
static void
test_generated_sk_ed25519(void **state)
{
	struct tbuf b = { NULL, 0, 0 };
	struct lk_sshkey *k;
	char *line, *sk;

	(void)state;
	gen_and_check("sked-src", "ed25519", NULL, LK_KEY_ED25519);
	line = read_pub("sked-src");
	assert_int_equal(parse(line, strlen(line), &k), 0);
	tbuf_cstring(&b, "sk-ssh-ed25519@openssh.com");
	tbuf_put(&b, k->blob + 4 + 11, 36);	/* string pk */
	tbuf_cstring(&b, "ssh:");
	sk = t_mkline("sk-ssh-ed25519@openssh.com", b.p, b.len, "sk@host");
	keygen_agrees("sked", sk, LK_KEY_SK_ED25519);
	free(sk);
	free(line);
	tbuf_free(&b);
	lk_sshkey_free(k);
}

static void
test_generated_sk_ecdsa_p256(void **state)
{
	struct tbuf b = { NULL, 0, 0 };
	struct lk_sshkey *k;
	char *line, *sk;
	size_t skip = 4 + 19;	/* string "ecdsa-sha2-nistp256" */

	(void)state;
	gen_and_check("skec-src", "ecdsa", "256", LK_KEY_ECDSA_P256);
	line = read_pub("skec-src");
	assert_int_equal(parse(line, strlen(line), &k), 0);
	tbuf_cstring(&b, "sk-ecdsa-sha2-nistp256@openssh.com");
	tbuf_put(&b, k->blob + skip, k->bloblen - skip);
	tbuf_cstring(&b, "webauthn:example.com");
	sk = t_mkline("sk-ecdsa-sha2-nistp256@openssh.com", b.p, b.len, NULL);
	keygen_agrees("skec", sk, LK_KEY_SK_ECDSA_P256);
	free(sk);
	free(line);
	tbuf_free(&b);
	lk_sshkey_free(k);
}

static void
test_generated_certificate_refused(void **state)
{
	char cmd[1024], *line, *blobline, *tname, *cert;
	unsigned char *blob;
	size_t bloblen;
	int st;

	(void)state;
	snprintf(cmd, sizeof(cmd), "cd %s && "
	    "ssh-keygen -q -t ed25519 -N '' -C ca -f ca && "
	    "ssh-keygen -q -t ed25519 -N '' -C user -f user && "
	    "ssh-keygen -q -s ca -I id -n alice -V +1h user.pub",
	    gendir);
	st = system(cmd);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	line = read_pub("user-cert");
	tname = line_type(line);
	assert_string_equal(tname, "ssh-ed25519-cert-v01@openssh.com");
	assert_int_equal(PARSE_ERR(line), LK_ERR_KEY_TYPE);

	/* The cert blob under a plain type, and alone. */
	t_line_blob(line, &blob, &bloblen);
	assert_int_equal(line_err("ssh-ed25519", blob, bloblen, NULL),
	    LK_ERR_KEY_MISMATCH);
	assert_int_equal(blob_err(blob, bloblen, NULL), LK_ERR_KEY_TYPE);
	assert_int_equal(blob_err(blob, bloblen, tname), LK_ERR_KEY_TYPE);
	cert = strchr(line, ' ');
	assert_true(asprintf(&blobline, "ssh-rsa-cert-v01@openssh.com%s",
	    cert) > 0);
	assert_int_equal(PARSE_ERR(blobline), LK_ERR_KEY_TYPE);
	free(blobline);
	free(blob);
	free(tname);
	free(line);
}

/* ---- RSA sizes and numbers ---- */

/* Appends an mpint holding a number of exactly bits bits (odd). */
static void
put_modulus(struct tbuf *b, unsigned int bits)
{
	size_t n = (bits + 7) / 8, i, lead = (bits % 8 == 0);
	unsigned char *m;

	assert_non_null(m = calloc(1, n + 1));
	for (i = 0; i < n; i++)
		m[lead + i] = (unsigned char)(0x5a ^ (i * 31));
	m[lead] &= (unsigned char)((1u << ((bits - 1) % 8 + 1)) - 1);
	m[lead] |= (unsigned char)(1u << ((bits - 1) % 8));
	m[lead + n - 1] |= 1;
	tbuf_string(b, m, n + lead);
	free(m);
}

static void
rsa_blob(struct tbuf *b, const void *e, size_t elen, unsigned int bits)
{
	tbuf_cstring(b, "ssh-rsa");
	tbuf_string(b, e, elen);
	put_modulus(b, bits);
}

static const unsigned char e65537[] = { 0x01, 0x00, 0x01 };

static void
test_rsa1024_too_small(void **state)
{
	(void)state;
	assert_int_equal(PARSE_ERR(tkeys[TK_RSA1024].line), LK_ERR_KEY_SMALL);
}

static void
test_rsa_size_limits(void **state)
{
	static const unsigned int good[] = { 2048, 2049, 4095, 8192, 16383,
	    16384 };
	static const unsigned int small[] = { 512, 1024, 2040, 2047 };
	static const unsigned int large[] = { 16385, 16392, 16400 };
	struct tbuf b = { NULL, 0, 0 };
	struct lk_sshkey *k;
	size_t i;
	char *line;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		rsa_blob(&b, e65537, 3, good[i]);
		line = t_mkline("ssh-rsa", b.p, b.len, NULL);
		assert_int_equal(parse(line, strlen(line), &k), 0);
		assert_int_equal(k->bits, good[i]);
		assert_int_equal(k->bloblen, b.len);
		assert_memory_equal(k->blob, b.p, b.len);
		lk_sshkey_free(k);
		free(line);
		tbuf_free(&b);
	}
	for (i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		rsa_blob(&b, e65537, 3, small[i]);
		assert_int_equal(line_err("ssh-rsa", b.p, b.len, NULL),
		    LK_ERR_KEY_SMALL);
		tbuf_free(&b);
	}
	for (i = 0; i < sizeof(large) / sizeof(large[0]); i++) {
		rsa_blob(&b, e65537, 3, large[i]);
		assert_int_equal(line_err("ssh-rsa", b.p, b.len, NULL),
		    LK_ERR_KEY_LARGE);
		tbuf_free(&b);
	}
}

/* ssh-keygen agrees with a 16384-bit modulus we made (no primality). */
static void
test_generated_rsa16384_constructed(void **state)
{
	struct tbuf b = { NULL, 0, 0 };
	char *line;

	(void)state;
	rsa_blob(&b, e65537, 3, 16384);
	line = t_mkline("ssh-rsa", b.p, b.len, "big");
	keygen_agrees("rsa16384", line, LK_KEY_RSA);
	free(line);
	tbuf_free(&b);
}

static void
test_rsa_exponent_rules(void **state)
{
	static const struct {
		const char	*e;
		size_t		 len;
		int		 want;
	} cases[] = {
		{ "\x03", 1, 0 },
		{ "\x01\x00\x01", 3, 0 },
		{ "\x00\x80\x00\x00\x01", 5, 0 },	/* leading 0 needed */
		{ "\x7f\xff\xff\xff\xff\xff\xff\xff", 8, 0 },	/* 63 bits */
		{ "", 0, LK_ERR_KEY_BLOB },		/* zero */
		{ "\x01", 1, LK_ERR_KEY_BLOB },		/* one */
		{ "\x02", 1, LK_ERR_KEY_BLOB },		/* even */
		{ "\x01\x00\x00", 3, LK_ERR_KEY_BLOB },	/* even */
		{ "\x81", 1, LK_ERR_KEY_BLOB },		/* negative */
		{ "\x00\x01\x00\x01", 4, LK_ERR_KEY_BLOB },	/* not minimal */
		{ "\x00", 1, LK_ERR_KEY_BLOB },		/* zero, padded */
		{ "\x01\x00\x00\x00\x00\x00\x00\x00\x01", 9,
		    LK_ERR_KEY_BLOB },			/* 65 bits */
	};
	struct tbuf b = { NULL, 0, 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rsa_blob(&b, cases[i].e, cases[i].len, 2048);
		assert_int_equal(line_err("ssh-rsa", b.p, b.len, NULL),
		    cases[i].want);
		assert_int_equal(blob_err(b.p, b.len, NULL), cases[i].want);
		tbuf_free(&b);
	}
}

static void
test_rsa_modulus_not_minimal(void **state)
{
	struct tbuf b = { NULL, 0, 0 };
	unsigned char m[258];

	(void)state;
	/* Extra leading zero before a modulus whose top bit is set. */
	memset(m, 0xc5, sizeof(m));
	m[0] = 0x00;
	m[1] = 0x00;
	tbuf_cstring(&b, "ssh-rsa");
	tbuf_string(&b, e65537, 3);
	tbuf_string(&b, m, 258);
	assert_int_equal(blob_err(b.p, b.len, "ssh-rsa"), LK_ERR_KEY_BLOB);
	tbuf_free(&b);

	/* Leading zero before a modulus whose top bit is clear. */
	m[1] = 0x45;
	tbuf_cstring(&b, "ssh-rsa");
	tbuf_string(&b, e65537, 3);
	tbuf_string(&b, m, 258);
	assert_int_equal(blob_err(b.p, b.len, "ssh-rsa"), LK_ERR_KEY_BLOB);
	tbuf_free(&b);

	/* Top bit set without the zero: a negative number. */
	tbuf_cstring(&b, "ssh-rsa");
	tbuf_string(&b, e65537, 3);
	tbuf_string(&b, m + 2, 256);
	assert_int_equal(blob_err(b.p, b.len, "ssh-rsa"), LK_ERR_KEY_BLOB);
	tbuf_free(&b);

	/* Zero-length modulus, and a missing one. */
	tbuf_cstring(&b, "ssh-rsa");
	tbuf_string(&b, e65537, 3);
	tbuf_string(&b, "", 0);
	assert_int_equal(blob_err(b.p, b.len, "ssh-rsa"), LK_ERR_KEY_BLOB);
	tbuf_free(&b);
	tbuf_cstring(&b, "ssh-rsa");
	tbuf_string(&b, e65537, 3);
	assert_int_equal(blob_err(b.p, b.len, "ssh-rsa"), LK_ERR_KEY_BLOB);
	tbuf_free(&b);
}

/* ---- comments ---- */

static void
check_comment(const char *rest, const char *want)
{
	struct lk_sshkey *k;
	char *line, *out;

	assert_true(asprintf(&line, "ssh-ed25519 "
	    "AAAAC3NzaC1lZDI1NTE5AAAAIE6TwYtvMpRJMSs+XOXt6+cu+luHnBt1HjFmUE/7ZUbO"
	    "%s", rest) > 0);
	assert_int_equal(parse(line, strlen(line), &k), 0);
	if (want == NULL)
		assert_null(k->comment);
	else {
		assert_non_null(k->comment);
		assert_string_equal(k->comment, want);
	}
	assert_int_equal(lk_sshkey_to_line(k, 1, &out), 0);
	if (want == NULL)
		assert_int_equal(strlen(out), 80);
	else {
		assert_int_equal(strlen(out), 81 + strlen(want));
		assert_string_equal(out + 81, want);
	}
	free(out);
	lk_sshkey_free(k);
	free(line);
}

static void
test_comment_kept(void **state)
{
	(void)state;
	check_comment(" alice@laptop", "alice@laptop");
	check_comment(" a", "a");
	check_comment(" with  inner   spaces", "with  inner   spaces");
	check_comment(" !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
	    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
	check_comment(" command=\"rm -rf /\"", "command=\"rm -rf /\"");
	check_comment(" ssh-rsa AAAA", "ssh-rsa AAAA");
}

static void
test_comment_trimmed(void **state)
{
	(void)state;
	check_comment(" \t  alice@laptop \t ", "alice@laptop");
	check_comment("\talice", "alice");
	check_comment("   ", NULL);
	check_comment(" \t", NULL);
	check_comment("", NULL);
}

static void
test_comment_length_limit(void **state)
{
	char c128[LK_SSHKEY_MAX_COMMENT + 2], c129[LK_SSHKEY_MAX_COMMENT + 3];

	(void)state;
	c128[0] = ' ';
	memset(c128 + 1, 'c', LK_SSHKEY_MAX_COMMENT);
	c128[LK_SSHKEY_MAX_COMMENT + 1] = '\0';
	check_comment(c128, c128 + 1);
	c129[0] = ' ';
	memset(c129 + 1, 'c', LK_SSHKEY_MAX_COMMENT + 1);
	c129[LK_SSHKEY_MAX_COMMENT + 2] = '\0';
	check_comment(c129, NULL);
}

static void
test_comment_unprintable_dropped(void **state)
{
	(void)state;
	check_comment(" caf\xc3\xa9", NULL);		/* UTF-8 */
	check_comment(" \xff\xfe", NULL);
	check_comment(" a\tb", NULL);			/* inner tab */
	check_comment(" \xe2\x80\xae" "evil", NULL);	/* RTL override */
}

static void
test_leading_blanks_ignored(void **state)
{
	struct lk_sshkey *k;
	char *line;

	(void)state;
	assert_true(asprintf(&line, " \t %s\t ", tkeys[TK_ECDSA256].line) >
	    0);
	assert_int_equal(parse(line, strlen(line), &k), 0);
	assert_string_equal(k->comment, "unit-ecdsa256@latchkey");
	lk_sshkey_free(k);
	free(line);

	/* Tabs separate the fields as well as spaces. */
	assert_int_equal(PARSE_ERR("ssh-ed25519\tAAAAC3NzaC1lZDI1NTE5AAAAIE6T"
	    "wYtvMpRJMSs+XOXt6+cu+luHnBt1HjFmUE/7ZUbO\tc"), 0);
}

/* ---- hostile lines ---- */

static void
test_control_characters_refused(void **state)
{
	const char *l = tkeys[TK_ED25519].line;
	static const char bad[] = { '\n', '\r', '\0', 0x1b, 0x7f, 0x01, 0x0b,
	    0x0c };
	size_t len = strlen(l), i, pos;
	char *s;

	(void)state;
	assert_non_null(s = malloc(len + 2));
	for (i = 0; i < sizeof(bad); i++) {
		/* At the end, at the start, inside the base64, the comment. */
		const size_t where[] = { len, 0, 20, len - 3 };

		for (pos = 0; pos < 4; pos++) {
			memcpy(s, l, where[pos]);
			s[where[pos]] = bad[i];
			memcpy(s + where[pos] + 1, l + where[pos],
			    len - where[pos]);
			assert_int_equal(parse_err(s, len + 1),
			    LK_ERR_BAD_CHAR);
		}
	}
	free(s);
	/* A second key smuggled after a newline. */
	assert_true(asprintf(&s, "%s\n%s", tkeys[TK_ED25519].line,
	    tkeys[TK_RSA2048].line) > 0);
	assert_int_equal(PARSE_ERR(s), LK_ERR_BAD_CHAR);
	free(s);
	assert_int_equal(PARSE_ERR("ssh-ed25519 AAAA\r"), LK_ERR_BAD_CHAR);
}

static void
test_options_refused(void **state)
{
	static const char *opts[] = {
		"command=\"echo hi\" ",
		"command=\"/bin/sh\",no-pty ",
		"no-pty ",
		"restrict ",
		"cert-authority ",
		"from=\"10.0.0.0/8\" ",
		"environment=\"LD_PRELOAD=/tmp/x.so\" ",
		"no-port-forwarding,no-X11-forwarding ",
		"permitopen=\"localhost:22\" ",
		"expiry-time=\"20991231\" ",
		"tunnel=\"0\" ",
		"principals=\"root\" ",
		"  no-agent-forwarding\t",
	};
	size_t i, k;
	char *s;

	(void)state;
	for (k = 0; k < TK_RSA1024; k++) {
		for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
			assert_true(asprintf(&s, "%s%s", opts[i],
			    tkeys[k].line) > 0);
			assert_int_equal(PARSE_ERR(s), LK_ERR_KEY_OPTIONS);
			free(s);
		}
	}
	/* Options before a type we do not know are still options. */
	assert_int_equal(PARSE_ERR("tunnel=0 ssh-dss AAAA"),
	    LK_ERR_KEY_OPTIONS);
	assert_int_equal(PARSE_ERR("command=\"x\" ssh-ed448 AAAA"),
	    LK_ERR_KEY_OPTIONS);
	assert_int_equal(PARSE_ERR("from=*"), LK_ERR_KEY_OPTIONS);
	assert_int_equal(PARSE_ERR("\"quoted\" x"), LK_ERR_KEY_OPTIONS);
}

static void
test_type_blob_mismatch(void **state)
{
	static const struct {
		const char	*type;
		int		 key;
	} cases[] = {
		{ "ssh-rsa", TK_ED25519 },
		{ "ssh-ed25519", TK_RSA2048 },
		{ "ssh-ed25519", TK_SK_ED25519 },
		{ "sk-ssh-ed25519@openssh.com", TK_ED25519 },
		{ "ecdsa-sha2-nistp384", TK_ECDSA256 },
		{ "ecdsa-sha2-nistp256", TK_ECDSA521 },
		{ "ecdsa-sha2-nistp256", TK_SK_ECDSA256 },
		{ "sk-ecdsa-sha2-nistp256@openssh.com", TK_ECDSA256 },
		{ "ssh-rsa", TK_ECDSA384 },
	};
	unsigned char *blob;
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tkey_blob(cases[i].key, &blob, &len);
		assert_int_equal(line_err(cases[i].type, blob, len, "c"),
		    LK_ERR_KEY_MISMATCH);
		assert_int_equal(blob_err(blob, len, cases[i].type),
		    LK_ERR_KEY_MISMATCH);
		free(blob);
	}
}

/* The curve name inside an ECDSA blob must match its type. */
static void
test_curve_name_mismatch(void **state)
{
	struct tbuf b = { NULL, 0, 0 };
	unsigned char *blob;
	size_t len, skip = 4 + 19 + 4 + 8;

	(void)state;
	tkey_blob(TK_ECDSA256, &blob, &len);
	tbuf_cstring(&b, "ecdsa-sha2-nistp256");
	tbuf_cstring(&b, "nistp384");
	tbuf_put(&b, blob + skip, len - skip);
	assert_int_equal(line_err("ecdsa-sha2-nistp256", b.p, b.len, NULL),
	    LK_ERR_KEY_MISMATCH);
	tbuf_free(&b);
	tbuf_cstring(&b, "ecdsa-sha2-nistp256");
	tbuf_cstring(&b, "secp256r1");
	tbuf_put(&b, blob + skip, len - skip);
	assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_KEY_MISMATCH);
	tbuf_free(&b);
	free(blob);
}

static void
test_line_too_long(void **state)
{
	size_t big = 1024 * 1024, len;
	char *s;
	struct lk_sshkey *k;

	(void)state;
	/* A 1 MB line that starts with a good key. */
	assert_non_null(s = malloc(big));
	memset(s, 'A', big);
	len = strlen(tkeys[TK_ED25519].line);
	memcpy(s, tkeys[TK_ED25519].line, len);
	s[len] = ' ';
	assert_int_equal(parse_err(s, big), LK_ERR_TOO_LONG);

	/* The limit is exact: 8192 bytes pass, 8193 do not. */
	memset(s + len, ' ', LK_SSHKEY_MAX_LINE + 1 - len);
	assert_int_equal(parse(s, LK_SSHKEY_MAX_LINE, &k), 0);
	assert_string_equal(k->comment, "unit-ed25519@latchkey");
	lk_sshkey_free(k);
	assert_int_equal(parse_err(s, LK_SSHKEY_MAX_LINE + 1),
	    LK_ERR_TOO_LONG);
	free(s);
}

static void
test_blob_too_long(void **state)
{
	struct tbuf b = { NULL, 0, 0 };
	unsigned char *pad;

	(void)state;
	assert_non_null(pad = calloc(1, LK_SSHKEY_MAX_BLOB));
	tbuf_cstring(&b, "ssh-ed25519");
	tbuf_string(&b, pad, LK_SSHKEY_MAX_BLOB - b.len - 4 + 1);
	assert_int_equal(b.len, LK_SSHKEY_MAX_BLOB + 1);
	assert_int_equal(line_err("ssh-ed25519", b.p, b.len, NULL),
	    LK_ERR_TOO_LONG);
	assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_TOO_LONG);
	free(pad);
	tbuf_free(&b);
}

static void
test_blob_trailing_bytes(void **state)
{
	static const unsigned char extra[][5] = {
		{ 0 }, { 0, 0, 0, 0 }, { 0, 0, 0, 1, 'x' }, { 0xff },
	};
	static const size_t extralen[] = { 1, 4, 5, 1 };
	struct tbuf b = { NULL, 0, 0 };
	unsigned char *blob;
	size_t len, i, k;
	char *tname;

	(void)state;
	for (k = 0; k < TK_RSA1024; k++) {
		tkey_blob((int)k, &blob, &len);
		tname = line_type(tkeys[k].line);
		for (i = 0; i < 4; i++) {
			tbuf_put(&b, blob, len);
			tbuf_put(&b, extra[i], extralen[i]);
			assert_int_equal(line_err(tname, b.p, b.len, "c"),
			    LK_ERR_KEY_TRAILING);
			assert_int_equal(blob_err(b.p, b.len, NULL),
			    LK_ERR_KEY_TRAILING);
			tbuf_free(&b);
		}
		free(tname);
		free(blob);
	}
}

/* Replaces the base64 word of line with b64; returns the error. */
static int
b64_word_err(const char *line, const char *b64)
{
	const char *b0 = strchr(line, ' ') + 1, *b1 = strchr(b0, ' ');
	char *s;
	int r;

	assert_true(asprintf(&s, "%.*s%s%s", (int)(b0 - line), line, b64,
	    b1 ? b1 : "") > 0);
	r = PARSE_ERR(s);
	free(s);
	return r;
}

/* The base64 word of a tkey, as a new string. */
static char *
b64_word(int i)
{
	const char *b0 = strchr(tkeys[i].line, ' ') + 1;
	const char *b1 = strchr(b0, ' ');

	return strndup(b0, b1 ? (size_t)(b1 - b0) : strlen(b0));
}

static void
test_base64_refused(void **state)
{
	char *w, *s;
	size_t n;

	(void)state;
	/* Trailing garbage characters. */
	w = b64_word(TK_ED25519);
	assert_true(asprintf(&s, "%s!", w) > 0);
	assert_int_equal(b64_word_err(tkeys[TK_ED25519].line, s),
	    LK_ERR_KEY_BASE64);
	free(s);
	assert_true(asprintf(&s, "%s!!!!", w) > 0);
	assert_int_equal(b64_word_err(tkeys[TK_ED25519].line, s),
	    LK_ERR_KEY_BASE64);
	free(s);
	assert_true(asprintf(&s, "%s====", w) > 0);
	assert_int_equal(b64_word_err(tkeys[TK_ED25519].line, s),
	    LK_ERR_KEY_BASE64);
	free(s);
	/* One character short. */
	w[strlen(w) - 1] = '\0';
	assert_int_equal(b64_word_err(tkeys[TK_ED25519].line, w),
	    LK_ERR_KEY_BASE64);
	free(w);

	/* Padding missing, doubled or in the middle. */
	w = b64_word(TK_ECDSA256);
	n = strlen(w);
	assert_int_equal(w[n - 1], '=');
	w[n - 1] = '\0';
	assert_int_equal(b64_word_err(tkeys[TK_ECDSA256].line, w),
	    LK_ERR_KEY_BASE64);
	assert_true(asprintf(&s, "%s==", w) > 0);
	assert_int_equal(b64_word_err(tkeys[TK_ECDSA256].line, s),
	    LK_ERR_KEY_BASE64);
	free(s);
	w[n - 1] = '=';
	w[8] = '=';
	assert_int_equal(b64_word_err(tkeys[TK_ECDSA256].line, w),
	    LK_ERR_KEY_BASE64);
	free(w);

	/* Non-zero padding bits: "...vcY=" -> "...vcZ=", "5uw==" -> "5ux==". */
	w = b64_word(TK_ECDSA256);
	n = strlen(w);
	assert_int_equal(w[n - 2], 'Y');
	w[n - 2] = 'Z';
	assert_int_equal(b64_word_err(tkeys[TK_ECDSA256].line, w),
	    LK_ERR_KEY_BASE64);
	free(w);
	w = b64_word(TK_ECDSA384);
	n = strlen(w);
	assert_int_equal(w[n - 3], 'w');
	w[n - 3] = 'x';
	assert_int_equal(b64_word_err(tkeys[TK_ECDSA384].line, w),
	    LK_ERR_KEY_BASE64);
	free(w);

	/* The URL-safe alphabet. */
	w = b64_word(TK_RSA2048);
	assert_non_null(s = strchr(w, '+'));
	*s = '-';
	assert_int_equal(b64_word_err(tkeys[TK_RSA2048].line, w),
	    LK_ERR_KEY_BASE64);
	assert_non_null(s = strchr(w, '/'));
	*s = '_';
	assert_int_equal(b64_word_err(tkeys[TK_RSA2048].line, w),
	    LK_ERR_KEY_BASE64);
	free(w);
}

/* Flips bits of a coordinate: the point leaves the curve. */
static void
test_ecdsa_point_not_on_curve(void **state)
{
	static const int ks[] = { TK_ECDSA256, TK_ECDSA384, TK_ECDSA521,
	    TK_SK_ECDSA256 };
	unsigned char *blob;
	size_t len, i, qend;
	char *tname;

	(void)state;
	for (i = 0; i < 4; i++) {
		tkey_blob(ks[i], &blob, &len);
		tname = line_type(tkeys[ks[i]].line);
		/* The point ends the blob, or comes before "ssh:". */
		qend = ks[i] == TK_SK_ECDSA256 ? len - 8 : len;
		blob[qend - 1] ^= 0x01;			/* y */
		assert_int_equal(line_err(tname, blob, len, NULL),
		    LK_ERR_KEY_POINT);
		assert_int_equal(blob_err(blob, len, NULL), LK_ERR_KEY_POINT);
		blob[qend - 1] ^= 0x01;
		blob[qend - 40] ^= 0x80;		/* x or y */
		assert_int_equal(blob_err(blob, len, tname), LK_ERR_KEY_POINT);
		blob[qend - 40] ^= 0x80;
		assert_int_equal(blob_err(blob, len, tname), 0);
		free(tname);
		free(blob);
	}
}

static void
ec_blob(struct tbuf *b, const char *type, const char *curve,
    const unsigned char *q, size_t qlen)
{
	tbuf_cstring(b, type);
	tbuf_cstring(b, curve);
	tbuf_string(b, q, qlen);
}

static void
test_ecdsa_point_encoding(void **state)
{
	unsigned char *blob, q[65];
	size_t len, qoff = 4 + 19 + 4 + 8 + 4;
	struct tbuf b = { NULL, 0, 0 };

	(void)state;
	tkey_blob(TK_ECDSA256, &blob, &len);
	assert_int_equal(len - qoff, 65);
	memcpy(q, blob + qoff, 65);

	/* Compressed form of the same point. */
	q[0] = 0x02 | (q[64] & 1);
	ec_blob(&b, "ecdsa-sha2-nistp256", "nistp256", q, 33);
	assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_KEY_POINT);
	tbuf_free(&b);
	/* Wrong prefix, right length. */
	ec_blob(&b, "ecdsa-sha2-nistp256", "nistp256", q, 65);
	assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_KEY_POINT);
	tbuf_free(&b);
	q[0] = 0x04;
	/* Too short, too long, empty, infinity, (0, 0). */
	ec_blob(&b, "ecdsa-sha2-nistp256", "nistp256", q, 64);
	assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_KEY_POINT);
	tbuf_free(&b);
	ec_blob(&b, "ecdsa-sha2-nistp256", "nistp256", blob + qoff - 1, 66);
	assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_KEY_POINT);
	tbuf_free(&b);
	ec_blob(&b, "ecdsa-sha2-nistp256", "nistp256", q, 0);
	assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_KEY_POINT);
	tbuf_free(&b);
	ec_blob(&b, "ecdsa-sha2-nistp256", "nistp256",
	    (const unsigned char *)"", 1);
	assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_KEY_POINT);
	tbuf_free(&b);
	memset(q + 1, 0, 64);
	ec_blob(&b, "ecdsa-sha2-nistp256", "nistp256", q, 65);
	assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_KEY_POINT);
	tbuf_free(&b);
	/* A nistp256 point under nistp384. */
	ec_blob(&b, "ecdsa-sha2-nistp384", "nistp384", blob + qoff, 65);
	assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_KEY_POINT);
	tbuf_free(&b);
	free(blob);
}

/* Every proper prefix of every good blob is refused as malformed. */
static void
test_truncated_blobs(void **state)
{
	unsigned char *blob;
	size_t len, n, k;
	char *tname;

	(void)state;
	for (k = 0; k < TK_COUNT; k++) {
		tkey_blob((int)k, &blob, &len);
		tname = line_type(tkeys[k].line);
		for (n = 0; n < len; n++) {
			assert_int_equal(blob_err(blob, n, NULL),
			    LK_ERR_KEY_BLOB);
			if (n > 0)
				assert_int_equal(line_err(tname, blob, n, NULL),
				    LK_ERR_KEY_BLOB);
		}
		free(tname);
		free(blob);
	}
}

/* String lengths that point past the end, up to 0xffffffff. */
static void
test_huge_lengths(void **state)
{
	static const uint32_t lens[] = { 0xffffffffu, 0x80000000u,
	    0x7fffffffu, 0x10000u, 33, 12 };
	struct tbuf b = { NULL, 0, 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		tbuf_u32(&b, lens[i]);
		tbuf_put(&b, "ssh-ed25519", 11);
		assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_KEY_BLOB);
		tbuf_free(&b);
		tbuf_cstring(&b, "ssh-ed25519");
		tbuf_u32(&b, lens[i]);
		tbuf_put(&b, "0123456789abcdef0123456789abcdef", 32);
		assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_KEY_BLOB);
		tbuf_free(&b);
	}
}

static void
test_ed25519_key_length(void **state)
{
	static const size_t lens[] = { 0, 1, 31, 33, 64 };
	unsigned char pk[64];
	struct tbuf b = { NULL, 0, 0 };
	size_t i;

	(void)state;
	memset(pk, 0x42, sizeof(pk));
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		tbuf_cstring(&b, "ssh-ed25519");
		tbuf_string(&b, pk, lens[i]);
		assert_int_equal(line_err("ssh-ed25519", b.p, b.len, NULL),
		    LK_ERR_KEY_BLOB);
		tbuf_free(&b);
		tbuf_cstring(&b, "sk-ssh-ed25519@openssh.com");
		tbuf_string(&b, pk, lens[i]);
		tbuf_cstring(&b, "ssh:");
		assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_KEY_BLOB);
		tbuf_free(&b);
	}
}

static void
test_sk_application(void **state)
{
	static const struct {
		const char	*app;
		size_t		 len;
		int		 want;
	} cases[] = {
		{ "ssh:", 4, 0 },
		{ "x", 1, 0 },
		{ "", 0, LK_ERR_KEY_BLOB },
		{ "ssh:\n", 5, LK_ERR_KEY_BLOB },
		{ "ssh\0:", 5, LK_ERR_KEY_BLOB },
		{ "ssh:\x7f", 5, LK_ERR_KEY_BLOB },
		{ "ssh:\xc3\xa9", 6, LK_ERR_KEY_BLOB },
	};
	unsigned char pk[32], app[LK_SSHKEY_MAX_APP + 1];
	struct tbuf b = { NULL, 0, 0 };
	size_t i;

	(void)state;
	memset(pk, 0x42, sizeof(pk));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tbuf_cstring(&b, "sk-ssh-ed25519@openssh.com");
		tbuf_string(&b, pk, 32);
		tbuf_string(&b, cases[i].app, cases[i].len);
		assert_int_equal(line_err("sk-ssh-ed25519@openssh.com", b.p,
		    b.len, NULL), cases[i].want);
		tbuf_free(&b);
	}
	/* 256 bytes are the limit. */
	memset(app, 'a', sizeof(app));
	tbuf_cstring(&b, "sk-ssh-ed25519@openssh.com");
	tbuf_string(&b, pk, 32);
	tbuf_string(&b, app, LK_SSHKEY_MAX_APP);
	assert_int_equal(blob_err(b.p, b.len, NULL), 0);
	tbuf_free(&b);
	tbuf_cstring(&b, "sk-ssh-ed25519@openssh.com");
	tbuf_string(&b, pk, 32);
	tbuf_string(&b, app, LK_SSHKEY_MAX_APP + 1);
	assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_KEY_BLOB);
	tbuf_free(&b);
	/* The application is required. */
	tbuf_cstring(&b, "sk-ssh-ed25519@openssh.com");
	tbuf_string(&b, pk, 32);
	assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_KEY_BLOB);
	tbuf_free(&b);
}

static void
test_unknown_type(void **state)
{
	static const char *types[] = {
		"ssh-dss", "ssh-ed448", "rsa-sha2-256", "rsa-sha2-512",
		"ecdsa-sha2-nistp224", "SSH-ED25519", "ssh-ed25519x",
		"ssh-ed2551", "x", "ssh-ed25519@openssh.com",
	};
	unsigned char *blob;
	struct tbuf b = { NULL, 0, 0 };
	size_t len, i;

	(void)state;
	tkey_blob(TK_ED25519, &blob, &len);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		assert_int_equal(line_err(types[i], blob, len, "c"),
		    LK_ERR_KEY_TYPE);
		/* The same name inside a blob. */
		tbuf_cstring(&b, types[i]);
		tbuf_string(&b, blob + 19, 32);
		assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_KEY_TYPE);
		tbuf_free(&b);
	}
	free(blob);
	assert_int_equal(PARSE_ERR("ssh-dss AAAAB3NzaC1kc3MAAACBAP1/U4Ed"),
	    LK_ERR_KEY_TYPE);
}

/* The reason given for a refused key names what to use instead. */
static void
test_why(void **state)
{
	(void)state;
	assert_non_null(strstr(lk_sshkey_why("ssh-dss AAAAB3NzaC1kc3MAAACB",
	    LK_ERR_KEY_TYPE), "ssh-keygen -t ed25519"));
	assert_non_null(strstr(lk_sshkey_why(" ssh-dss AAAA c",
	    LK_ERR_KEY_TYPE), "DSA"));
	assert_non_null(strstr(lk_sshkey_why(
	    "ssh-ed25519-cert-v01@openssh.com AAAA", LK_ERR_KEY_TYPE),
	    "certificates are not accepted"));
	assert_string_equal(lk_sshkey_why("ssh-dssx AAAA", LK_ERR_KEY_TYPE),
	    lk_err(LK_ERR_KEY_TYPE));
	assert_string_equal(lk_sshkey_why("ssh-dss AAAA", LK_ERR_KEY_BLOB),
	    lk_err(LK_ERR_KEY_BLOB));
	assert_string_equal(lk_sshkey_why(NULL, LK_ERR_KEY_TYPE),
	    lk_err(LK_ERR_KEY_TYPE));
	assert_string_equal(lk_sshkey_why("", LK_ERR_KEY_TYPE),
	    lk_err(LK_ERR_KEY_TYPE));
}

static void
test_certificate_types_refused(void **state)
{
	static const char *types[] = {
		"ssh-ed25519-cert-v01@openssh.com",
		"ssh-rsa-cert-v01@openssh.com",
		"ecdsa-sha2-nistp256-cert-v01@openssh.com",
		"ecdsa-sha2-nistp384-cert-v01@openssh.com",
		"ecdsa-sha2-nistp521-cert-v01@openssh.com",
		"sk-ssh-ed25519-cert-v01@openssh.com",
		"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
	};
	struct tbuf b = { NULL, 0, 0 };
	unsigned char pk[32], nonce[32];
	size_t i;

	(void)state;
	memset(pk, 7, sizeof(pk));
	memset(nonce, 9, sizeof(nonce));
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		tbuf_cstring(&b, types[i]);
		tbuf_string(&b, nonce, sizeof(nonce));
		tbuf_string(&b, pk, sizeof(pk));
		assert_int_equal(line_err(types[i], b.p, b.len, NULL),
		    LK_ERR_KEY_TYPE);
		assert_int_equal(blob_err(b.p, b.len, NULL), LK_ERR_KEY_TYPE);
		assert_int_equal(blob_err(b.p, b.len, "ssh-ed25519"),
		    LK_ERR_KEY_MISMATCH);
		tbuf_free(&b);
	}
}

static void
test_malformed_lines(void **state)
{
	(void)state;
	assert_int_equal(PARSE_ERR(""), LK_ERR_INVALID_FORMAT);
	assert_int_equal(PARSE_ERR("   "), LK_ERR_INVALID_FORMAT);
	assert_int_equal(PARSE_ERR("\t"), LK_ERR_INVALID_FORMAT);
	assert_int_equal(PARSE_ERR("ssh-ed25519"), LK_ERR_INVALID_FORMAT);
	assert_int_equal(PARSE_ERR("ssh-ed25519 \t "), LK_ERR_INVALID_FORMAT);
	assert_int_equal(PARSE_ERR(" ssh-rsa"), LK_ERR_INVALID_FORMAT);
	assert_int_equal(PARSE_ERR("AAAAC3NzaC1lZDI1NTE5AAAAIE6TwYtvMpRJMSs+"
	    "XOXt6+cu+luHnBt1HjFmUE/7ZUbO"), LK_ERR_KEY_TYPE);
}

/* ---- fingerprints, hex and type names ---- */

static void
test_fingerprint_known(void **state)
{
	struct lk_sshkey *k;
	unsigned char dig[LK_SSHKEY_DIGEST_LEN];
	char hex[LK_SSHKEY_HEX_SIZE];

	(void)state;
	assert_int_equal(PARSE_ERR(tkeys[TK_ED25519].line), 0);
	assert_int_equal(parse(tkeys[TK_ED25519].line,
	    strlen(tkeys[TK_ED25519].line), &k), 0);
	assert_int_equal(lk_sshkey_digest(k, dig), 0);
	lk_sshkey_hex(dig, hex);
	/* base64 -d | sha256sum */
	assert_string_equal(hex, "d35396e0011deacd33cb126228185100"
	    "c6924e027dc2c33e68eb149c634f2fc1");
	lk_sshkey_free(k);
}

static void
test_fp_parse(void **state)
{
	unsigned char dig[LK_SSHKEY_DIGEST_LEN], want[LK_SSHKEY_DIGEST_LEN];
	char fp[LK_SSHKEY_FP_SIZE + 8], hex[LK_SSHKEY_HEX_SIZE];
	struct lk_sshkey *k;
	size_t i;

	(void)state;
	for (i = 0; i < TK_COUNT; i++) {
		assert_int_equal(lk_sshkey_fp_parse(tkeys[i].fp, dig), 0);
		/* RSA 1024 is refused by the parser: check the others. */
		if (i == TK_RSA1024)
			continue;
		assert_int_equal(parse(tkeys[i].line, strlen(tkeys[i].line),
		    &k), 0);
		assert_int_equal(lk_sshkey_digest(k, want), 0);
		assert_memory_equal(dig, want, sizeof(dig));
		lk_sshkey_free(k);
	}
	lk_sshkey_hex(dig, hex);
	assert_int_equal(strlen(hex), 64);

	snprintf(fp, sizeof(fp), "%s", tkeys[TK_ED25519].fp);
	assert_int_equal(lk_sshkey_fp_parse(fp, dig), 0);
	/* Last character carries two padding bits: 'E' ok, 'F' not. */
	assert_int_equal(fp[49], 'E');
	fp[49] = 'F';
	assert_int_equal(lk_sshkey_fp_parse(fp, dig), LK_ERR_INVALID_FORMAT);
	fp[49] = '-';
	assert_int_equal(lk_sshkey_fp_parse(fp, dig), LK_ERR_INVALID_FORMAT);
	fp[49] = 'E';
	assert_int_equal(lk_sshkey_fp_parse(fp + 1, dig),
	    LK_ERR_INVALID_FORMAT);
	memcpy(fp, "sha256", 6);
	assert_int_equal(lk_sshkey_fp_parse(fp, dig), LK_ERR_INVALID_FORMAT);
	memcpy(fp, "SHA256", 6);
	fp[50] = '=';
	fp[51] = '\0';
	assert_int_equal(lk_sshkey_fp_parse(fp, dig), LK_ERR_INVALID_FORMAT);
	fp[49] = '\0';
	assert_int_equal(lk_sshkey_fp_parse(fp, dig), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_sshkey_fp_parse("", dig), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_sshkey_fp_parse("SHA256:", dig),
	    LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_sshkey_fp_parse(
	    "MD5:d3:53:96:e0:01:1d:ea:cd:33:cb:12:62:28:18:51:00", dig),
	    LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_sshkey_fp_parse(
	    "SHA512:01OW4AEd6s0zyxJiKBhRAMaSTgJ9wsM+aOsUnGNPL8E", dig),
	    LK_ERR_INVALID_FORMAT);
}

static void
test_hex(void **state)
{
	unsigned char dig[LK_SSHKEY_DIGEST_LEN];
	char hex[LK_SSHKEY_HEX_SIZE];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(dig); i++)
		dig[i] = (unsigned char)(i * 8 + 1);
	memset(hex, 'X', sizeof(hex));
	lk_sshkey_hex(dig, hex);
	assert_string_equal(hex, "0109111921293139414951596169717981"
	    "899199a1a9b1b9c1c9d1d9e1e9f1f9");
	memset(dig, 0xff, sizeof(dig));
	lk_sshkey_hex(dig, hex);
	assert_int_equal(strspn(hex, "f"), 64);
	assert_int_equal(hex[64], '\0');
}

static void
test_type_names(void **state)
{
	static const struct {
		const char	*name;
		int		 type;
	} names[] = {
		{ "ssh-ed25519", LK_KEY_ED25519 },
		{ "ecdsa-sha2-nistp256", LK_KEY_ECDSA_P256 },
		{ "ecdsa-sha2-nistp384", LK_KEY_ECDSA_P384 },
		{ "ecdsa-sha2-nistp521", LK_KEY_ECDSA_P521 },
		{ "sk-ssh-ed25519@openssh.com", LK_KEY_SK_ED25519 },
		{ "sk-ecdsa-sha2-nistp256@openssh.com", LK_KEY_SK_ECDSA_P256 },
		{ "ssh-rsa", LK_KEY_RSA },
	};
	struct lk_sshkey k;
	size_t i;

	(void)state;
	memset(&k, 0, sizeof(k));
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(lk_sshkey_type_from_name(names[i].name,
		    strlen(names[i].name)), names[i].type);
		/* Only the whole name matches. */
		assert_int_equal(lk_sshkey_type_from_name(names[i].name,
		    strlen(names[i].name) - 1), -1);
		k.type = (enum lk_keytype)names[i].type;
		assert_string_equal(lk_sshkey_type_name(&k), names[i].name);
	}
	assert_int_equal(lk_sshkey_type_from_name("ssh-ed25519 ", 12), -1);
	assert_int_equal(lk_sshkey_type_from_name("", 0), -1);
	assert_int_equal(lk_sshkey_type_from_name("ssh-dss", 7), -1);
	lk_sshkey_free(NULL);
}

/* ---- the parser without OpenSSL, and lk_sshkey_validate ---- */

static void
test_nocrypto_agrees_on_good_keys(void **state)
{
	struct lk_sshkey *k, *n;
	size_t i;

	(void)state;
	for (i = 0; i < TK_RSA1024; i++) {
		const char *l = tkeys[i].line;

		assert_int_equal(parse(l, strlen(l), &k), 0);
		assert_int_equal(lk_sshkey_parse_line_nocrypto(l, strlen(l),
		    &n), 0);
		assert_int_equal(n->type, k->type);
		assert_int_equal(n->bits, k->bits);
		assert_int_equal(n->bloblen, k->bloblen);
		assert_memory_equal(n->blob, k->blob, k->bloblen);
		assert_string_equal(n->comment, k->comment);
		assert_int_equal(n->point_off, k->point_off);
		assert_int_equal(n->point_len, k->point_len);
		if (n->point_len != 0) {
			/* The uncompressed point, ending the key fields. */
			assert_int_equal(n->point_len,
			    n->bits == 521 ? 133 : 1 + n->bits / 4);
			assert_int_equal(n->blob[n->point_off], 0x04);
			assert_true(n->point_off + n->point_len <= n->bloblen);
		} else
			assert_int_equal(n->point_off, 0);
		assert_int_equal(lk_sshkey_validate(n), 0);
		lk_sshkey_free(n);
		lk_sshkey_free(k);
	}
	assert_int_equal(lk_sshkey_parse_line_nocrypto(tkeys[TK_RSA1024].line,
	    strlen(tkeys[TK_RSA1024].line), &n), LK_ERR_KEY_SMALL);
}

/* Only the on-curve check is left to lk_sshkey_validate(). */
static void
test_nocrypto_defers_point_check(void **state)
{
	struct lk_sshkey *n;
	unsigned char *blob;
	size_t len;
	char *line;

	(void)state;
	tkey_blob(TK_ECDSA384, &blob, &len);
	blob[len - 1] ^= 0x01;
	line = t_mkline("ecdsa-sha2-nistp384", blob, len, "c");
	assert_int_equal(PARSE_ERR(line), LK_ERR_KEY_POINT);
	assert_int_equal(lk_sshkey_parse_line_nocrypto(line, strlen(line),
	    &n), 0);
	assert_int_equal(lk_sshkey_validate(n), LK_ERR_KEY_POINT);
	lk_sshkey_free(n);
	assert_int_equal(lk_sshkey_from_blob_nocrypto(blob, len, NULL, &n), 0);
	assert_int_equal(lk_sshkey_validate(n), LK_ERR_KEY_POINT);
	lk_sshkey_free(n);
	free(line);

	/* The encoding itself is still checked without OpenSSL. */
	blob[len - 97] = 0x02;
	assert_int_equal(lk_sshkey_from_blob_nocrypto(blob, len, NULL, &n),
	    LK_ERR_KEY_POINT);
	assert_null(n);
	blob[len - 97] = 0x04;
	assert_int_equal(lk_sshkey_from_blob_nocrypto(blob, len - 1, NULL,
	    &n), LK_ERR_KEY_BLOB);
	free(blob);

	/* Everything else is refused the same way. */
	assert_int_equal(lk_sshkey_parse_line_nocrypto("no-pty ssh-rsa AAAA",
	    19, &n), LK_ERR_KEY_OPTIONS);
	assert_int_equal(lk_sshkey_parse_line_nocrypto("ssh-ed25519 AAAA\n",
	    17, &n), LK_ERR_BAD_CHAR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_ed25519),
		cmocka_unit_test(test_accept_ecdsa_p256),
		cmocka_unit_test(test_accept_ecdsa_p384),
		cmocka_unit_test(test_accept_ecdsa_p521),
		cmocka_unit_test(test_accept_sk_ed25519),
		cmocka_unit_test(test_accept_sk_ecdsa_p256),
		cmocka_unit_test(test_accept_rsa2048),
		cmocka_unit_test(test_accept_rsa3072),
		cmocka_unit_test(test_generated_ed25519),
		cmocka_unit_test(test_generated_ecdsa_p256),
		cmocka_unit_test(test_generated_ecdsa_p384),
		cmocka_unit_test(test_generated_ecdsa_p521),
		cmocka_unit_test(test_generated_rsa2048),
		cmocka_unit_test(test_generated_rsa4096),
		cmocka_unit_test(test_generated_sk_ed25519),
		cmocka_unit_test(test_generated_sk_ecdsa_p256),
		cmocka_unit_test(test_generated_rsa16384_constructed),
		cmocka_unit_test(test_generated_certificate_refused),
		cmocka_unit_test(test_rsa1024_too_small),
		cmocka_unit_test(test_rsa_size_limits),
		cmocka_unit_test(test_rsa_exponent_rules),
		cmocka_unit_test(test_rsa_modulus_not_minimal),
		cmocka_unit_test(test_comment_kept),
		cmocka_unit_test(test_comment_trimmed),
		cmocka_unit_test(test_comment_length_limit),
		cmocka_unit_test(test_comment_unprintable_dropped),
		cmocka_unit_test(test_leading_blanks_ignored),
		cmocka_unit_test(test_control_characters_refused),
		cmocka_unit_test(test_options_refused),
		cmocka_unit_test(test_type_blob_mismatch),
		cmocka_unit_test(test_curve_name_mismatch),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_blob_too_long),
		cmocka_unit_test(test_blob_trailing_bytes),
		cmocka_unit_test(test_base64_refused),
		cmocka_unit_test(test_ecdsa_point_not_on_curve),
		cmocka_unit_test(test_ecdsa_point_encoding),
		cmocka_unit_test(test_truncated_blobs),
		cmocka_unit_test(test_huge_lengths),
		cmocka_unit_test(test_ed25519_key_length),
		cmocka_unit_test(test_sk_application),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_why),
		cmocka_unit_test(test_certificate_types_refused),
		cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_fingerprint_known),
		cmocka_unit_test(test_fp_parse),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_nocrypto_agrees_on_good_keys),
		cmocka_unit_test(test_nocrypto_defers_point_check),
	};

	return cmocka_run_group_tests(tests, gen_setup, gen_teardown);
}
