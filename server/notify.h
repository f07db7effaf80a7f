/*
 * Replicas' wake-ups and what a replica notes of the agents whose polls it
 * holds (docs/replicas.md, "Wake-ups and leases"):
 *
 * - routes: a poll's first turn writes the agent's route (this replica)
 *   when it is not noted as written already, so idle polls write nothing;
 * - wake-ups: notify_wake_many ends the parked polls of the instances here
 *   and, on PostgreSQL, sends a NOTIFY to the replica of each other
 *   instance's route; this replica's listener wakes what others send it,
 *   and after each reconnection wakes every parked poll ("resync");
 * - idle polls: after a poll turn found no work, the next turns of the
 *   instance skip the database until something may have changed: a
 *   wake-up of its longpoll slot, a resync, a lease coming due, or the
 *   agent's list of running tasks changing;
 * - the safety net (notify_tick, every 5 s from the watchdog): one query
 *   finds the instances routed here with work waiting, and wakes them.
 */
#ifndef LK_NOTIFY_H
#define LK_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

/* Starts the listener (PostgreSQL) and records this replica. */
int	notify_start(void);
/* The watchdog's every NOTIFY_TICK_SEC: the replica's row, the safety net. */
void	notify_tick(void);
#define NOTIFY_TICK_SEC	5
/* A replica whose row is older than this is gone: its sessions close. */
#define NOTIFY_GONE_SEC	30
/* Frees the notes (after the last poll; the listener ends with the store). */
void	notify_free(void);

/* Wakes the polls of n instances wherever they are parked. */
void	notify_wake_many(const char *const *ids, size_t n);

/* A poll of id arrived here: writes its route unless noted. */
int	notify_route(const char *id);

/*
 * Whether a turn of id's poll may skip the database: its last turn found
 * no work, and since then its longpoll slot's sequence stayed seq, no
 * resync came, no lease came due (now) and running (the agent's list of
 * running tasks, NULL without the header) is the same.
 */
int	notify_clean(const char *id, unsigned long seq, const char *running,
	    int64_t now);
/* A turn found no work (lease_due: store_agent_work's), or some. */
void	notify_idle(const char *id, unsigned long seq, const char *running,
	    int64_t lease_due);
void	notify_busy(const char *id);

#endif
