/*
 * The agent endpoints of docs/agent-protocol.md, the long-poll wake-ups,
 * and the watchdog that ends tasks of agents that went away.
 */
#ifndef LK_AGENTD_H
#define LK_AGENTD_H

#include <stddef.h>

#include "sig.h"

/*
 * A long poll across its turns (agentd_handle is called again with the
 * same struct when longpoll.c hands it back). The caller zeroes it before
 * the first turn and sets fd (the connection's socket, or -1) and why.
 */
struct agentd_poll {
	char		 id[64];
	unsigned long	 gen;		/* longpoll_begin()'s */
	long long	 deadline;	/* lk_now_ms() */
	int		 fd;
	int		 why;		/* LONGPOLL_* that handed it back */
	long long	 skew_ms;	/* the agent's clock, when known */
	int		 skew_known;
};

/* agentd_handle's answers that are not HTTP statuses. */
#define AGENTD_GONE	0	/* the agent went away: close, no answer */
#define AGENTD_PARKED	1	/* parked: poll is longpoll.c's until it
				   comes back */

/*
 * path is what follows "/agent/v1/". Returns the HTTP status, with the
 * JSON answer in *outp; for a poll, AGENTD_PARKED when it waits (then
 * neither poll nor what holds it may be touched: longpoll.c hands it
 * back) or AGENTD_GONE when the agent has gone.
 */
int	agentd_handle(const char *method, const char *path, const char *query,
	    const struct lk_sig_header *h, size_t nh, const char *body,
	    size_t bodylen, struct agentd_poll *poll, char **outp);
/* Ends a waiting long poll of this instance at once. */
void	agentd_wake(const char *instance_id);
/* agentd_wake for n instances (one fan-out's). */
void	agentd_wake_many(const char *const *ids, size_t n);
int	agentd_start(void);
void	agentd_stop(void);

/* ---- agentlogin.c: POST /agent/v1/login ---------------------------- */

#include <stdint.h>
#include <jansson.h>

#include "sshkey.h"
#include "util.h"

#define AGENTLOGIN_MAX	64	/* logins in one report */

/* One login an agent reports, checked. */
struct agentlogin {
	char	 user[LK_USER_MAX + 1];
	char	 fp[LK_SSHKEY_FP_SIZE];
	char	 keytype[32];
	char	 from[46];		/* numeric IPv4 or IPv6 */
	int	 port;
	int64_t	 time;			/* on the agent's clock */
};
/*
 * Checks a report {"logins":[...]} into v (AGENTLOGIN_MAX entries) and
 * *np. LK_ERR_INVALID_FORMAT when anything in it is not as documented.
 */
int	agentlogin_parse(const json_t *in, struct agentlogin *v, size_t *np);
/* The endpoint: 200 after a login event each, or 400. */
int	agentlogin_handle(const char *id, json_t *in, char **outp);

/* ---- agentskew.c: each agent's clock against latchkeyd's ---------- */

#define AGENTSKEW_WARN_MS	5000	/* a push to a clock further off warns */

/* The poll's "clock=<ms>" in *clockp (0 when absent). 0 or invalid. */
int	agentskew_query(const char *query, int64_t *clockp);
/*
 * The agent of id says its clock reads clock_ms now: its skew (ms ahead
 * of latchkeyd) in *skewp, stored when it moved. LK_ERR_RANGE for a
 * clock that is not one (then *skewp is 0).
 */
int	agentskew_note(const char *id, int64_t clock_ms, int64_t *skewp);
/* The stored skew of an instance: 1 and *skewp when known, else 0. */
int	agentskew_get(const char *id, int64_t *skewp);

/*
 * A new activation (the admin's "activation create", CreateActivation):
 * count registrations within ttl seconds; instance_name, ip_range and
 * description are checked by the caller (fleet.h) and may be NULL. in_tx
 * (may be NULL) runs in its transaction. *idp and *codep: new strings.
 */
struct agentd_act_spec {
	long long	 count, ttl;
	const char	*instance_name, *ip_range, *description;
	int		(*in_tx)(void *);
	void		*in_tx_arg;
};
int	agentd_activation_create(const struct agentd_act_spec *sp, char **idp,
	    char **codep, char *expires, size_t expsize);

#endif
