/*
 * Parked long polls: an agent's poll that found no work waits here, its
 * connection suspended, holding no thread. It is handed back (through the
 * callback given to longpoll_start, on the longpoll thread or the waker's)
 * exactly once, with the reason:
 *	LONGPOLL_WOKEN		work may have arrived for its instance
 *	LONGPOLL_EXPIRED	its wait is over: answer it empty
 *	LONGPOLL_SUPERSEDED	a newer poll of the same instance began
 *	LONGPOLL_GONE		the agent closed its connection
 *	LONGPOLL_QUIT		latchkeyd is stopping
 * Instance ids hash to LONGPOLL_SLOTS slots; two ids sharing a slot only
 * cost a spurious database check on a wake.
 */
#ifndef LK_LONGPOLL_H
#define LK_LONGPOLL_H

#include <stddef.h>

enum {
	LONGPOLL_WOKEN = 1,
	LONGPOLL_EXPIRED,
	LONGPOLL_SUPERSEDED,
	LONGPOLL_GONE,
	LONGPOLL_QUIT,
};

typedef void (*longpoll_cb)(void *req, int why);

int		 longpoll_start(longpoll_cb cb);
/* Hands back every parked poll with LONGPOLL_QUIT; parks no more. */
void		 longpoll_stop(void);

/*
 * A poll of instance id begins: returns its generation. Any older poll of
 * the same instance is superseded (a poll left by an agent that died must
 * not take the tasks meant for the agent's next poll).
 */
unsigned long	 longpoll_begin(const char *id);
/* Has a newer poll of id begun since generation gen? */
int		 longpoll_superseded(const char *id, unsigned long gen);
/* The wake sequence of id's slot: read it before looking for work. */
unsigned long	 longpoll_seq(const char *id);
/*
 * Work for id was committed: hands back its parked poll (WOKEN). Returns
 * the number of polls handed back (0: none of id is parked here).
 */
int		 longpoll_wake(const char *id);
/* Every slot's sequence moves on and every parked poll is WOKEN. */
void		 longpoll_wake_all(void);

/*
 * Parks req until deadline_ms (lk_now_ms clock), watching fd for the
 * peer's close. Returns 0 when parked; otherwise req is not parked and
 * the caller goes on with it: LK_ERR_BUSY when the wake sequence moved
 * past seq (look for work again), LK_ERR_NOT_FOUND when superseded,
 * LK_ERR_SYSTEM when stopping.
 */
int		 longpoll_park(const char *id, unsigned long gen,
		    unsigned long seq, long long deadline_ms, int fd,
		    void *req);
/* Polls parked now. */
size_t		 longpoll_parked(void);

#endif
