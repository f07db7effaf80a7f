/*
 * Connections as latchkeyd admits them (conn.h).
 *
 * Limits, after nginx's limit_conn and OpenSSH's MaxStartups: a client
 * address may hold conn_conf.per_ip connections; past that, and when all
 * of latchkeyd is nearly full, a new connection's first request gets a
 * quick 503 (ECS code Throttling, Retry-After) and the connection is
 * closed; a few more past the per-address limit are cut at accept without
 * a word. Connections already admitted, the agents' long polls among
 * them, are not affected.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "err.h"
#include "log.h"
#include "util.h"

#define CONN_BUCKETS		4096
#define CONN_PER_IP_SLACK	64	/* answered 503 before the hard cut */
#define CONN_SWEEP_MS		250
#define CONN_FD_RESERVE		256	/* database, relay, logs, listeners */
#define CONN_TRIM_PEAK		256	/* connections: a peak worth trimming */

struct conn_ip {
	unsigned char	 key[17];
	unsigned int	 n;
	struct conn_ip	*next;
};

struct conn_conf conn_conf = { CONN_HEADER_TIMEOUT, CONN_BODY_TIMEOUT,
    CONN_IDLE_TIMEOUT, CONN_PER_IP_DEFAULT, CONN_MAX_DEFAULT,
    CONN_MEMORY_DEFAULT };

static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conn_cond = PTHREAD_COND_INITIALIZER;
/*
 * The connections with a deadline, for the sweeper: a parked poll or a
 * request on a worker has none, so 10,000 idle agents cost the sweeper
 * nothing.
 */
static struct conn *conn_timed;
static struct conn_ip *conn_ips[CONN_BUCKETS];
static size_t conn_n;
static pthread_t conn_thread;
static int conn_quit, conn_running;

static void
conn_key(const struct sockaddr *sa, unsigned char key[17])
{
	memset(key, 0, 17);
	if (sa == NULL)
		return;
	key[0] = (unsigned char)sa->sa_family;
	if (sa->sa_family == AF_INET)
		memcpy(key + 1, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(key + 1, &((const struct sockaddr_in6 *)(const void *)
		    sa)->sin6_addr, 16);
}

static size_t
conn_bucket(const unsigned char key[17])
{
	size_t h = 5381, i;

	for (i = 0; i < 17; i++)
		h = h * 33 + key[i];
	return h % CONN_BUCKETS;
}

/* The count of key's address; with the lock held. create: add it. */
static struct conn_ip *
conn_ip_find(const unsigned char key[17], int create)
{
	struct conn_ip *ip, **b = &conn_ips[conn_bucket(key)];

	for (ip = *b; ip != NULL; ip = ip->next)
		if (memcmp(ip->key, key, 17) == 0)
			return ip;
	if (!create || (ip = calloc(1, sizeof(*ip))) == NULL)
		return NULL;
	memcpy(ip->key, key, 17);
	ip->next = *b;
	*b = ip;
	return ip;
}

static void
conn_ip_drop(const unsigned char key[17])
{
	struct conn_ip *ip, **pp = &conn_ips[conn_bucket(key)];

	for (; (ip = *pp) != NULL; pp = &ip->next)
		if (memcmp(ip->key, key, 17) == 0) {
			if (--ip->n == 0) {
				*pp = ip->next;
				free(ip);
			}
			return;
		}
}

/* On or off the sweeper's list; with the lock held. */
static void
conn_time(struct conn *c, int on)
{
	if (on && !c->timed) {
		c->tprev = NULL;
		if ((c->tnext = conn_timed) != NULL)
			conn_timed->tprev = c;
		conn_timed = c;
	} else if (!on && c->timed) {
		if (c->tprev != NULL)
			c->tprev->tnext = c->tnext;
		else
			conn_timed = c->tnext;
		if (c->tnext != NULL)
			c->tnext->tprev = c->tprev;
	}
	c->timed = on;
}

int
conn_accept_ok(const struct sockaddr *sa)
{
	unsigned char key[17];
	struct conn_ip *ip;
	int ok;

	if (conn_conf.per_ip == 0)
		return 1;
	conn_key(sa, key);
	pthread_mutex_lock(&conn_lock);
	ip = conn_ip_find(key, 0);
	ok = ip == NULL || ip->n < conn_conf.per_ip + CONN_PER_IP_SLACK;
	pthread_mutex_unlock(&conn_lock);
	return ok;
}

struct conn *
conn_new(int fd, const struct sockaddr *sa)
{
	struct conn *c;
	struct conn_ip *ip;
	unsigned int soft;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fd = fd;
	conn_key(sa, c->key);
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, c->key + 1, c->addr, sizeof(c->addr));
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, c->key + 1, c->addr, sizeof(c->addr));
	else
		memcpy(c->addr, "-", 2);
	c->head_deadline = lk_now_ms() + conn_conf.header_timeout * 1000;
	/* Nearly full: keep a margin for answering "busy" quickly. */
	soft = conn_conf.max - (conn_conf.max / 20 > 16 ? conn_conf.max / 20 :
	    16);
	pthread_mutex_lock(&conn_lock);
	if ((ip = conn_ip_find(c->key, 1)) == NULL) {
		pthread_mutex_unlock(&conn_lock);
		free(c);
		return NULL;
	}
	ip->n++;
	if (conn_conf.per_ip != 0 && ip->n > conn_conf.per_ip)
		c->refused = CONN_PER_IP;
	else if (conn_n >= soft)
		c->refused = CONN_FULL;
	conn_n++;
	conn_time(c, 1);
	pthread_mutex_unlock(&conn_lock);
	return c;
}

void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&conn_lock);
	conn_time(c, 0);
	conn_n--;
	conn_ip_drop(c->key);
	pthread_mutex_unlock(&conn_lock);
	free(c->uri);
	free(c);
}

/* Deadlines are read by the sweeper: they change under the lock. */
static void
conn_set(struct conn *c, long long head, long long body)
{
	pthread_mutex_lock(&conn_lock);
	c->head_deadline = head;
	c->body_deadline = body;
	conn_time(c, head != 0 || body != 0);
	pthread_mutex_unlock(&conn_lock);
}

void
conn_request_line(struct conn *c, const char *uri)
{
	long long head = lk_now_ms() + conn_conf.header_timeout * 1000;

	free(c->uri);
	c->uri = strdup(uri);
	if (c->upgraded)
		return;
	/* A keep-alive request: its head is due from its first line on. */
	if (c->head_deadline == 0 || c->head_deadline > head)
		conn_set(c, head, 0);
}

char *
conn_take_uri(struct conn *c)
{
	char *u = c->uri;

	c->uri = NULL;
	return u;
}

void
conn_head_done(struct conn *c)
{
	conn_set(c, 0, c->upgraded ? 0 : lk_now_ms() +
	    conn_conf.body_timeout * 1000);
}

void
conn_body_done(struct conn *c)
{
	conn_set(c, 0, 0);
}

void
conn_request_done(struct conn *c)
{
	/* Idle time is libmicrohttpd's; the next head is due after it. */
	if (!c->upgraded)
		conn_set(c, lk_now_ms() + (conn_conf.idle_timeout +
		    conn_conf.header_timeout) * 1000, 0);
}

void
conn_upgraded(struct conn *c)
{
	c->upgraded = 1;
	conn_set(c, 0, 0);
}

size_t
conn_count(void)
{
	size_t n;

	pthread_mutex_lock(&conn_lock);
	n = conn_n;
	pthread_mutex_unlock(&conn_lock);
	return n;
}

static void *
conn_sweep(void *arg)
{
	struct timespec ts;
	struct conn *c, *next;
	long long now;
	size_t cut, peak = 0;

	(void)arg;
	pthread_mutex_lock(&conn_lock);
	while (!conn_quit) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += CONN_SWEEP_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&conn_cond, &conn_lock, &ts);
		if (conn_quit)
			break;
		now = lk_now_ms();
		cut = 0;
		for (c = conn_timed; c != NULL; c = next) {
			next = c->tnext;
			if ((c->head_deadline == 0 || c->head_deadline > now) &&
			    (c->body_deadline == 0 || c->body_deadline > now))
				continue;
			/* libmicrohttpd sees the end, closes and frees. */
			(void)shutdown(c->fd, SHUT_RDWR);
			c->head_deadline = c->body_deadline = 0;
			conn_time(c, 0);
			cut++;
		}
		if (cut > 0)
			log_info("connections cut=%zu reason=\"request too "
			    "slow\" open=%zu", cut, conn_n);
		/*
		 * After a crowd has gone (a storm of slow clients, a fleet
		 * reconnecting), glibc keeps the freed connection memory in
		 * its arenas: ~30 MB after 2,000 slow clients. Give it back
		 * once the count has fallen to a quarter of its peak.
		 */
		if (conn_n > peak)
			peak = conn_n;
		if (peak >= CONN_TRIM_PEAK && conn_n <= peak / 4) {
			peak = conn_n;
			pthread_mutex_unlock(&conn_lock);
			(void)malloc_trim(0);
			pthread_mutex_lock(&conn_lock);
		}
	}
	pthread_mutex_unlock(&conn_lock);
	return NULL;
}

int
conn_start(void)
{
	if (pthread_create(&conn_thread, NULL, conn_sweep, NULL) != 0)
		return LK_ERR_SYSTEM;
	conn_running = 1;
	return 0;
}

void
conn_stop(void)
{
	pthread_mutex_lock(&conn_lock);
	conn_quit = 1;
	pthread_cond_broadcast(&conn_cond);
	pthread_mutex_unlock(&conn_lock);
	if (conn_running)
		pthread_join(conn_thread, NULL);
	conn_running = 0;
}

long
conn_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1 << 24))
		return 1 << 24;
	return (long)rl.rlim_cur;
}

long
conn_capacity(long nofile)
{
	long n = nofile - CONN_FD_RESERVE - nofile / 32;

	return n < 16 ? 16 : n;
}
