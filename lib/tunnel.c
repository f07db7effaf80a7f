/*
 * The tunnel's ends (lib/tunnel.h): one session's byte stream between local
 * descriptors and a WebSocket, over lib/stream.h's protocol, resumed on a
 * new WebSocket when the connection is lost.
 *
 * One poll(2) loop, everything non-blocking. Each round:
 *   - local input is read straight into the stream's ring, and what the
 *     stream says is due goes into the WebSocket's queue (control messages
 *     first, data in messages of at most LK_WS_MSG_MAX, the queue kept
 *     under LK_WS_HIGH_WATER), then the queue is written;
 *   - what the WebSocket brings is written straight from its input buffer
 *     to out_fd; while out_fd does not take it all, the WebSocket is not
 *     read (the back-pressure), but input keeps going the other way;
 *   - the keep-alive: a ping after keepalive_ms of silence, the connection
 *     taken as lost after three times that.
 * A loss (no close frame, 4006, silence, a kick) with resume: the
 * WebSocket is dropped, the stream rewinds (lk_stream_reconnect) and the
 * redial function gives a new one, on which both ends say hello and carry
 * on. A control message with an offset out of range (a forged or stale
 * resume's hello) is refused with LK_WS_RESUME_RANGE and, with resume,
 * taken as a loss too: the stream is untouched and waits for its real
 * peer. A run of losses with no hello accepted in between is bounded by
 * resume_wait_ms from the first of them. When the tunnel is quiet for
 * TUN_TRIM_MS its buffers are given back.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "tunnel.h"
#include "util.h"

#define TUN_CLOSE_WAIT_MS	5000	/* for the close handshake */
#define TUN_TRIM_MS		1000	/* quiet this long: buffers go */
/*
 * Quiet this long: an ack is owed for what came. Not at once: an
 * interactive session's reply usually follows within a millisecond, and
 * an ack sent before it would cost that reply a frame's time at every
 * hop (measured: 1-byte echo +70 us through the tunnel).
 */
#define TUN_ACK_DELAY_MS	20
#define TUN_BACKOFF_MIN_MS	100
#define TUN_BACKOFF_MAX_MS	2000
#define TUN_READ_ROUND		(1024 * 1024)	/* input per round, at most */
#define TUN_PIPE_SIZE		(1024 * 1024)	/* asked of a pipe */

enum { TUN_RUN = 0, TUN_END, TUN_LOST, TUN_BLOCKED };

struct tun {
	struct lk_tunnel_conf	 conf;
	lk_tunnel_redial_fn	 redial;
	void			*arg;
	void			(*on_event)(void *, const char *,
				    const char *);
	struct lk_tunnel_end	*end;
	struct lk_stream	 s;
	struct lk_ws		*ws;
	struct lk_wsc		*w;
	int			 in_fd, out_fd;
	int			 in_open;	/* in_fd not at EOF */
	int			 out_shut;	/* out_fd ended */
	int			 out_blocked;	/* out_fd took less */
	/* legacy mode: a text message being written (data there) */
	uint8_t			 tpend[LK_WS_TEXT_MAX];
	size_t			 tpoff, tplen;
	long long		 alive_ms;	/* not silent before this */
	long long		 ping_ms;	/* our last ping */
	long long		 busy_ms;	/* last progress */
	uint64_t		 max_sent;
	unsigned		 ring_refs;	/* frames pointing into s.ring */
	int			 lost_code;	/* why the connection went */
	long long		 lost_first_ms;	/* losses since a good hello */
	char			 lost_why[124];
	/* a shell session's trailer (the exit status), once known */
	struct lk_stream_ctl	 trailer;
	int			 trailer_known;	/* 1 known, -1 none */
	int			 trailer_sent;	/* on this connection */
};

static void
tun_event(struct tun *t, const char *what, const char *detail)
{
	if (t->on_event != NULL)
		t->on_event(t->arg, what, detail);
}

static void
tun_set_end(struct tun *t, int code, int by_peer, const char *reason)
{
	t->end->code = code;
	t->end->by_peer = by_peer;
	snprintf(t->end->reason, sizeof(t->end->reason), "%s",
	    reason != NULL ? reason : "");
}

/*
 * fd non-blocking; a pipe (ssh gives its ProxyCommand pipes) also gets a
 * larger buffer, as far as the system allows, so that a bulk copy costs
 * fewer wake-ups on both sides.
 */
static int
tun_nonblock(int fd)
{
	struct stat st;
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return LK_ERR_SYSTEM;
	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
		(void)fcntl(fd, F_SETPIPE_SZ, TUN_PIPE_SIZE);
	return 0;
}

/* A connection is lost: remember why, for the end or the log. */
static int
tun_lost(struct tun *t, int code, const char *why)
{
	t->lost_code = code;
	snprintf(t->lost_why, sizeof(t->lost_why), "%s", why);
	return TUN_LOST;
}

/* ---- sending ---------------------------------------------------------- */

/* Queues shell message c. 0, or -1. */
static int
tun_queue_ctl(struct tun *t, const struct lk_stream_ctl *c)
{
	char buf[LK_STREAM_CTL_MAX];
	size_t n;

	if ((n = lk_stream_ctl_format(c, buf)) == 0)
		return 0;	/* nothing sayable: dropped */
	return lk_wsc_queue_copy(t->w, LK_WS_OP_TEXT, 1, 1, buf, n) != 0 ?
	    -1 : 0;
}

/*
 * A shell session's messages: the caller's (after our hello), and, once
 * local input ended and all of it was queued, the trailer, which holds
 * the stream's eof back until it is known and sent. Returns how many
 * were queued, or -1.
 */
static int
tun_send_shell(struct tun *t)
{
	struct lk_stream_ctl c;
	int k = 0, r;

	if (!t->s.resumable || !t->s.hello_sent)
		return 0;
	while (t->conf.next_ctl != NULL && t->conf.next_ctl(t->arg, &c) > 0) {
		if (tun_queue_ctl(t, &c) != 0)
			return -1;
		k++;
	}
	if (t->conf.trailer == NULL || !t->s.in_eof)
		return k;
	if (t->trailer_known == 0) {
		memset(&c, 0, sizeof(c));
		r = t->conf.trailer(t->arg, &c);
		if (r == LK_ERR_BUSY) {
			t->s.eof_hold = 1;
			return k;
		}
		t->trailer = c;
		t->trailer_known = r > 0 ? 1 : -1;
	}
	t->s.eof_hold = 0;
	if (t->trailer_known > 0 && !t->trailer_sent && t->s.hello_rcvd &&
	    t->s.sent == t->s.end) {
		if (tun_queue_ctl(t, &t->trailer) != 0)
			return -1;
		t->trailer_sent = 1;
		k++;
	} else if (t->trailer_known > 0 && !t->trailer_sent)
		t->s.eof_hold = 1;	/* the data before it first */
	return k;
}

/* Control messages due now. Returns how many were queued, or -1. */
static int
tun_send_ctl(struct tun *t, int idle)
{
	char buf[LK_STREAM_CTL_MAX];
	size_t n;
	int k = 0;

	if (t->w->close_sent || t->w->pend_code != 0)
		return 0;
	if ((k = tun_send_shell(t)) < 0)
		return -1;
	while ((n = lk_stream_ctl_next(&t->s, idle, buf)) > 0) {
		if (lk_wsc_queue_copy(t->w, LK_WS_OP_TEXT, 1, 1, buf, n) != 0)
			return -1;
		k++;
	}
	if (lk_stream_legacy_eof_due(&t->s)) {
		if (lk_wsc_queue_copy(t->w, LK_WS_OP_BINARY, 1, 1, "", 0) != 0)
			return -1;
		k++;
	}
	return k;
}

/* Data from the ring while the queue has room. Returns bytes queued. */
static ssize_t
tun_send_data(struct tun *t)
{
	const uint8_t *p;
	size_t n, total = 0;

	if (t->w->close_sent || t->w->pend_code != 0)
		return 0;
	while (lk_wsc_queued(t->w) < LK_WS_HIGH_WATER) {
		lk_stream_out_next(&t->s, &p, &n);
		if (n == 0)
			break;
		if (n > LK_WS_MSG_MAX)
			n = LK_WS_MSG_MAX;
		/*
		 * Unmasked (the agent's hop) and resumable, so the bytes
		 * stay in the ring until acknowledged: sent from there.
		 */
		if (t->w->zero_mask && t->s.resumable) {
			if (lk_wsc_queue_ref(t->w, LK_WS_OP_BINARY, 1, 1, p, n,
			    &t->ring_refs) != 0)
				return -1;
		} else if (lk_wsc_queue_copy(t->w, LK_WS_OP_BINARY, 1, 1, p,
		    n) != 0)
			return -1;
		lk_stream_out_commit(&t->s, n);
		total += n;
	}
	if (t->s.sent > t->max_sent)
		t->max_sent = t->s.sent;
	return (ssize_t)total;
}

/* Local input into the ring. Returns bytes read; EOF ends the input. */
static size_t
tun_read_in(struct tun *t)
{
	uint8_t *p;
	size_t n, total = 0;
	ssize_t r;

	while (t->in_open && total < TUN_READ_ROUND) {
		if (lk_stream_in_buf(&t->s, &p, &n) != 0 || n == 0)
			break;
		r = read(t->in_fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r <= 0) {
			/* EOF, or an error: this direction ends either way. */
			t->in_open = 0;
			lk_stream_in_eof(&t->s);
			break;
		}
		if (t->conf.on_input != NULL)
			t->conf.on_input(t->arg, p, (size_t)r);
		lk_stream_in_commit(&t->s, (size_t)r);
		total += (size_t)r;
	}
	return total;
}

/* The sending half of a round. Returns progress, or -1 (lost). */
static int
tun_send(struct tun *t)
{
	size_t in;
	ssize_t out;
	int c1, c2;

	if ((c1 = tun_send_ctl(t, 0)) < 0 || (out = tun_send_data(t)) < 0)
		return -1;
	in = tun_read_in(t);
	if ((out = tun_send_data(t)) < 0 || (c2 = tun_send_ctl(t, 0)) < 0)
		return -1;
	if (lk_wsc_flush(t->w) != 0)
		return -1;
	return c1 + c2 + (in > 0) + (out > 0) > 0;
}

/* ---- receiving -------------------------------------------------------- */

/* Writes up to n bytes to out_fd. Returns bytes taken, or -1 (gone). */
static ssize_t
tun_write_out(struct tun *t, const uint8_t *p, size_t n)
{
	ssize_t r;

	if (n == 0)
		return 0;
	if (t->out_shut && t->conf.out_discard) {
		lk_stream_delivered(&t->s, n);
		return (ssize_t)n;
	}
	do
		r = write(t->out_fd, p, n);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		r = 0;
	if (r < 0 && t->conf.out_discard) {
		/* The terminal is gone: what comes is dropped. */
		t->out_shut = 1;
		lk_stream_delivered(&t->s, n);
		return (ssize_t)n;
	}
	if (r < 0)
		return -1;
	if ((size_t)r < n)
		t->out_blocked = 1;
	lk_stream_delivered(&t->s, (size_t)r);
	return r;
}

/* Legacy mode's text data, kept until written. 0, or -1 (out gone). */
static int
tun_write_tpend(struct tun *t)
{
	ssize_t r;

	if (t->tpoff == t->tplen)
		return 0;
	if ((r = tun_write_out(t, t->tpend + t->tpoff, t->tplen - t->tpoff)) < 0)
		return -1;
	t->tpoff += (size_t)r;
	return 0;
}

static void	tun_close_wait(struct tun *);

/*
 * A control message from the peer; TUN_END on a violation, TUN_LOST for
 * offsets out of range when the session resumes.
 */
static int
tun_on_ctl(struct tun *t, const struct lk_wsc_ev *ev)
{
	struct lk_stream_ctl c;
	int r, code;

	if ((r = lk_stream_ctl_parse(ev->p, ev->n, &c)) == 0) {
		if (!lk_stream_ctl_is_shell(c.type))
			r = lk_stream_on_ctl(&t->s, &c);
		else if (t->conf.on_ctl == NULL || !t->s.hello_rcvd)
			r = LK_ERR_STATE;
		else if ((r = t->conf.on_ctl(t->arg, &c)) != 0)
			r = LK_ERR_INVALID_FORMAT;
	}
	lk_wsc_consume(t->w, ev->n);
	if (r == 0) {
		if (c.type == LK_STREAM_HELLO)
			t->lost_first_ms = 0;	/* resumed for real */
		if (c.type == LK_STREAM_EOF && t->conf.end_on_peer_eof &&
		    t->in_open) {
			t->in_open = 0;
			lk_stream_in_eof(&t->s);
		}
		return TUN_RUN;
	}
	code = r == LK_ERR_RANGE ? LK_WS_RESUME_RANGE : LK_WS_PROTOCOL;
	lk_wsc_close(t->w, code, r == LK_ERR_RANGE ?
	    "resume offset out of range" : "bad control message");
	/*
	 * Refused offsets leave the stream as it was (lib/stream.h): whoever
	 * sent them is not our peer, or not any more, and the session waits
	 * for the next connection (latchkeyd keeps it, docs/sessions.md).
	 */
	if (code == LK_WS_RESUME_RANGE && t->conf.resumable &&
	    t->redial != NULL) {
		tun_close_wait(t);
		return tun_lost(t, code, "resume refused: offset out of range");
	}
	tun_set_end(t, code, 0, t->w->pend_reason);
	return TUN_END;
}

/* One data piece: TUN_RUN (see t->out_blocked), TUN_END, or -1 when
 * out_fd is gone. */
static int
tun_on_data(struct tun *t, const struct lk_wsc_ev *ev)
{
	ssize_t r;

	if (ev->op == LK_WS_OP_TEXT && t->s.resumable)
		return tun_on_ctl(t, ev);
	if (!lk_stream_may_recv(&t->s)) {
		lk_wsc_close(t->w, LK_WS_PROTOCOL, "data out of turn");
		tun_set_end(t, LK_WS_PROTOCOL, 0, "data out of turn");
		return TUN_END;
	}
	if (ev->op == LK_WS_OP_TEXT) {
		/* Legacy: text is data, but it is taken whole. */
		memcpy(t->tpend, ev->p, ev->n);
		t->tpoff = 0;
		t->tplen = ev->n;
		lk_wsc_consume(t->w, ev->n);
		return TUN_RUN;
	}
	if (ev->n == 0 && ev->first && ev->fin) {
		lk_wsc_consume(t->w, 0);
		if (!t->s.resumable)
			lk_stream_legacy_peer_eof(&t->s);
		return TUN_RUN;
	}
	if ((r = tun_write_out(t, ev->p, ev->n)) < 0)
		return -1;
	lk_wsc_consume(t->w, (size_t)r);
	/* Nothing written (out_fd full) is no progress: poll, not spin. */
	if (r == 0)
		return TUN_BLOCKED;
	return TUN_RUN;
}

/*
 * The peer's close frame. Only 4006 asks for a resume: a 1001 is the other
 * end stopping (latchkey proxy told to by ssh's SIGHUP, the agent
 * stopping), which latchkeyd passes on as final (a latchkeyd that stops
 * sends 4006 for sessions that resume).
 */
static int
tun_on_close(struct tun *t)
{
	int code = t->w->close_code;

	if (code == LK_WS_RESUME)
		return tun_lost(t, code, t->w->close_reason);
	tun_set_end(t, code, 1, t->w->close_reason);
	return TUN_END;
}

/* The peer's end of stream reaches out_fd once all before it is out. */
static void
tun_out_eof(struct tun *t)
{
	if (t->out_shut || !t->s.peer_eof || t->tpoff < t->tplen)
		return;
	t->out_shut = 1;
	if (shutdown(t->out_fd, SHUT_WR) != 0 && t->in_fd != t->out_fd) {
		close(t->out_fd);
		t->end->out_closed = 1;
	}
}

/*
 * The receiving half of a round: read, and write pieces to out_fd until
 * it is behind or nothing is left. *progress set when anything moved.
 */
static int
tun_recv(struct tun *t, int *progress)
{
	struct lk_wsc_ev ev;
	ssize_t r;
	int st;

	for (;;) {
		if (tun_write_tpend(t) != 0)
			goto out_gone;
		if (t->tpoff < t->tplen)
			return TUN_RUN;
		t->out_blocked = 0;
		switch (lk_wsc_peek(t->w, &ev)) {
		case LK_WSC_DATA:
			if ((st = tun_on_data(t, &ev)) < 0)
				goto out_gone;
			if (st == TUN_BLOCKED)
				return TUN_RUN;
			*progress = 1;
			if (st != TUN_RUN)
				return st;
			if (t->out_blocked)
				return TUN_RUN;
			continue;
		case LK_WSC_CLOSED:
			*progress = 1;
			return tun_on_close(t);
		case LK_WSC_ERROR:
			if (t->w->error_code != 0) {
				tun_set_end(t, t->w->error_code, 0,
				    lk_ws_code_name(t->w->error_code));
				return TUN_END;
			}
			return tun_lost(t, LK_WS_ABNORMAL,
			    "connection lost");
		}
		if (!lk_wsc_want_read(t->w) || !lk_wsc_room(t->w))
			return TUN_RUN;
		if ((r = lk_wsc_fill(t->w)) == 0)
			return TUN_RUN;
		if (r > 0)
			*progress = 1;
		/* r < 0: peek reports what was read first, then the loss. */
	}
 out_gone:
	/* Nobody reads our output any more: the session is over. */
	lk_wsc_close(t->w, LK_WS_NORMAL, "local output closed");
	tun_set_end(t, LK_WS_NORMAL, 0, "local output closed");
	return TUN_END;
}

/* ---- time ------------------------------------------------------------- */

/* Silence: ping after keepalive_ms, lost after three times that. */
static int
tun_keepalive(struct tun *t, long long now)
{
	long long last = t->w->last_rx_ms;

	/* While we do not read, the peer's silence is ours. */
	if (t->out_blocked || !lk_wsc_room(t->w))
		t->alive_ms = now;
	if (t->alive_ms > last)
		last = t->alive_ms;
	if (now - last >= 3 * t->conf.keepalive_ms)
		return tun_lost(t, LK_WS_ABNORMAL, "silence");
	if (now - last >= t->conf.keepalive_ms &&
	    now - t->ping_ms >= t->conf.keepalive_ms) {
		t->ping_ms = now;
		if (lk_wsc_ping(t->w, NULL, 0) != 0 || lk_wsc_flush(t->w) != 0)
			return tun_lost(t, LK_WS_ABNORMAL, "connection lost");
	}
	return TUN_RUN;
}

/* poll's timeout: the next ping or loss, or the trim. */
static int
tun_timeout(struct tun *t, long long now)
{
	long long last = t->w->last_rx_ms, next, k = t->conf.keepalive_ms;

	if (t->alive_ms > last)
		last = t->alive_ms;
	if (now - last < k)
		next = last + k;
	else {
		next = last + 3 * k;
		if (t->ping_ms + k < next)
			next = t->ping_ms + k;
	}
	if ((t->s.ring != NULL || t->w->ibuf != NULL) &&
	    t->busy_ms + TUN_TRIM_MS > now && t->busy_ms + TUN_TRIM_MS < next)
		next = t->busy_ms + TUN_TRIM_MS;
	if (t->s.resumable && t->s.recvd != t->s.ack_sent &&
	    t->busy_ms + TUN_ACK_DELAY_MS < next)
		next = t->busy_ms + TUN_ACK_DELAY_MS;
	if (next - now < 1)
		return 1;
	return next - now > 60000 ? 60000 : (int)(next - now);
}

/* ---- the end of a connection ----------------------------------------- */

/* After our close: the handshake, for up to TUN_CLOSE_WAIT_MS. */
static void
tun_close_wait(struct tun *t)
{
	struct lk_wsc_ev ev;
	struct pollfd p;
	long long deadline = lk_now_ms() + TUN_CLOSE_WAIT_MS, left;
	int e;

	while (!lk_wsc_done(t->w) && (left = deadline - lk_now_ms()) > 0) {
		if (lk_wsc_flush(t->w) != 0)
			break;
		while (lk_wsc_want_read(t->w) && lk_wsc_fill(t->w) > 0)
			;
		while ((e = lk_wsc_peek(t->w, &ev)) == LK_WSC_DATA)
			lk_wsc_consume(t->w, ev.n);
		if (e == LK_WSC_ERROR || lk_wsc_done(t->w))
			break;
		p.fd = t->w->fd;
		p.events = (short)((lk_wsc_want_read(t->w) ? POLLIN : 0) |
		    (lk_wsc_want_write(t->w) ? POLLOUT : 0));
		p.revents = 0;
		if (p.events == 0)
			break;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			break;
	}
}

/* Closes with code (unless a close is under way) and waits for it. */
static void
tun_close(struct tun *t, int code, const char *reason)
{
	lk_wsc_close(t->w, code, reason);
	tun_close_wait(t);
}

/* Waits up to ms, or until stop_fd is readable (returns 1). */
static int
tun_sleep(struct tun *t, long long ms)
{
	struct pollfd p = { .fd = t->conf.stop_fd, .events = POLLIN };

	if (ms <= 0)
		return 0;
	if (t->conf.stop_fd < 0) {
		(void)poll(NULL, 0, (int)ms);
		return 0;
	}
	return poll(&p, 1, (int)ms) > 0;
}

/*
 * A lost connection: with resume, a new one through redial (0); else the
 * end of the tunnel (-1, *end filled).
 */
static int
tun_resume(struct tun *t)
{
	char err[128];
	long long lost_at = lk_now_ms(), deadline, backoff = TUN_BACKOFF_MIN_MS;
	struct lk_ws *ws;
	int r;

	lk_ws_free(t->ws);
	t->ws = NULL;
	t->w = NULL;
	if (!t->conf.resumable || t->redial == NULL) {
		tun_set_end(t, t->lost_code, t->lost_code != LK_WS_ABNORMAL,
		    t->lost_why);
		return -1;
	}
	tun_event(t, "lost", t->lost_why);
	lk_stream_reconnect(&t->s);
	t->trailer_sent = 0;
	t->out_blocked = 0;
	if (t->lost_first_ms == 0)
		t->lost_first_ms = lost_at;
	deadline = t->lost_first_ms + t->conf.resume_wait_ms;
	/* After a refused resume, not at once again. */
	if (t->lost_code == LK_WS_RESUME_RANGE &&
	    tun_sleep(t, TUN_BACKOFF_MIN_MS)) {
		tun_set_end(t, LK_WS_GOING_AWAY, 0, "stopping");
		return -1;
	}
	for (;;) {
		if (lk_now_ms() >= deadline) {
			tun_set_end(t, t->lost_code, 0, t->lost_why);
			return -1;
		}
		err[0] = '\0';
		ws = NULL;
		r = t->redial(t->arg, deadline, t->conf.stop_fd, &ws, err,
		    sizeof(err));
		if (r == 0 && ws != NULL)
			break;
		if (r == LK_ERR_STATE) {
			tun_set_end(t, LK_WS_GOING_AWAY, 0, "stopping");
			return -1;
		}
		if (r != LK_ERR_UNAVAILABLE || lk_now_ms() + backoff >=
		    deadline) {
			tun_set_end(t, t->lost_code, 0, err[0] != '\0' ? err :
			    "could not resume");
			return -1;
		}
		if (tun_sleep(t, backoff)) {
			tun_set_end(t, LK_WS_GOING_AWAY, 0, "stopping");
			return -1;
		}
		backoff = backoff * 2 > TUN_BACKOFF_MAX_MS ?
		    TUN_BACKOFF_MAX_MS : backoff * 2;
	}
	t->ws = ws;
	t->w = lk_ws_conn(ws);
	t->alive_ms = t->ping_ms = t->busy_ms = lk_now_ms();
	t->end->resumes++;
	tun_event(t, "resumed", t->lost_why);
	return 0;
}

/* ---- the loop --------------------------------------------------------- */

/* The kick eventfd: read its value so it is not readable again. */
static void
tun_drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

/* Waits for something to do. TUN_RUN, TUN_END (stop) or TUN_LOST. */
static int
tun_poll(struct tun *t, int timeout)
{
	struct pollfd p[6];
	nfds_t n = 0;
	int ik = -1, is = -1, r;
	short ev = 0;

	if (lk_wsc_want_read(t->w) && lk_wsc_room(t->w) && !t->out_blocked &&
	    t->tpoff == t->tplen)
		ev |= POLLIN;
	if (lk_wsc_want_write(t->w))
		ev |= POLLOUT;
	p[n++] = (struct pollfd){ .fd = t->w->fd, .events = ev };
	if (t->in_open && lk_stream_held(&t->s) < t->s.window)
		p[n++] = (struct pollfd){ .fd = t->in_fd, .events = POLLIN };
	if (t->out_blocked || t->tpoff < t->tplen)
		p[n++] = (struct pollfd){ .fd = t->out_fd, .events = POLLOUT };
	if (t->conf.kick_fd >= 0) {
		ik = (int)n;
		p[n++] = (struct pollfd){ .fd = t->conf.kick_fd,
		    .events = POLLIN };
	}
	/* The caller's messages, or the trailer until it is known. */
	if (t->conf.ctl_fd > 0 && (t->conf.next_ctl != NULL ||
	    (t->conf.trailer != NULL && t->trailer_known == 0)))
		p[n++] = (struct pollfd){ .fd = t->conf.ctl_fd,
		    .events = POLLIN };
	if (t->conf.stop_fd >= 0) {
		is = (int)n;
		p[n++] = (struct pollfd){ .fd = t->conf.stop_fd,
		    .events = POLLIN };
	}
	if ((r = poll(p, n, timeout)) < 0 && errno != EINTR)
		return tun_lost(t, LK_WS_ABNORMAL, "poll failed");
	if (r <= 0)
		return TUN_RUN;
	if (is >= 0 && p[is].revents != 0) {
		tun_set_end(t, LK_WS_GOING_AWAY, 0, "stopping");
		tun_close(t, LK_WS_GOING_AWAY, "stopping");
		return TUN_END;
	}
	if (ik >= 0 && p[ik].revents != 0) {
		tun_drain(t->conf.kick_fd);
		return tun_lost(t, LK_WS_ABNORMAL, "kicked");
	}
	return TUN_RUN;
}

/* One round of work, then a wait when there is nothing to do. */
static int
tun_round(struct tun *t)
{
	long long now;
	int progress = 0, st, r, by_peer;

	/*
	 * The receiving half first: a close frame is read before a write
	 * can fail on a connection the peer is closing (a broken lk_wsc is
	 * not read any more).
	 */
	if ((st = tun_recv(t, &progress)) != TUN_RUN)
		return st;
	if ((r = tun_send(t)) < 0)
		return tun_lost(t, LK_WS_ABNORMAL, "connection lost");
	progress |= r;
	tun_out_eof(t);
	if (lk_stream_done(&t->s)) {
		by_peer = t->w->close_rcvd;
		tun_close(t, LK_WS_NORMAL, "");
		tun_set_end(t, LK_WS_NORMAL, by_peer, "");
		return TUN_END;
	}
	now = lk_now_ms();
	if (progress) {
		t->busy_ms = now;
		return TUN_RUN;
	}
	/* Nothing else to do for a while: an ack, if one is owed. */
	if ((r = tun_send_ctl(t, now - t->busy_ms >= TUN_ACK_DELAY_MS)) < 0 ||
	    lk_wsc_flush(t->w) != 0)
		return tun_lost(t, LK_WS_ABNORMAL, "connection lost");
	if (r > 0)
		return TUN_RUN;
	if (now - t->busy_ms >= TUN_TRIM_MS) {
		if (t->ring_refs == 0)
			lk_stream_trim(&t->s);
		lk_wsc_trim(t->w);
	}
	if ((st = tun_keepalive(t, now)) != TUN_RUN)
		return st;
	return tun_poll(t, tun_timeout(t, now));
}

static void
tun_conf(struct tun *t, const struct lk_tunnel_conf *conf)
{
	if (conf != NULL)
		t->conf = *conf;
	else {
		t->conf.kick_fd = -1;
		t->conf.stop_fd = -1;
	}
	if (t->conf.window == 0)
		t->conf.window = LK_STREAM_WINDOW_DEFAULT;
	if (t->conf.keepalive_ms <= 0)
		t->conf.keepalive_ms = LK_TUNNEL_KEEPALIVE_DEFAULT * 1000L;
	if (t->conf.resume_wait_ms <= 0)
		t->conf.resume_wait_ms = LK_TUNNEL_RESUME_WAIT_DEFAULT * 1000L;
}

int
lk_tunnel_run(struct lk_ws *ws, int in_fd, int out_fd,
    const struct lk_tunnel_conf *conf, lk_tunnel_redial_fn redial,
    void *arg, void (*on_event)(void *arg, const char *what,
    const char *detail), struct lk_tunnel_end *end)
{
	struct tun *t;
	int st;

	memset(end, 0, sizeof(*end));
	end->code = LK_WS_ABNORMAL;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		lk_ws_free(ws);
		return LK_ERR_ALLOC;
	}
	tun_conf(t, conf);
	t->redial = redial;
	t->arg = arg;
	t->on_event = on_event;
	t->end = end;
	t->ws = ws;
	t->w = lk_ws_conn(ws);
	t->in_fd = in_fd;
	t->out_fd = out_fd;
	t->in_open = 1;
	t->alive_ms = t->ping_ms = t->busy_ms = lk_now_ms();
	lk_stream_init(&t->s, t->conf.resumable, t->conf.window);
	if (tun_nonblock(in_fd) != 0 || tun_nonblock(out_fd) != 0) {
		tun_set_end(t, LK_WS_INTERNAL, 0, "cannot set up descriptors");
		tun_close(t, LK_WS_INTERNAL, "internal error");
		st = TUN_END;
	} else {
		end->code = 0;
		while ((st = tun_round(t)) != TUN_END)
			if (st == TUN_LOST && tun_resume(t) != 0)
				break;
	}
	if (end->code == LK_WS_NORMAL)
		tun_out_eof(t);
	if (t->w != NULL && !lk_wsc_done(t->w))
		tun_close(t, end->code != 0 ? end->code : LK_WS_INTERNAL,
		    end->reason);
	end->bytes_in = t->max_sent;
	end->bytes_out = t->s.recvd;
	lk_ws_free(t->ws);
	lk_stream_free(&t->s);
	free(t);
	return end->code == LK_WS_NORMAL ? 0 : LK_ERR_SYSTEM;
}
