/*
 * For fuzz_agentd: the agents' poll hands out waiting sessions with
 * relay_take() (server/relay.c), which needs the HTTP server and the API
 * around it. The harness has no session relay, so no session ever waits.
 */
#include "relay.h"

json_t *
relay_take(const char *instance_id)
{
	(void)instance_id;
	return NULL;
}

void
relay_check_ended(void)
{
}

void
relay_expire(void)
{
}
