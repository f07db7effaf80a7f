/*
 * Session manager actions (docs/sessions.md): StartTerminalSession,
 * ResumeTerminalSession (latchkey's), EndTerminalSession,
 * DescribeTerminalSessions, and the account switch in
 * ModifyCloudAssistantSettings / DescribeCloudAssistantSettings.
 *
 * A session row is created Pending with the SHA-256 of a one-time token;
 * server/relay.c spends the token when the client dials the WebSocketUrl.
 * Sessions, like invocations, belong to the access key that started them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "err.h"
#include "log.h"
#include "relay.h"
#include "store.h"

#define SESS_ID_CHARS		"0123456789abcdefghijklmnopqrstuvwxyz"
#define SESS_TOKEN_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop" \
				"qrstuvwxyz0123456789-_"
#define SESS_LIST_MAX		100
#define SESS_CMD_MAX		512	/* a shell session's CommandLine */
#define SESS_USER_MAX		32
#define SESS_WINSZ_MAX		1000	/* LK_STREAM_WINSZ_MAX */

/* A shell session's parameters, as the agent's hand-out carries them. */
struct sess_shell {
	const char	*command;	/* NULL: a login shell */
	long long	 cols, rows;
	int		 tty;
};

/*
 * Admits and inserts the session (store_sess_start: one transaction, so
 * that concurrent calls cannot together pass either limit): the caller's
 * own quota (--sessions-per-key), checked first because the caller can do
 * something about it, then the instance's RELAY_PER_INSTANCE.
 */
static int
sess_insert(struct api_req *req, const char *inst, long long port,
    const char *user, const char *shell, const char *sid, const char *hash)
{
	struct store_sess_new s;
	int limit = 0, r;

	memset(&s, 0, sizeof(s));
	s.kind = shell != NULL ? "shell" : "port";
	s.shell = shell;
	s.id = sid;
	s.owner = req->key_id;
	s.instance_id = inst;
	s.username = user;
	s.token_hash = hash;
	s.port = port;
	s.now = lkd_now();
	s.token_expires = s.now + relay_conf.token_ttl;
	r = store_sess_start(lkd->db, &s, relay_conf.per_key, RELAY_PER_INSTANCE,
	    &limit);
	if (r == LK_ERR_BUSY && limit == STORE_SESS_LIMIT_KEY)
		return api_error(req, 403, "SessionCount.ExceedKeyLimit", "This "
		    "access key already has %ld sessions open on the instance, "
		    "its quota (latchkeyd --sessions-per-key); end one with "
		    "EndTerminalSession or let its WebSocketUrl expire.",
		    relay_conf.per_key);
	if (r == LK_ERR_BUSY && limit == STORE_SESS_LIMIT_INSTANCE)
		return api_error(req, 403, "SessionCount.ExceedLimit", "The "
		    "instance already has %d sessions open.",
		    RELAY_PER_INSTANCE);
	if (r != 0)
		return api_store_error(req, r, "session");
	return 0;
}

static int
sess_port_allowed(const char *ports, long long port)
{
	json_t *a = json_loads(ports ? ports : "[]", 0, NULL), *v;
	size_t i;
	int ok = 0;

	json_array_foreach(a, i, v)
		if (json_is_integer(v) && json_integer_value(v) == port)
			ok = 1;
	json_decref(a);
	return ok;
}

/* The ports of the agent's list as "22, 2222" into out ("none"). */
static void
sess_ports_text(const char *ports, char *out, size_t size)
{
	json_t *a = json_loads(ports ? ports : "[]", 0, NULL), *v;
	size_t i, off = 0;

	snprintf(out, size, "none");
	json_array_foreach(a, i, v)
		if (json_is_integer(v) && off < size)
			off += (size_t)snprintf(out + off, size - off, "%s%lld",
			    off ? ", " : "", (long long)json_integer_value(v));
	json_decref(a);
}

/* The WebSocket base: --public-url, else the Host the client used. */
static int
sess_ws_base(struct api_req *req, char *out, size_t size)
{
	const char *host = NULL, *p = lkd->public_url;
	size_t i;

	if (*p != '\0') {
		if (strncmp(p, "https://", 8) == 0)
			snprintf(out, size, "wss://%s", p + 8);
		else if (strncmp(p, "http://", 7) == 0)
			snprintf(out, size, "ws://%s", p + 7);
		else
			snprintf(out, size, "%s", p);
		i = strlen(out);
		while (i > 0 && out[i - 1] == '/')
			out[--i] = '\0';
		return 0;
	}
	/*
	 * A call with no HTTP request of its own (the console's, through
	 * api_call_internal): a path on this server, "/session?...", which
	 * the console turns into its own terminal URL.
	 */
	if (req->headers == NULL) {
		snprintf(out, size, "%s", "");
		return 0;
	}
	for (i = 0; i < req->nheaders; i++)
		if (strcmp(req->headers[i].name, "host") == 0)
			host = req->headers[i].value;
	if (host == NULL || *host == '\0' || strlen(host) > 255 ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-:[]") != strlen(host))
		return api_error(req, 400, "InvalidParameter.Host", "The "
		    "request's Host header cannot be used in a WebSocket URL; "
		    "start latchkeyd with --public-url.");
	snprintf(out, size, "%s://%s", lkd->tls ? "wss" : "ws", host);
	return 0;
}

/* Is v 1.4.0 or later (an agent that runs shell sessions)? */
static int
sess_agent_shells(const char *v)
{
	unsigned long a, b;
	char *end;

	if (v == NULL || *v < '0' || *v > '9')
		return 0;
	a = strtoul(v, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9')
		return 0;
	b = strtoul(end + 1, &end, 10);
	return a > 1 || (a == 1 && b >= 4);
}

/* A portable user name, as the agent takes it (1..32 characters). */
static int
sess_user_valid(const char *u)
{
	size_t n = strlen(u);

	return n >= 1 && n <= SESS_USER_MAX && u[0] != '-' &&
	    strspn(u, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == n;
}

/*
 * A shell session's parameters (no PortNumber, a Username): the user the
 * key's policy must allow (as for key pushes: 403 Forbidden.RAM, and
 * nothing reaches the agent), CommandLine, and latchkey's Tty, Cols and
 * Rows. 0, or -1 with the API error set.
 */
static int
sess_shell_params(struct api_req *req, const char *user, struct sess_shell *sh)
{
	const char *c = api_param(req, "CommandLine"), *t = api_param(req,
	    "Tty");

	memset(sh, 0, sizeof(*sh));
	if (!sess_user_valid(user))
		return api_error(req, 400, "InvalidParameter.Username", "The "
		    "specified Username is not a valid user name.");
	if (!keys_policy_user(&req->policy, user))
		return api_error(req, 403, "Forbidden.RAM", "User not "
		    "authorized to operate on the specified resource: this "
		    "access key may not open sessions as %s.", user);
	if (c != NULL && *c != '\0') {
		if (strlen(c) > SESS_CMD_MAX || !cmd_utf8_valid(c, strlen(c)))
			return api_error(req, 400, "InvalidParameter."
			    "CommandLine", "CommandLine must be UTF-8 of at "
			    "most %d bytes.", SESS_CMD_MAX);
		sh->command = c;
	}
	if (t == NULL || strcmp(t, "true") == 0)
		sh->tty = 1;
	else if (strcmp(t, "false") != 0)
		return api_error(req, 400, "InvalidParameter.Tty", "Tty must "
		    "be true or false.");
	if (api_param_int(req, "Cols", 80, 1, SESS_WINSZ_MAX, &sh->cols) != 0 ||
	    api_param_int(req, "Rows", 24, 1, SESS_WINSZ_MAX, &sh->rows) != 0)
		return -1;
	return 0;
}

/* The hand-out's shell part as JSON text (a new string), or NULL. */
static char *
sess_shell_json(const struct sess_shell *sh)
{
	json_t *j = json_pack("{s:b, s:I, s:I}", "tty", sh->tty, "cols",
	    (json_int_t)sh->cols, "rows", (json_int_t)sh->rows);
	char *s;

	if (j != NULL && sh->command != NULL)
		json_object_set_new(j, "command", json_string(sh->command));
	s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

int
api_start_terminal_session(struct api_req *req)
{
	struct store_inst x;
	const char **ids = NULL, *user;
	struct sess_shell shp;
	size_t nids = 0;
	long long port;
	char sid[24], token[48], hash[LK_SIG_V3_SIZE], base[300], *url = NULL;
	char ports[400], *shell = NULL;
	int on, r = -1, e, is_shell;

	memset(&x, 0, sizeof(x));

	if (api_param_list(req, "InstanceId", 1, &ids, &nids) != 0)
		return -1;
	if (nids == 0) {
		free(ids);
		return api_error(req, 400, "MissingParam.InstanceId", "The "
		    "parameter InstanceId is missing.");
	}
	if (api_param(req, "InstanceId.2") != NULL) {
		free(ids);
		return api_error(req, 400, "InvalidParameter.InstanceId",
		    "latchkey opens a session to one instance at a time; give "
		    "InstanceId.1 only.");
	}
	if (api_param_int(req, "PortNumber", 22, 1, 65535, &port) != 0)
		goto out;
	user = api_param(req, "Username");
	if (user != NULL && (strlen(user) > 255 || !cmd_utf8_valid(user,
	    strlen(user)) || strpbrk(user, "\r\n") != NULL)) {
		api_error(req, 400, "InvalidParameter.Username", "The "
		    "specified Username is not valid.");
		goto out;
	}
	/* No PortNumber and a Username: a shell session (Alibaba's shape). */
	is_shell = api_param(req, "PortNumber") == NULL && user != NULL &&
	    *user != '\0';
	if (is_shell) {
		port = 0;
		if (sess_shell_params(req, user, &shp) != 0)
			goto out;
		if (relay_conf.resume_wait == 0) {
			api_error(req, 403, "InvalidOperation.ResumeDisabled",
			    "Shell sessions need sessions that resume "
			    "(latchkeyd --session-resume-wait is 0).");
			goto out;
		}
	} else if (api_param(req, "CommandLine") != NULL &&
	    *api_param(req, "CommandLine") != '\0') {
		api_error(req, 400, "InvalidParameter.CommandLine", "A "
		    "CommandLine runs in a shell session: give a Username and "
		    "no PortNumber.");
		goto out;
	}
	if (api_param(req, "TargetServer") != NULL &&
	    strcmp(api_param(req, "TargetServer"), "127.0.0.1") != 0 &&
	    strcmp(api_param(req, "TargetServer"), "localhost") != 0 &&
	    *api_param(req, "TargetServer") != '\0') {
		api_error(req, 400, "InvalidParameter.TargetServer", "latchkey "
		    "sessions reach only the instance itself (127.0.0.1).");
		goto out;
	}
	if (inst_check(req, ids[0], 1, NULL) != 0)
		goto out;
	if ((e = store_sess_manager(lkd->db, &on)) != 0) {
		api_store_error(req, e, "settings");
		goto out;
	}
	if (!on) {
		api_error(req, 403, "InvalidOperation.SessionManagerDisabled",
		    "The session manager is disabled for this account. Enable "
		    "it with ModifyCloudAssistantSettings (SettingType "
		    "SessionManagerConfig).");
		goto out;
	}
	if ((e = store_inst_get(lkd->db, ids[0], &x)) != 0) {
		api_store_error(req, e, "instance lookup");
		goto out;
	}
	if (x.last_seen < lkd_now() - LKD_ONLINE_WINDOW) {
		api_error(req, 403, "ClientNotRunning", "The Cloud Assistant "
		    "agent of the instance is not online.");
		goto out;
	}
	if (!inst_supports_sessions(x.version)) {
		api_error(req, 403, "ClientNeedUpgrade", "The agent of the "
		    "instance (version %s) does not support sessions; 1.1.0 or "
		    "later does.", *x.version ? x.version : "unknown");
		goto out;
	}
	if (is_shell && !sess_agent_shells(x.version)) {
		api_error(req, 403, "ClientNeedUpgrade", "The agent of the "
		    "instance (version %s) does not run shell sessions; 1.4.0 "
		    "or later does.", *x.version ? x.version : "unknown");
		goto out;
	}
	if (!is_shell && !sess_port_allowed(x.session_ports, port)) {
		sess_ports_text(x.session_ports, ports, sizeof(ports));
		api_error(req, 403, "InvalidPortNumber.NotAllowed", "The agent "
		    "of the instance does not allow sessions to port %lld; it "
		    "allows %s (latchkey-agent --session-ports).", port, ports);
		goto out;
	}
	if (sess_ws_base(req, base, sizeof(base)) != 0)
		goto out;
	if (lkd_random_id("s-", 20, SESS_ID_CHARS, sid, sizeof(sid)) != 0 ||
	    lkd_random_id("", 43, SESS_TOKEN_CHARS, token, sizeof(token)) !=
	    0 || lk_sig_sha256_hex(token, strlen(token), hash) != 0 ||
	    asprintf(&url, "%s/session?sessionId=%s&token=%s", base, sid,
	    token) < 0) {
		url = NULL;
		api_error(req, 500, "InternalError", "no session id");
		goto out;
	}
	if (is_shell && (shell = sess_shell_json(&shp)) == NULL) {
		api_error(req, 500, "InternalError", "out of memory");
		goto out;
	}
	if (sess_insert(req, ids[0], port, user, shell, sid, hash) != 0)
		goto out;
	json_object_set_new(req->resp, "SessionId", json_string(sid));
	json_object_set_new(req->resp, "SecurityToken", json_string(token));
	json_object_set_new(req->resp, "WebSocketUrl", json_string(url));
	if (is_shell)
		log_info("%s session %s started instance=%s shell user=%s "
		    "command=%d key=%s", req->request_id, sid, ids[0], user,
		    shp.command != NULL, req->key_id);
	else
		log_info("%s session %s started instance=%s port=%lld key=%s",
		    req->request_id, sid, ids[0], port, req->key_id);
	r = 0;
 out:
	free(ids);
	free(url);
	free(shell);
	store_inst_free(&x);
	return r;
}

/*
 * ResumeTerminalSession (a latchkey extension, docs/api.md): a new
 * WebSocketUrl for the caller's own resumable session after its
 * connection was lost; the ends carry on where they were
 * (docs/sessions.md, "Resume").
 */
int
api_resume_terminal_session(struct api_req *req)
{
	struct store_sess_resumed rs;
	const char *sid, *why = NULL;
	char token[48], hash[LK_SIG_V3_SIZE], base[300], *url = NULL;
	int on, e, r = -1;

	memset(&rs, 0, sizeof(rs));
	if (api_param_req(req, "SessionId", &sid) != 0)
		return -1;
	if (strlen(sid) > 47)
		return api_error(req, 404, "InvalidSessionId.NotFound", "The "
		    "specified session does not exist.");
	if (relay_conf.resume_wait == 0)
		return api_error(req, 403, "InvalidOperation.ResumeDisabled",
		    "Sessions do not resume on this latchkeyd "
		    "(--session-resume-wait 0).");
	if ((e = store_sess_manager(lkd->db, &on)) != 0)
		return api_store_error(req, e, "settings");
	if (!on)
		return api_error(req, 403, "InvalidOperation."
		    "SessionManagerDisabled", "The session manager is disabled "
		    "for this account.");
	if (sess_ws_base(req, base, sizeof(base)) != 0)
		return -1;
	if (lkd_random_id("", 43, SESS_TOKEN_CHARS, token, sizeof(token)) !=
	    0 || lk_sig_sha256_hex(token, strlen(token), hash) != 0 ||
	    asprintf(&url, "%s/session?sessionId=%s&token=%s", base, sid,
	    token) < 0) {
		url = NULL;
		api_error(req, 500, "InternalError", "no token");
		goto out;
	}
	e = store_sess_resume(lkd->db, sid, req->key_id, hash, lkd_now(),
	    relay_conf.token_ttl, relay_conf.resume_wait, &rs, &why);
	if (e == LK_ERR_NOT_FOUND) {
		api_error(req, 404, "InvalidSessionId.NotFound", "The "
		    "specified session does not exist.");
		goto out;
	}
	if (e == LK_ERR_STATE) {
		if (strcmp(why, "not resumable") == 0)
			api_error(req, 403, "InvalidSessionId.NotResumable",
			    "The session cannot resume: its client did not "
			    "ask for it (Latchkey-Resume) or the instance's "
			    "agent is older than 1.2.0.");
		else if (strcmp(why, "expired") == 0)
			api_error(req, 403, "InvalidSessionId.Expired", "The "
			    "session was not resumed within %ld s of its loss "
			    "(latchkeyd --session-resume-wait); start a new "
			    "one.", relay_conf.resume_wait);
		else
			api_error(req, 403, "InvalidSessionId.Ended", "The "
			    "session has ended; start a new one.");
		goto out;
	}
	if (e != 0) {
		api_store_error(req, e, "session");
		goto out;
	}
	json_object_set_new(req->resp, "SessionId", json_string(sid));
	json_object_set_new(req->resp, "SecurityToken", json_string(token));
	json_object_set_new(req->resp, "WebSocketUrl", json_string(url));
	log_info("%s session %s resume=%lld instance=%s port=%lld key=%s",
	    req->request_id, sid, (long long)rs.epoch, rs.instance_id,
	    (long long)rs.port, req->key_id);
	r = 0;
 out:
	explicit_bzero(token, sizeof(token));
	free(url);
	store_sess_resumed_free(&rs);
	return r;
}

int
api_end_terminal_session(struct api_req *req)
{
	const char *sid;
	int r;

	if (api_param_req(req, "SessionId", &sid) != 0)
		return -1;
	/* A URL not yet used can no longer be; a live session is kicked. */
	r = store_sess_end(lkd->db, sid, req->key_id, lkd_now());
	if (r == LK_ERR_NOT_FOUND)
		return api_error(req, 404, "InvalidSessionId.NotFound", "The "
		    "specified session does not exist.");
	if (r != 0)
		return api_store_error(req, r, "session");
	(void)relay_end(sid);
	return 0;
}

/* A time as ISO 8601; "" for 0 (not yet). */
static json_t *
sess_time(int64_t t)
{
	char s[32];

	if (t == 0)
		return json_string("");
	lk_time_iso(t, s, sizeof(s));
	return json_string(s);
}

static int
sess_describe(const struct store_sess *s, json_t *list)
{
	json_t *conn, *o, *sh;
	int failed = strcmp(s->status, "Failed") == 0;
	int shell = strcmp(s->kind, "shell") == 0;

	conn = json_pack("{s:s, s:s, s:o, s:o, s:s, s:s}",
	    "InstanceId", s->instance_id,
	    "Status", s->status,
	    "StartTime", sess_time(s->started), "EndTime", sess_time(s->ended),
	    "ClosedReason", failed ? "" : s->closed_reason,
	    "FailedDetail", failed ? s->closed_reason : "");
	if (conn == NULL || (o = json_pack("{s:s, s:s, s:s,"
	    " s:s, s:o, s:s, s:s, s:s, s:I, s:I, s:{s:[o]}}",
	    "SessionId", s->id, "Kind", shell ? "shell" : "port",
	    "Username", s->username,
	    "ClientIP", s->client_ip, "CreationTime", sess_time(s->created),
	    "TargetServer", "127.0.0.1", "IdentityType", "AccessKey",
	    "PrincipalId", s->owner,
	    "BytesFromClient", (json_int_t)s->bytes_in,
	    "BytesToClient", (json_int_t)s->bytes_out,
	    "Connections", "Connection", conn)) == NULL)
		return LK_ERR_ALLOC;
	if (shell) {
		json_object_set_new(o, "HasRecording", json_boolean(
		    s->rec_size >= 0));
		if (s->rec_size >= 0) {
			json_object_set_new(o, "RecordingSize",
			    json_integer(s->rec_size));
			json_object_set_new(o, "RecordingTruncated",
			    json_boolean(s->rec_truncated));
		}
	}
	/* A port session's port; a shell's command, if it ran one. */
	if (!shell)
		json_object_set_new(o, "PortNumber", json_integer(s->port));
	else if ((sh = json_loads(s->shell, 0, NULL)) != NULL) {
		if (json_is_string(json_object_get(sh, "command")))
			json_object_set(o, "CommandLine", json_object_get(sh,
			    "command"));
		json_decref(sh);
	}
	if (json_array_append_new(list, o) != 0)
		return LK_ERR_ALLOC;
	return 0;
}

int
api_describe_terminal_sessions(struct api_req *req)
{
	struct store_sess_query q;
	struct store_sess *ss = NULL;
	const char *tok = api_param(req, "NextToken");
	long long max, off = 0;
	json_t *list;
	char next[32];
	size_t n = 0, i;
	int r;

	if (api_param_int(req, "MaxResults", 10, 1, SESS_LIST_MAX, &max) != 0)
		return -1;
	if (tok != NULL && *tok != '\0' && lk_parse_ll(tok, 0, 1000000000LL,
	    &off) != 0)
		return api_error(req, 400, "InvalidParameter.NextToken", "The "
		    "specified NextToken is not valid.");
	memset(&q, 0, sizeof(q));
	if (api_owner(req, "DescribeTerminalSessions:all", &q.owner) != 0)
		return -1;
	q.instance_id = api_param(req, "InstanceId");
	q.id = api_param(req, "SessionId");
	q.limit = max + 1;
	q.offset = off;
	if ((r = store_sess_list(lkd->db, &q, &ss, &n)) != 0)
		return api_store_error(req, r, "sessions");
	if ((list = json_array()) == NULL) {
		store_sess_list_free(ss, n);
		return api_error(req, 500, "InternalError", "out of memory");
	}
	for (i = 0; i < n; i++)
		if (sess_describe(&ss[i], list) != 0) {
			store_sess_list_free(ss, n);
			json_decref(list);
			return api_error(req, 500, "InternalError", "out of "
			    "memory");
		}
	store_sess_list_free(ss, n);
	next[0] = '\0';
	if ((long long)json_array_size(list) > max) {
		json_array_remove(list, json_array_size(list) - 1);
		snprintf(next, sizeof(next), "%lld", off + max);
	}
	json_object_set_new(req->resp, "NextToken", json_string(next));
	json_object_set_new(req->resp, "Sessions", json_pack("{s:o}",
	    "Session", list));
	return 0;
}

/*
 * A shell session's recording (docs/sessions.md, "Recording"): for the
 * access key that started the session, as DescribeTerminalSessions.
 */
int
api_describe_terminal_session_recording(struct api_req *req)
{
	struct store_rec rec;
	const char *sid;
	char created[32];
	int r;

	if (api_param_req(req, "SessionId", &sid) != 0)
		return -1;
	if ((r = store_rec_get(lkd->db, sid, &rec)) == LK_ERR_NOT_FOUND)
		return api_error(req, 404, "InvalidSessionId.NotFound", "The "
		    "specified session does not exist.");
	if (r != 0)
		return api_store_error(req, r, "session");
	if (strcmp(rec.owner, req->key_id) != 0) {
		store_rec_free(&rec);
		return api_error(req, 403, "Forbidden.SessionOwner", "The "
		    "session was started by another access key.");
	}
	if (!rec.has) {
		r = strcmp(rec.kind, "shell") == 0;
		store_rec_free(&rec);
		return api_error(req, 404, "InvalidRecording.NotFound", r ?
		    "The session has no recording (the agent does not record "
		    "shell sessions, or its upload has not arrived yet)." :
		    "Only shell sessions are recorded.");
	}
	lk_time_iso(rec.created, created, sizeof(created));
	json_object_set_new(req->resp, "SessionId", json_string(sid));
	json_object_set_new(req->resp, "Format", json_string("asciicast-v2"));
	json_object_set_new(req->resp, "Truncated",
	    json_boolean(rec.truncated));
	json_object_set_new(req->resp, "Size", json_integer((json_int_t)
	    rec.len));
	json_object_set_new(req->resp, "CreationTime", json_string(created));
	json_object_set_new(req->resp, "Recording", json_stringn(rec.data,
	    rec.len));
	store_rec_free(&rec);
	return 0;
}

int
api_modify_cloud_assistant_settings(struct api_req *req)
{
	const char *type, *cfg;
	json_t *j, *v;
	json_error_t e;
	int on, r;

	/* The switch is the account's: not for keys limited to instances. */
	if (req->policy.instances != NULL)
		return api_error(req, 403, "Forbidden.RAM", "User not "
		    "authorized to operate on the specified resource: account "
		    "settings need a key that is not limited to instances.");
	if (api_param_req(req, "SettingType", &type) != 0)
		return -1;
	if (strcmp(type, "SessionManagerConfig") != 0)
		return api_error(req, 400, "InvalidParameter.SettingType",
		    "latchkey supports only the SettingType "
		    "SessionManagerConfig.");
	if (api_param_req(req, "SessionManagerConfig", &cfg) != 0)
		return -1;
	if ((j = json_loads(cfg, JSON_REJECT_DUPLICATES, &e)) == NULL ||
	    !json_is_object(j) || (v = json_object_get(j,
	    "SessionManagerEnabled")) == NULL || !json_is_boolean(v)) {
		json_decref(j);
		return api_error(req, 400, "InvalidParameter."
		    "SessionManagerConfig", "SessionManagerConfig must be a JSON "
		    "object with a boolean SessionManagerEnabled.");
	}
	on = json_is_true(v);
	json_decref(j);
	if ((r = store_sess_manager_set(lkd->db, on)) != 0)
		return api_store_error(req, r, "settings");
	log_info("%s session manager %s by %s", req->request_id,
	    on ? "enabled" : "disabled", req->key_id);
	return 0;
}

int
api_describe_cloud_assistant_settings(struct api_req *req)
{
	const char **types = NULL;
	size_t n = 0, i;
	int on, r;

	if (api_param_list(req, "SettingType", 16, &types, &n) != 0)
		return -1;
	if (n == 0) {
		free(types);
		return api_error(req, 400, "MissingSettingType", "SettingType is "
		    "mandatory for this action.");
	}
	for (i = 0; i < n; i++) {
		if (strcmp(types[i], "SessionManagerConfig") != 0) {
			free(types);
			return api_error(req, 400, "InvalidParameter."
			    "SettingType", "latchkey supports only the "
			    "SettingType SessionManagerConfig.");
		}
	}
	free(types);
	if ((r = store_sess_manager(lkd->db, &on)) != 0)
		return api_store_error(req, r, "settings");
	json_object_set_new(req->resp, "SessionManagerConfig",
	    json_pack("{s:b}", "SessionManagerEnabled", on));
	return 0;
}
