/*
 * Each agent's clock against latchkeyd's (docs/audit.md, "Clock skew"):
 * the agent sends its time (hello's "clock_ms", the poll's "clock="),
 * and the difference from latchkeyd's clock (lkd_now's, the database's
 * when it has one) when the request arrives is the instance's skew. It is
 * answered back to the agent (which tells latchkey-authorized-keys) and
 * stored with the instance, so that any replica can warn about a key
 * push to a server whose clock is off.
 *
 * A poll comes every 25 s per agent: the store is written only when the
 * skew moved by AGENTSKEW_MOVE_MS or AGENTSKEW_REFRESH_S passed, known
 * from a small cache (a collision only costs a write).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentd.h"
#include "err.h"
#include "latchkeyd.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define AGENTSKEW_SLOTS		1024
#define AGENTSKEW_MOVE_MS	1000
#define AGENTSKEW_REFRESH_S	300
/* A clock more than 10 years off is not a clock: ignored. */
#define AGENTSKEW_MAX_MS	(10LL * 366 * 86400 * 1000)

static struct {
	pthread_mutex_t	 lock;
	struct {
		char	 id[64];
		int64_t	 skew, at;
	} slot[AGENTSKEW_SLOTS];
} as = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* latchkeyd's time in ms, on the clock lkd_now() follows. */
static int64_t
agentskew_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	    store_clock_offset() * 1000;
}

static size_t
agentskew_slot(const char *id)
{
	uint32_t h = 2166136261u;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % AGENTSKEW_SLOTS;
}

int
agentskew_query(const char *query, int64_t *clockp)
{
	const char *q = query;
	char num[24];
	long long v;
	size_t n;

	*clockp = 0;
	while (q != NULL && *q != '\0') {
		if (strncmp(q, "clock=", 6) == 0) {
			n = strcspn(q + 6, "&");
			if (n == 0 || n >= sizeof(num))
				return LK_ERR_INVALID_FORMAT;
			memcpy(num, q + 6, n);
			num[n] = '\0';
			if (lk_parse_ll(num, 1, INT64_MAX / 2, &v) != 0)
				return LK_ERR_INVALID_FORMAT;
			*clockp = (int64_t)v;
			return 0;
		}
		if ((q = strchr(q, '&')) != NULL)
			q++;
	}
	return 0;
}

int
agentskew_note(const char *id, int64_t clock_ms, int64_t *skewp)
{
	int64_t skew = clock_ms - agentskew_now_ms(), now = lkd_now();
	size_t i = agentskew_slot(id);
	int write, r = 0;

	*skewp = 0;
	if (clock_ms <= 0 || skew > AGENTSKEW_MAX_MS || skew < -AGENTSKEW_MAX_MS)
		return LK_ERR_RANGE;
	*skewp = skew;
	pthread_mutex_lock(&as.lock);
	write = strcmp(as.slot[i].id, id) != 0 ||
	    llabs(as.slot[i].skew - skew) >= AGENTSKEW_MOVE_MS ||
	    now - as.slot[i].at >= AGENTSKEW_REFRESH_S;
	if (write) {
		snprintf(as.slot[i].id, sizeof(as.slot[i].id), "%s", id);
		as.slot[i].skew = skew;
		as.slot[i].at = now;
	}
	pthread_mutex_unlock(&as.lock);
	if (!write)
		return 0;
	if ((r = store_agent_skew_set(id, skew, now)) != 0) {
		log_warnx("agent clock instance=%s error=\"%s\"", id, lk_err(r));
		pthread_mutex_lock(&as.lock);
		as.slot[i].id[0] = '\0';	/* try again next time */
		pthread_mutex_unlock(&as.lock);
	}
	if (llabs(skew) > AGENTSKEW_WARN_MS)
		log_warnx("agent clock instance=%s skew_ms=%lld (more than %d s "
		    "off latchkeyd's)", id, (long long)skew,
		    AGENTSKEW_WARN_MS / 1000);
	return r;
}

int
agentskew_get(const char *id, int64_t *skewp)
{
	int64_t at = 0;

	*skewp = 0;
	if (store_agent_skew_get(id, skewp, &at) != 0 || at == 0)
		return 0;
	return 1;
}
