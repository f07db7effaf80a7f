/*
 * A shell session's process (docs/sessions.md, "Shell sessions"): the
 * user's login shell, or /bin/sh -c COMMAND, as that user, under a
 * pseudo-terminal or on plain pipes, and a keeper process that makes sure
 * nothing of it outlives the session.
 *
 *	agent (session thread) ── fork ──> keeper (root, a subreaper)
 *	                                     └─ fork ──> shell (the user)
 *
 * The keeper exists so that the shell and everything it starts end when
 * the session ends, however it ends, including a SIGKILL of the agent:
 *  - it is a child subreaper (PR_SET_CHILD_SUBREAPER), so whatever the
 *    shell starts, even a daemon that double-forks and calls setsid(),
 *    stays its descendant;
 *  - its parent-death signal (PR_SET_PDEATHSIG, SIGTERM) fires when the
 *    session's thread or the whole agent dies, and agent_shell_end sends
 *    the same SIGTERM when the session ends;
 *  - when the shell exits, or on SIGTERM, it sends SIGHUP and SIGCONT to
 *    the shell's process group and to every child it has, waits up to
 *    SHELL_GRACE_MS, then SIGKILLs its children (read from
 *    /proc/self/task/PID/children) round after round until none is left;
 *  - the shell itself also has PR_SET_PDEATHSIG SIGKILL (set after its
 *    setuid, which would clear it), should the keeper be killed.
 * The keeper tells the agent the shell's pid, then its wait status, as two
 * ints on a pipe (agent_shell_status reads them).
 *
 * The agent has other threads, so the keeper and the shell call only
 * async-signal-safe functions: the account, its groups, argv, the
 * environment and the pty's name are prepared before the fork.
 */
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "agent_shell.h"
#include "err.h"

#define SHELL_GRACE_MS		1000	/* SIGHUP to SIGKILL */
#define SHELL_END_WAIT_MS	5000	/* for the keeper to finish */
#define SHELL_ENV_MAX		8
#define SHELL_PATH_ROOT		"/usr/local/sbin:/usr/local/bin:/usr/sbin:" \
				"/usr/bin:/sbin:/bin"
#define SHELL_PATH_USER		"/usr/local/bin:/usr/bin:/bin"

/* Everything the keeper and the shell need, made before the fork. */
struct shell_prep {
	struct passwd	 pw;
	char		*pwbuf;
	gid_t		*groups;
	int		 ngroups;
	char		*path;		/* the program */
	char		*argv[4];	/* NULL-terminated */
	char		*envp[SHELL_ENV_MAX + 1];
	char		 slave[64];	/* the pty's name (tty) */
	struct winsize	 ws;
	pid_t		 agent;		/* the keeper's parent */
};

static void
shell_prep_free(struct shell_prep *p)
{
	size_t i;

	free(p->pwbuf);
	free(p->groups);
	free(p->path);
	for (i = 0; i < 4; i++)
		free(p->argv[i]);
	for (i = 0; i < SHELL_ENV_MAX; i++)
		free(p->envp[i]);
	memset(p, 0, sizeof(*p));
}

static int
shell_env(struct shell_prep *p, size_t *n, const char *name,
    const char *value)
{
	if (*n >= SHELL_ENV_MAX || asprintf(&p->envp[*n], "%s=%s", name,
	    value) < 0) {
		if (*n < SHELL_ENV_MAX)
			p->envp[*n] = NULL;
		return LK_ERR_ALLOC;
	}
	(*n)++;
	return 0;
}

/* The account, its groups, argv and the environment. */
static int
shell_prepare(const struct agent_shell_req *q, struct shell_prep *p,
    char *why, size_t size)
{
	const char *sh, *base;
	size_t n = 0;
	int r;

	if ((r = agent_exec_getpw(q->user, &p->pw, &p->pwbuf)) != 0) {
		snprintf(why, size, "user %s: %s", q->user,
		    r == LK_ERR_USER_UNKNOWN ? "no such user" : lk_err(r));
		return r;
	}
	if ((r = agent_exec_getgroups(&p->pw, &p->groups, &p->ngroups)) != 0) {
		snprintf(why, size, "user %s: cannot list its groups",
		    q->user);
		return r;
	}
	sh = p->pw.pw_shell != NULL && p->pw.pw_shell[0] == '/' ?
	    p->pw.pw_shell : "/bin/sh";
	if (q->command != NULL) {
		p->argv[0] = strdup("sh");
		p->argv[1] = strdup("-c");
		p->argv[2] = strdup(q->command);
		if (p->argv[2] == NULL)
			return LK_ERR_ALLOC;
	} else {
		/* A login shell: "-l", and argv[0] its name. */
		base = strrchr(sh, '/') + 1;
		p->argv[0] = strdup(base);
		p->argv[1] = strdup("-l");
	}
	if (p->argv[0] == NULL || p->argv[1] == NULL)
		return LK_ERR_ALLOC;
	if ((p->path = strdup(q->command != NULL ? "/bin/sh" : sh)) == NULL)
		return LK_ERR_ALLOC;
	if ((r = shell_env(p, &n, "HOME", p->pw.pw_dir)) != 0 ||
	    (r = shell_env(p, &n, "USER", p->pw.pw_name)) != 0 ||
	    (r = shell_env(p, &n, "LOGNAME", p->pw.pw_name)) != 0 ||
	    (r = shell_env(p, &n, "SHELL", sh)) != 0 ||
	    (r = shell_env(p, &n, "PATH", p->pw.pw_uid == 0 ?
	    SHELL_PATH_ROOT : SHELL_PATH_USER)) != 0 ||
	    (r = shell_env(p, &n, "TERM", q->tty ? "xterm-256color" :
	    "dumb")) != 0)
		return r;
	p->ws.ws_col = (unsigned short)q->cols;
	p->ws.ws_row = (unsigned short)q->rows;
	p->agent = getpid();
	return 0;
}

/* Decimal digits of v into buf (async-signal-safe); returns buf. */
static char *
shell_utoa(unsigned long v, char *buf, size_t size)
{
	char *p = buf + size - 1;

	*p = '\0';
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0 && p > buf);
	return p;
}

/* ---- the shell, between fork and execve ------------------------------ */

static void __attribute__((noreturn))
shell_child(const struct shell_prep *p, int tty, int in, int out)
{
	static const char msg[] = "latchkey-agent: cannot start the shell\r\n";
	static const int sigs[] = { SIGPIPE, SIGHUP, SIGINT, SIGTERM,
	    SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGTTOU, SIGTTIN, SIGTSTP };
	struct sigaction sa;
	sigset_t none;
	pid_t keeper = getppid();
	ssize_t ign;
	size_t i;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() == -1)
		goto fail;
	if (tty) {
		/* The first terminal a session leader opens becomes its own. */
		if ((fd = open(p->slave, O_RDWR | O_NOCTTY)) < 0 ||
		    ioctl(fd, TIOCSCTTY, 0) == -1)
			goto fail;
		(void)ioctl(fd, TIOCSWINSZ, &p->ws);
		in = out = fd;
	}
	if (dup2(in, STDIN_FILENO) == -1 || dup2(out, STDOUT_FILENO) == -1 ||
	    dup2(out, STDERR_FILENO) == -1)
		goto fail;
	close_range(3, ~0U, 0);
	if (setgroups((size_t)p->ngroups, p->groups) == -1 ||
	    setresgid(p->pw.pw_gid, p->pw.pw_gid, p->pw.pw_gid) == -1 ||
	    setresuid(p->pw.pw_uid, p->pw.pw_uid, p->pw.pw_uid) == -1)
		goto fail;
	if (p->pw.pw_uid != 0 && setuid(0) != -1)
		goto fail;	/* privileges could come back */
	/* After setuid, which clears it: the keeper's death kills us. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != keeper)
		goto fail;
	umask(022);
	if (chdir(p->pw.pw_dir) == -1 && chdir("/") == -1)
		goto fail;
	execve(p->path, p->argv, p->envp);
 fail:
	ign = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)ign;
	_exit(127);
}

/* ---- the keeper ------------------------------------------------------ */

static long long
shell_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Sends sig to every child of this process (a subreaper: everything the
 * shell left behind is one); returns how many there were.
 */
static int
shell_kill_children(int sig)
{
	char path[64] = "/proc/self/task/", num[24], buf[4096], *np;
	ssize_t n;
	size_t len = strlen(path), i;
	long v = -1;
	int fd, count = 0;

	np = shell_utoa((unsigned long)getpid(), num, sizeof(num));
	memcpy(path + len, np, strlen(np));
	len += strlen(np);
	memcpy(path + len, "/children", 10);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	for (i = 0; n > 0 && i <= (size_t)n; i++) {
		if (i < (size_t)n && buf[i] >= '0' && buf[i] <= '9') {
			v = (v < 0 ? 0 : v * 10) + (buf[i] - '0');
			continue;
		}
		if (v > 0) {
			(void)kill((pid_t)v, sig);
			count++;
		}
		v = -1;
	}
	return count;
}

/* Reaps what has exited; the shell's status into *st (once). */
static void
shell_reap(pid_t shell, int *st, int *done)
{
	pid_t r;
	int s;

	while ((r = waitpid(-1, &s, WNOHANG)) > 0)
		if (r == shell && !*done) {
			*st = s;
			*done = 1;
		}
}

/* Waits for a SIGCHLD (or ms) with the signal blocked. */
static void
shell_wait_chld(long long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	(void)sigtimedwait(&set, NULL, &ts);
}

/* The end: SIGHUP to all, a grace, then SIGKILL until none is left. */
static void
shell_keeper_clean(pid_t shell, int *st, int *done)
{
	long long end = shell_mono_ms() + SHELL_GRACE_MS;
	int rounds;

	(void)kill(-shell, SIGHUP);
	(void)kill(-shell, SIGCONT);
	(void)shell_kill_children(SIGHUP);
	(void)shell_kill_children(SIGCONT);
	shell_reap(shell, st, done);
	while (shell_mono_ms() < end && shell_kill_children(0) > 0) {
		shell_wait_chld(50);
		shell_reap(shell, st, done);
	}
	for (rounds = 0; rounds < 1000; rounds++) {
		(void)kill(-shell, SIGKILL);
		if (shell_kill_children(SIGKILL) == 0 && waitpid(-1, NULL,
		    WNOHANG) < 0)
			break;
		shell_wait_chld(20);
		shell_reap(shell, st, done);
	}
}

/*
 * Keeps only statw, in and out, as 3, 4 and 5 (-1 stays -1): nothing else
 * of the agent's (its sockets, other sessions' terminals and pipes, which
 * would never see their end if a keeper held them).
 */
static void
shell_keeper_fds(int *statw, int *in, int *out)
{
	int *fds[3] = { statw, in, out }, hi = 5, i, c[3];

	for (i = 0; i < 3; i++)
		if (*fds[i] > hi)
			hi = *fds[i];
	for (i = 0; i < 3; i++)
		if ((c[i] = *fds[i] >= 0 ? fcntl(*fds[i], F_DUPFD, hi + 1) :
		    -1) < 0 && *fds[i] >= 0)
			_exit(1);
	for (i = 0; i < 3; i++) {
		if (c[i] >= 0 && dup2(c[i], 3 + i) < 0)
			_exit(1);
		*fds[i] = c[i] >= 0 ? 3 + i : -1;
	}
	close_range(6, ~0U, 0);
}

static void __attribute__((noreturn))
shell_keeper(const struct shell_prep *p, int tty, int in, int out,
    int statw)
{
	sigset_t set;
	pid_t shell;
	int sig, st = 0, done = 0, msg[2];
	ssize_t ign;

	shell_keeper_fds(&statw, &in, &out);

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != p->agent ||
	    prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		_exit(1);
	if ((shell = fork()) < 0)
		_exit(1);
	if (shell == 0)
		shell_child(p, tty, in, out);
	if (in >= 0)
		close(in);
	if (out >= 0 && out != in)
		close(out);
	msg[0] = (int)shell;
	msg[1] = 0;
	ign = write(statw, msg, sizeof(int));
	for (;;) {
		if ((sig = sigwaitinfo(&set, NULL)) == SIGTERM)
			break;
		shell_reap(shell, &st, &done);
		if (done)
			break;
	}
	/* The status first: the client hears it while the rest is ended. */
	if (done) {
		msg[0] = st;
		ign = write(statw, msg, sizeof(int));
	}
	shell_keeper_clean(shell, &st, &done);
	(void)ign;
	_exit(0);
}

/* ---- the agent's side ------------------------------------------------ */

/* A pty master (non-blocking, close-on-exec) and its slave's name. */
static int
shell_openpt(struct shell_prep *p, int *masterp)
{
	int m;

	if ((m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		return LK_ERR_SYSTEM;
	if (grantpt(m) != 0 || unlockpt(m) != 0 ||
	    ptsname_r(m, p->slave, sizeof(p->slave)) != 0) {
		close(m);
		return LK_ERR_SYSTEM;
	}
	*masterp = m;
	return 0;
}

/* Reads the keeper's int (blocking up to ms). 0, or LK_ERR_BUSY/SYSTEM. */
static int
shell_read_int(int fd, int *v, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, ms) == 0)
		return LK_ERR_BUSY;
	do
		n = read(fd, v, sizeof(*v));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return LK_ERR_BUSY;
	return n == (ssize_t)sizeof(*v) ? 0 : LK_ERR_SYSTEM;
}

int
agent_shell_start(const struct agent_shell_req *q, struct agent_shell *sh,
    char *why, size_t size)
{
	struct shell_prep p;
	int m = -1, inp[2] = { -1, -1 }, outp[2] = { -1, -1 };
	int st[2] = { -1, -1 }, r, pid;
	pid_t k;

	memset(sh, 0, sizeof(*sh));
	sh->fd = sh->in_fd = sh->status_fd = -1;
	sh->keeper = -1;
	memset(&p, 0, sizeof(p));
	if ((r = shell_prepare(q, &p, why, size)) != 0)
		goto out;
	r = LK_ERR_SYSTEM;
	if (pipe2(st, O_CLOEXEC) != 0 || (q->tty && shell_openpt(&p, &m) !=
	    0) || (!q->tty && (pipe2(inp, O_CLOEXEC) != 0 || pipe2(outp,
	    O_CLOEXEC) != 0))) {
		snprintf(why, size, "cannot make the %s: %s", q->tty ?
		    "pseudo-terminal" : "pipes", strerror(errno));
		goto out;
	}
	if ((k = fork()) < 0) {
		snprintf(why, size, "fork: %s", strerror(errno));
		goto out;
	}
	if (k == 0) {
		close(st[0]);
		if (m >= 0)
			close(m);
		if (!q->tty) {
			close(inp[1]);
			close(outp[0]);
		}
		shell_keeper(&p, q->tty, inp[0], outp[1], st[1]);
	}
	sh->keeper = k;
	close(st[1]);
	st[1] = -1;
	sh->status_fd = st[0];
	st[0] = -1;
	sh->tty = q->tty;
	if (q->tty) {
		sh->fd = sh->in_fd = m;
		m = -1;
	} else {
		close(inp[0]);
		close(outp[1]);
		inp[0] = outp[1] = -1;
		sh->fd = outp[0];
		sh->in_fd = inp[1];
		outp[0] = inp[1] = -1;
	}
	/* The keeper's first word: the shell's pid (or its own failure). */
	if (shell_read_int(sh->status_fd, &pid, SHELL_END_WAIT_MS) != 0 ||
	    pid <= 0) {
		snprintf(why, size, "%s", "the shell could not be started");
		agent_shell_end(sh, 1);
		goto out;
	}
	sh->pid = (pid_t)pid;
	(void)fcntl(sh->status_fd, F_SETFL, O_NONBLOCK);
	r = 0;
 out:
	if (m >= 0)
		close(m);
	if (st[0] >= 0)
		close(st[0]);
	if (st[1] >= 0)
		close(st[1]);
	if (inp[0] >= 0)
		close(inp[0]);
	if (inp[1] >= 0)
		close(inp[1]);
	if (outp[0] >= 0)
		close(outp[0]);
	if (outp[1] >= 0)
		close(outp[1]);
	shell_prep_free(&p);
	return r;
}

int
agent_shell_winch(struct agent_shell *sh, int cols, int rows)
{
	struct winsize ws;

	if (!sh->tty)
		return 0;	/* no terminal: nothing to size */
	memset(&ws, 0, sizeof(ws));
	ws.ws_col = (unsigned short)cols;
	ws.ws_row = (unsigned short)rows;
	/* The kernel sends SIGWINCH to the terminal's foreground group. */
	return ioctl(sh->fd, TIOCSWINSZ, &ws) == 0 ? 0 : LK_ERR_SYSTEM;
}

int
agent_shell_signal(struct agent_shell *sh, int sig)
{
	pid_t pg = -1;

	if (sh->have_status || sh->pid <= 0)
		return 0;	/* over: nobody to signal */
	/* A terminal's: its foreground job, as a key typed there would. */
	if (sh->tty)
		pg = tcgetpgrp(sh->fd);
	if (pg <= 0)
		pg = sh->pid;
	return kill(-pg, sig) == 0 || errno == ESRCH ? 0 : LK_ERR_SYSTEM;
}

int
agent_shell_status(struct agent_shell *sh, int *statusp)
{
	int v, r;

	if (!sh->have_status) {
		if ((r = shell_read_int(sh->status_fd, &v, 0)) == LK_ERR_BUSY)
			return r;
		if (r != 0)
			return LK_ERR_NOT_FOUND;	/* the keeper said none */
		sh->status = v;
		sh->have_status = 1;
	}
	*statusp = sh->status;
	return 0;
}

void
agent_shell_end(struct agent_shell *sh, int close_in)
{
	long long end;
	int st;

	if (sh->keeper > 0) {
		(void)kill(sh->keeper, SIGTERM);
		/* Up to the grace and a little: the keeper's SIGKILLs end it. */
		end = shell_mono_ms() + SHELL_END_WAIT_MS;
		while (waitpid(sh->keeper, &st, WNOHANG) == 0) {
			if (shell_mono_ms() >= end) {
				(void)kill(sh->keeper, SIGKILL);
				(void)waitpid(sh->keeper, &st, 0);
				break;
			}
			(void)poll(NULL, 0, 20);
		}
		sh->keeper = -1;
	}
	if (sh->in_fd >= 0 && sh->in_fd != sh->fd && close_in)
		close(sh->in_fd);
	if (sh->fd >= 0)
		close(sh->fd);
	if (sh->status_fd >= 0)
		close(sh->status_fd);
	sh->fd = sh->in_fd = sh->status_fd = -1;
}
