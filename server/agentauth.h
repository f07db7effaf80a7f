/*
 * Agents' credentials: "Authorization: Bearer <instance>.<credential>".
 */
#ifndef LK_AGENTAUTH_H
#define LK_AGENTAUTH_H

#include <stddef.h>

#include "sig.h"

/* 1 with the instance id in id when the credential is the instance's. */
int	agentauth_check(const struct lk_sig_header *h, size_t nh, char *id,
	    size_t idsize);

#endif
