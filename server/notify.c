/*
 * Replicas' wake-ups, agents' routes and idle polls (notify.h). One hash
 * table of the instances whose polls came here, under one lock: an entry
 * is a few dozen bytes and lives as long as latchkeyd (bounded by the
 * registered instances, as heartbeat.c's).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "latchkeyd.h"
#include "log.h"
#include "longpoll.h"
#include "notify.h"
#include "store.h"

#define NOTIFY_BUCKETS	16384
#define NOTIFY_MOVED	"moved "	/* payload prefix: the agent left */

struct notify_inst {
	char			 id[STORE_AGENT_ID_MAX];
	int			 routed;	/* the route names us */
	int			 clean;		/* the last turn found nothing */
	unsigned long		 seq;		/* longpoll_seq() then */
	uint64_t		 running;	/* notify_hash() of the list then */
	int64_t			 lease_due;
	struct notify_inst	*next;
};

static pthread_mutex_t notify_lock = PTHREAD_MUTEX_INITIALIZER;
static struct notify_inst *notify_buckets[NOTIFY_BUCKETS];

/* FNV-1a of the agent's list; a value of its own for "no header". */
static uint64_t
notify_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	if (s == NULL)
		return 1;
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* With the lock held. */
static struct notify_inst *
notify_find(const char *id, int create)
{
	struct notify_inst *e, **b;
	size_t k = 5381;
	const char *p;

	for (p = id; *p != '\0'; p++)
		k = k * 33 + (unsigned char)*p;
	b = &notify_buckets[k % NOTIFY_BUCKETS];
	for (e = *b; e != NULL; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	if (!create || strlen(id) >= sizeof(e->id) ||
	    (e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->next = *b;
	*b = e;
	return e;
}

/* Forgets every route and idle note: after a resync, nothing is known. */
static void
notify_forget_all(void)
{
	struct notify_inst *e;
	size_t i;

	pthread_mutex_lock(&notify_lock);
	for (i = 0; i < NOTIFY_BUCKETS; i++)
		for (e = notify_buckets[i]; e != NULL; e = e->next)
			e->routed = e->clean = 0;
	pthread_mutex_unlock(&notify_lock);
}

/*
 * The listener's callback (a thread of the store's): a payload is an
 * instance to wake, or NOTIFY_MOVED and an instance whose agent now polls
 * another replica; NULL is a resync.
 */
static void
notify_heard(void *arg, const char *payload)
{
	struct notify_inst *e;
	const char *id;

	(void)arg;
	if (payload == NULL) {
		notify_forget_all();
		longpoll_wake_all();
		log_debug("notify resync");
		return;
	}
	id = payload;
	if (strncmp(payload, NOTIFY_MOVED, strlen(NOTIFY_MOVED)) == 0) {
		id = payload + strlen(NOTIFY_MOVED);
		pthread_mutex_lock(&notify_lock);
		if ((e = notify_find(id, 0)) != NULL)
			e->routed = e->clean = 0;
		pthread_mutex_unlock(&notify_lock);
	}
	(void)longpoll_wake(id);
}

int
notify_start(void)
{
	int r;

	if ((r = store_replica_beat(lkd->replica_id, lkd->advertise_url,
	    lkd_now(), 1)) != 0)
		log_warnx("replica row error=\"%s\"", lk_err(r));
	if (strcmp(store_kind(), "postgresql") != 0)
		return 0;
	return store_agent_listen(lkd->replica_id, notify_heard, NULL);
}

static void
notify_net_cb(void *arg, const char *id)
{
	size_t *np = arg;

	(*np)++;
	(void)longpoll_wake(id);
}

void
notify_tick(void)
{
	size_t n = 0;
	int r;

	if ((r = store_replica_beat(lkd->replica_id, lkd->advertise_url,
	    lkd_now(), 0)) != 0)
		log_warnx("replica row error=\"%s\"", lk_err(r));
	if ((r = store_sess_close_gone(lkd->db, lkd_now(), lkd_now() -
	    NOTIFY_GONE_SEC)) != 0)
		log_warnx("closing sessions of gone replicas error=\"%s\"",
		    lk_err(r));
	if ((r = store_agent_pending_here(lkd->replica_id, notify_net_cb,
	    &n)) != 0)
		log_warnx("notify safety net error=\"%s\"", lk_err(r));
	else if (n > 0)
		log_debug("notify safety net woke=%zu", n);
}

void
notify_free(void)
{
	struct notify_inst *e;
	size_t i;

	pthread_mutex_lock(&notify_lock);
	for (i = 0; i < NOTIFY_BUCKETS; i++)
		while ((e = notify_buckets[i]) != NULL) {
			notify_buckets[i] = e->next;
			free(e);
		}
	pthread_mutex_unlock(&notify_lock);
}

void
notify_wake_many(const char *const *ids, size_t n)
{
	const char **away;
	size_t i, naway = 0;
	int r;

	if ((away = calloc(n + 1, sizeof(*away))) == NULL) {
		for (i = 0; i < n; i++)
			(void)longpoll_wake(ids[i]);
		log_warnx("notify: out of memory, %zu wake-ups local only", n);
		return;
	}
	/* A poll parked here is routed here: nobody else to tell. */
	for (i = 0; i < n; i++)
		if (longpoll_wake(ids[i]) == 0)
			away[naway++] = ids[i];
	if (naway > 0 && (r = store_agent_notify(away, naway,
	    lkd->replica_id)) != 0)
		log_warnx("notify wake instances=%zu error=\"%s\"", naway,
		    lk_err(r));
	free(away);
}

int
notify_route(const char *id)
{
	struct notify_inst *e;
	int routed, changed = 0, r;

	pthread_mutex_lock(&notify_lock);
	routed = (e = notify_find(id, 1)) != NULL && e->routed;
	pthread_mutex_unlock(&notify_lock);
	if (routed)
		return 0;
	if ((r = store_agent_route(id, lkd->replica_id, lkd_now(),
	    &changed)) != 0) {
		log_warnx("notify route instance=%s error=\"%s\"", id,
		    lk_err(r));
		return r;
	}
	if (changed)
		log_debug("notify route instance=%s replica=%s", id,
		    lkd->replica_id);
	pthread_mutex_lock(&notify_lock);
	if ((e = notify_find(id, 1)) != NULL)
		e->routed = 1;
	pthread_mutex_unlock(&notify_lock);
	return 0;
}

int
notify_clean(const char *id, unsigned long seq, const char *running,
    int64_t now)
{
	struct notify_inst *e;
	int clean;

	pthread_mutex_lock(&notify_lock);
	clean = (e = notify_find(id, 0)) != NULL && e->clean &&
	    e->seq == seq && e->running == notify_hash(running) &&
	    (e->lease_due == 0 || now < e->lease_due);
	pthread_mutex_unlock(&notify_lock);
	return clean;
}

void
notify_idle(const char *id, unsigned long seq, const char *running,
    int64_t lease_due)
{
	struct notify_inst *e;

	pthread_mutex_lock(&notify_lock);
	if ((e = notify_find(id, 1)) != NULL) {
		e->clean = 1;
		e->seq = seq;
		e->running = notify_hash(running);
		e->lease_due = lease_due;
	}
	pthread_mutex_unlock(&notify_lock);
}

void
notify_busy(const char *id)
{
	struct notify_inst *e;

	pthread_mutex_lock(&notify_lock);
	if ((e = notify_find(id, 0)) != NULL)
		e->clean = 0;
	pthread_mutex_unlock(&notify_lock);
}
