/*
 * Agent endpoints (docs/agent-protocol.md). A long poll that finds no
 * work is parked (longpoll.c) with its connection suspended, holding no
 * thread, and comes back here when work is committed for its instance,
 * when its wait is over, or when a newer poll of the instance begins; the
 * agent's socket is checked before tasks are handed out, so a poll left
 * behind by an agent that went away never takes a task.
 *
 * Tasks are handed out with fair shares of the agent's AGENTD_TASK_SLOTS
 * (docs/threading.md): key pushes (the public send-key command) may use
 * every slot; other tasks leave AGENTD_PUSH_RESERVED free for pushes, and
 * one caller's other tasks take at most AGENTD_PER_OWNER slots. A task
 * over a share stays Pending until a slot frees.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "agentauth.h"
#include "agentd.h"
#include "audit.h"
#include "b64.h"
#include "err.h"
#include "fleet.h"
#include "heartbeat.h"
#include "hostca.h"
#include "hostkeys.h"
#include "latchkeyd.h"
#include "log.h"
#include "longpoll.h"
#include "metrics.h"
#include "notify.h"
#include "recording.h"
#include "relay.h"
#include "sig.h"
#include "store.h"

#define AGENTD_WAIT_DEFAULT	25
#define AGENTD_WAIT_MAX		30
#define AGENTD_OUTPUT_MAX	(24 * 1024)
#define AGENTD_STR_MAX		255
#define AGENTD_ADDRS_MAX	32
#define AGENTD_PORTS_MAX	64
#define AGENTD_DEAD_AFTER	90	/* a Running task's agent is gone */
#define AGENTD_WATCH_EVERY	5	/* seconds, in ticks of the flush */
#define AGENTD_HEX		"0123456789abcdef"
/* Tasks per poll: scripts are at most ~25 KiB, so a batch stays small. */
#define AGENTD_BATCH		16
/* The agent's AGENT_TASKS_MAX (agent/agent_task.c): tasks at once. */
#define AGENTD_TASK_SLOTS	128
#define AGENTD_PUSH_RESERVED	16
#define AGENTD_PER_OWNER	64
/* Latchkey-Running-Tasks: at most this many ids of at most ID_MAX bytes. */
#define AGENTD_RUNNING_MAX	128
#define AGENTD_RUNNING_ID_MAX	96
/* Seconds an idle agent's polls may skip the database (agentd_take). */
#define AGENTD_RECHECK		60

static int agentd_gone(const char *id, char **outp);

static pthread_mutex_t agentd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t agentd_cond;	/* the watchdog's, and quitting */
static pthread_t agentd_watch_thread;
static int agentd_watching, agentd_quit;

void
agentd_wake(const char *instance_id)
{
	notify_wake_many(&instance_id, 1);
}

void
agentd_wake_many(const char *const *ids, size_t n)
{
	notify_wake_many(ids, n);
}

static char *
agentd_json(json_t *v)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(v);
	return s;
}

static int
agentd_fail(char **outp, int status, const char *msg)
{
	*outp = agentd_json(json_pack("{s:s}", "error", msg));
	return status;
}

/*
 * A store error as an answer: 503 when the database cannot be reached
 * (nothing changed; the agent tries again), else 500.
 */
static int
agentd_store_fail(char **outp, int r)
{
	if (r == LK_ERR_UNAVAILABLE)
		return agentd_fail(outp, 503, "database unavailable");
	return agentd_fail(outp, 500, "internal error");
}

/* A bounded printable string field of a JSON object, or NULL. */
static const char *
agentd_str(json_t *o, const char *key, size_t max)
{
	const char *s = json_string_value(json_object_get(o, key));
	size_t i;

	if (s == NULL || strlen(s) > max)
		return NULL;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return NULL;
	return s;
}

static int
agentd_facts(json_t *o, const char **host, const char **os,
    const char **ver, char **addrs)
{
	json_t *a = json_object_get(o, "addresses"), *v;
	size_t i;

	*addrs = NULL;
	if ((*host = agentd_str(o, "hostname", AGENTD_STR_MAX)) == NULL ||
	    (*os = agentd_str(o, "os", AGENTD_STR_MAX)) == NULL ||
	    (*ver = agentd_str(o, "version", 64)) == NULL ||
	    !json_is_array(a) || json_array_size(a) > AGENTD_ADDRS_MAX)
		return LK_ERR_INVALID_FORMAT;
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);

		if (s == NULL || strlen(s) > 64 ||
		    strspn(s, "0123456789abcdefABCDEF.:%") != strlen(s))
			return LK_ERR_INVALID_FORMAT;
	}
	*addrs = json_dumps(a, JSON_COMPACT);
	return *addrs ? 0 : LK_ERR_ALLOC;
}

/*
 * The request's "host_keys" into *keysp and *np (hostkeys.c). Returns 0, or
 * the status of the answer it wrote into *outp: 400 {"error":"malformed
 * host_keys"} for any bad key, so nothing of the request is stored.
 */
static int
agentd_hostkeys(json_t *in, struct store_hostkey **keysp, size_t *np,
    char **outp)
{
	int r;

	if ((r = hostkeys_parse(json_object_get(in, "host_keys"), keysp,
	    np)) == 0)
		return 0;
	if (r == LK_ERR_ALLOC)
		return agentd_fail(outp, 500, "internal error");
	return agentd_fail(outp, 400, "malformed host_keys");
}

/*
 * A refused registration: latchkeyd's log names the reason; the agent
 * learns it only once it has shown the right code, so that a caller
 * without one cannot tell a wrong code from an unknown id, nor learn
 * anything of an activation it does not hold.
 */
static int
agentd_register_refused(const char *act, const char *host, const char *peer,
    enum store_reg_why why, char **outp)
{
	const char *reason = store_reg_why_str(why), *msg;
	struct audit_ev ev;

	log_info("agent register refused activation=%.64s host=%.64s "
	    "peer=%s reason=%s", act, host, peer, reason);
	memset(&ev, 0, sizeof(ev));
	ev.kind = "agent.register";
	ev.actor_type = AUDIT_ACTOR_AGENT;
	ev.code = "ActivationRefused";
	ev.detail = json_pack("{s:o, s:o, s:s}", "activation_id",
	    audit_str(act), "hostname", audit_str(host), "reason", reason);
	(void)audit_emit(&ev);
	switch (why) {
	case STORE_REG_DISABLED:
		msg = "the activation was disabled";
		break;
	case STORE_REG_EXPIRED:
		msg = "the activation has expired";
		break;
	case STORE_REG_USED_UP:
		msg = "the activation has no registrations left";
		break;
	case STORE_REG_ADDRESS:
		msg = "this host's address is outside the activation's "
		    "IpAddressRange";
		break;
	default:
		reason = "wrong-id-or-code";
		msg = "no activation has this id and code";
		break;
	}
	*outp = agentd_json(json_pack("{s:s, s:s, s:s, s:s}", "error",
	    "activation refused", "reason", reason, "message", msg,
	    "address", why == STORE_REG_ADDRESS ? peer : ""));
	return 403;
}

/*
 * The instances a registration replaced are gone: their credentials are
 * forgotten here, and their polls (here or on another replica) woken to
 * be told so. Its events are written in the registration's transaction.
 */
static void
agentd_register_replaced(const struct store_agent_reg_out *out)
{
	size_t i;

	for (i = 0; i < out->nreplaced; i++) {
		agentauth_forget(out->replaced[i]);
		heartbeat_forget(out->replaced[i]);
		log_info("agent replaced instance=%s", out->replaced[i]);
	}
	if (out->nreplaced > 0)
		notify_wake_many((const char *const *)out->replaced,
		    out->nreplaced);
}

/* The registration's events, added before its transaction. */
static void
agentd_register_events(struct audit_batch *ab,
    const struct store_agent_reg *reg, const char *mid)
{
	struct audit_ev ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = "agent.register";
	ev.actor_type = AUDIT_ACTOR_AGENT;
	ev.actor = reg->id;
	ev.instance = reg->id;
	ev.detail = json_pack("{s:o, s:o, s:s}", "activation_id",
	    audit_str(reg->activation_id), "hostname",
	    audit_str(reg->hostname), "machine_id", mid);
	(void)audit_batch_add(ab, &ev);
}

static int
agentd_register(json_t *in, const char *peer, char **outp)
{
	struct store_agent_reg reg;
	struct store_agent_reg_out out;
	struct store_hostkey *keys = NULL;
	struct audit_batch ab = { NULL, 0 };
	const char *act, *code, *host, *os, *ver, *mid = "";
	char id[2 + 20 + 1], cred[44], hash[LK_SIG_V3_SIZE];
	char codehash[LK_SIG_V3_SIZE], *addrs = NULL;
	json_t *m = json_object_get(in, "machine_id");
	size_t nkeys = 0;
	int r;

	if ((act = agentd_str(in, "activation_id", 128)) == NULL ||
	    (code = agentd_str(in, "activation_code", 128)) == NULL ||
	    (m != NULL && !json_is_null(m) &&
	    !fleet_machine_id_valid(mid = json_string_value(m))) ||
	    agentd_facts(in, &host, &os, &ver, &addrs) != 0) {
		free(addrs);
		return agentd_fail(outp, 400, "malformed registration");
	}
	if (mid == NULL)
		mid = "";
	if ((r = agentd_hostkeys(in, &keys, &nkeys, outp)) != 0) {
		free(addrs);
		return r;
	}
	if (lkd_random_id("i-", 20, AGENTD_HEX, id, sizeof(id)) != 0 ||
	    lkd_random_id("", 43, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789-_", cred, sizeof(cred)) != 0 ||
	    lk_sig_sha256_hex(cred, strlen(cred), hash) != 0 ||
	    lk_sig_sha256_hex(code, strlen(code), codehash) != 0) {
		free(addrs);
		store_hostkeys_free(keys, nkeys);
		return agentd_fail(outp, 500, "internal error");
	}
	memset(&reg, 0, sizeof(reg));
	reg.activation_id = act;
	reg.code_hash = codehash;
	reg.id = id;
	reg.cred_hash = hash;
	reg.hostname = host;
	reg.os = os;
	reg.version = ver;
	reg.addresses = addrs;
	reg.hostkeys = keys;
	reg.nhostkeys = nkeys;
	reg.machine_id = mid;
	reg.peer = peer;
	reg.now = lkd_now();
	agentd_register_events(&ab, &reg, mid);
	reg.in_tx = audit_batch_write_tx;
	reg.in_tx_arg = &ab;
	r = store_agent_register(&reg, &out);
	audit_batch_end(&ab, r == 0);
	free(addrs);
	store_hostkeys_free(keys, nkeys);
	if (r != 0) {
		OPENSSL_cleanse(cred, sizeof(cred));
		if (r == LK_ERR_NOT_FOUND)
			r = agentd_register_refused(act, host, peer, out.why,
			    outp);
		else {
			log_info("agent register failed activation=%.64s "
			    "error=\"%s\"", act, lk_err(r));
			r = agentd_store_fail(outp, r);
		}
		store_agent_reg_out_free(&out);
		return r;
	}
	agentd_register_replaced(&out);
	log_info("agent registered instance=%s name=%s host=%s host_keys=%zu "
	    "machine_id=%s replaced=%zu", id, out.name, host, nkeys,
	    *mid ? mid : "-", out.nreplaced);
	*outp = agentd_json(json_pack("{s:s, s:s, s:s}", "instance_id", id,
	    "credential", cred, "instance_name", out.name));
	OPENSSL_cleanse(cred, sizeof(cred));
	store_agent_reg_out_free(&out);
	return 200;
}

/* "session_ports": the ports the agent lets sessions reach ([] if none). */
static int
agentd_ports(json_t *o, char **portsp)
{
	json_t *a = json_object_get(o, "session_ports"), *v;
	size_t i;

	*portsp = NULL;
	if (a == NULL) {
		*portsp = strdup("[]");
		return *portsp ? 0 : LK_ERR_ALLOC;
	}
	if (!json_is_array(a) || json_array_size(a) > AGENTD_PORTS_MAX)
		return LK_ERR_INVALID_FORMAT;
	json_array_foreach(a, i, v)
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 65535)
			return LK_ERR_INVALID_FORMAT;
	*portsp = json_dumps(a, JSON_COMPACT);
	return *portsp ? 0 : LK_ERR_ALLOC;
}

/*
 * With the host CA on (--host-ca): the certificates of the instance's
 * host keys as ans's "host_certificates" (hostca.c). A failure is logged
 * and the hello still answered, without them: the agent keeps what it
 * has installed.
 */
static void
agentd_hostcerts(const char *id, int64_t now, json_t *ans)
{
	json_t *certs = NULL;
	int r;

	if (!hostca_conf.on)
		return;
	if ((r = hostca_issue(id, now, &certs)) != 0 ||
	    json_object_set_new(ans, "host_certificates", certs) != 0)
		log_warnx("hostca issue instance=%s error=\"%s\"", id,
		    lk_err(r != 0 ? r : LK_ERR_ALLOC));
}

static int
agentd_hello(const char *id, json_t *in, char **outp)
{
	struct store_agent_hello hl;
	struct store_hostkey *keys = NULL;
	const char *host, *os, *ver;
	json_t *ans;
	char *addrs = NULL, *ports = NULL;
	json_t *clock = json_object_get(in, "clock_ms");
	int64_t skew = 0;
	size_t nkeys = 0;
	int r, known = 0;

	if ((clock != NULL && !json_is_integer(clock)) ||
	    agentd_facts(in, &host, &os, &ver, &addrs) != 0 ||
	    agentd_ports(in, &ports) != 0) {
		free(addrs);
		free(ports);
		return agentd_fail(outp, 400, "malformed hello");
	}
	if ((r = agentd_hostkeys(in, &keys, &nkeys, outp)) != 0) {
		log_info("agent hello refused instance=%s error=\"malformed "
		    "host_keys\"", id);
		free(addrs);
		free(ports);
		return r;
	}
	memset(&hl, 0, sizeof(hl));
	hl.id = id;
	hl.hostname = host;
	hl.os = os;
	hl.version = ver;
	hl.addresses = addrs;
	hl.ports = ports;
	hl.hostkeys = keys;
	hl.nhostkeys = nkeys;
	hl.now = lkd_now();
	r = store_agent_hello(&hl);
	free(addrs);
	free(ports);
	store_hostkeys_free(keys, nkeys);
	if (r != 0)
		return agentd_store_fail(outp, r);
	if (clock != NULL)
		known = agentskew_note(id, json_integer_value(clock), &skew) ==
		    0;
	if ((ans = json_object()) == NULL || (known && json_object_set_new(ans,
	    "clock_skew_ms", json_integer(skew)) != 0)) {
		json_decref(ans);
		return agentd_fail(outp, 500, "internal error");
	}
	agentd_hostcerts(id, hl.now, ans);
	*outp = agentd_json(ans);
	return *outp != NULL ? 200 : 500;
}

/*
 * A clean stop's last word: the instance is offline at once (last_seen
 * 0, as if it had never polled) instead of for the rest of the online
 * window, and the time is kept in goodbye for LastHeartbeatTime. The
 * next hello or poll brings it back. A poll of the instance still parked
 * is ended (superseded), so it cannot take a task and bring the instance
 * back online. The body is an object ({}).
 */
static int
agentd_goodbye(const char *id, json_t *in, char **outp)
{
	int r;

	if (!json_is_object(in))
		return agentd_fail(outp, 400, "malformed goodbye");
	heartbeat_forget(id);
	if ((r = store_agent_goodbye(id, lkd_now())) != 0)
		return agentd_store_fail(outp, r);
	(void)longpoll_begin(id);
	log_info("agent goodbye instance=%s", id);
	*outp = strdup("{}");
	return 200;
}

struct agentd_work {
	json_t	*tasks;
	json_t	*stops;
};

/* The slots an instance's running tasks hold, by caller (agentd_choose). */
struct agentd_shares {
	int	 total, pushes;
	size_t	 nowners, cap;
	struct {
		const char	*owner;
		int		 n;	/* tasks other than key pushes */
	} *owners;
};

static int *
agentd_owner_count(struct agentd_shares *sh, const char *owner)
{
	size_t i;

	for (i = 0; i < sh->nowners; i++)
		if (strcmp(sh->owners[i].owner, owner) == 0)
			return &sh->owners[i].n;
	if (sh->nowners == sh->cap)
		return NULL;
	sh->owners[i].owner = owner;
	sh->owners[i].n = 0;
	sh->nowners++;
	return &sh->owners[i].n;
}

/* Is the pending task c within its caller's share? Counts it if so. */
static int
agentd_share_ok(struct agentd_shares *sh, const struct store_agent_cand *c)
{
	int *cnt;

	if (sh->total >= AGENTD_TASK_SLOTS)
		return 0;
	if (c->push) {
		sh->total++;
		sh->pushes++;
		return 1;
	}
	if (sh->total - sh->pushes >= AGENTD_TASK_SLOTS - AGENTD_PUSH_RESERVED ||
	    (cnt = agentd_owner_count(sh, c->owner)) == NULL ||
	    *cnt >= AGENTD_PER_OWNER)
		return 0;
	(*cnt)++;
	sh->total++;
	return 1;
}

/*
 * store_agent_take's chooser: the pending tasks, oldest first, that fit
 * their shares, at most AGENTD_BATCH. Runs inside the hand-out's
 * transaction.
 */
static int
agentd_choose(void *arg, const struct store_agent_load *load, size_t nload,
    const struct store_agent_cand *cand, size_t ncand, int *take)
{
	struct agentd_shares sh;
	size_t i, handed = 0;
	int *cnt;

	(void)arg;
	memset(&sh, 0, sizeof(sh));
	sh.cap = nload + ncand;		/* owners: never more than this */
	if ((sh.owners = calloc(sh.cap + 1, sizeof(*sh.owners))) == NULL)
		return LK_ERR_ALLOC;
	for (i = 0; i < nload; i++) {
		sh.total += (int)load[i].n;
		if (load[i].push)
			sh.pushes += (int)load[i].n;
		else if ((cnt = agentd_owner_count(&sh, load[i].owner)) != NULL)
			*cnt += (int)load[i].n;
	}
	for (i = 0; i < ncand && handed < AGENTD_BATCH; i++)
		if (agentd_share_ok(&sh, &cand[i])) {
			take[i] = 1;
			handed++;
		}
	free(sh.owners);
	return 0;
}

/*
 * The poll's Latchkey-Running-Tasks (docs/agent-protocol.md, leases):
 * *runningp gets the ids joined by commas ("" for none), or NULL when the
 * header is absent. Ids are 1 to AGENTD_RUNNING_ID_MAX of [A-Za-z0-9:.-]
 * (they meet a LIKE pattern in the store: no wildcard may pass), spaces
 * around them are dropped; otherwise LK_ERR_INVALID_FORMAT.
 */
static int
agentd_running(const struct lk_sig_header *h, size_t nh, char **runningp)
{
	const char *v = NULL, *p, *e;
	char *out;
	size_t i, o = 0, n = 0, len;

	*runningp = NULL;
	for (i = 0; i < nh; i++)
		if (strcmp(h[i].name, "latchkey-running-tasks") == 0)
			v = h[i].value;
	if (v == NULL)
		return 0;
	if ((out = malloc(strlen(v) + 1)) == NULL)
		return LK_ERR_ALLOC;
	p = v + strspn(v, " \t");
	while (*p != '\0') {
		len = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789:.-");
		e = p + len;
		e += strspn(e, " \t");
		if (len == 0 || len > AGENTD_RUNNING_ID_MAX ||
		    ++n > AGENTD_RUNNING_MAX || (*e != ',' && *e != '\0') ||
		    (*e == ',' && e[1 + strspn(e + 1, " \t")] == '\0')) {
			free(out);
			return LK_ERR_INVALID_FORMAT;
		}
		if (o > 0)
			out[o++] = ',';
		memcpy(out + o, p, len);
		o += len;
		p = *e == ',' ? e + 1 + strspn(e + 1, " \t") : e;
	}
	out[o] = '\0';
	*runningp = out;
	return 0;
}

/*
 * Hands out the instance's pending tasks within their shares, and its
 * stop requests, once (store_agent_take), taking back first the tasks
 * whose lease ended (running: the agent's list, or NULL). A turn that
 * finds nothing only notes the heartbeat in memory (heartbeat.c), and
 * the next turns skip the database until something may have changed for
 * the instance (notify_clean; seq is its longpoll sequence, read before).
 */
static int
agentd_take(const char *id, const char *running, unsigned long seq,
    struct agentd_work *w)
{
	struct store_agent_work sw;
	const struct store_agent_task *t;
	int64_t now = lkd_now(), lease_due;
	size_t i;
	int r;

	if (notify_clean(id, seq, running, now)) {
		heartbeat_seen(id, now);
		return 0;
	}
	if ((r = store_agent_take(id, now, running, agentd_choose, NULL,
	    &sw)) != 0)
		goto out;
	if (sw.idle) {
		heartbeat_seen(id, now);
		/*
		 * Idle turns skip the database until something changes, but
		 * not for longer than AGENTD_RECHECK: an instance deregistered
		 * by another process (latchkeyd instance remove, which cannot
		 * wake this one's polls) is then found gone within that time.
		 */
		lease_due = sw.lease_due != 0 && sw.lease_due < now +
		    AGENTD_RECHECK ? sw.lease_due : now + AGENTD_RECHECK;
		notify_idle(id, seq, running, lease_due);
	} else
		notify_busy(id);
	for (i = 0; i < sw.ntasks; i++) {
		t = &sw.tasks[i];
		json_array_append_new(w->tasks, json_pack("{s:s, s:s, s:s, "
		    "s:s, s:s, s:s, s:I}", "task_id", t->task_id,
		    "invoke_id", t->invoke_id,
		    "command_type", t->command_type,
		    "content", t->content,
		    "username", t->username,
		    "working_dir", t->working_dir,
		    "timeout", (json_int_t)t->timeout));
	}
	for (i = 0; i < sw.nstops; i++)
		json_array_append_new(w->stops, json_string(sw.stops[i]));
 out:
	store_agent_work_free(&sw);
	return r;
}

static int
agentd_poll_answer(struct agentd_work *w, json_t *sess,
    const struct agentd_poll *p, char **outp)
{
	json_t *o;

	if (sess == NULL)
		sess = json_array();
	o = json_pack("{s:o, s:o, s:o}", "tasks", w->tasks, "stops", w->stops,
	    "sessions", sess);
	if (o != NULL && p->skew_known)
		json_object_set_new(o, "clock_skew_ms",
		    json_integer(p->skew_ms));
	*outp = agentd_json(o);
	return *outp != NULL ? 200 : 500;
}

/*
 * One turn of a long poll: answers it when there is work, when its wait
 * is over or when it was superseded; otherwise parks it (p->parked) to
 * come back on a wake-up (AGENTD_PARKED). AGENTD_GONE when the agent has
 * gone (the connection is closed without an answer).
 */
static int
agentd_poll(const char *id, const char *query, const char *running,
    struct agentd_poll *p, char **outp)
{
	struct agentd_work w;
	json_t *sess = NULL;
	long long wait = AGENTD_WAIT_DEFAULT;
	unsigned long seq;
	const char *q = strstr(query, "wait=");
	char num[8];
	int64_t clock, skew;
	int r, turns;

	if (p->gen == 0) {
		if (agentskew_query(query, &clock) != 0)
			return agentd_fail(outp, 400, "clock: milliseconds "
			    "since 1970");
		if (clock != 0 && agentskew_note(id, clock, &skew) == 0) {
			p->skew_ms = skew;
			p->skew_known = 1;
		}
		if (q != NULL) {
			snprintf(num, sizeof(num), "%.*s",
			    (int)strcspn(q + 5, "&"), q + 5);
			if (lk_parse_ll(num, 1, AGENTD_WAIT_MAX, &wait) != 0)
				return agentd_fail(outp, 400,
				    "wait: 1 to 30 seconds");
		}
		snprintf(p->id, sizeof(p->id), "%s", id);
		p->deadline = lk_now_ms() + wait * 1000;
		p->gen = longpoll_begin(id);
		(void)notify_route(id);	/* a failure: the safety net */
	}
	w.tasks = json_array();
	w.stops = json_array();
	for (turns = 0; turns < 8; turns++) {
		if (p->why == LONGPOLL_SUPERSEDED ||
		    longpoll_superseded(id, p->gen))
			break;
		if (lkd_peer_gone(p->fd)) {
			json_decref(w.tasks);
			json_decref(w.stops);
			return AGENTD_GONE;
		}
		seq = longpoll_seq(id);
		/*
		 * Sessions waiting for the agent wake its poll when they are
		 * announced (and the safety net finds them), so an idle turn
		 * skips this read as it skips the tasks' (notify_clean).
		 */
		if (!notify_clean(id, seq, running, lkd_now()) &&
		    (sess = relay_take(id)) != NULL)
			break;
		if ((r = agentd_take(id, running, seq, &w)) != 0) {
			json_decref(w.tasks);
			json_decref(w.stops);
			return r == LK_ERR_STATE ? agentd_gone(id, outp) :
			    agentd_store_fail(outp, r);
		}
		if (json_array_size(w.tasks) > 0 ||
		    json_array_size(w.stops) > 0 ||
		    p->why == LONGPOLL_EXPIRED || lk_now_ms() >= p->deadline)
			break;
		json_decref(w.tasks);
		json_decref(w.stops);
		w.tasks = w.stops = NULL;
		/* Once parked, p is not ours: it may come back at once. */
		if ((r = longpoll_park(id, p->gen, seq, p->deadline, p->fd,
		    p)) == 0)
			return AGENTD_PARKED;
		w.tasks = json_array();
		w.stops = json_array();
		if (r != LK_ERR_BUSY)
			break;	/* superseded or stopping: answer now */
	}
	return agentd_poll_answer(&w, sess, p, outp);
}

static const char *
agentd_status(const char *s)
{
	static const char *const ok[] = { "Success", "Failed", "Timeout",
	    "Stopped", "Error" };
	size_t i;

	for (i = 0; s != NULL && i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(s, ok[i]) == 0)
			return ok[i];
	return NULL;
}

/*
 * The invocation.result event of a result, for the result's transaction
 * (it is written only when the result applies; docs/audit.md).
 */
static void
agentd_audit_result(const struct store_agent_result *res,
    struct audit_batch *ab)
{
	struct audit_ev ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = "invocation.result";
	ev.actor_type = AUDIT_ACTOR_AGENT;
	ev.actor = res->instance_id;
	ev.instance = res->instance_id;
	ev.detail = json_pack("{s:o, s:s, s:I, s:s}", "task_id",
	    audit_str(res->task_id), "status", res->status, "exit_code",
	    (json_int_t)res->exit_code, "error_code", res->error_code);
	(void)audit_batch_add(ab, &ev);
}

/* Applies a task's result once; later reports of the same task are no-ops. */
static int
agentd_result(const char *id, json_t *in, char **outp)
{
	const char *task, *status, *ecode, *b64;
	unsigned char *out = NULL;
	size_t outlen = 0;
	int64_t start = 0, finish = 0;
	json_int_t exitc, dropped;
	struct store_agent_result res;
	struct audit_batch ab = { NULL, 0 };
	int changes = 0, r;

	task = agentd_str(in, "task_id", 128);
	status = agentd_status(json_string_value(json_object_get(in,
	    "status")));
	ecode = agentd_str(in, "error_code", 64);
	b64 = json_string_value(json_object_get(in, "output"));
	exitc = json_integer_value(json_object_get(in, "exit_code"));
	dropped = json_integer_value(json_object_get(in, "dropped"));
	if (task == NULL || status == NULL || b64 == NULL || dropped < 0 ||
	    (*b64 != '\0' && lk_b64_decode(b64, strlen(b64), AGENTD_OUTPUT_MAX,
	    &out, &outlen) != 0)) {
		free(out);
		return agentd_fail(outp, 400, "malformed result");
	}
	if (json_is_string(json_object_get(in, "start_time")))
		lk_time_parse(json_string_value(json_object_get(in,
		    "start_time")), &start);
	if (json_is_string(json_object_get(in, "finish_time")))
		lk_time_parse(json_string_value(json_object_get(in,
		    "finish_time")), &finish);
	memset(&res, 0, sizeof(res));
	res.instance_id = id;
	res.task_id = task;
	res.status = status;
	res.error_code = ecode ? ecode : "";
	res.exit_code = (int64_t)exitc;
	res.dropped = (int64_t)dropped;
	res.output = out ? (const void *)out : (const void *)"";
	res.outlen = outlen;
	res.now = lkd_now();
	res.start = start ? start : res.now;
	res.finish = finish ? finish : res.now;
	agentd_audit_result(&res, &ab);
	res.in_tx = audit_batch_write_tx;
	res.in_tx_arg = &ab;
	r = store_agent_result(&res, &changes);
	audit_batch_end(&ab, r == 0 && changes > 0);
	free(out);
	if (r != 0)
		return agentd_store_fail(outp, r);
	log_info("agent result instance=%s task=%.80s status=%s applied=%d",
	    id, task, status, changes);
	if (changes > 0)
		metrics_task_done(task, status);
	*outp = strdup("{}");
	return 200;
}

/*
 * Ends tasks whose agent went away: Running with no poll for
 * AGENTD_DEAD_AFTER seconds, and Pending on an offline instance past the
 * invocation's timeout.
 */
static void
agentd_watch_once(void)
{
	int64_t now = lkd_now();
	int failed = 0, r;

	if ((r = store_agent_sweep(now, now - AGENTD_DEAD_AFTER,
	    now - LKD_ONLINE_WINDOW, &failed)) != 0)
		log_warnx("agent watchdog error=\"%s\"", lk_err(r));
	else if (failed > 0)
		log_info("agent watchdog failed=%d", failed);
}

static void *
agentd_watch(void *arg)
{
	struct timespec ts;
	unsigned long ticks = 0;
	int r = 0;

	(void)arg;
	pthread_mutex_lock(&agentd_lock);
	while (!agentd_quit) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += HEARTBEAT_FLUSH_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		r = pthread_cond_timedwait(&agentd_cond, &agentd_lock, &ts);
		if (agentd_quit)
			break;
		if (r == ETIMEDOUT) {
			pthread_mutex_unlock(&agentd_lock);
			if (++ticks % HEARTBEAT_FLUSH_EVERY == 0 ||
			    heartbeat_urgent())
				(void)heartbeat_flush();
			if (ticks % AGENTD_WATCH_EVERY == 0) {
				(void)store_agent_clock_sync();
				agentd_watch_once();
			}
			if (ticks % NOTIFY_TICK_SEC == 0)
				notify_tick();
			relay_check_ended();
			if (ticks % RELAY_EXPIRE_EVERY == 0)
				relay_expire();
			pthread_mutex_lock(&agentd_lock);
		}
	}
	pthread_mutex_unlock(&agentd_lock);
	return NULL;
}

int
agentd_start(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&agentd_cond, &ca);
	pthread_condattr_destroy(&ca);
	agentd_watch_once();
	if (notify_start() != 0)
		return LK_ERR_SYSTEM;
	if (pthread_create(&agentd_watch_thread, NULL, agentd_watch,
	    NULL) != 0)
		return LK_ERR_SYSTEM;
	agentd_watching = 1;
	return 0;
}

void
agentd_stop(void)
{
	pthread_mutex_lock(&agentd_lock);
	agentd_quit = 1;
	pthread_cond_broadcast(&agentd_cond);
	pthread_mutex_unlock(&agentd_lock);
	if (agentd_watching)
		pthread_join(agentd_watch_thread, NULL);
	agentd_watching = 0;
	(void)heartbeat_flush();	/* call after http_stop: no more polls */
	heartbeat_free();
	notify_free();
}

/*
 * The answer to a deregistered instance's agent (its credential was
 * right): 410 with the reason, which the agent logs before it exits
 * (latchkey-agent(8), exit status 79).
 */
static int
agentd_gone(const char *id, char **outp)
{
	char *hash = NULL, *reason = NULL;
	const char *msg;
	int r;

	if ((r = store_agent_gone(id, &hash, &reason)) != 0 &&
	    r != LK_ERR_NOT_FOUND)
		return agentd_store_fail(outp, r);
	msg = reason != NULL && strcmp(reason, "replaced") == 0 ?
	    "the machine registered again as another instance" :
	    "the instance was deregistered (DeregisterManagedInstance)";
	log_info("agent refused instance=%s reason=%s", id,
	    reason != NULL ? reason : "deregistered");
	*outp = agentd_json(json_pack("{s:s, s:s, s:s}", "error",
	    "instance deregistered", "reason", reason != NULL ? reason :
	    "deregistered", "message", msg));
	free(hash);
	free(reason);
	return 410;
}

int
agentd_handle(const char *method, const char *path, const char *query,
    const struct lk_sig_header *h, size_t nh, const char *body,
    size_t bodylen, struct agentd_poll *poll, char **outp)
{
	const char *peer = audit_source_get();

	json_t *in = NULL;
	char id[64], *running = NULL;
	int r, status;

	*outp = NULL;
	/* A recording's body is asciicast text, not JSON (recording.c). */
	if (strncmp(path, "recording/", 10) == 0) {
		if (strcmp(method, "POST") != 0)
			return agentd_fail(outp, 405, "POST only");
		if ((r = agentauth_verify(h, nh, id, sizeof(id))) != 0)
			return r == LK_ERR_UNAVAILABLE ? agentd_store_fail(outp,
			    r) : agentd_fail(outp, 401, "unknown instance or "
			    "credential");
		return recording_upload(id, path + 10, query, body, bodylen,
		    outp);
	}
	if (strcmp(method, "POST") == 0 && (in = json_loadb(body, bodylen, 0,
	    NULL)) == NULL)
		return agentd_fail(outp, 400, "body is not JSON");
	if (strcmp(path, "register") == 0 && in != NULL) {
		status = agentd_register(in, peer, outp);
		goto out;
	}
	/*
	 * A poll handed back by longpoll.c was authenticated on its first
	 * turn: its later turns cost the database nothing for that.
	 */
	if (poll != NULL && poll->gen != 0 && strcmp(path, "poll") == 0)
		snprintf(id, sizeof(id), "%s", poll->id);
	else if ((r = agentauth_verify(h, nh, id, sizeof(id))) != 0) {
		if (r == LK_ERR_STATE)
			status = agentd_gone(id, outp);
		else
			status = r == LK_ERR_UNAVAILABLE ?
			    agentd_store_fail(outp, r) : agentd_fail(outp, 401,
			    "unknown instance or credential");
		goto out;
	}
	if (strcmp(path, "hello") == 0 && in != NULL)
		status = agentd_hello(id, in, outp);
	else if (strcmp(path, "poll") == 0 && strcmp(method, "GET") == 0) {
		if ((r = agentd_running(h, nh, &running)) != 0)
			status = r == LK_ERR_ALLOC ? agentd_fail(outp, 500,
			    "internal error") : agentd_fail(outp, 400,
			    "malformed Latchkey-Running-Tasks");
		else
			status = agentd_poll(id, query, running, poll, outp);
	}
	else if (strcmp(path, "result") == 0 && in != NULL)
		status = agentd_result(id, in, outp);
	else if (strcmp(path, "login") == 0 && in != NULL)
		status = agentlogin_handle(id, in, outp);
	else if (strcmp(path, "goodbye") == 0 && in != NULL)
		status = agentd_goodbye(id, in, outp);
	else
		status = agentd_fail(outp, 404, "no such endpoint");
 out:
	free(running);
	json_decref(in);
	return status;
}

int
agentd_activation_create(const struct agentd_act_spec *sp, char **idp,
    char **codep, char *expires, size_t expsize)
{
	struct store_act_new a;
	char id[4 + 32 + 1], code[20 + 1], hash[LK_SIG_V3_SIZE];
	int64_t now = lkd_now();
	int r;

	*idp = *codep = NULL;
	if ((r = lkd_random_id("act-", 32, AGENTD_HEX, id, sizeof(id))) != 0 ||
	    (r = lkd_random_id("", 20, "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnp"
	    "qrstuvwxyz23456789", code, sizeof(code))) != 0 ||
	    (r = lk_sig_sha256_hex(code, strlen(code), hash)) != 0)
		return r;
	memset(&a, 0, sizeof(a));
	a.id = id;
	a.code_hash = hash;
	a.instance_name = sp->instance_name;
	a.ip_range = sp->ip_range;
	a.description = sp->description;
	a.count = (int64_t)sp->count;
	a.expires = now + (int64_t)sp->ttl;
	a.now = now;
	a.in_tx = sp->in_tx;
	a.in_tx_arg = sp->in_tx_arg;
	if ((r = store_act_add(&a)) != 0)
		return r;
	lk_time_iso(now + sp->ttl, expires, expsize);
	if ((*idp = strdup(id)) == NULL || (*codep = strdup(code)) == NULL) {
		free(*idp);
		*idp = NULL;
		return LK_ERR_ALLOC;
	}
	OPENSSL_cleanse(code, sizeof(code));
	return 0;
}
