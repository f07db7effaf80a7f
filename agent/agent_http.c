/*
 * HTTP for the agent, with libcurl: one handle per thread that talks to the
 * server (the poller, the reporter, register), reused so that connections
 * are kept alive. Requests carry JSON; answers are read into memory up to
 * the protocol's 1 MiB limit. Only http and https are spoken, redirects
 * are not followed, and TLS certificates are verified (against --cacert
 * when register was given one). The Authorization header holds the
 * instance's credential: it is wiped from memory when the handle is freed
 * and never logged.
 *
 * A handle knows every server URL of the state file (register --server,
 * repeated) and talks to one of them, the current one. The caller says
 * how each request went: agent_http_failover() after a connection failure
 * or a 5xx moves on to the next URL (wrapping around) and tells when a
 * whole round of them has failed, so that the caller backs off only
 * between rounds; agent_http_ok() after a success keeps the current URL.
 * Every answer's Latchkey-Replica header is kept in the agent_resp, so
 * that the caller can tell which replica answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "err.h"
#include "log.h"
#include "nethint.h"

#include "agent.h"

#define AGENT_CONNECT_MS	10000L	/* TCP + TLS handshake */

struct agent_http {
	CURL			*curl;
	struct curl_slist	*hdrs;
	struct curl_slist	*tail;		/* hdrs' last node */
	char			 urls[AGENT_SERVERS_MAX][AGENT_URL_MAX];
	size_t			 nurls;
	size_t			 cur;		/* the URL in use */
	size_t			 failed;	/* in a row, this round */
	char			 cacert[AGENT_URL_MAX];
	int			 (*abortfn)(void);
};


static int
agent_url_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

static int
agent_url_part_empty(CURLU *u, CURLUPart part)
{
	char *v = NULL;
	int empty;

	empty = curl_url_get(u, part, &v, 0) != CURLUE_OK || v == NULL ||
	    v[0] == '\0';
	curl_free(v);
	return empty;
}

/*
 * Checks a server URL given on the command line and writes it to out
 * without a trailing '/': http or https, a host, no user name, query or
 * fragment. On error, says why in why. Returns 0 or LK_ERR_INVALID_FORMAT,
 * LK_ERR_TOO_LONG.
 */
int
agent_url_normalize(const char *in, char *out, size_t outlen, char *why,
    size_t whylen)
{
	CURLU *u = NULL;
	char *scheme = NULL;
	size_t len;
	int r = LK_ERR_INVALID_FORMAT;

	snprintf(why, whylen, "not a URL");
	if (!agent_url_printable(in) || (u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, in, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		snprintf(why, whylen, "the URL must start with http:// or "
		    "https://");
		goto out;
	}
	if (agent_url_part_empty(u, CURLUPART_HOST) ||
	    !agent_url_part_empty(u, CURLUPART_USER) ||
	    !agent_url_part_empty(u, CURLUPART_QUERY) ||
	    !agent_url_part_empty(u, CURLUPART_FRAGMENT)) {
		snprintf(why, whylen, "the URL must have a host and no user "
		    "name, query or fragment");
		goto out;
	}
	len = strlen(in);
	while (len > 0 && in[len - 1] == '/')
		len--;
	if (len + 1 > outlen || len >= AGENT_URL_MAX / 2) {
		snprintf(why, whylen, "the URL is too long");
		r = LK_ERR_TOO_LONG;
		goto out;
	}
	memcpy(out, in, len);
	out[len] = '\0';
	r = 0;
 out:
	curl_free(scheme);
	curl_url_cleanup(u);
	return r;
}

static void
agent_http_wipe_headers(struct curl_slist *l)
{
	for (; l != NULL; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
}

/*
 * A handle for the servers in st, starting with the first; with auth,
 * requests carry the instance's bearer credential. Returns 0 or
 * LK_ERR_ALLOC.
 */
int
agent_http_new(const struct agent_state *st, int auth,
    struct agent_http **hp)
{
	struct agent_http *h;
	struct curl_slist *l;
	char bearer[AGENT_ID_MAX + AGENT_CRED_MAX + 64];
	int r = LK_ERR_ALLOC;

	*hp = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return LK_ERR_ALLOC;
	for (h->nurls = 0; h->nurls < st->nservers &&
	    h->nurls < AGENT_SERVERS_MAX; h->nurls++)
		snprintf(h->urls[h->nurls], sizeof(h->urls[0]), "%s",
		    st->servers[h->nurls]);
	if (h->nurls == 0)	/* a state built by hand: server only */
		snprintf(h->urls[h->nurls++], sizeof(h->urls[0]), "%s",
		    st->server);
	snprintf(h->cacert, sizeof(h->cacert), "%s", st->cacert);
	snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s.%s",
	    st->instance_id, st->credential);
	if ((h->curl = curl_easy_init()) == NULL)
		goto out;
	if ((l = curl_slist_append(NULL, "Content-Type: application/json"))
	    == NULL)
		goto out;
	h->hdrs = l;
	if ((l = curl_slist_append(h->hdrs, "Accept: application/json")) ==
	    NULL || (l = curl_slist_append(h->hdrs, "Expect:")) == NULL ||
	    (auth && (l = curl_slist_append(h->hdrs, bearer)) == NULL))
		goto out;
	for (h->tail = h->hdrs; h->tail->next != NULL; h->tail = h->tail->next)
		;
	*hp = h;
	h = NULL;
	r = 0;
 out:
	explicit_bzero(bearer, sizeof(bearer));
	agent_http_free(h);
	return r;
}

void
agent_http_free(struct agent_http *h)
{
	if (h == NULL)
		return;
	agent_http_wipe_headers(h->hdrs);
	curl_slist_free_all(h->hdrs);
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	free(h);
}

static size_t
agent_http_write(char *p, size_t size, size_t n, void *arg)
{
	struct agent_resp *resp = arg;
	size_t len = size * n;
	char *nb;

	if (len > AGENT_BODY_MAX - resp->len)
		return 0;	/* over the limit: curl fails the transfer */
	if ((nb = realloc(resp->body, resp->len + len + 1)) == NULL)
		return 0;
	memcpy(nb + resp->len, p, len);
	resp->len += len;
	nb[resp->len] = '\0';
	resp->body = nb;
	return len;
}

/* The server URL requests go to now. */
const char *
agent_http_url(const struct agent_http *h)
{
	return h->urls[h->cur];
}

size_t
agent_http_nurls(const struct agent_http *h)
{
	return h->nurls;
}

/*
 * After a connection failure or a 5xx: moves on to the next URL, wrapping
 * around. Returns 1 when every URL has now failed in a row (a round is
 * over: the caller backs off before it goes on), else 0 (the caller may
 * try the next URL at once). With one URL, every failure ends a round.
 */
int
agent_http_failover(struct agent_http *h)
{
	h->cur = (h->cur + 1) % h->nurls;
	if (++h->failed < h->nurls)
		return 0;
	h->failed = 0;
	return 1;
}

/* After an answer worth staying for: a new round starts here. */
void
agent_http_ok(struct agent_http *h)
{
	h->failed = 0;
}

/*
 * Whether a request's outcome (agent_http_do's return value r and resp)
 * calls for the next URL: no answer, or a 5xx.
 */
int
agent_resp_failover(int r, const struct agent_resp *resp)
{
	return r != 0 || resp->status == 0 || resp->status >= 500;
}

/*
 * Keeps the value of a Latchkey-Replica header: 1..AGENT_REPLICA_MAX of
 * [A-Za-z0-9_-] (what latchkeyd's --replica-id allows); anything else is
 * kept as "?", so that a log line cannot be forged through it.
 */
static size_t
agent_http_header(char *p, size_t size, size_t n, void *arg)
{
	static const char name[] = "latchkey-replica:";
	struct agent_resp *resp = arg;
	char *out = resp->replica;
	size_t len = size * n, i, j;

	if (len < sizeof(name) - 1 || strncasecmp(p, name, sizeof(name) - 1)
	    != 0)
		return len;
	for (i = sizeof(name) - 1; i < len && (p[i] == ' ' || p[i] == '\t');
	    i++)
		;
	while (len > i && (p[len - 1] == '\r' || p[len - 1] == '\n' ||
	    p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	for (j = 0; i < len; i++, j++) {
		char c = p[i];

		if (j >= AGENT_REPLICA_MAX || !((c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-'))
			break;
		out[j] = c;
	}
	if (i < len || j == 0)
		j = (size_t)snprintf(out, sizeof(resp->replica), "?");
	out[j] = '\0';
	return size * n;
}

static int
agent_http_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct agent_http *h = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	return h->abortfn != NULL && h->abortfn() ? 1 : 0;
}

static void
agent_http_setopts(struct agent_http *h, const char *url, long timeout_ms,
    struct agent_resp *resp, char *errbuf)
{
	CURL *c = h->curl;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->hdrs);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, AGENT_PROGNAME "/"
	    AGENT_VERSION);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    timeout_ms < AGENT_CONNECT_MS ? timeout_ms : AGENT_CONNECT_MS);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, agent_http_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, agent_http_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if (h->cacert[0] != '\0')
		curl_easy_setopt(c, CURLOPT_CAINFO, h->cacert);
	if (h->abortfn != NULL) {
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION,
		    agent_http_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	}
}

/*
 * One request: method "GET" or "POST" to <current server URL><path>, with
 * body (JSON text, may be NULL), within timeout_ms. When abortfn is not
 * NULL the transfer ends early once it returns non-zero. Returns 0 when
 * the server answered (resp->status says how; resp->body holds the answer,
 * resp->replica its Latchkey-Replica) and LK_ERR_SYSTEM when it did not
 * (resp->err says why), or LK_ERR_TOO_LONG. The caller frees resp with
 * agent_resp_free() in every case.
 */
int
agent_http_do(struct agent_http *h, const char *method, const char *path,
    const char *body, long timeout_ms, int (*abortfn)(void),
    struct agent_resp *resp)
{
	return agent_http_do_hdr(h, method, path, body, NULL, timeout_ms,
	    abortfn, resp);
}

/*
 * agent_http_do() with one more header line hdr ("Name: value", or
 * "Name;" for an empty value: libcurl drops "Name:"), when not NULL.
 * Returns LK_ERR_ALLOC as well.
 */
int
agent_http_do_hdr(struct agent_http *h, const char *method, const char *path,
    const char *body, const char *hdr, long timeout_ms, int (*abortfn)(void),
    struct agent_resp *resp)
{
	char url[AGENT_URL_MAX * 2], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *extra = NULL;
	CURLcode cc;

	memset(resp, 0, sizeof(*resp));
	if ((size_t)snprintf(url, sizeof(url), "%s%s", agent_http_url(h),
	    path) >= sizeof(url))
		return LK_ERR_TOO_LONG;
	if (hdr != NULL && (extra = curl_slist_append(NULL, hdr)) == NULL)
		return LK_ERR_ALLOC;
	h->abortfn = abortfn;
	agent_http_setopts(h, url, timeout_ms, resp, errbuf);
	if (strcmp(method, "POST") == 0) {
		if (body == NULL)
			body = "{}";
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE,
		    (long)strlen(body));
	} else
		curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
	h->tail->next = extra;	/* for this request only */
	cc = curl_easy_perform(h->curl);
	h->tail->next = NULL;
	curl_slist_free_all(extra);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE,
		    &resp->status);
		return 0;
	}
	if (cc == CURLE_WRITE_ERROR)
		snprintf(resp->err, sizeof(resp->err), "answer over %d bytes",
		    AGENT_BODY_MAX);
	else if (cc == CURLE_ABORTED_BY_CALLBACK)
		snprintf(resp->err, sizeof(resp->err), "interrupted");
	else
		lk_net_hint((int)cc, errbuf, h->urls[h->cur], resp->err,
		    sizeof(resp->err));
	resp->status = 0;
	return LK_ERR_SYSTEM;
}

/* agent_http_do() of a POST with a JSON object; LK_ERR_ALLOC as well. */
int
agent_http_post(struct agent_http *h, const char *path, const json_t *body,
    long timeout_ms, int (*abortfn)(void), struct agent_resp *resp)
{
	char *text;
	int r;

	memset(resp, 0, sizeof(*resp));
	if ((text = json_dumps(body, JSON_COMPACT)) == NULL)
		return LK_ERR_ALLOC;
	r = agent_http_do(h, "POST", path, text, timeout_ms, abortfn, resp);
	explicit_bzero(text, strlen(text));	/* may hold a secret */
	free(text);
	return r;
}

void
agent_resp_free(struct agent_resp *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

/* The answer as a JSON object, or NULL when it is not one. */
json_t *
agent_resp_json(const struct agent_resp *resp)
{
	json_t *o;

	if (resp->body == NULL ||
	    (o = json_loadb(resp->body, resp->len, 0, NULL)) == NULL)
		return NULL;
	if (!json_is_object(o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * What went wrong, for a message or a quoted log value: the server's
 * "error", the start of its answer, or why there was no answer; made
 * printable with agent_vis_text().
 */
const char *
agent_resp_error(const struct agent_resp *resp, char *buf, size_t len)
{
	json_t *o;
	const char *e;

	if (resp->status == 0)
		return agent_vis_text(buf, len, resp->err, strlen(resp->err));
	if ((o = agent_resp_json(resp)) != NULL &&
	    (e = json_string_value(json_object_get(o, "error"))) != NULL) {
		agent_vis_text(buf, len, e, strlen(e));
		json_decref(o);
		return buf;
	}
	json_decref(o);
	if (resp->body == NULL)
		return agent_vis_text(buf, len, "(empty answer)", 14);
	return agent_vis_text(buf, len, resp->body, resp->len < 120 ?
	    resp->len : 120);
}
