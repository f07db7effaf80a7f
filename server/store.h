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

/* ---- end store_keys.c and store_console.c ------------------------- */

#endif
