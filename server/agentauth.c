/*
 * An agent's credential (docs/agent-protocol.md): the instance id and the
 * secret issued at registration, stored as SHA-256 only. Used by the
 * agents' endpoints (agentd.c) and the relay's dial-back (relay.c).
 */
#include <stdlib.h>
#include <string.h>

#include "agentauth.h"
#include "err.h"
#include "sig.h"
#include "store.h"

/*
 * "Bearer <instance>.<credential>" → the instance id in id. 0 when the
 * credential is the instance's, LK_ERR_NOT_FOUND when it is not (or the
 * header is missing or malformed), LK_ERR_UNAVAILABLE when the database
 * cannot say.
 */
int
agentauth_verify(const struct lk_sig_header *h, size_t nh, char *id,
    size_t idsize)
{
	const char *auth = NULL, *dot;
	char hash[LK_SIG_V3_SIZE], *want = NULL;
	size_t i;
	int r;

	for (i = 0; i < nh; i++)
		if (strcmp(h[i].name, "authorization") == 0)
			auth = h[i].value;
	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0 ||
	    (dot = strchr(auth + 7, '.')) == NULL ||
	    (size_t)(dot - auth - 7) >= idsize)
		return LK_ERR_NOT_FOUND;
	memcpy(id, auth + 7, (size_t)(dot - auth - 7));
	id[dot - auth - 7] = '\0';
	if ((r = lk_sig_sha256_hex(dot + 1, strlen(dot + 1), hash)) != 0 ||
	    (r = store_agent_cred(id, &want)) != 0)
		return r == LK_ERR_UNAVAILABLE ? r : LK_ERR_NOT_FOUND;
	r = lk_sig_equal(hash, want) ? 0 : LK_ERR_NOT_FOUND;
	free(want);
	return r;
}

int
agentauth_check(const struct lk_sig_header *h, size_t nh, char *id,
    size_t idsize)
{
	return agentauth_verify(h, nh, id, idsize) == 0;
}
