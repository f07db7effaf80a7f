/*
 * lib/tunnel.c: two tunnel ends (A and B, each an lk_tunnel_run thread)
 * whose local sides are socketpairs and whose WebSockets, dialled with
 * lk_ws_dial over loopback, meet in a relay thread of this test (two
 * server-role lk_wsc, pieces passed across with lk_wsc_queue_copy). The
 * relay can crash (both sockets closed abruptly, or 4006 sent to both) or
 * freeze (stop answering); the ends' redial functions dial it again.
 * Checked: 64 MiB of random data each way arrives intact with 0, 1 and 5
 * crashes; EOF both ways ends both with 1000; stop_fd ends with 1001;
 * silence is taken as a loss and resumed; an out-of-range hello from a
 * fake peer is refused with LK_WS_RESUME_RANGE and taken as a loss (and
 * ends with it when no resume can be had); legacy mode still works.
 */
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "tunnel.h"
#include "util.h"
#include "ws.h"

#define MIB		(1024 * 1024)

/* ---- the relay ---------------------------------------------------------- */

enum { CMD_NONE, CMD_CRASH, CMD_CRASH_4006, CMD_FREEZE, CMD_STOP };

struct rside {
	struct lk_wsc	w;
	int		live;
	int		gen;	/* the pairing it belongs to */
};

struct relay {
	int		 lfd, port;
	int		 wake[2];
	pthread_t	 th;
	_Atomic int	 cmd;
	_Atomic int	 crashes;	/* done */
	_Atomic int	 conns;		/* accepted */
	_Atomic int	 fake_close;	/* fake mode: the end's close code */
	int		 fake;		/* answer A with a bad hello */
	int		 frozen;
	/*
	 * Pairings, as latchkeyd's relay has them (a session object per
	 * connection): a lost hop ends the pairing, and a side's new
	 * connection is paired only with a new one of the other side,
	 * never with what is left of the old pairing.
	 */
	int		 gen;
	struct rside	 side[2];	/* 0: A, 1: B */
};

static void
relay_drop(struct rside *s)
{
	if (!s->live)
		return;
	lk_wsc_free(&s->w);
	close(s->w.fd);
	s->live = 0;
}

/* Reads the request head byte by byte (nothing past it), answers 101. */
static int
relay_handshake(int fd, int *which)
{
	char head[4096], accept[LK_WS_ACCEPT_LEN + 1], ans[256], *k, *e;
	size_t len = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t r;

	while (len < sizeof(head) - 1) {
		if (poll(&p, 1, 2000) <= 0)
			return -1;
		if ((r = read(fd, head + len, 1)) <= 0)
			return -1;
		len++;
		head[len] = '\0';
		if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	if (strncmp(head, "GET /a ", 7) == 0)
		*which = 0;
	else if (strncmp(head, "GET /b ", 7) == 0)
		*which = 1;
	else
		return -1;
	if ((k = strstr(head, "Sec-WebSocket-Key: ")) == NULL)
		return -1;
	k += strlen("Sec-WebSocket-Key: ");
	if ((e = strstr(k, "\r\n")) == NULL)
		return -1;
	*e = '\0';
	if (lk_ws_accept(k, accept) != 0)
		return -1;
	len = (size_t)snprintf(ans, sizeof(ans), "HTTP/1.1 101 Switching "
	    "Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
	if (write(fd, ans, len) != (ssize_t)len)
		return -1;
	return 0;
}

static void
relay_crash(struct relay *r, int code)
{
	int i;

	long long deadline = lk_now_ms() + 2000;
	struct pollfd p;

	for (i = 0; i < 2; i++) {
		if (!r->side[i].live)
			continue;
		/* 4006 after what is queued, for up to 2 s. */
		if (code != 0)
			lk_wsc_close(&r->side[i].w, code, "resume");
		while (code != 0 && lk_wsc_flush(&r->side[i].w) == 0 &&
		    lk_wsc_want_write(&r->side[i].w) &&
		    lk_now_ms() < deadline) {
			p = (struct pollfd){ .fd = r->side[i].w.fd,
			    .events = POLLOUT };
			(void)poll(&p, 1, 10);
		}
		relay_drop(&r->side[i]);
	}
	r->frozen = 0;
	r->gen++;
	r->crashes++;
}

static void
relay_accept(struct relay *r)
{
	int fd, which, fl;

	if ((fd = accept(r->lfd, NULL, NULL)) < 0)
		return;
	if (relay_handshake(fd, &which) != 0) {
		close(fd);
		return;
	}
	/* A new connection of a side still held: the old pair goes. */
	if (r->side[which].live) {
		relay_crash(r, 0);
		r->crashes--;
	}
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	assert_int_equal(lk_wsc_init(&r->side[which].w, fd, LK_WSC_SERVER,
	    NULL, NULL, 0), 0);
	r->side[which].live = 1;
	r->side[which].gen = r->gen;
	r->conns++;
	if (r->fake && which == 0)
		assert_int_equal(lk_wsc_queue_copy(&r->side[0].w,
		    LK_WS_OP_TEXT, 1, 1, "hello 5", 7), 0);
}

/* Passes what side i has on to side j, as far as j's queue allows. */
static void
relay_pump(struct relay *r, int i)
{
	struct lk_wsc *a = &r->side[i].w, *b = &r->side[1 - i].w;
	struct lk_wsc_ev ev;
	int e;

	for (;;) {
		if (lk_wsc_queued(b) >= LK_WS_HIGH_WATER)
			return;
		e = lk_wsc_peek(a, &ev);
		if (e == LK_WSC_DATA) {
			if (lk_wsc_queue_copy(b, ev.op, ev.first, ev.fin, ev.p,
			    ev.n) != 0)
				return;
			lk_wsc_consume(a, ev.n);
			continue;
		}
		if (e == LK_WSC_CLOSED) {
			/* Passed on; the pairing is over for both. */
			lk_wsc_close(b, a->close_code, a->close_reason);
			r->gen++;
			return;
		}
		if (e == LK_WSC_ERROR) {
			/* A lost hop: the other one is told to resume. */
			lk_wsc_close(b, LK_WS_RESUME, "hop lost");
			relay_drop(&r->side[i]);
			r->gen++;
			return;
		}
		if (!lk_wsc_want_read(a) || !lk_wsc_room(a) ||
		    lk_wsc_fill(a) == 0)
			return;
	}
}

/* Fake mode: only read A, note its close. */
static void
relay_fake(struct relay *r)
{
	struct lk_wsc_ev ev;
	struct lk_wsc *a = &r->side[0].w;
	int e;

	while (lk_wsc_want_read(a) && lk_wsc_fill(a) > 0)
		;
	while ((e = lk_wsc_peek(a, &ev)) == LK_WSC_DATA)
		lk_wsc_consume(a, ev.n);
	if (e == LK_WSC_CLOSED)
		r->fake_close = a->close_code;
}

static void *
relay_main(void *arg)
{
	struct relay *r = arg;
	struct pollfd p[4];
	char junk[16];
	int i, cmd;

	for (;;) {
		cmd = atomic_exchange(&r->cmd, CMD_NONE);
		if (cmd == CMD_STOP)
			break;
		if (cmd == CMD_CRASH || cmd == CMD_CRASH_4006)
			relay_crash(r, cmd == CMD_CRASH ? 0 : LK_WS_RESUME);
		if (cmd == CMD_FREEZE)
			r->frozen = 1;
		if (r->fake && r->side[0].live)
			relay_fake(r);
		else if (!r->frozen && r->side[0].live && r->side[1].live &&
		    r->side[0].gen == r->gen && r->side[1].gen == r->gen) {
			relay_pump(r, 0);
			/* Not into a side the first pump dropped. */
			if (r->side[0].live && r->side[1].live)
				relay_pump(r, 1);
		}
		for (i = 0; i < 2; i++) {
			if (!r->side[i].live || r->frozen)
				continue;
			(void)lk_wsc_flush(&r->side[i].w);
			if (!lk_wsc_done(&r->side[i].w))
				continue;
			/* Over (or lost writing): so is the pairing. */
			if (r->side[i].w.broken && r->side[1 - i].live)
				lk_wsc_close(&r->side[1 - i].w, LK_WS_RESUME,
				    "hop lost");
			relay_drop(&r->side[i]);
			r->gen++;
		}
		p[0] = (struct pollfd){ .fd = r->lfd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = r->wake[0], .events = POLLIN };
		for (i = 0; i < 2; i++) {
			short ev = 0;

			if (r->side[i].live && !r->frozen) {
				if (lk_wsc_want_read(&r->side[i].w) &&
				    lk_wsc_room(&r->side[i].w))
					ev |= POLLIN;
				if (lk_wsc_want_write(&r->side[i].w))
					ev |= POLLOUT;
			}
			p[2 + i] = (struct pollfd){ .fd = r->side[i].live ?
			    r->side[i].w.fd : -1, .events = ev };
		}
		if (poll(p, 4, 20) < 0)
			continue;
		if (p[1].revents & POLLIN)
			lk_fd_drain(r->wake[0], junk, sizeof(junk));
		if (p[0].revents & POLLIN)
			relay_accept(r);
	}
	relay_drop(&r->side[0]);
	relay_drop(&r->side[1]);
	return NULL;
}

static void
relay_cmd(struct relay *r, int cmd)
{
	r->cmd = cmd;
	lk_fd_wake(r->wake[1], "x", 1);
}

static struct relay *
relay_start(int fake)
{
	struct relay *r;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	assert_non_null(r = calloc(1, sizeof(*r)));
	r->fake = fake;
	assert_int_equal(pipe2(r->wake, O_NONBLOCK | O_CLOEXEC), 0);
	assert_true((r->lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(r->lfd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_int_equal(listen(r->lfd, 16), 0);
	assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&sin, &sl),
	    0);
	r->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&r->th, NULL, relay_main, r), 0);
	return r;
}

static void
relay_stop(struct relay *r)
{
	relay_cmd(r, CMD_STOP);
	pthread_join(r->th, NULL);
	close(r->lfd);
	close(r->wake[0]);
	close(r->wake[1]);
	free(r);
}

/* ---- the ends ----------------------------------------------------------- */

struct app {
	int		 fd;		/* the application's side */
	uint64_t	 seed_out;	/* what it writes */
	uint64_t	 seed_in;	/* what it must read */
	size_t		 len_out, len_in;
	_Atomic size_t	 got;		/* read so far */
	_Atomic size_t	 allow;		/* written at most, so far */
	_Atomic int	 bad;		/* a byte differed, or too many */
	int		 eof;		/* read saw EOF */
	pthread_t	 wth, rth;
};

struct end {
	struct relay		*relay;
	char			 path;	/* 'a' or 'b' */
	int			 fd;	/* the tunnel's side */
	struct lk_tunnel_conf	 conf;
	_Atomic int		 redial_fail;	/* refuse for good */
	struct lk_tunnel_end	 end;
	int			 rc;
	_Atomic int		 lost, resumed;	/* on_event's */
	_Atomic int		 lost_4006;	/* lost by a 4006 close */
	char			 lost_why[64];
	struct app		 app;
	pthread_t		 th;
};

/* The byte stream of a seed: xorshift64*, 8 bytes at a time. */
static void
stream_fill(uint64_t *st, uint8_t *p, size_t n)
{
	uint64_t x;
	size_t i;

	for (i = 0; i < n; i += 8) {
		*st ^= *st >> 12;
		*st ^= *st << 25;
		*st ^= *st >> 27;
		x = *st * 2685821657736338717ULL;
		memcpy(p + i, &x, n - i < 8 ? n - i : 8);
	}
}

#define APP_CHUNK	(64 * 1024)	/* a multiple of 8 */

static void *
app_writer(void *arg)
{
	struct app *a = arg;
	uint64_t st = a->seed_out;
	uint8_t *buf = malloc(APP_CHUNK);
	size_t off = 0, n, k;
	ssize_t r;

	while (buf != NULL && off < a->len_out) {
		/* A test may hold the rest back (run_transfer's crashes). */
		while (off >= a->allow)
			usleep(200);
		n = a->len_out - off < APP_CHUNK ? a->len_out - off : APP_CHUNK;
		if (n > a->allow - off)
			n = a->allow - off;
		stream_fill(&st, buf, n);
		for (k = 0; k < n; k += (size_t)r)
			if ((r = write(a->fd, buf + k, n - k)) <= 0)
				goto out;
		off += n;
	}
	shutdown(a->fd, SHUT_WR);
 out:
	free(buf);
	return NULL;
}

static void *
app_reader(void *arg)
{
	struct app *a = arg;
	uint64_t st = a->seed_in;
	uint8_t *buf = malloc(APP_CHUNK), *want = malloc(APP_CHUNK);
	size_t have = 0, used = 0;	/* of want: generated, compared */
	ssize_t r;

	while (buf != NULL && want != NULL) {
		if ((r = read(a->fd, buf, APP_CHUNK - used)) <= 0) {
			a->eof = r == 0;
			break;
		}
		if (a->got + (size_t)r > a->len_in) {
			a->bad = 1;
			break;
		}
		/* want holds the next APP_CHUNK bytes of the stream. */
		if (used == have) {
			stream_fill(&st, want, APP_CHUNK);
			have = APP_CHUNK;
			used = 0;
		}
		if ((size_t)r > have - used)
			r = (ssize_t)(have - used);
		if (memcmp(buf, want + used, (size_t)r) != 0) {
			a->bad = 1;
			break;
		}
		used += (size_t)r;
		a->got += (size_t)r;
		if (used == have)
			used = have = 0;
	}
	free(buf);
	free(want);
	return NULL;
}

static int
end_dial(struct end *e, struct lk_ws **wsp, char *err, size_t errsize)
{
	struct lk_ws_opts o = { .timeout_ms = 2000 };
	char url[64];

	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/%c", e->relay->port,
	    e->path);
	return lk_ws_dial(url, &o, wsp, err, errsize);
}

static int
end_redial(void *arg, long long deadline, int stop_fd, struct lk_ws **wsp,
    char *err, size_t errsize)
{
	struct end *e = arg;

	(void)deadline;
	(void)stop_fd;
	if (e->redial_fail) {
		snprintf(err, errsize, "no more");
		return LK_ERR_NOT_FOUND;
	}
	return end_dial(e, wsp, err, errsize) == 0 ? 0 : LK_ERR_UNAVAILABLE;
}

static void
end_event(void *arg, const char *what, const char *detail)
{
	struct end *e = arg;

	if (strcmp(what, "lost") == 0) {
		e->lost++;
		e->lost_4006 += strcmp(detail, "resume") == 0;
		snprintf(e->lost_why, sizeof(e->lost_why), "%s", detail);
	} else if (strcmp(what, "resumed") == 0)
		e->resumed++;
	else
		fail_msg("event %s", what);
}

static void *
end_main(void *arg)
{
	struct end *e = arg;
	struct lk_ws *ws = NULL;
	char err[128];

	if (end_dial(e, &ws, err, sizeof(err)) != 0) {
		e->rc = -1000;
		return NULL;
	}
	e->rc = lk_tunnel_run(ws, e->fd, e->fd, &e->conf, end_redial, e,
	    end_event, &e->end);
	close(e->fd);
	return NULL;
}

static void
end_start(struct end *e, struct relay *r, char path, int resumable,
    size_t out, size_t in, uint64_t seed_out, uint64_t seed_in)
{
	int sv[2];

	memset(e, 0, sizeof(*e));
	e->relay = r;
	e->path = path;
	e->conf.resumable = resumable;
	e->conf.kick_fd = -1;
	e->conf.stop_fd = -1;
	e->conf.resume_wait_ms = 10000;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	e->fd = sv[0];
	e->app.fd = sv[1];
	e->app.len_out = out;
	e->app.allow = out;
	e->app.len_in = in;
	e->app.seed_out = seed_out;
	e->app.seed_in = seed_in;
}

static void
end_go(struct end *e)
{
	assert_int_equal(pthread_create(&e->th, NULL, end_main, e), 0);
	assert_int_equal(pthread_create(&e->app.wth, NULL, app_writer,
	    &e->app), 0);
	assert_int_equal(pthread_create(&e->app.rth, NULL, app_reader,
	    &e->app), 0);
}

static void
end_join(struct end *e)
{
	pthread_join(e->th, NULL);
	pthread_join(e->app.wth, NULL);
	pthread_join(e->app.rth, NULL);
	close(e->app.fd);
}

/* Both ways intact, both ends closed normally. */
static void
pair_check(struct end *a, struct end *b, size_t la, size_t lb)
{
	if (a->rc != 0 || b->rc != 0)
		print_message("a: rc %d code %d (%s) lost %d (%s); b: rc %d code "
		    "%d (%s) lost %d (%s)\n", a->rc, a->end.code, a->end.reason,
		    a->lost, a->lost_why, b->rc, b->end.code, b->end.reason,
		    b->lost, b->lost_why);
	assert_int_equal(a->rc, 0);
	assert_int_equal(b->rc, 0);
	assert_int_equal(a->end.code, LK_WS_NORMAL);
	assert_int_equal(b->end.code, LK_WS_NORMAL);
	assert_false(a->app.bad);
	assert_false(b->app.bad);
	assert_true(a->app.eof && b->app.eof);
	assert_int_equal(a->app.got, lb);
	assert_int_equal(b->app.got, la);
	assert_true(a->end.bytes_in == la && b->end.bytes_out == la);
	assert_true(b->end.bytes_in == lb && a->end.bytes_out == lb);
}

/* k/(crashes + 1) of len, rounded down to 8 bytes; all of it past the end. */
static size_t
transfer_share(size_t len, int k, int crashes)
{
	if (k > crashes)
		return len;
	return len / (size_t)(crashes + 1) * (size_t)k & ~(size_t)7;
}

/* la bytes A → B, lb B → A, crashes relay crashes spread over the run. */
static void
run_transfer(int resumable, size_t la, size_t lb, int crashes, int cmd)
{
	struct relay *r = relay_start(0);
	struct end *a, *b;
	int done = 0;

	assert_non_null(a = calloc(1, sizeof(*a)));
	assert_non_null(b = calloc(1, sizeof(*b)));
	end_start(a, r, 'a', resumable, la, lb, 11, 22);
	end_start(b, r, 'b', resumable, lb, la, 22, 11);
	/*
	 * Each side writes at most one share past the next crash's point,
	 * so a fast run cannot end before every crash happened (whole
	 * multiples of 8 bytes: the streams are made 8 bytes at a time).
	 */
	a->app.allow = transfer_share(la, 2, crashes);
	b->app.allow = transfer_share(lb, 2, crashes);
	end_go(a);
	end_go(b);
	/*
	 * Crash i once the data is (i + 1)/(crashes + 1) of the way, with
	 * more in flight: each side may be one share ahead, never more.
	 */
	while (done < crashes) {
		size_t got = a->app.got + b->app.got;

		if (got * (size_t)(crashes + 1) >= (la + lb) *
		    (size_t)(done + 1) && r->conns == 2 * (done + 1)) {
			relay_cmd(r, cmd);
			while (r->crashes == done)
				usleep(1000);
			done++;
			a->app.allow = transfer_share(la, done + 2, crashes);
			b->app.allow = transfer_share(lb, done + 2, crashes);
		}
		if (a->app.got == lb && b->app.got == la)
			break;
		usleep(500);
	}
	end_join(a);
	end_join(b);
	print_message("%zu + %zu bytes, %d crashes: %llu/%llu/%llu/%llu bytes, "
	    "%u/%u resumes, codes %d/%d\n", la, lb, crashes,
	    (unsigned long long)a->end.bytes_in,
	    (unsigned long long)a->end.bytes_out,
	    (unsigned long long)b->end.bytes_in,
	    (unsigned long long)b->end.bytes_out, a->end.resumes,
	    b->end.resumes, a->end.code, b->end.code);
	pair_check(a, b, la, lb);
	assert_int_equal(done, crashes);
	assert_int_equal(a->end.resumes, crashes);
	assert_int_equal(b->end.resumes, crashes);
	assert_true(a->lost == crashes && a->resumed == crashes);
	assert_true(b->lost == crashes && b->resumed == crashes);
	/* 4006 reaches the ends as a close frame with its reason. */
	if (crashes > 0 && cmd == CMD_CRASH_4006)
		assert_true(a->lost_4006 + b->lost_4006 > 0);
	/* One of them closed first, the other answered. */
	assert_true(a->end.by_peer + b->end.by_peer <= 1);
	relay_stop(r);
	free(a);
	free(b);
}

static void
test_transfer_no_crash(void **state)
{
	(void)state;
	run_transfer(1, 64 * MIB, 64 * MIB, 0, CMD_CRASH);
}

static void
test_transfer_one_crash(void **state)
{
	(void)state;
	run_transfer(1, 64 * MIB, 64 * MIB, 1, CMD_CRASH);
}

static void
test_transfer_five_crashes(void **state)
{
	(void)state;
	/* Abrupt losses, then 4006 from the relay. */
	run_transfer(1, 64 * MIB, 64 * MIB, 5, CMD_CRASH);
	run_transfer(1, 16 * MIB, 16 * MIB, 5, CMD_CRASH_4006);
}

static void
test_transfer_one_way_and_empty(void **state)
{
	(void)state;
	run_transfer(1, 8 * MIB, 0, 0, CMD_CRASH);
	run_transfer(1, 0, 0, 0, CMD_CRASH);
}

static void
test_legacy(void **state)
{
	(void)state;
	run_transfer(0, 16 * MIB, 16 * MIB, 0, CMD_CRASH);
}

/* stop_fd: A closes with 1001; B, which cannot come back, ends too. */
static void
test_stop(void **state)
{
	struct relay *r = relay_start(0);
	struct end *a, *b;
	uint64_t one = 1;
	int efd;

	(void)state;
	assert_non_null(a = calloc(1, sizeof(*a)));
	assert_non_null(b = calloc(1, sizeof(*b)));
	/* More than will go before the stop; nobody reaches EOF. */
	end_start(a, r, 'a', 1, 512 * MIB, 512 * MIB, 1, 2);
	end_start(b, r, 'b', 1, 512 * MIB, 512 * MIB, 2, 1);
	assert_true((efd = eventfd(0, EFD_CLOEXEC)) >= 0);
	a->conf.stop_fd = efd;
	b->redial_fail = 1;
	end_go(a);
	end_go(b);
	while (a->app.got < MIB || b->app.got < MIB)
		usleep(1000);
	assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
	pthread_join(a->th, NULL);
	pthread_join(b->th, NULL);
	/* The apps see their sockets close. */
	shutdown(a->app.fd, SHUT_RDWR);
	shutdown(b->app.fd, SHUT_RDWR);
	end_join(a);
	end_join(b);
	assert_int_equal(a->rc, LK_ERR_SYSTEM);
	assert_int_equal(a->end.code, LK_WS_GOING_AWAY);
	assert_false(a->end.by_peer);
	assert_int_equal(b->rc, LK_ERR_SYSTEM);
	assert_int_equal(b->end.code, LK_WS_GOING_AWAY);
	/* The other end's 1001 is final: no loss, no attempt to resume. */
	assert_true(b->end.by_peer);
	assert_int_equal(b->lost, 0);
	assert_false(a->app.bad);
	assert_false(b->app.bad);
	close(efd);
	relay_stop(r);
	free(a);
	free(b);
}

/* The relay stops answering: silence, lost, resumed, the data intact. */
static void
test_silence(void **state)
{
	struct relay *r = relay_start(0);
	struct end *a, *b;
	size_t len = 16 * MIB;
	long long t0;

	(void)state;
	assert_non_null(a = calloc(1, sizeof(*a)));
	assert_non_null(b = calloc(1, sizeof(*b)));
	end_start(a, r, 'a', 1, len, len, 5, 6);
	end_start(b, r, 'b', 1, len, len, 6, 5);
	a->conf.keepalive_ms = b->conf.keepalive_ms = 200;
	end_go(a);
	end_go(b);
	while (a->app.got < MIB)
		usleep(1000);
	relay_cmd(r, CMD_FREEZE);
	t0 = lk_now_ms();
	end_join(a);
	end_join(b);
	pair_check(a, b, len, len);
	/* Lost after 3 × 200 ms of silence, not before. */
	assert_true(lk_now_ms() - t0 >= 600);
	assert_true(a->end.resumes >= 1 && b->end.resumes >= 1);
	assert_true(strcmp(a->lost_why, "silence") == 0 ||
	    strcmp(b->lost_why, "silence") == 0);
	relay_stop(r);
	free(a);
	free(b);
}

/* kick_fd: A drops its connection and resumes at once. */
static void
test_kick(void **state)
{
	struct relay *r = relay_start(0);
	struct end *a, *b;
	size_t len = 16 * MIB;
	uint64_t one = 1;
	int efd;

	(void)state;
	assert_non_null(a = calloc(1, sizeof(*a)));
	assert_non_null(b = calloc(1, sizeof(*b)));
	end_start(a, r, 'a', 1, len, len, 7, 8);
	end_start(b, r, 'b', 1, len, len, 8, 7);
	assert_true((efd = eventfd(0, EFD_CLOEXEC)) >= 0);
	a->conf.kick_fd = efd;
	end_go(a);
	end_go(b);
	while (a->app.got < MIB)
		usleep(1000);
	assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
	end_join(a);
	end_join(b);
	pair_check(a, b, len, len);
	assert_true(a->end.resumes >= 1);
	assert_true(a->lost >= 1);
	close(efd);
	relay_stop(r);
	free(a);
	free(b);
}

/*
 * A hello beyond what A has sent: refused with 4007 to the peer, taken as
 * a loss (the stream waits for its real peer), and with no resume to be
 * had (the redial refuses), 4007 in *end.
 */
static void
test_hello_out_of_range(void **state)
{
	struct relay *r = relay_start(1);
	struct end *a;

	(void)state;
	assert_non_null(a = calloc(1, sizeof(*a)));
	end_start(a, r, 'a', 1, 0, 0, 1, 2);
	a->redial_fail = 1;
	end_go(a);
	pthread_join(a->th, NULL);
	shutdown(a->app.fd, SHUT_RDWR);
	end_join(a);
	assert_int_equal(a->rc, LK_ERR_SYSTEM);
	assert_int_equal(a->end.code, LK_WS_RESUME_RANGE);
	assert_false(a->end.by_peer);
	assert_int_equal(a->lost, 1);
	assert_string_equal(a->lost_why, "resume refused: offset out of range");
	while (r->fake_close == 0)
		usleep(1000);
	assert_int_equal(r->fake_close, LK_WS_RESUME_RANGE);
	relay_stop(r);
	free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transfer_no_crash),
		cmocka_unit_test(test_transfer_one_crash),
		cmocka_unit_test(test_transfer_five_crashes),
		cmocka_unit_test(test_transfer_one_way_and_empty),
		cmocka_unit_test(test_legacy),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_silence),
		cmocka_unit_test(test_kick),
		cmocka_unit_test(test_hello_out_of_range),
	};

	signal(SIGPIPE, SIG_IGN);
	alarm(280);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
