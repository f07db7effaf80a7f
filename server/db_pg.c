/*
 * The PostgreSQL backend, through libpq.
 *
 * A pool of connections, opened as needed up to DBP_POOL_MAX: a statement
 * outside a transaction borrows one for its round trip, a transaction keeps
 * one from lkdb_begin to its end (the thread's connection). Results are read
 * whole (PQexecPrepared), and the connection goes back to the pool before
 * the row callbacks run, so a callback may run statements of its own.
 *
 * Statements are prepared once per connection and kept, found again by the
 * SQL text's address and the text itself (as in the SQLite backend). The
 * SQL's '?' and '?N' placeholders become $N; parameters are sent typed
 * (text, int8, bytea) so that "? IS NULL" needs no cast.
 *
 * A connection that breaks (the server restarted, the network dropped) is
 * marked and opened again the next time it is taken; the statement that
 * found it broken fails with LK_ERR_UNAVAILABLE and changed nothing (a
 * transaction that was cut is rolled back by the server).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db.h"
#include "err.h"
#include "log.h"
#include "util.h"

#define DBP_POOL_MAX	24	/* connections: workers + background threads */
#define DBP_CACHE_SLOTS	256	/* prepared statements per connection */
#define DBP_MAX_PARAMS	32
#define DBP_WAIT_SEC	10	/* for a free connection, then unavailable */
#define DBP_BLOBS	4	/* bytea columns decoded per row */

/* Type OIDs from PostgreSQL's catalog (pg_type.dat); stable. */
#define DBP_OID_BYTEA	17
#define DBP_OID_INT8	20
#define DBP_OID_TEXT	25
#define DBP_OID_BOOL	16

struct dbp_cached {
	const char	*key;		/* the caller's SQL pointer */
	char		*sql;		/* its text, to check */
	char		*types;
	unsigned int	 name;		/* prepared as "lk<name>" */
};

struct dbp_conn {
	PGconn		*pg;
	int		 broken;
	int		 in_use;
	unsigned int	 nprepared;
	struct dbp_cached cache[DBP_CACHE_SLOTS];
};

/* The LISTEN thread (lkdb_listen): a connection of its own. */
struct dbp_listener {
	pthread_t	 thread;
	int		 running;
	int		 quit[2];	/* a pipe: written to stop the thread */
	char		 channel[64];
	lkdb_notify_cb	 cb;
	void		*arg;
	const char	*uri;
};

struct dbp {
	char		*uri;
	struct dbp_listener listener;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct dbp_conn	 conns[DBP_POOL_MAX];
	int		 nopen;
};

/* What a row callback's lkdb_row points to. */
struct dbp_rows {
	PGresult	*res;
	int		 blobcol[DBP_BLOBS];
	int		 blobrow[DBP_BLOBS];
	unsigned char	*blob[DBP_BLOBS];
	size_t		 bloblen[DBP_BLOBS];
};

/* The connection that holds this thread's transaction, if any. */
static __thread struct dbp_conn *dbp_tx;

/*
 * Each migration takes the schema from version i to i + 1. Version 1 is
 * the SQLite schema as of its version 5, in PostgreSQL's types (integers
 * are BIGINT: times in seconds and byte counts outgrow INTEGER). A change to
 * the schema adds a step here and one in db_sqlite.c.
 */
static const char *const dbp_migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE access_keys(id TEXT PRIMARY KEY, secret BYTEA NOT NULL,"
	"  policy TEXT NOT NULL, disabled BIGINT NOT NULL DEFAULT 0,"
	"  description TEXT NOT NULL DEFAULT '', created BIGINT NOT NULL);"
	"CREATE TABLE nonces(key_id TEXT NOT NULL, nonce TEXT NOT NULL,"
	"  seen BIGINT NOT NULL, PRIMARY KEY(key_id, nonce));"
	"CREATE INDEX nonces_seen ON nonces(seen);"
	"CREATE TABLE activations(id TEXT PRIMARY KEY, code_hash TEXT NOT NULL,"
	"  count BIGINT NOT NULL, uses_left BIGINT NOT NULL,"
	"  expires BIGINT NOT NULL, created BIGINT NOT NULL,"
	"  disabled BIGINT NOT NULL DEFAULT 0);"
	"CREATE TABLE instances(id TEXT PRIMARY KEY, name TEXT NOT NULL,"
	"  hostname TEXT NOT NULL DEFAULT '', os TEXT NOT NULL DEFAULT '',"
	"  version TEXT NOT NULL DEFAULT '', addresses TEXT NOT NULL DEFAULT '[]',"
	"  cred_hash TEXT NOT NULL, activation_id TEXT NOT NULL,"
	"  registered BIGINT NOT NULL, last_seen BIGINT NOT NULL DEFAULT 0,"
	"  session_ports TEXT NOT NULL DEFAULT '[]',"
	"  goodbye BIGINT NOT NULL DEFAULT 0);"
	"CREATE TABLE commands(id TEXT PRIMARY KEY, name TEXT NOT NULL,"
	"  type TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',"
	"  content TEXT NOT NULL, working_dir TEXT NOT NULL DEFAULT '',"
	"  timeout BIGINT NOT NULL, enable_parameter BIGINT NOT NULL,"
	"  params TEXT NOT NULL DEFAULT '[]', provider TEXT,"
	"  category TEXT NOT NULL DEFAULT '', version BIGINT NOT NULL DEFAULT 1,"
	"  latest BIGINT NOT NULL DEFAULT 1, owner TEXT,"
	"  created BIGINT NOT NULL, invoke_times BIGINT NOT NULL DEFAULT 0);"
	"CREATE INDEX commands_name ON commands(name);"
	"CREATE TABLE invocations(id TEXT PRIMARY KEY, command_id TEXT NOT NULL,"
	"  command_name TEXT NOT NULL, command_type TEXT NOT NULL,"
	"  command_description TEXT NOT NULL DEFAULT '',"
	"  content TEXT NOT NULL, parameters TEXT NOT NULL DEFAULT '{}',"
	"  username TEXT NOT NULL, working_dir TEXT NOT NULL,"
	"  timeout BIGINT NOT NULL, owner TEXT NOT NULL,"
	"  client_token TEXT, created BIGINT NOT NULL);"
	"CREATE UNIQUE INDEX invocations_token ON invocations(owner, client_token)"
	"  WHERE client_token IS NOT NULL;"
	"CREATE INDEX invocations_owner ON invocations(owner, created);"
	"CREATE TABLE tasks(seq BIGSERIAL UNIQUE, id TEXT PRIMARY KEY,"
	"  invoke_id TEXT NOT NULL,"
	"  instance_id TEXT NOT NULL, content TEXT NOT NULL,"
	"  status TEXT NOT NULL, exit_code BIGINT,"
	"  output BYTEA NOT NULL DEFAULT '\\x'::bytea,"
	"  dropped BIGINT NOT NULL DEFAULT 0,"
	"  error_code TEXT NOT NULL DEFAULT '', created BIGINT NOT NULL,"
	"  start_time BIGINT, finish_time BIGINT, stop_time BIGINT,"
	"  updated BIGINT NOT NULL, stop_requested BIGINT NOT NULL DEFAULT 0);"
	"CREATE INDEX tasks_instance ON tasks(instance_id, status);"
	"CREATE INDEX tasks_invoke ON tasks(invoke_id);"
	"CREATE TABLE settings(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE sessions(id TEXT PRIMARY KEY, owner TEXT NOT NULL,"
	"  instance_id TEXT NOT NULL, port BIGINT NOT NULL,"
	"  username TEXT NOT NULL DEFAULT '', client_ip TEXT NOT NULL DEFAULT '',"
	"  token_hash TEXT NOT NULL, token_expires BIGINT NOT NULL,"
	"  status TEXT NOT NULL, created BIGINT NOT NULL,"
	"  started BIGINT, ended BIGINT,"
	"  bytes_in BIGINT NOT NULL DEFAULT 0,"
	"  bytes_out BIGINT NOT NULL DEFAULT 0,"
	"  closed_reason TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX sessions_instance ON sessions(instance_id, created);"
	"CREATE INDEX sessions_owner ON sessions(owner, created);"
	"CREATE TABLE operators(name TEXT PRIMARY KEY, pw_hash TEXT NOT NULL,"
	"  disabled BIGINT NOT NULL DEFAULT 0, created BIGINT NOT NULL,"
	"  last_signin BIGINT NOT NULL DEFAULT 0);"
	"CREATE TABLE console_sessions(id_hash TEXT PRIMARY KEY,"
	"  kind TEXT NOT NULL, principal TEXT NOT NULL, csrf TEXT NOT NULL,"
	"  created BIGINT NOT NULL, last_used BIGINT NOT NULL);"
	"CREATE INDEX console_sessions_used ON console_sessions(last_used);",
	/*
	 * 1 -> 2: SQLite's 5 -> 6 (routes, replicas, leases; sessions across
	 * replicas; the console's sign-in failure counts).
	 */
	"CREATE TABLE agent_routes(instance_id TEXT PRIMARY KEY,"
	"  replica_id TEXT NOT NULL, since BIGINT NOT NULL);"
	"CREATE INDEX agent_routes_replica ON agent_routes(replica_id);"
	"CREATE TABLE replicas(id TEXT PRIMARY KEY, advertise_url TEXT NOT NULL,"
	"  started BIGINT NOT NULL, seen BIGINT NOT NULL);"
	"ALTER TABLE tasks ADD COLUMN handed_out BIGINT;"
	"ALTER TABLE tasks ADD COLUMN handed_by TEXT;"
	"CREATE INDEX tasks_status ON tasks(status, instance_id);"
	"ALTER TABLE sessions ADD COLUMN client_replica TEXT NOT NULL"
	"  DEFAULT '';"
	"ALTER TABLE sessions ADD COLUMN client_url TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE sessions ADD COLUMN handout BIGINT NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN handed BIGINT NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN end_requested BIGINT NOT NULL"
	"  DEFAULT 0;"
	"CREATE INDEX sessions_handout ON sessions(instance_id)"
	"  WHERE handout = 1;"
	"CREATE TABLE IF NOT EXISTS console_signin_fails(kind TEXT NOT NULL,"
	"  name TEXT NOT NULL, window_start BIGINT NOT NULL,"
	"  fails BIGINT NOT NULL, PRIMARY KEY(kind, name));"
	"CREATE INDEX IF NOT EXISTS console_signin_fails_start"
	"  ON console_signin_fails(window_start);",
	/*
	 * 2 -> 3 (SQLite's 6 -> 7): sessions that survive a lost connection
	 * (docs/sessions.md, "Resume"): whether both ends resume, the
	 * connection's number (each resume adds 1), and when the last one
	 * was lost (0 while connected or over; the partial index keeps the
	 * sweep of sessions not resumed in time cheap).
	 */
	"ALTER TABLE sessions ADD COLUMN resumable BIGINT NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN lost_at BIGINT NOT NULL DEFAULT 0;"
	"CREATE INDEX sessions_lost ON sessions(lost_at) WHERE lost_at > 0;",
	/*
	 * 3 -> 4 (SQLite's 7 -> 8): the sshd host keys each agent reports
	 * (issue 14, store_hostkeys.c): public halves only, one row per key.
	 */
	"CREATE TABLE instance_host_keys(instance_id TEXT NOT NULL,"
	"  key_type TEXT NOT NULL, key_b64 TEXT NOT NULL,"
	"  fingerprint TEXT NOT NULL, first_seen BIGINT NOT NULL,"
	"  seen BIGINT NOT NULL, PRIMARY KEY(instance_id, fingerprint));",
	/*
	 * 4 -> 5 (SQLite's 8 -> 9): the audit trail (issue 15,
	 * store_audit.c, docs/audit.md): the events as their chained lines,
	 * the chain's head (one row: its row lock keeps the chain of all
	 * replicas linear) and the sinks' cursors.
	 */
	"CREATE TABLE audit_events(seq BIGINT PRIMARY KEY,"
	"  time BIGINT NOT NULL, kind TEXT NOT NULL,"
	"  actor TEXT NOT NULL DEFAULT '', instance_id TEXT NOT NULL"
	"  DEFAULT '', username TEXT NOT NULL DEFAULT '',"
	"  line TEXT NOT NULL, hash TEXT NOT NULL);"
	"CREATE INDEX audit_events_actor ON audit_events(actor, seq);"
	"CREATE INDEX audit_events_instance ON audit_events(instance_id, seq);"
	"CREATE INDEX audit_events_time ON audit_events(time);"
	"CREATE TABLE audit_head(id BIGINT PRIMARY KEY, seq BIGINT NOT NULL,"
	"  hash TEXT NOT NULL);"
	"INSERT INTO audit_head VALUES(1, 0,"
	"  '00000000000000000000000000000000"
	"00000000000000000000000000000000');"
	"CREATE TABLE audit_cursors(name TEXT PRIMARY KEY,"
	"  seq BIGINT NOT NULL);",
	/* 5 -> 6 (SQLite's 9 -> 10): shell sessions (issue 17). */
	"ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'port';"
	"ALTER TABLE sessions ADD COLUMN shell TEXT NOT NULL DEFAULT '';",
	/* 6 -> 7 (SQLite's 10 -> 11): console-bound shell sessions. */
	"ALTER TABLE sessions ADD COLUMN console TEXT NOT NULL DEFAULT '';",
	/*
	 * 7 -> 8 (SQLite's 11 -> 12): each agent's clock against latchkeyd's
	 * (issue 15, docs/audit.md, "Clock skew").
	 */
	"ALTER TABLE instances ADD COLUMN clock_skew_ms BIGINT NOT NULL"
	"  DEFAULT 0;"
	"ALTER TABLE instances ADD COLUMN clock_at BIGINT NOT NULL DEFAULT 0;",
	/*
	 * 8 -> 9 (SQLite's 12 -> 13): the managed-instance lifecycle (issue 18, store_fleet.c,
	 * docs/api.md): an activation's default instance name, allowed
	 * addresses, description, lifetime and deregistrations; an
	 * instance's machine id; and the instances that were deregistered
	 * (their credential's hash kept, so that their agent is told 410
	 * "instance deregistered" rather than 401).
	 */
	"ALTER TABLE activations ADD COLUMN instance_name TEXT NOT NULL"
	"  DEFAULT '';"
	"ALTER TABLE activations ADD COLUMN ip_range TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE activations ADD COLUMN description TEXT NOT NULL"
	"  DEFAULT '';"
	"ALTER TABLE activations ADD COLUMN deregistered BIGINT NOT NULL"
	"  DEFAULT 0;"
	"ALTER TABLE instances ADD COLUMN machine_id TEXT NOT NULL DEFAULT '';"
	"CREATE INDEX instances_machine ON instances(machine_id);"
	"CREATE INDEX instances_activation ON instances(activation_id);"
	"CREATE TABLE instances_gone(id TEXT PRIMARY KEY,"
	"  cred_hash TEXT NOT NULL, reason TEXT NOT NULL,"
	"  replaced_by TEXT NOT NULL DEFAULT '', gone BIGINT NOT NULL);",
	/* 9 -> 10 (SQLite's 13 -> 14): shell sessions' recordings. */
	"CREATE TABLE session_recordings(session_id TEXT PRIMARY KEY,"
	"  instance_id TEXT NOT NULL, size BIGINT NOT NULL,"
	"  truncated BIGINT NOT NULL, created BIGINT NOT NULL,"
	"  data BYTEA NOT NULL);",
	/* 10 -> 11 (SQLite's 14 -> 15): tags on instances and commands. */
	"CREATE TABLE tags(resource_type TEXT NOT NULL,"
	"  resource_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
	"  PRIMARY KEY(resource_type, resource_id, key));"
	"CREATE INDEX tags_key ON tags(resource_type, key, value);",
	/* 11 -> 12 (SQLite's 15 -> 16): the optional host CA. */
	"CREATE TABLE host_ca(id BIGINT PRIMARY KEY, public_line TEXT"
	"  NOT NULL, sealed BYTEA NOT NULL, created BIGINT NOT NULL);"
	"ALTER TABLE instance_host_keys ADD COLUMN cert TEXT NOT NULL"
	"  DEFAULT '';"
	"ALTER TABLE instance_host_keys ADD COLUMN cert_principals TEXT"
	"  NOT NULL DEFAULT '';"
	"ALTER TABLE instance_host_keys ADD COLUMN cert_after BIGINT NOT"
	"  NULL DEFAULT 0;"
	"ALTER TABLE instance_host_keys ADD COLUMN cert_before BIGINT NOT"
	"  NULL DEFAULT 0;",
};

#define DBP_NMIGRATIONS (sizeof(dbp_migrations) / sizeof(dbp_migrations[0]))

/* Whether a failure means "the database cannot be reached right now". */
static int
dbp_unavailable(const char *state)
{
	return state == NULL ||
	    strncmp(state, "08", 2) == 0 ||	/* connection exception */
	    strncmp(state, "53", 2) == 0 ||	/* insufficient resources */
	    strncmp(state, "57P", 3) == 0 ||	/* shutdown, cannot connect */
	    strcmp(state, "40001") == 0 ||	/* serialization failure */
	    strcmp(state, "40P01") == 0 ||	/* deadlock detected */
	    strcmp(state, "55P03") == 0;	/* lock not available */
}

/* Maps a failed result to an error code, logging the server's message. */
static int
dbp_fail(struct dbp_conn *c, PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res,
	    PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : "";
	char line[300];
	size_t n;

	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(c->pg);
	snprintf(line, sizeof(line), "%s", msg ? msg : "?");
	n = strcspn(line, "\n");
	line[n] = '\0';
	if (PQstatus(c->pg) != CONNECTION_OK)
		c->broken = 1;
	if (state != NULL && strncmp(state, "23", 2) == 0) {
		log_debug("db %s constraint state=%s error=\"%s\"", what,
		    state, line);
		return LK_ERR_INVALID_FORMAT;
	}
	log_warnx("db %s state=%s error=\"%s\"", what, state ? state : "-",
	    line);
	lkdb_error_count();
	if (c->broken || dbp_unavailable(state))
		return LK_ERR_UNAVAILABLE;
	return LK_ERR_INTERNAL;
}

static void
dbp_conn_forget(struct dbp_conn *c)
{
	size_t i;

	for (i = 0; i < DBP_CACHE_SLOTS; i++) {
		free(c->cache[i].sql);
		free(c->cache[i].types);
	}
	memset(c->cache, 0, sizeof(c->cache));
	c->nprepared = 0;
}

static void
dbp_notice(void *arg, const char *msg)
{
	(void)arg;
	log_debug("db notice %.*s", (int)strcspn(msg, "\n"), msg);
}

/* Opens (or opens again) c; 0 or LK_ERR_UNAVAILABLE. */
static int
dbp_connect(struct dbp *db, struct dbp_conn *c)
{
	static const char *const keys[] = { "dbname", "application_name",
	    "connect_timeout", NULL };
	const char *vals[] = { db->uri, "latchkeyd", "5", NULL };
	char line[300];
	int again = c->pg != NULL;

	if (c->pg != NULL)
		PQfinish(c->pg);
	dbp_conn_forget(c);
	c->pg = PQconnectdbParams(keys, vals, 1);
	if (c->pg == NULL)
		return LK_ERR_ALLOC;
	if (PQstatus(c->pg) != CONNECTION_OK) {
		snprintf(line, sizeof(line), "%s", PQerrorMessage(c->pg));
		line[strcspn(line, "\n")] = '\0';
		log_warnx("db connect error=\"%s\"", line);
		lkdb_error_count();
		c->broken = 1;
		return LK_ERR_UNAVAILABLE;
	}
	PQsetNoticeProcessor(c->pg, dbp_notice, NULL);
	if (again)
		log_info("db reconnected connection=%d", (int)(c -
		    db->conns));
	c->broken = 0;
	return 0;
}

/*
 * A connection for one statement or a transaction: the thread's own while
 * it holds a transaction, else a free one from the pool (waiting up to
 * DBP_WAIT_SEC). Put it back with dbp_put.
 */
static int
dbp_get(struct dbp *db, struct dbp_conn **cp)
{
	struct dbp_conn *c = NULL;
	struct timespec until;
	int i, r;

	if (dbp_tx != NULL) {
		*cp = dbp_tx;
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DBP_WAIT_SEC;
	pthread_mutex_lock(&db->lock);
	for (;;) {
		for (i = 0; i < db->nopen; i++)
			if (!db->conns[i].in_use) {
				c = &db->conns[i];
				break;
			}
		if (c == NULL && db->nopen < DBP_POOL_MAX)
			c = &db->conns[db->nopen++];
		if (c != NULL)
			break;
		if (pthread_cond_timedwait(&db->cond, &db->lock, &until) ==
		    ETIMEDOUT) {
			pthread_mutex_unlock(&db->lock);
			log_warnx("db pool: no free connection in %d s",
			    DBP_WAIT_SEC);
			return LK_ERR_UNAVAILABLE;
		}
	}
	c->in_use = 1;
	pthread_mutex_unlock(&db->lock);
	/*
	 * A server that restarted while the connection sat in the pool has
	 * sent it a FATAL message and closed it: reading what is there (libpq
	 * never blocks here) finds that out before a statement is lost on it.
	 */
	if (c->pg != NULL && !c->broken && (PQconsumeInput(c->pg) == 0 ||
	    PQstatus(c->pg) != CONNECTION_OK))
		c->broken = 1;
	if ((c->pg == NULL || c->broken || PQstatus(c->pg) != CONNECTION_OK) &&
	    (r = dbp_connect(db, c)) != 0) {
		pthread_mutex_lock(&db->lock);
		c->in_use = 0;
		pthread_cond_signal(&db->cond);
		pthread_mutex_unlock(&db->lock);
		return r;
	}
	*cp = c;
	return 0;
}

static void
dbp_put(struct dbp *db, struct dbp_conn *c)
{
	if (c == dbp_tx)
		return;
	pthread_mutex_lock(&db->lock);
	c->in_use = 0;
	pthread_cond_signal(&db->cond);
	pthread_mutex_unlock(&db->lock);
}

/*
 * Rewrites SQLite-style placeholders: '?' is the next parameter, '?N'
 * parameter N; quoted text is copied as it is. *np gets the count of
 * parameters used. A new string, or NULL when out of memory or malformed.
 */
static char *
dbp_rewrite(const char *sql, int *np)
{
	size_t len = strlen(sql), o = 0, cap = len * 2 + 16;
	char *out, quote = 0;
	const char *p;
	int next = 0, max = 0, n;

	if ((out = malloc(cap)) == NULL)
		return NULL;
	for (p = sql; *p != '\0'; p++) {
		if (o + 8 >= cap) {
			free(out);
			return NULL;
		}
		if (quote != 0) {
			if (*p == quote)
				quote = 0;
			out[o++] = *p;
			continue;
		}
		if (*p == '\'' || *p == '"') {
			quote = *p;
			out[o++] = *p;
			continue;
		}
		if (*p != '?') {
			out[o++] = *p;
			continue;
		}
		if (p[1] >= '1' && p[1] <= '9') {
			n = 0;
			while (p[1] >= '0' && p[1] <= '9' && n < 1000)
				n = n * 10 + (*++p - '0');
		} else
			n = ++next;
		if (n > DBP_MAX_PARAMS) {
			free(out);
			return NULL;
		}
		if (n > max)
			max = n;
		o += (size_t)snprintf(out + o, cap - o, "$%d", n);
	}
	out[o] = '\0';
	*np = max;
	return out;
}

/* The prepared statement for sql on c, preparing it the first time. */
static int
dbp_prepare(struct dbp_conn *c, const char *sql, const char *types,
    char *name, size_t namesize)
{
	struct dbp_cached *e = &c->cache[((uintptr_t)sql >> 3) %
	    DBP_CACHE_SLOTS];
	Oid oids[DBP_MAX_PARAMS];
	PGresult *res;
	char *pgsql, *sqlcopy, *typecopy;
	int n, i, r;

	if (e->sql != NULL && e->key == sql && strcmp(e->sql, sql) == 0 &&
	    strcmp(e->types, types) == 0) {
		snprintf(name, namesize, "lk%u", e->name);
		return 0;
	}
	if ((pgsql = dbp_rewrite(sql, &n)) == NULL)
		return LK_ERR_INTERNAL;
	if ((size_t)n != strlen(types)) {
		log_warnx("db prepare: %d placeholders, %zu types", n,
		    strlen(types));
		free(pgsql);
		return LK_ERR_INTERNAL;
	}
	for (i = 0; i < n; i++)
		oids[i] = types[i] == 'i' ? DBP_OID_INT8 : types[i] == 'b' ?
		    DBP_OID_BYTEA : DBP_OID_TEXT;
	snprintf(name, namesize, "lk%u", c->nprepared);
	res = PQprepare(c->pg, name, pgsql, n, oids);
	free(pgsql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		r = dbp_fail(c, res, "prepare");
		PQclear(res);
		return r;
	}
	PQclear(res);
	sqlcopy = strdup(sql);
	typecopy = strdup(types);
	if (sqlcopy == NULL || typecopy == NULL) {
		/* Used once under its name; the name is not reused. */
		free(sqlcopy);
		free(typecopy);
		c->nprepared++;
		return 0;
	}
	/* A slot taken by other SQL is overwritten; its statement stays. */
	free(e->sql);
	free(e->types);
	e->key = sql;
	e->sql = sqlcopy;
	e->types = typecopy;
	e->name = c->nprepared++;
	return 0;
}

static int64_t
dbp_col_int(const struct lkdb_row *row, int i)
{
	const struct dbp_rows *q = row->impl;
	const char *v;

	if (PQgetisnull(q->res, row->n, i))
		return 0;
	v = PQgetvalue(q->res, row->n, i);
	if (PQftype(q->res, i) == DBP_OID_BOOL)
		return *v == 't';
	return strtoll(v, NULL, 10);
}

static const char *
dbp_col_text(const struct lkdb_row *row, int i)
{
	const struct dbp_rows *q = row->impl;

	if (PQgetisnull(q->res, row->n, i))
		return NULL;
	return PQgetvalue(q->res, row->n, i);
}

/* bytea arrives as text ("\x..."): decoded here, kept for the row. */
static const void *
dbp_col_blob(const struct lkdb_row *row, int i, size_t *lenp)
{
	struct dbp_rows *q = row->impl;
	int k, slot = 0;

	*lenp = 0;
	if (PQgetisnull(q->res, row->n, i))
		return NULL;
	if (PQftype(q->res, i) != DBP_OID_BYTEA) {
		*lenp = (size_t)PQgetlength(q->res, row->n, i);
		return PQgetvalue(q->res, row->n, i);
	}
	for (k = 0; k < DBP_BLOBS; k++) {
		if (q->blob[k] != NULL && q->blobcol[k] == i &&
		    q->blobrow[k] == row->n) {
			*lenp = q->bloblen[k];
			return q->blob[k];
		}
		if (q->blob[k] == NULL || q->blobrow[k] != row->n)
			slot = k;
	}
	if (q->blob[slot] != NULL)
		PQfreemem(q->blob[slot]);
	q->blob[slot] = PQunescapeBytea((const unsigned char *)
	    PQgetvalue(q->res, row->n, i), &q->bloblen[slot]);
	if (q->blob[slot] == NULL)
		return NULL;
	q->blobcol[slot] = i;
	q->blobrow[slot] = row->n;
	*lenp = q->bloblen[slot];
	return q->blob[slot];
}

static int
dbp_col_null(const struct lkdb_row *row, int i)
{
	const struct dbp_rows *q = row->impl;

	return PQgetisnull(q->res, row->n, i);
}

/* Runs one statement on c; *resp gets the result on success. */
static int
dbp_exec(struct dbp_conn *c, const char *sql, const char *types, va_list ap,
    PGresult **resp)
{
	const char *vals[DBP_MAX_PARAMS];
	int lens[DBP_MAX_PARAMS], fmts[DBP_MAX_PARAMS];
	char nums[DBP_MAX_PARAMS][24], name[24];
	size_t n = strlen(types), i;
	PGresult *res;
	ExecStatusType st;
	int r;

	*resp = NULL;
	if (n > DBP_MAX_PARAMS)
		return LK_ERR_INTERNAL;
	for (i = 0; i < n; i++) {
		lens[i] = 0;
		fmts[i] = 0;
		switch (types[i]) {
		case 's':
			vals[i] = va_arg(ap, const char *);
			break;
		case 'i':
			snprintf(nums[i], sizeof(nums[i]), "%lld",
			    (long long)va_arg(ap, int64_t));
			vals[i] = nums[i];
			break;
		case 'b':
			vals[i] = va_arg(ap, const char *);
			lens[i] = (int)va_arg(ap, size_t);
			fmts[i] = 1;
			if (vals[i] == NULL)
				vals[i] = "";
			break;
		default:
			return LK_ERR_INTERNAL;
		}
	}
	if ((r = dbp_prepare(c, sql, types, name, sizeof(name))) != 0)
		return r;
	res = PQexecPrepared(c->pg, name, (int)n, vals, lens, fmts, 0);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		r = dbp_fail(c, res, "query");
		PQclear(res);
		return r;
	}
	*resp = res;
	return 0;
}

static int
dbp_query(void *impl, int *changesp, lkdb_row_cb cb, void *arg,
    const char *sql, const char *types, va_list ap)
{
	struct dbp *db = impl;
	struct dbp_conn *c;
	struct dbp_rows q;
	struct lkdb_row row = { &lkdb_pg, &q, 0 };
	PGresult *res;
	int r, k, nrows;

	if ((r = dbp_get(db, &c)) != 0)
		return r;
	r = dbp_exec(c, sql, types, ap, &res);
	dbp_put(db, c);
	if (r != 0)
		return r;
	if (changesp != NULL)
		*changesp = (int)strtol(PQcmdTuples(res), NULL, 10);
	memset(&q, 0, sizeof(q));
	q.res = res;
	nrows = cb != NULL ? PQntuples(res) : 0;
	for (row.n = 0; row.n < nrows; row.n++)
		if ((r = cb(&row, arg)) != 0)
			break;
	for (k = 0; k < DBP_BLOBS; k++)
		if (q.blob[k] != NULL)
			PQfreemem(q.blob[k]);
	PQclear(res);
	return r == 1 ? 0 : r;
}

/* A command without parameters or rows, on c. */
static int
dbp_command(struct dbp_conn *c, const char *sql)
{
	PGresult *res = PQexec(c->pg, sql);
	int r = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		r = dbp_fail(c, res, "exec");
	PQclear(res);
	return r;
}

static int
dbp_begin(void *impl)
{
	struct dbp *db = impl;
	struct dbp_conn *c;
	int r;

	if (dbp_tx != NULL)
		return LK_ERR_INTERNAL;
	if ((r = dbp_get(db, &c)) != 0)
		return r;
	if ((r = dbp_command(c, "BEGIN")) != 0) {
		dbp_put(db, c);
		return r;
	}
	dbp_tx = c;
	return 0;
}

static void
dbp_end(struct dbp *db)
{
	struct dbp_conn *c = dbp_tx;

	dbp_tx = NULL;
	dbp_put(db, c);
}

static int
dbp_commit(void *impl)
{
	int r;

	if (dbp_tx == NULL)
		return LK_ERR_INTERNAL;
	/* A failed COMMIT ends the transaction as a rollback. */
	r = dbp_command(dbp_tx, "COMMIT");
	dbp_end(impl);
	return r;
}

static void
dbp_rollback(void *impl)
{
	if (dbp_tx == NULL)
		return;
	if (!dbp_tx->broken)
		(void)dbp_command(dbp_tx, "ROLLBACK");
	dbp_end(impl);
}

/* dbp_query with its arguments listed. */
static int
dbp_run(struct dbp *db, lkdb_row_cb cb, void *arg, const char *sql,
    const char *types, ...)
{
	va_list ap;
	int r;

	va_start(ap, types);
	r = dbp_query(db, NULL, cb, arg, sql, types, ap);
	va_end(ap);
	return r;
}

/* A transaction-scoped advisory lock on the key's 64-bit hash. */
static int
dbp_lock(void *impl, const char *key)
{
	if (dbp_tx == NULL)
		return LK_ERR_INTERNAL;
	return dbp_run(impl, NULL, NULL,
	    "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "s", key);
}

static int
dbp_int_cb(const struct lkdb_row *row, void *arg)
{
	*(int64_t *)arg = lkdb_int(row, 0);
	return 1;
}

static int64_t
dbp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The server's clock against ours, measured over one round trip (its
 * reading is taken as at the middle), rounded to whole seconds.
 */
static int
dbp_clock_sync(void *impl, int64_t *offsetp)
{
	int64_t before, after, theirs = 0, d;
	int r;

	before = dbp_now_ms();
	if ((r = dbp_run(impl, dbp_int_cb, &theirs, "SELECT (extract(epoch "
	    "FROM clock_timestamp()) * 1000)::bigint", "")) != 0)
		return r;
	after = dbp_now_ms();
	d = theirs - (before + after) / 2;
	*offsetp = d >= 0 ? (d + 500) / 1000 : -((-d + 500) / 1000);
	return 0;
}

static int
dbp_version_cb(const struct lkdb_row *row, void *arg)
{
	*(int *)arg = (int)lkdb_int(row, 0);
	return 1;
}

static int
dbp_schema_version(void *impl, int *vp, int *wantp)
{
	*vp = 0;
	*wantp = (int)DBP_NMIGRATIONS;
	return dbp_run(impl, dbp_version_cb, vp, "SELECT COALESCE(MAX(version), "
	    "0) FROM latchkey_schema", "");
}

/*
 * Brings the schema to the last version. The steps run under an advisory
 * lock, so replicas that start together migrate once; each step is one
 * transaction with the version it reaches.
 */
static int
dbp_migrate(struct dbp *db)
{
	int v, from = -1, r;

	for (;;) {
		if ((r = dbp_begin(db)) != 0)
			return r;
		if ((r = dbp_command(dbp_tx, "CREATE TABLE IF NOT EXISTS "
		    "latchkey_schema(version BIGINT NOT NULL)")) != 0 ||
		    (r = dbp_lock(db, "latchkey-migrate")) != 0 ||
		    (r = dbp_run(db, dbp_version_cb, &v, "SELECT COALESCE("
		    "MAX(version), 0) FROM latchkey_schema", "")) != 0)
			goto fail;
		if (from == -1)
			from = v;
		if (v > (int)DBP_NMIGRATIONS) {
			log_warnx("db schema version %d is newer than this "
			    "latchkeyd (%d)", v, (int)DBP_NMIGRATIONS);
			r = LK_ERR_RANGE;
			goto fail;
		}
		if (v == (int)DBP_NMIGRATIONS) {
			dbp_rollback(db);
			break;
		}
		if ((r = dbp_command(dbp_tx, dbp_migrations[v])) != 0 ||
		    (r = dbp_run(db, NULL, NULL, "DELETE FROM latchkey_schema",
		    "")) != 0 ||
		    (r = dbp_run(db, NULL, NULL, "INSERT INTO latchkey_schema"
		    "(version) VALUES (?)", "i", (int64_t)v + 1)) != 0 ||
		    (r = dbp_commit(db)) != 0)
			goto fail;
		log_debug("db migrated version=%d", v + 1);
	}
	if (from != v)
		log_info("db schema version=%d from=%d", v, from);
	return 0;
 fail:
	if (dbp_tx != NULL)
		dbp_rollback(db);
	return r;
}

#define DBP_LISTEN_BACKOFF_MIN	100	/* ms, doubling to: */
#define DBP_LISTEN_BACKOFF_MAX	5000

/* Waits up to ms for the quit pipe; 1 when told to quit. */
static int
dbp_listen_pause(struct dbp_listener *l, int ms)
{
	struct pollfd pfd = { l->quit[0], POLLIN, 0 };

	return poll(&pfd, 1, ms) > 0;
}

/*
 * Opens the listener's connection and listens: NULL when the server
 * cannot be reached. TCP keepalives find a peer that vanished without a
 * word within about 25 s.
 */
static PGconn *
dbp_listen_connect(struct dbp_listener *l)
{
	static const char *const keys[] = { "dbname", "application_name",
	    "connect_timeout", "keepalives", "keepalives_idle",
	    "keepalives_interval", "keepalives_count", NULL };
	const char *vals[] = { l->uri, "latchkeyd-listen", "5", "1", "10",
	    "5", "3", NULL };
	char sql[96], line[300];
	PGconn *pg;
	PGresult *res;
	int ok;

	if ((pg = PQconnectdbParams(keys, vals, 1)) == NULL)
		return NULL;
	if (PQstatus(pg) != CONNECTION_OK) {
		snprintf(line, sizeof(line), "%s", PQerrorMessage(pg));
		line[strcspn(line, "\n")] = '\0';
		log_warnx("db listen connect error=\"%s\"", line);
		PQfinish(pg);
		return NULL;
	}
	PQsetNoticeProcessor(pg, dbp_notice, NULL);
	/* The channel is ours (lower case letters, digits, '_', '-'). */
	snprintf(sql, sizeof(sql), "LISTEN \"%s\"", l->channel);
	res = PQexec(pg, sql);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok || PQsetnonblocking(pg, 1) != 0) {
		log_warnx("db listen channel=%s failed", l->channel);
		PQfinish(pg);
		return NULL;
	}
	return pg;
}

/* Hands over what arrived; 0, or -1 when the connection is lost. */
static int
dbp_listen_read(struct dbp_listener *l, PGconn *pg)
{
	PGnotify *n;

	if (PQconsumeInput(pg) == 0)
		return -1;
	while ((n = PQnotifies(pg)) != NULL) {
		l->cb(l->arg, n->extra);
		PQfreemem(n);
	}
	return PQstatus(pg) == CONNECTION_OK ? 0 : -1;
}

static void *
dbp_listen_main(void *arg)
{
	struct dbp_listener *l = arg;
	struct pollfd pfd[2];
	int backoff = DBP_LISTEN_BACKOFF_MIN, up = 0;
	PGconn *pg;

	for (;;) {
		if ((pg = dbp_listen_connect(l)) == NULL) {
			if (dbp_listen_pause(l, backoff))
				break;
			backoff = backoff * 2 > DBP_LISTEN_BACKOFF_MAX ?
			    DBP_LISTEN_BACKOFF_MAX : backoff * 2;
			continue;
		}
		backoff = DBP_LISTEN_BACKOFF_MIN;
		log_info("db listen channel=%s %s", l->channel, up ?
		    "reconnected" : "started");
		up = 1;
		l->cb(l->arg, NULL);		/* resync */
		for (;;) {
			pfd[0].fd = PQsocket(pg);
			pfd[0].events = POLLIN;
			pfd[1].fd = l->quit[0];
			pfd[1].events = POLLIN;
			pfd[0].revents = pfd[1].revents = 0;
			if (poll(pfd, 2, -1) < 0 && errno != EINTR)
				break;
			if (pfd[1].revents != 0) {
				PQfinish(pg);
				return NULL;
			}
			if (pfd[0].revents != 0 && dbp_listen_read(l, pg) != 0)
				break;
		}
		log_warnx("db listen channel=%s connection lost", l->channel);
		PQfinish(pg);
		if (dbp_listen_pause(l, DBP_LISTEN_BACKOFF_MIN))
			break;
	}
	return NULL;
}

static int
dbp_listen(void *impl, const char *channel, lkdb_notify_cb cb, void *arg)
{
	struct dbp *db = impl;
	struct dbp_listener *l = &db->listener;

	if (l->running || strlen(channel) >= sizeof(l->channel) ||
	    strspn(channel, "abcdefghijklmnopqrstuvwxyz0123456789_-") !=
	    strlen(channel))
		return LK_ERR_INVALID_FORMAT;
	snprintf(l->channel, sizeof(l->channel), "%s", channel);
	l->cb = cb;
	l->arg = arg;
	l->uri = db->uri;
	if (pipe2(l->quit, O_CLOEXEC) != 0)
		return LK_ERR_SYSTEM;
	if (pthread_create(&l->thread, NULL, dbp_listen_main, l) != 0) {
		close(l->quit[0]);
		close(l->quit[1]);
		return LK_ERR_SYSTEM;
	}
	l->running = 1;
	return 0;
}

static void
dbp_listen_stop(struct dbp_listener *l)
{
	if (!l->running)
		return;
	lk_fd_wake(l->quit[1], "q", 1);
	pthread_join(l->thread, NULL);
	close(l->quit[0]);
	close(l->quit[1]);
	l->running = 0;
}

static void
dbp_close(void *impl)
{
	struct dbp *db = impl;
	int i;

	if (db == NULL)
		return;
	dbp_listen_stop(&db->listener);
	for (i = 0; i < DBP_POOL_MAX; i++) {
		if (db->conns[i].pg != NULL)
			PQfinish(db->conns[i].pg);
		dbp_conn_forget(&db->conns[i]);
	}
	pthread_mutex_destroy(&db->lock);
	pthread_cond_destroy(&db->cond);
	free(db->uri);
	free(db);
}

/*
 * Opens the first connection (so a wrong URI or an unreachable server is
 * reported at start) and migrates. The password comes from the URI or from
 * libpq's own sources (PGPASSFILE, ~/.pgpass); it is never logged.
 */
static int
dbp_open(const char *uri, void **implp)
{
	struct dbp *db;
	struct dbp_conn *c;
	int r;

	*implp = NULL;
	if (PQisthreadsafe() == 0) {
		log_warnx("db: this libpq is not thread-safe");
		return LK_ERR_INTERNAL;
	}
	if ((db = calloc(1, sizeof(*db))) == NULL ||
	    (db->uri = strdup(uri)) == NULL) {
		free(db);
		return LK_ERR_ALLOC;
	}
	pthread_mutex_init(&db->lock, NULL);
	pthread_cond_init(&db->cond, NULL);
	if ((r = dbp_get(db, &c)) != 0) {
		dbp_close(db);
		return r;
	}
	dbp_put(db, c);
	if ((r = dbp_migrate(db)) != 0) {
		dbp_close(db);
		return r;
	}
	*implp = db;
	return 0;
}

const struct lkdb_backend lkdb_pg = {
	.name = "postgresql",
	.open = dbp_open,
	.close = dbp_close,
	.query = dbp_query,
	.begin = dbp_begin,
	.commit = dbp_commit,
	.rollback = dbp_rollback,
	.lock = dbp_lock,
	.clock_sync = dbp_clock_sync,
	.backup = NULL,
	.listen = dbp_listen,
	.schema_version = dbp_schema_version,
	.col_int = dbp_col_int,
	.col_text = dbp_col_text,
	.col_blob = dbp_col_blob,
	.col_null = dbp_col_null,
};
