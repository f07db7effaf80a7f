/*
 * latchkeyd's storage interface: typed operations on plain structs, with
 * the project's error codes. Handlers (agentd.c, api_*.c, console*.c,
 * keys.c, relay.c, heartbeat.c) call these and never see SQL, statements or
 * rows; the operations live in store_*.c and run portable SQL through db.h,
 * whose backend (SQLite or PostgreSQL) --db chose.
 *
 * Every operation returns 0 or a negative LK_ERR_* code:
 *   LK_ERR_NOT_FOUND        no such record (where a record was expected)
 *   LK_ERR_INVALID_FORMAT   a uniqueness or other constraint refused it
 *   LK_ERR_UNAVAILABLE      the database cannot be reached; nothing changed
 *                           (API: 503 ServiceUnavailable; try again)
 *   LK_ERR_ALLOC, LK_ERR_INTERNAL
 * An operation that must be atomic (a task claim, a session admission, a
 * single-use token, a nonce, a counter) is one transaction in each backend,
 * correct under concurrent callers on several connections (PostgreSQL's
 * READ COMMITTED): conditional updates that check the rows they changed, or
 * lkdb_lock() before a count that must not be exceeded.
 *
 * Strings in the structs an operation fills are owned by the struct and
 * freed by its _free function; strings passed in are borrowed. Times are
 * seconds since the epoch by lkd_now() (the database's clock).
 *
 *	store_agent.c	instances' registration, credentials, polls, tasks
 *	store_inv.c	invocations and their tasks' results
 *	store_cmd.c	commands
 *	store_inst.c	instances as the API lists them
 *	store_sess.c	sessions, their tokens and records; account settings
 *	store_rec.c	shell sessions' recordings
 *	store_keys.c	access keys, policies, nonces
 *	store_console.c	operators and console sign-in sessions
 *	store_hostkeys.c	the sshd host keys agents report
 *	store_hostca.c	the host CA's key and the certificates it made
 *	store_fleet.c	activations and managed instances (their lifecycle)
 *	store_audit.c	the audit trail's events, head and cursors
 *	store_tag.c	tags on instances and commands
 */
#ifndef LK_SERVER_STORE_H
#define LK_SERVER_STORE_H

#include <stddef.h>
#include <stdint.h>

/*
 * A hook an operation runs inside its transaction, just before the
 * commit (the audit trail writes its events with it: audit.h,
 * audit_batch_write_tx); an error rolls the whole operation back.
 */
typedef int (*store_tx_hook_fn)(void *arg);

/* ---- store.c: the database as a whole ---------------------------- */

/*
 * Opens the database spec names (db.h: a path, sqlite:PATH or a
 * postgresql:// URI) as lkd->db, creating or migrating its schema.
 */
int	store_open(const char *spec);
void	store_close(void);
/* "sqlite", "postgresql" (or "none" before store_open). */
const char *store_kind(void);
/* spec without a password, to log. */
void	store_describe(const char *spec, char *out, size_t outsize);
int	store_schema_version(int *vp, int *wantp);
/* SQLite's online backup to dest (never overwritten); PostgreSQL: no. */
int	store_backup(const char *dest);
/* 0 when the database answers (asked at most once a second). */
int	store_ping(void);
/* The database's clock minus this machine's, in seconds (lkd_now). */
int64_t	store_clock_offset(void);

/* ---- store_agent.c ------------------------------------------------ */

/*
 * The agents' side: registration, credentials, polls and their task
 * hand-out, results, goodbyes, heartbeats and the watchdog's sweep.
 * Instance ids fit in STORE_AGENT_ID_MAX bytes with their NUL.
 */
#define STORE_AGENT_ID_MAX	64
/* Pending tasks offered to the chooser: per caller, and in all. */
#define STORE_AGENT_CANDIDATES	16
#define STORE_AGENT_CAND_MAX	512
/* Seconds a handed out task may go unnamed by its agent's polls. */
#define STORE_AGENT_LEASE	30
/* Instance ids per wake-up statement (store_agent_notify). */
#define STORE_AGENT_NOTIFY_BATCH	1000


/* ---- store_hostkeys.c -------------------------------------------- */

/*
 * One sshd host key of an instance, as its agent reported it (validated
 * by server/hostkeys.c: "type base64" in canonical form, no comment).
 */
#define STORE_HOSTKEYS_MAX	16	/* keys an instance may have */
struct store_hostkey {
	char	*type;		/* "ssh-ed25519", "ecdsa-sha2-nistp256", ... */
	char	*b64;		/* the key blob in base64 */
	char	*fingerprint;	/* "SHA256:...", as ssh-keygen -l prints */
	int64_t	 first_seen;	/* when a report first had it */
	int64_t	 seen;		/* when a report last had it */
	/* Its host certificate (store_hostca_certs only; NULL otherwise). */
	char	*cert;		/* the line, "" for none */
	char	*cert_principals;	/* as signed, comma-separated */
	int64_t	 cert_after;	/* its validity */
	int64_t	 cert_before;
};
void	store_hostkeys_free(struct store_hostkey *keys, size_t n);

/*
 * Inside a transaction the caller holds (store_agent_register and
 * store_agent_hello use it): records that instance id's agent reported
 * keys[0..n-1] (at most STORE_HOSTKEYS_MAX, distinct fingerprints; their
 * times are ignored) at now. When the set differs from the stored one it
 * replaces it, keeping first_seen of the keys that stay; otherwise only
 * seen moves. n == 0 changes nothing: an agent that could not read sshd's
 * keys reports none, and the last known set stays (ssh then still checks
 * against it, and a changed key fails rather than being trusted).
 */
int	store_hostkeys_put_tx(const char *id, const struct store_hostkey *keys,
	    size_t n, int64_t now);
/* The same in a transaction of its own. */
int	store_hostkeys_put(const char *id, const struct store_hostkey *keys,
	    size_t n, int64_t now);
/*
 * The stored keys of instance id, ordered by type then fingerprint, as a
 * new array in *keysp (NULL when none) of *np entries, freed with
 * store_hostkeys_free. An unknown instance has none (not an error).
 */
int	store_hostkeys_get(const char *id, struct store_hostkey **keysp,
	    size_t *np);

/* ---- store_hostca.c: the optional host CA (server/hostca.c) ------ */

/*
 * The CA's key pair, one row (id 1) shared by every replica on the
 * database: its "ssh-ed25519 base64" line and its private half as sealed
 * (keys_seal) into new *publicp and *sealedp. LK_ERR_NOT_FOUND before
 * the first store_hostca_add.
 */
int	store_hostca_get(char **publicp, unsigned char **sealedp,
	    size_t *lenp);
/*
 * Stores a new CA unless one exists: of two replicas that race, the
 * first insert wins and the other's changes nothing (not an error); both
 * then read the winner with store_hostca_get.
 */
int	store_hostca_add(const char *public_line, const unsigned char *sealed,
	    size_t len, int64_t now);
/*
 * The stored keys of instance id with their certificates' fields, as
 * store_hostkeys_get.
 */
int	store_hostca_certs(const char *id, struct store_hostkey **keysp,
	    size_t *np);
/*
 * Records the certificate of instance id's key fingerprint (a key that
 * is no longer stored is left alone: its report was replaced).
 */
int	store_hostca_set_cert(const char *id, const char *fingerprint,
	    const char *cert, const char *principals, int64_t after,
	    int64_t before);

/* A new instance, as the agent describes itself. */
struct store_agent_reg {
	const char	*activation_id;
	const char	*code_hash;	/* SHA-256 hex of the code given */
	const char	*id;		/* the new instance's */
	const char	*cred_hash;	/* SHA-256 hex of its credential */
	const char	*hostname, *os, *version;
	const char	*addresses;	/* a JSON array */
	const struct store_hostkey *hostkeys;	/* store_hostkeys_put_tx */
	size_t		 nhostkeys;
	const char	*machine_id;	/* "" or NULL: none */
	const char	*peer;		/* the address it connects from */
	int64_t		 now;
	/* Run in the registration's transaction before it commits; or NULL. */
	store_tx_hook_fn in_tx;
	void		*in_tx_arg;
};
/* Why a registration was refused (store_agent_reg_out.why). */
enum store_reg_why {
	STORE_REG_OK = 0,
	STORE_REG_UNKNOWN,	/* no such activation */
	STORE_REG_WRONG_CODE,	/* its code is another */
	STORE_REG_DISABLED,
	STORE_REG_EXPIRED,
	STORE_REG_USED_UP,
	STORE_REG_ADDRESS	/* peer outside its IpAddressRange */
};
/* The words store_reg_why's value stands for ("expired", ...). */
const char *store_reg_why_str(enum store_reg_why why);
/* What a registration did, freed by store_agent_reg_out_free. */
struct store_agent_reg_out {
	enum store_reg_why why;
	char		*name;		/* the new instance's */
	char		**replaced;	/* instances of the same machine id */
	size_t		 nreplaced;
};
void	store_agent_reg_out_free(struct store_agent_reg_out *out);
/*
 * Uses one registration of the activation and adds the instance, in one
 * transaction; concurrent registrations never use an activation more than
 * its count. The instance is named by the activation's InstanceName
 * ("<prefix>-<n>") or else by its hostname. With a machine id, every
 * instance registered before with the same machine id is deregistered in
 * the same transaction (store_fleet_deregister_tx, reason "replaced") and
 * the new one takes the newest one's name; their ids are in out->replaced.
 * LK_ERR_NOT_FOUND with out->why set: refused (nothing changed).
 */
int	store_agent_register(const struct store_agent_reg *reg,
	    struct store_agent_reg_out *out);
/*
 * An instance that is no more (store_fleet_deregister_tx): its former
 * credential hash and why it went ("deregistered", "replaced") as new
 * strings. LK_ERR_NOT_FOUND when id never was or is still registered.
 */
int	store_agent_gone(const char *id, char **hashp, char **reasonp);

/* The instance's credential hash (SHA-256 hex) in *hashp; NOT_FOUND. */
int	store_agent_cred(const char *id, char **hashp);

/* What a hello says; ports is a JSON array of the session ports. */
struct store_agent_hello {
	const char	*id;
	const char	*hostname, *os, *version;
	const char	*addresses, *ports;
	const struct store_hostkey *hostkeys;	/* store_hostkeys_put_tx */
	size_t		 nhostkeys;
	int64_t		 now;
};
int	store_agent_hello(const struct store_agent_hello *h);
/* The agent stopped cleanly at now: offline at once (last_seen 0). */
int	store_agent_goodbye(const char *id, int64_t now);

/*
 * The poll's hand-out. The chooser sees the instance's running tasks
 * counted by caller (owner) and whether they are key pushes, and its
 * Pending tasks, oldest first, at most STORE_AGENT_CANDIDATES a caller
 * (key pushes all) and STORE_AGENT_CAND_MAX in all. It sets take[i] to 1
 * for each candidate to hand out and returns 0 or an error (which rolls
 * back). Strings are the store's, valid during the call.
 */
struct store_agent_load {
	char		*owner;
	int		 push;		/* key pushes (any caller) */
	int64_t		 n;
};
struct store_agent_cand {
	char		*id;
	char		*owner;
	int		 push;
};
typedef int (*store_agent_choose_fn)(void *arg,
	    const struct store_agent_load *load, size_t nload,
	    const struct store_agent_cand *cand, size_t ncand, int *take);

/* A task handed out. */
struct store_agent_task {
	char		*task_id, *invoke_id, *command_type, *content;
	char		*username, *working_dir;
	int64_t		 timeout;
};
struct store_agent_work {
	int		 idle;		/* nothing to hand out; nothing written */
	int64_t		 lease_due;	/* idle: when a lease ends, or 0 */
	int		 reclaimed;	/* tasks taken back (leases) */
	struct store_agent_task *tasks;
	size_t		 ntasks;
	char		**stops;	/* task ids to stop */
	size_t		 nstops;
};
/*
 * Leases (docs/agent-protocol.md): running is the agent's
 * Latchkey-Running-Tasks, ids joined by commas ("" for none), or NULL when
 * the poll did not carry it. With it, the instance's tasks Running for more
 * than STORE_AGENT_LEASE seconds since a poll handed them out, not listed
 * and without a result go back to Pending first (and may be handed out
 * again at once). Ids in running must be of [A-Za-z0-9:.-] (the caller
 * checks: they meet a LIKE pattern). When idle, w->lease_due is the time
 * from which a poll would take a task back (0: none is due).
 *
 * In one transaction: claims the chosen Pending tasks (each goes to
 * Running at most once, also with several latchkeyd on one database: a
 * task claimed meanwhile is left out), takes the stop requests not yet
 * handed out, and notes the poll in last_seen. When the instance has no
 * Pending task and no stop request, w->idle is set and nothing is
 * written (the caller notes the heartbeat). Free w with
 * store_agent_work_free, also after an error. LK_ERR_STATE: the instance
 * is no longer registered (deregistered or replaced).
 */
int	store_agent_take(const char *id, int64_t now, const char *running,
	    store_agent_choose_fn choose, void *arg,
	    struct store_agent_work *w);
void	store_agent_work_free(struct store_agent_work *w);

/* A task's result, applied once (*appliedp: 1, or 0 for a repeat). */
struct store_agent_result {
	const char	*instance_id, *task_id;
	const char	*status, *error_code;
	int64_t		 exit_code, dropped;
	const void	*output;
	size_t		 outlen;
	int64_t		 start, finish, now;
	/* Run in the result's transaction when it applies; may be NULL. */
	store_tx_hook_fn in_tx;
	void		*in_tx_arg;
};
int	store_agent_result(const struct store_agent_result *res,
	    int *appliedp);

/*
 * Heartbeats: each instance's last_seen becomes seen, in one transaction,
 * but never goes back in time nor past a goodbye said at or after seen.
 * Sorts rows by id (every writer locks rows in one order).
 */
struct store_agent_seen {
	char		 id[STORE_AGENT_ID_MAX];
	int64_t		 seen;
};
int	store_agent_seen(struct store_agent_seen *rows, size_t n);

/*
 * The watchdog's sweep at now: Running and Stopping tasks of instances
 * not seen since dead_before fail (ClientNotResponse), and Pending tasks
 * of instances not seen since offline_before fail (ClientNotRunning) once
 * their invocation's timeout has passed since they were created.
 * *failedp (may be NULL) gets the number of tasks failed.
 */
int	store_agent_sweep(int64_t now, int64_t dead_before,
	    int64_t offline_before, int *failedp);
/* Measures the database's clock again (lkd_now() follows it). */
int	store_agent_clock_sync(void);
/*
 * An agent's clock against latchkeyd's (agentskew.c): skew_ms ahead
 * (negative: behind), measured at time at. get: *atp 0 when never.
 */
int	store_agent_skew_set(const char *id, int64_t skew_ms, int64_t at);
int	store_agent_skew_get(const char *id, int64_t *skewp, int64_t *atp);

/*
 * Replicas (docs/replicas.md). Each agent's route: the replica that holds
 * its poll. store_agent_route writes it when it changed (*changedp 1; a
 * read and nothing else when not) and, on PostgreSQL, tells the replica
 * it names no more ("moved <id>" on its channel, with the commit).
 */
int	store_agent_route(const char *id, const char *replica, int64_t now,
	    int *changedp);
/* A replica's wake-up channel (at most 63 bytes; outsize >= 64). */
void	store_agent_channel(const char *replica, char *out, size_t outsize);
/*
 * PostgreSQL: listens on replica's channel; cb(arg, payload) on a thread
 * of the store's for each notification, and cb(arg, NULL) ("resync":
 * notifications may have been lost) after each (re)connection. Until
 * the store is closed. SQLite: LK_ERR_INVALID_FORMAT (one process).
 */
int	store_agent_listen(const char *replica,
	    void (*cb)(void *arg, const char *payload), void *arg);
/*
 * PostgreSQL: one statement per STORE_AGENT_NOTIFY_BATCH ids: a wake-up
 * (payload the id) on the channel of each id's route, unless it is self.
 * SQLite: nothing.
 */
int	store_agent_notify(const char *const *ids, size_t n, const char *self);
/*
 * The safety net: fn(arg, id) for each instance routed to replica with a
 * Pending task, a stop request not handed out, or a session waiting for
 * its agent. One query.
 */
int	store_agent_pending_here(const char *replica,
	    void (*fn)(void *arg, const char *id), void *arg);
/* The replicas table: this one is alive (starting: it just started). */
int	store_replica_beat(const char *id, const char *url, int64_t now,
	    int starting);

/* ---- end store_agent.c -------------------------------------------- */


/* ---- store_fleet.c: activations and managed instances ------------- */

/* An activation as DescribeActivations shows it. */
struct store_act {
	char	*id;
	char	*instance_name;		/* "" when none */
	char	*ip_range;		/* "" when any */
	char	*description;
	int64_t	 count;			/* InstanceCount */
	int64_t	 uses_left;
	int64_t	 expires;
	int64_t	 created;
	int	 disabled;
	int64_t	 deregistered;		/* its instances deregistered since */
	int64_t	 registered_now;	/* its instances registered now */
};
void	store_act_free(struct store_act *a);
void	store_act_list_free(struct store_act *v, size_t n);

/* A new activation; strings borrowed, "" for none. */
struct store_act_new {
	const char	*id;
	const char	*code_hash;
	const char	*instance_name;
	const char	*ip_range;
	const char	*description;
	int64_t		 count;
	int64_t		 expires;
	int64_t		 now;
	store_tx_hook_fn in_tx;		/* or NULL */
	void		*in_tx_arg;
};
int	store_act_add(const struct store_act_new *a);
/*
 * The activations, newest first (created DESC, id), that match id and
 * instance_name (NULL: any); one page (offset, limit) in *listp (*np of
 * them) and the number of all matches in *totalp.
 */
struct store_act_query {
	const char	*id;
	const char	*instance_name;
	int64_t		 offset, limit;
};
int	store_act_list(const struct store_act_query *q, struct store_act **listp,
	    size_t *np, int64_t *totalp);
/* Activation id into *a; LK_ERR_NOT_FOUND. */
int	store_act_get(const char *id, struct store_act *a);
/*
 * Disables activation id (again: no change) and reads it back into *a,
 * in one transaction with in_tx (may be NULL). LK_ERR_NOT_FOUND.
 */
int	store_act_disable(const char *id, struct store_act *a,
	    store_tx_hook_fn in_tx, void *arg);
/*
 * Deletes activation id, read into *a first, in one transaction with
 * in_tx. LK_ERR_NOT_FOUND; LK_ERR_STATE when an instance registered with
 * it is still registered (ECS: ActivationId.InUse), nothing changed.
 */
int	store_act_delete(const char *id, struct store_act *a,
	    store_tx_hook_fn in_tx, void *arg);

/* A managed instance, as DescribeManagedInstances shows it. */
struct store_minst {
	const char	*id, *name, *hostname, *os, *version;
	const char	*addresses;		/* a JSON array, as text */
	const char	*activation_id, *machine_id;
	int64_t		 registered, last_seen;
	int64_t		 invocations;		/* its tasks */
	int64_t		 last_invoked;		/* the newest one's, or 0 */
};
/* What DescribeManagedInstances filters on; NULL fields do not filter. */
struct store_minst_query {
	const char *const *ids;		/* nids of them; non-NULL: only these */
	size_t		 nids;
	const char	*name;		/* exact */
	const char	*machine_id;
	const char	*activation_id;
	const char	*address;	/* one of its addresses, exact */
	int		 connected;	/* -1 any, 0 offline, 1 online */
	int64_t		 online_since;
};
/*
 * Calls cb(inst, arg) for each matching instance in registration order
 * (then id); the strings are valid during the call. cb returns 0 to go
 * on, 1 to stop, or a negative error, which the call returns.
 */
typedef int (*store_minst_cb)(const struct store_minst *m, void *arg);
int	store_minst_scan(const struct store_minst_query *q, store_minst_cb cb,
	    void *arg);
/*
 * Renames instance id, in one transaction with in_tx (may be NULL).
 * LK_ERR_NOT_FOUND.
 */
int	store_minst_rename(const char *id, const char *name,
	    store_tx_hook_fn in_tx, void *arg);
/*
 * Deregisters instance id at now, in one transaction with in_tx (may be
 * NULL): store_fleet_deregister_tx. LK_ERR_NOT_FOUND.
 */
int	store_minst_deregister(const char *id, int64_t now,
	    store_tx_hook_fn in_tx, void *arg);
/*
 * Inside the caller's transaction: instance id goes (reason
 * "deregistered" or "replaced", replaced_by the new instance or ""): its
 * credential hash is kept in instances_gone (store_agent_gone), its
 * Pending, Running and Stopping tasks fail with InstanceReleased, its
 * host keys go, its activation counts one more deregistration, and its
 * row is deleted. LK_ERR_NOT_FOUND.
 */
int	store_fleet_deregister_tx(const char *id, const char *reason,
	    const char *replaced_by, int64_t now);

/* ---- end store_fleet.c -------------------------------------------- */

/* ---- store_tag.c: tags on instances and commands ------------------ */

/*
 * Tags as ECS has them (TagResources): a resource (type "instance" or
 * "command", STORE_TAG_INSTANCE / STORE_TAG_COMMAND) holds at most
 * STORE_TAG_MAX tags, each a key of 1 to 128 characters that does not
 * start with "aliyun" or "acs:" and a value of 0 to 128; neither holds
 * "http://", "https://" or a control character. An instance's tags go
 * with it (store_fleet_deregister_tx), a command's with it
 * (store_cmd_delete).
 */
#define STORE_TAG_MAX		20
#define STORE_TAG_KEY_MAX	128
#define STORE_TAG_VALUE_MAX	128
#define STORE_TAG_INSTANCE	"instance"
#define STORE_TAG_COMMAND	"command"

/* A tag, strings borrowed; value NULL in a filter: any value. */
struct store_tag {
	const char	*key;
	const char	*value;
};

/* Whether a key (a value) is one ECS accepts: see above. */
int	store_tag_key_valid(const char *key);
int	store_tag_value_valid(const char *value);

/*
 * The resources named and their owner: ids (nids of them, each must
 * exist; a command must also be owned by owner, when owner is not NULL).
 * *badp (may be NULL) gets the index of the first id that does not.
 */
struct store_tag_target {
	const char		*type;
	const char *const	*ids;
	size_t			 nids;
	const char		*owner;
};

/*
 * Sets tags (ntags of them, keys distinct) on every resource of t, a key
 * already there taking the new value, in one transaction with in_tx (may
 * be NULL). LK_ERR_NOT_FOUND (*badp: which id); LK_ERR_RANGE when a
 * resource would hold more than STORE_TAG_MAX tags (*badp: which);
 * nothing changed after an error.
 */
int	store_tag_set(const struct store_tag_target *t,
	    const struct store_tag *tags, size_t ntags, size_t *badp,
	    store_tx_hook_fn in_tx, void *arg);

/*
 * Removes the tags keys (nkeys of them; keys NULL: all of them) from
 * every resource of t, in one transaction with in_tx (may be NULL).
 * Keys a resource does not have are no error. LK_ERR_NOT_FOUND (*badp).
 */
int	store_tag_unset(const struct store_tag_target *t,
	    const char *const *keys, size_t nkeys, size_t *badp,
	    store_tx_hook_fn in_tx, void *arg);

/*
 * cb(id, key, value, arg) for each tag of the resources of type whose
 * ids are in ids (nids; ids NULL: every resource of the type, owned by
 * owner when that is not NULL), ordered by resource id then key. cb
 * returns 0 to go on, 1 to stop, or an error.
 */
typedef int (*store_tag_cb)(const char *id, const char *key,
    const char *value, void *arg);
int	store_tag_list(const char *type, const char *const *ids, size_t nids,
	    const char *owner, store_tag_cb cb, void *arg);

/*
 * 1 when resource id of type has every tag of filter (nfilter of them;
 * a NULL value: the key with any value), 0 when not, or an error.
 */
int	store_tag_match(const char *type, const char *id,
	    const struct store_tag *filter, size_t nfilter);

/*
 * The ids of the resources of type that have every tag of filter (as
 * store_tag_match; nfilter at least 1), as a new NULL-terminated array
 * in *idsp (free with store_tag_ids_free) and their number in *np.
 */
int	store_tag_ids(const char *type, const struct store_tag *filter,
	    size_t nfilter, char ***idsp, size_t *np);
void	store_tag_ids_free(char **ids);
/* Whether ids (NULL-terminated, may be NULL) holds id. */
int	store_tag_ids_has(char *const *ids, const char *id);

/* ---- end store_tag.c ---------------------------------------------- */


/* ---- store_inv.c and store_cmd.c ---------------------------------- */

/* A command: a commands row. */
struct store_cmd {
	char	*id;
	char	*name;
	char	*type;		/* RunShellScript, RunBatScript, ... */
	char	*description;
	char	*content;	/* plain text */
	char	*working_dir;
	int64_t	 timeout;	/* seconds */
	int	 enable_parameter;
	char	*params;	/* JSON array of ParameterDefinitions */
	char	*provider;	/* NULL for a private command */
	char	*owner;		/* access key id; NULL for a public command */
	char	*category;	/* "" unless public */
	int64_t	 version;
	int	 latest;
	int64_t	 created;
	int64_t	 invoke_times;
};

struct store_cmd_list {
	struct store_cmd	*v;
	size_t			 n;
};

/* What DescribeCommands selects; a NULL field matches everything. */
struct store_cmd_query {
	const char	*id;
	/*
	 * NULL: the owner's private commands. Otherwise the public commands
	 * of this provider and of its sub-providers ("provider.x").
	 */
	const char	*provider;
	const char	*owner;
	/*
	 * Private commands: the exact name. Public commands: a pattern in
	 * which '*' (any run of characters) is the only wildcard; every other
	 * character, '%', '_', '\', '?' and '[' included, stands for itself,
	 * case-sensitively.
	 */
	const char	*name;
	const char	*type;
	int		 latest;	/* only the latest versions */
	int64_t		 offset;
	int64_t		 limit;
};

/* Frees the members (NULL-safe) and zeroes the struct. */
void	store_cmd_free(struct store_cmd *cmd);
void	store_cmd_list_free(struct store_cmd_list *list);

/*
 * One page of the matching commands, newest first (created DESC, name,
 * id), into *listp, and the number of all matches into *totalp.
 */
int	store_cmd_describe(const struct store_cmd_query *q,
	    struct store_cmd_list *listp, int64_t *totalp);
/*
 * The command id as owner sees it: a public command, or one of owner's
 * private ones (others' do not exist). LK_ERR_NOT_FOUND.
 */
int	store_cmd_get(const char *id, const char *owner, struct store_cmd *cmdp);
/* The latest version of the public command named name. LK_ERR_NOT_FOUND. */
int	store_cmd_get_public(const char *name, struct store_cmd *cmdp);
/*
 * Stores cmd (id, name, type, description, content, working_dir, timeout,
 * enable_parameter, params) as cmd->owner's private command, created now.
 * LK_ERR_RANGE when the owner has quota private commands already (the
 * count and the insert are one transaction, under a lock per owner).
 */
int	store_cmd_create(const struct store_cmd *cmd, int64_t quota);
/*
 * store_cmd_create's work for store_inv.c, inside the caller's
 * transaction.
 */
int	store_cmd__insert(const struct store_cmd *cmd, int64_t quota,
	    int64_t now);
/*
 * Writes name, description, content, working_dir, timeout and params of
 * cmd->owner's private command cmd->id. LK_ERR_NOT_FOUND when there is no
 * such command (any more).
 */
int	store_cmd_modify(const struct store_cmd *cmd);
/* Deletes owner's private command id. LK_ERR_NOT_FOUND. */
int	store_cmd_delete(const char *id, const char *owner);
/*
 * Installs a public command (provider set, owner NULL, version 1, latest),
 * or updates the existing row in place, so that its creation time and
 * invocation count survive.
 */
int	store_cmd_seed(const struct store_cmd *cmd);

/* A new invocation. Strings are borrowed. */
struct store_inv_new {
	const char		*id;
	const char		*owner;
	const char		*client_token;	/* NULL: none */
	const char		*command_id;
	const char		*command_name;
	const char		*command_type;
	const char		*command_description;
	const char		*content;
	const char		*parameters;	/* JSON object, as given */
	const char		*username;
	const char		*working_dir;
	int64_t			 timeout;
	const char *const	*instance_ids;
	char *const		*scripts;	/* per instance */
	size_t			 n;
	/* Stored first as owner's private command, within quota; or NULL. */
	const struct store_cmd	*keep;
	int64_t			 quota;
	int			 count;	/* add one to command_id's invoke_times */
	/* Run in the invocation's transaction before it commits; or NULL. */
	store_tx_hook_fn	 in_tx;
	void			*in_tx_arg;
};

/* The invocation that a ClientToken created before. */
struct store_inv_prior {
	char	*id;		/* NULL: the token was new */
	char	*command_id;
	char	*command_type;
	char	*content;
	char	*parameters;
	char	**instance_ids;
	size_t	 n;
};

/* An invocation: an invocations row. */
struct store_inv {
	char	*id;
	char	*command_id;
	char	*command_name;
	char	*command_type;
	char	*command_description;
	char	*content;
	char	*parameters;
	char	*username;
	char	*working_dir;
	char	*owner;		/* the access key id or operator:NAME */
	int64_t	 timeout;
	int64_t	 created;
};

/*
 * A task as the describing operations hand it to their callback: every
 * pointer is borrowed and valid only until the callback returns.
 */
struct store_task {
	const char	*invoke_id;
	const char	*instance_id;
	const char	*instance_name;	/* "" when the instance is gone */
	const char	*status;	/* Pending, Running, Stopping, Success, ... */
	const char	*error_code;
	const char	*command_id;
	const char	*username;
	int64_t		 exit_code;	/* 0 when none */
	const void	*output;	/* the bytes as the agent sent them */
	size_t		 output_len;
	int64_t		 dropped;
	int64_t		 created;
	int64_t		 start_time;	/* 0 when none */
	int64_t		 finish_time;
	int64_t		 stop_time;
	int64_t		 updated;
	int		 started;	/* start_time is set */
};

/* Returns 0 to go on, 1 to stop early, or a negative error to fail. */
typedef int (*store_task_cb)(const struct store_task *task, void *arg);

/* What DescribeInvocations and DescribeInvocationResults select. */
struct store_inv_query {
	const char	*owner;		/* NULL: every owner's (api_owner()) */
	const char	*invoke_id;	/* NULL: any */
	const char	*command_id;
	const char	*command_name;	/* store_inv_scan only */
	const char	*command_type;	/* store_inv_scan only */
	const char	*instance_id;
	/*
	 * 0: command invocations only; 1: SendFile's only (command_type
	 * STORE_INV_FILE_TYPE; store_inv_scan's command_name is the file's
	 * name then). The two APIs never see each other's.
	 */
	int		 files;
};
/* The command_type of a SendFile invocation (server/api_file.c). */
#define STORE_INV_FILE_TYPE	"SendFile"

void	store_inv_prior_free(struct store_inv_prior *prior);
void	store_inv_free(struct store_inv *inv);

/*
 * Creates the invocation and its Pending tasks (and inv->keep, and the
 * invoke_times count) in one transaction. When inv->owner used
 * inv->client_token before, nothing is written and *prior describes the
 * earlier invocation (prior->id set): the unique index on (owner,
 * client_token) decides, so of concurrent callers with one token exactly
 * one creates. LK_ERR_RANGE: inv->keep is over the quota.
 */
int	store_inv_create(const struct store_inv_new *inv, int64_t now,
	    struct store_inv_prior *prior);
/*
 * For DescribeInvocations: a task of each matching invocation of the
 * owner's, grouped by invocation, newest first (created DESC, id DESC),
 * then by instance id; only invoke_id, instance_id, instance_name and
 * status are set. With
 * instance_id, the invocations that have a task there, with all their
 * tasks.
 */
int	store_inv_scan(const struct store_inv_query *q, store_task_cb cb,
	    void *arg);
/*
 * For DescribeInvocationResults: the owner's matching tasks (invoke_id,
 * instance_id, command_id), every field set, ordered by the invocation's
 * creation (newest first), invoke_id DESC, instance_id.
 */
int	store_inv_results(const struct store_inv_query *q, store_task_cb cb,
	    void *arg);
/* The owner's invocation id (owner NULL: anyone's). LK_ERR_NOT_FOUND. */
int	store_inv_get(const char *id, const char *owner, struct store_inv *invp);
/* The tasks of invocation id by instance id, every field set. */
int	store_inv_tasks(const char *id, store_task_cb cb, void *arg);
/*
 * StopInvocation, one transaction: of invocation id's tasks on the n
 * instances, Pending ones become Stopped and Running ones Stopping (the
 * agent is told at its next poll); finished ones stay as they are.
 */
int	store_inv_stop(const char *id, const char *const *instance_ids,
	    size_t n, int64_t now);

/* ---- end store_inv.c and store_cmd.c ------------------------------ */


/* ---- store_inst.c and store_sess.c -------------------------------- */

struct lkdb;

/* An instance as the API describes it (store_inst.c). */
struct store_inst {
	char	*id;
	char	*name;
	char	*hostname;
	char	*os;
	char	*version;		/* the agent's, "" before it said */
	char	*addresses;		/* a JSON array of strings, as text */
	char	*session_ports;		/* a JSON array of integers, as text */
	int64_t	 registered;
	int64_t	 last_seen;		/* 0 after a goodbye */
	int64_t	 goodbye;		/* when it said goodbye, or 0 */
};
void	store_inst_free(struct store_inst *inst);
/* Instance id into *inst (freed by store_inst_free); LK_ERR_NOT_FOUND. */
int	store_inst_get(struct lkdb *db, const char *id, struct store_inst *inst);

/*
 * What DescribeInstances filters on; NULL or 0 fields do not filter.
 * ids: the instances named (nids of them; ids non-NULL and nids 0 matches
 * none). pattern: the instance's name, where '*' matches any run of
 * characters and every other character only itself, case counting (UTF-8
 * read as SQLite's GLOB reads it, invalid bytes included). status:
 * "Running" (seen
 * at or after online_since) or "Stopped"; any other non-empty value
 * matches none.
 */
struct store_inst_filter {
	const char *const *ids;
	size_t		 nids;
	const char	*pattern;
	const char	*status;
	int64_t		 online_since;
};
/*
 * Calls cb(id, name, arg) for every instance f matches, ordered by
 * registration time, then id. cb returns 0 to go on, 1 to stop, or a
 * negative LK_ERR_* code, which the call returns. The strings are valid
 * during the call only.
 */
typedef int (*store_inst_cb)(const char *id, const char *name, void *arg);
int	store_inst_list(struct lkdb *db, const struct store_inst_filter *f,
	    store_inst_cb cb, void *arg);
/* The '*' pattern match store_inst_list uses: 1 if name matches. */
int	store_inst_match(const char *pattern, const char *name);

/* An instance's agent and its tasks, for DescribeCloudAssistantStatus. */
struct store_inst_status {
	char	*version;
	int64_t	 last_seen;
	int64_t	 goodbye;
	int64_t	 active_tasks;		/* Pending, Running or Stopping */
	int64_t	 tasks;			/* all of them */
	int64_t	 last_task;		/* the newest task's creation, or 0 */
};
void	store_inst_status_free(struct store_inst_status *st);
/* LK_ERR_NOT_FOUND when there is no instance id. */
int	store_inst_status(struct lkdb *db, const char *id,
	    struct store_inst_status *st);

/* Account settings (store_sess.c): *valuep a new string; LK_ERR_NOT_FOUND. */
int	store_setting_get(struct lkdb *db, const char *name, char **valuep);
/* Sets (inserts or replaces) the setting name. */
int	store_setting_set(struct lkdb *db, const char *name, const char *value);

/* A session as StartTerminalSession creates it: Pending, with a token. */
struct store_sess_new {
	const char	*id;
	const char	*owner;		/* the access key */
	const char	*instance_id;
	const char	*username;	/* may be NULL: "" */
	const char	*token_hash;	/* hex SHA-256 of the token */
	const char	*kind;		/* "port" or "shell"; NULL: "port" */
	const char	*shell;		/* a shell's hand-out (JSON), or NULL */
	int64_t		 port;		/* 0 for a shell */
	int64_t		 token_expires;
	int64_t		 now;		/* its creation time */
};
#define STORE_SESS_LIMIT_KEY		1	/* the key's quota was full */
#define STORE_SESS_LIMIT_INSTANCE	2	/* the instance's cap was */
/*
 * Admits and inserts session s in one transaction: counts the instance's
 * open sessions (Connecting, Connected, or Pending with a token valid at
 * s->now), all and the owner's, under a lock on the instance, so that
 * concurrent callers (threads or latchkeyd processes) never pass either
 * limit. LK_ERR_BUSY when the owner holds per_key or more (checked first:
 * *limitp = STORE_SESS_LIMIT_KEY) or the instance per_instance or more
 * (STORE_SESS_LIMIT_INSTANCE); nothing is inserted then.
 */
int	store_sess_start(struct lkdb *db, const struct store_sess_new *s,
	    long per_key, long per_instance, int *limitp);
/*
 * EndTerminalSession's part: the owner's session sid, if its URL was not
 * used yet, is Closed ("ended before it connected") at now. 0 also when
 * it was past Pending; LK_ERR_NOT_FOUND when owner has no session sid.
 */
int	store_sess_end(struct lkdb *db, const char *sid, const char *owner,
	    int64_t now);

/* A session as DescribeTerminalSessions lists it. */
struct store_sess {
	char	*id;
	char	*owner;
	char	*instance_id;
	char	*username;
	char	*client_ip;
	char	*status;	/* Pending Connecting Connected Disconnected
				   Closed Failed */
	char	*closed_reason;
	char	*kind;		/* "port" or "shell" */
	char	*shell;		/* a shell's JSON, "" for a port */
	int64_t	 port;
	int64_t	 created;
	int64_t	 started;	/* 0 before the client connected */
	int64_t	 ended;		/* 0 while open */
	int64_t	 bytes_in;	/* from the client */
	int64_t	 bytes_out;	/* to the client */
	int64_t	 rec_size;	/* its recording's bytes, -1: none */
	int	 rec_truncated;
};
/* owner's sessions, newest first; instance_id and id may be NULL. */
struct store_sess_query {
	const char	*owner;
	const char	*instance_id;
	const char	*id;
	int64_t		 limit;
	int64_t		 offset;
};
/* *listp: a new array of *np sessions, freed by store_sess_list_free. */
int	store_sess_list(struct lkdb *db, const struct store_sess_query *q,
	    struct store_sess **listp, size_t *np);
void	store_sess_list_free(struct store_sess *list, size_t n);

/* What the relay checks a client's token against. */
struct store_sess_token {
	char	*instance_id;
	char	*token_hash;
	char	*status;
	char	*kind;		/* "port" or "shell" */
	int64_t	 port;
	int64_t	 token_expires;
	int64_t	 epoch;		/* 0, or the resume's number */
	int64_t	 resumable;	/* set by the first connection */
	char	*agent_version;	/* of the instance's agent, "" unknown */
	char	*console;	/* the console session it is bound to, or "" */
};
void	store_sess_token_free(struct store_sess_token *t);
/* Session sid's token; LK_ERR_NOT_FOUND. */
int	store_sess_token_get(struct lkdb *db, const char *sid,
	    struct store_sess_token *t);
/*
 * Binds the Pending shell session sid to the console session whose
 * cookie hashes to console_hash (docs/console.md, "Terminal"): from then
 * on only a dial with that console session may spend its token.
 * LK_ERR_NOT_FOUND: no such Pending shell session, or already bound.
 */
int	store_sess_console_bind(struct lkdb *db, const char *sid,
	    const char *console_hash);
/*
 * Spends session sid's single-use token: one conditional update, from
 * Pending with token_hash and a token still valid at now to Connecting
 * (client_ip, started = now, held by replica whose advertise URL is url).
 * The first connection (epoch 0) records whether the session resumes;
 * later ones (a resume) keep it and wait for a new hand-out.
 * Of concurrent callers, one gets 0 and the rest LK_ERR_NOT_FOUND, as do
 * a wrong hash, a used or expired token.
 */
int	store_sess_redeem(struct lkdb *db, const char *sid,
	    const char *token_hash, const char *client_ip,
	    const char *replica, const char *url, int64_t now, int resumable);
/*
 * Session sid's client is connected (its WebSocket upgraded): the session
 * now waits for its agent's poll (store_sess_handout). LK_ERR_NOT_FOUND
 * when it is no longer Connecting or was already announced.
 */
int	store_sess_client_held(struct lkdb *db, const char *sid);
/* A session handed out to its agent's poll. */
struct store_sess_handout {
	char	*id;
	char	*replica;	/* the replica holding the client */
	char	*url;		/* its advertise URL */
	char	*kind;		/* "port" or "shell" */
	char	*username;
	char	*shell;		/* a shell's JSON, "" for a port */
	int64_t	 port;
	int64_t	 epoch;
	int64_t	 resumable;
};
/*
 * The poll's part: instance_id's sessions whose client is held and not
 * yet handed out, marked handed out at now in one conditional update, so
 * that of the polls of several replicas one gets each session. *listp:
 * a new array of *np (none: NULL and 0; most calls, one read and no
 * write), freed by store_sess_handout_free.
 */
int	store_sess_handout(struct lkdb *db, const char *instance_id,
	    int64_t now, struct store_sess_handout **listp, size_t *np);
void	store_sess_handout_free(struct store_sess_handout *list, size_t n);
/* Where session sid stands between its client and its agent. */
struct store_sess_route {
	char	*instance_id;
	char	*status;
	char	*replica;	/* holding the client; "" before */
	char	*url;
	int64_t	 handout;	/* 0 not yet, 1 waiting for a poll, 2 handed */
	int64_t	 handed;	/* when it was handed out */
};
/* Session sid's route into *r (store_sess_route_free); LK_ERR_NOT_FOUND. */
int	store_sess_route_get(struct lkdb *db, const char *sid,
	    struct store_sess_route *r);
void	store_sess_route_free(struct store_sess_route *r);
/* The agent dialled back: session sid's connection epoch is Connected. */
int	store_sess_connected(struct lkdb *db, const char *sid, int64_t epoch);
/*
 * Session sid's end: its status, time and reason, when epoch is still its
 * connection (a resume since made a newer one, which ends it); the byte
 * counts are added to its totals either way.
 */
int	store_sess_finish(struct lkdb *db, const char *sid, int64_t epoch,
	    const char *status, int64_t now, int64_t bytes_in,
	    int64_t bytes_out, const char *reason);
/*
 * A resumable session's connection epoch was lost (a hop dropped, or
 * latchkeyd stops): Disconnected since now, waiting for
 * ResumeTerminalSession; the byte counts are added to its totals.
 */
int	store_sess_lost(struct lkdb *db, const char *sid, int64_t epoch,
	    int64_t now, int64_t bytes_in, int64_t bytes_out);
/* What ResumeTerminalSession gives back. */
struct store_sess_resumed {
	char	*instance_id;
	int64_t	 port;
	int64_t	 epoch;		/* the new connection's */
};
void	store_sess_resumed_free(struct store_sess_resumed *r);
/*
 * ResumeTerminalSession's part: owner's resumable session sid, open and
 * lost less than wait seconds ago (or not known lost yet: then lost now),
 * gets a new token (hash, valid until now + ttl but never past the
 * loss + wait) and a new connection epoch, and is Pending again; the
 * connection still open, if any, is replaced when the new one comes.
 * LK_ERR_NOT_FOUND: owner has no session sid; LK_ERR_STATE: it does not
 * resume, was ended, or its wait is over (*why says which, for the error).
 */
int	store_sess_resume(struct lkdb *db, const char *sid, const char *owner,
	    const char *token_hash, int64_t now, int64_t ttl, int64_t wait,
	    struct store_sess_resumed *r, const char **why);
/*
 * Sessions lost more than wait seconds ago and not resumed are Closed at
 * now ("not resumed within N s"). Cheap when none is (a partial index).
 */
int	store_sess_expire(struct lkdb *db, int64_t now, int64_t wait);
/*
 * At start: sessions this replica held when it stopped (and those of
 * before replicas were recorded) are Closed at now, or Disconnected when
 * they resume; other replicas' are theirs.
 */
int	store_sess_close_stale(struct lkdb *db, const char *replica,
	    int64_t now);
/*
 * Sessions whose client was held by a replica not seen since gone_before
 * (killed, its machine lost) are Closed at now (Disconnected when they
 * resume), so that they stop counting against the instance's and the
 * key's limits (or wait for their resume).
 */
int	store_sess_close_gone(struct lkdb *db, int64_t now,
	    int64_t gone_before);
/*
 * The account's session manager switch (off until set): 0 with *onp, or
 * the store's error.
 */
int	store_sess_manager(struct lkdb *db, int *onp);
int	store_sess_manager_set(struct lkdb *db, int on);
/*
 * The live sessions whose client replica holds and whose end was asked
 * for on any replica (EndTerminalSession marks them): cb(id) for each.
 */
typedef void (*store_sess_id_cb)(const char *id, void *arg);
int	store_sess_end_requested(struct lkdb *db, const char *replica,
	    store_sess_id_cb cb, void *arg);

/* ---- end store_inst.c and store_sess.c ---------------------------- */

/* ---- store_rec.c: shell sessions' recordings ----------------------- */

/* An upload of session_id's recording by instance_id's agent. */
struct store_rec_new {
	const char	*session_id;
	const char	*instance_id;
	const void	*data;		/* asciicast text, already checked */
	size_t		 len;
	int		 truncated;
	int64_t		 now;
};
/*
 * Stores n in one transaction (in_tx, may be NULL, runs inside it when a
 * row is added: the audit event). *createdp 1 when added; 0 with
 * *createdp 0 when the session already has this instance's recording
 * (an upload repeated); LK_ERR_NOT_FOUND when session_id is not a shell
 * session of instance_id (or its recording came from another instance).
 */
int	store_rec_put(struct lkdb *db, const struct store_rec_new *n,
	    int *createdp, store_tx_hook_fn in_tx, void *in_tx_arg);
/* A session and its recording, if it has one. */
struct store_rec {
	char	*owner;		/* the session's access key */
	char	*kind;		/* "port" or "shell" */
	int	 has;		/* a recording was stored */
	int	 truncated;
	int64_t	 created;
	char	*data;		/* NUL-terminated (no NUL inside: checked) */
	size_t	 len;
};
/* Session sid (any owner) into *rec (store_rec_free); LK_ERR_NOT_FOUND. */
int	store_rec_get(struct lkdb *db, const char *sid, struct store_rec *rec);
void	store_rec_free(struct store_rec *rec);


/* ---- store_keys.c and store_console.c ----------------------------- */

struct lkdb;

/*
 * store_keys.c: access keys and the nonces of signed requests. The secret
 * is stored as keys.c sealed it (bytes, a BLOB or BYTEA); the policy is
 * keys.c's JSON text.
 */
struct store_key {
	char		*id;
	unsigned char	*sealed;	/* NULL in store_key_list's keys */
	size_t		 sealedlen;
	char		*policy;
	char		*description;
	int		 disabled;
	int64_t		 created;
};

/* Adds a key; LK_ERR_INVALID_FORMAT when the id is taken. */
int	store_key_create(struct lkdb *db, const char *id, const void *sealed,
	    size_t sealedlen, const char *policy, const char *description,
	    int64_t created);
/* The key id, into *k (store_key_free); LK_ERR_NOT_FOUND when none. */
int	store_key_get(struct lkdb *db, const char *id, struct store_key *k);
/*
 * Every key, oldest first (on SQLite, keys of one second in the order they
 * were made; on PostgreSQL by id), without their secrets: a new array of *np
 * keys, freed by store_key_list_free.
 */
int	store_key_list(struct lkdb *db, struct store_key **keysp, size_t *np);
/* Disables the key id; LK_ERR_NOT_FOUND when there is none. */
int	store_key_disable(struct lkdb *db, const char *id);
void	store_key_free(struct store_key *k);
void	store_key_list_free(struct store_key *keys, size_t n);

/*
 * Notes that key_id signed with nonce at now: 0 the first time,
 * LK_ERR_INVALID_FORMAT when the pair is already noted (a replay). The
 * insert is the test: of callers that present one pair at once, on any
 * connections, exactly one gets 0.
 */
int	store_nonce_use(struct lkdb *db, const char *key_id, const char *nonce,
	    int64_t now);
/* Forgets the nonces noted before before. */
int	store_nonce_sweep(struct lkdb *db, int64_t before);

/*
 * store_console.c: operators (name, scrypt hash) and the console's sign-in
 * sessions, kept under the SHA-256 of their id (hex).
 */
struct store_operator {
	char		*name;
	char		*pw_hash;	/* NULL in store_operator_list's */
	int		 disabled;
	int64_t		 created;
	int64_t		 last_signin;	/* 0: never */
};

/* Adds an operator; LK_ERR_INVALID_FORMAT when the name is taken. */
int	store_operator_create(struct lkdb *db, const char *name,
	    const char *pw_hash, int64_t created);
/* The operator name, into *op (store_operator_free); LK_ERR_NOT_FOUND. */
int	store_operator_get(struct lkdb *db, const char *name,
	    struct store_operator *op);
/*
 * Every operator, by name in byte order (the same on both backends,
 * whatever the database's collation), without hashes: a new array of *np,
 * freed by store_operator_list_free.
 */
int	store_operator_list(struct lkdb *db, struct store_operator **opsp,
	    size_t *np);
/*
 * Disables the operator name and deletes its console sessions, in one
 * transaction; LK_ERR_NOT_FOUND when there is no such operator.
 */
int	store_operator_disable(struct lkdb *db, const char *name);
/* Notes a sign-in by name at when (nothing when there is no such name). */
int	store_operator_signed_in(struct lkdb *db, const char *name,
	    int64_t when);
void	store_operator_free(struct store_operator *op);
void	store_operator_list_free(struct store_operator *ops, size_t n);

struct store_csession {
	char		*kind;		/* "operator" or "key" */
	char		*principal;	/* operator name or key id */
	char		*csrf;
	int64_t		 created;
	int64_t		 last_used;
};

/* Adds a session; LK_ERR_INVALID_FORMAT when id_hash is taken. */
int	store_csession_create(struct lkdb *db, const char *id_hash,
	    const char *kind, const char *principal, const char *csrf,
	    int64_t now);
/* The session id_hash, into *s (store_csession_free); LK_ERR_NOT_FOUND. */
int	store_csession_get(struct lkdb *db, const char *id_hash,
	    struct store_csession *s);
/* Sets the session's last use to now (nothing when it is gone). */
int	store_csession_touch(struct lkdb *db, const char *id_hash, int64_t now);
/* Deletes the session id_hash (0 also when there was none). */
int	store_csession_delete(struct lkdb *db, const char *id_hash);
/*
 * Deletes the sessions last used before idle_before or made before
 * created_before.
 */
int	store_csession_expire(struct lkdb *db, int64_t idle_before,
	    int64_t created_before);
void	store_csession_free(struct store_csession *s);

/*
 * The console's sign-in failure counts, shared by every latchkeyd on the
 * database: per entry (kind "addr" or "acct", and a name), the start of
 * its window and the failures counted in it. console_auth.c decides what
 * the names, the window and the bound are.
 *
 * The schema's migration makes their table; store_console_init() makes
 * it again if it is missing (a no-op otherwise), and console_auth.c runs it
 * once per process before any other of these.
 */
struct store_climit {
	const char	*kind;		/* "addr" or "acct" */
	const char	*name;
	int64_t		 window_start;	/* set by store_climit_take */
};

int	store_console_init(struct lkdb *db);
/*
 * Takes one failure for each of the n entries, in order, in one
 * transaction at now, and sets their window_start. An entry whose window
 * (window seconds from its start) has ended, or starts more than skew
 * seconds after now (a clock set back), begins a new one at now. If an entry's live window already holds max, nothing
 * is taken for any entry: LK_ERR_RANGE and *fullp is its index (else n).
 * Correct under concurrency on any connections: of callers at once, no
 * more than max take from one entry's window.
 */
int	store_climit_take(struct lkdb *db, struct store_climit *e, size_t n,
	    int64_t now, int64_t window, int64_t skew, int max, size_t *fullp);
/*
 * Gives back one failure of each entry, only to the window it was taken
 * in (window_start) and never below 0, in one transaction.
 */
int	store_climit_give(struct lkdb *db, const struct store_climit *e,
	    size_t n);
/* Deletes the entries whose window started before before or after after. */
int	store_climit_sweep(struct lkdb *db, int64_t before, int64_t after);
/* Deletes every entry (for tests). */
int	store_climit_clear(struct lkdb *db);


/* ---- end store_keys.c and store_console.c ------------------------- */

/* ---- store_audit.c ------------------------------------------------ */

/*
 * The audit trail (docs/audit.md). An event is stored as its chained line
 * (server/audit_line.c) with the columns queries select on. The chain's
 * head (the last seq and hash) is one row, updated by every append in the
 * append's transaction, so appends of every latchkeyd on one database are
 * serialised by its row lock (PostgreSQL) or the database lock (SQLite):
 * one linear chain, no fork, no gap.
 */
struct store_audit_new {
	int64_t		 time;		/* seconds */
	const char	*kind;
	const char	*actor;		/* "" for none */
	const char	*instance_id;	/* "" for none */
	const char	*username;	/* "" for none */
};
/*
 * Called inside the append's transaction with the new event's seq and
 * the previous event's hash: makes the line (*linep, malloc'd, taken by
 * the store) and its hash. An error rolls the append back.
 */
typedef int (*store_audit_make_fn)(void *arg, int64_t seq, const char *prev,
	    char **linep, char hash[65]);
/* Appends one event in a transaction of its own; *seqp its seq (or NULL). */
int	store_audit_append(const struct store_audit_new *ev,
	    store_audit_make_fn make, void *arg, int64_t *seqp);
/* The same inside a transaction the caller holds. */
int	store_audit_append_tx(const struct store_audit_new *ev,
	    store_audit_make_fn make, void *arg, int64_t *seqp);

/* One stored event, as the callbacks below see it (borrowed). */
struct store_audit_row {
	int64_t		 seq;
	const char	*line;
	const char	*hash;
};
typedef int (*store_audit_row_fn)(void *arg, const struct store_audit_row *);
/*
 * The events after seq after, oldest first, at most limit (0: all): fn
 * for each (returns 0 to go on, 1 to stop, or an error).
 */
int	store_audit_scan(int64_t after, int64_t limit, store_audit_row_fn fn,
	    void *arg);
/* The head: the last seq (0 when none) and its hash. */
int	store_audit_head(int64_t *seqp, char hash[65]);

/* What DescribeAuditEvents selects; NULL or 0 matches everything. */
struct store_audit_query {
	const char	*actor;
	const char	*instance_id;
	const char	*username;
	const char	*kind;
	int64_t		 since;		/* time >= since */
	int64_t		 offset, limit;
};
/* One page, newest first: fn for each, and *totalp the matches. */
int	store_audit_query(const struct store_audit_query *q,
	    store_audit_row_fn fn, void *arg, int64_t *totalp);

/* A sink's cursor: the last seq it exported (0 when unknown). */
int	store_audit_cursor_get(const char *name, int64_t *seqp);
int	store_audit_cursor_set(const char *name, int64_t seq);
/* Every cursor, by name: fn returns 0 to go on. */
int	store_audit_cursor_list(int (*fn)(void *arg, const char *name,
	    int64_t seq), void *arg);

/* ---- end store_audit.c -------------------------------------------- */

#endif
