/*
 * Running tasks: each task a poll hands out gets its own detached thread,
 * which runs it with agent_exec_run() (the task's process is a child of
 * that thread), queues the report and then leaves the table. The table of
 * running tasks, guarded by tt.mtx, lets the poller skip a task it already
 * runs, find the task a "stops" entry names, and wait for all of them at
 * shutdown. A task is queued for reporting before it leaves the table, so
 * a task id is always either running or pending in the report queue until
 * the server has its result.
 *
 * A task id is run at most once. The server may hand a task out again: a
 * replica that took a task back (its lease ran out, see "Latchkey-Running-
 * Tasks" in docs/agent-protocol.md) hands it out anew, and a poll answer
 * built just before our report arrived may still carry it. So besides the
 * table and the report queue, the ids of the last AGENT_SEEN_MAX tasks
 * started (or refused) here are remembered, and a task handed out again is
 * only logged as a duplicate.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <jansson.h>

#include "err.h"
#include "util.h"

#include "agent.h"

#define AGENT_TASKS_MAX		128	/* tasks running at once */
#define AGENT_SEEN_MAX		1024	/* task ids remembered as run */

struct agent_task {
	struct agent_task	*next;
	struct agent_spec	 spec;
	struct agent_ctl	 ctl;
};

static struct {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;	/* a task ended */
	struct agent_task	*head;
	size_t			 n;
	char			 seen[AGENT_SEEN_MAX][AGENT_TASKID_MAX + 1];
	size_t			 seen_next;	/* the ring's oldest slot */
} tt = { .mtx = PTHREAD_MUTEX_INITIALIZER };

void
agent_task_init(void)
{
	agent_cond_init(&tt.cv);
}

static struct agent_task *
agent_task_find(const char *id)
{
	struct agent_task *t;

	for (t = tt.head; t != NULL; t = t->next)
		if (strcmp(t->spec.task_id, id) == 0)
			return t;
	return NULL;
}

/* Whether task id was started here lately. Called with tt.mtx held. */
static int
agent_task_seen(const char *id)
{
	size_t i;

	for (i = 0; i < AGENT_SEEN_MAX && tt.seen[i][0] != '\0'; i++)
		if (strcmp(tt.seen[i], id) == 0)
			return 1;
	return 0;
}

/* Remembers task id as started. Called with tt.mtx held. */
static void
agent_task_remember(const char *id)
{
	snprintf(tt.seen[tt.seen_next], sizeof(tt.seen[0]), "%s", id);
	tt.seen_next = (tt.seen_next + 1) % AGENT_SEEN_MAX;
}

/* Queues the report of res; logs when that is impossible. */
static void
agent_task_report(const struct agent_result *res)
{
	char *body;

	if ((body = agent_result_json(res, JSON_COMPACT)) == NULL ||
	    agent_report_enqueue(res->task_id, body) != 0)
		agent_log(LOG_ERR, "report", "lost", "task=%s reason=%s",
		    res->task_id, "out-of-memory");
	free(body);
}

static void
agent_task_free(struct agent_task *t)
{
	agent_spec_free(&t->spec);
	agent_ctl_free(&t->ctl);
	free(t);
}

static void *
agent_task_main(void *arg)
{
	struct agent_task *t = arg, **pp;
	struct agent_result res;

	agent_exec_run(&t->spec, &t->ctl, &res);
	agent_log(LOG_INFO, "task", "end", "task=%s status=%s exit_code=%d "
	    "error_code=%s output=%zu dropped=%llu seconds=%lld",
	    res.task_id, res.status, res.exit_code,
	    res.error_code[0] != '\0' ? res.error_code : "-", res.outlen,
	    res.dropped, (long long)(res.finish - res.start));
	agent_task_report(&res);
	agent_result_free(&res);
	pthread_mutex_lock(&tt.mtx);
	for (pp = &tt.head; *pp != NULL; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	tt.n--;
	pthread_cond_broadcast(&tt.cv);
	pthread_mutex_unlock(&tt.mtx);
	agent_task_free(t);
	return NULL;
}

/* Reports an Error for a task that cannot be started at all. */
static void
agent_task_refuse(const struct agent_spec *spec, const char *msg)
{
	struct agent_result res;

	memset(&res, 0, sizeof(res));
	snprintf(res.task_id, sizeof(res.task_id), "%s", spec->task_id);
	res.start = res.finish = time(NULL);
	agent_result_error(&res, "Error", "ExecutionException", msg);
	agent_log(LOG_WARNING, "task", "refused", "task=%s reason=%s",
	    spec->task_id, msg);
	agent_task_report(&res);
	agent_result_free(&res);
}

static int
agent_task_spawn(struct agent_task *t)
{
	pthread_attr_t attr;
	pthread_t th;
	int r;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&th, &attr, agent_task_main, t);
	pthread_attr_destroy(&attr);
	return r == 0 ? 0 : LK_ERR_SYSTEM;
}

/*
 * Starts a task object from a poll in its own thread, unless it is running
 * already, its report is still pending or it was started lately (a task is
 * run once).
 */
int
agent_task_start(const json_t *obj)
{
	struct agent_task *t;
	char vis[3][128];
	int full;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return LK_ERR_ALLOC;
	t->ctl.wakefd = -1;
	if (agent_spec_from_json(obj, &t->spec) != 0) {
		agent_log(LOG_WARNING, "task", "ignored", "reason=bad-task-id");
		agent_task_free(t);
		return LK_ERR_INVALID_FORMAT;
	}
	pthread_mutex_lock(&tt.mtx);
	if (agent_task_find(t->spec.task_id) != NULL ||
	    agent_report_pending(t->spec.task_id) ||
	    agent_task_seen(t->spec.task_id)) {
		pthread_mutex_unlock(&tt.mtx);
		agent_log(LOG_INFO, "task", "duplicate", "task=%s",
		    t->spec.task_id);
		agent_task_free(t);
		return 0;
	}
	agent_task_remember(t->spec.task_id);
	if ((full = tt.n >= AGENT_TASKS_MAX) ||
	    agent_ctl_init(&t->ctl) != 0 || agent_task_spawn(t) != 0) {
		pthread_mutex_unlock(&tt.mtx);
		agent_task_refuse(&t->spec, full ? "too many tasks running" :
		    "cannot start a thread");
		agent_task_free(t);
		return LK_ERR_SYSTEM;
	}
	agent_log(LOG_INFO, "task", "start", "task=%s type=%s user=%s dir=%s "
	    "timeout=%ld", t->spec.task_id, agent_vis(vis[0], sizeof(vis[0]),
	    t->spec.type), agent_vis(vis[1], sizeof(vis[1]),
	    t->spec.username), agent_vis(vis[2], sizeof(vis[2]),
	    t->spec.working_dir), t->spec.timeout);
	t->next = tt.head;
	tt.head = t;
	tt.n++;
	pthread_mutex_unlock(&tt.mtx);
	return 0;
}

/*
 * A "stops" entry: stops the task if it runs here. A task that neither
 * runs here nor waits to be reported (lost in a restart, say) is reported
 * Stopped, so that the server does not wait for it forever; the server
 * ignores that report for a task it has finished already.
 */
void
agent_task_stop(const char *id)
{
	struct agent_result res;
	struct agent_task *t;
	char vis[128];

	if (!agent_id_valid(id, AGENT_TASKID_MAX)) {
		agent_log(LOG_WARNING, "task", "stop-ignored", "task=%s",
		    agent_vis(vis, sizeof(vis), id));
		return;
	}
	pthread_mutex_lock(&tt.mtx);
	if ((t = agent_task_find(id)) != NULL)
		agent_ctl_stop(&t->ctl, AGENT_STOP_REQUEST);
	pthread_mutex_unlock(&tt.mtx);
	if (t != NULL) {
		agent_log(LOG_INFO, "task", "stop", "task=%s", id);
		return;
	}
	if (agent_report_pending(id))
		return;
	memset(&res, 0, sizeof(res));
	snprintf(res.task_id, sizeof(res.task_id), "%s", id);
	res.status = "Stopped";
	res.error_code = "";
	res.exit_code = -1;
	res.start = res.finish = time(NULL);
	agent_log(LOG_INFO, "task", "stop-unknown", "task=%s", id);
	agent_task_report(&res);
}

/* Whether task id runs here. Called with tt.mtx held. */
static int
agent_task_running(const char *id)
{
	return agent_task_find(id) != NULL;
}

/*
 * The header line "Latchkey-Running-Tasks: <id>,<id>,..." of every poll:
 * the tasks received and not yet reported (running here, then those whose
 * reports wait in the queue, oldest first), at most AGENT_RUNNING_MAX of
 * them; "Latchkey-Running-Tasks;" (libcurl's way to send an empty value)
 * when there are none. The server renews these tasks' leases. Returns a
 * string the caller frees, or NULL when out of memory.
 */
char *
agent_task_running_header(void)
{
	static const char name[] = "Latchkey-Running-Tasks";
	size_t cap = AGENT_RUNNING_MAX * (AGENT_TASKID_MAX + 1) + 1, len = 0,
	    n = 0;
	struct agent_task *t;
	char *ids, *hdr = NULL;

	if ((ids = malloc(cap)) == NULL)
		return NULL;
	ids[0] = '\0';
	pthread_mutex_lock(&tt.mtx);
	for (t = tt.head; t != NULL && n < AGENT_RUNNING_MAX; t = t->next) {
		len += (size_t)snprintf(ids + len, cap - len, "%s%s",
		    len > 0 ? "," : "", t->spec.task_id);
		n++;
	}
	agent_report_ids(ids, cap, &len, AGENT_RUNNING_MAX - n,
	    agent_task_running);
	pthread_mutex_unlock(&tt.mtx);
	if (len == 0)
		hdr = strdup("Latchkey-Running-Tasks;");
	else if (asprintf(&hdr, "%s: %s", name, ids) == -1)
		hdr = NULL;
	free(ids);
	return hdr;
}

/* Waits until no task runs or until end_ms; returns how many still run. */
static size_t
agent_task_wait(long long end_ms)
{
	size_t n;

	pthread_mutex_lock(&tt.mtx);
	while (tt.n > 0 && lk_now_ms() < end_ms)
		agent_cond_wait(&tt.cv, &tt.mtx, end_ms);
	n = tt.n;
	pthread_mutex_unlock(&tt.mtx);
	return n;
}

/*
 * Shutdown: lets running tasks finish within ms, then interrupts the rest
 * (their process groups are killed and they are reported Failed with
 * ExecutionInterrupted) and waits for their reports to be queued.
 */
void
agent_task_drain(long ms)
{
	struct agent_task *t;
	size_t n;

	if ((n = agent_task_wait(lk_now_ms() + ms)) == 0)
		return;
	agent_log(LOG_WARNING, "task", "interrupt", "count=%zu", n);
	pthread_mutex_lock(&tt.mtx);
	for (t = tt.head; t != NULL; t = t->next)
		agent_ctl_stop(&t->ctl, AGENT_STOP_SHUTDOWN);
	pthread_mutex_unlock(&tt.mtx);
	if ((n = agent_task_wait(lk_now_ms() + AGENT_KILL_GRACE_MS +
	    5000)) != 0)
		agent_log(LOG_ERR, "task", "abandoned", "count=%zu", n);
}
