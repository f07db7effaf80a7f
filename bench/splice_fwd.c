/*
 * splice_fwd: the bare forwarder of the tunnel benchmark (issue 13).
 *
 *	splice_fwd HOST PORT
 *
 * Connects to HOST:PORT (TCP) and moves stdin to the socket and the
 * socket to stdout, nothing else: no framing, no buffering of its own.
 * Used as ssh's ProxyCommand, it is the cheapest extra process a byte can
 * cross on its way to sshd, so the tunnel is measured against it as well
 * as against a direct connection: on two cores every process on the path
 * takes CPU from ssh and sshd.
 *
 * Each direction uses splice(2): straight from the source to the
 * destination when one of them is a pipe (ssh gives its ProxyCommand
 * pipes), else through a pipe of our own; read(2)/write(2) where splice
 * is refused (EINVAL: a file or terminal that cannot splice). The socket
 * is non-blocking and waited for with poll(2): a splice from a blocking
 * socket into ssh's pipe would sleep holding the pipe's lock, and ssh's
 * next read of that pipe would wait for sshd's next bytes (a deadlock at
 * the key exchange). The
 * direction stdin -> socket runs in a child process, socket -> stdout in
 * the parent. At EOF on stdin the socket is shut down for writing; at
 * EOF on the socket stdout is closed. The parent exits once both
 * directions have ended.
 *
 * Exit status: 0 when both directions ended with EOF, 1 on a usage error,
 * a failed connect or a read or write error.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPLICE_FWD_CHUNK	(1 << 20)	/* bytes per splice call */
#define SPLICE_FWD_PIPE_SZ	(1 << 20)	/* our own pipe's size */
#define SPLICE_FWD_BUF		(256 * 1024)	/* the read/write fallback */

static int
splice_fwd_connect(const char *host, const char *port)
{
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, r, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		fprintf(stderr, "splice_fwd: %s port %s: %s\n", host, port,
		    gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd == -1)
		fprintf(stderr, "splice_fwd: connect %s port %s: %s\n", host,
		    port, strerror(errno));
	else
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	freeaddrinfo(res);
	return fd;
}

/* The socket of splice_fwd_move's direction; polled on EAGAIN. */
static int splice_fwd_sock = -1;

/* Waits until the socket can be read (in is the socket) or written. */
static void
splice_fwd_wait(int in)
{
	struct pollfd p;

	p.fd = splice_fwd_sock;
	p.events = in == splice_fwd_sock ? POLLIN : POLLOUT;
	(void)poll(&p, 1, -1);
}

static int
splice_fwd_is_pipe(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* Writes all of buf; 0 or -1. */
static int
splice_fwd_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			splice_fwd_wait(-1);
			continue;
		}
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* read/write until EOF; 0 at EOF, -1 on an error. */
static int
splice_fwd_copy(int in, int out)
{
	static char buf[SPLICE_FWD_BUF];
	ssize_t n;

	for (;;) {
		n = read(in, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			splice_fwd_wait(in);
			continue;
		}
		if (n == 0)
			return 0;
		if (n < 0 || splice_fwd_write_all(out, buf, (size_t)n) != 0)
			return -1;
	}
}

/*
 * Moves in to out until EOF: 0 at EOF, -1 on an error. One splice per
 * chunk when in or out is a pipe; else two, through a pipe of our own.
 * The first EINVAL (this pair cannot splice) falls back to read/write.
 */
static int
splice_fwd_move(int in, int out)
{
	unsigned int fl = SPLICE_F_MOVE;	/* no SPLICE_F_MORE: it corks TCP */
	int p[2] = { -1, -1 }, rv = -1;
	ssize_t n, m;

	if (splice_fwd_is_pipe(in) || splice_fwd_is_pipe(out)) {
		for (;;) {
			n = splice(in, NULL, out, NULL, SPLICE_FWD_CHUNK, fl);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && errno == EAGAIN) {
				splice_fwd_wait(in);
				continue;
			}
			if (n == -1 && errno == EINVAL)
				return splice_fwd_copy(in, out);
			if (n <= 0)
				return n == 0 ? 0 : -1;
		}
	}
	if (pipe2(p, O_CLOEXEC) == -1)
		return splice_fwd_copy(in, out);
	(void)fcntl(p[1], F_SETPIPE_SZ, SPLICE_FWD_PIPE_SZ);
	for (;;) {
		n = splice(in, NULL, p[1], NULL, SPLICE_FWD_CHUNK, fl);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			splice_fwd_wait(in);
			continue;
		}
		if (n == -1 && errno == EINVAL) {
			rv = splice_fwd_copy(in, out);
			goto out;
		}
		if (n <= 0) {
			rv = n == 0 ? 0 : -1;
			goto out;
		}
		while (n > 0) {
			m = splice(p[0], NULL, out, NULL, (size_t)n, fl);
			if (m == -1 && errno == EINTR)
				continue;
			if (m == -1 && errno == EAGAIN) {
				splice_fwd_wait(-1);
				continue;
			}
			if (m <= 0)
				goto out;
			n -= m;
		}
	}
 out:
	close(p[0]);
	close(p[1]);
	return rv;
}

int
main(int argc, char **argv)
{
	int s, st, rv = 0;
	pid_t pid;

	if (argc != 3) {
		fprintf(stderr, "usage: splice_fwd HOST PORT\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((s = splice_fwd_connect(argv[1], argv[2])) == -1)
		return 1;
	splice_fwd_sock = s;
	(void)fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	if ((pid = fork()) == -1) {
		perror("splice_fwd: fork");
		return 1;
	}
	if (pid == 0) {
		close(STDOUT_FILENO);
		if (splice_fwd_move(STDIN_FILENO, s) != 0) {
			perror("splice_fwd: stdin to the socket");
			_exit(1);
		}
		(void)shutdown(s, SHUT_WR);
		_exit(0);
	}
	close(STDIN_FILENO);
	/* EPIPE: ssh closed its end first, as it does when it exits. */
	if (splice_fwd_move(s, STDOUT_FILENO) != 0 && errno != EPIPE) {
		perror("splice_fwd: the socket to stdout");
		rv = 1;
		(void)kill(pid, SIGTERM);
	}
	close(STDOUT_FILENO);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (rv == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		rv = 1;
	return rv;
}
