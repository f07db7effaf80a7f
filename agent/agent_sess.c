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
 */
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>

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
#include "err.h"
#include "util.h"
#include "tunnel.h"
#include "ws.h"

#define SESS_PORTS_MAX	64
#define SESS_ID_MAX	47
#define SESS_STACK	(256 * 1024)	/* a session thread's stack */
#define SESS_STACK_MARGIN (8 * 1024)	/* kept below sess_main's frame */

static int sess_ports[SESS_PORTS_MAX] = { 22 };
static size_t sess_nports = 1;
static struct agent_state sess_st;
static int sess_stopfd = -1;
static pthread_mutex_t sess_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sess_cond;
static int sess_active;

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
		if ((left = deadline_ms - agent_now_ms()) <= 0) {
			snprintf(err, errsize, "%s", "not resumed in time");
			return LK_ERR_UNAVAILABLE;
		}
		p[0] = (struct pollfd){ .fd = l->kick, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = stop_fd, .events = POLLIN };
		if (poll(p, stop_fd >= 0 ? 2 : 1, left > 1000 ? 1000 :
		    (int)left) > 0) {
			if (p[0].revents & POLLIN)
				(void)read(l->kick, &n, sizeof(n));
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

static void *
sess_main(void *arg)
{
	struct sess_job *j = arg;
	struct lk_tunnel_conf conf;
	struct lk_tunnel_end end;
	struct lk_ws *ws = NULL;
	char url[sizeof(j->url)], why[160] = "", err[256], vis[160];
	int fd = -1;

	if (j->resumable && j->epoch > 0)
		snprintf(why, sizeof(why), "%s", "this agent no longer has "
		    "the session (it restarted)");
	else if (!sess_allowed(j->port))
		snprintf(why, sizeof(why), "port %d is not in the agent's "
		    "--session-ports", j->port);
	else
		fd = sess_connect(j->port, why, sizeof(why));
	sess_dial_url(j->url, j->id, url, sizeof(url));
	if (sess_dial(url, &ws, err, sizeof(err)) != 0) {
		agent_log(LOG_WARNING, "session", "dial-failed", "session=%s "
		    "error=\"%s\"", j->id, agent_vis(vis, sizeof(vis), err));
	} else if (fd < 0) {
		agent_log(LOG_WARNING, "session", "refused", "session=%s "
		    "port=%d why=\"%s\"", j->id, j->port,
		    agent_vis(vis, sizeof(vis), why));
		lk_ws_close(ws, j->resumable && j->epoch > 0 ?
		    LK_WS_RESUME_GONE : LK_WS_PORT_REFUSED, why);
	} else {
		agent_log(LOG_INFO, "session", "open", "session=%s port=%d "
		    "resumable=%d via=\"%s\"", j->id, j->port, j->resumable,
		    agent_vis(vis, sizeof(vis), url));
		memset(&conf, 0, sizeof(conf));
		conf.resumable = j->resumable;
		conf.window = (size_t)j->window;
		conf.resume_wait_ms = j->resume_wait * 1000L;
		conf.kick_fd = j->live != NULL ? j->live->kick : -1;
		conf.stop_fd = sess_stopfd;
		sess_trim();
		(void)lk_tunnel_run(ws, fd, fd, &conf, j->resumable ?
		    sess_redial : NULL, j, sess_event, &end);
		ws = NULL;	/* the tunnel's */
		agent_log(LOG_INFO, "session", "closed", "session=%s port=%d "
		    "code=%d resumes=%u bytes_to_port=%llu "
		    "bytes_from_port=%llu", j->id, j->port, end.code,
		    end.resumes, (unsigned long long)end.bytes_out,
		    (unsigned long long)end.bytes_in);
	}
	lk_ws_free(ws);
	if (fd >= 0)
		close(fd);
	sess_live_drop(j->live);
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
		(void)write(l->kick, &one, sizeof(one));
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

	if (id == NULL || strlen(id) < 3 || strlen(id) > SESS_ID_MAX ||
	    strncmp(id, "s-", 2) != 0 ||
	    strspn(id + 2, "0123456789abcdefghijklmnopqrstuvwxyz") !=
	    strlen(id) - 2 || !json_is_integer(port) ||
	    json_integer_value(port) < 1 || json_integer_value(port) > 65535 ||
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
	j->port = (int)json_integer_value(port);
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
	long long end = agent_now_ms() + ms;

	if (sess_stopfd >= 0)
		(void)write(sess_stopfd, &one, sizeof(one));
	pthread_mutex_lock(&sess_lock);
	while (sess_active > 0 && agent_now_ms() < end)
		(void)agent_cond_wait(&sess_cond, &sess_lock, end);
	pthread_mutex_unlock(&sess_lock);
	explicit_bzero(&sess_st, sizeof(sess_st));
}
