/*
 * OpenSSH public-key parsing without cryptography. The wire format
 * (RFC 4253 section 6.6, RFC 5656, PROTOCOL.u2f) is read through a bounded
 * cursor; every length is checked against what is left, and the blob must
 * be consumed exactly, so that the canonical re-encoding is the blob
 * itself. This file does not use OpenSSL, so that the sshd helper, which
 * links only this half, starts without loading libcrypto; sshkey.c adds
 * the checks that need it (EC points on their curve, digests).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "err.h"
#include "sshkey.h"
#include "sshkey_int.h"

static const struct sshkey_info sshkey_infos[] = {
	{ LK_KEY_ED25519, "ssh-ed25519", NULL, 0, 0 },
	{ LK_KEY_ECDSA_P256, "ecdsa-sha2-nistp256", "nistp256",
	    LK__CURVE_P256, 32 },
	{ LK_KEY_ECDSA_P384, "ecdsa-sha2-nistp384", "nistp384",
	    LK__CURVE_P384, 48 },
	{ LK_KEY_ECDSA_P521, "ecdsa-sha2-nistp521", "nistp521",
	    LK__CURVE_P521, 66 },
	{ LK_KEY_SK_ED25519, "sk-ssh-ed25519@openssh.com", NULL, 0, 0 },
	{ LK_KEY_SK_ECDSA_P256, "sk-ecdsa-sha2-nistp256@openssh.com",
	    "nistp256", LK__CURVE_P256, 32 },
	{ LK_KEY_RSA, "ssh-rsa", NULL, 0, 0 },
};

#define SSHKEY_NINFO (sizeof(sshkey_infos) / sizeof(sshkey_infos[0]))

struct sshkey_cursor {
	const unsigned char	*p;
	size_t			 left;
};

const struct sshkey_info *
lk__sshkey_info(enum lk_keytype type)
{
	size_t i;

	for (i = 0; i < SSHKEY_NINFO; i++)
		if (sshkey_infos[i].type == type)
			return &sshkey_infos[i];
	return NULL;
}

int
lk_sshkey_type_from_name(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < SSHKEY_NINFO; i++)
		if (strlen(sshkey_infos[i].name) == len &&
		    memcmp(sshkey_infos[i].name, s, len) == 0)
			return (int)sshkey_infos[i].type;
	return -1;
}

const char *
lk_sshkey_type_name(const struct lk_sshkey *key)
{
	const struct sshkey_info *info = lk__sshkey_info(key->type);

	return info == NULL ? "unknown" : info->name;
}

/* Reads an SSH "string": a 32-bit big-endian length and that many bytes. */
static int
sshkey_get_string(struct sshkey_cursor *c, const unsigned char **sp,
    size_t *lenp)
{
	uint32_t len;

	if (c->left < 4)
		return LK_ERR_KEY_BLOB;
	len = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 |
	    (uint32_t)c->p[2] << 8 | c->p[3];
	if (len > c->left - 4)
		return LK_ERR_KEY_BLOB;
	*sp = c->p + 4;
	*lenp = len;
	c->p += 4 + (size_t)len;
	c->left -= 4 + (size_t)len;
	return 0;
}

static int
sshkey_string_is(const unsigned char *s, size_t len, const char *want)
{
	return strlen(want) == len && memcmp(s, want, len) == 0;
}

/*
 * A positive mpint in its shortest form (RFC 4251 section 5). Returns the
 * number of significant bits in *bitsp.
 */
static int
sshkey_get_mpint(struct sshkey_cursor *c, const unsigned char **mp,
    size_t *mlenp, unsigned int *bitsp)
{
	const unsigned char *m;
	size_t len;
	unsigned int bits;
	unsigned char top;
	int r;

	if ((r = sshkey_get_string(c, &m, &len)) != 0)
		return r;
	if (len == 0 || (m[0] & 0x80) != 0)
		return LK_ERR_KEY_BLOB;		/* zero or negative */
	if (m[0] == 0) {
		if (len == 1 || (m[1] & 0x80) == 0)
			return LK_ERR_KEY_BLOB;	/* not minimal */
		m++;
		len--;
	}
	if (len > LK_SSHKEY_RSA_MAX_BITS / 8 + 1)
		return LK_ERR_KEY_LARGE;
	for (bits = 0, top = m[0]; top != 0; top >>= 1)
		bits++;
	*mp = m;
	*mlenp = len;
	*bitsp = (unsigned int)(len - 1) * 8 + bits;
	return 0;
}

static int
sshkey_check_app(struct sshkey_cursor *c)
{
	const unsigned char *app;
	size_t len, i;
	int r;

	if ((r = sshkey_get_string(c, &app, &len)) != 0)
		return r;
	if (len == 0 || len > LK_SSHKEY_MAX_APP)
		return LK_ERR_KEY_BLOB;
	for (i = 0; i < len; i++)
		if (app[i] < 0x20 || app[i] > 0x7e)
			return LK_ERR_KEY_BLOB;
	return 0;
}

/* Checks the fields after the type name; sets *bitsp. */
static int
sshkey_check_fields(const struct sshkey_info *info, struct sshkey_cursor *c,
    unsigned int *bitsp, const unsigned char **pointp)
{
	const unsigned char *s;
	size_t len;
	unsigned int bits;
	int r;

	switch (info->type) {
	case LK_KEY_ED25519:
	case LK_KEY_SK_ED25519:
		if ((r = sshkey_get_string(c, &s, &len)) != 0)
			return r;
		if (len != 32)
			return LK_ERR_KEY_BLOB;
		*bitsp = 256;
		if (info->type == LK_KEY_SK_ED25519)
			return sshkey_check_app(c);
		return 0;
	case LK_KEY_ECDSA_P256:
	case LK_KEY_ECDSA_P384:
	case LK_KEY_ECDSA_P521:
	case LK_KEY_SK_ECDSA_P256:
		if ((r = sshkey_get_string(c, &s, &len)) != 0)
			return r;
		if (!sshkey_string_is(s, len, info->curve))
			return LK_ERR_KEY_MISMATCH;
		if ((r = sshkey_get_string(c, &s, &len)) != 0)
			return r;
		/* Only the uncompressed form, as OpenSSH writes it. */
		if (len != 1 + 2 * info->fieldlen || s[0] != 0x04)
			return LK_ERR_KEY_POINT;
		*pointp = s;
		*bitsp = info->fieldlen == 66 ? 521 :
		    (unsigned int)info->fieldlen * 8;
		if (info->type == LK_KEY_SK_ECDSA_P256)
			return sshkey_check_app(c);
		return 0;
	case LK_KEY_RSA:
		/* e, then n */
		if ((r = sshkey_get_mpint(c, &s, &len, &bits)) != 0)
			return r;
		if (bits < 2 || bits > 64 || (s[len - 1] & 1) == 0)
			return LK_ERR_KEY_BLOB;	/* e: odd, >= 3 */
		if ((r = sshkey_get_mpint(c, &s, &len, &bits)) != 0)
			return r;
		if (bits < LK_SSHKEY_RSA_MIN_BITS)
			return LK_ERR_KEY_SMALL;
		if (bits > LK_SSHKEY_RSA_MAX_BITS)
			return LK_ERR_KEY_LARGE;
		*bitsp = bits;
		return 0;
	}
	return LK_ERR_INTERNAL;
}

int
lk_sshkey_from_blob_nocrypto(const unsigned char *blob, size_t len,
    const char *expect, struct lk_sshkey **keyp)
{
	struct sshkey_cursor c = { blob, len };
	const struct sshkey_info *info = NULL;
	struct lk_sshkey *key = NULL;
	const unsigned char *tname, *point = NULL;
	size_t tlen, i;
	unsigned int bits = 0;
	int r;

	*keyp = NULL;
	if (len > LK_SSHKEY_MAX_BLOB)
		return LK_ERR_TOO_LONG;
	if ((r = sshkey_get_string(&c, &tname, &tlen)) != 0)
		return r;
	if (expect != NULL && !sshkey_string_is(tname, tlen, expect))
		return LK_ERR_KEY_MISMATCH;
	for (i = 0; i < SSHKEY_NINFO; i++)
		if (sshkey_string_is(tname, tlen, sshkey_infos[i].name))
			info = &sshkey_infos[i];
	if (info == NULL)
		return LK_ERR_KEY_TYPE;
	if ((r = sshkey_check_fields(info, &c, &bits, &point)) != 0)
		return r;
	if (c.left != 0)
		return LK_ERR_KEY_TRAILING;
	if ((key = calloc(1, sizeof(*key))) == NULL ||
	    (key->blob = malloc(len)) == NULL) {
		lk_sshkey_free(key);
		return LK_ERR_ALLOC;
	}
	memcpy(key->blob, blob, len);
	key->bloblen = len;
	key->type = info->type;
	key->bits = bits;
	if (point != NULL) {
		key->point_off = (size_t)(point - blob);
		key->point_len = 1 + 2 * info->fieldlen;
	}
	*keyp = key;
	return 0;
}

static int
sshkey_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* True when a later blank-separated word of the line names a key type. */
static int
sshkey_later_type(const char *s, size_t len)
{
	size_t i = 0, start;

	while (i < len) {
		while (i < len && sshkey_is_blank(s[i]))
			i++;
		start = i;
		while (i < len && !sshkey_is_blank(s[i]))
			i++;
		if (i > start && lk_sshkey_type_from_name(s + start,
		    i - start) >= 0)
			return 1;
	}
	return 0;
}

static int
sshkey_keep_comment(struct lk_sshkey *key, const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > LK_SSHKEY_MAX_COMMENT)
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	if ((key->comment = malloc(len + 1)) == NULL)
		return LK_ERR_ALLOC;
	memcpy(key->comment, s, len);
	key->comment[len] = '\0';
	return 0;
}

int
lk_sshkey_parse_line_nocrypto(const char *line, size_t len,
    struct lk_sshkey **keyp)
{
	struct lk_sshkey *key = NULL;
	unsigned char *blob = NULL;
	char tname[64];
	size_t i, t0, t1, b0, b1, bloblen;
	int r;

	*keyp = NULL;
	if (len > LK_SSHKEY_MAX_LINE)
		return LK_ERR_TOO_LONG;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return LK_ERR_BAD_CHAR;
	}
	for (i = 0; i < len && sshkey_is_blank(line[i]); i++)
		;
	for (t0 = i; i < len && !sshkey_is_blank(line[i]); i++)
		;
	t1 = i;
	if (t1 == t0)
		return LK_ERR_INVALID_FORMAT;
	if (lk_sshkey_type_from_name(line + t0, t1 - t0) < 0) {
		if (memchr(line + t0, '=', t1 - t0) != NULL ||
		    memchr(line + t0, '"', t1 - t0) != NULL ||
		    sshkey_later_type(line + t1, len - t1))
			return LK_ERR_KEY_OPTIONS;
		return LK_ERR_KEY_TYPE;
	}
	for (; i < len && sshkey_is_blank(line[i]); i++)
		;
	for (b0 = i; i < len && !sshkey_is_blank(line[i]); i++)
		;
	b1 = i;
	if (b1 == b0)
		return LK_ERR_INVALID_FORMAT;
	if ((r = lk_b64_decode(line + b0, b1 - b0, LK_SSHKEY_MAX_BLOB, &blob,
	    &bloblen)) != 0)
		return r;
	memcpy(tname, line + t0, t1 - t0);	/* known type: short */
	tname[t1 - t0] = '\0';
	if ((r = lk_sshkey_from_blob_nocrypto(blob, bloblen, tname,
	    &key)) != 0)
		goto out;
	/* The rest, trimmed, is the comment. */
	for (; i < len && sshkey_is_blank(line[i]); i++)
		;
	while (len > i && sshkey_is_blank(line[len - 1]))
		len--;
	if ((r = sshkey_keep_comment(key, line + i, len - i)) != 0)
		goto out;
	*keyp = key;
	key = NULL;
 out:
	free(blob);
	lk_sshkey_free(key);
	return r;
}

int
lk_sshkey_to_line(const struct lk_sshkey *key, int with_comment, char **linep)
{
	const char *tname = lk_sshkey_type_name(key);
	char *b64 = NULL, *line = NULL;
	size_t n, tl, bl, cl = 0;

	*linep = NULL;
	if ((b64 = lk_b64_encode(key->blob, key->bloblen, 1)) == NULL)
		return LK_ERR_ALLOC;
	tl = strlen(tname);
	bl = strlen(b64);
	if (with_comment && key->comment != NULL)
		cl = strlen(key->comment);
	n = tl + 1 + bl + (cl ? cl + 1 : 0) + 1;
	if ((line = malloc(n)) == NULL) {
		free(b64);
		return LK_ERR_ALLOC;
	}
	memcpy(line, tname, tl);
	line[tl] = ' ';
	memcpy(line + tl + 1, b64, bl);
	if (cl) {
		line[tl + 1 + bl] = ' ';
		memcpy(line + tl + 2 + bl, key->comment, cl);
	}
	line[n - 1] = '\0';
	free(b64);
	*linep = line;
	return 0;
}

int
lk_sshkey_fp_parse(const char *fp, unsigned char dig[LK_SSHKEY_DIGEST_LEN])
{
	char padded[45];
	unsigned char *d = NULL;
	size_t dlen;
	int r;

	if (strncmp(fp, "SHA256:", 7) != 0 || strlen(fp + 7) != 43)
		return LK_ERR_INVALID_FORMAT;
	memcpy(padded, fp + 7, 43);
	padded[43] = '=';
	padded[44] = '\0';
	if ((r = lk_b64_decode(padded, 44, LK_SSHKEY_DIGEST_LEN, &d,
	    &dlen)) != 0 || dlen != LK_SSHKEY_DIGEST_LEN) {
		free(d);
		return LK_ERR_INVALID_FORMAT;
	}
	memcpy(dig, d, LK_SSHKEY_DIGEST_LEN);
	free(d);
	return 0;
}

void
lk_sshkey_hex(const unsigned char dig[LK_SSHKEY_DIGEST_LEN],
    char hex[LK_SSHKEY_HEX_SIZE])
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < LK_SSHKEY_DIGEST_LEN; i++) {
		hex[2 * i] = digits[dig[i] >> 4];
		hex[2 * i + 1] = digits[dig[i] & 0xf];
	}
	hex[2 * LK_SSHKEY_DIGEST_LEN] = '\0';
}

void
lk_sshkey_free(struct lk_sshkey *key)
{
	if (key == NULL)
		return;
	free(key->blob);
	free(key->comment);
	free(key);
}
