/*
 * struct lk_wsc (lib/wsconn.c, lib/wsframe.c) on hostile input, as the
 * relay (server role) and the tunnel's ends (client role) read it.
 *
 * Input: one byte b, then b % 32 bytes tried as a Sec-WebSocket-Key
 * (lk_ws_key_valid, lk_ws_accept), then the byte stream the peer sends
 * after the opening handshake. b & 0x20 picks the client role, else the
 * server role. The stream is read through a custom lk_wsc_io in chunks of
 * varying size (as a socket gives it, EAGAIN in between), and whatever the
 * connection writes goes nowhere, sometimes only in part or not at all.
 * Pieces are consumed in varying amounts; in server role some are echoed
 * back by reference (lk_wsc_queue_ref on the connection's own iref, as the
 * relay passes them to the other side) and some are held for a while.
 *
 * The checks: a valid key has a 28-character accept and an invalid one
 * none; no event after LK_WSC_CLOSED or LK_WSC_ERROR; first/fin follow
 * the messages; text comes whole, at most LK_WS_TEXT_MAX bytes, valid
 * UTF-8 (checked here independently); the pieces add up to rx_payload and
 * never to more than the input; every reference is released by the end
 * (iref back to 0 after lk_wsc_free); no crash, no leak.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "ws.h"

#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

#define KEY_MAX		31
#define HELD_MAX	8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	const uint8_t	*in;
	size_t		 inlen, inoff;
	uint32_t	 rng;
	int		 eof;		/* input over: the peer hangs up */
	uint64_t	 sent;
};

static uint32_t
fz_next(struct fz *x)
{
	x->rng = x->rng * 1103515245u + 12345u;
	return x->rng >> 16;
}

static ssize_t
fz_recv(void *arg, void *buf, size_t len)
{
	struct fz *x = arg;
	size_t n, want;

	if (x->inoff == x->inlen) {
		if (x->eof)
			return 0;
		errno = EAGAIN;
		return -1;
	}
	if ((fz_next(x) & 7) == 0) {
		errno = EAGAIN;
		return -1;
	}
	want = (fz_next(x) & 3) == 0 ? 1 + fz_next(x) % 64 : len;
	n = x->inlen - x->inoff;
	if (n > len)
		n = len;
	if (n > want)
		n = want;
	memcpy(buf, x->in + x->inoff, n);
	x->inoff += n;
	return (ssize_t)n;
}

static ssize_t
fz_send(void *arg, const void *buf, size_t len)
{
	struct fz *x = arg;
	uint32_t r = fz_next(x);

	(void)buf;
	if ((r & 7) == 0) {
		errno = EAGAIN;
		return -1;
	}
	if ((r & 7) == 1 && len > 1)
		len = 1 + r % len;
	x->sent += len;
	return (ssize_t)len;
}

/* RFC 3629 UTF-8, decoded the long way, independently of wsconn.c. */
static int
fz_utf8(const uint8_t *p, size_t n)
{
	size_t i = 0, k, len;
	uint32_t c, min;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0)
			len = 2, c = p[i] & 0x1f, min = 0x80;
		else if ((p[i] & 0xf0) == 0xe0)
			len = 3, c = p[i] & 0x0f, min = 0x800;
		else if ((p[i] & 0xf8) == 0xf0)
			len = 4, c = p[i] & 0x07, min = 0x10000;
		else
			return 0;
		if (i + len > n)
			return 0;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			c = c << 6 | (p[i + k] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

static void
fz_key(const uint8_t *data, size_t n)
{
	char key[KEY_MAX + 1], out[LK_WS_ACCEPT_LEN + 1];
	int valid, r;

	memcpy(key, data, n);
	key[n] = '\0';
	valid = lk_ws_key_valid(key);
	if (valid)
		CHECK(strlen(key) == LK_WS_KEY_LEN);
	memset(out, 0, sizeof(out));
	r = lk_ws_accept(key, out);
	if (valid) {
		CHECK(r == 0);
		CHECK(strlen(out) == LK_WS_ACCEPT_LEN);
		CHECK(out[LK_WS_ACCEPT_LEN - 1] == '=');
	} else {
		CHECK(r == LK_ERR_INVALID_FORMAT);
		CHECK(out[0] == '\0');
	}
}

struct fz_state {
	int		 in_msg, msg_op;
	int		 closed, failed;
	uint64_t	 got;
	unsigned	 held;
};

/* One event; returns 0 when there is nothing more for now. */
static int
fz_event(struct lk_wsc *w, struct fz *x, struct fz_state *st)
{
	struct lk_wsc_ev ev;
	size_t n;
	int r;

	r = lk_wsc_peek(w, &ev);
	if (r == LK_WSC_NONE)
		return 0;
	if (r == LK_WSC_ERROR) {
		st->failed = 1;
		CHECK(w->broken || w->error_code != 0);
		return 0;
	}
	CHECK(!st->closed && !st->failed);
	if (r == LK_WSC_CLOSED) {
		st->closed = 1;
		CHECK(w->close_rcvd);
		CHECK(strlen(w->close_reason) <= 123);
		return 1;
	}
	CHECK(r == LK_WSC_DATA);
	CHECK(ev.op == LK_WS_OP_BINARY || ev.op == LK_WS_OP_TEXT);
	CHECK(ev.first == !st->in_msg);
	CHECK(ev.first || ev.op == st->msg_op);
	CHECK(ev.n > 0 || ev.fin);
	if (ev.op == LK_WS_OP_TEXT) {
		CHECK(ev.first && ev.fin);
		CHECK(ev.n <= LK_WS_TEXT_MAX);
		CHECK(fz_utf8(ev.p, ev.n));
		n = ev.n;
	} else {
		n = ev.n > 0 && (fz_next(x) & 3) == 0 ?
		    fz_next(x) % (ev.n + 1) : ev.n;
		/* The relay's way: pass it on by reference, or hold it. */
		if (n > 0 && w->role == LK_WSC_SERVER) {
			r = lk_wsc_queue_ref(w, LK_WS_OP_BINARY, 1, 1, ev.p, n,
			    &w->iref);
			CHECK(r == 0 || r == LK_ERR_STATE);
			if (st->held < HELD_MAX && (fz_next(x) & 7) == 0) {
				w->iref++;
				st->held++;
			}
		}
	}
	if (n == ev.n || n > 0) {	/* nothing taken: still first */
		st->in_msg = n == ev.n ? !ev.fin : 1;
		st->msg_op = ev.op;
	}
	st->got += n;
	lk_wsc_consume(w, n);
	return 1;
}

static void
fz_conn(const uint8_t *in, size_t inlen, int role, uint32_t seed)
{
	struct fz x = { in, inlen, 0, seed, 0, 0 };
	struct lk_wsc_io io = { fz_recv, fz_send, &x };
	struct lk_wsc w;
	struct fz_state st;
	int rounds, idle = 0;
	ssize_t r;

	memset(&st, 0, sizeof(st));
	CHECK(lk_wsc_init(&w, -1, role, &io, NULL, 0) == 0);
	for (rounds = 0; rounds < 100000 && idle < 50; rounds++) {
		if (x.inoff == x.inlen && idle > 10)
			x.eof = 1;	/* then the peer hangs up */
		r = lk_wsc_want_read(&w) ? lk_wsc_fill(&w) : 0;
		while (fz_event(&w, &x, &st))
			;
		if (st.held > 0 && (fz_next(&x) & 3) == 0) {
			w.iref--;
			st.held--;
		}
		(void)lk_wsc_flush(&w);
		if ((fz_next(&x) & 63) == 0)
			lk_wsc_trim(&w);
		CHECK(lk_wsc_queued(&w) == 0 || lk_wsc_want_write(&w) ||
		    w.broken);
		if (r < 0 || lk_wsc_done(&w))
			break;
		idle = r > 0 ? 0 : idle + 1;
	}
	CHECK(st.got == w.rx_payload);
	CHECK(st.got <= inlen);
	CHECK(w.iref >= st.held);
	w.iref -= st.held;
	lk_wsc_free(&w);
	CHECK(w.iref == 0);
	CHECK(w.ibuf == NULL && w.obuf == NULL && w.tbuf == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t klen;

	if (size == 0)
		return 0;
	klen = data[0] % (KEY_MAX + 1);
	if (klen > size - 1)
		klen = size - 1;
	fz_key(data + 1, klen);
	fz_conn(data + 1 + klen, size - 1 - klen,
	    (data[0] & 0x20) ? LK_WSC_CLIENT : LK_WSC_SERVER,
	    (uint32_t)size * 2654435761u);
	return 0;
}
