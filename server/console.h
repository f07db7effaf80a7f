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
/* Checks a password in constant time; 0, LK_ERR_NOT_FOUND (any failure). */
int	console_operator_verify(const char *name, const char *password);
/* Password hashing (scrypt), exposed for the unit tests. */
int	console_pw_hash(const char *password, char **hashp);
int	console_pw_check(const char *password, const char *hash);

/* Checks an access key's secret in constant time; 0 or LK_ERR_NOT_FOUND. */
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
 */
int	console_session_get(const char *sid, struct console_session *s);
int	console_session_delete(const char *sid);
/* The identity an action runs as, and its policy (free it after). */
int	console_session_identity(const struct console_session *s,
	    char *key_id, size_t size, struct lkd_policy *pol);

/* Sign-in throttling per client address: a delay and a lockout. */
int	console_limit_check(const char *client);	/* 0 or LK_ERR_RANGE */
void	console_limit_fail(const char *client);
void	console_limit_ok(const char *client);

/* The embedded assets (made by tools/embed.c from server/console/). */
struct console_asset {
	const char		*name;
	const unsigned char	*data;
	size_t			 len;
};
extern const struct console_asset console_assets[];
extern const size_t console_nassets;

#endif
