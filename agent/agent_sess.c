/*
 * Sessions (docs/sessions.md): a poll's "sessions" entries ask this agent
 * to connect to 127.0.0.1:<port> and dial latchkeyd back at
 * /agent/v1/session/<id> with its credential; lk_tunnel_run() then moves
 * the bytes until either end closes. One detached thread per session. A
 * resumable session (the entry has an "epoch") survives the loss of its
 * WebSocket: the agent keeps the port's connection and waits up to the
 * entry's "resume_wait" for the client to resume, which comes as another
 * entry for the same session with a higher epoch (docs/sessions.md).
 * With several latchkeyd replicas the entry's "url" names the replica that
 * holds the client (sess_url_ok says which URLs are followed); without one
 * the agent dials its server URL.
 *
 * Only the ports of --session-ports (default 22) are reached; any other
 * request is answered with a close frame LK_WS_PORT_REFUSED, as is a port
 * nothing listens on, so the client sees why.
 *
 * A shell session (an entry with "kind":"shell") runs a user's login shell
 * or a command (agent_shell.c) where a port session has its TCP socket;
 * only the users of --shell-users (default none) are run, anything else is
 * answered with LK_WS_SHELL_REFUSED and starts no process. Its tunnel
 * carries the shell's control messages (lib/stream.h): winch and signal
 * from the client, exit to it before the agent's eof.
 */
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "agent.h"
#include "agent_shell.h"
#include "err.h"
#include "util.h"
#include "tunnel.h"
#include "ws.h"

#define SESS_PORTS_MAX	64
#define SESS_ID_MAX	47
#define SESS_USER_MAX	32	/* a user name's length */
#define SESS_USERS_MAX	64	/* --shell-users */
#define SESS_CMD_MAX	512	/* a shell session's command */
#define SESS_STACK	(256 * 1024)	/* a session thread's stack */
#define SESS_STACK_MARGIN (8 * 1024)	/* kept below sess_main's frame */

static int sess_ports[SESS_PORTS_MAX] = { 22 };
static size_t sess_nports = 1;
static struct agent_state sess_st;
static int sess_stopfd = -1;
static pthread_mutex_t sess_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sess_cond;
static int sess_active;
static char sess_users[SESS_USERS_MAX][SESS_USER_MAX + 1];
static size_t sess_nusers;	/* 0: shell sessions are off */

/* A portable user name (POSIX, and what useradd takes): 1..32 chars. */
static int
sess_user_valid(const char *u)
{
	size_t n = strlen(u);

	return n >= 1 && n <= SESS_USER_MAX && u[0] != '-' &&
	    strspn(u, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == n;
}

int
agent_sess_shell_users(const char *list)
{
	char buf[SESS_USERS_MAX * (SESS_USER_MAX + 1)], *p, *tok, *save = NULL;
	size_t n = 0;

	if (strcmp(list, "none") == 0) {
		sess_nusers = 0;
		return 0;
	}
	if (strlen(list) >= sizeof(buf))
		return LK_ERR_TOO_LONG;
	snprintf(buf, sizeof(buf), "%s", list);
	for (p = buf; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
		if (n == SESS_USERS_MAX || !sess_user_valid(tok))
			return LK_ERR_INVALID_FORMAT;
		snprintf(sess_users[n++], sizeof(sess_users[0]), "%s", tok);
	}
	if (n == 0)
		return LK_ERR_INVALID_FORMAT;
	sess_nusers = n;
	return 0;
}

static int
sess_user_allowed(const char *u)
{
	size_t i;

	for (i = 0; i < sess_nusers; i++)
		if (strcmp(sess_users[i], u) == 0)
			return 1;
	return 0;
}

/* Is the host of http(s) URL u (after "://") a loopback or "any" address? */
static int
sess_host_local(const char *u)
{
	const char *h = strstr(u, "://");
	size_t n;

	if (h == NULL)
		return 0;
	h += 3;
	n = h[0] == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/");
	return (n == 9 && strncasecmp(h, "localhost", 9) == 0) ||
	    strncmp(h, "127.", 4) == 0 || (n == 7 &&
	    strncmp(h, "0.0.0.0", 7) == 0) || (n == 5 &&
	    strncmp(h, "[::1]", 5) == 0) || (n == 4 &&
	    strncmp(h, "[::]", 4) == 0);
}

/*
 * Whether the agent follows url, a poll's "url" for session id, with its
 * credential. The URL came in the answer to the agent's own authenticated
 * poll (over TLS verified with its --cacert when the server URL is
 * https), so it is the control plane's word, which the agent already
 * trusts with the commands it runs; these checks keep a mistake (a
 * replica's --advertise-url left at a loopback or wildcard address, or
 * http behind an https server) from sending the credential anywhere else:
 * only http(s), https when the server is, no user, query or fragment,
 * a path ending in /agent/v1/session/<id>, and a loopback or wildcard
 * host only for an agent whose own server is on loopback.
 */
static int
sess_url_ok(const char *url, const char *id, const char *server)
{
	char tail[SESS_ID_MAX + 32];
	size_t n = strlen(url), i, hl, tl;
	int https = strncmp(url, "https://", 8) == 0;

	if (n == 0 || n >= AGENT_URL_MAX + SESS_ID_MAX + 32)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 ||
		    (unsigned char)url[i] >= 0x7f)
			return 0;
	if (!https && strncmp(url, "http://", 7) != 0)
		return 0;
	if (!https && strncmp(server, "https://", 8) == 0)
		return 0;
	if (strpbrk(url, "?#@") != NULL)
		return 0;
	/* A host, then the replica's path (if any) and the session's. */
	hl = strcspn(url + (https ? 8 : 7), "/");
	tl = (size_t)snprintf(tail, sizeof(tail), "/agent/v1/session/%s", id);
	if (hl == 0 || n < (https ? 8 : 7) + hl + tl ||
	    strcmp(url + n - tl, tail) != 0)
		return 0;
	if (sess_host_local(url) && !sess_host_local(server))
		return 0;
	return 1;
}

int
agent_sess_config(const char *list)
{
	char buf[512], *p, *tok, *save = NULL;
	long long v;
	size_t n = 0;
	int ports[SESS_PORTS_MAX];

	if (strcmp(list, "none") == 0) {
		sess_nports = 0;
		return 0;
	}
	if (strlen(list) >= sizeof(buf))
		return LK_ERR_TOO_LONG;
	snprintf(buf, sizeof(buf), "%s", list);
	for (p = buf; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
		if (n == SESS_PORTS_MAX || lk_parse_ll(tok, 1, 65535, &v) != 0)
			return LK_ERR_INVALID_FORMAT;
		ports[n++] = (int)v;
	}
	if (n == 0)
		return LK_ERR_INVALID_FORMAT;
	memcpy(sess_ports, ports, n * sizeof(ports[0]));
	sess_nports = n;
	return 0;
}

json_t *
agent_sess_ports_json(void)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < sess_nports; i++)
		json_array_append_new(a, json_integer(sess_ports[i]));
	return a;
}

static int
sess_allowed(int port)
{
	size_t i;

	for (i = 0; i < sess_nports; i++)
		if (sess_ports[i] == port)
			return 1;
	return 0;
}

/* A connected, non-blocking TCP socket to 127.0.0.1:port, or -1. */
static int
sess_connect(int port, char *why, size_t size)
{
	struct sockaddr_in sin;
	int fd, one = 1, fl;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		snprintf(why, size, "connect 127.0.0.1:%d: %s", port,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((fl = fcntl(fd, F_GETFL)) >= 0)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	return fd;
}

/*
 * A resumable session this agent holds (docs/sessions.md, "Resume"): its
 * tunnel keeps the port's connection and the stream across WebSocket
 * connections. A newer hand-out of the session (a higher epoch: the
 * client resumed) leaves its URL here and kicks the tunnel, which drops
 * its connection, if it still has one, and dials the new URL
 * (sess_redial).
 */
struct sess_live {
	char			 id[SESS_ID_MAX + 1];
	int64_t			 epoch;		/* the connection's, or next */
	int			 kick;		/* eventfd */
	int			 have_next;	/* next_url waits to be dialled */
	char			 next_url[AGENT_URL_MAX + SESS_ID_MAX + 32];
	struct sess_live	*next;
};

static struct sess_live *sess_lives;	/* under sess_lock */

struct sess_job {
	char			 id[SESS_ID_MAX + 1];
	int			 port;
	char			 url[AGENT_URL_MAX + SESS_ID_MAX + 32];
	int			 resumable;
	int64_t			 epoch;
	long			 resume_wait;	/* seconds */
	long			 window;	/* bytes */
	struct sess_live	*live;		/* resumable: its entry */
	/* a shell session */
	int			 shell;
	char			 user[SESS_USER_MAX + 1];
	char			*command;	/* NULL: a login shell */
	int			 tty, cols, rows;
	struct agent_shell	 sh;
	struct agent_rec	*rec;		/* --record-shells: its recording */
};

/* The URL to dial for session id: the hand-out's, else the server's. */
static void
sess_dial_url(const char *given, const char *id, char *url, size_t size)
{
	if (given[0] != '\0')
		snprintf(url, size, "%s", given);
	else
		snprintf(url, size, "%s/agent/v1/session/%s", sess_st.server,
		    id);
}

static int
sess_dial(const char *url, struct lk_ws **wsp, char *err, size_t errsize)
{
	char auth[AGENT_ID_MAX + AGENT_CRED_MAX + 32];
	const char *hdrs[2];
	struct lk_ws_opts o;
	int r;

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s.%s",
	    sess_st.instance_id, sess_st.credential);
	hdrs[0] = auth;
	hdrs[1] = NULL;
	memset(&o, 0, sizeof(o));
	o.cacert = sess_st.cacert[0] ? sess_st.cacert : NULL;
	o.headers = hdrs;
	o.timeout_ms = 10000;
	r = lk_ws_dial(url, &o, wsp, err, errsize);
	explicit_bzero(auth, sizeof(auth));
	/* Our own hop: frames unmasked, sent from the replay ring. */
	if (r == 0)
		lk_ws_conn(*wsp)->zero_mask = 1;
	return r;
}

/*
 * The tunnel lost its connection (or was kicked): waits for the session's
 * next hand-out, until the deadline, then dials it. A dial that fails is
 * LK_ERR_UNAVAILABLE: the client may resume again, with a new hand-out.
 */
static int
sess_redial(void *arg, long long deadline_ms, int stop_fd, struct lk_ws **wsp,
    char *err, size_t errsize)
{
	struct sess_job *j = arg;
	struct sess_live *l = j->live;
	struct pollfd p[2];
	char url[sizeof(l->next_url)], vis[160];
	long long left;
	uint64_t n;
	int have;

	for (;;) {
		pthread_mutex_lock(&sess_lock);
		if ((have = l->have_next) != 0) {
			snprintf(url, sizeof(url), "%s", l->next_url);
			l->have_next = 0;
		}
		pthread_mutex_unlock(&sess_lock);
		if (have)
			break;
		if ((left = deadline_ms - lk_now_ms()) <= 0) {
			snprintf(err, errsize, "%s", "not resumed in time");
			return LK_ERR_UNAVAILABLE;
		}
		p[0] = (struct pollfd){ .fd = l->kick, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = stop_fd, .events = POLLIN };
		if (poll(p, stop_fd >= 0 ? 2 : 1, left > 1000 ? 1000 :
		    (int)left) > 0) {
			if (p[0].revents & POLLIN)
				lk_fd_drain(l->kick, &n, sizeof(n));
			if (stop_fd >= 0 && (p[1].revents & POLLIN))
				return LK_ERR_STATE;
		}
	}
	if (sess_dial(url, wsp, err, errsize) != 0) {
		agent_log(LOG_WARNING, "session", "resume-failed", "session=%s "
		    "error=\"%s\"", j->id, agent_vis(vis, sizeof(vis), err));
		return LK_ERR_UNAVAILABLE;
	}
	return 0;
}

static void
sess_event(void *arg, const char *what, const char *detail)
{
	struct sess_job *j = arg;
	char vis[160];

	agent_log(LOG_INFO, "session", what, "session=%s detail=\"%s\"", j->id,
	    agent_vis(vis, sizeof(vis), detail ? detail : ""));
}

static void
sess_live_drop(struct sess_live *l)
{
	struct sess_live **pp;

	if (l == NULL)
		return;
	pthread_mutex_lock(&sess_lock);
	for (pp = &sess_lives; *pp != NULL; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	pthread_mutex_unlock(&sess_lock);
	close(l->kick);
	free(l);
}

/*
 * Before a session settles into its tunnel, which may stay open for days:
 * gives back the pages of this thread's stack below the caller's frame
 * (less a margin; the dial, libcurl and name resolution, runs deep, the
 * tunnel's loop shallow; pages given back come again, zeroed, if the
 * stack ever grows there), and the heap's free pages (what the dials of
 * sessions opened at once took and freed).
 */
static void
sess_trim(void)
{
	pthread_attr_t a;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo, top;
	size_t size;
	void *addr;
	char here;

	if (pthread_getattr_np(pthread_self(), &a) != 0)
		return;
	if (pthread_attr_getstack(&a, &addr, &size) == 0) {
		lo = ((uintptr_t)addr + page) & ~(page - 1);
		top = ((uintptr_t)&here - SESS_STACK_MARGIN) & ~(page - 1);
		if (top > lo)
			(void)madvise((void *)lo, top - lo, MADV_DONTNEED);
	}
	pthread_attr_destroy(&a);
	(void)malloc_trim(0);
}

/* The client's winch and signal; an exit from it is refused. */
static int
sess_shell_ctl(void *arg, const struct lk_stream_ctl *c)
{
	struct sess_job *j = arg;

	if (c->type == LK_STREAM_WINCH) {
		if (j->tty)
			agent_rec_resize(j->rec, (int)c->n, (int)c->n2);
		return agent_shell_winch(&j->sh, (int)c->n, (int)c->n2);
	}
	if (c->type == LK_STREAM_SIGNAL)
		return agent_shell_signal(&j->sh, (int)c->n);
	return LK_ERR_STATE;
}

/* Before our eof: the command's exit status, once the keeper said it. */
static int
sess_shell_trailer(void *arg, struct lk_stream_ctl *c)
{
	struct sess_job *j = arg;
	int st, r;

	if ((r = agent_shell_status(&j->sh, &st)) == LK_ERR_BUSY)
		return r;
	if (r != 0)
		return 0;
	if (WIFSIGNALED(st) && lk_stream_sig_name(WTERMSIG(st)) != NULL) {
		c->type = LK_STREAM_EXIT_SIGNAL;
		c->n = (uint64_t)WTERMSIG(st);
	} else {
		c->type = LK_STREAM_EXIT;
		c->n = WIFEXITED(st) ? (uint64_t)WEXITSTATUS(st) : 255;
	}
	return 1;
}

/*
 * A shell session's checks and process: 0 with j->sh running, else why
 * (for the client's close frame) and no process.
 */
static int
sess_shell_start(struct sess_job *j, char *why, size_t size)
{
	struct agent_shell_req q;

	if (!j->resumable) {
		snprintf(why, size, "%s", "shell sessions need a client and a "
		    "latchkeyd that resume");
		return -1;
	}
	if (!sess_user_allowed(j->user)) {
		snprintf(why, size, "user %s is not in the agent's "
		    "--shell-users", j->user);
		return -1;
	}
	memset(&q, 0, sizeof(q));
	q.user = j->user;
	q.command = j->command;
	q.tty = j->tty;
	q.cols = j->cols;
	q.rows = j->rows;
	return agent_shell_start(&q, &j->sh, why, size) == 0 ? 0 : -1;
}

/* The shell's output, as it goes to the client: into the recording. */
static void
sess_rec_input(void *arg, const void *p, size_t n)
{
	struct sess_job *j = arg;

	agent_rec_output(j->rec, p, n);
}

/* Runs an open session's tunnel: the port's socket, or the shell's fds. */
static void
sess_run(struct sess_job *j, struct lk_ws *ws, int fd, const char *url)
{
	struct lk_tunnel_conf conf;
	struct lk_tunnel_end end;
	char vis[160];
	int st;

	agent_log(LOG_INFO, "session", "open", "session=%s port=%d "
	    "resumable=%d via=\"%s\"%s%s", j->id, j->port, j->resumable,
	    agent_vis(vis, sizeof(vis), url), j->shell ? " shell=1 user=" :
	    "", j->shell ? j->user : "");
	memset(&conf, 0, sizeof(conf));
	conf.resumable = j->resumable;
	conf.window = (size_t)j->window;
	conf.resume_wait_ms = j->resume_wait * 1000L;
	conf.kick_fd = j->live != NULL ? j->live->kick : -1;
	conf.stop_fd = sess_stopfd;
	if (j->shell) {
		conf.on_ctl = sess_shell_ctl;
		conf.trailer = sess_shell_trailer;
		conf.ctl_fd = j->sh.status_fd;
		conf.out_discard = 1;
		if ((j->rec = agent_rec_begin(j->id, j->cols, j->rows,
		    j->tty)) != NULL)
			conf.on_input = sess_rec_input;
	}
	sess_trim();
	(void)lk_tunnel_run(ws, j->shell ? j->sh.fd : fd, j->shell ?
	    j->sh.in_fd : fd, &conf, j->resumable ? sess_redial : NULL, j,
	    sess_event, &end);
	if (j->shell) {
		st = j->sh.have_status ? j->sh.status : -1;
		agent_shell_end(&j->sh, !end.out_closed);
		agent_rec_end(j->rec);
		j->rec = NULL;
		agent_log(LOG_INFO, "session", "shell-ended", "session=%s "
		    "user=%s status=%d", j->id, j->user, st);
	}
	agent_log(LOG_INFO, "session", "closed", "session=%s port=%d "
	    "code=%d resumes=%u bytes_to_port=%llu "
	    "bytes_from_port=%llu", j->id, j->port, end.code,
	    end.resumes, (unsigned long long)end.bytes_out,
	    (unsigned long long)end.bytes_in);
}

static void *
sess_main(void *arg)
{
	struct sess_job *j = arg;
	struct lk_ws *ws = NULL;
	char url[sizeof(j->url)], why[160] = "", err[256], vis[160];
	int fd = -1, ok = 0;

	if (j->resumable && j->epoch > 0)
		snprintf(why, sizeof(why), "%s", "this agent no longer has "
		    "the session (it restarted)");
	else if (j->shell)
		ok = sess_shell_start(j, why, sizeof(why)) == 0;
	else if (!sess_allowed(j->port))
		snprintf(why, sizeof(why), "port %d is not in the agent's "
		    "--session-ports", j->port);
	else
		ok = (fd = sess_connect(j->port, why, sizeof(why))) >= 0;
	sess_dial_url(j->url, j->id, url, sizeof(url));
	if (sess_dial(url, &ws, err, sizeof(err)) != 0) {
		agent_log(LOG_WARNING, "session", "dial-failed", "session=%s "
		    "error=\"%s\"", j->id, agent_vis(vis, sizeof(vis), err));
		if (j->shell && ok)
			agent_shell_end(&j->sh, 1);
	} else if (!ok) {
		agent_log(LOG_WARNING, "session", "refused", "session=%s "
		    "port=%d why=\"%s\"", j->id, j->port,
		    agent_vis(vis, sizeof(vis), why));
		lk_ws_close(ws, j->resumable && j->epoch > 0 ?
		    LK_WS_RESUME_GONE : j->shell ? LK_WS_SHELL_REFUSED :
		    LK_WS_PORT_REFUSED, why);
	} else {
		sess_run(j, ws, fd, url);
		ws = NULL;	/* the tunnel's */
	}
	lk_ws_free(ws);
	if (fd >= 0)
		close(fd);
	sess_live_drop(j->live);
	free(j->command);
	free(j);
	pthread_mutex_lock(&sess_lock);
	sess_active--;
	pthread_cond_broadcast(&sess_cond);
	pthread_mutex_unlock(&sess_lock);
	return NULL;
}

/*
 * A hand-out of a session this agent holds (a resume): its URL is left
 * for the tunnel, which is kicked. 1 when it was one, 0 when the session
 * is not held here. Under sess_lock.
 */
static int
sess_live_resume(const char *id, int64_t epoch, const char *url)
{
	struct sess_live *l;
	uint64_t one = 1;

	for (l = sess_lives; l != NULL; l = l->next)
		if (strcmp(l->id, id) == 0)
			break;
	if (l == NULL)
		return 0;
	if (epoch > l->epoch) {
		l->epoch = epoch;
		snprintf(l->next_url, sizeof(l->next_url), "%s", url);
		l->have_next = 1;
		lk_fd_wake(l->kick, &one, sizeof(one));
	}
	return 1;
}

int
agent_sess_init(const struct agent_state *st)
{
	sess_st = *st;
	agent_cond_init(&sess_cond);
	if ((sess_stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return LK_ERR_SYSTEM;
	return 0;
}

/*
 * A shell entry's "user", "command", "tty", "cols" and "rows": checked
 * (j NULL: LK_ERR_INVALID_FORMAT for anything out of its form), or taken
 * into j (LK_ERR_ALLOC).
 */
static int
sess_shell_entry(const json_t *v, struct sess_job *j)
{
	json_t *uv = json_object_get(v, "user"), *cv = json_object_get(v,
	    "command"), *tv = json_object_get(v, "tty"),
	    *xv = json_object_get(v, "cols"), *yv = json_object_get(v, "rows");
	const char *u = json_string_value(uv), *c = json_string_value(cv);

	if (j == NULL) {
		if (u == NULL || !sess_user_valid(u) || (cv != NULL &&
		    (c == NULL || json_string_length(cv) != strlen(c) ||
		    strlen(c) == 0 || strlen(c) > SESS_CMD_MAX)) ||
		    (tv != NULL && !json_is_boolean(tv)))
			return LK_ERR_INVALID_FORMAT;
		if ((xv != NULL && (!json_is_integer(xv) ||
		    json_integer_value(xv) < 1 || json_integer_value(xv) >
		    LK_STREAM_WINSZ_MAX)) || (yv != NULL &&
		    (!json_is_integer(yv) || json_integer_value(yv) < 1 ||
		    json_integer_value(yv) > LK_STREAM_WINSZ_MAX)))
			return LK_ERR_INVALID_FORMAT;
		return 0;
	}
	j->shell = 1;
	snprintf(j->user, sizeof(j->user), "%s", u);
	j->tty = json_is_true(tv);
	j->cols = xv != NULL ? (int)json_integer_value(xv) : 80;
	j->rows = yv != NULL ? (int)json_integer_value(yv) : 24;
	if (c != NULL && (j->command = strdup(c)) == NULL)
		return LK_ERR_ALLOC;
	return 0;
}

/*
 * The poll's "sessions" entry v: a new session (a thread that connects to
 * the port and dials back), or, for a resumable one (an "epoch" in v), the
 * resume of one this agent holds.
 */
int
agent_sess_start(const json_t *v)
{
	const char *id = json_string_value(json_object_get(v, "session_id"));
	json_t *port = json_object_get(v, "port"), *uv = json_object_get(v,
	    "url"), *ev = json_object_get(v, "epoch"),
	    *wv = json_object_get(v, "resume_wait"),
	    *bv = json_object_get(v, "window");
	const char *url = json_string_value(uv);
	char vis[160], dial[AGENT_URL_MAX + SESS_ID_MAX + 32];
	struct sess_job *j;
	struct sess_live *l = NULL;
	pthread_attr_t attr;
	pthread_t t;
	int r;

	const char *kind = json_string_value(json_object_get(v, "kind"));
	int shell = kind != NULL && strcmp(kind, "shell") == 0;

	if (id == NULL || strlen(id) < 3 || strlen(id) > SESS_ID_MAX ||
	    strncmp(id, "s-", 2) != 0 ||
	    strspn(id + 2, "0123456789abcdefghijklmnopqrstuvwxyz") !=
	    strlen(id) - 2 || (kind != NULL && !shell &&
	    strcmp(kind, "port") != 0) || (!shell && (!json_is_integer(port) ||
	    json_integer_value(port) < 1 || json_integer_value(port) >
	    65535)) || (shell && sess_shell_entry(v, NULL) != 0) ||
	    (ev != NULL && (!json_is_integer(ev) || json_integer_value(ev) <
	    0)) || (wv != NULL && (!json_is_integer(wv) ||
	    json_integer_value(wv) < 0 || json_integer_value(wv) > 3600)) ||
	    (bv != NULL && (!json_is_integer(bv) || json_integer_value(bv) <
	    LK_STREAM_WINDOW_MIN || json_integer_value(bv) >
	    LK_STREAM_WINDOW_MAX))) {
		agent_log(LOG_WARNING, "session", "malformed", "%s", "");
		return LK_ERR_INVALID_FORMAT;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return LK_ERR_ALLOC;
	snprintf(j->id, sizeof(j->id), "%s", id);
	j->port = shell ? 0 : (int)json_integer_value(port);
	if (shell && sess_shell_entry(v, j) != 0) {
		free(j);
		return LK_ERR_ALLOC;
	}
	/* A URL not followed: the server URL, where the dial may find it. */
	if (uv != NULL && (url == NULL ||
	    !sess_url_ok(url, id, sess_st.server)))
		agent_log(LOG_WARNING, "session", "url-refused", "session=%s "
		    "url=\"%s\"", id, agent_vis(vis, sizeof(vis),
		    url != NULL ? url : "(not a string)"));
	else if (url != NULL)
		snprintf(j->url, sizeof(j->url), "%s", url);
	if (ev != NULL) {
		j->resumable = 1;
		j->epoch = json_integer_value(ev);
		j->resume_wait = wv != NULL ? (long)json_integer_value(wv) :
		    LK_TUNNEL_RESUME_WAIT_DEFAULT;
		j->window = bv != NULL ? (long)json_integer_value(bv) :
		    LK_STREAM_WINDOW_DEFAULT;
	}
	pthread_mutex_lock(&sess_lock);
	if (j->resumable) {
		sess_dial_url(j->url, j->id, dial, sizeof(dial));
		if (sess_live_resume(j->id, j->epoch, dial)) {
			pthread_mutex_unlock(&sess_lock);
			free(j);
			return 0;
		}
		if (j->epoch == 0 && ((l = calloc(1, sizeof(*l))) == NULL ||
		    (l->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)) {
			pthread_mutex_unlock(&sess_lock);
			free(l);
			free(j);
			return LK_ERR_SYSTEM;
		}
		if (l != NULL) {
			snprintf(l->id, sizeof(l->id), "%s", j->id);
			l->next = sess_lives;
			sess_lives = l;
			j->live = l;
		}
	}
	sess_active++;
	pthread_mutex_unlock(&sess_lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Small stacks: a session's thread only moves bytes. */
	(void)pthread_attr_setstacksize(&attr, SESS_STACK);
	r = pthread_create(&t, &attr, sess_main, j);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		sess_live_drop(j->live);
		free(j->command);
		free(j);
		pthread_mutex_lock(&sess_lock);
		sess_active--;
		pthread_mutex_unlock(&sess_lock);
		return LK_ERR_SYSTEM;
	}
	return 0;
}

void
agent_sess_stop(long ms)
{
	uint64_t one = 1;
	long long end = lk_now_ms() + ms;

	if (sess_stopfd >= 0)
		lk_fd_wake(sess_stopfd, &one, sizeof(one));
	pthread_mutex_lock(&sess_lock);
	while (sess_active > 0 && lk_now_ms() < end)
		(void)agent_cond_wait(&sess_cond, &sess_lock, end);
	pthread_mutex_unlock(&sess_lock);
	explicit_bzero(&sess_st, sizeof(sess_st));
}
