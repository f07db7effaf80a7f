/*
 * The agent's upload of a shell session's recording (recording.h): a
 * hostile agent's body is checked as asciicast v2 (lib/cast.c) and
 * bounded before anything is stored, and it is stored only for a shell
 * session of the agent's own instance, once. Each stored recording is an
 * audit event "session.recording"; a refusal is one too, with its code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "cast.h"
#include "err.h"
#include "latchkeyd.h"
#include "log.h"
#include "recording.h"
#include "store.h"

#define RECORDING_PREFIX	"/agent/v1/recording/"
#define RECORDING_ID_MAX	47

uint64_t recording_max = LK_CAST_MAX_DEFAULT;

int
recording_is_upload(const char *path)
{
	return strncmp(path, RECORDING_PREFIX, strlen(RECORDING_PREFIX)) == 0;
}

static int
recording_answer(char **outp, int status, const char *msg)
{
	json_t *o = status == 200 ? json_pack("{s:b}", "stored", 1) :
	    json_pack("{s:s}", "error", msg);

	*outp = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return status;
}

/* The audit event: stored (code NULL) or refused with code. */
static void
recording_audit(const char *instance, const char *sid, size_t len,
    int truncated, const char *code, struct audit_batch *ab)
{
	struct audit_ev ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = "session.recording";
	ev.actor_type = AUDIT_ACTOR_AGENT;
	ev.actor = instance;
	ev.instance = instance;
	ev.code = code;
	ev.detail = json_pack("{s:o, s:I, s:b}", "session_id", audit_str(sid),
	    "bytes", (json_int_t)len, "truncated", truncated);
	if (ab != NULL)
		(void)audit_batch_add(ab, &ev);
	else
		(void)audit_emit(&ev);
}

static int
recording_refuse(const char *instance, const char *sid, size_t len,
    const char *code, const char *why, int status, char **outp)
{
	log_info("agent recording-refused instance=%s session=%.48s bytes=%zu "
	    "code=%s why=\"%s\"", instance, sid, len, code, why);
	recording_audit(instance, sid, len, 0, code, NULL);
	return recording_answer(outp, status, why);
}

/* A session id as latchkeyd makes them: "s-" and [0-9a-z]. */
static int
recording_id_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 3 && n <= RECORDING_ID_MAX && strncmp(s, "s-", 2) == 0 &&
	    strspn(s + 2, "0123456789abcdefghijklmnopqrstuvwxyz") == n - 2;
}

int
recording_upload(const char *instance, const char *rest, const char *query,
    const char *body, size_t bodylen, char **outp)
{
	struct store_rec_new n;
	struct lk_cast_info info;
	struct audit_batch ab = { NULL, 0 };
	char why[128];
	int created = 0, trunc, r;

	*outp = NULL;
	if (!recording_id_ok(rest))
		return recording_refuse(instance, "", bodylen,
		    "InvalidSessionId.Malformed", "not a session id", 400,
		    outp);
	if (bodylen > recording_max)
		return recording_refuse(instance, rest, bodylen,
		    "InvalidRecording.TooLarge", "over --recording-max", 413,
		    outp);
	if (body == NULL || lk_cast_check(body, bodylen, &info, why,
	    sizeof(why)) != 0)
		return recording_refuse(instance, rest, bodylen,
		    "InvalidRecording.Format", body == NULL ? "empty" : why,
		    400, outp);
	trunc = info.truncated || (query != NULL &&
	    strcmp(query, "truncated=1") == 0);
	memset(&n, 0, sizeof(n));
	n.session_id = rest;
	n.instance_id = instance;
	n.data = body;
	n.len = bodylen;
	n.truncated = trunc;
	n.now = lkd_now();
	recording_audit(instance, rest, bodylen, trunc, NULL, &ab);
	r = store_rec_put(lkd->db, &n, &created, audit_batch_write_tx, &ab);
	audit_batch_end(&ab, r == 0 && created);
	if (r == LK_ERR_NOT_FOUND)
		return recording_refuse(instance, rest, bodylen,
		    "InvalidSessionId.NotFound", "not a shell session of this "
		    "instance", 404, outp);
	if (r != 0) {
		log_warnx("agent recording-failed instance=%s session=%s "
		    "error=\"%s\"", instance, rest, lk_err(r));
		return recording_answer(outp, r == LK_ERR_UNAVAILABLE ? 503 :
		    500, r == LK_ERR_UNAVAILABLE ? "database unavailable" :
		    "internal error");
	}
	log_info("agent recording instance=%s session=%s bytes=%zu events=%llu "
	    "truncated=%d stored=%d", instance, rest, bodylen,
	    (unsigned long long)info.events, trunc, created);
	return recording_answer(outp, 200, NULL);
}
