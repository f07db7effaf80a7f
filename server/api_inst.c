/*
 * Instances: DescribeInstances and DescribeCloudAssistantStatus over the
 * servers whose agents registered (the instances table),
 * DescribeInstanceHostKeys (the sshd host keys an instance's agent
 * reported), and inst_check(), how the other action files look up an
 * instance a parameter names.
 *
 * Both actions work in two passes: the first walks the matching ids in a
 * stable order (store_inst_list), keeps those the key's policy allows,
 * counts them and remembers the page's; the second describes only those.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "api.h"
#include "api_int.h"
#include "err.h"
#include "hostca.h"
#include "store.h"

#define INST_IDS_MAX	100	/* InstanceIds / InstanceId.N */


/* Sessions need an agent of version 1.1.0 or later. */
int
inst_supports_sessions(const char *v)
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
	struct store_inst x;
	int found, r;

	if (namep != NULL)
		*namep = NULL;
	if ((r = store_inst_get(lkd->db, id, &x)) != 0 &&
	    r != LK_ERR_NOT_FOUND)
		return api_store_error(req, r, "instance lookup");
	found = r == 0;
	r = -1;
	if (!api_allowed_instance(req, id, x.name))
		goto out;
	if (!found && must_exist) {
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
	store_inst_free(&x);
	return r;
}

static int
inst_online(int64_t last_seen, int64_t now)
{
	return last_seen > 0 && last_seen >= now - LKD_ONLINE_WINDOW;
}

/* First pass: the ids the policy allows, counted; the page's kept. */
struct inst_scan {
	struct api_req	*req;
	long long	 offset;
	long long	 size;
	long long	 total;
	json_t		*ids;
	struct store_tag tags[STORE_TAG_MAX];	/* Tag.N filter */
	size_t		 ntags;
	char		**tagged;	/* the instances that match it */
};

static int
inst_scan_cb(const char *id, const char *name, void *arg)
{
	struct inst_scan *x = arg;
	long long k;

	if (!keys_policy_instance(&x->req->policy, id, name) ||
	    (x->ntags > 0 && !store_tag_ids_has(x->tagged, id)))
		return 0;
	k = x->total++;
	if (k >= x->offset && k < x->offset + x->size &&
	    json_array_append_new(x->ids, json_string(id)) != 0)
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

/* An instance as a DescribeInstances Instance. */
static int
inst_describe(const struct store_inst *in, json_t *list)
{
	json_t *addrs, *tags;
	char created[32];
	int64_t now = lkd_now();

	if ((tags = tag_json(STORE_TAG_INSTANCE, in->id)) == NULL)
		return LK_ERR_ALLOC;
	if ((addrs = inst_addresses(in->addresses)) == NULL) {
		json_decref(tags);
		return LK_ERR_ALLOC;
	}
	lk_time_iso(in->registered, created, sizeof(created));
	if (json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, "
	    "s:s, s:s, s:s, s:s, s:s, s:s, s:{s:{s:o}}, s:{s:[]}, s:{s:o}}",
	    "InstanceId", in->id, "InstanceName", in->name,
	    "HostName", in->hostname, "Description", "",
	    "Status", inst_online(in->last_seen, now) ?
	    "Running" : "Stopped",
	    "OSName", in->os, "OSNameEn", in->os,
	    "OSType", "linux", "RegionId", lkd->region,
	    "InstanceNetworkType", "vpc", "CreationTime", created,
	    "VpcAttributes", "PrivateIpAddress", "IpAddress", addrs,
	    "PublicIpAddress", "IpAddress", "Tags", "Tag", tags)) != 0)
		return LK_ERR_ALLOC;
	return 0;
}

/* An instance's agent as an InstanceCloudAssistantStatus. */
static int
inst_describe_status(const char *id, const struct store_inst_status *st,
    json_t *list)
{
	char last_inv[32], last_hb[32];
	int64_t seen = st->last_seen;

	lk_time_iso(st->last_task, last_inv, sizeof(last_inv));
	/* After a goodbye (last_seen 0), the agent's last word was that. */
	lk_time_iso(seen > 0 ? seen : st->goodbye, last_hb, sizeof(last_hb));
	if (json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:I, "
	    "s:I, s:s, s:s, s:b}",
	    "InstanceId", id,
	    "CloudAssistantStatus", inst_online(seen, lkd_now()) ? "true" :
	    "false",
	    "CloudAssistantVersion", st->version, "OSType", "Linux",
	    "ActiveTaskCount", (json_int_t)st->active_tasks,
	    "InvocationCount", (json_int_t)st->tasks,
	    "LastInvokedTime", last_inv, "LastHeartbeatTime", last_hb,
	    "SupportSessionManager",
	    inst_supports_sessions(st->version))) != 0)
		return LK_ERR_ALLOC;
	return 0;
}

/*
 * Second pass: describes each id of the page into list; an instance gone
 * since the first pass is left out.
 */
static int
inst_describe_ids(json_t *ids, int status, json_t *list)
{
	struct store_inst in;
	struct store_inst_status st;
	const char *id;
	json_t *v;
	size_t i;
	int r;

	json_array_foreach(ids, i, v) {
		id = json_string_value(v);
		if (status) {
			if ((r = store_inst_status(lkd->db, id, &st)) == 0)
				r = inst_describe_status(id, &st, list);
			store_inst_status_free(&st);
		} else {
			if ((r = store_inst_get(lkd->db, id, &in)) == 0)
				r = inst_describe(&in, list);
			store_inst_free(&in);
		}
		if (r != 0 && r != LK_ERR_NOT_FOUND)
			return r;
	}
	return 0;
}

/*
 * InstanceIds: a JSON array of at most 100 strings, as *idsp (a new array
 * of strings borrowed from *ap, which the caller releases) and *np; both
 * NULL/0 when the parameter is absent or empty.
 */
static int
inst_ids_param(struct api_req *req, json_t **ap, const char ***idsp,
    size_t *np)
{
	const char *v = api_param(req, "InstanceIds");
	json_t *a = NULL, *e;
	size_t i;
	int r = -1;

	*ap = NULL;
	*idsp = NULL;
	*np = 0;
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
	/* One more than needed, so that an empty list is not NULL. */
	if ((*idsp = calloc(json_array_size(a) + 1, sizeof(**idsp))) ==
	    NULL) {
		api_error(req, 500, "InternalError", "out of memory");
		goto out;
	}
	json_array_foreach(a, i, e)
		(*idsp)[i] = json_string_value(e);
	*np = json_array_size(a);
	*ap = a;
	a = NULL;
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
	struct store_inst_filter f;
	struct inst_scan x;
	const char *name = api_param(req, "InstanceName");
	const char **ids = NULL;
	json_t *idsj = NULL, *list = NULL;
	size_t n;
	int r = -1, e;

	memset(&x, 0, sizeof(x));
	memset(&f, 0, sizeof(f));
	x.req = req;
	if (cmd_pager_get(req, &x.offset, &x.size) != 0 ||
	    inst_ids_param(req, &idsj, &ids, &f.nids) != 0 ||
	    tag_filter_get(req, x.tags, &x.ntags) != 0)
		goto out;
	f.ids = ids;
	f.pattern = name != NULL && *name != '\0' ? name : NULL;
	f.status = api_param(req, "Status");
	f.online_since = lkd_now() - LKD_ONLINE_WINDOW;
	if ((x.ids = json_array()) == NULL || (list = json_array()) == NULL) {
		api_error(req, 500, "InternalError", "out of memory");
		goto out;
	}
	if ((x.ntags > 0 && (e = store_tag_ids(STORE_TAG_INSTANCE, x.tags,
	    x.ntags, &x.tagged, &n)) != 0) ||
	    (e = store_inst_list(lkd->db, &f, inst_scan_cb, &x)) != 0 ||
	    (e = inst_describe_ids(x.ids, 0, list)) != 0) {
		api_store_error(req, e, "instances");
		goto out;
	}
	cmd_pager_put(req->resp, x.offset, x.size, x.total);
	json_object_set_new(req->resp, "Instances", json_pack("{s:O}",
	    "Instance", list));
	r = 0;
 out:
	free(ids);
	store_tag_ids_free(x.tagged);
	json_decref(idsj);
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
	struct store_inst_filter all;
	const char *os = api_param(req, "OSType");
	json_t *list = NULL;
	int given = 0, r = -1, e;

	memset(&x, 0, sizeof(x));
	memset(&all, 0, sizeof(all));
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
	} else if (!given && (e = store_inst_list(lkd->db, &all, inst_scan_cb,
	    &x)) != 0) {
		api_store_error(req, e, "instances");
		goto out;
	}
	if ((e = inst_describe_ids(x.ids, 1, list)) != 0) {
		api_store_error(req, e, "instances");
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

/* A stored host key as a HostKey of DescribeInstanceHostKeys. */
static json_t *
inst_hostkey_json(const struct store_hostkey *k)
{
	char first[32], last[32];
	json_t *o;
	char *pub;

	if (asprintf(&pub, "%s %s", k->type, k->b64) == -1)
		return NULL;
	lk_time_iso(k->first_seen, first, sizeof(first));
	lk_time_iso(k->seen, last, sizeof(last));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "KeyType", k->type,
	    "PublicKey", pub, "Fingerprint", k->fingerprint,
	    "FirstSeenTime", first, "LastSeenTime", last);
	free(pub);
	return o;
}

/*
 * DescribeInstanceHostKeys (a latchkey extension): the host keys the
 * instance's agent last reported, for ssh's KnownHostsCommand. The key's
 * policy must allow the instance (403 Forbidden.RAM) and it must exist
 * (404 InvalidInstance.NotFound); one that never reported keys has none.
 */
int
api_describe_instance_host_keys(struct api_req *req)
{
	struct store_hostkey *keys = NULL;
	const char *id;
	json_t *list = NULL, *o;
	size_t n = 0, i;
	int r = -1, e;

	if (api_param_req(req, "InstanceId", &id) != 0 ||
	    inst_check(req, id, 1, NULL) != 0)
		return -1;
	if ((e = store_hostkeys_get(id, &keys, &n)) != 0) {
		api_store_error(req, e, "host keys");
		goto out;
	}
	if ((list = json_array()) == NULL)
		goto oom;
	for (i = 0; i < n; i++)
		if ((o = inst_hostkey_json(&keys[i])) == NULL ||
		    json_array_append_new(list, o) != 0)
			goto oom;
	json_object_set_new(req->resp, "InstanceId", json_string(id));
	json_object_set_new(req->resp, "HostKeys", json_pack("{s:O}",
	    "HostKey", list));
	r = 0;
	goto out;
 oom:
	api_error(req, 500, "InternalError", "out of memory");
 out:
	json_decref(list);
	store_hostkeys_free(keys, n);
	return r;
}

/*
 * DescribeHostCertificateAuthority (a latchkey extension): the host CA's
 * public key line, for one "@cert-authority" line in known_hosts. Any
 * instance: the CA is the whole fleet's. When the operator did not turn
 * the CA on (--host-ca), 400 HostCertificateAuthority.Disabled: there are
 * no certificates to trust it for.
 */
int
api_describe_host_certificate_authority(struct api_req *req)
{
	char *line = NULL;
	int e;

	if (!hostca_conf.on) {
		api_error(req, 400, "HostCertificateAuthority.Disabled",
		    "latchkeyd signs no host certificates (its operator did "
		    "not give --host-ca)");
		return -1;
	}
	if ((e = hostca_public(&line)) != 0) {
		api_store_error(req, e, "host certificate authority");
		return -1;
	}
	json_object_set_new(req->resp, "PublicKey", json_string(line));
	json_object_set_new(req->resp, "KeyType", json_string("ssh-ed25519"));
	free(line);
	return 0;
}
