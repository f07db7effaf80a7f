/*
 * Sessions (docs/sessions.md): a poll's "sessions" entries ask this agent
 * to connect to 127.0.0.1:<port> and dial latchkeyd back at
 * /agent/v1/session/<id> with its credential; lk_ws_bridge() then moves
 * the bytes until either end closes. One detached thread per session.
 *
 * Only the ports of --session-ports (default 22) are reached; any other
 * request is answered with a close frame LK_WS_PORT_REFUSED, as is a port
 * nothing listens on, so the client sees why.
 */
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "agent.h"
#include "err.h"
#include "util.h"
#include "ws.h"

#define SESS_PORTS_MAX	64
#define SESS_ID_MAX	47

static int sess_ports[SESS_PORTS_MAX] = { 22 };
static size_t sess_nports = 1;
static struct agent_state sess_st;
static int sess_stopfd = -1;
static pthread_mutex_t sess_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sess_cond;
static int sess_active;

struct sess_job {
	char	id[SESS_ID_MAX + 1];
	int	port;
};

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

static void *
sess_main(void *arg)
{
	struct sess_job *j = arg;
	struct lk_ws_opts o;
	struct lk_ws_end end;
	struct lk_ws *ws = NULL;
	char url[AGENT_URL_MAX + SESS_ID_MAX + 32], auth[AGENT_ID_MAX + AGENT_CRED_MAX + 32];
	char why[160] = "", err[256], vis[160];
	const char *hdrs[2];
	int fd = -1;

	if (!sess_allowed(j->port))
		snprintf(why, sizeof(why), "port %d is not in the agent's "
		    "--session-ports", j->port);
	else
		fd = sess_connect(j->port, why, sizeof(why));
	snprintf(url, sizeof(url), "%s/agent/v1/session/%s", sess_st.server,
	    j->id);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s.%s",
	    sess_st.instance_id, sess_st.credential);
	hdrs[0] = auth;
	hdrs[1] = NULL;
	memset(&o, 0, sizeof(o));
	o.cacert = sess_st.cacert[0] ? sess_st.cacert : NULL;
	o.headers = hdrs;
	o.timeout_ms = 10000;
	if (lk_ws_dial(url, &o, &ws, err, sizeof(err)) != 0) {
		agent_log(LOG_WARNING, "session", "dial-failed", "session=%s "
		    "error=\"%s\"", j->id, agent_vis(vis, sizeof(vis), err));
	} else if (fd < 0) {
		agent_log(LOG_WARNING, "session", "refused", "session=%s "
		    "port=%d why=\"%s\"", j->id, j->port,
		    agent_vis(vis, sizeof(vis), why));
		lk_ws_close(ws, LK_WS_PORT_REFUSED, why);
	} else {
		agent_log(LOG_INFO, "session", "open", "session=%s port=%d",
		    j->id, j->port);
		(void)lk_ws_bridge(ws, fd, fd, sess_stopfd, &end);
		agent_log(LOG_INFO, "session", "closed", "session=%s port=%d "
		    "code=%d bytes_to_port=%llu bytes_from_port=%llu", j->id,
		    j->port, end.code, (unsigned long long)end.bytes_out,
		    (unsigned long long)end.bytes_in);
	}
	explicit_bzero(auth, sizeof(auth));
	lk_ws_free(ws);
	if (fd >= 0)
		close(fd);
	free(j);
	pthread_mutex_lock(&sess_lock);
	sess_active--;
	pthread_cond_broadcast(&sess_cond);
	pthread_mutex_unlock(&sess_lock);
	return NULL;
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

int
agent_sess_start(const json_t *v)
{
	const char *id = json_string_value(json_object_get(v, "session_id"));
	json_t *port = json_object_get(v, "port");
	struct sess_job *j;
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (id == NULL || strlen(id) < 3 || strlen(id) > SESS_ID_MAX ||
	    strncmp(id, "s-", 2) != 0 ||
	    strspn(id + 2, "0123456789abcdefghijklmnopqrstuvwxyz") !=
	    strlen(id) - 2 || !json_is_integer(port) ||
	    json_integer_value(port) < 1 || json_integer_value(port) > 65535) {
		agent_log(LOG_WARNING, "session", "malformed", "%s", "");
		return LK_ERR_INVALID_FORMAT;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return LK_ERR_ALLOC;
	snprintf(j->id, sizeof(j->id), "%s", id);
	j->port = (int)json_integer_value(port);
	pthread_mutex_lock(&sess_lock);
	sess_active++;
	pthread_mutex_unlock(&sess_lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&t, &attr, sess_main, j);
	pthread_attr_destroy(&attr);
	if (r != 0) {
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
