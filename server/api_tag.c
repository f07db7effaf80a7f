/*
 * Tags: TagResources, UntagResources and ListTagResources on instances
 * (ResourceType "instance" or "managedinstance": one kind of resource
 * here) and commands, and the Tag.N filters and Tags answers the Describe
 * actions share (api_int.h). docs/api.md, "Tags".
 *
 * Who may change what: an instance must be inside the caller's Instances
 * policy, a command must be the caller's own. A tag key that some access
 * key's Instances policy names ("tag:KEY=VALUE", keys.c) is guarded: only
 * a key with no Instances restriction may set or remove it, so that no
 * restricted key can move an instance into or out of a policy's scope
 * (its own or another key's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "api_int.h"
#include "err.h"
#include "latchkeyd.h"
#include "store.h"

#define TAG_RESOURCES_MAX	50	/* ResourceId.N */
#define TAG_PAGE		50	/* ListTagResources' rows a page */

/* ResourceType as the store's type; NULL after api_error. */
static const char *
tag_type(struct api_req *req)
{
	const char *v;

	if (api_param_req(req, "ResourceType", &v) != 0)
		return NULL;
	if (strcmp(v, "instance") == 0 || strcmp(v, "managedinstance") == 0)
		return STORE_TAG_INSTANCE;
	if (strcmp(v, "command") == 0)
		return STORE_TAG_COMMAND;
	api_error(req, 400, "InvalidResourceType.NotSupported", "The "
	    "specified ResourceType \"%s\" is not supported: instance, "
	    "managedinstance or command.", v);
	return NULL;
}

/* ResourceId.1 .. ResourceId.50 (required: at least one, when need). */
static int
tag_ids(struct api_req *req, int need, const char ***idsp, size_t *np)
{
	char key[32];
	const char *v;

	snprintf(key, sizeof(key), "ResourceId.%d", TAG_RESOURCES_MAX + 1);
	if (api_param(req, key) != NULL)
		return api_error(req, 400, "InvalidResourceId.ExceedLimit",
		    "At most %d ResourceId.N.", TAG_RESOURCES_MAX);
	if (need && api_param_req(req, "ResourceId.1", &v) != 0)
		return -1;
	return api_param_list(req, "ResourceId", TAG_RESOURCES_MAX, idsp, np);
}

int
tag_filter_get(struct api_req *req, struct store_tag *f, size_t *np)
{
	char key[32];
	const char *k, *v;
	size_t i, j;

	*np = 0;
	for (i = 1; ; i++) {
		snprintf(key, sizeof(key), "Tag.%zu.Key", i);
		k = api_param(req, key);
		snprintf(key, sizeof(key), "Tag.%zu.Value", i);
		v = api_param(req, key);
		if (k == NULL && v == NULL)
			break;
		if (i > STORE_TAG_MAX)
			return api_error(req, 400, "InvalidTagCount", "At most "
			    "%d tags (Tag.N).", STORE_TAG_MAX);
		if (k == NULL)
			return api_error(req, 400, "MissingParameter.TagKey",
			    "Tag.%zu.Value is given without Tag.%zu.Key.", i,
			    i);
		if (!store_tag_key_valid(k))
			return api_error(req, 400, "InvalidTagKey.Malformed",
			    "Tag.%zu.Key: 1 to %d characters, not starting "
			    "with aliyun or acs:, without http:// or https://.",
			    i, STORE_TAG_KEY_MAX);
		if (v != NULL && !store_tag_value_valid(v))
			return api_error(req, 400, "InvalidTagValue.Malformed",
			    "Tag.%zu.Value: 0 to %d characters, without "
			    "http:// or https://.", i, STORE_TAG_VALUE_MAX);
		for (j = 0; j < *np; j++)
			if (strcmp(f[j].key, k) == 0)
				return api_error(req, 400,
				    "InvalidTagKey.Duplicate", "Tag.%zu.Key "
				    "\"%s\" is given twice.", i, k);
		f[*np].key = k;
		f[*np].value = v;
		(*np)++;
	}
	return 0;
}

static int
tag_json_cb(const char *id, const char *key, const char *value, void *arg)
{
	(void)id;
	return json_array_append_new(arg, json_pack("{s:s, s:s}", "TagKey",
	    key, "TagValue", value)) == 0 ? 0 : LK_ERR_ALLOC;
}

json_t *
tag_json(const char *type, const char *id)
{
	json_t *a;

	if ((a = json_array()) == NULL)
		return NULL;
	if (store_tag_list(type, &id, 1, NULL, tag_json_cb, a) != 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* The instances: each inside the caller's policy (else 403). */
static int
tag_instances_allowed(struct api_req *req, const char **ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (inst_check(req, ids[i], 0, NULL) != 0)
			return -1;
	return 0;
}

static int
tag_guard_refuse(struct api_req *req, const char *key)
{
	return api_error(req, 403, "Forbidden.TagPolicy", "The tag key \"%s\" "
	    "decides an access key's Instances policy (tag:%s=...): only an "
	    "access key without an Instances restriction may set or remove "
	    "it.", key, key);
}

/* A restricted caller may not touch a guarded key; -1 after api_error. */
static int
tag_guard(struct api_req *req, const char *key)
{
	int r;

	if (req->policy.instances == NULL)
		return 0;
	if ((r = keys_tag_guarded(key)) < 0)
		return api_store_error(req, r, "access keys");
	return r ? tag_guard_refuse(req, key) : 0;
}

/* Collects the keys (as a JSON object's members) of the rows listed. */
static int
tag_keys_cb(const char *id, const char *key, const char *value, void *arg)
{
	(void)id;
	(void)value;
	return json_object_set_new(arg, key, json_true()) == 0 ? 0 :
	    LK_ERR_ALLOC;
}

/* The store's answer r for the resources of t; -1 after api_error. */
static int
tag_store_error(struct api_req *req, int r, const struct store_tag_target *t,
    size_t bad)
{
	if (r == LK_ERR_NOT_FOUND)
		return api_error(req, 404, "InvalidResourceId.NotFound", "The "
		    "%s %s does not exist.", t->type, t->ids[bad]);
	if (r == LK_ERR_RANGE)
		return api_error(req, 400, "InvalidTagCount", "The %s %s "
		    "would have more than %d tags.", t->type, t->ids[bad],
		    STORE_TAG_MAX);
	return api_store_error(req, r, "tags");
}

/* The target of a Tag/Untag call; -1 after api_error. */
static int
tag_target(struct api_req *req, struct store_tag_target *t,
    const char ***idsp)
{
	memset(t, 0, sizeof(*t));
	if ((t->type = tag_type(req)) == NULL ||
	    tag_ids(req, 1, idsp, &t->nids) != 0)
		return -1;
	t->ids = *idsp;
	if (strcmp(t->type, STORE_TAG_COMMAND) == 0)
		t->owner = req->key_id;
	else if (tag_instances_allowed(req, *idsp, t->nids) != 0)
		return -1;
	api_audit_set(req, "resource_type", json_string(t->type));
	return 0;
}

int
api_tag_resources(struct api_req *req)
{
	struct store_tag tags[STORE_TAG_MAX];
	struct store_tag_target t;
	const char **ids = NULL;
	size_t n, i, bad = 0;
	int r = -1;

	if (tag_target(req, &t, &ids) != 0 ||
	    tag_filter_get(req, tags, &n) != 0)
		goto out;
	if (n == 0) {
		r = api_error(req, 400, "MissingParameter.Tag", "Give at least "
		    "one tag (Tag.1.Key, Tag.1.Value).");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (tags[i].value == NULL)
			tags[i].value = "";
		if (strcmp(t.type, STORE_TAG_INSTANCE) == 0 &&
		    tag_guard(req, tags[i].key) != 0)
			goto out;
	}
	if ((r = store_tag_set(&t, tags, n, &bad, NULL, NULL)) != 0) {
		r = tag_store_error(req, r, &t, bad);
		goto out;
	}
	r = 0;
 out:
	free(ids);
	return r;
}

int
api_untag_resources(struct api_req *req)
{
	struct store_tag_target t;
	const char **ids = NULL, **keys = NULL, *k;
	json_t *have = NULL, *v;
	size_t nkeys = 0, i, bad = 0;
	int all, r = -1;

	if (tag_target(req, &t, &ids) != 0 ||
	    api_param_bool(req, "All", 0, &all) != 0 ||
	    api_param_list(req, "TagKey", STORE_TAG_MAX, &keys, &nkeys) != 0)
		goto out;
	if (nkeys == 0 && !all) {
		r = api_error(req, 400, "MissingParameter.TagKey", "Give the "
		    "keys to remove (TagKey.N), or All=true.");
		goto out;
	}
	if (strcmp(t.type, STORE_TAG_INSTANCE) == 0) {
		for (i = 0; i < nkeys; i++)
			if (tag_guard(req, keys[i]) != 0)
				goto out;
		if (nkeys == 0 && req->policy.instances != NULL) {
			/* All: the keys the instances have now. */
			if ((have = json_object()) == NULL ||
			    (r = store_tag_list(t.type, ids, t.nids, NULL,
			    tag_keys_cb, have)) != 0) {
				r = api_store_error(req, have ? r :
				    LK_ERR_ALLOC, "tags");
				goto out;
			}
			r = -1;
			json_object_foreach(have, k, v)
				if (tag_guard(req, k) != 0)
					goto out;
		}
	}
	if ((r = store_tag_unset(&t, nkeys > 0 ? keys : NULL, nkeys, &bad,
	    NULL, NULL)) != 0) {
		r = tag_store_error(req, r, &t, bad);
		goto out;
	}
	r = 0;
 out:
	json_decref(have);
	free(keys);
	free(ids);
	return r;
}

/* Collects every row as [id, key, value]. */
static int
tag_rows_cb(const char *id, const char *key, const char *value, void *arg)
{
	return json_array_append_new(arg, json_pack("[s, s, s]", id, key,
	    value)) == 0 ? 0 : LK_ERR_ALLOC;
}

/*
 * Whether the caller may see resource id: an instance inside its policy
 * (a command is the caller's own already: store_tag_list's owner).
 */
static int
tag_list_visible(struct api_req *req, const char *type, const char *id)
{
	struct store_inst in;
	int r, ok;

	if (strcmp(type, STORE_TAG_INSTANCE) != 0)
		return 1;
	memset(&in, 0, sizeof(in));
	if ((r = store_inst_get(lkd->db, id, &in)) != 0)
		return r == LK_ERR_NOT_FOUND ? 0 : r;
	ok = keys_policy_instance(&req->policy, id, in.name);
	store_inst_free(&in);
	return ok;
}

/* The rows the caller may see, from offset, at most TAG_PAGE of them. */
static int
tag_list_page(struct api_req *req, const char *type, const char *outtype,
    json_t *all, char **tagged, long long offset, json_t *page, int *morep)
{
	const char *id, *cur = "";
	long long seen = 0;
	json_t *row;
	size_t i;
	int ok = 0;

	*morep = 0;
	json_array_foreach(all, i, row) {
		id = json_string_value(json_array_get(row, 0));
		if (strcmp(id, cur) != 0) {
			cur = id;
			if ((ok = tag_list_visible(req, type, id)) < 0)
				return ok;
			if (tagged != NULL && !store_tag_ids_has(tagged, id))
				ok = 0;
		}
		if (!ok || seen++ < offset)
			continue;
		if (json_array_size(page) == TAG_PAGE) {
			*morep = 1;
			break;
		}
		if (json_array_append_new(page, json_pack("{s:s, s:s, s:O, "
		    "s:O}", "ResourceId", id, "ResourceType", outtype,
		    "TagKey", json_array_get(row, 1), "TagValue",
		    json_array_get(row, 2))) != 0)
			return LK_ERR_ALLOC;
	}
	return 0;
}

int
api_list_tag_resources(struct api_req *req)
{
	struct store_tag filter[STORE_TAG_MAX];
	const char **ids = NULL, *tok, *type;
	char next[32], **tagged = NULL, *end;
	json_t *all = NULL, *page = NULL;
	long long offset = 0;
	size_t nids = 0, nfilter = 0, n;
	int more = 0, r = -1;

	if ((type = tag_type(req)) == NULL ||
	    tag_ids(req, 0, &ids, &nids) != 0 ||
	    tag_filter_get(req, filter, &nfilter) != 0)
		goto out;
	if ((tok = api_param(req, "NextToken")) != NULL && *tok != '\0') {
		offset = strtoll(tok, &end, 10);
		if (*end != '\0' || offset < 0 || offset > 1000000000) {
			r = api_error(req, 400, "InvalidNextToken.Malformed",
			    "The specified NextToken is not one this action "
			    "gave.");
			goto out;
		}
	}
	if ((all = json_array()) == NULL || (page = json_array()) == NULL) {
		r = api_error(req, 500, "InternalError", "out of memory");
		goto out;
	}
	if ((nfilter > 0 && (r = store_tag_ids(type, filter, nfilter, &tagged,
	    &n)) != 0) ||
	    (r = store_tag_list(type, nids > 0 ? ids : NULL, nids,
	    strcmp(type, STORE_TAG_COMMAND) == 0 ? req->key_id : NULL,
	    tag_rows_cb, all)) != 0 ||
	    (r = tag_list_page(req, type, api_param(req, "ResourceType"), all,
	    nfilter > 0 ? tagged : NULL, offset, page, &more)) != 0) {
		r = api_store_error(req, r, "tags");
		goto out;
	}
	snprintf(next, sizeof(next), "%lld", offset + TAG_PAGE);
	json_object_set_new(req->resp, "NextToken", json_string(more ? next :
	    ""));
	json_object_set_new(req->resp, "TagResources", json_pack("{s:O}",
	    "TagResource", page));
	r = 0;
 out:
	json_decref(all);
	json_decref(page);
	store_tag_ids_free(tagged);
	free(ids);
	return r;
}
