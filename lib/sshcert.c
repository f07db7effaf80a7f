/*
 * OpenSSH host certificates, made and read (PROTOCOL.certkeys). A
 * certificate's blob is
 *
 *	string	"TYPE-cert-v01@openssh.com"
 *	string	nonce
 *	...	the key's own fields (its plain blob without the type)
 *	uint64	serial, uint32 type, string key id,
 *	string	principals (strings packed in a string),
 *	uint64	valid after, uint64 valid before,
 *	string	critical options, string extensions, string reserved,
 *	string	signature key (the CA's plain blob)
 *	string	signature over everything before it
 *
 * Writing goes into a buffer of LK_SSHCERT_MAX_BLOB bytes that refuses to
 * overflow; reading goes through a bounded cursor, as lib/sshkey_wire.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "b64.h"
#include "err.h"
#include "sshcert.h"
#include "sshkey.h"

#define SSHCERT_ED25519		"ssh-ed25519"
#define SSHCERT_SIG_LEN		64

struct sshcert_kind {
	enum lk_keytype	 type;
	const char	*plain;		/* the key's own type name */
	const char	*cert;		/* its certificate type name */
	int		 nfields;	/* strings after the type in its blob */
};

static const struct sshcert_kind sshcert_kinds[] = {
	{ LK_KEY_ED25519, "ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com",
	    1 },
	{ LK_KEY_ECDSA_P256, "ecdsa-sha2-nistp256",
	    "ecdsa-sha2-nistp256-cert-v01@openssh.com", 2 },
	{ LK_KEY_ECDSA_P384, "ecdsa-sha2-nistp384",
	    "ecdsa-sha2-nistp384-cert-v01@openssh.com", 2 },
	{ LK_KEY_ECDSA_P521, "ecdsa-sha2-nistp521",
	    "ecdsa-sha2-nistp521-cert-v01@openssh.com", 2 },
	{ LK_KEY_RSA, "ssh-rsa", "ssh-rsa-cert-v01@openssh.com", 2 },
};
#define SSHCERT_NKINDS (sizeof(sshcert_kinds) / sizeof(sshcert_kinds[0]))

static const struct sshcert_kind *
sshcert_kind_of(enum lk_keytype type)
{
	size_t i;

	for (i = 0; i < SSHCERT_NKINDS; i++)
		if (sshcert_kinds[i].type == type)
			return &sshcert_kinds[i];
	return NULL;
}

static const struct sshcert_kind *
sshcert_kind_named(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < SSHCERT_NKINDS; i++)
		if (strlen(sshcert_kinds[i].cert) == len &&
		    memcmp(sshcert_kinds[i].cert, s, len) == 0)
			return &sshcert_kinds[i];
	return NULL;
}

int
lk_sshcert_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= LK_SSHCERT_MAX_NAME &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-_:") == n;
}

/* --- writing ------------------------------------------------------- */

/* A fixed buffer; an append that does not fit sets err and does nothing. */
struct sshcert_out {
	unsigned char	 b[LK_SSHCERT_MAX_BLOB];
	size_t		 len;
	int		 err;
};

static void
sshcert_put(struct sshcert_out *o, const void *p, size_t n)
{
	if (o->err || n > sizeof(o->b) - o->len) {
		o->err = 1;
		return;
	}
	memcpy(o->b + o->len, p, n);
	o->len += n;
}

static void
sshcert_put_u32(struct sshcert_out *o, uint32_t v)
{
	unsigned char b[4] = { v >> 24, v >> 16, v >> 8, v };

	sshcert_put(o, b, 4);
}

static void
sshcert_put_u64(struct sshcert_out *o, uint64_t v)
{
	sshcert_put_u32(o, (uint32_t)(v >> 32));
	sshcert_put_u32(o, (uint32_t)v);
}

static void
sshcert_put_str(struct sshcert_out *o, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		o->err = 1;
		return;
	}
	sshcert_put_u32(o, (uint32_t)n);
	sshcert_put(o, p, n);
}

static void
sshcert_put_cstr(struct sshcert_out *o, const char *s)
{
	sshcert_put_str(o, s, strlen(s));
}

/* The CA's plain blob: string "ssh-ed25519", string pk. */
static void
sshcert_put_ca_blob(struct sshcert_out *o,
    const unsigned char pub[LK_SSHCERT_ED25519_LEN])
{
	sshcert_put_cstr(o, SSHCERT_ED25519);
	sshcert_put_str(o, pub, LK_SSHCERT_ED25519_LEN);
}

static int
sshcert_spec_ok(const struct lk_sshcert_spec *spec)
{
	size_t i;

	if (spec->key_id == NULL || !lk_sshcert_name_ok(spec->key_id) ||
	    spec->nprincipals == 0 ||
	    spec->nprincipals > LK_SSHCERT_MAX_PRINC ||
	    spec->valid_after >= spec->valid_before)
		return 0;
	for (i = 0; i < spec->nprincipals; i++)
		if (spec->principals[i] == NULL ||
		    !lk_sshcert_name_ok(spec->principals[i]))
			return 0;
	return 1;
}

static int
sshcert_comment_ok(const char *c)
{
	for (; *c != '\0'; c++)
		if (*c <= ' ' || *c >= 0x7f)
			return 0;
	return 1;
}

/* Ed25519 signature of tbs by the raw private key priv into sig. */
static int
sshcert_ed25519_sign(const unsigned char priv[LK_SSHCERT_ED25519_LEN],
    const unsigned char *tbs, size_t len, unsigned char sig[SSHCERT_SIG_LEN])
{
	EVP_PKEY *pk;
	EVP_MD_CTX *ctx = NULL;
	size_t slen = SSHCERT_SIG_LEN;
	int r = LK_ERR_INTERNAL;

	if ((pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv,
	    LK_SSHCERT_ED25519_LEN)) == NULL)
		return LK_ERR_INTERNAL;
	if ((ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) == 1 &&
	    EVP_DigestSign(ctx, sig, &slen, tbs, len) == 1 &&
	    slen == SSHCERT_SIG_LEN)
		r = 0;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return r;
}

static int
sshcert_ed25519_verify(const unsigned char pub[LK_SSHCERT_ED25519_LEN],
    const unsigned char *tbs, size_t len, const unsigned char *sig)
{
	EVP_PKEY *pk;
	EVP_MD_CTX *ctx = NULL;
	int ok = 0;

	if ((pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
	    LK_SSHCERT_ED25519_LEN)) == NULL)
		return 0;
	if ((ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
	    EVP_DigestVerify(ctx, sig, SSHCERT_SIG_LEN, tbs, len) == 1)
		ok = 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return ok;
}

/* The line "type base64[ comment]" of blob, new. */
static int
sshcert_line(const char *type, const unsigned char *blob, size_t len,
    const char *comment, char **linep)
{
	char *b64, *line;
	size_t n;

	if ((b64 = lk_b64_encode(blob, len, 1)) == NULL)
		return LK_ERR_ALLOC;
	n = strlen(type) + 1 + strlen(b64) + (comment ? strlen(comment) + 1 :
	    0) + 1;
	if ((line = malloc(n)) == NULL) {
		free(b64);
		return LK_ERR_ALLOC;
	}
	snprintf(line, n, "%s %s%s%s", type, b64, comment ? " " : "",
	    comment ? comment : "");
	free(b64);
	*linep = line;
	return 0;
}

int
lk_sshcert_sign_host(const struct lk_sshkey *key,
    const unsigned char ca_priv[LK_SSHCERT_ED25519_LEN],
    const struct lk_sshcert_spec *spec, const char *comment, char **linep)
{
	const struct sshcert_kind *kind;
	struct sshcert_out *o = NULL, *pr = NULL;
	unsigned char nonce[LK_SSHCERT_NONCE_LEN], pub[LK_SSHCERT_ED25519_LEN];
	unsigned char sig[SSHCERT_SIG_LEN];
	size_t i, skip;
	int r;

	*linep = NULL;
	if ((kind = sshcert_kind_of(key->type)) == NULL)
		return LK_ERR_KEY_TYPE;
	/* The plain blob's own type string, which the certificate replaces. */
	skip = 4 + strlen(kind->plain);
	if (!sshcert_spec_ok(spec) || key->bloblen <= skip ||
	    (comment != NULL && !sshcert_comment_ok(comment)))
		return LK_ERR_INVALID_FORMAT;
	if ((r = lk_sshcert_ca_public(ca_priv, pub)) != 0)
		return r;
	if ((o = calloc(1, sizeof(*o))) == NULL ||
	    (pr = calloc(1, sizeof(*pr))) == NULL) {
		r = LK_ERR_ALLOC;
		goto out;
	}
	r = LK_ERR_INTERNAL;
	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		goto out;
	for (i = 0; i < spec->nprincipals; i++)
		sshcert_put_cstr(pr, spec->principals[i]);
	sshcert_put_cstr(o, kind->cert);
	sshcert_put_str(o, nonce, sizeof(nonce));
	sshcert_put(o, key->blob + skip, key->bloblen - skip);
	sshcert_put_u64(o, spec->serial);
	sshcert_put_u32(o, LK_SSHCERT_TYPE_HOST);
	sshcert_put_cstr(o, spec->key_id);
	sshcert_put_str(o, pr->b, pr->len);
	sshcert_put_u64(o, spec->valid_after);
	sshcert_put_u64(o, spec->valid_before);
	sshcert_put_str(o, "", 0);	/* critical options */
	sshcert_put_str(o, "", 0);	/* extensions */
	sshcert_put_str(o, "", 0);	/* reserved */
	sshcert_put_u32(o, 4 + strlen(SSHCERT_ED25519) + 4 +
	    LK_SSHCERT_ED25519_LEN);
	sshcert_put_ca_blob(o, pub);
	if (o->err || pr->err) {
		r = LK_ERR_TOO_LONG;
		goto out;
	}
	if ((r = sshcert_ed25519_sign(ca_priv, o->b, o->len, sig)) != 0)
		goto out;
	sshcert_put_u32(o, 4 + strlen(SSHCERT_ED25519) + 4 + SSHCERT_SIG_LEN);
	sshcert_put_cstr(o, SSHCERT_ED25519);
	sshcert_put_str(o, sig, sizeof(sig));
	if (o->err) {
		r = LK_ERR_TOO_LONG;
		goto out;
	}
	r = sshcert_line(kind->cert, o->b, o->len, comment, linep);
 out:
	free(o);
	free(pr);
	return r;
}

/* --- reading ------------------------------------------------------- */

struct sshcert_in {
	const unsigned char	*p;
	size_t			 left;
};

static int
sshcert_get_u32(struct sshcert_in *c, uint32_t *vp)
{
	if (c->left < 4)
		return LK_ERR_INVALID_FORMAT;
	*vp = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 |
	    (uint32_t)c->p[2] << 8 | c->p[3];
	c->p += 4;
	c->left -= 4;
	return 0;
}

static int
sshcert_get_u64(struct sshcert_in *c, uint64_t *vp)
{
	uint32_t hi, lo;

	if (sshcert_get_u32(c, &hi) != 0 || sshcert_get_u32(c, &lo) != 0)
		return LK_ERR_INVALID_FORMAT;
	*vp = (uint64_t)hi << 32 | lo;
	return 0;
}

static int
sshcert_get_str(struct sshcert_in *c, const unsigned char **sp, size_t *lenp)
{
	uint32_t len;

	if (sshcert_get_u32(c, &len) != 0 || len > c->left)
		return LK_ERR_INVALID_FORMAT;
	*sp = c->p;
	*lenp = len;
	c->p += len;
	c->left -= len;
	return 0;
}

/* A string that must pass lk_sshcert_name_ok, as a new C string. */
static int
sshcert_get_name(struct sshcert_in *c, char **outp)
{
	const unsigned char *s;
	size_t len;

	if (sshcert_get_str(c, &s, &len) != 0 || len == 0 ||
	    len > LK_SSHCERT_MAX_NAME || memchr(s, '\0', len) != NULL)
		return LK_ERR_INVALID_FORMAT;
	if ((*outp = strndup((const char *)s, len)) == NULL)
		return LK_ERR_ALLOC;
	if (!lk_sshcert_name_ok(*outp)) {
		free(*outp);
		*outp = NULL;
		return LK_ERR_INVALID_FORMAT;
	}
	return 0;
}

static int
sshcert_is(const unsigned char *s, size_t len, const char *want)
{
	return strlen(want) == len && memcmp(s, want, len) == 0;
}

/* The certified key: its fields after the nonce, as a plain blob. */
static int
sshcert_get_key(struct sshcert_in *c, const struct sshcert_kind *kind,
    struct lk_sshkey **keyp)
{
	struct sshcert_out *o;
	const unsigned char *start = c->p, *s;
	size_t len;
	int i, r;

	for (i = 0; i < kind->nfields; i++)
		if (sshcert_get_str(c, &s, &len) != 0)
			return LK_ERR_INVALID_FORMAT;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return LK_ERR_ALLOC;
	sshcert_put_cstr(o, kind->plain);
	sshcert_put(o, start, (size_t)(c->p - start));
	r = o->err || o->len > LK_SSHKEY_MAX_BLOB ? LK_ERR_TOO_LONG :
	    lk_sshkey_from_blob(o->b, o->len, kind->plain, keyp);
	free(o);
	return r;
}

/* The packed principals of p (len bytes) into cert. */
static int
sshcert_get_principals(const unsigned char *p, size_t len,
    struct lk_sshcert *cert)
{
	struct sshcert_in c = { p, len };
	int r;

	while (c.left > 0) {
		if (cert->nprincipals == LK_SSHCERT_MAX_PRINC)
			return LK_ERR_INVALID_FORMAT;
		if ((r = sshcert_get_name(&c,
		    &cert->principals[cert->nprincipals])) != 0)
			return r;
		cert->nprincipals++;
	}
	return cert->nprincipals > 0 ? 0 : LK_ERR_INVALID_FORMAT;
}

/* From "serial" to the end of the blob (whose start is blob). */
static int
sshcert_get_rest(struct sshcert_in *c, const unsigned char *blob,
    struct lk_sshcert *cert)
{
	const unsigned char *s, *tbs_end, *sig;
	size_t len, siglen;
	struct sshcert_in in;
	int r;

	if (sshcert_get_u64(c, &cert->serial) != 0 ||
	    sshcert_get_u32(c, &cert->type) != 0 ||
	    cert->type != LK_SSHCERT_TYPE_HOST)
		return LK_ERR_INVALID_FORMAT;
	if ((r = sshcert_get_name(c, &cert->key_id)) != 0)
		return r;
	if (sshcert_get_str(c, &s, &len) != 0)
		return LK_ERR_INVALID_FORMAT;
	if ((r = sshcert_get_principals(s, len, cert)) != 0)
		return r;
	if (sshcert_get_u64(c, &cert->valid_after) != 0 ||
	    sshcert_get_u64(c, &cert->valid_before) != 0 ||
	    cert->valid_after >= cert->valid_before)
		return LK_ERR_INVALID_FORMAT;
	/* No critical option, no extension; reserved is ignored. */
	if (sshcert_get_str(c, &s, &len) != 0 || len != 0 ||
	    sshcert_get_str(c, &s, &len) != 0 || len != 0 ||
	    sshcert_get_str(c, &s, &len) != 0)
		return LK_ERR_INVALID_FORMAT;
	/* The signature key: exactly an ssh-ed25519 plain blob. */
	if (sshcert_get_str(c, &s, &len) != 0)
		return LK_ERR_INVALID_FORMAT;
	in.p = s;
	in.left = len;
	if (sshcert_get_str(&in, &s, &len) != 0 ||
	    !sshcert_is(s, len, SSHCERT_ED25519) ||
	    sshcert_get_str(&in, &s, &len) != 0 ||
	    len != LK_SSHCERT_ED25519_LEN || in.left != 0)
		return LK_ERR_INVALID_FORMAT;
	memcpy(cert->ca, s, LK_SSHCERT_ED25519_LEN);
	tbs_end = c->p;
	/* The signature: string "ssh-ed25519", string 64 bytes; the end. */
	if (sshcert_get_str(c, &s, &len) != 0 || c->left != 0)
		return LK_ERR_INVALID_FORMAT;
	in.p = s;
	in.left = len;
	if (sshcert_get_str(&in, &s, &len) != 0 ||
	    !sshcert_is(s, len, SSHCERT_ED25519) ||
	    sshcert_get_str(&in, &sig, &siglen) != 0 ||
	    siglen != SSHCERT_SIG_LEN || in.left != 0)
		return LK_ERR_INVALID_FORMAT;
	if (!sshcert_ed25519_verify(cert->ca, blob, (size_t)(tbs_end - blob),
	    sig))
		return LK_ERR_INVALID_FORMAT;
	return 0;
}

/* Splits "type base64[ comment]"; the comment must be printable. */
static int
sshcert_split(const char *line, size_t len, const struct sshcert_kind **kp,
    const char **b64p, size_t *b64lenp)
{
	const char *sp, *b64, *end = line + len;
	size_t i;

	if (len > LK_SSHCERT_MAX_LINE)
		return LK_ERR_TOO_LONG;
	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			return LK_ERR_BAD_CHAR;
	if ((sp = memchr(line, ' ', len)) == NULL ||
	    (*kp = sshcert_kind_named(line, (size_t)(sp - line))) == NULL)
		return LK_ERR_INVALID_FORMAT;
	b64 = sp + 1;
	if ((sp = memchr(b64, ' ', (size_t)(end - b64))) == NULL)
		sp = end;
	*b64p = b64;
	*b64lenp = (size_t)(sp - b64);
	return 0;
}

int
lk_sshcert_parse_line(const char *line, size_t len, struct lk_sshcert **certp)
{
	const struct sshcert_kind *kind;
	struct lk_sshcert *cert = NULL;
	struct sshcert_in c;
	const unsigned char *s;
	unsigned char *blob = NULL;
	const char *b64;
	size_t b64len, bloblen, slen;
	int r;

	*certp = NULL;
	if ((r = sshcert_split(line, len, &kind, &b64, &b64len)) != 0)
		return r;
	if ((r = lk_b64_decode(b64, b64len, LK_SSHCERT_MAX_BLOB, &blob,
	    &bloblen)) != 0)
		return r == LK_ERR_TOO_LONG ? r : LK_ERR_INVALID_FORMAT;
	if ((cert = calloc(1, sizeof(*cert))) == NULL) {
		r = LK_ERR_ALLOC;
		goto out;
	}
	c.p = blob;
	c.left = bloblen;
	r = LK_ERR_INVALID_FORMAT;
	/* The inner type must be the line's; the nonce is any string. */
	if (sshcert_get_str(&c, &s, &slen) != 0 ||
	    !sshcert_is(s, slen, kind->cert) ||
	    sshcert_get_str(&c, &s, &slen) != 0)
		goto out;
	if ((r = sshcert_get_key(&c, kind, &cert->key)) != 0 ||
	    (r = sshcert_get_rest(&c, blob, cert)) != 0)
		goto out;
	*certp = cert;
	cert = NULL;
 out:
	free(blob);
	lk_sshcert_free(cert);
	return r;
}

void
lk_sshcert_free(struct lk_sshcert *cert)
{
	size_t i;

	if (cert == NULL)
		return;
	lk_sshkey_free(cert->key);
	free(cert->key_id);
	for (i = 0; i < cert->nprincipals; i++)
		free(cert->principals[i]);
	free(cert);
}

/* --- the CA's key ---------------------------------------------------- */

int
lk_sshcert_ca_generate(unsigned char priv[LK_SSHCERT_ED25519_LEN],
    unsigned char pub[LK_SSHCERT_ED25519_LEN])
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pk = NULL;
	size_t plen = LK_SSHCERT_ED25519_LEN, qlen = LK_SSHCERT_ED25519_LEN;
	int r = LK_ERR_INTERNAL;

	if ((ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL)) == NULL)
		return LK_ERR_INTERNAL;
	if (EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &pk) == 1 &&
	    EVP_PKEY_get_raw_private_key(pk, priv, &plen) == 1 &&
	    EVP_PKEY_get_raw_public_key(pk, pub, &qlen) == 1 &&
	    plen == LK_SSHCERT_ED25519_LEN && qlen == LK_SSHCERT_ED25519_LEN)
		r = 0;
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

int
lk_sshcert_ca_public(const unsigned char priv[LK_SSHCERT_ED25519_LEN],
    unsigned char pub[LK_SSHCERT_ED25519_LEN])
{
	EVP_PKEY *pk;
	size_t len = LK_SSHCERT_ED25519_LEN;
	int r = LK_ERR_INTERNAL;

	if ((pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv,
	    LK_SSHCERT_ED25519_LEN)) == NULL)
		return LK_ERR_INTERNAL;
	if (EVP_PKEY_get_raw_public_key(pk, pub, &len) == 1 &&
	    len == LK_SSHCERT_ED25519_LEN)
		r = 0;
	EVP_PKEY_free(pk);
	return r;
}

int
lk_sshcert_ca_line(const unsigned char pub[LK_SSHCERT_ED25519_LEN],
    char **linep)
{
	struct sshcert_out o;

	o.len = 0;
	o.err = 0;
	sshcert_put_ca_blob(&o, pub);
	return sshcert_line(SSHCERT_ED25519, o.b, o.len, NULL, linep);
}
