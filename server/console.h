/*
 * The web console: latchkeyd serves it under /console/ (console.c), with
 * sign-in by access key or operator account, sessions in the database
 * (console_auth.c), and the parsers for what a browser sends
 * (console_parse.c). Its JSON endpoints run the API's actions through
 * api_call_internal(), so that the answers and the policy are the API's.
 * See docs/console.md.
 */
#ifndef LK_CONSOLE_H
#define LK_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "latchkeyd.h"
#include "params.h"
#include "sig.h"

#define CONSOLE_COOKIE		"lk_console"
#define CONSOLE_SID_BYTES	32		/* 256 random bits */
#define CONSOLE_SID_HEX		(2 * CONSOLE_SID_BYTES)
#define CONSOLE_CSRF_BYTES	16
#define CONSOLE_CSRF_HEX	(2 * CONSOLE_CSRF_BYTES)
#define CONSOLE_IDLE		(12 * 3600)	/* seconds without a request */
#define CONSOLE_MAX_AGE		(7 * 86400)	/* seconds since sign-in */
#define CONSOLE_COOKIE_MAX	8192		/* bytes of Cookie header */
#define CONSOLE_SIGNIN_MAX	4096		/* bytes of a sign-in body */
#define CONSOLE_CALL_MAX	(512 * 1024)	/* bytes of an action call */
#define CONSOLE_NAME_MAX	64		/* operator or key id */
#define CONSOLE_SECRET_MAX	1024		/* secret or password */
#define CONSOLE_PASSWORD_MIN	8
#define CONSOLE_ACTION_MAX	64
#define CONSOLE_OPERATOR_PREFIX	"operator:"	/* the owner of their work */

enum console_kind {
	CONSOLE_KIND_KEY = 1,		/* an access key id and secret */
	CONSOLE_KIND_OPERATOR,		/* an operator name and password */
};

/* A request as http.c hands it over; everything borrowed. */
struct console_req {
	const char			*method;
	const char			*path;		/* after "/console" */
	const struct lk_sig_header	*headers;	/* lower-case names */
	size_t				 nheaders;
	const char			*body;
	size_t				 bodylen;
	const char			*client;	/* address, for limits */
	int				 tls;
};

#define CONSOLE_MAX_HEADERS	12

/* The answer; console_resp_free() frees what it owns. */
struct console_resp {
	int		 status;
	const char	*content_type;
	char		*body;		/* owned unless body_static */
	size_t		 bodylen;
	int		 body_static;
	struct {
		const char	*name;
		char		*value;	/* owned */
	}		 headers[CONSOLE_MAX_HEADERS];
	size_t		 nheaders;
};

/* console.c */
void	console_handle(const struct console_req *req,
	    struct console_resp *resp);
void	console_resp_free(struct console_resp *resp);
/*
 * The checks of the terminal's WebSocket handshake (GET
 * /console/terminal) before the relay takes it: Origin present and this
 * server's, the console cookie naming a live session (its SHA-256 into
 * hash). 0, or an HTTP status with *codep and *msgp set.
 */
int	console_ws_admit(const struct lk_sig_header *h, size_t nh, int tls,
	    char hash[LK_SIG_V3_SIZE], const char **codep, const char **msgp);

/* console_parse.c: pure functions over untrusted bytes. */
struct console_signin {
	enum console_kind	 kind;
	char			*name;		/* key id or operator name */
	char			*secret;	/* cleansed by the free */
};

/*
 * Finds the cookie called name in a Cookie header ("a=b; c=d") and copies
 * its value into out. Returns 0, LK_ERR_NOT_FOUND, LK_ERR_TOO_LONG (header
 * over CONSOLE_COOKIE_MAX, or value over outsize - 1) or
 * LK_ERR_INVALID_FORMAT (the name given twice, or a malformed pair).
 */
int	console_cookie_get(const char *header, const char *name, char *out,
	    size_t outsize);
/* Whether s is exactly len lower-case hex digits. */
int	console_hex_ok(const char *s, size_t len);
/*
 * Whether an Origin header names this server: "http(s)://" + the Host
 * header, scheme per tls, host compared without case. "null", another
 * scheme, host or port, and anything malformed are refused.
 */
int	console_origin_ok(const char *origin, const char *host, int tls);
/*
 * Parses a sign-in body: a JSON object with exactly AccessKeyId and
 * AccessKeySecret, or Operator and Password, all non-empty strings within
 * CONSOLE_NAME_MAX / CONSOLE_SECRET_MAX bytes. On error *fieldp names the
 * field at fault ("" when the body as a whole is). Returns 0,
 * LK_ERR_INVALID_FORMAT, LK_ERR_TOO_LONG or LK_ERR_ALLOC.
 */
int	console_signin_parse(const char *body, size_t len,
	    struct console_signin *si, const char **fieldp);
void	console_signin_free(struct console_signin *si);
/*
 * Parses an action call: {"Action": "Name", "Params": {"K": "v", ...}}
 * where values are strings, integers or booleans (numbers and booleans
 * become their JSON text, as in a query string). Params go into p, under
 * lk_params' limits. Returns 0, LK_ERR_INVALID_FORMAT, LK_ERR_TOO_LONG or
 * LK_ERR_ALLOC; on error *actionp is NULL, p is empty and field holds the
 * name at fault (passed through lk_vis), "" when it is the whole body.
 */
int	console_call_parse(const char *body, size_t len, char **actionp,
	    struct lk_params *p, char *field, size_t fieldsize);

/* console_auth.c: operators, sessions and the sign-in limiter. */
struct console_session {
	enum console_kind	 kind;
	char			 principal[CONSOLE_NAME_MAX + 1];
	char			 csrf[CONSOLE_CSRF_HEX + 1];
	int64_t			 created;
};

/* Operators. Names are 1..64 of [A-Za-z0-9._-], not starting with '-'. */
int	console_operator_name_ok(const char *name);
int	console_operator_create(const char *name, const char *password);
int	console_operator_list(json_t **outp);
int	console_operator_disable(const char *name);
/*
 * Checks a password in constant time, in a slot of the hashing gate (see
 * below); 0, LK_ERR_BUSY (no slot, nothing checked), LK_ERR_UNAVAILABLE
 * (no database, nothing checked) or LK_ERR_NOT_FOUND (any other failure).
 * It does not count failures: console_signin_verify() does.
 */
int	console_operator_verify(const char *name, const char *password);
/* Password hashing (scrypt), exposed for the unit tests. */
int	console_pw_hash(const char *password, char **hashp);
int	console_pw_check(const char *password, const char *hash);

/*
 * Checks an access key's secret in constant time; 0, LK_ERR_NOT_FOUND or
 * LK_ERR_UNAVAILABLE (no database).
 */
int	console_key_verify(const char *id, const char *secret);

/*
 * A new session for principal: *sidp gets the cookie value (CONSOLE_SID_HEX
 * hex digits, stored only as its SHA-256), s its CSRF token.
 */
int	console_session_create(enum console_kind kind, const char *principal,
	    char sid[CONSOLE_SID_HEX + 1], struct console_session *s);
/*
 * The live session whose cookie value is sid (touching its idle clock),
 * or LK_ERR_NOT_FOUND: unknown, idle too long, too old, or its key or
 * operator disabled since (the session is then deleted).
 * LK_ERR_UNAVAILABLE: the database cannot be reached (nothing deleted).
 */
int	console_session_get(const char *sid, struct console_session *s);
int	console_session_delete(const char *sid);
/* The identity an action runs as, and its policy (free it after). */
int	console_session_identity(const struct console_session *s,
	    char *key_id, size_t size, struct lkd_policy *pol);

/*
 * Sign-in admission. Two bounds stand between a sign-in and its check:
 *
 * 1. The failure limiter. Every attempt reserves one failure, BEFORE its
 *    secret is checked, both for its client address (an IPv6 address
 *    counts as its /64) and for the account it names (operator name or
 *    access key id, known or not, so that a lockout says nothing about
 *    which names exist). If either already holds CONSOLE_LIMIT_FAILS
 *    failures in its CONSOLE_LIMIT_WINDOW, the attempt is refused at once
 *    (429) and checks nothing. A failed check keeps its reservation; a
 *    successful one gives back only its own, so nobody's success resets
 *    another's count. The window is fixed: it starts at an entry's first
 *    failure. The counts are rows of the database (store_climit_*), shared
 *    by every latchkeyd on it: N replicas allow what one does, not N
 *    times as much. A reservation is one transaction (for the address,
 *    then the account: all or nothing), correct when replicas reserve at
 *    once. No entry is evicted for another, so spraying names or addresses
 *    does not reset anyone's count; entries whose window ended are swept
 *    at sign-in, at most once per CONSOLE_LIMIT_SWEEP seconds per process.
 *    Without the database nothing is reserved and nothing checked: the
 *    sign-in is answered 503, never let through uncounted.
 * 2. The hashing gate. An operator password check runs scrypt with 32 MiB
 *    (unknown and disabled names too, against a dummy hash, so a failure
 *    takes as long whatever its reason). At most console_hash_slots() run
 *    at once (online CPUs, clamped to 1..CONSOLE_HASH_MAX); at most
 *    console_hash_queue() more wait, each at most CONSOLE_HASH_WAIT_MS;
 *    anything beyond is refused at once (503, Retry-After) without
 *    hashing. Password hashing thus holds at most console_hash_slots() *
 *    CONSOLE_HASH_MEM bytes. Access-key secrets are compared as SHA-256
 *    (cheap) and pass the limiter but not the gate.
 *
 * Threads: the handler runs on one of latchkeyd's worker threads and a
 * sign-in blocks that worker while it hashes or waits in the queue, so at
 * most console_signin_workers() = slots + queue workers are held by
 * sign-ins at once (others are refused at once); size the pool above that
 * so that sign-ins can never take every worker.
 */
#define CONSOLE_LIMIT_WINDOW	300		/* seconds */
#define CONSOLE_LIMIT_FAILS	10		/* per address, per account */
#define CONSOLE_LIMIT_SWEEP	60		/* seconds between sweeps */
#define CONSOLE_LIMIT_SKEW	30		/* seconds a window may be ahead */
#define CONSOLE_HASH_MAX	4		/* most scrypt runs at once */
#define CONSOLE_HASH_WAIT_MS	2000		/* longest wait for a slot */
#define CONSOLE_HASH_MEM	(32UL * 1024 * 1024)	/* one scrypt run */

enum console_limit_which {
	CONSOLE_LIMIT_NONE = 0,
	CONSOLE_LIMIT_ADDR,		/* the client address's count */
	CONSOLE_LIMIT_ACCOUNT,		/* the account's count */
};

/* One reserved failure: its two entries and the windows it went into. */
struct console_limit_ticket {
	int		taken;		/* 0: refused, nothing to give back */
	char		addr_key[CONSOLE_NAME_MAX + 8];
	char		acct_key[CONSOLE_NAME_MAX + 8];
	int64_t		addr_start;
	int64_t		acct_start;
};

/*
 * Checks a sign-in: reserves a failure, checks the secret (operators
 * through the hashing gate), gives the reservation back on success or when
 * nothing was checked. Returns 0; LK_ERR_RANGE (a limit is full: *whichp
 * says which, nothing checked); LK_ERR_BUSY (the gate is full, nothing
 * counted); LK_ERR_UNAVAILABLE (no database: nothing counted, nothing
 * checked); LK_ERR_INTERNAL (the count failed otherwise: nothing
 * checked); LK_ERR_NOT_FOUND (wrong name or secret, or disabled:
 * counted).
 */
int	console_signin_verify(enum console_kind kind, const char *name,
	    const char *secret, const char *client,
	    enum console_limit_which *whichp);
/*
 * The limiter on its own, at time now (lkd_now(): the database's clock,
 * which replicas share), on lkd->db: console_limit_reserve() returns 0 and
 * fills t, or LK_ERR_RANGE (and *whichp) changing nothing, or
 * LK_ERR_UNAVAILABLE / LK_ERR_INTERNAL changing nothing. Its first call
 * creates the counts' table if it is missing (no migration step yet).
 * console_limit_giveback() returns t's failure unless its entry has
 * started a new window since (a failure to give back is logged: the
 * failure then stays counted).
 */
int	console_limit_reserve(const char *client, enum console_kind kind,
	    const char *name, int64_t now, struct console_limit_ticket *t,
	    enum console_limit_which *whichp);
void	console_limit_giveback(const struct console_limit_ticket *t);
/*
 * Forgets every count (the unit tests run their sign-in cases once per
 * storage backend, each time from an empty table) and makes sure the
 * table exists in lkd->db (a new database).
 */
int	console_limit_clear(void);

/* The gate's size: H = online CPUs in [1, CONSOLE_HASH_MAX], Q = H. */
int	console_hash_slots(void);
int	console_hash_queue(void);
int	console_signin_workers(void);		/* H + Q */
/*
 * A slot of the gate: 0, or LK_ERR_BUSY at once when the queue is full or
 * after CONSOLE_HASH_WAIT_MS. Each 0 needs one console_hash_leave().
 */
int	console_hash_enter(void);
void	console_hash_leave(void);
/* What the gate has done since start, for logs and tests. */
struct console_hash_stats {
	uint64_t	hashed;		/* password checks run */
	uint64_t	busy;		/* refused: queue full or waited out */
	int		running;	/* slots held now */
	int		running_max;	/* most slots held at once */
	int		waiting;	/* waiting now */
};
void	console_hash_stats(struct console_hash_stats *st);

/* The embedded assets (made by tools/embed.c from server/console/). */
struct console_asset {
	const char		*name;
	const unsigned char	*data;
	size_t			 len;
};
extern const struct console_asset console_assets[];
extern const size_t console_nassets;

#endif
