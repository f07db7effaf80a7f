/*
 * The managed-instance lifecycle of ECS 2014-05-26 (docs/api.md,
 * "Activations and managed instances"): CreateActivation,
 * DescribeActivations, DisableActivation, DeleteActivation,
 * DescribeManagedInstances, ModifyManagedInstance and
 * DeregisterManagedInstance, shaped as the official SDK's models.
 *
 * Policy. Instances: a key sees and changes only the instances its
 * Instances policy allows (a rename's new name must be allowed too, so a
 * key cannot move an instance out of its own reach or into another key's).
 * Activations admit new instances of any name to the whole fleet, so only
 * a key without an Instances restriction may use the activation actions
 * (and, as for every action, only when its Actions list allows them).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "agentauth.h"
#include "agentd.h"
#include "api.h"
#include "api_int.h"
#include "err.h"
#include "fleet.h"
#include "heartbeat.h"
#include "log.h"
#include "notify.h"
#include "store.h"

#define FLEET_IDS_MAX		50	/* InstanceId.N */
#define FLEET_COUNT_MAX		1000	/* InstanceCount */
#define FLEET_TTL_HOURS_MAX	8760	/* TimeToLiveInHours: a year */
#define FLEET_TTL_HOURS_DEFAULT	4

/* The activation actions need a key with no Instances restriction. */
static int
fleet_act_allowed(struct api_req *req)
{
	if (req->policy.instances == NULL)
		return 0;
	return api_error(req, 403, "Forbidden.RAM", "User not authorized to "
	    "operate on the specified resource: activations admit instances "
	    "to the whole fleet, so only an access key without an Instances "
	    "policy may use %s.", req->action);
}

/* An activation as the SDK's ActivationList entry / Activation. */
json_t *
fleet_act_json(const struct store_act *a, int disabled_member)
{
	char created[32], expires[32];
	int64_t ttl = (a->expires - a->created + 3599) / 3600;
	json_t *o;

	lk_time_iso(a->created, created, sizeof(created));
	lk_time_iso(a->expires, expires, sizeof(expires));
	o = json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:I, s:I, s:s, "
	    "s:I}", "ActivationId", a->id, "CreationTime", created,
	    "DeregisteredCount", (json_int_t)a->deregistered,
	    "Description", a->description,
	    "InstanceCount", (json_int_t)a->count,
	    "InstanceName", a->instance_name,
	    "IpAddressRange", a->ip_range[0] ? a->ip_range : "0.0.0.0/0",
	    "RegisteredCount", (json_int_t)(a->count - a->uses_left),
	    "TimeToLiveInHours", (json_int_t)(ttl > 0 ? ttl : 0),
	    "ExpiredTime", expires,
	    "UsesLeft", (json_int_t)a->uses_left);
	if (o != NULL && disabled_member)
		json_object_set_new(o, "Disabled", json_boolean(a->disabled));
	return o;
}

int
api_create_activation(struct api_req *req)
{
	struct agentd_act_spec sp;
	const char *name = api_param(req, "InstanceName");
	const char *range = api_param(req, "IpAddressRange");
	const char *desc = api_param(req, "Description");
	char *id = NULL, *code = NULL, exp[32];
	long long hours;
	int r;

	if (fleet_act_allowed(req) != 0)
		return -1;
	memset(&sp, 0, sizeof(sp));
	if (api_param_int(req, "InstanceCount", 10, 1, FLEET_COUNT_MAX,
	    &sp.count) != 0 || api_param_int(req, "TimeToLiveInHours",
	    FLEET_TTL_HOURS_DEFAULT, 1, FLEET_TTL_HOURS_MAX, &hours) != 0)
		return -1;
	if (name != NULL && *name != '\0' &&
	    !fleet_name_valid(name, FLEET_PREFIX_MAX))
		return api_error(req, 400, "InvalidInstanceName.Malformed",
		    "The specified parameter \"InstanceName\" is not valid: 2 "
		    "to %d characters, a letter first, then letters, digits "
		    "and . _ - :.", FLEET_PREFIX_MAX);
	if (range != NULL && fleet_range_valid(range) != 0)
		return api_error(req, 400, "InvalidIpAddressRange.Malformed",
		    "The specified parameter \"IpAddressRange\" is not valid: "
		    "an IPv4 or IPv6 address or a CIDR block (e.g. "
		    "10.0.0.0/8) without host bits.");
	if (!fleet_desc_valid(desc))
		return api_error(req, 400, "InvalidDescription.Malformed",
		    "The specified parameter \"Description\" is not valid: at "
		    "most %d characters, no control characters.",
		    FLEET_DESC_MAX);
	sp.ttl = hours * 3600;
	sp.instance_name = name;
	sp.ip_range = range;
	sp.description = desc;
	if ((r = agentd_activation_create(&sp, &id, &code, exp,
	    sizeof(exp))) != 0)
		return api_store_error(req, r, "activation");
	json_object_set_new(req->resp, "ActivationId", json_string(id));
	json_object_set_new(req->resp, "ActivationCode", json_string(code));
	api_audit_set(req, "activation_id", json_string(id));
	api_audit_set(req, "count", json_integer(sp.count));
	api_audit_set(req, "expires", json_string(exp));
	free(id);
	free(code);
	return 0;
}

int
api_describe_activations(struct api_req *req)
{
	struct store_act_query q;
	struct store_act *v = NULL;
	const char *id = api_param(req, "ActivationId");
	const char *name = api_param(req, "InstanceName");
	long long offset, size;
	int64_t total = 0;
	json_t *list;
	size_t n = 0, i;
	int r;

	if (fleet_act_allowed(req) != 0 ||
	    cmd_pager_get(req, &offset, &size) != 0)
		return -1;
	memset(&q, 0, sizeof(q));
	q.id = id != NULL && *id != '\0' ? id : NULL;
	q.instance_name = name != NULL && *name != '\0' ? name : NULL;
	q.offset = offset;
	q.limit = size;
	if ((r = store_act_list(&q, &v, &n, &total)) != 0)
		return api_store_error(req, r, "activations");
	if ((list = json_array()) == NULL) {
		store_act_list_free(v, n);
		return api_error(req, 500, "InternalError", "out of memory");
	}
	for (i = 0; i < n; i++)
		json_array_append_new(list, fleet_act_json(&v[i], 1));
	store_act_list_free(v, n);
	cmd_pager_put(req->resp, offset, size, total);
	json_object_set_new(req->resp, "ActivationList", list);
	return 0;
}

/* DisableActivation and DeleteActivation. */
static int
fleet_act_change(struct api_req *req, int del)
{
	struct store_act a;
	const char *id;
	int r;

	if (fleet_act_allowed(req) != 0 ||
	    api_param_req(req, "ActivationId", &id) != 0)
		return -1;
	r = del ? store_act_delete(id, &a, NULL, NULL) :
	    store_act_disable(id, &a, NULL, NULL);
	if (r == LK_ERR_NOT_FOUND)
		return api_error(req, 404, "InvalidActivationId.NotFound",
		    "The specified ActivationId does not exist.");
	if (r == LK_ERR_STATE) {
		api_error(req, 403, "ActivationId.InUse", "The specified "
		    "activation id is in use: %lld instance(s) registered with "
		    "it are still registered (DeregisterManagedInstance "
		    "them first, or DisableActivation it).",
		    (long long)a.registered_now);
		store_act_free(&a);
		return -1;
	}
	if (r != 0)
		return api_store_error(req, r, "activation");
	json_object_set_new(req->resp, "Activation", fleet_act_json(&a, !del));
	store_act_free(&a);
	return 0;
}

int
api_disable_activation(struct api_req *req)
{
	return fleet_act_change(req, 0);
}

int
api_delete_activation(struct api_req *req)
{
	return fleet_act_change(req, 1);
}

/* ---- managed instances -------------------------------------------- */

/* The first address of a JSON array of strings, or "". */
static json_t *
fleet_first_addr(const char *text)
{
	json_t *a = json_loads(text, 0, NULL), *v;
	const char *s;

	v = json_array_get(a, 0);
	s = json_string_value(v);
	v = json_string(s != NULL ? s : "");
	json_decref(a);
	return v;
}

/* A managed instance as the SDK's Instances entry / Instance. */
json_t *
fleet_minst_json(const struct store_minst *m, int connected_member,
    int64_t now)
{
	char reg[32], inv[32];
	json_t *o;

	lk_time_iso(m->registered, reg, sizeof(reg));
	if (m->last_invoked > 0)
		lk_time_iso(m->last_invoked, inv, sizeof(inv));
	else
		inv[0] = '\0';
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:s, s:s, "
	    "s:s, s:s, s:s}", "InstanceId", m->id, "InstanceName", m->name,
	    "ActivationId", m->activation_id, "AgentVersion", m->version,
	    "Hostname", m->hostname, "InternetIp", "",
	    "IntranetIp", fleet_first_addr(m->addresses),
	    "InvocationCount", (json_int_t)m->invocations,
	    "LastInvokedTime", inv, "MachineId", m->machine_id,
	    "OsType", "Linux", "OsVersion", m->os, "RegistrationTime", reg);
	if (o != NULL && connected_member)
		json_object_set_new(o, "Connected", json_boolean(
		    m->last_seen > 0 && m->last_seen >= now -
		    LKD_ONLINE_WINDOW));
	return o;
}

struct fleet_scan {
	struct api_req	*req;
	long long	 offset, size, total;
	json_t		*list;
	int64_t		 now;
	struct store_tag tags[STORE_TAG_MAX];	/* Tag.N filter */
	size_t		 ntags;
	char		**tagged;	/* the instances that match it */
};

static int
fleet_scan_cb(const struct store_minst *m, void *arg)
{
	struct fleet_scan *x = arg;
	long long k;

	if (!keys_policy_instance(&x->req->policy, m->id, m->name) ||
	    (x->ntags > 0 && !store_tag_ids_has(x->tagged, m->id)))
		return 0;
	k = x->total++;
	if (k >= x->offset && k < x->offset + x->size &&
	    json_array_append_new(x->list, fleet_minst_json(m, 1,
	    x->now)) != 0)
		return LK_ERR_ALLOC;
	return 0;
}

/* Connected, OsType: their filter into q; -1 after an error. */
static int
fleet_minst_filters(struct api_req *req, struct store_minst_query *q,
    int *nonep)
{
	const char *c = api_param(req, "Connected");
	const char *os = api_param(req, "OsType");

	q->connected = -1;
	*nonep = 0;
	if (c != NULL && *c != '\0') {
		if (strcasecmp(c, "true") == 0)
			q->connected = 1;
		else if (strcasecmp(c, "false") == 0)
			q->connected = 0;
		else
			return api_error(req, 400, "InvalidParameter.Connected",
			    "The specified parameter \"Connected\" is not "
			    "valid (true or false).");
	}
	if (os != NULL && *os != '\0') {
		if (strcasecmp(os, "windows") == 0)
			*nonep = 1;	/* every instance runs Linux */
		else if (strcasecmp(os, "linux") != 0)
			return api_error(req, 400, "InvalidParameter.OsType",
			    "The specified parameter \"OsType\" is not valid "
			    "(Linux or Windows).");
	}
	return 0;
}

static const char *
fleet_nonempty(struct api_req *req, const char *name)
{
	const char *v = api_param(req, name);

	return v != NULL && *v != '\0' ? v : NULL;
}

int
api_describe_managed_instances(struct api_req *req)
{
	struct store_minst_query q;
	struct fleet_scan x;
	const char **ids = NULL;
	json_t *o;
	size_t nids = 0, n, i;
	int none = 0, r = -1, e;

	memset(&x, 0, sizeof(x));
	memset(&q, 0, sizeof(q));
	x.req = req;
	x.now = lkd_now();
	if (cmd_pager_get(req, &x.offset, &x.size) != 0 ||
	    fleet_minst_filters(req, &q, &none) != 0 ||
	    api_param_list(req, "InstanceId", FLEET_IDS_MAX, &ids, &nids) != 0 ||
	    tag_filter_get(req, x.tags, &x.ntags) != 0)
		goto out;
	if (nids > 0) {
		q.ids = ids;
		q.nids = nids;
	}
	q.name = fleet_nonempty(req, "InstanceName");
	q.machine_id = fleet_nonempty(req, "MachineId");
	q.activation_id = fleet_nonempty(req, "ActivationId");
	q.address = fleet_nonempty(req, "InstanceIp");
	q.online_since = x.now - LKD_ONLINE_WINDOW;
	if ((x.list = json_array()) == NULL) {
		api_error(req, 500, "InternalError", "out of memory");
		goto out;
	}
	if ((x.ntags > 0 && (e = store_tag_ids(STORE_TAG_INSTANCE, x.tags,
	    x.ntags, &x.tagged, &n)) != 0) || (!none &&
	    (e = store_minst_scan(&q, fleet_scan_cb, &x)) != 0)) {
		api_store_error(req, e, "managed instances");
		goto out;
	}
	/* The page's tags, after the scan (no statement inside another). */
	json_array_foreach(x.list, i, o)
		if (json_object_set_new(o, "Tags", tag_json(STORE_TAG_INSTANCE,
		    json_string_value(json_object_get(o, "InstanceId")))) != 0) {
			api_error(req, 500, "InternalError", "out of memory");
			goto out;
		}
	cmd_pager_put(req->resp, x.offset, x.size, x.total);
	json_object_set_new(req->resp, "Instances", x.list);
	x.list = NULL;
	r = 0;
 out:
	free(ids);
	store_tag_ids_free(x.tagged);
	json_decref(x.list);
	return r;
}

int
api_modify_managed_instance(struct api_req *req)
{
	const char *id, *name;
	int r;

	if (api_param_req(req, "InstanceId", &id) != 0 ||
	    inst_check(req, id, 1, NULL) != 0 ||
	    api_param_req(req, "InstanceName", &name) != 0)
		return -1;
	if (!fleet_name_valid(name, FLEET_NAME_MAX))
		return api_error(req, 400, "InvalidInstanceName.Malformed",
		    "The specified parameter \"InstanceName\" is not valid: 2 "
		    "to %d characters, a letter first, then letters, digits "
		    "and . _ - :.", FLEET_NAME_MAX);
	if (!keys_policy_instance(&req->policy, id, name))
		return api_error(req, 403, "Forbidden.RAM", "User not "
		    "authorized to operate on the specified resource: the new "
		    "name \"%s\" is outside the access key's Instances policy.",
		    name);
	if ((r = store_minst_rename(id, name, NULL, NULL)) == LK_ERR_NOT_FOUND)
		return api_error(req, 404, "InvalidInstance.NotFound", "The "
		    "specified instance does not exist.");
	if (r != 0)
		return api_store_error(req, r, "instance rename");
	api_audit_set(req, "instance_name", json_string(name));
	json_object_set_new(req->resp, "Instance", json_pack("{s:s, s:s}",
	    "InstanceId", id, "InstanceName", name));
	return 0;
}

static int
fleet_one_cb(const struct store_minst *m, void *arg)
{
	struct fleet_scan *x = arg;

	x->list = fleet_minst_json(m, 0, x->now);
	return x->list != NULL ? 1 : LK_ERR_ALLOC;
}

int
api_deregister_managed_instance(struct api_req *req)
{
	struct store_minst_query q;
	struct fleet_scan x;
	const char *id;
	int r;

	if (api_param_req(req, "InstanceId", &id) != 0 ||
	    inst_check(req, id, 1, NULL) != 0)
		return -1;
	memset(&q, 0, sizeof(q));
	memset(&x, 0, sizeof(x));
	q.ids = &id;
	q.nids = 1;
	q.connected = -1;
	x.now = lkd_now();
	if ((r = store_minst_scan(&q, fleet_one_cb, &x)) != 0 ||
	    (r = store_minst_deregister(id, x.now, NULL, NULL)) != 0) {
		json_decref(x.list);
		if (r == LK_ERR_NOT_FOUND)
			return api_error(req, 404, "InvalidInstance.NotFound",
			    "The specified instance does not exist.");
		return api_store_error(req, r, "instance deregistration");
	}
	/* Its agent is told at its next poll, here or on another replica. */
	agentauth_forget(id);
	heartbeat_forget(id);
	notify_wake_many(&id, 1);
	log_info("%s instance deregistered instance=%s", req->request_id, id);
	json_object_set_new(req->resp, "Instance", x.list != NULL ? x.list :
	    json_pack("{s:s}", "InstanceId", id));
	return 0;
}
