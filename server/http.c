/*
 * HTTP for latchkeyd (docs/threading.md): libmicrohttpd's event loops
 * (internal threads, poll(): suspended connections are not in the set, so
 * it holds only the connections doing I/O) hold every connection; a
 * request whose head and body have
 * arrived is suspended and handed to the worker pool (work.c), whose
 * answer resumes it; an agent's long poll that finds no work is parked
 * (longpoll.c) and holds no thread at all. So the number of threads is
 * fixed whatever the number of connections, and what a connection costs
 * is its socket, libmicrohttpd's per-connection memory and a few bytes.
 *
 * Admission (conn.c) decides at accept and at the first request; the
 * request's state lives in struct http_req from the handler's first call
 * (when libmicrohttpd promises the completed callback) to that callback,
 * so a request refused at any stage frees everything it took.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "agentauth.h"
#include "agentd.h"
#include "api.h"
#include "audit.h"
#include "conn.h"
#include "console.h"
#include "err.h"
#include "fsutil.h"
#include "http.h"
#include "log.h"
#include "longpoll.h"
#include "recording.h"
#include "relay.h"
#include "store.h"
#include "util.h"
#include "work.h"

#define HTTP_MAX_HEADERS	LK_SIG_V3_MAX_HEADERS
#define HTTP_LOG_EVERY_MS	1000	/* libmicrohttpd's own messages */

enum { HTTP_READING, HTTP_RUNNING, HTTP_ANSWERED };

struct http_req {
	struct MHD_Connection	*mc;
	struct conn		*conn;
	char			*uri;		/* raw, with the query */
	const char		*method;	/* libmicrohttpd's, as long as
						   the request */
	char			*body;
	size_t			 bodylen;
	int			 too_large;
	size_t			 body_max;	/* LKD_BODY_MAX, or an
						   agent's recording's */
	struct lk_sig_header	 headers[HTTP_MAX_HEADERS];
	size_t			 nheaders;
	int			 too_many_headers;
	int			 state;		/* HTTP_* */
	struct MHD_Response	*resp;		/* the answer; NULL: close */
	unsigned int		 status;
	struct agentd_poll	 poll;
};

static struct MHD_Daemon *http_daemon;
static atomic_int http_up;	/* read by /healthz */
static char *http_cert, *http_key;
static int http_tls;
/* The rate limits of two log lines; libmicrohttpd's threads share them. */
static pthread_mutex_t http_log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char http_busy_body[] = "{\"Code\":\"Throttling\",\"Message\":"
    "\"latchkeyd is busy: too many connections%s; retry in a moment.\"}";

/* ---- answers ---- */

static struct MHD_Response *
http_json(int status, char *body, unsigned int *statusp)
{
	struct MHD_Response *resp;
	static const char fallback[] = "{\"Code\":\"InternalError\"}";

	if (body == NULL) {
		*statusp = 500;
		resp = MHD_create_response_from_buffer(sizeof(fallback) - 1,
		    (void *)(uintptr_t)fallback, MHD_RESPMEM_PERSISTENT);
	} else {
		*statusp = (unsigned int)status;
		resp = MHD_create_response_from_buffer(strlen(body), body,
		    MHD_RESPMEM_MUST_FREE);
		if (resp == NULL)
			free(body);
	}
	if (resp != NULL)
		MHD_add_response_header(resp, "Content-Type",
		    "application/json;charset=utf-8");
	return resp;
}

/* A quick 503 (ECS Throttling) that closes the connection. */
static struct MHD_Response *
http_busy(const char *why, unsigned int *statusp)
{
	struct MHD_Response *resp;
	char *body;

	if (asprintf(&body, http_busy_body, why) < 0)
		body = NULL;
	if ((resp = http_json(503, body, statusp)) != NULL) {
		MHD_add_response_header(resp, "Retry-After", "1");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
		    "close");
	}
	return resp;
}

/* From a worker or the longpoll thread: hr is not ours afterwards. */
static void
http_answer(struct http_req *hr, struct MHD_Response *resp,
    unsigned int status)
{
	hr->resp = resp;
	hr->status = status;
	hr->state = HTTP_ANSWERED;
	MHD_resume_connection(hr->mc);
}

/* ---- handlers, on a worker ---- */

static const char *
http_header(const struct http_req *hr, const char *name)
{
	size_t i;

	for (i = 0; i < hr->nheaders; i++)
		if (strcmp(hr->headers[i].name, name) == 0)
			return hr->headers[i].value;
	return NULL;
}

static struct MHD_Response *
http_console(struct http_req *hr, const char *path, unsigned int *statusp)
{
	struct console_req req;
	struct console_resp resp;
	struct MHD_Response *r;
	size_t i;

	memset(&req, 0, sizeof(req));
	req.method = hr->method;
	req.path = path + 8;			/* after "/console" */
	req.headers = hr->headers;
	req.nheaders = hr->nheaders;
	req.body = hr->body ? hr->body : "";
	req.bodylen = hr->bodylen;
	req.client = hr->conn != NULL ? hr->conn->addr : "-";
	req.tls = http_tls;
	console_handle(&req, &resp);
	r = MHD_create_response_from_buffer(resp.bodylen, resp.body,
	    MHD_RESPMEM_MUST_COPY);
	if (r != NULL) {
		MHD_add_response_header(r, "Content-Type", resp.content_type);
		for (i = 0; i < resp.nheaders; i++)
			MHD_add_response_header(r, resp.headers[i].name,
			    resp.headers[i].value);
	}
	*statusp = (unsigned int)resp.status;
	console_resp_free(&resp);
	return r;
}

/*
 * GET /console/terminal: the console's terminal page dials its shell
 * session here (docs/console.md, "Terminal"); the console's checks
 * (Origin, cookie), then the relay's (token, binding).
 */
static void
http_terminal(struct http_req *hr, const char *query,
    struct MHD_Response **respp, unsigned int *statusp)
{
	char hash[LK_SIG_V3_SIZE], *body = NULL;
	const char *code, *msg;
	json_t *j;
	int status;

	status = console_ws_admit(hr->headers, hr->nheaders, http_tls, hash,
	    &code, &msg);
	if (status != 0) {
		log_info("console terminal refused code=%s client=%s", code,
		    hr->conn != NULL ? hr->conn->addr : "-");
		j = json_pack("{s:s, s:s}", "Code", code, "Message", msg);
		body = j != NULL ? json_dumps(j, JSON_COMPACT |
		    JSON_PRESERVE_ORDER) : NULL;
		json_decref(j);
		*respp = http_json(status, body, statusp);
		return;
	}
	status = relay_http(hr->mc, "/session", query, hr->method,
	    hr->headers, hr->nheaders, hash, respp, &body);
	if (*respp == NULL)
		*respp = http_json(status, body, statusp);
	else
		*statusp = (unsigned int)status;
}

/*
 * GET /healthz, for load balancers: 200 while the database answers, else
 * 503. No authentication; the database is asked at most once a second.
 */
static struct MHD_Response *
http_healthz(unsigned int *statusp)
{
	int ok = store_ping() == 0;
	char *body = NULL;

	if (asprintf(&body, "{\"status\":\"%s\",\"replica\":\"%s\","
	    "\"database\":\"%s\"}", ok ? "ok" : "unavailable",
	    lkd->replica_id, ok ? "ok" : "unavailable") == -1)
		body = NULL;
	return http_json(ok ? 200 : 503, body, statusp);
}

static int
http_is_session(const char *path)
{
	return strcmp(path, "/session") == 0 ||
	    (strlen(path) > 18 && strncmp(path, "/agent/v1/session/", 18) == 0);
}

/*
 * Runs hr's handler. Returns 1 when the handler parked it (a long poll:
 * it belongs to longpoll.c now), 0 with *respp the answer (NULL: close
 * the connection without one).
 */
static int
http_route(struct http_req *hr, struct MHD_Response **respp,
    unsigned int *statusp)
{
	struct api_req req;
	char *q = strchr(hr->uri, '?'), *path, *body = NULL;
	const char *query = q ? q + 1 : "";
	int status;

	*respp = NULL;
	audit_set_source(hr->conn != NULL ? hr->conn->addr : "-");
	if ((path = strndup(hr->uri, q ? (size_t)(q - hr->uri) :
	    strlen(hr->uri))) == NULL) {
		*respp = http_json(500, NULL, statusp);
		return 0;
	}
	if (strcmp(path, "/console/terminal") == 0)
		http_terminal(hr, query, respp, statusp);
	else if (strncmp(path, "/console", 8) == 0 && strchr("/", path[8]) !=
	    NULL)
		*respp = http_console(hr, path, statusp);
	else if (http_is_session(path)) {
		status = relay_http(hr->mc, path, query, hr->method,
		    hr->headers, hr->nheaders, NULL, respp, &body);
		if (*respp == NULL)
			*respp = http_json(status, body, statusp);
		else
			*statusp = (unsigned int)status;
	} else if (strncmp(path, "/agent/v1/", 10) == 0) {
		status = agentd_handle(hr->method, path + 10, query,
		    hr->headers, hr->nheaders, hr->body ? hr->body : "",
		    hr->bodylen, &hr->poll, &body);
		if (status == AGENTD_PARKED) {
			free(path);		/* hr is longpoll.c's now */
			return 1;
		}
		if (status != AGENTD_GONE)
			*respp = http_json(status, body, statusp);
	} else if (strcmp(path, "/healthz") == 0) {
		*respp = http_healthz(statusp);
	} else if (strcmp(path, "/") == 0 && (strcmp(hr->method, "GET") == 0 ||
	    strcmp(hr->method, "POST") == 0)) {
		memset(&req, 0, sizeof(req));
		req.method = hr->method;
		req.raw_query = query;
		req.body = hr->body ? hr->body : "";
		req.bodylen = hr->bodylen;
		req.headers = hr->headers;
		req.nheaders = hr->nheaders;
		req.content_type = http_header(hr, "content-type");
		status = api_handle(&req, &body);
		api_req_free(&req);
		*respp = http_json(status, body, statusp);
	} else
		*respp = http_json(404, strdup("{\"Code\":\"NotFound\","
		    "\"Message\":\"No such path.\"}"), statusp);
	free(path);
	return 0;
}

static void
http_work(void *job)
{
	struct http_req *hr = job;
	struct MHD_Response *resp = NULL;
	unsigned int status = 500;
	int r;

	if (hr->poll.why == LONGPOLL_QUIT) {
		resp = http_busy(" (latchkeyd is stopping)", &status);
		http_answer(hr, resp, status);
		return;
	}
	r = http_route(hr, &resp, &status);
	audit_set_source(NULL);
	if (r == 1)
		return;
	http_answer(hr, resp, status);
}

/* longpoll.c hands a parked poll back (on its thread or a waker's). */
static void
http_poll_back(void *req, int why)
{
	struct http_req *hr = (struct http_req *)(void *)((char *)req -
	    offsetof(struct http_req, poll));
	struct MHD_Response *resp;
	unsigned int status = 503;

	hr->poll.why = why;
	if (why == LONGPOLL_GONE)
		http_answer(hr, NULL, 0);
	else if (why == LONGPOLL_QUIT || work_push(hr) != 0) {
		resp = http_busy(" (latchkeyd is stopping)", &status);
		http_answer(hr, resp, status);
	}
}

/* ---- libmicrohttpd's callbacks, on its thread ---- */

static void
http_notify_conn(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo *fd, *ad;

	(void)cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		fd = MHD_get_connection_info(c,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		ad = MHD_get_connection_info(c,
		    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		*socket_context = conn_new(fd ? fd->connect_fd : -1,
		    ad ? ad->client_addr : NULL);
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		conn_free(*socket_context);
		*socket_context = NULL;
	}
}

static struct conn *
http_conn(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

/* The request line arrived: keep its raw URI (the signature needs it). */
static void *
http_uri_cb(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct conn *cn = http_conn(c);

	(void)cls;
	if (cn != NULL)
		conn_request_line(cn, uri);
	return NULL;
}

static enum MHD_Result
http_accept_cb(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	static long long last;
	static unsigned long cut;
	long long now;

	(void)cls;
	(void)addrlen;
	if (conn_accept_ok(addr))
		return MHD_YES;
	pthread_mutex_lock(&http_log_lock);
	cut++;
	if ((now = lk_now_ms()) - last >= HTTP_LOG_EVERY_MS) {
		log_info("connections refused=%lu reason=\"over the "
		    "per-address limit\"", cut);
		last = now;
		cut = 0;
	}
	pthread_mutex_unlock(&http_log_lock);
	return MHD_NO;
}

static void
http_completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_req *hr = *con_cls;
	size_t i;

	(void)cls;
	if (hr == NULL)
		return;
	if (hr->conn != NULL && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		conn_request_done(hr->conn);
	if (hr->status == 101 && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		relay_abandoned(c);
	for (i = 0; i < hr->nheaders; i++) {
		free((char *)(uintptr_t)hr->headers[i].name);
		free((char *)(uintptr_t)hr->headers[i].value);
	}
	if (hr->resp != NULL)
		MHD_destroy_response(hr->resp);
	free(hr->uri);
	free(hr->body);
	free(hr);
	*con_cls = NULL;
}

static enum MHD_Result
http_header_cb(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct http_req *hr = cls;
	char *name, *val;
	size_t i;

	(void)kind;
	if (hr->nheaders == HTTP_MAX_HEADERS) {
		hr->too_many_headers = 1;
		return MHD_YES;
	}
	if ((name = strdup(key)) == NULL ||
	    (val = strdup(value ? value : "")) == NULL) {
		free(name);
		hr->too_many_headers = 1;
		return MHD_NO;
	}
	for (i = 0; name[i] != '\0'; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			name[i] = (char)(name[i] - 'A' + 'a');
	hr->headers[hr->nheaders].name = name;
	hr->headers[hr->nheaders++].value = val;
	return MHD_YES;
}

static enum MHD_Result
http_queue(struct MHD_Connection *c, struct MHD_Response *resp,
    unsigned int status)
{
	enum MHD_Result ret;

	if (resp == NULL)
		return MHD_NO;		/* closes the connection */
	/* Which replica answered: agents log it, operators grep for it. */
	MHD_add_response_header(resp, "Latchkey-Replica", lkd->replica_id);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Does the request carry "Authorization: Bearer ..."? */
/*
 * Whether the request carries a registered agent's credential, checked
 * (agentauth's cache) before a large body is let in: anyone could send
 * "Bearer x" and make latchkeyd hold --recording-max bytes otherwise.
 */
static int
http_has_bearer(const struct http_req *hr)
{
	char id[64];

	return agentauth_check(hr->headers, hr->nheaders, id, sizeof(id));
}

/* The first call: the head is in. Admission, then the request's state. */
static enum MHD_Result
http_begin(struct MHD_Connection *c, const char *url, const char *method,
    void **con_cls)
{
	struct conn *cn = http_conn(c);
	struct MHD_Response *resp;
	struct http_req *hr;
	unsigned int status = 503;

	if (cn != NULL && cn->refused != CONN_OK) {
		resp = http_busy(cn->refused == CONN_PER_IP ?
		    " from this address" : "", &status);
		return http_queue(c, resp, status);
	}
	if ((hr = calloc(1, sizeof(*hr))) == NULL)
		return MHD_NO;
	hr->mc = c;
	hr->conn = cn;
	hr->method = method;
	hr->poll.fd = cn != NULL ? cn->fd : -1;
	if ((cn == NULL || (hr->uri = conn_take_uri(cn)) == NULL) &&
	    (hr->uri = strdup(url)) == NULL) {
		free(hr);
		return MHD_NO;
	}
	*con_cls = hr;
	if (cn != NULL)
		conn_head_done(cn);
	MHD_get_connection_values(c, MHD_HEADER_KIND, http_header_cb, hr);
	/*
	 * An agent's recording may be larger than other bodies: only with a
	 * registered agent's credential (checked again, with the instance,
	 * once the body is in).
	 */
	hr->body_max = recording_is_upload(hr->uri) && http_has_bearer(hr) ?
	    (size_t)recording_max : LKD_BODY_MAX;
	return MHD_YES;
}

static enum MHD_Result
http_access_cb(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http_req *hr = *con_cls;
	struct MHD_Response *resp;
	unsigned int status = 500;
	char *nb;

	(void)cls;
	(void)version;
	if (hr == NULL)
		return http_begin(c, url, method, con_cls);
	if (hr->state == HTTP_ANSWERED) {
		resp = hr->resp;
		hr->resp = NULL;
		if (hr->status == 101 && hr->conn != NULL)
			conn_upgraded(hr->conn);
		return http_queue(c, resp, hr->status);
	}
	if (hr->state != HTTP_READING)
		return MHD_YES;
	if (*upload_data_size > 0) {
		if (hr->too_large || hr->bodylen + *upload_data_size >
		    hr->body_max) {
			hr->too_large = 1;
		} else if ((nb = realloc(hr->body, hr->bodylen +
		    *upload_data_size + 1)) != NULL) {
			hr->body = nb;
			memcpy(hr->body + hr->bodylen, upload_data,
			    *upload_data_size);
			hr->bodylen += *upload_data_size;
			hr->body[hr->bodylen] = '\0';
		} else
			hr->too_large = 1;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (hr->conn != NULL)
		conn_body_done(hr->conn);
	if (hr->too_large || hr->too_many_headers) {
		resp = http_json(413, strdup("{\"Code\":\"InvalidParameter\","
		    "\"Message\":\"The request is too large.\"}"), &status);
		return http_queue(c, resp, status);
	}
	/* To a worker; its answer resumes the connection. */
	hr->state = HTTP_RUNNING;
	MHD_suspend_connection(c);
	if (work_push(hr) != 0) {
		resp = http_busy("", &status);
		http_answer(hr, resp, status);
	}
	return MHD_YES;
}

static void
http_log_cb(void *cls, const char *fm, va_list ap)
{
	static long long last;
	static unsigned long dropped;
	char msg[256];
	long long now = lk_now_ms();
	size_t n;

	(void)cls;
	pthread_mutex_lock(&http_log_lock);
	/* libmicrohttpd may repeat itself fast (a full descriptor table). */
	if (now - last < HTTP_LOG_EVERY_MS) {
		dropped++;
		pthread_mutex_unlock(&http_log_lock);
		return;
	}
	last = now;
	vsnprintf(msg, sizeof(msg), fm, ap);
	n = strcspn(msg, "\r\n");
	msg[n] = '\0';
	for (n = 0; msg[n] != '\0'; n++)	/* quotes end the value */
		if (msg[n] == '"' || msg[n] == '\\' ||
		    (unsigned char)msg[n] < 0x20 || (unsigned char)msg[n] > 0x7e)
			msg[n] = '\'';
	if (dropped > 0)
		log_warnx("http error detail=\"%s\" dropped=%lu", msg, dropped);
	else
		log_warnx("http error detail=\"%s\"", msg);
	dropped = 0;
	pthread_mutex_unlock(&http_log_lock);
}

static int
http_parse_addr(const char *listen, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[128];
	const char *colon, *h = listen;
	size_t hlen;
	long long port;

	memset(ss, 0, sizeof(*ss));
	if ((colon = strrchr(listen, ':')) == NULL ||
	    lk_parse_ll(colon + 1, 1, 65535, &port) != 0)
		return LK_ERR_INVALID_FORMAT;
	hlen = (size_t)(colon - listen);
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return LK_ERR_INVALID_FORMAT;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
	} else
		return LK_ERR_INVALID_FORMAT;
	return 0;
}

int
http_listen_is_loopback(const char *listen)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

	if (http_parse_addr(listen, &ss) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
}

/*
 * The listening socket, bound here rather than by libmicrohttpd, so that a
 * failure names the address and the reason. Returns the socket or -1.
 */
static int
http_bind(const char *addr, const struct sockaddr_storage *ss)
{
	socklen_t len = ss->ss_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int fd, on = 1;

	if ((fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		log_warn("listen %s: socket", addr);
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ss->ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
		    sizeof(on));
	if (bind(fd, (const struct sockaddr *)ss, len) == -1) {
		log_warnx("cannot listen on %s: %s", addr, errno ==
		    EADDRINUSE ? "address already in use" : strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, SOMAXCONN) == -1) {
		log_warn("cannot listen on %s", addr);
		close(fd);
		return -1;
	}
	return fd;
}

int
http_start(const char *listen, const char *cert, const char *key,
    size_t workers, size_t io_threads)
{
	struct sockaddr_storage ss;
	/*
	 * poll(), not epoll: parked polls are suspended and so not polled,
	 * and 0.9.75's epoll mode left a connection hanging, unanswered,
	 * when a request's arguments filled its memory (the storm test).
	 */
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
	size_t len;
	int r, fd;

	if ((r = http_parse_addr(listen, &ss)) != 0) {
		log_warnx("--listen %s: expected ADDRESS:PORT", listen);
		return r;
	}
	if ((fd = http_bind(listen, &ss)) == -1)
		return LK_ERR_SYSTEM;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (cert != NULL || key != NULL) {
		if (cert == NULL || key == NULL ||
		    (r = lk_fs_read(cert, 1024 * 1024, &http_cert, &len)) != 0 ||
		    (r = lk_fs_read(key, 1024 * 1024, &http_key, &len)) != 0) {
			log_warnx("TLS needs both --tls-cert and --tls-key, "
			    "readable");
			close(fd);
			return r ? r : LK_ERR_INVALID_FORMAT;
		}
		flags |= MHD_USE_TLS;
		http_tls = 1;
	}
	if ((r = conn_start()) != 0 || (r = longpoll_start(http_poll_back)) !=
	    0 || (r = work_start(workers, http_work)) != 0) {
		log_warnx("cannot start the server's threads");
		close(fd);
		return r;
	}
	http_daemon = MHD_start_daemon(flags, 0, http_accept_cb, NULL,
	    http_access_cb, NULL, MHD_OPTION_EXTERNAL_LOGGER, http_log_cb, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_URI_LOG_CALLBACK, http_uri_cb, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, http_notify_conn, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed_cb, NULL,
	    MHD_OPTION_CONNECTION_LIMIT, conn_conf.max,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)conn_conf.idle_timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)conn_conf.memory_kib * 1024,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)io_threads,
	    cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, http_cert,
	    MHD_OPTION_HTTPS_MEM_KEY, http_key, MHD_OPTION_END);
	if (http_daemon == NULL) {
		log_warnx("cannot serve on %s", listen);
		close(fd);
		return LK_ERR_SYSTEM;
	}
	atomic_store(&http_up, 1);
	return 0;
}

int
http_bind_addr(const char *listen)
{
	struct sockaddr_storage ss;

	if (http_parse_addr(listen, &ss) != 0) {
		log_warnx("%s: expected ADDRESS:PORT", listen);
		return -1;
	}
	return http_bind(listen, &ss);
}

int
http_serving(void)
{
	return atomic_load(&http_up);
}

/*
 * Stops in an order that leaves no connection suspended when
 * libmicrohttpd stops (it would abort): no new connections; parked polls
 * answered; the workers finish what is queued and resume each one.
 */
void
http_stop(void)
{
	MHD_socket s;

	atomic_store(&http_up, 0);
	if (http_daemon != NULL) {
		s = MHD_quiesce_daemon(http_daemon);
		longpoll_stop();
		work_stop();
		MHD_stop_daemon(http_daemon);
		if (s != MHD_INVALID_SOCKET)
			close(s);
	}
	conn_stop();
	http_daemon = NULL;
	free(http_cert);
	free(http_key);
}
