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

/*
 * The agents' side: registration, credentials, polls and their task
 * hand-out, results, goodbyes, heartbeats and the watchdog's sweep.
 * Instance ids fit in STORE_AGENT_ID_MAX bytes with their NUL.
 */
#define STORE_AGENT_ID_MAX	64
/* Pending tasks offered to the chooser: per caller, and in all. */
#define STORE_AGENT_CANDIDATES	16
#define STORE_AGENT_CAND_MAX	512

/* Activation codes (the admin's "activation" subcommand). */
int	store_agent_activation_add(const char *id, const char *code_hash,
	    int64_t count, int64_t expires, int64_t now);

/* A new instance, as the agent describes itself. */
struct store_agent_reg {
	const char	*activation_id;
	const char	*code_hash;	/* SHA-256 hex of the code given */
	const char	*id;		/* the new instance's */
	const char	*cred_hash;	/* SHA-256 hex of its credential */
	const char	*hostname, *os, *version;
	const char	*addresses;	/* a JSON array */
	int64_t		 now;
};
/*
 * Uses one registration of the activation and adds the instance, in one
 * transaction; concurrent registrations never use an activation more than
 * its count. LK_ERR_NOT_FOUND: the activation is unknown, its code is not
 * this one, or it is disabled, used up or expired (nothing changed).
 */
int	store_agent_register(const struct store_agent_reg *reg);

/* The instance's credential hash (SHA-256 hex) in *hashp; NOT_FOUND. */
int	store_agent_cred(const char *id, char **hashp);

/* What a hello says; ports is a JSON array of the session ports. */
struct store_agent_hello {
	const char	*id;
	const char	*hostname, *os, *version;
	const char	*addresses, *ports;
	int64_t		 now;
};
int	store_agent_hello(const struct store_agent_hello *h);
/* The agent stopped cleanly at now: offline at once (last_seen 0). */
int	store_agent_goodbye(const char *id, int64_t now);

/*
 * The poll's hand-out. The chooser sees the instance's running tasks
 * counted by caller (owner) and whether they are key pushes, and its
 * Pending tasks, oldest first, at most STORE_AGENT_CANDIDATES a caller
 * (key pushes all) and STORE_AGENT_CAND_MAX in all. It sets take[i] to 1
 * for each candidate to hand out and returns 0 or an error (which rolls
 * back). Strings are the store's, valid during the call.
 */
struct store_agent_load {
	char		*owner;
	int		 push;		/* key pushes (any caller) */
	int64_t		 n;
};
struct store_agent_cand {
	char		*id;
	char		*owner;
	int		 push;
};
typedef int (*store_agent_choose_fn)(void *arg,
	    const struct store_agent_load *load, size_t nload,
	    const struct store_agent_cand *cand, size_t ncand, int *take);

/* A task handed out. */
struct store_agent_task {
	char		*task_id, *invoke_id, *command_type, *content;
	char		*username, *working_dir;
	int64_t		 timeout;
};
struct store_agent_work {
	int		 idle;		/* nothing to hand out; nothing written */
	struct store_agent_task *tasks;
	size_t		 ntasks;
	char		**stops;	/* task ids to stop */
	size_t		 nstops;
};
/*
 * In one transaction: claims the chosen Pending tasks (each goes to
 * Running at most once, also with several latchkeyd on one database: a
 * task claimed meanwhile is left out), takes the stop requests not yet
 * handed out, and notes the poll in last_seen. When the instance has no
 * Pending task and no stop request, w->idle is set and nothing is
 * written (the caller notes the heartbeat). Free w with
 * store_agent_work_free, also after an error.
 */
int	store_agent_take(const char *id, int64_t now,
	    store_agent_choose_fn choose, void *arg,
	    struct store_agent_work *w);
void	store_agent_work_free(struct store_agent_work *w);

/* A task's result, applied once (*appliedp: 1, or 0 for a repeat). */
struct store_agent_result {
	const char	*instance_id, *task_id;
	const char	*status, *error_code;
	int64_t		 exit_code, dropped;
	const void	*output;
	size_t		 outlen;
	int64_t		 start, finish, now;
};
int	store_agent_result(const struct store_agent_result *res,
	    int *appliedp);

/*
 * Heartbeats: each instance's last_seen becomes seen, in one transaction,
 * but never goes back in time nor past a goodbye said at or after seen.
 * Sorts rows by id (every writer locks rows in one order).
 */
struct store_agent_seen {
	char		 id[STORE_AGENT_ID_MAX];
	int64_t		 seen;
};
int	store_agent_seen(struct store_agent_seen *rows, size_t n);

/*
 * The watchdog's sweep at now: Running and Stopping tasks of instances
 * not seen since dead_before fail (ClientNotResponse), and Pending tasks
 * of instances not seen since offline_before fail (ClientNotRunning) once
 * their invocation's timeout has passed since they were created.
 * *failedp (may be NULL) gets the number of tasks failed.
 */
int	store_agent_sweep(int64_t now, int64_t dead_before,
	    int64_t offline_before, int *failedp);
/* Measures the database's clock again (lkd_now() follows it). */
int	store_agent_clock_sync(void);

/* ---- end store_agent.c -------------------------------------------- */


/* ---- store_inv.c and store_cmd.c ---------------------------------- */

/* ---- end store_inv.c and store_cmd.c ------------------------------ */


/* ---- store_inst.c and store_sess.c -------------------------------- */

/* ---- end store_inst.c and store_sess.c ---------------------------- */


/* ---- store_keys.c and store_console.c ----------------------------- */

/* ---- end store_keys.c and store_console.c ------------------------- */

#endif
