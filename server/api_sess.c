/*
 * Session manager actions (docs/sessions.md): StartTerminalSession,
 * EndTerminalSession, DescribeTerminalSessions, and the account switch in
 * ModifyCloudAssistantSettings / DescribeCloudAssistantSettings.
 *
 * A session row is created Pending with the SHA-256 of a one-time token;
 * server/relay.c spends the token when the client dials the WebSocketUrl.
 * Sessions, like invocations, belong to the access key that started them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "api_int.h"
#include "err.h"
#include "log.h"
#include "relay.h"

#define SESS_SETTING		"session_manager_enabled"
#define SESS_ID_CHARS		"0123456789abcdefghijklmnopqrstuvwxyz"
#define SESS_TOKEN_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop" \
				"qrstuvwxyz0123456789-_"
#define SESS_LIST_MAX		100

long sess_per_key = RELAY_PER_KEY_DEFAULT;

static int
sess_str_cb(const struct lkdb_row *st, void *arg)
{
	*(char **)arg = lkdb_col_str(st, 0);
	return 1;
}

int
sess_enabled(void)
{
	char *v = NULL;
	int on;

	if (lkdb_query(lkd->db, sess_str_cb, &v, "SELECT value FROM settings "
	    "WHERE name = ?", "s", SESS_SETTING) != 0)
		return 0;
	on = v != NULL && strcmp(v, "true") == 0;
	free(v);
	return on;
}

int
sess_set_enabled(int on)
{
	return lkdb_run(lkd->db, NULL, "INSERT INTO settings(name, value) "
	    "VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = "
	    "excluded.value", "ss", SESS_SETTING, on ? "true" : "false");
}

/* Sessions need an agent of version 1.1.0 or later. */
int
sess_version_supported(const char *v)
{
	unsigned long a = 0, b = 0;
	char *end;

	if (v == NULL)
		return 0;
	a = strtoul(v, &end, 10);
	if (end == v || *end != '.')
		return 0;
	b = strtoul(end + 1, &end, 10);
	return a > 1 || (a == 1 && b >= 1);
}

struct sess_inst {
	int	 found;
	int64_t	 last_seen;
	char	*version, *ports;
};

static int
sess_inst_cb(const struct lkdb_row *st, void *arg)
{
	struct sess_inst *x = arg;

	x->found = 1;
	x->last_seen = lkdb_int(st, 0);
	x->version = lkdb_col_str(st, 1);
	x->ports = lkdb_col_str(st, 2);
	return 1;
}

/* The open sessions of an instance: all of them, and the caller's. */
struct sess_open {
	int64_t	 all;
	int64_t	 own;
};

static int
sess_open_cb(const struct lkdb_row *st, void *arg)
{
	struct sess_open *o = arg;

	o->all = lkdb_int(st, 0);
	o->own = lkdb_int(st, 1);
	return 1;
}

/*
 * Counts the instance's open sessions (Connecting, Connected, or Pending
 * with a token still valid) and inserts the new one in one transaction, so
 * that concurrent calls cannot together pass either limit: the caller's
 * own quota (--sessions-per-key), checked first because the caller can do
 * something about it, then the instance's RELAY_PER_INSTANCE.
 */
static int
sess_insert(struct api_req *req, const char *inst, long long port,
    const char *user, const char *sid, const char *hash)
{
	struct sess_open o = { 0, 0 };
	int64_t now = lkd_now();

	if (lkdb_begin(lkd->db) != 0)
		return api_error(req, 500, "InternalError", "database");
	if (lkdb_query(lkd->db, sess_open_cb, &o, "SELECT count(*), "
	    "count(*) FILTER (WHERE owner = ?1) FROM sessions WHERE "
	    "instance_id = ?2 AND (status IN ('Connecting', 'Connected') OR "
	    "(status = 'Pending' AND token_expires > ?3))", "ssi",
	    req->key_id, inst, now) != 0)
		goto db;
	if (o.own >= sess_per_key) {
		lkdb_rollback(lkd->db);
		return api_error(req, 403, "SessionCount.ExceedKeyLimit", "This "
		    "access key already has %ld sessions open on the instance, "
		    "its quota (latchkeyd --sessions-per-key); end one with "
		    "EndTerminalSession or let its WebSocketUrl expire.",
		    sess_per_key);
	}
	if (o.all >= RELAY_PER_INSTANCE) {
		lkdb_rollback(lkd->db);
		return api_error(req, 403, "SessionCount.ExceedLimit", "The "
		    "instance already has %d sessions open.",
		    RELAY_PER_INSTANCE);
	}
	if (lkdb_run(lkd->db, NULL, "INSERT INTO sessions(id, owner, "
	    "instance_id, port, username, token_hash, token_expires, status, "
	    "created) VALUES (?, ?, ?, ?, ?, ?, ?, 'Pending', ?)", "sssissii",
	    sid, req->key_id, inst, (int64_t)port, user ? user : "", hash,
	    now + relay_conf.token_ttl, now) != 0)
		goto db;
	if (lkdb_commit(lkd->db) != 0)
		return api_error(req, 500, "InternalError", "database");
	return 0;
 db:
	lkdb_rollback(lkd->db);
	return api_error(req, 500, "InternalError", "database");
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

int
api_start_terminal_session(struct api_req *req)
{
	struct sess_inst x = { 0 };
	const char **ids = NULL, *user;
	size_t nids = 0;
	long long port;
	char sid[24], token[48], hash[LK_SIG_V3_SIZE], base[300], *url = NULL;
	int r = -1;

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
	if (api_param(req, "CommandLine") != NULL &&
	    *api_param(req, "CommandLine") != '\0') {
		api_error(req, 400, "InvalidParameter.CommandLine", "latchkey "
		    "sessions carry a TCP stream to a port; CommandLine is not "
		    "supported.");
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
	if (!sess_enabled()) {
		api_error(req, 403, "InvalidOperation.SessionManagerDisabled",
		    "The session manager is disabled for this account. Enable "
		    "it with ModifyCloudAssistantSettings (SettingType "
		    "SessionManagerConfig).");
		goto out;
	}
	if (lkdb_query(lkd->db, sess_inst_cb, &x, "SELECT last_seen, version, "
	    "session_ports FROM instances WHERE id = ?", "s", ids[0]) != 0 ||
	    !x.found) {
		api_error(req, 500, "InternalError", "database");
		goto out;
	}
	if (x.last_seen < lkd_now() - LKD_ONLINE_WINDOW) {
		api_error(req, 403, "ClientNotRunning", "The Cloud Assistant "
		    "agent of the instance is not online.");
		goto out;
	}
	if (!sess_version_supported(x.version)) {
		api_error(req, 403, "ClientNeedUpgrade", "The agent of the "
		    "instance (version %s) does not support sessions; 1.1.0 or "
		    "later does.", *x.version ? x.version : "unknown");
		goto out;
	}
	if (!sess_port_allowed(x.ports, port)) {
		api_error(req, 403, "InvalidPortNumber.NotAllowed", "The agent "
		    "of the instance does not allow sessions to port %lld "
		    "(latchkey-agent --session-ports).", port);
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
	if (sess_insert(req, ids[0], port, user, sid, hash) != 0)
		goto out;
	json_object_set_new(req->resp, "SessionId", json_string(sid));
	json_object_set_new(req->resp, "SecurityToken", json_string(token));
	json_object_set_new(req->resp, "WebSocketUrl", json_string(url));
	log_info("%s session %s started instance=%s port=%lld key=%s",
	    req->request_id, sid, ids[0], port, req->key_id);
	r = 0;
 out:
	free(ids);
	free(url);
	free(x.version);
	free(x.ports);
	return r;
}

static int
sess_owner_cb(const struct lkdb_row *st, void *arg)
{
	*(char **)arg = lkdb_col_str(st, 0);
	return 1;
}

int
api_end_terminal_session(struct api_req *req)
{
	const char *sid;
	char *status = NULL;

	if (api_param_req(req, "SessionId", &sid) != 0)
		return -1;
	if (lkdb_query(lkd->db, sess_owner_cb, &status, "SELECT status FROM "
	    "sessions WHERE id = ? AND owner = ?", "ss", sid,
	    req->key_id) != 0)
		return api_error(req, 500, "InternalError", "database");
	if (status == NULL)
		return api_error(req, 404, "InvalidSessionId.NotFound", "The "
		    "specified session does not exist.");
	/* A URL not yet used can no longer be. */
	if (strcmp(status, "Pending") == 0 && lkdb_run(lkd->db, NULL, "UPDATE "
	    "sessions SET status = 'Closed', ended = ?, closed_reason = "
	    "'ended before it connected' WHERE id = ? AND status = 'Pending'",
	    "is", lkd_now(), sid) != 0) {
		free(status);
		return api_error(req, 500, "InternalError", "database");
	}
	free(status);
	(void)relay_end(sid);
	return 0;
}

static json_t *
sess_time(const struct lkdb_row *st, int i)
{
	char t[32];

	if (lkdb_isnull(st, i))
		return json_string("");
	lk_time_iso(lkdb_int(st, i), t, sizeof(t));
	return json_string(t);
}

static const char *
sess_col(const struct lkdb_row *st, int i)
{
	const char *s = lkdb_text(st, i);

	return s != NULL ? s : "";
}

static int
sess_row_cb(const struct lkdb_row *st, void *arg)
{
	json_t *list = arg, *conn;
	const char *status = sess_col(st, 5);

	conn = json_pack("{s:s, s:s, s:o, s:o, s:s, s:s}",
	    "InstanceId", sess_col(st, 1),
	    "Status", status,
	    "StartTime", sess_time(st, 7), "EndTime", sess_time(st, 8),
	    "ClosedReason", strcmp(status, "Failed") == 0 ? "" :
	    sess_col(st, 11),
	    "FailedDetail", strcmp(status, "Failed") == 0 ? sess_col(st, 11) :
	    "");
	if (conn == NULL || json_array_append_new(list, json_pack("{s:s, s:s,"
	    " s:s, s:o, s:I, s:s, s:s, s:s, s:I, s:I, s:{s:[o]}}",
	    "SessionId", sess_col(st, 0), "Username", sess_col(st, 3),
	    "ClientIP", sess_col(st, 4), "CreationTime", sess_time(st, 6),
	    "PortNumber", (json_int_t)lkdb_int(st, 2),
	    "TargetServer", "127.0.0.1", "IdentityType", "AccessKey",
	    "PrincipalId", sess_col(st, 12),
	    "BytesFromClient", (json_int_t)lkdb_int(st, 9),
	    "BytesToClient", (json_int_t)lkdb_int(st, 10),
	    "Connections", "Connection", conn)) != 0)
		return LK_ERR_ALLOC;
	return 0;
}

int
api_describe_terminal_sessions(struct api_req *req)
{
	const char *inst = api_param(req, "InstanceId");
	const char *sid = api_param(req, "SessionId");
	const char *tok = api_param(req, "NextToken");
	long long max, off = 0;
	json_t *list;
	char next[32];

	if (api_param_int(req, "MaxResults", 10, 1, SESS_LIST_MAX, &max) != 0)
		return -1;
	if (tok != NULL && *tok != '\0' && lk_parse_ll(tok, 0, 1000000000LL,
	    &off) != 0)
		return api_error(req, 400, "InvalidParameter.NextToken", "The "
		    "specified NextToken is not valid.");
	if ((list = json_array()) == NULL)
		return api_error(req, 500, "InternalError", "out of memory");
	if (lkdb_query(lkd->db, sess_row_cb, list, "SELECT id, instance_id, "
	    "port, username, client_ip, status, created, started, ended, "
	    "bytes_in, bytes_out, closed_reason, owner FROM sessions WHERE "
	    "owner = ? AND (? IS NULL OR instance_id = ?) AND (? IS NULL OR "
	    "id = ?) ORDER BY created DESC, id LIMIT ? OFFSET ?", "sssssii",
	    req->key_id, inst, inst, sid, sid, (int64_t)max + 1,
	    (int64_t)off) != 0) {
		json_decref(list);
		return api_error(req, 500, "InternalError", "database");
	}
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

int
api_modify_cloud_assistant_settings(struct api_req *req)
{
	const char *type, *cfg;
	json_t *j, *v;
	json_error_t e;
	int on;

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
	if (sess_set_enabled(on) != 0)
		return api_error(req, 500, "InternalError", "database");
	log_info("%s session manager %s by %s", req->request_id,
	    on ? "enabled" : "disabled", req->key_id);
	return 0;
}

int
api_describe_cloud_assistant_settings(struct api_req *req)
{
	const char **types = NULL;
	size_t n = 0, i;

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
	json_object_set_new(req->resp, "SessionManagerConfig",
	    json_pack("{s:b}", "SessionManagerEnabled", sess_enabled()));
	return 0;
}
