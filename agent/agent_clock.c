/*
 * The agent's clock against latchkeyd's (docs/audit.md, "Clock skew"):
 * the agent sends its time with every hello and poll; latchkeyd answers
 * how far off it is ("clock_skew_ms"). The agent logs a skew of more than
 * 5 s and writes it where latchkey-authorized-keys reads it
 * (AGENT_CLOCK_FILE under LATCHKEY_ROOT: root-owned, 0644, beside the key
 * store), so that the helper can name the skew when it refuses a key that
 * expired by the local clock.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fsutil.h"
#include "keystore.h"
#include "util.h"

#include "agent.h"

#define AGENT_CLOCK_MOVE_MS	1000	/* rewrite the file past this */
#define AGENT_CLOCK_WARN_MS	5000

static struct {
	int		 known;
	long long	 skew;
} ac;

long long
agent_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	    (long long)lk_test_clock_offset() * 1000;
}

/* The skew file: the key store's directory's parent, clock-skew. */
static int
agent_clock_path(char *dir, size_t dsize, char *path, size_t psize)
{
	char *slash;

	if (agent_rooted(dir, dsize, LK_STORE_DEFAULT) != 0 ||
	    (slash = strrchr(dir, '/')) == NULL)
		return -1;
	*slash = '\0';
	if ((size_t)snprintf(path, psize, "%s/%s", dir, LK_CLOCK_FILE) >=
	    psize)
		return -1;
	return 0;
}

/* Only the main loop calls this (hello and poll answers). */
void
agent_clock_note(const json_t *ans)
{
	const json_t *v = json_object_get(ans, "clock_skew_ms");
	char dir[PATH_MAX], path[PATH_MAX], text[96];
	long long skew;
	int n;

	if (!json_is_integer(v))
		return;
	skew = (long long)json_integer_value(v);
	if (ac.known && llabs(ac.skew - skew) < AGENT_CLOCK_MOVE_MS)
		return;
	if (llabs(skew) > AGENT_CLOCK_WARN_MS || (ac.known &&
	    llabs(ac.skew) > AGENT_CLOCK_WARN_MS))
		agent_log(llabs(skew) > AGENT_CLOCK_WARN_MS ? LOG_WARNING :
		    LOG_INFO, "clock", "skew", "skew_ms=%lld%s", skew,
		    llabs(skew) > AGENT_CLOCK_WARN_MS ? " reason=\"this "
		    "server's clock is off latchkeyd's: set its time (NTP)\"" :
		    "");
	ac.known = 1;
	ac.skew = skew;
	n = snprintf(text, sizeof(text), "skew_ms=%lld\nmeasured=%lld\n",
	    skew, (long long)time(NULL));
	if (agent_clock_path(dir, sizeof(dir), path, sizeof(path)) != 0 ||
	    lk_fs_mkdirs(dir, 0755) != 0 ||
	    lk_fs_write_atomic(path, text, (size_t)n, 0644, geteuid(),
	    getegid()) != 0)
		agent_log(LOG_WARNING, "clock", "write-failed", "file=%s",
		    path);
}
