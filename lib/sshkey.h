/*
 * OpenSSH public keys: a careful parser for the one-line form
 * "type base64 [comment]" and for the wire blob inside it, with canonical
 * re-encoding. Nothing that leaves lk_sshkey_to_line() can carry options,
 * a second line or a control character.
 */
#ifndef LK_SSHKEY_H
#define LK_SSHKEY_H

#include <stddef.h>

#define LK_SSHKEY_MAX_LINE	8192	/* longest input line accepted */
#define LK_SSHKEY_MAX_BLOB	4096	/* longest decoded key blob */
#define LK_SSHKEY_MAX_COMMENT	128	/* longer comments are dropped */
#define LK_SSHKEY_MAX_APP	256	/* security-key application string */
#define LK_SSHKEY_RSA_MIN_BITS	2048
#define LK_SSHKEY_RSA_MAX_BITS	16384
#define LK_SSHKEY_DIGEST_LEN	32	/* SHA-256 */
#define LK_SSHKEY_FP_SIZE	51	/* "SHA256:" + 43 + NUL */
#define LK_SSHKEY_HEX_SIZE	65	/* 64 hex digits + NUL */

enum lk_keytype {
	LK_KEY_ED25519,
	LK_KEY_ECDSA_P256,
	LK_KEY_ECDSA_P384,
	LK_KEY_ECDSA_P521,
	LK_KEY_SK_ED25519,
	LK_KEY_SK_ECDSA_P256,
	LK_KEY_RSA,
};

struct lk_sshkey {
	enum lk_keytype	 type;
	unsigned int	 bits;
	unsigned char	*blob;		/* canonical wire encoding */
	size_t		 bloblen;
	char		*comment;	/* NULL, or printable ASCII */
	size_t		 point_off;	/* EC point within blob, or 0 */
	size_t		 point_len;
};

/*
 * Parses one line of len bytes (no NUL needed). Leading and trailing
 * blanks are ignored; anything else that is not a supported key in
 * canonical form is refused. A comment is kept only when it is printable
 * ASCII of at most LK_SSHKEY_MAX_COMMENT bytes; otherwise it is dropped.
 * On success *keyp is a new key the caller frees with lk_sshkey_free().
 */
int	 lk_sshkey_parse_line(const char *line, size_t len,
	    struct lk_sshkey **keyp);

/*
 * The same without the checks that need OpenSSL (EC points on their
 * curve): the shape, lengths, types, base64 and RSA sizes are still fully
 * checked, so the result is safe to print for sshd. For readers of records
 * that root validated fully when writing them (the sshd helper).
 */
int	 lk_sshkey_parse_line_nocrypto(const char *line, size_t len,
	    struct lk_sshkey **keyp);
int	 lk_sshkey_from_blob_nocrypto(const unsigned char *blob, size_t len,
	    const char *expect, struct lk_sshkey **keyp);

/* The checks that need OpenSSL, for a key parsed without them. */
int	 lk_sshkey_validate(const struct lk_sshkey *key);
/*
 * Why lk_sshkey_parse_line refused line with err: lk_err(err), or for a
 * key type that has a better one (DSA) what to use instead.
 */
const char *lk_sshkey_why(const char *line, int err);

/*
 * Validates a wire blob. When expect is not NULL the blob's inner type
 * must equal it. On success *keyp is a new key without a comment.
 */
int	 lk_sshkey_from_blob(const unsigned char *blob, size_t len,
	    const char *expect, struct lk_sshkey **keyp);

const char *lk_sshkey_type_name(const struct lk_sshkey *key);

/* Returns the key type named by s (len bytes), or -1. */
int	 lk_sshkey_type_from_name(const char *s, size_t len);

/*
 * Writes "type base64" (plus " comment" when with_comment and the key has
 * one) into a new string the caller frees.
 */
int	 lk_sshkey_to_line(const struct lk_sshkey *key, int with_comment,
	    char **linep);

/* SHA-256 of the blob. */
int	 lk_sshkey_digest(const struct lk_sshkey *key,
	    unsigned char dig[LK_SSHKEY_DIGEST_LEN]);

/* "SHA256:..." as ssh-keygen -l and sshd's %f print it. */
int	 lk_sshkey_fingerprint(const struct lk_sshkey *key,
	    char fp[LK_SSHKEY_FP_SIZE]);

/*
 * Parses a "SHA256:..." fingerprint into its digest. Returns 0 or
 * LK_ERR_INVALID_FORMAT (including for other hash names).
 */
int	 lk_sshkey_fp_parse(const char *fp, unsigned char dig[LK_SSHKEY_DIGEST_LEN]);

/* Lower-case hex of a digest, as used for store file names. */
void	 lk_sshkey_hex(const unsigned char dig[LK_SSHKEY_DIGEST_LEN],
	    char hex[LK_SSHKEY_HEX_SIZE]);

void	 lk_sshkey_free(struct lk_sshkey *key);

#endif
