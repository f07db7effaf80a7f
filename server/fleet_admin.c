/*
 * latchkeyd's subcommands for the managed-instance lifecycle
 * (latchkeyd(8)):
 *
 *	activation create [--count N] [--ttl S] [--instance-name P]
 *	    [--ip-range R] [--description T] [--json]
 *	activation list [--json] | disable ID | delete ID
 *	instance list [--json] | rename ID NAME | remove ID
 *
 * Everything but "activation create" runs the API action itself
 * (api_call_internal) as the administrator "admin:<unix user>" with no
 * policy limit, so the checks, the answers' shapes, the error codes and
 * the audit events are the API's. "activation create" keeps its lifetime
 * in seconds (--ttl), which TimeToLiveInHours cannot say, and calls the
 * same store operation as CreateActivation.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "agentd.h"
#include "api.h"
#include "audit.h"
#include "err.h"
#include "fleet.h"
#include "fleet_admin.h"
#include "log.h"

#define FLEET_ADMIN_PAGE	"50"

/* The administrator's name: the Unix user, else "uid N". */
static void
fleet_admin_user(char *out, size_t outsize)
{
	struct passwd *pw = getpwuid(getuid());

	if (pw != NULL)
		snprintf(out, outsize, "%s", pw->pw_name);
	else
		snprintf(out, outsize, "uid %ld", (long)getuid());
}

/* Appends name=value (percent-encoded) to the parameters. */
static int
fleet_admin_param(struct lk_params *p, const char *name, const char *value)
{
	char *enc, *pair;
	int r;

	if ((enc = lk_params_encode(value, strlen(value))) == NULL)
		return LK_ERR_ALLOC;
	if (asprintf(&pair, "%s=%s", name, enc) == -1) {
		free(enc);
		return LK_ERR_ALLOC;
	}
	free(enc);
	r = lk_params_parse(p, pair, strlen(pair));
	free(pair);
	return r;
}

/*
 * Runs action with the NULL-terminated name/value pairs kv; *outp gets
 * its answer. Returns 0, or 1 after printing the API's error.
 */
static int
fleet_admin_call(const char *action, const char *const *kv, json_t **outp)
{
	struct lk_params p = { NULL, 0 };
	struct lkd_policy pol;
	char user[64], key[80];
	int status = 0, r;
	size_t i;

	*outp = NULL;
	memset(&pol, 0, sizeof(pol));
	fleet_admin_user(user, sizeof(user));
	snprintf(key, sizeof(key), "%s%s", API_ADMIN_PREFIX, user);
	audit_set_source("local");
	r = fleet_admin_param(&p, "RegionId", lkd->region);
	for (i = 0; r == 0 && kv[i] != NULL; i += 2)
		r = fleet_admin_param(&p, kv[i], kv[i + 1]);
	if (r == 0)
		r = api_call_internal(action, &p, key, &pol, &status, outp);
	lk_params_free(&p);
	if (r != 0) {
		log_warnx("%s: %s", action, lk_err(r));
		return 1;
	}
	if (status != 200) {
		log_warnx("%s: %s: %s", action, json_string_value(
		    json_object_get(*outp, "Code")), json_string_value(
		    json_object_get(*outp, "Message")));
		json_decref(*outp);
		*outp = NULL;
		return 1;
	}
	return 0;
}

/*
 * Every page of a Describe action: the member list's entries into one
 * array *allp. Returns 0 or 1 (the error printed).
 */
static int
fleet_admin_all(const char *action, const char *member, json_t **allp)
{
	json_t *all = json_array(), *out = NULL;
	char page[24];
	long long n;
	int more = 1;

	*allp = NULL;
	for (n = 1; more && all != NULL; n++) {
		const char *kv[] = { "PageNumber", page, "PageSize",
		    FLEET_ADMIN_PAGE, NULL };

		snprintf(page, sizeof(page), "%lld", n);
		if (fleet_admin_call(action, kv, &out) != 0) {
			json_decref(all);
			return 1;
		}
		json_array_extend(all, json_object_get(out, member));
		more = json_integer_value(json_object_get(out,
		    "TotalCount")) > (json_int_t)json_array_size(all) &&
		    json_array_size(json_object_get(out, member)) > 0;
		json_decref(out);
	}
	if (all == NULL) {
		log_warnx("out of memory");
		return 1;
	}
	*allp = all;
	return 0;
}

static void
fleet_admin_print(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL)
		printf("%s\n", s);
	free(s);
}

static const char *
fleet_admin_str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL && *s != '\0' ? s : "-";
}

static long long
fleet_admin_int(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static int
fleet_admin_act_create(const struct fleet_admin_opts *o)
{
	struct agentd_act_spec sp;
	char *id = NULL, *code = NULL, exp[32], user[64];
	struct audit_ev ev;
	json_t *v;
	int r;

	if ((o->name != NULL && !fleet_name_valid(o->name, FLEET_PREFIX_MAX)) ||
	    fleet_range_valid(o->ip_range) != 0 ||
	    !fleet_desc_valid(o->description)) {
		log_warnx("activation create: --instance-name is 2 to %d of "
		    "A-Z a-z 0-9 . _ - : starting with a letter; --ip-range an "
		    "address or a CIDR block; --description at most %d "
		    "printable characters", FLEET_PREFIX_MAX, FLEET_DESC_MAX);
		return 2;
	}
	memset(&sp, 0, sizeof(sp));
	sp.count = o->count;
	sp.ttl = o->ttl;
	sp.instance_name = o->name;
	sp.ip_range = o->ip_range;
	sp.description = o->description;
	if ((r = agentd_activation_create(&sp, &id, &code, exp,
	    sizeof(exp))) != 0) {
		log_warnx("activation create: %s", lk_err(r));
		return 1;
	}
	fleet_admin_user(user, sizeof(user));
	memset(&ev, 0, sizeof(ev));
	ev.kind = "activation.create";
	ev.actor_type = AUDIT_ACTOR_ADMIN;
	ev.actor = user;
	ev.detail = json_pack("{s:s, s:I, s:s}", "activation_id", id, "count",
	    (json_int_t)o->count, "expires", exp);
	audit_set_source("local");
	(void)audit_emit(&ev);
	if (o->json) {
		v = json_pack("{s:s, s:s, s:I, s:s}", "ActivationId", id,
		    "ActivationCode", code, "InstanceCount",
		    (json_int_t)o->count, "ExpiredTime", exp);
		fleet_admin_print(v);
		json_decref(v);
	} else
		printf("ActivationId:   %s\nActivationCode: %s\nUses: %lld, "
		    "expires %s\nOn a server: latchkey-agent register --server "
		    "URL --activation-id %s --activation-code %s\n", id, code,
		    o->count, exp, id, code);
	OPENSSL_cleanse(code, strlen(code));
	free(id);
	free(code);
	return 0;
}

static int
fleet_admin_act_list(const struct fleet_admin_opts *o)
{
	json_t *all, *a;
	size_t i;

	if (fleet_admin_all("DescribeActivations", "ActivationList", &all) != 0)
		return 1;
	if (o->json)
		fleet_admin_print(all);
	else {
		printf("%-36s %-8s %5s %5s %5s %-20s %-16s %s\n",
		    "ActivationId", "State", "Count", "Left", "Now", "Expires",
		    "IpAddressRange", "InstanceName");
		json_array_foreach(all, i, a)
			printf("%-36s %-8s %5lld %5lld %5lld %-20s %-16s %s\n",
			    fleet_admin_str(a, "ActivationId"),
			    json_is_true(json_object_get(a, "Disabled")) ?
			    "disabled" : "active",
			    fleet_admin_int(a, "InstanceCount"),
			    fleet_admin_int(a, "UsesLeft"),
			    fleet_admin_int(a, "RegisteredCount") -
			    fleet_admin_int(a, "DeregisteredCount"),
			    fleet_admin_str(a, "ExpiredTime"),
			    fleet_admin_str(a, "IpAddressRange"),
			    fleet_admin_str(a, "InstanceName"));
	}
	json_decref(all);
	return 0;
}

int
fleet_admin_activation(const struct fleet_admin_opts *o, int argc,
    char **argv)
{
	json_t *out;
	int del;

	if (argc == 1 && strcmp(argv[0], "create") == 0)
		return fleet_admin_act_create(o);
	if (argc == 1 && strcmp(argv[0], "list") == 0)
		return fleet_admin_act_list(o);
	if (argc == 2 && ((del = strcmp(argv[0], "delete") == 0) ||
	    strcmp(argv[0], "disable") == 0)) {
		const char *kv[] = { "ActivationId", argv[1], NULL };

		if (fleet_admin_call(del ? "DeleteActivation" :
		    "DisableActivation", kv, &out) != 0)
			return 1;
		if (o->json)
			fleet_admin_print(json_object_get(out, "Activation"));
		else
			printf("%s %s\n", del ? "deleted" : "disabled",
			    argv[1]);
		json_decref(out);
		return 0;
	}
	log_warnx("usage: activation create|list|disable ID|delete ID "
	    "(see --help)");
	return 2;
}

static int
fleet_admin_inst_list(const struct fleet_admin_opts *o)
{
	json_t *all, *m;
	size_t i;

	if (fleet_admin_all("DescribeManagedInstances", "Instances",
	    &all) != 0)
		return 1;
	if (o->json)
		fleet_admin_print(all);
	else {
		printf("%-22s %-24s %-7s %-16s %-20s %s\n", "InstanceId",
		    "InstanceName", "Online", "IntranetIp", "Registered",
		    "MachineId");
		json_array_foreach(all, i, m)
			printf("%-22s %-24s %-7s %-16s %-20s %s\n",
			    fleet_admin_str(m, "InstanceId"),
			    fleet_admin_str(m, "InstanceName"),
			    json_is_true(json_object_get(m, "Connected")) ?
			    "yes" : "no", fleet_admin_str(m, "IntranetIp"),
			    fleet_admin_str(m, "RegistrationTime"),
			    fleet_admin_str(m, "MachineId"));
	}
	json_decref(all);
	return 0;
}

int
fleet_admin_instance(const struct fleet_admin_opts *o, int argc, char **argv)
{
	json_t *out;

	if (argc == 1 && strcmp(argv[0], "list") == 0)
		return fleet_admin_inst_list(o);
	if (argc == 3 && strcmp(argv[0], "rename") == 0) {
		const char *kv[] = { "InstanceId", argv[1], "InstanceName",
		    argv[2], NULL };

		if (fleet_admin_call("ModifyManagedInstance", kv, &out) != 0)
			return 1;
		printf("renamed %s to %s\n", argv[1], argv[2]);
		json_decref(out);
		return 0;
	}
	if (argc == 2 && strcmp(argv[0], "remove") == 0) {
		const char *kv[] = { "InstanceId", argv[1], NULL };

		if (fleet_admin_call("DeregisterManagedInstance", kv,
		    &out) != 0)
			return 1;
		if (o->json)
			fleet_admin_print(json_object_get(out, "Instance"));
		else
			printf("removed %s (its agent is refused from its "
			    "next poll on)\n", argv[1]);
		json_decref(out);
		return 0;
	}
	log_warnx("usage: instance list|rename ID NAME|remove ID (see --help)");
	return 2;
}
