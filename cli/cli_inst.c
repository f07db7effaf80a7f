/*
 * Instances: what the user names (an id, a name or an address) turned into
 * one instance with DescribeInstances, the agent's state with
 * DescribeCloudAssistantStatus, and "latchkey instances".
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "util.h"

#define INST_PAGES_MAX	200	/* pages of 50 read before giving up */
#define INST_TAGS_COL	33	/* the TAGS column's bytes, with its NUL */

void
cli_inst_free(struct cli_inst *ip)
{
	free(ip->id);
	free(ip->name);
	free(ip->address);
	free(ip->status);
	memset(ip, 0, sizeof(*ip));
}

/* The first address of an Instance: private, else public; or NULL. */
static const char *
inst_first_address(json_t *inst)
{
	json_t *a = cli_jlist(json_object_get(inst, "VpcAttributes"),
	    "PrivateIpAddress", "IpAddress");

	if (json_array_size(a) == 0)
		a = cli_jlist(inst, "PublicIpAddress", "IpAddress");
	return json_string_value(json_array_get(a, 0));
}

/* Whether addr is one of the Instance's addresses or its host name. */
int
cli_inst_has_address(json_t *inst, const char *addr)
{
	json_t *lists[2], *v;
	const char *h = cli_jstr(inst, "HostName");
	size_t i, k;

	lists[0] = cli_jlist(json_object_get(inst, "VpcAttributes"),
	    "PrivateIpAddress", "IpAddress");
	lists[1] = cli_jlist(inst, "PublicIpAddress", "IpAddress");
	for (k = 0; k < 2; k++)
		json_array_foreach(lists[k], i, v)
			if (json_is_string(v) &&
			    strcmp(json_string_value(v), addr) == 0)
				return 1;
	return h != NULL && strcmp(h, addr) == 0;
}

int
cli_inst_list(struct cli *c, const char *name, const char *status,
    json_t **listp)
{
	return cli_inst_list_tagged(c, name, status, NULL, listp);
}

/*
 * Every instance the key may see (optionally only those named like name,
 * in status, or with every tag of tags), page by page, into a new array
 * *listp.
 */
int
cli_inst_list_tagged(struct cli *c, const char *name, const char *status,
    const struct cli_tags *tags, json_t **listp)
{
	struct cli_req q;
	json_t *resp = NULL, *list, *page, *v;
	json_int_t total;
	size_t i, got;
	int pageno, r = 0;

	if ((list = json_array()) == NULL)
		return CLI_EX_LOCAL;
	for (pageno = 1; pageno <= INST_PAGES_MAX; pageno++) {
		cli_req_init(&q);
		cli_req_addf(&q, "PageNumber", "%d", pageno);
		cli_req_addf(&q, "PageSize", "%d", CLI_PAGE_SIZE);
		if (name != NULL)
			cli_req_add(&q, "InstanceName", name);
		if (status != NULL)
			cli_req_add(&q, "Status", status);
		if (tags != NULL)
			cli_tag_params(&q, tags);
		r = cli_api_do(c, "DescribeInstances", &q, &resp);
		cli_req_free(&q);
		if (r != 0)
			break;
		page = cli_jlist(resp, "Instances", "Instance");
		total = cli_jint(resp, "TotalCount", 0);
		got = json_array_size(page);
		json_array_foreach(page, i, v)
			json_array_append(list, v);
		/* page is resp's: read nothing of it after this. */
		json_decref(resp);
		resp = NULL;
		if (got == 0 || (json_int_t)json_array_size(list) >= total)
			break;
	}
	if (r != 0) {
		json_decref(list);
		return r;
	}
	*listp = list;
	return 0;
}

/* The one Instance with this id, or none (*instp NULL). */
static int
inst_by_id(struct cli *c, const char *id, json_t **instp)
{
	struct cli_req q;
	json_t *resp = NULL, *ids;
	char *text;
	int r;

	*instp = NULL;
	if ((ids = json_pack("[s]", id)) == NULL ||
	    (text = json_dumps(ids, JSON_COMPACT)) == NULL) {
		json_decref(ids);
		return CLI_EX_LOCAL;
	}
	json_decref(ids);
	cli_req_init(&q);
	cli_req_add(&q, "InstanceIds", text);
	free(text);
	r = cli_api_do(c, "DescribeInstances", &q, &resp);
	cli_req_free(&q);
	if (r == 0) {
		*instp = json_array_get(cli_jlist(resp, "Instances", "Instance"),
		    0);
		json_incref(*instp);
	}
	json_decref(resp);
	return r;
}

/* The Instances whose name, or (byaddr) address, is exactly what. */
static int
inst_matching(struct cli *c, const char *what, int byaddr, json_t **matchp)
{
	json_t *list = NULL, *v;
	const char *n;
	size_t i;
	int r;

	*matchp = NULL;
	/* A name with glob characters is matched exactly, here, below. */
	if ((r = cli_inst_list(c, byaddr || strpbrk(what, "*?[") != NULL ?
	    NULL : what, NULL, &list)) != 0)
		return r;
	if ((*matchp = json_array()) == NULL) {
		json_decref(list);
		return CLI_EX_LOCAL;
	}
	json_array_foreach(list, i, v) {
		n = cli_jstr(v, "InstanceName");
		if (byaddr ? cli_inst_has_address(v, what) :
		    n != NULL && strcmp(n, what) == 0)
			json_array_append(*matchp, v);
	}
	json_decref(list);
	return 0;
}

/* Fills *ip from a DescribeInstances Instance (address: NULL, its own). */
int
cli_inst_from(json_t *inst, const char *address, struct cli_inst *ip)
{
	const char *id = cli_jstr(inst, "InstanceId"),
	    *name = cli_jstr(inst, "InstanceName"),
	    *status = cli_jstr(inst, "Status");

	if (address == NULL)
		address = inst_first_address(inst);
	if (id == NULL) {
		cli_warn("DescribeInstances: an instance without InstanceId");
		return CLI_EX_API;
	}
	if ((ip->id = strdup(id)) == NULL ||
	    (ip->name = strdup(name ? name : "")) == NULL ||
	    (ip->status = strdup(status ? status : "")) == NULL ||
	    (address != NULL && (ip->address = strdup(address)) == NULL)) {
		cli_inst_free(ip);
		return CLI_EX_LOCAL;
	}
	return 0;
}

/* Says that what matched several instances. */
static int
inst_ambiguous(struct cli *c, const char *what, json_t *match)
{
	char ids[512] = "";
	size_t i, off = 0;
	json_t *v;

	json_array_foreach(match, i, v) {
		if (off < sizeof(ids))
			off += (size_t)snprintf(ids + off, sizeof(ids) - off,
			    "%s%s", i > 0 ? ", " : "", cli_jstr(v,
			    "InstanceId") ? cli_jstr(v, "InstanceId") : "?");
	}
	cli_warn("\"%s\" names %zu instances (%s); give an instance id",
	    what, json_array_size(match), ids);
	cli_json_error(c, "InstanceAmbiguous", "\"%s\" names %zu instances",
	    what, json_array_size(match));
	return CLI_EX_USAGE;
}

/*
 * Of several instances named alike, the one online (a server registered
 * anew leaves its old instance offline): match becomes that one, and
 * the user is told. -1 when none or several are online.
 */
static int
inst_prefer_online(struct cli *c, const char *what, json_t *match)
{
	json_t *v, *pick = NULL;
	const char *st;
	size_t i, online = 0;

	json_array_foreach(match, i, v)
		if ((st = cli_jstr(v, "Status")) != NULL &&
		    strcmp(st, "Running") == 0) {
			online++;
			pick = v;
		}
	if (online != 1 || cli_jstr(pick, "InstanceId") == NULL)
		return -1;
	if (c->output == CLI_OUT_TEXT)
		cli_warn("\"%s\" names %zu instances; using %s, the only one "
		    "online", what, json_array_size(match),
		    cli_jstr(pick, "InstanceId"));
	json_incref(pick);
	json_array_clear(match);
	json_array_append_new(match, pick);
	return 0;
}

/*
 * Resolves what: "i-..." is an instance id; otherwise an instance name,
 * and failing that an address (or host name) of one instance. Fills *ip;
 * when what was an address, that address is the one to connect to.
 */
int
cli_inst_resolve(struct cli *c, const char *what, struct cli_inst *ip)
{
	json_t *inst = NULL, *match = NULL;
	char safe[256];
	int r, pass;

	memset(ip, 0, sizeof(*ip));
	cli_safe(safe, sizeof(safe), what);
	if (*what == '\0') {
		cli_warn("an empty instance name");
		return CLI_EX_USAGE;
	}
	if (strncmp(what, "i-", 2) == 0) {
		if ((r = inst_by_id(c, what, &inst)) != 0)
			return r;
		if (inst != NULL) {
			r = cli_inst_from(inst, NULL, ip);
			json_decref(inst);
			return r;
		}
	}
	for (pass = 0; pass < 2; pass++) {
		if ((r = inst_matching(c, what, pass, &match)) != 0)
			return r;
		if (json_array_size(match) > 1 &&
		    inst_prefer_online(c, safe, match) != 0) {
			r = inst_ambiguous(c, safe, match);
			json_decref(match);
			return r;
		}
		if (json_array_size(match) == 1) {
			r = cli_inst_from(json_array_get(match, 0), pass ? what :
			    NULL, ip);
			json_decref(match);
			return r;
		}
		json_decref(match);
	}
	cli_warn("unknown instance \"%s\": no instance has that id, name or "
	    "address (or this access key may not see it; try 'latchkey "
	    "instances')", safe);
	cli_json_error(c, "InvalidInstance.NotFound", "unknown instance \"%s\"",
	    safe);
	return CLI_EX_API;
}

/*
 * Whether the agent of instance id is online (CloudAssistantStatus), and
 * its last heartbeat into seen.
 */
int
cli_inst_online(struct cli *c, const char *id, int *onlinep, char *seen,
    size_t seensize)
{
	struct cli_req q;
	json_t *resp = NULL, *st;
	const char *v;
	int r;

	*onlinep = 1;
	snprintf(seen, seensize, "unknown");
	cli_req_init(&q);
	cli_req_add(&q, "InstanceId.1", id);
	r = cli_api_do(c, "DescribeCloudAssistantStatus", &q, &resp);
	cli_req_free(&q);
	if (r != 0)
		return r;
	st = json_array_get(cli_jlist(resp, "InstanceCloudAssistantStatusSet",
	    "InstanceCloudAssistantStatus"), 0);
	if ((v = cli_jstr(st, "CloudAssistantStatus")) != NULL)
		*onlinep = strcmp(v, "true") == 0;
	if ((v = cli_jstr(st, "LastHeartbeatTime")) != NULL && *v != '\0')
		cli_safe(seen, seensize, v);
	json_decref(resp);
	return 0;
}

/* The table; with_tags: a TAGS column before OS. */
static void
inst_print(json_t *list, int with_tags)
{
	json_t *v;
	size_t i;
	char id[64], name[64], st[16], addr[64], os[64], tags[INST_TAGS_COL];

	printf("%-24s %-24s %-8s %-16s ", "INSTANCE ID", "NAME", "STATUS",
	    "ADDRESS");
	if (with_tags)
		printf("%-*s ", INST_TAGS_COL - 1, "TAGS");
	printf("OS\n");
	json_array_foreach(list, i, v) {
		const char *a = inst_first_address(v), *o = cli_jstr(v,
		    "OSName");

		cli_safe(id, sizeof(id), cli_jstr(v, "InstanceId") ?
		    cli_jstr(v, "InstanceId") : "-");
		cli_safe(name, sizeof(name), cli_jstr(v, "InstanceName") ?
		    cli_jstr(v, "InstanceName") : "-");
		cli_safe(st, sizeof(st), cli_jstr(v, "Status") ?
		    cli_jstr(v, "Status") : "-");
		cli_safe(addr, sizeof(addr), a ? a : "-");
		cli_safe(os, sizeof(os), o && *o ? o : "-");
		printf("%-24s %-24s %-8s %-16s ", id, name, st, addr);
		if (with_tags) {
			cli_tag_summary(v, tags, sizeof(tags));
			printf("%-*s ", INST_TAGS_COL - 1, tags);
		}
		printf("%s\n", os);
	}
}

int
cli_instances_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "name", required_argument, NULL, 'n' },
		{ "status", required_argument, NULL, 's' },
		{ "rename", required_argument, NULL, 'R' },
		{ "remove", required_argument, NULL, 'X' },
		{ "tag", required_argument, NULL, 't' },
		{ "tags", no_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 }
	};
	const char *name = NULL, *status = NULL, *rename = NULL, *rm = NULL;
	json_t *list = NULL, *out;
	struct cli_tags tags;
	int ch, k, r, with_tags = 0;

	memset(&tags, 0, sizeof(tags));
	optind = 0;
	while ((ch = getopt_long(argc, argv, "vhn:s:t:T", opts, NULL)) != -1) {
		if ((k = cli_common_opt(c, "instances", ch, &r)) < 0)
			return r;
		if (k > 0)
			continue;
		switch (ch) {
		case 'n': name = optarg; break;
		case 's': status = optarg; break;
		case 'R': rename = optarg; break;
		case 'X': rm = optarg; break;
		case 'T': with_tags = 1; break;
		case 't':
			if (cli_tag_parse(&tags, "--tag", optarg, 0) != 0) {
				cli_usage_of("instances", 1);
				return CLI_EX_USAGE;
			}
			break;
		}
	}
	if ((tags.n > 0 || with_tags) && (rename != NULL || rm != NULL)) {
		cli_usage_of("instances", 1);
		return CLI_EX_USAGE;
	}
	/* --rename INSTANCE NAME, --remove INSTANCE: cli_fleet.c. */
	if (rename != NULL && rm == NULL && optind + 1 == argc)
		return cli_fleet_instance(c, rename, argv[optind]);
	if (rm != NULL && rename == NULL && optind == argc)
		return cli_fleet_instance(c, rm, NULL);
	if (optind != argc || rename != NULL || rm != NULL) {
		cli_usage_of("instances", 1);
		return CLI_EX_USAGE;
	}
	if ((r = cli_config_load(c)) != 0 ||
	    (r = cli_inst_list_tagged(c, name, status, tags.n > 0 ? &tags :
	    NULL, &list)) != 0)
		return r;
	if (c->output == CLI_OUT_JSON) {
		out = json_pack("{s:I, s:O}", "TotalCount",
		    (json_int_t)json_array_size(list), "Instances", list);
		cli_json_print(out);
		json_decref(out);
	} else
		inst_print(list, with_tags);
	json_decref(list);
	return 0;
}

/* "45 s", "12 min", "5 h" or "3 days". */
static void
inst_ago(int64_t secs, char *buf, size_t size)
{
	if (secs < 120)
		snprintf(buf, size, "%lld s", (long long)secs);
	else if (secs < 120 * 60)
		snprintf(buf, size, "%lld min", (long long)(secs / 60));
	else if (secs < 48 * 3600)
		snprintf(buf, size, "%lld h", (long long)(secs / 3600));
	else
		snprintf(buf, size, "%lld days", (long long)(secs / 86400));
}

/*
 * Why an offline instance is offline, from its last heartbeat (seen, as
 * cli_inst_online() gives it), in words for "instance i-... is offline:
 * <why>". An agent is online while it was heard from in the last
 * CLI_ONLINE_WINDOW seconds (docs/agent-protocol.md), so one that is
 * offline sooner than that said goodbye (a clean stop); one never heard
 * from has a heartbeat of 0 (1970).
 */
void
cli_offline_why(const char *seen, char *buf, size_t size)
{
	int64_t t, ago;
	char n[32];

	if (lk_time_parse(seen, &t) != 0) {
		snprintf(buf, size, "its agent's last heartbeat is unknown");
		return;
	}
	if (t <= 0) {
		snprintf(buf, size, "its agent has not polled since it "
		    "last stopped, or never has");
		return;
	}
	ago = (int64_t)time(NULL) - t;
	inst_ago(ago < 0 ? 0 : ago, n, sizeof(n));
	if (ago < CLI_ONLINE_WINDOW)
		snprintf(buf, size, "its agent said goodbye %s ago (at %s)", n,
		    seen);
	else
		snprintf(buf, size, "its agent last polled %s ago (at %s)", n,
		    seen);
}

/* "instance i-... is offline: <why>; start latchkey-agent on it", said. */
void
cli_say_offline(struct cli *c, const char *id, const char *seen)
{
	char why[160];

	cli_offline_why(seen, why, sizeof(why));
	cli_warn("instance %s is offline: %s; start latchkey-agent on it "
	    "(systemctl start latchkey-agent)%s%s", id, why,
	    strstr(why, "goodbye") != NULL ? "" : " and check that it can "
	    "reach ", strstr(why, "goodbye") != NULL ? "" : c->prof.endpoint);
	cli_json_error(c, "ClientNotRunning", "instance %s is offline: %s", id,
	    why);
}
