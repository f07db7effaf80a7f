/*
 * api_rate: API calls per second from parallel clients, each a signed
 * request on its own kept-alive connection.
 *
 *	LK_AK_SECRET=SECRET api_rate --port PORT --access-key-id ID
 *	    [--action NAME] [--param Name=Value]... [--clients N]
 *	    [--warmup S] [--duration S] [--expect TEXT]
 *
 * N threads (default 16) each connect to 127.0.0.1:PORT (TCP_NODELAY) and
 * send one GET after the other on their connection (HTTP/1.1 keep-alive;
 * latchkeyd answers with a Content-Length), each a fresh signature 1.0
 * request (lib/sig.c, a new SignatureNonce and Timestamp every time, so
 * the server checks and records every nonce as it would a real client's)
 * of --action (default DescribeInvocationResults) with the --param pairs.
 * The secret comes from the environment, not the command line.
 *
 * For --warmup seconds (default 3) the calls are not counted; then for
 * --duration seconds (default 15) every call that both started and ended
 * in the window is timed (CLOCK_MONOTONIC from before the write to the
 * last byte of the answer). An answer that is not HTTP 200, or whose body
 * lacks --expect (default "RequestId"), a read that takes longer than
 * RATE_IO_TIMEOUT_S, and a connection that fails are errors, counted in
 * every phase; the first few are printed on stderr. A connection the
 * server closes is opened again (counted as a reconnect, not an error).
 *
 * Output, one line on stdout:
 *	api_rate: clients=N seconds=S calls=C rate=R p50_ms=.. p90_ms=..
 *	    p99_ms=.. max_ms=.. errors=E reconnects=K
 * (rate = calls / seconds; nearest-rank percentiles of the counted calls).
 *
 * Exit status: 0 when calls were counted and none failed, 1 otherwise.
 */
#include <sys/random.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "params.h"
#include "sig.h"

#define RATE_CLIENTS_MAX	256
#define RATE_PARAMS_MAX		32	/* --param pairs */
#define RATE_SECONDS_MAX	3600
#define RATE_IO_TIMEOUT_S	10
#define RATE_BUF_SIZE		(256 * 1024)	/* one answer, head and body */
#define RATE_REQ_MAX		(16 * 1024)	/* one request */
#define RATE_ERRORS_SHOWN	5

struct rate_opts {
	int		 port;
	const char	*ak_id;
	const char	*secret;
	const char	*action;
	const char	*expect;
	struct lk_param	 params[RATE_PARAMS_MAX];
	size_t		 nparams;
	int		 clients;
	int		 warmup;
	int		 duration;
	uint64_t	 run_id;	/* random, in every nonce */
	int64_t		 t_count;	/* monotonic us: counting starts */
	int64_t		 t_end;		/* and ends, and the run with it */
};

struct rate_client {
	const struct rate_opts	*o;
	pthread_t		 th;
	int			 idx;
	int			 fd;
	uint64_t		 seq;
	uint32_t		*us;		/* latencies of counted calls */
	size_t			 n, cap;
	long			 errors, reconnects;
	int			 failed;	/* could not keep samples */
	char			*buf;
};

static atomic_int rate_shown;

static int64_t
rate_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
rate_show(const struct rate_client *c, const char *what, const char *body)
{
	if (atomic_fetch_add(&rate_shown, 1) >= RATE_ERRORS_SHOWN)
		return;
	fprintf(stderr, "api_rate: client %d: %s%s%.300s\n", c->idx, what,
	    body != NULL ? ": " : "", body != NULL ? body : "");
}

static int
rate_connect(struct rate_client *c)
{
	struct sockaddr_in sa;
	struct timeval tv = { RATE_IO_TIMEOUT_S, 0 };
	int one = 1;

	if (c->fd != -1)
		return 0;
	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)c->o->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

static void
rate_disconnect(struct rate_client *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

/* Appends "&name=value" (or "name=value" first), encoded, to q. */
static int
rate_query_add(char *q, size_t size, size_t *lenp, const char *name,
    const char *value)
{
	char *n = lk_params_encode(name, strlen(name));
	char *v = lk_params_encode(value, strlen(value));
	int w, r = LK_ERR_ALLOC;

	if (n == NULL || v == NULL)
		goto out;
	w = snprintf(q + *lenp, size - *lenp, "%s%s=%s", *lenp > 0 ? "&" : "",
	    n, v);
	r = LK_ERR_TOO_LONG;
	if (w < 0 || (size_t)w >= size - *lenp)
		goto out;
	*lenp += (size_t)w;
	r = 0;
 out:
	free(n);
	free(v);
	return r;
}

/* lk_param holds non-const strings; here the list only borrows them. */
static void
rate_set(struct lk_param *p, const char *name, const char *value)
{
	p->name = (char *)(uintptr_t)name;
	p->value = (char *)(uintptr_t)value;
}

/* The next signed request's whole text into req (size bytes). */
static int
rate_request(struct rate_client *c, char *req, size_t size, size_t *lenp)
{
	const struct rate_opts *o = c->o;
	struct lk_param v[RATE_PARAMS_MAX + 16];
	struct lk_params all;
	char nonce[64], ts[32], sig[LK_SIG_V1_SIZE], q[RATE_REQ_MAX];
	char *sts = NULL;
	size_t i = 0, k, qlen = 0;
	time_t now = time(NULL);
	struct tm tm;
	int r, w;

	snprintf(nonce, sizeof(nonce), "%016llx-%d-%llu",
	    (unsigned long long)o->run_id, c->idx,
	    (unsigned long long)c->seq++);
	if (gmtime_r(&now, &tm) == NULL)
		return LK_ERR_INTERNAL;
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	rate_set(&v[i++], "Action", o->action);
	rate_set(&v[i++], "Version", "2014-05-26");
	rate_set(&v[i++], "Format", "JSON");
	rate_set(&v[i++], "RegionId", "cn-hangzhou");
	rate_set(&v[i++], "AccessKeyId", o->ak_id);
	rate_set(&v[i++], "SignatureMethod", "HMAC-SHA1");
	rate_set(&v[i++], "SignatureVersion", "1.0");
	rate_set(&v[i++], "SignatureNonce", nonce);
	rate_set(&v[i++], "Timestamp", ts);
	for (k = 0; k < o->nparams; k++)
		v[i++] = o->params[k];
	all.v = v;
	all.n = i;
	if ((r = lk_sig_v1_string_to_sign("GET", &all, &sts)) != 0 ||
	    (r = lk_sig_v1_compute(o->secret, sts, sig)) != 0)
		goto out;
	rate_set(&v[i++], "Signature", sig);
	for (k = 0; k < i; k++)
		if ((r = rate_query_add(q, sizeof(q), &qlen, v[k].name,
		    v[k].value)) != 0)
			goto out;
	w = snprintf(req, size, "GET /?%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
	    "User-Agent: api_rate\r\n\r\n", q, o->port);
	r = LK_ERR_TOO_LONG;
	if (w < 0 || (size_t)w >= size)
		goto out;
	*lenp = (size_t)w;
	r = 0;
 out:
	free(sts);
	return r;
}

/*
 * Reads one answer into c->buf: sets *statusp, *bodyp (NUL-terminated
 * inside c->buf) and *closep (the server will close). -2 when the
 * connection ended before the answer's first byte, -1 on any other failed
 * or timed-out read or a head without a Content-Length.
 */
static int
rate_read(struct rate_client *c, int *statusp, char **bodyp, int *closep)
{
	size_t have = 0, head = 0, clen = 0;
	char *eoh, *p, *line;
	ssize_t n;
	int got_len = 0;

	for (;;) {
		if (head == 0 && have > 0 && (eoh = memmem(c->buf, have,
		    "\r\n\r\n", 4)) != NULL) {
			head = (size_t)(eoh - c->buf) + 4;
			*eoh = '\0';
			if (strncmp(c->buf, "HTTP/1.", 7) != 0 ||
			    head < 13 || c->buf[8] != ' ')
				return -1;
			*statusp = (int)strtol(c->buf + 9, NULL, 10);
			*closep = 0;
			for (line = strstr(c->buf, "\r\n"); line != NULL;
			    line = strstr(line + 2, "\r\n")) {
				p = line + 2;
				if (strncasecmp(p, "Content-Length:", 15) == 0) {
					clen = strtoul(p + 15, NULL, 10);
					got_len = 1;
				} else if (strncasecmp(p, "Connection:", 11) ==
				    0 && strncasecmp(p + 11 + strspn(p + 11,
				    " \t"), "close", 5) == 0)
					*closep = 1;
			}
			if (!got_len || clen >= RATE_BUF_SIZE - head)
				return -1;
		}
		if (head > 0 && have >= head + clen) {
			c->buf[head + clen] = '\0';
			*bodyp = c->buf + head;
			return have == head + clen ? 0 : -1;
		}
		if (have >= RATE_BUF_SIZE - 1)
			return -1;
		n = read(c->fd, c->buf + have, RATE_BUF_SIZE - 1 - have);
		if (n <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			return n == 0 && have == 0 ? -2 : -1;
		}
		have += (size_t)n;
	}
}

/* One call; 0 when it succeeded, -1 when it failed (counted). */
static int
rate_call(struct rate_client *c)
{
	char req[RATE_REQ_MAX + 256], *body = NULL;
	size_t len, off = 0;
	int64_t t0, t1;
	ssize_t n;
	int status = 0, closing = 0, fresh = c->fd == -1, r = -1;
	uint32_t *nu;

	if (rate_request(c, req, sizeof(req), &len) != 0) {
		rate_show(c, "cannot build the request", NULL);
		goto fail;
	}
	if (rate_connect(c) != 0) {
		rate_show(c, "cannot connect", strerror(errno));
		goto fail;
	}
	t0 = rate_now_us();
	while (off < len) {
		if ((n = write(c->fd, req + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)n;
	}
	if (off == len)
		r = rate_read(c, &status, &body, &closing);
	if (r != 0) {
		/* A kept-alive connection the server closed: once more. */
		rate_disconnect(c);
		if (!fresh && (off < len || r == -2)) {
			c->reconnects++;
			return rate_call(c);
		}
		rate_show(c, "no answer", NULL);
		goto fail;
	}
	t1 = rate_now_us();
	if (closing) {
		rate_disconnect(c);
		c->reconnects++;
	}
	if (status != 200 || strstr(body, c->o->expect) == NULL) {
		char what[64];

		snprintf(what, sizeof(what), "HTTP %d", status);
		rate_show(c, what, body);
		goto fail;
	}
	if (t0 >= c->o->t_count && t1 <= c->o->t_end) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 4096;

			if ((nu = realloc(c->us, cap * sizeof(*nu))) == NULL) {
				c->failed = 1;
				return -1;
			}
			c->us = nu;
			c->cap = cap;
		}
		c->us[c->n++] = (uint32_t)(t1 - t0);
	}
	return 0;
 fail:
	c->errors++;
	return -1;
}

static void *
rate_thread(void *arg)
{
	struct rate_client *c = arg;

	while (rate_now_us() < c->o->t_end && !c->failed)
		if (rate_call(c) != 0 && c->fd == -1)
			usleep(10000);	/* no connection: do not spin */
	rate_disconnect(c);
	return NULL;
}

static int
rate_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile p (0..100) of n sorted values, in ms. */
static double
rate_pct(const uint32_t *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(p / 100 * (double)n);
	if ((double)k < p / 100 * (double)n)
		k++;
	if (k < 1)
		k = 1;
	return v[k - 1] / 1000.0;
}

static int
rate_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static void
rate_usage(void)
{
	fprintf(stderr, "usage: LK_AK_SECRET=SECRET api_rate --port PORT "
	    "--access-key-id ID [--action NAME]\n"
	    "    [--param Name=Value]... [--clients N] [--warmup S] "
	    "[--duration S] [--expect TEXT]\n");
	exit(1);
}

static void
rate_args(int argc, char **argv, struct rate_opts *o)
{
	static const struct option lo[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "access-key-id", required_argument, NULL, 'k' },
		{ "action", required_argument, NULL, 'a' },
		{ "param", required_argument, NULL, 'P' },
		{ "clients", required_argument, NULL, 'c' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "duration", required_argument, NULL, 'd' },
		{ "expect", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 }
	};
	char *eq;
	int ch;

	memset(o, 0, sizeof(*o));
	o->action = "DescribeInvocationResults";
	o->expect = "RequestId";
	o->clients = 16;
	o->warmup = 3;
	o->duration = 15;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'p':
			if (rate_int(optarg, 1, 65535, &o->port) != 0)
				rate_usage();
			break;
		case 'k':
			o->ak_id = optarg;
			break;
		case 'a':
			o->action = optarg;
			break;
		case 'P':
			if ((eq = strchr(optarg, '=')) == NULL ||
			    eq == optarg || o->nparams == RATE_PARAMS_MAX)
				rate_usage();
			*eq = '\0';
			rate_set(&o->params[o->nparams++], optarg, eq + 1);
			break;
		case 'c':
			if (rate_int(optarg, 1, RATE_CLIENTS_MAX,
			    &o->clients) != 0)
				rate_usage();
			break;
		case 'w':
			if (rate_int(optarg, 0, RATE_SECONDS_MAX,
			    &o->warmup) != 0)
				rate_usage();
			break;
		case 'd':
			if (rate_int(optarg, 1, RATE_SECONDS_MAX,
			    &o->duration) != 0)
				rate_usage();
			break;
		case 'e':
			o->expect = optarg;
			break;
		default:
			rate_usage();
		}
	}
	o->secret = getenv("LK_AK_SECRET");
	if (optind != argc || o->port == 0 || o->ak_id == NULL ||
	    o->secret == NULL || *o->secret == '\0')
		rate_usage();
}

int
main(int argc, char **argv)
{
	static struct rate_client cl[RATE_CLIENTS_MAX];
	struct rate_opts o;
	uint32_t *all = NULL;
	size_t n = 0, k;
	long errors = 0, reconnects = 0;
	int i, started = 0, failed = 0;

	rate_args(argc, argv, &o);
	if (getrandom(&o.run_id, sizeof(o.run_id), 0) !=
	    (ssize_t)sizeof(o.run_id)) {
		fprintf(stderr, "api_rate: getrandom failed\n");
		return 1;
	}
	o.t_count = rate_now_us() + (int64_t)o.warmup * 1000000;
	o.t_end = o.t_count + (int64_t)o.duration * 1000000;
	for (i = 0; i < o.clients; i++) {
		cl[i].o = &o;
		cl[i].idx = i;
		cl[i].fd = -1;
		if ((cl[i].buf = malloc(RATE_BUF_SIZE)) == NULL ||
		    pthread_create(&cl[i].th, NULL, rate_thread, &cl[i]) != 0) {
			fprintf(stderr, "api_rate: cannot start client %d\n", i);
			failed = 1;
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(cl[i].th, NULL);
		n += cl[i].n;
		errors += cl[i].errors;
		reconnects += cl[i].reconnects;
		failed |= cl[i].failed;
	}
	if (!failed && (all = malloc((n ? n : 1) * sizeof(*all))) != NULL) {
		for (i = 0, k = 0; i < started; i++) {
			if (cl[i].n == 0)
				continue;
			memcpy(all + k, cl[i].us, cl[i].n * sizeof(*all));
			k += cl[i].n;
		}
		qsort(all, n, sizeof(*all), rate_cmp);
		printf("api_rate: clients=%d seconds=%d calls=%zu rate=%.0f "
		    "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
		    "errors=%ld reconnects=%ld\n", o.clients, o.duration, n,
		    (double)n / o.duration, rate_pct(all, n, 50),
		    rate_pct(all, n, 90), rate_pct(all, n, 99),
		    rate_pct(all, n, 100), errors, reconnects);
	} else
		fprintf(stderr, "api_rate: out of memory\n");
	for (i = 0; i < o.clients; i++) {
		free(cl[i].us);
		free(cl[i].buf);
	}
	free(all);
	return failed || all == NULL || n == 0 || errors > 0;
}
