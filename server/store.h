/*
 * latchkeyd's storage interface: typed operations on plain structs, with
 * the project's error codes. Handlers (agentd.c, api_*.c, console*.c,
 * keys.c, relay.c, heartbeat.c) call these and never see SQL, statements or
 * rows; the operations live in store_*.c and run portable SQL through db.h,
 * whose backend (SQLite or PostgreSQL) --db chose.
 *
 * Every operation returns 0 or a negative LK_ERR_* code:
 *   LK_ERR_NOT_FOUND        no such record (where a record was expected)
 *   LK_ERR_INVALID_FORMAT   a uniqueness or other constraint refused it
 *   LK_ERR_UNAVAILABLE      the database cannot be reached; nothing changed
 *                           (API: 503 ServiceUnavailable; try again)
 *   LK_ERR_ALLOC, LK_ERR_INTERNAL
 * An operation that must be atomic (a task claim, a session admission, a
 * single-use token, a nonce, a counter) is one transaction in each backend,
 * correct under concurrent callers on several connections (PostgreSQL's
 * READ COMMITTED): conditional updates that check the rows they changed, or
 * lkdb_lock() before a count that must not be exceeded.
 *
 * Strings in the structs an operation fills are owned by the struct and
 * freed by its _free function; strings passed in are borrowed. Times are
 * seconds since the epoch by lkd_now() (the database's clock).
 *
 *	store_agent.c	instances' registration, credentials, polls, tasks
 *	store_inv.c	invocations and their tasks' results
 *	store_cmd.c	commands
 *	store_inst.c	instances as the API lists them
 *	store_sess.c	sessions, their tokens and records; account settings
 *	store_keys.c	access keys, policies, nonces
 *	store_console.c	operators and console sign-in sessions
 */
#ifndef LK_STORE_H
#define LK_STORE_H

#include <stddef.h>
#include <stdint.h>

/* ---- store_agent.c ------------------------------------------------ */

/* ---- end store_agent.c -------------------------------------------- */


/* ---- store_inv.c and store_cmd.c ---------------------------------- */

/* ---- end store_inv.c and store_cmd.c ------------------------------ */


/* ---- store_inst.c and store_sess.c -------------------------------- */

struct lkdb;

/* An instance as the API describes it (store_inst.c). */
struct store_inst {
	char	*id;
	char	*name;
	char	*hostname;
	char	*os;
	char	*version;		/* the agent's, "" before it said */
	char	*addresses;		/* a JSON array of strings, as text */
	char	*session_ports;		/* a JSON array of integers, as text */
	int64_t	 registered;
	int64_t	 last_seen;		/* 0 after a goodbye */
	int64_t	 goodbye;		/* when it said goodbye, or 0 */
};
void	store_inst_free(struct store_inst *inst);
/* Instance id into *inst (freed by store_inst_free); LK_ERR_NOT_FOUND. */
int	store_inst_get(struct lkdb *db, const char *id, struct store_inst *inst);

/*
 * What DescribeInstances filters on; NULL or 0 fields do not filter.
 * ids: the instances named (nids of them; ids non-NULL and nids 0 matches
 * none). pattern: the instance's name, where '*' matches any run of
 * characters and every other character only itself, case counting (UTF-8
 * read as SQLite's GLOB reads it, invalid bytes included). status:
 * "Running" (seen
 * at or after online_since) or "Stopped"; any other non-empty value
 * matches none.
 */
struct store_inst_filter {
	const char *const *ids;
	size_t		 nids;
	const char	*pattern;
	const char	*status;
	int64_t		 online_since;
};
/*
 * Calls cb(id, name, arg) for every instance f matches, ordered by
 * registration time, then id. cb returns 0 to go on, 1 to stop, or a
 * negative LK_ERR_* code, which the call returns. The strings are valid
 * during the call only.
 */
typedef int (*store_inst_cb)(const char *id, const char *name, void *arg);
int	store_inst_list(struct lkdb *db, const struct store_inst_filter *f,
	    store_inst_cb cb, void *arg);
/* The '*' pattern match store_inst_list uses: 1 if name matches. */
int	store_inst_match(const char *pattern, const char *name);

/* An instance's agent and its tasks, for DescribeCloudAssistantStatus. */
struct store_inst_status {
	char	*version;
	int64_t	 last_seen;
	int64_t	 goodbye;
	int64_t	 active_tasks;		/* Pending, Running or Stopping */
	int64_t	 tasks;			/* all of them */
	int64_t	 last_task;		/* the newest task's creation, or 0 */
};
void	store_inst_status_free(struct store_inst_status *st);
/* LK_ERR_NOT_FOUND when there is no instance id. */
int	store_inst_status(struct lkdb *db, const char *id,
	    struct store_inst_status *st);

/* Account settings (store_sess.c): *valuep a new string; LK_ERR_NOT_FOUND. */
int	store_setting_get(struct lkdb *db, const char *name, char **valuep);
/* Sets (inserts or replaces) the setting name. */
int	store_setting_set(struct lkdb *db, const char *name, const char *value);

/* A session as StartTerminalSession creates it: Pending, with a token. */
struct store_sess_new {
	const char	*id;
	const char	*owner;		/* the access key */
	const char	*instance_id;
	const char	*username;	/* may be NULL: "" */
	const char	*token_hash;	/* hex SHA-256 of the token */
	int64_t		 port;
	int64_t		 token_expires;
	int64_t		 now;		/* its creation time */
};
#define STORE_SESS_LIMIT_KEY		1	/* the key's quota was full */
#define STORE_SESS_LIMIT_INSTANCE	2	/* the instance's cap was */
/*
 * Admits and inserts session s in one transaction: counts the instance's
 * open sessions (Connecting, Connected, or Pending with a token valid at
 * s->now), all and the owner's, under a lock on the instance, so that
 * concurrent callers (threads or latchkeyd processes) never pass either
 * limit. LK_ERR_BUSY when the owner holds per_key or more (checked first:
 * *limitp = STORE_SESS_LIMIT_KEY) or the instance per_instance or more
 * (STORE_SESS_LIMIT_INSTANCE); nothing is inserted then.
 */
int	store_sess_start(struct lkdb *db, const struct store_sess_new *s,
	    long per_key, long per_instance, int *limitp);
/*
 * EndTerminalSession's part: the owner's session sid, if its URL was not
 * used yet, is Closed ("ended before it connected") at now. 0 also when
 * it was past Pending; LK_ERR_NOT_FOUND when owner has no session sid.
 */
int	store_sess_end(struct lkdb *db, const char *sid, const char *owner,
	    int64_t now);

/* A session as DescribeTerminalSessions lists it. */
struct store_sess {
	char	*id;
	char	*owner;
	char	*instance_id;
	char	*username;
	char	*client_ip;
	char	*status;	/* Pending Connecting Connected Closed Failed */
	char	*closed_reason;
	int64_t	 port;
	int64_t	 created;
	int64_t	 started;	/* 0 before the client connected */
	int64_t	 ended;		/* 0 while open */
	int64_t	 bytes_in;	/* from the client */
	int64_t	 bytes_out;	/* to the client */
};
/* owner's sessions, newest first; instance_id and id may be NULL. */
struct store_sess_query {
	const char	*owner;
	const char	*instance_id;
	const char	*id;
	int64_t		 limit;
	int64_t		 offset;
};
/* *listp: a new array of *np sessions, freed by store_sess_list_free. */
int	store_sess_list(struct lkdb *db, const struct store_sess_query *q,
	    struct store_sess **listp, size_t *np);
void	store_sess_list_free(struct store_sess *list, size_t n);

/* What the relay checks a client's token against. */
struct store_sess_token {
	char	*instance_id;
	char	*token_hash;
	char	*status;
	int64_t	 port;
	int64_t	 token_expires;
};
void	store_sess_token_free(struct store_sess_token *t);
/* Session sid's token; LK_ERR_NOT_FOUND. */
int	store_sess_token_get(struct lkdb *db, const char *sid,
	    struct store_sess_token *t);
/*
 * Spends session sid's single-use token: one conditional update, from
 * Pending with token_hash and a token still valid at now to Connecting
 * (client_ip, started = now). Of concurrent callers, one gets 0 and the
 * rest LK_ERR_NOT_FOUND, as do a wrong hash, a used or expired token.
 */
int	store_sess_redeem(struct lkdb *db, const char *sid,
	    const char *token_hash, const char *client_ip, int64_t now);
/* The agent dialled back: session sid is Connected. */
int	store_sess_connected(struct lkdb *db, const char *sid);
/* Session sid's end: its status, time, byte counts and reason. */
int	store_sess_finish(struct lkdb *db, const char *sid, const char *status,
	    int64_t now, int64_t bytes_in, int64_t bytes_out,
	    const char *reason);
/* At start: sessions open when latchkeyd stopped are Closed at now. */
int	store_sess_close_stale(struct lkdb *db, int64_t now);

/* ---- end store_inst.c and store_sess.c ---------------------------- */


/* ---- store_keys.c and store_console.c ----------------------------- */

/* ---- end store_keys.c and store_console.c ------------------------- */

#endif
