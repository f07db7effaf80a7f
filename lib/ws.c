/*
 * The WebSocket client of the session tunnel: libcurl opens the connection
 * (CURLOPT_CONNECT_ONLY, so TLS and proxies' name resolution are libcurl's),
 * this file writes the opening handshake and checks the answer, and wslay
 * frames the bytes. lk_ws_bridge() moves a byte stream through it with
 * bounded buffers: a side is only read while what it produced earlier is
 * below LK_WS_HIGH_WATER, so a slow reader slows the writer.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <wslay/wslay.h>

#include "b64.h"
#include "err.h"
#include "util.h"
#include "ws.h"

#define WS_HEAD_MAX	(16 * 1024)	/* the server's handshake answer */
#define WS_BODY_MAX	(8 * 1024)	/* a refusal's body we read */
#define WS_CLOSE_WAIT_MS 5000		/* for the peer's close reply */

struct lk_ws {
	CURL			*curl;
	int			 fd;
	wslay_event_context_ptr	 ctx;
	unsigned char		*pre;	/* read past the handshake */
	size_t			 prelen, preoff;
	int			 broken;	/* the connection failed */
	unsigned char		*obuf;	/* received, not yet written out */
	size_t			 olen, ooff, ocap;
	int			 close_code;	/* from the peer's close frame */
	int			 pend_code;	/* a close to send after the data */
	int			 peer_eof;	/* an empty message: end of stream */
	int			 peer_first;	/* its close came before ours */
	char			 pend_reason[124];
	char			 reason[124];
	uint64_t		 bytes_out;
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

static ssize_t
ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
    void *arg)
{
	struct lk_ws *ws = arg;
	size_t n = 0;
	CURLcode rc;

	(void)flags;
	if (ws->preoff < ws->prelen) {
		n = ws->prelen - ws->preoff;
		if (n > len)
			n = len;
		memcpy(buf, ws->pre + ws->preoff, n);
		ws->preoff += n;
		return (ssize_t)n;
	}
	/* Back-pressure: leave it in the socket while out_fd is behind. */
	if (ws->olen - ws->ooff >= LK_WS_HIGH_WATER) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	rc = curl_easy_recv(ws->curl, buf, len, &n);
	if (rc == CURLE_AGAIN) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (rc != CURLE_OK || n == 0) {
		ws->broken = 1;
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return (ssize_t)n;
}

static ssize_t
ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags, void *arg)
{
	struct lk_ws *ws = arg;
	size_t n = 0;
	CURLcode rc;

	(void)flags;
	rc = curl_easy_send(ws->curl, data, len, &n);
	if (rc == CURLE_AGAIN) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (rc != CURLE_OK) {
		ws->broken = 1;
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return (ssize_t)n;
}

static int
ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    void *arg)
{
	(void)arg;
	if (RAND_bytes(buf, (int)len) != 1) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return 0;
}

static void
ws_msg_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_msg_recv_arg *m, void *arg)
{
	struct lk_ws *ws = arg;
	unsigned char *nb;
	size_t need, cap;

	if (m->opcode == WSLAY_CONNECTION_CLOSE) {
		ws->peer_first = !wslay_event_get_close_sent(ctx);
		ws->close_code = m->status_code ? m->status_code :
		    LK_WS_NORMAL;
		if (m->msg_length > 2) {
			size_t rl = m->msg_length - 2;

			if (rl >= sizeof(ws->reason))
				rl = sizeof(ws->reason) - 1;
			memcpy(ws->reason, m->msg + 2, rl);
			ws->reason[rl] = '\0';
		}
		return;
	}
	if (m->opcode != WSLAY_BINARY_FRAME && m->opcode != WSLAY_TEXT_FRAME)
		return;
	if (m->msg_length == 0) {	/* the peer's end of stream */
		ws->peer_eof = 1;
		return;
	}
	if (ws->ooff > 0 && ws->ooff == ws->olen)
		ws->ooff = ws->olen = 0;
	need = ws->olen + m->msg_length;
	if (need > ws->ocap) {
		if (ws->ooff > 0) {
			memmove(ws->obuf, ws->obuf + ws->ooff,
			    ws->olen - ws->ooff);
			ws->olen -= ws->ooff;
			ws->ooff = 0;
			need = ws->olen + m->msg_length;
		}
		if (need > ws->ocap) {
			cap = ws->ocap ? ws->ocap : LK_WS_CHUNK;
			while (cap < need)
				cap *= 2;
			if ((nb = realloc(ws->obuf, cap)) == NULL) {
				wslay_event_queue_close(ctx, LK_WS_INTERNAL,
				    NULL, 0);
				return;
			}
			ws->obuf = nb;
			ws->ocap = cap;
		}
	}
	memcpy(ws->obuf + ws->olen, m->msg, m->msg_length);
	ws->olen += m->msg_length;
}

static const struct wslay_event_callbacks ws_callbacks = {
	.recv_callback = ws_recv_cb,
	.send_callback = ws_send_cb,
	.genmask_callback = ws_genmask_cb,
	.on_msg_recv_callback = ws_msg_cb,
};

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
	ws->close_code = LK_WS_ABNORMAL;
	if ((r = ws_urls(url, &base, &target, &host)) != 0) {
		ws_seterr(err, errsize, "not a ws:// or wss:// URL: %s", url);
		goto fail;
	}
	r = LK_ERR_ALLOC;
	if (RAND_bytes(raw, sizeof(raw)) != 1 ||
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
	if (wslay_event_context_client_init(&ws->ctx, &ws_callbacks, ws) !=
	    0) {
		r = LK_ERR_ALLOC;
		goto fail;
	}
	wslay_event_config_set_max_recv_msg_length(ws->ctx, LK_WS_MSG_MAX);
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

/* Writes what waits in obuf to out_fd; 0, or -1 when out_fd is gone. */
static int
ws_flush_some(struct lk_ws *ws, int out_fd)
{
	ssize_t n;

	while (ws->ooff < ws->olen) {
		n = write(out_fd, ws->obuf + ws->ooff, ws->olen - ws->ooff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		ws->ooff += (size_t)n;
		ws->bytes_out += (uint64_t)n;
	}
	return 0;
}

/* At the end: everything received goes out before we return. */
static void
ws_flush_all(struct lk_ws *ws, int out_fd)
{
	long long deadline = lk_now_ms() + WS_CLOSE_WAIT_MS;

	while (ws->ooff < ws->olen) {
		if (ws_flush_some(ws, out_fd) != 0)
			return;
		if (ws->ooff < ws->olen && !ws_wait(out_fd, POLLOUT, deadline))
			return;
	}
}

void
lk_ws_close(struct lk_ws *ws, int code, const char *reason)
{
	long long deadline = lk_now_ms() + WS_CLOSE_WAIT_MS;
	size_t rl = reason ? strlen(reason) : 0;

	if (ws == NULL || ws->ctx == NULL)
		return;
	if (rl > 122)
		rl = 122;
	(void)wslay_event_queue_close(ws->ctx, (uint16_t)code,
	    (const uint8_t *)reason, rl);
	while (!ws->broken && wslay_event_want_write(ws->ctx)) {
		if (wslay_event_send(ws->ctx) != 0)
			break;
		if (wslay_event_want_write(ws->ctx) &&
		    !ws_wait(ws->fd, POLLOUT, deadline))
			break;
	}
}

/*
 * Asks for a close after the messages already queued (wslay would send a
 * control frame ahead of them); ws_close_flush() queues it when they are
 * gone.
 */
static void
ws_queue_close(struct lk_ws *ws, int code, const char *reason)
{
	if (ws->pend_code == 0 && !wslay_event_get_close_sent(ws->ctx)) {
		ws->pend_code = code;
		snprintf(ws->pend_reason, sizeof(ws->pend_reason), "%s",
		    reason ? reason : "");
	}
}

static void
ws_close_flush(struct lk_ws *ws)
{
	size_t rl = strlen(ws->pend_reason);

	if (ws->pend_code == 0 || wslay_event_get_close_sent(ws->ctx) ||
	    wslay_event_get_queued_msg_count(ws->ctx) > 0)
		return;
	(void)wslay_event_queue_close(ws->ctx, (uint16_t)ws->pend_code,
	    (const uint8_t *)ws->pend_reason, rl > 122 ? 122 : rl);
}

int
lk_ws_bridge(struct lk_ws *ws, int in_fd, int out_fd, int stop_fd,
    struct lk_ws_end *end)
{
	unsigned char *buf;
	struct pollfd p[4];
	struct wslay_event_msg msg;
	long long close_deadline = 0;
	int in_eof = 0, out_gone = 0, out_shut = 0, code = 0, nfd, iw, is;
	int r;
	short ev;
	ssize_t n;

	memset(end, 0, sizeof(*end));
	if ((buf = malloc(LK_WS_CHUNK)) == NULL)
		return LK_ERR_ALLOC;
	for (;;) {
		/* Take in what the socket has while out_fd keeps up. */
		if (!ws->broken && wslay_event_want_read(ws->ctx) &&
		    wslay_event_recv(ws->ctx) != 0)
			ws->broken = 1;
		if (!out_gone && ws_flush_some(ws, out_fd) != 0) {
			out_gone = 1;
			ws->ooff = ws->olen = 0;
			ws_queue_close(ws, LK_WS_NORMAL, "");
		}
		/*
		 * The peer's end of stream: once what came before it is
		 * written, out_fd ends too (a socket is shut down for
		 * writing, anything else closed). Both ends done: close.
		 */
		if (ws->peer_eof && !out_shut && !out_gone &&
		    ws->ooff == ws->olen) {
			out_shut = 1;
			if (shutdown(out_fd, SHUT_WR) != 0 && in_fd != out_fd)
				close(out_fd);
		}
		if (in_eof && ws->peer_eof && (out_shut || out_gone))
			ws_queue_close(ws, LK_WS_NORMAL, "");
		ws_close_flush(ws);
		if (!ws->broken && wslay_event_want_write(ws->ctx) &&
		    wslay_event_send(ws->ctx) != 0)
			ws->broken = 1;
		ws_close_flush(ws);
		if (!ws->broken && wslay_event_want_write(ws->ctx) &&
		    wslay_event_send(ws->ctx) != 0)
			ws->broken = 1;
		if (ws->broken)
			break;
		if (wslay_event_get_close_received(ws->ctx) &&
		    !wslay_event_want_write(ws->ctx))
			break;
		if (!wslay_event_want_read(ws->ctx) &&
		    !wslay_event_want_write(ws->ctx))
			break;
		if (wslay_event_get_close_sent(ws->ctx) || ws->pend_code) {
			if (close_deadline == 0)
				close_deadline = lk_now_ms() +
				    WS_CLOSE_WAIT_MS;
			else if (lk_now_ms() > close_deadline)
				break;
		}
		nfd = 0;
		ev = 0;
		if (wslay_event_want_read(ws->ctx) &&
		    ws->olen - ws->ooff < LK_WS_HIGH_WATER)
			ev |= POLLIN;
		if (wslay_event_want_write(ws->ctx))
			ev |= POLLOUT;
		p[nfd++] = (struct pollfd){ .fd = ws->fd, .events = ev };
		iw = is = -1;
		if (!in_eof && !wslay_event_get_close_sent(ws->ctx) &&
		    ws->pend_code == 0 &&
		    wslay_event_get_queued_msg_length(ws->ctx) <
		    LK_WS_HIGH_WATER) {
			iw = nfd;
			p[nfd++] = (struct pollfd){ .fd = in_fd,
			    .events = POLLIN };
		}
		if (!out_gone && !out_shut && ws->ooff < ws->olen) {
			if (iw >= 0 && in_fd == out_fd)
				p[iw].events |= POLLOUT;
			else
				p[nfd++] = (struct pollfd){ .fd = out_fd,
				    .events = POLLOUT };
		}
		if (stop_fd >= 0) {
			is = nfd;
			p[nfd++] = (struct pollfd){ .fd = stop_fd,
			    .events = POLLIN };
		}
		r = poll(p, (nfds_t)nfd, close_deadline ? 200 : -1);
		if (r < 0 && errno != EINTR) {
			ws->broken = 1;
			break;
		}
		if (r <= 0)
			continue;
		if (is >= 0 && p[is].revents != 0) {
			ws_queue_close(ws, LK_WS_GOING_AWAY, "stopping");
			stop_fd = -1;
		}
		if (iw >= 0 && (p[iw].revents & (POLLIN | POLLHUP | POLLERR))) {
			n = read(in_fd, buf, LK_WS_CHUNK);
			if (n > 0) {
				msg.opcode = WSLAY_BINARY_FRAME;
				msg.msg = buf;
				msg.msg_length = (size_t)n;
				if (wslay_event_queue_msg(ws->ctx, &msg) != 0) {
					ws->broken = 1;
					break;
				}
				end->bytes_in += (uint64_t)n;
			} else if (n == 0 || (errno != EAGAIN &&
			    errno != EWOULDBLOCK && errno != EINTR)) {
				/* End of stream: an empty message says so. */
				in_eof = 1;
				msg.opcode = WSLAY_BINARY_FRAME;
				msg.msg = buf;
				msg.msg_length = 0;
				if (wslay_event_queue_msg(ws->ctx, &msg) != 0) {
					ws->broken = 1;
					break;
				}
			}
		}
	}
	free(buf);
	if (!out_gone && !out_shut)
		ws_flush_all(ws, out_fd);
	end->bytes_out = ws->bytes_out;
	if (wslay_event_get_close_received(ws->ctx)) {
		code = ws->close_code;
		end->by_peer = ws->peer_first;
		snprintf(end->reason, sizeof(end->reason), "%s", ws->reason);
	} else if (wslay_event_get_close_sent(ws->ctx) && !ws->broken) {
		code = wslay_event_get_status_code_sent(ws->ctx);
	} else
		code = LK_WS_ABNORMAL;
	end->code = code;
	return code == LK_WS_NORMAL ? 0 : LK_ERR_SYSTEM;
}

void
lk_ws_free(struct lk_ws *ws)
{
	if (ws == NULL)
		return;
	if (ws->ctx != NULL)
		wslay_event_context_free(ws->ctx);
	if (ws->curl != NULL)
		curl_easy_cleanup(ws->curl);
	free(ws->pre);
	free(ws->obuf);
	free(ws);
}
