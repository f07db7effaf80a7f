/*
 * The worker pool: a fixed number of threads that run the handlers of
 * requests which libmicrohttpd's event loop has suspended, so that a
 * handler that waits (the database, a password hash) never holds up the
 * loop, and the number of threads does not depend on the number of
 * connections. Jobs run in the order they were pushed.
 */
#ifndef LK_WORK_H
#define LK_WORK_H

#include <stddef.h>

typedef void (*work_fn)(void *job);

/* Starts n threads that call fn for each job pushed. */
int	work_start(size_t n, work_fn fn);
/*
 * Queues job; returns LK_ERR_BUSY (nothing queued) once work_stop has
 * begun or when the queue holds max_queued jobs already.
 */
int	work_push(void *job);
/* Runs what is queued, then joins the threads. */
void	work_stop(void);
/* The default number of threads for this machine. */
size_t	work_default_threads(void);

#endif
