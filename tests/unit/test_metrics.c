/*
 * server/metrics.c: the counters and their exposition. A push's latency
 * is observed once per task and only for tasks of a push; results count
 * by status; refusal codes are kept by name, odd ones as "other".
 */
#include "unit.h"

#include "metrics.h"

/* The value of the sample line starting with name (and a blank). */
static double
sample(const char *text, const char *name)
{
	const char *p = text;
	size_t n = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

static char *
render(void)
{
	size_t len;
	char *s;

	assert_non_null(s = metrics_render(3, 7, &len));
	assert_int_equal(strlen(s), len);
	return s;
}

static void
test_metrics_counters(void **state)
{
	char *s;

	(void)state;
	metrics_push_start("t-push", 2);
	metrics_task_done("t-push:i-1", "Failed");
	metrics_task_done("t-push:i-2", "Success");
	metrics_task_done("t-push:i-3", "Success");	/* not a third push */
	metrics_task_done("t-other:i-1", "Success");
	metrics_task_done("no-colon", "Timeout");
	metrics_task_done("t-x:i-1", "Bogus");
	metrics_session(1);
	metrics_session(1);
	metrics_session(-1);
	metrics_relay_bytes(1, 10);
	metrics_relay_bytes(0, 32);
	metrics_api_error("Throttling");
	metrics_api_error("Throttling");
	metrics_api_error("bad\"code");
	metrics_api_error(NULL);
	s = render();
	assert_true(sample(s, "latchkey_agents_connected") == 3);
	assert_true(sample(s, "latchkey_key_pushes_total") == 2);
	assert_true(sample(s, "latchkey_key_push_duration_seconds_count") == 2);
	assert_true(sample(s,
	    "latchkey_key_push_duration_seconds_bucket{le=\"+Inf\"}") == 2);
	assert_true(sample(s,
	    "latchkey_key_push_duration_seconds_bucket{le=\"60\"}") == 2);
	assert_true(sample(s,
	    "latchkey_invocation_results_total{status=\"Success\"}") == 3);
	assert_true(sample(s,
	    "latchkey_invocation_results_total{status=\"Failed\"}") == 1);
	assert_true(sample(s,
	    "latchkey_invocation_results_total{status=\"Timeout\"}") == 1);
	assert_null(strstr(s, "Bogus"));
	assert_true(sample(s, "latchkey_sessions_open") == 1);
	assert_true(sample(s,
	    "latchkey_session_bytes_total{from=\"client\"}") == 10);
	assert_true(sample(s,
	    "latchkey_session_bytes_total{from=\"agent\"}") == 32);
	assert_true(sample(s,
	    "latchkey_api_errors_total{code=\"Throttling\"}") == 2);
	assert_true(sample(s,
	    "latchkey_api_errors_total{code=\"other\"}") == 2);
	assert_true(sample(s, "latchkey_db_errors_total") == 7);
	assert_null(strstr(s, "bad\""));
	free(s);
}

static void
test_metrics_push_table_bounded(void **state)
{
	char id[40], *s;
	int i;

	(void)state;
	/* More pushes than the table holds: the oldest give way. */
	for (i = 0; i < 600; i++) {
		snprintf(id, sizeof(id), "t-%d", i);
		metrics_push_start(id, 1);
	}
	metrics_task_done("t-599:i", "Success");
	metrics_task_done("t-0:i", "Success");		/* evicted */
	s = render();
	assert_true(sample(s, "latchkey_key_pushes_total") == 602);
	assert_true(sample(s, "latchkey_key_push_duration_seconds_count") == 3);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_counters),
		cmocka_unit_test(test_metrics_push_table_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
