/*
 * DescribeAuditEvents (a latchkey extension, docs/api.md, docs/audit.md):
 * the audit trail's events, newest first. An access key sees the events
 * it caused; one whose policy grants the action
 * "DescribeAuditEvents:all" (or every action, "*") sees all of them.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "api_int.h"
#include "audit.h"
#include "console.h"
#include "err.h"
#include "store.h"

struct audit_page {
	json_t	*list;
	int	 bad;
};

static int
audit_page_cb(void *arg, const struct store_audit_row *row)
{
	struct audit_page *p = arg;
	json_t *ev;

	if ((ev = json_loads(row->line, JSON_REJECT_DUPLICATES, NULL)) ==
	    NULL) {
		p->bad++;	/* altered beyond JSON: verify names it */
		return 0;
	}
	return json_array_append_new(p->list, ev) == 0 ? 0 : LK_ERR_ALLOC;
}

/* The events' filter from the parameters; -1 after api_error. */
static int
audit_query_params(struct api_req *req, struct store_audit_query *q,
    char *actor, size_t actorsize)
{
	const char *since = api_param(req, "Since");
	const char *op = CONSOLE_OPERATOR_PREFIX;
	long long off, size;

	memset(q, 0, sizeof(*q));
	q->instance_id = api_param(req, "InstanceId");
	q->username = api_param(req, "UserName");
	q->kind = api_param(req, "Kind");
	if (since != NULL && *since != '\0' && lk_time_parse(since,
	    &q->since) != 0)
		return api_error(req, 400, "InvalidParameter.Since", "Since is "
		    "a UTC time, YYYY-MM-DDThh:mm:ssZ.");
	if (cmd_pager_get(req, &off, &size) != 0)
		return -1;
	q->offset = off;
	q->limit = size;
	if (keys_policy_action(&req->policy, "DescribeAuditEvents:all"))
		return 0;
	if (strncmp(req->key_id, op, strlen(op)) == 0)
		snprintf(actor, actorsize, "operator:%s", req->key_id +
		    strlen(op));
	else
		snprintf(actor, actorsize, "key:%s", req->key_id);
	q->actor = actor;
	return 0;
}

int
api_describe_audit_events(struct api_req *req)
{
	struct store_audit_query q;
	struct audit_page p = { NULL, 0 };
	char actor[AUDIT_STR_MAX + 16];
	int64_t total = 0;
	json_t *wrap;
	int r;

	if (audit_query_params(req, &q, actor, sizeof(actor)) != 0)
		return -1;
	if ((p.list = json_array()) == NULL)
		return api_error(req, 500, "InternalError", "out of memory");
	if ((r = store_audit_query(&q, audit_page_cb, &p, &total)) != 0) {
		json_decref(p.list);
		return api_store_error(req, r, "audit events");
	}
	if ((wrap = json_pack("{s:o}", "AuditEvent", p.list)) == NULL)
		return api_error(req, 500, "InternalError", "out of memory");
	json_object_set_new(req->resp, "AuditEvents", wrap);
	cmd_pager_put(req->resp, q.offset, q.limit, total);
	return 0;
}
