/*
 * The operator's listener, apart from the API (--metrics-listen, loopback
 * by default): GET /metrics (Prometheus text format 0.0.4) and GET
 * /healthz (200 "ok" when the database answers a trivial query and the
 * API listener serves; 503 and the reason otherwise). One libmicrohttpd
 * thread: scrapes and probes are few, and a slow database holds only
 * them up, never the API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "db.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "longpoll.h"
#include "metrics.h"
#include "store.h"

static struct MHD_Daemon *metrics_daemon;

static enum MHD_Result
metrics_answer(struct MHD_Connection *c, unsigned int status,
    const char *type, char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, body,
	    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The body of /healthz, and its status. */
static unsigned int
metrics_health(char **bodyp)
{
	const char *why = NULL;
	int v, want, r;

	if (!http_serving())
		why = "api listener: not serving";
	else if ((r = store_schema_version(&v, &want)) != 0)
		why = "database: not answering";
	if (asprintf(bodyp, "%s\n", why != NULL ? why : "ok") == -1)
		*bodyp = NULL;
	return why != NULL ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK;
}

static enum MHD_Result
metrics_access(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_len, void **ctx)
{
	char *body = NULL;
	unsigned int status;
	size_t len = 0;

	(void)cls;
	(void)version;
	(void)upload;
	if (*ctx == NULL) {		/* headers only, so far */
		*ctx = c;
		return MHD_YES;
	}
	if (*upload_len != 0)
		return MHD_NO;		/* no bodies here */
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return metrics_answer(c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "text/plain", strdup("GET only\n"), 9);
	if (strcmp(url, "/metrics") == 0) {
		body = metrics_render(longpoll_parked(), lkdb_errors(), &len);
		if (body == NULL)
			return MHD_NO;
		return metrics_answer(c, MHD_HTTP_OK,
		    "text/plain; version=0.0.4; charset=utf-8", body, len);
	}
	if (strcmp(url, "/healthz") == 0) {
		status = metrics_health(&body);
		if (body == NULL)
			return MHD_NO;
		return metrics_answer(c, status, "text/plain; charset=utf-8",
		    body, strlen(body));
	}
	return metrics_answer(c, MHD_HTTP_NOT_FOUND, "text/plain",
	    strdup("/metrics or /healthz\n"), 21);
}

static void
metrics_log_cb(void *cls, const char *fm, va_list ap)
{
	char msg[256];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fm, ap);
	n = strcspn(msg, "\r\n\"\\");
	msg[n] = '\0';
	log_warnx("metrics http error detail=\"%s\"", msg);
}

int
metrics_start(const char *listen, int optional)
{
	int fd;

	if (listen == NULL || strcmp(listen, "off") == 0)
		return 0;
	if ((fd = http_bind_addr(listen)) == -1) {
		if (!optional)
			return LK_ERR_SYSTEM;
		log_warnx("metrics off: nothing serves /metrics and /healthz "
		    "(give --metrics-listen ADDR:PORT or off)");
		return 0;
	}
	metrics_daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_POLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, metrics_access,
	    NULL, MHD_OPTION_EXTERNAL_LOGGER, metrics_log_cb, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_CONNECTION_LIMIT, 64u,
	    MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (metrics_daemon == NULL) {
		log_warnx("cannot serve metrics on %s", listen);
		close(fd);
		return LK_ERR_SYSTEM;
	}
	log_info("metrics serving listen=%s", listen);
	return 0;
}

void
metrics_stop(void)
{
	if (metrics_daemon != NULL)
		MHD_stop_daemon(metrics_daemon);
	metrics_daemon = NULL;
}
