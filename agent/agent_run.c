/*
 * The daemon ("latchkey-agent run"). Threads:
 *
 *	main		hello, then the long poll in a loop; starts tasks and
 *			passes on stops; between polls, every 60 s (or
 *			--hostkey-check), reads sshd's host keys again and
 *			says hello when they changed; at the end, the shutdown
 *	signals		sigwait() for SIGTERM/SIGINT (quit) and SIGHUP
 *			(reopen the log file); every other thread blocks them
 *	reporter	sends the queued results (agent_report.c)
 *	one per task	runs the task's process (agent_task.c, agent_exec.c)
 *
 * The server is one URL or several (register --server, repeated: replicas
 * of latchkeyd on one database, or balancers in front of them). The
 * poller talks to one URL at a time. When it gets no answer or a 5xx, it
 * moves on to the next URL (wrapping around) after a short random spread
 * (0 to AGENT_NEXT_SPREAD_MS), and once every URL has failed in a row it
 * waits between rounds: 0.5 s, 1 s, 2 s ... 20 s, each +-50 % at random
 * (so at most 30 s), so that the agents of a replica that died do not all
 * come back at the same instant. Other failures (a 4xx, an answer that is
 * not JSON) wait the same way on the same URL. After a success it stays
 * on that URL. Every reconnection says hello before the next poll. A 401
 * means the server refused the credential: that is logged as such and
 * retried every 60 s.
 *
 * Every answer of latchkeyd names its replica (Latchkey-Replica). The
 * poller logs "conn disconnected" once when a connection is lost, "conn
 * reconnected" once when it is back (with the URL, the replica that
 * answered, the one before and how long it was down), and "conn
 * replica-changed" when answers through the same URL come from another
 * replica without a failure in between (a balancer moved us, as libcurl
 * re-dials silently); it then says hello to the new replica too.
 *
 * Every poll names the tasks received and not yet reported in the header
 * Latchkey-Running-Tasks, so that whichever replica answers renews their
 * leases (docs/agent-protocol.md).
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
#include <malloc.h>
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
#include "util.h"

#include "agent.h"

#define AGENT_RETRY_MIN_MS	500L
#define AGENT_RETRY_MAX_MS	20000L	/* +50 % jitter: at most 30 s */
#define AGENT_NEXT_SPREAD_MS	250L	/* before trying the next URL */
#define AGENT_REFUSED_MS	60000L	/* after a 401 */
#define AGENT_HELLO_TIMEOUT_MS	15000L
#define AGENT_GOODBYE_MS	2000L	/* a clean stop's last request */

/* How a request to the server went. */
enum agent_outcome {
	AGENT_OK,
	AGENT_NEXT,	/* no answer or a 5xx: try the next URL */
	AGENT_RETRY,	/* another failure: the same URL, later */
	AGENT_REFUSED,
	AGENT_QUIT,
	AGENT_GONE,	/* 410: the instance was deregistered */
};

/* The poller's connection, for its log lines. */
struct agent_conn {
	int		 up;		/* the last request was answered */
	int		 ever;		/* connected once */
	int		 failures;	/* in a row */
	long long	 down_ms;	/* when the first of them happened */
	char		 replica[AGENT_REPLICA_MAX + 1];	/* last seen */
};

static atomic_int agent_quit;
static int agent_deregistered;	/* a 410 ended the main loop */
static pthread_mutex_t agent_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t agent_cv;

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

/* pthread_cond_timedwait() until end_ms of lk_now_ms(). */
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

/* ms +-50 % at random, so that agents do not retry in step. */
static long
agent_jitter(long ms)
{
	return ms / 2 + (long)arc4random_uniform((uint32_t)ms + 1);
}

/*
 * The wait after a round of failures: AGENT_RETRY_MIN_MS doubling to
 * AGENT_RETRY_MAX_MS (*backoff holds where it is; 0 starts again), each
 * +-50 % at random.
 */
long
agent_round_wait(long *backoff)
{
	return agent_jitter(agent_backoff(backoff, AGENT_RETRY_MIN_MS,
	    AGENT_RETRY_MAX_MS));
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
	long long end = lk_now_ms() + ms;

	pthread_mutex_lock(&agent_mtx);
	while (!agent_quitting() && lk_now_ms() < end)
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

/*
 * 410 from latchkeyd: the instance was deregistered (DeregisterManagedInstance,
 * latchkeyd instance remove) or replaced (the machine registered again).
 * Logged once; the agent then stops without running anything more and
 * exits AGENT_EXIT_DEREGISTERED.
 */
static void
agent_gone(const struct agent_resp *resp, const struct agent_state *st)
{
	const char *reason = NULL;
	char vis[64];
	json_t *o = agent_resp_json(resp);

	if (o != NULL)
		reason = json_string_value(json_object_get(o, "reason"));
	agent_log(LOG_ERR, "agent", "deregistered", "instance=%s reason=%s "
	    "hint=%s", st->instance_id, agent_vis_text(vis, sizeof(vis),
	    reason ? reason : "deregistered", reason ? strlen(reason) : 12),
	    reason != NULL && strcmp(reason, "replaced") == 0 ?
	    "this-machine-registered-again-stop-this-agent" :
	    "register-again-with-a-new-activation");
	log_warnx("instance %s was %s by the server: this agent stops "
	    "(exit %d)%s", st->instance_id, reason != NULL &&
	    strcmp(reason, "replaced") == 0 ? "replaced (this machine "
	    "registered again as another instance)" : "deregistered",
	    AGENT_EXIT_DEREGISTERED, reason != NULL && strcmp(reason,
	    "replaced") == 0 ? "" : "; to manage this server again, run "
	    "latchkey-agent register with a new activation");
	json_decref(o);
}

/* Sorts an answer (or its absence) into an outcome, logging failures. */
static enum agent_outcome
agent_outcome(const char *what, int r, const struct agent_resp *resp,
    const struct agent_state *st, const struct agent_http *h)
{
	char why[256], url[AGENT_URL_MAX];

	if (r != 0 && agent_quitting())
		return AGENT_QUIT;
	if (r == 0 && resp->status >= 200 && resp->status <= 299)
		return AGENT_OK;
	agent_resp_error(resp, why, sizeof(why));
	agent_vis(url, sizeof(url), agent_http_url(h));
	if (r == 0 && resp->status == 410) {
		agent_gone(resp, st);
		return AGENT_GONE;
	}
	if (r == 0 && resp->status == 401) {
		agent_log(LOG_ERR, "conn", "credential-refused",
		    "request=%s url=%s instance=%s http=401 error=\"%s\" "
		    "retry_ms=%ld hint=register-again", what, url,
		    st->instance_id, why, AGENT_REFUSED_MS);
		return AGENT_REFUSED;
	}
	if (r != 0)
		agent_log(LOG_WARNING, "conn", "unreachable",
		    "request=%s url=%s error=\"%s\"", what, url, why);
	else
		agent_log(LOG_WARNING, "conn", "http-error",
		    "request=%s url=%s http=%ld error=\"%s\"", what, url,
		    resp->status, why);
	return agent_resp_failover(r, resp) ? AGENT_NEXT : AGENT_RETRY;
}

/* A replica's name for a log line: "-" when the answer had none. */
static const char *
agent_replica_str(const char *r)
{
	return r[0] != '\0' ? r : "-";
}

/*
 * After an answer (hello or poll): logs "conn connected" or "conn
 * reconnected" when the connection was down, "conn replica-changed" when
 * another replica answers through the same URL. Returns 1 when the new
 * replica should get a hello.
 */
static int
agent_conn_answered(struct agent_conn *c, const struct agent_http *h,
    const struct agent_resp *resp)
{
	char url[AGENT_URL_MAX], prev[AGENT_REPLICA_MAX + 1];
	int changed = 0;

	agent_vis(url, sizeof(url), agent_http_url(h));
	snprintf(prev, sizeof(prev), "%s", c->replica);
	if (resp->replica[0] != '\0')
		snprintf(c->replica, sizeof(c->replica), "%s", resp->replica);
	if (!c->up && !c->ever)
		agent_log(LOG_INFO, "conn", "connected", "url=%s replica=%s "
		    "failures=%d down_ms=%lld", url,
		    agent_replica_str(c->replica), c->failures,
		    c->failures > 0 ? lk_now_ms() - c->down_ms : 0LL);
	else if (!c->up)
		agent_log(LOG_INFO, "conn", "reconnected", "url=%s replica=%s "
		    "previous_replica=%s failures=%d down_ms=%lld", url,
		    agent_replica_str(c->replica), agent_replica_str(prev),
		    c->failures, lk_now_ms() - c->down_ms);
	else if (prev[0] != '\0' && resp->replica[0] != '\0' &&
	    strcmp(prev, resp->replica) != 0) {
		agent_log(LOG_WARNING, "conn", "replica-changed", "url=%s "
		    "replica=%s previous_replica=%s", url, resp->replica, prev);
		changed = 1;
	}
	c->up = c->ever = 1;
	c->failures = 0;
	return changed;
}

/* After a failure: logs "conn disconnected" when it is the first. */
static void
agent_conn_failed(struct agent_conn *c, const struct agent_http *h)
{
	char url[AGENT_URL_MAX];

	if (c->failures++ == 0)
		c->down_ms = lk_now_ms();
	if (!c->up)
		return;
	c->up = 0;
	agent_log(LOG_WARNING, "conn", "disconnected", "url=%s replica=%s",
	    agent_vis(url, sizeof(url), agent_http_url(h)),
	    agent_replica_str(c->replica));
}

static enum agent_outcome
agent_hello(struct agent_http *h, const struct agent_state *st,
    struct agent_conn *c, const json_t *hostkeys)
{
	struct agent_resp resp;
	json_t *facts, *ans;
	int r;

	if ((facts = agent_facts(hostkeys)) == NULL ||
	    json_object_set_new(facts, "clock_ms",
	    json_integer(agent_clock_ms())) != 0)
		fatalx("out of memory");
	r = agent_http_post(h, "/agent/v1/hello", facts,
	    AGENT_HELLO_TIMEOUT_MS, agent_quitting, &resp);
	json_decref(facts);
	if ((r = agent_outcome("hello", r, &resp, st, h)) == AGENT_OK) {
		(void)agent_conn_answered(c, h, &resp);
		if ((ans = agent_resp_json(&resp)) != NULL) {
			agent_clock_note(ans);
			agent_hostcerts_apply(ans, hostkeys);
		}
		json_decref(ans);
	}
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

/*
 * One long poll, carrying Latchkey-Running-Tasks. Sets *hello when the
 * answer came from another replica than the one before.
 */
static enum agent_outcome
agent_poll(struct agent_http *h, const struct agent_state *st,
    struct agent_conn *c, int *hello, long wait)
{
	struct agent_resp resp;
	enum agent_outcome o;
	char path[96], *running;
	json_t *ans = NULL;
	int r;

	snprintf(path, sizeof(path), "/agent/v1/poll?wait=%ld&clock=%lld",
	    wait, agent_clock_ms());
	if ((running = agent_task_running_header()) == NULL)
		fatalx("out of memory");
	r = agent_http_do_hdr(h, "GET", path, NULL, running,
	    (wait + 10) * 1000L, agent_quitting, &resp);
	free(running);
	if ((o = agent_outcome("poll", r, &resp, st, h)) == AGENT_OK &&
	    ((ans = agent_resp_json(&resp)) == NULL ||
	    agent_dispatch(ans) != 0)) {
		agent_log(LOG_WARNING, "conn", "bad-answer", "request=poll");
		o = AGENT_RETRY;
	}
	if (o == AGENT_OK && agent_conn_answered(c, h, &resp))
		*hello = 1;
	if (o == AGENT_OK)
		agent_clock_note(ans);
	json_decref(ans);
	agent_resp_free(&resp);
	return o;
}

/*
 * The wait after a failed request: a short spread before the next URL
 * while a round of them goes on, else agent_round_wait().
 */
static long
agent_retry_wait(struct agent_http *h, enum agent_outcome o, long *backoff)
{
	if (o == AGENT_REFUSED)
		return AGENT_REFUSED_MS;
	if (o == AGENT_NEXT && !agent_http_failover(h))
		return (long)arc4random_uniform(AGENT_NEXT_SPREAD_MS + 1);
	return agent_round_wait(backoff);
}

/*
 * sshd's host keys again, when check_ms has passed since *nextp: a list
 * that differs from *keysp replaces it and asks for a hello.
 */
static void
agent_hostkeys_check(json_t **keysp, long long *nextp, long check_ms,
    int *hello)
{
	json_t *keys;

	if (lk_now_ms() < *nextp)
		return;
	*nextp = lk_now_ms() + check_ms;
	if ((keys = agent_hostkeys()) == NULL)
		fatalx("out of memory");
	if (json_equal(keys, *keysp)) {
		json_decref(keys);
		return;
	}
	agent_log(LOG_INFO, "hostkeys", "changed", "keys=%zu previous=%zu",
	    json_array_size(keys), json_array_size(*keysp));
	json_decref(*keysp);
	*keysp = keys;
	*hello = 1;
}

/*
 * A poll's wait: AGENT_POLL_WAIT, or less so that it ends when the host
 * keys are due for a check (at least 1 s).
 */
static long
agent_poll_wait(long long next_check)
{
	long long left = (next_check - lk_now_ms() + 999) / 1000;

	if (left < 1)
		return 1;
	return left < AGENT_POLL_WAIT ? (long)left : AGENT_POLL_WAIT;
}

/*
 * The main loop: hello, polls, and the waits between failures; sshd's
 * host keys checked every check_s seconds between polls.
 */
static void
agent_loop(struct agent_http *h, const struct agent_state *st, long check_s)
{
	struct agent_conn c;
	enum agent_outcome o = AGENT_OK;
	char url[AGENT_URL_MAX];
	long backoff = 0, wait;
	long long next_check = lk_now_ms() + check_s * 1000L;
	long long next_cert = lk_now_ms() + AGENT_HOSTCERT_HELLO_MS;
	json_t *keys;
	int need_hello = 1;

	memset(&c, 0, sizeof(c));
	if ((keys = agent_hostkeys()) == NULL)
		fatalx("out of memory");
	while (!agent_quitting()) {
		agent_hostkeys_check(&keys, &next_check, check_s * 1000L,
		    &need_hello);
		/* Certificates are renewed at a hello: say one now and then. */
		if (agent_hostcerts_enabled() && lk_now_ms() >= next_cert) {
			next_cert = lk_now_ms() + AGENT_HOSTCERT_HELLO_MS;
			need_hello = 1;
		}
		if (need_hello && (o = agent_hello(h, st, &c, keys)) ==
		    AGENT_OK)
			need_hello = 0;
		if (!need_hello && (o = agent_poll(h, st, &c, &need_hello,
		    agent_poll_wait(next_check))) == AGENT_OK) {
			agent_http_ok(h);
			backoff = 0;
			continue;
		}
		if (o == AGENT_QUIT)
			break;
		if (o == AGENT_GONE) {
			agent_deregistered = 1;
			break;
		}
		agent_conn_failed(&c, h);
		need_hello = 1;
		wait = agent_retry_wait(h, o, &backoff);
		agent_log(LOG_INFO, "conn", "retry", "in_ms=%ld failures=%d "
		    "url=%s", wait, c.failures, agent_vis(url, sizeof(url),
		    agent_http_url(h)));
		agent_sleep(wait);
	}
	json_decref(keys);
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
 * logpath, checking sshd's host keys every hostkey_check seconds. Returns an exit status: 0 after a clean shutdown.
 */
int
agent_run(const char *statepath, const char *logpath, int foreground,
    int debug, long hostkey_check)
{
	struct agent_state st;
	struct agent_http *h = NULL;
	char spool[PATH_MAX], vis[2][AGENT_URL_MAX], more[AGENT_URL_MAX];
	size_t i, len = 0;
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
	/*
	 * A session's buffers (256 KiB and more) are taken while it moves
	 * bytes and given back when it goes quiet: straight from and back to
	 * the kernel, so that idle sessions cost no memory. (glibc's default
	 * raises this threshold after the first such free, keeping freed
	 * buffers in a thread's arena.) Few arenas: one thread per session.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_ARENA_MAX, 2);
	if (agent_signals_start() != 0 ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatalx("cannot start");
	agent_task_init();
	if (agent_state_spooldir(statepath, spool, sizeof(spool)) != 0 ||
	    agent_report_init(spool) != 0) {
		log_warn("cannot use spool directory %s", spool);
		return AGENT_EXIT_IO;
	}
	more[0] = '\0';
	for (i = 1; i < st.nservers && len < sizeof(more); i++)
		len += (size_t)snprintf(more + len, sizeof(more) - len, "%s%s",
		    i == 1 ? " failover=" : ",", agent_vis(vis[0],
		    sizeof(vis[0]), st.servers[i]));
	agent_log(LOG_INFO, "agent", "start", "version=%s pid=%ld instance=%s "
	    "server=%s%s state=%s spooled=%zu", AGENT_VERSION, (long)getpid(),
	    st.instance_id, agent_vis(vis[0], sizeof(vis[0]), st.server), more,
	    agent_vis(vis[1], sizeof(vis[1]), statepath), agent_report_count());
	if (agent_report_start(&st) != 0 || agent_http_new(&st, 1, &h) != 0 ||
	    agent_sess_init(&st) != 0 || agent_login_start() != 0)
		fatalx("cannot start the reporter");
	if (agent_rec_init(statepath, &st) != 0)
		fatalx("cannot use the recordings' spool directory");
	agent_loop(h, &st, hostkey_check);
	agent_log(LOG_INFO, "agent", "stopping", "pending_reports=%zu",
	    agent_report_count());
	agent_login_stop();
	/*
	 * Deregistered: nothing may run here any more, so running tasks get
	 * no time to drain (their process groups are killed), and neither
	 * their reports nor a goodbye are sent (the server refuses them).
	 */
	agent_sess_stop(agent_deregistered ? 0 : AGENT_DRAIN_MS);
	agent_rec_stop();
	agent_task_drain(agent_deregistered ? 0 : AGENT_DRAIN_MS);
	agent_report_finish(agent_deregistered ? 0 : AGENT_FLUSH_MS);
	if (!agent_deregistered)
		agent_goodbye(h);
	agent_http_free(h);
	explicit_bzero(&st, sizeof(st));
	agent_log(LOG_INFO, "agent", "stopped", "%s", "");
	agent_log_close();
	curl_global_cleanup();
	return agent_deregistered ? AGENT_EXIT_DEREGISTERED : AGENT_EXIT_OK;
}
