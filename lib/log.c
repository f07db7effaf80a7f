#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX	8192
#define LOG_PAIRS_MAX	48

static const char *log_progname = "latchkey";
static int log_flags = LK_LOG_STDERR;
static int log_fmt = LK_LOG_FMT_PLAIN;
static int log_stamp = 1;

/*
 * JOURNAL_STREAM is "DEVICE:INODE" of the journal's stream when systemd
 * connected stderr to it; only then does the journal stamp our lines.
 */
static int
log_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	if (e == NULL || fstat(STDERR_FILENO, &st) == -1)
		return 0;
	errno = 0;
	dev = strtoull(e, &end, 10);
	if (errno != 0 || *end != ':')
		return 0;
	ino = strtoull(end + 1, &end, 10);
	return errno == 0 && *end == '\0' && dev == (unsigned long long)
	    st.st_dev && ino == (unsigned long long)st.st_ino;
}

void
log_init(const char *progname, int flags, int facility)
{
	log_progname = progname;
	log_flags = flags;
	if (flags & LK_LOG_SYSLOG)
		openlog(progname, LOG_PID | LOG_NDELAY, facility);
}

void
log_format(int fmt)
{
	log_fmt = fmt;
	log_stamp = !log_stderr_is_journal();
}

int
log_format_parse(const char *name, int *fmtp)
{
	if (strcmp(name, "text") == 0)
		*fmtp = LK_LOG_FMT_TEXT;
	else if (strcmp(name, "json") == 0)
		*fmtp = LK_LOG_FMT_JSON;
	else
		return -1;
	return 0;
}

/* A bounded string builder: output that does not fit is cut. */
struct logb {
	char	*p;
	size_t	 len, cap;
};

static void
logb_putc(struct logb *b, char c)
{
	if (b->len + 1 < b->cap)
		b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

static void
logb_putn(struct logb *b, const char *s, size_t n)
{
	while (n-- > 0)
		logb_putc(b, *s++);
}

static void
logb_puts(struct logb *b, const char *s)
{
	logb_putn(b, s, strlen(s));
}

/*
 * A value as the format wants it: logfmt quotes it when it is empty or
 * holds a blank, '"', '=' or '\\' (escaping '"' and '\\', control bytes
 * as \xNN); JSON always quotes (\uNNNN for control and non-ASCII bytes).
 */
static void
logb_value(struct logb *b, int fmt, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;
	int quote = fmt == LK_LOG_FMT_JSON || n == 0;
	unsigned char c;

	for (i = 0; i < n && !quote; i++)
		if (strchr(" \"=\\", s[i]) != NULL || (unsigned char)s[i] < 0x21 ||
		    (unsigned char)s[i] == 0x7f)
			quote = 1;
	if (quote)
		logb_putc(b, '"');
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			logb_putc(b, '\\');
			logb_putc(b, (char)c);
		} else if (c >= 0x20 && c < 0x7f)
			logb_putc(b, (char)c);
		else if (fmt == LK_LOG_FMT_JSON) {
			logb_puts(b, "\\u00");
			logb_putc(b, hex[c >> 4]);
			logb_putc(b, hex[c & 0xf]);
		} else {
			logb_puts(b, "\\x");
			logb_putc(b, hex[c >> 4]);
			logb_putc(b, hex[c & 0xf]);
		}
	}
	if (quote)
		logb_putc(b, '"');
}

static void
logb_field(struct logb *b, int fmt, const char *k, size_t kn, const char *v,
    size_t vn)
{
	if (fmt == LK_LOG_FMT_JSON) {
		logb_puts(b, b->len > 1 ? ",\"" : "\"");
		logb_putn(b, k, kn);
		logb_puts(b, "\":");
	} else {
		if (b->len > 0)
			logb_putc(b, ' ');
		logb_putn(b, k, kn);
		logb_putc(b, '=');
	}
	logb_value(b, fmt, v, vn);
}

struct log_pair {
	const char	*k, *v;
	size_t		 kn, vn;
	int		 quoted;
};

static int
log_keychar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/*
 * Reads the pairs "k=v k=\"v w\" ..." that s (to its end) must consist
 * of; returns their number, or -1 when s is anything else, or a key
 * repeats or is one of ours.
 */
static int
log_pairs(const char *s, struct log_pair *p, int max, int with_error)
{
	static const char *const ours[] = { "time", "level", "prog", "msg",
	    "error" };
	int n = 0, i, j;

	while (*s != '\0') {
		if (n == max)
			return -1;
		p[n].k = s;
		while (log_keychar(*s))
			s++;
		if ((p[n].kn = (size_t)(s - p[n].k)) == 0 || *s++ != '=')
			return -1;
		p[n].quoted = *s == '"';
		if (p[n].quoted) {
			p[n].v = ++s;
			while (*s != '\0' && *s != '"')
				s += s[0] == '\\' && s[1] != '\0' ? 2 : 1;
			if (*s != '"')
				return -1;
			p[n].vn = (size_t)(s++ - p[n].v);
		} else {
			p[n].v = s;
			while (*s != '\0' && *s != ' ' && *s != '"')
				s++;
			p[n].vn = (size_t)(s - p[n].v);
		}
		if (*s == ' ' && s[1] != '\0')
			s++;
		else if (*s != '\0')
			return -1;
		for (j = 0; j < (with_error ? 5 : 4); j++)
			if (strlen(ours[j]) == p[n].kn &&
			    memcmp(ours[j], p[n].k, p[n].kn) == 0)
				return -1;
		for (i = 0; i < n; i++)
			if (p[i].kn == p[n].kn &&
			    memcmp(p[i].k, p[n].k, p[n].kn) == 0)
				return -1;
		n++;
	}
	return n;
}

/* A quoted pair's value without its escapes, into tmp. */
static size_t
log_unquote(const struct log_pair *p, char *tmp, size_t tmplen)
{
	size_t i, o = 0;

	for (i = 0; i < p->vn && o + 1 < tmplen; i++) {
		if (p->v[i] == '\\' && i + 1 < p->vn &&
		    (p->v[i + 1] == '"' || p->v[i + 1] == '\\'))
			i++;
		tmp[o++] = p->v[i];
	}
	return o;
}

void
log_fmt_line(char *dst, size_t dstlen, int fmt, const char *ts,
    const char *level, const char *msg, const char *errstr)
{
	struct log_pair p[LOG_PAIRS_MAX];
	struct logb b = { dst, 0, dstlen };
	const char *rest = NULL, *s;
	char tmp[LOG_LINE_MAX];
	size_t headlen, vn;
	int n = 0, i;

	if (dstlen == 0)
		return;
	dst[0] = '\0';
	/* The first word that is a key=value pair ends the head. */
	for (s = msg; *s != '\0'; s = strchr(s, ' ') + 1) {
		const char *k = s;

		while (log_keychar(*k))
			k++;
		if (k > s && *k == '=') {
			rest = s;
			break;
		}
		if (strchr(s, ' ') == NULL)
			break;
	}
	if (rest != NULL && (n = log_pairs(rest, p, LOG_PAIRS_MAX,
	    errstr != NULL)) < 0) {
		rest = NULL;
		n = 0;
	}
	headlen = rest != NULL ? (size_t)(rest - msg) : strlen(msg);
	while (headlen > 0 && msg[headlen - 1] == ' ')
		headlen--;
	if (fmt == LK_LOG_FMT_JSON)
		logb_putc(&b, '{');
	if (ts != NULL)
		logb_field(&b, fmt, "time", 4, ts, strlen(ts));
	logb_field(&b, fmt, "level", 5, level, strlen(level));
	logb_field(&b, fmt, "prog", 4, log_progname, strlen(log_progname));
	logb_field(&b, fmt, "msg", 3, msg, headlen);
	for (i = 0; i < n; i++) {
		if (p[i].quoted) {
			vn = log_unquote(&p[i], tmp, sizeof(tmp));
			logb_field(&b, fmt, p[i].k, p[i].kn, tmp, vn);
		} else
			logb_field(&b, fmt, p[i].k, p[i].kn, p[i].v, p[i].vn);
	}
	if (errstr != NULL)
		logb_field(&b, fmt, "error", 5, errstr, strlen(errstr));
	if (fmt == LK_LOG_FMT_JSON)
		logb_putc(&b, '}');
}

/* RFC 3339, UTC, milliseconds: 2026-12-05T06:30:00.123Z */
static void
log_timestamp(char (*buf)[40])
{
	struct timespec ts;
	struct tm tm;
	char s[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (gmtime_r(&ts.tv_sec, &tm) == NULL ||
	    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		snprintf(s, sizeof(s), "1970-01-01T00:00:00");
	snprintf(*buf, sizeof(*buf), "%s.%03uZ", s,
	    (unsigned int)(ts.tv_nsec / 1000000L) % 1000u);
}

static const char *
log_level(int pri)
{
	return pri == LOG_DEBUG ? "debug" : pri == LOG_INFO ? "info" :
	    pri == LOG_WARNING ? "warn" : "crit";
}

/* One line to stderr with one write(2), so that threads do not mix. */
static void
log_stderr(int pri, const char *errstr, const char *msg)
{
	char line[LOG_LINE_MAX], ts[40];
	size_t n;
	ssize_t ign;

	if (log_fmt == LK_LOG_FMT_PLAIN) {
		if (errstr != NULL)
			snprintf(line, sizeof(line) - 1, "%s: %s: %s",
			    log_progname, msg, errstr);
		else
			snprintf(line, sizeof(line) - 1, "%s: %s",
			    log_progname, msg);
	} else {
		if (log_stamp)
			log_timestamp(&ts);
		log_fmt_line(line, sizeof(line) - 1, log_fmt,
		    log_stamp ? ts : NULL, log_level(pri), msg, errstr);
	}
	n = strlen(line);
	line[n++] = '\n';
	ign = write(STDERR_FILENO, line, n);
	(void)ign;
}

static void
log_vlog(int pri, const char *errstr, const char *fmt, va_list ap)
{
	char msg[2048];

	if (pri == LOG_DEBUG && !(log_flags & LK_LOG_DEBUG))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_flags & LK_LOG_STDERR)
		log_stderr(pri, errstr, msg);
	if (log_flags & LK_LOG_SYSLOG) {
		if (errstr != NULL)
			syslog(pri, "%s: %s", msg, errstr);
		else
			syslog(pri, "%s", msg);
	}
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	const char *e = strerror(errno);

	va_start(ap, fmt);
	log_vlog(LOG_WARNING, e, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_WARNING, NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_INFO, NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	const char *e = strerror(errno);

	va_start(ap, fmt);
	log_vlog(LOG_CRIT, e, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_CRIT, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

char *
lk_vis(char *dst, size_t dstlen, const void *src, size_t srclen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = src;
	size_t i, o = 0;

	if (dstlen == 0)
		return dst;
	for (i = 0; i < srclen; i++) {
		unsigned char c = s[i];

		if (c > 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 4 >= dstlen)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 0xf];
		}
	}
	dst[o] = '\0';
	return dst;
}
