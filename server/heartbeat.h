/*
 * Agents' heartbeats (instances.last_seen), batched: a long poll that
 * finds no work only notes the time here, in memory, and the watchdog
 * writes every instance seen since the last flush in one transaction a
 * second. So 10,000 idle agents cost one durable write a second instead
 * of one per poll turn (which, with synchronous=FULL, is an fsync each).
 * Readers of last_seen see it at most HEARTBEAT_FLUSH_MS late.
 */
#ifndef LK_HEARTBEAT_H
#define LK_HEARTBEAT_H

#include <stdint.h>

#define HEARTBEAT_FLUSH_MS	1000

/* The agent of instance id polled at now (lkd_now()). */
void	heartbeat_seen(const char *id, int64_t now);
/* Drops what is noted for id (it said goodbye: no later flush revives it). */
void	heartbeat_forget(const char *id);
/* Writes what was noted since the last flush; 0 or an LK_ERR_*. */
int	heartbeat_flush(void);
/* Frees the table (after the last flush). */
void	heartbeat_free(void);

#endif
