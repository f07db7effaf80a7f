/*
 * latchkeyd: the control plane. One process: libmicrohttpd's event loop
 * holds every connection, a fixed pool of workers runs the handlers (they
 * may wait on the database, never on a client), and all state is in the
 * database (store.h) except parked long polls and live sessions
 * (docs/threading.md).
 *
 *	latchkeyd.c	main, options, admin subcommands, start and stop
 *	http.c		libmicrohttpd: routing, suspend and resume, answers
 *	conn.c		admission: per-address and total limits, deadlines
 *	work.c		the worker pool
 *	longpoll.c	parked long polls: wake-ups, deadlines, closed peers
 *	agentd.c	the agents' endpoints, task hand-out, the watchdog
 *	agentauth.c	agents' credentials (agentd.c and the relay)
 *	heartbeat.c	agents' last_seen, noted in memory, written in batches
 *	relay.c		the session relay (WebSocket), docs/sessions.md
 *	api.c		the ECS OpenAPI: signatures, policy, errors, dispatch
 *	api_cmd.c	commands: Describe/Create/Modify/DeleteCommand
 *	api_inv.c	invocations: InvokeCommand, RunCommand, results, stop
 *	api_file.c	files: SendFile, DescribeSendFileResults
 *	api_inst.c	instances and the agents' status
 *	api_sess.c	sessions and the session manager switch
 *	console.c	the web console's pages and its API calls
 *	console_auth.c	operators, console sign-in, its limits
 *	console_parse.c	the console's parsers (pure functions)
 *	keys.c		access keys, their secrets and policies, nonces
 *	store.h		the storage interface: typed operations (store_*.c)
 *	db.c		the SQL layer under the store: backend table, clock
 *	db_sqlite.c	the SQLite backend: schema, migrations, statements
 *	db_pg.c		the PostgreSQL backend: pool, schema, statements
 *	util.c		time, random ids, request ids, peer checks
 */
#ifndef LK_LATCHKEYD_H
#define LK_LATCHKEYD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "params.h"
#include "util.h"

#define LKD_VERSION		"1.1.0"
#define LKD_API_VERSION		"2014-05-26"
#define LKD_REGION_DEFAULT	"cn-hangzhou"
#ifndef LK_SYSCONFDIR
#define LK_SYSCONFDIR		"/etc"
#endif
#define LKD_CONF_FILE		LK_SYSCONFDIR "/latchkey/latchkeyd.conf"
#define LKD_BODY_MAX		(1024 * 1024)
#define LKD_TIME_WINDOW		(15 * 60)	/* signature timestamps */
#define LKD_ONLINE_WINDOW	60		/* seconds since last poll */
#define LKD_MASTER_KEY_LEN	32

struct lkdb;

struct lkd_env {
	struct lkdb	*db;
	unsigned char	 master[LKD_MASTER_KEY_LEN];
	char		 region[64];
	char		 public_url[256];	/* base URL agents and SDKs use */
	char		 replica_id[64];	/* --replica-id: this process */
	char		 advertise_url[256];	/* --advertise-url: its own URL */
	int		 tls;			/* serving HTTPS */
};

extern struct lkd_env *lkd;

/* The policy attached to an access key: NULL lists mean "everything". */
struct lkd_policy {
	char	**actions;	/* exact action names */
	char	**instances;	/* ids or fnmatch patterns on id and name */
	char	**users;	/* login users for SendSshPublicKey */
	/*
	 * The instances its "tag:KEY=VALUE" entries name, looked up once
	 * when the key is (keys_lookup), so that the checks during a scan
	 * run no statement of their own.
	 */
	char	**tag_ids;
};

/* keys.c */
int	 keys_master_load(const char *path, int create);
/*
 * AES-256-GCM under the master key, bound to aad (a NUL-terminated
 * label): data into a new *outp of *lenp bytes; and back into a new
 * NUL-terminated *outp of *lenp bytes (LK_ERR_INTERNAL when it does not
 * decrypt: another master key, or altered).
 */
int	 keys_seal(const char *aad, const void *data, size_t len,
	    unsigned char **outp, size_t *lenp);
int	 keys_open(const char *aad, const unsigned char *in, size_t len,
	    unsigned char **outp, size_t *lenp);
int	 keys_create(const char *description, const char *actions,
	    const char *instances, const char *users, char **idp,
	    char **secretp);
int	 keys_lookup(const char *id, char **secretp, struct lkd_policy *pol,
	    int *disabledp);
void	 keys_policy_free(struct lkd_policy *pol);
int	 keys_policy_action(const struct lkd_policy *pol, const char *action);
int	 keys_policy_instance(const struct lkd_policy *pol, const char *id,
	    const char *name);
/*
 * An Instances policy entry: an id or name pattern (fnmatch), or
 * "tag:KEY=VALUE" (the instances with that tag); whether e is well formed.
 */
int	 keys_policy_entry_valid(const char *e);
/* 1 when some key's Instances policy names tag key ("tag:KEY="). */
int	 keys_tag_guarded(const char *key);
int	 keys_policy_user(const struct lkd_policy *pol, const char *user);
int	 keys_list(json_t **outp);
int	 keys_disable(const char *id);
int	 keys_nonce_use(const char *id, const char *nonce, int64_t now);

/* util */
int64_t	 lkd_now(void);
int	 lkd_random_id(const char *prefix, size_t nchars, const char *alphabet,
	    char *out, size_t outsize);
void	 lkd_request_id(char out[37]);
int	 lkd_peer_gone(int fd);
/* The error codes' page (server/console/errors.html), as served. */
#define LKD_ERRORS_PAGE	"/console/static/errors.html"
const char *lkd_recommend(const char *code);

#endif
