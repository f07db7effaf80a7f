/*
 * The WebSocket client of the session tunnel: libcurl opens the connection
 * (CURLOPT_CONNECT_ONLY, so TLS and proxies' name resolution are libcurl's),
 * this file writes the opening handshake and checks the answer, and the
 * result is an lk_wsc in client role (wsconn.c) on the non-blocking socket:
 * plain recv/sendmsg for ws:// and http://, curl_easy_recv/curl_easy_send
 * for wss:// and https://.
 */
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "b64.h"
#include "err.h"
#include "util.h"
#include "ws.h"

#define WS_HEAD_MAX	(16 * 1024)	/* the server's handshake answer */
#define WS_BODY_MAX	(8 * 1024)	/* a refusal's body we read */
#define WS_CLOSE_WAIT_MS 2000		/* lk_ws_close: for our close */

struct lk_ws {
	CURL		*curl;
	struct lk_wsc	 c;
	char		*head;		/* the 101's header block */
	int		 fd;
	int		 tls;		/* bytes go through libcurl */
	unsigned char	*pre;		/* read past the head (dial only) */
	size_t		 prelen;
};

static void
ws_seterr(char *err, size_t errsize, const char *fmt, const char *a)
{
	if (err != NULL && errsize > 0)
		snprintf(err, errsize, fmt, a ? a : "");
}

/* Waits until fd is ready for events, or the deadline. 1 ready, 0 not. */
static int
ws_wait(int fd, short events, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	long long left;
	int r;

	for (;;) {
		if ((left = deadline - lk_now_ms()) <= 0)
			return 0;
		if ((r = poll(&p, 1, (int)left)) > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return 0;
	}
}

/* The lk_wsc_io of a TLS connection: libcurl's reads and writes. */
static ssize_t
ws_curl_recv(void *arg, void *buf, size_t len)
{
	struct lk_ws *ws = arg;
	size_t n = 0;
	CURLcode rc;

	rc = curl_easy_recv(ws->curl, buf, len, &n);
	if (rc == CURLE_AGAIN) {
		errno = EAGAIN;
		return -1;
	}
	if (rc != CURLE_OK) {
		errno = EIO;
		return -1;
	}
	return (ssize_t)n;
}

static ssize_t
ws_curl_send(void *arg, const void *buf, size_t len)
{
	struct lk_ws *ws = arg;
	size_t n = 0;
	CURLcode rc;

	rc = curl_easy_send(ws->curl, buf, len, &n);
	if (rc == CURLE_AGAIN) {
		errno = EAGAIN;
		return -1;
	}
	if (rc != CURLE_OK) {
		errno = EIO;
		return -1;
	}
	return (ssize_t)n;
}

/* Sends all of buf before the deadline. */
static int
ws_send_all(struct lk_ws *ws, const char *buf, size_t len, long long deadline)
{
	size_t off = 0, n;
	CURLcode rc;

	while (off < len) {
		n = 0;
		rc = curl_easy_send(ws->curl, buf + off, len - off, &n);
		if (rc == CURLE_AGAIN) {
			if (!ws_wait(ws->fd, POLLOUT, deadline))
				return LK_ERR_SYSTEM;
			continue;
		}
		if (rc != CURLE_OK)
			return LK_ERR_SYSTEM;
		off += n;
	}
	return 0;
}

/* The value of header name in the answer's header block, or NULL. */
static const char *
ws_header(char *head, const char *name, char *val, size_t valsize)
{
	size_t nl = strlen(name);
	char *line = strstr(head, "\r\n"), *end, *v;

	while (line != NULL && line[2] != '\r' && line[2] != '\0') {
		line += 2;
		end = strstr(line, "\r\n");
		if (end == NULL)
			break;
		if ((size_t)(end - line) > nl && line[nl] == ':' &&
		    strncasecmp(line, name, nl) == 0) {
			v = line + nl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			snprintf(val, valsize, "%.*s", (int)(end - v), v);
			return val;
		}
		line = end;
	}
	return NULL;
}

/* After a refusal: "Code: Message" from a JSON body, else the status. */
static void
ws_refusal(struct lk_ws *ws, char *head, long status, long long deadline,
    char *err, size_t errsize)
{
	char val[32], body[WS_BODY_MAX + 1], msg[512];
	size_t blen, want = 0, n;
	long long cl;
	json_t *j;
	const char *code, *text;

	blen = ws->prelen < WS_BODY_MAX ? ws->prelen : WS_BODY_MAX;
	if (blen > 0)
		memcpy(body, ws->pre, blen);
	if (ws_header(head, "Content-Length", val, sizeof(val)) != NULL &&
	    (cl = strtoll(val, NULL, 10)) > 0)
		want = cl < WS_BODY_MAX ? (size_t)cl : WS_BODY_MAX;
	while (blen < want) {
		n = 0;
		if (curl_easy_recv(ws->curl, body + blen, want - blen, &n) ==
		    CURLE_AGAIN) {
			if (!ws_wait(ws->fd, POLLIN, deadline))
				break;
			continue;
		}
		if (n == 0)
			break;
		blen += n;
	}
	body[blen] = '\0';
	if ((j = json_loads(body, 0, NULL)) != NULL &&
	    (code = json_string_value(json_object_get(j, "Code"))) != NULL) {
		text = json_string_value(json_object_get(j, "Message"));
		snprintf(msg, sizeof(msg), "%s: %s", code, text ? text : "");
	} else
		snprintf(msg, sizeof(msg), "HTTP status %ld", status);
	json_decref(j);
	ws_seterr(err, errsize, "%s", msg);
}

/* Turns ws:// and wss:// into http:// and https:// for libcurl. */
static int
ws_urls(const char *url, char **basep, char **targetp, char **hostp)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *path = NULL, *query = NULL, *host = NULL,
	    *port = NULL, *base = NULL;
	int r = LK_ERR_INVALID_FORMAT;
	size_t tl;

	*basep = *targetp = *hostp = NULL;
	if (u == NULL)
		return LK_ERR_ALLOC;
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) !=
	    CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		goto out;
	if (strcmp(scheme, "ws") == 0 || strcmp(scheme, "http") == 0)
		curl_url_set(u, CURLUPART_SCHEME, "http", 0);
	else if (strcmp(scheme, "wss") == 0 || strcmp(scheme, "https") == 0)
		curl_url_set(u, CURLUPART_SCHEME, "https", 0);
	else
		goto out;
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	(void)curl_url_get(u, CURLUPART_QUERY, &query, 0);
	(void)curl_url_get(u, CURLUPART_PORT, &port, 0);
	if (curl_url_get(u, CURLUPART_URL, &base, 0) != CURLUE_OK)
		goto out;
	tl = strlen(path) + (query ? strlen(query) + 1 : 0) + 1;
	r = LK_ERR_ALLOC;
	if ((*targetp = malloc(tl)) == NULL ||
	    (*hostp = malloc(strlen(host) + (port ? strlen(port) : 0) + 2)) ==
	    NULL || (*basep = strdup(base)) == NULL)
		goto out;
	snprintf(*targetp, tl, "%s%s%s", path, query ? "?" : "",
	    query ? query : "");
	snprintf(*hostp, strlen(host) + (port ? strlen(port) : 0) + 2,
	    "%s%s%s", host, port ? ":" : "", port ? port : "");
	r = 0;
 out:
	if (r != 0) {
		free(*basep);
		free(*targetp);
		free(*hostp);
		*basep = *targetp = *hostp = NULL;
	}
	curl_free(scheme);
	curl_free(path);
	curl_free(query);
	curl_free(host);
	curl_free(port);
	curl_free(base);
	curl_url_cleanup(u);
	return r;
}

static int
ws_build_request(const char *target, const char *host, const char *key,
    const char *const *headers, char **reqp)
{
	size_t len = strlen(target) + strlen(host) + 256, i;
	char *req;
	int n;

	for (i = 0; headers != NULL && headers[i] != NULL; i++) {
		if (strpbrk(headers[i], "\r\n") != NULL)
			return LK_ERR_BAD_CHAR;
		len += strlen(headers[i]) + 2;
	}
	if ((req = malloc(len)) == NULL)
		return LK_ERR_ALLOC;
	n = snprintf(req, len, "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
	    target, host, key);
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		n += snprintf(req + n, len - (size_t)n, "%s\r\n", headers[i]);
	snprintf(req + n, len - (size_t)n, "\r\n");
	*reqp = req;
	return 0;
}

/* Reads the answer's header block; what follows it goes to ws->pre. */
static int
ws_read_head(struct lk_ws *ws, char *head, long long deadline)
{
	size_t len = 0, n;
	char *end;
	CURLcode rc;

	for (;;) {
		if (len == WS_HEAD_MAX)
			return LK_ERR_TOO_LONG;
		n = 0;
		rc = curl_easy_recv(ws->curl, head + len, WS_HEAD_MAX - len,
		    &n);
		if (rc == CURLE_AGAIN) {
			if (!ws_wait(ws->fd, POLLIN, deadline))
				return LK_ERR_SYSTEM;
			continue;
		}
		if (rc != CURLE_OK || n == 0)
			return LK_ERR_SYSTEM;
		len += n;
		head[len] = '\0';
		if ((end = strstr(head, "\r\n\r\n")) != NULL)
			break;
	}
	end += 4;
	ws->prelen = len - (size_t)(end - head);
	if (ws->prelen > 0) {
		if ((ws->pre = malloc(ws->prelen)) == NULL)
			return LK_ERR_ALLOC;
		memcpy(ws->pre, end, ws->prelen);
	}
	end[-2] = '\0';	/* the block ends with its last line's CRLF */
	return 0;
}

/*
 * After the 101: the descriptor non-blocking, the lk_wsc on it (plain
 * recv/sendmsg unless TLS is in the way), what was read past the head
 * handed to it, and a copy of the head's header block (the 16 KiB buffer
 * it was read into is not kept).
 */
static int
ws_conn_init(struct lk_ws *ws, const char *base, const char *head)
{
	struct lk_wsc_io io = { ws_curl_recv, ws_curl_send, ws };
	int fl, r;

	if ((ws->head = strdup(head)) == NULL)
		return LK_ERR_ALLOC;
	ws->tls = strncmp(base, "https:", 6) == 0;
	/*
	 * Plain TCP needs nothing more of libcurl: the socket is kept (a
	 * duplicate) and the handle, tens of kilobytes, let go, so that an
	 * idle session costs little.
	 */
	if (!ws->tls) {
		if ((fl = fcntl(ws->fd, F_DUPFD_CLOEXEC, 3)) < 0)
			return LK_ERR_SYSTEM;
		curl_easy_cleanup(ws->curl);
		ws->curl = NULL;
		ws->fd = fl;
	}
	if ((fl = fcntl(ws->fd, F_GETFL)) < 0 ||
	    fcntl(ws->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return LK_ERR_SYSTEM;
	if ((r = lk_wsc_init(&ws->c, ws->fd, LK_WSC_CLIENT,
	    ws->tls ? &io : NULL, ws->pre, ws->prelen)) != 0) {
		ws->c.fd = -1;
		return r;
	}
	free(ws->pre);
	ws->pre = NULL;
	ws->prelen = 0;
	return 0;
}

int
lk_ws_dial(const char *url, const struct lk_ws_opts *o, struct lk_ws **wsp,
    char *err, size_t errsize)
{
	struct lk_ws *ws;
	unsigned char raw[16];
	char *base = NULL, *target = NULL, *host = NULL, *key = NULL,
	    *req = NULL, *head = NULL, accept[LK_WS_ACCEPT_LEN + 1], val[128];
	long timeout = o->timeout_ms > 0 ? o->timeout_ms : 10000, status = 0;
	long long deadline = lk_now_ms() + timeout;
	curl_socket_t sock;
	CURLcode rc;
	int r;

	*wsp = NULL;
	if ((ws = calloc(1, sizeof(*ws))) == NULL)
		return LK_ERR_ALLOC;
	ws->fd = -1;
	ws->c.fd = -1;
	if ((r = ws_urls(url, &base, &target, &host)) != 0) {
		ws_seterr(err, errsize, "not a ws:// or wss:// URL: %s", url);
		goto fail;
	}
	r = LK_ERR_ALLOC;
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw) ||
	    (key = lk_b64_encode(raw, sizeof(raw), 1)) == NULL ||
	    (head = malloc(WS_HEAD_MAX + 1)) == NULL ||
	    (ws->curl = curl_easy_init()) == NULL)
		goto fail;
	if ((r = ws_build_request(target, host, key, o->headers, &req)) != 0)
		goto fail;
	curl_easy_setopt(ws->curl, CURLOPT_URL, base);
	curl_easy_setopt(ws->curl, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(ws->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(ws->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(ws->curl, CURLOPT_CONNECTTIMEOUT_MS, timeout);
	if (o->cacert != NULL && *o->cacert != '\0')
		curl_easy_setopt(ws->curl, CURLOPT_CAINFO, o->cacert);
	if ((rc = curl_easy_perform(ws->curl)) != CURLE_OK ||
	    curl_easy_getinfo(ws->curl, CURLINFO_ACTIVESOCKET, &sock) !=
	    CURLE_OK || sock == CURL_SOCKET_BAD) {
		ws_seterr(err, errsize, "cannot connect: %s",
		    curl_easy_strerror(rc));
		r = LK_ERR_SYSTEM;
		goto fail;
	}
	ws->fd = (int)sock;
	if ((r = ws_send_all(ws, req, strlen(req), deadline)) != 0 ||
	    (r = ws_read_head(ws, head, deadline)) != 0) {
		ws_seterr(err, errsize, "%s", r == LK_ERR_TOO_LONG ?
		    "the server's answer is too long" :
		    "no WebSocket answer from the server");
		goto fail;
	}
	if (strncmp(head, "HTTP/1.", 7) != 0 || head[7] == '\0' ||
	    head[8] != ' ' || head[9] < '1' || head[9] > '5' ||
	    head[10] < '0' || head[10] > '9' || head[11] < '0' ||
	    head[11] > '9' || (head[12] != ' ' && head[12] != '\r')) {
		ws_seterr(err, errsize, "%s", "the server's answer is not HTTP");
		r = LK_ERR_INVALID_FORMAT;
		goto fail;
	}
	status = (head[9] - '0') * 100 + (head[10] - '0') * 10 +
	    (head[11] - '0');
	if (status != 101) {
		ws_refusal(ws, head, status, deadline, err, errsize);
		r = LK_ERR_NOT_FOUND;
		goto fail;
	}
	if (ws_header(head, "Upgrade", val, sizeof(val)) == NULL ||
	    strcasecmp(val, "websocket") != 0 ||
	    ws_header(head, "Sec-WebSocket-Accept", val, sizeof(val)) ==
	    NULL || lk_ws_accept(key, accept) != 0 ||
	    strcmp(val, accept) != 0) {
		ws_seterr(err, errsize, "%s",
		    "the server's WebSocket handshake is wrong");
		r = LK_ERR_INVALID_FORMAT;
		goto fail;
	}
	if ((r = ws_conn_init(ws, base, head)) != 0) {
		ws_seterr(err, errsize, "%s", lk_err(r));
		goto fail;
	}
	*wsp = ws;
	ws = NULL;
	r = 0;
 fail:
	lk_ws_free(ws);
	free(base);
	free(target);
	free(host);
	free(key);
	free(req);
	free(head);
	return r;
}

const char *
lk_ws_resp_header(struct lk_ws *ws, const char *name, char *val, size_t size)
{
	if (ws == NULL || ws->head == NULL || size == 0)
		return NULL;
	return ws_header(ws->head, name, val, size);
}

struct lk_wsc *
lk_ws_conn(struct lk_ws *ws)
{
	return &ws->c;
}

/* Queues a close after what is queued and writes for up to 2 s. */
void
lk_ws_close(struct lk_ws *ws, int code, const char *reason)
{
	long long deadline = lk_now_ms() + WS_CLOSE_WAIT_MS;

	if (ws == NULL || ws->fd < 0)
		return;
	lk_wsc_close(&ws->c, code, reason);
	while (lk_wsc_flush(&ws->c) == 0 && lk_wsc_want_write(&ws->c))
		if (!ws_wait(ws->fd, POLLOUT, deadline))
			break;
}

void
lk_ws_free(struct lk_ws *ws)
{
	if (ws == NULL)
		return;
	if (ws->c.fd >= 0)
		lk_wsc_free(&ws->c);
	if (ws->curl != NULL)
		curl_easy_cleanup(ws->curl);
	else if (ws->fd >= 0)
		close(ws->fd);		/* ours since the handshake */
	free(ws->pre);
	free(ws->head);
	free(ws);
}
