/*
 * Files: SendFile and DescribeSendFileResults (docs/api.md, "Files").
 *
 * A file sent is an invocation of its own kind: one invocations row with
 * command_type STORE_INV_FILE_TYPE (the file's name in command_name, its
 * content in Base64 in content, the target directory in working_dir, the
 * owner in username, the rest as JSON in parameters) and one task per
 * instance, which the agent's poll hands out as any task. The task's
 * content is the JSON object the agent reads (docs/agent-protocol.md,
 * "SendFile tasks"); the agent writes the file as its owner, atomically and
 * never through a symbolic link (agent/agent_file.c), and reports the
 * outcome as a task result. DescribeInvocations and DescribeInvocationResults
 * never show these invocations, nor DescribeSendFileResults commands'.
 *
 * What the server can judge it refuses with a 400 before anything is
 * written: a relative TargetDir or one with "." or ".." components, a Name
 * with '/', control characters (newline, NUL) or that is "." or "..", a
 * FileMode that is not octal up to 07777, owner and group names that are
 * not user names. Whether the owner and the group exist, whether the file
 * exists (Overwrite), whether a directory is a symbolic link: only the
 * agent can tell, and says so per instance (ErrorCode, ErrorInfo).
 */
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
#include "b64.h"
#include "err.h"
#include "filespec.h"
#include "log.h"
#include "sig.h"
#include "store.h"
#include "util.h"

#define FILE_CONTENT_B64_MAX	LK_FILE_B64_MAX	/* 32 KiB Base64, as ECS */
#define FILE_NAME_MAX		LK_FILE_NAME_MAX	/* bytes */
#define FILE_DIR_MAX		LK_FILE_DIR_MAX		/* bytes */
#define FILE_DESC_MAX		512		/* characters */
#define FILE_USER_MAX		64		/* FileOwner, FileGroup */
#define FILE_INSTANCES_MAX	50		/* InstanceId.N */
#define FILE_TIMEOUT_DEFAULT	60
#define FILE_TIMEOUT_MIN	10		/* lower values are raised */
#define FILE_TIMEOUT_MAX	86400
#define FILE_TOKEN_MAX		64
#define FILE_INFO_MAX		512		/* ErrorInfo from the agent */
#define FILE_USER_DEFAULT	"root"
#define FILE_MODE_DEFAULT	"0644"
#define FILE_HEX		"0123456789abcdef"

/* A file being sent. */
struct file_new {
	const char	*name, *dir, *owner, *group, *desc, *token;
	char		 mode[8];	/* canonical: four octal digits */
	int		 overwrite;
	int		 b64;		/* ContentType Base64 */
	char		*content;	/* Base64 of the bytes */
	size_t		 size;		/* bytes */
	char		 sha256[LK_SIG_V3_SIZE];
	long long	 timeout;
	const char	**ids;
	size_t		 n;
	char		*params;	/* invocations.parameters */
	char		**tasks;	/* the agent's task content, shared */
	char		 invoke_id[40];
};

static void
file_new_free(struct file_new *f)
{
	free(f->content);
	free(f->ids);
	free(f->params);
	if (f->tasks != NULL)
		free(f->tasks[0]);
	free(f->tasks);
}

static int
file_oom(struct api_req *req)
{
	return api_error(req, 500, "InternalError", "out of memory");
}

static const char *
file_nz(struct api_req *req, const char *name)
{
	const char *v = api_param(req, name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* Content and ContentType into f->content (Base64) and f->size. */
static int
file_content(struct api_req *req, struct file_new *f)
{
	const char *v, *type = file_nz(req, "ContentType");
	unsigned char *dec = NULL;
	size_t n, len = 0;
	int r;

	if (type == NULL || strcasecmp(type, "PlainText") == 0)
		f->b64 = 0;
	else if (strcasecmp(type, "Base64") == 0)
		f->b64 = 1;
	else
		return api_error(req, 400, "InvalidParameter.ContentType", "The "
		    "specified parameter \"ContentType\" is not valid "
		    "(PlainText or Base64).");
	if ((v = api_param(req, "Content")) == NULL)
		return api_error(req, 400, "MissingParameter", "The input "
		    "parameter \"Content\" that is mandatory for processing "
		    "this request is not supplied.");
	n = strlen(v);
	if ((f->b64 ? n : (n + 2) / 3 * 4) > FILE_CONTENT_B64_MAX)
		return api_error(req, 403, "InvalidParam.Content.ExceedLimit",
		    "The file content exceeds %d bytes after Base64 encoding.",
		    FILE_CONTENT_B64_MAX);
	if (!f->b64) {
		f->size = n;
		if ((f->content = lk_b64_encode((const unsigned char *)v, n,
		    1)) == NULL)
			return file_oom(req);
		return lk_sig_sha256_hex(v, n, f->sha256) == 0 ? 0 :
		    file_oom(req);
	}
	if (n > 0 && (r = lk_b64_decode(v, n, FILE_CONTENT_B64_MAX, &dec,
	    &len)) != 0) {
		if (r == LK_ERR_ALLOC)
			return file_oom(req);
		return api_error(req, 400, "InvalidParameter.Content", "The "
		    "specified parameter \"Content\" is not valid Base64 (the "
		    "standard alphabet, padded).");
	}
	f->size = len;
	r = lk_sig_sha256_hex(dec != NULL ? (const void *)dec : "", len,
	    f->sha256);
	free(dec);
	if (r != 0 || (f->content = strdup(v)) == NULL)
		return file_oom(req);
	return 0;
}

/* A user or group name: the agent's rules (lk_user_valid), at most 64. */
static int
file_user_param(struct api_req *req, const char *name, const char *def,
    const char **vp)
{
	char code[64];

	if ((*vp = file_nz(req, name)) == NULL) {
		*vp = def;
		return 0;
	}
	snprintf(code, sizeof(code), "InvalidParameter.%s", name);
	if (strlen(*vp) > FILE_USER_MAX || lk_user_valid(*vp) != 0)
		return api_error(req, 400, code, "The specified parameter "
		    "\"%s\" is not a valid user or group name (at most %d "
		    "characters).", name, FILE_USER_MAX);
	return 0;
}

/* Every parameter but the instances and the content. */
static int
file_options(struct api_req *req, struct file_new *f)
{
	const char *mode, *t;
	unsigned int m;

	if (api_param_req(req, "Name", &f->name) != 0 ||
	    api_param_req(req, "TargetDir", &f->dir) != 0)
		return -1;
	if (!lk_file_name_valid(f->name) || !cmd_utf8_valid(f->name,
	    strlen(f->name)))
		return api_error(req, 400, "InvalidParameter.Name", "The "
		    "specified parameter \"Name\" is not a valid file name: one "
		    "path component of at most %d bytes, not \".\" or \"..\", "
		    "without '/' or control characters.", FILE_NAME_MAX);
	if (!lk_file_dir_valid(f->dir) || !cmd_utf8_valid(f->dir,
	    strlen(f->dir)))
		return api_error(req, 400, "InvalidParameter.TargetDir", "The "
		    "specified parameter \"TargetDir\" is not valid: an "
		    "absolute path of at most %d bytes, without \".\" or \"..\" "
		    "components or control characters.", FILE_DIR_MAX);
	if (file_user_param(req, "FileOwner", FILE_USER_DEFAULT,
	    &f->owner) != 0 || file_user_param(req, "FileGroup", "",
	    &f->group) != 0)
		return -1;
	if (!keys_policy_user(&req->policy, f->owner))
		return api_error(req, 403, "Forbidden.RAM", "User not authorized "
		    "to operate on the specified resource: this access key may "
		    "not write files as %s.", f->owner);
	if ((mode = file_nz(req, "FileMode")) == NULL)
		mode = FILE_MODE_DEFAULT;
	if (lk_file_mode_parse(mode, &m) != 0)
		return api_error(req, 400, "InvalidParameter.FileMode", "The "
		    "specified parameter \"FileMode\" is not valid: octal, as "
		    "chmod takes it, at most 07777 (0644, 755).");
	snprintf(f->mode, sizeof(f->mode), "%04o", m);
	if ((f->desc = api_param(req, "Description")) == NULL)
		f->desc = "";
	if (!cmd_utf8_valid(f->desc, strlen(f->desc)) ||
	    strlen(f->desc) > FILE_DESC_MAX * 4)
		return api_error(req, 400, "InvalidParameter.Description", "The "
		    "specified parameter \"Description\" is not valid UTF-8 of "
		    "at most %d characters.", FILE_DESC_MAX);
	if (api_param_bool(req, "Overwrite", 0, &f->overwrite) != 0 ||
	    api_param_int(req, "Timeout", FILE_TIMEOUT_DEFAULT, 1,
	    FILE_TIMEOUT_MAX, &f->timeout) != 0)
		return -1;
	if (f->timeout < FILE_TIMEOUT_MIN)
		f->timeout = FILE_TIMEOUT_MIN;
	if ((f->token = file_nz(req, "ClientToken")) == NULL)
		return 0;
	for (t = f->token; *t > 0x20 && *t < 0x7f; t++)
		;
	if (*t != '\0' || t - f->token > FILE_TOKEN_MAX)
		return api_error(req, 400, "InvalidParameter.ClientToken", "The "
		    "ClientToken must be at most %d printable ASCII characters.",
		    FILE_TOKEN_MAX);
	return 0;
}

/* InstanceId.N: 1..50 known instances the key may use, repeats dropped. */
static int
file_targets(struct api_req *req, struct file_new *f)
{
	const char **ids = NULL;
	size_t n, i, j;

	if (api_param_list(req, "InstanceId", FILE_INSTANCES_MAX, &ids,
	    &n) != 0)
		return -1;
	if (n == 0) {
		free(ids);
		return api_error(req, 400, "MissingParam.InstanceId", "The "
		    "parameter InstanceId is mandatory for this action.");
	}
	f->ids = ids;
	for (i = 0; i < n; i++) {
		for (j = 0; j < f->n; j++)
			if (strcmp(f->ids[j], ids[i]) == 0)
				break;
		if (j < f->n)
			continue;
		if (inst_check(req, ids[i], 1, NULL) != 0)
			return -1;
		f->ids[f->n++] = ids[i];
	}
	return 0;
}

/* The stored parameters and the agent's task (one string for all). */
static int
file_texts(struct api_req *req, struct file_new *f)
{
	json_t *p, *t;
	size_t i;

	p = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:I, s:s}", "TargetDir",
	    f->dir, "FileOwner", f->owner, "FileGroup", f->group, "FileMode",
	    f->mode, "Overwrite", f->overwrite, "ContentType", f->b64 ?
	    "Base64" : "PlainText", "Size", (json_int_t)f->size, "Sha256",
	    f->sha256);
	t = json_pack("{s:s, s:s, s:s, s:b, s:s}", "name", f->name, "group",
	    f->group, "mode", f->mode, "overwrite", f->overwrite, "content",
	    f->content);
	if (p != NULL)
		f->params = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if ((f->tasks = calloc(f->n, sizeof(*f->tasks))) != NULL && t != NULL)
		f->tasks[0] = json_dumps(t, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(p);
	json_decref(t);
	if (f->params == NULL || f->tasks == NULL || f->tasks[0] == NULL)
		return file_oom(req);
	for (i = 1; i < f->n; i++)
		f->tasks[i] = f->tasks[0];
	return 0;
}

/* The api.call event of the send, written in its transaction. */
static void
file_audit(struct api_req *req, const struct file_new *f,
    struct audit_batch *ab)
{
	struct audit_ev ev;
	json_t *ids = json_array();
	size_t i;

	for (i = 0; ids != NULL && i < f->n; i++)
		json_array_append_new(ids, json_string(f->ids[i]));
	api_audit_set(req, "invoke_id", json_string(f->invoke_id));
	api_audit_set(req, "instances", ids);
	api_audit_set(req, "file_name", audit_str(f->name));
	api_audit_set(req, "target_dir", audit_str(f->dir));
	api_audit_set(req, "file_group", audit_str(f->group));
	api_audit_set(req, "file_mode", json_string(f->mode));
	api_audit_set(req, "overwrite", json_boolean(f->overwrite));
	api_audit_set(req, "size", json_integer((json_int_t)f->size));
	api_audit_set(req, "sha256", json_string(f->sha256));
	if (f->n == 1)
		req->audit_instance = f->ids[0];
	req->audit_user = f->owner;
	if (api_audit_event(req, 0, &ev) == 0)
		(void)audit_batch_add(ab, &ev);
}

/* The same request again with the same ClientToken: its first InvokeId. */
static int
file_replay(struct api_req *req, const struct file_new *f,
    const struct store_inv_prior *p)
{
	size_t i, j;
	int same = strcmp(p->command_type, STORE_INV_FILE_TYPE) == 0 &&
	    strcmp(p->content, f->content) == 0 &&
	    strcmp(p->parameters, f->params) == 0 && p->n == f->n;

	for (i = 0; same && i < f->n; i++) {
		for (j = 0; j < p->n; j++)
			if (strcmp(p->instance_ids[j], f->ids[i]) == 0)
				break;
		same = j < p->n;
	}
	if (!same)
		return api_error(req, 403, "IdempotentParameterMismatch", "The "
		    "ClientToken was used before with different parameters.");
	json_object_set_new(req->resp, "InvokeId", json_string(p->id));
	return 0;
}

static int
file_store(struct api_req *req, struct file_new *f)
{
	struct store_inv_new sn;
	struct store_inv_prior prior;
	struct audit_batch ab = { NULL, 0 };
	int r;

	file_audit(req, f, &ab);
	memset(&sn, 0, sizeof(sn));
	sn.id = f->invoke_id;
	sn.owner = req->key_id;
	sn.client_token = f->token;
	sn.command_id = "";
	sn.command_name = f->name;
	sn.command_type = STORE_INV_FILE_TYPE;
	sn.command_description = f->desc;
	sn.content = f->content;
	sn.parameters = f->params;
	sn.username = f->owner;
	sn.working_dir = f->dir;
	sn.timeout = f->timeout;
	sn.instance_ids = f->ids;
	sn.scripts = f->tasks;
	sn.n = f->n;
	sn.in_tx = audit_batch_write_tx;
	sn.in_tx_arg = &ab;
	r = store_inv_create(&sn, lkd_now(), &prior);
	req->audited = r == 0 && prior.id == NULL;
	audit_batch_end(&ab, req->audited);
	if (r != 0)
		return api_store_error(req, r, "file");
	if (prior.id != NULL) {
		r = file_replay(req, f, &prior);
		store_inv_prior_free(&prior);
		return r;
	}
	return 0;
}

int
api_send_file(struct api_req *req)
{
	struct file_new f;
	int r = -1;

	memset(&f, 0, sizeof(f));
	if (file_options(req, &f) != 0 || file_content(req, &f) != 0 ||
	    file_targets(req, &f) != 0)
		goto out;
	if (lkd_random_id("f-", 32, FILE_HEX, f.invoke_id,
	    sizeof(f.invoke_id)) != 0) {
		api_error(req, 500, "InternalError", "random");
		goto out;
	}
	if (file_texts(req, &f) != 0 || file_store(req, &f) != 0)
		goto out;
	if (json_object_get(req->resp, "InvokeId") == NULL) {
		agentd_wake_many(f.ids, f.n);
		log_info("%s api sendfile invoke_id=%s size=%zu instances=%zu",
		    req->request_id, f.invoke_id, f.size, f.n);
		json_object_set_new(req->resp, "InvokeId",
		    json_string(f.invoke_id));
	}
	r = 0;
 out:
	file_new_free(&f);
	return r;
}

/* ------------------------------------------------------------------ */
/* DescribeSendFileResults                                             */

/* ErrorInfo of the codes the server sets itself (the sweep, old agents). */
static const struct {
	const char	*code;
	const char	*info;
} file_infos[] = {
	{ "ClientNotRunning", "the instance's latchkey-agent was not "
	  "connected before the timeout" },
	{ "ClientNotResponse", "the instance's latchkey-agent stopped "
	  "answering while it wrote the file" },
	{ "ClientNeedUpgrade", "the instance's latchkey-agent is too old to "
	  "receive files; upgrade it" },
	{ "ExecutionTimeout", "the file was not written within the timeout" },
	{ "ExecutionInterrupted", "the agent stopped while it wrote the "
	  "file" },
};

/* What the API shows of one task. */
struct file_view {
	const char	*status;
	const char	*code;
	char		 info[FILE_INFO_MAX];
};

/*
 * The agent's message ("latchkey-agent: why\n") as ErrorInfo, else the
 * table's words for the code.
 */
static void
file_task_view(const struct store_task *t, struct file_view *v)
{
	const char *s = t->status, *p = t->output, *prefix = "latchkey-agent: ";
	size_t n = t->output_len, i, o = 0;

	v->code = t->error_code;
	v->info[0] = '\0';
	if (strcmp(s, "Stopping") == 0)
		s = "Running";
	else if (strcmp(s, "Stopped") == 0)
		s = "Cancelled";
	v->status = s;
	if (strcmp(t->error_code, "CommandNotApplicable") == 0)
		v->code = "ClientNeedUpgrade";	/* an agent before SendFile */
	else if (strcmp(s, "Timeout") == 0 && *v->code == '\0')
		v->code = "ExecutionTimeout";
	if (*v->code == '\0')
		return;
	if (v->code == t->error_code && n > strlen(prefix) &&
	    memcmp(p, prefix, strlen(prefix)) == 0) {
		for (i = strlen(prefix); i < n && o + 1 < sizeof(v->info); i++)
			if (p[i] != '\n')
				v->info[o++] = (unsigned char)p[i] < 0x20 ?
				    ' ' : p[i];
		v->info[o] = '\0';
		if (cmd_utf8_valid(v->info, o))
			return;
		v->info[0] = '\0';
	}
	for (i = 0; i < sizeof(file_infos) / sizeof(file_infos[0]); i++)
		if (strcmp(v->code, file_infos[i].code) == 0)
			snprintf(v->info, sizeof(v->info), "%s",
			    file_infos[i].info);
}

/* The overall status from the per-instance ones (docs/api.md). */
struct file_counts {
	size_t	 running, pending, success, total;
};

static const char *
file_level(const struct file_counts *c)
{
	if (c->running > 0)
		return "Running";
	if (c->pending > 0)
		return "Pending";
	if (c->success == c->total)
		return "Success";
	if (c->success == 0)
		return "Failed";
	return "PartialFailed";
}

static void
file_count(struct file_counts *c, const struct store_task *t)
{
	struct file_view v;

	file_task_view(t, &v);
	c->total++;
	if (strcmp(v.status, "Running") == 0)
		c->running++;
	else if (strcmp(v.status, "Pending") == 0)
		c->pending++;
	else if (strcmp(v.status, "Success") == 0)
		c->success++;
}

/* The first pass: the matching invocations, counted and paged. */
struct file_scan {
	struct api_req	*req;
	const char	*status;	/* InvocationStatus filter */
	long long	 offset, size, total;
	char		 cur[64];
	struct file_counts c;
	json_t		*ids;
};

static int
file_scan_flush(struct file_scan *x)
{
	long long k;
	int r = 0;

	if (x->cur[0] == '\0' || x->c.total == 0)
		goto reset;
	if (x->status != NULL && strcmp(x->status, file_level(&x->c)) != 0)
		goto reset;
	k = x->total++;
	if (k >= x->offset && k < x->offset + x->size &&
	    json_array_append_new(x->ids, json_string(x->cur)) != 0)
		r = LK_ERR_ALLOC;
 reset:
	memset(&x->c, 0, sizeof(x->c));
	x->cur[0] = '\0';
	return r;
}

static int
file_allowed(struct api_req *req, const struct store_task *t)
{
	return keys_policy_instance(&req->policy, t->instance_id,
	    *t->instance_name ? t->instance_name : NULL);
}

static int
file_scan_cb(const struct store_task *t, void *arg)
{
	struct file_scan *x = arg;
	int r;

	if (strcmp(t->invoke_id, x->cur) != 0) {
		if ((r = file_scan_flush(x)) != 0)
			return r;
		snprintf(x->cur, sizeof(x->cur), "%s", t->invoke_id);
	}
	if (file_allowed(x->req, t))
		file_count(&x->c, t);
	return 0;
}

/* The second pass: one invocation and its allowed tasks. */
struct file_one {
	struct api_req	*req;
	json_t		*tasks;
	struct file_counts c;
};

static int
file_one_cb(const struct store_task *t, void *arg)
{
	struct file_one *x = arg;
	struct file_view v;
	char w[4][32];

	if (!file_allowed(x->req, t))
		return 0;
	file_count(&x->c, t);
	file_task_view(t, &v);
	lk_time_iso(t->created, w[0], sizeof(w[0]));
	lk_time_iso(t->start_time, w[1], sizeof(w[1]));
	lk_time_iso(t->finish_time, w[2], sizeof(w[2]));
	lk_time_iso(t->updated, w[3], sizeof(w[3]));
	if (json_array_append_new(x->tasks, json_pack("{s:s, s:s, s:s, s:s, "
	    "s:s, s:s, s:s, s:s}", "InstanceId", t->instance_id,
	    "InvocationStatus", v.status, "ErrorCode", v.code, "ErrorInfo",
	    v.info, "CreationTime", w[0], "StartTime", t->started ? w[1] : "",
	    "FinishTime", t->finish_time ? w[2] : "", "UpdateTime",
	    w[3])) != 0)
		return LK_ERR_ALLOC;
	return 0;
}

static const char *
file_pstr(json_t *p, const char *key)
{
	const char *s = json_string_value(json_object_get(p, key));

	return s != NULL ? s : "";
}

/* An Invocation object of the page. */
static json_t *
file_invocation_json(struct file_one *x, const struct store_inv *v)
{
	json_t *p, *content = NULL, *o = NULL;
	unsigned char *dec = NULL;
	size_t len = 0;
	char when[32];
	int b64;

	if ((p = json_loads(v->parameters, 0, NULL)) == NULL)
		p = json_object();
	b64 = strcmp(file_pstr(p, "ContentType"), "Base64") == 0;
	if (b64)
		content = json_string(v->content);
	else if (*v->content == '\0' || lk_b64_decode(v->content,
	    strlen(v->content), FILE_CONTENT_B64_MAX, &dec, &len) == 0)
		content = cmd_text(dec != NULL ? (void *)dec : "", len, 0);
	free(dec);
	lk_time_iso(v->created, when, sizeof(when));
	if (content != NULL)
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
		    "s:o, s:s, s:s, s:I, s:{s:[]}, s:{s:O}}",
		    "InvokeId", v->id, "Name", v->command_name,
		    "Description", v->command_description,
		    "TargetDir", v->working_dir, "FileOwner", v->username,
		    "FileGroup", file_pstr(p, "FileGroup"),
		    "FileMode", file_pstr(p, "FileMode"),
		    "Overwrite", json_is_true(json_object_get(p, "Overwrite")) ?
		    "true" : "false",
		    "ContentType", b64 ? "Base64" : "PlainText",
		    "Content", content, "CreationTime", when,
		    "InvocationStatus", file_level(&x->c),
		    "VmCount", (json_int_t)x->c.total, "Tags", "Tag",
		    "InvokeInstances", "InvokeInstance", x->tasks);
	json_decref(p);
	return o;
}

/* Invocation id (the caller's; one gone meanwhile is left out). */
static int
file_describe_one(struct file_one *x, const char *id, json_t *out)
{
	struct store_inv v;
	int r;

	memset(&x->c, 0, sizeof(x->c));
	if ((r = store_inv_get(id, x->req->key_id, &v)) == LK_ERR_NOT_FOUND)
		return 0;
	if (r != 0)
		return r;
	if ((x->tasks = json_array()) == NULL)
		r = LK_ERR_ALLOC;
	else if ((r = store_inv_tasks(id, file_one_cb, x)) == 0 &&
	    json_array_append_new(out, file_invocation_json(x, &v)) != 0)
		r = LK_ERR_ALLOC;
	json_decref(x->tasks);
	x->tasks = NULL;
	store_inv_free(&v);
	return r;
}

int
api_describe_send_file_results(struct api_req *req)
{
	static const char *const levels[] = { "Pending", "Running", "Success",
	    "Failed", "PartialFailed" };
	struct store_inv_query q;
	struct file_scan s;
	struct file_one one;
	const char *inst = file_nz(req, "InstanceId");
	json_t *out = NULL, *id;
	size_t i;
	int r = -1;

	memset(&s, 0, sizeof(s));
	memset(&one, 0, sizeof(one));
	s.req = one.req = req;
	if ((s.status = file_nz(req, "InvocationStatus")) != NULL) {
		for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
			if (strcmp(s.status, levels[i]) == 0)
				break;
		if (i == sizeof(levels) / sizeof(levels[0]))
			return api_error(req, 400, "InvalidParameter."
			    "InvocationStatus", "The specified parameter "
			    "\"InvocationStatus\" is not valid (Pending, "
			    "Running, Success, Failed or PartialFailed).");
	}
	if (cmd_pager_get(req, &s.offset, &s.size) != 0 ||
	    (inst != NULL && inst_check(req, inst, 0, NULL) != 0))
		return -1;
	if ((s.ids = json_array()) == NULL || (out = json_array()) == NULL) {
		file_oom(req);
		goto out;
	}
	memset(&q, 0, sizeof(q));
	q.owner = req->key_id;
	q.invoke_id = file_nz(req, "InvokeId");
	q.command_name = file_nz(req, "Name");
	q.instance_id = inst;
	q.files = 1;
	if ((r = store_inv_scan(&q, file_scan_cb, &s)) != 0 ||
	    (r = file_scan_flush(&s)) != 0) {
		r = api_store_error(req, r, "file results");
		goto out;
	}
	json_array_foreach(s.ids, i, id)
		if ((r = file_describe_one(&one, json_string_value(id),
		    out)) != 0) {
			r = api_store_error(req, r, "file results");
			goto out;
		}
	cmd_pager_put(req->resp, s.offset, s.size, s.total);
	json_object_set_new(req->resp, "Invocations", json_pack("{s:O}",
	    "Invocation", out));
	r = 0;
 out:
	json_decref(s.ids);
	json_decref(out);
	return r;
}
