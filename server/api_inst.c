/*
 * Instances: DescribeInstances and DescribeCloudAssistantStatus over the
 * servers whose agents registered (the instances table), and
 * inst_check(), how the other action files look up an instance a
 * parameter names.
 *
 * Both actions work in two passes: the first walks the matching ids in a
 * stable order, keeps those the key's policy allows, counts them and
 * remembers the page's; the second describes only those.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "db.h"
#include "api.h"
#include "api_int.h"
#include "err.h"

#define INST_IDS_MAX	100	/* InstanceIds / InstanceId.N */


struct inst_name {
	int	 found;
	char	*name;
};

static int
inst_name_cb(const struct lkdb_row *st, void *arg)
{
	struct inst_name *x = arg;

	x->found = 1;
	x->name = lkdb_col_str(st, 0);
	return 1;
}

/*
 * An instance a parameter names: the key's policy must allow it (else 403
 * Forbidden.RAM, whether or not it exists, so a key learns nothing of
 * instances outside its policy) and, when must_exist, it must exist (else
 * 404 InvalidInstance.NotFound). *namep (namep may be NULL) gets its name
 * as a new string, or NULL when it does not exist.
 */
int
inst_check(struct api_req *req, const char *id, int must_exist, char **namep)
{
	struct inst_name x = { 0, NULL };
	int r = -1;

	if (namep != NULL)
		*namep = NULL;
	if (lkdb_query(lkd->db, inst_name_cb, &x, "SELECT name FROM instances "
	    "WHERE id = ?", "s", id) != 0)
		return api_error(req, 500, "InternalError", "database");
	if (x.found && x.name == NULL)
		return api_error(req, 500, "InternalError", "out of memory");
	if (!api_allowed_instance(req, id, x.name))
		goto out;
	if (!x.found && must_exist) {
		api_error(req, 404, "InvalidInstance.NotFound", "The specified "
		    "instance does not exist.");
		goto out;
	}
	if (namep != NULL) {
		*namep = x.name;
		x.name = NULL;
	}
	r = 0;
 out:
	free(x.name);
	return r;
}

static int
inst_online(int64_t last_seen, int64_t now)
{
	return last_seen > 0 && last_seen >= now - LKD_ONLINE_WINDOW;
}

static const char *
inst_col(const struct lkdb_row *st, int i)
{
	const char *s = lkdb_text(st, i);

	return s != NULL ? s : "";
}

/* First pass: the ids the policy allows, counted; the page's kept. */
struct inst_scan {
	struct api_req	*req;
	long long	 offset;
	long long	 size;
	long long	 total;
	json_t		*ids;
};

static int
inst_scan_cb(const struct lkdb_row *st, void *arg)
{
	struct inst_scan *x = arg;
	long long k;

	if (!keys_policy_instance(&x->req->policy, inst_col(st, 0),
	    inst_col(st, 1)))
		return 0;
	k = x->total++;
	if (k >= x->offset && k < x->offset + x->size &&
	    json_array_append_new(x->ids, json_string(inst_col(st, 0))) != 0)
		return LK_ERR_ALLOC;
	return 0;
}

/* The addresses column (a JSON array of strings) as an array. */
static json_t *
inst_addresses(const char *text)
{
	json_t *a = json_loads(text, 0, NULL), *out = json_array(), *v;
	size_t i;

	json_array_foreach(a, i, v)
		if (json_is_string(v))
			json_array_append(out, v);
	json_decref(a);
	return out;
}

/* An instances row as a DescribeInstances Instance. */
static int
inst_row_cb(const struct lkdb_row *st, void *arg)
{
	json_t *list = arg, *addrs;
	char created[32];
	int64_t now = lkd_now();

	if ((addrs = inst_addresses(inst_col(st, 5))) == NULL)
		return LK_ERR_ALLOC;
	lk_time_iso(lkdb_int(st, 6), created, sizeof(created));
	if (json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, "
	    "s:s, s:s, s:s, s:s, s:s, s:s, s:{s:{s:o}}, s:{s:[]}}",
	    "InstanceId", inst_col(st, 0), "InstanceName", inst_col(st, 1),
	    "HostName", inst_col(st, 2), "Description", "",
	    "Status", inst_online(lkdb_int(st, 7), now) ?
	    "Running" : "Stopped",
	    "OSName", inst_col(st, 3), "OSNameEn", inst_col(st, 3),
	    "OSType", "linux", "RegionId", lkd->region,
	    "InstanceNetworkType", "vpc", "CreationTime", created,
	    "VpcAttributes", "PrivateIpAddress", "IpAddress", addrs,
	    "PublicIpAddress", "IpAddress")) != 0)
		return LK_ERR_ALLOC;
	return 1;
}

/* An instances row as an InstanceCloudAssistantStatus. */
static int
inst_status_cb(const struct lkdb_row *st, void *arg)
{
	json_t *list = arg;
	char last_inv[32], last_hb[32];
	int64_t seen = lkdb_int(st, 2);

	lk_time_iso(lkdb_int(st, 5), last_inv, sizeof(last_inv));
	/* After a goodbye (last_seen 0), the agent's last word was that. */
	lk_time_iso(seen > 0 ? seen : lkdb_int(st, 6), last_hb,
	    sizeof(last_hb));
	if (json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:I, "
	    "s:I, s:s, s:s, s:b}",
	    "InstanceId", inst_col(st, 0),
	    "CloudAssistantStatus", inst_online(seen, lkd_now()) ? "true" :
	    "false",
	    "CloudAssistantVersion", inst_col(st, 1), "OSType", "Linux",
	    "ActiveTaskCount", (json_int_t)lkdb_int(st, 3),
	    "InvocationCount", (json_int_t)lkdb_int(st, 4),
	    "LastInvokedTime", last_inv, "LastHeartbeatTime", last_hb,
	    "SupportSessionManager",
	    sess_version_supported(inst_col(st, 1)))) != 0)
		return LK_ERR_ALLOC;
	return 1;
}

/* Second pass: describes each id of the page into list. */
static int
inst_describe_ids(json_t *ids, int status, json_t *list)
{
	json_t *id;
	size_t i;
	int r;

	json_array_foreach(ids, i, id) {
		if (status)
			r = lkdb_query(lkd->db, inst_status_cb, list, "SELECT "
			    "i.id, i.version, i.last_seen, (SELECT COUNT(*) FROM "
			    "tasks t WHERE t.instance_id = i.id AND t.status IN "
			    "('Pending', 'Running', 'Stopping')), (SELECT "
			    "COUNT(*) FROM tasks t WHERE t.instance_id = i.id), "
			    "(SELECT MAX(t.created) FROM tasks t WHERE "
			    "t.instance_id = i.id), i.goodbye FROM instances i "
			    "WHERE i.id = ?", "s", json_string_value(id));
		else
			r = lkdb_query(lkd->db, inst_row_cb, list, "SELECT id, "
			    "name, hostname, os, version, addresses, registered, "
			    "last_seen FROM instances WHERE id = ?", "s",
			    json_string_value(id));
		if (r != 0)
			return r;
	}
	return 0;
}

/* InstanceIds: a JSON array of at most 100 strings, as compact text. */
static int
inst_ids_param(struct api_req *req, char **textp)
{
	const char *v = api_param(req, "InstanceIds");
	json_t *a = NULL, *e;
	size_t i;
	int r = -1;

	*textp = NULL;
	if (v == NULL || *v == '\0')
		return 0;
	if ((a = json_loads(v, 0, NULL)) == NULL || !json_is_array(a))
		goto bad;
	if (json_array_size(a) > INST_IDS_MAX) {
		api_error(req, 403, "InstanceIds.ExceedLimit", "The number of "
		    "InstanceIds exceeds %d.", INST_IDS_MAX);
		goto out;
	}
	json_array_foreach(a, i, e)
		if (!json_is_string(e))
			goto bad;
	if ((*textp = json_dumps(a, JSON_COMPACT)) == NULL) {
		api_error(req, 500, "InternalError", "out of memory");
		goto out;
	}
	r = 0;
	goto out;
 bad:
	api_error(req, 400, "InvalidInstanceIds.Malformed", "The specified "
	    "parameter \"InstanceIds\" is not a JSON array of instance ids.");
 out:
	json_decref(a);
	return r;
}

/* The instances the policy allows; no error for the ones it does not. */
int
api_describe_instances(struct api_req *req)
{
	struct inst_scan x;
	const char *name = api_param(req, "InstanceName");
	const char *status = api_param(req, "Status");
	char *ids = NULL, *glob = NULL;
	json_t *list = NULL;
	int r = -1;

	memset(&x, 0, sizeof(x));
	x.req = req;
	if (cmd_pager_get(req, &x.offset, &x.size) != 0 ||
	    inst_ids_param(req, &ids) != 0)
		goto out;
	if ((name != NULL && *name != '\0' && (glob = cmd_glob(name)) ==
	    NULL) || (x.ids = json_array()) == NULL ||
	    (list = json_array()) == NULL) {
		api_error(req, 500, "InternalError", "out of memory");
		goto out;
	}
	if (lkdb_query(lkd->db, inst_scan_cb, &x, "SELECT id, name FROM "
	    "instances WHERE (?1 IS NULL OR id IN (SELECT value FROM "
	    "json_each(?1))) AND (?2 IS NULL OR name GLOB ?2) AND (?3 IS NULL "
	    "OR ?3 = '' OR (CASE WHEN last_seen > 0 AND last_seen >= ?4 THEN "
	    "'Running' ELSE 'Stopped' END) = ?3) ORDER BY registered, id",
	    "sssi", ids, glob, status, lkd_now() - LKD_ONLINE_WINDOW) != 0 ||
	    inst_describe_ids(x.ids, 0, list) != 0) {
		api_error(req, 500, "InternalError", "database");
		goto out;
	}
	cmd_pager_put(req->resp, x.offset, x.size, x.total);
	json_object_set_new(req->resp, "Instances", json_pack("{s:O}",
	    "Instance", list));
	r = 0;
 out:
	free(ids);
	free(glob);
	json_decref(x.ids);
	json_decref(list);
	return r;
}

/* InstanceId.N: each must exist and be allowed; repeats dropped. */
static int
inst_status_ids(struct api_req *req, struct inst_scan *x, int *givenp)
{
	const char **ids = NULL;
	json_t *seen = NULL;
	size_t n, i;
	int r = -1;

	if (api_param_list(req, "InstanceId", INST_IDS_MAX, &ids, &n) != 0)
		return -1;
	*givenp = n > 0;
	if ((seen = json_object()) == NULL) {
		api_error(req, 500, "InternalError", "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (json_object_get(seen, ids[i]) != NULL)
			continue;
		if (inst_check(req, ids[i], 1, NULL) != 0)
			goto out;
		json_object_set_new(seen, ids[i], json_true());
		if (x->total >= x->offset && x->total < x->offset + x->size)
			json_array_append_new(x->ids, json_string(ids[i]));
		x->total++;
	}
	r = 0;
 out:
	json_decref(seen);
	free(ids);
	return r;
}

int
api_describe_cloud_assistant_status(struct api_req *req)
{
	struct inst_scan x;
	const char *os = api_param(req, "OSType");
	json_t *list = NULL;
	int given = 0, r = -1;

	memset(&x, 0, sizeof(x));
	x.req = req;
	if (os != NULL && *os != '\0' && strcasecmp(os, "Linux") != 0 &&
	    strcasecmp(os, "Windows") != 0)
		return api_error(req, 400, "InvalidParameter.OSType", "The "
		    "specified parameter \"OSType\" is not valid (Linux or "
		    "Windows).");
	if (cmd_pager_get(req, &x.offset, &x.size) != 0)
		return -1;
	if ((x.ids = json_array()) == NULL || (list = json_array()) == NULL) {
		api_error(req, 500, "InternalError", "out of memory");
		goto out;
	}
	if (inst_status_ids(req, &x, &given) != 0)
		goto out;
	if (os != NULL && strcasecmp(os, "Windows") == 0) {
		json_array_clear(x.ids);	/* every instance runs Linux */
		x.total = 0;
	} else if (!given && lkdb_query(lkd->db, inst_scan_cb, &x, "SELECT id, "
	    "name FROM instances ORDER BY registered, id", "") != 0) {
		api_error(req, 500, "InternalError", "database");
		goto out;
	}
	if (inst_describe_ids(x.ids, 1, list) != 0) {
		api_error(req, 500, "InternalError", "database");
		goto out;
	}
	cmd_pager_put(req->resp, x.offset, x.size, x.total);
	json_object_set_new(req->resp, "InstanceCloudAssistantStatusSet",
	    json_pack("{s:O}", "InstanceCloudAssistantStatus", list));
	r = 0;
 out:
	json_decref(x.ids);
	json_decref(list);
	return r;
}
