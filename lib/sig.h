/*
 * Request signatures of the ECS OpenAPI (see the project's API reference):
 * signature 1.0 (HMAC-SHA1 over the sorted, percent-encoded parameters)
 * and V3 (ACS3-HMAC-SHA256 over a canonical request). These functions
 * compute; the server compares with lk_sig_equal().
 */
#ifndef LK_SIG_H
#define LK_SIG_H

#include <stddef.h>

#include "params.h"

#define LK_SIG_V1_SIZE		29	/* base64 of 20 bytes + NUL */
#define LK_SIG_V3_SIZE		65	/* hex of 32 bytes + NUL */
#define LK_SIG_V3_ALGORITHM	"ACS3-HMAC-SHA256"
#define LK_SIG_V3_MAX_HEADERS	32

/*
 * "METHOD&%2F&" + encode(canonical query) over every parameter of p but
 * "Signature". *outp is a new string the caller frees.
 */
int	lk_sig_v1_string_to_sign(const char *method, const struct lk_params *p,
	    char **outp);

/* base64(HMAC-SHA1(secret + "&", sts)). */
int	lk_sig_v1_compute(const char *secret, const char *sts,
	    char sig[LK_SIG_V1_SIZE]);

struct lk_sig_header {
	const char	*name;		/* lower case */
	const char	*value;
};

/*
 * The V3 canonical request: method, path, the sorted encoded query, the
 * headers named in signed (";"-separated, lower case, sorted as given),
 * each "name:trimmed value\n", the signed list, and the payload hash.
 * A name in signed without a header is LK_ERR_INVALID_FORMAT.
 */
int	lk_sig_v3_canonical_request(const char *method, const char *path,
	    const struct lk_params *query, const struct lk_sig_header *h,
	    size_t nh, const char *signed_headers, const char *payload_hash,
	    char **outp);

/* hex(HMAC-SHA256(secret, "ACS3-HMAC-SHA256\n" + hex(SHA256(creq)))). */
int	lk_sig_v3_compute(const char *secret, const char *creq,
	    char sig[LK_SIG_V3_SIZE], char hashed[LK_SIG_V3_SIZE]);

/*
 * Splits "ACS3-HMAC-SHA256 Credential=ID,SignedHeaders=a;b,Signature=hex"
 * into new strings. Returns 0 or LK_ERR_INVALID_FORMAT.
 */
int	lk_sig_v3_parse_auth(const char *auth, char **idp, char **signedp,
	    char **sigp);

/* hex(SHA-256(data)). */
int	lk_sig_sha256_hex(const void *data, size_t len, char hex[LK_SIG_V3_SIZE]);

/* Constant-time comparison of two NUL-terminated strings. */
int	lk_sig_equal(const char *a, const char *b);

#endif
