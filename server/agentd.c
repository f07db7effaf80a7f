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

#include "db.h"
#include "agentauth.h"
#include "agentd.h"
#include "b64.h"
#include "err.h"
#include "heartbeat.h"
#include "latchkeyd.h"
#include "log.h"
#include "longpoll.h"
#include "relay.h"
#include "sig.h"

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
/* Pending tasks looked at per caller when handing out. */
#define AGENTD_CANDIDATES	"16"
#define AGENTD_SENDKEY		"ACS-ECS-SendSshPublicKey-linux.sh"

static pthread_mutex_t agentd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t agentd_cond;	/* the watchdog's, and quitting */
static pthread_t agentd_watch_thread;
static int agentd_watching, agentd_quit;

void
agentd_wake(const char *instance_id)
{
	longpoll_wake(instance_id);
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

struct agentd_act {
	char	*hash;
	int64_t	 uses_left;
	int64_t	 expires;
	int	 disabled;
	int	 found;
};

static int
agentd_act_cb(const struct lkdb_row *st, void *arg)
{
	struct agentd_act *a = arg;

	a->hash = lkdb_col_str(st, 0);
	a->uses_left = lkdb_int(st, 1);
	a->expires = lkdb_int(st, 2);
	a->disabled = (int)lkdb_int(st, 3);
	a->found = 1;
	return 1;
}

/* Uses one registration of the activation; inside a transaction. */
static int
agentd_activation_use(const char *id, const char *code, int64_t now)
{
	struct agentd_act a;
	char hash[LK_SIG_V3_SIZE];
	int r;

	memset(&a, 0, sizeof(a));
	if ((r = lkdb_query(lkd->db, agentd_act_cb, &a, "SELECT code_hash, "
	    "uses_left, expires, disabled FROM activations WHERE id = ?", "s",
	    id)) != 0)
		return r;
	r = LK_ERR_UNSAFE;
	if (a.found && lk_sig_sha256_hex(code, strlen(code), hash) == 0 &&
	    lk_sig_equal(hash, a.hash) && !a.disabled && a.uses_left > 0 &&
	    a.expires > now)
		r = lkdb_run(lkd->db, NULL, "UPDATE activations SET uses_left "
		    "= uses_left - 1 WHERE id = ?", "s", id);
	free(a.hash);
	return r;
}

static int
agentd_register(json_t *in, char **outp)
{
	const char *act, *code, *host, *os, *ver;
	char id[2 + 20 + 1], cred[44], hash[LK_SIG_V3_SIZE], *addrs = NULL;
	int64_t now = lkd_now();
	int r, status;

	if ((act = agentd_str(in, "activation_id", 128)) == NULL ||
	    (code = agentd_str(in, "activation_code", 128)) == NULL ||
	    agentd_facts(in, &host, &os, &ver, &addrs) != 0) {
		free(addrs);
		return agentd_fail(outp, 400, "malformed registration");
	}
	if (lkd_random_id("i-", 20, AGENTD_HEX, id, sizeof(id)) != 0 ||
	    lkd_random_id("", 43, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789-_", cred, sizeof(cred)) != 0 ||
	    lk_sig_sha256_hex(cred, strlen(cred), hash) != 0 ||
	    lkdb_begin(lkd->db) != 0) {
		free(addrs);
		return agentd_fail(outp, 500, "internal error");
	}
	if ((r = agentd_activation_use(act, code, now)) == 0)
		r = lkdb_run(lkd->db, NULL, "INSERT INTO instances(id, name, "
		    "hostname, os, version, addresses, cred_hash, activation_id,"
		    " registered, last_seen) VALUES(?,?,?,?,?,?,?,?,?,?)",
		    "ssssssssii", id, host, host, os, ver, addrs, hash, act,
		    now, now);
	if (r != 0 || lkdb_commit(lkd->db) != 0) {
		if (r != 0)
			lkdb_rollback(lkd->db);
		free(addrs);
		status = r == LK_ERR_UNSAFE ? 403 : 500;
		log_info("agent register refused activation=%.64s", act);
		return agentd_fail(outp, status, status == 403 ?
		    "activation refused" : "internal error");
	}
	free(addrs);
	log_info("agent registered instance=%s host=%s", id, host);
	*outp = agentd_json(json_pack("{s:s, s:s}", "instance_id", id,
	    "credential", cred));
	OPENSSL_cleanse(cred, sizeof(cred));
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

static int
agentd_hello(const char *id, json_t *in, char **outp)
{
	const char *host, *os, *ver;
	char *addrs = NULL, *ports = NULL;

	if (agentd_facts(in, &host, &os, &ver, &addrs) != 0 ||
	    agentd_ports(in, &ports) != 0) {
		free(addrs);
		free(ports);
		return agentd_fail(outp, 400, "malformed hello");
	}
	if (lkdb_run(lkd->db, NULL, "UPDATE instances SET hostname = ?, "
	    "os = ?, version = ?, addresses = ?, session_ports = ?, "
	    "last_seen = ? WHERE id = ?",
	    "sssssis", host, os, ver, addrs, ports, lkd_now(), id) != 0) {
		free(addrs);
		free(ports);
		return agentd_fail(outp, 500, "internal error");
	}
	free(addrs);
	free(ports);
	*outp = strdup("{}");
	return 200;
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
	int64_t now = lkd_now();

	if (!json_is_object(in))
		return agentd_fail(outp, 400, "malformed goodbye");
	heartbeat_forget(id);
	if (lkdb_run(lkd->db, NULL, "UPDATE instances SET last_seen = 0, "
	    "goodbye = ? WHERE id = ?", "is", now, id) != 0)
		return agentd_fail(outp, 500, "internal error");
	(void)longpoll_begin(id);
	log_info("agent goodbye instance=%s", id);
	*outp = strdup("{}");
	return 200;
}

struct agentd_work {
	json_t	*tasks;
	json_t	*stops;
};

static int
agentd_task_cb(const struct lkdb_row *st, void *arg)
{
	struct agentd_work *w = arg;

	json_array_append_new(w->tasks, json_pack("{s:s, s:s, s:s, s:s, s:s,"
	    " s:s, s:I}", "task_id", lkdb_text(st, 0),
	    "invoke_id", lkdb_text(st, 1),
	    "command_type", lkdb_text(st, 2),
	    "content", lkdb_text(st, 3),
	    "username", lkdb_text(st, 4),
	    "working_dir", lkdb_text(st, 5),
	    "timeout", (json_int_t)lkdb_int(st, 6)));
	return 0;
}

static int
agentd_stop_cb(const struct lkdb_row *st, void *arg)
{
	struct agentd_work *w = arg;

	json_array_append_new(w->stops,
	    json_string(lkdb_text(st, 0)));
	return 0;
}

/* The slots an instance's running tasks hold, by caller (agentd_take). */
struct agentd_shares {
	int	 total, pushes;
	size_t	 nowners;
	struct {
		char	*owner;
		int	 n;		/* tasks other than key pushes */
	} owners[AGENTD_TASK_SLOTS + AGENTD_BATCH];
	/* Pending tasks, oldest first, at most AGENTD_CANDIDATES a caller. */
	size_t	 ncand;
	struct {
		char	*id, *owner;
		int	 push;
	} cand[512];
};

static int *
agentd_owner_count(struct agentd_shares *sh, const char *owner)
{
	size_t i;

	for (i = 0; i < sh->nowners; i++)
		if (strcmp(sh->owners[i].owner, owner) == 0)
			return &sh->owners[i].n;
	if (sh->nowners == sizeof(sh->owners) / sizeof(sh->owners[0]) ||
	    (sh->owners[i].owner = strdup(owner)) == NULL)
		return NULL;
	sh->owners[i].n = 0;
	sh->nowners++;
	return &sh->owners[i].n;
}

static int
agentd_running_cb(const struct lkdb_row *st, void *arg)
{
	struct agentd_shares *sh = arg;
	const char *owner = lkdb_text(st, 0);
	int push = (int)lkdb_int(st, 1), n = (int)lkdb_int(st, 2);
	int *cnt;

	sh->total += n;
	if (push) {
		sh->pushes += n;
		return 0;
	}
	if ((cnt = agentd_owner_count(sh, owner ? owner : "")) == NULL)
		return LK_ERR_ALLOC;
	*cnt += n;
	return 0;
}

static int
agentd_cand_cb(const struct lkdb_row *st, void *arg)
{
	struct agentd_shares *sh = arg;
	size_t i = sh->ncand;

	if (i == sizeof(sh->cand) / sizeof(sh->cand[0]))
		return 1;
	if ((sh->cand[i].id = lkdb_col_str(st, 0)) == NULL ||
	    (sh->cand[i].owner = lkdb_col_str(st, 1)) == NULL) {
		free(sh->cand[i].id);
		return LK_ERR_ALLOC;
	}
	sh->cand[i].push = (int)lkdb_int(st, 2);
	sh->ncand++;
	return 0;
}

static void
agentd_shares_free(struct agentd_shares *sh)
{
	size_t i;

	for (i = 0; i < sh->nowners; i++)
		free(sh->owners[i].owner);
	for (i = 0; i < sh->ncand; i++) {
		free(sh->cand[i].id);
		free(sh->cand[i].owner);
	}
	free(sh);
}

/* Is the pending task c within its caller's share? Counts it if so. */
static int
agentd_share_ok(struct agentd_shares *sh, size_t c)
{
	int *cnt;

	if (sh->total >= AGENTD_TASK_SLOTS)
		return 0;
	if (sh->cand[c].push) {
		sh->total++;
		sh->pushes++;
		return 1;
	}
	if (sh->total - sh->pushes >= AGENTD_TASK_SLOTS - AGENTD_PUSH_RESERVED ||
	    (cnt = agentd_owner_count(sh, sh->cand[c].owner)) == NULL ||
	    *cnt >= AGENTD_PER_OWNER)
		return 0;
	(*cnt)++;
	sh->total++;
	return 1;
}

static int
agentd_work_cb(const struct lkdb_row *st, void *arg)
{
	*(int *)arg = (int)lkdb_int(st, 0);
	return 1;
}

/* "Is this invocation a key push?", as SQL on invocations i. */
#define AGENTD_IS_PUSH	"(i.command_name = '" AGENTD_SENDKEY "' AND " \
	"EXISTS (SELECT 1 FROM commands c WHERE c.id = i.command_id AND " \
	"c.provider IS NOT NULL))"

/*
 * Hands out the instance's pending tasks within their shares, and its
 * stop requests, once; in one transaction.
 */
static int
agentd_take(const char *id, struct agentd_work *w)
{
	struct agentd_shares *sh;
	int64_t now = lkd_now();
	size_t i, handed = 0;
	int r, work = 0;

	/*
	 * Most turns find nothing: a read, and the heartbeat noted in memory
	 * (heartbeat.c), with no write and so no fsync.
	 */
	if ((r = lkdb_query(lkd->db, agentd_work_cb, &work, "SELECT EXISTS "
	    "(SELECT 1 FROM tasks WHERE instance_id = ? AND (status = 'Pending'"
	    " OR (status = 'Stopping' AND stop_requested = 1)))", "s", id)) !=
	    0)
		return r;
	if (!work) {
		heartbeat_seen(id, now);
		return 0;
	}
	if ((sh = calloc(1, sizeof(*sh))) == NULL)
		return LK_ERR_ALLOC;
	if ((r = lkdb_begin(lkd->db)) != 0) {
		free(sh);
		return r;
	}
	if ((r = lkdb_query(lkd->db, agentd_running_cb, sh, "SELECT i.owner, "
	    AGENTD_IS_PUSH ", COUNT(*) FROM tasks t JOIN invocations i ON "
	    "i.id = t.invoke_id WHERE t.instance_id = ? AND t.status IN "
	    "('Running', 'Stopping') GROUP BY 1, 2", "s", id)) != 0 ||
	    (r = lkdb_query(lkd->db, agentd_cand_cb, sh, "SELECT id, owner, "
	    "push FROM (SELECT t.id AS id, i.owner AS owner, " AGENTD_IS_PUSH
	    " AS push, t.created AS created, t.rowid AS seq, ROW_NUMBER() "
	    "OVER (PARTITION BY i.owner ORDER BY t.created, t.rowid) AS rn "
	    "FROM tasks t JOIN invocations i ON i.id = t.invoke_id WHERE "
	    "t.instance_id = ? AND t.status = 'Pending') WHERE rn <= "
	    AGENTD_CANDIDATES " OR push ORDER BY created, seq LIMIT 512", "s",
	    id)) != 0)
		goto fail;
	for (i = 0; i < sh->ncand && handed < AGENTD_BATCH; i++) {
		if (!agentd_share_ok(sh, i))
			continue;
		if ((r = lkdb_query(lkd->db, agentd_task_cb, w, "SELECT t.id, "
		    "t.invoke_id, i.command_type, t.content, i.username, "
		    "i.working_dir, i.timeout FROM tasks t JOIN invocations i "
		    "ON i.id = t.invoke_id WHERE t.id = ?", "s",
		    sh->cand[i].id)) != 0 ||
		    (r = lkdb_run(lkd->db, NULL, "UPDATE tasks SET status = "
		    "'Running', updated = ? WHERE id = ? AND status = 'Pending'",
		    "is", now, sh->cand[i].id)) != 0)
			goto fail;
		handed++;
	}
	if ((r = lkdb_query(lkd->db, agentd_stop_cb, w, "SELECT id FROM tasks "
	    "WHERE instance_id = ? AND status = 'Stopping' AND stop_requested "
	    "= 1", "s", id)) != 0 ||
	    (r = lkdb_run(lkd->db, NULL, "UPDATE tasks SET stop_requested = 2 "
	    "WHERE instance_id = ? AND status = 'Stopping' AND stop_requested "
	    "= 1", "s", id)) != 0 ||
	    (r = lkdb_run(lkd->db, NULL, "UPDATE instances SET last_seen = ? "
	    "WHERE id = ?", "is", now, id)) != 0)
		goto fail;
	agentd_shares_free(sh);
	return lkdb_commit(lkd->db);
 fail:
	lkdb_rollback(lkd->db);
	agentd_shares_free(sh);
	return r;
}

static int
agentd_poll_answer(struct agentd_work *w, json_t *sess, char **outp)
{
	if (sess == NULL)
		sess = json_array();
	*outp = agentd_json(json_pack("{s:o, s:o, s:o}", "tasks", w->tasks,
	    "stops", w->stops, "sessions", sess));
	return *outp != NULL ? 200 : 500;
}

/*
 * One turn of a long poll: answers it when there is work, when its wait
 * is over or when it was superseded; otherwise parks it (p->parked) to
 * come back on a wake-up (AGENTD_PARKED). AGENTD_GONE when the agent has
 * gone (the connection is closed without an answer).
 */
static int
agentd_poll(const char *id, const char *query, struct agentd_poll *p,
    char **outp)
{
	struct agentd_work w;
	json_t *sess = NULL;
	long long wait = AGENTD_WAIT_DEFAULT;
	unsigned long seq;
	const char *q = strstr(query, "wait=");
	char num[8];
	int r, turns;

	if (p->gen == 0) {
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
		if ((sess = relay_take(id)) != NULL)
			break;
		if ((r = agentd_take(id, &w)) != 0) {
			json_decref(w.tasks);
			json_decref(w.stops);
			return agentd_fail(outp, 500, "internal error");
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
	return agentd_poll_answer(&w, sess, outp);
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

/* Applies a task's result once; later reports of the same task are no-ops. */
static int
agentd_result(const char *id, json_t *in, char **outp)
{
	const char *task, *status, *ecode, *b64;
	unsigned char *out = NULL;
	size_t outlen = 0;
	int64_t start = 0, finish = 0;
	json_int_t exitc, dropped;
	int changes = 0;

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
	if (lkdb_run(lkd->db, &changes, "UPDATE tasks SET status = ?, "
	    "exit_code = ?, output = ?, dropped = ?, error_code = ?, "
	    "start_time = ?, finish_time = ?, updated = ? WHERE id = ? AND "
	    "instance_id = ? AND status IN ('Running', 'Stopping')",
	    "sibisiiiss", status, (int64_t)exitc, out ? (const void *)out :
	    (const void *)"", outlen, (int64_t)dropped, ecode ? ecode : "",
	    start ? start : lkd_now(), finish ? finish : lkd_now(), lkd_now(),
	    task, id) != 0) {
		free(out);
		return agentd_fail(outp, 500, "internal error");
	}
	free(out);
	log_info("agent result instance=%s task=%.80s status=%s applied=%d",
	    id, task, status, changes);
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

	lkdb_run(lkd->db, NULL, "UPDATE tasks SET status = 'Failed', "
	    "error_code = 'ClientNotResponse', finish_time = ?, updated = ? "
	    "WHERE status IN ('Running', 'Stopping') AND instance_id IN "
	    "(SELECT id FROM instances WHERE last_seen < ?)", "iii", now, now,
	    now - AGENTD_DEAD_AFTER);
	lkdb_run(lkd->db, NULL, "UPDATE tasks SET status = 'Failed', "
	    "error_code = 'ClientNotRunning', finish_time = ?, updated = ? "
	    "WHERE status = 'Pending' AND instance_id IN (SELECT id FROM "
	    "instances WHERE last_seen < ?) AND created < ? - (SELECT timeout "
	    "FROM invocations WHERE invocations.id = tasks.invoke_id)", "iiii",
	    now, now, now - LKD_ONLINE_WINDOW, now);
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
			(void)heartbeat_flush();
			if (++ticks % AGENTD_WATCH_EVERY == 0) {
				(void)lkdb_clock_sync(lkd->db);
				agentd_watch_once();
			}
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
}

int
agentd_handle(const char *method, const char *path, const char *query,
    const struct lk_sig_header *h, size_t nh, const char *body,
    size_t bodylen, struct agentd_poll *poll, char **outp)
{
	json_t *in = NULL;
	char id[64];
	int status;

	*outp = NULL;
	if (strcmp(method, "POST") == 0 && (in = json_loadb(body, bodylen, 0,
	    NULL)) == NULL)
		return agentd_fail(outp, 400, "body is not JSON");
	if (strcmp(path, "register") == 0 && in != NULL) {
		status = agentd_register(in, outp);
		goto out;
	}
	if (!agentauth_check(h, nh, id, sizeof(id))) {
		status = agentd_fail(outp, 401, "unknown instance or credential");
		goto out;
	}
	if (strcmp(path, "hello") == 0 && in != NULL)
		status = agentd_hello(id, in, outp);
	else if (strcmp(path, "poll") == 0 && strcmp(method, "GET") == 0)
		status = agentd_poll(id, query, poll, outp);
	else if (strcmp(path, "result") == 0 && in != NULL)
		status = agentd_result(id, in, outp);
	else if (strcmp(path, "goodbye") == 0 && in != NULL)
		status = agentd_goodbye(id, in, outp);
	else
		status = agentd_fail(outp, 404, "no such endpoint");
 out:
	json_decref(in);
	return status;
}

int
agentd_activation_create(long long count, long long ttl, char **idp,
    char **codep, char *expires, size_t expsize)
{
	char id[4 + 32 + 1], code[20 + 1], hash[LK_SIG_V3_SIZE];
	int64_t now = lkd_now();
	int r;

	*idp = *codep = NULL;
	if ((r = lkd_random_id("act-", 32, AGENTD_HEX, id, sizeof(id))) != 0 ||
	    (r = lkd_random_id("", 20, "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnp"
	    "qrstuvwxyz23456789", code, sizeof(code))) != 0 ||
	    (r = lk_sig_sha256_hex(code, strlen(code), hash)) != 0)
		return r;
	if ((r = lkdb_run(lkd->db, NULL, "INSERT INTO activations(id, "
	    "code_hash, count, uses_left, expires, created) VALUES(?,?,?,?,?,?)",
	    "ssiiii", id, hash, (int64_t)count, (int64_t)count,
	    (int64_t)(now + ttl), now)) != 0)
		return r;
	lk_time_iso(now + ttl, expires, expsize);
	if ((*idp = strdup(id)) == NULL || (*codep = strdup(code)) == NULL)
		return LK_ERR_ALLOC;
	return 0;
}
