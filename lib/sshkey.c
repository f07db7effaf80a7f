/*
 * The half of key parsing that needs OpenSSL: elliptic-curve points are
 * checked to lie on their curve, and keys are hashed for fingerprints and
 * store file names. Programs that accept keys from outside use
 * lk_sshkey_parse_line(), which is the wire parser plus these checks.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "b64.h"
#include "err.h"
#include "sshkey.h"
#include "sshkey_int.h"

static int
sshkey_curve_nid(int curve)
{
	switch (curve) {
	case LK__CURVE_P256:
		return NID_X9_62_prime256v1;
	case LK__CURVE_P384:
		return NID_secp384r1;
	case LK__CURVE_P521:
		return NID_secp521r1;
	}
	return NID_undef;
}

static int
sshkey_check_point(const struct sshkey_info *info, const unsigned char *q,
    size_t qlen)
{
	EC_GROUP *group = NULL;
	EC_POINT *point = NULL;
	int r = LK_ERR_KEY_POINT;

	if (qlen != 1 + 2 * info->fieldlen || q[0] != 0x04)
		return LK_ERR_KEY_POINT;
	if ((group = EC_GROUP_new_by_curve_name(
	    sshkey_curve_nid(info->curve_id))) == NULL ||
	    (point = EC_POINT_new(group)) == NULL) {
		r = LK_ERR_ALLOC;
		goto out;
	}
	if (EC_POINT_oct2point(group, point, q, qlen, NULL) != 1 ||
	    EC_POINT_is_at_infinity(group, point) ||
	    EC_POINT_is_on_curve(group, point, NULL) != 1)
		goto out;
	r = 0;
 out:
	EC_POINT_free(point);
	EC_GROUP_free(group);
	return r;
}

int
lk_sshkey_validate(const struct lk_sshkey *key)
{
	const struct sshkey_info *info = lk__sshkey_info(key->type);

	if (info == NULL)
		return LK_ERR_INTERNAL;
	if (info->curve == NULL)
		return 0;
	if (key->point_len == 0 || key->point_off > key->bloblen ||
	    key->point_len > key->bloblen - key->point_off)
		return LK_ERR_INTERNAL;
	return sshkey_check_point(info, key->blob + key->point_off,
	    key->point_len);
}

int
lk_sshkey_from_blob(const unsigned char *blob, size_t len, const char *expect,
    struct lk_sshkey **keyp)
{
	struct lk_sshkey *key = NULL;
	int r;

	*keyp = NULL;
	if ((r = lk_sshkey_from_blob_nocrypto(blob, len, expect, &key)) != 0)
		return r;
	if ((r = lk_sshkey_validate(key)) != 0) {
		lk_sshkey_free(key);
		return r;
	}
	*keyp = key;
	return 0;
}

int
lk_sshkey_parse_line(const char *line, size_t len, struct lk_sshkey **keyp)
{
	struct lk_sshkey *key = NULL;
	int r;

	*keyp = NULL;
	if ((r = lk_sshkey_parse_line_nocrypto(line, len, &key)) != 0)
		return r;
	if ((r = lk_sshkey_validate(key)) != 0) {
		lk_sshkey_free(key);
		return r;
	}
	*keyp = key;
	return 0;
}

int
lk_sshkey_digest(const struct lk_sshkey *key,
    unsigned char dig[LK_SSHKEY_DIGEST_LEN])
{
	unsigned int dlen = 0;

	if (EVP_Digest(key->blob, key->bloblen, dig, &dlen, EVP_sha256(),
	    NULL) != 1 || dlen != LK_SSHKEY_DIGEST_LEN)
		return LK_ERR_INTERNAL;
	return 0;
}

int
lk_sshkey_fingerprint(const struct lk_sshkey *key, char fp[LK_SSHKEY_FP_SIZE])
{
	unsigned char dig[LK_SSHKEY_DIGEST_LEN];
	char *b64;
	int r;

	if ((r = lk_sshkey_digest(key, dig)) != 0)
		return r;
	if ((b64 = lk_b64_encode(dig, sizeof(dig), 0)) == NULL)
		return LK_ERR_ALLOC;
	memcpy(fp, "SHA256:", 7);
	memcpy(fp + 7, b64, 43);
	fp[50] = '\0';
	free(b64);
	return 0;
}


const char *
lk_sshkey_why(const char *line, int err)
{
	size_t n;

	if (err == LK_ERR_KEY_TYPE && line != NULL) {
		while (*line == ' ' || *line == '\t')
			line++;
		n = strcspn(line, " \t");
		if (n == 7 && memcmp(line, "ssh-dss", 7) == 0)
			return "DSA keys (ssh-dss) are not accepted: OpenSSH "
			    "turned them off; make an ed25519 key with "
			    "ssh-keygen -t ed25519";
		if (n > 21 && memcmp(line + n - 21, "-cert-v01@openssh.com",
		    21) == 0)
			return "certificates are not accepted: send the plain "
			    "public key (the .pub beside the -cert.pub)";
	}
	return lk_err(err);
}
