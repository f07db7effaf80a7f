/*
 * One task's process, from the task as the server sent it to the result
 * the agent reports: agent_exec_run() runs it to the end in the calling
 * thread (the task's own thread in the daemon, main in exec-local).
 *
 * The agent has other threads, so between fork and execve the child calls
 * only async-signal-safe functions: everything it needs (the account, its
 * groups, the environment, argv) is looked up and built by the parent
 * first, with the thread-safe getpwnam_r() and getgrouplist(). The child
 * then starts its own session, so that the task's shell and everything it
 * starts share one process group the agent can kill, takes the user's
 * groups, gid and uid, sets umask 022, changes directory, points stdin at
 * /dev/null and stdout and stderr at one pipe, and runs /bin/sh -c CONTENT
 * in a clean environment (HOME, USER, LOGNAME, SHELL, PATH and the agent's
 * own LATCHKEY_* variables). A failure on the way is written as {stage, errno} to a
 * close-on-exec pipe, so the parent can tell DirectoryNotExists from a
 * script that ran; a successful execve closes that pipe empty.
 *
 * The parent keeps the first AGENT_OUTPUT_MAX bytes of output and counts
 * the rest in "dropped". It ends the task when the shell exits (after
 * reading what is left in the pipe: up to 1 s, until the pipe is closed or
 * quiet for 100 ms; a background process that keeps the pipe open does not
 * hold the task), or when the timeout passes or a stop is asked for: then
 * the whole process group gets SIGTERM, and SIGKILL once the shell has
 * exited or after AGENT_KILL_GRACE_MS at the latest. The shell is reaped
 * only after that SIGKILL, so its process group id cannot be reused by
 * an unrelated process in between.
 */
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "b64.h"
#include "err.h"
#include "util.h"

#include "agent.h"
#include "lk_paths.h"

#define AGENT_SHELL		"/bin/sh"
#define AGENT_ENV_PATH		"/usr/local/sbin:/usr/local/bin:" \
				"/usr/sbin:/usr/bin:/sbin:/bin"
#define AGENT_ENV_PATH_MAX	4096
#define AGENT_ENV_MAX		24	/* variables in a task's environment */
#define AGENT_ENV_PASS_MAX	1024	/* longest LATCHKEY_* passed on */
#define AGENT_CONTENT_MAX	(128 * 1024 - 1)	/* one argv string */
#define AGENT_TIMEOUT_DEFAULT	60
#define AGENT_TIMEOUT_MAX	(7 * 86400L)
#define AGENT_GROUPS_MAX	65536
#define AGENT_PWBUF_MAX		(1024 * 1024)
#define AGENT_READ_CHUNK	8192
#define AGENT_DRAIN_QUIET_MS	100	/* pipe quiet after the shell's exit */
#define AGENT_DRAIN_MAX_MS	1000	/* reading after the shell's exit */
#define AGENT_TICK_MS		100	/* without a pidfd: how often to look */

/* Where the child failed before execve. */
enum agent_stage {
	AGENT_STAGE_SETSID = 1,
	AGENT_STAGE_GROUPS,
	AGENT_STAGE_SETGID,
	AGENT_STAGE_SETUID,
	AGENT_STAGE_CHDIR,
	AGENT_STAGE_STDIO,
	AGENT_STAGE_EXEC,
};

struct agent_child_err {
	int	stage;
	int	err;
};

/* Everything the child needs, made before fork. */
struct agent_prep {
	uid_t	 uid;
	gid_t	 gid;
	gid_t	*groups;
	int	 ngroups;
	int	 switch_user;
	char	*dir;
	int	 dir_required;	/* working_dir given: no fallback to "/" */
	char	*envp[AGENT_ENV_MAX + 1];	/* NULL-terminated */
	char	*argv[4];
};

/* Why the wait loop ended. */
enum agent_end {
	AGENT_END_EXIT,
	AGENT_END_TIMEOUT,
	AGENT_END_STOP,
	AGENT_END_SHUTDOWN,
};

/* One running child, as the parent sees it. */
struct agent_proc {
	pid_t		 pid;
	int		 outfd;
	int		 pidfd;		/* -1 when the kernel has none */
	int		 status;	/* from waitpid() */
};

static long long
agent_exec_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
agent_ctl_init(struct agent_ctl *ctl)
{
	atomic_init(&ctl->stop, AGENT_STOP_NONE);
	if ((ctl->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1)
		return LK_ERR_SYSTEM;
	return 0;
}

void
agent_ctl_free(struct agent_ctl *ctl)
{
	if (ctl->wakefd != -1)
		close(ctl->wakefd);
	ctl->wakefd = -1;
}

/* Asks a running task to stop; the first reason given wins. */
void
agent_ctl_stop(struct agent_ctl *ctl, int how)
{
	int none = AGENT_STOP_NONE;
	uint64_t one = 1;
	ssize_t ign;

	atomic_compare_exchange_strong(&ctl->stop, &none, how);
	/* EAGAIN: the counter is full, the runner is awake anyway. */
	ign = write(ctl->wakefd, &one, sizeof(one));
	(void)ign;
}

static char *
agent_spec_str(const json_t *t, const char *key, const char *def)
{
	const json_t *v = json_object_get(t, key);

	if (v == NULL || json_is_null(v))
		return def != NULL ? strdup(def) : NULL;
	if (!json_is_string(v))
		return NULL;
	return strdup(json_string_value(v));
}

/*
 * A task object from a poll into spec. Returns LK_ERR_INVALID_FORMAT when
 * it has no usable task_id (it cannot even be reported); a task with a
 * good id but other bad fields is returned with spec->type NULL, and runs
 * into an Error result.
 */
int
agent_spec_from_json(const json_t *t, struct agent_spec *spec)
{
	const char *id = json_string_value(json_object_get(t, "task_id"));
	const json_t *to = json_object_get(t, "timeout");

	memset(spec, 0, sizeof(*spec));
	if (id == NULL || !agent_id_valid(id, AGENT_TASKID_MAX))
		return LK_ERR_INVALID_FORMAT;
	snprintf(spec->task_id, sizeof(spec->task_id), "%s", id);
	spec->timeout = AGENT_TIMEOUT_DEFAULT;
	if (json_is_integer(to) && json_integer_value(to) > 0)
		spec->timeout = json_integer_value(to) > AGENT_TIMEOUT_MAX ?
		    AGENT_TIMEOUT_MAX : (long)json_integer_value(to);
	spec->type = agent_spec_str(t, "command_type", "");
	spec->content = agent_spec_str(t, "content", NULL);
	spec->username = agent_spec_str(t, "username", "root");
	spec->working_dir = agent_spec_str(t, "working_dir", "");
	if (spec->content == NULL || spec->username == NULL ||
	    spec->working_dir == NULL || (to != NULL && !json_is_null(to) &&
	    !json_is_integer(to))) {
		free(spec->type);
		spec->type = NULL;
	}
	return 0;
}

void
agent_spec_free(struct agent_spec *spec)
{
	free(spec->type);
	free(spec->content);
	free(spec->username);
	free(spec->working_dir);
	memset(spec, 0, sizeof(*spec));
}

/* A result with no process run: status, error_code, and why as output. */
void
agent_result_error(struct agent_result *res, const char *status,
    const char *code, const char *msg)
{
	int n;

	res->status = status;
	res->error_code = code;
	res->exit_code = -1;
	free(res->output);
	res->output = NULL;
	res->outlen = 0;
	if ((res->output = malloc(AGENT_OUTPUT_MAX)) != NULL &&
	    (n = snprintf((char *)res->output, AGENT_OUTPUT_MAX,
	    "%s: %s\n", AGENT_PROGNAME, msg)) > 0)
		res->outlen = (size_t)n < AGENT_OUTPUT_MAX ? (size_t)n :
		    AGENT_OUTPUT_MAX - 1;
}

static void
agent_prep_free(struct agent_prep *p)
{
	size_t i;

	free(p->groups);
	free(p->dir);
	for (i = 0; i < sizeof(p->envp) / sizeof(p->envp[0]); i++)
		free(p->envp[i]);
	memset(p, 0, sizeof(*p));
}

/* getpwnam_r() with a buffer that grows; *bufp is freed by the caller. */
int
agent_exec_getpw(const char *name, struct passwd *pw, char **bufp)
{
	struct passwd *res = NULL;
	size_t len = 16384;
	char *buf;
	int e;

	*bufp = NULL;
	for (;;) {
		if ((buf = realloc(*bufp, len)) == NULL)
			return LK_ERR_ALLOC;
		*bufp = buf;
		if ((e = getpwnam_r(name, pw, buf, len, &res)) != ERANGE)
			break;
		if ((len *= 2) > AGENT_PWBUF_MAX)
			return LK_ERR_TOO_LONG;
	}
	if (e == 0 && res == NULL)
		return LK_ERR_USER_UNKNOWN;
	return e == 0 ? 0 : LK_ERR_SYSTEM;
}

int
agent_exec_getgroups(const struct passwd *pw, gid_t **groupsp, int *np)
{
	int n = 64, want;
	gid_t *g;

	for (;;) {
		if ((g = reallocarray(*groupsp, (size_t)n, sizeof(*g))) ==
		    NULL)
			return LK_ERR_ALLOC;
		*groupsp = g;
		want = n;
		if (getgrouplist(pw->pw_name, pw->pw_gid, g, &want) != -1) {
			*np = want;
			return 0;
		}
		if (want <= n || want > AGENT_GROUPS_MAX)
			return LK_ERR_SYSTEM;
		n = want;
	}
}

static int
agent_exec_groups(const struct passwd *pw, struct agent_prep *p)
{
	return agent_exec_getgroups(pw, &p->groups, &p->ngroups);
}

/* asprintf() that leaves *sp NULL on failure. */
static int
agent_exec_envvar(char **sp, const char *name, const char *value)
{
	if (asprintf(sp, "%s=%s", name, value) == -1) {
		*sp = NULL;
		return -1;
	}
	return 0;
}

/* A LATCHKEY_* variable of the agent's own environment, to pass on. */
static int
agent_exec_env_passed(const char *kv)
{
	size_t i, len = strlen(kv);

	if (strncmp(kv, "LATCHKEY_", 9) != 0 || len > AGENT_ENV_PASS_MAX)
		return 0;
	for (i = 9; kv[i] != '=' && kv[i] != '\0'; i++)
		if (!((kv[i] >= 'A' && kv[i] <= 'Z') ||
		    (kv[i] >= '0' && kv[i] <= '9') || kv[i] == '_'))
			return 0;
	if (kv[i] != '=' || i == 9)
		return 0;
	for (; kv[i] != '\0'; i++)
		if ((unsigned char)kv[i] < 0x20 || kv[i] == 0x7f)
			return 0;
	return 1;
}

/*
 * Appends dir to the colon-separated list in buf (of size len) unless it
 * is there already. Returns -1 if it does not fit.
 */
static int
agent_exec_path_add(char *buf, size_t len, const char *dir)
{
	const char *p = buf, *e;
	size_t n = strlen(dir), used = strlen(buf);

	while (*p != '\0') {
		e = strchr(p, ':');
		if (e == NULL)
			e = p + strlen(p);
		if ((size_t)(e - p) == n && strncmp(p, dir, n) == 0)
			return 0;
		p = *e == ':' ? e + 1 : e;
	}
	if (used + (used > 0) + n + 1 > len)
		return -1;
	if (used > 0)
		buf[used++] = ':';
	memcpy(buf + used, dir, n + 1);
	return 0;
}

/*
 * PATH: the scratch root's own directories first when LATCHKEY_ROOT names
 * one (tests and demos; see latchkey-agent(8)), then the directories the
 * agent was installed into (LK_SBINDIR, LK_BINDIR: acs-plugin-manager sits
 * beside the agent, so the seed's literal command works under any PREFIX),
 * then the standard list; each directory once.
 */
static int
agent_exec_env_path(char **sp)
{
	const char *std[] = { LK_SBINDIR, LK_BINDIR, "/usr/local/sbin",
	    "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin" };
	char path[AGENT_ENV_PATH_MAX], rdir[PATH_MAX];
	size_t i;

	path[0] = '\0';
	if (agent_has_root()) {
		if (agent_rooted(rdir, sizeof(rdir), "/usr/local/sbin") != 0 ||
		    agent_exec_path_add(path, sizeof(path), rdir) != 0)
			return agent_exec_envvar(sp, "PATH", AGENT_ENV_PATH);
		if (agent_rooted(rdir, sizeof(rdir), "/usr/local/bin") != 0 ||
		    agent_exec_path_add(path, sizeof(path), rdir) != 0)
			return agent_exec_envvar(sp, "PATH", AGENT_ENV_PATH);
	}
	for (i = 0; i < sizeof(std) / sizeof(std[0]); i++)
		if (agent_exec_path_add(path, sizeof(path), std[i]) != 0)
			return agent_exec_envvar(sp, "PATH", AGENT_ENV_PATH);
	return agent_exec_envvar(sp, "PATH", path);
}

/*
 * The task's environment: HOME, USER, LOGNAME, SHELL and PATH, plus the
 * LATCHKEY_* variables the agent itself was started with (there are none
 * in production; tests use them to point the plug-in's programs at a
 * scratch root). Nothing else of the agent's environment passes.
 */
static int
agent_exec_env(const struct passwd *pw, struct agent_prep *p)
{
	extern char **environ;
	const char *shell = pw->pw_shell != NULL && pw->pw_shell[0] != '\0' ?
	    pw->pw_shell : AGENT_SHELL;
	size_t i, n = 5;

	if (agent_exec_envvar(&p->envp[0], "HOME", pw->pw_dir) != 0 ||
	    agent_exec_envvar(&p->envp[1], "USER", pw->pw_name) != 0 ||
	    agent_exec_envvar(&p->envp[2], "LOGNAME", pw->pw_name) != 0 ||
	    agent_exec_envvar(&p->envp[3], "SHELL", shell) != 0 ||
	    agent_exec_env_path(&p->envp[4]) != 0)
		return LK_ERR_ALLOC;
	for (i = 0; environ[i] != NULL && n < AGENT_ENV_MAX; i++) {
		if (!agent_exec_env_passed(environ[i]))
			continue;
		if ((p->envp[n++] = strdup(environ[i])) == NULL)
			return LK_ERR_ALLOC;
	}
	p->envp[n] = NULL;
	return 0;
}

/*
 * Looks up the account and builds what the child needs. On failure, fills
 * res with the Error to report and returns non-zero.
 */
static int
agent_exec_prepare(const struct agent_spec *spec, struct agent_prep *p,
    struct agent_result *res)
{
	struct passwd pw;
	char *pwbuf = NULL;
	const char *user = spec->username[0] != '\0' ? spec->username : "root";
	int r;

	memset(p, 0, sizeof(*p));
	if ((r = lk_user_valid(user)) == 0)
		r = agent_exec_getpw(user, &pw, &pwbuf);
	if (r == LK_ERR_USER_INVALID || r == LK_ERR_USER_UNKNOWN) {
		agent_result_error(res, "Error", "AccountNotExists",
		    "no such user");
		goto out;
	}
	if (r != 0)
		goto fail;
	p->uid = pw.pw_uid;
	p->gid = pw.pw_gid;
	p->switch_user = pw.pw_uid != geteuid() || pw.pw_gid != getegid();
	p->dir_required = spec->working_dir[0] != '\0';
	p->dir = strdup(p->dir_required ? spec->working_dir : pw.pw_dir);
	if (p->dir == NULL || (p->switch_user &&
	    (r = agent_exec_groups(&pw, p)) != 0) ||
	    (r = agent_exec_env(&pw, p)) != 0)
		goto fail;
	p->argv[0] = "sh";
	p->argv[1] = "-c";
	p->argv[2] = spec->content;
	p->argv[3] = NULL;
	free(pwbuf);
	return 0;
 fail:
	agent_result_error(res, "Error", "ExecutionException",
	    "cannot prepare the task's process");
 out:
	free(pwbuf);
	agent_prep_free(p);
	return -1;
}

/* In the child, between fork and execve: async-signal-safe calls only. */
static void __attribute__((noreturn))
agent_exec_child(const struct agent_prep *p, int devnull, int outw,
    int errw)
{
	static const int sigs[] = { SIGPIPE, SIGHUP, SIGINT, SIGTERM,
	    SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2 };
	struct agent_child_err e = { 0, 0 };
	struct sigaction sa;
	sigset_t none;
	ssize_t ign;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	e.stage = AGENT_STAGE_SETSID;
	if (setsid() == -1)
		goto fail;
	if (p->switch_user) {
		e.stage = AGENT_STAGE_GROUPS;
		if (setgroups((size_t)p->ngroups, p->groups) == -1)
			goto fail;
		e.stage = AGENT_STAGE_SETGID;
		if (setresgid(p->gid, p->gid, p->gid) == -1)
			goto fail;
		e.stage = AGENT_STAGE_SETUID;
		if (setresuid(p->uid, p->uid, p->uid) == -1)
			goto fail;
		if (p->uid != 0 && setuid(0) != -1) {
			errno = EPERM;	/* privileges could come back */
			goto fail;
		}
	}
	umask(022);
	e.stage = AGENT_STAGE_CHDIR;
	if (chdir(p->dir) == -1 && (p->dir_required || chdir("/") == -1))
		goto fail;
	e.stage = AGENT_STAGE_STDIO;
	if (dup2(devnull, STDIN_FILENO) == -1 ||
	    dup2(outw, STDOUT_FILENO) == -1 || dup2(outw, STDERR_FILENO) == -1)
		goto fail;
	/* Nothing else of the agent's (sockets, other tasks' pipes). */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	e.stage = AGENT_STAGE_EXEC;
	execve(AGENT_SHELL, p->argv, p->envp);
 fail:
	e.err = errno;
	/* If even this fails, the parent sees exit status 127. */
	ign = write(errw, &e, sizeof(e));
	(void)ign;
	_exit(127);
}

static const char *
agent_stage_name(int stage)
{
	switch (stage) {
	case AGENT_STAGE_SETSID:	return "setsid";
	case AGENT_STAGE_GROUPS:	return "setgroups";
	case AGENT_STAGE_SETGID:	return "setgid";
	case AGENT_STAGE_SETUID:	return "setuid";
	case AGENT_STAGE_CHDIR:		return "cannot change to the directory";
	case AGENT_STAGE_STDIO:		return "dup2";
	case AGENT_STAGE_EXEC:		return "cannot run " AGENT_SHELL;
	default:			return "child";
	}
}

/* Reads the child's {stage, errno}; 0 when execve succeeded. */
static int
agent_exec_child_status(int errr, const struct agent_prep *p,
    struct agent_result *res)
{
	struct agent_child_err e;
	char msg[PATH_MAX + 128];
	ssize_t n;

	while ((n = read(errr, &e, sizeof(e))) == -1 && errno == EINTR)
		;
	if (n == 0)
		return 0;
	if (n != (ssize_t)sizeof(e)) {
		agent_result_error(res, "Error", "ExecutionException",
		    "lost the task's process before it ran");
		return -1;
	}
	if (e.stage == AGENT_STAGE_CHDIR)
		snprintf(msg, sizeof(msg), "%s %s: %s", agent_stage_name(
		    e.stage), p->dir, strerror(e.err));
	else
		snprintf(msg, sizeof(msg), "%s: %s", agent_stage_name(e.stage),
		    strerror(e.err));
	agent_result_error(res, "Error", e.stage == AGENT_STAGE_CHDIR ?
	    "DirectoryNotExists" : "ExecutionException", msg);
	return -1;
}

/*
 * Forks the task's process. Returns 0 with proc filled once /bin/sh runs;
 * otherwise fills res with the Error and returns -1 (nothing left to reap).
 */
static int
agent_exec_spawn(const struct agent_prep *p, struct agent_proc *proc,
    struct agent_result *res)
{
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, devnull = -1, r = -1;
	pid_t pid;

	proc->pid = -1;
	proc->outfd = proc->pidfd = -1;
	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(errp, O_CLOEXEC) == -1 ||
	    (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1 ||
	    (pid = fork()) == -1) {
		agent_result_error(res, "Error", "ExecutionException",
		    "cannot start the task's process");
		goto out;
	}
	if (pid == 0)
		agent_exec_child(p, devnull, out[1], errp[1]);
	close(errp[1]);
	errp[1] = -1;
	close(out[1]);
	out[1] = -1;
	if (agent_exec_child_status(errp[0], p, res) != 0) {
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		goto out;
	}
	proc->pid = pid;
	proc->outfd = out[0];
	out[0] = -1;
	proc->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	r = 0;
 out:
	if (devnull != -1)
		close(devnull);
	if (out[0] != -1)
		close(out[0]);
	if (out[1] != -1)
		close(out[1]);
	if (errp[0] != -1)
		close(errp[0]);
	if (errp[1] != -1)
		close(errp[1]);
	return r;
}

/* Whether the shell has exited, without reaping it. */
static int
agent_exec_exited(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1)
		return errno != EINTR;
	return si.si_pid != 0;
}

/* Signals the task's process group (the shell alone, if it has none). */
static void
agent_exec_signal(pid_t pid, int sig)
{
	if (kill(-pid, sig) == -1)
		kill(pid, sig);
}

/*
 * Ends the whole process group: SIGTERM, then SIGKILL as soon as the shell
 * is gone or after AGENT_KILL_GRACE_MS; then reaps the shell.
 */
static void
agent_exec_kill(struct agent_proc *proc)
{
	long long end = agent_exec_now_ms() + AGENT_KILL_GRACE_MS, now;
	struct pollfd pfd;

	agent_exec_signal(proc->pid, SIGTERM);
	while (!agent_exec_exited(proc->pid) &&
	    (now = agent_exec_now_ms()) < end) {
		pfd.fd = proc->pidfd;
		pfd.events = POLLIN;
		poll(&pfd, proc->pidfd != -1 ? 1 : 0, proc->pidfd != -1 ?
		    (int)(end - now) : AGENT_TICK_MS / 2);
	}
	agent_exec_signal(proc->pid, SIGKILL);
}

/* Keeps the first AGENT_OUTPUT_MAX bytes, counts the rest. */
static int
agent_exec_read(int fd, struct agent_result *res)
{
	char buf[AGENT_READ_CHUNK];
	size_t keep;
	ssize_t n;

	if ((n = read(fd, buf, sizeof(buf))) == -1)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	if (n == 0)
		return 0;
	keep = AGENT_OUTPUT_MAX - res->outlen;
	if (keep > (size_t)n)
		keep = (size_t)n;
	memcpy(res->output + res->outlen, buf, keep);
	res->outlen += keep;
	res->dropped += (size_t)n - keep;
	return 1;
}

/* Why the loop must end now, if it must. */
static int
agent_exec_check(struct agent_ctl *ctl, long long deadline,
    enum agent_end *endp)
{
	int stop = ctl != NULL ? atomic_load(&ctl->stop) : AGENT_STOP_NONE;

	if (stop == AGENT_STOP_REQUEST)
		*endp = AGENT_END_STOP;
	else if (stop == AGENT_STOP_SHUTDOWN)
		*endp = AGENT_END_SHUTDOWN;
	else if (agent_exec_now_ms() >= deadline)
		*endp = AGENT_END_TIMEOUT;
	else
		return 0;
	return 1;
}

/* Waits for the pipe, the shell's exit or a stop, at most ms. */
static int
agent_exec_poll(struct agent_proc *proc, struct agent_ctl *ctl, int exited,
    long long ms)
{
	struct pollfd pfd[3];
	nfds_t n = 0;
	uint64_t v;
	ssize_t ign = 0;
	int r;

	if (proc->outfd != -1) {
		pfd[n].fd = proc->outfd;
		pfd[n++].events = POLLIN;
	}
	if (!exited && proc->pidfd != -1) {
		pfd[n].fd = proc->pidfd;
		pfd[n++].events = POLLIN;
	} else if (!exited && ms > AGENT_TICK_MS)
		ms = AGENT_TICK_MS;
	if (!exited && ctl != NULL) {
		pfd[n].fd = ctl->wakefd;
		pfd[n++].events = POLLIN;
	}
	if ((r = poll(pfd, n, (int)(ms > INT_MAX ? INT_MAX : ms))) <= 0)
		return r;
	if (ctl != NULL)	/* reset; EAGAIN when it did not wake us */
		ign = read(ctl->wakefd, &v, sizeof(v));
	(void)ign;
	return proc->outfd != -1 && pfd[0].revents != 0 ? 2 : 1;
}

/*
 * Runs the wait loop until the shell has exited and the pipe is drained,
 * or until the timeout or a stop ends the task. Reaps the shell.
 */
static enum agent_end
agent_exec_wait(struct agent_proc *proc, long timeout, struct agent_ctl *ctl,
    struct agent_result *res)
{
	long long deadline = agent_exec_now_ms() + timeout * 1000LL;
	long long drain_end = 0, now;
	enum agent_end end = AGENT_END_EXIT;
	int exited = 0, r;

	for (;;) {
		now = agent_exec_now_ms();
		if (!exited && agent_exec_exited(proc->pid)) {
			exited = 1;
			drain_end = now + AGENT_DRAIN_MAX_MS;
		}
		if (!exited && agent_exec_check(ctl, deadline, &end)) {
			agent_exec_kill(proc);
			exited = 1;
			drain_end = agent_exec_now_ms() + AGENT_DRAIN_MAX_MS;
		}
		if (exited && (proc->outfd == -1 || now >= drain_end))
			break;
		r = agent_exec_poll(proc, ctl, exited, exited ?
		    (drain_end - now < AGENT_DRAIN_QUIET_MS ? drain_end - now :
		    AGENT_DRAIN_QUIET_MS) : deadline - now);
		if (r == 0 && exited)
			break;	/* quiet after the exit */
		if (r == 2 && !agent_exec_read(proc->outfd, res)) {
			close(proc->outfd);
			proc->outfd = -1;
		}
	}
	while (waitpid(proc->pid, &proc->status, 0) == -1 && errno == EINTR)
		;
	return end;
}

static void
agent_exec_classify(struct agent_result *res, enum agent_end end, int st)
{
	res->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) :
	    WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
	res->error_code = "";
	switch (end) {
	case AGENT_END_TIMEOUT:
		res->status = "Timeout";
		res->error_code = "ExecutionTimeout";
		break;
	case AGENT_END_STOP:
		res->status = "Stopped";
		break;
	case AGENT_END_SHUTDOWN:
		res->status = "Failed";
		res->error_code = "ExecutionInterrupted";
		break;
	default:
		if (res->exit_code == 0)
			res->status = "Success";
		else {
			res->status = "Failed";
			res->error_code = "ExitCodeNonzero";
		}
	}
}

/*
 * Runs the task in spec to the end and fills res (freed with
 * agent_result_free()). ctl, when not NULL, lets another thread stop it.
 */
void
agent_exec_run(const struct agent_spec *spec, struct agent_ctl *ctl,
    struct agent_result *res)
{
	struct agent_prep prep;
	struct agent_proc proc;
	enum agent_end end;

	memset(res, 0, sizeof(*res));
	snprintf(res->task_id, sizeof(res->task_id), "%s", spec->task_id);
	res->start = time(NULL);
	if (spec->type == NULL)
		agent_result_error(res, "Error", "ExecutionException",
		    "malformed task");
	else if (strcmp(spec->type, "SendFile") == 0)
		agent_file_run(spec, ctl, res);
	else if (strcmp(spec->type, "RunShellScript") != 0)
		agent_result_error(res, "Error", "CommandNotApplicable",
		    "only RunShellScript runs on this system");
	else if (strlen(spec->content) > AGENT_CONTENT_MAX)
		agent_result_error(res, "Error", "ExecutionException",
		    "script longer than 128 KiB");
	else if ((res->output = malloc(AGENT_OUTPUT_MAX)) == NULL)
		agent_result_error(res, "Error", "ExecutionException",
		    "out of memory");
	else if (agent_exec_prepare(spec, &prep, res) == 0) {
		if (agent_exec_spawn(&prep, &proc, res) == 0) {
			end = agent_exec_wait(&proc, spec->timeout, ctl, res);
			agent_exec_classify(res, end, proc.status);
			if (proc.outfd != -1)
				close(proc.outfd);
			if (proc.pidfd != -1)
				close(proc.pidfd);
		}
		agent_prep_free(&prep);
	}
	res->finish = time(NULL);
}

/* The result as the body of POST /agent/v1/result; NULL if out of memory. */
char *
agent_result_json(const struct agent_result *res, size_t flags)
{
	char start[32], finish[32], *b64, *text = NULL;
	json_t *o;

	agent_iso8601(res->start, start, sizeof(start));
	agent_iso8601(res->finish, finish, sizeof(finish));
	if ((b64 = lk_b64_encode(res->output, res->outlen, 1)) == NULL)
		return NULL;
	o = json_pack("{s:s, s:s, s:i, s:s, s:I, s:s, s:s, s:s}",
	    "task_id", res->task_id, "status", res->status,
	    "exit_code", res->exit_code, "output", b64,
	    "dropped", (json_int_t)res->dropped,
	    "error_code", res->error_code, "start_time", start,
	    "finish_time", finish);
	if (o != NULL)
		text = json_dumps(o, flags | JSON_PRESERVE_ORDER);
	json_decref(o);
	free(b64);
	return text;
}

void
agent_result_free(struct agent_result *res)
{
	free(res->output);
	res->output = NULL;
	res->outlen = 0;
}
