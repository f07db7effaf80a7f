/*
 * The session relay (docs/sessions.md).
 *
 * A client dials /session?sessionId=…&token=… with the WebSocketUrl of
 * StartTerminalSession. Its token is checked and spent (the session row
 * moves from Pending to Connecting in one UPDATE, so a URL opens at most
 * one connection), the connection is upgraded, and the session waits in
 * relay_list for its agent: the agent's long poll is woken and hands out
 * {"session_id","port"} once (relay_take), and the agent dials back to
 * /agent/v1/session/<id> with its own credential. One relay thread, an
 * epoll loop, then moves WebSocket frames between the two sockets of
 * every session (struct lk_wsc, lib/ws.h), passing payloads on without
 * copying them.
 *
 * Threads. libmicrohttpd calls relay_http on whichever thread serves the
 * request and the upgrade callbacks on its own thread; they only take
 * relay_lock for a moment, put the session on relay_kicked and write the
 * eventfd relay_efd. Everything else of a session (its connections, its
 * sockets once attached, its timer) belongs to the relay thread, which
 * alone frees sessions, after taking them off relay_list under the lock.
 *
 * Back-pressure: a side is read only while the frames queued towards the
 * other side are below LK_WS_HIGH_WATER (and its input buffer, which
 * those frames point into, has room), so a slow end slows the fast one and
 * a session holds at most one input buffer per direction. A close from
 * either side is passed on with its code and reason; a side that drops
 * without a close frame becomes LK_WS_AGENT_LOST or LK_WS_CLIENT_LOST for
 * the other, or, when the session resumes (docs/sessions.md, "Resume"),
 * LK_WS_RESUME for both, and the session waits, Disconnected, for
 * ResumeTerminalSession.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "agentauth.h"
#include "err.h"
#include "util.h"
#include "latchkeyd.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "audit.h"
#include "relay.h"
#include "store.h"
#include "ws.h"

#define RELAY_CLOSE_GRACE_MS	5000
#define RELAY_ID_MAX		47
#define RELAY_EVENTS		64	/* epoll events taken per wait */
#define RELAY_STOP_WAIT		3	/* seconds relay_stop waits */
#define RELAY_ABORT_WAIT	2	/* and then for the records */
#define RELAY_RECHECK_MS	1000	/* a hand-out not yet seen: look again */
#define RELAY_TRIM_MS		1000	/* quiet this long: buffers go */

struct relay_sess;

struct relay_side {
	struct relay_sess		*s;
	struct relay_side		*peer;
	const char			*name;
	struct lk_wsc			 w;	/* once ready */
	int				 ready;	/* w is set up */
	struct MHD_UpgradeResponseHandle *urh;	/* TLS: libmicrohttpd's */
	int				 own_fd;	/* plain: ours, or -1 */
	int				 broken;
	int				 lost_told;
	int				 close_code;	/* its close, or loss */
	char				 reason[124];
	uint64_t			 bytes;	/* payload received */
	uint32_t			 evs;	/* watched for; 0: not in epoll */
};

/*
 * AGENT_WAITING: the client is connected and the session waits for its
 * agent's poll, on whichever replica (AGENT_HANDED when this replica's
 * poll handed it out); then the agent dials this replica.
 */
enum { AGENT_WAITING, AGENT_HANDED, AGENT_DIALLING, AGENT_ATTACHED };

/*
 * id, instance and port are set before the session is listed and never
 * change. agent, end_code, kicked, next and knext are under relay_lock; so
 * is the agent side until agent says AGENT_ATTACHED. The rest is the
 * relay thread's.
 */
struct relay_sess {
	char			 id[RELAY_ID_MAX + 1];
	char			 instance[64];
	int			 port;
	int			 resumable;	/* both ends resume */
	int64_t			 epoch;		/* this connection's */
	struct relay_side	 c, a;
	int			 agent;		/* AGENT_* */
	int			 end_code;	/* asked to end with this code */
	int			 kicked;	/* on relay_kicked */
	struct relay_sess	*next;		/* relay_list */
	struct relay_sess	*knext;		/* relay_kicked */

	int			 known;		/* the relay thread has it */
	int			 announced;	/* its hand-out is recorded */
	long long		 since;		/* the client came, ms */
	long long		 handed_ms;	/* this replica handed it out */
	int			 pumping;	/* the agent is attached */
	int			 counted;	/* in metrics' sessions open */
	int			 end_req;	/* end_code, as last seen */
	struct relay_side	*closer;	/* whose close (or loss) came first */
	int			 own_code;	/* or the relay's: idle, ended */
	long long		 wait_until;	/* for the agent's dial-back, ms */
	long long		 last;		/* last byte moved, ms */
	long long		 last_alive;	/* pumping began, ms */
	int			 lost;		/* resumable and lost */
	int			 loops;		/* rounds in one pump */
	long long		 grace;		/* the close's time is up, ms */
	long long		 due;		/* its timer (relay_heap), ms */
	size_t			 hidx;		/* its place in relay_heap */
	int			 ready;		/* on this round's run list */
	int			 rerun;		/* run again at once */
	struct relay_sess	*rnext;
};

struct relay_conf relay_conf = { RELAY_IDLE_DEFAULT, RELAY_TOKEN_TTL_DEFAULT,
    RELAY_PER_KEY_DEFAULT, RELAY_RESUME_WAIT_DEFAULT, RELAY_BUFFER_DEFAULT };

/*
 * Upgrades answered but not taken yet: libmicrohttpd may close a
 * connection before it sends the 101 (the client hung up while a worker
 * checked its token), and then never calls the upgrade callback; http.c
 * says so (relay_abandoned) and what the answer held is let go.
 */
struct relay_pending {
	struct MHD_Connection	*c;
	int			 agent;
	void			*cls;	/* the session, or the agent's id */
	struct relay_pending	*next;
};

static pthread_mutex_t relay_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t relay_cond;	/* relay_stop waits for the thread */
static struct relay_sess *relay_list;	/* every session until it is freed */
static struct relay_sess *relay_kicked;	/* news for the relay thread */
static struct relay_pending *relay_pendings;
static int relay_quit, relay_abort, relay_running;
static int relay_ep = -1, relay_efd = -1;
static pthread_t relay_thread;

/*
 * The relay thread's timers: a binary min-heap of every known session by
 * due time, so that finding the next deadline and moving one cost
 * O(log n) with thousands of sessions.
 */
static struct relay_sess **relay_heap;
static size_t relay_nheap, relay_heapcap;

static int
relay_err(char **bodyp, int status, const char *code, const char *msg)
{
	char rid[37];
	json_t *j;

	lkd_request_id(rid);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "RequestId", rid,
	    "HostId", "latchkey", "Code", code, "Message", msg,
	    "Recommend", lkd_recommend(code));
	*bodyp = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	return status;
}

/*
 * An agent's dial-back reached a replica that does not hold the client:
 * 409, naming the replica that does (the agent was given its URL).
 */
static int
relay_err_elsewhere(char **bodyp, const char *sid,
    const struct store_sess_route *rt)
{
	char rid[37], msg[256];
	json_t *j;

	lkd_request_id(rid);
	snprintf(msg, sizeof(msg), "Session %s's client is held by replica %s "
	    "(%s), not this one (%s); dial that replica.", sid, rt->replica,
	    rt->url, lkd->replica_id);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "RequestId", rid,
	    "HostId", "latchkey", "Code", "InvalidSessionId.OtherReplica",
	    "Message", msg, "Recommend",
	    lkd_recommend("InvalidSessionId.OtherReplica"), "Replica",
	    rt->replica, "ReplicaUrl", rt->url);
	*bodyp = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	return 409;
}

static const char *
relay_hdr(const struct lk_sig_header *h, size_t nh, const char *name)
{
	size_t i;

	for (i = 0; i < nh; i++)
		if (strcmp(h[i].name, name) == 0)
			return h[i].value;
	return NULL;
}

/* Does the comma-separated header value list contain token? */
static int
relay_hdr_has(const char *v, const char *token)
{
	size_t tl = strlen(token), n;

	while (v != NULL && *v != '\0') {
		v += strspn(v, " \t,");
		n = strcspn(v, ",");
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (n == tl && strncasecmp(v, token, tl) == 0)
			return 1;
		v += strcspn(v, ",");
	}
	return 0;
}


/* ---- timers ---- */

static void
relay_heap_swap(size_t i, size_t j)
{
	struct relay_sess *t = relay_heap[i];

	relay_heap[i] = relay_heap[j];
	relay_heap[j] = t;
	relay_heap[i]->hidx = i;
	relay_heap[j]->hidx = j;
}

static void
relay_heap_up(size_t i)
{
	while (i > 0 && relay_heap[(i - 1) / 2]->due > relay_heap[i]->due) {
		relay_heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
relay_heap_down(size_t i)
{
	size_t l, m;

	for (;;) {
		m = i;
		l = 2 * i + 1;
		if (l < relay_nheap && relay_heap[l]->due < relay_heap[m]->due)
			m = l;
		if (l + 1 < relay_nheap &&
		    relay_heap[l + 1]->due < relay_heap[m]->due)
			m = l + 1;
		if (m == i)
			return;
		relay_heap_swap(i, m);
		i = m;
	}
}

static void
relay_heap_add(struct relay_sess *s, long long due)
{
	struct relay_sess **h;
	size_t cap;

	if (relay_nheap == relay_heapcap) {
		cap = relay_heapcap ? relay_heapcap * 2 : 64;
		if ((h = reallocarray(relay_heap, cap, sizeof(*h))) == NULL)
			fatalx("relay: out of memory");
		relay_heap = h;
		relay_heapcap = cap;
	}
	s->due = due;
	s->hidx = relay_nheap;
	relay_heap[relay_nheap++] = s;
	relay_heap_up(s->hidx);
}

/* Moves s's timer to due. */
static void
relay_heap_set(struct relay_sess *s, long long due)
{
	long long old = s->due;

	s->due = due;
	if (due < old)
		relay_heap_up(s->hidx);
	else if (due > old)
		relay_heap_down(s->hidx);
}

static void
relay_heap_del(struct relay_sess *s)
{
	size_t i = s->hidx;

	if (--relay_nheap == i)
		return;
	relay_heap[i] = relay_heap[relay_nheap];
	relay_heap[i]->hidx = i;
	relay_heap_down(i);
	relay_heap_up(i);
}

/* ---- moving messages (the relay thread) ---- */

/*
 * Back-pressure: nothing more from x while the other side is behind (its
 * queue, which may point into x's input buffer, is over LK_WS_HIGH_WATER),
 * while x itself does not read what it is sent (pongs to its pings queue up
 * on its own side), or while x's input buffer is full of pieces the other
 * side has not written yet.
 */
static int
relay_may_read(const struct relay_side *x)
{
	const struct lk_wsc *w = &x->w;

	if (!x->peer->broken && lk_wsc_queued(&x->peer->w) >= LK_WS_HIGH_WATER)
		return 0;
	if (lk_wsc_queued(w) >= LK_WS_HIGH_WATER)
		return 0;
	return lk_wsc_room(w);
}

/* Closes x after the data already queued to it. */
static void
relay_close_on(struct relay_side *x, int code, const char *reason)
{
	if (!x->ready || x->broken || x->w.close_sent || x->w.pend_code != 0)
		return;
	lk_wsc_close(&x->w, code, reason);
}

/*
 * Is code one a resumable session survives? A side's loss (4001, 4005),
 * an end that drops its connection to resume (4006: the agent, for a
 * newer connection) or refuses a resume's offsets (4007). An end that
 * closes with anything else means it (1000 done, 1001 told to stop).
 */
static int
relay_code_resumes(int code)
{
	return code == LK_WS_RESUME || code == LK_WS_RESUME_RANGE ||
	    code == LK_WS_AGENT_LOST || code == LK_WS_CLIENT_LOST;
}

/*
 * x ended (its close frame with code, or its loss: code is then 4001 or
 * 4005). The first to end decides: a resumable session whose end can be
 * resumed is lost (the other side is told LK_WS_RESUME, or for a refused
 * resume the agent's own code), anything else is passed on as it came.
 */
static void
relay_side_ended(struct relay_sess *s, struct relay_side *x, int code,
    const char *reason)
{
	if (s->closer != NULL || s->own_code != 0) {
		relay_close_on(x->peer, code, reason);
		return;
	}
	s->closer = x;
	if (s->resumable && relay_code_resumes(code)) {
		s->lost = 1;
		relay_close_on(x->peer, code == LK_WS_RESUME_RANGE ? code :
		    LK_WS_RESUME, code == LK_WS_RESUME_RANGE ? reason :
		    "connection lost; resume the session");
		return;
	}
	relay_close_on(x->peer, code, reason);
}

/*
 * Moves what x has sent towards its peer: each data piece is queued on the
 * peer as a frame referring to x's input buffer (no copy; text, given
 * whole, is copied), until the peer's queue is full or x has nothing
 * more. A close from x is passed on (relay_side_ended).
 */
static void
relay_move(struct relay_sess *s, struct relay_side *x, long long now)
{
	struct relay_side *y = x->peer;
	struct lk_wsc_ev ev;
	int op, r, code;

	while (!x->broken) {
		r = lk_wsc_peek(&x->w, &ev);
		if (r == LK_WSC_NONE) {
			if (!relay_may_read(x) || lk_wsc_fill(&x->w) <= 0) {
				if (x->w.broken)
					x->broken = 1;
				return;
			}
			continue;
		}
		if (r == LK_WSC_CLOSED) {
			code = x->w.close_code;
			if (code == 0 || code == 1005)
				code = LK_WS_NORMAL;
			x->close_code = code;
			snprintf(x->reason, sizeof(x->reason), "%s",
			    x->w.close_reason);
			relay_side_ended(s, x, code, x->reason);
			return;
		}
		if (r == LK_WSC_ERROR) {
			if (x->w.broken)
				x->broken = 1;
			else if (!x->lost_told) {
				/* Our close for its bad frame is queued. */
				x->lost_told = 1;
				x->close_code = x->w.error_code;
				relay_side_ended(s, x, x->w.error_code,
				    lk_ws_code_name(x->w.error_code));
			}
			return;
		}
		if (!y->ready || y->broken || y->w.close_sent ||
		    y->w.pend_code != 0) {
			x->bytes += ev.n;	/* nobody to take it: dropped */
			lk_wsc_consume(&x->w, ev.n);
			continue;
		}
		if (lk_wsc_queued(&y->w) >= LK_WS_HIGH_WATER)
			return;
		/* Text is the ends' control; without resume it is data. */
		op = ev.op == LK_WS_OP_TEXT && s->resumable ? LK_WS_OP_TEXT :
		    LK_WS_OP_BINARY;
		if (ev.op == LK_WS_OP_TEXT)
			r = lk_wsc_queue_copy(&y->w, op, ev.first, ev.fin,
			    ev.p, ev.n);
		else
			r = lk_wsc_queue_ref(&y->w, op, ev.first, ev.fin,
			    ev.p, ev.n, &x->w.iref);
		if (r != 0) {
			relay_close_on(x, LK_WS_INTERNAL, "relay out of memory");
			return;
		}
		x->bytes += ev.n;
		metrics_relay_bytes(x == &s->c, ev.n);
		s->last = now;
		lk_wsc_consume(&x->w, ev.n);
	}
}

static int
relay_side_done(const struct relay_side *x)
{
	return x->broken || lk_wsc_done(&x->w);
}

/*
 * Watches x for what it needs now. Level-triggered: the interest follows
 * the state after every round (readable only while relay_may_read,
 * writable only while something is queued). Edge-triggered would save
 * these epoll_ctl calls but leave a trap: a socket left unread because of
 * back-pressure gives no new edge when the other side drains, so every
 * such place would have to remember to read again by hand, and a
 * forgotten one hangs a session. The interest changes only when a queue
 * crosses the high-water mark or fills and empties, so the cost is small.
 * A side wanting nothing is taken out of epoll: a hung-up socket would
 * otherwise report EPOLLHUP on every wait.
 */
static void
relay_side_watch(struct relay_side *x)
{
	struct epoll_event ev;
	uint32_t want = 0;
	int op;

	if (x->ready && !x->broken && x->w.fd >= 0) {
		if (lk_wsc_want_read(&x->w) && relay_may_read(x))
			want |= EPOLLIN;
		if (lk_wsc_want_write(&x->w))
			want |= EPOLLOUT;
	}
	if (want == x->evs)
		return;
	op = x->evs == 0 ? EPOLL_CTL_ADD : want == 0 ? EPOLL_CTL_DEL :
	    EPOLL_CTL_MOD;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.ptr = x;
	if (epoll_ctl(relay_ep, op, x->w.fd, &ev) != 0) {
		/* Out of kernel memory: the side is lost, said at once. */
		log_warn("session %s: epoll_ctl %s", x->s->id, x->name);
		if (x->evs != 0)
			(void)epoll_ctl(relay_ep, EPOLL_CTL_DEL, x->w.fd, &ev);
		x->broken = 1;
		want = 0;
		x->s->rerun = 1;
	}
	x->evs = want;
}

/* x's connection dropped without a close frame (or went silent). */
static void
relay_side_broke(struct relay_sess *s, struct relay_side *x)
{
	int code;

	if (!x->broken || x->lost_told)
		return;
	x->lost_told = 1;
	if (x->w.close_rcvd)
		return;		/* its close was passed on already */
	code = x == &s->a ? LK_WS_AGENT_LOST : LK_WS_CLIENT_LOST;
	x->close_code = code;
	relay_side_ended(s, x, code, lk_ws_code_name(code));
}

/* Both sides closed with the code of the relay's own (ended, 1001). */
static void
relay_close_both(struct relay_sess *s, int code, const char *why)
{
	relay_close_on(&s->c, code, why);
	relay_close_on(&s->a, code, why);
	if (s->closer == NULL && s->own_code == 0)
		s->own_code = code;
}

/*
 * Keep-alive: a side silent for a third of the idle timeout is pinged; one
 * silent for all of it is taken as lost (a side left unread because of
 * back-pressure is not silent: its bytes wait in the socket). Returns the
 * time of x's next check.
 */
static long long
relay_side_alive(struct relay_sess *s, struct relay_side *x, long long now)
{
	long long idle_ms = relay_conf.idle * 1000LL, ping_ms = idle_ms / 3;

	if (!x->ready || x->broken || x->w.close_rcvd)
		return LLONG_MAX;
	if (!relay_may_read(x) || x->w.last_rx_ms < s->last_alive)
		x->w.last_rx_ms = now > s->last_alive ? now : s->last_alive;
	if (now - x->w.last_rx_ms >= idle_ms) {
		log_info("session %s %s silent for %ld s", s->id, x->name,
		    relay_conf.idle);
		x->broken = 1;
		s->rerun = 1;
		return LLONG_MAX;
	}
	if (now - x->w.last_rx_ms >= ping_ms && x->w.pings_out == 0 &&
	    !x->w.close_sent)
		(void)lk_wsc_ping(&x->w, "lk", 2);
	if (x->w.pings_out == 0)
		return x->w.last_rx_ms + ping_ms;
	return x->w.last_rx_ms + idle_ms;
}

/*
 * One round for an attached session: read what there is, write what waits,
 * pass closes and losses on, then watch the sockets and set the timer (the
 * close's grace or the next keep-alive check). Returns 1 when the session
 * is over: both sides closed, or the grace time is up.
 */
static int
relay_pump(struct relay_sess *s)
{
	struct relay_side *side[2] = { &s->c, &s->a }, *x;
	long long now = lk_now_ms(), due, d;
	int i, again;

	if (s->end_req == LK_WS_GOING_AWAY && s->resumable &&
	    s->closer == NULL && s->own_code == 0) {
		/* latchkeyd stops: the ends resume through another one. */
		s->lost = 1;
		relay_close_both(s, LK_WS_RESUME, "latchkeyd is stopping; "
		    "resume the session");
	} else if (s->end_req != 0)
		relay_close_both(s, s->end_req, lk_ws_code_name(s->end_req));
	do {
		again = 0;
		for (i = 0; i < 2; i++)
			relay_move(s, side[i], now);
		for (i = 0; i < 2; i++) {
			x = side[i];
			if (!x->broken && lk_wsc_want_write(&x->w)) {
				if (lk_wsc_flush(&x->w) != 0)
					x->broken = 1;
				/* Written: the other side may read again. */
				else if (x->peer->w.iref == 0 &&
				    x->peer->w.ioff < x->peer->w.ilen)
					again = 1;
			}
		}
		relay_side_broke(s, &s->c);
		relay_side_broke(s, &s->a);
	} while (again && !s->c.broken && !s->a.broken &&
	    lk_wsc_queued(&s->c.w) < LK_WS_HIGH_WATER &&
	    lk_wsc_queued(&s->a.w) < LK_WS_HIGH_WATER && s->loops++ < 64);
	s->loops = 0;
	if (relay_side_done(&s->c) && relay_side_done(&s->a))
		return 1;
	if (s->grace == 0 && (s->c.broken || s->a.broken ||
	    s->c.w.pend_code || s->a.w.pend_code || s->c.w.close_sent ||
	    s->a.w.close_sent))
		s->grace = now + RELAY_CLOSE_GRACE_MS;
	if (s->grace != 0 && now >= s->grace)
		return 1;
	due = s->grace != 0 ? s->grace : LLONG_MAX;
	if (s->grace == 0)
		for (i = 0; i < 2; i++)
			if ((d = relay_side_alive(s, side[i], now)) < due)
				due = d;
	/* Sessions quiet for a while give their buffers back. */
	if (now - s->last >= RELAY_TRIM_MS) {
		lk_wsc_trim(&s->c.w);
		lk_wsc_trim(&s->a.w);
	} else if ((s->c.w.ibuf != NULL || s->a.w.ibuf != NULL) &&
	    s->last + RELAY_TRIM_MS < due)
		due = s->last + RELAY_TRIM_MS;
	relay_side_watch(&s->c);
	relay_side_watch(&s->a);
	/* After a failed epoll_ctl or a side gone silent: at once. */
	relay_heap_set(s, s->rerun ? 0 : due);
	s->rerun = 0;
	return 0;
}

/*
 * The session's audit event (docs/audit.md): its connection joined
 * (status NULL) or ended, with this connection's bytes.
 */
static void
relay_audit(const struct relay_sess *s, const char *kind, const char *status,
    const char *reason)
{
	struct audit_ev ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.actor_type = AUDIT_ACTOR_AGENT;
	ev.actor = s->instance;
	ev.instance = s->instance;
	ev.detail = status == NULL ? json_pack("{s:s, s:I, s:i}",
	    "session_id", s->id, "epoch", (json_int_t)s->epoch, "port",
	    s->port) : json_pack("{s:s, s:I, s:i, s:s, s:o, s:I, s:I}",
	    "session_id", s->id, "epoch", (json_int_t)s->epoch, "port",
	    s->port, "status", status, "reason", audit_str(reason),
	    "bytes_in", (json_int_t)s->c.bytes, "bytes_out",
	    (json_int_t)s->a.bytes);
	(void)audit_emit(&ev);
}

/*
 * The session's record, as this connection ends: Closed or Failed, or,
 * when a resumable session was lost, Disconnected until its ends resume
 * (ResumeTerminalSession) or --session-resume-wait is over.
 */
static void
relay_record(struct relay_sess *s, const char *status, const char *reason)
{
	char vis[160];
	int r;

	if (s->lost)
		r = store_sess_lost(lkd->db, s->id, s->epoch, lkd_now(),
		    (int64_t)s->c.bytes, (int64_t)s->a.bytes);
	else
		r = store_sess_finish(lkd->db, s->id, s->epoch, status,
		    lkd_now(), (int64_t)s->c.bytes, (int64_t)s->a.bytes,
		    reason);
	if (r != 0)
		log_warnx("session %s: cannot record its end", s->id);
	relay_audit(s, "session.end", s->lost ? "Disconnected" : status,
	    reason);
	if (s->counted) {
		s->counted = 0;
		metrics_session(-1);
	}
	lk_vis(vis, sizeof(vis), reason, strlen(reason));
	log_info("session %s %s instance=%s port=%d epoch=%lld bytes_in=%llu "
	    "bytes_out=%llu reason=\"%s\"", s->id, s->lost ? "Disconnected" :
	    status, s->instance, s->port, (long long)s->epoch,
	    (unsigned long long)s->c.bytes, (unsigned long long)s->a.bytes,
	    vis);
}

static void
relay_side_free(struct relay_side *x)
{
	struct epoll_event ev;

	if (x->evs != 0) {
		memset(&ev, 0, sizeof(ev));
		(void)epoll_ctl(relay_ep, EPOLL_CTL_DEL, x->w.fd, &ev);
	}
	/* The other side's references into this buffer go first. */
	if (x->ready)
		lk_wsc_free(&x->w);
	x->ready = 0;
	if (x->own_fd >= 0)
		close(x->own_fd);
	x->own_fd = -1;
	if (x->urh != NULL)
		MHD_upgrade_action(x->urh, MHD_UPGRADE_ACTION_CLOSE);
	x->urh = NULL;
}

/* What ended the session, for its record: who closed first, and why. */
static void
relay_reason(struct relay_sess *s, char *buf, size_t size)
{
	struct relay_side *x = s->closer;
	int code = x != NULL ? x->close_code : s->own_code;

	if (code == 0)
		code = LK_WS_ABNORMAL;
	snprintf(buf, size, "%s%s%s (%d)%s%s", x ? x->name : "",
	    x ? ": " : "", lk_ws_code_name(code), code,
	    x && *x->reason ? ": " : "", x && *x->reason ? x->reason : "");
}

/* Takes s off relay_list and frees it; the relay thread only. */
static void
relay_sess_free(struct relay_sess *s)
{
	struct relay_sess **pp;

	pthread_mutex_lock(&relay_lock);
	for (pp = &relay_list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	/* Kicked since this round began (EndTerminalSession, say). */
	for (pp = &relay_kicked; s->kicked && *pp != NULL;
	    pp = &(*pp)->knext)
		if (*pp == s) {
			*pp = s->knext;
			break;
		}
	pthread_mutex_unlock(&relay_lock);
	if (s->known)
		relay_heap_del(s);
	relay_side_free(&s->c);
	relay_side_free(&s->a);
	free(s);
}

/*
 * The client is connected: the session is recorded as waiting for its
 * agent's poll, on whichever replica the poll is, and that poll is woken
 * (notify_wake_many reaches the replica where it is parked). A failed write is
 * logged; the session then fails when its wait is over.
 */
static void
relay_announce(struct relay_sess *s)
{
	const char *id = s->instance;
	int r;

	s->announced = 1;
	if ((r = store_sess_client_held(lkd->db, s->id)) != 0 &&
	    r != LK_ERR_NOT_FOUND)
		log_warnx("session %s: cannot record its client: %s", s->id,
		    lk_err(r));
	notify_wake_many(&id, 1);
}

/*
 * s's wait for its agent is over at s->wait_until, RELAY_AGENT_WAIT after
 * its client came. Does it get longer? The agent is given RELAY_AGENT_WAIT
 * from the hand-out, which may have happened later, on another replica
 * (the database says when), and the hand-out itself up to
 * RELAY_HANDOUT_WAIT after the client came (a poll that was not woken
 * finds the session when it next begins). Returns 1 with a new
 * s->wait_until, 0 when the wait is over.
 */
static int
relay_wait_more(struct relay_sess *s, long long handed_ms, long long now)
{
	struct store_sess_route rt;
	long long left;
	int r = 0;

	if (handed_ms != 0) {	/* handed out here: no need to ask */
		if (now >= handed_ms + RELAY_AGENT_WAIT * 1000LL)
			return 0;
		s->wait_until = handed_ms + RELAY_AGENT_WAIT * 1000LL;
		return 1;
	}
	if (store_sess_route_get(lkd->db, s->id, &rt) == 0 &&
	    rt.handout == 2) {
		left = (rt.handed + RELAY_AGENT_WAIT - lkd_now()) * 1000LL;
		if (left > 0) {
			s->wait_until = now + left;
			r = 1;
		}
	} else if (now < s->since + RELAY_HANDOUT_WAIT * 1000LL) {
		s->wait_until = now + RELAY_RECHECK_MS;
		r = 1;
	}
	store_sess_route_free(&rt);
	return r;
}

/*
 * Before the agent has dialled back: 1 once it is attached, 0 while it may
 * still come, -1 when the session failed (recorded; the client was sent
 * the close): EndTerminalSession, latchkeyd stopping, or the wait for the
 * agent over (relay_wait_more). A dial-back that comes later finds the
 * session no longer waiting.
 */
static int
relay_wait(struct relay_sess *s, long long now)
{
	char reason[64];
	long long handed_ms;
	int code, attached, dialling, over = 0;

	if (!s->announced)
		relay_announce(s);
	pthread_mutex_lock(&relay_lock);
	dialling = s->agent >= AGENT_DIALLING;
	handed_ms = s->handed_ms;
	pthread_mutex_unlock(&relay_lock);
	/* No lock over the database: a dial-back may attach meanwhile. */
	if (now >= s->wait_until)
		over = dialling || !relay_wait_more(s, handed_ms, now);
	pthread_mutex_lock(&relay_lock);
	attached = s->agent == AGENT_ATTACHED;
	code = s->end_code ? s->end_code : relay_quit ? LK_WS_GOING_AWAY :
	    over ? LK_WS_NO_AGENT : 0;
	if (!attached && code != 0)
		s->agent = AGENT_WAITING, s->end_code = code;
	pthread_mutex_unlock(&relay_lock);
	if (attached) {
		(void)store_sess_connected(lkd->db, s->id, s->epoch);
		relay_audit(s, "session.connect", NULL, NULL);
		log_info("session %s connected instance=%s port=%d epoch=%lld",
		    s->id, s->instance, s->port, (long long)s->epoch);
		if (!s->counted) {
			s->counted = 1;
			metrics_session(1);
		}
		s->pumping = 1;
		s->last = s->last_alive = now;
		return 1;
	}
	if (code == 0)
		return 0;
	/* latchkeyd stopping: a resumable session comes back elsewhere. */
	if (code == LK_WS_GOING_AWAY && s->resumable) {
		s->lost = 1;
		code = LK_WS_RESUME;
	}
	relay_close_on(&s->c, code, lk_ws_code_name(code));
	/* A fresh socket takes a close frame at once; no waiting for it. */
	if (!s->c.broken && lk_wsc_flush(&s->c.w) != 0)
		s->c.broken = 1;
	snprintf(reason, sizeof(reason), "%s (%d)", lk_ws_code_name(code),
	    code);
	/* A resume the agent never took up ends the session. */
	relay_record(s, s->epoch > 0 ? "Closed" : "Failed", reason);
	return -1;
}

/* Whatever woke s: its sockets, its timer or another thread. */
static void
relay_run(struct relay_sess *s)
{
	char reason[256];
	int r;

	if (!s->pumping) {
		if ((r = relay_wait(s, lk_now_ms())) < 0) {
			relay_sess_free(s);
			return;
		}
		if (r == 0) {
			relay_heap_set(s, s->wait_until);
			return;
		}
	}
	if (relay_pump(s)) {
		relay_reason(s, reason, sizeof(reason));
		relay_record(s, "Closed", reason);
		relay_sess_free(s);
	}
}

static void
relay_ready(struct relay_sess *s, struct relay_sess **run)
{
	if (s->ready)
		return;
	s->ready = 1;
	s->rnext = *run;
	*run = s;
}

/*
 * The sessions other threads kicked go on the run list; new ones get their
 * timer (the agent's dial-back wait).
 */
static void
relay_take_kicked(struct relay_sess **run)
{
	struct relay_sess *s;
	uint64_t n;

	lk_fd_drain(relay_efd, &n, sizeof(n));
	pthread_mutex_lock(&relay_lock);
	for (s = relay_kicked; s != NULL; s = s->knext) {
		s->kicked = 0;
		s->end_req = s->end_code;
		if (!s->known) {
			s->known = 1;
			relay_heap_add(s, s->wait_until);
		}
		relay_ready(s, run);
	}
	relay_kicked = NULL;
	pthread_mutex_unlock(&relay_lock);
}

/*
 * relay_stop's wait is over: every session left is recorded and freed now,
 * without waiting for its close, before libmicrohttpd stops and frees the
 * upgraded connections.
 */
static void
relay_abort_all(void)
{
	struct relay_sess *s;
	char reason[256];

	for (;;) {
		pthread_mutex_lock(&relay_lock);
		s = relay_list;
		pthread_mutex_unlock(&relay_lock);
		if (s == NULL)
			return;
		if (s->pumping) {
			if (s->closer == NULL && s->own_code == 0)
				s->own_code = LK_WS_GOING_AWAY;
			if (s->resumable)
				s->lost = 1;
			relay_reason(s, reason, sizeof(reason));
			relay_record(s, "Closed", reason);
		} else {
			snprintf(reason, sizeof(reason), "%s (%d)",
			    lk_ws_code_name(LK_WS_GOING_AWAY),
			    LK_WS_GOING_AWAY);
			relay_record(s, "Failed", reason);
		}
		relay_sess_free(s);
	}
}

static int
relay_timeout(void)
{
	long long left;

	if (relay_nheap == 0)
		return -1;
	left = relay_heap[0]->due - lk_now_ms();
	return left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

/*
 * The relay thread: one epoll loop for every session. Each round collects
 * the sessions that have something to do (a socket event, a kick, a timer
 * that is due) on a run list, each once, and runs them; a session is freed
 * only while it is run, so no event of the round points at freed memory.
 * It ends when relay_stop has asked and no session is left.
 */
static void *
relay_main(void *arg)
{
	struct epoll_event ev[RELAY_EVENTS];
	struct relay_sess *run, *s, *next;
	struct relay_side *x;
	long long now;
	int i, n, done, abort_now;

	(void)arg;
	for (;;) {
		if ((n = epoll_wait(relay_ep, ev, RELAY_EVENTS,
		    relay_timeout())) < 0) {
			if (errno != EINTR)
				fatal("relay: epoll_wait");
			n = 0;
		}
		run = NULL;
		for (i = 0; i < n; i++) {
			if ((x = ev[i].data.ptr) == NULL)
				relay_take_kicked(&run);
			else
				relay_ready(x->s, &run);
		}
		now = lk_now_ms();
		while (relay_nheap > 0 && relay_heap[0]->due <= now) {
			/* Out of the way until its run sets it again. */
			relay_ready(relay_heap[0], &run);
			relay_heap_set(relay_heap[0], LLONG_MAX);
		}
		for (s = run; s != NULL; s = next) {
			next = s->rnext;
			s->ready = 0;
			relay_run(s);
		}
		pthread_mutex_lock(&relay_lock);
		abort_now = relay_abort;
		pthread_mutex_unlock(&relay_lock);
		if (abort_now)
			relay_abort_all();
		pthread_mutex_lock(&relay_lock);
		if ((done = relay_quit && relay_list == NULL))
			relay_running = 0;
		pthread_cond_broadcast(&relay_cond);
		pthread_mutex_unlock(&relay_lock);
		if (done)
			return NULL;
	}
}

/* Under relay_lock: has the relay thread look at s soon. */
static void
relay_kick(struct relay_sess *s)
{
	uint64_t one = 1;

	if (!s->kicked) {
		s->kicked = 1;
		s->knext = relay_kicked;
		relay_kicked = s;
	}
	lk_fd_wake(relay_efd, &one, sizeof(one));
}

/* ---- the upgrades (libmicrohttpd's thread: never block) ---- */

static int
relay_side_take(struct relay_side *x, const char *extra, size_t extra_size,
    MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	int fl, one = 1, fd = -1;

	/*
	 * Without TLS the socket is all there is: a duplicate is kept and
	 * libmicrohttpd's connection let go at once, with the memory pool
	 * it holds (--conn-memory, 32 KiB), so that an idle session costs
	 * latchkeyd little. With TLS libmicrohttpd keeps encrypting for us
	 * through its socketpair, and the connection stays.
	 */
	if (!lkd->tls && (fd = fcntl(sock, F_DUPFD_CLOEXEC, 3)) >= 0)
		sock = fd;
	/* Nothing of x is set on failure: the caller still owns urh. */
	if (lk_wsc_init(&x->w, sock, LK_WSC_SERVER, NULL, extra,
	    extra_size) != 0) {
		if (fd >= 0)
			close(fd);
		return LK_ERR_ALLOC;
	}
	x->ready = 1;
	x->own_fd = fd;
	if (fd >= 0)
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	else
		x->urh = urh;
	if ((fl = fcntl(sock, F_GETFL)) >= 0)
		(void)fcntl(sock, F_SETFL, fl | O_NONBLOCK);
	(void)setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

static int
relay_pending_add(struct MHD_Connection *c, int agent, void *cls)
{
	struct relay_pending *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return LK_ERR_ALLOC;
	p->c = c;
	p->agent = agent;
	p->cls = cls;
	pthread_mutex_lock(&relay_lock);
	p->next = relay_pendings;
	relay_pendings = p;
	pthread_mutex_unlock(&relay_lock);
	return 0;
}

/* Takes c's pending upgrade off the list; NULL if there is none. */
static struct relay_pending *
relay_pending_take(struct MHD_Connection *c)
{
	struct relay_pending *p, **pp;

	pthread_mutex_lock(&relay_lock);
	for (pp = &relay_pendings; (p = *pp) != NULL; pp = &p->next)
		if (p->c == c) {
			*pp = p->next;
			break;
		}
	pthread_mutex_unlock(&relay_lock);
	return p;
}

void
relay_abandoned(struct MHD_Connection *c)
{
	struct relay_pending *p = relay_pending_take(c);
	struct relay_sess *s;

	if (p == NULL)
		return;
	if (p->agent)
		free(p->cls);	/* the session times out waiting for it */
	else {
		s = p->cls;
		relay_record(s, "Failed", "client: gone before the upgrade");
		free(s);	/* as relay_sess_new made it: nothing more */
	}
	free(p);
}

static void
relay_client_up(void *cls, struct MHD_Connection *c, void *req_cls,
    const char *extra, size_t extra_size, MHD_socket sock,
    struct MHD_UpgradeResponseHandle *urh)
{
	struct relay_sess *s = cls;

	(void)req_cls;
	free(relay_pending_take(c));
	if (relay_side_take(&s->c, extra, extra_size, sock, urh) != 0)
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	/* Without resume a client's text is data, of any size, as before. */
	else if (!s->resumable)
		s->c.w.text_streamed = 1;
	if (!s->c.ready) {
		log_warnx("session %s: out of memory", s->id);
		goto drop;
	}
	s->since = lk_now_ms();
	s->wait_until = s->since + RELAY_AGENT_WAIT * 1000LL;
	pthread_mutex_lock(&relay_lock);
	if (!relay_running || relay_quit) {
		/* Its row says Connecting until relay_start's next run. */
		pthread_mutex_unlock(&relay_lock);
		log_warnx("session %s: latchkeyd is stopping", s->id);
		goto drop;
	}
	s->next = relay_list;
	relay_list = s;
	/* The relay thread announces it to the agent's poll (relay_wait). */
	relay_kick(s);
	pthread_mutex_unlock(&relay_lock);
	return;
 drop:
	relay_side_free(&s->c);
	relay_side_free(&s->a);
	free(s);
}

static struct relay_sess *
relay_find(const char *id)
{
	struct relay_sess *s;

	for (s = relay_list; s != NULL; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

static void
relay_agent_up(void *cls, struct MHD_Connection *c, void *req_cls,
    const char *extra, size_t extra_size, MHD_socket sock,
    struct MHD_UpgradeResponseHandle *urh)
{
	char *id = cls;
	struct relay_sess *s;

	(void)req_cls;
	free(relay_pending_take(c));
	pthread_mutex_lock(&relay_lock);
	s = relay_find(id);
	if (s == NULL || s->agent != AGENT_DIALLING ||
	    relay_side_take(&s->a, extra, extra_size, sock, urh) != 0) {
		pthread_mutex_unlock(&relay_lock);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		free(id);
		return;
	}
	s->agent = AGENT_ATTACHED;
	relay_kick(s);
	pthread_mutex_unlock(&relay_lock);
	free(id);
}

/* ---- admission ---- */

/* Does an agent of version v resume sessions (1.2.0 and later)? */
static int
relay_agent_resumes(const char *v)
{
	unsigned long a, b;
	char *end;

	if (v == NULL || *v < '0' || *v > '9')
		return 0;
	a = strtoul(v, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9')
		return 0;
	b = strtoul(end + 1, &end, 10);
	return a > 1 || (a == 1 && b >= 2);
}

/*
 * Checks and spends a client's token; fills s. console: the hash of the
 * console session dialling from the console's terminal page (its Origin
 * and cookie checked by console_ws_admit), NULL at /session.
 */
static int
relay_admit(const char *query, const char *ip, int want_resume,
    const char *console, struct relay_sess *s, char **bodyp)
{
	struct lk_params qp = { 0 };
	struct store_sess_token row = { 0 };
	const char *sid, *token;
	char hash[LK_SIG_V3_SIZE];
	int status = 0, on, r;

	if (lk_params_parse(&qp, query, strlen(query)) != 0 ||
	    (sid = lk_params_get(&qp, "sessionId")) == NULL ||
	    (token = lk_params_get(&qp, "token")) == NULL ||
	    strlen(sid) > RELAY_ID_MAX || strlen(token) > 128) {
		status = relay_err(bodyp, 400, "MissingParameter", "The "
		    "WebSocket URL needs sessionId and token, as "
		    "StartTerminalSession returned them.");
		goto out;
	}
	if (lk_sig_sha256_hex(token, strlen(token), hash) != 0)
		r = LK_ERR_INTERNAL;
	else
		r = store_sess_token_get(lkd->db, sid, &row);
	if (r == LK_ERR_UNAVAILABLE) {
		status = relay_err(bodyp, 503, "ServiceUnavailable",
		    "The database is unavailable, try again later.");
		goto out;
	}
	if (r != 0 && r != LK_ERR_NOT_FOUND) {
		status = relay_err(bodyp, 500, "InternalError",
		    "The session could not be looked up.");
		goto out;
	}
	if (r != 0 || !lk_sig_equal(hash, row.token_hash)) {
		status = relay_err(bodyp, 401, "InvalidSecurityToken",
		    "The session id or token is not valid.");
		goto out;
	}
	if (strcmp(row.status, "Pending") != 0) {
		status = relay_err(bodyp, 401, "InvalidSecurityToken.Used",
		    "This session's WebSocketUrl was already used or the "
		    "session was ended; start a new session.");
		goto out;
	}
	if (row.token_expires <= lkd_now()) {
		status = relay_err(bodyp, 401, "InvalidSecurityToken.Expired",
		    "This session's WebSocketUrl has expired; start a new "
		    "session.");
		goto out;
	}
	/*
	 * A session the console started is dialled by that console session
	 * only, at /console/terminal; the console dials no other.
	 */
	if (console != NULL ? row.console[0] == '\0' ||
	    !lk_sig_equal(console, row.console) : row.console[0] != '\0') {
		status = relay_err(bodyp, 403, "Forbidden.ConsoleSession",
		    console != NULL ? "This session was not started by this "
		    "console session." : "This session was started by the web "
		    "console; only its terminal page may dial it.");
		goto out;
	}
	/* Off, also when the database cannot say. */
	if (store_sess_manager(lkd->db, &on) != 0 || !on) {
		status = relay_err(bodyp, 403, "InvalidOperation."
		    "SessionManagerDisabled", "The session manager is "
		    "disabled for this account.");
		goto out;
	}
	/*
	 * Resumable: asked for by the first connection's client, with an
	 * agent that resumes and resume not turned off; a resume's
	 * connection keeps what the first one had.
	 */
	s->epoch = row.epoch;
	s->resumable = row.epoch > 0 ? row.resumable != 0 : want_resume &&
	    relay_conf.resume_wait > 0 &&
	    relay_agent_resumes(row.agent_version);
	/*
	 * A shell session speaks lib/stream.h's control messages: only over
	 * a stream that resumes (its token stays unspent, for a client that
	 * asks).
	 */
	if (strcmp(row.kind, "shell") == 0 && !s->resumable) {
		status = relay_err(bodyp, 403, "InvalidOperation."
		    "ResumeRequired", "A shell session needs a client that "
		    "resumes: dial with the header Latchkey-Resume: 1.");
		goto out;
	}
	/* Of clients presenting the token at once, one wins. */
	if ((r = store_sess_redeem(lkd->db, sid, hash, ip, lkd->replica_id,
	    lkd->advertise_url, lkd_now(), s->resumable)) ==
	    LK_ERR_UNAVAILABLE) {
		status = relay_err(bodyp, 503, "ServiceUnavailable",
		    "The database is unavailable, try again later.");
		goto out;
	}
	if (r != 0) {
		status = relay_err(bodyp, 401, "InvalidSecurityToken.Used",
		    "This session's WebSocketUrl was already used; start a "
		    "new session.");
		goto out;
	}
	snprintf(s->id, sizeof(s->id), "%s", sid);
	snprintf(s->instance, sizeof(s->instance), "%s", row.instance_id);
	s->port = (int)row.port;
 out:
	lk_params_free(&qp);
	store_sess_token_free(&row);
	return status;
}

static void
relay_client_ip(struct MHD_Connection *c, char *ip, size_t size)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	snprintf(ip, size, "%s", "");
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr, ip, (socklen_t)size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr, ip, (socklen_t)size);
}

static struct relay_sess *
relay_sess_new(void)
{
	struct relay_sess *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->c.s = s->a.s = s;
	s->c.peer = &s->a;
	s->a.peer = &s->c;
	s->c.name = "client";
	s->a.name = "agent";
	s->c.own_fd = s->a.own_fd = -1;
	return s;
}

/*
 * An agent's dial-back for session sid that waits for no agent here: 409
 * naming the replica that holds its client, when that is another replica
 * (elsewhere: sid is not in this replica's memory) and the session is
 * this agent's instance's and still open; else 404.
 */
static int
relay_agent_refuse(const char *sid, int elsewhere, const char *inst,
    char **bodyp)
{
	struct store_sess_route rt;
	int status = 0;

	if (elsewhere && strlen(sid) <= RELAY_ID_MAX &&
	    store_sess_route_get(lkd->db, sid, &rt) == 0) {
		if (strcmp(rt.instance_id, inst) == 0 &&
		    (strcmp(rt.status, "Connecting") == 0 ||
		    strcmp(rt.status, "Connected") == 0) &&
		    rt.replica[0] != '\0' &&
		    strcmp(rt.replica, lkd->replica_id) != 0)
			status = relay_err_elsewhere(bodyp, sid, &rt);
		store_sess_route_free(&rt);
	}
	if (status != 0)
		return status;
	return relay_err(bodyp, 404, "InvalidSessionId.NotFound", "No session "
	    "of this instance waits for its agent under this id.");
}

int
relay_http(struct MHD_Connection *c, const char *path, const char *query,
    const char *method, const struct lk_sig_header *h, size_t nh,
    const char *console, struct MHD_Response **respp, char **bodyp)
{
	const char *key = relay_hdr(h, nh, "sec-websocket-key");
	const char *ver = relay_hdr(h, nh, "sec-websocket-version");
	char accept[LK_WS_ACCEPT_LEN + 1], ip[INET6_ADDRSTRLEN], inst[64];
	struct relay_sess *s = NULL;
	struct MHD_Response *resp;
	char *id = NULL;
	int status, agent = strncmp(path, "/agent/v1/session/", 18) == 0;

	*respp = NULL;
	*bodyp = NULL;
	if (strcmp(method, "GET") != 0)
		return relay_err(bodyp, 405, "InvalidParameter", "A session is "
		    "opened with a WebSocket GET request.");
	if (!relay_hdr_has(relay_hdr(h, nh, "upgrade"), "websocket") ||
	    !relay_hdr_has(relay_hdr(h, nh, "connection"), "upgrade") ||
	    ver == NULL || strcmp(ver, "13") != 0 ||
	    lk_ws_accept(key, accept) != 0)
		return relay_err(bodyp, 400, "InvalidParameter.WebSocket",
		    "Not a WebSocket (version 13) opening handshake.");
	if (agent) {
		if (!agentauth_check(h, nh, inst, sizeof(inst)))
			return relay_err(bodyp, 401, "InvalidCredential",
			    "unknown instance or credential");
		pthread_mutex_lock(&relay_lock);
		s = relay_find(path + 18);
		/* Handed out here (HANDED) or by another replica (WAITING). */
		if (s == NULL || strcmp(s->instance, inst) != 0 ||
		    s->end_code != 0 || (s->agent != AGENT_WAITING &&
		    s->agent != AGENT_HANDED)) {
			pthread_mutex_unlock(&relay_lock);
			return relay_agent_refuse(path + 18, s == NULL, inst,
			    bodyp);
		}
		s->agent = AGENT_DIALLING;
		pthread_mutex_unlock(&relay_lock);
		if ((id = strdup(path + 18)) == NULL)
			return relay_err(bodyp, 500, "InternalError",
			    "out of memory");
		if ((resp = MHD_create_response_for_upgrade(relay_agent_up,
		    id)) != NULL && relay_pending_add(c, 1, id) != 0) {
			MHD_destroy_response(resp);
			resp = NULL;
		}
	} else {
		if ((s = relay_sess_new()) == NULL)
			return relay_err(bodyp, 500, "InternalError",
			    "out of memory");
		relay_client_ip(c, ip, sizeof(ip));
		/* A browser cannot send Latchkey-Resume: the console's page
		 * always speaks the resumable stream. */
		if ((status = relay_admit(query, ip, console != NULL ||
		    relay_hdr_has(relay_hdr(h, nh, "latchkey-resume"), "1"),
		    console, s, bodyp)) != 0) {
			free(s);
			return status;
		}
		if ((resp = MHD_create_response_for_upgrade(relay_client_up,
		    s)) != NULL && relay_pending_add(c, 0, s) != 0) {
			MHD_destroy_response(resp);
			resp = NULL;
		}
	}
	if (resp == NULL) {
		if (agent)
			free(id);
		else
			free(s);
		return relay_err(bodyp, 500, "InternalError", "out of memory");
	}
	MHD_add_response_header(resp, "Upgrade", "websocket");
	MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
	if (!agent && s->resumable)
		MHD_add_response_header(resp, "Latchkey-Resume", "1");
	*respp = resp;
	return 101;
}

/*
 * The URL the agent dials for session sid, whose client replica holds:
 * that replica's advertise URL. Given whenever the database is shared
 * (PostgreSQL: the agent's server URL may lead to any replica) or the
 * client is on another replica; never with SQLite, where the one process
 * is the one the agent's server URL reaches, as before replicas. Not when
 * the advertise URL names no host an agent could reach (0.0.0.0, [::]).
 */
static json_t *
relay_take_url(const struct store_sess_handout *h)
{
	char *u = NULL;
	json_t *j;

	if (h->url[0] == '\0' || strstr(h->url, "://0.0.0.0") != NULL ||
	    strstr(h->url, "://[::]") != NULL ||
	    (strcmp(store_kind(), "postgresql") != 0 &&
	    strcmp(h->replica, lkd->replica_id) == 0))
		return NULL;
	if (asprintf(&u, "%s/agent/v1/session/%s", h->url, h->id) < 0)
		return NULL;
	j = json_string(u);
	free(u);
	return j;
}

/*
 * A hand-out's entry: {"session_id","port"} for a port session;
 * {"session_id","kind":"shell","user","tty","cols","rows"[,"command"]}
 * for a shell session (docs/sessions.md, "Shell sessions").
 */
static json_t *
relay_take_entry(const struct store_sess_handout *h)
{
	json_t *e, *sh;

	if (strcmp(h->kind, "shell") != 0)
		return json_pack("{s:s, s:I}", "session_id", h->id, "port",
		    (json_int_t)h->port);
	if ((sh = json_loads(h->shell, 0, NULL)) == NULL ||
	    !json_is_object(sh)) {
		json_decref(sh);
		return NULL;
	}
	e = json_pack("{s:s, s:s, s:s}", "session_id", h->id, "kind",
	    "shell", "user", h->username);
	if (e != NULL && json_object_update(e, sh) != 0) {
		json_decref(e);
		e = NULL;
	}
	json_decref(sh);
	return e;
}

/*
 * For the poll of instance_id, on any replica: the sessions whose client
 * is connected (on any replica) and that no poll has taken yet, taken
 * now (store_sess_handout: of two polls, one gets each), as
 * {"session_id","port"[,"url"]}; NULL when there is none. Those whose
 * client is on this replica start their agent's wait from now.
 */
json_t *
relay_take(const char *instance_id)
{
	struct store_sess_handout *v = NULL;
	struct relay_sess *s;
	json_t *a = NULL, *e, *u;
	size_t i, n = 0;
	int r;

	if ((r = store_sess_handout(lkd->db, instance_id, lkd_now(), &v,
	    &n)) != 0) {
		log_warnx("relay: sessions of %s: %s", instance_id, lk_err(r));
		return NULL;
	}
	if (n == 0)
		return NULL;
	pthread_mutex_lock(&relay_lock);
	for (i = 0; i < n; i++)
		if ((s = relay_find(v[i].id)) != NULL &&
		    s->agent == AGENT_WAITING) {
			s->agent = AGENT_HANDED;
			s->handed_ms = lk_now_ms();
		}
	pthread_mutex_unlock(&relay_lock);
	if ((a = json_array()) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		e = relay_take_entry(&v[i]);
		if (e != NULL && (u = relay_take_url(&v[i])) != NULL)
			json_object_set_new(e, "url", u);
		/* Resumable: the agent keeps the stream across connections. */
		if (e != NULL && v[i].resumable &&
		    json_object_set_new(e, "epoch", json_integer(v[i].epoch)) ==
		    0 && json_object_set_new(e, "resume_wait",
		    json_integer(relay_conf.resume_wait)) == 0)
			json_object_set_new(e, "window",
			    json_integer(relay_conf.buffer));
		if (e == NULL || json_array_append_new(a, e) != 0)
			log_warnx("session %s: out of memory", v[i].id);
	}
 out:
	store_sess_handout_free(v, n);
	return a;
}

int
relay_end(const char *session_id)
{
	struct relay_sess *s;
	int found = 0;

	pthread_mutex_lock(&relay_lock);
	if ((s = relay_find(session_id)) != NULL) {
		found = 1;
		s->end_code = LK_WS_ENDED;
		relay_kick(s);
	}
	pthread_mutex_unlock(&relay_lock);
	return found;
}

static void
relay_end_cb(const char *id, void *arg)
{
	(void)arg;
	if (relay_end(id))
		log_info("session %s end asked on another replica", id);
}

/*
 * The watchdog's every second: ends the live sessions held here whose end
 * was asked on another replica. Costs the database nothing while this
 * replica holds no session.
 */
void
relay_check_ended(void)
{
	int any;
	int r;

	pthread_mutex_lock(&relay_lock);
	any = relay_list != NULL;
	pthread_mutex_unlock(&relay_lock);
	if (!any)
		return;
	if ((r = store_sess_end_requested(lkd->db, lkd->replica_id,
	    relay_end_cb, NULL)) != 0)
		log_warnx("sessions ended elsewhere error=\"%s\"", lk_err(r));
}

/*
 * The watchdog's every few seconds: sessions lost and not resumed within
 * --session-resume-wait are Closed (any replica may do it; the update is
 * idempotent and cheap when there is none).
 */
void
relay_expire(void)
{
	int r;

	if (relay_conf.resume_wait == 0)
		return;
	if ((r = store_sess_expire(lkd->db, lkd_now(),
	    relay_conf.resume_wait)) != 0)
		log_warnx("sessions not resumed error=\"%s\"", lk_err(r));
}

int
relay_start(void)
{
	pthread_condattr_t ca;
	struct epoll_event ev;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&relay_cond, &ca);
	pthread_condattr_destroy(&ca);
	/* Sessions that were open when latchkeyd stopped are over. */
	if (store_sess_close_stale(lkd->db, lkd->replica_id, lkd_now()) != 0)
		return LK_ERR_SYSTEM;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;	/* the eventfd; sessions' sides are non-NULL */
	if ((relay_ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (relay_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    epoll_ctl(relay_ep, EPOLL_CTL_ADD, relay_efd, &ev) != 0) {
		log_warn("relay: epoll");
		return LK_ERR_SYSTEM;
	}
	relay_quit = 0;
	relay_running = 1;
	if (pthread_create(&relay_thread, NULL, relay_main, NULL) != 0) {
		relay_running = 0;
		log_warnx("relay: cannot start its thread");
		return LK_ERR_SYSTEM;
	}
	return 0;
}

/*
 * Closes every session with LK_WS_GOING_AWAY and waits up to
 * RELAY_STOP_WAIT seconds for the relay thread to finish them; then the
 * relay thread drops the ones left (recorded as closed by 1001) and ends,
 * so that it never touches an upgraded connection after http_stop.
 */
void
relay_stop(void)
{
	struct relay_sess *s;
	struct timespec dl;
	uint64_t one = 1;
	int done;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += RELAY_STOP_WAIT;
	pthread_mutex_lock(&relay_lock);
	if (!relay_running) {
		pthread_mutex_unlock(&relay_lock);
		return;
	}
	relay_quit = 1;
	for (s = relay_list; s != NULL; s = s->next) {
		if (s->end_code == 0)
			s->end_code = LK_WS_GOING_AWAY;
		relay_kick(s);
	}
	lk_fd_wake(relay_efd, &one, sizeof(one));	/* when there is none */
	while (relay_running)
		if (pthread_cond_timedwait(&relay_cond, &relay_lock, &dl) ==
		    ETIMEDOUT)
			break;
	if (relay_running) {
		log_warnx("relay: sessions still closing after %d s; dropped",
		    RELAY_STOP_WAIT);
		relay_abort = 1;
		lk_fd_wake(relay_efd, &one, sizeof(one));
		dl.tv_sec += RELAY_ABORT_WAIT;
		while (relay_running)
			if (pthread_cond_timedwait(&relay_cond, &relay_lock,
			    &dl) == ETIMEDOUT)
				break;
	}
	done = !relay_running;
	pthread_mutex_unlock(&relay_lock);
	if (!done) {
		log_warnx("relay: its thread did not end");
		return;
	}
	pthread_join(relay_thread, NULL);
	close(relay_ep);
	close(relay_efd);
	relay_ep = relay_efd = -1;
	free(relay_heap);
	relay_heap = NULL;
	relay_nheap = relay_heapcap = 0;
}
