/*
 * Invocations: InvokeCommand, RunCommand, DescribeInvocations,
 * DescribeInvocationResults and StopInvocation.
 *
 * An invocation is one row in invocations (the command as it was, the
 * parameters, the owner: the caller's access key id) and one row per
 * instance in tasks (the script with its parameters substituted, and the
 * state the agent reports). The task statuses stored are Pending, Running,
 * Stopping, Success, Failed, Timeout, Stopped and Error; what the API shows
 * is derived from them here (docs/api.md, "Statuses").
 */
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "agentd.h"
#include "api.h"
#include "api_int.h"
#include "audit.h"
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "sshkey.h"
#include "store.h"
#include "subst.h"
#include "util.h"

#define INV_INSTANCES_MAX	100	/* InstanceId.N of InvokeCommand */
#define INV_STOP_MAX		50	/* InstanceId.N of StopInvocation */
#define INV_USER_MAX		255	/* Username, bytes */
#define INV_TOKEN_MAX		64	/* ClientToken, ASCII characters */
#define INV_TIMEOUT_MIN		10
#define INV_TIMEOUT_MAX		86400
#define INV_CONTENT_B64_MAX	(24 * 1024)	/* substituted, Base64 */
#define INV_USER_DEFAULT	"root"
#define INV_SENDKEY_USER	"root"	/* the send-key command's run-as user */
#define INV_SENDKEY_NAME	"ACS-ECS-SendSshPublicKey-linux.sh"
#define INV_HEX			"0123456789abcdef"


/* An invocation being created. */
struct inv_new {
	json_t			*cmd;		/* command record (api_cmd.c) */
	int			 run;		/* RunCommand */
	int			 keep;		/* store cmd as a command */
	int			 stored;	/* cmd is a commands row */
	const char		*username;
	const char		*working_dir;
	long long		 timeout;
	const char		*token;		/* ClientToken or NULL */
	json_t			*params;	/* Parameters or NULL */
	char			*params_text;	/* as stored */
	struct lk_subst_param	*vals;		/* from params */
	size_t			 nvals;
	struct lk_subst_param	*defs;		/* DefaultValues */
	size_t			 ndefs;
	const char		**ids;		/* instances, no repeats */
	char			**names;
	char			**scripts;	/* substituted, per instance */
	size_t			 n;
	char			 invoke_id[40];
};

enum inv_status {
	INV_PENDING, INV_RUNNING, INV_STOPPING, INV_SUCCESS, INV_FAILED,
	INV_TIMEOUT, INV_STOPPED, INV_ERROR, INV_NSTATUS
};

static const char *const inv_status_names[INV_NSTATUS] = {
	"Pending", "Running", "Stopping", "Success", "Failed", "Timeout",
	"Stopped", "Error"
};

/* ErrorCode -> ErrorInfo (reference §6). */
static const struct {
	const char	*code;
	const char	*info;
} inv_error_infos[] = {
	{ "InstanceNotExists", "the specified instance does not exists" },
	{ "InstanceReleased", "the instance was released while the command "
	  "was being executed" },
	{ "InstanceNotRunning", "the instance was not running when the "
	  "command was being executed" },
	{ "CommandNotApplicable", "the command is not applicable to the "
	  "specified instance" },
	{ "AccountNotExists", "the specified account does not exist" },
	{ "DirectoryNotExists", "the specified directory does not exist" },
	{ "BadCronExpression", "the cron expression is invalid" },
	{ "ClientNotRunning", "the aliyun service is not running on the "
	  "instance" },
	{ "ClientNotResponse", "the aliyun service in the instance does not "
	  "response" },
	{ "ClientIsUpgrading", "the aliyun service in the instance is being "
	  "upgraded" },
	{ "ClientNeedUpgrade", "the aliyun service in the instance needs to "
	  "be upgraded" },
	{ "DeliveryTimeout", "the command delivery has timed out" },
	{ "ExecutionTimeout", "the command execution has timed out" },
	{ "ExecutionException", "an exception occurred when the command was "
	  "being executed" },
	{ "ExecutionInterrupted", "the command task was interrupted" },
	{ "ExitCodeNonzero", "the command execution exit code is not zero" },
};

static enum inv_status
inv_status_parse(const char *s)
{
	size_t i;

	for (i = 0; s != NULL && i < INV_NSTATUS; i++)
		if (strcmp(s, inv_status_names[i]) == 0)
			return (enum inv_status)i;
	return INV_ERROR;
}

static const char *
inv_nz(struct api_req *req, const char *name)
{
	const char *v = api_param(req, name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static const char *
inv_str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : "";
}

static void
inv_new_free(struct inv_new *inv)
{
	size_t i;

	for (i = 0; i < inv->n; i++) {
		free(inv->names ? inv->names[i] : NULL);
		free(inv->scripts ? inv->scripts[i] : NULL);
	}
	free(inv->ids);
	free(inv->names);
	free(inv->scripts);
	free(inv->vals);
	free(inv->defs);
	free(inv->params_text);
	json_decref(inv->params);
	json_decref(inv->cmd);
}

/* ------------------------------------------------------------------ */
/* Creating an invocation                                              */

static int
inv_oom(struct api_req *req)
{
	return api_error(req, 500, "InternalError", "out of memory");
}

static int
inv_is_sendkey(json_t *cmd)
{
	return json_is_string(json_object_get(cmd, "provider")) &&
	    strcmp(inv_str(cmd, "name"), INV_SENDKEY_NAME) == 0;
}

/*
 * The run-as user and the WorkingDir against the key's Users policy; wd is
 * the WorkingDir given, or NULL. Every command runs as its Username
 * (default root), which must be a user the policy allows: otherwise a key
 * limited to "deploy" could run send_ssh_public_key for anyone as root
 * through RunCommand. The agent changes to WorkingDir after it has become
 * that user, so an allowed user learns nothing about paths it cannot see.
 *
 * The one exception is the public send-key command. Its content is fixed:
 * it runs send_ssh_public_key, which writes the root-owned key store and
 * refuses to run as anyone else, so the command runs as root and only as
 * root, and what it may do is bounded by its "username" parameters
 * (inv_sendkey_policy). A root run the policy does not otherwise grant
 * takes no WorkingDir: the agent would change to it as root, and the
 * answer (DirectoryNotExists or not) would tell whether a root-only path
 * exists. Checked before the WorkingDir's syntax, so that a refused call
 * learns nothing from the answer either.
 */
static int
inv_runas_policy(struct api_req *req, const struct inv_new *inv,
    const char *wd)
{
	int allowed = keys_policy_user(&req->policy, inv->username);

	if (!inv_is_sendkey(inv->cmd)) {
		if (allowed)
			return 0;
		return api_error(req, 403, "Forbidden.RAM", "User not "
		    "authorized to operate on the specified resource: this "
		    "access key may not run commands as %s.", inv->username);
	}
	if (strcmp(inv->username, INV_SENDKEY_USER) != 0) {
		if (!allowed)
			return api_error(req, 403, "Forbidden.RAM", "User not "
			    "authorized to operate on the specified resource: "
			    "this access key may not run commands as %s.",
			    inv->username);
		return api_error(req, 400, "InvalidParameter.Username", "The "
		    "command %s runs as %s only (it writes the key store).",
		    INV_SENDKEY_NAME, INV_SENDKEY_USER);
	}
	if (allowed || wd == NULL)
		return 0;
	return api_error(req, 403, "Forbidden.RAM", "User not authorized to "
	    "operate on the specified resource: this access key may run %s as "
	    "%s only without a WorkingDir.", INV_SENDKEY_NAME,
	    INV_SENDKEY_USER);
}

/* Username, WorkingDir, Timeout, RepeatMode and ClientToken. */
static int
inv_options(struct api_req *req, struct inv_new *inv)
{
	static const char *const modes[] = { "Period", "NextRebootOnly",
	    "EveryReboot", "DryRun" };
	const char *mode = inv_nz(req, "RepeatMode"), *t;
	size_t i;

	if ((inv->username = inv_nz(req, "Username")) == NULL)
		inv->username = INV_USER_DEFAULT;
	if (strlen(inv->username) > INV_USER_MAX)
		return api_error(req, 403, "Username.ExceedLimit", "The "
		    "username exceeds %d characters.", INV_USER_MAX);
	if (lk_user_valid(inv->username) != 0)
		return api_error(req, 400, "InvalidParameter.Username", "The "
		    "specified parameter \"Username\" is not a valid user "
		    "name.");
	if (inv_runas_policy(req, inv, inv_nz(req, "WorkingDir")) != 0)
		return -1;
	if ((inv->working_dir = inv_nz(req, "WorkingDir")) == NULL)
		inv->working_dir = inv_str(inv->cmd, "working_dir");
	else if (cmd_check_workdir(req, inv_str(inv->cmd, "type"),
	    inv->working_dir) != 0)
		return -1;
	if (api_param_int(req, "Timeout", json_integer_value(json_object_get(
	    inv->cmd, "timeout")), inv->run ? 1 : INV_TIMEOUT_MIN,
	    INV_TIMEOUT_MAX, &inv->timeout) != 0)
		return -1;
	for (i = 0; mode != NULL && i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(mode, modes[i]) == 0)
			return api_error(req, 400, "InvalidParameter.RepeatMode",
			    "RepeatMode %s is not supported; only Once is.",
			    modes[i]);
	if (mode != NULL && strcmp(mode, "Once") != 0)
		return api_error(req, 404, "InvalidRepeatMode.NotFound", "The "
		    "specified RepeatMode does not exist.");
	if ((inv->token = inv_nz(req, "ClientToken")) == NULL)
		return 0;
	for (t = inv->token; *t > 0x20 && *t < 0x7f; t++)
		;
	if (*t != '\0' || t - inv->token > INV_TOKEN_MAX)
		return api_error(req, 400, "InvalidParameter.ClientToken",
		    "The ClientToken must be at most %d printable ASCII "
		    "characters.", INV_TOKEN_MAX);
	return 0;
}

/* The HTTP status of an error code of lk_subst_apply() (reference §5). */
static int
inv_subst_status(const char *code)
{
	if (code == NULL || strcmp(code, "Parameter.MissingValue") == 0 ||
	    strcmp(code, "Parameter.Disabled") == 0 ||
	    strncmp(code, "InvalidParameter", 16) == 0)
		return 400;
	if (strncmp(code, "Parameter", 9) == 0 ||
	    strncmp(code, "CmdContent", 10) == 0)
		return 403;
	return 400;
}

/* A Parameters value as text: strings, numbers and booleans. */
static const char *
inv_param_text(json_t *v, char *buf, size_t size)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, size, "%.17g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
	else
		return NULL;
	return buf;
}

/*
 * Parameters (a JSON object) as name/value pairs. Numbers and booleans are
 * turned into strings in place, so the pairs can borrow from the object.
 */
static int
inv_parameters(struct api_req *req, struct inv_new *inv)
{
	const char *v = inv_nz(req, "Parameters"), *key, *text, *code;
	json_t *val;
	char buf[64];
	size_t i = 0;

	if (v == NULL)
		return 0;
	if ((inv->params = json_loads(v, JSON_REJECT_DUPLICATES, NULL)) ==
	    NULL && (val = json_loads(v, 0, NULL)) != NULL) {
		json_decref(val);
		return api_error(req, 403, LK_SUBST_E_DUPLICATE, "A key of "
		    "\"Parameters\" is given twice.");
	}
	if (inv->params == NULL || !json_is_object(inv->params))
		return api_error(req, 400, LK_SUBST_E_INVALID, "The specified "
		    "parameter \"Parameters\" is not a JSON object.");
	if (json_object_size(inv->params) == 0)
		return 0;
	if (!json_is_true(json_object_get(inv->cmd, "enable_parameter")))
		return api_error(req, 400, "Parameter.Disabled", "The command "
		    "does not take parameters (EnableParameter is false).");
	if ((inv->vals = calloc(json_object_size(inv->params),
	    sizeof(*inv->vals))) == NULL)
		return inv_oom(req);
	json_object_foreach(inv->params, key, val) {
		if ((text = inv_param_text(val, buf, sizeof(buf))) == NULL)
			return api_error(req, 403, LK_SUBST_E_TYPE, "Parameter "
			    "values must be strings, numbers or booleans.");
		if (lk_subst_check_value(text, json_is_string(val) ?
		    json_string_length(val) : strlen(text), &code) != 0)
			return api_error(req, inv_subst_status(code), code,
			    "A parameter value holds a NUL byte or exceeds %d "
			    "bytes.", LK_SUBST_VALUE_MAX);
		if (!json_is_string(val) && json_object_set_new(inv->params,
		    key, json_string(text)) != 0)
			return inv_oom(req);
		inv->vals[i].name = key;
		inv->vals[i++].value = json_string_value(json_object_get(
		    inv->params, key));
	}
	inv->nvals = i;
	return 0;
}

/* The DefaultValues of the command's parameter definitions. */
static int
inv_defaults(struct api_req *req, struct inv_new *inv)
{
	json_t *defs = json_object_get(inv->cmd, "params"), *d;
	size_t i;

	if (json_array_size(defs) == 0)
		return 0;
	if ((inv->defs = calloc(json_array_size(defs), sizeof(*inv->defs))) ==
	    NULL)
		return inv_oom(req);
	json_array_foreach(defs, i, d) {
		if (!json_is_string(json_object_get(d, "DefaultValue")))
			continue;
		inv->defs[inv->ndefs].name = inv_str(d, "ParameterName");
		inv->defs[inv->ndefs++].value = inv_str(d, "DefaultValue");
	}
	return 0;
}

/* The value a parameter will take: given (any case), else its default. */
static const char *
inv_effective(const struct inv_new *inv, const char *name)
{
	size_t i;

	for (i = 0; i < inv->nvals; i++)
		if (strcasecmp(inv->vals[i].name, name) == 0)
			return inv->vals[i].value;
	for (i = 0; i < inv->ndefs; i++)
		if (strcasecmp(inv->defs[i].name, name) == 0)
			return inv->defs[i].value;
	return NULL;
}

/* Given values of parameters with a PatternRegex must match it. */
static int
inv_patterns(struct api_req *req, const struct inv_new *inv)
{
	json_t *d;
	const char *pat, *name;
	regex_t re;
	size_t i, j;
	int bad = 0;

	json_array_foreach(json_object_get(inv->cmd, "params"), i, d) {
		pat = inv_str(d, "PatternRegex");
		name = inv_str(d, "ParameterName");
		if (*pat == '\0')
			continue;
		if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) != 0)
			return api_error(req, 500, "InternalError", "bad "
			    "PatternRegex of parameter %s", name);
		for (j = 0; j < inv->nvals && !bad; j++)
			bad = strcasecmp(inv->vals[j].name, name) == 0 &&
			    regexec(&re, inv->vals[j].value, 0, NULL, 0) != 0;
		regfree(&re);
		if (bad)
			return api_error(req, 400, "InvalidParameter.Parameters",
			    "The value of parameter %s does not match %s.",
			    name, pat);
	}
	return 0;
}

/*
 * The send-key command's login users: every "username" given, in any
 * spelling of the key, not just the first, else its default, must be a
 * user the key's policy allows. The run-as user and WorkingDir were
 * checked before (inv_runas_policy).
 */
static int
inv_sendkey_policy(struct api_req *req, const struct inv_new *inv)
{
	const char *user;
	size_t i;
	int given = 0;

	if (!inv_is_sendkey(inv->cmd))
		return 0;
	for (i = 0; i < inv->nvals; i++) {
		if (strcasecmp(inv->vals[i].name, "username") != 0)
			continue;
		given = 1;
		if (!keys_policy_user(&req->policy, inv->vals[i].value))
			goto forbidden;
	}
	if (given)
		return 0;
	if ((user = inv_effective(inv, "username")) == NULL)
		user = INV_USER_DEFAULT;
	if (keys_policy_user(&req->policy, user))
		return 0;
 forbidden:
	return api_error(req, 403, "Forbidden.RAM", "User not authorized to "
	    "operate on the specified resource: this access key may not send "
	    "keys for that login user.");
}

/* InstanceId.N: 1..100 known instances the key may use, repeats dropped. */
static int
inv_targets(struct api_req *req, struct inv_new *inv)
{
	const char **ids = NULL;
	size_t n, i, j;
	int r = -1;

	if (api_param_list(req, "InstanceId", INV_INSTANCES_MAX, &ids, &n) != 0)
		return -1;
	if (n == 0) {
		api_error(req, 400, "MissingParam.InstanceId", "The parameter "
		    "InstanceId is mandatory for this action.");
		goto out;
	}
	if ((inv->ids = calloc(n, sizeof(*inv->ids))) == NULL ||
	    (inv->names = calloc(n, sizeof(*inv->names))) == NULL ||
	    (inv->scripts = calloc(n, sizeof(*inv->scripts))) == NULL) {
		inv_oom(req);
		goto out;
	}
	/* Every instance is checked before anything is written. */
	for (i = 0; i < n; i++) {
		for (j = 0; j < inv->n; j++)
			if (strcmp(inv->ids[j], ids[i]) == 0)
				break;
		if (j < inv->n)
			continue;
		if (inst_check(req, ids[i], 1, &inv->names[inv->n]) != 0)
			goto out;
		inv->ids[inv->n++] = ids[i];
	}
	r = 0;
 out:
	free(ids);
	return r;
}

/* The Message of an error code of lk_subst_apply(). */
static const char *
inv_subst_message(const char *code)
{
	static const struct {
		const char	*code;
		const char	*message;
	} m[] = {
		{ LK_SUBST_E_NOT_MATCHED, "A key of Parameters is not a "
		  "parameter of the command." },
		{ LK_SUBST_E_MISSING, "A parameter of the command has neither "
		  "a value nor a default." },
		{ LK_SUBST_E_COUNT, "Parameters has more than 10 keys." },
		{ LK_SUBST_E_KEY_LONG, "A key of Parameters exceeds 64 "
		  "bytes." },
		{ LK_SUBST_E_DUPLICATE, "A key of Parameters is given twice "
		  "(keys are case-insensitive)." },
		{ LK_SUBST_E_CONTENT_LONG, "The command content is too long "
		  "after parameter substitution." },
		{ LK_SUBST_E_CONTENT, "The command content cannot take "
		  "parameters safely." },
	};
	size_t i;

	for (i = 0; code != NULL && i < sizeof(m) / sizeof(m[0]); i++)
		if (strcmp(code, m[i].code) == 0)
			return m[i].message;
	return "A parameter value cannot be used in this command.";
}

/* The script for each instance, with parameters substituted. */
static int
inv_scripts(struct api_req *req, struct inv_new *inv)
{
	struct lk_subst_param env[5];
	const char *content = inv_str(inv->cmd, "content"), *code;
	size_t i;
	int r;

	for (i = 0; i < inv->n; i++) {
		code = NULL;
		env[0].name = "ACS::InstanceId";
		env[0].value = inv->ids[i];
		env[1].name = "ACS::InstanceName";
		env[1].value = inv->names[i];
		env[2].name = "ACS::InvokeId";
		env[2].value = inv->invoke_id;
		env[3].name = "ACS::RegionId";
		env[3].value = lkd->region;
		env[4].name = "ACS::CommandId";
		env[4].value = inv_str(inv->cmd, "id");
		if (!json_is_true(json_object_get(inv->cmd, "enable_parameter")))
			r = (inv->scripts[i] = strdup(content)) == NULL ?
			    LK_ERR_ALLOC : 0;
		else
			r = lk_subst_apply(content, inv->vals, inv->nvals,
			    inv->defs, inv->ndefs, env, 5, &inv->scripts[i],
			    &code);
		if (r == LK_ERR_ALLOC || (r == 0 && inv->scripts[i] == NULL))
			return inv_oom(req);
		if (r != 0)
			return api_error(req, inv_subst_status(code), code ?
			    code : LK_SUBST_E_INVALID, "%s",
			    inv_subst_message(code));
		if ((strlen(inv->scripts[i]) + 2) / 3 * 4 > INV_CONTENT_B64_MAX)
			return api_error(req, 403, "CmdContent.ExceedLimit",
			    "The command content exceeds %d bytes after "
			    "parameter substitution and Base64 encoding.",
			    INV_CONTENT_B64_MAX);
	}
	return 0;
}

/*
 * Whether the earlier invocation with this token was the same request: the
 * same command (for RunCommand the same type and content), the same
 * Parameters and the same instances.
 */
static int
inv_prior_same(const struct inv_new *inv, const struct store_inv_prior *p)
{
	size_t i, j;

	if (inv->run ? strcmp(p->content, inv_str(inv->cmd, "content")) != 0 ||
	    strcmp(p->command_type, inv_str(inv->cmd, "type")) != 0 :
	    strcmp(p->command_id, inv_str(inv->cmd, "id")) != 0)
		return 0;
	if (strcmp(p->parameters, inv->params_text) != 0)
		return 0;
	if (p->n != inv->n)
		return 0;
	for (i = 0; i < inv->n; i++) {
		for (j = 0; j < p->n; j++)
			if (strcmp(p->instance_ids[j], inv->ids[i]) == 0)
				break;
		if (j == p->n)
			return 0;
	}
	return 1;
}

/*
 * A ClientToken this key used before: the same request again is answered
 * with the first one's ids, a different one is refused.
 */
static int
inv_token_replay(struct api_req *req, const struct inv_new *inv,
    const struct store_inv_prior *p)
{
	if (!inv_prior_same(inv, p))
		return api_error(req, 403, "IdempotentParameterMismatch", "The "
		    "ClientToken was used before with different parameters.");
	if (inv->run)
		json_object_set_new(req->resp, "CommandId",
		    json_string(p->command_id));
	json_object_set_new(req->resp, "InvokeId", json_string(p->id));
	return 0;
}

/* The rows of a new invocation, in one transaction (store_inv_create). */
static int
inv_store(struct api_req *req, struct inv_new *inv, struct audit_batch *ab,
    struct store_inv_prior *prior)
{
	struct store_inv_new sn;
	struct store_cmd keep;
	int r;

	memset(&sn, 0, sizeof(sn));
	memset(&keep, 0, sizeof(keep));
	if (inv->keep && cmd_to_store(inv->cmd, &keep) != 0)
		return inv_oom(req);
	sn.id = inv->invoke_id;
	sn.owner = req->key_id;
	sn.client_token = inv->token;
	sn.command_id = inv_str(inv->cmd, "id");
	sn.command_name = inv_str(inv->cmd, "name");
	sn.command_type = inv_str(inv->cmd, "type");
	sn.command_description = inv_str(inv->cmd, "description");
	sn.content = inv_str(inv->cmd, "content");
	sn.parameters = inv->params_text;
	sn.username = inv->username;
	sn.working_dir = inv->working_dir;
	sn.timeout = inv->timeout;
	sn.instance_ids = inv->ids;
	sn.scripts = inv->scripts;
	sn.n = inv->n;
	sn.keep = inv->keep ? &keep : NULL;
	sn.quota = CMD_QUOTA;
	sn.count = inv->stored;
	sn.in_tx = audit_batch_write_tx;
	sn.in_tx_arg = ab;
	r = store_inv_create(&sn, lkd_now(), prior);
	store_cmd_free(&keep);
	if (r != 0)
		return cmd_store_error(req, r, "invocation");
	return 0;
}

/* One key.push event: user on instance id. */
static void
inv_audit_push1(struct api_req *req, const struct inv_new *inv,
    struct audit_batch *ab, const char *id, const char *user, const char *fp,
    const char *type, int64_t expires_by)
{
	struct audit_ev ev;
	char when[32];
	int64_t skew;

	lk_time_iso(expires_by, when, sizeof(when));
	memset(&ev, 0, sizeof(ev));
	ev.kind = "key.push";
	ev.actor_type = AUDIT_ACTOR_KEY;
	ev.actor = req->key_id;
	ev.instance = id;
	ev.user = user;
	ev.detail = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "invoke_id",
	    inv->invoke_id, "fingerprint", fp, "key_type", type, "ttl_s", 60,
	    "expires_by", when, "request_id", req->request_id);
	if (ev.detail != NULL && agentskew_get(id, &skew) &&
	    llabs(skew) > AGENTSKEW_WARN_MS)
		json_object_set_new(ev.detail, "clock_skew_s",
		    json_integer((json_int_t)(skew / 1000)));
	(void)audit_batch_add(ab, &ev);
}

/*
 * The send-key command's events (docs/audit.md): one per instance and
 * login user, with the pushed key's fingerprint. The key was checked
 * by the command's pattern; one that does not parse is named so.
 */
static void
inv_audit_push(struct api_req *req, const struct inv_new *inv,
    struct audit_batch *ab)
{
	struct lk_sshkey *key = NULL;
	const char *line = inv_effective(inv, "sshPublicKey"), *user;
	char fp[LK_SSHKEY_FP_SIZE] = "unparsable", type[32] = "unknown";
	int64_t expires_by = lkd_now() + inv->timeout + 60;
	size_t i, j;
	int given = 0;

	if (line != NULL && lk_sshkey_parse_line(line, strlen(line),
	    &key) == 0) {
		if (lk_sshkey_fingerprint(key, fp) != 0)
			snprintf(fp, sizeof(fp), "unknown");
		snprintf(type, sizeof(type), "%s", lk_sshkey_type_name(key));
	}
	lk_sshkey_free(key);
	for (i = 0; i < inv->n; i++) {
		given = 0;
		for (j = 0; j < inv->nvals; j++)
			if (strcasecmp(inv->vals[j].name, "username") == 0) {
				given = 1;
				inv_audit_push1(req, inv, ab, inv->ids[i],
				    inv->vals[j].value, fp, type, expires_by);
			}
		if (given)
			continue;
		if ((user = inv_effective(inv, "username")) == NULL)
			user = INV_USER_DEFAULT;
		inv_audit_push1(req, inv, ab, inv->ids[i], user, fp, type,
		    expires_by);
	}
}

/*
 * The invocation's events, written in its transaction (docs/audit.md):
 * its api.call (instances, run-as user) and, for the send-key command,
 * the key pushes.
 */
static void
inv_audit(struct api_req *req, const struct inv_new *inv,
    struct audit_batch *ab)
{
	struct audit_ev ev;
	json_t *ids = json_array();
	size_t i;

	for (i = 0; ids != NULL && i < inv->n; i++)
		json_array_append_new(ids, json_string(inv->ids[i]));
	api_audit_set(req, "invoke_id", json_string(inv->invoke_id));
	api_audit_set(req, "command_id", audit_str(inv_str(inv->cmd, "id")));
	api_audit_set(req, "instances", ids);
	api_audit_set(req, "command_name", audit_str(inv_str(inv->cmd,
	    "name")));
	if (inv->n == 1)
		req->audit_instance = inv->ids[0];
	req->audit_user = inv->username;
	if (api_audit_event(req, 0, &ev) == 0)
		(void)audit_batch_add(ab, &ev);
	if (inv_is_sendkey(inv->cmd))
		inv_audit_push(req, inv, ab);
}

/*
 * A key push to a server whose clock is more than AGENTSKEW_WARN_MS off
 * latchkeyd's (as its agent last said): the answer says so, in
 * "Warnings" (text) and "ClockSkew" (per instance), latchkey extensions
 * that latchkey send-key and ssh print (docs/audit.md, "Clock skew").
 */
static void
inv_skew_warn(struct api_req *req, const struct inv_new *inv)
{
	json_t *warn = NULL, *skews = NULL;
	char text[256];
	int64_t skew;
	size_t i;

	for (i = 0; i < inv->n; i++) {
		if (!agentskew_get(inv->ids[i], &skew) ||
		    llabs(skew) <= AGENTSKEW_WARN_MS)
			continue;
		if (warn == NULL && ((warn = json_array()) == NULL ||
		    (skews = json_array()) == NULL))
			break;
		snprintf(text, sizeof(text), "the clock of %s is %lld s %s "
		    "latchkeyd's: the key may be refused as expired (or outlive "
		    "its %d s); set the server's time (NTP)", inv->ids[i],
		    (long long)llabs(skew / 1000), skew > 0 ? "ahead of" :
		    "behind", 60);
		json_array_append_new(warn, json_string(text));
		json_array_append_new(skews, json_pack("{s:s, s:I}",
		    "InstanceId", inv->ids[i], "SkewSeconds",
		    (json_int_t)(skew / 1000)));
		log_info("%s api invoke clock-skew instance=%s skew_ms=%lld",
		    req->request_id, inv->ids[i], (long long)skew);
	}
	if (warn != NULL)
		json_object_set_new(req->resp, "Warnings", warn);
	if (skews != NULL)
		json_object_set_new(req->resp, "ClockSkew", skews);
}

/* Validates everything, then writes one transaction and wakes the agents. */
static int
inv_create(struct api_req *req, struct inv_new *inv)
{
	struct store_inv_prior prior;
	struct audit_batch ab = { NULL, 0 };
	int r;

	if (inv_options(req, inv) != 0 || inv_parameters(req, inv) != 0 ||
	    inv_defaults(req, inv) != 0 || inv_patterns(req, inv) != 0 ||
	    inv_sendkey_policy(req, inv) != 0 || inv_targets(req, inv) != 0)
		return -1;
	if (lkd_random_id("t-", 32, INV_HEX, inv->invoke_id,
	    sizeof(inv->invoke_id)) != 0)
		return api_error(req, 500, "InternalError", "random");
	if (inv_scripts(req, inv) != 0)
		return -1;
	if ((inv->params_text = inv->params != NULL ? json_dumps(inv->params,
	    JSON_COMPACT | JSON_PRESERVE_ORDER) : strdup("{}")) == NULL)
		return inv_oom(req);
	inv_audit(req, inv, &ab);
	r = inv_store(req, inv, &ab, &prior);
	/* Written with the invocation, or not at all (a replay, an error). */
	req->audited = r == 0 && prior.id == NULL;
	audit_batch_end(&ab, req->audited);
	if (r != 0)
		return -1;
	if (prior.id != NULL) {
		r = inv_token_replay(req, inv, &prior);
		store_inv_prior_free(&prior);
		return r;
	}
	agentd_wake_many(inv->ids, inv->n);
	if (inv_is_sendkey(inv->cmd))
		metrics_push_start(inv->invoke_id, inv->n);
	log_info("%s api invoke invoke_id=%s command=%s instances=%zu",
	    req->request_id, inv->invoke_id, inv_str(inv->cmd, "id"), inv->n);
	if (inv->run)
		json_object_set_new(req->resp, "CommandId",
		    json_string(inv_str(inv->cmd, "id")));
	json_object_set_new(req->resp, "InvokeId", json_string(inv->invoke_id));
	if (inv_is_sendkey(inv->cmd))
		inv_skew_warn(req, inv);
	return 0;
}

int
api_invoke_command(struct api_req *req)
{
	struct inv_new inv;
	const char *id;
	int r;

	memset(&inv, 0, sizeof(inv));
	if (api_param_req(req, "CommandId", &id) != 0 ||
	    cmd_lookup(req, id, &inv.cmd) != 0)
		return -1;
	inv.stored = 1;
	r = inv_create(req, &inv);
	inv_new_free(&inv);
	return r;
}

/*
 * RunCommand: a new command, invoked at once. With KeepCommand=false (the
 * default) the command is not stored: the invocation keeps its own copy,
 * and the CommandId answered names only that copy, as with ECS, whose
 * temporary commands are gone once run.
 */
int
api_run_command(struct api_req *req)
{
	struct inv_new inv;
	int r = -1;

	memset(&inv, 0, sizeof(inv));
	if (cmd_from_request(req, 1, &inv.cmd) != 0 ||
	    api_param_bool(req, "KeepCommand", 0, &inv.keep) != 0)
		goto out;
	inv.run = 1;
	inv.stored = inv.keep;
	r = inv_create(req, &inv);
 out:
	inv_new_free(&inv);
	return r;
}

/* ------------------------------------------------------------------ */
/* Statuses                                                            */

/*
 * The task-level InvocationStatus of an invocation from the counts of its
 * tasks' stored statuses (docs/api.md).
 */
static const char *
inv_task_level(const size_t *c)
{
	size_t total = 0, bad, i;

	for (i = 0; i < INV_NSTATUS; i++)
		total += c[i];
	bad = c[INV_FAILED] + c[INV_TIMEOUT] + c[INV_ERROR];
	if (c[INV_STOPPING] > 0)
		return "Stopping";
	if (c[INV_RUNNING] > 0)
		return "Running";
	if (c[INV_PENDING] > 0)
		return c[INV_PENDING] == total ? "Pending" : "Running";
	if (c[INV_SUCCESS] == total)
		return "Success";
	if (bad == 0)
		return "Stopped";
	if (c[INV_SUCCESS] == 0)
		return "Failed";
	return "PartialFailed";
}

/* The deprecated InvokeStatus for a task-level status. */
static const char *
inv_invoke_status(const char *level)
{
	if (strcmp(level, "Success") == 0)
		return "Finished";
	if (strcmp(level, "Failed") == 0 || strcmp(level, "PartialFailed") ==
	    0 || strcmp(level, "Stopped") == 0)
		return level;
	return "Running";
}

/* What the API shows of one task. */
struct inv_view {
	const char	*status;	/* InvocationStatus */
	const char	*record;	/* InvokeRecordStatus */
	const char	*error_code;
	const char	*error_info;
	int		 repeats;
};

static void
inv_view(enum inv_status s, const char *ecode, int started,
    struct inv_view *v)
{
	size_t i;

	v->status = inv_status_names[s];
	v->record = "Failed";
	v->error_code = v->error_info = "";
	v->repeats = 0;
	switch (s) {
	case INV_PENDING:
	case INV_RUNNING:
		v->record = "Running";
		return;
	case INV_STOPPING:
		v->record = "Stopping";
		return;
	case INV_SUCCESS:
		v->record = "Finished";
		break;
	case INV_FAILED:
		v->error_code = ecode;
		if (*ecode == '\0' || strcmp(ecode, "ExitCodeNonzero") == 0) {
			v->record = "Finished";
			v->error_code = "ExitCodeNonzero";
		} else if (strcmp(ecode, "ClientNotRunning") == 0 ||
		    strcmp(ecode, "DeliveryTimeout") == 0)
			v->status = "Aborted";
		break;
	case INV_TIMEOUT:
		v->error_code = *ecode ? ecode : "ExecutionTimeout";
		break;
	case INV_STOPPED:
		v->record = "Stopped";
		v->status = started ? "Terminated" : "Cancelled";
		v->error_code = ecode;
		break;
	default:
		v->error_code = *ecode ? ecode : "ExecutionException";
		break;
	}
	v->repeats = started;
	for (i = 0; i < sizeof(inv_error_infos) / sizeof(inv_error_infos[0]);
	    i++)
		if (strcmp(v->error_code, inv_error_infos[i].code) == 0)
			v->error_info = inv_error_infos[i].info;
}

/* ------------------------------------------------------------------ */
/* Describing invocations and results                                  */

static int
inv_allowed(struct api_req *req, const char *id, const char *name)
{
	return keys_policy_instance(&req->policy, id, *name ? name : NULL);
}

static void
inv_task_view(const struct store_task *t, struct inv_view *v)
{
	inv_view(inv_status_parse(t->status), t->error_code, t->started, v);
}

/*
 * A task as an InvocationResult (result) or an InvokeInstance; Output only
 * when output is set.
 */
static json_t *
inv_task_json(const struct store_task *st, int result, int b64, int output)
{
	struct inv_view v;
	char t[5][32];
	json_t *out = NULL;
	const int64_t times[5] = { st->created, st->start_time,
	    st->finish_time, st->stop_time, st->updated };
	json_int_t exitc = st->exit_code;
	json_int_t dropped = st->dropped;
	int i;

	inv_task_view(st, &v);
	for (i = 0; i < 5; i++)
		lk_time_iso(times[i], t[i], sizeof(t[i]));
	if (output && (out = cmd_text(st->output, st->output_len, b64)) == NULL)
		return NULL;
	if (result)
		return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:I, s:s, "
		    "s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
		    "InvokeId", st->invoke_id, "CommandId", st->command_id,
		    "InstanceId", st->instance_id, "InvocationStatus", v.status,
		    "InvokeRecordStatus", v.record, "ExitCode", exitc,
		    "Output", out, "Dropped", dropped,
		    "ErrorCode", v.error_code, "ErrorInfo", v.error_info,
		    "Repeats", v.repeats, "StartTime", t[1],
		    "FinishedTime", t[2], "StopTime", t[3],
		    "Username", st->username, "ContainerId", "",
		    "ContainerName", "", "TerminationMode", "", "Launcher", "");
	return json_pack("{s:s, s:s, s:s, s:I, s:o*, s:I, s:s, s:s, s:i, s:s, "
	    "s:s, s:s, s:s, s:s, s:b}",
	    "InstanceId", st->instance_id, "InvocationStatus", v.status,
	    "InstanceInvokeStatus", v.record, "ExitCode", exitc,
	    "Output", out, "Dropped", dropped, "ErrorCode", v.error_code,
	    "ErrorInfo", v.error_info, "Repeats", v.repeats,
	    "CreationTime", t[0], "StartTime", t[1], "FinishTime", t[2],
	    "StopTime", t[3], "UpdateTime", t[4], "Timed", 0);
}

struct inv_results {
	struct api_req	*req;
	const char	*record;	/* InvokeRecordStatus filter */
	long long	 offset;
	long long	 size;
	long long	 total;
	int		 b64;
	json_t		*list;
};

static int
inv_results_cb(const struct store_task *st, void *arg)
{
	struct inv_results *x = arg;
	struct inv_view v;
	long long i;

	if (!inv_allowed(x->req, st->instance_id, st->instance_name))
		return 0;
	inv_task_view(st, &v);
	if (x->record != NULL && strcmp(x->record, v.record) != 0 &&
	    strcmp(x->record, v.status) != 0)
		return 0;
	i = x->total++;
	if (i < x->offset || i >= x->offset + x->size)
		return 0;
	if (json_array_append_new(x->list, inv_task_json(st, 1, x->b64,
	    1)) != 0)
		return LK_ERR_ALLOC;
	return 0;
}

/*
 * The caller's own tasks on instances its policy allows; an InstanceId the
 * policy forbids is refused rather than answered with nothing.
 */
int
api_describe_invocation_results(struct api_req *req)
{
	struct inv_results x;
	struct store_inv_query q;
	const char *inst = inv_nz(req, "InstanceId"), *owner;
	json_t *inv = NULL;
	int r = -1;

	memset(&x, 0, sizeof(x));
	x.req = req;
	x.record = inv_nz(req, "InvokeRecordStatus");
	if (cmd_encoding(req, 1, &x.b64) != 0 ||
	    cmd_pager_get(req, &x.offset, &x.size) != 0 ||
	    (inst != NULL && inst_check(req, inst, 0, NULL) != 0) ||
	    api_owner(req, "DescribeInvocations:all", &owner) != 0)
		return -1;
	if ((x.list = json_array()) == NULL || (inv = json_object()) == NULL) {
		inv_oom(req);
		goto out;
	}
	memset(&q, 0, sizeof(q));
	q.owner = owner;
	q.invoke_id = inv_nz(req, "InvokeId");
	q.instance_id = inst;
	q.command_id = inv_nz(req, "CommandId");
	if ((r = store_inv_results(&q, inv_results_cb, &x)) != 0) {
		r = api_store_error(req, r, "invocation results");
		goto out;
	}
	cmd_pager_put(inv, x.offset, x.size, x.total);
	json_object_set_new(inv, "InvocationResults", json_pack("{s:O}",
	    "InvocationResult", x.list));
	json_object_set_new(req->resp, "Invocation", inv);
	inv = NULL;
 out:
	json_decref(x.list);
	json_decref(inv);
	return r;
}

/* First pass of DescribeInvocations: which invocations, how many. */
struct inv_scan {
	struct api_req	*req;
	const char	*owner;		/* NULL: every owner's (api_owner) */
	const char	*status;	/* InvokeStatus filter */
	long long	 offset;
	long long	 size;
	long long	 total;
	char		 cur[64];	/* the invocation being counted */
	size_t		 counts[INV_NSTATUS];
	json_t		*ids;		/* the page's invocations */
};

static int
inv_scan_flush(struct inv_scan *x)
{
	const char *level;
	size_t n = 0, i;
	long long k;
	int r = 0;

	for (i = 0; i < INV_NSTATUS; i++)
		n += x->counts[i];
	if (x->cur[0] == '\0' || n == 0)
		goto reset;
	level = inv_task_level(x->counts);
	if (x->status != NULL && strcmp(x->status, level) != 0 &&
	    strcmp(x->status, inv_invoke_status(level)) != 0)
		goto reset;
	k = x->total++;
	if (k >= x->offset && k < x->offset + x->size &&
	    json_array_append_new(x->ids, json_string(x->cur)) != 0)
		r = LK_ERR_ALLOC;
 reset:
	memset(x->counts, 0, sizeof(x->counts));
	x->cur[0] = '\0';
	return r;
}

/* Tasks come grouped by invocation; a task counts if the policy allows. */
static int
inv_scan_cb(const struct store_task *st, void *arg)
{
	struct inv_scan *x = arg;
	int r;

	if (strcmp(st->invoke_id, x->cur) != 0) {
		if ((r = inv_scan_flush(x)) != 0)
			return r;
		snprintf(x->cur, sizeof(x->cur), "%s", st->invoke_id);
	}
	if (inv_allowed(x->req, st->instance_id, st->instance_name))
		x->counts[inv_status_parse(st->status)]++;
	return 0;
}

/* Second pass: one invocation with the tasks the policy allows. */
struct inv_one {
	struct api_req	*req;
	const char	*owner;		/* NULL: every owner's (api_owner) */
	json_t		*tasks;
	json_t		*out;		/* the Invocation list */
	size_t		 counts[INV_NSTATUS];
	int		 b64;
	int		 output;
};

static int
inv_one_task_cb(const struct store_task *st, void *arg)
{
	struct inv_one *x = arg;

	if (!inv_allowed(x->req, st->instance_id, st->instance_name))
		return 0;
	x->counts[inv_status_parse(st->status)]++;
	if (json_array_append_new(x->tasks, inv_task_json(st, 0, x->b64,
	    x->output)) != 0)
		return LK_ERR_ALLOC;
	return 0;
}

/* An invocation as an Invocation, with the tasks gathered before. */
static int
inv_one_json(struct inv_one *x, const struct store_inv *v)
{
	const char *level = inv_task_level(x->counts);
	json_t *content;
	char when[32];

	if ((content = cmd_text(v->content, strlen(v->content), x->b64)) ==
	    NULL)
		return LK_ERR_ALLOC;
	lk_time_iso(v->created, when, sizeof(when));
	if (json_array_append_new(x->out, json_pack("{s:s, s:s, s:s, s:s, "
	    "s:o, s:s, s:s, s:s, s:s, s:b, s:I, s:s, s:s, s:s, s:s, s:s, s:s, "
	    "s:s, s:s, s:s, s:{s:[]}, s:{s:O}}",
	    "InvokeId", v->id, "CommandId", v->command_id,
	    "CommandName", v->command_name, "CommandType", v->command_type,
	    "CommandContent", content,
	    "CommandDescription", v->command_description,
	    "Parameters", v->parameters, "RepeatMode", "Once",
	    "Frequency", "", "Timed", 0,
	    "Timeout", (json_int_t)v->timeout,
	    "Username", v->username, "WorkingDir", v->working_dir,
	    "CreationTime", when, "InvocationStatus", level,
	    "InvokeStatus", inv_invoke_status(level), "Launcher", "",
	    "TerminationMode", "", "ContainerId", "", "ContainerName", "",
	    "Tags", "Tag", "InvokeInstances", "InvokeInstance",
	    x->tasks)) != 0)
		return LK_ERR_ALLOC;
	/* With Owner (api_owner), whose each one is: a latchkey extension. */
	if (x->owner != x->req->key_id && json_object_set_new(json_array_get(
	    x->out, json_array_size(x->out) - 1), "Owner",
	    json_string(v->owner)) != 0)
		return LK_ERR_ALLOC;
	return 0;
}

/* One of the caller's invocations; one gone meanwhile is left out. */
static int
inv_describe_one(struct inv_one *x, const char *id)
{
	struct store_inv v;
	int r;

	memset(x->counts, 0, sizeof(x->counts));
	if ((r = store_inv_get(id, x->owner, &v)) == LK_ERR_NOT_FOUND)
		return 0;
	if (r != 0)
		return r;
	if ((x->tasks = json_array()) == NULL)
		r = LK_ERR_ALLOC;
	else if ((r = store_inv_tasks(id, inv_one_task_cb, x)) == 0)
		r = inv_one_json(x, &v);
	json_decref(x->tasks);
	x->tasks = NULL;
	store_inv_free(&v);
	return r;
}

/* Scans the matching invocations, then describes the page's ones. */
static int
inv_describe(struct api_req *req, struct inv_scan *s, struct inv_one *one)
{
	struct store_inv_query q;
	const char *inst = inv_nz(req, "InstanceId");
	json_t *id;
	size_t i;
	int r;

	if ((inst != NULL && inst_check(req, inst, 0, NULL) != 0) ||
	    api_owner(req, "DescribeInvocations:all", &s->owner) != 0)
		return -1;
	memset(&q, 0, sizeof(q));
	q.owner = s->owner;
	q.invoke_id = inv_nz(req, "InvokeId");
	q.command_id = inv_nz(req, "CommandId");
	q.command_name = inv_nz(req, "CommandName");
	q.command_type = inv_nz(req, "CommandType");
	q.instance_id = inst;
	if ((r = store_inv_scan(&q, inv_scan_cb, s)) != 0 ||
	    (r = inv_scan_flush(s)) != 0)
		return api_store_error(req, r, "invocations");
	one->owner = s->owner;
	json_array_foreach(s->ids, i, id)
		if ((r = inv_describe_one(one, json_string_value(id))) != 0)
			return api_store_error(req, r, "invocations");
	return 0;
}

int
api_describe_invocations(struct api_req *req)
{
	struct inv_scan s;
	struct inv_one one;
	int r = -1;

	memset(&s, 0, sizeof(s));
	memset(&one, 0, sizeof(one));
	s.req = one.req = req;
	s.status = inv_nz(req, "InvokeStatus");
	if (cmd_encoding(req, 1, &one.b64) != 0 ||
	    api_param_bool(req, "IncludeOutput", 0, &one.output) != 0 ||
	    cmd_pager_get(req, &s.offset, &s.size) != 0)
		return -1;
	if ((s.ids = json_array()) == NULL || (one.out = json_array()) ==
	    NULL) {
		inv_oom(req);
		goto out;
	}
	if (inv_describe(req, &s, &one) != 0)
		goto out;
	cmd_pager_put(req->resp, s.offset, s.size, s.total);
	json_object_set_new(req->resp, "Invocations", json_pack("{s:O}",
	    "Invocation", one.out));
	r = 0;
 out:
	json_decref(s.ids);
	json_decref(one.out);
	return r;
}

/* ------------------------------------------------------------------ */
/* Stopping                                                            */

static int
inv_stop_cb(const struct store_task *st, void *arg)
{
	if (json_object_set_new(arg, st->instance_id,
	    json_string(st->instance_name)) != 0)
		return LK_ERR_ALLOC;
	return 0;
}

/*
 * The instances StopInvocation names (all of the invocation's when none),
 * as id -> name; each must be part of it and allowed by the policy.
 */
static int
inv_stop_targets(struct api_req *req, const char *id, json_t *all,
    json_t *sel)
{
	struct store_inv v;
	const char **ids = NULL, *key;
	json_t *name;
	size_t n, i;
	int r;

	if (api_param_list(req, "InstanceId", INV_STOP_MAX, &ids, &n) != 0)
		return -1;
	if ((r = store_inv_get(id, req->key_id, &v)) == 0) {
		store_inv_free(&v);
		r = store_inv_tasks(id, inv_stop_cb, all);
	}
	if (r != 0 && r != LK_ERR_NOT_FOUND) {
		r = api_store_error(req, r, "invocation");
		goto out;
	}
	r = -1;
	if (json_object_size(all) == 0) {
		api_error(req, 404, "InvalidInvokeId.NotFound", "The specified "
		    "invoke ID does not exist.");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((name = json_object_get(all, ids[i])) == NULL) {
			api_error(req, 404, "InvalidInstanceId.NotFound", "The "
			    "specified instance is not part of the invocation.");
			goto out;
		}
		json_object_set(sel, ids[i], name);
	}
	if (n == 0)
		json_object_update(sel, all);
	json_object_foreach(sel, key, name)
		if (!api_allowed_instance(req, key, *json_string_value(name) ?
		    json_string_value(name) : NULL))
			goto out;
	r = 0;
 out:
	free(ids);
	return r;
}

/*
 * Pending tasks become Stopped at once; Running ones Stopping, and their
 * agents are told at their next poll, which the wake-up makes immediate.
 * Finished tasks are left as they are.
 */
int
api_stop_invocation(struct api_req *req)
{
	const char *id, *key, **keys = NULL;
	json_t *all = json_object(), *sel = json_object(), *name;
	size_t n = 0;
	int r = -1;

	if (all == NULL || sel == NULL) {
		inv_oom(req);
		goto out;
	}
	if (api_param_req(req, "InvokeId", &id) != 0 ||
	    inv_stop_targets(req, id, all, sel) != 0)
		goto out;
	if ((keys = calloc(json_object_size(sel) + 1, sizeof(*keys))) ==
	    NULL) {
		inv_oom(req);
		goto out;
	}
	json_object_foreach(sel, key, name)
		keys[n++] = key;
	if ((r = store_inv_stop(id, keys, n, lkd_now())) != 0) {
		r = api_store_error(req, r, "invocation");
		goto out;
	}
	agentd_wake_many(keys, n);
	log_info("%s api stop invoke_id=%s instances=%zu", req->request_id,
	    id, json_object_size(sel));
 out:
	free(keys);
	json_decref(all);
	json_decref(sel);
	return r;
}
