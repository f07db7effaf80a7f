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

/* ---- end store_inst.c and store_sess.c ---------------------------- */


/* ---- store_keys.c and store_console.c ----------------------------- */

struct lkdb;

/*
 * store_keys.c: access keys and the nonces of signed requests. The secret
 * is stored as keys.c sealed it (bytes, a BLOB or BYTEA); the policy is
 * keys.c's JSON text.
 */
struct store_key {
	char		*id;
	unsigned char	*sealed;	/* NULL in store_key_list's keys */
	size_t		 sealedlen;
	char		*policy;
	char		*description;
	int		 disabled;
	int64_t		 created;
};

/* Adds a key; LK_ERR_INVALID_FORMAT when the id is taken. */
int	store_key_create(struct lkdb *db, const char *id, const void *sealed,
	    size_t sealedlen, const char *policy, const char *description,
	    int64_t created);
/* The key id, into *k (store_key_free); LK_ERR_NOT_FOUND when none. */
int	store_key_get(struct lkdb *db, const char *id, struct store_key *k);
/*
 * Every key, oldest first (on SQLite, keys of one second in the order they
 * were made; on PostgreSQL by id), without their secrets: a new array of *np
 * keys, freed by store_key_list_free.
 */
int	store_key_list(struct lkdb *db, struct store_key **keysp, size_t *np);
/* Disables the key id; LK_ERR_NOT_FOUND when there is none. */
int	store_key_disable(struct lkdb *db, const char *id);
void	store_key_free(struct store_key *k);
void	store_key_list_free(struct store_key *keys, size_t n);

/*
 * Notes that key_id signed with nonce at now: 0 the first time,
 * LK_ERR_INVALID_FORMAT when the pair is already noted (a replay). The
 * insert is the test: of callers that present one pair at once, on any
 * connections, exactly one gets 0.
 */
int	store_nonce_use(struct lkdb *db, const char *key_id, const char *nonce,
	    int64_t now);
/* Forgets the nonces noted before before. */
int	store_nonce_sweep(struct lkdb *db, int64_t before);

/*
 * store_console.c: operators (name, scrypt hash) and the console's sign-in
 * sessions, kept under the SHA-256 of their id (hex).
 */
struct store_operator {
	char		*name;
	char		*pw_hash;	/* NULL in store_operator_list's */
	int		 disabled;
	int64_t		 created;
	int64_t		 last_signin;	/* 0: never */
};

/* Adds an operator; LK_ERR_INVALID_FORMAT when the name is taken. */
int	store_operator_create(struct lkdb *db, const char *name,
	    const char *pw_hash, int64_t created);
/* The operator name, into *op (store_operator_free); LK_ERR_NOT_FOUND. */
int	store_operator_get(struct lkdb *db, const char *name,
	    struct store_operator *op);
/*
 * Every operator, by name in byte order (the same on both backends,
 * whatever the database's collation), without hashes: a new array of *np,
 * freed by store_operator_list_free.
 */
int	store_operator_list(struct lkdb *db, struct store_operator **opsp,
	    size_t *np);
/*
 * Disables the operator name and deletes its console sessions, in one
 * transaction; LK_ERR_NOT_FOUND when there is no such operator.
 */
int	store_operator_disable(struct lkdb *db, const char *name);
/* Notes a sign-in by name at when (nothing when there is no such name). */
int	store_operator_signed_in(struct lkdb *db, const char *name,
	    int64_t when);
void	store_operator_free(struct store_operator *op);
void	store_operator_list_free(struct store_operator *ops, size_t n);

struct store_csession {
	char		*kind;		/* "operator" or "key" */
	char		*principal;	/* operator name or key id */
	char		*csrf;
	int64_t		 created;
	int64_t		 last_used;
};

/* Adds a session; LK_ERR_INVALID_FORMAT when id_hash is taken. */
int	store_csession_create(struct lkdb *db, const char *id_hash,
	    const char *kind, const char *principal, const char *csrf,
	    int64_t now);
/* The session id_hash, into *s (store_csession_free); LK_ERR_NOT_FOUND. */
int	store_csession_get(struct lkdb *db, const char *id_hash,
	    struct store_csession *s);
/* Sets the session's last use to now (nothing when it is gone). */
int	store_csession_touch(struct lkdb *db, const char *id_hash, int64_t now);
/* Deletes the session id_hash (0 also when there was none). */
int	store_csession_delete(struct lkdb *db, const char *id_hash);
/*
 * Deletes the sessions last used before idle_before or made before
 * created_before.
 */
int	store_csession_expire(struct lkdb *db, int64_t idle_before,
	    int64_t created_before);
void	store_csession_free(struct store_csession *s);


/* ---- end store_keys.c and store_console.c ------------------------- */

#endif
