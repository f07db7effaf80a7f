/*
 * Agents' heartbeats, batched (heartbeat.h). A hash table of instance ids
 * with the time each was last seen, and a list of those seen since the
 * last flush. Entries live as long as latchkeyd (one per instance that
 * polled: bounded by the registered instances).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "heartbeat.h"
#include "log.h"
#include "store.h"

#define HEARTBEAT_BUCKETS	16384
#define HEARTBEAT_ID_MAX	STORE_AGENT_ID_MAX

struct heartbeat {
	char			 id[HEARTBEAT_ID_MAX];
	int64_t			 seen;		/* 0: nothing to write */
	int64_t			 written;	/* the last seen flushed */
	int			 dirty;		/* on the dirty list */
	struct heartbeat	*next;		/* the bucket's */
	struct heartbeat	*dnext;		/* the dirty list's */
};

static pthread_mutex_t heartbeat_lock = PTHREAD_MUTEX_INITIALIZER;
static struct heartbeat *heartbeat_buckets[HEARTBEAT_BUCKETS];
static struct heartbeat *heartbeat_dirty;
static int heartbeat_hurry;		/* an urgent one is dirty */

static struct heartbeat *
heartbeat_find(const char *id, int create)
{
	struct heartbeat *h, **b;
	size_t k = 5381;
	const char *p;

	for (p = id; *p != '\0'; p++)
		k = k * 33 + (unsigned char)*p;
	b = &heartbeat_buckets[k % HEARTBEAT_BUCKETS];
	for (h = *b; h != NULL; h = h->next)
		if (strcmp(h->id, id) == 0)
			return h;
	if (!create || strlen(id) >= HEARTBEAT_ID_MAX ||
	    (h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	snprintf(h->id, sizeof(h->id), "%s", id);
	h->next = *b;
	*b = h;
	return h;
}

void
heartbeat_seen(const char *id, int64_t now)
{
	struct heartbeat *h;

	pthread_mutex_lock(&heartbeat_lock);
	if ((h = heartbeat_find(id, 1)) != NULL) {
		h->seen = now;
		if (h->written == 0 || now - h->written >= HEARTBEAT_URGENT)
			heartbeat_hurry = 1;
		if (!h->dirty) {
			h->dirty = 1;
			h->dnext = heartbeat_dirty;
			heartbeat_dirty = h;
		}
	}
	pthread_mutex_unlock(&heartbeat_lock);
}

void
heartbeat_forget(const char *id)
{
	struct heartbeat *h;

	pthread_mutex_lock(&heartbeat_lock);
	if ((h = heartbeat_find(id, 0)) != NULL)
		h->seen = h->written = 0;
	pthread_mutex_unlock(&heartbeat_lock);
}

int
heartbeat_urgent(void)
{
	int r;

	pthread_mutex_lock(&heartbeat_lock);
	r = heartbeat_hurry;
	pthread_mutex_unlock(&heartbeat_lock);
	return r;
}

/* Notes again what a failed flush could not write (unless forgotten). */
static void
heartbeat_requeue(const struct store_agent_seen *rows, size_t n)
{
	struct heartbeat *h;
	size_t i;

	pthread_mutex_lock(&heartbeat_lock);
	for (i = 0; i < n; i++)
		if ((h = heartbeat_find(rows[i].id, 0)) != NULL &&
		    h->seen != 0) {
			h->written = 0;		/* try again at the next tick */
			heartbeat_hurry = 1;
			if (!h->dirty) {
				h->dirty = 1;
				h->dnext = heartbeat_dirty;
				heartbeat_dirty = h;
			}
		}
	pthread_mutex_unlock(&heartbeat_lock);
}

int
heartbeat_flush(void)
{
	struct store_agent_seen *rows = NULL;
	struct heartbeat *h;
	size_t n = 0, cap = 0;
	int r = 0;

	pthread_mutex_lock(&heartbeat_lock);
	for (h = heartbeat_dirty; h != NULL; h = h->dnext)
		cap++;
	if (cap > 0 && (rows = calloc(cap, sizeof(*rows))) == NULL) {
		pthread_mutex_unlock(&heartbeat_lock);
		return LK_ERR_ALLOC;	/* kept for the next flush */
	}
	while ((h = heartbeat_dirty) != NULL) {
		heartbeat_dirty = h->dnext;
		h->dirty = 0;
		if (h->seen == 0)
			continue;
		memcpy(rows[n].id, h->id, sizeof(rows[n].id));
		rows[n++].seen = h->seen;
		h->written = h->seen;	/* undone by a failed flush */
	}
	heartbeat_hurry = 0;
	pthread_mutex_unlock(&heartbeat_lock);
	if (n > 0 && (r = store_agent_seen(rows, n)) != 0) {
		log_warnx("heartbeats: cannot record %zu: %s", n, lk_err(r));
		heartbeat_requeue(rows, n);
	}
	free(rows);
	return r;
}

void
heartbeat_free(void)
{
	struct heartbeat *h;
	size_t i;

	pthread_mutex_lock(&heartbeat_lock);
	for (i = 0; i < HEARTBEAT_BUCKETS; i++)
		while ((h = heartbeat_buckets[i]) != NULL) {
			heartbeat_buckets[i] = h->next;
			free(h);
		}
	heartbeat_dirty = NULL;
	pthread_mutex_unlock(&heartbeat_lock);
}
