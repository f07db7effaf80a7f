/*
 * The resumable byte stream between the tunnel's two ends, the agent and
 * `latchkey proxy` (docs/sessions.md, "Resume"). Pure state, no I/O: the
 * driver (lib/tunnel.c) reads local input into the replay ring, sends what
 * lk_stream_out_next gives as binary WebSocket messages, counts what it
 * delivers, and exchanges the control messages below as text messages.
 *
 * Each direction is numbered by byte offset from the session's start.
 * A sender keeps every byte the peer has not acknowledged in a ring of
 * `window` bytes (so the window is also the flow-control limit: no more
 * than window bytes are unacknowledged). On every (re)connection both
 * ends first send "hello R" (R: bytes received so far) and send no data
 * before the peer's hello; a hello R moves the sender back to R, and it
 * sends again from there, so nothing is lost or repeated.
 *
 * Control messages (text, ASCII, at most LK_STREAM_CTL_MAX bytes; N a
 * decimal number, no sign, no leading zero, at most 20 digits, < 2^64):
 *	hello N		I have received N bytes; send from N
 *	ack N		I have received N bytes; drop them
 *	eof N		my stream ends at N (after the data before it)
 *
 * A shell session (docs/sessions.md, "Shell sessions") adds, next to them
 * and of the same form (C, R, N decimal as above):
 *	winch C R	client → agent: the terminal is C columns, R rows
 *			(1..LK_STREAM_WINSZ_MAX each)
 *	signal NAME	client → agent: send NAME to the remote command; NAME
 *			one of INT TERM HUP QUIT KILL USR1 USR2 WINCH
 *	exit N		agent → client: the command exited with N (0..255),
 *			sent before the agent's eof
 *	exit signal NAME  agent → client: the command was killed by NAME
 *			(a signal name of lk_stream_sig_name, without SIG)
 * lk_stream_ctl_parse parses them; lk_stream_on_ctl does not take them
 * (they are not the stream's: the tunnel hands them to its caller).
 *
 * Without resume (a client that did not ask for it, or an older agent:
 * lk_stream_init with resumable 0) no control message is used: data goes
 * out as it is read, nothing is kept, and the end of the stream is an
 * empty binary message, as before.
 */
#ifndef LK_STREAM_H
#define LK_STREAM_H

#include <stddef.h>
#include <stdint.h>

#define LK_STREAM_WINDOW_DEFAULT	(4 * 1024 * 1024)
#define LK_STREAM_WINDOW_MIN		(64 * 1024)
#define LK_STREAM_WINDOW_MAX		(256 * 1024 * 1024)
#define LK_STREAM_CTL_MAX		64
/* Legacy mode's send buffer, and the most one lk_stream_in_buf offers. */
#define LK_STREAM_READ_MAX		(256 * 1024)

#define LK_STREAM_WINSZ_MAX		1000	/* columns or rows */

enum { LK_STREAM_HELLO = 1, LK_STREAM_ACK, LK_STREAM_EOF,
	LK_STREAM_WINCH, LK_STREAM_SIGNAL, LK_STREAM_EXIT,
	LK_STREAM_EXIT_SIGNAL };

struct lk_stream_ctl {
	int		type;		/* LK_STREAM_HELLO, ... */
	uint64_t	n;		/* hello/ack/eof: the offset; winch:
					   columns; exit: the status; signal,
					   exit signal: the signal number */
	uint64_t	n2;		/* winch: rows */
};

struct lk_stream {
	int		 resumable;
	size_t		 window;	/* the ring's size */
	uint8_t		*ring;		/* NULL while empty (lk_stream_trim) */
	/* sending: the ring holds [acked, end) */
	uint64_t	 acked;		/* the peer has all before this */
	uint64_t	 sent;		/* next offset to send, acked..end */
	uint64_t	 end;		/* bytes taken from local input */
	int		 in_eof;	/* local input ended at end */
	int		 eof_sent;
	int		 eof_hold;	/* not yet: the caller has more to say */
	/* receiving */
	uint64_t	 recvd;		/* bytes received and delivered */
	uint64_t	 ack_sent;	/* the last hello/ack value sent */
	int		 peer_eof;	/* the peer's eof at recvd came */
	int		 ack_now;	/* an ack is due at once */
	/* this connection */
	int		 hello_sent, hello_rcvd;
};

/*
 * Parses a control message (p[0..n), not NUL-terminated). Returns 0 with
 * *c filled, or LK_ERR_INVALID_FORMAT for anything else.
 */
int	lk_stream_ctl_parse(const void *p, size_t n, struct lk_stream_ctl *c);

/* Is type one of the shell session's messages (winch, signal, exit)? */
int	lk_stream_ctl_is_shell(int type);
/*
 * Writes c as its message into buf (at least LK_STREAM_CTL_MAX bytes);
 * returns its length, 0 for a value it cannot say (a signal without a
 * name, an exit status above 255, a window size out of range).
 */
size_t	lk_stream_ctl_format(const struct lk_stream_ctl *c, char *buf);
/*
 * A signal's name without "SIG" (HUP, INT, ... of the 31 standard ones),
 * NULL for another number; lk_stream_sig_parse is its inverse (0 for an
 * unknown name). lk_stream_sig_sendable: the signals a client may send.
 */
const char *lk_stream_sig_name(int signo);
int	lk_stream_sig_parse(const char *p, size_t n);
int	lk_stream_sig_sendable(int signo);

/* window is clamped to [LK_STREAM_WINDOW_MIN, LK_STREAM_WINDOW_MAX]. */
void	lk_stream_init(struct lk_stream *s, int resumable, size_t window);
void	lk_stream_free(struct lk_stream *s);
/* Frees the ring while it holds nothing (an idle session keeps none). */
void	lk_stream_trim(struct lk_stream *s);

/*
 * Local input: *p gets where the next read(2) may put up to *n bytes
 * (contiguous room in the ring, at most LK_STREAM_READ_MAX; *n 0 when the
 * window is full or input ended). Returns 0, or LK_ERR_ALLOC (the ring
 * could not be made). lk_stream_in_commit(n) takes n bytes read there;
 * lk_stream_in_eof says the input ended.
 */
int	lk_stream_in_buf(struct lk_stream *s, uint8_t **p, size_t *n);
void	lk_stream_in_commit(struct lk_stream *s, size_t n);
void	lk_stream_in_eof(struct lk_stream *s);

/*
 * To send: *p, *n the next contiguous bytes of [sent, end) (n 0: none, or
 * not before the peer's hello). lk_stream_out_commit(n) says n of them
 * were queued. In legacy mode they are dropped from the ring at once.
 */
void	lk_stream_out_next(struct lk_stream *s, const uint8_t **p, size_t *n);
void	lk_stream_out_commit(struct lk_stream *s, size_t n);
/* Legacy mode: 1 once, when the empty end-of-stream message is due. */
int	lk_stream_legacy_eof_due(struct lk_stream *s);

/* Received data: n bytes delivered to local output. */
void	lk_stream_delivered(struct lk_stream *s, size_t n);
/* Legacy mode: the peer's empty message. */
void	lk_stream_legacy_peer_eof(struct lk_stream *s);
/*
 * A control message from the peer. Returns 0; LK_ERR_RANGE for an offset
 * out of range (hello or ack outside [acked, end] / [acked, sent], eof at
 * another offset than recvd), LK_ERR_STATE for data or ack before hello
 * or a second hello: the connection is closed with LK_WS_RESUME_RANGE or
 * LK_WS_PROTOCOL and nothing of s changes.
 */
int	lk_stream_on_ctl(struct lk_stream *s, const struct lk_stream_ctl *c);
/* Data may be received now (resumable: after the peer's hello). */
int	lk_stream_may_recv(const struct lk_stream *s);

/*
 * The next control message to send, written into buf (at least
 * LK_STREAM_CTL_MAX bytes); returns its length, 0 when none is due. In
 * order: hello (once per connection), eof (once everything before it was
 * queued, and not while eof_hold is set), ack (when ack_now, or a quarter window was received since the
 * last one, or idle is set: the driver has nothing else to do). Taking it
 * marks it sent.
 */
size_t	lk_stream_ctl_next(struct lk_stream *s, int idle, char *buf);

/* A new connection: resends from where the peer's hello will say. */
void	lk_stream_reconnect(struct lk_stream *s);
/*
 * 1 when the stream is over both ways: our eof went out and was
 * acknowledged, and the peer's eof came (legacy: both eofs).
 */
int	lk_stream_done(const struct lk_stream *s);
/* Unacknowledged bytes held (the replay buffer's use). */
size_t	lk_stream_held(const struct lk_stream *s);

#endif
