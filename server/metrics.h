/*
 * latchkeyd's counters for /metrics (docs/operations.md lists each): plain
 * atomics, bumped where the event happens, read by metrics_render(). Each
 * replica counts what it saw itself; Prometheus sums over replicas.
 *
 * metrics.c holds the counters and the text format and needs nothing but
 * libc, so every test and fuzz target that links a file calling it can
 * link it too; metrics_http.c is the listener (/metrics and /healthz).
 */
#ifndef LK_METRICS_H
#define LK_METRICS_H

#include <stddef.h>

#define METRICS_LISTEN_DEFAULT	"127.0.0.1:9188"

/* InvokeCommand of the send-key command on n instances (invoke_id). */
void	metrics_push_start(const char *invoke_id, size_t n);
/*
 * An agent's result applied to task "INVOKE_ID:INSTANCE_ID" with status
 * (Success, Failed, Timeout, Stopped, Error): counted by status, and a
 * push's latency observed when the task is one of a push.
 */
void	metrics_task_done(const char *task_id, const char *status);
/* A session's agent attached (+1) or the session ended (-1). */
void	metrics_session(int delta);
/* n bytes relayed from the client (from_client 1) or from the agent. */
void	metrics_relay_bytes(int from_client, size_t n);
/* An API call refused with code (its "Code"). */
void	metrics_api_error(const char *code);

/*
 * The exposition in the Prometheus text format 0.0.4, with the agents
 * connected now and the database errors so far (read by the caller).
 * Returns a malloc'd string (*lenp bytes) or NULL when out of memory.
 */
char	*metrics_render(size_t agents, unsigned long long db_errors,
	    size_t *lenp);

/*
 * Serves /metrics and /healthz on "ADDR:PORT", or nothing for "off". A
 * listener that cannot bind is an error (LK_ERR_SYSTEM, said) unless
 * optional, then a warning. metrics_stop() stops it.
 */
int	metrics_start(const char *listen, int optional);
void	metrics_stop(void);

#endif
