/*
 * Agents' credentials: "Authorization: Bearer <instance>.<credential>".
 */
#ifndef LK_AGENTAUTH_H
#define LK_AGENTAUTH_H

#include <stddef.h>

#include "sig.h"

/*
 * 0 with the instance id in id when the credential is the instance's;
 * LK_ERR_NOT_FOUND when it is not, LK_ERR_STATE when it was the
 * credential of an instance that is no longer registered (deregistered or
 * replaced: id is set), LK_ERR_UNAVAILABLE when the database cannot be
 * reached.
 */
int	agentauth_verify(const struct lk_sig_header *h, size_t nh, char *id,
	    size_t idsize);
/* Forgets what the cache holds of instance id (it was deregistered). */
void	agentauth_forget(const char *id);
/* 1 with the instance id in id when the credential is the instance's. */
int	agentauth_check(const struct lk_sig_header *h, size_t nh, char *id,
	    size_t idsize);

#endif
