/*
 * The relay's WebSocket server side on hostile input (server/relay.c).
 *
 * Input: one byte n, then n % 32 bytes tried as a Sec-WebSocket-Key
 * (lk_ws_key_valid, lk_ws_accept), then the byte stream a client sends
 * after the opening handshake. The stream goes through a wslay server
 * context set up as the relay sets up a side (max message LK_WS_MSG_MAX),
 * read in chunks of varying size as a socket would give it. Its message
 * callback does what relay_msg_cb does: records a close and passes it on,
 * and copies every data message onward, to a second context standing for
 * the other side, whose frames are then written out (to nowhere). The
 * checks: a valid key has a 28-character accept and an invalid one none; no
 * message over LK_WS_MSG_MAX or control message over 125 bytes reaches the
 * callback; what is queued onward is exactly what arrived.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wslay/wslay.h>

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_side {
	const uint8_t		*in;		/* the client's bytes */
	size_t			 inlen, inoff;
	uint32_t		 rng;		/* chunk sizes */
	int			 eof;		/* input over: the peer hung up */
	wslay_event_context_ptr	 ctx;
	struct fz_side		*peer;
	int			 close_code;
	char			 reason[124];
	uint64_t		 bytes;		/* data payload received */
	uint64_t		 sent;		/* bytes written out */
};

static uint32_t
fz_next(struct fz_side *x)
{
	x->rng = x->rng * 1103515245u + 12345u;
	return x->rng >> 16;
}

static ssize_t
fz_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
    void *arg)
{
	struct fz_side *x = arg;
	size_t n, want;

	(void)flags;
	if (x->inoff == x->inlen) {
		/* Like the relay: EAGAIN until the stream is over, then EOF. */
		wslay_event_set_error(ctx, x->eof ? WSLAY_ERR_CALLBACK_FAILURE :
		    WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	/* Mostly what is asked for, sometimes a short read. */
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
fz_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags, void *arg)
{
	struct fz_side *x = arg;

	(void)ctx;
	(void)data;
	(void)flags;
	x->sent += len;
	return (ssize_t)len;
}

/* relay_msg_cb, with the checks. */
static void
fz_msg_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_msg_recv_arg *m, void *arg)
{
	struct fz_side *x = arg, *y = x->peer;
	struct wslay_event_msg out;
	size_t before_len, before_count, rl;
	unsigned char *copy = NULL;
	int code;

	(void)ctx;
	CHECK(m->msg_length <= LK_WS_MSG_MAX);
	CHECK(m->msg_length == 0 || m->msg != NULL);
	if (m->opcode >= 8)
		CHECK(m->msg_length <= 125);
	if (m->opcode == WSLAY_CONNECTION_CLOSE) {
		code = m->status_code;
		if (code == 0 || code == WSLAY_CODE_NO_STATUS_RCVD)
			code = LK_WS_NORMAL;
		x->close_code = code;
		rl = m->msg_length > 2 ? m->msg_length - 2 : 0;
		if (rl > 122)
			rl = 122;
		snprintf(x->reason, sizeof(x->reason), "%.*s", (int)rl,
		    rl ? (const char *)m->msg + 2 : "");
		if (!wslay_event_get_close_sent(y->ctx))
			(void)wslay_event_queue_close(y->ctx, (uint16_t)code,
			    (const uint8_t *)x->reason, strlen(x->reason));
		return;
	}
	CHECK(m->opcode == WSLAY_TEXT_FRAME || m->opcode == WSLAY_BINARY_FRAME ||
	    m->opcode == WSLAY_PING || m->opcode == WSLAY_PONG);
	if (m->opcode != WSLAY_BINARY_FRAME && m->opcode != WSLAY_TEXT_FRAME)
		return;
	x->bytes += m->msg_length;
	if (m->msg_length == 0 || wslay_event_get_close_sent(y->ctx))
		return;
	/* The message is copied onward, byte for byte. */
	CHECK((copy = malloc(m->msg_length)) != NULL);
	memcpy(copy, m->msg, m->msg_length);
	out.opcode = WSLAY_BINARY_FRAME;
	out.msg = copy;
	out.msg_length = m->msg_length;
	before_len = wslay_event_get_queued_msg_length(y->ctx);
	before_count = wslay_event_get_queued_msg_count(y->ctx);
	if (wslay_event_queue_msg(y->ctx, &out) == 0) {
		CHECK(wslay_event_get_queued_msg_length(y->ctx) ==
		    before_len + m->msg_length);
		CHECK(wslay_event_get_queued_msg_count(y->ctx) ==
		    before_count + 1);
	}
	CHECK(memcmp(copy, m->msg, m->msg_length) == 0);
	free(copy);
}

static const struct wslay_event_callbacks fz_callbacks = {
	.recv_callback = fz_recv_cb,
	.send_callback = fz_send_cb,
	.on_msg_recv_callback = fz_msg_cb,
};

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

/* One round of the relay's loop: read what there is, write what waits. */
static int
fz_round(struct fz_side *c, struct fz_side *a)
{
	size_t before = c->inoff;

	if (wslay_event_want_read(c->ctx) && wslay_event_recv(c->ctx) != 0)
		return -1;
	if (wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0)
		return -1;
	if (wslay_event_want_write(a->ctx) && wslay_event_send(a->ctx) != 0)
		return -1;
	/* The other side is always writable here: nothing stays queued. */
	CHECK(!wslay_event_want_write(a->ctx));
	return c->inoff != before;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_side c, a;
	size_t klen;
	int r = 0, rounds;

	if (size == 0)
		return 0;
	klen = data[0] % (KEY_MAX + 1);
	if (klen > size - 1)
		klen = size - 1;
	fz_key(data + 1, klen);

	memset(&c, 0, sizeof(c));
	memset(&a, 0, sizeof(a));
	c.in = data + 1 + klen;
	c.inlen = size - 1 - klen;
	c.rng = (uint32_t)size * 2654435761u;
	c.peer = &a;
	a.peer = &c;
	a.eof = 1;
	CHECK(wslay_event_context_server_init(&c.ctx, &fz_callbacks, &c) == 0);
	CHECK(wslay_event_context_server_init(&a.ctx, &fz_callbacks, &a) == 0);
	wslay_event_config_set_max_recv_msg_length(c.ctx, LK_WS_MSG_MAX);
	wslay_event_config_set_max_recv_msg_length(a.ctx, LK_WS_MSG_MAX);

	/* Until the input is used up or the side stops reading. */
	for (rounds = 0; rounds < 1000000; rounds++)
		if ((r = fz_round(&c, &a)) <= 0)
			break;
	CHECK(c.inoff == c.inlen || !wslay_event_want_read(c.ctx) || r < 0);
	/* Then the client hangs up. */
	c.eof = 1;
	(void)fz_round(&c, &a);
	CHECK(c.bytes <= c.inlen);
	CHECK(a.sent >= c.bytes || wslay_event_get_close_sent(a.ctx));

	wslay_event_context_free(c.ctx);
	wslay_event_context_free(a.ctx);
	return 0;
}
