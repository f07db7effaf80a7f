/*
 * The agent's event log: one event per line,
 *
 *	<time> <subsystem> <event> key=value ...
 *
 * with <time> in UTC to the millisecond, appended to the log file (default
 * /var/log/latchkey/agent.log) and passed on to lib/log.c, which sends it
 * to syslog (and to stderr in the foreground). Values that come from
 * outside (task ids, user names, server messages) must go through
 * agent_vis() first so that they cannot forge a line or a key. Secrets
 * (the credential, task output) are never logged.
 *
 * Lines are written with one write(2) on an O_APPEND descriptor, under a
 * mutex that also guards agent_log_reopen() (SIGHUP, for logrotate).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "fsutil.h"
#include "log.h"

#include "agent.h"

#define AGENT_LOG_LINE_MAX	2048

static pthread_mutex_t agent_log_mtx = PTHREAD_MUTEX_INITIALIZER;
static int agent_log_fd = -1;
static char agent_log_path[PATH_MAX];
static int agent_log_debug;

/* With on, LOG_DEBUG events are logged too (run --debug). */
void
agent_log_set_debug(int on)
{
	agent_log_debug = on;
}

static int
agent_log_openfd(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0640);
}

/*
 * Opens (creating it and its directory) the log file. Returns 0 or
 * LK_ERR_TOO_LONG, LK_ERR_SYSTEM (errno set).
 */
int
agent_log_open(const char *path)
{
	char dir[PATH_MAX];
	int fd;

	if ((size_t)snprintf(agent_log_path, sizeof(agent_log_path), "%s",
	    path) >= sizeof(agent_log_path) ||
	    (size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir))
		return LK_ERR_TOO_LONG;
	if (lk_fs_mkdirs(dirname(dir), 0755) != 0)
		return LK_ERR_SYSTEM;
	if ((fd = agent_log_openfd(path)) == -1)
		return LK_ERR_SYSTEM;
	pthread_mutex_lock(&agent_log_mtx);
	agent_log_fd = fd;
	pthread_mutex_unlock(&agent_log_mtx);
	return 0;
}

/* Reopens the file by name, after logrotate moved it away. */
void
agent_log_reopen(void)
{
	int fd;

	pthread_mutex_lock(&agent_log_mtx);
	if (agent_log_fd != -1 &&
	    (fd = agent_log_openfd(agent_log_path)) != -1) {
		close(agent_log_fd);
		agent_log_fd = fd;
	}
	pthread_mutex_unlock(&agent_log_mtx);
}

void
agent_log_close(void)
{
	pthread_mutex_lock(&agent_log_mtx);
	if (agent_log_fd != -1)
		close(agent_log_fd);
	agent_log_fd = -1;
	pthread_mutex_unlock(&agent_log_mtx);
}

/* "YYYY-MM-DDThh:mm:ssZ" as the protocol writes times. */
void
agent_iso8601(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "1970-01-01T00:00:00Z");
}

static void
agent_log_stamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char s[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (gmtime_r(&ts.tv_sec, &tm) == NULL ||
	    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		s[0] = '\0';
	snprintf(buf, len, "%s.%03ldZ", s, ts.tv_nsec / 1000000L);
}

/*
 * Logs one event. pri is a syslog priority: LOG_DEBUG events are logged
 * only with --debug, and to the file only; LOG_WARNING and worse are
 * warnings in syslog.
 */
void
agent_log(int pri, const char *subsys, const char *event, const char *fmt,
    ...)
{
	char kv[AGENT_LOG_LINE_MAX - 128], line[AGENT_LOG_LINE_MAX], ts[40];
	va_list ap;
	ssize_t ign = 0;
	int n;

	if (pri == LOG_DEBUG && !agent_log_debug)
		return;
	va_start(ap, fmt);
	vsnprintf(kv, sizeof(kv), fmt, ap);
	va_end(ap);
	agent_log_stamp(ts, sizeof(ts));
	n = snprintf(line, sizeof(line), "%s %s %s%s%s\n", ts, subsys, event,
	    kv[0] != '\0' ? " " : "", kv);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* A failed write has nowhere better to go; syslog still has it. */
	pthread_mutex_lock(&agent_log_mtx);
	if (agent_log_fd != -1)
		ign = write(agent_log_fd, line, (size_t)n);
	pthread_mutex_unlock(&agent_log_mtx);
	(void)ign;
	if (pri == LOG_DEBUG)
		return;
	if (pri <= LOG_WARNING)
		log_warnx("%s %s%s%s", subsys, event, kv[0] != '\0' ? " " : "",
		    kv);
	else
		log_info("%s %s%s%s", subsys, event, kv[0] != '\0' ? " " : "",
		    kv);
}

/*
 * Free text (an error message) for a line or a quoted value: like lk_vis()
 * but keeps blanks; '"' and '\\' become \xNN too. Returns buf.
 */
const char *
agent_vis_text(char *buf, size_t len, const char *s, size_t slen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (len == 0)
		return buf;
	for (i = 0; i < slen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			if (o + 1 >= len)
				break;
			buf[o++] = (char)c;
		} else {
			if (o + 4 >= len)
				break;
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 0xf];
		}
	}
	buf[o] = '\0';
	return buf;
}

/* lk_vis() of a C string, for a key=value pair; returns buf. */
const char *
agent_vis(char *buf, size_t len, const char *s)
{
	if (s == NULL || *s == '\0')
		return "\"\"";
	return lk_vis(buf, len, s, strlen(s));
}
