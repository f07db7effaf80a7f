/*
 * delay_fwd: a TCP forwarder that delays every byte, the "long" of the
 * tunnel benchmark's long, narrow link (issue 13; tests/tools/longlink
 * places it on the path). This kernel has no netem, so the delay is made
 * here, in user space.
 *
 *	delay_fwd [-d DELAY_MS] [-b MAX_BYTES] LISTEN_ADDR:PORT TARGET_ADDR:PORT
 *
 * Listens on LISTEN_ADDR:PORT (IPv4; PORT 0: any free port) and prints
 * "delay_fwd: listening addr=A port=P" on stdout once it does. For each
 * connection it accepts, it connects to TARGET_ADDR:PORT and forwards
 * both directions, holding every chunk it reads DELAY_MS (default 25)
 * before it writes it on, in order; an EOF is held as long and then
 * passed on as a shutdown for writing. A round trip through it thus takes
 * 2 x DELAY_MS more. The connection's set-up (SYN, accept, connect) is
 * not delayed.
 *
 * It reads whatever arrives as soon as it arrives and keeps up to
 * MAX_BYTES (default 64 MiB) waiting per direction and connection, so the
 * delay does not cap the throughput: at 100 Mbit/s, 25 ms is 312 kB in
 * flight. Only above MAX_BYTES does it stop reading (back-pressure).
 * TCP_NODELAY on both sockets: what it writes goes out when it is due.
 *
 * One thread, ppoll(2) with a nanosecond timeout to the next chunk due,
 * non-blocking sockets. Runs until SIGTERM or SIGINT. A connection whose
 * target refuses is closed at once; a reset or write error on either side
 * closes both.
 *
 * Exit status: 0 after SIGTERM/SIGINT, 1 on a usage error or when it
 * cannot listen.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define DELAY_READ_BUF		(256 * 1024)	/* bytes per read */
#define DELAY_READS_PER_WAKE	16		/* fairness between conns */
#define DELAY_IOV		64		/* chunks per writev */
#define DELAY_CONNS_MAX		512
#define DELAY_MS_MAX		10000
#define DELAY_DEFAULT_MS	25
#define DELAY_DEFAULT_MAX	(64LL << 20)

struct delay_chunk {
	struct delay_chunk	*next;
	uint64_t		 due;		/* CLOCK_MONOTONIC ns */
	size_t			 len, off;
	unsigned char		 data[];
};

/* One direction: bytes read from `from`, held, written to `to`. */
struct delay_dir {
	int			 from, to;
	struct delay_chunk	*head, *tail;
	size_t			 queued;
	int			 eof;		/* EOF read from `from` */
	uint64_t		 eof_due;
	int			 shut;		/* EOF passed on to `to` */
	int			 blocked;	/* the last write met EAGAIN */
};

struct delay_conn {
	struct delay_conn	*next;
	int			 fd[2];		/* accepted, target */
	struct delay_dir	 d[2];		/* fd[0] -> fd[1], fd[1] -> fd[0] */
	int			 dead;
};

static volatile sig_atomic_t delay_quit;
static uint64_t delay_ns;
static size_t delay_max;
static struct delay_conn *delay_conns;
static int delay_nconns;

static void
delay_onsig(int sig)
{
	(void)sig;
	delay_quit = 1;
}

static uint64_t
delay_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
delay_usage(void)
{
	fprintf(stderr, "usage: delay_fwd [-d DELAY_MS] [-b MAX_BYTES] "
	    "LISTEN_ADDR:PORT TARGET_ADDR:PORT\n");
	exit(1);
}

/* "A.B.C.D:PORT" into sin; 0 or -1. */
static int
delay_parse_addr(const char *s, struct sockaddr_in *sin)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	long long port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1 ||
	    lk_parse_ll(colon + 1, 0, 65535, &port) != 0)
		return -1;
	sin->sin_port = htons((uint16_t)port);
	return 0;
}

static void
delay_sockopts(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void
delay_conn_free(struct delay_conn *c)
{
	struct delay_chunk *k, *n;
	int i;

	for (i = 0; i < 2; i++) {
		for (k = c->d[i].head; k != NULL; k = n) {
			n = k->next;
			free(k);
		}
		close(c->fd[i]);
	}
	free(c);
}

/* Accepts one connection and connects it to target; 0, or -1 when none
 * was waiting. */
static int
delay_accept(int lfd, const struct sockaddr_in *target)
{
	struct delay_conn *c;
	int a, t;

	if ((a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return -1;
	if (delay_nconns >= DELAY_CONNS_MAX) {
		close(a);
		return 0;
	}
	/* Blocking connect: the target is a local server. */
	t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (t == -1 || connect(t, (const struct sockaddr *)target,
	    sizeof(*target)) != 0) {
		fprintf(stderr, "delay_fwd: connect: %s\n", strerror(errno));
		if (t != -1)
			close(t);
		close(a);
		return 0;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(a);
		close(t);
		return 0;
	}
	delay_sockopts(a);
	delay_sockopts(t);
	c->fd[0] = a;
	c->fd[1] = t;
	c->d[0].from = a;
	c->d[0].to = t;
	c->d[1].from = t;
	c->d[1].to = a;
	c->next = delay_conns;
	delay_conns = c;
	delay_nconns++;
	return 0;
}

/* Reads what `from` has into chunks due DELAY_MS from now; -1 on an
 * error (the connection dies). */
static int
delay_read(struct delay_dir *d, uint64_t now)
{
	static unsigned char buf[DELAY_READ_BUF];
	struct delay_chunk *k;
	ssize_t n;
	int i;

	for (i = 0; i < DELAY_READS_PER_WAKE && !d->eof &&
	    d->queued < delay_max; i++) {
		n = read(d->from, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n == -1)
			return -1;
		if (n == 0) {
			d->eof = 1;
			d->eof_due = now + delay_ns;
			return 0;
		}
		if ((k = malloc(sizeof(*k) + (size_t)n)) == NULL)
			return -1;
		memcpy(k->data, buf, (size_t)n);
		k->next = NULL;
		k->due = now + delay_ns;
		k->len = (size_t)n;
		k->off = 0;
		if (d->tail != NULL)
			d->tail->next = k;
		else
			d->head = k;
		d->tail = k;
		d->queued += (size_t)n;
	}
	return 0;
}

/* Writes the chunks that are due, then the EOF when it is; -1 on an
 * error. */
static int
delay_flush(struct delay_dir *d, uint64_t now)
{
	struct iovec iov[DELAY_IOV];
	struct delay_chunk *k;
	ssize_t n;
	size_t w;
	int cnt;

	d->blocked = 0;
	while (d->head != NULL && d->head->due <= now) {
		cnt = 0;
		for (k = d->head; k != NULL && k->due <= now && cnt < DELAY_IOV;
		    k = k->next) {
			iov[cnt].iov_base = k->data + k->off;
			iov[cnt].iov_len = k->len - k->off;
			cnt++;
		}
		n = writev(d->to, iov, cnt);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			d->blocked = 1;
			return 0;
		}
		if (n <= 0)
			return -1;
		w = (size_t)n;
		d->queued -= w;
		while (w > 0) {
			k = d->head;
			if (w < k->len - k->off) {
				k->off += w;
				break;
			}
			w -= k->len - k->off;
			d->head = k->next;
			if (d->head == NULL)
				d->tail = NULL;
			free(k);
		}
	}
	if (d->eof && !d->shut && d->head == NULL && d->eof_due <= now) {
		(void)shutdown(d->to, SHUT_WR);
		d->shut = 1;
	}
	return 0;
}

/* The time until the next thing due in d, ns; UINT64_MAX for none. */
static uint64_t
delay_next(const struct delay_dir *d, uint64_t now)
{
	uint64_t due;

	if (d->head != NULL) {
		if (d->blocked)
			return UINT64_MAX;	/* POLLOUT wakes us */
		due = d->head->due;
	} else if (d->eof && !d->shut)
		due = d->eof_due;
	else
		return UINT64_MAX;
	return due > now ? due - now : 0;
}

static void
delay_reap(void)
{
	struct delay_conn **pp = &delay_conns, *c;

	while ((c = *pp) != NULL) {
		if (c->dead || (c->d[0].shut && c->d[1].shut)) {
			*pp = c->next;
			delay_conn_free(c);
			delay_nconns--;
		} else
			pp = &c->next;
	}
}

static void
delay_loop(int lfd, const struct sockaddr_in *target)
{
	static struct pollfd pfd[1 + 2 * DELAY_CONNS_MAX];
	static struct delay_conn *pc[DELAY_CONNS_MAX];
	struct delay_conn *c;
	struct delay_dir *d;
	struct timespec ts;
	uint64_t now, wait, w;
	int n, i, j, nfds;

	while (!delay_quit) {
		now = delay_now();
		wait = UINT64_MAX;
		pfd[0].fd = lfd;
		pfd[0].events = POLLIN;
		nfds = 1;
		n = 0;
		for (c = delay_conns; c != NULL; c = c->next) {
			for (i = 0; i < 2 && !c->dead; i++)
				if (delay_flush(&c->d[i], now) != 0)
					c->dead = 1;
		}
		delay_reap();
		for (c = delay_conns; c != NULL; c = c->next) {
			pc[n++] = c;
			for (i = 0; i < 2; i++) {
				pfd[nfds].fd = c->fd[i];
				pfd[nfds].events = 0;
				nfds++;
			}
			for (i = 0; i < 2; i++) {
				d = &c->d[i];
				/* d reads fd[i] and writes fd[1 - i]. */
				if (!d->eof && d->queued < delay_max)
					pfd[nfds - 2 + i].events |= POLLIN;
				if (d->blocked)
					pfd[nfds - 1 - i].events |= POLLOUT;
				if ((w = delay_next(d, now)) < wait)
					wait = w;
			}
			/* Nothing wanted: not polled, so that a hang-up on a
			 * socket we no longer read does not spin the loop. */
			for (i = nfds - 2; i < nfds; i++)
				if (pfd[i].events == 0)
					pfd[i].fd = -1;
		}
		if (wait != UINT64_MAX) {
			ts.tv_sec = (time_t)(wait / 1000000000ULL);
			ts.tv_nsec = (long)(wait % 1000000000ULL);
		}
		if (ppoll(pfd, (nfds_t)nfds, wait == UINT64_MAX ? NULL : &ts,
		    NULL) == -1) {
			if (errno == EINTR)
				continue;
			perror("delay_fwd: ppoll");
			return;
		}
		now = delay_now();
		for (j = 0; j < n; j++) {
			c = pc[j];
			for (i = 0; i < 2 && !c->dead; i++) {
				if ((pfd[1 + 2 * j + i].revents &
				    (POLLIN | POLLHUP | POLLERR)) &&
				    delay_read(&c->d[i], now) != 0)
					c->dead = 1;
			}
		}
		if (pfd[0].revents & POLLIN)
			while (delay_accept(lfd, target) == 0 &&
			    delay_nconns < DELAY_CONNS_MAX)
				;
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in lsin, tsin;
	socklen_t sl = sizeof(lsin);
	long long ms = DELAY_DEFAULT_MS, max = DELAY_DEFAULT_MAX;
	char abuf[INET_ADDRSTRLEN];
	int opt, lfd, one = 1;

	while ((opt = getopt(argc, argv, "d:b:")) != -1) {
		switch (opt) {
		case 'd':
			if (lk_parse_ll(optarg, 0, DELAY_MS_MAX, &ms) != 0)
				delay_usage();
			break;
		case 'b':
			if (lk_parse_ll(optarg, DELAY_READ_BUF, 1LL << 34,
			    &max) != 0)
				delay_usage();
			break;
		default:
			delay_usage();
		}
	}
	if (argc - optind != 2 || delay_parse_addr(argv[optind], &lsin) != 0 ||
	    delay_parse_addr(argv[optind + 1], &tsin) != 0)
		delay_usage();
	delay_ns = (uint64_t)ms * 1000000ULL;
	delay_max = (size_t)max;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, delay_onsig);
	signal(SIGINT, delay_onsig);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd == -1 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(lfd, (struct sockaddr *)&lsin, sizeof(lsin)) != 0 ||
	    listen(lfd, 128) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&lsin, &sl) != 0) {
		fprintf(stderr, "delay_fwd: listen on %s: %s\n", argv[optind],
		    strerror(errno));
		return 1;
	}
	printf("delay_fwd: listening addr=%s port=%u delay_ms=%lld\n",
	    inet_ntop(AF_INET, &lsin.sin_addr, abuf, sizeof(abuf)),
	    ntohs(lsin.sin_port), ms);
	fflush(stdout);
	delay_loop(lfd, &tsin);
	return 0;
}
