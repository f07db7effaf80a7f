/*
 * POST /agent/v1/login (docs/agent-protocol.md): an agent reports logins
 * its sshd accepted with keys latchkey pushed; each becomes a "login"
 * audit event linked to the key.push event of the push that sent that
 * key (docs/audit.md, "The login").
 *
 * The body is the agent's word, and an agent is trusted only about its
 * own instance: every field is checked (agentlogin_parse, fuzzed by
 * tests/fuzz/fuzz_agentd.c), the instance is the caller's, and the link
 * is looked up here, never taken from the body.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agentd.h"
#include "audit.h"
#include "err.h"
#include "latchkeyd.h"
#include "log.h"
#include "sshkey.h"
#include "store.h"
#include "util.h"

#define AGENTLOGIN_PUSH_LOOK	50	/* key.push events looked through */

static int
agentlogin_str(const json_t *o, const char *key, char *buf, size_t size)
{
	const json_t *v = json_object_get(o, key);
	size_t n;

	if (!json_is_string(v) || (n = json_string_length(v)) == 0 ||
	    n >= size || memchr(json_string_value(v), '\0', n) != NULL)
		return LK_ERR_INVALID_FORMAT;
	memcpy(buf, json_string_value(v), n + 1);
	return 0;
}

static int
agentlogin_one(const json_t *o, struct agentlogin *l)
{
	unsigned char dig[LK_SSHKEY_DIGEST_LEN], a[16];
	char when[32];
	const json_t *port = json_object_get(o, "port");
	size_t i;

	memset(l, 0, sizeof(*l));
	if (!json_is_object(o) ||
	    agentlogin_str(o, "user", l->user, sizeof(l->user)) != 0 ||
	    lk_user_valid(l->user) != 0 ||
	    agentlogin_str(o, "fingerprint", l->fp, sizeof(l->fp)) != 0 ||
	    lk_sshkey_fp_parse(l->fp, dig) != 0 ||
	    agentlogin_str(o, "key_type", l->keytype, sizeof(l->keytype)) != 0 ||
	    agentlogin_str(o, "from", l->from, sizeof(l->from)) != 0 ||
	    (inet_pton(AF_INET, l->from, a) != 1 &&
	    inet_pton(AF_INET6, l->from, a) != 1) ||
	    !json_is_integer(port) || json_integer_value(port) < 1 ||
	    json_integer_value(port) > 65535 ||
	    agentlogin_str(o, "time", when, sizeof(when)) != 0 ||
	    lk_time_parse(when, &l->time) != 0)
		return LK_ERR_INVALID_FORMAT;
	for (i = 0; l->keytype[i] != '\0'; i++)
		if (!((l->keytype[i] >= 'A' && l->keytype[i] <= 'Z') ||
		    (l->keytype[i] >= '0' && l->keytype[i] <= '9') ||
		    l->keytype[i] == '-'))
			return LK_ERR_INVALID_FORMAT;
	l->port = (int)json_integer_value(port);
	return 0;
}

int
agentlogin_parse(const json_t *in, struct agentlogin *v, size_t *np)
{
	const json_t *a = json_object_get(in, "logins"), *o;
	size_t i;

	*np = 0;
	if (!json_is_object(in) || !json_is_array(a) || json_array_size(a) ==
	    0 || json_array_size(a) > AGENTLOGIN_MAX)
		return LK_ERR_INVALID_FORMAT;
	json_array_foreach(a, i, o)
		if (agentlogin_one(o, &v[i]) != 0)
			return LK_ERR_INVALID_FORMAT;
	*np = json_array_size(a);
	return 0;
}

/* The newest key.push of this key for this user on this instance. */
struct agentlogin_push {
	const char	*fp;
	int64_t		 seq;
	json_t		*ev;		/* the push's event, when found */
};

static int
agentlogin_push_cb(void *arg, const struct store_audit_row *row)
{
	struct agentlogin_push *p = arg;
	json_t *ev;
	const char *fp;

	if ((ev = json_loads(row->line, 0, NULL)) == NULL)
		return 0;
	fp = json_string_value(json_object_get(json_object_get(ev, "detail"),
	    "fingerprint"));
	if (fp != NULL && strcmp(fp, p->fp) == 0) {
		p->seq = row->seq;
		p->ev = ev;
		return 1;
	}
	json_decref(ev);
	return 0;
}

static void
agentlogin_event(const char *id, const struct agentlogin *l)
{
	struct agentlogin_push p = { l->fp, 0, NULL };
	struct store_audit_query q;
	struct audit_ev ev;
	json_t *d, *detail, *actor;
	int64_t total;
	char when[32];
	int r;

	memset(&q, 0, sizeof(q));
	q.instance_id = id;
	q.username = l->user;
	q.kind = "key.push";
	q.limit = AGENTLOGIN_PUSH_LOOK;
	if ((r = store_audit_query(&q, agentlogin_push_cb, &p, &total)) != 0)
		log_warnx("agent login instance=%s push lookup error=\"%s\"",
		    id, lk_err(r));
	lk_time_iso(l->time, when, sizeof(when));
	d = json_pack("{s:s, s:s, s:s, s:i, s:s}", "fingerprint", l->fp,
	    "key_type", l->keytype, "from", l->from, "port", l->port,
	    "login_time", when);
	if (d != NULL && p.ev != NULL) {
		detail = json_object_get(p.ev, "detail");
		actor = json_object_get(p.ev, "actor");
		json_object_set_new(d, "push_seq", json_integer(p.seq));
		json_object_set(d, "invoke_id", json_object_get(detail,
		    "invoke_id"));
		json_object_set(d, "pushed_by", json_object_get(actor,
		    "access_key_id"));
		json_object_set(d, "push_time", json_object_get(p.ev, "time"));
	} else if (d != NULL)
		json_object_set_new(d, "push_seq", json_null());
	json_decref(p.ev);
	memset(&ev, 0, sizeof(ev));
	ev.kind = "login";
	ev.actor_type = AUDIT_ACTOR_AGENT;
	ev.actor = id;
	ev.instance = id;
	ev.user = l->user;
	ev.detail = d;
	(void)audit_emit(&ev);
	log_info("agent login instance=%s user=%s fp=%s from=%s push_seq=%lld",
	    id, l->user, l->fp, l->from, (long long)p.seq);
}

int
agentlogin_handle(const char *id, json_t *in, char **outp)
{
	struct agentlogin v[AGENTLOGIN_MAX];
	size_t i, n;

	if (agentlogin_parse(in, v, &n) != 0) {
		log_info("agent login refused instance=%s error=\"malformed "
		    "login\"", id);
		*outp = strdup("{\"error\":\"malformed login\"}");
		return 400;
	}
	for (i = 0; i < n; i++)
		agentlogin_event(id, &v[i]);
	*outp = strdup("{}");
	return 200;
}
