/*
 * sshd's host keys, for register and hello (issue 14): the public halves
 * of the HostKey files sshd actually uses, so that latchkeyd can answer
 * ssh's KnownHostsCommand before the first connection.
 *
 * Which sshd: the one the config_ecs_instance_connect plug-in manages, by
 * the same rule. The program is $LATCHKEY_SSHD when that is an absolute
 * path, else /usr/sbin/sshd; its configuration is
 * $LATCHKEY_ROOT/etc/ssh/sshd_config when LATCHKEY_ROOT names a scratch
 * root (tests and demos), else /etc/ssh/sshd_config. "sshd -T -f CONFIG"
 * prints sshd's effective configuration, whose "hostkey PATH" lines name
 * the private keys (sshd's defaults included when the file names none).
 * Each key's public half is read from PATH.pub, or derived with
 * "ssh-keygen -y -P '' -f PATH" when there is no .pub; a HostKey whose
 * file is missing or unreadable is skipped (sshd does not use it either).
 *
 * Each key goes through lib/sshkey.c's parser and is re-written as
 * "type base64" (no comment); only host key types pass (ed25519, ECDSA,
 * RSA of at least 2048 bits: what latchkeyd accepts). At most
 * AGENT_HOSTKEYS_MAX distinct keys, sorted, so that two lists compare
 * equal when sshd's keys did not change.
 *
 * The programs run with posix_spawn (the agent has threads), no shell,
 * an empty environment, stdin and stderr on /dev/null, AGENT_HOSTKEYS_MS
 * each at most (then killed). A failure is logged once (and its end
 * once); the list is then empty, which never blocks registration.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <jansson.h>

#include "err.h"
#include "fsutil.h"
#include "sshkey.h"
#include "util.h"

#include "agent.h"

#define AGENT_SSHD_DEFAULT	"/usr/sbin/sshd"
#define AGENT_SSHD_CONFIG	"/etc/ssh/sshd_config"
#define AGENT_SSH_KEYGEN	"/usr/bin/ssh-keygen"
#define AGENT_HOSTKEYS_OUT_MAX	(64 * 1024)	/* sshd -T's output */
#define AGENT_HOSTKEYS_MS	10000L		/* per program run */
#define AGENT_HOSTKEY_PATHS	32		/* hostkey lines read */

static int agent_hostkeys_failing = -1;	/* -1 not yet known */

/* A path from the environment: absolute, no blank or control character. */
static int
agent_hostkeys_path_ok(const char *s, size_t max)
{
	size_t i;

	if (s == NULL || s[0] != '/' || strlen(s) >= max)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* The sshd program and its configuration file, by the rule above. */
static int
agent_hostkeys_sshd(char *sshd, size_t slen, char *config, size_t clen)
{
	const char *p = getenv("LATCHKEY_SSHD");

	snprintf(sshd, slen, "%s", agent_hostkeys_path_ok(p, slen) ? p :
	    AGENT_SSHD_DEFAULT);
	return agent_rooted(config, clen, AGENT_SSHD_CONFIG);
}

/*
 * Runs argv[0] with argv, no environment, and reads at most max - 1
 * bytes of its stdout into out (NUL-terminated). Returns 0 when it exited
 * 0 within AGENT_HOSTKEYS_MS, else LK_ERR_SYSTEM (or LK_ERR_TOO_LONG when
 * it printed more).
 */
int
agent_hostkeys_run(char *const argv[], char *out, size_t max)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	sigset_t none;
	char *envp[] = { NULL };
	struct pollfd pfd;
	long long end = lk_now_ms() + AGENT_HOSTKEYS_MS;
	size_t len = 0;
	ssize_t n;
	pid_t pid;
	int fds[2], status, r = LK_ERR_SYSTEM, left, pr;

	out[0] = '\0';
	if (pipe2(fds, O_CLOEXEC) == -1)
		return LK_ERR_SYSTEM;
	if (posix_spawn_file_actions_init(&fa) != 0) {
		close(fds[0]);
		close(fds[1]);
		return LK_ERR_SYSTEM;
	}
	if (posix_spawnattr_init(&sa) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(fds[0]);
		close(fds[1]);
		return LK_ERR_SYSTEM;
	}
	/* The agent's threads block signals; the child gets none blocked. */
	sigemptyset(&none);
	if (posix_spawnattr_setsigmask(&sa, &none) != 0 ||
	    posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
	    0) != 0 || posix_spawn_file_actions_adddup2(&fa, fds[1], 1) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY,
	    0) != 0 || posix_spawn(&pid, argv[0], &fa, &sa, argv, envp) != 0)
		pid = -1;
	posix_spawnattr_destroy(&sa);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (pid == -1) {
		close(fds[0]);
		return LK_ERR_SYSTEM;
	}
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	for (;;) {
		if ((left = (int)(end - lk_now_ms())) <= 0)
			break;
		if ((pr = poll(&pfd, 1, left)) == -1 && errno != EINTR)
			break;
		if (pr <= 0)
			continue;	/* timed out (checked above), EINTR */
		if ((n = read(fds[0], out + len, max - 1 - len)) == 0) {
			r = 0;
			break;
		}
		if (n == -1 && errno != EINTR && errno != EAGAIN)
			break;
		if (n > 0 && (len += (size_t)n) == max - 1) {
			r = LK_ERR_TOO_LONG;
			break;
		}
	}
	out[len] = '\0';
	close(fds[0]);
	if (r != 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (r == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		r = LK_ERR_SYSTEM;
	return r;
}

/*
 * The public half of the private key at path as "type base64" in *linep
 * (new), or an error: from path.pub, else from ssh-keygen -y.
 */
static int
agent_hostkeys_public(const char *path, char **linep)
{
	struct lk_sshkey *k = NULL;
	char pub[PATH_MAX], *buf = NULL;
	char *argv[] = { AGENT_SSH_KEYGEN, "-y", "-P", "", "-f", NULL, NULL };
	size_t len;
	int r;

	*linep = NULL;
	if ((size_t)snprintf(pub, sizeof(pub), "%s.pub", path) >= sizeof(pub))
		return LK_ERR_TOO_LONG;
	if ((r = lk_fs_read(pub, LK_SSHKEY_MAX_LINE, &buf, &len)) ==
	    LK_ERR_NOT_FOUND) {
		if ((buf = malloc(LK_SSHKEY_MAX_LINE)) == NULL)
			return LK_ERR_ALLOC;
		argv[5] = (char *)(uintptr_t)path;
		r = agent_hostkeys_run(argv, buf, LK_SSHKEY_MAX_LINE);
		len = strlen(buf);
	}
	if (r != 0)
		goto out;
	len = strcspn(buf, "\n");
	if ((r = lk_sshkey_parse_line(buf, len, &k)) != 0)
		goto out;
	switch (k->type) {
	case LK_KEY_ED25519:
	case LK_KEY_ECDSA_P256:
	case LK_KEY_ECDSA_P384:
	case LK_KEY_ECDSA_P521:
	case LK_KEY_RSA:
		r = lk_sshkey_to_line(k, 0, linep);
		break;
	default:
		r = LK_ERR_INVALID_FORMAT;
	}
 out:
	lk_sshkey_free(k);
	free(buf);
	return r;
}

static int
agent_hostkeys_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The "hostkey" lines of sshd -T's output, their keys into lines[]. */
static size_t
agent_hostkeys_scan(char *text, char **lines, size_t max)
{
	char *p, *nl, *line;
	size_t n = 0, seen = 0, i;

	for (p = text; *p != '\0' && seen < AGENT_HOSTKEY_PATHS; p = nl) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		else
			nl = p + strlen(p);
		if (strncmp(p, "hostkey /", 9) != 0)
			continue;
		seen++;
		if (agent_hostkeys_public(p + 8, &line) != 0)
			continue;
		for (i = 0; i < n && strcmp(lines[i], line) != 0; i++)
			;
		if (i < n || n == max)
			free(line);
		else
			lines[n++] = line;
	}
	return n;
}

json_t *
agent_hostkeys(void)
{
	char sshd[PATH_MAX], config[PATH_MAX], *out = NULL, vis[2][256];
	char *lines[AGENT_HOSTKEYS_MAX];
	char *argv[] = { sshd, "-T", "-f", config, NULL };
	json_t *a;
	size_t n = 0, i;
	int r;

	if ((a = json_array()) == NULL)
		return NULL;
	if ((r = agent_hostkeys_sshd(sshd, sizeof(sshd), config,
	    sizeof(config))) == 0) {
		if ((out = malloc(AGENT_HOSTKEYS_OUT_MAX)) == NULL)
			r = LK_ERR_ALLOC;
		else if ((r = agent_hostkeys_run(argv, out,
		    AGENT_HOSTKEYS_OUT_MAX)) == 0)
			n = agent_hostkeys_scan(out, lines, AGENT_HOSTKEYS_MAX);
		free(out);
	}
	qsort(lines, n, sizeof(lines[0]), agent_hostkeys_cmp);
	for (i = 0; i < n; i++) {
		if (json_array_append_new(a, json_string(lines[i])) != 0)
			r = LK_ERR_ALLOC;
		free(lines[i]);
	}
	if (r == 0 && n == 0)
		r = LK_ERR_NOT_FOUND;
	if (r != 0 && agent_hostkeys_failing != 1)
		agent_log(LOG_WARNING, "hostkeys", "unreadable", "sshd=%s "
		    "config=%s error=\"%s\"", agent_vis(vis[0], sizeof(vis[0]),
		    sshd), agent_vis(vis[1], sizeof(vis[1]), config),
		    r == LK_ERR_NOT_FOUND ? "no host key found" :
		    r == LK_ERR_SYSTEM ? "sshd -T failed or timed out" :
		    lk_err(r));
	else if (r == 0 && agent_hostkeys_failing != 0)
		agent_log(LOG_INFO, "hostkeys", "found", "keys=%zu", n);
	agent_hostkeys_failing = r != 0;
	if (r != 0)
		json_array_clear(a);
	return a;
}
