/*
 * The "host_keys" of an agent's register or hello (issue 14): checked
 * here before anything of the request is stored.
 */
#ifndef LK_SERVER_HOSTKEYS_H
#define LK_SERVER_HOSTKEYS_H

#include <stddef.h>

#include <jansson.h>

#include "store.h"

/*
 * Reads a (the "host_keys" member, or NULL when the agent sent none) into
 * a new array *keysp of *np keys (NULL/0 for none), freed with
 * store_hostkeys_free; their times are 0. Every key must be a JSON string
 * of at most LK_SSHKEY_MAX_LINE bytes, exactly "type base64" as
 * lk_sshkey_to_line() writes it (no options, comment, blank or control
 * character, canonical base64), of a host key type (ssh-ed25519,
 * ecdsa-sha2-nistp256/384/521, ssh-rsa of at least 2048 bits) that
 * lk_sshkey_parse_line() accepts; at most STORE_HOSTKEYS_MAX of them, no
 * two alike. Returns 0, LK_ERR_INVALID_FORMAT (anything else; nothing is
 * returned) or LK_ERR_ALLOC.
 */
int	hostkeys_parse(const json_t *a, struct store_hostkey **keysp,
	    size_t *np);

#endif
