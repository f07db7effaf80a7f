/*
 * OpenSSH host certificates (PROTOCOL.certkeys): made and signed here with
 * an Ed25519 CA key through OpenSSL's EVP interface, and read back with a
 * bounded parser that checks the signature. Only what latchkey issues is
 * supported: host certificates (type 2) of the host key types sshd uses
 * (ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa), signed by an
 * ssh-ed25519 CA, with no critical options and no extensions.
 */
#ifndef LK_SSHCERT_H
#define LK_SSHCERT_H

#include <stddef.h>
#include <stdint.h>

#include "sshkey.h"

#define LK_SSHCERT_TYPE_HOST	2
#define LK_SSHCERT_MAX_BLOB	8192	/* a decoded certificate */
#define LK_SSHCERT_MAX_LINE	12288	/* "type base64 comment" */
#define LK_SSHCERT_MAX_PRINC	32	/* principals in one certificate */
#define LK_SSHCERT_MAX_NAME	255	/* bytes of a principal or key id */
#define LK_SSHCERT_ED25519_LEN	32	/* raw Ed25519 keys */
#define LK_SSHCERT_NONCE_LEN	32

/* What to certify; strings are borrowed. */
struct lk_sshcert_spec {
	const char		*key_id;
	const char *const	*principals;
	size_t			 nprincipals;
	uint64_t		 serial;
	uint64_t		 valid_after;	/* seconds since 1970 */
	uint64_t		 valid_before;
};

/* A parsed certificate (lk_sshcert_parse_line); free with lk_sshcert_free. */
struct lk_sshcert {
	struct lk_sshkey *key;		/* the certified key, no comment */
	uint32_t	 type;		/* LK_SSHCERT_TYPE_HOST */
	uint64_t	 serial;
	char		*key_id;
	char		*principals[LK_SSHCERT_MAX_PRINC];
	size_t		 nprincipals;
	uint64_t	 valid_after;
	uint64_t	 valid_before;
	unsigned char	 ca[LK_SSHCERT_ED25519_LEN];	/* the CA's raw key */
};

/*
 * Whether s may be a principal or key id of a latchkey certificate: 1 to
 * LK_SSHCERT_MAX_NAME bytes of letters, digits and ".-_:" (host names,
 * instance ids, IPv4 and IPv6 addresses). Nothing that ssh could read as
 * a pattern ('*', '?', '!', ',') passes: a host certificate's principals
 * are matched as patterns by ssh.
 */
int	lk_sshcert_name_ok(const char *s);

/*
 * Signs key as a host certificate by the Ed25519 CA whose raw private key
 * is ca_priv, into a new line "TYPE-cert-v01@openssh.com base64 comment"
 * (comment may be NULL; it must be printable ASCII without blanks) the
 * caller frees. Principals and key id must pass lk_sshcert_name_ok; at
 * least one principal, at most LK_SSHCERT_MAX_PRINC; valid_after <
 * valid_before. Returns 0, LK_ERR_KEY_TYPE (not a host key type),
 * LK_ERR_INVALID_FORMAT (a bad spec), LK_ERR_ALLOC or LK_ERR_INTERNAL.
 */
int	lk_sshcert_sign_host(const struct lk_sshkey *key,
	    const unsigned char ca_priv[LK_SSHCERT_ED25519_LEN],
	    const struct lk_sshcert_spec *spec, const char *comment,
	    char **linep);

/*
 * Reads one certificate line of len bytes (no NUL needed): "TYPE base64"
 * and an optional comment, TYPE one of the host key types' cert-v01
 * names. The blob is read through a bounded cursor and must be consumed
 * exactly; the certified key must pass lk_sshkey_from_blob; the type must
 * be a host certificate, principals and key id must pass
 * lk_sshcert_name_ok, there must be no critical option or extension, the
 * CA must be ssh-ed25519 and its signature must verify. On success
 * *certp is new. Returns 0, LK_ERR_INVALID_FORMAT, LK_ERR_TOO_LONG,
 * LK_ERR_KEY_* for the key, or LK_ERR_ALLOC.
 */
int	lk_sshcert_parse_line(const char *line, size_t len,
	    struct lk_sshcert **certp);
void	lk_sshcert_free(struct lk_sshcert *cert);

/*
 * An Ed25519 key pair of OpenSSL's random generator: raw private and
 * public halves. Returns 0 or LK_ERR_INTERNAL.
 */
int	lk_sshcert_ca_generate(unsigned char priv[LK_SSHCERT_ED25519_LEN],
	    unsigned char pub[LK_SSHCERT_ED25519_LEN]);
/* The public half of a raw private key. Returns 0 or LK_ERR_INTERNAL. */
int	lk_sshcert_ca_public(const unsigned char priv[LK_SSHCERT_ED25519_LEN],
	    unsigned char pub[LK_SSHCERT_ED25519_LEN]);
/* "ssh-ed25519 base64" of a raw public key, new; LK_ERR_ALLOC. */
int	lk_sshcert_ca_line(const unsigned char pub[LK_SSHCERT_ED25519_LEN],
	    char **linep);

#endif
