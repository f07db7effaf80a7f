/*
 * latchkey-agent: the program that runs as root on every managed server,
 * registers with latchkeyd, long-polls for tasks, runs them and reports
 * their results. See docs/agent.md for the threads and processes, and
 * docs/agent-protocol.md for the protocol this file's types carry.
 *
 * Modules, one concern each:
 *	latchkey-agent.c	main, command line, register, status, exec-local
 *	agent_run.c		the daemon: signals, hello, long poll, shutdown
 *	agent_task.c		running tasks: one thread each, stops
 *	agent_exec.c		one task's process: fork, user, output, timeout
 *	agent_file.c		a SendFile task: the file written as its owner
 *	agent_report.c		result queue, spool directory, reporter thread
 *	agent_http.c		HTTP with libcurl
 *	agent_state.c		state file and the host's facts
 *	agent_hostkeys.c	sshd's host keys, for the facts
 *	agent_hostcerts.c	the host CA's certificates, for sshd
 *	agent_hostcerts_check.c	their check, pure (unit-tested alone)
 *	agent_login.c		logins with pushed keys, from sshd's log
 *	agent_clock.c		this clock against latchkeyd's
 *	agent_log.c		the event log file
 *	agent_sess.c		sessions: ports and shells through the relay
 *	agent_shell.c		a shell session's process, its keeper, its pty
 *	agent_rec.c		shell sessions' recordings, their upload
 */
#ifndef LK_AGENT_H
#define LK_AGENT_H

#include <sys/types.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#define AGENT_PROGNAME		"latchkey-agent"
#define AGENT_VERSION		"1.4.0"
#define AGENT_STATE_FILE	"/var/lib/latchkey/agent.json"
#define AGENT_LOG_FILE		"/var/log/latchkey/agent.log"
#ifndef LK_SYSCONFDIR
#define LK_SYSCONFDIR		"/etc"
#endif
#define AGENT_CONF_FILE		LK_SYSCONFDIR "/latchkey/agent.conf"

#define AGENT_URL_MAX		1024	/* longest server URL */
#define AGENT_SERVERS_MAX	8	/* register --server, repeated */
#define AGENT_REPLICA_MAX	63	/* longest Latchkey-Replica kept */
#define AGENT_RUNNING_MAX	128	/* ids in Latchkey-Running-Tasks */
#define AGENT_ID_MAX		64	/* longest instance id */
#define AGENT_CRED_MAX		128	/* longest credential */
#define AGENT_TASKID_MAX	128	/* longest task id */
#define AGENT_BODY_MAX		(1024 * 1024)	/* protocol's body limit */
#define AGENT_STATE_MAX		(64 * 1024)	/* state file size */
#define AGENT_OUTPUT_MAX	(24 * 1024)	/* output kept per task */
#define AGENT_POLL_WAIT		25	/* seconds the server may hold a poll */
#define AGENT_HOSTKEYS_MAX	16	/* host keys told to the server */
#define AGENT_HOSTKEY_CHECK	60	/* seconds between checks of them */
#define AGENT_KILL_GRACE_MS	2000	/* SIGTERM to SIGKILL */
#define AGENT_DRAIN_MS		5000	/* tasks' time at shutdown */
#define AGENT_FLUSH_MS		5000	/* reports' time at shutdown */

/* Exit statuses (sysexits(3) numbers), see latchkey-agent(8). */
#define AGENT_EXIT_OK		0
#define AGENT_EXIT_ERROR	1	/* anything else */
#define AGENT_EXIT_USAGE	64	/* bad command line or URL */
#define AGENT_EXIT_UNAVAILABLE	69	/* server unreachable or failing */
#define AGENT_EXIT_IO		74	/* state or log file not written */
#define AGENT_EXIT_PROTOCOL	76	/* server's answer not understood */
#define AGENT_EXIT_REFUSED	77	/* activation refused */
#define AGENT_EXIT_CONFIG	78	/* not registered or bad state file */
#define AGENT_EXIT_DEREGISTERED	79	/* the instance was deregistered */

/*
 * agent_state.c: the identity written by register, read by run. server is
 * servers[0], the first URL (what sessions dial when a poll names none).
 */
struct agent_state {
	char	server[AGENT_URL_MAX];
	char	servers[AGENT_SERVERS_MAX][AGENT_URL_MAX];
	size_t	nservers;	/* 1..AGENT_SERVERS_MAX */
	char	instance_id[AGENT_ID_MAX + 1];
	char	credential[AGENT_CRED_MAX + 1];
	char	cacert[AGENT_URL_MAX];	/* "" when the system's CAs */
};

int	 agent_state_load(const char *, struct agent_state *);
int	 agent_state_open(const char *, struct agent_state *);
int	 agent_state_save(const char *, const struct agent_state *);
int	 agent_state_spooldir(const char *, char *, size_t);
int	 agent_id_valid(const char *, size_t);
int	 agent_cred_valid(const char *);
json_t	*agent_facts(const json_t *);
#define AGENT_MACHINE_ID_MAX	64
/*
 * agent_root.c: whether LATCHKEY_ROOT names a scratch root, and PATH (an
 * absolute path) under it, or PATH itself when it names none
 * (LK_ERR_TOO_LONG when that does not fit in size).
 */
int	 agent_has_root(void);
int	 agent_rooted(char *, size_t, const char *);
const char *agent_machine_id(char *, size_t);

/*
 * agent_hostkeys.c: sshd's host keys as a new JSON array of "type base64"
 * strings, sorted; empty when they cannot be read (logged once). NULL
 * only when out of memory.
 */
json_t	*agent_hostkeys(void);
/*
 * Runs argv[0] with argv, no environment, and reads at most max - 1 bytes
 * of its stdout into out. 0 when it exited 0 in time (agent_hostkeys.c).
 */
int	 agent_hostkeys_run(char *const argv[], char *out, size_t max);

/*
 * agent_hostcerts.c: the host certificates of a hello answer, installed
 * for sshd with --host-certificates. agent_hostcerts_check
 * (agent_hostcerts_check.c) is the check of that input: every entry of
 * certs must be a string "TYPE base64" (no comment) of a host certificate
 * of one of keys (the "type base64" lines reported), at most one per key,
 * and at most AGENT_HOSTKEYS_MAX entries; then lines[] and hexes[] (the
 * keys' SHA-256 in hex) get *np new strings; otherwise nothing, and
 * LK_ERR_INVALID_FORMAT (or LK_ERR_ALLOC).
 */
#define AGENT_HOSTCERT_HELLO_MS	(6LL * 3600 * 1000)	/* renewal hellos */
void	 agent_hostcerts_enable(int);
int	 agent_hostcerts_enabled(void);
int	 agent_hostcerts_check(const json_t *, const json_t *, char **,
	    char **, size_t *);
void	 agent_hostcerts_apply(const json_t *, const json_t *);

/* agent_clock.c: this clock against latchkeyd's (docs/audit.md). */
long long agent_clock_ms(void);
void	 agent_clock_note(const json_t *);

/* agent_login.c: logins with pushed keys, reported (docs/audit.md). */
int	 agent_login_config(const char *);
int	 agent_login_start(void);
void	 agent_login_stop(void);

/* agent_http.c */
struct agent_http;
struct agent_resp {
	long	 status;	/* HTTP status, 0 when there was no answer */
	char	*body;		/* NUL-terminated, NULL when empty */
	size_t	 len;
	char	 err[512];	/* why there was no answer */
	char	 replica[AGENT_REPLICA_MAX + 1];	/* Latchkey-Replica, or "" */
};

int	 agent_url_normalize(const char *, char *, size_t, char *, size_t);
int	 agent_http_new(const struct agent_state *, int,
	    struct agent_http **);
void	 agent_http_free(struct agent_http *);
int	 agent_http_do(struct agent_http *, const char *, const char *,
	    const char *, long, int (*)(void), struct agent_resp *);
int	 agent_http_do_hdr(struct agent_http *, const char *, const char *,
	    const char *, const char *, long, int (*)(void),
	    struct agent_resp *);
const char *agent_http_url(const struct agent_http *);
size_t	 agent_http_nurls(const struct agent_http *);
int	 agent_http_failover(struct agent_http *);
void	 agent_http_ok(struct agent_http *);
int	 agent_resp_failover(int, const struct agent_resp *);
int	 agent_http_post(struct agent_http *, const char *, const json_t *,
	    long, int (*)(void), struct agent_resp *);
void	 agent_resp_free(struct agent_resp *);
json_t	*agent_resp_json(const struct agent_resp *);
const char *agent_resp_error(const struct agent_resp *, char *, size_t);

/* agent_log.c: "<time> <subsystem> <event> key=value ..." lines. */
int	 agent_log_open(const char *);
void	 agent_log_reopen(void);
void	 agent_log_close(void);
void	 agent_log_set_debug(int);
void	 agent_log(int, const char *, const char *, const char *, ...)
	    __attribute__((format(printf, 4, 5)));
const char *agent_vis(char *, size_t, const char *);
const char *agent_vis_text(char *, size_t, const char *, size_t);
void	 agent_iso8601(time_t, char *, size_t);

/* agent_exec.c: one task, run to the end in the calling thread. */
struct agent_spec {
	char		 task_id[AGENT_TASKID_MAX + 1];
	char		*type;
	char		*content;
	char		*username;
	char		*working_dir;
	long		 timeout;	/* seconds */
};

#define AGENT_STOP_NONE		0
#define AGENT_STOP_REQUEST	1	/* a poll's "stops": Stopped */
#define AGENT_STOP_SHUTDOWN	2	/* agent exiting: ExecutionInterrupted */

/* What another thread may touch while the task runs. */
struct agent_ctl {
	atomic_int	 stop;		/* AGENT_STOP_* */
	int		 wakefd;	/* eventfd, written to wake the runner */
};

struct agent_result {
	char		 task_id[AGENT_TASKID_MAX + 1];
	const char	*status;	/* Success, Failed, ... (static) */
	const char	*error_code;	/* "" or ExitCodeNonzero, ... */
	int		 exit_code;
	unsigned char	*output;	/* at most AGENT_OUTPUT_MAX bytes */
	size_t		 outlen;
	unsigned long long dropped;
	time_t		 start, finish;
};

int	 agent_ctl_init(struct agent_ctl *);
void	 agent_ctl_free(struct agent_ctl *);
void	 agent_ctl_stop(struct agent_ctl *, int);
int	 agent_spec_from_json(const json_t *, struct agent_spec *);
void	 agent_spec_free(struct agent_spec *);
struct passwd;
/* getpwnam_r() into pw, its strings in *bufp (the caller frees it). */
int	 agent_exec_getpw(const char *, struct passwd *, char **);
/* The account's groups (getgrouplist) into *groupsp (realloc'd), *np. */
int	 agent_exec_getgroups(const struct passwd *, gid_t **, int *);
void	 agent_exec_run(const struct agent_spec *, struct agent_ctl *,
	    struct agent_result *);
void	 agent_result_error(struct agent_result *, const char *,
	    const char *, const char *);
char	*agent_result_json(const struct agent_result *, size_t);
void	 agent_result_free(struct agent_result *);

/* agent_file.c: a SendFile task, run to the end in the calling thread. */
void	 agent_file_run(const struct agent_spec *, struct agent_ctl *,
	    struct agent_result *);

/* agent_report.c */
int	 agent_report_init(const char *);
int	 agent_report_start(const struct agent_state *);
int	 agent_report_enqueue(const char *, const char *);
int	 agent_report_pending(const char *);
size_t	 agent_report_ids(char *, size_t, size_t *, size_t,
	    int (*)(const char *));
size_t	 agent_report_count(void);
void	 agent_report_finish(long);
int	 agent_report_spool_count(const char *, size_t *);

/* agent_task.c */
void	 agent_task_init(void);
int	 agent_task_start(const json_t *);
void	 agent_task_stop(const char *);
void	 agent_task_drain(long);
char	*agent_task_running_header(void);

/* agent_sess.c: sessions (docs/sessions.md). */
int	 agent_sess_config(const char *);
int	 agent_sess_shell_users(const char *);
json_t	*agent_sess_ports_json(void);
int	 agent_sess_init(const struct agent_state *);
int	 agent_sess_start(const json_t *);
void	 agent_sess_stop(long);

/*
 * agent_rec.c: shell sessions' recordings and their upload
 * (docs/sessions.md, "Recording"). agent_rec_begin returns NULL when
 * recording is off or cannot start (logged; the session goes on); the
 * session's thread alone calls output, resize and end, which takes r.
 */
struct agent_rec;
int	 agent_rec_config(int, const char *);
int	 agent_rec_enabled(void);
int	 agent_rec_init(const char *, const struct agent_state *);
void	 agent_rec_stop(void);
struct agent_rec *agent_rec_begin(const char *, int, int, int);
void	 agent_rec_output(struct agent_rec *, const void *, size_t);
void	 agent_rec_resize(struct agent_rec *, int, int);
void	 agent_rec_end(struct agent_rec *);

/* agent_run.c */
int	 agent_run(const char *, const char *, int, int, long);
int	 agent_quitting(void);
int	 agent_sleep(long);
long	 agent_backoff(long *, long, long);
long	 agent_round_wait(long *);
void	 agent_cond_init(pthread_cond_t *);
int	 agent_cond_wait(pthread_cond_t *, pthread_mutex_t *, long long);

#endif
