/*
 * The managed-instance lifecycle from the command line (latchkey(1)):
 * "latchkey activations" (DescribeActivations; --create, --disable,
 * --delete) and the rename and removal of "latchkey instances"
 * (ModifyManagedInstance, DeregisterManagedInstance). Every call goes
 * through the API (cli_api_do), so the access key's policy decides.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static void
fleet_act_print(json_t *list)
{
	char id[48], exp[32], range[48], name[64];
	json_t *a;
	size_t i;

	printf("%-36s %-8s %5s %5s %5s %-20s %-16s %s\n", "ACTIVATION ID",
	    "STATE", "COUNT", "LEFT", "NOW", "EXPIRES", "ADDRESSES", "NAME");
	json_array_foreach(list, i, a) {
		cli_safe(id, sizeof(id), cli_jstr(a, "ActivationId"));
		cli_safe(exp, sizeof(exp), cli_jstr(a, "ExpiredTime"));
		cli_safe(range, sizeof(range), cli_jstr(a, "IpAddressRange"));
		cli_safe(name, sizeof(name), cli_jstr(a, "InstanceName") &&
		    *cli_jstr(a, "InstanceName") ? cli_jstr(a,
		    "InstanceName") : "-");
		printf("%-36s %-8s %5lld %5lld %5lld %-20s %-16s %s\n", id,
		    json_is_true(json_object_get(a, "Disabled")) ? "disabled" :
		    "active", (long long)cli_jint(a, "InstanceCount", 0),
		    (long long)cli_jint(a, "UsesLeft", 0),
		    (long long)(cli_jint(a, "RegisteredCount", 0) -
		    cli_jint(a, "DeregisteredCount", 0)), exp, range, name);
	}
}

/* Every activation, page after page. */
static int
fleet_act_list(struct cli *c)
{
	struct cli_req q;
	json_t *all = json_array(), *resp = NULL, *out;
	long long page;
	int r = 0;

	for (page = 1; all != NULL; page++) {
		cli_req_init(&q);
		cli_req_addf(&q, "PageNumber", "%lld", page);
		cli_req_add(&q, "PageSize", "50");
		r = cli_api_do(c, "DescribeActivations", &q, &resp);
		cli_req_free(&q);
		if (r != 0)
			break;
		json_array_extend(all, json_object_get(resp, "ActivationList"));
		if (json_array_size(json_object_get(resp, "ActivationList")) ==
		    0 || (json_int_t)json_array_size(all) >=
		    cli_jint(resp, "TotalCount", 0)) {
			json_decref(resp);
			break;
		}
		json_decref(resp);
	}
	if (r == 0 && all != NULL) {
		if (c->output == CLI_OUT_JSON) {
			out = json_pack("{s:I, s:O}", "TotalCount",
			    (json_int_t)json_array_size(all), "ActivationList",
			    all);
			cli_json_print(out);
			json_decref(out);
		} else
			fleet_act_print(all);
	}
	json_decref(all);
	return r;
}

struct fleet_act_opts {
	const char	*count, *hours, *name, *range, *desc;
};

static int
fleet_act_create(struct cli *c, const struct fleet_act_opts *o)
{
	struct cli_req q;
	json_t *resp = NULL;
	int r;

	cli_req_init(&q);
	if (o->count != NULL)
		cli_req_add(&q, "InstanceCount", o->count);
	if (o->hours != NULL)
		cli_req_add(&q, "TimeToLiveInHours", o->hours);
	if (o->name != NULL)
		cli_req_add(&q, "InstanceName", o->name);
	if (o->range != NULL)
		cli_req_add(&q, "IpAddressRange", o->range);
	if (o->desc != NULL)
		cli_req_add(&q, "Description", o->desc);
	r = cli_api_do(c, "CreateActivation", &q, &resp);
	cli_req_free(&q);
	if (r != 0)
		return r;
	if (c->output == CLI_OUT_JSON)
		cli_json_print(resp);
	else
		printf("ActivationId:   %s\nActivationCode: %s\n(the code is "
		    "shown only now)\nOn a server: latchkey-agent register "
		    "--server URL --activation-id %s --activation-code %s\n",
		    cli_jstr(resp, "ActivationId"), cli_jstr(resp,
		    "ActivationCode"), cli_jstr(resp, "ActivationId"),
		    cli_jstr(resp, "ActivationCode"));
	json_decref(resp);
	return 0;
}

/* DisableActivation or DeleteActivation of id. */
static int
fleet_act_change(struct cli *c, const char *action, const char *id)
{
	struct cli_req q;
	json_t *resp = NULL;
	int r;

	cli_req_init(&q);
	cli_req_add(&q, "ActivationId", id);
	r = cli_api_do(c, action, &q, &resp);
	cli_req_free(&q);
	if (r != 0)
		return r;
	if (c->output == CLI_OUT_JSON)
		cli_json_print(json_object_get(resp, "Activation"));
	else
		printf("%s %s\n", strcmp(action, "DeleteActivation") == 0 ?
		    "deleted" : "disabled", id);
	json_decref(resp);
	return 0;
}

int
cli_activations_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "create", no_argument, NULL, 'C' },
		{ "count", required_argument, NULL, 'c' },
		{ "ttl-hours", required_argument, NULL, 't' },
		{ "instance-name", required_argument, NULL, 'n' },
		{ "ip-range", required_argument, NULL, 'r' },
		{ "description", required_argument, NULL, 'd' },
		{ "disable", required_argument, NULL, 'D' },
		{ "delete", required_argument, NULL, 'X' },
		{ NULL, 0, NULL, 0 }
	};
	struct fleet_act_opts o;
	const char *disable = NULL, *del = NULL;
	int ch, k, r, create = 0;

	memset(&o, 0, sizeof(o));
	optind = 0;
	while ((ch = getopt_long(argc, argv, "vhc:t:n:r:d:", opts,
	    NULL)) != -1) {
		if ((k = cli_common_opt(c, "activations", ch, &r)) < 0)
			return r;
		if (k > 0)
			continue;
		switch (ch) {
		case 'C': create = 1; break;
		case 'c': o.count = optarg; break;
		case 't': o.hours = optarg; break;
		case 'n': o.name = optarg; break;
		case 'r': o.range = optarg; break;
		case 'd': o.desc = optarg; break;
		case 'D': disable = optarg; break;
		case 'X': del = optarg; break;
		}
	}
	if (optind != argc || create + (disable != NULL) + (del != NULL) > 1 ||
	    (!create && (o.count || o.hours || o.name || o.range || o.desc))) {
		cli_usage_of("activations", 1);
		return CLI_EX_USAGE;
	}
	if ((r = cli_config_load(c)) != 0)
		return r;
	if (create)
		return fleet_act_create(c, &o);
	if (disable != NULL)
		return fleet_act_change(c, "DisableActivation", disable);
	if (del != NULL)
		return fleet_act_change(c, "DeleteActivation", del);
	return fleet_act_list(c);
}

/*
 * latchkey instances --rename INSTANCE NAME / --remove INSTANCE: the
 * instance by id, name or address (cli_inst_resolve), then the call.
 */
int
cli_fleet_instance(struct cli *c, const char *what, const char *new_name)
{
	struct cli_inst inst;
	struct cli_req q;
	json_t *resp = NULL;
	int r;

	memset(&inst, 0, sizeof(inst));
	if ((r = cli_config_load(c)) != 0 ||
	    (r = cli_inst_resolve(c, what, &inst)) != 0)
		return r;
	cli_req_init(&q);
	cli_req_add(&q, "InstanceId", inst.id);
	if (new_name != NULL)
		cli_req_add(&q, "InstanceName", new_name);
	r = cli_api_do(c, new_name != NULL ? "ModifyManagedInstance" :
	    "DeregisterManagedInstance", &q, &resp);
	cli_req_free(&q);
	if (r == 0) {
		if (c->output == CLI_OUT_JSON)
			cli_json_print(json_object_get(resp, "Instance"));
		else if (new_name != NULL)
			printf("renamed %s to %s\n", inst.id, new_name);
		else
			printf("removed %s (its agent stops at its next "
			    "poll)\n", inst.id);
	}
	json_decref(resp);
	cli_inst_free(&inst);
	return r;
}
