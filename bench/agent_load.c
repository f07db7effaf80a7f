/*
 * agent_load: many simulated latchkey agents in one process, speaking the
 * real agent protocol (docs/agent-protocol.md) to a real latchkeyd.
 *
 *	agent_load --server 127.0.0.1:PORT --activation-id ID
 *	    --activation-code CODE --agents N [--wait S] [--parallel K]
 *	    [--events FILE] [--ids FILE] [--duration S] [--ready-timeout S]
 *	    [--no-spread] [--sources M]
 *
 * --sources M spreads the agents' connections over M loopback source
 * addresses, 127.1.0.1, 127.1.0.2, ... (agent i connects from address
 * i mod M), as a fleet's come from many addresses: latchkeyd limits the
 * connections of one address (--max-conns-per-ip, 1024 by default). Without
 * it every connection comes from the address the kernel picks (127.0.0.1
 * for a server on loopback).
 *
 * Each agent speaks HTTP/1.1 (keep-alive, bodies with Content-Length,
 * written by hand: the server is libmicrohttpd and answers every request
 * with a Content-Length) in two phases:
 *
 * 1. Registration (POST /agent/v1/register, one use of the activation
 *    each): --parallel K connections (default 200), each registering one
 *    agent after the other, the way `latchkey-agent register` runs before
 *    `latchkey-agent run`.
 * 2. Once every agent is registered, each opens its own connection, says
 *    hello and keeps one long poll open (GET /agent/v1/poll?wait=S, with
 *    Latchkey-Running-Tasks naming the tasks not yet reported, as the
 *    real agent's polls do),
 *    re-issued as soon as it returns (the first poll of agent i waits
 *    1 + i mod S seconds, so that the agents' polls come back spread over
 *    S seconds as a fleet's do; --no-spread makes every poll wait S
 *    seconds, so that they all come back within the second or two the
 *    agents took to connect); at most K agents are between their
 *    connect and their first poll at any time. When a poll returns tasks,
 *    the agent reports each at once (POST /agent/v1/result: Success, exit
 *    code 0, output "ok") on the same connection, then polls again. The
 *    real agent reports on a second connection; one connection per
 *    simulated agent halves the descriptors both sides need and changes
 *    nothing the server does per request.
 *
 * A connection that fails or is closed by the server is opened again
 * after a back-off (200 ms doubling to 3.2 s), and a registered agent says
 * hello again; an agent that fails AL_RETRIES_MAX times in a row is given
 * up ("dead"). At --ready-timeout, agents that have not sent their first
 * poll yet are given up, so that the server then holds exactly the agents
 * that got connected.
 *
 * Output, on stdout, one line each:
 *	agent_load: ready agents=N ready=R dead=D setup_ms=T register_ms=T
 *	    when every agent has sent its first poll or been given up (or
 *	    "agent_load: not-ready ..." when --ready-timeout passes first;
 *	    register_ms is -1 while not every agent is registered);
 *	agent_load: stats ...  on SIGUSR1;
 *	agent_load: done ...   on SIGTERM/SIGINT or after --duration.
 * --ids FILE gets the instance ids of the connected agents, one a line,
 * when ready (written to FILE.tmp and renamed). --events FILE gets one
 * line per reported task, flushed after every turn of the event loop:
 *	<task_id> <received_us> <reported_us>
 * with CLOCK_REALTIME microseconds (comparable with bash's EPOCHREALTIME):
 * when the poll that carried the task had been read completely, and when
 * the server answered the result with 200.
 *
 * Exit status: 0 after a clean stop, 1 when it could not run (bad
 * arguments, descriptor limit, activation refused for every agent).
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define AL_AGENTS_MAX		20000
#define AL_PARALLEL_DEFAULT	200
#define AL_WAIT_DEFAULT		25
#define AL_DURATION_DEFAULT	900
#define AL_DURATION_MAX		86400
#define AL_REQ_MAX		4096	/* one request, headers and body */
#define AL_RESP_MAX		(2 * 1024 * 1024)
#define AL_TASKS_MAX		64	/* tasks kept from one poll */
#define AL_TASK_ID_MAX		128
#define AL_RETRIES_MAX		8
#define AL_BACKOFF_MS		200
#define AL_BACKOFF_MAX_MS	3200
#define AL_REQUEST_MS		15000	/* any request but a poll */
#define AL_SCAN_MS		50	/* timers are checked this often */
#define AL_EVENTS		256
#define AL_SOURCES_MAX		65000
#define AL_SOURCE_BASE		0x7f010001u	/* 127.1.0.1 */
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT	24
#endif

enum al_state {
	AL_NEW,			/* not started yet */
	AL_WAITING,		/* registered, waiting to connect */
	AL_BACKOFF,		/* waiting to connect again */
	AL_CONNECTING,
	AL_SENDING,
	AL_RECEIVING,
	AL_DEAD			/* given up */
};

enum al_req { AL_REGISTER, AL_HELLO, AL_POLL, AL_RESULT };

struct al_task {
	char	 id[AL_TASK_ID_MAX];
	int64_t	 recv_us;
};

struct al_agent {
	int		 fd;
	enum al_state	 state;
	enum al_req	 req;
	int		 ready;		/* has sent its first poll */
	int		 retries;	/* failures in a row */
	int64_t		 deadline_ms;	/* of the request or the back-off */
	char		 id[32];
	char		 cred[64];
	char		 out[AL_REQ_MAX];
	size_t		 outlen, outoff;
	char		*in;
	size_t		 inlen, incap;
	struct al_task	*tasks;		/* received, not yet reported */
	size_t		 ntasks, itask;
};

struct al_opts {
	struct sockaddr_in	 addr;
	char			 host[64];
	const char		*act_id;
	const char		*act_code;
	const char		*events;
	const char		*ids;
	long			 agents;
	long			 parallel;
	long			 wait;
	long			 duration;
	long			 ready_timeout;
	long			 sources;	/* 0: no bind() */
	int			 spread;	/* spread the first polls */
};

struct al_counts {
	long	 ready, dead, dead_setup, setup, started, refused;
	long	 registered, polls, tasks, results, reconnects, errors;
	long	 closed_by_server;
};

static struct al_opts o;
static struct al_counts n;
static struct al_agent *agents;
static int al_ep = -1;
static FILE *al_events;
static int al_events_dirty;
static volatile sig_atomic_t al_quit, al_dump;
static int64_t al_t0_ms, al_registered_ms, al_ready_ms;
static int al_phase_connect;	/* every agent registered (or given up) */
static long al_next;		/* the next agent to connect */

static void
al_die(const char *msg)
{
	fprintf(stderr, "agent_load: %s\n", msg);
	exit(1);
}

static int64_t
al_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
al_real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
al_signal(int sig)
{
	if (sig == SIGUSR1)
		al_dump = 1;
	else
		al_quit = 1;
}

static long
al_number(const char *s, long min, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "agent_load: %s: %ld to %ld\n", what, min, max);
		exit(1);
	}
	return v;
}

static void
al_usage(void)
{
	fprintf(stderr, "usage: agent_load --server 127.0.0.1:PORT "
	    "--activation-id ID --activation-code CODE --agents N\n"
	    "           [--wait S] [--parallel K] [--events FILE] "
	    "[--ids FILE]\n"
	    "           [--duration S] [--ready-timeout S] [--no-spread]\n"
	    "           [--sources M]\n");
	exit(1);
}

static void
al_server(const char *s)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	size_t hl;

	if (colon == NULL || (hl = (size_t)(colon - s)) == 0 ||
	    hl >= sizeof(host))
		al_usage();
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(&o.addr, 0, sizeof(o.addr));
	o.addr.sin_family = AF_INET;
	o.addr.sin_port = htons((uint16_t)al_number(colon + 1, 1, 65535,
	    "port"));
	if (inet_pton(AF_INET, host, &o.addr.sin_addr) != 1)
		al_die("--server: an IPv4 address and a port");
	snprintf(o.host, sizeof(o.host), "%s", s);
}

static void
al_options(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", required_argument, NULL, 's' },
		{ "activation-id", required_argument, NULL, 'i' },
		{ "activation-code", required_argument, NULL, 'c' },
		{ "agents", required_argument, NULL, 'n' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "wait", required_argument, NULL, 'w' },
		{ "events", required_argument, NULL, 'e' },
		{ "ids", required_argument, NULL, 'I' },
		{ "duration", required_argument, NULL, 'd' },
		{ "ready-timeout", required_argument, NULL, 'r' },
		{ "no-spread", no_argument, NULL, 'S' },
		{ "sources", required_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	o.parallel = AL_PARALLEL_DEFAULT;
	o.spread = 1;
	o.wait = AL_WAIT_DEFAULT;
	o.duration = AL_DURATION_DEFAULT;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 's': al_server(optarg); break;
		case 'i': o.act_id = optarg; break;
		case 'c': o.act_code = optarg; break;
		case 'n': o.agents = al_number(optarg, 1, AL_AGENTS_MAX,
		    "--agents"); break;
		case 'p': o.parallel = al_number(optarg, 1, 5000,
		    "--parallel"); break;
		case 'w': o.wait = al_number(optarg, 1, 30, "--wait"); break;
		case 'e': o.events = optarg; break;
		case 'I': o.ids = optarg; break;
		case 'd': o.duration = al_number(optarg, 1, AL_DURATION_MAX,
		    "--duration"); break;
		case 'r': o.ready_timeout = al_number(optarg, 1,
		    AL_DURATION_MAX, "--ready-timeout"); break;
		case 'S': o.spread = 0; break;
		case 'A': o.sources = al_number(optarg, 1, AL_SOURCES_MAX,
		    "--sources"); break;
		default: al_usage();
		}
	}
	if (optind != argc || o.host[0] == '\0' || o.act_id == NULL ||
	    o.act_code == NULL || o.agents == 0 ||
	    strlen(o.act_id) > 128 || strlen(o.act_code) > 128 ||
	    strspn(o.act_id, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != strlen(o.act_id) ||
	    strspn(o.act_code, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != strlen(o.act_code))
		al_usage();
}

/* One descriptor per agent, plus a few of our own. */
static void
al_rlimit(void)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)o.agents + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		al_die("getrlimit");
	if (rl.rlim_cur >= want)
		return;
	if (rl.rlim_max < want) {
		fprintf(stderr, "agent_load: %ld agents need %lu descriptors; "
		    "the hard limit is %lu\n", o.agents, (unsigned long)want,
		    (unsigned long)rl.rlim_max);
		exit(1);
	}
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		al_die("setrlimit RLIMIT_NOFILE");
}

/* "YYYY-MM-DDThh:mm:ssZ" of now. */
static void
al_iso(char *buf, size_t size)
{
	struct tm tm;
	time_t t = time(NULL);

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
al_fmt_body(struct al_agent *a, size_t idx, const char *method,
    const char *path, const char *body)
{
	char auth[AL_REQ_MAX / 2] = "";
	size_t len, i;
	int r;

	if (a->req != AL_REGISTER)
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s.%s\r\n",
		    a->id, a->cred);
	/*
	 * As latchkey-agent does, a poll names the tasks received and not
	 * yet reported (the lease renewal, docs/agent-protocol.md), so that
	 * a task handed out by a replica that died before the answer reached
	 * this agent is handed out again.
	 */
	if (a->req == AL_POLL) {
		len = strlen(auth);
		len += (size_t)snprintf(auth + len, sizeof(auth) - len,
		    "Latchkey-Running-Tasks:");
		for (i = a->itask; i < a->ntasks && len < sizeof(auth) - 4; i++)
			len += (size_t)snprintf(auth + len, sizeof(auth) - len,
			    "%s%s", i > a->itask ? "," : " ", a->tasks[i].id);
		if (len >= sizeof(auth) - 3)
			return -1;
		snprintf(auth + len, sizeof(auth) - len, "\r\n");
	}
	if (body == NULL)
		r = snprintf(a->out, sizeof(a->out), "%s %s HTTP/1.1\r\n"
		    "Host: %s\r\nUser-Agent: agent_load/%zu\r\n%s\r\n",
		    method, path, o.host, idx, auth);
	else
		r = snprintf(a->out, sizeof(a->out), "%s %s HTTP/1.1\r\n"
		    "Host: %s\r\nUser-Agent: agent_load/%zu\r\n%s"
		    "Content-Type: application/json\r\n"
		    "Content-Length: %zu\r\n\r\n%s", method, path, o.host,
		    idx, auth, strlen(body), body);
	if (r < 0 || (size_t)r >= sizeof(a->out))
		return -1;
	a->outlen = (size_t)r;
	a->outoff = 0;
	return 0;
}

/* Builds the request a->req into a->out. */
static int
al_build(struct al_agent *a, size_t idx)
{
	char body[640], path[64], now[32];
	const char *facts = "\"os\":\"Debian GNU/Linux 12\",\"version\":"
	    "\"1.0.0\",\"addresses\":[\"127.0.0.1\"]";
	int r;

	switch (a->req) {
	case AL_REGISTER:
		r = snprintf(body, sizeof(body), "{\"activation_id\":\"%s\","
		    "\"activation_code\":\"%s\",\"hostname\":\"load-%05zu\","
		    "%s}", o.act_id, o.act_code, idx, facts);
		break;
	case AL_HELLO:
		r = snprintf(body, sizeof(body), "{\"hostname\":"
		    "\"load-%05zu\",%s}", idx, facts);
		break;
	case AL_POLL:
		/*
		 * The first poll of agent i waits 1 + i mod S seconds, so
		 * that the polls of agents that connected within a second
		 * come back spread over the whole wait, as a fleet's do,
		 * not all in the same second every S seconds.
		 */
		snprintf(path, sizeof(path), "/agent/v1/poll?wait=%ld",
		    a->ready || !o.spread ? o.wait : 1 + (long)idx % o.wait);
		return al_fmt_body(a, idx, "GET", path, NULL);
	case AL_RESULT:
	default:
		al_iso(now, sizeof(now));
		r = snprintf(body, sizeof(body), "{\"task_id\":\"%s\","
		    "\"status\":\"Success\",\"exit_code\":0,\"output\":"
		    "\"b2s=\",\"dropped\":0,\"error_code\":\"\","
		    "\"start_time\":\"%s\",\"finish_time\":\"%s\"}",
		    a->tasks[a->itask].id, now, now);
		break;
	}
	if (r < 0 || (size_t)r >= sizeof(body))
		return -1;
	snprintf(path, sizeof(path), "/agent/v1/%s", a->req == AL_REGISTER ?
	    "register" : a->req == AL_HELLO ? "hello" : "result");
	return al_fmt_body(a, idx, "POST", path, body);
}

static void
al_close(struct al_agent *a)
{
	if (a->fd >= 0) {
		epoll_ctl(al_ep, EPOLL_CTL_DEL, a->fd, NULL);
		close(a->fd);
	}
	a->fd = -1;
	a->inlen = 0;
	if (a->incap > 65536) {
		free(a->in);
		a->in = NULL;
		a->incap = 0;
	}
}

static void
al_set_events(struct al_agent *a, uint32_t ev)
{
	struct epoll_event e;

	memset(&e, 0, sizeof(e));
	e.events = ev;
	e.data.u32 = (uint32_t)(a - agents);
	epoll_ctl(al_ep, EPOLL_CTL_MOD, a->fd, &e);
}

static void al_send(struct al_agent *);

/*
 * Binds the agent's socket to its loopback source address (--sources);
 * the port is chosen at connect() (IP_BIND_ADDRESS_NO_PORT), so that each
 * address has the whole ephemeral range towards the server.
 */
static int
al_bind_source(struct al_agent *a)
{
	struct sockaddr_in sin;
	int one = 1;

	(void)setsockopt(a->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
	    sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(AL_SOURCE_BASE +
	    (uint32_t)((a - agents) % o.sources));
	if (bind(a->fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		fprintf(stderr, "agent_load: bind to a source address: %s\n",
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void
al_connect(struct al_agent *a)
{
	struct epoll_event e;
	int one = 1;

	a->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (a->fd < 0) {
		a->state = AL_BACKOFF;
		a->deadline_ms = al_now_ms() + AL_BACKOFF_MS;
		n.errors++;
		return;
	}
	setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (o.sources > 0 && al_bind_source(a) != 0) {
		al_close(a);
		a->state = AL_BACKOFF;
		a->deadline_ms = al_now_ms() + AL_BACKOFF_MS;
		n.errors++;
		return;
	}
	memset(&e, 0, sizeof(e));
	e.events = EPOLLOUT;
	e.data.u32 = (uint32_t)(a - agents);
	epoll_ctl(al_ep, EPOLL_CTL_ADD, a->fd, &e);
	a->state = AL_CONNECTING;
	a->deadline_ms = al_now_ms() + AL_REQUEST_MS;
	if (connect(a->fd, (struct sockaddr *)&o.addr, sizeof(o.addr)) == 0)
		al_send(a);
	else if (errno != EINPROGRESS) {
		al_close(a);
		a->state = AL_BACKOFF;
		a->deadline_ms = al_now_ms() + AL_BACKOFF_MS;
		n.errors++;
	}
}

/* A failed request: back off and connect again, or give the agent up. */
static void
al_fail(struct al_agent *a)
{
	long ms = AL_BACKOFF_MS;
	int i;

	al_close(a);
	n.errors++;
	if (++a->retries > AL_RETRIES_MAX) {
		a->state = AL_DEAD;
		n.dead++;
		if (!a->ready) {
			n.setup--;
			n.dead_setup++;
		}
		return;
	}
	for (i = 1; i < a->retries && ms < AL_BACKOFF_MAX_MS; i++)
		ms *= 2;
	a->state = AL_BACKOFF;
	a->deadline_ms = al_now_ms() + ms;
	/* After a reconnect a registered agent says hello again. */
	if (a->id[0] != '\0')
		a->req = a->ntasks > a->itask ? AL_RESULT : AL_HELLO;
}

static void
al_send(struct al_agent *a)
{
	ssize_t w;

	if (a->state != AL_SENDING) {
		if (al_build(a, (size_t)(a - agents)) != 0) {
			fprintf(stderr, "agent_load: request too long\n");
			al_fail(a);
			return;
		}
		a->state = AL_SENDING;
		a->deadline_ms = al_now_ms() + (a->req == AL_POLL ?
		    (o.wait + 10) * 1000 : AL_REQUEST_MS);
	}
	while (a->outoff < a->outlen) {
		w = send(a->fd, a->out + a->outoff, a->outlen - a->outoff,
		    MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			al_set_events(a, EPOLLOUT);
			return;
		}
		if (w <= 0) {
			al_fail(a);
			return;
		}
		a->outoff += (size_t)w;
	}
	a->state = AL_RECEIVING;
	al_set_events(a, EPOLLIN);
	if (a->req == AL_POLL && !a->ready) {
		a->ready = 1;
		n.ready++;
		n.setup--;
	}
}

/* The string value of "key":"..." in a flat JSON text, or -1. */
static int
al_json_str(const char *json, const char *key, char *out, size_t size)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	if ((p = strstr(json, pat)) == NULL)
		return -1;
	p += strlen(pat);
	if ((e = strchr(p, '"')) == NULL || (size_t)(e - p) >= size ||
	    memchr(p, '\\', (size_t)(e - p)) != NULL)
		return -1;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return 0;
}

/* The task ids of a poll's answer into a->tasks. */
static int
al_take_tasks(struct al_agent *a, const char *body)
{
	static const char pat[] = "\"task_id\":\"";
	const char *p = body, *e;
	int64_t now = al_real_us();
	size_t len;

	a->ntasks = a->itask = 0;
	while ((p = strstr(p, pat)) != NULL && a->ntasks < AL_TASKS_MAX) {
		p += sizeof(pat) - 1;
		if ((e = strchr(p, '"')) == NULL ||
		    (len = (size_t)(e - p)) >= AL_TASK_ID_MAX)
			return -1;
		if (a->tasks == NULL && (a->tasks = calloc(AL_TASKS_MAX,
		    sizeof(*a->tasks))) == NULL)
			al_die("out of memory");
		memcpy(a->tasks[a->ntasks].id, p, len);
		a->tasks[a->ntasks].id[len] = '\0';
		a->tasks[a->ntasks++].recv_us = now;
		p = e;
	}
	n.tasks += (long)a->ntasks;
	return 0;
}

static void
al_ready_check(void)
{
	if (al_ready_ms != 0 || n.ready + n.dead_setup < o.agents)
		return;
	al_ready_ms = al_now_ms();
	printf("agent_load: ready agents=%ld ready=%ld dead=%ld setup_ms=%lld "
	    "register_ms=%lld errors=%ld\n", o.agents, n.ready, n.dead,
	    (long long)(al_ready_ms - al_t0_ms),
	    (long long)(al_registered_ms ? al_registered_ms - al_t0_ms : -1),
	    n.errors);
	fflush(stdout);
}

static void
al_write_ids(void)
{
	char tmp[4096];
	FILE *f;
	long i;

	if (o.ids == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", o.ids);
	if ((f = fopen(tmp, "w")) == NULL)
		al_die("cannot write --ids file");
	for (i = 0; i < o.agents; i++)
		if (agents[i].ready && agents[i].state != AL_DEAD)
			fprintf(f, "%s\n", agents[i].id);
	if (fclose(f) != 0 || rename(tmp, o.ids) != 0)
		al_die("cannot write --ids file");
}

/*
 * A registered agent waits until every agent is registered; its
 * connection, still open, registers the next agent (keep-alive), so that
 * registration keeps --parallel requests in flight on as many
 * connections instead of opening one connection per agent.
 */
static void
al_registered(struct al_agent *a)
{
	struct al_agent *b;

	n.setup--;
	a->state = AL_WAITING;
	if (a->fd >= 0 && n.started < o.agents) {
		b = &agents[n.started++];
		n.setup++;
		b->fd = a->fd;
		a->fd = -1;
		b->req = AL_REGISTER;
		b->state = AL_RECEIVING;
		al_send(b);
	} else
		al_close(a);
	free(a->in);
	a->in = NULL;
	a->inlen = a->incap = 0;
}

/* A complete answer: status, body (NUL-terminated). */
static void
al_answer(struct al_agent *a, int status, const char *body)
{
	if (a->req == AL_REGISTER && status == 403) {
		fprintf(stderr, "agent_load: agent %zu: activation refused\n",
		    (size_t)(a - agents));
		n.refused++;
		a->retries = AL_RETRIES_MAX;
		al_fail(a);
		return;
	}
	if (status != 200) {
		fprintf(stderr, "agent_load: agent %zu: HTTP %d for request "
		    "%d: %.200s\n", (size_t)(a - agents), status, (int)a->req,
		    body);
		al_fail(a);
		return;
	}
	a->retries = 0;
	switch (a->req) {
	case AL_REGISTER:
		if (al_json_str(body, "instance_id", a->id, sizeof(a->id)) != 0 ||
		    al_json_str(body, "credential", a->cred,
		    sizeof(a->cred)) != 0) {
			a->id[0] = '\0';
			al_fail(a);
			return;
		}
		if (++n.registered == o.agents)
			al_registered_ms = al_now_ms();
		a->req = AL_HELLO;
		al_registered(a);
		return;
	case AL_HELLO:
		a->req = a->ntasks > a->itask ? AL_RESULT : AL_POLL;
		break;
	case AL_POLL:
		n.polls++;
		if (al_take_tasks(a, body) != 0) {
			al_fail(a);
			return;
		}
		a->req = a->ntasks > 0 ? AL_RESULT : AL_POLL;
		break;
	case AL_RESULT:
		n.results++;
		if (al_events != NULL) {
			fprintf(al_events, "%s %lld %lld\n",
			    a->tasks[a->itask].id,
			    (long long)a->tasks[a->itask].recv_us,
			    (long long)al_real_us());
			al_events_dirty = 1;
		}
		a->req = ++a->itask < a->ntasks ? AL_RESULT : AL_POLL;
		break;
	}
	if (a->fd < 0)
		al_connect(a);		/* sends once connected */
	else
		al_send(a);
}

/*
 * Parses a->in: 1 with *status, *body and *close set when an answer is
 * complete, 0 when more is needed, -1 when it is not one we understand.
 */
static int
al_parse(struct al_agent *a, int *status, size_t *hdrlen, int *closep)
{
	const char *end, *p, *eol;
	unsigned long long cl = 0;
	int have_cl = 0;
	char *e;

	a->in[a->inlen] = '\0';
	if ((end = memmem(a->in, a->inlen, "\r\n\r\n", 4)) == NULL)
		return a->inlen > 16384 ? -1 : 0;
	if (a->inlen < 12 || strncmp(a->in, "HTTP/1.", 7) != 0 ||
	    a->in[8] != ' ')
		return -1;
	*status = (int)strtol(a->in + 9, &e, 10);
	if (e != a->in + 12 || *status < 100 || *status > 599)
		return -1;
	*closep = strncmp(a->in, "HTTP/1.0", 8) == 0;
	for (p = strstr(a->in, "\r\n") + 2; p < end; p = eol + 2) {
		eol = strstr(p, "\r\n");
		if (strncasecmp(p, "Content-Length:", 15) == 0) {
			errno = 0;
			cl = strtoull(p + 15, &e, 10);
			if (errno != 0 || e == p + 15 || cl > AL_RESP_MAX)
				return -1;
			have_cl = 1;
		} else if (strncasecmp(p, "Transfer-Encoding:", 18) == 0)
			return -1;
		else if (strncasecmp(p, "Connection:", 11) == 0) {
			if (memmem(p, (size_t)(eol - p), "close", 5) != NULL)
				*closep = 1;
			else if (memmem(p, (size_t)(eol - p), "eep-", 4))
				*closep = 0;
		}
	}
	if (!have_cl)
		return -1;
	*hdrlen = (size_t)(end + 4 - a->in);
	if (a->inlen < *hdrlen + cl)
		return 0;
	if (a->inlen > *hdrlen + cl)
		return -1;	/* we never pipeline */
	return 1;
}

static void
al_receive(struct al_agent *a)
{
	size_t hdrlen = 0;
	ssize_t r;
	int status = 0, closeit = 0, done;
	char *nb;

	for (;;) {
		if (a->incap - a->inlen < 4096 + 1) {
			if (a->incap >= AL_RESP_MAX + 8192) {
				al_fail(a);
				return;
			}
			if ((nb = realloc(a->in, a->incap ? a->incap * 2 :
			    8192)) == NULL)
				al_die("out of memory");
			a->in = nb;
			a->incap = a->incap ? a->incap * 2 : 8192;
		}
		r = recv(a->fd, a->in + a->inlen, a->incap - a->inlen - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			if (r == 0)
				n.closed_by_server++;
			al_fail(a);
			return;
		}
		a->inlen += (size_t)r;
		if ((done = al_parse(a, &status, &hdrlen, &closeit)) < 0) {
			fprintf(stderr, "agent_load: agent %zu: bad answer\n",
			    (size_t)(a - agents));
			al_fail(a);
			return;
		}
		if (done)
			break;
	}
	a->inlen = 0;
	if (closeit) {
		/* The server ends the connection after this answer. */
		epoll_ctl(al_ep, EPOLL_CTL_DEL, a->fd, NULL);
		close(a->fd);
		a->fd = -1;
		n.reconnects++;
	}
	al_answer(a, status, a->in + hdrlen);
}

/* Whatever epoll reported, the state says what to try. */
static void
al_event(struct al_agent *a)
{
	int err = 0;
	socklen_t len = sizeof(err);

	switch (a->state) {
	case AL_CONNECTING:
		if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
		    err != 0) {
			al_fail(a);
			return;
		}
		al_send(a);
		break;
	case AL_SENDING:
		al_send(a);
		break;
	case AL_RECEIVING:
		al_receive(a);
		break;
	default:
		break;
	}
}

/*
 * Keeps --parallel agents setting up: first registering, then, once every
 * agent is registered, connecting (hello, first poll) one by one.
 */
static void
al_start_more(void)
{
	struct al_agent *a;

	while (!al_phase_connect && n.started < o.agents &&
	    n.setup < o.parallel) {
		a = &agents[n.started++];
		n.setup++;
		a->req = AL_REGISTER;
		al_connect(a);
	}
	if (!al_phase_connect && n.registered + n.dead_setup >= o.agents)
		al_phase_connect = 1;
	while (al_phase_connect && al_next < o.agents &&
	    n.setup < o.parallel) {
		a = &agents[al_next++];
		if (a->state != AL_WAITING)
			continue;
		n.setup++;
		a->req = AL_HELLO;
		al_connect(a);
	}
}

/* Back-offs that are over, and requests past their deadline. */
static void
al_timers(void)
{
	int64_t now = al_now_ms();
	long i;

	for (i = 0; i < n.started; i++) {
		struct al_agent *a = &agents[i];

		if (a->state == AL_BACKOFF && a->deadline_ms <= now) {
			n.reconnects++;
			al_connect(a);
		} else if ((a->state == AL_CONNECTING ||
		    a->state == AL_SENDING || a->state == AL_RECEIVING) &&
		    a->deadline_ms <= now) {
			fprintf(stderr, "agent_load: agent %ld: request %d "
			    "timed out\n", i, (int)a->req);
			al_fail(a);
		}
	}
}

static void
al_stats(const char *what)
{
	long i, open_polls = 0;

	for (i = 0; i < n.started; i++)
		if (agents[i].req == AL_POLL &&
		    agents[i].state == AL_RECEIVING)
			open_polls++;
	printf("agent_load: %s agents=%ld ready=%ld dead=%ld "
	    "open_polls=%ld registered=%ld register_ms=%lld polls=%ld "
	    "tasks=%ld results=%ld reconnects=%ld closed_by_server=%ld "
	    "errors=%ld\n", what, o.agents, n.ready, n.dead, open_polls,
	    n.registered, (long long)(al_registered_ms ? al_registered_ms -
	    al_t0_ms : -1), n.polls, n.tasks, n.results, n.reconnects,
	    n.closed_by_server, n.errors);
	fflush(stdout);
}

/*
 * At --ready-timeout: agents that have not sent their first poll are
 * given up and no more are started, so that what the server holds from
 * then on is exactly the agents that got connected.
 */
static void
al_give_up(void)
{
	long i;

	for (i = 0; i < o.agents; i++) {
		struct al_agent *a = &agents[i];

		if (a->ready || a->state == AL_DEAD)
			continue;
		al_close(a);
		a->state = AL_DEAD;
		n.dead++;
		n.dead_setup++;
	}
	n.setup = 0;
	n.started = al_next = o.agents;
	al_phase_connect = 1;
	al_ready_ms = al_now_ms();	/* said by the "not-ready" line */
}

static void
al_loop(void)
{
	struct epoll_event ev[AL_EVENTS];
	int64_t end = al_t0_ms + o.duration * 1000, last_scan = 0, now;
	int nev, i, said_ready = 0;

	while (!al_quit && (now = al_now_ms()) < end) {
		al_start_more();
		nev = epoll_wait(al_ep, ev, AL_EVENTS, AL_SCAN_MS);
		if (nev < 0 && errno != EINTR)
			al_die("epoll_wait");
		for (i = 0; i < nev; i++)
			al_event(&agents[ev[i].data.u32]);
		if (al_events_dirty) {
			fflush(al_events);
			al_events_dirty = 0;
		}
		if ((now = al_now_ms()) - last_scan >= AL_SCAN_MS) {
			al_timers();
			last_scan = now;
		}
		al_ready_check();
		if (al_ready_ms != 0 && !said_ready) {
			al_write_ids();
			said_ready = 1;
		}
		if (!said_ready && o.ready_timeout > 0 &&
		    now - al_t0_ms > o.ready_timeout * 1000) {
			al_give_up();
			al_stats("not-ready");
			al_write_ids();
			said_ready = 1;
		}
		if (n.refused == o.agents)
			al_die("the activation was refused for every agent");
		if (al_dump) {
			al_dump = 0;
			al_stats("stats");
		}
	}
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	long i;

	al_options(argc, argv);
	al_rlimit();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = al_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((agents = calloc((size_t)o.agents, sizeof(*agents))) == NULL)
		al_die("out of memory");
	for (i = 0; i < o.agents; i++)
		agents[i].fd = -1;
	if ((al_ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		al_die("epoll_create1");
	if (o.events != NULL && (al_events = fopen(o.events, "w")) == NULL)
		al_die("cannot open --events file");
	al_t0_ms = al_now_ms();
	al_loop();
	al_stats("done");
	for (i = 0; i < o.agents; i++) {
		al_close(&agents[i]);
		free(agents[i].in);
		free(agents[i].tasks);
	}
	if (al_events != NULL)
		fclose(al_events);
	close(al_ep);
	free(agents);
	return 0;
}
