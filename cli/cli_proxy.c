/*
 * The session tunnel from the user's side (docs/sessions.md):
 *
 *	latchkey proxy INSTANCE [PORT]		stdin/stdout ⇄ INSTANCE:PORT, for
 *						ssh's ProxyCommand
 *	latchkey forward INSTANCE REMOTE LOCAL	a local listening port, one
 *						session per connection
 *	latchkey sessions [INSTANCE]		DescribeTerminalSessions
 *
 * Each connection is StartTerminalSession, then a WebSocket to the
 * WebSocketUrl it returns (lib/ws.c), then lk_tunnel_run() (lib/tunnel.c),
 * which resumes the session through ResumeTerminalSession when its
 * connection is lost (docs/sessions.md, "Resume").
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "util.h"
#include "tunnel.h"
#include "ws.h"

/* An instance id as StartTerminalSession takes it, without a lookup. */
static int
proxy_is_id(const char *s)
{
	return strncmp(s, "i-", 2) == 0 && strlen(s) > 2 && strlen(s) < 64 &&
	    strspn(s + 2, "0123456789abcdefghijklmnopqrstuvwxyz") ==
	    strlen(s) - 2;
}

/* INSTANCE (an id, a name or an address) as an instance id in idp. */
int
cli_inst_id(struct cli *c, const char *what, char **idp)
{
	struct cli_inst inst;
	int r;

	if (proxy_is_id(what))
		return (*idp = strdup(what)) ? 0 : CLI_EX_LOCAL;
	memset(&inst, 0, sizeof(inst));
	if ((r = cli_inst_resolve(c, what, &inst)) != 0)
		return r;
	*idp = inst.id;
	inst.id = NULL;
	cli_inst_free(&inst);
	return 0;
}

/* The header a client sends to ask for a session that resumes. */
static const char *const proxy_resume_hdr[] = { "Latchkey-Resume: 1", NULL };

/* Dials a session's WebSocketUrl, asking for resume when opt says so. */
static int
proxy_dial(struct cli *c, const struct cli_tun *t, const char *url,
    struct lk_ws **wsp, char *err, size_t errsize)
{
	struct lk_ws_opts o;

	memset(&o, 0, sizeof(o));
	o.cacert = c->prof.cacert;
	o.timeout_ms = 15000;
	o.headers = t->resume_wait > 0 ? proxy_resume_hdr : NULL;
	return lk_ws_dial(url, &o, wsp, err, errsize);
}

/* Starts a session to id:port and opens its WebSocket. */
int
cli_tunnel_open(struct cli *c, const char *id, int port, struct cli_tun *t,
    struct lk_ws **wsp)
{
	struct cli_req q;
	json_t *resp = NULL;
	const char *url;
	char err[512], val[8];
	int r;

	snprintf(t->iid, sizeof(t->iid), "%s", id);
	cli_req_init(&q);
	cli_req_add(&q, "InstanceId.1", id);
	if (t->shell == NULL)
		cli_req_addf(&q, "PortNumber", "%d", port);
	else {
		/* A shell session: a Username and no PortNumber. */
		cli_req_add(&q, "Username", t->shell->user);
		if (t->shell->command != NULL)
			cli_req_add(&q, "CommandLine", t->shell->command);
		cli_req_add(&q, "Tty", t->shell->tty ? "true" : "false");
		cli_req_addf(&q, "Cols", "%d", t->shell->cols);
		cli_req_addf(&q, "Rows", "%d", t->shell->rows);
	}
	r = cli_api_do(c, "StartTerminalSession", &q, &resp);
	cli_req_free(&q);
	if (r != 0)
		return r;
	if ((url = cli_jstr(resp, "WebSocketUrl")) == NULL) {
		cli_warn("StartTerminalSession answered without a "
		    "WebSocketUrl");
		json_decref(resp);
		return CLI_EX_API;
	}
	snprintf(t->sid, sizeof(t->sid), "%s", cli_jstr(resp, "SessionId") ?
	    cli_jstr(resp, "SessionId") : "");
	if (t->shell != NULL)
		cli_info(c, "session %s: a shell on %s as %s", t->sid, id,
		    t->shell->user);
	else
		cli_info(c, "session %s to %s port %d", t->sid, id, port);
	if ((r = proxy_dial(c, t, url, wsp, err, sizeof(err))) != 0) {
		cli_warn("session %s: %s", t->sid, err);
		json_decref(resp);
		return r == LK_ERR_NOT_FOUND ? CLI_EX_API : CLI_EX_NET;
	}
	json_decref(resp);
	/* Resumes only when latchkeyd and the agent both do. */
	t->resumable = t->resume_wait > 0 && lk_ws_resp_header(*wsp,
	    "Latchkey-Resume", val, sizeof(val)) != NULL &&
	    strcmp(val, "1") == 0;
	cli_info(c, "session %s %s", t->sid, t->resumable ? "resumes if its "
	    "connection is lost" : "does not resume");
	return 0;
}

struct proxy_redial {
	struct cli		*c;
	struct cli_tun		*t;
};

/*
 * The tunnel lost its connection: a new WebSocketUrl for the same session
 * (ResumeTerminalSession), then the dial. No answer, a 5xx or a refused
 * dial may mend (latchkeyd restarting): LK_ERR_UNAVAILABLE, and the
 * tunnel calls again; a refusal (the session ended, expired, or is not
 * ours) ends the session with the server's words.
 */
static int
proxy_redial(void *arg, long long deadline_ms, int stop_fd, struct lk_ws **wsp,
    char *err, size_t errsize)
{
	struct proxy_redial *x = arg;
	struct cli_apierr e;
	struct cli_req q;
	json_t *resp = NULL;
	const char *url;
	char derr[512];
	int r;

	(void)deadline_ms;
	(void)stop_fd;
	cli_req_init(&q);
	cli_req_add(&q, "SessionId", x->t->sid);
	memset(&e, 0, sizeof(e));
	r = cli_api_call(x->c, "ResumeTerminalSession", &q, &resp, &e);
	cli_req_free(&q);
	/* A fresh connection each time: the old one may lead nowhere. */
	cli_api_cleanup(x->c);
	if (r != 0) {
		cli_safe(derr, sizeof(derr), e.message);
		snprintf(err, errsize, "ResumeTerminalSession: %s%s%s",
		    e.code[0] ? e.code : "no answer", derr[0] ? ": " : "",
		    derr);
		return e.http == 0 || e.http >= 500 ? LK_ERR_UNAVAILABLE :
		    LK_ERR_STATE;
	}
	if ((url = cli_jstr(resp, "WebSocketUrl")) == NULL) {
		snprintf(err, errsize, "%s", "ResumeTerminalSession answered "
		    "without a WebSocketUrl");
		json_decref(resp);
		return LK_ERR_STATE;
	}
	r = proxy_dial(x->c, x->t, url, wsp, derr, sizeof(derr));
	json_decref(resp);
	if (r != 0) {
		snprintf(err, errsize, "%s", derr);
		return LK_ERR_UNAVAILABLE;
	}
	return 0;
}

static void
proxy_event(void *arg, const char *what, const char *detail)
{
	struct proxy_redial *x = arg;
	char d[200];

	cli_safe(d, sizeof(d), detail ? detail : "");
	cli_info(x->c, "session %s %s%s%s", x->t->sid, what, *d ? ": " : "",
	    d);
}

static int
proxy_shell_ctl(void *arg, const struct lk_stream_ctl *c)
{
	struct proxy_redial *x = arg;

	return cli_session_on_ctl(x->t->shell, c);
}

static int
proxy_shell_next(void *arg, struct lk_stream_ctl *c)
{
	struct proxy_redial *x = arg;

	return cli_session_next_ctl(x->t->shell, c);
}

/*
 * Runs the opened session's tunnel between in_fd and out_fd until it
 * ends; says how it ended and returns the exit status. SIGINT, SIGTERM and
 * SIGHUP (ssh sends SIGHUP to its ProxyCommand when it is done) make
 * cli_stop_fd() readable, which closes with 1001. A shell session also
 * carries its window size and the remote exit status (t->shell), and ends
 * once the agent's side has (its eof ends our input).
 */
int
cli_tunnel_run(struct cli *c, struct cli_tun *t, struct lk_ws *ws, int in_fd,
    int out_fd)
{
	struct proxy_redial x = { c, t };
	struct lk_tunnel_conf conf;
	struct lk_tunnel_end end;
	char reason[160];

	memset(&conf, 0, sizeof(conf));
	conf.resumable = t->resumable;
	conf.keepalive_ms = t->keepalive * 1000L;
	conf.resume_wait_ms = t->resume_wait * 1000L;
	conf.stop_fd = cli_stop_fd();
	conf.kick_fd = -1;
	if (t->shell != NULL) {
		conf.on_ctl = proxy_shell_ctl;
		conf.next_ctl = proxy_shell_next;
		conf.ctl_fd = t->shell->winch_fd;
		conf.end_on_peer_eof = 1;
	}
	(void)lk_tunnel_run(ws, in_fd, out_fd, &conf, t->resumable ?
	    proxy_redial : NULL, &x, proxy_event, &end);
	cli_info(c, "session %s: %llu bytes sent, %llu received, %u "
	    "resumes", t->sid, (unsigned long long)end.bytes_in,
	    (unsigned long long)end.bytes_out, end.resumes);
	if (end.code == LK_WS_NORMAL)
		return CLI_EX_OK;
	if (end.code == LK_WS_GOING_AWAY && !end.by_peer)
		return CLI_EX_OK;	/* we were told to stop, and did */
	cli_safe(reason, sizeof(reason), end.reason);
	/* latchkeyd's reason is often the code's own name: said once. */
	if (strcmp(reason, lk_ws_code_name(end.code)) == 0)
		reason[0] = '\0';
	cli_warn("session %s ended: %s (%d)%s%s", t->sid,
	    lk_ws_code_name(end.code), end.code, *reason ? ": " : "",
	    reason);
	if (end.code == LK_WS_AGENT_LOST || end.code == LK_WS_NO_AGENT ||
	    end.code == LK_WS_RESUME_GONE)
		cli_warn("is latchkey-agent running on %s, and can it reach "
		    "latchkeyd? \"latchkey instances\" shows whether it is "
		    "online", *t->iid ? t->iid : "the instance");
	return CLI_EX_FAIL;
}

/* --resume-wait and --keepalive of proxy and forward; 1 if ch was one. */
int
cli_tun_opt(int ch, const char *arg, struct cli_tun *t, int *rp)
{
	long long v;

	if (ch == CLI_OPT_RESUME_WAIT) {
		if (lk_parse_ll(arg, 0, 3600, &v) != 0) {
			cli_warn("--resume-wait: 0 (never) to 3600 seconds, not "
			    "\"%s\"", arg);
			*rp = CLI_EX_USAGE;
			return -1;
		}
		t->resume_wait = (int)v;
		return 1;
	}
	if (ch == CLI_OPT_KEEPALIVE) {
		if (lk_parse_ll(arg, 1, 3600, &v) != 0) {
			cli_warn("--keepalive: 1 to 3600 seconds, not \"%s\"",
			    arg);
			*rp = CLI_EX_USAGE;
			return -1;
		}
		t->keepalive = (int)v;
		return 1;
	}
	return 0;
}

void
cli_tun_defaults(struct cli_tun *t)
{
	memset(t, 0, sizeof(*t));
	t->resume_wait = LK_TUNNEL_RESUME_WAIT_DEFAULT;
	t->keepalive = LK_TUNNEL_KEEPALIVE_DEFAULT;
}

static int
proxy_port(const char *s, const char *what, int *portp)
{
	long long v;

	if (lk_parse_ll(s, 1, 65535, &v) != 0) {
		cli_warn("%s: a port number from 1 to 65535, not \"%s\"", what,
		    s);
		return CLI_EX_USAGE;
	}
	*portp = (int)v;
	return 0;
}

int
cli_proxy_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		CLI_TUNNEL_OPTIONS,
		{ NULL, 0, NULL, 0 }
	};
	struct lk_ws *ws = NULL;
	struct cli_tun t;
	char *id = NULL;
	int ch, k, r, port = 22;

	cli_tun_defaults(&t);
	optind = 0;
	while ((ch = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		if ((k = cli_common_opt(c, "proxy", ch, &r)) < 0)
			return r;
		if (k == 0 && cli_tun_opt(ch, optarg, &t, &r) < 0)
			return r;
	}
	if (argc - optind < 1 || argc - optind > 2) {
		cli_usage_of("proxy", 1);
		return CLI_EX_USAGE;
	}
	if (argc - optind == 2 &&
	    (r = proxy_port(argv[optind + 1], "PORT", &port)) != 0)
		return r;
	if ((r = cli_config_load(c)) != 0 ||
	    (r = cli_inst_id(c, argv[optind], &id)) != 0 ||
	    (r = cli_tunnel_open(c, id, port, &t, &ws)) != 0)
		goto out;
	cli_api_cleanup(c);
	r = cli_tunnel_run(c, &t, ws, STDIN_FILENO, STDOUT_FILENO);
	ws = NULL;	/* the tunnel's */
 out:
	lk_ws_free(ws);
	free(id);
	return r;
}

/* One forwarded connection, in a child process. */
static int
forward_one(struct cli *c, const char *id, int port, struct cli_tun *t,
    int fd)
{
	struct lk_ws *ws = NULL;
	int r, one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((r = cli_tunnel_open(c, id, port, t, &ws)) != 0)
		return r;
	return cli_tunnel_run(c, t, ws, fd, fd);
}

static int
forward_listen(const char *bind_addr, int port, int *fdp, int *portp)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ps[8];
	int fd = -1, one = 1, e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(ps, sizeof(ps), "%d", port);
	if ((e = getaddrinfo(bind_addr, ps, &hints, &ai)) != 0) {
		cli_warn("--bind %s: %s", bind_addr, gai_strerror(e));
		return CLI_EX_USAGE;
	}
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		cli_warn("cannot listen on %s port %d: %s", bind_addr, port,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return CLI_EX_LOCAL;
	}
	freeaddrinfo(ai);
	*portp = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	*fdp = fd;
	return 0;
}

int
cli_forward_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		CLI_TUNNEL_OPTIONS,
		{ "bind", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 }
	};
	const char *bind_addr = "127.0.0.1";
	struct cli_tun t;
	struct pollfd p;
	char *id = NULL;
	int ch, k, r, remote, local, lfd = -1, fd;
	long long lv;
	pid_t pid;

	cli_tun_defaults(&t);
	optind = 0;
	while ((ch = getopt_long(argc, argv, "+vhb:", opts, NULL)) != -1) {
		if ((k = cli_common_opt(c, "forward", ch, &r)) < 0)
			return r;
		if (k == 0 && ch == 'b')
			bind_addr = optarg;
		else if (k == 0 && cli_tun_opt(ch, optarg, &t, &r) < 0)
			return r;
	}
	if (argc - optind != 3) {
		cli_usage_of("forward", 1);
		return CLI_EX_USAGE;
	}
	if ((r = proxy_port(argv[optind + 1], "REMOTE_PORT", &remote)) != 0)
		return r;
	if (lk_parse_ll(argv[optind + 2], 0, 65535, &lv) != 0) {
		cli_warn("LOCAL_PORT: 0 (any free port) to 65535, not \"%s\"",
		    argv[optind + 2]);
		return CLI_EX_USAGE;
	}
	if ((r = cli_config_load(c)) != 0 ||
	    (r = cli_inst_id(c, argv[optind], &id)) != 0 ||
	    (r = forward_listen(bind_addr, (int)lv, &lfd, &local)) != 0)
		goto out;
	/* The line scripts wait for: the port is open from here on. */
	fprintf(stderr, "latchkey: forwarding %s port %d to %s port %d; "
	    "interrupt to stop\n", bind_addr, local, id, remote);
	while (!cli_interrupted) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		p = (struct pollfd){ .fd = lfd, .events = POLLIN };
		if (poll(&p, 1, 1000) <= 0)
			continue;
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		if ((pid = fork()) < 0) {
			cli_warn("fork: %s", strerror(errno));
			close(fd);
			continue;
		}
		if (pid == 0) {
			close(lfd);
			_exit(forward_one(c, id, remote, &t, fd));
		}
		close(fd);
	}
	r = CLI_EX_OK;
 out:
	if (lfd >= 0)
		close(lfd);
	free(id);
	return r;
}

static void
sessions_print(json_t *list)
{
	json_t *s, *conn;
	size_t i;
	char buf[6][96];

	printf("%-24s %-24s %5s %-10s %-20s %12s %12s  %s\n", "SESSION",
	    "INSTANCE", "PORT", "STATUS", "CREATED", "FROM_CLIENT",
	    "TO_CLIENT", "REASON");
	json_array_foreach(list, i, s) {
		conn = json_array_get(cli_jlist(s, "Connections",
		    "Connection"), 0);
		cli_safe(buf[0], sizeof(buf[0]), cli_jstr(s, "SessionId"));
		cli_safe(buf[1], sizeof(buf[1]), cli_jstr(conn, "InstanceId"));
		cli_safe(buf[2], sizeof(buf[2]), cli_jstr(conn, "Status"));
		cli_safe(buf[3], sizeof(buf[3]), cli_jstr(s, "CreationTime"));
		cli_safe(buf[4], sizeof(buf[4]), cli_jstr(conn, "ClosedReason"));
		cli_safe(buf[5], sizeof(buf[5]), cli_jstr(conn, "FailedDetail"));
		printf("%-24s %-24s %5lld %-10s %-20s %12lld %12lld  %s\n",
		    buf[0], buf[1], (long long)cli_jint(s, "PortNumber", 0),
		    buf[2], buf[3], (long long)cli_jint(s, "BytesFromClient",
		    0), (long long)cli_jint(s, "BytesToClient", 0),
		    *buf[4] ? buf[4] : buf[5]);
	}
}

/*
 * The asciicast text of a recording to stdout as it came (asciinema play
 * takes it), or the whole answer with --output json; a truncated one is
 * said on stderr.
 */
static int
sessions_recording(struct cli *c, json_t *resp)
{
	json_t *v = json_object_get(resp, "Recording");

	if (c->output == CLI_OUT_JSON) {
		cli_json_print(resp);
		return 0;
	}
	if (!json_is_string(v)) {
		cli_warn("the answer has no Recording");
		return CLI_EX_API;
	}
	if (fwrite(json_string_value(v), 1, json_string_length(v), stdout) !=
	    json_string_length(v) || fflush(stdout) != 0) {
		cli_warn("cannot write the recording: %s", strerror(errno));
		return CLI_EX_LOCAL;
	}
	if (json_is_true(json_object_get(resp, "Truncated")))
		cli_warn("the recording is truncated (it reached the agent's "
		    "--record-max)");
	return 0;
}

int
cli_sessions_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "max", required_argument, NULL, 'm' },
		{ "end", required_argument, NULL, 'e' },
		{ "recording", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_req q;
	json_t *resp = NULL, *list;
	const char *end = NULL, *rec = NULL;
	char *id = NULL;
	long long max = 20;
	int ch, k, r;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "vhm:e:R:", opts, NULL)) != -1) {
		if ((k = cli_common_opt(c, "sessions", ch, &r)) < 0)
			return r;
		if (k > 0)
			continue;
		if (ch == 'e')
			end = optarg;
		else if (ch == 'R')
			rec = optarg;
		else if (ch == 'm' && lk_parse_ll(optarg, 1, 100, &max) != 0) {
			cli_warn("--max: 1 to 100");
			return CLI_EX_USAGE;
		}
	}
	if (argc - optind > 1 || ((end != NULL || rec != NULL) &&
	    argc - optind != 0) || (end != NULL && rec != NULL)) {
		cli_usage_of("sessions", 1);
		return CLI_EX_USAGE;
	}
	if ((r = cli_config_load(c)) != 0)
		return r;
	cli_req_init(&q);
	if (end != NULL) {
		cli_req_add(&q, "SessionId", end);
		r = cli_api_do(c, "EndTerminalSession", &q, &resp);
		cli_req_free(&q);
		json_decref(resp);
		return r;
	}
	if (rec != NULL) {
		cli_req_add(&q, "SessionId", rec);
		r = cli_api_do(c, "DescribeTerminalSessionRecording", &q,
		    &resp);
		cli_req_free(&q);
		if (r == 0)
			r = sessions_recording(c, resp);
		json_decref(resp);
		return r;
	}
	if (argc - optind == 1) {
		if ((r = cli_inst_id(c, argv[optind], &id)) != 0) {
			cli_req_free(&q);
			return r;
		}
		cli_req_add(&q, "InstanceId", id);
	}
	cli_req_addf(&q, "MaxResults", "%lld", max);
	r = cli_api_do(c, "DescribeTerminalSessions", &q, &resp);
	cli_req_free(&q);
	free(id);
	if (r != 0)
		return r;
	list = cli_jlist(resp, "Sessions", "Session");
	if (c->output == CLI_OUT_JSON)
		cli_json_print(resp);
	else
		sessions_print(list);
	json_decref(resp);
	return 0;
}
