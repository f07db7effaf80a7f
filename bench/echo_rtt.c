/*
 * echo_rtt: the two ends of the tunnel benchmark's 1-byte echo.
 *
 *	echo_rtt serve PORT
 *	    an echo server on 127.0.0.1:PORT (0: any free port), one thread,
 *	    poll(), up to ECHO_CONNS_MAX connections at once; prints
 *	    "echo_rtt: listening port=P" once it listens, then runs until
 *	    SIGTERM or SIGINT.
 *	echo_rtt ping PORT N [WARMUP]
 *	    connects to 127.0.0.1:PORT (TCP_NODELAY), sends one byte and
 *	    waits for it to come back, WARMUP times untimed (default 100) and
 *	    N times timed (CLOCK_MONOTONIC around each write and read); prints
 *	    one line:
 *	    "echo_rtt: n=N p50_us=.. p90_us=.. p99_us=.. mean_us=.. min_us=..
 *	    max_us=.." (nearest-rank percentiles). WARMUP absorbs the tunnel's
 *	    setup: through `latchkey forward` the first byte waits until the
 *	    agent has dialled back.
 *
 * Exit status: 0 when every round trip came back with the byte sent, 1
 * otherwise (a refused connection, EOF, a wrong byte, a read that took
 * longer than ECHO_READ_TIMEOUT_MS).
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define ECHO_CONNS_MAX		1024
#define ECHO_PINGS_MAX		1000000
#define ECHO_READ_TIMEOUT_MS	20000
#define ECHO_BUF		65536

static volatile sig_atomic_t echo_quit;

static void
echo_onsig(int sig)
{
	(void)sig;
	echo_quit = 1;
}

static void
echo_usage(void)
{
	fprintf(stderr, "usage: echo_rtt serve PORT\n"
	    "       echo_rtt ping PORT N [WARMUP]\n");
	exit(1);
}

static long long
echo_arg(const char *s, long long min, long long max, const char *what)
{
	long long v;

	if (lk_parse_ll(s, min, max, &v) != 0) {
		fprintf(stderr, "echo_rtt: %s: %lld to %lld, not \"%s\"\n",
		    what, min, max, s);
		exit(1);
	}
	return v;
}

/* Writes all of buf to a blocking socket; 0 or -1. */
static int
echo_write_all(int fd, const unsigned char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
echo_listen(int port, int *portp)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 256) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) != 0) {
		fprintf(stderr, "echo_rtt: listen on 127.0.0.1:%d: %s\n", port,
		    strerror(errno));
		return -1;
	}
	*portp = ntohs(sin.sin_port);
	return fd;
}

/*
 * The server: p[0] is the listening socket, p[1..n-1] the connections.
 * Writes are blocking: a client of this benchmark reads what it sent.
 */
static int
echo_serve(int port)
{
	static struct pollfd p[ECHO_CONNS_MAX + 1];
	static unsigned char buf[ECHO_BUF];
	struct sigaction sa;
	nfds_t n = 1, i;
	ssize_t r;
	int lfd, fd, one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = echo_onsig;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((lfd = echo_listen(port, &port)) < 0)
		return 1;
	printf("echo_rtt: listening port=%d\n", port);
	fflush(stdout);
	p[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	while (!echo_quit) {
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		for (i = n; i-- > 1;) {
			if (p[i].revents == 0)
				continue;
			r = read(p[i].fd, buf, sizeof(buf));
			if (r > 0 && echo_write_all(p[i].fd, buf, (size_t)r) == 0)
				continue;
			if (r < 0 && errno == EINTR)
				continue;
			close(p[i].fd);
			p[i] = p[--n];
		}
		if (!(p[0].revents & POLLIN))
			continue;
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		if (n == ECHO_CONNS_MAX + 1) {
			close(fd);
			continue;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
	return 0;
}

static long long
echo_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One round trip of byte b; 0, or -1 with a message. */
static int
echo_once(int fd, unsigned char b)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	unsigned char got;
	ssize_t r;

	if (echo_write_all(fd, &b, 1) != 0) {
		fprintf(stderr, "echo_rtt: write: %s\n", strerror(errno));
		return -1;
	}
	for (;;) {
		if ((r = poll(&p, 1, ECHO_READ_TIMEOUT_MS)) == 0) {
			fprintf(stderr, "echo_rtt: no echo within %d ms\n",
			    ECHO_READ_TIMEOUT_MS);
			return -1;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (r = read(fd, &got, 1)) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "echo_rtt: read: %s\n",
			    strerror(errno));
			return -1;
		}
		if (r == 0) {
			fprintf(stderr, "echo_rtt: EOF instead of the echo\n");
			return -1;
		}
		if (got != b) {
			fprintf(stderr, "echo_rtt: sent %u, got %u back\n", b,
			    got);
			return -1;
		}
		return 0;
	}
}

static int
echo_cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile q (0..100) of the sorted v[0..n-1], in us. */
static double
echo_pct(const long long *v, size_t n, double q)
{
	size_t k = (size_t)(q / 100.0 * (double)n);

	if ((double)k < q / 100.0 * (double)n)
		k++;
	if (k < 1)
		k = 1;
	return (double)v[k - 1] / 1000.0;
}

static int
echo_ping(int port, size_t n, size_t warmup)
{
	struct sockaddr_in sin;
	long long *t, t0, sum = 0;
	size_t i;
	int fd, one = 1, rc = 1;

	if ((t = calloc(n, sizeof(*t))) == NULL)
		return 1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		fprintf(stderr, "echo_rtt: connect 127.0.0.1:%d: %s\n", port,
		    strerror(errno));
		goto out;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (i = 0; i < warmup; i++)
		if (echo_once(fd, (unsigned char)('a' + i % 26)) != 0)
			goto out;
	for (i = 0; i < n; i++) {
		t0 = echo_ns();
		if (echo_once(fd, (unsigned char)('A' + i % 26)) != 0)
			goto out;
		t[i] = echo_ns() - t0;
		sum += t[i];
	}
	qsort(t, n, sizeof(*t), echo_cmp);
	printf("echo_rtt: n=%zu p50_us=%.1f p90_us=%.1f p99_us=%.1f "
	    "mean_us=%.1f min_us=%.1f max_us=%.1f\n", n, echo_pct(t, n, 50),
	    echo_pct(t, n, 90), echo_pct(t, n, 99),
	    (double)sum / (double)n / 1000.0, (double)t[0] / 1000.0,
	    (double)t[n - 1] / 1000.0);
	rc = 0;
 out:
	if (fd >= 0)
		close(fd);
	free(t);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return echo_serve((int)echo_arg(argv[2], 0, 65535, "PORT"));
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "ping") == 0)
		return echo_ping((int)echo_arg(argv[2], 1, 65535, "PORT"),
		    (size_t)echo_arg(argv[3], 1, ECHO_PINGS_MAX, "N"),
		    argc == 5 ? (size_t)echo_arg(argv[4], 0, ECHO_PINGS_MAX,
		    "WARMUP") : 100);
	echo_usage();
	return 1;
}
