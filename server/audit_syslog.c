/*
 * The syslog sink (docs/audit.md, "The syslog sink"): every event, in
 * order, as one RFC 5424 message with structured data, sent as a datagram
 * to the local syslog socket (/dev/log, or --audit-syslog-socket). Like
 * the file sink it keeps a cursor in the database (audit_cursors,
 * "syslog:<host>:<socket>"), advanced after each batch was sent: a
 * latchkeyd killed in between sends that batch again (at least once;
 * syslog has no way to say "already have it"). A socket that is missing
 * or refuses (the syslog daemon restarting) holds the events back, retried
 * with backoff, never dropped; the backlog shows in the log and in
 * "latchkeyd audit status".
 *
 *	<86>1 2026-12-05T06:09:00.123Z web-1 latchkeyd 4242 key.push
 *	    [latchkey@32473 seq="42" actor="key:LTAI..." instance="i-..."
 *	    user="alice" outcome="ok" hash="..."] {"v":1,"seq":42,...}
 *
 * (one line). Facility authpriv; severity info, notice for a refusal. The
 * SD-ID's number is the documentation enterprise number of RFC 5612.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "err.h"
#include "latchkeyd.h"
#include "log.h"
#include "store.h"

#define SYSLOG_BATCH		100
#define SYSLOG_MSG_MAX		(AUDIT_LINE_MAX + 2048)
#define SYSLOG_TICK_MS		200
#define SYSLOG_BACKOFF_MAX_MS	5000	/* a local socket: cheap to try */
#define SYSLOG_FAC_AUTHPRIV	10
#define SYSLOG_SD_ID		"latchkey@32473"

static struct {
	struct audit_worker w;
	int		 fd;
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char		 cursor[PATH_MAX + 80];
	char		 host[256];
	int64_t		 seq;		/* the last sent */
	char		 why[160];	/* the last failure, for the log */
	int		 primed;
	char		*msg;
} sl = { .w = AUDIT_WORKER_INIT, .fd = -1 };

/* An SD-PARAM value: '"', '\' and ']' escaped (RFC 5424 6.3.3). */
static size_t
syslog_sdval(char *buf, size_t size, const char *s)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0' && n + 3 < size; s++) {
		if (*s == '"' || *s == '\\' || *s == ']')
			buf[n++] = '\\';
		buf[n++] = *s;
	}
	buf[n] = '\0';
	return n;
}

static const char *
syslog_jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

/* The message of one event; its length, or 0 when the line is not one. */
static size_t
syslog_format(const struct store_audit_row *row, char *msg, size_t size)
{
	char sd[5][4 * AUDIT_STR_MAX + 1 + 64], kind[33];
	json_t *ev, *actor, *target, *v;
	const char *key, *outcome;
	size_t i;
	int n;

	if ((ev = json_loads(row->line, 0, NULL)) == NULL)
		return 0;
	actor = json_object_get(ev, "actor");
	target = json_object_get(ev, "target");
	outcome = syslog_jstr(ev, "outcome");
	/* MSGID: printable ASCII, at most 32 (RFC 5424 6.2.7). */
	snprintf(kind, sizeof(kind), "%s", syslog_jstr(ev, "kind"));
	for (i = 0; kind[i] != '\0'; i++)
		if (kind[i] <= ' ' || kind[i] > '~')
			kind[i] = '_';
	sd[0][0] = '\0';
	json_object_foreach(actor, key, v) {
		char who[4 * AUDIT_STR_MAX + 1];

		snprintf(who, sizeof(who), "%s", json_string_value(v) ?
		    json_string_value(v) : "");
		snprintf(sd[1], sizeof(sd[1]), "%s:%s", key, who);
		syslog_sdval(sd[0], sizeof(sd[0]), sd[1]);
		break;
	}
	syslog_sdval(sd[1], sizeof(sd[1]), syslog_jstr(target, "instance"));
	syslog_sdval(sd[2], sizeof(sd[2]), syslog_jstr(target, "user"));
	syslog_sdval(sd[3], sizeof(sd[3]), syslog_jstr(ev, "time"));
	syslog_sdval(sd[4], sizeof(sd[4]), syslog_jstr(ev, "code"));
	n = snprintf(msg, size, "<%d>1 %s %s latchkeyd %ld %s [" SYSLOG_SD_ID
	    " seq=\"%lld\" actor=\"%s\" instance=\"%s\" user=\"%s\" "
	    "outcome=\"%s\"%s%s%s hash=\"%s\"] %s",
	    SYSLOG_FAC_AUTHPRIV * 8 + (strcmp(outcome, "ok") == 0 ? 6 : 5),
	    sd[3][0] != '\0' ? sd[3] : "-", sl.host, (long)getpid(),
	    kind[0] != '\0' ? kind : "-", (long long)row->seq, sd[0], sd[1],
	    sd[2], strcmp(outcome, "ok") == 0 ? "ok" : "refused",
	    sd[4][0] != '\0' ? " code=\"" : "", sd[4], sd[4][0] != '\0' ?
	    "\"" : "", row->hash, row->line);
	json_decref(ev);
	if (n < 0 || (size_t)n >= size)
		return 0;
	return (size_t)n;
}

static int
syslog_connect(void)
{
	struct sockaddr_un sa;

	if (sl.fd >= 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, sl.path, strlen(sl.path) + 1);
	if ((sl.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(sl.why, sizeof(sl.why), "socket: %s", strerror(errno));
		return LK_ERR_SYSTEM;
	}
	if (connect(sl.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(sl.why, sizeof(sl.why), "connect: %s", strerror(errno));
		close(sl.fd);
		sl.fd = -1;
		return LK_ERR_UNAVAILABLE;
	}
	return 0;
}

struct syslog_batch {
	int64_t	 last, n;
	int	 r;
};

static int
syslog_row_cb(void *arg, const struct store_audit_row *row)
{
	struct syslog_batch *b = arg;
	size_t len;

	if ((len = syslog_format(row, sl.msg, SYSLOG_MSG_MAX)) == 0) {
		/* Cannot happen for a stored event; skipping would lose it. */
		snprintf(sl.why, sizeof(sl.why), "seq %lld: not an event",
		    (long long)row->seq);
		b->r = LK_ERR_RECORD;
		return 1;
	}
	if (send(sl.fd, sl.msg, len, MSG_NOSIGNAL) != (ssize_t)len) {
		snprintf(sl.why, sizeof(sl.why), "send seq %lld: %s",
		    (long long)row->seq, strerror(errno));
		b->r = errno == EMSGSIZE ? LK_ERR_TOO_LONG : LK_ERR_UNAVAILABLE;
		close(sl.fd);
		sl.fd = -1;
		return 1;
	}
	b->last = row->seq;
	b->n++;
	return 0;
}

/* One pass: everything after the cursor, in batches; 0 or the failure. */
static int
syslog_export(void)
{
	struct syslog_batch b;
	int r;

	if (!sl.primed) {
		if ((r = store_audit_cursor_get(sl.cursor, &sl.seq)) != 0)
			return r;
		sl.primed = 1;
	}
	for (;;) {
		if ((r = syslog_connect()) != 0)
			return r;
		memset(&b, 0, sizeof(b));
		r = store_audit_scan(sl.seq, SYSLOG_BATCH, syslog_row_cb, &b);
		/* What went out is kept, even when the rest failed. */
		if (b.n > 0) {
			if (store_audit_cursor_set(sl.cursor, b.last) != 0)
				return LK_ERR_UNAVAILABLE;
			sl.seq = b.last;
		}
		if (r == 0)
			r = b.r;
		if (r != 0 || b.n < SYSLOG_BATCH)
			return r;
	}
}

static void *
syslog_main(void *arg)
{
	long backoff = 0;
	int64_t head = 0;
	char hh[AUDIT_HASH_SIZE];
	int r, stop;

	(void)arg;
	for (;;) {
		stop = audit_worker_stopping(&sl.w);
		r = syslog_export();
		if (r != 0) {
			if (sl.why[0] == '\0')
				snprintf(sl.why, sizeof(sl.why), "%s", lk_err(r));
			backoff = backoff == 0 ? 500 : backoff * 2;
			if (backoff > SYSLOG_BACKOFF_MAX_MS)
				backoff = SYSLOG_BACKOFF_MAX_MS;
			if (store_audit_head(&head, hh) != 0)
				head = sl.seq;
			log_warnx("audit syslog socket=%s error=\"%s\" "
			    "backlog=%lld retry_ms=%ld", sl.path, sl.why,
			    (long long)(head - sl.seq), backoff);
			sl.why[0] = '\0';
		} else if (backoff != 0) {
			log_info("audit syslog resumed socket=%s seq=%lld",
			    sl.path, (long long)sl.seq);
			backoff = 0;
		}
		if (stop)
			break;
		audit_worker_wait(&sl.w, backoff != 0 ? backoff :
		    SYSLOG_TICK_MS, 0);
	}
	return NULL;
}

void
audit_syslog_wake(void)
{
	audit_worker_wake(&sl.w);
}

int
audit_syslog_start(const char *path)
{
	if (strlen(path) >= sizeof(sl.path) || path[0] != '/') {
		log_warnx("--audit-syslog-socket %s: an absolute path of at "
		    "most %zu bytes", path, sizeof(sl.path) - 1);
		return LK_ERR_INVALID_FORMAT;
	}
	snprintf(sl.path, sizeof(sl.path), "%s", path);
	if (gethostname(sl.host, sizeof(sl.host)) != 0 || sl.host[0] == '\0')
		snprintf(sl.host, sizeof(sl.host), "-");
	sl.host[sizeof(sl.host) - 1] = '\0';
	snprintf(sl.cursor, sizeof(sl.cursor), "syslog:%s:%s", sl.host,
	    sl.path);
	if ((sl.msg = malloc(SYSLOG_MSG_MAX)) == NULL)
		return LK_ERR_ALLOC;
	if (audit_worker_start(&sl.w, syslog_main) != 0)
		return LK_ERR_SYSTEM;
	log_info("audit syslog sink socket=%s", sl.path);
	return 0;
}

void
audit_syslog_stop(void)
{
	if (!__atomic_load_n(&sl.w.running, __ATOMIC_RELAXED))
		return;
	audit_worker_stop(&sl.w);
	if (sl.fd >= 0)
		close(sl.fd);
	sl.fd = -1;
	free(sl.msg);
	sl.msg = NULL;
}
