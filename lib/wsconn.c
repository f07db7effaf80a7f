/*
 * struct lk_wsc: one WebSocket connection, either role, on a non-blocking
 * socket (or libcurl's TLS through w->io). See ws.h for the contract.
 *
 * Input. lk_wsc_fill reads once into the free space of a LK_WSC_IBUF
 * buffer, taken on the first read and given back by lk_wsc_trim when it
 * is empty. lk_wsc_peek parses what is there: data payloads are unmasked
 * in place and handed out as pieces pointing into the buffer; text
 * messages (the tunnel's control messages) are gathered whole in tbuf;
 * control frames are only parsed once they are whole in the buffer (they
 * are at most 127 + 4 bytes) and are handled here. The buffer is compacted
 * only while no piece is held elsewhere (iref == 0), so a piece passed on
 * with lk_wsc_queue_ref stays where it is until it is written.
 *
 * Output. A queue of frames, struct lk_wsc_seg, written in order with
 * sendmsg(2) (up to WSC_IOV iovecs at once) or, through io, one segment
 * at a time. A segment refers to its payload (lk_wsc_queue_ref), or holds
 * header and payload contiguously: small control frames in the segment's
 * own allocation, data copies in obuf, a ring buffer taken while data is
 * queued and given back by lk_wsc_trim, so a 256 KiB frame costs no
 * malloc. Pings and pongs go ahead of data frames not yet started; a close
 * goes out only when everything queued before it has been written.
 *
 * Client-role masks come from the kernel (getrandom(2)), 4 bytes per
 * frame: no state in the process (OpenSSL's RAND_bytes keeps a DRBG per
 * thread, kilobytes for each of the agent's session threads); at 256 KiB
 * a frame the call is noise, and for the small frames of interactive SSH
 * it is well under a microsecond.
 */
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "err.h"
#include "util.h"
#include "ws.h"

#define WSC_IOV		64		/* iovecs per sendmsg */
#define WSC_OBUF	(2 * LK_WS_MSG_MAX + 4 * LK_WS_HDR_MAX)
#define WSC_NOCODE	1005		/* a close without a status code */

enum { SEG_REF, SEG_OBUF, SEG_OWN };

struct lk_wsc_seg {
	struct lk_wsc_seg	*next;
	const uint8_t		*p;	/* [header +] payload, or payload */
	size_t			 n;	/* bytes at p */
	size_t			 off;	/* bytes written of hlen + n */
	size_t			 plen;	/* data payload bytes (tx_payload) */
	unsigned		*ref;	/* SEG_REF: released when written */
	uint8_t			 kind;
	uint8_t			 op;
	uint8_t			 hlen;	/* SEG_REF: header in hdr[] */
	uint8_t			 hdr[LK_WS_HDR_MAX];
	uint8_t			 data[];	/* SEG_OWN: header + payload */
};

static int	wsc_proto(struct lk_wsc *, int);
static void	wsc_close_if_drained(struct lk_wsc *);

/* ---- UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF) ---- */

static int
wsc_utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0, k, need;
	uint32_t c;

	while (i < n) {
		c = p[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1, c &= 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, c &= 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, c &= 0x07;
		else
			return 0;
		if (n - i <= need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			c = c << 6 | (p[i + k] & 0x3f);
		}
		if ((need == 2 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
		    (need == 3 && (c < 0x10000 || c > 0x10ffff)))
			return 0;
		i += need + 1;
	}
	return 1;
}

/* ---- setup --------------------------------------------------------- */

int
lk_wsc_init(struct lk_wsc *w, int fd, int role, const struct lk_wsc_io *io,
    const void *pre, size_t prelen)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->role = role;
	if (io != NULL)
		w->io = *io;
	w->oqtail = &w->oq;
	w->close_code = LK_WS_ABNORMAL;
	w->last_rx_ms = w->last_tx_ms = lk_now_ms();
	/*
	 * Bytes read past the handshake go straight into the input buffer,
	 * so lk_wsc_peek sees them before anything is read (pre and prelen
	 * stay unused).
	 */
	if (prelen > 0) {
		if (prelen > LK_WSC_IBUF)
			return LK_ERR_TOO_LONG;
		if ((w->ibuf = malloc(LK_WSC_IBUF)) == NULL)
			return LK_ERR_ALLOC;
		memcpy(w->ibuf, pre, prelen);
		w->ilen = prelen;
	}
	return 0;
}

/* ---- output queue ---------------------------------------------------- */

/*
 * Space for n contiguous bytes in the obuf ring, or NULL (the caller then
 * mallocs). Used: [ohead, otail), or wrapped [ohead, end) + [0, otail).
 */
static uint8_t *
wsc_ring_alloc(struct lk_wsc *w, size_t n)
{
	uint8_t *p = NULL;

	if (n > WSC_OBUF)
		return NULL;
	if (w->obuf == NULL && (w->obuf = malloc(WSC_OBUF)) == NULL)
		return NULL;
	if (w->ocount == 0)
		w->ohead = w->otail = 0;
	if (w->ocount == 0 || w->otail > w->ohead) {
		if (WSC_OBUF - w->otail >= n)
			p = w->obuf + w->otail;
		else if (w->ohead >= n)
			p = w->obuf;
	} else if (w->otail < w->ohead && w->ohead - w->otail >= n)
		p = w->obuf + w->otail;
	if (p != NULL) {
		w->otail = (size_t)(p - w->obuf) + n;
		w->ocount++;
	}
	return p;
}

/* Segments are released in the order they were queued. */
static void
wsc_ring_release(struct lk_wsc *w, const struct lk_wsc_seg *s)
{
	w->ohead = (size_t)(s->p - w->obuf) + s->n;
	if (--w->ocount == 0)
		w->ohead = w->otail = 0;
}

static void
wsc_seg_done(struct lk_wsc *w, struct lk_wsc_seg *s)
{
	if (s->kind == SEG_REF && s->ref != NULL && *s->ref > 0)
		(*s->ref)--;
	else if (s->kind == SEG_OBUF)
		wsc_ring_release(w, s);
	free(s);
}

/* Appends s, or puts it ahead of the first frame not yet started. */
static void
wsc_enqueue(struct lk_wsc *w, struct lk_wsc_seg *s, int ahead)
{
	struct lk_wsc_seg **pp = &w->oq;

	if (ahead) {
		while (*pp != NULL && ((*pp)->off > 0 ||
		    (*pp)->op == LK_WS_OP_PING || (*pp)->op == LK_WS_OP_PONG))
			pp = &(*pp)->next;
	} else
		pp = w->oqtail;
	s->next = *pp;
	*pp = s;
	if (s->next == NULL)
		w->oqtail = &s->next;
	w->oqbytes += s->hlen + s->n;
}

static int
wsc_mask_new(const struct lk_wsc *w, uint8_t mask[4])
{
	if (w->zero_mask) {
		memset(mask, 0, 4);
		return 0;
	}
	return getrandom(mask, 4, 0) == 4 ? 0 : LK_ERR_INTERNAL;
}

/* A control frame (or a small owned frame): header and payload inline. */
static int
wsc_queue_ctl(struct lk_wsc *w, int op, const void *p, size_t n, int ahead)
{
	struct lk_wsc_seg *s;
	uint8_t mask[4], *m = NULL;
	size_t hl;

	if (n > 125)
		return LK_ERR_TOO_LONG;
	if (w->role == LK_WSC_CLIENT) {
		if (wsc_mask_new(w, mask) != 0)
			return LK_ERR_INTERNAL;
		m = mask;
	}
	if ((s = calloc(1, sizeof(*s) + LK_WS_HDR_MAX + n)) == NULL)
		return LK_ERR_ALLOC;
	hl = lk_ws_hdr_build(s->data, 1, op, n, m);
	if (m != NULL)
		lk_ws_mask_copy(s->data + hl, p, n, m, 0);
	else if (n > 0)
		memcpy(s->data + hl, p, n);
	s->kind = SEG_OWN;
	s->op = (uint8_t)op;
	s->p = s->data;
	s->n = hl + n;
	wsc_enqueue(w, s, ahead);
	return 0;
}

static int
wsc_data_ok(const struct lk_wsc *w, int op, int first)
{
	if (w->close_sent || w->pend_code != 0)
		return LK_ERR_STATE;
	if (op != LK_WS_OP_BINARY && op != LK_WS_OP_TEXT)
		return LK_ERR_INVALID_FORMAT;
	if (first == w->omsg_open)	/* a piece out of its message */
		return LK_ERR_STATE;
	return 0;
}

int
lk_wsc_queue_copy(struct lk_wsc *w, int op, int first, int fin,
    const void *p, size_t n)
{
	struct lk_wsc_seg *s;
	uint8_t hdr[LK_WS_HDR_MAX], mask[4], *m = NULL, *dst;
	size_t hl;
	int r, fop = first ? op : LK_WS_OP_CONT;

	if ((r = wsc_data_ok(w, op, first)) != 0)
		return r;
	if (w->role == LK_WSC_CLIENT) {
		if (wsc_mask_new(w, mask) != 0)
			return LK_ERR_INTERNAL;
		m = mask;
	}
	hl = lk_ws_hdr_build(hdr, fin, fop, n, m);
	if ((s = malloc(sizeof(*s))) == NULL)
		return LK_ERR_ALLOC;
	memset(s, 0, sizeof(*s));
	if ((dst = wsc_ring_alloc(w, hl + n)) != NULL)
		s->kind = SEG_OBUF;
	else {
		free(s);
		if ((s = malloc(sizeof(*s) + hl + n)) == NULL)
			return LK_ERR_ALLOC;
		memset(s, 0, sizeof(*s));
		s->kind = SEG_OWN;
		dst = s->data;
	}
	memcpy(dst, hdr, hl);
	if (m != NULL)
		lk_ws_mask_copy(dst + hl, p, n, m, 0);
	else if (n > 0)
		memcpy(dst + hl, p, n);
	s->op = (uint8_t)fop;
	s->p = dst;
	s->n = hl + n;
	s->plen = n;
	wsc_enqueue(w, s, 0);
	w->omsg_open = !fin;
	return 0;
}

int
lk_wsc_queue_ref(struct lk_wsc *w, int op, int first, int fin,
    const void *p, size_t n, unsigned *ref)
{
	struct lk_wsc_seg *s;
	int r, fop = first ? op : LK_WS_OP_CONT;

	static const uint8_t zero[4];

	if (w->role != LK_WSC_SERVER && !w->zero_mask)
		return LK_ERR_STATE;
	if ((r = wsc_data_ok(w, op, first)) != 0)
		return r;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return LK_ERR_ALLOC;
	s->hlen = (uint8_t)lk_ws_hdr_build(s->hdr, fin, fop, n,
	    w->role == LK_WSC_CLIENT ? zero : NULL);
	s->kind = SEG_REF;
	s->op = (uint8_t)fop;
	s->p = p;
	s->n = n;
	s->plen = n;
	s->ref = ref;
	if (ref != NULL)
		(*ref)++;
	wsc_enqueue(w, s, 0);
	w->omsg_open = !fin;
	return 0;
}

int
lk_wsc_ping(struct lk_wsc *w, const void *p, size_t n)
{
	int r;

	if (w->close_sent)
		return LK_ERR_STATE;
	if ((r = wsc_queue_ctl(w, LK_WS_OP_PING, p, n, 1)) == 0)
		w->pings_out++;
	return r;
}

/* Queues the pending close frame once nothing else waits. */
static void
wsc_close_if_drained(struct lk_wsc *w)
{
	uint8_t pl[2 + sizeof(w->pend_reason)];
	size_t n = 0, rl;

	if (w->pend_code == 0 || w->close_sent || w->oq != NULL)
		return;
	if (w->pend_code != WSC_NOCODE) {
		pl[0] = (uint8_t)(w->pend_code >> 8);
		pl[1] = (uint8_t)w->pend_code;
		rl = strlen(w->pend_reason);
		if (rl > 123)
			rl = 123;
		memcpy(pl + 2, w->pend_reason, rl);
		n = 2 + rl;
	}
	/* Out of memory: nothing to be done but drop the connection. */
	if (wsc_queue_ctl(w, LK_WS_OP_CLOSE, pl, n, 0) != 0) {
		w->broken = 1;
		return;
	}
	w->close_sent = 1;
}

void
lk_wsc_close(struct lk_wsc *w, int code, const char *reason)
{
	if (w->pend_code != 0 || w->close_sent)
		return;
	w->pend_code = code;
	snprintf(w->pend_reason, sizeof(w->pend_reason), "%s",
	    reason != NULL ? reason : "");
	wsc_close_if_drained(w);
}

/* n bytes went out: finish the segments they complete. */
static void
wsc_advance(struct lk_wsc *w, size_t n)
{
	struct lk_wsc_seg *s;
	size_t left;

	w->oqbytes -= n;
	while (n > 0 && (s = w->oq) != NULL) {
		left = s->hlen + s->n - s->off;
		if (n < left) {
			s->off += n;
			return;
		}
		n -= left;
		w->oq = s->next;
		if (w->oq == NULL)
			w->oqtail = &w->oq;
		w->tx_payload += s->plen;
		if (s->op == LK_WS_OP_CLOSE)
			w->close_out = 1;
		wsc_seg_done(w, s);
	}
}

/* The unwritten part of s as up to two iovecs; returns how many. */
static int
wsc_seg_iov(const struct lk_wsc_seg *s, struct iovec *iov)
{
	int k = 0;

	if (s->off < s->hlen) {
		iov[k].iov_base = (void *)(uintptr_t)(s->hdr + s->off);
		iov[k++].iov_len = s->hlen - s->off;
	}
	if (s->n > 0 && s->off < s->hlen + s->n) {
		size_t po = s->off > s->hlen ? s->off - s->hlen : 0;

		iov[k].iov_base = (void *)(uintptr_t)(s->p + po);
		iov[k++].iov_len = s->n - po;
	}
	return k;
}

/* One write: > 0 bytes, 0 would block, -1 failed. */
static ssize_t
wsc_write_some(struct lk_wsc *w)
{
	struct iovec iov[WSC_IOV];
	struct msghdr mh;
	struct lk_wsc_seg *s;
	ssize_t r;
	int k = 0;

	if (w->io.send != NULL) {
		if ((k = wsc_seg_iov(w->oq, iov)) == 0)
			return (ssize_t)(w->oq->hlen + w->oq->n);
		r = w->io.send(w->io.arg, iov[0].iov_base, iov[0].iov_len);
	} else {
		for (s = w->oq; s != NULL && k <= WSC_IOV - 2; s = s->next)
			k += wsc_seg_iov(s, iov + k);
		if (k == 0)	/* only empty segments */
			return (ssize_t)(w->oq->hlen + w->oq->n);
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)k;
		do
			r = sendmsg(w->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (r < 0 && errno == EINTR);
	}
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (r <= 0)
		return -1;
	return r;
}

int
lk_wsc_flush(struct lk_wsc *w)
{
	ssize_t r;

	if (w->broken)
		return -1;
	wsc_close_if_drained(w);
	while (w->oq != NULL) {
		if ((r = wsc_write_some(w)) < 0) {
			w->broken = 1;
			return -1;
		}
		if (r == 0)
			return 0;
		w->last_tx_ms = lk_now_ms();
		wsc_advance(w, (size_t)r);
		wsc_close_if_drained(w);
	}
	return 0;
}

size_t
lk_wsc_queued(const struct lk_wsc *w)
{
	return w->oqbytes;
}

int
lk_wsc_want_write(const struct lk_wsc *w)
{
	return !w->broken && w->oq != NULL;
}

int
lk_wsc_want_read(const struct lk_wsc *w)
{
	return !w->broken && !w->close_rcvd && w->error_code == 0;
}

int
lk_wsc_done(const struct lk_wsc *w)
{
	return w->broken || (w->close_out &&
	    (w->close_rcvd || w->error_code != 0));
}

/* ---- input ------------------------------------------------------------ */

ssize_t
lk_wsc_fill(struct lk_wsc *w)
{
	size_t room;
	ssize_t r;

	if (w->broken)
		return -1;
	if (w->ibuf == NULL) {
		if ((w->ibuf = malloc(LK_WSC_IBUF)) == NULL) {
			w->broken = 1;	/* out of memory: give up */
			return -1;
		}
		w->ioff = w->ilen = 0;
	}
	if (w->iref == 0 && w->ioff > 0) {
		/* Move the unparsed rest down when the top is getting short. */
		if (w->ioff == w->ilen)
			w->ioff = w->ilen = 0;
		else if (LK_WSC_IBUF - w->ilen < LK_WSC_IBUF / 4) {
			memmove(w->ibuf, w->ibuf + w->ioff, w->ilen - w->ioff);
			w->ilen -= w->ioff;
			w->ioff = 0;
		}
	}
	if ((room = LK_WSC_IBUF - w->ilen) == 0)
		return 0;
	if (w->io.recv != NULL)
		r = w->io.recv(w->io.arg, w->ibuf + w->ilen, room);
	else {
		do
			r = recv(w->fd, w->ibuf + w->ilen, room, MSG_DONTWAIT);
		while (r < 0 && errno == EINTR);
	}
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (r <= 0) {
		w->broken = 1;
		return -1;
	}
	w->ilen += (size_t)r;
	w->last_rx_ms = lk_now_ms();
	return r;
}

int
lk_wsc_room(const struct lk_wsc *w)
{
	return w->ibuf == NULL || w->ilen < LK_WSC_IBUF ||
	    (w->iref == 0 && w->ioff > 0);
}

/* A protocol error: report it, stop reading, close with code. */
static int
wsc_proto(struct lk_wsc *w, int code)
{
	if (w->error_code == 0)
		w->error_code = code;
	if (!w->close_sent) {
		w->pend_code = code;
		w->pend_reason[0] = '\0';
	}
	wsc_close_if_drained(w);
	return LK_WSC_ERROR;
}

/* The peer's close frame: LK_WSC_CLOSED, or a protocol error. */
static int
wsc_on_close(struct lk_wsc *w, const uint8_t *p, size_t n)
{
	int code = WSC_NOCODE;

	if (n == 1)
		return wsc_proto(w, LK_WS_PROTOCOL);
	if (n >= 2) {
		code = p[0] << 8 | p[1];
		/* Codes that may not be sent (RFC 6455 7.4.1, 7.4.2). */
		if (code < 1000 || code == 1004 || code == 1005 ||
		    code == 1006 || code == 1015 ||
		    (code >= 1016 && code < 3000) || code >= 5000)
			return wsc_proto(w, LK_WS_PROTOCOL);
		if (!wsc_utf8_valid(p + 2, n - 2))
			return wsc_proto(w, LK_WS_PROTOCOL);
		memcpy(w->close_reason, p + 2, n - 2);
		w->close_reason[n - 2] = '\0';
	}
	w->close_rcvd = 1;
	w->close_code = code;
	/* Answer with the same code after the data (unless we closed). */
	if (w->pend_code == 0 && !w->close_sent) {
		w->pend_code = code;
		w->pend_reason[0] = '\0';
	}
	wsc_close_if_drained(w);
	return LK_WSC_CLOSED;
}

/*
 * A whole control frame at ibuf + ioff. Returns LK_WSC_NONE to go on,
 * or the event to report.
 */
static int
wsc_on_control(struct lk_wsc *w)
{
	uint8_t *p = w->ibuf + w->ioff + w->cur.hlen;
	size_t n = (size_t)w->cur.len;

	if (w->cur.masked)
		lk_ws_mask(p, n, w->cur.mask, 0);
	w->ioff += w->cur.hlen + n;
	switch (w->cur.opcode) {
	case LK_WS_OP_PING:
		if (!w->close_sent &&
		    wsc_queue_ctl(w, LK_WS_OP_PONG, p, n, 1) != 0)
			return wsc_proto(w, LK_WS_INTERNAL);
		return LK_WSC_NONE;
	case LK_WS_OP_PONG:
		w->pings_out = 0;
		return LK_WSC_NONE;
	default:
		return wsc_on_close(w, p, n);
	}
}

/* A data frame's header at ibuf + ioff. LK_WSC_NONE to go on. */
static int
wsc_on_data_hdr(struct lk_wsc *w)
{
	if (w->cur.opcode == LK_WS_OP_CONT) {
		if (w->msg_op == 0)
			return wsc_proto(w, LK_WS_PROTOCOL);
	} else {
		if (w->msg_op != 0)
			return wsc_proto(w, LK_WS_PROTOCOL);
		w->msg_op = w->cur.opcode;
		w->msg_any = 0;
		w->tlen = 0;
	}
	if (w->msg_op == LK_WS_OP_TEXT && !w->text_streamed) {
		if (w->cur.len > (uint64_t)(LK_WS_TEXT_MAX - w->tlen))
			return wsc_proto(w, LK_WS_TOO_BIG);
		if (w->tbuf == NULL &&
		    (w->tbuf = malloc(LK_WS_TEXT_MAX)) == NULL)
			return wsc_proto(w, LK_WS_INTERNAL);
	}
	w->ioff += w->cur.hlen;
	w->in_frame = 1;
	w->cur_left = w->cur.len;
	w->cur_off = 0;
	w->pk = 0;
	return LK_WSC_NONE;
}

/* The text message in tbuf as an event. */
static int
wsc_text_ev(struct lk_wsc *w, struct lk_wsc_ev *ev)
{
	ev->op = LK_WS_OP_TEXT;
	ev->first = ev->fin = 1;
	ev->p = w->tbuf;
	ev->n = w->tlen;
	return LK_WSC_DATA;
}

/* Text payload into tbuf; the event when the message is whole. */
static int
wsc_text(struct lk_wsc *w, struct lk_wsc_ev *ev, size_t avail)
{
	size_t take = avail < w->cur_left ? avail : (size_t)w->cur_left;
	uint8_t *p = w->ibuf + w->ioff;

	if (w->cur.masked)
		lk_ws_mask(p, take, w->cur.mask, w->cur_off);
	if (take > 0)
		memcpy(w->tbuf + w->tlen, p, take);
	w->tlen += take;
	w->ioff += take;
	w->cur_left -= take;
	w->cur_off += take;
	if (w->cur_left > 0)
		return LK_WSC_NONE;
	w->in_frame = 0;
	if (!w->cur.fin)
		return LK_WSC_NONE;
	w->msg_op = 0;
	if (!wsc_utf8_valid(w->tbuf, w->tlen))
		return wsc_proto(w, LK_WS_BAD_DATA);
	w->tready = 1;
	return wsc_text_ev(w, ev);
}

int
lk_wsc_peek(struct lk_wsc *w, struct lk_wsc_ev *ev)
{
	size_t avail, take;
	int r, code = 0;

	memset(ev, 0, sizeof(*ev));
	if (w->error_code != 0)
		return LK_WSC_ERROR;
	if (w->close_rcvd)	/* reported once; nothing after it */
		return LK_WSC_NONE;
	if (w->tready)
		return wsc_text_ev(w, ev);
	for (;;) {
		if (w->ibuf == NULL)
			break;
		avail = w->ilen - w->ioff;
		if (!w->in_frame) {
			r = lk_ws_hdr_parse(w->ibuf + w->ioff, avail,
			    w->role == LK_WSC_SERVER, &w->cur, &code);
			if (r < 0)
				return wsc_proto(w, code);
			if (r == 0)
				break;
			if (w->cur.opcode >= LK_WS_OP_CLOSE) {
				if (avail < w->cur.hlen + w->cur.len)
					break;
				if ((r = wsc_on_control(w)) != LK_WSC_NONE)
					return r;
				continue;
			}
			if ((r = wsc_on_data_hdr(w)) != LK_WSC_NONE)
				return r;
			continue;
		}
		if (w->msg_op == LK_WS_OP_TEXT && !w->text_streamed) {
			if ((r = wsc_text(w, ev, avail)) != LK_WSC_NONE ||
			    w->error_code != 0)
				return w->error_code ? LK_WSC_ERROR : r;
			if (w->in_frame)
				break;
			continue;
		}
		take = avail < w->cur_left ? avail : (size_t)w->cur_left;
		if (take == 0 && w->cur_left > 0)
			break;
		if (take == 0 && !w->cur.fin) {
			w->in_frame = 0;	/* an empty non-final frame */
			continue;
		}
		if (w->cur.masked && w->pk < take)
			lk_ws_mask(w->ibuf + w->ioff + w->pk, take - w->pk,
			    w->cur.mask, w->cur_off + w->pk);
		w->pk = take;
		ev->op = w->msg_op;
		ev->first = !w->msg_any;
		ev->fin = w->cur.fin && take == w->cur_left;
		ev->p = w->ibuf + w->ioff;
		ev->n = take;
		return LK_WSC_DATA;
	}
	return w->broken ? LK_WSC_ERROR : LK_WSC_NONE;
}

void
lk_wsc_consume(struct lk_wsc *w, size_t n)
{
	if (w->tready) {		/* the text message */
		w->rx_payload += w->tlen;
		w->tlen = 0;
		w->tready = 0;
		return;
	}
	if (!w->in_frame || n > w->pk)
		return;
	w->ioff += n;
	w->cur_left -= n;
	w->cur_off += n;
	w->pk -= n;
	w->rx_payload += n;
	if (n > 0)
		w->msg_any = 1;
	if (w->cur_left == 0) {
		w->in_frame = 0;
		if (w->cur.fin)
			w->msg_op = w->msg_any = 0;
	}
}

/* ---- memory --------------------------------------------------------- */

void
lk_wsc_trim(struct lk_wsc *w)
{
	if (w->ibuf != NULL && w->ioff == w->ilen && w->iref == 0) {
		free(w->ibuf);
		w->ibuf = NULL;
		w->ioff = w->ilen = 0;
	}
	if (w->tbuf != NULL && w->msg_op != LK_WS_OP_TEXT &&
	    !w->tready) {
		free(w->tbuf);
		w->tbuf = NULL;
		w->tlen = 0;
	}
	if (w->obuf != NULL && w->ocount == 0) {
		free(w->obuf);
		w->obuf = NULL;
	}
}

void
lk_wsc_free(struct lk_wsc *w)
{
	struct lk_wsc_seg *s;

	while ((s = w->oq) != NULL) {
		w->oq = s->next;
		wsc_seg_done(w, s);
	}
	w->oqtail = &w->oq;
	w->oqbytes = 0;
	free(w->ibuf);
	free(w->tbuf);
	free(w->obuf);
	w->ibuf = w->tbuf = w->obuf = NULL;
	w->ioff = w->ilen = w->tlen = 0;
}
