/*
 * The agent endpoints of docs/agent-protocol.md, the long-poll wake-ups,
 * and the watchdog that ends tasks of agents that went away.
 */
#ifndef LK_AGENTD_H
#define LK_AGENTD_H

#include <stddef.h>

#include "sig.h"

/* path is what follows "/agent/v1/". Returns the HTTP status. */
int	agentd_handle(const char *method, const char *path, const char *query,
	    const struct lk_sig_header *h, size_t nh, const char *body,
	    size_t bodylen, char **outp);
/* Checks "Authorization: Bearer <id>.<credential>"; 1 with id filled. */
int	agentd_authenticate(const struct lk_sig_header *h, size_t nh, char *id,
	    size_t idsize);
/* Ends a waiting long poll of this instance at once. */
void	agentd_wake(const char *instance_id);
int	agentd_start(void);
void	agentd_stop(void);

/* Admin: activation codes. */
int	agentd_activation_create(long long count, long long ttl, char **idp,
	    char **codep, char *expires, size_t expsize);

#endif
