/*
 * The logins with pushed keys (docs/audit.md, "The login"): a thread that
 * follows sshd's log, picks out "Accepted publickey for U from A port P
 * ssh2: TYPE SHA256:..." (lib/sshdlog.c), keeps the logins whose key is
 * one the key store holds for U (a key latchkey pushed, live or expired
 * less than AGENT_LOGIN_GRACE seconds ago), and queues each as a report
 * for POST /agent/v1/login (agent_report.c: spooled, retried).
 *
 * Why sshd's log and not the AuthorizedKeysCommand helper: the helper runs
 * at each lookup, as an unprivileged user, and a lookup is not a login
 * (sshd asks for every key a client offers, twice, and a key may still
 * fail its signature or the account checks); sshd logs "Accepted" only
 * once authentication succeeded. The helper stays read-only and
 * stateless, and nothing unprivileged writes anything the agent trusts.
 *
 * Sources (--sshd-log): "journal" runs journalctl -f for the messages of
 * the sshd and sshd-session commands (_COMM, set by journald, which a
 * local user cannot forge); a file path follows that file from its end
 * (rotation by rename or copytruncate is followed); "none"; "auto" picks
 * journal when journald runs, else /var/log/auth.log when it exists, else
 * none (and none under a scratch LATCHKEY_ROOT, in tests). Logins made
 * while the agent is down are not reported.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "err.h"
#include "keystore.h"
#include "log.h"
#include "sshdlog.h"

#include "agent.h"

#define AGENT_LOGIN_TICK_MS	250	/* between reads of a file */
#define AGENT_LOGIN_GRACE	120	/* s: a key expired this recently counts */
#define AGENT_LOGIN_RESPAWN_MS	5000	/* journalctl died: start it again */
#define AGENT_LOGIN_AUTHLOG	"/var/log/auth.log"
#define AGENT_LOGIN_JOURNALD	"/run/systemd/journal/socket"
#define AGENT_LOGIN_JOURNALCTL	"/usr/bin/journalctl"

extern char **environ;

static struct {
	char		 source[PATH_MAX];	/* "", "journal" or a path */
	pthread_t	 thread;
	int		 started;
	atomic_int	 stop;
	unsigned int	 n;			/* reports made, for their ids */
	char		 line[LK_SSHDLOG_LINE_MAX + 2];
	size_t		 len;
	int		 skipping;		/* in a line too long */
} al;

/*
 * Sets the source from --sshd-log (NULL: auto). Returns 0 or
 * LK_ERR_INVALID_FORMAT (not auto, none, journal or an absolute path).
 */
int
agent_login_config(const char *opt)
{
	struct stat st;

	al.source[0] = '\0';
	if (opt == NULL || strcmp(opt, "auto") == 0) {
		if (agent_has_root())
			return 0;
		if (stat(AGENT_LOGIN_JOURNALD, &st) == 0 &&
		    access(AGENT_LOGIN_JOURNALCTL, X_OK) == 0)
			opt = "journal";
		else if (stat(AGENT_LOGIN_AUTHLOG, &st) == 0)
			opt = AGENT_LOGIN_AUTHLOG;
		else
			return 0;
	}
	if (strcmp(opt, "none") == 0)
		return 0;
	if (strcmp(opt, "journal") != 0 && opt[0] != '/')
		return LK_ERR_INVALID_FORMAT;
	if ((size_t)snprintf(al.source, sizeof(al.source), "%s", opt) >=
	    sizeof(al.source))
		return LK_ERR_INVALID_FORMAT;
	return 0;
}

static int
agent_login_found(const struct lk_record *rec, void *arg)
{
	(void)rec;
	*(int *)arg = 1;
	return 1;
}

/* Whether the key store holds (or just held) this key for this user. */
static int
agent_login_pushed(const struct lk_sshdlog_login *l)
{
	unsigned char dig[LK_SSHKEY_DIGEST_LEN];
	char path[PATH_MAX];
	struct lk_store *store = NULL;
	int found = 0, r;

	if (agent_rooted(path, sizeof(path), LK_STORE_DEFAULT) != 0 ||
	    lk_sshkey_fp_parse(l->fp, dig) != 0)
		return 0;
	if ((r = lk_store_open(path, 0, &store)) != 0)
		return 0;
	r = lk_store_list(store, l->user, dig, (int64_t)time(NULL) -
	    AGENT_LOGIN_GRACE, agent_login_found, &found);
	lk_store_close(store);
	return r >= 0 && found;
}

/* One line of the log: a login with a pushed key becomes a report. */
static void
agent_login_line(const char *line, size_t len)
{
	struct lk_sshdlog_login l;
	char id[64], when[32], *body;
	json_t *o;
	int r;

	if ((r = lk_sshdlog_parse(line, len, &l)) != 0) {
		if (r == LK_ERR_INVALID_FORMAT)
			agent_log(LOG_WARNING, "login", "bad-line",
			    "source=%s", al.source);
		return;
	}
	if (!agent_login_pushed(&l)) {
		agent_log(LOG_DEBUG, "login", "not-pushed", "user=%s fp=%s",
		    l.user, l.fp);
		return;
	}
	agent_iso8601(time(NULL), when, sizeof(when));
	snprintf(id, sizeof(id), "login-%lld-%ld-%u", (long long)time(NULL),
	    (long)getpid(), al.n++);
	o = json_pack("{s:[{s:s, s:s, s:s, s:s, s:i, s:s}]}", "logins",
	    "user", l.user, "fingerprint", l.fp, "key_type", l.keytype,
	    "from", l.addr, "port", l.port, "time", when);
	if (o == NULL || (body = json_dumps(o, JSON_COMPACT)) == NULL)
		fatalx("out of memory");
	json_decref(o);
	agent_log(LOG_INFO, "login", "accepted", "user=%s fp=%s from=%s "
	    "port=%d report=%s", l.user, l.fp, l.addr, l.port, id);
	if (agent_report_enqueue(id, body) != 0)
		fatalx("out of memory");
	free(body);
}

/* Splits what was read into lines; a line too long is skipped whole. */
static void
agent_login_feed(const char *p, size_t n)
{
	const char *nl;
	size_t take;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		take = nl != NULL ? (size_t)(nl - p) : n;
		if (!al.skipping && al.len + take <= LK_SSHDLOG_LINE_MAX) {
			memcpy(al.line + al.len, p, take);
			al.len += take;
		} else
			al.skipping = 1;
		if (nl == NULL)
			return;
		if (!al.skipping)
			agent_login_line(al.line, al.len);
		al.len = 0;
		al.skipping = 0;
		p = nl + 1;
		n -= take + 1;
	}
}

/* Reads what fd has now (a file: to its end). 0 at EOF, -1 on error. */
static int
agent_login_drain(int fd)
{
	char buf[8192];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		agent_login_feed(buf, (size_t)n);
	return n == 0 || errno == EAGAIN ? 0 : -1;
}

/* Follows a file from its end, through rotations. */
static void
agent_login_file(void)
{
	struct stat st, now;
	int fd = -1, from_end = 1;

	while (!atomic_load(&al.stop) && !agent_quitting()) {
		if (fd == -1) {
			if ((fd = open(al.source, O_RDONLY | O_CLOEXEC |
			    O_NONBLOCK)) == -1 || fstat(fd, &st) != 0) {
				if (fd != -1)
					close(fd);
				fd = -1;
				agent_sleep(AGENT_LOGIN_TICK_MS * 4);
				continue;
			}
			if (from_end)
				(void)lseek(fd, 0, SEEK_END);
			from_end = 0;
			al.len = 0;
			al.skipping = 0;
		}
		(void)agent_login_drain(fd);
		/* Renamed away (logrotate create): read on in the new one. */
		if (stat(al.source, &now) != 0 || now.st_ino != st.st_ino ||
		    now.st_dev != st.st_dev) {
			(void)agent_login_drain(fd);
			close(fd);
			fd = -1;
			continue;
		}
		/* Cut short (copytruncate): read it again from the start. */
		if (now.st_size < lseek(fd, 0, SEEK_CUR))
			(void)lseek(fd, 0, SEEK_SET);
		agent_sleep(AGENT_LOGIN_TICK_MS);
	}
	if (fd != -1)
		close(fd);
}

/* journalctl -f for sshd's messages, its output on *fdp. */
static pid_t
agent_login_journalctl(int *fdp)
{
	char *const argv[] = { (char *)AGENT_LOGIN_JOURNALCTL, (char *)"-f",
	    (char *)"-q", (char *)"-n", (char *)"0", (char *)"-o",
	    (char *)"cat", (char *)"_COMM=sshd", (char *)"_COMM=sshd-session",
	    NULL };
	posix_spawn_file_actions_t fa;
	int p[2];
	pid_t pid = -1;

	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null",
	    O_WRONLY, 0);
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (pid == -1)
		close(p[0]);
	else
		*fdp = p[0];
	return pid;
}

static void
agent_login_journal(void)
{
	struct pollfd pfd;
	char buf[8192];
	ssize_t n;
	pid_t pid = -1;
	int fd = -1;

	while (!atomic_load(&al.stop) && !agent_quitting()) {
		if (pid == -1 && (pid = agent_login_journalctl(&fd)) == -1) {
			agent_log(LOG_WARNING, "login", "journalctl-failed",
			    "error=\"%s\"", strerror(errno));
			agent_sleep(AGENT_LOGIN_RESPAWN_MS);
			continue;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, AGENT_LOGIN_TICK_MS * 2) <= 0)
			continue;
		if ((n = read(fd, buf, sizeof(buf))) > 0) {
			agent_login_feed(buf, (size_t)n);
			continue;
		}
		/* journalctl ended: start it again after a while. */
		close(fd);
		fd = -1;
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		pid = -1;
		agent_log(LOG_WARNING, "login", "journalctl-ended", "%s", "");
		agent_sleep(AGENT_LOGIN_RESPAWN_MS);
	}
	if (pid != -1) {
		kill(pid, SIGTERM);
		close(fd);
		waitpid(pid, NULL, 0);
	}
}

static void *
agent_login_main(void *arg)
{
	(void)arg;
	if (strcmp(al.source, "journal") == 0)
		agent_login_journal();
	else
		agent_login_file();
	return NULL;
}

/* Starts following the source, if there is one. */
int
agent_login_start(void)
{
	if (al.source[0] == '\0') {
		agent_log(LOG_INFO, "login", "off", "reason=no-sshd-log");
		return 0;
	}
	if (pthread_create(&al.thread, NULL, agent_login_main, NULL) != 0)
		return LK_ERR_SYSTEM;
	al.started = 1;
	agent_log(LOG_INFO, "login", "follow", "source=%s", al.source);
	return 0;
}

void
agent_login_stop(void)
{
	if (!al.started)
		return;
	atomic_store(&al.stop, 1);
	pthread_join(al.thread, NULL);
	al.started = 0;
}
