/*
 * Agents' heartbeats (instances.last_seen), batched: a long poll that
 * finds no work only notes the time here, in memory, and the watchdog
 * writes every instance seen since the last flush in one transaction
 * every HEARTBEAT_FLUSH_EVERY ticks of HEARTBEAT_FLUSH_MS, or at the next
 * tick when a heartbeat is urgent: the instance's first since latchkeyd
 * started or since its goodbye, or one HEARTBEAT_URGENT seconds after the
 * last written (an instance coming online shows within a second). So
 * 10,000 idle agents cost one durable write every 5 s instead of one per
 * poll turn (which, with synchronous=FULL, is an fsync each). Readers of
 * last_seen see it at most HEARTBEAT_FLUSH_EVERY * HEARTBEAT_FLUSH_MS late.
 */
#ifndef LK_HEARTBEAT_H
#define LK_HEARTBEAT_H

#include <stdint.h>

#define HEARTBEAT_FLUSH_MS	1000
#define HEARTBEAT_FLUSH_EVERY	5
#define HEARTBEAT_URGENT	30	/* seconds */

/* The agent of instance id polled at now (lkd_now()). */
void	heartbeat_seen(const char *id, int64_t now);
/* Drops what is noted for id (it said goodbye: no later flush revives it). */
void	heartbeat_forget(const char *id);
/* Writes what was noted since the last flush; 0 or an LK_ERR_*. */
int	heartbeat_flush(void);
/* Whether a heartbeat noted since the last flush is urgent (see above). */
int	heartbeat_urgent(void);
/* Frees the table (after the last flush). */
void	heartbeat_free(void);

#endif
