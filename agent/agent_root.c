/*
 * The scratch root (latchkey-agent(8), ENVIRONMENT): with LATCHKEY_ROOT
 * set, tests and demos run the agent against a tree of their own, and
 * every machine path the agent reads or writes for the plug-in's sake
 * (sshd's configuration and host certificates, the key store's directory,
 * /etc/machine-id) is taken under it; the task PATH starts with its
 * usr/local directories. One rule for all of them, here: a root is an
 * absolute path other than "/", at most PATH_MAX / 2 long, of
 * [A-Za-z0-9/._+-] only, without its trailing slashes; anything else is no
 * root, and the machine's own paths are used, as in production.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#include "agent.h"

#define AGENT_ROOT_CHARS \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+-"

/* The root's length without trailing slashes, or 0 for none. */
static size_t
agent_root_len(const char **rootp)
{
	const char *r = getenv("LATCHKEY_ROOT");
	size_t n;

	*rootp = "";
	if (r == NULL || r[0] != '/' || (n = strlen(r)) > PATH_MAX / 2 ||
	    strspn(r, AGENT_ROOT_CHARS) != n)
		return 0;
	while (n > 0 && r[n - 1] == '/')
		n--;
	if (n > 0)
		*rootp = r;
	return n;
}

int
agent_has_root(void)
{
	const char *r;

	return agent_root_len(&r) > 0;
}

int
agent_rooted(char *out, size_t size, const char *path)
{
	const char *r;
	size_t n = agent_root_len(&r);

	return (size_t)snprintf(out, size, "%.*s%s", (int)n, r, path) >= size ?
	    LK_ERR_TOO_LONG : 0;
}
