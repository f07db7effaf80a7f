/*
 * latchkey audit: the audit trail's events (DescribeAuditEvents, a
 * latchkey extension; docs/audit.md), newest first. An access key sees
 * the events it caused unless its policy grants more.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "util.h"

#define AUDIT_LIST_DEFAULT	20

/* --since: a UTC time, or an age: N followed by s, m, h or d. */
static int
audit_since(const char *s, char *out, size_t outsize)
{
	static const struct { char unit; long long mult; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	char num[24];
	size_t len = strlen(s), i;
	long long n;
	int64_t t;

	if (lk_time_parse(s, &t) == 0) {
		snprintf(out, outsize, "%s", s);
		return 0;
	}
	if (len < 2 || len >= sizeof(num))
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (s[len - 1] != units[i].unit)
			continue;
		memcpy(num, s, len - 1);
		num[len - 1] = '\0';
		if (lk_parse_ll(num, 0, 3650LL * 86400 / units[i].mult,
		    &n) != 0)
			return -1;
		lk_time_iso((int64_t)time(NULL) - n * units[i].mult, out,
		    outsize);
		return 0;
	}
	return -1;
}

/* "key:LTAI..." style, for one line. */
static void
audit_actor_text(json_t *actor, char *buf, size_t size)
{
	const char *k;
	json_t *v;
	char safe[160];

	snprintf(buf, size, "-");
	json_object_foreach(actor, k, v) {
		cli_safe(safe, sizeof(safe), json_is_string(v) ?
		    json_string_value(v) : "");
		snprintf(buf, size, "%s:%s", strcmp(k, "access_key_id") == 0 ?
		    "key" : k, safe);
		break;
	}
}

static void
audit_print(json_t *list)
{
	char actor[200], inst[80], user[80], target[170], detail[400], *d;
	size_t i;
	json_t *ev, *t;

	printf("%-24s %-18s %-8s %-30s %-22s %s\n", "Time", "Kind", "Outcome",
	    "Actor", "Target", "Detail");
	json_array_foreach(list, i, ev) {
		audit_actor_text(json_object_get(ev, "actor"), actor,
		    sizeof(actor));
		t = json_object_get(ev, "target");
		cli_safe(inst, sizeof(inst), cli_jstr(t, "instance"));
		cli_safe(user, sizeof(user), cli_jstr(t, "user"));
		d = json_dumps(json_object_get(ev, "detail"), JSON_COMPACT |
		    JSON_PRESERVE_ORDER);
		cli_safe(detail, sizeof(detail), d ? d : "");
		free(d);
		snprintf(target, sizeof(target), "%s%s%s", user, *user ? "@" :
		    "", *inst ? inst : "-");
		printf("%-24s %-18s %-8s %-30s %-22s %s\n",
		    cli_jstr(ev, "time"), cli_jstr(ev, "kind"),
		    json_object_get(ev, "code") ? cli_jstr(ev, "code") :
		    cli_jstr(ev, "outcome"), actor, target, detail);
	}
}

int
cli_audit_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "instance", required_argument, NULL, 'i' },
		{ "user", required_argument, NULL, 'u' },
		{ "since", required_argument, NULL, 's' },
		{ "kind", required_argument, NULL, 'k' },
		{ "max", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_req q;
	struct cli_inst inst;
	const char *instance = NULL, *user = NULL, *kind = NULL;
	char since[40] = "";
	json_t *resp = NULL, *list, *o;
	long long max = AUDIT_LIST_DEFAULT;
	int ch, k, r;

	memset(&inst, 0, sizeof(inst));
	optind = 0;
	while ((ch = getopt_long(argc, argv, "vhi:u:s:k:m:", opts, NULL)) !=
	    -1) {
		if ((k = cli_common_opt(c, "audit", ch, &r)) < 0)
			return r;
		if (k > 0)
			continue;
		switch (ch) {
		case 'i': instance = optarg; break;
		case 'u': user = optarg; break;
		case 'k': kind = optarg; break;
		case 's':
			if (audit_since(optarg, since, sizeof(since)) != 0) {
				cli_warn("--since: a UTC time "
				    "(YYYY-MM-DDThh:mm:ssZ) or an age (30m, "
				    "2h, 7d)");
				return CLI_EX_USAGE;
			}
			break;
		case 'm':
			if (lk_parse_ll(optarg, 1, CLI_PAGE_SIZE, &max) != 0) {
				cli_warn("--max: 1 to %d", CLI_PAGE_SIZE);
				return CLI_EX_USAGE;
			}
			break;
		}
	}
	if (optind != argc) {
		cli_usage_of("audit", 1);
		return CLI_EX_USAGE;
	}
	if ((r = cli_config_load(c)) != 0)
		return r;
	/* An id is taken as it is: the instance may be gone by now. */
	if (instance != NULL && strncmp(instance, "i-", 2) != 0 &&
	    (r = cli_inst_resolve(c, instance, &inst)) != 0)
		return r;
	cli_req_init(&q);
	cli_req_addf(&q, "PageSize", "%lld", max);
	if (instance != NULL)
		cli_req_add(&q, "InstanceId", inst.id ? inst.id : instance);
	if (user != NULL)
		cli_req_add(&q, "UserName", user);
	if (kind != NULL)
		cli_req_add(&q, "Kind", kind);
	if (since[0] != '\0')
		cli_req_add(&q, "Since", since);
	r = cli_api_do(c, "DescribeAuditEvents", &q, &resp);
	cli_req_free(&q);
	cli_inst_free(&inst);
	if (r != 0)
		return r;
	list = cli_jlist(resp, "AuditEvents", "AuditEvent");
	if (c->output == CLI_OUT_JSON) {
		o = json_pack("{s:I, s:O}", "TotalCount", cli_jint(resp,
		    "TotalCount", 0), "AuditEvents", list ? list :
		    json_array());
		cli_json_print(o);
		json_decref(o);
	} else if (list != NULL)
		audit_print(list);
	json_decref(resp);
	return 0;
}
