/*
 * lib/stream.c: the control messages' parser and formatter, the offset
 * rules, and two streams wired by hand through a simulated transport that
 * now and then loses everything in flight: every byte arrives once and in
 * order, the window is never exceeded, both ends finish, and an idle
 * stream holds no ring.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "stream.h"

/* ---- the parser ------------------------------------------------- */

struct vec {
	const char	*s;
	size_t		 n;		/* 0: strlen(s) */
	int		 type;		/* 0: refused */
	uint64_t	 v;
};

static void
test_ctl_parse_vectors(void **state)
{
	static const struct vec vecs[] = {
		{ "hello 0", 0, LK_STREAM_HELLO, 0 },
		{ "hello 1", 0, LK_STREAM_HELLO, 1 },
		{ "hello 10", 0, LK_STREAM_HELLO, 10 },
		{ "ack 4194304", 0, LK_STREAM_ACK, 4194304 },
		{ "eof 42", 0, LK_STREAM_EOF, 42 },
		{ "eof 0", 0, LK_STREAM_EOF, 0 },
		{ "ack 18446744073709551615", 0, LK_STREAM_ACK, UINT64_MAX },
		{ "hello 9999999999999999999", 0, LK_STREAM_HELLO,
		    9999999999999999999ULL },
		{ "hello 01", 0, 0, 0 },
		{ "hello 00", 0, 0, 0 },
		{ "ack 00000000000000000001", 0, 0, 0 },
		{ "ack -1", 0, 0, 0 },
		{ "ack +1", 0, 0, 0 },
		{ "ack 18446744073709551616", 0, 0, 0 },
		{ "ack 99999999999999999999", 0, 0, 0 },
		{ "ack 100000000000000000000", 0, 0, 0 },	/* 21 digits */
		{ "hello 123456789012345678901", 0, 0, 0 },
		{ "hello 1 ", 0, 0, 0 },
		{ " hello 1", 0, 0, 0 },
		{ "hello  1", 0, 0, 0 },
		{ "hello\t1", 0, 0, 0 },
		{ "hello 1\t", 0, 0, 0 },
		{ "hello 1\n", 0, 0, 0 },
		{ "hello 1\r\n", 0, 0, 0 },
		{ "hello 1\0", 8, 0, 0 },
		{ "hello 1\0002", 9, 0, 0 },
		{ "hello\0 1", 8, 0, 0 },
		{ "", 0, 0, 0 },
		{ "hello", 0, 0, 0 },
		{ "hello ", 0, 0, 0 },
		{ "HELLO 1", 0, 0, 0 },
		{ "Ack 1", 0, 0, 0 },
		{ "hi 1", 0, 0, 0 },
		{ "helloo 1", 0, 0, 0 },
		{ "ackk 1", 0, 0, 0 },
		{ "eof 0x1", 0, 0, 0 },
		{ "eof 1e3", 0, 0, 0 },
		{ "eof 1.0", 0, 0, 0 },
		{ "ack 1 2", 0, 0, 0 },
		{ "hello1", 0, 0, 0 },
	};
	struct lk_stream_ctl c;
	size_t i, n;
	int r;

	(void)state;
	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		n = vecs[i].n != 0 ? vecs[i].n : strlen(vecs[i].s);
		c.type = -1;
		c.n = 7;
		r = lk_stream_ctl_parse(vecs[i].s, n, &c);
		if (vecs[i].type == 0) {
			if (r != LK_ERR_INVALID_FORMAT)
				fail_msg("vector %zu \"%s\": accepted (%d)", i,
				    vecs[i].s, r);
			continue;
		}
		if (r != 0)
			fail_msg("vector %zu \"%s\": refused", i, vecs[i].s);
		assert_int_equal(c.type, vecs[i].type);
		assert_true(c.n == vecs[i].v);
	}
}

/*
 * A shell session's messages (winch, signal, exit): what they say, and
 * hostile values refused (out of range, unknown or unsendable signals,
 * stray spaces, signs, NULs); what parses formats back to the same bytes,
 * and the stream itself does not take them.
 */
struct svec {
	const char	*s;
	size_t		 n;		/* 0: strlen(s) */
	int		 type;		/* 0: refused */
	uint64_t	 a, b;
};

static void
test_ctl_shell(void **state)
{
	static const struct svec vecs[] = {
		{ "winch 80 24", 0, LK_STREAM_WINCH, 80, 24 },
		{ "winch 1 1", 0, LK_STREAM_WINCH, 1, 1 },
		{ "winch 1000 1000", 0, LK_STREAM_WINCH, 1000, 1000 },
		{ "winch 1001 24", 0, 0, 0, 0 },
		{ "winch 80 1001", 0, 0, 0, 0 },
		{ "winch 0 24", 0, 0, 0, 0 },
		{ "winch 80 0", 0, 0, 0, 0 },
		{ "winch 080 24", 0, 0, 0, 0 },
		{ "winch -80 24", 0, 0, 0, 0 },
		{ "winch 80", 0, 0, 0, 0 },
		{ "winch 80 24 1", 0, 0, 0, 0 },
		{ "winch 80  24", 0, 0, 0, 0 },
		{ "winch 18446744073709551696 24", 0, 0, 0, 0 },
		{ "winch 80 24\0", 12, 0, 0, 0 },
		{ "winch  80 24", 0, 0, 0, 0 },
		{ "signal INT", 0, LK_STREAM_SIGNAL, 2, 0 },
		{ "signal TERM", 0, LK_STREAM_SIGNAL, 15, 0 },
		{ "signal HUP", 0, LK_STREAM_SIGNAL, 1, 0 },
		{ "signal QUIT", 0, LK_STREAM_SIGNAL, 3, 0 },
		{ "signal KILL", 0, LK_STREAM_SIGNAL, 9, 0 },
		{ "signal USR1", 0, LK_STREAM_SIGNAL, 10, 0 },
		{ "signal USR2", 0, LK_STREAM_SIGNAL, 12, 0 },
		{ "signal WINCH", 0, LK_STREAM_SIGNAL, 28, 0 },
		{ "signal SEGV", 0, 0, 0, 0 },
		{ "signal STOP", 0, 0, 0, 0 },
		{ "signal 9", 0, 0, 0, 0 },
		{ "signal SIGINT", 0, 0, 0, 0 },
		{ "signal int", 0, 0, 0, 0 },
		{ "signal INT ", 0, 0, 0, 0 },
		{ "signal ", 0, 0, 0, 0 },
		{ "signal INT\0", 11, 0, 0, 0 },
		{ "exit 0", 0, LK_STREAM_EXIT, 0, 0 },
		{ "exit 3", 0, LK_STREAM_EXIT, 3, 0 },
		{ "exit 255", 0, LK_STREAM_EXIT, 255, 0 },
		{ "exit 256", 0, 0, 0, 0 },
		{ "exit -1", 0, 0, 0, 0 },
		{ "exit 03", 0, 0, 0, 0 },
		{ "exit", 0, 0, 0, 0 },
		{ "exit ", 0, 0, 0, 0 },
		{ "exit 3 4", 0, 0, 0, 0 },
		{ "exit signal SEGV", 0, LK_STREAM_EXIT_SIGNAL, 11, 0 },
		{ "exit signal KILL", 0, LK_STREAM_EXIT_SIGNAL, 9, 0 },
		{ "exit signal FOO", 0, 0, 0, 0 },
		{ "exit signal 9", 0, 0, 0, 0 },
		{ "exit signal", 0, 0, 0, 0 },
		{ "exit signal ", 0, 0, 0, 0 },
		{ "exit signal KILL ", 0, 0, 0, 0 },
	};
	struct lk_stream_ctl c;
	struct lk_stream s;
	char buf[LK_STREAM_CTL_MAX];
	size_t i, n;
	int r;

	(void)state;
	lk_stream_init(&s, 1, 0);
	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		n = vecs[i].n != 0 ? vecs[i].n : strlen(vecs[i].s);
		r = lk_stream_ctl_parse(vecs[i].s, n, &c);
		if (vecs[i].type == 0) {
			if (r != LK_ERR_INVALID_FORMAT)
				fail_msg("vector %zu \"%s\": accepted (%d)", i,
				    vecs[i].s, r);
			continue;
		}
		if (r != 0)
			fail_msg("vector %zu \"%s\": refused", i, vecs[i].s);
		assert_int_equal(c.type, vecs[i].type);
		assert_true(c.n == vecs[i].a && c.n2 == vecs[i].b);
		assert_true(lk_stream_ctl_is_shell(c.type));
		assert_int_equal(lk_stream_ctl_format(&c, buf), n);
		assert_memory_equal(buf, vecs[i].s, n);
		/* Not the stream's: refused, nothing changed. */
		assert_int_equal(lk_stream_on_ctl(&s, &c),
		    LK_ERR_INVALID_FORMAT);
	}
	/* Values the formatter cannot say give nothing to send. */
	c = (struct lk_stream_ctl){ LK_STREAM_EXIT, 256, 0 };
	assert_int_equal(lk_stream_ctl_format(&c, buf), 0);
	c = (struct lk_stream_ctl){ LK_STREAM_WINCH, 0, 5 };
	assert_int_equal(lk_stream_ctl_format(&c, buf), 0);
	c = (struct lk_stream_ctl){ LK_STREAM_SIGNAL, 11, 0 };
	assert_int_equal(lk_stream_ctl_format(&c, buf), 0);
	c = (struct lk_stream_ctl){ LK_STREAM_EXIT_SIGNAL, 99, 0 };
	assert_int_equal(lk_stream_ctl_format(&c, buf), 0);
	assert_false(lk_stream_ctl_is_shell(LK_STREAM_HELLO));
	lk_stream_free(&s);
}

/* eof_hold keeps the eof back (the shell's exit goes first), then not. */
static void
test_eof_hold(void **state)
{
	struct lk_stream s;
	struct lk_stream_ctl c = { LK_STREAM_HELLO, 0, 0 };
	char buf[LK_STREAM_CTL_MAX];
	size_t n;

	(void)state;
	lk_stream_init(&s, 1, 0);
	assert_true(lk_stream_ctl_next(&s, 0, buf) > 0);	/* hello */
	assert_int_equal(lk_stream_on_ctl(&s, &c), 0);
	lk_stream_in_eof(&s);
	s.eof_hold = 1;
	assert_int_equal(lk_stream_ctl_next(&s, 0, buf), 0);
	s.eof_hold = 0;
	n = lk_stream_ctl_next(&s, 0, buf);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "eof 0", 5);
	lk_stream_free(&s);
}

/* Over LK_STREAM_CTL_MAX bytes is refused, and the pointer is not read
 * as a C string (no NUL at the end). */
static void
test_ctl_parse_long(void **state)
{
	char buf[LK_STREAM_CTL_MAX + 8];
	struct lk_stream_ctl c;

	(void)state;
	memset(buf, '1', sizeof(buf));
	memcpy(buf, "ack ", 4);
	assert_int_equal(lk_stream_ctl_parse(buf, sizeof(buf), &c),
	    LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_stream_ctl_parse(buf, 5, &c), 0);
	assert_int_equal(c.type, LK_STREAM_ACK);
	assert_true(c.n == 1);
}

/* ---- the rules --------------------------------------------------- */

static void
ctl_ok(struct lk_stream *s, int type, uint64_t n)
{
	struct lk_stream_ctl c = { type, n, 0 };

	assert_int_equal(lk_stream_on_ctl(s, &c), 0);
}

/* on_ctl fails with want and changes nothing. */
static void
ctl_bad(struct lk_stream *s, int type, uint64_t n, int want)
{
	struct lk_stream_ctl c = { type, n, 0 };
	struct lk_stream before = *s;

	assert_int_equal(lk_stream_on_ctl(s, &c), want);
	assert_memory_equal(&before, s, sizeof(before));
}

/* Puts n bytes of input into s. */
static void
feed(struct lk_stream *s, size_t n)
{
	uint8_t *p;
	size_t room;

	while (n > 0) {
		assert_int_equal(lk_stream_in_buf(s, &p, &room), 0);
		assert_true(room > 0);
		if (room > n)
			room = n;
		memset(p, 'x', room);
		lk_stream_in_commit(s, room);
		n -= room;
	}
}

static size_t
take_ctl(struct lk_stream *s, int idle, struct lk_stream_ctl *c)
{
	char buf[LK_STREAM_CTL_MAX];
	size_t n;

	n = lk_stream_ctl_next(s, idle, buf);
	if (n > 0)
		assert_int_equal(lk_stream_ctl_parse(buf, n, c), 0);
	return n;
}

static void
test_rules(void **state)
{
	struct lk_stream s;
	struct lk_stream_ctl c;
	const uint8_t *p;
	size_t n;

	(void)state;
	lk_stream_init(&s, 1, 0);
	assert_int_equal(s.window, LK_STREAM_WINDOW_MIN);
	feed(&s, 1000);
	/* Nothing before the peer's hello: no data, no ack or eof taken. */
	lk_stream_out_next(&s, &p, &n);
	assert_int_equal(n, 0);
	assert_false(lk_stream_may_recv(&s));
	ctl_bad(&s, LK_STREAM_ACK, 0, LK_ERR_STATE);
	ctl_bad(&s, LK_STREAM_EOF, 0, LK_ERR_STATE);
	/* A hello beyond what was taken is out of range. */
	ctl_bad(&s, LK_STREAM_HELLO, 1001, LK_ERR_RANGE);
	ctl_bad(&s, LK_STREAM_HELLO, UINT64_MAX, LK_ERR_RANGE);
	/* Our hello comes first, and carries what we received (0). */
	assert_int_equal(take_ctl(&s, 1, &c), 7);
	assert_int_equal(c.type, LK_STREAM_HELLO);
	assert_true(c.n == 0);
	ctl_ok(&s, LK_STREAM_HELLO, 0);
	ctl_bad(&s, LK_STREAM_HELLO, 0, LK_ERR_STATE);
	assert_true(lk_stream_may_recv(&s));
	lk_stream_out_next(&s, &p, &n);
	assert_int_equal(n, 1000);
	lk_stream_out_commit(&s, 600);
	/* ack: within [acked, sent]. */
	ctl_bad(&s, LK_STREAM_ACK, 601, LK_ERR_RANGE);
	ctl_ok(&s, LK_STREAM_ACK, 100);
	ctl_bad(&s, LK_STREAM_ACK, 99, LK_ERR_RANGE);
	ctl_ok(&s, LK_STREAM_ACK, 100);
	ctl_ok(&s, LK_STREAM_ACK, 600);
	assert_int_equal(lk_stream_held(&s), 400);
	/* eof: at recvd only. */
	lk_stream_delivered(&s, 50);
	ctl_bad(&s, LK_STREAM_EOF, 49, LK_ERR_RANGE);
	ctl_bad(&s, LK_STREAM_EOF, 51, LK_ERR_RANGE);
	ctl_bad(&s, LK_STREAM_EOF, UINT64_MAX, LK_ERR_RANGE);
	ctl_ok(&s, LK_STREAM_EOF, 50);
	assert_false(lk_stream_may_recv(&s));
	/* The peer's eof asks for an ack at once. */
	assert_int_equal(take_ctl(&s, 0, &c), 6);
	assert_int_equal(c.type, LK_STREAM_ACK);
	assert_true(c.n == 50);
	assert_int_equal(take_ctl(&s, 1, &c), 0);
	/* A reconnection: hello again; out of [acked, end] is refused. */
	lk_stream_reconnect(&s);
	assert_true(s.sent == 600);
	ctl_bad(&s, LK_STREAM_ACK, 600, LK_ERR_STATE);
	ctl_bad(&s, LK_STREAM_HELLO, 599, LK_ERR_RANGE);
	ctl_bad(&s, LK_STREAM_HELLO, 1001, LK_ERR_RANGE);
	ctl_ok(&s, LK_STREAM_HELLO, 1000);
	assert_true(s.acked == 1000 && s.sent == 1000);
	/* eof goes once everything before it was sent. */
	assert_int_equal(take_ctl(&s, 0, &c), 8);
	assert_int_equal(c.type, LK_STREAM_HELLO);
	assert_true(c.n == 50);
	assert_int_equal(take_ctl(&s, 1, &c), 0);
	lk_stream_in_eof(&s);
	assert_false(lk_stream_done(&s));
	assert_int_equal(take_ctl(&s, 0, &c), 8);
	assert_int_equal(c.type, LK_STREAM_EOF);
	assert_true(c.n == 1000);
	assert_true(lk_stream_done(&s));
	/* Nothing unacknowledged: the ring goes. */
	assert_non_null(s.ring);
	lk_stream_trim(&s);
	assert_null(s.ring);
	lk_stream_free(&s);
}

/* The window: no more than window bytes unacknowledged, and the ring is
 * kept while any are. */
static void
test_window(void **state)
{
	struct lk_stream s;
	struct lk_stream_ctl c;
	const uint8_t *p;
	uint8_t *q;
	size_t n, total = 0;

	(void)state;
	lk_stream_init(&s, 1, (size_t)LK_STREAM_WINDOW_MAX * 2);
	assert_int_equal(s.window, LK_STREAM_WINDOW_MAX);
	lk_stream_init(&s, 1, 100 * 1024);
	assert_null(s.ring);
	for (;;) {
		assert_int_equal(lk_stream_in_buf(&s, &q, &n), 0);
		if (n == 0)
			break;
		assert_true(n <= LK_STREAM_READ_MAX);
		lk_stream_in_commit(&s, n);
		total += n;
	}
	assert_int_equal(total, 100 * 1024);
	assert_int_equal(lk_stream_held(&s), 100 * 1024);
	take_ctl(&s, 0, &c);
	ctl_ok(&s, LK_STREAM_HELLO, 0);
	lk_stream_out_next(&s, &p, &n);
	assert_int_equal(n, 100 * 1024);
	lk_stream_out_commit(&s, n);
	lk_stream_trim(&s);
	assert_non_null(s.ring);
	ctl_ok(&s, LK_STREAM_ACK, 30000);
	/* Room again, up to the ring's end, then from its start. */
	assert_int_equal(lk_stream_in_buf(&s, &q, &n), 0);
	assert_int_equal(n, 30000);
	assert_ptr_equal(q, s.ring);
	/* A quarter window received is acknowledged without idling. */
	take_ctl(&s, 0, &c);
	lk_stream_delivered(&s, s.window / 4 - 1);
	assert_int_equal(take_ctl(&s, 0, &c), 0);
	lk_stream_delivered(&s, 1);
	assert_true(take_ctl(&s, 0, &c) > 0);
	assert_int_equal(c.type, LK_STREAM_ACK);
	assert_true(c.n == s.window / 4);
	assert_int_equal(take_ctl(&s, 1, &c), 0);
	lk_stream_delivered(&s, 1);
	assert_int_equal(take_ctl(&s, 0, &c), 0);
	assert_true(take_ctl(&s, 1, &c) > 0);
	assert_true(c.n == s.window / 4 + 1);
	lk_stream_free(&s);
}

/* Legacy mode: no control message, nothing kept once sent. */
static void
test_legacy(void **state)
{
	struct lk_stream s;
	const uint8_t *p;
	char buf[LK_STREAM_CTL_MAX];
	struct lk_stream_ctl c = { LK_STREAM_HELLO, 0, 0 };
	size_t n;

	(void)state;
	lk_stream_init(&s, 0, 0);
	assert_int_equal(lk_stream_ctl_next(&s, 1, buf), 0);
	assert_int_equal(lk_stream_on_ctl(&s, &c), LK_ERR_STATE);
	assert_true(lk_stream_may_recv(&s));
	feed(&s, 5000);
	lk_stream_out_next(&s, &p, &n);
	assert_int_equal(n, 5000);
	lk_stream_out_commit(&s, 5000);
	assert_int_equal(lk_stream_held(&s), 0);
	lk_stream_trim(&s);
	assert_null(s.ring);
	assert_false(lk_stream_legacy_eof_due(&s));
	lk_stream_in_eof(&s);
	assert_true(lk_stream_legacy_eof_due(&s));
	assert_false(lk_stream_legacy_eof_due(&s));
	assert_false(lk_stream_done(&s));
	lk_stream_legacy_peer_eof(&s);
	assert_false(lk_stream_may_recv(&s));
	assert_true(lk_stream_done(&s));
	lk_stream_free(&s);
}

/* ---- two ends through a lossy transport --------------------------- */

struct msg {
	int		 ctl;
	size_t		 n;
	uint8_t		*p;
};

/* Messages in flight one way, in order. */
struct chan {
	struct msg	*q;
	size_t		 head, len, cap;
};

struct end {
	struct lk_stream s;
	const uint8_t	*src;		/* what this end sends */
	size_t		 srclen, srcoff;
	const uint8_t	*want;		/* what it must receive */
	size_t		 wantlen;
	struct chan	 out;		/* towards the peer */
};

static uint64_t rng_state;

static uint32_t
rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

static void
chan_push(struct chan *c, int ctl, const void *p, size_t n)
{
	struct msg *m;

	if (c->head + c->len == c->cap) {
		if (c->head > 0) {
			memmove(c->q, c->q + c->head, c->len * sizeof(*m));
			c->head = 0;
		} else {
			c->cap = c->cap ? c->cap * 2 : 64;
			assert_non_null(c->q = realloc(c->q,
			    c->cap * sizeof(*m)));
		}
	}
	m = &c->q[c->head + c->len++];
	m->ctl = ctl;
	m->n = n;
	assert_non_null(m->p = malloc(n ? n : 1));
	memcpy(m->p, p, n);
}

static void
chan_drop(struct chan *c)
{
	while (c->len > 0) {
		free(c->q[c->head].p);
		c->head++;
		c->len--;
	}
	c->head = 0;
}

/* One round of an end: control messages, local input, sending. */
static int
end_send(struct end *e, int idle)
{
	char buf[LK_STREAM_CTL_MAX];
	const uint8_t *p;
	uint8_t *q;
	size_t n, k;
	int moved = 0;

	while ((n = lk_stream_ctl_next(&e->s, idle, buf)) > 0) {
		assert_true(n < LK_STREAM_CTL_MAX);
		chan_push(&e->out, 1, buf, n);
		moved = 1;
	}
	if (e->srcoff < e->srclen) {
		assert_int_equal(lk_stream_in_buf(&e->s, &q, &n), 0);
		k = 1 + rng() % (LK_STREAM_READ_MAX / 2);
		if (k > n)
			k = n;
		if (k > e->srclen - e->srcoff)
			k = e->srclen - e->srcoff;
		if (k > 0)
			memcpy(q, e->src + e->srcoff, k);
		lk_stream_in_commit(&e->s, k);
		e->srcoff += k;
		moved |= k > 0;
	} else if (!e->s.in_eof) {
		lk_stream_in_eof(&e->s);
		moved = 1;
	}
	assert_true(lk_stream_held(&e->s) <= e->s.window);
	lk_stream_out_next(&e->s, &p, &n);
	if (n > 0) {
		k = 1 + rng() % n;
		chan_push(&e->out, 0, p, k);
		lk_stream_out_commit(&e->s, k);
		moved = 1;
	}
	return moved;
}

/* Delivers up to max messages of c to e. */
static int
end_recv(struct end *e, struct chan *c, size_t max)
{
	struct lk_stream_ctl ctl;
	struct msg *m;
	int moved = 0;

	while (c->len > 0 && max-- > 0) {
		m = &c->q[c->head];
		if (m->ctl) {
			assert_int_equal(lk_stream_ctl_parse(m->p, m->n, &ctl),
			    0);
			assert_int_equal(lk_stream_on_ctl(&e->s, &ctl), 0);
		} else {
			assert_true(lk_stream_may_recv(&e->s));
			assert_true(e->s.recvd + m->n <= e->wantlen);
			if (memcmp(e->want + e->s.recvd, m->p, m->n) != 0)
				fail_msg("bytes at %llu differ",
				    (unsigned long long)e->s.recvd);
			lk_stream_delivered(&e->s, m->n);
		}
		free(m->p);
		c->head++;
		/* Now and then a hostile message, refused, changing nothing. */
		if (rng() % 8 == 0 && e->s.hello_rcvd) {
			ctl_bad(&e->s, LK_STREAM_HELLO, e->s.acked,
			    LK_ERR_STATE);
			ctl_bad(&e->s, LK_STREAM_ACK, e->s.sent + 1,
			    LK_ERR_RANGE);
			if (e->s.acked > 0)
				ctl_bad(&e->s, LK_STREAM_ACK, e->s.acked - 1,
				    LK_ERR_RANGE);
			ctl_bad(&e->s, LK_STREAM_EOF, e->s.recvd + 1,
			    LK_ERR_RANGE);
		}
		c->len--;
		moved = 1;
	}
	return moved;
}

static uint8_t *
random_bytes(size_t n)
{
	uint8_t *p;
	size_t i;

	assert_non_null(p = malloc(n));
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)rng();
	return p;
}

/*
 * Moves la bytes A → B and lb bytes B → A with the given window, dropping
 * everything in flight about once per crash_every rounds (0: never).
 * Returns the number of crashes.
 */
static unsigned
run_pair(uint64_t seed, size_t la, size_t lb, size_t window,
    unsigned crash_every)
{
	struct end a, b;
	uint8_t *da, *db;
	unsigned rounds = 0, crashes = 0, quiet = 0;
	int moved;

	rng_state = seed;
	da = random_bytes(la);
	db = random_bytes(lb);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	lk_stream_init(&a.s, 1, window);
	lk_stream_init(&b.s, 1, window);
	a.src = da, a.srclen = la, a.want = db, a.wantlen = lb;
	b.src = db, b.srclen = lb, b.want = da, b.wantlen = la;
	while (!lk_stream_done(&a.s) || !lk_stream_done(&b.s)) {
		assert_true(++rounds < 1000000);
		moved = end_send(&a, quiet > 0);
		moved |= end_send(&b, quiet > 0);
		moved |= end_recv(&b, &a.out, 1 + rng() % 8);
		moved |= end_recv(&a, &b.out, 1 + rng() % 8);
		quiet = moved ? 0 : quiet + 1;
		assert_true(quiet < 3);
		if (crash_every != 0 && rng() % crash_every == 0) {
			chan_drop(&a.out);
			chan_drop(&b.out);
			lk_stream_reconnect(&a.s);
			lk_stream_reconnect(&b.s);
			crashes++;
		}
		if (rng() % 16 == 0) {
			lk_stream_trim(&a.s);
			lk_stream_trim(&b.s);
		}
	}
	print_message("%zu/%zu bytes, window %zu: %u rounds, %u crashes\n",
	    la, lb, window, rounds, crashes);
	assert_true(a.s.recvd == lb && b.s.recvd == la);
	assert_true(a.s.acked == la && b.s.acked == lb);
	/* Both done: nothing held, the rings go. */
	lk_stream_trim(&a.s);
	lk_stream_trim(&b.s);
	assert_null(a.s.ring);
	assert_null(b.s.ring);
	chan_drop(&a.out);
	chan_drop(&b.out);
	free(a.out.q);
	free(b.out.q);
	lk_stream_free(&a.s);
	lk_stream_free(&b.s);
	free(da);
	free(db);
	return crashes;
}

static void
test_pair_no_loss(void **state)
{
	(void)state;
	assert_int_equal(run_pair(1, 4 << 20, 3 << 20, 256 * 1024, 0), 0);
	/* One way only, and nothing either way. */
	run_pair(2, 1 << 20, 0, LK_STREAM_WINDOW_MIN, 0);
	run_pair(3, 0, 0, LK_STREAM_WINDOW_MIN, 0);
}

static void
test_pair_lossy(void **state)
{
	unsigned crashes;

	(void)state;
	/* A small window wraps the ring often. */
	crashes = run_pair(4, 5 << 20, 4 << 20, LK_STREAM_WINDOW_MIN, 40);
	assert_true(crashes > 10);
	crashes = run_pair(5, 6 << 20, 6 << 20, 1 << 20, 4);
	assert_true(crashes > 10);
	/* Crashes so frequent that hellos themselves are lost. */
	crashes = run_pair(6, 1 << 20, 1 << 20, LK_STREAM_WINDOW_MIN, 3);
	assert_true(crashes > 50);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctl_parse_vectors),
		cmocka_unit_test(test_ctl_parse_long),
		cmocka_unit_test(test_ctl_shell),
		cmocka_unit_test(test_eof_hold),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_legacy),
		cmocka_unit_test(test_pair_no_loss),
		cmocka_unit_test(test_pair_lossy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
