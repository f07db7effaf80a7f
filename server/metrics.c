/*
 * The counters behind /metrics, and their exposition in the Prometheus
 * text format 0.0.4. Counters are C11 atomics (relaxed: each is read on
 * its own); the two small tables (refusal codes, pushes in flight) take a
 * mutex, as they change on rarer events than bytes do.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

#define METRICS_CODES_MAX	64	/* distinct API error codes kept */
#define METRICS_CODE_LEN	64
#define METRICS_PUSHES_MAX	512	/* push invocations awaited at once */
#define METRICS_INVOKE_LEN	40

static const char *const metrics_statuses[] = { "Success", "Failed",
    "Timeout", "Stopped", "Error" };
#define METRICS_NSTATUS	(sizeof(metrics_statuses) / sizeof(metrics_statuses[0]))

/* Push latency buckets, seconds (an ssh login waits for the push). */
static const double metrics_le[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    30, 60 };
#define METRICS_NLE	(sizeof(metrics_le) / sizeof(metrics_le[0]))

static atomic_ullong m_pushes;
static atomic_ullong m_push_bucket[METRICS_NLE];
static atomic_ullong m_push_count;
static atomic_ullong m_push_sum_ms;
static atomic_ullong m_results[METRICS_NSTATUS];
static atomic_llong m_sessions;
static atomic_ullong m_bytes_client, m_bytes_agent;

static pthread_mutex_t m_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char			code[METRICS_CODE_LEN];
	unsigned long long	n;
} m_codes[METRICS_CODES_MAX];
static size_t m_ncodes;
static unsigned long long m_codes_other;

static struct {
	char		invoke[METRICS_INVOKE_LEN];
	long long	start_ms;
	size_t		left;		/* tasks not yet done */
} m_push[METRICS_PUSHES_MAX];

void
metrics_push_start(const char *invoke_id, size_t n)
{
	size_t i, slot = 0;

	atomic_fetch_add_explicit(&m_pushes, n, memory_order_relaxed);
	if (strlen(invoke_id) >= METRICS_INVOKE_LEN || n == 0)
		return;
	pthread_mutex_lock(&m_lock);
	/* A free slot, or else the oldest push (its result is long due). */
	for (i = 0; i < METRICS_PUSHES_MAX; i++) {
		if (m_push[i].left == 0) {
			slot = i;
			break;
		}
		if (m_push[i].start_ms < m_push[slot].start_ms)
			slot = i;
	}
	snprintf(m_push[slot].invoke, sizeof(m_push[slot].invoke), "%s",
	    invoke_id);
	m_push[slot].start_ms = lk_now_ms();
	m_push[slot].left = n;
	pthread_mutex_unlock(&m_lock);
}

static void
metrics_push_observe(long long ms)
{
	size_t i;

	for (i = 0; i < METRICS_NLE; i++)
		if ((double)ms <= metrics_le[i] * 1000)
			atomic_fetch_add_explicit(&m_push_bucket[i], 1,
			    memory_order_relaxed);
	atomic_fetch_add_explicit(&m_push_count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m_push_sum_ms, (unsigned long long)ms,
	    memory_order_relaxed);
}

void
metrics_task_done(const char *task_id, const char *status)
{
	const char *colon = strchr(task_id, ':');
	size_t i, len;
	long long ms = -1;

	for (i = 0; i < METRICS_NSTATUS; i++)
		if (strcmp(status, metrics_statuses[i]) == 0)
			atomic_fetch_add_explicit(&m_results[i], 1,
			    memory_order_relaxed);
	if (colon == NULL || (len = (size_t)(colon - task_id)) >=
	    METRICS_INVOKE_LEN)
		return;
	pthread_mutex_lock(&m_lock);
	for (i = 0; i < METRICS_PUSHES_MAX; i++)
		if (m_push[i].left > 0 && strncmp(m_push[i].invoke, task_id,
		    len) == 0 && m_push[i].invoke[len] == '\0') {
			m_push[i].left--;
			ms = lk_now_ms() - m_push[i].start_ms;
			break;
		}
	pthread_mutex_unlock(&m_lock);
	if (ms >= 0)
		metrics_push_observe(ms);
}

void
metrics_session(int delta)
{
	atomic_fetch_add_explicit(&m_sessions, delta, memory_order_relaxed);
}

void
metrics_relay_bytes(int from_client, size_t n)
{
	atomic_fetch_add_explicit(from_client ? &m_bytes_client :
	    &m_bytes_agent, n, memory_order_relaxed);
}

/* Codes are ours (api_error's literals): letters, digits, '.', '_'. */
void
metrics_api_error(const char *code)
{
	size_t i;

	if (code == NULL || strlen(code) >= METRICS_CODE_LEN ||
	    strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._") != strlen(code))
		code = NULL;
	pthread_mutex_lock(&m_lock);
	for (i = 0; code != NULL && i < m_ncodes; i++)
		if (strcmp(m_codes[i].code, code) == 0)
			break;
	if (code == NULL || (i == m_ncodes && m_ncodes == METRICS_CODES_MAX))
		m_codes_other++;
	else {
		if (i == m_ncodes)
			snprintf(m_codes[m_ncodes++].code, METRICS_CODE_LEN,
			    "%s", code);
		m_codes[i].n++;
	}
	pthread_mutex_unlock(&m_lock);
}

static unsigned long long
ld(atomic_ullong *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

static void
metrics_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
metrics_render_push(FILE *f)
{
	size_t i;

	metrics_head(f, "latchkey_key_pushes_total", "counter",
	    "Key pushes: InvokeCommand of the send-key command, per instance.");
	fprintf(f, "latchkey_key_pushes_total %llu\n", ld(&m_pushes));
	metrics_head(f, "latchkey_key_push_duration_seconds", "histogram",
	    "From a push's InvokeCommand to its result from the agent.");
	for (i = 0; i < METRICS_NLE; i++)
		fprintf(f, "latchkey_key_push_duration_seconds_bucket"
		    "{le=\"%g\"} %llu\n", metrics_le[i], ld(&m_push_bucket[i]));
	fprintf(f, "latchkey_key_push_duration_seconds_bucket{le=\"+Inf\"} "
	    "%llu\n", ld(&m_push_count));
	fprintf(f, "latchkey_key_push_duration_seconds_sum %.3f\n",
	    (double)ld(&m_push_sum_ms) / 1000);
	fprintf(f, "latchkey_key_push_duration_seconds_count %llu\n",
	    ld(&m_push_count));
}

char *
metrics_render(size_t agents, unsigned long long db_errors, size_t *lenp)
{
	char *buf = NULL;
	size_t i, len = 0;
	FILE *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	metrics_head(f, "latchkey_agents_connected", "gauge",
	    "Agents with a long poll waiting on this latchkeyd.");
	fprintf(f, "latchkey_agents_connected %zu\n", agents);
	metrics_render_push(f);
	metrics_head(f, "latchkey_invocation_results_total", "counter",
	    "Task results reported by agents, by status.");
	for (i = 0; i < METRICS_NSTATUS; i++)
		fprintf(f, "latchkey_invocation_results_total{status=\"%s\"} "
		    "%llu\n", metrics_statuses[i], ld(&m_results[i]));
	metrics_head(f, "latchkey_sessions_open", "gauge",
	    "Sessions whose agent is attached on this latchkeyd.");
	fprintf(f, "latchkey_sessions_open %lld\n",
	    (long long)atomic_load_explicit(&m_sessions, memory_order_relaxed));
	metrics_head(f, "latchkey_session_bytes_total", "counter",
	    "Bytes relayed by sessions, by the side that sent them.");
	fprintf(f, "latchkey_session_bytes_total{from=\"client\"} %llu\n",
	    ld(&m_bytes_client));
	fprintf(f, "latchkey_session_bytes_total{from=\"agent\"} %llu\n",
	    ld(&m_bytes_agent));
	metrics_head(f, "latchkey_api_errors_total", "counter",
	    "API calls refused, by error Code.");
	pthread_mutex_lock(&m_lock);
	for (i = 0; i < m_ncodes; i++)
		fprintf(f, "latchkey_api_errors_total{code=\"%s\"} %llu\n",
		    m_codes[i].code, m_codes[i].n);
	if (m_codes_other > 0)
		fprintf(f, "latchkey_api_errors_total{code=\"other\"} %llu\n",
		    m_codes_other);
	pthread_mutex_unlock(&m_lock);
	metrics_head(f, "latchkey_db_errors_total", "counter",
	    "Database statements that failed (not constraint refusals).");
	fprintf(f, "latchkey_db_errors_total %llu\n", db_errors);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*lenp = len;
	return buf;
}
