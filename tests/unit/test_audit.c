/*
 * The audit trail (server/audit.c, audit_line.c, store_audit.c) on both
 * storage backends (tests/unit/dbtest.h; run from the top of the tree, as
 * root): events chained in the database and verified; an edited (with and
 * without its hash recomputed), a deleted (inside and at the end) and a
 * swapped event found, in the database and in an exported file; a file
 * that starts after seq 1 (rotated) passes; 8 threads appending at once
 * make one linear chain; the file export's cursor survives a crash
 * between the write and the cursor (each event once, a partial line cut);
 * hostile lines refused.
 */
#include "unit.h"

#include <limits.h>
#include <pthread.h>

#include <jansson.h>

#include "audit.h"
#include "dbtest.h"
#include "err.h"
#include "latchkeyd.h"
#include "log.h"
#include "store.h"

DBTEST_LKD_FIXTURE

static char tmpdir[64];

static void
emit_n(int n, int base)
{
	struct audit_ev ev;
	int i;

	for (i = 0; i < n; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = "api.call";
		ev.actor_type = AUDIT_ACTOR_KEY;
		ev.actor = "LTAItest";
		ev.instance = "i-test";
		ev.user = "alice";
		ev.code = i % 3 == 2 ? "Forbidden.RAM" : NULL;
		ev.detail = json_pack("{s:i, s:s}", "n", base + i, "note",
		    "multi\nline \"quoted\" \x01 ünïcode");
		assert_int_equal(audit_emit(&ev), 0);
	}
}

/* Runs audit_verify_db with its output thrown away. */
static int
verify_db_quiet(void)
{
	int saved, r, fd;

	fflush(stdout);
	saved = dup(1);
	fd = open("/dev/null", O_WRONLY);
	dup2(fd, 1);
	close(fd);
	r = audit_verify_db();
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	return r;
}

static int
verify_file_quiet(const char *path)
{
	int saved, r, fd;

	fflush(stdout);
	saved = dup(1);
	fd = open("/dev/null", O_WRONLY);
	dup2(fd, 1);
	close(fd);
	r = audit_verify_file(path);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	return r;
}

static void
test_intact(void **state)
{
	int64_t seq;
	char hash[65];

	(void)state;
	assert_int_equal(verify_db_quiet(), 0);		/* empty */
	emit_n(7, 0);
	assert_int_equal(store_audit_head(&seq, hash), 0);
	assert_int_equal(seq, 7);
	assert_int_equal(verify_db_quiet(), 0);
}

static void
test_db_edited(void **state)
{
	int changes = 0;

	(void)state;
	emit_n(5, 0);
	assert_int_equal(lkdb_run(lkd->db, &changes, "UPDATE audit_events "
	    "SET line = REPLACE(line, '\"n\":2', '\"n\":9') WHERE seq = 3",
	    ""), 0);
	assert_int_equal(changes, 1);
	assert_int_equal(verify_db_quiet(), 1);
}

struct grab {
	char	*line;
};

static int
grab_cb(void *arg, const struct store_audit_row *row)
{
	struct grab *g = arg;

	g->line = strdup(row->line);
	return 1;
}

/* The attacker recomputes the edited event's own hash: the next one's prev. */
static void
test_db_edited_rehashed(void **state)
{
	struct grab g = { NULL };
	json_t *o;
	char *line = NULL, hash[65];
	struct audit_chain c;

	(void)state;
	emit_n(5, 0);
	assert_int_equal(store_audit_scan(2, 1, grab_cb, &g), 0);
	assert_non_null(g.line);
	o = json_loads(g.line, 0, NULL);
	assert_non_null(o);
	json_object_del(o, "hash");
	json_object_set_new(json_object_get(o, "detail"), "n",
	    json_integer(99));
	assert_int_equal(audit_line_make(o, &line, hash), 0);
	assert_int_equal(lkdb_run(lkd->db, NULL, "UPDATE audit_events SET "
	    "line = ?, hash = ? WHERE seq = 3", "ss", line, hash), 0);
	assert_int_equal(verify_db_quiet(), 1);
	/* The line itself is well formed: the chain names the next event. */
	audit_chain_init(&c);
	assert_int_equal(audit_chain_step(&c, line, strlen(line), 1, 0), 0);
	json_decref(o);
	free(line);
	free(g.line);
}

static void
test_db_deleted(void **state)
{
	(void)state;
	emit_n(5, 0);
	assert_int_equal(lkdb_run(lkd->db, NULL, "DELETE FROM audit_events "
	    "WHERE seq = 2", ""), 0);
	assert_int_equal(verify_db_quiet(), 1);
}

static void
test_db_deleted_last(void **state)
{
	(void)state;
	emit_n(5, 0);
	assert_int_equal(lkdb_run(lkd->db, NULL, "DELETE FROM audit_events "
	    "WHERE seq = 5", ""), 0);
	assert_int_equal(verify_db_quiet(), 1);
}

/* Rows 2 and 3 trade their lines and hashes (the seqs stay). */
static void
test_db_swapped(void **state)
{
	struct grab a = { NULL }, b = { NULL };
	char ha[65], hb[65];
	struct audit_line la, lb;

	(void)state;
	emit_n(5, 0);
	assert_int_equal(store_audit_scan(1, 1, grab_cb, &a), 0);
	assert_int_equal(store_audit_scan(2, 1, grab_cb, &b), 0);
	assert_int_equal(audit_line_check(a.line, strlen(a.line), &la), 0);
	assert_int_equal(audit_line_check(b.line, strlen(b.line), &lb), 0);
	memcpy(ha, la.hash, 65);
	memcpy(hb, lb.hash, 65);
	assert_int_equal(lkdb_run(lkd->db, NULL, "UPDATE audit_events SET "
	    "line = ?, hash = ? WHERE seq = 2", "ss", b.line, hb), 0);
	assert_int_equal(lkdb_run(lkd->db, NULL, "UPDATE audit_events SET "
	    "line = ?, hash = ? WHERE seq = 3", "ss", a.line, ha), 0);
	assert_int_equal(verify_db_quiet(), 1);
	free(a.line);
	free(b.line);
}

/* The lines of path, and writing them back (or some of them). */
static size_t
read_lines(const char *path, char **lines, size_t max)
{
	FILE *f = fopen(path, "r");
	char *l = NULL;
	size_t cap = 0, n = 0;

	assert_non_null(f);
	while (n < max && getline(&l, &cap, f) > 0) {
		lines[n++] = l;
		l = NULL;
		cap = 0;
	}
	free(l);
	fclose(f);
	return n;
}

static void
write_lines(const char *path, char **lines, const size_t *order, size_t n)
{
	FILE *f = fopen(path, "w");
	size_t i;

	assert_non_null(f);
	for (i = 0; i < n; i++)
		fputs(lines[order[i]], f);
	fclose(f);
}

static void
test_file(void **state)
{
	char path[128], *lines[16];
	size_t n, i, order[16];
	int64_t got = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/f-%d.jsonl", tmpdir,
	    *(int *)*state == DBTEST_PG);
	unlink(path);
	emit_n(6, 0);
	assert_int_equal(audit_export_file(path, &got), 0);
	assert_int_equal(got, 6);
	assert_int_equal(audit_export_file(path, &got), 0);
	assert_int_equal(got, 0);		/* nothing new: nothing again */
	emit_n(2, 6);
	assert_int_equal(audit_export_file(path, &got), 0);
	assert_int_equal(got, 2);
	assert_int_equal(verify_file_quiet(path), 0);
	n = read_lines(path, lines, 16);
	assert_int_equal(n, 8);
	for (i = 0; i < n; i++)
		order[i] = i;
	/* Rotated: the first three gone, the rest still a chain. */
	write_lines(path, lines, order + 3, n - 3);
	assert_int_equal(verify_file_quiet(path), 0);
	/* Deleted in the middle. */
	order[4] = 3;
	write_lines(path, lines, order + 1, n - 1);
	order[4] = 4;
	assert_int_equal(verify_file_quiet(path), 1);
	/* Swapped. */
	order[2] = 3;
	order[3] = 2;
	write_lines(path, lines, order, n);
	assert_int_equal(verify_file_quiet(path), 1);
	order[2] = 2;
	order[3] = 3;
	/* Edited: one character of line 5's detail. */
	lines[4][strstr(lines[4], "\"n\":") - lines[4] + 4] = '7';
	write_lines(path, lines, order, n);
	assert_int_equal(verify_file_quiet(path), 1);
	/* Cut short: no newline at the end. */
	lines[4][strstr(lines[4], "\"n\":") - lines[4] + 4] = '4';
	write_lines(path, lines, order, n);
	assert_int_equal(verify_file_quiet(path), 0);
	lines[n - 1][strlen(lines[n - 1]) - 1] = '\0';
	write_lines(path, lines, order, n);
	assert_int_equal(verify_file_quiet(path), 1);
	for (i = 0; i < n; i++)
		free(lines[i]);
	unlink(path);
}

/*
 * Killed after the write and before the cursor moved, and in the middle
 * of a line: the next export cuts the partial line and writes each event
 * once.
 */
static void
test_file_crash(void **state)
{
	char path[128], cursor[PATH_MAX + 200], host[64], *lines[16], rp[PATH_MAX];
	int64_t got = 0;
	size_t n, i;
	FILE *f;

	snprintf(path, sizeof(path), "%s/c-%d.jsonl", tmpdir,
	    *(int *)*state == DBTEST_PG);
	unlink(path);
	emit_n(4, 0);
	assert_int_equal(audit_export_file(path, &got), 0);
	assert_int_equal(got, 4);
	/* The cursor as a crash left it: two behind the file. */
	assert_non_null(realpath(tmpdir, rp));
	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	snprintf(cursor, sizeof(cursor), "file:%s:%s/%s", host, rp,
	    strrchr(path, '/') + 1);
	assert_int_equal(store_audit_cursor_set(cursor, 2), 0);
	f = fopen(path, "a");
	fputs("{\"v\":1,\"seq\":5,\"ti", f);	/* cut mid-line */
	fclose(f);
	emit_n(2, 4);
	assert_int_equal(audit_export_file(path, &got), 0);
	assert_int_equal(got, 2);
	n = read_lines(path, lines, 16);
	assert_int_equal(n, 6);
	for (i = 0; i < n; i++)
		free(lines[i]);
	assert_int_equal(verify_file_quiet(path), 0);
	unlink(path);
}

struct many {
	int	 n;
};

static void *
many_main(void *arg)
{
	struct many *m = arg;

	emit_n(m->n, 0);
	return NULL;
}

/* 8 threads appending at once: one chain, no gap, no fork. */
static void
test_concurrent(void **state)
{
	pthread_t th[8];
	struct many m = { 25 };
	int64_t seq;
	char hash[65];
	int i;

	(void)state;
	for (i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&th[i], NULL, many_main, &m),
		    0);
	for (i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(store_audit_head(&seq, hash), 0);
	assert_int_equal(seq, 200);
	assert_int_equal(verify_db_quiet(), 0);
}

static int
count_cb(void *arg, const struct store_audit_row *row)
{
	(void)row;
	(*(int *)arg)++;
	return 0;
}

static void
test_query(void **state)
{
	struct store_audit_query q;
	int64_t total = 0;
	int rows = 0;

	(void)state;
	emit_n(5, 0);
	memset(&q, 0, sizeof(q));
	q.actor = "key:LTAItest";
	q.limit = 2;
	assert_int_equal(store_audit_query(&q, count_cb, &rows, &total), 0);
	assert_int_equal(rows, 2);		/* one page */
	assert_int_equal(total, 5);
	q.actor = "key:LTAIother";
	assert_int_equal(store_audit_query(&q, count_cb, &rows, &total), 0);
	assert_int_equal(total, 0);
	q.actor = NULL;
	q.instance_id = "i-test";
	q.username = "alice";
	q.kind = "api.call";
	q.since = 1;
	assert_int_equal(store_audit_query(&q, count_cb, &rows, &total), 0);
	assert_int_equal(total, 5);
	q.kind = "key.push";
	assert_int_equal(store_audit_query(&q, count_cb, &rows, &total), 0);
	assert_int_equal(total, 0);
}

/* Events in a caller's transaction: gone with its rollback, kept with its commit. */
static void
test_batch_tx(void **state)
{
	struct audit_batch ab = { NULL, 0 };
	struct audit_ev ev;
	int64_t seq;
	char hash[65];
	int i, round;

	(void)state;
	emit_n(1, 0);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < 3; i++) {	/* the array grows: pointers move */
			memset(&ev, 0, sizeof(ev));
			ev.kind = "key.push";
			ev.actor_type = AUDIT_ACTOR_KEY;
			ev.actor = "LTAIbatch";
			ev.instance = "i-batch";
			ev.user = "bob";
			ev.detail = json_pack("{s:i}", "i", i);
			assert_int_equal(audit_batch_add(&ab, &ev), 0);
		}
		assert_int_equal(lkdb_begin(lkd->db), 0);
		assert_int_equal(audit_batch_write_tx(&ab), 0);
		if (round == 0)
			lkdb_rollback(lkd->db);
		else
			assert_int_equal(lkdb_commit(lkd->db), 0);
		audit_batch_end(&ab, round == 1);
		assert_int_equal(store_audit_head(&seq, hash), 0);
		assert_int_equal(seq, round == 0 ? 1 : 4);
	}
	assert_int_equal(verify_db_quiet(), 0);
}

/* Hostile lines: refused, never crash (the fuzzer goes further). */
static void
test_hostile_lines(void **state)
{
	static const char *const bad[] = {
		"",
		"{}",
		"not json at all",
		"{\"v\":1,\"hash\":\"" AUDIT_ZERO_HASH "\"}",
		"[1,\"hash\":\"" AUDIT_ZERO_HASH "\"}",
		"{\"v\":1,\"seq\":1,\"hash\":\"" "ABCDEF" "\"}",
	};
	struct audit_line l;
	struct audit_chain c;
	json_t *o;
	char *line = NULL, hash[65], *big;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(audit_line_check(bad[i], strlen(bad[i]),
		    &l), 0);
	/* Well-formed and hashed, but not an event: each field checked. */
	o = json_pack("{s:i, s:i, s:s, s:s, s:s}", "v", 2, "seq", 1, "time",
	    "t", "kind", "k", "prev", AUDIT_ZERO_HASH);
	assert_int_equal(audit_line_make(o, &line, hash), 0);
	assert_int_equal(audit_line_check(line, strlen(line), &l),
	    LK_ERR_INVALID_FORMAT);
	free(line);
	json_object_set_new(o, "v", json_integer(1));
	json_object_set_new(o, "seq", json_integer(0));
	assert_int_equal(audit_line_make(o, &line, hash), 0);
	assert_int_equal(audit_line_check(line, strlen(line), &l),
	    LK_ERR_INVALID_FORMAT);
	free(line);
	json_object_set_new(o, "seq", json_integer(1));
	assert_int_equal(audit_line_make(o, &line, hash), 0);
	assert_int_equal(audit_line_check(line, strlen(line), &l), 0);
	/* An embedded NUL, and one byte more, are refused. */
	line[5] = '\0';
	assert_int_not_equal(audit_line_check(line, strlen(line) + 1 +
	    strlen(line + 6), &l), 0);
	free(line);
	/* A duplicate key, hashed properly. */
	json_object_set_new(o, "x", json_string("y"));
	assert_int_equal(audit_line_make(o, &line, hash), 0);
	{
		char *p = strstr(line, "\"x\":\"y\"");

		assert_non_null(p);
		memcpy(p, "\"v\":111", 7);
	}
	assert_int_not_equal(audit_line_check(line, strlen(line), &l), 0);
	free(line);
	/* Longer than AUDIT_LINE_MAX: refused to make and to check. */
	big = malloc(AUDIT_LINE_MAX + 2);
	memset(big, 'a', AUDIT_LINE_MAX + 1);
	big[AUDIT_LINE_MAX + 1] = '\0';
	json_object_set_new(o, "x", json_string(big));
	assert_int_equal(audit_line_make(o, &line, hash), LK_ERR_TOO_LONG);
	assert_int_not_equal(audit_line_check(big, AUDIT_LINE_MAX + 1, &l), 0);
	free(big);
	json_decref(o);
	/* A chain that must start at 1 refuses a later start. */
	o = json_pack("{s:i, s:i, s:s, s:s, s:s}", "v", 1, "seq", 2, "time",
	    "t", "kind", "k", "prev", AUDIT_ZERO_HASH);
	assert_int_equal(audit_line_make(o, &line, hash), 0);
	audit_chain_init(&c);
	assert_int_equal(audit_chain_step(&c, line, strlen(line), 1, 1), -1);
	assert_non_null(strstr(c.why, "expected seq 1, found seq 2"));
	audit_chain_init(&c);
	assert_int_equal(audit_chain_step(&c, line, strlen(line), 1, 0), 0);
	assert_int_equal(audit_chain_step(&c, line, strlen(line), 2, 0), -1);
	assert_non_null(strstr(c.why, "reordered or repeated"));
	free(line);
	json_decref(o);
}

#define BOTH(t) \
	{ #t " sqlite", t, setup, teardown, \
	    (void *)(uintptr_t)&backend_sqlite }, \
	{ #t " postgresql", t, setup, teardown, \
	    (void *)(uintptr_t)&backend_pg }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_intact),
		BOTH(test_db_edited),
		BOTH(test_db_edited_rehashed),
		BOTH(test_db_deleted),
		BOTH(test_db_deleted_last),
		BOTH(test_db_swapped),
		BOTH(test_file),
		BOTH(test_file_crash),
		BOTH(test_concurrent),
		BOTH(test_query),
		BOTH(test_batch_tx),
		cmocka_unit_test(test_hostile_lines),
	};
	int r;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_audit.%ld", (long)getpid());
	if (mkdir(tmpdir, 0700) != 0)
		return 1;
	log_init("test_audit", 0, 0);
	r = cmocka_run_group_tests_name("audit trail: chain, verify, export",
	    tests, NULL, NULL);
	rmdir(tmpdir);
	return r;
}
