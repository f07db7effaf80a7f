/*
 * server/longpoll.c, server/work.c and server/conn.c: parked long polls are
 * handed back exactly once and for the right reason (a wake-up of their
 * instance, their deadline, a newer poll, the peer's close, the stop); a
 * wake-up between "no work" and "parked" is never lost; the worker pool
 * runs every job once, in order per thread, and refuses jobs once
 * stopping; the connection counts and the per-address limit.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn.h"
#include "err.h"
#include "longpoll.h"
#include "util.h"
#include "work.h"

/* What the callback saw, per request. */
struct req {
	int		 why;
	int		 times;
	long long	 at;
};

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;

static void
fired(void *arg, int why)
{
	struct req *r = arg;

	pthread_mutex_lock(&seen_lock);
	r->why = why;
	r->times++;
	r->at = lk_now_ms();
	pthread_mutex_unlock(&seen_lock);
}

static int
times_of(struct req *r)
{
	int n;

	pthread_mutex_lock(&seen_lock);
	n = r->times;
	pthread_mutex_unlock(&seen_lock);
	return n;
}

/* Waits up to ms for r to be handed back; returns how many times it was. */
static int
wait_fired(struct req *r, int ms)
{
	int i;

	for (i = 0; i < ms / 10 && times_of(r) == 0; i++)
		usleep(10000);
	usleep(20000);		/* a second hand-back would show now */
	return times_of(r);
}

static int
setup(void **state)
{
	(void)state;
	return longpoll_start(fired) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	longpoll_stop();
	return 0;
}

static void
test_wake(void **state)
{
	struct req a = { 0 }, b = { 0 };
	unsigned long ga, gb;

	(void)state;
	ga = longpoll_begin("i-aaaa");
	gb = longpoll_begin("i-bbbb");
	assert_int_equal(longpoll_park("i-aaaa", ga, longpoll_seq("i-aaaa"),
	    lk_now_ms() + 10000, -1, &a), 0);
	assert_int_equal(longpoll_park("i-bbbb", gb, longpoll_seq("i-bbbb"),
	    lk_now_ms() + 10000, -1, &b), 0);
	assert_int_equal(longpoll_parked(), 2);
	longpoll_wake("i-aaaa");
	assert_int_equal(wait_fired(&a, 1000), 1);
	assert_int_equal(a.why, LONGPOLL_WOKEN);
	assert_int_equal(times_of(&b), 0);	/* only its own instance */
	longpoll_wake("i-bbbb");
	assert_int_equal(wait_fired(&b, 1000), 1);
	assert_int_equal(longpoll_parked(), 0);
	longpoll_wake("i-aaaa");		/* nobody parked: no-op */
	assert_int_equal(wait_fired(&a, 50), 1);
}

/* A wake-up after the poll read the sequence, before it parked. */
static void
test_no_lost_wakeup(void **state)
{
	struct req a = { 0 };
	unsigned long g, seq;

	(void)state;
	g = longpoll_begin("i-lost");
	seq = longpoll_seq("i-lost");
	longpoll_wake("i-lost");	/* work committed meanwhile */
	assert_int_equal(longpoll_park("i-lost", g, seq, lk_now_ms() + 10000,
	    -1, &a), LK_ERR_BUSY);
	assert_int_equal(times_of(&a), 0);
	assert_int_equal(longpoll_parked(), 0);
}

static void
test_expire(void **state)
{
	struct req a = { 0 };
	unsigned long g;
	long long t0 = lk_now_ms();

	(void)state;
	g = longpoll_begin("i-exp");
	assert_int_equal(longpoll_park("i-exp", g, longpoll_seq("i-exp"),
	    t0 + 300, -1, &a), 0);
	assert_int_equal(wait_fired(&a, 2000), 1);
	assert_int_equal(a.why, LONGPOLL_EXPIRED);
	assert_true(a.at - t0 >= 300);
	assert_true(a.at - t0 < 1000);
}

static void
test_supersede(void **state)
{
	struct req old = { 0 }, young = { 0 };
	unsigned long g1, g2;

	(void)state;
	g1 = longpoll_begin("i-sup");
	assert_int_equal(longpoll_park("i-sup", g1, longpoll_seq("i-sup"),
	    lk_now_ms() + 10000, -1, &old), 0);
	g2 = longpoll_begin("i-sup");		/* the agent polls again */
	assert_int_equal(wait_fired(&old, 1000), 1);
	assert_int_equal(old.why, LONGPOLL_SUPERSEDED);
	assert_true(longpoll_superseded("i-sup", g1));
	assert_false(longpoll_superseded("i-sup", g2));
	/* The older poll may not park again behind the newer one. */
	assert_int_equal(longpoll_park("i-sup", g1, longpoll_seq("i-sup"),
	    lk_now_ms() + 10000, -1, &old), LK_ERR_NOT_FOUND);
	assert_int_equal(longpoll_park("i-sup", g2, longpoll_seq("i-sup"),
	    lk_now_ms() + 10000, -1, &young), 0);
	longpoll_wake("i-sup");
	assert_int_equal(wait_fired(&young, 1000), 1);
	assert_int_equal(young.why, LONGPOLL_WOKEN);
}

/* The agent closes its socket while its poll is parked. */
static void
test_peer_gone(void **state)
{
	struct req a = { 0 }, b = { 0 };
	unsigned long g;
	int sv[2], sw[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sw), 0);
	g = longpoll_begin("i-gone");
	assert_int_equal(longpoll_park("i-gone", g, longpoll_seq("i-gone"),
	    lk_now_ms() + 10000, sv[0], &a), 0);
	g = longpoll_begin("i-stays");
	assert_int_equal(longpoll_park("i-stays", g, longpoll_seq("i-stays"),
	    lk_now_ms() + 10000, sw[0], &b), 0);
	/* Data from the peer is not a close. */
	assert_int_equal(write(sw[1], "x", 1), 1);
	close(sv[1]);
	assert_int_equal(wait_fired(&a, 1000), 1);
	assert_int_equal(a.why, LONGPOLL_GONE);
	assert_int_equal(times_of(&b), 0);
	longpoll_wake("i-stays");
	assert_int_equal(wait_fired(&b, 1000), 1);
	assert_int_equal(b.why, LONGPOLL_WOKEN);
	close(sv[0]);
	close(sw[0]);
	close(sw[1]);
}

/* Many polls woken from several threads: each handed back exactly once. */
#define MANY	2000

static struct req many[MANY];

static void *
waker(void *arg)
{
	char id[32];
	size_t i, k = (size_t)(uintptr_t)arg;

	for (i = k; i < MANY; i += 4) {
		snprintf(id, sizeof(id), "i-many-%zu", i);
		longpoll_wake(id);
	}
	return NULL;
}

static void
test_many(void **state)
{
	pthread_t t[4];
	char id[32];
	size_t i;
	int total = 0;

	(void)state;
	memset(many, 0, sizeof(many));
	for (i = 0; i < MANY; i++) {
		snprintf(id, sizeof(id), "i-many-%zu", i);
		assert_int_equal(longpoll_park(id, longpoll_begin(id),
		    longpoll_seq(id), lk_now_ms() + (i % 2 ? 200 : 10000), -1,
		    &many[i]), 0);
	}
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, waker,
		    (void *)(uintptr_t)i), 0);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	usleep(500000);
	for (i = 0; i < MANY; i++) {
		assert_int_equal(times_of(&many[i]), 1);
		total += many[i].times;
	}
	assert_int_equal(total, MANY);
	assert_int_equal(longpoll_parked(), 0);
}

/* longpoll_stop hands back what is parked, with LONGPOLL_QUIT. */
static void
test_stop(void **state)
{
	struct req a = { 0 };

	(void)state;
	assert_int_equal(longpoll_park("i-quit", longpoll_begin("i-quit"),
	    longpoll_seq("i-quit"), lk_now_ms() + 60000, -1, &a), 0);
	longpoll_stop();
	assert_int_equal(times_of(&a), 1);
	assert_int_equal(a.why, LONGPOLL_QUIT);
	assert_int_equal(longpoll_park("i-late", longpoll_begin("i-late"),
	    longpoll_seq("i-late"), lk_now_ms() + 60000, -1, &a),
	    LK_ERR_SYSTEM);
	assert_int_equal(longpoll_start(fired), 0);	/* for teardown */
}

/* ---- the worker pool ---- */

static int ran[1000];
static pthread_mutex_t ran_lock = PTHREAD_MUTEX_INITIALIZER;

static void
job(void *arg)
{
	pthread_mutex_lock(&ran_lock);
	ran[(uintptr_t)arg]++;
	pthread_mutex_unlock(&ran_lock);
}

static void
test_work(void **state)
{
	size_t i;

	(void)state;
	assert_int_equal(work_push((void *)0), LK_ERR_BUSY);	/* not started */
	assert_int_equal(work_start(0, job), LK_ERR_RANGE);
	assert_int_equal(work_start(4, job), 0);
	for (i = 0; i < 1000; i++)
		assert_int_equal(work_push((void *)(uintptr_t)i), 0);
	work_stop();				/* runs what is queued */
	for (i = 0; i < 1000; i++)
		assert_int_equal(ran[i], 1);
	assert_int_equal(work_push((void *)0), LK_ERR_BUSY);
	assert_true(work_default_threads() >= 8);
}

/* ---- connections ---- */

static void
addr4(struct sockaddr_in *sin, const char *ip)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
}

static void
test_conn_limits(void **state)
{
	struct sockaddr_in a, b;
	struct conn *c[12];
	size_t i;

	(void)state;
	conn_conf.per_ip = 3;
	conn_conf.max = 100;
	addr4(&a, "127.0.0.2");
	addr4(&b, "127.0.0.3");
	for (i = 0; i < 5; i++) {
		c[i] = conn_new(-1, (struct sockaddr *)&a);
		assert_non_null(c[i]);
	}
	assert_string_equal(c[0]->addr, "127.0.0.2");
	assert_int_equal(c[2]->refused, CONN_OK);
	assert_int_equal(c[3]->refused, CONN_PER_IP);	/* answered 503 */
	assert_int_equal(c[4]->refused, CONN_PER_IP);
	c[5] = conn_new(-1, (struct sockaddr *)&b);	/* another address */
	assert_int_equal(c[5]->refused, CONN_OK);
	assert_true(conn_accept_ok((struct sockaddr *)&a));
	assert_int_equal(conn_count(), 6);
	for (i = 0; i < 6; i++)
		conn_free(c[i]);
	assert_int_equal(conn_count(), 0);
	/* Freed: the address is welcome again. */
	c[0] = conn_new(-1, (struct sockaddr *)&a);
	assert_int_equal(c[0]->refused, CONN_OK);
	conn_free(c[0]);
	/* Nearly full in all: the quick 503 from any address. */
	conn_conf.per_ip = 0;
	conn_conf.max = 20;
	for (i = 0; i < 12; i++)
		c[i] = conn_new(-1, (struct sockaddr *)&b);
	assert_int_equal(c[3]->refused, CONN_OK);
	assert_int_equal(c[4]->refused, CONN_FULL);	/* 20 - 16 */
	for (i = 0; i < 12; i++)
		conn_free(c[i]);
	conn_conf.per_ip = CONN_PER_IP_DEFAULT;
	conn_conf.max = CONN_MAX_DEFAULT;
}

/* A connection whose head is late has its socket shut down. */
static void
test_conn_sweep(void **state)
{
	struct sockaddr_in a;
	struct conn *c;
	char ch;
	int sv[2];

	(void)state;
	addr4(&a, "127.0.0.4");
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	conn_conf.header_timeout = 1;
	assert_int_equal(conn_start(), 0);
	c = conn_new(sv[0], (struct sockaddr *)&a);
	conn_request_line(c, "/?x=1");
	usleep(1600000);
	/* The server's side was shut down: the client reads the end. */
	assert_int_equal(read(sv[1], &ch, 1), 0);
	conn_stop();
	conn_free(c);
	close(sv[0]);
	close(sv[1]);
	conn_conf.header_timeout = CONN_HEADER_TIMEOUT;
}

static void
test_conn_head_in_time(void **state)
{
	struct sockaddr_in a;
	struct conn *c;
	char *uri;
	int sv[2];

	(void)state;
	addr4(&a, "127.0.0.5");
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	conn_conf.header_timeout = 1;
	assert_int_equal(conn_start(), 0);
	c = conn_new(sv[0], (struct sockaddr *)&a);
	conn_request_line(c, "/a?b=c");
	conn_head_done(c);
	conn_body_done(c);
	uri = conn_take_uri(c);
	assert_string_equal(uri, "/a?b=c");
	free(uri);
	assert_null(conn_take_uri(c));
	usleep(1600000);
	/* Not shut down: the server's side still takes data. */
	assert_int_equal(write(sv[1], "x", 1), 1);
	conn_stop();
	conn_free(c);
	close(sv[0]);
	close(sv[1]);
	conn_conf.header_timeout = CONN_HEADER_TIMEOUT;
}

int
main(void)
{
	const struct CMUnitTest poll_tests[] = {
		cmocka_unit_test(test_wake),
		cmocka_unit_test(test_no_lost_wakeup),
		cmocka_unit_test(test_expire),
		cmocka_unit_test(test_supersede),
		cmocka_unit_test(test_peer_gone),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_stop),
	};
	const struct CMUnitTest other_tests[] = {
		cmocka_unit_test(test_work),
		cmocka_unit_test(test_conn_limits),
		cmocka_unit_test(test_conn_sweep),
		cmocka_unit_test(test_conn_head_in_time),
	};
	int r;

	r = cmocka_run_group_tests_name("long polls", poll_tests, setup,
	    teardown);
	return r | cmocka_run_group_tests_name("workers and connections",
	    other_tests, NULL, NULL);
}
