/*
 * The SQLite backend: one file in WAL mode, schema versioned with
 * PRAGMA user_version and migrated on open. All access goes through one
 * connection guarded by a mutex (SQLite serialises writers anyway); every
 * write is one transaction with synchronous=FULL, so what the API
 * acknowledged survives kill -9 and power loss.
 *
 * Prepared statements are kept and reused (sqlite3_reset) rather than
 * prepared for each call: preparing costs more than running most of our
 * statements. Slots are chosen by the SQL text's address (our statements
 * are string literals) and checked by the text itself, so SQL built at
 * run time only costs a miss. A statement in use (a row callback running
 * the same SQL again) is not shared: the inner call prepares its own.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db.h"
#include "err.h"
#include "log.h"

#define DB_CACHE_SLOTS	256

struct db_cached {
	char		*sql;
	sqlite3_stmt	*st;
	int		 busy;
};

struct dbs {
	sqlite3		*conn;
	pthread_mutex_t	 lock;
	struct db_cached cache[DB_CACHE_SLOTS];
};

/* The database whose transaction this thread holds, if any. */
static __thread struct dbs *db_tx_held;

/* Each migration takes the schema from version i to i + 1. */
static const char *const db_migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE access_keys(id TEXT PRIMARY KEY, secret BLOB NOT NULL,"
	"  policy TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,"
	"  description TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL);"
	"CREATE TABLE nonces(key_id TEXT NOT NULL, nonce TEXT NOT NULL,"
	"  seen INTEGER NOT NULL, PRIMARY KEY(key_id, nonce));"
	"CREATE INDEX nonces_seen ON nonces(seen);"
	"CREATE TABLE activations(id TEXT PRIMARY KEY, code_hash TEXT NOT NULL,"
	"  count INTEGER NOT NULL, uses_left INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL, created INTEGER NOT NULL,"
	"  disabled INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE instances(id TEXT PRIMARY KEY, name TEXT NOT NULL,"
	"  hostname TEXT NOT NULL DEFAULT '', os TEXT NOT NULL DEFAULT '',"
	"  version TEXT NOT NULL DEFAULT '', addresses TEXT NOT NULL DEFAULT '[]',"
	"  cred_hash TEXT NOT NULL, activation_id TEXT NOT NULL,"
	"  registered INTEGER NOT NULL, last_seen INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE commands(id TEXT PRIMARY KEY, name TEXT NOT NULL,"
	"  type TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',"
	"  content TEXT NOT NULL, working_dir TEXT NOT NULL DEFAULT '',"
	"  timeout INTEGER NOT NULL, enable_parameter INTEGER NOT NULL,"
	"  params TEXT NOT NULL DEFAULT '[]', provider TEXT,"
	"  category TEXT NOT NULL DEFAULT '', version INTEGER NOT NULL DEFAULT 1,"
	"  latest INTEGER NOT NULL DEFAULT 1, owner TEXT,"
	"  created INTEGER NOT NULL, invoke_times INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX commands_name ON commands(name);"
	"CREATE TABLE invocations(id TEXT PRIMARY KEY, command_id TEXT NOT NULL,"
	"  command_name TEXT NOT NULL, command_type TEXT NOT NULL,"
	"  command_description TEXT NOT NULL DEFAULT '',"
	"  content TEXT NOT NULL, parameters TEXT NOT NULL DEFAULT '{}',"
	"  username TEXT NOT NULL, working_dir TEXT NOT NULL,"
	"  timeout INTEGER NOT NULL, owner TEXT NOT NULL,"
	"  client_token TEXT, created INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX invocations_token ON invocations(owner, client_token)"
	"  WHERE client_token IS NOT NULL;"
	"CREATE TABLE tasks(id TEXT PRIMARY KEY, invoke_id TEXT NOT NULL,"
	"  instance_id TEXT NOT NULL, content TEXT NOT NULL,"
	"  status TEXT NOT NULL, exit_code INTEGER,"
	"  output BLOB NOT NULL DEFAULT x'', dropped INTEGER NOT NULL DEFAULT 0,"
	"  error_code TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL,"
	"  start_time INTEGER, finish_time INTEGER, stop_time INTEGER,"
	"  updated INTEGER NOT NULL, stop_requested INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX tasks_instance ON tasks(instance_id, status);"
	"CREATE INDEX tasks_invoke ON tasks(invoke_id);",
	/* 1 -> 2: the invocation lists are per owner, newest first. */
	"CREATE INDEX invocations_owner ON invocations(owner, created);",
	/*
	 * 2 -> 3: account settings (the session manager switch), the ports
	 * each agent lets sessions reach, and the session records.
	 */
	"CREATE TABLE settings(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"ALTER TABLE instances ADD COLUMN session_ports TEXT NOT NULL"
	"  DEFAULT '[]';"
	"CREATE TABLE sessions(id TEXT PRIMARY KEY, owner TEXT NOT NULL,"
	"  instance_id TEXT NOT NULL, port INTEGER NOT NULL,"
	"  username TEXT NOT NULL DEFAULT '', client_ip TEXT NOT NULL DEFAULT '',"
	"  token_hash TEXT NOT NULL, token_expires INTEGER NOT NULL,"
	"  status TEXT NOT NULL, created INTEGER NOT NULL,"
	"  started INTEGER, ended INTEGER,"
	"  bytes_in INTEGER NOT NULL DEFAULT 0,"
	"  bytes_out INTEGER NOT NULL DEFAULT 0,"
	"  closed_reason TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX sessions_instance ON sessions(instance_id, created);"
	"CREATE INDEX sessions_owner ON sessions(owner, created);",
	/*
	 * 3 -> 4: the web console's operator accounts and sign-in sessions
	 * (the SHA-256 of the cookie's id, never the id).
	 */
	"CREATE TABLE operators(name TEXT PRIMARY KEY, pw_hash TEXT NOT NULL,"
	"  disabled INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,"
	"  last_signin INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE console_sessions(id_hash TEXT PRIMARY KEY,"
	"  kind TEXT NOT NULL, principal TEXT NOT NULL, csrf TEXT NOT NULL,"
	"  created INTEGER NOT NULL, last_used INTEGER NOT NULL);"
	"CREATE INDEX console_sessions_used ON console_sessions(last_used);",
	/*
	 * 4 -> 5: when the agent last said goodbye (a clean stop sets
	 * last_seen to 0, so the instance is offline at once, and keeps the
	 * time here for LastHeartbeatTime).
	 */
	"ALTER TABLE instances ADD COLUMN goodbye INTEGER NOT NULL DEFAULT 0;",
	/*
	 * 5 -> 6: replicas (docs/replicas.md): which replica holds each
	 * agent's poll, the replicas themselves, the tasks' leases (when and
	 * by which replica a poll handed a task out); sessions across
	 * replicas (docs/sessions.md): the replica holding the client and its
	 * advertise URL, and the hand-out to the agent's poll (0 none yet, 1
	 * waiting for a poll, 2 handed out at handed); the console's sign-in
	 * failure counts (docs/console.md), shared by the replicas.
	 */
	"CREATE TABLE agent_routes(instance_id TEXT PRIMARY KEY,"
	"  replica_id TEXT NOT NULL, since INTEGER NOT NULL);"
	"CREATE INDEX agent_routes_replica ON agent_routes(replica_id);"
	"CREATE TABLE replicas(id TEXT PRIMARY KEY, advertise_url TEXT NOT NULL,"
	"  started INTEGER NOT NULL, seen INTEGER NOT NULL);"
	"ALTER TABLE tasks ADD COLUMN handed_out INTEGER;"
	"ALTER TABLE tasks ADD COLUMN handed_by TEXT;"
	"CREATE INDEX tasks_status ON tasks(status, instance_id);"
	"ALTER TABLE sessions ADD COLUMN client_replica TEXT NOT NULL"
	"  DEFAULT '';"
	"ALTER TABLE sessions ADD COLUMN client_url TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE sessions ADD COLUMN handout INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN handed INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN end_requested INTEGER NOT NULL"
	"  DEFAULT 0;"
	"CREATE INDEX sessions_handout ON sessions(instance_id)"
	"  WHERE handout = 1;"
	"CREATE TABLE IF NOT EXISTS console_signin_fails(kind TEXT NOT NULL,"
	"  name TEXT NOT NULL, window_start INTEGER NOT NULL,"
	"  fails INTEGER NOT NULL, PRIMARY KEY(kind, name));"
	"CREATE INDEX IF NOT EXISTS console_signin_fails_start"
	"  ON console_signin_fails(window_start);",
	/*
	 * 6 -> 7: sessions that survive a lost connection
	 * (docs/sessions.md, "Resume"): whether both ends resume, the
	 * connection's number (each resume adds 1), and when the last one
	 * was lost (0 while connected or over; the partial index keeps the
	 * sweep of sessions not resumed in time cheap).
	 */
	"ALTER TABLE sessions ADD COLUMN resumable INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN lost_at INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX sessions_lost ON sessions(lost_at) WHERE lost_at > 0;",
	/*
	 * 7 -> 8: the sshd host keys each agent reports (issue 14,
	 * store_hostkeys.c): public halves only, one row per key.
	 */
	"CREATE TABLE instance_host_keys(instance_id TEXT NOT NULL,"
	"  key_type TEXT NOT NULL, key_b64 TEXT NOT NULL,"
	"  fingerprint TEXT NOT NULL, first_seen INTEGER NOT NULL,"
	"  seen INTEGER NOT NULL, PRIMARY KEY(instance_id, fingerprint));",
	/*
	 * 8 -> 9: the audit trail (issue 15, store_audit.c, docs/audit.md):
	 * the events as their chained lines, the chain's head (one row, the
	 * lock that keeps the chain linear) and the sinks' cursors.
	 */
	"CREATE TABLE audit_events(seq INTEGER PRIMARY KEY,"
	"  time INTEGER NOT NULL, kind TEXT NOT NULL,"
	"  actor TEXT NOT NULL DEFAULT '', instance_id TEXT NOT NULL"
	"  DEFAULT '', username TEXT NOT NULL DEFAULT '',"
	"  line TEXT NOT NULL, hash TEXT NOT NULL);"
	"CREATE INDEX audit_events_actor ON audit_events(actor, seq);"
	"CREATE INDEX audit_events_instance ON audit_events(instance_id, seq);"
	"CREATE INDEX audit_events_time ON audit_events(time);"
	"CREATE TABLE audit_head(id INTEGER PRIMARY KEY, seq INTEGER NOT NULL,"
	"  hash TEXT NOT NULL);"
	"INSERT INTO audit_head VALUES(1, 0,"
	"  '00000000000000000000000000000000"
	"00000000000000000000000000000000');"
	"CREATE TABLE audit_cursors(name TEXT PRIMARY KEY,"
	"  seq INTEGER NOT NULL);",
	/*
	 * 9 -> 10: shell sessions (issue 17, docs/sessions.md): the kind
	 * ('port' or 'shell') and a shell's hand-out as JSON (command, tty,
	 * cols, rows); a shell session's port is 0.
	 */
	"ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'port';"
	"ALTER TABLE sessions ADD COLUMN shell TEXT NOT NULL DEFAULT '';",
	/*
	 * 10 -> 11: a shell session started by the web console is bound to
	 * the console session that started it (the SHA-256 of its cookie, as
	 * console_sessions keys it; '' for any other session): only that
	 * browser, on the console's own origin, may dial it
	 * (docs/console.md, "Terminal").
	 */
	"ALTER TABLE sessions ADD COLUMN console TEXT NOT NULL DEFAULT '';",
	/*
	 * 11 -> 12: each agent's clock against latchkeyd's (issue 15,
	 * docs/audit.md, "Clock skew"): milliseconds ahead (negative:
	 * behind), and when it was measured (0: never).
	 */
	"ALTER TABLE instances ADD COLUMN clock_skew_ms INTEGER NOT NULL"
	"  DEFAULT 0;"
	"ALTER TABLE instances ADD COLUMN clock_at INTEGER NOT NULL DEFAULT 0;",
	/*
	 * 12 -> 13: the managed-instance lifecycle (issue 18, store_fleet.c,
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
	"ALTER TABLE activations ADD COLUMN deregistered INTEGER NOT NULL"
	"  DEFAULT 0;"
	"ALTER TABLE instances ADD COLUMN machine_id TEXT NOT NULL DEFAULT '';"
	"CREATE INDEX instances_machine ON instances(machine_id);"
	"CREATE INDEX instances_activation ON instances(activation_id);"
	"CREATE TABLE instances_gone(id TEXT PRIMARY KEY,"
	"  cred_hash TEXT NOT NULL, reason TEXT NOT NULL,"
	"  replaced_by TEXT NOT NULL DEFAULT '', gone INTEGER NOT NULL);",
	/*
	 * 13 -> 14: shell sessions' recordings (asciicast v2 as the agent
	 * sent it, docs/sessions.md, "Recording"), one per session.
	 */
	"CREATE TABLE session_recordings(session_id TEXT PRIMARY KEY,"
	"  instance_id TEXT NOT NULL, size INTEGER NOT NULL,"
	"  truncated INTEGER NOT NULL, created INTEGER NOT NULL,"
	"  data BLOB NOT NULL);",
	/*
	 * 14 -> 15: tags on instances and commands (issue 18, store_tag.c,
	 * docs/api.md, "Tags"): at most STORE_TAG_MAX keys a resource.
	 */
	"CREATE TABLE tags(resource_type TEXT NOT NULL,"
	"  resource_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
	"  PRIMARY KEY(resource_type, resource_id, key));"
	"CREATE INDEX tags_key ON tags(resource_type, key, value);",
	/*
	 * 15 -> 16: the optional host CA (issue 14, server/hostca.c,
	 * docs/cli.md "Host certificates"): latchkeyd's one Ed25519 key
	 * pair (id 1: the replicas on one database share it), its private
	 * half sealed under the master key; and each host key's current
	 * certificate, its principals and validity ('' and 0: none).
	 */
	"CREATE TABLE host_ca(id INTEGER PRIMARY KEY, public_line TEXT"
	"  NOT NULL, sealed BLOB NOT NULL, created INTEGER NOT NULL);"
	"ALTER TABLE instance_host_keys ADD COLUMN cert TEXT NOT NULL"
	"  DEFAULT '';"
	"ALTER TABLE instance_host_keys ADD COLUMN cert_principals TEXT"
	"  NOT NULL DEFAULT '';"
	"ALTER TABLE instance_host_keys ADD COLUMN cert_after INTEGER NOT"
	"  NULL DEFAULT 0;"
	"ALTER TABLE instance_host_keys ADD COLUMN cert_before INTEGER NOT"
	"  NULL DEFAULT 0;",
};

#define DB_NMIGRATIONS (sizeof(db_migrations) / sizeof(db_migrations[0]))

static int
db_fail(struct dbs *db, const char *what)
{
	int rc = sqlite3_errcode(db->conn);

	log_warnx("db %s error=\"%s\"", what, sqlite3_errmsg(db->conn));
	lkdb_error_count();
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED || rc == SQLITE_FULL ||
	    rc == SQLITE_IOERR || rc == SQLITE_CANTOPEN)
		return LK_ERR_UNAVAILABLE;
	return LK_ERR_INTERNAL;
}

static int
db_exec_locked(struct dbs *db, const char *sql)
{
	char *err = NULL;
	int rc;

	if ((rc = sqlite3_exec(db->conn, sql, NULL, NULL, &err)) != SQLITE_OK) {
		log_warnx("db exec error=\"%s\"", err ? err : "?");
		lkdb_error_count();
		sqlite3_free(err);
		return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ||
		    rc == SQLITE_FULL || rc == SQLITE_IOERR ?
		    LK_ERR_UNAVAILABLE : LK_ERR_INTERNAL;
	}
	return 0;
}

static int
db_user_version(struct dbs *db, int *vp)
{
	sqlite3_stmt *st = NULL;
	int r = LK_ERR_INTERNAL;

	if (sqlite3_prepare_v2(db->conn, "PRAGMA user_version", -1, &st,
	    NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		*vp = sqlite3_column_int(st, 0);
		r = 0;
	}
	sqlite3_finalize(st);
	return r;
}

/* Brings the schema to the last version, one transaction per step. */
static int
db_migrate(struct dbs *db)
{
	char pragma[64];
	int v, from, r;

	if ((r = db_user_version(db, &v)) != 0)
		return db_fail(db, "user_version");
	if (v > (int)DB_NMIGRATIONS) {
		log_warnx("db schema version %d is newer than this latchkeyd "
		    "(%d)", v, (int)DB_NMIGRATIONS);
		return LK_ERR_RANGE;
	}
	for (from = v; v < (int)DB_NMIGRATIONS; v++) {
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d;",
		    v + 1);
		if ((r = db_exec_locked(db, "BEGIN IMMEDIATE;")) != 0)
			return r;
		if ((r = db_exec_locked(db, db_migrations[v])) != 0 ||
		    (r = db_exec_locked(db, pragma)) != 0) {
			db_exec_locked(db, "ROLLBACK;");
			return r;
		}
		if ((r = db_exec_locked(db, "COMMIT;")) != 0)
			return r;
		log_debug("db migrated version=%d", v + 1);
	}
	if (from != v)
		log_info("db schema version=%d from=%d", v, from);
	return 0;
}

static void
dbs_close(void *impl)
{
	struct dbs *db = impl;
	size_t i;

	if (db == NULL)
		return;
	for (i = 0; i < DB_CACHE_SLOTS; i++) {
		sqlite3_finalize(db->cache[i].st);
		free(db->cache[i].sql);
	}
	sqlite3_close(db->conn);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

/*
 * The directory the database lives in: created 0700 when it is missing
 * (one level: /var/lib/latchkeyd, not /var/lib as well), left as it is
 * when it exists. Returns 0 or LK_ERR_SYSTEM, logged.
 */
static int
dbs_mkparent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;
	size_t n;

	if (slash == NULL || slash == path)
		return 0;
	n = (size_t)(slash - path);
	if (n >= sizeof(dir)) {
		log_warnx("db open %s: path too long", path);
		return LK_ERR_SYSTEM;
	}
	memcpy(dir, path, n);
	dir[n] = '\0';
	if (stat(dir, &st) == 0)
		return 0;
	if (errno != ENOENT || (mkdir(dir, 0700) == -1 && errno != EEXIST)) {
		log_warn("db open %s: state directory %s", path, dir);
		return LK_ERR_SYSTEM;
	}
	log_info("db created state directory %s (mode 0700)", dir);
	return 0;
}

/*
 * The database and its WAL hold secrets' hashes and every session record:
 * created 0600 (the umask may say otherwise; SQLite gives the -wal and
 * -shm files the database's mode), an existing file as it is. A missing
 * directory above it is created 0700 (dbs_mkparent).
 */
static int
dbs_open(const char *path, void **implp)
{
	struct dbs *db;
	int r, fd;

	*implp = NULL;
	if ((db = calloc(1, sizeof(*db))) == NULL)
		return LK_ERR_ALLOC;
	pthread_mutex_init(&db->lock, NULL);
	if (strcmp(path, ":memory:") != 0 && (r = dbs_mkparent(path)) != 0) {
		dbs_close(db);
		return r;
	}
	if (strcmp(path, ":memory:") != 0 &&
	    (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) >= 0)
		close(fd);
	if (sqlite3_open_v2(path, &db->conn, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_warnx("db open %s: %s", path, db->conn ?
		    sqlite3_errmsg(db->conn) : "out of memory");
		dbs_close(db);
		return LK_ERR_SYSTEM;
	}
	sqlite3_busy_timeout(db->conn, 5000);
	if ((r = db_exec_locked(db, "PRAGMA journal_mode=WAL;"
	    "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")) != 0 ||
	    (r = db_migrate(db)) != 0) {
		dbs_close(db);
		return r;
	}
	*implp = db;
	return 0;
}

static int
db_bind(struct dbs *db, sqlite3_stmt *st, const char *types, va_list ap)
{
	const char *s;
	const void *b;
	size_t blen;
	int i, rc = SQLITE_OK;

	for (i = 0; types[i] != '\0' && rc == SQLITE_OK; i++) {
		switch (types[i]) {
		case 's':
			s = va_arg(ap, const char *);
			rc = s == NULL ? sqlite3_bind_null(st, i + 1) :
			    sqlite3_bind_text(st, i + 1, s, -1,
			    SQLITE_TRANSIENT);
			break;
		case 'i':
			rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
			break;
		case 'b':
			b = va_arg(ap, const void *);
			blen = va_arg(ap, size_t);
			rc = sqlite3_bind_blob64(st, i + 1, b, blen,
			    SQLITE_TRANSIENT);
			break;
		default:
			return LK_ERR_INTERNAL;
		}
	}
	return rc == SQLITE_OK ? 0 : db_fail(db, "bind");
}

/* Takes the lock unless this thread holds it in a transaction. */
static int
db_lock(struct dbs *db)
{
	if (db_tx_held == db)
		return 0;
	pthread_mutex_lock(&db->lock);
	return 1;
}

/*
 * The statement for sql, from the cache or prepared; *cp is its cache
 * slot (NULL: finalize it after use). With the lock held.
 */
static int
db_prepare(struct dbs *db, const char *sql, sqlite3_stmt **stp,
    struct db_cached **cp)
{
	struct db_cached *c = &db->cache[((uintptr_t)sql >> 3) %
	    DB_CACHE_SLOTS];
	sqlite3_stmt *st = NULL;
	char *copy;

	*cp = NULL;
	if (c->st != NULL && !c->busy && strcmp(c->sql, sql) == 0) {
		c->busy = 1;
		*stp = c->st;
		*cp = c;
		return 0;
	}
	if (sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "prepare");
	*stp = st;
	if (c->busy || (copy = strdup(sql)) == NULL)
		return 0;		/* used once, then finalized */
	sqlite3_finalize(c->st);
	free(c->sql);
	c->sql = copy;
	c->st = st;
	c->busy = 1;
	*cp = c;
	return 0;
}

static int
dbs_query(void *impl, int *changesp, lkdb_row_cb cb, void *arg,
    const char *sql, const char *types, va_list ap)
{
	struct dbs *db = impl;
	struct lkdb_row row = { &lkdb_sqlite, NULL, 0 };
	sqlite3_stmt *st = NULL;
	struct db_cached *c = NULL;
	int locked, rc, r = 0;

	locked = db_lock(db);
	if ((r = db_prepare(db, sql, &st, &c)) != 0)
		goto out;
	if ((r = db_bind(db, st, types, ap)) != 0)
		goto out;
	row.impl = st;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb == NULL)
			continue;
		if ((r = cb(&row, arg)) != 0)
			break;
		row.n++;
	}
	if (r == 1)
		r = 0;
	else if (r == 0 && rc != SQLITE_DONE)
		r = rc == SQLITE_CONSTRAINT ? LK_ERR_INVALID_FORMAT :
		    db_fail(db, "step");
	if (r == 0 && changesp != NULL)
		*changesp = sqlite3_changes(db->conn);
 out:
	if (c != NULL) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		c->busy = 0;
	} else
		sqlite3_finalize(st);
	if (locked)
		pthread_mutex_unlock(&db->lock);
	return r;
}

static int
dbs_begin(void *impl)
{
	struct dbs *db = impl;
	int r;

	pthread_mutex_lock(&db->lock);
	if ((r = db_exec_locked(db, "BEGIN IMMEDIATE;")) != 0) {
		pthread_mutex_unlock(&db->lock);
		return r;
	}
	db_tx_held = db;
	return 0;
}

static int
dbs_commit(void *impl)
{
	struct dbs *db = impl;
	int r = db_exec_locked(db, "COMMIT;");

	if (r != 0)
		db_exec_locked(db, "ROLLBACK;");
	db_tx_held = NULL;
	pthread_mutex_unlock(&db->lock);
	return r;
}

static void
dbs_rollback(void *impl)
{
	struct dbs *db = impl;

	db_exec_locked(db, "ROLLBACK;");
	db_tx_held = NULL;
	pthread_mutex_unlock(&db->lock);
}

/* One writing transaction at a time already: nothing more to hold. */
static int
dbs_lock(void *impl, const char *key)
{
	struct dbs *db = impl;

	(void)key;
	return db_tx_held == db ? 0 : LK_ERR_INTERNAL;
}

/* One machine, one clock. */
static int
dbs_clock_sync(void *impl, int64_t *offsetp)
{
	(void)impl;
	*offsetp = 0;
	return 0;
}

/*
 * The online backup API: a consistent copy while latchkeyd serves. dest
 * must not exist (a backup never overwrites); it is made 0600, written
 * in full, then synced.
 */
static int
dbs_backup(void *impl, const char *dest)
{
	struct dbs *db = impl;
	sqlite3 *to = NULL;
	sqlite3_backup *b;
	int fd, rc, r = 0;

	if ((fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		return LK_ERR_SYSTEM;
	close(fd);
	if (sqlite3_open_v2(dest, &to, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		log_warnx("db backup open %s: %s", dest, to ?
		    sqlite3_errmsg(to) : "out of memory");
		sqlite3_close(to);
		unlink(dest);
		return LK_ERR_SYSTEM;
	}
	pthread_mutex_lock(&db->lock);
	if ((b = sqlite3_backup_init(to, "main", db->conn, "main")) == NULL)
		rc = sqlite3_errcode(to);
	else {
		rc = sqlite3_backup_step(b, -1);
		sqlite3_backup_finish(b);
	}
	pthread_mutex_unlock(&db->lock);
	if (rc != SQLITE_DONE && rc != SQLITE_OK) {
		log_warnx("db backup %s: %s", dest, sqlite3_errstr(rc));
		r = LK_ERR_SYSTEM;
	} else if (sqlite3_exec(to, "PRAGMA journal_mode=DELETE;", NULL, NULL,
	    NULL) != SQLITE_OK)
		r = LK_ERR_SYSTEM;
	sqlite3_close(to);
	if (r != 0)
		unlink(dest);
	else if ((fd = open(dest, O_RDONLY | O_CLOEXEC)) >= 0) {
		if (fsync(fd) != 0)
			r = LK_ERR_SYSTEM;
		close(fd);
	}
	return r;
}

static int
dbs_schema_version(void *impl, int *vp, int *wantp)
{
	struct dbs *db = impl;
	int r;

	pthread_mutex_lock(&db->lock);
	r = db_user_version(db, vp);
	pthread_mutex_unlock(&db->lock);
	*wantp = (int)DB_NMIGRATIONS;
	return r;
}

static int64_t
dbs_col_int(const struct lkdb_row *row, int i)
{
	return sqlite3_column_int64(row->impl, i);
}

static const char *
dbs_col_text(const struct lkdb_row *row, int i)
{
	return (const char *)sqlite3_column_text(row->impl, i);
}

static const void *
dbs_col_blob(const struct lkdb_row *row, int i, size_t *lenp)
{
	const void *b = sqlite3_column_blob(row->impl, i);

	*lenp = (size_t)sqlite3_column_bytes(row->impl, i);
	return b;
}

static int
dbs_col_null(const struct lkdb_row *row, int i)
{
	return sqlite3_column_type(row->impl, i) == SQLITE_NULL;
}

const struct lkdb_backend lkdb_sqlite = {
	.name = "sqlite",
	.open = dbs_open,
	.close = dbs_close,
	.query = dbs_query,
	.begin = dbs_begin,
	.commit = dbs_commit,
	.rollback = dbs_rollback,
	.lock = dbs_lock,
	.clock_sync = dbs_clock_sync,
	.backup = dbs_backup,
	.schema_version = dbs_schema_version,
	.col_int = dbs_col_int,
	.col_text = dbs_col_text,
	.col_blob = dbs_col_blob,
	.col_null = dbs_col_null,
};
