/*
 * Tags from the command line: "latchkey tag" adds, replaces, removes and
 * lists the tags of instances and of your own commands (TagResources,
 * UntagResources, ListTagResources; docs/api.md, "Tags"), and the
 * KEY=VALUE arguments "latchkey instances --tag" filters with.
 *
 * Every argument is checked here against the API's rules before anything
 * is sent (a malformed one is a usage error, exit 2); what only the
 * server knows (more than 20 tags on a resource after the call, a key a
 * policy guards, an instance outside the key's policy) comes back as the
 * server's Code, exit 4, as every other command reports it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

#define TAG_PAGES_MAX	1000	/* ListTagResources pages of 50 */

/*
 * Whether s is a key (min 1) or a value (min 0) the API accepts: at most
 * CLI_TAG_TEXT_MAX bytes, no control character, no "http://" or
 * "https://"; a key does not start with "aliyun" or "acs:" either
 * (server/store_tag.c has the same rules). Returns NULL or why not.
 */
static const char *
tag_text_bad(const char *s, int is_key)
{
	size_t n = strlen(s), i;

	if (is_key && n == 0)
		return "an empty key";
	if (n > CLI_TAG_TEXT_MAX)
		return is_key ? "a key longer than 128 characters" :
		    "a value longer than 128 characters";
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "a control character";
	if (strstr(s, "http://") != NULL || strstr(s, "https://") != NULL)
		return "\"http://\" or \"https://\" (the API refuses them)";
	if (is_key && (strncmp(s, "aliyun", 6) == 0 ||
	    strncmp(s, "acs:", 4) == 0))
		return "a key starting with \"aliyun\" or \"acs:\" (reserved)";
	return NULL;
}

/*
 * Parses arg, "KEY=VALUE" (split at the first '='; VALUE may be empty)
 * or, when !need_value, "KEY" alone (value NULL: any value, in a filter),
 * into t's next slot; t keeps pointers into arg. Says what is wrong and
 * returns -1 for a malformed, repeated or 21st tag.
 */
int
cli_tag_parse(struct cli_tags *t, const char *what, char *arg, int need_value)
{
	char *eq = strchr(arg, '='), safe[64];
	const char *why;
	size_t i;

	cli_safe(safe, sizeof(safe), arg);
	if (t->n >= CLI_TAGS_MAX) {
		cli_warn("%s: at most %d tags", what, CLI_TAGS_MAX);
		return -1;
	}
	if (eq == NULL && need_value) {
		cli_warn("%s: \"%s\" is not KEY=VALUE (an empty value is "
		    "KEY=)", what, safe);
		return -1;
	}
	if (eq != NULL)
		*eq = '\0';
	if ((why = tag_text_bad(arg, 1)) != NULL ||
	    (eq != NULL && (why = tag_text_bad(eq + 1, 0)) != NULL)) {
		if (eq != NULL)
			*eq = '=';
		cli_warn("%s: \"%s\": %s", what, safe, why);
		return -1;
	}
	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].key, arg) == 0) {
			cli_warn("%s: the key \"%s\" is given twice", what,
			    t->v[i].key);
			if (eq != NULL)
				*eq = '=';
			return -1;
		}
	t->v[t->n].key = arg;
	t->v[t->n].value = eq != NULL ? eq + 1 : NULL;
	t->n++;
	return 0;
}

/* Tag.N.Key and Tag.N.Value of t (Value only when there is one). */
void
cli_tag_params(struct cli_req *q, const struct cli_tags *t)
{
	size_t i;
	char name[32];

	for (i = 0; i < t->n; i++) {
		snprintf(name, sizeof(name), "Tag.%zu.Key", i + 1);
		cli_req_add(q, name, t->v[i].key);
		if (t->v[i].value == NULL)
			continue;
		snprintf(name, sizeof(name), "Tag.%zu.Value", i + 1);
		cli_req_add(q, name, t->v[i].value);
	}
}

/* An Instance's or Command's Tags.Tag[] as "k=v,k2=v2" (cli_safe'd). */
void
cli_tag_summary(json_t *obj, char *buf, size_t size)
{
	json_t *list = cli_jlist(obj, "Tags", "Tag"), *t;
	char k[64], v[64];
	size_t i, off = 0;

	if (list == NULL)	/* DescribeManagedInstances: Tags[] */
		list = json_object_get(obj, "Tags");
	*buf = '\0';
	json_array_foreach(list, i, t) {
		cli_safe(k, sizeof(k), cli_jstr(t, "TagKey") ?
		    cli_jstr(t, "TagKey") : "?");
		cli_safe(v, sizeof(v), cli_jstr(t, "TagValue") ?
		    cli_jstr(t, "TagValue") : "");
		if (off < size)
			off += (size_t)snprintf(buf + off, size - off, "%s%s=%s",
			    i > 0 ? "," : "", k, v);
	}
	if (off >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
	if (*buf == '\0')
		snprintf(buf, size, "-");
}

struct tag_opts {
	int		 remove, all, list, command;
	const char	*type;		/* "instance" or "command" */
};

/* The resource as an id: an instance by id, name or address (*idp new). */
static int
tag_resource_id(struct cli *c, const struct tag_opts *o, const char *what,
    char **idp)
{
	if (!o->command)
		return cli_inst_id(c, what, idp);
	return (*idp = strdup(what)) != NULL ? 0 : CLI_EX_LOCAL;
}

/* TagResources: the tags t on the resource what. */
static int
tag_add(struct cli *c, const struct tag_opts *o, const char *what,
    const struct cli_tags *t)
{
	struct cli_req q;
	json_t *resp = NULL;
	char *id = NULL, k[64], v[64];
	size_t i;
	int r;

	if ((r = tag_resource_id(c, o, what, &id)) != 0)
		return r;
	cli_req_init(&q);
	cli_req_add(&q, "ResourceType", o->type);
	cli_req_add(&q, "ResourceId.1", id);
	cli_tag_params(&q, t);
	r = cli_api_do(c, "TagResources", &q, &resp);
	cli_req_free(&q);
	if (r == 0 && c->output == CLI_OUT_JSON)
		cli_json_print(resp);
	else if (r == 0) {
		printf("tagged %s:", id);
		for (i = 0; i < t->n; i++) {
			cli_safe(k, sizeof(k), t->v[i].key);
			cli_safe(v, sizeof(v), t->v[i].value);
			printf(" %s=%s", k, v);
		}
		printf("\n");
	}
	json_decref(resp);
	free(id);
	return r;
}

/* UntagResources: the keys (n of them), or every tag (o->all). */
static int
tag_remove(struct cli *c, const struct tag_opts *o, const char *what,
    const struct cli_tags *t)
{
	struct cli_req q;
	json_t *resp = NULL;
	char *id = NULL, name[32];
	size_t i;
	int r;

	if ((r = tag_resource_id(c, o, what, &id)) != 0)
		return r;
	cli_req_init(&q);
	cli_req_add(&q, "ResourceType", o->type);
	cli_req_add(&q, "ResourceId.1", id);
	if (o->all)
		cli_req_add(&q, "All", "true");
	for (i = 0; i < t->n; i++) {
		snprintf(name, sizeof(name), "TagKey.%zu", i + 1);
		cli_req_add(&q, name, t->v[i].key);
	}
	r = cli_api_do(c, "UntagResources", &q, &resp);
	cli_req_free(&q);
	if (r == 0 && c->output == CLI_OUT_JSON)
		cli_json_print(resp);
	else if (r == 0 && o->all)
		printf("removed every tag of %s\n", id);
	else if (r == 0) {
		printf("untagged %s:", id);
		for (i = 0; i < t->n; i++) {
			cli_safe(name, sizeof(name), t->v[i].key);
			printf(" %s", name);
		}
		printf("\n");
	}
	json_decref(resp);
	free(id);
	return r;
}

static void
tag_print(const struct tag_opts *o, json_t *rows)
{
	char id[64], k[136], v[136];
	json_t *t;
	size_t i;

	printf("%-24s %-24s %s\n", o->command ? "COMMAND ID" : "INSTANCE ID",
	    "KEY", "VALUE");
	json_array_foreach(rows, i, t) {
		cli_safe(id, sizeof(id), cli_jstr(t, "ResourceId") ?
		    cli_jstr(t, "ResourceId") : "-");
		cli_safe(k, sizeof(k), cli_jstr(t, "TagKey") ?
		    cli_jstr(t, "TagKey") : "-");
		cli_safe(v, sizeof(v), cli_jstr(t, "TagValue") ?
		    cli_jstr(t, "TagValue") : "");
		printf("%-24s %-24s %s\n", id, k, v);
	}
}

/* ListTagResources of the resources whats (n; none: all), every page. */
static int
tag_list(struct cli *c, const struct tag_opts *o, char **whats, int n)
{
	struct cli_req q;
	json_t *rows = NULL, *resp = NULL, *out;
	char *ids[CLI_TAG_IDS_MAX], *tok = NULL, name[32];
	const char *next;
	int i, page, r = 0;

	memset(ids, 0, sizeof(ids));
	for (i = 0; i < n && r == 0; i++)
		r = tag_resource_id(c, o, whats[i], &ids[i]);
	if (r == 0 && (rows = json_array()) == NULL)
		r = CLI_EX_LOCAL;
	for (page = 0; r == 0 && page < TAG_PAGES_MAX; page++) {
		cli_req_init(&q);
		cli_req_add(&q, "ResourceType", o->type);
		for (i = 0; i < n; i++) {
			snprintf(name, sizeof(name), "ResourceId.%d", i + 1);
			cli_req_add(&q, name, ids[i]);
		}
		if (tok != NULL)
			cli_req_add(&q, "NextToken", tok);
		r = cli_api_do(c, "ListTagResources", &q, &resp);
		cli_req_free(&q);
		if (r != 0)
			break;
		json_array_extend(rows, cli_jlist(resp, "TagResources",
		    "TagResource"));
		free(tok);
		tok = NULL;
		next = cli_jstr(resp, "NextToken");
		if (next != NULL && *next != '\0' &&
		    (tok = strdup(next)) == NULL)
			r = CLI_EX_LOCAL;
		json_decref(resp);
		resp = NULL;
		if (tok == NULL)
			break;
	}
	if (r == 0 && c->output == CLI_OUT_JSON) {
		out = json_pack("{s:{s:O}}", "TagResources", "TagResource",
		    rows);
		cli_json_print(out);
		json_decref(out);
	} else if (r == 0)
		tag_print(o, rows);
	json_decref(rows);
	free(tok);
	for (i = 0; i < n; i++)
		free(ids[i]);
	return r;
}

/* The arguments' checks, before anything is sent; -1 after a message. */
static int
tag_check_args(const struct tag_opts *o, int argc, char **argv,
    struct cli_tags *t)
{
	int i;

	if (o->list + o->remove > 1 || (o->all && !o->remove))
		return -1;
	if (o->list) {
		if (argc > CLI_TAG_IDS_MAX) {
			cli_warn("tag --list: at most %d resources",
			    CLI_TAG_IDS_MAX);
			return -1;
		}
		return 0;
	}
	if (argc < 1 || (o->all && argc != 1) ||
	    (!o->all && argc < 2))
		return -1;
	for (i = 1; i < argc; i++)
		if (cli_tag_parse(t, o->remove ? "tag --remove" : "tag",
		    argv[i], !o->remove) != 0)
			return -1;
		else if (o->remove && t->v[t->n - 1].value != NULL) {
			cli_warn("tag --remove: give keys, not \"KEY=VALUE\"");
			return -1;
		}
	return 0;
}

int
cli_tag_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "remove", no_argument, NULL, 'r' },
		{ "all", no_argument, NULL, 'a' },
		{ "list", no_argument, NULL, 'L' },
		{ "command", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	struct tag_opts o;
	struct cli_tags t;
	int ch, k, r;

	memset(&o, 0, sizeof(o));
	memset(&t, 0, sizeof(t));
	optind = 0;
	while ((ch = getopt_long(argc, argv, "vhraLc", opts, NULL)) != -1) {
		if ((k = cli_common_opt(c, "tag", ch, &r)) < 0)
			return r;
		if (k > 0)
			continue;
		switch (ch) {
		case 'r': o.remove = 1; break;
		case 'a': o.all = 1; break;
		case 'L': o.list = 1; break;
		case 'c': o.command = 1; break;
		}
	}
	o.type = o.command ? "command" : "instance";
	if (tag_check_args(&o, argc - optind, argv + optind, &t) != 0) {
		cli_usage_of("tag", 1);
		return CLI_EX_USAGE;
	}
	if ((r = cli_config_load(c)) != 0)
		return r;
	if (o.list)
		return tag_list(c, &o, argv + optind, argc - optind);
	if (o.remove)
		return tag_remove(c, &o, argv[optind], &t);
	return tag_add(c, &o, argv[optind], &t);
}
