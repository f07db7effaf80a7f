/*
 * Connections as latchkeyd admits them (docs/threading.md): one record per
 * TCP connection (libmicrohttpd's socket context), counts per client
 * address and in all, and the deadlines that bound what a slow client can
 * hold: a request's head must arrive within conn_conf.header_timeout and
 * its body within conn_conf.body_timeout, or a sweeper thread shuts the
 * socket down (libmicrohttpd then closes it and frees everything).
 *
 * Thread use: conn_new/conn_free and the conn_* calls on a record are
 * made by libmicrohttpd's thread; the sweeper reads the records under
 * conn_lock, and a record is freed (conn_free) under the same lock before
 * libmicrohttpd closes its socket, so the sweeper never touches a socket
 * that is not the record's.
 */
#ifndef LK_CONN_H
#define LK_CONN_H

#include <sys/socket.h>

#include <arpa/inet.h>
#include <stddef.h>

#define CONN_HEADER_TIMEOUT	10	/* seconds for a request's head */
#define CONN_BODY_TIMEOUT	30	/* seconds for its body */
#define CONN_IDLE_TIMEOUT	60	/* seconds between keep-alive requests */
#define CONN_PER_IP_DEFAULT	1024
#define CONN_MAX_DEFAULT	65536
#define CONN_MEMORY_DEFAULT	32	/* KiB per connection, libmicrohttpd's */

struct conn_conf {
	long		 header_timeout;
	long		 body_timeout;
	long		 idle_timeout;
	unsigned int	 per_ip;	/* 0: no limit */
	unsigned int	 max;		/* all connections */
	unsigned int	 memory_kib;	/* per connection: head and buffers */
};
extern struct conn_conf conn_conf;

/* Why a connection's first request is refused (conn_refused). */
enum { CONN_OK, CONN_FULL, CONN_PER_IP };

struct conn {
	int		 fd;
	char		 addr[INET6_ADDRSTRLEN];
	char		*uri;		/* raw request URI, until taken */
	long long	 head_deadline;	/* lk_now_ms(); 0: none */
	long long	 body_deadline;
	int		 refused;	/* CONN_* */
	int		 upgraded;
	unsigned char	 key[17];	/* family + address, for the counts */
	int		 timed;		/* on the sweeper's list */
	struct conn	*tnext, *tprev;	/* those with a deadline */
};

int		 conn_start(void);
void		 conn_stop(void);
/* A connection was accepted (NULL: no memory; refuse it). */
struct conn	*conn_new(int fd, const struct sockaddr *sa);
void		 conn_free(struct conn *c);
/* May a connection from sa be accepted at all? (the hard per-IP cut) */
int		 conn_accept_ok(const struct sockaddr *sa);
/* The request line arrived: keeps its raw URI for the handler. */
void		 conn_request_line(struct conn *c, const char *uri);
/* The URI of the request whose head just arrived (caller frees). */
char		*conn_take_uri(struct conn *c);
void		 conn_head_done(struct conn *c);
void		 conn_body_done(struct conn *c);
/* The answer went out; the next request may come (keep-alive). */
void		 conn_request_done(struct conn *c);
void		 conn_upgraded(struct conn *c);
size_t		 conn_count(void);
/* Raises RLIMIT_NOFILE to its hard limit; returns how many fds we have. */
long		 conn_raise_nofile(void);
/* The connections latchkeyd can hold with nofile descriptors. */
long		 conn_capacity(long nofile);

#endif
