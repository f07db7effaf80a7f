/*
 * The tunnel's ends (docs/sessions.md): one session's byte stream between
 * local descriptors and a WebSocket, resumed over a new WebSocket when the
 * connection is lost. The agent (one thread per session) and `latchkey
 * proxy` / `latchkey forward` run it; it replaces lk_ws_bridge.
 */
#ifndef LK_TUNNEL_H
#define LK_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

#include "stream.h"
#include "ws.h"

#define LK_TUNNEL_KEEPALIVE_DEFAULT	30	/* seconds */
#define LK_TUNNEL_RESUME_WAIT_DEFAULT	60	/* seconds */

struct lk_tunnel_conf {
	int	resumable;	/* both ends speak lib/stream.h's protocol */
	size_t	window;		/* 0: LK_STREAM_WINDOW_DEFAULT */
	/*
	 * Ping after keepalive_ms without a frame from latchkeyd; the
	 * connection is taken as lost after 3 × keepalive_ms of silence.
	 * 0: LK_TUNNEL_KEEPALIVE_DEFAULT seconds.
	 */
	long	keepalive_ms;
	/* How long a lost connection may take to come back (resumable). */
	long	resume_wait_ms;
	/*
	 * Readable: drop the connection now and resume (the agent: a newer
	 * hand-out of the same session came). -1: none.
	 */
	int	kick_fd;
	/* Readable: close with LK_WS_GOING_AWAY and end. -1: none. */
	int	stop_fd;
	/*
	 * A shell session's messages (lib/stream.h: winch, signal, exit;
	 * resumable sessions only), all called with lk_tunnel_run's arg.
	 * NULL each: none (a shell message from the peer is then refused).
	 *
	 * on_ctl: a shell message from the peer; an error refuses it (the
	 * tunnel closes with LK_WS_PROTOCOL, "bad control message").
	 * next_ctl: 1 with *c a message to send now, 0 when none; asked
	 * every round after the hello, and ctl_fd (0 or -1: none) readable wakes
	 * the loop for it.
	 * trailer: local input ended; 1 with *c the message to send just
	 * before our eof (the exit status), 0 for none, LK_ERR_BUSY while it
	 * is not known yet (ctl_fd readable says it may be). It is sent
	 * again before the eof on every new connection.
	 */
	int	(*on_ctl)(void *arg, const struct lk_stream_ctl *c);
	int	(*next_ctl)(void *arg, struct lk_stream_ctl *c);
	int	(*trailer)(void *arg, struct lk_stream_ctl *c);
	int	ctl_fd;
	/* The peer's eof also ends local input (a shell's client). */
	int	end_on_peer_eof;
	/*
	 * out_fd refusing a write (a pty whose terminal closed) drops what
	 * comes instead of ending the session: the trailer still goes out.
	 */
	int	out_discard;
	/*
	 * Each read of in_fd as it enters the stream, once (a resume does
	 * not repeat it), with lk_tunnel_run's arg: a shell session's
	 * recording. NULL: none. It must not block for long.
	 */
	void	(*on_input)(void *arg, const void *p, size_t n);
};

/*
 * A new connection for the same session after a loss, before deadline_ms
 * (lk_now_ms clock): the proxy asks ResumeTerminalSession and dials; the
 * agent waits for the hand-out and dials. Returns 0 with *wsp set; a
 * failure that a retry may mend returns LK_ERR_UNAVAILABLE (the driver
 * calls again until the deadline), any other error ends the session with
 * err (NUL-terminated) as the reason. stop_fd is readable: return
 * LK_ERR_STATE.
 */
typedef int (*lk_tunnel_redial_fn)(void *arg, long long deadline_ms,
    int stop_fd, struct lk_ws **wsp, char *err, size_t errsize);

/* How a tunnel ended. */
struct lk_tunnel_end {
	int		code;		/* close code, LK_WS_ABNORMAL if none */
	int		by_peer;	/* the other end closed first */
	char		reason[124];	/* the close frame's reason */
	uint64_t	bytes_in;	/* in_fd → WebSocket (stream bytes) */
	uint64_t	bytes_out;	/* WebSocket → out_fd */
	unsigned	resumes;	/* connections after the first */
	int		out_closed;	/* the tunnel closed out_fd (a pipe
					   at the peer's eof): not the caller's
					   to close any more */
};

/*
 * Moves in_fd → ws and ws → out_fd (they may be one socket; both are made
 * non-blocking) until the stream ends both ways or the session is closed.
 * Takes ws (frees it, and each one redial gives). Local EOF on in_fd ends
 * that direction (lib/stream.h); the peer's end shuts out_fd down for
 * writing (a socket) or closes it, once everything before it is written.
 * A lost connection (no close frame, LK_WS_RESUME, or silence) with
 * conf->resumable and a redial function: resumed, for up to
 * resume_wait_ms; the peer's LK_WS_GOING_AWAY (it stopped) is final. Returns 0 when closed with LK_WS_NORMAL, else
 * LK_ERR_SYSTEM with *end saying why. on_event (may be NULL) is told of
 * losses and resumes ("lost", "resumed") for the caller's log.
 */
int	lk_tunnel_run(struct lk_ws *ws, int in_fd, int out_fd,
	    const struct lk_tunnel_conf *conf, lk_tunnel_redial_fn redial,
	    void *arg, void (*on_event)(void *arg, const char *what,
	    const char *detail), struct lk_tunnel_end *end);

#endif
