/*
 * The session relay (docs/sessions.md): a client's WebSocket at /session,
 * the agent's WebSocket at /agent/v1/session/<id>, and one relay thread (an
 * epoll loop) that moves messages between them for every session, with
 * bounded buffers.
 */
#ifndef LK_RELAY_H
#define LK_RELAY_H

#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

#include "sig.h"

#define RELAY_AGENT_WAIT	15	/* seconds for the agent to dial back,
					   from the hand-out to its poll */
#define RELAY_HANDOUT_WAIT	35	/* seconds for a poll to take it: an
					   agent polls at least every 30 s */
#define RELAY_IDLE_DEFAULT	90	/* seconds a side may send nothing at
					   all (pinged after a third of it) */
#define RELAY_RESUME_WAIT_DEFAULT 60	/* seconds a lost session waits */
#define RELAY_BUFFER_DEFAULT	(4 * 1024 * 1024)	/* the agent's window */
#define RELAY_TOKEN_TTL_DEFAULT	600	/* seconds a WebSocketUrl is valid */
#define RELAY_PER_INSTANCE	20	/* sessions open at once per instance */
#define RELAY_PER_KEY_DEFAULT	5	/* of those, per access key */
#define RELAY_EXPIRE_EVERY	5	/* watchdog ticks (s) between sweeps */

struct relay_conf {
	long	idle;		/* seconds */
	long	token_ttl;	/* seconds */
	long	per_key;	/* sessions of one key per instance */
	long	resume_wait;	/* seconds; 0: sessions never resume */
	long	buffer;		/* bytes: the agent's replay window */
};
extern struct relay_conf relay_conf;

/*
 * For http.c: answers a WebSocket request for path ("/session",
 * "/console/terminal" with console the hash of the console session that
 * console_ws_admit() let through, NULL otherwise, or
 * "/agent/v1/session/<id>"). Returns the HTTP status; on 101 *respp is the
 * upgrade response to queue, otherwise *bodyp a JSON error body. Any
 * thread may call it; the upgrade callbacks hand the socket to the relay
 * thread without blocking.
 */
int	relay_http(struct MHD_Connection *c, const char *path,
	    const char *query, const char *method,
	    const struct lk_sig_header *h, size_t nh, const char *console,
	    struct MHD_Response **respp, char **bodyp);
/*
 * For http.c: c's request got relay_http's 101 but the connection closed
 * before the upgrade (so the upgrade callback never runs).
 */
void	relay_abandoned(struct MHD_Connection *c);
/*
 * For the poll, on any replica: the sessions waiting for this instance's
 * agent, once (the database says which, and marks them taken), each with
 * the URL of the replica holding its client when the agent must dial
 * there; NULL when there is none.
 */
json_t	*relay_take(const char *instance_id);
/* Ends the sessions held here whose end was asked on another replica. */
void	relay_check_ended(void);
/* Closes the sessions lost longer than --session-resume-wait ago. */
void	relay_expire(void);
/* Ends a live session (EndTerminalSession); 1 if it was live here. */
int	relay_end(const char *session_id);
/* Starts the relay thread. */
int	relay_start(void);
/* Closes every session (LK_WS_GOING_AWAY) and waits for the relay thread. */
void	relay_stop(void);

#endif
