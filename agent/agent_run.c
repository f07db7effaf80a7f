/*
 * The daemon ("latchkey-agent run"). Threads:
 *
 *	main		hello, then the long poll in a loop; starts tasks and
 *			passes on stops; at the end, the shutdown
 *	signals		sigwait() for SIGTERM/SIGINT (quit) and SIGHUP
 *			(reopen the log file); every other thread blocks them
 *	reporter	sends the queued results (agent_report.c)
 *	one per task	runs the task's process (agent_task.c, agent_exec.c)
 *
 * When the server cannot be reached or answers 5xx (or anything but 2xx
 * and 401), the poller waits 1 s, 2 s, 4 s ... at most 30 s, each with
 * jitter (between half and all of it), and says hello again before the
 * next poll. A 401 means the server refused the credential: that is
 * logged as such and retried every 60 s.
 *
 * On SIGTERM or SIGINT the poll in progress is abandoned, running tasks
 * get AGENT_DRAIN_MS to finish (then their process groups are killed and
 * they are reported Failed/ExecutionInterrupted), the reporter gets
 * AGENT_FLUSH_MS to send what is queued, the server is told goodbye
 * (within 2 s, best effort, so the instance shows offline at once) and
 * the agent exits 0. Reports not sent by then stay in the spool for the
 * next start.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "err.h"
#include "log.h"

#include "agent.h"

#define AGENT_RETRY_MIN_MS	1000L
#define AGENT_RETRY_MAX_MS	30000L
#define AGENT_REFUSED_MS	60000L	/* after a 401 */
#define AGENT_HELLO_TIMEOUT_MS	15000L
#define AGENT_GOODBYE_MS	2000L	/* a clean stop's last request */

/* How a request to the server went. */
enum agent_outcome {
	AGENT_OK,
	AGENT_RETRY,
	AGENT_REFUSED,
	AGENT_QUIT,
};

static atomic_int agent_quit;
static pthread_mutex_t agent_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t agent_cv;

long long
agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A condition variable that waits on CLOCK_MONOTONIC. */
void
agent_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

/* pthread_cond_timedwait() until end_ms of agent_now_ms(). */
int
agent_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mtx, long long end_ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(end_ms / 1000);
	ts.tv_nsec = (long)(end_ms % 1000) * 1000000L;
	return pthread_cond_timedwait(cv, mtx, &ts);
}

/* The next delay of an exponential backoff: min, 2 min, ... max. */
long
agent_backoff(long *cur, long min, long max)
{
	*cur = *cur < min ? min : *cur > max / 2 ? max : *cur * 2;
	return *cur;
}

/* Between half and all of ms, so that agents do not retry in step. */
static long
agent_jitter(long ms)
{
	return ms / 2 + (long)arc4random_uniform((uint32_t)(ms / 2 + 1));
}

int
agent_quitting(void)
{
	return atomic_load(&agent_quit);
}

/* Sleeps ms, or less when the agent is told to quit; returns quitting. */
int
agent_sleep(long ms)
{
	long long end = agent_now_ms() + ms;

	pthread_mutex_lock(&agent_mtx);
	while (!agent_quitting() && agent_now_ms() < end)
		agent_cond_wait(&agent_cv, &agent_mtx, end);
	pthread_mutex_unlock(&agent_mtx);
	return agent_quitting();
}

static void *
agent_signal_main(void *arg)
{
	const sigset_t *set = arg;
	int sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			agent_log_reopen();
			agent_log(LOG_INFO, "agent", "log-reopened", "%s", "");
			continue;
		}
		agent_log(LOG_INFO, "agent", "signal", "signal=%s%s",
		    sig == SIGTERM ? "TERM" : "INT", agent_quitting() ?
		    " note=already-stopping" : "");
		pthread_mutex_lock(&agent_mtx);
		atomic_store(&agent_quit, 1);
		pthread_cond_broadcast(&agent_cv);
		pthread_mutex_unlock(&agent_mtx);
	}
	return NULL;
}

/*
 * Blocks SIGTERM, SIGINT and SIGHUP in this thread and every thread it
 * starts afterwards, and starts the thread that waits for them. SIGPIPE
 * is ignored (a task's child gets it back to the default).
 */
static int
agent_signals_start(void)
{
	static sigset_t set;
	struct sigaction sa;
	pthread_attr_t attr;
	pthread_t th;
	int r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return LK_ERR_SYSTEM;
	agent_cond_init(&agent_cv);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&th, &attr, agent_signal_main, &set);
	pthread_attr_destroy(&attr);
	return r == 0 ? 0 : LK_ERR_SYSTEM;
}

/* Sorts an answer (or its absence) into an outcome, logging failures. */
static enum agent_outcome
agent_outcome(const char *what, int r, const struct agent_resp *resp,
    const struct agent_state *st)
{
	char why[256];

	if (r != 0 && agent_quitting())
		return AGENT_QUIT;
	if (r == 0 && resp->status >= 200 && resp->status <= 299)
		return AGENT_OK;
	agent_resp_error(resp, why, sizeof(why));
	if (r == 0 && resp->status == 401) {
		agent_log(LOG_ERR, "conn", "credential-refused",
		    "request=%s instance=%s http=401 error=\"%s\" retry_ms=%ld "
		    "hint=register-again", what, st->instance_id, why,
		    AGENT_REFUSED_MS);
		return AGENT_REFUSED;
	}
	if (r != 0)
		agent_log(LOG_WARNING, "conn", "unreachable",
		    "request=%s error=\"%s\"", what, why);
	else
		agent_log(LOG_WARNING, "conn", "http-error",
		    "request=%s http=%ld error=\"%s\"", what, resp->status, why);
	return AGENT_RETRY;
}

static enum agent_outcome
agent_hello(struct agent_http *h, const struct agent_state *st)
{
	struct agent_resp resp;
	json_t *facts;
	int r;

	if ((facts = agent_facts()) == NULL)
		fatalx("out of memory");
	r = agent_http_post(h, "/agent/v1/hello", facts,
	    AGENT_HELLO_TIMEOUT_MS, agent_quitting, &resp);
	json_decref(facts);
	r = agent_outcome("hello", r, &resp, st);
	agent_resp_free(&resp);
	return r;
}

/* Starts the poll's tasks (first) and passes on its stops. */
static int
agent_dispatch(const json_t *ans)
{
	const json_t *tasks = json_object_get(ans, "tasks");
	const json_t *stops = json_object_get(ans, "stops");
	const json_t *sess = json_object_get(ans, "sessions");
	const json_t *v;
	size_t i;

	if ((tasks != NULL && !json_is_array(tasks)) ||
	    (stops != NULL && !json_is_array(stops)) ||
	    (sess != NULL && !json_is_array(sess)))
		return LK_ERR_INVALID_FORMAT;
	json_array_foreach(sess, i, v)
		(void)agent_sess_start(v);
	agent_log(LOG_DEBUG, "conn", "poll-answer", "tasks=%zu stops=%zu",
	    json_array_size(tasks), json_array_size(stops));
	json_array_foreach(tasks, i, v)
		if (json_is_object(v))
			agent_task_start(v);
	json_array_foreach(stops, i, v)
		if (json_is_string(v))
			agent_task_stop(json_string_value(v));
	return 0;
}

static enum agent_outcome
agent_poll(struct agent_http *h, const struct agent_state *st)
{
	struct agent_resp resp;
	enum agent_outcome o;
	char path[64];
	json_t *ans = NULL;
	int r;

	snprintf(path, sizeof(path), "/agent/v1/poll?wait=%d",
	    AGENT_POLL_WAIT);
	r = agent_http_do(h, "GET", path, NULL, (AGENT_POLL_WAIT + 10) *
	    1000L, agent_quitting, &resp);
	if ((o = agent_outcome("poll", r, &resp, st)) == AGENT_OK &&
	    ((ans = agent_resp_json(&resp)) == NULL ||
	    agent_dispatch(ans) != 0)) {
		agent_log(LOG_WARNING, "conn", "bad-answer", "request=poll");
		o = AGENT_RETRY;
	}
	json_decref(ans);
	agent_resp_free(&resp);
	return o;
}

/* The main loop: hello, polls, and the waits between failures. */
static void
agent_loop(struct agent_http *h, const struct agent_state *st)
{
	enum agent_outcome o;
	long backoff = 0, wait;
	int need_hello = 1, failures = 0;

	while (!agent_quitting()) {
		if (need_hello && (o = agent_hello(h, st)) == AGENT_OK) {
			need_hello = 0;
			agent_log(LOG_INFO, "conn", failures > 0 ?
			    "reconnected" : "connected", "failures=%d",
			    failures);
		}
		if (!need_hello && (o = agent_poll(h, st)) == AGENT_OK) {
			backoff = 0;
			failures = 0;
			continue;
		}
		if (o == AGENT_QUIT)
			break;
		need_hello = 1;
		failures++;
		wait = o == AGENT_REFUSED ? AGENT_REFUSED_MS :
		    agent_jitter(agent_backoff(&backoff, AGENT_RETRY_MIN_MS,
		    AGENT_RETRY_MAX_MS));
		agent_log(LOG_INFO, "conn", "retry", "in_ms=%ld failures=%d",
		    wait, failures);
		agent_sleep(wait);
	}
}

/*
 * Tells the server the agent is stopping, so that the instance shows
 * offline at once rather than for the rest of the online window. Best
 * effort within AGENT_GOODBYE_MS (not aborted by the quit flag, which is
 * already set); the outcome is only logged. An older server answers 404.
 */
static void
agent_goodbye(struct agent_http *h)
{
	struct agent_resp resp;
	json_t *body;
	char why[256];
	int r;

	if ((body = json_object()) == NULL)
		return;
	r = agent_http_post(h, "/agent/v1/goodbye", body, AGENT_GOODBYE_MS,
	    NULL, &resp);
	json_decref(body);
	if (r == 0 && resp.status >= 200 && resp.status <= 299)
		agent_log(LOG_INFO, "conn", "goodbye", "http=%ld",
		    resp.status);
	else
		agent_log(LOG_WARNING, "conn", "goodbye-failed", "http=%ld "
		    "error=\"%s\"", r == 0 ? resp.status : 0L,
		    agent_resp_error(&resp, why, sizeof(why)));
	agent_resp_free(&resp);
}

/*
 * Runs the daemon with the state file at statepath and the log file at
 * logpath. Returns an exit status: 0 after a clean shutdown.
 */
int
agent_run(const char *statepath, const char *logpath, int foreground,
    int debug)
{
	struct agent_state st;
	struct agent_http *h = NULL;
	char spool[PATH_MAX], vis[2][AGENT_URL_MAX];
	int ex;

	if ((ex = agent_state_open(statepath, &st)) != 0)
		return ex;
	if (agent_log_open(logpath) != 0) {
		log_warn("cannot open log file %s", logpath);
		return AGENT_EXIT_IO;
	}
	log_init(AGENT_PROGNAME, LK_LOG_SYSLOG | (foreground ? LK_LOG_STDERR :
	    0), LOG_DAEMON);
	agent_log_set_debug(debug);
	if (agent_signals_start() != 0 ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatalx("cannot start");
	agent_task_init();
	if (agent_state_spooldir(statepath, spool, sizeof(spool)) != 0 ||
	    agent_report_init(spool) != 0) {
		log_warn("cannot use spool directory %s", spool);
		return AGENT_EXIT_IO;
	}
	agent_log(LOG_INFO, "agent", "start", "version=%s pid=%ld instance=%s "
	    "server=%s state=%s spooled=%zu", AGENT_VERSION, (long)getpid(),
	    st.instance_id, agent_vis(vis[0], sizeof(vis[0]), st.server),
	    agent_vis(vis[1], sizeof(vis[1]), statepath), agent_report_count());
	if (agent_report_start(&st) != 0 || agent_http_new(&st, 1, &h) != 0 ||
	    agent_sess_init(&st) != 0)
		fatalx("cannot start the reporter");
	agent_loop(h, &st);
	agent_log(LOG_INFO, "agent", "stopping", "pending_reports=%zu",
	    agent_report_count());
	agent_sess_stop(AGENT_DRAIN_MS);
	agent_task_drain(AGENT_DRAIN_MS);
	agent_report_finish(AGENT_FLUSH_MS);
	agent_goodbye(h);
	agent_http_free(h);
	explicit_bzero(&st, sizeof(st));
	agent_log(LOG_INFO, "agent", "stopped", "%s", "");
	agent_log_close();
	curl_global_cleanup();
	return AGENT_EXIT_OK;
}
