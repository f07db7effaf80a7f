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
 * WebSocketUrl it returns (lib/ws.c), then lk_ws_bridge().
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
static int
proxy_instance(struct cli *c, const char *what, char **idp)
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

/* Starts a session to id:port and opens its WebSocket. */
int
cli_tunnel_open(struct cli *c, const char *id, int port, struct lk_ws **wsp,
    char *sid, size_t sidsize)
{
	struct cli_req q;
	struct lk_ws_opts o;
	json_t *resp = NULL;
	const char *url;
	char err[512];
	int r;

	cli_req_init(&q);
	cli_req_add(&q, "InstanceId.1", id);
	cli_req_addf(&q, "PortNumber", "%d", port);
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
	snprintf(sid, sidsize, "%s", cli_jstr(resp, "SessionId") ?
	    cli_jstr(resp, "SessionId") : "");
	memset(&o, 0, sizeof(o));
	o.cacert = c->prof.cacert;
	o.timeout_ms = 15000;
	cli_info(c, "session %s to %s port %d", sid, id, port);
	if ((r = lk_ws_dial(url, &o, wsp, err, sizeof(err))) != 0) {
		cli_warn("session %s: %s", sid, err);
		json_decref(resp);
		return r == LK_ERR_NOT_FOUND ? CLI_EX_API : CLI_EX_NET;
	}
	json_decref(resp);
	return 0;
}

/*
 * Reports how a bridge ended; the exit status. SIGINT, SIGTERM and SIGHUP
 * (ssh sends SIGHUP to its ProxyCommand when it is done) make
 * cli_stop_fd() readable, the bridge's stop_fd, which closes with 1001.
 */
static int
proxy_end(const char *sid, const struct lk_ws_end *end)
{
	char reason[160];

	if (end->code == LK_WS_NORMAL)
		return CLI_EX_OK;
	if (end->code == LK_WS_GOING_AWAY && !end->by_peer)
		return CLI_EX_OK;	/* we were told to stop, and did */
	cli_safe(reason, sizeof(reason), end->reason);
	cli_warn("session %s ended: %s (%d)%s%s", sid,
	    lk_ws_code_name(end->code), end->code, *reason ? ": " : "",
	    reason);
	return CLI_EX_FAIL;
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
		{ NULL, 0, NULL, 0 }
	};
	struct lk_ws *ws = NULL;
	struct lk_ws_end end;
	char *id = NULL, sid[64];
	int ch, k, r, port = 22;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+vh", opts, NULL)) != -1)
		if ((k = cli_common_opt(c, "proxy", ch, &r)) < 0)
			return r;
	if (argc - optind < 1 || argc - optind > 2) {
		cli_usage_of("proxy", 1);
		return CLI_EX_USAGE;
	}
	if (argc - optind == 2 &&
	    (r = proxy_port(argv[optind + 1], "PORT", &port)) != 0)
		return r;
	if ((r = cli_config_load(c)) != 0 ||
	    (r = proxy_instance(c, argv[optind], &id)) != 0 ||
	    (r = cli_tunnel_open(c, id, port, &ws, sid, sizeof(sid))) != 0)
		goto out;
	cli_api_cleanup(c);
	(void)lk_ws_bridge(ws, STDIN_FILENO, STDOUT_FILENO, cli_stop_fd(),
	    &end);
	cli_info(c, "session %s: %llu bytes sent, %llu received", sid,
	    (unsigned long long)end.bytes_in,
	    (unsigned long long)end.bytes_out);
	r = proxy_end(sid, &end);
 out:
	lk_ws_free(ws);
	free(id);
	return r;
}

/* One forwarded connection, in a child process. */
static int
forward_one(struct cli *c, const char *id, int port, int fd)
{
	struct lk_ws *ws = NULL;
	struct lk_ws_end end;
	char sid[64];
	int r, one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((r = cli_tunnel_open(c, id, port, &ws, sid, sizeof(sid))) != 0)
		return r;
	(void)lk_ws_bridge(ws, fd, fd, cli_stop_fd(), &end);
	cli_info(c, "session %s: %llu bytes sent, %llu received", sid,
	    (unsigned long long)end.bytes_in,
	    (unsigned long long)end.bytes_out);
	r = proxy_end(sid, &end);
	lk_ws_free(ws);
	return r;
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
		{ "bind", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 }
	};
	const char *bind_addr = "127.0.0.1";
	struct pollfd p;
	char *id = NULL;
	int ch, k, r, remote, local, lfd = -1, fd;
	long long lv;
	pid_t pid;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+vhb:", opts, NULL)) != -1) {
		if ((k = cli_common_opt(c, "forward", ch, &r)) < 0)
			return r;
		if (k == 0 && ch == 'b')
			bind_addr = optarg;
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
	    (r = proxy_instance(c, argv[optind], &id)) != 0 ||
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
			_exit(forward_one(c, id, remote, fd));
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

int
cli_sessions_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "max", required_argument, NULL, 'm' },
		{ "end", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_req q;
	json_t *resp = NULL, *list;
	const char *end = NULL;
	char *id = NULL;
	long long max = 20;
	int ch, k, r;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "vhm:e:", opts, NULL)) != -1) {
		if ((k = cli_common_opt(c, "sessions", ch, &r)) < 0)
			return r;
		if (k > 0)
			continue;
		if (ch == 'e')
			end = optarg;
		else if (ch == 'm' && lk_parse_ll(optarg, 1, 100, &max) != 0) {
			cli_warn("--max: 1 to 100");
			return CLI_EX_USAGE;
		}
	}
	if (argc - optind > 1 || (end != NULL && argc - optind != 0)) {
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
	if (argc - optind == 1) {
		if ((r = proxy_instance(c, argv[optind], &id)) != 0) {
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
