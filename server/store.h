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

/* A command: a commands row. */
struct store_cmd {
	char	*id;
	char	*name;
	char	*type;		/* RunShellScript, RunBatScript, ... */
	char	*description;
	char	*content;	/* plain text */
	char	*working_dir;
	int64_t	 timeout;	/* seconds */
	int	 enable_parameter;
	char	*params;	/* JSON array of ParameterDefinitions */
	char	*provider;	/* NULL for a private command */
	char	*owner;		/* access key id; NULL for a public command */
	char	*category;	/* "" unless public */
	int64_t	 version;
	int	 latest;
	int64_t	 created;
	int64_t	 invoke_times;
};

struct store_cmd_list {
	struct store_cmd	*v;
	size_t			 n;
};

/* What DescribeCommands selects; a NULL field matches everything. */
struct store_cmd_query {
	const char	*id;
	/*
	 * NULL: the owner's private commands. Otherwise the public commands
	 * of this provider and of its sub-providers ("provider.x").
	 */
	const char	*provider;
	const char	*owner;
	/*
	 * Private commands: the exact name. Public commands: a pattern in
	 * which '*' (any run of characters) is the only wildcard; every other
	 * character, '%', '_', '\', '?' and '[' included, stands for itself,
	 * case-sensitively.
	 */
	const char	*name;
	const char	*type;
	int		 latest;	/* only the latest versions */
	int64_t		 offset;
	int64_t		 limit;
};

/* Frees the members (NULL-safe) and zeroes the struct. */
void	store_cmd_free(struct store_cmd *cmd);
void	store_cmd_list_free(struct store_cmd_list *list);

/*
 * One page of the matching commands, newest first (created DESC, name,
 * id), into *listp, and the number of all matches into *totalp.
 */
int	store_cmd_describe(const struct store_cmd_query *q,
	    struct store_cmd_list *listp, int64_t *totalp);
/*
 * The command id as owner sees it: a public command, or one of owner's
 * private ones (others' do not exist). LK_ERR_NOT_FOUND.
 */
int	store_cmd_get(const char *id, const char *owner, struct store_cmd *cmdp);
/* The latest version of the public command named name. LK_ERR_NOT_FOUND. */
int	store_cmd_get_public(const char *name, struct store_cmd *cmdp);
/*
 * Stores cmd (id, name, type, description, content, working_dir, timeout,
 * enable_parameter, params) as cmd->owner's private command, created now.
 * LK_ERR_RANGE when the owner has quota private commands already (the
 * count and the insert are one transaction, under a lock per owner).
 */
int	store_cmd_create(const struct store_cmd *cmd, int64_t quota);
/*
 * store_cmd_create's work for store_inv.c, inside the caller's
 * transaction.
 */
int	store_cmd__insert(const struct store_cmd *cmd, int64_t quota,
	    int64_t now);
/*
 * Writes name, description, content, working_dir, timeout and params of
 * cmd->owner's private command cmd->id. LK_ERR_NOT_FOUND when there is no
 * such command (any more).
 */
int	store_cmd_modify(const struct store_cmd *cmd);
/* Deletes owner's private command id. LK_ERR_NOT_FOUND. */
int	store_cmd_delete(const char *id, const char *owner);
/*
 * Installs a public command (provider set, owner NULL, version 1, latest),
 * or updates the existing row in place, so that its creation time and
 * invocation count survive.
 */
int	store_cmd_seed(const struct store_cmd *cmd);

/* A new invocation. Strings are borrowed. */
struct store_inv_new {
	const char		*id;
	const char		*owner;
	const char		*client_token;	/* NULL: none */
	const char		*command_id;
	const char		*command_name;
	const char		*command_type;
	const char		*command_description;
	const char		*content;
	const char		*parameters;	/* JSON object, as given */
	const char		*username;
	const char		*working_dir;
	int64_t			 timeout;
	const char *const	*instance_ids;
	char *const		*scripts;	/* per instance */
	size_t			 n;
	/* Stored first as owner's private command, within quota; or NULL. */
	const struct store_cmd	*keep;
	int64_t			 quota;
	int			 count;	/* add one to command_id's invoke_times */
};

/* The invocation that a ClientToken created before. */
struct store_inv_prior {
	char	*id;		/* NULL: the token was new */
	char	*command_id;
	char	*command_type;
	char	*content;
	char	*parameters;
	char	**instance_ids;
	size_t	 n;
};

/* An invocation: an invocations row. */
struct store_inv {
	char	*id;
	char	*command_id;
	char	*command_name;
	char	*command_type;
	char	*command_description;
	char	*content;
	char	*parameters;
	char	*username;
	char	*working_dir;
	int64_t	 timeout;
	int64_t	 created;
};

/*
 * A task as the describing operations hand it to their callback: every
 * pointer is borrowed and valid only until the callback returns.
 */
struct store_task {
	const char	*invoke_id;
	const char	*instance_id;
	const char	*instance_name;	/* "" when the instance is gone */
	const char	*status;	/* Pending, Running, Stopping, Success, ... */
	const char	*error_code;
	const char	*command_id;
	const char	*username;
	int64_t		 exit_code;	/* 0 when none */
	const void	*output;	/* the bytes as the agent sent them */
	size_t		 output_len;
	int64_t		 dropped;
	int64_t		 created;
	int64_t		 start_time;	/* 0 when none */
	int64_t		 finish_time;
	int64_t		 stop_time;
	int64_t		 updated;
	int		 started;	/* start_time is set */
};

/* Returns 0 to go on, 1 to stop early, or a negative error to fail. */
typedef int (*store_task_cb)(const struct store_task *task, void *arg);

/* What DescribeInvocations and DescribeInvocationResults select. */
struct store_inv_query {
	const char	*owner;		/* required */
	const char	*invoke_id;	/* NULL: any */
	const char	*command_id;
	const char	*command_name;	/* store_inv_scan only */
	const char	*command_type;	/* store_inv_scan only */
	const char	*instance_id;
};

void	store_inv_prior_free(struct store_inv_prior *prior);
void	store_inv_free(struct store_inv *inv);

/*
 * Creates the invocation and its Pending tasks (and inv->keep, and the
 * invoke_times count) in one transaction. When inv->owner used
 * inv->client_token before, nothing is written and *prior describes the
 * earlier invocation (prior->id set): the unique index on (owner,
 * client_token) decides, so of concurrent callers with one token exactly
 * one creates. LK_ERR_RANGE: inv->keep is over the quota.
 */
int	store_inv_create(const struct store_inv_new *inv, int64_t now,
	    struct store_inv_prior *prior);
/*
 * For DescribeInvocations: a task of each matching invocation of the
 * owner's, grouped by invocation, newest first (created DESC, id DESC),
 * then by instance id; only invoke_id, instance_id, instance_name and
 * status are set. With
 * instance_id, the invocations that have a task there, with all their
 * tasks.
 */
int	store_inv_scan(const struct store_inv_query *q, store_task_cb cb,
	    void *arg);
/*
 * For DescribeInvocationResults: the owner's matching tasks (invoke_id,
 * instance_id, command_id), every field set, ordered by the invocation's
 * creation (newest first), invoke_id DESC, instance_id.
 */
int	store_inv_results(const struct store_inv_query *q, store_task_cb cb,
	    void *arg);
/* The owner's invocation id. LK_ERR_NOT_FOUND. */
int	store_inv_get(const char *id, const char *owner, struct store_inv *invp);
/* The tasks of invocation id by instance id, every field set. */
int	store_inv_tasks(const char *id, store_task_cb cb, void *arg);
/*
 * StopInvocation, one transaction: of invocation id's tasks on the n
 * instances, Pending ones become Stopped and Running ones Stopping (the
 * agent is told at its next poll); finished ones stay as they are.
 */
int	store_inv_stop(const char *id, const char *const *instance_ids,
	    size_t n, int64_t now);

/* ---- end store_inv.c and store_cmd.c ------------------------------ */


/* ---- store_inst.c and store_sess.c -------------------------------- */

/* ---- end store_inst.c and store_sess.c ---------------------------- */


/* ---- store_keys.c and store_console.c ----------------------------- */

/* ---- end store_keys.c and store_console.c ------------------------- */

#endif
