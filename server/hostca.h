/*
 * The optional host CA (issue 14, item 5): latchkeyd signs the sshd host
 * keys agents report as OpenSSH host certificates (lib/sshcert.c), so
 * that one "@cert-authority" line in a user's known_hosts covers every
 * instance. Off unless the operator turns it on (--host-ca); see
 * docs/cli.md, "Host certificates (optional)".
 */
#ifndef LK_SERVER_HOSTCA_H
#define LK_SERVER_HOSTCA_H

#include <stdint.h>

#include <jansson.h>

#define HOSTCA_VALIDITY_DEFAULT	(30L * 86400)	/* --hostca-validity */
#define HOSTCA_VALIDITY_MIN	3600L
#define HOSTCA_VALIDITY_MAX	(366L * 86400)
#define HOSTCA_BACKDATE		300	/* valid from 5 minutes before now */
#define HOSTCA_AAD		"host-ca"	/* keys_seal's label */

struct hostca_conf {
	int	on;		/* --host-ca */
	long	validity;	/* --hostca-validity, seconds */
};
extern struct hostca_conf hostca_conf;

/*
 * The CA's public line "ssh-ed25519 base64" into a new *linep: the key
 * made on first need (and stored, its private half sealed under the
 * master key; of two replicas that race, both end with the one stored).
 * Returns 0 or an LK_ERR_* code (the database's, LK_ERR_INTERNAL when
 * the stored key does not decrypt under this master key).
 */
int	hostca_public(char **linep);

/*
 * The host certificates of instance id's stored host keys, as a new
 * JSON array of lines in *certsp: a certificate made earlier is kept
 * while it is in the first half of its life and names the same
 * principals; otherwise a new one is signed and stored. Principals: the
 * instance id, its name and its addresses (those that lk_sshcert_name_ok
 * accepts; a name that looks like another instance's id is left out).
 * Returns 0 (an empty array when the instance has no keys) or an LK_ERR_*
 * code.
 */
int	hostca_issue(const char *id, int64_t now, json_t **certsp);

/* Forgets the CA kept in memory (tests: another database). */
void	hostca_forget(void);

#endif
