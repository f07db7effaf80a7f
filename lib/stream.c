/*
 * The resumable byte stream (lib/stream.h): offsets, the replay ring and
 * the control messages. No I/O here; lib/tunnel.c drives it.
 *
 * The ring holds the bytes [base, end) at ring[off % window], where base is
 * acked in resumable mode (everything the peer has not acknowledged, so it
 * can be sent again after a reconnection) and sent in legacy mode (nothing
 * is kept once it went out). It is allocated when input first needs room
 * and freed by lk_stream_trim whenever it holds nothing, so an idle session
 * costs only this structure.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "stream.h"

#define STREAM_DIGITS_MAX	20	/* 2^64 - 1 has 20 digits */

static const struct {
	int		 type;
	const char	*name;
} stream_ctl_names[] = {
	{ LK_STREAM_HELLO,	"hello" },
	{ LK_STREAM_ACK,	"ack" },
	{ LK_STREAM_EOF,	"eof" },
};

/*
 * A decimal number making up all of p[0..n): digits only, no leading zero
 * (except "0" itself), at most 20 digits, below 2^64.
 */
static int
stream_parse_u64(const char *p, size_t n, uint64_t *vp)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > STREAM_DIGITS_MAX || (p[0] == '0' && n > 1))
		return LK_ERR_INVALID_FORMAT;
	for (i = 0; i < n; i++) {
		unsigned d;

		if (p[i] < '0' || p[i] > '9')
			return LK_ERR_INVALID_FORMAT;
		d = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return LK_ERR_INVALID_FORMAT;
		v = v * 10 + d;
	}
	*vp = v;
	return 0;
}

/* The standard signals by name (signal(7)), for signal and exit signal. */
static const struct {
	int		 signo;
	const char	*name;
	int		 sendable;	/* a client may send it */
} stream_sigs[] = {
	{ SIGHUP, "HUP", 1 },	{ SIGINT, "INT", 1 },	{ SIGQUIT, "QUIT", 1 },
	{ SIGILL, "ILL", 0 },	{ SIGTRAP, "TRAP", 0 },	{ SIGABRT, "ABRT", 0 },
	{ SIGBUS, "BUS", 0 },	{ SIGFPE, "FPE", 0 },	{ SIGKILL, "KILL", 1 },
	{ SIGUSR1, "USR1", 1 },	{ SIGSEGV, "SEGV", 0 },	{ SIGUSR2, "USR2", 1 },
	{ SIGPIPE, "PIPE", 0 },	{ SIGALRM, "ALRM", 0 },	{ SIGTERM, "TERM", 1 },
	{ SIGSTKFLT, "STKFLT", 0 }, { SIGCHLD, "CHLD", 0 },
	{ SIGCONT, "CONT", 0 },	{ SIGSTOP, "STOP", 0 },	{ SIGTSTP, "TSTP", 0 },
	{ SIGTTIN, "TTIN", 0 },	{ SIGTTOU, "TTOU", 0 },	{ SIGURG, "URG", 0 },
	{ SIGXCPU, "XCPU", 0 },	{ SIGXFSZ, "XFSZ", 0 },
	{ SIGVTALRM, "VTALRM", 0 }, { SIGPROF, "PROF", 0 },
	{ SIGWINCH, "WINCH", 1 }, { SIGIO, "IO", 0 },	{ SIGPWR, "PWR", 0 },
	{ SIGSYS, "SYS", 0 },
};
#define STREAM_NSIGS	(sizeof(stream_sigs) / sizeof(stream_sigs[0]))

const char *
lk_stream_sig_name(int signo)
{
	size_t i;

	for (i = 0; i < STREAM_NSIGS; i++)
		if (stream_sigs[i].signo == signo)
			return stream_sigs[i].name;
	return NULL;
}

int
lk_stream_sig_parse(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < STREAM_NSIGS; i++)
		if (strlen(stream_sigs[i].name) == n &&
		    memcmp(stream_sigs[i].name, p, n) == 0)
			return stream_sigs[i].signo;
	return 0;
}

int
lk_stream_sig_sendable(int signo)
{
	size_t i;

	for (i = 0; i < STREAM_NSIGS; i++)
		if (stream_sigs[i].signo == signo)
			return stream_sigs[i].sendable;
	return 0;
}

int
lk_stream_ctl_is_shell(int type)
{
	return type == LK_STREAM_WINCH || type == LK_STREAM_SIGNAL ||
	    type == LK_STREAM_EXIT || type == LK_STREAM_EXIT_SIGNAL;
}

/* Does p[0..n) begin with word and a space? */
static int
stream_word(const char *p, size_t n, const char *word)
{
	size_t len = strlen(word);

	return n > len + 1 && memcmp(p, word, len) == 0 && p[len] == ' ';
}

/* "winch C R", "signal NAME", "exit N", "exit signal NAME" (after the word). */
static int
stream_parse_shell(const char *s, size_t n, struct lk_stream_ctl *c)
{
	const char *sp;
	uint64_t a, b;
	int sig;

	if (stream_word(s, n, "winch")) {
		s += 6;
		n -= 6;
		if ((sp = memchr(s, ' ', n)) == NULL ||
		    stream_parse_u64(s, (size_t)(sp - s), &a) != 0 ||
		    stream_parse_u64(sp + 1, n - (size_t)(sp - s) - 1, &b) != 0 ||
		    a < 1 || a > LK_STREAM_WINSZ_MAX || b < 1 ||
		    b > LK_STREAM_WINSZ_MAX)
			return LK_ERR_INVALID_FORMAT;
		c->type = LK_STREAM_WINCH;
		c->n = a;
		c->n2 = b;
		return 0;
	}
	if (stream_word(s, n, "signal")) {
		if ((sig = lk_stream_sig_parse(s + 7, n - 7)) == 0 ||
		    !lk_stream_sig_sendable(sig))
			return LK_ERR_INVALID_FORMAT;
		c->type = LK_STREAM_SIGNAL;
		c->n = (uint64_t)sig;
		return 0;
	}
	if (stream_word(s, n, "exit")) {
		s += 5;
		n -= 5;
		if (stream_word(s, n, "signal")) {
			if ((sig = lk_stream_sig_parse(s + 7, n - 7)) == 0)
				return LK_ERR_INVALID_FORMAT;
			c->type = LK_STREAM_EXIT_SIGNAL;
			c->n = (uint64_t)sig;
			return 0;
		}
		if (stream_parse_u64(s, n, &a) != 0 || a > 255)
			return LK_ERR_INVALID_FORMAT;
		c->type = LK_STREAM_EXIT;
		c->n = a;
		return 0;
	}
	return LK_ERR_INVALID_FORMAT;
}

int
lk_stream_ctl_parse(const void *p, size_t n, struct lk_stream_ctl *c)
{
	const char *s = p;
	size_t i, len;
	uint64_t v;

	if (n > LK_STREAM_CTL_MAX)
		return LK_ERR_INVALID_FORMAT;
	memset(c, 0, sizeof(*c));
	for (i = 0; i < sizeof(stream_ctl_names) / sizeof(stream_ctl_names[0]);
	    i++) {
		len = strlen(stream_ctl_names[i].name);
		if (n <= len + 1 || memcmp(s, stream_ctl_names[i].name, len) != 0 ||
		    s[len] != ' ')
			continue;
		if (stream_parse_u64(s + len + 1, n - len - 1, &v) != 0)
			return LK_ERR_INVALID_FORMAT;
		c->type = stream_ctl_names[i].type;
		c->n = v;
		return 0;
	}
	return stream_parse_shell(s, n, c);
}

size_t
lk_stream_ctl_format(const struct lk_stream_ctl *c, char *buf)
{
	const char *name;
	int len = -1;

	switch (c->type) {
	case LK_STREAM_HELLO:
		len = snprintf(buf, LK_STREAM_CTL_MAX, "hello %" PRIu64, c->n);
		break;
	case LK_STREAM_ACK:
		len = snprintf(buf, LK_STREAM_CTL_MAX, "ack %" PRIu64, c->n);
		break;
	case LK_STREAM_EOF:
		len = snprintf(buf, LK_STREAM_CTL_MAX, "eof %" PRIu64, c->n);
		break;
	case LK_STREAM_WINCH:
		if (c->n >= 1 && c->n <= LK_STREAM_WINSZ_MAX && c->n2 >= 1 &&
		    c->n2 <= LK_STREAM_WINSZ_MAX)
			len = snprintf(buf, LK_STREAM_CTL_MAX, "winch %" PRIu64
			    " %" PRIu64, c->n, c->n2);
		break;
	case LK_STREAM_SIGNAL:
		if (c->n < 64 && lk_stream_sig_sendable((int)c->n) &&
		    (name = lk_stream_sig_name((int)c->n)) != NULL)
			len = snprintf(buf, LK_STREAM_CTL_MAX, "signal %s",
			    name);
		break;
	case LK_STREAM_EXIT:
		if (c->n <= 255)
			len = snprintf(buf, LK_STREAM_CTL_MAX, "exit %" PRIu64,
			    c->n);
		break;
	case LK_STREAM_EXIT_SIGNAL:
		if (c->n < 64 && (name = lk_stream_sig_name((int)c->n)) !=
		    NULL)
			len = snprintf(buf, LK_STREAM_CTL_MAX, "exit signal %s",
			    name);
		break;
	}
	return len > 0 && len < LK_STREAM_CTL_MAX ? (size_t)len : 0;
}

/* Writes "name N" into buf (LK_STREAM_CTL_MAX bytes); returns its length. */
static size_t
stream_ctl_format(int type, uint64_t n, char *buf)
{
	struct lk_stream_ctl c = { type, n, 0 };

	return lk_stream_ctl_format(&c, buf);
}

void
lk_stream_init(struct lk_stream *s, int resumable, size_t window)
{
	memset(s, 0, sizeof(*s));
	s->resumable = resumable != 0;
	if (window < LK_STREAM_WINDOW_MIN)
		window = LK_STREAM_WINDOW_MIN;
	if (window > LK_STREAM_WINDOW_MAX)
		window = LK_STREAM_WINDOW_MAX;
	/* Legacy mode keeps nothing once sent: a read's worth is enough. */
	s->window = s->resumable ? window : LK_STREAM_READ_MAX;
}

void
lk_stream_free(struct lk_stream *s)
{
	free(s->ring);
	s->ring = NULL;
}

/* The oldest offset the ring must keep. */
static uint64_t
stream_base(const struct lk_stream *s)
{
	return s->resumable ? s->acked : s->sent;
}

size_t
lk_stream_held(const struct lk_stream *s)
{
	return (size_t)(s->end - stream_base(s));
}

void
lk_stream_trim(struct lk_stream *s)
{
	if (s->ring != NULL && lk_stream_held(s) == 0) {
		free(s->ring);
		s->ring = NULL;
	}
}

int
lk_stream_in_buf(struct lk_stream *s, uint8_t **p, size_t *n)
{
	size_t room, idx, len;

	*p = NULL;
	*n = 0;
	if (s->in_eof)
		return 0;
	room = s->window - lk_stream_held(s);
	if (room == 0)
		return 0;
	if (s->ring == NULL && (s->ring = malloc(s->window)) == NULL)
		return LK_ERR_ALLOC;
	idx = (size_t)(s->end % s->window);
	len = s->window - idx;
	if (len > room)
		len = room;
	if (len > LK_STREAM_READ_MAX)
		len = LK_STREAM_READ_MAX;
	*p = s->ring + idx;
	*n = len;
	return 0;
}

void
lk_stream_in_commit(struct lk_stream *s, size_t n)
{
	s->end += n;
}

void
lk_stream_in_eof(struct lk_stream *s)
{
	s->in_eof = 1;
}

void
lk_stream_out_next(struct lk_stream *s, const uint8_t **p, size_t *n)
{
	size_t idx, len;

	*p = NULL;
	*n = 0;
	if (s->resumable && (!s->hello_sent || !s->hello_rcvd))
		return;
	if (s->sent == s->end || s->ring == NULL)
		return;
	idx = (size_t)(s->sent % s->window);
	len = s->window - idx;
	if ((uint64_t)len > s->end - s->sent)
		len = (size_t)(s->end - s->sent);
	*p = s->ring + idx;
	*n = len;
}

void
lk_stream_out_commit(struct lk_stream *s, size_t n)
{
	s->sent += n;
}

int
lk_stream_legacy_eof_due(struct lk_stream *s)
{
	if (s->resumable || !s->in_eof || s->eof_sent || s->sent != s->end)
		return 0;
	s->eof_sent = 1;
	return 1;
}

void
lk_stream_delivered(struct lk_stream *s, size_t n)
{
	s->recvd += n;
}

void
lk_stream_legacy_peer_eof(struct lk_stream *s)
{
	s->peer_eof = 1;
}

int
lk_stream_may_recv(const struct lk_stream *s)
{
	if (s->peer_eof)
		return 0;
	return !s->resumable || s->hello_rcvd;
}

int
lk_stream_on_ctl(struct lk_stream *s, const struct lk_stream_ctl *c)
{
	if (!s->resumable)
		return LK_ERR_STATE;
	switch (c->type) {
	case LK_STREAM_HELLO:
		if (s->hello_rcvd)
			return LK_ERR_STATE;
		if (c->n < s->acked || c->n > s->end)
			return LK_ERR_RANGE;
		s->acked = s->sent = c->n;
		s->hello_rcvd = 1;
		return 0;
	case LK_STREAM_ACK:
		if (!s->hello_rcvd)
			return LK_ERR_STATE;
		if (c->n < s->acked || c->n > s->sent)
			return LK_ERR_RANGE;
		s->acked = c->n;
		return 0;
	case LK_STREAM_EOF:
		if (!s->hello_rcvd)
			return LK_ERR_STATE;
		if (c->n != s->recvd)
			return LK_ERR_RANGE;
		s->peer_eof = 1;
		s->ack_now = 1;
		return 0;
	}
	return LK_ERR_INVALID_FORMAT;
}

size_t
lk_stream_ctl_next(struct lk_stream *s, int idle, char *buf)
{
	if (!s->resumable)
		return 0;
	if (!s->hello_sent) {
		s->hello_sent = 1;
		s->ack_sent = s->recvd;
		s->ack_now = 0;
		return stream_ctl_format(LK_STREAM_HELLO, s->recvd, buf);
	}
	if (s->in_eof && !s->eof_sent && !s->eof_hold && s->hello_rcvd &&
	    s->sent == s->end) {
		s->eof_sent = 1;
		return stream_ctl_format(LK_STREAM_EOF, s->end, buf);
	}
	if (s->ack_now || s->recvd - s->ack_sent >= s->window / 4 ||
	    (idle && s->recvd != s->ack_sent)) {
		s->ack_now = 0;
		s->ack_sent = s->recvd;
		return stream_ctl_format(LK_STREAM_ACK, s->recvd, buf);
	}
	return 0;
}

void
lk_stream_reconnect(struct lk_stream *s)
{
	if (!s->resumable)
		return;
	s->sent = s->acked;
	s->eof_sent = 0;
	s->ack_now = 0;
	s->hello_sent = 0;
	s->hello_rcvd = 0;
}

int
lk_stream_done(const struct lk_stream *s)
{
	if (!s->resumable)
		return s->eof_sent && s->peer_eof;
	/*
	 * Also nothing left to acknowledge: the ack of the peer's eof must
	 * be taken (and so queued before our close) for the peer to end.
	 */
	return s->eof_sent && s->acked == s->end && s->peer_eof &&
	    !s->ack_now && s->ack_sent == s->recvd;
}
