/*
 * Parked long polls (longpoll.h). One thread watches every parked poll's
 * socket with epoll (EPOLLRDHUP: the agent went away) and ends the polls
 * whose wait is over; wake-ups come from the threads that commit work.
 *
 * Every parked poll is in its slot's list and in one list of all, under
 * longpoll_lock; it leaves both, and the epoll set, before it is handed
 * back, so it is handed back exactly once, and never after
 * longpoll_stop() has returned.
 *
 * An epoll_wait() that was already running when a waiter left the epoll
 * set may still return it, so a waiter is freed only by the longpoll
 * thread, two turns of its loop after it was handed back (the "zombies");
 * until then it is marked dead and its events are ignored.
 */
#include <sys/epoll.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "longpoll.h"
#include "util.h"

#define LONGPOLL_SLOTS		16384
#define LONGPOLL_TICK_MS	100	/* how late an expiry may be */
#define LONGPOLL_ID_MAX		64

struct longpoll_waiter {
	char			 id[LONGPOLL_ID_MAX];
	size_t			 slot;
	long long		 deadline;
	int			 fd;		/* -1: not watched */
	void			*req;
	int			 why;		/* once dead: LONGPOLL_* */
	int			 dead;
	unsigned long		 dead_turn;
	struct longpoll_waiter	*snext, *sprev;	/* the slot's list */
	struct longpoll_waiter	*next, *prev;	/* all parked polls */
};

struct longpoll_slot {
	unsigned long		 seq;		/* wake-ups */
	unsigned long		 gen;		/* polls begun */
	char			 poller[LONGPOLL_ID_MAX]; /* the newest one's */
	struct longpoll_waiter	*head;
};

static pthread_mutex_t longpoll_lock = PTHREAD_MUTEX_INITIALIZER;
static struct longpoll_slot longpoll_slots[LONGPOLL_SLOTS];
/*
 * Every parked poll, in the order of its deadline: most polls wait the
 * same time, so a new one goes at (or near) the tail, and the expiry
 * check stops at the first poll whose deadline is ahead.
 */
static struct longpoll_waiter *longpoll_all, *longpoll_tail;
static struct longpoll_waiter *longpoll_zombies;
static size_t longpoll_n;
static unsigned long longpoll_turn;
static longpoll_cb longpoll_fire;
static pthread_t longpoll_thread;
static int longpoll_epfd = -1, longpoll_quit, longpoll_running;

static size_t
longpoll_slot_of(const char *id)
{
	size_t h = 5381;

	while (*id != '\0')
		h = h * 33 + (unsigned char)*id++;
	return h % LONGPOLL_SLOTS;
}

/*
 * Takes w out of every list and the epoll set and chains it on *tailp to
 * be handed back for why; with the lock held.
 */
static void
longpoll_unlink(struct longpoll_waiter *w, int why,
    struct longpoll_waiter ***tailp)
{
	struct longpoll_slot *s = &longpoll_slots[w->slot];

	if (w->sprev != NULL)
		w->sprev->snext = w->snext;
	else
		s->head = w->snext;
	if (w->snext != NULL)
		w->snext->sprev = w->sprev;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		longpoll_all = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		longpoll_tail = w->prev;
	if (w->fd >= 0)
		(void)epoll_ctl(longpoll_epfd, EPOLL_CTL_DEL, w->fd, NULL);
	longpoll_n--;
	w->dead = 1;
	w->why = why;
	w->next = NULL;
	**tailp = w;
	*tailp = &w->next;
}

/*
 * Hands back the waiters chained on fired (through their next field),
 * outside the lock: the callback may queue work or resume a connection.
 * Then they become zombies, freed by the longpoll thread (see above).
 */
static void
longpoll_hand_back(struct longpoll_waiter *fired)
{
	struct longpoll_waiter *w, *z;

	for (w = fired; w != NULL; w = w->next)
		longpoll_fire(w->req, w->why);
	if (fired == NULL)
		return;
	pthread_mutex_lock(&longpoll_lock);
	for (w = fired; w != NULL; w = z) {
		z = w->next;
		w->dead_turn = longpoll_turn;
		w->next = longpoll_zombies;
		longpoll_zombies = w;
	}
	pthread_mutex_unlock(&longpoll_lock);
}

/* Frees the zombies no epoll_wait() can return any more; with the lock. */
static void
longpoll_bury(int all)
{
	struct longpoll_waiter *w, **pp = &longpoll_zombies;

	while ((w = *pp) != NULL) {
		if (all || w->dead_turn + 2 <= longpoll_turn) {
			*pp = w->next;
			free(w);
		} else
			pp = &w->next;
	}
}

static void *
longpoll_main(void *arg)
{
	struct epoll_event ev[64];
	struct longpoll_waiter *w, *nw, *fired, **tail;
	long long now;
	int n, i;

	(void)arg;
	for (;;) {
		n = epoll_wait(longpoll_epfd, ev, 64, LONGPOLL_TICK_MS);
		if (n < 0 && errno != EINTR) {
			log_warn("long polls: epoll_wait");
			n = 0;
		}
		fired = NULL;
		tail = &fired;
		pthread_mutex_lock(&longpoll_lock);
		if (longpoll_quit) {
			pthread_mutex_unlock(&longpoll_lock);
			break;
		}
		longpoll_turn++;
		for (i = 0; i < n; i++) {
			w = ev[i].data.ptr;
			if (!w->dead)
				longpoll_unlink(w, LONGPOLL_GONE, &tail);
		}
		now = lk_now_ms();
		for (w = longpoll_all; w != NULL && w->deadline <= now; w = nw) {
			nw = w->next;
			longpoll_unlink(w, LONGPOLL_EXPIRED, &tail);
		}
		longpoll_bury(0);
		pthread_mutex_unlock(&longpoll_lock);
		longpoll_hand_back(fired);
	}
	return NULL;
}

int
longpoll_start(longpoll_cb cb)
{
	if ((longpoll_epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return LK_ERR_SYSTEM;
	longpoll_fire = cb;
	if (pthread_create(&longpoll_thread, NULL, longpoll_main, NULL) != 0)
		return LK_ERR_SYSTEM;
	longpoll_running = 1;
	return 0;
}

void
longpoll_stop(void)
{
	struct longpoll_waiter *w, *fired = NULL, **tail = &fired;

	pthread_mutex_lock(&longpoll_lock);
	longpoll_quit = 1;
	pthread_mutex_unlock(&longpoll_lock);
	if (longpoll_running)
		pthread_join(longpoll_thread, NULL);
	longpoll_running = 0;
	pthread_mutex_lock(&longpoll_lock);
	while ((w = longpoll_all) != NULL)
		longpoll_unlink(w, LONGPOLL_QUIT, &tail);
	pthread_mutex_unlock(&longpoll_lock);
	if (longpoll_fire != NULL)
		longpoll_hand_back(fired);
	pthread_mutex_lock(&longpoll_lock);
	longpoll_bury(1);
	pthread_mutex_unlock(&longpoll_lock);
	if (longpoll_epfd >= 0)
		close(longpoll_epfd);
	longpoll_epfd = -1;
}

unsigned long
longpoll_begin(const char *id)
{
	struct longpoll_slot *s;
	struct longpoll_waiter *w, *old = NULL, **tail = &old;
	unsigned long gen;

	pthread_mutex_lock(&longpoll_lock);
	s = &longpoll_slots[longpoll_slot_of(id)];
	snprintf(s->poller, sizeof(s->poller), "%s", id);
	gen = ++s->gen;
	for (w = s->head; w != NULL; w = w->snext)
		if (strcmp(w->id, id) == 0)
			break;
	if (w != NULL)
		longpoll_unlink(w, LONGPOLL_SUPERSEDED, &tail);
	pthread_mutex_unlock(&longpoll_lock);
	longpoll_hand_back(old);
	return gen;
}

int
longpoll_superseded(const char *id, unsigned long gen)
{
	struct longpoll_slot *s;
	int r;

	pthread_mutex_lock(&longpoll_lock);
	s = &longpoll_slots[longpoll_slot_of(id)];
	r = s->gen != gen && strcmp(s->poller, id) == 0;
	pthread_mutex_unlock(&longpoll_lock);
	return r;
}

unsigned long
longpoll_seq(const char *id)
{
	unsigned long seq;

	pthread_mutex_lock(&longpoll_lock);
	seq = longpoll_slots[longpoll_slot_of(id)].seq;
	pthread_mutex_unlock(&longpoll_lock);
	return seq;
}

int
longpoll_wake(const char *id)
{
	struct longpoll_slot *s;
	struct longpoll_waiter *w, *nw, *fired = NULL, **tail = &fired;
	int n = 0;

	pthread_mutex_lock(&longpoll_lock);
	s = &longpoll_slots[longpoll_slot_of(id)];
	s->seq++;
	for (w = s->head; w != NULL; w = nw) {
		nw = w->snext;
		if (strcmp(w->id, id) == 0) {
			longpoll_unlink(w, LONGPOLL_WOKEN, &tail);
			n++;
		}
	}
	pthread_mutex_unlock(&longpoll_lock);
	longpoll_hand_back(fired);
	return n;
}

void
longpoll_wake_all(void)
{
	struct longpoll_waiter *w, *fired = NULL, **tail = &fired;
	size_t i;

	pthread_mutex_lock(&longpoll_lock);
	for (i = 0; i < LONGPOLL_SLOTS; i++)
		longpoll_slots[i].seq++;
	while ((w = longpoll_all) != NULL)
		longpoll_unlink(w, LONGPOLL_WOKEN, &tail);
	pthread_mutex_unlock(&longpoll_lock);
	longpoll_hand_back(fired);
}

int
longpoll_park(const char *id, unsigned long gen, unsigned long seq,
    long long deadline_ms, int fd, void *req)
{
	struct longpoll_slot *s;
	struct longpoll_waiter *w, *at;
	struct epoll_event ev;
	size_t slot = longpoll_slot_of(id);

	if (strlen(id) >= LONGPOLL_ID_MAX)
		return LK_ERR_TOO_LONG;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return LK_ERR_ALLOC;
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->slot = slot;
	w->deadline = deadline_ms;
	w->req = req;
	w->fd = -1;
	pthread_mutex_lock(&longpoll_lock);
	s = &longpoll_slots[slot];
	if (longpoll_quit || s->seq != seq ||
	    (s->gen != gen && strcmp(s->poller, id) == 0)) {
		int r = longpoll_quit ? LK_ERR_SYSTEM : s->seq != seq ?
		    LK_ERR_BUSY : LK_ERR_NOT_FOUND;

		pthread_mutex_unlock(&longpoll_lock);
		free(w);
		return r;
	}
	if (fd >= 0) {
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLRDHUP;
		ev.data.ptr = w;
		if (epoll_ctl(longpoll_epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
			w->fd = fd;
	}
	if ((w->snext = s->head) != NULL)
		s->head->sprev = w;
	s->head = w;
	for (at = longpoll_tail; at != NULL && at->deadline > deadline_ms;
	    at = at->prev)
		;
	w->prev = at;			/* after at, or first */
	if ((w->next = at != NULL ? at->next : longpoll_all) != NULL)
		w->next->prev = w;
	else
		longpoll_tail = w;
	if (at != NULL)
		at->next = w;
	else
		longpoll_all = w;
	longpoll_n++;
	pthread_mutex_unlock(&longpoll_lock);
	return 0;
}

size_t
longpoll_parked(void)
{
	size_t n;

	pthread_mutex_lock(&longpoll_lock);
	n = longpoll_n;
	pthread_mutex_unlock(&longpoll_lock);
	return n;
}
