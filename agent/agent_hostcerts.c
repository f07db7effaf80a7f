/*
 * Host certificates from latchkeyd's optional host CA (issue 14, item 5),
 * installed for sshd when the agent runs with --host-certificates (off by
 * default). A hello answer's "host_certificates" is input: every line
 * must be a host certificate (lib/sshcert.c: parsed, its CA signature
 * checked) of exactly one of the host keys this agent reported, at most
 * one per key; otherwise nothing at all is installed.
 *
 * What is written, every path under $LATCHKEY_ROOT (agent_root.c's
 * rule):
 *	/etc/ssh/latchkey-host-certs/KEYHEX-cert.pub	one per certificate,
 *		root-owned 0644, replaced atomically (lib/fsutil.c: a
 *		temporary file and rename, which never follows a symlink);
 *		files of keys no longer certified are removed
 *	/etc/ssh/sshd_config.d/20-latchkey-host-certs.conf	one
 *		"HostCertificate PATH" line per certificate
 * The drop-in is checked with "sshd -t -f sshd_config"; when sshd refuses
 * it, the previous drop-in is put back (or the new one removed). Then
 * sshd reloads as the plug-in makes it (SIGHUP to the pid in
 * LATCHKEY_SSHD_PIDFILE; else systemctl reload ssh.service under systemd;
 * else SIGHUP to the pid in /run/sshd.pid). Nothing changes, and sshd is
 * not reloaded, when the answer names the certificates already installed.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <jansson.h>

#include "err.h"
#include "fsutil.h"
#include "sshcert.h"
#include "sshkey.h"
#include "util.h"

#include "agent.h"

#define AGENT_CERT_DIR		"/etc/ssh/latchkey-host-certs"
#define AGENT_CERT_DROPIN	"/etc/ssh/sshd_config.d/20-latchkey-host-certs.conf"
#define AGENT_CERT_CONFIG	"/etc/ssh/sshd_config"
#define AGENT_CERT_SUFFIX	"-cert.pub"
#define AGENT_CERT_DROPIN_MAX	(64 * 1024)

static int agent_hostcerts_on;

void
agent_hostcerts_enable(int on)
{
	agent_hostcerts_on = on;
}

int
agent_hostcerts_enabled(void)
{
	return agent_hostcerts_on;
}


/* The directory, made root-owned 0755 when missing; never a symlink. */
static int
agent_hostcerts_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		return LK_ERR_SYSTEM;
	if (lstat(dir, &st) == -1)
		return LK_ERR_SYSTEM;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022) != 0)
		return LK_ERR_UNSAFE;
	return 0;
}

/* Removes DIR's *-cert.pub files that are not in keep[0..n-1]. */
static void
agent_hostcerts_prune(const char *dir, char **hexes, size_t n)
{
	char path[PATH_MAX], want[LK_SSHKEY_HEX_SIZE + 16];
	struct dirent *de;
	size_t i, len;
	DIR *d;
	int keep;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= strlen(AGENT_CERT_SUFFIX) ||
		    strcmp(de->d_name + len - strlen(AGENT_CERT_SUFFIX),
		    AGENT_CERT_SUFFIX) != 0)
			continue;
		for (i = 0, keep = 0; i < n && !keep; i++) {
			snprintf(want, sizeof(want), "%s%s", hexes[i],
			    AGENT_CERT_SUFFIX);
			keep = strcmp(want, de->d_name) == 0;
		}
		if (!keep && (size_t)snprintf(path, sizeof(path), "%s/%s",
		    dir, de->d_name) < sizeof(path))
			(void)unlink(path);
	}
	closedir(d);
}

/* The reload rule of the plug-in (see the top of this file). */
static void
agent_hostcerts_reload(void)
{
	char *argv[] = { "/usr/bin/systemctl", "reload", "ssh.service", NULL };
	const char *pf = getenv("LATCHKEY_SSHD_PIDFILE");
	char *buf = NULL, comm[64], *cbuf = NULL, out[256];
	long long pid;
	size_t len;
	struct stat st;

	if (pf == NULL || pf[0] != '/') {
		if (stat("/run/systemd/system", &st) == 0 &&
		    S_ISDIR(st.st_mode)) {
			if (agent_hostkeys_run(argv, out, sizeof(out)) != 0)
				agent_log(LOG_WARNING, "hostcerts",
				    "reload-failed", "how=systemctl");
			return;
		}
		pf = "/run/sshd.pid";
	}
	if (lk_fs_read(pf, 64, &buf, &len) == 0 &&
	    (buf[strcspn(buf, "\n")] = '\0', 1) &&
	    lk_parse_ll(buf, 2, INT_MAX, &pid) == 0) {
		snprintf(comm, sizeof(comm), "/proc/%lld/comm", pid);
		/* A stale pid file must not make us signal another program. */
		if (lk_fs_read(comm, 64, &cbuf, &len) == 0 &&
		    strncmp(cbuf, "sshd", 4) == 0 &&
		    kill((pid_t)pid, SIGHUP) == 0)
			agent_log(LOG_INFO, "hostcerts", "reloaded",
			    "pid=%lld", pid);
	}
	free(buf);
	free(cbuf);
}

/*
 * The drop-in text for the n certificates; and whether sshd accepts it
 * in place of the old one (old, or NULL when there was none), which is
 * put back when it does not.
 */
static int
agent_hostcerts_dropin(const char *dropin, const char *text, size_t len,
    const char *old, size_t oldlen)
{
	char sshd[PATH_MAX], config[PATH_MAX], out[1024];
	const char *p = getenv("LATCHKEY_SSHD");
	char *argv[] = { sshd, "-t", "-f", config, NULL };
	int r;

	snprintf(sshd, sizeof(sshd), "%s", p != NULL && p[0] == '/' ? p :
	    "/usr/sbin/sshd");
	if ((r = agent_rooted(config, sizeof(config),
	    AGENT_CERT_CONFIG)) != 0)
		return r;
	if (len == 0)
		r = unlink(dropin) == -1 && errno != ENOENT ? LK_ERR_SYSTEM : 0;
	else
		r = lk_fs_write_atomic(dropin, text, len, 0644, geteuid(),
		    getegid());
	if (r != 0)
		return r;
	if (agent_hostkeys_run(argv, out, sizeof(out)) == 0)
		return 0;
	agent_log(LOG_WARNING, "hostcerts", "sshd-refused", "check=\"%s -t\" "
	    "restored=%s", sshd, old != NULL ? "previous" : "none");
	if (old != NULL)
		(void)lk_fs_write_atomic(dropin, old, oldlen, 0644, geteuid(),
		    getegid());
	else
		(void)unlink(dropin);
	return LK_ERR_STATE;
}

/* Writes the n certificates and the drop-in; 1 when something changed. */
static int
agent_hostcerts_install(char **lines, char **hexes, size_t n)
{
	char dir[PATH_MAX], dropin[PATH_MAX], path[PATH_MAX];
	char *text = NULL, *old = NULL, *cur = NULL;
	size_t i, len = 0, oldlen = 0, curlen;
	int r, changed = 0, rr;

	if ((r = agent_rooted(dir, sizeof(dir), AGENT_CERT_DIR)) != 0 ||
	    (r = agent_rooted(dropin, sizeof(dropin),
	    AGENT_CERT_DROPIN)) != 0 || (r = agent_hostcerts_dir(dir)) != 0)
		return r;
	if ((text = calloc(n + 1, PATH_MAX + 32)) == NULL)
		return LK_ERR_ALLOC;
	for (i = 0; i < n; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s%s", dir,
		    hexes[i], AGENT_CERT_SUFFIX) >= sizeof(path)) {
			r = LK_ERR_TOO_LONG;
			goto out;
		}
		curlen = 0;
		rr = lk_fs_read(path, LK_SSHCERT_MAX_LINE + 2, &cur, &curlen);
		if (rr != 0 || curlen != strlen(lines[i]) + 1 ||
		    memcmp(cur, lines[i], curlen - 1) != 0) {
			free(cur);
			cur = NULL;
			if ((cur = malloc(strlen(lines[i]) + 2)) == NULL) {
				r = LK_ERR_ALLOC;
				goto out;
			}
			snprintf(cur, strlen(lines[i]) + 2, "%s\n", lines[i]);
			if ((r = lk_fs_write_atomic(path, cur, strlen(cur),
			    0644, geteuid(), getegid())) != 0)
				goto out;
			changed = 1;
		}
		free(cur);
		cur = NULL;
		len += (size_t)snprintf(text + len, PATH_MAX + 32,
		    "HostCertificate %s\n", path);
	}
	rr = lk_fs_read(dropin, AGENT_CERT_DROPIN_MAX, &old, &oldlen);
	if (rr != 0 && rr != LK_ERR_NOT_FOUND) {
		r = rr;
		goto out;
	}
	if ((rr == LK_ERR_NOT_FOUND && len > 0) || (rr == 0 &&
	    (oldlen != len || memcmp(old, text, len) != 0))) {
		if ((r = agent_hostcerts_dropin(dropin, text, len,
		    rr == 0 ? old : NULL, oldlen)) != 0)
			goto out;
		changed = 1;
	}
	agent_hostcerts_prune(dir, hexes, n);
	r = changed;
 out:
	free(cur);
	free(old);
	free(text);
	return r;
}

void
agent_hostcerts_apply(const json_t *ans, const json_t *keys)
{
	const json_t *certs = json_object_get(ans, "host_certificates");
	char *lines[AGENT_HOSTKEYS_MAX], *hexes[AGENT_HOSTKEYS_MAX];
	size_t n = 0, i;
	int r;

	if (!agent_hostcerts_on || certs == NULL)
		return;
	if ((r = agent_hostcerts_check(certs, keys, lines, hexes, &n)) != 0) {
		agent_log(LOG_WARNING, "hostcerts", "refused", "certificates=%zu "
		    "error=\"%s\"", json_is_array(certs) ?
		    json_array_size(certs) : 0, r == LK_ERR_ALLOC ?
		    lk_err(r) : "not host certificates of exactly the keys "
		    "reported");
		return;
	}
	if ((r = agent_hostcerts_install(lines, hexes, n)) < 0)
		agent_log(LOG_WARNING, "hostcerts", "install-failed",
		    "certificates=%zu error=\"%s\"", n, lk_err(r));
	else if (r > 0) {
		agent_log(LOG_INFO, "hostcerts", "installed", "certificates=%zu",
		    n);
		agent_hostcerts_reload();
	}
	for (i = 0; i < n; i++) {
		free(lines[i]);
		free(hexes[i]);
	}
}
