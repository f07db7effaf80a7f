#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api.h"
#include "audit.h"
#include "console.h"
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "sig.h"

/*
 * The actions; audit is the kind of the event a success makes (NULL: a
 * read, no event). Every refusal (4xx) makes an "api.refused" event.
 */
struct api_action {
	const char	*name;
	api_action_fn	 fn;
	const char	*audit;
};

static const struct api_action api_actions[] = {
	{ "DescribeCommands", api_describe_commands, NULL },
	{ "CreateCommand", api_create_command, "api.call" },
	{ "ModifyCommand", api_modify_command, "api.call" },
	{ "DeleteCommand", api_delete_command, "api.call" },
	{ "InvokeCommand", api_invoke_command, "api.call" },
	{ "RunCommand", api_run_command, "api.call" },
	{ "DescribeInvocations", api_describe_invocations, NULL },
	{ "DescribeInvocationResults", api_describe_invocation_results, NULL },
	{ "StopInvocation", api_stop_invocation, "api.call" },
	{ "SendFile", api_send_file, "api.call" },
	{ "DescribeSendFileResults", api_describe_send_file_results, NULL },
	{ "DescribeInstances", api_describe_instances, NULL },
	{ "DescribeCloudAssistantStatus", api_describe_cloud_assistant_status,
	    NULL },
	{ "DescribeInstanceHostKeys", api_describe_instance_host_keys, NULL },
	{ "DescribeHostCertificateAuthority",
	    api_describe_host_certificate_authority, NULL },
	{ "StartTerminalSession", api_start_terminal_session,
	    "session.start" },
	{ "ResumeTerminalSession", api_resume_terminal_session,
	    "session.resume" },
	{ "EndTerminalSession", api_end_terminal_session, "api.call" },
	{ "DescribeTerminalSessions", api_describe_terminal_sessions, NULL },
	{ "DescribeTerminalSessionRecording",
	    api_describe_terminal_session_recording, "api.call" },
	{ "ModifyCloudAssistantSettings", api_modify_cloud_assistant_settings,
	    "api.call" },
	{ "DescribeCloudAssistantSettings",
	    api_describe_cloud_assistant_settings, NULL },
	{ "DescribeAuditEvents", api_describe_audit_events, NULL },
	{ "CreateActivation", api_create_activation, "api.call" },
	{ "DescribeActivations", api_describe_activations, NULL },
	{ "DisableActivation", api_disable_activation, "api.call" },
	{ "DeleteActivation", api_delete_activation, "api.call" },
	{ "DescribeManagedInstances", api_describe_managed_instances, NULL },
	{ "ModifyManagedInstance", api_modify_managed_instance, "api.call" },
	{ "DeregisterManagedInstance", api_deregister_managed_instance,
	    "api.call" },
	{ "TagResources", api_tag_resources, "api.call" },
	{ "UntagResources", api_untag_resources, "api.call" },
	{ "ListTagResources", api_list_tag_resources, NULL },
};

#define API_NACTIONS	(sizeof(api_actions) / sizeof(api_actions[0]))

void
api_audit_set(struct api_req *req, const char *name, json_t *value)
{
	if (value == NULL)
		return;
	if (req->audit == NULL && (req->audit = json_object()) == NULL) {
		json_decref(value);
		return;
	}
	json_object_set_new(req->audit, name, value);
}

/*
 * What every event of a call names, when the call has it: the ids its
 * answer gives (a success) or its parameters name, and its target.
 */
static void
api_audit_ids(struct api_req *req, int r)
{
	static const char *const ids[][2] = { { "InvokeId", "invoke_id" },
	    { "CommandId", "command_id" }, { "SessionId", "session_id" },
	    { "ActivationId", "activation_id" } };
	const char *v;
	json_t *j;
	size_t i;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		if (req->audit != NULL && json_object_get(req->audit,
		    ids[i][1]) != NULL)
			continue;
		j = r == 0 ? json_object_get(req->resp, ids[i][0]) : NULL;
		if (json_is_string(j))
			api_audit_set(req, ids[i][1], json_copy(j));
		else if ((v = api_param(req, ids[i][0])) != NULL)
			api_audit_set(req, ids[i][1], audit_str(v));
	}
	if (req->audit_instance == NULL &&
	    (req->audit_instance = api_param(req, "InstanceId.1")) == NULL)
		req->audit_instance = api_param(req, "InstanceId");
	if (req->audit_user == NULL)
		req->audit_user = api_param(req, "Username");
}

/*
 * The request's event: a success of an action that changes state, or
 * any refusal (4xx: policy, signature, parameters). 5xx changed nothing
 * and makes none.
 */
int
api_audit_event(struct api_req *req, int r, struct audit_ev *ev)
{
	const char *kind = NULL, *op = CONSOLE_OPERATOR_PREFIX;
	char vis[160];
	size_t i;

	for (i = 0; req->action != NULL && i < API_NACTIONS; i++)
		if (strcmp(api_actions[i].name, req->action) == 0)
			kind = api_actions[i].audit;
	if (r == 0 && kind == NULL)
		return 1;
	if (r != 0 && (req->status < 400 || req->status > 499))
		return 1;
	memset(ev, 0, sizeof(*ev));
	ev->kind = r == 0 ? kind : "api.refused";
	ev->actor = req->key_id;
	ev->actor_type = req->key_id == NULL ? AUDIT_ACTOR_NONE :
	    AUDIT_ACTOR_KEY;
	if (req->key_id != NULL && strncmp(req->key_id, op, strlen(op)) == 0) {
		ev->actor = req->key_id + strlen(op);
		ev->actor_type = AUDIT_ACTOR_OPERATOR;
	}
	/* latchkeyd's subcommands (api_call_internal, fleet_admin.c). */
	if (req->key_id != NULL && strncmp(req->key_id, API_ADMIN_PREFIX,
	    strlen(API_ADMIN_PREFIX)) == 0) {
		ev->actor = req->key_id + strlen(API_ADMIN_PREFIX);
		ev->actor_type = AUDIT_ACTOR_ADMIN;
	}
	api_audit_ids(req, r);
	ev->instance = req->audit_instance;
	ev->user = req->audit_user;
	ev->code = r == 0 ? NULL : req->code;
	/* An unknown action's name is the caller's: made printable. */
	lk_vis(vis, sizeof(vis), req->action ? req->action : "",
	    req->action ? strnlen(req->action, 128) : 0);
	api_audit_set(req, "action", json_string(vis));
	api_audit_set(req, "request_id", json_string(req->request_id));
	if (r != 0)
		api_audit_set(req, "status", json_integer(req->status));
	ev->detail = req->audit;
	req->audit = NULL;
	return 0;
}

static void
api_audit(struct api_req *req, int r)
{
	struct audit_ev ev;

	if (req->audited || api_audit_event(req, r, &ev) != 0)
		return;
	(void)audit_emit(&ev);
}

int
api_error(struct api_req *req, int status, const char *code, const char *fmt,
    ...)
{
	va_list ap;

	req->status = status;
	snprintf(req->code, sizeof(req->code), "%s", code);
	free(req->message);
	va_start(ap, fmt);
	if (vasprintf(&req->message, fmt, ap) == -1)
		req->message = NULL;
	va_end(ap);
	return -1;
}

int
api_store_error(struct api_req *req, int r, const char *what)
{
	switch (r) {
	case LK_ERR_UNAVAILABLE:
		return api_error(req, 503, "ServiceUnavailable", "The "
		    "database is unavailable (%s); nothing was changed. "
		    "Please try again later.", what);
	case LK_ERR_ALLOC:
		return api_error(req, 500, "InternalError", "out of memory "
		    "(%s)", what);
	default:
		return api_error(req, 500, "InternalError",
		    "The request processing has failed due to some unknown "
		    "error (%s).", what);
	}
}

/*
 * The latchkey extension Owner of DescribeInvocations,
 * DescribeInvocationResults and DescribeTerminalSessions (docs/api.md,
 * "Who sees what"): absent or the caller's own id, the caller's; "*",
 * every owner's (*ownerp NULL); another access key id or operator:NAME,
 * that owner's. Anything but the caller's own needs a policy allowing
 * all (the action followed by ":all", or every action), like
 * DescribeAuditEvents; otherwise 403 Forbidden.RAM. 0, or -1 answered.
 */
int
api_owner(struct api_req *req, const char *all, const char **ownerp)
{
	const char *o = api_param(req, "Owner");

	*ownerp = req->key_id;
	if (o == NULL || *o == '\0' || strcmp(o, req->key_id) == 0)
		return 0;
	if (!keys_policy_action(&req->policy, all))
		return api_error(req, 403, "Forbidden.RAM", "Another owner's "
		    "records need a policy that allows %s.", all);
	if (strlen(o) > 128)
		return api_error(req, 400, "InvalidParameter.Owner", "Owner is "
		    "*, an access key id or operator:NAME.");
	*ownerp = strcmp(o, "*") == 0 ? NULL : o;
	return 0;
}

const char *
api_param(struct api_req *req, const char *name)
{
	return lk_params_get(&req->params, name);
}

int
api_param_req(struct api_req *req, const char *name, const char **vp)
{
	char code[96];

	if ((*vp = api_param(req, name)) != NULL && **vp != '\0')
		return 0;
	snprintf(code, sizeof(code), "Missing%s", name);
	return api_error(req, 400, code, "%s is mandatory for this action.",
	    name);
}

int
api_param_int(struct api_req *req, const char *name, long long def,
    long long min, long long max, long long *vp)
{
	const char *v = api_param(req, name);

	*vp = def;
	if (v == NULL || *v == '\0')
		return 0;
	if (lk_parse_ll(v, min, max, vp) != 0)
		return api_error(req, 400, "InvalidParameter",
		    "The specified parameter \"%s\" is not valid (an integer "
		    "from %lld to %lld).", name, min, max);
	return 0;
}

int
api_param_bool(struct api_req *req, const char *name, int def, int *vp)
{
	const char *v = api_param(req, name);

	*vp = def;
	if (v == NULL || *v == '\0')
		return 0;
	if (strcmp(v, "true") == 0)
		*vp = 1;
	else if (strcmp(v, "false") == 0)
		*vp = 0;
	else
		return api_error(req, 400, "InvalidParameter",
		    "The specified parameter \"%s\" is not valid (true or "
		    "false).", name);
	return 0;
}

int
api_param_list(struct api_req *req, const char *name, size_t max,
    const char ***vp, size_t *np)
{
	const char **v;
	char key[160];
	size_t n = 0, i;

	*vp = NULL;
	*np = 0;
	if ((v = calloc(max + 1, sizeof(*v))) == NULL)
		return api_error(req, 500, "InternalError", "out of memory");
	for (i = 1; i <= max + 1; i++) {
		const char *val;

		snprintf(key, sizeof(key), "%s.%zu", name, i);
		if ((val = api_param(req, key)) == NULL)
			break;
		if (n == max) {
			free(v);
			return api_error(req, 403, "InstanceIds.ExceedLimit",
			    "The number of %s exceeds %zu.", name, max);
		}
		v[n++] = val;
	}
	*vp = v;
	*np = n;
	return 0;
}

int
api_allowed_instance(struct api_req *req, const char *id, const char *name)
{
	if (keys_policy_instance(&req->policy, id, name))
		return 1;
	api_error(req, 403, "Forbidden.RAM", "User not authorized to operate "
	    "on the specified resource: instance %s.", id);
	return 0;
}

/* Adds the form body (when it is one) to the query's parameters. */
static int
api_collect(struct api_req *req)
{
	const char *ct = req->content_type;

	if (lk_params_parse(&req->params, req->raw_query,
	    strlen(req->raw_query)) != 0)
		return api_error(req, 400, "InvalidParameter",
		    "The query string is malformed or repeats a parameter.");
	if (req->bodylen > 0 && ct != NULL && strncmp(ct,
	    "application/x-www-form-urlencoded", 33) == 0 &&
	    lk_params_parse(&req->params, req->body, req->bodylen) != 0)
		return api_error(req, 400, "InvalidParameter",
		    "The form body is malformed or repeats a parameter.");
	return 0;
}

static const char *
api_header(struct api_req *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nheaders; i++)
		if (strcmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

/* The timestamp window and the key; *secretp on success. */
static int
api_key(struct api_req *req, const char *id, const char *when, char **secretp)
{
	int64_t t, now = lkd_now();
	int disabled = 0, r;

	if (when == NULL || lk_time_parse(when, &t) != 0)
		return api_error(req, 400, "IllegalTimestamp", "The input "
		    "parameter \"Timestamp\" that is mandatory for processing "
		    "this request is not supplied or malformed.");
	if (t < now - LKD_TIME_WINDOW || t > now + LKD_TIME_WINDOW)
		return api_error(req, 400, "InvalidTimeStamp.Expired",
		    "Specified time stamp or date value is expired.");
	if ((r = keys_lookup(id, secretp, &req->policy, &disabled)) != 0) {
		if (r == LK_ERR_NOT_FOUND)
			return api_error(req, 404,
			    "InvalidAccessKeyId.NotFound",
			    "Specified access key is not found.");
		if (r == LK_ERR_UNAVAILABLE)
			return api_store_error(req, r, "access key");
		return api_error(req, 500, "InternalError",
		    "The access key could not be read.");
	}
	if (disabled)
		return api_error(req, 400, "InvalidAccessKeyId.Inactive",
		    "Specified access key is disabled.");
	if ((req->key_id = strdup(id)) == NULL)
		return api_error(req, 500, "InternalError", "out of memory");
	return 0;
}

static int
api_nonce(struct api_req *req, const char *nonce)
{
	int r = keys_nonce_use(req->key_id, nonce, lkd_now());

	if (r == LK_ERR_RANGE)
		return api_error(req, 400, "SignatureNonceUsed",
		    "Specified signature nonce was used already.");
	if (r == LK_ERR_UNAVAILABLE)
		return api_store_error(req, r, "signature nonce");
	if (r != 0)
		return api_error(req, 500, "InternalError", "nonce store");
	return 0;
}

static int
api_auth_v1(struct api_req *req)
{
	const char *id = api_param(req, "AccessKeyId");
	const char *sig = api_param(req, "Signature");
	const char *nonce = api_param(req, "SignatureNonce");
	const char *meth = api_param(req, "SignatureMethod");
	const char *ver = api_param(req, "SignatureVersion");
	char *secret = NULL, *sts = NULL, want[LK_SIG_V1_SIZE];
	int r = -1;

	if (id == NULL || *id == '\0')
		return api_error(req, 400, "MissingAccessKeyId",
		    "AccessKeyId is mandatory for this action.");
	if (sig == NULL || nonce == NULL || *nonce == '\0' || meth == NULL ||
	    strcmp(meth, "HMAC-SHA1") != 0 || ver == NULL ||
	    strcmp(ver, "1.0") != 0)
		return api_error(req, 400, "IncompleteSignature", "The request "
		    "signature does not conform to Alibaba Cloud standards.");
	if (api_key(req, id, api_param(req, "Timestamp"), &secret) != 0)
		goto out;
	if (lk_sig_v1_string_to_sign(req->method, &req->params, &sts) != 0 ||
	    lk_sig_v1_compute(secret, sts, want) != 0) {
		api_error(req, 500, "InternalError", "signature");
		goto out;
	}
	if (!lk_sig_equal(sig, want)) {
		api_error(req, 400, "SignatureDoesNotMatch", "Specified "
		    "signature is not matched with our calculation. server "
		    "string to sign is:%s", sts);
		goto out;
	}
	if (api_nonce(req, nonce) != 0)
		goto out;
	req->action = api_param(req, "Action");
	r = 0;
 out:
	if (secret != NULL) {
		OPENSSL_cleanse(secret, strlen(secret));
		free(secret);
	}
	free(sts);
	return r;
}

/* Every V3 request signs these, or it could be replayed with changes. */
static int
api_v3_signed_enough(const char *list)
{
	static const char *const need[] = { "host", "x-acs-action",
	    "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce",
	    "x-acs-version" };
	size_t i, n;
	const char *p;

	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		n = strlen(need[i]);
		for (p = list; (p = strstr(p, need[i])) != NULL; p += n)
			if ((p == list || p[-1] == ';') &&
			    (p[n] == ';' || p[n] == '\0'))
				break;
		if (p == NULL)
			return 0;
	}
	return 1;
}

static int
api_auth_v3(struct api_req *req, const char *auth)
{
	char *id = NULL, *signedh = NULL, *sig = NULL, *secret = NULL;
	char *creq = NULL, want[LK_SIG_V3_SIZE], hashed[LK_SIG_V3_SIZE];
	char body_hash[LK_SIG_V3_SIZE];
	const char *ch = api_header(req, "x-acs-content-sha256");
	const char *nonce = api_header(req, "x-acs-signature-nonce");
	int r = -1;

	if (lk_sig_v3_parse_auth(auth, &id, &signedh, &sig) != 0 ||
	    !api_v3_signed_enough(signedh) || ch == NULL || nonce == NULL) {
		api_error(req, 400, "IncompleteSignature", "The request "
		    "signature does not conform to Alibaba Cloud standards.");
		goto out;
	}
	if (lk_sig_sha256_hex(req->body, req->bodylen, body_hash) != 0 ||
	    !lk_sig_equal(ch, body_hash)) {
		api_error(req, 400, "IncompleteSignature",
		    "x-acs-content-sha256 does not match the body.");
		goto out;
	}
	if (api_key(req, id, api_header(req, "x-acs-date"), &secret) != 0)
		goto out;
	if (lk_sig_v3_canonical_request(req->method, "/", &req->params,
	    req->headers, req->nheaders, signedh, ch, &creq) != 0 ||
	    lk_sig_v3_compute(secret, creq, want, hashed) != 0) {
		api_error(req, 400, "IncompleteSignature", "The request "
		    "signature does not conform to Alibaba Cloud standards.");
		goto out;
	}
	if (!lk_sig_equal(sig, want)) {
		api_error(req, 400, "SignatureDoesNotMatch", "Specified "
		    "signature is not matched with our calculation. server "
		    "string to sign is:ACS3-HMAC-SHA256\n%s", hashed);
		goto out;
	}
	if (api_nonce(req, nonce) != 0)
		goto out;
	req->action = api_header(req, "x-acs-action");
	r = 0;
 out:
	if (secret != NULL) {
		OPENSSL_cleanse(secret, strlen(secret));
		free(secret);
	}
	free(id);
	free(signedh);
	free(sig);
	free(creq);
	return r;
}

/* The action req->action for req->key_id under req->policy. */
static int
api_run(struct api_req *req)
{
	const char *region;
	size_t i;

	for (i = 0; i < API_NACTIONS; i++)
		if (strcmp(api_actions[i].name, req->action) == 0)
			break;
	if (i == API_NACTIONS)
		return api_error(req, 404, "InvalidAction.NotFound", "Specified "
		    "api is not found, please check your url and method.");
	/* A key that may start sessions may resume its own. */
	if (!keys_policy_action(&req->policy, req->action) &&
	    !(strcmp(req->action, "ResumeTerminalSession") == 0 &&
	    keys_policy_action(&req->policy, "StartTerminalSession")))
		return api_error(req, 403, "Forbidden.RAM", "User not "
		    "authorized to operate on the specified resource: action "
		    "%s.", req->action);
	if (api_param_req(req, "RegionId", &region) != 0)
		return -1;
	if (strcmp(region, lkd->region) != 0)
		return api_error(req, 404, "InvalidRegionId.NotFound",
		    "The specified RegionId does not exist: this server "
		    "serves %s (latchkeyd --region).", lkd->region);
	if ((req->resp = json_object()) == NULL)
		return api_error(req, 500, "InternalError", "out of memory");
	json_object_set_new(req->resp, "RequestId",
	    json_string(req->request_id));
	return api_actions[i].fn(req);
}

static int
api_dispatch(struct api_req *req)
{
	const char *version;

	version = api_header(req, "x-acs-version");
	if (version == NULL)
		version = api_param(req, "Version");
	if (req->action == NULL || *req->action == '\0' || version == NULL ||
	    strcmp(version, LKD_API_VERSION) != 0)
		return api_error(req, 400, "InvalidParameter", "The specified "
		    "parameter \"Action or Version\" is not valid.");
	return api_run(req);
}

/* Logs the outcome r; *respp gets the answer or the error body. */
static int
api_result(struct api_req *req, int r, json_t **respp)
{
	char vis[160];

	lk_vis(vis, sizeof(vis), req->action ? req->action : "-",
	    req->action ? strlen(req->action) : 1);
	api_audit(req, r);
	if (r == 0) {
		/* Reads are routine (the SDKs poll results): debug only. */
		(strncmp(vis, "Describe", 8) == 0 ? log_debug : log_info)(
		    "%s api ok action=%s key=%s", req->request_id, vis,
		    req->key_id ? req->key_id : "-");
		*respp = json_incref(req->resp);
		return 200;
	}
	metrics_api_error(req->code);
	log_info("%s api error action=%s key=%s code=%s status=%d",
	    req->request_id, vis, req->key_id ? req->key_id : "-", req->code,
	    req->status);
	*respp = json_pack("{s:s, s:s, s:s, s:s, s:s}", "RequestId",
	    req->request_id, "HostId", "latchkey", "Code", req->code,
	    "Message", req->message ? req->message : "", "Recommend",
	    lkd_recommend(req->code));
	return req->status;
}

int
api_call_internal(const char *action, struct lk_params *params,
    const char *key_id, const struct lkd_policy *pol, int *statusp,
    json_t **respp)
{
	struct api_req req;
	int r;

	memset(&req, 0, sizeof(req));
	lkd_request_id(req.request_id);
	req.method = "POST";
	req.action = action;
	req.params = *params;		/* borrowed: zeroed before the free */
	req.policy = *pol;
	if ((req.key_id = strdup(key_id)) == NULL)
		r = api_error(&req, 500, "InternalError", "out of memory");
	else
		r = api_run(&req);
	*statusp = api_result(&req, r, respp);
	memset(&req.params, 0, sizeof(req.params));
	memset(&req.policy, 0, sizeof(req.policy));
	api_req_free(&req);
	return *respp == NULL ? LK_ERR_ALLOC : 0;
}

int
api_handle(struct api_req *req, char **bodyp)
{
	const char *auth;
	json_t *out = NULL;
	int r, status;

	lkd_request_id(req->request_id);
	if ((r = api_collect(req)) == 0) {
		auth = api_header(req, "authorization");
		if (auth != NULL && strncmp(auth, LK_SIG_V3_ALGORITHM " ",
		    sizeof(LK_SIG_V3_ALGORITHM)) == 0)
			r = api_auth_v3(req, auth);
		else
			r = api_auth_v1(req);
	}
	if (r == 0)
		r = api_dispatch(req);
	status = api_result(req, r, &out);
	*bodyp = out ? json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER) :
	    NULL;
	json_decref(out);
	return status;
}

void
api_req_free(struct api_req *req)
{
	lk_params_free(&req->params);
	keys_policy_free(&req->policy);
	json_decref(req->resp);
	json_decref(req->audit);
	free(req->key_id);
	free(req->message);
}
