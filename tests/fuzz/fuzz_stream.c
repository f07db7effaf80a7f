/*
 * libFuzzer harness for lib/stream.c. The first byte picks the part:
 *  - even: the control-message parser, the shell session's messages
 *    (winch, signal, exit) too. What parses formats back to the same
 *    bytes, with values in their documented ranges; what is refused is
 *    not of the documented form; the stream never takes a shell message.
 *  - odd: the rest drives two streams through a transport that may lose
 *    everything in flight (reconnect), one operation per byte. Checked at
 *    every step: no more than window bytes held, every byte received is
 *    the one sent at that offset, control messages the streams make parse,
 *    each stream accepts exactly the peer messages its rules allow (tried
 *    on a copy, with random values) and a refusal changes nothing; at the
 *    end, run without losses, both finish and hold no ring.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "stream.h"

#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

#define FLIGHT_MAX	256	/* messages in flight one way */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the parser ---------------------------------------------------- */

static void
fuzz_parse(const uint8_t *p, size_t n)
{
	struct lk_stream_ctl c;
	struct lk_stream s;
	char buf[LK_STREAM_CTL_MAX + 1];
	size_t len;

	if (lk_stream_ctl_parse(p, n, &c) != 0)
		return;
	switch (c.type) {
	case LK_STREAM_HELLO:
	case LK_STREAM_ACK:
	case LK_STREAM_EOF:
		CHECK(c.n2 == 0);
		break;
	case LK_STREAM_WINCH:
		CHECK(c.n >= 1 && c.n <= LK_STREAM_WINSZ_MAX);
		CHECK(c.n2 >= 1 && c.n2 <= LK_STREAM_WINSZ_MAX);
		break;
	case LK_STREAM_SIGNAL:
		CHECK(lk_stream_sig_sendable((int)c.n));
		break;
	case LK_STREAM_EXIT:
		CHECK(c.n <= 255);
		break;
	case LK_STREAM_EXIT_SIGNAL:
		CHECK(lk_stream_sig_name((int)c.n) != NULL);
		break;
	default:
		abort();
	}
	len = lk_stream_ctl_format(&c, buf);
	CHECK(len > 0 && len == n && memcmp(buf, p, n) == 0);
	if (lk_stream_ctl_is_shell(c.type)) {
		lk_stream_init(&s, 1, 0);
		CHECK(lk_stream_on_ctl(&s, &c) == LK_ERR_INVALID_FORMAT);
		lk_stream_free(&s);
	}
}

/* ---- two streams ---------------------------------------------------- */

struct msg {
	int		ctl;
	uint64_t	off;		/* data: the stream offset of p[0] */
	size_t		n;
	char		text[LK_STREAM_CTL_MAX];
};

struct side {
	struct lk_stream s;
	int		 dir;		/* 0: A → B data, 1: B → A */
	struct msg	 q[FLIGHT_MAX];	/* towards the peer */
	size_t		 head, len;
};

/* The byte at offset off of direction dir: checkable without a copy. */
static uint8_t
byte_at(int dir, uint64_t off)
{
	uint64_t x = off * 0x9e3779b97f4a7c15ULL + (uint64_t)dir;

	return (uint8_t)(x >> 56 ^ x >> 29);
}

static void
side_input(struct side *x, size_t want)
{
	uint8_t *p;
	size_t n, i;

	CHECK(lk_stream_in_buf(&x->s, &p, &n) == 0);
	if (n > want)
		n = want;
	for (i = 0; i < n; i++)
		p[i] = byte_at(x->dir, x->s.end + i);
	lk_stream_in_commit(&x->s, n);
	CHECK(lk_stream_held(&x->s) <= x->s.window);
}

static void
side_push(struct side *x, const struct msg *m)
{
	CHECK(x->len < FLIGHT_MAX);
	x->q[(x->head + x->len++) % FLIGHT_MAX] = *m;
}

/* Control messages due, then up to want bytes of data. */
static void
side_send(struct side *x, int idle, size_t want)
{
	struct lk_stream_ctl c;
	struct msg m;
	const uint8_t *p;
	size_t n, i;

	while (x->len < FLIGHT_MAX &&
	    (n = lk_stream_ctl_next(&x->s, idle, m.text)) > 0) {
		CHECK(n < LK_STREAM_CTL_MAX);
		CHECK(lk_stream_ctl_parse(m.text, n, &c) == 0);
		m.ctl = 1;
		m.n = n;
		side_push(x, &m);
	}
	lk_stream_out_next(&x->s, &p, &n);
	if (n == 0 || x->len == FLIGHT_MAX)
		return;
	if (n > want)
		n = want;
	/* The ring holds what was read, at its offset. */
	for (i = 0; i < n; i++)
		CHECK(p[i] == byte_at(x->dir, x->s.sent + i));
	m.ctl = 0;
	m.off = x->s.sent;
	m.n = n;
	side_push(x, &m);
	lk_stream_out_commit(&x->s, n);
}

/* What lk_stream_on_ctl must answer, by the rules of lib/stream.h. */
static int
expect_ctl(const struct lk_stream *s, const struct lk_stream_ctl *c)
{
	switch (c->type) {
	case LK_STREAM_HELLO:
		if (s->hello_rcvd)
			return LK_ERR_STATE;
		return c->n >= s->acked && c->n <= s->end ? 0 : LK_ERR_RANGE;
	case LK_STREAM_ACK:
		if (!s->hello_rcvd)
			return LK_ERR_STATE;
		return c->n >= s->acked && c->n <= s->sent ? 0 : LK_ERR_RANGE;
	default:
		if (!s->hello_rcvd)
			return LK_ERR_STATE;
		return c->n == s->recvd ? 0 : LK_ERR_RANGE;
	}
}

/* A peer message of any value, tried on a copy of s. */
static void
try_ctl(const struct lk_stream *s, int type, uint64_t n)
{
	struct lk_stream copy = *s, before = *s;
	struct lk_stream_ctl c = { type, n, 0 };
	int r, want = expect_ctl(s, &c);

	r = lk_stream_on_ctl(&copy, &c);
	CHECK(r == want);
	if (r != 0)
		CHECK(memcmp(&copy, &before, sizeof(copy)) == 0);
}

/* Delivers up to max messages of from's queue to to. */
static void
side_deliver(struct side *from, struct side *to, size_t max)
{
	struct lk_stream_ctl c;
	struct msg *m;

	while (from->len > 0 && max-- > 0) {
		m = &from->q[from->head];
		from->head = (from->head + 1) % FLIGHT_MAX;
		from->len--;
		if (m->ctl) {
			CHECK(lk_stream_ctl_parse(m->text, m->n, &c) == 0);
			CHECK(expect_ctl(&to->s, &c) == 0);
			CHECK(lk_stream_on_ctl(&to->s, &c) == 0);
			continue;
		}
		/*
		 * In order, exactly once (side_send checked that the bytes
		 * are those of their offset).
		 */
		CHECK(lk_stream_may_recv(&to->s));
		CHECK(m->off == to->s.recvd);
		lk_stream_delivered(&to->s, m->n);
	}
}

static void
reconnect(struct side *a, struct side *b)
{
	a->len = b->len = 0;
	lk_stream_reconnect(&a->s);
	lk_stream_reconnect(&b->s);
}

static uint64_t
get_u64(const uint8_t **p, size_t *n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8 && *n > 0; i++, (*p)++, (*n)--)
		v = v << 8 | **p;
	return v;
}

static void
fuzz_pair(const uint8_t *p, size_t n)
{
	struct side *ab;
	struct side *a, *b, *x;
	uint8_t op;
	int rounds;

	CHECK((ab = calloc(2, sizeof(*ab))) != NULL);
	a = &ab[0];
	b = &ab[1];
	lk_stream_init(&a->s, 1, LK_STREAM_WINDOW_MIN);
	lk_stream_init(&b->s, 1, LK_STREAM_WINDOW_MIN);
	b->dir = 1;
	while (n > 0) {
		op = *p++;
		n--;
		x = op & 1 ? b : a;
		switch ((op >> 1) % 8) {
		case 0:
			side_input(x, (size_t)(op >> 4) << 12 | 1);
			break;
		case 1:
			side_send(x, op >> 7, (size_t)1 << (op >> 4));
			break;
		case 2:
			side_deliver(x == a ? b : a, x, 1 + (op >> 4));
			break;
		case 3:
			reconnect(a, b);
			break;
		case 4:
			lk_stream_in_eof(&x->s);
			break;
		case 5:
			lk_stream_trim(&x->s);
			if (lk_stream_held(&x->s) == 0)
				CHECK(x->s.ring == NULL);
			break;
		case 6:
			try_ctl(&x->s, 1 + (op >> 4) % 3, get_u64(&p, &n));
			break;
		case 7:
			/* Near the edges of the valid ranges. */
			try_ctl(&x->s, 1 + (op >> 4) % 3,
			    x->s.acked + (op >> 6) - 1);
			try_ctl(&x->s, 1 + (op >> 4) % 3,
			    x->s.sent + (op >> 6) - 1);
			try_ctl(&x->s, 1 + (op >> 4) % 3,
			    x->s.end + (op >> 6) - 1);
			try_ctl(&x->s, 1 + (op >> 4) % 3,
			    x->s.recvd + (op >> 6) - 1);
			break;
		}
		CHECK(lk_stream_held(&a->s) <= a->s.window);
		CHECK(lk_stream_held(&b->s) <= b->s.window);
	}
	/* No more losses: everything goes through and both end. */
	lk_stream_in_eof(&a->s);
	lk_stream_in_eof(&b->s);
	for (rounds = 0; !lk_stream_done(&a->s) || !lk_stream_done(&b->s);
	    rounds++) {
		CHECK(rounds < 10000);
		side_send(a, rounds % 2, LK_STREAM_WINDOW_MIN);
		side_send(b, rounds % 2, LK_STREAM_WINDOW_MIN);
		side_deliver(a, b, FLIGHT_MAX);
		side_deliver(b, a, FLIGHT_MAX);
	}
	CHECK(a->s.recvd == b->s.end && b->s.recvd == a->s.end);
	lk_stream_trim(&a->s);
	lk_stream_trim(&b->s);
	CHECK(a->s.ring == NULL && b->s.ring == NULL);
	lk_stream_free(&a->s);
	lk_stream_free(&b->s);
	free(ab);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_parse(data + 1, size - 1);
	else
		fuzz_pair(data + 1, size - 1);
	return 0;
}
