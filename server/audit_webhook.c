/*
 * The webhook sink (docs/audit.md, "The webhook sink"): every event, in
 * order, POSTed in JSON batches of up to WEBHOOK_BATCH to --audit-webhook
 * URL (HTTPS, or plain HTTP to a loopback address only), until the
 * receiver answers 2xx. A cursor in the database (audit_cursors,
 * "webhook:<url>") moves after each accepted batch, so delivery is at
 * least once: a batch whose answer was lost, or a latchkeyd killed before
 * the cursor moved, is sent again, and the receiver tells repeats by
 * "seq". A receiver that is down or failing holds the events back,
 * retried with backoff (1 s doubling to 60 s, and at once after it
 * succeeds again); the backlog is logged with every failure and shown by
 * "latchkeyd audit status"; nothing is dropped.
 *
 * A batch: {"v":1,"first":41,"last":42,"events":[<line 41>,<line 42>]},
 * each event its stored line unchanged (so its hash still verifies).
 */
#include <arpa/inet.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "audit.h"
#include "err.h"
#include "latchkeyd.h"
#include "log.h"
#include "store.h"

#define WEBHOOK_BATCH		100
#define WEBHOOK_URL_MAX		1024
#define WEBHOOK_TIMEOUT_S	10
#define WEBHOOK_TICK_MS		200
#define WEBHOOK_BACKOFF_MIN_MS	1000
#define WEBHOOK_BACKOFF_MAX_MS	60000

static struct {
	struct audit_worker w;
	char		 url[WEBHOOK_URL_MAX];
	char		 cursor[WEBHOOK_URL_MAX + 16];
	int64_t		 seq;
	int		 primed;
	CURL		*curl;
	char		 why[CURL_ERROR_SIZE + 64];
} wh = { .w = AUDIT_WORKER_INIT };

/*
 * https://anything, or http:// to 127.0.0.0/8, ::1 or localhost. 0, or
 * LK_ERR_INVALID_FORMAT with why filled.
 */
int
audit_webhook_url_ok(const char *url, char *why, size_t size)
{
	char host[256];
	unsigned char a[16];
	const char *h, *e;
	size_t n;

	if (strlen(url) >= WEBHOOK_URL_MAX || strpbrk(url, " \t\r\n") != NULL) {
		snprintf(why, size, "not a URL");
		return LK_ERR_INVALID_FORMAT;
	}
	if (strncasecmp(url, "https://", 8) == 0 && url[8] != '\0' &&
	    url[8] != '/')
		return 0;
	if (strncasecmp(url, "http://", 7) != 0) {
		snprintf(why, size, "https:// (or http:// to a loopback "
		    "address) only");
		return LK_ERR_INVALID_FORMAT;
	}
	h = url + 7;
	if (*h == '[') {
		if ((e = strchr(h, ']')) == NULL)
			goto bad;
		h++;
	} else
		e = h + strcspn(h, ":/?#");
	if ((n = (size_t)(e - h)) == 0 || n >= sizeof(host))
		goto bad;
	memcpy(host, h, n);
	host[n] = '\0';
	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
	    (inet_pton(AF_INET, host, a) == 1 && a[0] == 127))
		return 0;
 bad:
	snprintf(why, size, "plain http:// only to a loopback address "
	    "(127.0.0.1, ::1, localhost); use https://");
	return LK_ERR_INVALID_FORMAT;
}

struct webhook_batch {
	char	*buf;
	size_t	 len, cap;
	int64_t	 first, last, n;
};

static int
webhook_append(struct webhook_batch *b, const char *s, size_t n)
{
	char *p;
	size_t cap;

	if (b->len + n + 1 > b->cap) {
		cap = (b->len + n + 1) * 2;
		if ((p = realloc(b->buf, cap)) == NULL)
			return LK_ERR_ALLOC;
		b->buf = p;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return 0;
}

static int
webhook_row_cb(void *arg, const struct store_audit_row *row)
{
	struct webhook_batch *b = arg;
	int r;

	if ((b->n > 0 && (r = webhook_append(b, ",", 1)) != 0) ||
	    (r = webhook_append(b, row->line, strlen(row->line))) != 0)
		return r;
	if (b->n++ == 0)
		b->first = row->seq;
	b->last = row->seq;
	return 0;
}

static size_t
webhook_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* POSTs one batch; 0 on a 2xx, else LK_ERR_UNAVAILABLE with wh.why. */
static int
webhook_post(const char *body, size_t len)
{
	struct curl_slist *hdrs = NULL;
	char err[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;

	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	curl_easy_setopt(wh.curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(wh.curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(wh.curl, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(wh.curl, CURLOPT_ERRORBUFFER, err);
	rc = curl_easy_perform(wh.curl);
	curl_easy_getinfo(wh.curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_setopt(wh.curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(wh.curl, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hdrs);
	if (rc == CURLE_OK && status >= 200 && status <= 299)
		return 0;
	if (rc != CURLE_OK)
		snprintf(wh.why, sizeof(wh.why), "%s", err[0] != '\0' ? err :
		    curl_easy_strerror(rc));
	else
		snprintf(wh.why, sizeof(wh.why), "HTTP %ld", status);
	return LK_ERR_UNAVAILABLE;
}

static int
webhook_export(void)
{
	struct webhook_batch b;
	char head[96];
	int r;

	memset(&b, 0, sizeof(b));
	if (!wh.primed) {
		if ((r = store_audit_cursor_get(wh.cursor, &wh.seq)) != 0)
			return r;
		wh.primed = 1;
	}
	for (;;) {
		b.len = 0;
		b.n = 0;
		if ((r = webhook_append(&b, "", 0)) != 0 ||
		    (r = store_audit_scan(wh.seq, WEBHOOK_BATCH,
		    webhook_row_cb, &b)) != 0 || b.n == 0)
			break;
		/* The events went in after the head's room: put it in front. */
		snprintf(head, sizeof(head), "{\"v\":1,\"first\":%lld,"
		    "\"last\":%lld,\"events\":[", (long long)b.first,
		    (long long)b.last);
		if ((r = webhook_append(&b, "]}", 2)) != 0 ||
		    (r = webhook_append(&b, head, strlen(head))) != 0)
			break;
		memmove(b.buf + strlen(head), b.buf, b.len - strlen(head));
		memcpy(b.buf, head, strlen(head));
		if ((r = webhook_post(b.buf, b.len)) != 0)
			break;
		if ((r = store_audit_cursor_set(wh.cursor, b.last)) != 0)
			break;
		wh.seq = b.last;
		if (b.n < WEBHOOK_BATCH)
			break;
	}
	free(b.buf);
	return r;
}

static void *
webhook_main(void *arg)
{
	long backoff = 0;
	int64_t head;
	char hh[AUDIT_HASH_SIZE];
	int r, stop;

	(void)arg;
	for (;;) {
		stop = audit_worker_stopping(&wh.w);
		if ((r = webhook_export()) != 0) {
			backoff = backoff == 0 ? WEBHOOK_BACKOFF_MIN_MS :
			    backoff * 2;
			if (backoff > WEBHOOK_BACKOFF_MAX_MS)
				backoff = WEBHOOK_BACKOFF_MAX_MS;
			if (store_audit_head(&head, hh) != 0)
				head = wh.seq;
			log_warnx("audit webhook url=%s error=\"%s\" backlog=%lld "
			    "retry_ms=%ld", wh.url, r == LK_ERR_UNAVAILABLE ?
			    wh.why : lk_err(r), (long long)(head - wh.seq),
			    backoff);
		} else if (backoff != 0) {
			log_info("audit webhook resumed url=%s seq=%lld",
			    wh.url, (long long)wh.seq);
			backoff = 0;
		}
		if (stop)
			break;
		/* New events do not cut a backoff short: the receiver rests. */
		audit_worker_wait(&wh.w, backoff != 0 ? backoff :
		    WEBHOOK_TICK_MS, backoff != 0);
	}
	return NULL;
}

void
audit_webhook_wake(void)
{
	audit_worker_wake(&wh.w);
}

int
audit_webhook_start(const char *url)
{
	char why[160];

	if (audit_webhook_url_ok(url, why, sizeof(why)) != 0) {
		log_warnx("--audit-webhook %.200s: %s", url, why);
		return LK_ERR_INVALID_FORMAT;
	}
	snprintf(wh.url, sizeof(wh.url), "%s", url);
	snprintf(wh.cursor, sizeof(wh.cursor), "webhook:%s", url);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (wh.curl = curl_easy_init()) == NULL)
		return LK_ERR_SYSTEM;
	curl_easy_setopt(wh.curl, CURLOPT_URL, wh.url);
	curl_easy_setopt(wh.curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(wh.curl, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(wh.curl, CURLOPT_TIMEOUT, (long)WEBHOOK_TIMEOUT_S);
	curl_easy_setopt(wh.curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(wh.curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(wh.curl, CURLOPT_USERAGENT, "latchkeyd/" LKD_VERSION);
	curl_easy_setopt(wh.curl, CURLOPT_WRITEFUNCTION, webhook_discard);
	if (audit_worker_start(&wh.w, webhook_main) != 0)
		return LK_ERR_SYSTEM;
	log_info("audit webhook sink url=%s", wh.url);
	return 0;
}

void
audit_webhook_stop(void)
{
	if (!__atomic_load_n(&wh.w.running, __ATOMIC_RELAXED))
		return;
	audit_worker_stop(&wh.w);
	curl_easy_cleanup(wh.curl);
	wh.curl = NULL;
	curl_global_cleanup();
}
