/*
 * ws_bench: the cost of lib/wsconn.c's framing, without the network.
 *
 *	build/bench/ws_bench [MiB]		(default 1024)
 *
 * Pushes MiB of binary messages of LK_WS_MSG_MAX bytes through an lk_wsc
 * pair over an AF_UNIX socketpair, sender in one process and receiver in
 * another (fork), both ways in turn:
 *   client → server	the client masks while copying (lk_wsc_queue_copy),
 *			the server unmasks in place: the relay's receiving
 *			side and the tunnel's sending end
 *   server → client	the server sends by reference (lk_wsc_queue_ref,
 *			no copy, no mask), the client reads: the relay's
 *			sending side and the tunnel's receiving end
 * The sender queues up to LK_WS_HIGH_WATER and flushes; the receiver
 * fills, peeks and consumes; both poll(2) when blocked. Prints MB/s (10^6
 * bytes) of payload and each process's CPU time (user + system, from
 * getrusage/wait4) per GiB. The receiver samples the payload against the
 * source (every 1024th byte), so the figures are of correct transfers. Needs no root and writes nothing.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "ws.h"

static double
bench_cpu_ms(const struct rusage *ru)
{
	return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1e3 +
	    (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1e3;
}

static void
bench_wait(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };

	while (poll(&p, 1, 10000) < 0 && errno == EINTR)
		;
}

/* Sends total bytes in LK_WS_MSG_MAX messages. */
static int
bench_send(int fd, int role, const uint8_t *src, uint64_t total)
{
	struct lk_wsc w;
	uint64_t queued = 0;
	unsigned refs = 0;
	size_t n;
	int r;

	if (lk_wsc_init(&w, fd, role, NULL, NULL, 0) != 0)
		return -1;
	while (queued < total || lk_wsc_want_write(&w)) {
		while (queued < total && lk_wsc_queued(&w) < LK_WS_HIGH_WATER) {
			n = total - queued < LK_WS_MSG_MAX ?
			    (size_t)(total - queued) : LK_WS_MSG_MAX;
			r = role == LK_WSC_CLIENT ?
			    lk_wsc_queue_copy(&w, LK_WS_OP_BINARY, 1, 1, src,
			    n) :
			    lk_wsc_queue_ref(&w, LK_WS_OP_BINARY, 1, 1, src, n,
			    &refs);
			if (r != 0)
				return -1;
			queued += n;
		}
		if (lk_wsc_flush(&w) != 0)
			return -1;
		/* Still queued after a flush: the socket is full. */
		if (lk_wsc_want_write(&w))
			bench_wait(fd, POLLOUT);
	}
	lk_wsc_free(&w);
	return refs == 0 ? 0 : -1;
}

/*
 * Receives total bytes, checking every 1024th byte of each piece against
 * the source (messages are LK_WS_MSG_MAX bytes, the last one shorter).
 */
static int
bench_recv(int fd, int role, const uint8_t *src, uint64_t total)
{
	struct lk_wsc w;
	struct lk_wsc_ev ev;
	uint64_t got = 0;
	ssize_t n;
	size_t i, off;
	int r;

	if (lk_wsc_init(&w, fd, role, NULL, NULL, 0) != 0)
		return -1;
	while (got < total) {
		while ((r = lk_wsc_peek(&w, &ev)) == LK_WSC_DATA) {
			off = (size_t)(got % LK_WS_MSG_MAX);
			if (ev.n > LK_WS_MSG_MAX - off)
				return -1;
			for (i = 0; i < ev.n; i += 1024)
				if (ev.p[i] != src[off + i])
					return -1;
			got += ev.n;
			lk_wsc_consume(&w, ev.n);
		}
		if (r != LK_WSC_NONE)
			return -1;
		if (got == total)
			break;
		if ((n = lk_wsc_fill(&w)) < 0)
			return -1;
		if (n == 0)
			bench_wait(fd, POLLIN);
	}
	lk_wsc_free(&w);
	return got == total ? 0 : -1;
}

static int
bench_run(const char *name, int send_role, const uint8_t *src,
    uint64_t total)
{
	struct rusage self0, self1, child;
	struct timespec t0, t1;
	double secs, gib = (double)total / (1024.0 * 1024 * 1024);
	int sv[2], status, r;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 ||
	    fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) != 0)
		return -1;
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		close(sv[0]);
		_exit(bench_recv(sv[1], send_role == LK_WSC_CLIENT ?
		    LK_WSC_SERVER : LK_WSC_CLIENT, src, total) == 0 ? 0 : 1);
	}
	close(sv[1]);
	getrusage(RUSAGE_SELF, &self0);
	if ((r = bench_send(sv[0], send_role, src, total)) != 0)
		fprintf(stderr, "ws_bench: sender failed\n");
	getrusage(RUSAGE_SELF, &self1);
	if (wait4(pid, &status, 0, &child) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "ws_bench: receiver status %d\n", status);
		r = -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(sv[0]);
	if (r != 0) {
		fprintf(stderr, "ws_bench: %s: transfer failed\n", name);
		return -1;
	}
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%-34s %8.0f MB/s  sender %6.0f CPU ms/GiB  "
	    "receiver %6.0f CPU ms/GiB\n", name, (double)total / secs / 1e6,
	    (bench_cpu_ms(&self1) - bench_cpu_ms(&self0)) / gib,
	    bench_cpu_ms(&child) / gib);
	return 0;
}

int
main(int argc, char **argv)
{
	uint64_t total = 1024ULL * 1024 * 1024;
	long long mib;
	uint8_t *src;
	size_t i;
	int r = 0;

	if (argc > 1) {
		if (lk_parse_ll(argv[1], 1, 1 << 20, &mib) != 0) {
			fprintf(stderr, "usage: ws_bench [MiB]\n");
			return 2;
		}
		total = (uint64_t)mib * 1024 * 1024;
	}
	if ((src = malloc(LK_WS_MSG_MAX)) == NULL)
		return 1;
	for (i = 0; i < LK_WS_MSG_MAX; i++)
		src[i] = (uint8_t)(i * 2654435761u >> 11);
	printf("ws_bench: %llu MiB in %d KiB messages over a socketpair\n",
	    (unsigned long long)(total >> 20), LK_WS_MSG_MAX / 1024);
	if (bench_run("client -> server (masked, copy)", LK_WSC_CLIENT, src,
	    total) != 0 ||
	    bench_run("server -> client (unmasked, ref)", LK_WSC_SERVER, src,
	    total) != 0)
		r = 1;
	free(src);
	return r;
}
