/*
 * Commands: DescribeCommands, CreateCommand, ModifyCommand and
 * DeleteCommand, the built-in public commands, and the helpers that
 * api_inv.c and api_inst.c share with this file (paging, content
 * encodings, command records).
 *
 * A command record handed between files is a JSON object with the keys of
 * the commands table: "id", "name", "type", "description", "content" (plain
 * text), "working_dir", "timeout" (integer), "enable_parameter" (boolean),
 * "params" (array of ParameterDefinition objects), "provider" (string, or
 * null for a private command) and "owner" (string or null). Its strings are
 * valid UTF-8 without NUL bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "api.h"
#include "api_int.h"
#include "b64.h"
#include "err.h"
#include "log.h"
#include "store.h"
#include "subst.h"
#include "util.h"

#define CMD_NAME_MAX		128		/* characters */
#define CMD_DESC_MAX		512		/* characters */
#define CMD_CONTENT_B64_MAX	(24 * 1024)	/* bytes, Base64-encoded */
#define CMD_WORKDIR_MAX		4096		/* bytes */
#define CMD_TIMEOUT_DEFAULT	60
#define CMD_TIMEOUT_MIN		10
#define CMD_TIMEOUT_MAX		86400
#define CMD_PAGE_SIZE		10		/* PageSize, MaxResults */
#define CMD_PAGE_SIZE_MAX	50
#define CMD_PAGE_MAX		1000000		/* PageNumber */
#define CMD_TOKEN_MAX		1000000000LL	/* largest NextToken offset */
#define CMD_RUN_NAME		"RunCommand"	/* RunCommand without Name */
#define CMD_PUBLIC_PROVIDER	"AlibabaCloud"
#define CMD_PUBLIC_CATEGORY	"Linux"
#define CMD_PUBLIC_CREATED	1735689600	/* 2025-01-01T00:00:00Z */
#define CMD_ALNUM		"abcdefghijklmnopqrstuvwxyz0123456789"


struct cmd_seed {
	const char	*name;
	const char	*description;
	int		 timeout;
	const char	*params;	/* JSON array of definitions */
	const char	*content;
};

/*
 * The public commands (provider AlibabaCloud), installed at start-up with
 * the id "cmd-" + name. Parameter values reach the script only through
 * lib/subst.c, which quotes them for the shell.
 */
static const struct cmd_seed cmd_seeds[] = {
	{ "ACS-ECS-SendSshPublicKey-linux.sh",
	  "Sends an SSH public key to the instance; sshd accepts it for 60 "
	  "seconds.", 60,
	  "[{\"ParameterName\":\"username\",\"Description\":\"The user the "
	  "key logs in as.\",\"DefaultValue\":\"root\",\"PatternRegex\":"
	  "\"^[A-Za-z0-9._][A-Za-z0-9._-]{0,31}$\",\"Required\":false},"
	  "{\"ParameterName\":\"sshPublicKey\",\"Description\":\"The public "
	  "key, one line in OpenSSH format.\",\"Required\":true}]",
	  "#!/bin/sh\n"
	  "# Sends an SSH public key to this instance; sshd accepts it for 60 "
	  "seconds.\n"
	  "if ! command -v send_ssh_public_key >/dev/null 2>&1; then\n"
	  "    echo \"config_ecs_instance_connect is not installed; install it "
	  "with: acs-plugin-manager -e -P config_ecs_instance_connect --params "
	  "--install\" >&2\n"
	  "    exit 3\n"
	  "fi\n"
	  "exec send_ssh_public_key --username {{username}} --ssh-public-key "
	  "{{sshPublicKey}}\n" },
	{ "ACS-ECS-InstallPlugin-linux.sh",
	  "Installs or updates a Cloud Assistant plug-in with "
	  "acs-plugin-manager.", 300,
	  "[{\"ParameterName\":\"pluginName\",\"Description\":\"The plug-in "
	  "to install.\",\"DefaultValue\":\"config_ecs_instance_connect\","
	  "\"PatternRegex\":\"^[a-z0-9_]{1,64}$\",\"Required\":false}]",
	  "#!/bin/sh\n"
	  "# Installs or updates a Cloud Assistant plug-in.\n"
	  "exec acs-plugin-manager -e -P {{pluginName}} --params --install\n" },
	{ "ACS-ECS-ListPlugins-linux.sh",
	  "Lists the Cloud Assistant plug-ins installed on the instance.", 60,
	  "[]",
	  "#!/bin/sh\n"
	  "# Lists the installed Cloud Assistant plug-ins.\n"
	  "exec acs-plugin-manager -l\n" },
};

/* A paging number in [1, max], refused with the documented code. */
static int
cmd_page_param(struct api_req *req, const char *name, long long max,
    long long *vp)
{
	const char *v = api_param(req, name);

	if (v == NULL || *v == '\0')
		return 0;
	if (lk_parse_ll(v, 1, max, vp) != 0)
		return api_error(req, 403, !strcmp(name, "PageSize") ?
		    "InvalidParam.PageSize" : "InvalidParam.PageNumber", "The "
		    "specified parameter \"%s\" is not valid (1 to %lld).",
		    name, max);
	return 0;
}

/*
 * Paging: PageNumber (from 1) and PageSize (default 10, at most 50); or,
 * when MaxResults or NextToken is given, MaxResults (the same bounds) from
 * the offset NextToken holds.
 */
int
cmd_pager_get(struct api_req *req, long long *offsetp, long long *sizep)
{
	const char *tok = api_param(req, "NextToken");
	const char *max = api_param(req, "MaxResults");
	long long page = 1;

	*offsetp = 0;
	*sizep = CMD_PAGE_SIZE;
	if ((tok == NULL || *tok == '\0') && (max == NULL || *max == '\0')) {
		if (cmd_page_param(req, "PageNumber", CMD_PAGE_MAX, &page) != 0 ||
		    cmd_page_param(req, "PageSize", CMD_PAGE_SIZE_MAX,
		    sizep) != 0)
			return -1;
		*offsetp = (page - 1) * *sizep;
		return 0;
	}
	if (api_param_int(req, "MaxResults", CMD_PAGE_SIZE, 1,
	    CMD_PAGE_SIZE_MAX, sizep) != 0)
		return -1;
	/* The token is an offset; clients treat it as opaque. */
	if (tok != NULL && *tok != '\0' &&
	    lk_parse_ll(tok, 0, CMD_TOKEN_MAX, offsetp) != 0)
		return api_error(req, 400, "InvalidParam.NextToken",
		    "The specified parameter \"NextToken\" is not valid.");
	return 0;
}

/* TotalCount, PageNumber, PageSize and NextToken ("" on the last page). */
void
cmd_pager_put(json_t *obj, long long offset, long long size, long long total)
{
	char tok[32] = "";

	if (offset + size < total)
		snprintf(tok, sizeof(tok), "%lld", offset + size);
	json_object_set_new(obj, "TotalCount", json_integer(total));
	json_object_set_new(obj, "PageNumber", json_integer(offset / size + 1));
	json_object_set_new(obj, "PageSize", json_integer(size));
	json_object_set_new(obj, "NextToken", json_string(tok));
}

/* ContentEncoding: PlainText or Base64 (any case); *b64p = 1 for Base64. */
int
cmd_encoding(struct api_req *req, int b64_default, int *b64p)
{
	const char *v = api_param(req, "ContentEncoding");

	*b64p = b64_default;
	if (v == NULL || *v == '\0')
		return 0;
	if (strcasecmp(v, "Base64") == 0)
		*b64p = 1;
	else if (strcasecmp(v, "PlainText") == 0)
		*b64p = 0;
	else
		return api_error(req, 400, "InvalidParameter", "The specified "
		    "parameter \"ContentEncoding\" is not valid (PlainText or "
		    "Base64).");
	return 0;
}

/* The length of the well-formed UTF-8 sequence at p (RFC 3629), or 0. */
static size_t
cmd_utf8_seq(const unsigned char *p, size_t len)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len < n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

int
cmd_utf8_valid(const void *s, size_t len)
{
	const unsigned char *p = s;
	size_t i = 0, n;

	while (i < len) {
		if ((n = cmd_utf8_seq(p + i, len - i)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

/* Characters (code points) of a valid UTF-8 string. */
static size_t
cmd_utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/*
 * len bytes as a JSON string: Base64, or the text itself with every byte
 * that is not part of well-formed UTF-8 replaced by U+FFFD. NULL when out
 * of memory.
 */
json_t *
cmd_text(const void *p, size_t len, int b64)
{
	const unsigned char *s = p;
	json_t *v;
	char *out;
	size_t i = 0, o = 0, n;

	if (b64) {
		if ((out = lk_b64_encode(s, len, 1)) == NULL)
			return NULL;
		v = json_string(out);
		free(out);
		return v;
	}
	if (len > (SIZE_MAX - 1) / 3 || (out = malloc(len * 3 + 1)) == NULL)
		return NULL;
	while (i < len) {
		if ((n = cmd_utf8_seq(s + i, len - i)) == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	v = json_stringn(out, o);
	free(out);
	return v;
}

/* Text without control characters, valid UTF-8, at most max characters. */
static int
cmd_text_ok(const char *s, size_t max)
{
	const char *p;

	if (!cmd_utf8_valid(s, strlen(s)) || cmd_utf8_chars(s) > max)
		return 0;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

int
cmd_check_workdir(struct api_req *req, const char *type, const char *wd)
{
	if (strlen(wd) > CMD_WORKDIR_MAX || !cmd_text_ok(wd, CMD_WORKDIR_MAX) ||
	    (strcmp(type, "RunShellScript") == 0 && *wd != '\0' &&
	    *wd != '/'))
		return api_error(req, 400, "InvalidParameter.WorkingDir",
		    "The specified parameter \"WorkingDir\" is not valid (an "
		    "absolute path of at most %d bytes).", CMD_WORKDIR_MAX);
	return 0;
}

static int
cmd_check_type(struct api_req *req, const char *type)
{
	if (strcmp(type, "RunShellScript") == 0 ||
	    strcmp(type, "RunBatScript") == 0 ||
	    strcmp(type, "RunPowerShellScript") == 0)
		return 0;
	return api_error(req, 403, "InvalidCmdType.NotFound", "The specified "
	    "command type does not exist (RunShellScript, RunBatScript or "
	    "RunPowerShellScript).");
}

static int
cmd_check_name(struct api_req *req, const char *name)
{
	if (!cmd_utf8_valid(name, strlen(name)))
		return api_error(req, 400, "InvalidParameter.Name", "The "
		    "specified parameter \"Name\" is not valid UTF-8.");
	if (cmd_utf8_chars(name) > CMD_NAME_MAX || !cmd_text_ok(name,
	    CMD_NAME_MAX))
		return api_error(req, 403, "CmdName.ExceedLimit", "The command "
		    "name exceeds %d characters or holds control characters.",
		    CMD_NAME_MAX);
	return 0;
}

static int
cmd_check_desc(struct api_req *req, const char *desc)
{
	if (!cmd_utf8_valid(desc, strlen(desc)))
		return api_error(req, 400, "InvalidParameter.Description",
		    "The specified parameter \"Description\" is not valid "
		    "UTF-8.");
	if (cmd_utf8_chars(desc) > CMD_DESC_MAX)
		return api_error(req, 403, "CmdDesc.ExceedLimit", "The command "
		    "description exceeds %d characters.", CMD_DESC_MAX);
	return 0;
}

/* Base64 length of n bytes. */
static size_t
cmd_b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

/* CommandContent decoded per encoding into *contentp (a new string). */
static int
cmd_content(struct api_req *req, const char *v, int b64, char **contentp)
{
	unsigned char *dec = NULL;
	size_t n = strlen(v);
	int r;

	*contentp = NULL;
	if ((b64 ? n : cmd_b64_len(n)) > CMD_CONTENT_B64_MAX)
		return api_error(req, 403, "CmdContent.ExceedLimit", "The "
		    "command content exceeds %d bytes after Base64 encoding.",
		    CMD_CONTENT_B64_MAX);
	if (!b64) {
		if ((*contentp = strdup(v)) == NULL)
			return api_error(req, 500, "InternalError",
			    "out of memory");
	} else if ((r = lk_b64_decode(v, n, CMD_CONTENT_B64_MAX, &dec,
	    &n)) != 0) {
		if (r == LK_ERR_ALLOC)
			return api_error(req, 500, "InternalError",
			    "out of memory");
		return api_error(req, 400, "InvalidParameter.CommandContent",
		    "The specified parameter \"CommandContent\" is not valid "
		    "Base64.");
	} else {
		dec[n] = '\0';	/* lk_b64_decode leaves room for it */
		*contentp = (char *)dec;
	}
	if (memchr(*contentp, '\0', n) != NULL ||
	    !cmd_utf8_valid(*contentp, n)) {
		free(*contentp);
		*contentp = NULL;
		return api_error(req, 400, "InvalidParameter.CommandContent",
		    "The command content must be UTF-8 text without NUL "
		    "bytes.");
	}
	return 0;
}

/* The status of each error code of the parameter scanner (reference §5). */
static int
cmd_subst_status(const char *code)
{
	if (code != NULL && (strncmp(code, "CmdParam", 8) == 0 ||
	    strstr(code, "ExceedLimit") != NULL))
		return 403;
	return 400;
}

/* The parameter definitions {"ParameterName": n} found in content. */
static int
cmd_scan(struct api_req *req, const char *content, json_t **defsp)
{
	const char *code = NULL;
	char **names = NULL, why[256];
	size_t n = 0, i;
	json_t *defs = NULL;
	int r;

	*defsp = NULL;
	if ((r = lk_subst_scan(content, &names, &n, &code)) != 0) {
		if (r == LK_ERR_ALLOC || code == NULL)
			return api_error(req, 500, "InternalError",
			    "out of memory");
		lk_subst_explain(content, why, sizeof(why));
		return api_error(req, cmd_subst_status(code), code, "The "
		    "parameters of the command content are not valid: %s",
		    *why != '\0' ? why : code);
	}
	r = -1;
	if ((defs = json_array()) == NULL)
		goto oom;
	for (i = 0; i < n; i++)
		if (json_array_append_new(defs, json_pack("{s:s}",
		    "ParameterName", names[i])) != 0)
			goto oom;
	*defsp = defs;
	defs = NULL;
	r = 0;
	goto out;
 oom:
	api_error(req, 500, "InternalError", "out of memory");
 out:
	lk_subst_names_free(names, n);
	json_decref(defs);
	return r;
}

/* Name, Type, Description, WorkingDir with RunCommand's defaults. */
static int
cmd_request_meta(struct api_req *req, int runcmd, const char **namep,
    const char **typep, const char **descp, const char **wdp)
{
	if (api_param_req(req, "Type", typep) != 0)
		return -1;
	*namep = api_param(req, "Name");
	if (runcmd && (*namep == NULL || **namep == '\0'))
		*namep = CMD_RUN_NAME;
	else if (api_param_req(req, "Name", namep) != 0)
		return -1;
	if ((*descp = api_param(req, "Description")) == NULL)
		*descp = "";
	if ((*wdp = api_param(req, "WorkingDir")) == NULL)
		*wdp = "";
	if (cmd_check_name(req, *namep) != 0 || cmd_check_type(req,
	    *typep) != 0 || cmd_check_desc(req, *descp) != 0 ||
	    cmd_check_workdir(req, *typep, *wdp) != 0)
		return -1;
	return 0;
}

/*
 * A new private command record from CreateCommand's parameters, or
 * RunCommand's (runcmd: Name optional, CommandContent in plain text by
 * default, any Timeout from 1 s since the official Instance Connect
 * plug-in installs itself with Timeout=5). The id is new; nothing is
 * stored.
 */
int
cmd_from_request(struct api_req *req, int runcmd, json_t **cmdp)
{
	const char *name, *type, *desc, *wd, *raw;
	char *content = NULL, id[40];
	json_t *defs = NULL;
	long long timeout;
	int b64, enable, r = -1;

	*cmdp = NULL;
	if (cmd_request_meta(req, runcmd, &name, &type, &desc, &wd) != 0 ||
	    api_param_req(req, "CommandContent", &raw) != 0 ||
	    cmd_encoding(req, !runcmd, &b64) != 0 ||
	    api_param_int(req, "Timeout", CMD_TIMEOUT_DEFAULT, runcmd ? 1 :
	    CMD_TIMEOUT_MIN, CMD_TIMEOUT_MAX, &timeout) != 0 ||
	    api_param_bool(req, "EnableParameter", 0, &enable) != 0 ||
	    cmd_content(req, raw, b64, &content) != 0)
		goto out;
	if (enable && cmd_scan(req, content, &defs) != 0)
		goto out;
	if ((defs == NULL && (defs = json_array()) == NULL) ||
	    lkd_random_id("c-", 30, CMD_ALNUM, id, sizeof(id)) != 0 ||
	    (*cmdp = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:b, "
	    "s:O, s:n, s:s}", "id", id, "name", name, "type", type,
	    "description", desc, "content", content, "working_dir", wd,
	    "timeout", (json_int_t)timeout, "enable_parameter", enable,
	    "params", defs, "provider", "owner", req->key_id)) == NULL) {
		api_error(req, 500, "InternalError", "out of memory");
		goto out;
	}
	r = 0;
 out:
	free(content);
	json_decref(defs);
	return r;
}

static const char *
cmd_str(json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));

	return s != NULL ? s : "";
}

/*
 * A record from cmd_from_request() as a store_cmd, its strings copied
 * (store_cmd_free frees them). 0 or LK_ERR_ALLOC.
 */
int
cmd_to_store(json_t *rec, struct store_cmd *cmd)
{
	const char *keys[] = { "id", "name", "type", "description", "content",
	    "working_dir" };
	char **strs[] = { &cmd->id, &cmd->name, &cmd->type, &cmd->description,
	    &cmd->content, &cmd->working_dir };
	const char *provider = json_string_value(json_object_get(rec,
	    "provider"));
	const char *owner = json_string_value(json_object_get(rec, "owner"));
	size_t i;

	memset(cmd, 0, sizeof(*cmd));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if ((*strs[i] = strdup(cmd_str(rec, keys[i]))) == NULL)
			goto fail;
	cmd->timeout = json_integer_value(json_object_get(rec, "timeout"));
	cmd->enable_parameter = json_is_true(json_object_get(rec,
	    "enable_parameter"));
	if ((cmd->params = json_dumps(json_object_get(rec, "params"),
	    JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL ||
	    (provider != NULL && (cmd->provider = strdup(provider)) == NULL) ||
	    (owner != NULL && (cmd->owner = strdup(owner)) == NULL))
		goto fail;
	return 0;
 fail:
	store_cmd_free(cmd);
	return LK_ERR_ALLOC;
}

/* The answer to a failed store operation that stores a command. */
int
cmd_store_error(struct api_req *req, int r, const char *what)
{
	if (r == LK_ERR_RANGE)
		return api_error(req, 403, "CmdCount.ExceedQuota", "The number "
		    "of commands of this access key reached the quota (%d).",
		    CMD_QUOTA);
	return api_store_error(req, r, what);
}

/* A stored command as a record; NULL when out of memory. */
static json_t *
cmd_record(const struct store_cmd *c)
{
	json_t *defs;

	if ((defs = json_loads(c->params ? c->params : "[]", 0, NULL)) ==
	    NULL || !json_is_array(defs)) {
		json_decref(defs);
		defs = json_array();
	}
	return json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:b, s:o, "
	    "s:s?, s:s?}",
	    "id", c->id,
	    "name", c->name,
	    "type", c->type,
	    "description", c->description,
	    "content", c->content,
	    "working_dir", c->working_dir,
	    "timeout", (json_int_t)c->timeout,
	    "enable_parameter", c->enable_parameter != 0,
	    "params", defs,
	    "provider", c->provider,
	    "owner", c->owner);
}

/*
 * The command an invocation names: a public command or one of the
 * caller's by id, else the latest version of the public command with that
 * name. Others' private commands do not exist for the caller.
 */
int
cmd_lookup(struct api_req *req, const char *id, json_t **cmdp)
{
	struct store_cmd c;
	int r;

	*cmdp = NULL;
	if ((r = store_cmd_get(id, req->key_id, &c)) == LK_ERR_NOT_FOUND)
		r = store_cmd_get_public(id, &c);
	if (r == LK_ERR_NOT_FOUND)
		return api_error(req, 404, "InvalidCmdId.NotFound",
		    "The specified command ID does not exist.");
	if (r != 0)
		return api_store_error(req, r, "command");
	*cmdp = cmd_record(&c);
	store_cmd_free(&c);
	if (*cmdp == NULL)
		return api_error(req, 500, "InternalError", "out of memory");
	return 0;
}

/* One of the caller's own commands; public ones are Operation.Forbidden. */
static int
cmd_lookup_own(struct api_req *req, json_t **cmdp)
{
	struct store_cmd c;
	const char *id;
	int r;

	*cmdp = NULL;
	if (api_param_req(req, "CommandId", &id) != 0)
		return -1;
	if ((r = store_cmd_get(id, req->key_id, &c)) == LK_ERR_NOT_FOUND)
		return api_error(req, 404, "InvalidCmdId.NotFound",
		    "The specified command ID does not exist.");
	if (r != 0)
		return api_store_error(req, r, "command");
	if (c.provider != NULL) {
		store_cmd_free(&c);
		return api_error(req, 403, "Operation.Forbidden", "Public "
		    "commands cannot be modified or deleted.");
	}
	*cmdp = cmd_record(&c);
	store_cmd_free(&c);
	if (*cmdp == NULL)
		return api_error(req, 500, "InternalError", "out of memory");
	return 0;
}

/* ParameterNames and ParameterDefinitions of a stored params array. */
static int
cmd_params_json(json_t *defs, json_t **namesp, json_t **outp)
{
	json_t *names = json_array(), *out = json_array(), *d, *pv, *reqd;
	const char *dv;
	size_t i;

	*namesp = *outp = NULL;
	if (names == NULL || out == NULL)
		goto fail;
	json_array_foreach(defs, i, d) {
		dv = json_string_value(json_object_get(d, "DefaultValue"));
		reqd = json_object_get(d, "Required");
		pv = json_object_get(d, "PossibleValues");
		pv = json_is_array(pv) ? json_incref(pv) : json_array();
		if (json_array_append_new(names, json_string(cmd_str(d,
		    "ParameterName"))) != 0 ||
		    json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, "
		    "s:b, s:{s:o}}", "ParameterName", cmd_str(d,
		    "ParameterName"), "Description", cmd_str(d, "Description"),
		    "DefaultValue", dv ? dv : "", "PatternRegex", cmd_str(d,
		    "PatternRegex"), "Required", json_is_boolean(reqd) ?
		    json_is_true(reqd) : dv == NULL, "PossibleValues",
		    "PossibleValue", pv)) != 0)
			goto fail;
	}
	*namesp = names;
	*outp = out;
	return 0;
 fail:
	json_decref(names);
	json_decref(out);
	return -1;
}

/* A stored command as a DescribeCommands Command object. */
static json_t *
cmd_json(const struct store_cmd *c, int b64)
{
	json_t *rec, *names = NULL, *defs = NULL, *content, *v = NULL;
	char when[32];

	if ((rec = cmd_record(c)) == NULL)
		return NULL;
	if (cmd_params_json(json_object_get(rec, "params"), &names,
	    &defs) != 0 || (content = cmd_text(cmd_str(rec, "content"),
	    strlen(cmd_str(rec, "content")), b64)) == NULL) {
		json_decref(names);
		json_decref(defs);
		goto out;
	}
	lk_time_iso(c->created, when, sizeof(when));
	v = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:I, s:b, s:{s:o}, "
	    "s:{s:o}, s:s, s:I, s:s, s:s, s:I, s:b, s:s, s:s, s:{s:o}}",
	    "CommandId", cmd_str(rec, "id"), "Name", cmd_str(rec, "name"),
	    "Type", cmd_str(rec, "type"),
	    "Description", cmd_str(rec, "description"),
	    "CommandContent", content,
	    "WorkingDir", cmd_str(rec, "working_dir"),
	    "Timeout", json_integer_value(json_object_get(rec, "timeout")),
	    "EnableParameter", json_is_true(json_object_get(rec,
	    "enable_parameter")),
	    "ParameterNames", "ParameterName", names,
	    "ParameterDefinitions", "ParameterDefinition", defs,
	    "CreationTime", when,
	    "InvokeTimes", (json_int_t)c->invoke_times,
	    "Provider", c->provider ? c->provider : "",
	    "Category", c->category ? c->category : "",
	    "Version", (json_int_t)c->version,
	    "Latest", c->latest != 0,
	    "Launcher", "", "ResourceGroupId", "", "Tags", "Tag",
	    c->owner != NULL ? tag_json(STORE_TAG_COMMAND, c->id) :
	    json_array());
 out:
	json_decref(rec);
	return v;
}

/* An absent or empty parameter as NULL. */
static const char *
cmd_param_nz(struct api_req *req, const char *name)
{
	const char *v = api_param(req, name);

	return v != NULL && *v != '\0' ? v : NULL;
}

int
api_describe_commands(struct api_req *req)
{
	struct store_tag tags[STORE_TAG_MAX];
	struct store_cmd_query q;
	struct store_cmd_list l = { NULL, 0 };
	json_t *list = NULL;
	long long off, size, k = 0;
	int64_t total = 0;
	size_t i, ntags;
	int b64, latest, r = -1, m;

	if (cmd_encoding(req, 1, &b64) != 0 ||
	    api_param_bool(req, "Latest", 0, &latest) != 0 ||
	    cmd_pager_get(req, &off, &size) != 0 ||
	    tag_filter_get(req, tags, &ntags) != 0)
		return -1;
	memset(&q, 0, sizeof(q));
	q.id = cmd_param_nz(req, "CommandId");
	q.provider = cmd_param_nz(req, "Provider");
	q.owner = req->key_id;
	q.name = cmd_param_nz(req, "Name");
	q.type = cmd_param_nz(req, "Type");
	q.latest = latest;
	q.offset = off;
	q.limit = size;
	if (ntags > 0) {
		/* The tags filter here: every candidate, then the page. */
		q.offset = 0;
		q.limit = CMD_TAG_SCAN_MAX;
	}
	if ((r = store_cmd_describe(&q, &l, &total)) != 0) {
		r = api_store_error(req, r, "commands");
		goto out;
	}
	r = -1;
	if ((list = json_array()) == NULL) {
		api_error(req, 500, "InternalError", "out of memory");
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		if (ntags > 0) {
			/* A public command has no tags: never a match. */
			m = l.v[i].owner == NULL ? 0 : store_tag_match(
			    STORE_TAG_COMMAND, l.v[i].id, tags, ntags);
			if (m < 0) {
				r = api_store_error(req, m, "tags");
				goto out;
			}
			if (m == 0 || k++ < off || k > off + size)
				continue;
		}
		if (json_array_append_new(list, cmd_json(&l.v[i], b64)) != 0) {
			api_error(req, 500, "InternalError", "out of memory");
			goto out;
		}
	}
	cmd_pager_put(req->resp, off, size, ntags > 0 ? k : total);
	json_object_set_new(req->resp, "Commands", json_pack("{s:O}",
	    "Command", list));
	r = 0;
 out:
	json_decref(list);
	store_cmd_list_free(&l);
	return r;
}

int
api_create_command(struct api_req *req)
{
	struct store_cmd c;
	json_t *cmd = NULL;
	int r = -1;

	if (cmd_from_request(req, 0, &cmd) != 0)
		return -1;
	if (cmd_to_store(cmd, &c) != 0) {
		api_error(req, 500, "InternalError", "out of memory");
		goto out;
	}
	r = store_cmd_create(&c, CMD_QUOTA);
	store_cmd_free(&c);
	if (r != 0) {
		r = cmd_store_error(req, r, "command");
		goto out;
	}
	json_object_set_new(req->resp, "CommandId",
	    json_string(cmd_str(cmd, "id")));
 out:
	json_decref(cmd);
	return r;
}

/* The new content of ModifyCommand, with its parameters rescanned. */
static int
cmd_modify_content(struct api_req *req, json_t *cmd, const char *v)
{
	char *content = NULL;
	json_t *defs = NULL;
	int b64, r = -1;

	if (cmd_encoding(req, 1, &b64) != 0 ||
	    cmd_content(req, v, b64, &content) != 0)
		goto out;
	if (json_is_true(json_object_get(cmd, "enable_parameter")) &&
	    cmd_scan(req, content, &defs) != 0)
		goto out;
	if (json_object_set_new(cmd, "content", json_string(content)) != 0 ||
	    (defs != NULL && json_object_set(cmd, "params", defs) != 0)) {
		api_error(req, 500, "InternalError", "out of memory");
		goto out;
	}
	r = 0;
 out:
	free(content);
	json_decref(defs);
	return r;
}

/* Applies the parameters ModifyCommand was given to the record. */
static int
cmd_modify_fields(struct api_req *req, json_t *cmd)
{
	const char *v;
	long long timeout;

	if ((v = cmd_param_nz(req, "Name")) != NULL && (cmd_check_name(req,
	    v) != 0 || json_object_set_new(cmd, "name", json_string(v)) != 0))
		return -1;
	if ((v = api_param(req, "Description")) != NULL &&
	    (cmd_check_desc(req, v) != 0 || json_object_set_new(cmd,
	    "description", json_string(v)) != 0))
		return -1;
	if ((v = api_param(req, "WorkingDir")) != NULL &&
	    (cmd_check_workdir(req, cmd_str(cmd, "type"), v) != 0 ||
	    json_object_set_new(cmd, "working_dir", json_string(v)) != 0))
		return -1;
	if (cmd_param_nz(req, "Timeout") != NULL &&
	    (api_param_int(req, "Timeout", CMD_TIMEOUT_DEFAULT,
	    CMD_TIMEOUT_MIN, CMD_TIMEOUT_MAX, &timeout) != 0 ||
	    json_object_set_new(cmd, "timeout", json_integer(timeout)) != 0))
		return -1;
	if ((v = cmd_param_nz(req, "CommandContent")) != NULL &&
	    cmd_modify_content(req, cmd, v) != 0)
		return -1;
	return 0;
}

int
api_modify_command(struct api_req *req)
{
	struct store_cmd c;
	json_t *cmd = NULL;
	int r = -1;

	memset(&c, 0, sizeof(c));
	if (cmd_lookup_own(req, &cmd) != 0 || cmd_modify_fields(req, cmd) != 0)
		goto out;
	if (cmd_to_store(cmd, &c) != 0) {
		api_error(req, 500, "InternalError", "out of memory");
		goto out;
	}
	free(c.owner);
	if ((c.owner = strdup(req->key_id)) == NULL) {
		api_error(req, 500, "InternalError", "out of memory");
		goto out;
	}
	if ((r = store_cmd_modify(&c)) == LK_ERR_NOT_FOUND)
		r = api_error(req, 404, "InvalidCmdId.NotFound",
		    "The specified command ID does not exist.");
	else if (r != 0)
		r = api_store_error(req, r, "command");
 out:
	store_cmd_free(&c);
	json_decref(cmd);
	return r;
}

int
api_delete_command(struct api_req *req)
{
	json_t *cmd = NULL;
	int r = -1;

	if (cmd_lookup_own(req, &cmd) != 0)
		goto out;
	if ((r = store_cmd_delete(cmd_str(cmd, "id"), req->key_id)) ==
	    LK_ERR_NOT_FOUND)
		r = api_error(req, 404, "InvalidCmdId.NotFound",
		    "The specified command ID does not exist.");
	else if (r != 0)
		r = api_store_error(req, r, "command");
 out:
	json_decref(cmd);
	return r;
}

/* The placeholders of a seed's content must be its parameters, no more. */
static int
cmd_seed_check(const struct cmd_seed *s, json_t *defs)
{
	const char *code = NULL;
	char **names = NULL;
	size_t n = 0, i, j;
	json_t *d;
	int r = LK_ERR_INTERNAL;

	if (lk_subst_scan(s->content, &names, &n, &code) != 0) {
		log_warnx("public command %s: content: %s", s->name,
		    code ? code : "?");
		return LK_ERR_INTERNAL;
	}
	if (n != json_array_size(defs))
		goto out;
	for (i = 0; i < n; i++) {
		json_array_foreach(defs, j, d)
			if (strcasecmp(names[i], cmd_str(d,
			    "ParameterName")) == 0)
				break;
		if (j == json_array_size(defs))
			goto out;
	}
	r = 0;
 out:
	if (r != 0)
		log_warnx("public command %s: placeholders and parameters "
		    "differ", s->name);
	lk_subst_names_free(names, n);
	return r;
}

/* One public command, its strings copied into a store_cmd. */
static int
cmd_seed_one(const struct cmd_seed *s, const char *id)
{
	struct store_cmd c;
	int r = LK_ERR_ALLOC;

	memset(&c, 0, sizeof(c));
	if ((c.id = strdup(id)) == NULL || (c.name = strdup(s->name)) ==
	    NULL || (c.type = strdup("RunShellScript")) == NULL ||
	    (c.description = strdup(s->description)) == NULL ||
	    (c.content = strdup(s->content)) == NULL ||
	    (c.working_dir = strdup("")) == NULL ||
	    (c.params = strdup(s->params)) == NULL ||
	    (c.provider = strdup(CMD_PUBLIC_PROVIDER)) == NULL ||
	    (c.category = strdup(CMD_PUBLIC_CATEGORY)) == NULL)
		goto out;
	c.timeout = s->timeout;
	c.enable_parameter = strcmp(s->params, "[]") != 0;
	c.created = CMD_PUBLIC_CREATED;
	r = store_cmd_seed(&c);
 out:
	store_cmd_free(&c);
	return r;
}

/*
 * Installs the public commands; run once at start-up. An existing row is
 * updated in place, so its creation time and invocation count survive.
 */
int
api_cmd_seed_public(void)
{
	const struct cmd_seed *s;
	json_t *defs;
	char id[160];
	size_t i;
	int r;

	for (i = 0; i < sizeof(cmd_seeds) / sizeof(cmd_seeds[0]); i++) {
		s = &cmd_seeds[i];
		snprintf(id, sizeof(id), "cmd-%s", s->name);
		if ((defs = json_loads(s->params, 0, NULL)) == NULL ||
		    !json_is_array(defs) || cmd_seed_check(s, defs) != 0) {
			json_decref(defs);
			return LK_ERR_INTERNAL;
		}
		json_decref(defs);
		if ((r = cmd_seed_one(s, id)) != 0)
			return r;
	}
	log_debug("api seed public_commands=%zu", i);
	return 0;
}
