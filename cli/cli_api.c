/*
 * Signed calls to the ECS OpenAPI: every action is a POST to "/" with the
 * parameters in an application/x-www-form-urlencoded body, as
 * @alicloud/pop-core sends them with method POST, signed with signature
 * 1.0 (HMAC-SHA1 over the sorted, percent-encoded parameters; lib/sig.c).
 *
 * One libcurl handle serves every call of the process (keep-alive), with a
 * 5 s connect and 30 s total limit per request and a bounded answer. The
 * answer is JSON; an error answer {"Code","Message","RequestId"} is turned
 * into a struct cli_apierr, and cli_api_fail() says in plain words what
 * it means before it shows the server's own words.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cli.h"
#include "err.h"
#include "nethint.h"
#include "sig.h"

/* Answer bytes: a recording (16 MiB by default) escaped twice fits. */
#define API_BODY_MAX		(96 * 1024 * 1024)
#define API_CONNECT_TIMEOUT	5L			/* seconds */
#define API_TOTAL_TIMEOUT	30L			/* seconds */
#define API_STS_MARK		"string to sign is:"

struct api_buf {
	char	*p;
	size_t	 len;
	int	 toolong;
};

void
cli_req_init(struct cli_req *q)
{
	memset(q, 0, sizeof(*q));
}

/* Appends a copy of name=value; a failure is remembered in q->err. */
void
cli_req_add(struct cli_req *q, const char *name, const char *value)
{
	struct lk_param *p;

	if (q->err != 0)
		return;
	if (q->n >= CLI_REQ_PARAMS) {
		q->err = LK_ERR_TOO_LONG;
		return;
	}
	p = &q->v[q->n];
	if ((p->name = strdup(name)) == NULL ||
	    (p->value = strdup(value)) == NULL) {
		free(p->name);
		p->name = NULL;
		q->err = LK_ERR_ALLOC;
		return;
	}
	q->n++;
}

void
cli_req_addf(struct cli_req *q, const char *name, const char *fmt, ...)
{
	va_list ap;
	char *v;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&v, fmt, ap);
	va_end(ap);
	if (r == -1) {
		q->err = LK_ERR_ALLOC;
		return;
	}
	cli_req_add(q, name, v);
	free(v);
}

void
cli_req_free(struct cli_req *q)
{
	size_t i;

	for (i = 0; i < q->n; i++) {
		free(q->v[i].name);
		free(q->v[i].value);
	}
	q->n = 0;
}

/* A random SignatureNonce, a UUID (v4) like latchkeyd's request ids. */
static int
api_nonce(char out[37])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t i, o = 0;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0xf];
	}
	out[o] = '\0';
	return 0;
}

static size_t
api_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct api_buf *b = arg;
	size_t n = size * nmemb;
	char *np;

	if (n > API_BODY_MAX - b->len) {
		b->toolong = 1;
		return 0;	/* curl stops with CURLE_WRITE_ERROR */
	}
	if ((np = realloc(b->p, b->len + n + 1)) == NULL)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/*
 * lk_param holds non-const strings because lib/params.c owns what it
 * parses; here the list only borrows, and lib/sig.c does not write.
 */
static void
api_set(struct lk_param *p, const char *name, const char *value)
{
	p->name = (char *)(uintptr_t)name;
	p->value = (char *)(uintptr_t)value;
}

/* Appends "&name=value" (or "name=value" first), encoded, to *bp. */
static int
api_body_add(char **bp, size_t *lenp, const char *name, const char *value)
{
	char *n = lk_params_encode(name, strlen(name));
	char *v = lk_params_encode(value, strlen(value));
	char *nb = NULL;
	size_t need;
	int r = LK_ERR_ALLOC;

	if (n == NULL || v == NULL)
		goto out;
	need = *lenp + strlen(n) + strlen(v) + 3;
	if ((nb = realloc(*bp, need)) == NULL)
		goto out;
	*bp = nb;
	*lenp += (size_t)snprintf(nb + *lenp, need - *lenp, "%s%s=%s",
	    *lenp > 0 ? "&" : "", n, v);
	r = 0;
 out:
	free(n);
	free(v);
	return r;
}

/*
 * The common parameters plus the action's, the signature over all of
 * them, and the encoded body. *stsp is the string that was signed.
 */
static int
api_body(struct cli *c, const char *action, struct cli_req *q, char **bodyp,
    char **stsp)
{
	struct lk_params all;
	struct lk_param v[LK_PARAMS_MAX];
	char nonce[37], ts[32], sig[LK_SIG_V1_SIZE];
	size_t i = 0, k, len = 0;
	time_t now = time(NULL);
	struct tm tm;
	int r;

	*bodyp = *stsp = NULL;
	if (api_nonce(nonce) != 0 || gmtime_r(&now, &tm) == NULL)
		return LK_ERR_INTERNAL;
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	api_set(&v[i++], "Action", action);
	api_set(&v[i++], "Version", CLI_API_VERSION);
	api_set(&v[i++], "Format", "JSON");
	api_set(&v[i++], "AccessKeyId", c->prof.access_key_id);
	api_set(&v[i++], "SignatureMethod", "HMAC-SHA1");
	api_set(&v[i++], "SignatureVersion", "1.0");
	api_set(&v[i++], "SignatureNonce", nonce);
	api_set(&v[i++], "Timestamp", ts);
	api_set(&v[i++], "RegionId", c->prof.region_id);
	for (k = 0; k < q->n; k++)
		v[i++] = q->v[k];
	all.v = v;
	all.n = i;
	if ((r = lk_sig_v1_string_to_sign("POST", &all, stsp)) != 0 ||
	    (r = lk_sig_v1_compute(c->prof.access_key_secret, *stsp, sig)) != 0)
		return r;
	api_set(&v[i++], "Signature", sig);
	for (k = 0; k < i; k++)
		if ((r = api_body_add(bodyp, &len, v[k].name, v[k].value)) != 0)
			return r;
	return 0;
}

/* Reads Code/Message/RequestId of an answer into e; 1 if it is an error. */
static int
api_error_of(json_t *resp, long http, struct cli_apierr *e)
{
	static const char *const ok[] = { "200", "OK", "Success", "success" };
	json_t *code = json_object_get(resp, "Code");
	const char *s;
	size_t i;

	if ((s = cli_jstr(resp, "RequestId")) != NULL)
		snprintf(e->request_id, sizeof(e->request_id), "%s", s);
	if (json_is_integer(code) && json_integer_value(code) == 200)
		code = NULL;
	if (json_is_string(code))
		for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
			if (strcmp(json_string_value(code), ok[i]) == 0)
				code = NULL;
	if (code == NULL && http < 400)
		return 0;
	snprintf(e->code, sizeof(e->code), "%s", json_is_string(code) ?
	    json_string_value(code) : "HTTP");
	if ((s = cli_jstr(resp, "Message")) != NULL)
		snprintf(e->message, sizeof(e->message), "%s", s);
	else
		snprintf(e->message, sizeof(e->message), "HTTP status %ld",
		    http);
	return 1;
}

static int
api_curl_setup(struct cli *c)
{
	CURL *h;

	if (c->curl != NULL)
		return 0;
	if ((h = curl_easy_init()) == NULL)
		return -1;
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, API_CONNECT_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, API_TOTAL_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_USERAGENT, "latchkey/" CLI_VERSION);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, api_write_cb);
	if (c->prof.cacert != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->prof.cacert);
	c->curl = h;
	return 0;
}

/*
 * POSTs body to the endpoint; b gets the answer (the caller frees
 * b->p). Returns 0, or -1 with e->message saying why.
 */
static int
api_perform(struct cli *c, const char *action, const char *body,
    struct api_buf *b, struct cli_apierr *e)
{
	struct curl_slist *hdrs = NULL;
	char url[2048], hdr[256], errbuf[CURL_ERROR_SIZE] = "";
	struct timespec t0, t1;
	CURLcode cr;
	int r = -1;

	if (api_curl_setup(c) != 0) {
		snprintf(e->message, sizeof(e->message), "cannot start libcurl");
		return -1;
	}
	snprintf(url, sizeof(url), "%s/", c->prof.endpoint);
	snprintf(hdr, sizeof(hdr), "x-acs-action: %s", action);
	if ((hdrs = curl_slist_append(hdrs, "Content-Type: "
	    "application/x-www-form-urlencoded")) == NULL ||
	    (hdrs = curl_slist_append(hdrs, hdr)) == NULL ||
	    (hdrs = curl_slist_append(hdrs, "x-acs-version: "
	    CLI_API_VERSION)) == NULL ||
	    (hdrs = curl_slist_append(hdrs, "Expect:")) == NULL) {
		snprintf(e->message, sizeof(e->message), "out of memory");
		goto out;
	}
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr = curl_easy_perform(c->curl);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
	if (cr != CURLE_OK) {
		e->curl = (int)cr;
		if (b->toolong)
			snprintf(e->message, sizeof(e->message),
			    "the answer is too large");
		else
			lk_net_hint((int)cr, errbuf, c->prof.endpoint,
			    e->message, sizeof(e->message));
		goto out;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &e->http);
	cli_info(c, "%s: HTTP %ld in %ld ms", action, e->http,
	    (long)((t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000));
	r = 0;
 out:
	curl_slist_free_all(hdrs);
	return r;
}

/*
 * Calls action with q's parameters. On success *respp (may be NULL) is
 * the answer, which the caller frees with json_decref. On failure, e says
 * why and the return is CLI_EX_API (the server answered with an error) or
 * CLI_EX_NET (no usable answer). q is left as it was.
 */
int
cli_api_call(struct cli *c, const char *action, struct cli_req *q,
    json_t **respp, struct cli_apierr *e)
{
	struct api_buf b = { NULL, 0, 0 };
	char *body = NULL, *sts = NULL;
	const char *msg, *theirs;
	json_t *resp = NULL;
	json_error_t jerr;
	int r = CLI_EX_NET;

	memset(e, 0, sizeof(*e));
	if (respp != NULL)
		*respp = NULL;
	if (q->err != 0 || api_body(c, action, q, &body, &sts) != 0) {
		snprintf(e->message, sizeof(e->message), "cannot build the "
		    "request: %s", lk_err(q->err != 0 ? q->err : LK_ERR_ALLOC));
		goto out;
	}
	if (api_perform(c, action, body, &b, e) != 0)
		goto out;
	if ((resp = json_loadb(b.p ? b.p : "", b.len, 0, &jerr)) == NULL ||
	    !json_is_object(resp)) {
		snprintf(e->message, sizeof(e->message), "the answer (HTTP "
		    "%ld) is not a JSON object: %.200s", e->http,
		    b.p ? b.p : "");
		goto out;
	}
	r = CLI_EX_API;
	if (api_error_of(resp, e->http, e)) {
		/* The Python and Go SDKs tell a wrong secret this way, too. */
		if (strcmp(e->code, "SignatureDoesNotMatch") == 0 &&
		    (msg = cli_jstr(resp, "Message")) != NULL &&
		    (theirs = strstr(msg, API_STS_MARK)) != NULL)
			e->secret_wrong = strcmp(theirs + strlen(API_STS_MARK),
			    sts) == 0;
		goto out;
	}
	r = 0;
	if (respp != NULL) {
		*respp = resp;
		resp = NULL;
	}
 out:
	json_decref(resp);
	free(b.p);
	free(body);
	free(sts);
	return r;
}

/* Plain words for the codes a user meets; NULL for the others. */
static const char *
api_explain(struct cli *c, const struct cli_apierr *e, char *buf, size_t size)
{
	const char *code = e->code;

	if (strcmp(code, "SignatureDoesNotMatch") == 0) {
		if (e->secret_wrong)
			return "the access key secret is wrong (fix it with "
			    "'latchkey configure' or ALIBABA_CLOUD_ACCESS_KEY_"
			    "SECRET)";
		return "the signature did not match the request the server "
		    "received: something between latchkey and the server "
		    "changed the request, or the access key secret is wrong";
	}
	if (strcmp(code, "InvalidAccessKeyId.NotFound") == 0) {
		snprintf(buf, size, "the access key id %s is not known to %s",
		    c->prof.access_key_id, c->prof.endpoint);
		return buf;
	}
	if (strcmp(code, "InvalidAccessKeyId.Inactive") == 0)
		return "the access key is disabled";
	if (strcmp(code, "InvalidTimeStamp.Expired") == 0 ||
	    strcmp(code, "IllegalTimestamp") == 0)
		return "this computer's clock differs from the server's by "
		    "more than 15 minutes";
	if (strcmp(code, "SignatureNonceUsed") == 0)
		return "the server saw this request's nonce before; try again";
	if (strncmp(code, "Forbidden", 9) == 0)
		return "the access key's policy does not allow this";
	if (strcmp(code, "InvalidInstance.NotFound") == 0 ||
	    strcmp(code, "InvalidInstanceId.NotFound") == 0)
		return "no such instance";
	if (strcmp(code, "InvalidInvokeId.NotFound") == 0)
		return "no such invocation";
	if (strcmp(code, "InvalidCmdId.NotFound") == 0)
		return "no such command";
	if (strstr(code, "Throttling") != NULL)
		return "too many requests; try again later";
	if (strcmp(code, "InvalidRegionId.NotFound") == 0) {
		snprintf(buf, size, "the server does not serve region %s",
		    c->prof.region_id);
		return buf;
	}
	return NULL;
}

/*
 * Says on stderr (and, with --output json, on stdout) why action failed;
 * returns the exit status for it.
 */
int
cli_api_fail(struct cli *c, const char *action, const struct cli_apierr *e)
{
	char buf[512], msg[1024];
	const char *why;

	cli_safe(msg, sizeof(msg), e->message);
	if (e->code[0] == '\0') {
		cli_warn("%s: cannot reach %s: %s", action, c->prof.endpoint,
		    msg);
		cli_json_error(c, "NetworkError", "%s", msg);
		return CLI_EX_NET;
	}
	if ((why = api_explain(c, e, buf, sizeof(buf))) != NULL)
		cli_warn("%s: %s", action, why);
	/* The server's string to sign names no secret; it is long, though. */
	if (strcmp(e->code, "SignatureDoesNotMatch") == 0 && !c->verbose)
		cli_warn("  server said: %s (HTTP %ld, RequestId %s)", e->code,
		    e->http, e->request_id[0] ? e->request_id : "none");
	else
		cli_warn("  server said: %s: %s (HTTP %ld, RequestId %s)",
		    e->code, msg, e->http, e->request_id[0] ? e->request_id :
		    "none");
	cli_json_error(c, e->code, "%s", why != NULL ? why : msg);
	return CLI_EX_API;
}

/* cli_api_call, and cli_api_fail when it fails. */
int
cli_api_do(struct cli *c, const char *action, struct cli_req *q,
    json_t **respp)
{
	struct cli_apierr e;
	int r;

	if ((r = cli_api_call(c, action, q, respp, &e)) != 0)
		return cli_api_fail(c, action, &e);
	return 0;
}

void
cli_api_cleanup(struct cli *c)
{
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
}
