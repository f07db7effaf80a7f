/*
 * cpu_wrap: runs a command and records the CPU time it used (issue 13's
 * CPU per GiB of the tunnel benchmark).
 *
 *	cpu_wrap [-d | -r] FILE CMD [ARG...]
 *
 * Runs CMD as a child, waits for it and writes one line to FILE (through
 * FILE.tmp and a rename, so that FILE appears complete):
 *
 *	"user_ms=U sys_ms=S status=X"
 *
 * U and S are getrusage(RUSAGE_CHILDREN) after the wait: CMD and every
 * descendant that was waited for. X is CMD's exit status (128 + N when a
 * signal N ended it). SIGHUP, SIGINT and SIGTERM sent to cpu_wrap are
 * passed on to CMD (ssh sends its ProxyCommand SIGHUP when it exits).
 *
 * -d (detach), for a ProxyCommand: cpu_wrap forks once more and exits at
 * once, and the grandchild runs and waits for CMD. ssh reaps its
 * ProxyCommand, so without -d the proxy's CPU would also be counted in
 * ssh's (and in scp's, when scp is measured around ssh); detached, it is
 * counted only in FILE. CMD keeps cpu_wrap's stdin and stdout.
 *
 * -r (reaper), for a daemon run in the foreground (sshd -D): cpu_wrap
 * becomes a child subreaper (PR_SET_CHILD_SUBREAPER), so every process
 * below CMD whose parent exits first is reaped by cpu_wrap instead of
 * init, and its CPU is added to cpu_wrap's. /proc/PID/stat of cpu_wrap
 * (cutime + cstime) then grows by the CPU of each of CMD's children
 * once it has ended, e.g. of each of sshd's connections with all its
 * processes; the benchmark reads it before and after a copy. cpu_wrap
 * reaps until CMD and all that was left below it have ended.
 *
 * Exit status: CMD's (without -d), 0 after detaching, 1 on a usage error
 * or a failed fork or exec (the line is then not written).
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile pid_t cpu_wrap_child;

static void
cpu_wrap_onsig(int sig)
{
	if (cpu_wrap_child > 0)
		(void)kill(cpu_wrap_child, sig);
}

/* Writes the line to file via file.tmp; 0 or -1. */
static int
cpu_wrap_record(const char *file, int status)
{
	struct rusage ru;
	char tmp[4096];
	FILE *f;
	long long u, s;

	if (getrusage(RUSAGE_CHILDREN, &ru) != 0)
		return -1;
	u = (long long)ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000;
	s = (long long)ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", file) >= sizeof(tmp))
		return -1;
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	fprintf(f, "user_ms=%lld sys_ms=%lld status=%d\n", u, s, status);
	if (fclose(f) != 0 || rename(tmp, file) != 0)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	int st, detach = 0, reaper = 0, status = 1;
	pid_t pid, w;

	if (argc > 1 && strcmp(argv[1], "-d") == 0) {
		detach = 1;
		argc--;
		argv++;
	} else if (argc > 1 && strcmp(argv[1], "-r") == 0) {
		reaper = 1;
		argc--;
		argv++;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: cpu_wrap [-d | -r] FILE CMD [ARG...]\n");
		return 1;
	}
	if (reaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
		perror("cpu_wrap: PR_SET_CHILD_SUBREAPER");
		return 1;
	}
	if (detach) {
		if ((pid = fork()) == -1) {
			perror("cpu_wrap: fork");
			return 1;
		}
		if (pid > 0)
			return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cpu_wrap_onsig;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGHUP, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	if ((pid = fork()) == -1) {
		perror("cpu_wrap: fork");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "cpu_wrap: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	cpu_wrap_child = pid;
	/* Reaps CMD, and with -r every orphan below it, until none is left. */
	for (;;) {
		w = waitpid(reaper ? -1 : pid, &st, 0);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && reaper && errno == ECHILD)
			break;
		if (w == -1) {
			perror("cpu_wrap: waitpid");
			return 1;
		}
		if (w == pid) {
			status = WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
			cpu_wrap_child = 0;
			if (!reaper)
				break;
		}
	}
	if (cpu_wrap_record(argv[1], status) != 0) {
		fprintf(stderr, "cpu_wrap: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	return detach ? 0 : status;
}
