/*
 * HTTP for latchkeyd with libmicrohttpd: one thread per connection (the
 * agents' long polls block in their handler), bodies bounded by
 * LKD_BODY_MAX, the raw request URI kept for signature checks, and routing
 * to the API (path "/") or the agent endpoints ("/agent/v1/...").
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "agentd.h"
#include "api.h"
#include "console.h"
#include "err.h"
#include "fsutil.h"
#include "http.h"
#include "log.h"
#include "relay.h"

#define HTTP_MAX_HEADERS	LK_SIG_V3_MAX_HEADERS
#define HTTP_CONN_LIMIT		16384	/* each agent holds one */
#define HTTP_STACK_SIZE		(256 * 1024)

struct http_req {
	char			*uri;		/* raw, with the query */
	int			 started;
	char			*body;
	size_t			 bodylen;
	int			 too_large;
	struct lk_sig_header	 headers[HTTP_MAX_HEADERS];
	size_t			 nheaders;
	int			 too_many_headers;
};

static struct MHD_Daemon *http_daemon;
static char *http_cert, *http_key;

static void *
http_uri_cb(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct http_req *hr;

	(void)cls;
	(void)c;
	if ((hr = calloc(1, sizeof(*hr))) == NULL)
		return NULL;
	if ((hr->uri = strdup(uri)) == NULL) {
		free(hr);
		return NULL;
	}
	return hr;
}

static void
http_completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_req *hr = *con_cls;
	size_t i;

	(void)cls;
	(void)c;
	(void)toe;
	if (hr == NULL)
		return;
	for (i = 0; i < hr->nheaders; i++) {
		free((char *)(uintptr_t)hr->headers[i].name);
		free((char *)(uintptr_t)hr->headers[i].value);
	}
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
	char *name;
	size_t i;

	(void)kind;
	if (hr->nheaders == HTTP_MAX_HEADERS) {
		hr->too_many_headers = 1;
		return MHD_YES;
	}
	if ((name = strdup(key)) == NULL)
		return MHD_NO;
	for (i = 0; name[i] != '\0'; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			name[i] = (char)(name[i] - 'A' + 'a');
	hr->headers[hr->nheaders].name = name;
	hr->headers[hr->nheaders++].value = strdup(value ? value : "");
	return MHD_YES;
}

static enum MHD_Result
http_send(struct MHD_Connection *c, int status, char *body)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	static const char fallback[] = "{\"Code\":\"InternalError\"}";

	if (body == NULL) {
		status = 500;
		resp = MHD_create_response_from_buffer(sizeof(fallback) - 1,
		    (void *)(uintptr_t)fallback, MHD_RESPMEM_PERSISTENT);
	} else
		resp = MHD_create_response_from_buffer(strlen(body), body,
		    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type",
	    "application/json;charset=utf-8");
	ret = MHD_queue_response(c, (unsigned int)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The console's answer, with its own content type and headers. */
static enum MHD_Result
http_send_console(struct MHD_Connection *c, struct http_req *hr,
    const char *method, const char *path)
{
	const union MHD_ConnectionInfo *ci;
	struct console_req req;
	struct console_resp resp;
	struct MHD_Response *r;
	enum MHD_Result ret = MHD_NO;
	char client[INET6_ADDRSTRLEN] = "-";
	const struct sockaddr *sa;
	size_t i;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci != NULL && (sa = ci->client_addr) != NULL)
		inet_ntop(sa->sa_family, sa->sa_family == AF_INET6 ?
		    (const void *)&((const struct sockaddr_in6 *)(const void *)
		    sa)->sin6_addr : (const void *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr, client, sizeof(client));
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path + 8;			/* after "/console" */
	req.headers = hr->headers;
	req.nheaders = hr->nheaders;
	req.body = hr->body ? hr->body : "";
	req.bodylen = hr->bodylen;
	req.client = client;
	req.tls = http_cert != NULL;
	console_handle(&req, &resp);
	r = MHD_create_response_from_buffer(resp.bodylen, resp.body,
	    MHD_RESPMEM_MUST_COPY);
	if (r != NULL) {
		MHD_add_response_header(r, "Content-Type", resp.content_type);
		for (i = 0; i < resp.nheaders; i++)
			MHD_add_response_header(r, resp.headers[i].name,
			    resp.headers[i].value);
		ret = MHD_queue_response(c, (unsigned int)resp.status, r);
		MHD_destroy_response(r);
	}
	console_resp_free(&resp);
	return ret;
}

static int
http_route(struct MHD_Connection *c, struct http_req *hr, const char *method,
    char **bodyp)
{
	struct api_req req;
	char *q = strchr(hr->uri, '?'), *path;
	const char *query = q ? q + 1 : "";
	size_t plen = q ? (size_t)(q - hr->uri) : strlen(hr->uri);
	int status;

	(void)c;
	if ((path = strndup(hr->uri, plen)) == NULL)
		return 500;
	if (strncmp(path, "/agent/v1/", 10) == 0) {
		status = agentd_handle(method, path + 10, query, hr->headers,
		    hr->nheaders, hr->body ? hr->body : "", hr->bodylen, bodyp);
	} else if (strcmp(path, "/") == 0 && (strcmp(method, "GET") == 0 ||
	    strcmp(method, "POST") == 0)) {
		memset(&req, 0, sizeof(req));
		req.method = method;
		req.raw_query = query;
		req.body = hr->body ? hr->body : "";
		req.bodylen = hr->bodylen;
		req.headers = hr->headers;
		req.nheaders = hr->nheaders;
		req.content_type = MHD_lookup_connection_value(c,
		    MHD_HEADER_KIND, "Content-Type");
		status = api_handle(&req, bodyp);
		api_req_free(&req);
	} else {
		status = 404;
		*bodyp = strdup("{\"Code\":\"NotFound\",\"Message\":"
		    "\"No such path.\"}");
	}
	free(path);
	return status;
}

/* The WebSocket paths of the session relay. */
static int
http_is_session(const char *uri)
{
	size_t n = strcspn(uri, "?");

	return (n == 8 && strncmp(uri, "/session", 8) == 0) ||
	    (n > 18 && strncmp(uri, "/agent/v1/session/", 18) == 0);
}

static enum MHD_Result
http_session(struct MHD_Connection *c, struct http_req *hr, const char *method)
{
	struct MHD_Response *resp = NULL;
	char *q = strchr(hr->uri, '?'), *path, *body = NULL;
	enum MHD_Result ret;
	int status;

	if ((path = strndup(hr->uri, q ? (size_t)(q - hr->uri) :
	    strlen(hr->uri))) == NULL)
		return MHD_NO;
	status = relay_http(c, path, q ? q + 1 : "", method, hr->headers,
	    hr->nheaders, &resp, &body);
	free(path);
	if (resp == NULL)
		return http_send(c, status, body);
	ret = MHD_queue_response(c, (unsigned int)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
http_access_cb(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http_req *hr = *con_cls;
	char *body = NULL, *nb;
	int status;

	(void)cls;
	(void)url;
	(void)version;
	if (hr == NULL)
		return MHD_NO;
	if (!hr->started) {
		hr->started = 1;
		MHD_get_connection_values(c, MHD_HEADER_KIND, http_header_cb,
		    hr);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (hr->too_large || hr->bodylen + *upload_data_size >
		    LKD_BODY_MAX) {
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
	if (hr->too_large || hr->too_many_headers) {
		status = 413;
		body = strdup("{\"Code\":\"InvalidParameter\",\"Message\":"
		    "\"The request is too large.\"}");
	} else if (strncmp(hr->uri, "/console", 8) == 0 &&
	    strchr("/?", hr->uri[8]) != NULL) {
		char *path = strndup(hr->uri, strcspn(hr->uri, "?"));
		enum MHD_Result ret = MHD_NO;

		if (path != NULL)
			ret = http_send_console(c, hr, method, path);
		free(path);
		return ret;
	} else if (http_is_session(hr->uri))
		return http_session(c, hr, method);
	else
		status = http_route(c, hr, method, &body);
	return http_send(c, status, body);
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
http_start(const char *listen, const char *cert, const char *key)
{
	struct sockaddr_storage ss;
	/* poll(), not select(): no FD_SETSIZE ceiling on connections. */
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG |
	    MHD_ALLOW_UPGRADE;
	size_t len;
	int r;

	if ((r = http_parse_addr(listen, &ss)) != 0) {
		log_warnx("--listen %s: expected ADDRESS:PORT", listen);
		return r;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (cert != NULL || key != NULL) {
		if (cert == NULL || key == NULL ||
		    (r = lk_fs_read(cert, 1024 * 1024, &http_cert, &len)) != 0 ||
		    (r = lk_fs_read(key, 1024 * 1024, &http_key, &len)) != 0) {
			log_warnx("TLS needs both --tls-cert and --tls-key, "
			    "readable");
			return r ? r : LK_ERR_INVALID_FORMAT;
		}
		flags |= MHD_USE_TLS;
	}
	http_daemon = MHD_start_daemon(flags, 0, NULL, NULL, http_access_cb,
	    NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_URI_LOG_CALLBACK, http_uri_cb, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed_cb, NULL,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_CONN_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
	    MHD_OPTION_THREAD_STACK_SIZE, (size_t)HTTP_STACK_SIZE,
	    cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, http_cert,
	    MHD_OPTION_HTTPS_MEM_KEY, http_key, MHD_OPTION_END);
	if (http_daemon == NULL) {
		log_warnx("cannot listen on %s", listen);
		return LK_ERR_SYSTEM;
	}
	return 0;
}

void
http_stop(void)
{
	if (http_daemon != NULL)
		MHD_stop_daemon(http_daemon);
	http_daemon = NULL;
	free(http_cert);
	free(http_key);
}
