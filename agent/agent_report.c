/*
 * Result reports: a FIFO queue in memory, mirrored in the spool directory
 * <statedir>/spool/<task_id>.json (mode 0600, written atomically before the
 * report is queued, removed after the server's 2xx), and one reporter
 * thread that sends the queue's head with POST /agent/v1/result until the
 * server takes it. A restarted agent finds the files left in the spool and
 * sends them again first; the server ignores a report of a task it has
 * already finished, so sending one twice is harmless.
 *
 * When a report gets no answer or a 5xx, the reporter tries the next server
 * URL (register --server, repeated) at once; when all of them failed in a
 * row, it waits agent_round_wait() (0.5 s doubling to 20 s, each +-50 %)
 * before the next round. Other failures wait the same way on the same URL
 * (60 s after a 401: the credential was refused). The reports behind it
 * wait too: the server is down for all of them.
 * A report the server rejects as such (400, 403, 404, 413 or 422) would
 * block the queue forever; it is dropped with a warning instead.
 *
 * The same queue carries the logins agent_login.c saw in sshd's log
 * (POST /agent/v1/login), spooled as login-<ms>-<n>.json: they are
 * retried and survive a restart like results, and are not task ids (they
 * stay out of Latchkey-Running-Tasks).
 *
 * The queue, its condition variable and the "closing" state are guarded
 * by rq.mtx. Only the reporter thread removes items, so it may use the
 * head item's fields without the lock while it sends them.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <jansson.h>

#include "err.h"
#include "fsutil.h"
#include "util.h"

#include "agent.h"

#define AGENT_SPOOL_FILE_MAX	(256 * 1024)	/* one spooled report */
#define AGENT_REPORT_TIMEOUT_MS	15000L
#define AGENT_REPORT_REFUSED_MS	60000L		/* after a 401 */
#define AGENT_LOGIN_PREFIX	"login-"

/* The two endpoints; an item points to one (compared by address). */
static const char AGENT_REPORT_RESULT[] = "/agent/v1/result";
static const char AGENT_REPORT_LOGIN[] = "/agent/v1/login";

struct agent_report_item {
	struct agent_report_item *next;
	char			 task_id[AGENT_TASKID_MAX + 1];
	const char		*endpoint;	/* static */
	char			*body;
};

static struct {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;
	struct agent_report_item *head, *tail;
	size_t			 n;
	char			 spooldir[PATH_MAX];
	int			 closing;
	unsigned int		 kick;		/* bumped to end a wait */
	_Atomic long long	 flush_end;	/* ms; 0 while running */
	pthread_t		 thread;
	int			 started;
	struct agent_http	*http;
} rq = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static int
agent_report_path(const char *task_id, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s.json", rq.spooldir, task_id) >=
	    len)
		return LK_ERR_TOO_LONG;
	return 0;
}

/* Where a report of this id goes: a login's or a task's result. */
static const char *
agent_report_endpoint(const char *id)
{
	return strncmp(id, AGENT_LOGIN_PREFIX, strlen(AGENT_LOGIN_PREFIX)) ==
	    0 ? AGENT_REPORT_LOGIN : AGENT_REPORT_RESULT;
}

/* Appends to the queue; takes body. Called with rq.mtx held. */
static int
agent_report_push(const char *task_id, char *body)
{
	struct agent_report_item *it;

	if ((it = calloc(1, sizeof(*it))) == NULL) {
		free(body);
		return LK_ERR_ALLOC;
	}
	snprintf(it->task_id, sizeof(it->task_id), "%s", task_id);
	it->endpoint = agent_report_endpoint(task_id);
	it->body = body;
	if (rq.tail != NULL)
		rq.tail->next = it;
	else
		rq.head = it;
	rq.tail = it;
	rq.n++;
	pthread_cond_broadcast(&rq.cv);
	return 0;
}

/* Checks a spooled report and queues it again. */
static void
agent_report_load_one(const char *name)
{
	char id[AGENT_TASKID_MAX + 1], path[PATH_MAX], vis[256], *buf = NULL;
	size_t len = strlen(name);
	const char *tid;
	json_t *o = NULL;

	if (len <= 5 || len - 5 > AGENT_TASKID_MAX)
		goto bad;
	memcpy(id, name, len - 5);
	id[len - 5] = '\0';
	if (!agent_id_valid(id, AGENT_TASKID_MAX) ||
	    agent_report_path(id, path, sizeof(path)) != 0 ||
	    lk_fs_read(path, AGENT_SPOOL_FILE_MAX, &buf, &len) != 0 ||
	    (o = json_loadb(buf, len, 0, NULL)) == NULL)
		goto bad;
	if (agent_report_endpoint(id) == AGENT_REPORT_LOGIN ?
	    !json_is_array(json_object_get(o, "logins")) :
	    ((tid = json_string_value(json_object_get(o, "task_id"))) ==
	    NULL || strcmp(tid, id) != 0))
		goto bad;
	json_decref(o);
	pthread_mutex_lock(&rq.mtx);
	agent_report_push(id, buf);
	pthread_mutex_unlock(&rq.mtx);
	agent_log(LOG_INFO, "report", "respool", "task=%s", id);
	return;
 bad:
	json_decref(o);
	free(buf);
	agent_log(LOG_WARNING, "report", "spool-skip", "file=%s",
	    agent_vis(vis, sizeof(vis), name));
}

static int
agent_report_filter(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return d->d_name[0] != '.' && len > 5 &&
	    strcmp(d->d_name + len - 5, ".json") == 0;
}

/* Removes what a crash left of atomic writes: "<name>.lk-tmp.<pid>". */
static void
agent_report_sweep(void)
{
	char path[PATH_MAX];
	struct dirent *d;
	DIR *dp;

	if ((dp = opendir(rq.spooldir)) == NULL)
		return;
	while ((d = readdir(dp)) != NULL)
		if (strstr(d->d_name, ".lk-tmp.") != NULL &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", rq.spooldir,
		    d->d_name) < sizeof(path))
			unlink(path);
	closedir(dp);
}

/*
 * Creates the spool directory (0700) and queues the reports left in it.
 * Returns 0 or LK_ERR_TOO_LONG, LK_ERR_SYSTEM.
 */
int
agent_report_init(const char *spooldir)
{
	struct dirent **names = NULL;
	pthread_condattr_t ca;
	int i, n;

	if ((size_t)snprintf(rq.spooldir, sizeof(rq.spooldir), "%s",
	    spooldir) >= sizeof(rq.spooldir))
		return LK_ERR_TOO_LONG;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rq.cv, &ca);
	pthread_condattr_destroy(&ca);
	if (lk_fs_mkdirs(spooldir, 0700) != 0)
		return LK_ERR_SYSTEM;
	agent_report_sweep();
	if ((n = scandir(spooldir, &names, agent_report_filter,
	    alphasort)) == -1)
		return LK_ERR_SYSTEM;
	for (i = 0; i < n; i++) {
		agent_report_load_one(names[i]->d_name);
		free(names[i]);
	}
	free(names);
	return 0;
}

/*
 * Queues the report body (JSON text, copied) of task_id, spooling it
 * first. A spool that cannot be written is logged; the report is still
 * sent from memory. Returns 0 or LK_ERR_ALLOC.
 */
int
agent_report_enqueue(const char *task_id, const char *body)
{
	char path[PATH_MAX], *copy;
	int r;

	if ((copy = strdup(body)) == NULL)
		return LK_ERR_ALLOC;
	if ((r = agent_report_path(task_id, path, sizeof(path))) != 0 ||
	    (r = lk_fs_write_atomic(path, body, strlen(body), 0600,
	    geteuid(), getegid())) != 0)
		agent_log(LOG_WARNING, "report", "spool-failed",
		    "task=%s error=\"%s: %s\"", task_id, lk_err(r),
		    strerror(errno));
	pthread_mutex_lock(&rq.mtx);
	r = agent_report_push(task_id, copy);
	pthread_mutex_unlock(&rq.mtx);
	return r;
}

/*
 * Appends to ids (cap bytes, *lenp used) the task ids of the queue, oldest
 * first, comma-separated, at most max of them, leaving out those for which
 * skip() says 1. Returns how many it appended.
 */
size_t
agent_report_ids(char *ids, size_t cap, size_t *lenp, size_t max,
    int (*skip)(const char *))
{
	struct agent_report_item *it;
	size_t n = 0, len = *lenp, need;

	pthread_mutex_lock(&rq.mtx);
	for (it = rq.head; it != NULL && n < max; it = it->next) {
		if (it->endpoint != AGENT_REPORT_RESULT ||
		    (skip != NULL && skip(it->task_id)))
			continue;
		need = strlen(it->task_id) + (len > 0 ? 1 : 0);
		if (need >= cap - len)
			break;
		len += (size_t)snprintf(ids + len, cap - len, "%s%s",
		    len > 0 ? "," : "", it->task_id);
		n++;
	}
	pthread_mutex_unlock(&rq.mtx);
	*lenp = len;
	return n;
}

/* Whether a report of task_id waits to be sent. */
int
agent_report_pending(const char *task_id)
{
	struct agent_report_item *it;
	int found = 0;

	pthread_mutex_lock(&rq.mtx);
	for (it = rq.head; it != NULL && !found; it = it->next)
		found = strcmp(it->task_id, task_id) == 0;
	pthread_mutex_unlock(&rq.mtx);
	return found;
}

size_t
agent_report_count(void)
{
	size_t n;

	pthread_mutex_lock(&rq.mtx);
	n = rq.n;
	pthread_mutex_unlock(&rq.mtx);
	return n;
}

/* Takes the head off the queue and its file out of the spool. */
static void
agent_report_pop(void)
{
	struct agent_report_item *it;
	char path[PATH_MAX];

	pthread_mutex_lock(&rq.mtx);
	if ((it = rq.head) != NULL) {
		if ((rq.head = it->next) == NULL)
			rq.tail = NULL;
		rq.n--;
	}
	pthread_mutex_unlock(&rq.mtx);
	if (it == NULL)
		return;
	if (agent_report_path(it->task_id, path, sizeof(path)) == 0 &&
	    unlink(path) == -1 && errno != ENOENT)
		agent_log(LOG_WARNING, "report", "unspool-failed", "task=%s",
		    it->task_id);
	free(it->body);
	free(it);
}

/* While closing, the flush deadline ends a transfer in progress. */
static int
agent_report_abort(void)
{
	long long end = atomic_load(&rq.flush_end);

	return end != 0 && lk_now_ms() >= end;
}

/*
 * Sends one report. Returns 0 when it is done with (sent, or dropped as
 * refused for good), else how many ms to wait before trying again.
 */
static long
agent_report_send(const struct agent_report_item *it, long *backoff)
{
	struct agent_resp resp;
	long timeout = AGENT_REPORT_TIMEOUT_MS, s, wait;
	long long end = atomic_load(&rq.flush_end);
	char why[256], url[AGENT_URL_MAX];
	int r, next = 0;

	if (end != 0 && end - lk_now_ms() < timeout)
		timeout = end - lk_now_ms() > 100 ?
		    (long)(end - lk_now_ms()) : 100;
	r = agent_http_do(rq.http, "POST", it->endpoint, it->body,
	    timeout, agent_report_abort, &resp);
	s = resp.status;
	agent_resp_error(&resp, why, sizeof(why));
	agent_vis(url, sizeof(url), agent_http_url(rq.http));
	if (agent_resp_failover(r, &resp))
		next = agent_http_failover(rq.http) ? 1 : -1;
	agent_resp_free(&resp);
	if (s >= 200 && s <= 299) {
		agent_log(LOG_INFO, "report", "sent", "task=%s", it->task_id);
		agent_http_ok(rq.http);
		*backoff = 0;
		return 0;
	}
	if (s == 400 || s == 403 || s == 404 || s == 413 || s == 422) {
		agent_log(LOG_WARNING, "report", "dropped",
		    "task=%s http=%ld error=\"%s\"", it->task_id, s, why);
		return 0;
	}
	/* next: -1 another URL at once, 1 a round ended, 0 the same URL */
	wait = s == 401 ? AGENT_REPORT_REFUSED_MS : next == -1 ? 1 :
	    agent_round_wait(backoff);
	agent_log(LOG_WARNING, "report", "retry", "task=%s url=%s http=%ld "
	    "error=\"%s\" retry_ms=%ld%s%s", it->task_id, url, s, why, wait,
	    s == 401 ? " reason=credential-refused" : "", next == -1 ?
	    " next=other-url" : "");
	return wait;
}

/* Sleeps ms, or less when closing begins or its deadline passes. */
static void
agent_report_wait(long ms)
{
	long long end = lk_now_ms() + ms, fe;
	unsigned int kick;

	pthread_mutex_lock(&rq.mtx);
	kick = rq.kick;
	for (;;) {
		fe = atomic_load(&rq.flush_end);
		if (rq.kick != kick || lk_now_ms() >= end ||
		    (fe != 0 && lk_now_ms() >= fe))
			break;
		agent_cond_wait(&rq.cv, &rq.mtx, fe != 0 && fe < end ? fe :
		    end);
	}
	pthread_mutex_unlock(&rq.mtx);
}

static void *
agent_report_main(void *arg)
{
	struct agent_report_item *it;
	long backoff = 0, wait;
	long long fe;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&rq.mtx);
		while (rq.head == NULL && !rq.closing)
			pthread_cond_wait(&rq.cv, &rq.mtx);
		it = rq.head;
		fe = atomic_load(&rq.flush_end);
		pthread_mutex_unlock(&rq.mtx);
		if (it == NULL || (fe != 0 && lk_now_ms() >= fe))
			break;
		if ((wait = agent_report_send(it, &backoff)) == 0)
			agent_report_pop();
		else
			agent_report_wait(wait);
	}
	return NULL;
}

/* Starts the reporter thread. Returns 0 or LK_ERR_ALLOC, LK_ERR_SYSTEM. */
int
agent_report_start(const struct agent_state *st)
{
	int r;

	if ((r = agent_http_new(st, 1, &rq.http)) != 0)
		return r;
	if (pthread_create(&rq.thread, NULL, agent_report_main, NULL) != 0) {
		agent_http_free(rq.http);
		rq.http = NULL;
		return LK_ERR_SYSTEM;
	}
	rq.started = 1;
	return 0;
}

/*
 * Stops the reporter after it sent what it could within flush_ms. Reports
 * left unsent stay in the spool for the next start.
 */
void
agent_report_finish(long flush_ms)
{
	struct agent_report_item *it;

	pthread_mutex_lock(&rq.mtx);
	atomic_store(&rq.flush_end, lk_now_ms() + flush_ms);
	rq.closing = 1;
	rq.kick++;
	pthread_cond_broadcast(&rq.cv);
	pthread_mutex_unlock(&rq.mtx);
	if (rq.started)
		pthread_join(rq.thread, NULL);
	rq.started = 0;
	if (rq.n > 0)
		agent_log(LOG_WARNING, "report", "unsent", "count=%zu "
		    "spool=%s", rq.n, rq.spooldir);
	while ((it = rq.head) != NULL) {
		rq.head = it->next;
		free(it->body);
		free(it);
	}
	rq.tail = NULL;
	rq.n = 0;
	agent_http_free(rq.http);
	rq.http = NULL;
}

/* How many reports wait in a spool directory (for "status"). */
int
agent_report_spool_count(const char *spooldir, size_t *np)
{
	struct dirent **names = NULL;
	int i, n;

	*np = 0;
	if ((n = scandir(spooldir, &names, agent_report_filter, NULL)) == -1)
		return errno == ENOENT ? 0 : LK_ERR_SYSTEM;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	*np = (size_t)n;
	return 0;
}
