/*
 * The audit trail (docs/audit.md): events, their hash chain, the file
 * sink and verify.
 *
 *	audit_line.c	the canonical line and the chain check (pure)
 *	audit.c		building and storing events, the file sink, verify
 *	store_audit.c	the audit tables (store.h)
 */
#ifndef LK_SERVER_AUDIT_H
#define LK_SERVER_AUDIT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define AUDIT_VERSION		1
#define AUDIT_LINE_MAX		65536	/* bytes of one event's line */
#define AUDIT_HASH_SIZE		65	/* hex SHA-256 and its NUL */
#define AUDIT_ZERO_HASH \
	"0000000000000000000000000000000000000000000000000000000000000000"

/* ---- audit_line.c ------------------------------------------------- */

/* What a line says about its place in the chain. */
struct audit_line {
	int64_t	 seq;
	char	 prev[AUDIT_HASH_SIZE];
	char	 hash[AUDIT_HASH_SIZE];
};

/*
 * Makes the line of event obj (a JSON object with every member but
 * "hash", "prev" last) into *linep (a new string, no newline) and its
 * hash into hash. LK_ERR_ALLOC, LK_ERR_TOO_LONG (longer than AUDIT_LINE_MAX).
 */
int	audit_line_make(json_t *obj, char **linep, char hash[AUDIT_HASH_SIZE]);
/*
 * Checks one line of len bytes (no newline; need not be NUL-terminated):
 * ends with the hash of its canonical form, is a JSON object of version
 * AUDIT_VERSION with an integer seq >= 1 and a hex prev. Fills *l.
 * LK_ERR_INVALID_FORMAT: malformed; LK_ERR_RECORD: the hash does not
 * match the content (altered).
 */
int	audit_line_check(const char *line, size_t len, struct audit_line *l);

/* A chain being checked, line by line. */
struct audit_chain {
	int64_t	 n;		/* lines accepted */
	int64_t	 first, last;	/* their seqs */
	char	 hash[AUDIT_HASH_SIZE];	/* of the last */
	char	 why[256];	/* the first failure, when one */
};
void	audit_chain_init(struct audit_chain *c);
/*
 * The next line (lineno counts from 1, for the message). 0, or -1 with
 * c->why naming the event and what is wrong with it. The first line may
 * start anywhere (a rotated file) unless from_start: then it must be seq 1
 * with a zero prev.
 */
int	audit_chain_step(struct audit_chain *c, const char *line, size_t len,
	    int64_t lineno, int from_start);

/* ---- audit.c ------------------------------------------------------ */

enum audit_actor {
	AUDIT_ACTOR_NONE,	/* "anonymous" */
	AUDIT_ACTOR_KEY,	/* an access key id */
	AUDIT_ACTOR_OPERATOR,	/* a console operator */
	AUDIT_ACTOR_AGENT,	/* an instance's agent */
	AUDIT_ACTOR_ADMIN	/* a latchkeyd subcommand: the Unix user */
};

struct audit_ev {
	const char	*kind;
	enum audit_actor actor_type;
	const char	*actor;		/* NULL: "" */
	const char	*instance;	/* NULL: none */
	const char	*user;		/* NULL: none */
	const char	*code;		/* NULL: ok; else refused, with it */
	json_t		*detail;	/* taken (decref'd); NULL: {} */
};

/*
 * A string from outside as a JSON string: as it is when valid UTF-8 of at
 * most AUDIT_STR_MAX bytes, else its first AUDIT_STR_MAX bytes made
 * printable (lk_vis), so no caller's value can make a line too long.
 */
#define AUDIT_STR_MAX	256
json_t	*audit_str(const char *s);

/*
 * The prefix of the actor column: the column holds "<prefix>:<actor>"
 * ("key:LTAI...", "operator:alice", "agent:i-...", "admin:root").
 */
const char *audit_actor_column(enum audit_actor a);

/* Set by --no-audit: audit_emit records nothing. */
extern int audit_off;

/*
 * Records event ev, chained, right now; the detail is taken whatever the
 * outcome. A failure is logged with the whole line and returned; callers
 * do not fail their action over it.
 */
int	audit_emit(const struct audit_ev *ev);
/*
 * The client address of the request this thread runs (http.c sets it
 * around each request; "local" for subcommands). addr is borrowed until
 * the next call on this thread.
 */
void	audit_set_source(const char *addr);
/* That address ("-" when none was set). */
const char *audit_source_get(void);

/*
 * Events written inside the transaction of the state change they record
 * (store.h's store_tx_hook_fn): added with audit_batch_add (which takes
 * each detail and stamps the time and source now), written by
 * audit_batch_write_tx as the operation's hook (arg: the batch), and
 * ended by audit_batch_end (committed: the operation committed, so the
 * sink is woken), which frees them. With --no-audit nothing is added.
 */
struct audit_pend;
struct audit_batch {
	struct audit_pend	*v;
	size_t			 n;
};
int	audit_batch_add(struct audit_batch *b, const struct audit_ev *ev);
int	audit_batch_write_tx(void *arg);
void	audit_batch_end(struct audit_batch *b, int committed);

/*
 * A sink's worker thread (the file, syslog and webhook sinks): woken when
 * an event is stored, told to stop once, joined. audit_worker_wait sleeps
 * up to ms, less on stop or, unless resting, on a wake; it returns
 * whether stop was asked. audit_worker_stop joins the thread.
 */
struct audit_worker {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	pthread_t	 th;
	int		 running, stop, wake;
};
#define AUDIT_WORKER_INIT	{ .lock = PTHREAD_MUTEX_INITIALIZER, \
				  .cond = PTHREAD_COND_INITIALIZER }
int	audit_worker_start(struct audit_worker *w, void *(*fn)(void *));
void	audit_worker_wake(struct audit_worker *w);
int	audit_worker_stopping(struct audit_worker *w);
int	audit_worker_wait(struct audit_worker *w, long ms, int resting);
void	audit_worker_stop(struct audit_worker *w);

/* ---- audit_syslog.c: the syslog sink (RFC 5424), a thread ---------- */
#define AUDIT_SYSLOG_SOCKET	"/dev/log"
int	audit_syslog_start(const char *socket_path);
void	audit_syslog_stop(void);
void	audit_syslog_wake(void);

/* ---- audit_webhook.c: the webhook sink (JSON batches), a thread --- */
int	audit_webhook_start(const char *url);
void	audit_webhook_stop(void);
void	audit_webhook_wake(void);
/* https://, or http:// to loopback only: 0 or LK_ERR_INVALID_FORMAT. */
int	audit_webhook_url_ok(const char *url, char *why, size_t size);

/* "latchkeyd audit status": the head and each sink's cursor, backlog. */
int	audit_status(void);

/* The file sink while serving: a thread of its own. */
int	audit_sink_start(const char *path);
void	audit_sink_stop(void);
/* Reopen the file (SIGHUP). */
void	audit_sink_reopen(void);
/*
 * Appends every event not yet exported to path; *np (may be NULL) gets
 * how many. 0 or an error (logged).
 */
int	audit_export_file(const char *path, int64_t *np);

/*
 * The subcommand "audit verify [--file F]" and "audit export --file F":
 * prints the outcome; returns the exit status.
 */
int	audit_verify_db(void);
int	audit_verify_file(const char *path);

#endif
