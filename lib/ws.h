/*
 * WebSocket pieces of the session tunnel (docs/sessions.md). wslay does the
 * framing; these functions do the opening handshake and move bytes between
 * a WebSocket and ordinary file descriptors with bounded buffers.
 *
 *	ws_key.c	the handshake's key check (server and client)
 *	ws.c		the client: libcurl connects (TLS included), then
 *			lk_ws_bridge() pumps a stream through the socket
 */
#ifndef LK_WS_H
#define LK_WS_H

#include <stddef.h>
#include <stdint.h>

/* Largest message either end accepts; the bridges send at most LK_WS_CHUNK. */
#define LK_WS_MSG_MAX		(256 * 1024)
#define LK_WS_CHUNK		(64 * 1024)
/* A side stops reading while this much waits to be written onward. */
#define LK_WS_HIGH_WATER	(512 * 1024)

/* Close codes: RFC 6455 ones, then the tunnel's own (docs/sessions.md). */
#define LK_WS_NORMAL		1000
#define LK_WS_GOING_AWAY	1001
#define LK_WS_PROTOCOL		1002
#define LK_WS_ABNORMAL		1006	/* never sent: connection just ended */
#define LK_WS_TOO_BIG		1009
#define LK_WS_INTERNAL		1011
#define LK_WS_IDLE		4000	/* no bytes either way for too long */
#define LK_WS_AGENT_LOST	4001	/* the agent's connection broke */
#define LK_WS_PORT_REFUSED	4002	/* the agent could not reach the port */
#define LK_WS_ENDED		4003	/* EndTerminalSession */
#define LK_WS_NO_AGENT		4004	/* the agent never dialled back */
#define LK_WS_CLIENT_LOST	4005	/* the client's connection broke */

#define LK_WS_KEY_LEN		24	/* base64 of 16 bytes */
#define LK_WS_ACCEPT_LEN	28	/* base64 of a SHA-1 */

/* ws_key.c */
int	lk_ws_key_valid(const char *key);
/* out gets base64(SHA-1(key + RFC 6455 GUID)), NUL-terminated. */
int	lk_ws_accept(const char *key, char out[LK_WS_ACCEPT_LEN + 1]);
/* A printable name for a close code ("normal", "idle timeout", ...). */
const char *lk_ws_code_name(int code);

/* ws.c: the client. */
struct lk_ws;

struct lk_ws_opts {
	const char		*cacert;	/* NULL: the system's CAs */
	const char *const	*headers;	/* "Name: value", NULL-ended */
	long			 timeout_ms;	/* connect + handshake */
};

/* How a bridge ended. */
struct lk_ws_end {
	int		code;		/* close code, LK_WS_ABNORMAL if none */
	int		by_peer;	/* the other end closed first */
	char		reason[124];	/* the close frame's reason */
	uint64_t	bytes_in;	/* stream → WebSocket */
	uint64_t	bytes_out;	/* WebSocket → stream */
};

/*
 * Dials url (ws://, wss://, http:// or https://) and completes the opening
 * handshake. On a refusal err gets the server's "Code: Message" when it sent
 * one; on 0 *wsp is ready for lk_ws_bridge().
 */
int	lk_ws_dial(const char *url, const struct lk_ws_opts *o,
	    struct lk_ws **wsp, char *err, size_t errsize);
/*
 * Sends what is read from in_fd as binary messages and writes what arrives
 * to out_fd (they may be one socket) until either end closes. EOF on in_fd
 * closes the WebSocket normally (after what was read is sent); a readable
 * stop_fd (-1: none) closes it with LK_WS_GOING_AWAY. Blocking or
 * non-blocking descriptors both work. Returns 0 when closed with
 * LK_WS_NORMAL, else LK_ERR_SYSTEM with *end saying why.
 */
int	lk_ws_bridge(struct lk_ws *ws, int in_fd, int out_fd, int stop_fd,
	    struct lk_ws_end *end);
/* Sends a close frame (used before lk_ws_free when there is no bridge). */
void	lk_ws_close(struct lk_ws *ws, int code, const char *reason);
void	lk_ws_free(struct lk_ws *ws);

#endif
