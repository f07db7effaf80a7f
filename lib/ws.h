/*
 * WebSocket for the session tunnel (docs/sessions.md): one connection type,
 * struct lk_wsc, for latchkeyd's relay (the server side of both hops) and
 * for the tunnel's ends (the agent and `latchkey proxy`, client side).
 *
 *	ws_key.c	the handshake's key check (server and client)
 *	wsframe.c	the RFC 6455 frame codec: headers and masking, no I/O
 *	wsconn.c	struct lk_wsc: buffered, non-blocking framing on a
 *			socket (or libcurl's TLS), control frames, close
 *	ws.c		lk_ws_dial: libcurl connects (TLS included), our
 *			opening handshake, then an lk_wsc in client role
 *
 * Why our own framing and not wslay's: wslay reads 4 KiB at a time, masks
 * byte by byte and copies every message into its own queue, and that was
 * most of the tunnel's CPU (docs/sessions.md, "Data path"). Here a read
 * takes up to LK_WSC_IBUF bytes, payloads are unmasked in place a word at
 * a time, and the relay passes a payload on by reference (lk_wsc_queue_ref)
 * without copying it.
 */
#ifndef LK_WS_H
#define LK_WS_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

/* Largest frame payload / message an end sends; the relay streams any. */
#define LK_WS_MSG_MAX		(256 * 1024)
#define LK_WS_CHUNK		(64 * 1024)	/* legacy name: a read's size */
/* Largest text message accepted (the tunnel's control messages). */
#define LK_WS_TEXT_MAX		1024
/* The input buffer: one read takes at most this much. */
#define LK_WSC_IBUF		(256 * 1024)
/* A side stops reading while this much waits to be written onward. */
#define LK_WS_HIGH_WATER	(512 * 1024)

/* Close codes: RFC 6455 ones, then the tunnel's own (docs/sessions.md). */
#define LK_WS_NORMAL		1000
#define LK_WS_GOING_AWAY	1001
#define LK_WS_PROTOCOL		1002
#define LK_WS_ABNORMAL		1006	/* never sent: connection just ended */
#define LK_WS_BAD_DATA		1007	/* text that is not UTF-8 */
#define LK_WS_POLICY		1008
#define LK_WS_TOO_BIG		1009
#define LK_WS_INTERNAL		1011
#define LK_WS_IDLE		4000	/* a side silent for too long */
#define LK_WS_AGENT_LOST	4001	/* the agent's connection broke */
#define LK_WS_PORT_REFUSED	4002	/* the agent could not reach the port */
#define LK_WS_ENDED		4003	/* EndTerminalSession */
#define LK_WS_NO_AGENT		4004	/* the agent never dialled back */
#define LK_WS_CLIENT_LOST	4005	/* the client's connection broke */
#define LK_WS_RESUME		4006	/* hop lost: resume the session */
#define LK_WS_RESUME_RANGE	4007	/* resume offset out of range */
#define LK_WS_RESUME_GONE	4008	/* the other end no longer has it */
#define LK_WS_SHELL_REFUSED	4009	/* the agent refused a shell session */

#define LK_WS_KEY_LEN		24	/* base64 of 16 bytes */
#define LK_WS_ACCEPT_LEN	28	/* base64 of a SHA-1 */

/* ws_key.c */
int	lk_ws_key_valid(const char *key);
/* out gets base64(SHA-1(key + RFC 6455 GUID)), NUL-terminated. */
int	lk_ws_accept(const char *key, char out[LK_WS_ACCEPT_LEN + 1]);
/* A printable name for a close code ("normal", "idle timeout", ...). */
const char *lk_ws_code_name(int code);

/* ---- wsframe.c: the codec ---------------------------------------- */

#define LK_WS_OP_CONT	0x0
#define LK_WS_OP_TEXT	0x1
#define LK_WS_OP_BINARY	0x2
#define LK_WS_OP_CLOSE	0x8
#define LK_WS_OP_PING	0x9
#define LK_WS_OP_PONG	0xa

#define LK_WS_HDR_MAX	14	/* 2 + 8 (length) + 4 (mask) */

struct lk_ws_hdr {
	int		fin;
	int		opcode;
	int		masked;
	uint8_t		mask[4];
	uint64_t	len;		/* payload length */
	size_t		hlen;		/* header length, 2 to 14 */
};

/*
 * Parses the frame header at p[0..n). Returns the header's length (> 0)
 * with *h filled, 0 when more bytes are needed, or -1 with *code the close
 * code to send: RSV bits set, an unknown opcode, a control frame over 125
 * bytes or fragmented, a length with its top bit set, or a mask where the
 * role forbids one (is_server: frames must be masked; else they must not).
 */
int	lk_ws_hdr_parse(const uint8_t *p, size_t n, int is_server,
	    struct lk_ws_hdr *h, int *code);
/*
 * Writes a frame header into out (LK_WS_HDR_MAX bytes); mask NULL for an
 * unmasked frame. Returns its length.
 */
size_t	lk_ws_hdr_build(uint8_t *out, int fin, int opcode, uint64_t len,
	    const uint8_t mask[4]);
/*
 * XORs p[0..n) with the mask, the payload's byte at offset off (from the
 * start of the frame's payload) taking mask[off % 4]; a word at a time.
 * Masking and unmasking are the same operation.
 */
void	lk_ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t off);
/*
 * dst = src XOR mask (as lk_ws_mask) in one pass; dst and src are the same
 * buffer (lk_ws_mask) or do not overlap. Each word is loaded before it is
 * stored.
 */
void	lk_ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n,
	    const uint8_t mask[4], uint64_t off);

/* ---- wsconn.c: one connection ------------------------------------ */

#define LK_WSC_SERVER	0	/* receives masked frames, sends unmasked */
#define LK_WSC_CLIENT	1	/* sends masked frames */

/*
 * How bytes move: NULL for plain recv(2)/sendmsg(2) on fd; libcurl's
 * handle for TLS. recv returns > 0, 0 for the peer's EOF, -1 with errno
 * (EAGAIN when nothing is there); send likewise.
 */
struct lk_wsc_io {
	ssize_t	(*recv)(void *arg, void *buf, size_t n);
	ssize_t	(*send)(void *arg, const void *buf, size_t n);
	void	 *arg;
};

/* What lk_wsc_peek found in the input. */
enum {
	LK_WSC_NONE = 0,	/* nothing complete: lk_wsc_fill, then again */
	LK_WSC_DATA,		/* ev.p[0..ev.n) of a data message */
	LK_WSC_CLOSED,		/* the peer's close frame arrived */
	LK_WSC_ERROR		/* protocol error or lost connection */
};

/*
 * A piece of a data message, as it arrives (never the whole message
 * buffered, except text: a text message is given whole, at most
 * LK_WS_TEXT_MAX bytes, unless text_streamed). p points into the connection's input buffer,
 * already unmasked; it stays valid until lk_wsc_fill/lk_wsc_compact moves
 * the buffer, which they do not while a reference is held (iref).
 * first: no byte of this message was given before; fin: its last piece.
 * An empty message comes as one piece with first, fin and n == 0.
 */
struct lk_wsc_ev {
	int		 op;		/* LK_WS_OP_BINARY or LK_WS_OP_TEXT */
	int		 first, fin;
	const uint8_t	*p;
	size_t		 n;
};

struct lk_wsc_seg;	/* wsconn.c: one queued frame (or part of one) */

/*
 * Fields a caller may read are documented; the rest is wsconn.c's. The
 * structure is embedded (relay_side, the tunnel's ends); lk_wsc_init sets
 * it up and allocates nothing: the input buffer is taken when a read needs
 * it and given back (lk_wsc_trim) when it is empty, so an idle connection
 * holds no buffer.
 */
struct lk_wsc {
	int			 fd;
	int			 role;		/* LK_WSC_SERVER or _CLIENT */
	struct lk_wsc_io	 io;
	/* input */
	uint8_t			*ibuf;		/* LK_WSC_IBUF bytes or NULL */
	size_t			 ioff, ilen;	/* unparsed: ibuf[ioff..ilen) */
	unsigned		 iref;		/* pieces referenced elsewhere */
	uint8_t			 hstash[LK_WS_HDR_MAX];
	size_t			 hstashlen;
	struct lk_ws_hdr	 cur;		/* the frame being read */
	uint64_t		 cur_left;	/* of its payload */
	uint64_t		 cur_off;	/* payload read so far (mask) */
	int			 in_frame;
	int			 msg_op;	/* message in progress, or 0 */
	int			 msg_any;	/* a byte of it was given */
	uint8_t			*tbuf;		/* text or control payload */
	size_t			 tlen;
	/* output: a queue of frames, some referring to other buffers */
	struct lk_wsc_seg	*oq, **oqtail;
	size_t			 oqbytes;	/* bytes queued, headers too */
	int			 omsg_open;	/* a fragmented send goes on */
	uint8_t			*obuf;		/* client role: masked copies */
	/* state */
	int			 broken;	/* read or write failed / EOF */
	int			 error_code;	/* our close for a bad frame */
	int			 close_sent, close_rcvd;
	int			 close_code;	/* the peer's, or 1005 none */
	char			 close_reason[124];
	int			 pend_code;	/* close to send when drained */
	char			 pend_reason[124];
	uint64_t		 rx_payload;	/* data payload bytes received */
	uint64_t		 tx_payload;	/* data payload bytes sent */
	long long		 last_rx_ms;	/* any frame received */
	long long		 last_tx_ms;	/* any frame sent */
	unsigned		 pings_out;	/* pings without a pong */
	const uint8_t		*pre;		/* bytes read past the head */
	size_t			 prelen;
	/*
	 * Set by the caller after lk_wsc_init: text messages come in pieces
	 * like binary ones, of any size, their UTF-8 not checked (the
	 * relay's sessions without resume, where a client's text is data
	 * passed on, as before).
	 */
	int			 text_streamed;
	/*
	 * Set by the caller after lk_wsc_init, client role: frames carry the
	 * mask 0 (no work for either end) and lk_wsc_queue_ref is allowed.
	 * Only for the agent's own hop to latchkeyd, which carries ssh's
	 * ciphertext and the tunnel's control messages: RFC 6455 masking
	 * protects intermediaries from what a browser's script sends, and
	 * nothing here is a browser (docs/sessions.md, "Data path").
	 */
	int			 zero_mask;
	/* wsconn.c's own (pre and hstash are not used: see lk_wsc_init) */
	size_t			 pk;		/* of the piece, unmasked */
	int			 tready;	/* a text message in tbuf */
	int			 close_out;	/* our close frame written */
	unsigned		 ocount;	/* segments in obuf */
	size_t			 ohead, otail;	/* obuf ring: used part */
};

/*
 * Sets w up on the connected, non-blocking descriptor fd. io NULL: plain
 * recv/send on fd. pre[0..prelen) are bytes already read after the opening
 * handshake; they are copied. Returns 0 or LK_ERR_ALLOC.
 */
int	lk_wsc_init(struct lk_wsc *w, int fd, int role,
	    const struct lk_wsc_io *io, const void *pre, size_t prelen);
/* Frees what w holds (not fd, not io.arg). Pieces referenced elsewhere
 * must have been released; queued references are dropped (released). */
void	lk_wsc_free(struct lk_wsc *w);

/*
 * Reads what the socket has into the input buffer (one recv of up to the
 * free space). Returns the bytes read, 0 when there was nothing (or no
 * room: the buffer is full of unparsed bytes or of held pieces), -1 when
 * the connection ended or failed (w->broken set).
 */
ssize_t	lk_wsc_fill(struct lk_wsc *w);
/*
 * 1 when lk_wsc_fill has room to read into; 0 while the buffer is full of
 * unparsed bytes or of pieces still held (iref): poll for POLLIN only when
 * this says 1, or the loop spins.
 */
int	lk_wsc_room(const struct lk_wsc *w);
/*
 * The next event in what was read: control frames are handled here (a
 * ping is answered with a pong, a pong counts as life, a close is answered
 * and reported as LK_WSC_CLOSED once), data comes as LK_WSC_DATA pieces.
 * A piece stays the next event until lk_wsc_consume takes all of it.
 * LK_WSC_ERROR: a protocol violation (a close with w->error_code is
 * queued) or the connection is broken.
 */
int	lk_wsc_peek(struct lk_wsc *w, struct lk_wsc_ev *ev);
/* Takes n bytes (n <= ev.n) of the piece lk_wsc_peek gave. */
void	lk_wsc_consume(struct lk_wsc *w, size_t n);

/*
 * Queues data: a frame of op (LK_WS_OP_BINARY/TEXT) carrying p[0..n),
 * first/fin saying where the piece is in its message (a message may be
 * sent in pieces: the first carries op, the others are continuations).
 *   lk_wsc_queue_copy	copies p (masking it in client role)
 *   lk_wsc_queue_ref	refers to p until written; *ref is incremented
 *			now and decremented when the frame is written or
 *			dropped (server role, or client role with
 *			zero_mask: no mask to apply)
 * Returns 0, or LK_ERR_ALLOC, or LK_ERR_STATE after a close was sent.
 */
int	lk_wsc_queue_copy(struct lk_wsc *w, int op, int first, int fin,
	    const void *p, size_t n);
int	lk_wsc_queue_ref(struct lk_wsc *w, int op, int first, int fin,
	    const void *p, size_t n, unsigned *ref);
/* Queues a ping (payload: up to 125 bytes, may be NULL/0). */
int	lk_wsc_ping(struct lk_wsc *w, const void *p, size_t n);
/*
 * Closes after the data already queued (a close frame goes out once the
 * queue is empty); the first call's code and reason count. reason is cut
 * to 123 bytes.
 */
void	lk_wsc_close(struct lk_wsc *w, int code, const char *reason);
/*
 * Writes what is queued, as much as the socket takes (writev of several
 * frames at once). Returns 0 (done or would block; see lk_wsc_want_write)
 * or -1 when the connection failed (w->broken set).
 */
int	lk_wsc_flush(struct lk_wsc *w);
/* Bytes queued and not yet written (headers included). */
size_t	lk_wsc_queued(const struct lk_wsc *w);
int	lk_wsc_want_write(const struct lk_wsc *w);
/* 1 while reading makes sense: not broken and no close received. */
int	lk_wsc_want_read(const struct lk_wsc *w);
/* 1 when the close handshake is over (sent and received) or broken. */
int	lk_wsc_done(const struct lk_wsc *w);
/* Gives the input buffer back when nothing is in it or held. */
void	lk_wsc_trim(struct lk_wsc *w);

/* ---- ws.c: dialling (client side) -------------------------------- */

struct lk_ws;	/* an lk_wsc with the libcurl handle that owns its socket */

struct lk_ws_opts {
	const char		*cacert;	/* NULL: the system's CAs */
	const char *const	*headers;	/* "Name: value", NULL-ended */
	long			 timeout_ms;	/* connect + handshake */
};

/*
 * Dials url (ws://, wss://, http:// or https://) and completes the opening
 * handshake. On a refusal err gets the server's "Code: Message" when it sent
 * one; on 0 *wsp is ready.
 */
int	lk_ws_dial(const char *url, const struct lk_ws_opts *o,
	    struct lk_ws **wsp, char *err, size_t errsize);
/* The value of header name in the server's 101 answer, or NULL. */
const char *lk_ws_resp_header(struct lk_ws *ws, const char *name, char *val,
	    size_t size);
/* The connection of a dialled ws (client role, non-blocking). */
struct lk_wsc *lk_ws_conn(struct lk_ws *ws);
/* Sends a close frame and waits briefly for it to go (no bridge). */
void	lk_ws_close(struct lk_ws *ws, int code, const char *reason);
void	lk_ws_free(struct lk_ws *ws);

#endif
