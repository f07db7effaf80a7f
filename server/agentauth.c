/*
 * An agent's credential (docs/agent-protocol.md): the instance id and the
 * secret issued at registration, stored as SHA-256 only. Used by the
 * agents' endpoints (agentd.c) and the relay's dial-back (relay.c).
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "agentauth.h"
#include "latchkeyd.h"
#include "sig.h"

static int
agentauth_hash_cb(const struct lkdb_row *st, void *arg)
{
	*(char **)arg = lkdb_col_str(st, 0);
	return 1;
}

/* "Bearer <instance>.<credential>" → the instance id in id. */
int
agentauth_check(const struct lk_sig_header *h, size_t nh, char *id,
    size_t idsize)
{
	const char *auth = NULL, *dot;
	char hash[LK_SIG_V3_SIZE], *want = NULL;
	size_t i;
	int ok;

	for (i = 0; i < nh; i++)
		if (strcmp(h[i].name, "authorization") == 0)
			auth = h[i].value;
	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0 ||
	    (dot = strchr(auth + 7, '.')) == NULL ||
	    (size_t)(dot - auth - 7) >= idsize)
		return 0;
	memcpy(id, auth + 7, (size_t)(dot - auth - 7));
	id[dot - auth - 7] = '\0';
	if (lk_sig_sha256_hex(dot + 1, strlen(dot + 1), hash) != 0 ||
	    lkdb_query(lkd->db, agentauth_hash_cb, &want, "SELECT cred_hash FROM "
	    "instances WHERE id = ?", "s", id) != 0 || want == NULL) {
		free(want);
		return 0;
	}
	ok = lk_sig_equal(hash, want);
	free(want);
	return ok;
}
