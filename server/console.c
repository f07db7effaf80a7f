/*
 * The web console's HTTP side, under /console:
 *
 *	GET  /console/			the page (index.html)
 *	GET  /console/static/NAME	its script and style sheet
 *	GET  /console/api/session	who is signed in, and the CSRF token
 *	POST /console/api/signin	{AccessKeyId, AccessKeySecret} or
 *					{Operator, Password}: sets the cookie
 *	POST /console/api/signout	ends the session
 *	POST /console/api/call		{Action, Params}: an API action
 *	POST /console/api/terminal	a shell session for the terminal page
 *	POST /console/api/accesskeys	{Action, Params}: operators' access
 *					key list, create and disable
 *	GET  /console/terminal		its WebSocket (http.c -> relay.c)
 *
 * Every POST must be JSON (so that a cross-site form cannot send one
 * without a preflight), must not come from another origin (Origin and
 * Sec-Fetch-Site), and, once signed in, must carry the session's CSRF token
 * in X-CSRF-Token. Actions run through api_call_internal() as the session's
 * access key (with its policy) or as the operator (the whole policy), and
 * answer exactly what the API answers. Every response carries a CSP without
 * inline script, nosniff, no-referrer and frame-ancestors 'none'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "api.h"
#include "audit.h"
#include "console.h"
#include "err.h"
#include "log.h"
#include "store.h"

#define CONSOLE_CSP	"default-src 'self'; frame-ancestors 'none'; " \
			"base-uri 'none'; form-action 'self'"
#define CONSOLE_JSON	"application/json; charset=utf-8"

static void
console_header(struct console_resp *resp, const char *name, const char *value)
{
	if (resp->nheaders == CONSOLE_MAX_HEADERS)
		return;
	if ((resp->headers[resp->nheaders].value = strdup(value)) == NULL)
		return;
	resp->headers[resp->nheaders++].name = name;
}

void
console_resp_free(struct console_resp *resp)
{
	size_t i;

	if (!resp->body_static)
		free(resp->body);
	for (i = 0; i < resp->nheaders; i++)
		free(resp->headers[i].value);
	memset(resp, 0, sizeof(*resp));
}

static const char *
console_hdr(const struct console_req *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nheaders; i++)
		if (strcmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

/* A JSON answer; takes the reference to body. */
static void
console_json(struct console_resp *resp, int status, json_t *body)
{
	static const char fallback[] = "{\"Code\":\"InternalError\","
	    "\"Message\":\"out of memory\"}";

	resp->status = status;
	resp->content_type = CONSOLE_JSON;
	resp->body = body ? json_dumps(body, JSON_COMPACT |
	    JSON_PRESERVE_ORDER) : NULL;
	json_decref(body);
	if (resp->body == NULL) {
		resp->status = 500;
		resp->body = (char *)(uintptr_t)fallback;
		resp->body_static = 1;
	}
	resp->bodylen = strlen(resp->body);
	console_header(resp, "Cache-Control", "no-store");
}

/* The console's own errors: {Code, Message, Field}. */
static void
console_error(struct console_resp *resp, int status, const char *code,
    const char *field, const char *message)
{
	console_json(resp, status, json_pack("{s:s, s:s, s:s}", "Code", code,
	    "Message", message, "Field", field ? field : ""));
}

/*
 * A storage error: 503 when the database cannot be reached (as the API
 * answers it), else 500 with message.
 */
static void
console_store_error(struct console_resp *resp, int r, const char *message)
{
	if (r == LK_ERR_UNAVAILABLE) {
		console_error(resp, 503, "ServiceUnavailable", "", "The "
		    "database is unavailable; nothing was changed. Please try "
		    "again later.");
		console_header(resp, "Retry-After", "1");
		return;
	}
	console_error(resp, 500, "InternalError", "", message);
}

static void
console_cookie_set(struct console_resp *resp, const struct console_req *req,
    const char *sid)
{
	char buf[256];

	if (sid != NULL)
		snprintf(buf, sizeof(buf), "%s=%s; Path=/console; HttpOnly; "
		    "SameSite=Strict%s", CONSOLE_COOKIE, sid,
		    req->tls ? "; Secure" : "");
	else
		snprintf(buf, sizeof(buf), "%s=; Path=/console; Max-Age=0; "
		    "HttpOnly; SameSite=Strict%s", CONSOLE_COOKIE,
		    req->tls ? "; Secure" : "");
	console_header(resp, "Set-Cookie", buf);
}

static const char *
console_type(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot == NULL)
		return "application/octet-stream";
	if (strcmp(dot, ".html") == 0)
		return "text/html; charset=utf-8";
	if (strcmp(dot, ".js") == 0)
		return "text/javascript; charset=utf-8";
	if (strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	if (strcmp(dot, ".svg") == 0)
		return "image/svg+xml";
	return "application/octet-stream";
}

static void
console_static(struct console_resp *resp, const char *name)
{
	size_t i;

	for (i = 0; i < console_nassets; i++)
		if (strcmp(console_assets[i].name, name) == 0)
			break;
	if (i == console_nassets) {
		resp->status = 404;
		resp->content_type = "text/plain; charset=utf-8";
		resp->body = (char *)(uintptr_t)"Not found.\n";
		resp->body_static = 1;
		resp->bodylen = strlen(resp->body);
		return;
	}
	resp->status = 200;
	resp->content_type = console_type(name);
	resp->body = (char *)(uintptr_t)console_assets[i].data;
	resp->bodylen = console_assets[i].len;
	resp->body_static = 1;
	console_header(resp, "Cache-Control", "no-cache");
}

/*
 * The checks every POST passes before anything else: a JSON body, and no
 * sign of another origin. Returns 0 or answers 403/415 and returns -1.
 */
static int
console_post_ok(const struct console_req *req, struct console_resp *resp)
{
	const char *ct = console_hdr(req, "content-type");
	const char *origin = console_hdr(req, "origin");
	const char *site = console_hdr(req, "sec-fetch-site");

	if (origin != NULL && !console_origin_ok(origin,
	    console_hdr(req, "host"), req->tls)) {
		console_error(resp, 403, "Forbidden.Origin", "",
		    "The request comes from another origin.");
		return -1;
	}
	if (site != NULL && strcmp(site, "same-origin") != 0) {
		console_error(resp, 403, "Forbidden.Origin", "",
		    "The request comes from another site.");
		return -1;
	}
	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';')) {
		console_error(resp, 415, "InvalidParameter.ContentType", "",
		    "The console accepts application/json only.");
		return -1;
	}
	return 0;
}

/*
 * The session the cookie names. Returns 0, or answers 401 (and clears the
 * cookie) and returns -1.
 */
static int
console_auth(const struct console_req *req, struct console_resp *resp,
    struct console_session *s, char sid[CONSOLE_SID_HEX + 1])
{
	int r;

	r = console_cookie_get(console_hdr(req, "cookie"), CONSOLE_COOKIE, sid,
	    CONSOLE_SID_HEX + 1);
	if (r == 0)
		r = console_session_get(sid, s);
	if (r == 0)
		return 0;
	if (r != LK_ERR_NOT_FOUND && r != LK_ERR_INVALID_FORMAT &&
	    r != LK_ERR_TOO_LONG) {
		console_store_error(resp, r, "The session could not be read.");
		return -1;
	}
	console_error(resp, 401, "NotSignedIn", "",
	    "Sign in to use the console.");
	console_cookie_set(resp, req, NULL);
	return -1;
}

/* The CSRF token in X-CSRF-Token; 0, or answers 403 and returns -1. */
static int
console_csrf(const struct console_req *req, struct console_resp *resp,
    const struct console_session *s)
{
	const char *tok = console_hdr(req, "x-csrf-token");

	if (tok != NULL && strlen(tok) == CONSOLE_CSRF_HEX &&
	    CRYPTO_memcmp(tok, s->csrf, CONSOLE_CSRF_HEX) == 0)
		return 0;
	log_info("console csrf refused principal=%s", s->principal);
	console_error(resp, 403, "Forbidden.CSRF", "", "The request has no "
	    "valid X-CSRF-Token; reload the console.");
	return -1;
}

/*
 * The actions whose controls the console shows only to an identity whose
 * policy allows them (whoami's "Allows"); the API decides in any case.
 */
static const char *const console_gated[] = {
	"TagResources", "UntagResources",
};

/* {action: allowed} for console_gated; all false when the key is gone. */
static json_t *
console_allows(const struct console_session *s)
{
	struct lkd_policy pol;
	char key_id[CONSOLE_NAME_MAX + 16];
	json_t *o;
	size_t i;
	int ok;

	if ((o = json_object()) == NULL)
		return NULL;
	ok = console_session_identity(s, key_id, sizeof(key_id), &pol) == 0;
	for (i = 0; i < sizeof(console_gated) / sizeof(console_gated[0]); i++)
		json_object_set_new(o, console_gated[i], json_boolean(ok &&
		    keys_policy_action(&pol, console_gated[i])));
	if (ok)
		keys_policy_free(&pol);
	return o;
}

static json_t *
console_whoami(const struct console_session *s)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o*}", "Kind",
	    s->kind == CONSOLE_KIND_OPERATOR ? "operator" : "accesskey",
	    "Principal", s->principal, "CsrfToken", s->csrf,
	    "RegionId", lkd->region, "Allows", console_allows(s));
}

/* The console.signin event (docs/audit.md); code NULL: signed in. */
static void
console_audit_signin(const struct console_signin *si, const char *code)
{
	struct audit_ev ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = "console.signin";
	ev.actor_type = si->kind == CONSOLE_KIND_KEY ? AUDIT_ACTOR_KEY :
	    AUDIT_ACTOR_OPERATOR;
	ev.actor = si->name;
	ev.code = code;
	ev.detail = json_pack("{s:s}", "method", si->kind == CONSOLE_KIND_KEY ?
	    "key" : "operator");
	(void)audit_emit(&ev);
}

/*
 * A sign-in. console_signin_verify() counts the attempt before checking
 * it and bounds password hashing (console.h); a failure is answered at
 * once, with no sleep: the count already bounds guessing, and a sleep
 * would hold one of latchkeyd's worker threads for nothing.
 */
static void
console_signin(const struct console_req *req, struct console_resp *resp)
{
	struct console_signin si;
	struct console_session s;
	enum console_limit_which which;
	char sid[CONSOLE_SID_HEX + 1], vis[3 * CONSOLE_NAME_MAX + 1];
	const char *field;
	int r;

	if ((r = console_signin_parse(req->body, req->bodylen, &si,
	    &field)) != 0) {
		console_error(resp, 400, "InvalidParameter", field, *field ?
		    "This field is required (at most 64 characters for a "
		    "name, 1024 for a secret)." : "The sign-in request is "
		    "malformed.");
		return;
	}
	lk_vis(vis, sizeof(vis), si.name, strlen(si.name));
	r = console_signin_verify(si.kind, si.name, si.secret, req->client,
	    &which);
	if (r == LK_ERR_RANGE) {
		console_audit_signin(&si, "Throttling");
		console_error(resp, 429, "Throttling", "",
		    which == CONSOLE_LIMIT_ACCOUNT ? "Too many failed sign-ins "
		    "for this account; try again in a few minutes." : "Too "
		    "many failed sign-ins from this address; try again in a "
		    "few minutes.");
		goto out;
	}
	if (r == LK_ERR_BUSY) {
		/* Not logged: a flood of these must not flood the log. */
		console_error(resp, 503, "Throttling", "", "The server is busy "
		    "with other sign-ins; try again in a moment.");
		console_header(resp, "Retry-After", "1");
		goto out;
	}
	if (r == LK_ERR_UNAVAILABLE || r == LK_ERR_INTERNAL) {
		/* The attempt could not be counted: nothing was checked. */
		console_store_error(resp, r, "The sign-in could not be "
		    "counted; please try again later.");
		goto out;
	}
	if (r != 0) {
		console_audit_signin(&si, "BadCredentials");
		log_info("console signin failed kind=%s name=%s client=%s",
		    si.kind == CONSOLE_KIND_KEY ? "accesskey" : "operator",
		    vis, req->client);
		console_error(resp, 401, "InvalidCredentials",
		    si.kind == CONSOLE_KIND_KEY ? "AccessKeySecret" : "Password",
		    si.kind == CONSOLE_KIND_KEY ? "The AccessKey ID or secret "
		    "is not correct, or the key is disabled." : "The operator "
		    "name or password is not correct, or the account is "
		    "disabled.");
		goto out;
	}
	if ((r = console_session_create(si.kind, si.name, sid, &s)) != 0) {
		console_store_error(resp, r,
		    "The session could not be stored.");
		goto out;
	}
	console_audit_signin(&si, NULL);
	log_info("console signin ok kind=%s name=%s client=%s",
	    si.kind == CONSOLE_KIND_KEY ? "accesskey" : "operator", vis,
	    req->client);
	console_json(resp, 200, console_whoami(&s));
	console_cookie_set(resp, req, sid);
	OPENSSL_cleanse(sid, sizeof(sid));
 out:
	console_signin_free(&si);
}

static int
console_region(struct lk_params *params)
{
	char *enc, *pair = NULL;
	int r = LK_ERR_ALLOC;

	if ((enc = lk_params_encode(lkd->region, strlen(lkd->region))) !=
	    NULL && asprintf(&pair, "RegionId=%s", enc) != -1)
		r = lk_params_parse(params, pair, strlen(pair));
	else
		pair = NULL;
	free(enc);
	free(pair);
	return r;
}

/*
 * Runs action with params as the session's identity (its access key and
 * policy, or the operator's whole policy). Returns 0 with *statusp and
 * *outp (a new reference) the API's answer, or -1 having answered resp.
 */
static int
console_run(struct console_resp *resp, const struct console_session *s,
    const char *action, struct lk_params *params, int *statusp, json_t **outp)
{
	struct lkd_policy pol;
	char key_id[CONSOLE_NAME_MAX + 16];
	int r, ret = -1;

	memset(&pol, 0, sizeof(pol));
	/* The console's region is the only one; the API still checks it. */
	if (lk_params_get(params, "RegionId") == NULL &&
	    console_region(params) != 0) {
		console_error(resp, 500, "InternalError", "", "out of memory");
		goto out;
	}
	if ((r = console_session_identity(s, key_id, sizeof(key_id),
	    &pol)) == LK_ERR_UNAVAILABLE) {
		console_store_error(resp, r, "");
		goto out;
	}
	if (r != 0) {
		console_error(resp, 401, "NotSignedIn", "",
		    "The access key of this session is gone or disabled.");
		goto out;
	}
	if (api_call_internal(action, params, key_id, &pol, statusp,
	    outp) != 0) {
		console_error(resp, 500, "InternalError", "", "out of memory");
		goto out;
	}
	ret = 0;
 out:
	keys_policy_free(&pol);
	return ret;
}

/* Parses a call's body; 0, or -1 having answered resp. */
static int
console_call_body(const struct console_req *req, struct console_resp *resp,
    char **actionp, struct lk_params *params)
{
	char field[3 * LK_PARAMS_NAME_MAX + 1];
	int r;

	if ((r = console_call_parse(req->body, req->bodylen, actionp, params,
	    field, sizeof(field))) != 0) {
		console_error(resp, 400, "InvalidParameter", field,
		    r == LK_ERR_TOO_LONG ? "The value is too long." :
		    "The call is malformed: {\"Action\": NAME, \"Params\": "
		    "{NAME: string, number or boolean}}.");
		return -1;
	}
	return 0;
}

static void
console_call(const struct console_req *req, struct console_resp *resp,
    const struct console_session *s)
{
	struct lk_params params;
	char *action = NULL;
	json_t *out = NULL;
	int status;

	if (console_call_body(req, resp, &action, &params) != 0)
		return;
	if (console_run(resp, s, action, &params, &status, &out) == 0)
		console_json(resp, status, out);
	lk_params_free(&params);
	free(action);
}

/*
 * POST /console/api/terminal (docs/console.md, "Terminal"): the body of
 * a StartTerminalSession call for a shell session under a pseudo-terminal
 * (a Username, no PortNumber, Tty absent or true), run as the signed-in
 * principal like any call; on success the session is bound to this
 * console session (sid: the cookie's value) before anyone learns its
 * token, and the answer is {SessionId, TerminalUrl}: the path of the
 * console's WebSocket (/console/terminal?...), which only this console
 * session, from this origin, may dial. The API's WebSocketUrl is not
 * given: the session cannot be dialled at /session.
 */
static void
console_terminal(const struct console_req *req, struct console_resp *resp,
    const struct console_session *s, const char *sid)
{
	struct lk_params params;
	char *action = NULL, *url = NULL, hash[LK_SIG_V3_SIZE];
	const char *id, *token, *tty;
	json_t *out = NULL;
	int status, r;

	if (console_call_body(req, resp, &action, &params) != 0)
		return;
	tty = lk_params_get(&params, "Tty");
	if (strcmp(action, "StartTerminalSession") != 0 ||
	    lk_params_get(&params, "PortNumber") != NULL ||
	    lk_params_get(&params, "Username") == NULL ||
	    (tty != NULL && strcmp(tty, "true") != 0)) {
		console_error(resp, 400, "InvalidParameter", "Action", "The "
		    "console's terminal starts StartTerminalSession shell "
		    "sessions: a Username, no PortNumber, a terminal.");
		goto out;
	}
	if (console_run(resp, s, action, &params, &status, &out) != 0)
		goto out;
	if (status != 200) {
		console_json(resp, status, out);
		out = NULL;
		goto out;
	}
	id = json_string_value(json_object_get(out, "SessionId"));
	token = json_string_value(json_object_get(out, "SecurityToken"));
	if (id == NULL || token == NULL ||
	    lk_sig_sha256_hex(sid, CONSOLE_SID_HEX, hash) != 0 ||
	    asprintf(&url, "/console/terminal?sessionId=%s&token=%s", id,
	    token) < 0) {
		url = NULL;
		console_error(resp, 500, "InternalError", "", "no session");
		goto out;
	}
	/* Its token is still ours alone: bind before answering. */
	if ((r = store_sess_console_bind(lkd->db, id, hash)) != 0) {
		console_store_error(resp, r == LK_ERR_NOT_FOUND ?
		    LK_ERR_INTERNAL : r, "The session could not be bound to "
		    "this console session.");
		goto out;
	}
	log_info("console terminal session=%s principal=%s", id,
	    s->principal);
	console_json(resp, 200, json_pack("{s:s, s:s}", "SessionId", id,
	    "TerminalUrl", url));
 out:
	json_decref(out);
	free(url);
	lk_params_free(&params);
	free(action);
}

/*
 * A policy list of the access key page: "*", empty (everything) or
 * comma-separated entries of printable ASCII without spaces, at most 1024
 * characters in all.
 */
static int
console_key_list_ok(const char *v)
{
	const char *p;

	if (v == NULL)
		return 1;
	if (strlen(v) > 1024)
		return 0;
	for (p = v; *p != '\0'; p++)
		if (*p <= ' ' || *p > '~')
			return 0;
	return 1;
}

/* No control character (C0 or DEL). */
static int
console_text_ok(const char *v)
{
	const unsigned char *p;

	for (p = (const unsigned char *)v; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

static void
console_key_audit(const struct console_session *s, const char *kind,
    json_t *detail)
{
	struct audit_ev ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.actor_type = AUDIT_ACTOR_OPERATOR;
	ev.actor = s->principal;
	ev.detail = detail;
	(void)audit_emit(&ev);
}

/*
 * POST /console/api/accesskeys (docs/console.md, "Access keys"): the
 * access keys of this latchkeyd, for operators only, through the functions
 * of "latchkeyd accesskey": ListAccessKeys (no secret, ever),
 * CreateAccessKey (Description, Actions, Instances, Users: comma lists,
 * empty or "*" for every one; the secret is in this answer only) and
 * DisableAccessKey (AccessKeyId; its console sessions end at their next
 * request).
 */
static void
console_accesskeys(const struct console_req *req, struct console_resp *resp,
    const struct console_session *s)
{
	static const char *const lists[] = { "Actions", "Instances", "Users" };
	struct lk_params params;
	const char *v[3], *desc, *id;
	char *action = NULL, *kid = NULL, *secret = NULL;
	json_t *list;
	size_t i;
	int r;

	if (s->kind != CONSOLE_KIND_OPERATOR) {
		console_error(resp, 403, "Forbidden.Operator", "", "Only an "
		    "operator manages access keys.");
		return;
	}
	if (console_call_body(req, resp, &action, &params) != 0)
		return;
	if (strcmp(action, "ListAccessKeys") == 0) {
		if ((r = keys_list(&list)) != 0)
			console_store_error(resp, r, "The access keys could "
			    "not be read.");
		else
			console_json(resp, 200, json_pack("{s:o}",
			    "AccessKeys", list));
	} else if (strcmp(action, "CreateAccessKey") == 0) {
		desc = lk_params_get(&params, "Description");
		if (desc != NULL && (strlen(desc) > 256 ||
		    !console_text_ok(desc))) {
			console_error(resp, 400, "InvalidParameter.Description",
			    "Description", "At most 256 characters, no "
			    "control characters.");
			goto out;
		}
		for (i = 0; i < 3; i++) {
			v[i] = lk_params_get(&params, lists[i]);
			if (v[i] != NULL && (*v[i] == '\0' ||
			    strcmp(v[i], "*") == 0))
				v[i] = NULL;
			if (!console_key_list_ok(v[i])) {
				console_error(resp, 400, "InvalidParameter",
				    lists[i], "A comma-separated list without "
				    "spaces, or * for every one.");
				goto out;
			}
		}
		if ((r = keys_create(desc != NULL ? desc : "", v[0], v[1],
		    v[2], &kid, &secret)) != 0) {
			console_store_error(resp, r, "The access key could not "
			    "be created.");
			goto out;
		}
		console_key_audit(s, "accesskey.create", json_pack("{s:s, "
		    "s:s, s:s, s:s}", "access_key_id", kid, "actions", v[0] ?
		    v[0] : "*", "instances", v[1] ? v[1] : "*", "users", v[2] ?
		    v[2] : "*"));
		log_info("console accesskey create id=%s principal=%s", kid,
		    s->principal);
		console_json(resp, 200, json_pack("{s:s, s:s}", "AccessKeyId",
		    kid, "AccessKeySecret", secret));
		OPENSSL_cleanse(secret, strlen(secret));
	} else if (strcmp(action, "DisableAccessKey") == 0) {
		id = lk_params_get(&params, "AccessKeyId");
		if (id == NULL || *id == '\0') {
			console_error(resp, 400, "MissingAccessKeyId",
			    "AccessKeyId", "AccessKeyId is required.");
			goto out;
		}
		if ((r = keys_disable(id)) == LK_ERR_NOT_FOUND) {
			console_error(resp, 404, "InvalidAccessKeyId.NotFound",
			    "AccessKeyId", "No such access key.");
			goto out;
		}
		if (r != 0) {
			console_store_error(resp, r, "The access key could not "
			    "be disabled.");
			goto out;
		}
		console_key_audit(s, "accesskey.disable", json_pack("{s:s}",
		    "access_key_id", id));
		log_info("console accesskey disable id=%s principal=%s", id,
		    s->principal);
		console_json(resp, 200, json_pack("{s:s, s:b}", "AccessKeyId",
		    id, "Disabled", 1));
	} else
		console_error(resp, 400, "InvalidAction", "Action", "The "
		    "access key actions are ListAccessKeys, CreateAccessKey "
		    "and DisableAccessKey.");
 out:
	free(kid);
	free(secret);
	lk_params_free(&params);
	free(action);
}

static void
console_api(const struct console_req *req, struct console_resp *resp,
    const char *what)
{
	struct console_session s;
	char sid[CONSOLE_SID_HEX + 1];
	int post = strcmp(req->method, "POST") == 0, r;

	if (strcmp(what, "session") == 0 && !post) {
		const char *site = console_hdr(req, "sec-fetch-site");

		if (site != NULL && strcmp(site, "same-origin") != 0)
			console_error(resp, 403, "Forbidden.Origin", "",
			    "The request comes from another site.");
		else if (console_auth(req, resp, &s, sid) == 0)
			console_json(resp, 200, console_whoami(&s));
		return;
	}
	if (strcmp(what, "signin") != 0 && strcmp(what, "signout") != 0 &&
	    strcmp(what, "call") != 0 && strcmp(what, "terminal") != 0 &&
	    strcmp(what, "accesskeys") != 0) {
		console_error(resp, 404, "NotFound", "", "No such path.");
		return;
	}
	if (!post) {
		console_error(resp, 405, "MethodNotAllowed", "",
		    "Use POST.");
		console_header(resp, "Allow", "POST");
		return;
	}
	if (console_post_ok(req, resp) != 0)
		return;
	if (strcmp(what, "signin") == 0) {
		console_signin(req, resp);
		return;
	}
	if (console_auth(req, resp, &s, sid) != 0 ||
	    console_csrf(req, resp, &s) != 0)
		return;
	if (strcmp(what, "signout") == 0) {
		if ((r = console_session_delete(sid)) != 0) {
			console_store_error(resp, r,
			    "The session could not be deleted.");
			return;
		}
		log_info("console signout principal=%s", s.principal);
		console_json(resp, 200, json_pack("{s:b}", "SignedOut", 1));
		console_cookie_set(resp, req, NULL);
		return;
	}
	if (strcmp(what, "terminal") == 0)
		console_terminal(req, resp, &s, sid);
	else if (strcmp(what, "accesskeys") == 0)
		console_accesskeys(req, resp, &s);
	else
		console_call(req, resp, &s);
	OPENSSL_cleanse(sid, sizeof(sid));
}

/*
 * The terminal's WebSocket handshake (GET /console/terminal), before the
 * relay looks at its token: a browser always sends Origin on a WebSocket
 * (it is the only defence against cross-site WebSocket hijacking, since
 * SameSite does not cover every case), so it must be present and ours;
 * Sec-Fetch-Site, when sent, must be same-origin; the cookie must name a
 * live console session, whose hash goes into hash for the relay to
 * compare with the session's binding. Returns 0, or the HTTP status with
 * *codep and *msgp (static strings).
 */
int
console_ws_admit(const struct lk_sig_header *h, size_t nh, int tls,
    char hash[LK_SIG_V3_SIZE], const char **codep, const char **msgp)
{
	struct console_req req;
	struct console_session s;
	char sid[CONSOLE_SID_HEX + 1];
	const char *origin, *site;
	int r;

	memset(&req, 0, sizeof(req));
	req.headers = h;
	req.nheaders = nh;
	origin = console_hdr(&req, "origin");
	site = console_hdr(&req, "sec-fetch-site");
	if (origin == NULL || !console_origin_ok(origin, console_hdr(&req,
	    "host"), tls) || (site != NULL && strcmp(site,
	    "same-origin") != 0)) {
		*codep = "Forbidden.Origin";
		*msgp = "The console's terminal is opened from the console's "
		    "own origin only.";
		return 403;
	}
	r = console_cookie_get(console_hdr(&req, "cookie"), CONSOLE_COOKIE,
	    sid, sizeof(sid));
	if (r == 0)
		r = console_session_get(sid, &s);
	if (r == 0)
		r = lk_sig_sha256_hex(sid, CONSOLE_SID_HEX, hash);
	OPENSSL_cleanse(sid, sizeof(sid));
	if (r == LK_ERR_UNAVAILABLE) {
		*codep = "ServiceUnavailable";
		*msgp = "The database is unavailable, try again later.";
		return 503;
	}
	if (r != 0) {
		*codep = "NotSignedIn";
		*msgp = "Sign in to the console to open its terminal.";
		return 401;
	}
	return 0;
}

void
console_handle(const struct console_req *req, struct console_resp *resp)
{
	int get = strcmp(req->method, "GET") == 0 ||
	    strcmp(req->method, "HEAD") == 0;

	memset(resp, 0, sizeof(*resp));
	if (strncmp(req->path, "/api/", 5) == 0)
		console_api(req, resp, req->path + 5);
	else if (!get) {
		console_error(resp, 405, "MethodNotAllowed", "", "Use GET.");
		console_header(resp, "Allow", "GET, HEAD");
	} else if (req->path[0] == '\0') {
		resp->status = 301;
		resp->content_type = "text/plain; charset=utf-8";
		resp->body = (char *)(uintptr_t)"Moved to /console/.\n";
		resp->body_static = 1;
		resp->bodylen = strlen(resp->body);
		console_header(resp, "Location", "/console/");
	} else if (strcmp(req->path, "/") == 0)
		console_static(resp, "index.html");
	else if (strncmp(req->path, "/static/", 8) == 0 &&
	    strcmp(req->path + 8, "index.html") != 0)
		console_static(resp, req->path + 8);
	else
		console_static(resp, "");
	console_header(resp, "Content-Security-Policy", CONSOLE_CSP);
	console_header(resp, "X-Content-Type-Options", "nosniff");
	console_header(resp, "Referrer-Policy", "no-referrer");
	console_header(resp, "X-Frame-Options", "DENY");
	console_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
}
